//! The invariant git history cannot see: for any phone, the same config_sn always means the same
//! bytes. A rotated secret, an `{env:}` password, an amended commit and two working-tree builds
//! each change bytes without a new commit; the live site's manifest is the record.

mod common;

use std::process::Command;

use common::{run_provsite, snapshot, Repo, ADMIN, SECRET};

const M1: &str = "001F9F16E849";
const M2: &str = "001F9F16E84A";
const M22: &str = "00147FE1FC6D";
const OTHER_SECRET: &str = "another-site-secret-9876543210";

/// Each phone's (config_sn, digest) in a web root's live manifest.
fn numbers(root: &std::path::Path) -> Numbers {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    m["phones"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(mac, p)| {
            (
                mac.clone(),
                (
                    p["config_sn"].as_str().unwrap().to_string(),
                    p["digest"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Builds with extra environment; the JSON summary.
fn build_with(r: &Repo, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut a = vec!["build", "--json"];
    a.extend_from_slice(args);
    let out = run_provsite(r.path(), &a, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// No phone keeps a number with other bytes between two web roots.
fn assert_invariant(a: &std::path::Path, b: &std::path::Path) {
    let (na, nb) = (numbers(a), numbers(b));
    for (mac, (sn, digest)) in &nb {
        if let Some((sn_a, digest_a)) = na.get(mac) {
            assert!(
                !(sn == sn_a && digest != digest_a),
                "{mac} keeps config_sn {sn} with other bytes"
            );
        }
    }
}

#[test]
fn a_rotated_secret_renumbers_the_phones_with_the_previous_output() {
    let r = Repo::with_base();
    r.build(&[]);
    let before = numbers(&r.public());
    let copy = r.path().join("before");
    common::copy_dir(&r.public(), &copy);
    let s = build_with(&r, &[], &[("PROVSITE_SECRET", OTHER_SECRET)]);
    let after = numbers(&r.public());
    // Every line's password is derived: every phone's bytes changed, and so did its number.
    assert_eq!(s["renumbered"].as_array().unwrap().len(), 3, "{s}");
    for mac in [M1, M2, M22] {
        assert_ne!(before[mac].1, after[mac].1, "{mac}: the bytes changed");
        assert_ne!(before[mac].0, after[mac].0, "{mac}: so must the number");
    }
    assert_invariant(&copy, &r.public());
    // Building again with the same secret changes nothing more.
    let s = build_with(&r, &[], &[("PROVSITE_SECRET", OTHER_SECRET)]);
    assert_eq!(s["renumbered"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(numbers(&r.public()), after);
}

#[test]
fn from_scratch_a_rotation_needs_the_live_site_and_publish_refuses_without_it() {
    let r = Repo::with_base();
    r.build(&["--out", "a"]);
    let dest = r.path().join("www");
    let publish = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_provsite"))
            .args(["publish", "--out", out, "--to"])
            .arg(&dest)
            .current_dir(r.path())
            .env("PROVSITE_SECRET", SECRET)
            .env("TEST_ADMIN_PASSWORD", ADMIN)
            .output()
            .unwrap()
    };
    assert!(publish("a").status.success());
    // The deploy workflow builds from scratch: without the live manifest, git alone gives the
    // same numbers to different bytes...
    build_with(&r, &["--out", "b"], &[("PROVSITE_SECRET", OTHER_SECRET)]);
    let (na, nb) = (numbers(&r.path().join("a")), numbers(&r.path().join("b")));
    assert_eq!(na[M1].0, nb[M1].0);
    assert_ne!(na[M1].1, nb[M1].1);
    // ... which publish refuses, naming the phones and the fix.
    let out = publish("b");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(M1) && err.contains("--previous"), "{err}");
    assert_eq!(numbers(&dest), na, "nothing was switched");
    // With the live site as --previous, the build renumbers them and publish takes it.
    let s = build_with(
        &r,
        &["--out", "c", "--previous", dest.to_str().unwrap()],
        &[("PROVSITE_SECRET", OTHER_SECRET)],
    );
    assert_eq!(s["renumbered"].as_array().unwrap().len(), 3, "{s}");
    assert_invariant(&dest, &r.path().join("c"));
    let out = publish("c");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(numbers(&dest), numbers(&r.path().join("c")));
    // And a build with the same secret and the live site keeps those numbers (same bytes).
    build_with(
        &r,
        &["--out", "d", "--previous", dest.to_str().unwrap()],
        &[("PROVSITE_SECRET", OTHER_SECRET)],
    );
    assert_eq!(numbers(&r.path().join("d")), numbers(&dest));
}

#[test]
fn an_env_password_change_renumbers_that_phone_only() {
    let r = common::password_from_env();
    build_with(&r, &[], &[("PW_1001", "First-pass-1")]);
    let before = numbers(&r.public());
    let s = build_with(&r, &[], &[("PW_1001", "Second-pass-2")]);
    assert_eq!(s["renumbered"], serde_json::json!([M1]));
    let after = numbers(&r.public());
    assert_ne!(before[M1].0, after[M1].0);
    assert_eq!(before[M2], after[M2]);
    assert_eq!(before[M22], after[M22]);
}

#[test]
fn an_amended_commit_gives_the_changed_phone_a_new_number() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé A\"",
    );
    r.commit("a change");
    r.build(&[]);
    let before = numbers(&r.public());
    // The same change, amended on the same day: same parent, same release config_sn.
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé A\"",
        "display_name: \"Zoé B\"",
    );
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "--amend", "-m", "a change, amended"]);
    r.build(&[]);
    let after = numbers(&r.public());
    assert_ne!(before[M2].1, after[M2].1);
    assert_ne!(
        before[M2].0, after[M2].0,
        "the amended file needs a new number"
    );
    assert_eq!(before[M1], after[M1]);
}

#[test]
fn two_working_tree_builds_of_different_content_get_different_numbers() {
    let r = Repo::with_base();
    r.build(&[]);
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé X\"",
    );
    r.build(&["--worktree"]);
    let first = numbers(&r.public());
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé X\"",
        "display_name: \"Zoé Y\"",
    );
    r.build(&["--worktree"]);
    let second = numbers(&r.public());
    assert_ne!(first[M2].1, second[M2].1);
    assert_ne!(first[M2].0, second[M2].0);
    assert_eq!(first[M1], second[M1]);
}

/// The history walk remembers a phone's digest under everything it is rendered from: a change
/// in any rendered field (here `codecs`, the newest) must count as a change of the phone, or a
/// build from history alone would give it an older number than the commit that changed it.
#[test]
fn a_change_in_any_rendered_field_renumbers_from_history_alone() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "lines: [{user: \"1003\"}]",
        "lines: [{user: \"1003\"}]\n  codecs: [alaw]",
    );
    r.commit("c1");
    r.edit(
        "inventory/phones/base.yaml",
        "codecs: [alaw]",
        "codecs: [ulaw]",
    );
    let c2 = r.commit("c2: only the codecs of 1003's phone");
    r.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé B\"",
    );
    r.commit("c3: another phone of the same file");
    // From scratch: numbers from the history walk alone.
    r.build(&["--out", "fresh"]);
    let fresh = numbers(&r.path().join("fresh"));
    // Incrementally: a build at c2, then at HEAD.
    r.git(&["checkout", "-q", &c2]);
    r.build(&["--out", "inc"]);
    let at_c2 = numbers(&r.path().join("inc"));
    r.git(&["checkout", "-q", "main"]);
    r.build(&["--out", "inc"]);
    let inc = numbers(&r.path().join("inc"));
    assert_eq!(fresh, inc);
    assert_eq!(fresh[M22].0, at_c2[M22].0, "the phone last changed at c2");
    assert_ne!(fresh[M22].0, fresh[M1].0);
}

