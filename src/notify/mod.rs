//! Notifications: every entry of the audit trail (a failover, each canary step, a gate that
//! tripped, a rollback, all targets down, the TTL restored, an operator's command, a service
//! that needs an operator, ...) is sent to the configured notifiers: a JSON webhook, a
//! Slack-compatible webhook, or a command with the event on stdin (`[notify.NAME]`).
//!
//! Beside the flow, after **record** (plan -> provider -> verify -> record): [`NotifyingStore`]
//! wraps the state store, so whatever is audited is also queued here. Queuing never waits: a
//! dead, slow or failing receiver is retried with back-off on its own task for at most
//! `retry_for` per event, and while its queue is full new entries are dropped with a warning;
//! both are counted (`dnsfailback_notifications_total{notifier,outcome}`). The control loop
//! and every DNS change go on at full speed (tested with receivers that never answer, on the
//! paused clock).

mod event;
mod send;
mod store;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

pub use event::Event;
pub use store::NotifyingStore;

use crate::config::{NotifySettings, NotifySink};
use crate::state::AuditEntry;
use send::{Outcomes, Sink};

/// Entries waiting per receiver before new ones are dropped (and counted).
const QUEUE: usize = 1024;

/// The labels of `dnsfailback_notifications_total`: a configured notifier and one of
/// `sent`, `failed`, `dropped` (bounded by the configuration).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabels {
    notifier: String,
    outcome: &'static str,
}

/// One receiver's filter, queue and counters.
struct Receiver {
    name: String,
    events: Vec<String>,
    tx: mpsc::Sender<Event>,
    counts: Outcomes,
}

/// All receivers; cheap to share. Dropping the last handle ends the delivery tasks once their
/// queues are empty.
pub struct Notifier {
    receivers: Vec<Receiver>,
    /// What became of the events, by notifier and outcome, for `GET /metrics`.
    outcomes: Family<NotifierLabels, Counter>,
}

impl Notifier {
    /// Starts one delivery task per receiver. Secrets are loaded here; a missing one stops
    /// start-up with its source, never its value.
    pub fn start(settings: &[NotifySettings]) -> Result<Arc<Notifier>, String> {
        let sinks = settings
            .iter()
            .map(|s| Ok((s, sink(s)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Notifier::launch(sinks))
    }

    /// One queue and delivery task per `(settings, sink)`, with its counters at 0.
    fn launch(sinks: Vec<(&NotifySettings, Sink)>) -> Arc<Notifier> {
        let outcomes = Family::<NotifierLabels, Counter>::default();
        let mut receivers = Vec::new();
        for (s, sink) in sinks {
            let counter = |outcome| {
                outcomes
                    .get_or_create(&NotifierLabels {
                        notifier: s.name.clone(),
                        outcome,
                    })
                    .clone()
            };
            let counts = Outcomes {
                sent: counter("sent"),
                failed: counter("failed"),
                dropped: counter("dropped"),
            };
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(send::deliver(
                rx,
                sink,
                s.name.clone(),
                (s.timeout, s.retry_for),
                counts.clone(),
            ));
            receivers.push(Receiver {
                name: s.name.clone(),
                events: s.events.clone(),
                tx,
                counts,
            });
        }
        Arc::new(Notifier {
            receivers,
            outcomes,
        })
    }

    /// Queues `entry` for every receiver whose filter takes it; never waits.
    pub fn notify(&self, entry: &AuditEntry) {
        let mut event = None;
        for r in &self.receivers {
            if !event::wanted(&r.events, entry) {
                continue;
            }
            let ev = event.get_or_insert_with(|| Event::of(entry)).clone();
            if r.tx.try_send(ev).is_err() {
                let n = r.counts.dropped.inc() + 1;
                tracing::warn!(
                    service = %entry.service,
                    "notification `{}` to notifier {} dropped: it is not keeping up ({n} dropped so far)",
                    entry.action,
                    r.name
                );
            }
        }
    }

    /// Entries dropped so far because a receiver's queue was full (all receivers).
    pub fn dropped(&self) -> u64 {
        self.receivers.iter().map(|r| r.counts.dropped.get()).sum()
    }

    /// Adds `dnsfailback_notifications_total{notifier,outcome}` to a scrape's registry.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "notifications",
            "Notifications by notifier and outcome: sent, failed (given up after retry_for), dropped (queue full)",
            self.outcomes.clone(),
        );
    }
}

/// The ready-to-use sink of one notifier (token loaded, HTTP client built).
fn sink(s: &NotifySettings) -> Result<Sink, String> {
    let http = || {
        reqwest::Client::builder()
            .timeout(s.timeout)
            .build()
            .map_err(|e| format!("notifier {}: {e}", s.name))
    };
    Ok(match &s.sink {
        NotifySink::Webhook { url, bearer_token } => {
            Sink::Webhook {
                http: http()?,
                url: url
                    .resolve()
                    .map_err(|e| format!("notifier {}: {e}", s.name))?,
                token: match bearer_token {
                    Some(src) => Some(src.load().map_err(|e| {
                        format!("cannot read the token of notifier {}: {e}", s.name)
                    })?),
                    None => None,
                },
            }
        }
        NotifySink::Slack { url } => Sink::Slack {
            http: http()?,
            url: url
                .resolve()
                .map_err(|e| format!("notifier {}: {e}", s.name))?,
        },
        NotifySink::Command { argv } => Sink::Command {
            argv: argv.clone(),
            timeout: s.timeout,
        },
    })
}

#[cfg(test)]
mod tests;
