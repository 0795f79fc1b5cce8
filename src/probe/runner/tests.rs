//! The runner's tests: scheduling without drift, jitter, coalesced wake-ups, rechecks,
//! missed intervals, stopping, and the memory an idle check costs.

use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use super::*;

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
    CheckId(s.into())
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

#[tokio::test(start_paused = true)]
async fn dropping_the_runner_stops_probing() {
    let (tx, mut rx) = mpsc::channel(100);
    let p = Scripted::new(Duration::from_millis(10), &[true]);
    let r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(100, 0), p.clone())], tx);
    tokio::time::sleep(Duration::from_millis(550)).await;
    let before = p.calls.load(Ordering::SeqCst);
    assert_eq!(before, 6);
    drop(r);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        p.calls.load(Ordering::SeqCst),
        before,
        "no probe after drop"
    );
    // the channel closes once the tasks are gone
    while rx.recv().await.is_some() {}
}

#[tokio::test(start_paused = true)]
async fn closing_the_receiver_stops_probing() {
    let (tx, rx) = mpsc::channel(100);
    let p = Scripted::new(Duration::ZERO, &[true]);
    let _r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(100, 0), p.clone())], tx);
    tokio::time::sleep(Duration::from_millis(250)).await;
    drop(rx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(p.calls.load(Ordering::SeqCst) <= 4);
}

#[tokio::test(start_paused = true)]
async fn invalid_spec_reports_config_failure() {
    let (tx, mut rx) = mpsc::channel(100);
    let spec = CheckSpec::Tcp {
        address: "nope".into(),
        send: None,
        expect: None,
        expect_regex: None,
        family: Default::default(),
        role: Default::default(),
        timeout: None,
        interval: Some(Duration::from_millis(10)),
        recheck: Some(0),
        recheck_interval: None,
    };
    let _r = Runner::spawn_with(no_jitter(), vec![(id("bad"), spec)], tx);
    let m = rx.recv().await.unwrap();
    assert!(
        matches!(m.outcome.result, Err(FailureReason::Config(_))),
        "{m:?}"
    );
}

