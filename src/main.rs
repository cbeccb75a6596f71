//! The `provsite` binary: parses arguments, runs the library, prints diagnostics, sets the exit code
//! (0 success, 1 invalid inventory or failed build, 2 usage error).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

mod cli;

use cli::{
    AsteriskArgs, BuildArgs, CheckArgs, Cli, Command, DhcpArgs, DiffArgs, DiffFormat, ImportArgs,
    NotifyArgs, ProbeArgs, PublishArgs, ServeArgs, SourceArgs, StatusArgs, WebserverArgs,
};
use provsite::build::{self, Options, Progress};
use provsite::error::{Area, Diagnostic, Error};

fn main() -> ExitCode {
    no_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    };
    exit_now(code)
}

/// Turns transparent huge pages off for this process. The allocator asks for them (madvise), and
/// where the kernel grants them each first touch of a 2 MiB page zeroes all of it, and finding
/// free 2 MiB pages can mean compacting memory first: one build in three or four then spent
/// 0.3 to 0.4 s more in the kernel (after one commit, 100,000 phones). Without them the time is the
/// same from one build to the next, and the peak memory no higher.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and changes only this process's memory
    // policy; a kernel that does not know it returns an error, which changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Ends the process once the command is done: output flushed, then `_exit`, which skips what the
/// C library runs at exit. That is mostly the allocator tidying its heaps, which a process about to
/// end does not need: after a build of 100,000 phones it took about 70 ms, while a thread of the
/// build was still freeing the inventory (which the kernel reclaims at once). Every file the
/// command wrote was closed (and synced where the build syncs) before `run` returned.
fn exit_now(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; nothing of this process runs after it.
    unsafe { libc::_exit(i32::from(code)) }
}

fn options(s: &SourceArgs) -> Options {
    Options {
        inventory: s.inventory.clone(),
        rev: s.rev.clone(),
        worktree: s.worktree,
        secret_file: s.secret_file.clone(),
        ..Options::default()
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Build(a) => {
            provsite::alloc_budget::allow_restart();
            run_build(a)
        }
        Command::Check(a) => {
            provsite::alloc_budget::allow_restart();
            run_check(a)
        }
        Command::Serve(a) => run_serve(a),
        Command::Probe(a) => run_probe(a),
        Command::Webserver(a) => run_webserver(a),
        Command::Dhcp(a) => run_dhcp(a),
        Command::Asterisk(a) => run_asterisk(a),
        Command::Import(a) => run_import(a),
        Command::Publish(a) => run_publish(a),
        Command::Diff(a) => {
            provsite::alloc_budget::allow_restart();
            run_diff(a)
        }
        Command::Notify(a) => run_notify(a),
        Command::Status(a) => run_status(a),
    }
}

fn run_diff(a: DiffArgs) -> Result<(), Error> {
    let opts = Options {
        inventory: a.inventory,
        ..Options::default()
    };
    let d = provsite::diff::diff(&opts, &a.from, &a.to)?;
    match a.format {
        DiffFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&d).expect("diff serialises")
        ),
        DiffFormat::Text => print!("{}", provsite::diff::render(&d, false)),
        DiffFormat::Markdown => print!("{}", provsite::diff::render(&d, true)),
    }
    Ok(())
}

fn run_publish(a: PublishArgs) -> Result<(), Error> {
    use provsite::publish::{parse_duration, publish, PublishOptions};
    let grace =
        parse_duration(&a.grace).map_err(|e| Error::of(Area::Usage, format!("--grace: {e}")))?;
    let r = publish(&PublishOptions {
        out: a.out,
        to: a.to,
        keep: a.keep as usize,
        grace,
        dry_run: a.dry_run,
        rollback: a.rollback,
        force: a.force,
        max_deletes: a.max_deletes,
        s3_endpoint: a.endpoint,
        s3_region: a.region,
    })?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("report serialises")
        );
    } else if r.dry_run {
        eprintln!(
            "dry run: publishing {} to {} would send {} object(s) and switch from {}",
            r.release,
            r.destination,
            r.sent.files,
            r.previous.as_deref().unwrap_or("nothing")
        );
    } else {
        eprintln!(
            "published {} to {}: {} object(s) sent ({} bytes), {} already there; {}; {} release(s) and {} firmware file(s) pruned",
            r.release,
            r.destination,
            r.sent.files,
            r.sent.bytes,
            r.sent.skipped,
            if r.switched {
                format!("live now (was {})", r.previous.as_deref().unwrap_or("nothing"))
            } else {
                "it was already live".to_string()
            },
            r.pruned_releases.len(),
            r.pruned_firmware.len()
        );
    }
    Ok(())
}

