//! Property tests (proptest, bounded case counts): arbitrary text in every inventory field is
//! either refused by the inventory's rules or comes out of every generator as exactly that value,
//! read back by each target's own parser; arbitrary manifests never name a path outside the web
//! root once checked; arbitrary Asterisk configuration text never panics the importer's reader.

mod common;

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use provsite::asterisk::{self, Format, Output};
use provsite::asterisk_conf::Config;
use provsite::dhcp;
use provsite::inventory::{self, SourceText};
use provsite::manifest::{FileEntry, FirmwareEntry, Manifest, ModelEntry, PhoneEntry};
use provsite::secrets::{SecretSource, SiteSecret};

/// Characters that break one syntax or another, and some that are fine.
const ALPHABET: &[char] = &[
    'a', 'Z', '1', '0', ' ', '\n', '\r', '\t', '\0', '\u{b}', '\u{c}', '\u{85}', '\u{2028}',
    '\u{202e}', '[', ']', '(', ')', '!', ';', '\\', '"', '\'', '#', ',', '=', '<', '>', '{', '}',
    '$', '`', '_', '*', '.', '-', '+', '/', ':', '@', '%', '&', '|', '~', 'é', '€', 'œ',
];

/// What most fields take: half the cases draw from it, so accepted values are tested as much as
/// refused ones.
const MILD: &[char] = &[
    'a', 'Z', 'q', '1', '0', '9', ' ', '.', '-', '_', '*', '#', '+', '@', 'é', ';', '\\',
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(ALPHABET), 0..12),
        prop::collection::vec(prop::sample::select(MILD), 1..12),
    ]
    .prop_map(|cs| cs.into_iter().collect())
}

/// The inventory fields that reach a generated file, and how to write a value into each.
const FIELDS: &[&str] = &[
    "site.name",
    "site.ntp",
    "site.scope.pbx.host",
    "site.scope.pbx.voicemail",
    "site.scope.pbx.pickup",
    "site.entry_point",
    "site.setting",
    "site.option43",
    "phone.name",
    "line.user",
    "line.auth_user",
    "line.display_name",
    "line.password",
    "key.blf",
    "key.speed_dial",
];

/// YAML's double-quoted scalar of `s` (JSON's strings are YAML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

const Z: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// site.yaml and a phones file with `value` in `field`.
fn inventory_with(field: &str, value: &str) -> (String, String) {
    let v = q(value);
    let pick = |f: &str, default: &str| {
        if field == f {
            v.clone()
        } else {
            default.to_string()
        }
    };
    let site = format!(
        "name: {name}\nbase_url: http://prov.test/\ntimezone: Europe/Paris\nlanguage: fr\nntp: {ntp}\npbx:\n  host: {host}\n  voicemail: {vm}\n  pickup: {pk}\nadmin_password: {{env: TEST_ADMIN_PASSWORD}}\nfirmware:\n  fw30:\n    model: ST2030\n    app: {{file: firmware/app30.zz, sha256: \"{Z}\"}}\n    dsp: {{file: firmware/dsp30.zz, sha256: \"{Z}\"}}\n    boot: {{file: firmware/boot30.zz, sha256: \"{Z}\"}}\nmodels:\n  ST2030:\n    firmware: fw30\n    entry_point: {ep}\n    settings: {{ipp: {{Ringer_default_vol: {set}}}}}\ndhcp:\n  option43: {o43}\n",
        name = pick("site.name", "Site"),
        ntp = pick("site.ntp", "192.0.2.10"),
        host = pick("site.scope.pbx.host", "pbx.test"),
        vm = pick("site.scope.pbx.voicemail", "\"*98\""),
        pk = pick("site.scope.pbx.pickup", "\"*8\""),
        ep = pick("site.entry_point", "ST2030S.inf"),
        set = pick("site.setting", "\"4\""),
        o43 = if field == "site.option43" {
            q(&format!("{value}{{url}}"))
        } else {
            "\"{url}\"".to_string()
        },
    );
    let phones = format!(
        "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  name: {name}\n  lines:\n    - user: {user}\n      auth_user: {auth}\n      display_name: {dn}\n      password: {pw}\n  keys:\n    1: {{blf: {blf}}}\n    2: {{speed_dial: {sd}}}\n- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST2030\n  lines: [{{user: \"1002\", password: \"Other-pass-1\"}}]\n",
        name = pick("phone.name", "Desk"),
        user = pick("line.user", "\"1001\""),
        auth = pick("line.auth_user", "\"1001\""),
        dn = pick("line.display_name", "\"Hélène\""),
        pw = pick("line.password", "\"Pass-word-1\""),
        blf = pick("key.blf", "\"1002\""),
        sd = pick("key.speed_dial", "\"0612345678\""),
    );
    (site, phones)
}

