//! A fast path for the plain YAML that phones files are written in, beside serde_yaml.
//!
//! Reading 100,000 phones, serde_yaml and libyaml take about a third of `provsite check`: libyaml
//! queues every token, and serde_yaml copies every event into a list before it deserialises. Most
//! phones files use a small, regular part of YAML: block lists and mappings, plain words and
//! numbers, quoted strings on one line, and `{...}` or `[...]` on one line. This module reads
//! exactly that part, in one pass over the text, and gives the same values serde_yaml gives.
//!
//! It gives way at once (returns `None`) on anything else: tabs, carriage returns, anchors,
//! aliases, tags, block scalars, escapes, multi-line scalars or collections, a scalar YAML could
//! read as null, a float or a number other than a plain decimal, a key other than a plain word,
//! control characters, and any type question it does not answer as serde_yaml does. It also gives
//! way on every error: the caller then parses with serde_yaml, which finds the error and places
//! it. So a file gets exactly serde_yaml's value or serde_yaml's message; the tests hold the two
//! paths to the same values over generated files.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};

/// The deepest nesting read here (block and flow together); deeper files go to serde_yaml.
const MAX_DEPTH: usize = 24;

/// `text` read as a `T`, when this fast path reads it (see the module's documentation); `None`
/// means: parse it with serde_yaml.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Option<T> {
    if !plain_chars(text) {
        return None;
    }
    let node = Parser::new(text)?.document()?;
    let value = T::deserialize(node).ok()?;
    Some(value)
}

/// Whether every character is one this module reads as YAML does: printable, and no line break
/// but `\n`. Tabs, carriage returns, DEL, the C1 controls (NEL among them), the no-break space,
/// LS and PS, the byte order mark and the noncharacters U+FFFE and U+FFFF give way.
fn plain_chars(text: &str) -> bool {
    let bytes = text.as_bytes();
    let ascii_ok = |b: u8| b == b'\n' || (0x20..0x7f).contains(&b);
    if bytes.iter().all(|&b| ascii_ok(b)) {
        return true;
    }
    text.chars().all(|c| match c {
        c if c.is_ascii() => ascii_ok(c as u8),
        '\u{80}'..='\u{a0}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
            false
        }
        _ => true,
    })
}

