//! The past the numbering walks: earlier releases recorded in the output, and older commits
//! rendered on demand, memoised per phones file (see [`History`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;

use super::{FileDigests, Past, Recorded, RecordedPhones};
use crate::build::{phone_secrets, Loaded, Rendered};
use crate::error::{Error, Result};
use crate::firmware_store::FirmwareFiles;
use crate::inventory::{self, PhoneDoc, SourceText, Variant};
use crate::manifest::Manifest;
use crate::parallel;
use crate::render::{self, ModelFiles, Templates};
use crate::source::Snapshot;

/// Older states for the numbering: earlier releases in the output, and older commits rendered.
///
/// Rendering an older commit is memoised per phones file: the digests of a file's phones depend
/// only on the file, the site (site.yaml and templates) and the keys the model's phones override.
/// So a commit that changed one file renders that file's phones only. Cross-file rules (a MAC in
/// two files) are not checked here: such a commit did not build, and its phones count as fetched.
pub(crate) struct History<'a> {
    loaded: &'a Loaded,
    /// The output folder's manifest, as the build read it.
    live: Option<&'a Manifest>,
    out: PathBuf,
    /// Release folders in the output, by the commit id prefix in their name (not dirty ones).
    releases: HashMap<String, String>,
    /// (site.yaml blob, templates tree) → the resolved site, templates and vendor files.
    sites: Memo<SiteKey, SiteCtx>,
    /// (site key, phones file blob) → the keys its phones override, per model present in it.
    overrides: Memo<(SiteKey, Oid), Overrides>,
    /// Phones files resolved while numbering the current older commit.
    fresh: HashMap<Oid, Arc<Vec<inventory::Phone>>>,
    /// The build's own render, to fill the caches from once the walk needs them.
    seed_with: Option<&'a Rendered>,
    /// (site key, override keys) → each model's shared files.
    models: Memo<(SiteKey, String), BTreeMap<Variant, ModelFiles>>,
    /// (site key, override keys, phones file blob) → (MAC, digest) of that file's phones.
    digests: Memo<(SiteKey, String, Oid), Vec<(String, String)>>,
    /// Per phones file path, the last version rendered: its phones and their digests, in the
    /// same order. A commit that edits one phone of a file renders that phone only.
    by_path: HashMap<String, ByPath>,
    /// The build's own render, and its phones' indices per phones file: the caches above are
    /// filled from it for a file only when the walk reaches a changed version of that file, so a
    /// build of 100,000 phones does not copy every phone into them.
    head: Option<Head<'a>>,
    /// The trees the last [`Past::changed_paths`] read: the walk down the chain compares each
    /// commit with the one after it, so each tree is read once, not twice.
    trees_read: std::cell::RefCell<HashMap<Oid, git2::Tree<'a>>>,
}

/// The commit being built, for filling the caches on demand.
struct Head<'a> {
    rendered: &'a Rendered,
    by_file: HashMap<String, Vec<usize>>,
    site_key: SiteKey,
    overrides_key: String,
}

/// A phones file's last version rendered: under which site and overrides, its phones (shared
/// with the walk's resolved files, not copied) and their digests (shared with the memo).
type ByPath = (SiteKey, String, Arc<Vec<inventory::Phone>>, FileDigests);

/// Per model, the raw keys its phones override.
type Overrides = BTreeMap<Variant, BTreeSet<(String, String)>>;

/// site.yaml's blob, the templates tree and the group files (one id for all of them, None when
/// there is none): what an older site renders with. A group file reaches every phone below its
/// folder, so a change to one re-renders the commit's phones files.
type SiteKey = (Oid, Option<Oid>, Option<Oid>);

/// One id for a commit's group files (their paths and blobs).
fn groups_id(groups: &[(String, Oid)]) -> Option<Oid> {
    if groups.is_empty() {
        return None;
    }
    let mut text = String::new();
    for (path, blob) in groups {
        text.push_str(&format!("{blob} {path}\n"));
    }
    Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).ok()
}

/// A cache of results that may have failed (None: that older state does not build).
type Memo<K, V> = HashMap<K, Option<Arc<V>>>;

