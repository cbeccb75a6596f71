//! `provsite probe`: walks a phone's boot workflow against any HTTP(S) server and says what the
//! phone would end up with, or at which step and URL it would fail.
//!
//! The steps are the family's boot workflow (for Technicolor: the entry point, the three firmware
//! files, telcfg, the common file, the phone's own file, then its `.ser`, where a 404 is normal).
//! Every request carries the phone's User-Agent. When the web root's `manifest.json` is reachable, sizes and
//! SHA-256 digests are checked against it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::family::{ConfigFile, ModelId};
use crate::hashing::sha256_hex;
use crate::manifest::{FileEntry, Manifest};

/// The largest file a probe downloads (firmware included).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The most a configuration file (entry point, common file, telcfg, a phone's file) may hold:
/// the phones' own files are a few KiB.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The most a manifest may hold (100,000 phones take about 50 MiB).
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// How long a whole probe may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The most bytes the probe reads from `url`: a server it does not control may send an endless
/// body.
fn cap_for(url: &str) -> u64 {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("json") => MAX_MANIFEST_BYTES,
        Some("inf") | Some("txt") | Some("ser") => MAX_CONFIG_BYTES,
        _ => MAX_BYTES,
    }
}

/// Where a probe stopped, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    pub step: String,
    pub url: String,
    pub reason: String,
}

/// The host (and port) part of an `http://` or `https://` URL, lower-cased; None for anything else.
fn authority(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// When a probe failed for want of an answer from another host than the one it was given (the
/// entry point and manifest name their files at site.yaml's `base_url`), how to probe anyway.
/// None when `--connect-to` was given or nothing failed that way.
pub fn unreachable_host_hint<'a>(
    probed: &str,
    failures: impl IntoIterator<Item = &'a Failure>,
    connect_to: bool,
) -> Option<String> {
    if connect_to {
        return None;
    }
    let probed = authority(probed)?;
    let other = failures.into_iter().find_map(|f| {
        let host = authority(&f.url)?;
        (f.reason.starts_with("no answer") && host != probed).then_some(host)
    })?;
    // The server probed by its address: that address is the one to give.
    let give = match probed.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.to_string(),
        Err(_) => "<address:port>".to_string(),
    };
    Some(format!(
        "the files are named at {other} (site.yaml's base_url), which did not answer from here; to check the server at {probed} before DNS names it, add --connect-to {give}"
    ))
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step `{}` failed\n  url: {}\n  why: {}",
            self.step, self.url, self.reason
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    pub role: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    /// true when size and digest were checked against the manifest.
    pub verified: bool,
    /// For firmware: the version its file name carries, when it follows the vendor's pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

pub use crate::family::{Key, Line};

/// What a phone would end up with.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mac: String,
    pub model: String,
    pub user_agent: String,
    pub entry_point: String,
    /// Whether a manifest was found to check digests against, and its release.
    pub release: Option<String>,
    pub files: Vec<Fetched>,
    /// Files next to the phone's own that it also asks for (`.ser`): `absent (404, normal)` or
    /// their size. One line of text per file, by its extension, as before there were families.
    pub ser: String,
    #[serde(skip)]
    pub side_files: Vec<(String, String)>,
    pub config_sn: String,
    pub lines: Vec<Line>,
    pub keys: Vec<Key>,
    pub timezone: Option<String>,
    pub language_type: Option<String>,
    /// VLAN, DNS, directories, as the phone ends up with them.
    pub settings: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PhoneTarget {
    pub entry_url: String,
    pub mac: String,
    pub model: Option<ModelId>,
    pub user_agent: Option<String>,
}

/// An HTTP client that fetches as a phone does, and remembers the files every phone shares
/// (entry points, firmware, telcfg, common files, manifests) when probing many phones.
pub struct Client {
    agent: ureq::Agent,
    shared: Mutex<HashMap<(String, String), Arc<Got>>>,
    /// When the whole probe must have ended: each request gets at most what is left.
    deadline: std::time::Instant,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(None)
    }
}

