//! Reconcile: the control loop that drives the whole flow for every service.
//!
//! probe -> health -> policy -> plan -> provider -> verify, in that order, each tick:
//! probe results feed the [`HealthBook`]; [`crate::policy::decide`] picks the publication;
//! [`crate::plan`] diffs it against the provider's real records; the intent is journaled in the
//! [`Store`] before the provider is called; the result is read back and verified; the audit
//! trail records who changed what and why. Only this module talks to providers and the store.

pub mod clock;
mod hooks;
pub mod metrics;
mod recover;
pub mod status;
mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dnsfailback_provider::{ApplyReceipt, Provider, RecordSet, SyncStatus};
use tokio::sync::mpsc;

use crate::config::{Config, Service};
use crate::health::baseline::{Baseline, BaselineConfig};
use crate::health::{HealthBook, State};
use crate::plan::{desired_sets, diff, Plan};
use crate::policy::command::OperatorCommand;
use crate::policy::{decide, Observed, Phase, Publication, ServiceState};
use crate::probe::ProbeResult;
use crate::state::{AuditEntry, Intent, IntentOutcome, Leadership, Store};
pub use clock::Clock;
pub use status::ServiceStatus;

/// Re-read the provider at least this often even when nothing changed, to notice drift.
const VERIFY_EVERY: Duration = Duration::from_secs(30);

/// How long a failed pre-failback hook waits before it is run again.
const HOOK_RETRY: Duration = Duration::from_secs(5);

/// Longest back-off between two attempts after provider errors.
const MAX_BACKOFF_MS: u64 = 60_000;

/// Shared, read-mostly view of every service, for the admin API.
pub type StatusBoard = Arc<RwLock<BTreeMap<String, ServiceStatus>>>;

struct Runtime {
    state: ServiceState,
    /// The primary's normal latency and error rate, learnt only while the service is normal
    /// and the primary up; frozen (and persisted) when the service leaves normal.
    baseline: Option<Baseline>,
    baseline_seen_ms: u64,
    /// When the baseline was last written to the store (unix ms; 0 = not since start).
    baseline_saved_ms: u64,
    primary_up_since_ms: Option<u64>,
    last_verify_ms: Option<u64>,
    last_error: Option<String>,
    /// The metrics gate's last reading and when it was taken (unix ms).
    metric: Option<(u64, Result<f64, String>)>,
    /// No pre-failback hook run before this time after one failed.
    hook_retry_at_ms: Option<u64>,
    /// Consecutive failed converges, for the back-off.
    failures: u32,
    /// No provider call before this time (unix ms) after a failure.
    retry_at_ms: Option<u64>,
    /// Retry-After from the provider's last error.
    retry_after: Option<std::time::Duration>,
    /// The last applied change and whether the provider serves it everywhere yet.
    sync: Option<(ApplyReceipt, SyncStatus, u64)>,
    last_alert: Option<String>,
}

/// The controller: owns health, per-service state and the providers.
pub struct Controller {
    config: Config,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    store: Arc<dyn Store>,
    leadership: Arc<dyn Leadership>,
    clock: Clock,
    health: HealthBook,
    runtime: BTreeMap<String, Runtime>,
    board: StatusBoard,
    /// Times of recent automatic failovers, for the `max_failovers` cap.
    recent_failovers: Vec<u64>,
    /// The fencing token of the lease the last tick led with (`None` = followed), to notice
    /// taking over, also when the lease was lost and won again in between two ticks.
    led_with: Option<u64>,
}

/// How often the primary's baseline is written to the store while the service is normal.
const BASELINE_SAVE_EVERY_MS: u64 = 5 * 60 * 1000;

/// The baseline saved with the state, or a fresh one.
fn restore_baseline(state: &ServiceState) -> Option<Baseline> {
    let config = BaselineConfig::default();
    match &state.baseline {
        Some(snap) => Baseline::from_snapshot(config, snap.clone()).ok(),
        None => Baseline::new(config).ok(),
    }
}

