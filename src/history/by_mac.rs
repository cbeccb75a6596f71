//! Phones' values by MAC, kept as one list in MAC order: the order the inventory lists its phones
//! and the manifests record them. The numbering looks up every phone of the fleet, several times;
//! in a list in that order a phone is mostly found where the walk expects it, with a binary search
//! otherwise, instead of hashing 100,000 MACs into each of several tables.

/// Values by MAC, in MAC order, each MAC once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ByMac<'a, V> {
    entries: Vec<(&'a str, V)>,
}

impl<'a, V> ByMac<'a, V> {
    /// The entries in any order (sorted here when they are not); of a MAC given twice, the last
    /// value stays, as when a map is collected.
    pub fn new(mut entries: Vec<(&'a str, V)>) -> Self {
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: of equal MACs, the last given stays last.
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut kept: Vec<(&'a str, V)> = Vec::with_capacity(entries.len());
            for e in entries {
                match kept.last_mut() {
                    Some(last) if last.0 == e.0 => *last = e,
                    _ => kept.push(e),
                }
            }
            entries = kept;
        }
        ByMac { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where a MAC is.
    pub fn position(&self, mac: &str) -> Option<usize> {
        self.entries.binary_search_by(|(m, _)| (*m).cmp(mac)).ok()
    }

    /// Where a MAC is, looked for first at `*hint`; `*hint` moves past it. Walking MACs in order
    /// with one hint finds each at once where the lists hold the same phones.
    pub fn seek(&self, hint: &mut usize, mac: &str) -> Option<usize> {
        let at = match self.entries.get(*hint) {
            Some((m, _)) if *m == mac => *hint,
            _ => self.position(mac)?,
        };
        *hint = at + 1;
        Some(at)
    }

    pub fn get(&self, mac: &str) -> Option<&V> {
        self.position(mac).map(|i| &self.entries[i].1)
    }

    /// The value of a MAC expected at place `i` (found anywhere else all the same).
    pub fn get_near(&self, i: usize, mac: &str) -> Option<&V> {
        let mut hint = i;
        self.seek(&mut hint, mac).map(|i| &self.entries[i].1)
    }

    /// The MAC and value at a place.
    pub fn at(&self, i: usize) -> (&'a str, &V) {
        let (m, v) = &self.entries[i];
        (m, v)
    }

    pub fn value_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &V)> + '_ {
        self.entries.iter().map(|(m, v)| (*m, v))
    }

    /// The same MACs, each with a value made from its own.
    pub fn map<W>(&self, mut f: impl FnMut(usize, &V) -> W) -> ByMac<'a, W> {
        ByMac {
            entries: self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (m, v))| (*m, f(i, v)))
                .collect(),
        }
    }
}

impl<'a, V> FromIterator<(&'a str, V)> for ByMac<'a, V> {
    fn from_iter<I: IntoIterator<Item = (&'a str, V)>>(iter: I) -> Self {
        ByMac::new(iter.into_iter().collect())
    }
}

/// For tests, as a map's: `numbering.phones["A"]`.
#[cfg(test)]
impl<V> std::ops::Index<&str> for ByMac<'_, V> {
    type Output = V;
    fn index(&self, mac: &str) -> &V {
        match self.get(mac) {
            Some(v) => v,
            None => panic!("no phone {mac}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_any_order_are_found_as_in_a_map() {
        let given = [("C", 3), ("A", 1), ("B", 2), ("A", 9), ("D", 4)];
        let by: ByMac<i32> = given.iter().copied().collect();
        let map: std::collections::HashMap<&str, i32> = given.iter().copied().collect();
        assert_eq!(by.len(), map.len());
        for (m, v) in &map {
            assert_eq!(by.get(m), Some(v), "{m}");
        }
        assert_eq!(by.get("E"), None);
        let macs: Vec<&str> = by.iter().map(|(m, _)| m).collect();
        assert_eq!(macs, ["A", "B", "C", "D"]);
    }

    #[test]
    fn seeking_finds_every_mac_whatever_the_hint() {
        let by: ByMac<usize> = ["A", "B", "C", "D"]
            .iter()
            .enumerate()
            .map(|(i, m)| (*m, i))
            .collect();
        for start in 0..6 {
            for (i, mac) in ["A", "B", "C", "D"].iter().enumerate() {
                let mut hint = start;
                assert_eq!(by.seek(&mut hint, mac), Some(i), "{mac} from {start}");
                assert_eq!(hint, i + 1);
                assert_eq!(by.get_near(start, mac), Some(&i));
            }
            let mut hint = start;
            assert_eq!(by.seek(&mut hint, "BB"), None);
            assert_eq!(hint, start, "a MAC not there leaves the hint");
        }
    }
}
