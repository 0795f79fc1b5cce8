//! Governed changes: a reviewed plan applied (`dnsfailback apply`) and a change rolled back
//! by its id (`dnsfailback rollback`), carried out by the control loop.
//!
//! Operators enter the flow at `policy` (operator -> api -> policy); these two commands then
//! run plan -> **provider** -> verify -> record themselves, between two ticks: every check is
//! made before anything is journaled (the plan's fingerprint against the records read now,
//! the change's result against the records read now, newer changes, a canary in progress),
//! so a refusal leaves nothing half-applied. Refusals and changes are audited with the
//! operator as actor. A governed change pins the service (a hold with `pinned`): the loop
//! neither publishes over it nor corrects it as drift until `resume`.
//!
//! The loop waits for the one provider call and read-back of a governed change (decision
//! 0018): an operator's change is rare, and waiting keeps it from racing a zone job.

mod apply;

use std::sync::Arc;

use dnsfailback_provider::{Change, RecordSet};

use super::Controller;
use crate::config::Service;
use crate::policy::command::Operation;
use crate::policy::reviewed::{records_fingerprint, service_fingerprint, PlanDocument};
use crate::policy::Phase;
use crate::state::{inverse, AuditEntry, ChangeRecord};

/// The audit verb of an applied plan; its refusal is `plan_refused`.
pub(super) const PLAN_APPLY: &str = "plan_apply";

impl Controller {
    /// Carries out `apply` and `rollback`; `None` for every other command (policy's).
    pub(super) async fn govern(
        &mut self,
        service: &str,
        op: &Operation,
        actor: &str,
    ) -> Option<Result<String, String>> {
        let (answer, refused) = match op {
            Operation::Apply { plan } => (self.apply_plan(plan, actor).await, "plan_refused"),
            Operation::Rollback { change_id, force } => (
                self.rollback(*change_id, *force, actor).await,
                "rollback_refused",
            ),
            _ => return None,
        };
        if let Err(why) = &answer {
            tracing::warn!(service, actor, "{refused}: {why}");
            self.audit_refusal(service, refused, why, actor).await;
        }
        Some(answer)
    }

