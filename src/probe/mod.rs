//! Probes: the first stage of the flow, **probe** -> health -> policy -> plan -> provider -> verify.
//!
//! A probe sends one request to one endpoint and reports an [`Outcome`]: success or a failure
//! with a reason, and the latency. It never decides health: turning outcomes into up/down with
//! thresholds, windows and quorum is `health`'s job. The [`Runner`] schedules every check of
//! every target on one tokio runtime and streams [`ProbeResult`]s to the controller.
//!
//! Layout:
//! - `mod.rs`: the types the controller sees ([`Outcome`], [`FailureReason`], [`ProbeResult`]).
//! - `check_spec.rs`: [`CheckSpec`], what a `[[...checks]]` table says, and its value types.
//! - `spec.rs`: defaults, validation and [`Prober`], which runs one probe of any kind.
//! - `runner.rs`: the scheduler ([`Runner`]): jitter, no drift, recheck, concurrency bound.
//! - `http.rs`, `tcp.rs`, `udp.rs`, `icmp.rs`, `dns.rs`: one protocol each; `cert.rs` reads
//!   certificate expiry.
//!
//! Benchmark: `benches/probe_bench.rs`, results in `docs/benchmarks.md`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use check_spec::{CheckSpec, DnsTransport, Family, Role, StatusRange};

/// Identifies one check of one target of one service: `service/target/check-index`.
///
/// Shared text: every probe result carries its check's id, so at 20,000 checks a second a
/// copy is a reference count, not an allocation, and the health book, the runner and the
/// results share one copy of each id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct CheckId(std::sync::Arc<str>);

impl CheckId {
    /// An id from its text.
    pub fn new(id: impl Into<std::sync::Arc<str>>) -> Self {
        CheckId(id.into())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for CheckId {
    fn from(s: String) -> Self {
        CheckId(s.into())
    }
}

impl From<CheckId> for String {
    fn from(id: CheckId) -> Self {
        id.0.to_string()
    }
}

impl std::borrow::Borrow<str> for CheckId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a probe failed, in words an on-call engineer can act on.
///
/// The variant is what the health layer and the API show; keep it specific so that "the server
/// said 503" and "the certificate expired" never look alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum FailureReason {
    /// Nothing answered in time.
    Timeout,
    /// The connection was refused (nothing listens; for UDP an ICMP port unreachable came back).
    Refused,
    /// Any other connection or transport error.
    Connect(String),
    /// HTTP status not in the expected set.
    Status(u16),
    /// Anything else the protocol-specific check rejected.
    Other(String),
    /// The check's own configuration cannot be probed (bad URL, unreadable `ca_file`, ...).
    Config(String),
    /// The target's host name did not resolve (to an address of the wanted family).
    Resolve(String),
    /// TLS handshake failed; includes a certificate that does not verify (expired, wrong
    /// name, unknown issuer).
    Tls(String),
    /// The certificate verifies but expires sooner than `cert_min_validity`: days left
    /// (negative when already expired).
    CertExpiring(i64),
    /// The HTTP body does not match the expected text or regex (named in the message).
    BodyMismatch(String),
    /// A TCP/UDP/ICMP reply came but is not the expected one (shows what came, escaped).
    UnexpectedReply(String),
    /// The DNS server answered with another rcode (e.g. `SERVFAIL`).
    Rcode(String),
    /// The DNS rcode was right but no answer matched `expect_answer`.
    AnswerMismatch(String),
    /// The network or host is unreachable (no route, ICMP unreachable).
    Unreachable(String),
    /// The probe is not allowed to run here (ICMP without ping sockets or CAP_NET_RAW).
    Permission(String),
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::Timeout => f.write_str("timeout"),
            FailureReason::Refused => f.write_str("connection refused"),
            FailureReason::Connect(e) => write!(f, "connect error: {e}"),
            FailureReason::Status(s) => write!(f, "unexpected HTTP status {s}"),
            FailureReason::Other(e) => f.write_str(e),
            FailureReason::Config(e) => write!(f, "invalid check: {e}"),
            FailureReason::Resolve(e) => write!(f, "name resolution failed: {e}"),
            FailureReason::Tls(e) => write!(f, "TLS error: {e}"),
            FailureReason::CertExpiring(d) if *d < 0 => {
                write!(f, "certificate expired {} days ago", -d)
            }
            FailureReason::CertExpiring(d) => write!(f, "certificate expires in {d} days"),
            FailureReason::BodyMismatch(e) => write!(f, "body does not match {e}"),
            FailureReason::UnexpectedReply(e) => write!(f, "unexpected reply: {e}"),
            FailureReason::Rcode(r) => write!(f, "unexpected DNS rcode {r}"),
            FailureReason::AnswerMismatch(e) => write!(f, "no DNS answer matches: {e}"),
            FailureReason::Unreachable(e) => write!(f, "unreachable: {e}"),
            FailureReason::Permission(e) => write!(f, "not permitted: {e}"),
        }
    }
}

