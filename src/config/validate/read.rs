//! The first stage of [`super::parse`]: the TOML text into [`RawConfig`], with every syntax
//! error at once, the key path of a type error in plain words ([`de_error`]), and every free
//! string bounded ([`names`]) before anything is kept.
//!
//! Part of config validation, which runs before the flow starts.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::config::de_error;
use crate::config::error::{Lines, Problem};
use crate::config::names;
use crate::config::raw::RawConfig;
use crate::providers::key_path;

/// The file as written, and the problems found on the way that do not stop validation (free
/// strings over their limit); or every problem that does.
pub(super) fn read(text: &str, lines: &Lines) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| {
                let line = e.span().map(|s| lines.line(s.start));
                let fix = "correct the TOML syntax (see docs/config.md); every syntax error of the file is listed";
                Problem::error(line, "", e.message(), fix)
            })
            .collect());
    }
    let mut problems = Vec::new();
    table_limits(lines, doc.get_ref(), "", &mut problems);
    match serde_path_to_error::deserialize(toml::Deserializer::from(doc)) {
        Ok(raw) => Ok((raw, problems)),
        Err(e) => {
            let line = e.inner().span().map(|s| lines.line(s.start));
            let mut path = key_path(e.path());
            let msg = e.inner().message();
            if msg.starts_with("unknown field") {
                // The path ends with the unknown key itself; name the table it is in.
                path = path
                    .rsplit_once('.')
                    .map_or(String::new(), |(t, _)| t.to_string());
            }
            let table = toml::from_str::<toml::Table>(text).ok();
            let value = table.as_ref().and_then(|t| de_error::value_at(t, &path));
            let (message, fix) = de_error::word(&path, msg, value);
            problems.push(Problem::error(line, path, message, fix));
            Err(problems)
        }
    }
}

/// Every key and string of `table` (at key path `path`) within its limit.
fn table_limits(lines: &Lines, table: &DeTable<'_>, path: &str, out: &mut Vec<Problem>) {
    for (key, value) in table.iter() {
        let k = key.get_ref();
        if let Some(p) = names::text_problem(k, names::MAX_TEXT) {
            out.push(too_long(lines, key, path, format!("a key {p}")));
            continue;
        }
        let kp = if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        };
        value_limits(lines, value, &kp, out);
    }
}

/// `value` (at `path`) and everything inside it within its limit.
fn value_limits(lines: &Lines, value: &Spanned<DeValue<'_>>, path: &str, out: &mut Vec<Problem>) {
    match value.get_ref() {
        DeValue::String(s) => {
            if let Some(p) = names::text_problem(s, limit_of(path)) {
                out.push(too_long(lines, value, path, format!("the value {p}")));
            }
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                value_limits(lines, item, &format!("{path}[{i}]"), out);
            }
        }
        DeValue::Table(t) => table_limits(lines, t, path, out),
        _ => {}
    }
}

/// The byte limit of the string at `path`: record values by DNS, every other free string
/// [`names::MAX_TEXT`]. (Names have their own, lower, limit, checked where they are read.)
fn limit_of(path: &str) -> usize {
    let key = path.rsplit('.').next().unwrap_or(path);
    let named = |list: &str| path.contains(list) && key == "name";
    if key == "site" || key.starts_with("agents[") || named(".targets[") || named("uplink_checks[")
    {
        usize::MAX
    } else if path.contains(".targets[") && (key == "address" || key.starts_with("addresses[")) {
        names::MAX_RECORD_VALUE
    } else {
        names::MAX_TEXT
    }
}

fn too_long<T>(lines: &Lines, at: &Spanned<T>, path: &str, what: String) -> Problem {
    Problem::error(
        Some(lines.line(at.span().start)),
        path.to_string(),
        what,
        "shorten it; free strings are bounded so a pasted file cannot grow the state or the logs (see docs/config.md)",
    )
}
