//! Turning a [`CheckSpec`] into something that can probe: schedule defaults, validation, the
//! [`Prober`] that runs one probe of any kind, and the helpers the protocol modules share
//! (address parsing, family-aware resolution, error mapping).
//!
//! Flow: config -> **spec** -> runner -> (http | tcp | udp | icmp | dns) -> health.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::pattern::Pattern;
use super::{dns, http, icmp, tcp, udp, CheckSpec, FailureReason, Family, Outcome, Role};

/// Shortest interval the runner accepts; faster probing is load on the target, not safety.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Interval when the check does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Timeout when the check does not say (capped at the interval).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Quick repeats after a first failure, when the check does not say.
pub const DEFAULT_RECHECK: u32 = 2;
/// Gap between quick repeats, when the check does not say.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_millis(100);

/// When and how long to probe one check: the resolved scheduling fields of a [`CheckSpec`].
///
/// `recheck`: after a failure that follows a success (or is the very first outcome), the runner
/// repeats the probe `recheck` times, `recheck_interval` apart, and streams those outcomes
/// too, so that health can confirm a dead target in well under a second while one lost packet
/// stays one failure. A recheck that succeeds ends the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between probe starts.
    pub interval: Duration,
    /// Longest wait for one probe's verdict.
    pub timeout: Duration,
    /// Quick repeats after a first failure (0 disables).
    pub recheck: u32,
    /// Gap between quick repeats.
    pub recheck_interval: Duration,
}

impl Schedule {
    /// A schedule with the defaults for everything but the interval.
    pub fn every(interval: Duration) -> Self {
        Schedule {
            interval,
            timeout: DEFAULT_TIMEOUT.min(interval),
            recheck: DEFAULT_RECHECK,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
        }
    }

    /// Rejects schedules the runner cannot keep.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < MIN_INTERVAL {
            return Err(format!(
                "interval {} is below the minimum of 100ms",
                super::duration_opt::format(self.interval)
            ));
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            return Err(format!(
                "timeout {} must be above zero and at most the interval {}",
                super::duration_opt::format(self.timeout),
                super::duration_opt::format(self.interval)
            ));
        }
        if self.recheck > 0 && self.recheck_interval.is_zero() {
            return Err("recheck_interval must be above zero".into());
        }
        Ok(())
    }
}

impl CheckSpec {
    /// The resolved schedule (defaults filled in). Call [`CheckSpec::validate`] to know it is
    /// usable.
    pub fn schedule(&self) -> Schedule {
        let (timeout, interval, recheck, recheck_interval) = match self {
            CheckSpec::Http {
                timeout,
                interval,
                recheck,
                recheck_interval,
                ..
            }
            | CheckSpec::Tcp {
                timeout,
                interval,
                recheck,
                recheck_interval,
                ..
            }
            | CheckSpec::Udp {
                timeout,
                interval,
                recheck,
                recheck_interval,
                ..
            }
            | CheckSpec::Icmp {
                timeout,
                interval,
                recheck,
                recheck_interval,
                ..
            }
            | CheckSpec::Dns {
                timeout,
                interval,
                recheck,
                recheck_interval,
                ..
            } => (timeout, interval, recheck, recheck_interval),
        };
        let interval = interval.unwrap_or(DEFAULT_INTERVAL);
        Schedule {
            interval,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT.min(interval)),
            recheck: recheck.unwrap_or(DEFAULT_RECHECK),
            recheck_interval: recheck_interval.unwrap_or(DEFAULT_RECHECK_INTERVAL),
        }
    }

    /// Liveness or readiness, for the health layer.
    pub fn role(&self) -> Role {
        match self {
            CheckSpec::Http { role, .. }
            | CheckSpec::Tcp { role, .. }
            | CheckSpec::Udp { role, .. }
            | CheckSpec::Icmp { role, .. }
            | CheckSpec::Dns { role, .. } => *role,
        }
    }

    /// The `kind` tag, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Http { .. } => "http",
            CheckSpec::Tcp { .. } => "tcp",
            CheckSpec::Udp { .. } => "udp",
            CheckSpec::Icmp { .. } => "icmp",
            CheckSpec::Dns { .. } => "dns",
        }
    }

    /// Everything config loading should reject before the runner starts: schedule bounds,
    /// unparsable URLs, addresses, methods, record types, rcodes, an unreadable `ca_file`.
    pub fn validate(&self) -> Result<(), String> {
        self.schedule().validate()?;
        Prober::new(self).map(|_| ())
    }
}

