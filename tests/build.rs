//! `provsite build` end to end: real git repositories, the real binary, and the result read the way
//! a phone reads it (entry point first, following its URLs).

mod common;

use common::*;

const M1: &str = "001F9F16E849";
const M2: &str = "001F9F16E84A";
const M22: &str = "00147FE1FC6D";

#[test]
fn a_phone_boots_from_the_built_web_root() {
    let repo = Repo::with_base();
    let summary = repo.build(&[]);
    assert_eq!(summary["phones"], 3);
    assert_eq!(summary["config_sn"], "202611260001");
    let v = boot30(&repo, M1);
    // Firmware: content-addressed URLs whose bytes hash to their name.
    for (url, bytes) in &v.firmware {
        let sha = url.split('/').rev().nth(1).unwrap();
        assert_eq!(provsite::hashing::sha256_hex(bytes), sha, "{url}");
    }
    assert_eq!(
        v.telcfg.as_deref(),
        Some(&b"[audio]\r\nplaceholder=1\r\n"[..])
    );
    // The vendor's common file with the model's settings merged over it, same order.
    assert_eq!(v.common.get("ipp", "Ringer_default_vol"), Some("5"));
    assert_eq!(
        v.common.get("sys", "CodecPriority"),
        Some("g711a(1)g711mu(2)")
    );
    assert!(
        v.common_url.contains("/ST2030S_common_"),
        "{}",
        v.common_url
    );
    // The phone's own file: lines, keys, managed values, derived password, config_sn.
    assert_eq!(v.value("sip", "TEL1Number").as_deref(), Some("1001"));
    assert_eq!(v.value("sip", "TEL01Use").as_deref(), Some("1"));
    assert_eq!(v.value("sip", "TEL02Use").as_deref(), Some("0"));
    assert_eq!(
        v.value("sip", "RegisterServerMP1").as_deref(),
        Some("pbx.test")
    );
    assert_eq!(
        v.value("sip", "regpwd1"),
        Some(provsite::secrets::derive(SECRET.as_bytes(), "sip:1001"))
    );
    assert_eq!(
        v.value("sys", "FeatureKeyExt01").as_deref(),
        Some("S/<sip:1002>")
    );
    assert_eq!(
        v.value("sys", "FeatureKeyExt02").as_deref(),
        Some("L/<sip:0612345678>")
    );
    assert_eq!(
        v.value("sys", "FeatureKeyExt66").as_deref(),
        Some("L/<sip:>")
    );
    assert_eq!(v.value("ipp", "LanguageType").as_deref(), Some("1"));
    assert_eq!(v.value("sys", "CountryCode").as_deref(), Some("FR"));
    assert_eq!(
        v.value("ntp", "NtpZoneNum").as_deref(),
        Some("22"),
        "the phone's own value wins over the vendor default 23"
    );
    assert_eq!(v.value("sys", "dtmf_mode_flag").as_deref(), Some("1"));
    assert_eq!(v.value("sys", "WebPWD").as_deref(), Some(ADMIN));
    assert_eq!(v.value("sip", "VoiceMailTelNum").as_deref(), Some("*98"));
    assert_eq!(v.sn(), "202611260001");
    // Latin-1 on the wire, CRLF line ends.
    assert!(v.own_bytes.windows(13).any(|w| w == b"H\xe9l\xe8ne Dupont"));
    assert!(!v
        .own_bytes
        .split(|b| *b == b'\n')
        .any(|l| !l.is_empty() && !l.ends_with(b"\r")));
    // A profile's keys and settings reach its phones.
    let v2 = boot30(&repo, M2);
    assert_eq!(
        v2.value("sys", "FeatureKeyExt01").as_deref(),
        Some("S/<sip:1002>")
    );
    assert_eq!(v2.value("ipp", "AutoAnsMode").as_deref(), Some("0"));
    // ST2022: 5 keys, no telcfg.
    let v22 = boot22(&repo, M22);
    assert!(v22.telcfg.is_none());
    assert_eq!(
        v22.value("sys", "FeatureKeyExt05").as_deref(),
        Some("L/<sip:>")
    );
    assert!(v22.own.get("sys", "FeatureKeyExt06").is_none());
}

/// The phones a build reports as changed (those check-sync tells to fetch again), with phones
/// added and removed around them: new ones and renumbered ones, in MAC order, and no other.
#[test]
fn the_changed_phones_are_the_new_and_the_renumbered_in_mac_order() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let base = repo.read("inventory/phones/base.yaml");
    // M1 goes; a phone comes before M2's MAC and one after it; M2 changes; M22 stays as it was.
    let first = base.find("- mac: \"00:1F:9F:16:E8:49\"").unwrap();
    let second = base.find("- mac: \"00:1F:9F:16:E8:4A\"").unwrap();
    let edited = format!(
        "{}{}- mac: \"00:1F:9F:16:E8:48\"\n  model: ST2030\n  lines: [{{user: \"1020\"}}]\n- mac: \"00:1F:9F:16:E8:4B\"\n  model: ST2030\n  lines: [{{user: \"1021\"}}]\n",
        &base[..first],
        &base[second..].replace("display_name: \"Zo\u{e9}\"", "display_name: \"Zoe\""),
    );
    assert_ne!(
        edited.replace("Zoe", "Zo\u{e9}"),
        edited,
        "M2's name was not found"
    );
    repo.write("inventory/phones/base.yaml", &edited);
    repo.commit("M1 leaves, two phones come, M2 renamed");
    let s = repo.build(&[]);
    assert_eq!(
        s["changed_phones"],
        serde_json::json!(["001F9F16E848", M2, "001F9F16E84B"])
    );
}

