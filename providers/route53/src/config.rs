//! Configuration of one Route 53 provider instance (`[providers.<instance>] kind = "route53"`).
//!
//! Read once at start-up, before the loop probe -> health -> policy -> plan -> **provider** ->
//! verify runs. The controller strips `kind` and deserialises the remaining keys into
//! [`Config`]; unknown keys are rejected so a typo never silently falls back to a default.
//! Secrets are never written here: explicit keys are [`SecretSource`]s (an environment variable
//! or a file), otherwise the standard AWS environment variables and shared credentials file are
//! used (see [`crate::credentials`]).

use std::collections::BTreeMap;
use std::time::Duration;

use dnsfailback_provider::SecretSource;
use serde::{Deserialize, Serialize};

/// Route 53's public API endpoint (a global service, signed for `us-east-1`).
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";

/// Settings of one Route 53 provider instance. Every field has a safe default except how to
/// find the hosted zone, which may also be looked up by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hosted zone id (`Z0123456789ABC` or `/hostedzone/Z0123456789ABC`) used for every zone
    /// this instance is asked about. Convenient when an instance serves exactly one zone.
    /// Mutually exclusive with `zones`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// Zone name -> hosted zone id, for an instance that serves several zones, or to pick one
    /// of several hosted zones with the same name (public and private). Zones not listed here
    /// (and all zones when neither this nor `hosted_zone_id` is set) are looked up once by name
    /// with ListHostedZonesByName; a name shared by several hosted zones is refused there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<String, String>,
    /// API endpoint; override it for tests (moto) or a proxy. Default
    /// `https://route53.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region used in the SigV4 credential scope. Route 53 is global and signed for
    /// `us-east-1` (`cn-northwest-1` in China).
    #[serde(default = "default_region")]
    pub region: String,
    /// Profile in the shared credentials file (`~/.aws/credentials`, or
    /// `AWS_SHARED_CREDENTIALS_FILE`) and config file (`~/.aws/config`). When set it is used
    /// instead of the `AWS_*` environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Explicit access key id (from an env variable or file). Needs `secret_access_key` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<SecretSource>,
    /// Explicit secret access key (from an env variable or file). Needs `access_key_id` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretSource>,
    /// Optional session token going with explicit temporary keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretSource>,
    /// Requests per second this instance sends at most (token bucket). Route 53 allowed 5
    /// requests/s per account for years and now refills 10/s; 5 leaves room for other tools
    /// in the same account.
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
    /// Requests that may be sent at once before the rate applies. Default: `rate_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Retries after the first attempt on Throttling, PriorRequestNotComplete, 5xx and
    /// timeouts (exponential back-off with jitter). Client errors are never retried.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First back-off delay in milliseconds (doubles on each retry).
    #[serde(default = "default_retry_min_delay_ms")]
    pub retry_min_delay_ms: u64,
    /// Longest back-off delay in milliseconds.
    #[serde(default = "default_retry_max_delay_ms")]
    pub retry_max_delay_ms: u64,
    /// Timeout of one HTTP request, in seconds; a timeout is retried.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// How long [`crate::Route53Provider::wait_for_sync`] polls GetChange before it reports the
    /// change as still pending, in seconds. Route 53 is "generally within 60 seconds".
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout_secs: u64,
    /// Interval between GetChange polls, in seconds.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Read the affected record sets before each change batch and refuse with a conflict when
    /// they differ from the plan's `old` (or a set to create exists). Route 53 itself enforces
    /// this (exact DELETE, CREATE of an absent set), so it is off by default; it costs one
    /// ListResourceRecordSets call per name and type in the batch.
    #[serde(default)]
    pub precheck: bool,
    /// Send `UPSERT` for creates and updates instead of `CREATE` and `DELETE old` + `CREATE
    /// new`. Only for Route 53 look-alikes whose CREATE/DELETE validation is unreliable (moto
    /// 5.2.5 validates against its change journal). Needs `precheck = true`, which then is the
    /// only compare-and-swap (a window of one round trip).
    #[serde(default)]
    pub upsert_writes: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_rate() -> u32 {
    5
}
fn default_max_retries() -> u32 {
    5
}
fn default_retry_min_delay_ms() -> u64 {
    500
}
fn default_retry_max_delay_ms() -> u64 {
    20_000
}
fn default_request_timeout() -> u64 {
    30
}
fn default_sync_timeout() -> u64 {
    180
}
fn default_sync_interval() -> u64 {
    5
}

impl Default for Config {
    /// Everything at its default: zones looked up by name, credentials from the environment.
    fn default() -> Self {
        Config {
            hosted_zone_id: None,
            zones: BTreeMap::new(),
            endpoint: None,
            region: default_region(),
            profile: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            rate_per_second: default_rate(),
            burst: None,
            max_retries: default_max_retries(),
            retry_min_delay_ms: default_retry_min_delay_ms(),
            retry_max_delay_ms: default_retry_max_delay_ms(),
            request_timeout_secs: default_request_timeout(),
            sync_timeout_secs: default_sync_timeout(),
            sync_interval_secs: default_sync_interval(),
            precheck: false,
            upsert_writes: false,
        }
    }
}