/// A value as read: scalars keep their text for `deserialize_str`, which serde_yaml answers with
/// any scalar's text.
#[derive(Debug, PartialEq)]
enum Node<'a> {
    /// A quoted string, or a plain word YAML reads as a string.
    Str(Cow<'a, str>),
    /// A plain decimal number without leading zeros that fits 64 bits.
    Int(&'a str, u64),
    /// `true`, `True`, `TRUE`, `false`, `False`, `FALSE`.
    Bool(&'a str, bool),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Node<'a>, Node<'a>)>),
}

/// One line with content: its indentation and the text after it.
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// The text's lines with content; None for a document marker or a directive.
    fn new(text: &'a str) -> Option<Parser<'a>> {
        let mut lines = Vec::with_capacity(text.len() / 16);
        for raw in text.split('\n') {
            let body = raw.trim_start_matches(' ');
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = raw.len() - body.len();
            if indent == 0
                && (body.starts_with("---") || body.starts_with("...") || body.starts_with('%'))
            {
                return None;
            }
            lines.push(Line { indent, text: body });
        }
        Some(Parser {
            lines,
            next: 0,
            depth: 0,
        })
    }

    /// The whole document: one block node and nothing after it.
    fn document(mut self) -> Option<Node<'a>> {
        let first = self.lines.first()?;
        let (col, text) = (first.indent, first.text);
        self.next = 1;
        let node = self.block(col, text)?;
        (self.next == self.lines.len()).then_some(node)
    }

    /// A node that starts at column `col` with `text` (its line already taken): a block list, a
    /// block mapping, or a scalar or flow collection on that line.
    fn block(&mut self, col: usize, text: &'a str) -> Option<Node<'a>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let node = if is_dash(text) {
            self.seq(col, text)
        } else if split_key(text).is_some() {
            self.map(col, text)
        } else {
            // A line after it indented more would continue it: the list or mapping it is in,
            // or the document, refuses that line.
            inline(text, self.depth)
        };
        self.depth -= 1;
        node
    }

    /// A block list at column `col`, whose first item is `text`.
    fn seq(&mut self, col: usize, mut text: &'a str) -> Option<Node<'a>> {
        let mut items = Vec::new();
        loop {
            let rest = text[1..].trim_start_matches(' ');
            let item_col = col + (text.len() - rest.len());
            // `is_dash` put a space before anything after the dash: a `#` there is a comment.
            let item = if rest.is_empty() || rest.starts_with('#') {
                // The item is on the lines below, indented more.
                let line = self.lines.get(self.next).filter(|l| l.indent > col)?;
                let (c, t) = (line.indent, line.text);
                self.next += 1;
                self.block(c, t)?
            } else if is_dash(rest) {
                // `- - x`, a list in a list: serde_yaml reads it.
                return None;
            } else {
                self.block(item_col, rest)?
            };
            items.push(item);
            match self.lines.get(self.next) {
                Some(l) if l.indent == col && is_dash(l.text) => {
                    text = l.text;
                    self.next += 1;
                }
                // More indented: a scalar continued.
                Some(l) if l.indent > col => return None,
                // Less indented, or a key at the same column (a list that is a mapping's
                // value, written at the key's column): the list ends.
                _ => return Some(Node::Seq(items)),
            }
        }
    }

    /// A block mapping at column `col`, whose first entry is `text`.
    fn map(&mut self, col: usize, mut text: &'a str) -> Option<Node<'a>> {
        let mut entries = Vec::new();
        loop {
            let (key, rest) = split_key(text)?;
            let after = rest.trim_start_matches(' ');
            // `split_key` put a space before anything after the colon: a `#` there is a comment.
            let value = if after.is_empty() || after.starts_with('#') {
                // The value is on the lines below: indented more, or a list at the key's column.
                match self.lines.get(self.next) {
                    Some(l) if l.indent > col || (l.indent == col && is_dash(l.text)) => {
                        let (c, t) = (l.indent, l.text);
                        self.next += 1;
                        self.block(c, t)?
                    }
                    // Nothing: null, which serde_yaml reads in ways of its own.
                    _ => return None,
                }
            } else {
                inline(after, self.depth)?
            };
            entries.push((key, value));
            match self.lines.get(self.next) {
                Some(l) if l.indent == col && !is_dash(l.text) => {
                    text = l.text;
                    self.next += 1;
                }
                // More indented: a scalar continued, or a mapping where none may start.
                Some(l) if l.indent >= col => return None,
                _ => return Some(Node::Map(entries)),
            }
        }
    }
}

/// Whether a line's text starts a list item: `-` then a space or the line's end.
fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// A block mapping entry's key and the text after its colon: a plain word of ASCII letters,
/// digits and `_`, then `:` and a space or the line's end.
fn split_key(text: &str) -> Option<(Node<'_>, &str)> {
    let end = text
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
    let (word, rest) = text.split_at(end);
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) || word.is_empty() {
        return None;
    }
    Some((plain(word)?, rest))
}

/// A value written on the rest of a line: a quoted string, a flow collection or a plain scalar,
/// then nothing but spaces or a comment.
fn inline(text: &str, depth: usize) -> Option<Node<'_>> {
    let (node, rest) = match text.as_bytes().first()? {
        b'"' | b'\'' | b'{' | b'[' => {
            let mut f = Flow {
                text,
                pos: 0,
                depth,
            };
            let node = f.value()?;
            (node, &text[f.pos..])
        }
        _ => {
            // A plain scalar runs to a comment (` #`) or the line's end.
            let end = memchr::memmem::find(text.as_bytes(), b" #").unwrap_or(text.len());
            let word = text[..end].trim_end_matches(' ');
            // `a: b` would be a mapping where none may start; brackets, commas and double
            // quotes inside a plain word are read literally in a block, but are left to
            // serde_yaml all the same.
            if word.contains(": ")
                || word.ends_with(':')
                || word.contains(['[', ']', '{', '}', ',', '"'])
            {
                return None;
            }
            (plain(word)?, &text[end..])
        }
    };
    let after = rest.trim_start_matches(' ');
    (after.is_empty() || (after.starts_with('#') && after.len() < rest.len())).then_some(node)
}

/// A plain scalar's value, where YAML's reading of it is plain: a decimal number, a boolean, or a
/// string (a word that starts with a letter, or with a digit but cannot be a number). None for
/// everything serde_yaml reads otherwise or in ways of its own: null (`~`, `null`, empty),
/// floats, signs, `0x…` and the like, numbers wider than 64 bits, and any first character that is
/// not a letter or a digit (indicators, `.inf`).
fn plain(word: &str) -> Option<Node<'_>> {
    let first = word.chars().next()?;
    if first.is_ascii_digit() {
        let b = word.as_bytes();
        if b.iter().all(u8::is_ascii_digit) {
            // YAML 1.2 reads leading zeros as a string (`0612345678`), as serde_yaml does.
            if b.len() > 1 && first == '0' {
                return Some(Node::Str(Cow::Borrowed(word)));
            }
            return word.parse().ok().map(|n| Node::Int(word, n));
        }
        // `0x1F`, `0o17`, `0b1`: serde_yaml's own integers.
        if first == '0' && b[1].is_ascii_alphabetic() {
            return None;
        }
        // A float has digits, one dot, `e` and signs only: a word with anything else in it, or
        // with two dots (`192.0.2.1`), is neither a float nor an integer.
        let other = b
            .iter()
            .any(|c| !matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'));
        let dots = b.iter().filter(|&&c| c == b'.').count();
        return (other || dots > 1).then_some(Node::Str(Cow::Borrowed(word)));
    }
    if first.is_ascii() && !first.is_ascii_alphabetic() {
        return None;
    }
    match word {
        "null" | "Null" | "NULL" => None,
        "true" | "True" | "TRUE" => Some(Node::Bool(word, true)),
        "false" | "False" | "FALSE" => Some(Node::Bool(word, false)),
        _ => Some(Node::Str(Cow::Borrowed(word))),
    }
}

/// A flow value on one line: `{key: value, ...}`, `[value, ...]`, a quoted string or a plain
/// word (no `:`, `#`, quote, comma or bracket in it).
struct Flow<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Flow<'a> {
    fn skip_spaces(&mut self) {
        while self.text.as_bytes().get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let node = match self.text.as_bytes().get(self.pos)? {
            b'"' => self.double_quoted(),
            b'\'' => self.single_quoted(),
            b'{' => self.collection(b'}', true),
            b'[' => self.collection(b']', false),
            _ => self.word(),
        };
        self.depth -= 1;
        node
    }

    /// `"..."` on this line, without escapes.
    fn double_quoted(&mut self) -> Option<Node<'a>> {
        let start = self.pos + 1;
        let len = self.text[start..].find(['"', '\\'])?;
        if self.text.as_bytes()[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(Node::Str(Cow::Borrowed(&self.text[start..start + len])))
    }

    /// `'...'` on this line, `''` standing for one quote.
    fn single_quoted(&mut self) -> Option<Node<'a>> {
        let start = self.pos + 1;
        let mut i = start;
        let mut owned: Option<String> = None;
        loop {
            let len = self.text[i..].find('\'')?;
            if self.text.as_bytes().get(i + len + 1) == Some(&b'\'') {
                owned
                    .get_or_insert_with(String::new)
                    .push_str(&self.text[i..=i + len]);
                i += len + 2;
                continue;
            }
            self.pos = i + len + 1;
            return Some(Node::Str(match owned {
                None => Cow::Borrowed(&self.text[start..i + len]),
                Some(mut s) => {
                    s.push_str(&self.text[i..i + len]);
                    Cow::Owned(s)
                }
            }));
        }
    }

    /// A plain word in a flow collection: it ends at `,`, `}` or `]`.
    fn word(&mut self) -> Option<Node<'a>> {
        let rest = &self.text[self.pos..];
        let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches(' ');
        if word.contains([':', '#', '"', '\'', '[', '{']) {
            return None;
        }
        self.pos += word.len();
        plain(word)
    }

    /// `{...}` (a mapping, entries `key: value`) or `[...]`, closed on this line; no empty
    /// entry and no trailing comma.
    fn collection(&mut self, close: u8, mapping: bool) -> Option<Node<'a>> {
        self.pos += 1;
        self.skip_spaces();
        let mut items = Vec::new();
        let mut entries = Vec::new();
        if self.text.as_bytes().get(self.pos) == Some(&close) {
            self.pos += 1;
        } else {
            loop {
                if mapping {
                    let rest = &self.text[self.pos..];
                    let (key, after) = split_key(rest)?;
                    if after.is_empty() {
                        return None;
                    }
                    self.pos += rest.len() - after.len();
                    self.skip_spaces();
                    entries.push((key, self.value()?));
                } else {
                    items.push(self.value()?);
                }
                self.skip_spaces();
                match self.text.as_bytes().get(self.pos)? {
                    b',' => {
                        self.pos += 1;
                        self.skip_spaces();
                        if matches!(self.text.as_bytes().get(self.pos)?, b',' | b'}' | b']') {
                            return None;
                        }
                    }
                    &c if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(if mapping {
            Node::Map(entries)
        } else {
            Node::Seq(items)
        })
    }
}

/// The one error: this path does not read the text (serde_yaml will, and say why).
#[derive(Debug)]
struct GiveWay;

impl fmt::Display for GiveWay {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("left to serde_yaml")
    }
}

