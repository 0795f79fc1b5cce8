//! The provider trait: the one seam between the controller and a DNS service.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify.
//! Adapters are dumb executors: they read record sets and apply change sets. They never decide
//! health, policy or timing; dry-run lives in the planner, never in an adapter.
//!
//! # Contract
//!
//! * Every method is safe for concurrent use and cancel-safe: dropping a future leaves the zone
//!   either unchanged or fully changed as far as the provider's own atomicity allows, and the
//!   controller re-reads before it trusts anything.
//! * `read` returns every record set of `name` and `type` in `zone`, including all weighted
//!   members (one [`RecordSet`] per `set_id`), in any order, values normalised.
//! * `apply` applies all changes or, where [`Capabilities::atomic_batch`] is true, none. Each
//!   `Update`/`Delete` names the `old` set it expects; when the zone differs the adapter fails
//!   with [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) instead of overwriting someone
//!   else's change. A failure before any write is marked with
//!   [`ProviderError::not_applied`](crate::ProviderError::not_applied).
//! * Applying the same change set twice is harmless to the outcome: the second call fails with
//!   a conflict (the zone already changed) and the controller re-reads, finding it converged.
//! * Records that no change names are never touched.
//!
//! Before/after, for a failover of `shop.example.test A` (plain set):
//!
//! ```text
//! before: shop.example.test. 300 A 192.0.2.10
//! change: Update { old: shop 300 [192.0.2.10], new: shop 30 [198.51.100.20] }
//! after:  shop.example.test. 30 A 198.51.100.20
//! ```

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::capability::Capabilities;
use crate::change::ChangeSet;
use crate::error::{ErrorKind, ProviderError};
use crate::record::{Fqdn, RecordSet, RecordType, Soa};

/// What `apply` returns: enough to follow the change until it is served everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReceipt {
    /// The provider's change id (Route 53 `/change/...`), when it has one.
    pub change_id: Option<String>,
}

/// Whether an applied change is served by all of the provider's authoritative servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Pending,
    InSync,
}

/// A DNS service the controller can read and change. See the module docs for the contract.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The instance name from the configuration, used as the prefix of every error.
    fn name(&self) -> &str;

    /// What this instance can do; constant for its lifetime.
    fn capabilities(&self) -> Capabilities;

    /// True when a read costs no request: an in-process server answering from memory. The
    /// controller then reads record by record instead of listing the zone, and spreads its
    /// periodic drift checks over ticks instead of checking every service of a zone at once
    /// (which, for an API, keeps the listing to one per check period).
    fn reads_are_local(&self) -> bool {
        false
    }

    /// Retries and rate-limiter waits inside this instance's calls (see [`crate::CallStats`]),
    /// for metrics; `None` for an adapter that neither retries nor rate-limits.
    fn call_stats(&self) -> Option<std::sync::Arc<crate::CallStats>> {
        None
    }

    /// All record sets of `name`/`rtype` in `zone`, weighted members included.
    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError>;

    /// Every record set in `zone` that this adapter can represent. Optional.
    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        Err(ProviderError::new(
            self.name(),
            ErrorKind::Unsupported,
            format!("reading the whole zone {zone} is not supported"),
        ))
    }

    /// Applies `changes` (already validated against [`Provider::capabilities`]).
    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError>;

    /// Progress of an applied change; providers without change status are in sync at once.
    async fn sync_status(&self, _receipt: &ApplyReceipt) -> Result<SyncStatus, ProviderError> {
        Ok(SyncStatus::InSync)
    }

    /// The zone's SOA, where the provider can read it (see [`Capabilities::soa`]).
    async fn soa(&self, _zone: &Fqdn) -> Result<Option<Soa>, ProviderError> {
        Ok(None)
    }
}

/// Polls [`Provider::sync_status`] every `interval` until in sync or `limit` has passed.
///
/// Returns the status last seen, so a caller can report "still pending after 60 s" instead of
/// blocking forever on a slow provider. Uses tokio time, so tests run it on a paused clock.
pub async fn wait_in_sync(
    provider: &dyn Provider,
    receipt: &ApplyReceipt,
    interval: Duration,
    limit: Duration,
) -> Result<SyncStatus, ProviderError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = provider.sync_status(receipt).await?;
        if status == SyncStatus::InSync || tokio::time::Instant::now() + interval > deadline {
            return Ok(status);
        }
        tokio::time::sleep(interval).await;
    }
}