impl Config {
    /// Checks the settings together and returns every problem, so an operator fixes the
    /// configuration in one go.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.hosted_zone_id.is_some() && !self.zones.is_empty() {
            problems.push("give either `hosted_zone_id` or `zones`, not both".to_string());
        }
        if let Some(id) = &self.hosted_zone_id {
            if let Err(e) = normalize_zone_id(id) {
                problems.push(format!("hosted_zone_id: {e}"));
            }
        }
        for (zone, id) in &self.zones {
            if let Err(e) = dnsfailback_provider::Fqdn::new(zone) {
                problems.push(format!("zones: `{zone}`: {e}"));
            }
            if let Err(e) = normalize_zone_id(id) {
                problems.push(format!("zones.\"{zone}\": {e}"));
            }
        }
        if let Some(ep) = &self.endpoint {
            if !(ep.starts_with("https://") || ep.starts_with("http://")) {
                problems.push(format!(
                    "endpoint `{ep}` must start with https:// (or http:// for a local test server)"
                ));
            }
        }
        if self.region.trim().is_empty() {
            problems.push("region must not be empty (Route 53 is signed for us-east-1)".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            problems.push(
                "give both `access_key_id` and `secret_access_key`, or neither (then the AWS \
                 environment variables or shared credentials file are used)"
                    .into(),
            );
        }
        if self.session_token.is_some() && self.access_key_id.is_none() {
            problems.push("`session_token` needs `access_key_id` and `secret_access_key`".into());
        }
        if self.rate_per_second == 0 {
            problems.push("rate_per_second must be at least 1".into());
        }
        if self.burst == Some(0) {
            problems.push("burst must be at least 1".into());
        }
        if self.retry_min_delay_ms > self.retry_max_delay_ms {
            problems.push("retry_min_delay_ms must not exceed retry_max_delay_ms".into());
        }
        if self.request_timeout_secs == 0 {
            problems.push("request_timeout_secs must be at least 1".into());
        }
        if self.sync_interval_secs == 0 {
            problems.push("sync_interval_secs must be at least 1".into());
        }
        if self.upsert_writes && !self.precheck {
            problems.push(
                "upsert_writes = true needs precheck = true: UPSERT alone would overwrite changes \
                 made by others"
                    .into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The endpoint without a trailing slash.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
            .to_string()
    }

    /// How long one HTTP request may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How long to poll GetChange before reporting "still pending".
    pub fn sync_timeout(&self) -> Duration {
        Duration::from_secs(self.sync_timeout_secs)
    }

    /// Interval between GetChange polls.
    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_secs)
    }
}

/// Accepts `Z123`, `/hostedzone/Z123` and `hostedzone/Z123`; returns the bare id.
pub fn normalize_zone_id(id: &str) -> Result<String, String> {
    let bare = id
        .trim()
        .trim_start_matches('/')
        .trim_start_matches("hostedzone/");
    if bare.is_empty() || bare.len() > 32 || !bare.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{id}` is not a hosted zone id (letters and digits, e.g. Z0123456789ABCDEFGHIJ)"
        ));
    }
    Ok(bare.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() -> Result<(), String> {
        let cfg: Config = toml::from_str(
            r#"
            hosted_zone_id = "/hostedzone/Z1ABC"
            endpoint = "http://127.0.0.1:5055/"
            access_key_id = { env = "R53_KEY" }
            secret_access_key = { file = "/run/secrets/r53" }
            "#,
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(cfg.region, "us-east-1");
        assert_eq!(cfg.rate_per_second, 5);
        assert_eq!(cfg.endpoint(), "http://127.0.0.1:5055");
        cfg.validate().map_err(|p| p.join("; "))?;
        assert_eq!(normalize_zone_id("/hostedzone/Z1ABC"), Ok("Z1ABC".into()));
        Ok(())
    }

    /// The example in docs/providers/route53.md is what an operator copies: it must load.
    #[test]
    fn documented_example_config_loads() -> Result<(), String> {
        let doc = include_str!("../../../docs/providers/route53.md");
        let block = doc
            .split("```toml")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .ok_or("no ```toml block in docs/providers/route53.md")?;
        let mut table: toml::Table = toml::from_str(block).map_err(|e| e.to_string())?;
        let providers = table
            .remove("providers")
            .and_then(|p| p.as_table().cloned())
            .ok_or("no [providers] table")?;
        let mut aws = providers
            .get("aws")
            .and_then(|a| a.as_table().cloned())
            .ok_or("no [providers.aws] table")?;
        assert_eq!(
            aws.remove("kind")
                .and_then(|k| k.as_str().map(String::from))
                .as_deref(),
            Some("route53")
        );
        let cfg: Config = toml::Value::Table(aws)
            .try_into()
            .map_err(|e| e.to_string())?;
        cfg.validate().map_err(|p| p.join("; "))?;
        assert_eq!(cfg.hosted_zone_id.as_deref(), Some("Z0123456789ABCDEFGHIJ"));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<Config, _> = toml::from_str("hosted_zone = \"Z1\"");
        assert!(r.is_err());
    }

    #[test]
    fn every_problem_is_reported() {
        let cfg = Config {
            hosted_zone_id: Some("bad id!".into()),
            zones: [("example.test".to_string(), "Z1".to_string())].into(),
            access_key_id: Some(SecretSource {
                env: Some("X".into()),
                file: None,
            }),
            rate_per_second: 0,
            endpoint: Some("ftp://x".into()),
            ..Config::default()
        };
        let problems = cfg.validate().err().unwrap_or_default();
        assert_eq!(problems.len(), 5, "{problems:?}");
    }
}
