//! `provsite diff`: what a change of the inventory does to the phones, for a pull request.
//!
//! Both commits are rendered the way `build` renders them, except that passwords are replaced by a
//! label of where they come from (a literal by a digest of it, `{env: NAME}` by its name, a derived
//! one by its label), so the diff needs no secret and never shows one, yet still sees a password
//! change that the repository records. A phone reloads when anything it fetches changes (its own
//! file, its model's common file or telcfg, or the firmware); it upgrades firmware when its model's
//! firmware changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::build::{self, Options, Quiet};
use crate::error::{Area, Error};
use crate::family::ConfigFile;
use crate::family::ModelId;
use crate::hashing::sha256_hex;
use crate::inventory::{self, Inventory, Secret};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub section: String,
    pub key: String,
    /// None: absent on that side. Passwords read `(hidden)`.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhoneDiff {
    pub mac: String,
    pub model: String,
    pub name: Option<String>,
    pub changes: Vec<Change>,
    /// Its shared files (common file, telcfg) changed even if its own file did not.
    pub shared_changed: bool,
    pub upgrades_firmware: bool,
    /// Its firmware set, and the one it leaves when that changed (a rollout reaching it).
    pub firmware: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_before: Option<String>,
}

/// A phone added or removed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PhoneRef {
    pub mac: String,
    pub model: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirmwareChange {
    pub model: String,
    pub role: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub added: Vec<PhoneRef>,
    pub removed: Vec<PhoneRef>,
    pub changed: Vec<PhoneDiff>,
    pub firmware: Vec<FirmwareChange>,
    /// Common-file keys that changed, per model.
    pub common: BTreeMap<String, Vec<Change>>,
    /// Phones that will fetch new files (reload), and those that will flash firmware.
    pub reload: Vec<String>,
    pub upgrade: Vec<String>,
    /// Keys the phones were given and are given no more: they keep the value they have.
    pub kept: Vec<Kept>,
}

/// A key no file of a phone states any more: the phone keeps its old value (a phone applies
/// what its files say and keeps the rest).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Kept {
    pub section: String,
    pub key: String,
    /// The value the phones were last given (`(hidden)` for a password).
    pub value: String,
    pub phones: Vec<String>,
}

impl Kept {
    /// How to reset it, as a raw setting.
    pub fn hint(&self) -> String {
        format!(
            "to give the phones another value, state it: settings: {{{}: {{{}: \"<value>\"}}}}",
            self.section, self.key
        )
    }
}

/// The keys phones of `b` no longer get from any of their files though `a` gave them.
fn kept_keys(a: &Side, b: &Side) -> Vec<Kept> {
    let mut kept: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    let mut families = BTreeMap::new();
    let empty = BTreeMap::new();
    // Per pair of common files (before, now): whether the later lacks a key of the earlier.
    let mut common_lost: HashMap<(&str, &str), bool> = HashMap::new();
    for (mac, (model, _, _, body, fw)) in &b.phones {
        let Some((old_model, _, _, old_body, old_fw)) = a.phones.get(mac) else {
            continue;
        };
        let common_now = b.common.get(&fw.key).unwrap_or(&empty);
        let common_before = a.common.get(&old_fw.key).unwrap_or(&empty);
        let lost = *common_lost
            .entry((old_fw.key.as_str(), fw.key.as_str()))
            .or_insert_with(|| common_before.keys().any(|k| !common_now.contains_key(k)));
        // The same file, read the same way, and every common key still there: nothing is kept
        // (the files of most phones, which are not read then).
        if old_body == body && old_model == model && !lost {
            continue;
        }
        let (kv, old_kv) = (
            phone_keys_of(*model, body),
            phone_keys_of(*old_model, old_body),
        );
        for (k, v) in old_kv.iter().chain(common_before.iter()) {
            if !kv.contains_key(k) && !common_now.contains_key(k) {
                families.entry(k.clone()).or_insert(model.family());
                let e = kept
                    .entry(k.clone())
                    .or_insert_with(|| (v.clone(), Vec::new()));
                if !e.1.contains(mac) {
                    e.1.push(mac.clone());
                }
            }
        }
    }
    kept.into_iter()
        .map(|((section, key), (value, phones))| Kept {
            value: if families[&(section.clone(), key.clone())].is_password_key(&section, &key) {
                "(hidden)".to_string()
            } else {
                value
            },
            section,
            key,
            phones,
        })
        .collect()
}

