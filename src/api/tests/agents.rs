//! Remote probe agents through the admin API: an agent posts only its own report, its token
//! may do nothing else, bad reports are refused, and a full control loop answers 503.

use super::*;

fn report(agent: &str, targets: &[(&str, &str, &str)]) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .map(|(s, t, st)| json!({"service": s, "target": t, "state": st}))
        .collect();
    json!({"agent": agent, "targets": targets})
}

#[tokio::test]
async fn an_agent_posts_only_its_own_report() {
    let mut api = start(REPLY_TIMEOUT).await;
    let body = report(
        "edge",
        &[("shop", "primary", "down"), ("shop", "backup", "up")],
    );
    let (code, v) = api
        .call(EDGE, "POST", "/v1/agents/edge/report", Some(body.clone()))
        .await;
    assert_eq!((code, v["accepted"].as_u64()), (200, Some(2)), "{v}");
    let got = api.reports.try_recv().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.agent, "edge");
    assert_eq!(got.targets.len(), 2);
    assert_eq!(got.targets[0].state, crate::health::State::Down);

    // another agent's path, or another agent's name in the body
    let (code, v) = api
        .call(
            EDGE,
            "POST",
            "/v1/agents/west/report",
            Some(report("west", &[])),
        )
        .await;
    assert_eq!(code, 403, "{v}");
    assert!(err(&v).contains("token `edge`"), "{v}");
    let (code, v) = api
        .call(
            EDGE,
            "POST",
            "/v1/agents/edge/report",
            Some(report("west", &[])),
        )
        .await;
    assert_eq!(code, 403, "{v}");
    assert!(err(&v).contains("names agent `west`"), "{v}");

    // other roles may not post reports
    for (token, role) in [(ALICE, "operator"), (VIEWER, "read-only")] {
        let (code, v) = api
            .call(token, "POST", "/v1/agents/edge/report", Some(body.clone()))
            .await;
        assert_eq!(code, 403, "{v}");
        assert!(err(&v).contains(role), "{v}");
    }
    assert_eq!(
        api.call("nope", "POST", "/v1/agents/edge/report", Some(body))
            .await
            .0,
        401
    );
    assert!(
        api.reports.try_recv().is_err(),
        "a refused report was forwarded"
    );
}

#[tokio::test]
async fn an_agent_token_may_do_nothing_else() {
    let api = start(REPLY_TIMEOUT).await;
    for (method, path) in [
        ("GET", "/v1/status"),
        ("GET", "/v1/status/shop"),
        ("GET", "/v1/history/shop"),
        ("GET", "/v1/plan"),
        ("GET", "/v1/approvals"),
        ("POST", "/v1/services/shop/hold"),
        ("POST", "/v1/services/shop/failover"),
    ] {
        let (code, v) = api.call(EDGE, method, path, None).await;
        assert_eq!(code, 403, "{method} {path}: {v}");
        assert!(
            err(&v).contains("agent token") && err(&v).contains("/v1/agents/edge/report"),
            "{v}"
        );
    }
    assert!(api.seen.lock().map(|s| s.is_empty()).unwrap_or(false));
}

#[tokio::test]
async fn bad_reports_are_refused_and_a_full_loop_answers_503() {
    let mut api = start(REPLY_TIMEOUT).await;
    let path = "/v1/agents/edge/report";
    let (code, v) = api
        .call(
            EDGE,
            "POST",
            path,
            Some(report(
                "edge",
                &[("shop", "nope", "up"), ("web", "primary", "down")],
            )),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert!(
        err(&v).contains("shop/nope") && err(&v).contains("web/primary"),
        "{v}"
    );
    for bad in [
        json!({"agent": "edge"}),
        json!({"agent": "edge", "targets": [], "extra": 1}),
        report("edge", &[("shop", "primary", "sideways")]),
    ] {
        let (code, v) = api.call(EDGE, "POST", path, Some(bad)).await;
        assert_eq!(code, 400, "{v}");
    }
    let (code, v) = api.call(EDGE, "POST", path, None).await;
    assert_eq!(code, 400, "empty body: {v}");
    assert!(api.reports.try_recv().is_err());

    // the channel holds two; the third waits for the control loop
    let ok = report("edge", &[("shop", "primary", "up")]);
    for _ in 0..2 {
        assert_eq!(api.call(EDGE, "POST", path, Some(ok.clone())).await.0, 200);
    }
    let (code, v) = api.call(EDGE, "POST", path, Some(ok.clone())).await;
    assert_eq!(code, 503, "{v}");
    assert!(api.reports.try_recv().is_ok());
    assert_eq!(api.call(EDGE, "POST", path, Some(ok)).await.0, 200);
}
