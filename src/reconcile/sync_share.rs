//! One propagation read per change, however many services it moved.
//!
//! Sits at plan -> provider -> **verify**: after a change is applied, the loop asks the
//! provider whether it is served everywhere (`sync_status`, Route 53's GetChange) for each
//! service it moved, every few seconds until it is. A zone job writes a site failover as one
//! batch, so a thousand services carry the same change id; asking for each of them spent the
//! account's request budget (Route 53: 5 requests/s) on a thousand identical GetChange calls
//! that then queued ahead of the next failover's write (measured by benches/mass_failover.rs).
//! This wrapper answers every service of one change from one read: callers of the same change
//! id wait for the read in flight, an answer is reused for [`FRESH`], and "in sync", which
//! never goes back, is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, Fqdn, Provider, ProviderError, RecordSet, RecordType,
    Soa, SyncStatus,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a "pending" answer is reused for the other services of the same change: below the
/// loop's 5 s between two propagation reads of one service, so each round reads once.
pub(super) const FRESH: Duration = Duration::from_secs(4);
/// Changes remembered before old ones are forgotten (bounded memory).
const KEPT: usize = 1024;

type Slot = Arc<Mutex<Option<(Instant, SyncStatus)>>>;

/// A provider whose `sync_status` is shared by every caller of one change id.
pub(super) struct SharedSync {
    inner: Arc<dyn Provider>,
    changes: StdMutex<HashMap<String, Slot>>,
}

impl SharedSync {
    /// Wraps `inner`; everything but `sync_status` passes straight through.
    pub(super) fn wrap(inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(SharedSync {
            inner,
            changes: StdMutex::new(HashMap::new()),
        })
    }

    fn slot(&self, id: &str) -> Slot {
        let mut map = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(id) && map.len() >= KEPT {
            // Forget the changes nobody is reading right now; a later read just asks again.
            map.retain(|_, s| Arc::strong_count(s) > 1);
        }
        map.entry(id.to_string()).or_default().clone()
    }
}

#[async_trait]
impl Provider for SharedSync {
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
        self.inner.read(zone, name, rtype).await
    }
    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        self.inner.read_zone(zone).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        self.inner.apply(changes).await
    }
    async fn sync_status(&self, receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        let Some(id) = &receipt.change_id else {
            return self.inner.sync_status(receipt).await;
        };
        let slot = self.slot(id);
        // Held across the read: the other services of this change wait for its answer.
        let mut last = slot.lock().await;
        if let Some((at, status)) = *last {
            if status == SyncStatus::InSync || at.elapsed() < FRESH {
                return Ok(status);
            }
        }
        let status = self.inner.sync_status(receipt).await?;
        *last = Some((Instant::now(), status));
        Ok(status)
    }
    async fn soa(&self, zone: &Fqdn) -> Result<Option<Soa>, ProviderError> {
        self.inner.soa(zone).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts `sync_status` calls; pending until `in_sync_after` calls were made.
    struct Changes {
        calls: AtomicUsize,
        in_sync_after: usize,
    }

    #[async_trait]
    impl Provider for Changes {
        fn name(&self) -> &str {
            "changes"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        async fn read(
            &self,
            _: &Fqdn,
            _: &Fqdn,
            _: RecordType,
        ) -> Result<Vec<RecordSet>, ProviderError> {
            Ok(Vec::new())
        }
        async fn apply(&self, _: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
            Ok(ApplyReceipt::default())
        }
        async fn sync_status(&self, _: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
            tokio::time::sleep(Duration::from_millis(200)).await; // a slow API
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(if n >= self.in_sync_after {
                SyncStatus::InSync
            } else {
                SyncStatus::Pending
            })
        }
    }

    fn receipt(id: &str) -> ApplyReceipt {
        ApplyReceipt {
            change_id: Some(id.into()),
        }
    }

    /// `n` concurrent callers of change `id`, as `n` services of one batch on one tick.
    async fn round(p: &Arc<dyn Provider>, id: &str, n: usize) -> Vec<Option<SyncStatus>> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (p, r) = (p.clone(), receipt(id));
                tokio::spawn(async move { p.sync_status(&r).await.ok() })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.ok().flatten());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_services_of_one_change_cost_one_read_per_round() {
        let inner = Arc::new(Changes {
            calls: AtomicUsize::new(0),
            in_sync_after: 2,
        });
        let p = SharedSync::wrap(inner.clone());
        let calls = || inner.calls.load(Ordering::SeqCst);
        let first = round(&p, "C1", 1000).await;
        assert!(first.iter().all(|s| *s == Some(SyncStatus::Pending)));
        assert_eq!(calls(), 1, "one read for all");
        // Within FRESH the answer is reused...
        tokio::time::sleep(FRESH / 2).await;
        round(&p, "C1", 1000).await;
        assert_eq!(calls(), 1);
        // ...after it, one new read, which says in sync, and that is kept for good.
        tokio::time::sleep(FRESH).await;
        let second = round(&p, "C1", 1000).await;
        assert!(second.iter().all(|s| *s == Some(SyncStatus::InSync)));
        assert_eq!(calls(), 2);
        tokio::time::sleep(FRESH * 10).await;
        round(&p, "C1", 10).await;
        assert_eq!(calls(), 2, "in sync never goes back");
        // Another change is read on its own.
        assert_eq!(round(&p, "C2", 1).await, vec![Some(SyncStatus::InSync)]);
        assert_eq!(calls(), 3);
    }
}
