//! What validation asks of the provider registry: each `[providers.NAME]` table's `kind` and
//! settings, and whether a service fits what its provider can do (weighted canary steps, TTL
//! floor, record type) and a group of controllers (`[controller.etcd]`).
//!
//! Every rule reads a registration's capabilities or the registry's list, never an adapter's
//! name, so a new adapter is validated by what it declares.

use std::collections::BTreeMap;

use dnsfailback_provider::RecordType;
use toml::Spanned;

use super::super::de_error;
use super::super::error::Problem;
use super::super::faults::{faults, Fault, Seg};
use super::super::model::{Canary, ProviderConfig};
use super::super::raw::{plain, RawService, SpannedTable};
use super::Ctx;
use crate::providers::{render, Registration, SettingsError};

/// Reads every `[providers.NAME]` table: `kind` must name a registered adapter, and the rest
/// must parse as that adapter's settings (no network). A table whose settings are bad is kept,
/// with the kind's default capabilities, so its services are still checked.
pub(super) fn providers(
    ctx: &mut Ctx,
    raw: &BTreeMap<String, Spanned<SpannedTable>>,
) -> BTreeMap<String, ProviderConfig> {
    let kinds = ctx.registry.kinds();
    let example = kind_example(&kinds);
    let mut out = BTreeMap::new();
    for (name, table) in raw {
        let path = format!("providers.{name}");
        let mut settings = plain(table.get_ref());
        let kind = match settings.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(_) => {
                ctx.err(
                    table,
                    format!("{path}.kind"),
                    "`kind` must be a string",
                    format!("write {example}"),
                );
                continue;
            }
            None => {
                ctx.err(
                    table,
                    format!("{path}.kind"),
                    "missing `kind`",
                    format!("add {example}"),
                );
                continue;
            }
        };
        let Some(adapter) = ctx.registry.get(&kind) else {
            ctx.err(
                table,
                format!("{path}.kind"),
                format!("unknown provider kind `{kind}`"),
                format!("use one of {}", kinds.join(", ")),
            );
            continue;
        };
        let capabilities = match adapter.check(&settings) {
            Ok(caps) => caps,
            Err(e) => {
                settings_error(ctx, table, &path, &settings, &e, adapter);
                adapter.capabilities.clone()
            }
        };
        out.insert(
            name.clone(),
            ProviderConfig {
                name: name.clone(),
                adapter,
                settings,
                capabilities,
            },
        );
    }
    out
}

/// A settings table its adapter refused (`e` its first error): every unknown key and bad
/// value of it ([`faults`]), each in plain words ([`de_error::word`]) with the adapter's page.
fn settings_error(
    ctx: &mut Ctx,
    table: &Spanned<SpannedTable>,
    path: &str,
    settings: &toml::Table,
    e: &SettingsError,
    adapter: &Registration,
) {
    let page = format!("see docs/providers/{}.md", adapter.kind);
    let mut found = faults(&toml::Value::Table(settings.clone()), &mut |part| {
        let toml::Value::Table(t) = part else {
            return None;
        };
        let e = adapter.check(&t).err()?;
        Some(Fault::new(e.at, e.message))
    });
    if found.is_empty() {
        found.push(Fault::new(e.at.clone(), e.message.clone()));
    }
    for fault in &found {
        setting_error(ctx, table, path, settings, fault, &page);
    }
}

/// One fault of provider table `path`, on the line of its setting (the table's when the fault
/// is the table's own, such as a missing key).
fn setting_error(
    ctx: &mut Ctx,
    table: &Spanned<SpannedTable>,
    path: &str,
    settings: &toml::Table,
    fault: &Fault,
    page: &str,
) {
    let key = render(&fault.at);
    let (at, message, fix) = match de_error::unknown_field(&fault.message) {
        _ if key.is_empty() => {
            let fix = format!("correct the provider settings; {page}");
            (path.to_string(), fault.message.clone(), fix)
        }
        Some((k, allowed)) => {
            let allowed: Vec<String> = std::iter::once("kind".to_string()).chain(allowed).collect();
            let (message, fix) = de_error::unknown_key(&k, &allowed, page);
            (format!("{path}.{key}"), message, fix)
        }
        _ => {
            let at = format!("{path}.{key}");
            let value = de_error::value_at(settings, &key);
            let (message, fix) = de_error::word(&at, &fault.message, value);
            (at, message, format!("{fix}; {page}"))
        }
    };
    // The line of the setting itself (its first key), else the table's.
    let setting = match fault.at.first() {
        Some(Seg::Key(k)) => table.get_ref().get(k),
        _ => None,
    };
    match setting {
        Some(value) => ctx.err(value, at, message, fix),
        None => ctx.err(table, at, message, fix),
    }
}

