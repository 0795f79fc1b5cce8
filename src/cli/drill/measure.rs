//! The drill's stages, each one a poll loop over the controller's status and the drill's own
//! DNS queries: the planned switch, the canary failback, the TTL restore.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::report::{Arrival, CanaryStep, Report};
use crate::cli::client::AdminClient;
use crate::cli::dig;
use crate::cli::online::NameServer;
use crate::config::Service;
use crate::policy::Phase;
use crate::reconcile::ServiceStatus;
use crate::state::when::now_ms;
use crate::state::AuditEntry;

/// Time between DNS polls: fine enough for sub-second switch times.
const POLL: Duration = Duration::from_millis(10);

/// What every stage needs: the controller, the service, where to look, and when to give up.
pub(super) struct Drill {
    pub client: AdminClient,
    pub service: Service,
    pub servers: Vec<NameServer>,
    pub resolvers: Vec<SocketAddr>,
    pub to: String,
    pub deadline: tokio::time::Instant,
}

impl Drill {
    async fn status(&self) -> anyhow::Result<ServiceStatus> {
        self.client
            .get(&format!("/v1/status/{}", self.service.name))
            .await
    }

    async fn post(&self, verb: &str, body: Value) -> anyhow::Result<()> {
        let path = format!("/v1/services/{}/{verb}", self.service.name);
        let (status, v) = self.client.post(&path, &body).await?;
        let why = v.get("error").and_then(Value::as_str).unwrap_or("");
        match status.as_u16() {
            200 => Ok(()),
            202 => bail!("`{verb}` waits for a second operator's approval (two-person rule); a drill needs a service it can steer alone"),
            _ => bail!("`{verb}` refused by the controller: {why} [{status}]"),
        }
    }

    fn check_deadline(&self, what: &str) -> anyhow::Result<()> {
        if tokio::time::Instant::now() >= self.deadline {
            bail!("timed out (--timeout) waiting for {what}");
        }
        Ok(())
    }

    /// The sorted values of target `name`, as an answer shows them.
    fn values_of(&self, name: &str) -> Vec<String> {
        let mut v = self
            .service
            .target(name)
            .map(|t| t.values.clone())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Which target an answer points to (`other` when none matches).
    fn target_of(&self, values: &[String]) -> String {
        self.service
            .targets
            .iter()
            .find(|t| self.values_of(&t.name) == values)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| "other".into())
    }

    async fn ask(&self, addr: SocketAddr) -> Option<dig::Answer> {
        let name = self.service.record.to_string();
        dig::lookup(addr, &name, &self.service.rtype.to_string())
            .await
            .ok()
    }
}

/// The newest audit entry with record changes and `action`, at or after `since`.
async fn audited(d: &Drill, action: &str, since: u64) -> Option<u64> {
    let entries: Vec<AuditEntry> = d
        .client
        .get(&format!("/v1/history/{}", d.service.name))
        .await
        .ok()?;
    entries
        .iter()
        .filter(|e| e.action == action && e.at_ms >= since && e.changes.is_some())
        .map(|e| e.at_ms)
        .min()
}

fn margin_ms(s: &Service) -> u64 {
    u64::try_from(s.ttl_lead_margin.as_millis()).unwrap_or(u64::MAX)
}

