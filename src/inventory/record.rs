//! The record of resolved phones: each phones file's phones as the last build resolved them, so
//! that a build after a commit resolves only the phones files the commit changed.
//!
//! Resolving a phone reads its own entry, its file's groups (by the file's folder) and
//! `site.yaml` (its model, profile and firmware), and nothing of the other phones files but
//! their MACs and SIP users, which are checked across the inventory for every phone, recorded or
//! not. So an entry is keyed by the file's path and blob id, and the whole record by a digest of
//! `site.yaml`'s and every group file's path and blob id ([`context`]) and of the provsite source
//! that wrote it: another site or group text, or another provsite, and the record is not read.
//! As the blob ids are known once the commit's files are listed, a build knows whether the record
//! serves before it reads any text: it then reads neither the texts of the files the record holds
//! nor the parse cache (the files the record lacks are parsed).
//!
//! What goes in, and when:
//! - only from a build whose inventory resolved without any problem, not even a warning: a
//!   check that a recorded phone would have made once (a profile's keys for a model, say) said
//!   nothing then, and says nothing now, the texts it reads being the same;
//! - only the files none of whose phones sets a scope field of its own (`pbx`, `vlan` and the
//!   like, rare on a phone): a recorded phone's scope is taken again from its model, groups and
//!   profile, as the resolver gives it to every phone that sets none;
//! - a phone's fields as the resolver gave them, each read back to the same value (a test holds
//!   decoding to encoding over every field's kinds of value). An entry that does not read back,
//!   or a file that does not check out (see `crate::parse_cache::ParseCache::load_file`), is
//!   left aside and its phones files are resolved from their text.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use git2::Oid;
use sha2::{Digest, Sha256};

use super::{FnKey, Line, Phone, Secret, Settings};
use crate::family::ModelId;
use crate::mac::Mac;
use crate::parse_cache::{ParseCache, Pending};
use crate::tables::Transport;

const MAGIC: &[u8] = b"provsite resolved phones 1\n";
/// The record's file name in the work folder.
pub const FILE: &str = "resolved";

/// A recorded phone: everything of its [`Phone`] but its scope (taken again from its model,
/// groups and profile) and where it is written (its file, and its place there).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub index: usize,
    pub mac: Mac,
    pub model: ModelId,
    pub name: Option<String>,
    pub profile: Option<String>,
    pub lines: Vec<Line>,
    pub keys: BTreeMap<u32, FnKey>,
    pub settings: Settings,
    pub ip: Option<Ipv4Addr>,
    pub codecs: Arc<(Vec<String>, String)>,
    pub firmware: String,
}

/// The digest of what resolving a phones file reads besides the file: `site.yaml` and every
/// group file (path and blob id, in any order), and the inventory's folder.
pub fn context<'a>(inventory_dir: &str, files: impl Iterator<Item = (&'a str, Oid)>) -> [u8; 32] {
    let mut files: Vec<(&str, Oid)> = files.collect();
    files.sort();
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    put(inventory_dir.as_bytes());
    for (path, blob) in files {
        put(path.as_bytes());
        put(blob.as_bytes());
    }
    h.finalize().into()
}

/// An entry's key: the file's path and blob id.
fn key(path: &str, blob: Oid) -> Option<Oid> {
    let mut h = Sha256::new();
    h.update((path.len() as u64).to_le_bytes());
    h.update(path.as_bytes());
    h.update(blob.as_bytes());
    Oid::from_bytes(&h.finalize()[..20]).ok()
}

/// The record's id line: the provsite source, then the context.
fn id(context: &[u8; 32]) -> String {
    format!(
        "{} {}",
        crate::render_cache::BINARY_ID,
        crate::hashing::hex(context)
    )
}

/// The record of the last build, for this context (empty when it was made for another).
#[derive(Default)]
pub struct Record {
    entries: Arc<ParseCache>,
}

impl Record {
    /// Reads the record in `work` (and checks its checksum), for whatever context: see
    /// [`Record::for_context`].
    pub fn read(work: &Path) -> Record {
        Record {
            entries: Arc::new(ParseCache::load_file(work, FILE, MAGIC, None)),
        }
    }

