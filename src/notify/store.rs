//! The store every audit entry passes through on its way to disk or etcd: the hook that
//! turns the audit trail into notifications without touching the places that audit.

use std::sync::Arc;

use super::Notifier;
use crate::policy::ServiceState;
use crate::state::{
    AuditEntry, ChangeRecord, Intent, IntentClose, IntentOutcome, Store, StoreError,
};

/// `inner`, with every audit entry also handed to the [`Notifier`] once it is durable.
pub struct NotifyingStore {
    inner: Arc<dyn Store>,
    notifier: Arc<Notifier>,
}

impl NotifyingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, notifier: Arc<Notifier>) -> Self {
        NotifyingStore { inner, notifier }
    }
}

#[async_trait::async_trait]
impl Store for NotifyingStore {
    async fn service_state(&self, service: &str) -> Result<Option<ServiceState>, StoreError> {
        self.inner.service_state(service).await
    }
    async fn service_states(
        &self,
        services: &[String],
    ) -> Result<std::collections::BTreeMap<String, ServiceState>, StoreError> {
        self.inner.service_states(services).await
    }
    async fn save_service_state(&self, service: &str, st: &ServiceState) -> Result<(), StoreError> {
        self.inner.save_service_state(service, st).await
    }
    async fn save_service_states(
        &self,
        states: &[(String, ServiceState)],
    ) -> Result<(), StoreError> {
        self.inner.save_service_states(states).await
    }
    async fn begin_intent(&self, intent: &Intent) -> Result<i64, StoreError> {
        self.inner.begin_intent(intent).await
    }
    async fn begin_intents(&self, intents: &[Intent]) -> Result<Vec<i64>, StoreError> {
        self.inner.begin_intents(intents).await
    }
    async fn finish_intents(&self, done: &[IntentClose]) -> Result<(), StoreError> {
        self.inner.finish_intents(done).await
    }
    async fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.finish_intent(id, outcome, error).await
    }
    async fn open_intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.inner.open_intents().await
    }
    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.inner.audit(entry).await?;
        self.notifier.notify(entry);
        Ok(())
    }
    async fn audit_many(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.inner.audit_many(entries).await?;
        for e in entries {
            self.notifier.notify(e);
        }
        Ok(())
    }
    async fn history(&self, service: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.history(service, limit).await
    }
    async fn record_changes(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        self.inner.record_changes(records).await
    }
    async fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
        self.inner.change(id).await
    }
    async fn changes_after(&self, service: &str, id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.changes_after(service, id).await
    }
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner.register_metrics(registry);
        self.notifier.register(registry);
    }
}
