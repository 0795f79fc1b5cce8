//! Zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) to the configured secondaries, so BIND, Knot
//! or NSD can serve the zones while the controller is a hidden primary.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> verify): after an
//! apply, `notify.rs` tells the secondaries, they ask for the SOA and then transfer the zone
//! from here. Who may transfer: a request over TCP, for a served zone, from the IP of a
//! configured secondary, signed with that secondary's TSIG key when it has one
//! ([`crate::secondaries::Secondaries::may_transfer`]); everyone else gets REFUSED (RFC 5936
//! section 2.2.1).
//!
//! What is sent: SOA, apex NS, name-server addresses, static records, managed record sets, SOA.
//! A weighted name (canary split) is sent as the union of its member sets' values, with the
//! lowest of their TTLs, since a secondary cannot weight: it answers every value, a round-robin
//! split (see docs/providers/embedded.md). IXFR is answered with the whole zone, AXFR-style, as
//! RFC 1995 section 4 allows (no deltas are kept), or with the SOA alone when the secondary is
//! already current (or asked over UDP, which tells it to use TCP).
//!
//! A large zone spans several messages, each under 64 KB. hickory writes a TCP connection's
//! responses only after the handler returns, so a whole transfer is queued in memory first
//! (the zone is in memory anyway); `server.rs` sizes that queue.

use std::collections::BTreeMap;

use dnsfailback_provider::{Fqdn, RecordSet, RecordType};
use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType as WireType};
use hickory_proto::serialize::binary::BinEncodable;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestInfo, ResponseHandler, ResponseInfo};

use crate::handler::Shared;
use crate::rdata::set_to_records;
use crate::state::{Records, ZoneState};
use crate::tsig::{self, ResponseSigner};

/// Bytes of records per message (uncompressed sizes; compression only shrinks them), leaving
/// room under 65535 for the header, the question, OPT and a TSIG record.
const MESSAGE_BUDGET: usize = 60_000;

/// True for the query types this module answers.
pub fn is_transfer(qtype: WireType) -> bool {
    matches!(qtype, WireType::AXFR | WireType::IXFR)
}

/// Answers an AXFR or IXFR request; see the module docs.
pub async fn answer<R: ResponseHandler>(
    shared: &Shared,
    request: &Request,
    info: &RequestInfo<'_>,
    edns: Option<&Edns>,
    mut signer: Option<ResponseSigner>,
    mut handle: R,
) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    let key = signer.as_ref().map(|s| s.key_name().clone());
    let messages = match plan(shared, request, info, key.as_ref()) {
        Ok(records) => {
            metadata.authoritative = true;
            let messages = chunk(records);
            tracing::info!(
                zone = %info.query.name(),
                qtype = %info.query.query_type(),
                secondary = %request.src(),
                records = messages.iter().map(Vec::len).sum::<usize>(),
                messages = messages.len(),
                "embedded DNS: zone transfer"
            );
            messages
        }
        Err(code) => {
            // Anyone can ask, so not above debug.
            tracing::debug!(
                zone = %info.query.name(),
                from = %request.src(),
                rcode = %code,
                "embedded DNS: zone transfer refused"
            );
            metadata.response_code = code;
            vec![Vec::new()]
        }
    };
    let mut last = None;
    for m in &messages {
        let sent = tsig::send(
            &mut handle,
            request,
            edns,
            metadata,
            [m, &[], &[]],
            signer.as_mut(),
        )
        .await;
        match sent {
            Ok(i) => last = Some(i),
            Err(e) => {
                tracing::warn!(
                    zone = %info.query.name(),
                    secondary = %request.src(),
                    "embedded DNS: zone transfer aborted: {e}"
                );
                break;
            }
        }
    }
    last.unwrap_or_else(|| {
        metadata.response_code = ResponseCode::ServFail;
        ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        })
    })
}

/// The records to send, or the refusal.
fn plan(
    shared: &Shared,
    request: &Request,
    info: &RequestInfo<'_>,
    key: Option<&hickory_proto::rr::Name>,
) -> Result<Vec<Record>, ResponseCode> {
    let zone = Fqdn::new(&info.query.name().to_ascii()).map_err(|_| ResponseCode::Refused)?;
    if !shared.served.contains(&zone) || !shared.secondaries.may_transfer(request.src().ip(), key) {
        return Err(ResponseCode::Refused);
    }
    let udp = request.protocol() == Protocol::Udp;
    let ixfr = info.query.query_type() == WireType::IXFR;
    if udp && !ixfr {
        // RFC 5936 section 4.2: AXFR is a TCP exchange.
        return Err(ResponseCode::Refused);
    }
    let state = shared
        .store
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .zones
        .get(&zone)
        .cloned()
        .unwrap_or_default();
    let soa = shared
        .zones
        .soa_record(&zone, state.serial)
        .ok_or(ResponseCode::ServFail)?;
    if ixfr && (udp || client_is_current(request, state.serial)) {
        // RFC 1995 sections 2 and 4: the SOA alone means "up to date" or, over UDP, "use TCP".
        return Ok(vec![soa]);
    }
    Ok(zone_records(shared, &zone, &state, soa))
}

