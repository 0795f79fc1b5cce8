//! Governed changes over the admin API: `POST /v1/apply` (a reviewed plan file) and
//! `POST /v1/changes/{id}/rollback` (undo an applied change by its id).
//!
//! Beside the flow, feeding it at `policy` like every operator command (operator -> api ->
//! policy): the handler checks the request, finds the service it is about, and submits an
//! [`Operation::Apply`] or [`Operation::Rollback`] through the same path as `failover` (the
//! two-person rule included); the control loop does every check against the provider and
//! carries it out (`reconcile::govern`). A rollback of an unknown change id is refused here
//! and audited under [`CHANGES_LOG`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::auth::Caller;
use super::{error, operator, ApiState};
use crate::policy::command::Operation;
use crate::policy::reviewed::PlanDocument;
use crate::state::AuditEntry;

/// The audit trail's name for governed requests that name no known service.
pub const CHANGES_LOG: &str = "@changes";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    force: bool,
}

/// `POST /v1/apply`: the body is the plan file as `dnsfailback plan --out` wrote it.
pub(super) async fn apply(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Response {
    let plan: PlanDocument = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("not a plan file: {e}");
            audit(&s, CHANGES_LOG, &caller.name, "plan_refused", &why).await;
            return error(StatusCode::BAD_REQUEST, why);
        }
    };
    // A file for several services is carried out as one command; a service that needs a
    // second operator's approval makes the whole file wait for it.
    let approvals = s.approval.get();
    let service = plan
        .entries
        .iter()
        .find(|e| approvals.get(&e.service).is_some_and(Option::is_some))
        .or(plan.entries.first())
        .map(|e| e.service.clone());
    drop(approvals);
    let Some(service) = service else {
        let why = "the plan file has no changes to apply";
        audit(&s, CHANGES_LOG, &caller.name, "plan_refused", why).await;
        return error(StatusCode::BAD_REQUEST, why);
    };
    let op = Operation::Apply {
        plan: Box::new(plan),
    };
    operator::submit(&s, &caller, &service, op).await
}

/// `POST /v1/changes/{id}/rollback`, body `{}` or `{"force": true}`.
pub(super) async fn rollback(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Response {
    let body: RollbackBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("bad request body for `rollback`: {e}"),
                )
            }
        }
    };
    let record = match s.store.change(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let why = format!("no change {id} (see `dnsfailback history SERVICE` for change ids)");
            audit(&s, CHANGES_LOG, &caller.name, "rollback_refused", &why).await;
            return error(StatusCode::NOT_FOUND, why);
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read change {id}: {e}"),
            )
        }
    };
    let op = Operation::Rollback {
        change_id: id,
        force: body.force,
    };
    operator::submit(&s, &caller, &record.service, op).await
}

async fn audit(s: &ApiState, service: &str, actor: &str, action: &str, why: &str) {
    let entry = AuditEntry::note(s.clock.now_ms(), service, actor, action, why);
    crate::state::audit_or_log(s.store.as_ref(), &entry).await;
}
