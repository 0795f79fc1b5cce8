//! The status board: what `dnsfailback status` and the admin API show for each service.
//!
//! Beside the flow, reading it: rows are built **on request**, by the control loop, from its
//! own state (the last decision, health, the phase), never kept. At 10,000 services a board
//! refreshed in advance held 19 MB of rows and rebuilt thousands of them every tick for
//! nobody; a query costs the loop one pass over the services asked for (4 ms for all 1,000, 57 ms for all
//! 10,000) between two ticks, and always shows the state of that moment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dnsfailback_provider::Provider;
use dnsfailback_provider::SyncStatus;
use tokio::sync::{mpsc, oneshot};

use super::{dry_run, status, Controller, ServicePlan, ServiceStatus};
use crate::config::Service;
use crate::plan::desired_sets;
use crate::policy::Phase;

/// How long a reader waits for the loop to answer before reporting it busy.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A plan also reads every zone with a change from its provider.
const PLAN_WITHIN: Duration = Duration::from_secs(30);

/// One question to the loop.
pub(super) enum StatusQuery {
    /// One service's row, or every row (`None`).
    Rows {
        service: Option<String>,
        reply: oneshot::Sender<Vec<ServiceStatus>>,
    },
    /// One service in detail for the status page; `None` for an unknown service.
    Detail {
        service: String,
        reply: oneshot::Sender<Option<status::ServiceDetail>>,
    },
    /// What the next tick would do (see [`super::dry_run`]).
    Plan {
        reply: oneshot::Sender<Vec<ServicePlan>>,
    },
    /// Swap in providers rebuilt from a reloaded configuration and take in the services it
    /// adds, changes or removes (see [`super::reload`]).
    Reload {
        providers: BTreeMap<String, Arc<dyn Provider>>,
        services: super::reload::ServicesUpdate,
        reply: oneshot::Sender<Result<String, String>>,
    },
}

/// The admin API's handle on the status board: cheap to clone, answered by the running
/// control loop.
#[derive(Clone, Debug)]
pub struct StatusBoard {
    queries: mpsc::Sender<StatusQuery>,
    counters: Arc<super::counters::LoopCounters>,
    /// Ticks finished since start: a supervisor's watchdog (systemd) is fed only while this
    /// moves, so a control loop that hangs gets the process restarted.
    ticks: Arc<std::sync::atomic::AtomicU64>,
}

impl StatusBoard {
    /// The board and the receiving end the loop answers from.
    pub(super) fn new() -> (Self, mpsc::Receiver<StatusQuery>) {
        let (queries, rx) = mpsc::channel(64);
        let counters = Arc::default();
        let ticks = Arc::default();
        let board = StatusBoard {
            queries,
            counters,
            ticks,
        };
        (board, rx)
    }

