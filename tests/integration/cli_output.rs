//! The command line's output hygiene (issue 19): stdout closed by its reader ends the command
//! quietly instead of panicking, log colours only where asked for (never into a pipe by
//! default), and every subcommand's help has an example.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::CommandFactory;

use crate::harness::{cli, service_toml, Scratch, BIN};

/// A child process killed (and reaped) when the test ends, passed or failed.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    /// Waits up to `limit` for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// Reads a child's stderr on a thread (so a full pipe never blocks the child); each raw line
/// (colour codes kept) arrives on the channel.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// `count` services on one embedded provider, checks to a closed port, the admin API on
/// `admin`: with a closed port there, `plan` plans offline, printing a long plan without any
/// controller running.
fn many_services_config(dir: &Path, count: usize, admin: &str) -> String {
    let mut text = format!(
        r#"[controller]
state = "{}"
admin_listen = "{admin}"

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"
"#,
        dir.join("state.db").display(),
    );
    for i in 0..count {
        text.push_str(&service_toml(
            &format!("s{i}"),
            "local",
            "127.0.0.11",
            "127.0.0.12",
            "ttl = 300\nfailover_ttl = 30",
        ));
    }
    text
}

/// `dnsfailback plan ... | head -1`: the reader takes one line and closes the pipe while the
/// command still has far more than a pipe buffer (64 KiB) to write, so the next write fails
/// with EPIPE. The command must end quietly: exit 0, no panic message, no error.
#[test]
fn a_reader_closing_stdout_early_ends_the_command_quietly() {
    let dir = Scratch::new("epipe");
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, many_services_config(&dir.0, 1000, "127.0.0.1:9"))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = cfg.to_string_lossy().to_string();
    for args in [vec!["plan", "--json", "-c", &cfg], vec!["plan", "-c", &cfg]] {
        // Precondition: read in full, the output is twice a pipe buffer or more, so stopping
        // after one line really makes the command write into a closed pipe.
        let (code, out, err) = cli(&args, &[("RUST_LOG", "error")]);
        assert!(code == 0 || code == 2, "{args:?} exited {code}: {err}");
        assert!(out.len() > 128 * 1024, "{args:?}: only {} bytes", out.len());

        let mut child = Command::new(BIN);
        child
            .args(&args)
            .env("RUST_LOG", "error")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Killed(child.spawn().unwrap_or_else(|e| panic!("{BIN}: {e}")));
        let stderr = stderr_lines(&mut child.0);
        let stdout = child.0.stdout.take().unwrap_or_else(|| unreachable!());
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!first.is_empty(), "{args:?}: no first line");
        // The BufReader (and with it the pipe's read end) is gone here.
        let status = child
            .wait_exit(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{args:?} kept running after its stdout closed"));
        let err: Vec<String> = stderr.try_iter().collect();
        let err = err.join("\n");
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        assert!(!err.contains("error"), "{args:?} reported an error:\n{err}");
        assert_eq!(status.code(), Some(0), "{args:?}: {status}\n{err}");
    }
}

/// Starts `dnsfailback run` with `args` and `NO_COLOR` as given, stderr piped (not a terminal),
/// until its admin API is up; returns its stderr so far, colour codes kept.
fn run_log(args: &[&str], no_color: Option<&str>) -> String {
    let dir = Scratch::new("color");
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, many_services_config(&dir.0, 1, "127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&cfg)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let mut child = Killed(cmd.spawn().unwrap_or_else(|e| panic!("{BIN}: {e}")));
    let lines = stderr_lines(&mut child.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while !log.contains("admin API listening on") {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
            }
            Err(_) => panic!("{args:?}: no `admin API listening on` line; log:\n{log}"),
        }
    }
    drop(child);
    log
}

/// Log lines into a pipe (a log file, journald) carry no ANSI codes unless `--color always`.
#[test]
fn log_colours_only_on_a_terminal_or_when_asked() {
    const ESC: &str = "\u{1b}[";
    let auto = run_log(&[], None);
    assert!(!auto.contains(ESC), "auto coloured a pipe:\n{auto:?}");
    let always = run_log(&["--color", "always"], Some("1"));
    assert!(
        always.contains(ESC),
        "--color always did not colour:\n{always}"
    );
    let never = run_log(&["--color=never"], None);
    assert!(!never.contains(ESC), "--color never coloured:\n{never:?}");
    let (code, _, err) = cli(&["--color", "sometimes", "validate"], &[]);
    assert_eq!(code, 2, "an unknown --color value is a usage error: {err}");
    assert!(err.contains("auto") && err.contains("never"), "{err}");
}

/// `dnsfailback SUBCOMMAND --help` ends with an example, for every subcommand.
#[test]
fn every_subcommand_help_has_an_example() {
    let mut root = dnsfailback::cli::Cli::command();
    root.build();
    let mut names = Vec::new();
    for sub in root.get_subcommands_mut() {
        let name = sub.get_name().to_string();
        if name == "help" {
            continue; // clap's own
        }
        let help = sub.render_long_help().to_string();
        assert!(
            help.contains("Example"),
            "`{name} --help` has no example:\n{help}"
        );
        assert!(
            help.contains("dnsfailback "),
            "`{name}`: example lacks a command:\n{help}"
        );
        names.push(name);
    }
    assert!(names.len() >= 15, "only {names:?}");
    // The real binary prints the same.
    let (code, out, err) = cli(&["history", "--help"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Example:\n  dnsfailback history shop"),
        "{out}"
    );
}

/// `--log-format json` (here through `DNSFAILBACK_LOG_FORMAT`): every stderr line is one JSON
/// object with level, target and message, and a decision that changes DNS carries the service,
/// the action and the phase as fields; the admin token appears nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_the_decisions_fields() {
    use dnsfailback::backend::Backend;
    let dir = Scratch::new("json-log");
    let start = |_| async {
        Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (primary, backup) = (start(1).await, start(2).await);
    let cfg = dir.path("dnsfailback.toml");
    let text = crate::harness::config(&dir.0, primary.addr(), backup.addr(), "");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let proc = crate::harness::Proc::start(&cfg, &[("DNSFAILBACK_LOG_FORMAT", "json")]);
    proc.wait_for("\"action\":\"publish\"", Duration::from_secs(20));
    drop(primary);
    proc.wait_for("\"action\":\"failover\"", Duration::from_secs(20));
    let log = proc.log();
    let mut failover = None;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        if v["fields"]["action"] == "failover" {
            failover = Some(v);
        }
    }
    let f = failover.unwrap_or_else(|| panic!("no failover event:\n{log}"));
    assert_eq!(f["fields"]["service"], "shop", "{f}");
    assert_eq!(f["fields"]["phase"], "failed_over", "{f}");
    assert_eq!(
        f["fields"]["target"], "backup",
        "where the answer points: {f}"
    );
    assert!(
        f["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("down")),
        "{f}"
    );
    assert!(
        f["fields"]["reason"]
            .as_str()
            .is_some_and(|m| m.contains("primary")),
        "{f}"
    );
    assert_eq!(f["fields"]["message"], "DNS changed", "{f}");
    assert!(
        !log.contains(crate::harness::ADMIN_TOKEN),
        "the token leaked"
    );
}
