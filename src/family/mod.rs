//! Phone families: everything that belongs to a vendor's phones rather than to provsite.
//!
//! A [`PhoneFamily`] knows its models, its files' names and format, the keys it writes and reads,
//! its default templates, the User-Agent its phones send, the boot steps a phone walks, and how
//! DHCP recognises its phones. The pipeline (inventory, render, number, write, serve, probe, diff,
//! dhcp) asks the family of a phone's model and names no vendor key itself. The Technicolor
//! (Thomson) family is [`technicolor`]; a test-only family (`fake`) proves the boundary by going
//! through the same pipeline.

pub mod keys;
pub mod technicolor;

#[cfg(test)]
pub mod fake;

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::firmware_store::FirmwareFiles;
use crate::inventory::{FirmwareSet, ModelCfg, PhoneSpec, Site};
use crate::render::{ModelFiles, PhoneSecrets, Templates};
pub use keys::{ConfigFile, FastHash, Vocabulary};

/// A phone model, as every stage names it: an index into the models of every family.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(u16);

/// What a family says about one of its models.
pub struct ModelInfo {
    /// As the inventory and the manifest spell it: `ST2030`.
    pub name: &'static str,
    /// Other spellings the inventory accepts (any case).
    pub aliases: &'static [&'static str],
    /// The default entry point, the file DHCP points the phone at.
    pub entry_point: &'static str,
    /// Lines the phone can register.
    pub lines: usize,
    /// Programmable function keys.
    pub function_keys: u32,
    /// The `[section] key` names the firmware knows, built once.
    pub vocabulary: fn() -> Vocabulary,
}

struct Registered {
    family: &'static dyn PhoneFamily,
    info: &'static ModelInfo,
    vocabulary: OnceLock<Vocabulary>,
}

/// Every family provsite knows, in a stable order.
pub fn families() -> &'static [&'static dyn PhoneFamily] {
    static FAMILIES: OnceLock<Vec<&'static dyn PhoneFamily>> = OnceLock::new();
    FAMILIES.get_or_init(|| {
        #[allow(unused_mut)]
        let mut families: Vec<&'static dyn PhoneFamily> = vec![&technicolor::Technicolor];
        #[cfg(test)]
        families.push(&fake::Fake);
        families
    })
}

fn registry() -> &'static [Registered] {
    static REGISTRY: OnceLock<Vec<Registered>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        families()
            .iter()
            .flat_map(|&family| {
                family.models().iter().map(move |info| Registered {
                    family,
                    info,
                    vocabulary: OnceLock::new(),
                })
            })
            .collect()
    })
}

impl ModelId {
    /// The model at a position of the registry: families in order, each family's models in its
    /// order. The Technicolor family comes first, so its constants are fixed positions.
    pub(crate) const fn at(index: u16) -> ModelId {
        ModelId(index)
    }

    fn reg(self) -> &'static Registered {
        &registry()[usize::from(self.0)]
    }

    /// Every model, families in registration order.
    pub fn all() -> impl Iterator<Item = ModelId> {
        (0..registry().len()).map(|i| ModelId(i as u16))
    }

    /// A model by name or alias, any case.
    pub fn parse(s: &str) -> Option<ModelId> {
        let s = s.trim();
        ModelId::all().find(|m| {
            let info = m.reg().info;
            info.name.eq_ignore_ascii_case(s)
                || info.aliases.iter().any(|a| a.eq_ignore_ascii_case(s))
        })
    }

    /// Every model name, for "one of …" messages.
    pub fn names() -> Vec<&'static str> {
        ModelId::all().map(ModelId::name).collect()
    }

    pub fn name(self) -> &'static str {
        self.reg().info.name
    }

    pub fn family(self) -> &'static dyn PhoneFamily {
        self.reg().family
    }

    pub fn default_entry_point(self) -> String {
        self.reg().info.entry_point.to_string()
    }

    /// Lines the phone itself can register.
    pub fn lines(self) -> usize {
        self.reg().info.lines
    }

    /// Programmable function keys.
    pub fn function_keys(self) -> u32 {
        self.reg().info.function_keys
    }

    /// Known `[section] key` names.
    pub fn vocabulary(self) -> &'static Vocabulary {
        let r = self.reg();
        r.vocabulary.get_or_init(r.info.vocabulary)
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Debug for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a model's shared files are rendered from.
pub struct SharedInput<'a> {
    pub templates: &'a Templates,
    pub site: &'a Site,
    pub model: ModelId,
    pub cfg: &'a ModelCfg,
    pub set: &'a FirmwareSet,
    pub firmware: &'a FirmwareFiles,
    /// Keys some phone of the model sets through raw settings.
    pub override_keys: &'a BTreeSet<(String, String)>,
}

