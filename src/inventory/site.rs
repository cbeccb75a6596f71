//! Resolving and checking `site.yaml`: the PBX, passwords, firmware sets, models, DHCP, Asterisk.

#[allow(unused_imports)]
use super::*;

/// The value that turns a setting off explicitly (`ntp: off`, `pbx.pickup: off`).
pub(super) const OFF: &str = "off";

pub(super) fn resolve_site(
    r: &mut Reporter,
    src: &SourceText,
    doc: &SiteDoc,
    inventory_dir: &str,
) -> Option<Site> {
    let f = src.path.as_str();
    if let Err(why) = check_base_url(&doc.base_url) {
        r.error(
            f,
            &[key("base_url")],
            format!("bad base_url `{}`: {why}", doc.base_url),
            "write the URL phones reach the web root at, e.g. http://prov.example.com/phones/",
        );
    }
    let (ntp_zone, language, country) = resolve_locale(r, f, doc);
    r.text(f, &[key("name")], Field::Label, "site name", &doc.name);
    let ntp = doc.ntp.clone().filter(|n| n != OFF);
    if let Some(ntp) = &ntp {
        r.text(f, &[key("ntp")], Field::Host, "NTP server", ntp);
    }
    let pbx = resolve_pbx(r, f, &doc.pbx);
    let (admin_password, user_password) = resolve_page_passwords(r, f, doc);
    let firmware = resolve_firmware_sets(r, f, doc, inventory_dir);
    let site_codecs = resolve_site_codecs(r, f, doc);
    for name in doc.profiles.keys() {
        r.text(
            f,
            &[key("profiles"), key(name.clone())],
            Field::Name,
            "profile name",
            name,
        );
    }
    let models = resolve_models(r, f, doc, &site_codecs);
    let all_models: Vec<ModelId> = models.keys().copied().collect();
    let settings = resolve_settings(r, f, &[key("settings")], &doc.settings, &all_models);
    let dhcp = resolve_dhcp(r, f, &doc.dhcp);
    let asterisk = resolve_asterisk(r, f, &doc.asterisk, pbx.transport.name());
    let scope = Arc::new(Scope {
        timezone: doc.timezone.clone(),
        ntp_zone,
        language,
        country,
        ntp,
        pbx,
        admin_password,
        admin_user: doc
            .admin_user
            .as_ref()
            .filter(|u| *u != OFF)
            .filter(|u| r.text(f, &[key("admin_user")], Field::SipUser, "admin_user", u))
            .cloned(),
        user_password: user_password.expect("the user password is always decided"),
        user_id: doc
            .user_id
            .as_ref()
            .filter(|u| *u != OFF)
            .filter(|u| r.text(f, &[key("user_id")], Field::SipUser, "user_id", u))
            .cloned(),
        vlan: doc
            .vlan
            .as_ref()
            .and_then(|v| resolve_vlan(r, f, &[key("vlan")], v)),
        dns: doc
            .dns
            .as_ref()
            .map(|v| resolve_dns(r, f, &[key("dns")], v))
            .unwrap_or_default(),
        directory: doc
            .directory
            .as_ref()
            .map(|v| resolve_directory(r, f, &[key("directory")], v))
            .unwrap_or_default(),
        autoprovision: doc
            .autoprovision
            .as_ref()
            .map(|v| resolve_autoprovision(r, f, &[key("autoprovision")], v))
            .unwrap_or_default(),
    });
    // Every problem was reported where it was found; the site exists only without errors.
    (!r.diags.iter().any(Diagnostic::is_error)).then(|| Site {
        dhcp,
        asterisk,
        name: doc.name.clone(),
        base_url: doc.base_url.clone(),
        example_secret_file: doc.example_secret_file.clone(),
        firmware,
        models,
        settings,
        scope,
    })
}

/// The phones' time zone index, language and country.
fn resolve_locale(r: &mut Reporter, f: &str, doc: &SiteDoc) -> (u8, Language, String) {
    let ntp_zone = resolve_zone(r, f, &[], &doc.timezone, doc.ntp_zone);
    let language =
        resolve_language(r, f, &[key("language")], &doc.language).unwrap_or(tables::LANGUAGES[0]);
    let country = doc
        .country
        .clone()
        .unwrap_or_else(|| language.country.to_string());
    check_country(r, f, &[key("country")], &country);
    (ntp_zone, language, country)
}

