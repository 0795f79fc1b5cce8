//! `[controller]`: the state file, the admin API and its tokens, the tick, the failover cap,
//! the vantage points (agents and quorum) and the uplink anchors; `[controller.etcd]` is read
//! by [`super::etcd`].
//!
//! Part of config validation, which runs before the flow starts: what is read here configures
//! the control loop itself rather than any one service.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::checks::check;
use super::ctx::{label, name_at, Ctx};
use super::etcd::etcd;
use super::tls::admin_tls;
use crate::config::bounds;
use crate::config::error::Problem;
use crate::config::model::{AdminToken, ControllerConfig, Role, UplinkAnchor};
use crate::config::raw::{RawAdminToken, RawController, RawUplinkAnchor};

/// The controller settings with every default, for a file without `[controller]`.
fn defaults() -> ControllerConfig {
    ControllerConfig {
        state: PathBuf::from("dnsfailback.db"),
        admin_listen: SocketAddr::from(([127, 0, 0, 1], 8053)),
        admin_token: None,
        tick: Duration::from_millis(500),
        admin_tokens: Vec::new(),
        max_failovers: 5,
        max_failovers_window: Duration::from_secs(600),
        vantage_quorum: 1,
        agents: Vec::new(),
        agent_stale_after: Duration::from_secs(10),
        etcd: None,
        uplink_checks: Vec::new(),
        admin_tls: None,
        notify: Vec::new(),
    }
}

/// `[controller]`, each key checked in the order of the file's documentation.
pub(super) fn controller(ctx: &mut Ctx, raw: Option<&Spanned<RawController>>) -> ControllerConfig {
    let mut c = defaults();
    let Some(raw_ctl) = raw else { return c };
    let raw = raw_ctl.get_ref();
    if let Some(s) = &raw.state {
        c.state = PathBuf::from(s.get_ref());
    }
    if let Some(addr) = raw.admin_listen.as_ref().and_then(|a| admin_listen(ctx, a)) {
        c.admin_listen = addr;
    }
    c.admin_token = raw.admin_token.as_ref().map(|t| t.get_ref().clone());
    if let Some(t) = &raw.admin_token {
        let src = t.get_ref();
        if src.env.is_some() == src.file.is_some() {
            ctx.err(t, "controller.admin_token", "give exactly one of `env` or `file`", "write admin_token = { env = \"DNSFAILBACK_ADMIN_TOKEN\" } or { file = \"/etc/dnsfailback/admin.token\" }");
        }
    }
    c.tick = ctx.duration(&raw.tick, "controller.tick".into(), c.tick, bounds::TICK);
    c.admin_tokens = admin_tokens(ctx, &raw.admin_tokens);
    if let Some(m) = &raw.max_failovers {
        match usize::try_from(*m.get_ref()) {
            Ok(n) if n >= 1 => c.max_failovers = n,
            _ => ctx.err(
                m,
                "controller.max_failovers",
                "max_failovers must be at least 1",
                "set how many automatic failovers may happen per window (default 5)",
            ),
        }
    }
    c.agents = agents(ctx, raw_ctl);
    c.agent_stale_after = ctx.duration(
        &raw.agent_stale_after,
        "controller.agent_stale_after".into(),
        c.agent_stale_after,
        bounds::AGENT_STALE_AFTER,
    );
    if let Some(q) = &raw.vantage_quorum {
        match usize::try_from(*q.get_ref()) {
            Ok(n) if n >= 1 && n <= raw.agents.len() + 1 => c.vantage_quorum = n,
            _ => ctx.err(q, "controller.vantage_quorum", format!("vantage_quorum {} is not between 1 and the number of vantage points ({}: the controller and {} agent(s))", q.get_ref(), raw.agents.len() + 1, raw.agents.len()), "list the agents in controller.agents and require at most that many plus one"),
        }
    }
    agents_have_tokens(ctx, raw_ctl, &c.admin_tokens);
    c.max_failovers_window = ctx.duration(
        &raw.max_failovers_window,
        "controller.max_failovers_window".into(),
        c.max_failovers_window,
        bounds::MAX_FAILOVERS_WINDOW,
    );
    c.etcd = raw.etcd.as_ref().and_then(|e| etcd(ctx, e));
    c.uplink_checks = uplink_checks(ctx, &raw.uplink_checks);
    c.admin_tls = admin_tls(ctx, raw, c.admin_listen);
    c.notify = super::notify::notify(ctx, &raw.notify);
    c
}

