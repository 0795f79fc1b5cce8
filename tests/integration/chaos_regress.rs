//! Regressions found by the chaos suite (issue 17), made deterministic.
//!
//! With 30 % provider faults (`chaos_faults`), a change could be applied while its read-back
//! failed (audited `verify_failed`); the next attempt found the records already right and moved
//! the phase on without any audit entry, so the trail never said the failover (or the TTL
//! restore) happened. Paused clock, scripted probes, the in-memory provider.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::reconcile::Controller;
use dnsfailback::state::Store;
use dnsfailback_provider::memory::MemoryProvider;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError, RecordSet,
    RecordType,
};

use crate::harness::probe;

/// The in-memory provider, except that the first read after an armed apply fails: the change
/// is made, but the controller cannot confirm it.
struct LostReadBack {
    inner: MemoryProvider,
    armed: AtomicBool,
    fail_next_read: AtomicBool,
}

impl LostReadBack {
    fn check(&self) -> Result<(), ProviderError> {
        if self.fail_next_read.swap(false, Ordering::SeqCst) {
            return Err(ProviderError::new(
                "mem",
                ErrorKind::Transient,
                "connection reset",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for LostReadBack {
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
        self.check()?;
        self.inner.read(zone, name, rtype).await
    }
    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        self.check()?;
        self.inner.read_zone(zone).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        let r = self.inner.apply(changes).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            self.fail_next_read.store(true, Ordering::SeqCst);
        }
        r
    }
}

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn answer(p: &LostReadBack) -> Vec<String> {
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

#[tokio::test(start_paused = true)]
async fn a_failover_whose_read_back_failed_is_still_audited_once() {
    let provider = Arc::new(LostReadBack {
        inner: MemoryProvider::new("mem", &[fq("example.test")]),
        armed: AtomicBool::new(false),
        fail_next_read: AtomicBool::new(false),
    });
    let (config, _) = parse(
        std::path::Path::new("regress.toml"),
        crate::scenario::CONFIG,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mem: Arc<dyn Provider> = provider.clone();
    let (mut ctl, store) = crate::harness::controller_over(config, &[("mem", mem)]).await;
    for _ in 0..3 {
        round(&mut ctl, true).await;
    }
    assert_eq!(
        answer(&provider),
        vec!["192.0.2.10"],
        "published the primary"
    );

    provider.armed.store(true, Ordering::SeqCst);
    let mut phase = String::new();
    for _ in 0..60 {
        round(&mut ctl, false).await;
        phase = store
            .service_state("shop")
            .await
            .ok()
            .flatten()
            .map(|s| s.phase.label().to_string())
            .unwrap_or_default();
        if phase == "failed_over" {
            break;
        }
    }
    assert_eq!(phase, "failed_over");
    assert_eq!(answer(&provider), vec!["198.51.100.20"]);
    let history = store
        .history("shop", 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<&str> = history.iter().rev().map(|e| e.action.as_str()).collect();
    let count = |a: &str| actions.iter().filter(|x| **x == a).count();
    assert_eq!(
        count("verify_failed"),
        1,
        "the read-back failed once: {actions:?}"
    );
    assert_eq!(
        count("failover"),
        1,
        "the failover is in the trail once: {actions:?}"
    );
}
