//! A strict in-memory provider with fault injection, for tests of the controller and as the
//! reference implementation that the conformance suite is checked against first.
//!
//! It is as strict as a real provider (see [`crate::ZoneRecords::apply_strict`]) and records
//! every applied change set, so scenario tests can assert the exact sequence of provider
//! changes. Faults (5xx-like transient errors, rate limits, timeouts) are queued explicitly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::capability::Capabilities;
use crate::change::ChangeSet;
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{ApplyReceipt, Provider};
use crate::record::{Fqdn, RecordSet, RecordType};
use crate::zone::ZoneRecords;

/// A fault to inject into the next call of `apply` (or `read`).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail with this kind; the zone is left unchanged.
    Error(ErrorKind),
    /// Hang for this long before doing the call (to exercise timeouts and cancellation).
    Delay(Duration),
}

#[derive(Default)]
struct Inner {
    zones: BTreeMap<Fqdn, ZoneRecords>,
    applied: Vec<ChangeSet>,
    apply_faults: VecDeque<Fault>,
    read_faults: VecDeque<Fault>,
    apply_calls: usize,
}

/// See the module docs. Cloning shares the same zones.
#[derive(Clone)]
pub struct MemoryProvider {
    name: String,
    caps: Capabilities,
    inner: Arc<Mutex<Inner>>,
}

impl MemoryProvider {
    /// A provider with the given zones (empty) and weighted, atomic capabilities.
    pub fn new(name: &str, zones: &[Fqdn]) -> Self {
        let mut inner = Inner::default();
        for z in zones {
            inner.zones.insert(z.clone(), ZoneRecords::default());
        }
        MemoryProvider {
            name: name.to_string(),
            caps: Capabilities {
                weighted: true,
                max_weight: 255,
                atomic_batch: true,
                prerequisites: true,
                ..Capabilities::default()
            },
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Overrides the declared capabilities (e.g. to test the no-weights path).
    #[must_use]
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a set directly, as another tool or a human would (no preconditions).
    pub fn external_put(&self, zone: &Fqdn, set: RecordSet) {
        self.lock().zones.entry(zone.clone()).or_default().put(set);
    }

    /// Every change set applied so far, in order.
    pub fn applied(&self) -> Vec<ChangeSet> {
        self.lock().applied.clone()
    }

    /// How many times `apply` was called, including failed calls.
    pub fn apply_calls(&self) -> usize {
        self.lock().apply_calls
    }

    /// Queues a fault for a coming `apply` call.
    pub fn fail_apply(&self, fault: Fault) {
        self.lock().apply_faults.push_back(fault);
    }

    /// Queues a fault for a coming `read` call.
    pub fn fail_read(&self, fault: Fault) {
        self.lock().read_faults.push_back(fault);
    }

    /// A snapshot of one name/type.
    pub fn snapshot(&self, zone: &Fqdn, name: &Fqdn, rtype: RecordType) -> Vec<RecordSet> {
        self.lock()
            .zones
            .get(zone)
            .map(|z| z.get(name, rtype))
            .unwrap_or_default()
    }

    async fn take_fault(&self, apply: bool) -> Result<(), ProviderError> {
        let fault = {
            let mut inner = self.lock();
            if apply {
                inner.apply_calls += 1;
                inner.apply_faults.pop_front()
            } else {
                inner.read_faults.pop_front()
            }
        };
        match fault {
            None => Ok(()),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Fault::Error(kind)) => Err(ProviderError::new(
                &self.name,
                kind,
                format!("injected {} fault", kind.label()),
            )
            .unchanged()),
        }
    }

    fn unknown_zone(&self, zone: &Fqdn) -> ProviderError {
        ProviderError::new(&self.name, ErrorKind::NotFound, format!("no zone {zone}")).unchanged()
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        self.take_fault(false).await?;
        let inner = self.lock();
        let z = inner
            .zones
            .get(zone)
            .ok_or_else(|| self.unknown_zone(zone))?;
        Ok(z.get(name, rtype))
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        self.take_fault(false).await?;
        let inner = self.lock();
        let z = inner
            .zones
            .get(zone)
            .ok_or_else(|| self.unknown_zone(zone))?;
        Ok(z.all().cloned().collect())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        self.take_fault(true).await?;
        if let Err(problems) = changes.validate(&self.caps) {
            return Err(
                ProviderError::new(&self.name, ErrorKind::Invalid, problems.join("; ")).unchanged(),
            );
        }
        let mut inner = self.lock();
        let zone = inner
            .zones
            .get_mut(&changes.zone)
            .ok_or_else(|| self.unknown_zone(&changes.zone))?;
        zone.apply_strict(changes)
            .map_err(|msg| ProviderError::new(&self.name, ErrorKind::Conflict, msg).unchanged())?;
        inner.applied.push(changes.clone());
        Ok(ApplyReceipt::default())
    }
}
