//! What a Technicolor phone says over HTTP: its User-Agent (`THOMSON ST2030 hw5 fw2.74
//! 00-14-7F-E1-47-B3`) and the names of the per-phone files it asks for
//! (`ST2030S_00147FE147B3.txt`, `.ser`).

use crate::family::{ModelId, PhoneAgent};
use crate::phone_http::{dashed_mac, parse_separated_mac};

/// Parses `<vendor> <model> hw<H> fw<F> <MAC>` with vendor THOMSON or Thomson (any case) and the
/// MAC as six dash- or colon-separated hex pairs. Anything else is not a phone: `None`.
pub fn parse(ua: &str) -> Option<PhoneAgent> {
    let mut words = ua.split_ascii_whitespace();
    let vendor = words.next()?;
    if !vendor.eq_ignore_ascii_case("thomson") && !vendor.eq_ignore_ascii_case("technicolor") {
        return None;
    }
    let model = words.next()?;
    let hardware = words.next()?.strip_prefix("hw")?;
    let firmware = words.next()?.strip_prefix("fw")?;
    let mac = parse_separated_mac(words.next()?)?;
    if words.next().is_some() || model.is_empty() {
        return None;
    }
    Some(PhoneAgent {
        model: model.to_string(),
        hardware: hardware.to_string(),
        firmware: firmware.to_string(),
        mac,
    })
}

/// The User-Agent a phone of this model sends, in the form the reference gives.
pub fn header(agent: &PhoneAgent) -> String {
    let vendor = if agent.model.starts_with("TB") {
        "Thomson"
    } else {
        "THOMSON"
    };
    format!(
        "{vendor} {} hw{} fw{} {}",
        agent.model,
        agent.hardware,
        agent.firmware,
        dashed_mac(&agent.mac)
    )
}

/// A plausible agent for a model, with the hardware and firmware revisions seen in the
/// reference's examples (override them with `probe --user-agent`).
pub fn typical(model: ModelId, mac: &str) -> PhoneAgent {
    let (hw, fw) = match model {
        super::ST2022 => ("2", "4.78"),
        super::TB30 => ("1", "1.74.0"),
        _ => ("5", "2.74"),
    };
    PhoneAgent {
        model: model.name().to_string(),
        hardware: hw.to_string(),
        firmware: fw.to_string(),
        mac: mac.to_string(),
    }
}

/// The MAC named by a per-phone file name: `<PREFIX>_<12 hex>.txt` or `.ser`, the MAC in any case
/// and the prefix without `_` (so the common file, `<PREFIX>_common_<digest>.txt`, is not one).
/// Returns the prefix and the MAC in upper case.
pub fn file_mac(file_name: &str) -> Option<(&str, String)> {
    let stem = file_name
        .strip_suffix(".txt")
        .or_else(|| file_name.strip_suffix(".ser"))?;
    let (prefix, mac) = stem.rsplit_once('_')?;
    // A model prefix has no `_`: this keeps `ST2030S_common_<digest>.txt` out.
    if mac.len() != 12
        || !mac.bytes().all(|b| b.is_ascii_hexdigit())
        || prefix.is_empty()
        || prefix.contains('_')
    {
        return None;
    }
    Some((prefix, mac.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_agents() {
        let a = parse("THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3").unwrap();
        assert_eq!(
            (
                a.model.as_str(),
                a.hardware.as_str(),
                a.firmware.as_str(),
                a.mac.as_str()
            ),
            ("ST2030", "5", "2.74", "00147FE147B3")
        );
        let b = parse("Thomson TB30 hw1 fw1.74.0 00-1F-9F-84-F1-80").unwrap();
        assert_eq!((b.model.as_str(), b.mac.as_str()), ("TB30", "001F9F84F180"));
        assert_eq!(header(&b), "Thomson TB30 hw1 fw1.74.0 00-1F-9F-84-F1-80");
        let c = parse("THOMSON ST2022 hw2 fw4.68 00-14-7f-e1-fc-6d").unwrap();
        assert_eq!(c.mac, "00147FE1FC6D");
    }

    #[test]
    fn other_agents_are_not_phones() {
        for ua in [
            "curl/8.0",
            "",
            "THOMSON ST2030 hw5 fw2.74",
            "THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47",
            "THOMSON ST2030 5 2.74 00-14-7F-E1-47-B3",
            "Mozilla THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3",
        ] {
            assert_eq!(parse(ua), None, "{ua}");
        }
    }

    #[test]
    fn file_names_give_their_mac() {
        assert_eq!(
            file_mac("ST2030S_001f9f16e849.txt"),
            Some(("ST2030S", "001F9F16E849".to_string()))
        );
        assert_eq!(
            file_mac("TB30S_001F9F16E849.ser").map(|m| m.1),
            Some("001F9F16E849".to_string())
        );
        assert_eq!(file_mac("ST2030S_common_0123456789ab.txt"), None);
        assert_eq!(file_mac("ST2030S.inf"), None);
        assert_eq!(file_mac("ST2030S_001F9F16E84.txt"), None);
    }
}
