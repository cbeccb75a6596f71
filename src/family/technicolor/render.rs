//! The Technicolor family's files: the entry point, the common file (merged over the vendor's
//! own when the firmware set gives one), and each phone's file, in the vendor's key order,
//! ISO-8859-1 with CRLF (see `form.rs`). Every file written passes the strict checker
//! (`format.rs`): read back in full, or, for a phone file written through a checked form, by its
//! values.

use std::borrow::Cow;
use std::sync::Arc;

use minijinja::context;

use super::form::{entry, in_vendor_order, sections, Entry, Ordered};
use super::format::{self, FileKind};
use super::keys;
use crate::family::{PhoneBody, PhoneInput, Shared, SharedFile, SharedInput};
use crate::hashing::sha256_hex;
use crate::inventory::{CheckSync, FnKey, Pbx, PhoneSpec, Scope, Settings, Site};
use crate::render::{
    content_name, ModelFiles, PhoneSecrets, Templates, COMMON_DIR, CONFIG_SN_SENTINEL,
};

/// Raw settings as entries.
fn settings_entries(settings: &Settings) -> impl Iterator<Item = Entry<'_>> {
    settings
        .iter()
        .flat_map(|(s, keys)| keys.iter().map(move |(k, v)| entry(s, k, v.as_str())))
}

/// The common file (and the telcfg the firmware set gives), named after their content.
pub(super) fn render_shared(input: SharedInput<'_>) -> Result<Shared, String> {
    let SharedInput {
        templates,
        site,
        model,
        set,
        firmware: fw,
        override_keys,
        ..
    } = input;
    // The common file.
    // The codec order comes from `codecs:` (Asterisk's allow= follows the same list); raw
    // settings cannot set it.
    let merged: Vec<Entry> = settings_entries(&site.settings)
        .chain(settings_entries(&input.cfg.settings))
        .chain(std::iter::once(entry(
            "sys",
            "CodecPriority",
            input.cfg.codec_priority.as_str(),
        )))
        .collect();
    let common_text = match &set.common_base {
        Some(base) => {
            let bytes = fw
                .small
                .get(&base.repo_path)
                .ok_or_else(|| format!("{} was not read", base.repo_path))?;
            let mut file =
                format::parse_lenient(bytes).map_err(|e| format!("{}: {e}", base.repo_path))?;
            for e in &merged {
                file.set(e.section, e.key, &e.value);
            }
            file.to_text()
        }
        None => {
            let ordered = in_vendor_order(model, merged);
            let sections = sections(ordered.iter());
            templates.render(
                "common.txt",
                context! { sections => sections, model => model.name(), site => crate::render::site_ctx(site) },
            )?
        }
    };
    let common = format::encode(&common_text).map_err(|c| {
        format!("the common file of {model} holds `{c}`, which ISO-8859-1 cannot encode")
    })?;
    let common_values = format::check_config(&common, model.vocabulary(), FileKind::Common)
        .or_else(|problems| {
            // A vendor base file may carry keys of a firmware newer than the vocabulary: accept
            // those, but never a malformed file.
            if set.common_base.is_some()
                && problems
                    .iter()
                    .all(|p| p.contains("unknown key") || p.contains("unknown section"))
            {
                format::parse_lenient(&common)
            } else {
                Err(problems.join("; "))
            }
        })
        .map_err(|e| format!("the common file of {model} is not valid: {e}"))?;
    let mut name_input = sha256_hex(&common);
    // Keys other phones override are part of the name: when a key stops being overridden, the
    // phones fetch the common file again (they cache it by name).
    for (s, k) in override_keys {
        name_input.push_str(&format!("\n{s}.{k}"));
    }
    let common_name = content_name(
        &format!("{}S_common", model.name()),
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
    let mut files = vec![SharedFile {
        role: "common",
        name: common_name,
        bytes: common,
    }];
    if let Some((name, bytes)) = telcfg {
        files.push(SharedFile {
            role: "telcfg",
            name,
            bytes,
        });
    }
    Ok(Shared {
        files,
        settings: common_values,
        private: Arc::new(SiteValues::new(&site.scope)),
    })
}

/// The entry point for a release, with absolute URLs under `base_url`.
pub(super) fn entry_point(
    files: &ModelFiles,
    templates: &Templates,
    base_url: &str,
    release: &str,
) -> Result<Vec<u8>, String> {
    let fw = |role: &str| {
        files
            .firmware
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
            telcfg => files.shared_file("telcfg").map(|f| format!("{shared}{}", f.name)).unwrap_or_default(),
            common => format!("{shared}{}", files.shared_file("common").map_or("", |f| f.name.as_str())),
            config => format!("{rel}config/"),
            model => files.model.name(),
        },
    )?;
    let bytes = format::encode(&text)
        .map_err(|c| format!("the entry point holds `{c}`, which ISO-8859-1 cannot encode"))?;
    format::check_entry_point(&bytes).map_err(|p| {
        format!(
            "the entry point of {} is not valid: {}",
            files.model,
            p.join("; ")
        )
    })?;
    Ok(bytes)
}

