//! Configuration of one RFC 2136 provider instance (`[providers.<name>] kind = "rfc2136"`).
//!
//! Sits before the provider in the flow probe -> health -> policy -> plan -> **provider** ->
//! verify: the controller strips `kind` from the table and deserialises the rest into
//! [`Config`]; [`crate::Rfc2136Provider::new`] then loads the TSIG secret. Unknown keys are
//! rejected so a typo (`key-name` for `key_name`) fails at start-up instead of silently
//! sending unsigned updates.

use std::net::SocketAddr;
use std::time::Duration;

use dnsfailback_provider::SecretSource;
use serde::{Deserialize, Deserializer};

/// TSIG MAC algorithms this adapter signs with; BIND, Knot and PowerDNS support both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA256 (RFC 8945), what `tsig-keygen` and `keymgr` generate by default.
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// HMAC-SHA512, for sites that standardise on it.
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

impl Algorithm {
    /// The name servers use in their key definitions, for messages and docs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }
}

/// Settings of one RFC 2136 instance. Every field but `server` has a safe default; a TSIG key
/// (`key_name` + `secret`) is required unless `insecure = true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Primary (master) server that accepts UPDATE, AXFR and queries over TCP, e.g.
    /// `"192.0.2.53:53"`. All reads go here, so the controller never plans from a stale
    /// secondary.
    pub server: SocketAddr,
    /// TSIG key name exactly as the server knows it (`key "dnsfailback" { ... }` in BIND,
    /// `key: - id: dnsfailback` in Knot).
    #[serde(default)]
    pub key_name: Option<String>,
    /// TSIG algorithm; must match the server's key definition.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Where the base64 TSIG secret comes from: `{ env = "VAR" }` or `{ file = "/path" }`.
    /// The file may be the bare base64 secret or a BIND key file (`secret "...";`).
    #[serde(default)]
    pub secret: Option<SecretSource>,
    /// Send unsigned updates. Only for servers that authorise by address; logged as a
    /// warning at every start because anyone who can spoof that address can change the zone.
    #[serde(default)]
    pub insecure: bool,
    /// Time allowed for one request/response exchange (`"5s"`, `"500ms"`, `"1m"`).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Extra attempts after a timeout, connection failure or SERVFAIL (with exponential
    /// back-off). Authentication failures and conflicts are never retried.
    #[serde(default = "default_retries")]
    pub retries: usize,
    /// Authoritative servers checked after an update until they serve the new SOA serial and
    /// answers. Empty: the zone's NS set is resolved and queried on `propagation_port`.
    #[serde(default)]
    pub propagation_servers: Vec<SocketAddr>,
    /// Port used for servers found through the NS set (53 outside tests).
    #[serde(default = "default_port")]
    pub propagation_port: u16,
    /// How long [`crate::Rfc2136Provider::wait_propagation`] waits for every server.
    #[serde(
        default = "default_propagation_timeout",
        deserialize_with = "de_duration"
    )]
    pub propagation_timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_retries() -> usize {
    3
}
fn default_port() -> u16 {
    53
}
fn default_propagation_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Config {
    /// A config for `server` with defaults and no key; tests and embedders fill in the rest.
    pub fn new(server: SocketAddr) -> Self {
        Config {
            server,
            key_name: None,
            algorithm: Algorithm::default(),
            secret: None,
            insecure: false,
            timeout: default_timeout(),
            retries: default_retries(),
            propagation_servers: Vec::new(),
            propagation_port: default_port(),
            propagation_timeout: default_propagation_timeout(),
        }
    }
}

pub use dnsfailback_provider::parse_duration;

/// A duration written as a string with a unit (`"5s"`); a bare number is refused, as the
/// docs say: `timeout = 5` could mean seconds or milliseconds.
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d).map_err(|_: D::Error| {
        serde::de::Error::custom(
            "a duration is a string with a unit, like \"5s\" or \"500ms\", not a bare number",
        )
    })?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(
            parse_duration("7").is_err(),
            "a bare number in a string is ambiguous"
        );
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_bare_number_is_not_a_timeout_and_a_secret_has_one_source() {
        let parse = |text: &str| {
            toml::from_str::<Config>(&format!("server = \"127.0.0.1:53\"\n{text}"))
                .map_err(|e| e.message().to_string())
        };
        assert_eq!(
            parse("timeout = \"5s\"").map(|c| c.timeout),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(
            parse("timeout = 5").err().as_deref(),
            Some("a duration is a string with a unit, like \"5s\" or \"500ms\", not a bare number")
        );
        let e = parse("secret = { env = \"TSIG\", file = \"/etc/tsig.key\" }")
            .err()
            .unwrap_or_default();
        assert_eq!(e, "give exactly one of `env` or `file`");
    }
}