fn mask(s: &Secret) -> Secret {
    Secret::Literal(match s {
        Secret::Literal(v) => format!("literal:{}", &sha256_hex(v.as_bytes())[..16]),
        Secret::Env(n) => format!("env:{n}"),
        Secret::Derived(l) => format!("derived:{l}"),
    })
}

fn masked(inv: &Inventory) -> Inventory {
    let mut inv = inv.clone();
    let mask_scope = |s: &inventory::Scope| {
        let mut s = s.clone();
        s.admin_password.0 = mask(&s.admin_password.0);
        s.user_password.0 = mask(&s.user_password.0);
        Arc::new(s)
    };
    let site_scope = mask_scope(&inv.site.scope);
    // Phones that share a scope (the site's included) share its masked copy.
    let mut scopes: HashMap<*const inventory::Scope, Arc<inventory::Scope>> = HashMap::new();
    scopes.insert(Arc::as_ptr(&inv.site.scope), site_scope.clone());
    inv.site.scope = site_scope;
    for p in &mut inv.phones {
        for l in &mut p.spec.lines {
            l.password = mask(&l.password);
        }
        let masked = scopes
            .entry(Arc::as_ptr(&p.spec.scope))
            .or_insert_with(|| mask_scope(&p.spec.scope))
            .clone();
        p.spec.scope = masked;
    }
    inv
}

/// A phone on one side: model, name, digest of what it fetches, its file (read into keys only
/// where the two sides differ: the keys of 100,000 files would take gigabytes).
type PhoneSide = (ModelId, Option<String>, String, Vec<u8>, Firmware);

/// A phone file's keys and values, config_sn left out (the files are rendered with its
/// stand-in, which is not a change).
fn phone_keys_of(model: ModelId, body: &[u8]) -> BTreeMap<(String, String), String> {
    keys_of(&model.family().read_file(body).unwrap_or_default())
}

/// A file's keys and values, config_sn's stand-in left out.
fn keys_of(f: &ConfigFile) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    for s in &f.sections {
        for (k, v) in &s.entries {
            if v != crate::render::CONFIG_SN_SENTINEL {
                m.insert((s.name.clone(), k.clone()), v.clone());
            }
        }
    }
    m
}

/// A phone's firmware set and the manifest's name of its model on it (`ST2030`, `ST2030@pilot`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Firmware {
    set: String,
    key: String,
}

struct Side {
    label: String,
    phones: BTreeMap<String, PhoneSide>,
    firmware: BTreeMap<(String, String), String>,
    common: BTreeMap<String, BTreeMap<(String, String), String>>,
    shared: BTreeMap<String, String>,
}

fn side(opts: &Options, rev: &str) -> Result<Side, Error> {
    let o = Options {
        rev: rev.to_string(),
        ..opts.clone()
    };
    let loaded = build::load(&o, None, false)?;
    let inv = masked(&loaded.inv);
    let render = || {
        build::render_all(
            &inv,
            &loaded.templates,
            &loaded.firmware,
            &loaded.site_secret,
            &Quiet,
        )
        .map_err(|e| Error::of(Area::Render, e))
    };
    let rendered = if o.worktree {
        render()?
    } else {
        // A commit's render that goes over a template's memory budget restarts the process,
        // which then says so here (see `alloc_budget::rendering_past`).
        let id = loaded.head.id.to_string();
        if crate::alloc_budget::overran(&id) {
            return Err(Error::of(
                Area::Render,
                format!(
                    "{rev} (commit {id}) does not build: one of its templates took more than {} MiB of memory to render one file",
                    crate::alloc_budget::TEMPLATE >> 20
                ),
            ));
        }
        crate::alloc_budget::rendering_past(&id, render)?
    };
    let mut phones = BTreeMap::new();
    for (p, f) in inv.phones.iter().zip(rendered.phones) {
        let key = crate::render::manifest_key(&rendered.models[&p.variant()]);
        phones.insert(
            p.mac.to_string(),
            (
                p.model,
                p.name.clone(),
                f.digest,
                f.body,
                Firmware {
                    set: p.firmware.clone(),
                    key,
                },
            ),
        );
    }
    let mut firmware = BTreeMap::new();
    let mut common = BTreeMap::new();
    let mut shared = BTreeMap::new();
    for files in rendered.models.values() {
        let key = crate::render::manifest_key(files);
        for f in &files.firmware {
            firmware.insert(
                (key.clone(), f.role.to_string()),
                format!("{} ({})", f.name, &f.sha256[..12]),
            );
        }
        common.insert(key.clone(), keys_of(&files.settings));
        shared.insert(key, files.shared_digest.clone());
    }
    Ok(Side {
        label: format!("{rev} ({})", crate::source::short(loaded.head.id)),
        phones,
        firmware,
        common,
        shared,
    })
}

