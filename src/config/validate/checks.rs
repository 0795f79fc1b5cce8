//! One check table (`[[services.NAME.targets.checks]]`, `[[controller.uplink_checks.checks]]`):
//! the health keys (`rise`, `fall`, `window`, `max_latency`) read here, the probe keys by the
//! probe's own [`CheckSpec`] parser, every duration within its bounds.
//!
//! Part of config validation, which runs before the flow starts; the [`Check`] read here is
//! what the probe stage runs and the health stage judges.

use std::time::Duration;

use toml::Spanned;

use super::ctx::Ctx;
use crate::config::bounds;
use crate::config::de_error;
use crate::config::error::Problem;
use crate::config::faults::{faults, Fault, Seg};
use crate::config::model::Check;
use crate::config::raw::{plain, SpannedTable};
use crate::probe::{duration_opt, CheckSpec};
use crate::providers::{from_value, render, SettingsError};

/// The keys read here rather than by the probe's parser; every other key goes to
/// [`CheckSpec`]. The readers below see only these, so a key missing here cannot be read.
const HEALTH_KEYS: [&str; 5] = ["rise", "fall", "window", "window_failures", "max_latency"];

const CHECK_DOCS: &str = "see docs/config.md for the keys each check kind takes";

/// One check at key path `cp`. `None` when it has an error (every problem is still reported).
pub(super) fn check(ctx: &mut Ctx, cp: &str, ct: &Spanned<SpannedTable>) -> Option<Check> {
    let mut table = plain(ct.get_ref());
    let mut own: toml::Table = HEALTH_KEYS
        .iter()
        .filter_map(|k| table.remove_entry(*k))
        .collect();
    let rise = threshold(ctx, cp, ct, &mut own, "rise", 3);
    let fall = threshold(ctx, cp, ct, &mut own, "fall", 2);
    let window = window(ctx, cp, ct, &mut own);
    let max_latency = max_latency(ctx, cp, ct, &mut own);
    let in_bounds = durations_in_bounds(ctx, cp, ct, &table);
    let spec: Result<CheckSpec, _> = from_value(toml::Value::Table(table.clone()));
    match (spec, rise, fall) {
        (Ok(_), _, _) if !in_bounds => None,
        (Ok(spec), Some(rise), Some(fall)) if window.is_some() && max_latency.is_some() => {
            match spec.validate() {
                Ok(()) => Some(Check {
                    spec,
                    rise,
                    fall,
                    window: window.flatten(),
                    max_latency: max_latency.flatten(),
                }),
                Err(e) => {
                    ctx.err(
                        ct,
                        cp.to_string(),
                        e,
                        "correct the check; see docs/config.md for the keys each check kind takes",
                    );
                    None
                }
            }
        }
        (Err(e), _, _) => {
            spec_errors(ctx, cp, ct, &table, &e);
            None
        }
        _ => None,
    }
}

/// A check table the probe's parser refused (`table`, without the health keys; `e` its first
/// error): every unknown key and bad value of it ([`faults`]), each in plain words
/// ([`de_error`]) on its own line. A bad or missing `kind` is the one problem reported: without
/// it no other key can be judged.
fn spec_errors(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &toml::Table,
    e: &SettingsError,
) {
    let mut rest = table.clone();
    let kind = rest.remove("kind");
    let found = match kind {
        Some(kind) if kind_reads(&kind) => faults(&toml::Value::Table(rest), &mut |part| {
            probe_spec(part, &kind)
        }),
        _ => Vec::new(),
    };
    if found.is_empty() {
        let fault = Fault::new(e.at.clone(), e.message.clone());
        // On the table's line, as before faults were listed one by one.
        return spec_error(ctx, cp, ct, table, &fault, false);
    }
    for fault in &found {
        spec_error(ctx, cp, ct, table, fault, true);
    }
}

/// `kind` names a check kind: alone, it fails for nothing but the keys that kind requires.
fn kind_reads(kind: &toml::Value) -> bool {
    let alone = std::iter::once(("kind".to_string(), kind.clone())).collect();
    match from_value::<CheckSpec>(toml::Value::Table(alone)) {
        Ok(_) => true,
        Err(e) => e.message.starts_with("missing field"),
    }
}

/// Part of a check table (`kind` added back) read by the probe's parser; its first fault. The
/// parser's `kind` tag hides where a fault is; when the part holds one key, it is there.
fn probe_spec(part: toml::Value, kind: &toml::Value) -> Option<Fault> {
    let toml::Value::Table(mut t) = part else {
        return None;
    };
    let only = match t.keys().next() {
        Some(k) if t.len() == 1 => Some(k.clone()),
        _ => None,
    };
    t.insert("kind".to_string(), kind.clone());
    let e = from_value::<CheckSpec>(toml::Value::Table(t)).err()?;
    let at = match only {
        Some(key) if e.at.is_empty() && !e.message.starts_with("missing field") => {
            vec![Seg::Key(key)]
        }
        _ => e.at,
    };
    Some(Fault::new(at, e.message))
}

