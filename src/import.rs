//! `provsite import`: an inventory from an existing Asterisk installation.
//!
//! Three sources, told apart by their content:
//! - res_phoneprov's users: `users.conf` / `phoneprov_users.conf` sections with `autoprov=yes` and
//!   `macaddress`;
//! - `pjsip.conf` with `type=phoneprov` sections (`MAC`, `endpoint`), joined to their endpoint,
//!   its auth and aor (or any pjsip.conf with a `--macs` CSV naming endpoints);
//! - `sip.conf` peers, joined to MACs by a `--macs` CSV (`mac,peer` or `mac,peer,line`, and a model
//!   in a further column if wanted).
//!
//! Passwords become `{env: ...}` references and a separate secrets file (or literals with
//! `--keep-passwords`); none is dropped silently. Every section that gives no phone is reported
//! with its file and line and the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::asterisk_conf::{At, Config, Section};
use crate::error::{Area, Error};
use crate::family::ModelId;
use crate::inventory::normalize_mac;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub from: PathBuf,
    pub macs: Option<PathBuf>,
    pub model: Option<ModelId>,
    /// The inventory folder to write into (site.yaml is kept when it exists).
    pub out: PathBuf,
    pub keep_passwords: bool,
    /// Where the secrets file goes (default: beside the inventory folder, outside it).
    pub secrets: Option<PathBuf>,
    pub force: bool,
}

/// What kind of file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PhoneprovUsers,
    Pjsip,
    Sip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub at: String,
    pub section: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub kind: Kind,
    pub phones: usize,
    pub lines: usize,
    pub phones_file: String,
    pub site_file: Option<String>,
    pub secrets_file: Option<String>,
    /// Sections that are not phones (transports, templates' users, `[general]`, ...).
    pub skipped: Vec<Skipped>,
    /// Phones that could not be imported (no model, a bad MAC, ...): the import is incomplete.
    pub problems: Vec<Skipped>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
struct Line {
    user: String,
    auth_user: String,
    display_name: Option<String>,
    password: Option<String>,
    slot: u32,
}

#[derive(Debug, Clone)]
struct Phone {
    mac: String,
    model: Option<ModelId>,
    lines: Vec<Line>,
    at: At,
    name: String,
}

/// Section types of pjsip.conf (chan_sip's are friend, peer and user).
const PJSIP_TYPES: &[&str] = &[
    "endpoint",
    "auth",
    "aor",
    "transport",
    "phoneprov",
    "identify",
    "registration",
    "domain_alias",
    "acl",
    "contact",
    "system",
    "global",
    "outbound-publish",
    "inbound-publish",
    "resource_list",
    "asterisk-publication",
];

fn yes(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("yes" | "true" | "y" | "t" | "1" | "on")
    )
}

/// `"Hélène Dupont" <1001>` → `Hélène Dupont`; `Accueil <1000>` → `Accueil`.
pub fn callerid_name(callerid: &str) -> Option<String> {
    let c = callerid.trim();
    let name = match c.find('<') {
        Some(i) => &c[..i],
        None => c,
    }
    .trim()
    .trim_matches('"')
    .trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn model_from(profile: Option<&str>) -> Option<ModelId> {
    let p = profile?.trim().to_ascii_uppercase();
    let p = p
        .strip_suffix('S')
        .filter(|s| ModelId::parse(s).is_some())
        .unwrap_or(&p)
        .to_string();
    ModelId::parse(&p)
}

/// A CSV row of `--macs`: mac, peer or endpoint, line slot, model.
#[derive(Debug, Clone)]
struct MacRow {
    mac: String,
    name: String,
    slot: u32,
    model: Option<ModelId>,
    at: At,
}

fn read_macs(path: &Path) -> Result<Vec<MacRow>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = At {
            file: path.display().to_string(),
            line: i + 1,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        if i == 0 && cols[0].eq_ignore_ascii_case("mac") {
            continue;
        }
        let bad = |why: String| Error::of(Area::Import, format!("{at}: {why}"));
        if cols.len() < 2 || cols[1].is_empty() {
            return Err(bad(format!(
                "`{line}`: write mac,peer or mac,peer,line (a model may follow)"
            )));
        }
        let mac = normalize_mac(cols[0])
            .ok_or_else(|| bad(format!("`{}` is not a MAC address", cols[0])))?;
        let mut slot = 1;
        let mut model = None;
        for c in &cols[2..] {
            if c.is_empty() {
                continue;
            }
            if let Ok(n) = c.parse::<u32>() {
                slot = n;
            } else if let Some(m) = model_from(Some(c)) {
                model = Some(m);
            } else {
                return Err(bad(format!(
                    "`{c}` is neither a line number nor a model ({})",
                    ModelId::names().join(", ")
                )));
            }
        }
        rows.push(MacRow {
            mac: mac.to_string(),
            name: cols[1].to_string(),
            slot,
            model,
            at,
        });
    }
    Ok(rows)
}

