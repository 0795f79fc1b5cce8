//! Operator commands reaching the loop (operator -> api -> **policy** -> plan): applied to the
//! service's state between two ticks, persisted and audited, then the service is decided at
//! once so the command takes effect without waiting for the next tick.

use super::Controller;
use crate::state::AuditEntry;

impl Controller {
    /// Applies an operator command and waits until the change it starts is applied and
    /// verified (tests and embedders; the running loop uses [`Controller::submit`], which
    /// answers as soon as the command is accepted and the change started).
    pub async fn command(
        &mut self,
        service: &str,
        op: crate::policy::command::Operation,
        actor: &str,
    ) -> Result<String, String> {
        let answer = self.submit(service, op, actor).await;
        self.settle().await;
        answer
    }

    /// Takes one command from the API: a governed one (`apply`, `rollback`) is answered when
    /// its job reports back, every other as soon as it is accepted or refused.
    pub(super) async fn dispatch(&mut self, c: crate::policy::command::OperatorCommand) {
        if !c.op.is_governed() {
            let answer = self.submit(&c.service, c.op.clone(), &c.actor).await;
            let _ = c.reply.send(answer);
            return;
        }
        if let Err(why) = self.may_command(&c.service) {
            let _ = c.reply.send(Err(why));
            return;
        }
        let _ = self
            .start_govern(&c.service, &c.op, &c.actor, c.reply)
            .await;
    }

    /// Applies an operator command to a service's state; its change starts right away.
    pub async fn submit(
        &mut self,
        service: &str,
        op: crate::policy::command::Operation,
        actor: &str,
    ) -> Result<String, String> {
        let svc = self.may_command(service)?;
        if op.is_governed() {
            // Tests and embedders: wait here for the job (the running loop does not).
            let (reply, answer) = tokio::sync::oneshot::channel();
            let _ = self.start_govern(service, &op, actor, reply).await;
            self.settle().await;
            return answer
                .await
                .unwrap_or_else(|_| Err("the governed change did not report back".into()));
        }
        let now = self.clock.now_ms();
        if matches!(op, crate::policy::command::Operation::Resume)
            && self
                .runtime
                .get(service)
                .is_some_and(|r| r.needs_operator.is_some())
        {
            return self.resume_provider_calls(service, actor, now).await;
        }
        let health = self.health.service(service);
        let current = self
            .runtime
            .get(service)
            .map(|r| r.state.clone())
            .unwrap_or_default();
        let (next, message) =
            crate::policy::operate::apply(&svc, &current, &op, actor, now, &health)?;
        self.save_state(service, next).await?;
        let entry = AuditEntry {
            evidence: serde_json::to_value(&health).unwrap_or_default(),
            ..AuditEntry::note(now, service, actor, op.verb(), &message)
        };
        crate::state::audit_or_log(self.store.as_ref(), &entry).await;
        tracing::info!(service, actor, "operator {}: {message}", op.verb());
        self.wake(service);
        self.decide_now(service, now).await;
        Ok(message)
    }

    /// `resume` of a service stopped by a provider error: the operator says the cause is
    /// fixed; provider calls start again on this tick.
    async fn resume_provider_calls(
        &mut self,
        service: &str,
        actor: &str,
        now: u64,
    ) -> Result<String, String> {
        self.resume_stopped(Some(service));
        let message = "provider calls resumed by the operator (needs operator cleared)".to_string();
        self.audit_later(service, "resume", &message, serde_json::Value::Null);
        if let Some(last) = self.audits.last_mut() {
            last.actor = actor.to_string();
        }
        tracing::info!(service, actor, "{message}");
        self.decide_now(service, now).await;
        Ok(message)
    }

    /// Decides `service` at once and starts its change, so a command takes effect without
    /// waiting for the next tick.
    async fn decide_now(&mut self, service: &str, now: u64) {
        let item = self.prepare(service, now);
        self.flush().await;
        if let Some(item) = item {
            let key = (item.service.provider.clone(), item.service.zone.clone());
            self.start_zone_job(key, vec![item], now);
        }
    }

    /// The service, if a command may act on it now: it exists, this controller leads, and
    /// no change of it is in flight.
    fn may_command(&self, service: &str) -> Result<std::sync::Arc<crate::config::Service>, String> {
        let Some(svc) = self.service(service) else {
            return Err(format!("no service named `{service}`"));
        };
        if !self.leadership.is_leader() {
            return Err(format!(
                "this controller is a follower; send the command to the lease holder `{}`",
                self.leadership
                    .holder()
                    .unwrap_or_else(|| "(none yet)".into())
            ));
        }
        if self.runtime.get(service).is_some_and(|r| r.in_flight) {
            return Err(format!(
                "a change of `{service}` is being applied right now; try again in a moment"
            ));
        }
        Ok(svc)
    }
}
