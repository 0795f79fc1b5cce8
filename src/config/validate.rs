//! Raw TOML -> typed [`Config`], collecting every problem with its line, key path and fix.
//!
//! First stage of the controller's start-up, before any probe runs: an invalid file never
//! reaches the flow, so no DNS change can come from a configuration error.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dnsfailback_provider::{Fqdn, RecordType};
use toml::Spanned;

use super::bounds::{self, Bounds};
use super::error::{ConfigError, Lines, Problem};
use super::model::Role;
use super::model::*;
use super::raw::{RawConfig, RawController, RawEtcd, RawService, RawTarget};
use crate::probe::{duration_opt, CheckSpec};
use crate::providers::{Registry, REGISTRY};

mod provider_rules;

const DOCS: &str = "see docs/config.md";

struct Ctx {
    lines: Lines,
    problems: Vec<Problem>,
    /// The adapters `kind` may name, and what each can do.
    registry: Registry,
}

impl Ctx {
    /// One of a fixed set of words; an unknown word is an error listing the allowed ones.
    fn choice<T: Copy>(
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

    fn line<T>(&self, s: &Spanned<T>) -> Option<usize> {
        Some(self.lines.line(s.span().start))
    }
    fn err<T>(
        &mut self,
        at: &Spanned<T>,
        path: impl Into<String>,
        msg: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = self.line(at);
        self.problems.push(Problem::error(line, path, msg, fix));
    }
    fn warn<T>(
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
    fn duration(
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
    fn duration_checked(
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

/// Parses and validates `text` (the content of `file`). Returns the config and any warnings,
/// or every problem found.
pub fn parse(file: &Path, text: &str) -> Result<(Config, Vec<Problem>), ConfigError> {
    parse_with(file, text, REGISTRY)
}

/// [`parse`] against the adapters of `registry`: for an embedder that registers adapters of its
/// own, and for tests, which pass fake ones to show that the rules follow what a registration
/// declares.
pub fn parse_with(
    file: &Path,
    text: &str,
    registry: Registry,
) -> Result<(Config, Vec<Problem>), ConfigError> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map(|s| Lines::new(text).line(s.start));
            let msg = e.message().to_string();
            let fix = if msg.contains("unknown field") {
                format!("remove the key or correct its spelling; the allowed keys are listed above ({DOCS})")
            } else if msg.contains("missing field") {
                format!("add the missing key ({DOCS})")
            } else {
                format!("correct the TOML syntax or value type ({DOCS})")
            };
            return Err(ConfigError {
                file: file.to_path_buf(),
                problems: vec![Problem::error(line, "", msg, fix)],
            });
        }
    };
    let mut ctx = Ctx {
        lines: Lines::new(text),
        problems: Vec::new(),
        registry,
    };
    let controller = controller(&mut ctx, raw.controller.as_ref());
    let providers = provider_rules::providers(&mut ctx, &raw.providers);
    if let (Some(_), Some(rc)) = (&controller.etcd, &raw.controller) {
        provider_rules::in_process_providers_with_etcd(&mut ctx, rc, &providers);
    }
    let mut services = BTreeMap::new();
    if raw.services.is_empty() {
        ctx.problems.push(Problem::error(
            None,
            "services",
            "no service is configured",
            "add a [services.NAME] table with its targets; examples/quickstart.toml shows one",
        ));
    }
    for (name, rs) in &raw.services {
        if let Some(s) = service(&mut ctx, name, rs, &providers) {
            services.insert(name.clone(), s);
        }
    }
    let config = Config {
        source: file.to_path_buf(),
        controller,
        providers,
        services,
    };
    let (errors, warnings): (Vec<_>, Vec<_>) = ctx
        .problems
        .into_iter()
        .partition(|p| p.severity == super::error::Severity::Error);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            problems: errors.into_iter().chain(warnings).collect(),
        })
    }
}

