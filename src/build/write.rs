//! The write stage: the entry points and shared files, and each phone's file given its number
//! (or linked from the live release when it is the same file).

#[allow(unused_imports)]
use super::*;

/// Entry points by file name, with their bytes.
pub(super) type EntryPoints = Vec<(String, Vec<u8>)>;

/// Writes each model's entry point into the staged release and its shared files (common file,
/// telcfg) into the staged `common/`, and lists them and the firmware in the manifest. Returns
/// the entry points (to switch last) and how many files were written.
pub(super) fn write_model_files(
    staging: &Staging,
    loaded: &Loaded,
    rendered: &Rendered,
    release: &str,
    mtime: std::time::SystemTime,
    manifest: &mut Manifest,
) -> Result<(EntryPoints, usize)> {
    let rel_dir = staging.release_dir();
    let base = &loaded.inv.site.base_url;
    let mut files_written = 0;
    let mut entry_points = Vec::new();
    for files in rendered.models.values() {
        let entry = files
            .entry_point_bytes(&loaded.templates, base, release)
            .map_err(|e| Error::of(Area::Render, e))?;
        output::write_file(&rel_dir.join(&files.entry_point), &entry, mtime)?;
        files_written += 1;
        // Shared files go to `common/`, named by content and kept across releases.
        let shared = |name: &str| format!("{}/{name}", crate::render::COMMON_DIR);
        let common_dir = staging.common_dir();
        let mut list = vec![file_entry("entry_point", files.entry_point.clone(), &entry)];
        for f in &files.shared {
            output::write_file(&common_dir.join(&f.name), &f.bytes, mtime)?;
            files_written += 1;
            list.push(file_entry(f.role, shared(&f.name), &f.bytes));
        }
        for f in &files.firmware {
            list.push(FileEntry {
                role: f.role.to_string(),
                path: f.store_path(),
                sha256: f.sha256.clone(),
                size: f.size,
            });
            let e = manifest
                .firmware
                .entry(f.sha256.clone())
                .or_insert(FirmwareEntry {
                    size: f.size,
                    names: Vec::new(),
                });
            if !e.names.contains(&f.name) {
                e.names.push(f.name.clone());
                e.names.sort();
            }
        }
        list.sort();
        manifest.models.insert(
            render::manifest_key(files),
            ModelEntry {
                entry_point: files.entry_point.clone(),
                files: list,
            },
        );
        entry_points.push((files.entry_point.clone(), entry));
    }
    Ok((entry_points, files_written))
}

/// The phones' manifest entries, how many files were linked, how many rendered late, how many of
/// the names linked ahead the phones claimed, and which of the stale names left ahead (see
/// `output::Made`) they claimed.
pub(super) type Written = (Vec<(String, PhoneEntry)>, usize, usize, usize, Vec<String>);