/// `kind = "embedded" (or route53, cloudflare, rfc2136)`: the first registered kind as the
/// example, the others beside it.
fn kind_example(kinds: &[&str]) -> String {
    match kinds.split_first() {
        Some((first, [])) => format!("kind = \"{first}\""),
        Some((first, rest)) => format!("kind = \"{first}\" (or {})", rest.join(", ")),
        None => "kind = \"...\" (this build has no provider adapters)".to_string(),
    }
}

/// Canary steps below 100 % need weighted records; without them a step publishes both
/// targets together (about 50 % each). A warning: the failback still works.
pub(super) fn canary_fits(
    ctx: &mut Ctx,
    p: &str,
    rs: &Spanned<RawService>,
    pc: &ProviderConfig,
    canary: &Canary,
) {
    if pc.capabilities.weighted || canary.steps.iter().all(|s| *s >= 100) {
        return;
    }
    let at = rs
        .get_ref()
        .canary_steps
        .as_ref()
        .map(|s| ctx.line(s))
        .unwrap_or_else(|| ctx.line(rs));
    let weighted = ctx.registry.kinds_with(|c| c.weighted);
    let fix = if weighted.is_empty() {
        "set canary_steps = [100] (no provider of this build has weighted records)".to_string()
    } else {
        format!(
            "use a provider with weights ({}) for real percentages, or set canary_steps = [100]",
            weighted.join(", ")
        )
    };
    ctx.problems.push(Problem::warning(
        at,
        format!("{p}.canary_steps"),
        format!(
            "provider `{}` ({}) has no weighted records: canary steps {:?} are expressed by publishing both targets together (about 50 % each)",
            pc.name,
            pc.kind(),
            canary.steps
        ),
        fix,
    ));
}

/// A record type the provider cannot publish would fail at the first change; refuse it now.
pub(super) fn record_type_fits(
    ctx: &mut Ctx,
    name: &str,
    rs: &Spanned<RawService>,
    pc: &ProviderConfig,
    rtype: RecordType,
) {
    let supported = pc.capabilities.record_types;
    if supported.contains(rtype) {
        return;
    }
    let others = ctx.registry.kinds_with(|c| c.record_types.contains(rtype));
    let elsewhere = if others.is_empty() {
        String::new()
    } else {
        format!(", or a provider that can ({})", others.join(", "))
    };
    ctx.err(
        &rs.get_ref().rtype,
        format!("services.{name}.type"),
        format!(
            "service `{name}` publishes {rtype} records, which provider `{}` ({}) cannot publish; it supports {supported}",
            pc.name,
            pc.kind()
        ),
        format!("use one of the types it supports{elsewhere}"),
    );
}

/// A TTL below the provider's floor would make every change of the service invalid (the
/// planner refuses it), so a failover would never be published; refuse it now. `ttl` and
/// `failover_ttl` are the values validation settled on (written or default).
pub(super) fn ttls_fit(
    ctx: &mut Ctx,
    p: &str,
    rs: &Spanned<RawService>,
    pc: &ProviderConfig,
    ttl: u32,
    failover_ttl: u32,
) {
    let floor = pc.capabilities.min_ttl;
    let raw = rs.get_ref();
    for (key, written, value) in [
        ("ttl", &raw.ttl, ttl),
        ("failover_ttl", &raw.failover_ttl, failover_ttl),
    ] {
        if value >= floor {
            continue;
        }
        let (line, what) = match written {
            // An out-of-range value was reported already and replaced by the default.
            Some(w) if i64::from(value) != *w.get_ref() => continue,
            Some(w) => (ctx.line(w), format!("{key} {value}")),
            None => (ctx.line(rs), format!("{key} (default {value})")),
        };
        ctx.problems.push(Problem::error(
            line,
            format!("{p}.{key}"),
            format!(
                "{what} is below the smallest TTL provider `{}` ({}) accepts, {floor}: every change of this service would be refused",
                pc.name,
                pc.kind()
            ),
            format!("set {key} = {floor} or more"),
        ));
    }
}

#[cfg(test)]
mod tests;
