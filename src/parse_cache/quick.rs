//! The parse cache's entries read the quick way: an entry is the JSON serde_json writes for a
//! file's phones, and the phones of most inventories use a few of a phone's fields. When an
//! entry uses only those, in the order serde_json writes them, with no string to unescape, it is
//! read here; anything else gives None, and serde_json reads the entry. Whatever this reads,
//! serde_json reads the same (see the tests).

use std::collections::BTreeMap;

use crate::inventory::{KeyDoc, LineDoc, PhoneDoc, Text, UniqueMap};
use crate::json_shape::Cursor;

/// The shortest a phone's entry can be: `,{"mac":"","model":""}`.
const MIN_PHONE: usize = 22;
/// The most phones room is made for at once (a phones file rarely holds more).
const MAX_ROOM: usize = 4096;

/// A file's phones, if its entry is in the shape read here.
pub fn phones(text: &str) -> Option<Vec<PhoneDoc>> {
    let mut r = Reader {
        c: Cursor::new(text),
    };
    r.take("[")?;
    let mut docs = Vec::new();
    if r.eat("]") {
        return r.rest.is_empty().then_some(docs);
    }
    loop {
        let before = r.rest.len();
        docs.push(r.phone()?);
        if docs.len() == 1 {
            // The room for the rest, guessed from the first phone's length: a phone is large
            // (its scope fields), and a list grown phone by phone copies them again and again.
            // The text bounds the guess (no phone takes fewer than `{"mac":"","model":""}`), and
            // so does a cap: past it, the list grows as before.
            let first = before - r.rest.len();
            docs.reserve((r.rest.len() / first.max(MIN_PHONE) + 1).min(MAX_ROOM));
        }
        if r.eat("]") {
            break;
        }
        r.take(",")?;
    }
    r.rest.is_empty().then_some(docs)
}

/// A [`Cursor`] over compact JSON, with its fields' `,"<name>":` read without making the text.
struct Reader<'t> {
    c: Cursor<'t>,
}

impl<'t> std::ops::Deref for Reader<'t> {
    type Target = Cursor<'t>;
    fn deref(&self) -> &Cursor<'t> {
        &self.c
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.c
    }
}

