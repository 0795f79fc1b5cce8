//! `[services.NAME]`: a service's provider, zone, record name and type, TTLs, all-down
//! policy, failback pace, approval, change windows; its targets and canary are read by
//! [`super::targets`] and [`super::canary`], and what its provider can do is checked by
//! [`super::provider_rules`].
//!
//! Part of config validation, which runs before the flow starts; each [`Service`] read here is
//! one state machine of the control loop.

use std::collections::BTreeMap;
use std::time::Duration;

use dnsfailback_provider::{Fqdn, RecordType};
use toml::Spanned;

use super::canary::canary;
use super::ctx::Ctx;
use super::provider_rules;
use super::targets::targets;
use crate::config::bounds;
use crate::config::model::{
    AllDownPolicy, Approval, FailbackMode, ProviderConfig, Service, Target,
};
use crate::config::raw::RawService;
use crate::config::window::ChangeWindow;

/// One `[services.NAME]` table. `None` when it has an error (every problem is still reported).
pub(super) fn service(
    ctx: &mut Ctx,
    name: &str,
    rs: &Spanned<RawService>,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Option<Service> {
    let p = format!("services.{name}");
    let raw = rs.get_ref();
    let mut ok = provider_known(ctx, &p, raw, providers);
    let zone = fqdn(ctx, &raw.zone, format!("{p}.zone"));
    let record = fqdn(ctx, &raw.name, format!("{p}.name"));
    if let (Some(z), Some(r)) = (&zone, &record) {
        if !r.is_in_zone(z) {
            ctx.err(
                &raw.name,
                format!("{p}.name"),
                format!("{r} is not inside zone {z}"),
                "use a name that ends with the zone, or correct the zone",
            );
            ok = false;
        }
    }
    let rtype = record_type(ctx, &p, raw);
    let (ttl, failover_ttl) = ttls(ctx, &p, raw, providers);
    let targets = targets(ctx, &p, rs, rtype);
    let all_down = all_down(ctx, &p, rs, &targets);
    let pace = pace(ctx, &p, raw);
    if raw.targets.len() == 1 {
        ctx.warn(
            rs,
            format!("{p}.targets"),
            "only one target: there is nowhere to fail over to",
            "add a backup target with a higher priority number",
        );
    }
    let canary = canary(ctx, &p, raw);
    let approval = approval(ctx, &p, raw);
    if let Some(pc) = providers.get(raw.provider.get_ref()) {
        provider_rules::canary_fits(ctx, &p, rs, pc, &canary);
        provider_rules::ttls_fit(ctx, &p, rs, pc, ttl, failover_ttl);
        if let Some(t) = rtype {
            provider_rules::record_type_fits(ctx, name, rs, pc, t);
        }
    }
    let ttl_lead_margin = ctx.duration(
        &raw.ttl_lead_margin,
        format!("{p}.ttl_lead_margin"),
        Duration::from_secs(10),
        bounds::TTL_LEAD_MARGIN,
    );
    let change_windows = change_windows(ctx, &p, raw);
    if !ok || targets.is_empty() {
        return None;
    }
    Some(Service {
        name: name.to_string(),
        provider: raw.provider.get_ref().clone(),
        zone: zone?,
        record: record?,
        rtype: rtype?,
        ttl,
        failover_ttl,
        all_down,
        failback: pace.failback,
        stable_for: pace.stable_for,
        restore_ttl_after: pace.restore_ttl_after,
        min_change_interval: pace.min_change_interval,
        targets,
        canary,
        approval,
        ttl_lead_margin,
        change_windows,
    })
}

/// `provider` must name a `[providers.NAME]` table.
fn provider_known(
    ctx: &mut Ctx,
    p: &str,
    raw: &RawService,
    providers: &BTreeMap<String, ProviderConfig>,
) -> bool {
    if providers.contains_key(raw.provider.get_ref()) {
        return true;
    }
    let known: Vec<&String> = providers.keys().collect();
    ctx.err(
        &raw.provider,
        format!("{p}.provider"),
        format!("no provider named `{}`", raw.provider.get_ref()),
        format!(
            "define [providers.{}] or use one of {known:?}",
            raw.provider.get_ref()
        ),
    );
    false
}

/// A domain name key, such as `zone` or `name`.
fn fqdn(ctx: &mut Ctx, v: &Spanned<String>, path: String) -> Option<Fqdn> {
    match Fqdn::new(v.get_ref()) {
        Ok(f) => Some(f),
        Err(e) => {
            ctx.err(
                v,
                path,
                e,
                "write a domain name such as \"shop.example.com\"",
            );
            None
        }
    }
}

/// A TTL key: 1 to 2147483647 seconds (RFC 2181); `default` when absent or after an error.
fn ttl_value(ctx: &mut Ctx, v: &Option<Spanned<i64>>, path: String, default: u32) -> u32 {
    match v {
        None => default,
        Some(s) => match u32::try_from(*s.get_ref()) {
            Ok(t) if (1..=2_147_483_647).contains(&t) => t,
            _ => {
                ctx.err(
                    s,
                    path,
                    format!("TTL {} is out of range", s.get_ref()),
                    "use a number of seconds from 1 to 2147483647 (RFC 2181)",
                );
                default
            }
        },
    }
}

/// `type`: a record type the provider crate knows.
fn record_type(ctx: &mut Ctx, p: &str, raw: &RawService) -> Option<RecordType> {
    match raw.rtype.get_ref().parse::<RecordType>() {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.err(
                &raw.rtype,
                format!("{p}.type"),
                e,
                "use A, AAAA, CNAME, MX, SRV or TXT",
            );
            None
        }
    }
}

