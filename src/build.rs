//! The pipeline, as one readable sequence: [`load`] (source → inventory → firmware → secrets) then
//! [`build`] (render → number → write). `check` is `load` plus rendering, writing nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config_sn;
use crate::error::{sort_diagnostics, Area, Diagnostic, Error, Result};
use crate::firmware_store::{self, FirmwareFiles};
use crate::history::{self, Numbering, Stamp};
use crate::inventory::{self, Inventory, PhoneDoc, Secret, SourceText};
use crate::manifest::{FileEntry, FirmwareEntry, Manifest, ModelEntry, PhoneEntry};
use crate::output::{self, Staging};
use crate::parallel;
use crate::parse_cache::{self, ParseCache};
use crate::render::{self, ModelFiles, PhoneFile, PhoneSecrets, Templates};
use crate::render_cache::{self, Key, RenderCache};
use crate::secrets::{self, Missing, SecretSource, SiteSecret};
use crate::source::{CommitInfo, InventoryFiles, Snapshot, Source};

/// What `provsite build` and `provsite check` are asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub inventory: PathBuf,
    pub out: PathBuf,
    pub rev: String,
    pub worktree: bool,
    pub keep: usize,
    pub secret_file: Option<PathBuf>,
    /// The live site's manifest (a web root folder, a manifest file, or the site's URL): what the
    /// phones may have applied. Default: the manifest in `out`.
    pub previous: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inventory: PathBuf::from("inventory"),
            out: PathBuf::from("public"),
            rev: "HEAD".into(),
            worktree: false,
            keep: 5,
            secret_file: None,
            previous: None,
        }
    }
}

