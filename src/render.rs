//! The render stage: minijinja templates (embedded defaults, overridable per inventory) turn the
//! resolved inventory into the vendor's files: per model the entry point, the common file and the
//! telephony file; per phone `<MODEL>S_<MAC>.txt`. Every rendered file is read back by the format
//! checker before it may be written.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{context, Environment};
use serde::Serialize;

use crate::error::Diagnostic;
use crate::firmware_store::FirmwareFiles;
use crate::hashing::sha256_hex;
use crate::inventory::{FnKey, Inventory, Phone, Settings, Site};
use crate::models::ModelId;
use crate::vendor_format::{self, ConfigFile, FileKind};

/// Stands for the config_sn while a phone file is rendered: the file is compared with its history
/// without it, then the number is put in. Twelve characters, like the number.
pub const CONFIG_SN_SENTINEL: &str = "@@CONFIGSN@@";

/// Stands for the release folder when an entry point is compared with older ones.
const RELEASE_SENTINEL: &str = "@@RELEASE@@";

const TEMPLATE_NAMES: [&str; 3] = ["entry.inf", "common.txt", "phone.txt"];

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
        if errors.is_empty() {
            Ok((Templates { env, overridden }, warnings))
        } else {
            Err(errors)
        }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| e.to_string())?;
        t.render(ctx).map_err(|e| {
            let origin = if self.overridden.contains(name) {
                "the inventory's"
            } else {
                "the default"
            };
            format!("{origin} template {name}: {e}")
        })
    }
}

#[derive(Serialize)]
struct SectionOut<'a> {
    name: &'a str,
    entries: Vec<(&'a str, &'a str)>,
}

/// Orders `section → key → value` the way the model's default file does.
fn sections_in_vendor_order<'a>(
    model: ModelId,
    entries: &'a BTreeMap<(String, String), String>,
) -> Vec<SectionOut<'a>> {
    let vocab = model.vocabulary();
    let mut sorted: Vec<(&(String, String), &String)> = entries.iter().collect();
    // Unknown names sort last by rank; the (section, key) tuple breaks ties so order is total.
    sorted.sort_by_key(|((s, k), _)| {
        (
            vocab.section_rank(s),
            vocab.key_rank(s, k),
            s.as_str(),
            k.as_str(),
        )
    });
    let mut out: Vec<SectionOut> = Vec::new();
    for ((s, k), v) in sorted {
        match out.last_mut() {
            Some(sec) if sec.name == s => sec.entries.push((k, v)),
            _ => out.push(SectionOut {
                name: s,
                entries: vec![(k, v)],
            }),
        }
    }
    out
}

