//! A Technicolor phone's boot, as `probe` walks it: the entry point names the firmware, the
//! telcfg, the common file and the folder of the phones' own files; what the phone ends up with
//! is its own file over the common file.

use super::format::{self, check_config, FileKind};
use super::keys;
use crate::family::{BootFile, BootPlan, ConfigFile, Key, Line, ModelId, PhoneView};
use crate::tables::NTP_ZONE_NAMES;

/// The files an entry point sends the phone to, in the order it fetches them.
pub(super) fn boot_plan(bytes: &[u8]) -> Result<BootPlan, Vec<String>> {
    let entry = format::check_entry_point(bytes)?;
    let url = |section: &str, key: &str| entry.get(section, key).unwrap_or_default().to_string();
    let mut files = Vec::new();
    for (key, step) in [
        ("fwurl", "firmware app"),
        ("dspurl", "firmware dsp"),
        ("booturl", "firmware boot"),
    ] {
        files.push(BootFile {
            step: step.to_string(),
            url: url("application", key),
            firmware: true,
        });
    }
    // telcfg is optional in the entry point.
    if let Some(t) = entry.get("config", "telcfg") {
        files.push(BootFile {
            step: "telcfg".to_string(),
            url: t.to_string(),
            firmware: false,
        });
    }
    files.push(BootFile {
        step: COMMON_STEP.to_string(),
        url: url("config", "common_config"),
        firmware: false,
    });
    Ok(BootPlan {
        files,
        config_folder: url("config", "config"),
    })
}

const COMMON_STEP: &str = "common file";

/// Checks a file the entry point names: the common file is read as the phone reads it.
pub(super) fn check_boot_file(
    model: ModelId,
    step: &str,
    bytes: &[u8],
) -> Result<Option<ConfigFile>, Vec<String>> {
    if step != COMMON_STEP {
        return Ok(None);
    }
    check_settings(model, bytes, FileKind::Common).map(Some)
}

/// A settings file read as the phone reads it, encoding first.
pub(super) fn check_settings(
    model: ModelId,
    bytes: &[u8],
    kind: FileKind,
) -> Result<ConfigFile, Vec<String>> {
    if let Some(why) = wrongly_encoded(bytes) {
        return Err(vec![why]);
    }
    check_config(bytes, model.vocabulary(), kind)
        .map_err(|p| vec![format!("the phone would skip it: {}", p.join("; "))])
}

/// What the phone ends up with.
pub(super) fn view(model: ModelId, own: &ConfigFile, shared: &[&ConfigFile]) -> PhoneView {
    let mut layers = vec![own];
    layers.extend_from_slice(shared);
    let merged = Merged { layers };
    PhoneView {
        config_sn: own.get("sys", "config_sn").unwrap_or_default().to_string(),
        lines: merged.lines(model),
        keys: merged.keys(model),
        timezone: merged.get("ntp", "NtpZoneNum").map(|z| {
            match z.parse::<usize>().ok().and_then(|i| NTP_ZONE_NAMES.get(i)) {
                Some(name) => format!("{z} ({name})"),
                None => z.to_string(),
            }
        }),
        language_type: merged.get("ipp", "LanguageType").map(|l| {
            let name = match l {
                "0" => " (English)",
                "1" => " (French)",
                "2" => " (Spanish)",
                "3" => " (German)",
                _ => "",
            };
            format!("{l}{name}")
        }),
        settings: network_view(&merged),
    }
}

/// VLAN, DNS and directories as the phone ends up with them.
fn network_view(m: &Merged<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let get = |s: &str, k: &str| m.get(s, k).unwrap_or("").to_string();
    let vlan = if get("net", "VLAN") == "1" {
        let mut v = format!("voice {}", get("qos", "VLANid1"));
        for (what, key) in [("pc", "VLANid2"), ("priority", "VLANTag1")] {
            let value = get("qos", key);
            if !value.is_empty() {
                v.push_str(&format!(", {what} {value}"));
            }
        }
        v
    } else {
        "off".to_string()
    };
    out.push(("vlan".to_string(), vlan));
    let dns: Vec<String> = ["DNSSrv1", "DNSSrv2"]
        .iter()
        .map(|k| get("net", k))
        .filter(|a| !a.is_empty() && a != "0.0.0.0")
        .collect();
    out.push((
        "dns".to_string(),
        if dns.is_empty() {
            "off".to_string()
        } else {
            dns.join(", ")
        },
    ));
    for (i, (name, url)) in keys::phonebook_keys().iter().enumerate() {
        let (name, url) = (get("sys", name), get("sys", url));
        if !url.is_empty() {
            out.push((format!("directory {}", i + 1), format!("{name} {url}")));
        }
    }
    out
}