    /// The record when it was made for this context and this provsite, else an empty one.
    pub fn for_context(self, context: &[u8; 32]) -> Record {
        if self.entries.id() == id(context).as_bytes() {
            self
        } else {
            Record::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the record holds a phones file (that it reads back is known only by
    /// [`Record::get`]).
    pub fn contains(&self, path: &str, blob: Oid) -> bool {
        key(path, blob).is_some_and(|k| self.entries.contains(k))
    }

    /// The phones recorded for a phones file, by its path and blob id.
    pub fn get(&self, path: &str, blob: Oid) -> Option<Vec<Recorded>> {
        decode(self.entries.raw(key(path, blob)?)?)
    }

    /// Starts the next record, in `work`, for `context`.
    pub fn begin_next(&self, work: &Path, context: &[u8; 32]) -> Option<Next> {
        let pending =
            Pending::begin_file(work, FILE, MAGIC, &id(context), Arc::clone(&self.entries))?;
        Some(Next { pending })
    }
}

/// The next record being written: entries copied from the last one, or encoded anew.
pub struct Next {
    pending: Pending,
}

impl Next {
    /// Copies the entry of a file the last record holds.
    pub fn keep(&mut self, path: &str, blob: Oid) {
        if let Some(k) = key(path, blob) {
            self.pending.keep(k);
        }
    }

    /// Adds a file's phones (each with its place in the file), unless one cannot be written.
    pub fn add(&mut self, path: &str, blob: Oid, phones: &[&Phone]) {
        if let (Some(k), Some(bytes)) = (key(path, blob), encode(phones)) {
            self.pending.add(k, bytes);
        }
    }

    /// Puts the next record in place of the last one (best effort).
    pub fn finish(mut self) {
        self.pending.close();
        self.pending.finish();
    }
}

/// The bytes of a file's phones; None when one has no place of its own in the file.
pub fn encode(phones: &[&Phone]) -> Option<Vec<u8>> {
    let mut w = Vec::with_capacity(phones.len() * 160 + 16);
    // The file's lists of codecs, each once (a model's is shared by its phones).
    let mut codecs: Vec<&Arc<(Vec<String>, String)>> = Vec::new();
    let mut which = Vec::with_capacity(phones.len());
    for p in phones {
        let i = match codecs.iter().position(|c| Arc::ptr_eq(c, &p.codecs)) {
            Some(i) => i,
            None => {
                codecs.push(&p.codecs);
                codecs.len() - 1
            }
        };
        which.push(i);
    }
    int(&mut w, codecs.len())?;
    for c in &codecs {
        list(&mut w, &c.0)?;
        text(&mut w, &c.1)?;
    }
    int(&mut w, phones.len())?;
    for (p, c) in phones.iter().zip(which) {
        let [crate::yaml_locate::Seg::Index(index)] = p.origin.path.as_slice() else {
            return None;
        };
        // Every field but the scope (taken again when read) and the codecs (in the file's table
        // above): adding a field to PhoneSpec fails to compile here until it is recorded.
        let super::PhoneSpec {
            mac,
            model,
            name,
            profile,
            lines,
            keys,
            settings,
            ip,
            codecs: _,
            scope: _,
            firmware,
        } = &p.spec;
        int(&mut w, *index)?;
        int(&mut w, c)?;
        text(&mut w, mac.as_str())?;
        text(&mut w, model.name())?;
        opt_text(&mut w, name.as_deref())?;
        opt_text(&mut w, profile.as_deref())?;
        int(&mut w, lines.len())?;
        for l in lines {
            text(&mut w, &l.user)?;
            text(&mut w, &l.auth_user)?;
            text(&mut w, &l.display_name)?;
            let (kind, s) = match &l.password {
                Secret::Literal(s) => (0, s),
                Secret::Env(s) => (1, s),
                Secret::Derived(s) => (2, s),
            };
            w.push(kind);
            text(&mut w, s)?;
            opt_text(&mut w, l.host.as_deref())?;
            match l.port {
                None => w.push(0),
                Some(port) => {
                    w.push(1);
                    w.extend_from_slice(&port.to_le_bytes());
                }
            }
            w.push(l.transport.map_or(0, |t| t.flag() + 1));
            match &l.backup_host {
                None => w.push(0),
                Some(None) => w.push(1),
                Some(Some(h)) => {
                    w.push(2);
                    text(&mut w, h)?;
                }
            }
            w.push(u8::from(l.voicemail));
        }
        int(&mut w, keys.len())?;
        for (n, k) in keys {
            w.extend_from_slice(&n.to_le_bytes());
            let (kind, s) = match k {
                FnKey::Blf(s) => (0, s),
                FnKey::SpeedDial(s) => (1, s),
            };
            w.push(kind);
            text(&mut w, s)?;
        }
        int(&mut w, settings.len())?;
        for (section, keys) in settings {
            text(&mut w, section)?;
            int(&mut w, keys.len())?;
            for (k, v) in keys {
                text(&mut w, k)?;
                text(&mut w, v)?;
            }
        }
        match ip {
            None => w.push(0),
            Some(ip) => {
                w.push(1);
                w.extend_from_slice(&ip.octets());
            }
        }
        text(&mut w, firmware)?;
    }
    Some(w)
}

fn int(w: &mut Vec<u8>, n: usize) -> Option<()> {
    w.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    Some(())
}

fn text(w: &mut Vec<u8>, s: &str) -> Option<()> {
    int(w, s.len())?;
    w.extend_from_slice(s.as_bytes());
    Some(())
}

fn opt_text(w: &mut Vec<u8>, s: Option<&str>) -> Option<()> {
    match s {
        None => {
            w.push(0);
            Some(())
        }
        Some(s) => {
            w.push(1);
            text(w, s)
        }
    }
}

fn list(w: &mut Vec<u8>, items: &[String]) -> Option<()> {
    int(w, items.len())?;
    items.iter().try_for_each(|s| text(w, s))
}

/// Reads an entry: None at anything it does not expect, or at bytes left over.
pub fn decode(bytes: &[u8]) -> Option<Vec<Recorded>> {
    let mut r = Reader(bytes);
    // Each count is bounded by the bytes left (every item takes at least one), so no count
    // read from the file reserves more than the file could hold.
    let n = r.count()?;
    let mut codecs = Vec::with_capacity(n);
    for _ in 0..n {
        let names = r.list()?;
        let priority = r.text()?;
        codecs.push(Arc::new((names, priority)));
    }
    let n = r.count()?;
    let mut phones = Vec::with_capacity(n);
    for _ in 0..n {
        let index = r.int()?;
        let codecs = Arc::clone(codecs.get(r.int()?)?);
        let mac = Mac::parse(r.str()?).filter(|m| m.as_str().len() == 12)?;
        let model = ModelId::parse(r.str()?)?;
        let name = r.opt_text()?;
        let profile = r.opt_text()?;
        let count = r.count()?;
        let mut lines = Vec::with_capacity(count);
        for _ in 0..count {
            let user = r.text()?;
            let auth_user = r.text()?;
            let display_name = r.text()?;
            let password = match r.byte()? {
                0 => Secret::Literal(r.text()?),
                1 => Secret::Env(r.text()?),
                2 => Secret::Derived(r.text()?),
                _ => return None,
            };
            let host = r.opt_text()?;
            let port = match r.byte()? {
                0 => None,
                1 => Some(u16::from_le_bytes(r.take(2)?.try_into().ok()?)),
                _ => return None,
            };
            let transport = match r.byte()? {
                0 => None,
                t => Some(
                    [Transport::Udp, Transport::Tcp, Transport::Tls]
                        .into_iter()
                        .find(|x| x.flag() + 1 == t)?,
                ),
            };
            let backup_host = match r.byte()? {
                0 => None,
                1 => Some(None),
                2 => Some(Some(r.text()?)),
                _ => return None,
            };
            let voicemail = match r.byte()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            lines.push(Line {
                user,
                auth_user,
                display_name,
                password,
                host,
                port,
                transport,
                backup_host,
                voicemail,
            });
        }
        let count = r.count()?;
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let n = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
            let k = match r.byte()? {
                0 => FnKey::Blf(r.text()?),
                1 => FnKey::SpeedDial(r.text()?),
                _ => return None,
            };
            // In order, each once, as a map writes them.
            if keys.last_key_value().is_some_and(|(last, _)| *last >= n) {
                return None;
            }
            keys.insert(n, k);
        }
        let count = r.count()?;
        let mut settings = Settings::new();
        for _ in 0..count {
            let section = r.text()?;
            let m = r.count()?;
            let mut keys = BTreeMap::new();
            for _ in 0..m {
                let k = r.text()?;
                if keys.last_key_value().is_some_and(|(last, _)| *last >= k) {
                    return None;
                }
                keys.insert(k, r.text()?);
            }
            if settings
                .last_key_value()
                .is_some_and(|(last, _)| *last >= section)
            {
                return None;
            }
            settings.insert(section, keys);
        }
        let ip = match r.byte()? {
            0 => None,
            1 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(r.take(4)?).ok()?)),
            _ => return None,
        };
        let firmware = r.text()?;
        phones.push(Recorded {
            index,
            mac,
            model,
            name,
            profile,
            lines,
            keys,
            settings,
            ip,
            codecs,
            firmware,
        });
    }
    r.0.is_empty().then_some(phones)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn int(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    /// A count of items, each at least a byte long: never more than the bytes left.
    fn count(&mut self) -> Option<usize> {
        self.int().filter(|&n| n <= self.0.len())
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.int()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn text(&mut self) -> Option<String> {
        self.str().map(str::to_string)
    }

    fn opt_text(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.text().map(Some),
            _ => None,
        }
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.count()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.text()?);
        }
        Some(items)
    }
}

