//! Mapping tables from the inventory's words to the firmware's numbers: time zones, languages,
//! DTMF modes and SIP transports.

use std::collections::HashSet;
use std::sync::OnceLock;

/// IANA zone → index into the phone's own zone table (`[ntp] NtpZoneNum`).
///
/// The phone's table names a handful of cities per entry; each IANA zone here maps to the entry that
/// names it or, for a zone not named, the entry for the same UTC offset and the same daylight-saving
/// rules. Zones without such a match are left out on purpose: the inventory then has to set
/// `ntp_zone` explicitly.
const NTP_ZONES: &[(&str, u8)] = &[
    ("Pacific/Kwajalein", 0),
    ("Pacific/Midway", 1),
    ("Pacific/Pago_Pago", 1),
    ("Pacific/Honolulu", 2),
    ("America/Anchorage", 3),
    ("America/Juneau", 3),
    ("America/Los_Angeles", 4),
    ("America/Vancouver", 4),
    ("America/Tijuana", 4),
    ("America/Phoenix", 5),
    ("America/Denver", 6),
    ("America/Edmonton", 6),
    ("America/Boise", 6),
    ("America/Chicago", 7),
    ("America/Winnipeg", 7),
    ("America/Mexico_City", 8),
    ("America/Tegucigalpa", 8),
    ("America/Regina", 9),
    ("America/Bogota", 10),
    ("America/Lima", 10),
    ("America/New_York", 11),
    ("America/Toronto", 11),
    ("America/Detroit", 11),
    ("America/Indiana/Indianapolis", 12),
    ("America/Halifax", 13),
    ("Atlantic/Bermuda", 13),
    ("America/Caracas", 14),
    ("America/La_Paz", 14),
    ("America/St_Johns", 15),
    ("America/Sao_Paulo", 16),
    ("America/Argentina/Buenos_Aires", 17),
    ("America/Buenos_Aires", 17),
    ("Atlantic/South_Georgia", 18),
    ("America/Noronha", 18),
    ("Atlantic/Azores", 19),
    ("Africa/Casablanca", 20),
    ("Europe/London", 21),
    ("Europe/Dublin", 21),
    ("Europe/Lisbon", 21),
    ("Atlantic/Canary", 21),
    ("Atlantic/Madeira", 21),
    ("Atlantic/Faroe", 21),
    ("Europe/Guernsey", 21),
    ("Europe/Jersey", 21),
    ("Europe/Isle_of_Man", 21),
    ("Europe/Paris", 22),
    ("Europe/Amsterdam", 22),
    ("Europe/Madrid", 22),
    ("Europe/Monaco", 22),
    ("Europe/Andorra", 22),
    ("Europe/Luxembourg", 22),
    ("Europe/Copenhagen", 22),
    ("Europe/Stockholm", 22),
    ("Europe/Oslo", 22),
    ("Europe/Belgrade", 23),
    ("Europe/Ljubljana", 23),
    ("Europe/Zagreb", 23),
    ("Europe/Sarajevo", 23),
    ("Europe/Skopje", 23),
    ("Europe/Podgorica", 23),
    ("Europe/Bratislava", 23),
    ("Europe/Prague", 24),
    ("Europe/Warsaw", 24),
    ("Europe/Budapest", 24),
    ("Europe/Brussels", 25),
    ("Europe/Berlin", 25),
    ("Europe/Rome", 25),
    ("Europe/Vienna", 25),
    ("Europe/Zurich", 25),
    ("Europe/Vaduz", 25),
    ("Europe/Malta", 25),
    ("Europe/San_Marino", 25),
    ("Europe/Vatican", 25),
    ("Europe/Busingen", 25),
    ("Europe/Athens", 26),
    ("Europe/Istanbul", 26),
    ("Europe/Bucharest", 27),
    ("Europe/Chisinau", 27),
    ("Africa/Cairo", 28),
    ("Africa/Harare", 29),
    ("Africa/Johannesburg", 29),
    ("Africa/Maputo", 29),
    ("Europe/Helsinki", 30),
    ("Europe/Kiev", 30),
    ("Europe/Kyiv", 30),
    ("Europe/Riga", 30),
    ("Europe/Tallinn", 30),
    ("Europe/Vilnius", 30),
    ("Europe/Sofia", 30),
    ("Asia/Jerusalem", 31),
    ("Asia/Tel_Aviv", 31),
    ("Asia/Baghdad", 32),
    ("Asia/Riyadh", 32),
    ("Asia/Kuwait", 32),
    ("Asia/Qatar", 32),
    ("Europe/Moscow", 33),
    ("Africa/Nairobi", 34),
    ("Asia/Tehran", 35),
    ("Asia/Dubai", 36),
    ("Asia/Muscat", 36),
    ("Asia/Baku", 37),
    ("Asia/Kabul", 38),
    ("Asia/Yekaterinburg", 39),
    ("Asia/Karachi", 40),
    ("Asia/Kolkata", 41),
    ("Asia/Calcutta", 41),
    ("Asia/Kathmandu", 42),
    ("Asia/Katmandu", 42),
    ("Asia/Almaty", 43),
    ("Asia/Dhaka", 43),
    ("Asia/Colombo", 44),
    ("Asia/Yangon", 45),
    ("Asia/Rangoon", 45),
    ("Asia/Bangkok", 46),
    ("Asia/Jakarta", 46),
    ("Asia/Ho_Chi_Minh", 46),
    ("Asia/Hong_Kong", 47),
    ("Asia/Shanghai", 47),
    ("Australia/Perth", 48),
    ("Asia/Taipei", 49),
    ("Asia/Singapore", 49),
    ("Asia/Kuala_Lumpur", 49),
    ("Asia/Manila", 49),
    ("Asia/Tokyo", 50),
    ("Asia/Seoul", 51),
    ("Asia/Yakutsk", 52),
    ("Australia/Adelaide", 53),
    ("Australia/Darwin", 54),
    ("Australia/Brisbane", 55),
    ("Australia/Sydney", 56),
    ("Australia/Melbourne", 56),
    ("Australia/Canberra", 56),
    ("Pacific/Guam", 57),
    ("Australia/Hobart", 58),
    ("Asia/Vladivostok", 59),
    ("Asia/Magadan", 60),
    ("Pacific/Auckland", 61),
    ("Pacific/Fiji", 62),
    ("Pacific/Tongatapu", 63),
];

