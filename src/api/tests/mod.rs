//! The admin API end to end over loopback HTTP, with a stand-in control loop: roles,
//! forwarding with the actor, the two-person rule, and the audit trail here; what remote
//! probe agents may post in `agents.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dnsfailback_provider::Secret;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::config::Role;
use crate::policy::command::{Operation, OperatorCommand};
use crate::state::MemoryStore;

mod agents;
mod slow_clients;

const ALICE: &str = "unit-alice-secret";
const BOB: &str = "unit-bob-secret";
const VIEWER: &str = "unit-viewer-secret";
const EDGE: &str = "unit-edge-agent-secret";
const WEST: &str = "unit-west-agent-secret";

struct Api {
    base: String,
    store: Arc<MemoryStore>,
    seen: Arc<std::sync::Mutex<Vec<(String, Operation, String)>>>,
    approvals: Approvals,
    /// Agent reports the API forwarded (capacity 2, never drained by the stand-in loop).
    reports: mpsc::Receiver<crate::health::agent::AgentReport>,
    _shutdown: watch::Sender<bool>,
}

/// Starts the API; the stand-in loop accepts everything but `abort`, and ignores commands for
/// the service `slow` (so the reply times out).
async fn start(reply_timeout: Duration) -> Api {
    start_within(reply_timeout, listener::Limits::default()).await
}

