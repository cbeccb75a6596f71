//! Reading Asterisk configuration files as Asterisk reads them: `;` comments (`\;` is a literal
//! semicolon), `;-- ... --;` block comments (nested), `[section]`, templates `[name](!)` and
//! inheritance `[name](tmpl1,tmpl2)`, `[name](+)` to add to a section, `key = value` and
//! `key => value`, repeated keys, and `#include` / `#tryinclude` relative to the including file
//! with cycles detected. `#exec` runs a program: it is refused.

use std::path::{Path, PathBuf};

/// Where something was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub at: At,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub at: At,
    pub template: bool,
    pub inherits: Vec<String>,
    /// Own entries only; see [`Config::effective`] for the inherited ones.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last value of a key (Asterisk's "last one wins" for single-valued options).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| e.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub at: At,
    pub message: String,
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub sections: Vec<Section>,
}

impl Config {
    /// Reads a file and everything it includes.
    pub fn read(path: &Path) -> Result<Config, ConfError> {
        let mut cfg = Config::default();
        let mut stack = Vec::new();
        let mut budget = Budget::default();
        read_into(&mut cfg, path, &mut stack, None, &mut budget)?;
        Ok(cfg)
    }

    /// Parses text as if it were a file at `name` (includes are resolved from its folder).
    pub fn parse(name: &Path, text: &str) -> Result<Config, ConfError> {
        let mut cfg = Config::default();
        let mut stack = vec![name.to_path_buf()];
        let mut budget = Budget::default();
        parse_into(&mut cfg, name, text, &mut stack, &mut budget)?;
        Ok(cfg)
    }

    /// The sections that are not templates.
    pub fn concrete(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(|s| !s.template)
    }

    /// A section with its templates' entries first (in the order inherited, recursively), as
    /// Asterisk builds it.
    pub fn effective(&self, s: &Section) -> Section {
        let mut out = s.clone();
        out.entries = Vec::new();
        self.inherit(s, &mut out.entries, 0);
        out
    }

    fn inherit(&self, s: &Section, into: &mut Vec<Entry>, depth: usize) {
        if depth < 32 {
            for t in &s.inherits {
                // The template defined last before the section wins, as in Asterisk.
                if let Some(tmpl) = self
                    .sections
                    .iter()
                    .rev()
                    .find(|o| &o.name == t && !std::ptr::eq(*o, s))
                {
                    self.inherit(tmpl, into, depth + 1);
                }
            }
        }
        into.extend(s.entries.iter().cloned());
    }
}

/// How deep `#include`s may nest (Asterisk's own sample configurations use 2).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// How many files one import may read, counting a file each time it is included: diamond-shaped
/// includes (each file including the next one twice) would otherwise read 2^depth files.
pub const MAX_FILES_READ: usize = 512;
/// The largest file read, and the most bytes read in all.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;

/// What one read of a configuration may still take.
#[derive(Default)]
struct Budget {
    files: usize,
    bytes: u64,
}

