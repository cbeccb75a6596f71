//! What a build knows of the live release before it renders: which site secret the last build
//! used, whether linking the live phone files ahead is worth it, and which files those are.

use std::collections::HashMap;
use std::path::PathBuf;

use super::Options;
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
