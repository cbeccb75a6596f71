//! Linking the live release's phone files into the staged release: ahead, while the inventory
//! loads and renders ([`Ahead`]), and by the write stage ([`DirLinker`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::take_over::Kept;
use crate::error::{Error, Result};

/// Links made ahead: the live release's phone files linked into the staged release on a thread
/// of its own while the inventory loads and renders, before anyone knows which phones kept
/// their file. The write stage stops it where it got to, takes a link as made when that phone
/// keeps the live file (and makes the links not made yet, as without this), and writes over it
/// (a new file under the name, see [`super::DirWriter::write_new`]) otherwise; what no phone of the
/// release claims is removed. Each link is made as [`DirLinker::link_if_mtime`] makes it: only
/// a regular file with the mtime the live manifest gives it, never over a file already there.
///
/// In a release taken over ([`super::Staging::take_over`]) most names are there already, as links to
/// the live files: each is first checked as a link made here would be (a regular file with the
/// live manifest's mtime), and only the names missing are linked.
pub struct Ahead {
    stop: Arc<AtomicBool>,
    /// The names to look at, shared with the thread: [`Ahead::finish`] checks the last of them
    /// itself rather than wait for the thread to.
    work: Option<Arc<Work>>,
    handle: Option<std::thread::JoinHandle<Made>>,
}

/// What [`Ahead`] leaves in the staged folder: the names that are the live files checked
/// (`linked`), and the names there that are not (`stale`: a phone's file replaces them, and the
/// write stage removes those no phone claims).
#[derive(Debug, Default)]
pub struct Made {
    pub linked: std::collections::HashSet<String>,
    pub stale: std::collections::HashSet<String>,
}

impl Made {
    /// Adds what a chunk found, each place named by `name`.
    fn add(&mut self, part: Part, mut name: impl FnMut(usize) -> String) {
        self.linked.extend(part.linked.into_iter().map(&mut name));
        self.stale.extend(part.stale.into_iter().map(&mut name));
    }
}

/// The live manifest's phone files, taken in chunks by whichever thread comes next.
struct Work {
    files: Vec<(String, SystemTime)>,
    there: Arc<Kept>,
    linker: Option<DirLinker>,
    link_missing: bool,
    next: AtomicUsize,
}

/// What one chunk of [`Work`] gave, as places in its list.
#[derive(Default)]
struct Part {
    linked: Vec<usize>,
    stale: Vec<usize>,
}

/// Names a chunk holds: a few milliseconds of lookups, so that the thread that checks the last
/// chunk finishes soon after the other.
const CHUNK: usize = 1024;

impl Work {
    /// Takes chunks until none is left: each name that is there already is checked (all of them,
    /// stopped or not), and, while not `stop`ped, each name missing is linked when both `link`
    /// (this thread links) and `link_missing`. Each chunk's findings go to `each` as soon as it
    /// is done.
    fn run(&self, stop: &AtomicBool, link: bool, mut each: impl FnMut(Part)) {
        loop {
            let start = self.next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= self.files.len() {
                return;
            }
            let mut part = Part::default();
            let mut missing = Vec::new();
            for (i, (name, mtime)) in self.files.iter().enumerate().skip(start).take(CHUNK) {
                if self.there.contains(name) {
                    match &self.linker {
                        Some(l) if l.is_there_with_mtime(name, *mtime) => part.linked.push(i),
                        _ => part.stale.push(i),
                    }
                } else if link && self.link_missing {
                    missing.push(i);
                }
            }
            if let Some(linker) = &self.linker {
                for i in missing {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (name, mtime) = &self.files[i];
                    if linker.link_if_mtime(name, *mtime, false) {
                        part.linked.push(i);
                    }
                }
            }
            each(part);
        }
    }
}

impl Ahead {
    /// Starts linking `from/name` as `to/name` for each of `files` (name, mtime), in order.
    pub fn start(from: PathBuf, to: PathBuf, files: Vec<(String, SystemTime)>) -> Ahead {
        Ahead::start_over(from, to, files, Default::default(), true)
    }

