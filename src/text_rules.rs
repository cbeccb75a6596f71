//! What inventory text may hold, field by field. The inventory is untrusted input (a pull request
//! from someone who must not control the PBX, the DHCP server or the web server): every string
//! that reaches a generated file is checked here, during `provsite check`, against the smallest
//! character set its field needs and a length bound, so no value can carry a line break, a
//! section header, a quote or a comment marker into any output. The writers in [`crate::syntax`]
//! check again where they write (defence in depth).

/// The kinds of inventory text, each with its own character set and length bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Free text shown to people (site name, phone name): any printable character.
    Label,
    /// A line's caller name on the phone's screen: printable (Latin-1 is checked apart).
    DisplayName,
    /// A SIP user or auth user: an Asterisk section name and a SIP URI user part.
    SipUser,
    /// A function-key target (BLF or speed dial): digits, letters and the dial characters.
    DialTarget,
    /// A feature code such as `*98`.
    FeatureCode,
    /// A host name or an IP address.
    Host,
    /// A password: printable ASCII without spaces.
    Password,
    /// A file name as phones and web servers see it (entry points, firmware files).
    FileName,
    /// A name of the inventory's own (firmware sets, profiles).
    Name,
    /// The value of a raw vendor setting.
    SettingValue,
}

impl Field {
    /// The most characters the field takes.
    pub fn max_len(self) -> usize {
        match self {
            Field::Label => 128,
            Field::DisplayName => 64,
            Field::SipUser | Field::DialTarget | Field::Password | Field::Name => 64,
            Field::FeatureCode => 16,
            Field::Host => 253,
            Field::FileName => 128,
            Field::SettingValue => 512,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Field::Label => "printable characters (no line breaks, tabs or control characters)",
            Field::DisplayName => {
                "printable characters but `;` (no line breaks, tabs or control characters)"
            }
            Field::SipUser => "letters, digits and . _ + - (starting with a letter, a digit or +)",
            Field::DialTarget => "digits, letters and * # + . _ - (starting with no _)",
            Field::FeatureCode => "digits, * and #",
            Field::Host => "letters, digits, . - and : (a host name or an IP address)",
            Field::Password => "printable ASCII characters but `;`, without spaces",
            Field::FileName => "letters, digits and . _ + - (not starting with .)",
            Field::Name => "letters, digits and . _ - (not starting with .)",
            Field::SettingValue => {
                "printable characters but `;` (no line breaks, tabs or control characters)"
            }
        }
    }

    fn allows(self, c: char) -> bool {
        match self {
            Field::Label => is_printable(c),
            // No value of the vendor's default files holds a `;`, and whether the firmware reads
            // one as the start of a comment is not documented: refused in what phones read.
            Field::DisplayName | Field::SettingValue => is_printable(c) && c != ';',
            Field::SipUser => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'),
            Field::DialTarget => {
                c.is_ascii_alphanumeric() || matches!(c, '*' | '#' | '+' | '.' | '_' | '-')
            }
            Field::FeatureCode => c.is_ascii_digit() || matches!(c, '*' | '#'),
            Field::Host => c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'),
            Field::Password => c.is_ascii_graphic() && c != ';',
            Field::FileName => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'),
            Field::Name => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        }
    }

    fn first_ok(self, c: char) -> bool {
        match self {
            Field::SipUser => c.is_ascii_alphanumeric() || c == '+',
            Field::DialTarget => c != '_',
            Field::FileName | Field::Name => c != '.',
            Field::Label | Field::DisplayName | Field::SettingValue => c != ' ',
            _ => true,
        }
    }
}

/// A character that shows as itself: no C0 or C1 control (NUL, tab, VT, FF, CR, LF, NEL ...), no
/// line or paragraph separator, no byte-order mark, and no bidirectional override (which can make
/// a review read text in another order than a parser does).
pub fn is_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{200e}' | '\u{200f}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c))
}

/// Checks `s` against the field's rules; the error says what is wrong and what the field takes.
pub fn check(field: Field, s: &str) -> Result<(), String> {
    // Most inventory text is ASCII: a byte is a character, and a valid value is known as such
    // without decoding it. Anything else (and every error) goes the whole way below.
    if ascii_valid(field, s) {
        return Ok(());
    }
    check_chars(field, s)
}

/// Whether `s` is ASCII and valid for `field`: what [`check_chars`] accepts, byte by byte.
fn ascii_valid(field: Field, s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    b.len() <= field.max_len()
        && b.iter()
            .all(|&c| c.is_ascii() && field.allows(char::from(c)))
        && field.first_ok(char::from(first))
        && !(ends_without_space(field) && last == b' ')
}

/// The fields whose value may not end with a space.
fn ends_without_space(field: Field) -> bool {
    matches!(
        field,
        Field::Label | Field::DisplayName | Field::SettingValue
    )
}

