//! The scheduler: runs every check at its interval on the tokio runtime and streams results.
//!
//! Flow: config -> **runner** -> (http | tcp | udp | icmp | dns) -> `ProbeResult` channel ->
//! health.
//!
//! Design:
//! - One scheduler task per [`Runner`] and a timer queue (a binary heap of compact entries:
//!   deadline, check index, the check's few bytes of state). At each due time the scheduler
//!   spawns a short-lived task per due probe, so probes still run concurrently; that task
//!   probes, sends the result, works out the check's next deadline and puts it back in the
//!   queue (waking the scheduler only if that deadline is earlier than the one it sleeps
//!   until, so a finished probe costs no extra wake-up). Why: memory at 20,000 checks. A
//!   long-lived task per check (its future holding a timer, the permit wait, the schedule and
//!   clones of the shared handles) cost ~1 KB per check, 18 MB at 20,000 TCP checks; an idle
//!   check now costs about 100 bytes besides its id and its probe, and only probes in flight
//!   cost a task. Dropping the `Runner` aborts the scheduler and with it every probe in flight.
//! - A check is never probed twice at once: it is back in the queue only once its probe has
//!   finished and its result is sent, so results arrive in order per check.
//! - The scheduler keeps a second timer a little ahead that it never awaits, so that tokio's
//!   timer wheel is never empty when a probe registers its timeout (see
//!   `Scheduler::keepalive`: otherwise each probe would wake the timer driver's thread).
//! - Deadline arithmetic on the tokio clock (`next += interval`), so there is no drift and it
//!   works under paused time. A tick that cannot start because the previous probe (or a wait
//!   for a concurrency permit, or a full results channel) ran over a whole interval is skipped
//!   and counted in [`RunnerStats::missed_intervals`]; a merely late tick starts at once and its
//!   lateness is tracked in the lag statistics.
//! - First runs are spread uniformly over each check's interval (jitter), so 10,000 checks at
//!   1 s fire about 10 per millisecond, not 10,000 at once.
//! - Wake-ups are coalesced: start times are rounded to a slot chosen so one timer wake-up
//!   serves about 50 probes (1,000 checks at 1 s: 50 ms slots; 10,000: 5 ms). Waking the
//!   runtime from idle costs more than a loopback probe, so this halves the CPU per probe at
//!   1,000 checks; the price is a probe latency that includes up to ~1 ms of the prober's own
//!   work on the other probes of its slot.
//! - One semaphore bounds probes in flight across all checks.
//! - Fast recheck: a failure that follows a success (or is the first outcome) is repeated
//!   `recheck` times `recheck_interval` apart; all outcomes are streamed, health decides.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::spec::{Prober, Schedule, MIN_INTERVAL};
use super::{CheckId, CheckSpec, FailureReason, Outcome, ProbeKind, ProbeResult};

/// Something the runner can probe. The built-in [`Prober`] covers every [`CheckSpec`] kind; the
/// trait lets tests (and the controller's own tests, under a paused clock) plug in scripted
/// probes with [`Runner::spawn_probes`].
#[async_trait::async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Probes once and returns the verdict; must honour its own timeout.
    async fn probe(&self) -> Outcome;

    /// Expiry of the certificate last seen, when the probe speaks TLS.
    fn cert_not_after(&self) -> Option<SystemTime> {
        None
    }

    /// The kind for the probe metrics; [`ProbeKind::Other`] unless overridden.
    fn kind(&self) -> ProbeKind {
        ProbeKind::Other
    }
}

#[async_trait::async_trait]
impl Probe for Prober {
    async fn probe(&self) -> Outcome {
        Prober::probe(self).await
    }

    fn cert_not_after(&self) -> Option<SystemTime> {
        Prober::cert_not_after(self)
    }

    fn kind(&self) -> ProbeKind {
        self.probe_kind()
    }
}

