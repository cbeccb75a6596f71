//! Resolving and checking the phones: MACs, models, profiles, lines, keys, settings, codecs.

#[allow(unused_imports)]
use super::*;

pub(super) fn resolve_phones(
    r: &mut Reporter,
    site_file: &str,
    site_doc: &SiteDoc,
    site: Option<&Site>,
    phone_srcs: &[(SourceText, Arc<Vec<PhoneDoc>>)],
) -> Vec<Phone> {
    let mut phones = Vec::new();
    let mut macs: HashMap<crate::mac::Mac, Origin> = HashMap::new();
    let mut users: HashMap<String, Origin> = HashMap::new();
    // Profiles: checked once against every model a phone using them has.
    let mut profile_settings: HashMap<(String, ModelId), Settings> = HashMap::new();
    for (src, docs) in phone_srcs {
        let f = src.path.as_str();
        for (i, doc) in docs.iter().enumerate() {
            let at = |rest: &[Seg]| -> Vec<Seg> {
                let mut p = vec![idx(i)];
                p.extend_from_slice(rest);
                p
            };
            let errors_before = r.error_count();
            let mac = match normalize_mac(&doc.mac.0) {
                Some(m) => Some(m),
                None => {
                    r.error(
                        f,
                        &at(&[key("mac")]),
                        format!("bad MAC address `{}`", doc.mac.0),
                        "write 12 hex digits, e.g. 00:1F:9F:16:E8:49 or 001F9F16E849 (quote it)",
                    );
                    None
                }
            };
            if let Some(mac) = &mac {
                let origin = Origin {
                    file: f.to_string(),
                    path: at(&[key("mac")]),
                };
                if let Some(first) = macs.get(mac) {
                    let first_at = r.here(&first.file, &first.path);
                    r.error(
                        f,
                        &at(&[key("mac")]),
                        format!("duplicate MAC {mac}"),
                        format!("it is also at {first_at}: a phone is listed once"),
                    );
                } else {
                    macs.insert(mac.clone(), origin);
                }
            }
            let model = match ModelId::parse(&doc.model) {
                Some(m) => m,
                None => {
                    r.error(
                        f,
                        &at(&[key("model")]),
                        format!("unknown model `{}`", doc.model),
                        format!("the models are {}", ModelId::names().join(", ")),
                    );
                    continue;
                }
            };
            let cfg = site.and_then(|s| s.models.get(&model));
            if site.is_some() && cfg.is_none() {
                r.error(
                    f,
                    &at(&[key("model")]),
                    format!("model {model} is not configured in site.yaml"),
                    format!("add `models: {{{model}: {{firmware: <set>}}}}` to site.yaml"),
                );
            }
            let max_lines = cfg.map_or(model.lines(), |c| c.max_lines);
            // Profile.
            let profile = match &doc.profile {
                None => None,
                Some(name) => match site_doc.profiles.get(name) {
                    Some(p) => Some((name.clone(), p)),
                    None => {
                        let names: Vec<&str> =
                            site_doc.profiles.keys().map(String::as_str).collect();
                        let hint = match crate::suggest::closest(name, names.iter().copied()) {
                            Some(s) => format!("did you mean {s}?"),
                            None if names.is_empty() => {
                                "define it under `profiles:` in site.yaml".to_string()
                            }
                            None => format!("the profiles are: {}", names.join(", ")),
                        };
                        r.error(
                            f,
                            &at(&[key("profile")]),
                            format!("unknown profile `{name}`"),
                            hint,
                        );
                        None
                    }
                },
            };
            let (lines, password_origins) =
                resolve_lines(r, f, &at, doc, model, max_lines, &mut users);
            let keys = resolve_keys(r, f, site_file, &at, doc, profile.as_ref(), model);
            // Raw settings: profile's (checked once per model), then the phone's.
            let mut settings = Settings::new();
            if let Some((name, p)) = &profile {
                let cached = profile_settings
                    .entry((name.clone(), model))
                    .or_insert_with(|| {
                        resolve_settings(
                            r,
                            site_file,
                            &[key("profiles"), key(name.clone()), key("settings")],
                            &p.settings,
                            &[model],
                        )
                    });
                settings = cached.clone();
            }
            let own = resolve_settings(r, f, &at(&[key("settings")]), &doc.settings, &[model]);
            settings = merge_settings(&settings, &own);
            if let Some(name) = &doc.name {
                r.text(f, &at(&[key("name")]), Field::Label, "phone name", name);
            }
            let ip = doc
                .ip
                .as_ref()
                .and_then(|ip| match ip.parse::<std::net::Ipv4Addr>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        r.error(
                            f,
                            &at(&[key("ip")]),
                            format!("bad IPv4 address `{ip}`"),
                            "write a dotted address such as 192.0.2.50",
                        );
                        None
                    }
                });
            let codecs = match (&doc.codecs, cfg) {
                (Some(list), _) => {
                    let c = resolve_codecs(r, f, &at(&[key("codecs")]), list);
                    (
                        c.iter().map(|c| c.asterisk.to_string()).collect(),
                        tables::codec_priority(&c),
                    )
                }
                (None, Some(cfg)) => (cfg.codecs.clone(), cfg.codec_priority.clone()),
                (None, None) => (Vec::new(), String::new()),
            };
            // A phone with a problem is reported and left out (the inventory is refused anyway).
            if let Some(mac) = mac.filter(|_| r.error_count() == errors_before) {
                phones.push(Phone {
                    spec: PhoneSpec {
                        mac,
                        model,
                        name: doc.name.clone(),
                        profile: profile.map(|(n, _)| n),
                        lines,
                        keys,
                        settings,
                        ip,
                        codecs,
                    },
                    origin: Origin {
                        file: f.to_string(),
                        path: vec![idx(i)],
                    },
                    password_origins,
                });
            }
        }
    }
    // Ties are impossible (MACs are unique once valid), so this order is total and stable.
    phones.sort_by(|a, b| a.mac.cmp(&b.mac));
    phones
}

