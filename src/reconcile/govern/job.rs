//! A governed change's job: the provider part of `apply` and `rollback`, run as a task of its
//! own so the control loop never waits on the provider (see the parent module).
//!
//! plan -> **provider** -> verify -> record: every entry's records are read and checked first
//! (the plan's fingerprint, or what the rolled-back change left); only when all match is each
//! entry journaled, applied, read back and recorded, in order.

use std::sync::Arc;

use dnsfailback_provider::{ChangeSet, Fqdn, Provider, RecordSet};

use super::{audit_refusal, changed_since, difference, Reply};
use crate::config::Service;
use crate::policy::reviewed::records_fingerprint;
use crate::policy::ServiceState;
use crate::reconcile::Clock;
use crate::state::{ChangeRecord, Store};

/// What the records must say before an entry is applied.
pub(super) enum Expect {
    /// A reviewed plan: the records it was made on, and their fingerprint.
    Planned(Vec<RecordSet>, String),
    /// A rollback: what the rolled-back change left.
    Left(ChangeRecord),
}

/// One service's change in a job.
pub(super) struct JobEntry {
    pub svc: Arc<Service>,
    pub provider: Arc<dyn Provider>,
    pub changes: ChangeSet,
    pub expect: Expect,
    pub action: &'static str,
    pub reason: String,
    /// The service's state once the change is recorded: held and pinned.
    pub pinned: ServiceState,
}

/// Everything the job needs, owned: it runs beside the loop.
pub(super) struct GovernJob {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub fencing_token: u64,
    pub actor: String,
    /// The change a rollback undoes.
    pub rollback_of: Option<i64>,
    pub entries: Vec<JobEntry>,
}

/// What the job reports back to the loop.
pub(in crate::reconcile) struct GovernDone {
    /// `(provider, zone, service)` of every entry: busy until now.
    pub touched: Vec<(String, Fqdn, String)>,
    /// The pinned states the job saved, to adopt.
    pub pinned: Vec<(String, ServiceState)>,
    pub answer: Result<String, String>,
    pub reply: Reply,
}

impl GovernJob {
    /// Runs the job to the end; never panics on provider or store errors (they become the
    /// answer, audited).
    pub(super) async fn run(self, reply: Reply) -> GovernDone {
        let touched = self
            .entries
            .iter()
            .map(|e| {
                let s = &e.svc;
                (s.provider.clone(), s.zone.clone(), s.name.clone())
            })
            .collect();
        let mut pinned = Vec::new();
        let answer = match self.check_all().await {
            Ok(()) => self.apply_all(&mut pinned).await,
            Err((service, why)) => {
                let refused = match self.rollback_of {
                    Some(_) => "rollback_refused",
                    None => "plan_refused",
                };
                tracing::warn!(service, actor = self.actor, "{refused}: {why}");
                let now = self.clock.now_ms();
                audit_refusal(
                    self.store.as_ref(),
                    now,
                    &service,
                    refused,
                    &why,
                    &self.actor,
                )
                .await;
                Err(why)
            }
        };
        GovernDone {
            touched,
            pinned,
            answer,
            reply,
        }
    }

    /// Every entry's records read now and checked; the first mismatch, with its service.
    async fn check_all(&self) -> Result<(), (String, String)> {
        for e in &self.entries {
            let name = e.svc.name.clone();
            let now = read_current(e).await.map_err(|w| (name.clone(), w))?;
            let mismatch = match &e.expect {
                Expect::Planned(records, fingerprint) => {
                    (records_fingerprint(&now) != *fingerprint).then(|| {
                        format!(
                            "the records of `{name}` changed since the plan was made: {}",
                            difference(records, &now)
                        )
                    })
                }
                Expect::Left(record) => changed_since(record, &now).map(|diff| {
                    format!(
                        "the records changed since change {}: {diff}; nothing was rolled back",
                        record.id
                    )
                }),
            };
            if let Some(why) = mismatch {
                return Err((name, why));
            }
        }
        Ok(())
    }

    /// Applies every entry in order; the answer names each change id. A failure stops there
    /// (earlier entries stay applied, each with its change id).
    async fn apply_all(&self, pinned: &mut Vec<(String, ServiceState)>) -> Result<String, String> {
        let mut done = Vec::new();
        for e in &self.entries {
            let id = self.apply_entry(e).await?;
            pinned.push((e.svc.name.clone(), e.pinned.clone()));
            done.push((e.svc.name.clone(), id));
        }
        Ok(match (self.rollback_of, done.as_slice()) {
            (Some(of), [(name, id)]) => {
                format!("change {of} rolled back as change {id}; `{name}` held until `resume`")
            }
            _ => {
                let list: Vec<String> = done
                    .iter()
                    .map(|(name, id)| format!("{name} (change {id})"))
                    .collect();
                format!("plan applied: {}; held until `resume`", list.join(", "))
            }
        })
    }
}

/// The entry's record sets as the provider holds them now.
async fn read_current(e: &JobEntry) -> Result<Vec<RecordSet>, String> {
    let svc = &e.svc;
    e.provider
        .read(&svc.zone, &svc.record, svc.rtype)
        .await
        .map_err(|err| {
            format!(
                "cannot read the records of `{}`: {err}; nothing was changed",
                svc.name
            )
        })
}
