//! The Technicolor (Thomson) family: ST2030, ST2022 and TB30.
//!
//! - `keys.rs`: the key names provsite writes and reads (lines, function keys, passwords, the
//!   keys the inventory manages);
//! - `format.rs`: the INI-style files (ISO-8859-1, CRLF) and their strict checker;
//! - `render.rs`: the entry point, the common file and each phone's file;
//! - `agent.rs`: the User-Agent and the per-phone file names;
//! - `boot.rs`: the boot steps `probe` walks and what the phone ends up with;
//! - `data/`: each model's key vocabulary, from the firmware's default common file.

mod agent;
mod boot;
mod form;
pub mod format;
pub mod keys;
mod render;

use crate::family::{
    BootPlan, ConfigFile, DhcpMatch, ModelId, ModelInfo, PhoneAgent, PhoneBody, PhoneFamily,
    PhoneInput, PhoneView, Shared, SharedFile, SharedInput, Vocabulary,
};
use crate::render::{ModelFiles, Templates};

/// The Technicolor family.
pub struct Technicolor;

/// The Technicolor family registers first: its models are the registry's first three.
pub const ST2030: ModelId = ModelId::at(0);
pub const ST2022: ModelId = ModelId::at(1);
pub const TB30: ModelId = ModelId::at(2);

impl ModelId {
    pub const ST2030: ModelId = ST2030;
    pub const ST2022: ModelId = ST2022;
    pub const TB30: ModelId = TB30;
}

/// Keys provsite writes itself that are not in the vendor's default common file.
const EXTRA_KEYS: &[(&str, &str)] = &[("sys", "config_sn")];
/// Sections the vendor file has empty, so they appear in no key line.
const EXTRA_SECTIONS: &[&str] = &["pstn", "ftp"];

fn vocabulary(text: &str) -> Vocabulary {
    Vocabulary::parse(text, EXTRA_KEYS, EXTRA_SECTIONS)
}

const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "ST2030",
        // ST2020 is the ST2030's older sibling with the same files.
        aliases: &["ST2030S", "ST2020", "ST2020S"],
        entry_point: "ST2030S.inf",
        lines: 4,
        function_keys: 66,
        vocabulary: || vocabulary(include_str!("data/keys-ST2030.txt")),
    },
    ModelInfo {
        name: "ST2022",
        aliases: &["ST2022S"],
        entry_point: "ST2022S.inf",
        // Wazo's ST2022 4.78.1 plugin declares 2 lines.
        lines: 2,
        function_keys: 5,
        vocabulary: || vocabulary(include_str!("data/keys-ST2022.txt")),
    },
    ModelInfo {
        name: "TB30",
        aliases: &["TB30S"],
        entry_point: "TB30S.inf",
        lines: 4,
        function_keys: 66,
        vocabulary: || vocabulary(include_str!("data/keys-TB30.txt")),
    },
];

const TEMPLATES: &[(&str, &str)] = &[
    (
        "entry.inf",
        include_str!("../../../site-template/entry.inf"),
    ),
    (
        "common.txt",
        include_str!("../../../site-template/common.txt"),
    ),
    (
        "phone.txt",
        include_str!("../../../site-template/phone.txt"),
    ),
];

/// Prefix of the per-phone file names and of the entry point: `ST2030S`.
fn file_prefix(model: ModelId) -> String {
    format!("{}S", model.name())
}

