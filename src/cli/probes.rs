//! What the controller probes, and what the admin API must know of the services: worked out
//! from the configuration at start and again on every reload.
//!
//! First stage of the flow (**probe** -> health -> policy -> ...): every check of every
//! service gets the id health knows it by ([`crate::health::check_id`]), so the probe runner,
//! the health book and a remote agent agree without sharing anything but the file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::health::check_id;
use crate::probe::{CheckId, CheckSpec, ProbeResult, Runner};

/// The running probe runner, and what a reload needs to start its successor.
pub struct Probes {
    runner: Mutex<Runner>,
    results: mpsc::Sender<ProbeResult>,
    /// The controller's uplink checks as started (`[controller]` changes need a restart).
    uplink: Vec<(CheckId, CheckSpec)>,
}

impl Probes {
    /// Starts probing every service check and the controller's uplink checks, results to
    /// `results`.
    pub fn start(config: &Config, results: mpsc::Sender<ProbeResult>) -> Arc<Probes> {
        let uplink: Vec<_> = uplink_checks_of(config).collect();
        let mut checks = checks_of(config);
        checks.extend(uplink.iter().cloned());
        Arc::new(Probes {
            runner: Mutex::new(Runner::spawn(checks, results.clone())),
            results,
            uplink,
        })
    }

    /// Probes `config`'s service checks from now on (after a reload changed them): the new
    /// runner starts before the old one stops, so no check goes unprobed in between; each
    /// check's first probe is spread over its interval as at start.
    pub fn restart(&self, config: &Config) {
        let mut checks = checks_of(config);
        checks.extend(self.uplink.iter().cloned());
        let runner = Runner::spawn(checks, self.results.clone());
        let old = std::mem::replace(
            &mut *self.runner.lock().unwrap_or_else(PoisonError::into_inner),
            runner,
        );
        drop(old);
    }
}

/// Every check of every service with the id health knows it by: what the controller's probe
/// runner runs, and what a probe agent (`dnsfailback agent`) runs from its vantage point.
pub fn checks_of(config: &Config) -> Vec<(CheckId, CheckSpec)> {
    config
        .services
        .values()
        .flat_map(|s| {
            s.targets.iter().flat_map(move |t| {
                t.checks
                    .iter()
                    .enumerate()
                    .map(move |(i, c)| (check_id(&s.name, &t.name, i), c.spec.clone()))
            })
        })
        .collect()
}

/// The controller's uplink anchors' checks (health files them under [`crate::health::UPLINK`]).
/// Only the controller runs them: they say whether *its* network works.
fn uplink_checks_of(config: &Config) -> impl Iterator<Item = (CheckId, CheckSpec)> + '_ {
    config.controller.uplink_checks.iter().flat_map(|a| {
        a.checks
            .iter()
            .enumerate()
            .map(move |(i, c)| (check_id(crate::health::UPLINK, &a.name, i), c.spec.clone()))
    })
}

/// Every configured `(service, target)` pair: what an agent's report may name. Empty without
/// `controller.agents`, where no report can be accepted anyway (1.3 MB at 10,000 services).
pub fn targets_of(config: &Config) -> BTreeSet<(String, String)> {
    if config.controller.agents.is_empty() {
        return BTreeSet::new();
    }
    config
        .services
        .values()
        .flat_map(|s| s.targets.iter().map(|t| (s.name.clone(), t.name.clone())))
        .collect()
}

/// Each service's approval timeout (`None`: no approval needed), for the admin API.
pub fn approval_timeouts(config: &Config) -> BTreeMap<String, Option<Duration>> {
    config
        .services
        .values()
        .map(|s| (s.name.clone(), s.approval.as_ref().map(|a| a.timeout)))
        .collect()
}