#[test]
fn changing_one_phone_renumbers_only_that_phone() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let before = [
        boot30(&repo, M1).sn(),
        boot30(&repo, M2).sn(),
        boot22(&repo, M22).sn(),
    ];
    let common_before = boot30(&repo, M1).common_url;
    let telcfg_before = boot30(&repo, M1)
        .entry
        .get("config", "telcfg")
        .map(str::to_string);
    repo.edit(
        "inventory/phones/base.yaml",
        "2: {speed_dial: \"0612345678\"}",
        "2: {blf: \"1003\"}",
    );
    repo.commit("key 2 of 1001 becomes a BLF");
    let s = repo.build(&[]);
    assert_eq!(s["config_sn"], "202611260002");
    assert_eq!(s["changed_phones"], serde_json::json!([M1]));
    let after = [
        boot30(&repo, M1).sn(),
        boot30(&repo, M2).sn(),
        boot22(&repo, M22).sn(),
    ];
    assert_eq!(after[0], "202611260002");
    assert_eq!(after[1..], before[1..]);
    assert_eq!(
        boot30(&repo, M1).value("sys", "FeatureKeyExt02").as_deref(),
        Some("S/<sip:1003>")
    );
    // The common file and telcfg did not change, so their URLs did not either (byte for byte:
    // the phone may cache them by URL), and they live in common/, outside the release folder.
    let now = boot30(&repo, M1);
    assert_eq!(now.common_url, common_before);
    assert_eq!(now.entry.get("config", "telcfg"), telcfg_before.as_deref());
    assert!(
        common_before.starts_with("http://prov.test/p/common/ST2030S_common_"),
        "{common_before}"
    );
    assert!(telcfg_before
        .unwrap()
        .starts_with("http://prov.test/p/common/TelConf2030_"),);
}

#[test]
fn a_site_setting_renumbers_every_phone_of_the_model_and_renames_the_common_file() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let old = boot30(&repo, M1);
    let old22 = boot22(&repo, M22).sn();
    repo.edit(
        "inventory/site.yaml",
        "Ringer_default_vol: \"5\"",
        "Ringer_default_vol: \"7\"",
    );
    repo.commit("louder");
    repo.build(&[]);
    let new = boot30(&repo, M1);
    assert_ne!(new.common_url, old.common_url);
    assert!(new.common_url.contains("/common/"), "{}", new.common_url);
    // The telcfg did not change: same URL.
    assert_eq!(
        new.entry.get("config", "telcfg"),
        old.entry.get("config", "telcfg")
    );
    assert_eq!(new.common.get("ipp", "Ringer_default_vol"), Some("7"));
    assert_eq!(new.sn(), "202611260002");
    assert_eq!(boot30(&repo, M2).sn(), "202611260002");
    assert_eq!(
        boot22(&repo, M22).sn(),
        old22,
        "another model's phones are untouched"
    );
}

#[test]
fn a_commit_outside_the_inventory_changes_no_phone_and_a_revert_gets_a_new_number() {
    let repo = Repo::with_base();
    repo.build(&[]);
    repo.write("README.txt", "unrelated\n");
    repo.commit("docs");
    let s = repo.build(&[]);
    assert_eq!(s["config_sn"], "202611260002");
    assert_eq!(s["changed_phones"], serde_json::json!([]));
    assert_eq!(boot30(&repo, M1).sn(), "202611260001");

    repo.edit(
        "inventory/phones/base.yaml",
        "Hélène Dupont",
        "Hélène Durand",
    );
    repo.commit("rename");
    repo.build(&[]);
    assert_eq!(boot30(&repo, M1).sn(), "202611260003");
    repo.git(&["revert", "--no-edit", "HEAD"]);
    repo.build(&[]);
    let v = boot30(&repo, M1);
    assert_eq!(
        v.value("sip", "DisplayName1").as_deref(),
        Some("Hélène Dupont")
    );
    assert_eq!(
        v.sn(),
        "202611260004",
        "a revert is a change for the phone: a new number, not the old one"
    );
}

