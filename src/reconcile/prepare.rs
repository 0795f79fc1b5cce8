//! Deciding one service on a tick, without waiting on the network: health -> policy -> the
//! loop's safety rules -> a [`zone::Item`] for the zone job, or nothing.
//!
//! The rules applied on top of [`crate::policy::decide`] live here, each once: the failure
//! event and `max_failovers` cap ([`super::events`]), the pre-failback hook (started as a task;
//! the transition waits for it, nobody else does), the provider back-off, and when to re-read
//! the provider to catch drift. Every hold is logged when it starts.

use std::time::Duration;

use dnsfailback_provider::SyncStatus;

use std::sync::Arc;

use super::converge::{converge, drift_check, verify_due, Outcome};
use super::gates::{gate_failover, gate_pre_failback, FailoverGate, HookGate};
use super::runtime::{HookRun, Runtime};
use super::{events, zone, Controller, Done};
use crate::config::Service;
use crate::health::{State, TargetHealth};
use crate::policy::{decide, Decision, Observed, Phase, ServiceState};

/// How often the primary's baseline is written to the store while the service is normal.
const BASELINE_SAVE_EVERY_MS: u64 = 5 * 60 * 1000;

/// Drift checks started per tick on a provider whose reads are local (the embedded server):
/// the services of a big zone are checked a few hundred at a time, spread over the period,
/// not all at once. A service over the budget stays due and is checked on a later tick.
const LOCAL_DRIFT_CHECKS_PER_TICK: usize = 500;

/// How often a metrics gate or a change's propagation status is read.
const READ_EVERY_MS: u64 = 5_000;

/// What one tick would do for one service, worked out without changing anything: the
/// decision after the loop's gates, the gates' verdicts (carried out only by a tick) and what
/// becomes of the decision. `plan` shows these; a tick carries them out.
pub(super) struct Proposal {
    /// The service's state before this tick (pending writes included).
    pub current: ServiceState,
    /// Policy's decision, after the gates (a held one keeps the service as it is).
    pub decision: Decision,
    pub failover: FailoverGate,
    pub hook: HookGate,
    pub outcome: Outcome,
    /// Since when the canary step being judged runs (samples before it are not needed).
    step_since: u64,
}

