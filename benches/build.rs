//! Benchmark: generates synthetic inventories (N phones; a history of M commits each touching a few
//! phones), runs the real `provsite build` on them and prints wall time and peak memory, beside
//! `cp -r` of the same output tree measured in the same run as the floor.
//!
//! Usage: `cargo bench --bench build -- [--sizes 1000,10000,100000] [--history-phones 10000] [--commits 1000]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use git2::{IndexEntry, IndexTime, Oid, Repository, Signature, Time};

const PER_FILE: usize = 100;

fn phone_yaml(i: usize, rev: usize) -> String {
    let model = ["ST2030", "ST2030", "TB30", "ST2022"][i % 4];
    let mac = format!(
        "00:1F:{:02X}:{:02X}:{:02X}:{:02X}",
        (i >> 24) & 255,
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    );
    let keys = if model == "ST2022" { 3 } else { 8 };
    let mut s = format!("- mac: \"{mac}\"\n  model: {model}\n  name: Desk {i}\n  lines:\n    - {{user: \"u{i}\", display_name: \"Employé {i} r{rev}\"}}\n  keys:\n");
    for k in 1..=keys {
        s.push_str(&format!("    {k}: {{blf: \"u{}\"}}\n", (i + k) % 1_000_000));
    }
    s
}

fn phones_file(file: usize, n: usize, revs: &[usize]) -> String {
    let start = file * PER_FILE;
    (start..(start + PER_FILE).min(n))
        .map(|i| phone_yaml(i, revs[i]))
        .collect()
}

fn site_yaml(fw: &[(String, String)]) -> String {
    let f = |n: &str| {
        fw.iter()
            .find(|(name, _)| name == n)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    let mut s = String::from("name: Bench\nbase_url: http://prov.bench.test/\ntimezone: Europe/Paris\nlanguage: fr\nntp: 192.0.2.10\npbx: {host: 192.0.2.5, voicemail: \"*98\", pickup: \"*8\"}\nadmin_password: {env: BENCH_ADMIN}\nfirmware:\n");
    for (set, model, pre) in [
        ("s30", "ST2030", "30"),
        ("s22", "ST2022", "22"),
        ("tb", "TB30", "tb"),
    ] {
        s.push_str(&format!("  {set}:\n    model: {model}\n"));
        for role in ["app", "dsp", "boot"] {
            let name = format!("{pre}_{role}.zz");
            s.push_str(&format!(
                "    {role}: {{file: firmware/{name}, sha256: \"{}\"}}\n",
                f(&name)
            ));
        }
    }
    s.push_str("models:\n  ST2030: {firmware: s30, settings: {ipp: {Ringer_default_vol: \"4\"}}}\n  ST2022: {firmware: s22}\n  TB30: {firmware: tb}\n");
    s
}

/// A repository with N phones; returns it with the per-phone revision counters.
fn generate(dir: &Path, n: usize) -> (Repository, Vec<usize>, String) {
    let repo = Repository::init(dir).unwrap();
    let mut fw = Vec::new();
    let mut index = repo.index().unwrap();
    let add = |index: &mut git2::Index, path: &str, data: &[u8]| {
        index.add_frombuffer(&entry(path), data).unwrap();
    };
    for pre in ["30", "22", "tb"] {
        for role in ["app", "dsp", "boot"] {
            let name = format!("{pre}_{role}.zz");
            // About 5 MB for the application file, as real firmware; DSP shared by 30 and 22.
            let data: Vec<u8> = match role {
                "app" => (0..5_000_000u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ pre.as_bytes()[0])
                    .collect(),
                "dsp" if pre != "tb" => vec![7u8; 1_000_000],
                _ => format!("PLACEHOLDER {name}\n").into_bytes(),
            };
            fw.push((name.clone(), provsite::hashing::sha256_hex(&data)));
            add(&mut index, &format!("inventory/firmware/{name}"), &data);
        }
    }
    let revs = vec![0usize; n];
    let site = site_yaml(&fw);
    add(&mut index, "inventory/site.yaml", site.as_bytes());
    for f in 0..n.div_ceil(PER_FILE) {
        add(
            &mut index,
            &format!("inventory/phones/f{f:05}.yaml"),
            phones_file(f, n, &revs).as_bytes(),
        );
    }
    let tree = index.write_tree_to(&repo).unwrap();
    commit(&repo, tree, None, 1_795_687_200);
    (repo, revs, site)
}

fn entry(path: &str) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: Oid::zero(),
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

fn commit(repo: &Repository, tree: Oid, parent: Option<Oid>, time: i64) -> Oid {
    let sig = Signature::new("bench", "bench@example.test", &Time::new(time, 0)).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let parents: Vec<git2::Commit> = parent
        .map(|p| repo.find_commit(p).unwrap())
        .into_iter()
        .collect();
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, "bench", &tree, &refs)
        .unwrap()
}

/// Adds `m` commits, each changing the display name of 3 phones.
fn add_history(repo: &Repository, n: usize, revs: &mut [usize], m: usize) {
    let mut index = repo.index().unwrap();
    let mut head = repo.head().unwrap().target().unwrap();
    index
        .read_tree(&repo.find_commit(head).unwrap().tree().unwrap())
        .unwrap();
    let mut seed = 12345u64;
    for c in 0..m {
        let mut files = std::collections::BTreeSet::new();
        for _ in 0..3 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let i = (seed >> 33) as usize % n;
            revs[i] += 1;
            files.insert(i / PER_FILE);
        }
        for f in files {
            index
                .add_frombuffer(
                    &entry(&format!("inventory/phones/f{f:05}.yaml")),
                    phones_file(f, n, revs).as_bytes(),
                )
                .unwrap();
        }
        let tree = index.write_tree_to(repo).unwrap();
        head = commit(repo, tree, Some(head), 1_795_687_200 + 60 * (c as i64 + 1));
    }
}

