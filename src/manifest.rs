//! `manifest.json`: what a release holds, for deploys, probes, diffs and the next build's numbering.
//! Every map is a BTreeMap and every list is sorted, so the same commit gives the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::json_shape::Cursor;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub generator: String,
    pub release: String,
    pub commit: String,
    /// Committer time of the commit, seconds since the Unix epoch: the files' mtime.
    pub commit_time: i64,
    pub config_sn: String,
    pub dirty: bool,
    pub base_url: String,
    pub site: String,
    /// Per model: its entry point and the files all its phones fetch.
    pub models: BTreeMap<String, ModelEntry>,
    /// The firmware store's contents this release names: sha256 → size and names.
    pub firmware: BTreeMap<String, FirmwareEntry>,
    /// Per phone (12-hex MAC): what it fetches beyond its model's files.
    #[serde(deserialize_with = "phones_in_bulk")]
    pub phones: BTreeMap<String, PhoneEntry>,
}

/// Reads the phones as a list and builds the map from it at once (sorted, then built in one pass)
/// rather than inserting 100,000 entries one by one. A MAC given twice keeps its last entry, as
/// inserting does.
fn phones_in_bulk<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, PhoneEntry>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = BTreeMap<String, PhoneEntry>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of MACs to phone entries")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v: Vec<(String, PhoneEntry)> = Vec::new();
            while let Some(e) = a.next_entry()? {
                v.push(e);
            }
            Ok(v.into_iter().collect())
        }
    }
    d.deserialize_map(Entries)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelEntry {
    pub entry_point: String,
    /// Entry point, firmware (app, dsp, boot), telcfg and common file, with paths relative to the
    /// web root.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileEntry {
    pub role: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirmwareEntry {
    pub size: u64,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PhoneEntry {
    pub model: String,
    /// The key of `models` its entry point is under when it runs another firmware set than its
    /// model's (a staged rollout): `ST2030@<set>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub config_sn: String,
    /// Committer time of the commit that config_sn comes from: the last change to what the phone
    /// fetches, and its file's mtime.
    #[serde(default)]
    pub changed_at: i64,
    /// SHA-256 of everything the phone fetches with config_sn left out (see the README).
    pub digest: String,
    /// The phone's own file.
    pub file: FileEntry,
}

/// A manifest read the quick way when its phones are exactly as [`Manifest::write_with_phones`]
/// writes them (anything else gives None, and serde_json reads the whole text): what comes before
/// the phones is read by serde_json, the phones' fixed shape here, which takes half the time
/// serde_json takes over 100,000 entries. Whatever it reads, serde_json reads the same (see the
/// tests).
fn read_as_written(text: &str) -> Option<Manifest> {
    // The phones come last, at the top level: a line break cannot be inside a JSON string, and
    // a head cut anywhere else does not read as a manifest with no phone.
    const KEY: &str = "\n  \"phones\": ";
    let at = text.find(KEY)? + KEY.len();
    let phones = phones_as_written(text.get(at..)?)?;
    let mut head = String::with_capacity(at + 4);
    head.push_str(&text[..at]);
    head.push_str("{}\n}");
    let mut m: Manifest = serde_json::from_str(&head).ok()?;
    if !m.phones.is_empty() {
        return None;
    }
    m.phones = phones;
    Some(m)
}

/// The shortest a phone's entry as written can be: its fixed text, seven empty strings and two
/// one-digit numbers.
const MIN_ENTRY: usize = 200;

/// The reader of [`read_as_written`]: the text from the `phones` map's `{` to the end.
fn phones_as_written(text: &str) -> Option<BTreeMap<String, PhoneEntry>> {
    let mut r = Cursor::new(text);
    r.take("{")?;
    let mut phones: Vec<(String, PhoneEntry)> = Vec::new();
    loop {
        let before = r.rest.len();
        r.take("\n    ")?;
        let mac = r.string()?;
        r.take(": {\n      \"model\": ")?;
        let model = r.string()?;
        let variant = r.optional(",\n      \"variant\": ")?;
        let name = r.optional(",\n      \"name\": ")?;
        r.take(",\n      \"config_sn\": ")?;
        let config_sn = r.string()?;
        r.take(",\n      \"changed_at\": ")?;
        let changed_at = i64::try_from(r.integer(true)?).ok()?;
        r.take(",\n      \"digest\": ")?;
        let digest = r.string()?;
        r.take(",\n      \"file\": {\n        \"role\": ")?;
        let role = r.string()?;
        r.take(",\n        \"path\": ")?;
        let path = r.string()?;
        r.take(",\n        \"sha256\": ")?;
        let sha256 = r.string()?;
        r.take(",\n        \"size\": ")?;
        let size = u64::try_from(r.integer(false)?).ok()?;
        r.take("\n      }\n    }")?;
        // In order, each once (serde_json keeps the last of two; that case is left to it).
        if phones.last().is_some_and(|(last, _)| *last >= mac) {
            return None;
        }
        let file = FileEntry {
            role,
            path,
            sha256,
            size,
        };
        phones.push((
            mac,
            PhoneEntry {
                model,
                variant,
                name,
                config_sn,
                changed_at,
                digest,
                file,
            },
        ));
        if phones.len() == 1 {
            // The room for the rest, guessed from the first entry's length (the entries of a
            // manifest as written differ by a few bytes): 100,000 entries grown one by one are
            // copied again and again, into fresh memory each time.
            let first = before - r.rest.len();
            phones.reserve(r.rest.len() / first.max(MIN_ENTRY) + 1);
        }
        if !r.eat(",") {
            break;
        }
    }
    r.take("\n  }\n}")?;
    // Only the line break the writer ends with.
    matches!(r.rest, "" | "\n").then(|| phones.into_iter().collect())
}

/// One phone's entry of the manifest's `phones` map, as serde_json's pretty writer writes it there
/// (at depth 2): `"<mac>": {` … `}`.
fn write_phone(w: &mut impl std::io::Write, mac: &str, p: &PhoneEntry) -> std::io::Result<()> {
    // Every field, by name, in the order of the struct (which is serde's): a field added to
    // the entry fails to compile here until it is written too.
    let PhoneEntry {
        model,
        variant,
        name,
        config_sn,
        changed_at,
        digest,
        file:
            FileEntry {
                role,
                path,
                sha256,
                size,
            },
    } = p;
    json_str(w, mac)?;
    w.write_all(b": {\n      \"model\": ")?;
    json_str(w, model)?;
    if let Some(v) = variant {
        w.write_all(b",\n      \"variant\": ")?;
        json_str(w, v)?;
    }
    if let Some(n) = name {
        w.write_all(b",\n      \"name\": ")?;
        json_str(w, n)?;
    }
    w.write_all(b",\n      \"config_sn\": ")?;
    json_str(w, config_sn)?;
    w.write_all(b",\n      \"changed_at\": ")?;
    decimal(w, changed_at.unsigned_abs(), *changed_at < 0)?;
    w.write_all(b",\n      \"digest\": ")?;
    json_str(w, digest)?;
    w.write_all(b",\n      \"file\": {\n        \"role\": ")?;
    json_str(w, role)?;
    w.write_all(b",\n        \"path\": ")?;
    json_str(w, path)?;
    w.write_all(b",\n        \"sha256\": ")?;
    json_str(w, sha256)?;
    w.write_all(b",\n        \"size\": ")?;
    decimal(w, *size, false)?;
    w.write_all(b"\n      }\n    }")
}

/// An integer in decimal, as serde_json writes it (`-` when `negative`).
fn decimal(w: &mut impl std::io::Write, mut n: u64, negative: bool) -> std::io::Result<()> {
    let mut buf = [0u8; 21];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    w.write_all(&buf[at..])
}

/// A JSON string as serde_json writes it: quoted, and escaped by serde_json itself when it holds
/// a byte that needs it (a quote, a backslash, a control character).
fn json_str(w: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    if crate::json_shape::first_special(s.as_bytes()).is_some() {
        return serde_json::to_writer(w, s).map_err(std::io::Error::from);
    }
    w.write_all(b"\"")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"\"")
}

/// Phones a block of the manifest's text is formatted by (about 1 MiB).
const PHONES_A_BLOCK: usize = 2048;

/// The largest manifest read: one takes about 47 MiB at 100,000 phones.
pub const MAX_BYTES: u64 = 256 << 20;

/// A manifest file's bytes, bounded: only a regular file (opened without blocking: a named pipe
/// would wait for a writer), of at most [`MAX_BYTES`]. Anyone who can write a web root can put
/// anything at its `manifest.json`.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use crate::bounded_read::Refused;
    let refused = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    crate::bounded_read::read(path, MAX_BYTES).map_err(|r| match r {
        Refused::Io(e) => e,
        Refused::NotRegular => refused("not a regular file".into()),
        Refused::TooLarge(_) => refused(format!(
            "larger than {} MiB, more than a manifest takes",
            MAX_BYTES >> 20
        )),
    })
}

