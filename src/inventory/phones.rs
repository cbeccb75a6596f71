//! Resolving and checking the phones: MACs, models, profiles, lines, keys, settings, codecs.

#[allow(unused_imports)]
use super::*;
use std::borrow::Cow;
use std::collections::hash_map::Entry;

/// Every phones file's phones, in the files' order, each from what its own entry gave ([`Own`],
/// resolved on whatever thread read the file) and what depends on other entries: MACs and SIP
/// users unique across the inventory, its groups, its profile, its firmware and its scope. A file
/// from the record of resolved phones ([`FilePhones::Recorded`]) has its MACs and SIP users
/// checked against the others' and its scope taken again; the files with a phone that sets a
/// scope field of its own are named in `own_scope` (the record leaves them out).
#[allow(clippy::too_many_arguments)]
pub(super) fn resolve_phones<'s>(
    r: &mut Reporter,
    site_file: &str,
    site_doc: &SiteDoc,
    site: Option<&Site>,
    groups: &[Group],
    phone_srcs: impl Iterator<Item = (&'s SourceText, FilePhones)>,
    (text_bytes, mean_file): (usize, usize),
    own_scope: &mut HashSet<String>,
) -> Vec<Phone> {
    let mut scopes = Scopes::default();
    // One list, its room reserved once from the first file's phones per byte of text: grown
    // phone by phone it would be copied into ever larger fresh memory (100,000 phones: tens of
    // MB). Room reserved and not used costs nothing (memory is only counted once touched).
    let mut phones: Vec<Phone> = Vec::new();
    let mut seen = Seen::default();
    // Profiles: checked once against every model a phone using them has.
    // A profile is known by its place in site.yaml's document (no copy of its name per phone).
    let mut profile_settings: HashMap<(usize, ModelId), Settings> = HashMap::new();
    let mut profile_keys: HashMap<(usize, ModelId), BTreeMap<u32, FnKey>> = HashMap::new();
    for (src, file) in phone_srcs {
        let count = match &file {
            FilePhones::Parsed(docs, _) => docs.len(),
            FilePhones::Recorded(recorded) => recorded.len(),
        };
        if phones.capacity() == 0 && count > 0 {
            // Bounded by the text: a phone takes more than 20 bytes to write.
            let size = match src.text.len() {
                0 => mean_file,
                n => n,
            };
            let per_byte = count as f64 / size.max(1) as f64;
            let guess = (text_bytes as f64 * per_byte * 1.1) as usize;
            let room = guess.min(text_bytes / 20) + count;
            phones.reserve(room);
            // The MACs and users too: grown entry by entry, each map would be rehashed whole
            // some 17 times on the way to 100,000.
            seen.macs.reserve(room);
            seen.users.reserve(room);
        }
        let f = src.path.as_str();
        let chain = groups_of(groups, f);
        let (docs, own) = match file {
            FilePhones::Parsed(docs, own) => (docs, own),
            FilePhones::Recorded(recorded) => {
                // By model and profile (known by its place in site.yaml's document, as below).
                let mut shared: HashMap<(ModelId, Option<usize>), Arc<Scope>> = HashMap::new();
                for p in recorded {
                    let i = p.index;
                    let at = |rest: &[Seg]| at_phone(i, rest);
                    seen.mac(r, f, i, &p.mac);
                    seen.users(r, f, i, &p.lines);
                    // The scope its model, groups and profile give (a recorded phone sets no
                    // scope field of its own).
                    let Some(site) = site else { continue };
                    let profile = match &p.profile {
                        Some(name) => match site_doc.profiles.get(name) {
                            Some(doc) => Some((name.as_str(), doc)),
                            // Recorded under the same site.yaml, and checked before it is
                            // used (see `record::Recorded::fits`): not reached.
                            None => {
                                r.error(
                                    f,
                                    &at(&[key("profile")]),
                                    format!("unknown profile `{name}`"),
                                    "define it under `profiles:` in site.yaml",
                                );
                                continue;
                            }
                        },
                        None => None,
                    };
                    let profile_id = profile.map(|(_, doc)| doc as *const ProfileDoc as usize);
                    let scope = shared
                        .entry((p.model, profile_id))
                        .or_insert_with(|| {
                            scopes.shared_of(r, site, site_doc, p.model, &chain, profile)
                        })
                        .clone();
                    phones.push(Phone {
                        spec: PhoneSpec {
                            mac: p.mac,
                            model: p.model,
                            name: p.name,
                            profile: p.profile,
                            lines: p.lines,
                            keys: p.keys,
                            settings: p.settings,
                            ip: p.ip,
                            codecs: p.codecs,
                            scope,
                            firmware: p.firmware,
                        },
                        origin: Origin {
                            file: f.to_string(),
                            path: vec![idx(i)],
                        },
                    });
                }
                continue;
            }
        };
        // What each phone's own entry gave, and its problems (see [`resolve_own`]).
        r.extend(own.diags);
        // The scope of this file's phones that set no scope field of their own, by model and
        // profile: what [`Scopes::of`] gives them (the groups are the file's).
        let mut file_scopes: HashMap<(ModelId, Option<usize>), Arc<Scope>> = HashMap::new();
        // Likewise the settings its groups and profile give, before the phone's own.
        let mut file_settings: HashMap<(ModelId, Option<usize>), Settings> = HashMap::new();
        for (i, (doc, own)) in docs.iter().zip(own.phones).enumerate() {
            let at = |rest: &[Seg]| at_phone(i, rest);
            let errors_before = r.error_count();
            let Own {
                mac,
                name,
                model,
                lines,
                keys: own_keys,
                settings: own_settings,
                ip,
                codecs: own_codecs,
                errors: own_errors,
            } = own;
            if let Some(mac) = &mac {
                seen.mac(r, f, i, mac);
            }
            // An unknown model was reported with the phone's own entry; nothing else is checked.
            let Some(model) = model else {
                continue;
            };
            let cfg = site.and_then(|s| s.models.get(&model));
            // Profile.
            // The phone's profile, else its innermost group's.
            let (profile_name, profile_at) = match (
                &doc.profile,
                chain
                    .iter()
                    .rev()
                    .find_map(|g| g.doc.profile.as_ref().map(|p| (p, g))),
            ) {
                (Some(name), _) => (Some(name), (f.to_string(), at(&[key("profile")]))),
                (None, Some((name, g))) => (Some(name), (g.file.clone(), vec![key("profile")])),
                (None, None) => (None, (f.to_string(), Vec::new())),
            };
            let profile = match profile_name {
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
                            &profile_at.0,
                            &profile_at.1,
                            format!("unknown profile `{name}`"),
                            hint,
                        );
                        None
                    }
                },
            };
            // The SIP users, each on one line of the whole inventory.
            seen.users(r, f, i, &lines);
            let profile_id = profile
                .as_ref()
                .map(|(_, p)| *p as *const ProfileDoc as usize);
            // The keys: the profile's (checked once per model), the phone's own over them.
            let keys = match (&profile, profile_id) {
                (Some((name, p)), Some(id)) => {
                    let of_profile = profile_keys.entry((id, model)).or_insert_with(|| {
                        let path_of = |n: u32| {
                            vec![
                                key("profiles"),
                                key(name.clone()),
                                key("keys"),
                                key(n.to_string()),
                            ]
                        };
                        resolve_key_map(r, site_file, &path_of, &p.keys, model)
                    });
                    // The phone's own keys, and the profile's where it has none of its own.
                    let mut keys = own_keys;
                    for (n, k) in of_profile.iter() {
                        keys.entry(*n).or_insert_with(|| k.clone());
                    }
                    keys
                }
                _ => own_keys,
            };
            // Raw settings: the groups' (outermost first, each its own then its model's), the
            // profile's (checked once per model), then the phone's. The first two are the same
            // for the file's phones of a model and profile: merged once.
            let inherited = file_settings.entry((model, profile_id)).or_insert_with(|| {
                let mut settings = Settings::new();
                for g in &chain {
                    let own = scopes.group_settings(r, g, model);
                    settings = merge_settings(&settings, &own);
                }
                if let (Some((name, p)), Some(id)) = (&profile, profile_id) {
                    let cached = profile_settings.entry((id, model)).or_insert_with(|| {
                        resolve_settings(
                            r,
                            site_file,
                            &[key("profiles"), key(name.clone()), key("settings")],
                            &p.settings,
                            &[model],
                        )
                    });
                    settings = merge_settings(&settings, cached);
                }
                settings
            });
            let settings = if inherited.is_empty() {
                own_settings
            } else if own_settings.is_empty() {
                inherited.clone()
            } else {
                merge_settings(inherited, &own_settings)
            };
            // Codecs: the phone's, else its innermost group's (for its model, else for all), else
            // its model's.
            let group_codecs = || {
                chain.iter().rev().find_map(|g| match g.model_doc(model) {
                    Some((name, m)) if m.codecs.is_some() => Some((
                        g.file.as_str(),
                        vec![key("models"), key(name.clone()), key("codecs")],
                        m.codecs.as_ref()?,
                    )),
                    _ => g
                        .doc
                        .codecs
                        .as_ref()
                        .map(|c| (g.file.as_str(), vec![key("codecs")], c)),
                })
            };
            let codecs = match own_codecs {
                Some(c) => c,
                None => match (group_codecs(), cfg) {
                    (Some((file, path, list)), _) => codecs_of(r, file, &path, list),
                    // The model's: one list shared by its phones.
                    (None, Some(cfg)) => scopes
                        .model_codecs
                        .entry(model)
                        .or_insert_with(|| {
                            Arc::new((cfg.codecs.clone(), cfg.codec_priority.clone()))
                        })
                        .clone(),
                    (None, None) => Arc::new((Vec::new(), String::new())),
                },
            };
            let firmware = scopes.firmware(
                r,
                site_doc,
                cfg,
                &chain,
                model,
                (f, &at(&[key("firmware")]), doc),
            );
            let scope = site.map(|site| {
                let mut of = |r: &mut Reporter| {
                    scopes.of(
                        r,
                        site,
                        site_doc,
                        model,
                        &chain,
                        profile.as_ref().map(|(n, p)| (n.as_str(), *p)),
                        (f, &at(&[]), doc),
                    )
                };
                if doc.sets_scope() {
                    own_scope.insert(f.to_string());
                    return of(r);
                }
                let k = (model, profile_id);
                match file_scopes.get(&k) {
                    Some(s) => s.clone(),
                    None => {
                        let s = of(r);
                        file_scopes.insert(k, s.clone());
                        s
                    }
                }
            });
            // A phone with a problem is reported and left out (the inventory is refused anyway).
            if let (Some(mac), Some(scope)) = (
                mac.filter(|_| own_errors == 0 && r.error_count() == errors_before),
                scope,
            ) {
                phones.push(Phone {
                    spec: PhoneSpec {
                        mac,
                        model,
                        name,
                        profile: profile.map(|(n, _)| n),
                        lines,
                        keys,
                        settings,
                        ip,
                        codecs,
                        scope,
                        firmware,
                    },
                    origin: Origin {
                        file: f.to_string(),
                        path: vec![idx(i)],
                    },
                });
            }
        }
    }
    // Ties are impossible (MACs are unique once valid), so this order is total and stable.
    phones.sort_by(|a, b| a.mac.cmp(&b.mac));
    phones
}