/// A scope's values as the files write them: formatted once per model for the phones that keep
/// the site's scope, per phone for the others.
#[derive(Debug, Clone)]
struct SiteValues {
    port: String,
    transport: String,
    dtmf: String,
    language: String,
    zone: String,
    pickup_code: Option<String>,
}

impl SiteValues {
    fn new(scope: &Scope) -> SiteValues {
        SiteValues {
            pickup_code: scope.pbx.pickup.as_ref().map(|c| format!("{c}X")),
            port: scope.pbx.port.to_string(),
            transport: scope.pbx.transport.flag().to_string(),
            dtmf: scope.pbx.dtmf.flag().to_string(),
            language: scope.language.language_type.to_string(),
            zone: scope.ntp_zone.to_string(),
        }
    }
}

/// A value of the scope's formatted values, borrowed when they are the model's shared ones.
fn formatted<'a>(
    shared: Option<&'a SiteValues>,
    own: &Option<SiteValues>,
    pick: fn(&SiteValues) -> &String,
) -> Cow<'a, str> {
    match (shared, own) {
        (Some(v), _) => Cow::Borrowed(pick(v).as_str()),
        (None, Some(v)) => Cow::Owned(pick(v).clone()),
        (None, None) => Cow::Borrowed(""),
    }
}

