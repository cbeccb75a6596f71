//! The inventory: `site.yaml` and `phones/**/*.yaml` parsed into typed documents, inheritance
//! resolved (site → model → profile → phone) and every rule checked, with each problem located.
//!
//! Parsing is separate from reading files (the source stage reads; this stage takes strings), so
//! tests feed strings and the history walk reuses parsed files by blob id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::error::Diagnostic;
use crate::models::ModelId;
use crate::tables::{self, Language, ZoneError};
use crate::text_rules::{self, Field};
use crate::vendor_format::is_latin1;
use crate::yaml_locate::{self, idx, key, Seg};

/// The factory web admin password: a site that keeps it is open to anyone on the LAN.
pub const FACTORY_ADMIN_PASSWORD: &str = "784518";

// ---------------------------------------------------------------------------------------------
// Documents: the YAML as written.

/// Text that YAML may also write as a number (`user: 1001`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A password as written: a literal, or `{env: NAME}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretDoc {
    Literal(String),
    Env(String),
}

impl<'de> Deserialize<'de> for SecretDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = SecretDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a password string or {env: VARIABLE}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretDoc, E> {
                Ok(SecretDoc::Literal(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SecretDoc, E> {
                Ok(SecretDoc::Literal(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SecretDoc, E> {
                Ok(SecretDoc::Literal(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<SecretDoc, A::Error> {
                let mut env = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k != "env" {
                        return Err(de::Error::unknown_field(&k, &["env"]));
                    }
                    env = Some(map.next_value::<String>()?);
                }
                env.map(SecretDoc::Env)
                    .ok_or_else(|| de::Error::missing_field("env"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML mapping whose keys must be unique. Deserialising into a plain map keeps the last of two
/// equal keys silently (two `ST2030:` models, two `1:` keys): here the second is an error at its
/// line, so what a reviewer reads is what provsite uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UniqueMap<K, V>(pub BTreeMap<K, V>);

impl<K, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<K, V> std::ops::Deref for UniqueMap<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &BTreeMap<K, V> {
        &self.0
    }
}

impl<'a, K, V> IntoIterator for &'a UniqueMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> de::Visitor<'de> for Visit<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<K>()? {
                    let v = map.next_value::<V>()?;
                    let shown = k.to_string();
                    if out.insert(k, v).is_some() {
                        return Err(de::Error::custom(format_args!(
                            "duplicate key `{}`: a key is written once in a mapping",
                            crate::text_rules::shown(&shown)
                        )));
                    }
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Raw vendor settings: section → key → value.
pub type SettingsDoc = UniqueMap<String, UniqueMap<String, serde_yaml::Value>>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDoc {
    pub name: String,
    pub base_url: String,
    pub timezone: String,
    /// Explicit `NtpZoneNum`, for a zone the built-in table does not map.
    #[serde(default)]
    pub ntp_zone: Option<u8>,
    #[serde(default = "default_language")]
    pub language: String,
    /// `CountryCode`; defaults from the language.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub ntp: Option<String>,
    pub pbx: PbxDoc,
    #[serde(default)]
    pub admin_password: Option<SecretDoc>,
    #[serde(default)]
    pub user_password: Option<SecretDoc>,
    /// A site secret file for the example inventory only; PROVSITE_SECRET or --secret-file win.
    #[serde(default)]
    pub example_secret_file: Option<String>,
    #[serde(default)]
    pub firmware: UniqueMap<String, FirmwareSetDoc>,
    #[serde(default)]
    pub models: UniqueMap<String, ModelDoc>,
    #[serde(default)]
    pub profiles: UniqueMap<String, ProfileDoc>,
    #[serde(default)]
    pub settings: SettingsDoc,
    /// The codecs, in order of preference, for the phones and Asterisk alike.
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    #[serde(default)]
    pub dhcp: DhcpDoc,
    #[serde(default)]
    pub asterisk: AsteriskDoc,
}

/// `dhcp:` in site.yaml: how `provsite dhcp` hands the phones their entry point.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpDoc {
    /// Option 43's payload; `{url}` stands for the model's entry-point URL.
    #[serde(default)]
    pub option43: Option<String>,
    /// Also recognise the inventory's phones by MAC address.
    #[serde(default)]
    pub by_mac: bool,
}

/// `asterisk:` in site.yaml: the Asterisk side `provsite asterisk` writes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsteriskDoc {
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub subscribe_context: Option<String>,
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    #[serde(default)]
    pub qualify_frequency: Option<u32>,
    #[serde(default)]
    pub max_contacts: Option<u32>,
    /// The pjsip transport section the endpoints use (default `transport-<pbx.transport>`).
    #[serde(default)]
    pub transport: Option<String>,
    /// The voicemail context of the lines' mailboxes (`<user>@<context>`), default `default`.
    #[serde(default)]
    pub voicemail_context: Option<String>,
}

fn default_language() -> String {
    "en".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxDoc {
    pub host: String,
    #[serde(default)]
    pub backup_host: Option<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default = "default_dtmf")]
    pub dtmf: String,
    #[serde(default)]
    pub voicemail: Option<Text>,
    #[serde(default)]
    pub pickup: Option<Text>,
}

fn default_port() -> u16 {
    5060
}
fn default_transport() -> String {
    "udp".to_string()
}
fn default_dtmf() -> String {
    "rfc2833".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRefDoc {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSetDoc {
    pub model: String,
    pub app: FileRefDoc,
    pub dsp: FileRefDoc,
    pub boot: FileRefDoc,
    #[serde(default)]
    pub telcfg: Option<FileRefDoc>,
    #[serde(default)]
    pub common_base: Option<FileRefDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDoc {
    #[serde(default)]
    pub firmware: Option<String>,
    /// Entry-point file name; default `<MODEL>S.inf`.
    #[serde(default)]
    pub entry_point: Option<String>,
    /// Lines this site allows on the model; at most what the model registers.
    #[serde(default)]
    pub max_lines: Option<usize>,
    /// The codecs of this model's phones and their Asterisk accounts (default: the site's).
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    #[serde(default)]
    pub settings: SettingsDoc,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDoc {
    #[serde(default)]
    pub keys: UniqueMap<u32, KeyDoc>,
    #[serde(default)]
    pub settings: SettingsDoc,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    #[serde(default)]
    pub blf: Option<Text>,
    #[serde(default)]
    pub speed_dial: Option<Text>,
    #[serde(default)]
    pub line: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneDoc {
    pub mac: Text,
    pub model: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub lines: Vec<LineDoc>,
    #[serde(default)]
    pub keys: UniqueMap<u32, KeyDoc>,
    #[serde(default)]
    pub settings: SettingsDoc,
    /// A fixed address for DHCP; not written to the phone's files.
    #[serde(default)]
    pub ip: Option<String>,
    /// This phone's codecs (default: its model's), for its file and its Asterisk accounts.
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineDoc {
    pub user: Text,
    #[serde(default)]
    pub auth_user: Option<Text>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub password: Option<SecretDoc>,
}

// ---------------------------------------------------------------------------------------------
// The resolved inventory: what the later stages read.

/// A password after validation: where it comes from is decided, its value is read at render time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Secret {
    Literal(String),
    Env(String),
    /// HMAC-SHA256 of the site secret and this label.
    Derived(String),
}

/// Where something was written, for messages that come later (missing secrets, firmware).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: String,
    pub path: Vec<Seg>,
}

pub type Settings = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone)]
pub struct Pbx {
    pub host: String,
    pub backup_host: Option<String>,
    pub port: u16,
    pub transport: String,
    pub transport_flag: u8,
    pub dtmf: String,
    pub dtmf_flag: u8,
    pub voicemail: Option<String>,
    pub pickup: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FirmwareFile {
    /// Path inside the repository.
    pub repo_path: String,
    /// File name as the phone sees it (the last path component).
    pub name: String,
    pub sha256: String,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct FirmwareSet {
    pub name: String,
    pub model: ModelId,
    pub app: FirmwareFile,
    pub dsp: FirmwareFile,
    pub boot: FirmwareFile,
    pub telcfg: Option<FirmwareFile>,
    pub common_base: Option<FirmwareFile>,
}

impl FirmwareSet {
    /// Every file of the set, with its role.
    pub fn files(&self) -> Vec<(&'static str, &FirmwareFile)> {
        let mut v = vec![("app", &self.app), ("dsp", &self.dsp), ("boot", &self.boot)];
        if let Some(t) = &self.telcfg {
            v.push(("telcfg", t));
        }
        if let Some(c) = &self.common_base {
            v.push(("common_base", c));
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct ModelCfg {
    pub model: ModelId,
    pub firmware: String,
    pub entry_point: String,
    pub max_lines: usize,
    pub settings: Settings,
    /// Asterisk's names of the codecs, in order.
    pub codecs: Vec<String>,
    /// `[sys] CodecPriority` for the same codecs.
    pub codec_priority: String,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub dhcp: DhcpCfg,
    pub asterisk: AsteriskCfg,
    pub name: String,
    pub base_url: String,
    pub timezone: String,
    pub ntp_zone: u8,
    pub language: Language,
    pub country: String,
    pub ntp: Option<String>,
    pub pbx: Pbx,
    pub admin_password: (Secret, Origin),
    pub user_password: Option<(Secret, Origin)>,
    pub example_secret_file: Option<String>,
    pub firmware: BTreeMap<String, FirmwareSet>,
    pub models: BTreeMap<ModelId, ModelCfg>,
    pub settings: Settings,
}

#[derive(Debug, Clone)]
pub struct DhcpCfg {
    pub option43: String,
    pub by_mac: bool,
}

#[derive(Debug, Clone)]
pub struct AsteriskCfg {
    pub context: String,
    pub subscribe_context: String,
    /// The lines' voicemail context (mailboxes `<user>@<context>`).
    pub voicemail_context: String,
    pub qualify_frequency: u32,
    pub max_contacts: u32,
    pub transport: String,
}

/// Codec names Asterisk's `allow=` knows (chan_pjsip and chan_sip alike).
pub const ASTERISK_CODECS: &[&str] = &[
    "ulaw", "alaw", "g722", "g729", "gsm", "ilbc", "g726", "g726aal2", "adpcm", "slin", "lpc10",
    "speex", "speex16", "opus", "g723", "siren7", "siren14", "testlaw",
];

/// A dialplan context or pjsip section name: letters, digits, `-`, `_`, `.`.
fn is_asterisk_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 79
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FnKey {
    Blf(String),
    SpeedDial(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    pub user: String,
    pub auth_user: String,
    pub display_name: String,
    pub password: Secret,
}

/// Everything a phone's files are rendered from, and nothing else: the renderer sees only this,
/// so it is also the key under which the history walk remembers a phone's digest. A field added
/// here is part of that key by construction (there is no copy of the fields to forget).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneSpec {
    /// 12 upper-case hex digits.
    pub mac: String,
    pub model: ModelId,
    pub name: Option<String>,
    pub profile: Option<String>,
    pub lines: Vec<Line>,
    pub keys: BTreeMap<u32, FnKey>,
    /// Profile settings with the phone's own over them.
    pub settings: Settings,
    pub ip: Option<String>,
    /// Asterisk's names of the phone's codecs and its `CodecPriority` (the model's unless the
    /// phone sets its own).
    pub codecs: (Vec<String>, String),
}

/// A phone: what it is rendered from, and where the inventory says it (for messages).
#[derive(Debug, Clone)]
pub struct Phone {
    pub spec: PhoneSpec,
    pub origin: Origin,
    /// Where each line's password is written (or would be).
    pub password_origins: Vec<Origin>,
}

impl std::ops::Deref for Phone {
    type Target = PhoneSpec;
    fn deref(&self) -> &PhoneSpec {
        &self.spec
    }
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub site: Site,
    /// Sorted by MAC.
    pub phones: Vec<Phone>,
}

impl Inventory {
    /// The models at least one phone uses, in a stable order.
    pub fn models_in_use(&self) -> BTreeSet<ModelId> {
        self.phones.iter().map(|p| p.model).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// One file's text and its path relative to the repository root.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: String,
    pub text: String,
}

/// Locates diagnostics in the files they concern.
struct Reporter<'a> {
    texts: HashMap<&'a str, &'a str>,
    diags: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    fn new() -> Self {
        Reporter {
            texts: HashMap::new(),
            diags: Vec::new(),
        }
    }

    fn add_text(&mut self, src: &'a SourceText) {
        self.texts.insert(&src.path, &src.text);
    }

    fn position(&self, file: &str, path: &[Seg], value: bool) -> Option<(usize, usize)> {
        let text = self.texts.get(file)?;
        if value {
            yaml_locate::locate_value(text, path)
        } else {
            yaml_locate::locate(text, path)
        }
    }

    fn push(&mut self, d: Diagnostic, path: &[Seg], at_value: bool, hint: String) {
        let pos = self.position(&d.file, path, at_value);
        let d = d.at(pos);
        self.diags
            .push(if hint.is_empty() { d } else { d.hint(hint) });
    }

    /// An error at the value found at `path` in `file`.
    fn error(&mut self, file: &str, path: &[Seg], msg: impl Into<String>, hint: impl Into<String>) {
        self.push(Diagnostic::error(file, msg), path, true, hint.into());
    }

    /// An error at the key of `path` (for a field that should not be there).
    fn error_at_key(
        &mut self,
        file: &str,
        path: &[Seg],
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::error(file, msg), path, false, hint.into());
    }

    fn warning(
        &mut self,
        file: &str,
        path: &[Seg],
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::warning(file, msg), path, true, hint.into());
    }

    /// Checks inventory text against its field's rules ([`text_rules`]); false when it fails.
    fn text(&mut self, file: &str, path: &[Seg], field: Field, what: &str, value: &str) -> bool {
        match text_rules::check(field, value) {
            Ok(()) => true,
            Err(why) => {
                self.error(
                    file,
                    path,
                    format!("bad {what} `{}`: {why}", text_rules::shown(value)),
                    format!("write {what} with {}", field_hint(field)),
                );
                false
            }
        }
    }

    fn here(&self, file: &str, path: &[Seg]) -> String {
        match self.position(file, path, true) {
            Some((l, c)) => format!("{file}:{l}:{c}"),
            None => file.to_string(),
        }
    }
}

/// Turns a serde_yaml error into a located diagnostic with a hint.
fn yaml_error(file: &str, text: &str, err: &serde_yaml::Error, base: &[Seg]) -> Diagnostic {
    let full = err.to_string();
    // serde_yaml writes "<path>: <message> at line L column C"; keep the message alone.
    let cleaned = strip_location(&full);
    let mut msg = cleaned.as_str();
    let mut path = base.to_vec();
    if let Some((p, rest)) = msg.split_once(": ") {
        if p.starts_with('.') || p.starts_with('[') || !p.contains(' ') {
            path.extend(yaml_locate::parse_serde_path(p.trim_start_matches('.')));
            msg = rest;
        }
    }
    let pos = err
        .location()
        .map(|l| (l.line(), l.column()))
        .or_else(|| unknown_field(msg).and_then(|f| yaml_locate::locate_key_under(text, &path, f)))
        .or_else(|| yaml_locate::locate_value(text, &path));
    let hint = if let Some(f) = unknown_field(msg) {
        match msg.split_once("expected ") {
            Some((_, expected)) => format!("`{f}` is not a field here; the fields are {expected}"),
            None => format!("remove `{f}`"),
        }
    } else if msg.contains("invalid type") {
        "check the value's type: quote text (\"*98\", \"0612345678\")".to_string()
    } else if msg.contains("missing field") {
        "add the field".to_string()
    } else {
        "fix the YAML syntax at this place (indentation, a missing ':' or quote)".to_string()
    };
    Diagnostic::error(file, msg).at(pos).hint(hint)
}

/// Removes serde_yaml's " at line L column C" (the position is shown on its own line).
fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[i + " at line ".len()..];
    let after_numbers = rest
        .split_once(" column ")
        .map(|(_, r)| r.trim_start_matches(|c: char| c.is_ascii_digit()))
        .unwrap_or("");
    format!("{}{after_numbers}", &msg[..i])
}

fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.split_once("unknown field `").map(|(_, r)| r))?;
    rest.split('`').next()
}

/// Refuses YAML nested deeper than any inventory needs, before a parser spends time on it.
fn check_depth(src: &SourceText) -> Result<(), Diagnostic> {
    match crate::yaml_limits::too_deep(&src.text) {
        None => Ok(()),
        Some(pos) => Err(Diagnostic::error(
            &src.path,
            format!(
                "YAML nested more than {} levels deep",
                crate::yaml_limits::MAX_FLOW_DEPTH
            ),
        )
        .at(Some(pos))
        .hint("an inventory needs a few levels: close the brackets, or write the value in block style")),
    }
}

/// Parses `site.yaml`.
pub fn parse_site(src: &SourceText) -> Result<SiteDoc, Diagnostic> {
    check_depth(src)?;
    serde_yaml::from_str(&src.text).map_err(|e| yaml_error(&src.path, &src.text, &e, &[]))
}

/// Parses a phones file (a list of phones). Reports one error per phone that does not parse.
pub fn parse_phones(src: &SourceText) -> Result<Vec<PhoneDoc>, Vec<Diagnostic>> {
    if src.text.trim().is_empty() {
        return Ok(Vec::new());
    }
    check_depth(src).map_err(|d| vec![d])?;
    let first = match serde_yaml::from_str::<Option<Vec<PhoneDoc>>>(&src.text) {
        Ok(phones) => return Ok(phones.unwrap_or_default()),
        Err(e) => yaml_error(&src.path, &src.text, &e, &[]),
    };
    // Look at every phone on its own, so that all the broken ones are reported at once.
    let mut diags = vec![first.clone()];
    if let Ok(serde_yaml::Value::Sequence(items)) = serde_yaml::from_str(&src.text) {
        for (i, item) in items.into_iter().enumerate() {
            if let Err(e) = serde_yaml::from_value::<PhoneDoc>(item) {
                // serde_yaml already reported this phone's first problem, exactly placed.
                if !within_item(&src.text, i, first.line) {
                    diags.push(yaml_error(&src.path, &src.text, &e, &[idx(i)]));
                }
            }
        }
    } else if first.message.contains("invalid type") && !first.message.contains('.') {
        diags[0].hint =
            Some("a phones file is a YAML list: each phone starts with `- mac: ...`".into());
    }
    Err(diags)
}

/// Splits a phones file written in block style into its top-level items (`- mac: ...` and the
/// lines under it), each a YAML list of one phone on its own. None when the file is not in that
/// shape (flow style, anything but comments before the first item): then parse it whole.
pub fn split_items(text: &str) -> Option<Vec<&str>> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("- ") || line.trim_end() == "-" {
            starts.push(offset);
        } else if starts.is_empty() {
            let t = line.trim();
            if !(t.is_empty() || t.starts_with('#') || t == "---") {
                return None;
            }
        }
        offset += line.len();
    }
    let mut items = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        items.push(&text[start..end]);
    }
    Some(items)
}

/// Whether `line` falls inside the i-th item of the top-level list.
fn within_item(text: &str, i: usize, line: usize) -> bool {
    let start = yaml_locate::locate_value(text, &[idx(i)]).map(|p| p.0);
    let end = yaml_locate::locate_value(text, &[idx(i + 1)]).map(|p| p.0);
    match (start, end) {
        (Some(s), Some(e)) => line >= s && line < e,
        (Some(s), None) => line >= s,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving and validating.

/// Normalises a MAC address written in any usual notation to 12 upper-case hex digits.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_uppercase())
}

/// Checks a base URL: http(s), a host, ending with `/`.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if url.contains('?') || url.contains('#') {
        return Err("it must not hold a query (?) or a fragment (#)".into());
    }
    // The URL is written into entry points, DHCP option 43 (quoted) and web-server
    // configurations: only the characters a plain URL path needs.
    if let Some(c) = url.chars().find(|c| {
        !(c.is_ascii_alphanumeric()
            || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '%' | '@' | '[' | ']'))
    }) {
        return Err(format!(
            "it holds {}; a base URL takes letters, digits and - . _ ~ : / % @ [ ] (percent-encode the rest)",
            text_rules::describe(c)
        ));
    }
    if url.len() > 512 {
        return Err("it is longer than 512 characters".into());
    }
    if !url.ends_with('/') {
        return Err("it must end with /".into());
    }
    Ok(())
}

/// Keys provsite writes from the inventory's own fields: a raw setting may not set them.
fn managed_key(section: &str, key: &str) -> Option<&'static str> {
    let line_key = |k: &str| {
        const PREFIXES: &[&str] = &[
            "TEL0",
            "TEL",
            "regid",
            "regpwd",
            "DisplayNameFlag",
            "DisplayName",
            "DisplayNumFlag",
            "DisplayNum",
            "RegisterServerMP",
            "RegisterServerBK",
            "ProxyServerMP",
            "ProxyServerBK",
            "TransportFlgMP",
            "TransportFlgBK",
            "sip_reg_srv_portMP",
            "sip_reg_srv_portBK",
            "sip_pxy_srv_portMP",
            "sip_pxy_srv_portBK",
        ];
        PREFIXES.iter().any(|p| {
            k.strip_prefix(p).is_some_and(|rest| {
                let rest = rest
                    .strip_suffix("Use")
                    .or(rest.strip_suffix("Number"))
                    .unwrap_or(rest);
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
            })
        })
    };
    match (section, key) {
        ("sys", "config_sn") => Some("config_sn is derived from git history"),
        ("sys", k) if k.starts_with("FeatureKeyExt") => Some("set function keys under `keys:`"),
        ("ipp", "LanguageType") | ("sys", "CountryCode") => {
            Some("set `language:` / `country:` in site.yaml")
        }
        ("ntp", "NtpZoneNum") => Some("set `timezone:` (or `ntp_zone:`) in site.yaml"),
        ("ntp", "NtpIP") | ("ntp", "NTPFlag") => Some("set `ntp:` in site.yaml"),
        ("sys", "dtmf_mode_flag") => Some("set `pbx.dtmf:` in site.yaml"),
        ("sip", "VoiceMailTelNum") | ("sip", "subscribe_event") => {
            Some("set `pbx.voicemail:` in site.yaml")
        }
        ("sip", "CallPkupFlg") | ("sip", "CallPkupSC") => Some("set `pbx.pickup:` in site.yaml"),
        ("sys", "CodecPriority") => {
            Some("set `codecs:` in site.yaml (or per model): it drives Asterisk's allow= too")
        }
        ("sys", "WebPWD") | ("sys", "TelnetPWD") => Some("set `admin_password:` in site.yaml"),
        ("sys", "UserPWD") => Some("set `user_password:` in site.yaml"),
        ("sip", k) if line_key(k) => Some("set lines under the phone's `lines:`"),
        _ => None,
    }
}

/// Checks raw settings against the vocabularies of `models` and turns values into strings.
fn resolve_settings(
    r: &mut Reporter,
    file: &str,
    base: &[Seg],
    doc: &SettingsDoc,
    models: &[ModelId],
) -> Settings {
    let mut out = Settings::new();
    for (section, keys) in doc {
        for (k, value) in keys {
            let mut path = base.to_vec();
            path.push(key(section.clone()));
            path.push(key(k.clone()));
            if let Some(hint) = managed_key(section, k) {
                r.error_at_key(
                    file,
                    &path,
                    format!("{section}.{k} is managed by provsite"),
                    hint,
                );
                continue;
            }
            for m in models {
                let vocab = m.vocabulary();
                if !vocab.has_key(section, k) {
                    let hint = match vocab.suggest(section, k) {
                        Some(s) => format!("did you mean {s}? (keys known to the {m} firmware)"),
                        None => format!(
                            "the {m} firmware has no such key; check the spelling and the section"
                        ),
                    };
                    r.error_at_key(
                        file,
                        &path,
                        format!("unknown key {section}.{k} for {m}"),
                        hint,
                    );
                }
            }
            let text = match value {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                _ => {
                    r.error(
                        file,
                        &path,
                        format!("{section}.{k} must be a string or a number"),
                        "quote the value: \"1\"",
                    );
                    continue;
                }
            };
            if text.contains('\n') || text.contains('\r') {
                r.error(file, &path, format!("the value of {section}.{k} holds a line break"), "a configuration value is one line: remove the line break (a YAML `|` or `>` block adds one)");
                continue;
            }
            if !text.is_empty()
                && !r.text(
                    file,
                    &path,
                    Field::SettingValue,
                    &format!("value of {section}.{k}"),
                    &text,
                )
            {
                continue;
            }
            if !is_latin1(&text) {
                r.error(
                    file,
                    &path,
                    format!("the value of {section}.{k} has characters ISO-8859-1 cannot encode"),
                    "the phones read Latin-1 only: replace those characters",
                );
                continue;
            }
            out.entry(section.clone())
                .or_default()
                .insert(k.clone(), text);
        }
    }
    out
}

fn merge_settings(base: &Settings, over: &Settings) -> Settings {
    let mut out = base.clone();
    for (s, keys) in over {
        let sec = out.entry(s.clone()).or_default();
        for (k, v) in keys {
            sec.insert(k.clone(), v.clone());
        }
    }
    out
}

fn secret_of(doc: &SecretDoc) -> Secret {
    match doc {
        SecretDoc::Literal(s) => Secret::Literal(s.clone()),
        SecretDoc::Env(n) => Secret::Env(n.clone()),
    }
}

/// What a field takes, for hints.
fn field_hint(field: Field) -> &'static str {
    match field {
        Field::SipUser => "an extension or a user name such as 1001 or jdupont",
        Field::DialTarget => "an extension or a number such as 1002, *98 or 0612345678",
        Field::FeatureCode => "the feature code, quoted: \"*98\"",
        Field::Host => "a host name or an IP address",
        Field::Password => "printable ASCII characters without spaces, or use {env: NAME}",
        Field::FileName => "a plain file name such as ST2030S.inf",
        Field::Name => "letters, digits, . _ and -",
        Field::Label | Field::DisplayName | Field::SettingValue => {
            "printable characters on one line"
        }
    }
}

/// Validates the whole inventory. Returns it only when no error remains; diagnostics include
/// warnings either way.
pub fn resolve(
    site_src: &SourceText,
    phone_srcs: &[(SourceText, Arc<Vec<PhoneDoc>>)],
    inventory_dir: &str,
) -> (Option<Inventory>, Vec<Diagnostic>) {
    let mut r = Reporter::new();
    r.add_text(site_src);
    for (src, _) in phone_srcs {
        r.add_text(src);
    }
    let site_doc = match parse_site(site_src) {
        Ok(d) => d,
        Err(d) => return (None, vec![d]),
    };
    let site = resolve_site(&mut r, site_src, &site_doc, inventory_dir);
    let phones = resolve_phones(&mut r, &site_src.path, &site_doc, site.as_ref(), phone_srcs);
    let ok = !r.diags.iter().any(Diagnostic::is_error);
    let inv = match (site, ok) {
        (Some(site), true) => Some(Inventory { site, phones }),
        _ => None,
    };
    (inv, r.diags)
}

fn resolve_site(
    r: &mut Reporter,
    src: &SourceText,
    doc: &SiteDoc,
    inventory_dir: &str,
) -> Option<Site> {
    let f = src.path.as_str();
    let mut ok = true;
    if let Err(why) = check_base_url(&doc.base_url) {
        r.error(
            f,
            &[key("base_url")],
            format!("bad base_url `{}`: {why}", doc.base_url),
            "write the URL phones reach the web root at, e.g. http://prov.example.com/phones/",
        );
        ok = false;
    }
    let zone = tables::ntp_zone_num(&doc.timezone);
    if let Err(ZoneError::Unknown(suggestion)) = &zone {
        let hint = match suggestion {
            Some(z) => format!("did you mean {z}? (IANA names such as Europe/Paris)"),
            None => "use an IANA name such as Europe/Paris".to_string(),
        };
        r.error(
            f,
            &[key("timezone")],
            format!("unknown time zone `{}`", doc.timezone),
            hint,
        );
        ok = false;
    }
    let ntp_zone = match (doc.ntp_zone, zone) {
        (Some(n), _) => {
            if n > tables::NTP_ZONE_MAX {
                r.error(
                    f,
                    &[key("ntp_zone")],
                    format!(
                        "ntp_zone {n} is outside the phone's table (0 to {})",
                        tables::NTP_ZONE_MAX
                    ),
                    "see the NtpZoneNum table in the README",
                );
                ok = false;
            }
            n
        }
        (None, Ok(n)) => n,
        (None, Err(ZoneError::NoMatch)) => {
            r.error(f, &[key("timezone")], format!("time zone `{}` has no match in the phone's zone table (NtpZoneNum)", doc.timezone), "add `ntp_zone: N` to site.yaml with the index of the phone's zone that fits (see the README's NtpZoneNum table)");
            ok = false;
            0
        }
        (None, Err(ZoneError::Unknown(_))) => 0,
    };
    let language = match tables::language(&doc.language) {
        Some(l) => l,
        None => {
            let codes: Vec<&str> = tables::LANGUAGES.iter().map(|l| l.code).collect();
            r.error(
                f,
                &[key("language")],
                format!("unknown language `{}`", doc.language),
                format!("the phones know {}", codes.join(", ")),
            );
            ok = false;
            tables::LANGUAGES[0]
        }
    };
    let country = doc
        .country
        .clone()
        .unwrap_or_else(|| language.country.to_string());
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        r.error(
            f,
            &[key("country")],
            format!("country `{country}` is not a two-letter upper-case code"),
            "write e.g. FR, US, DE",
        );
        ok = false;
    }
    ok &= r.text(f, &[key("name")], Field::Label, "site name", &doc.name);
    if let Some(ntp) = &doc.ntp {
        ok &= r.text(f, &[key("ntp")], Field::Host, "NTP server", ntp);
    }
    // PBX
    let p = &doc.pbx;
    for (field, v) in [
        ("host", Some(&p.host)),
        ("backup_host", p.backup_host.as_ref()),
    ] {
        if let Some(v) = v {
            ok &= r.text(
                f,
                &[key("pbx"), key(field)],
                Field::Host,
                &format!("pbx.{field}"),
                v,
            );
        }
    }
    let transport_flag = tables::transport_flag(&p.transport).unwrap_or_else(|| {
        r.error(
            f,
            &[key("pbx"), key("transport")],
            format!("unknown transport `{}`", p.transport),
            "use udp, tcp or tls",
        );
        ok = false;
        0
    });
    let dtmf_flag = tables::dtmf_mode_flag(&p.dtmf).unwrap_or_else(|| {
        r.error(
            f,
            &[key("pbx"), key("dtmf")],
            format!("unknown DTMF mode `{}`", p.dtmf),
            "use rfc2833, inband or info",
        );
        ok = false;
        1
    });
    for (field, v) in [("voicemail", &p.voicemail), ("pickup", &p.pickup)] {
        if let Some(Text(v)) = v {
            // `*8X` as the vendor writes it is `*8`: provsite adds the X.
            let v = if field == "pickup" {
                v.strip_suffix('X').unwrap_or(v)
            } else {
                v
            };
            ok &= r.text(
                f,
                &[key("pbx"), key(field)],
                Field::FeatureCode,
                &format!("pbx.{field} code"),
                v,
            );
        }
    }
    let pbx = Pbx {
        host: p.host.clone(),
        backup_host: p.backup_host.clone(),
        port: p.port,
        transport: p.transport.clone(),
        transport_flag,
        dtmf: p.dtmf.clone(),
        dtmf_flag,
        voicemail: p.voicemail.as_ref().map(|t| t.0.clone()),
        pickup: p
            .pickup
            .as_ref()
            .map(|t| t.0.strip_suffix('X').unwrap_or(&t.0).to_string()),
    };
    // Passwords of the phone's own web page.
    let admin_origin = Origin {
        file: f.to_string(),
        path: vec![key("admin_password")],
    };
    let admin_password = match &doc.admin_password {
        Some(d) => {
            let s = secret_of(d);
            check_literal_password(r, f, &[key("admin_password")], &s, true);
            s
        }
        None => Secret::Derived("admin".to_string()),
    };
    // The user page's password is always stated: removing `user_password` must not leave the
    // phones with the last one they were given. Omitted, it is derived like the admin's.
    let user_password = Some((
        match &doc.user_password {
            Some(d) => {
                let s = secret_of(d);
                check_literal_password(r, f, &[key("user_password")], &s, false);
                s
            }
            None => Secret::Derived("user".to_string()),
        },
        Origin {
            file: f.to_string(),
            path: vec![key("user_password")],
        },
    ));
    // Firmware sets.
    let mut firmware = BTreeMap::new();
    for (name, set) in &doc.firmware {
        let base = [key("firmware"), key(name.clone())];
        if !r.text(f, &base, Field::Name, "firmware set name", name) {
            ok = false;
            continue;
        }
        let Some(model) = ModelId::parse(&set.model) else {
            r.error(
                f,
                &[key("firmware"), key(name.clone()), key("model")],
                format!("unknown model `{}` in firmware set {name}", set.model),
                "use ST2030, ST2022 or TB30",
            );
            ok = false;
            continue;
        };
        let mut file_of = |role: &str, d: &FileRefDoc| -> Option<FirmwareFile> {
            let mut path = base.to_vec();
            path.push(key(role));
            let sha = d.sha256.to_ascii_lowercase();
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                let mut p = path.clone();
                p.push(key("sha256"));
                r.error(
                    f,
                    &p,
                    format!("sha256 of {name}.{role} is not 64 hex digits"),
                    format!("run `sha256sum {}` and paste the digest", d.file),
                );
                return None;
            }
            let mut p = path.clone();
            p.push(key("file"));
            let Some(repo_path) = join_repo_path(inventory_dir, &d.file) else {
                r.error(f, &p, format!("firmware path `{}` leaves the repository", d.file), "paths are relative to the inventory folder and must stay inside the repository");
                return None;
            };
            let name = repo_path
                .rsplit('/')
                .next()
                .unwrap_or(&repo_path)
                .to_string();
            // The name goes into the entry point's URLs and the store's paths as it is.
            if !r.text(f, &p, Field::FileName, "firmware file name", &name) {
                return None;
            }
            Some(FirmwareFile {
                repo_path,
                name,
                sha256: sha,
                origin: Origin {
                    file: f.to_string(),
                    path: p,
                },
            })
        };
        let app = file_of("app", &set.app);
        let dsp = file_of("dsp", &set.dsp);
        let boot = file_of("boot", &set.boot);
        let telcfg = set.telcfg.as_ref().map(|d| file_of("telcfg", d));
        let common_base = set.common_base.as_ref().map(|d| file_of("common_base", d));
        match (app, dsp, boot, telcfg, common_base) {
            (Some(app), Some(dsp), Some(boot), telcfg, common_base)
                if !matches!(telcfg, Some(None)) && !matches!(common_base, Some(None)) =>
            {
                firmware.insert(
                    name.clone(),
                    FirmwareSet {
                        name: name.clone(),
                        model,
                        app,
                        dsp,
                        boot,
                        telcfg: telcfg.flatten(),
                        common_base: common_base.flatten(),
                    },
                );
            }
            _ => ok = false,
        }
    }
    // Codecs: `codecs:`, or the older `asterisk.codecs` (the same list drives both sides now).
    let site_codecs = match (&doc.codecs, &doc.asterisk.codecs) {
        (Some(_), Some(_)) => {
            r.error_at_key(
                f,
                &[key("asterisk"), key("codecs")],
                "both `codecs:` and `asterisk.codecs:` are set",
                "keep `codecs:` only: it drives the phones and Asterisk alike",
            );
            ok = false;
            Vec::new()
        }
        (Some(list), None) => resolve_codecs(r, f, &[key("codecs")], list),
        (None, Some(list)) => {
            r.warning(
                f,
                &[key("asterisk"), key("codecs")],
                "`asterisk.codecs` now drives the phones' codecs too",
                "move the list to `codecs:` at the top of site.yaml",
            );
            resolve_codecs(r, f, &[key("asterisk"), key("codecs")], list)
        }
        (None, None) => vec![tables::CODECS[0], tables::CODECS[1]],
    };
    for name in doc.profiles.keys() {
        ok &= r.text(
            f,
            &[key("profiles"), key(name.clone())],
            Field::Name,
            "profile name",
            name,
        );
    }
    // Models.
    let mut models = BTreeMap::new();
    for (name, m) in &doc.models {
        let base = [key("models"), key(name.clone())];
        let Some(model) = ModelId::parse(name) else {
            r.error_at_key(
                f,
                &base,
                format!("unknown model `{name}`"),
                "the models are ST2030, ST2022 and TB30",
            );
            ok = false;
            continue;
        };
        let Some(fw) = &m.firmware else {
            r.error_at_key(
                f,
                &base,
                format!("model {model} names no firmware set"),
                "add `firmware: <name of a set under firmware:>`",
            );
            ok = false;
            continue;
        };
        match doc.firmware.get(fw) {
            None => {
                let names: Vec<&str> = doc.firmware.keys().map(String::as_str).collect();
                let hint = match crate::models::closest(fw, names.iter().copied()) {
                    Some(s) => format!("did you mean {s}?"),
                    None if names.is_empty() => {
                        "define it under `firmware:` in site.yaml".to_string()
                    }
                    None => format!("the firmware sets are: {}", names.join(", ")),
                };
                let mut p = base.to_vec();
                p.push(key("firmware"));
                r.error(f, &p, format!("unknown firmware set `{fw}`"), hint);
                ok = false;
            }
            Some(set) if ModelId::parse(&set.model).is_some_and(|sm| sm != model) => {
                let mut p = base.to_vec();
                p.push(key("firmware"));
                r.error(
                    f,
                    &p,
                    format!("firmware set `{fw}` is for {}, not {model}", set.model),
                    "name a set made for this model",
                );
                ok = false;
            }
            Some(_) => {}
        }
        let entry_point = m
            .entry_point
            .clone()
            .unwrap_or_else(|| model.default_entry_point());
        let mut p = base.to_vec();
        p.push(key("entry_point"));
        if r.text(f, &p, Field::FileName, "entry point name", &entry_point) {
            // Entry points sit beside manifest.json and whatever else the web root holds: the
            // `.inf` ending keeps them apart, and is what publish and pruning recognise as theirs.
            if !entry_point.ends_with(".inf") || entry_point.len() == 4 {
                r.error(
                    f,
                    &p,
                    format!("entry point name `{entry_point}` does not end with .inf"),
                    "the phones ask for an .inf file, such as ST2030S.inf",
                );
                ok = false;
            }
        } else {
            ok = false;
        }
        let max_lines = m.max_lines.unwrap_or(model.lines());
        if max_lines == 0 || max_lines > model.lines() {
            let mut p = base.to_vec();
            p.push(key("max_lines"));
            r.error(
                f,
                &p,
                format!("max_lines {max_lines} is outside 1 to {}", model.lines()),
                format!("a {model} registers at most {} lines", model.lines()),
            );
            ok = false;
        }
        let mut p = base.to_vec();
        p.push(key("settings"));
        let settings = resolve_settings(r, f, &p, &m.settings, &[model]);
        let codecs = match &m.codecs {
            Some(list) => {
                let mut p = base.to_vec();
                p.push(key("codecs"));
                resolve_codecs(r, f, &p, list)
            }
            None => site_codecs.clone(),
        };
        models.insert(
            model,
            ModelCfg {
                model,
                firmware: fw.clone(),
                entry_point,
                max_lines,
                settings,
                codecs: codecs.iter().map(|c| c.asterisk.to_string()).collect(),
                codec_priority: tables::codec_priority(&codecs),
            },
        );
    }
    let mut entry_names = BTreeMap::new();
    for cfg in models.values() {
        if let Some(other) = entry_names.insert(cfg.entry_point.clone(), cfg.model) {
            r.error(
                f,
                &[key("models"), key(cfg.model.name()), key("entry_point")],
                format!(
                    "{} and {other} share the entry point {}",
                    cfg.model, cfg.entry_point
                ),
                "give each model its own entry point name",
            );
            ok = false;
        }
    }
    let all_models: Vec<ModelId> = models.keys().copied().collect();
    let settings = resolve_settings(r, f, &[key("settings")], &doc.settings, &all_models);
    let dhcp = resolve_dhcp(r, f, &doc.dhcp);
    let asterisk = resolve_asterisk(r, f, &doc.asterisk, &pbx.transport);
    ok &= !r.diags.iter().any(Diagnostic::is_error);
    ok.then(|| Site {
        dhcp,
        asterisk,
        name: doc.name.clone(),
        base_url: doc.base_url.clone(),
        timezone: doc.timezone.clone(),
        ntp_zone,
        language,
        country,
        ntp: doc.ntp.clone(),
        pbx,
        admin_password: (admin_password, admin_origin),
        user_password,
        example_secret_file: doc.example_secret_file.clone(),
        firmware,
        models,
        settings,
    })
}

