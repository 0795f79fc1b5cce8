//! The baseline's tests: warming up, quantile accuracy across latencies and shapes, the
//! EWMAs, learning only while healthy, the gates' limits and floors, and snapshots (round
//! trips, damaged and older layouts).
//!
//! Part of the health stage (probe -> **health** -> policy): each test feeds probe results to
//! a [`Baseline`] as the control loop does.

use super::sketch::bucket_of;
use super::*;

const T0: u64 = 1_700_000_000_000;
const STEP: u64 = 5_000;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Feeds `n` results 5 s apart starting at `*t`, latency from `lat(i)`, failure every
/// `fail_every`-th (0 = never), as an Up target without incident.
fn feed(b: &mut Baseline, t: &mut u64, n: u64, fail_every: u64, lat: impl Fn(u64) -> Duration) {
    for i in 0..n {
        let ok = fail_every == 0 || (i + 1) % fail_every != 0;
        b.observe(ok, lat(i), *t, State::Up, false);
        *t += STEP;
    }
}

fn baseline() -> Result<Baseline, BaselineConfigError> {
    Baseline::new(BaselineConfig::default())
}

#[test]
fn cold_until_min_samples() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    assert!(!b.is_warm());
    assert_eq!(b.latency_p95(), None);
    assert_eq!(b.error_rate(), None);
    assert!(b
        .within(ms(1), 0.0, 2.0)
        .is_err_and(|e| e.contains("not warm")));
    feed(&mut b, &mut t, 59, 0, |_| ms(20));
    assert!(!b.is_warm());
    feed(&mut b, &mut t, 1, 0, |_| ms(20));
    assert!(b.is_warm());
    Ok(())
}

#[test]
fn percentiles_track_the_latency_distribution() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    // 1..=100 ms, uniformly: p50 ~ 50 ms, p95 ~ 95 ms (within bucket resolution).
    feed(&mut b, &mut t, 100, 0, |i| ms(i + 1));
    let p50 = b.latency_p50().map(|d| d.as_millis()).unwrap_or(0);
    let p95 = b.latency_p95().map(|d| d.as_millis()).unwrap_or(0);
    assert!((40..=60).contains(&p50), "p50 {p50}");
    assert!((85..=100).contains(&p95), "p95 {p95}");
    let ewma = b.latency_ewma().map(|d| d.as_millis()).unwrap_or(0);
    assert!((40..=100).contains(&ewma), "ewma {ewma}");
    Ok(())
}

#[test]
fn error_rate_is_an_ewma() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 200, 10, |_| ms(20));
    let e = b.error_rate().unwrap_or(1.0);
    assert!((0.07..=0.13).contains(&e), "error rate {e}");
    // Clean for a long time: the old errors decay away.
    feed(&mut b, &mut t, 2000, 0, |_| ms(20));
    assert!(b.error_rate().unwrap_or(1.0) < 0.001);
    Ok(())
}

#[test]
fn learns_only_while_up_and_outside_incidents() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 100, 0, |_| ms(20));
    let before = b.summary();
    assert!(!b.observe(false, ms(2000), t, State::Down, false));
    assert!(!b.observe(false, ms(2000), t, State::Unknown, false));
    assert!(!b.observe(true, ms(2000), t, State::Up, true));
    assert_eq!(b.summary(), before);
    assert!(b.observe(true, ms(20), t, State::Up, false));
    Ok(())
}

#[test]
fn window_is_the_last_hour_of_healthy_operation() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 720, 0, |_| ms(200)); // one healthy hour at 200 ms
                                               // A day-long outage: nothing learned, and it does not age the window.
    t += 24 * 3600 * 1000;
    assert!(b.is_warm(), "an outage does not cool the baseline");
    assert_eq!(b.latency_p95(), b.latency_quantile(0.95));
    // Another healthy hour at 20 ms replaces the 200 ms hour.
    feed(&mut b, &mut t, 720, 0, |_| ms(20));
    let p95 = b.latency_p95().map(|d| d.as_millis()).unwrap_or(0);
    assert!(p95 <= 20, "old hour dropped, p95 {p95}");
    assert!(b.samples() <= 720, "{} samples", b.samples());
    Ok(())
}