fn controller(ctx: &mut Ctx, raw: Option<&Spanned<RawController>>) -> ControllerConfig {
    let mut c = ControllerConfig {
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
    };
    let Some(raw_ctl) = raw else { return c };
    let raw = raw_ctl.get_ref();
    if let Some(s) = &raw.state {
        c.state = PathBuf::from(s.get_ref());
    }
    if let Some(a) = &raw.admin_listen {
        match a.get_ref().parse::<SocketAddr>() {
            Ok(addr) => {
                if !addr.ip().is_loopback() {
                    ctx.warn(a, "controller.admin_listen", format!("{addr} is not a loopback address: the admin API will be reachable from the network"), "keep the default 127.0.0.1:8053 unless a proxy with TLS fronts it");
                }
                c.admin_listen = addr;
            }
            Err(_) => ctx.err(
                a,
                "controller.admin_listen",
                format!("`{}` is not an IP:port address", a.get_ref()),
                "write it like \"127.0.0.1:8053\"",
            ),
        }
    }
    c.admin_token = raw.admin_token.as_ref().map(|t| t.get_ref().clone());
    if let Some(t) = &raw.admin_token {
        let src = t.get_ref();
        if src.env.is_some() == src.file.is_some() {
            ctx.err(t, "controller.admin_token", "give exactly one of `env` or `file`", "write admin_token = { env = \"DNSFAILBACK_ADMIN_TOKEN\" } or { file = \"/etc/dnsfailback/admin.token\" }");
        }
    }
    c.tick = ctx.duration(&raw.tick, "controller.tick".into(), c.tick, bounds::TICK);
    let mut names = BTreeSet::new();
    for (i, t) in raw.admin_tokens.iter().enumerate() {
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
        c.admin_tokens.push(AdminToken {
            name: t.name.get_ref().clone(),
            role,
            token: src.clone(),
        });
    }
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
    c.agents = raw.agents.clone();
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
    for a in &raw.agents {
        if !c
            .admin_tokens
            .iter()
            .any(|t| &t.name == a && t.role == Role::Agent)
        {
            ctx.problems.push(Problem::error(
                ctx.line(raw_ctl),
                "controller.agents".to_string(),
                format!("agent `{a}` has no token"),
                format!("add [[controller.admin_tokens]] with name = \"{a}\", role = \"agent\""),
            ));
        }
    }
    c.max_failovers_window = ctx.duration(
        &raw.max_failovers_window,
        "controller.max_failovers_window".into(),
        c.max_failovers_window,
        bounds::MAX_FAILOVERS_WINDOW,
    );
    c.etcd = raw.etcd.as_ref().and_then(|e| etcd(ctx, e));
    c.uplink_checks = uplink_checks(ctx, &raw.uplink_checks);
    c
}

/// Longest site or anchor name (a DNS label's length).
const MAX_LABEL: usize = 63;

/// A short identifier (a target's `site`, an uplink anchor's `name`): not empty, at most 63
/// characters, letters, digits, `-`, `_`, `.`.
fn label(ctx: &mut Ctx, v: &Spanned<String>, path: String, example: &str) -> Option<String> {
    let s = v.get_ref();
    let problem = if s.is_empty() {
        Some("is empty".to_string())
    } else if s.chars().count() > MAX_LABEL {
        Some(format!("`{s}` is longer than {MAX_LABEL} characters"))
    } else {
        s.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map(|c| format!("`{s}` contains `{c}`"))
    };
    match problem {
        None => Some(s.clone()),
        Some(p) => {
            ctx.err(
                v,
                path,
                format!("{p}: use 1 to {MAX_LABEL} letters, digits, `-`, `_` or `.`"),
                format!("write e.g. \"{example}\""),
            );
            None
        }
    }
}

