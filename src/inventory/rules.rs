//! Rules shared by the site and the phones: MACs, URLs, managed keys, raw settings, passwords.

#[allow(unused_imports)]
use super::*;

// Resolving and validating.

/// Normalises a MAC address written in any usual notation to 12 upper-case hex digits.
pub fn normalize_mac(s: &str) -> Option<crate::mac::Mac> {
    crate::mac::Mac::parse(s)
}

/// Checks a base URL: http(s), a host, ending with `/`.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if url.contains('?') || url.contains('#') {
        return Err("it must not hold a query (?) or a fragment (#)".into());
    }
    // The URL is written into entry points, DHCP option 43 (quoted) and web-server
    // configurations: only the characters a plain URL path needs.
    if let Some(c) = url.chars().find(|c| {
        !(c.is_ascii_alphanumeric()
            || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '%' | '@' | '[' | ']'))
    }) {
        return Err(format!(
            "it holds {}; a base URL takes letters, digits and - . _ ~ : / % @ [ ] (percent-encode the rest)",
            text_rules::describe(c)
        ));
    }
    if url.len() > 512 {
        return Err("it is longer than 512 characters".into());
    }
    if !url.ends_with('/') {
        return Err("it must end with /".into());
    }
    Ok(())
}

/// Checks raw settings against the vocabularies of `models` and turns values into strings.
pub(super) fn resolve_settings(
    r: &mut Reporter,
    file: &str,
    base: &[Seg],
    doc: &SettingsDoc,
    models: &[ModelId],
) -> Settings {
    let mut out = Settings::new();
    for (section, keys) in doc {
        for (k, value) in keys {
            let mut path = base.to_vec();
            path.push(key(section.clone()));
            path.push(key(k.clone()));
            let managed = models
                .iter()
                .find_map(|m| m.family().managed_key(section, k));
            if let Some(hint) = managed {
                r.error_at_key(
                    file,
                    &path,
                    format!("{section}.{k} is managed by provsite"),
                    hint,
                );
                continue;
            }
            for m in models {
                let vocab = m.vocabulary();
                if !vocab.has_key(section, k) {
                    let hint = match vocab.suggest(section, k) {
                        Some(s) => format!("did you mean {s}? (keys known to the {m} firmware)"),
                        None => format!(
                            "the {m} firmware has no such key; check the spelling and the section"
                        ),
                    };
                    r.error_at_key(
                        file,
                        &path,
                        format!("unknown key {section}.{k} for {m}"),
                        hint,
                    );
                }
            }
            let text = match value {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                _ => {
                    r.error(
                        file,
                        &path,
                        format!("{section}.{k} must be a string or a number"),
                        "quote the value: \"1\"",
                    );
                    continue;
                }
            };
            if text.contains('\n') || text.contains('\r') {
                r.error(file, &path, format!("the value of {section}.{k} holds a line break"), "a configuration value is one line: remove the line break (a YAML `|` or `>` block adds one)");
                continue;
            }
            if !text.is_empty()
                && !r.text(
                    file,
                    &path,
                    Field::SettingValue,
                    &format!("value of {section}.{k}"),
                    &text,
                )
            {
                continue;
            }
            if !is_latin1(&text) {
                r.error(
                    file,
                    &path,
                    format!("the value of {section}.{k} has characters ISO-8859-1 cannot encode"),
                    "the phones read Latin-1 only: replace those characters",
                );
                continue;
            }
            out.entry(section.clone())
                .or_default()
                .insert(k.clone(), text);
        }
    }
    out
}

pub(super) fn merge_settings(base: &Settings, over: &Settings) -> Settings {
    let mut out = base.clone();
    for (s, keys) in over {
        let sec = out.entry(s.clone()).or_default();
        for (k, v) in keys {
            sec.insert(k.clone(), v.clone());
        }
    }
    out
}

pub(super) fn secret_of(doc: &SecretDoc) -> Secret {
    match doc {
        SecretDoc::Literal(s) => Secret::Literal(s.clone()),
        SecretDoc::Env(n) => Secret::Env(n.clone()),
    }
}

/// What a field takes, for hints.
pub(super) fn field_hint(field: Field) -> &'static str {
    match field {
        Field::SipUser => "an extension or a user name such as 1001 or jdupont",
        Field::DialTarget => "an extension or a number such as 1002, *98 or 0612345678",
        Field::FeatureCode => "the feature code, quoted: \"*98\"",
        Field::Host => "a host name or an IP address",
        Field::Password => "printable ASCII characters without spaces, or use {env: NAME}",
        Field::FileName => "a plain file name such as ST2030S.inf",
        Field::Name => "letters, digits, . _ and -",
        Field::Label | Field::DisplayName | Field::SettingValue => {
            "printable characters on one line"
        }
    }
}