/// A check whose spec is invalid: reports why at every interval instead of vanishing silently.
struct Invalid(String, ProbeKind);

#[async_trait::async_trait]
impl Probe for Invalid {
    async fn probe(&self) -> Outcome {
        Outcome {
            result: Err(FailureReason::Config(self.0.clone())),
            latency: Duration::ZERO,
        }
    }

    fn kind(&self) -> ProbeKind {
        self.1
    }
}

/// Runner tuning; the defaults suit a controller with up to tens of thousands of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Most probes in flight at once, across all checks (at least 1). Probes beyond it wait for
    /// a slot; if that makes a check overrun a whole interval the tick is counted as missed.
    pub max_in_flight: usize,
    /// Spread first runs uniformly over the interval (on by default; off makes every check
    /// start at once, which only tests want).
    pub jitter: bool,
    /// Seed for the jitter, for reproducible tests; random when `None`.
    pub seed: Option<u64>,
    /// Wake-up coalescing: jittered start offsets are rounded down to a multiple of this slot
    /// (capped at a tenth of each check's interval), so the probes due within one slot start
    /// on one timer wake-up instead of one wake-up each. `None` (the default) picks the slot
    /// from the total probe rate, see [`auto_slot`]; `Some(ZERO)` turns coalescing off.
    ///
    /// Why: each wake-up from idle costs the runtime and the kernel far more than the probe
    /// it serves. The benchmark at 1,000 TCP targets / 1 s spent 0.12 CPU-s per 1,000 probes
    /// with one wake-up per probe and 0.069 with 50 ms slots (docs/benchmarks.md).
    pub start_slot: Option<Duration>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            max_in_flight: 4096,
            jitter: true,
            seed: None,
            start_slot: None,
        }
    }
}

/// A snapshot of the runner's counters, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// Checks scheduled.
    pub checks: usize,
    /// Probes finished (rechecks included).
    pub probes: u64,
    /// Of those, fast rechecks after a first failure.
    pub rechecks: u64,
    /// Ticks skipped because the check could not start within a whole interval of its deadline.
    pub missed_intervals: u64,
    /// Probes running now.
    pub in_flight: u64,
    /// Most probes that ran at once.
    pub peak_in_flight: u64,
    /// Largest delay between a probe's deadline and its start.
    pub max_start_lag: Duration,
    /// Mean delay between a probe's deadline and its start.
    pub mean_start_lag: Duration,
}

#[derive(Default)]
struct Counters {
    probes: AtomicU64,
    rechecks: AtomicU64,
    missed: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    lag_max_ns: AtomicU64,
    lag_sum_ns: AtomicU64,
    starts: AtomicU64,
}

