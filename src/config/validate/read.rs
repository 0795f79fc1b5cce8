//! The first stage of [`super::parse`]: the TOML text into [`RawConfig`], with every syntax
//! error at once, every unknown key and every value of the wrong type at once ([`faults`]),
//! each worded for people ([`de_error`]), and every free string bounded ([`names`]) before
//! anything is kept.
//!
//! Part of config validation, which runs before the flow starts. A part of the file with such
//! a fault (a service, the controller, a provider table that is not a table) is left out of
//! the later rules, which would only repeat it; the check tables inside a part left out are
//! still handed on ([`Read::orphan_checks`]), since they do not depend on the rest of it.

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::config::de_error;
use crate::config::error::{Lines, Problem};
use crate::config::faults::{self, Fault, Seg};
use crate::config::names;
use crate::config::raw::{RawConfig, SpannedTable};
use crate::providers::{render, segments};

/// The file as far as it could be read, for the rules of `validate/`.
pub(super) struct Read {
    pub(super) raw: RawConfig,
    /// Problems found on the way: free strings over their limit, unknown keys, values of the
    /// wrong type.
    pub(super) problems: Vec<Problem>,
    /// The check tables of the parts left out (key path and table): checked on their own.
    pub(super) orphan_checks: Vec<(String, Spanned<SpannedTable>)>,
    /// Some service was left out: "no service is configured" would be wrong.
    pub(super) services_left_out: bool,
}

/// The file as written, with the problems that do not stop validation; or every problem, when
/// nothing of the file can be read (a syntax error).
pub(super) fn read(text: &str, lines: &Lines) -> Result<Read, Vec<Problem>> {
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
    // The usual case reads the file once; only a failed read probes it again, part by part.
    let first = match raw_config(value(doc)) {
        Ok(raw) => {
            return Ok(Read {
                raw,
                problems,
                orphan_checks: Vec::new(),
                services_left_out: false,
            })
        }
        Err(fault) => fault,
    };
    let root = value(DeTable::parse_recoverable(text).0);
    let found = faults::faults(&root, &mut |part| raw_config(part).err());
    if found.is_empty() {
        // Cannot happen (the whole file failed, so some part does); say what serde said.
        problems.extend(problem(lines, &root, &first));
        return Err(problems);
    }
    let mut own: Vec<Problem> = found
        .iter()
        .filter_map(|f| problem(lines, &root, f))
        .collect();
    own.sort_by_key(|p| p.line);
    problems.extend(own);
    let kept = keep_clean_parts(&root, &found);
    match raw_config(kept.root) {
        Ok(raw) => Ok(Read {
            raw,
            problems,
            orphan_checks: kept.orphan_checks,
            services_left_out: kept.services_left_out,
        }),
        Err(fault) => {
            // Cannot happen either (every part with a fault was left out).
            if !found.iter().any(|f| f.at == fault.at) {
                problems.extend(problem(lines, &root, &fault));
            }
            Err(problems)
        }
    }
}