fn resolve_dhcp(r: &mut Reporter, f: &str, doc: &DhcpDoc) -> DhcpCfg {
    let option43 = doc.option43.clone().unwrap_or_else(|| "{url}".to_string());
    let at = [key("dhcp"), key("option43")];
    if option43.is_empty() {
        r.error(
            f,
            &at,
            "dhcp.option43 is empty",
            "omit it to send the entry point's URL as plain text ({url})",
        );
    } else if let Some(c) = option43
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || matches!(c, '"' | '\\'))
    {
        r.error(
            f,
            &at,
            format!("dhcp.option43 holds {}, which the DHCP configurations cannot quote", text_rules::describe(c)),
            "option 43 carries ASCII text such as {url}; remove quotes, backslashes, control and non-ASCII characters",
        );
    } else if option43.len() > 255 {
        r.error(
            f,
            &at,
            "dhcp.option43 is longer than 255 bytes, the most a DHCP option holds",
            "shorten the base_url or the payload",
        );
    } else if !option43.contains("{url}") {
        r.warning(
            f,
            &at,
            "dhcp.option43 does not contain {url}: every model gets the same payload",
            "write {url} where the entry point's URL goes",
        );
    }
    DhcpCfg {
        option43,
        by_mac: doc.by_mac,
    }
}

