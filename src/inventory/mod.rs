//! The inventory: `site.yaml`, `phones/**/group.yaml` and `phones/**/*.yaml` parsed into typed
//! documents, inheritance resolved (site → model → groups → profile → phone, `scope.rs`) and every
//! rule checked, with each problem located.
//!
//! Parsing is separate from reading files (the source stage reads; this stage takes strings), so
//! tests feed strings and the history walk reuses parsed files by blob id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::error::Diagnostic;
use crate::family::ModelId;
use crate::tables::{self, Language, ZoneError};
use crate::text_rules::is_latin1;
use crate::text_rules::{self, Field};
use crate::yaml_locate::{self, idx, key, Seg};

mod docs;
mod groups;
mod model;
mod parse;
mod phones;
pub mod record;
mod report;
mod rules;
mod scope;
mod site;

pub use docs::*;
pub use model::*;
pub use parse::*;
pub use phones::{resolve_own, take_own, FilePhones, OwnParts};
pub use report::{diagnostic_at, LateText};
pub use rules::{check_base_url, normalize_mac};
pub use scope::{Autoprovision, CheckSync, Directory, Periodic, Scope, Vlan, MAX_DIRECTORIES};
pub use site::join_repo_path;

use groups::*;
use phones::*;
use report::*;
use rules::*;
use scope::*;
use site::*;

/// The factory web admin password: a site that keeps it is open to anyone on the LAN.
pub const FACTORY_ADMIN_PASSWORD: &str = "784518";

/// Validates the whole inventory. Returns it only when no error remains; diagnostics include
/// warnings either way.
pub fn resolve(
    site_src: &SourceText,
    group_srcs: &[SourceText],
    phone_srcs: &[(SourceText, Arc<Vec<PhoneDoc>>)],
    inventory_dir: &str,
) -> (Option<Inventory>, Vec<Diagnostic>) {
    let texts: Vec<&SourceText> = phone_srcs.iter().map(|(s, _)| s).collect();
    let first = resolve_site_first(site_src, inventory_dir);
    // Each file's phones as far as their own entries go, on several threads when there are
    // files enough to share (a thread costs more than a few files).
    let own: Vec<OwnParts> = match &first {
        Ok(first) if phone_srcs.len() >= 8 => {
            crate::parallel::in_chunks(phone_srcs, crate::parallel::cores(), |_, part| {
                part.iter()
                    .map(|(src, docs)| resolve_own(first, src, docs, &()))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect()
        }
        Ok(first) => phone_srcs
            .iter()
            .map(|(src, docs)| resolve_own(first, src, docs, &()))
            .collect(),
        Err(_) => Vec::new(),
    };
    resolve_each(
        first.as_ref(),
        site_src,
        group_srcs,
        PhoneTexts::read(&texts),
        phone_srcs
            .iter()
            .zip(own)
            .map(|((s, d), own)| (s, FilePhones::Parsed(d.clone(), own))),
        &mut HashSet::new(),
    )
}

/// Every phones file's text, for locating problems, and their size.
pub struct PhoneTexts<'s, 't> {
    /// Each phones file; a text left empty (not read) is asked of `late` when needed.
    pub texts: &'t [&'s SourceText],
    pub late: &'s dyn LateText,
    /// The files' size in bytes, their texts read or not.
    pub bytes: usize,
}

impl<'s, 't> PhoneTexts<'s, 't> {
    /// Texts all read.
    pub fn read(texts: &'t [&'s SourceText]) -> Self {
        PhoneTexts {
            texts,
            late: &(),
            bytes: texts.iter().map(|t| t.text.len()).sum(),
        }
    }
}

/// `site.yaml` parsed and resolved on its own, before any phone: what resolving a phone's own
/// entry needs ([`resolve_own`]), shared by the threads that do it.
pub struct SiteFirst {
    doc: SiteDoc,
    site: Option<Site>,
    diags: Vec<Diagnostic>,
}

impl SiteFirst {
    /// The site, when it has no error of its own (what the firmware can be checked for before
    /// the phones are resolved).
    pub fn valid_site(&self) -> Option<&Site> {
        self.site
            .as_ref()
            .filter(|_| !self.diags.iter().any(Diagnostic::is_error))
    }
}