fn changes(
    family: &dyn crate::family::PhoneFamily,
    a: &BTreeMap<(String, String), String>,
    b: &BTreeMap<(String, String), String>,
) -> Vec<Change> {
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|(s, k)| {
            let hide = |v: Option<&String>| {
                v.map(|v| {
                    if family.is_password_key(s, k) {
                        "(hidden)".to_string()
                    } else {
                        v.clone()
                    }
                })
            };
            Change {
                section: s.clone(),
                key: k.clone(),
                before: hide(a.get(&(s.clone(), k.clone()))),
                after: hide(b.get(&(s.clone(), k.clone()))),
            }
        })
        .collect()
}

/// Compares the inventory at two commits.
pub fn diff(opts: &Options, from: &str, to: &str) -> Result<Diff, Error> {
    let a = side(opts, from)?;
    let b = side(opts, to)?;
    Ok(compare(a, b))
}

/// The keys the phones keep although the checked inventory no longer states them, against the
/// commit before it (the first parent; for a working-tree check, HEAD): warnings for `check`.
pub fn kept_since_parent(opts: &Options) -> Vec<crate::error::Diagnostic> {
    let (before, after_opts) = if opts.worktree {
        (
            Options {
                worktree: false,
                rev: "HEAD".into(),
                ..opts.clone()
            },
            opts.clone(),
        )
    } else {
        (
            Options {
                rev: format!("{}^", opts.rev),
                ..opts.clone()
            },
            opts.clone(),
        )
    };
    // Rendering both sides costs several times a check: do it only when a key can have been
    // dropped (a raw key no longer named, or templates or the firmware sets changed).
    if !may_drop_keys(&before, &after_opts).unwrap_or(true) {
        return Vec::new();
    }
    // No parent, or a parent that does not build: nothing to compare with.
    let (Ok(a), Ok(b)) = (
        side(&before, &before.rev),
        side(&after_opts, &after_opts.rev),
    ) else {
        return Vec::new();
    };
    let site = format!("{}/site.yaml", opts.inventory.display());
    kept_keys(&a, &b)
        .into_iter()
        .map(|k| {
            let shown: Vec<&str> = k.phones.iter().take(5).map(String::as_str).collect();
            crate::error::Diagnostic::warning(
                site.trim_start_matches("./"),
                format!(
                    "[{}] {} is no longer written for {} phone(s) ({}{}): they keep the value they were given ({})",
                    k.section,
                    k.key,
                    k.phones.len(),
                    shown.join(", "),
                    if k.phones.len() > 5 { ", ..." } else { "" },
                    k.value
                ),
            )
            .hint(k.hint())
        })
        .collect()
}

/// Whether going from `before` to `after` can leave a phone without a key it was given: a raw
/// setting key named in a changed file before and in none of the changed files after, or a change
/// of the templates or of the firmware sets (a vendor common file). Reads the two snapshots'
/// files and parses only those that differ.
fn may_drop_keys(before: &Options, after: &Options) -> Result<bool, Error> {
    use crate::source::{Snapshot, Source};
    let source = Source::open(&after.inventory)?;
    let snap = |o: &Options| -> Result<Snapshot, Error> {
        Ok(if o.worktree {
            Snapshot::Worktree
        } else {
            Snapshot::Tree(source.resolve(&o.rev)?.id)
        })
    };
    let (sa, sb) = (snap(before)?, snap(after)?);
    // Two commits: their listings say by blob id which files differ, and only those are read.
    if let (Snapshot::Tree(ca), Snapshot::Tree(cb)) = (sa, sb) {
        return may_drop_keys_between(&source, ca, cb);
    }
    let a = source.read_inventory(sa)?;
    let b = source.read_inventory(sb)?;
    // Templates and group files are few: any change to them takes the full comparison.
    if a.templates != b.templates || group_texts(&a) != group_texts(&b) {
        return Ok(true);
    }
    let mut keys_before = BTreeSet::new();
    let mut keys_after = BTreeSet::new();
    if a.site.text != b.site.text
        && site_keys_of_both(&a.site, &b.site, &mut keys_before, &mut keys_after)
    {
        return Ok(true);
    }
    let texts =
        |files: &[(crate::inventory::SourceText, Option<git2::Oid>)]| -> BTreeMap<String, String> {
            files
                .iter()
                .map(|(src, _)| (src.path.clone(), src.text.clone()))
                .collect()
        };
    let (texts_before, texts_after) = (texts(&a.phones), texts(&b.phones));
    for (src, _) in &a.phones {
        if texts_after.get(&src.path) != Some(&src.text) {
            phone_keys(src, &mut keys_before);
        }
    }
    for (src, _) in &b.phones {
        if texts_before.get(&src.path) != Some(&src.text) {
            phone_keys(src, &mut keys_after);
        }
    }
    Ok(!keys_before.is_subset(&keys_after))
}

