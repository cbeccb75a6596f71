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
        let token_start = prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-' | '?');
        match c {
            '#' if prev.is_whitespace() => state = In::Comment,
            '"' if token_start => state = In::Double,
            '\'' if token_start => state = In::Single,
            '[' | '{' if token_start || depth > 0 => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_inventories_pass() {
        let text = "- mac: \"00:1F\"  # a [comment {\n  lines: [{user: \"1001\", display_name: \"[x\"}]\n  keys: {1: {blf: '1002'}}\n  name: a[[[[[ plain\n";
        assert_eq!(too_deep(text), None);
        let nested = format!("x: {}1{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(too_deep(&nested), None);
    }

    #[test]
    fn deep_nesting_is_found_fast_and_located() {
        let deep = format!("x: {}", "[".repeat(100_000));
        let t = std::time::Instant::now();
        assert_eq!(too_deep(&deep), Some((1, 4 + MAX_FLOW_DEPTH)));
        assert!(t.elapsed().as_secs() < 5);
        let in_lines = format!("a: 1\nb:\n  - {}", "{x: ".repeat(200));
        assert_eq!(too_deep(&in_lines).map(|p| p.0), Some(3));
        // Brackets hidden in quotes do not count, and do not hide real ones either.
        let quoted = format!("x: \"]]]]\" {}", "[".repeat(70));
        assert!(too_deep(&quoted).is_some());
    }
}
