//! The runner's life cycle: stopping when dropped or when results are no longer read, aborting
//! probes in flight, a panicking or invalid check, real TCP checks, and what a check costs.

use super::*;

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
        match (m.check.as_str(), &m.outcome.result) {
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
