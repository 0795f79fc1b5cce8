//! The renderer (escaping, ordering, page caps, charts) and the page's access rule over the
//! router, compared with `/metrics`'.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use dnsfailback_provider::Secret;
use serde_json::json;
use tower::ServiceExt;

use super::*;
use crate::api::{ApiToken, TokenTable};
use crate::config::Role;
use crate::health::history::{HistoryBucket, TargetHistory};
use crate::reconcile::status::ServiceDetail;
use crate::reconcile::StatusBoard;
use crate::state::{MemoryStore, Store};

const HOSTILE: &str = "<script>alert(1)</script>\"'&x";
const NOW: u64 = 1_765_000_000_000;

fn row(name: &str, phase: serde_json::Value, reason: &str) -> ServiceStatus {
    let failed = phase["phase"] != "normal";
    serde_json::from_value(json!({
        "service": name, "record": format!("{name}.example.test."), "rtype": "A",
        "provider": "local", "phase": phase,
        "published": {"kind": "target", "target": if failed { "backup" } else { "primary" },
                      "ttl": if failed { 30 } else { 300 }},
        "published_values": [if failed { "192.0.2.2" } else { "192.0.2.1" }],
        "original_ttl": 300, "ttl_restore_at_ms": null,
        "targets": [{
            "target": HOSTILE, "priority": 1, "values": ["192.0.2.1"],
            "state": if failed { "down" } else { "up" }, "local": "down", "flapping": false,
            "vantage": {"state": "down", "down": ["controller", "<b>edge</b>"], "up": [],
                        "unknown": [], "stale": []},
            "checks": [{"check": format!("{name}/p/0"), "role": "readiness", "state": "down",
                        "last_error": "<img src=x onerror=alert(2)>", "last_latency_ms": 4}]
        }],
        "reason": reason, "alert": null, "held": null, "last_error": null
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn failed_over() -> serde_json::Value {
    json!({"phase": "failed_over", "target": "backup", "since_ms": NOW - 60_000})
}

fn normal() -> serde_json::Value {
    json!({"phase": "normal"})
}

fn event(service: &str, at_ms: u64, reason: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        service: service.into(),
        actor: "controller".into(),
        action: "failover".into(),
        reason: reason.into(),
        evidence: serde_json::Value::Null,
        changes: None,
        change_id: None,
    }
}

/// No tag the page did not write itself: every hostile string arrives escaped.
fn assert_escaped(html: &str) {
    for raw in ["<script", "<img", "<b>edge", "\"'&x"] {
        assert!(!html.contains(raw), "`{raw}` unescaped:\n{html}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;x"));
    assert!(
        html.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{html}"
    );
}

#[test]
fn hostile_names_reasons_and_errors_are_escaped_in_every_view() {
    let rows = vec![row(HOSTILE, failed_over(), HOSTILE)];
    let events = vec![event(HOSTILE, NOW - 1000, "<img src=x onerror=alert(2)>")];
    let view = View {
        q: Some(HOSTILE.into()),
        page: 1,
        refresh: true,
    };
    let fleet = html::page(
        HOSTILE,
        Some("/ui?q=\"><script>"),
        NOW,
        &overview::render(&rows, &view, &events, NOW),
    );
    assert_escaped(&fleet);
    // The link to the service is percent-encoded, not merely escaped.
    assert!(
        fleet.contains("href=\"/ui/service/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26x\""),
        "{fleet}"
    );
    let d = ServiceDetail {
        status: rows[0].clone(),
        history: vec![TargetHistory {
            target: HOSTILE.into(),
            buckets: Vec::new(),
        }],
        canary: None,
    };
    assert_escaped(&detail::render(&d, &events, NOW));
}

#[test]
fn the_fleet_view_caps_rows_lists_trouble_first_and_says_what_is_hidden() {
    let mut rows: Vec<ServiceStatus> = (0..450)
        .map(|i| row(&format!("s{i:04}"), normal(), ""))
        .collect();
    rows[449] = row("s0449", failed_over(), "");
    let view = |page| View {
        q: None,
        page,
        refresh: false,
    };
    let links = |html: &str| html.matches("<a href=\"/ui/service/").count();
    let first = overview::render(&rows, &view(1), &[], NOW);
    assert_eq!(links(&first), overview::PAGE_ROWS);
    assert!(
        first.find("s0449").unwrap_or(usize::MAX) < first.find("s0000").unwrap_or(0),
        "the failed-over service is not listed first"
    );
    assert!(
        first.contains("Showing 1-200 of 450 matching services (250 not shown; page 1 of 3"),
        "{first}"
    );
    assert!(
        first.contains("href=\"/ui?page=2&amp;refresh=0\">next"),
        "{first}"
    );
    let last = overview::render(&rows, &view(99), &[], NOW);
    assert_eq!(links(&last), 50, "a page past the end shows the last one");
    assert!(last.contains("Showing 401-450 of 450"), "{last}");
    // A filter counts only what matches.
    let only = View {
        q: Some("FAILED OVER".into()),
        page: 1,
        refresh: false,
    };
    let filtered = overview::render(&rows, &only, &[], NOW);
    assert_eq!(links(&filtered), 1);
    assert!(filtered.contains("failed over: <b>1</b>") && filtered.contains("normal: <b>449</b>"));
}

#[test]
fn the_timeline_keeps_24_hours_and_the_chart_plots_each_bucket() {
    let events = vec![
        event("shop", NOW - 1000, "recent move"),
        event("shop", NOW - 25 * 3600 * 1000, "day-old move"),
    ];
    let text = timeline::render(&events, NOW, false);
    assert!(
        text.contains("recent move") && !text.contains("day-old move"),
        "{text}"
    );
    assert!(timeline::render(&events[1..], NOW, false).contains("No events in the last 24 h"));
    let bucket = |ok, failed, ms| HistoryBucket {
        start_ms: 0,
        ok,
        failed,
        mean_latency_ms: ms,
    };
    let svg = chart::render(&TargetHistory {
        target: "primary".into(),
        buckets: vec![
            bucket(0, 0, None),
            bucket(30, 10, Some(12)),
            bucket(40, 0, Some(24)),
        ],
    });
    assert_eq!(svg.matches("fill=\"#5cb85c\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("fill=\"#d9534f\"").count(), 1, "{svg}");
    assert!(
        svg.contains("latency (line, max 24 ms)") && svg.contains("87.5 % of 80 results"),
        "{svg}"
    );
}

/// `path` from `peer` with an optional bearer token: the status code and body.
async fn get(
    app: &axum::Router,
    path: &str,
    peer: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let peer: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = app
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_page_follows_the_metrics_rule_for_tokens_and_peers() {
    let token = |name: &str, role, secret: &str| ApiToken {
        name: name.into(),
        role,
        secret: Secret::new(secret),
    };
    let tokens = TokenTable::new(vec![
        token("viewer", Role::ReadOnly, "ui-viewer-secret"),
        token("edge", Role::Agent, "ui-agent-secret"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(MemoryStore::default());
    store
        .audit(&event(
            "shop",
            crate::state::when::now_ms(),
            "primary is down",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let (agents, _reports) = tokio::sync::mpsc::channel(1);
    let state = crate::api::ApiState::new(
        StatusBoard::fixed(vec![row("shop", failed_over(), "failed over to `backup`")]),
        store,
        tokens,
        tx,
        BTreeMap::new(),
        agents,
        BTreeSet::new(),
    );
    let app = crate::api::router(state);
    let cases = [
        ("127.0.0.1:5000", None, StatusCode::OK),
        ("[::1]:5000", None, StatusCode::OK),
        ("192.0.2.7:5000", None, StatusCode::UNAUTHORIZED),
        ("192.0.2.7:5000", Some("wrong"), StatusCode::UNAUTHORIZED),
        (
            "192.0.2.7:5000",
            Some("ui-agent-secret"),
            StatusCode::FORBIDDEN,
        ),
        ("192.0.2.7:5000", Some("ui-viewer-secret"), StatusCode::OK),
    ];
    for (peer, token, expected) in cases {
        let (metrics, _) = get(&app, "/metrics", peer, token).await;
        assert_eq!(metrics, expected, "/metrics from {peer} with {token:?}");
        for path in ["/", "/ui", "/ui/service/shop", "/ui?service=shop"] {
            let (status, body) = get(&app, path, peer, token).await;
            assert_eq!(status, metrics, "{path} from {peer} with {token:?}: {body}");
            assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
            assert!(!body.contains("ui-viewer-secret") && !body.contains("ui-agent-secret"));
        }
    }
    let (_, detail) = get(&app, "/ui/service/shop", "127.0.0.1:1", None).await;
    assert!(
        detail.contains("failed over since") && detail.contains("primary is down"),
        "{detail}"
    );
    assert!(detail.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    let (_, quiet) = get(&app, "/ui/service/shop?refresh=0", "127.0.0.1:1", None).await;
    assert!(!quiet.contains("http-equiv=\"refresh\""), "{quiet}");
    let (status, body) = get(&app, "/ui/service/%3Cnope%3E", "127.0.0.1:1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("No service named <code>&lt;nope&gt;</code>"),
        "{body}"
    );
}