/// `pbx:`: the registrar, transport, DTMF and feature codes.
fn resolve_pbx(r: &mut Reporter, f: &str, p: &PbxDoc) -> Pbx {
    for (field, v) in [
        ("host", Some(&p.host)),
        ("backup_host", p.backup_host.as_ref()),
    ] {
        if let Some(v) = v {
            r.text(
                f,
                &[key("pbx"), key(field)],
                Field::Host,
                &format!("pbx.{field}"),
                v,
            );
        }
    }
    let transport = tables::Transport::parse(&p.transport).unwrap_or_else(|| {
        r.error(
            f,
            &[key("pbx"), key("transport")],
            format!("unknown transport `{}`", p.transport),
            "use udp, tcp or tls",
        );
        tables::Transport::Udp
    });
    let dtmf = tables::Dtmf::parse(&p.dtmf).unwrap_or_else(|| {
        r.error(
            f,
            &[key("pbx"), key("dtmf")],
            format!("unknown DTMF mode `{}`", p.dtmf),
            "use rfc2833, inband or info",
        );
        tables::Dtmf::Rfc2833
    });
    // `off` says in so many words what leaving the field out means: written off.
    let code = |v: &Option<Text>| {
        v.as_ref()
            .map(|t| t.0.as_str())
            .filter(|s| *s != OFF)
            // `*8X` as the vendor writes a pickup code is `*8`: provsite adds the X.
            .map(|s| s.strip_suffix('X').unwrap_or(s).to_string())
    };
    let (voicemail, pickup) = (code(&p.voicemail), code(&p.pickup));
    let outbound_proxy = p.outbound_proxy.clone().filter(|h| h != OFF);
    if let Some(h) = &outbound_proxy {
        r.text(
            f,
            &[key("pbx"), key("outbound_proxy")],
            Field::Host,
            "pbx.outbound_proxy",
            h,
        );
    }
    for (field, v) in [("voicemail", &voicemail), ("pickup", &pickup)] {
        if let Some(v) = v {
            r.text(
                f,
                &[key("pbx"), key(field)],
                Field::FeatureCode,
                &format!("pbx.{field} code"),
                v,
            );
        }
    }
    Pbx {
        host: p.host.clone(),
        backup_host: p.backup_host.clone(),
        port: p.port,
        transport,
        dtmf,
        voicemail,
        pickup,
        outbound_proxy,
    }
}

/// The passwords of the phone's own web pages: admin and user (both always written).
#[allow(clippy::type_complexity)]
fn resolve_page_passwords(
    r: &mut Reporter,
    f: &str,
    doc: &SiteDoc,
) -> ((Secret, Origin), Option<(Secret, Origin)>) {
    // Passwords of the phone's own web page.
    let admin_origin = Origin {
        file: f.to_string(),
        path: vec![key("admin_password")],
    };
    let admin_password = match &doc.admin_password {
        Some(d) => {
            let s = secret_of(d);
            check_literal_password(r, f, &[key("admin_password")], &s, true);
            s
        }
        None => Secret::Derived("admin".to_string()),
    };
    // The user page's password is always stated: removing `user_password` must not leave the
    // phones with the last one they were given. Omitted, it is derived like the admin's.
    let user_password = Some((
        match &doc.user_password {
            Some(d) => {
                let s = secret_of(d);
                check_literal_password(r, f, &[key("user_password")], &s, false);
                s
            }
            None => Secret::Derived("user".to_string()),
        },
        Origin {
            file: f.to_string(),
            path: vec![key("user_password")],
        },
    ));
    ((admin_password, admin_origin), user_password)
}

