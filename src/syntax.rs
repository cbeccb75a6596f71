//! How a value is written in each target syntax provsite generates: Asterisk configuration and
//! dialplan, ISC dhcpd, dnsmasq, web-server configurations, Markdown. The inventory was checked by
//! [`crate::text_rules`]; these writers check again where they write and refuse (never pass
//! through) a value their syntax cannot hold, so a rule missed upstream gives an error, not a
//! directive.

use crate::text_rules::is_printable;

/// A value a target syntax cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{value}` cannot be written in {syntax}: {why}")]
pub struct Unwritable {
    pub what: String,
    pub value: String,
    pub syntax: &'static str,
    pub why: String,
}

fn unwritable(what: &str, value: &str, syntax: &'static str, why: impl Into<String>) -> Unwritable {
    Unwritable {
        what: what.to_string(),
        value: crate::text_rules::shown(value),
        syntax,
        why: why.into(),
    }
}

/// Whether `c` ends a line for some reader: LF, CR, VT, FF, NEL, LS, PS.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// A comment block: every line of `text` behind `prefix`, whatever line breaks the text holds, and
/// every other character that is not printable shown as `?`. Text in a comment can never end it.
pub fn comment_block(prefix: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split(is_line_break) {
        out.push_str(prefix);
        if !line.is_empty() {
            out.push(' ');
            out.extend(line.chars().map(|c| if is_printable(c) { c } else { '?' }));
        }
        out.push('\n');
    }
    out
}

/// A one-line text for a comment or a report: line breaks become spaces, other control
/// characters `?`.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_line_break(c) {
                ' '
            } else if is_printable(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Asterisk's configuration files (`pjsip.conf`, `sip.conf`, `extensions.conf`).
pub mod asterisk {
    use super::*;

    const SYNTAX: &str = "an Asterisk configuration file";

    /// A value after `key=`: [`text`], and one that begins with `>` written after a space.
    /// Asterisk reads `key=>x` as its object syntax `key => x` and drops the `>`; the space, which
    /// it strips, keeps it.
    pub fn value(what: &str, s: &str) -> Result<String, Unwritable> {
        let t = text(what, s)?;
        Ok(if t.starts_with('>') {
            format!(" {t}")
        } else {
            t
        })
    }

    /// Text within a value (a caller ID's quoted name): Asterisk reads up to the end of the
    /// line, strips surrounding white space, and treats `;` as the start of a comment unless
    /// written `\;` (the only escape its parser undoes: a backslash anywhere else is kept as it
    /// is).
    pub fn text(what: &str, s: &str) -> Result<String, Unwritable> {
        if let Some(c) = s.chars().find(|c| !is_printable(*c)) {
            return Err(unwritable(
                what,
                s,
                SYNTAX,
                format!("it holds {}", crate::text_rules::describe(c)),
            ));
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(unwritable(
                what,
                s,
                SYNTAX,
                "Asterisk strips white space around a value",
            ));
        }
        Ok(s.replace(';', "\\;"))
    }

    /// A section name (`[name]`), which is also a SIP user and a dialplan extension here: no
    /// brackets or parentheses (they make templates and inheritance), no `!`, no `_` first (a
    /// dialplan pattern), no `;`, `,`, `=` or spaces.
    pub fn name(what: &str, s: &str) -> Result<String, Unwritable> {
        let ok = !s.is_empty()
            && s.len() <= 80
            && !s.starts_with('_')
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | '*' | '#')
            });
        if ok {
            Ok(s.to_string())
        } else {
            Err(unwritable(
                what,
                s,
                SYNTAX,
                "a section name or extension takes letters, digits and . _ + - * # (not _ first)",
            ))
        }
    }
}

/// ISC dhcpd and dnsmasq: a value inside double quotes.
pub mod dhcp {
    use super::*;

    /// The text of a quoted string for dhcpd.conf or dnsmasq.conf: printable ASCII, with no `"` or
    /// `\` (each reader has its own escapes; provsite needs none).
    pub fn quoted(what: &str, s: &str, syntax: &'static str) -> Result<String, Unwritable> {
        match s
            .chars()
            .find(|c| !c.is_ascii_graphic() && *c != ' ' || matches!(c, '"' | '\\'))
        {
            Some(c) => Err(unwritable(
                what,
                s,
                syntax,
                format!("it holds {}", crate::text_rules::describe(c)),
            )),
            None => Ok(s.to_string()),
        }
    }
}

/// Markdown, as a pull-request comment shows it.
pub mod markdown {
    use super::one_line;

    /// Text that renders as itself: one line, every character Markdown or HTML could read as
    /// markup escaped with a backslash (`<` and `>` as entities, so no HTML comment or tag can
    /// open).
    pub fn text(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 8);
        for c in one_line(s).chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-'
                | '.' | '!' | '|' | '~' | '"' | '\'' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_end_at_every_line_break() {
        let c = comment_block(";", "a\nexten => 1\rb\u{85}c\u{2028}d\u{b}e\u{c}f\0g");
        for line in c.lines() {
            assert!(line.starts_with(';'), "{c:?}");
        }
        assert_eq!(c.lines().count(), 7);
        assert!(!c.contains('\0'));
    }

    #[test]
    fn asterisk_values_escape_only_the_semicolon() {
        assert_eq!(asterisk::value("password", r"ab\cd").unwrap(), r"ab\cd");
        assert_eq!(asterisk::value("password", "a;b").unwrap(), r"a\;b");
        assert_eq!(asterisk::value("password", r"a\;b").unwrap(), r"a\\;b");
        assert!(asterisk::value("password", "a\nb").is_err());
        assert!(asterisk::value("password", " a").is_err());
    }

    #[test]
    fn asterisk_values_that_begin_with_an_arrow_read_back_whole() {
        for pw in [">", ">abc", "=>x", "a>b"] {
            let line = format!("password={}", asterisk::value("password", pw).unwrap());
            let conf = format!("[1001-auth]\n{line}\n");
            let c =
                crate::asterisk_conf::Config::parse(std::path::Path::new("t.conf"), &conf).unwrap();
            assert_eq!(c.sections[0].get("password"), Some(pw), "{line}");
        }
        assert_eq!(asterisk::value("password", "abc").unwrap(), "abc");
    }

    #[test]
    fn asterisk_names_refuse_templates_and_patterns() {
        for bad in ["1000](!)", "1000](tmpl)", "_X.", "a b", "a;b", "a\n[b]", ""] {
            assert!(asterisk::name("user", bad).is_err(), "{bad:?}");
        }
        assert_eq!(asterisk::name("user", "1001").unwrap(), "1001");
    }

    #[test]
    fn markdown_text_cannot_open_markup() {
        let t = markdown::text("x\nNo phone is affected.\n<!-- [a](b) `c` *d*");
        assert!(!t.contains('\n') && !t.contains('<'), "{t}");
        assert!(t.contains("&lt;\\!\\-\\-"), "{t}");
    }
}