/// Progress of a long build, for the CLI's bar.
pub trait Progress: Sync {
    fn stage(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}

/// The summary `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub release: String,
    pub commit: String,
    pub config_sn: String,
    pub dirty: bool,
    pub phones: usize,
    /// Phones whose config_sn differs from the previous live release's (all, on a first build).
    pub changed_phones: Vec<String>,
    pub files_written: usize,
    /// Phone files unchanged since the live release: hard links to its copies.
    pub files_linked: usize,
    pub firmware_stored: usize,
    pub releases_pruned: usize,
    pub firmware_pruned: usize,
    /// Phones given a new number because their bytes differ from the live file under the number
    /// git history gave them (a rotated secret, an amended commit, a working-tree build).
    pub renumbered: Vec<String>,
    /// Where the live record came from (`--previous`, or the output folder), if any.
    pub live_from: Option<String>,
    pub commits_rendered: usize,
    /// Phone files rendered by this build: the render cache spares the phones whose inputs are
    /// those of the last build's (see `render_cache`).
    pub phones_rendered: usize,
    /// Phones files parsed from their YAML: the parse cache holds the others' phones by blob id
    /// (see `parse_cache`).
    pub files_parsed: usize,
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

/// A loaded, validated inventory with everything needed to render it.
pub struct Loaded {
    pub source: Source,
    pub head: CommitInfo,
    pub snap: Snapshot,
    pub files: InventoryFiles,
    pub inv: Inventory,
    pub templates: Templates,
    pub firmware: FirmwareFiles,
    pub site_secret: SiteSecret,
    pub warnings: Vec<Diagnostic>,
    /// The next parse cache, for a build to put in place once it succeeded.
    pub parse_cache: Option<parse_cache::Pending>,
    /// Phones files parsed from their YAML (the others came from the parse cache).
    pub files_parsed: usize,
}

/// The phones files parsed a few at a time (on every core), yielded file by file: the resolver
/// takes each file's documents and lets them go, so the whole inventory's documents never sit in
/// memory at once. A file whose blob is in the parse cache is read from it; with `pending`, every
/// file's entry goes to the new cache. Parse errors go to `diags`.
fn parse_in_batches<'f>(
    files: &'f InventoryFiles,
    diags: &'f std::cell::RefCell<Vec<Diagnostic>>,
    cache: &'f ParseCache,
    pending: &'f std::cell::RefCell<Option<parse_cache::Pending>>,
    parsed_count: &'f std::cell::Cell<usize>,
) -> impl Iterator<Item = (&'f SourceText, Arc<Vec<PhoneDoc>>)> + 'f {
    const BATCH: usize = 64;
    let writing = pending.borrow().is_some();
    files.phones.chunks(BATCH).flat_map(move |batch| {
        // Per file: its phones, whether they came from the cache, and the JSON of a new entry.
        type Parsed = (
            std::result::Result<Vec<PhoneDoc>, Vec<Diagnostic>>,
            bool,
            Option<Vec<u8>>,
        );
        let parsed = parallel::in_chunks(batch, parallel::cores(), |_, part| {
            part.iter()
                .map(|(src, blob)| -> Parsed {
                    if let Some(docs) = blob.and_then(|b| cache.get(b)) {
                        return (Ok(docs), true, None);
                    }
                    let docs = inventory::parse_phones(src);
                    let json = match (&docs, blob) {
                        (Ok(d), Some(_)) if writing => parse_cache::encode(d),
                        _ => None,
                    };
                    (docs, false, json)
                })
                .collect::<Vec<_>>()
        });
        let mut out = Vec::with_capacity(batch.len());
        let mut pending = pending.borrow_mut();
        for ((src, blob), (result, hit, json)) in batch.iter().zip(parsed.into_iter().flatten()) {
            parsed_count.set(parsed_count.get() + usize::from(!hit));
            if let (Some(p), Some(blob)) = (pending.as_mut(), blob) {
                match (hit, json) {
                    (true, _) => p.keep(cache, *blob),
                    (false, Some(json)) => p.add(*blob, &json),
                    (false, None) => {}
                }
            }
            match result {
                Ok(docs) => out.push((src, Arc::new(docs))),
                Err(d) => diags.borrow_mut().extend(d),
            }
        }
        out
    })
}

/// The site secret: PROVSITE_SECRET, --secret-file, or the example inventory's file (warned).
fn site_secret(
    opts: &Options,
    source: &Source,
    snap: Snapshot,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
    site_path: &str,
) -> Result<SiteSecret> {
    let s =
        SiteSecret::load(opts.secret_file.as_deref()).map_err(|e| Error::of(Area::Render, e))?;
    if s.is_set() {
        return Ok(s);
    }
    let Some(rel) = &inv.site.example_secret_file else {
        return Ok(s);
    };
    let Some(path) = inventory::join_repo_path(&source.inventory_dir, rel) else {
        diags.push(Diagnostic::error(
            site_path,
            format!("example_secret_file `{rel}` leaves the repository"),
        ));
        return Ok(s);
    };
    let Some((blob, _)) = source.stat(snap, &path)? else {
        diags.push(Diagnostic::error(
            site_path,
            format!("example_secret_file {path} not found"),
        ));
        return Ok(s);
    };
    let bytes = source.with_reader(snap, &path, blob, |r| {
        let mut b = Vec::new();
        r.read_to_end(&mut b).map_err(|e| Error::io(&path, e))?;
        Ok(b)
    })?;
    diags.push(
        Diagnostic::warning(site_path, format!("using the example's development secret {path}: passwords derived from it are public"))
            .hint("for real phones set PROVSITE_SECRET or pass --secret-file with a secret kept outside git, and remove example_secret_file"),
    );
    Ok(SiteSecret::from_bytes(
        String::from_utf8_lossy(&bytes).trim().as_bytes(),
        SecretSource::Example(path),
    ))
}

/// Source → inventory → templates → secrets → firmware. Collects every problem before failing.
pub fn load(opts: &Options, staging: Option<&Path>, secrets_required: bool) -> Result<Loaded> {
    let source = Source::open(&opts.inventory)?;
    let head = source.resolve(&opts.rev)?;
    let snap = if opts.worktree {
        Snapshot::Worktree
    } else {
        Snapshot::Tree(head.id)
    };
    let mut diags = Vec::new();
    if !opts.worktree && opts.rev == "HEAD" && source.inventory_is_dirty().unwrap_or(false) {
        diags.push(Diagnostic::warning(source.inventory_dir.clone(), "the inventory has uncommitted changes; they are not built").hint("commit them, or build the working tree with --worktree (the release is marked dirty)"));
    }
    let t0 = std::time::Instant::now();
    let files = source.read_inventory(snap)?;
    timing("load: read", t0);
    let group_srcs: Vec<SourceText> = files.groups.iter().map(|(s, _)| s.clone()).collect();
    let texts: Vec<&SourceText> = files.phones.iter().map(|(s, _)| s).collect();
    let parse_diags = std::cell::RefCell::new(Vec::new());
    let files_parsed = std::cell::Cell::new(0);
    // The parse cache beside the web root; a build (with staging) writes the next one.
    let work = output::work_dir(&opts.out).ok();
    let cache = work
        .as_deref()
        .filter(|w| w.is_dir())
        .map(ParseCache::load)
        .unwrap_or_default();
    let pending = std::cell::RefCell::new(
        work.as_deref()
            .filter(|_| staging.is_some())
            .and_then(parse_cache::Pending::begin),
    );
    let (inv, inv_diags) = inventory::resolve_each(
        &files.site,
        &group_srcs,
        &texts,
        parse_in_batches(&files, &parse_diags, &cache, &pending, &files_parsed),
        &source.inventory_dir,
    );
    drop(cache);
    timing("load: parse and resolve", t0);
    // Parse errors first, as each file is read; then what resolving found.
    diags.extend(parse_diags.into_inner());
    diags.extend(inv_diags);
    let templates = match Templates::new(&files.templates, &source.inventory_dir) {
        Ok((t, w)) => {
            diags.extend(w);
            Some(t)
        }
        Err(e) => {
            diags.extend(e);
            None
        }
    };
    let (Some(inv), Some(templates)) = (inv, templates) else {
        // Report the firmware's problems in the same run when the site itself is valid.
        if let (Some(site_only), _) =
            inventory::resolve(&files.site, &[], &[], &source.inventory_dir)
        {
            let store_root = opts.out.join("firmware");
            if let Ok((_, fw_diags)) =
                firmware_store::prepare(&source, snap, &site_only, &files.site, &store_root, None)
            {
                diags.extend(fw_diags);
            }
        }
        return Err(fail(diags));
    };
    let site_secret = site_secret(opts, &source, snap, &inv, &mut diags, &files.site.path)?;
    check_secrets(&inv, &site_secret, &files, secrets_required, &mut diags);
    timing("load: secrets", t0);
    let store_root = opts.out.join("firmware");
    let (firmware, fw_diags) =
        firmware_store::prepare(&source, snap, &inv, &files.site, &store_root, staging)?;
    diags.extend(fw_diags);
    timing("load: firmware", t0);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(fail(diags));
    }
    sort_diagnostics(&mut diags);
    Ok(Loaded {
        source,
        head,
        snap,
        files,
        inv,
        templates,
        firmware,
        site_secret,
        warnings: diags,
        parse_cache: pending.into_inner(),
        files_parsed: files_parsed.get(),
    })
}