/// `[[controller.uplink_checks]]`: named anchors, each with checks parsed exactly like a
/// target's. An anchor with a bad name or check is left out (and reported).
fn uplink_checks(ctx: &mut Ctx, raw: &[Spanned<super::raw::RawUplinkAnchor>]) -> Vec<UplinkAnchor> {
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

/// `[controller.etcd]`: endpoints must be http(s) URLs; the lease long enough to survive a
/// keep-alive hiccup and short enough that a dead leader is replaced quickly.
fn etcd(ctx: &mut Ctx, raw: &Spanned<RawEtcd>) -> Option<EtcdSettings> {
    let r = raw.get_ref();
    let mut ok = true;
    if r.endpoints.get_ref().is_empty() {
        ctx.err(
            &r.endpoints,
            "controller.etcd.endpoints",
            "no etcd endpoint given",
            "list the cluster's client URLs, e.g. [\"http://10.0.0.5:2379\"]",
        );
        ok = false;
    }
    for e in r.endpoints.get_ref() {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            ctx.err(
                &r.endpoints,
                "controller.etcd.endpoints",
                format!("`{e}` is not an http:// or https:// URL"),
                "write the client URL, e.g. \"http://10.0.0.5:2379\"",
            );
            ok = false;
        }
    }
    let lease_ttl = ctx.duration_checked(
        &r.lease_ttl,
        "controller.etcd.lease_ttl".into(),
        Duration::from_secs(10),
        bounds::ETCD_LEASE_TTL,
    );
    let timeout = ctx.duration_checked(
        &r.timeout,
        "controller.etcd.timeout".into(),
        Duration::from_secs(2),
        bounds::ETCD_TIMEOUT,
    );
    let node = match &r.node {
        Some(n) if n.get_ref().trim().is_empty() => {
            ctx.err(n, "controller.etcd.node", "node is empty", "name this controller, e.g. \"ctl-a\"; it is shown to the others as the lease holder");
            ok = false;
            String::new()
        }
        Some(n) => n.get_ref().clone(),
        None => std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("controller-{}", std::process::id())),
    };
    let prefix = r
        .prefix
        .as_ref()
        .map(|p| p.get_ref().clone())
        .unwrap_or_else(|| "/dnsfailback".into());
    if !prefix.starts_with('/') {
        if let Some(p) = &r.prefix {
            ctx.err(
                p,
                "controller.etcd.prefix",
                format!("prefix `{prefix}` does not start with /"),
                "write e.g. \"/dnsfailback/prod\"",
            );
        }
        ok = false;
    }
    let auth = match (&r.user, &r.password) {
        (None, None) => None,
        (Some(u), Some(p)) => Some((u.get_ref().clone(), p.get_ref().clone())),
        (Some(u), None) => {
            ctx.err(
                u,
                "controller.etcd.password",
                "`user` without `password`",
                "add password = { env = \"DNSFAILBACK_ETCD_PASSWORD\" } (or { file = \"/path\" })",
            );
            ok = false;
            None
        }
        (None, Some(p)) => {
            ctx.err(
                p,
                "controller.etcd.user",
                "`password` without `user`",
                "add the etcd user name, e.g. user = \"dnsfailback\"",
            );
            ok = false;
            None
        }
    };
    let (true, Some(lease_ttl), Some(timeout)) = (ok, lease_ttl, timeout) else {
        return None;
    };
    Some(EtcdSettings {
        endpoints: r.endpoints.get_ref().clone(),
        prefix,
        node,
        lease_ttl,
        timeout,
        auth,
    })
}

