//! The admin API refuses requests without the right bearer token, and logs the refusal
//! without the token.

use std::time::Duration;

use crate::harness::{config, Proc, Scratch, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_token_is_refused_and_not_logged() {
    let dir = Scratch::new("api");
    let cfg = dir.path("dnsfailback.toml");
    let a = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&cfg, config(&dir.0, a, a, "")).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[]);
    let base = format!("http://{}", proc.admin_addr());
    let http = reqwest::Client::new();
    let get = |token: Option<&'static str>| {
        let mut req = http.get(format!("{base}/v1/status"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let r = get(None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 401);
    let wrong = "wrong-token-0000000000";
    let r = get(Some(wrong)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 401);
    let r = get(Some(ADMIN_TOKEN))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap_or_default();
    assert!(!body.contains(ADMIN_TOKEN));
    proc.wait_for(
        "refused request with a wrong bearer token",
        Duration::from_secs(5),
    );
    let log = proc.log();
    assert!(
        !log.contains(wrong) && !log.contains(ADMIN_TOKEN),
        "a token leaked into the log:\n{log}"
    );
}
