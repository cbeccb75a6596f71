//! Benchmark: generates synthetic inventories (N phones; a history of M commits each touching a few
//! phones), runs the real `provsite build` on them and prints wall time and peak memory, beside
//! a floor measured in the same run: `cp -r` of the same output tree for a build into an empty
//! folder, and for a build after a commit `cp -al` of the live release's phone files (the links
//! the web root's layout has every new release make; see [`link_floor`]). After each full build
//! it prints what the stages no build can skip cost on their own (creating the files, parsing the
//! YAML, the SHA-256s), in CPU a phone, to set beside the build's.
//!
//! Usage: `cargo bench --bench build -- [--sizes 1000,10000,100000] [--history-phones 10000]
//! [--commits 1000] [--reps 3] [--changed 1000,10000] [--baseline PATH] [--peer-wazo DIR]`
//!
//! `--peer-wazo DIR` also runs, in every round of the full builds, a Python template loop over the
//! same phones (`benches/peer_wazo.py`: the per-phone work of Wazo's provd plugin for Technicolor
//! phones, on that plugin's own Jinja2 templates, which DIR holds:
//! `plugins/wazo_technicolor/common/templates` of a wazo-provd-plugins checkout; it needs python3
//! and Jinja2), and prints provsite's CPU over the loop's, round by round.
//!
//! `--baseline PATH` runs another provsite binary (an older build) on the same inputs, round for
//! round interleaved with this one, and prints both: before and after, measured in the same run.
//! Every round starts without the build caches (they sit beside the output folder), except the
//! cases that say they keep them.

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

/// A commit on top of HEAD (HEAD itself stays), a minute later, with `files` (path, text)
/// written over HEAD's tree.
fn commit_on_head(repo: &Repository, files: &[(String, String)], message: &str) -> Oid {
    let head = repo.head().unwrap().target().unwrap();
    let head_commit = repo.find_commit(head).unwrap();
    let mut index = repo.index().unwrap();
    index.read_tree(&head_commit.tree().unwrap()).unwrap();
    for (path, text) in files {
        index.add_frombuffer(&entry(path), text.as_bytes()).unwrap();
    }
    let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
    let time = head_commit.time().seconds() + 60;
    let sig = Signature::new("Bench", "bench@example.invalid", &Time::new(time, 0)).unwrap();
    repo.commit(None, &sig, &sig, message, &tree, &[&head_commit])
        .unwrap()
}

/// A commit on top of HEAD renaming the site in site.yaml: a change that reaches every phone's
/// common file, so every phone's digest of the commit before is needed.
fn site_commit(repo: &Repository, site: &str) -> Oid {
    let renamed = site.replacen("name: Bench\n", "name: Bench renamed\n", 1);
    assert_ne!(renamed, site, "the bench site names itself `Bench`");
    let files = [("inventory/site.yaml".to_string(), renamed)];
    commit_on_head(repo, &files, "bench: rename the site")
}

/// A commit on top of HEAD changing the display names of the first `k` phones, as an edit of
/// one team's files would: the files holding them change, no other.
fn side_commit(repo: &Repository, n: usize, revs: &[usize], k: usize) -> Oid {
    let mut revs = revs.to_vec();
    for r in revs.iter_mut().take(k.min(n)) {
        *r += 1;
    }
    let files: Vec<(String, String)> = (0..k.min(n).div_ceil(PER_FILE))
        .map(|f| {
            (
                format!("inventory/phones/f{f:05}.yaml"),
                phones_file(f, n, &revs),
            )
        })
        .collect();
    commit_on_head(repo, &files, "bench: a larger edit")
}

/// Runs a command and returns (seconds, peak RSS of that child in MiB, CPU seconds: user and
/// system, all its threads).
fn measure(cmd: &mut Command) -> (f64, f64, f64) {
    measure_with(cmd, true)
}

