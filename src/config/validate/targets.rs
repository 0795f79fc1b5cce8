//! A service's `[[services.NAME.targets]]`: name, address(es) valid for the record type,
//! a distinct priority, checks (read by [`super::checks`]), `fail_quorum` and `site`.
//!
//! Part of config validation, which runs before the flow starts; the checks of each
//! [`Target`] read here are what the probe stage runs.

use std::collections::{BTreeMap, BTreeSet};

use dnsfailback_provider::RecordType;
use toml::Spanned;

use super::checks::check;
use super::ctx::{label, Ctx};
use crate::config::error::Problem;
use crate::config::model::{Check, Target};
use crate::config::raw::{RawService, RawTarget};

/// The targets of service `p`, sorted by priority; names and priorities must be distinct. A
/// target with an error is left out (and reported).
pub(super) fn targets(
    ctx: &mut Ctx,
    p: &str,
    rs: &Spanned<RawService>,
    rtype: Option<RecordType>,
) -> Vec<Target> {
    let raw = rs.get_ref();
    if raw.targets.is_empty() {
        ctx.err(
            rs,
            format!("{p}.targets"),
            "a service needs at least one target",
            "add [[services.NAME.targets]] tables with name, address and priority",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    let mut prios: BTreeMap<i64, String> = BTreeMap::new();
    for (i, rt) in raw.targets.iter().enumerate() {
        let tp = format!("{p}.targets[{i}]");
        if let Some(t) = target(ctx, &tp, rt, rtype) {
            if !names.insert(t.name.clone()) {
                ctx.err(
                    &rt.get_ref().name,
                    format!("{tp}.name"),
                    format!("duplicate target name `{}`", t.name),
                    "give each target of a service its own name",
                );
            }
            if let Some(other) = prios.insert(*rt.get_ref().priority.get_ref(), t.name.clone()) {
                ctx.err(
                    &rt.get_ref().priority,
                    format!("{tp}.priority"),
                    format!("priority {} is also used by target `{other}`", t.priority),
                    "give each target a distinct priority; the lowest number is the primary",
                );
            }
            out.push(t);
        }
    }
    out.sort_by_key(|t| t.priority);
    out
}

/// One target. `None` when it has an error (every problem is still reported).
fn target(
    ctx: &mut Ctx,
    tp: &str,
    rt: &Spanned<RawTarget>,
    rtype: Option<RecordType>,
) -> Option<Target> {
    let raw = rt.get_ref();
    let values = written_values(ctx, tp, rt)?;
    let norm = normalized(ctx, tp, rt, rtype, &values);
    let mut ok = norm.is_some();
    let priority = match u32::try_from(*raw.priority.get_ref()) {
        Ok(p) => p,
        Err(_) => {
            ctx.err(
                &raw.priority,
                format!("{tp}.priority"),
                "priority must be a number >= 0",
                "use 1 for the primary, 2 for the first backup, ...",
            );
            ok = false;
            0
        }
    };
    ok &= label(ctx, &raw.name, format!("{tp}.name"), "primary").is_some();
    let (checks, checks_ok) = checks(ctx, tp, rt);
    ok &= checks_ok;
    let fail_quorum = match &raw.fail_quorum {
        None => Some(checks.len().max(1)),
        Some(q) => fail_quorum(ctx, tp, q, raw.checks.len()),
    };
    ok &= fail_quorum.is_some();
    let site = match &raw.site {
        None => None,
        Some(v) => {
            let site = label(ctx, v, format!("{tp}.site"), "eu-west-1a");
            ok &= site.is_some();
            site
        }
    };
    let (true, Some(values), Some(fail_quorum)) = (ok, norm, fail_quorum) else {
        return None;
    };
    Some(Target {
        name: raw.name.get_ref().clone(),
        values,
        priority,
        checks,
        fail_quorum,
        site,
    })
}

/// `address` or `addresses`, exactly one, as written, each with its line. `None` after an
/// error.
fn written_values(
    ctx: &mut Ctx,
    tp: &str,
    rt: &Spanned<RawTarget>,
) -> Option<Vec<(String, Option<usize>)>> {
    let raw = rt.get_ref();
    match (&raw.address, &raw.addresses) {
        (Some(a), None) => Some(vec![(a.get_ref().clone(), ctx.line(a))]),
        (None, Some(list)) => Some(
            list.get_ref()
                .iter()
                .map(|v| (v.clone(), ctx.line(list)))
                .collect(),
        ),
        (Some(_), Some(_)) | (None, None) => {
            ctx.err(
                rt,
                format!("{tp}.address"),
                "give exactly one of `address` or `addresses`",
                "write address = \"192.0.2.10\" (or addresses = [\"...\", \"...\"])",
            );
            None
        }
    }
}

/// The written values, not empty, each normalized for the record type (a CNAME has one
/// value). `None` after an error.
fn normalized(
    ctx: &mut Ctx,
    tp: &str,
    rt: &Spanned<RawTarget>,
    rtype: Option<RecordType>,
    values: &[(String, Option<usize>)],
) -> Option<Vec<String>> {
    let mut ok = true;
    if values.is_empty() {
        ctx.err(
            rt,
            format!("{tp}.addresses"),
            "the address list is empty",
            "list at least one value",
        );
        ok = false;
    }
    let mut norm = Vec::new();
    if let Some(t) = rtype {
        for (v, line) in values {
            match t.normalize_value(v) {
                Ok(n) => norm.push(n),
                Err(e) => {
                    ctx.problems.push(Problem::error(
                        *line,
                        format!("{tp}.address"),
                        e,
                        format!("write a value valid for the record type {t}"),
                    ));
                    ok = false;
                }
            }
        }
        if t == RecordType::Cname && values.len() > 1 {
            ctx.err(
                rt,
                format!("{tp}.addresses"),
                "a CNAME can have only one value",
                "give one host name",
            );
            ok = false;
        }
    }
    ok.then_some(norm)
}

/// A target's checks (at least one), and whether all of them are valid; a warning when every
/// valid check is a liveness check.
fn checks(ctx: &mut Ctx, tp: &str, rt: &Spanned<RawTarget>) -> (Vec<Check>, bool) {
    let raw = rt.get_ref();
    let mut ok = true;
    if raw.checks.is_empty() {
        ctx.err(rt, format!("{tp}.checks"), "a target needs at least one check", "add [[services.NAME.targets.checks]] with kind = \"http\" or \"tcp\"; without checks its health is unknown forever");
        ok = false;
    }
    let mut checks = Vec::new();
    for (j, ct) in raw.checks.iter().enumerate() {
        if let Some(c) = check(ctx, &format!("{tp}.checks[{j}]"), ct) {
            checks.push(c);
        } else {
            ok = false;
        }
    }
    if !checks.is_empty()
        && checks
            .iter()
            .all(|c| c.spec.role() == crate::probe::Role::Liveness)
    {
        ctx.warn(
            rt,
            format!("{tp}.checks"),
            "every check of this target is a liveness check: it proves the target answers, not that it can serve, so user-facing errors stay hidden",
            "add a readiness check (the default role), e.g. kind = \"http\" on a path that reports the service's own dependencies",
        );
    }
    (checks, ok)
}

/// `fail_quorum`: between 1 and the number of checks written. `None` after an error.
fn fail_quorum(ctx: &mut Ctx, tp: &str, q: &Spanned<i64>, written: usize) -> Option<usize> {
    match usize::try_from(*q.get_ref()) {
        Ok(n) if n >= 1 && n <= written => Some(n),
        _ => {
            ctx.err(
                q,
                format!("{tp}.fail_quorum"),
                format!(
                    "fail_quorum {} is not between 1 and the number of checks ({})",
                    q.get_ref(),
                    written
                ),
                "set how many checks must fail for the target to count as down",
            );
            None
        }
    }
}
