//! Parsing YAML text into documents, with located errors and bounds on nesting.

#[allow(unused_imports)]
use super::*;

// Parsing.

/// One file's text and its path relative to the repository root.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: String,
    pub text: String,
}

/// Turns a serde_yaml error into a located diagnostic with a hint.
pub(super) fn yaml_error(
    file: &str,
    text: &str,
    err: &serde_yaml::Error,
    base: &[Seg],
) -> Diagnostic {
    let full = err.to_string();
    // serde_yaml writes "<path>: <message> at line L column C"; keep the message alone.
    let cleaned = strip_location(&full);
    let mut msg = cleaned.as_str();
    let mut path = base.to_vec();
    if let Some((p, rest)) = msg.split_once(": ") {
        if p.starts_with('.') || p.starts_with('[') || !p.contains(' ') {
            path.extend(yaml_locate::parse_serde_path(p.trim_start_matches('.')));
            msg = rest;
        }
    }
    // A key written twice (a map's, or a field's): serde_yaml places it where its mapping
    // starts; the second one is shown.
    let repeated = ["duplicate key `", "duplicate field `"]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .and_then(|r| r.split('`').next());
    let pos = repeated
        .and_then(|k| yaml_locate::locate_repeated_key(text, &path, k))
        .or_else(|| err.location().map(|l| (l.line(), l.column())))
        .or_else(|| unknown_field(msg).and_then(|f| yaml_locate::locate_key_under(text, &path, f)))
        .or_else(|| yaml_locate::locate_value(text, &path));
    let hint = if let Some(f) = unknown_field(msg) {
        // serde lists the fields in the message; they move to the hint, once, with the one
        // the unknown field most likely meant.
        let (head, expected) = match msg.split_once(", expected ") {
            Some((head, expected)) => (head, Some(expected)),
            None => (msg, None),
        };
        msg = head;
        let fields = expected.map(|e| {
            e.trim_start_matches("one of ")
                .split(", ")
                .map(|f| f.trim_matches('`'))
                .collect::<Vec<_>>()
        });
        let near = fields
            .as_ref()
            .and_then(|fs| crate::suggest::closest(f, fs.iter().copied()));
        match (near, expected) {
            (Some(near), Some(e)) => format!("did you mean `{near}`? The fields here are {e}"),
            (None, Some(e)) => format!("`{f}` is not a field here; the fields are {e}"),
            _ => format!("remove `{f}`"),
        }
    } else if msg.contains("invalid type") {
        "check the value's type: quote text (\"*98\", \"0612345678\")".to_string()
    } else if msg.starts_with("invalid value") {
        "write a value in the range shown".to_string()
    } else if msg.contains("missing field") {
        "add the field".to_string()
    } else if let Some(k) = repeated {
        format!("keep one `{k}:` in this mapping and remove the other")
    } else if pos.is_some_and(|(l, c)| char_at(text, l, c) == Some('\t')) {
        "YAML indents with spaces only: replace the tab with spaces".to_string()
    } else {
        "fix the YAML syntax at this place (indentation, a missing ':' or quote)".to_string()
    };
    Diagnostic::error(file, plain_numbers(msg))
        .at(pos)
        .hint(hint)
}

/// The character at a 1-based line and column (counted in characters).
fn char_at(text: &str, line: usize, column: usize) -> Option<char> {
    text.lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// serde names the numbers it expected by their Rust types (`expected u16`); a user reads the
/// range instead.
fn plain_numbers(msg: &str) -> String {
    const RANGES: [(&str, &str); 6] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number from 0 to 18446744073709551615"),
        ("i64", "a whole number"),
        ("usize", "a whole number from 0 up"),
    ];
    for (ty, plain) in RANGES {
        if let Some(head) = msg
            .strip_suffix(ty)
            .and_then(|m| m.strip_suffix("expected "))
        {
            return format!("{head}expected {plain}");
        }
    }
    msg.to_string()
}

/// Removes serde_yaml's " at line L column C" (the position is shown on its own line).
pub(super) fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[i + " at line ".len()..];
    let after_numbers = rest
        .split_once(" column ")
        .map(|(_, r)| r.trim_start_matches(|c: char| c.is_ascii_digit()))
        .unwrap_or("");
    format!("{}{after_numbers}", &msg[..i])
}

pub(super) fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.split_once("unknown field `").map(|(_, r)| r))?;
    rest.split('`').next()
}