/// [`may_drop_keys`] between two commits.
fn may_drop_keys_between(
    source: &crate::source::Source,
    before: git2::Oid,
    after: git2::Oid,
) -> Result<bool, Error> {
    let (Some(a), Some(b)) = (
        source.list_inventory(before)?,
        source.list_inventory(after)?,
    ) else {
        return Ok(true);
    };
    if a.templates != b.templates || a.groups != b.groups {
        return Ok(true);
    }
    let mut keys_before = BTreeSet::new();
    let mut keys_after = BTreeSet::new();
    if a.site != b.site {
        let (Some(ba), Some(bb)) = (a.site, b.site) else {
            return Ok(true);
        };
        let path = source.inv_path("site.yaml");
        let (sa, sb) = (source.read_text(ba, &path)?, source.read_text(bb, &path)?);
        if site_keys_of_both(&sa, &sb, &mut keys_before, &mut keys_after) {
            return Ok(true);
        }
    }
    let blobs =
        |l: &[(String, git2::Oid)]| -> BTreeMap<String, git2::Oid> { l.iter().cloned().collect() };
    let (blobs_before, blobs_after) = (blobs(&a.phones), blobs(&b.phones));
    for (path, blob) in &a.phones {
        if blobs_after.get(path) != Some(blob) {
            phone_keys(&source.read_text(*blob, path)?, &mut keys_before);
        }
    }
    for (path, blob) in &b.phones {
        if blobs_before.get(path) != Some(blob) {
            phone_keys(&source.read_text(*blob, path)?, &mut keys_after);
        }
    }
    Ok(!keys_before.is_subset(&keys_after))
}

/// The keys two versions of site.yaml write when set; true when the two need the full comparison
/// instead (one does not parse, or the firmware sets changed).
fn site_keys_of_both(
    a: &crate::inventory::SourceText,
    b: &crate::inventory::SourceText,
    before: &mut BTreeSet<(String, String)>,
    after: &mut BTreeSet<(String, String)>,
) -> bool {
    let (Ok(sa), Ok(sb)) = (
        crate::inventory::parse_site(a),
        crate::inventory::parse_site(b),
    ) else {
        return true;
    };
    let firmware = |s: &crate::inventory::SiteDoc| format!("{:?}", s.firmware);
    if firmware(&sa) != firmware(&sb) {
        return true;
    }
    site_keys(&sa, before);
    site_keys(&sb, after);
    scope_keys(&site_scope(&sa), before);
    scope_keys(&site_scope(&sb), after);
    false
}

fn site_keys(doc: &crate::inventory::SiteDoc, out: &mut BTreeSet<(String, String)>) {
    let settings = std::iter::once(&doc.settings)
        .chain(doc.models.values().map(|m| &m.settings))
        .chain(doc.profiles.values().map(|p| &p.settings));
    for s in settings {
        for (section, keys) in s {
            out.extend(keys.keys().map(|k| (section.clone(), k.clone())));
        }
    }
    for p in doc.profiles.values() {
        scope_keys(&p.scope_doc(), out);
    }
}

fn group_texts(files: &crate::source::InventoryFiles) -> Vec<(&str, &str)> {
    files
        .groups
        .iter()
        .map(|(s, _)| (s.path.as_str(), s.text.as_str()))
        .collect()
}

/// site.yaml's fields that write keys only when set.
fn site_scope(doc: &crate::inventory::SiteDoc) -> crate::inventory::ScopeDoc {
    crate::inventory::ScopeDoc {
        admin_user: doc.admin_user.clone(),
        user_id: doc.user_id.clone(),
        vlan: doc.vlan.clone(),
        autoprovision: doc.autoprovision.clone(),
        ..Default::default()
    }
}

