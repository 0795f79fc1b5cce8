//! Mass failover under Route 53's real rate limit, small enough for CI: the real binary with
//! 100 services (one zone, then five) against the bench's Route 53 fake behind a limiter of 5
//! requests/s per account (benches/mass_failover/, shared by path). Every primary fails at
//! once; the test asserts that nothing is throttled, that the requests stay within a small
//! factor of the minimum (one change batch per zone and 1,000 ResourceRecord elements, one
//! GetChange per batch, one read-back), and that the records converge. The full-size numbers
//! are `cargo bench --bench mass_failover` (docs/benchmarks.md).

use std::time::Duration;

// The Cloudflare fake is already in this test binary (main.rs `cloudflare_peer`).
use crate::cloudflare_peer::fake as cloudflare_fake;
#[allow(dead_code)]
#[path = "../../benches/mass_failover/limiter.rs"]
mod limiter;
#[allow(dead_code)]
#[path = "../../benches/mass_failover/route53_fake.rs"]
mod route53_fake;
#[allow(dead_code)]
#[path = "../../benches/mass_failover/scenario.rs"]
mod scenario;

use limiter::Api;

fn mass_failover_on_route53(zones: usize) {
    let setup = scenario::Setup {
        api: Api::Route53,
        services: 100,
        zones,
        timeout: Duration::from_secs(60),
    };
    let o = scenario::run(&setup).unwrap_or_else(|e| panic!("{e}"));
    let summary = format!(
        "{zones} zone(s): {} requests ({}), minimum {}, {} throttled (publication: {}), \
         converged after {:?}, first write after {:?}",
        o.calls(),
        scenario::kinds(&o.counts),
        o.min_calls,
        o.counts.throttled,
        o.publish_throttles,
        o.converge,
        o.detect
    );
    eprintln!("{summary}");
    assert_eq!(
        o.counts.throttled, 0,
        "throttled during the failover: {summary}"
    );
    assert_eq!(
        o.publish_throttles, 0,
        "throttled while publishing: {summary}"
    );
    assert_eq!(o.invalid_batches, 0, "a batch was refused: {summary}");
    let writes = o.counts.by_kind.get("ChangeResourceRecordSets").copied();
    assert_eq!(
        writes,
        Some(zones as u64),
        "one change batch per zone: {summary}"
    );
    // The controller also reads each zone before it plans: twice the reads of the minimum.
    assert!(o.calls() <= 2 * o.min_calls, "too many requests: {summary}");
    // Writes wait for nothing but the budget: all of them within the rate-limit bound of
    // every request (plus a second of slack for the loopback and the loop's tick).
    let span = o.write_span().unwrap_or_default().as_secs_f64();
    assert!(
        span <= 2.0 * o.min_calls as f64 / 5.0 + 1.0,
        "writes spread over {span} s: {summary}"
    );
}

#[test]
fn mass_failover_one_zone_route53_no_throttles_few_calls() {
    mass_failover_on_route53(1);
}

#[test]
fn mass_failover_five_zones_route53_no_throttles_few_calls() {
    mass_failover_on_route53(5);
}