fn hook(ctx: &mut Ctx, raw: &Option<Spanned<super::raw::RawHook>>, path: String) -> Option<Hook> {
    let h = raw.as_ref()?;
    let r = h.get_ref();
    let timeout = match &r.timeout {
        None => Duration::from_secs(30),
        Some(t) => match duration_opt::parse(t) {
            Ok(d) => match bounds::HOOK_TIMEOUT.check("timeout", t, d) {
                None => d,
                Some(msg) => {
                    ctx.err(
                        h,
                        format!("{path}.timeout"),
                        msg,
                        format!(
                            "write a hook timeout {} (the default is 30s); the service's failback waits for its hook",
                            bounds::HOOK_TIMEOUT.describe()
                        ),
                    );
                    return None;
                }
            },
            Err(e) => {
                ctx.err(
                    h,
                    format!("{path}.timeout"),
                    e,
                    "write a duration such as \"30s\"",
                );
                return None;
            }
        },
    };
    match (&r.command, &r.url) {
        (Some(argv), None) if !argv.is_empty() => Some(Hook::Command {
            argv: argv.clone(),
            timeout,
        }),
        (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(Hook::Http {
                url: url.clone(),
                timeout,
            })
        }
        _ => {
            ctx.err(h, path, "a hook needs exactly one of `command` (a non-empty list) or `url` (http/https)", "write { command = [\"/usr/local/bin/check-replication\"], timeout = \"30s\" } or { url = \"https://...\" }");
            None
        }
    }
}

fn canary(ctx: &mut Ctx, p: &str, raw: &RawService) -> Canary {
    let mut steps = vec![5, 25, 50, 100];
    if let Some(st) = &raw.canary_steps {
        let v: Vec<i64> = st.get_ref().clone();
        let ascending = v.windows(2).all(|w| w[0] < w[1]);
        if v.is_empty()
            || !ascending
            || v.iter().any(|x| !(1..=100).contains(x))
            || v.last() != Some(&100)
        {
            ctx.err(
                st,
                format!("{p}.canary_steps"),
                format!("{v:?} is not an ascending list of percentages ending at 100"),
                "write e.g. [5, 25, 50, 100]; [100] returns all traffic at once",
            );
        } else {
            steps = v
                .into_iter()
                .filter_map(|x| u32::try_from(x).ok())
                .collect();
        }
    }
    let hold = ctx.duration(
        &raw.step_hold,
        format!("{p}.step_hold"),
        Duration::from_secs(120),
        bounds::STEP_HOLD,
    );
    let metric = match (&raw.gate_metrics_url, &raw.gate_metrics_max) {
        (None, None) => None,
        (Some(u), Some(m))
            if u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://") =>
        {
            Some(MetricGate {
                url: u.get_ref().clone(),
                max: *m.get_ref(),
            })
        }
        (Some(u), _) => {
            ctx.err(u, format!("{p}.gate_metrics_url"), "a metrics gate needs an http(s) URL and `gate_metrics_max`", "write gate_metrics_url = \"http://prometheus:9090/api/v1/query?query=...\" and gate_metrics_max = 0.01");
            None
        }
        (None, Some(m)) => {
            ctx.err(
                m,
                format!("{p}.gate_metrics_max"),
                "`gate_metrics_max` needs `gate_metrics_url`",
                "add gate_metrics_url or remove gate_metrics_max",
            );
            None
        }
    };
    let mut gates = Gates {
        max_error_rate: 0.05,
        max_latency: None,
        baseline_factor: Some(2.0),
        metric,
    };
    if let Some(e) = &raw.gate_max_error_rate {
        if (0.0..=1.0).contains(e.get_ref()) {
            gates.max_error_rate = *e.get_ref();
        } else {
            ctx.err(
                e,
                format!("{p}.gate_max_error_rate"),
                "must be a fraction from 0.0 to 1.0",
                "write e.g. 0.01 for 1 % failed probes",
            );
        }
    }
    if raw.gate_max_latency.is_some() {
        gates.max_latency = Some(ctx.duration(
            &raw.gate_max_latency,
            format!("{p}.gate_max_latency"),
            Duration::from_secs(1),
            bounds::GATE_MAX_LATENCY,
        ));
    }
    if let Some(f) = &raw.gate_baseline_factor {
        if *f.get_ref() >= 1.0 {
            gates.baseline_factor = Some(*f.get_ref());
        } else {
            ctx.err(
                f,
                format!("{p}.gate_baseline_factor"),
                "must be at least 1.0",
                "write e.g. 2.0: the step's latency may be at most twice the primary's normal",
            );
        }
    }
    let on_gate_failure = ctx.choice(
        &raw.on_gate_failure,
        format!("{p}.on_gate_failure"),
        &[
            ("freeze", GateFailure::Freeze),
            ("rollback", GateFailure::Rollback),
        ],
        GateFailure::Freeze,
    );
    Canary {
        steps,
        hold,
        gates,
        on_gate_failure,
        pre_hook: hook(
            ctx,
            &raw.pre_failback_hook,
            format!("{p}.pre_failback_hook"),
        ),
        post_step_hook: hook(ctx, &raw.post_step_hook, format!("{p}.post_step_hook")),
    }
}

