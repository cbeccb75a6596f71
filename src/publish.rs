//! `provsite publish`: copies a built release to where the phones fetch it, so that they never see
//! a half-published site.
//!
//! Order, on every backend: the firmware store and the release folder first (immutable objects,
//! written create-only; objects already there with the same SHA-256 are skipped, different ones
//! are an error), then a verification that everything the new entry points name is present with the
//! right size and hash, then the entry points, and `manifest.json` last (with a compare-and-swap
//! where the backend has one). Pruning comes after the switch. A publish killed at any point leaves
//! the previous release live and complete; the next publish finishes the job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Area, Error};
use crate::hashing::sha256_hex;
use crate::manifest::Manifest;
use crate::release;

mod folder;
mod rsync;
mod s3;

/// The state file at the destination: when each release stopped being live (for the grace
/// period). Dot-named, so the web server configurations never serve it.
pub const STATE: &str = ".provsite/state.json";

/// The default safety cap: pruning that would delete more objects stops unless `--force`.
pub const DELETE_CAP: usize = 20_000;

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub out: PathBuf,
    pub to: String,
    pub keep: usize,
    pub grace: Duration,
    pub dry_run: bool,
    pub rollback: Option<String>,
    pub force: bool,
    /// The most objects one prune deletes without `force`.
    pub max_deletes: usize,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
}

