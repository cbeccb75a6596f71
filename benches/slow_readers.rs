//! Slow readers against `provsite serve`: N clients each ask for a large file and never read
//! it (a broken or hostile client, or a phone stuck mid-download), while a phone keeps asking for
//! its entry point. Prints the server's resident memory (idle, peak, after the stall timeout has
//! closed the slow connections) and how long the phone waited each time.
//!
//! `cargo bench --bench slow_readers -- [--clients 3000] [--file-mib 50] [--stall 5]`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// The resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One GET of a small file, timed; None when it fails.
fn fetch_small(addr: SocketAddr) -> Option<Duration> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(60)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    s.write_all(b"GET /ST2030S.inf HTTP/1.1\r\nHost: prov.test\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    out.starts_with(b"HTTP/1.1 200").then(|| t.elapsed())
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients = arg(&args, "--clients", 3000);
    let file_mib = arg(&args, "--file-mib", 50);
    let stall = arg(&args, "--stall", 5);
    // This process holds every client socket.
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("big.bin"), vec![7u8; file_mib << 20]).unwrap();
    std::fs::write(root.join("ST2030S.inf"), b"[application]\r\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_provsite"))
        .arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0", "--log", "/dev/null"])
        .args(["--stall-timeout", &format!("{stall}s")])
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
    let pid = child.id();
    let server = Proc(child);
    fetch_small(addr);
    let idle = rss_mib(pid);

    let started = Instant::now();
    let mut slow = Vec::new();
    let mut refused = 0;
    for _ in 0..clients {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: prov.test\r\n\r\n");
                slow.push(s);
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!(
        "{} slow clients connected ({refused} refused) in {:.1} s",
        slow.len(),
        started.elapsed().as_secs_f64()
    );
    // While they sit there: the phone asks every second; memory is sampled.
    let mut peak = idle;
    let mut waits = Vec::new();
    let mut failures = 0;
    let watch = Instant::now();
    let window = Duration::from_secs(stall as u64 * (clients as u64 / 1024 + 3) + 10);
    while watch.elapsed() < window {
        peak = peak.max(rss_mib(pid));
        match fetch_small(addr) {
            Some(d) => waits.push(d.as_secs_f64()),
            None => failures += 1,
        }
        peak = peak.max(rss_mib(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    // The server closed the slow connections: each read ends.
    let mut closed = 0;
    for s in &mut slow {
        let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
        let mut buf = [0u8; 1 << 16];
        let mut ended = false;
        for _ in 0..4096 {
            match s.read(&mut buf) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        closed += usize::from(ended);
    }
    drop(slow);
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_mib(pid);
    waits.sort_by(|a, b| a.total_cmp(b));
    println!(
        "\nslow readers: {clients} clients each ask for a {file_mib} MiB file and never read; --stall-timeout {stall}s"
    );
    println!("| measure | value |\n|---|---|");
    println!("| server memory idle | {idle:.0} MiB |");
    println!(
        "| server memory peak with the slow clients | {peak:.0} MiB ({:.1}× idle) |",
        peak / idle.max(1.0)
    );
    println!("| server memory after they were cut off | {after:.0} MiB |");
    println!(
        "| slow connections the server closed by itself | {closed} of {} |",
        clients - refused
    );
    println!(
        "| a phone's request meanwhile: served / failed | {} / {failures} |",
        waits.len()
    );
    if let (Some(first), Some(worst)) = (waits.first(), waits.last()) {
        println!(
            "| its wait: best / median / worst | {:.0} ms / {:.0} ms / {:.0} ms |",
            first * 1e3,
            waits[waits.len() / 2] * 1e3,
            worst * 1e3
        );
    }
    drop(server);
}
