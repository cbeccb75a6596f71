//! The render cache beside the web root: a build that uses it gives exactly what a build without
//! it gives, after every kind of change that reaches a phone's file, and it spares rendering the
//! phones a change did not reach.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn build_into(repo: &Repo, out: &str, env: &[(&str, &str)]) -> Value {
    let out = run_provsite(repo.path(), &["build", "--json", "--out", out], env);
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cache_file(repo: &Repo, out: &str) -> std::path::PathBuf {
    repo.path()
        .join(format!(".{out}.provsite"))
        .join("render-cache")
}

/// Removes the caches of an output folder (and the record of resolved phones, when the last
/// build wrote one): the next build starts cold.
fn clear_caches(repo: &Repo, out: &str) {
    let work = repo.path().join(format!(".{out}.provsite"));
    std::fs::remove_file(work.join("render-cache")).unwrap();
    std::fs::remove_file(work.join("parse-cache")).unwrap();
    match std::fs::remove_file(work.join("resolved")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
        _ => {}
    }
}

fn rendered(v: &Value) -> u64 {
    v["phones_rendered"].as_u64().unwrap()
}

/// Two web roots built from the same commits: `a` keeps its render cache from the base build,
/// `b` loses it before the changed commit. They must be identical, file by file, bytes and
/// mtimes; returns both summaries of the changed build.
fn warm_and_cold(
    repo: &Repo,
    change: impl Fn(&Repo),
    before: &[(&str, &str)],
    after: &[(&str, &str)],
) -> (Value, Value) {
    let base_a = build_into(repo, "a", before);
    build_into(repo, "b", before);
    assert_eq!(rendered(&base_a), 3, "a first build renders every phone");
    assert!(cache_file(repo, "a").exists());
    change(repo);
    repo.commit("change");
    let warm = build_into(repo, "a", after);
    clear_caches(repo, "b");
    let cold = build_into(repo, "b", after);
    assert_eq!(
        rendered(&cold),
        3,
        "without a cache every phone is rendered"
    );
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
    assert_eq!(warm["config_sn"], cold["config_sn"]);
    assert_eq!(warm["changed_phones"], cold["changed_phones"]);
    (warm, cold)
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, (bytes, mtime)) in &sa {
        let (other, other_mtime) = &sb[path];
        assert!(bytes == other, "{path} differs with and without the cache");
        assert_eq!(mtime, other_mtime, "{path}: mtime");
    }
}

const M1: &str = "001F9F16E849";

#[test]
fn an_unchanged_phone_is_not_rendered_again_and_a_changed_one_is() {
    let repo = Repo::with_base();
    let (warm, _) = warm_and_cold(
        &repo,
        |r| {
            r.edit(
                "inventory/phones/base.yaml",
                "display_name: \"Zoé\"",
                "display_name: \"Zoé Martin\"",
            )
        },
        &[],
        &[],
    );
    assert_eq!(rendered(&warm), 1, "only the edited phone: {warm}");
    assert_eq!(warm["files_parsed"], 1);
    assert_eq!(warm["changed_phones"], serde_json::json!(["001F9F16E84A"]));
    // A build of the same commit again renders nothing: every file is linked from the live one.
    let again = build_into(&repo, "a", &[]);
    assert_eq!(rendered(&again), 0, "{again}");
    assert_eq!(again["files_parsed"], 0, "{again}");
    assert_eq!(again["files_linked"], 3);
}

#[test]
fn a_template_change_reaches_every_phone_through_the_cache() {
    let repo = Repo::with_base();
    let default = default_phone_template();
    let (warm, _) = warm_and_cold(
        &repo,
        |r| {
            r.write(
                "inventory/templates/phone.txt",
                &format!("{default}[qos]\nVLANid1=10\n"),
            )
        },
        &[],
        &[],
    );
    assert_eq!(rendered(&warm), 3);
    let v = boot(
        &repo.path().join("a"),
        BASE_URL,
        "ST2030S.inf",
        "ST2030S",
        M1,
    );
    assert_eq!(v.value("qos", "VLANid1").as_deref(), Some("10"));
}

