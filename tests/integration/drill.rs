//! `dnsfailback drill` through the real binary on the embedded provider with fast settings: a
//! measured planned failover, canary failback and TTL restore; `--dry-run` changing nothing;
//! a refusal when the service is not normal; and the live warnings of `validate`.

use std::net::SocketAddr;
use std::time::Duration;

use dnsfailback::backend::Backend;
use serde_json::Value;

use crate::harness::{cli, config_with_timers, wait_dns, Proc, Scratch, ADMIN_TOKEN, FAST_TIMERS};

const ENV: [(&str, &str); 1] = [("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)];

/// A controller on the embedded provider with healthy backends; TTL 2 s (the planned wait),
/// failover TTL 1 s, no lead margin, canary [50, 100] held 1 s each, TTL restored after 2 s.
struct Setup {
    dir: Scratch,
    proc: Proc,
    cfg: String,
    dns: SocketAddr,
    admin: String,
    _backends: (Backend, Backend),
}

async fn setup(tag: &str) -> Setup {
    let dir = Scratch::new(tag);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let primary = Backend::start(any).await.unwrap_or_else(|e| panic!("{e}"));
    let backup = Backend::start(any).await.unwrap_or_else(|e| panic!("{e}"));
    let timers = format!("{FAST_TIMERS}\nttl_lead_margin = \"0s\"");
    let text = config_with_timers(&dir.0, primary.addr(), backup.addr(), &timers, "")
        .replace("ttl = 300\nfailover_ttl = 30", "ttl = 2\nfailover_ttl = 1");
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    let admin = proc.admin_addr().to_string();
    wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"] && a.ttl == Some(2)
    })
    .await;
    let cfg = cfg.to_string_lossy().to_string();
    // Both targets must be up before a failover to the backup is accepted.
    for _ in 0..100 {
        let (_, out, _) = run(&["status", "shop", "-c", &cfg, "--admin", &admin, "--json"]).await;
        if out.matches("\"state\": \"up\"").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Setup {
        dir,
        proc,
        cfg,
        dns,
        admin,
        _backends: (primary, backup),
    }
}

/// The binary, off the async workers (the arguments are copied before the future starts).
fn run(args: &[&str]) -> impl std::future::Future<Output = (i32, String, String)> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    async move {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&a, &ENV)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn phase_of(status_json: &str) -> String {
    let v: Value = serde_json::from_str(status_json).unwrap_or(Value::Null);
    v[0]["phase"]["phase"].as_str().unwrap_or("?").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_measures_a_sub_second_switch_the_canary_and_the_ttl_restore() {
    let s = setup("drill").await;
    let auth = s.dns.to_string();
    let file = s.dir.path("drill.json");
    let file_s = file.to_string_lossy().to_string();
    let (code, out, err) = run(&[
        "drill",
        "shop",
        "-c",
        &s.cfg,
        "--admin",
        &s.admin,
        "--authoritative",
        &auth,
        "--resolver",
        &auth,
        "--report",
        &file_s,
        "--format",
        "json",
        "--timeout",
        "1m",
    ])
    .await;
    assert_eq!(code, 0, "drill failed: {out}\n{err}\n{}", s.proc.log());
    assert!(out.contains("switch time"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(r["outcome"], "completed", "{text}");
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        phases,
        [
            "ttl_lowering",
            "switch",
            "failed_over",
            "canary",
            "ttl_restore"
        ],
        "{text}"
    );
    // The planned wait is the old TTL (2 s): the lowering phase lasts about that long.
    let lowering = r["phases"][0]["duration_ms"].as_u64().unwrap_or(0);
    assert!(
        (1_500..6_000).contains(&lowering),
        "lowering took {lowering} ms: {text}"
    );
    let switch_ms = r["switch"]["switch_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(switch_ms < 1_000, "switch took {switch_ms} ms: {text}");
    assert!(
        r["switch"]["provider_confirmation_ms"].as_u64().is_some(),
        "{text}"
    );
    assert!(
        r["switch"]["authoritative"][0]["after_ms"]
            .as_u64()
            .is_some(),
        "{text}"
    );
    assert!(r["resolvers"][0]["after_ms"].as_u64().is_some(), "{text}");
    let steps = r["canary"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2, "one entry per canary step: {text}");
    assert_eq!(steps[0]["primary_percent"], 50, "{text}");
    assert!(steps[0]["samples"].as_u64().unwrap_or(0) >= 10, "{text}");
    let p0 = steps[0]["observed_primary_percent"]
        .as_f64()
        .unwrap_or(-1.0);
    assert!(
        (10.0..=90.0).contains(&p0),
        "the 50 % step answered both: {p0} {text}"
    );
    assert!(
        steps[0]["counts"]["backup"].as_u64().unwrap_or(0) > 0,
        "{text}"
    );
    assert_eq!(steps[1]["primary_percent"], 100, "{text}");
    assert_eq!(
        steps[1]["counts"]["backup"].as_u64().unwrap_or(0),
        0,
        "{text}"
    );
    assert_eq!(r["ttl_restore"]["ttl"], 2, "{text}");
    let restore = r["ttl_restore"]["after_ms"].as_u64().unwrap_or(0);
    assert!(
        (1_500..10_000).contains(&restore),
        "restore took {restore} ms: {text}"
    );
    eprintln!("drill: lowering {lowering} ms, switch {switch_ms} ms, restore {restore} ms");

    let (_, st, _) = run(&[
        "status", "shop", "-c", &s.cfg, "--admin", &s.admin, "--json",
    ])
    .await;
    assert_eq!(phase_of(&st), "normal", "{st}");
    let a = dnsfailback::cli::dig::lookup(s.dns, "shop.example.test.", "A").await;
    assert_eq!(
        a.map(|a| (a.values, a.ttl)),
        Ok((vec!["127.0.0.11".to_string()], Some(2)))
    );

    // The Markdown form of a second drill carries the section headings.
    let md = s.dir.path("drill.md");
    let md_s = md.to_string_lossy().to_string();
    let (code, out, err) = run(&[
        "drill",
        "shop",
        "-c",
        &s.cfg,
        "--admin",
        &s.admin,
        "--authoritative",
        &auth,
        "--report",
        &md_s,
        "--timeout",
        "1m",
    ])
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let text = std::fs::read_to_string(&md).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !text.contains("cannot look up the name servers"),
        "--authoritative replaces the NS lookup: {text}"
    );
    for h in [
        "# DNS failover drill: shop",
        "## Phases",
        "## Switch",
        "## Canary",
        "## TTL restore",
        "## Warnings",
        "**Switch time: ",
    ] {
        assert!(text.contains(h), "no `{h}` in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_dry_run_changes_nothing_and_a_failed_over_service_is_refused() {
    let s = setup("drill-dry").await;
    let auth = s.dns.to_string();
    let history = || {
        run(&[
            "history", "shop", "-c", &s.cfg, "--admin", &s.admin, "--json",
        ])
    };
    let (_, before, _) = history().await;
    let (code, out, err) = run(&[
        "drill",
        "shop",
        "-c",
        &s.cfg,
        "--admin",
        &s.admin,
        "--authoritative",
        &auth,
        "--dry-run",
    ])
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("dry run: nothing is changed"), "{out}");
    assert!(
        out.contains("wait out the old TTL + ttl_lead_margin: 2.0s"),
        "{out}"
    );
    assert!(
        out.contains("canary steps [50, 100], each held 1.0s before the next: 1.0s")
            && out.contains("expected in total: about 5.0s"),
        "{out}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, after, _) = history().await;
    assert_eq!(before, after, "a dry run writes no history");
    let a = dnsfailback::cli::dig::lookup(s.dns, "shop.example.test.", "A").await;
    assert_eq!(
        a.map(|a| (a.values, a.ttl)),
        Ok((vec!["127.0.0.11".to_string()], Some(2)))
    );

    let (code, _, err) = run(&[
        "failover", "shop", "--to", "backup", "-c", &s.cfg, "--admin", &s.admin,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    wait_dns(s.dns, Duration::from_secs(10), "the backup", |a| {
        a.values == ["127.0.0.12"]
    })
    .await;
    let (code, out, err) = run(&[
        "drill",
        "shop",
        "-c",
        &s.cfg,
        "--admin",
        &s.admin,
        "--authoritative",
        &auth,
    ])
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("drill refused: shop is in phase failed_over"),
        "{err}"
    );
    let (_, st, _) = run(&[
        "status", "shop", "-c", &s.cfg, "--admin", &s.admin, "--json",
    ])
    .await;
    assert_eq!(
        phase_of(&st),
        "failed_over",
        "the refused drill changed nothing: {st}"
    );
}

/// A free loopback UDP port nobody listens on once this returns.
fn closed_port() -> u16 {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    sock.local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_online_warns_about_negative_caching_ttl_and_silent_name_servers() {
    let dir = Scratch::new("drill-online");
    let port = closed_port();
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
    // The embedded server is not running: its NS (ns1.example.test at 127.0.0.1:PORT) does
    // not answer. Negative TTL 900 s is far above the failover window (detection + 30 s).
    let text = crate::harness::config(&dir.0, a, a, "").replace(
        "kind = \"embedded\"\nlisten = \"127.0.0.1:0\"\n",
        &format!("kind = \"embedded\"\nlisten = \"127.0.0.1:{port}\"\nnegative_ttl = 900\n"),
    );
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let cfg = cfg.to_string_lossy().to_string();
    let (code, _, err) = run(&["validate", "-c", &cfg]).await;
    assert_eq!(code, 0, "warnings do not fail validation: {err}");
    assert!(
        err.contains("negative-caching TTL (SOA minimum) of 900s"),
        "{err}"
    );
    assert!(err.contains("more than the failover window of"), "{err}");
    assert!(
        err.contains("example.test") && err.contains("lower the SOA minimum of zone example.test"),
        "the warning names the zone and the fix: {err}"
    );
    // Nothing listens there: no NS answer, so the NS set cannot even be looked up.
    assert!(
        err.contains("cannot look up the name servers of zone example.test"),
        "{err}"
    );
    let (_, _, err) = run(&["validate", "--offline", "-c", &cfg]).await;
    assert!(
        !err.contains("name servers") && !err.contains("negative-caching"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_online_names_the_silent_name_server_and_a_provider_ttl_above_ttl() {
    let dir = Scratch::new("drill-ns");
    let port = closed_port();
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
    // Two name servers on the embedded server's port: ns1 is the server itself, nothing
    // listens at 127.0.0.2.
    let ns = format!(
        "kind = \"embedded\"\nlisten = \"127.0.0.1:{port}\"\n\
         nameservers = [{{ name = \"ns1.example.test\", addresses = [\"127.0.0.1\"] }}, \
         {{ name = \"ns2.example.test\", addresses = [\"127.0.0.2\"] }}]\n"
    );
    let text = crate::harness::config(&dir.0, a, a, "")
        .replace("kind = \"embedded\"\nlisten = \"127.0.0.1:0\"\n", &ns);
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, &text).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    assert_eq!(dns.port(), port);
    wait_dns(dns, Duration::from_secs(20), "the record", |a| {
        a.ttl == Some(300)
    })
    .await;
    // The same zone validated with ttl = 60: the provider's record still has 300.
    let low = dir.path("low.toml");
    std::fs::write(&low, text.replace("ttl = 300\n", "ttl = 60\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = run(&["validate", "-c", &low.to_string_lossy()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "name server ns2.example.test. (127.0.0.2:{port}) of zone example.test. does not answer SOA queries"
        )),
        "{err}"
    );
    assert!(
        !err.contains("name server ns1.example.test."),
        "ns1 answers: {err}"
    );
    assert!(
        err.contains("shop.example.test. A has TTL 300s at provider `local`, above the configured ttl of 60s"),
        "{err}"
    );
    assert!(
        err.contains("lower the record's TTL at the provider to 60s"),
        "{err}"
    );
    let (_, _, err) = run(&["validate", "-c", &cfg.to_string_lossy()]).await;
    assert!(
        !err.contains("at provider `local`"),
        "ttl 300 matches: {err}"
    );
    drop(proc);
}