/// Reads the source and returns the phones and the sections that gave none.
fn collect(opts: &ImportOptions, report: &mut Report) -> Result<Vec<Phone>, Error> {
    let cfg = Config::read(&opts.from).map_err(|e| Error::of(Area::Import, format!("{e}")))?;
    let skip = |report: &mut Report, s: &Section, reason: String| {
        report.skipped.push(Skipped {
            at: s.at.to_string(),
            section: s.name.clone(),
            reason,
        })
    };
    let concrete: Vec<Section> = cfg.concrete().map(|s| cfg.effective(s)).collect();
    let kind = if concrete.iter().any(|s| {
        s.get("type")
            .is_some_and(|t| PJSIP_TYPES.contains(&t.to_ascii_lowercase().as_str()))
    }) {
        Kind::Pjsip
    } else if concrete.iter().any(|s| s.get("macaddress").is_some()) {
        Kind::PhoneprovUsers
    } else {
        Kind::Sip
    };
    report.kind = kind;
    let rows = match &opts.macs {
        Some(p) => Some(read_macs(p)?),
        None => None,
    };
    let mut phones: BTreeMap<String, Phone> = BTreeMap::new();
    let add = |phones: &mut BTreeMap<String, Phone>,
               mac: String,
               model: Option<ModelId>,
               line: Line,
               at: &At,
               name: &str| {
        let p = phones.entry(mac.clone()).or_insert_with(|| Phone {
            mac,
            model,
            lines: Vec::new(),
            at: at.clone(),
            name: name.to_string(),
        });
        if p.model.is_none() {
            p.model = model;
        }
        p.lines.push(line);
    };
    match kind {
        Kind::PhoneprovUsers => {
            // users.conf's [general] gives every user its defaults.
            let general = concrete
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case("general"))
                .cloned();
            let val = |s: &Section, k: &str| -> Option<String> {
                s.get(k)
                    .or_else(|| general.as_ref().and_then(|g| g.get(k)))
                    .map(str::to_string)
            };
            for s in &concrete {
                if s.name.eq_ignore_ascii_case("general") {
                    skip(report, s, "holds defaults, not a user".into());
                    continue;
                }
                let Some(mac) = s.get("macaddress") else {
                    skip(report, s, "no macaddress: not a provisioned phone".into());
                    continue;
                };
                if !yes(val(s, "autoprov").as_deref()) {
                    skip(report, s, "autoprov is not yes".into());
                    continue;
                }
                if val(s, "hassip").is_some() && !yes(val(s, "hassip").as_deref()) {
                    skip(report, s, "hassip=no: no SIP account".into());
                    continue;
                }
                let Some(mac) = normalize_mac(mac) else {
                    report.problems.push(Skipped {
                        at: s.at.to_string(),
                        section: s.name.clone(),
                        reason: format!("macaddress `{mac}` is not a MAC address"),
                    });
                    continue;
                };
                let line = Line {
                    user: s.name.clone(),
                    auth_user: s.get("username").unwrap_or(&s.name).to_string(),
                    display_name: s
                        .get("fullname")
                        .map(str::to_string)
                        .or_else(|| s.get("callerid").and_then(callerid_name)),
                    password: s.get("secret").map(str::to_string),
                    slot: s
                        .get("linenumber")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                };
                add(
                    &mut phones,
                    mac.to_string(),
                    model_from(val(s, "profile").as_deref()),
                    line,
                    &s.at,
                    &s.name,
                );
            }
        }
        Kind::Pjsip => {
            let of_type = |t: &str, name: &str| {
                concrete.iter().find(|s| {
                    s.name == name && s.get("type").is_some_and(|v| v.eq_ignore_ascii_case(t))
                })
            };
            // (endpoint name, mac, model, slot, display name, section)
            type Wanted<'a> = (
                String,
                String,
                Option<ModelId>,
                u32,
                Option<String>,
                &'a Section,
            );
            let mut wanted: Vec<Wanted> = Vec::new();
            for s in &concrete {
                if s.get("type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("phoneprov"))
                {
                    let Some(ep) = s.get("endpoint") else {
                        report.problems.push(Skipped {
                            at: s.at.to_string(),
                            section: s.name.clone(),
                            reason: "type=phoneprov without endpoint=".into(),
                        });
                        continue;
                    };
                    let Some(mac) = s.get("MAC").and_then(normalize_mac) else {
                        report.problems.push(Skipped {
                            at: s.at.to_string(),
                            section: s.name.clone(),
                            reason: format!(
                                "MAC `{}` is missing or not a MAC address",
                                s.get("MAC").unwrap_or("")
                            ),
                        });
                        continue;
                    };
                    wanted.push((
                        ep.to_string(),
                        mac.to_string(),
                        model_from(s.get("PROFILE")),
                        s.get("LINE").and_then(|n| n.parse().ok()).unwrap_or(1),
                        s.get("DISPLAY_NAME").map(str::to_string),
                        s,
                    ));
                }
            }
            for r in rows.iter().flatten() {
                match concrete.iter().find(|s| s.name == r.name) {
                    Some(s) => {
                        wanted.push((r.name.clone(), r.mac.clone(), r.model, r.slot, None, s))
                    }
                    None => report.problems.push(Skipped {
                        at: r.at.to_string(),
                        section: r.name.clone(),
                        reason: "--macs names an endpoint that pjsip.conf does not define".into(),
                    }),
                }
            }
            let mut used: Vec<String> = Vec::new();
            for (ep_name, mac, model, slot, display, origin) in wanted {
                let Some(ep) = of_type("endpoint", &ep_name) else {
                    report.problems.push(Skipped {
                        at: origin.at.to_string(),
                        section: origin.name.clone(),
                        reason: format!("endpoint `{ep_name}` is not a type=endpoint section"),
                    });
                    continue;
                };
                used.push(origin.name.clone());
                used.push(ep.name.clone());
                let auth_name = ep
                    .get("auth")
                    .map(|a| a.split(',').next().unwrap_or("").trim().to_string());
                let auth = auth_name.as_deref().and_then(|a| of_type("auth", a));
                if let Some(a) = &auth {
                    used.push(a.name.clone());
                }
                for aor in ep
                    .get("aors")
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                {
                    used.push(aor.to_string());
                }
                let password = match auth {
                    Some(a)
                        if a.get("auth_type")
                            .is_some_and(|t| t.eq_ignore_ascii_case("md5")) =>
                    {
                        report.warnings.push(format!("{}: [{}] stores an md5 hash (md5_cred): the password cannot be imported; provsite derives one, update Asterisk with `provsite asterisk`", a.at, a.name));
                        None
                    }
                    Some(a) => a.get("password").map(str::to_string),
                    None => {
                        report.warnings.push(format!(
                            "{}: endpoint [{}] has no auth section: no password imported",
                            ep.at, ep.name
                        ));
                        None
                    }
                };
                let line = Line {
                    user: ep.name.clone(),
                    auth_user: auth
                        .and_then(|a| a.get("username"))
                        .unwrap_or(&ep.name)
                        .to_string(),
                    display_name: display.or_else(|| ep.get("callerid").and_then(callerid_name)),
                    password,
                    slot,
                };
                add(&mut phones, mac, model, line, &origin.at, &origin.name);
            }
            for s in &concrete {
                if used.contains(&s.name) {
                    continue;
                }
                let t = s.get("type").unwrap_or("(none)").to_ascii_lowercase();
                let reason = match t.as_str() {
                    "endpoint" => {
                        "no phoneprov section (or --macs row) gives this endpoint a MAC".to_string()
                    }
                    "auth" | "aor" => format!("type={t} of no imported endpoint"),
                    _ => format!("type={t} is not a phone"),
                };
                skip(report, s, reason);
            }
        }
        Kind::Sip => {
            let Some(rows) = rows else {
                return Err(Error::of(Area::Import, format!(
                    "{}: a sip.conf carries no MAC addresses; pass --macs FILE, a CSV of mac,peer (or mac,peer,line)",
                    opts.from.display()
                )));
            };
            let mut used = Vec::new();
            for r in &rows {
                let Some(s) = concrete.iter().find(|s| s.name == r.name) else {
                    report.problems.push(Skipped {
                        at: r.at.to_string(),
                        section: r.name.clone(),
                        reason: "--macs names a peer that sip.conf does not define".into(),
                    });
                    continue;
                };
                used.push(s.name.clone());
                let line = Line {
                    user: s.name.clone(),
                    auth_user: s
                        .get("defaultuser")
                        .or(s.get("username"))
                        .unwrap_or(&s.name)
                        .to_string(),
                    display_name: s.get("callerid").and_then(callerid_name),
                    password: s.get("secret").map(str::to_string),
                    slot: r.slot,
                };
                if line.password.is_none() && s.get("md5secret").is_some() {
                    report.warnings.push(format!("{}: [{}] stores an md5secret: the password cannot be imported; provsite derives one", s.at, s.name));
                }
                add(&mut phones, r.mac.clone(), r.model, line, &r.at, &s.name);
            }
            for s in &concrete {
                if used.contains(&s.name) {
                    continue;
                }
                let reason = if s.name.eq_ignore_ascii_case("general") {
                    "holds defaults, not a peer".to_string()
                } else {
                    "no --macs row names this peer".to_string()
                };
                skip(report, s, reason);
            }
        }
    }
    let mut out = Vec::new();
    for (_, mut p) in phones {
        if p.model.is_none() {
            p.model = opts.model;
        }
        if p.model.is_none() {
            report.problems.push(Skipped {
                at: p.at.to_string(),
                section: p.name.clone(),
                reason: format!(
                    "phone {}: the source does not say its model; pass --model {} (or a profile / CSV column naming it)",
                    p.mac,
                    ModelId::names().join("|")
                ),
            });
            continue;
        }
        p.lines.sort_by_key(|l| l.slot);
        out.push(p);
    }
    Ok(out)
}

