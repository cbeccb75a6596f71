//! The vocabulary of sectioned `key = value` settings every family's files share in provsite's
//! model of them: which sections and keys a model knows (and in what order), and a file read
//! back into sections and keys.

use std::collections::HashMap;

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

/// The last few things a thread saw, most recent first: what a file's shape was checked or
/// ordered by comes back in turns (a fleet has a few), and comparing with these is cheaper than
/// hashing the whole shape to look it up.
pub struct Recent<T>(Vec<T>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Recent<T> {
    /// How many are kept.
    pub const KEPT: usize = 8;

    pub const fn new() -> Self {
        Recent(Vec::new())
    }

    /// The first that `is` accepts, moved to the front.
    pub fn find(&mut self, is: impl Fn(&T) -> bool) -> Option<&T> {
        let i = self.0.iter().position(is)?;
        self.0[..=i].rotate_right(1);
        self.0.first()
    }

    /// Puts `t` first, the oldest going past [`Recent::KEPT`].
    pub fn add(&mut self, t: T) {
        self.0.truncate(Self::KEPT - 1);
        self.0.insert(0, t);
    }
}

/// The sections and keys a firmware knows, in the order of its default file.
#[derive(Debug)]
pub struct Vocabulary {
    sections: Vec<String>,
    /// section → key → order within the whole file
    keys: HashMap<String, HashMap<String, usize, FastHash>, FastHash>,
    by_section: HashMap<String, Vec<String>, FastHash>,
}

impl Vocabulary {
    /// Reads `section key` lines (`#` starts a comment line), then the keys and sections a family
    /// writes that its default file lacks.
    pub fn parse(text: &str, extra_keys: &[(&str, &str)], extra_sections: &[&str]) -> Vocabulary {
        let mut v = Vocabulary {
            sections: Vec::new(),
            keys: HashMap::default(),
            by_section: HashMap::default(),
        };
        let lines = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .chain(extra_keys.iter().copied());
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
        for s in extra_sections {
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

    /// A section's sort position and its keys' positions (vendor order), looked up once for a run
    /// of keys of the same section.
    pub fn section_keys(
        &self,
        section: &str,
    ) -> (usize, Option<&HashMap<String, usize, FastHash>>) {
        (self.section_rank(section), self.keys.get(section))
    }

    /// The closest known names to an unknown `section.key`, for a "did you mean" hint.
    pub fn suggest(&self, section: &str, key: &str) -> Option<String> {
        if !self.has_section(section) {
            return crate::suggest::closest(section, self.sections.iter().map(String::as_str))
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
        crate::suggest::closest(key, in_section.iter().map(String::as_str))
            .map(|k| format!("{section}.{k}"))
    }
}

/// A parsed configuration file: sections in file order, keys in section order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub entries: Vec<(String, String)>,
}

impl ConfigFile {
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| s.entries.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a key, keeping its place if present, else appending it to its section (appending the
    /// section if needed). This is how settings are merged over a vendor default file.
    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        let sec = match self.sections.iter().position(|s| s.name == section) {
            Some(i) => &mut self.sections[i],
            None => {
                self.sections.push(Section {
                    name: section.to_string(),
                    entries: Vec::new(),
                });
                self.sections.last_mut().expect("just pushed")
            }
        };
        match sec.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => sec.entries.push((key.to_string(), value.to_string())),
        }
    }

    /// The file as INI text with `\n` line ends.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
            for (k, v) in &s.entries {
                out.push_str(k);
                out.push('=');
                out.push_str(v);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn recent_keeps_the_last_few_most_recent_first() {
        let mut r = Recent::new();
        for i in 0..Recent::<usize>::KEPT + 2 {
            r.add(i);
        }
        // The two oldest went; the newest is first.
        assert_eq!(
            r.0,
            (2..Recent::<usize>::KEPT + 2).rev().collect::<Vec<_>>()
        );
        // A find moves what it found to the front and leaves the others in their order.
        assert_eq!(r.find(|&i| i == 4), Some(&4));
        assert_eq!(&r.0[..4], &[4, 9, 8, 7]);
        assert_eq!(&r.0[4..], &[6, 5, 3, 2]);
        assert_eq!(r.find(|&i| i == 0), None);
        assert_eq!(r.0.len(), Recent::<usize>::KEPT);
    }
}