    /// How many ticks the loop has finished since start (see the field).
    pub fn ticks(&self) -> u64 {
        self.ticks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one finished tick.
    pub(super) fn ticked(&self) {
        self.ticks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// What the loop counts (changes, failures, tick time), for `GET /metrics`.
    pub fn counters(&self) -> &super::counters::LoopCounters {
        &self.counters
    }

    /// A board that always shows `rows` (by a task of its own): for API tests without a
    /// control loop. Needs a tokio runtime.
    pub fn fixed(rows: Vec<ServiceStatus>) -> Self {
        let (board, mut queries) = Self::new();
        tokio::spawn(async move {
            while let Some(q) = queries.recv().await {
                match q {
                    StatusQuery::Rows { service, reply } => {
                        let answer = rows
                            .iter()
                            .filter(|r| service.as_ref().is_none_or(|s| *s == r.service))
                            .cloned()
                            .collect();
                        let _ = reply.send(answer);
                    }
                    StatusQuery::Detail { service, reply } => {
                        let status = rows.iter().find(|r| r.service == service).cloned();
                        let _ = reply.send(status.map(|status| status::ServiceDetail {
                            status,
                            history: Vec::new(),
                            canary: None,
                        }));
                    }
                    StatusQuery::Plan { reply } => {
                        let _ = reply.send(Vec::new());
                    }
                    StatusQuery::Reload { reply, .. } => {
                        let _ = reply.send(Err("nothing to reload: no control loop".into()));
                    }
                }
            }
        });
        board
    }

    /// Every service's row, in name order.
    pub async fn all(&self) -> Result<Vec<ServiceStatus>, String> {
        self.ask(None).await
    }

    /// One service's row; `Ok(None)` when no service has that name.
    pub async fn get(&self, service: &str) -> Result<Option<ServiceStatus>, String> {
        Ok(self
            .ask(Some(service.to_string()))
            .await?
            .into_iter()
            .next())
    }

    /// One service in detail (row, recent results per target, canary progress) for the
    /// status page; `Ok(None)` when no service has that name.
    pub async fn detail(&self, service: &str) -> Result<Option<status::ServiceDetail>, String> {
        let (reply, answer) = oneshot::channel();
        let service = service.to_string();
        self.send(
            StatusQuery::Detail { service, reply },
            answer,
            ANSWER_WITHIN,
        )
        .await
    }

    /// What the next tick would do for every service (`dnsfailback plan`).
    pub async fn plan(&self) -> Result<Vec<ServicePlan>, String> {
        let (reply, answer) = oneshot::channel();
        self.send(StatusQuery::Plan { reply }, answer, PLAN_WITHIN)
            .await
    }

    /// Swaps in providers rebuilt from a reloaded configuration, takes in the services it
    /// adds, changes or removes, and resumes the services that needed an operator; answers
    /// what was done, or why nothing was.
    pub async fn reload(
        &self,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        services: super::reload::ServicesUpdate,
    ) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        let query = StatusQuery::Reload {
            providers,
            services,
            reply,
        };
        self.send(query, answer, ANSWER_WITHIN).await?
    }

    async fn ask(&self, service: Option<String>) -> Result<Vec<ServiceStatus>, String> {
        let (reply, answer) = oneshot::channel();
        self.send(StatusQuery::Rows { service, reply }, answer, ANSWER_WITHIN)
            .await
    }

    async fn send<T>(
        &self,
        query: StatusQuery,
        answer: oneshot::Receiver<T>,
        within: Duration,
    ) -> Result<T, String> {
        let busy = || {
            format!(
                "the control loop did not answer within {}s (starting, stopping or overloaded); \
                 try again",
                within.as_secs()
            )
        };
        self.queries.send(query).await.map_err(|_| busy())?;
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(rows)) => Ok(rows),
            _ => Err(busy()),
        }
    }
}

impl Controller {
    /// Answers one query: status rows built now, or a plan (proposed here; the provider
    /// reads run as a task, so a slow provider does not hold up the loop).
    pub(super) async fn answer(&mut self, query: StatusQuery) {
        match query {
            StatusQuery::Rows { service, reply } => {
                let rows = match &service {
                    Some(name) => self.status_of(name).into_iter().collect(),
                    None => self
                        .names
                        .iter()
                        .filter_map(|n| self.status_of(n))
                        .collect(),
                };
                let _ = reply.send(rows);
            }
            StatusQuery::Detail { service, reply } => {
                let _ = reply.send(self.detail_of(&service));
            }
            StatusQuery::Reload {
                providers,
                services,
                reply,
            } => {
                let answer = self.reload(providers, services).await;
                self.flush().await;
                let _ = reply.send(answer);
            }
            StatusQuery::Plan { reply } => {
                if self.leadership.is_leader() {
                    self.discover_original_ttls().await;
                }
                let proposed = self.propose_all();
                tokio::spawn(async move {
                    let _ = reply.send(dry_run::realize(proposed).await);
                });
            }
        }
    }

