//! Locating diagnostics in the files they concern.

#[allow(unused_imports)]
use super::*;

/// The text of a file whose text was not read with the others (see
/// [`crate::source::Source::read_inventory_known`]), read when a problem must be located in it.
pub trait LateText: Sync {
    fn text(&self, file: &str) -> Option<Arc<str>>;
}

/// Every text read with the others.
impl LateText for () {
    fn text(&self, _: &str) -> Option<Arc<str>> {
        None
    }
}

/// Locates diagnostics in the files they concern.
pub(super) struct Reporter<'a> {
    texts: HashMap<&'a str, &'a str>,
    /// For a file whose text is empty here (not read).
    late: &'a dyn LateText,
    pub(super) diags: Vec<Diagnostic>,
    /// Errors among `diags`, counted as they come (asked once per phone).
    errors: usize,
}

impl<'a> Reporter<'a> {
    pub(super) fn new() -> Self {
        Self::with_late(&())
    }

    pub(super) fn with_late(late: &'a dyn LateText) -> Self {
        Reporter {
            texts: HashMap::new(),
            late,
            diags: Vec::new(),
            errors: 0,
        }
    }

    /// How many errors were reported so far.
    pub(super) fn error_count(&self) -> usize {
        self.errors
    }

    /// Takes diagnostics found elsewhere (another reporter's), counting their errors.
    pub(super) fn extend(&mut self, diags: Vec<Diagnostic>) {
        self.errors += diags.iter().filter(|d| d.is_error()).count();
        self.diags.extend(diags);
    }

    pub(super) fn add_text(&mut self, src: &'a SourceText) {
        self.texts.insert(&src.path, &src.text);
    }

    pub(super) fn position(&self, file: &str, path: &[Seg], value: bool) -> Option<(usize, usize)> {
        let late;
        let text = match self.texts.get(file) {
            Some(t) if !t.is_empty() => *t,
            _ => {
                late = self.late.text(file)?;
                &*late
            }
        };
        if value {
            yaml_locate::locate_value(text, path)
        } else {
            yaml_locate::locate(text, path)
        }
    }

    pub(super) fn push(&mut self, d: Diagnostic, path: &[Seg], at_value: bool, hint: String) {
        let pos = self.position(&d.file, path, at_value);
        let d = d.at(pos);
        self.errors += usize::from(d.is_error());
        self.diags
            .push(if hint.is_empty() { d } else { d.hint(hint) });
    }

    /// An error at the value found at `path` in `file`.
    pub(super) fn error(
        &mut self,
        file: &str,
        path: &[Seg],
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::error(file, msg), path, true, hint.into());
    }

    /// An error at the key of `path` (for a field that should not be there).
    pub(super) fn error_at_key(
        &mut self,
        file: &str,
        path: &[Seg],
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::error(file, msg), path, false, hint.into());
    }

    pub(super) fn warning(
        &mut self,
        file: &str,
        path: &[Seg],
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::warning(file, msg), path, true, hint.into());
    }

    /// Checks inventory text against its field's rules ([`text_rules`]); false when it fails.
    pub(super) fn text(
        &mut self,
        file: &str,
        path: &[Seg],
        field: Field,
        what: &str,
        value: &str,
    ) -> bool {
        match text_rules::check(field, value) {
            Ok(()) => true,
            Err(why) => {
                self.error(
                    file,
                    path,
                    format!("bad {what} `{}`: {why}", text_rules::shown(value)),
                    format!("write {what} with {}", field_hint(field)),
                );
                false
            }
        }
    }

    /// [`Reporter::text`], the path made only when there is something to report (resolving
    /// 100,000 phones checks a few texts each).
    pub(super) fn text_at(
        &mut self,
        file: &str,
        path: impl FnOnce() -> Vec<Seg>,
        field: Field,
        what: &str,
        value: &str,
    ) -> bool {
        if text_rules::check(field, value).is_ok() {
            return true;
        }
        self.text(file, &path(), field, what, value)
    }

    pub(super) fn here(&self, file: &str, path: &[Seg]) -> String {
        match self.position(file, path, true) {
            Some((l, c)) => format!("{file}:{l}:{c}"),
            None => file.to_string(),
        }
    }
}

/// Locates a diagnostic about something recorded with an [`Origin`].
pub fn diagnostic_at(
    srcs: &[&SourceText],
    late: &dyn LateText,
    origin: &Origin,
    d: Diagnostic,
) -> Diagnostic {
    let pos = match srcs.iter().find(|s| s.path == origin.file) {
        Some(s) if !s.text.is_empty() => yaml_locate::locate_value(&s.text, &origin.path),
        _ => late
            .text(&origin.file)
            .and_then(|t| yaml_locate::locate_value(&t, &origin.path)),
    };
    Diagnostic {
        file: origin.file.clone(),
        ..d
    }
    .at(pos)
}
