//! A Technicolor file's entries in the vendor's key order, and the direct writer: the order of a
//! sequence of (section, key) names, and the bytes around its values, are worked out once per
//! sequence and thread (a [`Form`]); a phone file written through a form whose first file passed
//! the strict check in full is proven (see [`crate::family::PhoneBody`]).

use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;

use serde::Serialize;

use super::format::{self, FileKind};
use crate::family::keys::{FastHash, Recent};
use crate::family::ModelId;
use crate::words;

#[derive(Serialize)]
pub(super) struct SectionOut<'a> {
    name: &'a str,
    entries: Vec<(&'a str, &'a str)>,
}

/// One `Key=Value` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub value: Cow<'a, str>,
}

pub(super) fn entry<'a>(
    section: &'a str,
    key: &'a str,
    value: impl Into<Cow<'a, str>>,
) -> Entry<'a> {
    Entry {
        section,
        key,
        value: value.into(),
    }
}

/// Orders entries the way the model's default file does and keeps, of a key given twice, the
/// last one given. Unknown names sort last; (section, key) breaks ties, so the order is total.
///
/// The order depends only on the model and the entries' (section, key) sequence, which a fleet's
/// phones share a few of: it is worked out once per sequence and thread and then applied (with
/// the rest of the sequence's [`Form`]). The last few sequences seen are compared with the
/// entries in place (no key is built or hashed for the phones that follow one of them); the
/// others are looked up by their whole sequence.
pub(super) fn in_vendor_order(model: ModelId, entries: Vec<Entry<'_>>) -> Ordered<'_> {
    let recent = RECENT.with(|r| {
        r.borrow_mut()
            .find(|s| s.model == model && s.is(&entries))
            .map(|s| s.form.clone())
    });
    let form = match recent {
        Some(form) => form,
        None => {
            let key = (model, Shape::names(&entries));
            let known = ORDERS.with(|m| m.borrow().get(&key).cloned());
            let form = known.unwrap_or_else(|| {
                let form = Rc::new(Form::new(model, &entries));
                ORDERS.with(|m| {
                    let mut m = m.borrow_mut();
                    // Bounded: a fleet has a few shapes; past the bound, start again.
                    if m.len() >= 256 {
                        m.clear();
                    }
                    m.insert(key.clone(), form.clone());
                });
                form
            });
            RECENT.with(|r| {
                r.borrow_mut().add(Shape {
                    model,
                    names: key.1,
                    form: form.clone(),
                })
            });
            form
        }
    };
    Ordered { entries, form }
}

/// Entries and the order to read them in: the vendor's, a key given twice by its last entry
/// only. Read through the order where they are, not moved into a list of their own.
pub(super) struct Ordered<'a> {
    entries: Vec<Entry<'a>>,
    form: Rc<Form>,
}

impl<'a> Ordered<'a> {
    /// The phone file the default template writes, and whether it is proven (see
    /// [`crate::family::PhoneBody`]): written through the form's fixed bytes, proven when its
    /// values are clean and the form's first such file passed the strict check in full.
    pub(super) fn write(&self, model: ModelId) -> Result<(Vec<u8>, bool), char> {
        let Some(fixed) = &self.form.fixed else {
            return Ok((write_default(self.iter())?, false));
        };
        let (bytes, clean) = write_fixed(&self.entries, &self.form.order, fixed)?;
        let proven = clean && self.form.proven(model, &bytes);
        Ok((bytes, proven))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry<'a>> + Clone + '_ {
        self.form
            .order
            .iter()
            .filter_map(|&i| self.entries.get(i as usize))
    }
}

/// What the files of one sequence of (section, key) names have in common: the vendor order of
/// their entries, and the bytes the direct writer writes around their values.
struct Form {
    /// Indices of the entries in vendor order, a key given twice by its last entry only.
    order: Box<[u32]>,
    /// None when a name is not ASCII (the strict check refuses such a file anyway).
    fixed: Option<Fixed>,
    /// Whether a file written with `fixed` passed the strict check in full.
    proof: Cell<Proof>,
}

/// What the strict check said of the first file of a [`Form`] whose values were clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    Untried,
    Passed,
    Failed,
}

