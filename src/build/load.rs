//! Loading a commit: its files listed and read (what the record of resolved phones and the parse
//! cache do not hold), the phones parsed and resolved, the templates, the secrets and the
//! firmware checked. Every problem is collected before failing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{check_secrets, timing, Options, RecordNext};
use crate::error::{sort_diagnostics, Area, Diagnostic, Error, Result};
use crate::firmware_store::{self, FirmwareFiles};
use crate::inventory::record::Record;
use crate::inventory::{self, Inventory, PhoneDoc, SourceText};
use crate::output;
use crate::parallel;
use crate::parse_cache::{self, ParseCache};
use crate::render::Templates;
use crate::secrets::{self, SecretSource, SiteSecret};
use crate::source::{CommitInfo, InventoryFiles, Role, Snapshot, Source};

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
    let work = output::work_dir(&opts.out).ok();
    let work = work.as_deref();
    let record_there = work.is_some_and(|w| w.join(inventory::record::FILE).is_file());
    let (files, cache, record) = read_commit(&source, snap, work, record_there);
    let files = files?;
    timing("load: read", t0);
    let unread = Unread::new(&source, &files);
    let store_root = opts.out.join("firmware");
    let mut r = read_and_resolve(
        (&source, snap, &files, &unread),
        (cache, record),
        work,
        staging,
        &store_root,
    );
    // A record that did not serve and that this build does not replace goes once it succeeded:
    // the next build then reads the parse cache ahead, as without one.
    r.record_stale = record_there && r.record_stale;
    timing("load: parse and resolve", t0);
    // Parse errors first, as each file is read; then what resolving found.
    diags.extend(r.parse_diags);
    diags.extend(r.inv_diags);
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
    let (Some(inv), Some(templates)) = (r.inv, templates) else {
        // Report the firmware's problems in the same run when the site itself is valid.
        if let Some(Ok((_, fw_diags))) = r.fw_early {
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
    let (firmware, fw_diags) = match r.fw_early {
        Some(fw) if r.fw_site.is_some_and(|s| s.firmware == inv.site.firmware) => fw?,
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
        parse_cache: r.pending,
        files_parsed: r.files_parsed,
        files_recorded: r.files_recorded,
        record: r.record,
        record_stale: r.record_stale,
    })
}