fn fail(mut diags: Vec<Diagnostic>) -> Error {
    sort_diagnostics(&mut diags);
    Error::Invalid(diags)
}

/// Reports every password that cannot be had now, naming the line it belongs to.
fn check_secrets(
    inv: &Inventory,
    site: &SiteSecret,
    files: &InventoryFiles,
    required: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let mut srcs: Vec<&SourceText> = vec![&files.site];
    srcs.extend(files.groups.iter().map(|(s, _)| s));
    srcs.extend(files.phones.iter().map(|(s, _)| s));
    // The page passwords of every scope (the site's, and those groups, profiles, models or phones
    // set), each (secret, origin) once.
    let mut seen = std::collections::HashSet::new();
    let mut page_passwords: Vec<(&Secret, &inventory::Origin, &str)> = Vec::new();
    // Phones with the same levels share one scope: each is looked at once.
    let mut scopes_seen = std::collections::HashSet::new();
    let scopes = std::iter::once(&inv.site.scope)
        .chain(inv.phones.iter().map(|p| &p.scope))
        .filter(|s| scopes_seen.insert(Arc::as_ptr(s)));
    for scope in scopes {
        for (pw, what) in [
            (&scope.admin_password, "admin_password"),
            (&scope.user_password, "user_password"),
        ] {
            if seen.insert((&pw.0, &pw.1)) {
                page_passwords.push((&pw.0, &pw.1, what));
            }
        }
    }
    // The factory password is refused wherever it comes from, the environment included.
    for (secret, origin, what) in &page_passwords {
        if *what != "admin_password" {
            continue;
        }
        if let (Secret::Env(name), Ok(pw)) = (secret, secrets::resolve(secret, site)) {
            if pw == inventory::FACTORY_ADMIN_PASSWORD {
                let d = Diagnostic::error(
                    "",
                    format!("admin_password: environment variable {name} holds the factory admin password 784518"),
                )
                .hint("anyone on the LAN knows it: set a password of your own");
                diags.push(inventory::diagnostic_at(&srcs, origin, d));
            }
        }
    }
    let mut derived_lines = Vec::new();
    let mut report = |secret: &Secret,
                      origin: &inventory::Origin,
                      what: String,
                      derived_lines: &mut Vec<String>| {
        let missing = match secrets::check_available(secret, site) {
            Ok(()) => return,
            Err(m) => m,
        };
        let (msg, hint) = match missing {
            Missing::Env(name) => (
                format!("{what}: environment variable {name} is not set"),
                format!("export {name}=... before building"),
            ),
            Missing::Unusable { name, why } => {
                let d = Diagnostic::error(
                    "",
                    format!("{what}: environment variable {name} cannot be a password: {why}"),
                )
                .hint("a password is printable ASCII without spaces or line breaks");
                diags.push(inventory::diagnostic_at(&srcs, origin, d));
                return;
            }
            Missing::SiteSecret => {
                derived_lines.push(what.clone());
                return;
            }
        };
        let d = if required {
            Diagnostic::error("", msg)
        } else {
            Diagnostic::warning("", msg)
        };
        diags.push(inventory::diagnostic_at(&srcs, origin, d.hint(hint)));
    };
    for (secret, origin, what) in &page_passwords {
        report(secret, origin, what.to_string(), &mut derived_lines);
    }
    for p in &inv.phones {
        for (j, l) in p.lines.iter().enumerate() {
            report(
                &l.password,
                &p.password_origin(j),
                format!("line {} of phone {}", l.user, p.mac),
                &mut derived_lines,
            );
        }
    }
    if !derived_lines.is_empty() {
        let shown: Vec<&str> = derived_lines.iter().take(8).map(String::as_str).collect();
        let more = if derived_lines.len() > 8 {
            format!(" and {} more", derived_lines.len() - 8)
        } else {
            String::new()
        };
        let msg = format!(
            "no site secret to derive passwords for: {}{more}",
            shown.join(", ")
        );
        let hint = format!("set {} (or pass --secret-file PATH) to a secret kept outside git, e.g. `head -c 32 /dev/urandom | base64`; or give those passwords as {{env: NAME}}", secrets::SECRET_ENV);
        let d = if required {
            Diagnostic::error(&files.site.path, msg)
        } else {
            Diagnostic::warning(&files.site.path, msg)
        };
        diags.push(d.hint(hint));
    }
}

