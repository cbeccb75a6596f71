//! The command line: clap definitions only. `main.rs` maps them to the library's option structs.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use provsite::Choice;

/// Parses one of a [`Choice`]'s names (and lists them in the help).
fn choice<T: Choice + Clone>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|(name, _)| *name)).try_map(|s: String| {
        T::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("`{s}` is not one of the choices"))
    })
}

#[derive(Debug, Parser)]
#[command(
    name = "provsite",
    version,
    about = "Provision Technicolor (Thomson) ST2030 / ST2022 / TB30 SIP phones from an inventory in git",
    long_about = "provsite turns a phone inventory kept in git into an immutable, versioned provisioning web root: \
entry points, a content-named common file, one file per phone and a content-addressed firmware store, \
with config_sn derived from git history."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the inventory at a commit into a new release of the web root
    Build(BuildArgs),
    /// Validate the inventory at a commit and print every problem with file:line:column
    Check(CheckArgs),
    /// Serve a built web root over HTTP, logging which phone asked for what
    Serve(ServeArgs),
    /// Act as a booting phone against a provisioning URL and report what it would get
    Probe(ProbeArgs),
    /// Print an nginx, Apache or Caddy configuration that serves the web root
    Webserver(WebserverArgs),
    /// Print the DHCP configuration (ISC dhcpd, Kea, dnsmasq) that sends each model its entry point
    Dhcp(DhcpArgs),
    /// Print the Asterisk side: accounts for pjsip.conf or sip.conf, BLF hints, check-sync NOTIFY
    Asterisk(AsteriskArgs),
    /// Write an inventory from existing Asterisk configuration (res_phoneprov users, pjsip, sip)
    Import(ImportArgs),
    /// Copy the built release to a folder, an rsync destination or S3, entry points last
    Publish(PublishArgs),
    /// Show what a change of the inventory does to the phones (for a pull request)
    Diff(DiffArgs),
    /// Tell the phones whose files changed to fetch them again (SIP NOTIFY check-sync)
    Notify(NotifyArgs),
    /// The fleet from the web server's log: who took which release, who is stuck, who asks unknown
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Access logs: provsite serve's, or nginx's / Apache's combined format; repeatable
    #[arg(long, value_name = "FILE", required = true)]
    pub log: Vec<PathBuf>,
    /// The web root whose manifest.json is live
    #[arg(
        long,
        default_value = "public",
        value_name = "DIR",
        conflicts_with = "manifest"
    )]
    pub out: PathBuf,
    /// The live manifest instead: a file or the site's URL
    #[arg(long, value_name = "FILE|URL")]
    pub manifest: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML page of the fleet
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["ami", "print", "sip"])))]
pub struct NotifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The new web root (its manifest.json says what the phones will fetch)
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
    /// What the phones applied before: the live site's URL, a web root or a saved manifest.json
    /// (needed unless --all or --mac)
    #[arg(long, value_name = "DIR|URL|FILE")]
    pub previous: Option<String>,
    /// Through Asterisk's manager interface (credentials in PROVSITE_AMI_USER and
    /// PROVSITE_AMI_SECRET)
    #[arg(long, value_name = "HOST:PORT")]
    pub ami: Option<String>,
    /// Print `asterisk -rx` lines for a script on the PBX host instead of sending
    #[arg(long)]
    pub print: bool,
    /// Send the NOTIFY straight to each phone's address over UDP
    #[arg(long)]
    pub sip: bool,
    /// The endpoints are chan_sip peers (SIPnotify; `sip notify` lines)
    #[arg(long)]
    pub chan_sip: bool,
    /// A phone's address for --sip: MAC=IP[:PORT] (port 5060 by default); repeatable
    #[arg(long, value_name = "MAC=IP[:PORT]")]
    pub address: Vec<String>,
    /// Phones' addresses for --sip from DHCP leases (ISC dhcpd or dnsmasq)
    #[arg(long, value_name = "FILE")]
    pub leases: Option<PathBuf>,
    /// Phones' addresses for --sip from an access log (the last address each phone came from)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Every phone of the release, changed or not
    #[arg(long, conflicts_with = "mac")]
    pub all: bool,
    /// Only these phones; repeatable
    #[arg(long, value_name = "MAC")]
    pub mac: Vec<String>,
    /// Phones notified per second, so a site does not re-provision in the same second
    #[arg(long, default_value_t = 2.0, value_name = "N", value_parser = parse_rate)]
    pub rate: f64,
    /// Say which phones would be notified and how, without sending anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// How long one phone (or one AMI exchange) may take
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_stall)]
    pub timeout: std::time::Duration,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(r > 0.0 && r <= 1000.0) {
        return Err("give a rate from 0.01 to 1000 phones a second".into());
    }
    Ok(r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The commit before
    #[arg(default_value = "HEAD~1", value_name = "REV_A")]
    pub from: String,
    /// The commit after
    #[arg(default_value = "HEAD", value_name = "REV_B")]
    pub to: String,
    /// The inventory folder, inside a git repository
    #[arg(long, default_value = "inventory", value_name = "DIR")]
    pub inventory: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

const fn provsite_default_cap() -> usize {
    provsite::publish::DELETE_CAP
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The built web root to publish from
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
    /// A folder, an rsync destination (host:path, user@host:path, rsync://host/module/path) or s3://bucket/prefix
    #[arg(long, value_name = "DEST")]
    pub to: String,
    /// How many releases to keep at the destination (the live one always stays)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// Keep a retired release at least this long (phones may still be downloading it): 1d, 12h, 30m, 0
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    pub grace: String,
    /// Say what would be sent, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Point the entry points back at a kept release (no upload when it is at the destination)
    #[arg(long, value_name = "RELEASE")]
    pub rollback: Option<String>,
    /// Prune even beyond the safety cap of deletions
    #[arg(long)]
    pub force: bool,
    /// The safety cap: a prune that would delete more objects stops unless --force
    #[arg(long, default_value_t = provsite_default_cap(), value_name = "N")]
    pub max_deletes: usize,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL, else AWS)
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DhcpArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Which DHCP server the configuration is for
    #[arg(long, value_parser = choice::<provsite::dhcp::Format>())]
    pub format: provsite::dhcp::Format,
    /// Print a complete configuration for this subnet (CIDR) instead of a snippet
    #[arg(long, value_name = "CIDR", requires = "range")]
    pub subnet: Option<String>,
    /// The dynamic range of the complete configuration: FIRST-LAST
    #[arg(long, value_name = "FIRST-LAST", requires = "subnet")]
    pub range: Option<String>,
    /// The interface a complete configuration serves (Kea, dnsmasq; default: all)
    #[arg(long, value_name = "NAME", requires = "subnet")]
    pub interface: Option<String>,
}

