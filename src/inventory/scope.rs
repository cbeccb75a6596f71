//! The scope of a phone: what it takes from the site, then its model, its groups (outermost
//! first), its profile and itself, each level setting any of the same fields over the one before.

#[allow(unused_imports)]
use super::*;

use std::net::Ipv4Addr;

/// `vlan:` switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// `[qos] VLANid1`: the phone's own (voice) VLAN, 1–4094.
    pub voice: u16,
    /// `[qos] VLANid2`: the PC port's VLAN, 1–4094.
    pub pc: Option<u16>,
    /// `[qos] VLANTag1`: the 802.1p priority, 0–7.
    pub priority: Option<u8>,
}

/// One XML directory: `[sys] PhonebookN_name` / `PhonebookN_url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Directory {
    pub name: String,
    pub url: String,
}

/// When the phones fetch their files again by themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Autoprovision {
    /// Accept a check-sync NOTIFY from this address (`[sip] sw_notify_autoprovision=1`,
    /// `AuthNotifyCheckSync`); None: refuse them.
    pub check_sync: Option<CheckSync>,
    /// A periodic check (`[autoprovision] AutoprovisionFlag=1`) with the vendor's values, whose
    /// formats the reference does not document: passed through, checked as one-line text.
    pub periodic: Option<Periodic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckSync {
    /// The phone's PBX (its `pbx.host`).
    Pbx,
    Address(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Periodic {
    /// `AutoprovisionTimeDays`, `Autoprovisionstarttime`, `AutoprovisionTimeSpan`,
    /// `AutoprovisionRetryPeriod`: each written only when given.
    pub days: Option<String>,
    pub start: Option<String>,
    pub span: Option<String>,
    pub retry: Option<String>,
}

impl Default for Autoprovision {
    /// Check-sync accepted from the PBX only; no periodic check (its value formats are unknown).
    fn default() -> Self {
        Autoprovision {
            check_sync: Some(CheckSync::Pbx),
            periodic: None,
        }
    }
}

/// The most XML directories the phones take (`Phonebook1` to `Phonebook8`).
pub const MAX_DIRECTORIES: usize = 8;

/// Everything a group, a profile or a phone may set over the site: part of what a phone's file is
/// rendered from (so part of its history key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub timezone: String,
    pub ntp_zone: u8,
    pub language: Language,
    pub country: String,
    pub ntp: Option<String>,
    pub pbx: Pbx,
    pub admin_password: (Secret, Origin),
    pub admin_user: Option<String>,
    pub user_password: (Secret, Origin),
    pub user_id: Option<String>,
    pub vlan: Option<Vlan>,
    pub dns: Vec<Ipv4Addr>,
    pub directory: Vec<Directory>,
    pub autoprovision: Autoprovision,
}

/// What one level sets: each field `None` where the level says nothing.
#[derive(Debug, Clone, Default)]
pub(super) struct Patch {
    zone: Option<(String, u8)>,
    language: Option<Language>,
    country: Option<String>,
    ntp: Option<Option<String>>,
    pbx: PbxPatch,
    admin_password: Option<(Secret, Origin)>,
    admin_user: Option<Option<String>>,
    user_password: Option<(Secret, Origin)>,
    user_id: Option<Option<String>>,
    vlan: Option<Option<Vlan>>,
    dns: Option<Vec<Ipv4Addr>>,
    directory: Option<Vec<Directory>>,
    autoprovision: Option<Autoprovision>,
}

#[derive(Debug, Clone, Default)]
struct PbxPatch {
    host: Option<String>,
    backup_host: Option<Option<String>>,
    port: Option<u16>,
    transport: Option<tables::Transport>,
    dtmf: Option<tables::Dtmf>,
    voicemail: Option<Option<String>>,
    pickup: Option<Option<String>>,
    outbound_proxy: Option<Option<String>>,
}

impl Patch {
    pub(super) fn is_empty(&self) -> bool {
        self.zone.is_none()
            && self.language.is_none()
            && self.country.is_none()
            && self.ntp.is_none()
            && self.pbx.is_empty()
            && self.admin_password.is_none()
            && self.admin_user.is_none()
            && self.user_password.is_none()
            && self.user_id.is_none()
            && self.vlan.is_none()
            && self.dns.is_none()
            && self.directory.is_none()
            && self.autoprovision.is_none()
    }

    /// The scope with this level's fields over it.
    pub(super) fn apply(&self, base: &Scope) -> Scope {
        let mut s = base.clone();
        if let Some((tz, zone)) = &self.zone {
            s.timezone = tz.clone();
            s.ntp_zone = *zone;
        }
        if let Some(l) = self.language {
            s.language = l;
            // A level that changes the language and says no country takes the language's.
            if self.country.is_none() {
                s.country = l.country.to_string();
            }
        }
        set(&mut s.country, &self.country);
        set(&mut s.ntp, &self.ntp);
        self.pbx.apply(&mut s.pbx);
        set(&mut s.admin_password, &self.admin_password);
        set(&mut s.admin_user, &self.admin_user);
        set(&mut s.user_password, &self.user_password);
        set(&mut s.user_id, &self.user_id);
        set(&mut s.vlan, &self.vlan);
        set(&mut s.dns, &self.dns);
        set(&mut s.directory, &self.directory);
        set(&mut s.autoprovision, &self.autoprovision);
        s
    }
}

fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *field = v.clone();
    }
}

