//! `provsite asterisk` and `provsite import`: the Asterisk side parsed back and compared with
//! the phones' files, golden files, importing res_phoneprov users, pjsip phoneprov and sip.conf
//! (templates, includes, comments) into inventories that build, and the round trip
//! inventory → pjsip.conf → import → the same phones, lines, users, names and passwords.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{
    boot, boot22, boot30, conf_section, copy_dir, fixtures, run_provsite, Repo, BASE_URL,
};
use provsite::asterisk_conf::Config;

fn parse(text: &str) -> Config {
    Config::parse(Path::new("generated.conf"), text).unwrap()
}

#[test]
fn pjsip_accounts_carry_the_phones_credentials() {
    let r = Repo::with_base();
    r.build(&[]);
    let c = parse(&r.stdout(&["asterisk", "--format", "pjsip"]));
    for (view, user, name) in [
        (boot30(&r, "001F9F16E849"), "1001", "Hélène Dupont"),
        (boot30(&r, "001F9F16E84A"), "1002", "Zoé"),
        // No display name in the inventory: the phone shows the user, and so does the caller ID.
        (boot22(&r, "00147FE1FC6D"), "1003", "1003"),
    ] {
        assert_eq!(view.value("sip", "TEL1Number").as_deref(), Some(user));
        let ep = conf_section(&c, user, "endpoint");
        assert_eq!(ep.get("auth"), Some(format!("{user}-auth").as_str()));
        assert_eq!(ep.get("aors"), Some(user));
        assert_eq!(ep.get("context"), Some("phones"));
        assert_eq!(
            ep.get("dtmf_mode"),
            Some("rfc4733"),
            "the fixture's dtmf is rfc2833"
        );
        assert_eq!(ep.get("transport"), Some("transport-udp"));
        assert_eq!(ep.get("allow_subscribe"), Some("yes"));
        assert_eq!(ep.get("subscribe_context"), Some("phones"));
        assert_eq!(
            ep.get("callerid"),
            Some(format!("\"{name}\" <{user}>").as_str())
        );
        assert_eq!(view.value("sip", "DisplayName1").as_deref(), Some(name));
        let auth = conf_section(&c, &format!("{user}-auth"), "auth");
        assert_eq!(auth.get("auth_type"), Some("userpass"));
        assert_eq!(auth.get("username"), view.value("sip", "regid1").as_deref());
        assert_eq!(
            auth.get("password"),
            view.value("sip", "regpwd1").as_deref(),
            "the password Asterisk checks is the one the phone sends"
        );
        let aor = conf_section(&c, user, "aor");
        assert_eq!(aor.get("max_contacts"), Some("1"));
        assert_eq!(aor.get("qualify_frequency"), Some("60"));
    }
}