/// Where each MAC and SIP user was first seen (file, phone, line): the path of a message is made
/// only when there is a duplicate to report.
#[derive(Default)]
struct Seen<'s> {
    /// By the MAC's number (48 bits): no copy of its text per phone.
    macs: HashMap<u64, (&'s str, usize)>,
    users: HashMap<String, (&'s str, usize, usize)>,
}

impl<'s> Seen<'s> {
    /// Notes phone `i` of file `f` by its MAC: an error when an earlier phone has it.
    fn mac(&mut self, r: &mut Reporter, f: &'s str, i: usize, mac: &crate::mac::Mac) {
        // One lookup: a phone's MAC is new nearly always.
        match self.macs.entry(mac.number()) {
            Entry::Occupied(first) => {
                let &(first_file, first_i) = first.get();
                let first_at = r.here(first_file, &[idx(first_i), key("mac")]);
                r.error(
                    f,
                    &at_phone(i, &[key("mac")]),
                    format!("duplicate MAC {mac}"),
                    format!("it is also at {first_at}: a phone is listed once"),
                );
            }
            Entry::Vacant(v) => {
                v.insert((f, i));
            }
        }
    }

    /// Notes the SIP users of phone `i`'s lines, each on one line of the whole inventory.
    fn users(&mut self, r: &mut Reporter, f: &'s str, i: usize, lines: &[Line]) {
        for (li, l) in lines.iter().enumerate() {
            match self.users.entry(l.user.clone()) {
                Entry::Occupied(first) => {
                    let &(first_file, first_i, first_li) = first.get();
                    let first_at = r.here(
                        first_file,
                        &[idx(first_i), key("lines"), idx(first_li), key("user")],
                    );
                    r.error(
                        f,
                        &at_phone(i, &[key("lines"), idx(li), key("user")]),
                        format!("duplicate SIP user {}", l.user),
                        format!(
                            "it is also at {first_at}: each SIP account registers from one line"
                        ),
                    );
                }
                Entry::Vacant(v) => {
                    v.insert((f, i, li));
                }
            }
        }
    }
}

/// A phones file's phones as the resolver takes them.
pub enum FilePhones {
    /// Parsed, each resolved as far as its own entry goes (see [`resolve_own`]).
    Parsed(Arc<Vec<PhoneDoc>>, OwnParts),
    /// From the record of resolved phones (see [`super::record`]).
    Recorded(Vec<super::record::Recorded>),
}

/// What one phone's own entry gives, resolved from it and the site alone: the phones of many
/// files are resolved this far on several threads at once ([`resolve_own`]), and
/// [`resolve_phones`] adds, in the files' order, what depends on other entries (the MACs and
/// users of the whole inventory, groups, profiles, the scope).
pub struct Own {
    mac: Option<crate::mac::Mac>,
    /// The phone's name (taken here: the resolver does not copy it).
    name: Option<String>,
    /// None when the model is unknown (reported): nothing else of the phone was resolved.
    model: Option<ModelId>,
    lines: Vec<Line>,
    /// The phone's own keys (its profile's go under them).
    keys: BTreeMap<u32, FnKey>,
    /// The phone's own settings (over its groups' and its profile's).
    settings: Settings,
    ip: Option<std::net::Ipv4Addr>,
    /// The phone's own codecs, when it sets them.
    codecs: Option<Arc<(Vec<String>, String)>>,
    /// Errors reported about this phone.
    errors: usize,
}

/// One phones file's phones, each resolved as far as its own entry goes (see `Own`), and the
/// problems found there.
#[derive(Default)]
pub struct OwnParts {
    phones: Vec<Own>,
    diags: Vec<Diagnostic>,
}

impl OwnParts {
    /// How many phones it holds.
    pub fn len(&self) -> usize {
        self.phones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phones.is_empty()
    }
}

/// Resolves each phone of one phones file as far as its own entry goes (see `Own`); any
/// thread can do it. The entries are left whole (see [`take_own`]).
/// `late` gives the file's text when `src` holds none (not read).
pub fn resolve_own(
    first: &SiteFirst,
    src: &SourceText,
    docs: &[PhoneDoc],
    late: &dyn LateText,
) -> OwnParts {
    own_parts_of(first, src, late, docs.iter().map(|d| (d, d.own_parts())))
}

/// The same, each entry's own parts taken from it ([`PhoneDoc::take_own_parts`]): their strings
/// are moved into the phones, not copied, and nothing after reads them.
pub fn take_own(
    first: &SiteFirst,
    src: &SourceText,
    docs: &mut [PhoneDoc],
    late: &dyn LateText,
) -> OwnParts {
    let taken: Vec<OwnDocParts> = docs.iter_mut().map(PhoneDoc::take_own_parts).collect();
    own_parts_of(first, src, late, docs.iter().zip(taken))
}

fn own_parts_of<'d>(
    first: &SiteFirst,
    src: &SourceText,
    late: &dyn LateText,
    docs: impl Iterator<Item = (&'d PhoneDoc, OwnDocParts)>,
) -> OwnParts {
    let mut r = Reporter::with_late(late);
    r.add_text(src);
    let f = src.path.as_str();
    let site = first.site.as_ref();
    let phones = docs
        .enumerate()
        .map(|(i, (doc, parts))| own_phone(&mut r, f, site, i, doc, parts))
        .collect();
    OwnParts {
        phones,
        diags: r.diags,
    }
}

/// A path below phone `i` of its file.
fn at_phone(i: usize, rest: &[Seg]) -> Vec<Seg> {
    let mut p = Vec::with_capacity(1 + rest.len());
    p.push(idx(i));
    p.extend_from_slice(rest);
    p
}

fn own_phone(
    r: &mut Reporter,
    f: &str,
    site: Option<&Site>,
    i: usize,
    doc: &PhoneDoc,
    parts: OwnDocParts,
) -> Own {
    let OwnDocParts {
        name,
        lines,
        keys,
        settings,
    } = parts;
    let at = |rest: &[Seg]| at_phone(i, rest);
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
    let mut own = Own {
        mac,
        name,
        model: None,
        lines: Vec::new(),
        keys: BTreeMap::new(),
        settings: Settings::new(),
        ip: None,
        codecs: None,
        errors: 0,
    };
    let Some(model) = ModelId::parse(&doc.model) else {
        r.error(
            f,
            &at(&[key("model")]),
            format!("unknown model `{}`", doc.model),
            format!("the models are {}", ModelId::names().join(", ")),
        );
        own.errors = r.error_count() - errors_before;
        return own;
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
    own.model = Some(model);
    own.lines = resolve_lines(r, f, &at, (&doc.mac.0, lines), model, max_lines);
    let path_of = |n: u32| at(&[key("keys"), key(n.to_string())]);
    let keys = keys.0.into_iter().map(|(n, k)| (n, Cow::Owned(k)));
    own.keys = resolve_keys(r, f, &path_of, keys, model);
    own.settings = resolve_settings(r, f, &at(&[key("settings")]), &settings, &[model]);
    if let Some(name) = &own.name {
        r.text(f, &at(&[key("name")]), Field::Label, "phone name", name);
    }
    own.ip = doc
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
    own.codecs = doc
        .codecs
        .as_ref()
        .map(|c| codecs_of(r, f, &at(&[key("codecs")]), c));
    own.errors = r.error_count() - errors_before;
    own
}

/// A list of codecs, checked: Asterisk's names and the phone's `CodecPriority`.
fn codecs_of(
    r: &mut Reporter,
    file: &str,
    path: &[Seg],
    list: &[String],
) -> Arc<(Vec<String>, String)> {
    let c = resolve_codecs(r, file, path, list);
    Arc::new((
        c.iter().map(|c| c.asterisk.to_string()).collect(),
        tables::codec_priority(&c),
    ))
}

/// A phone's lines: each user and auth user checked, display names spelled for Latin-1,
/// passwords decided (literal, `{env:}` or derived). That each user is on one line of the whole
/// inventory is checked with the other files' phones, in [`resolve_phones`].
fn resolve_lines(
    r: &mut Reporter,
    f: &str,
    at: &dyn Fn(&[Seg]) -> Vec<Seg>,
    (mac, docs): (&str, Vec<LineDoc>),
    model: ModelId,
    max_lines: usize,
) -> Vec<Line> {
    if docs.is_empty() {
        r.error(
            f,
            &at(&[key("mac")]),
            format!("phone {mac} has no line"),
            "add `lines: [{user: \"1001\"}]`",
        );
    }
    if docs.len() > max_lines {
        let hint = if max_lines < model.lines() {
            format!("the site allows {max_lines} (models.{model}.max_lines); a {model} registers up to {}", model.lines())
        } else {
            format!("a {model} registers at most {max_lines} lines")
        };
        r.error(
            f,
            &at(&[key("lines"), idx(max_lines)]),
            format!("{} lines, but a {model} takes {max_lines}", docs.len()),
            hint,
        );
    }
    // Exactly as many as given (a vector grown from empty would hold room for 4 lines).
    let mut lines = Vec::with_capacity(docs.len());
    for (li, l) in docs.into_iter().enumerate() {
        // Taken apart: each string is moved into the line, not copied.
        let LineDoc {
            user: Text(user),
            auth_user,
            display_name,
            password,
            host,
            port,
            transport,
            backup_host,
            voicemail,
        } = l;
        let lp = |k: &str| at(&[key("lines"), idx(li), key(k)]);
        r.text_at(f, || lp("user"), Field::SipUser, "SIP user", &user);
        if let Some(a) = &auth_user {
            r.text_at(f, || lp("auth_user"), Field::SipUser, "SIP auth user", &a.0);
        }
        let mut display_name = display_name.unwrap_or_else(|| user.clone());
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
        r.text_at(
            f,
            || lp("display_name"),
            Field::DisplayName,
            "display name",
            &display_name,
        );
        let auth_user = auth_user.map_or_else(|| user.clone(), |a| a.0);
        let password = match &password {
            Some(d) => {
                let s = secret_of(d);
                check_literal_password(r, f, &lp("password"), &s, false);
                s
            }
            None => Secret::Derived(format!("sip:{user}")),
        };
        if let Some(h) = &host {
            r.text_at(f, || lp("host"), Field::Host, "line host", h);
        }
        if port == Some(0) {
            r.error(
                f,
                &lp("port"),
                "port 0",
                "give the registrar's SIP port, e.g. 5060",
            );
        }
        let transport = transport
            .as_ref()
            .and_then(|t| parse_transport(r, f, &lp("transport"), t));
        let backup_host = backup_host.map(|h| {
            (h != OFF).then(|| {
                r.text(f, &lp("backup_host"), Field::Host, "line backup_host", &h);
                h
            })
        });
        lines.push(Line {
            user,
            auth_user,
            display_name,
            password,
            host,
            port,
            transport,
            backup_host,
            voicemail: voicemail.unwrap_or(true),
        });
    }
    lines
}

/// Function keys of one map (a profile's), each checked against the model; `path_of(n)` is
/// where key `n` is written, made only for a message.
fn resolve_key_map(
    r: &mut Reporter,
    file: &str,
    path_of: &dyn Fn(u32) -> Vec<Seg>,
    map: &UniqueMap<u32, KeyDoc>,
    model: ModelId,
) -> BTreeMap<u32, FnKey> {
    let keys = map.iter().map(|(n, k)| (*n, Cow::Borrowed(k)));
    resolve_keys(r, file, path_of, keys, model)
}

/// The same for keys given one by one, in order, each borrowed (a profile's) or owned (a
/// phone's own, whose targets are then moved, not copied).
fn resolve_keys<'k>(
    r: &mut Reporter,
    file: &str,
    path_of: &dyn Fn(u32) -> Vec<Seg>,
    map: impl Iterator<Item = (u32, Cow<'k, KeyDoc>)>,
    model: ModelId,
) -> BTreeMap<u32, FnKey> {
    let mut keys = BTreeMap::new();
    let fk = model.function_keys();
    for (n, k) in map {
        let n = &n;
        let path_of = || path_of(*n);
        if *n == 0 || *n > fk {
            let p = path_of();
            r.error_at_key(
                file,
                &p,
                format!("key {n} is outside the {model}'s keys 1 to {fk}"),
                format!("a {model} has {fk} function keys"),
            );
            continue;
        }
        let one = {
            let mut set = [
                ("blf", &k.blf),
                ("speed_dial", &k.speed_dial),
                ("line", &k.line),
            ]
            .into_iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)));
            match (set.next(), set.next()) {
                (Some(first), None) => Ok(first),
                (None, _) => Err("has no kind"),
                (Some(_), Some(_)) => Err("has more than one kind"),
            }
        };
        let kind = match one {
            Ok((kind, Text(target))) => {
                let kind_path = || {
                    let mut kp = path_of();
                    kp.push(key(kind));
                    kp
                };
                if !r.text_at(file, kind_path, Field::DialTarget, "key target", target) {
                    continue;
                }
                match kind {
                    "blf" | "speed_dial" => {}
                    _ => {
                        // The vendor's key types are L (programmed: a speed dial)
                        // and S (supervision: BLF); no documented syntax makes a
                        // key select a line, and an L key would call the target.
                        r.error_at_key(
                                file,
                                &kind_path(),
                                format!("key {n}: `line:` keys are not supported by these phones' files"),
                                "the key types are blf (S, supervised) and speed_dial (L, programmed); the lines have their own keys on the phone",
                            );
                        continue;
                    }
                }
                kind
            }
            Err(what) => {
                r.error_at_key(
                    file,
                    &path_of(),
                    format!("key {n} {what}"),
                    "give exactly one of blf, speed_dial or line",
                );
                continue;
            }
        };
        // The target: moved out of a key owned, copied from one borrowed.
        let target = match k {
            Cow::Owned(k) => if kind == "blf" { k.blf } else { k.speed_dial }.map(|t| t.0),
            Cow::Borrowed(k) => if kind == "blf" { &k.blf } else { &k.speed_dial }
                .as_ref()
                .map(|t| t.0.clone()),
        }
        .unwrap_or_default();
        let key_value = if kind == "blf" {
            FnKey::Blf(target)
        } else {
            FnKey::SpeedDial(target)
        };
        keys.insert(*n, key_value);
    }
    keys
}

