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
use crate::source::{CommitInfo, InventoryFiles, Role, Snapshot, Source};

mod live;
mod passwords;
mod record;
mod render_all;
mod write;

use live::{links_ahead_worth, live_config, live_files, secret_id, SECRET_ID};
use passwords::{check_secrets, scope_secrets};
pub(crate) use passwords::{phone_secrets, phone_secrets_with, PageSecrets};
pub use record::RecordNext;
pub use render_all::{render_all, render_all_into, CacheUse, Guessed, Purpose, Rendered, Stage};
use write::{write_model_files, write_phone_files};

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
    /// Phones files whose phones came resolved from the record of the last build (see
    /// `inventory::record`): neither parsed nor resolved again.
    pub files_recorded: usize,
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
    /// Phones files parsed from their YAML (the others came from the parse cache or the record
    /// of resolved phones).
    pub files_parsed: usize,
    /// Phones files whose phones came from the record of resolved phones.
    pub files_recorded: usize,
    /// The next record of resolved phones, for a build to write once it succeeded.
    pub record: Option<RecordNext>,
    /// The record there did not serve and is not replaced: a build removes it once it succeeded.
    pub record_stale: bool,
}

/// A phones file's phones (or its problems), whether they came from the parse cache, and the
/// JSON of a new cache entry.
type Parsed = (
    std::result::Result<Vec<PhoneDoc>, Vec<Diagnostic>>,
    bool,
    Option<Vec<u8>>,
);

/// Reads a phones file: from the parse cache by its blob id, else parsed (and, when a new cache
/// is `writing`, encoded for it). A file whose text was left unread because the cache held it,
/// but whose entry does not read back, has its text read now.
fn parse_one(
    (src, blob): &(SourceText, Option<git2::Oid>),
    cache: &ParseCache,
    writing: bool,
    late: &dyn inventory::LateText,
) -> Parsed {
    if let Some(docs) = blob.and_then(|b| cache.get(b)) {
        return (Ok(docs), true, None);
    }
    let read;
    let src = match (src.text.is_empty(), blob) {
        (true, Some(_)) => match late.text(&src.path) {
            Some(text) => {
                read = SourceText {
                    path: src.path.clone(),
                    text: text.to_string(),
                };
                &read
            }
            None => {
                let d = Diagnostic::error(&src.path, "cannot read this file from the repository")
                    .hint("check the repository with `git fsck`");
                return (Err(vec![d]), false, None);
            }
        },
        _ => src,
    };
    let docs = inventory::parse_phones(src);
    let json = match (&docs, blob) {
        (Ok(d), Some(_)) if writing => parse_cache::encode(d),
        _ => None,
    };
    (docs, false, json)
}

/// The texts of the phones files left unread (the parse cache held their phones), read from the
/// repository on a handle of their own when a problem is to be located in one, once each.
struct Unread<'a> {
    blobs: HashMap<&'a str, git2::Oid>,
    repo: std::sync::Mutex<Option<Source>>,
    texts: std::sync::Mutex<HashMap<String, Arc<str>>>,
}

