//! `dnsfailback agent`: a remote probe agent, one more vantage point for the controller.
//!
//! Runs the first two stages of the flow somewhere else (probe -> health), then hands the
//! verdicts to the controller (agent -> admin API -> health at the controller): it loads the
//! controller's configuration, runs every check of every service with the same thresholds,
//! judges each target from its own probes alone ([`HealthBook::local_states`]) and every
//! `--every` posts an [`AgentReport`] to `POST /v1/agents/{name}/report` with its agent token.
//! The controller counts a target down only when `controller.vantage_quorum` vantage points
//! agree; an agent that stops reporting counts as unknown there, never as down.
//!
//! It starts neither the embedded DNS nor the admin API and touches no provider or state
//! store. A failed report is logged (status and the controller's message, never the token)
//! and the agent keeps going; SIGINT or SIGTERM stop it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dnsfailback_provider::{Secret, SecretSource};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::health::agent::AgentReport;
use crate::health::HealthBook;
use crate::probe::{ProbeResult, Runner};

use super::probes::checks_of;

/// The environment variable the agent reads its token from when neither `--token-env` nor
/// `--token-file` is given.
pub const AGENT_TOKEN_ENV: &str = "DNSFAILBACK_AGENT_TOKEN";

/// How long one report may take before it counts as failed.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// `dnsfailback agent` options (besides the global `-c CONFIG`).
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// This agent's name: listed in `controller.agents`, and the name of its agent token.
    #[arg(long)]
    pub name: String,
    /// The controller's admin API, as HOST:PORT (or an http:// or https:// URL). Repeat it
    /// for every controller of an etcd group: whichever holds the lease needs the reports.
    #[arg(long, value_name = "HOST:PORT", required = true)]
    pub controller: Vec<String>,
    /// Read the agent token from this environment variable (default: DNSFAILBACK_AGENT_TOKEN).
    #[arg(long, value_name = "VAR", conflicts_with = "token_file")]
    pub token_env: Option<String>,
    /// Read the agent token from this file.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// How often to report, e.g. 1s or 500ms.
    #[arg(long, default_value = "1s", value_parser = super::operate::parse_hold)]
    pub every: Duration,
}

/// Runs the agent until SIGINT or SIGTERM. Exit 0 on a signal, 2 on invalid input (bad
/// configuration, name, address or token source).
///
/// Every input is checked before any probe starts, so a typo exits at once with code 2
/// instead of probing without being able to report.
pub async fn agent(
    config_path: &Path,
    args: &AgentArgs,
    reach: &super::reach::AdminReach,
) -> anyhow::Result<u8> {
    let Some(config) = load_config(config_path) else {
        return Ok(2);
    };
    let name = args.name.as_str();
    if !check_agent_name(&config, config_path, name) {
        return Ok(2);
    }
    let Some(urls) = report_urls(args, name, reach) else {
        return Ok(2);
    };
    let Some(token) = load_token(args, name) else {
        return Ok(2);
    };
    if args.every.is_zero() {
        eprintln!("error: --every must be longer than 0s");
        return Ok(2);
    }
    let http = match reach.http(REPORT_TIMEOUT) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };

    let (tx, results) = mpsc::channel(4096);
    let runner = Runner::spawn(checks_of(&config), tx);
    let health = HealthBook::new(config.services.values()).without_samples();
    tracing::info!(
        "agent {name} reporting to {} every {}",
        args.controller.join(", "),
        crate::probe::duration_opt::format(args.every)
    );
    let mut slots = slots_for(urls, name, &token, &http);
    report_until_stopped(name, args.every, results, health, &mut slots).await;
    tracing::info!("agent {name} stopping");
    for slot in slots {
        if let Some(h) = slot.in_flight {
            h.abort();
        }
    }
    drop(runner);
    Ok(0)
}

/// Loads the controller's configuration (warnings logged); `None` after printing why it
/// cannot be loaded, the caller's exit 2.
fn load_config(config_path: &Path) -> Option<Config> {
    match crate::config::load(config_path) {
        Ok((c, warnings)) => {
            for w in warnings {
                tracing::warn!("{}", w.render(config_path));
            }
            Some(c)
        }
        Err(e) => {
            eprint!("{e}");
            None
        }
    }
}

/// False (after printing why) when `name` cannot be an agent name. A valid name missing from
/// `controller.agents` only warns: the controller's configuration may be newer than ours.
fn check_agent_name(config: &Config, config_path: &Path, name: &str) -> bool {
    if let Err(e) = check_name(name) {
        eprintln!("error: --name: {e}");
        return false;
    }
    if !config.controller.agents.iter().any(|a| a == name) {
        tracing::warn!(
            "agent `{name}` is not listed in controller.agents of {}; the controller may not count its reports",
            config_path.display()
        );
    }
    true
}

