//! Taking over, as the new release, the release that pruning after the build removes anyway
//! (see [`TakeOver`]): listed while the inventory loads, taken once the release's number is
//! known, and put back as it was when the build stops before the switch.

use std::path::{Path, PathBuf};

use super::Staging;
use crate::error::{Error, IoContext, Result};

/// What [`Staging::take_over`] changed in the release it took over, to put it back.
pub(super) struct Taken {
    /// Where the release was (`releases/<name>`).
    pub(super) origin: PathBuf,
    /// The live release's phone files.
    live: PathBuf,
    /// The names of its `config/` that were the live release's files (the same inode): put back
    /// by linking them from the live release again.
    kept: std::sync::Arc<Kept>,
    /// Its other entries, moved aside under the staging folder's `displaced/`.
    moved_top: Vec<std::ffi::OsString>,
    moved_config: Vec<std::ffi::OsString>,
    /// It had no `config/` folder (none, or something else under the name): one was made.
    made_config: bool,
}

impl Staging {
    /// Takes over the release folder `plan.origin` (see [`TakeOver`]) as the staged release:
    /// moved here whole, its `config/` keeps only the names that are links to the live release's
    /// files; every other entry is moved aside, so that a build that stops before the switch
    /// puts the release back as it was (see [`Drop`]). False, with nothing changed, when the
    /// staged release exists already or the release is not where it was listed.
    pub fn take_over(&mut self, plan: &TakeOver) -> Result<bool> {
        let staged = self.release_dir();
        if self.taken.is_some() || std::fs::symlink_metadata(&staged).is_ok() {
            return Ok(false);
        }
        let displaced = self.root.join("displaced");
        let (top, config_aside) = (displaced.join("top"), displaced.join("config"));
        for d in [&top, &config_aside] {
            std::fs::create_dir_all(d).with_path(d)?;
        }
        // What a build that stops at once (killed, or over a template's memory budget) needs to
        // put the release back, for the next build to do it (see [`recover`]).
        let journal = self.root.join(JOURNAL);
        std::fs::write(&journal, journal_text(plan)).with_path(&journal)?;
        match std::fs::rename(&plan.origin, &staged) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&journal);
                return Ok(false);
            }
            Err(e) => return Err(Error::io(&plan.origin, e)),
        }
        let rec = self.taken.insert(Taken {
            origin: plan.origin.clone(),
            live: plan.live.clone(),
            kept: std::sync::Arc::clone(&plan.kept),
            moved_top: Vec::new(),
            moved_config: Vec::new(),
            made_config: false,
        });
        for e in std::fs::read_dir(&staged).with_path(&staged)? {
            let e = e.with_path(&staged)?;
            let name = e.file_name();
            if name == "config" && e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            std::fs::rename(e.path(), top.join(&name)).with_path(e.path())?;
            rec.moved_top.push(name);
        }
        let config = staged.join("config");
        if !std::fs::symlink_metadata(&config).is_ok_and(|m| m.file_type().is_dir()) {
            // No folder (what stood under the name is aside): nothing in it was listed.
            rec.kept = Default::default();
            rec.made_config = true;
            let mark = self.root.join(MADE_CONFIG);
            std::fs::write(&mark, b"").with_path(&mark)?;
            std::fs::create_dir(&config).with_path(&config)?;
        }
        for name in &plan.aside {
            let from = config.join(name);
            std::fs::rename(&from, config_aside.join(name)).with_path(&from)?;
            rec.moved_config.push(name.clone());
        }
        let ready = self.root.join(READY);
        std::fs::write(&ready, b"").with_path(&ready)?;
        Ok(true)
    }
}

/// In the staging folder, from just before a release is taken over: the release's name, the
/// live release's, and the live release's phone files that the release did not have (each
/// followed by a NUL byte, which no file name holds).
const JOURNAL: &str = "taken";
/// Beside it: the release had no `config/` folder, and the build made one.
const MADE_CONFIG: &str = "taken.made-config";
/// Beside it: the release is taken over whole (what was not the live release's files is aside),
/// and the build may have written in it since.
const READY: &str = "taken.ready";

fn journal_text(plan: &TakeOver) -> Vec<u8> {
    let mut text = Vec::new();
    let not_kept = plan.kept.live.iter().filter(|(_, e)| !e.1).map(|(n, _)| n);
    for name in [&plan.name, &plan.live_release].into_iter().chain(not_kept) {
        text.extend_from_slice(name.as_bytes());
        text.push(0);
    }
    text
}

