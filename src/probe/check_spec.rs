//! What to probe and how (probe stage: **probe** -> health -> policy): the `kind`-tagged
//! `[[services.X.targets.checks]]` table as serde reads it, and its value types (role, address
//! family, DNS transport, HTTP status ranges). `spec.rs` turns one into a [`super::Prober`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_opt;

/// What to probe and how: the `kind`-tagged table under `[[services.X.targets.checks]]`.
///
/// Every kind shares the scheduling fields `interval` (default 5s, at least 100ms), `timeout`
/// (default the smaller of 2s and the interval; at most the interval), `recheck` (default 2) and
/// `recheck_interval` (default 100ms), and `role`; see [`Schedule`]. Unknown fields are
/// rejected so that a typo never silently disables a check. (The scheduling fields are
/// repeated in every variant on purpose: serde cannot combine `flatten` with
/// `deny_unknown_fields`, and rejecting typos matters more than the repetition.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CheckSpec {
    /// HTTP or HTTPS request; success when the status is in `expect_status` (and the body
    /// contains `expect_body`, when set). TLS certificates are verified unless
    /// `insecure_skip_verify`; `ca_file` (PEM) replaces the system roots for private CAs.
    /// `host` sets the Host header and, when `url` names an IP address, the TLS SNI too.
    /// Redirects are not followed unless `follow_redirects`. The connection is kept alive
    /// between probes when `keep_alive` (default) and the interval is under 4 s.
    Http {
        url: String,
        #[serde(default = "default_method")]
        method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default = "default_status")]
        expect_status: Vec<StatusRange>,
        /// Substring the body must contain (plain text, case-sensitive; the first 64 KiB of
        /// the body are searched).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_body: Option<String>,
        /// Regex that must match somewhere in the body (instead of `expect_body`), for
        /// readiness pages whose text varies, e.g. `"status":\s*"(ok|degraded)"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_body_regex: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<PathBuf>,
        #[serde(default)]
        insecure_skip_verify: bool,
        #[serde(default)]
        follow_redirects: bool,
        #[serde(default = "default_true")]
        keep_alive: bool,
        /// Fail with [`FailureReason::CertExpiring`] when the certificate expires sooner.
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        cert_min_validity: Option<Duration>,
        #[serde(default)]
        family: Family,
        #[serde(default)]
        role: Role,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        interval: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recheck: Option<u32>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_interval: Option<Duration>,
    },
    /// TCP connect to `address` (`host:port`); optionally write `send` and wait for a reply
    /// containing `expect` (e.g. send `"PING\r\n"`, expect `"+PONG"`) or matching the regex
    /// `expect_regex` (e.g. `^220 ` for an SMTP banner).
    Tcp {
        address: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        send: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_regex: Option<String>,
        #[serde(default)]
        family: Family,
        #[serde(default)]
        role: Role,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        interval: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recheck: Option<u32>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_interval: Option<Duration>,
    },
    /// UDP datagram `send` to `address`; success on a reply containing `expect` or matching
    /// the regex `expect_regex` (any reply when neither is set).
    Udp {
        address: String,
        send: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_regex: Option<String>,
        #[serde(default)]
        family: Family,
        #[serde(default)]
        role: Role,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        interval: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recheck: Option<u32>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_interval: Option<Duration>,
    },
    /// ICMP echo (ping) to `host`, IPv4 or IPv6. Uses unprivileged ping sockets when
    /// `net.ipv4.ping_group_range` allows, raw sockets (CAP_NET_RAW) otherwise.
    Icmp {
        host: String,
        #[serde(default)]
        family: Family,
        #[serde(default)]
        role: Role,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        interval: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recheck: Option<u32>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_interval: Option<Duration>,
    },
    /// DNS query for `name`/`record_type` to `server` (`ip` or `ip:port`, port 53 by default)
    /// over UDP or TCP; success when the rcode is `expect_rcode` (default `NOERROR`) and, when
    /// `expect_answer` is set, some answer's data equals it (e.g. `"192.0.2.1"`).
    Dns {
        server: String,
        name: String,
        #[serde(default = "default_record_type")]
        record_type: String,
        #[serde(default)]
        transport: DnsTransport,
        #[serde(default = "default_rcode")]
        expect_rcode: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_answer: Option<String>,
        #[serde(default = "default_true")]
        recursion_desired: bool,
        #[serde(default)]
        role: Role,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        timeout: Option<Duration>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        interval: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recheck: Option<u32>,
        #[serde(
            default,
            with = "duration_opt",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_interval: Option<Duration>,
    },
}

fn default_status() -> Vec<StatusRange> {
    vec![StatusRange { lo: 200, hi: 299 }]
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_true() -> bool {
    true
}

fn default_record_type() -> String {
    "A".to_string()
}

fn default_rcode() -> String {
    "NOERROR".to_string()
}

/// Whether a check asks "does it answer?" (liveness) or "can it serve?" (readiness, the
/// default). Health never lets liveness checks alone keep a target in service while its
/// readiness checks fail (see `health::quorum_state`); the probe only carries the role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The process is alive.
    Liveness,
    /// The endpoint can take traffic (the default).
    #[default]
    Readiness,
}

/// Which address family a host name is resolved to, so that a target's A and AAAA records are
/// judged separately (`ipv4` checks what A-record clients reach, `ipv6` what AAAA clients reach).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// First address the resolver returns (the default).
    #[default]
    Any,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// DNS check transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsTransport {
    /// One datagram each way (the default).
    #[default]
    Udp,
    /// Length-prefixed message over a fresh TCP connection.
    Tcp,
}

/// An accepted HTTP status or inclusive range, written `200`, `"200-299"` or `"2xx"` so that a
/// config can say `expect_status = ["200-299", 301]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    /// Lowest accepted status.
    pub lo: u16,
    /// Highest accepted status (equal to `lo` for a single code).
    pub hi: u16,
}

impl StatusRange {
    /// True when `status` is in the range.
    pub fn contains(&self, status: u16) -> bool {
        self.lo <= status && status <= self.hi
    }
}

impl std::str::FromStr for StatusRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad =
            || format!("`{s}` is not an HTTP status or range (write 200, \"200-299\" or \"2xx\")");
        let code = |t: &str| -> Result<u16, String> {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(bad)
        };
        let r = if let Some((a, b)) = s.split_once('-') {
            StatusRange {
                lo: code(a)?,
                hi: code(b)?,
            }
        } else if s.len() == 3 && s[1..].eq_ignore_ascii_case("xx") {
            let d = code(&format!("{}00", &s[..1]))?;
            StatusRange { lo: d, hi: d + 99 }
        } else {
            let c = code(s)?;
            StatusRange { lo: c, hi: c }
        };
        if r.lo > r.hi {
            return Err(bad());
        }
        Ok(r)
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.lo == self.hi {
            s.serialize_u16(self.lo)
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => u16::try_from(n)
                .map_err(|_| format!("{n} is not an HTTP status"))
                .and_then(|n| n.to_string().parse())
                .map_err(serde::de::Error::custom),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl CheckSpec {
    /// The probe kind this spec names (`https` for an http check of an https:// URL), for
    /// the probe metrics.
    pub fn probe_kind(&self) -> super::ProbeKind {
        use super::ProbeKind as K;
        match self {
            CheckSpec::Http { url, .. } if url.starts_with("https://") => K::Https,
            CheckSpec::Http { .. } => K::Http,
            CheckSpec::Tcp { .. } => K::Tcp,
            CheckSpec::Udp { .. } => K::Udp,
            CheckSpec::Icmp { .. } => K::Icmp,
            CheckSpec::Dns { .. } => K::Dns,
        }
    }
}
