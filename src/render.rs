//! The render stage: minijinja templates (embedded defaults, overridable per inventory) turn the
//! resolved inventory into the vendor's files: per model the entry point, the common file and the
//! telephony file; per phone `<MODEL>S_<MAC>.txt`. Every rendered file is read back by the format
//! checker before it may be written.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use minijinja::{context, Environment};
use serde::Serialize;

use crate::error::Diagnostic;
use crate::firmware_store::FirmwareFiles;
use crate::hashing::sha256_hex;
use crate::inventory::{FnKey, Inventory, Phone, PhoneSpec, Settings, Site};
use crate::models::ModelId;
use crate::thomson;
use crate::vendor_format::{self, ConfigFile, FileKind};
use sha2::{Digest, Sha256};

/// Stands for the config_sn while a phone file is rendered: the file is compared with its history
/// without it, then the number is put in. Twelve characters, like the number.
pub const CONFIG_SN_SENTINEL: &str = "@@CONFIGSN@@";

/// Stands for the release folder when an entry point is compared with older ones.
const RELEASE_SENTINEL: &str = "@@RELEASE@@";

const TEMPLATE_NAMES: [&str; 3] = ["entry.inf", "common.txt", "phone.txt"];

/// Instructions one render of an inventory's template may take.
const TEMPLATE_FUEL: u64 = 5_000_000;

/// The largest file a template may write (the phones' files are a few KiB).
const MAX_RENDERED: usize = 4 << 20;

/// The templates in use: the embedded defaults with the inventory's overrides over them.
pub struct Templates {
    env: Environment<'static>,
    /// Whether a template was overridden (it changes what every phone fetches).
    pub overridden: BTreeSet<String>,
}

impl Templates {
    pub fn new(
        overrides: &BTreeMap<String, String>,
        inventory_dir: &str,
    ) -> Result<(Templates, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let defaults = [
            ("entry.inf", include_str!("../site-template/entry.inf")),
            ("common.txt", include_str!("../site-template/common.txt")),
            ("phone.txt", include_str!("../site-template/phone.txt")),
        ];
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        let mut overridden = BTreeSet::new();
        for (name, text) in overrides {
            let path = format!("{inventory_dir}/templates/{name}");
            if !TEMPLATE_NAMES.contains(&name.as_str()) {
                warnings.push(
                    Diagnostic::warning(path, format!("unknown template `{name}` is not used"))
                        .hint(format!("the templates are {}", TEMPLATE_NAMES.join(", "))),
                );
                continue;
            }
            if let Err(e) = env.add_template_owned(name.clone(), text.clone()) {
                let line = e.line().unwrap_or(0);
                errors.push(
                    Diagnostic::error(
                        path,
                        format!("template error: {}", e.detail().unwrap_or("syntax error")),
                    )
                    .at(Some((line, 1)))
                    .hint(
                        "fix the minijinja syntax; the defaults are in provsite's site-template/",
                    ),
                );
            } else {
                overridden.insert(name.clone());
            }
        }
        for (name, text) in defaults {
            if !overridden.contains(name) {
                env.add_template(name, text)
                    .expect("embedded templates parse");
            }
        }
        if !overridden.is_empty() {
            // An inventory's template is untrusted input: a loop inside a loop must end with an
            // error, not run forever. Far above what a phone's file takes (about 20,000).
            env.set_fuel(Some(TEMPLATE_FUEL));
        }
        if errors.is_empty() {
            Ok((Templates { env, overridden }, warnings))
        } else {
            Err(errors)
        }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| e.to_string())?;
        let origin = if self.overridden.contains(name) {
            "the inventory's"
        } else {
            "the default"
        };
        let text = t
            .render(ctx)
            .map_err(|e| format!("{origin} template {name}: {e}"))?;
        if text.len() > MAX_RENDERED {
            return Err(format!(
                "{origin} template {name} wrote {} bytes; a phone's file is at most {} (a loop that runs away?)",
                text.len(),
                MAX_RENDERED
            ));
        }
        Ok(text)
    }
}