/// The keys that scope fields write only when set (no documented value turns them off), as keys
/// a phone may be left holding when the field goes away.
fn scope_keys(doc: &crate::inventory::ScopeDoc, out: &mut BTreeSet<(String, String)>) {
    let key = |s: &str, k: &str| (s.to_string(), k.to_string());
    if doc.admin_user.is_some() {
        out.insert(key("sys", "TelnetID"));
    }
    if doc.user_id.is_some() {
        out.insert(key("sys", "UserID"));
    }
    if let Some(p) = doc.autoprovision.as_ref().and_then(|a| a.get("periodic")) {
        for (field, k) in [
            ("days", "AutoprovisionTimeDays"),
            ("start", "Autoprovisionstarttime"),
            ("span", "AutoprovisionTimeSpan"),
            ("retry", "AutoprovisionRetryPeriod"),
        ] {
            if p.get(field).is_some() {
                out.insert(key("autoprovision", k));
            }
        }
    }
    if let Some(v) = &doc.vlan {
        if v.get("pc").is_some() {
            out.insert(key("qos", "VLANid2"));
        }
        if v.get("priority").is_some() {
            out.insert(key("qos", "VLANTag1"));
        }
    }
}

fn phone_keys(src: &crate::inventory::SourceText, out: &mut BTreeSet<(String, String)>) {
    // A file that does not parse says nothing here; check reports it.
    for p in crate::inventory::parse_phones(src).unwrap_or_default() {
        for (section, keys) in &p.settings {
            out.extend(keys.keys().map(|k| (section.clone(), k.clone())));
        }
        scope_keys(&p.scope_doc(), out);
    }
}

