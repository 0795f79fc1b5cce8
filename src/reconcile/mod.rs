//! Reconcile: the control loop that drives the whole flow for every service.
//!
//! probe -> health -> policy -> plan -> provider -> verify. Probe results feed the
//! [`HealthBook`]; every tick the loop evaluates all health at once (one self-suspicion verdict
//! for all services), decides every service (`prepare.rs`: pure policy plus the loop's safety
//! rules, never waiting on the network), and hands the services that need a change to one
//! zone job (`zone.rs`) per `(provider, zone)`, which plans, journals, applies, verifies and audits
//! them together as its own task. Hooks and metric reads run as tasks too. Their results come
//! back on a channel, so one service's slow hook or one slow provider never delays another
//! service's failover. Only this module talks to providers and the store.

pub mod clock;
mod command;
mod converge;
pub mod counters;
mod dry_run;
mod error_policy;
mod events;
mod finish;
mod gates;
mod govern;
mod hooks;
mod lead;
pub mod metrics;
mod mirror;
mod prepare;
mod provider_calls;
mod provider_watch;
mod publish;
mod recover;
mod reload;
mod runtime;
pub mod status;
mod sync_share;
mod verify;
mod writes;
mod zone;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dnsfailback_provider::{Fqdn, Provider};
use tokio::sync::mpsc;

use crate::config::{Config, Service};
use crate::health::HealthBook;
use crate::policy::command::OperatorCommand;
use crate::policy::{HookPoint, ServiceState};
use crate::probe::ProbeResult;
use crate::state::{AuditEntry, Leadership, Store};
pub use clock::Clock;
pub use dry_run::ServicePlan;
pub use events::EVENTS_LOG;
pub use publish::StatusBoard;
pub use reload::ServicesUpdate;
use runtime::Runtime;

/// Probe results taken off the channel per wake-up of the loop.
const RESULT_BATCH: usize = 256;
pub use status::ServiceStatus;

/// Work finished in the background, reported to the loop.
enum Done {
    Zone(zone::ZoneDone),
    /// A governed change (`apply`, `rollback`) finished (see [`govern`]).
    Governed(govern::GovernDone),
    Hook {
        service: String,
        point: HookPoint,
        result: Result<String, String>,
        took_s: f64,
    },
    Metric {
        service: String,
        at_ms: u64,
        reading: Result<f64, String>,
    },
    Sync {
        service: String,
        status: Result<dnsfailback_provider::SyncStatus, String>,
        at_ms: u64,
    },
    /// A watch read of a failing provider (see [`provider_watch`]).
    ProviderRead {
        provider: String,
        ok: bool,
        at_ms: u64,
    },
}

/// The controller: owns health, per-service state and the providers.
pub struct Controller {
    config: Config,
    /// `config.services`, shared with zone jobs without copying.
    services: BTreeMap<String, Arc<Service>>,
    /// The services' names in order, for the tick's pass (never copied per tick).
    names: Arc<[String]>,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    store: Arc<dyn Store>,
    leadership: Arc<dyn Leadership>,
    clock: Clock,
    health: HealthBook,
    runtime: BTreeMap<String, Runtime>,
    board: StatusBoard,
    /// Status queries from the board, answered by `run` (see [`publish`]).
    status_rx: Option<mpsc::Receiver<publish::StatusQuery>>,
    /// Failure events and the `max_failovers` cap over them.
    events: events::Events,
    /// The fencing token of the lease the last tick led with (`None` = followed), to notice
    /// taking over, also when the lease was lost and won again in between two ticks.
    led_with: Option<u64>,
    /// Zone jobs running, by `(provider, zone)`: at most one per zone at a time.
    zones_busy: BTreeSet<(String, Fqdn)>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: Option<mpsc::UnboundedReceiver<Done>>,
    /// Background tasks not yet reported back (zone jobs, hooks, reads).
    pending: usize,
    /// Set on shutdown: zone jobs start no new change.
    stop: Arc<AtomicBool>,
    /// State writes collected during a tick (the last per service), saved in one store
    /// transaction.
    saves: BTreeMap<String, ServiceState>,
    /// Audit entries collected during a tick, written in one store transaction.
    audits: Vec<AuditEntry>,
    /// Whether the self-suspicion alert has been raised for the current suspicion.
    suspicion_alerted: bool,
    /// Services that started being held this tick, by rule, logged once per tick.
    holds_started: BTreeMap<String, Vec<String>>,
    /// Providers whose changes are failing, read every 2 s to notice their return.
    watch: provider_watch::ProviderWatch,
    /// Test-only `DNSFAILBACK_FAILPOINT=panic-in-tick`, read once at start.
    panic_in_tick: bool,
    /// Drift checks started this tick on providers whose reads are local (bounded, so a
    /// big zone's checks are spread over ticks).
    drift_checks_this_tick: usize,
    /// As a follower: the leader's answer last applied to this process's own DNS server, per
    /// service on an in-process provider (see [`mirror`]).
    mirrored: BTreeMap<String, crate::policy::Publication>,
}

