//! The firmware stage: every firmware file of every set is hashed (SHA-256, streamed), checked
//! against its pin, and staged for the content-addressed store `firmware/<sha256>/<name>`.
//!
//! Each distinct content is stored once: files with the same content and the same name are one
//! file; the same content under another name is a hard link to it. Hashes of git blobs are kept in
//! `.git/provsite/firmware-sha256`, so an unchanged file is not hashed again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::error::{Area, Diagnostic, Error, IoContext, Result};
use crate::hashing;
use crate::inventory::{self, FirmwareFile, Site, SourceText};
use crate::source::{Snapshot, Source};

/// A stored firmware content and the names it is published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContent {
    pub size: u64,
    pub names: BTreeSet<String>,
}

/// What the firmware stage found: the store's entries, the small vendor files' bytes, and what must
/// still be copied into the store when the build commits.
#[derive(Debug, Default)]
pub struct FirmwareFiles {
    /// sha256 → content.
    pub store: BTreeMap<String, StoredContent>,
    /// Bytes of telcfg and common_base files, by repository path.
    pub small: HashMap<String, Vec<u8>>,
    /// Files staged under the staging folder, to move into the store: relative `sha/name`.
    pub staged: Vec<String>,
    /// Hashes learnt this run, to remember.
    cache: HashCache,
}

/// blob id → (sha256, size), kept in the repository's git folder.
#[derive(Debug, Default, Clone)]
pub struct HashCache {
    map: HashMap<Oid, (String, u64)>,
    path: Option<PathBuf>,
    dirty: bool,
}

impl HashCache {
    pub fn load(git_dir: &Path) -> HashCache {
        let path = git_dir.join("provsite").join("firmware-sha256");
        let mut map = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                let mut it = line.split(' ');
                if let (Some(o), Some(h), Some(s)) = (it.next(), it.next(), it.next()) {
                    if let (Ok(o), Ok(s)) = (Oid::from_str(o), s.parse()) {
                        if h.len() == 64 {
                            map.insert(o, (h.to_string(), s));
                        }
                    }
                }
            }
        }
        HashCache {
            map,
            path: Some(path),
            dirty: false,
        }
    }

    /// Saves the cache (best effort: a cache that cannot be written only costs time).
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        let mut lines: Vec<String> = self
            .map
            .iter()
            .map(|(o, (h, s))| format!("{o} {h} {s}\n"))
            .collect();
        lines.sort();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, lines.concat()).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

impl FirmwareFiles {
    pub fn save_cache(&self) {
        self.cache.save();
    }
}

/// Hashes and checks every firmware file of the inventory; stages new contents under
/// `staging/firmware/` unless `store_root` (the published store) already holds them.
pub fn prepare(
    source: &Source,
    snap: Snapshot,
    site: &Site,
    site_src: &SourceText,
    store_root: &Path,
    staging: Option<&Path>,
) -> Result<(FirmwareFiles, Vec<Diagnostic>)> {
    let mut out = FirmwareFiles {
        cache: HashCache::load(source.repo().path()),
        ..Default::default()
    };
    let mut diags = Vec::new();
    let srcs = [site_src];
    let mut seen: HashMap<String, (String, u64)> = HashMap::new();
    for set in site.firmware.values() {
        for (role, file) in set.files() {
            let small = role.is_settings();
            match check_file(
                source, snap, file, small, &mut out, &mut seen, store_root, staging,
            )? {
                Ok(()) => {}
                Err(d) => diags.push(inventory::diagnostic_at(&srcs, &(), &file.origin, d)),
            }
        }
    }
    Ok((out, diags))
}

