//! The live checks of `dnsfailback validate` (without `--offline`) and of `dnsfailback drill`:
//! what the zone as served would do to a failover, read from the provider and over DNS.
//!
//! Beside the flow, looking at its far end (provider -> verify): nothing here changes
//! anything. Three warnings besides the SOA minimum check of [`crate::config`]: the record's
//! TTL at the provider above the configured `ttl` (a planned failover then waits that long,
//! and the controller restores that TTL), and name servers of the zone's NS set that do not
//! answer (resolvers that pick one wait out a timeout first, after a switch too). The NS set
//! is looked up over DNS: at the embedded server's `listen` address for the embedded provider
//! (its name servers are itself, so their addresses are queried on its port), at the system
//! resolver (first `nameserver` of /etc/resolv.conf, port 53) for the others.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::config::{Config, Problem, Service};
use crate::providers::build;

/// How long one name server may take to answer the SOA query before it counts as not
/// answering: resolvers give up on a server after about this long too.
pub const NS_TIMEOUT: Duration = Duration::from_millis(1500);

/// One authoritative server of a zone: its name (or the address given on the command line)
/// and where to query it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameServer {
    pub name: String,
    pub addr: SocketAddr,
}

/// Sends one query and returns the whole answer (every section), for checks that need more
/// than the answer values [`super::dig::lookup`] returns.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, String> {
    let name = Name::from_str(name).map_err(|e| e.to_string())?;
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(timeout))
        .build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    let bg = tokio::spawn(async move {
        let _ = bg.await;
    });
    let resp = tokio::time::timeout(timeout, client.query(name, DNSClass::IN, rtype)).await;
    bg.abort();
    Ok(resp
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
        .map_err(|e| e.to_string())?
        .into_message())
}

/// Whether `service` is published by the embedded DNS server.
fn is_embedded(config: &Config, service: &Service) -> bool {
    config
        .providers
        .get(&service.provider)
        .is_some_and(|pc| pc.kind() == "embedded")
}

/// Where to ask for the NS set of `service`'s zone, and the port its name servers answer on.
fn discovery_server(config: &Config, service: &Service) -> Result<(SocketAddr, u16), String> {
    let pc = config
        .providers
        .get(&service.provider)
        .ok_or_else(|| format!("no provider `{}`", service.provider))?;
    if pc.kind() == "embedded" {
        let listen = match pc.settings.get("listen").and_then(|v| v.as_str()) {
            Some(s) => s.parse::<SocketAddr>().map_err(|e| e.to_string())?,
            None => dnsfailback_provider_embedded::config::DEFAULT_LISTEN,
        };
        if listen.port() == 0 {
            return Err(format!(
                "the embedded server of provider `{}` listens on a port chosen at start (port 0); give the server with --authoritative",
                pc.name
            ));
        }
        return Ok((listen, listen.port()));
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| e.to_string())?;
    let ip = conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .ok_or("no nameserver in /etc/resolv.conf")?;
    Ok((SocketAddr::new(ip, 53), 53))
}

/// The zone's name servers as DNS publishes them: the NS records, then each name's
/// addresses (glue from the same answer, else an A query).
pub async fn name_servers(config: &Config, service: &Service) -> Result<Vec<NameServer>, String> {
    let (server, port) = discovery_server(config, service)?;
    if is_embedded(config, service) {
        // Before the controller runs (`validate` before `run`), nothing answers there: say so
        // at once instead of waiting out a UDP time-out per zone.
        let probe = tokio::net::TcpStream::connect(server);
        if !matches!(
            tokio::time::timeout(Duration::from_millis(300), probe).await,
            Ok(Ok(_))
        ) {
            return Err(format!(
                "the embedded DNS server does not answer at {server} (is the controller running?)"
            ));
        }
    }
    let zone = service.zone.to_string();
    let msg = query(server, &zone, RecordType::NS, NS_TIMEOUT)
        .await
        .map_err(|e| format!("NS lookup of {zone} at {server}: {e}"))?;
    let names: Vec<Name> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(format!("{server} returned no NS records for {zone}"));
    }
    let mut out = Vec::new();
    for name in names {
        let glue = |m: &Message| -> Vec<IpAddr> {
            m.answers
                .iter()
                .chain(&m.additionals)
                .filter(|r| r.name == name)
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect()
        };
        let mut addrs = glue(&msg);
        if addrs.is_empty() {
            if let Ok(m) = query(server, &name.to_string(), RecordType::A, NS_TIMEOUT).await {
                addrs = glue(&m);
            }
        }
        for ip in addrs {
            out.push(NameServer {
                name: name.to_string(),
                addr: SocketAddr::new(ip, port),
            });
        }
    }
    Ok(out)
}

