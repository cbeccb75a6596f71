//! The phones' INI-style file format: `[section]` headers and `Key=Value` lines, CRLF, ISO-8859-1.
//!
//! Writing goes text → [`encode`] (checks Latin-1, turns line ends into CRLF); every written file is
//! then read back by [`check_config`] or [`check_entry_point`], so a file the phone would skip is
//! never published.

use std::collections::HashSet;

use crate::family::keys::{ConfigFile, FastHash, Recent, Section, Vocabulary};
use crate::words::{has_byte, skip_words, HIGH};

/// Encodes text as ISO-8859-1 with CRLF line ends. Fails on the first character Latin-1 lacks.
pub fn encode(text: &str) -> Result<Vec<u8>, char> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    let mut prev_cr = false;
    for c in text.chars() {
        if c == '\n' && !prev_cr {
            out.push(b'\r');
        }
        prev_cr = c == '\r';
        let code = c as u32;
        if code > 0xFF {
            return Err(c);
        }
        out.push(code as u8);
    }
    Ok(out)
}

/// Decodes ISO-8859-1 bytes (every byte is a character).
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Reads a vendor file leniently (CRLF or LF, blank lines and `#`/`;` comments skipped).
pub fn parse_lenient(bytes: &[u8]) -> Result<ConfigFile, String> {
    let text = decode(bytes);
    let mut file = ConfigFile::default();
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            file.sections.push(Section {
                name: name.trim().to_string(),
                entries: Vec::new(),
            });
        } else if let Some((k, v)) = line.split_once('=') {
            let Some(sec) = file.sections.last_mut() else {
                return Err(format!(
                    "line {}: `{line}` comes before any [section]",
                    n + 1
                ));
            };
            sec.entries
                .push((k.trim().to_string(), v.trim().to_string()));
        } else {
            return Err(format!(
                "line {}: `{line}` is neither [section] nor Key=Value",
                n + 1
            ));
        }
    }
    Ok(file)
}

/// What kind of configuration file is checked: the phone file must carry a valid config_sn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Common,
    Phone,
}

/// Reads a file as provsite writes it, strictly: CRLF on every line, `Key=Value` with no spaces
/// around `=`, known sections and keys, no key twice, and for a phone file a 12-digit config_sn.
/// Returns the parsed file or every problem found.
pub fn check_config(
    bytes: &[u8],
    vocab: &Vocabulary,
    kind: FileKind,
) -> Result<ConfigFile, Vec<String>> {
    check(bytes, vocab, kind, true)
}

/// [`check_config`] without keeping the parsed file: the check run on every phone file written.
///
/// A fleet's files share a few shapes (their sections and keys, in order; the values differ). What
/// the strict check says about the sections and keys (known, none twice, none before a section)
/// depends on the shape alone, so a shape is looked up in the vocabulary once per thread: a file
/// whose shape passed before is checked for what depends on its own bytes only (line ends, the
/// `=`, spaces, ASCII keys, the config_sn). Anything unusual takes the full check, which reports
/// it exactly.
pub fn validate_config(
    bytes: &[u8],
    vocab: &Vocabulary,
    kind: FileKind,
) -> Result<(), Vec<String>> {
    let Some((shape, config_sn)) = plain_shape(bytes) else {
        return check(bytes, vocab, kind, false).map(|_| ());
    };
    let sn_ok = || kind != FileKind::Phone || config_sn.is_some_and(is_config_sn);
    let key = (vocab as *const Vocabulary as usize, kind == FileKind::Phone);
    // The last shapes that passed are compared first (most recent first: a fleet's shapes come
    // back in turns), then all of them by hash.
    let recent = RECENT_SHAPES.with(|r| {
        r.borrow_mut()
            .find(|(k, s)| *k == key && *s == shape)
            .map(|_| ())
    });
    if recent.is_some() && sn_ok() {
        return Ok(());
    }
    let known = recent.is_some()
        || SHAPES.with(|m| m.borrow().get(&key).is_some_and(|set| set.contains(&shape)));
    if !(known && sn_ok()) {
        check(bytes, vocab, kind, false)?;
        SHAPES.with(|m| {
            let mut m = m.borrow_mut();
            let set = m.entry(key).or_default();
            // Bounded: a fleet has a few shapes; past the bound, start again.
            if set.len() >= MAX_SHAPES {
                set.clear();
            }
            set.insert(shape.clone());
        });
    }
    if recent.is_none() {
        RECENT_SHAPES.with(|r| r.borrow_mut().add((key, shape)));
    }
    Ok(())
}