impl PbxPatch {
    fn is_empty(&self) -> bool {
        self.host.is_none()
            && self.backup_host.is_none()
            && self.port.is_none()
            && self.transport.is_none()
            && self.dtmf.is_none()
            && self.voicemail.is_none()
            && self.pickup.is_none()
            && self.outbound_proxy.is_none()
    }

    fn apply(&self, p: &mut Pbx) {
        set(&mut p.host, &self.host);
        set(&mut p.backup_host, &self.backup_host);
        set(&mut p.port, &self.port);
        set(&mut p.transport, &self.transport);
        set(&mut p.dtmf, &self.dtmf);
        set(&mut p.voicemail, &self.voicemail);
        set(&mut p.pickup, &self.pickup);
        set(&mut p.outbound_proxy, &self.outbound_proxy);
    }
}

/// A host, or `off` (None).
fn host_or_off(r: &mut Reporter, f: &str, path: &[Seg], what: &str, v: &str) -> Option<String> {
    if v == OFF {
        return None;
    }
    r.text(f, path, Field::Host, what, v);
    Some(v.to_string())
}

fn path_of(base: &[Seg], rest: &[&str]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(rest.iter().map(|k| key(k.to_string())));
    p
}

/// Checks a level's scope fields, located under `base` in file `f`.
pub(super) fn resolve_patch(r: &mut Reporter, f: &str, base: &[Seg], doc: &ScopeDoc) -> Patch {
    let at = |rest: &[&str]| path_of(base, rest);
    let mut p = Patch::default();
    if let Some(tz) = &doc.timezone {
        p.zone = Some((tz.clone(), resolve_zone(r, f, base, tz, doc.ntp_zone)));
    } else if let Some(n) = doc.ntp_zone {
        r.error(
            f,
            &at(&["ntp_zone"]),
            "ntp_zone without timezone",
            "set `timezone:` beside it (ntp_zone only says which of the phone's zones it is)",
        );
        let _ = n;
    }
    if let Some(l) = &doc.language {
        p.language = resolve_language(r, f, &at(&["language"]), l);
    }
    if let Some(c) = &doc.country {
        check_country(r, f, &at(&["country"]), c);
        p.country = Some(c.clone());
    }
    if let Some(n) = &doc.ntp {
        p.ntp = Some(host_or_off(r, f, &at(&["ntp"]), "NTP server", n));
    }
    if let Some(pbx) = &doc.pbx {
        p.pbx = resolve_pbx_patch(r, f, &at(&["pbx"]), pbx);
    }
    if let Some(d) = &doc.admin_password {
        let s = secret_of(d);
        check_literal_password(r, f, &at(&["admin_password"]), &s, true);
        p.admin_password = Some((
            s,
            Origin {
                file: f.to_string(),
                path: at(&["admin_password"]),
            },
        ));
    }
    if let Some(d) = &doc.user_password {
        let s = secret_of(d);
        check_literal_password(r, f, &at(&["user_password"]), &s, false);
        p.user_password = Some((
            s,
            Origin {
                file: f.to_string(),
                path: at(&["user_password"]),
            },
        ));
    }
    p.admin_user = doc
        .admin_user
        .as_ref()
        .map(|u| login(r, f, &at(&["admin_user"]), "admin_user", u));
    p.user_id = doc
        .user_id
        .as_ref()
        .map(|u| login(r, f, &at(&["user_id"]), "user_id", u));
    if let Some(v) = &doc.vlan {
        p.vlan = Some(resolve_vlan(r, f, &at(&["vlan"]), v));
    }
    if let Some(v) = &doc.dns {
        p.dns = Some(resolve_dns(r, f, &at(&["dns"]), v));
    }
    if let Some(v) = &doc.directory {
        p.directory = Some(resolve_directory(r, f, &at(&["directory"]), v));
    }
    if let Some(v) = &doc.autoprovision {
        p.autoprovision = Some(resolve_autoprovision(r, f, &at(&["autoprovision"]), v));
    }
    p
}