    /// The same in a folder that holds `there` already (links to `from`'s files, see
    /// [`super::Staging::take_over`]): those are checked, all of them even when stopped, and the names
    /// missing linked when `link_missing`.
    pub fn start_over(
        from: PathBuf,
        to: PathBuf,
        files: Vec<(String, SystemTime)>,
        there: Arc<Kept>,
        link_missing: bool,
    ) -> Ahead {
        let stop = Arc::new(AtomicBool::new(false));
        let work = Arc::new(Work {
            files,
            there,
            linker: DirLinker::open(&from, &to),
            link_missing,
            next: AtomicUsize::new(0),
        });
        let (stopped, shared) = (Arc::clone(&stop), Arc::clone(&work));
        // The thread names what it found itself, chunk by chunk: its sets are made while the
        // inventory renders, not once the write stage waits for them.
        let handle = std::thread::spawn(move || {
            let mut made = Made {
                linked: std::collections::HashSet::with_capacity(shared.files.len()),
                stale: Default::default(),
            };
            shared.run(&stopped, true, |part| {
                made.add(part, |i| shared.files[i].0.clone())
            });
            made
        });
        Ahead {
            stop,
            work: Some(work),
            handle: Some(handle),
        }
    }

    /// Stops the linking where it is (after the link under way) and returns the names linked so
    /// far: the write stage links the others itself, from as many threads as it writes with.
    /// The names there already that are left to check are checked here, beside the thread.
    pub fn finish(mut self) -> Made {
        self.stop.store(true, Ordering::Relaxed);
        let Some(work) = self.work.take() else {
            return Made::default();
        };
        let mut parts = Vec::new();
        work.run(&self.stop, false, |part| parts.push(part));
        let mut made = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        for part in parts {
            made.add(part, |i| work.files[i].0.clone());
        }
        let there = &work.there;
        if made.linked.len() + made.stale.len() < there.len() {
            // Names there that the live manifest does not give a phone (or that were left
            // unchecked): stale.
            let more: Vec<String> = there
                .iter()
                .map(|(n, _)| n)
                .filter(|n| !made.linked.contains(*n) && !made.stale.contains(*n))
                .map(str::to_string)
                .collect();
            made.stale.extend(more);
        }
        // The list (a name a phone) is freed on a thread of its own, off the write stage's path.
        std::thread::spawn(move || drop(work));
        made
    }
}