/// Scopes and group settings, each resolved once: phones that share a model, groups and profile
/// and set no scope field of their own share one `Arc<Scope>`.
#[derive(Default)]
pub(super) struct Scopes {
    shared: HashMap<(ModelId, Vec<String>, Option<String>), Arc<Scope>>,
    profiles: HashMap<String, Patch>,
    models: HashMap<ModelId, Patch>,
    group_settings: HashMap<(String, ModelId), Settings>,
    /// A group's firmware choice for a model, checked once.
    group_firmware: HashMap<(String, ModelId), Option<String>>,
    /// Each model's codecs, shared by the phones that take them.
    model_codecs: HashMap<ModelId, Arc<(Vec<String>, String)>>,
}

impl Scopes {
    /// The phone's firmware set: its own, else its innermost group's for its model, else its
    /// model's.
    fn firmware(
        &mut self,
        r: &mut Reporter,
        site_doc: &SiteDoc,
        cfg: Option<&ModelCfg>,
        chain: &[&Group],
        model: ModelId,
        (f, path, doc): (&str, &[Seg], &PhoneDoc),
    ) -> String {
        if let Some(fw) = &doc.firmware {
            check_firmware_choice(r, f, path, site_doc, fw, model);
            return fw.clone();
        }
        for g in chain.iter().rev() {
            let chosen = self
                .group_firmware
                .entry((g.file.clone(), model))
                .or_insert_with(|| {
                    let (name, m) = g.model_doc(model)?;
                    let fw = m.firmware.as_ref()?;
                    let path = [key("models"), key(name.clone()), key("firmware")];
                    check_firmware_choice(r, &g.file, &path, site_doc, fw, model)
                        .then(|| fw.clone())
                });
            if let Some(fw) = chosen {
                return fw.clone();
            }
        }
        cfg.map(|c| c.firmware.clone()).unwrap_or_default()
    }

