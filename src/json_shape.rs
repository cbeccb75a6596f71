//! Reading JSON that provsite wrote, in the one shape it writes it: a cursor that takes the
//! expected text piece by piece and gives None at the first difference, so that the caller can
//! leave the whole text to serde_json. It reads only strings with nothing to unescape and
//! integers as serde_json writes them; the callers' tests hold each reader to serde_json's result
//! over every one-byte edit of a sample.

pub struct Cursor<'t> {
    /// What is left to read.
    pub rest: &'t str,
}

impl<'t> Cursor<'t> {
    pub fn new(text: &'t str) -> Self {
        Cursor { rest: text }
    }

    /// Takes `s` if the text goes on with it.
    pub fn eat(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Takes `s`, which the text must go on with (None when it does not).
    pub fn take(&mut self, s: &str) -> Option<()> {
        self.eat(s).then_some(())
    }

    /// A string with nothing to unescape (a control character is an error serde_json reports).
    pub fn string(&mut self) -> Option<String> {
        let body = self.rest.strip_prefix('"')?;
        let bytes = body.as_bytes();
        // The first byte that ends the string or that cannot be read here.
        let end = first_special(bytes)?;
        if bytes[end] != b'"' {
            return None;
        }
        self.rest = &body[end + 1..];
        Some(body[..end].to_string())
    }

    /// `prefix` and a string, if the text goes on with `prefix`.
    pub fn optional(&mut self, prefix: &str) -> Option<Option<String>> {
        if self.eat(prefix) {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    /// An integer as serde_json writes one (no leading zero, no `-0`; a sign only when
    /// `signed`), within i128.
    pub fn integer(&mut self, signed: bool) -> Option<i128> {
        let (negative, digits) = match self.rest.strip_prefix('-') {
            Some(d) if signed => (true, d),
            Some(_) => return None,
            None => (false, self.rest),
        };
        let len = digits.bytes().take_while(u8::is_ascii_digit).count();
        let text = &digits[..len];
        if len == 0 || len > 20 || (text.starts_with('0') && (len > 1 || negative)) {
            return None;
        }
        // Up to 18 digits, as a u64 digit by digit (i128's parser is the slow one).
        let n: i128 = if len <= 18 {
            i128::from(text.bytes().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
        } else {
            text.parse().ok()?
        };
        self.rest = &digits[len..];
        Some(if negative { -n } else { n })
    }
}

/// Where the first byte of `bytes` is that a JSON string holds only escaped (a quote, a
/// backslash, a control character): found a word at a time up to its word (a digest, a path:
/// most bytes of a manifest are inside such strings), then byte by byte.
pub fn first_special(bytes: &[u8]) -> Option<usize> {
    use crate::words::{has_below, has_byte, skip_words};
    let from = skip_words(bytes, 0, |w| {
        has_byte(w, b'"') | has_byte(w, b'\\') | has_below(w, b' ')
    });
    let at = bytes[from..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < b' ')?;
    Some(from + at)
}

/// Calls `check` with every text one edit away from `text` that is still UTF-8: each byte
/// replaced by each of `edits`, a space put in at each place, and the text cut at each place
/// (the tests of the readers built on [`Cursor`]).
#[cfg(test)]
pub(crate) fn each_one_byte_edit(text: &[u8], edits: &[u8], mut check: impl FnMut(&str)) {
    let mut one = |t: &[u8]| {
        if let Ok(t) = std::str::from_utf8(t) {
            check(t);
        }
    };
    for i in 0..text.len() {
        for &b in edits {
            let mut t = text.to_vec();
            t[i] = b;
            one(&t);
        }
        let mut t = text.to_vec();
        t.insert(i, b' ');
        one(&t);
        one(&text[..i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_of_any_length_reads_as_its_digits_say() {
        // Each length from 1 to 21 digits, around the point where the reader changes method.
        for len in 1..=21 {
            for first in ['1', '9'] {
                for fill in ['0', '9'] {
                    let digits: String = std::iter::once(first)
                        .chain(std::iter::repeat_n(fill, len - 1))
                        .collect();
                    let text = format!("{digits},");
                    let mut c = Cursor::new(&text);
                    let read = c.integer(false);
                    let expected = (len <= 20).then(|| digits.parse::<i128>().unwrap());
                    assert_eq!(read, expected, "{digits}");
                    assert_eq!(c.rest, if read.is_some() { "," } else { text.as_str() });
                    let negative = format!("-{digits}");
                    assert_eq!(
                        Cursor::new(&negative).integer(true),
                        expected.map(|n| -n),
                        "{negative}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_string_ends_at_its_first_quote_and_is_refused_at_an_escape_or_a_control() {
        // Every length to past two words, the byte at each place.
        for len in 0..20 {
            let plain = "d".repeat(len);
            let text = format!("\"{plain}\":1");
            let mut c = Cursor::new(&text);
            assert_eq!(c.string().as_deref(), Some(plain.as_str()));
            assert_eq!(c.rest, ":1");
            for at in 0..len {
                for (b, ok) in [('\\', false), ('\n', false), ('\u{1f}', false), ('é', true)] {
                    let mut s: Vec<char> = plain.chars().collect();
                    s[at] = b;
                    let s: String = s.into_iter().collect();
                    let text = format!("\"{s}\"");
                    assert_eq!(
                        Cursor::new(&text).string().is_some(),
                        ok,
                        "{s:?} read as a plain string"
                    );
                }
                let cut = format!("\"{}\"{}\"", &plain[..at], &plain[at..]);
                assert_eq!(Cursor::new(&cut).string().as_deref(), Some(&plain[..at]));
            }
        }
    }
}
