//! The parse cache: each phones file's parsed phones, keyed by the file's git blob id, so a build
//! parses only the phones files a commit changed (YAML is the largest cost of reading 100,000
//! phones).
//!
//! An entry holds the file's phones as JSON, written only when reading that JSON back gives
//! exactly the phones YAML gave (compared field by field): a file whose phones would not survive
//! the trip (a float that JSON cannot hold, a tagged value) is simply not cached. A blob id names
//! the file's bytes, and parsing depends on nothing else; the whole cache is also tied to the
//! provsite source that wrote it (another may parse differently; see `build.rs`) and checksummed.
//! Anything that does not check out is ignored and the files are parsed, with the same result.
//!
//! It sits in the build's work folder beside the web root (`.<out>.provsite/`), with the render
//! cache. `build` writes it (as a new file, renamed into place once the build succeeded); `check`,
//! `diff` and the other commands only read it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;
use sha2::{Digest, Sha256};

use crate::inventory::PhoneDoc;

mod quick;

const MAGIC: &[u8] = b"provsite parse cache 1\n";
/// The cache file's name in the work folder.
pub const FILE: &str = "parse-cache";
/// The largest cache read (beyond, it is ignored).
const MAX_BYTES: u64 = 1 << 30;

/// The parsed phones files of the last build, by blob id.
#[derive(Default)]
pub struct ParseCache {
    data: Vec<u8>,
    index: HashMap<Oid, (usize, usize)>,
    /// Where the id line is in `data`.
    id: (usize, usize),
}

impl ParseCache {
    /// Reads the cache in `work`; an absent or unusable file gives an empty cache.
    pub fn load(work: &Path) -> ParseCache {
        Self::load_file(work, FILE, MAGIC, Some(crate::render_cache::BINARY_ID))
    }

    /// Reads a file of this shape (the record of resolved phones is one too): `magic`, then `id`
    /// on a line (any, when None: see [`ParseCache::id`]), then entries (a 20-byte key, a length,
    /// the bytes), then the SHA-256 of all that. Anything else gives an empty cache.
    pub(crate) fn load_file(work: &Path, file: &str, magic: &[u8], id: Option<&str>) -> ParseCache {
        let Ok(f) = std::fs::File::open(work.join(file)) else {
            return ParseCache::default();
        };
        let size = f.metadata().map_or(0, |m| m.len());
        if size > MAX_BYTES {
            return ParseCache::default();
        }
        // Read into a buffer of the right size at once (growing one copies and zeroes it again).
        let mut data = Vec::with_capacity(size as usize + 1);
        if f.take(MAX_BYTES + 1).read_to_end(&mut data).is_err() || data.len() as u64 > MAX_BYTES {
            return ParseCache::default();
        }
        Self::index(data, magic, id).unwrap_or_default()
    }

    fn index(data: Vec<u8>, magic: &[u8], id: Option<&str>) -> Option<ParseCache> {
        let body_len = data.len().checked_sub(32)?;
        let (body, sum) = data.split_at(body_len);
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut pos = magic.len();
        if !body.starts_with(magic) {
            return None;
        }
        let id_end = pos + body[pos..].iter().position(|&b| b == b'\n')?;
        if id.is_some_and(|id| &body[pos..id_end] != id.as_bytes()) {
            return None;
        }
        let id = (pos, id_end);
        pos = id_end + 1;
        let mut index = HashMap::new();
        while pos < body.len() {
            let oid = Oid::from_bytes(body.get(pos..pos + 20)?).ok()?;
            let len = u32::from_le_bytes(body.get(pos + 20..pos + 24)?.try_into().ok()?) as usize;
            let start = pos + 24;
            let end = start.checked_add(len).filter(|&e| e <= body.len())?;
            index.insert(oid, (start, end));
            pos = end;
        }
        Some(ParseCache { data, index, id })
    }

