//! The pipeline, as one readable sequence: [`load`] (source → inventory → firmware → secrets) then
//! [`build`] (render → number → write). `check` is `load` plus rendering, writing nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config_sn;
use crate::error::{Area, Diagnostic, Error, Result};
use crate::firmware_store::FirmwareFiles;
use crate::history::{self, Numbering, Stamp};
use crate::inventory::{self, Inventory, Secret, SourceText};
use crate::manifest::{FileEntry, FirmwareEntry, Manifest, ModelEntry, PhoneEntry};
use crate::output::{self, Staging};
use crate::parallel;
use crate::render::{self, ModelFiles, PhoneFile, PhoneSecrets, Templates};
use crate::render_cache::{self, Key, RenderCache};
use crate::secrets::{self, Missing, SiteSecret};
use crate::source::InventoryFiles;

mod live;
mod load;
mod passwords;
mod record;
mod render_all;
mod write;

use live::{links_ahead_worth, live_config, live_files, secret_id, SECRET_ID};
pub use live::{manifest_at, previous_manifest};
pub use load::{load, Loaded};
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
