//! The render cache: the digest each phone's file had, keyed by everything that reaches the file,
//! so a build after a small commit renders only the phones that commit changed.
//!
//! A phone's key is a SHA-256 over
//! - the provsite source it was built from (its version, and a hash of its sources, templates,
//!   locked dependencies and compiler made by `build.rs`: another source is another renderer),
//! - the site as resolved, the inventory's template overrides, and a fingerprint of the site
//!   secret (a derived label, not the secret),
//! - its model's shared files on its firmware set (the entry point's parts, common file,
//!   firmware references, the keys other phones override),
//! - its scope (the site's fields as its groups and profile leave them) with its page
//!   passwords as resolved, and
//! - its own spec, with the values of the environment variables its lines' passwords name.
//!
//! The renderer sees nothing else (see [`crate::inventory::PhoneSpec`]), so a key that matches is
//! proof that the file would render to the same digest. A phone whose key misses is rendered; a
//! phone whose key hits is not, and its file is linked from the live release when the live
//! manifest records that same digest under the number the phone gets now, else rendered after
//! all. The cache never decides what a file says, only whether rendering it again can be skipped.
//!
//! The file lives in the build's work folder beside the web root (`.<out>.provsite/`, mode
//! 700), never in the served tree. It is checksummed and bounded: a cache that is missing,
//! truncated, from another format or larger than the bound is ignored (the build renders
//! everything, and gives the same bytes).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::inventory::{self, PhoneSpec, Secret, Site, Variant};
use crate::render::ModelFiles;
use crate::secrets::{self, SiteSecret};

/// A phone's key: SHA-256 of what reaches its file.
pub type Key = [u8; 32];

const MAGIC: &[u8; 24] = b"provsite render cache 1\n";
const ENTRY: usize = 64;
/// The most entries a cache file may hold (64 MiB): beyond, it is ignored.
const MAX_ENTRIES: usize = 1 << 20;

/// The cache file's name in the work folder.
pub const FILE: &str = "render-cache";

/// Collects what `Hash` writes, for one SHA-256 at the end (the std hasher is 64 bits and seeded
/// per process; and `Hash` writes many small pieces, which one buffer takes faster than a hasher).
struct ShaHasher(Vec<u8>);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn finish(&self) -> u64 {
        // Only the SHA-256 is read (see `digest`).
        0
    }
}