pub(crate) fn phone_secrets(phone: &inventory::Phone, site: &SiteSecret) -> Option<PhoneSecrets> {
    let page = page_secrets(&phone.scope, site)?;
    phone_secrets_with(phone, site, &page)
}

/// A scope's admin and user page passwords.
pub(crate) type PageSecrets = (String, String);

pub(crate) fn page_secrets(scope: &inventory::Scope, site: &SiteSecret) -> Option<PageSecrets> {
    Some((
        secrets::resolve(&scope.admin_password.0, site).ok()?,
        secrets::resolve(&scope.user_password.0, site).ok()?,
    ))
}

/// A phone's passwords, its page passwords given (they are its scope's, shared by many phones:
/// derived once per scope rather than once per phone).
pub(crate) fn phone_secrets_with(
    phone: &inventory::Phone,
    site: &SiteSecret,
    page: &PageSecrets,
) -> Option<PhoneSecrets> {
    let lines = phone
        .lines
        .iter()
        .map(|l| secrets::resolve(&l.password, site).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(PhoneSecrets {
        lines,
        admin: page.0.clone(),
        user: Some(page.1.clone()),
    })
}

/// The page passwords of every scope the phones have, by the scope's address.
fn scope_secrets(
    phones: &[inventory::Phone],
    site: &SiteSecret,
) -> std::collections::HashMap<usize, Option<PageSecrets>> {
    let mut out = std::collections::HashMap::new();
    for p in phones {
        out.entry(Arc::as_ptr(&p.scope) as usize)
            .or_insert_with(|| page_secrets(&p.scope, site));
    }
    out
}

/// Rendered files of a whole inventory.
pub struct Rendered {
    /// Per model and firmware set.
    pub models: BTreeMap<inventory::Variant, ModelFiles>,
    /// In the inventory's phone order (by MAC).
    pub phones: Vec<PhoneFile>,
    /// Each phone's render-cache key (None when no cache was asked for, or this renderer cannot
    /// be identified).
    pub keys: Vec<Option<Key>>,
    /// The phones with nothing staged: their digest came from the render cache, or equals the
    /// live release's file (linked in the write stage when the number stays; rendered again
    /// there otherwise).
    pub cached: Vec<bool>,
    /// How many phones were rendered.
    pub rendered: usize,
}

/// Renders every model and phone, on all cores.
pub fn render_all(
    inv: &Inventory,
    templates: &Templates,
    firmware: &FirmwareFiles,
    site_secret: &SiteSecret,
    progress: &dyn Progress,
) -> std::result::Result<Rendered, String> {
    render_all_into(inv, templates, firmware, site_secret, progress, None, None)
}

/// What the render cache is given: the last build's digests, and the template overrides (part of
/// every key).
pub struct CacheUse<'a> {
    pub cache: &'a RenderCache,
    pub template_overrides: &'a BTreeMap<String, String>,
}

/// Where rendered phone files go, and the config_sn and mtime they are written with: the
/// release's own, which every phone that changed in the commit built takes (the others' are put
/// in place once the numbering is known).
pub struct Stage<'a> {
    pub dir: &'a Path,
    pub sn: &'a str,
    pub mtime: std::time::SystemTime,
    /// The live release's manifest: a phone whose file is unchanged is not written.
    pub live: Option<&'a Manifest>,
}

