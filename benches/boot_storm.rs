//! Boot storm: N phones booting at once, each fetching what a booting phone fetches (entry point,
//! the three firmware files, telcfg, the common file, its own file), against `provsite serve` and
//! against nginx serving the same web root with the configuration `provsite webserver` prints.
//! Prints requests/s, MB/s, p50 / p99 latency and errors for each, and the ratio to nginx.
//!
//! `cargo bench --bench boot_storm -- [--phones 1000] [--app-mib 5] [--rounds 2]`
//!
//! Each simulated phone is a thread that opens one connection per file (`Connection: close`) and
//! reads every body to the end, checking the status and the length. All phones start together
//! behind a barrier. Client and server share the machine, for both servers alike.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// Deterministic filler bytes (xorshift), so firmware files have distinct digests.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An inventory of `phones` ST2030s with firmware of realistic size, committed and built.
fn make_site(dir: &Path, phones: usize, app_mib: usize) -> PathBuf {
    let inv = dir.join("inventory");
    std::fs::create_dir_all(inv.join("firmware")).unwrap();
    std::fs::create_dir_all(inv.join("phones")).unwrap();
    let mut fw = String::new();
    for (role, name, size, seed) in [
        (
            "app",
            "v2030SG.R11.1.SED.101223.2.74.zz",
            app_mib << 20,
            1u64,
        ),
        ("dsp", "v2030_dsp_R11.1_SED_v320.zz", 1 << 20, 2),
        ("boot", "v2030_boot_v111.zz", 256 << 10, 3),
        ("telcfg", "TelConf2030.txt", 6 << 10, 4),
    ] {
        let bytes = filler(size, seed);
        std::fs::write(inv.join("firmware").join(name), &bytes).unwrap();
        fw.push_str(&format!(
            "    {role}: {{file: firmware/{name}, sha256: \"{}\"}}\n",
            sha256(&bytes)
        ));
    }
    std::fs::write(
        inv.join("site.yaml"),
        format!("name: Storm\nbase_url: http://prov.storm.test/\ntimezone: Europe/Paris\nlanguage: fr\nntp: 192.0.2.10\npbx: {{host: 192.0.2.5}}\nadmin_password: {{env: STORM_ADMIN}}\nfirmware:\n  s30:\n    model: ST2030\n{fw}models:\n  ST2030: {{firmware: s30}}\n"),
    )
    .unwrap();
    let mut list = String::new();
    for i in 0..phones {
        list.push_str(&format!(
            "- mac: \"00:1F:9F:{:02X}:{:02X}:{:02X}\"\n  model: ST2030\n  lines: [{{user: \"{}\"}}]\n  keys: {{1: {{blf: \"{}\"}}}}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            2000 + i,
            2000 + (i + 1) % phones
        ));
    }
    std::fs::write(inv.join("phones/all.yaml"), list).unwrap();
    let git = |args: &[&str]| {
        run(Command::new("git")
            .args(["-c", "user.name=B", "-c", "user.email=b@b.test"])
            .args(args)
            .current_dir(dir))
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "storm"]);
    run(Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(["build", "--quiet", "--out", "public"])
        .current_dir(dir)
        .env("PROVSITE_SECRET", "storm-secret-0123456789")
        .env("STORM_ADMIN", "storm-admin-pass"));
    dir.join("public")
}