/// Runs a command and returns (seconds, peak RSS of that child in MiB).
fn measure(cmd: &mut Command) -> (f64, f64) {
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers to locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = t.elapsed().as_secs_f64();
    assert!(rc == pid, "wait4 failed");
    let _ = child.try_wait();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn provsite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_provsite"))
}

fn build_cmd(dir: &Path, out: &str, rev: &str) -> Command {
    // The generated repositories have no checkout: name the commit, not HEAD, so provsite does
    // not compare the (absent) working tree with it.
    let repo = Repository::open(dir).unwrap();
    let rev = repo.revparse_single(rev).unwrap().id().to_string();
    let rev = rev.as_str();
    let mut c = Command::new(provsite_bin());
    c.args(["build", "--quiet", "--out", out, "--rev", rev])
        .current_dir(dir)
        .env("PROVSITE_SECRET", "bench-secret-0123456789abcdef")
        .env("BENCH_ADMIN", "bench-admin-pass")
        .stdout(std::process::Stdio::null());
    c
}

/// Lets the disk settle before a measurement: flushes dirty data and waits for the discards that
/// deleting a previous tree queues (the machines here mount with `discard`).
fn settle() {
    let _ = Command::new("sync").status();
    std::thread::sleep(std::time::Duration::from_secs(2));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Builds `rev` into a fresh `out` (after `prepare`, untimed) `reps` times, printing every round;
/// returns the median build time, the highest peak RSS, and the median `cp -r` of the same output
/// (each round, and the worst, go to stderr).
fn timed(dir: &Path, rev: &str, reps: usize, prepare: Option<&str>) -> (f64, f64, f64) {
    let (mut secs, mut cps, mut peak) = (Vec::new(), Vec::new(), 0f64);
    for r in 0..reps {
        let out = format!("out-{rev}-{r}").replace('~', "_");
        if let Some(prev) = prepare {
            measure(&mut build_cmd(dir, &out, prev));
        }
        settle();
        let (s, mib) = measure(&mut build_cmd(dir, &out, rev));
        secs.push(s);
        peak = peak.max(mib);
        settle();
        cps.push(cp_floor(dir, &out));
        eprintln!(
            "  round {}: build {s:.2} s, {mib:.0} MiB, cp -r {:.2} s",
            r + 1,
            cps[cps.len() - 1]
        );
        let _ = std::fs::remove_dir_all(dir.join(&out));
        let _ = std::fs::remove_dir_all(dir.join(format!("{out}-copy")));
    }
    let worst = secs.iter().cloned().fold(0.0, f64::max);
    eprintln!("  worst round: {worst:.2} s");
    (median(secs), peak, median(cps))
}

fn main() {
    // `cargo bench` passes `--bench`; our own flags follow `--`.
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let sizes: Vec<usize> = get("--sizes", "1000,10000,100000")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let hist_n: usize = get("--history-phones", "10000").parse().unwrap();
    let commits: usize = get("--commits", "1000").parse().unwrap();
    let reps: usize = get("--reps", "3").parse().unwrap();

    println!(
        "# provsite benchmark ({} cores; medians of {reps} runs, cp -r of the same output in the same run)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<34} {:>10} {:>10} {:>12} {:>10}",
        "case", "build s", "peak MiB", "cp -r s", "ratio"
    );
    for &n in &sizes {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), n);
        let (secs, mib, cp) = timed(dir.path(), "HEAD", reps, None);
        row(&format!("full build, {n} phones"), secs, mib, Some(cp));
    }
    // History: N phones, M commits, each touching 3 phones. `--history-dir DIR` keeps the
    // repository (for profiling); it must not exist yet.
    let dir = tempfile::tempdir().unwrap();
    let kept = args
        .iter()
        .position(|a| a == "--history-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let hist_dir = kept.clone().unwrap_or_else(|| dir.path().to_path_buf());
    let (repo, mut revs, _) = generate(&hist_dir, hist_n);
    let t = Instant::now();
    add_history(&repo, hist_n, &mut revs, commits);
    eprintln!(
        "generated {commits} commits in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // Cold: no earlier release in the output, so the numbers come from walking history.
    let (cold, cold_mib, cp) = timed(&hist_dir, "HEAD", reps, None);
    row(
        &format!("cold, {hist_n} ph, {commits} commits"),
        cold,
        cold_mib,
        Some(cp),
    );
    // Incremental: the previous commit's release is in the output.
    let (inc, inc_mib, cp) = timed(&hist_dir, "HEAD", reps, Some("HEAD~1"));
    row("incremental (after HEAD~1)", inc, inc_mib, Some(cp));
}

/// `cp -r` of a web root: the floor a build is compared with.
fn cp_floor(dir: &Path, out: &str) -> f64 {
    measure(
        Command::new("cp")
            .args(["-r", out, &format!("{out}-copy")])
            .current_dir(dir),
    )
    .0
}

fn row(case: &str, secs: f64, mib: f64, floor: Option<f64>) {
    match floor {
        Some(cp) => println!(
            "{case:<34} {secs:>10.2} {mib:>10.0} {cp:>12.2} {:>9.2}x",
            secs / cp
        ),
        None => println!("{case:<34} {secs:>10.2} {mib:>10.0}"),
    }
}