#[derive(Debug, Args)]
pub struct AsteriskArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// chan_pjsip (pjsip.conf) or chan_sip (sip.conf)
    #[arg(long, default_value = "pjsip", value_parser = choice::<provsite::asterisk::Format>())]
    pub format: provsite::asterisk::Format,
    /// Print the BLF hints for extensions.conf instead of the accounts
    #[arg(long, conflicts_with = "notify")]
    pub hints: bool,
    /// Print the check-sync NOTIFY sections for pjsip_notify.conf instead of the accounts
    #[arg(long)]
    pub notify: bool,
    /// Add type=phoneprov sections (MAC, endpoint, PROFILE) to the pjsip accounts, as
    /// res_pjsip_phoneprov_provider and `provsite import` read them
    #[arg(long, conflicts_with_all = ["hints", "notify"])]
    pub phoneprov: bool,
    /// Write the accounts of the lines that register with this PBX host (default: site.yaml's
    /// pbx.host); a group's or a line's own PBX has its own
    #[arg(long, value_name = "HOST")]
    pub pbx: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// users.conf / phoneprov_users.conf, pjsip.conf or sip.conf
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// A CSV of mac,peer (or mac,peer,line, and optionally a model): MACs for sip.conf peers or pjsip endpoints
    #[arg(long, value_name = "CSV")]
    pub macs: Option<PathBuf>,
    /// The model of phones whose source does not say it
    #[arg(long, value_name = "MODEL", value_parser = ["ST2030", "ST2022", "TB30", "ST2020"])]
    pub model: Option<String>,
    /// The inventory folder to write (site.yaml is kept if it exists)
    #[arg(long, default_value = "inventory", value_name = "DIR")]
    pub out: PathBuf,
    /// Write the SIP passwords into the YAML instead of {env: ...} references and a secrets file
    #[arg(long)]
    pub keep_passwords: bool,
    /// Where the secrets file goes (default: <out>.secrets.env beside the inventory folder)
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// Replace an existing phones/imported.yaml
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The web root to serve (what `provsite build --out` wrote)
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// The address and port to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Refuse (403) a phone's own file unless the User-Agent names that phone's MAC
    #[arg(long)]
    pub strict: bool,
    /// Append the access log to this file instead of stderr
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Connections served at once; more wait in the listen queue (default 1024, or what the
    /// open-file limit allows)
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub max_connections: usize,
    /// Close a connection whose reads or writes make no progress for this long (e.g. 30s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_stall)]
    pub stall_timeout: std::time::Duration,
}