/// The bytes around the values, in vendor order: before each value, the end of the line before
/// (CRLF), the section's header where the section changes, and the key with its `=`; after the
/// last, its CRLF. All ASCII.
struct Fixed {
    bytes: Vec<u8>,
    /// Where the bytes before each value end, in `bytes`.
    ends: Box<[u32]>,
}

impl Form {
    fn new(model: ModelId, entries: &[Entry<'_>]) -> Form {
        let order: Box<[u32]> = vendor_order(model, entries).into();
        let mut bytes = Vec::with_capacity(order.len() * 24);
        let mut ends = Vec::with_capacity(order.len());
        let mut current: Option<&str> = None;
        for e in order.iter().filter_map(|&i| entries.get(i as usize)) {
            if current.is_some() {
                bytes.extend_from_slice(b"\r\n");
            }
            if !same_section(current, e.section) {
                bytes.push(b'[');
                bytes.extend_from_slice(e.section.as_bytes());
                bytes.extend_from_slice(b"]\r\n");
                current = Some(e.section);
            }
            bytes.extend_from_slice(e.key.as_bytes());
            bytes.push(b'=');
            ends.push(bytes.len() as u32);
        }
        if current.is_some() {
            bytes.extend_from_slice(b"\r\n");
        }
        let fixed = (bytes.is_ascii() && ends.len() == order.len()).then(|| Fixed {
            bytes,
            ends: ends.into(),
        });
        Form {
            order,
            fixed,
            proof: Cell::new(Proof::Untried),
        }
    }

    /// Whether a file of this form whose values are clean passes the strict check once its
    /// config_sn is in: checked in full on the first such file (`bytes`, written with the
    /// stand-in), then known. Every line of such a file starts in the fixed bytes and ends at
    /// the CRLF that follows its value, so its sections and keys are the first file's, and only
    /// its config_sn differs from what the check read there.
    fn proven(&self, model: ModelId, bytes: &[u8]) -> bool {
        match self.proof.get() {
            Proof::Passed => true,
            Proof::Failed => false,
            Proof::Untried => {
                let filled = crate::render::fill_config_sn(bytes.to_vec(), "000000000000");
                let passed = format::is_plain(&filled)
                    && format::validate_config(&filled, model.vocabulary(), FileKind::Phone)
                        .is_ok();
                self.proof
                    .set(if passed { Proof::Passed } else { Proof::Failed });
                passed
            }
        }
    }
}

/// A sequence of (section, key) names for a model, each name after its length (so no two
/// sequences read the same), a section the same as the entry before's as [`SAME_SECTION`] alone
/// (entries come in runs of a section), and its [`Form`].
struct Shape {
    model: ModelId,
    names: Vec<u8>,
    form: Rc<Form>,
}

/// Stands for a section's length where the entry before has the same section.
const SAME_SECTION: u32 = u32::MAX;

/// Whether `section` is the section of the entry before (`before`): the same text in memory is
/// the same section without comparing bytes.
fn same_section(before: Option<&str>, section: &str) -> bool {
    before.is_some_and(|b| std::ptr::eq(b, section) || same(b.as_bytes(), section.as_bytes()))
}

impl Shape {
    /// The names of `entries`, each after its length.
    fn names(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut names = Vec::with_capacity(entries.len() * 24);
        let mut before = None;
        for e in entries {
            if same_section(before, e.section) {
                names.extend_from_slice(&SAME_SECTION.to_le_bytes());
            } else {
                names.extend_from_slice(&(e.section.len() as u32).to_le_bytes());
                names.extend_from_slice(e.section.as_bytes());
            }
            before = Some(e.section);
            names.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
            names.extend_from_slice(e.key.as_bytes());
        }
        names
    }