/// Puts back, as it was, the release that a build which stopped at once had taken over: `root`
/// is that build's staging folder, left beside the web root `out`. Nothing to do when it took
/// none over, or put it back itself. An error leaves everything where it is.
pub(super) fn recover(out: &Path, root: &Path) -> Result<()> {
    let journal = root.join(JOURNAL);
    let text = match std::fs::read(&journal) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&journal, e)),
    };
    let staged = root.join("release");
    if std::fs::symlink_metadata(&staged).is_err() {
        return Ok(());
    }
    let mut parts = text.split(|&b| b == 0);
    let mut release_name = || {
        parts
            .next()
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| crate::release::is_name(n))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::of(
                    crate::error::Area::Output,
                    format!("{} is not a take-over record", journal.display()),
                )
            })
    };
    let (name, live_name) = (release_name()?, release_name()?);
    let not_kept: std::collections::HashSet<&[u8]> = parts.filter(|n| !n.is_empty()).collect();
    let releases = out.join("releases");
    let origin = releases.join(&name);
    if std::fs::symlink_metadata(&origin).is_ok() {
        return Err(Error::of(
            crate::error::Area::Output,
            format!("{} is there again", origin.display()),
        ));
    }
    let displaced = root.join("displaced");
    let made_config = root.join(MADE_CONFIG).exists();
    if !root.join(READY).exists() {
        // Stopped while taking it over: nothing was written in it yet. What was moved aside
        // comes back, and the folder made for the build goes.
        let config = staged.join("config");
        let aside = displaced.join("config");
        for name in names_in(&aside)? {
            let from = aside.join(&name);
            std::fs::rename(&from, config.join(&name)).with_path(&from)?;
        }
        if made_config && std::fs::symlink_metadata(&config).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir(&config).with_path(&config)?;
        }
        let top = displaced.join("top");
        for name in names_in(&top)? {
            let from = top.join(&name);
            std::fs::rename(&from, staged.join(&name)).with_path(&from)?;
        }
        return std::fs::rename(&staged, &origin).with_path(&origin);
    }
    let live = releases.join(&live_name).join("config");
    let mut kept = Kept::default();
    each_entry(&live, |n, ino, file| {
        if let (true, Ok(n)) = (file, std::str::from_utf8(n)) {
            let was_there = !not_kept.contains(n.as_bytes());
            kept.live.insert(n.to_string(), (ino, was_there));
            kept.len += usize::from(was_there);
        }
    })
    .with_path(&live)?;
    let taken = Taken {
        origin,
        live,
        kept: std::sync::Arc::new(kept),
        moved_top: names_in(&displaced.join("top"))?,
        moved_config: names_in(&displaced.join("config"))?,
        made_config,
    };
    taken.put_back(&staged, &displaced)
}

/// The names in a folder; none when there is no folder.
fn names_in(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name()).with_path(dir))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

impl Taken {
    /// Puts the release taken over back where it was, as it was: whatever this build wrote in it
    /// goes, the names that were links to the live release's files are linked again, and what
    /// was moved aside comes back.
    pub(super) fn put_back(&self, staged: &Path, displaced: &Path) -> Result<()> {
        let config = staged.join("config");
        if self.made_config {
            // The folder made for the build goes (what stood under the name comes back below).
            if std::fs::symlink_metadata(&config).is_ok() {
                remove_any(&config)?;
            }
        } else {
            self.put_config_back(&config, &displaced.join("config"))?;
        }
        for e in std::fs::read_dir(staged).with_path(staged)? {
            let e = e.with_path(staged)?;
            if e.file_name() != "config" {
                remove_any(&e.path())?;
            }
        }
        for name in &self.moved_top {
            let from = displaced.join("top").join(name);
            std::fs::rename(&from, staged.join(name)).with_path(&from)?;
        }
        std::fs::rename(staged, &self.origin).with_path(&self.origin)
    }

