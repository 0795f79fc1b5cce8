//! The runner's tests: scheduling without drift, jitter, coalesced wake-ups, rechecks and
//! missed intervals here; stopping, faults and the memory an idle check costs in
//! `lifecycle.rs`.

use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use super::*;

mod lifecycle;

/// Scripted probe: takes `latency`, answers from `script` (then repeats the last).
struct Scripted {
    latency: Duration,
    script: Mutex<Vec<bool>>,
    calls: AtomicUsize,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(latency: Duration, script: &[bool]) -> Arc<Self> {
        Self::shared(latency, script, Arc::default(), Arc::default())
    }
    fn shared(
        latency: Duration,
        script: &[bool],
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    ) -> Arc<Self> {
        let mut s = script.to_vec();
        s.reverse();
        Arc::new(Scripted {
            latency,
            script: Mutex::new(s),
            calls: AtomicUsize::new(0),
            running,
            peak,
        })
    }
}

#[async_trait::async_trait]
impl Probe for Scripted {
    async fn probe(&self) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        let ok = {
            let mut s = self.script.lock().unwrap();
            if s.len() > 1 {
                s.pop().unwrap()
            } else {
                s.last().copied().unwrap_or(true)
            }
        };
        Outcome {
            result: if ok {
                Ok(())
            } else {
                Err(FailureReason::Timeout)
            },
            latency: self.latency,
        }
    }
}

fn sched(interval_ms: u64, recheck: u32) -> Schedule {
    Schedule {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms),
        recheck,
        recheck_interval: Duration::from_millis(100),
    }
}

fn id(s: &str) -> CheckId {
    CheckId::new(s)
}

