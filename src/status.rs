//! `provsite status`: the fleet as the web server saw it. Reads access logs (`provsite serve`'s, and
//! nginx's or Apache's combined format, which keeps the User-Agent) and the live manifest, and says
//! per phone: last seen, from where, the firmware it runs against the one it should, the release it
//! last fetched against the live one, and a state. Plus the MACs nobody listed, phones asking for
//! another phone's file, and requests that failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::error::{Area, Error};
use crate::manifest::Manifest;

/// The most read from one log (a year of a large site's log is far less).
const MAX_LOG: u64 = 16 << 30;

/// One firmware image fetched this many times (or more) without the phone coming back on the
/// version its set has, or reaching its own file, is a flash loop.
const STUCK_AFTER: usize = 3;

/// One request, as a log line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// As the log writes it (RFC 3339 for `provsite serve`, `[26/Nov/2026:15:11:19 +0000]` for
    /// combined); kept as text, compared in log order.
    pub time: String,
    pub addr: String,
    pub path: String,
    pub status: u16,
    /// From the User-Agent: (MAC, model, firmware).
    pub phone: Option<(String, String, String)>,
}

/// Reads one line of either format; None for anything else.
pub fn parse_line(line: &str) -> Option<Request> {
    if line.contains('[') && line.contains("] \"") {
        return parse_combined(line);
    }
    // provsite serve: TIME ADDR METHOD PATH STATUS BYTES [model=.. hw=.. fw=.. mac=..|ua=..] [| notes]
    let head = line.split(" | ").next()?;
    let w: Vec<&str> = head.split(' ').collect();
    if w.len() < 6 {
        return None;
    }
    let status = w[4].parse().ok()?;
    let field = |k: &str| {
        w[6..]
            .iter()
            .find_map(|x| x.strip_prefix(k))
            .map(str::to_string)
    };
    let phone = match (field("mac="), field("model="), field("fw=")) {
        (Some(mac), Some(model), Some(fw)) => Some((mac, model, fw)),
        _ => None,
    };
    Some(Request {
        time: w[0].to_string(),
        addr: w[1].to_string(),
        path: w[3].to_string(),
        status,
        phone,
    })
}

/// `[VHOST:PORT ]ADDR IDENT USER [TIME] "METHOD PATH PROTO" STATUS BYTES "REFERER" "AGENT"`.
fn parse_combined(line: &str) -> Option<Request> {
    let (before, rest) = line.split_once(" [")?;
    let addr = before
        .split(' ')
        .rfind(|t| t.parse::<std::net::IpAddr>().is_ok())?
        .to_string();
    let (time, rest) = rest.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let path = request.split(' ').nth(1)?.to_string();
    let status = rest.split(' ').next()?.parse().ok()?;
    let agent = rest.rsplit('"').nth(1).unwrap_or("");
    let phone = crate::family::parse_agent(agent).map(|a| (a.mac, a.model, a.firmware));
    Some(Request {
        time: time.to_string(),
        addr,
        path,
        status,
        phone,
    })
}

/// A phone's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Fetched the live release's file, on the firmware its set has (or one not told).
    UpToDate,
    /// Has not fetched the live release.
    Pending,
    /// Fetched new firmware and is not back on it yet.
    Upgrading,
    /// Fetches firmware again and again without coming back on it: a flash loop.
    Stuck,
    NeverSeen,
}

