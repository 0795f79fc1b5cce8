//! Reloading the configuration into the running loop: providers, secrets and services.
//!
//! Beside the flow (it swaps what the provider step talks to and which services the loop
//! decides): `dnsfailback reload` or SIGHUP makes `run` re-read and validate the
//! configuration, rebuild its providers (secrets read again from their files and variables)
//! and work out which services were added, changed or removed; this takes them in, all or
//! nothing. Services stopped by an error retrying cannot heal (`needs operator`: a refused
//! credential, a missing zone) are decided again at once. In-process providers (the
//! embedded DNS server) keep their running instance; `[controller]` changes need a restart.
//!
//! A reload never loses a phase: a changed service keeps its state (a failed-over service
//! stays failed over), a service away from normal cannot be moved to other targets, names
//! or providers (refused with the reason), and a removed service's records are left as they
//! are at the provider (removing a service from the file never deletes production DNS).

use std::collections::BTreeMap;
use std::sync::Arc;

use dnsfailback_provider::Provider;

use super::runtime::Runtime;
use super::{Controller, EVENTS_LOG};
use crate::config::Service;
use crate::policy::Phase;

/// The services a reload adds, changes or removes, worked out by `run` from the old and the
/// new file.
#[derive(Debug, Default)]
pub struct ServicesUpdate {
    /// New or changed services (with their checks), each with whether its targets' checks
    /// changed (the service's health then starts over).
    pub put: Vec<(Service, bool)>,
    /// Services no longer in the file.
    pub removed: Vec<String>,
}

/// Provider, zone, record, type and each target's name and values.
type Placement<'a> = (
    &'a str,
    &'a dnsfailback_provider::Fqdn,
    &'a dnsfailback_provider::Fqdn,
    dnsfailback_provider::RecordType,
    Vec<(&'a str, &'a [String])>,
);

/// What decides where and what a service publishes: cannot change while it is away from
/// normal.
fn placement(s: &Service) -> Placement<'_> {
    let targets: Vec<(&str, &[String])> = s
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.values.as_slice()))
        .collect();
    (s.provider.as_str(), &s.zone, &s.record, s.rtype, targets)
}

impl Controller {
    /// Replaces the providers named in `providers` (names this controller does not know are
    /// ignored) and resumes every service that needed an operator. Returns what was done, for
    /// the log, the audit trail and the caller.
    pub fn reload_providers(&mut self, providers: BTreeMap<String, Arc<dyn Provider>>) -> String {
        let mut swapped = Vec::new();
        for (name, provider) in providers {
            if let Some(slot) = self.providers.get_mut(&name) {
                *slot = super::provider_calls::counted(provider, self.board.counters());
                swapped.push(name);
            }
        }
        let resumed = self.resume_stopped(None);
        let text = format!(
            "reloaded providers [{}]; {} service(s) that needed an operator resumed",
            swapped.join(", "),
            resumed.len()
        );
        tracing::info!("{text}");
        self.audit_later(EVENTS_LOG, "reload", &text, serde_json::Value::Null);
        text
    }

    /// Takes in a reload: first checks that every service change can be taken (nothing
    /// changes otherwise), then the providers, then the services. Returns what was done.
    pub async fn reload(
        &mut self,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        services: ServicesUpdate,
    ) -> Result<String, String> {
        self.can_reshape(&services)?;
        let added: Vec<String> = services
            .put
            .iter()
            .filter(|(s, _)| !self.runtime.contains_key(&s.name))
            .map(|(s, _)| s.name.clone())
            .collect();
        let mut states = self.store.service_states(&added).await.map_err(|e| {
            format!("reload refused, nothing changed: reading the new services' state: {e}")
        })?;
        let mut text = self.reload_providers(providers);
        if !services.put.is_empty() || !services.removed.is_empty() {
            let (mut put, mut changed) = (0, 0);
            for (service, checks_changed) in services.put {
                let name = service.name.clone();
                if !self.runtime.contains_key(&name) {
                    let state = states.remove(&name).unwrap_or_default();
                    let rt = Runtime::new(state, self.runtime.len());
                    self.runtime.insert(name.clone(), rt);
                    put += 1;
                } else {
                    changed += 1;
                }
                self.health.put_service(&service, checks_changed);
                let mut service = service;
                for t in &mut service.targets {
                    t.checks = Vec::new();
                }
                self.services.insert(name.clone(), Arc::new(service));
                self.wake(&name);
            }
            for name in &services.removed {
                self.services.remove(name);
                self.runtime.remove(name);
                self.health.remove_service(name);
            }
            self.names = self.services.keys().cloned().collect::<Vec<_>>().into();
            let line = format!(
                "services: {put} added, {changed} changed, {} removed (their records left as they are)",
                services.removed.len()
            );
            tracing::info!("{line}");
            self.audit_later(EVENTS_LOG, "reload", &line, serde_json::Value::Null);
            text = format!("{text}; {line}");
        }
        Ok(text)
    }

    /// Refuses a reload that would lose or bend a phase: a change in flight for a changed or
    /// removed service (try again in a moment), or a service away from normal that would be
    /// moved to other targets, names or providers.
    fn can_reshape(&self, services: &ServicesUpdate) -> Result<(), String> {
        let refuse = |why: String| Err(format!("reload refused, nothing changed: {why}"));
        let touched = services
            .put
            .iter()
            .map(|(s, _)| s.name.as_str())
            .chain(services.removed.iter().map(String::as_str));
        for name in touched {
            if self.runtime.get(name).is_some_and(|rt| rt.in_flight) {
                return refuse(format!(
                    "service {name} has a change in flight; reload again in a few seconds"
                ));
            }
        }
        for (new, _) in &services.put {
            let (Some(old), Some(rt)) = (self.services.get(&new.name), self.runtime.get(&new.name))
            else {
                continue;
            };
            if rt.state.phase != Phase::Normal && placement(old) != placement(new) {
                return refuse(format!(
                    "service {} is {} : its provider, zone, record or targets cannot change until \
                     it is back to normal (or hold it, fail it back, then reload)",
                    new.name,
                    rt.state.phase.label()
                ));
            }
        }
        Ok(())
    }

    /// Clears `needs operator` (and any back-off) of `service`, or of every service: they are
    /// decided again on the next tick. Returns the services resumed.
    pub(super) fn resume_stopped(&mut self, service: Option<&str>) -> Vec<String> {
        let stopped: Vec<String> = match service {
            Some(name) => vec![name.to_string()],
            None => self.runtime.keys().cloned().collect(),
        };
        let mut resumed = Vec::new();
        for name in stopped {
            let Some(rt) = self.runtime.get_mut(&name) else {
                continue;
            };
            if rt.needs_operator.take().is_some() {
                rt.last_error = None;
                rt.succeeded();
                resumed.push(name);
            }
        }
        for name in &resumed {
            self.wake(name);
        }
        resumed
    }
}