/// What an older site.yaml (with its templates) renders with.
struct SiteCtx {
    src: SourceText,
    groups: Vec<SourceText>,
    /// site.yaml resolved once, for every phones file resolved under it.
    first: inventory::SiteFirst,
    site: inventory::Site,
    templates: Templates,
    firmware: FirmwareFiles,
}

impl<'a> History<'a> {
    /// The past of a build: the releases in `out`, and the build's own render (`seed_with`,
    /// none for a working-tree build) to start the caches from.
    /// `live`: the output folder's manifest, when the build has read it.
    pub(crate) fn new(
        loaded: &'a Loaded,
        out: &Path,
        seed_with: Option<&'a Rendered>,
        live: Option<&'a Manifest>,
    ) -> Self {
        History {
            loaded,
            live,
            out: out.to_path_buf(),
            releases: list_releases(out),
            sites: HashMap::new(),
            overrides: HashMap::new(),
            fresh: HashMap::new(),
            seed_with,
            models: HashMap::new(),
            digests: HashMap::new(),
            by_path: HashMap::new(),
            head: None,
            trees_read: Default::default(),
        }
    }
}

impl<'a> Past<'a> for History<'a> {
    fn commit(&self, id: Oid) -> crate::error::Result<crate::source::CommitInfo> {
        self.loaded.source.info(id)
    }

    fn is_shallow_boundary(&self, id: Oid) -> bool {
        self.loaded.source.is_shallow_boundary(id)
    }

    fn inventory_tree(&self, commit: Oid) -> crate::error::Result<Option<Oid>> {
        self.loaded.source.inventory_tree(commit)
    }

    fn changed_paths(&self, older: Oid, newer: Oid) -> Option<Vec<String>> {
        let source: &'a crate::source::Source = &self.loaded.source;
        let mut last = self.trees_read.borrow_mut();
        let mut read = HashMap::new();
        let mut paths = Vec::new();
        let mut tree = |id: Oid| -> std::result::Result<git2::Tree<'a>, git2::Error> {
            let t = match last.get(&id) {
                Some(t) => t.clone(),
                None => source.repo().find_tree(id)?,
            };
            read.insert(id, t.clone());
            Ok(t)
        };
        let found = changed_between(&mut tree, Some(older), Some(newer), "", &mut paths);
        *last = read;
        found.ok()?;
        Some(paths.iter().map(|p| source.inv_path(p)).collect())
    }

    fn has_record(&self, commit: Oid) -> bool {
        self.releases.contains_key(&crate::source::short(commit))
    }

    fn record(&mut self, commit: Oid) -> Option<Recorded<'a>> {
        let dir = self.releases.get(&crate::source::short(commit))?;
        // The output's live manifest is that release's (the build read it already): borrowed,
        // not read again or copied, which at 100,000 phones is a tenth of a second.
        let m = match self.live {
            Some(m) if &m.release == dir => Cow::Borrowed(m),
            _ => {
                let bytes = crate::manifest::read_file(
                    &self.out.join("releases").join(dir).join("manifest.json"),
                )
                .ok()?;
                Cow::Owned(Manifest::from_bytes(&bytes).ok()?)
            }
        };
        if m.commit != commit.to_string() || m.dirty {
            return None;
        }
        Some(Recorded {
            release_sn: m.config_sn.parse().ok()?,
            phones: RecordedPhones::Manifest(m),
        })
    }

    fn files_at(&mut self, commit: Oid) -> Option<BTreeMap<String, FileDigests>> {
        self.digests_of(commit)
    }
}