/// Why `ns` does not serve `zone`, or `None` when it answers the SOA query authoritatively.
pub async fn ns_problem(ns: &NameServer, zone: &str) -> Option<String> {
    match query(ns.addr, zone, RecordType::SOA, NS_TIMEOUT).await {
        Err(e) => Some(format!("does not answer SOA queries ({e})")),
        Ok(m) if m.metadata.response_code != ResponseCode::NoError => Some(format!(
            "answers SOA queries with {}",
            m.metadata.response_code
        )),
        Ok(m) if !m.metadata.authoritative => {
            Some("answers SOA queries, but not authoritatively".into())
        }
        Ok(_) => None,
    }
}

/// The live warnings for every service, or only `only`: the SOA minimum against the failover
/// window, the record's TTL at the provider, and (with `ns_set`) the zone's name servers that
/// do not answer.
pub async fn warnings(config: &Config, only: Option<&str>, ns_set: bool) -> Vec<Problem> {
    let wanted = |s: &Service| only.is_none_or(|o| o == s.name);
    let prefix = only.map(|o| format!("services.{o}."));
    let mut out: Vec<Problem> = crate::config::negative_caching_warnings(config)
        .await
        .into_iter()
        .filter(|p| {
            prefix
                .as_ref()
                .is_none_or(|pre| p.path.starts_with(pre.as_str()))
        })
        .collect();
    out.extend(ttl_warnings(config, &wanted).await);
    let mut zones_seen = std::collections::BTreeSet::new();
    for s in config.services.values().filter(|s| ns_set && wanted(s)) {
        if !zones_seen.insert((s.provider.clone(), s.zone.clone())) {
            continue;
        }
        match name_servers(config, s).await {
            Ok(set) => out.extend(ns_warnings(s, &set).await),
            Err(e) => out.push(Problem::warning(
                None,
                format!("services.{}.zone", s.name),
                format!("cannot look up the name servers of zone {}: {e}", s.zone),
                "check that the zone is delegated and served, or pass --offline",
            )),
        }
    }
    out
}

/// One warning per server of `set` that does not answer for `s`'s zone.
pub async fn ns_warnings(s: &Service, set: &[NameServer]) -> Vec<Problem> {
    let zone = s.zone.to_string();
    let mut out = Vec::new();
    for ns in set {
        if let Some(why) = ns_problem(ns, &zone).await {
            out.push(Problem::warning(
                None,
                format!("services.{}.zone", s.name),
                format!(
                    "name server {} ({}) of zone {} {why}",
                    ns.name, ns.addr, s.zone
                ),
                "repair the server or remove it from the zone's NS set (and at the registrar): resolvers that pick it wait for a timeout before each retry, also right after a failover",
            ));
        }
    }
    out
}

/// Records whose TTL at the provider is above the configured `ttl`.
async fn ttl_warnings(config: &Config, wanted: &dyn Fn(&Service) -> bool) -> Vec<Problem> {
    let Ok(built) = build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    ) else {
        // negative_caching_warnings already reported why the providers cannot be built.
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in config.services.values().filter(|s| wanted(s)) {
        let Some(p) = built.providers.get(&s.provider) else {
            continue;
        };
        let read =
            tokio::time::timeout(Duration::from_secs(3), p.read(&s.zone, &s.record, s.rtype));
        let Ok(Ok(sets)) = read.await else {
            continue;
        };
        if let Some(ttl) = sets.iter().map(|r| r.ttl).max().filter(|t| *t > s.ttl) {
            out.push(Problem::warning(None, format!("services.{}.ttl", s.name), format!(
                "{} {} has TTL {ttl}s at provider `{}`, above the configured ttl of {}s: a planned failover waits out {ttl}s, and the controller keeps and restores the provider's TTL",
                s.record, s.rtype, s.provider, s.ttl
            ), format!("lower the record's TTL at the provider to {}s, or set ttl = {ttl} if that is intended", s.ttl)));
        }
    }
    out
}