#[test]
fn a_secret_change_reaches_every_phone_through_the_cache() {
    let repo = Repo::with_base();
    // Page passwords from the environment: only the lines' passwords derive from the secret.
    repo.edit(
        "inventory/site.yaml",
        "admin_password: {env: TEST_ADMIN_PASSWORD}",
        "admin_password: {env: TEST_ADMIN_PASSWORD}\nuser_password: {env: TEST_USER_PW}",
    );
    repo.commit("user password from the environment");
    let user = ("TEST_USER_PW", "User-pass-3");
    let (warm, _) = warm_and_cold(
        &repo,
        |_| {},
        &[user],
        &[user, ("PROVSITE_SECRET", "another-site-secret-98765")],
    );
    assert_eq!(rendered(&warm), 3, "derived passwords changed: {warm}");
    assert_eq!(warm["changed_phones"].as_array().unwrap().len(), 3);
}

#[test]
fn an_environment_password_change_reaches_its_phone_through_the_cache() {
    let repo = Repo::with_base();
    repo.edit(
        "inventory/phones/base.yaml",
        "{user: \"1003\"}",
        "{user: \"1003\", password: {env: TEST_LINE_PW}}",
    );
    repo.commit("a line password from the environment");
    let (warm, _) = warm_and_cold(
        &repo,
        |_| {},
        &[("TEST_LINE_PW", "Line-pass-one-1")],
        &[("TEST_LINE_PW", "Line-pass-two-2")],
    );
    assert_eq!(rendered(&warm), 1, "{warm}");
    assert_eq!(warm["changed_phones"], serde_json::json!(["00147FE1FC6D"]));
    let admin = std::fs::read_to_string(
        repo.path()
            .join("a/releases")
            .join(warm["release"].as_str().unwrap())
            .join("config/ST2022S_00147FE1FC6D.txt"),
    )
    .unwrap();
    assert!(admin.contains("Line-pass-two-2"), "{admin}");
}

#[test]
fn a_firmware_change_reaches_its_model_through_the_cache() {
    let repo = Repo::with_base();
    let (warm, _) = warm_and_cold(
        &repo,
        |r| {
            r.write("inventory/firmware/app30b.zz", "app v2\n");
            let sha = provsite::hashing::sha256_hex(b"app v2\n");
            let site = r.read("inventory/site.yaml");
            let start = site.find("app: {file: firmware/app30.zz").unwrap();
            let end = start + site[start..].find('\n').unwrap();
            r.write(
                "inventory/site.yaml",
                &format!(
                    "{}app: {{file: firmware/app30b.zz, sha256: \"{sha}\"}}{}",
                    &site[..start],
                    &site[end..]
                ),
            );
        },
        &[],
        &[],
    );
    // The two ST2030s follow their new firmware; the ST2022's file is unchanged. (A change of
    // site.yaml's firmware sets reaches every key, so all three are rendered: the cache is
    // coarse there, never wrong.)
    assert_eq!(
        warm["changed_phones"],
        serde_json::json!(["001F9F16E849", "001F9F16E84A"])
    );
    assert_eq!(rendered(&warm), 3, "{warm}");
}

#[test]
fn a_profile_change_reaches_its_phones_through_the_cache() {
    let repo = Repo::with_base();
    let (warm, _) = warm_and_cold(
        &repo,
        |r| {
            r.edit(
                "inventory/site.yaml",
                "settings: {ipp: {AutoAnsMode: \"0\"}}",
                "settings: {ipp: {AutoAnsMode: \"1\"}}",
            )
        },
        &[],
        &[],
    );
    assert!(rendered(&warm) >= 1, "{warm}");
    assert!(
        warm["changed_phones"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("001F9F16E84A")),
        "{warm}"
    );
}