/// [`check`], character by character.
fn check_chars(field: Field, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".to_string());
    }
    let n = s.chars().count();
    if n > field.max_len() {
        return Err(format!(
            "it is {n} characters long; the most is {}",
            field.max_len()
        ));
    }
    if let Some(c) = s.chars().find(|c| !field.allows(*c)) {
        return Err(format!(
            "it holds {}; it takes {}",
            describe(c),
            field.what()
        ));
    }
    let first = s.chars().next().expect("not empty");
    if !field.first_ok(first) {
        return Err(format!(
            "it starts with {}; it takes {}",
            describe(first),
            field.what()
        ));
    }
    if ends_without_space(field) && s.ends_with(' ') {
        return Err("it ends with a space".to_string());
    }
    Ok(())
}

/// Characters outside Latin-1 with a usual Latin-1 spelling, for display names (the phones'
/// files are ISO-8859-1).
const LATIN1_SPELLINGS: &[(char, &str)] = &[
    ('œ', "oe"),
    ('Œ', "OE"),
    ('’', "'"),
    ('‘', "'"),
    ('‚', ","),
    ('“', "\""),
    ('”', "\""),
    ('„', "\""),
    ('–', "-"),
    ('—', "-"),
    ('‐', "-"),
    ('…', "..."),
    ('€', "EUR"),
    ('ł', "l"),
    ('Ł', "L"),
    ('č', "c"),
    ('Č', "C"),
    ('ć', "c"),
    ('Ć', "C"),
    ('š', "s"),
    ('Š', "S"),
    ('ž', "z"),
    ('Ž', "Z"),
    ('ř', "r"),
    ('Ř', "R"),
    ('ě', "e"),
    ('Ě', "E"),
    ('ő', "o"),
    ('Ő', "O"),
    ('ű', "u"),
    ('Ű', "U"),
    ('ą', "a"),
    ('Ą', "A"),
    ('ę', "e"),
    ('Ę', "E"),
    ('ń', "n"),
    ('Ń', "N"),
    ('ś', "s"),
    ('Ś', "S"),
    ('ź', "z"),
    ('Ź', "Z"),
    ('ż', "z"),
    ('Ż', "Z"),
    ('ğ', "g"),
    ('Ğ', "G"),
    ('ş', "s"),
    ('Ş', "S"),
    ('ı', "i"),
    ('İ', "I"),
    ('ț', "t"),
    ('Ț', "T"),
    ('ș', "s"),
    ('Ș', "S"),
    ('ă', "a"),
    ('Ă', "A"),
    ('ā', "a"),
    ('ē', "e"),
    ('ī', "i"),
    ('ō', "o"),
    ('ū', "u"),
];

/// `s` with every character that has a usual Latin-1 spelling replaced by it, and the characters
/// replaced. Characters with none are left for the caller to refuse.
pub fn latin1_spelling(s: &str) -> (String, Vec<char>) {
    // Every character the table spells is beyond Latin-1 (a test says so): text within it, the
    // usual case, is its own spelling.
    if s.chars().all(|c| (c as u32) <= 0xFF) {
        return (s.to_string(), Vec::new());
    }
    let mut out = String::with_capacity(s.len());
    let mut replaced = Vec::new();
    for c in s.chars() {
        match LATIN1_SPELLINGS.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => {
                out.push_str(to);
                if !replaced.contains(&c) {
                    replaced.push(c);
                }
            }
            None => out.push(c),
        }
    }
    (out, replaced)
}