fn resolve(site: &str, phones: &str) -> Option<inventory::Inventory> {
    let site = SourceText {
        path: "inventory/site.yaml".into(),
        text: site.into(),
    };
    let phones_src = SourceText {
        path: "inventory/phones/p.yaml".into(),
        text: phones.into(),
    };
    let docs = inventory::parse_phones(&phones_src).ok()?;
    let (inv, _) = inventory::resolve(&site, &[], &[(phones_src, Arc::new(docs))], "inventory");
    inv
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Accepted text reaches Asterisk's files as itself: the same sections, and each value read
    /// back by Asterisk's rules equal to what the phone is given.
    #[test]
    fn accepted_text_reads_back_the_same_in_asterisk(field in prop::sample::select(FIELDS), value in text()) {
        let (site, phones) = inventory_with(field, &value);
        let Some(inv) = resolve(&site, &phones) else { return Ok(()) };
        let secret = SiteSecret::from_bytes(b"0123456789abcdef0123", SecretSource::Env);
        let (accounts, _) = asterisk::accounts(&inv, &secret, None).unwrap();
        for format in [Format::Pjsip, Format::Sip] {
            for output in [Output::Accounts, Output::Hints, Output::Notify] {
                let (text, _) = asterisk::render(&inv, &accounts, format, output, true, "p").unwrap();
                // The hints are included inside the phones' context, as the header says.
                let read = if output == Output::Hints { format!("[phones]\n{text}") } else { text.clone() };
                let c = Config::parse(Path::new("generated.conf"), &read)
                    .unwrap_or_else(|e| panic!("{field}={value:?}: {e}\n{text}"));
                let names: Vec<&str> = c.sections.iter().map(|s| s.name.as_str()).collect();
                match (format, output) {
                    (Format::Pjsip, Output::Accounts) => {
                        for a in &accounts {
                            let auth = c.sections.iter().find(|s| s.name == format!("{}-auth", a.user))
                                .unwrap_or_else(|| panic!("{field}={value:?}: no auth for {}: {names:?}", a.user));
                            prop_assert_eq!(auth.get("password"), Some(a.password.as_str()));
                            prop_assert_eq!(auth.get("username"), Some(a.auth_user.as_str()));
                        }
                        // Endpoint, auth and aor per account, and the phoneprov sections: no more.
                        let phoneprov = accounts.iter().map(|a| a.phones.len()).sum::<usize>();
                        prop_assert_eq!(c.sections.len(), 3 * accounts.len() + phoneprov, "{:?}", names);
                        prop_assert!(c.sections.iter().all(|s| !s.template && s.inherits.is_empty()));
                    }
                    (Format::Sip, Output::Accounts) => {
                        prop_assert_eq!(c.sections.len(), accounts.len(), "{:?}", names);
                        for a in &accounts {
                            let peer = c.sections.iter().find(|s| s.name == a.user).unwrap();
                            prop_assert_eq!(peer.get("secret"), Some(a.password.as_str()));
                        }
                    }
                    (_, Output::Hints) => {
                        // Only extension lines in the context it is included in: no section of
                        // its own, one hint per BLF target.
                        prop_assert_eq!(c.sections.len(), 1, "{:?}", names);
                        let targets = asterisk::blf_targets(&inv).0;
                        let pickup = usize::from(inv.site.scope.pbx.pickup.is_some());
                        prop_assert_eq!(c.sections[0].entries.len(), targets.len() + pickup);
                        for (e, t) in c.sections[0].entries.iter().zip(&targets) {
                            prop_assert_eq!(e.key.as_str(), "exten");
                            prop_assert!(e.value.starts_with(&format!("{},hint,", t)), "{:?}", e.value);
                        }
                    }
                    (_, Output::Notify) => prop_assert_eq!(c.sections.len(), 2),
                }
            }
        }
        // DHCP: every line is a comment or one of the generator's own directives.
        for format in [dhcp::Format::Isc, dhcp::Format::Dnsmasq] {
            let text = dhcp::render(&inv, format, None, "p").unwrap();
            for line in text.lines() {
                let t = line.trim_start();
                let known = t.is_empty() || t.starts_with('#') || t.starts_with("class \"provsite-")
                    || t.starts_with("match if option user-class") || t.starts_with("or substring(")
                    || t.starts_with("option vendor-encapsulated-options \"") || t == "}"
                    || t.starts_with("dhcp-userclass=set:provsite-") || t.starts_with("dhcp-vendorclass=set:provsite-")
                    || t.starts_with("dhcp-option=tag:provsite-");
                prop_assert!(known, "{}={:?}: line {:?}", field, value, line);
            }
        }
    }

    /// A manifest that passes the check names only paths inside the web root, under names
    /// provsite writes.
    #[test]
    fn checked_manifests_stay_inside_the_root(
        release in prop::sample::select(vec!["202611260001-0123456789ab", "..", "a/b", "202611260001-0123456789ab-dirty", "x"]),
        entry in prop::collection::vec(prop::sample::select(vec!["ST2030S", ".inf", "..", "/", "\\", "index.html", "x", ".", "%2e"]), 1..4),
        file in prop::collection::vec(prop::sample::select(vec!["releases", "firmware", "common", "..", ".", "", "a", "config", "x.txt", Z, "202611260001-0123456789ab", "\\"]), 1..6),
    ) {
        let entry: String = entry.concat();
        let file = file.join("/");
        let fe = |role: &str, path: &str| FileEntry { role: role.into(), path: path.into(), sha256: Z.into(), size: 1 };
        let m = Manifest {
            format: 1,
            generator: "provsite".into(),
            release: release.into(),
            commit: "c".into(),
            commit_time: 0,
            config_sn: "202611260001".into(),
            dirty: false,
            base_url: "http://prov.test/".into(),
            site: "s".into(),
            models: [("ST2030".to_string(), ModelEntry { entry_point: entry.clone(), files: vec![fe("entry_point", &entry), fe("common", &file)] })].into(),
            firmware: [(Z.to_string(), FirmwareEntry { size: 1, names: vec![file.rsplit('/').next().unwrap_or("").to_string()] })].into(),
            phones: [("001F9F16E849".to_string(), PhoneEntry { model: "ST2030".into(), variant: None, name: None, config_sn: "202611260001".into(), changed_at: 0, digest: Z.into(), file: fe("phone", &file) })].into(),
        };
        if m.check_paths().is_ok() {
            let root = Path::new("/srv/root");
            for p in [&entry, &file] {
                let mut depth = 0i32;
                for seg in p.split('/') {
                    prop_assert!(seg != ".." && seg != "." && !seg.is_empty() && !seg.contains('\\'), "{}", p);
                    depth += 1;
                }
                prop_assert!(depth >= 1);
                prop_assert!(root.join(p).starts_with(root));
            }
            prop_assert!(entry.ends_with(".inf") && !entry.contains('/'));
            let release_dir = format!("releases/{}/", release);
            prop_assert!(file.starts_with(&release_dir), "{}", file);
        }
    }

    /// Arbitrary users.conf values: import gives an error or a phones file that the inventory's
    /// own parser reads back with the same users and names; the passwords go to the secrets file.
    #[test]
    fn imported_text_stays_data(user in text(), name in text(), secret in text(), mac in prop::sample::select(vec!["00:1f:9f:00:20:01", "001F9F002001", "zz", ""])) {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("users.conf");
        std::fs::write(&conf, format!(
            "[{user}]\nfullname={name}\nsecret={secret}\nmacaddress={mac}\nautoprov=yes\nprofile=ST2030\n"
        )).unwrap();
        let out = d.path().join("inventory");
        let opts = provsite::import::ImportOptions {
            from: conf,
            macs: None,
            model: None,
            out: out.clone(),
            keep_passwords: false,
            secrets: None,
            force: false,
        };
        if let Ok(report) = provsite::import::run(&opts) {
            let yaml = std::fs::read_to_string(out.join("phones/imported.yaml")).unwrap();
            let src = SourceText { path: "imported.yaml".into(), text: yaml.clone() };
            let phones = inventory::parse_phones(&src)
                .unwrap_or_else(|e| panic!("import wrote YAML it cannot read: {e:?}\n{yaml}"));
            prop_assert_eq!(phones.len(), report.phones);
            // The password is not in the YAML (it went to the secrets file).
            let leaked = secret.trim().len() >= 4 && yaml.contains(&q(secret.trim()));
            prop_assert!(!leaked, "{}", yaml);
            for p in &phones {
                for l in &p.lines {
                    prop_assert_eq!(l.user.0.trim(), l.user.0.as_str());
                }
            }
        }
    }

    /// Any text: the Asterisk reader gives a configuration or an error, never a panic.
    #[test]
    fn any_asterisk_text_is_read_or_refused(lines in prop::collection::vec(text(), 0..20)) {
        let _ = Config::parse(Path::new("any.conf"), &lines.join("\n"));
    }
}

