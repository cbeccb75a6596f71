//! Passwords: literals, `{env: NAME}`, or derived from a site secret that lives outside git.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

use crate::inventory::Secret;
use crate::text_rules::Field;

/// Where the site secret came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    File(String),
    Example(String),
}

/// The site secret, when one was given.
#[derive(Clone, Default)]
pub struct SiteSecret {
    key: Option<Vec<u8>>,
    /// HMAC keyed with the secret, ready to take a label: a password costs two SHA-256 blocks,
    /// not four (a build derives one per line).
    mac: Option<Hmac<Sha256>>,
    pub source: Option<SecretSource>,
}

impl std::fmt::Debug for SiteSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteSecret")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The environment variable that holds the site secret.
pub const SECRET_ENV: &str = "PROVSITE_SECRET";

impl SiteSecret {
    pub fn none() -> Self {
        SiteSecret::default()
    }

    pub fn from_bytes(key: &[u8], source: SecretSource) -> Self {
        SiteSecret {
            key: Some(key.to_vec()),
            mac: Some(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")),
            source: Some(source),
        }
    }

    /// PROVSITE_SECRET, else `--secret-file`, else the example's file (read by the caller).
    pub fn load(secret_file: Option<&Path>) -> Result<Self, String> {
        if let Ok(v) = std::env::var(SECRET_ENV) {
            let v = v.trim();
            if !v.is_empty() {
                if v.len() < MIN_SECRET {
                    return Err(format!(
                        "{SECRET_ENV} holds fewer than {MIN_SECRET} bytes: anyone could guess it and every password derived from it; make a strong one with `head -c 32 /dev/urandom | base64`"
                    ));
                }
                return Ok(Self::from_bytes(v.as_bytes(), SecretSource::Env));
            }
        }
        if let Some(p) = secret_file {
            let text = read_secret_file(p)?;
            let trimmed = trim_ascii(&text);
            if trimmed.len() < MIN_SECRET {
                return Err(format!(
                    "the secret file {} holds fewer than 16 bytes: make a strong one with `head -c 32 /dev/urandom | base64 > {}`",
                    p.display(),
                    p.display()
                ));
            }
            return Ok(Self::from_bytes(
                trimmed,
                SecretSource::File(p.display().to_string()),
            ));
        }
        Ok(Self::none())
    }

    pub fn is_set(&self) -> bool {
        self.key.is_some()
    }

    /// The password derived for a label (`sip:<user>`, `admin`, `user`).
    pub fn derive(&self, label: &str) -> Option<String> {
        self.mac.clone().map(|mut mac| {
            mac.update(label.as_bytes());
            base62(&mac.finalize().into_bytes().into())
        })
    }
}

/// The shortest site secret taken: 16 bytes (of a random one, 128 bits).
const MIN_SECRET: usize = 16;

/// The most a secret file may hold: a secret is a line of text.
pub(crate) const MAX_SECRET_FILE: u64 = 64 << 10;

/// A secret file's bytes, read once per run: a build loads the secret more than once, and a
/// file that is a pipe (`--secret-file <(pass show provsite)`) gives its bytes only once.
/// Bounded: `/dev/zero` is an error, not a run out of memory.
fn read_secret_file(p: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    static READ: std::sync::Mutex<Vec<(std::path::PathBuf, Vec<u8>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, bytes)) = read.iter().find(|(q, _)| q == p) {
        return Ok(bytes.clone());
    }
    let cannot = |e: std::io::Error| format!("cannot read the secret file {}: {e}", p.display());
    let mut bytes = Vec::new();
    let f = std::fs::File::open(p).map_err(cannot)?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        // A pipe gives its bytes once: a run started again would not have them.
        crate::alloc_budget::forbid_restart();
    }
    f.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "the secret file {} holds more than {} KiB: a secret is one line of text (is it the right file?)",
            p.display(),
            MAX_SECRET_FILE >> 10
        ));
    }
    read.push((p.to_path_buf(), bytes.clone()));
    Ok(bytes)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a derived password: 20 base-62 characters, about 119 bits.
pub const DERIVED_LEN: usize = 20;

/// HMAC-SHA256(secret, label), written in base 62 (letters and digits: safe in SIP and in the
/// phones' files), 20 characters.
pub fn derive(secret: &[u8], label: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(label.as_bytes());
    base62(&mac.finalize().into_bytes().into())
}

/// A 256-bit big-endian number as [`DERIVED_LEN`] base-62 characters, least significant first.
fn base62(n: &[u8; 32]) -> String {
    // Repeated division by 62^5 (under 2^32) of the number as 32-bit limbs: each division gives
    // five digits, which dividing by 62 five times would give one by one (and byte by byte).
    const CHUNK: u64 = 62u64.pow(5);
    let mut limbs = [0u32; 8];
    for (l, b) in limbs.iter_mut().zip(n.chunks_exact(4)) {
        *l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    }
    let mut out = Vec::with_capacity(DERIVED_LEN);
    while out.len() < DERIVED_LEN {
        let mut rem = 0u64;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / CHUNK) as u32;
            rem = cur % CHUNK;
        }
        for _ in 0..5 {
            if out.len() == DERIVED_LEN {
                break;
            }
            out.push(ALPHABET[(rem % 62) as usize]);
            rem /= 62;
        }
    }
    String::from_utf8(out).expect("alphabet is ASCII")
}