    /// Whether `entries` have this sequence of names, compared where they are.
    fn is(&self, entries: &[Entry<'_>]) -> bool {
        let mut rest = self.names.as_slice();
        let mut before = None;
        for e in entries {
            let Some((len, after)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let len = u32::from_le_bytes(*len);
            if same_section(before, e.section) {
                if len != SAME_SECTION {
                    return false;
                }
                rest = after;
            } else {
                let n = len as usize;
                if n != e.section.len()
                    || !after
                        .get(..n)
                        .is_some_and(|a| same(a, e.section.as_bytes()))
                {
                    return false;
                }
                rest = &after[n..];
            }
            before = Some(e.section);
            let Some((len, after)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let n = u32::from_le_bytes(*len) as usize;
            if n != e.key.len() || !after.get(..n).is_some_and(|a| same(a, e.key.as_bytes())) {
                return false;
            }
            rest = &after[n..];
        }
        rest.is_empty()
    }
}

/// Whether two byte strings of the same length are equal: compared a word at a time, inline (the
/// names are short, and a call to `memcmp` per name cost more than the comparison).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return false;
        }
        (a, b) = (ra, rb);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

type Orders = std::collections::HashMap<(ModelId, Vec<u8>), Rc<Form>, FastHash>;

thread_local! {
    /// The form of each (model, entry shape) seen on this thread.
    static ORDERS: std::cell::RefCell<Orders> = Default::default();
    /// The last shapes seen on this thread, most recent first.
    static RECENT: std::cell::RefCell<Recent<Shape>> = const { std::cell::RefCell::new(Recent::new()) };
}

/// The indices of `entries` in vendor order, a key given twice keeping the last one given.
fn vendor_order(model: ModelId, entries: &[Entry<'_>]) -> Vec<u32> {
    let vocab = model.vocabulary();
    // Entries come in runs of one section: its lookup is made once a run.
    let mut current: Option<(&str, usize, Option<&std::collections::HashMap<_, usize, _>>)> = None;
    let mut ranked: Vec<(usize, usize, usize, &Entry)> = Vec::with_capacity(entries.len());
    for (seq, e) in entries.iter().enumerate() {
        let (section_rank, keys) = match current {
            Some((name, rank, keys)) if name == e.section => (rank, keys),
            _ => {
                let (rank, keys) = vocab.section_keys(e.section);
                current = Some((e.section, rank, keys));
                (rank, keys)
            }
        };
        let key_rank = keys
            .and_then(|k| k.get(e.key))
            .copied()
            .unwrap_or(usize::MAX);
        ranked.push((section_rank, key_rank, seq, e));
    }
    ranked.sort_unstable_by(|a, b| {
        (a.0, a.1, a.3.section, a.3.key, std::cmp::Reverse(a.2)).cmp(&(
            b.0,
            b.1,
            b.3.section,
            b.3.key,
            std::cmp::Reverse(b.2),
        ))
    });
    ranked
        .dedup_by(|later, first| later.3.section == first.3.section && later.3.key == first.3.key);
    ranked
        .into_iter()
        .map(|(_, _, seq, _)| seq as u32)
        .collect()
}

/// Groups ordered entries by section, for the templates.
pub(super) fn sections<'b, 'a: 'b>(
    entries: impl Iterator<Item = &'b Entry<'a>>,
) -> Vec<SectionOut<'b>> {
    let mut out: Vec<SectionOut> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some(sec) if sec.name == e.section => sec.entries.push((e.key, &e.value)),
            _ => out.push(SectionOut {
                name: e.section,
                entries: vec![(e.key, &e.value)],
            }),
        }
    }
    out
}

/// What the default `phone.txt` / `common.txt` templates render, written directly: ISO-8859-1,
/// CRLF. A test holds it equal to the template's output.
fn write_default<'b, 'a: 'b>(
    entries: impl Iterator<Item = &'b Entry<'a>> + Clone,
) -> Result<Vec<u8>, char> {
    // Room for every `Key=Value` line with its CRLF, and for a dozen `[section]` headers.
    let size = entries
        .clone()
        .map(|e| e.key.len() + e.value.len() + 3)
        .sum::<usize>()
        + 16 * 12;
    // Written as UTF-8 first, then made ISO-8859-1 in one pass: most of a file is ASCII, which
    // is the same in both.
    let mut out = String::with_capacity(size);
    let mut current: Option<&str> = None;
    for e in entries {
        if !same_section(current, e.section) {
            out.push('[');
            out.push_str(e.section);
            out.push_str("]\r\n");
            current = Some(e.section);
        }
        out.push_str(e.key);
        out.push('=');
        out.push_str(&e.value);
        out.push_str("\r\n");
    }
    latin1(out)
}