/// Test-only pause point: `DNSFAILBACK_FAILPOINT=after-intent` stops the controller right
/// after an intent is durable and before the provider is called, so a test can SIGKILL it
/// exactly there.
async fn failpoint(name: &str) {
    if std::env::var("DNSFAILBACK_FAILPOINT").ok().as_deref() == Some(name) {
        tracing::warn!("failpoint {name} reached; pausing forever");
        std::future::pending::<()>().await;
    }
}

impl Controller {
    /// A controller for `config`, loading each service's persisted state from `store`.
    pub async fn new(
        config: Config,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        store: Arc<dyn Store>,
        leadership: Arc<dyn Leadership>,
        clock: Clock,
    ) -> Result<Self, crate::state::StoreError> {
        let mut health = HealthBook::new(config.services.values());
        let c = &config.controller;
        health.set_vantage(c.vantage_quorum, &c.agents, c.agent_stale_after);
        let mut runtime = BTreeMap::new();
        for name in config.services.keys() {
            let state = store.service_state(name).await?.unwrap_or_default();
            let restored = restore_baseline(&state);
            runtime.insert(
                name.clone(),
                Runtime {
                    state,
                    baseline: restored,
                    baseline_seen_ms: 0,
                    baseline_saved_ms: 0,
                    primary_up_since_ms: None,
                    last_verify_ms: None,
                    last_error: None,
                    hook_retry_at_ms: None,
                    metric: None,
                    failures: 0,
                    retry_at_ms: None,
                    retry_after: None,
                    sync: None,
                    last_alert: None,
                },
            );
        }
        let ctl = Controller {
            config,
            providers,
            store,
            leadership,
            clock,
            health,
            runtime,
            board: StatusBoard::default(),
            recent_failovers: Vec::new(),
            led_with: None,
        };
        // Every configured service is on the board from the start (the admin API serves
        // before the first tick has run), with its persisted phase and unknown health.
        for service in ctl.config.services.values() {
            let health = ctl.health.service(&service.name);
            ctl.publish_status(service, &health, None);
        }
        Ok(ctl)
    }

    /// The status board the admin API reads.
    pub fn board(&self) -> StatusBoard {
        self.board.clone()
    }

    /// Feeds one probe result into health.
    pub fn observe(&mut self, result: &ProbeResult) {
        self.health.observe(result, self.clock.now_ms());
    }

    /// Resolves intents left open by a crash, then runs forever: results in, a reconcile pass
    /// every `tick`. Returns when `results` closes or `shutdown` fires.
    pub async fn run(
        mut self,
        mut results: mpsc::Receiver<ProbeResult>,
        mut commands: mpsc::Receiver<OperatorCommand>,
        mut agent_reports: mpsc::Receiver<crate::health::agent::AgentReport>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        // Open intents are resolved by the first tick as leader (see `tick`).
        let mut tick = tokio::time::interval(self.config.controller.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = results.recv() => match r {
                    Some(r) => self.observe(&r),
                    None => return,
                },
                Some(r) = agent_reports.recv() => self.agent_report(&r),
                Some(c) = commands.recv() => {
                    let answer = self.command(&c.service, c.op.clone(), &c.actor).await;
                    let _ = c.reply.send(answer);
                }
                _ = tick.tick() => self.tick().await,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Feeds one remote agent's report into the targets' vantage quorums.
    pub fn agent_report(&mut self, report: &crate::health::agent::AgentReport) {
        self.health
            .report_agent(report, tokio::time::Instant::now());
    }

    /// One reconcile pass over every service, as the leader; a follower only follows.
    pub async fn tick(&mut self) {
        self.health.evaluate(tokio::time::Instant::now());
        let leader = self.leadership.is_leader();
        let token = self.leadership.fencing_token();
        if leader && self.led_with != Some(token) {
            self.take_over().await;
        }
        self.led_with = leader.then_some(token);
        let names: Vec<String> = self.config.services.keys().cloned().collect();
        if !leader {
            self.follow(&names).await;
            return;
        }
        for name in names {
            self.reconcile(&name).await;
        }
    }

    /// Becoming the lease holder (at start-up, or after another controller's lease lapsed):
    /// the shared store, not this process's memory, is the truth. Reload every service's
    /// state and baseline, then resolve intents a previous leader left open.
    async fn take_over(&mut self) {
        let names: Vec<String> = self.config.services.keys().cloned().collect();
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
                rt.baseline = restore_baseline(&state);
                rt.baseline_seen_ms = 0;
                rt.baseline_saved_ms = 0;
                rt.state = state;
            }
        }
        tracing::info!(
            token = self.leadership.fencing_token(),
            "leading: state reloaded from the store"
        );
        self.recover_open_intents().await;
    }