/// `controller.admin_listen`: an IP:port (whether it may be reached from the network without
/// TLS is [`admin_tls`]'s rule).
fn admin_listen(ctx: &mut Ctx, a: &Spanned<String>) -> Option<SocketAddr> {
    match a.get_ref().parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.err(
                a,
                "controller.admin_listen",
                format!("`{}` is not an IP:port address", a.get_ref()),
                "write it like \"127.0.0.1:8053\"",
            );
            None
        }
    }
}

/// `[[controller.admin_tokens]]`: a known role, a unique name, exactly one secret source. A
/// token with an unknown role is left out (and reported).
fn admin_tokens(ctx: &mut Ctx, raw: &[Spanned<RawAdminToken>]) -> Vec<AdminToken> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, t) in raw.iter().enumerate() {
        let t = t.get_ref();
        let path = format!("controller.admin_tokens[{i}]");
        let role = match t.role.get_ref().as_str() {
            "operator" => Role::Operator,
            "read-only" => Role::ReadOnly,
            "agent" => Role::Agent,
            other => {
                ctx.err(
                    &t.role,
                    format!("{path}.role"),
                    format!("unknown role `{other}`"),
                    "use \"operator\", \"read-only\" or \"agent\"",
                );
                continue;
            }
        };
        if !names.insert(t.name.get_ref().clone()) {
            ctx.err(
                &t.name,
                format!("{path}.name"),
                format!("duplicate token name `{}`", t.name.get_ref()),
                "give each token its own name; it is the actor in the audit trail",
            );
        }
        let src = t.token.get_ref();
        if src.env.is_some() == src.file.is_some() {
            ctx.err(
                &t.token,
                format!("{path}.token"),
                "give exactly one of `env` or `file`",
                "write token = { env = \"VAR\" } or { file = \"/path\" }",
            );
        }
        out.push(AdminToken {
            name: t.name.get_ref().clone(),
            role,
            token: src.clone(),
        });
    }
    out
}

/// `controller.agents`: names, each following the name rule (an agent's name is also its
/// token's name and a metrics label). A bad name is left out (and reported).
fn agents(ctx: &mut Ctx, raw_ctl: &Spanned<RawController>) -> Vec<String> {
    let line = ctx.line(raw_ctl);
    let mut out = Vec::new();
    for (i, a) in raw_ctl.get_ref().agents.iter().enumerate() {
        if name_at(ctx, line, a, format!("controller.agents[{i}]"), "edge-eu") {
            out.push(a.clone());
        }
    }
    out
}

/// Every agent in `controller.agents` needs a token of role `agent` with its name.
fn agents_have_tokens(ctx: &mut Ctx, raw_ctl: &Spanned<RawController>, tokens: &[AdminToken]) {
    for a in &raw_ctl.get_ref().agents {
        if !tokens.iter().any(|t| &t.name == a && t.role == Role::Agent) {
            ctx.problems.push(Problem::error(
                ctx.line(raw_ctl),
                "controller.agents".to_string(),
                format!("agent `{a}` has no token"),
                format!("add [[controller.admin_tokens]] with name = \"{a}\", role = \"agent\""),
            ));
        }
    }
}

/// `[[controller.uplink_checks]]`: named anchors, each with checks parsed exactly like a
/// target's. An anchor with a bad name or check is left out (and reported).
fn uplink_checks(ctx: &mut Ctx, raw: &[Spanned<RawUplinkAnchor>]) -> Vec<UplinkAnchor> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, ra) in raw.iter().enumerate() {
        let path = format!("controller.uplink_checks[{i}]");
        let r = ra.get_ref();
        let name = label(ctx, &r.name, format!("{path}.name"), "anchor-1");
        if let Some(n) = &name {
            if !names.insert(n.clone()) {
                ctx.err(
                    &r.name,
                    format!("{path}.name"),
                    format!("duplicate uplink anchor name `{n}`"),
                    "give each anchor its own name",
                );
            }
        }
        if r.checks.is_empty() {
            ctx.err(
                ra,
                format!("{path}.checks"),
                "an uplink anchor needs at least one check",
                "add [[controller.uplink_checks.checks]] with kind = \"tcp\", \"dns\" or \"http\", e.g. the provider's API endpoint or a name server of the zone",
            );
        }
        let mut ok = name.is_some() && !r.checks.is_empty();
        let mut checks = Vec::with_capacity(r.checks.len());
        for (j, ct) in r.checks.iter().enumerate() {
            match check(ctx, &format!("{path}.checks[{j}]"), ct) {
                Some(c) => checks.push(c),
                None => ok = false,
            }
        }
        if let (true, Some(name)) = (ok, name) {
            out.push(UplinkAnchor { name, checks });
        }
    }
    out
}