/// Lists the commit's files and reads the texts that neither the record of resolved phones nor
/// the parse cache beside the web root (`work`) hold; gives those two, for this commit.
///
/// The parse cache is read (and its checksum checked) while the commit's files are listed. The
/// text of a phones file it holds is not read (inflating 1,000 files of 100 phones takes some
/// 0.2 CPU-s and 46 MB), unless a problem is to be located in it (`Unread`). The record is read
/// on a thread of its own; whether it is for this commit's site and groups is known once the
/// files are listed (by their blob ids), and then the texts of the phones files it holds are
/// not read. When it serves, the parse cache is neither read nor written (the files it lacks
/// are parsed): it is read ahead only when there is no record, and otherwise once the record
/// turns out not to serve.
fn read_commit(
    source: &Source,
    snap: Snapshot,
    work: Option<&Path>,
    record_there: bool,
) -> (Result<InventoryFiles>, Arc<ParseCache>, Record) {
    std::thread::scope(|s| {
        let load_cache = || {
            work.filter(|w| w.is_dir())
                .map(ParseCache::load)
                .unwrap_or_default()
        };
        let ahead = std::cell::Cell::new((!record_there).then(|| s.spawn(load_cache)));
        let reading = std::cell::Cell::new(
            work.filter(|_| record_there)
                .map(|w| s.spawn(move || Record::read(w))),
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
            let record: &Record = record.get_or_init(|| {
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
    })
}

/// What reading and resolving the phones files gave.
struct Resolved {
    inv: Option<Inventory>,
    parse_diags: Vec<Diagnostic>,
    inv_diags: Vec<Diagnostic>,
    /// The site the firmware was checked for, and what that check gave (when it ran beside the
    /// phones, on a repository handle of its own).
    fw_site: Option<inventory::Site>,
    fw_early: Option<Result<(FirmwareFiles, Vec<Diagnostic>)>>,
    pending: Option<parse_cache::Pending>,
    files_parsed: usize,
    files_recorded: usize,
    record: Option<RecordNext>,
    /// The record there (if any) did not serve and is not replaced, by a build.
    record_stale: bool,
}

/// Reads the phones files (from the record, else the parse cache, else parsed) on worker
/// threads a little ahead of resolving, which takes them one by one, in order, on this one,
/// while the firmware is checked (and, for a build, staged under `store_root`) on a thread of
/// its own. A build (`staging`) gets the next parse cache and record to write once it succeeded.
fn read_and_resolve(
    (source, snap, files, unread): (&Source, Snapshot, &InventoryFiles, &Unread),
    (cache, record): (Arc<ParseCache>, Record),
    work: Option<&Path>,
    staging: Option<&Path>,
    store_root: &Path,
) -> Resolved {
    let group_srcs: Vec<SourceText> = files.groups.iter().map(|(s, _)| s.clone()).collect();
    let texts: Vec<&SourceText> = files.phones.iter().map(|(s, _)| s).collect();
    let mut parse_diags = Vec::new();
    let mut files_parsed = 0;
    let mut record_hits = Vec::with_capacity(files.phones.len());
    let mut files_recorded = 0;
    let mut own_scope = std::collections::HashSet::new();
    // The next parse cache: written unless the record served (the parse cache was not read).
    let mut pending = work
        .filter(|_| staging.is_some() && record.is_empty())
        .and_then(|w| parse_cache::Pending::begin(w, Arc::clone(&cache)));
    let writing = pending.is_some();
    // site.yaml first: the workers resolve each phone as far as its own entry goes (with the
    // site's models) as soon as its file is parsed, and this thread adds the rest in order.
    let first = inventory::resolve_site_first(&files.site, &source.inventory_dir);
    let recorded = |(src, blob): &(SourceText, Option<git2::Oid>)| {
        let first = first.as_ref().ok()?;
        let phones = record.get(&src.path, (*blob)?)?;
        phones.iter().all(|p| p.fits(first)).then_some(phones)
    };
    let read = |file: &(SourceText, Option<git2::Oid>)| {
        if let Some(phones) = (!record.is_empty()).then(|| recorded(file)).flatten() {
            return ReadFile::Recorded(phones);
        }
        let (mut docs, hit, json) = parse_one(file, &cache, writing, unread);
        let own = match (&mut docs, &first) {
            (Ok(docs), Ok(first)) => {
                // Each phone's own parts are taken from its entry: moved into the phone, and
                // what is left freed here, by the thread that made it, not by the resolver
                // (freeing another thread's memory costs more).
                inventory::take_own(first, &file.0, docs, unread)
            }
            _ => inventory::OwnParts::default(),
        };
        ReadFile::Parsed(docs, hit, json, own)
    };
    // The firmware depends on site.yaml alone. Without a second repository handle, it is
    // checked after the phones (by `load`).
    let fw_site = first
        .as_ref()
        .ok()
        .and_then(inventory::SiteFirst::valid_site)
        .cloned();
    let fw_source = fw_site.as_ref().and_then(|_| source.reopen().ok());
    let (inv, inv_diags, fw_early) = std::thread::scope(|scope| {
        let fw_early = fw_site.as_ref().zip(fw_source).map(|(site, src)| {
            let site_src = &files.site;
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
            late: unread,
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
    let next = match (&inv, work, record_context(source, files)) {
        (Some(_), Some(w), Some(context))
            if staging.is_some() && parse_diags.is_empty() && inv_diags.is_empty() =>
        {
            record
                .begin_next(w, &context)
                .map(|next| RecordNext::new(next, record_hits, own_scope))
        }
        _ => None,
    };
    let record_stale = !record_served && next.is_none() && staging.is_some();
    Resolved {
        inv,
        parse_diags,
        inv_diags,
        fw_site,
        fw_early,
        pending,
        files_parsed,
        files_recorded,
        record: next,
        record_stale,
    }
}

/// The record's context, from the files read (none for the working tree's: no blob ids).
fn record_context(source: &Source, files: &InventoryFiles) -> Option<[u8; 32]> {
    let site = files.site_blob?;
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