/// Each `--controller` with its report URL; `None` after printing the first bad one.
fn report_urls(
    args: &AgentArgs,
    name: &str,
    reach: &super::reach::AdminReach,
) -> Option<Vec<(String, reqwest::Url)>> {
    let mut urls = Vec::new();
    for c in &args.controller {
        match reach.report_url(c, name) {
            Ok(u) => urls.push((c.clone(), u)),
            Err(e) => {
                eprintln!("error: --controller {c}: {e}");
                return None;
            }
        }
    }
    Some(urls)
}

/// The agent token from `--token-env`, `--token-file` or [`AGENT_TOKEN_ENV`]; `None` after
/// printing why it cannot be read (never its value).
fn load_token(args: &AgentArgs, name: &str) -> Option<Secret> {
    let source = SecretSource {
        env: match (&args.token_env, &args.token_file) {
            (None, None) => Some(AGENT_TOKEN_ENV.to_string()),
            (env, _) => env.clone(),
        },
        file: args.token_file.clone(),
    };
    match source.load() {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("error: cannot read the token of agent `{name}`: {e}");
            None
        }
    }
}

/// One report stream per controller: one report in flight per controller at a time; a slow
/// controller delays its own reports, never the probes or the other controllers' reports.
fn slots_for(
    urls: Vec<(String, reqwest::Url)>,
    name: &str,
    token: &Secret,
    http: &reqwest::Client,
) -> Vec<Slot> {
    urls.into_iter()
        .map(|(controller, url)| Slot {
            reporter: Reporter {
                name: name.to_string(),
                controller,
                url,
                token: token.clone(),
                http: http.clone(),
            },
            in_flight: None,
            failing: false,
        })
        .collect()
}

/// Feeds probe results into `health` and reports its local verdicts every `every`, until a
/// signal arrives or the probe runner ends.
async fn report_until_stopped(
    name: &str,
    every: Duration,
    mut results: mpsc::Receiver<ProbeResult>,
    mut health: HealthBook,
    slots: &mut [Slot],
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let signal = stop_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            r = results.recv() => match r {
                Some(r) => health.observe(&r, now_ms()),
                None => break,
            },
            _ = tick.tick() => {
                let report = AgentReport { agent: name.to_string(), targets: health.local_states() };
                for slot in slots.iter_mut() {
                    slot.report(&report).await;
                }
            }
            _ = &mut signal => break,
        }
    }
}

/// One controller's report stream: at most one report in flight.
struct Slot {
    reporter: Reporter,
    in_flight: Option<tokio::task::JoinHandle<bool>>,
    failing: bool,
}

impl Slot {
    /// Sends `report` unless the previous one to this controller is still in flight.
    async fn report(&mut self, report: &AgentReport) {
        if let Some(h) = self.in_flight.take() {
            if !h.is_finished() {
                tracing::debug!(
                    "agent {}: previous report to {} still in flight; skipping this round",
                    self.reporter.name,
                    self.reporter.controller
                );
                self.in_flight = Some(h);
                return;
            }
            self.failing = !h.await.unwrap_or(false);
        }
        let reporter = self.reporter.clone();
        let report = report.clone();
        let failing = self.failing;
        self.in_flight = Some(tokio::spawn(async move {
            reporter.send(&report, failing).await
        }));
    }
}

/// What one report needs; cheap to clone into the task that sends it.
#[derive(Clone)]
struct Reporter {
    name: String,
    controller: String,
    url: reqwest::Url,
    token: Secret,
    http: reqwest::Client,
}

impl Reporter {
    /// Posts `report`; true when the controller accepted it. Logs a failure (and the first
    /// success after failures) with the status and the controller's message, never the token.
    async fn send(&self, report: &AgentReport, was_failing: bool) -> bool {
        let name = &self.name;
        let to = &self.controller;
        let resp = self
            .http
            .post(self.url.clone())
            .bearer_auth(self.token.expose())
            .json(report)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "agent {name}: agent report failed: cannot reach the controller at {to}: {}",
                    without_url(e)
                );
                return false;
            }
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| text.trim().to_string());
            tracing::warn!(
                "agent {name}: agent report failed: controller at {to} answered {status}: {msg}"
            );
            return false;
        }
        if was_failing {
            tracing::info!("agent {name}: the controller at {to} accepts reports again");
        } else {
            tracing::debug!("agent {name}: report accepted by {to}: {}", text.trim());
        }
        true
    }
}

/// The error without its URL (the URL holds no secret, but the message is shorter).
fn without_url(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    if timeout {
        format!("no answer within {}s ({e})", REPORT_TIMEOUT.as_secs())
    } else {
        e.to_string()
    }
}

/// Agent names become a URL path segment and a token name: letters, digits, `-`, `_`, `.`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` is not a valid agent name; use letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

/// Wall-clock milliseconds since the epoch, as the health book's samples are stamped.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_are_path_safe() {
        assert!(check_name("edge-1.eu_west").is_ok());
        for bad in ["", "a/b", "a b", "ä", "x?y"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
