//! The runner's scheduler (probe stage): one task owning a timer queue of small per-check
//! entries, which spawns a short task per due probe and gets each check back when its result
//! is sent. See the module docs of `runner.rs` for the design and why.

use super::*;

/// One check as the runner keeps it for its whole life: what to probe and the (sanitized)
/// schedule, durations in nanoseconds like the deadlines. Kept small on purpose: with its
/// queue [`Entry`] it is all an idle check costs (see the module docs).
pub(super) struct Check {
    pub(super) id: CheckId,
    pub(super) probe: Arc<dyn Probe>,
    pub(super) interval: u64,
    pub(super) recheck_interval: u64,
    pub(super) recheck: u32,
}

impl Check {
    pub(super) fn new(id: CheckId, sched: Schedule, probe: Arc<dyn Probe>) -> Self {
        Check {
            id,
            probe,
            interval: nanos(sched.interval),
            recheck_interval: nanos(sched.recheck_interval),
            recheck: sched.recheck,
        }
    }
}

/// Where one check stands between probes. It travels with the check: in the queue while the
/// check waits, in its probe task while it runs.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CheckState {
    /// Deadline of the current tick, in ns after the epoch; it only ever moves by whole
    /// intervals, so there is no drift.
    pub(super) next: u64,
    /// Rechecks still to start in the current burst.
    pub(super) rechecks_left: u32,
    /// Final verdict of the previous tick (after its rechecks); `None` before the first.
    pub(super) last_ok: Option<bool>,
    /// A recheck burst is under way in the current tick.
    pub(super) rechecking: bool,
}

/// A waiting check in the timer queue: when it is due (ns after the epoch), which check, and
/// its state. Ordered so that the earliest deadline is the heap's top.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) due: u64,
    pub(super) index: u32,
    pub(super) state: CheckState,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.index).cmp(&(self.due, self.index))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.index) == (other.due, other.index)
    }
}

impl Eq for Entry {}

/// The timer queue: every check that is not being probed, earliest deadline first.
pub(super) struct Queue {
    pub(super) heap: BinaryHeap<Entry>,
    /// The deadline the scheduler will wake at (`u64::MAX`: none); a check queued for earlier
    /// must wake it.
    pub(super) timer: u64,
}

/// What the runner, its scheduler and the probe tasks share.
pub(super) struct Shared {
    /// Sorted by id; a check's index here is its index everywhere else.
    pub(super) checks: Box<[Check]>,
    pub(super) counters: Counters,
    /// Bounds probes in flight across all checks.
    pub(super) sem: Semaphore,
    /// Deadlines are nanoseconds after this instant.
    pub(super) epoch: Instant,
    pub(super) queue: Mutex<Queue>,
    /// Wakes the scheduler: a check was queued before its timer, [`REAP_BATCH`] probe tasks
    /// have finished, or the results receiver is gone.
    pub(super) wake: Notify,
    /// Probe tasks finished since the scheduler last freed them.
    pub(super) finished: AtomicUsize,
}

impl Shared {
    /// Now, in ns after the epoch.
    pub(super) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// A deadline as an instant; one beyond what the platform's clock can hold (centuries)
    /// becomes a year from now, and is re-armed then.
    pub(super) fn instant(&self, at: u64) -> Instant {
        let year = Duration::from_secs(365 * 86_400);
        self.epoch
            .checked_add(Duration::from_nanos(at))
            .unwrap_or_else(|| Instant::now() + year)
    }

    pub(super) fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a probed check back in the queue, waking the scheduler only if it is due before
    /// the scheduler's timer: most finished probes cost no wake-up at all.
    pub(super) fn requeue(&self, entry: Entry) {
        let mut q = self.queue();
        let earlier = entry.due < q.timer;
        if earlier {
            q.timer = entry.due;
        }
        q.heap.push(entry);
        drop(q);
        if earlier {
            self.wake.notify_one();
        }
    }

    /// Where a check goes after a probe that answered `ok`: into (or on with) a recheck burst,
    /// or on to its next tick.
    pub(super) fn after_probe(&self, index: u32, mut state: CheckState, ok: bool) -> Entry {
        let check = &self.checks[index as usize];
        let now = self.now();
        let recheck = if state.rechecking {
            !ok && state.rechecks_left > 0
        } else if !ok && state.last_ok != Some(false) && check.recheck > 0 {
            state.rechecking = true;
            state.rechecks_left = check.recheck;
            true
        } else {
            false
        };
        let due = if recheck {
            now.saturating_add(check.recheck_interval)
        } else {
            self.end_tick(check, &mut state, ok, now)
        };
        Entry { due, index, state }
    }