/// `autoprovision: {check_sync: pbx|ADDRESS|off, periodic: off|{days, start, span, retry}}`;
/// the fields left out keep their defaults (check-sync from the PBX, no periodic check).
pub(super) fn resolve_autoprovision(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    v: &serde_yaml::Value,
) -> Autoprovision {
    let mut a = Autoprovision::default();
    let Some(map) = v.as_mapping() else {
        r.error(
            f,
            path,
            "autoprovision is a mapping",
            "write `autoprovision: {check_sync: pbx, periodic: off}`",
        );
        return a;
    };
    for (k, val) in map {
        let name = k.as_str().unwrap_or("");
        let at = path_of(path, &[name]);
        match name {
            "check_sync" => {
                a.check_sync = match val.as_str() {
                    Some("pbx") => Some(CheckSync::Pbx),
                    _ if is_off(val) => None,
                    Some(host) => {
                        r.text(f, &at, Field::Host, "check_sync address", host);
                        Some(CheckSync::Address(host.to_string()))
                    }
                    None => {
                        r.error(
                            f,
                            &at,
                            "check_sync is `pbx`, an address, or `off`",
                            "write `check_sync: pbx` to accept check-sync from the phone's PBX only",
                        );
                        None
                    }
                }
            }
            "periodic" => a.periodic = resolve_periodic(r, f, &at, val),
            other => r.error_at_key(
                f,
                &at,
                format!(
                    "unknown field `{}` in autoprovision",
                    text_rules::shown(other)
                ),
                "autoprovision takes check_sync and periodic",
            ),
        }
    }
    a
}