/// `firmware:`: the named sets, each file's path inside the repository and its pinned digest.
fn resolve_firmware_sets(
    r: &mut Reporter,
    f: &str,
    doc: &SiteDoc,
    inventory_dir: &str,
) -> BTreeMap<String, FirmwareSet> {
    // Firmware sets.
    let mut firmware = BTreeMap::new();
    for (name, set) in &doc.firmware {
        let base = [key("firmware"), key(name.clone())];
        if !r.text(f, &base, Field::Name, "firmware set name", name) {
            continue;
        }
        let Some(model) = ModelId::parse(&set.model) else {
            r.error(
                f,
                &[key("firmware"), key(name.clone()), key("model")],
                format!("unknown model `{}` in firmware set {name}", set.model),
                format!("use one of {}", ModelId::names().join(", ")),
            );
            continue;
        };
        let mut file_of = |role: &str, d: &FileRefDoc| -> Option<FirmwareFile> {
            let mut path = base.to_vec();
            path.push(key(role));
            let sha = d.sha256.to_ascii_lowercase();
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                let mut p = path.clone();
                p.push(key("sha256"));
                r.error(
                    f,
                    &p,
                    format!("sha256 of {name}.{role} is not 64 hex digits"),
                    format!("run `sha256sum {}` and paste the digest", d.file),
                );
                return None;
            }
            let mut p = path.clone();
            p.push(key("file"));
            let Some(repo_path) = join_repo_path(inventory_dir, &d.file) else {
                r.error(f, &p, format!("firmware path `{}` leaves the repository", d.file), "paths are relative to the inventory folder and must stay inside the repository");
                return None;
            };
            let name = repo_path
                .rsplit('/')
                .next()
                .unwrap_or(&repo_path)
                .to_string();
            // The name goes into the entry point's URLs and the store's paths as it is.
            if !r.text(f, &p, Field::FileName, "firmware file name", &name) {
                return None;
            }
            Some(FirmwareFile {
                repo_path,
                name,
                sha256: sha,
                origin: Origin {
                    file: f.to_string(),
                    path: p,
                },
            })
        };
        let app = file_of("app", &set.app);
        let dsp = file_of("dsp", &set.dsp);
        let boot = file_of("boot", &set.boot);
        let telcfg = set.telcfg.as_ref().map(|d| file_of("telcfg", d));
        let common_base = set.common_base.as_ref().map(|d| file_of("common_base", d));
        match (app, dsp, boot, telcfg, common_base) {
            (Some(app), Some(dsp), Some(boot), telcfg, common_base)
                if !matches!(telcfg, Some(None)) && !matches!(common_base, Some(None)) =>
            {
                firmware.insert(
                    name.clone(),
                    FirmwareSet {
                        name: name.clone(),
                        model,
                        app,
                        dsp,
                        boot,
                        telcfg: telcfg.flatten(),
                        common_base: common_base.flatten(),
                    },
                );
            }
            _ => {}
        }
    }
    firmware
}

/// `codecs:` (or the older `asterisk.codecs`), default `[alaw, ulaw]`.
fn resolve_site_codecs(r: &mut Reporter, f: &str, doc: &SiteDoc) -> Vec<tables::Codec> {
    // Codecs: `codecs:`, or the older `asterisk.codecs` (the same list drives both sides now).
    match (&doc.codecs, &doc.asterisk.codecs) {
        (Some(_), Some(_)) => {
            r.error_at_key(
                f,
                &[key("asterisk"), key("codecs")],
                "both `codecs:` and `asterisk.codecs:` are set",
                "keep `codecs:` only: it drives the phones and Asterisk alike",
            );
            Vec::new()
        }
        (Some(list), None) => resolve_codecs(r, f, &[key("codecs")], list),
        (None, Some(list)) => {
            r.warning(
                f,
                &[key("asterisk"), key("codecs")],
                "`asterisk.codecs` now drives the phones' codecs too",
                "move the list to `codecs:` at the top of site.yaml",
            );
            resolve_codecs(r, f, &[key("asterisk"), key("codecs")], list)
        }
        (None, None) => vec![tables::CODECS[0], tables::CODECS[1]],
    }
}

/// Checks that `fw` names a firmware set of `doc` made for `model` (at `path` in file `f`).
pub(super) fn check_firmware_choice(
    r: &mut Reporter,
    f: &str,
    path: &[Seg],
    doc: &SiteDoc,
    fw: &str,
    model: ModelId,
) -> bool {
    match doc.firmware.get(fw) {
        None => {
            let names: Vec<&str> = doc.firmware.keys().map(String::as_str).collect();
            let hint = match crate::suggest::closest(fw, names.iter().copied()) {
                Some(s) => format!("did you mean {s}?"),
                None if names.is_empty() => "define it under `firmware:` in site.yaml".to_string(),
                None => format!("the firmware sets are: {}", names.join(", ")),
            };
            r.error(f, path, format!("unknown firmware set `{fw}`"), hint);
            false
        }
        Some(set) if ModelId::parse(&set.model).is_some_and(|sm| sm != model) => {
            r.error(
                f,
                path,
                format!("firmware set `{fw}` is for {}, not {model}", set.model),
                "name a set made for this model",
            );
            false
        }
        Some(_) => true,
    }
}