impl State {
    /// Every state, in the order reports list them.
    pub const ALL: [State; 5] = [
        State::UpToDate,
        State::Pending,
        State::Upgrading,
        State::Stuck,
        State::NeverSeen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::UpToDate => "up-to-date",
            State::Pending => "pending",
            State::Upgrading => "upgrading",
            State::Stuck => "stuck",
            State::NeverSeen => "never-seen",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhoneStatus {
    pub mac: String,
    pub model: String,
    pub name: Option<String>,
    pub state: State,
    pub last_seen: Option<String>,
    pub address: Option<String>,
    /// As its User-Agent says.
    pub firmware_running: Option<String>,
    /// The version its set's application image's name carries.
    pub firmware_expected: Option<String>,
    /// The release whose file it last fetched.
    pub release_fetched: Option<String>,
    pub firmware_fetches: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub release: String,
    pub phones: Vec<PhoneStatus>,
    pub counts: BTreeMap<String, usize>,
    /// MACs that asked and are in no release: (MAC, model, last address, requests).
    pub unknown: Vec<(String, String, String, usize)>,
    /// (asking MAC, the MAC whose file it asked for, path).
    pub other_phone: Vec<(String, String, String)>,
    /// Requests that failed (404 on a `.ser` aside): (time, address, path, status).
    pub failed: Vec<(String, String, String, u16)>,
    pub lines_read: usize,
}

#[derive(Default)]
struct Seen {
    last: Option<(String, String)>,
    firmware_running: Option<String>,
    release_fetched: Option<String>,
    firmware_fetches: usize,
    /// How many times each firmware file was fetched: a boot that flashes fetches each once.
    per_file: BTreeMap<String, usize>,
    /// Firmware fetched after its file was.
    firmware_after_file: bool,
}

/// The release a phone file path is in: `releases/<R>/config/<file>`.
fn release_of(path: &str) -> Option<(&str, &str)> {
    let rest = path.trim_start_matches('/').strip_prefix("releases/")?;
    let (release, file) = rest.split_once("/config/")?;
    Some((release, file))
}

/// The longest line of a log or leases file kept; the rest of a longer one is skipped (a web
/// server's request line is 8 KiB at most by default).
const MAX_LINE: usize = 64 << 10;

/// Calls `f` with each line of a log or leases file, without its line break. A log is written by
/// whoever sends a request: a line that is not UTF-8 (a client's raw bytes, in a format that does
/// not escape them) is read as far as it can be, and the others are read all the same. A line
/// longer than `MAX_LINE` is cut there, so memory stays bounded whatever the file holds.
pub fn each_line(
    mut reader: impl BufRead,
    path: &Path,
    mut f: impl FnMut(&str),
) -> Result<(), Error> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().map_err(|e| Error::io(path, e))?;
        if buf.is_empty() {
            if !line.is_empty() {
                f(String::from_utf8_lossy(&line).trim_end_matches('\r'));
            }
            return Ok(());
        }
        let (part, ends) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        let used = ends.unwrap_or(buf.len());
        reader.consume(used);
        if ends.is_some() {
            f(String::from_utf8_lossy(&line).trim_end_matches('\r'));
            line.clear();
        }
    }
}

