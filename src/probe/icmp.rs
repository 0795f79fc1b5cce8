//! ICMP echo (ping) probe, IPv4 and IPv6, with safe socket APIs only: the socket is opened with
//! socket2 and driven as a tokio `UdpSocket` (plain `send`/`recv` on a connected datagram or raw
//! socket), which needs neither `unsafe` nor the deprecated `AsyncFd::new`.
//!
//! Flow: runner -> **icmp** -> [`Outcome`](super::Outcome) -> health.
//!
//! Socket choice, per probe: an unprivileged ping socket (`SOCK_DGRAM`/`IPPROTO_ICMP`, allowed
//! when `net.ipv4.ping_group_range` covers our group; the kernel then owns the identifier and
//! the checksum), else a raw socket (needs root or CAP_NET_RAW; IPv4 replies then carry the IP
//! header). When neither may be opened the probe fails with [`FailureReason::Permission`] saying
//! what to change. The socket is connected to the target, so the kernel only hands us packets
//! from it; a reply must also carry our sequence number and a random 16-byte token, so replies to
//! other probes (raw sockets see every echo reply) are skipped.

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use super::spec::{io_reason, Target};
use super::{FailureReason, Family};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Unprivileged ping socket: no IP header on receive, identifier set by the kernel.
    Ping,
    /// Raw socket: IPv4 receives include the IP header.
    Raw,
}

#[derive(Debug)]
pub(crate) struct IcmpProbe {
    target: Target,
    family: Family,
}

impl IcmpProbe {
    pub(crate) fn new(host: &str, family: Family) -> Result<Self, String> {
        let target = Target::parse(host, Some(0), family).map_err(|e| format!("host: {e}"))?;
        Ok(IcmpProbe { target, family })
    }

    pub(crate) async fn run(&self) -> Result<(), FailureReason> {
        let ip = self.target.resolve(self.family).await?.ip();
        let (sock, mode) = open(ip)?;
        sock.set_nonblocking(true).map_err(|e| io_reason(&e))?;
        sock.connect(&SockAddr::from(SocketAddr::new(ip, 0)))
            .map_err(|e| io_reason(&e))?;
        let sock =
            UdpSocket::from_std(std::net::UdpSocket::from(sock)).map_err(|e| io_reason(&e))?;

        let ident = fastrand::u16(..);
        let seq = fastrand::u16(..);
        let mut token = [0u8; TOKEN_LEN];
        fastrand::fill(&mut token);
        let packet = echo_request(ip.is_ipv4(), ident, seq, &token);
        sock.send(&packet).await.map_err(|e| io_reason(&e))?;
        let mut buf = [0u8; 1500];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| io_reason(&e))?;
            let got = buf.get(..n).unwrap_or(&[]);
            if is_our_reply(got, ip.is_ipv4(), mode, ident, seq, &token) {
                return Ok(());
            }
        }
    }
}

fn open(ip: IpAddr) -> Result<(Socket, Mode), FailureReason> {
    let (domain, proto) = if ip.is_ipv4() {
        (Domain::IPV4, Protocol::ICMPV4)
    } else {
        (Domain::IPV6, Protocol::ICMPV6)
    };
    let ping_err = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => return Ok((s, Mode::Ping)),
        Err(e) => e,
    };
    match Socket::new(domain, Type::RAW, Some(proto)) {
        Ok(s) => Ok((s, Mode::Raw)),
        Err(raw_err) => {
            let denied = |e: &std::io::Error| {
                e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(1)
            };
            if denied(&ping_err) || denied(&raw_err) {
                Err(FailureReason::Permission(format!(
                    "ICMP needs unprivileged ping sockets (sysctl net.ipv4.ping_group_range must \
                     include this process's group) or raw sockets (root or CAP_NET_RAW); \
                     ping socket: {ping_err}; raw socket: {raw_err}"
                )))
            } else {
                Err(FailureReason::Connect(format!(
                    "cannot open an ICMP socket: ping socket: {ping_err}; raw socket: {raw_err}"
                )))
            }
        }
    }
}