/// The validated inventory at the chosen commit, for the integrations; warnings are printed.
fn inventory_for(s: &SourceArgs) -> Result<(build::Loaded, String), Error> {
    let loaded = build::load(&options(s), None, false)?;
    print_diags(&loaded.warnings);
    let origin = if s.worktree {
        format!("the working tree of {}", s.inventory.display())
    } else {
        format!(
            "{} at commit {}",
            s.inventory.display(),
            provsite::source::short(loaded.head.id)
        )
    };
    Ok((loaded, origin))
}

fn run_dhcp(a: DhcpArgs) -> Result<(), Error> {
    use provsite::dhcp::{render, Network};
    let net = match (&a.subnet, &a.range) {
        (Some(s), Some(r)) => Some(Network::parse(s, r, a.interface.clone())?),
        _ => None,
    };
    let (loaded, origin) = inventory_for(&a.source)?;
    print!("{}", render(&loaded.inv, a.format, net.as_ref(), &origin)?);
    Ok(())
}

fn run_asterisk(a: AsteriskArgs) -> Result<(), Error> {
    use provsite::asterisk::{accounts, render, Output};
    let (loaded, origin) = inventory_for(&a.source)?;
    let output = if a.hints {
        Output::Hints
    } else if a.notify {
        Output::Notify
    } else {
        Output::Accounts
    };
    let (accts, elsewhere) = if output == Output::Accounts {
        accounts(&loaded.inv, &loaded.site_secret, a.pbx.as_deref())?
    } else {
        Default::default()
    };
    let (text, warnings) = render(&loaded.inv, &accts, a.format, output, a.phoneprov, &origin)?;
    print!("{text}");
    for (host, n) in elsewhere {
        eprintln!(
            "note: {n} line(s) register with {} instead: `provsite asterisk --pbx {}` writes their accounts",
            provsite::text_rules::shown(&host),
            provsite::text_rules::shown(&host)
        );
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn run_notify(a: NotifyArgs) -> Result<(), Error> {
    use provsite::notify::{addresses, render, run, Options as NotifyOptions, Via};
    let env = |name: &str| {
        std::env::var(name).map_err(|_| {
            Error::of(Area::Usage, format!("--ami needs {name} in the environment"))
                .hint("credentials never go on the command line: export PROVSITE_AMI_USER and PROVSITE_AMI_SECRET (a manager.conf user allowed `originate` or `system`)")
        })
    };
    let via = if let Some(addr) = &a.ami {
        Via::Ami {
            addr: addr.clone(),
            user: env("PROVSITE_AMI_USER")?,
            secret: env("PROVSITE_AMI_SECRET")?,
            chan_sip: a.chan_sip,
        }
    } else if a.print {
        Via::Print {
            chan_sip: a.chan_sip,
        }
    } else {
        let mut found = addresses::Addresses::new();
        if let Some(p) = &a.log {
            found.extend(addresses::from_log(p)?);
        }
        if let Some(p) = &a.leases {
            found.extend(addresses::from_leases(p)?);
        }
        for given in &a.address {
            let (mac, addr) = addresses::parse_given(given)?;
            found.insert(mac, addr);
        }
        Via::Sip { addresses: found }
    };
    let mut build = options(&a.source);
    build.out = a.out.clone();
    build.previous = a.previous.clone();
    let outcomes = run(&NotifyOptions {
        build,
        via,
        all: a.all,
        macs: a.mac.clone(),
        rate: a.rate,
        dry_run: a.dry_run,
        timeout: a.timeout,
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcomes).expect("outcomes serialise")
        );
    } else if a.print && !a.dry_run {
        for o in &outcomes {
            println!("{}", o.result);
        }
    } else {
        print!("{}", render(&outcomes));
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    if failed > 0 {
        return Err(Error::of(
            Area::Usage,
            format!("{failed} phone(s) were not notified"),
        ));
    }
    Ok(())
}

fn run_status(a: StatusArgs) -> Result<(), Error> {
    use provsite::status::{manifest_from, render_html, render_text, report};
    let manifest = match &a.manifest {
        Some(m) => manifest_from("--manifest", m)?,
        None => manifest_from("--out", &a.out.display().to_string())?,
    };
    let logs: Vec<&std::path::Path> = a.log.iter().map(|p| p.as_path()).collect();
    let r = report(&manifest, &logs)?;
    if let Some(path) = &a.html {
        std::fs::write(path, render_html(&r)).map_err(|e| Error::io(path, e))?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("a report serialises")
        );
    } else {
        print!("{}", render_text(&r));
    }
    Ok(())
}

fn run_import(a: ImportArgs) -> Result<(), Error> {
    use provsite::import::{run, ImportOptions};
    let report = run(&ImportOptions {
        from: a.from,
        macs: a.macs,
        model: a
            .model
            .as_deref()
            .and_then(provsite::family::ModelId::parse),
        out: a.out,
        keep_passwords: a.keep_passwords,
        secrets: a.secrets,
        force: a.force,
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    }
    for s in &report.skipped {
        eprintln!("skipped: {}: [{}] {}", s.at, s.section, s.reason);
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for p in &report.problems {
        eprintln!("error: {}: [{}] {}", p.at, p.section, p.reason);
    }
    eprintln!(
        "imported {} phone(s), {} line(s) into {}",
        report.phones, report.lines, report.phones_file
    );
    if let Some(site) = &report.site_file {
        eprintln!("wrote a site.yaml skeleton to {site}: fill in its TODOs");
    }
    if let Some(s) = &report.secrets_file {
        eprintln!("passwords are in {s} (mode 600): keep it out of git; load it into your CI secrets or the environment of provsite build");
    }
    if !report.problems.is_empty() {
        return Err(Error::of(
            Area::Usage,
            format!(
            "{} phone(s) or section(s) could not be imported (listed above); the rest was written",
            report.problems.len()
        ),
        ));
    }
    Ok(())
}

fn run_serve(a: ServeArgs) -> Result<(), Error> {
    let opts = provsite::serve::ServeOptions {
        root: a.root,
        listen: a.listen,
        strict: a.strict,
        log: a.log,
        max_connections: a.max_connections,
        stall_timeout: a.stall_timeout,
    };
    provsite::serve::run(&opts, |addr| {
        eprintln!(
            "serving {} on http://{addr}/{} (Ctrl-C stops)",
            opts.root.display(),
            if opts.strict { " with --strict" } else { "" }
        );
    })
}

fn run_probe(a: ProbeArgs) -> Result<(), Error> {
    use provsite::probe;
    let client = probe::Client::new(a.connect_to).with_timeout(a.timeout);
    if a.all {
        let rows = probe::probe_all(&client, &a.url, a.jobs as usize)
            .map_err(|f| Error::of(Area::Probe, f.to_string()))?;
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).expect("rows serialise")
            );
        } else {
            // What a server sends is untrusted: no control character of it reaches the terminal.
            print!(
                "{}",
                provsite::text_rules::shown_lines(&probe::render_rows(&rows))
            );
        }
        let failed = rows
            .iter()
            .filter(|r| matches!(r.outcome, probe::Outcome::Failed(_)))
            .count();
        if failed > 0 {
            let err = Error::of(
                Area::Usage,
                format!("{failed} of {} phone(s) would not provision", rows.len()),
            );
            let failures = rows.iter().filter_map(|r| match &r.outcome {
                probe::Outcome::Failed(f) => Some(f),
                probe::Outcome::Ok { .. } => None,
            });
            return Err(
                match probe::unreachable_host_hint(&a.url, failures, a.connect_to.is_some()) {
                    Some(h) => err.hint(h),
                    None => err,
                },
            );
        }
        return Ok(());
    }
    let target = probe::PhoneTarget {
        entry_url: a.url.clone(),
        mac: a.mac.unwrap_or_default(),
        model: a
            .model
            .as_deref()
            .and_then(provsite::family::ModelId::parse),
        user_agent: a.user_agent,
    };
    match probe::probe(&client, &target) {
        Ok(report) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            } else {
                print!(
                    "{}",
                    provsite::text_rules::shown_lines(&probe::render_report(&report))
                );
            }
            Ok(())
        }
        Err(f) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&f).expect("failure serialises")
                );
            }
            let err = Error::of(Area::Probe, format!("the phone would not provision: {f}"));
            Err(
                match probe::unreachable_host_hint(&a.url, [&f], a.connect_to.is_some()) {
                    Some(h) => err.hint(h),
                    None => err,
                },
            )
        }
    }
}

