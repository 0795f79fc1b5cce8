//! `dnsfailback plan --out FILE` and `dnsfailback apply FILE`: a reviewed plan, applied
//! exactly as reviewed.
//!
//! Beside the flow: `plan --out` writes the next tick's changes (or, with `--service` and
//! `--to`, a planned switch of one service) as a [`PlanDocument`], each with the provider's
//! records it was made against and their fingerprint; `apply` sends the file to the running
//! controller (`POST /v1/apply`, operator token), which refuses it unless the records still
//! match (operator -> api -> policy -> plan -> provider -> verify). Exit codes as the other
//! operator commands: 0 applied, 3 waiting for a second operator, 1 refused.

use std::path::Path;

use anyhow::{anyhow, Context};

use super::client::AdminClient;
use super::operate::TokenArgs;
use super::out;
use crate::plan::{desired_sets, diff, Plan};
use crate::policy::reviewed::{records_fingerprint, service_fingerprint, PlanDocument, PlanEntry};
use crate::policy::Publication;
use crate::reconcile::ServicePlan;
use crate::state::when;

/// Writes the valid plans among `plans` to `file`; says so when there is nothing to write.
pub fn write_plans(file: &Path, plans: &[ServicePlan]) -> anyhow::Result<u8> {
    let entries: Vec<PlanEntry> = plans
        .iter()
        .filter_map(|p| {
            let plan = p.plan.as_ref().filter(|x| x.is_valid())?;
            let records = p.records.clone()?;
            Some(PlanEntry {
                service: p.service.clone(),
                config: p.config.clone()?,
                phase: p.phase.clone(),
                reason: p.reason.clone(),
                fingerprint: records_fingerprint(&records),
                records,
                changes: plan.changes.clone(),
            })
        })
        .collect();
    if entries.is_empty() {
        out::line("no changes to plan: nothing written")?;
        return Ok(0);
    }
    write(file, PlanDocument::seal(when::now_ms(), entries))
}

fn write(file: &Path, doc: PlanDocument) -> anyhow::Result<u8> {
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(file, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    let services: Vec<&str> = doc.entries.iter().map(|e| e.service.as_str()).collect();
    out::line(format_args!(
        "plan for {} written to {}; apply it with `dnsfailback apply {}`",
        services.join(", "),
        file.display(),
        file.display()
    ))?;
    Ok(0)
}

/// `plan --service S --to TARGET --out FILE`: the change that moves `service` to `target`
/// (with the failover TTL), planned here against the provider's records as they are now.
pub async fn plan_switch(
    config: &Path,
    service: &str,
    to: &str,
    file: &Path,
) -> anyhow::Result<u8> {
    let config = match crate::config::load(config) {
        Ok((c, _)) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(2);
        }
    };
    let svc = config
        .services
        .get(service)
        .ok_or_else(|| anyhow!("no service named `{service}`"))?;
    if !svc.targets.iter().any(|t| t.name == to) {
        return Err(anyhow!("service `{service}` has no target `{to}`"));
    }
    let provider = super::export::offline_provider(&config, &svc.provider)?;
    let records = provider.read(&svc.zone, &svc.record, svc.rtype).await?;
    let caps = provider.capabilities();
    let publication = Publication::Target {
        target: to.to_string(),
        ttl: svc.failover_ttl,
    };
    let want = desired_sets(svc, &publication, caps.weighted);
    let plan = Plan::new(service, diff(&svc.zone, &records, &want), &caps);
    if !plan.is_valid() {
        eprintln!("the plan is invalid: {}", plan.problems.join("; "));
        return Ok(2);
    }
    if plan.is_noop() {
        out::line(format_args!(
            "`{service}` already points to `{to}`: nothing written"
        ))?;
        return Ok(0);
    }
    out::print(&format!("{}\n", plan.to_string().trim_end()))?;
    let entry = PlanEntry {
        service: service.to_string(),
        config: service_fingerprint(svc),
        phase: "planned switch".into(),
        reason: format!("planned switch of `{service}` to `{to}`"),
        fingerprint: records_fingerprint(&records),
        records,
        changes: plan.changes,
    };
    write(file, PlanDocument::seal(when::now_ms(), vec![entry]))
}

/// Sends the plan file to the running controller; prints its answer.
pub async fn apply(
    config: &Path,
    reach: &super::reach::AdminReach,
    token: &TokenArgs,
    file: &Path,
) -> anyhow::Result<u8> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let body: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plan file (not JSON)", file.display()))?;
    let client = AdminClient::connect(config, reach, token.source().as_ref())?;
    let (status, v) = client.post("/v1/apply", &body).await?;
    super::operate::report(status, &v)
}