impl Reader<'_> {
    /// `,"<name>":` and a string, if the text goes on with that field.
    fn optional_field(&mut self, name: &str) -> Option<Option<String>> {
        if self.field(name) {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    /// Whether the text goes on with `,"<name>":` (taken).
    fn field(&mut self, name: &str) -> bool {
        let Some(rest) = self
            .rest
            .strip_prefix(",\"")
            .and_then(|r| r.strip_prefix(name))
            .and_then(|r| r.strip_prefix("\":"))
        else {
            return false;
        };
        self.c.rest = rest;
        true
    }

    /// An unsigned integer as serde_json writes one, up to `max`.
    fn unsigned(&mut self, max: u64) -> Option<u64> {
        u64::try_from(self.integer(false)?)
            .ok()
            .filter(|n| *n <= max)
    }

    /// A list of strings: `[...]`.
    fn strings(&mut self) -> Option<Vec<String>> {
        self.take("[")?;
        let mut list = Vec::new();
        if self.eat("]") {
            return Some(list);
        }
        loop {
            list.push(self.string()?);
            if self.eat("]") {
                return Some(list);
            }
            self.take(",")?;
        }
    }

    fn phone(&mut self) -> Option<PhoneDoc> {
        self.take("{\"mac\":")?;
        let mac = Text(self.string()?);
        self.take(",\"model\":")?;
        let model = self.string()?;
        let name = self.optional_field("name")?;
        let profile = self.optional_field("profile")?;
        let mut lines = Vec::new();
        if self.field("lines") {
            self.take("[")?;
            if !self.eat("]") {
                loop {
                    lines.push(self.line()?);
                    if self.eat("]") {
                        break;
                    }
                    self.take(",")?;
                }
            }
        }
        let keys = if self.field("keys") {
            self.keys()?
        } else {
            UniqueMap::default()
        };
        let ip = self.optional_field("ip")?;
        let codecs = if self.field("codecs") {
            Some(self.strings()?)
        } else {
            None
        };
        let firmware = self.optional_field("firmware")?;
        // Any other field (settings, a scope field) is left to serde_json.
        self.take("}")?;
        // Every field, by name: one added to the document fails to compile here until it is
        // read here or left to serde_json.
        Some(PhoneDoc {
            mac,
            model,
            name,
            profile,
            lines,
            keys,
            settings: UniqueMap::default(),
            ip,
            codecs,
            firmware,
            timezone: None,
            ntp_zone: None,
            language: None,
            country: None,
            ntp: None,
            pbx: None,
            admin_password: None,
            admin_user: None,
            user_password: None,
            user_id: None,
            vlan: None,
            dns: None,
            directory: None,
            autoprovision: None,
        })
    }

    fn line(&mut self) -> Option<LineDoc> {
        self.take("{\"user\":")?;
        let user = Text(self.string()?);
        let auth_user = self.optional_field("auth_user")?.map(Text);
        let display_name = self.optional_field("display_name")?;
        // A password (a literal or `{env: ...}`) is left to serde_json.
        let host = self.optional_field("host")?;
        let port = if self.field("port") {
            Some(u16::try_from(self.unsigned(u16::MAX.into())?).ok()?)
        } else {
            None
        };
        let transport = self.optional_field("transport")?;
        let backup_host = self.optional_field("backup_host")?;
        let voicemail = if self.field("voicemail") {
            if self.eat("true") {
                Some(true)
            } else {
                self.take("false")?;
                Some(false)
            }
        } else {
            None
        };
        self.take("}")?;
        Some(LineDoc {
            user,
            auth_user,
            display_name,
            password: None,
            host,
            port,
            transport,
            backup_host,
            voicemail,
        })
    }

    /// Function keys: `{"1":{"blf":"..."},...}`, in increasing order, each once.
    fn keys(&mut self) -> Option<UniqueMap<u32, KeyDoc>> {
        self.take("{")?;
        let mut keys: Vec<(u32, KeyDoc)> = Vec::new();
        if !self.eat("}") {
            loop {
                self.take("\"")?;
                let n = u32::try_from(self.unsigned(u32::MAX.into())?).ok()?;
                self.take("\":{")?;
                let k = self.key_fields()?;
                if keys.last().is_some_and(|(last, _)| *last >= n) {
                    return None;
                }
                keys.push((n, k));
                if self.eat("}") {
                    break;
                }
                self.take(",")?;
            }
        }
        Some(UniqueMap(keys.into_iter().collect::<BTreeMap<_, _>>()))
    }

    /// A key's fields after its `{`, up to and with its `}`.
    fn key_fields(&mut self) -> Option<KeyDoc> {
        let mut k = KeyDoc {
            blf: None,
            speed_dial: None,
            line: None,
        };
        let mut first = true;
        for (name, slot) in [
            ("blf", &mut k.blf),
            ("speed_dial", &mut k.speed_dial),
            ("line", &mut k.line),
        ] {
            let prefix = if first { "\"" } else { ",\"" };
            let Some(rest) = self
                .rest
                .strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(name))
                .and_then(|r| r.strip_prefix("\":"))
            else {
                continue;
            };
            self.c.rest = rest;
            *slot = Some(Text(self.string()?));
            first = false;
        }
        self.take("}")?;
        Some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{parse_phones, SourceText};

    /// A phones file's entry, as a build writes it in the cache.
    fn entry(yaml: &str) -> String {
        let docs = parse_phones(&SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: yaml.into(),
        })
        .unwrap();
        String::from_utf8(super::super::encode(&docs).unwrap()).unwrap()
    }

    fn by_serde_json(text: &str) -> Option<Vec<PhoneDoc>> {
        serde_json::from_str(text).ok()
    }

    const READ_HERE: &str = r#"
- mac: "00:1F:9F:00:00:01"
  model: ST2030
  name: Desk one é
  profile: sales
  lines:
    - {user: 1001, auth_user: a1001, display_name: Zoé, host: pbx.example, port: 5062,
       transport: tcp, backup_host: "off", voicemail: false}
    - {user: "1002", voicemail: true}
  keys: {1: {blf: "1003"}, 2: {speed_dial: "0612"}, 3: {line: "1"}, 10: {blf: 7, speed_dial: 8}}
  ip: 192.0.2.5
  codecs: [g722, alaw]
  firmware: next
- {mac: 001F9F000002, model: TB30}
- {mac: 001F9F000003, model: ST2022, lines: [{user: "x"}], codecs: []}
"#;

    #[test]
    fn an_entry_of_the_fields_read_here_is_read_as_serde_json_reads_it() {
        let text = entry(READ_HERE);
        let quick = phones(&text).expect("read the quick way");
        assert_eq!(quick.len(), 3);
        assert_eq!(Some(quick), by_serde_json(&text));
        assert_eq!(phones("[]"), Some(Vec::new()));
    }

    #[test]
    fn an_entry_with_other_fields_is_left_to_serde_json() {
        for extra in [
            "  settings: {ipp: {AutoAnsMode: \"1\"}}\n",
            "  timezone: Europe/Paris\n",
            "  vlan: off\n",
            "  admin_password: {env: ADMIN}\n",
            "  lines: [{user: \"1\", password: {env: PW}}]\n",
            "  lines: [{user: \"1\", password: secret-1}]\n",
            "  name: Desk \"q\"\n",
        ] {
            let text = entry(&format!("- mac: 001F9F000009\n  model: ST2030\n{extra}"));
            assert_eq!(phones(&text), None, "{extra}");
            let cache = ParseCacheText(&text);
            assert_eq!(cache.get(), by_serde_json(&text), "{extra}");
        }
    }

    /// What [`super::super::ParseCache::get`] does with an entry's text.
    struct ParseCacheText<'t>(&'t str);

    impl ParseCacheText<'_> {
        fn get(&self) -> Option<Vec<PhoneDoc>> {
            phones(self.0).or_else(|| by_serde_json(self.0))
        }
    }

    #[test]
    fn whatever_the_quick_reader_reads_serde_json_reads_the_same() {
        // Every byte of an entry changed to each of these, a space put in everywhere, and the
        // entry cut at every byte.
        let text = entry(READ_HERE).into_bytes();
        let edits = b"\"\\-0 9,:{}[]ax";
        let mut quick = 0;
        crate::json_shape::each_one_byte_edit(&text, edits, |t| {
            if let Some(docs) = phones(t) {
                quick += 1;
                assert_eq!(Some(docs), by_serde_json(t), "{t}");
            }
        });
        assert!(quick > 100, "{quick}");
    }
}