    /// A follower keeps its health view current (it probes too) and shows the leader's state
    /// from the shared store, so `status` on any controller tells the truth.
    /// One read of the shared store per tick, whatever the number of services.
    async fn follow(&mut self, names: &[String]) {
        match self.store.service_states(names).await {
            Ok(states) => {
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
        let holder = self
            .leadership
            .holder()
            .unwrap_or_else(|| "nobody yet".into());
        for name in names {
            let Some(service) = self.config.services.get(name).cloned() else {
                continue;
            };
            let health = self.health.service(name);
            let note = crate::policy::Decision {
                state: self
                    .runtime
                    .get(name)
                    .map(|r| r.state.clone())
                    .unwrap_or_default(),
                desired: None,
                reason: format!("follower: changes are made by the lease holder `{holder}`"),
                alert: None,
                held: None,
                hook: None,
            };
            self.publish_status(&service, &health, Some(&note));
        }
    }

    fn provider(&self, service: &Service) -> Option<Arc<dyn Provider>> {
        self.providers.get(&service.provider).cloned()
    }

    async fn reconcile(&mut self, name: &str) {
        let Some(service) = self.config.services.get(name).cloned() else {
            return;
        };
        let now = self.clock.now_ms();
        let health = self.health.service(name);
        let primary = service.primary().name.clone();
        let primary_up = health
            .iter()
            .any(|h| h.target == primary && h.state == State::Up);
        let Some(provider) = self.provider(&service) else {
            return;
        };
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        rt.primary_up_since_ms = match (primary_up, rt.primary_up_since_ms) {
            (true, Some(s)) => Some(s),
            (true, None) => Some(now),
            (false, _) => None,
        };
        // Learn the primary's normal latency and error rate only while all is well.
        if rt.state.phase == Phase::Normal {
            let fresh = self
                .health
                .samples_since(name, &primary, rt.baseline_seen_ms + 1);
            let state = if primary_up { State::Up } else { State::Down };
            if let Some(rt) = self.runtime.get_mut(name) {
                if let Some(b) = rt.baseline.as_mut() {
                    for (at, ok, latency) in fresh {
                        b.observe(ok, Duration::from_millis(latency), at, state, false);
                    }
                }
                rt.baseline_seen_ms = now;
            }
            self.save_baseline(name, now, primary_up).await;
        }
        if let Err(e) = self.ensure_original_ttl(&service, provider.as_ref()).await {
            self.set_error(name, e);
            self.publish_status(&service, &health, None);
            return;
        }
        self.read_metric(&service, now).await;
        let Some(rt) = self.runtime.get(name) else {
            return;
        };
        let step_since = match rt.state.phase {
            Phase::Canary { since_ms, .. } => since_ms,
            _ => now,
        };
        let obs = Observed {
            health: &health,
            primary_up_since_ms: rt.primary_up_since_ms,
            now_ms: now,
            step_stats: self.health.stats_since(name, &primary, step_since),
            baseline_p95_ms: rt
                .baseline
                .as_ref()
                .filter(|b| b.is_warm())
                .and_then(|b| b.latency_p95())
                .map(|d| d.as_millis() as u64),
            metric: rt.metric.as_ref().map(|(_, m)| m.clone()),
        };
        let mut decision = decide(&service, &rt.state, &obs);
        if decision.alert.is_some() && decision.alert != rt.last_alert {
            tracing::error!(
                service = name,
                "{}",
                decision.alert.clone().unwrap_or_default()
            );
            let action = if decision.state.phase.label() == "all_down" {
                "all_down"
            } else {
                "alert"
            };
            self.audit(
                name,
                action,
                decision.alert.as_deref().unwrap_or_default(),
                &health,
                None,
            )
            .await;
        }
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.last_alert = decision.alert.clone();
        }
        let current = self
            .runtime
            .get(name)
            .map(|r| r.state.clone())
            .unwrap_or_default();
        if let Some(why) = self.failover_cap(&current, &decision, now) {
            decision.held = Some(why);
            decision.desired = current.published.clone();
            decision.state = current.clone();
        }
        let phase_changes = decision.state.phase != current.phase;
        if let Some(point) = decision
            .hook
            .filter(|p| *p == crate::policy::HookPoint::PreFailback && phase_changes)
        {
            let retry_at = self
                .runtime
                .get(name)
                .and_then(|r| r.hook_retry_at_ms)
                .filter(|t| *t > now);
            let outcome = match retry_at {
                // A failed pre-failback hook is retried every HOOK_RETRY, not every tick.
                Some(t) => Err(format!(
                    "pre_failback_hook failed; next try in {}s",
                    (t - now).div_ceil(1000)
                )),
                None => self.run_hook(&service, point, &health).await,
            };
            if let Err(e) = outcome {
                if retry_at.is_none() {
                    if let Some(rt) = self.runtime.get_mut(name) {
                        rt.hook_retry_at_ms = Some(now + HOOK_RETRY.as_millis() as u64);
                    }
                }
                decision.held = Some(e);
                decision.desired = current.published.clone();
                decision.state = current.clone();
            } else if let Some(rt) = self.runtime.get_mut(name) {
                rt.hook_retry_at_ms = None;
            }
        }
        let verify_due = self
            .runtime
            .get(name)
            .and_then(|r| r.last_verify_ms)
            .is_none_or(|t| now.saturating_sub(t) >= VERIFY_EVERY.as_millis() as u64);
        let backoff_until = self
            .runtime
            .get(name)
            .and_then(|r| r.retry_at_ms)
            .filter(|t| *t > now);
        let result = match &decision.desired {
            Some(_) if backoff_until.is_some() => {
                let wait = backoff_until.unwrap_or(now).saturating_sub(now);
                decision.held = Some(format!(
                    "backing off after a provider error; next attempt in {}s",
                    wait.div_ceil(1000)
                ));
                Ok(())
            }
            Some(desired) if Some(desired) != current.published.as_ref() || verify_due => {
                self.converge(&service, provider.as_ref(), desired, &decision, &health)
                    .await
            }
            _ => self.save_state(name, decision.state.clone()).await,
        };
        let applied_step = result.is_ok()
            && backoff_until.is_none()
            && phase_changes
            && decision.held.is_none()
            && decision.hook == Some(crate::policy::HookPoint::PostStep);
        if applied_step {
            // After the step is published and verified: warm caches, notify.
            let _ = self
                .run_hook(&service, crate::policy::HookPoint::PostStep, &health)
                .await;
        }
        match result {
            Ok(()) => {
                self.mark_lowered(name, now).await;
                if backoff_until.is_none() {
                    if let Some(rt) = self.runtime.get_mut(name) {
                        rt.last_error = None;
                        rt.failures = 0;
                        rt.retry_at_ms = None;
                    }
                }
            }
            Err(e) => {
                if let Some(rt) = self.runtime.get_mut(name) {
                    // Exponential back-off (1 s, 2 s, 4 s ... 60 s), or the provider's own
                    // Retry-After, so a rate-limited provider is not hammered every tick.
                    rt.failures = rt.failures.saturating_add(1);
                    let exp = 1000u64.saturating_mul(1 << rt.failures.min(7).saturating_sub(1));
                    let delay = rt
                        .retry_after
                        .take()
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(exp)
                        .min(MAX_BACKOFF_MS);
                    rt.retry_at_ms = Some(now + delay);
                }
                self.set_error(name, e)
            }
        }
        self.poll_sync(&service, provider.as_ref(), now).await;
        self.publish_status(&service, &health, Some(&decision));
    }

    /// Follows an applied change until the provider reports it served everywhere (Route 53
    /// INSYNC, RFC 2136 secondaries at the new serial); polled at most every 5 s, shown in status.
    async fn poll_sync(&mut self, service: &Service, provider: &dyn Provider, now: u64) {
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        let Some((receipt, status, polled)) = rt.sync.clone() else {
            return;
        };
        if status == SyncStatus::InSync || now.saturating_sub(polled) < 5000 {
            return;
        }
        match provider.sync_status(&receipt).await {
            Ok(st) => {
                if st == SyncStatus::InSync {
                    tracing::info!(service = %service.name, "change {} is served everywhere", receipt.change_id.clone().unwrap_or_default());
                }
                if let Some(rt) = self.runtime.get_mut(&service.name) {
                    rt.sync = Some((receipt, st, now));
                }
            }
            Err(e) => {
                tracing::warn!(service = %service.name, "cannot read change status: {e}");
                if let Some(rt) = self.runtime.get_mut(&service.name) {
                    rt.sync = Some((receipt, status, now));
                }
            }
        }
    }

    /// During a canary, reads the metrics gate's number (at most every 5 s); outside a canary
    /// forgets it, so a stale reading never judges a later step.
    async fn read_metric(&mut self, service: &Service, now: u64) {
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        let (Phase::Canary { .. }, Some(gate)) = (&rt.state.phase, &service.canary.gates.metric)
        else {
            rt.metric = None;
            return;
        };
        if rt
            .metric
            .as_ref()
            .is_some_and(|(at, _)| now.saturating_sub(*at) < 5000)
        {
            return;
        }
        let reading = metrics::fetch(&gate.url).await;
        if let Err(e) = &reading {
            tracing::warn!(service = %service.name, "{e}");
        }
        if let Some(rt) = self.runtime.get_mut(&service.name) {
            rt.metric = Some((now, reading));
        }
    }

    /// The safety cap on automatic failovers across all services: too many in the window is a
    /// sign of a wider problem (often our own network), so further ones are held back.
    fn failover_cap(
        &mut self,
        current: &ServiceState,
        decision: &crate::policy::Decision,
        now: u64,
    ) -> Option<String> {
        let automatic_failover = matches!(
            current.phase,
            Phase::Normal | Phase::Restoring { .. } | Phase::Canary { .. }
        ) && matches!(
            decision.state.phase,
            Phase::FailedOver { manual: false, .. }
        );
        if !automatic_failover {
            return None;
        }
        let window = self.config.controller.max_failovers_window.as_millis() as u64;
        self.recent_failovers
            .retain(|t| now.saturating_sub(*t) < window);
        if self.recent_failovers.len() >= self.config.controller.max_failovers {
            return Some(format!(
                "max_failovers: {} automatic failovers in the last {}s across all services; holding this one (check the controller's own network)",
                self.recent_failovers.len(),
                window / 1000
            ));
        }
        None
    }

    /// A planned switch measures the old TTL's expiry from the moment the lowered TTL was
    /// verified at the provider.
    async fn mark_lowered(&mut self, name: &str, now: u64) {
        let Some(rt) = self.runtime.get(name) else {
            return;
        };
        // Only a lowered TTL that is really published (not a back-off tick) starts the wait.
        let failover_ttl = self
            .config
            .services
            .get(name)
            .map(|s| s.failover_ttl)
            .unwrap_or(0);
        if !matches!(&rt.state.published, Some(p) if p.ttl() <= failover_ttl) {
            return;
        }
        if let Phase::Lowering {
            to,
            old_ttl,
            lowered_at_ms: None,
        } = &rt.state.phase
        {
            let mut st = rt.state.clone();
            st.phase = Phase::Lowering {
                to: to.clone(),
                old_ttl: *old_ttl,
                lowered_at_ms: Some(now),
            };
            if let Err(e) = self.save_state(name, st).await {
                self.set_error(name, e);
            }
        }
    }

    /// Applies an operator command to a service's state; the next tick acts on it.
    pub async fn command(
        &mut self,
        service: &str,
        op: crate::policy::command::Operation,
        actor: &str,
    ) -> Result<String, String> {
        let Some(svc) = self.config.services.get(service).cloned() else {
            return Err(format!("no service named `{service}`"));
        };
        if !self.leadership.is_leader() {
            return Err(format!(
                "this controller is a follower; send the command to the lease holder `{}`",
                self.leadership
                    .holder()
                    .unwrap_or_else(|| "(none yet)".into())
            ));
        }
        let now = self.clock.now_ms();
        let health = self.health.service(service);
        let current = self
            .runtime
            .get(service)
            .map(|r| r.state.clone())
            .unwrap_or_default();
        let (next, message) =
            crate::policy::operate::apply(&svc, &current, &op, actor, now, &health)?;
        self.save_state(service, next).await?;
        let entry = AuditEntry {
            at_ms: now,
            service: service.to_string(),
            actor: actor.to_string(),
            action: op.verb().to_string(),
            reason: message.clone(),
            evidence: serde_json::to_value(&health).unwrap_or_default(),
            changes: None,
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!("cannot write the audit trail: {e}");
        }
        tracing::info!(service, actor, "operator {}: {message}", op.verb());
        self.reconcile(service).await;
        Ok(message)
    }

    fn set_error(&mut self, name: &str, e: String) {
        tracing::warn!(service = name, "{e}");
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.last_error = Some(e);
        }
    }