fn read_into(
    cfg: &mut Config,
    path: &Path,
    stack: &mut Vec<PathBuf>,
    from: Option<&At>,
    budget: &mut Budget,
) -> Result<(), ConfError> {
    let here = || {
        from.cloned().unwrap_or(At {
            file: path.display().to_string(),
            line: 0,
        })
    };
    if stack.len() >= MAX_INCLUDE_DEPTH {
        return Err(ConfError {
            at: here(),
            message: format!("#include nests deeper than {MAX_INCLUDE_DEPTH} files"),
        });
    }
    budget.files += 1;
    if budget.files > MAX_FILES_READ {
        return Err(ConfError {
            at: here(),
            message: format!(
                "more than {MAX_FILES_READ} files read through #include (the same files included again and again?)"
            ),
        });
    }
    let canonical = path.canonicalize().map_err(|e| ConfError {
        at: from.cloned().unwrap_or(At {
            file: path.display().to_string(),
            line: 0,
        }),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    if stack.contains(&canonical) {
        let chain: Vec<String> = stack
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfError {
            at: from.cloned().unwrap_or(At {
                file: path.display().to_string(),
                line: 0,
            }),
            message: format!("#include cycle: {}", chain.join(" -> ")),
        });
    }
    // A regular file of bounded size: not a FIFO (which would block forever), a device
    // (/dev/zero never ends) or a folder.
    let meta = std::fs::metadata(&canonical).map_err(|e| ConfError {
        at: here(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    if !meta.is_file() {
        return Err(ConfError {
            at: here(),
            message: format!("{} is not a regular file", path.display()),
        });
    }
    if meta.len() > MAX_FILE_BYTES || budget.bytes + meta.len() > MAX_TOTAL_BYTES {
        return Err(ConfError {
            at: here(),
            message: format!(
                "{} is too large ({} bytes; an Asterisk configuration file takes at most {} MiB, {} MiB in all)",
                path.display(),
                meta.len(),
                MAX_FILE_BYTES >> 20,
                MAX_TOTAL_BYTES >> 20
            ),
        });
    }
    budget.bytes += meta.len();
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    {
        use std::io::Read;
        std::fs::File::open(&canonical)
            .and_then(|f| f.take(MAX_FILE_BYTES).read_to_end(&mut bytes))
            .map_err(|e| ConfError {
                at: here(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
    }
    // Asterisk reads bytes; UTF-8 is today's norm, Latin-1 is taken as such.
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    stack.push(canonical);
    let r = parse_into(cfg, path, &text, stack, budget);
    stack.pop();
    // A file pulled in by #include whose name is not `*.conf` may be anything (/etc/shadow, say):
    // a problem in it is located, but none of its text is shown back.
    let config_name = path.extension().is_some_and(|x| x == "conf");
    r.map_err(|mut e| {
        if from.is_some() && !config_name && e.at.file == path.display().to_string() {
            e.message = format!(
                "line {} of {} is not Asterisk configuration syntax (its text is not shown: the file is not named *.conf)",
                e.at.line,
                path.display()
            );
        }
        e
    })
}

/// Strips a comment: `;` ends the line unless escaped as `\;`; block comments `;--` … `--;` nest.
/// Returns the text outside comments, and updates the block depth across lines.
fn strip_comments(line: &str, depth: &mut usize) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        if *depth > 0 {
            if line[i..].starts_with("--;") {
                *depth -= 1;
                i += 3;
            } else if line[i..].starts_with(";--") {
                *depth += 1;
                i += 3;
            } else {
                i += line[i..].chars().next().map_or(1, char::len_utf8);
            }
            continue;
        }
        if line[i..].starts_with(";--") {
            *depth += 1;
            i += 3;
            continue;
        }
        if b[i] == b'\\' && b.get(i + 1) == Some(&b';') {
            out.push(';');
            i += 2;
            continue;
        }
        if b[i] == b';' {
            break;
        }
        let c = line[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn parse_into(
    cfg: &mut Config,
    path: &Path,
    text: &str,
    stack: &mut Vec<PathBuf>,
    budget: &mut Budget,
) -> Result<(), ConfError> {
    let file = path.display().to_string();
    let mut depth = 0usize;
    let mut current: Option<usize> = cfg.sections.len().checked_sub(1);
    for (i, raw) in text.lines().enumerate() {
        let at = At {
            file: file.clone(),
            line: i + 1,
        };
        let err = |message: String| ConfError {
            at: at.clone(),
            message,
        };
        let line = strip_comments(raw.trim_end_matches('\r'), &mut depth);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(directive) = line.strip_prefix('#') {
            let (word, arg) = directive
                .split_once(|c: char| c.is_whitespace())
                .unwrap_or((directive, ""));
            let arg = arg
                .trim()
                .trim_matches(|c| c == '"' || c == '<' || c == '>');
            match word {
                "include" | "tryinclude" => {
                    if arg.is_empty() {
                        return Err(err(format!("#{word} names no file")));
                    }
                    if arg.contains(['*', '?', '[']) {
                        return Err(err(format!(
                            "#{word} {arg}: wildcards are not supported; name each file"
                        )));
                    }
                    let target = match Path::new(arg) {
                        p if p.is_absolute() => p.to_path_buf(),
                        p => path.parent().unwrap_or(Path::new(".")).join(p),
                    };
                    if word == "tryinclude" && !target.exists() {
                        continue;
                    }
                    read_into(cfg, &target, stack, Some(&at), budget)?;
                    current = cfg.sections.len().checked_sub(1);
                }
                "exec" | "tryexec" => {
                    return Err(err(format!(
                        "#{word} {arg}: runs a program, which provsite import refuses; run it yourself and save its output to a file to import"
                    )))
                }
                _ => return Err(err(format!("unknown directive #{word}"))),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(err(format!("`{line}`: a section header needs a closing ]")));
            };
            let name = rest[..close].trim().to_string();
            if name.is_empty() {
                return Err(err("an empty section name []".to_string()));
            }
            let after = rest[close + 1..].trim();
            let mut template = false;
            let mut inherits = Vec::new();
            let mut add_to = false;
            if !after.is_empty() {
                let Some(opts) = after.strip_prefix('(').and_then(|a| a.strip_suffix(')')) else {
                    return Err(err(format!(
                        "`{line}`: after [{name}] only (!), (+) or (template, ...) may follow"
                    )));
                };
                for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    match o {
                        "!" => template = true,
                        "+" => add_to = true,
                        t => inherits.push(t.to_string()),
                    }
                }
            }
            for t in &inherits {
                if !cfg.sections.iter().any(|s| &s.name == t) {
                    return Err(err(format!(
                        "[{name}] inherits from `{t}`, which is not defined before it"
                    )));
                }
            }
            if add_to {
                match cfg.sections.iter().rposition(|s| s.name == name) {
                    Some(i) => {
                        current = Some(i);
                        continue;
                    }
                    None => {
                        return Err(err(format!(
                            "[{name}](+) adds to a section that does not exist yet"
                        )))
                    }
                }
            }
            cfg.sections.push(Section {
                name,
                at: at.clone(),
                template,
                inherits,
                entries: Vec::new(),
            });
            current = Some(cfg.sections.len() - 1);
            continue;
        }
        let (key, value) = match (line.find("=>"), line.find('=')) {
            (Some(a), Some(b)) if a == b => (&line[..a], &line[a + 2..]),
            (_, Some(b)) => (&line[..b], &line[b + 1..]),
            _ => {
                return Err(err(format!(
                    "`{line}` is neither [section], key = value nor a #directive"
                )))
            }
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(err(format!("`{line}`: a value with no key")));
        }
        let Some(idx) = current else {
            return Err(err(format!("`{line}` comes before any [section]")));
        };
        cfg.sections[idx].entries.push(Entry {
            key: key.to_string(),
            value: value.trim().to_string(),
            at,
        });
    }
    if depth > 0 {
        return Err(ConfError {
            at: At {
                file,
                line: text.lines().count(),
            },
            message: "a ;-- block comment is never closed with --;".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("test.conf"), text).unwrap()
    }

    #[test]
    fn comments_templates_and_arrows() {
        let c = parse(
            "; a comment\n[tmpl](!)\ncontext=phones ; trailing\ntype=endpoint\n;-- a block\n[hidden]\nx=1\n --;\n[1001](tmpl)\ncallerid=\"A\\;B\" <1001>\nallow=alaw\nallow=ulaw\nexten => 1001,1,Dial(PJSIP/1001)\n[1001](+)\nmore=yes\n",
        );
        let concrete: Vec<&Section> = c.concrete().collect();
        assert_eq!(concrete.len(), 1);
        let s = c.effective(concrete[0]);
        assert_eq!(s.get("context"), Some("phones"));
        assert_eq!(s.get("type"), Some("endpoint"));
        assert_eq!(s.get("callerid"), Some("\"A;B\" <1001>"));
        assert_eq!(s.get("exten"), Some("1001,1,Dial(PJSIP/1001)"));
        assert_eq!(s.get("more"), Some("yes"));
        assert_eq!(
            s.entries.iter().filter(|e| e.key == "allow").count(),
            2,
            "repeated keys are kept"
        );
        assert!(s.get("x").is_none(), "block comments hide sections");
        assert_eq!(concrete[0].at.line, 9);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, want) in [
            ("[a]\n#exec /bin/date\n", 2, "refuses"),
            ("[a](nope)\n", 1, "not defined"),
            ("x=1\n", 1, "before any [section]"),
            ("[a]\njunk\n", 2, "neither"),
            ("[a]\n;-- open\n", 2, "never closed"),
            ("[a\n", 1, "closing ]"),
        ] {
            let e = Config::parse(Path::new("t.conf"), text).unwrap_err();
            assert_eq!(e.at.line, line, "{text}: {e}");
            assert!(e.message.contains(want), "{text}: {e}");
        }
    }

    /// Whatever the text, the reader answers with a config or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics() {
        let alphabet: Vec<char> = "[]()!+,;-=>#\\\"\n\r\t aéx1include exec".chars().collect();
        let mut next = crate::test_rng::below();
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..next(80) {
                text.push(alphabet[next(alphabet.len())]);
            }
            // Random #include lines name files that do not exist, relative to a folder that does
            // not either: they are errors too.
            let _ = Config::parse(Path::new("/nonexistent-provsite/random.conf"), &text);
        }
    }

    #[test]
    fn includes_are_relative_and_cycles_found() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(
            d.path().join("main.conf"),
            "[a]\nx=1\n#include \"sub/more.conf\"\n#tryinclude missing.conf\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("sub/more.conf"),
            "[b]\ny=2\n#include deeper.conf\n",
        )
        .unwrap();
        std::fs::write(d.path().join("sub/deeper.conf"), "[c]\nz=3\n").unwrap();
        let c = Config::read(&d.path().join("main.conf")).unwrap();
        let names: Vec<&str> = c.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(c.sections[2].at.file.ends_with("sub/deeper.conf"));

        std::fs::write(
            d.path().join("sub/deeper.conf"),
            "[c]\n#include ../main.conf\n",
        )
        .unwrap();
        let e = Config::read(&d.path().join("main.conf")).unwrap_err();
        assert!(e.message.contains("#include cycle"), "{e}");
        assert_eq!(e.at.line, 2);
    }

    #[test]
    fn diamond_includes_are_bounded() {
        // f0 includes f1 twice, f1 includes f2 twice, ...: 2^levels reads without a bound.
        for (levels, why) in [(30, "nests deeper"), (14, "files read")] {
            let d = tempfile::tempdir().unwrap();
            for i in 0..levels {
                std::fs::write(
                    d.path().join(format!("f{i}.conf")),
                    format!(
                        "[s{i}]\n#include f{n}.conf\n#include f{n}.conf\n",
                        n = i + 1
                    ),
                )
                .unwrap();
            }
            std::fs::write(d.path().join(format!("f{levels}.conf")), "[end]\n").unwrap();
            let e = Config::read(&d.path().join("f0.conf")).unwrap_err();
            assert!(e.message.contains(why), "{levels}: {e}");
        }
    }

    #[test]
    fn devices_fifos_and_foreign_files_are_refused_without_echo() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("main.conf");
        std::fs::write(&main, "[a]\n#include /dev/zero\n").unwrap();
        let e = Config::read(&main).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let fifo = d.path().join("fifo.conf");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::fs::write(&main, "[a]\n#include fifo.conf\n").unwrap();
        let e = Config::read(&main).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let shadow = d.path().join("shadow");
        std::fs::write(&shadow, "root:$6$secret-hash:19000:0:99999:7:::\n").unwrap();
        std::fs::write(&main, "[a]\n#include shadow\n").unwrap();
        let e = Config::read(&main).unwrap_err();
        assert!(!e.to_string().contains("secret-hash"), "{e}");
        assert!(e.message.contains("not shown"), "{e}");
    }
}