/// Runs one probe of one check, with its timeout; built once per check and reused, so that
/// HTTP connections and TLS sessions are pooled per check.
#[derive(Debug)]
pub struct Prober {
    timeout: Duration,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Http(Box<http::HttpProbe>),
    Tcp(tcp::TcpProbe),
    Udp(Box<udp::UdpProbe>),
    Icmp(Box<icmp::IcmpProbe>),
    Dns(Box<dns::DnsProbe>),
}

impl Prober {
    /// The kind this prober probes with (`https` for an HTTP check of an https:// URL).
    pub fn probe_kind(&self) -> super::ProbeKind {
        use super::ProbeKind as K;
        match &self.kind {
            Kind::Http(h) if h.https() => K::Https,
            Kind::Http(_) => K::Http,
            Kind::Tcp(_) => K::Tcp,
            Kind::Udp(_) => K::Udp,
            Kind::Icmp(_) => K::Icmp,
            Kind::Dns(_) => K::Dns,
        }
    }

    /// Parses the spec's kind-specific fields; the error says which field is wrong.
    pub fn new(spec: &CheckSpec) -> Result<Prober, String> {
        let sched = spec.schedule();
        let kind = match spec {
            CheckSpec::Http { .. } => Kind::Http(Box::new(http::HttpProbe::new(spec, &sched)?)),
            CheckSpec::Tcp {
                address,
                send,
                expect,
                expect_regex,
                family,
                ..
            } => Kind::Tcp(tcp::TcpProbe::new(
                address,
                send.as_deref(),
                reply_pattern(expect, expect_regex)?,
                *family,
            )?),
            CheckSpec::Udp {
                address,
                send,
                expect,
                expect_regex,
                family,
                ..
            } => Kind::Udp(Box::new(udp::UdpProbe::new(
                address,
                send,
                reply_pattern(expect, expect_regex)?,
                *family,
            )?)),
            CheckSpec::Icmp { host, family, .. } => {
                Kind::Icmp(Box::new(icmp::IcmpProbe::new(host, *family)?))
            }
            CheckSpec::Dns { .. } => Kind::Dns(Box::new(dns::DnsProbe::new(spec)?)),
        };
        Ok(Prober {
            timeout: sched.timeout,
            kind,
        })
    }

    /// Probes once: `Ok` or a reason, and the time to the verdict (the timeout on a timeout).
    pub async fn probe(&self) -> Outcome {
        let start = Instant::now();
        // HTTP and DNS probes have large futures (a TLS handshake, a DNS client): boxed on
        // their own, so the common TCP probe's future stays small (20,000 checks probe
        // every second; the whole future is allocated per probe).
        let run = async {
            match &self.kind {
                Kind::Http(p) => Box::pin(p.run()).await,
                Kind::Tcp(p) => p.run().await,
                Kind::Udp(p) => Box::pin(p.run()).await,
                Kind::Icmp(p) => Box::pin(p.run()).await,
                Kind::Dns(p) => Box::pin(p.run()).await,
            }
        };
        let result = match tokio::time::timeout(self.timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(FailureReason::Timeout),
        };
        Outcome {
            result,
            latency: start.elapsed(),
        }
    }

    /// Expiry of the last TLS certificate seen (HTTPS checks only), for expiry alerts.
    pub fn cert_not_after(&self) -> Option<SystemTime> {
        match &self.kind {
            Kind::Http(p) => p.cert_not_after(),
            _ => None,
        }
    }
}

