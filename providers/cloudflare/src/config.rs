//! Configuration of one Cloudflare provider instance.
//!
//! Read once at start-up, before anything in the flow probe -> health -> policy -> plan ->
//! **provider** -> verify runs. The controller takes the `[providers.<instance>]` table, strips
//! `kind = "cloudflare"` and deserialises the rest into [`Config`] with the `toml` crate; every
//! field's doc comment below is the reference for that key (docs/providers/cloudflare.md shows
//! a complete example). Unknown keys are rejected so a typo never silently falls back to a
//! default.

use std::time::Duration;

use dnsfailback_provider::SecretSource;
use serde::{Deserialize, Deserializer};

/// Cloudflare's production API root; tests point `base_url` at Prism or a fake instead.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Cloudflare's documented global limit: 1,200 requests per five minutes per user or token.
pub const DEFAULT_REQUESTS_PER_5MIN: u32 = 1200;

/// Largest batch on the Free plan; Pro, Business and Enterprise accept 3,500.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 200;

/// Default `min_ttl`: the smallest TTL Cloudflare accepts outside Enterprise zones.
pub const DEFAULT_MIN_TTL: u32 = 60;

/// Settings of one Cloudflare provider instance (the keys after `kind = "cloudflare"`).
///
/// Only `api_token` is required. The token itself never appears in the configuration file:
/// it comes from an environment variable or a file (see [`SecretSource`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the API token comes from: `{ env = "CLOUDFLARE_API_TOKEN" }` or
    /// `{ file = "/run/secrets/cloudflare-token" }`. Least privilege: Zone / DNS / Edit on the
    /// managed zone only.
    pub api_token: SecretSource,

    /// The zone's Cloudflare id (32 hex characters, shown on the zone's overview page).
    /// When absent, the adapter looks the zone up by name (`GET /zones?name=`) on first use
    /// and caches the id. When set, this instance manages exactly that one zone.
    #[serde(default)]
    pub zone_id: Option<String>,

    /// API root. Default `https://api.cloudflare.com/client/v4`; tests use the root of a Prism
    /// server or a fake (`http://127.0.0.1:4010`).
    #[serde(default = "default_base_url")]
    pub base_url: String,

    /// Client-side rate limit, in requests per five minutes (Cloudflare's limit is 1,200 per
    /// user/token, shared with the dashboard and other tools using the same token: lower it
    /// when something else uses the token too).
    #[serde(default = "default_requests_per_5min")]
    pub requests_per_5min: u32,

    /// How many times a retryable failure (429, 5xx on reads, connection errors) is retried
    /// before the error is returned to the controller.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,

    /// Timeout of one HTTP request, e.g. `"30s"`.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,

    /// Longest `Retry-After` the adapter waits for by itself, e.g. `"60s"`. A longer one
    /// (Cloudflare blocks a token for five minutes once its limit is exceeded) is returned to
    /// the controller as a rate-limit error carrying the wait, so it can reschedule instead.
    #[serde(default = "default_max_retry_wait", deserialize_with = "duration")]
    pub max_retry_wait: Duration,

    /// Records per page when listing (Cloudflare's default is 100).
    #[serde(default = "default_per_page")]
    pub per_page: u32,

    /// Apply each change set with one `POST /dns_records/batch` (one database transaction:
    /// all or nothing). Set to `false` only for an API that lacks the batch endpoint; changes
    /// are then sent one request at a time and a failure can leave them half applied.
    #[serde(default = "default_true")]
    pub batch: bool,

    /// Most record operations in one batch: 200 on the Free plan, 3,500 on paid plans. A
    /// larger change set is refused before anything is sent.
    #[serde(default = "default_max_batch_size")]
    pub max_batch_size: usize,

    /// Smallest explicit TTL the zone accepts: 60, or 30 on Enterprise zones.
    #[serde(default = "default_min_ttl")]
    pub min_ttl: u32,
}

impl Config {
    /// A configuration with every default and the given token source; handy for tests and
    /// for building a provider programmatically.
    pub fn new(api_token: SecretSource) -> Self {
        Config {
            api_token,
            zone_id: None,
            base_url: default_base_url(),
            requests_per_5min: default_requests_per_5min(),
            max_retries: default_max_retries(),
            timeout: default_timeout(),
            max_retry_wait: default_max_retry_wait(),
            per_page: default_per_page(),
            batch: true,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            min_ttl: default_min_ttl(),
        }
    }

