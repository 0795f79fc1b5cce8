use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::send::{Attempt, Sink};
use super::*;
use crate::state::{MemoryStore, Store};

fn settings(
    name: &str,
    sink: NotifySink,
    timeout: Duration,
    retry_for: Duration,
) -> NotifySettings {
    NotifySettings {
        name: name.into(),
        sink,
        events: Vec::new(),
        timeout,
        retry_for,
    }
}

fn webhook(url: String) -> NotifySink {
    NotifySink::Webhook {
        url: crate::config::UrlSource::Plain(url),
        bearer_token: None,
    }
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        at_ms: 1_700_000_000_000,
        service: "shop".into(),
        actor: "controller".into(),
        action: action.into(),
        reason: "primary is down".into(),
        evidence: serde_json::Value::Null,
        changes: None,
        change_id: None,
    }
}

/// (sent, failed, dropped) of the first notifier.
fn counts(n: &Notifier) -> (u64, u64, u64) {
    let c = &n.receivers[0].counts;
    (c.sent.get(), c.failed.get(), c.dropped.get())
}

/// A loopback receiver answering each POST with the next status of `statuses` (the last one
/// repeated); records each body.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            let statuses = statuses.clone();
            async move {
                let n = seen.lock().map(|mut g| {
                    g.push(body.0);
                    g.len()
                });
                let i = n.unwrap_or(1).min(statuses.len()) - 1;
                axum::http::StatusCode::from_u16(statuses[i])
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

/// Waits (real time, 10 s at most) until `ok` holds.
async fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A receiver that accepts connections and never answers: auditing 2,000 entries still
/// returns at once (nothing waits on it); what does not fit its queue is dropped and counted.
#[tokio::test]
async fn a_receiver_that_never_answers_holds_nothing_up() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = silent.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let s = settings(
        "silent",
        webhook(format!("http://{addr}/hook")),
        Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    let notifier = Notifier::start(&[s]).unwrap_or_else(|e| panic!("{e}"));
    let store = NotifyingStore::new(Arc::new(MemoryStore::default()), notifier.clone());
    let started = std::time::Instant::now();
    for i in 0..2_000u64 {
        let mut e = entry("failover");
        e.at_ms = i;
        store.audit(&e).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let dropped = notifier.dropped();
    assert!((975..=976).contains(&dropped), "dropped {dropped}");
    assert_eq!(counts(&notifier), (0, 0, dropped));
    let history = store.history("shop", 5000).await.map(|h| h.len());
    assert_eq!(history.ok(), Some(2_000), "every entry is still audited");
    let mut r = prometheus_client::registry::Registry::with_prefix("dnsfailback");
    store.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &r).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains(&format!(
            "dnsfailback_notifications_total{{notifier=\"silent\",outcome=\"dropped\"}} {dropped}"
        )),
        "{text}"
    );
    drop(silent);
}

