//! What the loop does for all services at once: leading or following an etcd group, learning
//! the original TTLs, the self-suspicion verdict, and reporting failure events.
//!
//! Around the per-service flow (probe -> health -> policy -> plan -> provider -> verify): these
//! steps look at every service together, so that one verdict (a suspected partition, a site
//! event) applies to all of them in the same tick, never to half.

use std::collections::BTreeMap;

use dnsfailback_provider::Fqdn;

use super::error_policy::follow;
use super::events::EVENTS_LOG;
use super::{zone, Controller};
use crate::config::Service;

impl Controller {
    /// Becoming the lease holder (at start-up, or after another controller's lease lapsed):
    /// the shared store, not this process's memory, is the truth. Reload every service's
    /// state and baseline, then resolve intents a previous leader left open.
    pub(super) async fn take_over(&mut self) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        let mut states = match self.store.service_states(&names).await {
            Ok(s) => s,
            Err(e) => {
                for name in &names {
                    self.set_error(name, format!("taking over: {e}"));
                }
                return;
            }
        };
        for name in &names {
            let state = states.remove(name).unwrap_or_default();
            if let Some(rt) = self.runtime.get_mut(name) {
                rt.reload(state);
            }
        }
        // What this process mirrored as a follower says nothing once it changes DNS itself.
        self.mirrored.clear();
        tracing::info!(
            token = self.leadership.fencing_token(),
            "leading: state reloaded from the store"
        );
        self.recover_open_intents().await;
        self.flush().await;
    }

    /// A follower keeps its health view current (it probes too), shows the leader's state
    /// from the shared store, so `status` on any controller tells the truth, and has its own
    /// embedded DNS server answer what the leader published ([`super::mirror`]).
    /// One read of the shared store per tick, whatever the number of services.
    pub(super) async fn follow(&mut self, names: &[String]) {
        match self.store.service_states(names).await {
            Ok(states) => {
                self.mirror_local(&states).await;
                for (name, state) in states {
                    if let Some(rt) = self.runtime.get_mut(&name) {
                        rt.state = state;
                    }
                }
            }
            Err(e) => {
                for name in names {
                    self.set_error(name, format!("following: {e}"));
                }
            }
        }
        // Status rows say "follower" on their own (see `publish.rs`).
    }

    /// Records the original TTL of every service that has none yet, durably, before the
    /// controller could ever lower it: one read per zone (all zones at once), one store
    /// transaction. Runs on the first tick, and again only for services whose read failed.
    pub(super) async fn discover_original_ttls(&mut self) {
        let mut by_zone: BTreeMap<(String, Fqdn), Vec<std::sync::Arc<Service>>> = BTreeMap::new();
        for (name, rt) in &self.runtime {
            if rt.state.original_ttl.is_some() || rt.in_flight || rt.needs_operator.is_some() {
                continue;
            }
            if let Some(s) = self.services.get(name) {
                by_zone
                    .entry((s.provider.clone(), s.zone.clone()))
                    .or_default()
                    .push(s.clone());
            }
        }
        if by_zone.is_empty() {
            return;
        }
        let mut reads = tokio::task::JoinSet::new();
        for ((provider_name, zone), services) in by_zone {
            let Some(provider) = self.providers.get(&provider_name).cloned() else {
                continue;
            };
            reads.spawn(async move {
                let got = zone::read_records(
                    provider.as_ref(),
                    &zone,
                    services.iter().map(|s| s.as_ref()),
                )
                .await;
                (services, got)
            });
        }
        while let Some(joined) = reads.join_next().await {
            let Ok((services, got)) = joined else {
                continue;
            };
            for s in services {
                let ttl = match &got {
                    Ok(observed) => observed
                        .get(&(s.record.clone(), s.rtype))
                        .and_then(|sets| sets.iter().map(|x| x.ttl).max())
                        .unwrap_or(s.ttl),
                    Err(e) => {
                        let mut message = format!("cannot read {} {}: {e}", s.record, s.rtype);
                        if let Some(rt) = self.runtime.get_mut(&s.name) {
                            let now = self.clock.now_ms();
                            message = follow(rt, Some(e.kind), &message, e.retry_after, now);
                        }
                        self.set_error(&s.name, message);
                        continue;
                    }
                };
                if let Some(rt) = self.runtime.get(&s.name) {
                    let mut state = rt.state.clone();
                    state.original_ttl = Some(ttl);
                    self.save_later(&s.name, state);
                    tracing::debug!(service = %s.name, "recorded original TTL {ttl}");
                }
            }
        }
        self.flush().await;
    }

    /// Raises the self-suspicion alert once when it starts and says when it clears: while
    /// the controller suspects its own network, no service moves on local evidence.
    pub(super) fn watch_suspicion(&mut self) {
        let status = self.health.partition();
        let suspected = status.is_suspected();
        if suspected == self.suspicion_alerted {
            return;
        }
        self.suspicion_alerted = suspected;
        let text = if suspected {
            let why = status.describe();
            tracing::error!("{why}");
            why
        } else {
            let why = "self-suspicion cleared: local evidence is trusted again".to_string();
            tracing::warn!("{why}");
            why
        };
        let action = if suspected {
            "self_suspected"
        } else {
            "self_suspicion_cleared"
        };
        self.audit_later(EVENTS_LOG, action, &text, serde_json::Value::Null);
    }

    /// Logs and audits failure events: once when an event opens (one entry however many
    /// services it moves), a log line as it grows, a closing entry with the final count; and
    /// one line per hold rule that started holding services this tick.
    pub(super) fn report_events(&mut self) {
        for (ev, first) in self.events.take_news() {
            let n = ev.services.len();
            if first {
                let text = format!(
                    "{} down: {n} service(s) failing over ({})",
                    ev.domain,
                    ev.label()
                );
                tracing::error!("{text}");
                self.audit_later(EVENTS_LOG, "failure_event", &text, serde_json::Value::Null);
            } else {
                tracing::warn!("{}: now {n} services failing over", ev.label());
            }
        }
        for ev in self.events.take_closed() {
            let text = format!(
                "{} closed: {} service(s) failed over from {}",
                ev.label(),
                ev.services.len(),
                ev.domain
            );
            tracing::info!("{text}");
            self.audit_later(
                EVENTS_LOG,
                "failure_event_closed",
                &text,
                serde_json::Value::Null,
            );
        }
        for (rule, services) in std::mem::take(&mut self.holds_started) {
            let first: Vec<&str> = services.iter().take(5).map(String::as_str).collect();
            let more = services.len().saturating_sub(first.len());
            let text = format!(
                "held by {rule}: {} service(s) ({}{})",
                services.len(),
                first.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            if rule.starts_with("max_failovers") || rule.contains("change window") {
                tracing::error!("{text}");
            } else {
                tracing::warn!("{text}");
            }
        }
    }
}