fn resolve_asterisk(r: &mut Reporter, f: &str, doc: &AsteriskDoc, transport: &str) -> AsteriskCfg {
    let mut name = |field: &str, v: &Option<String>, default: String| -> String {
        match v {
            Some(s) if !is_asterisk_name(s) => {
                r.error(
                    f,
                    &[key("asterisk"), key(field)],
                    format!("asterisk.{field} `{s}` is not a valid Asterisk name"),
                    "use letters, digits, -, _ and . (no spaces or brackets)",
                );
                default
            }
            Some(s) => s.clone(),
            None => default,
        }
    };
    let context = name("context", &doc.context, "phones".to_string());
    let subscribe_context = name("subscribe_context", &doc.subscribe_context, context.clone());
    let transport = name(
        "transport",
        &doc.transport,
        format!("transport-{transport}"),
    );
    let voicemail_context = name(
        "voicemail_context",
        &doc.voicemail_context,
        "default".to_string(),
    );
    AsteriskCfg {
        context,
        subscribe_context,
        voicemail_context,
        qualify_frequency: doc.qualify_frequency.unwrap_or(60),
        max_contacts: doc.max_contacts.unwrap_or(1).max(1),
        transport,
    }
}

/// Checks a codec list: each codec must be one the phones and Asterisk both do.
fn resolve_codecs(r: &mut Reporter, f: &str, at: &[Seg], list: &[String]) -> Vec<tables::Codec> {
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let mut p = at.to_vec();
        p.push(Seg::Index(i));
        match tables::codec(c, ASTERISK_CODECS) {
            Ok(codec) if out.contains(&codec) => {
                r.error(
                    f,
                    &p,
                    format!("codec `{c}` is listed twice"),
                    "list each codec once",
                );
            }
            Ok(codec) => out.push(codec),
            Err(why) => {
                let both: Vec<&str> = tables::CODECS.iter().map(|c| c.asterisk).collect();
                let what = match why {
                    tables::CodecError::NotOnPhones => {
                        format!("codec `{c}`: Asterisk can do it, the phones cannot")
                    }
                    tables::CodecError::NotInAsterisk => {
                        format!("codec `{c}`: the phones can do it, Asterisk cannot")
                    }
                    tables::CodecError::Unknown => format!("unknown codec `{c}`"),
                };
                let hint = match crate::models::closest(c, both.iter().copied()) {
                    Some(s) => format!("did you mean {s}? (both sides do {})", both.join(", ")),
                    None => format!("both sides do {}", both.join(", ")),
                };
                r.error(f, &p, what, hint);
            }
        }
    }
    if list.is_empty() {
        r.error(
            f,
            at,
            "the codec list is empty",
            "list at least one codec, e.g. [alaw, ulaw]",
        );
    }
    out
}

