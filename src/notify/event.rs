//! What a notifier sends: the audit entry as an [`Event`], the names an `events` filter matches
//! it by, and the one-line Slack text.

use crate::state::AuditEntry;

/// What a webhook receiver gets as JSON (and a command on stdin): the audit entry, named as
/// an event. The shape is documented in docs/notifications.md; keep it additive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Always `dnsfailback.audit`, so a receiver shared with other senders can tell.
    pub kind: &'static str,
    /// The audit action: `failover`, `failback`, `canary_step`, `rollback`, `all_down`,
    /// `ttl_restore`, `gate_tripped`, `needs_operator`, `hold`, ... (`config::NOTIFY_EVENTS`).
    pub event: String,
    pub service: String,
    /// `controller`, or the operator's token name for an operator's command.
    pub actor: String,
    /// True when an operator (not the controller) wrote the entry: the `operator_command`
    /// filter name matches these.
    pub operator: bool,
    pub reason: String,
    /// When it happened: unix milliseconds and RFC 3339 (UTC).
    pub at_ms: u64,
    pub at: String,
    /// The health the decision was taken on, as in the audit trail.
    pub evidence: serde_json::Value,
}

/// The actor of every entry the control loop writes itself.
const CONTROLLER: &str = "controller";

impl Event {
    /// The event of one audit entry.
    pub fn of(e: &AuditEntry) -> Event {
        Event {
            kind: "dnsfailback.audit",
            event: e.action.clone(),
            service: e.service.clone(),
            actor: e.actor.clone(),
            operator: e.actor != CONTROLLER,
            reason: e.reason.clone(),
            at_ms: e.at_ms,
            at: crate::state::when::rfc3339_utc(e.at_ms),
            evidence: e.evidence.clone(),
        }
    }

    /// One readable line for chat: service, event, who, why.
    pub fn line(&self) -> String {
        format!(
            "[dnsfailback] {}: {} by {} - {}",
            self.service, self.event, self.actor, self.reason
        )
    }

    /// A Slack-compatible incoming-webhook body: `text` is the one line (with `&`, `<`, `>`
    /// escaped as Slack asks), so Mattermost, Rocket.Chat and Teams' Slack bridge read it too.
    pub fn slack_body(&self) -> serde_json::Value {
        let text = self
            .line()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        serde_json::json!({ "text": text })
    }
}

/// Whether a filter (`events`; empty = everything) takes `entry`: by its action, or by
/// `operator_command` for any entry an operator wrote.
pub fn wanted(events: &[String], entry: &AuditEntry) -> bool {
    events.is_empty()
        || events
            .iter()
            .any(|e| *e == entry.action || (e == "operator_command" && entry.actor != CONTROLLER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, actor: &str) -> AuditEntry {
        AuditEntry {
            at_ms: 1_700_000_000_000,
            service: "shop".into(),
            actor: actor.into(),
            action: action.into(),
            reason: "primary <down> & out".into(),
            evidence: serde_json::Value::Null,
            changes: None,
            change_id: None,
        }
    }

    #[test]
    fn filters_match_actions_and_operator_commands() {
        let f = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wanted(&[], &entry("canary_step", "controller")));
        assert!(wanted(&f(&["failover"]), &entry("failover", "controller")));
        assert!(!wanted(&f(&["failover"]), &entry("failback", "controller")));
        assert!(wanted(
            &f(&["operator_command"]),
            &entry("failback", "alice")
        ));
        assert!(!wanted(
            &f(&["operator_command"]),
            &entry("failback", "controller")
        ));
    }

    #[test]
    fn the_slack_body_is_one_escaped_line() {
        let body = Event::of(&entry("failover", "controller")).slack_body();
        assert_eq!(
            body,
            serde_json::json!({
                "text": "[dnsfailback] shop: failover by controller - primary &lt;down&gt; &amp; out"
            })
        );
        assert!(Event::of(&entry("hold", "alice")).operator);
    }
}