/// The same; with `stage`, each phone's file goes to that folder as it is rendered and only its
/// digest stays in memory: the rendered files of a whole fleet never sit in memory at once.
/// With `cache`, a phone whose key is in it is not rendered (see [`crate::render_cache`]).
pub fn render_all_into(
    inv: &Inventory,
    templates: &Templates,
    firmware: &FirmwareFiles,
    site_secret: &SiteSecret,
    progress: &dyn Progress,
    stage: Option<Stage>,
    cache: Option<CacheUse>,
) -> std::result::Result<Rendered, String> {
    let mut models = BTreeMap::new();
    for v in inv.variants_in_use() {
        let files = render::render_model(templates, inv, &v, firmware)?;
        models.insert(v, files);
    }
    progress.stage("render", inv.phones.len() as u64);
    let pages = scope_secrets(&inv.phones, site_secret);
    for p in &inv.phones {
        let page = pages[&(Arc::as_ptr(&p.scope) as usize)]
            .as_ref()
            .ok_or_else(|| "admin password unavailable".to_string())?;
        if page.0 == inventory::FACTORY_ADMIN_PASSWORD {
            return Err(format!(
                "the admin password of phone {} resolves to the factory password 784518: choose another",
                p.mac
            ));
        }
    }
    let keys = cache.as_ref().and_then(|c| {
        render_cache::Keys::new(
            &inv.site,
            c.template_overrides,
            site_secret,
            &models,
            &inv.phones,
            &pages,
        )
    });
    type Part = (Vec<PhoneFile>, Vec<Option<Key>>, Vec<bool>, usize);
    let results = parallel::in_chunks(
        &inv.phones,
        parallel::cores(),
        |_, phones| -> std::result::Result<Part, String> {
            let mut out = Vec::with_capacity(phones.len());
            let mut part_keys = Vec::new();
            let mut part_cached = Vec::new();
            let mut part_rendered = 0;
            for (i, p) in phones.iter().enumerate() {
                let key = keys.as_ref().and_then(|k| k.of(p));
                let known = key
                    .as_ref()
                    .zip(cache.as_ref())
                    .and_then(|(k, c)| c.cache.get(k));
                part_keys.push(key);
                part_cached.push(known.is_some());
                if let Some(digest) = known {
                    out.push(PhoneFile {
                        digest,
                        body: Vec::new(),
                        staged: None,
                    });
                    continue;
                }
                let s = pages[&(Arc::as_ptr(&p.scope) as usize)]
                    .as_ref()
                    .and_then(|page| phone_secrets_with(p, site_secret, page))
                    .ok_or_else(|| format!("a password of phone {} is unavailable", p.mac))?;
                let files = &models[&p.variant()];
                // Staged: checked as written, with the release's number (one fill, not two).
                let (mut f, filled) = match &stage {
                    Some(st) => {
                        let (f, filled, sn_at) =
                            render::render_phone_filled(templates, &inv.site, files, p, &s, st.sn)?;
                        (f, Some((filled, sn_at)))
                    }
                    None => (
                        render::render_phone(templates, &inv.site, files, p, &s, true)?,
                        None,
                    ),
                };
                part_rendered += 1;
                let live_same = stage
                    .as_ref()
                    .and_then(|st| st.live)
                    .and_then(|m| m.phones.get(p.mac.as_str()))
                    .is_some_and(|old| old.digest == f.digest);
                if live_same {
                    // The live file has these bytes under the number the phone keeps: it is
                    // linked, not written (see write_phone_files).
                    f.body = Vec::new();
                    if let Some(c) = part_cached.last_mut() {
                        *c = true;
                    }
                } else if let (Some(st), Some((filled, sn_at))) = (&stage, filled) {
                    let path = st.dir.join(render::phone_file_name(p));
                    output::write_new_file(&path, &filled, st.mtime).map_err(|e| e.to_string())?;
                    f.staged = Some(render::Staged {
                        sn_at,
                        sha256: crate::hashing::sha256_hex(&filled),
                        size: filled.len() as u64,
                    });
                    f.body = Vec::new();
                }
                out.push(f);
                if i % 256 == 255 {
                    progress.advance(256);
                }
            }
            progress.advance((phones.len() % 256) as u64);
            Ok((out, part_keys, part_cached, part_rendered))
        },
    );
    let mut phones = Vec::with_capacity(inv.phones.len());
    let (mut all_keys, mut cached, mut rendered) = (Vec::new(), Vec::new(), 0);
    for r in results {
        let (files, k, c, n) = r?;
        phones.extend(files);
        all_keys.extend(k);
        cached.extend(c);
        rendered += n;
    }
    Ok(Rendered {
        models,
        phones,
        keys: all_keys,
        cached,
        rendered,
    })
}

/// `provsite check`: everything but writing.
pub fn check(opts: &Options) -> Result<Vec<Diagnostic>> {
    let t0 = std::time::Instant::now();
    let mut warnings = check_one(opts)?;
    timing("check", t0);
    warnings.extend(crate::diff::kept_since_parent(opts));
    timing("kept keys", t0);
    Ok(warnings)
}

fn check_one(opts: &Options) -> Result<Vec<Diagnostic>> {
    let t0 = std::time::Instant::now();
    let loaded = load(opts, None, false)?;
    timing("load", t0);
    // Without every password the files cannot be rendered; check has reported what is missing.
    if all_secrets_available(&loaded) {
        // The last build's render cache, when there is one: a phone whose key is in it rendered
        // and passed the strict check with exactly these inputs (see crate::render_cache).
        let cache = output::work_dir(&opts.out)
            .map(|w| RenderCache::load(&w))
            .unwrap_or_default();
        render_all_into(
            &loaded.inv,
            &loaded.templates,
            &loaded.firmware,
            &loaded.site_secret,
            &Quiet,
            None,
            (!cache.is_empty()).then_some(CacheUse {
                cache: &cache,
                template_overrides: &loaded.files.templates,
            }),
        )
        .map_err(|e| Error::of(Area::Render, e))?;
    }
    let warnings = loaded.warnings.clone();
    // Freeing a large inventory takes a while: on a thread of its own (see `build`).
    std::thread::spawn(move || drop(loaded));
    Ok(warnings)
}