impl PhoneFamily for Technicolor {
    fn name(&self) -> &'static str {
        "technicolor"
    }

    fn models(&self) -> &'static [ModelInfo] {
        MODELS
    }

    fn entry_point_suffix(&self) -> &'static str {
        ".inf"
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn phone_template(&self) -> &'static str {
        render::PHONE_TEMPLATE
    }

    fn managed_key(&self, section: &str, key: &str) -> Option<&'static str> {
        keys::managed_key(section, key)
    }

    fn is_password_key(&self, _section: &str, key: &str) -> bool {
        keys::PASSWORD_KEYS.contains(&key)
    }

    fn render_shared(&self, input: SharedInput<'_>) -> Result<Shared, String> {
        render::render_shared(input)
    }

    fn entry_point(
        &self,
        files: &ModelFiles,
        templates: &Templates,
        base_url: &str,
        release: &str,
    ) -> Result<Vec<u8>, String> {
        render::entry_point(files, templates, base_url, release)
    }

    fn render_phone(&self, input: PhoneInput<'_>) -> Result<PhoneBody, String> {
        render::render_phone(input)
    }

    fn digest_parts<'a>(&self, shared: &'a [SharedFile]) -> Vec<&'a [u8]> {
        // The common file, then the telcfg or nothing, as every release since the first recorded.
        let of = |role: &str| {
            shared
                .iter()
                .find(|f| f.role == role)
                .map_or(&[][..], |f| f.bytes.as_slice())
        };
        vec![of("common"), of("telcfg")]
    }

    fn validate_phone_file(&self, model: ModelId, bytes: &[u8]) -> Result<(), Vec<String>> {
        format::validate_config(bytes, model.vocabulary(), format::FileKind::Phone)
    }

    fn check_phone_file(&self, model: ModelId, bytes: &[u8]) -> Result<ConfigFile, Vec<String>> {
        boot::check_settings(model, bytes, format::FileKind::Phone)
    }

    fn read_file(&self, bytes: &[u8]) -> Result<ConfigFile, String> {
        format::parse_lenient(bytes)
    }

    fn phone_file_name(&self, model: ModelId, mac: &str) -> String {
        // `<file prefix>_<MAC>.txt`, pushed together: made for each phone of each build.
        let m = model.name();
        let mut name = String::with_capacity(m.len() + mac.len() + 6);
        for part in [m, "S_", mac, ".txt"] {
            name.push_str(part);
        }
        debug_assert_eq!(name, format!("{}_{mac}.txt", file_prefix(model)));
        name
    }

    fn file_mac(&self, file_name: &str) -> Option<String> {
        agent::file_mac(file_name).map(|(_, mac)| mac)
    }

    fn parse_agent(&self, user_agent: &str) -> Option<PhoneAgent> {
        agent::parse(user_agent)
    }

    fn typical_agent(&self, model: ModelId, mac: &str) -> String {
        agent::header(&agent::typical(model, mac))
    }

    fn model_of_entry_point(&self, file_name: &str) -> Option<ModelId> {
        // `ST2030S.inf`, `ST2030.inf` and a rollout's `ST2030S-<set>.inf` → ST2030.
        let name = file_name.strip_suffix(".inf")?;
        let name = name.split_once('-').map_or(name, |(model, _)| model);
        let name = name.strip_suffix('S').unwrap_or(name);
        ModelId::parse(name).filter(|m| m.family().name() == self.name())
    }

    fn boot_plan(&self, _model: ModelId, entry_point: &[u8]) -> Result<BootPlan, Vec<String>> {
        boot::boot_plan(entry_point)
    }

    fn check_boot_file(
        &self,
        model: ModelId,
        step: &str,
        bytes: &[u8],
    ) -> Result<Option<ConfigFile>, Vec<String>> {
        boot::check_boot_file(model, step, bytes)
    }

    fn firmware_version(&self, file_name: &str) -> Option<String> {
        boot::version_from_name(file_name)
    }

    fn side_files(&self, model: ModelId, mac: &str) -> Vec<(String, &'static str)> {
        vec![(
            format!("{}_{mac}.ser", file_prefix(model)),
            "the phone may prefer it to the .txt file",
        )]
    }

    fn view(&self, model: ModelId, own: &ConfigFile, shared: &[&ConfigFile]) -> PhoneView {
        boot::view(model, own, shared)
    }

    fn dhcp_match(&self, model: ModelId) -> DhcpMatch {
        DhcpMatch {
            user_class: format!("Thomson {}", file_prefix(model)),
            vendor_class: format!("Thomson&{}", model.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_file_is_named_by_model_and_mac() {
        let names: Vec<String> = ModelId::all()
            .map(|m| Technicolor.phone_file_name(m, "001F9F16E849"))
            .collect();
        for want in [
            "ST2030S_001F9F16E849.txt",
            "ST2022S_001F9F16E849.txt",
            "TB30S_001F9F16E849.txt",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        assert_eq!(names.len(), ModelId::all().count());
    }

    #[test]
    fn vocabularies_hold_what_provsite_writes() {
        for m in [ST2030, ST2022, TB30] {
            let v = m.vocabulary();
            for n in 1..=keys::LINE_SLOTS {
                for k in [
                    format!("TEL{n}Number"),
                    format!("TEL0{n}Use"),
                    format!("regid{n}"),
                    format!("regpwd{n}"),
                    format!("DisplayName{n}"),
                    format!("RegisterServerMP{n}"),
                    format!("ProxyServerBK{n}"),
                    format!("TransportFlgMP{n}"),
                    format!("sip_reg_srv_portMP{n}"),
                ] {
                    assert!(v.has_key("sip", &k), "{m} lacks sip.{k}");
                }
            }
            for n in 1..=m.function_keys() {
                assert!(
                    v.has_key("sys", &format!("FeatureKeyExt{n:02}")),
                    "{m} key {n}"
                );
            }
            assert!(!v.has_key("sys", &format!("FeatureKeyExt{:02}", m.function_keys() + 1)));
            assert!(v.has_key("sys", "config_sn"));
            assert!(v.has_key("ntp", "NtpZoneNum"));
        }
    }

    #[test]
    fn suggests_close_keys() {
        let v = ST2030.vocabulary();
        assert_eq!(
            v.suggest("ipp", "Ringer_defualt_vol").as_deref(),
            Some("ipp.Ringer_default_vol")
        );
        assert_eq!(
            v.suggest("sys", "Ringer_default_vol").as_deref(),
            Some("ipp.Ringer_default_vol")
        );
        assert_eq!(v.suggest("syss", "x").as_deref(), Some("[sys]"));
    }

    #[test]
    fn parses_model_names() {
        assert_eq!(ModelId::parse("st2030"), Some(ST2030));
        assert_eq!(ModelId::parse("TB30S"), Some(TB30));
        assert_eq!(ModelId::parse("ST2040"), None);
        assert_eq!(ST2030.family().name(), "technicolor");
        assert_eq!(ST2030.name(), "ST2030");
    }

    #[test]
    fn models_from_entry_point_names() {
        let m = |n: &str| Technicolor.model_of_entry_point(n);
        assert_eq!(m("ST2030S.inf"), Some(ST2030));
        assert_eq!(m("TB30S.inf"), Some(TB30));
        assert_eq!(m("ST2022.inf"), Some(ST2022));
        assert_eq!(m("ST2030S-st2030-pilot.inf"), Some(ST2030));
        assert_eq!(m("phones.inf"), None);
    }
}
