//! `dnsfailback plan`: the dry run. Probes every check once, decides as the controller would,
//! diffs against the provider's real records and prints the change sets; changes nothing.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;

use crate::health::{check_id, HealthBook};
use crate::plan::{desired_sets, diff, Plan};
use crate::policy::{decide, Observed};
use crate::probe::{ProbeResult, Prober};
use crate::reconcile::Clock;
use crate::state::{SqliteStore, Store};

/// Runs the dry run; exit code 0 when every plan is valid, 2 otherwise.
pub async fn plan(path: &Path, json: bool) -> anyhow::Result<u8> {
    let config = match crate::config::load(path) {
        Ok((c, _)) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(2);
        }
    };
    let store: Option<Arc<dyn Store>> = if let Some(settings) = &config.controller.etcd {
        // Reads the group's shared state; never campaigns, never writes.
        Some(crate::state::etcd::observe(settings).map_err(|e| anyhow!(e))?)
    } else if config.controller.state.exists() {
        Some(Arc::new(SqliteStore::open(&config.controller.state)?))
    } else {
        None
    };
    let built = crate::providers::build(&config).map_err(|e| anyhow!(e))?;
    let clock = Clock::system();
    let mut health = HealthBook::new(config.services.values());
    for s in config.services.values() {
        for t in &s.targets {
            for (i, c) in t.checks.iter().enumerate() {
                let prober =
                    Prober::new(&c.spec).map_err(|e| anyhow!("{}/{}: {e}", s.name, t.name))?;
                let outcome = prober.probe().await;
                // One probe stands in for the whole threshold in a dry run.
                for _ in 0..c.rise.max(c.fall) {
                    health.observe(
                        &ProbeResult {
                            check: check_id(&s.name, &t.name, i),
                            outcome: outcome.clone(),
                            at: tokio::time::Instant::now(),
                        },
                        clock.now_ms(),
                    );
                }
            }
        }
    }
    let mut plans = Vec::new();
    let mut invalid = false;
    for s in config.services.values() {
        let provider = built
            .providers
            .get(&s.provider)
            .ok_or_else(|| anyhow!("no provider {}", s.provider))?;
        let state = match &store {
            Some(st) => st.service_state(&s.name).await?.unwrap_or_default(),
            None => Default::default(),
        };
        let h = health.service(&s.name);
        let now = clock.now_ms();
        let primary_up = h
            .first()
            .map(|t| t.state == crate::health::State::Up)
            .unwrap_or(false);
        let obs = Observed {
            health: &h,
            primary_up_since_ms: primary_up.then_some(0),
            now_ms: now,
            step_stats: health.stats_since(&s.name, &s.primary().name, 0),
            baseline_p95_ms: None,
            metric: None,
        };
        let decision = decide(s, &state, &obs);
        let observed = provider
            .read(&s.zone, &s.record, s.rtype)
            .await
            .map_err(|e| anyhow!("service {}: cannot read current records: {e}", s.name))?;
        let want = decision
            .desired
            .as_ref()
            .map(|d| desired_sets(s, d, provider.capabilities().weighted))
            .unwrap_or_else(|| observed.clone());
        let p = Plan::new(
            &s.name,
            diff(&s.zone, &observed, &want),
            &provider.capabilities(),
        );
        invalid |= !p.is_valid();
        if !json {
            println!("{}", p.to_string().trim_end());
            println!("  because: {}", decision.reason);
            if let Some(h) = &decision.held {
                println!("  held back: {h}");
            }
            if let Some(a) = &decision.alert {
                println!("  ALERT: {a}");
            }
        }
        plans.push(serde_json::json!({ "plan": p, "reason": decision.reason, "held": decision.held, "alert": decision.alert }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
    }
    Ok(if invalid { 2 } else { 0 })
}
