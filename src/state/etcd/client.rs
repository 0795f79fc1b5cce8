//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/...`), on the reqwest client the controller already has.
//!
//! Part of `state`: used by the etcd [`Store`](crate::state::Store) and the lease-based
//! [`Leadership`](crate::state::Leadership). Why the gateway and not gRPC: the gateway is part
//! of every etcd 3.4+ server, speaks JSON with base64 keys and values, and needs no protobuf
//! toolchain or extra crates; the controller makes a handful of calls per tick, so gRPC's
//! efficiency buys nothing here (docs/decisions/0007-etcd-coordination.md).

use std::time::Duration;

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use dnsfailback_provider::Secret;
use serde_json::{json, Value};

use crate::config::EtcdTls;

/// One key-value pair as etcd returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Revision of the key's creation: the fencing token of a leader key.
    pub create_revision: i64,
    /// Revision of its last change: for compare-and-swap writes.
    pub mod_revision: i64,
}

/// An etcd call failed; the message names the endpoint and never contains values.
#[derive(Debug, thiserror::Error)]
#[error("etcd: {0}")]
pub(crate) struct EtcdError(pub String);

/// Talks to the first reachable of `endpoints`.
#[derive(Debug, Clone)]
pub(crate) struct EtcdClient {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// etcd user and password, when the cluster has authentication on.
    auth: Option<(String, Secret)>,
    /// The current auth token (etcd's simple tokens expire; renewed on "invalid auth token").
    token: Arc<Mutex<Option<String>>>,
}

/// etcd's gRPC code for an unknown or expired auth token.
const UNAUTHENTICATED: i64 = 16;

impl EtcdClient {
    /// A client for `endpoints` (`http://host:2379` or `https://`, then trusting `tls.ca` and
    /// presenting `tls.identity`), each call bounded by `timeout`.
    pub(crate) fn new(
        endpoints: &[String],
        timeout: Duration,
        auth: Option<(String, Secret)>,
        tls: &EtcdTls,
    ) -> Result<Self, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError("no endpoints".into()));
        }
        let tls = crate::tls::client_config(tls.ca.as_deref(), tls.identity.as_ref())
            .map_err(|e| EtcdError(format!("etcd TLS: {e}")))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| EtcdError(format!("http client: {e}")))?;
        Ok(EtcdClient {
            http,
            endpoints: endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            auth,
            token: Arc::new(Mutex::new(None)),
        })
    }

    /// The auth token to send, authenticating first when there is none yet (or `renew`).
    async fn auth_token(&self, renew: bool) -> Result<Option<String>, EtcdError> {
        let Some((user, password)) = &self.auth else {
            return Ok(None);
        };
        if !renew {
            if let Some(t) = self.token.lock().ok().and_then(|g| g.clone()) {
                return Ok(Some(t));
            }
        }
        let body = json!({ "name": user, "password": password.expose() });
        let v = self
            .post("/v3/auth/authenticate", &body, None)
            .await
            .map_err(|(e, _)| EtcdError(format!("authentication as `{user}` failed: {}", e.0)))?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EtcdError(format!("authentication as `{user}`: no token returned")))?;
        if let Ok(mut g) = self.token.lock() {
            *g = Some(token.clone());
        }
        Ok(Some(token))
    }

    /// One etcd call, authenticated when the cluster needs it; an expired token is renewed
    /// once.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let token = self.auth_token(false).await?;
        match self.post(path, body, token.as_deref()).await {
            Err((_, code)) if code == UNAUTHENTICATED && self.auth.is_some() => {
                let token = self.auth_token(true).await?;
                self.post(path, body, token.as_deref())
                    .await
                    .map_err(|e| e.0)
            }
            r => r.map_err(|e| e.0),
        }
    }

    /// POSTs `body` to `path` on the first endpoint that answers; an HTTP error from a
    /// reachable endpoint is final (the cluster answered), a connection failure tries the next.
    /// The error carries etcd's gRPC code (0 when there is none).
    async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<Value, (EtcdError, i64)> {
        let mut last = String::new();
        for ep in &self.endpoints {
            let mut req = self.http.post(format!("{ep}{path}")).json(body);
            if let Some(t) = token {
                req = req.header(reqwest::header::AUTHORIZATION, t);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{ep}: {}", e.without_url());
                    continue;
                }
            };
            let status = resp.status();
            let text = resp.text().await.map_err(|e| {
                let e = e.without_url();
                (EtcdError(format!("{ep}{path}: reading the answer: {e}")), 0)
            })?;
            let v: Value = serde_json::from_str(&text).map_err(|_| {
                let e = EtcdError(format!("{ep}{path}: HTTP {status}, not an etcd answer"));
                (e, 0)
            })?;
            if !status.is_success() {
                let msg = v
                    .get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                let code = num(v.get("code"));
                return Err((EtcdError(format!("{ep}{path}: HTTP {status}: {msg}")), code));
            }
            return Ok(v);
        }
        Err((EtcdError(format!("no endpoint reachable ({last})")), 0))
    }

    /// The value of `key`, if it exists.
    pub(crate) async fn get(&self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        let v = self
            .call("/v3/kv/range", &json!({ "key": b64(key) }))
            .await?;
        Ok(kvs(&v).into_iter().next())
    }

    /// Every key under `prefix`, by key, ascending or descending, at most `limit` (0 = all).
    pub(crate) async fn list(
        &self,
        prefix: &[u8],
        limit: usize,
        descending: bool,
    ) -> Result<Vec<Kv>, EtcdError> {
        let mut req = json!({
            "key": b64(prefix),
            "range_end": b64(&prefix_end(prefix)),
            "sort_target": "KEY",
            "sort_order": if descending { "DESCEND" } else { "ASCEND" },
        });
        if limit > 0 {
            req["limit"] = json!(limit.to_string());
        }
        let v = self.call("/v3/kv/range", &req).await?;
        Ok(kvs(&v))
    }

    /// A transaction: when every `compare` holds, `success` runs, else `failure`. Returns
    /// whether it succeeded and the revision it ran at.
    pub(crate) async fn txn(
        &self,
        compare: Vec<Value>,
        success: Vec<Value>,
        failure: Vec<Value>,
    ) -> Result<Txn, EtcdError> {
        let v = self
            .call(
                "/v3/kv/txn",
                &json!({ "compare": compare, "success": success, "failure": failure }),
            )
            .await?;
        Ok(Txn {
            succeeded: v.get("succeeded").and_then(Value::as_bool).unwrap_or(false),
            revision: num(v.pointer("/header/revision")),
            ranges: v
                .get("responses")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| r.get("response_range"))
                        .flat_map(kvs)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// A new lease of `ttl`; returns its id.
    pub(crate) async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let v = self
            .call(
                "/v3/lease/grant",
                &json!({ "TTL": ttl.as_secs().max(1).to_string() }),
            )
            .await?;
        let id = num(v.get("ID"));
        if id == 0 {
            return Err(EtcdError("lease grant returned no id".into()));
        }
        Ok(id)
    }

    /// Refreshes lease `id`; returns the TTL left, 0 when the lease is gone.
    pub(crate) async fn keepalive(&self, id: i64) -> Result<i64, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", &json!({ "ID": id.to_string() }))
            .await?;
        Ok(num(v.pointer("/result/TTL")))
    }

    /// Ends lease `id` at once, deleting the keys attached to it (a clean hand-over).
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", &json!({ "ID": id.to_string() }))
            .await
            .map(|_| ())
    }
}

