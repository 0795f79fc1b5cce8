//! A probe agent and a controller as two real processes on loopback: the agent authenticates
//! with its own token and reports, wrong tokens and other roles are refused on the report
//! route, the agent token can do nothing else, and with `vantage_quorum = 2` the controller
//! moves traffic only once the agent agrees that the primary is down: neither a lone agent nor
//! the controller alone (with the agent silent, hence unknown) moves it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dnsfailback::backend::Backend;
use serde_json::{json, Value};

use crate::harness::{wait_dns, Proc, Scratch, BIN};

const ADMIN: &str = "it-agent-admin-token-51d2";
const EDGE: &str = "it-agent-edge-token-9be0";
const ADMIN_ENV: &str = "DNSFAILBACK_TEST_AGENT_ADMIN";
const EDGE_ENV: &str = "DNSFAILBACK_TEST_AGENT_EDGE";
/// Marks every failed report in the agent's log.
const FAILED: &str = "agent report failed";

/// A controller that needs both vantage points (itself and agent `edge`) to call a target down.
fn agent_config(dir: &Path, primary: SocketAddr, backup: SocketAddr) -> String {
    let targets = crate::harness::shop_targets(primary, backup);
    format!(
        r#"
[controller]
state = "{state}"
admin_listen = "127.0.0.1:0"
tick = "100ms"
agents = ["edge"]
vantage_quorum = 2
agent_stale_after = "2s"

[[controller.admin_tokens]]
name = "admin"
role = "operator"
token = {{ env = "{ADMIN_ENV}" }}

[[controller.admin_tokens]]
name = "edge"
role = "agent"
token = {{ env = "{EDGE_ENV}" }}

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300
failover_ttl = 30
stable_for = "1s"
restore_ttl_after = "2s"
canary_steps = [100]

{targets}"#,
        state = dir.join("state.db").display()
    )
}

/// `dnsfailback agent` as a child process; killed (SIGKILL) on drop, log printed on failure.
struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// `dnsfailback agent --name edge` with the right token from the environment.
    fn start(config: &Path, controller: SocketAddr, every: &str) -> Agent {
        Agent::start_to(config, &[controller], every)
    }

    /// The same, reporting to every one of `controllers` (an etcd group).
    fn start_to(config: &Path, controllers: &[SocketAddr], every: &str) -> Agent {
        let mut cmd = Command::new(BIN);
        cmd.args(["agent", "--name", "edge"]);
        for c in controllers {
            cmd.arg("--controller").arg(c.to_string());
        }
        cmd.args(["--token-env", EDGE_ENV, "--every", every, "-c"])
            .arg(config)
            .env(EDGE_ENV, EDGE)
            .env(ADMIN_ENV, ADMIN);
        Agent::spawn(cmd)
    }

    /// Spawns `cmd` with its stderr collected.
    fn spawn(mut cmd: Command) -> Agent {
        cmd.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN} agent: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Agent { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn wait_for(&self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                start.elapsed() < limit,
                "agent logged no `{needle}` within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- dnsfailback agent log ----\n{}\n-------------------------------",
                self.log()
            );
        }
    }
}

async fn backend() -> Backend {
    Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn controller(cfg: &Path) -> Proc {
    Proc::start(cfg, &[(ADMIN_ENV, ADMIN), (EDGE_ENV, EDGE)])
}

/// `(status, body)` of one request to the controller's admin API.
async fn call(
    admin: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("http://{admin}{path}");
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
    assert!(
        !text.contains(ADMIN) && !text.contains(EDGE),
        "a token leaked into a response: {text}"
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The controller's status row of target `name` of `shop`.
async fn target(admin: SocketAddr, name: &str) -> Value {
    let (code, v) = call(admin, ADMIN, "GET", "/v1/status/shop", None).await;
    assert_eq!(code, 200, "{v}");
    v["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no target `{name}` in status: {v}"))
}

/// Whether `edge` is listed under `vantage.<list>` of a target's status row.
fn edge_in(t: &Value, list: &str) -> bool {
    t["vantage"][list]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x == "edge"))
}

