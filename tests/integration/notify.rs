//! Issue 14, notifications: a webhook receiver on loopback gets the failover and the staged
//! failback of a real run in order, with the bearer token it asked for; a receiver that never
//! answers holds nothing up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use dnsfailback::backend::Backend;

use crate::harness::{config, Proc, Scratch};

/// A receiver that records each POSTed JSON body and its Authorization header.
async fn receiver() -> (
    std::net::SocketAddr,
    Arc<Mutex<Vec<(serde_json::Value, String)>>>,
) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    if let Ok(mut g) = seen.lock() {
                        g.push((body.0, auth));
                    }
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, got)
}

fn events_of(got: &Mutex<Vec<(serde_json::Value, String)>>) -> Vec<String> {
    got.lock()
        .map(|g| {
            g.iter()
                .filter(|(v, _)| v["service"] == "shop")
                .filter_map(|(v, _)| v["event"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_gets_the_failover_and_the_staged_failback_in_order() {
    let dir = Scratch::new("notify");
    let (hook, got) = receiver().await;
    let start = |addr: &str| {
        let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{e}"));
        async move { Backend::start(addr).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let primary = start("127.0.0.1:0").await;
    let primary_addr = primary.addr();
    let backup = start("127.0.0.1:0").await;
    let text = format!(
        "{}\n[[controller.notify]]\nurl = \"http://{hook}/hook\"\nbearer_token = {{ env = \"HOOK_TOKEN\" }}\n",
        config(&dir.0, primary_addr, backup.addr(), "")
    );
    // `[[controller.notify]]` after the services is still a key of [controller].
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[("HOOK_TOKEN", "hook-secret-4711")]);
    let wait = |want: &'static str| {
        let got = got.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !events_of(&got).iter().any(|e| e == want) {
                assert!(
                    Instant::now() < deadline,
                    "no `{want}` event: {:?}",
                    events_of(&got)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait("publish").await;
    drop(primary);
    wait("failover").await;
    let _primary = start(&primary_addr.to_string()).await;
    wait("ttl_restore").await;
    let events = events_of(&got);
    let order: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| {
            [
                "publish",
                "failover",
                "failback",
                "canary_complete",
                "ttl_restore",
            ]
            .contains(e)
        })
        .collect();
    assert_eq!(
        order,
        [
            "publish",
            "failover",
            "failback",
            "canary_complete",
            "ttl_restore"
        ],
        "{events:?}"
    );
    let all = got.lock().map(|g| g.clone()).unwrap_or_default();
    let failover = all
        .iter()
        .find(|(v, _)| v["event"] == "failover")
        .unwrap_or_else(|| panic!("no failover"));
    assert_eq!(failover.0["kind"], "dnsfailback.audit");
    assert_eq!(failover.0["actor"], "controller");
    assert!(
        failover.0["at"].as_str().is_some_and(|a| a.ends_with('Z')),
        "{}",
        failover.0
    );
    assert!(all
        .iter()
        .all(|(_, auth)| auth == "Bearer hook-secret-4711"));
    assert!(
        !proc.log().contains("hook-secret-4711"),
        "the token leaked into the log"
    );
}

/// On the paused clock: a controller whose store notifies a webhook receiver that accepts
/// connections and never answers (60 s timeout, retried for an hour). Publishing and the
/// failover both go through at the provider with no time passing in any tick: nothing in the
/// control loop waits for the receiver. The receiver got nothing, and every entry is in the
/// audit trail.
#[tokio::test(start_paused = true)]
async fn a_stuck_receiver_never_delays_a_dns_change() {
    use dnsfailback::config::{NotifySettings, NotifySink};
    use dnsfailback::health::check_id;
    use dnsfailback::state::Store;

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = silent.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let notifier = dnsfailback::notify::Notifier::start(&[NotifySettings {
        name: "stuck".into(),
        sink: NotifySink::Webhook {
            url: dnsfailback::config::UrlSource::Plain(format!("http://{addr}/hook")),
            bearer_token: None,
        },
        events: Vec::new(),
        timeout: Duration::from_secs(60),
        retry_for: Duration::from_secs(3600),
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = Arc::new(dnsfailback::notify::NotifyingStore::new(
        Arc::new(dnsfailback::state::MemoryStore::default()),
        notifier,
    ));
    let (config, _) = dnsfailback::config::validate::parse(
        std::path::Path::new("stuck.toml"),
        crate::scenario::CONFIG,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let zone = dnsfailback_provider::Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let mem = dnsfailback_provider::memory::MemoryProvider::new("mem", &[zone]);
    let providers = [(
        "mem".to_string(),
        Arc::new(mem.clone()) as Arc<dyn dnsfailback_provider::Provider>,
    )];
    let mut ctl = dnsfailback::reconcile::Controller::new(
        config,
        providers.into_iter().collect(),
        store.clone(),
        Arc::new(dnsfailback::state::SingleNode),
        dnsfailback::reconcile::Clock::starting_at(1_700_000_000_000),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for primary_ok in [true, true, true, false, false] {
        for (target, ok) in [("primary", primary_ok), ("backup", true)] {
            ctl.observe(&crate::harness::probe(check_id("shop", target, 0), ok));
        }
        let t0 = tokio::time::Instant::now();
        ctl.tick().await;
        assert_eq!(t0.elapsed(), Duration::ZERO, "a tick waited");
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let applied = mem.applied();
    assert_eq!(applied.len(), 2, "publish and failover: {applied:?}");
    assert!(
        applied[1].to_string().contains("198.51.100.20"),
        "{}",
        applied[1]
    );
    let history = store.history("shop", 10).await.unwrap_or_default();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"failover"), "{actions:?}");
    let mut r = prometheus_client::registry::Registry::with_prefix("dnsfailback");
    store.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &r).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains("dnsfailback_notifications_total{notifier=\"stuck\",outcome=\"sent\"} 0"),
        "{text}"
    );
    drop(silent);
}