const MAX_SHAPES: usize = 256;

/// A vocabulary (by address: they live as long as the program) and whether the file is a phone's.
type ShapeKind = (usize, bool);

type Shapes = std::collections::HashMap<ShapeKind, HashSet<Vec<u8>, FastHash>, FastHash>;

thread_local! {
    /// Shapes (see [`plain_shape`]) that passed the full check, per vocabulary and file kind.
    static SHAPES: std::cell::RefCell<Shapes> = Default::default();
    /// The last of them seen, most recent first.
    static RECENT_SHAPES: std::cell::RefCell<Recent<(ShapeKind, Vec<u8>)>> =
        const { std::cell::RefCell::new(Recent::new()) };
}

/// Whether every line of the file is a clean `[section]` or `Key=Value` line under a section,
/// ending with CRLF, with an ASCII key, no space around `=`, and no other CR or LF: the files
/// whose shape the strict check compares once per shape.
pub fn is_plain(bytes: &[u8]) -> bool {
    plain_shape(bytes).is_some()
}

/// A file's shape: each section header and each key, in order, one per line; and its config_sn's
/// value. None when a line is anything but a clean `[section]` or `Key=Value` line under a
/// section, ending with CRLF, with an ASCII key and no space around `=`: for those the full check
/// gives the messages.
///
/// One pass over the bytes, each looked at once: this runs over every byte of every file a build
/// writes, and its lines are short (a vector search per line cost more than it saved).
fn plain_shape(bytes: &[u8]) -> Option<(Vec<u8>, Option<&str>)> {
    let body = bytes.strip_suffix(b"\r\n")?;
    let n = body.len();
    let mut shape = Vec::with_capacity(bytes.len() / 2);
    let mut in_section = false;
    let mut in_sys = false;
    let mut config_sn = None;
    let mut pos = 0;
    // Each turn reads one line from `pos`: the last one ends where the body does.
    while pos <= n {
        // Where the line's text ends: at its CRLF, or at the body's end (where a lone CR may
        // stand, as the line ending cut in two). Any other CR or a bare LF: None.
        let line_end = |mut p: usize| -> Option<(usize, usize)> {
            p = skip_words(body, p, |w| has_byte(w, b'\r') | has_byte(w, b'\n'));
            while p < n {
                match body[p] {
                    b'\r' if p + 1 == n => return Some((p, n + 1)),
                    b'\r' if body[p + 1] == b'\n' => return Some((p, p + 2)),
                    b'\r' | b'\n' => return None,
                    _ => p += 1,
                }
            }
            Some((n, n + 1))
        };
        match body.get(pos) {
            // A blank line says nothing (the full check skips it too).
            None => break,
            Some(b'\r') => {
                let (_, next) = line_end(pos)?;
                pos = next;
                continue;
            }
            Some(b'[') => {
                let (end, next) = line_end(pos + 1)?;
                let line = &body[pos..end];
                let name = line.strip_suffix(b"]")?.get(1..)?;
                if !name.is_ascii() {
                    return None;
                }
                in_section = true;
                in_sys = name == b"sys";
                shape.push(b'[');
                shape.extend_from_slice(name);
                shape.push(b'\n');
                pos = next;
            }
            Some(_) => {
                if !in_section {
                    return None;
                }
                // The key: ASCII up to the first `=`, no space or other white space at its ends.
                let mut eq = skip_words(body, pos, |w| {
                    has_byte(w, b'=') | has_byte(w, b'\r') | has_byte(w, b'\n') | (w & HIGH)
                });
                while eq < n && body[eq] != b'=' {
                    if body[eq] >= 0x80 || body[eq] == b'\r' || body[eq] == b'\n' {
                        return None;
                    }
                    eq += 1;
                }
                if eq == n {
                    return None;
                }
                let key = &body[pos..eq];
                if key.is_empty()
                    || key[0].is_ascii_whitespace()
                    || key[key.len() - 1].is_ascii_whitespace()
                {
                    return None;
                }
                let (end, next) = line_end(eq + 1)?;
                let value = &body[eq + 1..end];
                if value.first() == Some(&b' ') {
                    return None;
                }
                if in_sys && key == b"config_sn" {
                    config_sn = std::str::from_utf8(value).ok();
                }
                shape.extend_from_slice(key);
                shape.push(b'\n');
                pos = next;
            }
        }
    }
    Some((shape, config_sn))
}

