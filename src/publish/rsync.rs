//! An rsync destination (`host:path`, `user@host:path`, `rsync://host/module/path`), driving the
//! system `rsync`. Immutable objects go with `--ignore-existing` (create-only); rsync writes each
//! file under a temporary dot-name and renames it, so an interrupted transfer leaves no partial
//! file under a real name. The manifest swap compares before writing but is not atomic against a
//! concurrent publish: rsync has no conditional write.

use std::io::Write;
use std::process::{Command, Output};

use super::{wrote, Sent, Store, Upload};
use crate::error::{Area, Error};

pub struct Rsync {
    dest: String,
    tmp: tempfile::TempDir,
}

/// `host:path` or `user@host:path`: a colon before any slash, and not a local-looking path.
pub fn is_remote(to: &str) -> bool {
    if to.starts_with('/') || to.starts_with('.') || to.starts_with('~') {
        return false;
    }
    match (to.find(':'), to.find('/')) {
        (Some(c), Some(s)) => c < s,
        (Some(_), None) => true,
        _ => false,
    }
}

impl Rsync {
    pub fn open(to: &str) -> Result<Rsync, Error> {
        if Command::new("rsync").arg("--version").output().is_err() {
            return Err(Error::of(Area::Publish,
                "publishing to an rsync destination needs the rsync program (apt-get install rsync)",
            ));
        }
        Ok(Rsync {
            dest: to.trim_end_matches('/').to_string(),
            tmp: tempfile::tempdir()
                .map_err(|e| Error::caused(Area::Publish, "a temporary folder", e))?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.dest)
    }

    fn run(&self, args: &[&str]) -> Result<Output, Error> {
        Command::new("rsync")
            .args(args)
            .output()
            .map_err(|e| Error::caused(Area::Publish, "rsync", e))
    }

    fn ok(&self, what: &str, out: Output) -> Result<String, Error> {
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::of(
                Area::Publish,
                format!(
                    "rsync ({what} at {}) failed: {}",
                    self.dest,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ))
        }
    }

    fn missing(out: &Output) -> bool {
        let err = String::from_utf8_lossy(&out.stderr);
        out.status.code() == Some(23)
            && (err.contains("No such file") || err.contains("change_dir"))
    }

    /// A --files-from list of the uploads' paths; they all sit under the same local root.
    fn list_file(&self, files: &[Upload]) -> Result<(String, String), Error> {
        let path = self.tmp.path().join("files-from");
        let mut f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        for u in files {
            writeln!(f, "{}", u.path).map_err(|e| Error::io(&path, e))?;
        }
        let root = files
            .first()
            .map(|u| {
                let local = u.local.to_string_lossy();
                local.strip_suffix(&u.path).unwrap_or(&local).to_string()
            })
            .unwrap_or_default();
        Ok((path.to_string_lossy().into_owned(), root))
    }

    /// The names under `prefix` whose `--list-only` line starts with `kind` (`d` folders, `-`
    /// files).
    fn list_kind(&mut self, prefix: &str, kind: char) -> Result<Vec<String>, Error> {
        let out = self.run(&["--list-only", &self.url(prefix)])?;
        if Self::missing(&out) {
            return Ok(Vec::new());
        }
        let text = self.ok(&format!("list {prefix}"), out)?;
        let mut names: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(kind))
            .filter_map(listed_name)
            .filter(|n| *n != "." && !n.starts_with('.'))
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    fn changed_names(stdout: &str) -> Vec<String> {
        stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.ends_with('/'))
            .map(str::to_string)
            .collect()
    }
}

impl Store for Rsync {
    fn describe(&self) -> String {
        self.dest.clone()
    }

    fn upload_new(&mut self, files: &[Upload]) -> Result<Sent, Error> {
        if files.is_empty() {
            return Ok(Sent::default());
        }
        let (list, root) = self.list_file(files)?;
        let from = format!("--files-from={list}");
        let dest = format!("{}/", self.dest);
        let out = self.run(&[
            "-rlt",
            "--ignore-existing",
            "--chmod=D755,F644",
            "--out-format=%n",
            &from,
            &root,
            &dest,
        ])?;
        let sent_names = Self::changed_names(&self.ok("upload", out)?);
        wrote();
        // Objects that were there already must hold the same content.
        let differ = self.check(files)?;
        if !differ.is_empty() {
            return Err(Error::of(Area::Publish, format!(
                "{}: objects exist with other content; immutable objects are never overwritten:\n  {}",
                self.dest,
                differ.join("\n  ")
            )));
        }
        let bytes = files
            .iter()
            .filter(|u| sent_names.contains(&u.path))
            .map(|u| u.size)
            .sum();
        Ok(Sent {
            files: sent_names.len(),
            bytes,
            skipped: files.len() - sent_names.len(),
        })
    }