/// Planned failover: command, TTL lowering and its wait, switch; every authoritative server
/// polled until it answers the backup, then the resolvers.
pub(super) async fn switch(d: &Drill, r: &mut Report) -> anyhow::Result<()> {
    let t_cmd = now_ms();
    d.post("failover", json!({ "to": d.to })).await?;
    let want = d.values_of(&d.to);
    let (mut due, mut expected, mut switched) = (None, None, false);
    let mut arrived: Vec<Option<u64>> = vec![None; d.servers.len()];
    while !(switched && arrived.iter().all(Option::is_some)) {
        d.check_deadline("the switch")?;
        let st = d.status().await?;
        match &st.phase {
            Phase::Lowering {
                old_ttl,
                lowered_at_ms: Some(l),
                ..
            } => {
                let wait = u64::from(*old_ttl) * 1000 + margin_ms(&d.service);
                expected = Some(wait);
                due = Some(if *l == 0 { t_cmd } else { l + wait });
            }
            Phase::FailedOver { .. } => switched = true,
            Phase::Normal if now_ms() > t_cmd + 5_000 || st.frozen.is_some() => {
                bail!(
                    "the planned switch did not start or was aborted: {}",
                    st.reason
                )
            }
            _ => {}
        }
        for (i, s) in d.servers.iter().enumerate() {
            if arrived[i].is_none() && d.ask(s.addr).await.is_some_and(|a| a.values == want) {
                arrived[i] = Some(now_ms());
            }
        }
        tokio::time::sleep(POLL).await;
    }
    let due = due.unwrap_or(t_cmd);
    let last = arrived.iter().flatten().max().copied().unwrap_or(due);
    r.phase(
        "ttl_lowering",
        t_cmd,
        due,
        expected,
        "TTL lowered to failover_ttl, old TTL waited out",
    );
    r.phase(
        "switch",
        due,
        last,
        None,
        "switch due -> every authoritative server answers the backup",
    );
    let confirmed = audited(d, "failover", t_cmd).await;
    r.switch.due_at_ms = Some(due);
    r.switch.confirmed_at_ms = confirmed;
    r.switch.provider_confirmation_ms = confirmed.map(|c| c.saturating_sub(due));
    r.switch.switch_ms = Some(last.saturating_sub(due));
    r.switch.authoritative = d
        .servers
        .iter()
        .zip(&arrived)
        .map(|(s, at)| arrival(&s.name, s.addr, *at, due))
        .collect();
    r.resolvers = resolvers(d, &want, due).await;
    Ok(())
}

fn arrival(name: &str, addr: SocketAddr, at: Option<u64>, due: u64) -> Arrival {
    Arrival {
        server: name.into(),
        addr: addr.to_string(),
        at_ms: at,
        after_ms: at.map(|a| a.saturating_sub(due)),
    }
}

/// Polls each `--resolver` until it answers `want`, for at most the failover TTL + 5 s after
/// the switch was due (a resolver may serve the old answer until its cached TTL runs out).
async fn resolvers(d: &Drill, want: &[String], due: u64) -> Vec<Arrival> {
    let limit = due + u64::from(d.service.failover_ttl) * 1000 + 5_000;
    let mut at: Vec<Option<u64>> = vec![None; d.resolvers.len()];
    while at.iter().any(Option::is_none) && now_ms() < limit {
        for (i, a) in d.resolvers.iter().enumerate() {
            if at[i].is_none() && d.ask(*a).await.is_some_and(|x| x.values == want) {
                at[i] = Some(now_ms());
            }
        }
        tokio::time::sleep(POLL).await;
    }
    d.resolvers
        .iter()
        .zip(at)
        .map(|(a, t)| arrival("resolver", *a, t, due))
        .collect()
}

