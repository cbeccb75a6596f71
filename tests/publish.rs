//! `provsite publish` to a folder, a real rsync daemon and a real S3-compatible server (s3s-fs),
//! all on loopback: order and create-only writes, a second publish sending nothing, an
//! incremental publish sending only the new release, rollback, pruning with grace, the manifest's
//! compare-and-swap, and a publish killed at every write and at random times leaving the
//! destination consistent (checked by serving it and probing every phone).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::http::{
    free_port, model_file, probe, provsite_serve, require, wait_for_port, Server, ROOT_URL,
};
use common::{Repo, ADMIN, SECRET};

const S3_KEY: &str = "provsite-test";
const S3_SECRET: &str = "provsite-test-secret";

/// The base fixture served from the web root's root (base_url http://prov.test/), built.
fn repo() -> Repo {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "base_url: http://prov.test/p/",
        "base_url: http://prov.test/",
    );
    r.commit("at the root");
    r.build(&[]);
    r
}

/// Changes one phone (the display name of line 1003) and builds the next release.
fn next_release(r: &Repo, n: usize) {
    let text = r.read("inventory/phones/base.yaml");
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("user: \"1003\"") {
                format!("  lines: [{{user: \"1003\", display_name: \"Standard {n}\"}}]")
            } else {
                l.to_string()
            }
        })
        .collect();
    r.write("inventory/phones/base.yaml", &(changed.join("\n") + "\n"));
    r.commit(&format!("change {n}"));
    r.build(&[]);
}

fn publish_cmd(r: &Repo, to: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_provsite"));
    c.args(["publish", "--json", "--to", to])
        .args(args)
        .current_dir(r.path())
        .env("PROVSITE_SECRET", SECRET)
        .env("TEST_ADMIN_PASSWORD", ADMIN)
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env_remove("PROVSITE_PUBLISH_ABORT_AFTER");
    c
}

