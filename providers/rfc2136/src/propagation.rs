//! Propagation check: after an UPDATE, asks every authoritative server of the zone until each
//! serves the new SOA serial and the new answers, and measures how long that took.
//!
//! Sits between provider and verify in probe -> health -> policy -> plan -> provider ->
//! **verify**: the primary applies an update at once, secondaries follow by NOTIFY and
//! IXFR/AXFR, and resolvers may ask any of them. Until every server serves the change, a
//! failover is only partly done; [`crate::Rfc2136Provider::sync_status`] reports `Pending`
//! and [`crate::Rfc2136Provider::wait_propagation`] returns per-server times.
//!
//! Servers come from `propagation_servers`, or else from the zone's NS set (in-zone names
//! resolved at the primary, others through the system resolver) on `propagation_port`.
//! Queries are unsigned TCP: secondaries need not know the update key.

use std::net::SocketAddr;
use std::time::Duration;

use dnsfailback_provider::{Fqdn, ProviderError, RecordSet, RecordType};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType as HType};

use crate::client::{answers, exchange_once, soa_of, Client};
use crate::request::{build_query, sets_from_records, to_htype, to_name};

/// What one change must look like on every server.
#[derive(Debug, Clone)]
pub(crate) struct Expectation {
    pub zone: Fqdn,
    /// SOA serial right after the update; servers must serve this or a later one.
    pub serial: u32,
    /// Each touched set as it should be served (`None`: absent).
    pub sets: Vec<(Fqdn, RecordType, Option<RecordSet>)>,
    pub applied_at: tokio::time::Instant,
}

/// Time for one server to serve the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSync {
    /// The server queried.
    pub server: SocketAddr,
    /// Time from the end of the UPDATE until the server served the change; `None` if it had
    /// not by the deadline.
    pub elapsed: Option<Duration>,
    /// The last reason the server was not yet in sync (old serial, old answer, unreachable).
    pub last_problem: Option<String>,
}

/// Result of [`crate::Rfc2136Provider::wait_propagation`]: whether every server serves the
/// change, and when each did, so operators see how long a failover really takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationReport {
    /// Zone and serial the servers were checked for.
    pub zone: Fqdn,
    pub serial: u32,
    /// True when every server served the change before the deadline.
    pub in_sync: bool,
    /// One entry per server, primary first.
    pub servers: Vec<ServerSync>,
    /// Time from the end of the UPDATE until the last server was in sync (or the deadline).
    pub total: Duration,
}

/// RFC 1982 serial comparison: `a` is `b` or newer.
pub(crate) fn serial_at_least(a: u32, b: u32) -> bool {
    a == b || (a.wrapping_sub(b) as i32) > 0
}

/// Checks one server once; `Ok(())` when it serves the expected serial and answers.
pub(crate) async fn check_server(
    client: &Client,
    server: SocketAddr,
    exp: &Expectation,
) -> Result<(), String> {
    let zone = to_name(&exp.zone)?;
    let resp = exchange_once(client, server, &build_query(&zone, HType::SOA), None)
        .await
        .map_err(|e| e.message)?;
    let serial = match soa_of(&resp) {
        Some((s, _, _)) => s,
        None => {
            return Err(format!(
                "no SOA for {} ({})",
                exp.zone, resp.metadata.response_code
            ))
        }
    };
    if !serial_at_least(serial, exp.serial) {
        return Err(format!(
            "serves serial {serial}, waiting for {}",
            exp.serial
        ));
    }
    for (name, rtype, want) in &exp.sets {
        let qname = to_name(name)?;
        let htype = to_htype(*rtype);
        let resp = exchange_once(client, server, &build_query(&qname, htype), None)
            .await
            .map_err(|e| e.message)?;
        let rcode = resp.metadata.response_code;
        if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
            return Err(format!("{name} {rtype}: {rcode}"));
        }
        let got = sets_from_records(answers(&resp, &qname, htype));
        let ok = match want {
            None => got.is_empty(),
            Some(w) => got.len() == 1 && got[0].same_answer(w),
        };
        if !ok {
            return Err(format!("{name} {rtype}: serves {got:?}, expected {want:?}"));
        }
    }
    Ok(())
}

/// The servers to check: the primary, then the configured ones or the NS set, de-duplicated.
pub(crate) async fn servers(
    client: &Client,
    configured: &[SocketAddr],
    port: u16,
    zone: &Fqdn,
) -> Result<Vec<SocketAddr>, ProviderError> {
    let mut out = vec![client.server];
    let add = |a: SocketAddr, out: &mut Vec<SocketAddr>| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    if !configured.is_empty() {
        for a in configured {
            add(*a, &mut out);
        }
        return Ok(out);
    }
    let zname = to_name(zone).map_err(|e| {
        ProviderError::new(
            &client.instance,
            dnsfailback_provider::ErrorKind::Invalid,
            e,
        )
    })?;
    let resp = client
        .exchange(&build_query(&zname, HType::NS), "NS lookup")
        .await?;
    let targets: Vec<Name> = answers(&resp, &zname, HType::NS)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    for target in targets {
        let mut found = false;
        if zname.zone_of(&target) {
            for t in [HType::A, HType::AAAA] {
                if let Ok(r) = client
                    .exchange(&build_query(&target, t), "NS address lookup")
                    .await
                {
                    for rec in answers(&r, &target, t) {
                        let ip = match &rec.data {
                            RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                            RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            add(SocketAddr::new(ip, port), &mut out);
                            found = true;
                        }
                    }
                }
            }
        }
        if !found {
            let host = target.to_ascii();
            let lookup =
                tokio::net::lookup_host(format!("{}:{port}", host.trim_end_matches('.'))).await;
            match lookup {
                Ok(addrs) => {
                    for a in addrs {
                        add(a, &mut out);
                    }
                }
                Err(e) => tracing::warn!(
                    provider = %client.instance,
                    "propagation check: cannot resolve name server {host}: {e}; it is not checked"
                ),
            }
        }
    }
    Ok(out)
}

/// Polls every server until each is in sync or `limit` has passed since the update.
pub(crate) async fn wait(
    client: &Client,
    servers: &[SocketAddr],
    exp: &Expectation,
    limit: Duration,
) -> PropagationReport {
    let deadline = exp.applied_at + limit;
    let mut results: Vec<ServerSync> = servers
        .iter()
        .map(|s| ServerSync {
            server: *s,
            elapsed: None,
            last_problem: None,
        })
        .collect();
    let mut interval = Duration::from_millis(20);
    loop {
        for r in results.iter_mut().filter(|r| r.elapsed.is_none()) {
            match check_server(client, r.server, exp).await {
                Ok(()) => {
                    r.elapsed = Some(exp.applied_at.elapsed());
                    r.last_problem = None;
                }
                Err(p) => r.last_problem = Some(p),
            }
        }
        let in_sync = results.iter().all(|r| r.elapsed.is_some());
        let now = tokio::time::Instant::now();
        if in_sync || now >= deadline {
            let total = if in_sync {
                results
                    .iter()
                    .filter_map(|r| r.elapsed)
                    .max()
                    .unwrap_or_default()
            } else {
                limit
            };
            return PropagationReport {
                zone: exp.zone.clone(),
                serial: exp.serial,
                in_sync,
                servers: results,
                total,
            };
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(serial_at_least(5, 5));
        assert!(serial_at_least(6, 5));
        assert!(!serial_at_least(4, 5));
        assert!(serial_at_least(1, u32::MAX));
        assert!(!serial_at_least(u32::MAX, 1));
    }
}