    fn check(&mut self, files: &[Upload]) -> Result<Vec<String>, Error> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let (local, remote): (Vec<&Upload>, Vec<&Upload>) =
            files.iter().partition(|u| !u.local.as_os_str().is_empty());
        let mut problems = Vec::new();
        if !local.is_empty() {
            let owned: Vec<Upload> = local.into_iter().cloned().collect();
            let (list, root) = self.list_file(&owned)?;
            let from = format!("--files-from={list}");
            let dest = format!("{}/", self.dest);
            // A dry run with checksums lists every file that is missing or differs.
            let out = self.run(&[
                "-rlt",
                "-n",
                "--checksum",
                "--out-format=%n",
                &from,
                &root,
                &dest,
            ])?;
            for n in Self::changed_names(&self.ok("verify", out)?) {
                problems.push(format!("{n}: missing or different"));
            }
        }
        // Without local copies (a rollback), sizes from a listing.
        for u in remote {
            let out = self.run(&["--list-only", &self.url(&u.path)])?;
            let text = String::from_utf8_lossy(&out.stdout);
            let size = text
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.replace(',', "").parse::<u64>().ok());
            if size != Some(u.size) {
                problems.push(format!("{}: missing or of another size", u.path));
            }
        }
        Ok(problems)
    }

    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let local = self.tmp.path().join("get");
        let _ = std::fs::remove_file(&local);
        // rsync skips (and so does not copy) a file larger than publish ever writes there.
        let max = format!("--max-size={}", super::MAX_GET);
        let out = self.run(&["-q", &max, &self.url(path), &local.to_string_lossy()])?;
        if Self::missing(&out) {
            return Ok(None);
        }
        self.ok(&format!("read {path}"), out)?;
        use crate::bounded_read::Refused;
        match crate::bounded_read::read(&local, super::MAX_GET) {
            Ok(bytes) => Ok(Some(bytes)),
            // Present (rsync did not say it was missing), and not copied: skipped for its size.
            Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(super::too_large(&self.describe(), path))
            }
            Err(Refused::TooLarge(_)) => Err(super::too_large(&self.describe(), path)),
            Err(Refused::Io(e)) => Err(Error::io(&local, e)),
            Err(Refused::NotRegular) => Err(Error::of(
                Area::Publish,
                format!("{}: {path} is not a regular file", self.describe()),
            )),
        }
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        let local = self.tmp.path().join("put");
        std::fs::write(&local, bytes).map_err(|e| Error::io(&local, e))?;
        let out = self.run(&[
            "-lt",
            "--mkpath",
            "--chmod=F644",
            &local.to_string_lossy(),
            &self.url(path),
        ])?;
        self.ok(&format!("write {path}"), out)?;
        wrote();
        Ok(())
    }

    fn swap_manifest(&mut self, bytes: &[u8], expected: Option<&[u8]>) -> Result<(), Error> {
        if self.get("manifest.json")?.as_deref() != expected {
            return Err(Error::of(Area::Publish, format!(
                "{}: manifest.json changed while publishing (another publish?); nothing was switched over it, run the publish again",
                self.dest
            )));
        }
        self.put("manifest.json", bytes)
    }

    fn list_dirs(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        self.list_kind(prefix, 'd')
    }

    fn list_files(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        self.list_kind(prefix, '-')
    }

    fn count(&mut self, prefix: &str) -> Result<usize, Error> {
        let out = self.run(&["-r", "--list-only", &self.url(prefix)])?;
        if Self::missing(&out) {
            return Ok(0);
        }
        Ok(self
            .ok(&format!("list {prefix}"), out)?
            .lines()
            .filter(|l| l.starts_with('-'))
            .count())
    }

    fn remove_dir(&mut self, prefix: &str) -> Result<usize, Error> {
        let n = self.count(prefix)?;
        let trimmed = prefix.trim_end_matches('/');
        let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        let empty = self.tmp.path().join("empty");
        std::fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
        let include = format!("--include=/{name}/***");
        let src = format!("{}/", empty.display());
        let dest = format!("{}/", self.url(parent).trim_end_matches('/'));
        let out = self.run(&["-r", "--delete", &include, "--exclude=*", &src, &dest])?;
        self.ok(&format!("delete {prefix}"), out)?;
        wrote();
        Ok(n)
    }

    fn remove(&mut self, path: &str) -> Result<(), Error> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let empty = self.tmp.path().join("empty");
        std::fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
        let include = format!("--include=/{name}");
        let src = format!("{}/", empty.display());
        let dest = format!("{}/", self.url(parent).trim_end_matches('/'));
        let out = self.run(&["-r", "--delete", &include, "--exclude=*", &src, &dest])?;
        self.ok(&format!("delete {path}"), out)?;
        wrote();
        Ok(())
    }
}

/// The name in a line of `rsync --list-only` (mode, size, date, time, name): all that follows
/// the fourth field, spaces included. A folder named `202611260001-3d26cc34ebae old` is not the
/// release `202611260001-3d26cc34ebae`.
fn listed_name(line: &str) -> Option<&str> {
    let mut rest = line;
    for _ in 0..4 {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace)?..];
    }
    let name = rest.trim_start();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_name_is_the_whole_rest_of_its_line() {
        assert_eq!(
            listed_name("drwxr-xr-x          4,096 2026/11/28 08:20:34 202611260001-3d26cc34ebae"),
            Some("202611260001-3d26cc34ebae")
        );
        assert_eq!(
            listed_name("drwxr-xr-x  4,096 2026/11/28 08:20:34 202611260001-3d26cc34ebae old"),
            Some("202611260001-3d26cc34ebae old")
        );
        assert_eq!(listed_name("drwxr-xr-x  4,096 2026/11/28 08:20:34"), None);
        assert_eq!(listed_name(""), None);
    }

    #[test]
    fn remote_or_local() {
        assert!(is_remote("host:/srv/www"));
        assert!(is_remote("user@host:www"));
        assert!(!is_remote("/srv/www"));
        assert!(!is_remote("./a:b"));
        assert!(!is_remote("public"));
    }
}
