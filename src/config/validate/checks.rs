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
use crate::config::model::Check;
use crate::probe::{duration_opt, CheckSpec};
use crate::providers::{from_value, SettingsError};

/// One check at key path `cp`. `None` when it has an error (every problem is still reported).
pub(super) fn check(ctx: &mut Ctx, cp: &str, ct: &Spanned<toml::Table>) -> Option<Check> {
    let mut table = ct.get_ref().clone();
    let rise = threshold(ctx, cp, ct, &mut table, "rise", 3);
    let fall = threshold(ctx, cp, ct, &mut table, "fall", 2);
    let window = window(ctx, cp, ct, &mut table);
    let max_latency = max_latency(ctx, cp, ct, &mut table);
    let in_bounds = durations_in_bounds(ctx, cp, ct, &table);
    let spec: Result<CheckSpec, _> = from_value(toml::Value::Table(table));
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
            spec_error(ctx, cp, ct, &e);
            None
        }
        _ => None,
    }
}

/// A check table the probe's parser refused: the key in plain words ([`de_error::word`]).
fn spec_error(ctx: &mut Ctx, cp: &str, ct: &Spanned<toml::Table>, e: &SettingsError) {
    let fix = "see docs/config.md for the keys each check kind takes";
    let path = match e.path.as_str() {
        "" => de_error::guess_key(ct.get_ref(), &e.message).unwrap_or(""),
        p => p,
    };
    if path.is_empty() || e.message.starts_with("unknown field") {
        ctx.err(ct, cp.to_string(), e.message.clone(), fix);
        return;
    }
    let key = format!("{cp}.{path}");
    let value = de_error::value_at(ct.get_ref(), path);
    let (message, plain_fix) = de_error::word(&key, &e.message, value);
    ctx.err(ct, key, message, format!("{plain_fix}; {fix}"));
}

/// `rise` or `fall` (taken out of `table`): 1 to 100 consecutive results, `default` when
/// absent. `None` after an error.
fn threshold(
    ctx: &mut Ctx,
    cp: &str,
    ct: &Spanned<toml::Table>,
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
    ct: &Spanned<toml::Table>,
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
    ct: &Spanned<toml::Table>,
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
    ct: &Spanned<toml::Table>,
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