impl History<'_> {
    /// An older commit's digests, rendered with today's templates code and secrets. Its firmware is
    /// taken from its pins (it was checked when that commit was built).
    fn digests_of(&mut self, commit: Oid) -> Option<BTreeMap<String, FileDigests>> {
        // A commit whose render went over a template's memory budget does not build (see
        // `alloc_budget::rendering_past`).
        let id = commit.to_string();
        if crate::alloc_budget::overran(&id) {
            return None;
        }
        crate::alloc_budget::rendering_past(&id, || self.render_digests_of(commit))
    }

    fn render_digests_of(&mut self, commit: Oid) -> Option<BTreeMap<String, FileDigests>> {
        if let Some(rendered) = self.seed_with.take() {
            self.seed(rendered).ok()?;
        }
        self.fresh.clear();
        let listing = self.loaded.source.list_inventory(commit).ok()??;
        let site_key = (listing.site?, listing.templates, groups_id(&listing.groups));
        let ctx = self.site_ctx(commit, site_key, &listing.groups)?;
        // The files not resolved yet under this site (after a change of site, every file), a
        // batch at a time: read here, parsed across threads, resolved here in order.
        let mut first = HashSet::new();
        let todo: Vec<&(String, Oid)> = listing
            .phones
            .iter()
            .filter(|(_, b)| !self.overrides.contains_key(&(site_key, *b)) && first.insert(*b))
            .collect();
        for batch in todo.chunks(BATCH) {
            for ((_, blob), phones) in batch.iter().zip(self.resolve_files(&ctx, batch)) {
                let found = phones.map(|phones| Arc::new(overrides_of(phones.iter()).0));
                self.overrides.insert((site_key, *blob), found.clone());
                found?;
            }
        }
        let mut overrides = Overrides::new();
        for (_, blob) in &listing.phones {
            let file = self.overrides.get(&(site_key, *blob)).cloned().flatten()?;
            for (m, keys) in file.iter() {
                overrides
                    .entry(m.clone())
                    .or_default()
                    .extend(keys.iter().cloned());
            }
        }
        let overrides_key = format!("{overrides:?}");
        let models = self
            .models
            .entry((site_key, overrides_key.clone()))
            .or_insert_with(|| {
                overrides
                    .into_iter()
                    .map(|(v, o)| {
                        render::render_model_with(&ctx.templates, &ctx.site, &v, &ctx.firmware, o)
                            .map(|f| (v, f))
                    })
                    .collect::<std::result::Result<BTreeMap<_, _>, _>>()
                    .ok()
                    .map(Arc::new)
            })
            .clone()?;
        // The files whose digests under these overrides are not known yet, a batch at a time:
        // the phones whose content the last version of their file had keep its digests, the
        // others are rendered across threads.
        let mut first = HashSet::new();
        let need: Vec<&(String, Oid)> = listing
            .phones
            .iter()
            .filter(|(_, b)| {
                !self
                    .digests
                    .contains_key(&(site_key, overrides_key.clone(), *b))
                    && first.insert(*b)
            })
            .collect();
        let secret = &self.loaded.site_secret;
        let render_one = |p: &&inventory::Phone| -> Option<String> {
            let s = phone_secrets(p, secret)?;
            let files = models.get(&p.variant())?;
            render::render_phone(&ctx.templates, &ctx.site, files, p, &s, false)
                .ok()
                .map(|r| r.digest)
        };
        for batch in need.chunks(BATCH) {
            // Files resolved before under other overrides: resolved again.
            let again: Vec<&(String, Oid)> = batch
                .iter()
                .filter(|(_, b)| !self.fresh.contains_key(b))
                .copied()
                .collect();
            for phones in self.resolve_files(&ctx, &again) {
                phones?;
            }
            let mut files = Vec::with_capacity(batch.len());
            for (path, blob) in batch {
                let phones = self.fresh.get(blob)?.clone();
                let known = self.known_digests(site_key, &overrides_key, path, &phones);
                files.push((path, *blob, phones, known));
            }
            let unknown: Vec<&inventory::Phone> = files
                .iter()
                .flat_map(|(_, _, phones, known)| {
                    phones.iter().zip(known).filter(|(_, k)| k.is_none())
                })
                .map(|(p, _)| p)
                .collect();
            let mut rendered = across_threads(&unknown, 256, render_one).into_iter();
            for (path, blob, phones, known) in files {
                let mut now = Vec::with_capacity(phones.len());
                let mut complete = true;
                for (p, digest) in phones.iter().zip(known) {
                    match digest.or_else(|| rendered.next().flatten()) {
                        Some(d) => now.push((p.mac.to_string(), d)),
                        None => complete = false,
                    }
                }
                let digests = complete.then(|| Arc::new(now));
                if let Some(d) = &digests {
                    let last = (site_key, overrides_key.clone(), phones, Arc::clone(d));
                    self.by_path.insert(path.clone(), last);
                }
                self.digests
                    .insert((site_key, overrides_key.clone(), blob), digests);
            }
        }
        let mut out = BTreeMap::new();
        for (path, blob) in &listing.phones {
            let key = (site_key, overrides_key.clone(), *blob);
            out.insert(path.clone(), self.digests.get(&key)?.clone()?);
        }
        // The walk goes back one commit at a time: a file version not in this commit will not
        // come again unless reverted to, so forget it and keep memory flat over long histories.
        let current: HashSet<Oid> = listing.phones.iter().map(|(_, b)| *b).collect();
        self.overrides.retain(|(_, b), _| current.contains(b));
        self.digests.retain(|(_, _, b), _| current.contains(b));
        Some(out)
    }

    /// The digests of a phones file's phones that are known by their content: from the last
    /// version of the same file rendered under the same site and overrides, else from the
    /// build's own phones of that file. That last version is taken out (its successor replaces
    /// it once rendered).
    fn known_digests(
        &mut self,
        site_key: SiteKey,
        overrides_key: &str,
        path: &str,
        phones: &[inventory::Phone],
    ) -> Vec<Option<String>> {
        let last = self.by_path.remove(path);
        let mut known: HashMap<&inventory::PhoneSpec, &str> = HashMap::new();
        match (&last, &self.head) {
            (Some((k, o, was, digests)), _) if *k == site_key && o == overrides_key => {
                known.extend(
                    was.iter()
                        .map(|p| &p.spec)
                        .zip(digests.iter().map(|(_, d)| d.as_str())),
                );
            }
            (None, Some(h)) if h.site_key == site_key && h.overrides_key == overrides_key => {
                if let Some(idx) = h.by_file.get(path) {
                    known.extend(idx.iter().map(|&i| {
                        (
                            &self.loaded.inv.phones[i].spec,
                            h.rendered.phones[i].digest.as_str(),
                        )
                    }));
                }
            }
            _ => {}
        }
        phones
            .iter()
            .map(|p| known.get(&p.spec).map(|d| d.to_string()))
            .collect()
    }

    fn site_ctx(
        &mut self,
        commit: Oid,
        key: SiteKey,
        groups: &[(String, Oid)],
    ) -> Option<Arc<SiteCtx>> {
        if let Some(hit) = self.sites.get(&key) {
            return hit.clone();
        }
        let ctx = self.read_site(commit, key, groups).map(Arc::new);
        self.sites.insert(key, ctx.clone());
        ctx
    }

    fn read_site(
        &self,
        commit: Oid,
        (site_blob, templates, _): SiteKey,
        groups: &[(String, Oid)],
    ) -> Option<SiteCtx> {
        let l = self.loaded;
        let src = l.source.read_text(site_blob, &l.files.site.path).ok()?;
        let group_srcs = groups
            .iter()
            .map(|(path, blob)| l.source.read_text(*blob, path).ok())
            .collect::<Option<Vec<_>>>()?;
        let first = inventory::resolve_site_first(&src, &l.source.inventory_dir).ok()?;
        // The site with its groups, checked as a build would (no phone yet).
        let (inv, _) = inventory::resolve_each(
            Ok(&first),
            &src,
            &group_srcs,
            inventory::PhoneTexts::read(&[]),
            std::iter::empty(),
            &mut Default::default(),
        );
        let site = inv?.site;
        let templates = l.source.read_templates(templates).ok()?;
        let (templates, _) = Templates::new(&templates, &l.source.inventory_dir).ok()?;
        let mut firmware = FirmwareFiles::default();
        for set in site.firmware.values() {
            for (role, f) in set.files() {
                if role.is_settings() {
                    let (blob, _) = l.source.stat(Snapshot::Tree(commit), &f.repo_path).ok()??;
                    let bytes = l
                        .source
                        .with_reader(Snapshot::Tree(commit), &f.repo_path, blob, |r| {
                            let mut b = Vec::new();
                            r.read_to_end(&mut b)
                                .map_err(|e| Error::io(&f.repo_path, e))?;
                            Ok(b)
                        })
                        .ok()?;
                    firmware.small.insert(f.repo_path.clone(), bytes);
                } else if let Some(c) = l.firmware.store.get(&f.sha256) {
                    firmware.store.insert(f.sha256.clone(), c.clone());
                }
            }
        }
        Some(SiteCtx {
            src,
            groups: group_srcs,
            first,
            site,
            templates,
            firmware,
        })
    }

    /// Phones files resolved under a site, in order (None for one that does not read, parse or
    /// resolve): read here, parsed (and each phone resolved as far as its own entry goes) across
    /// threads when there are enough of them, resolved here.
    /// No parsed phone is kept: the walk's first step over a commit with another site (or
    /// templates, or groups) resolves every file, and keeping their parsed phones held the fleet
    /// twice more (over 500 MB at 100,000 phones) for no time saved: reusing unchanged list items
    /// was slower than parsing the file.
    fn resolve_files(
        &mut self,
        ctx: &SiteCtx,
        files: &[&(String, Oid)],
    ) -> Vec<Option<Arc<Vec<inventory::Phone>>>> {
        let source = &self.loaded.source;
        let texts: Vec<Option<SourceText>> = files
            .iter()
            .map(|(path, blob)| source.read_text(*blob, path).ok())
            .collect();
        let docs = across_threads(&texts, 8, |src| {
            let src = src.as_ref()?;
            let mut docs = inventory::parse_phones(src).ok()?;
            let own = inventory::take_own(&ctx.first, src, &mut docs, &());
            Some((Arc::new(docs), own))
        });
        files
            .iter()
            .zip(texts)
            .zip(docs)
            .map(|(((_, blob), src), docs)| self.resolve_file(ctx, src?, docs?, *blob))
            .collect()
    }

    /// A phones file's parsed phones resolved under a site, kept for the rest of this commit.
    fn resolve_file(
        &mut self,
        ctx: &SiteCtx,
        src: SourceText,
        (docs, own): (Arc<Vec<PhoneDoc>>, inventory::OwnParts),
        blob: Oid,
    ) -> Option<Arc<Vec<inventory::Phone>>> {
        let (inv, _) = inventory::resolve_each(
            Ok(&ctx.first),
            &ctx.src,
            &ctx.groups,
            inventory::PhoneTexts::read(&[&src]),
            std::iter::once((&src, inventory::FilePhones::Parsed(docs, own))),
            &mut Default::default(),
        );
        let phones = Arc::new(inv?.phones);
        self.fresh.insert(blob, phones.clone());
        Some(phones)
    }
}