#[derive(Serialize)]
struct SectionOut<'a> {
    name: &'a str,
    entries: Vec<(&'a str, &'a str)>,
}

/// One `Key=Value` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub value: Cow<'a, str>,
}

fn entry<'a>(section: &'a str, key: &'a str, value: impl Into<Cow<'a, str>>) -> Entry<'a> {
    Entry {
        section,
        key,
        value: value.into(),
    }
}

/// Orders entries the way the model's default file does and keeps, of a key given twice, the
/// last one given. Unknown names sort last; (section, key) breaks ties, so the order is total.
fn in_vendor_order(model: ModelId, entries: Vec<Entry<'_>>) -> Vec<Entry<'_>> {
    let vocab = model.vocabulary();
    let mut ranked: Vec<(usize, usize, usize, Entry)> = entries
        .into_iter()
        .enumerate()
        .map(|(seq, e)| {
            (
                vocab.section_rank(e.section),
                vocab.key_rank(e.section, e.key),
                seq,
                e,
            )
        })
        .collect();
    ranked.sort_unstable_by(|a, b| {
        (a.0, a.1, a.3.section, a.3.key, std::cmp::Reverse(a.2)).cmp(&(
            b.0,
            b.1,
            b.3.section,
            b.3.key,
            std::cmp::Reverse(b.2),
        ))
    });
    ranked
        .dedup_by(|later, first| later.3.section == first.3.section && later.3.key == first.3.key);
    ranked.into_iter().map(|(_, _, _, e)| e).collect()
}

/// Groups ordered entries by section, for the templates.
fn sections<'a>(entries: &'a [Entry<'a>]) -> Vec<SectionOut<'a>> {
    let mut out: Vec<SectionOut> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some(sec) if sec.name == e.section => sec.entries.push((e.key, &e.value)),
            _ => out.push(SectionOut {
                name: e.section,
                entries: vec![(e.key, &e.value)],
            }),
        }
    }
    out
}

/// What the default `phone.txt` / `common.txt` templates render, written directly: ISO-8859-1,
/// CRLF. A test holds it equal to the template's output.
fn write_default(entries: &[Entry<'_>]) -> Result<Vec<u8>, char> {
    let mut out = Vec::with_capacity(entries.len() * 24);
    let mut current = None;
    for e in entries {
        if current != Some(e.section) {
            out.push(b'[');
            push_latin1(&mut out, e.section)?;
            out.extend_from_slice(b"]\r\n");
            current = Some(e.section);
        }
        push_latin1(&mut out, e.key)?;
        out.push(b'=');
        push_latin1(&mut out, &e.value)?;
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

fn push_latin1(out: &mut Vec<u8>, s: &str) -> Result<(), char> {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
        return Ok(());
    }
    for c in s.chars() {
        let code = c as u32;
        if code > 0xFF {
            return Err(c);
        }
        out.push(code as u8);
    }
    Ok(())
}

/// Raw settings as entries.
fn settings_entries(settings: &Settings) -> impl Iterator<Item = Entry<'_>> {
    settings
        .iter()
        .flat_map(|(s, keys)| keys.iter().map(move |(k, v)| entry(s, k, v.as_str())))
}

/// One firmware file as the entry point names it.
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareRef {
    pub role: &'static str,
    pub sha256: String,
    pub name: String,
    pub size: u64,
}

impl FirmwareRef {
    pub fn store_path(&self) -> String {
        format!("firmware/{}/{}", self.sha256, self.name)
    }
}

/// Everything a model's phones share.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub model: ModelId,
    pub entry_point: String,
    pub firmware: Vec<FirmwareRef>,
    pub common_name: String,
    pub common: Vec<u8>,
    pub telcfg: Option<(String, Vec<u8>)>,
    /// The common file's values, to fill keys other phones of the model override (see README).
    common_values: ConfigFile,
    /// Keys that some phone of this model sets through raw settings.
    pub override_keys: BTreeSet<(String, String)>,
    site_values: SiteValues,
    /// Digest of what the model's phones share: entry point (release left out), common, telcfg.
    pub shared_digest: String,
}