/// [`measure`]; `peak_used`: warn when the peak cannot be told from this process's own memory.
fn measure_with(cmd: &mut Command, peak_used: bool) -> (f64, f64, f64) {
    // Linux counts this process's memory into the child's peak: the child starts in this
    // process's address space (vfork) and takes its high-water mark, not only what it holds now.
    let own = own_peak_mib();
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
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let peak = usage.ru_maxrss as f64 / 1024.0;
    if peak_used && peak <= own + 1.0 {
        eprintln!(
            "  warning: {cmd:?} peaked at {peak:.0} MiB, no more than the benchmark's own {own:.0} MiB: that peak may be the benchmark's, not the command's"
        );
    }
    (secs, peak, cpu)
}

/// This process's peak resident memory so far, in MiB (0 where /proc does not say).
fn own_peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn provsite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_provsite"))
}

/// The binaries measured: this one, and the baseline when given.
fn binaries(baseline: Option<&Path>) -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("now", provsite_bin())];
    if let Some(b) = baseline {
        v.insert(0, ("before", b.to_path_buf()));
    }
    v
}

fn build_cmd_with(bin: &Path, dir: &Path, out: &str, rev: &str) -> Command {
    // The generated repositories have no checkout: name the commit, not HEAD, so provsite does
    // not compare the (absent) working tree with it.
    let repo = Repository::open(dir).unwrap();
    let rev = repo.revparse_single(rev).unwrap().id().to_string();
    let rev = rev.as_str();
    let mut c = Command::new(bin);
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

/// Removes an output folder and the work folder beside it (lock, caches).
fn remove_out(dir: &Path, out: &str) {
    let _ = std::fs::remove_dir_all(dir.join(out));
    let _ = std::fs::remove_dir_all(dir.join(format!(".{out}.provsite")));
    let _ = std::fs::remove_dir_all(dir.join(format!("{out}-copy")));
    let _ = std::fs::remove_dir_all(dir.join(format!("{out}-links")));
}

/// One case's figures for one binary: median and worst seconds, highest peak, median CPU
/// seconds, and the floor of each round (`cp -r`, or `cp -al` for a build after a commit).
struct Figures {
    secs: Vec<f64>,
    peak: f64,
    cpus: Vec<f64>,
    cps: Vec<f64>,
}

impl Figures {
    fn each(n: usize) -> Vec<Figures> {
        (0..n)
            .map(|_| Figures {
                secs: Vec::new(),
                peak: 0.0,
                cpus: Vec::new(),
                cps: Vec::new(),
            })
            .collect()
    }

    /// One round's wall seconds, peak MiB and CPU seconds.
    fn add(&mut self, (secs, mib, cpu): (f64, f64, f64)) {
        self.secs.push(secs);
        self.peak = self.peak.max(mib);
        self.cpus.push(cpu);
    }
}

fn print_worst(bins: &[(&'static str, PathBuf)], figs: &[Figures]) {
    for ((label, _), fig) in bins.iter().zip(figs) {
        let worst = fig.secs.iter().cloned().fold(0.0, f64::max);
        eprintln!("  worst round ({label}): {worst:.2} s");
    }
    if let [before, now] = figs {
        // The two binaries' builds of one round ran minutes apart at most, and this machine's
        // speed drifts over a run: a round's ratio says more than the ratio of the medians.
        let ratios = |a: &[f64], b: &[f64]| -> Vec<f64> {
            a.iter().zip(b).map(|(x, y)| y / x.max(1e-9)).collect()
        };
        for (what, r) in [
            ("s", ratios(&before.secs, &now.secs)),
            ("CPU-s", ratios(&before.cpus, &now.cpus)),
        ] {
            let shown: Vec<String> = r.iter().map(|x| format!("{x:.2}")).collect();
            let worst = r.iter().cloned().fold(0.0, f64::max);
            eprintln!(
                "  now / before, {what}, round by round: {}; median {:.2}, worst {worst:.2}",
                shown.join(", "),
                median(r.clone())
            );
        }
    }
}

/// Builds `rev` into a fresh `out` (after `prepare`, untimed, which leaves its caches for the
/// timed build) `reps` times per binary, the binaries interleaved round by round, printing every
/// round; returns each binary's figures.
fn timed(
    dir: &Path,
    rev: &str,
    reps: usize,
    prepare: Option<&str>,
    bins: &[(&'static str, PathBuf)],
) -> Vec<Figures> {
    timed_with_peer(dir, rev, reps, prepare, bins, None).0
}

/// [`timed`], with the Python template loop run after the binaries in every round when `peer`
/// names its templates (a full build of `n` phones); returns the peer's rounds too.
fn timed_with_peer(
    dir: &Path,
    rev: &str,
    reps: usize,
    prepare: Option<&str>,
    bins: &[(&'static str, PathBuf)],
    peer: Option<(&Path, usize)>,
) -> (Vec<Figures>, Vec<PeerRound>) {
    let mut figs = Figures::each(bins.len());
    let mut peer_rounds = Vec::new();
    for r in 0..reps {
        for ((label, bin), fig) in bins.iter().zip(figs.iter_mut()) {
            let out = format!("out-{label}-{r}").replace('~', "_");
            remove_out(dir, &out);
            // A build after a commit: its floor is linking the live release's phone files into a
            // new folder, measured before the build (the live release is then the only one).
            let links = prepare.map(|prev| {
                measure(&mut build_cmd_with(bin, dir, &out, prev));
                settle();
                link_floor(dir, &out)
            });
            settle();
            let (s, mib, cpu) = measure(&mut build_cmd_with(bin, dir, &out, rev));
            fig.add((s, mib, cpu));
            let (floor, floor_cpu, what) = match links {
                Some((l, l_cpu)) => (l, l_cpu, "cp -al of the live phone files"),
                None => {
                    settle();
                    let (cp, cp_cpu) = cp_floor(dir, &out);
                    (cp, cp_cpu, "cp -r")
                }
            };
            fig.cps.push(floor);
            eprintln!(
                "  round {} ({label}): build {s:.2} s, {cpu:.2} CPU-s, {mib:.0} MiB, {what} {floor:.2} s, {floor_cpu:.2} CPU-s",
                r + 1
            );
            remove_out(dir, &out);
        }
        if let Some((templates, n)) = peer {
            settle();
            let round = peer_round(dir, templates, n);
            eprintln!(
                "  round {} (python loop): {:.2} s, {:.2} CPU-s, the loop alone {:.2} CPU-s",
                r + 1,
                round.secs,
                round.cpu,
                round.loop_cpu
            );
            peer_rounds.push(round);
        }
    }
    print_worst(bins, &figs);
    (figs, peer_rounds)
}

/// A build of HEAD with `--keep 2` into an output that holds the releases of HEAD~2 and HEAD~1
/// (and their caches): the build prunes one release. Its floor is `cp -al` of the live release's
/// phone files, as for one commit later.
fn timed_pruning(dir: &Path, reps: usize, bins: &[(&'static str, PathBuf)]) -> Vec<Figures> {
    let mut figs = Figures::each(bins.len());
    for r in 0..reps {
        for ((label, bin), fig) in bins.iter().zip(figs.iter_mut()) {
            let out = format!("out-{label}-{r}-pruning");
            remove_out(dir, &out);
            for prev in ["HEAD~2", "HEAD~1"] {
                measure(&mut build_cmd_with(bin, dir, &out, prev));
            }
            settle();
            let (floor, floor_cpu) = live_link_floor(dir, &out);
            settle();
            let (s, mib, cpu) =
                measure(build_cmd_with(bin, dir, &out, "HEAD").args(["--keep", "2"]));
            let kept = std::fs::read_dir(dir.join(&out).join("releases"))
                .unwrap()
                .count();
            assert_eq!(kept, 2, "[{label}] {out}: --keep 2 keeps two releases");
            fig.add((s, mib, cpu));
            fig.cps.push(floor);
            eprintln!(
                "  round {} ({label}): build {s:.2} s, {cpu:.2} CPU-s, {mib:.0} MiB, cp -al of the live phone files {floor:.2} s, {floor_cpu:.2} CPU-s",
                r + 1
            );
            remove_out(dir, &out);
        }
    }
    print_worst(bins, &figs);
    figs
}

/// `cp -al` of the live release's phone files (the one `manifest.json` names) into a new folder.
fn live_link_floor(dir: &Path, out: &str) -> (f64, f64) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(out).join("manifest.json")).unwrap())
            .unwrap();
    let config = dir
        .join(out)
        .join("releases")
        .join(m["release"].as_str().unwrap())
        .join("config");
    let links = dir.join(format!("{out}-links"));
    let (secs, _, cpu) = measure_with(
        Command::new("cp").arg("-al").arg(&config).arg(&links),
        false,
    );
    let _ = std::fs::remove_dir_all(&links);
    (secs, cpu)
}

/// One round of the Python template loop (`benches/peer_wazo.py`): wall and CPU seconds of the
/// whole process, and the CPU seconds of its loop alone, as it reports them.
struct PeerRound {
    secs: f64,
    cpu: f64,
    loop_cpu: f64,
}

/// Runs `benches/peer_wazo.py` on `n` phones into a fresh folder under `dir`.
fn peer_round(dir: &Path, templates: &Path, n: usize) -> PeerRound {
    let out = dir.join("peer-out");
    let report = dir.join("peer-report.txt");
    let _ = std::fs::remove_dir_all(&out);
    let mut c = Command::new("python3");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer_wazo.py"))
        .arg("--templates")
        .arg(templates)
        .args(["--phones", &n.to_string()])
        .arg("--out")
        .arg(&out)
        .stdout(std::fs::File::create(&report).unwrap());
    let (secs, _, cpu) = measure_with(&mut c, false);
    let text = std::fs::read_to_string(&report).unwrap();
    let loop_cpu = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("loop_cpu_s="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("peer_wazo.py printed no loop_cpu_s: {text:?}"));
    // The loop's figure is only worth setting beside provsite's if it wrote every phone's file.
    let written = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".txt"))
        .count();
    assert_eq!(
        written, n,
        "peer_wazo.py wrote {written} phone files, not {n}"
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&report);
    PeerRound {
        secs,
        cpu,
        loop_cpu,
    }
}

/// The Python loop's row, and provsite's CPU as a share of the loop's, round by round.
fn peer_rows(n: usize, bins: &[(&'static str, PathBuf)], figs: &[Figures], peer: &[PeerRound]) {
    if peer.is_empty() {
        return;
    }
    let loops: Vec<f64> = peer.iter().map(|p| p.loop_cpu).collect();
    let fastest_loop = loops.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "{:<44} {:>8.2} {:>8.2} {:>10} {:>7.2} {:>9} {:>8} {:>9.0}",
        format!("python template loop, {n} phones"),
        median(peer.iter().map(|p| p.secs).collect()),
        peer.iter().map(|p| p.secs).fold(0.0, f64::max),
        "",
        median(peer.iter().map(|p| p.cpu).collect()),
        "",
        "",
        median(loops.clone()) / n as f64 * 1e6
    );
    for ((label, _), f) in bins.iter().zip(figs) {
        // Round by round: this binary's CPU over the loop's own CPU in the same round.
        let ratios: Vec<f64> = f.cpus.iter().zip(&loops).map(|(c, l)| c / l).collect();
        let worst = ratios.iter().cloned().fold(0.0, f64::max);
        println!(
            "  provsite [{label}] CPU / the python loop's CPU, {n} phones: {:.3} (worst round {worst:.3}; the loop alone, its fastest round {fastest_loop:.2} CPU-s)",
            median(ratios)
        );
    }
}

/// `provsite check` of `rev`, with the caches a build of `rev` left (`warm`) or none, per binary.
/// A binary without the caches (a baseline) is timed the same way: it simply has none to use.
/// Whether a provsite binary's `check` takes `--out` (and so reads a build's caches).
fn knows_check_out(bin: &Path) -> bool {
    Command::new(bin)
        .args(["check", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--out"))
}

fn timed_check(
    dir: &Path,
    rev: &str,
    reps: usize,
    warm: bool,
    bins: &[(&'static str, PathBuf)],
) -> Vec<Figures> {
    let mut figs = Figures::each(bins.len());
    let full = Repository::open(dir)
        .unwrap()
        .revparse_single(rev)
        .unwrap()
        .id()
        .to_string();
    for r in 0..reps {
        for ((label, bin), fig) in bins.iter().zip(figs.iter_mut()) {
            let out = format!("check-{label}-{r}");
            remove_out(dir, &out);
            if warm {
                measure(&mut build_cmd_with(bin, dir, &out, rev));
            }
            settle();
            let mut c = Command::new(bin);
            c.args(["check", "--rev", &full])
                .current_dir(dir)
                .env("PROVSITE_SECRET", "bench-secret-0123456789abcdef")
                .env("BENCH_ADMIN", "bench-admin-pass")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // `--out` names the web root whose caches check reads; a baseline that does not know
            // the option checks without them (a line under its row says so).
            if *label == "now" || knows_check_out(bin) {
                c.args(["--out", &out]);
            }
            let (s, mib, cpu) = measure(&mut c);
            fig.add((s, mib, cpu));
            eprintln!(
                "  round {} ({label}): check {s:.2} s, {cpu:.2} CPU-s, {mib:.0} MiB",
                r + 1
            );
            remove_out(dir, &out);
        }
    }
    print_worst(bins, &figs);
    figs
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
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let bins = binaries(baseline.as_deref());
    // `--peer-wazo DIR`: also run the Python template loop of `benches/peer_wazo.py` in every
    // round of the full builds, on Wazo's Technicolor templates in DIR.
    let peer_templates = args
        .iter()
        .position(|a| a == "--peer-wazo")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);

    println!(
        "# provsite benchmark ({} cores; medians of {reps} runs, worst of them, CPU seconds (user and system, all threads), the floor in the same run: cp -r of the same output for a build into an empty folder, cp -al of the live release's phone files for a build after a commit; a full build's CPU also per phone)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<44} {:>8} {:>8} {:>10} {:>7} {:>9} {:>8} {:>9}",
        "case", "build s", "worst s", "peak MiB", "CPU s", "floor s", "ratio", "CPU µs/ph"
    );
    for &n in &sizes {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), n);
        let peer = peer_templates.as_deref().map(|t| (t, n));
        let (figs, peer_figs) = timed_with_peer(dir.path(), "HEAD", reps, None, &bins, peer);
        rows(&format!("full build, {n} phones"), &bins, &figs, Some(n));
        peer_rows(n, &bins, &figs, &peer_figs);
        floors(dir.path(), n);
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
    let (repo, mut revs, site) = generate(&hist_dir, hist_n);
    let t = Instant::now();
    add_history(&repo, hist_n, &mut revs, commits);
    eprintln!(
        "generated {commits} commits in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // Cold: no earlier release in the output and no caches, so the numbers come from walking
    // history.
    let figs = timed(&hist_dir, "HEAD", reps, None, &bins);
    rows(
        &format!("cold, {hist_n} ph, {commits} commits"),
        &bins,
        &figs,
        Some(hist_n),
    );
    // Cold after a site.yaml change (what CI builds when the site changes): every phone of the
    // commit before must be rendered again under the older site to number the phones.
    let rev = site_commit(&repo, &site).to_string();
    let figs = timed(&hist_dir, &rev, reps, None, &bins);
    rows(
        &format!("cold, {hist_n} ph, a site.yaml change"),
        &bins,
        &figs,
        Some(hist_n),
    );
    // Incremental: the previous commit's release is in the output, with the caches it left.
    let figs = timed(&hist_dir, "HEAD", reps, Some("HEAD~1"), &bins);
    rows(
        &format!("one commit later, {hist_n} ph (3 changed)"),
        &bins,
        &figs,
        None,
    );
    // The same once the output holds `--keep` releases, as every site's does after its first
    // few builds: each build then also prunes a release (here `--keep 2`, two releases before).
    if repo.revparse_single("HEAD~2").is_ok() {
        let figs = timed_pruning(&hist_dir, reps, &bins);
        rows(
            &format!("one commit later, {hist_n} ph, pruning one"),
            &bins,
            &figs,
            None,
        );
    }
    let figs = timed_check(&hist_dir, "HEAD", reps, true, &bins);
    rows(
        &format!("check, {hist_n} ph, after a build"),
        &bins,
        &figs,
        None,
    );
    for (label, bin) in &bins {
        if *label != "now" && !knows_check_out(bin) {
            println!("  [{label}] takes no `check --out`: its row above is a check without caches");
        }
    }
    let figs = timed_check(&hist_dir, "HEAD", reps, false, &bins);
    rows(
        &format!("check, {hist_n} ph, no caches"),
        &bins,
        &figs,
        None,
    );
    // What grows with the change: one commit changing more phones after the previous build
    // (`--changed K,...`, each a commit of its own on top of HEAD).
    let changed: Vec<usize> = get("--changed", "1000,10000")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .filter(|&k| k <= hist_n)
        .collect();
    for k in changed {
        let rev = side_commit(&repo, hist_n, &revs, k).to_string();
        let figs = timed(&hist_dir, &rev, reps, Some("HEAD"), &bins);
        rows(
            &format!("one commit later, {hist_n} ph ({k} changed)"),
            &bins,
            &figs,
            None,
        );
    }
}

/// One row per binary, with its floor (`cp -r` or `cp -al`) where the case measured one; `full`:
/// a build of that many phones into an empty folder, also given its CPU per phone.
fn rows(case: &str, bins: &[(&'static str, PathBuf)], figs: &[Figures], full: Option<usize>) {
    for ((label, _), f) in bins.iter().zip(figs) {
        let name = if bins.len() > 1 {
            format!("{case} [{label}]")
        } else {
            case.to_string()
        };
        let secs = median(f.secs.clone());
        let worst = f.secs.iter().cloned().fold(0.0, f64::max);
        let cpu = median(f.cpus.clone());
        let per_phone = full.map_or(String::new(), |n| format!("{:>9.0}", cpu / n as f64 * 1e6));
        if f.cps.is_empty() {
            println!(
                "{name:<44} {secs:>8.2} {worst:>8.2} {:>10.0} {cpu:>7.2}",
                f.peak
            );
        } else {
            let floor = median(f.cps.clone());
            println!(
                "{name:<44} {secs:>8.2} {worst:>8.2} {:>10.0} {cpu:>7.2} {floor:>9.2} {:>7.2}x {per_phone}",
                f.peak,
                secs / floor,
            );
        }
    }
}

/// CPU seconds this thread has used.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// What the stages a full build cannot skip cost on their own, one thread, in CPU µs a phone:
/// creating the phones' files (the bytes of this build's release, with the build's own writer:
/// open through the folder's handle, write, mtime, close), parsing the phones files' YAML into
/// their documents as a build does (serde_yaml into nothing is printed beside it, as a
/// reference), the two SHA-256s of each phone file (the manifest's digest and the one config_sn
/// is derived from), and the SHA-256 of the firmware (once a build, shared by its phones). Set
/// beside the build's own CPU a phone, they show how much of it is left to anything else.
///
/// Inputs are read a chunk at a time, outside the timing, so that this process stays small: a
/// child started later reports as its peak at least what this process held when it started it
/// (Linux counts the forked copy), which would hide the builds' own peaks.
fn floors(dir: &Path, n: usize) {
    use sha2::Digest;
    const CHUNK: usize = 1000;
    let out = "floor-out";
    remove_out(dir, out);
    measure(&mut build_cmd_with(&provsite_bin(), dir, out, "HEAD"));
    let release = std::fs::read_dir(dir.join(out).join("releases"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut names: Vec<PathBuf> = std::fs::read_dir(release.join("config"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    let target = dir.join("floor-files");
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir(&target).unwrap();
    let writer = provsite::output::DirWriter::open(&target).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
    let (mut create, mut sha) = (0.0, 0.0);
    for chunk in names.chunks(CHUNK) {
        let files: Vec<(&str, Vec<u8>)> = chunk
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                (name, std::fs::read(p).unwrap())
            })
            .collect();
        let t = thread_cpu();
        for (name, bytes) in &files {
            writer.write_new(name, bytes, mtime).unwrap();
        }
        let t2 = thread_cpu();
        for (_, bytes) in &files {
            std::hint::black_box(sha2::Sha256::digest(bytes));
            std::hint::black_box(sha2::Sha256::digest(bytes));
        }
        create += t2 - t;
        sha += thread_cpu() - t2;
    }
    let revs = vec![0; n];
    let (mut yaml, mut serde_yaml_only) = (0.0, 0.0);
    let files = n.div_ceil(PER_FILE);
    for start in (0..files).step_by(CHUNK / PER_FILE) {
        let srcs: Vec<provsite::inventory::SourceText> = (start
            ..(start + CHUNK / PER_FILE).min(files))
            .map(|f| provsite::inventory::SourceText {
                path: format!("phones/f{f}.yaml"),
                text: phones_file(f, n, &revs),
            })
            .collect();
        let t = thread_cpu();
        for src in &srcs {
            std::hint::black_box(provsite::inventory::parse_phones(src).unwrap());
        }
        let t2 = thread_cpu();
        for src in &srcs {
            let _: serde::de::IgnoredAny = serde_yaml::from_str(&src.text).unwrap();
        }
        yaml += t2 - t;
        serde_yaml_only += thread_cpu() - t2;
    }
    let mut fw = 0.0;
    for d in std::fs::read_dir(dir.join(out).join("firmware"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            let bytes = std::fs::read(f.path()).unwrap();
            let t = thread_cpu();
            std::hint::black_box(sha2::Sha256::digest(&bytes));
            fw += thread_cpu() - t;
        }
    }
    let per = |s: f64| s / n as f64 * 1e6;
    println!(
        "  floors, {n} phones (one thread, CPU µs a phone): creating the files {:.1}, parsing the YAML {:.1} (serde_yaml into nothing {:.1}), two SHA-256s a file {:.1}, the firmware's SHA-256 {:.1}; together {:.1}",
        per(create),
        per(yaml),
        per(serde_yaml_only),
        per(sha),
        per(fw),
        per(create + yaml + sha + fw)
    );
    let _ = std::fs::remove_dir_all(&target);
    remove_out(dir, out);
}

/// The floor of a build after a commit (seconds, CPU seconds): `cp -al` of the phone files of
/// the live release of `out` (its only one) into a new folder. The web root's layout has each
/// release hold every phone's file in one folder (a phone appends its own file name to the folder
/// its entry point names), and releases never change, so a new release links the unchanged files
/// of the live one: one hard link each, and the check that the live file is a regular file with
/// the mtime the manifest gives it, as `cp -al` does (one `lstat` and one `link` a file).
fn link_floor(dir: &Path, out: &str) -> (f64, f64) {
    let releases = dir.join(out).join("releases");
    let count = std::fs::read_dir(&releases).unwrap().count();
    assert_eq!(count, 1, "{} should hold one release", releases.display());
    live_link_floor(dir, out)
}

/// `cp -r` of a web root: the floor a build is compared with (seconds, CPU seconds).
fn cp_floor(dir: &Path, out: &str) -> (f64, f64) {
    let (secs, _, cpu) = measure_with(
        Command::new("cp")
            .args(["-r", out, &format!("{out}-copy")])
            .current_dir(dir),
        false,
    );
    (secs, cpu)
}
