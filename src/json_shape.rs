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
        let end = body
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < b' ')?;
        if body.as_bytes()[end] != b'"' {
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
        let n: i128 = text.parse().ok()?;
        self.rest = &digits[len..];
        Some(if negative { -n } else { n })
    }
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
