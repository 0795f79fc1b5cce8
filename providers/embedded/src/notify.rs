//! NOTIFY (RFC 1996) to the secondaries after every change and at start-up, so they transfer
//! the new zone within moments instead of at their next SOA refresh.
//!
//! Sits right after the provider step (plan -> **provider** -> verify): the apply has swapped
//! in the new zone; this module tells the secondaries, which then ask for the SOA and transfer
//! the zone (`transfer.rs`). It never blocks or fails an apply: each zone and secondary gets
//! its own task, which sends a NOTIFY over UDP (AA set, the zone's SOA in the question and the
//! answer, TSIG-signed when the secondary has a key) up to [`ATTEMPTS`] times until the
//! secondary answers NOERROR (about 2 s in all), and logs one warning when it never does.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::net::UdpSocket;

use crate::secondaries::Peer;
use crate::tsig::now;
use crate::weighted::WeightRng;

/// Attempts per change and secondary (RFC 1996 section 3.6 leaves the schedule to the
/// primary; a secondary that misses them all catches up at its SOA refresh).
pub const ATTEMPTS: usize = 3;
/// How long one attempt waits for the answer.
const ANSWER_WAIT: Duration = Duration::from_millis(500);
/// Back-off before the second attempt (doubling, with jitter): with [`ANSWER_WAIT`] the three
/// attempts take at most about 2 s.
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// Sends NOTIFY for `zone` (its current `soa`) to every peer, each in its own task.
pub fn spawn(instance: &str, peers: &[Peer], zone: &Name, soa: &Record) {
    for peer in peers {
        let (instance, peer) = (instance.to_string(), peer.clone());
        let (zone, soa) = (zone.clone(), soa.clone());
        tokio::spawn(async move {
            if let Err(e) = notify(&peer, &zone, &soa).await {
                let serial = match &soa.data {
                    hickory_proto::rr::RData::SOA(s) => s.serial,
                    _ => 0,
                };
                tracing::warn!(
                    provider = %instance,
                    zone = %zone,
                    serial,
                    secondary = %peer.address,
                    "NOTIFY not acknowledged after {ATTEMPTS} attempts: {e}; the secondary will \
                     see the change at its next SOA refresh (soa.refresh)"
                );
            }
        });
    }
}

/// One NOTIFY exchange with retries (backon, as every retry: decision 0001); `Ok` once the
/// secondary answers NOERROR.
pub async fn notify(peer: &Peer, zone: &Name, soa: &Record) -> Result<(), String> {
    let local = match peer.address {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .connect(peer.address)
        .await
        .map_err(|e| format!("cannot reach {}: {e}", peer.address))?;
    let rng = std::sync::Mutex::new(WeightRng::from_entropy());
    let attempt = || async {
        let id = rng.lock().map_or(0, |mut r| r.next_u64() as u16);
        let bytes = message(peer, id, zone, soa)?;
        socket
            .send(&bytes)
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        match tokio::time::timeout(ANSWER_WAIT, answer(&socket, id)).await {
            Ok(ResponseCode::NoError) => Ok(()),
            Ok(code) => Err(format!("answered {code}")),
            Err(_) => Err(format!("no answer within {} ms", ANSWER_WAIT.as_millis())),
        }
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(FIRST_DELAY)
                .with_max_times(ATTEMPTS - 1)
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .await
}

/// The NOTIFY message (RFC 1996 section 3.7), signed with the peer's key if it has one.
fn message(peer: &Peer, id: u16, zone: &Name, soa: &Record) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Notify);
    msg.metadata.authoritative = true;
    msg.add_query(Query::query(zone.clone(), RecordType::SOA));
    msg.add_answer(soa.clone());
    if let Some(key) = &peer.key {
        msg.finalize(key, now())
            .map_err(|e| format!("cannot sign NOTIFY: {e}"))?;
    }
    msg.to_vec()
        .map_err(|e| format!("cannot encode NOTIFY: {e}"))
}

/// The response code of the first answer to `id` (other datagrams are ignored).
async fn answer(socket: &UdpSocket, id: u16) -> ResponseCode {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok(n) = socket.recv(&mut buf).await else {
            // ICMP port unreachable and the like: wait for the attempt's timeout.
            std::future::pending::<()>().await;
            continue;
        };
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.id == id && m.metadata.message_type == MessageType::Response {
            return m.metadata.response_code;
        }
    }
}
