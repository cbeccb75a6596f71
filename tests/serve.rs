//! `provsite serve` and `provsite probe` against each other, over real sockets on loopback.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::http::*;
use common::Repo;

#[test]
fn probe_all_and_one_phone_pass_against_serve() {
    let r = built_repo();
    let log = r.path().join("access.log");
    let s = provsite_serve(&r.public(), &[], &log);

    let all = probe(s.addr, &[ROOT_URL, "--all"]);
    let table = String::from_utf8_lossy(&all.stdout);
    assert!(
        all.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&all.stderr)
    );
    for mac in [M1, M2, M22] {
        assert!(table.contains(mac), "{table}");
    }
    assert!(
        table.contains("3 phone(s) probed, 3 ok, 0 failed"),
        "{table}"
    );

    let one = probe(
        s.addr,
        &["http://prov.test/ST2030S.inf", "--mac", "00:1f:9f:16:e8:49"],
    );
    let text = String::from_utf8_lossy(&one.stdout);
    // The shared files by their whole URL, in common/ (the same for every release).
    assert!(
        text.contains("http://prov.test/common/ST2030S_common_"),
        "{text}"
    );
    assert!(
        text.contains("http://prov.test/common/TelConf2030_"),
        "{text}"
    );
    assert!(
        one.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert!(text.contains("line 1: 1001@pbx.test:5060 (udp)"), "{text}");
    assert!(text.contains("key 01: blf 1002"), "{text}");
    assert!(
        text.contains("timezone NtpZoneNum 22 (Paris/Amsterdam/Madrid)"),
        "{text}"
    );
    assert!(text.contains("verified"), "{text}");
    assert!(
        text.contains(".ser           absent (404, normal)"),
        "{text}"
    );

    // The JSON form carries the same facts.
    let json = probe(
        s.addr,
        &["http://prov.test/ST2030S.inf", "--mac", M1, "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["lines"][0]["user"], "1001");
    assert_eq!(
        v["config_sn"],
        manifest(&r.public())["phones"][M1]["config_sn"]
    );

    // The access log names the phone that asked, from its User-Agent.
    let log = std::fs::read_to_string(&log).unwrap();
    let own = phone_path(&r.public(), M1);
    let line = log
        .lines()
        .find(|l| l.contains(&format!("GET /{own} 200")))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("model=ST2030 hw=5 fw=2.74 mac=001F9F16E849"),
        "{line}"
    );
    assert!(line.starts_with("20"), "{line}");
}

#[test]
fn probe_says_how_to_reach_a_server_its_base_url_does_not_name_yet() {
    // The web root names its files at base_url, here a loopback port nothing listens on (as a
    // host name DNS does not know yet would be); the server itself is probed at its own address.
    let r = Repo::with_base();
    let closed = free_port();
    r.edit(
        "inventory/site.yaml",
        "base_url: http://prov.test/p/",
        &format!("base_url: http://127.0.0.1:{closed}/"),
    );
    r.commit("files named at a host that does not answer");
    r.build(&[]);
    open_up(r.path());
    let s = provsite_serve(&r.public(), &[], &r.path().join("access.log"));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_provsite"))
            .arg("probe")
            .args(args)
            .output()
            .unwrap()
    };
    let url = format!("http://{}/", s.addr);
    let all = run(&[&url, "--all"]);
    let err = String::from_utf8_lossy(&all.stderr);
    assert!(!all.status.success(), "{err}");
    assert!(err.contains("would not provision"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{closed} (site.yaml's base_url)")),
        "{err}"
    );
    assert!(
        err.contains(&format!("add --connect-to {}", s.addr)),
        "{err}"
    );

    let one = run(&[&format!("{url}ST2030S.inf"), "--mac", M1]);
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(!one.status.success(), "{err}");
    assert!(err.contains("add --connect-to"), "{err}");

    // Following the hint, the same server passes.
    let connect = s.addr.to_string();
    let ok = run(&[&url, "--all", "--connect-to", &connect]);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn serve_refuses_traversal_listing_and_escaping_symlinks() {
    let r = built_repo();
    let secret = r.path().join("outside.txt");
    std::fs::write(&secret, "root:x:0:0:outside the web root\n").unwrap();
    std::os::unix::fs::symlink(&secret, r.public().join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(r.path(), r.public().join("releases/up")).unwrap();
    std::fs::write(r.public().join("releases/.hidden"), "a dot-file\n").unwrap();
    // A named pipe: opening it for reading would wait for a writer, holding the connection.
    let made = std::process::Command::new("mkfifo")
        .arg(r.public().join("pipe.inf"))
        .status()
        .unwrap();
    assert!(made.success());
    let log = r.path().join("access.log");
    let s = provsite_serve(&r.public(), &[], &log);
    for (path, want) in [
        ("/../outside.txt", 400),
        ("/%2e%2e/outside.txt", 400),
        ("/releases/..%2f..%2foutside.txt", 400),
        ("/releases/%2E%2E/%2E%2E/outside.txt", 400),
        ("//etc/passwd", 400),
        ("/ST2030S.inf%00.txt", 400),
        ("/releases\\..\\outside.txt", 400),
        ("/escape.txt", 404),
        ("/releases/up/outside.txt", 404),
        ("/releases/", 404),
        ("/releases", 404),
        ("/firmware/", 404),
        ("/", 404),
        ("/.gitignore", 404),
        ("/releases/.hidden", 404),
        ("/pipe.inf", 404),
    ] {
        let reply = get(s.addr, path);
        assert_eq!(reply.status, want, "{path}");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains("outside the web root"), "{path}: {body}");
        assert!(!body.contains("a dot-file"), "{path}: {body}");
        assert!(!body.contains("ST2030S"), "{path} listed something: {body}");
    }
    let post = request(s.addr, "POST", "/ST2030S.inf", &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), "GET, HEAD");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("GET /../outside.txt 400"), "{log}");
    assert!(log.contains("refused: traversal"), "{log}");
    assert!(
        log.contains("refused: a symlink leads outside the web root"),
        "{log}"
    );
    assert!(log.contains("GET /pipe.inf 404"), "{log}");
}

#[test]
fn serve_headers_ranges_and_conditional_requests() {
    let r = built_repo();
    let root = r.public();
    let s = provsite_serve(&root, &[], &r.path().join("access.log"));
    let m = manifest(&root);

    let entry = get(s.addr, "/ST2030S.inf");
    assert_eq!(entry.status, 200);
    assert_eq!(entry.body, std::fs::read(root.join("ST2030S.inf")).unwrap());
    assert_eq!(
        entry.header("content-type"),
        "text/plain; charset=iso-8859-1"
    );
    assert_eq!(entry.header("cache-control"), "no-cache");
    let manifest_reply = get(s.addr, "/manifest.json");
    assert_eq!(manifest_reply.header("content-type"), "application/json");
    assert_eq!(manifest_reply.header("cache-control"), "no-cache");

    let own = phone_path(&root, M1);
    let own_bytes = std::fs::read(root.join(&own)).unwrap();
    let file = get(s.addr, &format!("/{own}"));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, own_bytes);
    assert_eq!(
        file.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let fw = model_file(&m, "ST2030", "app");
    let firmware = get(s.addr, &format!("/{fw}"));
    assert_eq!(firmware.header("content-type"), "application/octet-stream");
    assert_eq!(
        firmware.header("cache-control"),
        "public, max-age=31536000, immutable"
    );

    // Byte ranges.
    let path = format!("/{own}");
    let part = request(s.addr, "GET", &path, &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, own_bytes[..10]);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 0-9/{}", own_bytes.len())
    );
    let tail = request(s.addr, "GET", &path, &[("Range", "bytes=-5")]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, own_bytes[own_bytes.len() - 5..]);
    let past = request(s.addr, "GET", &path, &[("Range", "bytes=999999-")]);
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        format!("bytes */{}", own_bytes.len())
    );

    // Conditional requests.
    let etag = file.header("etag").to_string();
    let modified = file.header("last-modified").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let same = request(s.addr, "GET", &path, &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    let since = request(s.addr, "GET", &path, &[("If-Modified-Since", &modified)]);
    assert_eq!(since.status, 304);
    let other = request(
        s.addr,
        "GET",
        &path,
        &[("If-None-Match", "\"something-else\"")],
    );
    assert_eq!(other.status, 200);
    let stale_range = request(
        s.addr,
        "GET",
        &path,
        &[("Range", "bytes=0-9"), ("If-Range", "\"something-else\"")],
    );
    assert_eq!(stale_range.status, 200);
    assert_eq!(stale_range.body, own_bytes);
    let fresh_range = request(
        s.addr,
        "GET",
        &path,
        &[("Range", "bytes=0-9"), ("If-Range", &etag)],
    );
    assert_eq!(fresh_range.status, 206);
    let failed = request(s.addr, "GET", &path, &[("If-Match", "\"something-else\"")]);
    assert_eq!(failed.status, 412);

    // HEAD: the headers of GET, no body.
    let head = request(s.addr, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), own_bytes.len().to_string());
    assert!(head.body.is_empty());
}