/// The web root's folder of content-named shared files (common files, telcfg).
pub const COMMON_DIR: &str = "common";

/// A name derived from content: `<stem>_<first 12 hex digits of its SHA-256><ext>`.
fn content_name(stem: &str, ext: &str, digest: &str) -> String {
    format!("{stem}_{}{ext}", &digest[..12])
}

/// Renders a model's shared files.
pub fn render_model(
    templates: &Templates,
    inv: &Inventory,
    model: ModelId,
    fw: &FirmwareFiles,
) -> Result<ModelFiles, String> {
    render_model_with(
        templates,
        &inv.site,
        model,
        fw,
        override_keys(inv.phones.iter().filter(|p| p.model == model)),
    )
}

/// Keys some of these phones set through raw settings. The common file's name follows them too,
/// so that when a key stops being overridden the phones fetch the common file again (they cache
/// it by name).
pub fn override_keys<'a>(phones: impl Iterator<Item = &'a Phone>) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    for p in phones {
        for e in settings_entries(&p.settings) {
            keys.insert((e.section.to_string(), e.key.to_string()));
        }
    }
    keys
}

/// Renders a model's shared files, given the keys its phones override.
pub fn render_model_with(
    templates: &Templates,
    site: &Site,
    model: ModelId,
    fw: &FirmwareFiles,
    override_keys: BTreeSet<(String, String)>,
) -> Result<ModelFiles, String> {
    let cfg = site
        .models
        .get(&model)
        .ok_or_else(|| format!("model {model} is not configured"))?;
    let set = site
        .firmware
        .get(&cfg.firmware)
        .ok_or_else(|| format!("unknown firmware set {}", cfg.firmware))?;
    let mut firmware = Vec::new();
    for (role, f) in [("app", &set.app), ("dsp", &set.dsp), ("boot", &set.boot)] {
        let size = fw.store.get(&f.sha256).map(|c| c.size).unwrap_or(0);
        firmware.push(FirmwareRef {
            role,
            sha256: f.sha256.clone(),
            name: f.name.clone(),
            size,
        });
    }
    // The common file.
    // The codec order comes from `codecs:` (Asterisk's allow= follows the same list); raw
    // settings cannot set it.
    let merged: Vec<Entry> = settings_entries(&site.settings)
        .chain(settings_entries(&cfg.settings))
        .chain(std::iter::once(entry(
            "sys",
            "CodecPriority",
            cfg.codec_priority.as_str(),
        )))
        .collect();
    let common_text = match &set.common_base {
        Some(base) => {
            let bytes = fw
                .small
                .get(&base.repo_path)
                .ok_or_else(|| format!("{} was not read", base.repo_path))?;
            let mut file = vendor_format::parse_lenient(bytes)
                .map_err(|e| format!("{}: {e}", base.repo_path))?;
            for e in &merged {
                file.set(e.section, e.key, &e.value);
            }
            file.to_text()
        }
        None => {
            let ordered = in_vendor_order(model, merged);
            let sections = sections(&ordered);
            templates.render(
                "common.txt",
                context! { sections => sections, model => model.name(), site => site_ctx(site) },
            )?
        }
    };
    let common = vendor_format::encode(&common_text).map_err(|c| {
        format!("the common file of {model} holds `{c}`, which ISO-8859-1 cannot encode")
    })?;
    let common_values = vendor_format::check_config(&common, model.vocabulary(), FileKind::Common)
        .or_else(|problems| {
            // A vendor base file may carry keys of a firmware newer than the vocabulary: accept
            // those, but never a malformed file.
            if set.common_base.is_some()
                && problems
                    .iter()
                    .all(|p| p.contains("unknown key") || p.contains("unknown section"))
            {
                vendor_format::parse_lenient(&common)
            } else {
                Err(problems.join("; "))
            }
        })
        .map_err(|e| format!("the common file of {model} is not valid: {e}"))?;
    let mut name_input = sha256_hex(&common);
    for (s, k) in &override_keys {
        name_input.push_str(&format!("\n{s}.{k}"));
    }
    let common_name = content_name(
        &format!("{}_common", model.file_prefix()),
        ".txt",
        &sha256_hex(name_input.as_bytes()),
    );
    let telcfg = match &set.telcfg {
        Some(t) => {
            let bytes = fw
                .small
                .get(&t.repo_path)
                .ok_or_else(|| format!("{} was not read", t.repo_path))?
                .clone();
            let (stem, ext) = match t.name.rfind('.') {
                Some(i) => (&t.name[..i], &t.name[i..]),
                None => (t.name.as_str(), ""),
            };
            Some((content_name(stem, ext, &sha256_hex(&bytes)), bytes))
        }
        None => None,
    };
    let mut files = ModelFiles {
        model,
        entry_point: cfg.entry_point.clone(),
        firmware,
        common_name,
        common,
        telcfg,
        common_values,
        override_keys,
        site_values: SiteValues::new(site),
        shared_digest: String::new(),
    };
    let entry = files.entry_point_bytes(templates, &site.base_url, RELEASE_SENTINEL)?;
    let mut shared = Vec::new();
    for part in [
        &entry,
        &files.common,
        files.telcfg.as_ref().map_or(&Vec::new(), |t| &t.1),
    ] {
        shared.extend_from_slice(sha256_hex(part).as_bytes());
    }
    files.shared_digest = sha256_hex(&shared);
    Ok(files)
}