/// A file every phone of a model fetches besides firmware, served from `common/` under a name
/// that follows its content.
#[derive(Debug, Clone)]
pub struct SharedFile {
    /// As the manifest records it (`common`, `telcfg`).
    pub role: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A model's shared files, as a family renders them.
pub struct Shared {
    pub files: Vec<SharedFile>,
    /// The settings the phones take from the shared files.
    pub settings: ConfigFile,
    /// What the family keeps for rendering this model's phones.
    pub private: Arc<dyn Any + Send + Sync>,
}

/// What a phone's own file is rendered from.
pub struct PhoneInput<'a> {
    pub templates: &'a Templates,
    pub site: &'a Site,
    pub files: &'a ModelFiles,
    pub phone: &'a PhoneSpec,
    pub secrets: &'a PhoneSecrets,
}

/// A phone's own file as its family renders it.
#[derive(Debug)]
pub struct PhoneBody {
    /// The file, its config_sn written as [`crate::render::CONFIG_SN_SENTINEL`].
    pub bytes: Vec<u8>,
    /// The family vouches that the file passes [`PhoneFamily::validate_phone_file`] once the
    /// stand-in is replaced by a number of its length in ASCII digits: the family has checked
    /// the file's lines in full on an earlier file of the same form (the same bytes around the
    /// values) and this file's values for what could change them. The strict check of such a
    /// file is of its config_sn alone.
    pub proven: bool,
}

/// A phone's User-Agent, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneAgent {
    /// As the phone spells it.
    pub model: String,
    pub hardware: String,
    pub firmware: String,
    /// 12 upper-case hex digits.
    pub mac: String,
}

/// A file the phone fetches on its way to its own file.
#[derive(Debug, Clone)]
pub struct BootFile {
    /// The step's name in reports: `firmware app`, `common file`.
    pub step: String,
    pub url: String,
    /// Firmware must not be empty; its file name may carry a version.
    pub firmware: bool,
}

/// The files an entry point sends a phone to, in the order the phone fetches them.
#[derive(Debug, Clone)]
pub struct BootPlan {
    pub files: Vec<BootFile>,
    /// The folder of the per-phone files (ends with `/`).
    pub config_folder: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub slot: usize,
    pub user: String,
    pub auth_user: String,
    pub registrar: String,
    pub port: String,
    pub transport: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub number: u32,
    /// `blf` (supervised) or `line` (speed dial / line key).
    pub kind: String,
    pub target: String,
}

/// What a phone ends up with, read back from the files it fetched.
#[derive(Debug, Clone, Default)]
pub struct PhoneView {
    pub config_sn: String,
    pub lines: Vec<Line>,
    pub keys: Vec<Key>,
    pub timezone: Option<String>,
    pub language_type: Option<String>,
    /// Other settings the phone ends up with, as (what, value): `vlan`, `dns`, `directory 1`.
    pub settings: Vec<(String, String)>,
}

/// How a DHCP server recognises a model's phones.
pub struct DhcpMatch {
    /// Option 77, as the phone sends it.
    pub user_class: String,
    /// Option 60, as the phone sends it.
    pub vendor_class: String,
}

