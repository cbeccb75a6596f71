//! `provsite asterisk`: the Asterisk side of the inventory: one account per phone line for
//! chan_pjsip (`endpoint`, `auth`, `aor`) or chan_sip (a `friend` peer), the BLF hints for
//! extensions.conf, and a `check-sync` NOTIFY for pjsip_notify.conf. The passwords are the ones the
//! phones' files carry, resolved the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::{Area, Error};
use crate::inventory::{FnKey, Inventory};
use crate::secrets::{self, SiteSecret};
use crate::syntax::{self, comment_block, Unwritable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pjsip,
    Sip,
}

impl crate::Choice for Format {
    const ALL: &'static [(&'static str, Self)] = &[("pjsip", Format::Pjsip), ("sip", Format::Sip)];
}

/// One SIP account: a line user, possibly on several phones (a shared line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub auth_user: String,
    pub display_name: String,
    pub password: String,
    /// (MAC, model, line slot) of every phone carrying it.
    pub phones: Vec<(String, String, usize)>,
    /// The codecs of the phones' model (Asterisk's names), in order.
    pub codecs: Vec<String>,
    /// Whether the line has a mailbox: its phone has a voicemail code and the line does not
    /// switch voicemail off.
    pub voicemail: bool,
}

/// What the output is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Accounts,
    Hints,
    Notify,
}

/// The lines that register with another PBX than the one asked for, by that PBX's host.
pub type Elsewhere = BTreeMap<String, usize>;