/// Why a request got no answer, without its URL (the failure names it once, beside the step).
fn no_answer(t: &ureq::Transport) -> String {
    let mut why = format!("no answer: {}", t.kind());
    if let Some(m) = t.message() {
        why.push_str(&format!(": {m}"));
    }
    if let Some(source) = std::error::Error::source(t) {
        why.push_str(&format!(": {source}"));
    }
    why
}

/// A response: status 200 with its bytes, or the status (0 for no answer) and why.
type Got = Result<Vec<u8>, (u16, String)>;

impl Client {
    /// `connect_to`: send every request to this address whatever the URL's host (like curl's
    /// `--connect-to`), to probe a server before DNS names it; the Host header stays the URL's.
    pub fn new(connect_to: Option<std::net::SocketAddr>) -> Client {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .redirects(5);
        if let Some(addr) = connect_to {
            builder = builder.resolver(move |_netloc: &str| Ok(vec![addr]));
        }
        Client {
            agent: builder.build(),
            shared: Mutex::new(HashMap::new()),
            deadline: std::time::Instant::now() + DEFAULT_TIMEOUT,
        }
    }

    /// Bounds the whole probe to `total` from now (every request, every phone).
    pub fn with_timeout(mut self, total: Duration) -> Client {
        self.deadline = std::time::Instant::now() + total;
        self
    }

    fn get(&self, url: &str, ua: &str) -> Got {
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err((0, "the probe's time limit (--timeout) ran out".to_string()));
        }
        let cap = cap_for(url);
        match self
            .agent
            .get(url)
            .set("User-Agent", ua)
            .timeout(left.min(Duration::from_secs(300)))
            .call()
        {
            Ok(resp) => {
                let status = resp.status();
                if status != 200 {
                    return Err((status, format!("HTTP {status} {}", resp.status_text())));
                }
                let mut buf = Vec::new();
                match resp.into_reader().take(cap + 1).read_to_end(&mut buf) {
                    Ok(_) if buf.len() as u64 > cap => Err((
                        200,
                        format!("larger than {} MiB: not read further", cap >> 20),
                    )),
                    Ok(_) => Ok(buf),
                    Err(e) => Err((200, format!("the download broke off: {e}"))),
                }
            }
            Err(ureq::Error::Status(code, resp)) => {
                Err((code, format!("HTTP {code} {}", resp.status_text())))
            }
            Err(ureq::Error::Transport(t)) => Err((0, no_answer(&t))),
        }
    }

    /// A file every phone of a model fetches: fetched once per URL and User-Agent model.
    fn get_shared(&self, url: &str, ua: &str, model: &str) -> Arc<Got> {
        let key = (url.to_string(), model.to_string());
        if let Some(hit) = self.shared.lock().expect("not poisoned").get(&key) {
            return hit.clone();
        }
        let got = Arc::new(self.get(url, ua));
        self.shared
            .lock()
            .expect("not poisoned")
            .insert(key, got.clone());
        got
    }
}

/// The model an entry point's URL stands for, as its family names entry points.
pub fn model_from_entry_url(url: &str) -> Option<ModelId> {
    crate::family::model_of_entry_point(url.rsplit('/').next()?)
}

/// `.ser` of `ST2030S_001F9F16E849.ser`.
fn extension(name: &str) -> String {
    name.rfind('.').map_or(name, |i| &name[i..]).to_string()
}

/// The folder URL of a file URL: everything up to the last `/`.
fn folder_of(url: &str) -> &str {
    match url.rfind('/') {
        Some(i) => &url[..=i],
        None => url,
    }
}

