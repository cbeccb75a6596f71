//! The phone models provsite knows: their file names, line slots, function keys and key vocabulary.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A phone model of the Technicolor (Thomson) family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelId {
    ST2030,
    ST2022,
    TB30,
}

impl ModelId {
    pub const ALL: [ModelId; 3] = [ModelId::ST2030, ModelId::ST2022, ModelId::TB30];

    pub fn name(self) -> &'static str {
        match self {
            ModelId::ST2030 => "ST2030",
            ModelId::ST2022 => "ST2022",
            ModelId::TB30 => "TB30",
        }
    }

    pub fn parse(s: &str) -> Option<ModelId> {
        let up = s.trim().to_ascii_uppercase();
        // ST2020 is the ST2030's older sibling with the same files.
        match up.as_str() {
            "ST2030" | "ST2030S" | "ST2020" | "ST2020S" => Some(ModelId::ST2030),
            "ST2022" | "ST2022S" => Some(ModelId::ST2022),
            "TB30" | "TB30S" => Some(ModelId::TB30),
            _ => None,
        }
    }

    /// Prefix of the per-phone file name and default entry point: `ST2030S`.
    pub fn file_prefix(self) -> &'static str {
        match self {
            ModelId::ST2030 => "ST2030S",
            ModelId::ST2022 => "ST2022S",
            ModelId::TB30 => "TB30S",
        }
    }

    pub fn default_entry_point(self) -> String {
        format!("{}.inf", self.file_prefix())
    }

    /// Line slots in the configuration files (`TEL1Number` .. `TEL4Number`).
    pub fn line_slots(self) -> usize {
        4
    }

    /// Lines the phone itself can register: the ST2022 has 2 (Wazo's ST2022 4.78.1 plugin
    /// declares 2), the ST2030 and TB30 4. The files keep 4 slots for every model; the slots past
    /// the model's lines are written empty.
    pub fn lines(self) -> usize {
        match self {
            ModelId::ST2022 => 2,
            ModelId::ST2030 | ModelId::TB30 => 4,
        }
    }

    /// Programmable function keys (`FeatureKeyExt01` ..).
    pub fn function_keys(self) -> u32 {
        match self {
            ModelId::ST2030 | ModelId::TB30 => 66,
            ModelId::ST2022 => 5,
        }
    }

    /// Known `[section] key` names, from the firmware's default common file.
    pub fn vocabulary(self) -> &'static Vocabulary {
        static CELLS: [OnceLock<Vocabulary>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let (i, text) = match self {
            ModelId::ST2030 => (0, include_str!("data/keys-ST2030.txt")),
            ModelId::ST2022 => (1, include_str!("data/keys-ST2022.txt")),
            ModelId::TB30 => (2, include_str!("data/keys-TB30.txt")),
        };
        CELLS[i].get_or_init(|| Vocabulary::parse(text))
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// FxHash (as in rustc): a fast hash for the short, trusted key names looked up for every line of
/// every file written. SipHash's resistance to crafted keys buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastHash = std::hash::BuildHasherDefault<FxHasher>;

/// The sections and keys a firmware knows, in the order of its default file.
#[derive(Debug)]
pub struct Vocabulary {
    sections: Vec<String>,
    /// section → key → order within the whole file
    keys: HashMap<String, HashMap<String, usize, FastHash>, FastHash>,
    by_section: HashMap<String, Vec<String>, FastHash>,
}

/// Keys provsite writes itself that are not in the vendor's default common file.
pub const EXTRA_KEYS: &[(&str, &str)] = &[("sys", "config_sn")];

impl Vocabulary {
    fn parse(text: &str) -> Vocabulary {
        let mut v = Vocabulary {
            sections: Vec::new(),
            keys: HashMap::default(),
            by_section: HashMap::default(),
        };
        let lines = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .chain(EXTRA_KEYS.iter().copied());
        for (order, (section, key)) in lines.enumerate() {
            if !v.sections.iter().any(|s| s == section) {
                v.sections.push(section.to_string());
            }
            v.keys
                .entry(section.to_string())
                .or_default()
                .insert(key.to_string(), order);
            v.by_section
                .entry(section.to_string())
                .or_default()
                .push(key.to_string());
        }
        // Sections the vendor file has empty, so they appear in no key line.
        for s in ["pstn", "ftp"] {
            if !v.sections.iter().any(|x| x == s) {
                v.sections.push(s.to_string());
            }
        }
        v
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    pub fn has_key(&self, section: &str, key: &str) -> bool {
        self.keys.get(section).is_some_and(|m| m.contains_key(key))
    }

    /// Sort position of a section (vendor order; unknown sections last, by name).
    pub fn section_rank(&self, section: &str) -> usize {
        self.sections
            .iter()
            .position(|s| s == section)
            .unwrap_or(usize::MAX)
    }

    /// Sort position of a key (vendor order; unknown keys last).
    pub fn key_rank(&self, section: &str, key: &str) -> usize {
        self.keys
            .get(section)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or(usize::MAX)
    }

    /// The closest known names to an unknown `section.key`, for a "did you mean" hint.
    pub fn suggest(&self, section: &str, key: &str) -> Option<String> {
        if !self.has_section(section) {
            return closest(section, self.sections.iter().map(String::as_str))
                .map(|s| format!("[{s}]"));
        }
        // A right key in the wrong section is the likeliest mistake: say so first.
        let elsewhere = self
            .keys
            .iter()
            .flat_map(|(s, m)| m.keys().map(move |k| (s, k)))
            .filter(|(_, k)| k.eq_ignore_ascii_case(key))
            .map(|(s, k)| format!("{s}.{k}"))
            .min();
        if elsewhere.is_some() {
            return elsewhere;
        }
        let in_section = self.by_section.get(section)?;
        closest(key, in_section.iter().map(String::as_str)).map(|k| format!("{section}.{k}"))
    }
}

/// Levenshtein distance, case-insensitive, for short names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word` if it is close enough to be a plausible typo. Ties go to the
/// candidate that sorts first, so the hint is stable.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_hold_what_provsite_writes() {
        for m in ModelId::ALL {
            let v = m.vocabulary();
            for n in 1..=m.line_slots() {
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
        let v = ModelId::ST2030.vocabulary();
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
        assert_eq!(ModelId::parse("st2030"), Some(ModelId::ST2030));
        assert_eq!(ModelId::parse("TB30S"), Some(ModelId::TB30));
        assert_eq!(ModelId::parse("ST2040"), None);
    }
}
