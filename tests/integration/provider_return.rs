//! A provider that comes back after a minute-long outage gets the waiting change within a few
//! seconds, not when the service's back-off (by then 32 s or more) runs out: the loop reads
//! one record of a failing provider every 2 s and lets its services retry when it answers.
//! Paused clock, scripted probes, a provider switched off and on by the test.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::reconcile::Controller;
use dnsfailback_provider::memory::MemoryProvider;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError, RecordSet,
    RecordType,
};

use crate::harness::probe;

/// The in-memory provider behind two switches: while off, reads (or changes) fail as a
/// provider outage does (a transient error: timeouts, 5xx).
struct Switchable {
    inner: MemoryProvider,
    up: AtomicBool,
    writes_up: AtomicBool,
    reads: AtomicUsize,
    applies: AtomicUsize,
}

impl Switchable {
    fn new() -> Arc<Switchable> {
        Arc::new(Switchable {
            inner: MemoryProvider::new("mem", &[fq("example.test")]),
            up: AtomicBool::new(true),
            writes_up: AtomicBool::new(true),
            reads: AtomicUsize::new(0),
            applies: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.reads.load(Ordering::SeqCst) + self.applies.load(Ordering::SeqCst)
    }

    fn outage(&self, switch: &AtomicBool) -> Result<(), ProviderError> {
        if switch.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(ProviderError::new(
                "mem",
                ErrorKind::Transient,
                "503 Service Unavailable",
            ))
        }
    }
}

#[async_trait]
impl Provider for Switchable {
    fn name(&self) -> &str {
        "mem"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.outage(&self.up)?;
        self.inner.read(zone, name, rtype).await
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        self.applies.fetch_add(1, Ordering::SeqCst);
        self.outage(&self.up)?;
        self.outage(&self.writes_up)?;
        self.inner.apply(changes).await
    }
}

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn answer(p: &Switchable) -> Vec<String> {
    p.inner
        .snapshot(&fq("example.test"), &fq("shop.example.test"), RecordType::A)
        .into_iter()
        .flat_map(|s| s.values)
        .collect()
}

async fn round(ctl: &mut Controller, primary_ok: bool) {
    ctl.observe(&probe(check_id("shop", "primary", 0), primary_ok));
    ctl.observe(&probe(check_id("shop", "backup", 0), true));
    ctl.tick().await;
    tokio::time::advance(Duration::from_secs(1)).await;
}

/// A controller over `provider` with the scenario configuration (one service, two targets),
/// after three healthy rounds that published the primary.
async fn controller_over(provider: &Arc<Switchable>) -> Controller {
    let (config, _) = parse(
        std::path::Path::new("provider_return.toml"),
        crate::scenario::CONFIG,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mem: Arc<dyn Provider> = provider.clone();
    let (mut ctl, _) = crate::harness::controller_over(config, &[("mem", mem)]).await;
    for _ in 0..3 {
        round(&mut ctl, true).await;
    }
    assert_eq!(
        answer(provider),
        vec!["192.0.2.10"],
        "published the primary"
    );
    ctl
}

#[tokio::test(start_paused = true)]
async fn a_provider_back_from_a_minute_long_outage_gets_the_failover_within_seconds() {
    let provider = Switchable::new();
    let mut ctl = controller_over(&provider).await;

    // The provider goes away, then the primary dies: the failover cannot be written for 70 s.
    // The service backs off (1, 2, 4 ... 60 s): its attempts come about 3, 4, 6, 10, 18, 34,
    // 66 and 126 s into the outage, so without the watch the failover would land almost a
    // minute after the provider's return at 70 s.
    provider.up.store(false, Ordering::SeqCst);
    let calls0 = provider.calls();
    for _ in 0..70 {
        round(&mut ctl, false).await;
    }
    assert_eq!(
        answer(&provider),
        vec!["192.0.2.10"],
        "nothing could be written"
    );
    // About 7 back-off attempts and a watch read every 2 s: neither a call per tick (70+) nor
    // only the back-off's few.
    let during = provider.calls() - calls0;
    assert!(
        (25..=50).contains(&during),
        "{during} provider calls in 70 s"
    );

    // The provider returns: the failover is written within a few seconds.
    provider.up.store(true, Ordering::SeqCst);
    let mut took = None;
    for second in 1..=40u64 {
        round(&mut ctl, false).await;
        if answer(&provider) == vec!["198.51.100.20"] {
            took = Some(second);
            break;
        }
    }
    let took = took.unwrap_or_else(|| panic!("no failover within 40 s of the provider's return"));
    assert!(
        took <= 4,
        "the failover landed {took} s after the provider's return (watch every 2 s + a tick)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_reads_but_refuses_changes_is_not_retried_every_two_seconds() {
    let provider = Switchable::new();
    let mut ctl = controller_over(&provider).await;
    // Reads work, changes fail: a successful watch read says nothing about when changes will
    // work again, so the back-off (not the watch) sets the pace.
    provider.writes_up.store(false, Ordering::SeqCst);
    let applies0 = provider.applies.load(Ordering::SeqCst);
    for _ in 0..70 {
        round(&mut ctl, false).await;
    }
    let applies = provider.applies.load(Ordering::SeqCst) - applies0;
    assert!(
        (4..=9).contains(&applies),
        "{applies} change attempts in 70 s (the back-off allows about 7; every 2-3 s would be 25+)"
    );
    assert_eq!(answer(&provider), vec!["192.0.2.10"]);
}