    /// Puts the release's `config/` back: what the build wrote goes, the names that were links
    /// to the live release's files are linked again, what was moved aside comes back.
    fn put_config_back(&self, config: &Path, aside: &Path) -> Result<()> {
        use std::os::unix::fs::DirEntryExt;
        for e in std::fs::read_dir(config).with_path(config)? {
            let e = e.with_path(config)?;
            let ours = e.file_type().is_ok_and(|t| t.is_file())
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| self.kept.live.get(n) == Some(&(e.ino(), true)));
            if !ours {
                remove_any(&e.path())?;
            }
        }
        for (name, ino) in self.kept.iter() {
            let (from, to) = (self.live.join(name), config.join(name));
            if std::fs::symlink_metadata(&to).is_err() {
                use std::os::unix::fs::MetadataExt;
                // Only the very file it was: the live release's files do not change.
                if std::fs::symlink_metadata(&from).is_ok_and(|m| m.ino() == ino) {
                    std::fs::hard_link(&from, &to).with_path(&to)?;
                }
            }
        }
        for name in &self.moved_config {
            let from = aside.join(name);
            std::fs::rename(&from, config.join(name)).with_path(&from)?;
        }
        Ok(())
    }
}

/// The names of a release's `config/` that are the live release's very files (the same inode),
/// found by listing both folders.
#[derive(Debug, Default)]
pub struct Kept {
    /// The live release's phone files by name: the inode, and whether the other release has
    /// that very file under the name. Names are hashed fast: they are provsite's own folders'.
    live: std::collections::HashMap<String, (u64, bool), crate::family::keys::FastHash>,
    len: usize,
}

impl Kept {
    pub fn contains(&self, name: &str) -> bool {
        self.live.get(name).is_some_and(|e| e.1)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names kept, with their inode.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.live
            .iter()
            .filter(|(_, e)| e.1)
            .map(|(n, e)| (n.as_str(), e.0))
    }
}

/// A release that a build can take over as its staged release (see [`Staging::take_over`]): one
/// that the pruning after the build removes anyway, so that a new release costs what differs
/// between the two, not a link per phone file (and the pruning has one release fewer to delete).
/// Listed while the inventory loads, before the build knows its release's number; nothing is
/// changed until [`Staging::take_over`].
#[derive(Debug)]
pub struct TakeOver {
    /// The release's name and folder.
    pub name: String,
    origin: PathBuf,
    /// The live release, and its phone files' folder.
    pub live_release: String,
    live: PathBuf,
    /// The names of its `config/` that are links to the live release's files (regular files
    /// with the same inode: the same file).
    pub kept: std::sync::Arc<Kept>,
    /// The other names there: moved aside when it is taken over.
    aside: Vec<std::ffi::OsString>,
}

impl TakeOver {
    /// Lists the release `name` of the web root `out` against the phone files of the release
    /// `live`; None when either is not a plain folder or cannot be read.
    pub fn list(out: &Path, name: &str, live: &str) -> Option<TakeOver> {
        let releases = out.join("releases");
        let (origin, live_config) = (releases.join(name), releases.join(live).join("config"));
        let plain_dir =
            |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir());
        if name == live || !plain_dir(&origin) || !plain_dir(&live_config) {
            return None;
        }
        let mut kept = Kept::default();
        kept.live.reserve(1 << 12);
        each_entry(&live_config, |name, ino, file| {
            if let (true, Ok(n)) = (file, std::str::from_utf8(name)) {
                kept.live.insert(n.to_string(), (ino, false));
            }
        })
        .ok()?;
        let mut aside = Vec::new();
        let config = origin.join("config");
        if plain_dir(&config) {
            use std::os::unix::ffi::OsStrExt;
            each_entry(&config, |name, ino, file| {
                let there = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| kept.live.get_mut(n));
                match there {
                    Some(e) if file && e.0 == ino => {
                        e.1 = true;
                        kept.len += 1;
                    }
                    _ => aside.push(std::ffi::OsStr::from_bytes(name).to_os_string()),
                }
            })
            .ok()?;
        }
        Some(TakeOver {
            name: name.to_string(),
            origin,
            live_release: live.to_string(),
            live: live_config,
            kept: std::sync::Arc::new(kept),
            aside,
        })
    }
}

/// The live release of a web root as its files tell it, without reading its manifest: the
/// release whose `manifest.json` is the top one's very file (a build links it there). None when
/// none is.
pub fn live_release_by_link(out: &Path, releases: &[String]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let top = std::fs::symlink_metadata(out.join("manifest.json")).ok()?;
    releases
        .iter()
        .find(|r| {
            std::fs::symlink_metadata(out.join("releases").join(r).join("manifest.json"))
                .is_ok_and(|m| m.ino() == top.ino() && m.dev() == top.dev())
        })
        .cloned()
}

