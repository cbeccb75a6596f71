//! Bounds on inventory YAML, checked before any YAML parser sees the text. Deeply nested flow
//! collections (`[[[[...`) make the scanner's work grow with the square of the depth. No
//! inventory needs more than a few levels, so a depth far above that is
//! refused at once, with its position.

/// The deepest flow nesting (`[` and `{` inside each other) accepted; a real inventory uses 3.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Where the text first nests flow collections deeper than [`MAX_FLOW_DEPTH`]: (line, column),
/// both from 1. A small lexer: quoted scalars and comments are skipped, and `[` or `{` counts
/// only where YAML starts a flow collection (at the start of a token, or anywhere inside one).
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    deeper_than(text, MAX_FLOW_DEPTH)
}

/// [`too_deep`] for any bound. It walks the bytes: every character it looks for is ASCII, and no
/// byte of a multi-byte UTF-8 character is. The position is counted only for the answer.
fn deeper_than(text: &str, max: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // The character before byte `i` (a line break before the first), as code sees it: in code,
    // the previous character is the one before in the text (a closing quote, the line break
    // that ends a comment, or code).
    let prev = |i: usize| -> char {
        match i.checked_sub(1).map(|j| b[j]) {
            None => '\n',
            Some(c) if c.is_ascii() => char::from(c),
            Some(_) => text[..i].chars().next_back().unwrap_or('\n'),
        }
    };
    let token_start = |i: usize| {
        let p = prev(i);
        p.is_whitespace() || matches!(p, '[' | '{' | ',' | ':' | '-' | '?')
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' if prev(i).is_whitespace() => {
                // A comment, to the end of its line.
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
                continue;
            }
            b'"' if token_start(i) => {
                // To the closing quote; a backslash escapes the next character.
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'\'' if token_start(i) => {
                // To the closing quote; two quotes are one quote.
                i += 1;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' if depth > 0 || token_start(i) => {
                depth += 1;
                if depth > max {
                    let line_start = memchr::memrchr(b'\n', &b[..i]).map_or(0, |n| n + 1);
                    let line = 1 + memchr::memchr_iter(b'\n', &b[..i]).count();
                    return Some((line, text[line_start..i].chars().count() + 1));
                }
            }
            b']' | b'}' if depth > 0 => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first version, a char at a time, tracking the position as it goes: what
    /// [`deeper_than`] must agree with.
    ///
    /// Where the text first nests flow collections deeper than [`MAX_FLOW_DEPTH`]: (line, column),
    /// both from 1. A small lexer: quoted scalars and comments are skipped, and `[` or `{` counts
    /// only where YAML starts a flow collection (at the start of a token, or anywhere inside one).
    fn reference(text: &str, max: usize) -> Option<(usize, usize)> {
        #[derive(PartialEq)]
        enum In {
            Code,
            Double,
            Single,
            Comment,
        }
        let mut state = In::Code;
        let mut depth = 0usize;
        let (mut line, mut col) = (1usize, 0usize);
        // The previous character of code, to tell a token's start.
        let mut prev = '\n';
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            col += 1;
            if c == '\n' {
                line += 1;
                col = 0;
            }
            match state {
                In::Comment => {
                    if c == '\n' {
                        state = In::Code;
                        prev = '\n';
                    }
                    continue;
                }
                In::Double => {
                    if c == '\\' {
                        if chars.next() == Some('\n') {
                            line += 1;
                            col = 0;
                        } else {
                            col += 1;
                        }
                    } else if c == '"' {
                        state = In::Code;
                        prev = '"';
                    }
                    continue;
                }
                In::Single => {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            col += 1;
                        } else {
                            state = In::Code;
                            prev = '\'';
                        }
                    }
                    continue;
                }
                In::Code => {}
            }
            let token_start =
                prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-' | '?');
            match c {
                '#' if prev.is_whitespace() => state = In::Comment,
                '"' if token_start => state = In::Double,
                '\'' if token_start => state = In::Single,
                '[' | '{' if token_start || depth > 0 => {
                    depth += 1;
                    if depth > max {
                        return Some((line, col));
                    }
                }
                ']' | '}' if depth > 0 => depth -= 1,
                _ => {}
            }
            prev = c;
        }
        None
    }

    #[test]
    fn agrees_with_the_first_version_on_any_text() {
        // Every character the lexer cares about, with multi-byte ones (a Unicode space among
        // them, which `is_whitespace` counts), in random texts up to 24 characters, bounds 0 to 3.
        const ALPHABET: [char; 19] = [
            '[', '{', ']', '}', '"', '\'', '#', '\\', '\n', ' ', '\t', '-', ':', ',', '?', 'a',
            'é', '\u{a0}', '€',
        ];
        let mut next = crate::test_rng::below();
        for _ in 0..200_000 {
            let len = next(25);
            let text: String = (0..len).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
            let max = next(4);
            assert_eq!(
                deeper_than(&text, max),
                reference(&text, max),
                "{text:?} with a bound of {max}"
            );
        }
    }

    #[test]
    fn real_inventories_pass() {
        let text = "- mac: \"00:1F\"  # a [comment {\n  lines: [{user: \"1001\", display_name: \"[x\"}]\n  keys: {1: {blf: '1002'}}\n  name: a[[[[[ plain\n";
        assert_eq!(too_deep(text), None);
        let nested = format!("x: {}1{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(too_deep(&nested), None);
    }

    #[test]
    fn deep_nesting_is_found_and_located() {
        let deep = format!("x: {}", "[".repeat(100_000));
        assert_eq!(too_deep(&deep), Some((1, 4 + MAX_FLOW_DEPTH)));
        let in_lines = format!("a: 1\nb:\n  - {}", "{x: ".repeat(200));
        assert_eq!(too_deep(&in_lines).map(|p| p.0), Some(3));
        // Brackets hidden in quotes do not count, and do not hide real ones either.
        let quoted = format!("x: \"]]]]\" {}", "[".repeat(70));
        assert!(too_deep(&quoted).is_some());
    }
}
