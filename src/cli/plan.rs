//! `dnsfailback plan`: what would change now, without changing it.
//!
//! Asks the running controller first (`GET /v1/plan`): its plan is worked out by the loop's
//! own steps on its real health, phases and baselines, and is what its next tick does. With
//! no controller running, the same planning runs here, in a controller of this process's own:
//! the stored state is copied into a scratch store (nothing is written to the real one), each
//! check is probed once (one probe stands in for the whole threshold), and
//! [`Controller::plan`] answers. A fresh process has not seen the primary be stable, so an
//! offline plan never starts a failback that waits on `stable_for`: it says it waits.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;

use super::client::AdminClient;
use super::out;
use crate::health::check_id;
use crate::probe::{ProbeResult, Prober};
use crate::reconcile::{Clock, Controller, ServicePlan};
use crate::state::{MemoryStore, SingleNode, SqliteStore, Store};

/// Prints the plan; exit code 0 when every plan is valid, 2 otherwise (or for a bad config).
pub async fn plan(
    path: &Path,
    reach: &super::reach::AdminReach,
    json: bool,
    out_file: Option<&Path>,
) -> anyhow::Result<u8> {
    let (plans, source) = match from_running(path, reach).await? {
        Some(plans) => (plans, "the running controller"),
        None => match offline(path).await? {
            Some(plans) => (plans, "this process (no controller answered; probed once)"),
            None => return Ok(2),
        },
    };
    if json {
        out::line(serde_json::to_string_pretty(&plans)?)?;
    } else {
        out::line(format_args!("# plan by {source}"))?;
        for p in &plans {
            out::print(&render(p))?;
        }
    }
    let invalid = plans
        .iter()
        .any(|p| p.plan.as_ref().is_some_and(|x| !x.is_valid()));
    if let Some(file) = out_file {
        super::apply::write_plans(file, &plans)?;
    }
    Ok(if invalid { 2 } else { 0 })
}

/// One service's plan as text.
fn render(p: &ServicePlan) -> String {
    let mut out = match &p.plan {
        Some(plan) => format!("{}\n", plan.to_string().trim_end()),
        None => format!("service {}: no change\n", p.service),
    };
    out.push_str(&format!("  phase: {}\n  because: {}\n", p.phase, p.reason));
    if let Some(h) = &p.held {
        out.push_str(&format!("  held back: {h}\n"));
    }
    if let Some(a) = &p.alert {
        out.push_str(&format!("  ALERT: {a}\n"));
    }
    if let Some(e) = &p.error {
        out.push_str(&format!("  ERROR: {e}\n"));
    }
    out
}

/// The running controller's plan; `None` when no controller answers at the configured
/// address (or there is no token to ask with).
async fn from_running(
    path: &Path,
    reach: &super::reach::AdminReach,
) -> anyhow::Result<Option<Vec<ServicePlan>>> {
    let Ok(client) = AdminClient::from_config(path, reach) else {
        return Ok(None);
    };
    match client.get::<Vec<ServicePlan>>("/v1/plan").await {
        Ok(plans) => Ok(Some(plans)),
        Err(e)
            if e.downcast_ref::<reqwest::Error>()
                .is_some_and(|r| r.is_connect()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The plan of a controller of this process's own on a scratch copy of the state; `None`
/// (after printing why) for an invalid configuration.
async fn offline(path: &Path) -> anyhow::Result<Option<Vec<ServicePlan>>> {
    let config = match crate::config::load(path) {
        Ok((c, _)) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(None);
        }
    };
    let scratch = Arc::new(MemoryStore::default());
    copy_state(&config, scratch.as_ref()).await?;
    let built = crate::providers::build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    )
    .map_err(|e| anyhow!(e))?;
    let services: Vec<_> = config.services.values().cloned().collect();
    let mut ctl = Controller::new(
        config,
        built.providers,
        scratch,
        Arc::new(SingleNode),
        Clock::system(),
    )
    .await?;
    for s in &services {
        for t in &s.targets {
            for (i, c) in t.checks.iter().enumerate() {
                let prober =
                    Prober::new(&c.spec).map_err(|e| anyhow!("{}/{}: {e}", s.name, t.name))?;
                let outcome = prober.probe().await;
                for _ in 0..c.rise.max(c.fall) {
                    ctl.observe(&ProbeResult {
                        check: check_id(&s.name, &t.name, i),
                        kind: prober.probe_kind(),
                        outcome: outcome.clone(),
                        at: tokio::time::Instant::now(),
                    });
                }
            }
        }
    }
    Ok(Some(ctl.plan().await))
}

/// Copies every service's stored state (SQLite file or the etcd group's shared state, read
/// only) into `scratch`.
async fn copy_state(config: &crate::config::Config, scratch: &dyn Store) -> anyhow::Result<()> {
    let source: Arc<dyn Store> = if let Some(settings) = &config.controller.etcd {
        crate::state::etcd::observe(settings).map_err(|e| anyhow!(e))?
    } else if config.controller.state.exists() {
        Arc::new(SqliteStore::open(&config.controller.state)?)
    } else {
        return Ok(());
    };
    let names: Vec<String> = config.services.keys().cloned().collect();
    let states: Vec<_> = source.service_states(&names).await?.into_iter().collect();
    scratch.save_service_states(&states).await?;
    Ok(())
}