fn all_secrets_available(l: &Loaded) -> bool {
    let pages = scope_secrets(&l.inv.phones, &l.site_secret);
    l.inv.phones.iter().all(|p| {
        pages[&(Arc::as_ptr(&p.scope) as usize)].is_some()
            && p.lines
                .iter()
                .all(|line| secrets::check_available(&line.password, &l.site_secret).is_ok())
    })
}

/// The live site's manifest named by `--previous` (a web root folder, a manifest file, or the
/// site's URL), and where it came from. Untrusted input: checked before use.
pub fn previous_manifest(prev: &str) -> Result<(Option<Manifest>, Option<String>)> {
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
                let mut b = Vec::new();
                use std::io::Read;
                r.into_reader()
                    .take(256 << 20)
                    .read_to_end(&mut b)
                    .map_err(|e| Error::of(Area::Render, format!("--previous {url}: {e}")))?;
                (b, url)
            }
            // No site yet: nothing the phones can have applied.
            Err(ureq::Error::Status(404, _)) => return Ok((None, Some(url))),
            Err(e) => {
                return Err(Error::of(Area::Render, format!(
                    "--previous {url}: {e}; give the live site's URL, a web root folder or a manifest.json (or leave --previous out on a first build)"
                )))
            }
        }
    } else {
        let p = Path::new(prev);
        let file = if p.is_dir() {
            p.join("manifest.json")
        } else {
            p.to_path_buf()
        };
        match std::fs::read(&file) {
            Ok(b) => (b, file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.is_dir() => {
                return Ok((None, Some(file.display().to_string())))
            }
            Err(e) => return Err(Error::io(&file, e)),
        }
    };
    let m = Manifest::from_untrusted(&bytes)
        .map_err(|e| Error::of(Area::Render, format!("--previous {from}: {e}")))?;
    Ok((Some(m), Some(from)))
}

