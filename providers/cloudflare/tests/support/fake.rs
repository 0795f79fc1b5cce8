//! A small stateful Cloudflare v4 fake on 127.0.0.1, as strict as the real API where the
//! adapter depends on it: bearer token checked, zones by name, DNS record list with
//! pagination, create / put / patch / delete, and the batch endpoint as one transaction
//! (deletes, patches, puts, posts; the first error aborts everything). Answers follow the
//! shapes of Cloudflare's OpenAPI schema, so Prism in proxy mode can check them too.
//!
//! Faults are queued explicitly (`push_fault`): the next request gets that answer instead.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TIME: &str = "2014-01-01T05:20:00.12345Z";

/// One queued answer.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
    pub authorization: String,
}

#[derive(Default)]
pub struct State {
    token: String,
    zones: Vec<(String, String)>,
    /// record id -> (zone id, record JSON as stored)
    records: BTreeMap<String, (String, Map<String, Value>)>,
    next_id: u64,
    faults: VecDeque<Fault>,
    pub log: Vec<Seen>,
}

/// The running fake; stops when dropped.
pub struct Fake {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = (u16, Vec<(String, String)>, String);

fn failure(status: u16, code: i64, message: &str) -> Reply {
    let body = json!({"success": false, "errors": [{"code": code, "message": message}],
                      "messages": [], "result": null});
    (status, Vec::new(), body.to_string())
}

fn ok(result: Value, extra: Option<(&str, Value)>) -> Reply {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let (Some((k, v)), Some(obj)) = (extra, body.as_object_mut()) {
        obj.insert(k.to_string(), v);
    }
    (200, Vec::new(), body.to_string())
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

impl Fake {
    /// Starts the fake with one zone `zone_name` (id `zone_id`) accepting `token`.
    pub async fn start(token: &str, zone_id: &str, zone_name: &str) -> Fake {
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            zones: vec![(zone_id.to_string(), zone_name.to_string())],
            next_id: 1,
            ..State::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake: no local address: {e}"));
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
        Fake { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds another zone served with the same token (the mass failover bench has 50).
    #[allow(dead_code)] // used by benches/mass_failover, not by the adapter's own tests
    pub fn add_zone(&self, zone_id: &str, zone_name: &str) {
        self.lock()
            .zones
            .push((zone_id.to_string(), zone_name.to_string()));
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an answer for the next request.
    pub fn push_fault(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.lock().faults.push_back(Fault {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
        });
    }

    /// Adds a record directly, as another tool or a person would; returns its id.
    pub fn seed(&self, zone_id: &str, record: Value) -> String {
        let mut st = self.lock();
        let Value::Object(body) = record else {
            panic!("seed needs an object");
        };
        match insert(&mut st, zone_id, &body) {
            Ok(rec) => rec
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            Err(e) => panic!("seed rejected: {}", e.2),
        }
    }

    /// Stored records (as the API would return them) of `name` and `rtype`.
    pub fn records(&self, name: &str, rtype: &str) -> Vec<Map<String, Value>> {
        self.lock()
            .records
            .values()
            .filter(|(_, r)| {
                r.get("name").and_then(Value::as_str) == Some(name)
                    && r.get("type").and_then(Value::as_str) == Some(rtype)
            })
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Requests seen so far (method, path).
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().log.clone()
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String("<not json>".into()))
    };
    let (status, headers, text) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.log.push(Seen {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
            authorization: authorization.clone(),
        });
        if let Some(f) = st.faults.pop_front() {
            (f.status, f.headers, f.body)
        } else if authorization != format!("Bearer {}", st.token) {
            failure(403, 9109, "Invalid access token")
        } else {
            route(&mut st, &method, &path, &query, &body)
        }
    };
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        resp = resp.header(k, v);
    }
    Ok(resp
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

fn zone_json(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "development_mode": 0,
        "owner": {"id": "7c5dae5552338874e5053f2534d2767a", "name": "Test Owner", "type": "user"},
        "account": {"id": "01a7362d577a6c3019a474fd6f485823", "name": "Test Account"},
        "meta": {"step": 2}, "name_servers": ["bob.ns.cloudflare.com", "lola.ns.cloudflare.com"],
        "original_name_servers": null, "original_registrar": null, "original_dnshost": null,
        "created_on": TIME, "modified_on": TIME, "activated_on": TIME,
        "status": "active", "paused": false, "type": "full",
    })
}

fn route(
    st: &mut State,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Reply {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["zones"]) => {
            let want = query.get("name").map(|s| s.to_ascii_lowercase());
            let zones: Vec<Value> = st
                .zones
                .iter()
                .filter(|(_, n)| want.as_ref().is_none_or(|w| w == n))
                .map(|(i, n)| zone_json(i, n))
                .collect();
            let n = zones.len();
            ok(
                Value::Array(zones),
                Some((
                    "result_info",
                    json!({"page": 1, "per_page": 20, "count": n, "total_count": n}),
                )),
            )
        }
        ("GET", ["zones", zid]) => match st.zones.iter().find(|(i, _)| i == zid) {
            Some((i, n)) => ok(zone_json(i, n), None),
            None => failure(404, 1001, "Invalid zone identifier"),
        },
        (_, ["zones", zid, ..]) if !st.zones.iter().any(|(i, _)| i == zid) => failure(
            404,
            7003,
            "Could not route to /zones/..., perhaps your object identifier is invalid?",
        ),
        ("GET", ["zones", zid, "dns_records"]) => list(st, zid, query),
        ("POST", ["zones", zid, "dns_records"]) => match body.as_object() {
            Some(b) => match insert(st, zid, b) {
                Ok(r) => ok(Value::Object(r), None),
                Err(e) => e,
            },
            None => failure(400, 9207, "Request body is invalid."),
        },
        ("POST", ["zones", zid, "dns_records", "batch"]) => batch(st, zid, body),
        ("GET", ["zones", _, "dns_records", rid]) => match st.records.get(*rid) {
            Some((_, r)) => ok(Value::Object(r.clone()), None),
            None => failure(404, 81044, "Record does not exist."),
        },
        ("PATCH" | "PUT", ["zones", _, "dns_records", rid]) => match body.as_object() {
            Some(b) => match modify(st, rid, b, method == "PUT") {
                Ok(r) => ok(Value::Object(r), None),
                Err(e) => e,
            },
            None => failure(400, 9207, "Request body is invalid."),
        },
        ("DELETE", ["zones", _, "dns_records", rid]) => match st.records.remove(*rid) {
            Some(_) => ok(json!({"id": rid}), None),
            None => failure(404, 81044, "Record does not exist."),
        },
        _ => failure(400, 7003, "No route for the URI"),
    }
}

fn list(st: &State, zid: &str, query: &BTreeMap<String, String>) -> Reply {
    let name = query.get("name").map(|s| s.to_ascii_lowercase());
    let rtype = query.get("type");
    let all: Vec<Value> = st
        .records
        .values()
        .filter(|(z, r)| {
            z == zid
                && name
                    .as_ref()
                    .is_none_or(|n| r.get("name").and_then(Value::as_str) == Some(n))
                && rtype.is_none_or(|t| r.get("type").and_then(Value::as_str) == Some(t))
        })
        .map(|(_, r)| Value::Object(r.clone()))
        .collect();
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .max(1);
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let info = json!({"page": page, "per_page": per_page, "count": items.len(),
                      "total_count": total, "total_pages": total.div_ceil(per_page)});
    ok(Value::Array(items), Some(("result_info", info)))
}

const TYPES: [&str; 6] = ["A", "AAAA", "CNAME", "MX", "SRV", "TXT"];

/// Checks and completes a record body; `base` holds the current record for PATCH.
fn build(
    id: &str,
    body: &Map<String, Value>,
    base: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, Reply> {
    let get = |k: &str| body.get(k).or_else(|| base.and_then(|b| b.get(k))).cloned();
    let rtype = get("type")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(failure(
            400,
            9004,
            "This record type is not supported by the fake.",
        ));
    }
    let name = get("name")
        .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase()))
        .ok_or_else(|| failure(400, 9005, "Record name is required."))?;
    let mut rec = Map::new();
    rec.insert("id".into(), json!(id));
    rec.insert("type".into(), json!(rtype));
    rec.insert("name".into(), json!(name));
    let ttl = get("ttl").and_then(|v| v.as_f64()).unwrap_or(1.0);
    if ttl != 1.0 && !(60.0..=86400.0).contains(&ttl) {
        return Err(failure(
            400,
            9021,
            "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
        ));
    }
    rec.insert("ttl".into(), json!(ttl as u32));
    let proxiable = matches!(rtype.as_str(), "A" | "AAAA" | "CNAME");
    rec.insert("proxiable".into(), json!(proxiable));
    let proxied = get("proxied").and_then(|v| v.as_bool()).unwrap_or(false);
    rec.insert("proxied".into(), json!(proxiable && proxied));
    if rtype == "SRV" {
        let data = get("data").ok_or_else(|| failure(400, 9101, "SRV data is required."))?;
        let n = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
        let target = data.get("target").and_then(Value::as_str).unwrap_or("");
        rec.insert("data".into(), data.clone());
        rec.insert("priority".into(), json!(n("priority")));
        rec.insert(
            "content".into(),
            json!(format!("{} {} {}", n("weight"), n("port"), target)),
        );
    } else {
        let content = get("content")
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| failure(400, 9005, "Content is required."))?;
        let valid = match rtype.as_str() {
            "A" => content.parse::<std::net::Ipv4Addr>().is_ok(),
            "AAAA" => content.parse::<std::net::Ipv6Addr>().is_ok(),
            _ => !content.is_empty(),
        };
        if !valid {
            return Err(failure(
                400,
                9005,
                "Content for A record must be a valid IPv4 address.",
            ));
        }
        rec.insert("content".into(), json!(content));
        if rtype == "MX" {
            let p = get("priority")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| failure(400, 9101, "MX records need a priority."))?;
            rec.insert("priority".into(), json!(p));
        }
    }
    for k in ["comment", "tags"] {
        if let Some(v) = get(k) {
            rec.insert(k.into(), v);
        }
    }
    rec.insert("created_on".into(), json!(TIME));
    rec.insert("modified_on".into(), json!(TIME));
    Ok(rec)
}