/// `text` in ISO-8859-1, or the first character it cannot hold. ASCII runs are found a word at a
/// time and copied as they are; only the characters between them are decoded.
fn latin1(text: String) -> Result<Vec<u8>, char> {
    let first = ascii_prefix(text.as_bytes());
    if first == text.len() {
        return Ok(text.into_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    out.extend_from_slice(&text.as_bytes()[..first]);
    // A char boundary: every byte before it is ASCII.
    let mut rest = &text[first..];
    loop {
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            return Ok(out);
        };
        let code = c as u32;
        if code > 0xFF {
            return Err(c);
        }
        out.push(code as u8);
        rest = chars.as_str();
        let ascii = ascii_prefix(rest.as_bytes());
        out.extend_from_slice(&rest.as_bytes()[..ascii]);
        rest = &rest[ascii..];
    }
}

/// What [`write_default`] writes, through a form's fixed bytes: only the values are looked at.
/// Also whether every value is clean: no CR or LF, not starting with a space (the strict check's
/// rules for a value, so that each line ends where the form's do).
fn write_fixed(
    entries: &[Entry<'_>],
    order: &[u32],
    fixed: &Fixed,
) -> Result<(Vec<u8>, bool), char> {
    let values = entries.iter().map(|e| e.value.len()).sum::<usize>();
    let mut out = Vec::with_capacity(fixed.bytes.len() + values);
    let mut clean = true;
    let mut start = 0;
    for (&i, &end) in order.iter().zip(&fixed.ends) {
        let end = end as usize;
        out.extend_from_slice(&fixed.bytes[start..end]);
        start = end;
        // The order was worked out for entries of this very sequence of names.
        clean &= push_latin1(&mut out, &entries[i as usize].value)?;
    }
    out.extend_from_slice(&fixed.bytes[start..]);
    Ok((out, clean))
}

/// Appends `value` in ISO-8859-1 (or gives the first character it cannot hold), and says whether
/// it is clean (see [`write_fixed`]).
fn push_latin1(out: &mut Vec<u8>, value: &str) -> Result<bool, char> {
    let b = value.as_bytes();
    let leading_space = b.first() == Some(&b' ');
    // Most values are printable ASCII, found a word at a time: copied as they are.
    let p = words::skip_words(b, 0, |w| words::has_below(w, b' ') | (w & words::HIGH));
    if b[p..].iter().all(|&c| (b' '..0x80).contains(&c)) {
        out.extend_from_slice(b);
        return Ok(!leading_space);
    }
    let breaks = b.iter().any(|&c| c == b'\r' || c == b'\n');
    if !b.is_ascii() {
        for c in value.chars() {
            let code = c as u32;
            if code > 0xFF {
                return Err(c);
            }
            out.push(code as u8);
        }
    } else {
        out.extend_from_slice(b);
    }
    Ok(!breaks && !leading_space)
}

/// How many bytes `b` starts with that are ASCII: whole words skipped while no high bit is set.
fn ascii_prefix(b: &[u8]) -> usize {
    let p = words::skip_words(b, 0, |w| w & words::HIGH);
    p + b[p..].iter().take_while(|c| c.is_ascii()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Templates, CONFIG_SN_SENTINEL};
    use minijinja::context;
    use std::collections::BTreeMap;

    fn sample() -> Vec<Entry<'static>> {
        let mut e = Vec::new();
        for (sec, k, v) in [
            ("sys", "config_sn", CONFIG_SN_SENTINEL),
            ("ntp", "NtpZoneNum", "22"),
            ("sip", "TEL1Number", "1001"),
            ("sip", "DisplayName1", "Hélène"),
            ("ipp", "LanguageType", "0"),
            ("sys", "FeatureKeyExt01", "S/<sip:1002>"),
            ("ipp", "LanguageType", "1"),
        ] {
            e.push(entry(sec, k, v));
        }
        in_vendor_order(ModelId::ST2030, e)
            .iter()
            .cloned()
            .collect()
    }

    #[test]
    fn vendor_order_puts_sections_and_keys_as_the_vendor_file_does() {
        let out = sample();
        let grouped = sections(out.iter());
        let names: Vec<&str> = grouped.iter().map(|s| s.name).collect();
        assert_eq!(names, ["ipp", "sip", "sys", "ntp"]);
        assert_eq!(
            grouped[2].entries.last().unwrap().0,
            "config_sn",
            "config_sn closes [sys]"
        );
        assert_eq!(
            grouped[0].entries,
            [("LanguageType", "1")],
            "the last value given wins"
        );
    }

    /// The order worked out afresh, with no shape remembered.
    fn ordered_afresh<'a>(model: ModelId, entries: &[Entry<'a>]) -> Vec<Entry<'a>> {
        vendor_order(model, entries)
            .into_iter()
            .map(|i| entries[i as usize].clone())
            .collect()
    }

    #[test]
    fn remembered_shapes_give_the_order_worked_out_afresh() {
        // Names every vocabulary knows, names one model's knows and another's does not (so one
        // sequence has an order per model), unknown ones, a key given twice, in sequences of up
        // to 6 from a pool: many shapes, more than are compared in place, in turns.
        const NAMES: [(&str, &str); 10] = [
            ("sys", "config_sn"),
            ("ntp", "NtpZoneNum"),
            ("sip", "TEL1Number"),
            ("sip", "DisplayName1"),
            ("ipp", "LanguageType"),
            ("ipp", "Auto_pickup_Method"),
            ("cwmp", "CWMPACS"),
            ("sys", "FeatureKeyExt01"),
            ("zzz", "Unknown"),
            ("sip", "TEL1Number"),
        ];
        let mut next = crate::test_rng::below();
        let mut shapes = std::collections::HashSet::new();
        for round in 0..20_000 {
            let model = [ModelId::ST2030, ModelId::ST2022, ModelId::TB30][next(3)];
            let len = next(7);
            let entries: Vec<Entry> = (0..len)
                .map(|i| {
                    let (sec, key) = NAMES[next(NAMES.len())];
                    entry(sec, key, format!("{round}.{i}"))
                })
                .collect();
            shapes.insert((
                model,
                entries
                    .iter()
                    .map(|e| (e.section, e.key))
                    .collect::<Vec<_>>(),
            ));
            assert_eq!(
                in_vendor_order(model, entries.clone())
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>(),
                ordered_afresh(model, &entries),
                "{model} {entries:?}"
            );
        }
        assert!(
            shapes.len() > 10 * Recent::<Shape>::KEPT,
            "{} shapes",
            shapes.len()
        );
    }

    #[test]
    fn names_that_would_read_the_same_joined_are_two_shapes() {
        // "a\0b" then "c", and "a" then "b\0c": joined with NULs they read the same.
        let one = [entry("a\0b", "c", "1")];
        let two = [entry("a", "b\0c", "1")];
        let shape = Shape {
            model: ModelId::ST2030,
            names: Shape::names(&one),
            form: Rc::new(Form::new(ModelId::ST2030, &one)),
        };
        assert!(shape.is(&one));
        assert!(!shape.is(&two));
        assert!(!shape.is(&[]));
        assert!(!shape.is(&[entry("a\0b", "c", "1"), entry("a\0b", "c", "1")]));
    }

    #[test]
    fn the_one_pass_latin1_agrees_with_a_character_at_a_time() {
        // ASCII runs of every length around the word size, Latin-1 letters, and characters
        // Latin-1 cannot hold (two, three and four bytes in UTF-8), anywhere.
        let pieces = [
            "a", "=", "\r\n", "é", "ÿ", "\u{80}", "€", "𝄞", "abcdefgh", "0123456",
        ];
        let mut below = crate::test_rng::below();
        for _ in 0..50_000 {
            let text: String = (0..below(12))
                .map(|_| pieces[below(pieces.len())])
                .collect();
            let reference: Result<Vec<u8>, char> = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| c))
                .collect();
            assert_eq!(latin1(text.clone()), reference, "{text:?}");
        }
    }

    #[test]
    fn the_word_at_a_time_comparison_agrees_with_byte_equality() {
        // Lengths around the word size, strings that differ in one byte anywhere.
        let mut below = crate::test_rng::below();
        for _ in 0..20_000 {
            let n = below(20);
            let a: Vec<u8> = (0..n).map(|_| b'a' + below(3) as u8).collect();
            let mut b = a.clone();
            if n > 0 && below(2) == 0 {
                let i = below(n);
                b[i] = b'a' + below(3) as u8;
            }
            assert_eq!(same(&a, &b), a == b, "{a:?} {b:?}");
            assert!(!same(&a, &b[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn the_direct_writer_equals_the_default_templates() {
        let (templates, _) = Templates::new(&BTreeMap::new(), "inventory").unwrap();
        let entries = sample();
        let direct = write_default(entries.iter()).unwrap();
        for name in ["phone.txt", "common.txt"] {
            let text = templates
                .render(
                    name,
                    context! {
                        sections => sections(entries.iter()),
                        phone => context! { mac => "001F9F16E849", model => "ST2030", name => () },
                        config_sn => CONFIG_SN_SENTINEL,
                        model => "ST2030",
                        site => context! { name => "x", base_url => "http://x/" },
                    },
                )
                .unwrap();
            assert_eq!(format::encode(&text).unwrap(), direct, "{name}");
        }
        assert!(direct.ends_with(b"\r\n") && !direct.ends_with(b"\r\n\r\n"));
        assert_eq!(
            write_default([entry("sip", "DisplayName1", "☎")].iter()),
            Err('☎')
        );
    }

    /// Random entries: names the vocabularies know, one given twice, a section none knows, and
    /// values of the pieces the strict check looks at (line breaks, a leading space, `=`, a
    /// section header, Latin-1 letters, a character Latin-1 cannot hold).
    fn random_entries(next: &mut impl FnMut(usize) -> usize) -> Vec<Entry<'static>> {
        const NAMES: [(&str, &str); 7] = [
            ("ntp", "NtpZoneNum"),
            ("sip", "TEL1Number"),
            ("sip", "DisplayName1"),
            ("ipp", "LanguageType"),
            ("sys", "FeatureKeyExt01"),
            ("sip", "TEL1Number"),
            ("zzz", "Unknown"),
        ];
        const PIECES: [&str; 12] = [
            "", "a", "1001", " ", "\r", "\n", "\r\n", "é", "☎", "=", "[x]", "abcdefgh",
        ];
        let mut entries: Vec<Entry> = (0..next(6))
            .map(|_| {
                let (section, key) = NAMES[next(NAMES.len())];
                let value: String = (0..next(4)).map(|_| PIECES[next(PIECES.len())]).collect();
                entry(section, key, value)
            })
            .collect();
        if next(4) > 0 {
            entries.push(entry("sys", "config_sn", CONFIG_SN_SENTINEL));
        }
        entries
    }

    #[test]
    fn the_fixed_bytes_write_what_the_direct_writer_writes() {
        let mut next = crate::test_rng::below();
        for _ in 0..20_000 {
            let ordered = in_vendor_order(ModelId::ST2030, random_entries(&mut next));
            let fixed = ordered.form.fixed.as_ref().expect("ASCII names");
            let direct = write_default(ordered.iter());
            let through = write_fixed(&ordered.entries, &ordered.form.order, fixed);
            assert_eq!(
                through.as_ref().map(|(bytes, _)| bytes),
                direct.as_ref(),
                "{:?}",
                ordered.entries
            );
            if let Ok((_, clean)) = through {
                let values_clean = ordered
                    .iter()
                    .all(|e| !e.value.contains(['\r', '\n']) && !e.value.starts_with(' '));
                assert_eq!(clean, values_clean, "{:?}", ordered.entries);
            }
        }
        let not_ascii = [entry("sip", "Nämé", "1")];
        assert!(in_vendor_order(ModelId::ST2030, not_ascii.to_vec())
            .form
            .fixed
            .is_none());
    }

    #[test]
    fn a_file_is_proven_only_when_the_strict_check_passes_it() {
        // Forms come back with other values: the first clean file of each proves it or not, and
        // every file called proven must pass the full check with any number in place.
        let mut next = crate::test_rng::below();
        let (mut proven, mut refused) = (0, 0);
        for round in 0..20_000 {
            let model = [ModelId::ST2030, ModelId::ST2022, ModelId::TB30][next(3)];
            let ordered = in_vendor_order(model, random_entries(&mut next));
            let fixed = ordered.form.fixed.as_ref().expect("ASCII names");
            let Ok((bytes, clean)) = write_fixed(&ordered.entries, &ordered.form.order, fixed)
            else {
                continue;
            };
            let sn = format!("{:012}", round * 7919);
            let full = format::validate_config(
                &crate::render::fill_config_sn(bytes.clone(), &sn),
                model.vocabulary(),
                FileKind::Phone,
            );
            if clean && ordered.form.proven(model, &bytes) {
                proven += 1;
                assert_eq!(full, Ok(()), "{model} {:?}", ordered.entries);
            } else if clean {
                refused += 1;
                assert!(full.is_err(), "{model} {:?}", ordered.entries);
            }
        }
        assert!(
            proven > 1000 && refused > 1000,
            "{proven} proven, {refused} refused"
        );
    }
}