/// Reads the logs against the live manifest.
pub fn report(manifest: &Manifest, logs: &[&Path]) -> Result<Report, Error> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut unknown: BTreeMap<String, (String, String, usize)> = BTreeMap::new();
    let mut other_phone = BTreeSet::new();
    let mut failed = Vec::new();
    let mut lines_read = 0;
    for path in logs {
        let f = std::fs::File::open(path).map_err(|e| Error::io(*path, e))?;
        let reader = BufReader::with_capacity(1 << 20, f.take(MAX_LOG));
        each_line(reader, path, |line| {
            lines_read += 1;
            let Some(r) = parse_line(line.trim_end()) else {
                return;
            };
            if r.status >= 400
                && !(r.status == 404 && r.path.ends_with(".ser"))
                && failed.len() < 1000
            {
                failed.push((r.time.clone(), r.addr.clone(), r.path.clone(), r.status));
            }
            let Some((mac, model, fw)) = &r.phone else {
                return;
            };
            if !manifest.phones.contains_key(mac) {
                let e = unknown
                    .entry(mac.clone())
                    .or_insert_with(|| (model.clone(), String::new(), 0));
                e.1 = r.addr.clone();
                e.2 += 1;
                return;
            }
            let s = seen.entry(mac.clone()).or_default();
            s.last = Some((r.time.clone(), r.addr.clone()));
            s.firmware_running = Some(fw.clone());
            let p = r.path.trim_start_matches('/');
            if p.starts_with("firmware/") && r.status < 400 {
                s.firmware_fetches += 1;
                *s.per_file.entry(p.to_string()).or_insert(0) += 1;
                s.firmware_after_file = true;
            }
            if let Some((release, file)) = release_of(p) {
                let asked = crate::family::file_mac(file);
                if let Some(other) = asked.filter(|m| m != mac) {
                    other_phone.insert((mac.clone(), other, r.path.clone()));
                } else if r.status < 400 && !file.ends_with(".ser") {
                    s.release_fetched = Some(release.to_string());
                    s.firmware_after_file = false;
                }
            }
        })?;
    }
    let mut phones = Vec::new();
    for (mac, p) in &manifest.phones {
        let key = p.variant.as_deref().unwrap_or(&p.model);
        let expected = manifest.models.get(key).and_then(|m| {
            let app = m.files.iter().find(|f| f.role == "app")?;
            let name = app.path.rsplit('/').next()?;
            crate::family::ModelId::parse(&p.model)?
                .family()
                .firmware_version(name)
        });
        let s = seen.get(mac);
        let running = s.and_then(|s| s.firmware_running.clone());
        let fw_ok = match (&running, &expected) {
            (Some(r), Some(e)) => versions_match(r, e),
            _ => true,
        };
        let live_file = release_of(&p.file.path).map(|(r, _)| r.to_string());
        let state = match s {
            None => State::NeverSeen,
            // The same image fetched again and again, and the phone neither on it nor past it to
            // its own file: a flash loop.
            Some(s)
                if s.per_file.values().any(|n| *n >= STUCK_AFTER)
                    && (!fw_ok || s.firmware_after_file) =>
            {
                State::Stuck
            }
            Some(s) if s.firmware_fetches > 0 && (!fw_ok || s.firmware_after_file) => {
                State::Upgrading
            }
            Some(s) if fw_ok && s.release_fetched.is_some() && s.release_fetched == live_file => {
                State::UpToDate
            }
            Some(_) => State::Pending,
        };
        phones.push(PhoneStatus {
            mac: mac.clone(),
            model: p.model.clone(),
            name: p.name.clone(),
            state,
            last_seen: s.and_then(|s| s.last.as_ref().map(|l| l.0.clone())),
            address: s.and_then(|s| s.last.as_ref().map(|l| l.1.clone())),
            firmware_running: running,
            firmware_expected: expected,
            release_fetched: s.and_then(|s| s.release_fetched.clone()),
            firmware_fetches: s.map_or(0, |s| s.firmware_fetches),
        });
    }
    let mut counts = BTreeMap::new();
    for p in &phones {
        *counts.entry(p.state.name().to_string()).or_insert(0) += 1;
    }
    Ok(Report {
        release: manifest.release.clone(),
        phones,
        counts,
        unknown: unknown
            .into_iter()
            .map(|(mac, (model, addr, n))| (mac, model, addr, n))
            .collect(),
        other_phone: other_phone.into_iter().collect(),
        failed,
        lines_read,
    })
}

/// Whether the firmware a phone says it runs is the one its set names: the same dotted numbers as
/// far as both go (a User-Agent's `4.78` is the file's `4.78.1`; the reference's examples do not
/// say how many numbers a phone reports).
pub fn versions_match(running: &str, expected: &str) -> bool {
    running
        .split('.')
        .zip(expected.split('.'))
        .all(|(a, b)| a == b)
}

/// The live manifest from a web root, a file or a URL, named by the command-line `option`.
pub fn manifest_from(option: &str, source: &str) -> Result<Manifest, Error> {
    let (m, from) = crate::build::manifest_at(option, source)?;
    m.ok_or_else(|| {
        Error::of(
            Area::Usage,
            format!(
                "no manifest.json at {}",
                from.unwrap_or_else(|| source.to_string())
            ),
        )
        .hint("give the web root (--out) or the live manifest (--manifest FILE|URL)")
    })
}

fn shown(s: &str) -> String {
    crate::text_rules::shown(s)
}