#[allow(clippy::too_many_arguments)]
fn check_file(
    source: &Source,
    snap: Snapshot,
    file: &FirmwareFile,
    small: bool,
    out: &mut FirmwareFiles,
    seen: &mut HashMap<String, (String, u64)>,
    store_root: &Path,
    staging: Option<&Path>,
) -> Result<Result<(), Diagnostic>> {
    let Some((blob, _size)) = source.stat(snap, &file.repo_path)? else {
        let hint = match snap {
            Snapshot::Tree(_) => "add the file and commit it (git add), or fix the path: it is relative to the inventory folder",
            Snapshot::Worktree => "put the file there, or fix the path: it is relative to the inventory folder",
        };
        return Ok(Err(Diagnostic::error(
            "",
            format!("firmware file {} not found", file.repo_path),
        )
        .hint(hint)));
    };
    let (sha, size) = if let Some(hit) = seen.get(&file.repo_path) {
        hit.clone()
    } else if let Some(hit) = blob.and_then(|b| out.cache.map.get(&b)).filter(|_| !small) {
        hit.clone()
    } else {
        let mut bytes = Vec::new();
        let (sha, size) = source.with_reader(snap, &file.repo_path, blob, |r: &mut dyn Read| {
            let copy: Option<&mut dyn std::io::Write> = if small { Some(&mut bytes) } else { None };
            hashing::sha256_stream(r, copy).with_path(&file.repo_path)
        })?;
        if small {
            out.small.insert(file.repo_path.clone(), bytes);
        }
        if let Some(b) = blob {
            out.cache.map.insert(b, (sha.clone(), size));
            out.cache.dirty = true;
        }
        (sha, size)
    };
    seen.insert(file.repo_path.clone(), (sha.clone(), size));
    if sha != file.sha256 {
        return Ok(Err(Diagnostic::error(
            "",
            format!(
                "SHA-256 mismatch for {}: expected {}, actual {}",
                file.repo_path, file.sha256, sha
            ),
        )
        .hint(format!(
            "if this file is the right one, pin it: sha256: \"{sha}\"; else restore the file the pin was made for"
        ))));
    }
    if small && !out.small.contains_key(&file.repo_path) {
        let bytes = source.with_reader(snap, &file.repo_path, blob, |r: &mut dyn Read| {
            let mut b = Vec::new();
            r.read_to_end(&mut b).with_path(&file.repo_path)?;
            Ok(b)
        })?;
        out.small.insert(file.repo_path.clone(), bytes);
    }
    if small {
        return Ok(Ok(()));
    }
    let entry = out
        .store
        .entry(sha.clone())
        .or_insert_with(|| StoredContent {
            size,
            names: BTreeSet::new(),
        });
    let is_new_name = entry.names.insert(file.name.clone());
    if let (Some(staging), true) = (staging, is_new_name) {
        let rel = format!("{sha}/{}", file.name);
        if !store_root.join(&rel).is_file() {
            stage(source, snap, file, blob, &sha, staging, &out.staged)?;
            out.staged.push(rel);
        }
    }
    Ok(Ok(()))
}

/// Copies a firmware file into `staging/<sha>/<name>`, hashing again while copying so what is
/// stored is exactly what was checked; another name of a content already staged is a hard link.
fn stage(
    source: &Source,
    snap: Snapshot,
    file: &FirmwareFile,
    blob: Option<Oid>,
    sha: &str,
    staging: &Path,
    staged: &[String],
) -> Result<()> {
    let dir = staging.join(sha);
    std::fs::create_dir_all(&dir).with_path(&dir)?;
    let target = dir.join(&file.name);
    if let Some(other) = staged.iter().find(|s| s.starts_with(&format!("{sha}/"))) {
        let from = staging.join(other);
        return std::fs::hard_link(&from, &target).with_path(&target);
    }
    let mut f = std::fs::File::create(&target).with_path(&target)?;
    let (copied, _) = source.with_reader(snap, &file.repo_path, blob, |r: &mut dyn Read| {
        hashing::sha256_stream(r, Some(&mut f)).with_path(&target)
    })?;
    if copied != sha {
        return Err(Error::of(
            Area::Source,
            format!(
                "{} changed while it was copied (SHA-256 {copied}, expected {sha})",
                file.repo_path
            ),
        ));
    }
    f.sync_all().with_path(&target)?;
    Ok(())
}

/// Moves staged contents into the store. A content already stored under another name gets the new
/// name as a hard link, so one content is one file on disk.
pub fn commit_staged(
    staging: &Path,
    store_root: &Path,
    staged: &[String],
    mtime: std::time::SystemTime,
) -> Result<usize> {
    let mut moved = 0;
    for rel in staged {
        let from = staging.join(rel);
        if let Ok(f) = std::fs::File::options().write(true).open(&from) {
            f.set_modified(mtime).with_path(&from)?;
        }
        let to = store_root.join(rel);
        if to.is_file() {
            continue;
        }
        let dir = to.parent().expect("sha/name has a parent");
        let existing = std::fs::read_dir(dir).ok().and_then(|mut it| {
            it.find_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
        });
        std::fs::create_dir_all(dir).with_path(dir)?;
        match existing {
            Some(first) => std::fs::hard_link(&first, &to).with_path(&to)?,
            None => std::fs::rename(&from, &to).with_path(&to)?,
        }
        moved += 1;
    }
    Ok(moved)
}
