//! The status board: what `dnsfailback status` and the admin API show for each service,
//! refreshed by the loop whenever it decides a service or folds in a result.

use dnsfailback_provider::SyncStatus;

use super::{status, Controller, ServiceStatus};
use crate::config::Service;
use crate::plan::desired_sets;
use crate::policy::Phase;

impl Controller {
    /// Shows a service again with its last decision (after a result came in between ticks).
    pub(super) fn refresh_status(&self, name: &str) {
        let Some(service) = self.services.get(name) else {
            return;
        };
        let health = self.health.service(name);
        let last = self.runtime.get(name).and_then(|r| r.last_decision.clone());
        self.publish_status(service, &health, last.as_ref());
    }

    pub(super) fn publish_status(
        &self,
        service: &Service,
        health: &[crate::health::TargetHealth],
        decision: Option<&crate::policy::Decision>,
    ) {
        let Some(rt) = self.runtime.get(&service.name) else {
            return;
        };
        let published_values = rt
            .state
            .published
            .as_ref()
            .map(|p| {
                desired_sets(service, p, true)
                    .into_iter()
                    .flat_map(|s| s.values)
                    .collect()
            })
            .unwrap_or_default();
        let ttl_restore_at_ms = match rt.state.phase {
            Phase::Restoring { since_ms } => {
                Some(since_ms + service.restore_ttl_after.as_millis() as u64)
            }
            _ => None,
        };
        let targets = service
            .targets
            .iter()
            .zip(health)
            .map(|(t, h)| status::TargetStatus::from_health(h, t.priority, t.values.clone()))
            .collect();
        let st = ServiceStatus {
            service: service.name.clone(),
            record: service.record.to_string(),
            rtype: service.rtype.to_string(),
            provider: service.provider.clone(),
            phase: rt.state.phase.clone(),
            published: rt.state.published.clone(),
            published_values,
            original_ttl: rt.state.original_ttl,
            ttl_restore_at_ms,
            targets,
            reason: decision.map(|d| d.reason.clone()).unwrap_or_default(),
            alert: decision.and_then(|d| d.alert.clone()),
            held: decision.and_then(|d| d.held.clone()),
            frozen: rt.state.hold.clone(),
            last_error: rt.last_error.clone(),
            partition: self
                .health
                .partition()
                .holds()
                .then(|| self.health.partition().describe()),
            event: rt.event.clone(),
            baseline: rt.baseline.as_ref().map(status::BaselineStatus::of),
            lease: self
                .config
                .controller
                .etcd
                .as_ref()
                .map(|_| status::LeaseStatus {
                    holder: self.leadership.holder(),
                    leading: self.leadership.is_leader(),
                    token: self.leadership.fencing_token(),
                }),
            provider_sync: rt.sync.as_ref().map(|(r, st, _)| {
                format!(
                    "{} {}",
                    r.change_id.clone().unwrap_or_else(|| "last change".into()),
                    if *st == SyncStatus::InSync {
                        "in sync"
                    } else {
                        "pending"
                    }
                )
            }),
        };
        if let Ok(mut board) = self.board.write() {
            board.insert(service.name.clone(), st);
        }
    }
}