#[test]
fn a_group_change_reaches_its_phones_through_the_cache() {
    let repo = Repo::with_base();
    repo.write(
        "inventory/phones/lyon/phones.yaml",
        "- mac: \"00:1F:9F:00:00:01\"\n  model: ST2030\n  lines: [{user: \"2001\"}]\n",
    );
    repo.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.77\n");
    repo.commit("a branch");
    let before = build_into(&repo, "a", &[]);
    assert_eq!(before["phones"], 4);
    build_into(&repo, "b", &[]);
    repo.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.88\n");
    repo.commit("the branch's NTP");
    let warm = build_into(&repo, "a", &[]);
    clear_caches(&repo, "b");
    let cold = build_into(&repo, "b", &[]);
    assert_eq!(rendered(&cold), 4);
    assert_eq!(cold["files_parsed"], 2);
    assert_eq!(rendered(&warm), 1, "only the branch's phone: {warm}");
    // Neither phones file changed: both came from the parse cache.
    assert_eq!(warm["files_parsed"], 0, "{warm}");
    assert_eq!(warm["changed_phones"], serde_json::json!(["001F9F000001"]));
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
}

#[test]
fn check_uses_the_cache_and_still_reports_errors() {
    let repo = Repo::with_base();
    build_into(&repo, "public", &[]);
    let out = repo.provsite(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An error the cache cannot hide: the inventory is read and resolved every time.
    repo.edit(
        "inventory/phones/base.yaml",
        "user: \"1003\"",
        "user: \"1001\"",
    );
    repo.commit("a duplicate user");
    let out = repo.provsite(&["check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1001"), "{err}");
}

#[test]
fn a_damaged_cache_is_ignored() {
    let repo = Repo::with_base();
    build_into(&repo, "a", &[]);
    build_into(&repo, "b", &[]);
    std::fs::write(cache_file(&repo, "a"), b"provsite render cache 1\n garbage").unwrap();
    repo.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé M\"",
    );
    repo.commit("change");
    let damaged = build_into(&repo, "a", &[]);
    assert_eq!(rendered(&damaged), 3, "nothing taken from a damaged cache");
    build_into(&repo, "b", &[]);
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
}