impl<'a> Unread<'a> {
    fn new(source: &Source, files: &'a InventoryFiles) -> Self {
        let blobs: HashMap<&str, git2::Oid> = files.unread_phones().collect();
        // A handle for any thread; none is needed when every text was read.
        let repo = (!blobs.is_empty()).then(|| source.reopen().ok()).flatten();
        Unread {
            blobs,
            repo: std::sync::Mutex::new(repo),
            texts: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl inventory::LateText for Unread<'_> {
    fn text(&self, file: &str) -> Option<Arc<str>> {
        let blob = *self.blobs.get(file)?;
        let mut texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = texts.get(file) {
            return Some(Arc::clone(t));
        }
        let repo = self.repo.lock().unwrap_or_else(|e| e.into_inner());
        let text: Arc<str> = repo.as_ref()?.read_text(blob, file).ok()?.text.into();
        texts.insert(file.to_string(), Arc::clone(&text));
        Some(text)
    }
}

/// The site secret: PROVSITE_SECRET, --secret-file, or the example inventory's file (warned).
fn site_secret(
    opts: &Options,
    source: &Source,
    snap: Snapshot,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
    site: &SourceText,
) -> Result<SiteSecret> {
    let site_path = site.path.as_str();
    // The problems below are all about this one field.
    let at = crate::yaml_locate::locate_value(
        &site.text,
        &[crate::yaml_locate::key("example_secret_file")],
    );
    let s =
        SiteSecret::load(opts.secret_file.as_deref()).map_err(|e| Error::of(Area::Render, e))?;
    if s.is_set() {
        return Ok(s);
    }
    let Some(rel) = &inv.site.example_secret_file else {
        return Ok(s);
    };
    let Some(path) = inventory::join_repo_path(&source.inventory_dir, rel) else {
        diags.push(
            Diagnostic::error(
                site_path,
                format!("example_secret_file `{rel}` leaves the repository"),
            )
            .at(at),
        );
        return Ok(s);
    };
    let Some((blob, size)) = source.stat(snap, &path)? else {
        diags.push(
            Diagnostic::error(site_path, format!("example_secret_file {path} not found")).at(at),
        );
        return Ok(s);
    };
    if size > secrets::MAX_SECRET_FILE {
        diags.push(
            Diagnostic::error(
                site_path,
                format!(
                    "example_secret_file {path} holds more than {} KiB: a secret is one line of text",
                    secrets::MAX_SECRET_FILE >> 10
                ),
            )
            .at(at)
            .hint("name the example's secret file, or remove example_secret_file"),
        );
        return Ok(s);
    }
    let bytes = source.with_reader(snap, &path, blob, |r| {
        use std::io::Read;
        let mut b = Vec::new();
        <&mut dyn Read as Read>::take(r, secrets::MAX_SECRET_FILE)
            .read_to_end(&mut b)
            .map_err(|e| Error::io(&path, e))?;
        Ok(b)
    })?;
    diags.push(
        Diagnostic::warning(site_path, format!("using the example's development secret {path}: passwords derived from it are public"))
            .at(at)
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
    // The parse cache beside the web root is read (and its checksum checked) while the commit's
    // files are listed; a build (with staging) writes the next one. The text of a phones file
    // the cache holds is not read (inflating 1,000 files of 100 phones takes some 0.2 CPU-s and
    // 46 MB), unless a problem is to be located in it (`Unread`).
    let work = output::work_dir(&opts.out).ok();
    // The record of resolved phones is read on a thread of its own; whether it is for this
    // commit's site and groups is known once the files are listed (by their blob ids), and then
    // the texts of the phones files it holds are not read. When it serves, the parse cache is
    // neither read nor written (the files it lacks are parsed): it is read ahead only when there
    // is no record, and otherwise once the record turns out not to serve.
    let record_there = work
        .as_deref()
        .is_some_and(|w| w.join(inventory::record::FILE).is_file());
    let (files, cache, record) = std::thread::scope(|s| {
        let load_cache = || {
            work.as_deref()
                .filter(|w| w.is_dir())
                .map(ParseCache::load)
                .unwrap_or_default()
        };
        let ahead = std::cell::Cell::new((!record_there).then(|| s.spawn(load_cache)));
        let reading = std::cell::Cell::new(
            work.as_deref()
                .filter(|_| record_there)
                .map(|w| s.spawn(move || inventory::record::Record::read(w))),
        );
        let cache = std::cell::OnceCell::new();
        let loaded = || {
            cache.get_or_init(|| match ahead.take() {
                Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                None => load_cache(),
            })
        };
        let record = std::cell::OnceCell::new();
        let known = |listed: &[crate::source::Listed]| -> Vec<bool> {
            let context = inventory::record::context(
                &source.inventory_dir,
                listed
                    .iter()
                    .filter(|f| matches!(f.role, Role::Site | Role::Group))
                    .map(|f| (f.path.as_str(), f.blob)),
            );
            let record: &inventory::record::Record = record.get_or_init(|| {
                reading
                    .take()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .unwrap_or_default()
                    .for_context(&context)
            });
            let phones = listed.iter().map(|f| (f.role == Role::Phones, f));
            if record.is_empty() {
                let cache = loaded();
                phones.map(|(p, f)| p && cache.contains(f.blob)).collect()
            } else {
                phones
                    .map(|(p, f)| p && record.contains(&f.path, f.blob))
                    .collect()
            }
        };
        let files = source.read_inventory_known(snap, &known);
        // Not asked (the working tree's files have no blob id): no record.
        let record = record.into_inner().unwrap_or_default();
        if record.is_empty() {
            loaded();
        }
        let cache = cache.into_inner().unwrap_or_default();
        (files, Arc::new(cache), record)
    });
    let files = files?;
    timing("load: read", t0);
    let group_srcs: Vec<SourceText> = files.groups.iter().map(|(s, _)| s.clone()).collect();
    let texts: Vec<&SourceText> = files.phones.iter().map(|(s, _)| s).collect();
    let unread = Unread::new(&source, &files);
    let mut parse_diags = Vec::new();
    let mut files_parsed = 0;
    let mut record_hits = Vec::with_capacity(files.phones.len());
    let mut files_recorded = 0;
    let mut own_scope = std::collections::HashSet::new();
    // The next parse cache: written unless the record served (the parse cache was not read).
    let mut pending = work
        .as_deref()
        .filter(|_| staging.is_some() && record.is_empty())
        .and_then(|w| parse_cache::Pending::begin(w, Arc::clone(&cache)));
    // The files are read (from the cache, else parsed) on worker threads a little ahead of
    // resolving, which takes them one by one, in order, on this one.
    let writing = pending.is_some();
    // site.yaml first: the workers resolve each phone as far as its own entry goes (with the
    // site's models) as soon as its file is parsed, and this thread adds the rest in order.
    let first = inventory::resolve_site_first(&files.site, &source.inventory_dir);
    // The record's context, from the files read (none for the working tree's: no blob ids).
    let context = files.site_blob.and_then(|site| {
        let groups = files
            .groups
            .iter()
            .map(|(g, blob)| Some((g.path.as_str(), (*blob)?)));
        let all: Option<Vec<(&str, git2::Oid)>> =
            std::iter::once(Some((files.site.path.as_str(), site)))
                .chain(groups)
                .collect();
        Some(inventory::record::context(
            &source.inventory_dir,
            all?.into_iter(),
        ))
    });
    let recorded = |(src, blob): &(SourceText, Option<git2::Oid>)| {
        let first = first.as_ref().ok()?;
        let phones = record.get(&src.path, (*blob)?)?;
        phones.iter().all(|p| p.fits(first)).then_some(phones)
    };
    let read = |file: &(SourceText, Option<git2::Oid>)| {
        if let Some(phones) = (!record.is_empty()).then(|| recorded(file)).flatten() {
            return ReadFile::Recorded(phones);
        }
        let (mut docs, hit, json) = parse_one(file, &cache, writing, &unread);
        let own = match (&mut docs, &first) {
            (Ok(docs), Ok(first)) => {
                // Each phone's own parts are taken from its entry: moved into the phone, and
                // what is left freed here, by the thread that made it, not by the resolver
                // (freeing another thread's memory costs more).
                inventory::take_own(first, &file.0, docs, &unread)
            }
            _ => inventory::OwnParts::default(),
        };
        ReadFile::Parsed(docs, hit, json, own)
    };
    // The firmware depends on site.yaml alone: it is checked (and, for a build, staged) on a
    // thread of its own, with a repository handle of its own, while the phones are read.
    let store_root = opts.out.join("firmware");
    let fw_site = first
        .as_ref()
        .ok()
        .and_then(inventory::SiteFirst::valid_site)
        .cloned();
    // Without a second handle, the firmware is checked after the phones, as below.
    let fw_source = fw_site.as_ref().and_then(|_| source.reopen().ok());
    let (inv, inv_diags, fw_early) = std::thread::scope(|scope| {
        let fw_early = fw_site.as_ref().zip(fw_source).map(|(site, src)| {
            let (site_src, store_root) = (&files.site, &store_root);
            scope.spawn(move || {
                firmware_store::prepare(&src, snap, site, site_src, store_root, staging)
            })
        });
        let parsed = parallel::in_order_ahead(scope, &files.phones, parallel::cores(), 64, &read);
        let docs = files
            .phones
            .iter()
            .zip(parsed)
            .filter_map(|((src, blob), read)| {
                let (result, hit, json, own) = match read {
                    ReadFile::Recorded(phones) => {
                        record_hits.push(true);
                        files_recorded += 1;
                        // The parse cache keeps the file's entry, for a build the record cannot serve.
                        if let (Some(p), Some(blob)) = (pending.as_mut(), blob) {
                            if cache.contains(*blob) {
                                p.keep(*blob);
                            }
                        }
                        return Some((src, inventory::FilePhones::Recorded(phones)));
                    }
                    ReadFile::Parsed(result, hit, json, own) => (result, hit, json, own),
                };
                record_hits.push(false);
                files_parsed += usize::from(!hit);
                if let (Some(p), Some(blob)) = (pending.as_mut(), blob) {
                    match (hit, json) {
                        (true, _) => p.keep(*blob),
                        (false, Some(json)) => p.add(*blob, json),
                        (false, None) => {}
                    }
                }
                match result {
                    Ok(docs) => Some((src, inventory::FilePhones::Parsed(Arc::new(docs), own))),
                    Err(d) => {
                        parse_diags.extend(d);
                        None
                    }
                }
            });
        let texts = inventory::PhoneTexts {
            texts: &texts,
            late: &unread,
            bytes: files.phone_bytes,
        };
        let (inv, inv_diags) = inventory::resolve_each(
            first.as_ref(),
            &files.site,
            &group_srcs,
            texts,
            docs,
            &mut own_scope,
        );
        let fw_early = fw_early.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (inv, inv_diags, fw_early)
    });
    if let Some(p) = pending.as_mut() {
        p.close();
    }
    drop(cache);
    // Recorded only from an inventory that resolved without a single problem (see
    // `inventory::record`), and by a build.
    let record_served = !record.is_empty();
    let record = match (&inv, &work, &context) {
        (Some(_), Some(w), Some(context))
            if staging.is_some() && parse_diags.is_empty() && inv_diags.is_empty() =>
        {
            record
                .begin_next(w, context)
                .map(|next| RecordNext::new(next, record_hits, own_scope))
        }
        _ => None,
    };
    // A record that did not serve and that this build does not replace goes once it succeeded:
    // the next build then reads the parse cache ahead, as without one.
    let record_stale = record_there && !record_served && record.is_none() && staging.is_some();
    timing("load: parse and resolve", t0);
    // Parse errors first, as each file is read; then what resolving found.
    diags.extend(parse_diags);
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
        if let Some(Ok((_, fw_diags))) = fw_early {
            diags.extend(fw_diags);
        }
        return Err(fail(diags));
    };
    let site_secret = site_secret(opts, &source, snap, &inv, &mut diags, &files.site)?;
    check_secrets(
        &inv,
        &site_secret,
        (&files, &unread),
        secrets_required,
        &mut diags,
    );
    timing("load: secrets", t0);
    // The site resolved with the phones is the one the firmware was checked for; were it ever
    // not, the firmware is checked again for it.
    let (firmware, fw_diags) = match fw_early {
        Some(fw) if fw_site.is_some_and(|s| s.firmware == inv.site.firmware) => fw?,
        _ => firmware_store::prepare(&source, snap, &inv.site, &files.site, &store_root, staging)?,
    };
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
        parse_cache: pending,
        files_parsed,
        files_recorded,
        record,
        record_stale,
    })
}