/// `models:`: each model's firmware set, entry point, line limit, codecs and raw settings.
fn resolve_models(
    r: &mut Reporter,
    f: &str,
    doc: &SiteDoc,
    site_codecs: &[tables::Codec],
) -> BTreeMap<ModelId, ModelCfg> {
    // Models.
    let mut models = BTreeMap::new();
    for (name, m) in &doc.models {
        let base = [key("models"), key(name.clone())];
        let Some(model) = ModelId::parse(name) else {
            r.error_at_key(
                f,
                &base,
                format!("unknown model `{name}`"),
                format!("the models are {}", ModelId::names().join(", ")),
            );
            continue;
        };
        let Some(fw) = &m.firmware else {
            r.error_at_key(
                f,
                &base,
                format!("model {model} names no firmware set"),
                "add `firmware: <name of a set under firmware:>`",
            );
            continue;
        };
        let mut p = base.to_vec();
        p.push(key("firmware"));
        check_firmware_choice(r, f, &p, doc, fw, model);
        let entry_point = m
            .entry_point
            .clone()
            .unwrap_or_else(|| model.default_entry_point());
        let mut p = base.to_vec();
        p.push(key("entry_point"));
        if r.text(f, &p, Field::FileName, "entry point name", &entry_point) {
            // Entry points sit beside manifest.json and whatever else the web root holds: the
            // family's ending (`.inf`) keeps them apart, and is what publish and pruning
            // recognise as theirs.
            let suffix = model.family().entry_point_suffix();
            if !entry_point.ends_with(suffix) || entry_point.len() == suffix.len() {
                r.error(
                    f,
                    &p,
                    format!("entry point name `{entry_point}` does not end with {suffix}"),
                    format!(
                        "the phones ask for a {suffix} file, such as {}",
                        model.default_entry_point()
                    ),
                );
            }
        }
        let max_lines = m.max_lines.unwrap_or(model.lines());
        if max_lines == 0 || max_lines > model.lines() {
            let mut p = base.to_vec();
            p.push(key("max_lines"));
            r.error(
                f,
                &p,
                format!("max_lines {max_lines} is outside 1 to {}", model.lines()),
                format!("a {model} registers at most {} lines", model.lines()),
            );
        }
        let mut p = base.to_vec();
        p.push(key("settings"));
        let settings = resolve_settings(r, f, &p, &m.settings, &[model]);
        let codecs = match &m.codecs {
            Some(list) => {
                let mut p = base.to_vec();
                p.push(key("codecs"));
                resolve_codecs(r, f, &p, list)
            }
            None => site_codecs.to_vec(),
        };
        models.insert(
            model,
            ModelCfg {
                model,
                firmware: fw.clone(),
                entry_point,
                max_lines,
                settings,
                codecs: codecs.iter().map(|c| c.asterisk.to_string()).collect(),
                codec_priority: tables::codec_priority(&codecs),
            },
        );
    }
    let mut entry_names = BTreeMap::new();
    for cfg in models.values() {
        if let Some(other) = entry_names.insert(cfg.entry_point.clone(), cfg.model) {
            r.error(
                f,
                &[key("models"), key(cfg.model.name()), key("entry_point")],
                format!(
                    "{} and {other} share the entry point {}",
                    cfg.model, cfg.entry_point
                ),
                "give each model its own entry point name",
            );
        }
    }
    models
}

pub(super) fn resolve_dhcp(r: &mut Reporter, f: &str, doc: &DhcpDoc) -> DhcpCfg {
    let option43 = doc.option43.clone().unwrap_or_else(|| "{url}".to_string());
    let at = [key("dhcp"), key("option43")];
    if option43.is_empty() {
        r.error(
            f,
            &at,
            "dhcp.option43 is empty",
            "omit it to send the entry point's URL as plain text ({url})",
        );
    } else if let Some(c) = option43
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || matches!(c, '"' | '\\'))
    {
        r.error(
            f,
            &at,
            format!("dhcp.option43 holds {}, which the DHCP configurations cannot quote", text_rules::describe(c)),
            "option 43 carries ASCII text such as {url}; remove quotes, backslashes, control and non-ASCII characters",
        );
    } else if option43.len() > 255 {
        r.error(
            f,
            &at,
            "dhcp.option43 is longer than 255 bytes, the most a DHCP option holds",
            "shorten the base_url or the payload",
        );
    } else if !option43.contains("{url}") {
        r.warning(
            f,
            &at,
            "dhcp.option43 does not contain {url}: every model gets the same payload",
            "write {url} where the entry point's URL goes",
        );
    }
    DhcpCfg {
        option43,
        by_mac: doc.by_mac,
    }
}