/// Highest index of the phone's zone table.
pub const NTP_ZONE_MAX: u8 = 63;

fn iana_zones() -> &'static HashSet<&'static str> {
    static ZONES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    ZONES.get_or_init(|| {
        include_str!("data/iana-zones.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .chain(["UTC", "Etc/UTC"])
            .collect()
    })
}

/// Why a time zone could not be mapped.
#[derive(Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// Not an IANA zone name at all; carries the closest name, if any.
    Unknown(Option<&'static str>),
    /// A real zone, but the phone's table has no entry for it.
    NoMatch,
}

/// Maps an IANA zone name to the phone's `NtpZoneNum`.
pub fn ntp_zone_num(zone: &str) -> Result<u8, ZoneError> {
    if let Some((_, n)) = NTP_ZONES.iter().find(|(z, _)| *z == zone) {
        return Ok(*n);
    }
    if iana_zones().contains(zone) {
        return Err(ZoneError::NoMatch);
    }
    let mut names: Vec<&'static str> = iana_zones().iter().copied().collect();
    names.sort_unstable();
    Err(ZoneError::Unknown(crate::suggest::closest(
        zone,
        names.into_iter(),
    )))
}

/// A display language of the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Language {
    pub code: &'static str,
    /// `[ipp] LanguageType`
    pub language_type: u8,
    /// `[sys] CountryCode` used when the inventory sets no country.
    pub country: &'static str,
}

