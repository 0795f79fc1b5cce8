//! A provider that failed is watched with one cheap read at a steady short interval, so the
//! services waiting on it retry as soon as it answers again, not when their back-off ends.
//!
//! Sits after the provider step (plan -> **provider** -> verify), beside the error policy:
//! a transient failure backs a service off (1 s doubling to 60 s, `runtime.rs`); after a
//! minute-long outage the next try could come half a minute after the provider's return.
//! While any change to a provider is failing, the loop reads one record from it every
//! [`WATCH_EVERY_MS`] (one read per provider, not per service). Only a return counts: once a
//! read has failed, the first read that succeeds clears the back-off of every service of that
//! provider, which then retry on the next tick. If the very first read succeeds, the provider
//! answers reads but refuses changes, so reading tells nothing about when changes will work:
//! the watch ends and the back-off rules (a read-only outage is not retried every 2 s).
//! Rate limits are not watched: reading more would make them worse; their Retry-After rules.

use std::collections::BTreeMap;

use dnsfailback_provider::{ErrorKind, Fqdn, RecordType};

use super::{Controller, Done};

/// How often a failing provider is read to see whether it is back.
pub(super) const WATCH_EVERY_MS: u64 = 2_000;

/// The one record read to see whether a provider answers (a record the controller manages,
/// so the read needs no permission the changes do not need).
#[derive(Debug, Clone)]
pub(super) struct Watched {
    zone: Fqdn,
    name: Fqdn,
    rtype: RecordType,
    next_ms: u64,
    pending: bool,
    /// A watch read has failed: the provider was seen down, so a successful read is its return.
    seen_down: bool,
}

/// Failing providers, by name.
#[derive(Debug, Default)]
pub(super) struct ProviderWatch {
    failing: BTreeMap<String, Watched>,
}

impl Controller {
    /// A change to `service`'s provider failed with `kind`: watch that provider if the kind is
    /// one a provider recovers from by itself.
    pub(super) fn watch_provider(&mut self, service: &str, kind: Option<ErrorKind>, now: u64) {
        if !matches!(kind, Some(ErrorKind::Transient) | None) {
            return;
        }
        let Some(s) = self.services.get(service) else {
            return;
        };
        self.watch
            .failing
            .entry(s.provider.clone())
            .or_insert_with(|| Watched {
                zone: s.zone.clone(),
                name: s.record.clone(),
                rtype: s.rtype,
                next_ms: now + WATCH_EVERY_MS,
                pending: false,
                seen_down: false,
            });
    }

    /// Starts the due watch reads (at most one in flight per provider).
    pub(super) fn read_failing_providers(&mut self, now: u64) {
        let due: Vec<(String, Watched)> = self
            .watch
            .failing
            .iter_mut()
            .filter(|(_, w)| !w.pending && w.next_ms <= now)
            .map(|(p, w)| {
                w.pending = true;
                (p.clone(), w.clone())
            })
            .collect();
        for (provider, w) in due {
            let Some(p) = self.providers.get(&provider).cloned() else {
                self.watch.failing.remove(&provider);
                continue;
            };
            let clock = self.clock;
            self.spawn(async move {
                let ok = p.read(&w.zone, &w.name, w.rtype).await.is_ok();
                Done::ProviderRead {
                    provider,
                    ok,
                    at_ms: clock.now_ms(),
                }
            });
        }
    }

    /// A watch read came back: after a failed one, success means the provider is back and
    /// every service of it retries at once; a first read that succeeds ends the watch (see
    /// the module docs); a failure schedules the next read [`WATCH_EVERY_MS`] later.
    pub(super) fn finish_provider_read(&mut self, provider: &str, ok: bool, at_ms: u64) {
        if !ok {
            if let Some(w) = self.watch.failing.get_mut(provider) {
                w.pending = false;
                w.seen_down = true;
                w.next_ms = at_ms + WATCH_EVERY_MS;
            }
            return;
        }
        let returned = self
            .watch
            .failing
            .remove(provider)
            .is_some_and(|w| w.seen_down);
        if !returned {
            return;
        }
        let waiting: Vec<String> = self
            .services
            .values()
            .filter(|s| s.provider == provider)
            .map(|s| s.name.clone())
            .filter(|name| {
                self.runtime
                    .get(name)
                    .is_some_and(|rt| rt.retry_at_ms.is_some())
            })
            .collect();
        for name in &waiting {
            if let Some(rt) = self.runtime.get_mut(name) {
                rt.retry_at_ms = None;
                rt.failures = 0;
            }
            self.wake(name);
        }
        if !waiting.is_empty() {
            tracing::info!(
                provider,
                "provider answers again: {} service(s) retry now instead of after their back-off",
                waiting.len()
            );
        }
    }
}