/// The keys of a phone's own file, in vendor order: lines, function keys, site-wide managed values,
/// raw settings, and `[sys] config_sn` (as [`CONFIG_SN_SENTINEL`]).
fn phone_entries<'a>(
    site: &'a Site,
    files: &'a ModelFiles,
    phone: &'a PhoneSpec,
    secrets: &'a PhoneSecrets,
) -> Ordered<'a> {
    let names = keys::key_names(phone.model);
    let scope: &'a Scope = &phone.scope;
    let shared: Option<&'a SiteValues> = Arc::ptr_eq(&phone.scope, &site.scope).then(|| {
        files
            .private
            .downcast_ref()
            .expect("the model's files were rendered by this family")
    });
    let own = shared.is_none().then(|| SiteValues::new(scope));
    let fmt = |pick: fn(&SiteValues) -> &String| formatted(shared, &own, pick);
    let pbx = &scope.pbx;
    let mut e: Vec<Entry<'a>> = Vec::with_capacity(200);
    line_entries(&mut e, &names.lines, phone, secrets, pbx, &fmt);
    // The voicemail code and message waiting are one per phone: on when a line keeps them.
    let voicemail = pbx
        .voicemail
        .as_ref()
        .filter(|_| phone.lines.iter().any(|l| l.voicemail));
    match voicemail {
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
    match &pbx.pickup {
        Some(_) => {
            e.push(entry("sip", "CallPkupFlg", "sc"));
            e.push(entry(
                "sip",
                "CallPkupSC",
                fmt(|v| v.pickup_code.as_ref().expect("a pickup code")),
            ));
        }
        None => {
            e.push(entry("sip", "CallPkupFlg", "local"));
            e.push(entry("sip", "CallPkupSC", ""));
        }
    }
    // The phone's keys are in number order: walked beside the slots, not looked up one by one.
    let mut given = phone.keys.iter().peekable();
    for (k, name) in (1..).zip(&names.function_keys) {
        while given.next_if(|&(&n, _)| n < k).is_some() {}
        let value: Cow<str> = match given.next_if(|&(&n, _)| n == k).map(|(_, key)| key) {
            Some(FnKey::Blf(t)) => keys::function_key_value(true, t).into(),
            Some(FnKey::SpeedDial(t)) => keys::function_key_value(false, t).into(),
            None => keys::UNUSED_FUNCTION_KEY.into(),
        };
        e.push(entry("sys", name, value));
    }
    e.push(entry("sys", "dtmf_mode_flag", fmt(|v| &v.dtmf)));
    e.push(entry("sys", "CountryCode", scope.country.as_str()));
    e.push(entry("ipp", "LanguageType", fmt(|v| &v.language)));
    e.push(entry("ntp", "NtpZoneNum", fmt(|v| &v.zone)));
    network_entries(&mut e, scope);
    // NTP off is written as off (the factory's NTPFlag=0, NtpIP empty): a phone keeps a server
    // its file stops naming.
    match &scope.ntp {
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
    // Login names only when set: the reference gives no factory value to go back to (a name
    // dropped from the inventory is reported as kept by the phones).
    if let Some(id) = &scope.admin_user {
        e.push(entry("sys", "TelnetID", id.as_str()));
    }
    if let Some(id) = &scope.user_id {
        e.push(entry("sys", "UserID", id.as_str()));
    }
    // The codec order, always stated: a phone with codecs of its own, once they are removed,
    // takes its model's again.
    e.push(entry("sys", "CodecPriority", phone.codecs.1.as_str()));
    // Keys other phones of the model override: this phone states the common value, so a key
    // dropped from its own settings takes the common value again.
    for (s, k) in &files.override_keys {
        if let Some(value) = files.settings.get(s, k) {
            e.push(entry(s, k, value));
        }
    }
    e.extend(settings_entries(&phone.settings));
    e.push(entry("sys", "config_sn", CONFIG_SN_SENTINEL));
    in_vendor_order(phone.model, e)
}

/// The line slots: each used slot's identity and servers (its own or the PBX's), each unused slot
/// written empty.
fn line_entries<'a>(
    e: &mut Vec<Entry<'a>>,
    slots: &'a [keys::LineKeys],
    phone: &'a PhoneSpec,
    secrets: &'a PhoneSecrets,
    pbx: &'a Pbx,
    fmt: &dyn Fn(fn(&SiteValues) -> &String) -> Cow<'a, str>,
) {
    for (n, keys) in slots.iter().enumerate() {
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
                let host: &str = line.host.as_deref().unwrap_or(&pbx.host);
                let backup: &str = match &line.backup_host {
                    Some(b) => b.as_deref().unwrap_or(""),
                    None => pbx.backup_host.as_deref().unwrap_or(""),
                };
                let port: Cow<'a, str> = match line.port {
                    Some(p) => p.to_string().into(),
                    None => fmt(|v| &v.port),
                };
                let transport: Cow<'a, str> = match line.transport {
                    Some(t) => t.flag().to_string().into(),
                    None => fmt(|v| &v.transport),
                };
                // The main proxy is the outbound proxy when there is one (a line with a
                // registrar of its own uses that registrar for both).
                let proxy = match (&line.host, &pbx.outbound_proxy) {
                    (None, Some(p)) => p.as_str(),
                    _ => host,
                };
                let [main, bk] = &keys.servers;
                // [RegisterServer, ProxyServer, sip_reg_srv_port, sip_pxy_srv_port, TransportFlg]
                for (k, value) in main.iter().zip([host, proxy]) {
                    e.push(entry("sip", k, value));
                }
                for (k, value) in bk.iter().zip([backup, backup]) {
                    e.push(entry("sip", k, value));
                }
                for servers in [main, bk] {
                    e.push(entry("sip", &servers[2], port.clone()));
                    e.push(entry("sip", &servers[3], port.clone()));
                    e.push(entry("sip", &servers[4], transport.clone()));
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
}

