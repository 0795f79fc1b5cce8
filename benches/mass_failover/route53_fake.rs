//! A stateful Route 53 fake on 127.0.0.1: just the calls the adapter makes during a failover
//! (ListResourceRecordSets with Route 53's ordering and pagination, ChangeResourceRecordSets
//! as one all-or-nothing batch with exact DELETE and CREATE-of-absent, GetChange), and the
//! real per-request limits of a batch: at most 1,000 `ResourceRecord` elements and 32,000
//! characters of values (`InvalidChangeBatch` beyond). The account's request rate is enforced
//! in front of it by `limiter.rs`. Signatures are not checked (the adapter's SigV4 is tested
//! against AWS's vectors elsewhere).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use dnsfailback_provider_route53::request::{parse_xml, Node};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
/// Route 53's limits per ChangeResourceRecordSets request.
pub const MAX_RR_PER_BATCH: usize = 1000;
const MAX_VALUE_CHARS: usize = 32_000;

/// One record set as stored: TTL and values (simple routing only; the bench needs no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub ttl: u32,
    pub values: Vec<String>,
}

/// Sort key of Route 53's listing: labels reversed, then type.
type Key = (String, String);

fn sort_name(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    n.rsplit('.').collect::<Vec<_>>().join(".")
}

fn key(name: &str, rtype: &str) -> Key {
    (sort_name(name), rtype.to_string())
}

/// One zone's sets: sort key -> (name, type, set).
type Sets = BTreeMap<Key, (String, String, Set)>;

#[derive(Default)]
pub struct State {
    /// zone id -> (zone name, key -> (name, type, set))
    zones: BTreeMap<String, (String, Sets)>,
    next_change: u64,
    /// Changes answered PENDING until their first GetChange.
    pending: BTreeMap<String, bool>,
    /// Batches refused as invalid (too large, or not matching).
    pub invalid_batches: u64,
}

impl State {
    /// The values of `name` `rtype` in zone `zone_id`, if the set exists.
    pub fn values(&self, zone_id: &str, name: &str, rtype: &str) -> Option<Vec<String>> {
        let (_, sets) = self.zones.get(zone_id)?;
        sets.get(&key(name, rtype))
            .map(|(_, _, s)| s.values.clone())
    }
}

/// The running fake; its server task stops when dropped.
pub struct Route53Fake {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Route53Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Route53Fake {
    /// Starts the fake with `zones` (id, name), each holding its SOA and NS like a new hosted
    /// zone.
    pub async fn start(zones: &[(String, String)]) -> Result<Self, String> {
        let mut st = State::default();
        for (id, name) in zones {
            let apex = format!("{}.", name.trim_end_matches('.'));
            let mut sets = BTreeMap::new();
            let soa = Set {
                ttl: 900,
                values: vec![format!(
                    "ns-1.awsdns-1.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
                )],
            };
            let ns = Set {
                ttl: 172800,
                values: vec!["ns-1.awsdns-1.org.".into()],
            };
            sets.insert(key(&apex, "SOA"), (apex.clone(), "SOA".into(), soa));
            sets.insert(key(&apex, "NS"), (apex.clone(), "NS".into(), ns));
            st.zones.insert(id.clone(), (apex, sets));
        }
        let state = Arc::new(Mutex::new(st));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("route53 fake: bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Route53Fake { addr, state, task })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Route 53's error document.
pub fn error_xml(code: &str, message: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#,
        esc(message)
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn query_value(q: &str, k: &str) -> Option<String> {
    q.split('&').find_map(|p| {
        let (a, b) = p.split_once('=')?;
        (a == k).then(|| {
            // The adapter percent-encodes names; only a few characters matter here.
            b.replace("%2A", "*")
                .replace("%2a", "*")
                .replace("%2F", "/")
                .replace("%20", " ")
        })
    })
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let (status, text) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        route(&mut st, &method, &path, &query, &body)
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

fn route(st: &mut State, method: &str, path: &str, query: &str, body: &str) -> (u16, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["2013-04-01", "hostedzone", id, "rrset"]) => list(st, id, query),
        ("POST", ["2013-04-01", "hostedzone", id, "rrset"]) => change(st, id, body),
        ("GET", ["2013-04-01", "change", id]) => {
            let id = id.trim_start_matches("%2Fchange%2F");
            match st.pending.get_mut(id) {
                Some(p) => {
                    *p = false;
                    (200, change_info("GetChangeResponse", id, false))
                }
                None => (404, error_xml("NoSuchChange", "no such change")),
            }
        }
        _ => (
            400,
            error_xml("InvalidInput", &format!("fake: no route {method} {path}")),
        ),
    }
}

fn change_info(root: &str, id: &str, pending: bool) -> String {
    let status = if pending { "PENDING" } else { "INSYNC" };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="{NS}"><ChangeInfo><Id>/change/{id}</Id><Status>{status}</Status><SubmittedAt>2024-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo></{root}>"#
    )
}

fn list(st: &State, id: &str, query: &str) -> (u16, String) {
    let Some((_, sets)) = st.zones.get(id) else {
        return (404, error_xml("NoSuchHostedZone", "no such hosted zone"));
    };
    let max: usize = query_value(query, "maxitems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(300)
        .clamp(1, 300);
    let start = query_value(query, "name").map(|n| {
        let t = query_value(query, "type").unwrap_or_default();
        key(&n, &t)
    });
    let mut iter = sets
        .iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|s| *k >= s))
        .peekable();
    let mut out = String::new();
    for _ in 0..max {
        let Some((_, (name, rtype, set))) = iter.next() else {
            break;
        };
        out.push_str(&format!(
            "<ResourceRecordSet><Name>{name}</Name><Type>{rtype}</Type><TTL>{}</TTL><ResourceRecords>",
            set.ttl
        ));
        for v in &set.values {
            out.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                esc(v)
            ));
        }
        out.push_str("</ResourceRecords></ResourceRecordSet>");
    }
    let next = match iter.peek() {
        Some((_, (name, rtype, _))) => format!(
            "<IsTruncated>true</IsTruncated><NextRecordName>{name}</NextRecordName><NextRecordType>{rtype}</NextRecordType>"
        ),
        None => "<IsTruncated>false</IsTruncated>".into(),
    };
    (
        200,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListResourceRecordSetsResponse xmlns="{NS}"><ResourceRecordSets>{out}</ResourceRecordSets>{next}<MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"#
        ),
    )
}