#[test]
fn serve_flags_other_and_unknown_phones_and_strict_refuses() {
    let r = built_repo();
    let root = r.public();
    let log = r.path().join("access.log");
    let theirs = format!("/{}", phone_path(&root, M2));
    let mine = format!("/{}", phone_path(&root, M1));
    let unknown = mine.replace(M1, "001F9F000000");
    {
        let s = provsite_serve(&root, &[], &log);
        assert_eq!(
            request(s.addr, "GET", &theirs, &[("User-Agent", UA_M1)]).status,
            200
        );
        assert_eq!(
            request(s.addr, "GET", &unknown, &[("User-Agent", UA_M1)]).status,
            404
        );
        let stranger = "THOMSON ST2030 hw5 fw2.74 00-1F-9F-00-00-01";
        assert_eq!(
            request(s.addr, "GET", "/ST2030S.inf", &[("User-Agent", stranger)]).status,
            200
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("other-phone: {M1} asked for the file of {M2}")),
        "{text}"
    );
    assert!(text.contains("unknown-phone mac=001F9F000000"), "{text}");
    assert!(text.contains("unknown-phone mac=001F9F000001"), "{text}");
    assert!(text.contains("add it to the inventory"), "{text}");

    let strict_log = r.path().join("strict.log");
    let s = provsite_serve(&root, &["--strict"], &strict_log);
    assert_eq!(
        request(s.addr, "GET", &theirs, &[("User-Agent", UA_M1)]).status,
        403
    );
    assert_eq!(request(s.addr, "GET", &theirs, &[]).status, 403);
    assert_eq!(
        request(s.addr, "GET", &mine, &[("User-Agent", UA_M1)]).status,
        200
    );
    // Shared files stay open to every phone.
    assert_eq!(request(s.addr, "GET", "/ST2030S.inf", &[]).status, 200);
    let text = std::fs::read_to_string(&strict_log).unwrap();
    assert!(text.contains("(refused: --strict)"), "{text}");
    // And the probe of M1 still passes under --strict.
    let p = probe(s.addr, &["http://prov.test/ST2030S.inf", "--mac", M1]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
}

#[test]
fn a_release_published_while_serving_is_served_whole_without_restart() {
    let r = built_repo();
    let root = r.public();
    let s = provsite_serve(&root, &[], &r.path().join("access.log"));
    let old_entry = std::fs::read(root.join("ST2030S.inf")).unwrap();
    let old_release = manifest(&root)["release"].as_str().unwrap().to_string();

    let stop = std::sync::atomic::AtomicBool::new(false);
    let bodies = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let reply = get(s.addr, "/ST2030S.inf");
                assert_eq!(reply.status, 200);
                seen.push(reply.body);
            }
            seen
        });
        // A change to the common settings renames the common file, so the entry point changes.
        r.edit(
            "inventory/site.yaml",
            "Ringer_default_vol: \"5\"",
            "Ringer_default_vol: \"6\"",
        );
        r.commit("louder");
        r.build(&[]);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    let new_entry = std::fs::read(root.join("ST2030S.inf")).unwrap();
    assert_ne!(old_entry, new_entry);
    assert!(bodies.len() > 2);
    for b in &bodies {
        assert!(
            *b == old_entry || *b == new_entry,
            "a torn entry point: {:?}",
            String::from_utf8_lossy(b)
        );
    }
    assert_eq!(bodies.last().unwrap(), &new_entry);
    assert_ne!(manifest(&root)["release"].as_str().unwrap(), old_release);
    let p = probe(s.addr, &[ROOT_URL, "--all"]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stdout));
}