impl Drop for Ahead {
    /// A build that stops early stops the linking and waits for it, so that nothing is linked
    /// into a staging folder being removed.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Removes the names in `names` from `dir` (the staged release's files no phone claimed).
pub fn remove_names<'a>(dir: &Path, names: impl Iterator<Item = &'a String>) -> Result<()> {
    for name in names {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(())
}

/// Links files of one folder into another by name, through open folder handles: each link costs
/// the lookup of one name, not of a whole path (a large release links 100,000 files).
pub struct DirLinker {
    from: File,
    to: File,
}

impl DirLinker {
    pub fn open(from: &Path, to: &Path) -> Option<DirLinker> {
        Some(DirLinker {
            from: File::open(from).ok()?,
            to: File::open(to).ok()?,
        })
    }

    /// Links `from/name` as `to/name` when its mtime is `mtime`; `replace`: a file already at
    /// `to/name` gives way (the link is made under a temporary name and renamed over it). False
    /// when it cannot be done, and then nothing changed.
    pub fn link_if_mtime(&self, name: &str, mtime: SystemTime, replace: bool) -> bool {
        with_c_name(name, |c| self.link_c(c, name, mtime, replace)).unwrap_or(false)
    }

    /// [`DirLinker::link_if_mtime`], the name given as a C string too.
    fn link_c(&self, c: &std::ffi::CStr, name: &str, mtime: SystemTime, replace: bool) -> bool {
        use std::os::fd::AsRawFd;
        if !file_with_mtime(&self.from, c, mtime) {
            return false;
        }
        // SAFETY: both descriptors stay open for the calls (owned by self) and `c` is a valid C
        // string.
        unsafe {
            if !replace {
                return libc::linkat(
                    self.from.as_raw_fd(),
                    c.as_ptr(),
                    self.to.as_raw_fd(),
                    c.as_ptr(),
                    0,
                ) == 0;
            }
            let Ok(tmp) = std::ffi::CString::new(format!(".{name}.link")) else {
                return false;
            };
            libc::unlinkat(self.to.as_raw_fd(), tmp.as_ptr(), 0);
            if libc::linkat(
                self.from.as_raw_fd(),
                c.as_ptr(),
                self.to.as_raw_fd(),
                tmp.as_ptr(),
                0,
            ) != 0
            {
                return false;
            }
            if libc::renameat(
                self.to.as_raw_fd(),
                tmp.as_ptr(),
                self.to.as_raw_fd(),
                c.as_ptr(),
            ) != 0
            {
                libc::unlinkat(self.to.as_raw_fd(), tmp.as_ptr(), 0);
                return false;
            }
            // A rename between two names of one file does nothing: the temporary name would
            // stay (none is left once the rename moved it).
            libc::unlinkat(self.to.as_raw_fd(), tmp.as_ptr(), 0);
            true
        }
    }
}

impl DirLinker {
    /// Whether `to/name` is a regular file with this mtime, as [`DirLinker::link_if_mtime`]
    /// links only such a file.
    pub fn is_there_with_mtime(&self, name: &str, mtime: SystemTime) -> bool {
        with_c_name(name, |c| file_with_mtime(&self.to, c, mtime)).unwrap_or(false)
    }
}

/// Calls `f` with `name` as a C string, made on the stack for a name as short as a phone file's
/// (this is called once a phone file); None when the name holds a NUL.
fn with_c_name<T>(name: &str, f: impl FnOnce(&std::ffi::CStr) -> T) -> Option<T> {
    let mut buf = [0u8; 128];
    match buf.get_mut(..name.len()) {
        Some(room) if name.len() < 128 => {
            room.copy_from_slice(name.as_bytes());
            let c = std::ffi::CStr::from_bytes_with_nul(&buf[..=name.len()]).ok()?;
            Some(f(c))
        }
        _ => std::ffi::CString::new(name).ok().map(|c| f(&c)),
    }
}

/// Whether `dir/name` is a regular file (not followed if a link) with this mtime.
fn file_with_mtime(dir: &File, name: &std::ffi::CStr, mtime: SystemTime) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(since) = mtime.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    // SAFETY: a zeroed `stat` is a valid value for fstatat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open (borrowed for the call), `name` is a valid C string, and
    // `st` is a valid place to write.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    rc == 0
        && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        && st.st_mtime == since.as_secs() as libc::time_t
        && st.st_mtime_nsec == i64::from(since.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_given_as_the_c_string_it_spells_or_not_at_all() {
        let spelled = |n: &str| with_c_name(n, |c| c.to_bytes().to_vec());
        for n in [
            "",
            "ST2030S_001F9F16E849.txt",
            &"a".repeat(127),
            &"b".repeat(128),
            &"c".repeat(400),
        ] {
            assert_eq!(
                spelled(n).as_deref(),
                Some(n.as_bytes()),
                "{} bytes",
                n.len()
            );
        }
        for n in [
            "a\0b",
            "\0",
            &format!("{}\0", "d".repeat(126)),
            &format!("{}\0", "e".repeat(200)),
        ] {
            assert_eq!(spelled(n), None, "{n:?}");
        }
    }

    #[test]
    fn linking_over_a_name_leaves_only_that_name_even_when_it_is_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
        for name in ["a.txt", "b.txt"] {
            let f = File::create(from.join(name)).unwrap();
            f.set_modified(mtime).unwrap();
        }
        // Over another file, and over a name that already is the same file.
        std::fs::write(to.join("a.txt"), b"other").unwrap();
        std::fs::hard_link(from.join("b.txt"), to.join("b.txt")).unwrap();
        let linker = DirLinker::open(&from, &to).unwrap();
        for name in ["a.txt", "b.txt"] {
            assert!(linker.link_if_mtime(name, mtime, true), "{name}");
        }
        let mut names: Vec<String> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert_eq!(std::fs::read(to.join("a.txt")).unwrap(), b"");
    }
}
