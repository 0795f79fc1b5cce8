//! A follower's own DNS server answers what the leader published.
//!
//! With several controllers (etcd), every controller runs the embedded DNS server, so any of
//! them can be a zone's name server and none is a single point of failure. Only the leader
//! changes DNS at a provider; an in-process server, though, is each controller's own. So a
//! follower, after reading the leader's states from the shared store each tick (`lead.rs`),
//! renders each published answer (plan) and applies it to its local server (provider): one
//! change set per zone, only for services whose published answer moved since the last
//! mirror. Fencing is not involved: nothing outside this process changes.

use std::collections::BTreeMap;

use dnsfailback_provider::{ChangeSet, Fqdn};

use super::Controller;
use crate::plan::{desired_sets, diff};
use crate::policy::{Publication, ServiceState};

/// One zone's changes for the local server, and the answers they mirror, by service.
type ZoneMirror = (ChangeSet, Vec<(String, Publication)>);

impl Controller {
    /// Applies the leader's published answers of services on in-process providers to this
    /// controller's own server; see the module docs.
    pub(super) async fn mirror_local(&mut self, states: &BTreeMap<String, ServiceState>) {
        let mut work: BTreeMap<(String, Fqdn), ZoneMirror> = BTreeMap::new();
        for (name, state) in states {
            let (Some(publication), Some(svc)) = (&state.published, self.services.get(name)) else {
                continue;
            };
            if self.mirrored.get(name) == Some(publication) {
                continue;
            }
            let Some(provider) = self.providers.get(&svc.provider) else {
                continue;
            };
            if !provider.reads_are_local() {
                continue;
            }
            let desired = desired_sets(svc, publication, provider.capabilities().weighted);
            let observed = match provider.read(&svc.zone, &svc.record, svc.rtype).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(service = %name, "following: cannot read the local server: {e}");
                    continue;
                }
            };
            let key = (svc.provider.clone(), svc.zone.clone());
            let (cs, done) = work
                .entry(key)
                .or_insert_with(|| (ChangeSet::new(svc.zone.clone()), Vec::new()));
            cs.changes
                .extend(diff(&svc.zone, &observed, &desired).changes);
            done.push((name.clone(), publication.clone()));
        }
        for ((provider_name, zone), (cs, done)) in work {
            let Some(provider) = self.providers.get(&provider_name).cloned() else {
                continue;
            };
            if !cs.changes.is_empty() {
                if let Err(e) = provider.apply(&cs).await {
                    tracing::warn!(zone = %zone, "following: cannot mirror the leader's answers: {e}");
                    continue;
                }
            }
            tracing::debug!(zone = %zone, services = done.len(), "following: local server mirrors the leader");
            self.mirrored.extend(done);
        }
    }
}