/// The URLs (paths) a phone fetches, read from the entry point and the manifest.
fn phone_paths(root: &Path) -> (Vec<String>, Vec<String>) {
    let entry = std::fs::read_to_string(root.join("ST2030S.inf")).unwrap();
    let shared: Vec<String> = std::iter::once("/ST2030S.inf".to_string())
        .chain(entry.lines().filter_map(|l| {
            let (k, v) = l.trim_end().split_once('=')?;
            (k != "config").then(|| v.trim_start_matches("http://prov.storm.test").to_string())
        }))
        .collect();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let own = m["phones"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| format!("/{}", p["file"]["path"].as_str().unwrap()))
        .collect();
    (shared, own)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn wait_port(addr: SocketAddr) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{addr} never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_provsite(root: &Path, dir: &Path) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0", "--log"])
        .arg(dir.join("provsite-access.log"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    (Proc(child), addr)
}

fn start_nginx(root: &Path, dir: &Path) -> Option<(Proc, SocketAddr)> {
    if Command::new("nginx").arg("-v").output().is_err() {
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(["webserver", "--format", "nginx", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    let n = dir.join("nginx");
    std::fs::create_dir_all(n.join("tmp")).unwrap();
    std::fs::write(n.join("site.conf"), site.stdout).unwrap();
    // The tuning Debian's own nginx.conf ships with.
    std::fs::write(
        n.join("nginx.conf"),
        format!(
            "worker_processes auto;\ndaemon off;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 4096; }}\nhttp {{\n  sendfile on;\n  tcp_nopush on;\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/b;\n  proxy_temp_path {d}/tmp/p;\n  fastcgi_temp_path {d}/tmp/f;\n  uwsgi_temp_path {d}/tmp/u;\n  scgi_temp_path {d}/tmp/s;\n  include {d}/site.conf;\n}}\n",
            d = n.display()
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&n)
        .arg("-c")
        .arg(n.join("nginx.conf"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = Proc(child);
    wait_port(addr);
    Some((p, addr))
}

/// GET with `Connection: close`; returns the body length when the status is 200 and the body is
/// as long as Content-Length says.
fn fetch(addr: SocketAddr, path: &str, ua: &str, buf: &mut [u8]) -> Result<u64, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: prov.storm.test\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut in_body = false;
    let mut expected = None;
    loop {
        let n = s.read(buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        if in_body {
            total += n as u64;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..i]).to_string();
            if !text.starts_with("HTTP/1.1 200") {
                return Err(text.lines().next().unwrap_or("").to_string());
            }
            expected = text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<u64>().ok())?
            });
            total = (head.len() - i - 4) as u64;
            in_body = true;
        }
    }
    match expected {
        Some(e) if e == total => Ok(total),
        Some(e) => Err(format!("{total} of {e} bytes")),
        None => Err("no Content-Length".into()),
    }
}

struct Outcome {
    wall: f64,
    latencies: Vec<f64>,
    bytes: u64,
    errors: usize,
    first_error: Option<String>,
}

fn storm(addr: SocketAddr, shared: &[String], own: &[String]) -> Outcome {
    let barrier = Arc::new(Barrier::new(own.len() + 1));
    let mut handles = Vec::new();
    for mine in own {
        let mut paths: Vec<String> = shared.to_vec();
        paths.push(mine.clone());
        let barrier = barrier.clone();
        // The phone's own User-Agent, MAC taken from its file name.
        let mac = mine
            .rsplit('_')
            .next()
            .unwrap_or("")
            .trim_end_matches(".txt");
        let ua = format!(
            "THOMSON ST2030 hw5 fw2.74 {}",
            mac.as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        );
        handles.push(
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    barrier.wait();
                    let mut lat = Vec::new();
                    let mut bytes = 0;
                    let mut errors = Vec::new();
                    for p in &paths {
                        let t = Instant::now();
                        match fetch(addr, p, &ua, &mut buf) {
                            Ok(n) => bytes += n,
                            Err(e) => errors.push(format!("{p}: {e}")),
                        }
                        lat.push(t.elapsed().as_secs_f64());
                    }
                    (lat, bytes, errors)
                })
                .expect("thread"),
        );
    }
    barrier.wait();
    let start = Instant::now();
    let mut out = Outcome {
        wall: 0.0,
        latencies: Vec::new(),
        bytes: 0,
        errors: 0,
        first_error: None,
    };
    for h in handles {
        let (lat, bytes, errors) = h.join().unwrap();
        out.latencies.extend(lat);
        out.bytes += bytes;
        out.errors += errors.len();
        if out.first_error.is_none() {
            out.first_error = errors.into_iter().next();
        }
    }
    out.wall = start.elapsed().as_secs_f64();
    out.latencies.sort_by(|a, b| a.total_cmp(b));
    out
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let phones = arg(&args, "--phones", 1000);
    let app_mib = arg(&args, "--app-mib", 5);
    let rounds = arg(&args, "--rounds", 2);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _ = Command::new("chmod").arg("755").arg(dir).status();
    eprintln!("building a web root of {phones} phones with a {app_mib} MiB application firmware…");
    let root = make_site(dir, phones, app_mib);
    let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(dir).status();
    let (shared, own) = phone_paths(&root);
    assert_eq!(own.len(), phones);
    eprintln!(
        "each phone fetches: {} shared files + its own",
        shared.len()
    );

    let mut results: Vec<(&str, Outcome)> = Vec::new();
    let (serve, serve_addr) = start_provsite(&root, dir);
    let nginx = start_nginx(&root, dir);
    if nginx.is_none() {
        eprintln!(
            "nginx is not installed: measuring provsite serve alone (apt-get install nginx-light)"
        );
    }
    // Alternate the servers, so that neither gets the machine warmer or colder than the other.
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        let _ = Command::new("sync").status();
        results.push(("provsite serve", storm(serve_addr, &shared, &own)));
        if let Some((_, addr)) = &nginx {
            let _ = Command::new("sync").status();
            results.push(("nginx", storm(*addr, &shared, &own)));
        }
    }
    drop(serve);
    drop(nginx);

    println!(
        "\nboot storm: {phones} phones at once, {} requests each, application firmware {app_mib} MiB, {rounds} round(s) per server",
        shared.len() + 1
    );
    println!(
        "| server | round | requests/s | MB/s | p50 latency | p99 latency | errors |\n|---|---|---|---|---|---|---|"
    );
    // Every round is printed above; the summary gives the worst round beside the best, since a
    // site after a power cut lives through the first (coldest) one.
    let mut best: std::collections::BTreeMap<&str, (f64, f64)> = Default::default();
    let mut worst: std::collections::BTreeMap<&str, (f64, f64, usize)> = Default::default();
    for (i, (name, o)) in results.iter().enumerate() {
        let rps = o.latencies.len() as f64 / o.wall;
        let mbs = o.bytes as f64 / 1e6 / o.wall;
        println!(
            "| {name} | {} | {rps:.0} | {mbs:.0} | {:.1} ms | {:.1} ms | {} |",
            i / if nginx_present(&results) { 2 } else { 1 } + 1,
            pct(&o.latencies, 0.5) * 1e3,
            pct(&o.latencies, 0.99) * 1e3,
            o.errors
        );
        if let Some(e) = &o.first_error {
            println!("  first error: {e}");
        }
        let b = best.entry(name).or_insert((0.0, 0.0));
        b.0 = b.0.max(rps);
        b.1 = b.1.max(mbs);
        let w = worst.entry(name).or_insert((f64::MAX, f64::MAX, 0));
        w.0 = w.0.min(rps);
        w.1 = w.1.min(mbs);
        w.2 = w.2.max(o.errors);
    }
    for (name, (rps, mbs, errors)) in &worst {
        println!(
            "{name}: worst round {rps:.0} requests/s, {mbs:.0} MB/s, {errors} errors (most in a round)"
        );
    }
    if let (Some(p), Some(n)) = (best.get("provsite serve"), best.get("nginx")) {
        println!(
            "\nprovsite serve / nginx, best round each: requests/s {:.2}×, MB/s {:.2}×",
            p.0 / n.0,
            p.1 / n.1
        );
    }
    if let (Some(p), Some(n)) = (worst.get("provsite serve"), worst.get("nginx")) {
        println!(
            "provsite serve / nginx, worst round each: requests/s {:.2}×, MB/s {:.2}×",
            p.0 / n.0,
            p.1 / n.1
        );
    }
}

fn nginx_present(results: &[(&str, Outcome)]) -> bool {
    results.iter().any(|(n, _)| *n == "nginx")
}