/// Puts each phone's config_sn into its file, staged in `config_dir` by the render, from several
/// threads: creating files is
/// latency-bound, so a few writers keep the disk busy. A file identical to the live release's
/// (same bytes, same mtime) becomes a hard link to it, which costs a fraction of a write.
/// Returns the manifest's phone entries, how many were linked, and how many were rendered here
/// (spared by the render cache, but with no live file to link).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_phone_files(
    inv: &Inventory,
    files: &[PhoneFile],
    cached: &[bool],
    guessed: &Guessed,
    render_late: &(dyn Fn(&inventory::Phone) -> Result<Vec<u8>> + Sync),
    numbering: &Numbering,
    config_dir: &Path,
    release: &str,
    previous: Option<(&Manifest, &Path)>,
    ahead: &std::collections::HashSet<String>,
    stale: &std::collections::HashSet<String>,
    progress: &dyn Progress,
) -> Result<Written> {
    let writers: usize = std::env::var("PROVSITE_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let previous_dir =
        previous.map(|(m, out)| out.join("releases").join(&m.release).join("config"));
    let previous_dir = previous_dir.as_deref();
    let results = parallel::in_chunks(files, writers, |offset, files| -> Result<Written> {
        let linker = previous_dir.and_then(|d| output::DirLinker::open(d, config_dir));
        // Files written here replace any name already there (a link made ahead: `ahead`).
        let writer = output::DirWriter::open(config_dir)?;
        let phones = &inv.phones[offset..offset + files.len()];
        let mut out = Vec::with_capacity(phones.len());
        let (mut linked, mut late, mut claimed) = (0, 0, 0);
        let mut claimed_stale = Vec::new();
        // The live record's entries, walked beside the phones: both are in MAC order.
        let mut live = previous.zip(phones.first()).map(|((m, _), first)| {
            m.phones
                .range::<str, _>((
                    std::ops::Bound::Included(first.mac.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .peekable()
        });
        for (i, (p, f)) in phones.iter().zip(files).enumerate() {
            // The numbering lists the phones in their order: this one is at its own place.
            let Some(&Stamp { sn, time }) = numbering.phones.get_near(offset + i, &p.mac) else {
                return Err(Error::of(
                    Area::Output,
                    format!("phone {} was not numbered", p.mac),
                ));
            };
            let sn = config_sn::format(sn);
            let name = render::phone_file_name(p);
            // Linked ahead: the live file is already there under the name (made as `link_live`
            // would make it, see `output::Ahead`); any other file for this phone replaces it.
            let is_ahead = !ahead.is_empty() && ahead.contains(&name);
            claimed += usize::from(is_ahead);
            if !stale.is_empty() && stale.contains(&name) {
                claimed_stale.push(name.clone());
            }
            // Made when a file is written here, not for each of the files linked.
            let target = || config_dir.join(&name);
            let mut path = String::with_capacity(17 + release.len() + name.len());
            for part in ["releases/", release, "/config/", &name] {
                path.push_str(part);
            }
            let mtime = output::release_mtime(time);
            let live_entry = live.as_mut().and_then(|l| {
                while l
                    .next_if(|(mac, _)| mac.as_str() < p.mac.as_str())
                    .is_some()
                {}
                l.next_if(|(mac, _)| mac.as_str() == p.mac.as_str())
                    .map(|(_, e)| e)
            });
            // The live file, when it has this phone's bytes under this number and time.
            // `staged`: a staged file is there and gives way to the link.
            let link_live = |staged: bool| {
                linker
                    .as_ref()
                    .is_some_and(|l| l.link_if_mtime(&name, mtime, staged))
            };
            let file = if cached.get(offset + i).copied().unwrap_or(false) {
                // Not rendered: its digest came from the cache. The live file serves when the
                // live manifest records the same digest under the same number and time (the
                // same bytes); otherwise it is rendered now.
                let live_same = live_entry.filter(|old| {
                    old.digest == f.digest && old.config_sn == sn && old.changed_at == time
                });
                match live_same {
                    Some(old) if is_ahead || link_live(false) => {
                        linked += 1;
                        FileEntry {
                            role: "phone".into(),
                            path,
                            sha256: old.file.sha256.clone(),
                            size: old.file.size,
                        }
                    }
                    _ => {
                        late += 1;
                        let body = render::fill_config_sn(render_late(p)?, &sn);
                        writer.write_new(&name, &body, mtime)?;
                        file_entry("phone", path, &body)
                    }
                }
            } else {
                // Written by the render with the release's number and time: right for every
                // phone that changed in the commit built; the others' number goes in place.
                let staged = f.staged.as_ref().ok_or_else(|| {
                    Error::of(Area::Output, format!("phone {} was not staged", p.mac))
                })?;
                let guessed_right = (sn.as_str(), time) == guessed.of(p);
                let rewrite = if guessed_right {
                    None
                } else {
                    let target = target();
                    let written = std::fs::read(&target).map_err(|e| Error::io(&target, e))?;
                    let mut body = written.clone();
                    for &at in &staged.sn_at {
                        let at = at as usize;
                        body.get_mut(at..at + sn.len())
                            .ok_or_else(|| {
                                Error::of(
                                    Area::Output,
                                    format!("{}: shorter than rendered", target.display()),
                                )
                            })?
                            .copy_from_slice(sn.as_bytes());
                    }
                    Some((written, body))
                };
                let file = match &rewrite {
                    None => FileEntry {
                        role: "phone".into(),
                        path,
                        sha256: staged.sha256.clone(),
                        size: staged.size,
                    },
                    Some((_, body)) => file_entry("phone", path, body),
                };
                let same_as_live = live_entry
                    .is_some_and(|old| old.file.sha256 == file.sha256 && old.changed_at == time);
                // The staged file gives way to a link to the live one (same bytes, same time).
                if same_as_live && link_live(true) {
                    linked += 1;
                } else if let Some((written, body)) = &rewrite {
                    output::fill_in_place(&target(), written, body, mtime)?;
                }
                file
            };
            let rollout = inv
                .site
                .models
                .get(&p.model)
                .filter(|cfg| cfg.firmware != p.firmware)
                .map(|_| format!("{}@{}", p.model.name(), p.firmware));
            let entry = PhoneEntry {
                model: p.model.name().to_string(),
                variant: rollout,
                name: p.name.clone(),
                config_sn: sn,
                changed_at: time,
                digest: f.digest.clone(),
                file,
            };
            out.push((p.mac.to_string(), entry));
            if i % 256 == 255 {
                progress.advance(256);
            }
        }
        progress.advance((phones.len() % 256) as u64);
        Ok((out, linked, late, claimed, claimed_stale))
    });
    let mut all = Vec::with_capacity(inv.phones.len());
    let (mut linked, mut late, mut claimed) = (0, 0, 0);
    let mut claimed_stale = Vec::new();
    for r in results {
        let (entries, n, l, c, cs) = r?;
        all.extend(entries);
        linked += n;
        late += l;
        claimed += c;
        claimed_stale.extend(cs);
    }
    Ok((all, linked, late, claimed, claimed_stale))
}

pub(super) fn file_entry(role: &str, path: String, bytes: &[u8]) -> FileEntry {
    FileEntry {
        role: role.to_string(),
        path,
        sha256: crate::hashing::sha256_hex(bytes),
        size: bytes.len() as u64,
    }
}