/// The phones read ISO-8859-1: a file whose non-ASCII bytes form valid UTF-8 was almost surely
/// written as UTF-8, and its accents would show as `Ã©`.
fn wrongly_encoded(bytes: &[u8]) -> Option<String> {
    if !bytes.iter().any(|b| *b >= 0x80) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let sample: String = text
        .lines()
        .find(|l| !l.is_ascii())
        .unwrap_or("")
        .chars()
        .take(60)
        .collect();
    Some(format!(
        "the file is UTF-8 encoded (e.g. `{}`), but the phone reads ISO-8859-1 (Latin-1): accents would show garbled",
        sample.trim_end()
    ))
}

/// The version a firmware file name carries after its 6-digit build date, as in
/// `v2030SG.R11.1.SED.101223.2.74.zz` (2.74) or `TB30S.R11.101217.1.74.0.zz` (1.74.0).
pub fn version_from_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".zz").unwrap_or(name);
    let parts: Vec<&str> = stem.split('.').collect();
    let date = parts
        .iter()
        .position(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit()))?;
    let rest = &parts[date + 1..];
    if rest.is_empty()
        || !rest
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(rest.join("."))
}

/// The phone's view: its own file over the shared ones.
struct Merged<'a> {
    layers: Vec<&'a ConfigFile>,
}

impl Merged<'_> {
    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.layers.iter().find_map(|l| l.get(section, key))
    }

    fn lines(&self, model: ModelId) -> Vec<Line> {
        let names = keys::key_names(model);
        (1..)
            .zip(&names.lines)
            .filter(|(_, k)| self.get("sip", &k.use_flag) == Some("1"))
            .map(|(n, k)| {
                let s = |key: &str| self.get("sip", key).unwrap_or("").to_string();
                // The main server's keys: RegisterServer, ProxyServer, ports, TransportFlg.
                let [registrar, _, port, _, transport] = &k.servers[0];
                let transport = match self.get("sip", transport) {
                    Some("0") | None => "udp",
                    Some("1") => "tcp",
                    Some("2") => "tls",
                    Some(_) => "unknown",
                };
                Line {
                    slot: n,
                    user: s(&k.number),
                    auth_user: s(&k.regid),
                    registrar: s(registrar),
                    port: s(port),
                    transport: transport.to_string(),
                    display_name: s(&k.display_name),
                }
            })
            .collect()
    }

    fn keys(&self, model: ModelId) -> Vec<Key> {
        (1..)
            .zip(&keys::key_names(model).function_keys)
            .filter_map(|(k, name)| {
                let (blf, target) = keys::parse_function_key(self.get("sys", name)?)?;
                Some(Key {
                    number: k,
                    kind: if blf { "blf" } else { "speed_dial" }.to_string(),
                    target: target.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_versions_from_the_reference_names() {
        assert_eq!(
            version_from_name("v2030SG.R11.1.SED.101223.2.74.zz").as_deref(),
            Some("2.74")
        );
        assert_eq!(
            version_from_name("v2030SG.R11.1.SED.100804.2.72.2.zz").as_deref(),
            Some("2.72.2")
        );
        assert_eq!(
            version_from_name("v2022SG.R11.1.SED.120313.4.78.1.zz").as_deref(),
            Some("4.78.1")
        );
        assert_eq!(
            version_from_name("TB30S.R11.101217.1.74.0.zz").as_deref(),
            Some("1.74.0")
        );
        assert_eq!(version_from_name("v2030_dsp_R11.1_SED_v320.zz"), None);
        assert_eq!(version_from_name("app30.zz"), None);
    }

    #[test]
    fn utf8_files_are_caught_latin1_files_pass() {
        assert!(wrongly_encoded("DisplayName1=Hélène\r\n".as_bytes()).is_some());
        assert!(wrongly_encoded(b"DisplayName1=H\xe9l\xe8ne\r\n").is_none());
        assert!(wrongly_encoded(b"DisplayName1=Helene\r\n").is_none());
    }
}
