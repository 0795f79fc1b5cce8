//! Manual control through the real binary: named tokens with roles, operator commands reaching
//! the control loop, the two-person rule, and the CLI's exit codes, with no token ever in the
//! log or an answer.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{cli, Proc, Scratch};

const ALICE: &str = "it-alice-token-5b1e0d";
const BOB: &str = "it-bob-token-9c2f7a";
const VIEWER: &str = "it-viewer-token-3d8e41";
const ENV: [(&str, &str); 3] = [
    ("IT_ALICE_TOKEN", ALICE),
    ("IT_BOB_TOKEN", BOB),
    ("IT_VIEWER_TOKEN", VIEWER),
];

fn service(name: &str, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
provider = "local"
zone = "example.test"
name = "{name}.example.test"
type = "A"
ttl = 300
failover_ttl = 30
{extra}

[[services.{name}.targets]]
name = "primary"
address = "127.0.0.11"
priority = 1
[[services.{name}.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
interval = "200ms"
timeout = "100ms"

[[services.{name}.targets]]
name = "backup"
address = "127.0.0.12"
priority = 2
[[services.{name}.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
interval = "200ms"
timeout = "100ms"
"#
    )
}

fn config(dir: &Path) -> String {
    format!(
        r#"
[controller]
state = "{state}"
admin_listen = "127.0.0.1:0"
tick = "100ms"

[[controller.admin_tokens]]
name = "alice"
role = "operator"
token = {{ env = "IT_ALICE_TOKEN" }}

[[controller.admin_tokens]]
name = "bob"
role = "operator"
token = {{ env = "IT_BOB_TOKEN" }}

[[controller.admin_tokens]]
name = "viewer"
role = "read-only"
token = {{ env = "IT_VIEWER_TOKEN" }}

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"
{shop}
{web}
"#,
        state = dir.join("state.db").display(),
        shop = service("shop", ""),
        web = service(
            "web",
            "approval = \"two-person\"\napproval_timeout = \"10m\""
        ),
    )
}

struct Api {
    base: String,
    http: reqwest::Client,
    bodies: Vec<String>,
}

impl Api {
    async fn call(
        &mut self,
        token: &str,
        post: bool,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = if post {
            self.http.post(url)
        } else {
            self.http.get(url)
        }
        .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        self.bodies.push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The controller answered (accepted, or refused with its reason, e.g. "not implemented yet"
/// or "nothing to fail back"): the request got through authentication, the role check and
/// the service lookup. Its wording is the control loop's, so only its presence is checked.
fn reached_controller(verb: &str, code: u16, v: &Value) {
    match code {
        200 => assert_eq!(v["accepted"], true, "{v}"),
        409 => assert!(
            !v["error"].as_str().unwrap_or("").is_empty(),
            "`{verb}`: 409 without a reason: {v}"
        ),
        _ => panic!("`{verb}` did not reach the controller: {code} {v}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_commands_and_two_person_approval() {
    let dir = Scratch::new("operator");
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &ENV);
    let admin = proc.admin_addr().to_string();
    let mut api = Api {
        base: format!("http://{admin}"),
        http: reqwest::Client::new(),
        bodies: Vec::new(),
    };

    // Read-only: may read, may not command.
    assert_eq!(api.call(VIEWER, false, "/v1/status", None).await.0, 200);
    let (code, v) = api.call(VIEWER, true, "/v1/services/shop/hold", None).await;
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("read-only"),
        "{v}"
    );
    proc.wait_for(
        "refused POST by read-only token `viewer`",
        Duration::from_secs(5),
    );

    // Operator on a service without approval: reaches the control loop.
    let (code, v) = api.call(ALICE, true, "/v1/services/shop/hold", None).await;
    reached_controller("hold", code, &v);
    let (code, v) = api
        .call(
            BOB,
            true,
            "/v1/services/shop/failback",
            Some(json!({"steps": [10, 50, 100], "hold": "2m"})),
        )
        .await;
    reached_controller("failback", code, &v);

    // Unknown service.
    let (code, v) = api
        .call(ALICE, true, "/v1/services/nosuch/hold", None)
        .await;
    assert_eq!(code, 404, "{v}");

    // Two-person rule on `web`.
    let (code, v) = api
        .call(
            ALICE,
            true,
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
    let (code, list) = api.call(VIEWER, false, "/v1/approvals", None).await;
    assert_eq!(code, 200);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    let approve = format!("/v1/approvals/{id}/approve");
    let (code, v) = api.call(ALICE, true, &approve, None).await;
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("the requester cannot approve their own action"),
        "{v}"
    );
    let (code, v) = api.call(BOB, true, &approve, None).await;
    reached_controller("failover", code, &v);
    assert_eq!(
        api.call(BOB, true, &approve, None).await.0,
        404,
        "approved only once"
    );
    let (_, history) = api.call(VIEWER, false, "/v1/history/web", None).await;
    let actions: Vec<(&str, &str)> = history
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or(""),
                        e["actor"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        actions.contains(&("approval_requested", "alice")),
        "{history}"
    );
    assert!(actions.contains(&("approved", "bob")), "{history}");

    // The CLI: exit 1 and "forbidden" for a read-only token, 3 for a pending approval,
    // 2 for bad arguments.
    let cfg_s = cfg.to_string_lossy().to_string();
    let base = ["-c", cfg_s.as_str(), "--admin", admin.as_str()];
    let run = |args: &[&str]| cli(&[&base[..], args].concat(), &ENV);
    let (code, out, err) = run(&["hold", "shop", "--token-env", "IT_VIEWER_TOKEN"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.to_lowercase().contains("forbidden"), "{err}");
    let (code, out, err) = run(&[
        "failover",
        "web",
        "--to",
        "backup",
        "--token-env",
        "IT_ALICE_TOKEN",
    ]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("dnsfailback approve "), "{out}");
    assert!(out.contains("pending approval: "), "{out}");
    let status = [&base[..], &["status", "--json"]].concat();
    let (code, _, err) = cli(&status, &[("DNSFAILBACK_TOKEN", VIEWER)]);
    assert_eq!(
        code, 0,
        "status with a named token from $DNSFAILBACK_TOKEN: {err}"
    );
    let (code, out, _) = run(&["approvals", "--token-env", "IT_VIEWER_TOKEN"]);
    assert_eq!(code, 0);
    assert!(out.contains("failover") && out.contains("alice"), "{out}");
    let (code, out, err) = run(&["resume", "shop", "--token-env", "IT_BOB_TOKEN"]);
    assert!(code == 0 || code == 1, "stdout: {out}\nstderr: {err}");
    if code == 1 {
        assert!(err.contains("refused by the controller"), "{err}");
    }
    let (code, _, err) = run(&[
        "failback",
        "shop",
        "--steps",
        "5,x",
        "--token-env",
        "IT_BOB_TOKEN",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // No token value anywhere.
    let log = proc.log();
    for t in [ALICE, BOB, VIEWER] {
        assert!(!log.contains(t), "a token leaked into the log:\n{log}");
        for b in &api.bodies {
            assert!(!b.contains(t), "a token leaked into an answer: {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_cannot_be_loaded_stops_start_up_by_name() {
    let dir = Scratch::new("operator-badtoken");
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    // bob's variable is missing.
    let mut proc = Proc::start(
        &cfg,
        &[("IT_ALICE_TOKEN", ALICE), ("IT_VIEWER_TOKEN", VIEWER)],
    );
    let start = std::time::Instant::now();
    while proc.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still running without bob's token:\n{}",
            proc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = proc.log();
    assert!(
        log.contains("`bob`") && log.contains("IT_BOB_TOKEN"),
        "{log}"
    );
    assert!(!log.contains(ALICE) && !log.contains(VIEWER), "{log}");
    assert!(!log.contains("admin API listening"), "{log}");
}
