//! Agent endpoint: `POST /v1/agents/{name}/report`, where remote probe agents hand in their
//! verdicts.
//!
//! Beside the flow, feeding it at `health` (agent -> api -> health at the controller): a probe
//! agent (`dnsfailback agent`) runs the same checks from another vantage point and posts an
//! [`AgentReport`] here about once a second. [`report`] checks who is posting (an agent token
//! whose name is the agent in the path and in the body; [`super::auth`] has already kept every
//! other role away), that every (service, target) it names is configured, and forwards it on
//! [`ApiState::agent_reports`] to the control loop, which folds it into each target's vantage
//! quorum. Nothing here judges health: the API only authenticates, checks and forwards.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use tokio::sync::mpsc::error::TrySendError;

pub use super::auth::report_path;
use super::auth::{role_label, Caller, Role};
use super::{error, ApiState};
use crate::health::agent::AgentReport;

/// Accepts one agent's report: 200 `{"accepted": N}` (N targets), 403 when the token is not
/// this agent's, 400 for a malformed body or unknown targets, 503 when the control loop cannot
/// take it now (the agent simply reports again on its next round).
pub(super) async fn report(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    if caller.role != Role::Agent || caller.name != name {
        tracing::warn!(
            token = %caller.name,
            "admin API: refused a report for agent `{name}` from token `{}` ({})",
            caller.name,
            role_label(caller.role)
        );
        return error(StatusCode::FORBIDDEN, forbidden_message(&caller, &name));
    }
    let report: AgentReport = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("bad agent report from `{name}`: {e}"),
            )
        }
    };
    if report.agent != name {
        tracing::warn!(
            token = %caller.name,
            "admin API: refused a report from token `{}` that names agent `{}`",
            caller.name,
            report.agent
        );
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "forbidden: the report names agent `{}` but was sent by token `{}` to {}; an agent reports only as itself",
                report.agent,
                caller.name,
                report_path(&name)
            ),
        );
    }
    let unknown = unknown_targets(&report, &s.known_targets.get());
    if !unknown.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "agent `{name}` reported unknown target(s): {}; is the agent running with the controller's configuration?",
                unknown.join(", ")
            ),
        );
    }
    let accepted = report.targets.len();
    match s.agent_reports.try_send(report) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the control loop is busy and did not take this report; the next one will do",
            )
        }
        Err(TrySendError::Closed(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the control loop is not taking agent reports (shutting down?)",
            )
        }
    }
    let first = s
        .agents_heard
        .lock()
        .map(|mut heard| heard.insert(name.clone()))
        .unwrap_or(false);
    if first {
        tracing::info!("agent `{name}` reported for the first time ({accepted} target(s))");
    } else {
        tracing::debug!("agent `{name}` reported {accepted} target(s)");
    }
    Json(serde_json::json!({ "accepted": accepted })).into_response()
}

/// Why `caller` may not post `name`'s report; names the token, never its value.
fn forbidden_message(caller: &Caller, name: &str) -> String {
    let path = report_path(name);
    match caller.role {
        Role::Agent => format!(
            "forbidden: token `{}` belongs to agent `{}` and may only POST {}, not {path}",
            caller.name,
            caller.name,
            report_path(&caller.name)
        ),
        role => format!(
            "forbidden: token `{}` is {}; POST {path} needs the agent token named `{name}`",
            caller.name,
            match role {
                Role::ReadOnly => "read-only",
                _ => "an operator token",
            }
        ),
    }
}

/// `service/target` of every pair in `report` that is not configured, in report order.
fn unknown_targets(report: &AgentReport, known: &BTreeSet<(String, String)>) -> Vec<String> {
    report
        .targets
        .iter()
        .filter(|t| !known.contains(&(t.service.clone(), t.target.clone())))
        .map(|t| format!("{}/{}", t.service, t.target))
        .collect()
}