/// True when the SOA in an IXFR request's authority section is not older than `serial` (RFC
/// 1982 arithmetic).
fn client_is_current(request: &Request, serial: u32) -> bool {
    request.authorities.iter().any(|r| match &r.data {
        RData::SOA(s) => (serial.wrapping_sub(s.serial) as i32) <= 0,
        _ => false,
    })
}

/// The whole zone in transfer order, SOA first and last.
pub fn zone_records(shared: &Shared, zone: &Fqdn, state: &ZoneState, soa: Record) -> Vec<Record> {
    let mut out = vec![soa.clone()];
    out.extend(shared.zones.ns_records(zone));
    out.extend(shared.zones.records_in(zone, &shared.served));
    out.extend(managed(&state.records));
    out.push(soa);
    out
}

/// Managed record sets as wire records, each weighted name and type as the union of its
/// members (weight-0 members left out unless every member has weight 0, as in answers).
fn managed(records: &Records) -> Vec<Record> {
    let mut groups: BTreeMap<(&Fqdn, RecordType), Vec<&RecordSet>> = BTreeMap::new();
    for set in records.all() {
        groups.entry((&set.name, set.rtype)).or_default().push(set);
    }
    let mut out = Vec::with_capacity(records.len());
    for ((name, rtype), sets) in groups {
        if let [only] = sets[..] {
            out.extend(set_to_records(only));
            continue;
        }
        let live = sets.iter().any(|s| s.weight != Some(0));
        let members = sets.iter().filter(|s| !live || s.weight != Some(0));
        let mut ttl = u32::MAX;
        let mut values: Vec<String> = Vec::new();
        for s in members {
            ttl = ttl.min(s.ttl);
            for v in &s.values {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
        }
        out.extend(set_to_records(&RecordSet::new(
            name.clone(),
            rtype,
            ttl,
            values,
        )));
    }
    out
}

/// Splits `records` into messages of at most [`MESSAGE_BUDGET`] bytes of records each.
fn chunk(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for r in records {
        let len = r.to_bytes().map_or(MESSAGE_BUDGET, |b| b.len());
        if size + len > MESSAGE_BUDGET && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(r);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::Name;

    #[test]
    fn messages_stay_under_the_budget_and_keep_order() -> Result<(), String> {
        let owner = Name::from_ascii("a-rather-long-label-for-size.example.test.")
            .map_err(|e| e.to_string())?;
        let records: Vec<Record> = (0..20_000u32)
            .map(|i| {
                Record::from_rdata(
                    owner.clone(),
                    60,
                    RData::A(A::from(std::net::Ipv4Addr::from(i))),
                )
            })
            .collect();
        let messages = chunk(records.clone());
        assert!(messages.len() > 1);
        for m in &messages {
            let size: usize = m
                .iter()
                .filter_map(|r| r.to_bytes().ok())
                .map(|b| b.len())
                .sum();
            assert!(size <= MESSAGE_BUDGET, "{size}");
        }
        let flat: Vec<Record> = messages.into_iter().flatten().collect();
        assert_eq!(flat, records);
        assert_eq!(chunk(Vec::new()).len(), 1, "a refusal is one empty message");
        Ok(())
    }

    #[test]
    fn a_weighted_name_is_the_union_of_its_live_members() -> Result<(), String> {
        let n = Fqdn::new("w.example.test")?;
        let mut records = Records::default();
        for (id, ip, w, ttl) in [
            ("blue", "192.0.2.1", 90, 60),
            ("green", "192.0.2.2", 10, 30),
            ("off", "192.0.2.3", 0, 60),
        ] {
            records.put(RecordSet::weighted(
                n.clone(),
                RecordType::A,
                ttl,
                vec![ip.into(), "192.0.2.1".into()],
                id,
                w,
            ));
        }
        let out = managed(&records);
        let values: Vec<String> = out.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(values, ["192.0.2.1", "192.0.2.2"]);
        assert!(out.iter().all(|r| r.ttl == 30));
        Ok(())
    }
}
