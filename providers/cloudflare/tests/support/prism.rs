//! Starts Prism 5.14.2 (`@stoplight/prism-cli`) on 127.0.0.1 with Cloudflare's OpenAPI schema,
//! in mock mode or in proxy mode in front of the fake, and kills it when dropped (also when a
//! test panics). A missing Prism fails the test with the fix. A missing schema fails it too.
//! `scripts/test.sh` on a fresh clone without the schema filters the three schema tests out by
//! name (`--skip`, so they count as filtered out, never as passed) and says so loudly; in CI
//! (`CI=true`) it refuses to. By hand, `DNSFAILBACK_SKIP_MISSING_SCHEMA=1` makes them print
//! SKIPPED and return instead.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Prism's binary: `$DNSFAILBACK_PEERS/prism-5.14.2/node_modules/.bin/prism`
/// (default `~/.cache/dnsfailback-peers`).
pub fn prism_bin() -> PathBuf {
    let peers = std::env::var_os("DNSFAILBACK_PEERS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/dnsfailback-peers"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/dnsfailback-peers"));
    let bin = peers.join("prism-5.14.2/node_modules/.bin/prism");
    assert!(
        bin.exists(),
        "Prism 5.14.2 is not installed at {}: run scripts/install-test-deps.sh \
         (npm install @stoplight/prism-cli@5.14.2; needs Node >= 18.20) or set DNSFAILBACK_PEERS",
        bin.display()
    );
    bin
}

/// Cloudflare's schema: `$DNSFAILBACK_CLOUDFLARE_SCHEMA`, else `../shared/testdata/` next to
/// the repository root (found from whichever crate of the workspace includes this file).
fn schema_location() -> PathBuf {
    const IN_SHARED: &str = "shared/testdata/cloudflare-dns-openapi.json";
    std::env::var_os("DNSFAILBACK_CLOUDFLARE_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            here.ancestors()
                .map(|d| d.join(IN_SHARED))
                .find(|p| p.exists())
                .unwrap_or_else(|| here.join("../../..").join(IN_SHARED))
        })
}

/// Whether the schema test `test` runs: true when the schema is there; false (with a loud
/// SKIPPED line) only when it is missing and `scripts/test.sh` said skipping is allowed;
/// otherwise a missing schema fails the test with the fix.
pub fn schema_present_or_skip(test: &str) -> bool {
    let path = schema_location();
    if path.exists() {
        return true;
    }
    if std::env::var_os("DNSFAILBACK_SKIP_MISSING_SCHEMA").is_some_and(|v| v == "1") {
        eprintln!(
            "SKIPPED {test}: Cloudflare's OpenAPI schema is missing at {}; put cloudflare-dns-openapi.json in ../shared/testdata/ or point DNSFAILBACK_CLOUDFLARE_SCHEMA at it to run this test",
            path.display()
        );
        return false;
    }
    schema_path();
    true
}

/// The schema's path; a missing schema fails the test with the fix.
pub fn schema_path() -> PathBuf {
    let path = schema_location();
    assert!(
        path.exists(),
        "Cloudflare's OpenAPI schema cloudflare-dns-openapi.json is missing at {}: put it in \
         ../shared/testdata/ beside the repository or point DNSFAILBACK_CLOUDFLARE_SCHEMA at it \
         (it is never committed to the repository)",
        path.display()
    );
    path
}

/// A running Prism process.
pub struct Prism {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Prism {
    /// `prism mock --errors`: answers valid requests from the schema's examples and rejects
    /// invalid ones with 422 and an `sl-violations` header.
    pub fn mock() -> Prism {
        Prism::start(&["mock"], None)
    }

    /// `prism proxy --errors SPEC UPSTREAM`: forwards valid requests to `upstream` and checks
    /// its answers against the schema too (500 with `sl-violations` when they do not match).
    pub fn proxy(upstream: &str) -> Prism {
        Prism::start(&["proxy"], Some(upstream))
    }

    fn start(mode: &[&str], upstream: Option<&str>) -> Prism {
        let bin = prism_bin();
        let spec = schema_path();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"));
        let log = std::env::temp_dir().join(format!("dnsfailback-prism-{port}.log"));
        let out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot reopen {}: {e}", log.display()));
        let mut cmd = Command::new(&bin);
        cmd.args(mode)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--errors"])
            .arg(&spec);
        if let Some(u) = upstream {
            cmd.arg(u);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (is `node` on PATH?)", bin.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut prism = Prism { child, addr, log };
        prism.wait_ready(Duration::from_secs(120));
        prism
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "Prism exited early ({status}); its log:\n{}",
                    self.log_text()
                );
            }
            // Prism prints this once every route is ready; the port alone opens earlier.
            if self.log_text().contains("Prism is listening")
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return;
            }
            if start.elapsed() > limit {
                panic!(
                    "Prism did not start within {limit:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Everything Prism logged so far (shown when a test fails).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