fn parse_stall(s: &str) -> Result<std::time::Duration, String> {
    let d = provsite::publish::parse_duration(s)?;
    if d.is_zero() || d > std::time::Duration::from_secs(3600) {
        return Err("give a duration from 1s to 1h".into());
    }
    Ok(d)
}

fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = provsite::publish::parse_duration(s)?;
    if d.is_zero() || d > std::time::Duration::from_secs(7 * 86_400) {
        return Err("give a duration from 1s to 7d".into());
    }
    Ok(d)
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["mac", "all"])))]
pub struct ProbeArgs {
    /// The entry point's URL as DHCP option 43 gives it (with --all: the web root's URL)
    #[arg(value_name = "URL")]
    pub url: String,
    /// The phone's MAC address
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// The phone's model, when the entry point's name does not say it
    #[arg(long, value_name = "MODEL", value_parser = ["ST2030", "ST2022", "TB30", "ST2020"])]
    pub model: Option<String>,
    /// Probe every phone that URL/manifest.json lists
    #[arg(long, conflicts_with_all = ["mac", "model", "user_agent"])]
    pub all: bool,
    /// The User-Agent to send (default: the model's, e.g. `THOMSON ST2030 hw5 fw2.74 00-14-7F-E1-47-B3`)
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,
    /// Connect to this address for every URL, keeping the URL's host name (test a server before DNS names it)
    #[arg(long, value_name = "ADDR:PORT")]
    pub connect_to: Option<std::net::SocketAddr>,
    /// How many phones --all probes at once
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Stop the whole probe after this long (each request gets what is left; e.g. 30s, 10m)
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub timeout: std::time::Duration,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WebserverArgs {
    /// Which server the configuration is for
    #[arg(long, value_parser = choice::<provsite::webserver::Format>())]
    pub format: provsite::webserver::Format,
    /// The web root the server serves (made absolute)
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub root: PathBuf,
    /// The host name the phones use (from base_url); any name when omitted
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// PORT, HOST:PORT or [V6]:PORT
    #[arg(long, default_value = "80", value_name = "ADDR")]
    pub listen: String,
    /// Include the check that a phone asks only for its own file (commented out otherwise)
    #[arg(long)]
    pub phone_check: bool,
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The inventory folder, inside a git repository
    #[arg(long, default_value = "inventory", value_name = "DIR")]
    pub inventory: PathBuf,
    /// The commit to read the inventory from
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub rev: String,
    /// Read the working tree instead of a commit (the release is marked dirty)
    #[arg(long)]
    pub worktree: bool,
    /// A file holding the site secret that derives passwords (PROVSITE_SECRET wins)
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The web root to write
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
    /// How many releases to keep (the current one always stays)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// The live site (its URL, a web root folder or a manifest.json): phones whose bytes differ
    /// from the live file under the same config_sn get a new number. Default: --out's manifest
    #[arg(long, value_name = "URL|DIR")]
    pub previous: Option<String>,
    /// Print only errors and warnings
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a machine-readable summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The web root `provsite build` writes: the caches its builds keep beside it (parsed phones
    /// files, rendered digests) spare parsing and rendering again what did not change (check
    /// writes nothing)
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
}