    /// The status row of `name` as of now; `None` for an unknown service.
    pub fn status_of(&self, name: &str) -> Option<ServiceStatus> {
        let service = self.services.get(name)?;
        let rt = self.runtime.get(name)?;
        let health = self.health.service(name);
        let follower = (!self.leadership.is_leader()).then(|| self.follower_note());
        let decision = rt.last_decision.as_ref().filter(|_| follower.is_none());
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
        let targets = service
            .targets
            .iter()
            .zip(&health)
            .map(|(t, h)| status::TargetStatus::from_health(h, t.priority, t.values.clone()))
            .collect();
        Some(ServiceStatus {
            service: service.name.clone(),
            record: service.record.to_string(),
            rtype: service.rtype.to_string(),
            provider: service.provider.clone(),
            phase: rt.state.phase.clone(),
            published: rt.state.published.clone(),
            published_values,
            original_ttl: rt.state.original_ttl,
            ttl_restore_at_ms: restore_at(service, &rt.state.phase),
            targets,
            reason: follower
                .or_else(|| decision.map(|d| d.reason.clone()))
                .unwrap_or_default(),
            alert: decision.and_then(|d| d.alert.clone()),
            held: decision.and_then(|d| d.held.clone()),
            frozen: rt.state.hold.clone(),
            last_error: rt.last_error.clone(),
            partition: self
                .health
                .partition()
                .holds()
                .then(|| self.health.partition().describe()),
            event: rt.event.clone(),
            baseline: rt.baseline.as_ref().map(status::BaselineStatus::of),
            lease: self.lease_status(),
            totals: rt.totals,
            provider_sync: rt.sync.as_ref().map(|(r, st, _)| {
                let change = r.change_id.clone().unwrap_or_else(|| "last change".into());
                let how = if *st == SyncStatus::InSync {
                    "in sync"
                } else {
                    "pending"
                };
                format!("{change} {how}")
            }),
        })
    }

    /// [`Self::status_of`] with each target's recent results and the canary's progress.
    fn detail_of(&self, name: &str) -> Option<status::ServiceDetail> {
        let status = self.status_of(name)?;
        let service = self.services.get(name)?;
        let rt = self.runtime.get(name)?;
        let now = self.clock.now_ms();
        let canary = match rt.state.phase {
            Phase::Canary { step, since_ms, .. } => {
                let (steps, hold) = crate::policy::canary::plan_for(service, &rt.state);
                let gates = &service.canary.gates;
                Some(status::CanaryProgress {
                    step,
                    steps,
                    hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
                    since_ms,
                    stats: self
                        .health
                        .stats_since(name, &service.primary().name, since_ms),
                    max_error_rate: gates.max_error_rate,
                    max_latency_ms: gates
                        .max_latency
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    baseline_factor: gates.baseline_factor,
                    metric: gates.metric.as_ref().and_then(|m| {
                        rt.metric
                            .as_ref()
                            .map(|(_, reading)| (reading.clone(), m.max))
                    }),
                })
            }
            _ => None,
        };
        Some(status::ServiceDetail {
            status,
            history: self.health.history(name, now),
            canary,
        })
    }

    /// Why a follower changes nothing, for status and `plan`.
    pub(super) fn follower_note(&self) -> String {
        let holder = self
            .leadership
            .holder()
            .unwrap_or_else(|| "nobody yet".into());
        format!("follower: changes are made by the lease holder `{holder}`")
    }

    fn lease_status(&self) -> Option<status::LeaseStatus> {
        self.config
            .controller
            .etcd
            .as_ref()
            .map(|_| status::LeaseStatus {
                holder: self.leadership.holder(),
                leading: self.leadership.is_leader(),
                token: self.leadership.fencing_token(),
            })
    }
}

/// When a restored TTL is due, while the service is restoring.
fn restore_at(service: &Service, phase: &Phase) -> Option<u64> {
    match phase {
        Phase::Restoring { since_ms } => {
            Some(since_ms + service.restore_ttl_after.as_millis() as u64)
        }
        _ => None,
    }
}