/// The reply expectation of a TCP or UDP check.
fn reply_pattern(expect: &Option<String>, regex: &Option<String>) -> Result<Pattern, String> {
    Pattern::new(
        expect.as_deref(),
        regex.as_deref(),
        "expect",
        "expect_regex",
    )
}

/// A probe target: an address known now, or a name resolved at each probe (so DNS changes are
/// followed).
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Addr(SocketAddr),
    Name { host: String, port: u16 },
}

impl Target {
    /// Parses `host:port`, `[v6]:port`, or a bare host when `default_port` is given.
    pub(crate) fn parse(
        s: &str,
        default_port: Option<u16>,
        family: Family,
    ) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(a) = s.parse::<SocketAddr>() {
            check_family(a.ip(), family)?;
            return Ok(Target::Addr(a));
        }
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let port =
                default_port.ok_or_else(|| format!("`{s}` has no port; write it as host:port"))?;
            check_family(ip, family)?;
            return Ok(Target::Addr(SocketAddr::new(ip, port)));
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("`{s}`: `{p}` is not a port"))?;
                (h, port)
            }
            None => (
                s,
                default_port.ok_or_else(|| format!("`{s}` has no port; write it as host:port"))?,
            ),
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
            return Err(format!("`{s}` is not a host:port address"));
        }
        Ok(Target::Name {
            host: host.to_string(),
            port,
        })
    }

    /// The address to probe now: the literal one, or the first of `family` the resolver gives.
    pub(crate) async fn resolve(&self, family: Family) -> Result<SocketAddr, FailureReason> {
        match self {
            Target::Addr(a) => Ok(*a),
            Target::Name { host, port } => {
                let addrs = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|e| FailureReason::Resolve(format!("{host}: {e}")))?;
                let mut found = false;
                for a in addrs {
                    found = true;
                    if family_matches(a.ip(), family) {
                        return Ok(a);
                    }
                }
                Err(FailureReason::Resolve(if found {
                    format!("{host} has no {family:?} address")
                } else {
                    format!("{host} has no address")
                }))
            }
        }
    }
}

pub(crate) fn family_matches(ip: IpAddr, family: Family) -> bool {
    match family {
        Family::Any => true,
        Family::Ipv4 => ip.is_ipv4(),
        Family::Ipv6 => ip.is_ipv6(),
    }
}

fn check_family(ip: IpAddr, family: Family) -> Result<(), String> {
    if family_matches(ip, family) {
        Ok(())
    } else {
        Err(format!("address {ip} is not {family:?}"))
    }
}

/// Maps a socket error to the reason an operator understands.
pub(crate) fn io_reason(e: &io::Error) -> FailureReason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureReason::Refused,
        io::ErrorKind::TimedOut => FailureReason::Timeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            FailureReason::Unreachable(e.to_string())
        }
        io::ErrorKind::PermissionDenied => FailureReason::Permission(e.to_string()),
        _ => FailureReason::Connect(e.to_string()),
    }
}

/// Shows at most 64 bytes of a reply, escaped, so a failure message can say what came back.
pub(crate) fn show_bytes(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(64)
        .flat_map(|c| std::ascii::escape_default(*c))
        .map(char::from)
        .collect();
    if b.len() > 64 {
        s.push_str("...");
    }
    format!("\"{s}\" ({} bytes)", b.len())
}

/// True when `needle` occurs in `hay` (an empty needle always does).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
#[cfg(test)]
mod future_size {
    /// Every probe of every check allocates its future (20,000 checks: 20,000 a second); a
    /// TCP probe's was 4.4 KB because of a stack read buffer and the other kinds' states.
    #[test]
    fn a_tcp_probe_future_stays_small() {
        let spec: crate::probe::CheckSpec =
            toml::from_str("kind = \"tcp\"\naddress = \"127.0.0.1:9\"")
                .unwrap_or_else(|e| panic!("{e}"));
        let p = super::Prober::new(&spec).unwrap_or_else(|e| panic!("{e}"));
        let size = std::mem::size_of_val(&p.probe());
        assert!(size < 1024, "a TCP probe future is {size} bytes");
    }
}