    /// A group's raw settings for a model: its own, then its model entry's.
    fn group_settings(&mut self, r: &mut Reporter, g: &Group, model: ModelId) -> Settings {
        self.group_settings
            .entry((g.file.clone(), model))
            .or_insert_with(|| {
                let own =
                    resolve_settings(r, &g.file, &[key("settings")], &g.doc.settings, &[model]);
                match g.model_doc(model) {
                    Some((name, m)) => {
                        let for_model = resolve_settings(
                            r,
                            &g.file,
                            &[key("models"), key(name.clone()), key("settings")],
                            &m.settings,
                            &[model],
                        );
                        merge_settings(&own, &for_model)
                    }
                    None => own,
                }
            })
            .clone()
    }

    /// The phone's scope: site → model → groups (outermost first) → profile → phone.
    #[allow(clippy::too_many_arguments)]
    fn of(
        &mut self,
        r: &mut Reporter,
        site: &Site,
        site_doc: &SiteDoc,
        model: ModelId,
        chain: &[&Group],
        profile: Option<(&str, &ProfileDoc)>,
        (f, at, doc): (&str, &[Seg], &PhoneDoc),
    ) -> Arc<Scope> {
        let own = resolve_patch(r, f, at, &doc.scope_doc());
        let shared = self.shared_of(r, site, site_doc, model, chain, profile);
        if own.is_empty() {
            shared
        } else {
            Arc::new(own.apply(&shared))
        }
    }