fn no_jitter() -> RunnerOptions {
    RunnerOptions {
        jitter: false,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn interval_is_respected_without_drift() {
    let (tx, mut rx) = mpsc::channel(100);
    let start = Instant::now();
    let p = Scripted::new(Duration::from_millis(30), &[true]);
    let _r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(1000, 2), p)], tx);
    let mut at = Vec::new();
    for _ in 0..5 {
        at.push(rx.recv().await.unwrap().at - start);
    }
    let want: Vec<Duration> = (0..5)
        .map(|i| Duration::from_millis(1000 * i + 30))
        .collect();
    assert_eq!(
        at, want,
        "probe starts stay on the 1 s grid despite 30 ms probes"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_first_runs_over_the_interval() {
    let (tx, mut rx) = mpsc::channel(1000);
    let start = Instant::now();
    let probes = instant_checks(200);
    let opts = RunnerOptions {
        seed: Some(7),
        ..Default::default()
    };
    let _r = Runner::spawn_probes(opts, probes, tx);
    let mut buckets = [0usize; 10];
    for _ in 0..200 {
        let t = rx.recv().await.unwrap().at - start;
        assert!(
            t < Duration::from_secs(1),
            "first run within one interval, got {t:?}"
        );
        buckets[(t.as_millis() / 100) as usize] += 1;
    }
    // uniform: 20 per 100 ms expected; no bucket empty or holding a burst
    assert!(
        buckets.iter().all(|&b| (5..=40).contains(&b)),
        "{buckets:?}"
    );
}

/// `n` checks at 1 s without recheck whose probes answer `ok` at once.
fn instant_checks(n: usize) -> Vec<(CheckId, Schedule, Arc<dyn Probe>)> {
    (0..n)
        .map(|i| {
            (
                id(&format!("c{i}")),
                sched(1000, 0),
                Scripted::new(Duration::ZERO, &[true]) as Arc<dyn Probe>,
            )
        })
        .collect()
}

#[test]
fn auto_slot_aims_at_fifty_probes_per_wakeup() {
    let secs = |n: usize, ms: u64| std::iter::repeat_n(Duration::from_millis(ms), n);
    assert_eq!(auto_slot(secs(1000, 1000)), Duration::from_millis(50));
    assert_eq!(auto_slot(secs(10_000, 1000)), Duration::from_millis(5));
    assert_eq!(auto_slot(secs(20_000, 1000)), Duration::from_micros(2500));
    // few checks: capped, not a 5 s slot
    assert_eq!(auto_slot(secs(10, 1000)), Duration::from_millis(50));
    // 500 checks at 100 ms are 5,000 probes/s
    assert_eq!(auto_slot(secs(500, 100)), Duration::from_millis(10));
    assert_eq!(auto_slot(std::iter::empty()), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn due_probes_share_one_wakeup_per_slot_and_stay_spread() {
    // 1,000 checks at 1 s: 50 ms slots, so first runs happen at 20 instants (one timer
    // wake-up each), 50 probes apiece, still spread evenly over the interval.
    let n = 1000;
    let (tx, mut rx) = mpsc::channel(n);
    let start = Instant::now();
    let probes = instant_checks(n);
    let opts = RunnerOptions {
        seed: Some(3),
        ..Default::default()
    };
    let _r = Runner::spawn_probes(opts, probes, tx);
    let mut instants = std::collections::BTreeMap::new();
    for _ in 0..n {
        let t = rx.recv().await.unwrap().at - start;
        *instants.entry(t.as_millis()).or_insert(0usize) += 1;
    }
    assert_eq!(instants.len(), 20, "{instants:?}");
    assert!(
        instants.keys().all(|ms| ms % 50 == 0),
        "every start on a 50 ms slot: {instants:?}"
    );
    assert!(
        instants.values().all(|&c| (25..=80).contains(&c)),
        "{instants:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn coalescing_can_be_turned_off() {
    let n = 1000;
    let (tx, mut rx) = mpsc::channel(n);
    let probes = instant_checks(n);
    let opts = RunnerOptions {
        seed: Some(3),
        start_slot: Some(Duration::ZERO),
        ..Default::default()
    };
    let start = Instant::now();
    let _r = Runner::spawn_probes(opts, probes, tx);
    let mut instants = std::collections::BTreeSet::new();
    for _ in 0..n {
        instants.insert((rx.recv().await.unwrap().at - start).as_millis());
    }
    assert!(instants.len() > 500, "{}", instants.len());
}

#[tokio::test(start_paused = true)]
async fn many_checks_ramp_up_instead_of_opening_everything_in_one_interval() {
    // 6,000 checks at 1 s: at most 2,000 first probes per second, so first runs spread
    // over 3 s, never more than ~250 in any 100 ms.
    let n = 6000;
    let (tx, mut rx) = mpsc::channel(n);
    let start = Instant::now();
    let probes = instant_checks(n);
    let opts = RunnerOptions {
        seed: Some(11),
        ..Default::default()
    };
    let _r = Runner::spawn_probes(opts, probes, tx);
    let mut first = std::collections::HashSet::new();
    let mut buckets = [0usize; 30];
    while first.len() < n {
        let Some(r) = rx.recv().await else { break };
        if first.insert(r.check.clone()) {
            let t = r.at - start;
            // The timer wheel rounds up to the millisecond.
            assert!(
                t <= Duration::from_millis(3001),
                "first run within the 3 s ramp, got {t:?}"
            );
            buckets[((t.as_millis() / 100) as usize).min(29)] += 1;
        }
    }
    assert_eq!(first.len(), n);
    assert!(
        buckets.iter().all(|&b| (120..=300).contains(&b)),
        "{buckets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn recheck_fires_right_after_first_failure() {
    let (tx, mut rx) = mpsc::channel(100);
    let start = Instant::now();
    // ok, then down for good
    let p = Scripted::new(Duration::from_millis(1), &[true, false]);
    let r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(1000, 3), p.clone())], tx);
    let mut got = Vec::new();
    for _ in 0..6 {
        let m = rx.recv().await.unwrap();
        got.push(((m.at - start).as_millis(), m.outcome.is_ok()));
    }
    assert_eq!(
        got,
        vec![
            (1, true),
            (1001, false),
            (1102, false),
            (1203, false),
            (1304, false),
            (2001, false)
        ],
        "3 rechecks 100 ms apart right after the first failure, then back to the interval; \
         no new burst while the failure continues"
    );
    assert_eq!(r.stats().rechecks, 3);
    assert_eq!(r.stats().missed_intervals, 0);
}

#[tokio::test(start_paused = true)]
async fn recheck_stops_when_target_answers_again() {
    let (tx, mut rx) = mpsc::channel(100);
    let start = Instant::now();
    let p = Scripted::new(Duration::ZERO, &[true, false, true]);
    let _r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(1000, 3), p)], tx);
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = rx.recv().await.unwrap();
        got.push(((m.at - start).as_millis(), m.outcome.is_ok()));
    }
    assert_eq!(
        got,
        vec![(0, true), (1000, false), (1100, true), (2000, true)]
    );
}

#[tokio::test(start_paused = true)]
async fn concurrency_bound_is_honoured_and_overruns_count_as_missed() {
    let (tx, mut rx) = mpsc::channel(10_000);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let probes = (0..20)
        .map(|i| {
            let p = Scripted::shared(
                Duration::from_millis(400),
                &[true],
                running.clone(),
                peak.clone(),
            );
            (id(&format!("c{i}")), sched(1000, 0), p as Arc<dyn Probe>)
        })
        .collect();
    let opts = RunnerOptions {
        max_in_flight: 4,
        jitter: false,
        ..Default::default()
    };
    let r = Runner::spawn_probes(opts, probes, tx);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        peak.load(Ordering::SeqCst),
        4,
        "never more than 4 probes at once"
    );
    let s = r.stats();
    assert_eq!(s.peak_in_flight, 4);
    // 4 slots x 10 s / 0.4 s = at most ~100 probes where 200 were due: the rest are missed
    assert!(s.probes <= 100, "{s:?}");
    assert!(s.missed_intervals > 50, "{s:?}");
    assert!(s.max_start_lag >= Duration::from_millis(1000), "{s:?}");
    drop(r);
    while rx.try_recv().is_ok() {}
}
