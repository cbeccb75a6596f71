//! The render stage: each model's shared files and each phone's own file, by the family of the
//! phone's model (`family/`), through minijinja templates (embedded defaults, overridable per
//! inventory). Every file to be written is read back by the family's strict checker first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use minijinja::{context, Environment};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Diagnostic;
use crate::family::{ConfigFile, ModelId, PhoneBody, PhoneInput, SharedFile, SharedInput};
use crate::firmware_store::FirmwareFiles;
use crate::hashing::sha256_hex;
use crate::inventory::{Inventory, ModelCfg, Phone, PhoneSpec, Site, Variant};

/// Stands for the config_sn while a phone file is rendered: the file is compared with its history
/// without it, then the number is put in. Twelve characters, like the number.
pub const CONFIG_SN_SENTINEL: &str = "@@CONFIGSN@@";

/// Stands for the release folder when an entry point is compared with older ones.
const RELEASE_SENTINEL: &str = "@@RELEASE@@";

/// Instructions one render of an inventory's template may take.
const TEMPLATE_FUEL: u64 = 5_000_000;

/// The largest file a template may write (the phones' files are a few KiB).
const MAX_RENDERED: usize = 4 << 20;

/// The templates in use: the embedded defaults with the inventory's overrides over them.
pub struct Templates {
    env: Environment<'static>,
    /// Whether a template was overridden (it changes what every phone fetches).
    pub overridden: BTreeSet<String>,
}

impl Templates {
    pub fn new(
        overrides: &BTreeMap<String, String>,
        inventory_dir: &str,
    ) -> Result<(Templates, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let names: Vec<&str> = crate::family::templates().map(|(n, _)| n).collect();
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        let mut overridden = BTreeSet::new();
        for (name, text) in overrides {
            let path = format!("{inventory_dir}/templates/{name}");
            if !names.contains(&name.as_str()) {
                warnings.push(
                    Diagnostic::warning(path, format!("unknown template `{name}` is not used"))
                        .hint(format!("the templates are {}", names.join(", "))),
                );
                continue;
            }
            if let Err(e) = env.add_template_owned(name.clone(), text.clone()) {
                let line = e.line().unwrap_or(0);
                errors.push(
                    Diagnostic::error(
                        path,
                        format!("template error: {}", e.detail().unwrap_or("syntax error")),
                    )
                    .at(Some((line, 1)))
                    .hint(
                        "fix the minijinja syntax; the defaults are in provsite's site-template/",
                    ),
                );
            } else {
                overridden.insert(name.clone());
            }
        }
        for (name, text) in crate::family::templates() {
            if !overridden.contains(name) {
                env.add_template(name, text)
                    .expect("embedded templates parse");
            }
        }
        if !overridden.is_empty() {
            // An inventory's template is untrusted input: a loop inside a loop must end with an
            // error, not run forever. Far above what a phone's file takes (about 20,000).
            env.set_fuel(Some(TEMPLATE_FUEL));
        }
        if errors.is_empty() {
            Ok((Templates { env, overridden }, warnings))
        } else {
            Err(errors)
        }
    }

    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| e.to_string())?;
        let origin = if self.overridden.contains(name) {
            "the inventory's"
        } else {
            "the default"
        };
        // Written into a buffer that takes at most MAX_RENDERED bytes: a template that writes
        // more stops there, before its output fills the memory.
        let mut out = Capped {
            bytes: Vec::new(),
            left: MAX_RENDERED,
        };
        let rendered = crate::alloc_budget::within(crate::alloc_budget::TEMPLATE, name, || {
            t.render_captured_to(ctx, &mut out).map(drop)
        });
        if out.left == usize::MAX {
            return Err(format!(
                "{origin} template {name} wrote more than {MAX_RENDERED} bytes; a phone's file is a few KiB (a loop that runs away?)"
            ));
        }
        rendered.map_err(|e| format!("{origin} template {name}: {e}"))?;
        String::from_utf8(out.bytes)
            .map_err(|e| format!("{origin} template {name} wrote text that is not UTF-8: {e}"))
    }
}