    /// A refused governed command, in the audit trail with the operator as actor.
    pub(super) async fn audit_refusal(&self, service: &str, action: &str, why: &str, actor: &str) {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            service: service.to_string(),
            actor: actor.to_string(),
            action: action.to_string(),
            reason: why.to_string(),
            evidence: serde_json::Value::Null,
            changes: None,
            change_id: None,
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!("cannot write the audit trail: {e}");
        }
    }

    /// Applies every entry of a reviewed plan, after checking all of them.
    async fn apply_plan(&mut self, doc: &PlanDocument, actor: &str) -> Result<String, String> {
        doc.check_integrity()?;
        let mut checked = Vec::new();
        for e in &doc.entries {
            let Some(svc) = self.service(&e.service) else {
                return Err(format!(
                    "the plan is for service `{}`, which is no longer configured",
                    e.service
                ));
            };
            if service_fingerprint(&svc) != e.config {
                return Err(format!(
                    "the plan of `{}` was made from another configuration of the service; make the plan again",
                    e.service
                ));
            }
            self.may_change(&svc)?;
            let now = self.read_current(&svc).await?;
            if records_fingerprint(&now) != e.fingerprint {
                return Err(format!(
                    "the records of `{}` changed since the plan was made: {}",
                    e.service,
                    difference(&e.records, &now)
                ));
            }
            checked.push(svc);
        }
        let mut done = Vec::new();
        for (svc, e) in checked.into_iter().zip(&doc.entries) {
            let reason = format!("reviewed plan applied: {}", e.reason);
            let id = self
                .apply_governed(&svc, &e.changes, PLAN_APPLY, &reason, actor, None)
                .await?;
            done.push(format!("{} (change {id})", e.service));
        }
        Ok(format!(
            "plan applied: {}; held until `resume`",
            done.join(", ")
        ))
    }

    /// Applies the inverse of change `id`, after checking it is still what the records say.
    async fn rollback(&mut self, id: i64, force: bool, actor: &str) -> Result<String, String> {
        let record = self.change_record(id).await?;
        let Some(svc) = self.service(&record.service) else {
            return Err(format!(
                "change {id} belongs to service `{}`, which is no longer configured",
                record.service
            ));
        };
        if let Some(by) = record.rolled_back_by {
            return Err(format!(
                "change {id} was already rolled back by change {by}"
            ));
        }
        if !force {
            self.no_newer_change(&record).await?;
        }
        self.may_change(&svc)?;
        let now = self.read_current(&svc).await?;
        if let Some(diff) = changed_since(&record, &now) {
            return Err(format!(
                "the records changed since change {id}: {diff}; nothing was rolled back"
            ));
        }
        let undo = inverse(&record.changes);
        let reason = format!(
            "rollback of change {id} ({} by {})",
            record.action, record.actor
        );
        let new_id = self
            .apply_governed(&svc, &undo, "rollback", &reason, actor, Some(id))
            .await?;
        Ok(format!(
            "change {id} rolled back as change {new_id}; `{}` held until `resume`",
            svc.name
        ))
    }

    async fn change_record(&self, id: i64) -> Result<ChangeRecord, String> {
        match self.store.change(id).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(format!(
                "no change {id} (see `dnsfailback history SERVICE` for change ids)"
            )),
            Err(e) => Err(format!("cannot read change {id}: {e}")),
        }
    }

    /// Refuses while a newer change of the same records stands (one undone by its own
    /// rollback does not count).
    async fn no_newer_change(&self, record: &ChangeRecord) -> Result<(), String> {
        let newer = self
            .store
            .changes_after(&record.service, record.id)
            .await
            .map_err(|e| format!("cannot read newer changes: {e}"))?;
        let keys = record.keys();
        let standing = newer.iter().find(|c| {
            c.rolled_back_by.is_none()
                && c.rollback_of.is_none_or(|of| of <= record.id)
                && c.keys().iter().any(|k| keys.contains(k))
        });
        match standing {
            None => Ok(()),
            Some(c) => Err(format!(
                "change {} ({} by {}) changed the same records after change {}; roll it back first, or use --force",
                c.id, c.action, c.actor, record.id
            )),
        }
    }

    /// Refuses while something else is changing the service: a change in flight, a zone job,
    /// a canary in progress, a provider stop.
    fn may_change(&self, svc: &Service) -> Result<(), String> {
        let rt = self
            .runtime
            .get(&svc.name)
            .ok_or_else(|| format!("no service named `{}`", svc.name))?;
        if matches!(rt.state.phase, Phase::Canary { .. }) {
            return Err(format!(
                "`{}` is in a canary failback; `abort` or let it finish first",
                svc.name
            ));
        }
        if rt.in_flight
            || self
                .zones_busy
                .contains(&(svc.provider.clone(), svc.zone.clone()))
        {
            return Err(format!(
                "a change in zone {} is being applied right now; try again in a moment",
                svc.zone
            ));
        }
        Ok(())
    }

    /// The service's record sets as the provider holds them now.
    async fn read_current(&self, svc: &Arc<Service>) -> Result<Vec<RecordSet>, String> {
        let provider = self
            .providers
            .get(&svc.provider)
            .ok_or_else(|| format!("no provider `{}`", svc.provider))?;
        provider
            .read(&svc.zone, &svc.record, svc.rtype)
            .await
            .map_err(|e| {
                format!(
                    "cannot read the records of `{}`: {e}; nothing was changed",
                    svc.name
                )
            })
    }
}

fn show(sets: &[&RecordSet]) -> String {
    if sets.is_empty() {
        return "nothing".into();
    }
    sets.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What differs between the records a plan was made on and those read now.
fn difference(planned: &[RecordSet], now: &[RecordSet]) -> String {
    let gone: Vec<&RecordSet> = planned.iter().filter(|p| !now.contains(p)).collect();
    let new: Vec<&RecordSet> = now.iter().filter(|n| !planned.contains(n)).collect();
    format!(
        "planned on {}, the provider now has {}",
        show(&gone),
        show(&new)
    )
}

/// Whether the records still say what change `record` left; if not, what changed.
fn changed_since(record: &ChangeRecord, now: &[RecordSet]) -> Option<String> {
    for c in &record.changes.changes {
        let key = c.key();
        let current: Vec<&RecordSet> = now.iter().filter(|s| s.key() == key).collect();
        let ok = match c {
            Change::Create { new } | Change::Update { new, .. } => {
                current.iter().any(|s| s.same_answer(new))
            }
            Change::Delete { .. } => current.is_empty(),
        };
        if !ok {
            let left = c.after().map(|s| s.to_string());
            return Some(format!(
                "{key}: change {} left {}, the provider now has {}",
                record.id,
                left.as_deref().unwrap_or("nothing"),
                show(&current)
            ));
        }
    }
    None
}