/// Writes 40 files of 12 phones (more files and phones than the history walk handles on one
/// thread or in one batch) under `inventory/phones/many/`; `edit`: (file, phone) renamed, and
/// given a raw setting when `raw` is set.
fn many_phones(r: &Repo, edit: Option<(usize, usize)>, raw: bool) {
    for f in 0..40 {
        let text: String = (0..12)
            .map(|i| {
                let n = f * 12 + i;
                let edited = edit == Some((f, i));
                let name = if edited { "Renamed".to_string() } else { format!("Desk {n}") };
                let settings = if edited && raw {
                    "  settings: {sys: {VOIPDialPlan: \"0x.T\"}}\n"
                } else {
                    ""
                };
                format!(
                    "- mac: \"00:1F:9F:00:{:02X}:{:02X}\"\n  model: ST2030\n  lines: [{{user: \"{}\", display_name: \"{name}\"}}]\n  keys: {{1: {{blf: \"{}\"}}}}\n{settings}",
                    n / 256,
                    n % 256,
                    5000 + n,
                    5000 + (n + 1) % 480
                )
            })
            .collect();
        r.write(&format!("inventory/phones/many/f{f:02}.yaml"), &text);
    }
}

/// Three commits over the base inventory: c1 adds [`many_phones`], c2 edits one of them (see
/// [`many_phones`]), c3 adds a comment to site.yaml (so the walk renders c2's phones again under
/// c2's site). Each phone's numbers built commit by commit at c1, c2 and c3 (each build numbering
/// from the one before it in the output), then from history alone at c3.
fn numbers_over_three_commits(edit: (usize, usize), raw: bool) -> Vec<Numbers> {
    let r = Repo::with_base();
    many_phones(&r, None, false);
    let c1 = r.commit("c1: 480 more phones");
    many_phones(&r, Some(edit), raw);
    let c2 = r.commit("c2: one phone edited");
    let site = r.read("inventory/site.yaml");
    r.write("inventory/site.yaml", &format!("# the site\n{site}"));
    let c3 = r.commit("c3: a comment in site.yaml");
    let mut all = Vec::new();
    for c in [&c1, &c2, &c3] {
        r.git(&["checkout", "-q", c]);
        r.build(&["--out", "a"]);
        all.push(numbers(&r.path().join("a")));
    }
    r.build(&["--out", "fresh"]);
    all.push(numbers(&r.path().join("fresh")));
    all
}