/// The report as a table.
pub fn render_text(r: &Report) -> String {
    let mut t = format!("release {}\n", r.release);
    t.push_str(&format!(
        "{:<12}  {:<6}  {:<11}  {:<20}  {:<15}  {:<9}  {}\n",
        "MAC", "MODEL", "STATE", "LAST SEEN", "ADDRESS", "FIRMWARE", "RELEASE FETCHED"
    ));
    for p in &r.phones {
        let fw = match (&p.firmware_running, &p.firmware_expected) {
            (Some(run), Some(exp)) if run != exp => format!("{run}→{exp}"),
            (Some(run), _) => run.clone(),
            (None, _) => "-".into(),
        };
        t.push_str(&format!(
            "{:<12}  {:<6}  {:<11}  {:<20}  {:<15}  {:<9}  {}\n",
            p.mac,
            p.model,
            p.state.name(),
            shown(p.last_seen.as_deref().unwrap_or("-")),
            shown(p.address.as_deref().unwrap_or("-")),
            shown(&fw),
            shown(p.release_fetched.as_deref().unwrap_or("-")),
        ));
    }
    let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    t.push_str(&format!(
        "{} phone(s): {}\n",
        r.phones.len(),
        counts.join(", ")
    ));
    for (mac, model, addr, n) in &r.unknown {
        t.push_str(&format!(
            "unknown phone {mac} ({}) asked {n} time(s) from {}: add it to the inventory and rebuild\n",
            shown(model),
            shown(addr)
        ));
    }
    for (asking, other, path) in &r.other_phone {
        t.push_str(&format!(
            "phone {asking} asked for the file of {other} ({})\n",
            shown(path)
        ));
    }
    for (time, addr, path, status) in r.failed.iter().take(50) {
        t.push_str(&format!(
            "failed: {} {} {} {status}\n",
            shown(time),
            shown(addr),
            shown(path)
        ));
    }
    t
}