thread_local! {
    /// A phone's key is hashed in this thread's buffer (see [`ShaHasher::reused`]).
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl ShaHasher {
    fn new(domain: &str) -> Self {
        Self::with_buffer(Vec::with_capacity(1024), domain)
    }

    /// A hasher in the buffer the last one on this thread used, emptied: a phone's key (100,000
    /// a build) then costs no allocation, and no growth once the buffer is as large as a key.
    fn reused(domain: &str) -> Self {
        let mut buffer = BUFFER.take();
        buffer.clear();
        Self::with_buffer(buffer, domain)
    }

    fn with_buffer(buffer: Vec<u8>, domain: &str) -> Self {
        let mut h = ShaHasher(buffer);
        h.0.extend_from_slice(domain.as_bytes());
        h.0.push(0);
        h
    }

    fn digest(self) -> [u8; 32] {
        Sha256::digest(&self.0).into()
    }

    /// The digest, the buffer given back for [`ShaHasher::reused`].
    fn digest_reusing(self) -> [u8; 32] {
        let d = Sha256::digest(&self.0).into();
        BUFFER.set(self.0);
        d
    }
}

/// Hashes a [`Key`] by its first 8 bytes: it is a SHA-256 already, so hashing it again (std's
/// SipHash over 32 bytes, 100,000 times a build) only costs time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }
    fn write_usize(&mut self, _len: usize) {}
    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyMap = HashMap<Key, [u8; 32], std::hash::BuildHasherDefault<KeyHasher>>;

/// The digests of the last build's phones, by key.
#[derive(Default)]
pub struct RenderCache {
    known: KeyMap,
}

impl RenderCache {
    /// Reads the cache in `work` (the build's work folder); an absent or unusable file gives an
    /// empty cache.
    pub fn load(work: &Path) -> RenderCache {
        let path = work.join(FILE);
        let Ok(f) = std::fs::File::open(&path) else {
            return RenderCache::default();
        };
        let size = f.metadata().map_or(0, |m| m.len());
        let cap = (MAGIC.len() + MAX_ENTRIES * ENTRY + 32) as u64;
        // Read into a buffer of the right size at once (growing one copies it again and again).
        let mut bytes = Vec::with_capacity(size.min(cap) as usize + 1);
        if f.take(cap + 1).read_to_end(&mut bytes).is_err() || bytes.len() as u64 > cap {
            return RenderCache::default();
        }
        RenderCache::parse(&bytes).unwrap_or_default()
    }

    fn parse(bytes: &[u8]) -> Option<RenderCache> {
        let body = bytes.strip_prefix(MAGIC.as_slice())?;
        if body.len() < 32 || (body.len() - 32) % ENTRY != 0 {
            return None;
        }
        let (entries, sum) = body.split_at(body.len() - 32);
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(entries);
        if h.finalize().as_slice() != sum {
            return None;
        }
        let mut known = KeyMap::with_capacity_and_hasher(entries.len() / ENTRY, Default::default());
        known.extend(entries.chunks_exact(ENTRY).map(|e| {
            let (mut k, mut d) = ([0u8; 32], [0u8; 32]);
            k.copy_from_slice(&e[..32]);
            d.copy_from_slice(&e[32..]);
            (k, d)
        }));
        Some(RenderCache { known })
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The digest (hex) the file under `key` had.
    pub fn get(&self, key: &Key) -> Option<String> {
        self.known.get(key).map(|d| crate::hashing::hex(d))
    }

    /// Writes the cache of a build's phones (their keys and hex digests) into `work`, replacing
    /// the last one; best effort, as a cache that cannot be written only costs time.
    pub fn save<'a>(work: &Path, entries: impl Iterator<Item = (&'a Key, &'a str)>) {
        if let Some(bytes) = Self::encode(entries) {
            Self::write(work, &bytes);
        }
    }

    /// The file [`RenderCache::save`] writes, made apart from writing it (a build makes it while
    /// the manifest is written, and writes it once the release is published). None past the
    /// bound on entries.
    pub fn encode<'a>(entries: impl Iterator<Item = (&'a Key, &'a str)>) -> Option<Vec<u8>> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + entries.size_hint().0 * ENTRY + 32);
        bytes.extend_from_slice(MAGIC);
        let mut n = 0;
        for (k, d) in entries {
            let Some(d) = unhex32(d) else { continue };
            if n == MAX_ENTRIES {
                return None;
            }
            bytes.extend_from_slice(k);
            bytes.extend_from_slice(&d);
            n += 1;
        }
        let sum: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.extend_from_slice(&sum);
        Some(bytes)
    }

    /// Puts a file made by [`RenderCache::encode`] in place in `work`; best effort.
    pub fn write(work: &Path, bytes: &[u8]) {
        let tmp = crate::output::cache_temp(work, FILE);
        if std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, work.join(FILE)))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// What identifies the renderer: the source this executable was built from (see `build.rs`), so
/// that another build of the same source (a CI run installing provsite again) uses the caches and
/// any other ignores them.
pub(crate) const BINARY_ID: &str =
    concat!(env!("CARGO_PKG_VERSION"), " ", env!("PROVSITE_SOURCE_ID"));

/// Computes phones' keys for one build.
pub struct Keys {
    context: [u8; 32],
    /// Per model and firmware set (a handful): looked up in place, without building a key.
    variants: Vec<(Variant, [u8; 32])>,
    scopes: HashMap<usize, [u8; 32]>,
}

