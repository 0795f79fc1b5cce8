//! The configuration file as written: serde structs that mirror the TOML one to one.
//!
//! Every table denies unknown keys (a typo is an error, not a silently ignored setting) and
//! keeps spans, so [`super::validate`] can name the line of each problem.

use super::url_source::UrlSource;
use std::collections::BTreeMap;

use dnsfailback_provider::SecretSource;
use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub controller: Option<Spanned<RawController>>,
    #[serde(default)]
    pub providers: BTreeMap<String, Spanned<SpannedTable>>,
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<RawService>>,
    /// `[notify.NAME]`: notifiers of the audit trail (webhook, Slack, command).
    #[serde(default)]
    pub notify: BTreeMap<String, Spanned<RawNotifier>>,
}

/// A table whose values keep their place in the file, so an error in one setting names that
/// setting's line, not the table's (the provider sections, read by each adapter, and the check
/// tables, read by the probe's parser).
pub type SpannedTable = BTreeMap<String, Spanned<toml::Value>>;

/// The table without the places, as an adapter reads it.
pub fn plain(t: &SpannedTable) -> toml::Table {
    t.iter()
        .map(|(k, v)| (k.clone(), v.get_ref().clone()))
        .collect()
}

/// `[controller]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawController {
    pub state: Option<Spanned<String>>,
    pub admin_listen: Option<Spanned<String>>,
    pub admin_token: Option<Spanned<SecretSource>>,
    pub tick: Option<Spanned<String>>,
    #[serde(default)]
    pub admin_tokens: Vec<Spanned<RawAdminToken>>,
    pub max_failovers: Option<Spanned<i64>>,
    pub max_failovers_window: Option<Spanned<String>>,
    pub vantage_quorum: Option<Spanned<i64>>,
    #[serde(default)]
    pub agents: Vec<String>,
    pub agent_stale_after: Option<Spanned<String>>,
    /// `[controller.etcd]`: share state with other controllers through etcd.
    pub etcd: Option<Spanned<RawEtcd>>,
    /// `[[controller.uplink_checks]]`: reference checks of the controller's own network.
    #[serde(default)]
    pub uplink_checks: Vec<Spanned<RawUplinkAnchor>>,
    /// `[controller.admin_tls]`: the admin API over TLS (and mTLS with `client_ca`).
    pub admin_tls: Option<Spanned<RawAdminTls>>,
    /// The explicit opt-out that lets a non-loopback admin API speak plain HTTP.
    pub admin_insecure_plaintext: Option<Spanned<bool>>,
    /// `[[controller.notify]]`: webhook receivers of the audit trail.
    #[serde(default)]
    pub notify: Vec<Spanned<RawNotify>>,
}

/// `[[controller.notify]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub url: Spanned<UrlSource>,
    pub events: Option<Spanned<Vec<String>>>,
    pub bearer_token: Option<Spanned<SecretSource>>,
    pub timeout: Option<Spanned<String>>,
    pub retry_for: Option<Spanned<String>>,
}

/// `[notify.NAME]`: `kind` says which of `url` or `command` it needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    pub kind: Spanned<String>,
    pub url: Option<Spanned<UrlSource>>,
    pub command: Option<Spanned<Vec<String>>>,
    pub events: Option<Spanned<Vec<String>>>,
    pub bearer_token: Option<Spanned<SecretSource>>,
    pub timeout: Option<Spanned<String>>,
    pub retry_for: Option<Spanned<String>>,
}

/// `[controller.admin_tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdminTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    pub client_ca: Option<Spanned<String>>,
}

/// `[[controller.uplink_checks]]`: one anchor, with checks written like a target's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUplinkAnchor {
    pub name: Spanned<String>,
    /// `[[controller.uplink_checks.checks]]`, parsed by the same code as a target's checks.
    #[serde(default)]
    pub checks: Vec<Spanned<SpannedTable>>,
}

/// `[controller.etcd]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEtcd {
    pub endpoints: Spanned<Vec<String>>,
    pub prefix: Option<Spanned<String>>,
    pub node: Option<Spanned<String>>,
    pub lease_ttl: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub password: Option<Spanned<SecretSource>>,
    /// CA of the etcd servers' certificates (https:// endpoints); the system roots without it.
    pub ca: Option<Spanned<String>>,
    /// Client certificate and key, for clusters with `--client-cert-auth`.
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
}

/// `[[controller.admin_tokens]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdminToken {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub token: Spanned<SecretSource>,
}

/// A hook table: `{ command = ["..."], timeout = "30s" }` or `{ url = "...", timeout = "5s" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub timeout: Option<String>,
}

/// `[services.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub provider: Spanned<String>,
    pub zone: Spanned<String>,
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub rtype: Spanned<String>,
    pub ttl: Option<Spanned<i64>>,
    pub failover_ttl: Option<Spanned<i64>>,
    pub all_down: Option<Spanned<String>>,
    pub sorry_target: Option<Spanned<String>>,
    pub failback: Option<Spanned<String>>,
    pub stable_for: Option<Spanned<String>>,
    pub restore_ttl_after: Option<Spanned<String>>,
    pub min_change_interval: Option<Spanned<String>>,
    pub canary_steps: Option<Spanned<Vec<i64>>>,
    pub step_hold: Option<Spanned<String>>,
    pub gate_max_error_rate: Option<Spanned<f64>>,
    pub gate_max_latency: Option<Spanned<String>>,
    pub gate_baseline_factor: Option<Spanned<f64>>,
    pub gate_metrics_url: Option<Spanned<String>>,
    pub gate_metrics_max: Option<Spanned<f64>>,
    pub on_gate_failure: Option<Spanned<String>>,
    pub pre_failback_hook: Option<Spanned<RawHook>>,
    pub post_step_hook: Option<Spanned<RawHook>>,
    pub approval: Option<Spanned<String>>,
    pub approval_timeout: Option<Spanned<String>>,
    pub ttl_lead_margin: Option<Spanned<String>>,
    #[serde(default)]
    pub change_windows: Vec<Spanned<String>>,
    #[serde(default)]
    pub targets: Vec<Spanned<RawTarget>>,
}

/// `[[services.NAME.targets]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub addresses: Option<Spanned<Vec<String>>>,
    pub priority: Spanned<i64>,
    pub fail_quorum: Option<Spanned<i64>>,
    /// The failure domain (data centre or region) this target lives in.
    pub site: Option<Spanned<String>>,
    /// Read by the probe's own parser (`validate/checks.rs`); each key keeps its line.
    #[serde(default)]
    pub checks: Vec<Spanned<SpannedTable>>,
}
