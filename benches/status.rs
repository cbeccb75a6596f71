//! `provsite status` on a large access log: a synthetic `provsite serve` log of N lines (10,000
//! phones booting again and again: entry point, common file, own file, `.ser`), and the same in
//! nginx's combined format, read against a manifest of those phones. Prints every round and the
//! worst, and a baseline in the same run: reading the same file line by line and doing nothing.
//!
//! Usage: `cargo bench --bench status -- [--lines 1000000] [--rounds 3]`

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

use provsite::manifest::{FileEntry, Manifest, PhoneEntry};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mac(i: usize) -> String {
    format!("001F9F{:06X}", i)
}

fn dashed(m: &str) -> String {
    m.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-")
}

fn main() {
    let lines = arg("--lines", 1_000_000);
    let rounds = arg("--rounds", 3);
    let phones = 10_000;
    let release = "202611270001-0123456789ab";
    let mut m = Manifest {
        format: 1,
        generator: "bench".into(),
        release: release.into(),
        commit: String::new(),
        commit_time: 0,
        config_sn: "202611270001".into(),
        dirty: false,
        base_url: "http://prov.test/".into(),
        site: "bench".into(),
        models: BTreeMap::new(),
        firmware: BTreeMap::new(),
        phones: BTreeMap::new(),
    };
    for i in 0..phones {
        m.phones.insert(
            mac(i),
            PhoneEntry {
                model: "ST2030".into(),
                variant: None,
                name: None,
                config_sn: "202611270001".into(),
                changed_at: 0,
                digest: String::new(),
                file: FileEntry {
                    role: "phone".into(),
                    path: format!("releases/{release}/config/ST2030S_{}.txt", mac(i)),
                    sha256: String::new(),
                    size: 0,
                },
            },
        );
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let serve = dir.path().join("serve.log");
    let combined = dir.path().join("access.log");
    let steps = [
        "/ST2030S.inf".to_string(),
        "/common/ST2030S_common_0123456789ab.txt".to_string(),
    ];
    {
        let mut a = std::io::BufWriter::new(std::fs::File::create(&serve).unwrap());
        let mut b = std::io::BufWriter::new(std::fs::File::create(&combined).unwrap());
        for n in 0..lines {
            let i = (n / 4) % phones;
            let mac = mac(i);
            let path = match n % 4 {
                0 | 1 => steps[n % 4].clone(),
                2 => format!("/releases/{release}/config/ST2030S_{mac}.txt"),
                _ => format!("/releases/{release}/config/ST2030S_{mac}.ser"),
            };
            let status = if n % 4 == 3 { 404 } else { 200 };
            writeln!(
                a,
                "2026-11-27T10:00:00Z 192.0.2.{} GET {path} {status} 600 model=ST2030 hw=5 fw=2.74 mac={mac}",
                i % 250
            )
            .unwrap();
            writeln!(
                b,
                "192.0.2.{} - - [27/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} 600 \"-\" \"THOMSON ST2030 hw5 fw2.74 {}\"",
                i % 250,
                dashed(&mac)
            )
            .unwrap();
        }
    }
    let mut results: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 1..=rounds {
        for (name, path) in [("serve log", &serve), ("combined log", &combined)] {
            let t = Instant::now();
            let mut count = 0usize;
            for l in BufReader::new(std::fs::File::open(path).unwrap()).lines() {
                count += l.unwrap().len();
            }
            let base = t.elapsed().as_secs_f64();
            std::hint::black_box(count);
            let t = Instant::now();
            let r = provsite::status::report(&m, &[path.as_path()]).unwrap();
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(r.lines_read, lines);
            println!(
                "round {round} {name:<13} {lines} lines: {secs:.2} s (reading the lines alone: {base:.2} s, {:.1}x)",
                secs / base
            );
            results.entry(name).or_default().push(secs);
        }
    }
    for (name, v) in results {
        let worst = v.iter().cloned().fold(0.0, f64::max);
        println!("worst {name:<13} {worst:.2} s");
    }
}
