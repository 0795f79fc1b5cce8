//! Configuration problems, each naming the file, the line, the key path and the fix.
//!
//! Validation collects every problem before reporting, so an operator fixes a file in one
//! pass instead of one error per run.

use std::fmt;
use std::path::PathBuf;

/// How bad a problem is: errors stop the controller, warnings are printed and tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// Key path such as `services.shop.targets[1].priority`.
    pub path: String,
    pub message: String,
    pub fix: String,
}

impl Problem {
    /// An error at `path`.
    pub fn error(
        line: Option<usize>,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Error,
            line,
            path: path.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A warning at `path`.
    pub fn warning(
        line: Option<usize>,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(line, path, message, fix)
        }
    }

    /// Renders the problem with its file name.
    pub fn render(&self, file: &std::path::Path) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let loc = match self.line {
            Some(l) => format!("{}:{l}", file.display()),
            None => file.display().to_string(),
        };
        let path = if self.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.path)
        };
        format!(
            "{level}: {loc}: {path}{}\n  fix: {}",
            self.message, self.fix
        )
    }
}

/// The configuration could not be used. Holds every problem found, warnings included.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Only the problems that stop the controller.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        writeln!(
            f,
            "{}: {n} error(s) in the configuration",
            self.file.display()
        )?;
        for p in &self.problems {
            writeln!(f, "{}", p.render(&self.file))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Maps byte offsets in the source text to 1-based line numbers.
///
/// The offsets of the line starts are computed once, so each lookup is a binary search:
/// validation asks for a line per key and per problem, and must stay linear in the size of
/// the file (a rescan from the start per lookup made 10,000 services take half a minute).
pub struct Lines {
    /// Byte offset just after each `\n`, ascending.
    newlines: Vec<usize>,
}

impl Lines {
    /// Indexes the file's text.
    pub fn new(text: &str) -> Self {
        Lines {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1)
                .collect(),
        }
    }

    /// The line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        // Newlines strictly before `offset`, plus one.
        self.newlines.partition_point(|&start| start <= offset) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn line_numbers_match_a_rescan() {
        let text = "a\nbb\n\nccc\n";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 3 {
            let end = offset.min(text.len());
            let want = text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            assert_eq!(lines.line(offset), want, "offset {offset}");
        }
    }
}