/// VLAN, DNS servers and XML directories, each written off when unset: `VLAN=0`,
/// `DNSSrvN=0.0.0.0` (as Wazo writes them) and empty directory slots.
fn network_entries<'a>(e: &mut Vec<Entry<'a>>, scope: &'a Scope) {
    match &scope.vlan {
        Some(v) => {
            e.push(entry("net", "VLAN", "1"));
            e.push(entry("qos", "VLANid1", v.voice.to_string()));
            if let Some(pc) = v.pc {
                e.push(entry("qos", "VLANid2", pc.to_string()));
            }
            if let Some(p) = v.priority {
                e.push(entry("qos", "VLANTag1", p.to_string()));
            }
        }
        None => e.push(entry("net", "VLAN", "0")),
    }
    for (k, dns) in ["DNSSrv1", "DNSSrv2"].into_iter().enumerate() {
        let value: Cow<'a, str> = match scope.dns.get(k) {
            Some(a) => a.to_string().into(),
            None => "0.0.0.0".into(),
        };
        e.push(entry("net", dns, value));
    }
    let auto = &scope.autoprovision;
    match &auto.check_sync {
        Some(from) => {
            let addr = match from {
                CheckSync::Pbx => scope.pbx.host.as_str(),
                CheckSync::Address(a) => a.as_str(),
            };
            e.push(entry("sip", "sw_notify_autoprovision", "1"));
            e.push(entry("sip", "AuthNotifyCheckSync", addr));
        }
        None => {
            e.push(entry("sip", "sw_notify_autoprovision", "0"));
            e.push(entry("sip", "AuthNotifyCheckSync", ""));
        }
    }
    match &auto.periodic {
        Some(p) => {
            e.push(entry("autoprovision", "AutoprovisionFlag", "1"));
            for (k, v) in [
                ("AutoprovisionTimeDays", &p.days),
                ("Autoprovisionstarttime", &p.start),
                ("AutoprovisionTimeSpan", &p.span),
                ("AutoprovisionRetryPeriod", &p.retry),
            ] {
                if let Some(v) = v {
                    e.push(entry("autoprovision", k, v.as_str()));
                }
            }
        }
        None => e.push(entry("autoprovision", "AutoprovisionFlag", "0")),
    }
    for (i, (name_key, url_key)) in keys::phonebook_keys().iter().enumerate() {
        let (name, url) = match scope.directory.get(i) {
            Some(d) => (d.name.as_str(), d.url.as_str()),
            None => ("", ""),
        };
        e.push(entry("sys", name_key, name));
        e.push(entry("sys", url_key, url));
    }
}

/// Renders a phone's file, config_sn as [`CONFIG_SN_SENTINEL`].
///
/// With the default template, the file is written through its entries' [`Form`], and is
/// proven (see [`PhoneBody`]) when its values are clean and the form's first such file passed
/// the strict check in full.
pub(super) fn render_phone(input: PhoneInput<'_>) -> Result<PhoneBody, String> {
    let PhoneInput {
        templates,
        site,
        files,
        phone,
        secrets,
    } = input;
    let entries = phone_entries(site, files, phone, secrets);
    let unencodable =
        |c: char| format!("phone {}: `{c}` cannot be encoded in ISO-8859-1", phone.mac);
    if templates.overridden.contains(PHONE_TEMPLATE) {
        let text = templates.render(
            PHONE_TEMPLATE,
            context! {
                sections => sections(entries.iter()),
                phone => context! { mac => phone.mac, model => phone.model.name(), name => phone.name },
                config_sn => CONFIG_SN_SENTINEL,
                site => crate::render::site_ctx(site),
            },
        )?;
        return Ok(PhoneBody {
            bytes: format::encode(&text).map_err(unencodable)?,
            proven: false,
        });
    }
    let (bytes, proven) = entries.write(phone.model).map_err(unencodable)?;
    Ok(PhoneBody { bytes, proven })
}

/// The template of a phone's own file.
pub(super) const PHONE_TEMPLATE: &str = "phone.txt";
