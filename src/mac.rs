//! A phone's MAC address: 12 upper-case hex digits once read, however the inventory, a lease file
//! or a User-Agent wrote it.

use std::fmt;

/// A MAC address, always 12 upper-case hex digits (`001F9F16E849`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Mac(String);

impl Mac {
    /// The address as a number (its 48 bits): equal for equal MACs, and only for them.
    pub fn number(&self) -> u64 {
        // Always 12 hex digits (see `parse`).
        u64::from_str_radix(&self.0, 16).unwrap_or(0)
    }

    /// Reads a MAC in any usual notation (`00:1f:9f:16:e8:49`, `00-1F-9F-16-E8-49`,
    /// `001f.9f16.e849`, `001F9F16E849`).
    pub fn parse(s: &str) -> Option<Mac> {
        // One pass into exactly its room: read for every phone of every build.
        let mut hex = String::with_capacity(12);
        for c in s.chars() {
            if matches!(c, ':' | '-' | '.' | ' ') {
                continue;
            }
            if !c.is_ascii_hexdigit() || hex.len() == 12 {
                return None;
            }
            hex.push(c.to_ascii_uppercase());
        }
        (hex.len() == 12).then_some(Mac(hex))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// With `sep` between the byte pairs: `00:1F:9F:16:E8:49` for `:`.
    pub fn separated(&self, sep: &str) -> String {
        crate::phone_http::separated_mac(&self.0, sep)
    }
}

impl std::ops::Deref for Mac {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Mac {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Mac {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Mac {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Mac {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Mac {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_is_its_number() {
        let m = |s: &str| Mac::parse(s).unwrap().number();
        assert_eq!(m("00:1f:9f:16:e8:49"), 0x001F_9F16_E849);
        assert_eq!(m("001F.9F16.E849"), m("00-1F-9F-16-E8-49"));
        assert_eq!(m("FF:FF:FF:FF:FF:FF"), 0xFFFF_FFFF_FFFF);
        assert_ne!(m("00:1F:9F:16:E8:49"), m("00:1F:9F:16:E8:4A"));
    }

    #[test]
    fn reads_the_usual_notations() {
        for s in [
            "00:1f:9f:16:e8:49",
            "00-1F-9F-16-E8-49",
            "001f.9f16.e849",
            "001F9F16E849",
            "00 1f 9f 16 e8 49",
            ":001F9F16E849-",
        ] {
            assert_eq!(Mac::parse(s).as_deref(), Some("001F9F16E849"), "{s}");
        }
        for s in [
            "",
            "00:1f:9f:16:e8",
            "00:1f:9f:16:e8:4g",
            "00:1f:9f:16:e8:49:00",
            "00:1f:9f:16:e8:4\u{e9}",
            "00:1f:9f:16:e8:49\u{e9}",
            "\u{ff10}01f9f16e849",
            "001F9F16E849_",
        ] {
            assert_eq!(Mac::parse(s), None, "{s}");
        }
        assert_eq!(
            Mac::parse("001f9f16e849").unwrap().separated(":"),
            "00:1F:9F:16:E8:49"
        );
    }
}