pub const LANGUAGES: &[Language] = &[
    Language {
        code: "en",
        language_type: 0,
        country: "US",
    },
    Language {
        code: "fr",
        language_type: 1,
        country: "FR",
    },
    Language {
        code: "es",
        language_type: 2,
        country: "ES",
    },
    Language {
        code: "de",
        language_type: 3,
        country: "DE",
    },
];

pub fn language(code: &str) -> Option<Language> {
    LANGUAGES.iter().copied().find(|l| l.code == code)
}

/// The SIP transport to the PBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn parse(s: &str) -> Option<Transport> {
        match s {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }

    /// Its name in the inventory and in Asterisk's configuration (`transport=udp`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// `[sip] TransportFlgMPn`: 0 UDP, 1 TCP, 2 TLS.
    pub fn flag(self) -> u8 {
        match self {
            Transport::Udp => 0,
            Transport::Tcp => 1,
            Transport::Tls => 2,
        }
    }
}

/// How DTMF digits travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtmf {
    Rfc2833,
    Inband,
    Info,
}

impl Dtmf {
    pub fn parse(s: &str) -> Option<Dtmf> {
        match s {
            "rfc2833" => Some(Dtmf::Rfc2833),
            "inband" => Some(Dtmf::Inband),
            "info" => Some(Dtmf::Info),
            _ => None,
        }
    }

    /// `[sys] dtmf_mode_flag`: 0 in-band, 1 RFC 2833, 4 SIP INFO.
    pub fn flag(self) -> u8 {
        match self {
            Dtmf::Inband => 0,
            Dtmf::Rfc2833 => 1,
            Dtmf::Info => 4,
        }
    }

    /// chan_pjsip's `dtmf_mode` (RFC 2833's successor is RFC 4733).
    pub fn pjsip(self) -> &'static str {
        match self {
            Dtmf::Inband => "inband",
            Dtmf::Info => "info",
            Dtmf::Rfc2833 => "rfc4733",
        }
    }

    /// chan_sip's `dtmfmode`.
    pub fn chan_sip(self) -> &'static str {
        match self {
            Dtmf::Inband => "inband",
            Dtmf::Info => "info",
            Dtmf::Rfc2833 => "rfc2833",
        }
    }
}

/// What each `NtpZoneNum` stands for, as the phone's zone table names it (index = value).
/// A codec both sides can do: its name for Asterisk's `allow=` and in the phones' `[sys]
/// CodecPriority` (the names of the vendor's default file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    pub asterisk: &'static str,
    pub phone: &'static str,
}

pub const CODECS: &[Codec] = &[
    Codec {
        asterisk: "alaw",
        phone: "g711a",
    },
    Codec {
        asterisk: "ulaw",
        phone: "g711mu",
    },
    Codec {
        asterisk: "g729",
        phone: "g729",
    },
    Codec {
        asterisk: "g723",
        phone: "g723",
    },
    Codec {
        asterisk: "g722",
        phone: "g722",
    },
    Codec {
        asterisk: "ilbc",
        phone: "ilbc",
    },
];

/// Codecs the phones know that Asterisk's `allow=` has no name for.
pub const PHONE_ONLY_CODECS: &[&str] = &["gsmwbamr", "l16", "ilbc133"];

/// Why a codec name cannot be used on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// Asterisk knows it, the phones do not.
    NotOnPhones,
    /// The phones know it, Asterisk does not.
    NotInAsterisk,
    Unknown,
}

/// The codec by its Asterisk name (the phones' names are accepted too).
pub fn codec(name: &str, asterisk_codecs: &[&str]) -> Result<Codec, CodecError> {
    if let Some(c) = CODECS
        .iter()
        .find(|c| c.asterisk == name || c.phone == name)
    {
        return Ok(*c);
    }
    if asterisk_codecs.contains(&name) {
        Err(CodecError::NotOnPhones)
    } else if PHONE_ONLY_CODECS.contains(&name) {
        Err(CodecError::NotInAsterisk)
    } else {
        Err(CodecError::Unknown)
    }
}