/// One fault of check `cp` in plain words, on the line of its key when `keyed` (else, or when
/// the fault is the table's own, such as a missing key, on the table's).
fn spec_error(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &toml::Table,
    fault: &Fault,
    keyed: bool,
) {
    let line = match fault.at.first() {
        Some(Seg::Key(k)) if keyed => ct.get_ref().get(k).and_then(|v| ctx.line(v)),
        _ => None,
    }
    .or_else(|| ctx.line(ct));
    let key = render(&fault.at);
    let path = if key.is_empty() {
        cp.to_string()
    } else {
        format!("{cp}.{key}")
    };
    let (message, fix) = match de_error::unknown_field(&fault.message) {
        Some((k, allowed)) => {
            let allowed: Vec<String> = std::iter::once("kind")
                .chain(allowed.iter().map(String::as_str))
                .chain(HEALTH_KEYS)
                .map(str::to_string)
                .collect();
            de_error::unknown_key(&k, &allowed, CHECK_DOCS)
        }
        _ if key.is_empty() => (fault.message.clone(), CHECK_DOCS.to_string()),
        _ => {
            let value = de_error::value_at(table, &key);
            let (message, fix) = de_error::word(&path, &fault.message, value);
            (message, format!("{fix}; {CHECK_DOCS}"))
        }
    };
    ctx.problems.push(Problem::error(line, path, message, fix));
}

/// `rise` or `fall` (taken out of `table`): 1 to 100 consecutive results, `default` when
/// absent. `None` after an error.
fn threshold(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &mut toml::Table,
    key: &str,
    default: u32,
) -> Option<u32> {
    match table.remove(key) {
        None => Some(default),
        Some(toml::Value::Integer(n)) if (1..=100).contains(&n) => u32::try_from(n).ok(),
        Some(v) => {
            ctx.err(
                ct,
                format!("{cp}.{key}"),
                format!("`{key}` = {v} is not a whole number from 1 to 100"),
                format!("set {key} to how many consecutive results change the state (e.g. 3)"),
            );
            None
        }
    }
}

/// `window` and `window_failures` (taken out of `table`), together or neither: `Some(None)`
/// when absent, `None` after an error.
fn window(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &mut toml::Table,
) -> Option<Option<(usize, usize)>> {
    let window_n = table.remove("window");
    let window_k = table.remove("window_failures");
    let window = match (window_n, window_k) {
        (None, None) => Ok(None),
        (Some(toml::Value::Integer(n)), Some(toml::Value::Integer(k)))
            if (1..=1000).contains(&n) && k >= 1 && k <= n =>
        {
            Ok(usize::try_from(n).ok().zip(usize::try_from(k).ok()))
        }
        _ => Err(()),
    };
    match window {
        Ok(w) => Some(w),
        Err(()) => {
            ctx.err(ct, format!("{cp}.window"), "`window` and `window_failures` go together: whole numbers with 1 <= window_failures <= window <= 1000", "write e.g. window = 10, window_failures = 3 (down when 3 of the last 10 failed)");
            None
        }
    }
}

/// `max_latency` (taken out of `table`): a bounded duration. `Some(None)` when absent, `None`
/// after an error.
fn max_latency(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &mut toml::Table,
) -> Option<Option<Duration>> {
    match table.remove("max_latency") {
        None => Some(None),
        Some(toml::Value::String(d)) => match duration_opt::parse(&d) {
            Ok(v) => match bounds::CHECK_MAX_LATENCY.check("max_latency", &d, v) {
                None => Some(Some(v)),
                Some(msg) => {
                    ctx.err(
                        ct,
                        format!("{cp}.max_latency"),
                        msg,
                        format!("write max_latency {}", bounds::CHECK_MAX_LATENCY.describe()),
                    );
                    None
                }
            },
            Err(e) => {
                ctx.err(
                    ct,
                    format!("{cp}.max_latency"),
                    e,
                    "write a duration such as \"300ms\"",
                );
                None
            }
        },
        Some(_) => {
            ctx.err(
                ct,
                format!("{cp}.max_latency"),
                "`max_latency` must be a duration string",
                "write a duration such as \"300ms\"",
            );
            None
        }
    }
}

/// The probe's own duration keys (left in `table` for its parser) within their bounds; an
/// error for each that is not.
fn durations_in_bounds(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<SpannedTable>,
    table: &toml::Table,
) -> bool {
    let mut in_bounds = true;
    for (key, b, fix) in [
        ("interval", bounds::CHECK_INTERVAL, "the default is 5s"),
        (
            "timeout",
            bounds::CHECK_TIMEOUT,
            "and at most the interval; the default is 2s",
        ),
        (
            "recheck_interval",
            bounds::CHECK_RECHECK_INTERVAL,
            "the default is 100ms",
        ),
        (
            "cert_min_validity",
            bounds::CERT_MIN_VALIDITY,
            "e.g. \"7d\"",
        ),
    ] {
        // A value that does not parse is reported in `check`, by the probe's own parser.
        let Some(toml::Value::String(written)) = table.get(key) else {
            continue;
        };
        let Ok(d) = duration_opt::parse(written) else {
            continue;
        };
        if let Some(msg) = b.check(key, written, d) {
            ctx.err(
                ct,
                format!("{cp}.{key}"),
                msg,
                format!("write {key} {} ({fix})", b.describe()),
            );
            in_bounds = false;
        }
    }
    in_bounds
}
