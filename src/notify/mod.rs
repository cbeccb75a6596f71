//! `provsite notify`: tells exactly the phones whose files changed to fetch them again, with a SIP
//! `NOTIFY` carrying `Event: check-sync` (`check-sync;reboot=true` for the phones that will flash
//! firmware), sent through Asterisk's manager interface (`ami.rs`), printed as `asterisk -rx`
//! lines, or sent straight to the phones (`sip.rs`, their addresses from `addresses.rs`).
//!
//! Which phones: those whose digest (everything the phone fetches, `config_sn` aside) differs
//! between the live manifest and the new one, or that are new; the same computation as `provsite
//! diff`'s "will reload", from the manifests. A phone upgrades firmware when the firmware files of
//! its model (on its set) differ.

pub mod addresses;
pub mod ami;
pub mod sip;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Area, Error};
use crate::inventory::Inventory;
use crate::manifest::Manifest;

/// The NOTIFY's event: the phone fetches its files again.
pub const CHECK_SYNC: &str = "check-sync";
/// The same, and the phone reboots (needs nothing configured on the phone).
pub const CHECK_SYNC_REBOOT: &str = "check-sync;reboot=true";

/// A phone to notify.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    pub mac: String,
    pub model: String,
    /// The SIP user of its first line: the Asterisk endpoint, and the Request-URI's user.
    pub user: String,
    /// `check-sync`, or `check-sync;reboot=true` when it will flash firmware.
    pub event: String,
}

/// What happened to one phone.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub target: Target,
    /// `ami`, `sip`, `print` or `dry-run`.
    pub via: String,
    pub ok: bool,
    /// The AMI response, the SIP status line, or why it was not sent.
    pub result: String,
}

/// Which phones: the changed ones, every phone, or the ones named.
#[derive(Debug, Clone)]
pub enum Selection {
    Changed { live: Option<Box<Manifest>> },
    All,
    Macs(Vec<String>),
}

/// The phones to notify, in MAC order.
pub fn targets(
    inv: &Inventory,
    new: &Manifest,
    selection: &Selection,
) -> Result<Vec<Target>, Error> {
    let user_of: BTreeMap<&str, &str> = inv
        .phones
        .iter()
        .filter_map(|p| Some((p.mac.as_str(), p.lines.first()?.user.as_str())))
        .collect();
    let mut out = Vec::new();
    let wanted: Option<Vec<String>> = match selection {
        Selection::Macs(macs) => {
            let mut v = Vec::new();
            for m in macs {
                let mac = crate::mac::Mac::parse(m).ok_or_else(|| {
                    Error::of(Area::Usage, format!("--mac `{m}` is not a MAC address"))
                        .hint("write 12 hex digits, separators allowed: 00:1F:9F:16:E8:49")
                })?;
                if !new.phones.contains_key(mac.as_str()) {
                    return Err(Error::of(
                        Area::Usage,
                        format!("--mac {mac}: no such phone in the new release"),
                    )
                    .hint("name a phone of the inventory"));
                }
                v.push(mac.to_string());
            }
            Some(v)
        }
        _ => None,
    };
    for (mac, p) in &new.phones {
        let key = p.variant.as_deref().unwrap_or(&p.model);
        let (reload, flash) = match selection {
            Selection::All => (true, false),
            Selection::Macs(_) => (wanted.as_ref().is_some_and(|w| w.contains(mac)), false),
            Selection::Changed { live } => {
                match live.as_deref().and_then(|l| Some((l, l.phones.get(mac)?))) {
                    None => (true, true),
                    Some((live, old)) => {
                        let old_key = old.variant.as_deref().unwrap_or(&old.model);
                        let firmware = |m: &Manifest, k: &str| -> Vec<String> {
                            m.models
                                .get(k)
                                .map(|e| {
                                    e.files
                                        .iter()
                                        .filter(|f| f.path.starts_with("firmware/"))
                                        .map(|f| f.sha256.clone())
                                        .collect()
                                })
                                .unwrap_or_default()
                        };
                        let flash = firmware(live, old_key) != firmware(new, key);
                        (old.digest != p.digest || flash, flash)
                    }
                }
            }
        };
        if !reload {
            continue;
        }
        let Some(user) = user_of.get(mac.as_str()) else {
            continue;
        };
        out.push(Target {
            mac: mac.clone(),
            model: p.model.clone(),
            user: user.to_string(),
            event: if flash { CHECK_SYNC_REBOOT } else { CHECK_SYNC }.to_string(),
        });
    }
    Ok(out)
}

