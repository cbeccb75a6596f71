//! Errors users can cause, and diagnostics that point at file, line and column with a hint.

use std::fmt;
use std::path::PathBuf;

/// How serious a diagnostic is: errors stop the build, warnings are printed and the build goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the inventory, located in a file of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Path relative to the repository root, e.g. `inventory/phones/sales.yaml`.
    pub file: String,
    /// 1-based line and column; 0 when the problem concerns the whole file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, message)
        }
    }

    pub fn at(mut self, pos: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = pos {
            self.line = line;
            self.column = column;
        }
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Messages quote inventory text: control characters in it are shown escaped, so it can
        // neither move the terminal's cursor nor fake a line of the report.
        let shown = crate::text_rules::shown;
        writeln!(f, "{label}: {}", shown(&self.message))?;
        if self.line > 0 {
            write!(
                f,
                "  --> {}:{}:{}",
                shown(&self.file),
                self.line,
                self.column
            )?;
        } else {
            write!(f, "  --> {}", shown(&self.file))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {}", shown(hint))?;
        }
        Ok(())
    }
}

/// The line and column (in characters, both from 1) of the first byte of `bytes` that is not
/// UTF-8, given where the valid text ends (`Utf8Error::valid_up_to`).
pub fn utf8_error_place(bytes: &[u8], valid_up_to: usize) -> (usize, usize) {
    let good = &bytes[..valid_up_to.min(bytes.len())];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + String::from_utf8_lossy(&good[line_start..]).chars().count();
    (line, column)
}

/// Sorts diagnostics by file and position, so the report reads top to bottom and is stable, and
/// drops repeats.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity, &a.message)
            .cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
    });
    // A problem of something many phones share (a profile's key, a group's setting) is found
    // once per phone; it is said once.
    diags.dedup();
}

/// Where a failure happened: what the user was doing, for messages and for callers that react
/// to one kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The command line itself.
    Usage,
    /// The repository: a revision, a commit's files, its history.
    Source,
    /// Site secret and passwords.
    Secrets,
    /// Templates and the phones' files.
    Render,
    /// The output folder: what is in it, what may be replaced.
    Output,
    /// A destination: folder, rsync or S3.
    Publish,
    /// `provsite serve`.
    Serve,
    /// DHCP, Asterisk and web-server configurations.
    Generate,
    /// Importing Asterisk users.
    Import,
    /// Walking a phone's boot against a server.
    Probe,
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the inventory has {} error(s)", count_errors(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// Any other failure: what went wrong, in which area, how to fix it, and its cause.
    #[error("{message}{}", .hint.as_ref().map(|h| format!("\n  = hint: {h}")).unwrap_or_default())]
    Failed {
        area: Area,
        message: String,
        hint: Option<String>,
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

fn count_errors(diags: &[Diagnostic]) -> usize {
    diags.iter().filter(|d| d.is_error()).count()
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A failure in an area, with its message.
    pub fn of(area: Area, message: impl Into<String>) -> Self {
        Error::Failed {
            area,
            message: message.into(),
            hint: None,
            cause: None,
        }
    }

    /// A failure in an area caused by another error, which is kept (and printed as the cause).
    pub fn caused(
        area: Area,
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Failed {
            area,
            message: message.into(),
            hint: None,
            cause: Some(Box::new(cause)),
        }
    }

    /// A git failure, with what provsite was doing.
    pub fn git(context: impl Into<String>, source: git2::Error) -> Self {
        Error::Git {
            context: context.into(),
            source,
        }
    }

    /// Adds how to fix it (a failure of an area; other errors are returned as they are).
    pub fn hint(mut self, text: impl Into<String>) -> Self {
        if let Error::Failed { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// The area of a failure, for callers that react to one kind.
    pub fn area(&self) -> Option<Area> {
        match self {
            Error::Failed { area, .. } => Some(*area),
            Error::Git { .. } => Some(Area::Source),
            _ => None,
        }
    }
}

impl From<crate::syntax::Unwritable> for Error {
    fn from(e: crate::syntax::Unwritable) -> Self {
        Error::of(Area::Generate, e.to_string())
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git {
            context: e.message().to_string(),
            source: e,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach the path to an I/O error, the way every file-system call here reports failures.
pub trait IoContext<T> {
    fn with_path(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_show_control_characters_escaped() {
        let d = Diagnostic::error(
            "inventory/phones/a.yaml",
            "bad MAC address `x\u{1b}[2J\nerror: fake`",
        )
        .at(Some((3, 8)))
        .hint("h\r");
        let text = d.to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
