//! Reloading services without a restart (issue 14): SIGHUP or `POST /v1/reload` takes in a
//! service added to the file (probed, decided and published without a restart), refuses a
//! broken file or a change that would bend a failed-over service's phase (the old
//! configuration keeps running), and a service removed and added back continues from its
//! stored phase. Against the real binary on loopback, with the embedded DNS server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dnsfailback::backend::Backend;
use serde_json::Value;

use crate::harness::{
    backend, config, service_toml_checked, wait_dns, wait_name, Proc, Scratch, ADMIN_TOKEN,
};

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}"))
}

/// The service `blog`: primary 127.0.0.21 checked at `primary_check`, backup 127.0.0.22
/// checked at `backup_check`, fast checks.
fn blog(primary_check: SocketAddr, backup_check: SocketAddr) -> String {
    service_toml_checked(
        "blog",
        "local",
        ("127.0.0.21", &primary_check.to_string()),
        ("127.0.0.22", &backup_check.to_string()),
        "ttl = 60\nfailover_ttl = 20",
        "interval = \"100ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 2",
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

/// `POST /v1/reload`: (HTTP status, body).
async fn reload(admin: SocketAddr) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{admin}/v1/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/status/NAME`: (HTTP status, body).
async fn status(admin: SocketAddr, service: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{admin}/v1/status/{service}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Starts on `cfg` and waits until `shop` has failed over to its backup (the primary is
/// dropped once the primary was published).
async fn failed_over_shop(cfg: &Path, primary: Backend) -> Proc {
    let p = Proc::start(cfg, &[]);
    let dns = p.dns_addr();
    wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    drop(primary);
    wait_dns(dns, Duration::from_secs(20), "the backup", |a| {
        a.values == ["127.0.0.12"]
    })
    .await;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adding_a_service_makes_it_answer_and_keeps_every_phase() {
    let dir = Scratch::new("reload-add");
    let (primary, backup) = (backend().await, backend().await);
    let cfg = dir.path("dnsfailback.toml");
    let base = config(&dir.0, primary.addr(), backup.addr(), "");
    write(&cfg, &base);
    let p = failed_over_shop(&cfg, primary).await;
    let (dns, admin, pid) = (p.dns_addr(), p.admin_addr(), p.pid());

    // blog's primary is down from the start: it can only be published on its backup if the
    // reload started probing its checks and the loop decides it.
    write(
        &cfg,
        &format!("{base}\n{}", blog(closed_port(), backup.addr())),
    );
    p.signal("HUP");
    p.wait_for(
        "services: 1 added, 0 changed, 0 removed",
        Duration::from_secs(10),
    );
    let blog_name = "blog.example.test.";
    let a = wait_name(
        dns,
        blog_name,
        Duration::from_secs(15),
        "blog on its backup",
        |a| a.values == ["127.0.0.22"],
    )
    .await;
    assert_eq!(a.ttl, Some(20), "blog failed over with its failover TTL");

    assert_eq!(p.pid(), pid, "no restart");
    let (_, shop) = status(admin, "shop").await;
    assert_eq!(
        shop["phase"]["phase"], "failed_over",
        "shop kept its phase: {shop}"
    );
    let a = dnsfailback::cli::dig::lookup(dns, "shop.example.test.", "A")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.values, ["127.0.0.12"], "shop still on its backup");
    let (code, blog_status) = status(admin, "blog").await;
    assert_eq!(code, 200, "the API knows the new service: {blog_status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_or_a_phase_bending_change_is_refused_and_a_removed_service_keeps_its_records(
) {
    let dir = Scratch::new("reload-refuse");
    let (primary, backup) = (backend().await, backend().await);
    let cfg = dir.path("dnsfailback.toml");
    let shop = config(&dir.0, primary.addr(), backup.addr(), "");
    let blog = blog(backup.addr(), backup.addr());
    let base = format!("{shop}\n{blog}");
    write(&cfg, &base);
    let p = failed_over_shop(&cfg, primary).await;
    let (dns, admin) = (p.dns_addr(), p.admin_addr());
    let shop_answer = || async {
        dnsfailback::cli::dig::lookup(dns, "shop.example.test.", "A")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .values
    };

    // 1. A file that does not parse: refused with validate's error (the line), on the API
    //    and on SIGHUP; the old configuration runs on.
    let broken = format!("{base}\n[services.broken\nprovider = \"local\"\n");
    let line = broken[..broken.find("[services.broken").unwrap_or(0)]
        .lines()
        .count()
        + 1;
    write(&cfg, &broken);
    let (code, body) = reload(admin).await;
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("nothing changed"), "{error}");
    assert!(
        error.contains(&format!("dnsfailback.toml:{line}:")) && error.contains("fix:"),
        "validate's error names the line and the fix: {error}"
    );
    p.signal("HUP");
    p.wait_for("reload refused", Duration::from_secs(10));
    assert_eq!(shop_answer().await, ["127.0.0.12"]);

    // 1b. A provider removed while services still use it: refused, naming it.
    let no_provider = base.replace("[providers.local]", "[providers.other]");
    write(&cfg, &no_provider);
    let (code, body) = reload(admin).await;
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("`local`") || error.contains("\"local\""),
        "{error}"
    );
    assert_eq!(shop_answer().await, ["127.0.0.12"]);

    // 1c. blog moved to a zone the running embedded server does not serve: refused (restart).
    let new_zone = base.replace(
        "zone = \"example.test\"\nname = \"blog.example.test\"",
        "zone = \"other.test\"\nname = \"blog.other.test\"",
    );
    assert_ne!(new_zone, base, "the blog section moved zone");
    write(&cfg, &new_zone);
    let (code, body) = reload(admin).await;
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("other.test") && error.contains("restart"),
        "{error}"
    );

    // 2. Moving a failed-over service to another backup address: refused with the reason.
    write(&cfg, &base.replace("127.0.0.12", "127.0.0.13"));
    let (code, body) = reload(admin).await;
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("shop") && error.contains("back to normal"),
        "{error}"
    );
    assert_eq!(shop_answer().await, ["127.0.0.12"]);

    // 3. Removed from the file: no longer decided or shown, its records left as they are.
    let head = &shop[..shop.find("[services.shop]").unwrap_or(shop.len())];
    write(&cfg, &format!("{head}\n{blog}"));
    let (code, body) = reload(admin).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.to_string().contains("1 removed"), "{body}");
    assert_eq!(status(admin, "shop").await.0, 404);
    assert_eq!(
        shop_answer().await,
        ["127.0.0.12"],
        "records left as they are"
    );

    // 4. Added back: it continues from its stored phase, failed over.
    write(&cfg, &base);
    let (code, body) = reload(admin).await;
    assert_eq!(code, 200, "{body}");
    let (_, shop) = status(admin, "shop").await;
    assert_eq!(shop["phase"]["phase"], "failed_over", "{shop}");
    assert_eq!(shop_answer().await, ["127.0.0.12"]);
}