/// `provsite build`: render, number, write the release, switch the entry points, prune.
pub fn build(opts: &Options, progress: &dyn Progress) -> Result<Summary> {
    let t0 = std::time::Instant::now();
    let manifest_path = opts.out.join("manifest.json");
    let seen = output::file_version(&manifest_path);
    let checked = output::check_out(&opts.out, &opts.inventory)?;
    let staging = Staging::begin(&opts.out)?;
    let mut loaded = load(opts, Some(&staging.firmware_dir()), true)?;
    let parse_cache = loaded.parse_cache.take();
    timing("load", t0);
    let config_dir = staging.release_dir().join("config");
    std::fs::create_dir_all(&config_dir).map_err(|e| Error::io(&config_dir, e))?;
    // The output folder's manifest: a record for the numbering, and what unchanged phone files
    // are linked from.
    // Read by check_out already; again only if another build replaced it before the lock.
    let previous = match checked {
        Some(m) if seen.is_some() && output::file_version(&manifest_path) == seen => Some(m),
        _ => output::read_manifest(&opts.out)?,
    };
    timing("live manifest read", t0);
    // The release's number is known before any phone is: the files are written with it, and
    // only the phones that keep an older number are changed afterwards.
    let plan = {
        let mut past = history::History::new(&loaded, &opts.out, None, previous.as_ref());
        history::plan(loaded.head, opts.worktree, &mut past)?
    };
    let guessed_sn = config_sn::format(plan.release_sn);
    let cache = RenderCache::load(staging.work_dir());
    let rendered = render_all_into(
        &loaded.inv,
        &loaded.templates,
        &loaded.firmware,
        &loaded.site_secret,
        progress,
        Some(Stage {
            dir: &config_dir,
            sn: &guessed_sn,
            mtime: output::release_mtime(loaded.head.time),
            live: previous.as_ref(),
        }),
        Some(CacheUse {
            cache: &cache,
            template_overrides: &loaded.files.templates,
        }),
    )
    .map_err(|e| Error::of(Area::Render, e))?;
    let inv = &loaded.inv;

    timing("render", t0);
    progress.stage("history", 0);
    let digests: HashMap<String, String> = inv
        .phones
        .iter()
        .zip(&rendered.phones)
        .map(|(p, f)| (p.mac.to_string(), f.digest.clone()))
        .collect();
    let (numbering, renumbered, live_from) =
        number_phones(opts, &loaded, &rendered, &digests, previous.as_ref(), plan)?;
    // Not needed past the numbering: its memory goes before the write stage's peak.
    drop(digests);
    let dirty = opts.worktree;
    let release = crate::release::name(numbering.release_sn, loaded.head.id, dirty);
    let mtime = output::release_mtime(loaded.head.time);

    timing("history", t0);
    // Write the release under staging.
    progress.stage("write", inv.phones.len() as u64);
    let rel_dir = staging.release_dir();
    let mut files_written = 0;
    let mut manifest = Manifest {
        format: crate::manifest::FORMAT,
        generator: format!("provsite {}", env!("CARGO_PKG_VERSION")),
        release: release.clone(),
        commit: loaded.head.id.to_string(),
        commit_time: loaded.head.time,
        config_sn: config_sn::format(numbering.release_sn),
        dirty,
        base_url: inv.site.base_url.clone(),
        site: inv.site.name.clone(),
        models: BTreeMap::new(),
        firmware: BTreeMap::new(),
        phones: BTreeMap::new(),
    };
    let (entry_points, shared_written) =
        write_model_files(&staging, &loaded, &rendered, &release, mtime, &mut manifest)?;
    files_written += shared_written;
    // A phone the cache spared rendering whose live file cannot serve is rendered here.
    let render_late = |p: &inventory::Phone| -> Result<Vec<u8>> {
        let s = phone_secrets(p, &loaded.site_secret).ok_or_else(|| {
            Error::of(
                Area::Render,
                format!("a password of phone {} is unavailable", p.mac),
            )
        })?;
        let files = &rendered.models[&p.variant()];
        render::render_phone(&loaded.templates, &inv.site, files, p, &s, true)
            .map(|f| f.body)
            .map_err(|e| Error::of(Area::Render, e))
    };
    let (phone_entries, linked, rendered_late) = write_phone_files(
        inv,
        &rendered.phones,
        &rendered.cached,
        (&guessed_sn, loaded.head.time),
        &render_late,
        &numbering,
        &config_dir,
        &release,
        previous.as_ref().map(|m| (m, opts.out.as_path())),
        progress,
    )?;
    files_written += phone_entries.len() - linked;
    timing("write: phone files", t0);
    manifest.phones.extend(phone_entries);
    let release_manifest = rel_dir.join("manifest.json");
    output::write_with(&release_manifest, mtime, |f| {
        manifest.write_to(std::io::BufWriter::with_capacity(1 << 16, f))
    })?;
    files_written += 1;

    timing("write", t0);
    let work = staging.work_dir().to_path_buf();
    // Switch.
    let firmware_stored = staging.publish(
        &release,
        &entry_points,
        previous.as_ref(),
        &loaded.firmware.staged,
        mtime,
    )?;
    timing("publish", t0);
    loaded.firmware.save_cache();
    if let Some(p) = parse_cache {
        p.finish();
    }
    RenderCache::save(
        &work,
        rendered
            .keys
            .iter()
            .zip(&rendered.phones)
            .filter_map(|(k, f)| Some((k.as_ref()?, f.digest.as_str()))),
    );
    let known: Vec<&Manifest> = std::iter::once(&manifest)
        .chain(previous.as_ref())
        .collect();
    let pruned = output::prune(&opts.out, opts.keep, &release, &known)?;
    timing("prune", t0);
    let changed_phones = manifest
        .phones
        .iter()
        .filter(|(mac, p)| {
            previous
                .as_ref()
                .and_then(|m| m.phones.get(*mac))
                .is_none_or(|old| old.config_sn != p.config_sn)
        })
        .map(|(mac, _)| mac.clone())
        .collect();
    let summary = Summary {
        release,
        commit: loaded.head.id.to_string(),
        config_sn: config_sn::format(numbering.release_sn),
        dirty,
        phones: inv.phones.len(),
        changed_phones,
        files_written: files_written + entry_points.len() + 1,
        files_linked: linked,
        firmware_stored,
        releases_pruned: pruned.releases,
        firmware_pruned: pruned.firmware,
        renumbered,
        live_from,
        commits_rendered: numbering.commits_rendered,
        phones_rendered: rendered.rendered + rendered_late,
        files_parsed: loaded.files_parsed,
        warnings: loaded.warnings.clone(),
    };
    // Freeing millions of small allocations takes a noticeable share of a large build (see the
    // README's benchmark section): it happens on a thread of its own, so the command returns (and
    // the CLI exits) without waiting; in a longer-lived process the memory is freed all the same.
    let garbage = (loaded, rendered, manifest, previous, numbering);
    std::thread::spawn(move || drop(garbage));
    Ok(summary)
}