fn compare(a: Side, b: Side) -> Diff {
    let mut d = Diff {
        from: a.label.clone(),
        to: b.label.clone(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        firmware: Vec::new(),
        common: BTreeMap::new(),
        reload: Vec::new(),
        upgrade: Vec::new(),
        kept: kept_keys(&a, &b),
    };
    let fw_keys: BTreeSet<&(String, String)> = a.firmware.keys().chain(b.firmware.keys()).collect();
    let mut fw_models = BTreeSet::new();
    for k in fw_keys {
        if a.firmware.get(k) != b.firmware.get(k) {
            d.firmware.push(FirmwareChange {
                model: k.0.clone(),
                role: k.1.clone(),
                before: a.firmware.get(k).cloned(),
                after: b.firmware.get(k).cloned(),
            });
            fw_models.insert(k.0.clone());
        }
    }
    for (m, kv) in &b.common {
        let before = a.common.get(m).cloned().unwrap_or_default();
        let Some(model) = ModelId::parse(m) else {
            continue;
        };
        let c = changes(model.family(), &before, kv);
        if !c.is_empty() {
            d.common.insert(m.clone(), c);
        }
    }
    for (mac, (model, name, _, _, _)) in &a.phones {
        if !b.phones.contains_key(mac) {
            d.removed.push(PhoneRef {
                mac: mac.clone(),
                model: model.name().to_string(),
                name: name.clone(),
            });
        }
    }
    for (mac, (model, name, digest, body, fw)) in &b.phones {
        match a.phones.get(mac) {
            None => {
                d.added.push(PhoneRef {
                    mac: mac.clone(),
                    model: model.name().to_string(),
                    name: name.clone(),
                });
                d.reload.push(mac.clone());
                d.upgrade.push(mac.clone());
            }
            Some((old_model, _, old_digest, old_body, old_fw)) => {
                if old_digest == digest {
                    continue;
                }
                let kv = phone_keys_of(*model, body);
                let old_kv = phone_keys_of(*old_model, old_body);
                let upgrades = fw_models.contains(&fw.key) || old_model != model || old_fw != fw;
                d.changed.push(PhoneDiff {
                    mac: mac.clone(),
                    model: model.name().to_string(),
                    name: name.clone(),
                    changes: changes(model.family(), &old_kv, &kv),
                    shared_changed: a.shared.get(&old_fw.key) != b.shared.get(&fw.key),
                    upgrades_firmware: upgrades,
                    firmware: fw.set.clone(),
                    firmware_before: (old_fw.set != fw.set).then(|| old_fw.set.clone()),
                });
                d.reload.push(mac.clone());
                if upgrades {
                    d.upgrade.push(mac.clone());
                }
            }
        }
    }
    d
}

/// Inventory text as the output shows it: in Markdown every character that could open markup is
/// escaped; in plain text, control characters are replaced. Either way one line.
fn esc(s: &str, markdown: bool) -> String {
    if markdown {
        crate::syntax::markdown::text(s)
    } else {
        crate::syntax::one_line(s)
    }
}

fn show(v: &Option<String>, markdown: bool) -> String {
    match v {
        Some(v) if markdown => format!("“{}”", esc(v, true)),
        Some(v) => format!("`{}`", esc(v, false)),
        None => "(none)".to_string(),
    }
}

fn who(mac: &str, name: &Option<String>, markdown: bool) -> String {
    match name {
        Some(n) => format!("{mac} ({})", esc(n, markdown)),
        None => mac.to_string(),
    }
}

/// The diff as text (`markdown` for a pull-request comment).
pub fn render(d: &Diff, markdown: bool) -> String {
    let mut t = String::new();
    let h = |t: &mut String, s: &str| {
        if markdown {
            let _ = writeln!(t, "\n#### {s}\n");
        } else {
            let _ = writeln!(t, "\n{s}:");
        }
    };
    let item = if markdown { "- " } else { "  " };
    if markdown {
        let _ = writeln!(
            t,
            "### provsite diff: {} → {}\n",
            esc(&d.from, true),
            esc(&d.to, true)
        );
    } else {
        let _ = writeln!(
            t,
            "provsite diff: {} -> {}",
            esc(&d.from, false),
            esc(&d.to, false)
        );
    }
    let _ = writeln!(
        t,
        "{} phone(s) will reload, {} will upgrade firmware; {} added, {} removed, {} changed.",
        d.reload.len(),
        d.upgrade.len(),
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    );
    if !d.added.is_empty() {
        h(&mut t, "Added");
        for PhoneRef { mac, model, name } in &d.added {
            let _ = writeln!(t, "{item}{} {model}", who(mac, name, markdown));
        }
    }
    if !d.removed.is_empty() {
        h(&mut t, "Removed");
        for PhoneRef { mac, model, name } in &d.removed {
            let _ = writeln!(t, "{item}{} {model}", who(mac, name, markdown));
        }
    }
    if !d.firmware.is_empty() {
        h(&mut t, "Firmware");
        for f in &d.firmware {
            let _ = writeln!(
                t,
                "{item}{} {}: {} → {}",
                f.model,
                f.role,
                show(&f.before, markdown),
                show(&f.after, markdown)
            );
        }
    }
    if !d.common.is_empty() {
        h(&mut t, "Common files");
        for (m, cs) in &d.common {
            for c in cs {
                let _ = writeln!(
                    t,
                    "{item}{m} [{}] {}: {} → {}",
                    c.section,
                    c.key,
                    show(&c.before, markdown),
                    show(&c.after, markdown)
                );
            }
        }
    }
    if !d.changed.is_empty() {
        h(&mut t, "Changed phones");
        for p in &d.changed {
            let mut why = Vec::new();
            if p.shared_changed {
                why.push("its model's shared files changed".to_string());
            }
            match (&p.firmware_before, p.upgrades_firmware) {
                (Some(before), _) => why.push(format!(
                    "moves from firmware set {} to {}",
                    esc(before, markdown),
                    esc(&p.firmware, markdown)
                )),
                (None, true) => why.push(format!(
                    "upgrades firmware (set {})",
                    esc(&p.firmware, markdown)
                )),
                (None, false) => {}
            }
            let _ = writeln!(
                t,
                "{item}{} {}{}",
                who(&p.mac, &p.name, markdown),
                p.model,
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                }
            );
            for c in &p.changes {
                let _ = writeln!(
                    t,
                    "{}[{}] {}: {} → {}",
                    if markdown { "  - " } else { "      " },
                    c.section,
                    c.key,
                    show(&c.before, markdown),
                    show(&c.after, markdown)
                );
            }
        }
    }
    if !d.kept.is_empty() {
        h(&mut t, "Kept by the phones (no longer written)");
        for k in &d.kept {
            let shown: Vec<&str> = k.phones.iter().take(10).map(String::as_str).collect();
            let _ = writeln!(
                t,
                "{item}[{}] {}: {} phone(s) ({}{}) keep {}; {}",
                k.section,
                k.key,
                k.phones.len(),
                shown.join(", "),
                if k.phones.len() > 10 { ", ..." } else { "" },
                show(&Some(k.value.clone()), markdown),
                esc(&k.hint(), markdown)
            );
        }
    }
    if d.reload.is_empty() && d.added.is_empty() && d.removed.is_empty() {
        let _ = writeln!(t, "\nNo phone is affected.");
    }
    if markdown {
        let _ = writeln!(t, "\n<sub>Passwords are compared by where they come from and never shown; a change of an environment variable or of the site secret is outside git and not seen here.</sub>");
    }
    t
}