/// Probes one phone.
pub fn probe(client: &Client, target: &PhoneTarget) -> Result<Report, Failure> {
    let fail = |step: &str, url: &str, reason: String| Failure {
        step: step.to_string(),
        url: url.to_string(),
        reason,
    };
    let mac: String = crate::mac::Mac::parse(&target.mac)
        .map(String::from)
        .ok_or_else(|| {
            fail(
                "arguments",
                &target.entry_url,
                format!(
                    "`{}` is not a MAC address (12 hex digits, separators allowed)",
                    target.mac
                ),
            )
        })?;
    let entry_url = target.entry_url.as_str();
    if !(entry_url.starts_with("http://") || entry_url.starts_with("https://")) {
        return Err(fail(
            "arguments",
            entry_url,
            "the URL must be an entry point's http(s) URL, as DHCP option 43 hands it to the phone"
                .into(),
        ));
    }
    let base = folder_of(entry_url);
    let model = match target.model.or_else(|| model_from_entry_url(entry_url)) {
        Some(m) => m,
        None => {
            return Err(fail(
                "arguments",
                entry_url,
                format!(
                    "cannot tell the model from the entry point's name; say it with --model {}",
                    ModelId::names().join("|")
                ),
            ))
        }
    };
    let family = model.family();
    let ua = match &target.user_agent {
        Some(ua) => ua.clone(),
        None => family.typical_agent(model, &mac),
    };
    let mut warnings = Vec::new();

    // 1. The entry point.
    let entry_bytes = match &*client.get_shared(entry_url, &ua, model.name()) {
        Ok(b) => b.clone(),
        Err((_, why)) => return Err(fail("entry point", entry_url, why.clone())),
    };
    let plan = family.boot_plan(model, &entry_bytes).map_err(|p| {
        fail(
            "entry point",
            entry_url,
            format!("not a valid entry point: {}", p.join("; ")),
        )
    })?;

    let manifest = find_manifest(client, base, &plan.config_folder, &ua, model);
    if manifest.is_none() {
        warnings.push(format!(
            "no manifest.json under {base}: sizes and digests are not checked"
        ));
    }
    let expected = Expected::new(manifest.as_ref(), base);
    let check = |step: &str, url: &str, bytes: &[u8]| {
        expected.check(
            step,
            url,
            bytes,
            family.firmware_version(url.rsplit('/').next().unwrap_or(url)),
        )
    };
    let mut files = Vec::new();

    // 2. What the entry point names: firmware, then the shared files.
    let mut shared_settings = Vec::new();
    for f in &plan.files {
        let bytes = match &*client.get_shared(&f.url, &ua, model.name()) {
            Ok(b) => b.clone(),
            Err((_, why)) => return Err(fail(&f.step, &f.url, why.clone())),
        };
        if f.firmware && bytes.is_empty() {
            return Err(fail(&f.step, &f.url, "the file is empty".into()));
        }
        if let Some(settings) = family
            .check_boot_file(model, &f.step, &bytes)
            .map_err(|p| fail(&f.step, &f.url, p.join("; ")))?
        {
            shared_settings.push(settings);
        }
        files.push(check(&f.step, &f.url, &bytes)?);
    }

    // 3. The phone's own file.
    let phone_url = format!(
        "{}{}",
        plan.config_folder,
        family.phone_file_name(model, &mac)
    );
    let phone_bytes = match client.get(&phone_url, &ua) {
        Ok(b) => b,
        Err((404, why)) => {
            return Err(fail(
                "phone file",
                &phone_url,
                format!("{why}: the web root has no file for {mac}; add the phone to the inventory and rebuild"),
            ))
        }
        Err((_, why)) => return Err(fail("phone file", &phone_url, why)),
    };
    let own = family
        .check_phone_file(model, &phone_bytes)
        .map_err(|p| fail("phone file", &phone_url, p.join("; ")))?;
    let layers: Vec<&ConfigFile> = shared_settings.iter().collect();
    let view = family.view(model, &own, &layers);
    let config_sn = view.config_sn.clone();
    // The number the phone remembers with other bytes: the phone would ignore this file.
    if let Some(p) = manifest.as_ref().and_then(|m| m.phones.get(&mac)) {
        let sha = sha256_hex(&phone_bytes);
        if p.config_sn == config_sn && p.file.sha256 != sha {
            return Err(fail(
                "phone file",
                &phone_url,
                format!(
                    "config_sn {config_sn} is the manifest's, but the bytes differ (SHA-256 {sha}, the manifest says {}): a phone that applied {config_sn} would ignore this file",
                    p.file.sha256
                ),
            ));
        }
    }
    files.push(check("phone file", &phone_url, &phone_bytes)?);
    if let Some(p) = manifest.as_ref().and_then(|m| m.phones.get(&mac)) {
        if p.config_sn != config_sn {
            return Err(fail(
                "phone file",
                &phone_url,
                format!("config_sn {config_sn}, the manifest says {}", p.config_sn),
            ));
        }
    }

    // 4. Files next to the phone's own that the phone also asks for: a 404 is normal.
    let mut side = Vec::new();
    for (name, why) in family.side_files(model, &mac) {
        let url = format!("{}{name}", plan.config_folder);
        match client.get(&url, &ua) {
            Ok(b) => {
                warnings.push(format!("{url} exists ({} bytes): {why}", b.len()));
                side.push((extension(&name), format!("{} bytes", b.len())));
            }
            Err((404, _)) => side.push((extension(&name), "absent (404, normal)".to_string())),
            Err((_, reason)) => return Err(fail(&name, &url, reason)),
        }
    }

    Ok(Report {
        mac: mac.clone(),
        model: model.name().to_string(),
        user_agent: ua,
        entry_point: entry_url.to_string(),
        release: manifest.map(|m| m.release),
        files,
        ser: side
            .iter()
            .map(|(_, status)| status.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        side_files: side,
        config_sn,
        lines: view.lines,
        keys: view.keys,
        timezone: view.timezone,
        language_type: view.language_type,
        settings: view.settings.into_iter().collect(),
        warnings,
    })
}

/// The manifest to check sizes and digests against: the release's own (the config folder names
/// it), else the web root's.
fn find_manifest(
    client: &Client,
    base: &str,
    config_folder: &str,
    ua: &str,
    model: ModelId,
) -> Option<Manifest> {
    let mut urls = Vec::new();
    if let Some(release) = config_folder
        .strip_prefix(base)
        .and_then(|rel| rel.strip_prefix("releases/"))
        .and_then(|r| r.split('/').next())
    {
        urls.push(format!("{base}releases/{release}/manifest.json"));
    }
    urls.push(format!("{base}manifest.json"));
    urls.iter()
        .find_map(|u| match &*client.get_shared(u, ua, model.name()) {
            Ok(b) => Manifest::from_bytes(b).ok(),
            Err(_) => None,
        })
}

/// What the manifest says each URL holds.
struct Expected(BTreeMap<String, FileEntry>);

impl Expected {
    fn new(manifest: Option<&Manifest>, base: &str) -> Expected {
        Expected(
            manifest
                .iter()
                .flat_map(|m| {
                    m.models
                        .values()
                        .flat_map(|e| e.files.iter())
                        .chain(m.phones.values().map(|p| &p.file))
                })
                .map(|f| (format!("{base}{}", f.path), f.clone()))
                .collect(),
        )
    }

    /// A fetched file against the manifest: its size and digest, when the manifest lists it.
    /// `version` is what a firmware file's name says.
    fn check(
        &self,
        step: &str,
        url: &str,
        bytes: &[u8],
        version: Option<String>,
    ) -> Result<Fetched, Failure> {
        let fail = |reason: String| Failure {
            step: step.to_string(),
            url: url.to_string(),
            reason,
        };
        let sha = sha256_hex(bytes);
        let size = bytes.len() as u64;
        let mut verified = false;
        if let Some(e) = self.0.get(url) {
            if e.size != size {
                return Err(fail(format!(
                    "size {size} bytes, the manifest says {}",
                    e.size
                )));
            }
            if e.sha256 != sha {
                return Err(fail(format!(
                    "SHA-256 {sha}, the manifest says {}",
                    e.sha256
                )));
            }
            verified = true;
        }
        Ok(Fetched {
            role: step.to_string(),
            url: url.to_string(),
            size,
            sha256: sha,
            verified,
            version: if step.starts_with("firmware") {
                version
            } else {
                None
            },
        })
    }
}

/// One row of `probe --all`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub mac: String,
    pub model: String,
    pub name: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    Ok {
        config_sn: String,
        lines: usize,
        /// The application firmware the entry point sends: its version when its name carries
        /// one, else its file name.
        firmware: String,
    },
    Failed(Failure),
}