fn site_ctx(site: &Site) -> minijinja::Value {
    context! { name => site.name, base_url => site.base_url }
}

impl ModelFiles {
    /// The entry point for a release, with absolute URLs under `base_url`.
    pub fn entry_point_bytes(
        &self,
        templates: &Templates,
        base_url: &str,
        release: &str,
    ) -> Result<Vec<u8>, String> {
        let fw = |role: &str| {
            self.firmware
                .iter()
                .find(|f| f.role == role)
                .map(|f| format!("{base_url}{}", f.store_path()))
                .unwrap_or_default()
        };
        let rel = format!("{base_url}releases/{release}/");
        // The common file and telcfg live in `common/`, shared by every release: their URL stays
        // the same as long as their bytes do, whatever the phone caches by.
        let shared = format!("{base_url}{COMMON_DIR}/");
        let text = templates.render(
            "entry.inf",
            context! {
                firmware => context! { app => fw("app"), dsp => fw("dsp"), boot => fw("boot") },
                telcfg => self.telcfg.as_ref().map(|(n, _)| format!("{shared}{n}")).unwrap_or_default(),
                common => format!("{shared}{}", self.common_name),
                config => format!("{rel}config/"),
                model => self.model.name(),
            },
        )?;
        let bytes = vendor_format::encode(&text)
            .map_err(|c| format!("the entry point holds `{c}`, which ISO-8859-1 cannot encode"))?;
        vendor_format::check_entry_point(&bytes).map_err(|p| {
            format!(
                "the entry point of {} is not valid: {}",
                self.model,
                p.join("; ")
            )
        })?;
        Ok(bytes)
    }
}

/// A phone's passwords, resolved for this build.
#[derive(Debug, Clone)]
pub struct PhoneSecrets {
    pub lines: Vec<String>,
    pub admin: String,
    pub user: Option<String>,
}

/// Site-wide values as the files write them, formatted once per model rather than per phone.
#[derive(Debug, Clone)]
struct SiteValues {
    port: String,
    transport: String,
    backup: String,
    dtmf: String,
    language: String,
    zone: String,
    pickup_code: Option<String>,
}