#[test]
fn gate_explains_which_limit_was_exceeded() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 200, 20, |_| ms(100)); // 5% errors, ~100 ms
    let p95 = b.latency_p95().unwrap_or_default();
    assert!(b.within(p95, 0.05, 2.0).is_ok());
    let slow = b.within(p95 * 3, 0.05, 2.0);
    assert!(
        slow.as_ref()
            .is_err_and(|e| e.contains("latency") && !e.contains("error rate")),
        "{slow:?}"
    );
    let errs = b.within(p95, 0.5, 2.0);
    assert!(
        errs.as_ref()
            .is_err_and(|e| e.contains("error rate") && !e.contains("latency")),
        "{errs:?}"
    );
    let both = b.within(p95 * 3, 0.5, 2.0);
    assert!(both
        .as_ref()
        .is_err_and(|e| e.contains("latency") && e.contains("error rate")));
    assert!(b.within(p95, f64::NAN, 2.0).is_err());
    assert!(b
        .within(p95, 0.0, f64::NAN)
        .is_err_and(|e| e.contains("factor")));
    Ok(())
}

#[test]
fn floors_keep_tiny_baselines_usable() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 100, 0, |_| ms(1)); // 1 ms, zero errors
    assert!(
        b.within(ms(8), 0.005, 2.0).is_ok(),
        "within the 10 ms and 1% floors"
    );
    assert!(b.within(ms(12), 0.0, 2.0).is_err());
    assert!(b.within(ms(1), 0.02, 2.0).is_err());
    Ok(())
}

#[test]
fn compare_against_a_canary_measurement() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 200, 0, |_| ms(50));
    let mut canary = Baseline::new(BaselineConfig {
        min_samples: 10,
        ..BaselineConfig::default()
    })?;
    for i in 0..30 {
        canary.learn(true, ms(60), t + i * STEP);
    }
    assert!(b.compare(&canary.summary(), 2.0).is_ok());
    let mut bad = canary.clone();
    for i in 30..60 {
        bad.learn(true, ms(400), t + i * STEP);
    }
    assert!(b
        .compare(&bad.summary(), 2.0)
        .is_err_and(|e| e.contains("latency")));
    let empty = Baseline::new(BaselineConfig::default())?.summary();
    assert!(b.compare(&empty, 2.0).is_err());
    Ok(())
}

#[test]
fn snapshot_round_trips_through_json() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 150, 7, |i| ms(10 + i % 30));
    let json = serde_json::to_string(b.snapshot())?;
    let snap: BaselineSnapshot = serde_json::from_str(&json)?;
    let r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
    let (got, want) = (r.summary(), b.summary());
    assert_eq!(
        (got.samples, got.latency_p50, got.latency_p95, got.warm),
        (want.samples, want.latency_p50, want.latency_p95, want.warm)
    );
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => false,
    };
    assert!(close(got.error_rate, want.error_rate));
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    assert!(close(secs(got.latency_ewma), secs(want.latency_ewma)));
    // Learning continues on the restored clock.
    let mut r2 = r.clone();
    r2.observe(true, ms(10), t, State::Up, false);
    assert_eq!(r2.samples(), b.samples() + 1);
    Ok(())
}

#[test]
fn mismatched_or_damaged_snapshot_is_dropped_not_trusted() -> Result<(), BaselineConfigError> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 100, 0, |_| ms(20));
    let other = BaselineConfig {
        slots: 6,
        ..BaselineConfig::default()
    };
    let r = Baseline::from_snapshot(other, b.snapshot().clone())?;
    assert_eq!(r.samples(), 0, "histogram layout changed: relearn");
    assert!(r.error_rate().is_some(), "EWMAs still fit");
    let mut damaged = b.snapshot().clone();
    damaged.error_sum = f64::NAN;
    let r = Baseline::from_snapshot(BaselineConfig::default(), damaged)?;
    assert_eq!(r.error_rate(), None);
    assert_eq!(r.samples(), b.samples());
    Ok(())
}