fn service(
    ctx: &mut Ctx,
    name: &str,
    rs: &Spanned<RawService>,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Option<Service> {
    let p = format!("services.{name}");
    let raw = rs.get_ref();
    let mut ok = true;
    if !providers.contains_key(raw.provider.get_ref()) {
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
        ok = false;
    }
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
    let rtype = match raw.rtype.get_ref().parse::<RecordType>() {
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
    };
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
    let targets = targets(ctx, &p, rs, rtype);
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
    if raw.targets.len() == 1 {
        ctx.warn(
            rs,
            format!("{p}.targets"),
            "only one target: there is nowhere to fail over to",
            "add a backup target with a higher priority number",
        );
    }
    let canary = canary(ctx, &p, raw);
    let approval = match raw.approval.as_ref().map(|s| s.get_ref().as_str()) {
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
    };
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
        failback,
        stable_for,
        restore_ttl_after,
        min_change_interval,
        targets,
        canary,
        approval,
        ttl_lead_margin,
        change_windows,
    })
}

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

fn targets(
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

fn target(
    ctx: &mut Ctx,
    tp: &str,
    rt: &Spanned<RawTarget>,
    rtype: Option<RecordType>,
) -> Option<Target> {
    let raw = rt.get_ref();
    let mut ok = true;
    let values: Vec<(String, Option<usize>)> = match (&raw.address, &raw.addresses) {
        (Some(a), None) => vec![(a.get_ref().clone(), ctx.line(a))],
        (None, Some(list)) => list
            .get_ref()
            .iter()
            .map(|v| (v.clone(), ctx.line(list)))
            .collect(),
        (Some(_), Some(_)) | (None, None) => {
            ctx.err(
                rt,
                format!("{tp}.address"),
                "give exactly one of `address` or `addresses`",
                "write address = \"192.0.2.10\" (or addresses = [\"...\", \"...\"])",
            );
            return None;
        }
    };
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
        for (v, line) in &values {
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
    let fail_quorum = match &raw.fail_quorum {
        None => checks.len().max(1),
        Some(q) => match usize::try_from(*q.get_ref()) {
            Ok(n) if n >= 1 && n <= raw.checks.len() => n,
            _ => {
                ctx.err(
                    q,
                    format!("{tp}.fail_quorum"),
                    format!(
                        "fail_quorum {} is not between 1 and the number of checks ({})",
                        q.get_ref(),
                        raw.checks.len()
                    ),
                    "set how many checks must fail for the target to count as down",
                );
                ok = false;
                1
            }
        },
    };
    let site = match &raw.site {
        None => None,
        Some(v) => {
            let site = label(ctx, v, format!("{tp}.site"), "eu-west-1a");
            ok &= site.is_some();
            site
        }
    };
    if !ok {
        return None;
    }
    Some(Target {
        name: raw.name.get_ref().clone(),
        values: norm,
        priority,
        checks,
        fail_quorum,
        site,
    })
}

fn check(ctx: &mut Ctx, cp: &str, ct: &Spanned<toml::Table>) -> Option<Check> {
    let mut table = ct.get_ref().clone();
    let mut threshold = |key: &str, default: u32, ctx: &mut Ctx| -> Option<u32> {
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
    };
    let rise = threshold("rise", 3, ctx);
    let fall = threshold("fall", 2, ctx);
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
    let window = match window {
        Ok(w) => Some(w),
        Err(()) => {
            ctx.err(ct, format!("{cp}.window"), "`window` and `window_failures` go together: whole numbers with 1 <= window_failures <= window <= 1000", "write e.g. window = 10, window_failures = 3 (down when 3 of the last 10 failed)");
            None
        }
    };
    let max_latency = match table.remove("max_latency") {
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
    };
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
        // A value that does not parse is reported below, by the check's own parser.
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
    let spec: Result<CheckSpec, _> = toml::Value::Table(table).try_into();
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
            ctx.err(
                ct,
                cp.to_string(),
                e.message().to_string(),
                "see docs/config.md for the keys each check kind takes",
            );
            None
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn service_with_checks(primary_checks: &str) -> String {
        format!(
            r#"
[providers.local]
kind = "embedded"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
{primary_checks}

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "http"
url = "http://198.51.100.20/ready"
"#
        )
    }

    /// `n` services `sNNNN` in zone `example.test` on one embedded provider, each with a
    /// primary (127.0.0.2) and a backup (127.0.0.3) with one tcp check each.
    pub(crate) fn generated_services(n: usize) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("[providers.local]\nkind = \"embedded\"\n");
        for i in 0..n {
            let _ = write!(
                out,
                r#"
[services.s{i:04}]
provider = "local"
zone = "example.test"
name = "s{i:04}.example.test"
type = "A"
ttl = 300
failover_ttl = 30

[[services.s{i:04}.targets]]
name = "primary"
address = "127.0.0.2"
priority = 1
[[services.s{i:04}.targets.checks]]
kind = "tcp"
address = "127.0.0.2:8080"

[[services.s{i:04}.targets]]
name = "backup"
address = "127.0.0.3"
priority = 2
[[services.s{i:04}.targets.checks]]
kind = "tcp"
address = "127.0.0.3:8080"
"#
            );
        }
        out
    }

    #[test]
    fn a_generated_config_of_2000_services_is_accepted() {
        let text = generated_services(2000);
        let (config, warnings) = parse(Path::new("big.toml"), &text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.services.len(), 2000);
        let s = &config.services["s1999"];
        assert_eq!(
            s.record.to_string(),
            Fqdn::new("s1999.example.test").unwrap().to_string()
        );
        assert_eq!(s.targets.len(), 2);
        assert_eq!(s.targets[0].values, vec!["127.0.0.2".to_string()]);
        assert_eq!(s.failover_ttl, 30);
    }

    #[test]
    fn errors_late_in_a_large_file_name_their_own_lines() {
        // A bad value in the last service is reported on its own line (line lookups are
        // indexed, not rescanned, so this also stays fast).
        let mut text = generated_services(300);
        let before = text.lines().count();
        text.push_str("\n[services.zz]\nprovider = \"local\"\nzone = \"example.test\"\nname = \"zz.example.test\"\ntype = \"A\"\nstable_for = \"2ms\"\n[[services.zz.targets]]\nname = \"a\"\naddress = \"127.0.0.2\"\npriority = 1\n[[services.zz.targets.checks]]\nkind = \"tcp\"\naddress = \"127.0.0.2:1\"\n");
        let e = parse(Path::new("big.toml"), &text).unwrap_err();
        let p = e.errors().next().unwrap();
        assert_eq!(p.path, "services.zz.stable_for");
        assert_eq!(p.line, Some(before + 7));
    }

    fn controller_with(extra: &str) -> String {
        format!(
            "[controller]\n{extra}\n{}",
            service_with_checks(
                "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n"
            )
        )
    }

    fn only_error(text: &str) -> Problem {
        let e = parse(Path::new("t.toml"), text).unwrap_err();
        let errors: Vec<_> = e.errors().cloned().collect();
        assert_eq!(errors.len(), 1, "{e}");
        errors[0].clone()
    }

    #[test]
    fn tick_is_bounded() {
        for bad in ["0s", "0.0001ms", "5ms", "61s", "1h"] {
            let p = only_error(&controller_with(&format!("tick = \"{bad}\"")));
            assert_eq!(p.path, "controller.tick");
            assert_eq!(p.line, Some(2));
            assert!(
                p.message.contains(&format!("`{bad}`")) && p.message.contains("from 10ms to 1m"),
                "{p:?}"
            );
        }
        for good in ["10ms", "500ms", "60s"] {
            let text = controller_with(&format!("tick = \"{good}\""));
            assert!(parse(Path::new("t.toml"), &text).is_ok(), "{good}");
        }
    }

    #[test]
    fn every_duration_key_is_bounded() {
        let service_key = |key: &str, v: &str| {
            service_with_checks(
                "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n",
            )
            .replace("type = \"A\"\n", &format!("type = \"A\"\n{key} = {v}\n"))
        };
        let cases = [
            (service_key("stable_for", "\"500ms\""), "services.shop.stable_for"),
            (service_key("stable_for", "\"8d\""), "services.shop.stable_for"),
            (service_key("restore_ttl_after", "\"100d\""), "services.shop.restore_ttl_after"),
            (service_key("min_change_interval", "\"10ms\""), "services.shop.min_change_interval"),
            (service_key("step_hold", "\"300d\""), "services.shop.step_hold"),
            (service_key("gate_max_latency", "\"0s\""), "services.shop.gate_max_latency"),
            (service_key("ttl_lead_margin", "\"2h\""), "services.shop.ttl_lead_margin"),
            (
                service_key("approval = \"two-person\"\napproval_timeout", "\"0s\""),
                "services.shop.approval_timeout",
            ),
            (
                service_key("pre_failback_hook", "{ command = [\"true\"], timeout = \"0s\" }"),
                "services.shop.pre_failback_hook.timeout",
            ),
            (controller_with("max_failovers_window = \"0s\""), "controller.max_failovers_window"),
            (controller_with("agent_stale_after = \"100ms\""), "controller.agent_stale_after"),
            (
                service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\ninterval = \"0s\"\n"),
                "services.shop.targets[0].checks[0].interval",
            ),
            (
                service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\ntimeout = \"0s\"\n"),
                "services.shop.targets[0].checks[0].timeout",
            ),
            (
                service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrecheck_interval = \"0s\"\n"),
                "services.shop.targets[0].checks[0].recheck_interval",
            ),
            (
                service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nmax_latency = \"0s\"\n"),
                "services.shop.targets[0].checks[0].max_latency",
            ),
        ];
        for (text, path) in cases {
            let p = only_error(&text);
            assert_eq!(p.path, path, "{p:?}");
            assert!(p.message.contains("outside the allowed range"), "{p:?}");
            assert!(p.line.is_some(), "{p:?}");
        }
        // Zero where it means "none" is fine.
        for key in [
            "stable_for",
            "restore_ttl_after",
            "min_change_interval",
            "step_hold",
            "ttl_lead_margin",
        ] {
            assert!(
                parse(Path::new("t.toml"), &service_key(key, "\"0s\"")).is_ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn sites_are_parsed_and_checked() {
        let with_site = |site: &str| {
            service_with_checks(
                "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n",
            )
            .replacen(
                "priority = 1\n",
                &format!("priority = 1\nsite = {site}\n"),
                1,
            )
        };
        let (config, _) = parse(Path::new("t.toml"), &with_site("\"eu-west.dc_1\"")).unwrap();
        let shop = &config.services["shop"];
        assert_eq!(shop.targets[0].site.as_deref(), Some("eu-west.dc_1"));
        assert_eq!(shop.targets[1].site, None);
        for bad in [
            "\"\"",
            "\"eu west\"",
            "\"a/b\"",
            &format!("\"{}\"", "x".repeat(64)),
        ] {
            let p = only_error(&with_site(bad));
            assert_eq!(p.path, "services.shop.targets[0].site", "{p:?}");
            assert_eq!(p.line, Some(15), "{p:?}");
        }
    }

    #[test]
    fn uplink_checks_use_the_target_check_parser() {
        let anchors = r#"
[[controller.uplink_checks]]
name = "provider-api"
[[controller.uplink_checks.checks]]
kind = "tcp"
address = "192.0.2.53:443"
fall = 3
max_latency = "500ms"

[[controller.uplink_checks]]
name = "ns1"
[[controller.uplink_checks.checks]]
kind = "dns"
server = "192.0.2.54"
name = "example.test"
record_type = "SOA"
[[controller.uplink_checks.checks]]
kind = "icmp"
host = "192.0.2.54"
window = 10
window_failures = 3
"#;
        let text = format!(
            "{anchors}\n{}",
            controller_with("").replacen("[controller]\n", "", 1)
        );
        let (config, _) = parse(Path::new("t.toml"), &text).unwrap();
        let up = &config.controller.uplink_checks;
        assert_eq!(up.len(), 2);
        assert_eq!(up[0].name, "provider-api");
        assert_eq!(up[0].checks.len(), 1);
        assert_eq!(up[0].checks[0].fall, 3);
        assert_eq!(
            up[0].checks[0].max_latency,
            Some(Duration::from_millis(500))
        );
        assert_eq!(up[1].checks.len(), 2);
        assert_eq!(up[1].checks[1].window, Some((10, 3)));

        // Default: none.
        let (plain, _) = parse(Path::new("t.toml"), &controller_with("")).unwrap();
        assert!(plain.controller.uplink_checks.is_empty());

        // Same errors as a target's checks, under the anchor's path.
        let bad = text.replacen("fall = 3", "fall = 0", 1);
        let p = only_error(&bad);
        assert_eq!(p.path, "controller.uplink_checks[0].checks[0].fall");
        assert_eq!(p.line, Some(4));
        let dup = text.replacen("name = \"ns1\"", "name = \"provider-api\"", 1);
        assert!(only_error(&dup)
            .message
            .contains("duplicate uplink anchor name"));
        let badname = text.replacen("name = \"ns1\"", "name = \"ns 1\"", 1);
        assert_eq!(
            only_error(&badname).path,
            "controller.uplink_checks[1].name"
        );
        let nochecks = "[[controller.uplink_checks]]\nname = \"a\"\n".to_string()
            + &controller_with("").replacen("[controller]\n", "", 1);
        let p = only_error(&nochecks);
        assert_eq!(p.path, "controller.uplink_checks[0].checks");
        let slow = text.replacen("max_latency = \"500ms\"", "interval = \"0s\"", 1);
        assert_eq!(
            only_error(&slow).path,
            "controller.uplink_checks[0].checks[0].interval"
        );
    }

    #[test]
    fn a_target_with_only_liveness_checks_gets_a_warning() {
        let alive_only = service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrole = \"liveness\"\n",
        );
        let (_, warnings) = parse(Path::new("t.toml"), &alive_only).unwrap();
        let w: Vec<_> = warnings
            .iter()
            .filter(|p| p.message.contains("liveness check"))
            .collect();
        assert_eq!(w.len(), 1, "{warnings:?}");
        assert_eq!(w[0].path, "services.shop.targets[0].checks");
        assert_eq!(w[0].line, Some(11), "the target's table");
        assert!(w[0].fix.contains("readiness"), "{:?}", w[0]);

        let mixed = service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrole = \"liveness\"\n[[services.shop.targets.checks]]\nkind = \"http\"\nurl = \"https://192.0.2.10/ready\"\n",
        );
        let (_, warnings) = parse(Path::new("t.toml"), &mixed).unwrap();
        assert!(
            !warnings
                .iter()
                .any(|p| p.message.contains("liveness check")),
            "{warnings:?}"
        );
    }
}