/// `ttl` (300 s by default) and `failover_ttl`, which must not be higher than `ttl`.
fn ttls(
    ctx: &mut Ctx,
    p: &str,
    raw: &RawService,
    providers: &BTreeMap<String, ProviderConfig>,
) -> (u32, u32) {
    let ttl = ttl_value(ctx, &raw.ttl, format!("{p}.ttl"), 300);
    // The default failover TTL is 30 s, but never below what the provider accepts (Cloudflare:
    // 60 s), nor above `ttl`; a written value below the floor is an error (`ttls_fit`).
    let floor = providers
        .get(raw.provider.get_ref())
        .map_or(0, |pc| pc.capabilities.min_ttl);
    let failover_ttl = ttl_value(
        ctx,
        &raw.failover_ttl,
        format!("{p}.failover_ttl"),
        30.max(floor).min(ttl),
    );
    if failover_ttl > ttl {
        if let Some(f) = &raw.failover_ttl {
            ctx.err(
                f,
                format!("{p}.failover_ttl"),
                format!("failover_ttl {failover_ttl} is higher than ttl {ttl}"),
                "the failover TTL should be short (30-60 s) so traffic can come back quickly",
            );
        }
    }
    (ttl, failover_ttl)
}

/// `all_down` (keep-last, publish-all or sorry) and its `sorry_target`, which must name one
/// of the service's (valid) `targets`; a `sorry_target` without `sorry` is a warning.
fn all_down(ctx: &mut Ctx, p: &str, rs: &Spanned<RawService>, targets: &[Target]) -> AllDownPolicy {
    let raw = rs.get_ref();
    let all_down = match raw.all_down.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("keep-last") => AllDownPolicy::KeepLast,
        Some("publish-all") => AllDownPolicy::PublishAll,
        Some("sorry") => match &raw.sorry_target {
            Some(t) if targets.iter().any(|x| &x.name == t.get_ref()) => {
                AllDownPolicy::Sorry(t.get_ref().clone())
            }
            Some(t) => {
                ctx.err(
                    t,
                    format!("{p}.sorry_target"),
                    format!("no target named `{}`", t.get_ref()),
                    "name one of this service's targets",
                );
                AllDownPolicy::KeepLast
            }
            None => {
                ctx.err(
                    rs,
                    format!("{p}.sorry_target"),
                    "all_down = \"sorry\" needs a sorry_target",
                    "add sorry_target = \"NAME\" naming one of the targets",
                );
                AllDownPolicy::KeepLast
            }
        },
        Some(other) => {
            if let Some(a) = &raw.all_down {
                ctx.err(
                    a,
                    format!("{p}.all_down"),
                    format!("unknown all-down policy `{other}`"),
                    "use keep-last (default), publish-all or sorry",
                );
            }
            AllDownPolicy::KeepLast
        }
    };
    if raw.sorry_target.is_some() && !matches!(all_down, AllDownPolicy::Sorry(_)) {
        if let Some(t) = &raw.sorry_target {
            ctx.warn(
                t,
                format!("{p}.sorry_target"),
                "sorry_target is ignored unless all_down = \"sorry\"",
                "set all_down = \"sorry\" or remove sorry_target",
            );
        }
    }
    all_down
}