/// Probes every phone `BASE_URL/manifest.json` lists, `jobs` at a time.
pub fn probe_all(client: &Client, base_url: &str, jobs: usize) -> Result<Vec<Row>, Failure> {
    let base = if base_url.ends_with('/') {
        base_url.to_string()
    } else {
        format!("{base_url}/")
    };
    let manifest_url = format!("{base}manifest.json");
    let bytes = client
        .get(&manifest_url, "provsite-probe")
        .map_err(|(_, why)| Failure {
            step: "manifest".into(),
            url: manifest_url.clone(),
            reason: format!(
                "{why}; --all needs the web root's manifest.json (give the web root's URL)"
            ),
        })?;
    let manifest = Manifest::from_bytes(&bytes).map_err(|e| Failure {
        step: "manifest".into(),
        url: manifest_url.clone(),
        reason: format!("not a provsite manifest: {e}"),
    })?;
    let targets: Vec<(String, crate::manifest::PhoneEntry)> = manifest
        .phones
        .iter()
        .map(|(m, p)| (m.clone(), p.clone()))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows: Mutex<Vec<Row>> = Mutex::new(Vec::with_capacity(targets.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(targets.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((mac, p)) = targets.get(i) else {
                    break;
                };
                let model = ModelId::parse(&p.model);
                let entry = manifest
                    .models
                    .get(p.variant.as_deref().unwrap_or(&p.model))
                    .map(|m| format!("{base}{}", m.entry_point))
                    .unwrap_or_default();
                let outcome = match probe(
                    client,
                    &PhoneTarget {
                        entry_url: entry,
                        mac: mac.clone(),
                        model,
                        user_agent: None,
                    },
                ) {
                    Ok(r) => Outcome::Ok {
                        firmware: r
                            .files
                            .iter()
                            .find(|f| f.role.starts_with("firmware"))
                            .map(|f| {
                                f.version.clone().unwrap_or_else(|| {
                                    f.url.rsplit('/').next().unwrap_or("").to_string()
                                })
                            })
                            .unwrap_or_default(),
                        config_sn: r.config_sn,
                        lines: r.lines.len(),
                    },
                    Err(f) => Outcome::Failed(f),
                };
                rows.lock().expect("not poisoned").push(Row {
                    mac: mac.clone(),
                    model: p.model.clone(),
                    name: p.name.clone(),
                    outcome,
                });
            });
        }
    });
    let mut rows = rows.into_inner().expect("not poisoned");
    rows.sort_by(|a, b| a.mac.cmp(&b.mac));
    Ok(rows)
}

