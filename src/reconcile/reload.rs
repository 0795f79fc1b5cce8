//! Reloading provider settings and secrets into the running loop, and resuming the services
//! that wait for an operator.
//!
//! Beside the flow (it swaps what the provider step talks to): `dnsfailback reload` or SIGHUP
//! makes `run` re-read and validate the configuration and rebuild its providers (secrets read
//! again from their files and variables); this swaps them in. Services stopped by an error
//! retrying cannot heal (`needs operator`: a refused credential, a missing zone) are decided
//! again at once. In-process providers (the embedded DNS server) keep their running
//! instance; changes to services, checks or the controller need a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use dnsfailback_provider::Provider;

use super::{Controller, EVENTS_LOG};

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