    /// The file's id line (empty for an empty cache).
    pub(crate) fn id(&self) -> &[u8] {
        self.data.get(self.id.0..self.id.1).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether the cache has an entry for a blob (that it reads back is known only by
    /// [`ParseCache::get`]).
    pub fn contains(&self, blob: Oid) -> bool {
        self.index.contains_key(&blob)
    }

    /// The entry of a blob (or another 20-byte key), as stored.
    pub(crate) fn raw(&self, blob: Oid) -> Option<&[u8]> {
        self.index.get(&blob).map(|&(s, e)| &self.data[s..e])
    }

    /// The phones of a phones file, by its blob id.
    pub fn get(&self, blob: Oid) -> Option<Vec<PhoneDoc>> {
        // Checked as UTF-8 once, whole: read from a `str`, serde_json checks no string again
        // (from bytes it checks each of them on its own).
        let text = std::str::from_utf8(self.raw(blob)?).ok()?;
        quick::phones(text).or_else(|| serde_json::from_str(text).ok())
    }
}

/// The JSON of a file's phones, if reading it back gives the same phones.
///
/// Every field of a phone is text, an integer, a boolean, or a map or list of those, which JSON
/// carries both ways (serde writes each as it reads it: see the `Serialize` impls of `Text`,
/// `SecretDoc` and `UniqueMap`), except the free-form YAML values (raw settings, `vlan`, `dns`,
/// `directory`, `autoprovision`): those are walked, and a file with a float, a tagged value or a
/// mapping key that is not text in one of them is not cached.
pub fn encode(docs: &[PhoneDoc]) -> Option<Vec<u8>> {
    let values_safe = docs.iter().all(|d| {
        let scoped = [&d.vlan, &d.dns, &d.directory, &d.autoprovision];
        scoped.into_iter().flatten().all(|v| json_safe(v))
            && d.settings.values().all(|keys| keys.values().all(json_safe))
    });
    if !values_safe {
        return None;
    }
    serde_json::to_vec(docs)
        .ok()
        .filter(|j| j.len() <= u32::MAX as usize)
}

/// Whether JSON gives back exactly this YAML value.
fn json_safe(v: &serde_yaml::Value) -> bool {
    use serde_yaml::Value;
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        // Integers are exact both ways; a float's text may not come back to the same bits.
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::Sequence(items) => items.iter().all(json_safe),
        Value::Mapping(m) => m
            .iter()
            .all(|(k, v)| matches!(k, Value::String(_)) && json_safe(v)),
        Value::Tagged(_) => false,
    }
}

/// A new cache being written beside the old one, for the files of this build. The writing (and
/// its checksum) happens on a thread of its own: the build only says which entries go in.
pub struct Pending {
    to_writer: Option<std::sync::mpsc::Sender<Entry>>,
    writer: Option<std::thread::JoinHandle<bool>>,
    tmp: PathBuf,
    path: PathBuf,
}

/// An entry of the new cache: a new one's JSON, or one to copy from the old cache.
enum Entry {
    Add(Oid, Vec<u8>),
    Keep(Oid),
}

/// Writes the cache file, summing what it writes.
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    sum: Sha256,
    failed: bool,
}

impl Writer {
    fn write(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.sum.update(bytes);
            self.failed = self.out.write_all(bytes).is_err();
        }
    }

    fn entry(&mut self, blob: Oid, json: &[u8]) {
        let Ok(len) = u32::try_from(json.len()) else {
            return;
        };
        self.write(blob.as_bytes());
        self.write(&len.to_le_bytes());
        self.write(json);
    }

    /// Writes the entries as they come, then the checksum; true when all of it was written.
    fn run(mut self, entries: std::sync::mpsc::Receiver<Entry>, old: Arc<ParseCache>) -> bool {
        for e in entries {
            match e {
                Entry::Add(blob, json) => self.entry(blob, &json),
                Entry::Keep(blob) => {
                    if let Some(raw) = old.raw(blob) {
                        self.entry(blob, raw);
                    }
                }
            }
        }
        drop(old);
        let sum: [u8; 32] = std::mem::take(&mut self.sum).finalize().into();
        self.write(&sum);
        !self.failed && self.out.flush().is_ok()
    }
}

impl Pending {
    /// Starts a new cache in `work`, which may copy entries of `old` (None when the folder
    /// cannot be written: then there is no cache, which only costs time).
    pub fn begin(work: &Path, old: Arc<ParseCache>) -> Option<Pending> {
        Self::begin_file(work, FILE, MAGIC, crate::render_cache::BINARY_ID, old)
    }