/// Sends at most `rate` notifications a second, calling `send` for each and collecting what it
/// says; `sleep` is how the pause is taken (the tests count them).
pub fn paced<F>(
    targets: &[Target],
    rate: f64,
    mut send: F,
    sleep: &mut dyn FnMut(Duration),
) -> Vec<Outcome>
where
    F: FnMut(&Target) -> Outcome,
{
    let gap = if rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::ZERO
    };
    let mut out = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            sleep(gap);
        }
        out.push(send(t));
    }
    out
}

/// The `asterisk -rx` line that sends a phone's NOTIFY from the PBX host: the
/// `provsite asterisk --notify` sections for pjsip, the event header for chan_sip.
pub fn print_line(t: &Target, chan_sip: bool) -> String {
    let section = if t.event == CHECK_SYNC {
        "provsite-check-sync"
    } else {
        "provsite-check-sync-reboot"
    };
    if chan_sip {
        format!("asterisk -rx 'sip notify {section} {}'", t.user)
    } else {
        format!(
            "asterisk -rx 'pjsip send notify {section} endpoint {}'",
            t.user
        )
    }
}

/// How the NOTIFYs go out.
#[derive(Debug, Clone)]
pub enum Via {
    /// Through Asterisk's manager interface at `addr` (`PJSIPNotify`, or `SIPnotify` for
    /// chan_sip); credentials from the environment.
    Ami {
        addr: String,
        user: String,
        secret: String,
        chan_sip: bool,
    },
    /// As `asterisk -rx` lines for a script on the PBX host.
    Print { chan_sip: bool },
    /// Straight to each phone's address over UDP.
    Sip { addresses: addresses::Addresses },
}

/// `provsite notify`'s settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The inventory (for each phone's first line) and the new web root (`out`).
    pub build: crate::build::Options,
    pub via: Via,
    pub all: bool,
    pub macs: Vec<String>,
    /// Notifications a second.
    pub rate: f64,
    pub dry_run: bool,
    /// How long one phone or one AMI exchange may take.
    pub timeout: Duration,
}