    /// Records the original TTL durably before the controller could ever lower it.
    async fn ensure_original_ttl(
        &mut self,
        service: &Service,
        provider: &dyn Provider,
    ) -> Result<(), String> {
        let Some(rt) = self.runtime.get(&service.name) else {
            return Ok(());
        };
        if rt.state.original_ttl.is_some() {
            return Ok(());
        }
        let observed = provider
            .read(&service.zone, &service.record, service.rtype)
            .await
            .map_err(|e| format!("cannot read {} {}: {e}", service.record, service.rtype))?;
        let ttl = observed.iter().map(|s| s.ttl).max().unwrap_or(service.ttl);
        let mut state = rt.state.clone();
        state.original_ttl = Some(ttl);
        self.save_state(&service.name, state).await?;
        tracing::info!(service = %service.name, "recorded original TTL {ttl}");
        Ok(())
    }

    /// Persists the primary's baseline with the state: every [`BASELINE_SAVE_EVERY_MS`] while
    /// all is well, and at once when the primary stops being up (an incident may be starting,
    /// and the canary after it needs the normal from before it). A restart, in any phase, then
    /// resumes with a warm baseline instead of relearning it.
    async fn save_baseline(&mut self, name: &str, now: u64, primary_up: bool) {
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        let due = now.saturating_sub(rt.baseline_saved_ms) >= BASELINE_SAVE_EVERY_MS;
        if !due && primary_up {
            return; // the common case on every tick: no copy, no write
        }
        let Some(snapshot) = rt.baseline.as_ref().map(|b| b.snapshot().clone()) else {
            return;
        };
        if rt.state.baseline.as_ref() == Some(&snapshot) {
            return;
        }
        rt.baseline_saved_ms = now;
        let mut state = rt.state.clone();
        state.baseline = Some(snapshot);
        if let Err(e) = self.save_state(name, state).await {
            tracing::warn!(service = name, error = %e, "could not save the baseline; retrying later");
        }
    }