/// Numbers the phones: git history first, then the live record (the same config_sn must always
/// mean the same bytes). Returns the numbering, the phones the live record renumbered, and where
/// that record came from.
fn number_phones(
    opts: &Options,
    loaded: &Loaded,
    rendered: &Rendered,
    digests: &HashMap<String, String>,
    previous: Option<&Manifest>,
    plan: history::Plan,
) -> Result<(Numbering, Vec<String>, Option<String>)> {
    let mut past = history::History::new(
        loaded,
        &opts.out,
        (!opts.worktree).then_some(rendered),
        previous,
    );

    let mut numbering: Numbering =
        history::number_planned(plan, opts.worktree, digests, &mut past)?;
    // The live record: --previous, else the output folder's manifest.
    let (given, given_from) = match &opts.previous {
        Some(p) => previous_manifest(p)?,
        None => (None, None),
    };
    let (live, live_from) = match (&opts.previous, &given) {
        (Some(_), _) => (given.as_ref(), given_from),
        (None, _) => (
            previous,
            previous.map(|_| opts.out.join("manifest.json").display().to_string()),
        ),
    };
    let renumbered = match live {
        Some(m) => history::keep_invariant(
            &mut numbering,
            &history::Live::from_manifest(m),
            digests,
            loaded.head.time,
        ),
        None => Vec::new(),
    };
    Ok((numbering, renumbered, live_from))
}

/// Entry points by file name, with their bytes.
type EntryPoints = Vec<(String, Vec<u8>)>;

/// Writes each model's entry point into the staged release and its shared files (common file,
/// telcfg) into the staged `common/`, and lists them and the firmware in the manifest. Returns
/// the entry points (to switch last) and how many files were written.
fn write_model_files(
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

/// The manifest's phone entries, how many files were linked, and how many rendered late.
type Written = (Vec<(String, PhoneEntry)>, usize, usize);

/// Puts each phone's config_sn into its file, staged in `config_dir` by the render, from several
/// threads: creating files is
/// latency-bound, so a few writers keep the disk busy. A file identical to the live release's
/// (same bytes, same mtime) becomes a hard link to it, which costs a fraction of a write.
/// Returns the manifest's phone entries, how many were linked, and how many were rendered here
/// (spared by the render cache, but with no live file to link).
#[allow(clippy::too_many_arguments)]
fn write_phone_files(
    inv: &Inventory,
    files: &[PhoneFile],
    cached: &[bool],
    guessed: (&str, i64),
    render_late: &(dyn Fn(&inventory::Phone) -> Result<Vec<u8>> + Sync),
    numbering: &Numbering,
    config_dir: &Path,
    release: &str,
    previous: Option<(&Manifest, &Path)>,
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
        let phones = &inv.phones[offset..offset + files.len()];
        let mut out = Vec::with_capacity(phones.len());
        let (mut linked, mut late) = (0, 0);
        for (i, (p, f)) in phones.iter().zip(files).enumerate() {
            let Stamp { sn, time } = numbering.phones[p.mac.as_str()];
            let sn = config_sn::format(sn);
            let name = render::phone_file_name(p);
            let target = config_dir.join(&name);
            let path = format!("releases/{release}/config/{name}");
            let mtime = output::release_mtime(time);
            let live_entry = previous.and_then(|(m, _)| m.phones.get(p.mac.as_str()));
            // The live file, when it has this phone's bytes under this number and time.
            // `staged`: a staged file is there and gives way to the link.
            let link_live = |_target: &Path, staged: bool| {
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
                    Some(old) if link_live(&target, false) => {
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
                        let body = render::fill_config_sn(&render_late(p)?, &sn);
                        output::write_new_file(&target, &body, mtime)?;
                        file_entry("phone", path, &body)
                    }
                }
            } else {
                // Written by the render with the release's number and time: right for every
                // phone that changed in the commit built; the others' number goes in place.
                let staged = f.staged.as_ref().ok_or_else(|| {
                    Error::of(Area::Output, format!("phone {} was not staged", p.mac))
                })?;
                let guessed_right = sn == guessed.0 && time == guessed.1;
                let rewrite = if guessed_right {
                    None
                } else {
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
                if same_as_live && link_live(&target, true) {
                    linked += 1;
                } else if let Some((written, body)) = &rewrite {
                    output::fill_in_place(&target, written, body, mtime)?;
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
        Ok((out, linked, late))
    });
    let mut all = Vec::with_capacity(inv.phones.len());
    let (mut linked, mut late) = (0, 0);
    for r in results {
        let (entries, n, l) = r?;
        all.extend(entries);
        linked += n;
        late += l;
    }
    Ok((all, linked, late))
}

fn timing(stage: &str, t0: std::time::Instant) {
    if std::env::var_os("PROVSITE_TIMING").is_some() {
        // Peak and current resident memory so far (Linux), to see which stage holds what.
        let mem = std::fs::read_to_string("/proc/self/status")
            .ok()
            .map(|s| {
                s.lines()
                    .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
                    .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        eprintln!(
            "timing: {stage} done at {:.3}s {mem}",
            t0.elapsed().as_secs_f64()
        );
    }
}

fn file_entry(role: &str, path: String, bytes: &[u8]) -> FileEntry {
    FileEntry {
        role: role.to_string(),
        path,
        sha256: crate::hashing::sha256_hex(bytes),
        size: bytes.len() as u64,
    }
}