#[test]
fn numbers_from_history_alone_equal_numbers_from_incremental_builds() {
    let repo = Repo::with_base();
    repo.build(&[]);
    repo.edit("inventory/phones/base.yaml", "Zoé", "Zoé B.");
    repo.commit("c2");
    repo.build(&[]);
    repo.write("notes.txt", "x\n");
    repo.commit("c3");
    repo.build(&[]);
    // A second phones file, then a raw setting that adds a key the ST2030s override.
    repo.write(
        "inventory/phones/more.yaml",
        "- mac: \"00:14:7F:E1:FC:70\"\n  model: ST2022\n  lines: [{user: \"1004\"}]\n",
    );
    repo.commit("c3b more phones");
    repo.edit(
        "inventory/phones/base.yaml",
        "profile: sales",
        "profile: sales\n  settings: {sys: {VOIPDialPlan: \"0x.T\"}}",
    );
    repo.commit("c3c an override");
    repo.edit("inventory/site.yaml", "dtmf: rfc2833", "dtmf: info");
    repo.commit("c4");
    repo.set_clock(1_795_687_200 + 86_400);
    repo.edit(
        "inventory/phones/base.yaml",
        "user: \"1003\"",
        "user: \"1003\", display_name: \"Ana\"",
    );
    repo.commit("c5 next day");
    let incremental = repo.build(&[]);
    let m_inc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
            .unwrap();
    // A fresh web root: the numbers come from walking and rendering history.
    let fresh = repo.build(&["--out", "fresh"]);
    let m_fresh: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("fresh/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(incremental["config_sn"], "202611270001");
    assert_eq!(fresh["config_sn"], incremental["config_sn"]);
    assert!(fresh["commits_rendered"].as_u64().unwrap() >= 2);
    for mac in [M1, M2, M22] {
        assert_eq!(
            m_fresh["phones"][mac]["config_sn"], m_inc["phones"][mac]["config_sn"],
            "{mac}"
        );
    }
    assert_eq!(
        m_inc["phones"][M1]["config_sn"], "202611260006",
        "dtmf changed all phones at c4"
    );
    assert_eq!(m_inc["phones"][M22]["config_sn"], "202611270001");
}

#[test]
fn the_same_commit_builds_byte_identical_trees() {
    let repo = Repo::with_base();
    repo.build(&["--out", "a"]);
    repo.build(&["--out", "b"]);
    let a = snapshot(&repo.path().join("a"));
    let b = snapshot(&repo.path().join("b"));
    assert!(!a.is_empty());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, (bytes, mtime)) in &a {
        assert_eq!(bytes, &b[k].0, "{k} differs");
        assert_eq!(mtime, &b[k].1, "{k} mtime differs");
    }
    // mtimes come from the commit, not the clock.
    let (_, mtime) = &a["manifest.json"];
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_795_687_200
    );
}

#[test]
fn building_the_same_commit_again_leaves_the_web_root_as_it_was() {
    // The top manifest is already the release's (one file, two names): putting it in place again
    // must leave no temporary name behind in the served tree.
    let repo = Repo::with_base();
    repo.build(&["--out", "a"]);
    let before = snapshot(&repo.path().join("a"));
    repo.build(&["--out", "a"]);
    let after = snapshot(&repo.path().join("a"));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same names"
    );
    assert_eq!(after, before);
}

#[test]
fn firmware_is_stored_once_per_content() {
    let repo = Repo::with_base();
    let s = repo.build(&[]);
    let store = repo.public().join("firmware");
    let dsp_sha = provsite::hashing::sha256_hex(
        &std::fs::read(repo.path().join("inventory/firmware/dsp30.zz")).unwrap(),
    );
    let dir = store.join(&dsp_sha);
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(dir.join("dsp30.zz")).unwrap();
    let b = std::fs::metadata(dir.join("dsp22.zz")).unwrap();
    assert_eq!(
        a.ino(),
        b.ino(),
        "the ST2030 and ST2022 DSP files share one stored copy"
    );
    // 6 firmware files in the inventory, 5 distinct contents.
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 5);
    assert_eq!(s["firmware_stored"], 6);
    // A second build stores nothing new.
    repo.write("x.txt", "y");
    repo.commit("x");
    assert_eq!(repo.build(&[])["firmware_stored"], 0);
}

#[test]
fn a_failed_build_leaves_the_web_root_untouched() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let before = snapshot(&repo.public());
    // Valid YAML, a new firmware file, and one bad MAC: nothing may be written.
    repo.write("inventory/firmware/new.zz", "new firmware\n");
    let sha = provsite::hashing::sha256_hex(b"new firmware\n");
    repo.edit("inventory/site.yaml", "app: {file: firmware/app30.zz, sha256: \"", &format!("app: {{file: firmware/new.zz, sha256: \"{sha}\"}}\n    x_old_app: {{file: firmware/app30.zz, sha256: \""));
    repo.edit("inventory/site.yaml", "    x_old_app: ", "    #");
    repo.edit(
        "inventory/phones/base.yaml",
        "00:14:7F:E1:FC:6D",
        "00:14:7F:E1:FC:6",
    );
    repo.commit("broken");
    let out = repo.provsite(&["build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad MAC address"));
    assert_eq!(snapshot(&repo.public()), before);
    // The new firmware is checked while the phones are read, and staged beside the web root for
    // a build: nothing staged is left there either.
    assert_no_staging_left(&repo);
    // And a first build that fails creates no web root at all.
    let out = repo.provsite(&["build", "--out", "never"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!repo.path().join("never").exists());
}