/// Phones files the walk reads, parses and renders at a time: few enough to hold (32 files of
/// 100 phones parsed is some 8 MB), many enough to share among threads.
const BATCH: usize = 32;

/// `work` on each item, in order: across threads when there are at least `min` items (fewer
/// would cost more to hand out than to do), else on this one.
fn across_threads<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() < min {
        return items.iter().map(work).collect();
    }
    parallel::in_chunks(items, parallel::cores(), |_, part| {
        part.iter().map(&work).collect::<Vec<R>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Each model's overridden keys, and the same as a memo key.
fn overrides_of<'a>(
    phones: impl Iterator<Item = &'a inventory::Phone>,
) -> (BTreeMap<Variant, BTreeSet<(String, String)>>, String) {
    let mut by_model: BTreeMap<Variant, Vec<&inventory::Phone>> = BTreeMap::new();
    for p in phones {
        by_model.entry(p.variant()).or_default().push(p);
    }
    let overrides: BTreeMap<Variant, BTreeSet<(String, String)>> = by_model
        .iter()
        .map(|(v, phones)| (v.clone(), render::override_keys(phones.iter().copied())))
        .collect();
    let key = format!("{overrides:?}");
    (overrides, key)
}

impl<'a> History<'a> {
    /// Fills the caches with the commit being built, so the walk's first step renders only what
    /// that step changed: each file's digests and overrides now, each phone's content (by its
    /// resolved spec) when a changed version of its file comes.
    fn seed(&mut self, rendered: &'a Rendered) -> Result<()> {
        let l = self.loaded;
        let Some(listing) = l.source.list_inventory(l.head.id)? else {
            return Ok(());
        };
        let Some(site_blob) = listing.site else {
            return Ok(());
        };
        let site_key = (site_blob, listing.templates, groups_id(&listing.groups));
        let (_, overrides_key) = overrides_of(l.inv.phones.iter());
        let mut by_file: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in l.inv.phones.iter().enumerate() {
            by_file.entry(p.origin.file.clone()).or_default().push(i);
        }
        for (path, blob) in &listing.phones {
            let idx = by_file.get(path.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let digests: Vec<(String, String)> = idx
                .iter()
                .map(|&i| {
                    (
                        l.inv.phones[i].mac.to_string(),
                        rendered.phones[i].digest.clone(),
                    )
                })
                .collect();
            let overrides = overrides_of(idx.iter().map(|&i| &l.inv.phones[i])).0;
            self.overrides
                .insert((site_key, *blob), Some(Arc::new(overrides)));
            self.digests.insert(
                (site_key, overrides_key.clone(), *blob),
                Some(Arc::new(digests)),
            );
        }
        self.head = Some(Head {
            rendered,
            by_file,
            site_key,
            overrides_key,
        });
        Ok(())
    }
}

pub(crate) fn list_releases(out: &Path) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Ok(it) = std::fs::read_dir(out.join("releases")) {
        for e in it.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::release::is_name(&name) && !name.ends_with("-dirty") {
                let id = name[13..].to_string();
                map.insert(id, name);
            }
        }
    }
    map
}