/// A vendor's phones, as far as provsite needs to know them.
pub trait PhoneFamily: Send + Sync + 'static {
    /// A short lower-case name: `technicolor`.
    fn name(&self) -> &'static str;
    /// Its models. The registry numbers them in this order.
    fn models(&self) -> &'static [ModelInfo];
    /// How its entry points' names end (`.inf`): what the inventory may name them, and what
    /// publish and pruning recognise as provsite's at the top of a web root.
    fn entry_point_suffix(&self) -> &'static str;
    /// Default templates, `(name, text)`; an inventory's `templates/<name>` overrides one. Names
    /// are unique across families.
    fn templates(&self) -> &'static [(&'static str, &'static str)];
    /// The template that writes a phone's own file.
    fn phone_template(&self) -> &'static str;

    /// Why a raw setting may not set this key (provsite writes it from the inventory's fields).
    fn managed_key(&self, section: &str, key: &str) -> Option<&'static str>;
    /// Whether a key holds a password (shown as changed, never as a value).
    fn is_password_key(&self, section: &str, key: &str) -> bool;

    /// Renders a model's shared files.
    fn render_shared(&self, input: SharedInput<'_>) -> Result<Shared, String>;
    /// A model's entry point for a release, with absolute URLs under `base_url`.
    fn entry_point(
        &self,
        files: &ModelFiles,
        templates: &Templates,
        base_url: &str,
        release: &str,
    ) -> Result<Vec<u8>, String>;
    /// A phone's own file, its config_sn written as [`crate::render::CONFIG_SN_SENTINEL`].
    fn render_phone(&self, input: PhoneInput<'_>) -> Result<PhoneBody, String>;
    /// The shared files' bytes, as the digest of what a model's phones share takes them. The
    /// digest is recorded in every manifest: a family keeps its parts stable across versions of
    /// provsite, or an upgrade would renumber phones whose files did not change.
    fn digest_parts<'a>(&self, shared: &'a [SharedFile]) -> Vec<&'a [u8]> {
        shared.iter().map(|f| f.bytes.as_slice()).collect()
    }
    /// Checks a phone file as strictly as the phone reads it, without keeping what it read.
    fn validate_phone_file(&self, model: ModelId, bytes: &[u8]) -> Result<(), Vec<String>> {
        self.check_phone_file(model, bytes).map(|_| ())
    }
    /// Reads a phone file back as strictly as the phone does.
    fn check_phone_file(&self, model: ModelId, bytes: &[u8]) -> Result<ConfigFile, Vec<String>>;
    /// Reads a file of the family leniently (for comparisons).
    fn read_file(&self, bytes: &[u8]) -> Result<ConfigFile, String>;
    /// The name of a phone's own file in the release's config folder.
    fn phone_file_name(&self, model: ModelId, mac: &str) -> String;
    /// The MAC a per-phone file name stands for (upper case), if it is one.
    fn file_mac(&self, file_name: &str) -> Option<String>;

    /// The family's User-Agent, parsed; `None` when it is not one of its phones.
    fn parse_agent(&self, user_agent: &str) -> Option<PhoneAgent>;
    /// A plausible User-Agent for a model, as a header value.
    fn typical_agent(&self, model: ModelId, mac: &str) -> String;
    /// The model an entry point's file name stands for.
    fn model_of_entry_point(&self, file_name: &str) -> Option<ModelId>;
    /// Reads an entry point into the files it sends the phone to.
    fn boot_plan(&self, model: ModelId, entry_point: &[u8]) -> Result<BootPlan, Vec<String>>;
    /// Checks a file the entry point names; a settings file comes back parsed.
    fn check_boot_file(
        &self,
        model: ModelId,
        step: &str,
        bytes: &[u8],
    ) -> Result<Option<ConfigFile>, Vec<String>>;
    /// The version a firmware file's name carries, when it follows the vendor's pattern.
    fn firmware_version(&self, _file_name: &str) -> Option<String> {
        None
    }
    /// Files next to the phone's own that the phone also asks for, where a 404 is normal, with
    /// why one that exists matters.
    fn side_files(&self, model: ModelId, mac: &str) -> Vec<(String, &'static str)>;
    /// What the phone ends up with: its own file over the shared settings files.
    fn view(&self, model: ModelId, own: &ConfigFile, shared: &[&ConfigFile]) -> PhoneView;

    /// How DHCP recognises the model's phones.
    fn dhcp_match(&self, model: ModelId) -> DhcpMatch;
}

/// The User-Agent of a phone of any family.
pub fn parse_agent(user_agent: &str) -> Option<PhoneAgent> {
    families().iter().find_map(|f| f.parse_agent(user_agent))
}

/// The MAC a per-phone file name of any family stands for.
pub fn file_mac(file_name: &str) -> Option<String> {
    families().iter().find_map(|f| f.file_mac(file_name))
}

/// The model an entry point's file name stands for, in any family.
pub fn model_of_entry_point(file_name: &str) -> Option<ModelId> {
    families()
        .iter()
        .find_map(|f| f.model_of_entry_point(file_name))
}

/// Whether a name ends as some family's entry points do (and has more than the ending).
pub fn is_entry_point_name(name: &str) -> bool {
    families().iter().any(|f| {
        let suffix = f.entry_point_suffix();
        name.len() > suffix.len() && name.ends_with(suffix)
    })
}

/// Every family's default templates.
pub fn templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    families()
        .iter()
        .flat_map(|f| f.templates().iter().copied())
}