    async fn save_state(&mut self, name: &str, state: ServiceState) -> Result<(), String> {
        let Some(rt) = self.runtime.get_mut(name) else {
            return Ok(());
        };
        if rt.state == state {
            return Ok(());
        }
        let phase_changed = rt.state.phase != state.phase;
        self.store
            .save_service_state(name, &state)
            .await
            .map_err(|e| e.to_string())?;
        let old = std::mem::replace(&mut rt.state, state);
        if phase_changed {
            tracing::info!(
                service = name,
                "phase {} -> {}",
                old.phase.label(),
                rt.state.phase.label()
            );
        }
        Ok(())
    }

    /// Reads, plans, journals, applies and verifies one service's records.
    async fn converge(
        &mut self,
        service: &Service,
        provider: &dyn Provider,
        desired: &Publication,
        decision: &crate::policy::Decision,
        health: &[crate::health::TargetHealth],
    ) -> Result<(), String> {
        let now = self.clock.now_ms();
        let observed = provider
            .read(&service.zone, &service.record, service.rtype)
            .await
            .map_err(|e| format!("cannot read current records: {e}"))?;
        let weighted = provider.capabilities().weighted;
        let want = desired_sets(service, desired, weighted);
        let plan = Plan::new(
            &service.name,
            diff(&service.zone, &observed, &want),
            &provider.capabilities(),
        );
        if let Some(rt) = self.runtime.get_mut(&service.name) {
            rt.last_verify_ms = Some(now);
        }
        let mut next = decision.state.clone();
        next.published = Some(desired.clone());
        if plan.is_noop() {
            return self.save_state(&service.name, next).await;
        }
        if !plan.is_valid() {
            self.audit(
                &service.name,
                "plan_invalid",
                &plan.problems.join("; "),
                health,
                Some(&plan),
            )
            .await;
            return Err(format!(
                "plan not applied, it is invalid: {}",
                plan.problems.join("; ")
            ));
        }
        if !self.leadership.is_leader() {
            return Err("not the leader: changes are left to the lease holder".into());
        }
        let drift = Some(desired)
            == self
                .runtime
                .get(&service.name)
                .and_then(|r| r.state.published.as_ref());
        let moves_traffic = self
            .runtime
            .get(&service.name)
            .is_some_and(|r| r.state.phase != next.phase);
        if moves_traffic {
            // Only traffic moves count for min_change_interval; a first publish or a drift
            // correction must not delay the next failover.
            next.last_change_ms = Some(now);
        }
        let intent = Intent {
            id: 0,
            service: service.name.clone(),
            created_ms: now,
            fencing_token: self.leadership.fencing_token(),
            reason: if drift {
                format!("drift corrected: {}", decision.reason)
            } else {
                decision.reason.clone()
            },
            changes: plan.changes.clone(),
            next_state: next,
        };
        let id = self
            .store
            .begin_intent(&intent)
            .await
            .map_err(|e| e.to_string())?;
        failpoint("after-intent").await;
        self.execute(service, provider, &intent, id, health).await
    }

