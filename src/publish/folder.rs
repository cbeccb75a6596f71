//! A local folder (e.g. an nginx root): create-only writes by hard-linking a complete temporary
//! file into place, replacements by rename, and a lock file that makes the manifest swap a
//! compare-and-swap against concurrent publishes.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::{wrote, Sent, Store, Upload};
use crate::error::{Area, Error};
use crate::hashing::sha256_hex;

pub struct Folder {
    root: PathBuf,
    /// Held for the whole publish: flock on `.provsite/lock`.
    _lock: File,
    /// `.provsite/tmp-<pid>/`, mode 700: where files are written before they are linked or
    /// renamed into place. Phone files hold SIP passwords, so a publish killed half-way must not
    /// leave them under names a web server might serve; the next publish removes the folder.
    tmp: PathBuf,
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

impl Folder {
    pub fn open(root: &Path) -> Result<Folder, Error> {
        let meta_dir = root.join(".provsite");
        // Never through a link: the destination is untrusted, and dead temporary folders are
        // deleted in it.
        crate::output::private_dir(&meta_dir)?;
        let lock_path = meta_dir.join("lock");
        // Opened without truncating: a publish that changes nothing leaves the file untouched.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::of(
                Area::Publish,
                format!(
                    "{}: another provsite publish is running (it holds {}); wait for it",
                    root.display(),
                    lock_path.display()
                ),
            ));
        }
        // Under the lock, temporary and trash folders of earlier publishes are dead: remove them.
        if let Ok(rd) = std::fs::read_dir(&meta_dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("tmp-") || n.starts_with("trash-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let tmp = meta_dir.join(format!("tmp-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(Folder {
            root: root.to_path_buf(),
            _lock: lock,
            tmp,
        })
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Writes bytes to a temporary file in the private temporary folder (same file system as
    /// `dest`, so it can be linked or renamed there), synced, with the local file's mtime.
    fn temp_for(
        &self,
        dest: &Path,
        bytes: &[u8],
        mtime: Option<std::time::SystemTime>,
    ) -> Result<PathBuf, Error> {
        let dir = dest.parent().expect("paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = self.tmp.join("file");
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        if let Some(t) = mtime {
            let _ = f.set_modified(t);
        }
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        Ok(tmp)
    }

    fn sync_dir(dir: &Path) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

impl Store for Folder {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn upload_new(&mut self, files: &[Upload]) -> Result<Sent, Error> {
        let mut sent = Sent::default();
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            let dest = self.at(&f.path);
            if let Ok(m) = std::fs::metadata(&dest) {
                if m.len() == f.size
                    && sha256_hex(&std::fs::read(&dest).map_err(|e| Error::io(&dest, e))?)
                        == f.sha256
                {
                    sent.skipped += 1;
                    continue;
                }
                return Err(Error::of(Area::Publish, format!(
                    "{} exists with other content; an immutable object is never overwritten (remove it by hand if it is debris)",
                    dest.display()
                )));
            }
            let bytes = std::fs::read(&f.local).map_err(|e| Error::io(&f.local, e))?;
            let mtime = std::fs::metadata(&f.local).and_then(|m| m.modified()).ok();
            let tmp = self.temp_for(&dest, &bytes, mtime)?;
            // link(2) fails when the name exists: create-only, and never a partial file.
            let linked = std::fs::hard_link(&tmp, &dest);
            let _ = std::fs::remove_file(&tmp);
            linked.map_err(|e| Error::io(&dest, e))?;
            wrote();
            dirs.insert(dest.parent().expect("a parent").to_path_buf());
            sent.files += 1;
            sent.bytes += f.size;
        }
        for d in dirs {
            Self::sync_dir(&d);
        }
        Ok(sent)
    }

    fn check(&mut self, files: &[Upload]) -> Result<Vec<String>, Error> {
        let mut problems = Vec::new();
        for f in files {
            let p = self.at(&f.path);
            // Read only what has the expected size (a regular file): nothing else can match.
            match std::fs::symlink_metadata(&p) {
                Ok(m) if !m.is_file() || m.len() != f.size => {
                    problems.push(format!(
                        "{}: {} bytes (expected {} bytes, {})",
                        f.path,
                        m.len(),
                        f.size,
                        f.sha256
                    ));
                    continue;
                }
                _ => {}
            }
            match std::fs::read(&p) {
                Ok(b) if b.len() as u64 == f.size && sha256_hex(&b) == f.sha256 => {}
                Ok(b) => problems.push(format!(
                    "{}: {} bytes, SHA-256 {} (expected {} bytes, {})",
                    f.path,
                    b.len(),
                    sha256_hex(&b),
                    f.size,
                    f.sha256
                )),
                Err(_) => problems.push(format!("{}: missing", f.path)),
            }
        }
        Ok(problems)
    }

    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        use crate::bounded_read::Refused;
        let p = self.at(path);
        match crate::bounded_read::read(&p, super::MAX_GET) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(Refused::Io(e)) => Err(Error::io(&p, e)),
            Err(Refused::NotRegular) => Err(Error::of(
                Area::Publish,
                format!("{}: {path} is not a regular file", self.describe()),
            )
            .hint("check that --to names provsite's destination")),
            Err(Refused::TooLarge(_)) => Err(super::too_large(&self.describe(), path)),
        }
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        let dest = self.at(path);
        let tmp = self.temp_for(&dest, bytes, None)?;
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        Self::sync_dir(dest.parent().expect("a parent"));
        wrote();
        Ok(())
    }

    fn swap_manifest(&mut self, bytes: &[u8], expected: Option<&[u8]>) -> Result<(), Error> {
        // Under the lock, the manifest can only have changed by hand; check anyway.
        let now = self.get("manifest.json")?;
        if now.as_deref() != expected {
            return Err(Error::of(Area::Publish, format!(
                "{}: manifest.json changed while publishing; nothing was switched over it, run the publish again",
                self.root.display()
            )));
        }
        self.put("manifest.json", bytes)
    }

    fn list_dirs(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        let dir = self.at(prefix);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && e.path().is_dir() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn list_files(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        let Ok(rd) = std::fs::read_dir(self.at(prefix)) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<String> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        Ok(out)
    }

    fn count(&mut self, prefix: &str) -> Result<usize, Error> {
        fn walk(p: &Path) -> usize {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                walk(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        Ok(walk(&self.at(prefix)))
    }

    fn remove_dir(&mut self, prefix: &str) -> Result<usize, Error> {
        let dir = self.at(prefix.trim_end_matches('/'));
        let n = self.count(prefix)?;
        // Renamed aside first, so a half-deleted folder never sits under its real name.
        let trash = self
            .root
            .join(".provsite")
            .join(format!("trash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&trash);
        std::fs::rename(&dir, &trash).map_err(|e| Error::io(&dir, e))?;
        wrote();
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))?;
        Ok(n)
    }

    fn remove(&mut self, path: &str) -> Result<(), Error> {
        let p = self.at(path);
        match std::fs::remove_file(&p) {
            Ok(()) => {
                wrote();
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }
}