/// A buffer that refuses to grow beyond `left` more bytes (then `left` is `usize::MAX`).
struct Capped {
    bytes: Vec<u8>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.len() > self.left {
            self.left = usize::MAX;
            return Err(std::io::Error::other("the file is too large"));
        }
        self.left -= b.len();
        self.bytes.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One firmware file as the entry point names it.
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareRef {
    pub role: &'static str,
    pub sha256: String,
    pub name: String,
    pub size: u64,
}

impl FirmwareRef {
    pub fn store_path(&self) -> String {
        format!("firmware/{}/{}", self.sha256, self.name)
    }
}

/// Everything a model's phones share.
#[derive(Clone)]
pub struct ModelFiles {
    pub model: ModelId,
    /// The firmware set, and whether it is the model's own (else a rollout's).
    pub firmware_set: String,
    pub default_set: bool,
    pub entry_point: String,
    pub firmware: Vec<FirmwareRef>,
    /// Files in `common/`, named after their content.
    pub shared: Vec<SharedFile>,
    /// The settings the phones take from the shared files (to fill keys other phones of the
    /// model override, see README).
    pub settings: ConfigFile,
    /// Keys that some phone of this model sets through raw settings.
    pub override_keys: BTreeSet<(String, String)>,
    /// What the family keeps for rendering this model's phones.
    pub private: Arc<dyn std::any::Any + Send + Sync>,
    /// Digest of what the model's phones share: entry point (release left out), shared files.
    pub shared_digest: String,
}

impl std::fmt::Debug for ModelFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelFiles")
            .field("model", &self.model)
            .field("entry_point", &self.entry_point)
            .field("shared_digest", &self.shared_digest)
            .finish_non_exhaustive()
    }
}

/// The web root's folder of content-named shared files (common files, telcfg).
pub const COMMON_DIR: &str = "common";

/// A name derived from content: `<stem>_<first 12 hex digits of its SHA-256><ext>`.
pub fn content_name(stem: &str, ext: &str, digest: &str) -> String {
    format!("{stem}_{}{ext}", &digest[..12])
}

/// Renders the shared files of every model on every firmware set the phones use.
pub fn render_models(
    templates: &Templates,
    inv: &Inventory,
    fw: &FirmwareFiles,
) -> Result<BTreeMap<Variant, ModelFiles>, String> {
    // The phones of each, in one pass (a site may have many firmware sets), in `Variant` order.
    let mut phones: BTreeMap<(ModelId, &str), Vec<&Phone>> = BTreeMap::new();
    for p in &inv.phones {
        phones
            .entry((p.model, p.firmware.as_str()))
            .or_default()
            .push(p);
    }
    phones
        .into_iter()
        .map(|((model, firmware), of)| {
            let v = Variant {
                model,
                firmware: firmware.to_string(),
            };
            let keys = override_keys(of.into_iter());
            let files = render_model_with(templates, &inv.site, &v, fw, keys)?;
            Ok((v, files))
        })
        .collect()
}

/// The entry point of a model on a firmware set: the model's own for its set, else
/// `<name>-<set><ending>` beside it (`ST2030S-st2030-pilot.inf`), which DHCP hands to the phones
/// of that rollout by MAC.
pub fn entry_point_name(cfg: &ModelCfg, variant: &Variant) -> String {
    if variant.firmware == cfg.firmware {
        return cfg.entry_point.clone();
    }
    let suffix = variant.model.family().entry_point_suffix();
    let stem = cfg
        .entry_point
        .strip_suffix(suffix)
        .unwrap_or(&cfg.entry_point);
    format!("{stem}-{}{suffix}", variant.firmware)
}

/// How the manifest names a model on a firmware set: the model's name for its own set,
/// `<model>@<set>` for another.
pub fn manifest_key(files: &ModelFiles) -> String {
    if files.default_set {
        files.model.name().to_string()
    } else {
        format!("{}@{}", files.model.name(), files.firmware_set)
    }
}

/// Keys some of these phones set through raw settings. The common file's name follows them too,
/// so that when a key stops being overridden the phones fetch the common file again (they cache
/// it by name).
pub fn override_keys<'a>(phones: impl Iterator<Item = &'a Phone>) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    for p in phones {
        for (s, kv) in &p.settings {
            for k in kv.keys() {
                keys.insert((s.clone(), k.clone()));
            }
        }
    }
    keys
}

/// Renders a model's shared files on a firmware set, given the keys its phones override.
pub fn render_model_with(
    templates: &Templates,
    site: &Site,
    variant: &Variant,
    fw: &FirmwareFiles,
    override_keys: BTreeSet<(String, String)>,
) -> Result<ModelFiles, String> {
    let model = variant.model;
    let cfg = site
        .models
        .get(&model)
        .ok_or_else(|| format!("model {model} is not configured"))?;
    let set = site
        .firmware
        .get(&variant.firmware)
        .ok_or_else(|| format!("unknown firmware set {}", variant.firmware))?;
    let firmware = set
        .firmware()
        .map(|(role, f)| FirmwareRef {
            role: role.name(),
            sha256: f.sha256.clone(),
            name: f.name.clone(),
            size: fw.store.get(&f.sha256).map(|c| c.size).unwrap_or(0),
        })
        .collect();
    let shared = model.family().render_shared(SharedInput {
        templates,
        site,
        model,
        cfg,
        set,
        firmware: fw,
        override_keys: &override_keys,
    })?;
    let mut files = ModelFiles {
        model,
        firmware_set: variant.firmware.clone(),
        default_set: variant.firmware == cfg.firmware,
        entry_point: entry_point_name(cfg, variant),
        firmware,
        shared: shared.files,
        settings: shared.settings,
        override_keys,
        private: shared.private,
        shared_digest: String::new(),
    };
    let entry = files.entry_point_bytes(templates, &site.base_url, RELEASE_SENTINEL)?;
    let mut digests = sha256_hex(&entry);
    for part in model.family().digest_parts(&files.shared) {
        digests.push_str(&sha256_hex(part));
    }
    files.shared_digest = sha256_hex(digests.as_bytes());
    Ok(files)
}