/// The sample at nearest rank `ceil(q n)` of `values`.
fn true_quantile(values: &mut [u64], q: f64) -> u64 {
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn relative_error(got: Option<Duration>, want_ms: u64) -> f64 {
    let got = got.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
    (got - want_ms as f64).abs() / want_ms as f64
}

#[test]
fn p95_of_slow_probes_is_accurate_within_two_percent() -> Result<(), BaselineConfigError> {
    // Probes of 2,001-2,015 ms: the old fixed buckets said 2,900 ms (a 45 % looser gate).
    let mut b = baseline()?;
    let mut t = T0;
    let lat = |i: u64| ms(2001 + (i * 7) % 15);
    feed(&mut b, &mut t, 300, 0, lat);
    let mut values: Vec<u64> = (0..300).map(|i| 2001 + (i * 7) % 15).collect();
    let p95 = true_quantile(&mut values, 0.95);
    let err = relative_error(b.latency_p95(), p95);
    assert!(
        err <= 0.02,
        "p95 {:?} vs true {p95} ms: {err}",
        b.latency_p95()
    );
    let p50 = true_quantile(&mut values, 0.5);
    assert!(relative_error(b.latency_p50(), p50) <= 0.02);
    // And the gate is as tight as configured: 2x the real p95, not 2x 2,900 ms.
    assert!(b.within(ms(3950), 0.0, 2.0).is_ok());
    assert!(b.within(ms(4150), 0.0, 2.0).is_err());
    Ok(())
}

#[test]
fn quantiles_of_a_bimodal_distribution() -> Result<(), BaselineConfigError> {
    // 90 % fast (20-29 ms), 10 % slow (800-899 ms): p50 is fast, p95 is slow.
    let mut b = baseline()?;
    let mut t = T0;
    let lat = |i: u64| {
        if i % 10 == 9 {
            800 + (i * 13) % 100
        } else {
            20 + (i * 3) % 10
        }
    };
    feed(&mut b, &mut t, 600, 0, |i| ms(lat(i)));
    let mut values: Vec<u64> = (0..600).map(lat).collect();
    for q in [0.5, 0.9, 0.95, 0.99] {
        let want = true_quantile(&mut values, q);
        let got = b.latency_quantile(q);
        assert!(
            relative_error(got, want) <= 0.02,
            "q{q}: {got:?} vs true {want} ms"
        );
    }
    let p50 = b.latency_p50().unwrap_or_default();
    let p95 = b.latency_p95().unwrap_or_default();
    assert!(p50 < ms(30) && p95 > ms(790), "p50 {p50:?}, p95 {p95:?}");
    Ok(())
}

#[test]
fn accurate_from_a_millisecond_to_a_minute() {
    for us in [
        900u64, 1_000, 3_333, 47_000, 250_000, 2_014_000, 29_999_000, 60_000_000,
    ] {
        let d = Duration::from_micros(us);
        let read = bucket_value(bucket_of(d)).as_secs_f64();
        let err = (read - d.as_secs_f64()).abs() / d.as_secs_f64();
        assert!(err <= RELATIVE_ACCURACY + 1e-9, "{us} us reads as {read} s");
    }
    assert_eq!(bucket_of(Duration::ZERO), 0);
    assert!(bucket_of(Duration::MAX) > 0);
}

#[test]
fn a_wide_spread_keeps_the_slot_small_and_the_upper_quantiles_exact(
) -> Result<(), BaselineConfigError> {
    // Every sample in its own bucket, 1 ms to ~13 s, all within one 5-minute slot.
    let mut b = baseline()?;
    let mut values = Vec::new();
    for i in 0..300u64 {
        let v = (1.033f64.powi(i as i32) * 1000.0) as u64; // microseconds
        values.push(v);
        b.learn(true, Duration::from_micros(v), T0 + i);
    }
    assert!(b
        .snapshot()
        .slots
        .iter()
        .all(|s| s.buckets.len() <= MAX_SLOT_BUCKETS));
    let want = true_quantile(&mut values, 0.95) as f64 / 1000.0;
    let got = b
        .latency_p95()
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    assert!(
        (got - want).abs() / want <= 0.02,
        "p95 {got} ms vs {want} ms"
    );
    let json = serde_json::to_string(b.snapshot()).unwrap_or_default();
    assert!(json.len() < 4096, "{} bytes", json.len());
    Ok(())
}

#[test]
fn snapshot_round_trip_keeps_the_quantiles_exactly() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = baseline()?;
    let mut t = T0;
    feed(&mut b, &mut t, 800, 9, |i| ms(2001 + i % 15));
    let json = serde_json::to_string(b.snapshot())?;
    let snap: BaselineSnapshot = serde_json::from_str(&json)?;
    assert_eq!(&snap, b.snapshot());
    let r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
    for q in [0.0, 0.5, 0.95, 1.0] {
        assert_eq!(r.latency_quantile(q), b.latency_quantile(q), "q{q}");
    }
    assert_eq!(r.samples(), b.samples());
    assert!(r.is_warm());
    Ok(())
}