/// On the paused clock: a receiver that never answers. The audit returns without any time
/// passing; each attempt is cut at `timeout`; retries back off 0.5 s, 1 s, 2 s, ... and stop
/// when the next would start after `retry_for` (60 s): attempts start at 0, 5.5, 11.5, 18.5,
/// 27.5 and 40.5 s, the last ends at 45.5 s, and the event is counted as failed then.
#[tokio::test(start_paused = true)]
async fn a_hanging_receiver_is_cut_at_timeout_and_given_up_within_retry_for() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let hang: Arc<dyn Fn(&Event) -> Attempt + Send + Sync> = Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    });
    let s = settings(
        "stuck",
        webhook("http://unused.invalid/".into()),
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let notifier = Notifier::launch(vec![(&s, Sink::Scripted(hang))]);
    let store = NotifyingStore::new(Arc::new(MemoryStore::default()), notifier.clone());
    let t0 = tokio::time::Instant::now();
    store
        .audit(&entry("failover"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "the audit waited for the receiver"
    );
    // Attempts start at 0, 5.5, 11.5, 18.5, 27.5 and 40.5 s (each cut at the 5 s timeout,
    // then 0.5 s doubling); the next would start at 61.5 s, after retry_for (60 s).
    tokio::time::sleep(Duration::from_millis(59_900)).await;
    assert_eq!(counts(&notifier), (0, 0, 0), "given up too early");
    assert_eq!(attempts.load(Ordering::SeqCst), 6);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(counts(&notifier), (0, 1, 0), "not given up at retry_for");
    assert_eq!(attempts.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn a_filter_sends_only_the_events_it_names() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let record: Arc<dyn Fn(&Event) -> Attempt + Send + Sync> = Arc::new(move |e| {
        if let Ok(mut g) = seen.lock() {
            g.push(e.event.clone());
        }
        Box::pin(async { Ok(()) })
    });
    let mut s = settings(
        "pager",
        webhook("http://unused.invalid/".into()),
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    s.events = vec!["failover".into(), "operator_command".into()];
    let n = Notifier::launch(vec![(&s, Sink::Scripted(record))]);
    n.notify(&entry("canary_step"));
    n.notify(&entry("failover"));
    let mut by_operator = entry("hold");
    by_operator.actor = "alice".into();
    n.notify(&by_operator);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        got.lock().map(|g| g.clone()).unwrap_or_default(),
        ["failover", "hold"]
    );
    assert_eq!(counts(&n), (2, 0, 0));
}

/// A real receiver answering 500 once, then 200: retried once, delivered once, counted sent.
#[tokio::test]
async fn a_receiver_answering_500_then_200_gets_the_event_once() {
    let (url, got) = receiver(vec![500, 200]).await;
    let s = settings(
        "hook",
        webhook(url),
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let n = Notifier::start(&[s]).unwrap_or_else(|e| panic!("{e}"));
    n.notify(&entry("failover"));
    until("not delivered", || counts(&n).0 == 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let bodies = got.lock().map(|g| g.clone()).unwrap_or_default();
    assert_eq!(
        bodies.len(),
        2,
        "one failed attempt, one delivery: {bodies:?}"
    );
    assert_eq!(bodies[1]["event"], "failover");
    assert_eq!(bodies[1]["kind"], "dnsfailback.audit");
    assert_eq!(counts(&n), (1, 0, 0));
}

#[tokio::test]
async fn slack_gets_one_readable_line() {
    let (url, got) = receiver(vec![200]).await;
    // Slack's webhook address is a credential: read from the environment, as users should.
    std::env::set_var("DNSFAILBACK_TEST_SLACK_URL", &url);
    let source = dnsfailback_provider::SecretSource {
        env: Some("DNSFAILBACK_TEST_SLACK_URL".into()),
        file: None,
    };
    let s = settings(
        "chat",
        NotifySink::Slack {
            url: crate::config::UrlSource::Secret(source),
        },
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let n = Notifier::start(&[s]).unwrap_or_else(|e| panic!("{e}"));
    n.notify(&entry("failover"));
    until("not delivered", || counts(&n).0 == 1).await;
    let bodies = got.lock().map(|g| g.clone()).unwrap_or_default();
    assert_eq!(
        bodies,
        [serde_json::json!({
            "text": "[dnsfailback] shop: failover by controller - primary is down"
        })]
    );
}

/// A scratch directory for the command tests, removed at the end.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p =
            std::env::temp_dir().join(format!("dnsfailback-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
        Dir(p)
    }

    /// Writes an executable shell script and returns its path.
    fn script(&self, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join("hook.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        path.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_command_gets_the_event_on_stdin_and_in_its_environment() {
    let dir = Dir::new("stdin");
    let out = dir.0.join("event.json");
    let script = dir.script(&format!(
        "cat > {0}.tmp; echo \"$DNSFAILBACK_EVENT $DNSFAILBACK_SERVICE\" > {0}.env; mv {0}.tmp {0}",
        out.display()
    ));
    let s = settings(
        "pager",
        NotifySink::Command { argv: vec![script] },
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    let n = Notifier::start(&[s]).unwrap_or_else(|e| panic!("{e}"));
    n.notify(&entry("failover"));
    until("the command did not run", || counts(&n).0 == 1).await;
    let json: serde_json::Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    assert_eq!(json["event"], "failover");
    assert_eq!(json["service"], "shop");
    assert_eq!(json["reason"], "primary is down");
    assert_eq!(json["operator"], false);
    let env = std::fs::read_to_string(format!("{}.env", out.display())).unwrap_or_default();
    assert_eq!(env.trim(), "failover shop");
}

/// A command that outlives its timeout is killed, counted as failed (no retry within a
/// `retry_for` of 0) and a failing exit is a failure too.
#[tokio::test]
async fn a_command_past_its_timeout_is_killed() {
    let dir = Dir::new("timeout");
    let pid_file = dir.0.join("pid");
    let script = dir.script(&format!("echo $$ > {}; exec sleep 30", pid_file.display()));
    let s = settings(
        "slow",
        NotifySink::Command { argv: vec![script] },
        Duration::from_millis(300),
        Duration::ZERO,
    );
    let n = Notifier::start(&[s]).unwrap_or_else(|e| panic!("{e}"));
    n.notify(&entry("failover"));
    until("the command was not given up", || counts(&n).1 == 1).await;
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let pid = pid.trim();
    assert!(!pid.is_empty(), "the command never started");
    // Gone, or a zombie until tokio reaps it: either way no longer running.
    until("the command still runs after its timeout", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'))
        })
    })
    .await;
    assert_eq!(counts(&n), (0, 1, 0));
}