/// Refuses YAML nested deeper than any inventory needs, before a parser spends time on it.
pub(super) fn check_depth(src: &SourceText) -> Result<(), Diagnostic> {
    match crate::yaml_limits::too_deep(&src.text) {
        None => Ok(()),
        Some(pos) => Err(Diagnostic::error(
            &src.path,
            format!(
                "YAML nested more than {} levels deep",
                crate::yaml_limits::MAX_FLOW_DEPTH
            ),
        )
        .at(Some(pos))
        .hint("an inventory needs a few levels: close the brackets, or write the value in block style")),
    }
}

/// The fields `site.yaml` must have (a test holds this list to what parsing requires).
pub(super) const SITE_REQUIRED: [&str; 4] = ["name", "base_url", "timezone", "pbx"];

/// Parses `site.yaml`.
pub fn parse_site(src: &SourceText) -> Result<SiteDoc, Diagnostic> {
    check_depth(src)?;
    serde_yaml::from_str(&src.text).map_err(|e| {
        let mut d = yaml_error(&src.path, &src.text, &e, &[]);
        // serde names the first missing field only: a site.yaml being written from scratch
        // would get them one run at a time. Those of the top level are named together.
        if e.to_string().starts_with("missing field `") {
            if let Ok(serde_yaml::Value::Mapping(m)) = serde_yaml::from_str(&src.text) {
                let missing: Vec<String> = SITE_REQUIRED
                    .iter()
                    .filter(|f| !m.contains_key(**f))
                    .map(|f| format!("`{f}`"))
                    .collect();
                if missing.len() > 1 {
                    d.message = format!("missing fields {}", missing.join(", "));
                    d.hint = Some("add them (the README's inventory reference shows each)".into());
                }
            }
        }
        d
    })
}

/// Parses a group file (`phones/**/group.yaml`); an empty one sets nothing.
pub fn parse_group(src: &SourceText) -> Result<GroupDoc, Diagnostic> {
    if src.text.trim().is_empty() {
        return Ok(GroupDoc::default());
    }
    check_depth(src)?;
    serde_yaml::from_str(&src.text).map_err(|e| yaml_error(&src.path, &src.text, &e, &[]))
}

/// Parses a phones file (a list of phones). Reports one error per phone that does not parse.
pub fn parse_phones(src: &SourceText) -> Result<Vec<PhoneDoc>, Vec<Diagnostic>> {
    if src.text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // The plain YAML most phones files are written in is read by the fast path; anything else,
    // and every error, by serde_yaml (the same values, and serde_yaml's messages).
    if let Some(phones) = crate::yaml_fast::from_str::<Option<Vec<PhoneDoc>>>(&src.text) {
        return Ok(phones.unwrap_or_default());
    }
    check_depth(src).map_err(|d| vec![d])?;
    let first = match serde_yaml::from_str::<Option<Vec<PhoneDoc>>>(&src.text) {
        Ok(phones) => return Ok(phones.unwrap_or_default()),
        Err(e) => yaml_error(&src.path, &src.text, &e, &[]),
    };
    // Look at every phone on its own, so that all the broken ones are reported at once.
    let mut diags = vec![first.clone()];
    if let Ok(serde_yaml::Value::Sequence(items)) = serde_yaml::from_str(&src.text) {
        for (i, item) in items.into_iter().enumerate() {
            if let Err(e) = serde_yaml::from_value::<PhoneDoc>(item) {
                // serde_yaml already reported this phone's first problem, exactly placed.
                if !within_item(&src.text, i, first.line) {
                    diags.push(yaml_error(&src.path, &src.text, &e, &[idx(i)]));
                }
            }
        }
    } else if first.message.contains("invalid type") && !first.message.contains('.') {
        diags[0].hint =
            Some("a phones file is a YAML list: each phone starts with `- mac: ...`".into());
    }
    Err(diags)
}

/// Whether `line` falls inside the i-th item of the top-level list.
pub(super) fn within_item(text: &str, i: usize, line: usize) -> bool {
    // The next item's start only if there is one: for the last item, an ancestor's position
    // would end it before it starts.
    let start = yaml_locate::locate_exact(text, &[idx(i)]).map(|p| p.0);
    let end = yaml_locate::locate_exact(text, &[idx(i + 1)]).map(|p| p.0);
    match (start, end) {
        (Some(s), Some(e)) => line >= s && line < e,
        (Some(s), None) => line >= s,
        _ => false,
    }
}