/// A phone's lines: each user and auth user checked, the users unique across the inventory,
/// display names spelled for Latin-1, passwords decided (literal, `{env:}` or derived).
fn resolve_lines(
    r: &mut Reporter,
    f: &str,
    at: &dyn Fn(&[Seg]) -> Vec<Seg>,
    doc: &PhoneDoc,
    model: ModelId,
    max_lines: usize,
    users: &mut HashMap<String, Origin>,
) -> (Vec<Line>, Vec<Origin>) {
    if doc.lines.is_empty() {
        r.error(
            f,
            &at(&[key("mac")]),
            format!("phone {} has no line", doc.mac.0),
            "add `lines: [{user: \"1001\"}]`",
        );
    }
    if doc.lines.len() > max_lines {
        let hint = if max_lines < model.lines() {
            format!("the site allows {max_lines} (models.{model}.max_lines); a {model} registers up to {}", model.lines())
        } else {
            format!("a {model} registers at most {max_lines} lines")
        };
        r.error(
            f,
            &at(&[key("lines"), idx(max_lines)]),
            format!("{} lines, but a {model} takes {max_lines}", doc.lines.len()),
            hint,
        );
    }
    let mut lines = Vec::new();
    let mut password_origins = Vec::new();
    for (li, l) in doc.lines.iter().enumerate() {
        let lp = |k: &str| at(&[key("lines"), idx(li), key(k)]);
        r.text(f, &lp("user"), Field::SipUser, "SIP user", &l.user.0);
        if let Some(a) = &l.auth_user {
            r.text(f, &lp("auth_user"), Field::SipUser, "SIP auth user", &a.0);
        }
        if let Some(first) = users.get(&l.user.0) {
            let first_at = r.here(&first.file, &first.path);
            r.error(
                f,
                &lp("user"),
                format!("duplicate SIP user {}", l.user.0),
                format!("it is also at {first_at}: each SIP account registers from one line"),
            );
        } else {
            users.insert(
                l.user.0.clone(),
                Origin {
                    file: f.to_string(),
                    path: lp("user"),
                },
            );
        }
        let mut display_name = l.display_name.clone().unwrap_or_else(|| l.user.0.clone());
        let (spelled, replaced) = text_rules::latin1_spelling(&display_name);
        if !replaced.is_empty() {
            let list: String = replaced.iter().collect();
            r.warning(
                f,
                &lp("display_name"),
                format!("display name `{display_name}` is written `{spelled}`: the phones read Latin-1, which has no {list}"),
                format!("write `{spelled}` yourself to silence this"),
            );
            display_name = spelled;
        }
        if !is_latin1(&display_name) {
            let bad: String = display_name
                .chars()
                .filter(|c| (*c as u32) > 0xFF)
                .collect();
            r.error(
                f,
                &lp("display_name"),
                format!(
                    "display name `{display_name}` has characters ISO-8859-1 cannot encode: {bad}"
                ),
                "the phones read Latin-1: é, è, ü, ñ are fine; replace the others (e.g. Ł → L)",
            );
        }
        r.text(
            f,
            &lp("display_name"),
            Field::DisplayName,
            "display name",
            &display_name,
        );
        let auth_user = l
            .auth_user
            .as_ref()
            .map_or_else(|| l.user.0.clone(), |a| a.0.clone());
        let password = match &l.password {
            Some(d) => {
                let s = secret_of(d);
                check_literal_password(r, f, &lp("password"), &s, false);
                s
            }
            None => Secret::Derived(format!("sip:{}", l.user.0)),
        };
        lines.push(Line {
            user: l.user.0.clone(),
            auth_user,
            display_name,
            password,
        });
        password_origins.push(Origin {
            file: f.to_string(),
            path: lp("password"),
        });
    }
    (lines, password_origins)
}