impl SiteValues {
    fn new(site: &Site) -> SiteValues {
        SiteValues {
            pickup_code: site.pbx.pickup.as_ref().map(|c| format!("{c}X")),
            port: site.pbx.port.to_string(),
            transport: site.pbx.transport.flag().to_string(),
            backup: site.pbx.backup_host.clone().unwrap_or_default(),
            dtmf: site.pbx.dtmf.flag().to_string(),
            language: site.language.language_type.to_string(),
            zone: site.ntp_zone.to_string(),
        }
    }
}

/// The keys of a phone's own file, in vendor order: lines, function keys, site-wide managed values,
/// raw settings, and `[sys] config_sn` (as [`CONFIG_SN_SENTINEL`]).
pub fn phone_entries<'a>(
    site: &'a Site,
    files: &'a ModelFiles,
    phone: &'a PhoneSpec,
    secrets: &'a PhoneSecrets,
) -> Vec<Entry<'a>> {
    let names = thomson::key_names(phone.model);
    let v = &files.site_values;
    let pbx = &site.pbx;
    let mut e: Vec<Entry<'a>> = Vec::with_capacity(200);
    for (n, keys) in names.lines.iter().enumerate() {
        match phone.lines.get(n) {
            Some(line) => {
                e.push(entry("sip", &keys.use_flag, "1"));
                e.push(entry("sip", &keys.number, line.user.as_str()));
                e.push(entry("sip", &keys.regid, line.auth_user.as_str()));
                e.push(entry(
                    "sip",
                    &keys.regpwd,
                    secrets.lines.get(n).map_or("", String::as_str),
                ));
                e.push(entry("sip", &keys.display_name, line.display_name.as_str()));
                e.push(entry("sip", &keys.display_num_flag, "1"));
                e.push(entry("sip", &keys.display_num, line.user.as_str()));
                for (server_keys, host) in keys.servers.iter().zip([&pbx.host, &v.backup]) {
                    let values = [host.as_str(), host, &v.port, &v.port, &v.transport];
                    for (k, value) in server_keys.iter().zip(values) {
                        e.push(entry("sip", k, value));
                    }
                }
            }
            None => {
                // An unused slot is written empty: a line removed from the inventory is removed
                // from the phone, which keeps what it last applied otherwise.
                e.push(entry("sip", &keys.use_flag, "0"));
                for k in [
                    &keys.number,
                    &keys.regid,
                    &keys.regpwd,
                    &keys.display_name,
                    &keys.display_num,
                ] {
                    e.push(entry("sip", k, ""));
                }
                e.push(entry("sip", &keys.display_num_flag, "0"));
            }
        }
    }
    match &pbx.voicemail {
        Some(vm) => {
            e.push(entry("sip", "VoiceMailTelNum", vm.as_str()));
            e.push(entry("sip", "subscribe_event", "1"));
        }
        None => {
            e.push(entry("sip", "VoiceMailTelNum", ""));
            e.push(entry("sip", "subscribe_event", "0"));
        }
    }
    // Pickup by service code: the code then `X`, the place the phone puts the number of the
    // call to pick up (a BLF key picks up the monitored phone's ringing call). Without one, the
    // factory's values: local pickup, no code.
    match &v.pickup_code {
        Some(code) => {
            e.push(entry("sip", "CallPkupFlg", "sc"));
            e.push(entry("sip", "CallPkupSC", code.as_str()));
        }
        None => {
            e.push(entry("sip", "CallPkupFlg", "local"));
            e.push(entry("sip", "CallPkupSC", ""));
        }
    }
    for (k, name) in (1..).zip(&names.function_keys) {
        let value: Cow<str> = match phone.keys.get(&k) {
            Some(FnKey::Blf(t)) => thomson::function_key_value(true, t).into(),
            Some(FnKey::SpeedDial(t)) => thomson::function_key_value(false, t).into(),
            None => thomson::function_key_value(false, "").into(),
        };
        e.push(entry("sys", name, value));
    }
    e.push(entry("sys", "dtmf_mode_flag", v.dtmf.as_str()));
    e.push(entry("sys", "CountryCode", site.country.as_str()));
    e.push(entry("ipp", "LanguageType", v.language.as_str()));
    e.push(entry("ntp", "NtpZoneNum", v.zone.as_str()));
    // NTP off is written as off (the factory's NTPFlag=0, NtpIP empty): a phone keeps a server
    // its file stops naming.
    match &site.ntp {
        Some(ntp) => {
            e.push(entry("ntp", "NTPFlag", "1"));
            e.push(entry("ntp", "NtpIP", ntp.as_str()));
        }
        None => {
            e.push(entry("ntp", "NTPFlag", "0"));
            e.push(entry("ntp", "NtpIP", ""));
        }
    }
    e.push(entry("sys", "WebPWD", secrets.admin.as_str()));
    e.push(entry("sys", "TelnetPWD", secrets.admin.as_str()));
    if let Some(u) = &secrets.user {
        e.push(entry("sys", "UserPWD", u.as_str()));
    }
    // The codec order, always stated: a phone with codecs of its own, once they are removed,
    // takes its model's again.
    e.push(entry("sys", "CodecPriority", phone.codecs.1.as_str()));
    // Keys other phones of the model override: this phone states the common value, so a key
    // dropped from its own settings takes the common value again.
    for (s, k) in &files.override_keys {
        if let Some(value) = files.common_values.get(s, k) {
            e.push(entry(s, k, value));
        }
    }
    e.extend(settings_entries(&phone.settings));
    e.push(entry("sys", "config_sn", CONFIG_SN_SENTINEL));
    in_vendor_order(phone.model, e)
}