/// The accounts of the inventory that register with `pbx` (default: the site's PBX), by SIP user,
/// with their passwords resolved; and how many lines register elsewhere (a group's or a line's
/// own PBX), by host.
pub fn accounts(
    inv: &Inventory,
    site_secret: &SiteSecret,
    pbx: Option<&str>,
) -> Result<(Vec<Account>, Elsewhere), Error> {
    let mut by_user: BTreeMap<String, Account> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut elsewhere = Elsewhere::new();
    let wanted = pbx.unwrap_or(&inv.site.scope.pbx.host);
    for p in &inv.phones {
        for (i, l) in p.lines.iter().enumerate() {
            let host = l.host.as_deref().unwrap_or(&p.scope.pbx.host);
            if host != wanted {
                *elsewhere.entry(host.to_string()).or_default() += 1;
                continue;
            }
            let password = match secrets::resolve(&l.password, site_secret) {
                Ok(pw) => pw,
                Err(e) => {
                    missing.push(format!("phone {} line {}: {e}", p.mac, i + 1));
                    continue;
                }
            };
            let here = (p.mac.to_string(), p.model.name().to_string(), i + 1);
            let codecs = p.codecs.0.clone();
            let voicemail = l.voicemail && p.scope.pbx.voicemail.is_some();
            match by_user.get_mut(&l.user) {
                Some(a) => {
                    if a.password != password || a.auth_user != l.auth_user {
                        return Err(Error::of(Area::Generate, format!(
                            "line {} is on phones {} and {} with different credentials; a shared line needs the same auth user and password everywhere",
                            l.user, a.phones[0].0, p.mac
                        )));
                    }
                    if a.codecs != codecs {
                        return Err(Error::of(Area::Generate, format!(
                            "line {} is on phones {} and {} with different codecs ({} and {}); one Asterisk account offers one list: give both phones the same `codecs:`",
                            l.user,
                            a.phones[0].0,
                            p.mac,
                            a.codecs.join(","),
                            codecs.join(",")
                        )));
                    }
                    a.voicemail |= voicemail;
                    a.phones.push(here);
                }
                None => {
                    by_user.insert(
                        l.user.clone(),
                        Account {
                            user: l.user.clone(),
                            auth_user: l.auth_user.clone(),
                            display_name: l.display_name.clone(),
                            password,
                            phones: vec![here],
                            codecs,
                            voicemail,
                        },
                    );
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::of(
            Area::Generate,
            format!(
                "the passwords the phones carry are needed for the Asterisk side:\n  {}",
                missing.join("\n  ")
            ),
        ));
    }
    Ok((by_user.into_values().collect(), elsewhere))
}

/// The BLF targets, and those that are no line of the inventory (they may be external).
pub fn blf_targets(inv: &Inventory) -> (Vec<String>, Vec<(String, String)>) {
    let users: std::collections::BTreeSet<&str> = inv
        .phones
        .iter()
        .flat_map(|p| p.lines.iter().map(|l| l.user.as_str()))
        .collect();
    let mut targets = std::collections::BTreeSet::new();
    let mut unknown = Vec::new();
    for p in &inv.phones {
        for (k, key) in &p.keys {
            if let FnKey::Blf(t) = key {
                if targets.insert(t.clone()) && !users.contains(t.as_str()) {
                    unknown.push((t.clone(), format!("phone {} key {k}", p.mac)));
                }
            }
        }
    }
    (targets.into_iter().collect(), unknown)
}

/// `callerid=`: the display name in quotes (a `"` in it becomes `'`), the user in angle brackets.
fn callerid(a: &Account) -> Result<String, Unwritable> {
    if a.display_name.is_empty() {
        Ok(format!("<{}>", a.user))
    } else {
        let name = syntax::asterisk::text("the display name", &a.display_name)?;
        Ok(format!("\"{}\" <{}>", name.replace('"', "'"), a.user))
    }
}

/// An account's section name, auth user and password, each as Asterisk must read it back.
struct Written {
    user: String,
    auth_user: String,
    password: String,
    callerid: String,
}

fn written(a: &Account) -> Result<Written, Unwritable> {
    Ok(Written {
        user: syntax::asterisk::name("the SIP user", &a.user)?,
        auth_user: syntax::asterisk::value(
            "the auth user",
            &syntax::asterisk::name("the auth user", &a.auth_user)?,
        )?,
        password: syntax::asterisk::value("the password", &a.password)?,
        callerid: callerid(a)?,
    })
}

/// The line's mailbox, `<user>@<voicemail context>`, when it has voicemail.
fn mailbox(inv: &Inventory, a: &Account, user: &str) -> Option<String> {
    a.voicemail
        .then(|| format!("{user}@{}", inv.site.asterisk.voicemail_context))
}

/// The text for `format` and `output`. Warnings (BLF targets outside the inventory) are listed at
/// the end as comments and returned for the CLI to print. A value Asterisk could not read back as
/// written is an error, never written.
pub fn render(
    inv: &Inventory,
    accounts: &[Account],
    format: Format,
    output: Output,
    phoneprov: bool,
    origin: &str,
) -> Result<(String, Vec<String>), Error> {
    let site = &inv.site;
    let ast = &site.asterisk;
    let tech = match format {
        Format::Pjsip => "PJSIP",
        Format::Sip => "SIP",
    };
    let mut t = String::new();
    let (file, include) = match (output, format) {
        (Output::Accounts, Format::Pjsip) => ("pjsip.conf", "save it as /etc/asterisk/provsite_pjsip.conf and add\n  #include provsite_pjsip.conf\nto /etc/asterisk/pjsip.conf, after your transports."),
        (Output::Accounts, Format::Sip) => ("sip.conf", "save it as /etc/asterisk/provsite_sip.conf and add\n  #include provsite_sip.conf\nto /etc/asterisk/sip.conf."),
        (Output::Hints, _) => ("extensions.conf", "save it as /etc/asterisk/provsite_hints.conf and include it inside the\ncontext the phones subscribe to, in extensions.conf:\n  [phones]\n  #include provsite_hints.conf"),
        (Output::Notify, _) => ("pjsip_notify.conf", "save it as /etc/asterisk/provsite_notify.conf and add\n  #include provsite_notify.conf\nto /etc/asterisk/pjsip_notify.conf. Then\n  pjsip send notify provsite-check-sync endpoint 1001\nmakes the phone of line 1001 fetch its provisioning files again."),
    };
    // Each line of the header is a comment, whatever the site's name or the origin hold.
    t.push_str(&comment_block(
        ";",
        &format!(
            "provsite: {file} for the phones of {}, generated by `provsite asterisk` from {origin}.\nRegenerate it rather than editing it. To use it, {}",
            site.name,
            include
        ),
    ));
    let mut warnings = Vec::new();
    match output {
        Output::Accounts => {
            let _ = writeln!(
                t,
                "; The passwords are those the phones' files carry: keep this file readable by Asterisk only."
            );
            for a in accounts {
                let w = written(a)?;
                let phones: Vec<String> = a
                    .phones
                    .iter()
                    .map(|(mac, model, slot)| format!("{mac} ({model}) line {slot}"))
                    .collect();
                match format {
                    Format::Pjsip => {
                        let _ = write!(
                            t,
                            "\n; {}\n[{user}]\ntype=endpoint\ncontext={}\ndisallow=all\nallow={}\nauth={user}-auth\naors={user}\ncallerid={}\ndtmf_mode={}\ntransport={}\nallow_subscribe=yes\nsubscribe_context={}\n\n[{user}-auth]\ntype=auth\nauth_type=userpass\nusername={}\npassword={}\n\n[{user}]\ntype=aor\nmax_contacts={}\nqualify_frequency={}\nremove_existing=yes\n{}",
                            phones.join(", "),
                            ast.context,
                            a.codecs.join(","),
                            w.callerid,
                            site.scope.pbx.dtmf.pjsip(),
                            ast.transport,
                            ast.subscribe_context,
                            w.auth_user,
                            w.password,
                            ast.max_contacts.max(a.phones.len() as u32),
                            ast.qualify_frequency,
                            // The phones subscribe to message waiting (subscribe_event=1): the
                            // AOR's mailboxes answer that subscription.
                            mailbox(inv, a, &w.user)
                                .map(|m| format!("mailboxes={m}\n"))
                                .unwrap_or_default(),
                            user = w.user,
                        );
                    }
                    Format::Sip => {
                        let _ = write!(
                            t,
                            "\n; {}\n[{}]\ntype=friend\nhost=dynamic\ncontext={}\nsecret={}\ncallerid={}\ndisallow=all\n",
                            phones.join(", "),
                            w.user,
                            ast.context,
                            w.password,
                            w.callerid
                        );
                        if a.auth_user != a.user {
                            warnings.push(format!(
                                "line {}: chan_sip authenticates with the peer's name, but the phone's auth user is {}; make them equal or use pjsip",
                                a.user, a.auth_user
                            ));
                        }
                        for c in &a.codecs {
                            let _ = writeln!(t, "allow={c}");
                        }
                        if let Some(m) = mailbox(inv, a, &w.user) {
                            let _ = writeln!(t, "mailbox={m}");
                        }
                        let _ = write!(
                            t,
                            "dtmfmode={}\ntransport={}\nqualify=yes\nallowsubscribe=yes\nsubscribecontext={}\ncallcounter=yes\n",
                            site.scope.pbx.dtmf.chan_sip(),
                            site.scope.pbx.transport.name(),
                            ast.subscribe_context
                        );
                    }
                }
            }
            if phoneprov && format == Format::Pjsip {
                let _ = writeln!(
                    t,
                    "\n; res_pjsip_phoneprov_provider sections: which phone (MAC) carries which endpoint.\n; PROFILE names the model; `provsite import` reads these back."
                );
                for a in accounts {
                    for (mac, model, slot) in &a.phones {
                        let _ = write!(
                            t,
                            "\n[phoneprov-{mac}-{slot}]\ntype=phoneprov\nMAC={}\nendpoint={}\nPROFILE={model}\nLINE={slot}\n",
                            crate::phone_http::separated_mac(mac, ":").to_ascii_lowercase(),
                            syntax::asterisk::name("the SIP user", &a.user)?
                        );
                    }
                }
            }
        }
        Output::Hints => {
            let (targets, unknown) = blf_targets(inv);
            let _ = writeln!(t);
            for target in &targets {
                let target = syntax::asterisk::name("the BLF target", target)?;
                let _ = writeln!(t, "exten => {target},hint,{tech}/{target}");
            }
            // What a BLF key dials to pick up the monitored phone's call: the pickup code, then
            // the number (the phones' CallPkupSC is the code followed by X).
            if let Some(code) = &site.scope.pbx.pickup {
                let code = syntax::asterisk::name("the pickup code", code)?;
                let _ = writeln!(
                    t,
                    "\n; Directed pickup: {code} followed by an extension picks up the call ringing there.\nexten => _{code}X.,1,Pickup(${{EXTEN:{}}}@{})",
                    code.len(),
                    ast.context
                );
            }
            for (target, at) in unknown {
                warnings.push(format!(
                    "BLF target {target} ({at}) is not a line of the inventory: its hint watches {tech}/{target}, which Asterisk must know (an external or trunk device?)"
                ));
            }
        }
        Output::Notify => {
            let _ = write!(
                t,
                "\n[provsite-check-sync]\nEvent=>check-sync\n\n[provsite-check-sync-reboot]\n; `;` starts a comment in Asterisk's files: the parameter is escaped.\nEvent=>check-sync\\;reboot=true\n"
            );
        }
    }
    if !warnings.is_empty() {
        let _ = writeln!(t, "\n; Warnings:");
        for w in &warnings {
            t.push_str(&comment_block(";", w));
        }
    }
    Ok((t, warnings))
}