/// HTML text: `<`, `>`, `&` and quotes escaped.
fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// One self-contained page: counts per state and per model and firmware, and the phones' table
/// filtered by state (a select; `#state=NAME` in the URL selects on load). No external assets.
pub fn render_html(r: &Report) -> String {
    let mut by_model: BTreeMap<(String, String), usize> = BTreeMap::new();
    for p in &r.phones {
        let fw = p
            .firmware_running
            .clone()
            .unwrap_or_else(|| "unknown".into());
        *by_model.entry((p.model.clone(), fw)).or_insert(0) += 1;
    }
    let mut t = String::new();
    t.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>provsite status</title>\n<style>\nbody{font:14px system-ui,sans-serif;margin:2em;color:#222}\ntable{border-collapse:collapse}\ntd,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}\n.count{display:inline-block;margin:0 1.5em 1em 0;padding:.5em 1em;border-radius:6px;background:#f3f3f3}\n.count b{font-size:1.6em;display:block}\n.up-to-date{color:#17692d}.pending{color:#8a6100}.upgrading{color:#1c4fa0}.stuck{color:#b00020}.never-seen{color:#666}\n</style></head><body>\n");
    t.push_str(&format!(
        "<h1>Phones</h1>\n<p>Live release <code>{}</code>, {} phone(s), {} log line(s) read.</p>\n<div id=\"counts\">\n",
        html(&r.release),
        r.phones.len(),
        r.lines_read
    ));
    for s in State::ALL {
        let n = r.counts.get(s.name()).copied().unwrap_or(0);
        t.push_str(&format!(
            "<span class=\"count {0}\" data-state=\"{0}\"><b>{n}</b>{0}</span>\n",
            s.name()
        ));
    }
    t.push_str("</div>\n<h2>By model and firmware</h2>\n<table id=\"models\"><tr><th>model</th><th>firmware running</th><th>phones</th></tr>\n");
    for ((model, fw), n) in &by_model {
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{n}</td></tr>\n",
            html(model),
            html(fw)
        ));
    }
    t.push_str("</table>\n<h2>Phones</h2>\n<label>State <select id=\"filter\"><option value=\"\">all</option>");
    for s in State::ALL {
        t.push_str(&format!("<option>{}</option>", s.name()));
    }
    t.push_str("</select></label> <span id=\"shown\"></span>\n<table id=\"phones\"><tr><th>MAC</th><th>model</th><th>name</th><th>state</th><th>last seen</th><th>address</th><th>firmware running</th><th>firmware expected</th><th>release fetched</th></tr>\n");
    for p in &r.phones {
        t.push_str(&format!(
            "<tr data-state=\"{state}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html(&p.mac),
            html(&p.model),
            html(p.name.as_deref().unwrap_or("")),
            html(p.last_seen.as_deref().unwrap_or("")),
            html(p.address.as_deref().unwrap_or("")),
            html(p.firmware_running.as_deref().unwrap_or("")),
            html(p.firmware_expected.as_deref().unwrap_or("")),
            html(p.release_fetched.as_deref().unwrap_or("")),
            state = p.state.name()
        ));
    }
    t.push_str("</table>\n");
    if !r.unknown.is_empty() {
        t.push_str("<h2>Unknown phones</h2><p>They asked for files but are in no release: add them to the inventory and rebuild.</p><ul id=\"unknown\">\n");
        for (mac, model, addr, n) in &r.unknown {
            t.push_str(&format!(
                "<li>{} ({}) from {}, {n} request(s)</li>\n",
                html(mac),
                html(model),
                html(addr)
            ));
        }
        t.push_str("</ul>\n");
    }
    if !r.failed.is_empty() {
        t.push_str("<h2>Failed requests</h2><ul id=\"failed\">\n");
        for (time, addr, path, status) in r.failed.iter().take(200) {
            t.push_str(&format!(
                "<li>{} {} {} {status}</li>\n",
                html(time),
                html(addr),
                html(path)
            ));
        }
        t.push_str("</ul>\n");
    }
    t.push_str("<script>\n(function(){\n  var sel=document.getElementById('filter');\n  function apply(){\n    var want=sel.value, n=0;\n    document.querySelectorAll('#phones tr[data-state]').forEach(function(r){\n      var show=!want||r.getAttribute('data-state')===want;\n      r.hidden=!show; if(show){n++;}\n    });\n    document.getElementById('shown').textContent=n+' shown';\n  }\n  var m=location.hash.match(/state=([a-z-]+)/);\n  if(m){sel.value=m[1];}\n  sel.addEventListener('change',apply);\n  apply();\n})();\n</script>\n</body></html>\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_line_by_line_whatever_its_bytes_and_a_long_line_is_cut() {
        let long = "x".repeat(MAX_LINE + 10);
        // A byte that is not UTF-8 in the second line (written as `~`, then replaced).
        let mut bytes = format!("a\r\nb~\n\n{long}\nlast").into_bytes();
        let at = bytes.iter().position(|&b| b == b'~').unwrap();
        bytes[at] = 0xff;
        for capacity in [1, 3, 7, 1 << 20] {
            let r = std::io::BufReader::with_capacity(capacity, &bytes[..]);
            let mut lines = Vec::new();
            each_line(r, Path::new("log"), |l| lines.push(l.to_string())).unwrap();
            assert_eq!(lines.len(), 5, "{capacity}");
            assert_eq!(lines[0], "a");
            assert_eq!(lines[1], "b\u{fffd}");
            assert_eq!(lines[2], "");
            assert_eq!(lines[3].len(), MAX_LINE);
            assert_eq!(lines[4], "last");
        }
    }

    #[test]
    fn lines_of_both_formats_and_versions() {
        let r = parse_line("2026-11-27T10:00:00Z 192.0.2.7 GET /ST2030S.inf 200 600 model=ST2030 hw=5 fw=2.74 mac=001F9F16E849 | note").unwrap();
        assert_eq!(r.addr, "192.0.2.7");
        assert_eq!(
            r.phone,
            Some(("001F9F16E849".into(), "ST2030".into(), "2.74".into()))
        );
        let c = parse_line("prov.test:80 192.0.2.8 - - [27/Nov/2026:10:00:00 +0000] \"GET /x HTTP/1.1\" 404 1 \"-\" \"Thomson TB30 hw1 fw1.74.0 00-1F-9F-84-F1-80\"").unwrap();
        assert_eq!(
            (c.addr.as_str(), c.path.as_str(), c.status),
            ("192.0.2.8", "/x", 404)
        );
        assert_eq!(c.phone.unwrap().0, "001F9F84F180");
        assert!(parse_line("garbage").is_none());
        assert!(versions_match("4.78", "4.78.1"));
        assert!(versions_match("2.74", "2.74"));
        assert!(!versions_match("2.72", "2.74"));
    }
}