/// A phones file as a reading thread gives it to the resolver.
enum ReadFile {
    /// From the record of resolved phones.
    Recorded(Vec<inventory::record::Recorded>),
    /// Parsed (or from the parse cache, `hit`), with its new parse-cache entry and its phones'
    /// own parts.
    Parsed(
        std::result::Result<Vec<PhoneDoc>, Vec<Diagnostic>>,
        bool,
        Option<Vec<u8>>,
        inventory::OwnParts,
    ),
}

fn fail(mut diags: Vec<Diagnostic>) -> Error {
    sort_diagnostics(&mut diags);
    Error::Invalid(diags)
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
            Purpose::Check,
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

/// `provsite build`: render, number, write the release, switch the entry points, prune.
pub fn build(opts: &Options, progress: &dyn Progress) -> Result<Summary> {
    let t0 = std::time::Instant::now();
    let out_folder = output::check_out(&opts.out, &opts.inventory)?;
    let work_existed = output::work_dir(&opts.out).is_ok_and(|w| w.exists());
    let mut staging = Staging::begin(&opts.out)?;
    // The output folder's manifest (a record for the numbering, and what unchanged phone files
    // are linked from) is read, under the lock, on a thread of its own while the inventory
    // loads: at 100,000 phones both take a while. Loading writes nothing outside the work folder.
    let config_dir = staging.release_dir().join("config");
    let releases_there = output::release_names(&opts.out);
    // Once it is read, the live release's phone files are linked into the staged one, ahead,
    // while the inventory loads and renders (see `links_ahead_worth`). Unless a release that the
    // pruning after this build removes can be taken over as the staged one (see
    // `output::TakeOver`): it is listed meanwhile, on a thread of its own (the live release is
    // known by its files, before its manifest is read), and taken once the release's number is.
    let (previous, ahead, live_files, take_over, loaded) = std::thread::scope(|s| {
        let listing =
            (out_folder == output::OutFolder::WithManifest && !opts.worktree).then(|| {
                s.spawn(|| {
                    let live = output::live_release_by_link(&opts.out, &releases_there)?;
                    let old = crate::release::recyclable(&releases_there, &live, None, opts.keep)?;
                    output::TakeOver::list(&opts.out, &old, &live)
                })
            });
        let reading = (out_folder == output::OutFolder::WithManifest).then(|| {
            s.spawn(|| {
                let previous = output::read_own_manifest(&opts.out);
                let (ahead, files) = match &previous {
                    Ok(Some(m)) => {
                        let worth = links_ahead_worth(opts, m);
                        // Known before the listing ends: whether a release will likely be taken.
                        let take_over = !opts.worktree
                            && crate::release::recyclable(
                                &releases_there,
                                &m.release,
                                None,
                                opts.keep,
                            )
                            .is_some();
                        if take_over {
                            (None, Some((live_files(m), worth)))
                        } else if worth && std::fs::create_dir_all(&config_dir).is_ok() {
                            let (from, to) = (live_config(opts, m), config_dir.clone());
                            (Some(output::Ahead::start(from, to, live_files(m))), None)
                        } else {
                            (None, None)
                        }
                    }
                    _ => (None, None),
                };
                (previous, ahead, files)
            })
        });
        let loaded = load(opts, Some(&staging.firmware_dir()), true);
        let (previous, ahead, files) = match reading {
            Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            None => (Ok(None), None, None),
        };
        let take_over =
            listing.and_then(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (previous, ahead, files, take_over, loaded)
    });
    // The folder's verdict first: a folder that is not provsite's is refused whatever the
    // inventory says, and the work folder this build made beside it goes.
    let previous = match previous {
        Ok(p) => p,
        Err(e) => {
            let work = staging.work_dir().to_path_buf();
            drop(ahead);
            drop(loaded);
            drop(staging);
            if !work_existed {
                let _ = std::fs::remove_dir_all(&work);
            }
            return Err(e);
        }
    };
    let mut loaded = loaded?;
    let parse_cache = loaded.parse_cache.take();
    let mut record = loaded.record.take();
    timing("load", t0);
    // The release's number is known before any phone is: the files are written with it, and
    // only the phones that keep an older number are changed afterwards.
    let (plan, guessed) = {
        let mut past = history::History::new(&loaded, &opts.out, None, previous.as_ref());
        let plan = history::plan(loaded.head, opts.worktree, &mut past)?;
        let files: std::collections::HashSet<&str> = loaded
            .inv
            .phones
            .iter()
            .map(|p| p.origin.file.as_str())
            .collect();
        let guess = history::guess(&plan, opts.worktree, &files, &past);
        (plan, Guessed::new(&guess))
    };
    timing("plan", t0);
    // A release that the pruning after this build removes is taken over as the staged one.
    // The release's name as planned: the numbering may still raise its number (never lower it),
    // which keeps it newer than the release taken over.
    let planned = crate::release::name(plan.release_sn, loaded.head.id, opts.worktree);
    let mut took_over = false;
    let ahead = match (ahead, &previous, live_files, take_over) {
        (None, Some(m), Some((files, worth)), Some(plan)) if plan.live_release == m.release => {
            let exact =
                crate::release::recyclable(&releases_there, &m.release, Some(&planned), opts.keep);
            took_over = exact.as_ref() == Some(&plan.name) && staging.take_over(&plan)?;
            took_over.then(|| {
                let (from, kept) = (live_config(opts, m), plan.kept);
                output::Ahead::start_over(from, config_dir.clone(), files, kept, worth)
            })
        }
        (ahead, ..) => ahead,
    };
    std::fs::create_dir_all(&config_dir).map_err(|e| Error::io(&config_dir, e))?;
    timing("take over", t0);
    let cache = RenderCache::load(staging.work_dir());
    let rendered = render_all_into(
        &loaded.inv,
        &loaded.templates,
        &loaded.firmware,
        &loaded.site_secret,
        progress,
        Purpose::Stage(Stage {
            dir: &config_dir,
            guessed: &guessed,
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
    // In MAC order, as the phones are (see `history::ByMac`).
    let digests: history::ByMac<&str> = inv
        .phones
        .iter()
        .zip(&rendered.phones)
        .map(|(p, f)| (p.mac.as_str(), f.digest.as_str()))
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
    let made = ahead.map(output::Ahead::finish).unwrap_or_default();
    let linked_ahead = made.linked;
    timing("ahead", t0);
    let (phone_entries, linked, rendered_late, claimed, claimed_stale) = write_phone_files(
        inv,
        &rendered.phones,
        &rendered.cached,
        &guessed,
        &render_late,
        &numbering,
        &config_dir,
        &release,
        previous.as_ref().map(|m| (m, opts.out.as_path())),
        &linked_ahead,
        &made.stale,
        progress,
    )?;
    if claimed < linked_ahead.len() {
        // Linked ahead for phones this release does not have (removed, or of another model now).
        let names: std::collections::HashSet<String> = inv
            .phones
            .iter()
            .map(|p| render::phone_file_name(p))
            .collect();
        output::remove_names(
            &config_dir,
            linked_ahead.iter().filter(|n| !names.contains(*n)),
        )?;
    }
    if claimed_stale.len() < made.stale.len() {
        // Left in a release taken over, and no phone's file was written over them.
        let claimed: std::collections::HashSet<&String> = claimed_stale.iter().collect();
        output::remove_names(
            &config_dir,
            made.stale.iter().filter(|n| !claimed.contains(n)),
        )?;
    }
    // A name per phone: freed on a thread of its own, as the build's other large sets are.
    std::thread::spawn(move || drop(linked_ahead));
    files_written += phone_entries.len() - linked;
    timing("write: phone files", t0);
    // Written from the list (in MAC order, as the phones are), not from a map built for it,
    // while the render cache's next file is made beside it (written once the release is out).
    let release_manifest = rel_dir.join("manifest.json");
    let (written, render_cache) = std::thread::scope(|s| {
        // The next record of resolved phones, beside it too.
        if let Some(r) = record.as_mut() {
            let (files, phones) = (&loaded.files.phones, &loaded.inv.phones);
            s.spawn(move || r.fill(files, phones));
        }
        let render_cache = s.spawn(|| {
            RenderCache::encode(
                rendered
                    .keys
                    .iter()
                    .zip(&rendered.phones)
                    .filter_map(|(k, f)| Some((k.as_ref()?, f.digest.as_str()))),
            )
        });
        let written = output::write_with(&release_manifest, mtime, |f| {
            manifest.write_with_phones(
                &phone_entries,
                std::io::BufWriter::with_capacity(1 << 16, f),
            )
        });
        let render_cache = render_cache
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (written, render_cache)
    });
    written?;
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
    if let Some(r) = record {
        r.finish();
    } else if loaded.record_stale {
        let _ = std::fs::remove_file(work.join(inventory::record::FILE));
    }
    // Best effort, as the caches: without it the next build links ahead all the same.
    let _ = std::fs::write(work.join(SECRET_ID), secret_id(&loaded.site_secret));
    if let Some(bytes) = render_cache {
        RenderCache::write(&work, &bytes);
    }
    timing("caches", t0);
    let known: Vec<&Manifest> = std::iter::once(&manifest)
        .chain(previous.as_ref())
        .collect();
    let pruned = output::prune(&opts.out, opts.keep, &release, &known)?;
    timing("prune", t0);
    // The phones and the live record are both in MAC order: one walk through the two.
    let mut live = previous.iter().flat_map(|m| m.phones.iter()).peekable();
    let changed_phones = phone_entries
        .iter()
        .filter(|(mac, p)| {
            while live.next_if(|(old, _)| *old < mac).is_some() {}
            live.peek()
                .filter(|(old, _)| *old == mac)
                .is_none_or(|(_, old)| old.config_sn != p.config_sn)
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
        // A release taken over is one pruned.
        releases_pruned: pruned.releases + usize::from(took_over),
        firmware_pruned: pruned.firmware,
        renumbered,
        live_from,
        commits_rendered: numbering.commits_rendered,
        phones_rendered: rendered.rendered + rendered_late,
        files_parsed: loaded.files_parsed,
        files_recorded: loaded.files_recorded,
        warnings: loaded.warnings.clone(),
    };
    // Freeing millions of small allocations takes a noticeable share of a large build (see the
    // README's benchmark section): it happens on a thread of its own, so the command returns (and
    // the CLI exits) without waiting; in a longer-lived process the memory is freed all the same.
    // The numbering borrows from the rest; it is only a map of references.
    drop(numbering);
    let garbage = (loaded, rendered, manifest, previous, phone_entries);
    std::thread::spawn(move || drop(garbage));
    Ok(summary)
}

/// Numbers the phones: git history first, then the live record (the same config_sn must always
/// mean the same bytes). Returns the numbering, the phones the live record renumbered, and where
/// that record came from.
fn number_phones<'a>(
    opts: &Options,
    loaded: &'a Loaded,
    rendered: &'a Rendered,
    digests: &history::ByMac<'a, &'a str>,
    previous: Option<&'a Manifest>,
    plan: history::Plan<'a>,
) -> Result<(Numbering<'a>, Vec<String>, Option<String>)> {
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