/// Parses and resolves `site.yaml` alone; a file that does not parse is its one diagnostic.
pub fn resolve_site_first(
    site_src: &SourceText,
    inventory_dir: &str,
) -> Result<SiteFirst, Diagnostic> {
    let doc = parse_site(site_src)?;
    let mut r = Reporter::new();
    r.add_text(site_src);
    let site = resolve_site(&mut r, site_src, &doc, inventory_dir);
    Ok(SiteFirst {
        doc,
        site,
        diags: r.diags,
    })
}

/// The same, the phones files parsed as they are reached (`phones` yields each file's documents
/// in turn, with what [`resolve_own`] made of them): a caller can parse a few files at a time on
/// other threads and let each file's documents go once its phones are resolved. `phone_texts`
/// are every phones file, for locating problems. `first` is [`resolve_site_first`]'s.
pub fn resolve_each<'s>(
    first: Result<&SiteFirst, &Diagnostic>,
    site_src: &'s SourceText,
    group_srcs: &'s [SourceText],
    phone_texts: PhoneTexts<'s, '_>,
    phones: impl Iterator<Item = (&'s SourceText, FilePhones)>,
    own_scope: &mut HashSet<String>,
) -> (Option<Inventory>, Vec<Diagnostic>) {
    let first = match first {
        Ok(f) => f,
        Err(d) => return (None, vec![d.clone()]),
    };
    let late = phone_texts.late;
    let mut r = Reporter::with_late(late);
    r.add_text(site_src);
    for src in group_srcs {
        r.add_text(src);
    }
    for src in phone_texts.texts {
        r.add_text(src);
    }
    let mut group_docs = Vec::new();
    for src in group_srcs {
        match parse_group(src) {
            Ok(d) => group_docs.push((src.clone(), d)),
            Err(d) => r.diags.push(d),
        }
    }
    r.extend(first.diags.clone());
    let site = first.site.as_ref();
    let groups = resolve_groups(&mut r, &group_docs);
    let text_bytes = phone_texts.bytes;
    // A file's size when its text was not read: the files' mean.
    let mean_file = text_bytes / phone_texts.texts.len().max(1);
    // A file whose phones came without their own parts (or not all of them) gets them here.
    let phones = phones.map(|(src, file)| match file {
        FilePhones::Parsed(docs, own) if own.len() != docs.len() => {
            let own = resolve_own(first, src, &docs, late);
            (src, FilePhones::Parsed(docs, own))
        }
        file => (src, file),
    });
    let phones = resolve_phones(
        &mut r,
        &site_src.path,
        &first.doc,
        site,
        &groups,
        phones,
        (text_bytes, mean_file),
        own_scope,
    );
    let ok = !r.diags.iter().any(Diagnostic::is_error);
    let inv = match (site, ok) {
        (Some(site), true) => Some(Inventory {
            site: site.clone(),
            phones,
        }),
        _ => None,
    };
    (inv, r.diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(in crate::inventory) fn site(extra: &str) -> SourceText {
        SourceText {
            path: "inventory/site.yaml".into(),
            text: format!(
                "name: Test\nbase_url: http://prov.test/\ntimezone: Europe/Paris\nlanguage: fr\npbx: {{host: pbx.test}}\nadmin_password: {{env: ADMIN}}\nfirmware:\n  fw30:\n    model: ST2030\n    app: {{file: firmware/a.zz, sha256: \"{z}\"}}\n    dsp: {{file: firmware/d.zz, sha256: \"{z}\"}}\n    boot: {{file: firmware/b.zz, sha256: \"{z}\"}}\nmodels:\n  ST2030: {{firmware: fw30, settings: {{ipp: {{Ringer_default_vol: \"4\"}}}}}}\nprofiles:\n  sales:\n    keys: {{1: {{blf: \"1002\"}}, 2: {{speed_dial: \"0612345678\"}}}}\n    settings: {{ipp: {{AutoAnsMode: \"0\"}}}}\n{extra}",
                z = "0".repeat(64)
            ),
        }
    }

    fn run(site_src: SourceText, phones: &str) -> (Option<Inventory>, Vec<Diagnostic>) {
        let src = SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: phones.into(),
        };
        let docs = match parse_phones(&src) {
            Ok(d) => d,
            Err(d) => return (None, d),
        };
        resolve(&site_src, &[], &[(src, Arc::new(docs))], "inventory")
    }

    #[test]
    fn resolves_inheritance_site_model_profile_phone() {
        let (inv, diags) = run(site(""), "- mac: 00-1f-9f-16-e8-49\n  model: st2030\n  profile: sales\n  lines:\n    - {user: 1001, display_name: Hélène, password: {env: P}}\n  keys: {2: {blf: \"1003\"}}\n  settings: {ipp: {AutoAnsMode: \"1\"}}\n");
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let inv = inv.unwrap();
        let p = &inv.phones[0];
        assert_eq!(p.mac, "001F9F16E849");
        assert_eq!(p.keys[&1], FnKey::Blf("1002".into()));
        assert_eq!(
            p.keys[&2],
            FnKey::Blf("1003".into()),
            "the phone's key wins over the profile's"
        );
        assert_eq!(
            p.settings["ipp"]["AutoAnsMode"], "1",
            "the phone's setting wins"
        );
        assert_eq!(
            inv.site.models[&ModelId::ST2030].settings["ipp"]["Ringer_default_vol"],
            "4"
        );
        assert_eq!(p.lines[0].password, Secret::Env("P".into()));
        assert_eq!(inv.site.scope.ntp_zone, 22);
        assert_eq!(inv.site.scope.country, "FR");
    }

    #[test]
    fn normalizes_macs() {
        for s in [
            "00:1F:9F:16:E8:49",
            "001f9f16e849",
            "00-1F-9F-16-E8-49",
            "001F.9F16.E849",
        ] {
            assert_eq!(normalize_mac(s).as_deref(), Some("001F9F16E849"), "{s}");
        }
        for s in ["00:1F:9F:16:E8", "00:1F:9F:16:E8:4G", "", "001F9F16E8491"] {
            assert_eq!(normalize_mac(s), None, "{s}");
        }
    }

    #[test]
    fn checks_base_urls() {
        assert!(check_base_url("http://prov.test/").is_ok());
        assert!(check_base_url("https://prov.test:8443/phones/").is_ok());
        assert!(check_base_url("ftp://prov.test/").is_err());
        assert!(check_base_url("http://prov.test").is_err());
        assert!(check_base_url("http:///x/").is_err());
        assert!(check_base_url("http://a b/").is_err());
    }

    #[test]
    fn joins_paths_inside_the_repository() {
        assert_eq!(
            join_repo_path("inventory", "firmware/a.zz").as_deref(),
            Some("inventory/firmware/a.zz")
        );
        assert_eq!(
            join_repo_path("inventory", "../fw/a.zz").as_deref(),
            Some("fw/a.zz")
        );
        assert_eq!(join_repo_path("inventory", "../../a.zz"), None);
        assert_eq!(join_repo_path("inventory", "/etc/passwd"), None);
    }

    #[test]
    fn collects_every_broken_phone_with_positions() {
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  colour: red\n  lines: [{user: \"1\"}]\n- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST2030\n  lines: [{user: \"2\", nick: x}]\n");
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert!(diags[0].message.contains("unknown field `colour`"));
        assert_eq!((diags[0].line, diags[0].column), (3, 3));
        assert!(diags[1].message.contains("unknown field `nick`"));
        assert_eq!(diags[1].line, 7);
        // The fields are listed once, in the hint.
        for d in &diags {
            assert!(!d.message.contains("expected"), "{}", d.message);
            assert!(
                d.hint.as_deref().unwrap_or("").contains("one of `"),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_problem_of_the_last_phone_is_reported_once() {
        let ok = "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n";
        let bad = "- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST2030\n  colour: red\n";
        for text in [
            bad.to_string(),
            format!("{ok}{bad}"),
            format!("{bad}{ok}{bad}"),
        ] {
            let (_, diags) = run(site(""), &text);
            let lines: Vec<usize> = diags.iter().map(|d| d.line).collect();
            let want: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains("colour"))
                .map(|(i, _)| i + 1)
                .collect();
            assert_eq!(lines, want, "{diags:#?}");
        }
    }

    #[test]
    fn the_fields_site_yaml_requires_are_named_together() {
        let full = site("");
        // The list is what parsing requires: the site parses with each, and without any one of
        // them it does not, for that field.
        assert!(parse_site(&full).is_ok());
        let without = |field: &str| {
            let text: String = full
                .text
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            parse_site(&SourceText {
                text,
                ..full.clone()
            })
            .unwrap_err()
        };
        for f in parse::SITE_REQUIRED {
            let d = without(f);
            assert_eq!(d.message, format!("missing field `{f}`"), "{f}");
        }
        // And nothing else at the top is required: a site of these fields alone parses.
        let minimal = SourceText {
            text:
                "name: T\nbase_url: http://p.test/\ntimezone: Europe/Paris\npbx: {host: pbx.test}\n"
                    .into(),
            ..full.clone()
        };
        assert!(parse_site(&minimal).is_ok());
        // Several missing: named together.
        let d = parse_site(&SourceText {
            text: "name: T\npbx: {host: pbx.test}\n".into(),
            ..full.clone()
        })
        .unwrap_err();
        assert_eq!(d.message, "missing fields `base_url`, `timezone`");
        assert!(d.hint.unwrap().contains("inventory reference"));
    }

    #[test]
    fn a_tab_in_the_indentation_is_named() {
        for text in [
            "- mac: \"00:1F:9F:16:E8:49\"\n\tmodel: ST2030\n",
            "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  lines:\n  \t- {user: \"1\"}\n",
        ] {
            let (_, diags) = run(site(""), text);
            assert_eq!(diags.len(), 1, "{diags:?}");
            let hint = diags[0].hint.as_deref().unwrap_or("");
            assert!(hint.contains("replace the tab"), "{text:?}: {diags:?}");
        }
        // Not where the error is elsewhere.
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  model: [ST2030\n");
        assert!(
            !diags[0].hint.as_deref().unwrap_or("").contains("tab"),
            "{diags:?}"
        );
    }

    #[test]
    fn a_number_out_of_range_says_the_range_not_a_rust_type() {
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  lines: [{user: \"1\", port: 70000}]\n");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(
            diags[0].message,
            "invalid value: integer `70000`, expected a whole number from 0 to 65535"
        );
        assert_eq!(
            diags[0].hint.as_deref(),
            Some("write a value in the range shown")
        );
        assert_eq!((diags[0].line, diags[0].column), (3, 29));
        let (_, diags) = run(
            site(""),
            "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  ntp_zone: -1\n",
        );
        assert!(
            diags[0]
                .message
                .ends_with("expected a whole number from 0 to 255"),
            "{diags:?}"
        );
    }

    #[test]
    fn an_unknown_field_near_a_known_one_is_named_in_the_hint() {
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  modle: ST2030\n");
        let hint = diags[0].hint.as_deref().unwrap_or("");
        assert_eq!(diags[0].message, "unknown field `modle`", "{diags:?}");
        assert!(
            hint.starts_with("did you mean `model`? The fields here are one of `mac`, `model`"),
            "{hint}"
        );
        let (_, diags) = run(site(""), "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  lines: [{user: \"1\", dispaly_name: A}]\n");
        assert!(
            diags[0]
                .hint
                .as_deref()
                .unwrap_or("")
                .starts_with("did you mean `display_name`?"),
            "{diags:?}"
        );
        // Nothing near: the fields alone.
        let (_, diags) = run(
            site(""),
            "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  colour: red\n",
        );
        assert!(
            diags[0]
                .hint
                .as_deref()
                .unwrap_or("")
                .starts_with("`colour` is not a field here; the fields are one of `mac`"),
            "{diags:?}"
        );
    }

    #[test]
    fn a_phone_sets_a_scope_field_exactly_when_it_writes_one() {
        let head = "- mac: 00-1f-9f-16-e8-49\n  model: st2030\n  lines: [{user: \"1001\"}]\n";
        let src = |extra: &str| SourceText {
            path: "inventory/phones/a.yaml".into(),
            text: format!("{head}{extra}"),
        };
        let doc = |extra: &str| parse_phones(&src(extra)).unwrap().remove(0);
        assert!(!doc("  name: Desk\n  keys: {1: {blf: \"1002\"}}\n").sets_scope());
        for field in [
            "timezone: Europe/Paris",
            "ntp_zone: 22",
            "language: fr",
            "country: FR",
            "ntp: off",
            "pbx: {host: pbx2.test}",
            "pbx: {}",
            "admin_password: {env: A}",
            "admin_user: root2",
            "user_password: {env: U}",
            "user_id: user2",
            "vlan: off",
            "dns: off",
            "directory: off",
            "autoprovision: off",
        ] {
            let d = doc(&format!("  {field}\n"));
            assert!(d.sets_scope(), "{field}");
            assert_ne!(d.scope_doc(), ScopeDoc::default(), "{field}");
        }
    }

    #[test]
    fn phones_of_one_file_share_a_scope_only_with_the_same_model_and_profile() {
        let (inv, diags) = run(
            site("  desk: {admin_user: deskadmin}\n"),
            "- {mac: 001f9f000001, model: st2030, profile: desk, lines: [{user: \"1\"}]}\n\
             - {mac: 001f9f000002, model: st2030, lines: [{user: \"2\"}]}\n\
             - {mac: 001f9f000003, model: st2030, profile: desk, lines: [{user: \"3\"}]}\n\
             - {mac: 001f9f000004, model: st2030, profile: desk, admin_user: own, lines: [{user: \"4\"}]}\n\
             - {mac: 001f9f000005, model: st2030, user_id: five, lines: [{user: \"5\"}]}\n\
             - {mac: 001f9f000006, model: st2030, lines: [{user: \"6\"}]}\n",
        );
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let inv = inv.unwrap();
        let scope = |n: usize| &inv.phones[n - 1].scope;
        assert_eq!(scope(1).admin_user.as_deref(), Some("deskadmin"));
        assert!(Arc::ptr_eq(scope(1), scope(3)));
        assert_eq!(scope(2).admin_user, None);
        assert!(Arc::ptr_eq(scope(2), &inv.site.scope));
        assert!(Arc::ptr_eq(scope(6), &inv.site.scope));
        assert_eq!(scope(4).admin_user.as_deref(), Some("own"));
        assert_eq!(
            (scope(5).admin_user.as_deref(), scope(5).user_id.as_deref()),
            (None, Some("five"))
        );
    }

    #[test]
    fn a_bad_key_is_placed_in_the_profile_or_the_phone_that_gives_it() {
        let mut s = site("");
        s.text = s
            .text
            .replace("2: {speed_dial: \"0612345678\"}", "99: {blf: \"1003\"}");
        let profile_line = s.text.lines().position(|l| l.contains("99:")).unwrap() + 1;
        let (_, diags) = run(
            s,
            "- mac: 00-1f-9f-16-e8-49\n  model: st2030\n  profile: sales\n  lines: [{user: \"1001\"}]\n  keys:\n    3: {}\n",
        );
        let at = |m: &str| {
            diags
                .iter()
                .find(|d| d.message.contains(m))
                .map(|d| (d.file.as_str(), d.line))
        };
        assert_eq!(
            at("key 99 is outside"),
            Some(("inventory/site.yaml", profile_line)),
            "{diags:#?}"
        );
        assert_eq!(
            at("key 3 has no kind"),
            Some(("inventory/phones/a.yaml", 6)),
            "{diags:#?}"
        );
    }

    #[test]
    fn a_key_written_twice_is_shown_where_it_is_written_the_second_time() {
        let phones = |text: &str| {
            let src = SourceText {
                path: "inventory/phones/a.yaml".into(),
                text: text.into(),
            };
            parse_phones(&src).unwrap_err()
        };
        let one = |d: Vec<Diagnostic>| {
            assert_eq!(d.len(), 1, "{d:?}");
            let d = d.into_iter().next().unwrap();
            (d.line, d.column, d.message, d.hint.unwrap_or_default())
        };
        let head = "- mac: 001F9F16E849\n  model: ST2030\n";
        // In order, out of order, in a flow mapping, and a phone's own field.
        let cases = [
            (format!("{head}  keys:\n    1: {{blf: \"1\"}}\n    2: {{blf: \"2\"}}\n    2: {{blf: \"3\"}}\n"), 6, 5, "duplicate key `2`"),
            (format!("{head}  keys:\n    3: {{blf: \"1\"}}\n    1: {{blf: \"2\"}}\n    2: {{blf: \"3\"}}\n    3: {{blf: \"4\"}}\n"), 7, 5, "duplicate key `3`"),
            (format!("{head}  settings: {{ipp: {{AutoAnsMode: \"0\", AutoAnsMode: \"1\"}}}}\n"), 3, 38, "duplicate key `AutoAnsMode`"),
            (format!("{head}  name: a\n  model: ST2022\n"), 4, 3, "duplicate field `model`"),
        ];
        for (text, line, column, msg) in cases {
            let (l, c, m, hint) = one(phones(&text));
            assert_eq!((l, c), (line, column), "{m}\n{text}");
            assert!(m.starts_with(msg), "{m}");
            assert!(hint.starts_with("keep one `"), "{hint}");
        }
        // The second phone's: the path of the mapping is that phone's, not the first one's.
        let text = format!("{head}  keys: {{1: {{blf: \"1\"}}}}\n{head}  keys: {{1: {{blf: \"1\"}}, 1: {{blf: \"2\"}}}}\n");
        assert_eq!(one(phones(&text)).0, 6);
        // A site's model written twice.
        let src = site("");
        let text = src.text.replace(
            "models:\n",
            "models:\n  ST2022: {firmware: fw30}\n  ST2030: {firmware: fw30}\n",
        );
        let line = text
            .lines()
            .position(|l| l.contains("ST2030: {firmware: fw30, settings"))
            .unwrap()
            + 1;
        let d = parse_site(&SourceText { text, ..src }).unwrap_err();
        assert_eq!((d.line, d.column), (line, 3), "{}", d.message);
    }

    /// Resolving each file's phones on several threads ([`resolve`]) gives what resolving them
    /// all on one does (each file handed over without its own parts), problems and phones alike:
    /// duplicates across files are found at the later one and point to the first, a profile's
    /// bad key is said once, and the groups, profiles and own fields merge as before.
    #[test]
    fn phones_resolved_on_several_threads_are_those_resolved_on_one() {
        let mut s = site("");
        s.text = s.text.replace(
            "2: {speed_dial: \"0612345678\"}",
            "2: {speed_dial: \"0612345678\"}, 99: {blf: \"1003\"}",
        );
        let group = SourceText {
            path: "inventory/phones/g/group.yaml".into(),
            text: "profile: sales\nsettings: {ipp: {AutoAnsMode: \"1\"}}\ncodecs: [g722, alaw]\n"
                .into(),
        };
        let phone = |f: usize, i: usize, extra: &str| {
            let model = if (f, i) == (5, 2) { "ST9999" } else { "ST2030" };
            format!(
                "- mac: \"00:1F:9F:{f:02X}:00:{i:02X}\"\n  model: {model}\n  lines: [{{user: \"{f}{i:02}\"}}]\n{extra}"
            )
        };
        let mut files = Vec::new();
        for f in 0..12 {
            let folder = if f % 3 == 0 { "g/" } else { "" };
            let mut text = String::new();
            for i in 0..6 {
                let extra = match (f, i) {
                    (_, 0) => "  profile: sales\n  keys: {1: {speed_dial: \"0700\"}}\n",
                    (_, 1) => "  settings: {ipp: {AutoAnsMode: \"0\"}}\n  codecs: [alaw]\n",
                    (7, 3) => "  codecs: [alaww]\n",
                    (9, 4) => "  ip: 192.0.2.999\n",
                    _ => "",
                };
                text.push_str(&phone(f, i, extra));
            }
            if f == 8 {
                // The first file's first phone again (MAC and SIP user), and a bad MAC.
                text.push_str(&phone(0, 0, ""));
                text.push_str("- {mac: nope, model: ST2030, lines: [{user: \"x1\"}]}\n");
            }
            files.push(SourceText {
                path: format!("inventory/phones/{folder}f{f:02}.yaml"),
                text,
            });
        }
        let parsed: Vec<(SourceText, Arc<Vec<PhoneDoc>>)> = files
            .iter()
            .map(|src| (src.clone(), Arc::new(parse_phones(src).unwrap())))
            .collect();
        let groups = [group];
        // Resolved both ways, each shown as its phones and its sorted problems; the two must be
        // equal.
        let both_ways = |s: &SourceText, files: &[(SourceText, Arc<Vec<PhoneDoc>>)]| {
            let shown = |(inv, mut diags): (Option<Inventory>, Vec<Diagnostic>)| {
                crate::error::sort_diagnostics(&mut diags);
                (inv.map(|i| format!("{:?}", i.phones)), diags)
            };
            let many = shown(resolve(s, &groups, files, "inventory"));
            let texts: Vec<&SourceText> = files.iter().map(|(s, _)| s).collect();
            let first = resolve_site_first(s, "inventory");
            let one = shown(resolve_each(
                first.as_ref(),
                s,
                &groups,
                PhoneTexts::read(&texts),
                files
                    .iter()
                    .map(|(s, d)| (s, FilePhones::Parsed(d.clone(), OwnParts::default()))),
                &mut HashSet::new(),
            ));
            assert_eq!(many, one);
            // Each entry's own parts taken from it (as a build does), not copied.
            let taken = shown(resolve_each(
                first.as_ref(),
                s,
                &groups,
                PhoneTexts::read(&texts),
                files.iter().map(|(s, d)| {
                    let mut docs = d.as_ref().clone();
                    let own = match &first {
                        Ok(first) => take_own(first, s, &mut docs, &()),
                        Err(_) => OwnParts::default(),
                    };
                    (s, FilePhones::Parsed(Arc::new(docs), own))
                }),
                &mut HashSet::new(),
            ));
            assert_eq!(many, taken);
            many
        };
        let many = both_ways(&s, &parsed);
        let said = |m: &str| many.1.iter().filter(|d| d.message.contains(m)).count();
        assert_eq!(said("duplicate MAC 001F9F000000"), 1, "{:#?}", many.1);
        assert_eq!(said("duplicate SIP user 000"), 1, "{:#?}", many.1);
        assert_eq!(said("key 99 is outside"), 1, "{:#?}", many.1);
        for m in [
            "unknown model `ST9999`",
            "alaww",
            "192.0.2.999",
            "bad MAC address `nope`",
        ] {
            assert_eq!(said(m), 1, "{m}: {:#?}", many.1);
        }
        let dup = many
            .1
            .iter()
            .find(|d| d.message.contains("duplicate MAC"))
            .unwrap();
        assert_eq!(dup.file, "inventory/phones/f08.yaml");
        assert!(
            dup.hint
                .as_deref()
                .unwrap_or("")
                .contains("inventory/phones/g/f00.yaml:1"),
            "{dup:?}"
        );

        // A valid inventory (the profile's key 99 gone): the same phones either way, merged as
        // before.
        let s = site("");
        let valid: Vec<(SourceText, Arc<Vec<PhoneDoc>>)> = parsed
            .iter()
            .filter(|(src, _)| {
                !["f05", "f07", "f08", "f09"]
                    .iter()
                    .any(|b| src.path.contains(b))
            })
            .cloned()
            .collect();
        let phones = both_ways(&s, &valid).0.expect("valid");
        // Phone 0 of a group file: the group's profile and codecs, its own key 1 over the
        // profile's; phone 1 of another file: its own settings and codecs.
        let inv = resolve(&s, &groups, &valid, "inventory").0.unwrap();
        let p0 = inv
            .phones
            .iter()
            .find(|p| p.mac.as_str() == "001F9F000000")
            .unwrap();
        assert_eq!(p0.keys[&1], FnKey::SpeedDial("0700".into()));
        assert_eq!(p0.keys[&2], FnKey::SpeedDial("0612345678".into()));
        assert_eq!(p0.codecs.0, vec!["g722".to_string(), "alaw".to_string()]);
        let p1 = inv
            .phones
            .iter()
            .find(|p| p.mac.as_str() == "001F9F010001")
            .unwrap();
        assert_eq!(p1.settings["ipp"]["AutoAnsMode"], "0");
        assert_eq!(p1.codecs.0, vec!["alaw".to_string()]);
        assert!(phones.contains("001F9F0B0005"));
    }
}