    /// Ends a tick; returns the next one's deadline: one interval on (`next += interval`).
    /// Whole intervals already past are skipped, and counted as missed unless rechecks ran
    /// over them; a partial one starts late, at once.
    pub(super) fn end_tick(
        &self,
        check: &Check,
        state: &mut CheckState,
        ok: bool,
        now: u64,
    ) -> u64 {
        let rechecked = state.rechecking;
        state.last_ok = Some(ok);
        state.rechecking = false;
        state.next = state.next.saturating_add(check.interval);
        let skipped = now
            .saturating_sub(state.next)
            .checked_div(check.interval)
            .unwrap_or(0);
        if skipped > 0 {
            if !rechecked {
                let missed = &self.counters.missed;
                missed.fetch_add(skipped, Ordering::Relaxed);
            }
            let ahead = check.interval.saturating_mul(skipped);
            state.next = state.next.saturating_add(ahead);
        }
        state.next
    }
}

/// Finished probe tasks that make the scheduler wake up to free them. A finished task keeps
/// its memory (about what a task per check used to cost) until the scheduler frees it, which
/// it does at every wake-up; this bounds how many wait when wake-ups are far apart (checks
/// started together and then idle for a whole interval).
pub(super) const REAP_BATCH: usize = 64;

/// Most checks taken off the queue under one lock: probe tasks that finish meanwhile wait
/// for the lock to requeue, so a burst of thousands of due checks is started in chunks.
pub(super) const START_BATCH: usize = 64;

/// Bounds of [`Scheduler::keepalive`]: not so short that an idle runner wakes the timer
/// driver often, not so long that it is no longer "a little ahead".
pub(super) const KEEPALIVE_MIN: Duration = Duration::from_millis(100);
pub(super) const KEEPALIVE_MAX: Duration = Duration::from_secs(60);

/// The one task that wakes at deadlines and starts the due checks' probes. It owns the probe
/// tasks (at most one per check): dropping it aborts them.
pub(super) struct Scheduler {
    pub(super) shared: Arc<Shared>,
    pub(super) results: mpsc::Sender<ProbeResult>,
    pub(super) in_flight: JoinSet<()>,
    /// Due checks taken off the queue, to be started once the lock is released.
    pub(super) ready: Vec<Entry>,
    /// How far ahead of now the keep-alive timer is kept: the shortest probe timeout (within
    /// [`KEEPALIVE_MIN`]..[`KEEPALIVE_MAX`]). That timer is never awaited; it keeps an entry
    /// in tokio's timer wheel a little ahead. Why: with the scheduler's timer its only entry,
    /// the wheel is empty right after that timer fires, and tokio then wakes the timer
    /// driver's thread for every timer registered meanwhile, i.e. for each starting probe's
    /// timeout: a syscall and a context switch per probe (benchmark, 1,000 checks: 3,000
    /// eventfd writes and 1,900 futex calls per 5,000 probes without it, 160 and 280 with it,
    /// as with a task per check). A probe timeout, at least this far ahead, is never earlier
    /// than the entry, so registering it wakes nothing.
    pub(super) keepalive: Duration,
}

impl Scheduler {
    pub(super) fn new(
        shared: Arc<Shared>,
        results: mpsc::Sender<ProbeResult>,
        keepalive: Duration,
    ) -> Self {
        Scheduler {
            shared,
            results,
            in_flight: JoinSet::new(),
            ready: Vec::with_capacity(START_BATCH),
            keepalive,
        }
    }

    /// Starts due probes and sleeps until the next deadline (or an earlier requeue), until the
    /// results receiver is gone or no check is left to run.
    pub(super) async fn run(mut self) {
        let timer = tokio::time::sleep_until(self.shared.epoch);
        let keepalive = tokio::time::sleep_until(self.shared.epoch);
        tokio::pin!(timer, keepalive);
        // The deadline the timer is set to, while it has not fired (resetting costs a trip
        // to the timer driver).
        let mut set_to = None;
        loop {
            self.reap();
            if self.results.is_closed() {
                return;
            }
            let next = self.start_due();
            match next {
                Some(due) if set_to != Some(due) => {
                    timer.as_mut().reset(self.shared.instant(due));
                    set_to = Some(due);
                }
                None if self.in_flight.is_empty() => return,
                _ => {}
            }
            // Pushed ahead at every wake-up; where it sits already ahead, this costs no lock.
            keepalive.as_mut().reset(Instant::now() + self.keepalive);
            tokio::select! {
                biased;
                () = self.shared.wake.notified() => {}
                () = &mut timer, if next.is_some() => set_to = None,
            }
        }
    }

