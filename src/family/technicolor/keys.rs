//! The Technicolor (Thomson) family's key names: the key names provsite writes into the phones'
//! files and reads back from them (lines, function keys, passwords), and the keys the inventory
//! manages itself, spelled here once for the renderer, the probe, the diff and the inventory's
//! rules.

use std::sync::OnceLock;

use crate::family::ModelId;

/// `[sys] FeatureKeyExtNN`, the function key `k` (from 1).
pub fn function_key(k: u32) -> String {
    format!("FeatureKeyExt{k:02}")
}

/// A function key's value: `S/<sip:target>` supervises (BLF), `L/<sip:target>` calls.
pub fn function_key_value(blf: bool, target: &str) -> String {
    // Pieces pushed, not format!: this runs for every key of every phone.
    let mut v = String::with_capacity(target.len() + 8);
    v.push_str(if blf { "S/<sip:" } else { "L/<sip:" });
    v.push_str(target);
    v.push('>');
    v
}

/// An unused function key's value (`function_key_value(false, "")`), without making it.
pub const UNUSED_FUNCTION_KEY: &str = "L/<sip:>";

/// A function key's value read back: (is it supervised, its target); None for an unused key.
pub fn parse_function_key(value: &str) -> Option<(bool, &str)> {
    let (kind, rest) = value.split_once('/')?;
    let target = rest.strip_prefix("<sip:")?.strip_suffix('>')?;
    (!target.is_empty()).then_some((kind == "S", target))
}

/// Keys whose values are passwords: shown as changed, never as values.
pub const PASSWORD_KEYS: &[&str] = &[
    "regpwd1",
    "regpwd2",
    "regpwd3",
    "regpwd4",
    "WebPWD",
    "TelnetPWD",
    "UserPWD",
];

/// Line slots in every model's files (`TEL1Number` .. `TEL4Number`). The slots past a model's
/// lines are written empty.
pub const LINE_SLOTS: usize = 4;

/// Names of the keys a model's phone files hold, made once per model.
pub struct KeyNames {
    /// Per line slot: the identity keys, then the servers (main then backup).
    pub lines: Vec<LineKeys>,
    pub function_keys: Vec<String>,
}

pub struct LineKeys {
    pub use_flag: String,
    pub number: String,
    pub regid: String,
    pub regpwd: String,
    pub display_name: String,
    pub display_num_flag: String,
    pub display_num: String,
    /// [main, backup] × [RegisterServer, ProxyServer, sip_reg_srv_port, sip_pxy_srv_port, TransportFlg]
    pub servers: [[String; 5]; 2],
}

pub fn key_names(model: ModelId) -> &'static KeyNames {
    static CELLS: [OnceLock<KeyNames>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = super::MODELS
        .iter()
        .position(|m| m.name == model.name())
        .expect("a Technicolor model");
    CELLS[i].get_or_init(|| KeyNames {
        lines: (1..=LINE_SLOTS)
            .map(|n| LineKeys {
                use_flag: format!("TEL0{n}Use"),
                number: format!("TEL{n}Number"),
                regid: format!("regid{n}"),
                regpwd: format!("regpwd{n}"),
                display_name: format!("DisplayName{n}"),
                display_num_flag: format!("DisplayNumFlag{n}"),
                display_num: format!("DisplayNum{n}"),
                servers: ["MP", "BK"].map(|w| {
                    [
                        format!("RegisterServer{w}{n}"),
                        format!("ProxyServer{w}{n}"),
                        format!("sip_reg_srv_port{w}{n}"),
                        format!("sip_pxy_srv_port{w}{n}"),
                        format!("TransportFlg{w}{n}"),
                    ]
                }),
            })
            .collect(),
        function_keys: (1..=model.function_keys()).map(function_key).collect(),
    })
}

/// `[sys] PhonebookN_name` / `PhonebookN_url`, N from 1 to 8: the XML directories.
pub fn phonebook_keys() -> &'static [(String, String)] {
    static KEYS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (1..=crate::inventory::MAX_DIRECTORIES)
            .map(|n| (format!("Phonebook{n}_name"), format!("Phonebook{n}_url")))
            .collect()
    })
}

/// Keys provsite writes from the inventory's own fields: a raw setting may not set them.
pub fn managed_key(section: &str, key: &str) -> Option<&'static str> {
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
        ("sys", "TelnetID") => Some("set `admin_user:` (site, group, profile or phone)"),
        ("sys", "UserID") => Some("set `user_id:` (site, group, profile or phone)"),
        ("net", "VLAN") | ("qos", "VLANid1") | ("qos", "VLANid2") | ("qos", "VLANTag1") => {
            Some("set `vlan: {voice: N, pc: N, priority: N}` (or `vlan: off`)")
        }
        ("net", "DNSSrv1") | ("net", "DNSSrv2") => Some("set `dns: [address, address]`"),
        ("sip", "sw_notify_autoprovision") | ("sip", "AuthNotifyCheckSync") => {
            Some("set `autoprovision: {check_sync: pbx|ADDRESS|off}`")
        }
        ("autoprovision", k)
            if k != "AutoprovisionHTTPServer"
                && k != "AutoprovisionTFTPServer"
                && k != "Decryption_Key" =>
        {
            Some("set `autoprovision: {periodic: {days, start, span, retry}}`")
        }
        ("sys", k)
            if k.starts_with("Phonebook") && (k.ends_with("_name") || k.ends_with("_url")) =>
        {
            Some("set `directory: [{name: ..., url: ...}]`")
        }
        ("sys", "UserPWD") => Some("set `user_password:` in site.yaml"),
        ("sip", k) if line_key(k) => Some("set lines under the phone's `lines:`"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_keys_are_refused_in_raw_settings() {
        assert!(managed_key("sip", "TEL1Number").is_some());
        assert!(managed_key("sip", "TEL01Use").is_some());
        assert!(managed_key("sip", "regpwd4").is_some());
        assert!(managed_key("sys", "FeatureKeyExt12").is_some());
        assert!(managed_key("sip", "TELNET").is_none());
        assert!(managed_key("ipp", "AutoAnsMode").is_none());
    }

    #[test]
    fn function_keys_read_back_as_written() {
        assert_eq!(function_key(7), "FeatureKeyExt07");
        for (blf, target) in [(true, "1002"), (false, "0612345678")] {
            let v = function_key_value(blf, target);
            assert_eq!(parse_function_key(&v), Some((blf, target)));
        }
        assert_eq!(parse_function_key(&function_key_value(false, "")), None);
        assert_eq!(function_key_value(false, ""), UNUSED_FUNCTION_KEY);
        assert_eq!(function_key_value(true, "1002"), "S/<sip:1002>");
    }
}
