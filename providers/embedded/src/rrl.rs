//! Response rate limiting (RRL) for UDP: a token bucket per client network, so the server
//! cannot be turned into an amplifier against a spoofed victim.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify), in the UDP
//! loop, before a query is answered. Each client network (an IPv4 /24, an IPv6 /56 by
//! default, as BIND's `rate-limit`) may get `responses_per_second` answers a second, with a
//! burst of one second's worth. Beyond that, every `slip`-th query gets an empty truncated
//! reply (TC=1), which a real resolver retries over TCP (never limited here), and the others
//! get nothing; a spoofed flood so gets at most one small reply in `slip`. Simpler than BIND:
//! the bucket is per client network, not per network and answer, so one network asking many
//! names shares one budget; set the rate with that in mind.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[providers.<instance>.rate_limit]`.
///
/// ```toml
/// [providers.local.rate_limit]
/// responses_per_second = 50
/// slip = 2
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Answers a second to one client network over UDP (at least 1).
    pub responses_per_second: u32,
    /// Every `slip`-th limited query gets an empty truncated reply (TC=1) so a real client
    /// retries over TCP; 0 = none, 1 = every one. Default 2.
    #[serde(default = "default_slip")]
    pub slip: u32,
    /// Prefix length of an IPv4 client network. Default 24.
    #[serde(default = "default_v4")]
    pub ipv4_prefix: u8,
    /// Prefix length of an IPv6 client network. Default 56.
    #[serde(default = "default_v6")]
    pub ipv6_prefix: u8,
}

fn default_slip() -> u32 {
    2
}
fn default_v4() -> u8 {
    24
}
fn default_v6() -> u8 {
    56
}

impl RateLimitConfig {
    /// Problems with the values, each naming the key and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.responses_per_second == 0 {
            p.push("rate_limit.responses_per_second is 0: no answer could be sent; use at least 1, or remove [rate_limit]".into());
        }
        if self.ipv4_prefix == 0 || self.ipv4_prefix > 32 {
            p.push(format!(
                "rate_limit.ipv4_prefix {} is not 1 to 32",
                self.ipv4_prefix
            ));
        }
        if self.ipv6_prefix == 0 || self.ipv6_prefix > 128 {
            p.push(format!(
                "rate_limit.ipv6_prefix {} is not 1 to 128",
                self.ipv6_prefix
            ));
        }
        p
    }
}

/// What to do with one UDP query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// An empty reply with TC=1: "ask again over TCP".
    Slip,
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    limited: u32,
}

/// Buckets older than this are forgotten (a full bucket is the same as none).
const FORGET_AFTER: Duration = Duration::from_secs(2);
/// How many buckets are kept before a sweep of the old ones.
const SWEEP_AT: usize = 10_000;

/// The limiter shared by every UDP socket of one server.
#[derive(Debug)]
pub struct Rrl {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Rrl {
    pub fn new(config: RateLimitConfig) -> Self {
        Rrl {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict for a query from `client` at `now`.
    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        let c = &self.config;
        let rate = f64::from(c.responses_per_second);
        let key = network(client, c.ipv4_prefix, c.ipv6_prefix);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| now.saturating_duration_since(b.last) < FORGET_AFTER);
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: rate,
            last: now,
            limited: 0,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Verdict::Answer;
        }
        b.limited = b.limited.wrapping_add(1);
        if c.slip > 0 && b.limited.is_multiple_of(c.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// `ip` with its host bits cleared: the client network it is counted in.
fn network(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a)
                & u32::MAX
                    .checked_shl(32 - u32::from(v4.min(32)))
                    .unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(a) => {
            let shift = 128 - u32::from(v6.min(128));
            let bits = u128::from(a) & u128::MAX.checked_shl(shift).unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrl(rate: u32, slip: u32) -> Rrl {
        Rrl::new(RateLimitConfig {
            responses_per_second: rate,
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        })
    }

    #[test]
    fn a_network_gets_its_rate_then_every_second_limited_query_slips() {
        let r = rrl(5, 2);
        let t = Instant::now();
        let a: IpAddr = "192.0.2.7".parse().unwrap_or_else(|e| panic!("{e}"));
        let same_net: IpAddr = "192.0.2.200".parse().unwrap_or_else(|e| panic!("{e}"));
        let other: IpAddr = "198.51.100.1".parse().unwrap_or_else(|e| panic!("{e}"));
        let verdicts: Vec<Verdict> = (0..9)
            .map(|i| r.check(if i % 2 == 0 { a } else { same_net }, t))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Answer, Answer, Answer, Answer, Answer, Drop, Slip, Drop, Slip],
            "one /24, one budget"
        );
        assert_eq!(r.check(other, t), Answer, "another network has its own");
        // A second later the budget is back.
        assert_eq!(r.check(a, t + Duration::from_secs(1)), Answer);
    }

    #[test]
    fn ipv6_networks_are_counted_by_their_prefix() {
        let r = rrl(1, 0);
        let t = Instant::now();
        let a: IpAddr = "2001:db8:0:1::1".parse().unwrap_or_else(|e| panic!("{e}"));
        let same: IpAddr = "2001:db8:0:ff::9".parse().unwrap_or_else(|e| panic!("{e}"));
        let other: IpAddr = "2001:db8:0:100::1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.check(a, t), Verdict::Answer);
        assert_eq!(
            r.check(same, t),
            Verdict::Drop,
            "same /56; slip 0 never slips"
        );
        assert_eq!(r.check(other, t), Verdict::Answer, "another /56");
    }
}