#[tokio::test]
async fn real_tcp_checks_through_the_runner() {
    let up = crate::probe::testutil::tcp_echo().await;
    let down = crate::probe::testutil::dead_tcp_port().await;
    let mk = |a: std::net::SocketAddr| CheckSpec::Tcp {
        address: a.to_string(),
        send: None,
        expect: None,
        expect_regex: None,
        family: Default::default(),
        role: Default::default(),
        timeout: Some(Duration::from_millis(200)),
        interval: Some(Duration::from_millis(200)),
        recheck: Some(2),
        recheck_interval: Some(Duration::from_millis(20)),
    };
    let (tx, mut rx) = mpsc::channel(100);
    let r = Runner::spawn(vec![(id("up"), mk(up)), (id("down"), mk(down))], tx);
    let mut up_ok = 0;
    let mut down_refused = 0;
    while up_ok < 2 || down_refused < 3 {
        let m = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match (m.check.0.as_str(), &m.outcome.result) {
            ("up", Ok(())) => up_ok += 1,
            ("down", Err(FailureReason::Refused)) => down_refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(r.stats().rechecks >= 2);
}

#[tokio::test(start_paused = true)]
async fn idle_checks_hold_no_task_each() {
    // The memory property: 1,000 checks between probes cost a queue entry each, not a
    // parked task each (a task with its timer, permit wait and clones was ~1 KB). The
    // probes take 0 to 500 ms, so most finish while the scheduler sleeps until 1 s: their
    // finished tasks must be freed all the same, not kept until the next round.
    let n = 1000;
    let (tx, mut rx) = mpsc::channel(n);
    let handle = tokio::runtime::Handle::current();
    let before = handle.metrics().num_alive_tasks();
    let start = Instant::now();
    let probes = (0..n)
        .map(|i| {
            let latency = Duration::from_micros(500 * i as u64);
            let p = Scripted::new(latency, &[true]) as Arc<dyn Probe>;
            (id(&format!("c{i}")), sched(1000, 0), p)
        })
        .collect();
    let r = Runner::spawn_probes(no_jitter(), probes, tx);
    for _ in 0..n {
        rx.recv().await.unwrap();
    }
    // every probe has answered; the next round is due at 1 s
    tokio::time::sleep_until(start + Duration::from_millis(700)).await;
    let idle = handle.metrics().num_alive_tasks() - before;
    assert!(idle <= 2, "{idle} tasks alive for {n} idle checks");
    let unfreed = r.shared.finished.load(Ordering::Relaxed);
    assert!(unfreed < n / 10, "{unfreed} finished probe tasks not freed");
    assert_eq!(r.stats().in_flight, 0);
    // and the checks are still scheduled: the second round starts at 1 s
    for _ in 0..n {
        let at = rx.recv().await.unwrap().at - start;
        assert!(at >= Duration::from_secs(1), "{at:?}");
        assert!(at <= Duration::from_millis(1500), "{at:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_check_never_overlaps_itself() {
    // 2.5 s probes at 1 s: one probe at a time, late ticks start at once, whole skipped
    // intervals are counted as missed.
    let (tx, mut rx) = mpsc::channel(100);
    let start = Instant::now();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let p = Scripted::shared(Duration::from_millis(2500), &[true], running, peak.clone());
    let r = Runner::spawn_probes(no_jitter(), vec![(id("a"), sched(1000, 0), p)], tx);
    let mut at = Vec::new();
    for _ in 0..5 {
        at.push((rx.recv().await.unwrap().at - start).as_millis());
    }
    // deadlines 0, 2 (started at 2.5), 5, 7 (at 7.5), 10
    assert_eq!(at, vec![2500, 5000, 7500, 10000, 12500]);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        1,
        "never two probes of one check"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // skipped: 1; 3 and 4; 6; 8 and 9; 11 (the late start at 12.5 is for 12)
    assert_eq!(r.stats().missed_intervals, 7);
    assert_eq!(r.stats().max_start_lag, Duration::from_millis(500));
}

/// A probe that never answers and counts how many of its futures were dropped.
struct Hang {
    dropped: Arc<AtomicUsize>,
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Probe for Hang {
    async fn probe(&self) -> Outcome {
        let _guard = CountDrop(self.dropped.clone());
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_runner_aborts_probes_in_flight() {
    let (tx, mut rx) = mpsc::channel(100);
    let dropped = Arc::new(AtomicUsize::new(0));
    let probes = (0..3)
        .map(|i| {
            let p = Arc::new(Hang {
                dropped: dropped.clone(),
            });
            (id(&format!("h{i}")), sched(1000, 0), p as Arc<dyn Probe>)
        })
        .collect();
    let r = Runner::spawn_probes(no_jitter(), probes, tx);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.stats().in_flight, 3);
    drop(r);
    // the channel closes only once every probe task is gone
    assert!(rx.recv().await.is_none());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        3,
        "every hung probe was cancelled"
    );
}

/// A probe that panics.
struct Panics;

#[async_trait::async_trait]
impl Probe for Panics {
    async fn probe(&self) -> Outcome {
        panic!("scripted probe panic (expected by the test)")
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_stops_only_its_own_check() {
    let (tx, mut rx) = mpsc::channel(100);
    let ok = Scripted::new(Duration::ZERO, &[true]);
    let probes = vec![
        (
            id("bad"),
            sched(1000, 0),
            Arc::new(Panics) as Arc<dyn Probe>,
        ),
        (id("good"), sched(1000, 0), ok.clone() as Arc<dyn Probe>),
    ];
    let r = Runner::spawn_probes(no_jitter(), probes, tx);
    for _ in 0..3 {
        assert_eq!(rx.recv().await.unwrap().check, id("good"));
    }
    assert_eq!(ok.calls.load(Ordering::SeqCst), 3);
    assert_eq!(r.stats().in_flight, 0);
}

#[test]
fn per_check_state_stays_small() {
    // All an idle check costs besides its id's text and its probe: its `Check` and its
    // queue entry (a task per check was ~1 KB).
    let fixed = std::mem::size_of::<Check>() + std::mem::size_of::<Entry>();
    assert!(fixed <= 112, "{fixed} bytes per check");
}

/// A probe that has "seen" a certificate expiring `days` days after the epoch.
struct CertSeen(u64);

#[async_trait::async_trait]
impl Probe for CertSeen {
    async fn probe(&self) -> Outcome {
        Outcome {
            result: Ok(()),
            latency: Duration::ZERO,
        }
    }

    fn cert_not_after(&self) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(self.0 * 86_400))
    }
}

#[tokio::test(start_paused = true)]
async fn cert_not_after_is_found_by_check_id() {
    let (tx, _rx) = mpsc::channel(100);
    let day = |d: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(d * 86_400));
    let probes = ["m", "b", "z", "a", "b"]
        .iter()
        .zip(1..)
        .map(|(name, days)| {
            let p = Arc::new(CertSeen(days)) as Arc<dyn Probe>;
            (id(name), sched(1000, 0), p)
        })
        .collect();
    let r = Runner::spawn_probes(no_jitter(), probes, tx);
    assert_eq!(r.cert_not_after(&id("m")), day(1));
    assert_eq!(r.cert_not_after(&id("z")), day(3));
    assert_eq!(r.cert_not_after(&id("a")), day(4));
    assert_eq!(
        r.cert_not_after(&id("b")),
        day(5),
        "of duplicates, the last wins"
    );
    assert_eq!(r.cert_not_after(&id("c")), None);
    assert_eq!(r.cert_not_after(&id("")), None);
    assert_eq!(r.cert_not_after(&id("zz")), None);
    assert_eq!(r.stats().checks, 5);
}
