//! The output stage: a release is written whole under a staging folder beside the web root, synced,
//! then renamed into `releases/`; the firmware store gains its new contents; the entry points and
//! `manifest.json` are replaced last, each by write-temp-then-rename. Nothing in the web root changes
//! until everything is ready, so a failed build leaves it exactly as it was.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Area, Error, IoContext, Result};
use crate::firmware_store;
use crate::manifest::Manifest;

mod links;
mod take_over;

pub use links::{remove_names, Ahead, DirLinker, Made};
use take_over::Taken;
pub use take_over::{live_release_by_link, Kept, TakeOver};

/// A build in progress: its lock and staging folder, both beside the web root
/// (`.<out>.provsite/`), so nothing half-written is ever inside the served tree.
pub struct Staging {
    out: PathBuf,
    pub root: PathBuf,
    _lock: File,
    done: bool,
    /// A release past pruning taken over as the staged one (see [`Staging::take_over`]): put back
    /// as it was when the build stops before the switch.
    taken: Option<Taken>,
}

pub(crate) fn work_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| {
            Error::of(
                Area::Output,
                format!("--out {} must name a folder", out.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{name}.provsite")))
}

/// Makes `dir` a folder of the owner's only (mode 700), creating it when missing (its parent too).
/// A folder provsite keeps private: staged files hold SIP passwords, and its own leftovers are
/// deleted in it. So one that is a symbolic link (which could lead to anyone's folder), not a
/// folder, or another user's, is refused, not used.
pub fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_path(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(Error::io(dir, e)),
        _ => {}
    }
    let refuse = |what: &str| {
        Error::of(
            Area::Output,
            format!(
                "{} {what}: provsite keeps its private work there (staged files hold passwords, and its own leftovers are deleted in it)",
                dir.display()
            ),
        )
        .hint("remove it: provsite makes the folder itself")
    };
    // Opened without following a link, and changed through the open folder: what is checked is
    // what is changed.
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
        .open(dir)
    {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
            return Err(refuse("is a symbolic link or not a folder"))
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let meta = f.metadata().with_path(dir)?;
    // SAFETY: geteuid has no preconditions.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(refuse("belongs to another user"));
    }
    if meta.mode() & 0o777 != 0o700 {
        f.set_permissions(std::fs::Permissions::from_mode(0o700))
            .with_path(dir)?;
    }
    Ok(())
}

impl Staging {
    pub fn begin(out: &Path) -> Result<Staging> {
        let work = work_dir(out)?;
        // Staged phone files hold SIP passwords: the folder is the owner's only.
        private_dir(&work)?;
        let lock_path = work.join("lock");
        let lock = File::create(&lock_path).with_path(&lock_path)?;
        lock.try_lock().map_err(|_| {
            Error::of(
                Area::Output,
                format!(
                "another provsite build is writing to {} (lock {} is held); wait for it to finish",
                out.display(),
                lock_path.display()
            ),
            )
        })?;
        // Leftovers of a build that stopped at once (killed, or over a template's memory
        // budget): nobody holds the lock, so they are dead. A release it had taken over is put
        // back first.
        if let Ok(entries) = std::fs::read_dir(&work) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("staging-") {
                    match take_over::recover(out, &e.path()) {
                        Ok(()) => {
                            let _ = std::fs::remove_dir_all(e.path());
                        }
                        Err(err) => eprintln!(
                            "warning: a release taken over by a build that stopped could not be put back ({err}); its files are in {}",
                            e.path().display()
                        ),
                    }
                } else if is_cache_temp(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(out) {
            for e in entries.flatten() {
                if is_switch_temp(&e.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let root = work.join(format!("staging-{}", std::process::id()));
        std::fs::create_dir_all(&root).with_path(&root)?;
        Ok(Staging {
            out: out.to_path_buf(),
            root,
            _lock: lock,
            done: false,
            taken: None,
        })
    }

    pub fn release_dir(&self) -> PathBuf {
        self.root.join("release")
    }

    /// The work folder beside the web root (`.<out>.provsite/`, the owner's only): the lock,
    /// staging, and the render cache.
    pub fn work_dir(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    pub fn firmware_dir(&self) -> PathBuf {
        self.root.join("firmware")
    }

    /// The release's shared files (common files, telcfg), before they join `common/`.
    pub fn common_dir(&self) -> PathBuf {
        self.root.join(crate::render::COMMON_DIR)
    }

    /// Makes the staged release live. Returns how many firmware files were added to the store.
    pub fn publish(
        mut self,
        release: &str,
        entry_points: &[(String, Vec<u8>)],
        previous: Option<&Manifest>,
        firmware_staged: &[String],
        mtime: SystemTime,
    ) -> Result<usize> {
        sync_tree(&self.root)?;
        let out = self.out.clone();
        let releases = out.join("releases");
        std::fs::create_dir_all(&releases).with_path(&releases)?;
        let target = releases.join(release);
        let staged = self.release_dir();
        if target.exists() {
            // The same release again: keep what is there when it is identical (phones may be
            // fetching it), else swap it whole.
            let same = same_bytes(&target.join("manifest.json"), &staged.join("manifest.json"));
            if same {
                std::fs::remove_dir_all(&staged).with_path(&staged)?;
            } else {
                let trash = self.root.join("replaced");
                std::fs::rename(&target, &trash).with_path(&target)?;
                std::fs::rename(&staged, &target).with_path(&target)?;
            }
        } else {
            std::fs::rename(&staged, &target).with_path(&target)?;
        }
        // A release taken over is the new one now: what was moved aside of it goes with the
        // staging folder. Its list of names (100,000 at that many phones) is freed on a thread
        // of its own, off the switch's path.
        if let Some(taken) = self.taken.take() {
            std::thread::spawn(move || drop(taken));
        }
        let store = out.join("firmware");
        let added =
            firmware_store::commit_staged(&self.firmware_dir(), &store, firmware_staged, mtime)?;
        let common = out.join(crate::render::COMMON_DIR);
        commit_common(&self.common_dir(), &common)?;
        sync_dir(&releases);
        sync_dir(&store);
        sync_dir(&common);
        // Entry points, then the manifest, last.
        for (name, bytes) in entry_points {
            replace_file(&out.join(name), bytes, mtime)?;
        }
        // The release's own manifest, linked (the same bytes and time, and nothing to copy).
        replace_by_link(&target.join("manifest.json"), &out.join("manifest.json"))?;
        // Entry points of models no longer in use would point at a release that will be pruned.
        // (The previous manifest was checked: its entry points are `.inf` names at the top.)
        if let Some(prev) = previous {
            for m in prev.models.values() {
                if !entry_points.iter().any(|(n, _)| *n == m.entry_point) {
                    let _ = std::fs::remove_file(out.join(&m.entry_point));
                }
            }
        }
        sync_dir(&out);
        self.done = true;
        let _ = std::fs::remove_dir_all(&self.root);
        Ok(added)
    }
}

/// Moves staged shared files into `common/`, create-only: a name there is content-derived, so one
/// already present must hold the same bytes (else someone changed it: stop before anything names
/// it).
fn commit_common(staged: &Path, common: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(staged) else {
        return Ok(());
    };
    std::fs::create_dir_all(common).with_path(common)?;
    for e in entries {
        let e = e.with_path(staged)?;
        let to = common.join(e.file_name());
        match std::fs::read(&to) {
            Ok(there) => {
                if there != std::fs::read(e.path()).with_path(e.path())? {
                    return Err(Error::of(Area::Output, format!(
                        "{} exists with other content; its name follows its content, so it was changed by hand: remove it and build again",
                        to.display()
                    )));
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::rename(e.path(), &to).with_path(&to)?;
            }
            Err(err) => return Err(Error::io(&to, err)),
        }
    }
    Ok(())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            if let Some(rec) = self.taken.take() {
                let staged = self.release_dir();
                if let Err(e) = rec.put_back(&staged, &self.root.join("displaced")) {
                    // The staging folder stays: what it holds is that release.
                    eprintln!(
                        "warning: the release {} taken over by this build could not be put back ({e}); its files are in {}",
                        rec.origin.display(),
                        staged.display()
                    );
                    return;
                }
            }
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Reads the live manifest of a web root, if any. It is untrusted input (anyone who can write the
/// folder can change it): a manifest that names a path provsite would not write is an error.
pub fn read_manifest(out: &Path) -> Result<Option<Manifest>> {
    let path = out.join("manifest.json");
    match crate::manifest::read_file(&path) {
        Ok(b) => Manifest::from_untrusted(&b)
            .map(Some)
            .map_err(|e| Error::of(Area::Output, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// What [`check_out`] found in an `--out` folder it accepts.
#[derive(Debug, PartialEq, Eq)]
pub enum OutFolder {
    /// A new or empty folder, or one with only names provsite writes and no manifest yet.
    Fresh,
    /// A folder with a `manifest.json`: it is provsite's only if [`read_own_manifest`] reads it.
    WithManifest,
}

/// Refuses an `--out` that provsite must not write into: a folder inside the inventory, or an
/// existing folder that holds things provsite did not write (build replaces `manifest.json` and
/// the entry points and prunes `releases/`: in someone else's folder that would destroy their
/// files). A web root of provsite's, an empty folder and a new one are fine. A folder with a
/// manifest is accepted here only as far as [`read_own_manifest`] then reads it (the reading
/// is the part that takes time at 100,000 phones: the build does it while the inventory loads).
pub fn check_out(out: &Path, inventory: &Path) -> Result<OutFolder> {
    let nearest_existing = out
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists())
        .unwrap_or(Path::new("."));
    if let (Ok(o), Ok(inv)) = (nearest_existing.canonicalize(), inventory.canonicalize()) {
        let rest = out.strip_prefix(nearest_existing).unwrap_or(Path::new(""));
        if o.join(rest).starts_with(&inv) {
            return Err(Error::of(Area::Output, format!(
                "--out {} is inside the inventory {}: the web root would be read back as inventory and committed with it; choose a folder outside it, such as public/",
                out.display(),
                inventory.display()
            )));
        }
    }
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(OutFolder::Fresh);
    };
    if out.join("manifest.json").exists() {
        return Ok(OutFolder::WithManifest);
    }
    // No manifest yet: a first build, or one interrupted before its manifest was written. Only
    // names provsite writes may be there.
    let mut foreign = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = match name.as_str() {
            "releases" => only_names_like(&e.path(), crate::release::is_name),
            "firmware" => only_names_like(&e.path(), crate::release::is_firmware_dir),
            "common" => true,
            n => crate::release::is_entry_point(n) || (n.starts_with('.') && n.ends_with(".tmp")),
        };
        if !ours {
            foreign.push(name);
        }
    }
    if foreign.is_empty() {
        return Ok(OutFolder::Fresh);
    }
    foreign.sort();
    foreign.truncate(5);
    Err(Error::of(Area::Output, format!(
        "--out {} holds files provsite did not write ({}) and no provsite manifest.json: building there would replace and prune them; choose an empty or new folder (or a provsite web root)",
        out.display(),
        foreign
            .iter()
            .map(|n| crate::text_rules::shown(n))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The manifest of an `--out` folder [`check_out`] found one in, read and checked: one that does
/// not read is the sign of a folder that is not provsite's, and refused.
pub fn read_own_manifest(out: &Path) -> Result<Option<Manifest>> {
    read_manifest(out).map_err(|e| {
        Error::of(
            Area::Output,
            format!("--out {} is not a provsite web root: {e}", out.display()),
        )
        .hint("if it is provsite's, copy its live release's own copy over it (releases/<release>/manifest.json) or remove manifest.json; if not, choose another --out")
    })
}

/// Whether every entry of `dir` has a name `shape` accepts.
fn only_names_like(dir: &Path, shape: fn(&str) -> bool) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .all(|e| shape(&e.file_name().to_string_lossy()))
    })
}

/// Writes a file (creating its folder) with the given mtime.
pub fn write_file(path: &Path, bytes: &[u8], mtime: SystemTime) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_path(dir)?;
    }
    write_new_file(path, bytes, mtime)
}

/// Writes a file by `write`, with the given mtime.
pub fn write_with(
    path: &Path,
    mtime: SystemTime,
    write: impl FnOnce(&File) -> std::io::Result<()>,
) -> Result<()> {
    let f = File::create(path).with_path(path)?;
    write(&f).with_path(path)?;
    f.set_modified(mtime).with_path(path)?;
    Ok(())
}

/// Writes a file in a folder that exists, with the given mtime.
pub fn write_new_file(path: &Path, bytes: &[u8], mtime: SystemTime) -> Result<()> {
    let f = File::create(path).with_path(path)?;
    write_all(&f, path, bytes)?;
    f.set_modified(mtime).with_path(path)?;
    Ok(())
}

/// Creates files in one folder through its open handle (`openat`), as [`write_new_file`] does
/// by path: 100,000 files need no walk of the folder's path each.
pub struct DirWriter {
    dir: File,
    path: PathBuf,
}

impl DirWriter {
    pub fn open(dir: &Path) -> Result<DirWriter> {
        Ok(DirWriter {
            dir: File::open(dir).with_path(dir)?,
            path: dir.to_path_buf(),
        })
    }

    /// Writes `dir/name` as a new file with the given mtime. A file already there gives way
    /// (its name is removed first): it is never written through, as it may be a hard link to a
    /// published release's file.
    pub fn write_new(&self, name: &str, bytes: &[u8], mtime: SystemTime) -> Result<()> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let path = self.path.join(name);
        let c =
            std::ffi::CString::new(name).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        let create = || {
            // SAFETY: the folder's descriptor stays open for the call (owned by self) and `c`
            // is a valid C string.
            unsafe {
                libc::openat(
                    self.dir.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0o666 as libc::c_uint,
                )
            }
        };
        let mut fd = create();
        // A name already there is removed and the file created again. The links made ahead
        // (`Ahead`) may put a name back between the two, once a name: a few rounds settle it.
        let mut rounds = 0;
        while fd < 0
            && rounds < 4
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::AlreadyExists
        {
            rounds += 1;
            // SAFETY: as above; unlinkat removes the name only (never a folder: no AT_REMOVEDIR).
            if unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) } != 0
                && std::io::Error::last_os_error().kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::io(&path, std::io::Error::last_os_error()));
            }
            fd = create();
        }
        if fd < 0 {
            return Err(Error::io(&path, std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a descriptor just opened, owned by the File made from it from here on.
        let f = unsafe { File::from_raw_fd(fd) };
        write_all(&f, &path, bytes)?;
        f.set_modified(mtime).with_path(&path)?;
        Ok(())
    }
}

/// Makes a staged file `filled`, which differs from `staged` only in bytes it overwrites (a
/// config_sn put in place of its stand-in, the same length), and sets its mtime: only the changed
/// bytes are written. A file that does not exist any more (a failed link) is written whole.
pub fn fill_in_place(path: &Path, staged: &[u8], filled: &[u8], mtime: SystemTime) -> Result<()> {
    use std::os::unix::fs::FileExt;
    if staged.len() != filled.len() {
        return write_new_file(path, filled, mtime);
    }
    let f = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return write_new_file(path, filled, mtime)
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    // Each run of differing bytes, written where it belongs.
    let mut i = 0;
    while i < filled.len() {
        if staged[i] == filled[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < filled.len() && staged[i] != filled[i] {
            i += 1;
        }
        f.write_all_at(&filled[start..i], start as u64)
            .with_path(path)?;
    }
    f.set_modified(mtime).with_path(path)?;
    Ok(())
}

fn write_all(mut f: &File, path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    f.write_all(bytes).with_path(path)
}

/// Where a cache file `file` of the work folder is written before it is renamed in place:
/// `<file>.tmp-<pid>` (what [`Staging::begin`] clears when a build left it).
pub(crate) fn cache_temp(work: &Path, file: &str) -> PathBuf {
    work.join(format!("{file}.tmp-{}", std::process::id()))
}

/// A name made by [`cache_temp`] for one of the caches.
fn is_cache_temp(name: &str) -> bool {
    name.split_once(".tmp-").is_some_and(|(file, pid)| {
        [
            crate::parse_cache::FILE,
            crate::render_cache::FILE,
            crate::inventory::record::FILE,
        ]
        .contains(&file)
            && is_pid(pid)
    })
}

/// Where the web root's file `path` is made before it replaces the file: `.<name>.<pid>.tmp`.
fn switch_temp(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// A name made by [`switch_temp`] for an entry point or the manifest.
fn is_switch_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    rest.rsplit_once('.').is_some_and(|(file, pid)| {
        (file == "manifest.json" || crate::release::is_entry_point(file)) && is_pid(pid)
    })
}

fn is_pid(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Replaces a file atomically: a reader sees the old file or the new one, whole.
pub fn replace_file(path: &Path, bytes: &[u8], mtime: SystemTime) -> Result<()> {
    let tmp = switch_temp(path);
    let f = File::create(&tmp).with_path(&tmp)?;
    write_all(&f, &tmp, bytes)?;
    f.set_modified(mtime).with_path(&tmp)?;
    f.sync_all().with_path(&tmp)?;
    std::fs::rename(&tmp, path).with_path(path)
}

/// Replaces `path` by a hard link to `from` (made under a temporary name, then renamed over it);
/// a copy where linking is refused.
fn replace_by_link(from: &Path, path: &Path) -> Result<()> {
    let tmp = switch_temp(path);
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(from, &tmp).is_err() {
        std::fs::copy(from, &tmp).with_path(&tmp)?;
        let mtime = std::fs::metadata(from)
            .and_then(|m| m.modified())
            .with_path(from)?;
        File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(mtime))
            .with_path(&tmp)?;
    }
    std::fs::rename(&tmp, path).with_path(path)?;
    // When `path` was already this file (the same release put in place again), the rename did
    // nothing and the temporary name is still there: it goes, the file stays under `path`.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&tmp, e)),
        _ => Ok(()),
    }
}

/// Whether two files hold the same bytes (false when one cannot be read), compared a block at a
/// time.
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(fa), Ok(fb)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let len = |f: &File| f.metadata().map(|m| m.len()).ok();
    if len(&fa).is_none() || len(&fa) != len(&fb) {
        return false;
    }
    let (mut ra, mut rb) = (
        std::io::BufReader::with_capacity(1 << 16, fa),
        std::io::BufReader::with_capacity(1 << 16, fb),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = match ra.read(&mut ba) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return rb.read(&mut bb[..1]).ok() == Some(0);
        }
        if rb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Flushes everything written under `dir` to disk: one `syncfs` instead of a fsync per file.
fn sync_tree(dir: &Path) -> Result<()> {
    let f = File::open(dir).with_path(dir)?;
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs only reads the descriptor, which `f` keeps open for the call.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(Error::io(dir, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// The mtime of every file of a release: the commit's time (SOURCE_DATE_EPOCH when set).
pub fn release_mtime(commit_time: i64) -> SystemTime {
    // Read once: asked for each of 100,000 phones, the environment's scan showed in profiles.
    static SOURCE_DATE_EPOCH: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    let t = SOURCE_DATE_EPOCH
        .get_or_init(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
        })
        .unwrap_or(commit_time)
        .max(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
}

/// What pruning removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub releases: usize,
    pub firmware: usize,
    pub common: usize,
}

/// The release folders of a web root: only names of provsite's shape (any other folder there is
/// not provsite's to prune or take over).
pub fn release_names(out: &Path) -> Vec<String> {
    match std::fs::read_dir(out.join("releases")) {
        Ok(it) => it
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| crate::release::is_name(n))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Keeps the `keep` newest releases (never `current`) and the firmware they name.
/// `known`: manifests already in memory (the new release's, the live one's), not read again.
pub fn prune(out: &Path, keep: usize, current: &str, known: &[&Manifest]) -> Result<Pruned> {
    let releases_dir = out.join("releases");
    if !releases_dir.is_dir() {
        return Ok(Pruned::default());
    }
    let releases = release_names(out);
    let mut pruned = Pruned::default();
    let (kept, doomed) = crate::release::prune_plan(&releases, current, keep, |_| true);
    for r in &doomed {
        std::fs::remove_dir_all(releases_dir.join(r)).with_path(releases_dir.join(r))?;
        pruned.releases += 1;
    }
    // Firmware and shared files: keep what any kept release names.
    let mut used = std::collections::BTreeSet::new();
    let mut used_common = std::collections::BTreeSet::new();
    for r in &kept {
        let refs = match known.iter().find(|m| &m.release == r) {
            Some(m) => Ok(m.shared()),
            None => Manifest::shared_refs(
                &crate::manifest::read_file(&releases_dir.join(r).join("manifest.json"))
                    .unwrap_or_default(),
            ),
        };
        match refs {
            Ok(refs) => {
                used.extend(refs.firmware);
                used_common.extend(refs.common);
            }
            // A release whose manifest cannot be read might use anything: prune nothing shared.
            Err(_) => return Ok(pruned),
        }
    }
    let common = out.join(crate::render::COMMON_DIR);
    if let Ok(it) = std::fs::read_dir(&common) {
        for e in it.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::release::is_common_name(&name) && !used_common.contains(&name) {
                std::fs::remove_file(e.path()).with_path(e.path())?;
                pruned.common += 1;
            }
        }
    }
    let store = out.join("firmware");
    if let Ok(it) = std::fs::read_dir(&store) {
        for e in it.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::release::is_firmware_dir(&name) && !used.contains(&name) {
                std::fs::remove_dir_all(e.path()).with_path(e.path())?;
                pruned.firmware += 1;
            }
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_replaces_a_name_without_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let (live, staged) = (dir.path().join("live"), dir.path().join("staged"));
        std::fs::create_dir(&live).unwrap();
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(live.join("ST2030S_001F9F16E849.txt"), b"published").unwrap();
        // The staged name is a hard link to the published file, as a linked phone file is.
        std::fs::hard_link(
            live.join("ST2030S_001F9F16E849.txt"),
            staged.join("ST2030S_001F9F16E849.txt"),
        )
        .unwrap();
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
        let w = DirWriter::open(&staged).unwrap();
        w.write_new("ST2030S_001F9F16E849.txt", b"rendered", mtime)
            .unwrap();
        w.write_new("ST2030S_001F9F16E84A.txt", b"other", mtime)
            .unwrap();
        assert_eq!(
            std::fs::read(live.join("ST2030S_001F9F16E849.txt")).unwrap(),
            b"published"
        );
        let written = staged.join("ST2030S_001F9F16E849.txt");
        assert_eq!(std::fs::read(&written).unwrap(), b"rendered");
        assert_eq!(
            std::fs::metadata(&written).unwrap().modified().unwrap(),
            mtime
        );
        assert_eq!(
            std::fs::read(staged.join("ST2030S_001F9F16E84A.txt")).unwrap(),
            b"other"
        );
    }

    /// A release taken over is checked name by name, by the thread ahead and by `finish` beside
    /// it: every link to a live file with the manifest's mtime is kept, a live file changed since
    /// (another mtime) and a name the manifest does not give are stale, and the names missing are
    /// linked (or left to the write stage), however the chunks fell between the two threads.
    #[test]
    fn a_release_taken_over_keeps_exactly_the_live_files_it_links() {
        let dir = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let out = dir.path();
        let (live, old) = (out.join("releases/live"), out.join("releases/old"));
        let (live_config, old_config) = (live.join("config"), old.join("config"));
        std::fs::create_dir_all(&live_config).unwrap();
        std::fs::create_dir_all(&old_config).unwrap();
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
        let later = mtime + std::time::Duration::from_secs(60);
        // More names than a chunk holds, several times over.
        let names: Vec<String> = (0..5000)
            .map(|i| format!("ST2030S_001F9F{i:06X}.txt"))
            .collect();
        for (i, n) in names.iter().enumerate() {
            // Every 7th live file was changed in place since the manifest was written.
            let m = if i % 7 == 3 { later } else { mtime };
            write_new_file(&live_config.join(n), b"published", m).unwrap();
            // The old release links most of them; every 5th is missing there.
            if i % 5 != 1 {
                std::fs::hard_link(live_config.join(n), old_config.join(n)).unwrap();
            }
        }
        // A name the old release has as a file of its own, and one the manifest does not give.
        write_new_file(&old_config.join("ST2030S_0000000000AA.txt"), b"own", mtime).unwrap();
        write_new_file(&live_config.join("ST2030S_0000000000BB.txt"), b"x", mtime).unwrap();
        std::fs::hard_link(
            live_config.join("ST2030S_0000000000BB.txt"),
            old_config.join("ST2030S_0000000000BB.txt"),
        )
        .unwrap();
        for link_missing in [false, true] {
            let plan = TakeOver::list(out, "old", "live").unwrap();
            let files: Vec<(String, SystemTime)> =
                names.iter().map(|n| (n.clone(), mtime)).collect();
            let ahead = Ahead::start_over(
                live_config.clone(),
                old_config.clone(),
                files,
                plan.kept,
                link_missing,
            );
            let made = ahead.finish();
            for (i, n) in names.iter().enumerate() {
                let (kept, changed) = (i % 5 != 1, i % 7 == 3);
                assert_eq!(made.stale.contains(n), kept && changed, "{n} stale");
                if kept {
                    assert_eq!(made.linked.contains(n), !changed, "{n} linked");
                } else if made.linked.contains(n) {
                    // Linked ahead: only a live file with the manifest's mtime, as a link.
                    assert!(link_missing && !changed, "{n} linked");
                    assert_eq!(std::fs::read(old_config.join(n)).unwrap(), b"published");
                }
            }
            assert!(made.stale.contains("ST2030S_0000000000BB.txt"));
            assert!(!made.linked.contains("ST2030S_0000000000AA.txt"));
            assert!(!made.stale.contains("ST2030S_0000000000AA.txt"));
            if !link_missing {
                assert_eq!(
                    made.linked.len(),
                    (0..names.len())
                        .filter(|i| i % 5 != 1 && i % 7 != 3)
                        .count()
                );
            }
        }
    }

    /// The render writes files into the staged release while the live release's files are being
    /// linked into it ahead: a link made between the writer's removal of a name and its creation
    /// of the file must not fail the build, and the written file must win.
    #[test]
    fn write_new_wins_against_links_made_ahead_at_the_same_time() {
        // A race of the two, many times: in memory where it can be (on a disk, mostly a test of
        // how fast that disk creates files).
        let dir = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let live = dir.path().join("live");
        std::fs::create_dir(&live).unwrap();
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
        let names: Vec<String> = (0..400)
            .map(|i| format!("ST2030S_001F9F{i:06X}.txt"))
            .collect();
        for n in &names {
            write_new_file(&live.join(n), b"published", mtime).unwrap();
        }
        for round in 0..100 {
            let staged = dir.path().join(format!("staged{round}"));
            std::fs::create_dir(&staged).unwrap();
            let files = names.iter().map(|n| (n.clone(), mtime)).collect();
            let w = DirWriter::open(&staged).unwrap();
            // Some names are there already, as a staged file or a link made ahead is.
            for n in names.iter().step_by(2) {
                std::fs::hard_link(live.join(n), staged.join(n)).unwrap();
            }
            let ahead = Ahead::start(live.clone(), staged.clone(), files);
            for n in &names {
                w.write_new(n, b"rendered", mtime).unwrap();
            }
            drop(ahead);
            for n in &names {
                assert_eq!(std::fs::read(staged.join(n)).unwrap(), b"rendered", "{n}");
            }
            assert_eq!(std::fs::read(live.join(&names[0])).unwrap(), b"published");
            // One round's files at a time: a small /dev/shm (64 MiB in a container) holds them.
            std::fs::remove_dir_all(&staged).unwrap();
        }
    }
}
