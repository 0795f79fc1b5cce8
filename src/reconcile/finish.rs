//! Folding background results into the loop: zone jobs, hooks, metric and propagation reads.
//!
//! The last step of the flow (provider -> verify -> **record**): a zone job has already
//! journaled, applied, verified, audited and saved; here the loop takes the saved states into
//! memory, backs off the services whose change failed, starts post-step hooks and follows
//! propagation. Runs between ticks, so it never races a decision.

use dnsfailback_provider::SyncStatus;

use super::counters::ActionLabel;
use super::runtime::HookRun;
use super::zone::{ItemOutcome, ZoneDone};
use super::{Controller, Done};
use crate::policy::HookPoint;

/// From this many results on, one zone job is logged as a summary, not line by line.
const LOG_EACH_UP_TO: usize = 20;

/// How long a failed pre-failback hook waits before it is run again.
const HOOK_RETRY_MS: u64 = 5_000;

impl Controller {
    /// Takes one finished piece of background work into the loop's state.
    pub(super) async fn finish(&mut self, done: Done) {
        self.pending = self.pending.saturating_sub(1);
        // Whatever came back, its service is decided on the next tick even if it looks quiet.
        match &done {
            Done::Zone(_) | Done::Governed(_) => {} // they wake the services that moved
            Done::Hook { service, .. }
            | Done::Metric { service, .. }
            | Done::Sync { service, .. } => self.wake(service),
            Done::ProviderRead { .. } => {} // wakes the services it lets retry
        }
        match done {
            Done::Zone(z) => self.finish_zone(z).await,
            Done::Governed(g) => self.govern_done(g),
            Done::Hook {
                service,
                point,
                result,
                took_s,
            } => self.finish_hook(&service, point, result, took_s).await,
            Done::Metric {
                service,
                at_ms,
                reading,
            } => {
                if let Err(e) = &reading {
                    tracing::warn!(service = %service, "{e}");
                }
                if let Some(rt) = self.runtime.get_mut(&service) {
                    rt.metric_pending = false;
                    rt.metric = Some((at_ms, reading));
                }
            }
            Done::Sync {
                service,
                status,
                at_ms,
            } => self.finish_sync(&service, status, at_ms),
            Done::ProviderRead {
                provider,
                ok,
                at_ms,
            } => self.finish_provider_read(&provider, ok, at_ms),
        }
    }

    async fn finish_zone(&mut self, done: ZoneDone) {
        self.zones_busy
            .remove(&(done.provider_name.clone(), done.zone.clone()));
        let now = self.clock.now_ms();
        let change_status = self
            .providers
            .get(&done.provider_name)
            .is_some_and(|p| p.capabilities().change_status);
        let many = done.results.len() > LOG_EACH_UP_TO;
        let mut changed: std::collections::BTreeMap<&'static str, usize> = Default::default();
        let mut failed = 0usize;
        let mut first_error: Option<String> = None;
        let counters = self.board.counters().clone();
        for r in done.results {
            // A drift check that found the records right and moved nothing leaves the
            // service as quiet as it was: waking it would re-decide every service of the zone
            // on one tick after each check (10,000 decisions every 30 s, a 15 MB burst).
            let nothing_moved = matches!(r.outcome, ItemOutcome::Unchanged)
                && self
                    .runtime
                    .get(&r.service)
                    .is_some_and(|rt| rt.state == r.state && rt.failures == 0);
            if !nothing_moved {
                self.wake(&r.service);
            }
            let Some(rt) = self.runtime.get_mut(&r.service) else {
                continue;
            };
            rt.in_flight = false;
            rt.last_verify_ms = Some(now);
            match r.outcome {
                ItemOutcome::Unchanged => {
                    rt.succeeded();
                    self.adopt_state(&r.service, r.state);
                }
                ItemOutcome::Changed { receipt } => {
                    rt.succeeded();
                    rt.totals.count(r.action, rt.primary_down_since_ms, now);
                    rt.event_pending = false;
                    if change_status {
                        rt.sync = Some((receipt, SyncStatus::Pending, 0));
                    }
                    if !many {
                        log_change(&r.service, r.action, &r.state, &r.reason);
                    }
                    *changed.entry(r.action).or_default() += 1;
                    counters
                        .changes
                        .get_or_create(&ActionLabel { action: r.action })
                        .inc();
                    self.adopt_state(&r.service, r.state);
                }
                ItemOutcome::Failed(f) => {
                    failed += 1;
                    counters.change_failures.inc();
                    let message = self.fold_failure(&r.service, f, now, many);
                    if many {
                        first_error.get_or_insert(message);
                    }
                    continue;
                }
            }
            if r.post_step {
                if let Some(service) = self.service(&r.service) {
                    self.start_hook(&service, HookPoint::PostStep);
                }
            }
            self.mark_lowered(&r.service, now);
        }
        self.flush().await;
        log_summary(
            &done.provider_name,
            &done.zone,
            many,
            &changed,
            failed,
            first_error,
        );
    }