fn resolve_periodic(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    v: &serde_yaml::Value,
) -> Option<Periodic> {
    if is_off(v) {
        return None;
    }
    let Some(map) = v.as_mapping() else {
        r.error(
            f,
            path,
            "periodic is `off` or a mapping of the vendor's values",
            "write `periodic: {days: ..., start: ..., span: ..., retry: ...}` with the values your firmware takes (see the README)",
        );
        return None;
    };
    let mut p = Periodic {
        days: None,
        start: None,
        span: None,
        retry: None,
    };
    for (k, val) in map {
        let name = k.as_str().unwrap_or("");
        let at = path_of(path, &[name]);
        let text = match val {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let slot = match name {
            "days" => &mut p.days,
            "start" => &mut p.start,
            "span" => &mut p.span,
            "retry" => &mut p.retry,
            other => {
                r.error_at_key(
                    f,
                    &at,
                    format!("unknown field `{}` in periodic", text_rules::shown(other)),
                    "periodic takes days, start, span and retry",
                );
                continue;
            }
        };
        match text {
            Some(t) if r.text(f, &at, Field::SettingValue, &format!("periodic.{name}"), &t) => {
                *slot = Some(t)
            }
            Some(_) => {}
            None => r.error(
                f,
                &at,
                format!("periodic.{name} is a value of one line"),
                "quote it: the phone's own format is passed through",
            ),
        }
    }
    Some(p)
}

/// A login name (`admin_user`, `user_id`), or `off` for the phone's default.
fn login(r: &mut Reporter, f: &str, path: &[Seg], what: &str, v: &str) -> Option<String> {
    if v == OFF {
        return None;
    }
    r.text(f, path, Field::SipUser, what, v);
    Some(v.to_string())
}

fn resolve_pbx_patch(r: &mut Reporter, f: &str, base: &[Seg], d: &PbxPatchDoc) -> PbxPatch {
    let at = |k: &str| path_of(base, &[k]);
    let mut p = PbxPatch::default();
    if let Some(h) = &d.host {
        r.text(f, &at("host"), Field::Host, "pbx.host", h);
        p.host = Some(h.clone());
    }
    if let Some(h) = &d.backup_host {
        p.backup_host = Some(host_or_off(r, f, &at("backup_host"), "pbx.backup_host", h));
    }
    if let Some(h) = &d.outbound_proxy {
        p.outbound_proxy = Some(host_or_off(
            r,
            f,
            &at("outbound_proxy"),
            "pbx.outbound_proxy",
            h,
        ));
    }
    p.port = d.port;
    if d.port == Some(0) {
        r.error(
            f,
            &at("port"),
            "port 0",
            "give the PBX's SIP port, e.g. 5060",
        );
    }
    if let Some(t) = &d.transport {
        p.transport = parse_transport(r, f, &at("transport"), t);
    }
    if let Some(t) = &d.dtmf {
        p.dtmf = parse_dtmf(r, f, &at("dtmf"), t);
    }
    if let Some(v) = &d.voicemail {
        p.voicemail = Some(feature_code(r, f, &at("voicemail"), "pbx.voicemail", &v.0));
    }
    if let Some(v) = &d.pickup {
        p.pickup = Some(feature_code(r, f, &at("pickup"), "pbx.pickup", &v.0));
    }
    p
}

/// A feature code as the inventory writes it (`*98`, a pickup code with or without its `X`), or
/// `off`.
pub(super) fn feature_code(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    what: &str,
    v: &str,
) -> Option<String> {
    if v == OFF {
        return None;
    }
    // `*8X` as the vendor writes a pickup code is `*8`: provsite adds the X.
    let code = v.strip_suffix('X').unwrap_or(v).to_string();
    r.text(f, path, Field::FeatureCode, &format!("{what} code"), &code);
    Some(code)
}

pub(super) fn parse_transport(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    t: &str,
) -> Option<tables::Transport> {
    let parsed = tables::Transport::parse(t);
    if parsed.is_none() {
        r.error(
            f,
            path,
            format!("unknown transport `{t}`"),
            "use udp, tcp or tls",
        );
    }
    parsed
}

fn parse_dtmf(r: &mut Reporter, f: &str, path: &[Seg], t: &str) -> Option<tables::Dtmf> {
    let parsed = tables::Dtmf::parse(t);
    if parsed.is_none() {
        r.error(
            f,
            path,
            format!("unknown DTMF mode `{t}`"),
            "use rfc2833, inband or info",
        );
    }
    parsed
}

/// A time zone's index in the phones' table, `ntp_zone` first.
pub(super) fn resolve_zone(
    r: &mut Reporter,
    f: &str,
    base: &[Seg],
    timezone: &str,
    ntp_zone: Option<u8>,
) -> u8 {
    let zone = tables::ntp_zone_num(timezone);
    if let Err(ZoneError::Unknown(suggestion)) = &zone {
        let hint = match suggestion {
            Some(z) => format!("did you mean {z}? (IANA names such as Europe/Paris)"),
            None => "use an IANA name such as Europe/Paris".to_string(),
        };
        r.error(
            f,
            &path_of(base, &["timezone"]),
            format!("unknown time zone `{timezone}`"),
            hint,
        );
    }
    match (ntp_zone, zone) {
        (Some(n), _) => {
            if n > tables::NTP_ZONE_MAX {
                r.error(
                    f,
                    &path_of(base, &["ntp_zone"]),
                    format!(
                        "ntp_zone {n} is outside the phone's table (0 to {})",
                        tables::NTP_ZONE_MAX
                    ),
                    "see the NtpZoneNum table in the README",
                );
            }
            n
        }
        (None, Ok(n)) => n,
        (None, Err(ZoneError::NoMatch)) => {
            r.error(f, &path_of(base, &["timezone"]), format!("time zone `{timezone}` has no match in the phone's zone table (NtpZoneNum)"), "add `ntp_zone: N` beside it with the index of the phone's zone that fits (see the README's NtpZoneNum table)");
            0
        }
        (None, Err(ZoneError::Unknown(_))) => 0,
    }
}

pub(super) fn resolve_language(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    code: &str,
) -> Option<Language> {
    let l = tables::language(code);
    if l.is_none() {
        let codes: Vec<&str> = tables::LANGUAGES.iter().map(|l| l.code).collect();
        r.error(
            f,
            path,
            format!("unknown language `{code}`"),
            format!("the phones know {}", codes.join(", ")),
        );
    }
    l
}

pub(super) fn check_country(r: &mut Reporter, f: &str, path: &[Seg], country: &str) {
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        r.error(
            f,
            path,
            format!(
                "country `{}` is not a two-letter upper-case code",
                text_rules::shown(country)
            ),
            "write e.g. FR, US, DE",
        );
    }
}