fn same_record(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    ["type", "name", "content", "priority"]
        .iter()
        .all(|k| a.get(*k) == b.get(*k))
}

fn check_identical(st: &State, rec: &Map<String, Value>) -> Result<(), Reply> {
    let id = rec.get("id");
    if st
        .records
        .values()
        .any(|(_, r)| r.get("id") != id && same_record(r, rec))
    {
        return Err(failure(400, 81058, "An identical record already exists."));
    }
    Ok(())
}

fn insert(
    st: &mut State,
    zid: &str,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    let id = format!("{:032x}", st.next_id);
    let rec = build(&id, body, None)?;
    check_identical(st, &rec)?;
    st.next_id += 1;
    st.records.insert(id, (zid.to_string(), rec.clone()));
    Ok(rec)
}

fn modify(
    st: &mut State,
    rid: &str,
    body: &Map<String, Value>,
    replace: bool,
) -> Result<Map<String, Value>, Reply> {
    let Some((zid, cur)) = st.records.get(rid).cloned() else {
        return Err(failure(404, 81044, "Record does not exist."));
    };
    let rec = if replace {
        build(rid, body, None)?
    } else {
        build(rid, body, Some(&cur))?
    };
    check_identical(st, &rec)?;
    st.records.insert(rid.to_string(), (zid, rec.clone()));
    Ok(rec)
}