/// The report as text, for a person.
pub fn render_report(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "phone {} ({}) as `{}`",
        r.mac, r.model, r.user_agent
    ));
    line(format!("entry point {}", r.entry_point));
    match &r.release {
        Some(rel) => line(format!(
            "release {rel} (sizes and SHA-256 checked against its manifest)"
        )),
        None => line("no manifest: sizes and SHA-256 not checked".to_string()),
    }
    for f in &r.files {
        // What a phone caches by name or URL (common file, telcfg) is shown by its whole URL:
        // it must stay the same from release to release while the bytes do.
        let name = if matches!(f.role.as_str(), "common file" | "telcfg") {
            f.url.as_str()
        } else {
            f.url.rsplit('/').next().unwrap_or(&f.url)
        };
        let version = f
            .version
            .as_ref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default();
        line(format!(
            "  ok  {:<14} {name} ({} bytes{}{version})",
            f.role,
            f.size,
            if f.verified { ", verified" } else { "" }
        ));
    }
    for (label, status) in &r.side_files {
        line(format!("  ok  {label:<14} {status}"));
    }
    line(format!("config_sn {}", r.config_sn));
    if r.lines.is_empty() {
        line("lines: none in use".to_string());
    }
    for l in &r.lines {
        line(format!(
            "line {}: {}@{}:{} ({}), auth user {}, shown as \"{}\"",
            l.slot, l.user, l.registrar, l.port, l.transport, l.auth_user, l.display_name
        ));
    }
    for k in &r.keys {
        line(format!("key {:02}: {} {}", k.number, k.kind, k.target));
    }
    if let Some(z) = &r.timezone {
        line(format!("timezone NtpZoneNum {z}"));
    }
    if let Some(l) = &r.language_type {
        line(format!("language LanguageType {l}"));
    }
    for (what, value) in &r.settings {
        line(format!("{what}: {value}"));
    }
    for w in &r.warnings {
        line(format!("warning: {w}"));
    }
    out
}

