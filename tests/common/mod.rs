//! Test helpers: git repositories in temp folders, the real binary, and a phone's view of a web root.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provsite::family::technicolor::format as vendor_format;
use provsite::family::ConfigFile;

pub const SECRET: &str = "test-site-secret-0123456789";
pub const ADMIN: &str = "Adm1n-test-pass";

/// A git repository in a temp folder holding an inventory.
pub struct Repo {
    pub dir: tempfile::TempDir,
    /// Commit dates go up by a minute each commit, from 2026-11-26 10:00 UTC.
    clock: std::cell::Cell<i64>,
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

impl Repo {
    /// A repository with the base fixture inventory committed.
    pub fn with_base() -> Repo {
        let r = Repo::empty();
        copy_dir(&fixtures().join("base"), &r.path().join("inventory"));
        r.commit("base inventory");
        r
    }

    pub fn empty() -> Repo {
        let r = Repo {
            dir: tempfile::tempdir().unwrap(),
            clock: std::cell::Cell::new(1_795_687_200),
        };
        r.git(&["init", "-q", "-b", "main"]);
        // Build outputs stay out of the commits, as in a real inventory repository.
        r.write(
            ".gitignore",
            "/public/\n/fresh/\n/a/\n/b/\n/never/\n/.*.provsite/\n",
        );
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let t = self.clock.get();
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.test",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_DATE", format!("@{t} +0000"))
            .env("GIT_COMMITTER_DATE", format!("@{t} +0000"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn set_clock(&self, unix: i64) {
        self.clock.set(unix);
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// Replaces the first occurrence of `from` in a file.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} lacks {from}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.clock.set(self.clock.get() + 60);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn provsite(&self, args: &[&str]) -> Output {
        run_provsite(self.path(), args, &[])
    }

    /// `provsite build` that must succeed.
    pub fn build(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["build", "--json"];
        a.extend_from_slice(args);
        let out = self.provsite(&a);
        assert!(
            out.status.success(),
            "build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A provsite command that must succeed; its standard output.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.provsite(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn public(&self) -> PathBuf {
        self.path().join("public")
    }
}

pub fn run_provsite(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_exe(Path::new(env!("CARGO_BIN_EXE_provsite")), dir, args, env)
}

/// [`run_provsite`] with another provsite executable (a copy, say).
pub fn run_exe(exe: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(exe);
    c.args(args)
        .current_dir(dir)
        .env("PROVSITE_SECRET", SECRET)
        .env("TEST_ADMIN_PASSWORD", ADMIN)
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    // A copy of the executable just written may still be open for writing in a child that
    // another test forked meanwhile (until that child's exec closes it): exec then fails with
    // ETXTBSY for a moment.
    for _ in 0..50 {
        match c.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r.unwrap(),
        }
    }
    c.output().unwrap()
}

/// What a phone sees when it boots against a web root.
#[derive(Debug)]
pub struct PhoneView {
    pub entry: ConfigFile,
    pub firmware: Vec<(String, Vec<u8>)>,
    pub telcfg: Option<Vec<u8>>,
    pub common_url: String,
    pub common: ConfigFile,
    pub own_bytes: Vec<u8>,
    pub own: ConfigFile,
}

impl PhoneView {
    pub fn sn(&self) -> String {
        self.own.get("sys", "config_sn").unwrap().to_string()
    }
    /// A key as the phone ends up with it: its own file over the common file.
    pub fn value(&self, section: &str, key: &str) -> Option<String> {
        self.own
            .get(section, key)
            .or_else(|| self.common.get(section, key))
            .map(str::to_string)
    }
}

/// Maps a URL under base_url onto the web root folder and reads it.
pub fn fetch(root: &Path, base_url: &str, url: &str) -> Vec<u8> {
    let rel = url
        .strip_prefix(base_url)
        .unwrap_or_else(|| panic!("{url} is not under {base_url}"));
    assert!(!rel.contains(".."), "{url}");
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Boots a phone: entry point → firmware → telcfg → common → its own file.
pub fn boot(root: &Path, base_url: &str, entry_point: &str, prefix: &str, mac: &str) -> PhoneView {
    let entry_bytes = std::fs::read(root.join(entry_point)).unwrap();
    let entry = vendor_format::check_entry_point(&entry_bytes).unwrap();
    let mut firmware = Vec::new();
    for k in ["fwurl", "dspurl", "booturl"] {
        let url = entry.get("application", k).unwrap().to_string();
        firmware.push((url.clone(), fetch(root, base_url, &url)));
    }
    let telcfg = entry
        .get("config", "telcfg")
        .map(|u| fetch(root, base_url, u));
    let common_url = entry.get("config", "common_config").unwrap().to_string();
    let common_bytes = fetch(root, base_url, &common_url);
    let common = vendor_format::parse_lenient(&common_bytes).unwrap();
    let dir = entry.get("config", "config").unwrap();
    let own_bytes = fetch(root, base_url, &format!("{dir}{prefix}_{mac}.txt"));
    let model = provsite::family::ModelId::parse(prefix).unwrap();
    let own = vendor_format::check_config(
        &own_bytes,
        model.vocabulary(),
        vendor_format::FileKind::Phone,
    )
    .unwrap();
    PhoneView {
        entry,
        firmware,
        telcfg,
        common_url,
        common,
        own_bytes,
        own,
    }
}

/// The phone template provsite ships, as an inventory's override starts from it.
pub fn default_phone_template() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("site-template/phone.txt"))
        .unwrap()
}

pub const BASE_URL: &str = "http://prov.test/p/";

pub fn boot30(repo: &Repo, mac: &str) -> PhoneView {
    boot(&repo.public(), BASE_URL, "ST2030S.inf", "ST2030S", mac)
}

pub fn boot22(repo: &Repo, mac: &str) -> PhoneView {
    boot(&repo.public(), BASE_URL, "ST2022S.inf", "ST2022S", mac)
}

/// Every file under a folder with its bytes and mtime, for byte-identical comparisons.
pub fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, std::time::SystemTime)>) {
        let Ok(it) = std::fs::read_dir(dir) else {
            return;
        };
        for e in it.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                out.insert(rel, (std::fs::read(&p).unwrap(), m));
            }
        }
    }
    walk(root, root, &mut out);
    out
}
pub mod http;

/// The base inventory with line 1001's password from the environment variable PW_1001.
pub fn password_from_env() -> Repo {
    let r = Repo::with_base();
    r.edit(
        "inventory/phones/base.yaml",
        "{user: \"1001\", display_name: \"Hélène Dupont\"}",
        "{user: \"1001\", display_name: \"Hélène Dupont\", password: {env: PW_1001}}",
    );
    r.commit("env password");
    r
}

/// The section of an Asterisk configuration with this name and `type=`.
pub fn conf_section<'a>(
    c: &'a provsite::asterisk_conf::Config,
    name: &str,
    ty: &str,
) -> &'a provsite::asterisk_conf::Section {
    c.sections
        .iter()
        .find(|s| s.name == name && s.get("type") == Some(ty))
        .unwrap_or_else(|| panic!("no [{name}] type={ty}"))
}