#[test]
fn an_old_fixed_bucket_snapshot_loads_without_panic_and_relearns(
) -> Result<(), Box<dyn std::error::Error>> {
    // As written by earlier versions: 25 fixed buckets per slot, no `layout`.
    let counts = format!("[{}]", vec!["3"; 25].join(","));
    let slots: Vec<String> = (0..12)
        .map(|e| format!(r#"{{"epoch":{e},"samples":75,"counts":{counts}}}"#))
        .collect();
    let json = format!(
        r#"{{"healthy_ms":3600000,"last_ms":{T0},"latency_sum":20.0,"latency_weight":1.0,"error_sum":0.0,"error_weight":1.0,"slots":[{}]}}"#,
        slots.join(",")
    );
    let snap: BaselineSnapshot = serde_json::from_str(&json)?;
    assert_eq!(snap.layout, 0);
    let mut r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
    assert_eq!(r.samples(), 0, "the old histogram is not trusted");
    assert!(!r.is_warm());
    assert_eq!(r.latency_p95(), None);
    assert!(r.latency_ewma().is_some(), "the EWMAs still fit");
    let mut t = T0 + STEP;
    feed(&mut r, &mut t, 60, 0, |_| ms(20));
    assert!(r.is_warm());
    assert_eq!(r.snapshot().layout, LAYOUT);
    // A damaged new-layout snapshot (buckets out of order) is dropped the same way.
    let mut bad = r.snapshot().clone();
    if let Some(s) = bad.slots.iter_mut().find(|s| !s.buckets.is_empty()) {
        s.buckets.push((0, 1));
    }
    let r2 = Baseline::from_snapshot(BaselineConfig::default(), bad)?;
    assert_eq!(r2.samples(), 0);
    Ok(())
}

#[test]
fn rejects_unusable_configurations() {
    let with = |f: fn(&mut BaselineConfig)| {
        let mut c = BaselineConfig::default();
        f(&mut c);
        Baseline::new(c).err()
    };
    assert_eq!(
        with(|c| c.half_life = Duration::ZERO),
        Some(BaselineConfigError::HalfLife)
    );
    assert_eq!(with(|c| c.slots = 0), Some(BaselineConfigError::Window));
    assert_eq!(
        with(|c| c.window = Duration::ZERO),
        Some(BaselineConfigError::Window)
    );
    assert!(matches!(
        with(|c| c.error_rate_floor = f64::NAN),
        Some(BaselineConfigError::ErrorFloor(_))
    ));
    assert_eq!(with(|_| {}), None);
}
