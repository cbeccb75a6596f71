//! MAC addresses as phones and servers spell them, and the parsed User-Agent type (each family
//! reads its own phones' User-Agents and file names: `family::parse_agent`, `family::file_mac`).

pub use crate::family::PhoneAgent;

/// `00-14-7F-E1-47-B3` or `00:14:7f:e1:47:b3` → `00147FE147B3`.
pub fn parse_separated_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(['-', ':']).collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.concat().to_ascii_uppercase())
}

/// `00147FE147B3` → `00-14-7F-E1-47-B3`.
pub fn dashed_mac(mac: &str) -> String {
    separated_mac(mac, "-")
}

/// `00147FE147B3` with `sep` between the byte pairs: `00:14:7F:E1:47:B3` for `:`.
pub fn separated_mac(mac: &str, sep: &str) -> String {
    mac.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}