pub(super) fn resolve_asterisk(
    r: &mut Reporter,
    f: &str,
    doc: &AsteriskDoc,
    transport: &str,
) -> AsteriskCfg {
    let mut name = |field: &str, v: &Option<String>, default: String| -> String {
        match v {
            Some(s) if !is_asterisk_name(s) => {
                r.error(
                    f,
                    &[key("asterisk"), key(field)],
                    format!("asterisk.{field} `{s}` is not a valid Asterisk name"),
                    "use letters, digits, -, _ and . (no spaces or brackets)",
                );
                default
            }
            Some(s) => s.clone(),
            None => default,
        }
    };
    let context = name("context", &doc.context, "phones".to_string());
    let subscribe_context = name("subscribe_context", &doc.subscribe_context, context.clone());
    let transport = name(
        "transport",
        &doc.transport,
        format!("transport-{transport}"),
    );
    let voicemail_context = name(
        "voicemail_context",
        &doc.voicemail_context,
        "default".to_string(),
    );
    AsteriskCfg {
        context,
        subscribe_context,
        voicemail_context,
        qualify_frequency: doc.qualify_frequency.unwrap_or(60),
        max_contacts: doc.max_contacts.unwrap_or(1).max(1),
        transport,
    }
}

/// Checks a codec list: each codec must be one the phones and Asterisk both do.
pub(super) fn resolve_codecs(
    r: &mut Reporter,
    f: &str,
    at: &[Seg],
    list: &[String],
) -> Vec<tables::Codec> {
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let mut p = at.to_vec();
        p.push(Seg::Index(i));
        match tables::codec(c, ASTERISK_CODECS) {
            Ok(codec) if out.contains(&codec) => {
                r.error(
                    f,
                    &p,
                    format!("codec `{c}` is listed twice"),
                    "list each codec once",
                );
            }
            Ok(codec) => out.push(codec),
            Err(why) => {
                let both: Vec<&str> = tables::CODECS.iter().map(|c| c.asterisk).collect();
                let what = match why {
                    tables::CodecError::NotOnPhones => {
                        format!("codec `{c}`: Asterisk can do it, the phones cannot")
                    }
                    tables::CodecError::NotInAsterisk => {
                        format!("codec `{c}`: the phones can do it, Asterisk cannot")
                    }
                    tables::CodecError::Unknown => format!("unknown codec `{c}`"),
                };
                let hint = match crate::suggest::closest(c, both.iter().copied()) {
                    Some(s) => format!("did you mean {s}? (both sides do {})", both.join(", ")),
                    None => format!("both sides do {}", both.join(", ")),
                };
                r.error(f, &p, what, hint);
            }
        }
    }
    if list.is_empty() {
        r.error(
            f,
            at,
            "the codec list is empty",
            "list at least one codec, e.g. [alaw, ulaw]",
        );
    }
    out
}

/// Warns about a literal password in the repository; refuses the factory admin password.
pub(super) fn check_literal_password(
    r: &mut Reporter,
    file: &str,
    path: &[Seg],
    s: &Secret,
    admin: bool,
) {
    if let Secret::Literal(p) = s {
        if admin && p == FACTORY_ADMIN_PASSWORD {
            r.error(file, path, "the factory admin password 784518 is refused", "anyone on the LAN knows it: omit admin_password to derive one from the site secret, or use {env: NAME}");
        } else if p.is_empty() {
            r.error(
                file,
                path,
                "the password is empty",
                "omit it to derive one from the site secret, or use {env: NAME}",
            );
        } else {
            r.warning(
                file,
                path,
                "password in repository",
                "use {env: NAME}, or omit it to derive it from the site secret",
            );
        }
        if !p.is_empty() {
            r.text(file, path, Field::Password, "password", p);
        }
    }
}

/// Joins a path written relative to the inventory folder onto it, refusing to leave the repository.
pub fn join_repo_path(inventory_dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains('\\') || rel.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = inventory_dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