    /// Applies a journaled intent, verifies it by reading back, closes it and saves the state.
    async fn execute(
        &mut self,
        service: &Service,
        provider: &dyn Provider,
        intent: &Intent,
        id: i64,
        health: &[crate::health::TargetHealth],
    ) -> Result<(), String> {
        let plan = Plan {
            service: service.name.clone(),
            changes: intent.changes.clone(),
            problems: Vec::new(),
        };
        let receipt = provider.apply(&intent.changes).await;
        if let Err(e) = &receipt {
            if let Some(rt) = self.runtime.get_mut(&service.name) {
                rt.retry_after = e.retry_after;
            }
            let msg = format!("apply failed: {e}");
            self.store
                .finish_intent(id, IntentOutcome::Failed, Some(&msg))
                .await
                .map_err(|e| e.to_string())?;
            self.audit(&service.name, "apply_failed", &msg, health, Some(&plan))
                .await;
            return Err(msg);
        }
        let want: Vec<RecordSet> = intent
            .changes
            .changes
            .iter()
            .filter_map(|c| c.after().cloned())
            .collect();
        if let Err(msg) = verify::read_back(provider, service, &want).await {
            self.store
                .finish_intent(id, IntentOutcome::Failed, Some(&msg))
                .await
                .map_err(|e| e.to_string())?;
            self.audit(&service.name, "verify_failed", &msg, health, Some(&plan))
                .await;
            return Err(msg);
        }
        self.store
            .finish_intent(id, IntentOutcome::Applied, None)
            .await
            .map_err(|e| e.to_string())?;
        if let (Ok(r), Some(rt)) = (receipt, self.runtime.get_mut(&service.name)) {
            if provider.capabilities().change_status {
                rt.sync = Some((r, SyncStatus::Pending, 0));
            }
        }
        let action = action_for(
            &intent.next_state.phase,
            self.runtime.get(&service.name).map(|r| &r.state.phase),
        );
        tracing::info!(service = %service.name, action, "{}", intent.reason);
        if action == "failover"
            && matches!(
                intent.next_state.phase,
                Phase::FailedOver { manual: false, .. }
            )
        {
            // Only failovers that really happened count toward max_failovers.
            self.recent_failovers.push(intent.created_ms);
        }
        self.audit(&service.name, action, &intent.reason, health, Some(&plan))
            .await;
        self.save_state(&service.name, intent.next_state.clone())
            .await
    }

