//! The YAML documents as written: `site.yaml` and the phones files, deserialised strictly.

#[allow(unused_imports)]
use super::*;

// Documents: the YAML as written.

/// Text that YAML may also write as a number (`user: 1001`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(pub String);

// Written back (for the parse cache) in the shape it is read from.
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

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

impl serde::Serialize for SecretDoc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            SecretDoc::Literal(v) => s.serialize_str(v),
            SecretDoc::Env(name) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", name)?;
                m.end()
            }
        }
    }
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

impl<K, V> UniqueMap<K, V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for UniqueMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
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
                // The key is written out for a message only (not for each of a fleet's keys).
                let duplicate = |k: &K| {
                    de::Error::custom(format_args!(
                        "duplicate key `{}`: a key is written once in a mapping",
                        crate::text_rules::shown(&k.to_string())
                    ))
                };
                // Keys nearly always come in order (a serialised map's always do): while they
                // do, they are listed, and the tree is built from the list at once (inserted one
                // by one, each would search the tree). A key equal to the one before is the
                // only duplicate an ordered list can hold.
                let mut listed: Vec<(K, V)> = Vec::new();
                let mut out = loop {
                    let Some(k) = map.next_key::<K>()? else {
                        return Ok(UniqueMap(listed.into_iter().collect()));
                    };
                    let v = map.next_value::<V>()?;
                    match listed.last() {
                        Some((last, _)) if *last == k => return Err(duplicate(&k)),
                        Some((last, _)) if *last > k => {
                            let mut out: BTreeMap<K, V> = listed.into_iter().collect();
                            if out.contains_key(&k) {
                                return Err(duplicate(&k));
                            }
                            out.insert(k, v);
                            break out;
                        }
                        _ => listed.push((k, v)),
                    }
                };
                while let Some(k) = map.next_key::<K>()? {
                    let v = map.next_value::<V>()?;
                    match out.entry(k) {
                        std::collections::btree_map::Entry::Occupied(e) => {
                            return Err(duplicate(e.key()));
                        }
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(v);
                        }
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

/// `pbx:` below the site (a group, a profile, a phone): any of the site's fields, each optional.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PbxPatchDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_proxy: Option<String>,
}

/// The fields a group, a profile or a phone may set over the site's (see [`ScopeDoc`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeDoc {
    pub timezone: Option<String>,
    pub ntp_zone: Option<u8>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub ntp: Option<String>,
    pub pbx: Option<PbxPatchDoc>,
    pub admin_password: Option<SecretDoc>,
    pub admin_user: Option<String>,
    pub user_password: Option<SecretDoc>,
    pub user_id: Option<String>,
    pub vlan: Option<serde_yaml::Value>,
    pub dns: Option<serde_yaml::Value>,
    pub directory: Option<serde_yaml::Value>,
    pub autoprovision: Option<serde_yaml::Value>,
}