impl FailureReason {
    /// The variant's name (as in JSON): the bounded `reason` label of
    /// `dnsfailback_probe_failures_total`, without the detail text.
    pub fn label(&self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Refused => "refused",
            FailureReason::Connect(_) => "connect",
            FailureReason::Status(_) => "status",
            FailureReason::Other(_) => "other",
            FailureReason::Config(_) => "config",
            FailureReason::Resolve(_) => "resolve",
            FailureReason::Tls(_) => "tls",
            FailureReason::CertExpiring(_) => "cert_expiring",
            FailureReason::BodyMismatch(_) => "body_mismatch",
            FailureReason::UnexpectedReply(_) => "unexpected_reply",
            FailureReason::Rcode(_) => "rcode",
            FailureReason::AnswerMismatch(_) => "answer_mismatch",
            FailureReason::Unreachable(_) => "unreachable",
            FailureReason::Permission(_) => "permission",
        }
    }
}

/// What kind of probe produced a result: the `kind` label of the probe metrics (`https`
/// apart from `http`: TLS costs and fails differently). Six values, so the metrics stay small
/// however many checks there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProbeKind {
    Http,
    Https,
    Tcp,
    Udp,
    Icmp,
    Dns,
    /// A probe from outside this module (tests, embedders).
    #[default]
    Other,
}

impl ProbeKind {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Https => "https",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Udp => "udp",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Dns => "dns",
            ProbeKind::Other => "other",
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `Ok(())` when the endpoint answered as expected.
    pub result: Result<(), FailureReason>,
    /// Time from sending to the verdict (to the timeout, on a timeout).
    pub latency: Duration,
}

impl Outcome {
    /// True on success.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// One outcome, tagged with the check it belongs to; what the runner streams.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The check this outcome belongs to.
    pub check: CheckId,
    /// The kind of probe, for the probe metrics (not per check: see docs/metrics.md).
    pub kind: ProbeKind,
    pub outcome: Outcome,
    /// When the probe finished, on the tokio clock (paused in tests).
    pub at: tokio::time::Instant,
}

/// Durations in config are written as `"500ms"`, `"2s"`, `"5m"`, `"1h"`.
pub mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `500ms`, `2s`, `1.5s`, `5m`, `1h`, `7d` (shared with every adapter).
    pub fn parse(s: &str) -> Result<Duration, String> {
        dnsfailback_provider::parse_duration(s)
    }

    /// Formats a duration the way [`parse`] reads it.
    pub fn format(d: Duration) -> String {
        dnsfailback_provider::format_duration(d)
    }

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format(*d)),
            None => s.serialize_none(),
        }
    }

    /// Serde hook: reads what [`parse`] accepts.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod cert;
mod check_spec;
mod dns;
mod http;
mod icmp;
mod pattern;
mod runner;
mod spec;
mod tcp;
mod udp;

#[cfg(test)]
mod testutil;

pub use http::shared_http_clients;
pub use runner::{auto_slot, Probe, Runner, RunnerOptions, RunnerStats};
pub use spec::{Prober, Schedule};
