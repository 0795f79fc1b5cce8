//! A refused credential against a real DNS server: the controller stops and says `needs
//! operator`, and a fixed secret plus SIGHUP resumes it. BIND 9 on loopback with TSIG (the
//! RFC 2136 adapter's own peer harness), the real binary, a real backend.

use std::time::Duration;

use dnsfailback::backend::Backend;

use crate::harness::{cli, shop_targets, wait_dns, Proc, Scratch, ADMIN_TOKEN};
use crate::rfc2136_peer::{Kind, Peer, KEY};

fn config(dir: &std::path::Path, peer: &Peer, secret: &std::path::Path, targets: &str) -> String {
    format!(
        r#"
{controller}
[providers.ns]
kind = "rfc2136"
server = "{server}"
key_name = "{KEY}"
algorithm = "hmac-sha256"
secret = {{ file = "{secret}" }}
timeout = "2s"
retries = 1

[services.shop]
provider = "ns"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300
failover_ttl = 30

{targets}"#,
        controller = crate::harness::controller_toml(dir),
        server = peer.primary,
        secret = secret.display(),
    )
}

fn status(cfg: &str, admin: &str) -> String {
    let (code, out, err) = cli(
        &["status", "-c", cfg, "--admin", admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "status failed: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_tsig_key_needs_an_operator_and_sighup_with_the_fixed_key_resumes() {
    let peer = Peer::start(Kind::Bind).await;
    let dir = Scratch::new("reload-peer");
    let primary = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let backup = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A well-formed secret the server does not know.
    let secret = dir.path("tsig.secret");
    std::fs::write(
        &secret,
        "c2VjcmV0LXRoYXQtYmluZC1kb2VzLW5vdC1rbm93LTMyYg==\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    let targets = shop_targets(primary.addr(), backup.addr());
    std::fs::write(&cfg, config(&dir.0, &peer, &secret, &targets))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg_s = cfg.to_string_lossy().to_string();

    let proc = Proc::start(&cfg, &[]);
    let admin = proc.admin_addr().to_string();
    proc.wait_for("needs operator (auth)", Duration::from_secs(20));
    let out = status(&cfg_s, &admin);
    assert!(out.contains("needs operator (auth)"), "{out}");
    // Stopped, not retried: the server logs no further refused updates or reads for a while.
    let refusals = || peer.logs().matches("tsig verify failure").count();
    let before = refusals();
    assert!(before >= 1, "BIND refused the key: {}", peer.logs());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refusals(), before, "no retry without an operator");

    // The operator fixes the secret and sends SIGHUP: the service is published at once.
    std::fs::write(&secret, format!("{}\n", peer.secret)).unwrap_or_else(|e| panic!("{e}"));
    proc.signal("HUP");
    proc.wait_for("reload: reloaded providers [ns]", Duration::from_secs(10));
    let a = wait_dns(peer.primary, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    assert_eq!(a.ttl, Some(300));
    let out = status(&cfg_s, &admin);
    assert!(!out.contains("needs operator"), "{out}");
    // Neither secret appears in the controller's output.
    let log = proc.log();
    assert!(
        !log.contains(&peer.secret),
        "the secret leaked into the log"
    );
    assert!(
        !log.contains("c2VjcmV0LXRoYXQt"),
        "the wrong secret leaked into the log"
    );
}

/// The same through the admin API (`dnsfailback reload`), for Cloudflare: Prism with
/// Cloudflare's own OpenAPI schema in front of the stateful fake, which checks the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cloudflare_token_needs_an_operator_and_reload_with_the_fixed_token_resumes() {
    if !crate::cloudflare_peer::prism::schema_present_or_skip(
        "a_bad_cloudflare_token_needs_an_operator_and_reload_with_the_fixed_token_resumes",
    ) {
        return;
    }
    const GOOD: &str = "cfReloadToken-9Xk2Lm";
    const ZONE_ID: &str = "0123456789abcdef0123456789abcdef";
    let fake = crate::cloudflare_peer::fake::Fake::start(GOOD, ZONE_ID, "example.test").await;
    let prism = crate::cloudflare_peer::prism::Prism::proxy(&fake.url());
    let dir = Scratch::new("reload-cf");
    let primary = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let backup = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = dir.path("cf.token");
    std::fs::write(&token, "cfRevokedToken-0000\n").unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    let text = format!(
        r#"
{controller}
[providers.cf]
kind = "cloudflare"
api_token = {{ file = "{token}" }}
base_url = "{base}"
timeout = "10s"

[services.shop]
provider = "cf"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300

{targets}"#,
        controller = crate::harness::controller_toml(&dir.0),
        token = token.display(),
        base = prism.url(),
        targets = shop_targets(primary.addr(), backup.addr()),
    );
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let cfg_s = cfg.to_string_lossy().to_string();

    let proc = Proc::start(&cfg, &[]);
    let admin = proc.admin_addr().to_string();
    proc.wait_for("needs operator (auth)", Duration::from_secs(30));
    let out = status(&cfg_s, &admin);
    assert!(out.contains("needs operator (auth)"), "{out}");
    let calls = fake.seen().len();
    assert!(calls >= 1, "the refused token reached the fake");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.seen().len(), calls, "no retry without an operator");

    std::fs::write(&token, format!("{GOOD}\n")).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = cli(
        &["reload", "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "reload failed: {out}{err}");
    assert!(out.contains("1 service(s)"), "{out}");
    let start = std::time::Instant::now();
    loop {
        let records = fake.records("shop.example.test", "A");
        if records
            .iter()
            .any(|r| r.get("content").and_then(|c| c.as_str()) == Some("127.0.0.11"))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never published after the reload: {records:?}\nPrism log:\n{}",
            prism.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !prism.log_text().contains("UNPROCESSABLE"),
        "a request did not match Cloudflare's schema:\n{}",
        prism.log_text()
    );
    let log = proc.log();
    assert!(
        !log.contains(GOOD) && !log.contains("cfRevokedToken"),
        "a token leaked"
    );
}