/// One object to upload: its path at the destination (= in the local web root) and its digest.
#[derive(Debug, Clone)]
pub struct Upload {
    pub path: String,
    pub local: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sent {
    pub files: usize,
    pub bytes: u64,
    pub skipped: usize,
}

/// A destination. Paths are relative to its root, `/`-separated.
pub trait Store {
    fn describe(&self) -> String;
    /// Creates each object that is missing (create-only); skips those present with the same
    /// content; fails on one present with other content.
    fn upload_new(&mut self, files: &[Upload]) -> Result<Sent, Error>;
    /// The objects that are missing or differ (size or SHA-256) from what is expected.
    fn check(&mut self, files: &[Upload]) -> Result<Vec<String>, Error>;
    /// An object's bytes (a manifest, an entry point, the publish state); one larger than
    /// [`MAX_GET`] is an error, never read whole.
    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Replaces an object whole (entry points).
    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error>;
    /// Replaces manifest.json if it still holds `expected` (None: if there is none).
    fn swap_manifest(&mut self, bytes: &[u8], expected: Option<&[u8]>) -> Result<(), Error>;
    /// The names of the folders directly under `prefix` (e.g. `releases/`).
    fn list_dirs(&mut self, prefix: &str) -> Result<Vec<String>, Error>;
    /// The names of the files directly under `prefix` (e.g. `common/`).
    fn list_files(&mut self, prefix: &str) -> Result<Vec<String>, Error>;
    /// How many objects are under a folder.
    fn count(&mut self, prefix: &str) -> Result<usize, Error>;
    fn remove_dir(&mut self, prefix: &str) -> Result<usize, Error>;
    fn remove(&mut self, path: &str) -> Result<(), Error>;
}

/// The largest object publish reads back from a destination: a manifest takes about 47 MiB at
/// 100,000 phones. The same bound as `--previous` and `provsite probe` take.
pub const MAX_GET: u64 = crate::manifest::MAX_BYTES;

/// The error for an object beyond [`MAX_GET`] at a destination.
fn too_large(dest: &str, path: &str) -> Error {
    Error::of(
        Area::Publish,
        format!(
            "{dest}: {path} is larger than {} MiB, more than provsite writes there",
            MAX_GET >> 20
        ),
    )
    .hint("check that --to names provsite's destination; remove the object if it is debris")
}

/// Counts writes, and aborts the process after the k-th when `PROVSITE_PUBLISH_ABORT_AFTER=k`
/// is set: how the crash-safety test interrupts a publish at every point.
pub fn wrote() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(k) = std::env::var("PROVSITE_PUBLISH_ABORT_AFTER")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        if n >= k {
            eprintln!("provsite publish: aborting after write {n} (PROVSITE_PUBLISH_ABORT_AFTER)");
            std::process::abort();
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Release → when it stopped being live (seconds since the epoch).
    retired: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub destination: String,
    pub release: String,
    pub previous: Option<String>,
    pub dry_run: bool,
    pub sent: Sent,
    /// Entry points and manifest written (0 when the release was already live).
    pub switched: bool,
    pub pruned_releases: Vec<String>,
    pub pruned_firmware: Vec<String>,
    /// Files of `common/` pruned.
    pub pruned_common: Vec<String>,
    pub warnings: Vec<String>,
}

/// Opens the destination named by `--to`.
pub fn open(opts: &PublishOptions) -> Result<Box<dyn Store>, Error> {
    let to = opts.to.as_str();
    if let Some(rest) = to.strip_prefix("s3://") {
        return Ok(Box::new(s3::S3::open(rest, opts)?));
    }
    if to.starts_with("rsync://") || rsync::is_remote(to) {
        return Ok(Box::new(rsync::Rsync::open(to)?));
    }
    Ok(Box::new(folder::Folder::open(Path::new(to))?))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A release name as provsite writes them (see [`release::is_name`]).
fn check_release_name(name: &str) -> Result<(), Error> {
    if release::is_name(name) {
        Ok(())
    } else {
        Err(Error::of(Area::Publish, format!(
            "`{}` is not a release name (such as 202611260022-3d26cc34ebae); see releases/ at the destination",
            crate::text_rules::shown(name)
        )))
    }
}

/// Parses a manifest that came from the destination or the local web root, checking every path
/// it names (see [`Manifest::from_untrusted`]).
fn untrusted_manifest(bytes: &[u8], origin: &str) -> Result<Manifest, Error> {
    Manifest::from_untrusted(bytes).map_err(|e| Error::of(Area::Publish, format!("{origin}: {e}")))
}

/// The invariant phones rely on: a config_sn they may have applied always means the same bytes. A
/// phone whose file differs from the live one under the same number would ignore its new file (a
/// rotated password would stop it registering): such a release was built without the live
/// manifest, and is refused.
fn check_numbers_keep_their_bytes(
    target: &Manifest,
    live: &Manifest,
    dest: &str,
) -> Result<(), Error> {
    let clashes: Vec<&String> = target
        .phones
        .iter()
        .filter(|(mac, p)| {
            live.phones
                .get(*mac)
                .is_some_and(|l| l.config_sn == p.config_sn && l.digest != p.digest)
        })
        .map(|(mac, _)| mac)
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = clashes.iter().take(10).map(|m| m.as_str()).collect();
    Err(Error::of(Area::Publish, format!(
        "release {} gives {} phone(s) ({}{}) the config_sn they have at {dest} with different bytes: they would ignore their new files (a rotated secret or an amended commit?); nothing was published.",
        target.release,
        clashes.len(),
        shown.join(", "),
        if clashes.len() > 10 { ", ..." } else { "" }
    )).hint(format!("build against the live site: `provsite build --previous {dest}` (or its URL), then publish again")))
}

/// Every object of a release as it lies in the local web root, with its digest, and the firmware
/// it names.
fn release_uploads(root: &Path, manifest: &Manifest) -> Result<(Vec<Upload>, Vec<Upload>), Error> {
    let release = &manifest.release;
    let dir = root.join("releases").join(release);
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let e = e.map_err(|e| Error::io(&d, e))?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(root).expect("under the root");
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            files.push(Upload {
                path: rel.to_string_lossy().replace('\\', "/"),
                local: p.clone(),
                sha256: sha256_hex(&bytes),
                size: bytes.len() as u64,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    // The shared files of `common/` go with the firmware: immutable, named by content.
    let mut firmware = Vec::new();
    for name in manifest.common_files() {
        let path = format!("{}/{name}", crate::render::COMMON_DIR);
        let local = root.join(&path);
        let bytes = std::fs::read(&local).map_err(|e| Error::io(&local, e))?;
        firmware.push(Upload {
            path,
            local,
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        });
    }
    for (sha, fw) in &manifest.firmware {
        for name in &fw.names {
            let path = format!("firmware/{sha}/{name}");
            firmware.push(Upload {
                local: root.join(&path),
                path,
                sha256: sha.clone(),
                size: fw.size,
            });
        }
    }
    // The manifest's own digests must match what is on the local disk: a tampered or half-copied
    // web root is not published.
    let by_path: BTreeMap<&str, &Upload> = files.iter().map(|u| (u.path.as_str(), u)).collect();
    let shared: BTreeMap<&str, &Upload> = firmware.iter().map(|u| (u.path.as_str(), u)).collect();
    for f in manifest
        .models
        .values()
        .flat_map(|m| m.files.iter())
        .chain(manifest.phones.values().map(|p| &p.file))
    {
        if f.path.starts_with("firmware/") {
            continue;
        }
        if let Some(u) = shared.get(f.path.as_str()) {
            if u.sha256 != f.sha256 {
                return Err(Error::of(
                    Area::Publish,
                    format!(
                        "{}: its SHA-256 differs from the manifest's; rebuild the web root",
                        u.local.display()
                    ),
                ));
            }
            continue;
        }
        // The manifest lists the entry points where they go live; the release holds a copy.
        let path = if f.role == "entry_point" {
            format!("releases/{release}/{}", f.path)
        } else {
            f.path.clone()
        };
        match by_path.get(path.as_str()) {
            Some(u) if u.sha256 == f.sha256 => {}
            Some(_) => {
                return Err(Error::of(
                    Area::Publish,
                    format!(
                        "{}: its SHA-256 differs from the manifest's; rebuild the web root",
                        root.join(&path).display()
                    ),
                ))
            }
            None => {
                return Err(Error::of(
                    Area::Publish,
                    format!(
                        "{} is missing from the local web root; rebuild it",
                        root.join(&path).display()
                    ),
                ))
            }
        }
    }
    for f in firmware.iter().filter(|f| f.path.starts_with("firmware/")) {
        let bytes = std::fs::read(&f.local).map_err(|e| Error::io(&f.local, e))?;
        if sha256_hex(&bytes) != f.sha256 {
            return Err(Error::of(
                Area::Publish,
                format!(
                    "{}: its SHA-256 differs from its name; rebuild the web root",
                    f.local.display()
                ),
            ));
        }
    }
    Ok((files, firmware))
}

/// Publishes the local web root's release (or, with `rollback`, points back at a kept one).
pub fn publish(opts: &PublishOptions) -> Result<Report, Error> {
    if let Some(r) = &opts.rollback {
        check_release_name(r)?;
    }
    let mut store = open(opts)?;
    let dest = store.describe();
    let live_bytes = store.get("manifest.json")?;
    let live: Option<Manifest> = match &live_bytes {
        Some(b) => Some(
            untrusted_manifest(
                b,
                &format!("{dest}: manifest.json is not a provsite manifest"),
            )
            .map_err(|e| {
                e.hint("copy the live release's own copy over it (releases/<release>/manifest.json at the destination), or remove it: publish then takes the destination for a new one")
            })?,
        ),
        None => None,
    };
    let mut warnings = Vec::new();

    // Which release, and from where.
    let local_manifest = |name: Option<&str>| -> Result<Option<Manifest>, Error> {
        let path = match name {
            Some(r) => opts.out.join("releases").join(r).join("manifest.json"),
            None => opts.out.join("manifest.json"),
        };
        match std::fs::read(&path) {
            Ok(b) => untrusted_manifest(&b, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    };
    let (target, local_copy): (Manifest, bool) = match &opts.rollback {
        None => {
            let m = local_manifest(None)?.ok_or_else(|| {
                Error::of(Area::Publish, format!(
                    "{} holds no built web root (no manifest.json); run `provsite build --out {}` first",
                    opts.out.display(),
                    opts.out.display()
                ))
            })?;
            (m, true)
        }
        Some(r) => {
            let at_dest = store.get(&format!("releases/{r}/manifest.json"))?;
            match at_dest {
                Some(b) => (
                    untrusted_manifest(&b, &format!("{dest}: releases/{r}/manifest.json"))?,
                    false,
                ),
                None => match local_manifest(Some(r))? {
                    Some(m) => (m, true),
                    None => {
                        return Err(Error::of(Area::Publish, format!(
                            "release {r} is neither at {dest} nor in {}; `provsite publish --rollback` names a kept release",
                            opts.out.display()
                        )))
                    }
                },
            }
        }
    };
    let release = target.release.clone();
    if let Some(l) = &live {
        check_numbers_keep_their_bytes(&target, l, &dest)?;
    }
    if let Some(l) = &live {
        if opts.rollback.is_none() && release::sn_of(&release) < release::sn_of(&l.release) {
            return Err(Error::of(Area::Publish, format!(
                "release {release} is older than the live {}; to go back to it on purpose, `provsite publish --rollback {release}`",
                l.release
            )));
        }
    }

    // 1. Immutable objects: firmware, then the release folder.
    let (files, firmware) = if local_copy {
        release_uploads(&opts.out, &target)?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut sent = Sent::default();
    if opts.dry_run {
        let missing = store.check(&firmware)?.len() + store.check(&files)?.len();
        sent.files = missing;
    } else if local_copy {
        let a = store.upload_new(&firmware)?;
        let b = store.upload_new(&files)?;
        sent = Sent {
            files: a.files + b.files,
            bytes: a.bytes + b.bytes,
            skipped: a.skipped + b.skipped,
        };
    }

    // 2. Verify what the entry points will name: firmware, telcfg, common file, every phone's
    // file, the release's entry points and manifest.
    let expected = expected_objects(&target, &files, &firmware, store.as_mut())?;
    if !opts.dry_run {
        let problems = store.check(&expected)?;
        if !problems.is_empty() {
            return Err(Error::of(
                Area::Publish,
                format!(
                    "{dest}: the release {release} is incomplete, nothing was switched:\n  {}",
                    problems.join("\n  ")
                ),
            ));
        }
    }

    // 3. Entry points, then the manifest.
    let entry_points: Vec<(String, Vec<u8>)> = target
        .models
        .values()
        .map(|m| {
            let path = format!("releases/{release}/{}", m.entry_point);
            let bytes = if local_copy {
                std::fs::read(opts.out.join(&path)).map_err(|e| Error::io(opts.out.join(&path), e))
            } else {
                store
                    .get(&path)?
                    .ok_or_else(|| Error::of(Area::Publish, format!("{dest}: {path} is missing")))
            };
            bytes.map(|b| (m.entry_point.clone(), b))
        })
        .collect::<Result<_, _>>()?;
    let manifest_bytes = target.to_bytes();
    let already_live = live_bytes.as_deref() == Some(manifest_bytes.as_slice());
    let mut switched = false;
    if !opts.dry_run {
        let mut changed = !already_live;
        for (name, bytes) in &entry_points {
            if store.get(name)?.as_deref() != Some(bytes.as_slice()) {
                store.put(name, bytes)?;
                changed = true;
            }
        }
        if !already_live {
            store.swap_manifest(&manifest_bytes, live_bytes.as_deref())?;
        }
        switched = changed;
        // Entry points of models the new release no longer has.
        if let Some(l) = &live {
            for m in l.models.values() {
                if !target
                    .models
                    .values()
                    .any(|n| n.entry_point == m.entry_point)
                {
                    store.remove(&m.entry_point)?;
                }
            }
        }
    }

    // 4. Prune.
    let mut pruned_releases = Vec::new();
    let mut pruned_firmware = Vec::new();
    let mut pruned_common = Vec::new();
    if !opts.dry_run {
        prune(
            store.as_mut(),
            opts,
            &release,
            live.as_ref()
                .map(|l| l.release.as_str())
                .filter(|l| *l != release),
            &mut pruned_releases,
            &mut pruned_firmware,
            &mut pruned_common,
            &mut warnings,
        )?;
    }
    Ok(Report {
        destination: dest,
        release,
        previous: live.map(|l| l.release),
        dry_run: opts.dry_run,
        sent,
        switched,
        pruned_releases,
        pruned_firmware,
        pruned_common,
        warnings,
    })
}

/// The objects a release needs at the destination, with their digests.
fn expected_objects(
    target: &Manifest,
    files: &[Upload],
    firmware: &[Upload],
    store: &mut dyn Store,
) -> Result<Vec<Upload>, Error> {
    if !files.is_empty() {
        let mut all = firmware.to_vec();
        all.extend(files.iter().cloned());
        return Ok(all);
    }
    // A rollback: the digests come from the release's manifest at the destination.
    let mut all = Vec::new();
    for f in target
        .models
        .values()
        .flat_map(|m| m.files.iter())
        .chain(target.phones.values().map(|p| &p.file))
    {
        if f.role == "entry_point" {
            continue;
        }
        all.push(Upload {
            path: f.path.clone(),
            local: PathBuf::new(),
            sha256: f.sha256.clone(),
            size: f.size,
        });
    }
    for m in target.models.values() {
        let path = format!("releases/{}/{}", target.release, m.entry_point);
        if store.get(&path)?.is_none() {
            return Err(Error::of(
                Area::Publish,
                format!("{}: {path} is missing", store.describe()),
            ));
        }
    }
    all.sort_by(|a, b| a.path.cmp(&b.path));
    all.dedup_by(|a, b| a.path == b.path);
    Ok(all)
}

#[allow(clippy::too_many_arguments)]
fn prune(
    store: &mut dyn Store,
    opts: &PublishOptions,
    live: &str,
    retiring: Option<&str>,
    pruned_releases: &mut Vec<String>,
    pruned_firmware: &mut Vec<String>,
    pruned_common: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let state_before = store.get(STATE)?;
    let mut state: State = state_before
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let t = now();
    state.retired.remove(live);
    if let Some(r) = retiring {
        state.retired.insert(r.to_string(), t);
    }
    // Only names of provsite's shape: a folder someone else keeps there is not ours to prune.
    let mut releases: Vec<String> = store
        .list_dirs("releases/")?
        .into_iter()
        .filter(|r| release::is_name(r))
        .collect();
    release::sort_newest_first(&mut releases);
    // A release found without a retirement time (published by hand, or before this state file
    // existed) starts its grace period now.
    for r in &releases {
        if r != live {
            state.retired.entry(r.clone()).or_insert(t);
        }
    }
    state.retired.retain(|r, _| releases.contains(r));
    let (kept, doomed) = release::prune_plan(&releases, live, opts.keep, |r| {
        let retired_at = state.retired.get(r).copied().unwrap_or(t);
        t - retired_at >= opts.grace.as_secs() as i64
    });
    // Firmware and shared files no kept release names.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut wanted_common: BTreeSet<String> = BTreeSet::new();
    for r in &kept {
        match store.get(&format!("releases/{r}/manifest.json"))? {
            Some(b) => match Manifest::from_untrusted(&b) {
                Ok(m) => {
                    wanted.extend(m.firmware.keys().cloned());
                    wanted_common.extend(m.common_files());
                }
                Err(_) => {
                    warnings.push(format!(
                        "releases/{r}/manifest.json is unreadable: no firmware pruned"
                    ));
                    return Ok(());
                }
            },
            // A release folder without its manifest is a publish that was interrupted: its
            // firmware may be in use by the next attempt.
            None => {
                warnings.push(format!(
                    "releases/{r} has no manifest.json (an interrupted publish?): no firmware pruned"
                ));
                return Ok(());
            }
        }
    }
    // The store's own folders only: `firmware/` may be shared with other phones' files.
    let firmware_dirs = store.list_dirs("firmware/")?;
    let doomed_fw: Vec<String> = firmware_dirs
        .into_iter()
        .filter(|sha| release::is_firmware_dir(sha) && !wanted.contains(sha))
        .collect();
    let common_prefix = format!("{}/", crate::render::COMMON_DIR);
    let doomed_common: Vec<String> = store
        .list_files(&common_prefix)?
        .into_iter()
        .filter(|n| release::is_common_name(n) && !wanted_common.contains(n))
        .collect();
    let mut total = doomed_common.len();
    for r in &doomed {
        total += store.count(&format!("releases/{r}/"))?;
    }
    for f in &doomed_fw {
        total += store.count(&format!("firmware/{f}/"))?;
    }
    if total > opts.max_deletes && !opts.force {
        warnings.push(format!(
            "pruning would delete {total} objects, more than the safety cap of {}: nothing pruned; run again with --force to prune (or raise --max-deletes)",
            opts.max_deletes
        ));
    } else {
        for r in &doomed {
            store.remove_dir(&format!("releases/{r}/"))?;
            state.retired.remove(r);
            pruned_releases.push(r.clone());
        }
        for f in &doomed_fw {
            store.remove_dir(&format!("firmware/{f}/"))?;
            pruned_firmware.push(f.clone());
        }
        for n in &doomed_common {
            store.remove(&format!("{common_prefix}{n}"))?;
            pruned_common.push(n.clone());
        }
    }
    let bytes = serde_json::to_vec_pretty(&state).expect("state serialises");
    // Written only when it changes: publishing the same release again writes nothing.
    if state_before.as_deref() != Some(bytes.as_slice()) {
        store.put(STATE, &bytes)?;
    }
    Ok(())
}

/// Parses `1d`, `12h`, `30m`, `90s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 1d, 12h, 30m or 0"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: the unit is s, m, h or d")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("999999999999999999d").is_err());
    }
}
