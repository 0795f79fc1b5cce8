//! Crash recovery: resolve intents that were journaled but never closed.
//!
//! Runs once at start-up, before the first tick. For each open intent the provider's real
//! records decide: already applied -> close it and adopt its state; still exactly the old
//! records -> apply it now (the decision was durable, so finishing it is what was promised);
//! anything else -> someone changed the zone meanwhile: abandon it and let the loop re-plan.

use dnsfailback_provider::{Change, RecordSet};

use super::Controller;
use crate::state::IntentOutcome;

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
            let Some(service) = self.config.services.get(&intent.service).cloned() else {
                let _ = self
                    .store
                    .finish_intent(
                        intent.id,
                        IntentOutcome::Abandoned,
                        Some("service no longer configured"),
                    )
                    .await;
                continue;
            };
            let Some(provider) = self.provider(&service) else {
                continue;
            };
            let observed = match provider
                .read(&service.zone, &service.record, service.rtype)
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(service = %service.name, "cannot resolve intent {}: {e}; retrying on next start", intent.id);
                    continue;
                }
            };
            let applied = intent.changes.changes.iter().all(|c| match c {
                Change::Create { new } | Change::Update { new, .. } => holds(&observed, new),
                Change::Delete { old } => !observed.iter().any(|o| o.key() == old.key()),
            });
            let untouched = intent.changes.changes.iter().all(|c| match c {
                Change::Create { new } => !observed.iter().any(|o| o.key() == new.key()),
                Change::Update { old, .. } | Change::Delete { old } => holds(&observed, old),
            });
            let health = self.health.service(&service.name);
            if applied {
                tracing::info!(service = %service.name, "intent {} was applied before the restart", intent.id);
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Applied, None)
                    .await;
                self.audit(
                    &service.name,
                    "resume",
                    &format!(
                        "intent {} found applied after restart: {}",
                        intent.id, intent.reason
                    ),
                    &health,
                    None,
                )
                .await;
                if let Err(e) = self
                    .save_state(&service.name, intent.next_state.clone())
                    .await
                {
                    tracing::error!("{e}");
                }
            } else if untouched {
                tracing::info!(service = %service.name, "resuming intent {} after restart", intent.id);
                self.audit(
                    &service.name,
                    "resume",
                    &format!(
                        "re-applying intent {} after restart: {}",
                        intent.id, intent.reason
                    ),
                    &health,
                    None,
                )
                .await;
                if let Err(e) = self
                    .execute(&service, provider.as_ref(), &intent, intent.id, &health)
                    .await
                {
                    tracing::error!(service = %service.name, "{e}");
                }
            } else {
                let msg = "the zone changed since the intent was written; re-planning";
                let _ = self
                    .store
                    .finish_intent(intent.id, IntentOutcome::Abandoned, Some(msg))
                    .await;
                self.audit(&service.name, "abandon", msg, &health, None)
                    .await;
            }
        }
    }
}
