//! Crash recovery: resolve intents that were journaled but never closed.
//!
//! Runs once at start-up, before the first tick. For each open intent the provider's real
//! records decide: already applied -> close it and adopt its state; still exactly the old
//! records -> apply it now (the decision was durable, so finishing it is what was promised);
//! anything else -> someone changed the zone meanwhile: abandon it and let the loop re-plan.

use dnsfailback_provider::{Change, RecordSet};

use dnsfailback_provider::Provider;

use super::Controller;
use crate::config::Service;
use crate::health::TargetHealth;
use crate::state::{ChangeRecord, Intent, IntentOutcome};

fn holds(observed: &[RecordSet], set: &RecordSet) -> bool {
    observed.iter().any(|o| o.same_answer(set))
}

impl Controller {
    pub(super) async fn recover_open_intents(&mut self) {
        let intents = match self.store.open_intents().await {
            Ok(i) => i,
            Err(e) => {
                tracing::error!("cannot read open intents: {e}");
                return;
            }
        };
        for intent in intents {
            self.resolve_intent(intent).await;
        }
    }

    /// Reads the records an intent was about and finishes, re-applies or abandons it.
    async fn resolve_intent(&mut self, intent: Intent) {
        let Some(service) = self.services.get(&intent.service).cloned() else {
            let _ = self
                .store
                .finish_intent(
                    intent.id,
                    IntentOutcome::Abandoned,
                    Some("service no longer configured"),
                )
                .await;
            return;
        };
        let Some(provider) = self.providers.get(&service.provider).cloned() else {
            return;
        };
        let observed = match provider
            .read(&service.zone, &service.record, service.rtype)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(service = %service.name, "cannot resolve intent {}: {e}; retrying on next start", intent.id);
                return;
            }
        };
        let health = self.health.service(&service.name);
        let evidence = serde_json::to_value(&health).unwrap_or_default();
        match fate(&intent, &observed) {
            Fate::Applied => {
                tracing::info!(service = %service.name, "intent {} was applied before the restart", intent.id);
                self.record_recovered(&intent, "resume").await;
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Applied, None)
                    .await;
                let why = format!(
                    "intent {} found applied after restart: {}",
                    intent.id, intent.reason
                );
                self.audit_change_later(&service.name, ("resume", &why), evidence, intent.id);
                if let Err(e) = self
                    .save_state(&service.name, intent.next_state.clone())
                    .await
                {
                    tracing::error!("{e}");
                }
            }
            Fate::Untouched => {
                tracing::info!(service = %service.name, "resuming intent {} after restart", intent.id);
                let why = format!(
                    "re-applying intent {} after restart: {}",
                    intent.id, intent.reason
                );
                self.audit_later(&service.name, "resume", &why, evidence);
                self.reapply(&service, provider.as_ref(), &intent, &health)
                    .await;
            }
            Fate::Changed => {
                let msg = "the zone changed since the intent was written; re-planning";
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Abandoned, Some(msg))
                    .await;
                self.audit_later(&service.name, "abandon", msg, evidence);
            }
        }
    }

    /// The change record of an intent found applied (or re-applied) after a restart, before
    /// the intent closes, so the change has its id for `rollback` like any other.
    async fn record_recovered(&self, intent: &Intent, action: &str) {
        let record = ChangeRecord {
            id: intent.id,
            service: intent.service.clone(),
            at_ms: self.clock.now_ms(),
            actor: "controller".into(),
            action: action.to_string(),
            changes: intent.changes.clone(),
            rollback_of: None,
            rolled_back_by: None,
        };
        if let Err(e) = self.store.record_changes(&[record]).await {
            tracing::error!(service = %intent.service, "cannot record change {}: {e}", intent.id);
        }
    }

    /// Finishes what a durable intent promised: apply, read back, close, save, audit.
    async fn reapply(
        &mut self,
        service: &Service,
        provider: &dyn Provider,
        intent: &Intent,
        health: &[TargetHealth],
    ) {
        let outcome = match provider.apply(&intent.changes).await {
            Err(e) => Err(format!("apply failed: {e}")),
            Ok(_) => match provider
                .read(&service.zone, &service.record, service.rtype)
                .await
            {
                Err(e) => Err(format!("read-back after apply failed: {e}")),
                Ok(got) => match super::verify::mismatch(&got, &intent.changes) {
                    Some(m) => Err(m),
                    None => Ok(()),
                },
            },
        };
        let evidence = serde_json::to_value(health).unwrap_or_default();
        match outcome {
            Ok(()) => {
                let current = self
                    .runtime
                    .get(&service.name)
                    .map(|r| r.state.phase.clone())
                    .unwrap_or(crate::policy::Phase::Normal);
                let action = super::converge::action_for(&intent.next_state.phase, &current);
                self.record_recovered(intent, action).await;
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Applied, None)
                    .await;
                let reason = intent.reason.as_str();
                self.audit_change_later(&service.name, (action, reason), evidence, intent.id);
                if let Err(e) = self
                    .save_state(&service.name, intent.next_state.clone())
                    .await
                {
                    tracing::error!(service = %service.name, "{e}");
                }
            }
            Err(msg) => {
                tracing::error!(service = %service.name, "{msg}");
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Failed, Some(&msg))
                    .await;
                self.audit_later(&service.name, "apply_failed", &msg, evidence);
            }
        }
    }
}

/// What became of an intent's changes, judged from the records now.
enum Fate {
    /// Every change is in place: the crash came after the provider took it.
    Applied,
    /// Nothing changed yet: the crash came before; apply it now.
    Untouched,
    /// Someone else changed the records meanwhile: abandon and let the loop re-plan.
    Changed,
}

fn fate(intent: &Intent, observed: &[RecordSet]) -> Fate {
    let applied = intent.changes.changes.iter().all(|c| match c {
        Change::Create { new } | Change::Update { new, .. } => holds(observed, new),
        Change::Delete { old } => !observed.iter().any(|o| o.key() == old.key()),
    });
    let untouched = intent.changes.changes.iter().all(|c| match c {
        Change::Create { new } => !observed.iter().any(|o| o.key() == new.key()),
        Change::Update { old, .. } | Change::Delete { old } => holds(observed, old),
    });
    if applied {
        Fate::Applied
    } else if untouched {
        Fate::Untouched
    } else {
        Fate::Changed
    }
}