fn batch(st: &mut State, zid: &str, body: &Value) -> Reply {
    let list = |k: &str| -> Vec<Map<String, Value>> {
        body.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
            .unwrap_or_default()
    };
    // One transaction: work on a copy, commit only when every operation succeeded.
    let mut work = State {
        records: st.records.clone(),
        next_id: st.next_id,
        ..State::default()
    };
    let mut out: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let id_of = |m: &Map<String, Value>| {
        m.get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for d in list("deletes") {
        match work.records.remove(&id_of(&d)) {
            Some((_, r)) => out.entry("deletes").or_default().push(Value::Object(r)),
            None => return failure(404, 81044, "Record does not exist."),
        }
    }
    for (key, replace) in [("patches", false), ("puts", true)] {
        for p in list(key) {
            let mut fields = p.clone();
            fields.remove("id");
            match modify(&mut work, &id_of(&p), &fields, replace) {
                Ok(r) => out.entry(key).or_default().push(Value::Object(r)),
                Err(e) => return e,
            }
        }
    }
    for p in list("posts") {
        match insert(&mut work, zid, &p) {
            Ok(r) => out.entry("posts").or_default().push(Value::Object(r)),
            Err(e) => return e,
        }
    }
    st.records = work.records;
    st.next_id = work.next_id;
    let result: Map<String, Value> = out
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::Array(v)))
        .collect();
    ok(Value::Object(result), None)
}