fn is_off(v: &serde_yaml::Value) -> bool {
    v.as_str() == Some(OFF) || v.as_bool() == Some(false)
}

/// A whole number in a range, or an error at `path`.
fn number_in(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    what: &str,
    v: &serde_yaml::Value,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    match v.as_u64().filter(|n| range.contains(n)) {
        Some(n) => Some(n),
        None => {
            r.error(
                f,
                path,
                format!(
                    "{what} must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
                format!("write e.g. `{what}: {}`", (*range.start()).max(1)),
            );
            None
        }
    }
}

/// `vlan: {voice: 20, pc: 30, priority: 5}` or `vlan: off`.
pub(super) fn resolve_vlan(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    v: &serde_yaml::Value,
) -> Option<Vlan> {
    if is_off(v) {
        return None;
    }
    let Some(map) = v.as_mapping() else {
        r.error(
            f,
            path,
            "vlan is `off` or a mapping",
            "write `vlan: {voice: 20}` (and optionally pc: and priority:), or `vlan: off`",
        );
        return None;
    };
    let mut vlan = Vlan {
        voice: 0,
        pc: None,
        priority: None,
    };
    let mut has_voice = false;
    for (k, val) in map {
        let name = k.as_str().unwrap_or("");
        let at = path_of(path, &[name]);
        match name {
            "voice" => {
                has_voice = true;
                if let Some(n) = number_in(r, f, &at, "vlan.voice", val, 1..=4094) {
                    vlan.voice = n as u16;
                }
            }
            "pc" => {
                vlan.pc = number_in(r, f, &at, "vlan.pc", val, 1..=4094).map(|n| n as u16);
            }
            "priority" => {
                vlan.priority = number_in(r, f, &at, "vlan.priority", val, 0..=7).map(|n| n as u8);
            }
            other => r.error_at_key(
                f,
                &at,
                format!("unknown field `{}` in vlan", text_rules::shown(other)),
                "vlan takes voice, pc and priority",
            ),
        }
    }
    if !has_voice {
        r.error(
            f,
            path,
            "vlan without its voice VLAN",
            "write `voice: N` (1 to 4094), the VLAN of the phone's own traffic",
        );
    }
    (vlan.voice != 0).then_some(vlan)
}

/// `dns: [192.0.2.53, 192.0.2.54]` (at most two) or `dns: off`.
pub(super) fn resolve_dns(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    v: &serde_yaml::Value,
) -> Vec<Ipv4Addr> {
    if is_off(v) {
        return Vec::new();
    }
    let items: Vec<(Vec<Seg>, &serde_yaml::Value)> = match v {
        serde_yaml::Value::Sequence(s) => s
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let mut p = path.to_vec();
                p.push(idx(i));
                (p, x)
            })
            .collect(),
        other => vec![(path.to_vec(), other)],
    };
    if items.len() > 2 {
        r.error(
            f,
            path,
            format!("{} DNS servers: the phones take two", items.len()),
            "keep the first two (DNSSrv1, DNSSrv2)",
        );
    }
    let mut out = Vec::new();
    for (p, x) in items.into_iter().take(2) {
        match x.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
            Some(a) => out.push(a),
            None => r.error(
                f,
                &p,
                "a DNS server is an IPv4 address",
                "write e.g. 192.0.2.53 (the phones take addresses, not names, here)",
            ),
        }
    }
    out
}