impl Keys {
    /// The keys of a build's phones.
    pub fn new(
        site: &Site,
        template_overrides: &std::collections::BTreeMap<String, String>,
        site_secret: &SiteSecret,
        models: &std::collections::BTreeMap<Variant, ModelFiles>,
        phones: &[inventory::Phone],
        pages: &HashMap<usize, Option<crate::build::PageSecrets>>,
    ) -> Keys {
        let mut h = ShaHasher::new("provsite render cache: context");
        BINARY_ID.hash(&mut h);
        format!("{site:?}").hash(&mut h);
        template_overrides.hash(&mut h);
        // The secret's fingerprint: a label derived from it, as a password would be.
        site_secret.derive("provsite render cache").hash(&mut h);
        let context = h.digest();
        let variants = models
            .iter()
            .map(|(v, f)| {
                let mut h = ShaHasher::new("provsite render cache: model");
                v.hash(&mut h);
                f.model.name().hash(&mut h);
                f.firmware_set.hash(&mut h);
                f.default_set.hash(&mut h);
                f.entry_point.hash(&mut h);
                format!("{:?}", f.firmware).hash(&mut h);
                for s in &f.shared {
                    s.role.hash(&mut h);
                    s.name.hash(&mut h);
                    s.bytes.hash(&mut h);
                }
                format!("{:?}", f.settings).hash(&mut h);
                f.override_keys.hash(&mut h);
                f.shared_digest.hash(&mut h);
                (v.clone(), h.digest())
            })
            .collect();
        let mut scopes = HashMap::new();
        for p in phones {
            let ptr = Arc::as_ptr(&p.scope) as usize;
            scopes.entry(ptr).or_insert_with(|| {
                let mut h = ShaHasher::new("provsite render cache: scope");
                p.scope.hash(&mut h);
                pages.get(&ptr).hash(&mut h);
                h.digest()
            });
        }
        Keys {
            context,
            variants,
            scopes,
        }
    }

    /// A phone's key (None for a model with no shared files rendered).
    pub fn of(&self, phone: &PhoneSpec) -> Option<Key> {
        let mut h = ShaHasher::reused("provsite render cache: phone");
        h.0.extend_from_slice(&self.context);
        let (_, variant) = self
            .variants
            .iter()
            .find(|(v, _)| v.model == phone.model && v.firmware == phone.firmware)?;
        h.0.extend_from_slice(variant);
        h.0.extend_from_slice(self.scopes.get(&(Arc::as_ptr(&phone.scope) as usize))?);
        // Every field but the scope (hashed once above): adding a field to PhoneSpec fails to
        // compile here until it is part of the key.
        let PhoneSpec {
            mac,
            model,
            name,
            profile,
            lines,
            keys,
            settings,
            ip,
            codecs,
            scope: _,
            firmware,
        } = phone;
        mac.hash(&mut h);
        model.hash(&mut h);
        name.hash(&mut h);
        profile.hash(&mut h);
        lines.hash(&mut h);
        keys.hash(&mut h);
        settings.hash(&mut h);
        ip.hash(&mut h);
        codecs.hash(&mut h);
        firmware.hash(&mut h);
        // A password read from the environment is part of the file, not of the spec.
        for l in lines {
            if let Secret::Env(name) = &l.password {
                secrets::resolve(&l.password, &SiteSecret::none())
                    .ok()
                    .hash(&mut h);
                name.hash(&mut h);
            }
        }
        Some(h.digest_reusing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_read_back_exactly() {
        let d: [u8; 32] = Sha256::digest(b"x").into();
        assert_eq!(unhex32(&crate::hashing::hex(&d)), Some(d));
        assert_eq!(
            unhex32(&crate::hashing::hex(&d).to_uppercase()),
            Some(d),
            "upper case too"
        );
        assert_eq!(unhex32(&"0".repeat(63)), None);
        assert_eq!(unhex32(&format!("{}g", "0".repeat(63))), None);
        assert_eq!(unhex32(&format!("{}é", "0".repeat(62))), None);
    }

    #[test]
    fn a_saved_cache_reads_back_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let d1 = "11".repeat(32);
        let d2 = "ab".repeat(32);
        RenderCache::save(
            dir.path(),
            [(&k1, d1.as_str()), (&k2, d2.as_str())].into_iter(),
        );
        let c = RenderCache::load(dir.path());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&k1).as_deref(), Some(d1.as_str()));
        assert_eq!(c.get(&k2).as_deref(), Some(d2.as_str()));
        // One bit flipped anywhere: the checksum fails and nothing is trusted.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[MAGIC.len() + 40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(RenderCache::load(dir.path()).is_empty());
        // Truncated.
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(RenderCache::load(dir.path()).is_empty());
        // Another format.
        std::fs::write(&path, b"not a cache").unwrap();
        assert!(RenderCache::load(dir.path()).is_empty());
    }
}
