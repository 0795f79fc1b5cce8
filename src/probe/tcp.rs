//! TCP probe: connect, and optionally send a line and wait for an expected reply.
//!
//! Flow: runner -> **tcp** -> [`Outcome`](super::Outcome) -> health. A plain connect check closes
//! with an RST (linger 0) like HAProxy does, so thousands of checks per second leave no
//! TIME_WAIT sockets behind on the prober; a send/expect check closes normally.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pattern::Pattern;
use super::spec::{io_reason, show_bytes, Target};
use super::{FailureReason, Family};

/// Most bytes read while waiting for `expect`.
const MAX_READ: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct TcpProbe {
    target: Target,
    family: Family,
    send: Option<Vec<u8>>,
    expect: Pattern,
}

impl TcpProbe {
    pub(crate) fn new(
        address: &str,
        send: Option<&str>,
        expect: Pattern,
        family: Family,
    ) -> Result<Self, String> {
        Ok(TcpProbe {
            target: Target::parse(address, None, family).map_err(|e| format!("address: {e}"))?,
            family,
            send: send.map(|s| s.as_bytes().to_vec()),
            expect,
        })
    }

    pub(crate) async fn run(&self) -> Result<(), FailureReason> {
        let addr = self.target.resolve(self.family).await?;
        let mut stream = TcpStream::connect(addr).await.map_err(|e| io_reason(&e))?;
        if self.send.is_none() && self.expect.is_any() {
            // Best effort: an RST instead of FIN leaves no TIME_WAIT on our side.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            return Ok(());
        }
        let _ = stream.set_nodelay(true);
        if let Some(send) = &self.send {
            stream.write_all(send).await.map_err(|e| io_reason(&e))?;
        }
        if self.expect.is_any() {
            return Ok(());
        }
        // Read into the heap, not a stack chunk: the probe's future is allocated for every
        // probe of every check, and a 4 KiB array in it made each one 4 KiB bigger.
        let mut buf = Vec::with_capacity(256);
        loop {
            if buf.capacity() == buf.len() {
                buf.reserve(4096);
            }
            let n = stream.read_buf(&mut buf).await.map_err(|e| io_reason(&e))?;
            if n == 0 {
                return Err(FailureReason::UnexpectedReply(if buf.is_empty() {
                    "connection closed without a reply".into()
                } else {
                    format!("closed after {}", show_bytes(&buf))
                }));
            }
            if self.expect.matches(&buf) {
                return Ok(());
            }
            if buf.len() >= MAX_READ {
                return Err(FailureReason::UnexpectedReply(format!(
                    "{} does not match {}",
                    show_bytes(&buf),
                    self.expect.describe()
                )));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::probe::testutil;
    use crate::probe::{CheckSpec, Prober};

    fn spec(address: String, send: Option<&str>, expect: Option<&str>) -> CheckSpec {
        CheckSpec::Tcp {
            address,
            send: send.map(Into::into),
            expect: expect.map(Into::into),
            expect_regex: None,
            family: Family::Any,
            role: Default::default(),
            timeout: Some(Duration::from_millis(500)),
            interval: Some(Duration::from_secs(1)),
            recheck: None,
            recheck_interval: None,
        }
    }

    #[tokio::test]
    async fn tcp_connect_ok_and_refused() {
        let addr = testutil::tcp_echo().await;
        let p = Prober::new(&spec(addr.to_string(), None, None)).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Ok(()), "{o:?}");

        let dead = testutil::dead_tcp_port().await;
        let p = Prober::new(&spec(dead.to_string(), None, None)).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Refused));
    }

    #[tokio::test]
    async fn tcp_send_expect() {
        let addr = testutil::tcp_echo().await;
        let p = Prober::new(&spec(addr.to_string(), Some("PING\r\n"), Some("PING"))).unwrap();
        assert_eq!(p.probe().await.result, Ok(()));

        let mut re = spec(addr.to_string(), Some("PING\r\n"), None);
        if let CheckSpec::Tcp { expect_regex, .. } = &mut re {
            *expect_regex = Some(r"^PI.G\r\n".into());
        }
        assert_eq!(Prober::new(&re).unwrap().probe().await.result, Ok(()));
        if let CheckSpec::Tcp { expect_regex, .. } = &mut re {
            *expect_regex = Some(r"^\+PONG".into());
        }
        assert_eq!(
            Prober::new(&re).unwrap().probe().await.result,
            Err(FailureReason::Timeout)
        );
        if let CheckSpec::Tcp { expect, .. } = &mut re {
            *expect = Some("PING".into());
        }
        assert_eq!(
            Prober::new(&re).unwrap_err(),
            "set either `expect` or `expect_regex`, not both"
        );

        let p = Prober::new(&spec(addr.to_string(), Some("PING\r\n"), Some("+PONG"))).unwrap();
        // the echo server sends back PING and then waits: no +PONG ever comes
        assert_eq!(p.probe().await.result, Err(FailureReason::Timeout));

        let closer = testutil::tcp_banner("HELLO\r\n").await;
        let p = Prober::new(&spec(closer.to_string(), None, Some("+PONG"))).unwrap();
        match p.probe().await.result {
            Err(FailureReason::UnexpectedReply(m)) => assert!(m.contains("HELLO"), "{m}"),
            other => panic!("expected UnexpectedReply, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tcp_silent_server_times_out() {
        let addr = testutil::tcp_silent().await;
        let p = Prober::new(&spec(addr.to_string(), None, Some("x"))).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Err(FailureReason::Timeout));
        assert!(o.latency >= Duration::from_millis(500), "{o:?}");
    }

    #[tokio::test]
    async fn family_judges_a_and_aaaa_separately() {
        // `localhost` has only an A record in this sandbox's /etc/hosts
        let v4 = testutil::tcp_echo().await;
        let name = format!("localhost:{}", v4.port());
        let mut s = spec(name.clone(), None, None);
        if let CheckSpec::Tcp { family, .. } = &mut s {
            *family = Family::Ipv4;
        }
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
        if let CheckSpec::Tcp { family, .. } = &mut s {
            *family = Family::Ipv6;
        }
        match Prober::new(&s).unwrap().probe().await.result {
            // no AAAA for localhost here; where ::1 is listed, nothing listens there: refused
            Err(FailureReason::Resolve(_)) | Err(FailureReason::Refused) => {}
            other => panic!("ipv6 must be judged on its own, got {other:?}"),
        }
        // an IPv6 literal target works
        let l = tokio::net::TcpListener::bind("[::1]:0")
            .await
            .expect("::1 must exist");
        let v6 = l.local_addr().unwrap();
        let p = Prober::new(&spec(v6.to_string(), None, None)).unwrap();
        assert_eq!(p.probe().await.result, Ok(()));
    }

    #[test]
    fn bad_addresses_are_rejected() {
        assert!(Prober::new(&spec("no-port".into(), None, None)).is_err());
        assert!(Prober::new(&spec("a b:80".into(), None, None)).is_err());
        assert!(Prober::new(&spec("host:99999".into(), None, None)).is_err());
        assert!(Prober::new(&spec("example.org:80".into(), None, None)).is_ok());
        assert!(Prober::new(&spec("[::1]:80".into(), None, None)).is_ok());
    }
}
