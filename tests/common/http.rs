//! HTTP helpers for the serve / probe / web server tests: raw requests (so odd paths reach the
//! server as written), free ports, servers that stop when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Repo, ADMIN, SECRET};

/// The host name the HTTP tests' inventory uses; requests go to 127.0.0.1 with `--connect-to`.
pub const HOST: &str = "prov.test";
pub const ROOT_URL: &str = "http://prov.test/";
pub const UA_M1: &str = "THOMSON ST2030 hw5 fw2.74 00-1F-9F-16-E8-49";
pub const M1: &str = "001F9F16E849";
pub const M2: &str = "001F9F16E84A";
pub const M22: &str = "00147FE1FC6D";

/// The base fixture with base_url at the root of `http://prov.test/`, built into `public/`,
/// readable by the unprivileged users web servers run as.
pub fn built_repo() -> Repo {
    let r = Repo::with_base();
    r.edit(
        "inventory/site.yaml",
        "base_url: http://prov.test/p/",
        "base_url: http://prov.test/",
    );
    r.commit("serve at the root");
    r.build(&[]);
    open_up(r.path());
    r
}

/// chmod a+rX on a folder and everything below (temp folders are 0700).
pub fn open_up(dir: &Path) {
    let st = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited ({st}) before listening on {addr}: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr} within 20 s");
}

/// A child process killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    /// SIGTERM first, so a server with worker processes (nginx, Apache) stops them, then SIGKILL.
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `provsite serve` on a free port; the bound address comes from its first stderr line.
pub fn provsite_serve(root: &Path, extra: &[&str], log: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0", "--log"])
        .arg(log)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let addr = announced_addr(&mut child);
    Server { child, addr }
}

/// The address `provsite serve` says it listens on, in the first line of its stderr.
pub fn announced_addr(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("serve said: {line}"))
        .parse()
        .unwrap()
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// One HTTP/1.1 request with the path sent exactly as given.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}

/// `provsite probe` with every connection sent to `addr`.
pub fn probe(addr: SocketAddr, args: &[&str]) -> std::process::Output {
    let connect = addr.to_string();
    let mut a = vec!["probe"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--connect-to", &connect]);
    Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(&a)
        .env("PROVSITE_SECRET", SECRET)
        .env("TEST_ADMIN_PASSWORD", ADMIN)
        .output()
        .unwrap()
}

/// The path of the live release's file for a phone, relative to the web root.
pub fn phone_path(root: &Path, mac: &str) -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    m["phones"][mac]["file"]["path"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The live manifest.
pub fn manifest(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap()
}

/// A real server's binary, or a clear failure: these tests exist to run against the real thing.
/// `PROVSITE_SKIP_SERVERS=1` skips them on a machine without the servers (CI never sets it).
pub fn require(binary: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(binary).is_file();
    if found {
        return true;
    }
    if std::env::var("PROVSITE_SKIP_SERVERS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: {binary} is not installed (PROVSITE_SKIP_SERVERS=1)");
        return false;
    }
    panic!(
        "{binary} is not installed: `apt-get install {package}` (what .ci/run does), or set PROVSITE_SKIP_SERVERS=1 to skip the tests that need it"
    );
}

/// The path of a model's file of a role (`app`, `dsp`, `boot`, `telcfg`, `common`) in a manifest.
pub fn model_file(manifest: &serde_json::Value, model: &str, role: &str) -> String {
    manifest["models"][model]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == role)
        .unwrap_or_else(|| panic!("{model} has no {role} file"))["path"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs a server's configuration check, which must accept the file.
pub fn must_pass(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} refused the configuration:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