#[test]
fn site_settings_choose_context_codecs_and_transport() {
    let r = Repo::with_base();
    let site = r.read("inventory/site.yaml");
    r.write(
        "inventory/site.yaml",
        &format!("{site}asterisk:\n  context: from-phones\n  codecs: [g722, alaw]\n  transport: tls-main\n  qualify_frequency: 30\n"),
    );
    r.commit("asterisk settings");
    let c = parse(&r.stdout(&["asterisk"]));
    let ep = conf_section(&c, "1001", "endpoint");
    assert_eq!(ep.get("context"), Some("from-phones"));
    assert_eq!(ep.get("subscribe_context"), Some("from-phones"));
    assert_eq!(ep.get("allow"), Some("g722,alaw"));
    assert_eq!(ep.get("transport"), Some("tls-main"));
    assert_eq!(
        conf_section(&c, "1001", "aor").get("qualify_frequency"),
        Some("30")
    );

    // A codec Asterisk does not know is an inventory error with a suggestion.
    r.write(
        "inventory/site.yaml",
        &format!("{site}asterisk:\n  codecs: [alaww]\n"),
    );
    r.commit("typo");
    let out = r.provsite(&["asterisk"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown codec `alaww`"), "{err}");
    assert!(err.contains("did you mean alaw?"), "{err}");
    assert!(err.contains("inventory/site.yaml:"), "{err}");
}

/// The outputs, reviewed once by hand against Asterisk's documented option names and public
/// pjsip.conf / sip.conf examples, and kept as golden files.
/// `UPDATE_GOLDEN=1 cargo test --test asterisk` rewrites them after a deliberate change.
#[test]
fn outputs_match_the_reviewed_golden_files() {
    let r = Repo::with_base();
    let site = r.read("inventory/site.yaml");
    r.write(
        "inventory/site.yaml",
        &site.replace(
            "    keys: {1: {blf: \"1002\"}}",
            "    keys: {1: {blf: \"1002\"}, 2: {blf: \"1099\"}}",
        ),
    );
    r.commit("an external BLF target");
    let head = r
        .git(&["rev-parse", "--short=12", "HEAD"])
        .trim()
        .to_string();
    let golden = fixtures().join("asterisk");
    for (file, args) in [
        ("pjsip.conf", vec!["asterisk", "--format", "pjsip"]),
        (
            "pjsip-phoneprov.conf",
            vec!["asterisk", "--format", "pjsip", "--phoneprov"],
        ),
        ("sip.conf", vec!["asterisk", "--format", "sip"]),
        ("hints.conf", vec!["asterisk", "--hints"]),
        (
            "sip-hints.conf",
            vec!["asterisk", "--format", "sip", "--hints"],
        ),
        ("notify.conf", vec!["asterisk", "--notify"]),
    ] {
        let text = r.stdout(&args).replace(&head, "<commit>");
        let path = golden.join(file);
        if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(text, want, "{file} differs from its golden file");
        // Every output reads back as Asterisk reads it (the hints inside the context they go in).
        if file.contains("hints") {
            let c = parse(&format!("[phones]\n{text}"));
            assert!(c.sections[0].entries.iter().all(|e| e.key == "exten"));
        } else {
            parse(&text);
        }
    }
    let out = r.provsite(&["asterisk", "--hints"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: BLF target 1099"), "{err}");
    assert!(err.contains("not a line of the inventory"), "{err}");
}

#[test]
fn notify_sections_read_back_with_the_escaped_parameter() {
    let r = Repo::with_base();
    let c = parse(&r.stdout(&["asterisk", "--notify"]));
    let plain = c
        .sections
        .iter()
        .find(|s| s.name == "provsite-check-sync")
        .unwrap();
    assert_eq!(plain.get("Event"), Some("check-sync"));
    let reboot = c
        .sections
        .iter()
        .find(|s| s.name == "provsite-check-sync-reboot")
        .unwrap();
    assert_eq!(reboot.get("Event"), Some("check-sync;reboot=true"));
}

/// The secrets file import writes, as environment variables.
fn secrets_env(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = v
                .strip_prefix('\'')
                .unwrap()
                .strip_suffix('\'')
                .unwrap()
                .replace("'\\''", "'");
            (k.to_string(), v)
        })
        .collect()
}

/// A repository whose inventory has the base fixture's site.yaml and firmware, no phones yet.
fn repo_for_import() -> Repo {
    let r = Repo::empty();
    copy_dir(
        &fixtures().join("base/firmware"),
        &r.path().join("inventory/firmware"),
    );
    std::fs::copy(
        fixtures().join("base/site.yaml"),
        r.path().join("inventory/site.yaml"),
    )
    .unwrap();
    r
}

fn import(r: &Repo, args: &[&str]) -> std::process::Output {
    let mut a = vec!["import", "--out", "inventory"];
    a.extend_from_slice(args);
    r.provsite(&a)
}

/// Builds the imported inventory with the imported passwords in the environment and returns each
/// phone's lines as the phone files carry them: (user, auth user, display name, password).
fn built_lines(
    r: &Repo,
    secrets: Option<&Path>,
) -> BTreeMap<String, Vec<(String, String, String, String)>> {
    r.git(&["add", "-A"]);
    r.commit("imported");
    let env = secrets.map(secrets_env).unwrap_or_default();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run_provsite(r.path(), &["build", "--json"], &env);
    assert!(
        out.status.success(),
        "build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.public().join("manifest.json")).unwrap()).unwrap();
    let mut lines = BTreeMap::new();
    for (mac, p) in m["phones"].as_object().unwrap() {
        let model = p["model"].as_str().unwrap();
        let view = boot(
            &r.public(),
            BASE_URL,
            &format!("{model}S.inf"),
            &format!("{model}S"),
            mac,
        );
        let mut l = Vec::new();
        for n in 1..=4 {
            if view.value("sip", &format!("TEL0{n}Use")).as_deref() != Some("1") {
                continue;
            }
            let v = |k: &str| view.value("sip", &format!("{k}{n}")).unwrap_or_default();
            l.push((
                view.value("sip", &format!("TEL{n}Number"))
                    .unwrap_or_default(),
                v("regid"),
                v("DisplayName"),
                v("regpwd"),
            ));
        }
        lines.insert(mac.clone(), l);
    }
    lines
}

fn line(u: &str, name: &str, pw: &str) -> (String, String, String, String) {
    (u.into(), u.into(), name.into(), pw.into())
}

#[test]
fn importing_res_phoneprov_users_gives_an_inventory_that_builds() {
    let r = repo_for_import();
    let from = fixtures().join("import/users/users.conf");
    let out = import(&r, &["--from", from.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Skipped sections are reported with file, line and reason.
    assert!(
        err.contains("users.conf:2: [general] holds defaults"),
        "{err}"
    );
    assert!(err.contains("users.conf:36: [1099] no macaddress"), "{err}");
    assert!(
        err.contains("more-users.conf:13: [1004] autoprov is not yes"),
        "{err}"
    );
    assert!(!err.contains("[4000]"), "a block comment was read: {err}");
    assert!(
        !err.contains("[office]"),
        "a template was taken for a user: {err}"
    );
    let yaml = r.read("inventory/phones/imported.yaml");
    assert!(
        !yaml.contains("acc-1000-pw"),
        "a password landed in the YAML"
    );
    let secrets = r.path().join("inventory.secrets.env");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let lines = built_lines(&r, Some(&secrets));
    assert_eq!(
        lines["001F9F16E849"],
        [
            line("1001", "Hélène Dupont", "h3l3ne#secret"),
            line("1000", "Accueil général", "acc-1000-pw")
        ]
    );
    assert_eq!(lines["001F9F16E84A"], [line("1002", "Zoé", "zoe-1002-pw")]);
    assert_eq!(
        lines["00147FE1FC6D"],
        [line("1003", "Standard", "std-1003-pw")]
    );
    assert_eq!(lines.len(), 3);
}

#[test]
fn importing_pjsip_phoneprov_joins_endpoint_auth_and_aor() {
    let r = repo_for_import();
    let from = fixtures().join("import/pjsip/pjsip.conf");
    let out = import(&r, &["--from", from.to_str().unwrap(), "--keep-passwords"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("pjsip.conf:2: [transport-udp] type=transport is not a phone"),
        "{err}"
    );
    assert!(
        err.contains("pjsip-phones.conf:14: [9000] no phoneprov section"),
        "{err}"
    );
    assert!(
        err.contains("--keep-passwords wrote the SIP passwords"),
        "{err}"
    );
    assert!(r
        .read("inventory/phones/imported.yaml")
        .contains("password: \"pj-1001-pw\""));
    let lines = built_lines(&r, None);
    assert_eq!(
        lines["001F9F16E849"],
        [line("1001", "Hélène Dupont", "pj-1001-pw")]
    );
    assert_eq!(lines["001F9F16E84A"], [line("1002", "Zoé", "pj-1002-pw")]);
    assert_eq!(lines["00147FE1FC6D"], [line("1003", "1003", "pj-1003-pw")]);
}

#[test]
fn importing_sip_conf_takes_macs_from_a_csv() {
    let r = repo_for_import();
    let from = fixtures().join("import/sip/sip.conf");
    let without = import(&r, &["--from", from.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without.stderr).contains("pass --macs FILE"));
    let macs = fixtures().join("import/sip/macs.csv");
    let out = import(
        &r,
        &[
            "--from",
            from.to_str().unwrap(),
            "--macs",
            macs.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sip.conf:27: [trunk] no --macs row names this peer"),
        "{err}"
    );
    let lines = built_lines(&r, Some(&r.path().join("inventory.secrets.env")));
    assert_eq!(
        lines["001F9F16E849"],
        [
            line("1001", "Hélène Dupont", "sip-1001-pw"),
            line("1000", "Accueil général", "sip-1000-pw")
        ]
    );
    assert_eq!(lines["00147FE1FC6D"], [line("1003", "1003", "sip-1003-pw")]);
}

#[test]
fn import_reports_what_it_cannot_take() {
    let r = repo_for_import();
    let d = tempfile::tempdir().unwrap();
    let exec = d.path().join("exec.conf");
    std::fs::write(&exec, "[1001]\nsecret=x\n#exec /usr/bin/date\n").unwrap();
    let out = import(&r, &["--from", exec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exec.conf:3: #exec /usr/bin/date: runs a program"),
        "{err}"
    );

    let a = d.path().join("a.conf");
    std::fs::write(&a, "[x]\n#include b.conf\n").unwrap();
    std::fs::write(d.path().join("b.conf"), "#include a.conf\n").unwrap();
    let err =
        String::from_utf8_lossy(&import(&r, &["--from", a.to_str().unwrap()]).stderr).into_owned();
    assert!(err.contains("#include cycle"), "{err}");
    assert!(err.contains("b.conf:1"), "{err}");

    // A phone whose model nobody says is reported, not guessed; with --model it is taken.
    let users = d.path().join("users.conf");
    std::fs::write(
        &users,
        "[2001]\nfullname=No Model\nsecret=pw-2001\nmacaddress=00:1f:9f:00:20:01\nautoprov=yes\n",
    )
    .unwrap();
    let out = import(&r, &["--from", users.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("users.conf:1: [2001] phone 001F9F002001: the source does not say its model"),
        "{err}"
    );
    let out = import(
        &r,
        &[
            "--from",
            users.to_str().unwrap(),
            "--model",
            "TB30",
            "--force",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r
        .read("inventory/phones/imported.yaml")
        .contains("model: TB30"));
    // An existing phones/imported.yaml is not replaced without --force.
    let again = import(&r, &["--from", users.to_str().unwrap(), "--model", "TB30"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));
}

#[test]
fn round_trip_inventory_to_pjsip_to_inventory() {
    let r = Repo::with_base();
    // Two lines on one phone, and a literal password, to carry more than the defaults.
    r.edit(
        "inventory/phones/base.yaml",
        "    - {user: \"1001\", display_name: \"Hélène Dupont\"}\n",
        "    - {user: \"1001\", display_name: \"Hélène Dupont\"}\n    - {user: \"1000\", display_name: \"Accueil général\", password: \"lit-1000\"}\n",
    );
    r.commit("two lines");
    let before = built_lines(&r, None);
    let conf = r.path().join("exported-pjsip.conf");
    std::fs::write(
        &conf,
        r.stdout(&["asterisk", "--format", "pjsip", "--phoneprov"]),
    )
    .unwrap();

    let back = repo_for_import();
    let out = import(&back, &["--from", conf.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = built_lines(&back, Some(&back.path().join("inventory.secrets.env")));
    assert_eq!(
        after, before,
        "phones, lines, users, display names and passwords survive the trip"
    );
    assert_eq!(after["001F9F16E849"][1].3, "lit-1000");
}

#[test]
fn the_secrets_file_is_private_and_never_written_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let from = fixtures().join("import/users/users.conf");
    // An existing file with a wide mode is made private.
    let r = repo_for_import();
    let secrets = r.path().join("inventory.secrets.env");
    std::fs::write(&secrets, "old\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = import(&r, &["--from", from.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // A link in its place is refused, and its target left alone.
    let r = repo_for_import();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("victim");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, r.path().join("inventory.secrets.env")).unwrap();
    let out = import(&r, &["--from", from.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
}