fn check(
    bytes: &[u8],
    vocab: &Vocabulary,
    kind: FileKind,
    build: bool,
) -> Result<ConfigFile, Vec<String>> {
    let mut problems = Vec::new();
    let mut config_sn: Option<String> = None;
    let file = strict_lines(
        bytes,
        &mut problems,
        |section, key, value, n, problems| {
            if key.is_empty() {
                if !vocab.has_section(section) {
                    problems.push(format!("line {n}: unknown section [{section}]"));
                }
            } else if vocab.has_section(section) && !vocab.has_key(section, key) {
                problems.push(format!("line {n}: unknown key {section}.{key}"));
            }
            if section == "sys" && key == "config_sn" {
                config_sn = Some(value.to_string());
            }
        },
        build,
    );
    if kind == FileKind::Phone {
        match config_sn {
            Some(sn) if is_config_sn(&sn) => {}
            Some(sn) => problems.push(format!("config_sn `{sn}` is not 12 digits")),
            None => problems.push("no [sys] config_sn".to_string()),
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(problems)
    }
}

pub fn is_config_sn(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Keys an entry point may hold, per section.
const ENTRY_KEYS: &[(&str, &[&str])] = &[
    ("application", &["fwurl", "dspurl", "booturl"]),
    ("config", &["telcfg", "common_config", "config"]),
];

/// Checks an entry-point `.inf` file: its sections and keys, absolute http(s) URLs, `config` a folder.
pub fn check_entry_point(bytes: &[u8]) -> Result<ConfigFile, Vec<String>> {
    let mut problems = Vec::new();
    let file = strict_lines(
        bytes,
        &mut problems,
        |section, key, _, n, problems| {
            let known = ENTRY_KEYS
                .iter()
                .any(|(s, keys)| *s == section && (key.is_empty() || keys.contains(&key)));
            if !known {
                problems.push(format!("line {n}: unknown key {section}.{key}"));
            }
        },
        true,
    );
    for (section, key) in [
        ("application", "fwurl"),
        ("application", "dspurl"),
        ("application", "booturl"),
        ("config", "common_config"),
        ("config", "config"),
    ] {
        if file.get(section, key).is_none() {
            problems.push(format!("missing {section}.{key}"));
        }
    }
    for s in &file.sections {
        for (k, v) in &s.entries {
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                problems.push(format!(
                    "{}.{k}: `{v}` is not an absolute http(s) URL",
                    s.name
                ));
            }
        }
    }
    if let Some(dir) = file.get("config", "config") {
        if !dir.ends_with('/') {
            problems.push(format!("config.config: `{dir}` must end with /"));
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(problems)
    }
}

/// Bytes as `&str` when they are ASCII (Latin-1 and UTF-8 agree there).
fn ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

fn strict_lines(
    bytes: &[u8],
    problems: &mut Vec<String>,
    mut check_key: impl FnMut(&str, &str, &str, usize, &mut Vec<String>),
    build: bool,
) -> ConfigFile {
    let mut file = ConfigFile::default();
    if !bytes.is_empty() && !bytes.ends_with(b"\r\n") {
        problems.push("the last line does not end with CRLF".to_string());
    }
    // Lines are split on the bytes; a line is decoded from Latin-1 only when it is not ASCII, so
    // a file with a few accented names costs a few small copies, not a copy of the whole file.
    let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let mut sections: Vec<&str> = Vec::new();
    // About one key per 24 bytes: sized once instead of grown by rehashing.
    let mut seen: HashSet<(&str, &str), FastHash> =
        HashSet::with_capacity_and_hasher(bytes.len() / 24 + 8, FastHash::default());
    let mut segments = body
        .split(|&b| b == b'\n')
        .filter(|_| !body.is_empty())
        .peekable();
    let mut n = 0;
    while let Some(raw) = segments.next() {
        n += 1;
        let last = segments.peek().is_none();
        let line = match raw.strip_suffix(b"\r") {
            Some(l) => l,
            // The last line's CRLF was taken off with the body's end.
            None if last => raw,
            None => {
                problems.push(format!("line {n}: a bare LF (lines must end with CRLF)"));
                raw
            }
        };
        if line.contains(&b'\r') {
            problems.push(format!("line {n}: a bare CR (lines must end with CRLF)"));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let shown = || decode(line);
        if let Some(name) = line.strip_prefix(b"[").and_then(|l| l.strip_suffix(b"]")) {
            let Some(name) = ascii(name) else {
                problems.push(format!("line {n}: section `{}` is not ASCII", shown()));
                continue;
            };
            if sections.contains(&name) {
                problems.push(format!("line {n}: section [{name}] appears twice"));
            }
            sections.push(name);
            // An empty key stands for the section header itself.
            check_key(name, "", "", n, problems);
            if build {
                file.sections.push(Section {
                    name: name.to_string(),
                    entries: Vec::new(),
                });
            }
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            problems.push(format!(
                "line {n}: `{}` is neither [section] nor Key=Value",
                shown()
            ));
            continue;
        };
        let Some(key) = ascii(&line[..eq]) else {
            problems.push(format!("line {n}: `{}`: the key is not ASCII", shown()));
            continue;
        };
        let value_bytes = &line[eq + 1..];
        let value: std::borrow::Cow<str> = match ascii(value_bytes) {
            Some(v) => v.into(),
            None => decode(value_bytes).into(),
        };
        if key.is_empty() || key != key.trim() || value.starts_with(' ') {
            problems.push(format!(
                "line {n}: `{}`: no spaces around = and a key is needed",
                shown()
            ));
        }
        let Some(&section) = sections.last() else {
            problems.push(format!(
                "line {n}: `{}` comes before any [section]",
                shown()
            ));
            continue;
        };
        if !seen.insert((section, key)) {
            problems.push(format!("line {n}: key {section}.{key} appears twice"));
        }
        check_key(section, key, &value, n, problems);
        if let Some(sec) = file.sections.last_mut().filter(|_| build) {
            sec.entries.push((key.to_string(), value.into_owned()));
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::ModelId;

    /// The shape as first found, the body split into lines: the reference the one-pass reading is
    /// compared with.
    fn plain_shape_by_split(bytes: &[u8]) -> Option<(Vec<u8>, Option<&str>)> {
        let body = bytes.strip_suffix(b"\r\n")?;
        let mut shape = Vec::with_capacity(bytes.len() / 2);
        let mut section: Option<&[u8]> = None;
        let mut config_sn = None;
        for raw in body.split(|&b| b == b'\n') {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            // The last line's CRLF was taken off with the body's end; any other line without its CR
            // (a bare LF) or with a CR inside goes to the full check.
            if line.len() == raw.len() && raw.as_ptr_range().end != body.as_ptr_range().end {
                return None;
            }
            if line.contains(&b'\r') {
                return None;
            }
            // Blank lines say nothing (the full check skips them too).
            if line.is_empty() {
                continue;
            }
            if line[0] == b'[' {
                let name = line.strip_suffix(b"]")?.get(1..)?;
                if !name.is_ascii() {
                    return None;
                }
                section = Some(name);
                shape.push(b'[');
                shape.extend_from_slice(name);
                shape.push(b'\n');
                continue;
            }
            section?;
            let eq = line.iter().position(|&b| b == b'=')?;
            let (key, value) = (&line[..eq], &line[eq + 1..]);
            if key.is_empty()
                || !key.is_ascii()
                || key[0] == b' '
                || key[key.len() - 1] == b' '
                || key.first().is_some_and(u8::is_ascii_whitespace)
                || key.last().is_some_and(u8::is_ascii_whitespace)
                || value.first() == Some(&b' ')
            {
                return None;
            }
            if section == Some(b"sys".as_slice()) && key == b"config_sn" {
                config_sn = std::str::from_utf8(value).ok();
            }
            shape.extend_from_slice(key);
            shape.push(b'\n');
        }
        Some((shape, config_sn))
    }

    #[test]
    fn the_shape_agrees_with_the_split_reading_on_any_bytes() {
        // Every byte the reading cares about, pieces of real lines, and a Latin-1 one.
        // Long ones too, so that whole 8-byte words are skipped and stopped in at every byte.
        const PIECES: [&[u8]; 20] = [
            b"[",
            b"]",
            b"=",
            b"\r",
            b"\n",
            b"\r\n",
            b" ",
            b"\t",
            b"a",
            b"1",
            b"\xe9",
            b"sys",
            b"config_sn",
            b"[sys]\r\n",
            b"K=v\r\n",
            b"\x0c",
            b"FeatureKeyExt01",
            b"0123456789abcdef",
            b"\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9",
            b"Key=a value of 23 bytes\r\n",
        ];
        let mut next = crate::test_rng::below();
        let mut some = 0;
        for _ in 0..300_000 {
            let mut bytes: Vec<u8> = Vec::new();
            for _ in 0..next(24) {
                bytes.extend_from_slice(PIECES[next(PIECES.len())]);
            }
            // Most files a build checks end with CRLF.
            if next(4) > 0 {
                bytes.extend_from_slice(b"\r\n");
            }
            let got = plain_shape(&bytes);
            some += usize::from(got.is_some());
            assert_eq!(
                got,
                plain_shape_by_split(&bytes),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        // Both answers were tried often: a clean shape, and none.
        assert!(some > 10_000, "only {some} texts had a shape");
    }

    #[test]
    fn the_shape_is_the_shape_by_split() {
        let cases: &[&[u8]] = &[
            b"[sys]\r\nconfig_sn=202611260001\r\n[ipp]\r\nA=1\r\nB=\r\n",
            b"[sys]\r\nconfig_sn=202611260001\r\n\r\n[ipp]\r\nA=1\r\n",
            b"[sys]\r\nA=1\nB=2\r\n",
            b"[sys]\r\nA=1\r\r\n",
            b"[sys]\r\nA=1\rx\r\n",
            b"[sys]\r\nA=1\r\n\r\n",
            b"[sys]\r\nA=1\n\r\n",
            b"A=1\r\n",
            b"[sys]\r\nA 1\r\n",
            b"[sys]\r\n A=1\r\n",
            b"[sys]\r\nA =1\r\n",
            b"[sys]\r\nA= 1\r\n",
            b"[sys]\r\n=1\r\n",
            b"[sys]\r\nA=1=2\r\n",
            "[s\u{e9}]\r\nA=1\r\n".as_bytes(),
            "[sys]\r\n\u{e9}=1\r\n".as_bytes(),
            b"[sys\r\nA=1\r\n",
            b"[sys]\r\nA=1",
            b"\r\n",
            b"",
            b"[]\r\n",
            b"[sys]\r\nA=\t1\r\n",
            b"[sys]\r\n\tA=1\r\n",
        ];
        for c in cases {
            assert_eq!(
                plain_shape(c),
                plain_shape_by_split(c),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
        let mut file = b"[sys]\r\nconfig_sn=202611260001\r\n".to_vec();
        for i in 0..300 {
            if i % 50 == 0 {
                file.extend_from_slice(format!("[sec{i}]\r\n").as_bytes());
            }
            file.extend_from_slice(format!("Key{i}=value {i}\r\n").as_bytes());
        }
        assert!(plain_shape(&file).is_some());
        assert_eq!(plain_shape(&file), plain_shape_by_split(&file));
    }

    #[test]
    fn encodes_latin1_with_crlf() {
        assert_eq!(
            encode("[sip]\nDisplayName1=Hélène\n").unwrap(),
            b"[sip]\r\nDisplayName1=H\xe9l\xe8ne\r\n"
        );
        assert_eq!(encode("a\r\nb").unwrap(), b"a\r\nb");
        assert_eq!(encode("Zoë ☎"), Err('☎'));
        assert!(crate::text_rules::is_latin1("Dupont Hélène"));
        assert!(!crate::text_rules::is_latin1("Łukasz"));
        assert_eq!(decode(b"H\xe9"), "Hé");
    }

    #[test]
    fn checks_phone_files() {
        let vocab = ModelId::ST2030.vocabulary();
        let good = encode("[sip]\nTEL1Number=1001\n[sys]\nconfig_sn=202611260001\n").unwrap();
        let file = check_config(&good, vocab, FileKind::Phone).unwrap();
        assert_eq!(file.get("sip", "TEL1Number"), Some("1001"));

        let cases: &[(&[u8], &str)] = &[
            (
                b"[sip]\nTEL1Number=1\n[sys]\nconfig_sn=202611260001\n",
                "CRLF",
            ),
            (b"[sys]\r\nconfig_sn=2026112600011\r\n", "not 12 digits"),
            (b"[sys]\r\nconfig_sn=20261126000.\r\n", "not 12 digits"),
            (b"[sys]\r\nRinger=1\r\n", "no [sys] config_sn"),
            (
                b"[sys]\r\nconfig_sn=202611260001\r\nTEL1Numbr=1\r\n",
                "unknown key sys.TEL1Numbr",
            ),
            (
                b"[sip]\r\nTEL1Number = 1\r\n[sys]\r\nconfig_sn=202611260001\r\n",
                "no spaces",
            ),
            (
                b"[bogus]\r\n[sys]\r\nconfig_sn=202611260001\r\n",
                "unknown section [bogus]",
            ),
            (
                b"TEL1Number=1\r\n[sys]\r\nconfig_sn=202611260001\r\n",
                "before any [section]",
            ),
            (
                b"[sys]\r\nconfig_sn=202611260001\r\nconfig_sn=202611260001\r\n",
                "appears twice",
            ),
            (
                b"[sys]\r\nconfig_sn=202611260001\r\nnonsense\r\n",
                "neither",
            ),
            (
                b"[sys]\nconfig_sn=202611260001\r\nTEL1Number=1\r\n",
                "line 1: a bare LF",
            ),
            (
                b"[sys]\r\nconfig_sn=202611260001\rTEL1Number=1\r\n",
                "line 2: a bare CR",
            ),
            (
                b"[sys]\r\nconfig_sn=202611260001\r\nD\xe9cor=1\r\n",
                "the key is not ASCII",
            ),
        ];
        // Latin-1 values are read as Latin-1.
        let accented = b"[sip]\r\nDisplayName1=H\xe9l\xe8ne\r\n[sys]\r\nconfig_sn=202611260001\r\n";
        let file = check_config(accented, vocab, FileKind::Phone).unwrap();
        assert_eq!(file.get("sip", "DisplayName1"), Some("Hélène"));
        for (bytes, want) in cases {
            // The fast check agrees, with every shape above already seen.
            validate_config(&good, vocab, FileKind::Phone).unwrap();
            assert!(validate_config(bytes, vocab, FileKind::Phone).is_err());
            let problems = check_config(bytes, vocab, FileKind::Phone).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{:?}: {problems:?} lacks {want}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_shape_that_passed_for_one_model_is_checked_again_for_another() {
        // `Auto_pickup_Method` is a key of the ST2030's firmware, not of the ST2022's.
        let file = b"[ipp]\r\nAuto_pickup_Method=0\r\n[sys]\r\nconfig_sn=202611260001\r\n";
        let (st2030, st2022) = (ModelId::ST2030.vocabulary(), ModelId::ST2022.vocabulary());
        for _ in 0..2 {
            assert!(validate_config(file, st2030, FileKind::Phone).is_ok());
            let problems = validate_config(file, st2022, FileKind::Phone).unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("unknown key ipp.Auto_pickup_Method")),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn a_known_shape_still_has_its_own_bytes_checked() {
        let vocab = ModelId::ST2030.vocabulary();
        let good = b"[sip]\r\nTEL1Number=1001\r\n\r\n[sys]\r\nconfig_sn=202611260001\r\n";
        // Twice: the second time the shape is known.
        for _ in 0..2 {
            validate_config(good, vocab, FileKind::Phone).unwrap();
        }
        let same_shape: &[&[u8]] = &[
            b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=2026112600011\r\n",
            b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=20261126000.\r\n",
            b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=\r\n",
            b"[sip]\r\nTEL1Number= 1001\r\n[sys]\r\nconfig_sn=202611260001\r\n",
            b"[sip]\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=202611260001\r\n",
            b"[sip]\r\nTEL1Number=10\r01\r\n[sys]\r\nconfig_sn=202611260001\r\n",
            b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=202611260001",
            b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=202611260001\n",
        ];
        for bytes in same_shape {
            assert!(
                validate_config(bytes, vocab, FileKind::Phone).is_err(),
                "{:?} passed",
                String::from_utf8_lossy(bytes)
            );
            assert!(check_config(bytes, vocab, FileKind::Phone).is_err());
        }
        // The same shape in a common file needs no valid config_sn: the kinds are kept apart.
        let common = b"[sip]\r\nTEL1Number=1001\r\n[sys]\r\nconfig_sn=x\r\n";
        assert!(validate_config(common, vocab, FileKind::Common).is_ok());
        assert!(validate_config(common, vocab, FileKind::Phone).is_err());
    }

    #[test]
    fn checks_entry_points() {
        let good = encode("[application]\nfwurl=http://h/f/a.zz\ndspurl=http://h/f/d.zz\nbooturl=http://h/f/b.zz\n\n[config]\ncommon_config=http://h/r/c.txt\nconfig=http://h/r/config/\n").unwrap();
        assert!(check_entry_point(&good).is_ok());
        let bad =
            encode("[application]\nfwurl=/f/a.zz\n[config]\nconfig=http://h/r/config\n").unwrap();
        let problems = check_entry_point(&bad).unwrap_err();
        let all = problems.join("\n");
        for want in [
            "not an absolute",
            "must end with /",
            "missing application.dspurl",
            "missing config.common_config",
        ] {
            assert!(all.contains(want), "{all} lacks {want}");
        }
    }

    #[test]
    fn merges_settings_keeping_vendor_order() {
        let mut f = parse_lenient(b"[ipp]\r\nA=1\r\nB=2\r\n[sys]\r\nC=3\r\n").unwrap();
        f.set("ipp", "A", "9");
        f.set("ipp", "Z", "new");
        f.set("ntp", "NtpIP", "x");
        assert_eq!(
            f.to_text(),
            "[ipp]\nA=9\nB=2\nZ=new\n[sys]\nC=3\n[ntp]\nNtpIP=x\n"
        );
        assert!(parse_lenient(b"A=1\n").is_err());
    }
}