/// Why a password could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Env(String),
    SiteSecret,
    /// The variable is set, but its value cannot be a password (a line break, a space, ...).
    Unusable {
        name: String,
        why: String,
    },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Env(name) => write!(f, "the environment variable {name} is not set"),
            Missing::SiteSecret => write!(
                f,
                "the password is derived from the site secret, which is not set (PROVSITE_SECRET or --secret-file)"
            ),
            Missing::Unusable { name, why } => {
                write!(f, "the environment variable {name} cannot be a password: {why}")
            }
        }
    }
}

/// Whether the password can be had now, without deriving it (what [`resolve`] would refuse).
pub fn check_available(secret: &Secret, site: &SiteSecret) -> Result<(), Missing> {
    match secret {
        Secret::Literal(_) => Ok(()),
        Secret::Env(_) => resolve(secret, site).map(drop),
        Secret::Derived(_) if site.is_set() => Ok(()),
        Secret::Derived(_) => Err(Missing::SiteSecret),
    }
}

/// The password's value now: a literal as is, an environment variable, or derived.
pub fn resolve(secret: &Secret, site: &SiteSecret) -> Result<String, Missing> {
    match secret {
        Secret::Literal(s) => Ok(s.clone()),
        // A value from the environment is inventory text too: the same rules as a literal, so
        // it can never carry a line break into the phone's file or Asterisk's.
        Secret::Env(name) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => match crate::text_rules::check(Field::Password, &v) {
                Ok(()) => Ok(v),
                Err(why) => Err(Missing::Unusable {
                    name: name.clone(),
                    why,
                }),
            },
            _ => Err(Missing::Env(name.clone())),
        },
        Secret::Derived(label) => site.derive(label).ok_or(Missing::SiteSecret),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_passwords_are_sip_safe_stable_and_distinct() {
        let a = derive(b"site secret", "sip:1001");
        let b = derive(b"site secret", "sip:1002");
        let c = derive(b"other secret", "sip:1001");
        assert_eq!(a, derive(b"site secret", "sip:1001"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        for p in [&a, &b, &c] {
            assert_eq!(p.len(), DERIVED_LEN);
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
        }
    }

    #[test]
    fn derivation_matches_hmac_sha256_in_base62() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") is
        // f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 (RFC 4231 style vector);
        // its last base-62 digit is that number mod 62.
        let p = derive(b"key", "The quick brown fox jumps over the lazy dog");
        let hex = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let mut rem = 0u32;
        for i in (0..64).step_by(2) {
            let byte = u32::from_str_radix(&hex[i..i + 2], 16).unwrap();
            rem = ((rem << 8) | byte) % 62;
        }
        assert_eq!(p.as_bytes()[0], ALPHABET[rem as usize]);
        // All 20 digits, least significant first (worked out with Python's big integers).
        assert_eq!(p, "y09jY8Ved6eOIGpL3cU9");
    }

    #[test]
    fn base62_of_the_largest_and_smallest_numbers() {
        assert_eq!(base62(&[0xff; 32]), "1pX8wOr5j2ACunjH7GLL");
        assert_eq!(base62(&[0; 32]), "0".repeat(DERIVED_LEN));
        let mut one = [0u8; 32];
        one[31] = 61;
        assert_eq!(base62(&one), format!("z{}", "0".repeat(DERIVED_LEN - 1)));
    }

    #[test]
    fn base62_gives_what_dividing_by_62_digit_by_digit_gives() {
        fn digit_by_digit(mut n: Vec<u8>) -> String {
            let mut out = String::new();
            while out.len() < DERIVED_LEN {
                let mut rem = 0u32;
                for byte in n.iter_mut() {
                    let cur = (rem << 8) | u32::from(*byte);
                    *byte = (cur / 62) as u8;
                    rem = cur % 62;
                }
                out.push(ALPHABET[rem as usize] as char);
            }
            out
        }
        for i in 0..2000u32 {
            let n: [u8; 32] = <Sha256 as sha2::Digest>::digest(i.to_be_bytes()).into();
            assert_eq!(base62(&n), digit_by_digit(n.to_vec()), "{i}");
        }
    }

    #[test]
    fn resolves_each_kind() {
        let site = SiteSecret::from_bytes(b"0123456789abcdef", SecretSource::Env);
        assert_eq!(resolve(&Secret::Literal("x".into()), &site), Ok("x".into()));
        assert_eq!(
            resolve(&Secret::Derived("sip:1".into()), &site),
            Ok(derive(b"0123456789abcdef", "sip:1"))
        );
        assert_eq!(
            resolve(&Secret::Derived("sip:1".into()), &SiteSecret::none()),
            Err(Missing::SiteSecret)
        );
        assert_eq!(
            resolve(&Secret::Env("PROVSITE_TEST_UNSET_VARIABLE".into()), &site),
            Err(Missing::Env("PROVSITE_TEST_UNSET_VARIABLE".into()))
        );
        std::env::set_var("PROVSITE_TEST_NEWLINE_PASSWORD", "x\n[evil]");
        assert!(matches!(
            resolve(&Secret::Env("PROVSITE_TEST_NEWLINE_PASSWORD".into()), &site),
            Err(Missing::Unusable { .. })
        ));
    }
}