/// `provsite probe --all`'s table.
pub fn render_rows(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<12}  {:<6}  {:<20}  {:<12}  {:<10}  {}\n",
        "MAC", "MODEL", "NAME", "CONFIG_SN", "FIRMWARE", "RESULT"
    );
    for r in rows {
        let name = r.name.clone().unwrap_or_default();
        let (sn, fw, result) = match &r.outcome {
            Outcome::Ok {
                config_sn,
                lines,
                firmware,
            } => (
                config_sn.clone(),
                firmware.clone(),
                format!("ok, {lines} line(s)"),
            ),
            Outcome::Failed(f) => (
                "-".to_string(),
                "-".to_string(),
                format!("FAILED at {}: {} ({})", f.step, f.reason, f.url),
            ),
        };
        out.push_str(&format!(
            "{:<12}  {:<6}  {:<20}  {:<12}  {:<10}  {result}\n",
            r.mac,
            r.model,
            truncate(&name, 20),
            sn,
            truncate(&fw, 10)
        ));
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    out.push_str(&format!(
        "{} phone(s) probed, {} ok, {failed} failed\n",
        rows.len(),
        rows.len() - failed
    ));
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_says_why_and_leaves_the_url_to_the_failure() {
        // A closed port on loopback: refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ST2030S.inf", listener.local_addr().unwrap());
        drop(listener);
        let Err(ureq::Error::Transport(t)) = ureq::get(&url).call() else {
            panic!("{url} answered");
        };
        let why = no_answer(&t);
        assert!(why.starts_with("no answer: Connection Failed"), "{why}");
        assert!(!why.contains(&url), "{why}");
    }

    #[test]
    fn models_from_entry_point_names() {
        assert_eq!(
            model_from_entry_url("http://h/p/ST2030S.inf"),
            Some(ModelId::ST2030)
        );
        assert_eq!(
            model_from_entry_url("http://h/TB30S.inf"),
            Some(ModelId::TB30)
        );
        assert_eq!(
            model_from_entry_url("http://h/ST2022.inf"),
            Some(ModelId::ST2022)
        );
        assert_eq!(model_from_entry_url("http://h/phones.inf"), None);
        assert_eq!(folder_of("http://h/a/ST2030S.inf"), "http://h/a/");
    }

    #[test]
    fn an_unanswered_other_host_gets_the_connect_to_hint() {
        let fail = |url: &str, reason: &str| Failure {
            step: "firmware app".into(),
            url: url.into(),
            reason: reason.into(),
        };
        let dns = fail(
            "http://Prov.Acme.test/firmware/x/app.zz",
            "no answer: Dns Failed",
        );
        let hint = unreachable_host_hint("http://127.0.0.1:8080/", [&dns], false).unwrap();
        assert!(hint.contains("prov.acme.test"), "{hint}");
        assert!(hint.ends_with("add --connect-to 127.0.0.1:8080"), "{hint}");
        let by_name = unreachable_host_hint("http://web1.lan/", [&dns], false).unwrap();
        assert!(
            by_name.ends_with("add --connect-to <address:port>"),
            "{by_name}"
        );
        // Not with --connect-to, not for the probed host itself, not for an HTTP error.
        assert_eq!(
            unreachable_host_hint("http://127.0.0.1:8080/", [&dns], true),
            None
        );
        let same = fail(
            "http://user@prov.acme.test/ST2030S.inf",
            "no answer: refused",
        );
        assert_eq!(
            unreachable_host_hint("https://prov.acme.test/x", [&same], false),
            None
        );
        let status = fail("http://prov.acme.test/a.zz", "HTTP 404 Not Found");
        assert_eq!(
            unreachable_host_hint("http://127.0.0.1/", [&status], false),
            None
        );
        assert_eq!(unreachable_host_hint("ftp://h/", [&dns], false), None);
    }
}