impl std::error::Error for GiveWay {}

impl de::Error for GiveWay {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveWay
    }
}

/// Methods that give way: signed and wide numbers, floats, chars, bytes, unit and ignored values
/// (no phones file field asks for them; serde_yaml answers them its own way).
macro_rules! give_way {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, GiveWay> {
            Err(GiveWay)
        })*
    };
}

/// Narrower unsigned numbers: read as a u64, which their visitors take when in range (as
/// serde_yaml reads them).
macro_rules! as_u64 {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
            self.deserialize_u64(v)
        })*
    };
}

/// Answers as serde_yaml's deserializer does for the same event, else gives way.
impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = GiveWay;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Str(s) => visit_text(s, v),
            Node::Int(_, n) => v.visit_u64(n),
            Node::Bool(_, b) => v.visit_bool(b),
            Node::Seq(items) => visit_seq(items, v),
            Node::Map(entries) => visit_map(entries, v),
        }
    }

    /// serde_yaml gives any scalar's text to a string.
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Str(s) => visit_text(s, v),
            Node::Int(t, _) | Node::Bool(t, _) => v.visit_borrowed_str(t),
            Node::Seq(_) | Node::Map(_) => Err(GiveWay),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        self.deserialize_str(v)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Bool(_, b) => v.visit_bool(b),
            _ => Err(GiveWay),
        }
    }

    as_u64! { deserialize_u8 deserialize_u16 deserialize_u32 }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Int(_, n) => v.visit_u64(n),
            _ => Err(GiveWay),
        }
    }

    /// Nothing read here is null (those give way), so an option is always there.
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        v.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, GiveWay> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Seq(items) => visit_seq(items, v),
            _ => Err(GiveWay),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Map(entries) => visit_map(entries, v),
            _ => Err(GiveWay),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, GiveWay> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    give_way! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_ignored_any
    }
}

