//! Governed changes: a reviewed plan applied (`dnsfailback apply`) and a change rolled back
//! by its id (`dnsfailback rollback`), carried out for the control loop by a job of their own.
//!
//! Operators enter the flow at `policy` (operator -> api -> policy); these two commands then
//! run plan -> **provider** -> verify -> record. The loop checks what it can without the
//! network (the plan file's integrity, the service's configuration, a canary or change in
//! progress, the change record, newer changes), marks the services and zones busy so no zone
//! job races the change, and starts a [`job::GovernJob`]: it reads the records now (the plan's
//! fingerprint, the change's result), journals, applies, reads back, records and audits, and
//! reports back; the loop then adopts the pinned states and answers the operator. So a slow
//! or failing provider delays this command only, never another service's failover.
//! Refusals are audited with the operator as actor. A governed change pins the service (a
//! hold with `pinned`): the loop neither publishes over it nor corrects it as drift until
//! `resume`.

mod apply;
mod job;

use std::sync::Arc;

use dnsfailback_provider::{Change, RecordSet};
use tokio::sync::oneshot;

use super::{Controller, Done};
use crate::config::Service;
use crate::policy::command::Operation;
use crate::policy::reviewed::{service_fingerprint, PlanDocument};
use crate::policy::{Hold, Phase};
use crate::state::{inverse, AuditEntry, ChangeRecord, Store};
pub(super) use job::GovernDone;
use job::{Expect, GovernJob, JobEntry};

/// The audit verb of an applied plan; its refusal is `plan_refused`.
pub(super) const PLAN_APPLY: &str = "plan_apply";

/// Where the operator's answer goes.
pub(super) type Reply = oneshot::Sender<Result<String, String>>;

impl Controller {
    /// Starts `apply` or `rollback` (answered on `reply` when its job reports back, or at once
    /// when refused); gives `reply` back for every other command (policy's).
    pub(super) async fn start_govern(
        &mut self,
        service: &str,
        op: &Operation,
        actor: &str,
        reply: Reply,
    ) -> Option<Reply> {
        let (job, refused) = match op {
            Operation::Apply { plan } => (self.plan_job(plan, actor), "plan_refused"),
            Operation::Rollback { change_id, force } => (
                self.rollback_job(*change_id, *force, actor).await,
                "rollback_refused",
            ),
            _ => return Some(reply),
        };
        match job {
            Ok(job) => self.spawn_govern(job, reply),
            Err(why) => {
                tracing::warn!(service, actor, "{refused}: {why}");
                audit_refusal(
                    self.store.as_ref(),
                    self.clock.now_ms(),
                    service,
                    refused,
                    &why,
                    actor,
                )
                .await;
                let _ = reply.send(Err(why));
            }
        }
        None
    }

    /// Marks the job's services in flight and zones busy (no zone job, drift check or other
    /// command touches them meanwhile) and starts it.
    fn spawn_govern(&mut self, job: GovernJob, reply: Reply) {
        for e in &job.entries {
            if let Some(rt) = self.runtime.get_mut(&e.svc.name) {
                rt.in_flight = true;
            }
            self.zones_busy
                .insert((e.svc.provider.clone(), e.svc.zone.clone()));
        }
        self.spawn(async move { Done::Governed(job.run(reply).await) });
    }

    /// A governed job reported back: its zones and services are free again, the pinned
    /// states it saved are adopted, and the operator gets the answer.
    pub(super) fn govern_done(&mut self, done: GovernDone) {
        for (provider, zone, name) in &done.touched {
            self.zones_busy.remove(&(provider.clone(), zone.clone()));
            if let Some(rt) = self.runtime.get_mut(name) {
                rt.in_flight = false;
            }
        }
        for (name, state) in done.pinned {
            self.adopt_state(&name, state);
            if let Some(rt) = self.runtime.get_mut(&name) {
                // The records are no publication of the loop's: the first decision after
                // `resume` reads them again and puts its own answer back.
                rt.last_verify_ms = None;
            }
            self.wake(&name);
        }
        let _ = done.reply.send(done.answer);
    }

    /// The job of a reviewed plan, after every check that needs no provider.
    fn plan_job(&self, doc: &PlanDocument, actor: &str) -> Result<GovernJob, String> {
        doc.check_integrity()?;
        let mut entries = Vec::new();
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
            entries.push(self.job_entry(
                &svc,
                e.changes.clone(),
                Expect::Planned(e.records.clone(), e.fingerprint.clone()),
                PLAN_APPLY,
                format!("reviewed plan applied: {}", e.reason),
                actor,
            )?);
        }
        Ok(self.job(entries, actor, None))
    }

    /// The job of a rollback of change `id`, after every check that needs no provider.
    async fn rollback_job(&self, id: i64, force: bool, actor: &str) -> Result<GovernJob, String> {
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
        let undo = inverse(&record.changes);
        let reason = format!(
            "rollback of change {id} ({} by {})",
            record.action, record.actor
        );
        let entry = self.job_entry(&svc, undo, Expect::Left(record), "rollback", reason, actor)?;
        Ok(self.job(vec![entry], actor, Some(id)))
    }

    /// One service's part of a job, with the provider it talks to and the pinned state it
    /// leaves.
    fn job_entry(
        &self,
        svc: &Arc<Service>,
        changes: dnsfailback_provider::ChangeSet,
        expect: Expect,
        action: &'static str,
        reason: String,
        actor: &str,
    ) -> Result<JobEntry, String> {
        let provider = self
            .providers
            .get(&svc.provider)
            .cloned()
            .ok_or_else(|| format!("no provider `{}`", svc.provider))?;
        let mut pinned = self.effective_state(&svc.name).unwrap_or_default();
        pinned.hold = Some(Hold {
            by: actor.to_string(),
            reason: format!("records set by `{action}`; automatic changes wait for `resume`"),
            since_ms: self.clock.now_ms(),
            pinned: true,
        });
        Ok(JobEntry {
            svc: svc.clone(),
            provider,
            changes,
            expect,
            action,
            reason,
            pinned,
        })
    }

    fn job(&self, entries: Vec<JobEntry>, actor: &str, rollback_of: Option<i64>) -> GovernJob {
        GovernJob {
            store: self.store.clone(),
            clock: self.clock,
            fencing_token: self.leadership.fencing_token(),
            actor: actor.to_string(),
            rollback_of,
            entries,
        }
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
}

/// A refused governed command, in the audit trail with the operator as actor.
pub(super) async fn audit_refusal(
    store: &dyn Store,
    at_ms: u64,
    service: &str,
    action: &str,
    why: &str,
    actor: &str,
) {
    let entry = AuditEntry::note(at_ms, service, actor, action, why);
    crate::state::audit_or_log(store, &entry).await;
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
pub(super) fn difference(planned: &[RecordSet], now: &[RecordSet]) -> String {
    let gone: Vec<&RecordSet> = planned.iter().filter(|p| !now.contains(p)).collect();
    let new: Vec<&RecordSet> = now.iter().filter(|n| !planned.contains(n)).collect();
    format!(
        "planned on {}, the provider now has {}",
        show(&gone),
        show(&new)
    )
}

/// Whether the records still say what change `record` left; if not, what changed.
pub(super) fn changed_since(record: &ChangeRecord, now: &[RecordSet]) -> Option<String> {
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
