//! Operator endpoints: `failover`, `failback`, `hold`, `resume`, `abort`, and approvals.
//!
//! Beside the flow, feeding it at `policy` (operator -> api -> policy): a handler turns an
//! authenticated operator's request into an [`OperatorCommand`] with the token's name as
//! actor, sends it to the control loop on `ApiState::commands` and relays the loop's answer
//! (200 accepted, 409 refused). Services with `approval = "two-person"` get a pending
//! approval instead (202), sent only when a different operator approves it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::approvals::{ApproveError, PendingApproval};
use super::auth::Caller;
use super::{error, ApiState};
use crate::policy::command::{Operation, OperatorCommand};
use crate::probe::duration_opt;
use crate::state::AuditEntry;

/// Parses an optional JSON body: empty means all defaults. The error is the 400 message.
fn body<T: DeserializeOwned + Default>(verb: &str, bytes: &Bytes) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("bad request body for `{verb}`: {e}"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailoverBody {
    to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailbackBody {
    steps: Option<Vec<u32>>,
    hold: Option<String>,
    #[serde(default)]
    now: bool,
}

/// Same rule as the configuration's `canary_steps`: ascending percentages ending at 100.
pub fn check_steps(steps: &[u32]) -> Result<(), String> {
    let ascending = steps.windows(2).all(|w| w[0] < w[1]);
    if steps.is_empty()
        || !ascending
        || steps.iter().any(|x| !(1..=100).contains(x))
        || steps.last() != Some(&100)
    {
        return Err(format!(
            "steps {steps:?} are not an ascending list of percentages ending at 100 (e.g. [10, 50, 100])"
        ));
    }
    Ok(())
}

pub(super) async fn failover(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(service): Path<String>,
    bytes: Bytes,
) -> Response {
    match body::<FailoverBody>("failover", &bytes) {
        Ok(b) => submit(&s, &caller, &service, Operation::Failover { to: b.to }).await,
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

pub(super) async fn failback(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(service): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = match body::<FailbackBody>("failback", &bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Some(steps) = &b.steps {
        if let Err(e) = check_steps(steps) {
            return error(StatusCode::BAD_REQUEST, e);
        }
    }
    let hold = match b.hold.as_deref().map(duration_opt::parse).transpose() {
        Ok(h) => h,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("hold: {e}")),
    };
    let op = Operation::Failback {
        steps: b.steps,
        hold,
        now: b.now,
    };
    submit(&s, &caller, &service, op).await
}

/// The body of a command that takes no arguments: empty or `{}`; anything else is refused,
/// so a client that thinks it sent an option learns that it did not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

/// `hold`, `resume` and `abort`: no arguments, the body checked like every other.
async fn without_arguments(
    s: &ApiState,
    caller: &Caller,
    service: &str,
    verb: &str,
    bytes: &Bytes,
    op: Operation,
) -> Response {
    match body::<NoArguments>(verb, bytes) {
        Ok(NoArguments {}) => submit(s, caller, service, op).await,
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("{e}; `{verb}` takes no arguments: send no body or {{}}"),
        ),
    }
}

pub(super) async fn hold(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(service): Path<String>,
    bytes: Bytes,
) -> Response {
    without_arguments(&s, &caller, &service, "hold", &bytes, Operation::Hold).await
}

pub(super) async fn resume(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(service): Path<String>,
    bytes: Bytes,
) -> Response {
    without_arguments(&s, &caller, &service, "resume", &bytes, Operation::Resume).await
}

pub(super) async fn abort(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(service): Path<String>,
    bytes: Bytes,
) -> Response {
    without_arguments(&s, &caller, &service, "abort", &bytes, Operation::Abort).await
}

/// A service is known when the configuration names it (every configured service has an
/// entry in the approval map, `None` when it needs no second operator).
fn known(s: &ApiState, service: &str) -> bool {
    s.approval.get().contains_key(service)
}

/// Sends directly, or parks for a second operator when the service requires it.
pub(super) async fn submit(
    s: &ApiState,
    caller: &Caller,
    service: &str,
    op: Operation,
) -> Response {
    if !known(s, service) {
        return error(
            StatusCode::NOT_FOUND,
            format!("no service named `{service}`"),
        );
    }
    let Some(timeout) = s.approval.get().get(service).copied().flatten() else {
        return forward(s, service, op, caller.name.clone()).await;
    };
    let verb = op.verb();
    let p = s
        .approvals
        .request(service, op, &caller.name, timeout, s.clock.now_ms());
    let entry = audit_entry(
        s,
        &p,
        &p.requester,
        "approval_requested",
        format!(
            "`{verb}` requested by {}; needs a second operator within {} (approval {})",
            p.requester,
            duration_opt::format(timeout),
            p.id
        ),
    );
    if let Err(e) = s.store.audit(&entry).await {
        s.approvals.forget(&p.id);
        tracing::error!("cannot audit an approval request on `{service}`: {e}");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot record the approval request: {e}"),
        );
    }
    tracing::info!(
        "approval {} requested by {} for `{verb}` on `{service}`",
        p.id,
        p.requester
    );
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "pending_approval": p.id,
            "service": p.service,
            "op": verb,
            "requester": p.requester,
            "expires_at_ms": p.expires_at_ms,
            "message": format!(
                "`{verb}` on `{service}` needs a second operator: ask another operator to run `dnsfailback approve {}` within {}",
                p.id,
                duration_opt::format(timeout)
            ),
        })),
    )
        .into_response()
}