impl Recorded {
    /// Whether the site still has what the phone was resolved with (its profile): it has,
    /// under the same `site.yaml`, which the record's context holds to.
    pub(crate) fn fits(&self, first: &super::SiteFirst) -> bool {
        self.profile
            .as_ref()
            .is_none_or(|p| first.doc.profiles.contains_key(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{parse_phones, resolve, SourceText};

    /// Phones with every kind of value each field takes, resolved as a build resolves them.
    fn phones() -> Vec<Phone> {
        let src = SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: "\
- mac: 00-1f-9f-16-e8-49
  model: st2030
  name: Accueil Hélène
  profile: sales
  lines:
    - {user: '1001', display_name: Hélène, password: {env: P1}}
    - {user: '1002', auth_user: a1002, display_name: Bob, password: s3cret-Literal, voicemail: false, host: pbx2.test, port: 5070, transport: tcp, backup_host: pbx3.test}
    - {user: '1003', display_name: Ann, backup_host: 'off'}
  keys: {2: {blf: '1003'}, 9: {speed_dial: '0612345678'}}
  settings: {ipp: {AutoAnsMode: '1', Ringer_default_vol: '3'}}
  ip: 192.0.2.10
  codecs: [g722, alaw]
- mac: 001F9F16E84A
  model: ST2020
  lines:
    - {user: '2001', display_name: Zoé}
- mac: 00:1f:9f:16:e8:4b
  model: ST2030
  profile: sales
  lines:
    - {user: '3001', display_name: Zé, transport: tls}
"
            .into(),
        };
        let docs = parse_phones(&src).unwrap();
        let (inv, diags) = resolve(
            &super::super::tests::site(""),
            &[],
            &[(src, Arc::new(docs))],
            "inventory",
        );
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let mut phones = inv.unwrap().phones;
        // In the file's order, as the record keeps them.
        phones.sort_by_key(|p| format!("{:?}", p.origin.path));
        phones
    }

    fn same(p: &Phone, r: &Recorded) {
        assert_eq!(p.origin.path, vec![crate::yaml_locate::idx(r.index)]);
        assert_eq!(p.mac, r.mac);
        assert_eq!(p.model, r.model);
        assert_eq!(p.name, r.name);
        assert_eq!(p.profile, r.profile);
        assert_eq!(p.lines, r.lines);
        assert_eq!(p.keys, r.keys);
        assert_eq!(p.settings, r.settings);
        assert_eq!(p.ip, r.ip);
        assert_eq!(p.codecs, r.codecs);
        assert_eq!(p.firmware, r.firmware);
    }

    #[test]
    fn a_recorded_phone_reads_back_as_it_was_resolved() {
        let phones = phones();
        // The sample holds what each field may be: checked here, so that it stays so.
        let lines: Vec<&Line> = phones.iter().flat_map(|p| &p.lines).collect();
        for kind in 0..3 {
            assert!(lines.iter().any(|l| matches!(
                (&l.password, kind),
                (Secret::Env(_), 0) | (Secret::Literal(_), 1) | (Secret::Derived(_), 2)
            )));
        }
        assert!(lines.iter().any(|l| l.backup_host == Some(None)));
        assert!(lines.iter().any(|l| matches!(l.backup_host, Some(Some(_)))));
        assert!(lines.iter().any(|l| l.backup_host.is_none()));
        assert!(lines.iter().any(|l| l.port.is_some() && l.host.is_some()));
        assert!(lines.iter().any(|l| !l.voicemail) && lines.iter().any(|l| l.voicemail));
        assert!(phones.iter().any(|p| p.ip.is_some()) && phones.iter().any(|p| p.ip.is_none()));
        assert!(phones.iter().any(|p| p.name.is_none()));
        assert!(phones.iter().any(|p| p.profile.is_none()));
        assert!(phones.iter().any(|p| !p.settings.is_empty()));
        assert!(phones
            .iter()
            .any(|p| p.keys.values().any(|k| matches!(k, FnKey::SpeedDial(_)))));

        let refs: Vec<&Phone> = phones.iter().collect();
        let bytes = encode(&refs).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), phones.len());
        for (p, r) in phones.iter().zip(&back) {
            same(p, r);
        }
        // Phones that share a list of codecs share it once read back.
        let shared = phones
            .iter()
            .filter(|p| Arc::ptr_eq(&p.codecs, &phones[1].codecs))
            .count();
        let read_shared = back
            .iter()
            .filter(|r| Arc::ptr_eq(&r.codecs, &back[1].codecs))
            .count();
        assert_eq!(shared, read_shared);
    }