/// An environment variable name for a line's password.
fn env_name(user: &str) -> String {
    let clean: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PROVSITE_PW_{clean}")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

struct PasswordEnv {
    env: String,
}

enum PasswordOut {
    Literal(String),
    Env(PasswordEnv),
}

struct LineOut {
    user: String,
    auth_user: Option<String>,
    display_name: Option<String>,
    password: Option<PasswordOut>,
}

struct PhoneOut {
    mac: String,
    model: String,
    lines: Vec<LineOut>,
}

const SITE_SKELETON: &str = "# site.yaml written by `provsite import`: fill in the TODOs, then run `provsite check`.\nname: Imported site\nbase_url: http://prov.example.com/   # TODO: the URL the phones reach the web root at\ntimezone: Europe/Paris                # TODO: an IANA zone name\nlanguage: en                          # en, fr, es or de\npbx:\n  host: pbx.example.com               # TODO: the Asterisk server the phones register with\nfirmware: {}                          # TODO: one firmware set per model (see the README)\nmodels: {}                            # TODO: each model's firmware set\n";

/// Runs the import and writes the inventory files.
pub fn run(opts: &ImportOptions) -> Result<Report, Error> {
    let mut report = Report {
        kind: Kind::Sip,
        phones: 0,
        lines: 0,
        phones_file: String::new(),
        site_file: None,
        secrets_file: None,
        skipped: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let phones = collect(opts, &mut report)?;
    let phones_dir = opts.out.join("phones");
    let phones_file = phones_dir.join("imported.yaml");
    if phones_file.exists() && !opts.force {
        return Err(Error::of(
            Area::Import,
            format!(
                "{} exists; pass --force to replace it",
                phones_file.display()
            ),
        ));
    }
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for p in &phones {
        let mut lines = Vec::new();
        for l in &p.lines {
            let password = match &l.password {
                None => {
                    report.warnings.push(format!(
                        "line {} ({}) has no password in the source: provsite derives one from the site secret; give Asterisk the same with `provsite asterisk`",
                        l.user, p.mac
                    ));
                    None
                }
                Some(pw) if opts.keep_passwords => Some(PasswordOut::Literal(pw.clone())),
                Some(pw) => {
                    let name = env_name(&l.user);
                    if let Some(old) = secrets.insert(name.clone(), pw.clone()) {
                        if &old != pw {
                            return Err(Error::of(Area::Import, format!(
                                "two lines map to the environment variable {name} with different passwords; rename one of the users"
                            )));
                        }
                    }
                    Some(PasswordOut::Env(PasswordEnv { env: name }))
                }
            };
            lines.push(LineOut {
                user: l.user.clone(),
                auth_user: (l.auth_user != l.user).then(|| l.auth_user.clone()),
                display_name: l.display_name.clone(),
                password,
            });
            report.lines += 1;
        }
        out.push(PhoneOut {
            mac: crate::phone_http::separated_mac(&p.mac, ":"),
            model: p.model.expect("set above").name().to_string(),
            lines,
        });
    }
    report.phones = out.len();
    if opts.keep_passwords && report.lines > 0 {
        report.warnings.push(
            "--keep-passwords wrote the SIP passwords into phones/imported.yaml: anyone who can read the repository can read them; prefer the default ({env: ...} and a secrets file)".to_string(),
        );
    }
    std::fs::create_dir_all(&phones_dir).map_err(|e| Error::io(&phones_dir, e))?;
    let yaml = to_yaml(&out);
    let header = format!(
        "# Imported by `provsite import` from {}.\n# Phones: {}, lines: {}. Review, then commit.\n",
        opts.from.display(),
        report.phones,
        report.lines
    );
    let yaml = if out.is_empty() {
        "[]\n".to_string()
    } else {
        yaml
    };
    std::fs::write(&phones_file, format!("{header}{yaml}"))
        .map_err(|e| Error::io(&phones_file, e))?;
    report.phones_file = phones_file.display().to_string();
    let site = opts.out.join("site.yaml");
    if !site.exists() {
        std::fs::write(&site, SITE_SKELETON).map_err(|e| Error::io(&site, e))?;
        report.site_file = Some(site.display().to_string());
    }
    if !secrets.is_empty() {
        let path = match &opts.secrets {
            Some(p) => p.clone(),
            None => {
                let name = opts
                    .out
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "inventory".into());
                opts.out
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(format!("{name}.secrets.env"))
            }
        };
        let mut text = String::from("# SIP passwords imported by `provsite import`. Keep this file OUT of git: load it into\n# your CI's secrets, or `set -a; . THIS_FILE; set +a` before `provsite build`.\n");
        for (k, v) in &secrets {
            text.push_str(&format!("{k}={}\n", shell_quote(v)));
        }
        write_private(&path, &text)?;
        report.secrets_file = Some(path.display().to_string());
    }
    Ok(report)
}

/// A YAML string: JSON's double-quoted strings are valid YAML.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The phones as YAML in the inventory's own style (quoted MACs and users, flow-style passwords).
fn to_yaml(phones: &[PhoneOut]) -> String {
    let mut t = String::new();
    for p in phones {
        t.push_str(&format!(
            "- mac: {}\n  model: {}\n  lines:\n",
            q(&p.mac),
            p.model
        ));
        for l in &p.lines {
            t.push_str(&format!("    - user: {}\n", q(&l.user)));
            if let Some(a) = &l.auth_user {
                t.push_str(&format!("      auth_user: {}\n", q(a)));
            }
            if let Some(d) = &l.display_name {
                t.push_str(&format!("      display_name: {}\n", q(d)));
            }
            match &l.password {
                Some(PasswordOut::Env(e)) => {
                    t.push_str(&format!("      password: {{env: {}}}\n", e.env))
                }
                Some(PasswordOut::Literal(pw)) => {
                    t.push_str(&format!("      password: {}\n", q(pw)))
                }
                None => {}
            }
        }
    }
    t
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    // Never through a symbolic link (it could point anywhere), and mode 600 even when the file
    // existed before with a wider one: it holds SIP passwords.
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::of(Area::Import, format!(
                    "{} is a symbolic link; the secrets file is never written through one: remove it or choose another path with --secrets",
                    path.display()
                ))
            } else {
                Error::io(path, e)
            }
        })?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids() {
        assert_eq!(
            callerid_name("\"Hélène Dupont\" <1001>").as_deref(),
            Some("Hélène Dupont")
        );
        assert_eq!(callerid_name("Accueil <1000>").as_deref(), Some("Accueil"));
        assert_eq!(callerid_name("<1000>"), None);
    }

    #[test]
    fn models_from_profiles() {
        assert_eq!(model_from(Some("st2030")), Some(ModelId::ST2030));
        assert_eq!(model_from(Some("ST2022S")), Some(ModelId::ST2022));
        assert_eq!(model_from(Some("polycom")), None);
    }

    #[test]
    fn env_names_and_quotes() {
        assert_eq!(env_name("1001"), "PROVSITE_PW_1001");
        assert_eq!(env_name("bob.smith"), "PROVSITE_PW_BOB_SMITH");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}