/// Calls `each(name, inode, regular file)` for the entries of a folder but `.` and `..`, as
/// readdir(3) gives them: no allocation per entry, and no file looked at where the folder's
/// entries tell their type.
fn each_entry(dir: &Path, mut each: impl FnMut(&[u8], u64, bool)) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid C string.
    let d = unsafe { libc::opendir(c.as_ptr()) };
    if d.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let result = loop {
        // SAFETY: errno is this thread's; readdir sets it only on an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `d` is an open directory stream, used on this thread only.
        let e = unsafe { libc::readdir64(d) };
        if e.is_null() {
            let err = std::io::Error::last_os_error();
            break if err.raw_os_error() == Some(0) {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: readdir returned a valid entry, whose name is a C string, valid until the
        // next call on `d`.
        let (name, ino, kind) = unsafe {
            (
                std::ffi::CStr::from_ptr((*e).d_name.as_ptr()).to_bytes(),
                (*e).d_ino,
                (*e).d_type,
            )
        };
        if name == b"." || name == b".." {
            continue;
        }
        let file = match kind {
            libc::DT_REG => true,
            libc::DT_UNKNOWN => {
                // SAFETY: a zeroed `stat` is a valid value for fstatat to fill.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: `d`'s descriptor is open, the name a valid C string, `st` writable.
                let rc = unsafe {
                    libc::fstatat(
                        libc::dirfd(d),
                        (*e).d_name.as_ptr(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
            }
            _ => false,
        };
        each(name, ino, file);
    };
    // SAFETY: `d` is open and closed once.
    unsafe { libc::closedir(d) };
    result
}

/// Removes a file, a link or a folder and what it holds (never following a link).
fn remove_any(path: &Path) -> Result<()> {
    let dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir());
    if dir {
        std::fs::remove_dir_all(path).with_path(path)
    } else {
        std::fs::remove_file(path).with_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "202611260001-aaaaaaaaaaaa";
    const LIVE: &str = "202611260002-bbbbbbbbbbbb";

    /// Every file under `dir`: its path, bytes and inode.
    fn files(dir: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, u64)> {
        use std::os::unix::fs::MetadataExt;
        let mut out = std::collections::BTreeMap::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().display().to_string();
                    let ino = std::fs::metadata(&p).unwrap().ino();
                    out.insert(rel, (std::fs::read(&p).unwrap(), ino));
                }
            }
        }
        out
    }

    /// A web root with a live release and an older one: the older links one of the live
    /// release's files, has its own version of another, and lacks a third.
    fn web_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (old, live) = (
            dir.path().join("releases").join(OLD),
            dir.path().join("releases").join(LIVE),
        );
        for r in [&old, &live] {
            std::fs::create_dir_all(r.join("config")).unwrap();
            std::fs::write(r.join("ST2030S.inf"), r.display().to_string()).unwrap();
        }
        for n in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(live.join("config").join(n), format!("live {n}")).unwrap();
        }
        std::fs::hard_link(live.join("config/a.txt"), old.join("config/a.txt")).unwrap();
        std::fs::write(old.join("config/b.txt"), "old b").unwrap();
        dir
    }

    #[test]
    fn a_release_taken_over_by_a_build_that_stopped_at_once_is_put_back_as_it_was() {
        // Stopped after taking it over whole (and writing in it), or half-way through taking it
        // over (nothing written yet).
        for whole in [true, false] {
            let root = web_root();
            let out = root.path();
            let before = files(out);
            let mut staging = Staging::begin(out).unwrap();
            let plan = TakeOver::list(out, OLD, LIVE).unwrap();
            assert!(staging.take_over(&plan).unwrap());
            let staged = staging.release_dir();
            assert!(!out.join("releases").join(OLD).exists());
            if whole {
                // What the build wrote: a file of its own, and a link to a live file.
                std::fs::write(staged.join("config/b.txt"), "new b").unwrap();
                std::fs::write(staged.join("manifest.json"), "new").unwrap();
                let live = out.join("releases").join(LIVE).join("config/c.txt");
                std::fs::hard_link(live, staged.join("config/c.txt")).unwrap();
            } else {
                std::fs::remove_file(staging.root.join(READY)).unwrap();
            }
            let left = staging.root.clone();
            // The process ends: no `Drop`.
            std::mem::forget(staging);
            recover(out, &left).unwrap();
            assert_eq!(files(out), before, "whole: {whole}");
        }
    }
}