/// A rendered phone file, config_sn not yet filled in.
#[derive(Debug, Clone)]
pub struct PhoneFile {
    pub body: Vec<u8>,
    /// SHA-256 over what the phone fetches, config_sn left out: its shared files and this file.
    pub digest: String,
}

/// Renders and checks a phone's file.
pub fn render_phone(
    templates: &Templates,
    site: &Site,
    files: &ModelFiles,
    phone: &PhoneSpec,
    secrets: &PhoneSecrets,
    check: bool,
) -> Result<PhoneFile, String> {
    let entries = phone_entries(site, files, phone, secrets);
    let encoded = if templates.overridden.contains("phone.txt") {
        let text = templates.render(
            "phone.txt",
            context! {
                sections => sections(&entries),
                phone => context! { mac => phone.mac, model => phone.model.name(), name => phone.name },
                config_sn => CONFIG_SN_SENTINEL,
                site => site_ctx(site),
            },
        )?;
        vendor_format::encode(&text)
    } else {
        write_default(&entries)
    };
    let body = encoded
        .map_err(|c| format!("phone {}: `{c}` cannot be encoded in ISO-8859-1", phone.mac))?;
    // Files to be written are checked; an older commit's, rendered only for its digest, are not.
    if check {
        let filled = fill_config_sn(&body, "000000000000");
        vendor_format::validate_config(&filled, phone.model.vocabulary(), FileKind::Phone)
            .map_err(|p| {
                let origin = if templates.overridden.contains("phone.txt") {
                    " (rendered by the inventory's templates/phone.txt: fix the template)"
                } else {
                    ""
                };
                format!(
                    "the file of phone {} is not valid: {}{origin}",
                    phone.mac,
                    p.join("; ")
                )
            })?;
    }
    let mut d = Sha256::new();
    d.update(files.shared_digest.as_bytes());
    d.update(&body);
    Ok(PhoneFile {
        digest: crate::hashing::hex(&d.finalize()),
        body,
    })
}