    /// Spawns the probe of every check whose deadline has come; returns the earliest deadline
    /// left in the queue, which the timer must wake for.
    pub(super) fn start_due(&mut self) -> Option<u64> {
        loop {
            let now = self.shared.now();
            let next = {
                let mut q = self.shared.queue();
                while self.ready.len() < START_BATCH {
                    match q.heap.peek() {
                        Some(e) if e.due <= now => self.ready.extend(q.heap.pop()),
                        _ => break,
                    }
                }
                let next = q.heap.peek().map(|e| e.due);
                q.timer = next.unwrap_or(u64::MAX);
                next
            };
            if self.ready.is_empty() {
                return next;
            }
            let mut ready = std::mem::take(&mut self.ready);
            for entry in ready.drain(..) {
                self.start(entry);
            }
            self.ready = ready;
        }
    }

    pub(super) fn start(&mut self, entry: Entry) {
        let Entry {
            due,
            index,
            mut state,
        } = entry;
        if state.rechecking {
            state.rechecks_left = state.rechecks_left.saturating_sub(1);
            self.shared
                .counters
                .rechecks
                .fetch_add(1, Ordering::Relaxed);
        }
        let task = run_probe(self.shared.clone(), self.results.clone(), index, due, state);
        self.in_flight.spawn(task);
    }

    /// Frees finished probe tasks. They are not awaited one by one: that would wake the
    /// scheduler once per probe (see [`REAP_BATCH`]).
    pub(super) fn reap(&mut self) {
        self.shared.finished.store(0, Ordering::Relaxed);
        while let Some(done) = self.in_flight.try_join_next() {
            if let Err(e) = done {
                // As when every check had its own task: a panicking probe stops its own check
                // (the panic message names the place), the others go on.
                tracing::error!(error = %e, "a probe task failed: its check is no longer probed");
            }
        }
    }
}

/// Decrements the in-flight gauge even if the task is aborted mid-probe.
pub(super) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A probe task: probes the check once, sends the result and puts the check back in the queue
/// for its next deadline.
pub(super) async fn run_probe(
    shared: Arc<Shared>,
    results: mpsc::Sender<ProbeResult>,
    index: u32,
    due: u64,
    state: CheckState,
) {
    match probe_and_send(&shared, &results, index, shared.instant(due)).await {
        Some(ok) => shared.requeue(shared.after_probe(index, state, ok)),
        // the results receiver is gone: the scheduler stops when it sees that
        None => shared.wake.notify_one(),
    }
    if shared.finished.fetch_add(1, Ordering::Relaxed) + 1 == REAP_BATCH {
        shared.wake.notify_one();
    }
}

/// One probe under a concurrency permit, its result sent; `None` when the runner should stop.
pub(super) async fn probe_and_send(
    shared: &Shared,
    results: &mpsc::Sender<ProbeResult>,
    index: u32,
    due: Instant,
) -> Option<bool> {
    let check = &shared.checks[index as usize];
    let c = &shared.counters;
    let outcome = {
        let _permit = shared.sem.acquire().await.ok()?;
        let lag = nanos(Instant::now().saturating_duration_since(due));
        c.lag_max_ns.fetch_max(lag, Ordering::Relaxed);
        c.lag_sum_ns.fetch_add(lag, Ordering::Relaxed);
        c.starts.fetch_add(1, Ordering::Relaxed);
        let now_in = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let _guard = InFlight(c);
        c.peak_in_flight.fetch_max(now_in, Ordering::Relaxed);
        check.probe.probe().await
    };
    c.probes.fetch_add(1, Ordering::Relaxed);
    let ok = outcome.is_ok();
    let r = ProbeResult {
        check: check.id.clone(),
        kind: check.probe.kind(),
        outcome,
        at: Instant::now(),
    };
    results.send(r).await.ok()?;
    Some(ok)
}