/// A character named so that a terminal shows it safely.
pub fn describe(c: char) -> String {
    match c {
        '\n' => "a line break (\\n)".to_string(),
        '\r' => "a carriage return (\\r)".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c if !is_printable(c) => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// Text made safe to print on a terminal or in a message: control characters are shown escaped,
/// so inventory or file content cannot move the cursor, clear the screen or fake a line.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_printable(c) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// [`shown`] for a message of several lines: line breaks are kept, every other control character
/// is escaped.
pub fn shown_lines(s: &str) -> String {
    s.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

/// Whether every character of the text exists in ISO-8859-1, the character set the phones'
/// files are written in.
pub fn is_latin1(text: &str) -> bool {
    text.chars().all(|c| (c as u32) <= 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [Field; 10] = [
        Field::Label,
        Field::DisplayName,
        Field::SipUser,
        Field::DialTarget,
        Field::FeatureCode,
        Field::Host,
        Field::Password,
        Field::FileName,
        Field::Name,
        Field::SettingValue,
    ];

    /// The ASCII shortcut accepts exactly what the character-by-character check accepts: every
    /// string of up to two characters from a set that holds each rule's edge (controls, space,
    /// `;`, `.`, `_`, `+`, DEL, Latin-1 and beyond), and strings at and past each length bound.
    #[test]
    fn the_ascii_shortcut_accepts_what_the_whole_check_accepts() {
        let mut alphabet: Vec<char> = (0u8..=0x7f).map(char::from).collect();
        alphabet.extend([
            '\u{80}', '\u{85}', '\u{a0}', 'é', 'œ', '\u{2028}', '\u{202e}', '\u{feff}',
        ]);
        let mut strings = vec![String::new()];
        for a in &alphabet {
            strings.push(a.to_string());
            for b in &alphabet {
                strings.push(format!("{a}{b}"));
            }
        }
        for field in FIELDS {
            let n = field.max_len();
            for len in [n - 1, n, n + 1] {
                strings.push("a".repeat(len));
                strings.push(format!("{} ", "a".repeat(len - 1)));
            }
        }
        let mut shortcut = 0;
        for field in FIELDS {
            for s in &strings {
                let whole = check_chars(field, s);
                if ascii_valid(field, s) {
                    shortcut += 1;
                    assert_eq!(whole, Ok(()), "{field:?} {s:?}");
                }
                assert_eq!(check(field, s), whole, "{field:?} {s:?}");
                if whole.is_ok() && s.is_ascii() {
                    assert!(ascii_valid(field, s), "{field:?} {s:?} not taken short");
                }
            }
        }
        assert!(shortcut > 10_000, "{shortcut} strings took the shortcut");
    }

    #[test]
    fn the_spelled_characters_are_all_beyond_latin1() {
        // latin1_spelling leaves Latin-1 text alone without looking it up: that holds only while
        // the table spells nothing Latin-1 can write.
        assert!(LATIN1_SPELLINGS.iter().all(|(c, _)| (*c as u32) > 0xFF));
        assert_eq!(latin1_spelling("Zoé Müller"), ("Zoé Müller".into(), vec![]));
        assert_eq!(
            latin1_spelling("Œuvre – ok"),
            ("OEuvre - ok".into(), vec!['Œ', '–'])
        );
    }

    #[test]
    fn each_field_takes_what_it_needs_and_nothing_more() {
        let ok = [
            (Field::SipUser, "1001"),
            (Field::SipUser, "+33123"),
            (Field::SipUser, "jean.dupont_2"),
            (Field::DialTarget, "*98"),
            (Field::DialTarget, "#31#0612345678"),
            (Field::FeatureCode, "*8"),
            (Field::Host, "192.0.2.5"),
            (Field::Host, "pbx.acme.test"),
            (Field::Password, r"ab\cd#e!f"),
            (Field::FileName, "v2030SG.R11.1.SED.101223.2.74.zz"),
            (Field::Label, "Acme Paris — siège"),
            (Field::DisplayName, "Hélène Dupont"),
        ];
        for (f, s) in ok {
            assert_eq!(check(f, s), Ok(()), "{f:?} {s}");
        }
        let bad = [
            (Field::SipUser, "1001\n\n[evil]"),
            (Field::SipUser, "1000](!)"),
            (Field::SipUser, "1000](tmpl)"),
            (Field::SipUser, "_X."),
            (Field::SipUser, ""),
            (Field::DialTarget, "_X."),
            (Field::DialTarget, "1002,hint"),
            (Field::Host, "pbx.test\nexten"),
            (Field::Password, "with space"),
            (Field::Password, "tab\there"),
            (Field::Password, "é"),
            (Field::Password, "a;b"),
            (Field::DisplayName, "a;b"),
            (Field::SettingValue, "a;b"),
            (Field::FileName, "ST2030S\\"),
            (Field::FileName, ".hidden"),
            (Field::FileName, "../up"),
            (Field::Label, "Acme\nexten => 666,1,System(x)\n;"),
            (Field::Label, "nul\0"),
            (Field::Label, "vt\u{b}"),
            (Field::Label, "ff\u{c}"),
            (Field::Label, "nel\u{85}"),
            (Field::Label, "ls\u{2028}"),
            (Field::Label, "rlo\u{202e}"),
            (Field::Label, " leading"),
            (Field::DisplayName, "trailing "),
        ];
        for (f, s) in bad {
            assert!(check(f, s).is_err(), "{f:?} {s:?} was accepted");
        }
        assert!(check(Field::Label, &"x".repeat(129)).is_err());
        assert!(check(Field::SettingValue, &"x".repeat(50_000_000 / 1000)).is_err());
    }

    #[test]
    fn usual_spellings_replace_what_latin1_lacks() {
        assert_eq!(
            latin1_spelling("Œuvre d’Łukasz – 5 €"),
            (
                "OEuvre d'Lukasz - 5 EUR".to_string(),
                vec!['Œ', '’', 'Ł', '–', '€']
            )
        );
        assert_eq!(latin1_spelling("Hélène").1, Vec::<char>::new());
        assert_eq!(latin1_spelling("東京").0, "東京");
    }

    #[test]
    fn shown_text_has_no_control_characters() {
        assert_eq!(shown("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }
}