impl Manifest {
    /// Writes [`Manifest::to_bytes`] without holding them (at 100,000 phones they are 47 MB).
    pub fn write_to(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut w, self)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    /// [`Manifest::write_to`] of this manifest with `phones` (sorted by MAC, each once) in place
    /// of its own map (which is left out): the same bytes, without building a map of 100,000
    /// entries only to write it.
    pub fn write_with_phones(
        &self,
        phones: &[(String, PhoneEntry)],
        mut w: impl std::io::Write,
    ) -> std::io::Result<()> {
        debug_assert!(phones.windows(2).all(|p| p[0].0 < p[1].0));
        // Every field, by name: one added to the manifest fails to compile here until it is
        // written too (the order of `Out` is the manifest's).
        let Manifest {
            format,
            generator,
            release,
            commit,
            commit_time,
            config_sn,
            dirty,
            base_url,
            site,
            models,
            firmware,
            phones: _,
        } = self;
        // Everything but the phones through serde_json, the phones left empty (they come last),
        // then the phones written here, in the same shape: serde_json writes each of 100,000
        // phones' eleven fields through its generic machinery, some three times slower.
        #[derive(Serialize)]
        struct Out<'a> {
            format: u32,
            generator: &'a str,
            release: &'a str,
            commit: &'a str,
            commit_time: i64,
            config_sn: &'a str,
            dirty: bool,
            base_url: &'a str,
            site: &'a str,
            models: &'a BTreeMap<String, ModelEntry>,
            firmware: &'a BTreeMap<String, FirmwareEntry>,
            phones: BTreeMap<(), ()>,
        }
        let out = Out {
            format: *format,
            generator,
            release,
            commit,
            commit_time: *commit_time,
            config_sn,
            dirty: *dirty,
            base_url,
            site,
            models,
            firmware,
            phones: BTreeMap::new(),
        };
        let mut head = serde_json::to_vec_pretty(&out)?;
        const EMPTY_END: &[u8] = b"{}\n}";
        if phones.is_empty() || !head.ends_with(EMPTY_END) {
            w.write_all(&head)?;
        } else {
            head.truncate(head.len() - EMPTY_END.len());
            w.write_all(&head)?;
            w.write_all(b"{")?;
            // Blocks of phones formatted on every core, ahead of the writer, which takes them in
            // order: a few blocks in flight at a time, not the whole text.
            let blocks: Vec<&[(String, PhoneEntry)]> = phones.chunks(PHONES_A_BLOCK).collect();
            let format = |block: &&[(String, PhoneEntry)]| -> std::io::Result<Vec<u8>> {
                let mut buf = Vec::with_capacity(block.len() * 512);
                for (mac, p) in block.iter() {
                    buf.extend_from_slice(b",\n    ");
                    write_phone(&mut buf, mac, p)?;
                }
                Ok(buf)
            };
            let threads = if blocks.len() > 1 {
                crate::parallel::cores()
            } else {
                1
            };
            std::thread::scope(|s| -> std::io::Result<()> {
                let formatted =
                    crate::parallel::in_order_ahead(s, &blocks, threads, 2 * threads, &format);
                for (i, buf) in formatted.enumerate() {
                    let buf = buf?;
                    // The first phone comes after `{`, not after a comma.
                    w.write_all(if i == 0 { &buf[1..] } else { &buf })?;
                }
                Ok(())
            })?;
            w.write_all(b"\n  }\n}")?;
        }
        w.write_all(b"\n")?;
        w.flush()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        v.push(b'\n');
        v
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, String> {
        // Checked as UTF-8 once, whole, and read as text: from bytes, serde_json checks each of
        // the strings (eight a phone) on its own.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let (line, column) = crate::error::utf8_error_place(bytes, e.valid_up_to());
            format!("not UTF-8 at line {line} column {column}")
        })?;
        if let Some(m) = read_as_written(text) {
            return Ok(m);
        }
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The names of the files of `common/` this release's entry points name.
    pub fn common_files(&self) -> Vec<String> {
        common_files_of(&self.models)
    }

    /// What a release shares with other releases, by name.
    pub fn shared(&self) -> SharedRefs {
        SharedRefs {
            firmware: self.firmware.keys().cloned().collect(),
            common: self.common_files(),
        }
    }

    /// The firmware store entries and `common/` files a manifest names, read without its phones
    /// (the bulk of a large fleet's manifest: they are skipped, not built). Only used to decide
    /// what to keep, never as paths.
    pub fn shared_refs(bytes: &[u8]) -> Result<SharedRefs, String> {
        #[derive(Deserialize)]
        struct Light {
            models: BTreeMap<String, ModelEntry>,
            firmware: BTreeMap<String, serde::de::IgnoredAny>,
        }
        let l: Light = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(SharedRefs {
            firmware: l.firmware.into_keys().collect(),
            common: common_files_of(&l.models),
        })
    }

    /// Parses a manifest read back from disk or from a destination, and checks every path it
    /// names before anything uses one: such a manifest is untrusted input, and build and publish
    /// read, link, write and delete what it names.
    pub fn from_untrusted(bytes: &[u8]) -> Result<Manifest, String> {
        let m = Self::from_bytes(bytes)?;
        m.check_paths()?;
        Ok(m)
    }

    /// Every path stays inside the web root, under a name provsite writes: the release folder,
    /// the firmware store, `common/`, or an entry point (`.inf`) at the top.
    pub fn check_paths(&self) -> Result<(), String> {
        use crate::release;
        let bad = |what: &str, p: &str| {
            Err(format!(
                "{what} `{}` is not a name provsite writes; this manifest was not written by provsite build",
                crate::text_rules::shown(p)
            ))
        };
        if !release::is_name(&self.release) {
            return bad("the release", &self.release);
        }
        let release_dir = format!("releases/{}/", self.release);
        let inside = |p: &str| {
            // Printable ASCII (as provsite's paths are) needs no look at each character.
            let printable = p.bytes().all(|b| (b' '..=b'~').contains(&b));
            !p.is_empty()
                && !p.contains('\\')
                && p.split('/').all(|seg| {
                    !seg.is_empty()
                        && !seg.starts_with('.')
                        && (printable || seg.chars().all(|c| !c.is_control()))
                })
        };
        let under_root = |p: &str| {
            inside(p)
                && (p.starts_with(&release_dir)
                    || p.strip_prefix("firmware/")
                        .and_then(|r| r.split_once('/'))
                        .is_some_and(|(sha, name)| {
                            release::is_firmware_dir(sha) && !name.contains('/')
                        })
                    || p.strip_prefix("common/")
                        .is_some_and(release::is_common_name))
        };
        for model in self.models.values() {
            if !release::is_entry_point(&model.entry_point) {
                return bad("the entry point", &model.entry_point);
            }
            for f in &model.files {
                let ok = if f.role == "entry_point" {
                    f.path == model.entry_point
                } else {
                    under_root(&f.path)
                };
                if !ok {
                    return bad("the file", &f.path);
                }
            }
        }
        for p in self.phones.values() {
            if !(inside(&p.file.path) && p.file.path.starts_with(&release_dir)) {
                return bad("the file", &p.file.path);
            }
        }
        for (sha, fw) in &self.firmware {
            if !release::is_firmware_dir(sha) {
                return bad("the firmware digest", sha);
            }
            for n in &fw.names {
                if !inside(n) || n.contains('/') {
                    return bad("the firmware name", n);
                }
            }
        }
        Ok(())
    }
}