/// A phone's function keys: its profile's, then its own over them.
fn resolve_keys(
    r: &mut Reporter,
    f: &str,
    site_file: &str,
    at: &dyn Fn(&[Seg]) -> Vec<Seg>,
    doc: &PhoneDoc,
    profile: Option<&(String, &ProfileDoc)>,
    model: ModelId,
) -> BTreeMap<u32, FnKey> {
    let mut keys = BTreeMap::new();
    let fk = model.function_keys();
    let mut key_sources: Vec<(&UniqueMap<u32, KeyDoc>, String, Vec<Seg>)> = Vec::new();
    if let Some((name, p)) = profile {
        key_sources.push((
            &p.keys,
            site_file.to_string(),
            vec![key("profiles"), key(name.clone()), key("keys")],
        ));
    }
    key_sources.push((&doc.keys, f.to_string(), at(&[key("keys")])));
    for (map, file, base) in key_sources {
        for (n, k) in map {
            let mut p = base.clone();
            p.push(key(n.to_string()));
            if *n == 0 || *n > fk {
                r.error_at_key(
                    &file,
                    &p,
                    format!("key {n} is outside the {model}'s keys 1 to {fk}"),
                    format!("a {model} has {fk} function keys"),
                );
                continue;
            }
            let set: Vec<(&str, &Text)> = [
                ("blf", &k.blf),
                ("speed_dial", &k.speed_dial),
                ("line", &k.line),
            ]
            .into_iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
            .collect();
            let key_value = match set.as_slice() {
                [(kind, Text(target))] => {
                    let mut kp = p.clone();
                    kp.push(key(*kind));
                    if !r.text(&file, &kp, Field::DialTarget, "key target", target) {
                        continue;
                    }
                    match *kind {
                        "blf" => FnKey::Blf(target.clone()),
                        "speed_dial" => FnKey::SpeedDial(target.clone()),
                        _ => {
                            // The vendor's key types are L (programmed: a speed dial)
                            // and S (supervision: BLF); no documented syntax makes a
                            // key select a line, and an L key would call the target.
                            r.error_at_key(
                                &file,
                                &kp,
                                format!("key {n}: `line:` keys are not supported by these phones' files"),
                                "the key types are blf (S, supervised) and speed_dial (L, programmed); the lines have their own keys on the phone",
                            );
                            continue;
                        }
                    }
                }
                [] => {
                    r.error_at_key(
                        &file,
                        &p,
                        format!("key {n} has no kind"),
                        "give exactly one of blf, speed_dial or line",
                    );
                    continue;
                }
                _ => {
                    r.error_at_key(
                        &file,
                        &p,
                        format!("key {n} has more than one kind"),
                        "give exactly one of blf, speed_dial or line",
                    );
                    continue;
                }
            };
            keys.insert(*n, key_value);
        }
    }
    keys
}
