//! UDP probe: send one datagram, wait for a reply that contains the expected text
//! or matches the expected regex.
//!
//! Flow: runner -> **udp** -> [`Outcome`](super::Outcome) -> health. The socket is connected, so
//! only the target's replies are read and an ICMP port-unreachable surfaces as
//! [`FailureReason::Refused`]. Replies that do not match are skipped until the timeout (a
//! late reply to an earlier probe must not fail this one) and logged at debug level.

use tokio::net::UdpSocket;

use super::pattern::Pattern;
use super::spec::{io_reason, show_bytes, Target};
use super::{FailureReason, Family};

#[derive(Debug)]
pub(crate) struct UdpProbe {
    target: Target,
    family: Family,
    send: Vec<u8>,
    expect: Pattern,
}

impl UdpProbe {
    pub(crate) fn new(
        address: &str,
        send: &str,
        expect: Pattern,
        family: Family,
    ) -> Result<Self, String> {
        Ok(UdpProbe {
            target: Target::parse(address, None, family).map_err(|e| format!("address: {e}"))?,
            family,
            send: send.as_bytes().to_vec(),
            expect,
        })
    }

    pub(crate) async fn run(&self) -> Result<(), FailureReason> {
        let addr = self.target.resolve(self.family).await?;
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).await.map_err(|e| io_reason(&e))?;
        sock.connect(addr).await.map_err(|e| io_reason(&e))?;
        sock.send(&self.send).await.map_err(|e| io_reason(&e))?;
        let mut buf = vec![0u8; 65536];
        loop {
            // The caller's timeout ends this loop.
            let n = match sock.recv(&mut buf).await {
                Ok(n) => n,
                Err(e) => return Err(io_reason(&e)),
            };
            let got = &buf[..n];
            if self.expect.matches(got) {
                return Ok(());
            }
            tracing::debug!(reply = %show_bytes(got), expect = %self.expect.describe(), "udp probe: reply does not match, waiting");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::testutil;
    use crate::probe::{CheckSpec, Prober};

    fn spec(address: String, send: &str, expect: Option<&str>) -> CheckSpec {
        CheckSpec::Udp {
            address,
            send: send.into(),
            expect: expect.map(Into::into),
            expect_regex: None,
            family: Family::Any,
            role: Default::default(),
            timeout: Some(Duration::from_millis(300)),
            interval: Some(Duration::from_secs(1)),
            recheck: None,
            recheck_interval: None,
        }
    }

    #[tokio::test]
    async fn udp_echo_ok_mismatch_refused() {
        let addr = testutil::udp_echo().await;
        let p = Prober::new(&spec(addr.to_string(), "ping", Some("ping"))).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Ok(()), "{o:?}");
        let p = Prober::new(&spec(addr.to_string(), "ping", None)).unwrap();
        assert_eq!(p.probe().await.result, Ok(()));
        // the echo never contains "pong": keeps waiting, then times out
        let p = Prober::new(&spec(addr.to_string(), "ping", Some("pong"))).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Timeout));

        let mut re = spec(addr.to_string(), "ping 42", None);
        if let CheckSpec::Udp { expect_regex, .. } = &mut re {
            *expect_regex = Some(r"^ping \d+$".into());
        }
        assert_eq!(Prober::new(&re).unwrap().probe().await.result, Ok(()));
        if let CheckSpec::Udp { expect_regex, .. } = &mut re {
            *expect_regex = Some(r"^pong".into());
        }
        assert_eq!(
            Prober::new(&re).unwrap().probe().await.result,
            Err(FailureReason::Timeout)
        );

        let dead = testutil::dead_udp_port().await;
        let p = Prober::new(&spec(dead.to_string(), "ping", None)).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Refused));
    }

    #[tokio::test]
    async fn udp_silent_times_out() {
        let (addr, _keep) = testutil::udp_silent().await;
        let p = Prober::new(&spec(addr.to_string(), "ping", None)).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Err(FailureReason::Timeout));
        assert!(o.latency >= Duration::from_millis(300));
    }
}