/// Finds the phones and notifies them; returns what happened to each.
pub fn run(opts: &Options) -> Result<Vec<Outcome>, Error> {
    let manifest_path = opts.build.out.join("manifest.json");
    let bytes = crate::manifest::read_file(&manifest_path).map_err(|e| {
        Error::caused(
            Area::Usage,
            format!("no release in {}", opts.build.out.display()),
            e,
        )
        .hint("run `provsite build --out DIR` first, and give the same --out")
    })?;
    let new = Manifest::from_untrusted(&bytes)
        .map_err(|e| Error::of(Area::Usage, format!("{}: {e}", manifest_path.display())))?;
    let selection = if opts.all {
        Selection::All
    } else if !opts.macs.is_empty() {
        Selection::Macs(opts.macs.clone())
    } else {
        let Some(prev) = &opts.build.previous else {
            return Err(Error::of(
                Area::Usage,
                "which phones changed needs the manifest they applied",
            )
            .hint("give --previous (the live site's URL, web root or a saved manifest.json from before the publish), or --all / --mac"));
        };
        let (live, _) = crate::build::previous_manifest(prev)?;
        Selection::Changed {
            live: live.map(Box::new),
        }
    };
    let loaded = crate::build::load(&opts.build, None, false)?;
    let targets = targets(&loaded.inv, &new, &selection)?;
    let mut sleep = |d: Duration| std::thread::sleep(d);
    if opts.dry_run {
        let via = match &opts.via {
            Via::Ami { .. } => "ami",
            Via::Print { .. } => "print",
            Via::Sip { .. } => "sip",
        };
        return Ok(targets
            .iter()
            .map(|t| Outcome {
                target: t.clone(),
                via: format!("dry-run ({via})"),
                ok: true,
                result: "not sent".into(),
            })
            .collect());
    }
    match &opts.via {
        Via::Print { chan_sip } => Ok(targets
            .iter()
            .map(|t| Outcome {
                target: t.clone(),
                via: "print".into(),
                ok: true,
                result: print_line(t, *chan_sip),
            })
            .collect()),
        Via::Ami {
            addr,
            user,
            secret,
            chan_sip,
        } => {
            if targets.is_empty() {
                return Ok(Vec::new());
            }
            let mut session = ami::Session::login(addr, user, secret, *chan_sip, opts.timeout)?;
            let out = paced(
                &targets,
                opts.rate,
                |t| {
                    let (ok, result) = match session.notify(t) {
                        Ok(r) => r,
                        Err(e) => (false, e.to_string()),
                    };
                    Outcome {
                        target: t.clone(),
                        via: "ami".into(),
                        ok,
                        result,
                    }
                },
                &mut sleep,
            );
            session.logoff();
            Ok(out)
        }
        Via::Sip { addresses } => Ok(paced(
            &targets,
            opts.rate,
            |t| {
                let (ok, result) = match addresses.get(&t.mac) {
                    None => (
                        false,
                        "no address: give --address, --leases or --log".to_string(),
                    ),
                    Some(a) => match sip::send(t, *a, opts.timeout) {
                        Ok((code, reason)) => {
                            ((200..300).contains(&code), format!("{a}: {code} {reason}"))
                        }
                        Err(why) => (false, why),
                    },
                };
                Outcome {
                    target: t.clone(),
                    via: "sip".into(),
                    ok,
                    result,
                }
            },
            &mut sleep,
        )),
    }
}

/// The table `provsite notify` prints.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut t = String::new();
    for o in outcomes {
        t.push_str(&format!(
            "{:<4} {}  {:<6} line {:<8} {:<24} {} {}\n",
            if o.ok { "ok" } else { "FAIL" },
            o.target.mac,
            o.target.model,
            crate::text_rules::shown(&o.target.user),
            o.target.event,
            o.via,
            crate::text_rules::shown(&o.result)
        ));
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    t.push_str(&format!(
        "{} phone(s), {} ok, {failed} failed\n",
        outcomes.len(),
        outcomes.len() - failed
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(mac: &str) -> Target {
        Target {
            mac: mac.into(),
            model: "ST2030".into(),
            user: "1001".into(),
            event: CHECK_SYNC.into(),
        }
    }

    #[test]
    fn pacing_pauses_between_phones_not_before_the_first() {
        let targets: Vec<Target> = ["A", "B", "C"].iter().map(|m| target(m)).collect();
        let mut pauses = Vec::new();
        let out = paced(
            &targets,
            4.0,
            |t| Outcome {
                target: t.clone(),
                via: "dry-run".into(),
                ok: true,
                result: String::new(),
            },
            &mut |d| pauses.push(d),
        );
        assert_eq!(out.len(), 3);
        assert_eq!(pauses, [Duration::from_millis(250); 2]);
    }

    #[test]
    fn print_lines_name_the_sections_provsite_asterisk_writes() {
        let mut t = target("A");
        assert_eq!(
            print_line(&t, false),
            "asterisk -rx 'pjsip send notify provsite-check-sync endpoint 1001'"
        );
        t.event = CHECK_SYNC_REBOOT.into();
        assert_eq!(
            print_line(&t, true),
            "asterisk -rx 'sip notify provsite-check-sync-reboot 1001'"
        );
    }
}
