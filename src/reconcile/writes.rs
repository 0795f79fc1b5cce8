//! The loop's writes: state changes and audit entries queued during a tick and written
//! together (one store transaction each), and a service's state taken into memory.
//!
//! Beside the flow's last step (verify -> **record**): every decision that changes a
//! service's state, and every line of the audit trail the loop writes, goes through here.

use super::Controller;
use crate::policy::ServiceState;
use crate::state::AuditEntry;

impl Controller {
    /// Writes the state changes and audit entries collected this tick, one transaction each.
    pub(super) async fn flush(&mut self) {
        let saves = std::mem::take(&mut self.saves);
        if !saves.is_empty() {
            let saves: Vec<(String, ServiceState)> = saves.into_iter().collect();
            match self.store.save_service_states(&saves).await {
                Ok(()) => {
                    for (name, state) in saves {
                        self.adopt_state(&name, state);
                    }
                }
                Err(e) => {
                    for (name, _) in &saves {
                        self.set_error(name, format!("cannot save state: {e}"));
                    }
                }
            }
        }
        let audits = std::mem::take(&mut self.audits);
        if !audits.is_empty() {
            if let Err(e) = self.store.audit_many(&audits).await {
                tracing::error!("cannot write the audit trail: {e}");
            }
        }
    }

    /// Takes a saved state into memory, logging a phase change (only a real one).
    pub(super) fn adopt_state(&mut self, name: &str, state: ServiceState) {
        let Some(rt) = self.runtime.get_mut(name) else {
            return;
        };
        if rt.state.phase.label() != state.phase.label() {
            tracing::info!(
                service = name,
                "phase {} -> {}",
                rt.state.phase.label(),
                state.phase.label()
            );
        }
        rt.state = state;
    }

    /// Makes the next tick decide `name` even if it looks quiet (a command, a hook result).
    pub(super) fn wake(&mut self, name: &str) {
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.decided = (u64::MAX, 0);
        }
    }

    /// Queues a state write for this tick's flush, if the state changed.
    pub(super) fn save_later(&mut self, name: &str, state: ServiceState) {
        if self.runtime.get(name).is_some_and(|rt| rt.state != state) {
            self.saves.insert(name.to_string(), state);
        }
    }

    /// Saves one service's state now (operator commands, recovery).
    pub(super) async fn save_state(
        &mut self,
        name: &str,
        state: ServiceState,
    ) -> Result<(), String> {
        if self.runtime.get(name).is_none_or(|rt| rt.state == state) {
            return Ok(());
        }
        self.store
            .save_service_state(name, &state)
            .await
            .map_err(|e| e.to_string())?;
        self.adopt_state(name, state);
        Ok(())
    }

    /// Queues an audit entry by the controller for this tick's flush.
    pub(super) fn audit_later(
        &mut self,
        service: &str,
        action: &str,
        reason: &str,
        evidence: serde_json::Value,
    ) {
        self.audits.push(AuditEntry {
            evidence,
            ..AuditEntry::note(self.clock.now_ms(), service, "controller", action, reason)
        });
    }

    /// [`Controller::audit_later`] for an entry that records change `id` (its change set is in
    /// the change record), so `history` shows the id to roll back.
    pub(super) fn audit_change_later(
        &mut self,
        service: &str,
        (action, reason): (&str, &str),
        evidence: serde_json::Value,
        id: i64,
    ) {
        self.audit_later(service, action, reason, evidence);
        if let Some(entry) = self.audits.last_mut() {
            entry.change_id = Some(id);
        }
    }

    /// Shows `e` as the service's last error (and logs it).
    pub(super) fn set_error(&mut self, name: &str, e: String) {
        tracing::warn!(service = name, "{e}");
        if let Some(rt) = self.runtime.get_mut(name) {
            rt.last_error = Some(e);
        }
    }
}