/// Defines a document type with the scope fields after its own, and its `scope_doc()`. The
/// fields of some size that nearly no document sets are boxed: a phone's document stays at about
/// 450 bytes instead of 920, and 100,000 of them are read on one thread and resolved on another.
macro_rules! with_scope_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($own:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($own)*
            /// IANA time zone (`NtpZoneNum`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timezone: Option<String>,
            /// Explicit `NtpZoneNum`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ntp_zone: Option<u8>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub language: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub country: Option<String>,
            /// NTP server, or `off`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ntp: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub pbx: Option<Box<PbxPatchDoc>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub admin_password: Option<Box<SecretDoc>>,
            /// The admin login name (`TelnetID`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub admin_user: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub user_password: Option<Box<SecretDoc>>,
            /// The user login name (`UserID`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub user_id: Option<String>,
            /// `{voice: N, pc: N, priority: N}` or `off`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub vlan: Option<Box<serde_yaml::Value>>,
            /// Up to two DNS servers, or `off`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dns: Option<Box<serde_yaml::Value>>,
            /// Up to 8 `{name, url}` XML directories, or `off`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub directory: Option<Box<serde_yaml::Value>>,
            /// `{check_sync: pbx|ADDRESS|off, periodic: off|{days, start, span, retry}}`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub autoprovision: Option<Box<serde_yaml::Value>>,
        }

        impl $name {
            /// Whether it sets any scope field: when not, its [`Self::scope_doc`] is the
            /// default one (found without cloning a field).
            pub fn sets_scope(&self) -> bool {
                let ScopeDoc {
                    timezone,
                    ntp_zone,
                    language,
                    country,
                    ntp,
                    pbx,
                    admin_password,
                    admin_user,
                    user_password,
                    user_id,
                    vlan,
                    dns,
                    directory,
                    autoprovision,
                } = ScopeDoc::default();
                // Every field of ScopeDoc is named above (a new one fails to compile there),
                // and compared here.
                self.timezone != timezone
                    || self.ntp_zone != ntp_zone
                    || self.language != language
                    || self.country != country
                    || self.ntp != ntp
                    || self.pbx.as_deref() != pbx.as_ref()
                    || self.admin_password.as_deref() != admin_password.as_ref()
                    || self.admin_user != admin_user
                    || self.user_password.as_deref() != user_password.as_ref()
                    || self.user_id != user_id
                    || self.vlan.as_deref() != vlan.as_ref()
                    || self.dns.as_deref() != dns.as_ref()
                    || self.directory.as_deref() != directory.as_ref()
                    || self.autoprovision.as_deref() != autoprovision.as_ref()
            }

            /// The scope fields this document sets.
            pub fn scope_doc(&self) -> ScopeDoc {
                ScopeDoc {
                    timezone: self.timezone.clone(),
                    ntp_zone: self.ntp_zone,
                    language: self.language.clone(),
                    country: self.country.clone(),
                    ntp: self.ntp.clone(),
                    pbx: self.pbx.as_deref().cloned(),
                    admin_password: self.admin_password.as_deref().cloned(),
                    admin_user: self.admin_user.clone(),
                    user_password: self.user_password.as_deref().cloned(),
                    user_id: self.user_id.clone(),
                    vlan: self.vlan.as_deref().cloned(),
                    dns: self.dns.as_deref().cloned(),
                    directory: self.directory.as_deref().cloned(),
                    autoprovision: self.autoprovision.as_deref().cloned(),
                }
            }
        }
    };
}

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
    /// The admin login name (`TelnetID`).
    #[serde(default)]
    pub admin_user: Option<String>,
    /// The user login name (`UserID`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// `{voice: N, pc: N, priority: N}` or `off`.
    #[serde(default)]
    pub vlan: Option<serde_yaml::Value>,
    /// Up to two DNS servers, or `off`.
    #[serde(default)]
    pub dns: Option<serde_yaml::Value>,
    /// Up to 8 `{name, url}` XML directories, or `off`.
    #[serde(default)]
    pub directory: Option<serde_yaml::Value>,
    /// `{check_sync: pbx|ADDRESS|off, periodic: off|{days, start, span, retry}}`.
    #[serde(default)]
    pub autoprovision: Option<serde_yaml::Value>,
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

pub(super) fn default_language() -> String {
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
    /// Where the phones send their SIP requests (`ProxyServerMP`), when not the registrar.
    #[serde(default)]
    pub outbound_proxy: Option<String>,
}

pub(super) fn default_port() -> u16 {
    5060
}
pub(super) fn default_transport() -> String {
    "udp".to_string()
}
pub(super) fn default_dtmf() -> String {
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
    /// The admin password of this model's phones (over the site's).
    #[serde(default)]
    pub admin_password: Option<SecretDoc>,
}

with_scope_fields! {
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ProfileDoc {
        #[serde(default)]
        pub keys: UniqueMap<u32, KeyDoc>,
        #[serde(default)]
        pub settings: SettingsDoc,
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blf: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_dial: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<Text>,
}

with_scope_fields! {
    #[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct PhoneDoc {
        pub mac: Text,
        pub model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub profile: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub lines: Vec<LineDoc>,
        #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
        pub keys: UniqueMap<u32, KeyDoc>,
        #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
        pub settings: SettingsDoc,
        /// A fixed address for DHCP; not written to the phone's files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ip: Option<String>,
        /// This phone's codecs (default: its model's), for its file and its Asterisk accounts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub codecs: Option<Vec<String>>,
        /// This phone's firmware set (default: its groups', else its model's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub firmware: Option<String>,
    }
}

