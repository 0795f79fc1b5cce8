//! NOTIFY (RFC 1996) to the secondaries after every change and at start-up, so they transfer
//! the new zone within moments instead of at their next SOA refresh.
//!
//! Sits right after the provider step (plan -> **provider** -> verify): the apply has swapped
//! in the new zone; this module tells the secondaries, which then ask for the SOA and transfer
//! the zone (`transfer.rs`). It never blocks or fails an apply: each zone and secondary gets
//! its own task, which sends a NOTIFY over UDP (AA set, the zone's SOA in the question and the
//! answer, TSIG-signed when the secondary has a key) up to [`ATTEMPTS`] times until the
//! secondary answers NOERROR, and logs one warning when it never does.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::net::UdpSocket;

use crate::secondaries::Peer;
use crate::tsig::now;
use crate::weighted::WeightRng;

/// How long each attempt waits for the answer: about 2 s in all (RFC 1996 section 3.6 leaves
/// the schedule to the primary; a secondary that misses them all catches up at its refresh).
pub const ATTEMPTS: [Duration; 3] = [
    Duration::from_millis(300),
    Duration::from_millis(600),
    Duration::from_millis(1100),
];

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
                    "NOTIFY not acknowledged after {} attempts: {e}; the secondary will see the \
                     change at its next SOA refresh (soa.refresh)",
                    ATTEMPTS.len()
                );
            }
        });
    }
}

/// One NOTIFY exchange with retries; `Ok` once the secondary answers NOERROR.
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
    let mut rng = WeightRng::from_entropy();
    let mut last = String::new();
    for wait in ATTEMPTS {
        let id = rng.next_u64() as u16;
        let bytes = message(peer, id, zone, soa)?;
        if let Err(e) = socket.send(&bytes).await {
            last = format!("cannot send: {e}");
            tokio::time::sleep(wait).await;
            continue;
        }
        match tokio::time::timeout(wait, answer(&socket, id)).await {
            Ok(ResponseCode::NoError) => return Ok(()),
            Ok(code) => last = format!("answered {code}"),
            Err(_) => last = format!("no answer within {} ms", wait.as_millis()),
        }
    }
    Err(last)
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
