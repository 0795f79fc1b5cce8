//! Delivering one notifier's queue: POST (webhook, Slack) or run a command, retry with
//! back-off (backon) within `retry_for`, count what became of each event.

use std::process::Stdio;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use dnsfailback_provider::Secret;
use prometheus_client::metrics::counter::Counter;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::event::Event;

/// First wait before a retry; doubles up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Where one notifier sends, ready to use (token loaded, client built).
pub(super) enum Sink {
    Webhook {
        http: reqwest::Client,
        url: String,
        token: Option<Secret>,
    },
    Slack {
        http: reqwest::Client,
        url: String,
    },
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    /// A scripted receiver for the paused-clock tests (no sockets, no processes).
    #[cfg(test)]
    Scripted(std::sync::Arc<dyn Fn(&Event) -> Attempt + Send + Sync>),
}

/// One scripted attempt's future.
#[cfg(test)]
pub(super) type Attempt =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// What became of events, per notifier (`dnsfailback_notifications_total{notifier,outcome}`).
#[derive(Clone, Debug, Default)]
pub(super) struct Outcomes {
    /// Delivered (after retries or not).
    pub sent: Counter,
    /// Given up after `retry_for` of failures.
    pub failed: Counter,
    /// Not queued: the notifier's queue was full.
    pub dropped: Counter,
}

impl Sink {
    /// One attempt; `Err` says what went wrong, never with the URL or a token (a Slack
    /// webhook URL is itself a secret).
    async fn send(&self, event: &Event) -> Result<(), String> {
        let req = match self {
            Sink::Webhook { http, url, token } => {
                let req = http.post(url).json(event);
                match token {
                    Some(t) => req.bearer_auth(t.expose()),
                    None => req,
                }
            }
            Sink::Slack { http, url } => http.post(url).json(&event.slack_body()),
            Sink::Command { argv, timeout } => return run(argv, *timeout, event).await,
            #[cfg(test)]
            Sink::Scripted(f) => return f(event).await,
        };
        let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", resp.status()))
        }
    }
}

/// Runs the command with the event JSON on stdin and `DNSFAILBACK_EVENT` and
/// `DNSFAILBACK_SERVICE` set; killed when it outlives `timeout` (`kill_on_drop`: the
/// timeout drops the child). A non-zero exit is a failure.
async fn run(argv: &[String], timeout: Duration, event: &Event) -> Result<(), String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .env("DNSFAILBACK_EVENT", &event.event)
        .env("DNSFAILBACK_SERVICE", &event.service)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let work = async {
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `{prog}`: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input is its own business: ignore EPIPE.
            let _ = stdin.write_all(&body).await;
        }
        child.wait_with_output().await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(format!(
            "`{prog}` did not finish within {timeout:?}; killed"
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let err: String = err.trim().chars().take(200).collect();
            Err(format!("`{prog}` exited with {}: {err}", out.status))
        }
    }
}

/// Sends each queued event in order; a failure is retried with exponential back-off (0.5 s
/// doubling to 30 s, backon as for every retry in the project: decision 0001), and the whole
/// delivery of one event, attempts included, is cut at `retry_for` (or after the first
/// attempt's `timeout`, if longer); then the event is logged, counted as failed and the next
/// one is sent. Every attempt is also bounded by `timeout` here (whatever the sink does), so
/// one event holds the queue for at most the longer of `retry_for` and `timeout`.
pub(super) async fn deliver(
    mut rx: mpsc::Receiver<Event>,
    sink: Sink,
    name: String,
    (timeout, retry_for): (Duration, Duration),
    counts: Outcomes,
) {
    while let Some(event) = rx.recv().await {
        let attempt = || async {
            match tokio::time::timeout(timeout, sink.send(&event)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(MIN_DELAY)
            .with_max_delay(MAX_DELAY)
            .with_total_delay(Some(retry_for))
            .without_max_times();
        let retried = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .notify(|e, delay| tracing::debug!("notifier {name}: {e}; retrying in {delay:?}"));
        // At least one whole attempt, also with `retry_for = "0s"`.
        let sent = match tokio::time::timeout(retry_for.max(timeout), retried).await {
            Ok(result) => result,
            Err(_) => Err(format!("not delivered within {retry_for:?}")),
        };
        match sent {
            Ok(()) => {
                counts.sent.inc();
            }
            Err(e) => {
                counts.failed.inc();
                tracing::warn!(
                    service = %event.service,
                    "notification `{}` to notifier {name} given up after {retry_for:?}: {e}",
                    event.event
                );
            }
        };
    }
}