/// What only resolving a phone's own entry reads (`resolve_own`): its name, lines, keys and
/// settings, owned, so that resolving moves their strings rather than copies them.
#[derive(Default)]
pub struct OwnDocParts {
    pub name: Option<String>,
    pub lines: Vec<LineDoc>,
    pub keys: UniqueMap<u32, KeyDoc>,
    pub settings: SettingsDoc,
}

impl PhoneDoc {
    /// Takes the parts only resolving the phone's own entry reads, leaving them empty: nothing
    /// after it reads them.
    pub fn take_own_parts(&mut self) -> OwnDocParts {
        OwnDocParts {
            name: self.name.take(),
            lines: std::mem::take(&mut self.lines),
            keys: std::mem::take(&mut self.keys),
            settings: std::mem::take(&mut self.settings),
        }
    }

    /// A copy of the same parts, the entry left whole.
    pub fn own_parts(&self) -> OwnDocParts {
        OwnDocParts {
            name: self.name.clone(),
            lines: self.lines.clone(),
            keys: self.keys.clone(),
            settings: self.settings.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineDoc {
    pub user: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretDoc>,
    /// This line's registrar, when not the PBX's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// This line's backup registrar, or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_host: Option<String>,
    /// `false`: no mailbox for this line (default: the phone's voicemail applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<bool>,
}

with_scope_fields! {
    /// `phones/**/group.yaml`: settings for every phone below its folder (nested folders inherit
    /// from their parents). Its fields are the site's, so moving a setting down is a cut and paste.
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct GroupDoc {
        /// Per model: settings and codecs, as in site.yaml.
        #[serde(default)]
        pub models: UniqueMap<String, GroupModelDoc>,
        /// The profile of phones that name none.
        #[serde(default)]
        pub profile: Option<String>,
        #[serde(default)]
        pub settings: SettingsDoc,
        #[serde(default)]
        pub codecs: Option<Vec<String>>,
    }
}

/// `models:` in a group file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupModelDoc {
    /// The firmware set of this model's phones in the group (a staged rollout).
    #[serde(default)]
    pub firmware: Option<String>,
    #[serde(default)]
    pub settings: SettingsDoc,
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    #[serde(default)]
    pub admin_password: Option<SecretDoc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a mapping of `keys` (each with its position as value) reads as: the map, or the
    /// duplicate key's message.
    fn read(keys: &[u32]) -> Result<BTreeMap<u32, usize>, String> {
        let yaml: String = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k}: {i}\n"))
            .collect();
        serde_yaml::from_str::<UniqueMap<u32, usize>>(&yaml)
            .map(|m| m.0)
            .map_err(|e| e.to_string())
    }

    /// The same, one key at a time: the first repeated key is the error.
    fn reference(keys: &[u32]) -> Result<BTreeMap<u32, usize>, String> {
        let mut out = BTreeMap::new();
        for (i, &k) in keys.iter().enumerate() {
            if out.insert(k, i).is_some() {
                return Err(format!("duplicate key `{k}`"));
            }
        }
        Ok(out)
    }

    #[test]
    fn a_mapping_reads_whole_in_any_order_and_its_first_repeated_key_is_refused() {
        let cases: &[&[u32]] = &[
            &[],
            &[7],
            &[1, 2, 3, 8],
            &[3, 1, 2],
            &[1, 2, 5, 4, 3, 9, 0],
            &[1, 1],
            &[1, 2, 2, 3],
            &[1, 2, 1],
            &[1, 3, 2, 3],
            &[1, 3, 2, 1],
            &[2, 4, 3, 9, 8, 4],
        ];
        // And every ordering of a few keys with a repeat among them.
        let mut all: Vec<Vec<u32>> = cases.iter().map(|c| c.to_vec()).collect();
        for a in 0..4 {
            for b in 0..4 {
                for c in 0..4 {
                    for d in 0..4 {
                        all.push(vec![a, b, c, d]);
                    }
                }
            }
        }
        for keys in &all {
            match (read(keys), reference(keys)) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{keys:?}"),
                (Err(got), Err(want)) => assert!(got.contains(&want), "{keys:?}: {got}"),
                (got, want) => panic!("{keys:?}: read {got:?}, expected {want:?}"),
            }
        }
    }
}
