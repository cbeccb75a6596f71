//! A test-only phone family, the Acme AC1, with its own file names, format (UTF-8 `section.key =
//! value` lines), templates, vocabulary, User-Agent and boot: it proves that the pipeline knows
//! phones only through [`PhoneFamily`]. Its test builds a site of AC1 phones, serves it, probes a
//! phone through it and diffs two commits, with no pipeline code aware of Acme.

use std::sync::Arc;

use minijinja::context;

use crate::family::keys::Section;
use crate::family::{
    BootFile, BootPlan, ConfigFile, DhcpMatch, Key, Line, ModelId, ModelInfo, PhoneAgent,
    PhoneBody, PhoneFamily, PhoneInput, PhoneView, Shared, SharedFile, SharedInput, Vocabulary,
};
use crate::hashing::sha256_hex;
use crate::inventory::FnKey;
use crate::render::{content_name, ModelFiles, Templates, COMMON_DIR, CONFIG_SN_SENTINEL};

pub struct Fake;

const VOCABULARY: &str = "\
general title
general config_sn
line1 user
line1 secret
line1 server
line2 user
line2 secret
line2 server
keys k1
keys k2
";

const MODELS: &[ModelInfo] = &[ModelInfo {
    name: "AC1",
    aliases: &["ACME1"],
    entry_point: "ac1.boot",
    lines: 2,
    function_keys: 2,
    vocabulary: || Vocabulary::parse(VOCABULARY, &[], &[]),
}];

const TEMPLATES: &[(&str, &str)] = &[
    (
        "acme/boot",
        "firmware = {{ firmware }}\ndefaults = {{ defaults }}\nconfig = {{ config }}\n",
    ),
    (
        "acme/phone.conf",
        "{% for l in lines %}line{{ loop.index }}.user = {{ l.user }}\n\
         line{{ loop.index }}.secret = {{ l.secret }}\n\
         line{{ loop.index }}.server = {{ server }}\n{% endfor %}\
         {% for k in keys %}keys.k{{ k.0 }} = {{ k.1 }}\n{% endfor %}\
         general.config_sn = {{ config_sn }}\n",
    ),
];

/// `section.key = value` lines; `strict` refuses unknown keys and blank values of config_sn.
fn parse(bytes: &[u8], vocabulary: Option<&Vocabulary>) -> Result<ConfigFile, Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|_| vec!["not UTF-8".to_string()])?;
    let mut file = ConfigFile::default();
    let mut problems = Vec::new();
    for (n, line) in (1..).zip(text.lines()) {
        let Some((name, value)) = line.split_once(" = ") else {
            problems.push(format!("line {n}: not `section.key = value`"));
            continue;
        };
        let Some((section, key)) = name.split_once('.') else {
            problems.push(format!("line {n}: `{name}` has no section"));
            continue;
        };
        if vocabulary.is_some_and(|v| !v.has_key(section, key)) {
            problems.push(format!("line {n}: unknown key {name}"));
        }
        if file.sections.last().is_none_or(|s| s.name != section) {
            file.sections.push(Section {
                name: section.to_string(),
                entries: Vec::new(),
            });
        }
        if let Some(s) = file.sections.last_mut() {
            s.entries.push((key.to_string(), value.to_string()));
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(problems)
    }
}