/// The same property through the real binary and the real servers, for fewer cases: an accepted
/// value gives phone files the vendor-format checker reads back, and DHCP configurations that
/// ISC dhcpd and dnsmasq accept.
#[test]
fn accepted_text_passes_the_phone_checker_and_the_dhcp_servers() {
    use common::http::require;
    let r = common::Repo::with_base();
    let have_dhcpd = require("dhcpd", "isc-dhcp-server");
    let have_dnsmasq = require("dnsmasq", "dnsmasq-base");
    let accepted = std::cell::Cell::new(0);
    let refused = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let firmware = r.path().join("inventory/firmware");
    let sha = |name: &str| {
        use sha2::Digest;
        let b = std::fs::read(firmware.join(name)).unwrap();
        sha2::Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    let (app, dsp, boot) = (sha("app30.zz"), sha("dsp30.zz"), sha("boot30.zz"));
    runner
        .run(&(prop::sample::select(FIELDS), text()), |(field, value)| {
            let (site, phones) = inventory_with(field, &value);
            let site = site
                .replacen(Z, &app, 1)
                .replacen(Z, &dsp, 1)
                .replacen(Z, &boot, 1);
            let Some(_) = resolve(&site, &phones) else {
                refused.set(refused.get() + 1);
                // Refused by the rules: check must refuse it too, with a location.
                r.write("inventory/site.yaml", &site);
                r.write("inventory/phones/base.yaml", &phones);
                let out = r.provsite(&["check", "--worktree"]);
                let err = String::from_utf8_lossy(&out.stderr);
                prop_assert_eq!(out.status.code(), Some(1), "{}={:?}: {}", field, value, err);
                prop_assert!(err.contains("--> inventory/"), "{}", err);
                return Ok(());
            };
            accepted.set(accepted.get() + 1);
            r.write("inventory/site.yaml", &site);
            r.write("inventory/phones/base.yaml", &phones);
            let out = r.provsite(&["build", "--worktree", "--quiet"]);
            prop_assert!(
                out.status.success(),
                "{}={:?}: {}",
                field,
                value,
                String::from_utf8_lossy(&out.stderr)
            );
            // Every phone file read back by the vendor-format checker.
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(r.public().join("manifest.json")).unwrap())
                    .unwrap();
            for p in m["phones"].as_object().unwrap().values() {
                let bytes =
                    std::fs::read(r.public().join(p["file"]["path"].as_str().unwrap())).unwrap();
                let checked = provsite::family::technicolor::format::check_config(
                    &bytes,
                    provsite::family::ModelId::ST2030.vocabulary(),
                    provsite::family::technicolor::format::FileKind::Phone,
                );
                prop_assert!(
                    checked.is_ok(),
                    "{}={:?}: {:?}",
                    field,
                    value,
                    checked.err()
                );
            }
            for (format, ok) in [("isc", have_dhcpd), ("dnsmasq", have_dnsmasq)] {
                if !ok {
                    continue;
                }
                let text = r.stdout(&["dhcp", "--worktree", "--format", format]);
                let conf = r.path().join(format!("dhcp-{format}.conf"));
                std::fs::write(&conf, &text).unwrap();
                let out = match format {
                    "isc" => std::process::Command::new("/usr/sbin/dhcpd")
                        .args(["-t", "-4", "-cf"])
                        .arg(&conf)
                        .output()
                        .unwrap(),
                    _ => std::process::Command::new("/usr/sbin/dnsmasq")
                        .arg("--test")
                        .arg(format!("--conf-file={}", conf.display()))
                        .output()
                        .unwrap(),
                };
                prop_assert!(
                    out.status.success(),
                    "{} refused the configuration for {}={:?}: {}\n{}",
                    format,
                    field,
                    value,
                    String::from_utf8_lossy(&out.stderr),
                    text
                );
            }
            Ok(())
        })
        .unwrap();
    eprintln!("{} accepted, {} refused", accepted.get(), refused.get());
    assert!(accepted.get() > 0 && refused.get() > 0);
}