impl Controller {
    /// Decides `name` at `now`; returns the change to hand to its zone job, if any.
    pub(super) fn prepare(&mut self, name: &str, now: u64) -> Option<zone::Item> {
        let service = self.service(name)?;
        let generation = self.health.generation(name);
        if !self.due(name, generation, now) {
            return None;
        }
        // Before `decided` moves on: it holds the generation of the last decision.
        let settled = self
            .runtime
            .get(name)
            .is_some_and(|rt| settled(rt, generation));
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.decided = (generation, now);
        }
        if settled {
            // Only time has passed since the last decision, which would come out the same:
            // learn the baseline and let the samples go, without deciding again (at 10,000
            // services that is 2,000 decisions a second the loop does not make, nor allocate).
            let primary = &service.primary().name;
            let primary_up = self.health.target_state(name, primary) == Some(State::Up);
            self.learn_baseline(&service, primary_up, now);
            self.health.release_samples(name, primary, now);
            if !verify_due(self.runtime.get(name)?, now)
                || !self.drift_check_allowed(&service.provider)
            {
                return None;
            }
            let rt = self.runtime.get(name)?;
            let reason = rt.last_decision.as_ref().map(|d| d.reason.as_str())?;
            let reason = format!("drift corrected: {reason}");
            return drift_check(&service, self.effective_state(name)?, reason);
        }
        let health = self.health.service(name);
        let primary_up = health
            .iter()
            .any(|h| h.target == service.primary().name && h.state == State::Up);
        self.learn_baseline(&service, primary_up, now);
        self.read_in_background(&service, now);
        let mut events = std::mem::replace(&mut self.events, events::Events::new(0, 0));
        let proposal = self.propose(&mut events, &service, &health, now);
        self.events = events;
        let proposal = proposal?;
        // Samples the next tick cannot need are dropped: a canary step reads its own since it
        // began; everything else (the baseline has learnt them) is done with them.
        let keep_from = match proposal.decision.state.phase {
            Phase::Canary { since_ms, .. } => since_ms.min(proposal.step_since),
            _ => now,
        };
        self.health
            .release_samples(name, &service.primary().name, keep_from);
        self.raise_alert(name, &proposal.decision, &health);
        let Proposal {
            current,
            decision,
            failover,
            hook,
            outcome,
            ..
        } = proposal;
        self.carry_out(&service, &current, &failover, hook, now);
        let item = match outcome {
            Outcome::Change(item) => Some(*item),
            Outcome::Save => {
                self.save_later(name, decision.state.clone());
                self.mark_lowered(name, now);
                None
            }
            Outcome::Wait => None,
        };
        self.note_hold(name, &decision);
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.last_decision = Some(decision.into());
        }
        item
    }

    /// Whether a settled service of `provider` may start its drift check on this tick (see
    /// [`LOCAL_DRIFT_CHECKS_PER_TICK`]); counts it if so.
    fn drift_check_allowed(&mut self, provider: &str) -> bool {
        if !self
            .providers
            .get(provider)
            .is_some_and(|p| p.reads_are_local())
        {
            return true;
        }
        if self.drift_checks_this_tick >= LOCAL_DRIFT_CHECKS_PER_TICK {
            return false;
        }
        self.drift_checks_this_tick += 1;
        true
    }

    /// Whether `name` is decided on this tick: not quiet, no change of its in flight (its
    /// job reports back), and its original TTL known (else the error is in status).
    pub(super) fn due(&self, name: &str, generation: u64, now: u64) -> bool {
        !self.quiet(name, generation, now)
            && self
                .runtime
                .get(name)
                .is_some_and(|rt| !rt.in_flight && rt.state.original_ttl.is_some())
    }

    /// Health -> policy -> gates -> what to publish, for one service, changing nothing but
    /// the event book it is given (the loop's own on a tick, a scratch copy in a plan).
    pub(super) fn propose(
        &self,
        events: &mut events::Events,
        service: &Arc<Service>,
        health: &[TargetHealth],
        now: u64,
    ) -> Option<Proposal> {
        let name = &service.name;
        let current = self.effective_state(name)?;
        let rt = self.runtime.get(name)?;
        let step_since = match current.phase {
            Phase::Canary { since_ms, .. } => since_ms,
            _ => now,
        };
        let primary = &service.primary().name;
        let primary_up = health
            .iter()
            .any(|h| h.target == *primary && h.state == State::Up);
        let obs = Observed {
            health,
            primary_up_since_ms: primary_up.then(|| rt.primary_up_since_ms.unwrap_or(now)),
            now_ms: now,
            step_stats: self.health.stats_since(name, primary, step_since),
            baseline_p95_ms: rt
                .baseline
                .as_ref()
                .filter(|b| b.is_warm())
                .and_then(|b| b.latency_p95())
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            metric: rt.metric.as_ref().map(|(_, m)| m.clone()),
        };
        let mut decision = decide(service, &current, &obs);
        let failover = gate_failover(rt, events, service, &current, &mut decision, now);
        let hook = gate_pre_failback(rt, service, &current, &mut decision, now);
        let outcome = converge(rt, service, &current, &mut decision, health, &failover, now);
        Some(Proposal {
            current,
            decision,
            failover,
            hook,
            outcome,
            step_since,
        })
    }

    /// Learns the primary's normal latency and error rate while all is well, and queues the
    /// baseline for saving every few minutes and at once when the primary stops being up (an
    /// incident may be starting, and the canary after it needs the normal from before it).
    fn learn_baseline(&mut self, service: &Service, primary_up: bool, now: u64) {
        let primary = &service.primary().name;
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        rt.primary_up_since_ms = match (primary_up, rt.primary_up_since_ms) {
            (true, Some(s)) => Some(s),
            (true, None) => Some(now),
            (false, _) => None,
        };
        rt.primary_down_since_ms = match (primary_up, rt.primary_down_since_ms) {
            (true, _) => None,
            (false, since) => since.or(Some(now)),
        };
        if rt.state.phase != Phase::Normal {
            return;
        }
        let fresh = self
            .health
            .samples_since(&service.name, primary, rt.baseline_seen_ms + 1);
        let state = if primary_up { State::Up } else { State::Down };
        if let Some(b) = rt.baseline.as_mut() {
            for (at, ok, latency) in fresh {
                b.observe(ok, Duration::from_millis(latency), at, state, false);
            }
        }
        rt.baseline_seen_ms = now;
        let due = now.saturating_sub(rt.baseline_saved_ms) >= BASELINE_SAVE_EVERY_MS;
        if !due && primary_up {
            return; // the common case on every tick: no copy, no write
        }
        let Some(snapshot) = rt.baseline.as_ref().map(|b| b.snapshot().clone()) else {
            return;
        };
        if rt.state.baseline.as_ref().map(|b| b.get()) == Some(&snapshot) {
            return;
        }
        rt.baseline_saved_ms = now;
        let mut state = rt.state.clone();
        state.baseline = Some(snapshot.into());
        self.save_later(&service.name, state);
    }

    /// Starts the reads a decision may use but must not wait for: the metrics gate's number
    /// during a canary, and the propagation status of the last change.
    fn read_in_background(&mut self, service: &Service, now: u64) {
        let provider = self.providers.get(&service.provider).cloned();
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        let mut jobs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send>>> =
            Vec::new();
        match (&rt.state.phase, &service.canary.gates.metric) {
            (Phase::Canary { .. }, Some(gate)) => {
                let stale = rt
                    .metric
                    .as_ref()
                    .is_none_or(|(at, _)| now.saturating_sub(*at) >= READ_EVERY_MS);
                if stale && !rt.metric_pending {
                    rt.metric_pending = true;
                    let (url, name) = (gate.url.clone(), service.name.clone());
                    jobs.push(Box::pin(async move {
                        let reading = super::metrics::fetch(&url).await;
                        Done::Metric {
                            service: name,
                            at_ms: now,
                            reading,
                        }
                    }));
                }
            }
            // Outside a canary a stale reading must never judge a later step.
            _ => rt.metric = None,
        }
        if let (Some((receipt, SyncStatus::Pending, polled)), Some(provider)) = (&rt.sync, provider)
        {
            if !rt.sync_pending && now.saturating_sub(*polled) >= READ_EVERY_MS {
                rt.sync_pending = true;
                let (receipt, name) = (receipt.clone(), service.name.clone());
                jobs.push(Box::pin(async move {
                    Done::Sync {
                        service: name,
                        status: provider
                            .sync_status(&receipt)
                            .await
                            .map_err(|e| e.to_string()),
                        at_ms: now,
                    }
                }));
            }
        }
        for job in jobs {
            self.spawn(job);
        }
    }

    /// Logs and audits a decision's alert when it first appears.
    fn raise_alert(&mut self, name: &str, decision: &Decision, health: &[TargetHealth]) {
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        if decision.alert == rt.last_alert {
            return;
        }
        rt.last_alert = decision.alert.clone();
        let Some(alert) = decision.alert.clone() else {
            return;
        };
        tracing::error!(service = name, "{alert}");
        // The trip itself, not the frozen canary's later reminders.
        let by_gate = |h: &Option<crate::policy::Hold>| h.as_ref().is_some_and(|h| h.by == "gate");
        let gate = by_gate(&decision.state.hold) && !by_gate(&rt.state.hold);
        let action = if matches!(decision.state.phase, Phase::AllDown { .. }) {
            "all_down"
        } else if gate {
            "gate_tripped" // a canary frozen by its gate (notifiers filter on it)
        } else {
            "alert"
        };
        let evidence = serde_json::to_value(health).unwrap_or_default();
        self.audit_later(name, action, &alert, evidence);
    }

    /// A planned switch measures the old TTL's expiry from the moment the lowered TTL was
    /// verified at the provider.
    pub(super) fn mark_lowered(&mut self, name: &str, now: u64) {
        let failover_ttl = self.services.get(name).map(|s| s.failover_ttl).unwrap_or(0);
        // Read in place: every finished item passes here, and only a lowering is copied.
        let Some(pending) = self
            .saves
            .get(name)
            .or_else(|| self.runtime.get(name).map(|rt| &rt.state))
        else {
            return;
        };
        // Only a lowered TTL that is really published (not a back-off tick) starts the wait.
        if !matches!(&pending.published, Some(p) if p.ttl() <= failover_ttl) {
            return;
        }
        if let Phase::Lowering {
            to,
            old_ttl,
            lowered_at_ms: None,
        } = &pending.phase
        {
            let phase = Phase::Lowering {
                to: to.clone(),
                old_ttl: *old_ttl,
                lowered_at_ms: Some(now),
            };
            let mut st = pending.clone();
            st.phase = phase;
            self.saves.insert(name.to_string(), st);
        }
    }

    /// A service with nothing going on — normal, not held, its last decision published, no
    /// health change since it was last decided, no timer or background work — is decided
    /// again only every few seconds (for its baseline and its status row). A site outage
    /// changes health and wakes exactly the services it touches, on the same tick.
    fn quiet(&self, name: &str, generation: u64, now: u64) -> bool {
        self.runtime.get(name).is_some_and(|rt| {
            settled(rt, generation)
                && now.saturating_sub(rt.decided.1) < rt.quiet_for_ms
                && !verify_due(rt, now)
        })
    }

    /// The service's state including writes queued this tick (not yet flushed).
    pub(super) fn effective_state(&self, name: &str) -> Option<ServiceState> {
        self.saves
            .get(name)
            .or_else(|| self.runtime.get(name).map(|rt| &rt.state))
            .cloned()
    }

    /// Logs a hold when it starts (not every tick) and records it in the audit trail.
    fn note_hold(&mut self, name: &str, decision: &Decision) {
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        if decision.held == rt.last_held {
            return;
        }
        rt.last_held = decision.held.clone();
        if let Some(why) = decision.held.clone() {
            let rule = why.split([':', ';']).next().unwrap_or_default().to_string();
            self.holds_started
                .entry(rule)
                .or_default()
                .push(name.to_string());
            self.audit_later(name, "held", &why, serde_json::Value::Null);
        }
    }
}

/// Quiet but for the time since its last decision and a due drift check: that decision (for
/// the same health generation, in `normal`, nothing pending) is what deciding again would
/// give.
fn settled(rt: &Runtime, generation: u64) -> bool {
    let settled = rt
        .last_decision
        .as_ref()
        .is_some_and(|d| d.desired == rt.state.published && d.alert.is_none() && d.held.is_none());
    settled
        && rt.decided.0 == generation
        && rt.state.phase == Phase::Normal
        && rt.state.hold.is_none()
        && rt.state.failback_requested.is_none()
        && rt.hook == HookRun::Idle
        && rt.retry_at_ms.is_none()
        && !rt.metric_pending
        && !rt.sync_pending
        && !matches!(rt.sync, Some((_, SyncStatus::Pending, _)))
        && rt.last_verify_ms.is_some()
}