/// What a transaction returned.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    pub succeeded: bool,
    pub revision: i64,
    /// Key-values of the range requests that ran.
    pub ranges: Vec<Kv>,
}

/// Compare: `key` was created at `revision` (0 = it does not exist).
pub(crate) fn created_at(key: &[u8], revision: i64) -> Value {
    json!({ "key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": revision.to_string() })
}

/// Compare: `key` was last modified at `revision`.
pub(crate) fn modified_at(key: &[u8], revision: i64) -> Value {
    json!({ "key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string() })
}

/// Request: put `value` at `key`, attached to `lease` when given.
pub(crate) fn put(key: &[u8], value: &[u8], lease: Option<i64>) -> Value {
    let mut p = json!({ "key": b64(key), "value": b64(value) });
    if let Some(l) = lease {
        p["lease"] = json!(l.to_string());
    }
    json!({ "request_put": p })
}

/// Request: read `key`.
pub(crate) fn range(key: &[u8]) -> Value {
    json!({ "request_range": { "key": b64(key) } })
}

/// Request: delete `key`.
pub(crate) fn delete(key: &[u8]) -> Value {
    json!({ "request_delete_range": { "key": b64(key) } })
}

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

/// The smallest key after every key that starts with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// etcd's JSON gateway writes int64 as strings and omits zero values.
fn num(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn kvs(v: &Value) -> Vec<Kv> {
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|kv| Kv {
                    key: decode(kv.get("key")),
                    value: decode(kv.get("value")),
                    create_revision: num(kv.get("create_revision")),
                    mod_revision: num(kv.get("mod_revision")),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(v: Option<&Value>) -> Vec<u8> {
    v.and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_and_numbers() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(num(Some(&json!("42"))), 42);
        assert_eq!(num(Some(&json!(7))), 7);
        assert_eq!(num(None), 0);
        let v =
            json!({"kvs":[{"key":"Zm9v","value":"YQ==","create_revision":"2","mod_revision":"5"}]});
        assert_eq!(
            kvs(&v),
            vec![Kv {
                key: b"foo".to_vec(),
                value: b"a".to_vec(),
                create_revision: 2,
                mod_revision: 5
            }]
        );
    }
}