/// `[sys] CodecPriority` for codecs in order: `g711a(1)g711mu(2)`.
pub fn codec_priority(codecs: &[Codec]) -> String {
    codecs
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}({})", c.phone, i + 1))
        .collect()
}

pub const NTP_ZONE_NAMES: [&str; 64] = [
    "Kwajalein",
    "Midway/Samoa",
    "Hawaii",
    "Alaska",
    "US Pacific",
    "Arizona",
    "US Mountain",
    "US Central",
    "Mexico City/Tegucigalpa",
    "Saskatchewan",
    "Bogota/Lima",
    "US Eastern",
    "Indiana East",
    "Atlantic (Canada)",
    "Caracas/La Paz",
    "Newfoundland",
    "Brasilia",
    "Buenos Aires",
    "Mid-Atlantic",
    "Azores",
    "Casablanca",
    "London/Dublin/Lisbon (GMT)",
    "Paris/Amsterdam/Madrid",
    "Belgrade (Central Europe)",
    "Prague/Warsaw/Budapest",
    "Brussels/Berlin/Rome",
    "Athens/Istanbul",
    "Bucharest",
    "Cairo",
    "Harare",
    "Helsinki",
    "Israel",
    "Baghdad/Riyadh",
    "Moscow",
    "Nairobi",
    "Tehran",
    "Abu Dhabi",
    "Baku",
    "Kabul",
    "Yekaterinburg",
    "Karachi",
    "India",
    "Kathmandu",
    "Almaty/Dhaka",
    "Colombo",
    "Rangoon",
    "Bangkok",
    "Hong Kong/Beijing",
    "Perth",
    "Taipei/Singapore",
    "Tokyo",
    "Seoul",
    "Yakutsk",
    "Adelaide",
    "Darwin",
    "Brisbane",
    "Sydney/Melbourne",
    "Guam",
    "Hobart",
    "Vladivostok",
    "Magadan",
    "Auckland",
    "Fiji",
    "Tonga",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_map_to_the_phone_table() {
        let cases = [
            ("Europe/Paris", Ok(22)),
            ("Europe/Berlin", Ok(25)),
            ("Europe/London", Ok(21)),
            ("America/New_York", Ok(11)),
            ("Asia/Tokyo", Ok(50)),
            ("Pacific/Tongatapu", Ok(63)),
            ("Antarctica/Troll", Err(ZoneError::NoMatch)),
            (
                "Europe/Pariss",
                Err(ZoneError::Unknown(Some("Europe/Paris"))),
            ),
            ("Mars/Olympus", Err(ZoneError::Unknown(None))),
        ];
        for (zone, want) in cases {
            assert_eq!(ntp_zone_num(zone), want, "{zone}");
        }
    }

    #[test]
    fn every_mapped_zone_is_a_real_zone_in_range() {
        for (zone, n) in NTP_ZONES {
            assert!(iana_zones().contains(zone), "{zone} is not an IANA zone");
            assert!(*n <= NTP_ZONE_MAX);
        }
    }

    #[test]
    fn languages_dtmf_and_transports() {
        assert_eq!(
            language("fr").map(|l| (l.language_type, l.country)),
            Some((1, "FR"))
        );
        assert_eq!(language("de").map(|l| l.language_type), Some(3));
        assert_eq!(language("it"), None);
        assert_eq!(Dtmf::parse("inband").map(Dtmf::flag), Some(0));
        assert_eq!(Dtmf::parse("rfc2833").map(Dtmf::flag), Some(1));
        assert_eq!(Dtmf::parse("info").map(Dtmf::flag), Some(4));
        assert_eq!(Dtmf::parse("auto").map(Dtmf::flag), None);
        assert_eq!(Transport::parse("udp").map(Transport::flag), Some(0));
        assert_eq!(Transport::parse("tcp").map(Transport::flag), Some(1));
        assert_eq!(Transport::parse("tls").map(Transport::flag), Some(2));
        assert_eq!(Transport::parse("ws"), None);
        assert_eq!(Dtmf::parse("info").map(Dtmf::flag), Some(4));
    }
}