#[test]
fn another_install_of_the_same_provsite_uses_the_caches() {
    // A CI job installs provsite again on every run: a new file, inode and mtime, the same
    // source. The caches a previous run left (restored beside the web root) still serve.
    let repo = Repo::with_base();
    build_into(&repo, "a", &[]);
    let copy = tempfile::tempdir().unwrap();
    let exe = copy.path().join("provsite");
    std::fs::copy(env!("CARGO_BIN_EXE_provsite"), &exe).unwrap();
    let out = run_exe(&exe, repo.path(), &["build", "--json", "--out", "a"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rendered(&again), 0, "{again}");
    assert_eq!(again["files_parsed"], 0, "{again}");
}

/// Phones files for the tests of problems in files the parse cache holds: `b.yaml`'s display
/// name is respelled for Latin-1 (a warning at its place).
fn with_cached_file() -> Repo {
    let repo = Repo::with_base();
    repo.write(
        "inventory/phones/b.yaml",
        "- mac: \"00:1F:9F:00:00:B1\"\n  model: ST2030\n  lines:\n    - {user: \"2001\", display_name: \"Cœur\"}\n",
    );
    repo.commit("b");
    repo
}

/// stderr of `check` against the caches of `out` (`fresh` has none).
fn check_with(repo: &Repo, out: &str) -> (bool, String) {
    let o = run_provsite(repo.path(), &["check", "--out", out], &[]);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn problems_in_a_file_the_parse_cache_holds_are_located_as_without_it() {
    let repo = with_cached_file();
    build_into(&repo, "a", &[]);
    // b.yaml is now known to the cache: its text is not read unless something is said in it.
    let (ok, warm) = check_with(&repo, "a");
    assert!(ok, "{warm}");
    assert!(
        warm.contains("inventory/phones/b.yaml:4:36"),
        "the respelled name, at its place: {warm}"
    );
    assert_eq!((ok, warm), check_with(&repo, "fresh"));
    // New files before and after it repeat its MAC and its SIP user: the first is reported in
    // b.yaml, the second names b.yaml as where the user was first seen.
    repo.write(
        "inventory/phones/a.yaml",
        "- mac: \"00:1F:9F:00:00:B1\"\n  model: ST2030\n  lines: [{user: \"3001\"}]\n",
    );
    repo.write(
        "inventory/phones/z.yaml",
        "- mac: \"00:1F:9F:00:00:C1\"\n  model: ST2030\n  lines: [{user: \"2001\"}]\n",
    );
    repo.commit("duplicates");
    let (ok, warm) = check_with(&repo, "a");
    assert!(!ok, "{warm}");
    let (cold_ok, cold) = check_with(&repo, "fresh");
    assert!(!cold_ok);
    assert_eq!(warm, cold, "the same report with and without the cache");
    let at_b = warm.matches("inventory/phones/b.yaml:").count();
    assert!(
        at_b >= 3,
        "the warning, the duplicate MAC and where the user was first seen, each with its line: {warm}"
    );
    // A build says the same (and writes nothing).
    let o = run_provsite(repo.path(), &["build", "--out", "a"], &[]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), cold);
}

/// Rewrites the parse cache of `out` with every entry's phones replaced by `bad` (its checksum
/// made right again): the cache names the files, but none reads back.
fn spoil_parse_cache(repo: &Repo, out: &str, bad: &[u8]) {
    use sha2::Digest;
    let path = repo
        .path()
        .join(format!(".{out}.provsite"))
        .join("parse-cache");
    let data = std::fs::read(&path).unwrap();
    let body = &data[..data.len() - 32];
    // The magic line and the provsite source's id, then (blob id, length, JSON) entries.
    let second_line = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    let head_end = second_line
        + body[second_line..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    let mut out_body = body[..head_end].to_vec();
    let mut pos = head_end;
    let mut entries = 0;
    while pos < body.len() {
        let len = u32::from_le_bytes(body[pos + 20..pos + 24].try_into().unwrap()) as usize;
        out_body.extend_from_slice(&body[pos..pos + 20]);
        out_body.extend_from_slice(&(bad.len() as u32).to_le_bytes());
        out_body.extend_from_slice(bad);
        pos += 24 + len;
        entries += 1;
    }
    assert!(entries >= 2, "the cache holds the phones files");
    let sum = sha2::Sha256::digest(&out_body);
    out_body.extend_from_slice(&sum);
    std::fs::write(&path, out_body).unwrap();
}

#[test]
fn a_cache_entry_that_does_not_read_back_gives_the_file_read_and_parsed() {
    let repo = with_cached_file();
    build_into(&repo, "a", &[]);
    build_into(&repo, "b", &[]);
    // Not JSON; then JSON but for a string that is not UTF-8.
    for bad in [&b"{not json"[..], &b"[{\"mac\": \"\xff\"}]"[..]] {
        spoil_parse_cache(&repo, "a", bad);
        let (ok, warm) = check_with(&repo, "a");
        assert!(ok, "{warm}");
        assert_eq!((ok, warm), check_with(&repo, "fresh"));
    }
    // The same for a build: every file parsed again, the same web root as with a sound cache.
    repo.edit(
        "inventory/phones/base.yaml",
        "display_name: \"Zoé\"",
        "display_name: \"Zoé M\"",
    );
    repo.commit("change");
    let spoilt = build_into(&repo, "a", &[]);
    assert_eq!(spoilt["files_parsed"], 2, "{spoilt}");
    build_into(&repo, "b", &[]);
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
}

#[test]
fn a_missing_password_of_a_file_the_parse_cache_holds_is_located_as_without_it() {
    let repo = password_from_env();
    build_into(&repo, "a", &[("PW_1001", "s3cret-Pw-1001")]);
    // Without the variable, `check` warns at the line that names it, cache or no cache.
    let (ok, warm) = check_with(&repo, "a");
    assert!(ok, "{warm}");
    assert!(warm.contains("PW_1001"), "{warm}");
    assert!(
        warm.contains("inventory/phones/base.yaml:4:"),
        "at the line of the password: {warm}"
    );
    assert_eq!((ok, warm), check_with(&repo, "fresh"));
}

/// Two more phones files beside `base.yaml`: three files in all.
fn with_three_files() -> Repo {
    let repo = Repo::with_base();
    repo.write(
        "inventory/phones/lyon/phones.yaml",
        "- mac: \"00:1F:9F:00:00:01\"\n  model: ST2030\n  profile: sales\n  lines: [{user: \"2001\", display_name: \"Zoé\"}]\n  keys: {3: {blf: \"2002\"}}\n- mac: \"00:1F:9F:00:00:02\"\n  model: ST2030\n  lines: [{user: \"2002\"}]\n  settings: {ipp: {AutoAnsMode: \"1\"}}\n",
    );
    repo.write("inventory/phones/lyon/group.yaml", "ntp: 192.0.2.77\n");
    repo.write(
        "inventory/phones/paris.yaml",
        "- mac: \"00:1F:9F:00:00:03\"\n  model: ST2022\n  lines: [{user: \"3001\"}]\n  codecs: [g722, alaw]\n",
    );
    repo.commit("three files");
    repo
}

/// Builds `b` again without its caches or record, and holds `a` (built with them) to it, byte for
/// byte.
fn assert_cold_gives_the_same(repo: &Repo) {
    clear_caches(repo, "b");
    build_into(repo, "b", &[]);
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
}

/// Adds `fields` to the line of `paris.yaml`'s phone.
fn paris_line(repo: &Repo, fields: &str) {
    repo.edit(
        "inventory/phones/paris.yaml",
        "user: \"3001\"",
        &format!("user: \"3001\", {fields}"),
    );
}

#[test]
fn an_unchanged_phones_file_comes_resolved_from_the_record_with_the_same_release() {
    let repo = with_three_files();
    let first = build_into(&repo, "a", &[]);
    assert_eq!(first["files_recorded"], 0, "{first}");
    assert!(repo.path().join(".a.provsite/resolved").exists());
    build_into(&repo, "b", &[]);
    paris_line(&repo, "display_name: \"Paris\"");
    repo.commit("one file");
    let warm = build_into(&repo, "a", &[]);
    assert_eq!(warm["files_recorded"], 2, "{warm}");
    assert_eq!(warm["files_parsed"], 1, "{warm}");
    assert_eq!(warm["changed_phones"], serde_json::json!(["001F9F000003"]));
    // The same commit built without caches or record: the same web root, byte for byte.
    clear_caches(&repo, "b");
    let cold = build_into(&repo, "b", &[]);
    assert_eq!(cold["files_recorded"], 0);
    assert_eq!(cold["files_parsed"], 3);
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
    // And again from the record alone (the parse cache gone).
    std::fs::remove_file(repo.path().join(".a.provsite/parse-cache")).unwrap();
    let again = build_into(&repo, "a", &[]);
    assert_eq!(again["files_recorded"], 3, "{again}");
    assert_eq!(again["files_parsed"], 0, "{again}");
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
}

#[test]
fn a_site_or_group_change_sets_the_record_aside() {
    for (file, from, to) in [
        (
            "inventory/phones/lyon/group.yaml",
            "192.0.2.77",
            "192.0.2.78",
        ),
        (
            "inventory/site.yaml",
            "sales:",
            "sales2:\n    keys: {4: {blf: \"1001\"}}\n  sales:",
        ),
    ] {
        let repo = with_three_files();
        build_into(&repo, "a", &[]);
        build_into(&repo, "b", &[]);
        repo.edit(file, from, to);
        repo.commit("the context");
        let warm = build_into(&repo, "a", &[]);
        assert_eq!(warm["files_recorded"], 0, "{file}: {warm}");
        assert_cold_gives_the_same(&repo);
        // The next record is for the new texts: a commit after it uses it.
        paris_line(&repo, "display_name: \"P\"");
        repo.commit("one file");
        let next = build_into(&repo, "a", &[]);
        assert_eq!(next["files_recorded"], 2, "{file}: {next}");
    }
}

#[test]
fn a_phone_with_a_scope_of_its_own_keeps_its_file_out_of_the_record() {
    let repo = with_three_files();
    repo.edit(
        "inventory/phones/paris.yaml",
        "  codecs: [g722, alaw]\n",
        "  codecs: [g722, alaw]\n  ntp: 192.0.2.99\n",
    );
    repo.commit("a phone's own NTP");
    build_into(&repo, "a", &[]);
    let again = build_into(&repo, "a", &[]);
    assert_eq!(again["files_recorded"], 2, "{again}");
    build_into(&repo, "b", &[]);
    assert_same_tree(&repo.path().join("a"), &repo.path().join("b"));
    // The phone's own NTP server is in its file.
    let with_ntp: Vec<String> = snapshot(&repo.path().join("a"))
        .into_iter()
        .filter(|(_, (bytes, _))| bytes.windows(11).any(|w| w == b"192.0.2.99\r"))
        .map(|(path, _)| path)
        .collect();
    assert!(!with_ntp.is_empty());
    assert!(
        with_ntp.iter().all(|p| p.ends_with("001F9F000003.txt")),
        "{with_ntp:?}"
    );
}

#[test]
fn a_warning_keeps_the_record_from_being_written() {
    let repo = with_three_files();
    // A password in the repository: a warning at its place, which a recorded file would no
    // longer give.
    paris_line(&repo, "password: \"s3cret-in-git\"");
    repo.commit("a literal password");
    let first = build_into(&repo, "a", &[]);
    assert!(
        !repo.path().join(".a.provsite/resolved").exists(),
        "{first}"
    );
    let again = build_into(&repo, "a", &[]);
    assert_eq!(again["files_recorded"], 0, "{again}");
    let out = repo.provsite(&["check", "--out", "a"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password in repository"), "{err}");
}

#[test]
fn a_duplicate_of_a_recorded_phone_is_reported_as_without_the_record() {
    let repo = with_three_files();
    build_into(&repo, "a", &[]);
    // A phone of the recorded lyon file, repeated in paris.yaml: MAC and SIP user.
    repo.edit(
        "inventory/phones/paris.yaml",
        "  codecs: [g722, alaw]\n",
        "  codecs: [g722, alaw]\n- mac: \"00:1F:9F:00:00:02\"\n  model: ST2030\n  lines: [{user: \"2002\"}]\n",
    );
    repo.commit("a duplicate");
    let with = repo.provsite(&["check", "--out", "a"]);
    let without = repo.provsite(&["check"]);
    assert!(!with.status.success() && !without.status.success());
    let (with, without) = (
        String::from_utf8_lossy(&with.stderr),
        String::from_utf8_lossy(&without.stderr),
    );
    assert!(with.contains("duplicate MAC 001F9F000002"), "{with}");
    assert!(with.contains("duplicate SIP user 2002"), "{with}");
    assert!(with.contains("lyon/phones.yaml:6"), "{with}");
    assert_eq!(with, without);
}

#[test]
fn a_damaged_record_is_ignored() {
    let repo = with_three_files();
    build_into(&repo, "a", &[]);
    build_into(&repo, "b", &[]);
    let path = repo.path().join(".a.provsite/resolved");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    paris_line(&repo, "display_name: \"Paris\"");
    repo.commit("one file");
    let damaged = build_into(&repo, "a", &[]);
    assert_eq!(damaged["files_recorded"], 0, "{damaged}");
    assert_cold_gives_the_same(&repo);
}

#[test]
fn a_phones_file_moved_under_a_group_is_resolved_again_with_that_group() {
    // The same text (blob) at another path: the lyon group's NTP server now reaches its phone.
    let repo = with_three_files();
    build_into(&repo, "a", &[]);
    build_into(&repo, "b", &[]);
    repo.git(&[
        "mv",
        "inventory/phones/paris.yaml",
        "inventory/phones/lyon/paris.yaml",
    ]);
    repo.commit("paris under lyon");
    let warm = build_into(&repo, "a", &[]);
    assert_eq!(warm["files_recorded"], 2, "{warm}");
    assert_eq!(warm["changed_phones"], serde_json::json!(["001F9F000003"]));
    assert_cold_gives_the_same(&repo);
    let release = warm["release"].as_str().unwrap();
    let bytes = std::fs::read(repo.path().join(format!(
        "a/releases/{release}/config/ST2022S_001F9F000003.txt"
    )))
    .unwrap();
    assert!(
        bytes.windows(11).any(|w| w == b"192.0.2.77\r"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn while_the_record_serves_the_parse_cache_is_left_as_it_was_and_serves_after_a_site_change() {
    let repo = with_three_files();
    build_into(&repo, "a", &[]);
    build_into(&repo, "b", &[]);
    let parse_cache = repo.path().join(".a.provsite/parse-cache");
    let before = std::fs::read(&parse_cache).unwrap();
    paris_line(&repo, "display_name: \"Paris\"");
    repo.commit("one file");
    let warm = build_into(&repo, "a", &[]);
    assert_eq!(warm["files_recorded"], 2, "{warm}");
    assert_eq!(warm["files_parsed"], 1, "{warm}");
    assert_eq!(
        std::fs::read(&parse_cache).unwrap(),
        before,
        "not rewritten"
    );
    build_into(&repo, "b", &[]);
    // The record no longer serves: the parse cache does, but for the file changed meanwhile.
    repo.edit(
        "inventory/site.yaml",
        "sales:",
        "sales2:\n    keys: {4: {blf: \"1001\"}}\n  sales:",
    );
    repo.commit("the site");
    let after = build_into(&repo, "a", &[]);
    assert_eq!(after["files_recorded"], 0, "{after}");
    assert_eq!(after["files_parsed"], 1, "{after}");
    assert_ne!(std::fs::read(&parse_cache).unwrap(), before, "rewritten");
    assert_cold_gives_the_same(&repo);
}

#[test]
fn a_record_that_no_longer_serves_and_is_not_replaced_goes() {
    let repo = with_three_files();
    build_into(&repo, "a", &[]);
    let record = repo.path().join(".a.provsite/resolved");
    assert!(record.exists());
    // A warning keeps the next record from being written while it still serves the other files.
    paris_line(&repo, "password: \"s3cret-in-git\"");
    repo.commit("a literal password");
    let served = build_into(&repo, "a", &[]);
    assert_eq!(served["files_recorded"], 2, "{served}");
    assert!(record.exists());
    // Once the site changes it cannot serve any file, and no build replaces it: it goes.
    repo.edit(
        "inventory/phones/lyon/group.yaml",
        "192.0.2.77",
        "192.0.2.78",
    );
    repo.commit("the group");
    let stale = build_into(&repo, "a", &[]);
    assert_eq!(stale["files_recorded"], 0, "{stale}");
    assert!(!record.exists());
    build_into(&repo, "b", &[]);
    assert_same_tree(
        &repo
            .path()
            .join("a")
            .join("releases")
            .join(stale["release"].as_str().unwrap()),
        &repo
            .path()
            .join("b")
            .join("releases")
            .join(stale["release"].as_str().unwrap()),
    );
}
