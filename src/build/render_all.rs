//! Rendering a whole inventory: each model's shared files, then every phone on all cores, staged
//! as it is rendered, or spared by the render cache.

#[allow(unused_imports)]
use super::*;
use crate::family::ModelId;

/// Rendered files of a whole inventory.
pub struct Rendered {
    /// Per model and firmware set.
    pub models: BTreeMap<inventory::Variant, ModelFiles>,
    /// In the inventory's phone order (by MAC).
    pub phones: Vec<PhoneFile>,
    /// Each phone's render-cache key (None when no cache was asked for, or this renderer cannot
    /// be identified).
    pub keys: Vec<Option<Key>>,
    /// The phones with nothing staged: their digest came from the render cache, or equals the
    /// live release's file (linked in the write stage when the number stays; rendered again
    /// there otherwise).
    pub cached: Vec<bool>,
    /// How many phones were rendered.
    pub rendered: usize,
}

/// Renders every model and phone, on all cores, each phone's file kept in memory.
pub fn render_all(
    inv: &Inventory,
    templates: &Templates,
    firmware: &FirmwareFiles,
    site_secret: &SiteSecret,
    progress: &dyn Progress,
) -> std::result::Result<Rendered, String> {
    render_all_into(
        inv,
        templates,
        firmware,
        site_secret,
        progress,
        Purpose::Keep,
        None,
    )
}

/// What the phones' files are rendered for.
pub enum Purpose<'a> {
    /// Checked only (`provsite check`): each file is rendered and passes the strict check, and
    /// nothing of it is kept (no body, no digest).
    Check,
    /// Each file's body and digest kept in memory.
    Keep,
    /// Written to the staged release as rendered (`provsite build`): only digests kept.
    Stage(Stage<'a>),
}

/// What the render cache is given: the last build's digests, and the template overrides (part of
/// every key).
pub struct CacheUse<'a> {
    pub cache: &'a RenderCache,
    pub template_overrides: &'a BTreeMap<String, String>,
}

/// Where rendered phone files go, and the config_sn and mtime they are written with: the guess of
/// the number each phone keeps (a phone guessed wrong has its number put in place once the
/// numbering is known).
pub struct Stage<'a> {
    pub dir: &'a Path,
    pub guessed: &'a Guessed,
    /// The live release's manifest: a phone whose file is unchanged is not written.
    pub live: Option<&'a Manifest>,
}

/// A [`history::Guess`] as the files are written: each stamp's config_sn as text.
pub struct Guessed {
    release: (String, i64),
    by_file: HashMap<String, (String, i64)>,
}

impl Guessed {
    pub fn new(g: &history::Guess) -> Guessed {
        let text = |s: history::Stamp| (config_sn::format(s.sn), s.time);
        Guessed {
            release: text(g.release),
            by_file: g
                .by_file
                .iter()
                .map(|(f, &s)| (f.clone(), text(s)))
                .collect(),
        }
    }

    /// The config_sn and commit time a phone's file is first written with.
    pub fn of(&self, phone: &inventory::Phone) -> (&str, i64) {
        let (sn, time) = self
            .by_file
            .get(&phone.origin.file)
            .unwrap_or(&self.release);
        (sn, *time)
    }
}

