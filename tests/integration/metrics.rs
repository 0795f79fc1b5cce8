//! Issue 14, `GET /metrics`: the real binary scraped from loopback (no token needed there)
//! before and after a real failover; the exposition is read with a Prometheus text-format
//! parser and every family has its HELP and TYPE. After the failover: one failover counted
//! for the service with its duration, provider apply calls and their durations, probe
//! durations by kind and the primary's probe failures by reason.

use std::time::Duration;

use crate::harness::{shop_files, Proc, Scratch, ADMIN_TOKEN};

/// One scrape: (content type, raw text, parsed samples).
async fn scrape(addr: std::net::SocketAddr) -> (String, String, prometheus_parse::Scrape) {
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("scrape: {e}"));
    assert_eq!(
        resp.status().as_u16(),
        200,
        "loopback scrapes need no token"
    );
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (ctype, text, parsed)
}

/// The value of `name` with the given label values, if present.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// The value of the raw sample line that starts with `series` (exact name and labels as
/// written, e.g. `dnsfailback_probe_duration_seconds_count{kind="http"}`): histogram counts
/// and sums, which the parser folds into the histogram.
fn raw(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .trim()
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// Polls the metrics until `ok` holds (20 s at most); returns that scrape.
async fn until(
    addr: std::net::SocketAddr,
    what: &str,
    ok: impl Fn(&prometheus_parse::Scrape) -> bool,
) -> prometheus_parse::Scrape {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, text, s) = scrape(addr).await;
        if ok(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_failover_in_the_prometheus_format() {
    let dir = Scratch::new("metrics");
    let (primary, _backup, cfg) = shop_files(&dir).await;
    let proc = Proc::start(&cfg, &[]);
    let admin = proc.admin_addr();

    let s = until(admin, "shop published on its primary", |s| {
        value(
            s,
            "dnsfailback_service_primary_share_percent",
            &[("service", "shop")],
        ) == Some(100.0)
    })
    .await;
    assert_eq!(
        value(
            &s,
            "dnsfailback_service_phase",
            &[("service", "shop"), ("phase", "normal")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "dnsfailback_service_published_ttl_seconds",
            &[("service", "shop")]
        ),
        Some(300.0)
    );
    assert_eq!(value(&s, "dnsfailback_leader", &[]), Some(1.0));
    // After the first publication, so every family has a series (an empty family is not
    // written at all).
    let (ctype, text, s) = scrape(admin).await;
    let shop = [("service", "shop")];
    assert_eq!(
        value(&s, "dnsfailback_service_failovers_total", &shop),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "dnsfailback_service_failbacks_total", &shop),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "dnsfailback_service_last_failover_duration_seconds",
            &shop
        ),
        None,
        "no failover yet"
    );
    for (family, kind) in [
        ("dnsfailback_probe_duration_seconds", "histogram"),
        ("dnsfailback_provider_calls", "counter"),
        ("dnsfailback_service_failovers", "counter"),
        (
            "dnsfailback_service_last_failover_duration_seconds",
            "gauge",
        ),
    ] {
        if family.ends_with("_duration_seconds") && !family.contains("probe") {
            continue; // written with the first failover
        }
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family}:\n{text}"
        );
    }
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    for family in [
        "dnsfailback_build",
        "dnsfailback_changes",
        "dnsfailback_tick_duration_seconds",
        "dnsfailback_service_phase",
        "dnsfailback_target_state",
        "dnsfailback_leader",
        "dnsfailback_probe_duration_seconds",
        "dnsfailback_provider_calls",
        "dnsfailback_provider_apply_seconds",
        "dnsfailback_service_failovers",
        "dnsfailback_service_failbacks",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {family}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {family}:\n{text}"
        );
    }

    drop(primary);
    let s = until(admin, "shop failed over", |s| {
        value(
            s,
            "dnsfailback_service_phase",
            &[("service", "shop"), ("phase", "failed_over")],
        ) == Some(1.0)
    })
    .await;
    assert_eq!(
        value(
            &s,
            "dnsfailback_service_primary_share_percent",
            &[("service", "shop")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "dnsfailback_service_published_ttl_seconds",
            &[("service", "shop")]
        ),
        Some(30.0)
    );
    assert_eq!(
        value(
            &s,
            "dnsfailback_target_state",
            &[
                ("service", "shop"),
                ("target", "primary"),
                ("state", "down")
            ]
        ),
        Some(1.0)
    );
    assert!(
        value(&s, "dnsfailback_changes_total", &[("action", "failover")]).is_some_and(|v| v >= 1.0),
        "{:?}",
        s.samples
            .iter()
            .filter(|x| x.metric.starts_with("dnsfailback_changes"))
            .collect::<Vec<_>>()
    );
    let (_, text, s) = scrape(admin).await;
    assert_failover_counted(&s, &text);
    assert!(
        !text.contains(ADMIN_TOKEN),
        "the token leaked into the metrics"
    );
}

/// After one failover of `shop` (primary's HTTP check refused, backup on TCP).
fn assert_failover_counted(s: &prometheus_parse::Scrape, text: &str) {
    let shop = [("service", "shop")];
    assert_eq!(
        value(s, "dnsfailback_service_failovers_total", &shop),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(s, "dnsfailback_service_failbacks_total", &shop),
        Some(0.0)
    );
    let took = value(
        s,
        "dnsfailback_service_last_failover_duration_seconds",
        &shop,
    );
    // Detection to read-back: a tick or two on a 100 ms tick, far below a minute.
    assert!(
        took.is_some_and(|t| t > 0.0 && t < 60.0),
        "{took:?}\n{text}"
    );
    let applied = value(
        s,
        "dnsfailback_provider_calls_total",
        &[("provider", "local"), ("op", "apply"), ("outcome", "ok")],
    );
    assert!(
        applied.is_some_and(|n| n >= 2.0),
        "publish + failover: {applied:?}"
    );
    let reads = value(
        s,
        "dnsfailback_provider_calls_total",
        &[("provider", "local"), ("op", "read"), ("outcome", "ok")],
    );
    assert!(
        reads.is_some_and(|n| n >= 2.0),
        "plan + read-back: {reads:?}"
    );
    let apply_count = raw(
        text,
        "dnsfailback_provider_apply_seconds_count{provider=\"local\"}",
    );
    assert_eq!(apply_count, applied, "one apply duration per apply call");
    for kind in ["http", "tcp"] {
        let n = raw(
            text,
            &format!("dnsfailback_probe_duration_seconds_count{{kind=\"{kind}\"}}"),
        );
        assert!(n.is_some_and(|n| n > 0.0), "{kind}: {n:?}\n{text}");
    }
    let failures: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "dnsfailback_probe_failures_total")
        .filter(|x| x.labels.get("kind") == Some("http"))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert!(
        failures >= 2.0,
        "fall = 2 failures of the primary: {failures}\n{text}"
    );
    assert_eq!(
        value(s, "dnsfailback_probe_failures_total", &[("kind", "tcp")]),
        None,
        "the backup never failed"
    );
}
