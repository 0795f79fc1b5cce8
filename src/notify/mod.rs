//! Webhook notifications: every entry of the audit trail (a failover, each canary step, a
//! failback, a rollback, all targets down, the TTL restored, an operator's command, a hold, a
//! service that needs an operator) is posted as JSON to the configured receivers.
//!
//! Beside the flow, after **record** (plan -> provider -> verify -> record): [`NotifyingStore`]
//! wraps the state store, so whatever is audited is also queued here. Queuing never waits: a
//! dead, slow or failing receiver is retried with back-off (backon) on its own task, and while
//! its queue is full new entries are dropped with a warning and counted; the control loop and
//! every DNS change go on at full speed (tested with a receiver that never answers).

mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use dnsfailback_provider::Secret;
use tokio::sync::mpsc;

pub use store::NotifyingStore;

use crate::config::NotifySettings;
use crate::state::AuditEntry;

/// Entries waiting per receiver before new ones are dropped (and counted).
const QUEUE: usize = 1024;

/// What a receiver gets: the audit entry, named as an event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Always `dnsfailback.audit`, so a receiver shared with other senders can tell.
    pub kind: &'static str,
    /// The audit action: `failover`, `failback`, `canary_step`, `rollback`, `all_down`,
    /// `ttl_restore`, `hold`, `needs_operator`, ...
    pub event: String,
    pub service: String,
    pub actor: String,
    pub reason: String,
    /// When it happened: unix milliseconds and RFC 3339 (UTC).
    pub at_ms: u64,
    pub at: String,
    /// The health the decision was taken on, as in the audit trail.
    pub evidence: serde_json::Value,
}

impl Event {
    fn of(e: &AuditEntry) -> Event {
        Event {
            kind: "dnsfailback.audit",
            event: e.action.clone(),
            service: e.service.clone(),
            actor: e.actor.clone(),
            reason: e.reason.clone(),
            at_ms: e.at_ms,
            at: crate::state::when::rfc3339_utc(e.at_ms),
            evidence: e.evidence.clone(),
        }
    }
}

/// One receiver's queue and its delivery task.
struct Receiver {
    events: Vec<String>,
    tx: mpsc::Sender<Event>,
}

/// All receivers; cheap to share. Dropping the last handle ends the delivery tasks once their
/// queues are empty.
pub struct Notifier {
    receivers: Vec<Receiver>,
    /// Entries dropped because a receiver's queue was full (in the log and in `dropped()`).
    dropped: AtomicU64,
}

impl Notifier {
    /// Starts one delivery task per receiver. Secrets are loaded here; a missing one stops
    /// start-up with its source, never its value.
    pub fn start(settings: &[NotifySettings]) -> Result<Arc<Notifier>, String> {
        let mut receivers = Vec::new();
        for s in settings {
            let token = match &s.bearer_token {
                Some(src) => Some(
                    src.load()
                        .map_err(|e| format!("cannot read the token of notifier {}: {e}", s.url))?,
                ),
                None => None,
            };
            let http = reqwest::Client::builder()
                .timeout(s.timeout)
                .build()
                .map_err(|e| format!("notifier {}: {e}", s.url))?;
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(deliver(rx, http, s.url.clone(), token, s.retry_for));
            receivers.push(Receiver {
                events: s.events.clone(),
                tx,
            });
        }
        Ok(Arc::new(Notifier {
            receivers,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues `entry` for every receiver whose filter takes it; never waits.
    pub fn notify(&self, entry: &AuditEntry) {
        let mut event = None;
        for r in &self.receivers {
            if !r.events.is_empty() && !r.events.contains(&entry.action) {
                continue;
            }
            let ev = event.get_or_insert_with(|| Event::of(entry)).clone();
            if r.tx.try_send(ev).is_err() {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    service = %entry.service,
                    "notification `{}` dropped: the receiver is not keeping up ({n} dropped so far)",
                    entry.action
                );
            }
        }
    }

    /// Entries dropped so far because a receiver's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Posts each queued event in order; a failure is retried with exponential back-off for up
/// to `retry_for`, then the event is logged and dropped and the next one is sent.
async fn deliver(
    mut rx: mpsc::Receiver<Event>,
    http: reqwest::Client,
    url: String,
    token: Option<Secret>,
    retry_for: Duration,
) {
    while let Some(event) = rx.recv().await {
        let send = || async {
            let mut req = http.post(&url).json(&event);
            if let Some(t) = &token {
                req = req.bearer_auth(t.expose());
            }
            let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("answered {}", resp.status()))
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_total_delay(Some(retry_for))
            .without_max_times();
        let sent = send
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .notify(|e, dur| {
                tracing::debug!("notifier {url}: {e}; retrying in {dur:?}");
            })
            .await;
        if let Err(e) = sent {
            tracing::warn!(
                service = %event.service,
                "notification `{}` to {url} given up after {retry_for:?}: {e}",
                event.event
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryStore, Store};

    /// A receiver that accepts connections and never answers: auditing 2,000 entries still
    /// returns at once (nothing waits on it); what does not fit its queue is dropped and
    /// counted.
    #[tokio::test]
    async fn a_receiver_that_never_answers_holds_nothing_up() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = silent.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let settings = NotifySettings {
            url: format!("http://{addr}/hook"),
            events: Vec::new(),
            bearer_token: None,
            timeout: Duration::from_secs(60),
            retry_for: Duration::from_secs(3600),
        };
        let notifier = Notifier::start(&[settings]).unwrap_or_else(|e| panic!("{e}"));
        let store = NotifyingStore::new(Arc::new(MemoryStore::default()), notifier.clone());
        for i in 0..2_000u64 {
            let entry = AuditEntry {
                at_ms: i,
                service: "shop".into(),
                actor: "controller".into(),
                action: "failover".into(),
                reason: "test".into(),
                evidence: serde_json::Value::Null,
                changes: None,
            };
            store.audit(&entry).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let dropped = notifier.dropped();
        assert!((975..=976).contains(&dropped), "dropped {dropped}");
        assert_eq!(
            store
                .history("shop", 5000)
                .await
                .map(|h| h.len())
                .unwrap_or(0),
            2_000,
            "every entry is still audited"
        );
        drop(silent);
    }

    #[test]
    fn a_filter_sends_only_the_events_it_names() {
        let (tx, mut rx) = mpsc::channel(8);
        let n = Notifier {
            receivers: vec![Receiver {
                events: vec!["failover".into()],
                tx,
            }],
            dropped: AtomicU64::new(0),
        };
        let entry = |action: &str| AuditEntry {
            at_ms: 1_700_000_000_000,
            service: "shop".into(),
            actor: "controller".into(),
            action: action.into(),
            reason: String::new(),
            evidence: serde_json::Value::Null,
            changes: None,
        };
        n.notify(&entry("canary_step"));
        n.notify(&entry("failover"));
        let got = rx.try_recv().map(|e| e.event).unwrap_or_default();
        assert_eq!(got, "failover");
        assert!(rx.try_recv().is_err(), "canary_step was filtered out");
    }
}