fn echo_request(v4: bool, ident: u16, seq: u16, token: &[u8; TOKEN_LEN]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + TOKEN_LEN);
    p.push(if v4 { ECHO_REQUEST_V4 } else { ECHO_REQUEST_V6 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(token);
    if v4 {
        // ICMPv6 checksums cover a pseudo-header and are always filled in by the kernel.
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum = sum.wrapping_add(u32::from(word));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// True when `packet` is the echo reply to our request; any other or malformed packet is false.
fn is_our_reply(packet: &[u8], v4: bool, mode: Mode, ident: u16, seq: u16, token: &[u8]) -> bool {
    let icmp = if v4 && mode == Mode::Raw {
        let Some(first) = packet.first() else {
            return false;
        };
        let ihl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ihl < 20 {
            return false;
        }
        match packet.get(ihl..) {
            Some(p) => p,
            None => return false,
        }
    } else {
        packet
    };
    let Some(head) = icmp.get(..8) else {
        return false;
    };
    let want = if v4 { ECHO_REPLY_V4 } else { ECHO_REPLY_V6 };
    if head[0] != want || head[1] != 0 {
        return false;
    }
    // ping sockets rewrite the identifier; the kernel already matched it for us
    if mode == Mode::Raw && u16::from_be_bytes([head[4], head[5]]) != ident {
        return false;
    }
    u16::from_be_bytes([head[6], head[7]]) == seq && icmp.get(8..8 + token.len()) == Some(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::{CheckSpec, Prober};

    fn spec(host: &str, family: Family) -> CheckSpec {
        CheckSpec::Icmp {
            host: host.into(),
            family,
            role: Default::default(),
            timeout: Some(Duration::from_secs(1)),
            interval: Some(Duration::from_secs(1)),
            recheck: None,
            recheck_interval: None,
        }
    }

    #[tokio::test]
    async fn ping_ipv4_loopback() {
        let o = Prober::new(&spec("127.0.0.1", Family::Any))
            .unwrap()
            .probe()
            .await;
        assert_eq!(
            o.result,
            Ok(()),
            "ICMP echo to 127.0.0.1 failed (needs ping sockets or root): {o:?}"
        );
    }

    #[tokio::test]
    async fn ping_ipv6_loopback() {
        // ::1 must exist here; if it does not, fail loudly instead of passing silently.
        let has_v6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
        assert!(
            has_v6,
            "IPv6 loopback ::1 is not available in this environment: the ICMPv6 test cannot run"
        );
        let o = Prober::new(&spec("::1", Family::Ipv6))
            .unwrap()
            .probe()
            .await;
        assert_eq!(o.result, Ok(()), "ICMPv6 echo to ::1 failed: {o:?}");
    }

    #[test]
    fn reply_parser_accepts_only_our_reply() {
        // Whatever mode `open` picks, the parser must accept the matching reply and reject others.
        let tok = [7u8; TOKEN_LEN];
        let mut reply = echo_request(true, 1, 2, &tok);
        reply[0] = ECHO_REPLY_V4;
        assert!(is_our_reply(&reply, true, Mode::Ping, 99, 2, &tok));
        assert!(!is_our_reply(&reply, true, Mode::Ping, 99, 3, &tok));
        assert!(!is_our_reply(&reply, true, Mode::Raw, 99, 2, &tok));
        let mut ip = vec![0x45u8; 1];
        ip.extend_from_slice(&[0u8; 19]);
        ip.extend_from_slice(&reply);
        assert!(is_our_reply(&ip, true, Mode::Raw, 1, 2, &tok));
        let req = echo_request(true, 1, 2, &tok);
        assert!(
            !is_our_reply(&req, true, Mode::Ping, 1, 2, &tok),
            "our own request is not a reply"
        );
        for cut in 0..ip.len() {
            assert!(!is_our_reply(&ip[..cut], true, Mode::Raw, 1, 2, &tok));
        }
        assert!(!is_our_reply(&[0x4f], true, Mode::Raw, 1, 2, &tok));
        assert!(!is_our_reply(&[], false, Mode::Raw, 1, 2, &tok));
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example bytes
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        let p = echo_request(true, 0x1234, 1, &[0; TOKEN_LEN]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
    }

    #[test]
    fn family_mismatch_is_a_config_error() {
        assert!(Prober::new(&spec("127.0.0.1", Family::Ipv6)).is_err());
        assert!(Prober::new(&spec("::1", Family::Ipv4)).is_err());
    }
}