impl Controller {
    /// A controller for `config`, loading each service's persisted state from `store`.
    pub async fn new(
        mut config: Config,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        store: Arc<dyn Store>,
        leadership: Arc<dyn Leadership>,
        clock: Clock,
    ) -> Result<Self, crate::state::StoreError> {
        let mut health = HealthBook::new(config.services.values());
        let c = &config.controller;
        health.set_vantage(c.vantage_quorum, &c.agents, c.agent_stale_after);
        health.set_uplink(&c.uplink_checks);
        let names: Vec<String> = config.services.keys().cloned().collect();
        let mut states = store.service_states(&names).await?;
        let runtime = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    Runtime::new(states.remove(n).unwrap_or_default(), i),
                )
            })
            .collect();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let events = events::Events::new(
            config.controller.max_failovers,
            u64::try_from(config.controller.max_failovers_window.as_millis()).unwrap_or(u64::MAX),
        );
        // The services move out of the configuration: one copy, shared with zone jobs. Their
        // checks stay behind: the health book holds each check's judge and the probe runner
        // its prober, and the loop never reads a check again (10,000 services: 7 MB).
        let services = std::mem::take(&mut config.services)
            .into_iter()
            .map(|(k, mut v)| {
                for t in &mut v.targets {
                    t.checks = Vec::new();
                }
                (k, Arc::new(v))
            })
            .collect();
        let (board, status_rx) = StatusBoard::new();
        let providers = provider_calls::counted_all(providers, board.counters());
        let ctl = Controller {
            names: names.into(),
            services,
            config,
            providers,
            store,
            leadership,
            clock,
            health,
            runtime,
            board,
            status_rx: Some(status_rx),
            events,
            led_with: None,
            zones_busy: BTreeSet::new(),
            done_tx,
            done_rx: Some(done_rx),
            pending: 0,
            stop: Arc::new(AtomicBool::new(false)),
            saves: BTreeMap::new(),
            audits: Vec::new(),
            suspicion_alerted: false,
            holds_started: BTreeMap::new(),
            watch: provider_watch::ProviderWatch::default(),
            drift_checks_this_tick: 0,
            mirrored: BTreeMap::new(),
            panic_in_tick: std::env::var("DNSFAILBACK_FAILPOINT").as_deref() == Ok("panic-in-tick"),
        };
        Ok(ctl)
    }

    /// The status board the admin API reads; answered while [`Controller::run`] runs.
    pub fn board(&self) -> StatusBoard {
        self.board.clone()
    }

    /// Feeds one probe result into health.
    pub fn observe(&mut self, result: &ProbeResult) {
        self.board.counters().probe(result);
        self.health.observe(result, self.clock.now_ms());
    }

    /// Feeds one remote agent's report into the targets' vantage quorums.
    pub fn agent_report(&mut self, report: &crate::health::agent::AgentReport) {
        self.health
            .report_agent(report, tokio::time::Instant::now());
    }

    /// Runs until `results` closes or `shutdown` fires: results, reports and commands in, a
    /// reconcile pass every `tick`, background work folded in as it finishes. On shutdown no
    /// new change starts; changes already sent are given a moment to be recorded.
    pub async fn run(
        mut self,
        mut results: mpsc::Receiver<ProbeResult>,
        mut commands: mpsc::Receiver<OperatorCommand>,
        mut agent_reports: mpsc::Receiver<crate::health::agent::AgentReport>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let (Some(mut done), Some(mut status)) = (self.done_rx.take(), self.status_rx.take())
        else {
            return;
        };
        let mut batch = Vec::with_capacity(RESULT_BATCH);
        let mut tick = tokio::time::interval(self.config.controller.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(d) = done.recv() => self.finish(d).await,
                Some(c) = commands.recv() => self.dispatch(c).await,
                _ = tick.tick() => self.begin_tick().await,
                Some(q) = status.recv() => self.answer(q).await,
                Some(r) = agent_reports.recv() => self.agent_report(&r),
                // In batches: at 20,000 checks a second, one select per result was the
                // bottleneck, and probe tasks waited to send (memory and CPU).
                n = results.recv_many(&mut batch, RESULT_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for r in batch.drain(..) {
                        self.observe(&r);
                    }
                }
            }
        }
        self.stop.store(true, Ordering::SeqCst);
        // Let changes already at the provider be journaled and audited, briefly.
        let grace = tokio::time::sleep(std::time::Duration::from_secs(2));
        tokio::pin!(grace);
        while self.pending > 0 {
            tokio::select! {
                _ = &mut grace => break,
                Some(d) = done.recv() => self.finish(d).await,
            }
        }
    }

    /// One reconcile pass over every service, waiting for the changes it started (the
    /// deterministic form of a tick, for tests and `plan`-like callers; `run` does not wait).
    pub async fn tick(&mut self) {
        self.fold_finished().await;
        self.begin_tick().await;
        self.settle().await;
    }

    /// Folds in background work that has finished since the last tick, without waiting (what
    /// `run` does as each piece arrives).
    async fn fold_finished(&mut self) {
        let Some(mut done) = self.done_rx.take() else {
            return;
        };
        while let Ok(d) = done.try_recv() {
            self.finish(d).await;
        }
        self.done_rx = Some(done);
    }

    /// Waits until every zone job started so far has reported back, folding in whatever else
    /// has finished by then. Hooks and reads are not waited for: a hanging hook must not stop
    /// a tick.
    pub async fn settle(&mut self) {
        let Some(mut done) = self.done_rx.take() else {
            return;
        };
        while !self.zones_busy.is_empty() {
            match done.recv().await {
                Some(d) => self.finish(d).await,
                None => break,
            }
        }
        self.done_rx = Some(done);
        self.fold_finished().await;
    }

    /// Evaluates health once for everyone, then decides every service and starts the zone
    /// jobs for those that need a change. Never waits for a provider.
    async fn begin_tick(&mut self) {
        let started = std::time::Instant::now();
        self.decide_all().await;
        self.board
            .counters()
            .tick_seconds
            .observe(started.elapsed().as_secs_f64());
        self.board.ticked();
    }

    /// The tick's decision pass: health, then every due service, then the zone jobs.
    async fn decide_all(&mut self) {
        if self.panic_in_tick {
            // Proves that a panicking task ends the whole process (tests/integration/lifecycle.rs).
            panic!("failpoint panic-in-tick reached");
        }
        self.health.evaluate(tokio::time::Instant::now());
        self.watch_suspicion();
        let leader = self.leadership.is_leader();
        let token = self.leadership.fencing_token();
        if leader && self.led_with != Some(token) {
            self.take_over().await;
        }
        self.led_with = leader.then_some(token);
        let names = self.names.clone();
        if !leader {
            self.follow(&names).await;
            return;
        }
        self.discover_original_ttls().await;
        let now = self.clock.now_ms();
        self.read_failing_providers(now);
        let mut work: BTreeMap<(String, Fqdn), Vec<zone::Item>> = BTreeMap::new();
        self.drift_checks_this_tick = 0;
        for name in names.iter() {
            if let Some(item) = self.prepare(name, now) {
                let key = (item.service.provider.clone(), item.service.zone.clone());
                work.entry(key).or_default().push(item);
            }
        }
        self.events.expire(now);
        self.report_events();
        self.flush().await;
        for (key, items) in work {
            self.start_zone_job(key, items, now);
        }
    }

    /// Starts one zone's job, unless that zone already has one running (its services are
    /// decided again next tick and join the following job).
    fn start_zone_job(&mut self, key: (String, Fqdn), items: Vec<zone::Item>, now: u64) {
        let Some(provider) = self.providers.get(&key.0).cloned() else {
            return;
        };
        if !self.zones_busy.insert(key.clone()) {
            return;
        }
        for item in &items {
            if let Some(rt) = self.runtime.get_mut(&item.service.name) {
                rt.in_flight = true;
            }
        }
        let job = zone::ZoneJob {
            provider_name: key.0,
            provider,
            zone: key.1,
            items,
            store: self.store.clone(),
            leadership: self.leadership.clone(),
            fencing_token: self.leadership.fencing_token(),
            now_ms: now,
            stop: self.stop.clone(),
        };
        self.spawn(async move { Done::Zone(job.run().await) });
    }

    fn spawn(&mut self, work: impl std::future::Future<Output = Done> + Send + 'static) {
        self.pending += 1;
        let tx = self.done_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(work.await);
        });
    }

    /// A service's configuration, shared (the loop reads it every tick; no copy).
    fn service(&self, name: &str) -> Option<Arc<Service>> {
        self.services.get(name).cloned()
    }
}
