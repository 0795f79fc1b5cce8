//! The validation context every rule writes to: the file's line index, the problems found so
//! far, and the provider registry; plus the small readers the rules share (a word from a fixed
//! set, a bounded duration, a short label).
//!
//! Part of config validation, which runs before the flow starts (probe -> health -> policy ->
//! plan): each `validate/` file reads one part of the raw file through a [`Ctx`].

use std::time::Duration;

use toml::Spanned;

use crate::config::bounds::Bounds;
use crate::config::error::{Lines, Problem};
use crate::config::names;
use crate::probe::duration_opt;
use crate::providers::Registry;

/// What validation carries from rule to rule.
pub(super) struct Ctx {
    /// Byte offset -> line, for the line of each problem.
    pub(super) lines: Lines,
    /// Every problem found so far, errors and warnings, in the order found.
    pub(super) problems: Vec<Problem>,
    /// The adapters `kind` may name, and what each can do.
    pub(super) registry: Registry,
}

impl Ctx {
    /// One of a fixed set of words; an unknown word is an error listing the allowed ones.
    pub(super) fn choice<T: Copy>(
        &mut self,
        v: &Option<Spanned<String>>,
        path: String,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(word) = v else { return default };
        match options
            .iter()
            .find(|(name, _)| *name == word.get_ref().as_str())
        {
            Some((_, value)) => *value,
            None => {
                let allowed: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    word,
                    path,
                    format!("unknown value `{}`", word.get_ref()),
                    format!("use one of {}", allowed.join(", ")),
                );
                default
            }
        }
    }

    pub(super) fn line<T>(&self, s: &Spanned<T>) -> Option<usize> {
        Some(self.lines.line(s.span().start))
    }
    pub(super) fn err<T>(
        &mut self,
        at: &Spanned<T>,
        path: impl Into<String>,
        msg: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = self.line(at);
        self.problems.push(Problem::error(line, path, msg, fix));
    }
    pub(super) fn warn<T>(
        &mut self,
        at: &Spanned<T>,
        path: impl Into<String>,
        msg: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = self.line(at);
        self.problems.push(Problem::warning(line, path, msg, fix));
    }
    /// A duration key: `default` when absent; the written value when it parses and lies
    /// within `bounds`; else an error naming the allowed range (and `default` is returned).
    pub(super) fn duration(
        &mut self,
        v: &Option<Spanned<String>>,
        path: String,
        default: Duration,
        bounds: Bounds,
    ) -> Duration {
        self.duration_checked(v, path, default, bounds)
            .unwrap_or(default)
    }

    /// [`Ctx::duration`] that says whether the written value was usable: `None` after an
    /// error.
    pub(super) fn duration_checked(
        &mut self,
        v: &Option<Spanned<String>>,
        path: String,
        default: Duration,
        bounds: Bounds,
    ) -> Option<Duration> {
        let Some(s) = v else { return Some(default) };
        let key = path.rsplit('.').next().unwrap_or(&path).to_string();
        match duration_opt::parse(s.get_ref()) {
            Ok(d) => match bounds.check(&key, s.get_ref(), d) {
                None => Some(d),
                Some(msg) => {
                    let fix = format!(
                        "write {key} {} (the default is {})",
                        bounds.describe(),
                        duration_opt::format(default)
                    );
                    self.err(s, path, msg, fix);
                    None
                }
            },
            Err(e) => {
                self.err(
                    s,
                    path,
                    e,
                    "write a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"",
                );
                None
            }
        }
    }
}

/// A name (a target's `site`, an uplink anchor's `name`, ...): the rule of
/// [`crate::config::names`], the same for every name.
pub(super) fn label(
    ctx: &mut Ctx,
    v: &Spanned<String>,
    path: String,
    example: &str,
) -> Option<String> {
    let line = ctx.line(v);
    name_at(ctx, line, v.get_ref(), path, example).then(|| v.get_ref().clone())
}

/// [`label`] for a name without its own span (a table's key, a list entry): reported on
/// `line`. Whether the name is valid.
pub(super) fn name_at(
    ctx: &mut Ctx,
    line: Option<usize>,
    name: &str,
    path: String,
    example: &str,
) -> bool {
    let Some(p) = names::name_problem(name) else {
        return true;
    };
    ctx.problems.push(Problem::error(
        line,
        path,
        format!("{p}: {}", names::NAME_RULE),
        format!("write e.g. \"{example}\""),
    ));
    false
}