    #[test]
    fn an_entry_cut_or_edited_anywhere_is_refused_or_reads_as_valid_phones() {
        let phones = phones();
        let refs: Vec<&Phone> = phones.iter().collect();
        let bytes = encode(&refs).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        // Any byte changed: no panic, and what reads is a set of phones (the file's checksum
        // refuses such an entry before it is read).
        for i in 0..bytes.len() {
            for v in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Some(read) = decode(&b) {
                    for r in read {
                        assert_eq!(r.mac.as_str().len(), 12);
                    }
                }
            }
        }
    }

    #[test]
    fn a_phone_without_its_place_in_a_file_is_not_recorded() {
        let mut phones = phones();
        phones[0].origin.path.push(crate::yaml_locate::key("x"));
        let refs: Vec<&Phone> = phones.iter().collect();
        assert!(encode(&refs).is_none());
    }

    #[test]
    fn the_context_is_every_file_resolving_reads_besides_the_phones_file() {
        let oid = |n: u8| Oid::from_bytes(&[n; 20]).unwrap();
        let site = ("inventory/site.yaml", oid(1));
        let group = ("inventory/phones/lyon/group.yaml", oid(2));
        let base = context("inventory", [site, group].into_iter());
        for (files, dir) in [
            (vec![("inventory/site.yaml", oid(3)), group], "inventory"),
            (
                vec![site, ("inventory/phones/lyon/group.yaml", oid(4))],
                "inventory",
            ),
            (
                vec![site, ("inventory/phones/paris/group.yaml", oid(2))],
                "inventory",
            ),
            (vec![site], "inventory"),
            (vec![site, group], "inv"),
        ] {
            assert_ne!(context(dir, files.into_iter()), base);
        }
        // The order the files are listed in does not matter.
        assert_eq!(context("inventory", [group, site].into_iter()), base);
        // One name's end is not the next one's start.
        assert_ne!(
            context("i", [("ab", oid(1)), ("c", oid(1))].into_iter()),
            context("i", [("a", oid(1)), ("bc", oid(1))].into_iter())
        );
    }
}