    /// A service's change failed: an error retrying cannot heal stops its provider calls
    /// until an operator acts; any other backs off. Shown in status (logged one by one only
    /// for small jobs: a big one logs one summary line). Returns the message.
    fn fold_failure(
        &mut self,
        service: &str,
        f: super::zone::Failure,
        now: u64,
        many: bool,
    ) -> String {
        let Some(rt) = self.runtime.get_mut(service) else {
            return f.message;
        };
        let stopped_before = rt.needs_operator.is_some();
        let message = super::error_policy::follow(rt, f.kind, &f.message, f.retry_after, now);
        if rt.needs_operator.is_none() {
            self.watch_provider(service, f.kind, now);
        } else if !stopped_before {
            // Once per stop, for the audit trail and the notifiers (`needs_operator`).
            self.audit_later(service, "needs_operator", &message, serde_json::Value::Null);
        }
        if many {
            if let Some(rt) = self.runtime.get_mut(service) {
                rt.last_error = Some(message.clone());
            }
        } else {
            self.set_error(service, message.clone());
        }
        message
    }

    async fn finish_hook(
        &mut self,
        name: &str,
        point: HookPoint,
        result: Result<String, String>,
        took_s: f64,
    ) {
        let hook_name = match point {
            HookPoint::PreFailback => "pre_failback_hook",
            HookPoint::PostStep => "post_step_hook",
        };
        let now = self.clock.now_ms();
        let (action, text) = match &result {
            Ok(out) => (
                hook_name.to_string(),
                format!("passed in {took_s:.1}s: {out}"),
            ),
            Err(e) => {
                tracing::warn!(service = name, "{hook_name} failed: {e}");
                (format!("{hook_name}_failed"), e.clone())
            }
        };
        self.audit_later(name, &action, &text, serde_json::Value::Null);
        if point == HookPoint::PreFailback {
            if let Some(rt) = self.runtime.get_mut(name) {
                rt.hook = match result {
                    Ok(_) => HookRun::Passed,
                    Err(e) => HookRun::Failed {
                        retry_at_ms: now + HOOK_RETRY_MS,
                        why: format!("{hook_name} failed, failback waits: {e}"),
                    },
                };
            }
        }
        self.flush().await;
    }

    fn finish_sync(&mut self, name: &str, status: Result<SyncStatus, String>, at_ms: u64) {
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        rt.sync_pending = false;
        let Some((receipt, old, _)) = rt.sync.clone() else {
            return;
        };
        let st = match status {
            Ok(st) => {
                if st == SyncStatus::InSync && old == SyncStatus::Pending {
                    self.count_propagation(name, at_ms);
                }
                if st == SyncStatus::InSync {
                    tracing::info!(
                        service = name,
                        "change {} is served everywhere",
                        receipt.change_id.clone().unwrap_or_default()
                    );
                }
                st
            }
            Err(e) => {
                tracing::warn!(service = name, "cannot read change status: {e}");
                old
            }
        };
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.sync = Some((receipt, st, at_ms));
        }
    }

    /// The provider says the last change of `name` is served everywhere, seen by the read
    /// started at `at_ms`: the time since the change was decided, by provider.
    fn count_propagation(&self, name: &str, at_ms: u64) {
        let (Some(rt), Some(service)) = (self.runtime.get(name), self.services.get(name)) else {
            return;
        };
        let Some(changed) = rt.state.last_change_ms else {
            return;
        };
        let took = at_ms.saturating_sub(changed) as f64 / 1000.0;
        self.board
            .counters()
            .provider_propagation_seconds
            .get_or_create(&super::counters::ProviderLabel {
                provider: service.provider.clone(),
            })
            .observe(took);
    }
}

/// A big zone job's one-line summary: what changed together, and how many failed with the
/// first error (small jobs log each service instead).
fn log_summary(
    provider: &str,
    zone: &dnsfailback_provider::Fqdn,
    many: bool,
    changed: &std::collections::BTreeMap<&'static str, usize>,
    failed: usize,
    first_error: Option<String>,
) {
    if many && !changed.is_empty() {
        tracing::info!(zone = %zone, provider = %provider, "zone changed together: {changed:?}");
    }
    if let Some(e) = first_error {
        tracing::warn!(
            zone = %zone,
            provider = %provider,
            "{failed} services not changed; backing off. First error: {e}"
        );
    }
}

/// One line per change, with the fields a log shipper indexes: `service`, `action`, `phase`,
/// `target` (where the answer now points) and `reason` (once: not repeated as the message).
fn log_change(service: &str, action: &str, state: &crate::policy::ServiceState, reason: &str) {
    let target = state.published.as_ref().map(|p| p.target_label());
    tracing::info!(
        service = %service,
        action = action,
        phase = state.phase.label(),
        target = target.as_deref().unwrap_or("-"),
        reason = %reason,
        "DNS changed"
    );
}
