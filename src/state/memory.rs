//! An in-memory [`Store`] for tests and `plan` dry runs; forgets everything on exit.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{AuditEntry, ChangeRecord, Intent, IntentOutcome, Store, StoreError};
use crate::policy::ServiceState;

#[derive(Default)]
struct Inner {
    services: BTreeMap<String, ServiceState>,
    intents: BTreeMap<i64, (Intent, Option<IntentOutcome>)>,
    audit: Vec<AuditEntry>,
    changes: BTreeMap<i64, ChangeRecord>,
    next_id: i64,
}

/// See the module docs.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn service_state(&self, service: &str) -> Result<Option<ServiceState>, StoreError> {
        Ok(self.lock().services.get(service).cloned())
    }
    async fn save_service_state(
        &self,
        service: &str,
        state: &ServiceState,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut state = state.clone();
        // Write-once original TTL, as in the SQLite store.
        if let Some(prev) = inner.services.get(service).and_then(|s| s.original_ttl) {
            state.original_ttl = Some(prev);
        }
        inner.services.insert(service.to_string(), state);
        Ok(())
    }
    async fn begin_intent(&self, intent: &Intent) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let mut i = intent.clone();
        i.id = id;
        inner.intents.insert(id, (i, None));
        Ok(id)
    }
    async fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        _error: Option<&str>,
    ) -> Result<(), StoreError> {
        match self.lock().intents.get_mut(&id) {
            Some(entry) => {
                entry.1 = Some(outcome);
                Ok(())
            }
            None => Err(StoreError(format!("no intent {id}"))),
        }
    }
    async fn open_intents(&self) -> Result<Vec<Intent>, StoreError> {
        Ok(self
            .lock()
            .intents
            .values()
            .filter(|(_, o)| o.is_none())
            .map(|(i, _)| i.clone())
            .collect())
    }
    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.lock().audit.push(entry.clone());
        Ok(())
    }
    async fn history(&self, service: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .filter(|e| e.service == service)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn record_changes(&self, records: &[ChangeRecord]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for r in records {
            if let Some(of) = r.rollback_of {
                super::changes::check_rollback_of(inner.changes.get(&of), of)?;
            }
        }
        for r in records {
            if let Some(of) = r.rollback_of.and_then(|of| inner.changes.get_mut(&of)) {
                of.rolled_back_by = Some(r.id);
            }
            inner.changes.insert(r.id, r.clone());
        }
        Ok(())
    }
    async fn change(&self, id: i64) -> Result<Option<ChangeRecord>, StoreError> {
        Ok(self.lock().changes.get(&id).cloned())
    }
    async fn changes_after(&self, service: &str, id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        Ok(self
            .lock()
            .changes
            .range(id.saturating_add(1)..)
            .map(|(_, r)| r)
            .filter(|r| r.service == service)
            .cloned()
            .collect())
    }
}
