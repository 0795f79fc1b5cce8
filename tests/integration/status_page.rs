//! Issue 14, the status page in a real browser: the real binary on the embedded provider
//! fails `shop` over (its primary's health endpoint is closed), then headless Chromium loads
//! the fleet view and the service's detail view; the test reads the DOM Chromium rendered
//! (phase, published answer, the failover in the timeline, the charts) and takes screenshots
//! into `target/test-output/`.
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`, from scripts/install-test-deps.sh):
//! without it the test fails and says so. Chromium runs with a fresh profile directory and no
//! network but loopback use; every run is killed by a guard (also on a panic) and bounded by
//! a timeout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{shop_files, Proc, Scratch};

const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one Chromium run may take.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);

/// Kills Chromium (and waits for it) however the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium with `args` then `url`, a fresh profile in `profile`; returns its
/// standard output. Panics when it does not finish within [`BROWSER_LIMIT`] or fails.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the status page is tested in a real browser; run \
         scripts/install-test-deps.sh (it installs the Debian package `chromium`)"
    );
    let _ = std::fs::remove_dir_all(profile);
    std::fs::create_dir_all(profile).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut browser = Browser(cmd.spawn().unwrap_or_else(|e| panic!("{CHROMIUM}: {e}")));
    let mut pipes = (browser.0.stdout.take(), browser.0.stderr.take());
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(p) = pipes.0.as_mut() {
            let _ = p.read_to_string(&mut text);
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(p) = pipes.1.as_mut() {
            let _ = p.read_to_string(&mut text);
        }
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = browser.0.try_wait() {
            break status;
        }
        assert!(
            start.elapsed() < BROWSER_LIMIT,
            "chromium did not finish within {BROWSER_LIMIT:?} (killed)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(browser);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    stdout
}

/// The text a reader sees in a DOM: tags dropped, the few entities the page uses decoded,
/// whitespace collapsed. Style and title elements are not text on the screen.
fn visible_text(dom: &str) -> String {
    let rest = drop_elements(drop_elements(dom.to_string(), "style"), "title");
    let mut out = String::new();
    let mut in_tag = false;
    for c in rest.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&middot;", "·")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `html` without the `tag` elements and their content.
fn drop_elements(mut html: String, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    while let Some(i) = html.find(&open) {
        let end = html[i..]
            .find(&close)
            .map_or(html.len(), |j| i + j + close.len());
        html.replace_range(i..end, "");
    }
    html
}

/// Where the test leaves its screenshots: `target/test-output/`.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("test-output");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Takes a 1280x900 screenshot of `url` into `path` and checks it is a real PNG.
fn screenshot(profile: &Path, url: &str, path: &Path) {
    let _ = std::fs::remove_file(path);
    chromium(
        profile,
        &[
            &format!("--screenshot={}", path.display()),
            "--window-size=1280,900",
        ],
        url,
    );
    let png =
        std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot {}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    // A blank 1280x900 page compresses to a few KB; the page's text and charts do not.
    assert!(
        png.len() > 20_000,
        "{} is only {} bytes: an empty page?",
        path.display(),
        png.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_a_failed_over_service_with_its_timeline_and_charts() {
    let dir = Scratch::new("status-page");
    let (primary, backup, cfg) = shop_files(&dir).await;
    let proc = Proc::start(&cfg, &[]);
    let admin = proc.admin_addr();
    let detail = format!("http://{admin}/ui/service/shop");

    // Up on the primary first, then its health endpoint closes.
    wait_page(&detail, "published on the primary", |t| {
        t.contains("127.0.0.11")
    })
    .await;
    drop(primary);
    wait_page(&detail, "shop failed over", |t| {
        t.contains("failed over") && t.contains("failover")
    })
    .await;

    let profile = dir.path("chromium-profile");
    let fleet = format!("http://{admin}/ui");
    let text = visible_text(&chromium(&profile, &["--dump-dom"], &fleet));
    for expected in [
        "1 service ",
        "failed over: 1",
        "shop",
        "127.0.0.12",
        "30 s",
        "primary: down",
        "Events in the last 24 h",
        "failover",
    ] {
        assert!(
            text.contains(expected),
            "fleet view lacks `{expected}`:\n{text}"
        );
    }
    let dom = chromium(&profile, &["--dump-dom"], &detail);
    let text = visible_text(&dom);
    for expected in [
        "Phase failed over since",
        "Published answer 127.0.0.12",
        "TTL 30 s",
        "controller: down",
        "Latency and availability",
        "primary: availability",
        "backup: availability",
        "Events in the last 24 h",
        "failover controller",
    ] {
        assert!(
            text.contains(expected),
            "detail view lacks `{expected}`:\n{text}"
        );
    }
    assert!(dom.matches("<svg").count() >= 3, "no charts:\n{dom}");

    let out = output_dir();
    screenshot(&profile, &detail, &out.join("status-page.png"));
    screenshot(&profile, &fleet, &out.join("status-page-fleet.png"));
    drop(backup);
}

/// Polls `url` (loopback: no token) until its text satisfies `ok` (20 s at most).
async fn wait_page(url: &str, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = match reqwest::get(format!("{url}?refresh=0")).await {
            Ok(r) => visible_text(&r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        if ok(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
