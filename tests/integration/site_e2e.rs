//! A whole site fails, end to end: the real binary with default settings, 100 services on
//! the embedded DNS server, every primary behind one loopback address (site A) and every
//! backup behind another (site B), each checked over real TCP. Site A's listener is closed:
//! every name must answer the backup within a bounded time, and the audit trail must show one
//! failure event.

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::{cli, service_toml_checked, Proc, Scratch, ADMIN_TOKEN};

const N: usize = 100;

/// Accepts and closes connections until dropped: a site's health endpoint.
struct Site {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    async fn start(ip: &str) -> Site {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {ip}: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        Site { addr, task }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fleet(dir: &Scratch, a: SocketAddr, b: SocketAddr) -> String {
    let mut t = format!(
        r#"[controller]
state = "{}"
admin_listen = "127.0.0.1:0"
admin_token = {{ env = "DNSFAILBACK_TEST_ADMIN_TOKEN" }}

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"
"#,
        dir.path("state.db").display()
    );
    for i in 0..N {
        t.push_str(&service_toml_checked(
            &format!("s{i:03}"),
            "local",
            ("127.0.0.2", &a.to_string()),
            ("127.0.0.3", &b.to_string()),
            "",
            "interval = \"200ms\"",
        ));
    }
    t
}

/// Asks every name until each answers `want` (or `limit` passes); returns how many do.
async fn answering(dns: SocketAddr, want: &str, limit: Duration) -> usize {
    let start = tokio::time::Instant::now();
    loop {
        let mut ok = 0;
        for i in 0..N {
            let name = format!("s{i:03}.example.test.");
            if let Ok(a) = dnsfailback::cli::dig::lookup(dns, &name, "A").await {
                if a.values == vec![want.to_string()] {
                    ok += 1;
                }
            }
        }
        if ok == N || start.elapsed() > limit {
            return ok;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_site_moves_all_its_services_with_default_settings() {
    let dir = Scratch::new("site-e2e");
    let site_a = Site::start("127.0.0.2").await;
    let site_b = Site::start("127.0.0.3").await;
    let cfg = dir.path("fleet.toml");
    std::fs::write(&cfg, fleet(&dir, site_a.addr, site_b.addr)).unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    assert_eq!(
        answering(dns, "127.0.0.2", Duration::from_secs(30)).await,
        N,
        "every service published on site A"
    );
    drop(site_a);
    assert_eq!(
        answering(dns, "127.0.0.3", Duration::from_secs(30)).await,
        N,
        "every service answers site B after site A died\n{}",
        proc.log()
    );
    let admin = proc.admin_addr().to_string();
    let cfg_s = cfg.display().to_string();
    let (code, out, err) = cli(
        &["history", "@events", "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "history failed: {err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.split_whitespace().any(|w| w == "failure_event"))
            .count(),
        1,
        "one failure event in the audit trail:\n{out}"
    );
    assert!(out.contains("address 127.0.0.2 down"), "{out}");
    assert!(!out.contains("self_suspected"), "{out}");
    drop(site_b);
}
