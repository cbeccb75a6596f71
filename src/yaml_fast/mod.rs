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

use serde::de::DeserializeOwned;

mod de;
#[cfg(test)]
mod tests;

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
    // `\n`, or 0x20 to 0x7e. Without a branch, so that a block's test runs many bytes wide.
    let ascii_ok = |b: u8| (b == b'\n') | (b.wrapping_sub(0x20) < 0x5f);
    let char_ok = |c: char| match c {
        c if c.is_ascii() => ascii_ok(c as u8),
        '\u{80}'..='\u{a0}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
            false
        }
        _ => true,
    };
    // The ASCII runs (most of a file: a name with an accent is not all of it) are passed over 64
    // bytes at a time, and only the characters between them decoded.
    let mut rest = text;
    loop {
        let bytes = rest.as_bytes();
        let mut n = 0;
        while let Some(block) = bytes.get(n..n + 64) {
            if block
                .iter()
                .fold(0u8, |bad, &b| bad | u8::from(!ascii_ok(b)))
                != 0
            {
                break;
            }
            n += 64;
        }
        n += bytes[n..]
            .iter()
            .position(|&b| !ascii_ok(b))
            .unwrap_or(bytes.len() - n);
        // A character boundary: every byte before it is ASCII.
        let mut chars = rest[n..].chars();
        match chars.next() {
            None => return true,
            Some(c) if char_ok(c) => rest = chars.as_str(),
            Some(_) => return false,
        }
    }
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
        // The lines' ends found by memchr's vector search (`str::split` looks for each on its
        // own, and a phones file's lines are short).
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]);
        for end in ends {
            // Both ends are at a `\n` or the text's end: character boundaries.
            let raw = &text[start..end];
            start = end + 1;
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