/// `directory: [{name: Company, url: http://…}]` (at most 8) or `directory: off`.
pub(super) fn resolve_directory(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    v: &serde_yaml::Value,
) -> Vec<Directory> {
    if is_off(v) {
        return Vec::new();
    }
    let Some(items) = v.as_sequence() else {
        r.error(
            f,
            path,
            "directory is a list or `off`",
            "write `directory: [{name: Company, url: \"http://dir.example/company.xml\"}]`",
        );
        return Vec::new();
    };
    if items.len() > MAX_DIRECTORIES {
        r.error(
            f,
            path,
            format!(
                "{} directories: the phones take {MAX_DIRECTORIES}",
                items.len()
            ),
            "keep eight (Phonebook1 to Phonebook8)",
        );
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate().take(MAX_DIRECTORIES) {
        let mut at = path.to_vec();
        at.push(idx(i));
        let field = |k: &str| item.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let unknown = item
            .as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str())
                    .filter(|k| *k != "name" && *k != "url")
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for k in unknown {
            r.error_at_key(
                f,
                &path_of(&at, &[&k]),
                format!("unknown field `{}` in a directory", text_rules::shown(&k)),
                "a directory has a name and a url",
            );
        }
        let (Some(name), Some(url)) = (field("name"), field("url")) else {
            r.error(
                f,
                &at,
                "a directory has a name and a url",
                "write `{name: Company, url: \"http://dir.example/company.xml\"}`",
            );
            continue;
        };
        let name_ok = r.text(
            f,
            &path_of(&at, &["name"]),
            Field::Label,
            "directory name",
            &name,
        );
        let url_ok = check_directory_url(r, f, &path_of(&at, &["url"]), &url);
        if name_ok && url_ok {
            out.push(Directory { name, url });
        }
    }
    out
}

fn check_directory_url(r: &mut Reporter, f: &str, path: &[Seg], url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let ok = host.is_some_and(|h| !h.is_empty())
        && text_rules::check(Field::SettingValue, url).is_ok()
        && !url.contains(' ');
    if !ok {
        r.error(
            f,
            path,
            format!("bad directory URL `{}`", text_rules::shown(url)),
            "write an absolute http(s) URL, e.g. http://dir.example/company.xml",
        );
    }
    ok
}