/// What templates may say about the site.
pub(crate) fn site_ctx(site: &Site) -> minijinja::Value {
    context! { name => site.name, base_url => site.base_url }
}

impl ModelFiles {
    /// The entry point for a release, with absolute URLs under `base_url`.
    pub fn entry_point_bytes(
        &self,
        templates: &Templates,
        base_url: &str,
        release: &str,
    ) -> Result<Vec<u8>, String> {
        self.model
            .family()
            .entry_point(self, templates, base_url, release)
    }

    /// The shared file of a role (`common`, `telcfg`).
    pub fn shared_file(&self, role: &str) -> Option<&SharedFile> {
        self.shared.iter().find(|f| f.role == role)
    }
}

/// A phone's passwords, resolved for this build.
#[derive(Debug, Clone)]
pub struct PhoneSecrets {
    pub lines: Vec<String>,
    pub admin: String,
    pub user: Option<String>,
}

/// A rendered phone file, config_sn not yet filled in.
#[derive(Debug, Clone)]
pub struct PhoneFile {
    pub body: Vec<u8>,
    /// SHA-256 over what the phone fetches, config_sn left out: its shared files and this file.
    pub digest: String,
    /// When the file was written to the staged release (its body then dropped): what was written.
    pub staged: Option<Staged>,
}

/// A phone file written with a config_sn guessed before the numbering (see `build`): where the
/// number sits, to put the right one in place if the guess was wrong, and what was written.
#[derive(Debug, Clone)]
pub struct Staged {
    pub sn_at: Vec<u32>,
    pub sha256: String,
    pub size: u64,
}

/// Renders and checks a phone's file.
pub fn render_phone(
    templates: &Templates,
    site: &Site,
    files: &ModelFiles,
    phone: &PhoneSpec,
    secrets: &PhoneSecrets,
    check: bool,
) -> Result<PhoneFile, String> {
    let PhoneBody {
        bytes: body,
        proven,
    } = phone_body(templates, site, files, phone, secrets)?;
    // Files to be written are checked; an older commit's, rendered only for its digest, are not.
    if check && !proven {
        check_phone_file(
            templates,
            phone,
            &fill_config_sn(body.clone(), "000000000000"),
        )?;
    }
    Ok(PhoneFile {
        digest: body_digest(files, &body),
        body,
        staged: None,
    })
}

/// A phone file's digest: its shared files' digest, then the file, config_sn left out.
fn body_digest(files: &ModelFiles, body: &[u8]) -> String {
    let mut d = Sha256::new();
    d.update(files.shared_digest.as_bytes());
    d.update(body);
    crate::hashing::hex(&d.finalize())
}

/// Renders a phone's file and puts it through the strict check, as [`render_phone`] does, for a
/// caller that keeps nothing of it (`provsite check`): no digest is computed.
pub fn check_phone(
    templates: &Templates,
    site: &Site,
    files: &ModelFiles,
    phone: &PhoneSpec,
    secrets: &PhoneSecrets,
) -> Result<(), String> {
    let body = phone_body(templates, site, files, phone, secrets)?;
    if body.proven {
        return Ok(());
    }
    check_phone_file(
        templates,
        phone,
        &fill_config_sn(body.bytes, "000000000000"),
    )
}

/// A phone's file as its family renders it, config_sn not yet filled in.
fn phone_body(
    templates: &Templates,
    site: &Site,
    files: &ModelFiles,
    phone: &PhoneSpec,
    secrets: &PhoneSecrets,
) -> Result<PhoneBody, String> {
    phone.model.family().render_phone(PhoneInput {
        templates,
        site,
        files,
        phone,
        secrets,
    })
}

