//! What a build knows of the live release before it renders: its manifest (from the output
//! folder, `--previous`, or the live site's URL), which site secret the last build used, whether
//! linking the live phone files ahead is worth it, and which files those are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Options;
use crate::error::{Area, Error, Result};
use crate::manifest::Manifest;
use crate::output;
use crate::secrets::SiteSecret;
use crate::source::Source;

/// The file in the work folder that tells which site secret the last build used (a label
/// derived from it, as a password is: never the secret).
pub(super) const SECRET_ID: &str = "secret-id";

pub(super) fn secret_id(secret: &SiteSecret) -> String {
    secret
        .derive("provsite: the site secret of the last build")
        .unwrap_or_else(|| "none".to_string())
}

/// Whether linking the live release's phone files into the staged release ahead (see
/// [`output::Ahead`]) is worth it: most phones will likely keep theirs in a commit build with the
/// last build's site secret whose inventory, against the live release's commit, changed no
/// site.yaml, group file or template and at most half of its phones files. Otherwise (and for a
/// working-tree build) the write stage makes the links, as ever, for the phones that keep their
/// file: linking a whole fleet ahead only to write over it would cost a large change more (a
/// quarter more time at 100,000 phones when the secret changed).
pub(super) fn links_ahead_worth(opts: &Options, live: &Manifest) -> bool {
    let worth = || -> Option<bool> {
        if opts.worktree {
            return Some(false);
        }
        // Another site secret than the last build's changes every derived password, and so
        // nearly every phone's file.
        let secret = SiteSecret::load(opts.secret_file.as_deref()).ok()?;
        let work = output::work_dir(&opts.out).ok()?;
        if let Ok(was) = std::fs::read_to_string(work.join(SECRET_ID)) {
            if was != secret_id(&secret) {
                return Some(false);
            }
        }
        let source = Source::open(&opts.inventory).ok()?;
        let head = source.resolve(&opts.rev).ok()?.id;
        let was = git2::Oid::from_str(&live.commit).ok()?;
        let (before, now) = (
            source.list_inventory(was).ok()??,
            source.list_inventory(head).ok()??,
        );
        if before.site != now.site
            || before.templates != now.templates
            || before.groups != now.groups
        {
            return Some(false);
        }
        let kept: HashMap<&str, git2::Oid> = before
            .phones
            .iter()
            .map(|(path, id)| (path.as_str(), *id))
            .collect();
        let changed = now
            .phones
            .iter()
            .filter(|(path, id)| kept.get(path.as_str()) != Some(id))
            .count();
        Some(changed * 2 <= now.phones.len())
    };
    worth().unwrap_or(false)
}

/// The live release's phone files: the names the live phones' files have, from the manifest's
/// (untrusted) MACs and models (only a well-formed MAC of a known model names a file), with the
/// mtime the manifest gives each.
pub(super) fn live_files(live: &Manifest) -> Vec<(String, std::time::SystemTime)> {
    live.phones
        .iter()
        .filter_map(|(mac, p)| {
            let model = crate::family::ModelId::parse(&p.model)?;
            let canonical = crate::mac::Mac::parse(mac).is_some_and(|m| m.as_str() == mac);
            canonical.then(|| {
                (
                    model.family().phone_file_name(model, mac),
                    output::release_mtime(p.changed_at),
                )
            })
        })
        .collect()
}

/// The live release's phone files folder.
pub(super) fn live_config(opts: &Options, live: &Manifest) -> PathBuf {
    opts.out.join("releases").join(&live.release).join("config")
}

/// The live site's manifest named by `--previous` (a web root folder, a manifest file, or the
/// site's URL), and where it came from. Untrusted input: checked before use.
pub fn previous_manifest(prev: &str) -> Result<(Option<Manifest>, Option<String>)> {
    manifest_at("--previous", prev)
}

/// The same, for the command-line `option` that named it (its problems are said with it).
pub fn manifest_at(option: &str, prev: &str) -> Result<(Option<Manifest>, Option<String>)> {
    let (bytes, from) = if prev.starts_with("http://") || prev.starts_with("https://") {
        let url = if prev.ends_with(".json") {
            prev.to_string()
        } else {
            format!("{}/manifest.json", prev.trim_end_matches('/'))
        };
        let resp = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .get(&url)
            .call();
        match resp {
            Ok(r) => {
                let too_large = || {
                    Error::of(
                        Area::Render,
                        format!(
                            "{option} {url}: larger than {} MiB, more than a manifest takes",
                            crate::manifest::MAX_BYTES >> 20
                        ),
                    )
                };
                // Said before the body is read, when the server gives its length.
                let length = r
                    .header("Content-Length")
                    .and_then(|v| v.parse::<u64>().ok());
                if length.is_some_and(|n| n > crate::manifest::MAX_BYTES) {
                    return Err(too_large());
                }
                let mut b = Vec::new();
                use std::io::Read;
                r.into_reader()
                    .take(crate::manifest::MAX_BYTES + 1)
                    .read_to_end(&mut b)
                    .map_err(|e| Error::of(Area::Render, format!("{option} {url}: {e}")))?;
                if b.len() as u64 > crate::manifest::MAX_BYTES {
                    return Err(too_large());
                }
                (b, url)
            }
            // No site yet: nothing the phones can have applied.
            Err(ureq::Error::Status(404, _)) => return Ok((None, Some(url))),
            Err(e) => {
                // Build alone may go without (a first build has no live site).
                let first = if option == "--previous" {
                    " (or leave --previous out on a first build)"
                } else {
                    ""
                };
                return Err(Error::of(Area::Render, format!(
                    "{option} {url}: {e}; give the live site's URL, a web root folder or a manifest.json{first}"
                )));
            }
        }
    } else {
        let p = Path::new(prev);
        let file = if p.is_dir() {
            p.join("manifest.json")
        } else {
            p.to_path_buf()
        };
        match crate::manifest::read_file(&file) {
            Ok(b) => (b, file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.is_dir() => {
                return Ok((None, Some(file.display().to_string())))
            }
            Err(e) => return Err(Error::io(&file, e)),
        }
    };
    let m = Manifest::from_untrusted(&bytes)
        .map_err(|e| {
            Error::of(Area::Render, format!("{option} {from}: {e}"))
                .hint("give a manifest.json that provsite build wrote: the live site's, a web root's, or a saved copy")
        })?;
    Ok((Some(m), Some(from)))
}