/// The document as a value, the form [`faults`] takes apart.
fn value(doc: Spanned<DeTable<'_>>) -> Spanned<DeValue<'_>> {
    Spanned::new(doc.span(), DeValue::Table(doc.into_inner()))
}

/// A part of the file (or all of it) read as [`RawConfig`]; the first fault.
fn raw_config(part: Spanned<DeValue<'_>>) -> Result<RawConfig, Fault> {
    serde_path_to_error::deserialize(ValueDeserializer::from(part))
        .map_err(|e| Fault::new(segments(e.path()), e.inner().message().to_string()))
}

/// `fault` in words, on the line of the place it names. `None` when its path holds a key too
/// long to be one: [`table_limits`] reported that key already, and it is not echoed.
fn problem(lines: &Lines, root: &Spanned<DeValue<'_>>, fault: &Fault) -> Option<Problem> {
    let too_long =
        |s: &Seg| matches!(s, Seg::Key(k) if names::text_problem(k, names::MAX_TEXT).is_some());
    if fault.at.iter().any(too_long) {
        return None;
    }
    let path = render(&fault.at);
    let (node, exact) = node_at(root, &fault.at);
    let line = Some(lines.line(node.span().start));
    let (message, fix) = match de_error::unknown_field(&fault.message) {
        Some((key, allowed)) => de_error::unknown_key(&key, &allowed, "see docs/config.md"),
        None => {
            let value = match node.get_ref() {
                DeValue::String(s) if exact => Some(toml::Value::String(s.to_string())),
                _ => None,
            };
            de_error::word(&path, &fault.message, value.as_ref())
        }
    };
    Some(Problem::error(line, path, message, fix))
}

/// The value at `at`, or the deepest one on the way there; and whether it is the one at `at`.
fn node_at<'r, 'i>(root: &'r Spanned<DeValue<'i>>, at: &[Seg]) -> (&'r Spanned<DeValue<'i>>, bool) {
    let mut node = root;
    for seg in at {
        let next = match (node.get_ref(), seg) {
            (DeValue::Table(t), Seg::Key(k)) => t.get(k.as_str()),
            (DeValue::Array(a), Seg::Index(i)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return (node, false),
        }
    }
    (node, true)
}

/// The file without the parts that have a fault, and what is kept of those.
struct Kept<'i> {
    root: Spanned<DeValue<'i>>,
    orphan_checks: Vec<(String, Spanned<SpannedTable>)>,
    services_left_out: bool,
}

/// Leaves out each part with a fault: a whole service, the controller, a provider, or any
/// other top-level key; keeps the check tables of the services and controller left out.
fn keep_clean_parts<'i>(root: &Spanned<DeValue<'i>>, found: &[Fault]) -> Kept<'i> {
    let span = root.span();
    let mut top = match root.get_ref() {
        DeValue::Table(t) => t.clone(),
        _ => DeTable::new(),
    };
    let mut kept = Kept {
        root: Spanned::new(span.clone(), DeValue::Table(DeTable::new())),
        orphan_checks: Vec::new(),
        services_left_out: false,
    };
    for fault in found {
        let (first, second) = match fault.at.as_slice() {
            [] => {
                top = DeTable::new();
                continue;
            }
            [Seg::Key(first), rest @ ..] => (first.as_str(), rest.first()),
            [Seg::Index(_), ..] => continue,
        };
        match (first, second) {
            ("services" | "providers" | "notify", Some(Seg::Key(name))) => {
                let Some(DeValue::Table(parts)) = top.get_mut(first).map(Spanned::get_mut) else {
                    continue;
                };
                if let Some(part) = parts.remove(name.as_str()) {
                    if first == "services" {
                        kept.services_left_out = true;
                        if names::name_problem(name).is_none() {
                            let path = format!("services.{name}");
                            orphans(&part, &path, "targets", &mut kept.orphan_checks);
                        }
                    }
                }
            }
            _ => {
                if let Some(part) = top.remove(first) {
                    kept.services_left_out |= first == "services";
                    if first == "controller" {
                        orphans(&part, first, "uplink_checks", &mut kept.orphan_checks);
                    }
                }
            }
        }
    }
    kept.root = Spanned::new(span, DeValue::Table(top));
    kept
}

/// The check tables `part.list[i].checks[j]` (of a service's targets, or the controller's
/// uplink anchors) that read as tables, with their key paths.
fn orphans(
    part: &Spanned<DeValue<'_>>,
    path: &str,
    list: &str,
    out: &mut Vec<(String, Spanned<SpannedTable>)>,
) {
    let Some(DeValue::Array(items)) = part.get_ref().get(list).map(Spanned::get_ref) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Some(DeValue::Array(checks)) = item.get_ref().get("checks").map(Spanned::get_ref)
        else {
            continue;
        };
        for (j, check) in checks.iter().enumerate() {
            let table =
                Spanned::<SpannedTable>::deserialize(ValueDeserializer::from(check.clone()));
            if let Ok(table) = table {
                out.push((format!("{path}.{list}[{i}].checks[{j}]"), table));
            }
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
