//! DNS probe: one query to one server over UDP or TCP, built and parsed with hickory-proto.
//!
//! Flow: runner -> **dns** -> [`Outcome`](super::Outcome) -> health. Used to check that an
//! authoritative server or resolver answers (and, with `expect_answer`, answers what we
//! expect). Replies with another id are ignored (late replies to an earlier probe); a reply with
//! our id that does not parse is an [`FailureReason::UnexpectedReply`], never a panic. A
//! truncated (TC) UDP reply is retried over TCP.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::spec::{io_reason, show_bytes};
use super::{CheckSpec, DnsTransport, FailureReason};

/// Rcode names accepted in `expect_rcode` (case-insensitive) and shown in failures.
const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADVERS", 16),
];

fn rcode_name(code: u16) -> String {
    RCODES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_else(|| format!("RCODE{code}"))
}

fn parse_rcode(s: &str) -> Result<u16, String> {
    let up = s.trim().to_ascii_uppercase();
    if let Some((_, c)) = RCODES.iter().find(|(n, _)| *n == up) {
        return Ok(*c);
    }
    up.strip_prefix("RCODE")
        .unwrap_or(&up)
        .parse::<u16>()
        .ok()
        .filter(|c| *c < 4096)
        .ok_or_else(|| {
            format!("expect_rcode `{s}` is not an rcode (NOERROR, NXDOMAIN, SERVFAIL, ...)")
        })
}

#[derive(Debug)]
pub(crate) struct DnsProbe {
    server: std::net::SocketAddr,
    transport: DnsTransport,
    query: Message,
    expect_rcode: u16,
    expect_answer: Option<String>,
}

impl DnsProbe {
    pub(crate) fn new(spec: &CheckSpec) -> Result<Self, String> {
        let CheckSpec::Dns {
            server,
            name,
            record_type,
            transport,
            expect_rcode,
            expect_answer,
            recursion_desired,
            ..
        } = spec
        else {
            return Err("not a dns check".into());
        };
        let server = match super::spec::Target::parse(server, Some(53), super::Family::Any)? {
            super::spec::Target::Addr(a) => a,
            super::spec::Target::Name { .. } => {
                return Err(format!(
                    "server `{server}` must be an IP address (optionally with :port)"
                ))
            }
        };
        let mut fqdn = name.trim().to_string();
        if !fqdn.ends_with('.') {
            fqdn.push('.');
        }
        let name = Name::from_ascii(&fqdn).map_err(|e| format!("name `{name}`: {e}"))?;
        let rtype: RecordType = record_type
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| format!("record_type `{record_type}` is not a DNS type"))?;
        let mut query = Message::new(0, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = *recursion_desired;
        query.add_query(Query::query(name, rtype));
        // fail at config time, not at every probe, if it cannot be encoded
        query.to_vec().map_err(|e| format!("query: {e}"))?;
        Ok(DnsProbe {
            server,
            transport: *transport,
            query,
            expect_rcode: parse_rcode(expect_rcode)?,
            expect_answer: expect_answer
                .as_ref()
                .map(|a| a.trim().trim_end_matches('.').to_ascii_lowercase()),
        })
    }

    pub(crate) async fn run(&self) -> Result<(), FailureReason> {
        let id = fastrand::u16(..);
        let mut q = self.query.clone();
        q.metadata.id = id;
        let wire = q
            .to_vec()
            .map_err(|e| FailureReason::Other(format!("encoding the query: {e}")))?;
        let reply = match self.transport {
            DnsTransport::Udp => self.udp(&wire, id).await?,
            DnsTransport::Tcp => self.tcp(&wire).await?,
        };
        let mut msg = parse(&reply)?;
        if msg.metadata.truncation && self.transport == DnsTransport::Udp && msg.metadata.id == id {
            // truncated over UDP: ask again over TCP, as a resolver would
            msg = parse(&self.tcp(&wire).await?)?;
        }
        if msg.metadata.id != id || msg.metadata.message_type != MessageType::Response {
            return Err(FailureReason::UnexpectedReply(format!(
                "reply id {} type {:?} to query id {id}",
                msg.metadata.id, msg.metadata.message_type
            )));
        }
        let rcode = u16::from(msg.metadata.response_code);
        if rcode != self.expect_rcode {
            return Err(FailureReason::Rcode(rcode_name(rcode)));
        }
        if let Some(want) = &self.expect_answer {
            let seen: Vec<String> = msg
                .answers
                .iter()
                .map(|r| {
                    r.data
                        .to_string()
                        .trim_end_matches('.')
                        .to_ascii_lowercase()
                })
                .collect();
            if !seen.iter().any(|s| s == want) {
                return Err(FailureReason::AnswerMismatch(format!(
                    "want {want:?}, got {seen:?}"
                )));
            }
        }
        Ok(())
    }

    async fn udp(&self, wire: &[u8], id: u16) -> Result<Vec<u8>, FailureReason> {
        let bind = if self.server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).await.map_err(|e| io_reason(&e))?;
        sock.connect(self.server).await.map_err(|e| io_reason(&e))?;
        sock.send(wire).await.map_err(|e| io_reason(&e))?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| io_reason(&e))?;
            // skip datagrams that are not for this query (too short or another id)
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    }

    async fn tcp(&self, wire: &[u8]) -> Result<Vec<u8>, FailureReason> {
        let mut s = TcpStream::connect(self.server)
            .await
            .map_err(|e| io_reason(&e))?;
        let _ = s.set_nodelay(true);
        let len =
            u16::try_from(wire.len()).map_err(|_| FailureReason::Other("query too long".into()))?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(wire);
        s.write_all(&out).await.map_err(|e| io_reason(&e))?;
        let mut lenb = [0u8; 2];
        s.read_exact(&mut lenb).await.map_err(|e| closed(&e))?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lenb))];
        s.read_exact(&mut buf).await.map_err(|e| closed(&e))?;
        Ok(buf)
    }
}