/// A string: borrowed from the text when it is its own slice, as serde_yaml gives one.
fn visit_text<'de, V: Visitor<'de>>(s: Cow<'de, str>, v: V) -> Result<V::Value, GiveWay> {
    match s {
        Cow::Borrowed(b) => v.visit_borrowed_str(b),
        Cow::Owned(o) => v.visit_string(o),
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Node<'de>>, v: V) -> Result<V::Value, GiveWay> {
    let mut access = Seq(items.into_iter());
    let value = v.visit_seq(&mut access)?;
    // serde_yaml refuses a list its visitor did not read to the end.
    match access.0.len() {
        0 => Ok(value),
        _ => Err(GiveWay),
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: Vec<(Node<'de>, Node<'de>)>,
    v: V,
) -> Result<V::Value, GiveWay> {
    let mut access = Map(entries.into_iter(), None);
    let value = v.visit_map(&mut access)?;
    match (access.0.len(), access.1) {
        (0, None) => Ok(value),
        _ => Err(GiveWay),
    }
}

struct Seq<'de>(std::vec::IntoIter<Node<'de>>);

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = GiveWay;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveWay> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }
}

struct Map<'de>(
    std::vec::IntoIter<(Node<'de>, Node<'de>)>,
    Option<Node<'de>>,
);

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = GiveWay;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveWay> {
        match self.0.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.1 = Some(v);
                seed.deserialize(k).map(Some)
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GiveWay> {
        seed.deserialize(self.1.take().ok_or(GiveWay)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PhoneDoc;

    type Phones = Option<Vec<PhoneDoc>>;

    /// What serde_yaml gives, as a value and as phones.
    fn reference(text: &str) -> (Option<serde_yaml::Value>, Option<Phones>) {
        (
            serde_yaml::from_str(text).ok(),
            serde_yaml::from_str(text).ok(),
        )
    }

    /// The fast path's answers, each asserted equal to serde_yaml's where given; whether it
    /// read the text as a value and as phones.
    fn agrees(text: &str) -> (bool, bool) {
        let (value, phones) = reference(text);
        let fast_value = from_str::<serde_yaml::Value>(text);
        let fast_phones = from_str::<Phones>(text);
        if let Some(v) = &fast_value {
            assert_eq!(Some(v), value.as_ref(), "as a value, for:\n{text}");
        }
        if let Some(p) = &fast_phones {
            assert_eq!(Some(p), phones.as_ref(), "as phones, for:\n{text}");
        }
        (fast_value.is_some(), fast_phones.is_some())
    }

    const PHONES: &str = r#"# Reception.
- mac: "00:1F:9F:16:E8:49"
  model: ST2030
  name: Accueil général
  profile: sales
  lines:
    - user: "1001"
      display_name: "Hélène Dupont"
      password: {env: SIP_1001}
    - {user: 1000, display_name: 'L''accueil', voicemail: false}
  keys:
    1: {blf: "1002"}   # the sales desk
    2: {speed_dial: 0612345678}
    10: {line: 2}
  settings: {ipp: {Ringer_default_vol: "4"}, sys: {NTP_Port: 123}}
  codecs: [g722, alaw]
- mac: 001F9F16E84A
  model: TB30
  ntp_zone: 12
  vlan: {voice: 20, pc: 0}
  dns: [192.0.2.1, 192.0.2.2]
  lines:
  - user: u2
    auth_user: a2
  pbx: {host: pbx.example.org, port: 5061}
-
  mac: 00-1F-9F-16-E8-4B
  model: ST2022
  lines: []
  keys: {}
"#;

    #[test]
    fn reads_the_plain_yaml_of_phones_files_as_serde_yaml_does() {
        assert_eq!(agrees(PHONES), (true, true));
        let phones = from_str::<Phones>(PHONES).unwrap().unwrap();
        assert_eq!(phones.len(), 3);
        assert_eq!(
            phones[0].lines[1].display_name.as_deref(),
            Some("L'accueil")
        );
        assert_eq!(phones[0].lines[1].user.0, "1000");
        assert_eq!(phones[0].lines[1].voicemail, Some(false));
        assert_eq!(phones[1].lines[0].user.0, "u2");
        assert_eq!(phones[2].mac.0, "00-1F-9F-16-E8-4B");
        let dial = phones[0].keys[&2].speed_dial.as_ref().unwrap();
        assert_eq!(dial.0, "0612345678");
    }

    #[test]
    fn the_example_inventory_takes_the_fast_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory/phones");
        let mut read = 0;
        for sub in std::fs::read_dir(&dir).unwrap() {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                if path.file_name().is_some_and(|n| n != "group.yaml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert!(agrees(&text).1, "{}", path.display());
                    read += 1;
                }
            }
        }
        assert!(read >= 2);
    }

    #[test]
    fn gives_way_on_what_it_does_not_read() {
        let cases = [
            "- a: 1\n\tb: 2\n",                 // a tab
            "- a: 1\r\n",                       // a carriage return
            "- a: &x 1\n  b: *x\n",             // an anchor and an alias
            "- a: !tag 1\n",                    // a tag
            "- a: |\n    text\n",               // a block scalar
            "- a: >\n    text\n",               // a folded scalar
            "- a: b\n    c\n",                  // a plain scalar over two lines
            "- a: \"b\n    c\"\n",              // a quoted scalar over two lines
            "- a: \"b\\tc\"\n",                 // an escape
            "- a: {b: 1,\n    c: 2}\n",         // a flow collection over two lines
            "- a:\n",                           // null
            "- a: ~\n",                         // null
            "- a: null\n",                      // null
            "- a: 1.5\n",                       // a float
            "- a: .inf\n",                      // a float
            "- a: 1e3\n",                       // a float
            "- a: -1\n",                        // a sign
            "- a: +1\n",                        // a sign
            "- a: 0x1F\n",                      // hexadecimal
            "- a: 99999999999999999999\n",      // wider than 64 bits
            "- \"a\": 1\n",                     // a quoted key
            "- a-b: 1\n",                       // a key that is not a plain word
            "- ? a\n  : 1\n",                   // a complex key
            "---\n- a: 1\n",                    // a document marker
            "%YAML 1.2\n---\n- a: 1\n",         // a directive
            "- a: 1\n- a: 2\n...\n",            // a document end
            "- - a\n",                          // a list in a list, compact
            "- a: b: c\n",                      // a mapping where none may start
            "- a: [b, c,]\n",                   // a trailing comma
            "- a: {b}\n",                       // a key without a value
            "- a: {b:c}\n",                     // a key glued to its value
            "- a: 1\n b: 2\n",                  // an indentation between
            "- a: 1\n    b: 2\n",               // more indented
            "- a: \u{feff}x\n",                 // a byte order mark
            "- a: x\u{85}y\n",                  // NEL
            "- a: x\u{2028}y\n",                // LS
            "- a: x\u{7f}\n",                   // DEL
            "- a: x\u{1}\n",                    // a control character
            "# only a comment\n",               // no content
            "- a: {b: [c, {d: [e, {f: [g, {h: [i, {j: [k, {l: [m, {n: [o, {p: [q, {r: [s, {t: [u, {v: [w]}]}]}]}]}]}]}]}]}]}]}\n",
        ];
        for text in cases {
            let ours = from_str::<serde_yaml::Value>(text);
            assert_eq!(ours, None, "read:\n{text}");
        }
    }

    #[test]
    fn reads_what_yaml_reads_in_small_cases() {
        let cases = [
            ("- a: 1\n  b: x\n", true),
            ("- a: Désolé café\n", true),
            ("- a: O'Brien\n", true),
            ("- a: 'it''s'\n", true),
            ("- a: ''\n", true),
            ("- a: \"\"\n", true),
            ("- a: x #c\n", true),
            ("- a: x#c\n", true),
            ("- a: http://x/y\n", true),
            ("- a: True\n  b: FALSE\n", true),
            ("- a: yes\n  b: on\n  c: No\n", true),
            ("- a: inf\n  b: NaN\n", true),
            ("- # a comment\n  a: 1\n", true),
            ("- a: # a comment\n    b: 1\n", true),
            ("- a:\n  - 1\n  - 2\n  b: 3\n", true),
            ("- a:\n    x\n", true),
            ("  - a: 1\n  - b: 2\n", true),
            ("-   a: 1\n    b: 2\n", true),
            ("- [a, 'b', \"c\", {d: e}, []]\n", true),
            ("- {a: Desk 12 , b: x}\n", true),
            ("- a: 0\n  b: 18446744073709551615\n", true),
            (
                "- a: 012\n  b: 00:1F:9F:16:E8:49\n  c: 192.0.2.1\n  d: 001F9F16E84A\n",
                true,
            ),
            ("- [0612345678, 1.2.3, 12 rue, 9x]\n", true),
        ];
        for (text, read) in cases {
            let (value, _) = agrees(text);
            assert_eq!(value, read, "read or not:\n{text}");
        }
    }

    /// Characters that matter to YAML, and some that do not.
    const ALPHABET: &[&str] = &[
        " ", " ", "  ", "\n", "\n  ", "-", "- ", ":", ": ", "#", " #", "\"", "'", "{", "}", "[",
        "]", ",", ", ", "&", "*", "!", "|", ">", "?", "~", "0", "1", "12", "a", "x:", ".", "\t",
        "\\", "é", "null", "true", "%", "@", "`", "---", "...", "\r",
    ];

    #[test]
    fn agrees_with_serde_yaml_on_edited_files() {
        let mut below = crate::test_rng::below();
        let base = PHONES;
        let (mut read_value, mut read_phones) = (0, 0);
        for _ in 0..6000 {
            let mut text = base.to_string();
            for _ in 0..1 + below(3) {
                // An edit at a character boundary: insert, delete or replace.
                let mut at = below(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let piece = ALPHABET[below(ALPHABET.len())];
                match below(3) {
                    0 => text.insert_str(at, piece),
                    1 => {
                        let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                        text.replace_range(at..end, piece);
                    }
                }
            }
            let (v, p) = agrees(&text);
            read_value += usize::from(v);
            read_phones += usize::from(p);
        }
        // Most edits keep the file in the plain part, some of them valid phones: both paths
        // were compared, not only serde_yaml's.
        eprintln!("read {read_value} as values, {read_phones} as phones");
        assert!(read_value > 1000, "{read_value}");
        assert!(read_phones > 300, "{read_phones}");
    }

    /// Scalars as YAML may read them: strings, numbers of each kind, booleans, nulls, and
    /// strings that look like one of those.
    const WORDS: &[&str] = &[
        "a",
        "Desk 12",
        "Hélène",
        "O'Brien",
        "1001",
        "0",
        "0612345678",
        "012",
        "1.5",
        "1e3",
        "192.0.2.1",
        "00:1F:9F:16:E8:49",
        "001F9F16E84A",
        "true",
        "True",
        "yes",
        "off",
        "null",
        "~",
        "",
        "-1",
        "+1",
        "0x1F",
        ".inf",
        "inf",
        "a#b",
        "x:y",
        "http://h/p",
        "12:30",
        "18446744073709551616",
        "a b ",
        " a",
        "it's",
        "say \"hi\"",
        "a\\b",
        "[x]",
        "{x}",
        "a, b",
    ];
    const KEYS: &[&str] = &[
        "a", "b", "mac", "1", "10", "01", "true", "null", "a b", "x-y",
    ];

    enum Tree {
        Word(&'static str),
        Map(Vec<(&'static str, Tree)>),
        Seq(Vec<Tree>),
    }

    fn tree(below: &mut impl FnMut(usize) -> usize, depth: usize) -> Tree {
        match if depth > 3 { 0 } else { below(3) } {
            0 => Tree::Word(WORDS[below(WORDS.len())]),
            1 => Tree::Map(
                (0..below(4))
                    .map(|_| (KEYS[below(KEYS.len())], tree(below, depth + 1)))
                    .collect(),
            ),
            _ => Tree::Seq((0..below(4)).map(|_| tree(below, depth + 1)).collect()),
        }
    }

    /// A scalar written plain, single- or double-quoted.
    fn scalar(below: &mut impl FnMut(usize) -> usize, w: &str) -> String {
        match below(3) {
            0 => w.to_string(),
            1 => format!("'{}'", w.replace('\'', "''")),
            _ => format!("\"{w}\""),
        }
    }

    fn flow(below: &mut impl FnMut(usize) -> usize, t: &Tree) -> String {
        match t {
            Tree::Word(w) => scalar(below, w),
            Tree::Map(m) => {
                let e: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", flow(below, v)))
                    .collect();
                format!("{{{}}}", e.join(", "))
            }
            Tree::Seq(s) => {
                let e: Vec<String> = s.iter().map(|v| flow(below, v)).collect();
                format!("[{}]", e.join(", "))
            }
        }
    }

    /// `t` as the value after `lead` (`- ` or `key:`) at column `col`, in a random style.
    fn block(
        below: &mut impl FnMut(usize) -> usize,
        t: &Tree,
        col: usize,
        lead: &str,
        out: &mut String,
    ) {
        let pad = |n: usize| " ".repeat(n);
        let comment = if below(4) == 0 { " # note" } else { "" };
        let (entries, items) = match t {
            Tree::Map(m) if !m.is_empty() && below(3) > 0 => (Some(m), None),
            Tree::Seq(s) if !s.is_empty() && below(3) > 0 => (None, Some(s)),
            _ => {
                let sep = if lead.ends_with(' ') { "" } else { " " };
                out.push_str(&format!("{lead}{sep}{}{comment}\n", flow(below, t)));
                return;
            }
        };
        let inner = match below(4) {
            0 if items.is_some() && lead.ends_with(':') => col,
            1 => col + 4,
            _ => col + 2,
        };
        // A mapping in a list item may start on the dash's line.
        let compact = lead.starts_with('-') && entries.is_some() && below(2) == 0;
        if compact {
            out.push_str(lead);
        } else {
            out.push_str(&format!("{}{comment}\n", lead.trim_end()));
        }
        let mut first = compact;
        let at = if compact { col + lead.len() } else { inner };
        if let Some(m) = entries {
            for (k, v) in m {
                if !first {
                    out.push_str(&pad(at));
                }
                first = false;
                block(below, v, at, &format!("{k}:"), out);
            }
        }
        if let Some(s) = items {
            for v in s {
                out.push_str(&pad(inner));
                block(below, v, inner, "- ", out);
            }
        }
    }

    #[test]
    fn agrees_with_serde_yaml_on_generated_documents() {
        let mut below = crate::test_rng::below();
        let mut read = 0;
        let runs = 4000;
        for _ in 0..runs {
            let mut text = String::new();
            for _ in 0..1 + below(3) {
                let t = tree(&mut below, 1);
                block(&mut below, &t, 0, "- ", &mut text);
            }
            if below(5) == 0 {
                text.insert_str(0, "# a file\n");
            }
            read += usize::from(agrees(&text).0);
        }
        eprintln!("read {read} of {runs}");
        assert!(read > runs / 10, "{read}");
    }
}
