//! The fast path against serde_yaml: the same values wherever it reads a text.

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
    " ", " ", "  ", "\n", "\n  ", "-", "- ", ":", ": ", "#", " #", "\"", "'", "{", "}", "[", "]",
    ",", ", ", "&", "*", "!", "|", ">", "?", "~", "0", "1", "12", "a", "x:", ".", "\t", "\\", "é",
    "null", "true", "%", "@", "`", "---", "...", "\r",
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

#[test]
fn the_characters_test_passes_over_ascii_runs_and_agrees_with_one_character_at_a_time() {
    // What each character alone answers, as the test did before it passed over ASCII runs.
    let one = |c: char| match c {
        '\n' => true,
        c if c.is_ascii() => (' '..='~').contains(&c),
        '\u{80}'..='\u{a0}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
            false
        }
        _ => true,
    };
    // Runs of ASCII around the 64-byte block, and every kind of character the test looks at.
    let pieces = [
        "a", "\n", "é", "\t", "\r", "\u{7f}", "\u{85}", "\u{a0}", "\u{2028}", "\u{feff}", "☎", "𝄞",
        "~", " ", "\u{1f}",
    ];
    let mut below = crate::test_rng::below();
    for _ in 0..20_000 {
        let text: String = (0..below(8))
            .map(|_| {
                let p = pieces[below(pieces.len())];
                if below(3) == 0 {
                    "x".repeat(below(140)) + p
                } else {
                    p.to_string()
                }
            })
            .collect();
        assert_eq!(super::plain_chars(&text), text.chars().all(one), "{text:?}");
    }
}