fn parse(reply: &[u8]) -> Result<Message, FailureReason> {
    Message::from_vec(reply).map_err(|e| {
        FailureReason::UnexpectedReply(format!("malformed DNS reply ({e}): {}", show_bytes(reply)))
    })
}

fn closed(e: &std::io::Error) -> FailureReason {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FailureReason::UnexpectedReply("connection closed before a full DNS reply".into())
    } else {
        io_reason(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::{testutil, Prober};

    fn spec(server: String, name: &str, transport: DnsTransport) -> CheckSpec {
        CheckSpec::Dns {
            server,
            name: name.into(),
            record_type: "A".into(),
            transport,
            expect_rcode: "NOERROR".into(),
            expect_answer: None,
            recursion_desired: true,
            role: Default::default(),
            timeout: Some(Duration::from_millis(400)),
            interval: Some(Duration::from_secs(1)),
            recheck: None,
            recheck_interval: None,
        }
    }

    fn answer(mut s: CheckSpec, want: &str) -> CheckSpec {
        if let CheckSpec::Dns { expect_answer, .. } = &mut s {
            *expect_answer = Some(want.into());
        }
        s
    }

    #[tokio::test]
    async fn dns_udp_and_tcp() {
        let srv = testutil::dns_server().await;
        for t in [DnsTransport::Udp, DnsTransport::Tcp] {
            let ok = Prober::new(&spec(srv.to_string(), "ok.test", t))
                .unwrap()
                .probe()
                .await;
            assert_eq!(ok.result, Ok(()), "{t:?} {ok:?}");
            let p =
                Prober::new(&answer(spec(srv.to_string(), "ok.test.", t), "192.0.2.1")).unwrap();
            assert_eq!(p.probe().await.result, Ok(()), "{t:?}");
            let p =
                Prober::new(&answer(spec(srv.to_string(), "ok.test.", t), "192.0.2.2")).unwrap();
            assert!(
                matches!(
                    p.probe().await.result,
                    Err(FailureReason::AnswerMismatch(_))
                ),
                "{t:?}"
            );
            let p = Prober::new(&spec(srv.to_string(), "nx.test", t)).unwrap();
            assert_eq!(
                p.probe().await.result,
                Err(FailureReason::Rcode("NXDOMAIN".into())),
                "{t:?}"
            );
            let p = Prober::new(&spec(srv.to_string(), "fail.test", t)).unwrap();
            assert_eq!(
                p.probe().await.result,
                Err(FailureReason::Rcode("SERVFAIL".into())),
                "{t:?}"
            );
            // tc.test is truncated over UDP and complete over TCP
            let p =
                Prober::new(&answer(spec(srv.to_string(), "tc.test.", t), "192.0.2.7")).unwrap();
            assert_eq!(
                p.probe().await.result,
                Ok(()),
                "{t:?}: TC falls back to TCP"
            );
            let p = Prober::new(&spec(srv.to_string(), "garbage.test", t)).unwrap();
            assert!(
                matches!(
                    p.probe().await.result,
                    Err(FailureReason::UnexpectedReply(_))
                ),
                "{t:?}"
            );
        }
        // NXDOMAIN is what we expect: success
        let mut s = spec(srv.to_string(), "nx.test", DnsTransport::Udp);
        if let CheckSpec::Dns { expect_rcode, .. } = &mut s {
            *expect_rcode = "nxdomain".into();
        }
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
    }

    #[tokio::test]
    async fn dns_timeout_and_refused() {
        let (silent, _keep) = testutil::udp_silent().await;
        let o = Prober::new(&spec(silent.to_string(), "ok.test", DnsTransport::Udp))
            .unwrap()
            .probe()
            .await;
        assert_eq!(o.result, Err(FailureReason::Timeout));
        let dead = testutil::dead_tcp_port().await;
        let o = Prober::new(&spec(dead.to_string(), "ok.test", DnsTransport::Tcp))
            .unwrap()
            .probe()
            .await;
        assert_eq!(o.result, Err(FailureReason::Refused));
    }

    #[test]
    fn dns_spec_validation() {
        assert!(spec("127.0.0.1".into(), "ok.test", DnsTransport::Udp)
            .validate()
            .is_ok());
        assert!(spec("[::1]:5353".into(), "ok.test", DnsTransport::Udp)
            .validate()
            .is_ok());
        assert!(spec("ns.example:53".into(), "ok.test", DnsTransport::Udp)
            .validate()
            .is_err());
        let mut s = spec("127.0.0.1".into(), "ok.test", DnsTransport::Udp);
        if let CheckSpec::Dns { record_type, .. } = &mut s {
            *record_type = "BOGUS".into();
        }
        assert!(s.validate().is_err());
        assert_eq!(parse_rcode("servfail"), Ok(2));
        assert_eq!(parse_rcode("3"), Ok(3));
        assert!(parse_rcode("nope").is_err());
    }
}