impl PhoneFamily for Fake {
    fn name(&self) -> &'static str {
        "acme"
    }

    fn models(&self) -> &'static [ModelInfo] {
        MODELS
    }

    fn entry_point_suffix(&self) -> &'static str {
        ".boot"
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn phone_template(&self) -> &'static str {
        "acme/phone.conf"
    }

    fn managed_key(&self, section: &str, _key: &str) -> Option<&'static str> {
        matches!(section, "line1" | "line2" | "keys").then_some("set lines and keys instead")
    }

    fn is_password_key(&self, _section: &str, key: &str) -> bool {
        key == "secret"
    }

    fn render_shared(&self, input: SharedInput<'_>) -> Result<Shared, String> {
        let text = format!("general.title = {}\n", input.site.name);
        let settings = parse(text.as_bytes(), None).map_err(|p| p.join("; "))?;
        let name = content_name("ac1-defaults", ".conf", &sha256_hex(text.as_bytes()));
        Ok(Shared {
            files: vec![SharedFile {
                role: "defaults",
                name,
                bytes: text.into_bytes(),
            }],
            settings,
            private: Arc::new(()),
        })
    }

    fn entry_point(
        &self,
        files: &ModelFiles,
        templates: &Templates,
        base_url: &str,
        release: &str,
    ) -> Result<Vec<u8>, String> {
        let app = files
            .firmware
            .first()
            .map(|f| f.store_path())
            .unwrap_or_default();
        let defaults = files
            .shared_file("defaults")
            .map_or("", |f| f.name.as_str());
        templates
            .render(
                "acme/boot",
                context! {
                    firmware => format!("{base_url}{app}"),
                    defaults => format!("{base_url}{COMMON_DIR}/{defaults}"),
                    config => format!("{base_url}releases/{release}/config/"),
                },
            )
            .map(String::into_bytes)
    }

    fn render_phone(&self, input: PhoneInput<'_>) -> Result<PhoneBody, String> {
        let PhoneInput {
            templates,
            phone,
            secrets,
            ..
        } = input;
        let lines: Vec<_> = phone
            .lines
            .iter()
            .zip(&secrets.lines)
            .map(|(l, s)| context! { user => l.user, secret => s })
            .collect();
        let keys: Vec<(u32, String)> = phone
            .keys
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FnKey::Blf(t) => format!("watch:{t}"),
                    FnKey::SpeedDial(t) => format!("dial:{t}"),
                };
                (*k, v)
            })
            .collect();
        templates
            .render(
                "acme/phone.conf",
                context! {
                    lines => lines, keys => keys, server => phone.scope.pbx.host,
                    config_sn => CONFIG_SN_SENTINEL,
                },
            )
            .map(|text| PhoneBody {
                bytes: text.into_bytes(),
                proven: false,
            })
    }

    fn check_phone_file(&self, model: ModelId, bytes: &[u8]) -> Result<ConfigFile, Vec<String>> {
        let file = parse(bytes, Some(model.vocabulary()))?;
        match file.get("general", "config_sn") {
            Some(sn) if sn.len() == 12 && sn.bytes().all(|b| b.is_ascii_digit()) => Ok(file),
            _ => Err(vec!["no 12-digit general.config_sn".to_string()]),
        }
    }

    fn read_file(&self, bytes: &[u8]) -> Result<ConfigFile, String> {
        parse(bytes, None).map_err(|p| p.join("; "))
    }

    fn phone_file_name(&self, _model: ModelId, mac: &str) -> String {
        format!("ac1-{}.conf", mac.to_ascii_lowercase())
    }

    fn file_mac(&self, file_name: &str) -> Option<String> {
        let mac = file_name.strip_prefix("ac1-")?.strip_suffix(".conf")?;
        (mac.len() == 12 && mac.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| mac.to_ascii_uppercase())
    }

    fn parse_agent(&self, user_agent: &str) -> Option<PhoneAgent> {
        // `Acme AC1/1.0 (001122334455)`
        let rest = user_agent.strip_prefix("Acme ")?;
        let (model, rest) = rest.split_once('/')?;
        let (firmware, mac) = rest.split_once(" (")?;
        let mac = mac.strip_suffix(')')?;
        Some(PhoneAgent {
            model: model.to_string(),
            hardware: String::new(),
            firmware: firmware.to_string(),
            mac: mac.to_ascii_uppercase(),
        })
    }

    fn typical_agent(&self, model: ModelId, mac: &str) -> String {
        format!("Acme {}/1.0 ({mac})", model.name())
    }

    fn model_of_entry_point(&self, file_name: &str) -> Option<ModelId> {
        (file_name == "ac1.boot").then(|| ModelId::parse("AC1"))?
    }

    fn boot_plan(&self, _model: ModelId, entry_point: &[u8]) -> Result<BootPlan, Vec<String>> {
        let text = std::str::from_utf8(entry_point).map_err(|_| vec!["not UTF-8".into()])?;
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
                .map(str::to_string)
                .ok_or_else(|| vec![format!("no {key}")])
        };
        Ok(BootPlan {
            files: vec![
                BootFile {
                    step: "firmware".into(),
                    url: get("firmware")?,
                    firmware: true,
                },
                BootFile {
                    step: "defaults".into(),
                    url: get("defaults")?,
                    firmware: false,
                },
            ],
            config_folder: get("config")?,
        })
    }

    fn check_boot_file(
        &self,
        _model: ModelId,
        step: &str,
        bytes: &[u8],
    ) -> Result<Option<ConfigFile>, Vec<String>> {
        match step {
            "defaults" => parse(bytes, None).map(Some),
            _ => Ok(None),
        }
    }

    fn side_files(&self, _model: ModelId, _mac: &str) -> Vec<(String, &'static str)> {
        Vec::new()
    }

    fn view(&self, _model: ModelId, own: &ConfigFile, shared: &[&ConfigFile]) -> PhoneView {
        let get = |s: &str, k: &str| {
            std::iter::once(own)
                .chain(shared.iter().copied())
                .find_map(|f| f.get(s, k))
                .unwrap_or_default()
                .to_string()
        };
        let lines = (1..=2)
            .filter(|n| !get(&format!("line{n}"), "user").is_empty())
            .map(|n| {
                let section = format!("line{n}");
                Line {
                    slot: n,
                    user: get(&section, "user"),
                    auth_user: get(&section, "user"),
                    registrar: get(&section, "server"),
                    port: "5060".into(),
                    transport: "udp".into(),
                    display_name: get("general", "title"),
                }
            })
            .collect();
        let keys = (1..=2u32)
            .filter_map(|k| {
                let v = get("keys", &format!("k{k}"));
                let (kind, target) = v.split_once(':')?;
                Some(Key {
                    number: k,
                    kind: if kind == "watch" { "blf" } else { "speed_dial" }.into(),
                    target: target.to_string(),
                })
            })
            .collect();
        PhoneView {
            config_sn: get("general", "config_sn"),
            lines,
            keys,
            timezone: None,
            language_type: None,
            settings: Vec::new(),
        }
    }

    fn dhcp_match(&self, model: ModelId) -> DhcpMatch {
        DhcpMatch {
            user_class: format!("Acme {}", model.name()),
            vendor_class: format!("Acme&{}", model.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::build::{self, Options, Quiet};
    use crate::probe::{self, Client, PhoneTarget};
    use crate::serve::{self, ServeOptions};

    const MAC: &str = "0A1B2C3D4E5F";

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .env("GIT_AUTHOR_DATE", "@1790000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1790000000 +0000")
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    fn site(app: &[u8]) -> String {
        format!(
            "name: Acme office\n\
             base_url: http://prov.test/\n\
             timezone: Europe/Paris\n\
             language: fr\n\
             pbx: {{host: pbx.acme.test}}\n\
             admin_password: Acme-admin-7431\n\
             firmware:\n  ac:\n    model: AC1\n\
             \x20   app: {{file: firmware/app.bin, sha256: \"{}\"}}\n\
             \x20   dsp: {{file: firmware/app.bin, sha256: \"{}\"}}\n\
             \x20   boot: {{file: firmware/app.bin, sha256: \"{}\"}}\n\
             models:\n  AC1: {{firmware: ac}}\n",
            sha256_hex(app),
            sha256_hex(app),
            sha256_hex(app)
        )
    }

    fn write(root: &Path, rel: &str, text: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_second_family_builds_serves_probes_and_diffs_through_the_pipeline() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        let app = b"acme firmware 1.0";
        write(&repo, "inventory/firmware/app.bin", app);
        write(&repo, "inventory/site.yaml", site(app).as_bytes());
        let phones = |user: &str| {
            format!("- mac: \"0a:1b:2c:3d:4e:5f\"\n  model: AC1\n  lines: [{{user: \"{user}\"}}]\n  keys: {{1: {{blf: \"2002\"}}}}\n")
        };
        write(
            &repo,
            "inventory/phones/office.yaml",
            phones("2001").as_bytes(),
        );
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "acme"]);
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, "acme-site-secret-0123456789").unwrap();
        let opts = Options {
            inventory: repo.join("inventory"),
            out: tmp.path().join("public"),
            secret_file: Some(secret),
            ..Options::default()
        };

        // Build: the family's entry point, shared file and phone file, named its way.
        let summary = build::build(&opts, &Quiet).expect("the AC1 site builds");
        let out = &opts.out;
        let entry = std::fs::read_to_string(out.join("ac1.boot")).unwrap();
        assert!(
            entry.starts_with("firmware = http://prov.test/firmware/"),
            "{entry}"
        );
        let phone_file = out
            .join("releases")
            .join(&summary.release)
            .join("config/ac1-0a1b2c3d4e5f.conf");
        let text = std::fs::read_to_string(&phone_file).unwrap();
        assert!(text.contains("line1.user = 2001\n"), "{text}");
        assert!(text.contains("line1.server = pbx.acme.test\n"), "{text}");
        assert!(text.contains("keys.k1 = watch:2002\n"), "{text}");
        assert!(
            text.contains(&format!("general.config_sn = {}\n", summary.config_sn)),
            "{text}"
        );

        // Serve and probe: the phone's boot, as the family describes it.
        let (tx, rx) = std::sync::mpsc::channel();
        let root = out.clone();
        std::thread::spawn(move || {
            let opts = ServeOptions {
                root,
                listen: "127.0.0.1:0".into(),
                ..ServeOptions::default()
            };
            serve::run(&opts, |addr| tx.send(addr).unwrap())
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("serve starts");
        let client = Client::new(Some(addr));
        let report = probe::probe(
            &client,
            &PhoneTarget {
                entry_url: "http://prov.test/ac1.boot".into(),
                mac: MAC.into(),
                model: None,
                user_agent: None,
            },
        )
        .expect("the AC1 phone boots");
        assert_eq!(report.model, "AC1");
        assert_eq!(report.user_agent, "Acme AC1/1.0 (0A1B2C3D4E5F)");
        assert_eq!(report.config_sn, summary.config_sn);
        assert_eq!(report.lines.len(), 1);
        assert_eq!(report.lines[0].user, "2001");
        assert_eq!(report.lines[0].display_name, "Acme office");
        assert_eq!(report.keys[0].kind, "blf");
        assert!(
            report.files.iter().all(|f| f.verified),
            "{:?}",
            report.files
        );
        assert_eq!(
            report
                .files
                .iter()
                .map(|f| f.role.as_str())
                .collect::<Vec<_>>(),
            ["firmware", "defaults", "phone file"]
        );

        // Diff: a changed line shows as the family's keys, its password hidden.
        write(
            &repo,
            "inventory/phones/office.yaml",
            phones("2011").as_bytes(),
        );
        git(&repo, &["commit", "-q", "-am", "renumber"]);
        let d = crate::diff::diff(&opts, "HEAD~1", "HEAD").expect("diff runs");
        assert_eq!(d.reload, [MAC]);
        let changes = &d.changed[0].changes;
        let user = changes
            .iter()
            .find(|c| c.key == "user")
            .expect("user changed");
        assert_eq!(
            (user.before.as_deref(), user.after.as_deref()),
            (Some("2001"), Some("2011"))
        );
        let secret = changes
            .iter()
            .find(|c| c.key == "secret")
            .expect("password changed");
        assert_eq!(secret.after.as_deref(), Some("(hidden)"));
        assert!(!changes.iter().any(|c| c.key == "config_sn"));
    }
}