/// [`render_phone`] for a file about to be written with `sn`: the file checked is the one written
/// (filled once), returned with the offsets of the number. The digest is the same as
/// [`render_phone`]'s (config_sn left out).
pub fn render_phone_filled(
    templates: &Templates,
    site: &Site,
    files: &ModelFiles,
    phone: &PhoneSpec,
    secrets: &PhoneSecrets,
    sn: &str,
) -> Result<(PhoneFile, Vec<u8>, Vec<u32>), String> {
    let PhoneBody { bytes, proven } = phone_body(templates, site, files, phone, secrets)?;
    let digest = body_digest(files, &bytes);
    let (filled, sn_at) = fill_config_sn_at(bytes, sn);
    // A proven file (see `PhoneBody`) leaves only its number to check: the stand-in's length,
    // in ASCII digits.
    let sn_digits = sn.len() == CONFIG_SN_SENTINEL.len() && sn.bytes().all(|b| b.is_ascii_digit());
    if !(proven && sn_digits) {
        check_phone_file(templates, phone, &filled)?;
    }
    let f = PhoneFile {
        body: Vec::new(),
        digest,
        staged: None,
    };
    Ok((f, filled, sn_at))
}

/// [`fill_config_sn`], and the offsets of the stand-in (where the number went: a config_sn has
/// the stand-in's length, and goes in place, without a copy of the file).
pub fn fill_config_sn_at(mut body: Vec<u8>, sn: &str) -> (Vec<u8>, Vec<u32>) {
    // The searcher is made once: making it is more work than a search of one file.
    static SENTINEL: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(CONFIG_SN_SENTINEL));
    let at: Vec<u32> = SENTINEL.find_iter(&body).map(|p| p as u32).collect();
    if sn.len() != CONFIG_SN_SENTINEL.len() {
        return (
            splice_config_sn(&body, at.iter().map(|&p| p as usize), sn),
            at,
        );
    }
    for &p in &at {
        let p = p as usize;
        if let Some(place) = body.get_mut(p..p + sn.len()) {
            place.copy_from_slice(sn.as_bytes());
        }
    }
    (body, at)
}

/// The family's strict check of a phone file, config_sn filled in.
fn check_phone_file(templates: &Templates, phone: &PhoneSpec, filled: &[u8]) -> Result<(), String> {
    let family = phone.model.family();
    family
        .validate_phone_file(phone.model, filled)
        .map_err(|p| {
            let template = family.phone_template();
            let origin = if templates.overridden.contains(template) {
                format!(" (rendered by the inventory's templates/{template}: fix the template)")
            } else {
                String::new()
            };
            format!(
                "the file of phone {} is not valid: {}{origin}",
                phone.mac,
                p.join("; ")
            )
        })
}

/// Puts the config_sn into a rendered phone file (every place the template wrote it).
pub fn fill_config_sn(body: Vec<u8>, sn: &str) -> Vec<u8> {
    fill_config_sn_at(body, sn).0
}

/// `body` with `sn` in place of the stand-in at each of `at` (in order, not overlapping).
fn splice_config_sn(body: &[u8], at: impl Iterator<Item = usize>, sn: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = 0;
    for p in at {
        out.extend_from_slice(&body[rest..p]);
        out.extend_from_slice(sn.as_bytes());
        rest = p + CONFIG_SN_SENTINEL.len();
    }
    out.extend_from_slice(&body[rest..]);
    out
}

/// The per-phone file name, as the family names it.
pub fn phone_file_name(phone: &PhoneSpec) -> String {
    phone
        .model
        .family()
        .phone_file_name(phone.model, &phone.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_config_sn() {
        let body = format!("[sys]\r\nconfig_sn={CONFIG_SN_SENTINEL}\r\n");
        assert_eq!(
            fill_config_sn(b"a@b@@c".to_vec(), "202611260003"),
            b"a@b@@c"
        );
        // Every place, and the offsets where the number went.
        let twice = format!("{CONFIG_SN_SENTINEL}@{CONFIG_SN_SENTINEL}{CONFIG_SN_SENTINEL}x");
        let (filled, at) = fill_config_sn_at(twice.clone().into_bytes(), "202611260003");
        assert_eq!(filled, b"202611260003@202611260003202611260003x");
        assert_eq!(at, [0, 13, 25]);
        // Another length is spliced in.
        let (filled, at) = fill_config_sn_at(twice.clone().into_bytes(), "1");
        assert_eq!(filled, b"1@11x");
        assert_eq!(at, [0, 13, 25]);
        assert_eq!(
            fill_config_sn(body.into_bytes(), "202611260003"),
            b"[sys]\r\nconfig_sn=202611260003\r\n"
        );
    }

    #[test]
    fn content_names_follow_content() {
        assert_eq!(
            content_name("ST2030S_common", ".txt", &sha256_hex(b"a")),
            "ST2030S_common_ca978112ca1b.txt"
        );
        assert_ne!(
            content_name("x", ".txt", &sha256_hex(b"a")),
            content_name("x", ".txt", &sha256_hex(b"b"))
        );
    }
}