fn run_webserver(a: WebserverArgs) -> Result<(), Error> {
    use provsite::webserver::{render, WebserverOptions};
    let text = render(&WebserverOptions {
        format: a.format,
        root: a.root,
        server_name: a.server_name,
        listen: a.listen,
        phone_check: a.phone_check,
    })?;
    print!("{text}");
    Ok(())
}

fn print_diags(diags: &[Diagnostic]) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "{d}\n");
    }
}

fn report(e: &Error) {
    match e {
        Error::Invalid(diags) => {
            print_diags(diags);
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!("error: the inventory has {n} error(s); nothing was written");
        }
        other => {
            // Messages may quote file names and values from untrusted input.
            let shown = provsite::text_rules::shown_lines;
            let (message, hint) = match other {
                Error::Failed { message, hint, .. } => (message.clone(), hint.as_deref()),
                _ => (other.to_string(), None),
            };
            eprintln!("error: {}", shown(&message));
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                eprintln!("  caused by: {}", shown(&s.to_string()));
                source = s.source();
            }
            if let Some(h) = hint {
                eprintln!("  = hint: {}", shown(h));
            }
        }
    }
}

fn run_check(a: CheckArgs) -> Result<(), Error> {
    let warnings = build::check(&Options {
        out: a.out,
        ..options(&a.source)
    })?;
    print_diags(&warnings);
    eprintln!("ok: the inventory is valid ({} warning(s))", warnings.len());
    Ok(())
}