#[test]
fn keep_prunes_old_releases_and_their_unused_firmware() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let first_app = boot30(&repo, M1).firmware[0].0.clone();
    repo.write("inventory/firmware/app30b.zz", "app v2\n");
    let sha = provsite::hashing::sha256_hex(b"app v2\n");
    let site = repo.read("inventory/site.yaml");
    let start = site.find("app: {file: firmware/app30.zz").unwrap();
    let end = start + site[start..].find('\n').unwrap();
    repo.write(
        "inventory/site.yaml",
        &format!(
            "{}app: {{file: firmware/app30b.zz, sha256: \"{sha}\"}}{}",
            &site[..start],
            &site[end..]
        ),
    );
    repo.commit("new app firmware");
    repo.build(&["--keep", "5"]);
    for i in 0..3 {
        repo.write("n.txt", &i.to_string());
        repo.commit("n");
        repo.build(&["--keep", "2"]);
    }
    let releases: Vec<_> = std::fs::read_dir(repo.public().join("releases"))
        .unwrap()
        .collect();
    assert_eq!(releases.len(), 2);
    let old_sha = first_app.split('/').rev().nth(1).unwrap();
    assert!(
        !repo.public().join("firmware").join(old_sha).exists(),
        "firmware no kept release uses is pruned"
    );
    // Shared files: the live common file stays; one no kept release names goes, and a file of
    // someone else's in common/ is never touched.
    std::fs::write(repo.public().join("common/notes.txt"), "mine").unwrap();
    let live_common = boot30(&repo, M1)
        .common_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    repo.edit(
        "inventory/site.yaml",
        "Ringer_default_vol: \"5\"",
        "Ringer_default_vol: \"6\"",
    );
    repo.commit("louder");
    repo.build(&["--keep", "5"]);
    assert!(
        repo.public().join("common").join(&live_common).exists(),
        "a kept release names it"
    );
    for i in 0..5 {
        repo.write("n.txt", &format!("x{i}"));
        repo.commit("n");
        repo.build(&["--keep", "2"]);
    }
    assert!(
        !repo.public().join("common").join(&live_common).exists(),
        "no kept release names it"
    );
    assert!(repo.public().join("common/notes.txt").exists());
    // The live release still boots.
    boot30(&repo, M1);
}

#[test]
fn a_shallow_clone_is_an_error_that_names_the_fix() {
    let repo = Repo::with_base();
    repo.write("a.txt", "1");
    repo.commit("2");
    repo.write("a.txt", "2");
    repo.commit("3");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let st = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url, "c"])
        .current_dir(clone.path())
        .status()
        .unwrap();
    assert!(st.success());
    let out = run_provsite(&clone.path().join("c"), &["build"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shallow") && err.contains("fetch-depth: 0"),
        "{err}"
    );
}