fn publish(r: &Repo, to: &str, args: &[&str]) -> serde_json::Value {
    let out = publish_cmd(r, to, args).output().unwrap();
    assert!(
        out.status.success(),
        "publish {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn live_release(root: &Path) -> Option<String> {
    let b = std::fs::read(root.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    v["release"].as_str().map(str::to_string)
}

/// The destination as the phones see it: every phone of the live manifest probes fine, and the
/// entry points name the live release.
fn assert_consistent(root: &Path, what: &str) -> Option<String> {
    let Some(live) = live_release(root) else {
        // Nothing was ever switched: no entry point may exist either.
        assert!(
            !root.join("ST2030S.inf").exists(),
            "{what}: an entry point without a manifest"
        );
        return None;
    };
    // Each entry point names a release whose folder is complete (its manifest is written last of
    // its files, and the probe below checks every file against it). Between the entry points and
    // the manifest, the entry points may already name the new release: both are complete.
    for e in ["ST2030S.inf", "ST2022S.inf"] {
        let Ok(entry) = std::fs::read_to_string(root.join(e)) else {
            continue;
        };
        let named = entry
            .split("releases/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("{what}: {e} names no release"));
        assert!(
            root.join("releases")
                .join(named)
                .join("manifest.json")
                .exists(),
            "{what}: {e} names release {named}, which is not complete"
        );
    }
    let log = root
        .parent()
        .unwrap()
        .join(format!("serve-{}.log", std::process::id()));
    let s = provsite_serve(root, &[], &log);
    let out = probe(s.addr, &[ROOT_URL, "--all"]);
    assert!(
        out.status.success(),
        "{what}: a phone would not provision:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(live)
}

#[test]
fn folder_publish_is_idempotent_incremental_and_reversible() {
    let r = repo();
    let dest = r.path().join("www");
    let to = dest.to_str().unwrap();
    let first = publish(&r, to, &[]);
    assert!(first["sent"]["files"].as_u64().unwrap() > 0);
    assert_eq!(first["switched"], true);
    let a = assert_consistent(&dest, "first publish").unwrap();

    // Again: nothing sent, nothing written.
    let before = common::snapshot(&dest);
    let again = publish(&r, to, &[]);
    assert_eq!(again["sent"]["files"], 0);
    assert_eq!(again["sent"]["bytes"], 0);
    assert_eq!(again["switched"], false);
    assert_eq!(
        common::snapshot(&dest),
        before,
        "a second publish changed the destination"
    );

    // One phone changes: only the new release folder (and the entry points) go.
    next_release(&r, 1);
    let b_report = publish(&r, to, &[]);
    let b = assert_consistent(&dest, "second release").unwrap();
    assert_ne!(a, b);
    let release_files = walk(&r.public().join("releases").join(&b)).len() as u64;
    assert_eq!(
        b_report["sent"]["files"].as_u64().unwrap(),
        release_files,
        "firmware was sent again"
    );
    assert_eq!(b_report["previous"], a.as_str());

    // An older release is refused; --rollback points back without uploading.
    let older = publish_cmd(&r, to, &["--rollback", "202001010001-000000000000"])
        .output()
        .unwrap();
    assert_eq!(older.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&older.stderr).contains("neither at"));
    let back = publish(&r, to, &["--rollback", &a]);
    assert_eq!(back["sent"]["files"], 0);
    assert_eq!(assert_consistent(&dest, "rollback").unwrap(), a);
    // Forward again; then publishing the local (newer) build is allowed, an older one is not.
    publish(&r, to, &[]);
    assert_eq!(live_release(&dest).unwrap(), b);
    let old_root = r.path().join("old-root");
    common::copy_dir(&r.public(), &old_root);
    std::fs::copy(
        old_root.join("releases").join(&a).join("manifest.json"),
        old_root.join("manifest.json"),
    )
    .unwrap();
    let refused = publish_cmd(&r, to, &["--out", old_root.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is older than the live"));
}

/// A destination's manifest is read, and the paths it names are written and deleted: a tampered
/// one cannot make publish touch anything outside the destination.
#[test]
fn a_tampered_destination_manifest_is_refused() {
    let r = repo();
    let dest = r.path().join("www");
    let to = dest.to_str().unwrap();
    publish(&r, to, &[]);
    let outside = r.path().join("outside.inf");
    std::fs::write(&outside, "not the publisher's").unwrap();
    let live = dest.join("manifest.json");
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(
        &live,
        text.replace(
            "\"entry_point\": \"ST2022S.inf\"",
            "\"entry_point\": \"../outside.inf\"",
        ),
    )
    .unwrap();
    next_release(&r, 1);
    let out = publish_cmd(&r, to, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("manifest.json") && err.contains("../outside.inf"),
        "{err}"
    );
    assert!(err.contains("or remove it"), "{err}");
    assert!(
        outside.exists(),
        "publish deleted a file outside the destination"
    );
    for bad in ["../x", "a/b", ".hidden", ""] {
        let out = publish_cmd(&r, to, &["--rollback", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "--rollback {bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a release name"),
            "--rollback {bad:?}"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn pruning_waits_for_the_grace_period_and_keeps_the_live_release() {
    let r = repo();
    let dest = r.path().join("www");
    let to = dest.to_str().unwrap();
    publish(&r, to, &["--keep", "1"]);
    for n in 1..=2 {
        next_release(&r, n);
        let rep = publish(&r, to, &["--keep", "1"]);
        assert_eq!(
            rep["pruned_releases"].as_array().unwrap().len(),
            0,
            "pruned within the grace period"
        );
    }
    assert_eq!(std::fs::read_dir(dest.join("releases")).unwrap().count(), 3);
    // Above the safety cap, nothing is pruned without --force.
    let capped = publish(
        &r,
        to,
        &["--keep", "1", "--grace", "0", "--max-deletes", "3"],
    );
    assert_eq!(capped["pruned_releases"].as_array().unwrap().len(), 0);
    assert!(
        capped["warnings"][0]
            .as_str()
            .unwrap()
            .contains("safety cap of 3"),
        "{capped}"
    );
    assert_eq!(std::fs::read_dir(dest.join("releases")).unwrap().count(), 3);
    // Grace 0: everything but the live release goes; the live one stays even with --keep 1.
    let rep = publish(
        &r,
        to,
        &[
            "--keep",
            "1",
            "--grace",
            "0",
            "--max-deletes",
            "3",
            "--force",
        ],
    );
    assert_eq!(rep["pruned_releases"].as_array().unwrap().len(), 2);
    let left: Vec<String> = std::fs::read_dir(dest.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [live_release(&dest).unwrap()]);
    assert_consistent(&dest, "after pruning");

    // Firmware no kept release names is pruned: drop the ST2022 phone and its model.
    let phones = r.read("inventory/phones/base.yaml");
    let cut = phones.find("- mac: \"00:14:7F:E1:FC:6D\"").unwrap();
    r.write("inventory/phones/base.yaml", &phones[..cut]);
    let site = r.read("inventory/site.yaml");
    r.write(
        "inventory/site.yaml",
        &site.replace("  ST2022:\n    firmware: fw22\n", ""),
    );
    r.commit("no more ST2022");
    r.build(&[]);
    let rep = publish(&r, to, &["--keep", "1", "--grace", "0"]);
    let pruned_fw = rep["pruned_firmware"].as_array().unwrap();
    assert_eq!(
        pruned_fw.len(),
        2,
        "app22 and boot22 (the DSP file is shared): {rep}"
    );
    assert!(
        !dest.join("ST2022S.inf").exists(),
        "the entry point of a model gone stays behind"
    );
    // Its common file too, and only it: the ST2030's stays (the live release names it).
    let pruned_common = rep["pruned_common"].as_array().unwrap();
    assert_eq!(pruned_common.len(), 1, "{rep}");
    let gone = pruned_common[0].as_str().unwrap();
    assert!(gone.starts_with("ST2022S_common_"), "{gone}");
    assert!(!dest.join("common").join(gone).exists());
    assert!(dest
        .join(model_file(
            &serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap(),
            "ST2030",
            "common"
        ))
        .exists());
    assert_consistent(&dest, "after pruning firmware");
}

/// Publishes release B over A from the same starting point (the destination's storage folder
/// restored each time), aborting after the k-th write for every k until a run completes, and
/// checks the destination after each; then SIGKILLs it at spread-out times.
fn crash_test(r: &Repo, to: &str, served: &Path, storage: &Path, extra: &[&str]) {
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: &[&str]| {
        let a = with(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        publish(r, to, &a)
    };
    run(&[]);
    let a = assert_consistent(served, "before").unwrap();
    next_release(r, 1);
    let backup = r.path().join("storage-backup");
    let _ = std::fs::remove_dir_all(&backup);
    copy_tree(storage, &backup);
    let restore = || {
        for e in std::fs::read_dir(storage).unwrap().flatten() {
            if e.path().is_dir() {
                std::fs::remove_dir_all(e.path()).unwrap();
            } else {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        copy_tree(&backup, storage);
    };
    let mut k = 1;
    loop {
        restore();
        let args = with(&["--grace", "0", "--keep", "1"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = publish_cmd(r, to, &args);
        c.env("PROVSITE_PUBLISH_ABORT_AFTER", k.to_string());
        let out: Output = c.output().unwrap();
        assert_consistent(served, &format!("aborted after write {k}"));
        if out.status.success() {
            break;
        }
        k += 1;
        assert!(k < 400, "the publish never finished");
    }
    assert!(k > 5, "the abort hook was never reached");
    for (i, delay_ms) in [3u64, 11, 25, 40, 70, 110, 160].iter().enumerate() {
        restore();
        let args = with(&["--grace", "0"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = publish_cmd(r, to, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(served, &format!("SIGKILL {i} after {delay_ms} ms"));
        // Whatever state it was left in, the next publish completes it.
        run(&[]);
        assert_ne!(
            assert_consistent(served, "after the kill, published").unwrap(),
            a
        );
    }
}

/// `cp -a FROM/. TO/`
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_folder_publish_killed_anywhere_leaves_a_consistent_site() {
    let r = repo();
    let dest = r.path().join("www");
    std::fs::create_dir_all(&dest).unwrap();
    crash_test(&r, dest.to_str().unwrap(), &dest, &dest, &[]);
}

struct RsyncDaemon {
    _server: Server,
    url: String,
    data: PathBuf,
}

fn rsync_daemon(r: &Repo) -> Option<RsyncDaemon> {
    if !require("rsync", "rsync") {
        return None;
    }
    let dir = r.path().join("rsyncd");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    std::fs::write(
        dir.join("rsyncd.conf"),
        format!(
            "pid file = {d}/rsyncd.pid\nuse chroot = false\n[site]\npath = {data}\nread only = false\nuid = {uid}\ngid = {gid}\n",
            d = dir.display(),
            data = data.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("rsync")
        .args(["--daemon", "--no-detach", "--address=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--config={}", dir.join("rsyncd.conf").display()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, &mut child, "rsync --daemon");
    Some(RsyncDaemon {
        _server: Server { child, addr },
        url: format!("rsync://127.0.0.1:{port}/site/web"),
        data: data.join("web"),
    })
}

#[test]
fn rsync_publish_against_a_real_daemon() {
    let r = repo();
    let Some(d) = rsync_daemon(&r) else { return };
    let first = publish(&r, &d.url, &[]);
    assert!(first["sent"]["files"].as_u64().unwrap() > 0);
    let a = assert_consistent(&d.data, "rsync publish").unwrap();
    let again = publish(&r, &d.url, &[]);
    assert_eq!(
        again["sent"]["files"], 0,
        "a second publish sent files: {again}"
    );
    assert_eq!(again["sent"]["bytes"], 0);
    next_release(&r, 1);
    let b = publish(&r, &d.url, &["--keep", "1", "--grace", "0"]);
    let release = b["release"].as_str().unwrap();
    assert_eq!(
        b["sent"]["files"].as_u64().unwrap(),
        walk(&r.public().join("releases").join(release)).len() as u64
    );
    assert_eq!(b["pruned_releases"][0], a.as_str());
    assert!(!d.data.join("releases").join(&a).exists());
    assert_consistent(&d.data, "rsync after prune");
    // A create-only object with other content at the destination stops the publish.
    next_release(&r, 2);
    let next = live_release(&r.public()).unwrap();
    let clash = d.data.join("releases").join(&next).join("manifest.json");
    std::fs::create_dir_all(clash.parent().unwrap()).unwrap();
    std::fs::write(&clash, "not the manifest").unwrap();
    let out = publish_cmd(&r, &d.url, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other content"));
    assert_ne!(
        live_release(&d.data).unwrap(),
        next,
        "switched to a release with a wrong file"
    );
    assert_consistent(&d.data, "after the refused publish");
    std::fs::remove_file(&clash).unwrap();
    let storage = d.data.parent().unwrap().to_path_buf();
    crash_test(&r, &d.url, &d.data, &storage, &[]);
}

struct S3Server {
    _server: Server,
    endpoint: String,
    root: PathBuf,
}

fn s3_server(r: &Repo) -> Option<S3Server> {
    if !require(
        "s3s-fs",
        "cargo install s3s-fs --version 0.14.1 --features binary",
    ) {
        return None;
    }
    let root = r.path().join("s3");
    std::fs::create_dir_all(root.join("phones")).unwrap();
    let port = free_port();
    let mut child = Command::new("s3s-fs")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            S3_KEY,
            "--secret-key",
            S3_SECRET,
        ])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, &mut child, "s3s-fs");
    Some(S3Server {
        _server: Server { child, addr },
        endpoint: format!("http://127.0.0.1:{port}"),
        root,
    })
}

fn s3_store(endpoint: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("phones")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(S3_KEY)
        .with_secret_access_key(S3_SECRET)
        .build()
        .unwrap()
}

/// An object written without metadata, as another tool would.
fn s3_put_plain(endpoint: &str, key: &str, bytes: Vec<u8>) {
    use object_store::ObjectStoreExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(s3_store(endpoint).put(&object_store::path::Path::from(key), bytes.into()))
        .unwrap();
}

fn s3_head(endpoint: &str, key: &str) -> Option<(String, String, Option<String>)> {
    use object_store::{Attribute, GetOptions, ObjectStore};
    let store = s3_store(endpoint);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let g = rt
        .block_on(store.get_opts(
            &object_store::path::Path::from(key),
            GetOptions {
                head: true,
                ..Default::default()
            },
        ))
        .ok()?;
    let a = |k: &Attribute| {
        g.attributes
            .get(k)
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    Some((
        a(&Attribute::ContentType),
        a(&Attribute::CacheControl),
        g.attributes
            .get(&Attribute::Metadata("sha256".into()))
            .map(|v| v.to_string()),
    ))
}

#[test]
fn s3_publish_against_a_real_s3_compatible_server() {
    let r = repo();
    let Some(s3) = s3_server(&r) else { return };
    let to = "s3://phones/site";
    let endpoint = ["--endpoint", s3.endpoint.as_str()];
    // A firmware object already there, with the right bytes but no recorded digest (another tool
    // uploaded it, or an interrupted write left its metadata out): taken, and its metadata written.
    let m = common::http::manifest(&r.public());
    let fw = model_file(&m, "ST2030", "app");
    s3_put_plain(
        &s3.endpoint,
        &format!("site/{fw}"),
        std::fs::read(r.public().join(&fw)).unwrap(),
    );
    let first = publish(&r, to, &endpoint);
    assert!(first["sent"]["files"].as_u64().unwrap() > 0);
    // s3s-fs keeps the objects as files: serve them to the probe.
    let served = s3.root.join("phones/site");
    let a = assert_consistent(&served, "s3 publish").unwrap();

    // Content-Type, Cache-Control and the recorded digest.
    let (_, cc, sha) = s3_head(&s3.endpoint, &format!("site/{fw}")).unwrap();
    assert_eq!(cc, "public, max-age=31536000, immutable");
    assert_eq!(sha.as_deref(), fw.split('/').nth(1));
    let phone = m["phones"]["001F9F16E849"]["file"].clone();
    let (ct, cc, sha) = s3_head(
        &s3.endpoint,
        &format!("site/{}", phone["path"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(ct, "text/plain; charset=iso-8859-1");
    assert_eq!(cc, "public, max-age=31536000, immutable");
    assert_eq!(sha.as_deref(), phone["sha256"].as_str());
    let (ct, cc, _) = s3_head(&s3.endpoint, "site/ST2030S.inf").unwrap();
    assert_eq!(
        (ct.as_str(), cc.as_str()),
        ("text/plain; charset=iso-8859-1", "no-cache")
    );
    let (ct, cc, _) = s3_head(&s3.endpoint, "site/manifest.json").unwrap();
    assert_eq!((ct.as_str(), cc.as_str()), ("application/json", "no-cache"));
    let (ct, cc, _) = s3_head(&s3.endpoint, &format!("site/{fw}")).unwrap();
    assert_eq!(
        (ct.as_str(), cc.as_str()),
        (
            "application/octet-stream",
            "public, max-age=31536000, immutable"
        )
    );

    // Nothing the second time.
    let again = publish(&r, to, &endpoint);
    assert_eq!(again["sent"]["files"], 0);
    assert_eq!(again["sent"]["bytes"], 0);

    // The manifest swap is a compare-and-swap: a manifest changed behind the publish's back
    // (another publish) makes it stop before switching.
    next_release(&r, 1);
    {
        let opts = provsite::publish::PublishOptions {
            out: r.public(),
            to: to.into(),
            keep: 5,
            grace: Duration::ZERO,
            dry_run: false,
            rollback: None,
            force: false,
            max_deletes: provsite::publish::DELETE_CAP,
            s3_endpoint: Some(s3.endpoint.clone()),
            s3_region: None,
        };
        std::env::set_var("AWS_ACCESS_KEY_ID", S3_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", S3_SECRET);
        let mut mine = provsite::publish::open(&opts).unwrap();
        let seen = mine.get("manifest.json").unwrap().unwrap();
        let mut other = provsite::publish::open(&opts).unwrap();
        other.get("manifest.json").unwrap();
        let mut theirs = seen.clone();
        theirs.extend_from_slice(b" ");
        other.swap_manifest(&theirs, Some(&seen)).unwrap();
        let e = mine
            .swap_manifest(b"{}", Some(&seen))
            .unwrap_err()
            .to_string();
        assert!(e.contains("changed while publishing"), "{e}");
        // Put it back as it was.
        other.get("manifest.json").unwrap();
        other.swap_manifest(&seen, Some(&theirs)).unwrap();
    }
    let b = publish(
        &r,
        to,
        &["--endpoint", &s3.endpoint, "--keep", "1", "--grace", "0"],
    );
    assert_eq!(
        b["sent"]["files"].as_u64().unwrap(),
        walk(
            &r.public()
                .join("releases")
                .join(b["release"].as_str().unwrap())
        )
        .len() as u64
    );
    assert_eq!(b["pruned_releases"][0], a.as_str());
    assert_consistent(&served, "s3 after prune");
    let back = publish(
        &r,
        to,
        &[
            "--endpoint",
            &s3.endpoint,
            "--rollback",
            b["release"].as_str().unwrap(),
        ],
    );
    assert_eq!(back["sent"]["files"], 0);

    crash_test(&r, to, &served, &s3.root, &["--endpoint", &s3.endpoint]);
}

#[test]
fn publish_never_deletes_what_it_did_not_write() {
    let r = repo();
    let dest = r.path().join("shared-root");
    // A provisioning root shared with other phones, before provsite's first publish.
    for dir in [
        "firmware/cisco",
        "firmware/vendor-docs",
        "releases/user-folder",
        "releases/2020",
    ] {
        std::fs::create_dir_all(dest.join(dir)).unwrap();
        std::fs::write(dest.join(dir).join("keep.txt"), "not provsite's").unwrap();
    }
    std::fs::write(dest.join("index.html"), "not provsite's").unwrap();
    let to = dest.to_str().unwrap();
    publish(&r, to, &["--grace", "0", "--keep", "1"]);
    next_release(&r, 1);
    publish(&r, to, &["--grace", "0", "--keep", "1"]);
    next_release(&r, 2);
    let report = publish(&r, to, &["--grace", "0", "--keep", "1"]);
    assert!(
        !report["pruned_releases"].as_array().unwrap().is_empty(),
        "provsite's own old releases are pruned: {report}"
    );
    for dir in [
        "firmware/cisco",
        "firmware/vendor-docs",
        "releases/user-folder",
        "releases/2020",
    ] {
        assert!(
            dest.join(dir).join("keep.txt").exists(),
            "{dir} was deleted"
        );
    }
    assert!(dest.join("index.html").exists());

    // A tampered destination manifest naming index.html as an entry point cannot make the next
    // publish delete it.
    let live = dest.join("manifest.json");
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(
        &live,
        text.replace(
            "\"entry_point\": \"ST2022S.inf\"",
            "\"entry_point\": \"index.html\"",
        ),
    )
    .unwrap();
    next_release(&r, 3);
    let out = publish_cmd(&r, to, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(dest.join("index.html").exists());
}

#[test]
fn a_killed_folder_publish_leaves_no_temporary_file_in_the_served_tree() {
    let r = repo();
    let dest = r.path().join("www");
    let to = dest.to_str().unwrap();
    publish(&r, to, &[]);
    next_release(&r, 1);
    let served_dot_files = |root: &Path| -> Vec<PathBuf> {
        walk(root)
            .into_iter()
            .filter(|p| {
                let rel = p.strip_prefix(root).unwrap();
                !rel.starts_with(".provsite")
                    && rel
                        .components()
                        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
            .collect()
    };
    for k in 1..=6 {
        let mut c = publish_cmd(&r, to, &[]);
        c.env("PROVSITE_PUBLISH_ABORT_AFTER", k.to_string());
        let out = c.output().unwrap();
        let left = served_dot_files(&dest);
        assert!(left.is_empty(), "after write {k}: {left:?}");
        if out.status.success() {
            break;
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join(".provsite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the state folder is the owner's only");
    publish(&r, to, &[]);
    let tmp: Vec<_> = std::fs::read_dir(dest.join(".provsite"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
        .collect();
    assert!(tmp.is_empty(), "temporary folders outlive the publish");
}

/// A destination's manifest.json of 300 MiB (a sparse file: no disk is used) stops the publish
/// before it is read whole, at a folder, an rsync daemon and an S3-compatible server alike; a
/// named pipe in its place at a folder does not make publish wait.
#[test]
fn an_oversized_destination_manifest_is_refused_without_being_read() {
    let r = repo();
    let huge = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        let f = std::fs::File::create(path).unwrap();
        f.set_len(300 << 20).unwrap();
    };
    let refused = |to: &str, args: &[&str], what: &str| {
        let out = publish_cmd(&r, to, args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("manifest.json is larger than 256 MiB"),
            "{what}: {err}"
        );
    };
    // A folder.
    let dest = r.path().join("www");
    let to = dest.to_str().unwrap();
    publish(&r, to, &[]);
    huge(&dest.join("manifest.json"));
    refused(to, &[], "folder");
    assert_eq!(
        std::fs::metadata(dest.join("manifest.json")).unwrap().len(),
        300 << 20
    );
    std::fs::remove_file(dest.join("manifest.json")).unwrap();
    let made = Command::new("mkfifo")
        .arg(dest.join("manifest.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let out = publish_cmd(&r, to, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("manifest.json is not a regular file"), "{err}");
    // An rsync daemon.
    if let Some(d) = rsync_daemon(&r) {
        publish(&r, &d.url, &[]);
        huge(&d.data.join("manifest.json"));
        refused(&d.url, &[], "rsync");
    }
    // An S3-compatible server (s3s-fs keeps each object as a file).
    if let Some(s3) = s3_server(&r) {
        let endpoint = ["--endpoint", s3.endpoint.as_str()];
        publish(&r, "s3://phones/site", &endpoint);
        huge(&s3.root.join("phones/site/manifest.json"));
        refused("s3://phones/site", &endpoint, "s3");
    }
}

/// A destination is untrusted: a `.provsite` there that is a link must not make publish delete
/// the dead temporary folders it cleans up (`tmp-*`, `trash-*`) in someone else's folder.
#[test]
fn a_destination_private_folder_that_is_a_link_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let r = repo();
    let dest = r.path().join("www");
    std::fs::create_dir(&dest).unwrap();
    let theirs = tempfile::tempdir().unwrap();
    for d in ["tmp-other-program", "trash-can"] {
        std::fs::create_dir(theirs.path().join(d)).unwrap();
    }
    std::fs::set_permissions(theirs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(theirs.path(), dest.join(".provsite")).unwrap();
    let out = publish_cmd(&r, dest.to_str().unwrap(), &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a symbolic link or not a folder"), "{err}");
    assert!(theirs.path().join("tmp-other-program").exists());
    assert!(theirs.path().join("trash-can").exists());
    let mode = std::fs::metadata(theirs.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "their folder's mode changed");
    assert!(!dest.join("manifest.json").exists());
}