/// An indicatif bar on stderr, only on a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.0.set_message(name.to_string());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

fn run_build(a: BuildArgs) -> Result<(), Error> {
    let opts = Options {
        out: a.out.clone(),
        keep: a.keep as usize,
        previous: a.previous.clone(),
        ..options(&a.source)
    };
    let show_bar = !a.quiet && std::io::stderr().is_terminal();
    let bar = Bar(if show_bar {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    });
    bar.0.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let result = build::build(&opts, &bar);
    bar.0.finish_and_clear();
    let s = result?;
    print_diags(&s.warnings);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("summary serialises")
        );
    } else if !a.quiet {
        eprintln!(
            "built release {} (config_sn {}{}): {} phones, {} changed, {} files written, {} firmware file(s) stored, {} release(s) pruned",
            s.release,
            s.config_sn,
            if s.dirty { ", dirty" } else { "" },
            s.phones,
            s.changed_phones.len(),
            s.files_written,
            s.firmware_stored,
            s.releases_pruned
        );
        if !s.renumbered.is_empty() {
            eprintln!(
                "{} phone(s) renumbered: their bytes differ from the live file under the same config_sn ({}), e.g. a rotated secret",
                s.renumbered.len(),
                s.live_from.as_deref().unwrap_or("the live site")
            );
        }
        eprintln!("web root: {}", opts.out.display());
    }
    Ok(())
}

/// mimalloc instead of glibc's malloc: a build makes and frees millions of small strings from
/// several threads (the README's benchmark section says what it saved).
#[global_allocator]
static ALLOCATOR: provsite::alloc_budget::Budgeted<mimalloc::MiMalloc> =
    provsite::alloc_budget::Budgeted(mimalloc::MiMalloc);