/// Failback with the configured canary: counts the answers of the first authoritative server
/// per target while each step is published. Returns when traffic is fully back.
pub(super) async fn canary(d: &Drill, r: &mut Report) -> anyhow::Result<u64> {
    let t_fb = now_ms();
    d.post("failback", json!({})).await?;
    let steps = d.service.canary.steps.clone();
    let mut current: Option<usize> = None;
    let mut last_status = tokio::time::Instant::now() - Duration::from_secs(1);
    let done = loop {
        d.check_deadline("the canary")?;
        if last_status.elapsed() >= Duration::from_millis(50) {
            last_status = tokio::time::Instant::now();
            let st = d.status().await?;
            match &st.phase {
                Phase::Canary { step, .. } => current = Some(*step),
                Phase::Restoring { since_ms } => break *since_ms,
                Phase::Normal => break now_ms(),
                Phase::FailedOver { .. } if current.is_some() || st.frozen.is_some() => {
                    bail!(
                        "the canary was rolled back or frozen: {} {}",
                        st.reason,
                        st.alert.unwrap_or_default()
                    )
                }
                _ => {}
            }
        }
        let (Some(step), Some(first)) = (current, d.servers.first()) else {
            tokio::time::sleep(POLL).await;
            continue;
        };
        if r.canary.last().is_none_or(|c| c.step != step) {
            r.canary.push(CanaryStep {
                step,
                primary_percent: steps.get(step).copied().unwrap_or(100),
                ..CanaryStep::default()
            });
        }
        if let Some(a) = d.ask(first.addr).await {
            let target = d.target_of(&a.values);
            if let Some(c) = r.canary.last_mut() {
                c.samples += 1;
                *c.counts.entry(target).or_default() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    last_step(d, r, &steps).await;
    let primary = d.service.primary().name.clone();
    for c in &mut r.canary {
        let p = c.counts.get(&primary).copied().unwrap_or(0);
        c.observed_primary_percent = f64::from(p) * 100.0 / f64::from(c.samples.max(1));
    }
    let hold = u64::try_from(d.service.canary.hold.as_millis()).unwrap_or(u64::MAX);
    let expected = hold.saturating_mul(steps.len().saturating_sub(1) as u64);
    r.phase(
        "canary",
        t_fb,
        done,
        Some(expected),
        "failback command -> all traffic on the primary",
    );
    Ok(done)
}

/// The last step (100 %) is the return itself: the controller leaves the canary as it
/// publishes it, so it is sampled right after (50 answers) to show no backup answer remains.
async fn last_step(d: &Drill, r: &mut Report, steps: &[u32]) {
    let Some(first) = d.servers.first() else {
        return;
    };
    let step = steps.len().saturating_sub(1);
    if r.canary.last().is_some_and(|c| c.step == step) {
        return;
    }
    let mut c = CanaryStep {
        step,
        primary_percent: 100,
        ..CanaryStep::default()
    };
    for _ in 0..50 {
        if let Some(a) = d.ask(first.addr).await {
            c.samples += 1;
            *c.counts.entry(d.target_of(&a.values)).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    r.canary.push(c);
}

/// Waits until the controller restored the original TTL and every authoritative server
/// serves the primary with it.
pub(super) async fn ttl_restore(d: &Drill, r: &mut Report, from: u64) -> anyhow::Result<()> {
    let st = d.status().await?;
    let ttl = st.original_ttl.unwrap_or(d.service.ttl);
    let want = d.values_of(&d.service.primary().name);
    let mut served: Vec<Option<u64>> = vec![None; d.servers.len()];
    loop {
        d.check_deadline("the TTL restore")?;
        let normal = matches!(d.status().await?.phase, Phase::Normal);
        for (i, s) in d.servers.iter().enumerate() {
            let ok = d
                .ask(s.addr)
                .await
                .is_some_and(|a| a.values == want && a.ttl == Some(ttl));
            if served[i].is_none() && ok {
                served[i] = Some(now_ms());
            }
        }
        if normal && served.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let at = served
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_else(now_ms);
    let t = &mut r.ttl_restore;
    t.ttl = ttl;
    t.from_ms = Some(from);
    t.confirmed_at_ms = audited(d, "ttl_restore", from).await;
    t.served_at_ms = Some(at);
    t.after_ms = Some(at.saturating_sub(from));
    let expected = u64::try_from(d.service.restore_ttl_after.as_millis()).ok();
    r.phase(
        "ttl_restore",
        from,
        at,
        expected,
        "full return -> original TTL served",
    );
    Ok(())
}

/// After an interrupt or a failure mid-drill: brings the service back to a state that needs
/// nobody (the primary, or the planned switch called off) and says what was done.
pub(super) async fn leave_sane(d: &Drill) -> String {
    let phase = match d.status().await {
        Ok(st) => st.phase,
        Err(e) => {
            return format!(
                "could not read the service's status ({e}); check it with `dnsfailback status {}`",
                d.service.name
            )
        }
    };
    let (verb, body, what) = match phase {
        Phase::Lowering { .. } => (
            "abort",
            json!({}),
            "called off the planned switch (abort); the original TTL will be restored",
        ),
        Phase::FailedOver { .. } | Phase::Canary { .. } => (
            "failback",
            json!({ "now": true }),
            "sent all traffic back to the primary at once (failback --now)",
        ),
        other => return format!("left as is: phase {} needs no action", other.label()),
    };
    match d.post(verb, body).await {
        Ok(()) => what.to_string(),
        Err(e) => format!(
            "tried `{verb}`: {e}; check `dnsfailback status {}`",
            d.service.name
        ),
    }
}

/// The drill refuses a service that is not in normal operation, naming its phase.
pub(super) fn refuse_unless_normal(st: &ServiceStatus) -> anyhow::Result<()> {
    if !matches!(st.phase, Phase::Normal) || st.frozen.is_some() {
        return Err(anyhow!(
            "{} is in phase {}{}; a drill starts from normal operation (finish or abort what is in progress first)",
            st.service,
            st.phase.label(),
            if st.frozen.is_some() { " and frozen" } else { "" }
        ));
    }
    Ok(())
}