    /// Starts a new file of this shape (see [`ParseCache::load_file`]).
    pub(crate) fn begin_file(
        work: &Path,
        file: &str,
        magic: &[u8],
        id: &str,
        old: Arc<ParseCache>,
    ) -> Option<Pending> {
        let tmp = crate::output::cache_temp(work, file);
        let f = std::fs::File::create(&tmp).ok()?;
        let mut w = Writer {
            out: std::io::BufWriter::with_capacity(1 << 16, f),
            sum: Sha256::new(),
            failed: false,
        };
        w.write(magic);
        w.write(id.as_bytes());
        w.write(b"\n");
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("parse cache".into())
            .spawn(move || w.run(rx, old));
        let Ok(writer) = writer else {
            let _ = std::fs::remove_file(&tmp);
            return None;
        };
        Some(Pending {
            to_writer: Some(tx),
            writer: Some(writer),
            tmp,
            path: work.join(file),
        })
    }

    fn send(&mut self, e: Entry) {
        if let Some(tx) = &self.to_writer {
            // A writer that stopped has failed: finish will not put its file in place.
            let _ = tx.send(e);
        }
    }

    /// Adds a file's entry (its JSON, see [`encode`]).
    pub fn add(&mut self, blob: Oid, json: Vec<u8>) {
        self.send(Entry::Add(blob, json));
    }

    /// Copies an entry of the old cache.
    pub fn keep(&mut self, blob: Oid) {
        self.send(Entry::Keep(blob));
    }

    /// Every entry is given: the writer completes the file (and lets the old cache go) while
    /// the build goes on.
    pub fn close(&mut self) {
        self.to_writer = None;
    }

    /// Waits for the writer; whether it wrote the whole file.
    fn written(&mut self) -> bool {
        self.close();
        self.writer
            .take()
            .is_some_and(|w| w.join().unwrap_or(false))
    }

    /// Puts the new cache in place of the old one (best effort).
    pub fn finish(mut self) {
        if self.written() && std::fs::rename(&self.tmp, &self.path).is_ok() {
            // Renamed: nothing to remove on drop.
            self.tmp = PathBuf::new();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // The writer is done with the file before it goes.
        self.written();
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{parse_phones, SourceText};

    fn docs(text: &str) -> Vec<PhoneDoc> {
        parse_phones(&SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: text.into(),
        })
        .unwrap()
    }

    #[test]
    fn phones_come_back_as_parsed_and_a_damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let a = docs("- mac: 00:1F:9F:00:00:01\n  model: ST2030\n  lines: [{user: 1001, password: {env: PW}}]\n  keys: {1: {blf: 1002}}\n  settings: {ipp: {AutoAnsMode: 1, X: \"01\", Y: -3, Z: true, W: ~}}\n  vlan: {voice: 10}\n");
        let b = docs("- mac: 00:1F:9F:00:00:02\n  model: ST2022\n");
        let (oa, ob) = (
            Oid::from_bytes(&[1; 20]).unwrap(),
            Oid::from_bytes(&[2; 20]).unwrap(),
        );
        let mut p = Pending::begin(dir.path(), Arc::default()).unwrap();
        p.add(oa, encode(&a).unwrap());
        p.add(ob, encode(&b).unwrap());
        p.finish();
        let c = Arc::new(ParseCache::load(dir.path()));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(oa).unwrap(), a);
        assert_eq!(c.get(ob).unwrap(), b);
        // A new cache keeps what it is told to keep, and only that.
        let mut p = Pending::begin(dir.path(), Arc::clone(&c)).unwrap();
        p.keep(ob);
        p.close();
        p.finish();
        let c = ParseCache::load(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(ob).unwrap(), b);
        // One byte changed: nothing is trusted.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(ParseCache::load(dir.path()).is_empty());
        // An unfinished cache leaves no file behind.
        let mut unfinished = Pending::begin(dir.path(), Arc::default()).unwrap();
        unfinished.add(oa, encode(&a).unwrap());
        drop(unfinished);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn a_value_json_cannot_carry_is_not_cached() {
        for v in [".nan", "1.5", "{1: a}", "[1, 2.5]"] {
            let d = docs(&format!(
                "- mac: 00:1F:9F:00:00:01\n  model: ST2030\n  settings: {{ipp: {{X: {v}}}}}\n"
            ));
            assert!(encode(&d).is_none(), "{v}");
        }
        let vlan = docs("- mac: 00:1F:9F:00:00:01\n  model: ST2030\n  vlan: {voice: 1.5}\n");
        assert!(encode(&vlan).is_none());
        let tagged =
            docs("- mac: 00:1F:9F:00:00:01\n  model: ST2030\n  settings: {ipp: {X: !foo 1}}\n");
        assert!(encode(&tagged).is_none());
    }
}