#[test]
fn worktree_builds_are_marked_dirty_and_uncommitted_changes_are_not_built_silently() {
    let repo = Repo::with_base();
    repo.build(&[]);
    repo.edit(
        "inventory/phones/base.yaml",
        "Hélène Dupont",
        "Hélène Dirty",
    );
    let out = repo.provsite(&["build"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncommitted changes"));
    assert_eq!(
        boot30(&repo, M1).value("sip", "DisplayName1").as_deref(),
        Some("Hélène Dupont")
    );
    let s = repo.build(&["--worktree"]);
    assert_eq!(s["dirty"], true);
    assert!(s["release"].as_str().unwrap().ends_with("-dirty"));
    let v = boot30(&repo, M1);
    assert_eq!(
        v.value("sip", "DisplayName1").as_deref(),
        Some("Hélène Dirty")
    );
    assert_eq!(v.sn(), "202611265001");
    assert_eq!(boot30(&repo, M2).sn(), "202611260001");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["dirty"], true);
    // Committing the same change: the same bytes, so the phone keeps the number it applied
    // (the live manifest says so) and does not reload for nothing; the others keep theirs.
    repo.commit("the change, committed");
    let s = repo.build(&[]);
    assert_eq!(boot30(&repo, M1).sn(), "202611265001");
    assert_eq!(boot30(&repo, M2).sn(), "202611260001");
    assert_eq!(s["config_sn"], "202611260002");
    // A later change to that phone goes above the number it applied (git alone would give it
    // 202611260003, below the live one).
    repo.edit("inventory/phones/base.yaml", "Hélène Dirty", "Hélène Again");
    repo.commit("another change");
    repo.build(&[]);
    let sn: u64 = boot30(&repo, M1).sn().parse().unwrap();
    assert!(sn > 202611265001, "{sn}");
}

#[test]
fn missing_secrets_are_named_and_the_factory_password_is_refused() {
    let repo = Repo::with_base();
    let out = run_provsite(repo.path(), &["build"], &[("PROVSITE_SECRET", "")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no site secret") && err.contains("line 1001 of phone 001F9F16E849"),
        "{err}"
    );
    let out = run_provsite(
        repo.path(),
        &["build"],
        &[("TEST_ADMIN_PASSWORD", "784518")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("784518"));
    assert!(!repo.public().exists());
}

#[test]
fn a_secret_file_that_is_a_pipe_is_read_once() {
    // `--secret-file <(pass show provsite)`: the file gives its bytes once, and a build with a
    // previous output loads the secret twice.
    use std::io::Write;
    let repo = Repo::with_base();
    let build = |rev: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_provsite"))
            .args(["build", "--rev", rev, "--secret-file", "/dev/stdin"])
            .current_dir(repo.path())
            .env_remove("PROVSITE_SECRET")
            .env("TEST_ADMIN_PASSWORD", ADMIN)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"a-secret-given-by-a-pipe-0123456789\n")
            .unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let first = build("HEAD");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    repo.edit("inventory/phones/base.yaml", "Zoé", "Zoé Martin");
    repo.commit("one phone changes");
    let second = build("HEAD");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[test]
fn a_weak_or_endless_site_secret_is_refused() {
    let repo = Repo::with_base();
    let out = run_provsite(repo.path(), &["build"], &[("PROVSITE_SECRET", "  short  ")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PROVSITE_SECRET holds fewer than 16 bytes") && err.contains("/dev/urandom"),
        "{err}"
    );
    let out = run_provsite(
        repo.path(),
        &["build", "--secret-file", "/dev/zero"],
        &[("PROVSITE_SECRET", "")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("holds more than 64 KiB"), "{err}");
    assert!(!repo.public().exists());
}

#[test]
fn usage_errors_exit_2() {
    let repo = Repo::with_base();
    assert_eq!(repo.provsite(&["build", "--bogus"]).status.code(), Some(2));
    assert_eq!(
        repo.provsite(&["build", "--keep", "0"]).status.code(),
        Some(2)
    );
    assert_eq!(repo.provsite(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(repo.provsite(&["--help"]).status.code(), Some(0));
}

#[test]
fn the_example_inventory_builds_with_no_environment() {
    let repo = Repo::empty();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory"),
        &repo.path().join("inventory"),
    );
    repo.commit("example");
    let out = run_provsite(repo.path(), &["build"], &[("PROVSITE_SECRET", "")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = boot(
        &repo.public(),
        "http://prov.acme.test/",
        "ST2030S.inf",
        "ST2030S",
        "001F9F16E849",
    );
    assert_eq!(
        v.value("sip", "DisplayName1").as_deref(),
        Some("Hélène Dupont")
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
            .unwrap();
    // Every phone the example lists (counted from its files) is in the release.
    let mut listed = 0;
    let mut dirs = vec![repo.path().join("inventory/phones")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                let text = std::fs::read_to_string(e.path()).unwrap();
                listed += text.lines().filter(|l| l.starts_with("- mac:")).count();
            }
        }
    }
    assert!(listed >= 12, "the example lists {listed} phones");
    assert_eq!(m["phones"].as_object().unwrap().len(), listed);
    // Three models, and the Lyon branch's pilot of new ST2030 firmware.
    let models: Vec<&String> = m["models"].as_object().unwrap().keys().collect();
    assert_eq!(models, ["ST2022", "ST2030", "ST2030@st2030-pilot", "TB30"]);
}

#[test]
fn an_override_in_another_file_renumbers_the_models_phones_in_history_too() {
    // c2 adds an ST2030 in a second file; c3 gives it a raw setting, so every ST2030's common file
    // is renamed although base.yaml did not change; c4 touches the second file only.
    let repo = Repo::with_base();
    repo.write(
        "inventory/phones/more.yaml",
        "- mac: \"00:1F:9F:16:E8:60\"\n  model: ST2030\n  lines: [{user: \"1050\"}]\n",
    );
    repo.commit("c2");
    repo.edit(
        "inventory/phones/more.yaml",
        "lines:",
        "settings: {sys: {VOIPDialPlan: \"0x.T\"}}\n  lines:",
    );
    repo.commit("c3");
    repo.edit(
        "inventory/phones/more.yaml",
        "{user: \"1050\"}",
        "{user: \"1050\", display_name: \"Elsa\"}",
    );
    repo.commit("c4");
    repo.write("notes.txt", "x");
    repo.commit("c5");
    let fresh = repo.build(&["--out", "fresh"]);
    assert_eq!(fresh["config_sn"], "202611260005");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("fresh/manifest.json")).unwrap())
            .unwrap();
    let sn = |mac: &str| m["phones"][mac]["config_sn"].as_str().unwrap().to_string();
    assert_eq!(sn(M1), "202611260003", "the common file was renamed at c3");
    assert_eq!(sn(M2), "202611260003");
    assert_eq!(sn(M22), "202611260001", "another model is untouched");
    assert_eq!(sn("001F9F16E860"), "202611260004");
}

#[test]
fn an_inventory_template_overrides_the_default_and_a_broken_one_fails_cleanly() {
    let repo = Repo::with_base();
    // The default phone template plus a VLAN section for every phone.
    let default = default_phone_template();
    repo.write(
        "inventory/templates/phone.txt",
        &format!("{default}[qos]\nVLANid1=10\n"),
    );
    repo.commit("vlan via template");
    repo.build(&[]);
    let v = boot30(&repo, M1);
    assert_eq!(v.value("qos", "VLANid1").as_deref(), Some("10"));
    assert_eq!(v.value("sip", "TEL1Number").as_deref(), Some("1001"));
    let before = snapshot(&repo.public());
    // A key the firmware does not know: the checker refuses the file, nothing is written.
    repo.write(
        "inventory/templates/phone.txt",
        &format!("{default}[qos]\nVLANidd=10\n"),
    );
    repo.commit("typo in template");
    // `check` refuses it as `build` does, though it keeps nothing of what it renders.
    for command in ["build", "check"] {
        let out = repo.provsite(&[command]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unknown key qos.VLANidd") && err.contains("templates/phone.txt"),
            "{command}: {err}"
        );
    }
    assert_eq!(snapshot(&repo.public()), before);
    // A template that does not parse is reported with its file and line.
    repo.write(
        "inventory/templates/phone.txt",
        "{% for s in sections %}\n[{{ s.name }\n",
    );
    repo.commit("broken syntax");
    let out = repo.provsite(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--> inventory/templates/phone.txt:"), "{err}");
}

#[test]
fn unchanged_phone_files_are_links_and_the_tree_equals_a_fresh_build() {
    let repo = Repo::with_base();
    repo.build(&[]);
    let first_release = std::fs::read_dir(repo.public().join("releases"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    repo.edit(
        "inventory/phones/base.yaml",
        "Hélène Dupont",
        "Hélène Martin",
    );
    repo.commit("one phone");
    let s = repo.build(&[]);
    assert_eq!(s["files_linked"], 2, "the two unchanged phones are linked");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
            .unwrap();
    let release = repo
        .public()
        .join("releases")
        .join(m["release"].as_str().unwrap());
    use std::os::unix::fs::MetadataExt;
    let ino = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().ino();
    let unchanged = format!("config/ST2030S_{M2}.txt");
    assert_eq!(
        ino(release.join(&unchanged)),
        ino(first_release.join(&unchanged))
    );
    let changed = format!("config/ST2030S_{M1}.txt");
    assert_ne!(
        ino(release.join(&changed)),
        ino(first_release.join(&changed))
    );
    // The unchanged phone's file is dated by the commit that last changed it.
    assert_eq!(m["phones"][M2]["changed_at"], 1_795_687_200);
    // Built incrementally with links, or fresh: the same release, byte for byte and mtime for mtime.
    repo.build(&["--out", "fresh"]);
    let rel = format!("releases/{}", m["release"].as_str().unwrap());
    let inc = snapshot(&repo.public().join(&rel));
    let fresh = snapshot(&repo.path().join("fresh").join(&rel));
    assert_eq!(inc, fresh);
}

#[test]
fn a_model_no_longer_in_use_loses_its_entry_point() {
    let repo = Repo::with_base();
    repo.build(&[]);
    assert!(repo.public().join("ST2022S.inf").exists());
    let text = repo.read("inventory/phones/base.yaml");
    let cut = text.find("- mac: \"00:14:7F:E1:FC:6D\"").unwrap();
    repo.write("inventory/phones/base.yaml", &text[..cut]);
    repo.commit("the ST2022 leaves");
    repo.build(&[]);
    assert!(
        !repo.public().join("ST2022S.inf").exists(),
        "it would name a release that gets pruned"
    );
    boot30(&repo, M1);
}

#[test]
fn a_phone_added_to_an_existing_file_is_numbered_from_its_commit_by_history_alone() {
    let repo = Repo::with_base();
    let text = repo.read("inventory/phones/base.yaml");
    repo.write(
        "inventory/phones/base.yaml",
        &format!(
            "{text}- mac: \"00:1F:9F:16:E8:61\"\n  model: ST2030\n  lines: [{{user: \"1061\"}}]\n"
        ),
    );
    repo.commit("c2 a new phone");
    repo.write("notes.txt", "x");
    repo.commit("c3");
    repo.edit("inventory/phones/base.yaml", "Zoé", "Zoé B.");
    repo.commit("c4");
    let s = repo.build(&["--out", "fresh"]);
    assert_eq!(s["config_sn"], "202611260004");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("fresh/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["phones"]["001F9F16E861"]["config_sn"], "202611260002");
    assert_eq!(m["phones"][M1]["config_sn"], "202611260001");
    assert_eq!(m["phones"][M2]["config_sn"], "202611260004");
}

/// The live release's phone files are linked into the next release while the inventory loads,
/// before anyone knows which phones keep theirs: a phone that changed, left, or changed model
/// must still get exactly what a fresh build gives, and the live release must stay as it was
/// (a file written for the new release never goes through a link to a live one).
#[test]
fn phones_that_change_leave_or_change_model_after_a_build_leave_the_live_release_untouched() {
    let repo = Repo::with_base();
    // One phone a file, as teams' files are: a commit then changes few of the files.
    let text = repo.read("inventory/phones/base.yaml");
    let starts: Vec<usize> = text.match_indices("- mac:").map(|(i, _)| i).collect();
    for (n, &at) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        repo.write(&format!("inventory/phones/p{n}.yaml"), &text[at..end]);
    }
    std::fs::remove_file(repo.path().join("inventory/phones/base.yaml")).unwrap();
    repo.commit("one phone a file");
    repo.build(&[]);
    let live_release = |repo: &Repo| -> String {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
                .unwrap();
        m["release"].as_str().unwrap().to_string()
    };
    let step = |what: &str, change: &dyn Fn(&Repo), linked: u64, files: &[String]| {
        let before = live_release(&repo);
        let live = snapshot(&repo.public().join("releases").join(&before));
        change(&repo);
        repo.commit(what);
        let s = repo.build(&[]);
        assert_eq!(s["files_linked"], linked, "{what}: {s}");
        assert_eq!(
            snapshot(&repo.public().join("releases").join(&before)),
            live,
            "{what}: the live release changed"
        );
        let rel = format!("releases/{}", live_release(&repo));
        let _ = std::fs::remove_dir_all(repo.path().join("fresh"));
        let _ = std::fs::remove_dir_all(repo.path().join(".fresh.provsite"));
        repo.build(&["--out", "fresh"]);
        let inc = snapshot(&repo.public().join(&rel));
        assert_eq!(
            inc,
            snapshot(&repo.path().join("fresh").join(&rel)),
            "{what}: not what a fresh build gives"
        );
        let mut config: Vec<String> = inc
            .keys()
            .filter_map(|k| k.strip_prefix("config/").map(str::to_string))
            .collect();
        config.sort();
        assert_eq!(config, files, "{what}");
    };
    let name = |model: &str, mac: &str| format!("{model}S_{mac}.txt");
    step(
        "a phone changes",
        &|r| r.edit("inventory/phones/p0.yaml", "Hélène Dupont", "Hélène Martin"),
        2,
        &[name("ST2022", M22), name("ST2030", M1), name("ST2030", M2)],
    );
    step(
        "a phone leaves",
        &|r| std::fs::remove_file(r.path().join("inventory/phones/p1.yaml")).unwrap(),
        // The phone that left overrode a key of its model (its profile's): the keys every phone
        // of the model states change, and with them the first phone's file.
        1,
        &[name("ST2022", M22), name("ST2030", M1)],
    );
    step(
        "a phone changes model",
        &|r| r.edit("inventory/phones/p2.yaml", "model: ST2022", "model: ST2030"),
        1,
        &[name("ST2030", M22), name("ST2030", M1)],
    );
    step(
        "nothing changes",
        &|_| {},
        2,
        &[name("ST2030", M22), name("ST2030", M1)],
    );
}

#[test]
fn a_byte_order_mark_at_the_start_of_a_file_is_not_part_of_it() {
    // Some editors on Windows start a UTF-8 file with one; YAML allows it there.
    let plain = Repo::with_base();
    let marked = Repo::with_base();
    for f in ["inventory/site.yaml", "inventory/phones/base.yaml"] {
        let text = marked.read(f);
        std::fs::write(marked.path().join(f), format!("\u{feff}{text}")).unwrap();
    }
    marked.commit("saved by an editor that writes a byte-order mark");
    // A phone's file, but for its number (the two repositories' commits differ).
    let own = |r: &Repo| -> Vec<String> {
        let bytes = boot30(r, "001F9F16E849").own_bytes;
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.starts_with("config_sn="))
            .map(str::to_string)
            .collect()
    };
    plain.build(&[]);
    let want = own(&plain);
    assert!(want.iter().any(|l| l.starts_with("regid1=")), "{want:?}");
    for args in [&[][..], &["--worktree"][..]] {
        let out = marked.provsite(&[&["check"][..], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        marked.build(args);
        assert_eq!(own(&marked), want, "{args:?}");
    }
}

/// With `--keep`, a build whose pruning would remove a release takes that release's folder over
/// as its staged release, so that a new release costs what differs between the two instead of a
/// link per phone. Whatever that folder held (files a hand changed, left there, or links), the
/// new release must be exactly what a fresh build gives, the live release must stay as it was,
/// and a build that fails must put the folder back.
#[test]
fn a_build_that_prunes_takes_over_the_pruned_release_and_gives_what_a_fresh_build_gives() {
    use std::os::unix::fs::MetadataExt;
    let repo = Repo::with_base();
    let keep = ["--keep", "2"];
    let live_release = |repo: &Repo| -> String {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.public().join("manifest.json")).unwrap())
                .unwrap();
        m["release"].as_str().unwrap().to_string()
    };
    let releases = |repo: &Repo| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(repo.public().join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let config = |repo: &Repo, rel: &str| repo.public().join("releases").join(rel).join("config");
    let file = |model: &str, mac: &str| format!("{model}S_{mac}.txt");
    // One step: a change, a build that prunes one release, and what it must give.
    let step = |what: &str, change: &dyn Fn(&Repo)| {
        let before = releases(&repo);
        let live = live_release(&repo);
        // The oldest release goes; its folder becomes the new one.
        let dir_ino = |rel: &str| {
            std::fs::metadata(repo.public().join("releases").join(rel))
                .unwrap()
                .ino()
        };
        let oldest = dir_ino(&before[0]);
        let live_files = snapshot(&repo.public().join("releases").join(&live));
        change(&repo);
        repo.commit(what);
        let s = repo.build(&keep);
        assert_eq!(s["releases_pruned"], 1, "{what}: {s}");
        let new = live_release(&repo);
        assert_eq!(
            releases(&repo),
            [live.clone(), new.clone()],
            "{what}: {before:?}"
        );
        assert_eq!(
            dir_ino(&new),
            oldest,
            "{what}: the release pruned was not taken over"
        );
        assert_eq!(
            snapshot(&repo.public().join("releases").join(&live)),
            live_files,
            "{what}: the live release changed"
        );
        let _ = std::fs::remove_dir_all(repo.path().join("fresh"));
        let _ = std::fs::remove_dir_all(repo.path().join(".fresh.provsite"));
        repo.build(&["--out", "fresh"]);
        let rel = format!("releases/{new}");
        let (a, b) = (
            snapshot(&repo.public().join(&rel)),
            snapshot(&repo.path().join("fresh").join(&rel)),
        );
        let differ: Vec<&String> = a
            .keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: not what a fresh build gives: {differ:?}"
        );
        // Nothing but the phones' files under config/ (no folder, no link of another kind).
        let mut names: Vec<String> = std::fs::read_dir(config(&repo, &new))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert!(e.file_type().unwrap().is_file(), "{what}: {:?}", e.path());
                e.file_name().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [file("ST2022", M22), file("ST2030", M1), file("ST2030", M2)],
            "{what}"
        );
        (live, new)
    };
    repo.build(&keep);
    repo.edit(
        "inventory/phones/base.yaml",
        "Hélène Dupont",
        "Hélène Martin",
    );
    repo.commit("first change");
    repo.build(&keep);

    // The release before the live one goes: its folder becomes the new release.
    let (live, new) = step("a phone changes", &|r| {
        r.edit("inventory/phones/base.yaml", "Hélène Martin", "Hélène M.")
    });
    // The phones that kept their file share it with the live release, as links do.
    let ino = |rel: &str, name: &str| {
        std::fs::metadata(config(&repo, rel).join(name))
            .unwrap()
            .ino()
    };
    assert_eq!(
        ino(&new, &file("ST2022", M22)),
        ino(&live, &file("ST2022", M22))
    );

    // A hand in the folder about to be taken over (the live one's predecessor, `live` now):
    // a file of its own, a folder, a symbolic link and a forged copy under phones' names.
    let old = config(&repo, &live);
    std::fs::write(old.join(file("ST2030", "001F9F000000")), "left here\n").unwrap();
    std::fs::create_dir(old.join("sub")).unwrap();
    std::fs::write(old.join("sub").join(file("ST2030", M2)), "in a folder\n").unwrap();
    let m22 = old.join(file("ST2022", M22));
    let mtime = std::fs::metadata(&m22).unwrap().modified().unwrap();
    std::fs::remove_file(&m22).unwrap();
    std::fs::write(&m22, "forged\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&m22)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::remove_file(old.join(file("ST2030", M1))).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", old.join(file("ST2030", M1))).unwrap();
    // And a file of no phone in the live release, linked into it (the very same file in both).
    let stray = config(&repo, &live_release(&repo)).join(file("ST2030", "001F9F000001"));
    std::fs::write(&stray, "stray\n").unwrap();
    std::fs::hard_link(&stray, old.join(file("ST2030", "001F9F000001"))).unwrap();
    let (live, _) = step("another phone changes", &|r| {
        r.edit("inventory/phones/base.yaml", "Zoé", "Zoé B.")
    });

    // A live file changed in place (its mtime tells): the release that shares it is taken
    // over, and the new release does not take the changed file from it.
    let touched = config(&repo, &live_release(&repo)).join(file("ST2022", M22));
    assert_eq!(
        ino(&live, &file("ST2022", M22)),
        std::fs::metadata(&touched).unwrap().ino(),
        "shared before the change"
    );
    std::fs::File::options()
        .append(true)
        .open(&touched)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
        .unwrap();
    let touched_bytes = std::fs::read(&touched).unwrap();
    let (_, new) = step("a third change", &|r| {
        r.edit("inventory/phones/base.yaml", "Hélène M.", "Hélène")
    });
    assert_eq!(std::fs::read(&touched).unwrap(), touched_bytes);
    assert_ne!(
        std::fs::metadata(config(&repo, &new).join(file("ST2022", M22)))
            .unwrap()
            .modified()
            .unwrap(),
        std::fs::metadata(&touched).unwrap().modified().unwrap()
    );

    // A build that fails once it has taken a release over puts it back as it was: a template
    // that writes a key the firmware does not know is refused after the release's number is
    // known (each phone's file is checked as it is rendered).
    let before = snapshot(&repo.public());
    let inodes: Vec<u64> = releases(&repo)
        .iter()
        .map(|r| ino(r, &file("ST2022", M22)))
        .collect();
    let default = default_phone_template();
    repo.write(
        "inventory/templates/phone.txt",
        &format!("{default}[qos]\nVLANidd=10\n"),
    );
    repo.commit("typo in template");
    let out = repo.provsite(&["build", "--keep", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("VLANidd"));
    assert_eq!(snapshot(&repo.public()), before, "the web root changed");
    let after: Vec<u64> = releases(&repo)
        .iter()
        .map(|r| ino(r, &file("ST2022", M22)))
        .collect();
    assert_eq!(
        after, inodes,
        "the files put back are the very files they were"
    );
    assert_no_staging_left(&repo);
    // The broken commit dropped, the next build takes the release over all the same.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    step("a change after the failed build", &|r| {
        r.edit("inventory/phones/base.yaml", "Zoé B.", "Zoé")
    });
}

/// Nothing a build staged beside the web root is left there.
fn assert_no_staging_left(repo: &Repo) {
    let work = repo.path().join(".public.provsite");
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("staging-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A release taken over that had no `config/` folder (a hand removed it) is put back without
/// one when the build fails, and taken over all the same by the next build.
#[test]
fn a_release_without_its_config_folder_is_put_back_as_it_was() {
    let repo = Repo::with_base();
    let keep = ["--keep", "2"];
    repo.build(&keep);
    let first = std::fs::read_dir(repo.public().join("releases"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    repo.edit("inventory/phones/base.yaml", "Zoé", "Zoé B.");
    repo.commit("second");
    repo.build(&keep);
    std::fs::remove_dir_all(first.join("config")).unwrap();
    let before = snapshot(&repo.public());
    repo.write(
        "inventory/templates/phone.txt",
        &format!("{}[qos]\nVLANidd=10\n", default_phone_template()),
    );
    repo.commit("typo in template");
    let out = repo.provsite(&["build", "--keep", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(snapshot(&repo.public()), before);
    assert!(first.is_dir(), "the release is back");
    assert!(
        !first.join("config").exists(),
        "without a config folder, as it was"
    );
    assert_no_staging_left(&repo);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.edit("inventory/phones/base.yaml", "Zoé B.", "Zoé");
    repo.commit("third");
    let s = repo.build(&keep);
    assert_eq!(s["releases_pruned"], 1);
    assert!(!first.exists());
    let rel = format!("releases/{}", s["release"].as_str().unwrap());
    repo.build(&["--out", "fresh"]);
    assert_eq!(
        snapshot(&repo.public().join(&rel)),
        snapshot(&repo.path().join("fresh").join(&rel))
    );
}