/// The paths of the files that differ between two trees (either may be absent), under `prefix`:
/// the two lists of entries are walked side by side in git's order, and a subtree with the same
/// id on both sides is not opened (a commit that changed one phones file costs one list per
/// level, and no entry is copied).
fn changed_between<'r>(
    tree: &mut dyn FnMut(Oid) -> std::result::Result<git2::Tree<'r>, git2::Error>,
    older: Option<Oid>,
    newer: Option<Oid>,
    prefix: &str,
    out: &mut Vec<String>,
) -> std::result::Result<(), git2::Error> {
    let (a, b) = (
        older.map(&mut *tree).transpose()?,
        newer.map(&mut *tree).transpose()?,
    );
    let is_tree = |e: &git2::TreeEntry| e.kind() == Some(git2::ObjectType::Tree);
    // Git's order: by name, a folder's as if it ended with `/`.
    let order = |x: &git2::TreeEntry, y: &git2::TreeEntry| {
        let key = |e: &git2::TreeEntry| {
            let slash: &[u8] = if is_tree(e) { b"/" } else { b"" };
            e.name_bytes()
                .iter()
                .chain(slash)
                .copied()
                .collect::<Vec<u8>>()
        };
        if x.name_bytes() == y.name_bytes() && is_tree(x) == is_tree(y) {
            std::cmp::Ordering::Equal
        } else {
            key(x).cmp(&key(y))
        }
    };
    let mut ia = a.iter().flat_map(|t| t.iter()).peekable();
    let mut ib = b.iter().flat_map(|t| t.iter()).peekable();
    loop {
        let (ea, eb) = match (ia.peek(), ib.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => (ia.next(), None),
            (None, Some(_)) => (None, ib.next()),
            (Some(x), Some(y)) => match order(x, y) {
                std::cmp::Ordering::Less => (ia.next(), None),
                std::cmp::Ordering::Greater => (None, ib.next()),
                std::cmp::Ordering::Equal => (ia.next(), ib.next()),
            },
        };
        if let (Some(x), Some(y)) = (&ea, &eb) {
            if x.id() == y.id() {
                continue;
            }
        }
        let Some(e) = ea.as_ref().or(eb.as_ref()) else {
            return Ok(());
        };
        let path = format!("{prefix}{}", String::from_utf8_lossy(e.name_bytes()));
        if is_tree(e) {
            let id = |e: &Option<git2::TreeEntry>| e.as_ref().map(git2::TreeEntry::id);
            changed_between(tree, id(&ea), id(&eb), &format!("{path}/"), out)?;
        } else {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of `files` (path → text), folders made as the paths need them.
    fn tree(repo: &git2::Repository, files: &[(&str, &str)]) -> Oid {
        let mut here: BTreeMap<&str, &str> = BTreeMap::new();
        let mut below: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for &(path, text) in files {
            match path.split_once('/') {
                Some((dir, rest)) => below.entry(dir).or_default().push((rest, text)),
                None => {
                    here.insert(path, text);
                }
            }
        }
        let mut b = repo.treebuilder(None).unwrap();
        for (name, text) in here {
            b.insert(name, repo.blob(text.as_bytes()).unwrap(), 0o100644)
                .unwrap();
        }
        for (dir, files) in below {
            b.insert(dir, tree(repo, &files), 0o040000).unwrap();
        }
        b.write().unwrap()
    }

    /// The paths libgit2's own diff gives: the reference.
    fn by_libgit2(repo: &git2::Repository, a: Oid, b: Oid) -> BTreeSet<String> {
        let (a, b) = (repo.find_tree(a).unwrap(), repo.find_tree(b).unwrap());
        let diff = repo.diff_tree_to_tree(Some(&a), Some(&b), None).unwrap();
        diff.deltas()
            .flat_map(|d| [d.old_file(), d.new_file()])
            .filter_map(|f| f.path().map(|p| p.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn the_changed_paths_are_those_git_shows() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let old = tree(
            &repo,
            &[
                ("phones/a.yaml", "a"),
                ("phones/b.yaml", "b"),
                ("phones/deep/c.yaml", "c"),
                ("site.yaml", "s"),
                ("x", "a file, then a folder"),
                ("x.y", "a name after x"),
            ],
        );
        let new = tree(
            &repo,
            &[
                ("phones/a.yaml", "a"),
                ("phones/b.yaml", "b2"),
                ("phones/deep/c.yaml", "c"),
                ("phones/d.yaml", "new"),
                ("x/inside", "the folder"),
                ("x.y", "a name after x"),
            ],
        );
        let mut paths = Vec::new();
        changed_between(
            &mut |t| repo.find_tree(t),
            Some(old),
            Some(new),
            "",
            &mut paths,
        )
        .unwrap();
        let got: BTreeSet<String> = paths.iter().cloned().collect();
        assert_eq!(got.len(), paths.len(), "each path once: {paths:?}");
        assert_eq!(got, by_libgit2(&repo, old, new));
        assert_eq!(
            got,
            [
                "phones/b.yaml",
                "phones/d.yaml",
                "site.yaml",
                "x",
                "x/inside"
            ]
            .map(String::from)
            .into()
        );
        // Both ways, and nothing between a tree and itself.
        paths.clear();
        changed_between(
            &mut |t| repo.find_tree(t),
            Some(new),
            Some(old),
            "",
            &mut paths,
        )
        .unwrap();
        assert_eq!(paths.iter().cloned().collect::<BTreeSet<_>>(), got);
        paths.clear();
        changed_between(
            &mut |t| repo.find_tree(t),
            Some(new),
            Some(new),
            "",
            &mut paths,
        )
        .unwrap();
        assert!(paths.is_empty());
        // A folder sorts as if its name ended with `/`: after `x.y`, which goes.
        let same = [("x/inside", "the folder")];
        let (a, b) = (tree(&repo, &[("x.y", "y"), same[0]]), tree(&repo, &same));
        changed_between(&mut |t| repo.find_tree(t), Some(a), Some(b), "", &mut paths).unwrap();
        assert_eq!(paths, ["x.y"]);
        assert_eq!(by_libgit2(&repo, a, b), ["x.y".to_string()].into());
    }
}