    async fn audit(
        &self,
        service: &str,
        action: &str,
        reason: &str,
        health: &[crate::health::TargetHealth],
        plan: Option<&Plan>,
    ) {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            service: service.to_string(),
            actor: "controller".into(),
            action: action.to_string(),
            reason: reason.to_string(),
            evidence: serde_json::to_value(health).unwrap_or_default(),
            changes: plan.map(|p| p.changes.clone()),
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!("cannot write the audit trail: {e}");
        }
    }

    fn publish_status(
        &self,
        service: &Service,
        health: &[crate::health::TargetHealth],
        decision: Option<&crate::policy::Decision>,
    ) {
        let Some(rt) = self.runtime.get(&service.name) else {
            return;
        };
        let published_values = rt
            .state
            .published
            .as_ref()
            .map(|p| {
                desired_sets(service, p, true)
                    .into_iter()
                    .flat_map(|s| s.values)
                    .collect()
            })
            .unwrap_or_default();
        let ttl_restore_at_ms = match rt.state.phase {
            Phase::Restoring { since_ms } => {
                Some(since_ms + service.restore_ttl_after.as_millis() as u64)
            }
            _ => None,
        };
        let targets = service
            .targets
            .iter()
            .zip(health)
            .map(|(t, h)| status::TargetStatus::from_health(h, t.priority, t.values.clone()))
            .collect();
        let st = ServiceStatus {
            service: service.name.clone(),
            record: service.record.to_string(),
            rtype: service.rtype.to_string(),
            provider: service.provider.clone(),
            phase: rt.state.phase.clone(),
            published: rt.state.published.clone(),
            published_values,
            original_ttl: rt.state.original_ttl,
            ttl_restore_at_ms,
            targets,
            reason: decision.map(|d| d.reason.clone()).unwrap_or_default(),
            alert: decision.and_then(|d| d.alert.clone()),
            held: decision.and_then(|d| d.held.clone()),
            frozen: rt.state.hold.clone(),
            last_error: rt.last_error.clone(),
            partition: match self.health.partition() {
                crate::health::partition::PartitionStatus::Clear => None,
                crate::health::partition::PartitionStatus::Suspected { down_fraction, services, .. } => Some(format!(
                    "{:.0} % of all targets of {services:?} failed at once from here: the controller's own network is suspected; local evidence alone moves no traffic",
                    down_fraction * 100.0
                )),
            },
            baseline: rt.baseline.as_ref().map(status::BaselineStatus::of),
            lease: self.config.controller.etcd.as_ref().map(|_| status::LeaseStatus {
                holder: self.leadership.holder(),
                leading: self.leadership.is_leader(),
                token: self.leadership.fencing_token(),
            }),
            provider_sync: rt.sync.as_ref().map(|(r, st, _)| {
                format!(
                    "{} {}",
                    r.change_id.clone().unwrap_or_else(|| "last change".into()),
                    if *st == SyncStatus::InSync {
                        "in sync"
                    } else {
                        "pending"
                    }
                )
            }),
        };
        if let Ok(mut board) = self.board.write() {
            board.insert(service.name.clone(), st);
        }
    }
}

fn action_for(next: &Phase, current: Option<&Phase>) -> &'static str {
    match (current, next) {
        (Some(Phase::Restoring { .. }), Phase::Normal) => "ttl_restore",
        (Some(Phase::Lowering { .. }), Phase::Normal) => "abort",
        (Some(Phase::Canary { .. }), Phase::FailedOver { .. }) => "rollback",
        (_, Phase::FailedOver { .. }) => "failover",
        (Some(Phase::Canary { .. }), Phase::Canary { .. }) => "canary_step",
        (_, Phase::Canary { .. }) => "failback",
        (Some(Phase::Canary { .. }), Phase::Restoring { .. }) => "canary_complete",
        (Some(Phase::FailedOver { .. } | Phase::AllDown { .. }), Phase::Restoring { .. }) => {
            "failback"
        }
        (_, Phase::Lowering { .. }) => "ttl_lower",
        (_, Phase::AllDown { .. }) => "all_down",
        _ => "publish",
    }
}