/// One parsed change: action, name, type, set.
type Parsed = (String, String, String, Set);

fn parse_change(c: &Node) -> Result<Parsed, String> {
    let action = c.text_of("Action").ok_or("Change without Action")?;
    let rs = c
        .child("ResourceRecordSet")
        .ok_or("Change without ResourceRecordSet")?;
    let name = rs.text_of("Name").ok_or("set without Name")?;
    let name = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
    let rtype = rs.text_of("Type").ok_or("set without Type")?;
    let ttl = rs
        .text_of("TTL")
        .and_then(|t| t.parse().ok())
        .ok_or("set without a TTL")?;
    let values = rs
        .child("ResourceRecords")
        .map(|r| {
            r.children_named("ResourceRecord")
                .filter_map(|rr| rr.text_of("Value"))
                .collect()
        })
        .unwrap_or_default();
    Ok((action, name, rtype, Set { ttl, values }))
}

fn change(st: &mut State, id: &str, body: &str) -> (u16, String) {
    let invalid = |st: &mut State, msg: String| {
        st.invalid_batches += 1;
        (400, error_xml("InvalidChangeBatch", &msg))
    };
    let parsed: Result<Vec<Parsed>, String> = parse_xml(body).and_then(|root| {
        let changes = root
            .child("ChangeBatch")
            .and_then(|b| b.child("Changes"))
            .ok_or("no ChangeBatch/Changes")?;
        changes.children_named("Change").map(parse_change).collect()
    });
    let changes = match parsed {
        Ok(c) => c,
        Err(e) => return (400, error_xml("InvalidInput", &e)),
    };
    let rr: usize = changes
        .iter()
        .map(|(a, _, _, s)| s.values.len() * if a == "UPSERT" { 2 } else { 1 })
        .sum();
    let chars: usize = changes
        .iter()
        .map(|(a, _, _, s)| {
            s.values.iter().map(|v| v.len()).sum::<usize>() * if a == "UPSERT" { 2 } else { 1 }
        })
        .sum();
    if rr > MAX_RR_PER_BATCH || chars > MAX_VALUE_CHARS {
        return invalid(
            st,
            format!("{rr} ResourceRecord elements / {chars} characters: above the limit"),
        );
    }
    let Some((_, sets)) = st.zones.get(id) else {
        return (404, error_xml("NoSuchHostedZone", "no such hosted zone"));
    };
    // All or nothing: apply to a copy.
    let mut next = sets.clone();
    for (action, name, rtype, set) in changes {
        let k = key(&name, &rtype);
        let problem = match action.as_str() {
            "CREATE" if next.contains_key(&k) => Some("it already exists"),
            "DELETE" => match next.get(&k) {
                Some((_, _, s)) if *s == set => {
                    next.remove(&k);
                    None
                }
                _ => Some("it was not found (or its values differ)"),
            },
            "CREATE" | "UPSERT" => {
                next.insert(k, (name.clone(), rtype.clone(), set));
                None
            }
            _ => Some("unknown action"),
        };
        if let Some(p) = problem {
            return invalid(
                st,
                format!(
                    "Tried to {action} resource record set [name='{name}', type='{rtype}'] but {p}"
                ),
            );
        }
    }
    if let Some((_, sets)) = st.zones.get_mut(id) {
        *sets = next;
    }
    st.next_change += 1;
    let cid = format!("C{:012}", st.next_change);
    st.pending.insert(cid.clone(), true);
    (
        200,
        change_info("ChangeResourceRecordSetsResponse", &cid, true),
    )
}