/// Puts the config_sn into a rendered phone file (every place the template wrote it).
pub fn fill_config_sn(body: &[u8], sn: &str) -> Vec<u8> {
    let needle = CONFIG_SN_SENTINEL.as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    // The sentinel starts with '@', which is rare in these files: jump from '@' to '@'.
    while let Some(i) = rest.iter().position(|&b| b == b'@') {
        if rest[i..].starts_with(needle) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(sn.as_bytes());
            rest = &rest[i + needle.len()..];
        } else {
            out.extend_from_slice(&rest[..=i]);
            rest = &rest[i + 1..];
        }
    }
    out.extend_from_slice(rest);
    out
}

/// The per-phone file name: `<MODEL>S_<MAC>.txt`.
pub fn phone_file_name(phone: &PhoneSpec) -> String {
    format!("{}_{}.txt", phone.model.file_prefix(), phone.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_config_sn() {
        let body = format!("[sys]\r\nconfig_sn={CONFIG_SN_SENTINEL}\r\n");
        assert_eq!(fill_config_sn(b"a@b@@c", "x"), b"a@b@@c");
        assert_eq!(
            fill_config_sn(body.as_bytes(), "202611260003"),
            b"[sys]\r\nconfig_sn=202611260003\r\n"
        );
    }

    #[test]
    fn content_names_follow_content() {
        assert_eq!(
            content_name("ST2030S_common", ".txt", &sha256_hex(b"a")),
            "ST2030S_common_ca978112ca1b.txt"
        );
        assert_ne!(
            content_name("x", ".txt", &sha256_hex(b"a")),
            content_name("x", ".txt", &sha256_hex(b"b"))
        );
    }

    fn sample() -> Vec<Entry<'static>> {
        let mut e = Vec::new();
        for (sec, k, v) in [
            ("sys", "config_sn", CONFIG_SN_SENTINEL),
            ("ntp", "NtpZoneNum", "22"),
            ("sip", "TEL1Number", "1001"),
            ("sip", "DisplayName1", "Hélène"),
            ("ipp", "LanguageType", "0"),
            ("sys", "FeatureKeyExt01", "S/<sip:1002>"),
            ("ipp", "LanguageType", "1"),
        ] {
            e.push(entry(sec, k, v));
        }
        in_vendor_order(ModelId::ST2030, e)
    }

    #[test]
    fn vendor_order_puts_sections_and_keys_as_the_vendor_file_does() {
        let out = sample();
        let grouped = sections(&out);
        let names: Vec<&str> = grouped.iter().map(|s| s.name).collect();
        assert_eq!(names, ["ipp", "sip", "sys", "ntp"]);
        assert_eq!(
            grouped[2].entries.last().unwrap().0,
            "config_sn",
            "config_sn closes [sys]"
        );
        assert_eq!(
            grouped[0].entries,
            [("LanguageType", "1")],
            "the last value given wins"
        );
    }

    #[test]
    fn the_direct_writer_equals_the_default_templates() {
        let (templates, _) = Templates::new(&BTreeMap::new(), "inventory").unwrap();
        let entries = sample();
        let direct = write_default(&entries).unwrap();
        for name in ["phone.txt", "common.txt"] {
            let text = templates
                .render(
                    name,
                    context! {
                        sections => sections(&entries),
                        phone => context! { mac => "001F9F16E849", model => "ST2030", name => () },
                        config_sn => CONFIG_SN_SENTINEL,
                        model => "ST2030",
                        site => context! { name => "x", base_url => "http://x/" },
                    },
                )
                .unwrap();
            assert_eq!(vendor_format::encode(&text).unwrap(), direct, "{name}");
        }
        assert!(direct.ends_with(b"\r\n") && !direct.ends_with(b"\r\n\r\n"));
        assert_eq!(
            write_default(&[entry("sip", "DisplayName1", "☎")]),
            Err('☎')
        );
    }
}