#[test]
fn serve_says_when_the_address_is_taken_and_stops_on_sigterm() {
    let r = built_repo();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(["serve", "--listen", &addr, "--root"])
        .arg(r.public())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use"), "{err}");
    assert!(err.contains("--listen"), "{err}");

    let missing = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .args(["serve", "--root"])
        .arg(r.path().join("no-such-root"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("provsite build"));

    let mut s = provsite_serve(&r.public(), &[], &r.path().join("access.log"));
    assert_eq!(get(s.addr, "/ST2030S.inf").status, 200);
    unsafe {
        libc::kill(s.child.id() as i32, libc::SIGTERM);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "signal: {:?}", status.signal());
    assert!(std::net::TcpStream::connect(s.addr).is_err());
}

/// Each way a web root can break, and the step the probe must name.
#[test]
fn probe_names_the_step_that_breaks() {
    let r = built_repo();
    let m = manifest(&r.public());
    let fw = |role: &str| -> String {
        m["models"]["ST2030"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["role"] == role)
            .unwrap()["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let own = phone_path(&r.public(), M1);
    type Breaker<'a> = Box<dyn Fn(&std::path::Path) + 'a>;
    let cases: Vec<(&str, Breaker, &str, &str)> = vec![
        (
            "missing firmware",
            Box::new(|root| std::fs::remove_file(root.join(fw("dsp"))).unwrap()),
            "step `firmware dsp` failed",
            "404",
        ),
        (
            "wrong checksum",
            Box::new(|root| {
                let p = root.join(fw("app"));
                let mut b = std::fs::read(&p).unwrap();
                b[0] ^= 0xff;
                std::fs::write(&p, b).unwrap();
            }),
            "step `firmware app` failed",
            "SHA-256",
        ),
        (
            "bad config_sn",
            Box::new(|root| {
                let p = root.join(&own);
                let t = provsite::family::technicolor::format::decode(&std::fs::read(&p).unwrap());
                let sn = t
                    .lines()
                    .find(|l| l.starts_with("config_sn="))
                    .unwrap()
                    .to_string();
                let broken = t.replace(&sn, "config_sn=2026112600011");
                std::fs::write(&p, broken.chars().map(|c| c as u8).collect::<Vec<u8>>()).unwrap();
            }),
            "step `phone file` failed",
            "config_sn",
        ),
        (
            "same config_sn, other bytes",
            Box::new(|root| {
                let p = root.join(&own);
                let t = provsite::family::technicolor::format::decode(&std::fs::read(&p).unwrap());
                let changed = t.replace("Hélène Dupont", "Hélène Durand");
                assert_ne!(changed, t);
                std::fs::write(&p, changed.chars().map(|c| c as u8).collect::<Vec<u8>>()).unwrap();
            }),
            "step `phone file` failed",
            "is the manifest's, but the bytes differ",
        ),
        (
            "phone file saved as UTF-8",
            Box::new(|root| {
                let p = root.join(&own);
                let t = provsite::family::technicolor::format::decode(&std::fs::read(&p).unwrap());
                assert!(t.contains("Hélène"));
                std::fs::write(&p, t.as_bytes()).unwrap();
            }),
            "step `phone file` failed",
            "UTF-8",
        ),
        (
            "phone file missing",
            Box::new(|root| std::fs::remove_file(root.join(&own)).unwrap()),
            "step `phone file` failed",
            "add the phone to the inventory",
        ),
        (
            "entry point missing",
            Box::new(|root| std::fs::remove_file(root.join("ST2030S.inf")).unwrap()),
            "step `entry point` failed",
            "404",
        ),
    ];
    for (what, breaks, step, why) in cases {
        let copy = tempfile::tempdir().unwrap();
        let root = copy.path().join("public");
        common::copy_dir(&r.public(), &root);
        breaks(&root);
        let s = provsite_serve(&root, &[], &copy.path().join("log"));
        let out = probe(s.addr, &["http://prov.test/ST2030S.inf", "--mac", M1]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(step), "{what}: {err}");
        assert!(err.contains(why), "{what}: {err}");
        assert!(err.contains("url: http://prov.test/"), "{what}: {err}");
        let all = probe(s.addr, &[ROOT_URL, "--all"]);
        assert_eq!(all.status.code(), Some(1), "{what} --all");
        assert!(
            String::from_utf8_lossy(&all.stdout).contains("FAILED"),
            "{what}"
        );
    }
}

/// `provsite serve` in a shell that lowers the open-file limit first (soft and hard).
fn serve_with_fd_limit(root: &std::path::Path, nofile: u32, extra: &[&str]) -> Server {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_provsite"))
        .arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0", "--log", "/dev/null"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = announced_addr(&mut child);
    Server { child, addr }
}

/// Clients that ask for a large file and never read it can neither exhaust the server's
/// descriptors nor hold their connections: the server stops accepting at its cap (the others
/// wait in the listen queue), closes a connection whose writes make no progress, and a phone
/// that comes later is served.
#[test]
fn slow_readers_cannot_lock_out_new_clients() {
    use std::io::Write as _;
    let r = built_repo();
    let big = r.public().join("big.bin");
    std::fs::write(&big, vec![7u8; 32 << 20]).unwrap();
    open_up(r.path());
    // 128 descriptors: without a cap, 100 stuck clients (a socket and an open file each) would
    // leave none for the next one.
    let s = serve_with_fd_limit(&r.public(), 128, &["--stall-timeout", "2s"]);
    let mut stuck = Vec::new();
    for _ in 0..100 {
        let Ok(mut c) = std::net::TcpStream::connect(s.addr) else {
            break;
        };
        let _ = c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: prov.test\r\n\r\n");
        stuck.push(c);
    }
    assert!(stuck.len() >= 60, "only {} connections opened", stuck.len());
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let reply = get(s.addr, "/ST2030S.inf");
    assert_eq!(reply.status, 200);
    eprintln!(
        "a new client was served after {:.1} s behind {} stuck ones",
        started.elapsed().as_secs_f64(),
        stuck.len()
    );
    // The stuck connections were closed by the server (not by the client).
    let mut closed = 0;
    for c in &mut stuck {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match std::io::Read::read(c, &mut buf) {
                Ok(0) | Err(_) => {
                    closed += 1;
                    break;
                }
                Ok(_) => {}
            }
        }
    }
    assert_eq!(closed, stuck.len());
}

/// A server provsite does not control: every request gets a body that never ends, sent fast
/// (`trickle` false) or a byte at a time.
fn rogue_server(trickle: bool) -> std::net::SocketAddr {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().take(20) {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut req = [0u8; 4096];
                let _ = c.read(&mut req);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
                );
                let chunk = vec![b'x'; 64 << 10];
                let started = Instant::now();
                // Bounded: the test ends long before.
                while started.elapsed() < Duration::from_secs(60) {
                    let ok = if trickle {
                        std::thread::sleep(Duration::from_millis(200));
                        c.write_all(b"1\r\nx\r\n").is_ok()
                    } else {
                        c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                            .is_ok()
                            && c.write_all(&chunk).is_ok()
                            && c.write_all(b"\r\n").is_ok()
                    };
                    if !ok {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn probe_bounds_what_it_reads_and_how_long_it_waits() {
    let endless = rogue_server(false);
    let out = probe(endless, &["http://prov.test/ST2030S.inf", "--mac", M1]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("larger than 4 MiB"), "{text}");

    let slow = rogue_server(true);
    let started = Instant::now();
    let out = probe(
        slow,
        &[
            "http://prov.test/ST2030S.inf",
            "--mac",
            M1,
            "--timeout",
            "2s",
        ],
    );
    let waited = started.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        waited < Duration::from_secs(30),
        "waited {waited:?}: {text}"
    );
}