    /// The scope of a phone that sets no scope field of its own: site → model → groups
    /// (outermost first) → profile.
    fn shared_of(
        &mut self,
        r: &mut Reporter,
        site: &Site,
        site_doc: &SiteDoc,
        model: ModelId,
        chain: &[&Group],
        profile: Option<(&str, &ProfileDoc)>,
    ) -> Arc<Scope> {
        let cache_key = (
            model,
            chain.iter().map(|g| g.file.clone()).collect::<Vec<_>>(),
            profile.map(|(n, _)| n.to_string()),
        );
        let site_file = site.scope.admin_password.1.file.clone();
        match self.shared.get(&cache_key) {
            Some(s) => s.clone(),
            None => {
                let model_patch = self
                    .models
                    .entry(model)
                    .or_insert_with(|| {
                        let mut d = ScopeDoc::default();
                        let name = site_doc
                            .models
                            .keys()
                            .find(|n| ModelId::parse(n) == Some(model));
                        if let Some(name) = name {
                            d.admin_password = site_doc.models[name].admin_password.clone();
                            resolve_patch(r, &site_file, &[key("models"), key(name.clone())], &d)
                        } else {
                            Patch::default()
                        }
                    })
                    .clone();
                let mut s = model_patch.apply(&site.scope);
                for g in chain {
                    s = g.patch.apply(&s);
                    if let Some(p) = g.model_patches.get(&model) {
                        s = p.apply(&s);
                    }
                }
                if let Some((name, p)) = profile {
                    let patch = self.profiles.entry(name.to_string()).or_insert_with(|| {
                        resolve_patch(
                            r,
                            &site_file,
                            &[key("profiles"), key(name.to_string())],
                            &p.scope_doc(),
                        )
                    });
                    s = patch.apply(&s);
                }
                let s = if s == *site.scope {
                    site.scope.clone()
                } else {
                    Arc::new(s)
                };
                self.shared.insert(cache_key, s.clone());
                s
            }
        }
    }
}
