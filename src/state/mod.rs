//! State: what the controller must never forget, kept outside its memory.
//!
//! Spans the flow: `reconcile` writes an [`Intent`] (the change set, with the old records and
//! their original TTL) durably **before** calling a provider, closes it after read-back
//! verification, and persists each service's [`ServiceState`] (phase, original TTL). After a
//! crash, start-up resumes from here and from the provider's real records, never from memory.
//!
//! # Expected flow
//! intent written -> provider apply -> read-back verified -> intent closed (applied / failed).
//! # Guarantees
//! The original TTL and values are durable before any change. An open intent found at start-up
//! is resolved against the provider: already applied, re-applied, or abandoned on conflict.
//! # Assumptions
//! Applying an intent is idempotent through the provider's compare-and-swap: re-applying an
//! already applied change set fails as a conflict and the re-read shows it converged.
//! # Caveats
//! The SQLite store serves one controller. Several controllers share the [`etcd`] store, with
//! a leader lease and fenced writes (see [`Leadership`], docs/decisions/0002-state-store.md
//! and 0007-etcd-coordination.md).

pub mod changes;
pub mod etcd;
mod memory;
mod sqlite;
pub mod when;

use serde::{Deserialize, Serialize};

use dnsfailback_provider::ChangeSet;

use crate::policy::ServiceState;
pub use changes::{inverse, ChangeRecord};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A store operation failed; the controller must not touch DNS without its journal.
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

/// A change the controller is about to make, written before the provider is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: i64,
    pub service: String,
    pub created_ms: u64,
    /// The leader's fencing token when it was written; a newer leader's intents win.
    pub fencing_token: u64,
    pub reason: String,
    pub changes: ChangeSet,
    /// The service state to persist once the change is verified.
    pub next_state: ServiceState,
}

/// How an intent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentOutcome {
    Applied,
    Failed,
    Abandoned,
}

impl IntentOutcome {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            IntentOutcome::Applied => "applied",
            IntentOutcome::Failed => "failed",
            IntentOutcome::Abandoned => "abandoned",
        }
    }
}

/// How one intent ended, for [`Store::finish_intents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentClose {
    pub id: i64,
    pub outcome: IntentOutcome,
    pub error: Option<String>,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: u64,
    pub service: String,
    /// `controller` or an operator's name.
    pub actor: String,
    /// Short verb: `failover`, `failback`, `ttl_restore`, `all_down`, `apply_failed`, ...
    pub action: String,
    pub reason: String,
    /// Health of the targets when the decision was taken (JSON).
    #[serde(default)]
    pub evidence: serde_json::Value,
    #[serde(default)]
    pub changes: Option<ChangeSet>,
    /// The id of the applied change this entry records (`dnsfailback rollback ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<i64>,
}

impl AuditEntry {
    /// An entry without a change set or evidence (an operator's command, a refusal, an
    /// approval), by `actor` on `service` at `at_ms`.
    pub fn note(at_ms: u64, service: &str, actor: &str, action: &str, reason: &str) -> Self {
        AuditEntry {
            at_ms,
            service: service.to_string(),
            actor: actor.to_string(),
            action: action.to_string(),
            reason: reason.to_string(),
            evidence: serde_json::Value::Null,
            changes: None,
            change_id: None,
        }
    }
}

/// Writes `entry` and logs a store error instead of returning it: for entries about something
/// that already happened (or was refused), which a failing audit write must not undo.
pub async fn audit_or_log(store: &dyn Store, entry: &AuditEntry) {
    if let Err(e) = store.audit(entry).await {
        tracing::error!("cannot write the audit trail: {e}");
    }
}

/// Durable controller state. Implementations must make each write durable before returning.
///
/// Async because the multi-controller store (etcd, one round trip per write, fenced with the
/// leader lease) must not block a runtime thread; the SQLite store simply answers at once.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The persisted state of a service, if any.
    async fn service_state(&self, service: &str) -> Result<Option<ServiceState>, StoreError>;
    /// The states of `services` at once (missing ones are left out). A follower reads them
    /// every tick, so a remote store answers with one request instead of one per service.
    async fn service_states(
        &self,
        services: &[String],
    ) -> Result<std::collections::BTreeMap<String, ServiceState>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for s in services {
            if let Some(st) = self.service_state(s).await? {
                out.insert(s.clone(), st);
            }
        }
        Ok(out)
    }
    /// Persists a service's state.
    async fn save_service_state(
        &self,
        service: &str,
        state: &ServiceState,
    ) -> Result<(), StoreError>;
    /// Persists the states of several services. A site failover saves hundreds at once, so a
    /// local store writes them in one transaction (one fsync) instead of one per service.
    async fn save_service_states(
        &self,
        states: &[(String, ServiceState)],
    ) -> Result<(), StoreError> {
        for (name, state) in states {
            self.save_service_state(name, state).await?;
        }
        Ok(())
    }
    /// Journals an intent; returns its id.
    async fn begin_intent(&self, intent: &Intent) -> Result<i64, StoreError>;
    /// Journals several intents durably before one batched provider call; ids in order.
    async fn begin_intents(&self, intents: &[Intent]) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(intents.len());
        for i in intents {
            ids.push(self.begin_intent(i).await?);
        }
        Ok(ids)
    }
    /// Closes several intents (one transaction where the store has them).
    async fn finish_intents(&self, done: &[IntentClose]) -> Result<(), StoreError> {
        for d in done {
            self.finish_intent(d.id, d.outcome, d.error.as_deref())
                .await?;
        }
        Ok(())
    }
    /// Closes an intent.
    async fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Intents written but never closed (the controller died in between).
    async fn open_intents(&self) -> Result<Vec<Intent>, StoreError>;
    /// Appends to the audit trail.
    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Appends several entries (one transaction where the store has them).
    async fn audit_many(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        for e in entries {
            self.audit(e).await?;
        }
        Ok(())
    }
    /// The newest `limit` audit entries of a service, newest first.
    async fn history(&self, service: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Keeps applied changes by id (see [`changes`]). A record with `rollback_of` marks that
    /// change rolled back in the same write; refused if it was rolled back already.
    async fn record_changes(&self, records: &[ChangeRecord]) -> Result<(), StoreError>;
    /// The applied change with this id, if any.
    async fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError>;
    /// The changes of `service` recorded after change `id`, oldest first.
    async fn changes_after(&self, service: &str, id: i64) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Adds what a store wrapper counts of its own to a `GET /metrics` scrape: the notifying
    /// store (`notify`) its notifications. The stores themselves count nothing.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// The seam for running several controllers: only the lease holder may write DNS, and each
/// write carries its fencing token so a deposed leader's late writes are recognisable.
pub trait Leadership: Send + Sync {
    /// True while this process holds the lease.
    fn is_leader(&self) -> bool;
    /// The token of the current lease (monotonic across leaders).
    fn fencing_token(&self) -> u64;
    /// Who holds the lease, when known (for a follower's status and refusals).
    fn holder(&self) -> Option<String> {
        None
    }
}

/// One controller, no election: always the leader. The default with the SQLite store.
pub struct SingleNode;

impl Leadership for SingleNode {
    fn is_leader(&self) -> bool {
        true
    }
    fn fencing_token(&self) -> u64 {
        1
    }
}

#[cfg(test)]
mod tests;
