//! Every provider call the loop makes, counted: a wrapper around each provider the controller
//! holds, so zone jobs, read-backs, drift checks, propagation reads, recovery and the watch of
//! a failing provider are all counted in one place, and no adapter crate knows about metrics.
//!
//! Sits at plan -> **provider** -> verify. The counters' handles are made once per provider
//! (no allocation per call; an error allocates its label once per call). Retries and
//! rate-limiter waits inside an adapter are not seen here: one call is one call.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, Fqdn, Provider, ProviderError, RecordSet, RecordType,
    Soa, SyncStatus,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::counters::{LoopCounters, ProviderCallLabels, ProviderErrorLabels, ProviderLabel};

/// The ok / error counters of one operation.
struct Calls {
    ok: Counter,
    error: Counter,
}

/// A provider whose calls are counted; otherwise it is `inner`.
struct Counted {
    inner: Arc<dyn Provider>,
    read: Calls,
    apply: Calls,
    status: Calls,
    errors: Family<ProviderErrorLabels, Counter>,
    apply_seconds: Histogram,
}

/// `provider`, counted into `counters` under its configured name.
pub(super) fn counted(provider: Arc<dyn Provider>, counters: &LoopCounters) -> Arc<dyn Provider> {
    let name = provider.name().to_string();
    if let Some(stats) = provider.call_stats() {
        counters
            .adapter_stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone(), stats);
    }
    let calls = |op| {
        let one = |outcome| {
            counters
                .provider_calls
                .get_or_create(&ProviderCallLabels {
                    provider: name.clone(),
                    op,
                    outcome,
                })
                .clone()
        };
        Calls {
            ok: one("ok"),
            error: one("error"),
        }
    };
    // Outermost, so the counters see only the propagation reads actually sent.
    super::sync_share::SharedSync::wrap(Arc::new(Counted {
        read: calls("read"),
        apply: calls("apply"),
        status: calls("status"),
        errors: counters.provider_errors.clone(),
        apply_seconds: counters
            .provider_apply_seconds
            .get_or_create(&ProviderLabel {
                provider: name.clone(),
            })
            .clone(),
        inner: provider,
    }))
}

/// Every provider of a controller, counted.
pub(super) fn counted_all(
    providers: BTreeMap<String, Arc<dyn Provider>>,
    counters: &LoopCounters,
) -> BTreeMap<String, Arc<dyn Provider>> {
    providers
        .into_iter()
        .map(|(name, p)| (name, counted(p, counters)))
        .collect()
}

impl Counted {
    fn count<T>(&self, calls: &Calls, r: Result<T, ProviderError>) -> Result<T, ProviderError> {
        match &r {
            Ok(_) => calls.ok.inc(),
            Err(e) => {
                self.errors
                    .get_or_create(&ProviderErrorLabels {
                        provider: self.inner.name().to_string(),
                        kind: e.kind.label(),
                    })
                    .inc();
                calls.error.inc()
            }
        };
        r
    }
}

#[async_trait]
impl Provider for Counted {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn reads_are_local(&self) -> bool {
        self.inner.reads_are_local()
    }
    fn call_stats(&self) -> Option<Arc<dnsfailback_provider::CallStats>> {
        self.inner.call_stats()
    }
    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        self.count(&self.read, self.inner.read(zone, name, rtype).await)
    }
    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        self.count(&self.read, self.inner.read_zone(zone).await)
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        let started = tokio::time::Instant::now();
        let r = self.inner.apply(changes).await;
        self.apply_seconds.observe(started.elapsed().as_secs_f64());
        self.count(&self.apply, r)
    }
    async fn sync_status(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        self.count(&self.status, self.inner.sync_status(receipt).await)
    }
    async fn soa(&self, zone: &Fqdn) -> Result<Option<Soa>, ProviderError> {
        self.count(&self.read, self.inner.soa(zone).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::memory::{Fault, MemoryProvider};
    use dnsfailback_provider::ErrorKind;

    #[tokio::test]
    async fn calls_and_errors_are_counted_by_provider_op_and_kind() {
        let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
        let mem = MemoryProvider::new("mem", std::slice::from_ref(&zone));
        let counters = LoopCounters::default();
        let p = counted(Arc::new(mem.clone()), &counters);
        let name = Fqdn::new("shop.example.test").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.read(&zone, &name, RecordType::A).await.is_ok());
        mem.fail_read(Fault::Error(ErrorKind::Transient));
        assert!(p.read(&zone, &name, RecordType::A).await.is_err());
        let calls = |op, outcome| {
            counters
                .provider_calls
                .get_or_create(&ProviderCallLabels {
                    provider: "mem".into(),
                    op,
                    outcome,
                })
                .get()
        };
        assert_eq!((calls("read", "ok"), calls("read", "error")), (1, 1));
        assert_eq!(calls("apply", "ok"), 0);
        let transient = counters
            .provider_errors
            .get_or_create(&ProviderErrorLabels {
                provider: "mem".into(),
                kind: "transient",
            })
            .get();
        assert_eq!(transient, 1);
        assert_eq!(p.name(), "mem");
    }
}