/// Warns about a literal password in the repository; refuses the factory admin password.
fn check_literal_password(r: &mut Reporter, file: &str, path: &[Seg], s: &Secret, admin: bool) {
    if let Secret::Literal(p) = s {
        if admin && p == FACTORY_ADMIN_PASSWORD {
            r.error(file, path, "the factory admin password 784518 is refused", "anyone on the LAN knows it: omit admin_password to derive one from the site secret, or use {env: NAME}");
        } else if p.is_empty() {
            r.error(
                file,
                path,
                "the password is empty",
                "omit it to derive one from the site secret, or use {env: NAME}",
            );
        } else {
            r.warning(
                file,
                path,
                "password in repository",
                "use {env: NAME}, or omit it to derive it from the site secret",
            );
        }
        if !p.is_empty() {
            r.text(file, path, Field::Password, "password", p);
        }
    }
}

/// Joins a path written relative to the inventory folder onto it, refusing to leave the repository.
pub fn join_repo_path(inventory_dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains('\\') || rel.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = inventory_dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn resolve_phones(
    r: &mut Reporter,
    site_file: &str,
    site_doc: &SiteDoc,
    site: Option<&Site>,
    phone_srcs: &[(SourceText, Arc<Vec<PhoneDoc>>)],
) -> Vec<Phone> {
    let mut phones = Vec::new();
    let mut macs: HashMap<String, Origin> = HashMap::new();
    let mut users: HashMap<String, Origin> = HashMap::new();
    // Profiles: checked once against every model a phone using them has.
    let mut profile_settings: HashMap<(String, ModelId), Settings> = HashMap::new();
    for (src, docs) in phone_srcs {
        let f = src.path.as_str();
        for (i, doc) in docs.iter().enumerate() {
            let at = |rest: &[Seg]| -> Vec<Seg> {
                let mut p = vec![idx(i)];
                p.extend_from_slice(rest);
                p
            };
            let mut ok = true;
            let mac = match normalize_mac(&doc.mac.0) {
                Some(m) => m,
                None => {
                    r.error(
                        f,
                        &at(&[key("mac")]),
                        format!("bad MAC address `{}`", doc.mac.0),
                        "write 12 hex digits, e.g. 00:1F:9F:16:E8:49 or 001F9F16E849 (quote it)",
                    );
                    ok = false;
                    String::new()
                }
            };
            if !mac.is_empty() {
                let origin = Origin {
                    file: f.to_string(),
                    path: at(&[key("mac")]),
                };
                if let Some(first) = macs.get(&mac) {
                    let first_at = r.here(&first.file, &first.path);
                    r.error(
                        f,
                        &at(&[key("mac")]),
                        format!("duplicate MAC {mac}"),
                        format!("it is also at {first_at}: a phone is listed once"),
                    );
                    ok = false;
                } else {
                    macs.insert(mac.clone(), origin);
                }
            }
            let model = match ModelId::parse(&doc.model) {
                Some(m) => m,
                None => {
                    r.error(
                        f,
                        &at(&[key("model")]),
                        format!("unknown model `{}`", doc.model),
                        "the models are ST2030, ST2022 and TB30",
                    );
                    continue;
                }
            };
            let cfg = site.and_then(|s| s.models.get(&model));
            if site.is_some() && cfg.is_none() {
                r.error(
                    f,
                    &at(&[key("model")]),
                    format!("model {model} is not configured in site.yaml"),
                    format!("add `models: {{{model}: {{firmware: <set>}}}}` to site.yaml"),
                );
                ok = false;
            }
            let max_lines = cfg.map_or(model.lines(), |c| c.max_lines);
            // Profile.
            let profile = match &doc.profile {
                None => None,
                Some(name) => match site_doc.profiles.get(name) {
                    Some(p) => Some((name.clone(), p)),
                    None => {
                        let names: Vec<&str> =
                            site_doc.profiles.keys().map(String::as_str).collect();
                        let hint = match crate::models::closest(name, names.iter().copied()) {
                            Some(s) => format!("did you mean {s}?"),
                            None if names.is_empty() => {
                                "define it under `profiles:` in site.yaml".to_string()
                            }
                            None => format!("the profiles are: {}", names.join(", ")),
                        };
                        r.error(
                            f,
                            &at(&[key("profile")]),
                            format!("unknown profile `{name}`"),
                            hint,
                        );
                        ok = false;
                        None
                    }
                },
            };
            // Lines.
            if doc.lines.is_empty() {
                r.error(
                    f,
                    &at(&[key("mac")]),
                    format!("phone {} has no line", doc.mac.0),
                    "add `lines: [{user: \"1001\"}]`",
                );
                ok = false;
            }
            if doc.lines.len() > max_lines {
                let hint = if max_lines < model.lines() {
                    format!("the site allows {max_lines} (models.{model}.max_lines); a {model} registers up to {}", model.lines())
                } else {
                    format!("a {model} registers at most {max_lines} lines")
                };
                r.error(
                    f,
                    &at(&[key("lines"), idx(max_lines)]),
                    format!("{} lines, but a {model} takes {max_lines}", doc.lines.len()),
                    hint,
                );
                ok = false;
            }
            let mut lines = Vec::new();
            let mut password_origins = Vec::new();
            for (li, l) in doc.lines.iter().enumerate() {
                let lp = |k: &str| at(&[key("lines"), idx(li), key(k)]);
                ok &= r.text(f, &lp("user"), Field::SipUser, "SIP user", &l.user.0);
                if let Some(a) = &l.auth_user {
                    ok &= r.text(f, &lp("auth_user"), Field::SipUser, "SIP auth user", &a.0);
                }
                if let Some(first) = users.get(&l.user.0) {
                    let first_at = r.here(&first.file, &first.path);
                    r.error(
                        f,
                        &lp("user"),
                        format!("duplicate SIP user {}", l.user.0),
                        format!(
                            "it is also at {first_at}: each SIP account registers from one line"
                        ),
                    );
                    ok = false;
                } else {
                    users.insert(
                        l.user.0.clone(),
                        Origin {
                            file: f.to_string(),
                            path: lp("user"),
                        },
                    );
                }
                let mut display_name = l.display_name.clone().unwrap_or_else(|| l.user.0.clone());
                let (spelled, replaced) = text_rules::latin1_spelling(&display_name);
                if !replaced.is_empty() {
                    let list: String = replaced.iter().collect();
                    r.warning(
                        f,
                        &lp("display_name"),
                        format!("display name `{display_name}` is written `{spelled}`: the phones read Latin-1, which has no {list}"),
                        format!("write `{spelled}` yourself to silence this"),
                    );
                    display_name = spelled;
                }
                if !is_latin1(&display_name) {
                    let bad: String = display_name
                        .chars()
                        .filter(|c| (*c as u32) > 0xFF)
                        .collect();
                    r.error(f, &lp("display_name"), format!("display name `{display_name}` has characters ISO-8859-1 cannot encode: {bad}"), "the phones read Latin-1: é, è, ü, ñ are fine; replace the others (e.g. Ł → L)");
                    ok = false;
                }
                ok &= r.text(
                    f,
                    &lp("display_name"),
                    Field::DisplayName,
                    "display name",
                    &display_name,
                );
                let auth_user = l
                    .auth_user
                    .as_ref()
                    .map_or_else(|| l.user.0.clone(), |a| a.0.clone());
                let password = match &l.password {
                    Some(d) => {
                        let s = secret_of(d);
                        check_literal_password(r, f, &lp("password"), &s, false);
                        s
                    }
                    None => Secret::Derived(format!("sip:{}", l.user.0)),
                };
                lines.push(Line {
                    user: l.user.0.clone(),
                    auth_user,
                    display_name,
                    password,
                });
                password_origins.push(Origin {
                    file: f.to_string(),
                    path: lp("password"),
                });
            }
            // Function keys: the profile's, then the phone's own over them.
            let mut keys = BTreeMap::new();
            let fk = model.function_keys();
            let mut key_sources: Vec<(&UniqueMap<u32, KeyDoc>, String, Vec<Seg>)> = Vec::new();
            if let Some((name, p)) = &profile {
                key_sources.push((
                    &p.keys,
                    site_file.to_string(),
                    vec![key("profiles"), key(name.clone()), key("keys")],
                ));
            }
            key_sources.push((&doc.keys, f.to_string(), at(&[key("keys")])));
            for (map, file, base) in key_sources {
                for (n, k) in map {
                    let mut p = base.clone();
                    p.push(key(n.to_string()));
                    if *n == 0 || *n > fk {
                        r.error_at_key(
                            &file,
                            &p,
                            format!("key {n} is outside the {model}'s keys 1 to {fk}"),
                            format!("a {model} has {fk} function keys"),
                        );
                        ok = false;
                        continue;
                    }
                    let set: Vec<(&str, &Text)> = [
                        ("blf", &k.blf),
                        ("speed_dial", &k.speed_dial),
                        ("line", &k.line),
                    ]
                    .into_iter()
                    .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
                    .collect();
                    let key_value = match set.as_slice() {
                        [(kind, Text(target))] => {
                            let mut kp = p.clone();
                            kp.push(key(*kind));
                            if !r.text(&file, &kp, Field::DialTarget, "key target", target) {
                                ok = false;
                                continue;
                            }
                            match *kind {
                                "blf" => FnKey::Blf(target.clone()),
                                "speed_dial" => FnKey::SpeedDial(target.clone()),
                                _ => {
                                    // The vendor's key types are L (programmed: a speed dial)
                                    // and S (supervision: BLF); no documented syntax makes a
                                    // key select a line, and an L key would call the target.
                                    r.error_at_key(
                                        &file,
                                        &kp,
                                        format!("key {n}: `line:` keys are not supported by these phones' files"),
                                        "the key types are blf (S, supervised) and speed_dial (L, programmed); the lines have their own keys on the phone",
                                    );
                                    ok = false;
                                    continue;
                                }
                            }
                        }
                        [] => {
                            r.error_at_key(
                                &file,
                                &p,
                                format!("key {n} has no kind"),
                                "give exactly one of blf, speed_dial or line",
                            );
                            ok = false;
                            continue;
                        }
                        _ => {
                            r.error_at_key(
                                &file,
                                &p,
                                format!("key {n} has more than one kind"),
                                "give exactly one of blf, speed_dial or line",
                            );
                            ok = false;
                            continue;
                        }
                    };
                    keys.insert(*n, key_value);
                }
            }
            // Raw settings: profile's (checked once per model), then the phone's.
            let mut settings = Settings::new();
            if let Some((name, p)) = &profile {
                let cached = profile_settings
                    .entry((name.clone(), model))
                    .or_insert_with(|| {
                        resolve_settings(
                            r,
                            site_file,
                            &[key("profiles"), key(name.clone()), key("settings")],
                            &p.settings,
                            &[model],
                        )
                    });
                settings = cached.clone();
            }
            let own = resolve_settings(r, f, &at(&[key("settings")]), &doc.settings, &[model]);
            settings = merge_settings(&settings, &own);
            if let Some(name) = &doc.name {
                ok &= r.text(f, &at(&[key("name")]), Field::Label, "phone name", name);
            }
            if let Some(ip) = &doc.ip {
                if ip.parse::<std::net::Ipv4Addr>().is_err() {
                    r.error(
                        f,
                        &at(&[key("ip")]),
                        format!("bad IPv4 address `{ip}`"),
                        "write a dotted address such as 192.0.2.50",
                    );
                    ok = false;
                }
            }
            let codecs = match (&doc.codecs, cfg) {
                (Some(list), _) => {
                    let c = resolve_codecs(r, f, &at(&[key("codecs")]), list);
                    (
                        c.iter().map(|c| c.asterisk.to_string()).collect(),
                        tables::codec_priority(&c),
                    )
                }
                (None, Some(cfg)) => (cfg.codecs.clone(), cfg.codec_priority.clone()),
                (None, None) => (Vec::new(), String::new()),
            };
            if ok {
                phones.push(Phone {
                    spec: PhoneSpec {
                        mac,
                        model,
                        name: doc.name.clone(),
                        profile: profile.map(|(n, _)| n),
                        lines,
                        keys,
                        settings,
                        ip: doc.ip.clone(),
                        codecs,
                    },
                    origin: Origin {
                        file: f.to_string(),
                        path: vec![idx(i)],
                    },
                    password_origins,
                });
            }
        }
    }
    // Ties are impossible (MACs are unique once valid), so this order is total and stable.
    phones.sort_by(|a, b| a.mac.cmp(&b.mac));
    phones
}

/// Locates a diagnostic about something recorded with an [`Origin`].
pub fn diagnostic_at(srcs: &[&SourceText], origin: &Origin, d: Diagnostic) -> Diagnostic {
    let pos = srcs
        .iter()
        .find(|s| s.path == origin.file)
        .and_then(|s| yaml_locate::locate_value(&s.text, &origin.path));
    Diagnostic {
        file: origin.file.clone(),
        ..d
    }
    .at(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(extra: &str) -> SourceText {
        SourceText {
            path: "inventory/site.yaml".into(),
            text: format!(
                "name: Test\nbase_url: http://prov.test/\ntimezone: Europe/Paris\nlanguage: fr\npbx: {{host: pbx.test}}\nadmin_password: {{env: ADMIN}}\nfirmware:\n  fw30:\n    model: ST2030\n    app: {{file: firmware/a.zz, sha256: \"{z}\"}}\n    dsp: {{file: firmware/d.zz, sha256: \"{z}\"}}\n    boot: {{file: firmware/b.zz, sha256: \"{z}\"}}\nmodels:\n  ST2030: {{firmware: fw30, settings: {{ipp: {{Ringer_default_vol: \"4\"}}}}}}\nprofiles:\n  sales:\n    keys: {{1: {{blf: \"1002\"}}, 2: {{speed_dial: \"0612345678\"}}}}\n    settings: {{ipp: {{AutoAnsMode: \"0\"}}}}\n{extra}",
                z = "0".repeat(64)
            ),
        }
    }

    fn run(site_src: SourceText, phones: &str) -> (Option<Inventory>, Vec<Diagnostic>) {
        let src = SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: phones.into(),
        };
        let docs = match parse_phones(&src) {
            Ok(d) => d,
            Err(d) => return (None, d),
        };
        resolve(&site_src, &[(src, Arc::new(docs))], "inventory")
    }

    #[test]
    fn resolves_inheritance_site_model_profile_phone() {
        let (inv, diags) = run(site(""), "- mac: 00-1f-9f-16-e8-49\n  model: st2030\n  profile: sales\n  lines:\n    - {user: 1001, display_name: Hélène, password: {env: P}}\n  keys: {2: {blf: \"1003\"}}\n  settings: {ipp: {AutoAnsMode: \"1\"}}\n");
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let inv = inv.unwrap();
        let p = &inv.phones[0];
        assert_eq!(p.mac, "001F9F16E849");
        assert_eq!(p.keys[&1], FnKey::Blf("1002".into()));
        assert_eq!(
            p.keys[&2],
            FnKey::Blf("1003".into()),
            "the phone's key wins over the profile's"
        );
        assert_eq!(
            p.settings["ipp"]["AutoAnsMode"], "1",
            "the phone's setting wins"
        );
        assert_eq!(
            inv.site.models[&ModelId::ST2030].settings["ipp"]["Ringer_default_vol"],
            "4"
        );
        assert_eq!(p.lines[0].password, Secret::Env("P".into()));
        assert_eq!(inv.site.ntp_zone, 22);
        assert_eq!(inv.site.country, "FR");
    }

    #[test]
    fn normalizes_macs() {
        for s in [
            "00:1F:9F:16:E8:49",
            "001f9f16e849",
            "00-1F-9F-16-E8-49",
            "001F.9F16.E849",
        ] {
            assert_eq!(normalize_mac(s).as_deref(), Some("001F9F16E849"), "{s}");
        }
        for s in ["00:1F:9F:16:E8", "00:1F:9F:16:E8:4G", "", "001F9F16E8491"] {
            assert_eq!(normalize_mac(s), None, "{s}");
        }
    }

    #[test]
    fn checks_base_urls() {
        assert!(check_base_url("http://prov.test/").is_ok());
        assert!(check_base_url("https://prov.test:8443/phones/").is_ok());
        assert!(check_base_url("ftp://prov.test/").is_err());
        assert!(check_base_url("http://prov.test").is_err());
        assert!(check_base_url("http:///x/").is_err());
        assert!(check_base_url("http://a b/").is_err());
    }

    #[test]
    fn joins_paths_inside_the_repository() {
        assert_eq!(
            join_repo_path("inventory", "firmware/a.zz").as_deref(),
            Some("inventory/firmware/a.zz")
        );
        assert_eq!(
            join_repo_path("inventory", "../fw/a.zz").as_deref(),
            Some("fw/a.zz")
        );
        assert_eq!(join_repo_path("inventory", "../../a.zz"), None);
        assert_eq!(join_repo_path("inventory", "/etc/passwd"), None);
    }

    #[test]
    fn collects_every_broken_phone_with_positions() {
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  colour: red\n  lines: [{user: \"1\"}]\n- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST2030\n  lines: [{user: \"2\", nick: x}]\n");
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert!(diags[0].message.contains("unknown field `colour`"));
        assert_eq!((diags[0].line, diags[0].column), (3, 3));
        assert!(diags[1].message.contains("unknown field `nick`"));
        assert_eq!(diags[1].line, 7);
    }

    #[test]
    fn splits_block_lists_into_items() {
        let text = "# team\n---\n- mac: a\n  model: x\n\n- mac: b\n";
        assert_eq!(
            split_items(text),
            Some(vec!["- mac: a\n  model: x\n\n", "- mac: b\n"])
        );
        assert_eq!(split_items("[{mac: a}]\n"), None);
        assert_eq!(split_items("phones:\n- mac: a\n"), None);
        assert_eq!(split_items(""), Some(vec![]));
    }

    #[test]
    fn managed_keys_are_refused_in_raw_settings() {
        assert!(managed_key("sip", "TEL1Number").is_some());
        assert!(managed_key("sip", "TEL01Use").is_some());
        assert!(managed_key("sip", "regpwd4").is_some());
        assert!(managed_key("sys", "FeatureKeyExt12").is_some());
        assert!(managed_key("sip", "TELNET").is_none());
        assert!(managed_key("ipp", "AutoAnsMode").is_none());
    }
}
