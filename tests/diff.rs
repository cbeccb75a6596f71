//! `provsite diff`: names exactly the phones a change affects, what changed in them with
//! passwords masked, firmware upgrades, in text, markdown and JSON.

mod common;

use common::Repo;

fn diff(r: &Repo, args: &[&str]) -> String {
    let mut a = vec!["diff"];
    a.extend_from_slice(args);
    let out = r.provsite(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(r: &Repo, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&diff(r, &a)).unwrap()
}

fn macs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn names_exactly_the_phones_that_change() {
    let r = Repo::with_base();
    // One phone's display name, one phone added, and a literal password on another.
    r.edit(
        "inventory/phones/base.yaml",
        "lines: [{user: \"1002\", display_name: \"Zoé\"}]",
        "lines: [{user: \"1002\", display_name: \"Zoë\", password: \"s3cret-one\"}]",
    );
    let phones = r.read("inventory/phones/base.yaml");
    r.write(
        "inventory/phones/base.yaml",
        &format!("{phones}- mac: \"00:1F:9F:16:E8:4B\"\n  model: ST2030\n  lines: [{{user: \"1005\"}}]\n"),
    );
    r.commit("Zoë, a new desk");
    let d = json(&r, &[]);
    assert_eq!(macs(&d["reload"]), ["001F9F16E84A", "001F9F16E84B"]);
    assert_eq!(d["added"][0]["mac"], "001F9F16E84B");
    assert_eq!(d["added"][0]["model"], "ST2030");
    assert_eq!(d["changed"].as_array().unwrap().len(), 1);
    let changes = d["changed"][0]["changes"].as_array().unwrap();
    let display = changes.iter().find(|c| c["key"] == "DisplayName1").unwrap();
    assert_eq!(
        (display["before"].as_str(), display["after"].as_str()),
        (Some("Zoé"), Some("Zoë"))
    );
    let pw = changes.iter().find(|c| c["key"] == "regpwd1").unwrap();
    assert_eq!(
        (pw["before"].as_str(), pw["after"].as_str()),
        (Some("(hidden)"), Some("(hidden)"))
    );
    let text = diff(&r, &[]);
    assert!(!text.contains("s3cret-one"), "a password leaked: {text}");
    assert!(
        text.contains("2 phone(s) will reload, 1 will upgrade firmware"),
        "{text}"
    );

    // The password alone changing: the phone reloads, the value stays hidden.
    r.edit("inventory/phones/base.yaml", "s3cret-one", "s3cret-two");
    r.commit("rotate");
    let d = json(&r, &[]);
    assert_eq!(macs(&d["reload"]), ["001F9F16E84A"]);
    assert!(!diff(&r, &["--format", "markdown"]).contains("s3cret"));

    // A model setting: the common file changes, every phone of the model reloads; the ST2022 not.
    r.edit(
        "inventory/site.yaml",
        "Ringer_default_vol: \"5\"",
        "Ringer_default_vol: \"7\"",
    );
    r.commit("louder");
    let d = json(&r, &[]);
    assert_eq!(
        macs(&d["reload"]),
        ["001F9F16E849", "001F9F16E84A", "001F9F16E84B"]
    );
    assert_eq!(d["common"]["ST2030"][0]["key"], "Ringer_default_vol");
    assert!(d["upgrade"].as_array().unwrap().is_empty());

    // Nothing that reaches a phone: nobody reloads.
    r.write("inventory/NOTES.md", "who sits where\n");
    r.commit("notes");
    let d = json(&r, &[]);
    assert!(d["reload"].as_array().unwrap().is_empty());
    assert!(diff(&r, &[]).contains("No phone is affected."));

    // Further apart: from the first commit to now.
    let first = r
        .git(&["rev-list", "--max-parents=0", "HEAD"])
        .trim()
        .to_string();
    let d = json(&r, &[&first, "HEAD"]);
    assert_eq!(
        macs(&d["reload"]),
        ["001F9F16E849", "001F9F16E84A", "001F9F16E84B"]
    );
}

#[test]
fn firmware_changes_are_upgrades() {
    let r = Repo::with_base();
    let app = r.path().join("inventory/firmware/app22-new.zz");
    std::fs::write(&app, "PLACEHOLDER app 22 new\n").unwrap();
    let sha = provsite::hashing::sha256_hex(&std::fs::read(&app).unwrap());
    let site = r.read("inventory/site.yaml");
    let line = site
        .lines()
        .find(|l| l.contains("file: firmware/app22.zz"))
        .unwrap()
        .to_string();
    r.write(
        "inventory/site.yaml",
        &site.replace(
            &line,
            &format!("    app: {{file: firmware/app22-new.zz, sha256: \"{sha}\"}}"),
        ),
    );
    r.commit("new ST2022 firmware");
    let d = json(&r, &[]);
    assert_eq!(macs(&d["upgrade"]), ["00147FE1FC6D"]);
    assert_eq!(macs(&d["reload"]), ["00147FE1FC6D"]);
    assert_eq!(d["firmware"][0]["model"], "ST2022");
    assert_eq!(d["firmware"][0]["role"], "app");
    let md = diff(&r, &["--format", "markdown"]);
    assert!(md.starts_with("### provsite diff"), "{md}");
    assert!(md.contains("#### Firmware"), "{md}");
}