/// The same, for `purpose`: staged, each phone's file goes to that folder as it is rendered and
/// only its digest stays in memory; checked, nothing does: the rendered files of a whole fleet
/// never sit in memory at once. With `cache`, a phone whose key is in it is not rendered (see
/// [`crate::render_cache`]).
pub fn render_all_into(
    inv: &Inventory,
    templates: &Templates,
    firmware: &FirmwareFiles,
    site_secret: &SiteSecret,
    progress: &dyn Progress,
    purpose: Purpose,
    cache: Option<CacheUse>,
) -> std::result::Result<Rendered, String> {
    let (stage, check_only) = match purpose {
        Purpose::Check => (None, true),
        Purpose::Keep => (None, false),
        Purpose::Stage(st) => (Some(st), false),
    };
    let models = render::render_models(templates, inv, firmware)?;
    // Each phone's model files, looked up without making its `Variant`.
    let files_of: HashMap<(ModelId, &str), &ModelFiles> = models
        .iter()
        .map(|(v, f)| ((v.model, v.firmware.as_str()), f))
        .collect();
    progress.stage("render", inv.phones.len() as u64);
    let pages = scope_secrets(&inv.phones, site_secret);
    for p in &inv.phones {
        let page = pages[&(Arc::as_ptr(&p.scope) as usize)]
            .as_ref()
            .ok_or_else(|| "admin password unavailable".to_string())?;
        if page.0 == inventory::FACTORY_ADMIN_PASSWORD {
            return Err(format!(
                "the admin password of phone {} resolves to the factory password 784518: choose another",
                p.mac
            ));
        }
    }
    let keys = cache.as_ref().map(|c| {
        render_cache::Keys::new(
            &inv.site,
            c.template_overrides,
            site_secret,
            &models,
            &inv.phones,
            &pages,
        )
    });
    type Part = (Vec<PhoneFile>, Vec<Option<Key>>, Vec<bool>, usize);
    // Many parts a thread: the threads finish together (see `in_parts`).
    let results = parallel::in_parts(
        &inv.phones,
        parallel::cores(),
        16,
        |_, phones| -> std::result::Result<Part, String> {
            let mut out = Vec::with_capacity(phones.len());
            let mut part_keys = Vec::new();
            let mut part_cached = Vec::new();
            let mut part_rendered = 0;
            let writer = match &stage {
                Some(st) => Some(output::DirWriter::open(st.dir).map_err(|e| e.to_string())?),
                None => None,
            };
            for (i, p) in phones.iter().enumerate() {
                // Counted as it starts, so that no way through the loop leaves it out.
                if i % 256 == 255 {
                    progress.advance(256);
                }
                let key = keys.as_ref().and_then(|k| k.of(p));
                let known = key
                    .as_ref()
                    .zip(cache.as_ref())
                    .and_then(|(k, c)| c.cache.get(k));
                part_keys.push(key);
                part_cached.push(known.is_some());
                if let Some(digest) = known {
                    out.push(PhoneFile {
                        digest,
                        body: Vec::new(),
                        staged: None,
                    });
                    continue;
                }
                let s = pages[&(Arc::as_ptr(&p.scope) as usize)]
                    .as_ref()
                    .and_then(|page| phone_secrets_with(p, site_secret, page))
                    .ok_or_else(|| format!("a password of phone {} is unavailable", p.mac))?;
                let files = files_of
                    .get(&(p.model, p.firmware.as_str()))
                    .ok_or_else(|| format!("no shared files for the model of phone {}", p.mac))?;
                if check_only {
                    // Checked, then dropped: nothing of the file is kept, not even a digest.
                    render::check_phone(templates, &inv.site, files, p, &s)?;
                    part_rendered += 1;
                    out.push(PhoneFile {
                        digest: String::new(),
                        body: Vec::new(),
                        staged: None,
                    });
                    continue;
                }
                // Staged: checked as written, with its guessed number (one fill, not two).
                let (mut f, filled) = match &stage {
                    Some(st) => {
                        let (sn, time) = st.guessed.of(p);
                        let (f, filled, sn_at) =
                            render::render_phone_filled(templates, &inv.site, files, p, &s, sn)?;
                        (f, Some((filled, sn_at, time)))
                    }
                    None => (
                        render::render_phone(templates, &inv.site, files, p, &s, true)?,
                        None,
                    ),
                };
                part_rendered += 1;
                let live_same = stage
                    .as_ref()
                    .and_then(|st| st.live)
                    .and_then(|m| m.phones.get(p.mac.as_str()))
                    .is_some_and(|old| old.digest == f.digest);
                if live_same {
                    // The live file has these bytes under the number the phone keeps: it is
                    // linked, not written (see write_phone_files).
                    f.body = Vec::new();
                    if let Some(c) = part_cached.last_mut() {
                        *c = true;
                    }
                } else if let (Some(w), Some((filled, sn_at, time))) = (&writer, filled) {
                    let mtime = output::release_mtime(time);
                    w.write_new(&render::phone_file_name(p), &filled, mtime)
                        .map_err(|e| e.to_string())?;
                    f.staged = Some(render::Staged {
                        sn_at,
                        sha256: crate::hashing::sha256_hex(&filled),
                        size: filled.len() as u64,
                    });
                    f.body = Vec::new();
                }
                out.push(f);
            }
            progress.advance((phones.len() % 256) as u64);
            Ok((out, part_keys, part_cached, part_rendered))
        },
    );
    let mut phones = Vec::with_capacity(inv.phones.len());
    let (mut all_keys, mut cached, mut rendered) = (Vec::new(), Vec::new(), 0);
    for r in results {
        let (files, k, c, n) = r?;
        phones.extend(files);
        all_keys.extend(k);
        cached.extend(c);
        rendered += n;
    }
    Ok(Rendered {
        models,
        phones,
        keys: all_keys,
        cached,
        rendered,
    })
}
