//! Services added, changed or removed by a configuration reload, in the health book.
//!
//! Health stage (probe -> **health** -> policy): a reload (`dnsfailback reload`, SIGHUP) hands
//! the book the services whose settings changed. A service whose checks are unchanged keeps
//! every tracker and its targets' memory (flap damping, agents' votes): only its quorums are
//! taken over. A service whose checks changed starts its health over, unknown until the new
//! checks report, because a window of results judged by other checks would be evidence of
//! something else. Either way its generation moves, so the loop decides it again.

use std::sync::Arc;
use std::time::Duration;

use super::check::CheckTracker;
use super::track::{TargetEntry, TargetTrack};
use super::{check_id, HealthBook};
use crate::config::Service;

/// The vantage quorum targets are judged with: how many vantage points must agree, which
/// agents vote, and when an agent's silence makes its vote unknown.
pub(super) struct VantageSettings {
    pub(super) required: usize,
    pub(super) agents: Vec<Arc<str>>,
    pub(super) stale_after: Duration,
}

impl Default for VantageSettings {
    /// The controller alone (what a book has before [`HealthBook::set_vantage`]).
    fn default() -> Self {
        VantageSettings {
            required: 1,
            agents: Vec::new(),
            stale_after: Duration::from_secs(10),
        }
    }
}

impl HealthBook {
    /// Tracks `service` as configured now: a new service, or a changed one. With
    /// `checks_changed` false (same targets, same checks) the trackers and the targets'
    /// memory are kept and only the quorums are taken over; otherwise the service's health
    /// starts over, unknown until the new checks report.
    pub fn put_service(&mut self, service: &Service, checks_changed: bool) {
        let keep = !checks_changed && self.layout.contains_key(&service.name);
        if keep {
            if let Some(entries) = self.layout.get_mut(&service.name) {
                for (entry, target) in entries.iter_mut().zip(&service.targets) {
                    entry.quorum = target.fail_quorum;
                }
            }
        } else {
            self.remove_service(&service.name);
            let checks = &mut self.checks;
            let entries = entries_of(service, &self.vantage, |id, tracker| {
                checks.insert(id, tracker);
            });
            self.layout.insert(service.name.clone(), entries);
        }
        *self.generation.entry(service.name.clone()).or_default() += 1;
    }

    /// Stops tracking `name` and forgets its checks (results still arriving for them are
    /// ignored, as for any unknown check).
    pub fn remove_service(&mut self, name: &str) {
        if let Some(entries) = self.layout.remove(name) {
            for id in entries.iter().flat_map(|e| &e.ids) {
                self.checks.remove(id);
            }
        }
        self.generation.remove(name);
    }
}

/// Fresh trackers for `service`'s checks, handed to `register`, and its targets' entries,
/// judged with the vantage quorum `v`. Shared by the book's start and by reloads.
pub(super) fn entries_of(
    service: &Service,
    v: &VantageSettings,
    mut register: impl FnMut(crate::probe::CheckId, CheckTracker),
) -> Vec<TargetEntry> {
    let mut entries = Vec::with_capacity(service.targets.len());
    for (ti, t) in service.targets.iter().enumerate() {
        let mut ids = Vec::with_capacity(t.checks.len());
        for (i, c) in t.checks.iter().enumerate() {
            let id = check_id(&service.name, &t.name, i);
            let mut tracker = CheckTracker::new(c);
            // Only the primary's results are read (baseline, canary gates).
            tracker.sampled = ti == 0;
            register(id.clone(), tracker);
            ids.push(id);
        }
        entries.push(TargetEntry {
            name: t.name.clone(),
            ids,
            quorum: t.fail_quorum,
            track: TargetTrack::new(v.required, &v.agents, v.stale_after),
        });
    }
    entries
}
