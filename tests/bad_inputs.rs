//! One fixture per kind of bad input (tests/fixtures/bad/<case>/): files laid over the base
//! inventory, and `expected`: the file, the line, then text the message must hold. `provsite check`
//! must fail with exit code 1 and say all of it.

mod common;

use common::*;

#[test]
fn every_bad_fixture_is_reported_with_file_line_and_hint() {
    let dir = fixtures().join("bad");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "fixtures missing");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let repo = Repo::with_base();
        for entry in std::fs::read_dir(case).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != "expected" {
                let target = repo.path().join("inventory").join(entry.file_name());
                if entry.path().is_dir() {
                    copy_dir(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        repo.commit(&name);
        let expected = std::fs::read_to_string(case.join("expected")).unwrap();
        let mut lines = expected.lines();
        let file = lines.next().unwrap();
        let line = lines.next().unwrap();
        let out = repo.provsite(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit code {:?}", out.status.code()));
        }
        if !err.contains(&format!("--> {file}:{line}:")) {
            problems.push(format!("no `--> {file}:{line}:`"));
        }
        for want in lines {
            if !err.contains(want) {
                problems.push(format!("no `{want}`"));
            }
        }
        if !err.contains("= hint: ") {
            problems.push("no hint".into());
        }
        if err.contains("panicked") {
            problems.push("panic".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{err}", problems.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

#[test]
fn all_errors_of_an_inventory_are_reported_at_once() {
    let repo = Repo::with_base();
    repo.write(
        "inventory/phones/base.yaml",
        "- mac: \"00:1F:9F:16:E8\"\n  model: ST2030\n  lines: [{user: \"1001\"}]\n- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST9999\n  lines: [{user: \"1002\"}]\n- mac: \"00:1F:9F:16:E8:4B\"\n  model: ST2030\n  lines: [{user: \"1003\", display_name: \"Ω\"}]\n",
    );
    repo.commit("many errors");
    let out = repo.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["bad MAC", "unknown model `ST9999`", "cannot encode"] {
        assert!(err.contains(want), "{want} missing from:\n{err}");
    }
    assert!(err.contains("3 error(s)"), "{err}");
    // With a valid site, the firmware is checked in the same run as the phones.
    repo.write("inventory/firmware/boot22.zz", "tampered\n");
    repo.commit("tampered firmware");
    let err = String::from_utf8_lossy(&repo.provsite(&["check"]).stderr).into_owned();
    assert!(
        err.contains("SHA-256 mismatch") && err.contains("bad MAC") && err.contains("4 error(s)"),
        "{err}"
    );
    // A site error and the phones' errors are reported together too.
    repo.edit("inventory/site.yaml", "language: fr", "language: xx");
    repo.commit("bad language");
    let err = String::from_utf8_lossy(&repo.provsite(&["check"]).stderr).into_owned();
    assert!(
        err.contains("unknown language") && err.contains("bad MAC"),
        "{err}"
    );
}

#[test]
fn check_passes_on_a_valid_inventory_and_warns_about_literal_passwords() {
    let repo = Repo::with_base();
    repo.edit(
        "inventory/phones/base.yaml",
        "{user: \"1003\"}",
        "{user: \"1003\", password: \"s3cret-literal\"}",
    );
    repo.commit("literal");
    let out = repo.provsite(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: password in repository"), "{err}");
    assert!(err.contains("--> inventory/phones/base.yaml:14:"), "{err}");
}

#[test]
fn a_problem_many_phones_share_is_reported_once() {
    // Three phones take the `sales` profile; its key target is bad once, in site.yaml.
    let repo = Repo::with_base();
    repo.edit(
        "inventory/site.yaml",
        "keys: {1: {blf: \"1002\"}}",
        "keys: {1: {blf: \"10|02\"}}",
    );
    repo.write(
        "inventory/phones/base.yaml",
        "- mac: \"00:1F:9F:16:E8:49\"\n  model: ST2030\n  profile: sales\n  lines: [{user: \"1001\"}]\n- mac: \"00:1F:9F:16:E8:4A\"\n  model: ST2030\n  profile: sales\n  lines: [{user: \"1002\"}]\n- mac: \"00:1F:9F:16:E8:4B\"\n  model: ST2030\n  profile: sales\n  lines: [{user: \"1003\"}]\n",
    );
    repo.commit("a bad target in a shared profile");
    let out = repo.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("bad key target `10|02`").count(), 1, "{err}");
    assert!(err.contains("--> inventory/site.yaml:35:"), "{err}");
    assert!(err.contains("1 error(s)"), "{err}");
}

#[test]
fn an_example_secret_file_of_megabytes_is_refused_at_its_field() {
    let repo = Repo::with_base();
    repo.edit(
        "inventory/site.yaml",
        "name: Test site\n",
        "name: Test site\nexample_secret_file: example.secret\n",
    );
    repo.write("inventory/example.secret", &"x".repeat(3 << 20));
    repo.commit("a large example secret");
    let out = run_provsite(repo.path(), &["check"], &[("PROVSITE_SECRET", "")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("example_secret_file inventory/example.secret holds more than 64 KiB: a secret is one line of text\n  --> inventory/site.yaml:2:22"),
        "{err}"
    );
}

#[test]
fn a_missing_example_secret_file_is_shown_at_its_field() {
    let repo = Repo::with_base();
    repo.edit(
        "inventory/site.yaml",
        "name: Test site\n",
        "name: Test site\nexample_secret_file: example.secret\n",
    );
    repo.commit("an example secret that is not there");
    let out = run_provsite(repo.path(), &["check"], &[("PROVSITE_SECRET", "")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("example_secret_file inventory/example.secret not found\n  --> inventory/site.yaml:2:22"),
        "{err}"
    );
}