/// How fast a service's traffic may move: the failback mode and its waits.
struct Pace {
    failback: FailbackMode,
    stable_for: Duration,
    restore_ttl_after: Duration,
    min_change_interval: Duration,
}

/// `failback`, `stable_for`, `restore_ttl_after` and `min_change_interval`.
fn pace(ctx: &mut Ctx, p: &str, raw: &RawService) -> Pace {
    let failback = ctx.choice(
        &raw.failback,
        format!("{p}.failback"),
        &[
            ("auto", FailbackMode::Auto),
            ("manual", FailbackMode::Manual),
        ],
        FailbackMode::Auto,
    );
    let stable_for = ctx.duration(
        &raw.stable_for,
        format!("{p}.stable_for"),
        Duration::from_secs(60),
        bounds::STABLE_FOR,
    );
    let restore_ttl_after = ctx.duration(
        &raw.restore_ttl_after,
        format!("{p}.restore_ttl_after"),
        Duration::from_secs(600),
        bounds::RESTORE_TTL_AFTER,
    );
    let min_change_interval = ctx.duration(
        &raw.min_change_interval,
        format!("{p}.min_change_interval"),
        Duration::from_secs(0),
        bounds::MIN_CHANGE_INTERVAL,
    );
    Pace {
        failback,
        stable_for,
        restore_ttl_after,
        min_change_interval,
    }
}

/// `approval` (none or two-person) and, for two-person, `approval_timeout`.
fn approval(ctx: &mut Ctx, p: &str, raw: &RawService) -> Option<Approval> {
    match raw.approval.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("none") => None,
        Some("two-person") => Some(Approval {
            timeout: ctx.duration(
                &raw.approval_timeout,
                format!("{p}.approval_timeout"),
                Duration::from_secs(900),
                bounds::APPROVAL_TIMEOUT,
            ),
        }),
        Some(other) => {
            if let Some(a) = &raw.approval {
                ctx.err(
                    a,
                    format!("{p}.approval"),
                    format!("unknown approval mode `{other}`"),
                    "use none (default) or two-person",
                );
            }
            None
        }
    }
}

/// `change_windows`: each like "Mon-Fri 08:00-18:00" (UTC); a bad one is left out (and
/// reported).
fn change_windows(ctx: &mut Ctx, p: &str, raw: &RawService) -> Vec<ChangeWindow> {
    let mut change_windows = Vec::new();
    for (i, w) in raw.change_windows.iter().enumerate() {
        match w.get_ref().parse() {
            Ok(cw) => change_windows.push(cw),
            Err(e) => ctx.err(
                w,
                format!("{p}.change_windows[{i}]"),
                e,
                "write windows like \"Mon-Fri 08:00-18:00\" (UTC)",
            ),
        }
    }
    change_windows
}