/// Polls the status of target `name` until `pred` holds.
async fn wait_target(
    admin: SocketAddr,
    name: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let t = target(admin, name).await;
        if pred(&t) {
            return t;
        }
        assert!(
            start.elapsed() < limit,
            "status of `{name}` never showed {what} within {limit:?}; last: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts for `hold` that DNS keeps answering the primary.
async fn dns_stays_on_primary(dns: SocketAddr, hold: Duration, why: &str) {
    let until = Instant::now() + hold;
    while Instant::now() < until {
        if let Ok(a) = dnsfailback::cli::dig::lookup(dns, "shop.example.test.", "A").await {
            assert_eq!(a.values, ["127.0.0.11"], "traffic moved: {why}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn err(v: &Value) -> String {
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_authenticates_and_wrong_tokens_are_refused() {
    let dir = Scratch::new("agent-auth");
    let primary = backend().await;
    let backup = backend().await;
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, agent_config(&dir.0, primary.addr(), backup.addr()))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctl = controller(&cfg);
    let admin = ctl.admin_addr();

    let mut agent = Agent::start(&cfg, admin, "200ms");
    agent.wait_for(
        &format!("agent edge reporting to {admin} every 200ms"),
        Duration::from_secs(10),
    );
    // (a) the agent authenticates: the controller takes its reports.
    ctl.wait_for(
        "agent `edge` reported for the first time (2 target(s))",
        Duration::from_secs(10),
    );
    for name in ["primary", "backup"] {
        wait_target(admin, name, Duration::from_secs(10), "edge up", |t| {
            edge_in(t, "up")
        })
        .await;
    }

    // (b) the report route takes only the agent's own token.
    let report = json!({
        "agent": "edge",
        "targets": [{"service": "shop", "target": "primary", "state": "up"}]
    });
    let path = "/v1/agents/edge/report";
    let (code, v) = call(
        admin,
        "wrong-agent-token-000000",
        "POST",
        path,
        Some(report.clone()),
    )
    .await;
    assert_eq!(code, 401, "wrong token: {v}");
    let (code, v) = call(admin, ADMIN, "POST", path, Some(report.clone())).await;
    assert_eq!(code, 403, "operator token on the report route: {v}");
    assert!(err(&v).contains("token `admin`"), "{v}");
    let other = json!({ "agent": "other", "targets": [] });
    let (code, v) = call(admin, EDGE, "POST", "/v1/agents/other/report", Some(other)).await;
    assert_eq!(code, 403, "edge token on another agent's route: {v}");
    assert!(err(&v).contains("token `edge`"), "{v}");
    let (code, v) = call(admin, EDGE, "POST", path, Some(report)).await;
    assert_eq!(code, 200, "edge token on its own route: {v}");
    assert_eq!(v["accepted"], 1, "{v}");

    // (c) the agent token reads nothing and commands nothing.
    let (code, v) = call(admin, EDGE, "GET", "/v1/status", None).await;
    assert_eq!(code, 403, "{v}");
    let (code, v) = call(admin, EDGE, "POST", "/v1/services/shop/hold", None).await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(call(admin, ADMIN, "GET", "/v1/status", None).await.0, 200);

    // A few more rounds: no report of the real agent failed, and it serves nothing itself.
    std::thread::sleep(Duration::from_secs(1));
    let log = agent.log();
    assert!(!log.contains(FAILED), "a report failed:\n{log}");
    assert!(
        !log.contains("embedded DNS listening") && !log.contains("admin API listening"),
        "the agent must not start DNS or the admin API:\n{log}"
    );
    for l in [&log, &ctl.log()] {
        assert!(
            !l.contains(EDGE) && !l.contains(ADMIN),
            "a token leaked into a log:\n{l}"
        );
    }

    // SIGTERM stops the agent cleanly.
    let pid = agent.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()), "cannot signal the agent");
    let start = Instant::now();
    let code = loop {
        if let Ok(Some(s)) = agent.child.try_wait() {
            break s.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the agent ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "agent log:\n{}", agent.log());
    agent.wait_for("agent edge stopping", Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_a_wrong_token_logs_each_refused_report() {
    let dir = Scratch::new("agent-bad");
    let a = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, agent_config(&dir.0, a, a)).unwrap_or_else(|e| panic!("{e}"));
    let ctl = controller(&cfg);
    let admin = ctl.admin_addr();
    let mut cmd = Command::new(BIN);
    cmd.args(["agent", "--name", "edge", "--controller"])
        .arg(admin.to_string())
        .args(["--token-file"])
        .arg(dir.path("edge.token"))
        .args(["--every", "100ms", "-c"])
        .arg(&cfg)
        .env(EDGE_ENV, EDGE)
        .env(ADMIN_ENV, ADMIN);
    // No token file yet: a usage error, exit 2, nothing started.
    let out = cmd.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let wrong = "not-the-edge-token-1234";
    std::fs::write(dir.path("edge.token"), wrong).unwrap_or_else(|e| panic!("{e}"));
    let mut agent = Agent::spawn(cmd);
    agent.wait_for(
        "401 Unauthorized: wrong bearer token",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = agent.log();
    assert!(
        log.matches(FAILED).count() >= 2,
        "every refused report is logged and the agent keeps going:\n{log}"
    );
    assert!(
        !log.contains(wrong),
        "the token leaked into the log:\n{log}"
    );
    assert!(
        agent.child.try_wait().is_ok_and(|s| s.is_none()),
        "the agent gave up"
    );
    ctl.wait_for(
        "refused request with a wrong bearer token",
        Duration::from_secs(5),
    );
}

/// Behavioural: needs the control loop to fold agent reports into the vantage quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_of_controller_and_agent_moves_traffic_only_together() {
    let dir = Scratch::new("agent-quorum");
    let mut primary = Some(backend().await);
    let primary_addr = primary
        .as_ref()
        .map(Backend::addr)
        .unwrap_or_else(|| unreachable!());
    let backup = backend().await;
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, agent_config(&dir.0, primary_addr, backup.addr()))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctl = controller(&cfg);
    let dns = ctl.dns_addr();
    let admin = ctl.admin_addr();
    wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;

    // One bad vantage point: an "agent" that sees the primary down while the controller sees
    // it up is 1 of the 2 needed; traffic stays.
    let bad = json!({
        "agent": "edge",
        "targets": [
            {"service": "shop", "target": "primary", "state": "down"},
            {"service": "shop", "target": "backup", "state": "up"}
        ]
    });
    let path = "/v1/agents/edge/report";
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let (code, v) = call(admin, EDGE, "POST", path, Some(bad.clone())).await;
        assert_eq!(code, 200, "{v}");
        if let Ok(a) = dnsfailback::cli::dig::lookup(dns, "shop.example.test.", "A").await {
            assert_eq!(
                a.values,
                ["127.0.0.11"],
                "one agent seeing the primary down moved traffic"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let t = target(admin, "primary").await;
    assert!(edge_in(&t, "down") && t["state"] == "up", "{t}");
    // The metrics show each vantage point's view: edge says down, the controller up.
    let scrape = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (vantage, state) in [("edge", "down"), ("controller", "up")] {
        let series = format!(
            "dnsfailback_target_vantage_state{{service=\"shop\",target=\"primary\",vantage=\"{vantage}\",state=\"{state}\"}} 1"
        );
        assert!(scrape.contains(&series), "no `{series}` in:\n{scrape}");
    }

    // The agent falls silent: after agent_stale_after (2 s) it is stale, i.e. unknown.
    wait_target(
        admin,
        "primary",
        Duration::from_secs(5),
        "edge stale",
        |t| edge_in(t, "stale"),
    )
    .await;

    // The primary dies. The controller sees it down, but alone it is 1 of 2, and the silent
    // agent counts as unknown, not down: the dead primary keeps its traffic.
    drop(primary.take());
    wait_target(
        admin,
        "primary",
        Duration::from_secs(5),
        "locally down but unknown overall",
        |t| t["local"] == "down" && t["state"] == "unknown",
    )
    .await;
    dns_stays_on_primary(
        dns,
        Duration::from_secs(3),
        "the controller alone (1 of 2) with a silent agent",
    )
    .await;

    // The agent starts, sees the primary down too: 2 of 2 agree, traffic moves. It also
    // reports to a second controller that is down (an etcd group with a dead member): that
    // must not hold back the reports to this one.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let agent = Agent::start_to(&cfg, &[dead, admin], "200ms");
    wait_dns(
        dns,
        Duration::from_secs(15),
        "the backup once the agent agrees",
        |a| a.values == ["127.0.0.12"],
    )
    .await;
    // The controller's status shows both vantage points agreeing.
    let t = target(admin, "primary").await;
    assert!(edge_in(&t, "down") && t["state"] == "down", "{t}");
    let log = agent.log();
    assert!(
        log.lines()
            .filter(|l| l.contains(FAILED))
            .all(|l| l.contains(&dead.to_string())),
        "only the dead controller's reports fail: {log}"
    );
    assert!(
        log.contains(&format!("{FAILED}: cannot reach the controller at {dead}")),
        "{log}"
    );
}

/// Issue 19: an agent reaches a controller whose admin API requires client certificates
/// (mTLS) with `--admin-ca`, `--admin-cert` and `--admin-key`; without a certificate its
/// reports are refused by the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_over_mtls_and_without_a_certificate_it_cannot() {
    use crate::admin_tls::{ca, leaf};
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let dir = Scratch::new("agent-mtls");
    let write = |name: &str, text: &str| {
        let p = dir.path(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        p.display().to_string()
    };
    let (server_ca, client_ca) = (ca("server CA"), ca("agents CA"));
    let (cert, key) = leaf(&server_ca, ServerAuth);
    let (agent_cert, agent_key) = leaf(&client_ca, ClientAuth);
    let tls = format!(
        "\n[controller.admin_tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
        write("admin.crt", &cert),
        write("admin.key", &key),
        write("agents.pem", &client_ca.pem)
    );
    let server_ca_file = write("server-ca.pem", &server_ca.pem);
    let (agent_cert, agent_key) = (
        write("edge.crt", &agent_cert),
        write("edge.key", &agent_key),
    );
    let (primary, backup) = (backend().await, backend().await);
    let cfg = dir.path("dnsfailback.toml");
    let text = agent_config(&dir.0, primary.addr(), backup.addr()).replace(
        "agent_stale_after = \"2s\"\n",
        &format!("agent_stale_after = \"2s\"{tls}"),
    );
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let ctl = controller(&cfg);
    let admin = ctl.admin_addr();

    let agent_with = |tls_args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["agent", "--name", "edge", "--controller"])
            .arg(admin.to_string())
            .args([
                "--token-env",
                EDGE_ENV,
                "--every",
                "100ms",
                "--admin-ca",
                &server_ca_file,
            ])
            .args(tls_args)
            .arg("-c")
            .arg(&cfg)
            .env(EDGE_ENV, EDGE)
            .env(ADMIN_ENV, ADMIN);
        Agent::spawn(cmd)
    };
    let refused = agent_with(&[]);
    refused.wait_for(FAILED, Duration::from_secs(10));
    assert!(
        !ctl.log().contains("agent `edge` reported"),
        "a report without a client certificate got through:\n{}",
        ctl.log()
    );
    drop(refused);
    let agent = agent_with(&["--admin-cert", &agent_cert, "--admin-key", &agent_key]);
    ctl.wait_for(
        "agent `edge` reported for the first time",
        Duration::from_secs(10),
    );
    assert!(!agent.log().contains(FAILED), "{}", agent.log());
}