/// The firmware store entries (sha256) and `common/` file names a release names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedRefs {
    pub firmware: std::collections::BTreeSet<String>,
    pub common: Vec<String>,
}

fn common_files_of(models: &BTreeMap<String, ModelEntry>) -> Vec<String> {
    let mut names: Vec<String> = models
        .values()
        .flat_map(|m| m.files.iter())
        .filter_map(|f| f.path.strip_prefix("common/"))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_read_in_bulk_are_the_map_inserting_gives() {
        let entry = |sn: &str| {
            serde_json::json!({"model": "ST2030", "config_sn": sn, "changed_at": 1, "digest": "d",
                "file": {"role": "phone", "path": "p", "sha256": "s", "size": 1}})
        };
        let doc = |phones: serde_json::Value| {
            serde_json::json!({"format": 1, "generator": "g", "release": "r", "commit": "c",
                "commit_time": 0, "config_sn": "202611260001", "dirty": false, "base_url": "b",
                "site": "s", "models": {}, "firmware": {}, "phones": phones})
        };
        // Out of order, and a MAC twice (JSON text can say that; serde_json's Value cannot).
        let text = doc(serde_json::json!({})).to_string().replace(
            "\"phones\":{}",
            &format!(
                "\"phones\":{{\"B\":{},\"A\":{},\"B\":{}}}",
                entry("202611260001"),
                entry("202611260002"),
                entry("202611260003")
            ),
        );
        let m = Manifest::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(m.phones.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(
            m.phones["B"].config_sn, "202611260003",
            "the last entry wins"
        );
        // What it writes, it reads back the same.
        assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
        // Written from a list, the same bytes as from its map.
        let list: Vec<(String, PhoneEntry)> = m.phones.clone().into_iter().collect();
        let mut without = m.clone();
        without.phones.clear();
        let mut from_list = Vec::new();
        without.write_with_phones(&list, &mut from_list).unwrap();
        assert_eq!(from_list, m.to_bytes());
        assert!(Manifest::from_bytes(doc(serde_json::json!([])).to_string().as_bytes()).is_err());
    }

    #[test]
    fn phones_written_from_a_list_are_the_bytes_serde_json_writes() {
        let names = [
            None,
            Some("Desk 1"),
            Some("Employé \"quoted\" \\ back"),
            Some("tab\there\nnew\u{1}\u{7f}"),
            Some(""),
            // What needs escaping after whole words of what does not.
            Some("sixteen bytes ok\u{1f}"),
            Some("sixteen bytes ok then \\"),
        ];
        let mut m = Manifest::from_bytes(
            br#"{"format": 1, "generator": "g", "release": "r", "commit": "c",
                "commit_time": -5, "config_sn": "202611260001", "dirty": true, "base_url": "b",
                "site": "s\"x", "models": {"ST2030": {"entry_point": "ST2030S.inf", "files": []}},
                "firmware": {}, "phones": {}}"#,
        )
        .unwrap();
        let mut list: Vec<(String, PhoneEntry)> = Vec::new();
        // Enough for several blocks of the writer's.
        for i in 0..(2 * PHONES_A_BLOCK + 3) as u64 {
            let name = names[i as usize % names.len()].map(str::to_string);
            list.push((
                format!("001F9F{i:06X}"),
                PhoneEntry {
                    model: ["ST2030", "TB30", "ST2022"][i as usize % 3].to_string(),
                    variant: (i % 4 == 1).then(|| format!("ST2030@set\"{i}")),
                    name,
                    config_sn: format!("2026112600{i:02}"),
                    changed_at: [0, -1, 1_764_000_000, i64::MAX, i64::MIN][i as usize % 5],
                    digest: format!("{i:064x}"),
                    file: FileEntry {
                        role: "phone".into(),
                        path: format!("releases/r/config/ST2030S_{i}.txt"),
                        sha256: "é\\".repeat(i as usize % 3),
                        size: [0, 1, u64::MAX][i as usize % 3],
                    },
                },
            ));
        }
        // No phone, one, a block and one more, and many.
        for n in [0, 1, PHONES_A_BLOCK, PHONES_A_BLOCK + 1, list.len()] {
            m.phones = list[..n].iter().cloned().collect();
            let mut without = m.clone();
            without.phones.clear();
            let mut from_list = Vec::new();
            without
                .write_with_phones(&list[..n], &mut from_list)
                .unwrap();
            assert_eq!(
                String::from_utf8(from_list).unwrap(),
                String::from_utf8(m.to_bytes()).unwrap(),
                "{n} phones"
            );
        }
    }

    /// A manifest of `n` phones as a build writes it, with or without names to escape.
    fn written(n: usize, escapes: bool) -> Vec<u8> {
        let mut m = Manifest::from_bytes(
            br#"{"format": 1, "generator": "g", "release": "r", "commit": "c",
                "commit_time": 7, "config_sn": "202611260001", "dirty": false, "base_url": "b",
                "site": "s", "models": {"ST2030": {"entry_point": "ST2030S.inf", "files": []}},
                "firmware": {}, "phones": {}}"#,
        )
        .unwrap();
        let list: Vec<(String, PhoneEntry)> = (0..n as u64)
            .map(|i| {
                let name = match i % 3 {
                    0 => None,
                    1 if escapes => Some(format!("Desk \"{i}\"")),
                    _ => Some(format!("Employé {i}")),
                };
                let entry = PhoneEntry {
                    model: "ST2030".into(),
                    variant: (i % 4 == 1).then(|| "ST2030@next".to_string()),
                    name,
                    config_sn: format!("2026112600{i:02}"),
                    changed_at: [1_764_000_000, -3, 0, i64::MIN][i as usize % 4],
                    digest: format!("{i:064x}"),
                    file: FileEntry {
                        role: "phone".into(),
                        path: format!("releases/r/config/ST2030S_{i:012X}.txt"),
                        sha256: format!("{:064x}", i + 1),
                        size: [300, 0, u64::MAX][i as usize % 3],
                    },
                };
                (format!("001F9F{i:06X}"), entry)
            })
            .collect();
        m.phones.clear();
        let mut out = Vec::new();
        m.write_with_phones(&list, &mut out).unwrap();
        out
    }

    fn by_serde_json(text: &str) -> Result<Manifest, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_manifest_as_written_is_read_quickly_and_as_serde_json_reads_it() {
        for n in [1, 2, 7, 40] {
            let text = String::from_utf8(written(n, false)).unwrap();
            let quick = read_as_written(&text).expect("read the quick way");
            assert_eq!(quick.phones.len(), n);
            assert_eq!(Ok(quick), by_serde_json(&text));
            // A name to unescape: left to serde_json, with the same result.
            let text = String::from_utf8(written(n, true)).unwrap();
            assert_eq!(read_as_written(&text).is_none(), n > 1);
            assert_eq!(Manifest::from_bytes(text.as_bytes()), by_serde_json(&text));
        }
    }

    #[test]
    fn whatever_the_quick_reader_reads_serde_json_reads_the_same() {
        // Every byte of a small manifest changed to each of these, and the text cut at every
        // byte: a manifest is untrusted input.
        let text = written(3, false);
        let edits = b"\"\\-0 9,:{}\nax";
        let mut quick = 0;
        crate::json_shape::each_one_byte_edit(&text, edits, |t| {
            if let Some(m) = read_as_written(t) {
                quick += 1;
                assert_eq!(Ok(m), by_serde_json(t), "{t}");
            }
            assert_eq!(Manifest::from_bytes(t.as_bytes()), by_serde_json(t), "{t}");
        });
        // The ones the quick way reads: the edits that keep the manifest valid and as written
        // (a digit for a digit, a letter for a letter, ...).
        assert!(quick > 100, "{quick}");
    }

    #[test]
    fn a_phone_file_path_with_a_control_character_is_refused() {
        let release = format!("202611260001-{}", "a".repeat(crate::release::COMMIT_DIGITS));
        let text = String::from_utf8(written(2, false))
            .unwrap()
            .replace("\"release\": \"r\"", &format!("\"release\": \"{release}\""))
            .replace("releases/r/", &format!("releases/{release}/"));
        assert!(Manifest::from_untrusted(text.as_bytes()).is_ok());
        let path = format!("releases/{release}/config/ST2030S_000000000001.txt");
        assert!(text.contains(&path));
        for bad in [
            "\\u0009", "\\u007f", "\\u0085", "\u{85}", "\u{7f}", "/../x", "/.x", "//x",
        ] {
            let edited = text.replace(&path, &format!("releases/{release}/config{bad}"));
            let e = Manifest::from_untrusted(edited.as_bytes()).unwrap_err();
            assert!(e.contains("is not a name provsite writes"), "{bad}: {e}");
        }
        // Other characters than ASCII are fine.
        let edited = text.replace(&path, &format!("releases/{release}/config/é~ü.txt"));
        assert!(Manifest::from_untrusted(edited.as_bytes()).is_ok());
    }

    #[test]
    fn a_manifest_that_is_not_utf8_is_refused_with_its_place() {
        let mut bytes = b"{\n  \"format\": 1,\n  \"site\": \"Caf".to_vec();
        bytes.extend_from_slice(b"\xe9\"\n}\n");
        assert_eq!(
            Manifest::from_bytes(&bytes).unwrap_err(),
            "not UTF-8 at line 3 column 15"
        );
    }
}