fn flatten(settings: &Settings) -> impl Iterator<Item = ((String, String), String)> + '_ {
    settings.iter().flat_map(|(s, keys)| {
        keys.iter()
            .map(move |(k, v)| ((s.clone(), k.clone()), v.clone()))
    })
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
    /// Digest of what the model's phones share: entry point (release left out), common, telcfg.
    pub shared_digest: String,
}

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
    let site = &inv.site;
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
    // Keys phones of this model override: the common file's name follows them too, so that when a
    // key stops being overridden the phones fetch the common file again (they cache it by name).
    let mut override_keys = BTreeSet::new();
    for p in inv.phones.iter().filter(|p| p.model == model) {
        for ((s, k), _) in flatten(&p.settings) {
            override_keys.insert((s, k));
        }
    }
    // The common file.
    let mut merged: BTreeMap<(String, String), String> = BTreeMap::new();
    merged.extend(flatten(&site.settings));
    merged.extend(flatten(&cfg.settings));
    let common_text = match &set.common_base {
        Some(base) => {
            let bytes = fw
                .small
                .get(&base.repo_path)
                .ok_or_else(|| format!("{} was not read", base.repo_path))?;
            let mut file = vendor_format::parse_lenient(bytes)
                .map_err(|e| format!("{}: {e}", base.repo_path))?;
            for ((s, k), v) in &merged {
                file.set(s, k, v);
            }
            file.to_text()
        }
        None => {
            let sections = sections_in_vendor_order(model, &merged);
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
        let text = templates.render(
            "entry.inf",
            context! {
                firmware => context! { app => fw("app"), dsp => fw("dsp"), boot => fw("boot") },
                telcfg => self.telcfg.as_ref().map(|(n, _)| format!("{rel}{n}")).unwrap_or_default(),
                common => format!("{rel}{}", self.common_name),
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

/// The keys of a phone's own file: lines, function keys, site-wide managed values, raw settings.
pub fn phone_entries(
    site: &Site,
    files: &ModelFiles,
    phone: &Phone,
    secrets: &PhoneSecrets,
) -> BTreeMap<(String, String), String> {
    let mut e: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut put = |s: &str, k: String, v: String| {
        e.insert((s.to_string(), k), v);
    };
    let pbx = &site.pbx;
    let port = pbx.port.to_string();
    let transport = pbx.transport_flag.to_string();
    let backup = pbx.backup_host.clone().unwrap_or_default();
    for n in 1..=phone.model.line_slots() {
        match phone.lines.get(n - 1) {
            Some(line) => {
                put("sip", format!("TEL0{n}Use"), "1".into());
                put("sip", format!("TEL{n}Number"), line.user.clone());
                put("sip", format!("regid{n}"), line.auth_user.clone());
                put(
                    "sip",
                    format!("regpwd{n}"),
                    secrets.lines.get(n - 1).cloned().unwrap_or_default(),
                );
                put("sip", format!("DisplayName{n}"), line.display_name.clone());
                put("sip", format!("DisplayNumFlag{n}"), "1".into());
                put("sip", format!("DisplayNum{n}"), line.user.clone());
                for (which, host) in [("MP", &pbx.host), ("BK", &backup)] {
                    put("sip", format!("RegisterServer{which}{n}"), host.clone());
                    put("sip", format!("ProxyServer{which}{n}"), host.clone());
                    put("sip", format!("sip_reg_srv_port{which}{n}"), port.clone());
                    put("sip", format!("sip_pxy_srv_port{which}{n}"), port.clone());
                    put("sip", format!("TransportFlg{which}{n}"), transport.clone());
                }
            }
            None => {
                // An unused slot is written empty: a line removed from the inventory is removed
                // from the phone, which keeps what it last applied otherwise.
                put("sip", format!("TEL0{n}Use"), "0".into());
                for k in [
                    "TEL{n}Number",
                    "regid{n}",
                    "regpwd{n}",
                    "DisplayName{n}",
                    "DisplayNum{n}",
                ] {
                    put("sip", k.replace("{n}", &n.to_string()), String::new());
                }
                put("sip", format!("DisplayNumFlag{n}"), "0".into());
            }
        }
    }
    match &pbx.voicemail {
        Some(vm) => {
            put("sip", "VoiceMailTelNum".into(), vm.clone());
            put("sip", "subscribe_event".into(), "1".into());
        }
        None => {
            put("sip", "VoiceMailTelNum".into(), String::new());
            put("sip", "subscribe_event".into(), "0".into());
        }
    }
    if let Some(code) = &pbx.pickup {
        put("sip", "CallPkupFlg".into(), "sc".into());
        put("sip", "CallPkupSC".into(), code.clone());
    }
    for k in 1..=phone.model.function_keys() {
        let v = match phone.keys.get(&k) {
            Some(FnKey::Blf(t)) => format!("S/<sip:{t}>"),
            Some(FnKey::SpeedDial(t)) | Some(FnKey::Line(t)) => format!("L/<sip:{t}>"),
            None => "L/<sip:>".to_string(),
        };
        put("sys", format!("FeatureKeyExt{k:02}"), v);
    }
    put("sys", "dtmf_mode_flag".into(), pbx.dtmf_flag.to_string());
    put("sys", "CountryCode".into(), site.country.clone());
    put(
        "ipp",
        "LanguageType".into(),
        site.language.language_type.to_string(),
    );
    put("ntp", "NtpZoneNum".into(), site.ntp_zone.to_string());
    if let Some(ntp) = &site.ntp {
        put("ntp", "NTPFlag".into(), "1".into());
        put("ntp", "NtpIP".into(), ntp.clone());
    }
    put("sys", "WebPWD".into(), secrets.admin.clone());
    put("sys", "TelnetPWD".into(), secrets.admin.clone());
    if let Some(u) = &secrets.user {
        put("sys", "UserPWD".into(), u.clone());
    }
    // Keys other phones of the model override: this phone states the common value, so a key
    // dropped from its own settings takes the common value again.
    for (s, k) in &files.override_keys {
        if let Some(v) = files.common_values.get(s, k) {
            e.insert((s.clone(), k.clone()), v.to_string());
        }
    }
    e.extend(flatten(&phone.settings));
    e.insert(
        ("sys".into(), "config_sn".into()),
        CONFIG_SN_SENTINEL.into(),
    );
    e
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
    phone: &Phone,
    secrets: &PhoneSecrets,
) -> Result<PhoneFile, String> {
    let entries = phone_entries(site, files, phone, secrets);
    let sections = sections_in_vendor_order(phone.model, &entries);
    let text = templates.render(
        "phone.txt",
        context! {
            sections => sections,
            phone => context! { mac => phone.mac, model => phone.model.name(), name => phone.name },
            config_sn => CONFIG_SN_SENTINEL,
            site => site_ctx(site),
        },
    )?;
    let body = vendor_format::encode(&text)
        .map_err(|c| format!("phone {}: `{c}` cannot be encoded in ISO-8859-1", phone.mac))?;
    let filled = fill_config_sn(&body, "000000000000");
    vendor_format::check_config(&filled, phone.model.vocabulary(), FileKind::Phone).map_err(
        |p| {
            format!(
                "the file of phone {} is not valid: {}",
                phone.mac,
                p.join("; ")
            )
        },
    )?;
    let mut d = files.shared_digest.clone().into_bytes();
    d.extend_from_slice(&body);
    Ok(PhoneFile {
        digest: sha256_hex(&d),
        body,
    })
}

/// Puts the config_sn into a rendered phone file.
pub fn fill_config_sn(body: &[u8], sn: &str) -> Vec<u8> {
    let needle = CONFIG_SN_SENTINEL.as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(needle) {
            out.extend_from_slice(sn.as_bytes());
            i += needle.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// The per-phone file name: `<MODEL>S_<MAC>.txt`.
pub fn phone_file_name(phone: &Phone) -> String {
    format!("{}_{}.txt", phone.model.file_prefix(), phone.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_config_sn() {
        let body = format!("[sys]\r\nconfig_sn={CONFIG_SN_SENTINEL}\r\n");
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

    #[test]
    fn vendor_order_puts_sections_and_keys_as_the_vendor_file_does() {
        let mut e = BTreeMap::new();
        for (s, k) in [
            ("sys", "config_sn"),
            ("ntp", "NtpZoneNum"),
            ("sip", "TEL1Number"),
            ("ipp", "LanguageType"),
            ("sys", "FeatureKeyExt01"),
        ] {
            e.insert((s.to_string(), k.to_string()), "1".to_string());
        }
        let out = sections_in_vendor_order(ModelId::ST2030, &e);
        let names: Vec<&str> = out.iter().map(|s| s.name).collect();
        assert_eq!(names, ["ipp", "sip", "sys", "ntp"]);
        assert_eq!(
            out[2].entries.last().unwrap().0,
            "config_sn",
            "config_sn closes [sys]"
        );
    }
}
