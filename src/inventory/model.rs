//! The resolved inventory: what the later stages read.

#[allow(unused_imports)]
use super::*;

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pbx {
    pub host: String,
    pub backup_host: Option<String>,
    pub port: u16,
    pub transport: tables::Transport,
    pub dtmf: tables::Dtmf,
    pub voicemail: Option<String>,
    pub pickup: Option<String>,
    /// Where the phones send their requests (`ProxyServerMP`), when not the registrar.
    pub outbound_proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareFile {
    /// Path inside the repository.
    pub repo_path: String,
    /// File name as the phone sees it (the last path component).
    pub name: String,
    pub sha256: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSet {
    pub name: String,
    pub model: ModelId,
    pub app: FirmwareFile,
    pub dsp: FirmwareFile,
    pub boot: FirmwareFile,
    pub telcfg: Option<FirmwareFile>,
    pub common_base: Option<FirmwareFile>,
}

/// What a file of a firmware set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FirmwareRole {
    /// The application image.
    App,
    /// The DSP image.
    Dsp,
    /// The boot loader.
    Boot,
    /// The telephony settings file the vendor ships with the firmware.
    Telcfg,
    /// The vendor's common file that the site's settings are merged over.
    CommonBase,
}

impl FirmwareRole {
    /// A settings file (small, read into memory), rather than an image to flash.
    pub fn is_settings(self) -> bool {
        matches!(self, FirmwareRole::Telcfg | FirmwareRole::CommonBase)
    }

    /// As `site.yaml` and the manifest spell it.
    pub fn name(self) -> &'static str {
        match self {
            FirmwareRole::App => "app",
            FirmwareRole::Dsp => "dsp",
            FirmwareRole::Boot => "boot",
            FirmwareRole::Telcfg => "telcfg",
            FirmwareRole::CommonBase => "common_base",
        }
    }
}

impl std::fmt::Display for FirmwareRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FirmwareSet {
    /// The images the phone flashes, in the order its entry point names them.
    pub fn firmware(&self) -> impl Iterator<Item = (FirmwareRole, &FirmwareFile)> {
        [
            (FirmwareRole::App, &self.app),
            (FirmwareRole::Dsp, &self.dsp),
            (FirmwareRole::Boot, &self.boot),
        ]
        .into_iter()
    }

    /// Every file of the set, with its role.
    pub fn files(&self) -> Vec<(FirmwareRole, &FirmwareFile)> {
        let mut v: Vec<_> = self.firmware().collect();
        if let Some(t) = &self.telcfg {
            v.push((FirmwareRole::Telcfg, t));
        }
        if let Some(c) = &self.common_base {
            v.push((FirmwareRole::CommonBase, c));
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
    pub example_secret_file: Option<String>,
    pub firmware: BTreeMap<String, FirmwareSet>,
    pub models: BTreeMap<ModelId, ModelCfg>,
    pub settings: Settings,
    /// What the phones take from the site unless a model, group, profile or phone says otherwise:
    /// time zone, language, NTP, PBX, page passwords and logins, VLAN, DNS, directories.
    pub scope: Arc<Scope>,
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
pub(super) fn is_asterisk_name(s: &str) -> bool {
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
    /// This line's own registrar, port, transport and backup, over the phone's PBX.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<tables::Transport>,
    pub backup_host: Option<Option<String>>,
    /// Whether the line has a mailbox (and the phone subscribes to it), when the phone has a
    /// voicemail code.
    pub voicemail: bool,
}

/// Everything a phone's files are rendered from, and nothing else: the renderer sees only this,
/// so it is also the key under which the history walk remembers a phone's digest. A field added
/// here is part of that key by construction (there is no copy of the fields to forget).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneSpec {
    pub mac: crate::mac::Mac,
    pub model: ModelId,
    pub name: Option<String>,
    pub profile: Option<String>,
    pub lines: Vec<Line>,
    pub keys: BTreeMap<u32, FnKey>,
    /// Profile settings with the phone's own over them.
    pub settings: Settings,
    pub ip: Option<std::net::Ipv4Addr>,
    /// Asterisk's names of the phone's codecs and its `CodecPriority` (the model's unless the
    /// phone sets its own).
    pub codecs: Arc<(Vec<String>, String)>,
    /// The site's fields as the phone's model, groups, profile and own file leave them.
    pub scope: Arc<Scope>,
    /// The firmware set the phone runs: its own, else its innermost group's for its model, else
    /// its model's.
    pub firmware: String,
}

impl PhoneSpec {
    /// The model and firmware set: the phones that share one share an entry point.
    pub fn variant(&self) -> Variant {
        Variant {
            model: self.model,
            firmware: self.firmware.clone(),
        }
    }
}

/// A model on a firmware set: what an entry point serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    pub model: ModelId,
    pub firmware: String,
}

/// A phone: what it is rendered from, and where the inventory says it (for messages).
#[derive(Debug, Clone)]
pub struct Phone {
    pub spec: PhoneSpec,
    pub origin: Origin,
}

impl Phone {
    /// Where a line's password is written (or would be).
    pub fn password_origin(&self, line: usize) -> Origin {
        let mut path = self.origin.path.clone();
        path.extend([
            Seg::Key("lines".into()),
            Seg::Index(line),
            Seg::Key("password".into()),
        ]);
        Origin {
            file: self.origin.file.clone(),
            path,
        }
    }
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