/// Schedules checks and streams their results. See the module docs.
///
/// Must be created inside a tokio runtime. Probing stops when the `Runner` is dropped or the
/// results receiver is closed.
pub struct Runner {
    shared: Arc<Shared>,
    scheduler: AbortHandle,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("checks", &self.shared.checks.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// How many checks may make their first probe per second at start-up (see the jitter).
const RAMP_PER_SECOND: f64 = 2000.0;

impl Runner {
    /// Starts probing every check at its interval (with jittered start) and sends each result
    /// to `results`. Stops when the returned handle is dropped or `results` is closed.
    ///
    /// An invalid check (see [`CheckSpec::validate`]) is not dropped: it reports
    /// [`FailureReason::Config`] at its interval, so the operator sees it.
    pub fn spawn(checks: Vec<(CheckId, CheckSpec)>, results: mpsc::Sender<ProbeResult>) -> Self {
        Self::spawn_with(RunnerOptions::default(), checks, results)
    }

    /// [`Runner::spawn`] with explicit [`RunnerOptions`].
    pub fn spawn_with(
        options: RunnerOptions,
        checks: Vec<(CheckId, CheckSpec)>,
        results: mpsc::Sender<ProbeResult>,
    ) -> Self {
        let probes = checks
            .into_iter()
            .map(|(id, spec)| {
                let sched = spec.schedule();
                let built = sched.validate().and_then(|_| Prober::new(&spec));
                let probe: Arc<dyn Probe> = match built {
                    Ok(p) => Arc::new(p),
                    Err(e) => {
                        tracing::warn!(check = %id, error = %e, "invalid check: it will report a config failure");
                        Arc::new(Invalid(e, spec.probe_kind()))
                    }
                };
                (id, sanitize(sched), probe)
            })
            .collect();
        Self::spawn_probes(options, probes, results)
    }

    /// Runs caller-supplied probes on the same scheduler (scripted probes in tests, or kinds
    /// this module does not know).
    pub fn spawn_probes(
        options: RunnerOptions,
        probes: Vec<(CheckId, Schedule, Arc<dyn Probe>)>,
        results: mpsc::Sender<ProbeResult>,
    ) -> Self {
        let (planned, shortest_timeout) = plan(&options, probes);
        let (checks, entries): (Vec<Check>, Vec<Entry>) = planned
            .into_iter()
            .zip(0u32..) // indices are u32: 4 billion checks would not fit in memory anyway
            .map(|((check, first), index)| {
                let state = CheckState {
                    next: first,
                    ..CheckState::default()
                };
                let entry = Entry {
                    due: first,
                    index,
                    state,
                };
                (check, entry)
            })
            .unzip();
        let shared = Arc::new(Shared {
            checks: checks.into_boxed_slice(),
            counters: Counters::default(),
            sem: Semaphore::new(options.max_in_flight.clamp(1, Semaphore::MAX_PERMITS)),
            epoch: Instant::now(),
            queue: Mutex::new(Queue {
                heap: BinaryHeap::from(entries),
                timer: u64::MAX,
            }),
            wake: Notify::new(),
            finished: AtomicUsize::new(0),
        });
        let keepalive = shortest_timeout.clamp(KEEPALIVE_MIN, KEEPALIVE_MAX);
        let scheduler = Scheduler::new(shared.clone(), results, keepalive);
        Runner {
            shared,
            scheduler: tokio::spawn(scheduler.run()).abort_handle(),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> RunnerStats {
        let c = &self.shared.counters;
        let starts = c.starts.load(Ordering::Relaxed);
        RunnerStats {
            checks: self.shared.checks.len(),
            probes: c.probes.load(Ordering::Relaxed),
            rechecks: c.rechecks.load(Ordering::Relaxed),
            missed_intervals: c.missed.load(Ordering::Relaxed),
            in_flight: c.in_flight.load(Ordering::Relaxed),
            peak_in_flight: c.peak_in_flight.load(Ordering::Relaxed),
            max_start_lag: Duration::from_nanos(c.lag_max_ns.load(Ordering::Relaxed)),
            mean_start_lag: Duration::from_nanos(
                c.lag_sum_ns
                    .load(Ordering::Relaxed)
                    .checked_div(starts)
                    .unwrap_or(0),
            ),
        }
    }

    /// Expiry of the certificate an HTTPS check last saw, for expiry alerts on the API.
    pub fn cert_not_after(&self, check: &CheckId) -> Option<SystemTime> {
        let checks = &self.shared.checks;
        // the last of the checks with this id (see the sort in `spawn_probes`)
        let end = checks.partition_point(|c| c.id <= *check);
        let found = checks.get(end.checked_sub(1)?)?;
        (found.id == *check)
            .then(|| found.probe.cert_not_after())
            .flatten()
    }
}

impl Drop for Runner {
    /// Aborting the scheduler drops its set of probe tasks, which aborts every probe in flight.
    fn drop(&mut self) {
        self.scheduler.abort();
    }
}

/// Probes one coalesced wake-up should serve; above ~50 the CPU saved per probe flattens out
/// while the burst keeps growing (benchmark: 20 ms slots at 1,000 probes/s gave 0.083 CPU-s per
/// 1,000 TCP probes, 50 ms gave 0.069, 100 ms gave 0.071).
const PROBES_PER_WAKEUP: f64 = 50.0;
/// Longest automatic slot: a check never starts more than this much earlier than its jitter
/// drew, so detection is delayed by at most this (next to intervals of a second and more).
const MAX_AUTO_SLOT: Duration = Duration::from_millis(50);

/// The wake-up slot for a set of checks: long enough that one wake-up serves about
/// [`PROBES_PER_WAKEUP`] probes at the total probe rate, at most [`MAX_AUTO_SLOT`] (and, per
/// check, at most a tenth of its interval). Many checks need no coalescing: at 10,000 probes/s
/// the slot is 5 ms, where the timer wheel's own 1 ms batching already does most of the work.
pub fn auto_slot(intervals: impl Iterator<Item = Duration>) -> Duration {
    let rate: f64 = intervals
        .filter(|i| !i.is_zero())
        .map(|i| 1.0 / i.as_secs_f64())
        .sum();
    if rate <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((PROBES_PER_WAKEUP / rate).min(MAX_AUTO_SLOT.as_secs_f64()))
}

/// Bounds that keep a bad schedule from spinning (validation reports it; this keeps it safe).
fn sanitize(mut s: Schedule) -> Schedule {
    s.interval = s.interval.max(MIN_INTERVAL);
    s.timeout = s.timeout.clamp(Duration::from_millis(1), s.interval);
    s.recheck_interval = s.recheck_interval.max(Duration::from_millis(10));
    s
}

/// The checks, sanitized, with their first deadlines (ns after the start), sorted by id; and
/// the shortest timeout among them.
fn plan(
    options: &RunnerOptions,
    probes: Vec<(CheckId, Schedule, Arc<dyn Probe>)>,
) -> (Vec<(Check, u64)>, Duration) {
    let slot = options
        .start_slot
        .unwrap_or_else(|| auto_slot(probes.iter().map(|(_, s, _)| s.interval)));
    let mut jitter = options
        .jitter
        .then(|| Jitter::new(options.seed, slot, probes.len()));
    let mut shortest_timeout = Duration::MAX;
    let mut planned: Vec<(Check, u64)> = probes
        .into_iter()
        .map(|(id, sched, probe)| {
            let sched = sanitize(sched);
            shortest_timeout = shortest_timeout.min(sched.timeout);
            let first = jitter
                .as_mut()
                .map_or(0, |j| j.first_offset(sched.interval));
            (Check::new(id, sched, probe), first)
        })
        .collect();
    // Sorted by id so that `cert_not_after` finds a check without a map of cloned ids; the sort
    // is stable, so of duplicate ids the last one wins, as it did in a map.
    planned.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    (planned, shortest_timeout)
}

/// First-run offsets: uniform over the interval (or over the start-up ramp when that is
/// longer), rounded down to the wake-up slot.
struct Jitter {
    rng: fastrand::Rng,
    ramp: Duration,
    slot: Duration,
}

impl Jitter {
    fn new(seed: Option<u64>, slot: Duration, checks: usize) -> Self {
        Jitter {
            rng: seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            // With so many checks that opening all their connections within one interval would
            // be a burst, first runs spread over longer: at most RAMP_PER_SECOND per second.
            ramp: Duration::from_secs_f64(checks as f64 / RAMP_PER_SECOND),
            slot,
        }
    }

    /// Nanoseconds from the start to a check's first run.
    fn first_offset(&mut self, interval: Duration) -> u64 {
        let span = nanos(interval.max(self.ramp));
        let slot = nanos(self.slot.min(interval / 10)).max(1);
        let raw = self.rng.u64(0..span.max(1));
        raw - raw % slot
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

mod schedule;
use schedule::{Check, CheckState, Entry, Queue, Scheduler, Shared, KEEPALIVE_MAX, KEEPALIVE_MIN};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