/// Sends a command to the control loop and relays its answer, within `reply_timeout`.
async fn forward(s: &ApiState, service: &str, op: Operation, actor: String) -> Response {
    let verb = op.verb();
    let (reply, answer) = oneshot::channel();
    let cmd = OperatorCommand {
        service: service.to_string(),
        op,
        actor,
        reply,
    };
    let exchange = async {
        s.commands.send(cmd).await.map_err(|_| ())?;
        answer.await.map_err(|_| ())
    };
    match tokio::time::timeout(s.reply_timeout, exchange).await {
        Ok(Ok(Ok(message))) => Json(json!({ "accepted": true, "message": message })).into_response(),
        Ok(Ok(Err(reason))) => error(StatusCode::CONFLICT, reason),
        Ok(Err(())) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the control loop is not running; the command was not applied",
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the control loop did not answer `{verb}` on `{service}` within {}; it may still apply it, check `dnsfailback status` before retrying",
                duration_opt::format(s.reply_timeout)
            ),
        ),
    }
}

fn audit_entry(
    s: &ApiState,
    p: &PendingApproval,
    actor: &str,
    action: &str,
    reason: String,
) -> AuditEntry {
    AuditEntry {
        evidence: serde_json::to_value(p).unwrap_or_default(),
        ..AuditEntry::note(s.clock.now_ms(), &p.service, actor, action, &reason)
    }
}

/// Audits requests that expired unapproved; called by the sweeper and before listing.
pub(super) async fn expire(s: &ApiState, now: u64) {
    for p in s.approvals.sweep(now) {
        audit_expiry(s, &p).await;
    }
}

async fn audit_expiry(s: &ApiState, p: &PendingApproval) {
    tracing::info!(
        "approval {} for `{}` on `{}` requested by {} expired unapproved",
        p.id,
        p.op.verb(),
        p.service,
        p.requester
    );
    let entry = audit_entry(
        s,
        p,
        &p.requester,
        "approval_expired",
        format!(
            "`{}` requested by {} expired without a second operator (approval {})",
            p.op.verb(),
            p.requester,
            p.id
        ),
    );
    if let Err(e) = s.store.audit(&entry).await {
        tracing::error!("cannot audit the expiry of approval {}: {e}", p.id);
    }
}

pub(super) async fn list_approvals(State(s): State<ApiState>) -> Response {
    expire(&s, s.clock.now_ms()).await;
    Json(s.approvals.list()).into_response()
}

fn gone(p: &PendingApproval) -> Response {
    error(
        StatusCode::GONE,
        format!(
            "approval `{}` for `{}` on `{}` expired; ask {} to request it again",
            p.id,
            p.op.verb(),
            p.service,
            p.requester
        ),
    )
}

pub(super) async fn approve(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let p = match s.approvals.take(&id, &caller.name, s.clock.now_ms()) {
        Ok(p) => p,
        Err(ApproveError::NotFound) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no pending approval `{id}` (already approved, never requested, or dropped by a restart)"),
            )
        }
        Err(ApproveError::OwnRequest) => {
            tracing::warn!(
                path = %format!("/v1/approvals/{id}/approve"),
                token = %caller.name,
                "admin API: refused self-approval by `{}`",
                caller.name
            );
            return error(
                StatusCode::FORBIDDEN,
                "the requester cannot approve their own action; ask another operator",
            );
        }
        Err(ApproveError::Expired(p)) => {
            audit_expiry(&s, &p).await;
            return gone(&p);
        }
        Err(ApproveError::AlreadyExpired(p)) => return gone(&p),
    };
    let verb = p.op.verb();
    let entry = audit_entry(
        &s,
        &p,
        &caller.name,
        "approved",
        format!(
            "`{verb}` requested by {} approved by {} (approval {})",
            p.requester, caller.name, p.id
        ),
    );
    if let Err(e) = s.store.audit(&entry).await {
        tracing::error!("cannot audit approval {}: {e}", p.id);
        s.approvals.restore(p);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot record the approval: {e}"),
        );
    }
    tracing::info!(
        "approval {} for `{verb}` on `{}`: requested by {}, approved by {}",
        p.id,
        p.service,
        p.requester,
        caller.name
    );
    let actor = format!("{} approved by {}", p.requester, caller.name);
    forward(&s, &p.service, p.op, actor).await
}