type Numbers = std::collections::BTreeMap<String, (String, String)>;

/// A commit that changes site.yaml makes the walk render every phone of the commit before again
/// under that older site, in batches, parsing and rendering across threads. Each phone must get
/// its own digest back: a site.yaml edit that changes no phone's bytes (a comment) keeps every
/// number, the same from history alone as commit by commit.
#[test]
fn a_site_change_over_many_files_keeps_each_phones_number() {
    let n = numbers_over_three_commits((17, 3), false);
    assert_eq!(n[3], n[2], "from history alone as commit by commit");
    // Every phone keeps its number: the renamed one c2's, the others c1's.
    let renamed = "001F9F0000CF"; // phone 17 * 12 + 3 = 207
    for (mac, (sn, _)) in &n[3] {
        let since = if mac == renamed { 1 } else { 0 };
        assert_eq!(sn, &n[since][mac].0, "{mac}");
    }
    assert_ne!(n[0][renamed].0, n[1][renamed].0);
}

/// A build from history alone writes each phone's file with the number the history of its
/// phones file points to, before the numbering knows it: right for most phones, wrong for those
/// of a file whose other phones changed (theirs is put in place afterwards). Either way the
/// release holds the files that builds made commit by commit give it, bytes and mtimes.
#[test]
fn a_build_from_history_alone_writes_the_release_builds_commit_by_commit_write() {
    let r = Repo::with_base();
    many_phones(&r, None, false);
    let c1 = r.commit("c1: 480 more phones");
    many_phones(&r, Some((17, 3)), false);
    let c2 = r.commit("c2: one phone edited");
    many_phones(&r, Some((30, 5)), false);
    let c3 = r.commit("c3: another phone, in another file");
    for c in [&c1, &c2, &c3] {
        r.git(&["checkout", "-q", c]);
        r.build(&["--out", "a"]);
    }
    r.build(&["--out", "fresh"]);
    let (a, fresh) = (r.path().join("a"), r.path().join("fresh"));
    assert_eq!(numbers(&a), numbers(&fresh));
    let live = numbers(&fresh);
    // Three numbers in the release: c1's, c2's (phone 207) and c3's (phone 365).
    let sns: std::collections::BTreeSet<&String> = live.values().map(|(sn, _)| sn).collect();
    assert_eq!(sns.len(), 3, "{sns:?}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fresh.join("manifest.json")).unwrap()).unwrap();
    let release = format!("releases/{}", m["release"].as_str().unwrap());
    let (sa, sf) = (snapshot(&a.join(&release)), snapshot(&fresh.join(&release)));
    assert_eq!(sa.keys().collect::<Vec<_>>(), sf.keys().collect::<Vec<_>>());
    for (path, (bytes, mtime)) in &sa {
        assert!(*bytes == sf[path].0, "{path}: bytes");
        assert_eq!(*mtime, sf[path].1, "{path}: mtime");
    }
}

/// A raw setting on one phone changes what its model's common file leaves out, so the walk
/// renders every file of an older commit again under the other overrides (resolving again the
/// files it resolved under the newer ones), and must find the same numbers as commit by commit.
#[test]
fn a_raw_setting_in_history_numbers_the_same_from_history_alone() {
    let n = numbers_over_three_commits((5, 7), true);
    assert_eq!(n[3], n[2], "from history alone as commit by commit");
    // The raw setting reached the model's common file at c2: every ST2030 took c2's number.
    for mac in ["001F9F000043", "001F9F000000"] {
        assert_eq!(n[3][mac].0, n[1][mac].0, "{mac}");
        assert_ne!(n[3][mac].0, n[0][mac].0, "{mac}");
    }
}

#[test]
fn a_commit_that_does_not_build_ends_every_run_unless_the_live_site_says_otherwise() {
    // A builds; B breaks the inventory (it cannot be told what B gave the phones); C fixes it
    // back to A's content.
    let r = Repo::with_base();
    let a_out = r.path().join("a-out");
    build_with(&r, &["--out", a_out.to_str().unwrap()], &[]);
    let at_a = numbers(&a_out);
    let site = r.read("inventory/site.yaml");
    r.write(
        "inventory/site.yaml",
        &site.replace("timezone:", "timezone: ["),
    ); // not YAML
    r.commit("broken");
    let out = run_provsite(r.path(), &["check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    r.write("inventory/site.yaml", &site);
    let c = r.commit("fixed");
    let c_sn = build_with(&r, &["--out", "cold"], &[])["config_sn"]
        .as_str()
        .unwrap()
        .to_string();
    // From history alone: every phone takes the fixing commit's number.
    let cold = numbers(&r.path().join("cold"));
    assert!(
        cold.values().all(|(sn, _)| *sn == c_sn),
        "{c} {c_sn}: {cold:?}"
    );
    // With the live site (A's build): the bytes did not change, the numbers stay.
    build_with(&r, &["--out", a_out.to_str().unwrap()], &[]);
    let warm = numbers(&a_out);
    assert_eq!(warm, at_a);
    // Either way no number means other bytes.
    assert_invariant(&a_out, &r.path().join("cold"));
}

#[test]
fn a_kept_release_whose_manifest_is_damaged_does_not_restart_the_day_s_numbers() {
    let r = Repo::with_base();
    r.commit("second");
    r.commit("third");
    build_with(&r, &[], &[]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.public().join("manifest.json")).unwrap()).unwrap();
    let kept = r
        .public()
        .join("releases")
        .join(m["release"].as_str().unwrap());
    r.edit("inventory/phones/base.yaml", "Zoé", "Zoé Martin");
    r.commit("one phone changes");
    // The live manifest is gone and the kept release's own copy is damaged (each is replaced,
    // not written through: they are one file).
    std::fs::remove_file(r.public().join("manifest.json")).unwrap();
    std::fs::remove_file(kept.join("manifest.json")).unwrap();
    std::fs::write(kept.join("manifest.json"), "{").unwrap();
    let damaged = build_with(&r, &[], &[]);
    let cold = build_with(&r, &["--out", "cold"], &[]);
    assert_eq!(damaged["config_sn"], cold["config_sn"], "{damaged}");
    assert_eq!(numbers(&r.public()), numbers(&r.path().join("cold")));
}