    /// Checks every setting and returns all problems at once, each naming the key and the fix.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Some(id) = &self.zone_id {
            if !is_cloudflare_id(id) {
                problems.push(format!(
                    "zone_id `{id}` is not a Cloudflare id (1-32 letters and digits); copy it from the zone's overview page"
                ));
            }
        }
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            problems.push(format!(
                "base_url `{}` must start with https:// (or http:// for a local test server)",
                self.base_url
            ));
        }
        if self.requests_per_5min == 0 {
            problems.push("requests_per_5min must be at least 1".into());
        }
        if self.timeout.is_zero() {
            problems.push("timeout must be longer than 0s".into());
        }
        if self.per_page == 0 || self.per_page > 5000 {
            problems.push(format!(
                "per_page {} must be between 1 and 5000",
                self.per_page
            ));
        }
        if self.max_batch_size == 0 {
            problems.push("max_batch_size must be at least 1 (Free plan: 200, paid: 3500)".into());
        }
        if !(30..=86400).contains(&self.min_ttl) {
            problems.push(format!(
                "min_ttl {} must be between 30 (Enterprise) and 86400; most zones need 60",
                self.min_ttl
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// True for strings that can be a Cloudflare zone or record id: 1-32 ASCII letters/digits.
///
/// Ids are put into URL paths, so anything else (from config or from an API answer) is
/// refused rather than allowed to change the path.
pub fn is_cloudflare_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_requests_per_5min() -> u32 {
    DEFAULT_REQUESTS_PER_5MIN
}
fn default_max_retries() -> usize {
    3
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_retry_wait() -> Duration {
    Duration::from_secs(60)
}
fn default_per_page() -> u32 {
    100
}
fn default_true() -> bool {
    true
}
fn default_max_batch_size() -> usize {
    DEFAULT_MAX_BATCH_SIZE
}
fn default_min_ttl() -> u32 {
    DEFAULT_MIN_TTL
}

/// Durations are written as the controller writes them: `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

pub use dnsfailback_provider::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_defaults() -> Result<(), String> {
        let cfg: Config =
            toml::from_str("api_token = { env = \"CF_TOKEN\" }\n").map_err(|e| e.to_string())?;
        assert_eq!(cfg.api_token.env.as_deref(), Some("CF_TOKEN"));
        assert_eq!(cfg.base_url, DEFAULT_BASE_URL);
        assert_eq!(cfg.requests_per_5min, 1200);
        assert_eq!(cfg.timeout, Duration::from_secs(30));
        assert!(cfg.batch);
        assert_eq!(cfg.validate(), Ok(()));
        Ok(())
    }

    #[test]
    fn full_config_parses() -> Result<(), String> {
        let text = r#"
            api_token = { file = "/run/secrets/cf" }
            zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
            base_url = "http://127.0.0.1:4010"
            requests_per_5min = 600
            max_retries = 5
            timeout = "10s"
            max_retry_wait = "2m"
            per_page = 50
            batch = false
            max_batch_size = 3500
            min_ttl = 30
        "#;
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        assert_eq!(cfg.timeout, Duration::from_secs(10));
        assert_eq!(cfg.max_retry_wait, Duration::from_secs(120));
        assert_eq!(cfg.validate(), Ok(()));
        Ok(())
    }

    #[test]
    fn unknown_keys_and_inline_tokens_are_rejected() {
        let typo = toml::from_str::<Config>("api_token = { env = \"X\" }\nzoneid = \"abc\"\n");
        assert!(typo.is_err());
        // A token written into the config is not a SecretSource.
        let inline = toml::from_str::<Config>("api_token = \"secret-value\"\n");
        assert!(inline.is_err());
    }

    #[test]
    fn validate_reports_every_problem() {
        let mut cfg = Config::new(SecretSource {
            env: Some("X".into()),
            file: None,
        });
        cfg.zone_id = Some("../../accounts".into());
        cfg.base_url = "ftp://x".into();
        cfg.requests_per_5min = 0;
        cfg.per_page = 0;
        cfg.min_ttl = 5;
        let problems = cfg.validate().err().unwrap_or_default();
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