/// [`start`] with the given connection limits.
async fn start_within(reply_timeout: Duration, limits: listener::Limits) -> Api {
    let token = |name: &str, role, secret: &str| ApiToken {
        name: name.into(),
        role,
        secret: Secret::new(secret),
    };
    let tokens = TokenTable::new(vec![
        token("alice", Role::Operator, ALICE),
        token("bob", Role::Operator, BOB),
        token("viewer", Role::ReadOnly, VIEWER),
        token("edge", Role::Agent, EDGE),
        token("west", Role::Agent, WEST),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(MemoryStore::default());
    let (tx, mut rx) = mpsc::channel::<OperatorCommand>(8);
    let approval = BTreeMap::from([
        ("shop".to_string(), None),
        ("slow".to_string(), None),
        ("web".to_string(), Some(Duration::from_secs(60))),
    ]);
    let (agent_tx, reports) = mpsc::channel(2);
    let known = ["primary", "backup"]
        .into_iter()
        .map(|t| ("shop".to_string(), t.to_string()))
        .collect();
    let mut state = ApiState::new(
        StatusBoard::fixed(Vec::new()),
        store.clone(),
        tokens,
        tx,
        approval,
        agent_tx,
        known,
    );
    state.reply_timeout = reply_timeout;
    let approvals = state.approvals.clone();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut parked = Vec::new();
        while let Some(c) = rx.recv().await {
            if let Ok(mut l) = log.lock() {
                l.push((c.service.clone(), c.op.clone(), c.actor.clone()));
            }
            if c.service == "slow" {
                parked.push(c.reply);
                continue;
            }
            let answer = match c.op {
                Operation::Abort => Err(format!("nothing to abort on `{}`", c.service)),
                op => Ok(format!("{} on {} by {}", op.verb(), c.service, c.actor)),
            };
            let _ = c.reply.send(answer);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let (shutdown, rx) = watch::channel(false);
    serve_listener_within(listener, state, limits, None, rx);
    Api {
        base,
        store,
        seen,
        approvals,
        reports,
        _shutdown: shutdown,
    }
}

impl Api {
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let http = reqwest::Client::new();
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => http.get(url),
            _ => http.post(url),
        }
        .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        for t in [ALICE, BOB, VIEWER, EDGE, WEST] {
            assert!(!text.contains(t), "a token leaked into a response: {text}");
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn actions(&self, service: &str) -> Vec<(String, String)> {
        crate::state::Store::history(self.store.as_ref(), service, 100)
            .await
            .unwrap_or_default()
            .into_iter()
            .rev()
            .map(|e| (e.action, e.actor))
            .collect()
    }
}

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

#[tokio::test]
async fn read_only_reads_operator_commands() {
    let api = start(REPLY_TIMEOUT).await;
    assert_eq!(api.call(VIEWER, "GET", "/v1/status", None).await.0, 200);
    assert_eq!(api.call(VIEWER, "GET", "/v1/approvals", None).await.0, 200);
    let (code, v) = api
        .call(VIEWER, "POST", "/v1/services/shop/hold", None)
        .await;
    assert_eq!(code, 403);
    assert!(
        err(&v).contains("forbidden") && err(&v).contains("read-only"),
        "{v}"
    );
    assert_eq!(
        api.call("nope", "POST", "/v1/services/shop/hold", None)
            .await
            .0,
        401
    );

    let (code, v) = api
        .call(ALICE, "POST", "/v1/services/shop/hold", None)
        .await;
    assert_eq!((code, v["accepted"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(v["message"], "hold on shop by alice");
    let (code, v) = api.call(BOB, "POST", "/v1/services/shop/abort", None).await;
    assert_eq!(code, 409, "{v}");
    assert!(err(&v).contains("nothing to abort"), "{v}");
    let (code, _) = api
        .call(ALICE, "POST", "/v1/services/nosuch/hold", None)
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn bodies_are_parsed_and_checked() {
    let api = start(REPLY_TIMEOUT).await;
    let (code, _) = api
        .call(
            ALICE,
            "POST",
            "/v1/services/shop/failover",
            Some(json!({"to": "backup"})),
        )
        .await;
    assert_eq!(code, 200);
    let body = json!({"steps": [10, 50, 100], "hold": "2m", "now": true});
    let (code, _) = api
        .call(ALICE, "POST", "/v1/services/shop/failback", Some(body))
        .await;
    assert_eq!(code, 200);
    let seen = api.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        vec![
            (
                "shop".into(),
                Operation::Failover {
                    to: Some("backup".into())
                },
                "alice".into()
            ),
            (
                "shop".into(),
                Operation::Failback {
                    steps: Some(vec![10, 50, 100]),
                    hold: Some(Duration::from_secs(120)),
                    now: true
                },
                "alice".into()
            ),
        ]
    );
    for bad in [
        json!({"steps": [50, 10]}),
        json!({"hold": "soon"}),
        json!({"stpes": [100]}),
    ] {
        let (code, v) = api
            .call(ALICE, "POST", "/v1/services/shop/failback", Some(bad))
            .await;
        assert_eq!(code, 400, "{v}");
    }
    // Commands without arguments refuse a body that says something, and still take `{}`.
    for verb in ["hold", "resume", "abort"] {
        let path = format!("/v1/services/shop/{verb}");
        let (code, v) = api
            .call(ALICE, "POST", &path, Some(json!({"for": "10m"})))
            .await;
        assert_eq!(code, 400, "{verb}: {v}");
        assert!(err(&v).contains("takes no arguments"), "{verb}: {v}");
    }
    let (code, v) = api
        .call(ALICE, "POST", "/v1/services/shop/hold", Some(json!({})))
        .await;
    assert_eq!(code, 200, "{v}");
}

#[tokio::test]
async fn a_silent_control_loop_times_out() {
    let api = start(Duration::from_millis(200)).await;
    let (code, v) = api
        .call(ALICE, "POST", "/v1/services/slow/hold", None)
        .await;
    assert_eq!(code, 504, "{v}");
    assert!(err(&v).contains("check `dnsfailback status`"), "{v}");
}

#[tokio::test]
async fn two_person_rule() {
    let api = start(REPLY_TIMEOUT).await;
    let (code, v) = api
        .call(
            ALICE,
            "POST",
            "/v1/services/web/failover",
            Some(json!({"to": "backup"})),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["pending_approval"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "{v}");
    assert!(
        api.seen.lock().map(|s| s.is_empty()).unwrap_or(false),
        "sent before approval"
    );

    let (_, list) = api.call(VIEWER, "GET", "/v1/approvals", None).await;
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["op"], "failover");
    assert_eq!(list[0]["requester"], "alice");

    let approve = format!("/v1/approvals/{id}/approve");
    let (code, v) = api.call(VIEWER, "POST", &approve, None).await;
    assert_eq!(code, 403, "read-only cannot approve: {v}");
    let (code, v) = api.call(ALICE, "POST", &approve, None).await;
    assert_eq!(code, 403);
    assert_eq!(
        err(&v),
        "the requester cannot approve their own action; ask another operator"
    );
    let (code, v) = api.call(BOB, "POST", &approve, None).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["message"], "failover on web by alice approved by bob");
    assert_eq!(api.call(BOB, "POST", &approve, None).await.0, 404);
    assert_eq!(
        api.actions("web").await,
        vec![
            ("approval_requested".to_string(), "alice".to_string()),
            ("approved".to_string(), "bob".to_string())
        ]
    );
}

#[tokio::test]
async fn expired_requests_answer_gone_and_are_audited_once() {
    let api = start(REPLY_TIMEOUT).await;
    let p = api
        .approvals
        .request("web", Operation::Hold, "alice", Duration::ZERO, 0);
    let approve = format!("/v1/approvals/{}/approve", p.id);
    let (code, v) = api.call(BOB, "POST", &approve, None).await;
    assert_eq!(code, 410, "{v}");
    assert!(err(&v).contains("expired"), "{v}");
    assert_eq!(api.call(BOB, "POST", &approve, None).await.0, 410);
    let (_, list) = api.call(BOB, "GET", "/v1/approvals", None).await;
    assert_eq!(list, json!([]));
    assert_eq!(
        api.actions("web").await,
        vec![("approval_expired".to_string(), "alice".to_string())]
    );
    assert!(api.seen.lock().map(|s| s.is_empty()).unwrap_or(false));
}
