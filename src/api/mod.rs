//! Admin API: how the CLI (and an operator's tooling) talks to the running controller.
//!
//! Beside the flow rather than in it: it reads the status board that `reconcile` refreshes and
//! the audit trail in `state`, and is where operators enter it (operator -> api -> policy):
//! [`operator`] turns `POST /v1/services/{service}/{verb}` into an
//! [`OperatorCommand`](crate::policy::command::OperatorCommand) for the control loop, through
//! a second operator's approval ([`approvals`]) where the service requires one. Remote probe
//! agents enter here too, feeding `health` at the controller (agent -> api -> health):
//! [`agents`] forwards each agent's report to the control loop on
//! [`ApiState::agent_reports`]. Bound to loopback by default; every request needs a bearer
//! token ([`auth`]): read-only tokens may GET, operator tokens may also POST commands, agent
//! tokens may only POST their own report; refused requests are logged without the token.
//!
//! Routes: `GET /healthz`; `GET /metrics`; the status page `GET /`, `/ui`,
//! `/ui/service/{service}` ([`ui`]); `GET /v1/status`, `/v1/status/{service}`, `/v1/history/{service}`,
//! `/v1/plan`, `/v1/approvals`; `POST /v1/services/{service}/failover|failback|hold|resume|abort`,
//! `/v1/reload`, `/v1/approvals/{id}/approve`, `/v1/agents/{name}/report`; governed changes
//! ([`governance`]): `POST /v1/apply`, `/v1/changes/{id}/rollback`.

pub mod agents;
pub mod approvals;
mod auth;
mod governance;
pub mod listener;
mod metrics;
mod operator;
pub mod swap;
pub mod tls;
mod ui;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::health::agent::AgentReport;
use crate::reconcile::StatusBoard;
use crate::state::Store;

pub use approvals::{Approvals, PendingApproval};
pub use auth::{load_or_create_token, load_tokens, role_label, ApiToken, Caller, TokenTable};
pub use operator::check_steps;

/// How long a handler waits for the control loop to answer a command by default.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Per-service status, refreshed by the control loop; read by `status`.
    pub board: StatusBoard,
    /// The audit trail: read by `history`, written for approval requests, approvals, expiries.
    pub store: Arc<dyn Store>,
    /// Every accepted token with its name (the actor) and role.
    pub tokens: Arc<TokenTable>,
    /// Where accepted operator commands go (the control loop).
    pub commands: tokio::sync::mpsc::Sender<crate::policy::command::OperatorCommand>,
    /// Every configured service -> its two-person approval timeout (`None`: no approval
    /// needed). Also the list of known services while the status board is still empty.
    pub approval: Arc<swap::Swappable<BTreeMap<String, Option<Duration>>>>,
    /// Commands waiting for a second operator (in memory; a restart drops them).
    pub approvals: Approvals,
    /// How long to wait for the control loop's answer before answering 504.
    pub reply_timeout: Duration,
    /// Where accepted agent reports go (the control loop's vantage quorum). Sent with
    /// `try_send`: when it is full the agent gets 503 and simply reports again next round.
    pub agent_reports: tokio::sync::mpsc::Sender<AgentReport>,
    /// Every configured `(service, target)`; a report naming anything else is refused (400).
    pub known_targets: Arc<swap::Swappable<BTreeSet<(String, String)>>>,
    /// Agents heard from since start, so each agent's first report is logged once.
    pub agents_heard: Arc<Mutex<BTreeSet<String>>>,
    /// Where `POST /v1/reload` goes (`run`, which re-reads the configuration); `None` when
    /// nothing can reload (tests, embedders).
    pub reload: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// The controller's clock: approvals expire and audit entries are stamped on the same
    /// time as the control loop's (paused-clock tests control both).
    pub clock: crate::reconcile::Clock,
}

/// A reload asked for through the API; answered with what was reloaded, or why not.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<String, String>>;

impl ApiState {
    /// The state for a controller: no pending approvals, the default reply timeout, no agent
    /// heard from yet. `known_targets` is every configured `(service, target)` pair.
    pub fn new(
        board: StatusBoard,
        store: Arc<dyn Store>,
        tokens: TokenTable,
        commands: tokio::sync::mpsc::Sender<crate::policy::command::OperatorCommand>,
        approval: BTreeMap<String, Option<Duration>>,
        agent_reports: tokio::sync::mpsc::Sender<AgentReport>,
        known_targets: BTreeSet<(String, String)>,
    ) -> ApiState {
        ApiState {
            board,
            store,
            tokens: Arc::new(tokens),
            commands,
            approval: Arc::new(swap::Swappable::new(approval)),
            approvals: Approvals::default(),
            reply_timeout: REPLY_TIMEOUT,
            agent_reports,
            known_targets: Arc::new(swap::Swappable::new(known_targets)),
            agents_heard: Arc::new(Mutex::new(BTreeSet::new())),
            reload: None,
            clock: crate::reconcile::Clock::system(),
        }
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

async fn status_all(State(s): State<ApiState>) -> Response {
    match s.board.all().await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn status_one(State(s): State<ApiState>, Path(service): Path<String>) -> Response {
    match s.board.get(&service).await {
        Ok(Some(st)) => Json(st).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no service named `{service}`"),
        ),
    }
}

async fn history(State(s): State<ApiState>, Path(service): Path<String>) -> Response {
    match s.store.history(&service, 200).await {
        Ok(h) => Json(h).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// What the next tick would change (`dnsfailback plan`): worked out by the loop's own steps.
async fn plan(State(s): State<ApiState>) -> Response {
    match s.board.plan().await {
        Ok(plans) => Json(plans).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// Re-reads the configuration (providers, secrets, services; see `cli::reload`) and resumes
/// the services that needed an operator (operators only: it is a POST). 422 with the reason
/// when nothing changed.
async fn reload(State(s): State<ApiState>) -> Response {
    let Some(tx) = &s.reload else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this process cannot reload",
        );
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if tx.send(reply).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is stopping",
        );
    }
    match tokio::time::timeout(Duration::from_secs(60), answer).await {
        Ok(Ok(Ok(text))) => Json(serde_json::json!({ "message": text })).into_response(),
        Ok(Ok(Err(why))) => error(StatusCode::UNPROCESSABLE_ENTITY, why),
        _ => error(
            StatusCode::GATEWAY_TIMEOUT,
            "the reload did not finish within 60 s",
        ),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// The router, without binding; tests drive it directly.
pub fn router(state: ApiState) -> Router {
    let authed = Router::new()
        .route("/v1/status", get(status_all))
        .route("/v1/status/{service}", get(status_one))
        .route("/v1/history/{service}", get(history))
        .route("/v1/plan", get(plan))
        .route("/v1/reload", post(reload))
        .route("/v1/services/{service}/failover", post(operator::failover))
        .route("/v1/services/{service}/failback", post(operator::failback))
        .route("/v1/services/{service}/hold", post(operator::hold))
        .route("/v1/services/{service}/resume", post(operator::resume))
        .route("/v1/services/{service}/abort", post(operator::abort))
        .route("/v1/apply", post(governance::apply))
        .route("/v1/changes/{id}/rollback", post(governance::rollback))
        .route("/v1/approvals", get(operator::list_approvals))
        .route("/v1/approvals/{id}/approve", post(operator::approve))
        .route("/v1/agents/{name}/report", post(agents::report))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .route("/", get(ui::index))
        .route("/ui", get(ui::index))
        .route("/ui/service/{service}", get(ui::service))
        .merge(authed)
        .with_state(state)
}

/// Serves on an already bound listener (over TLS when `tls` is set) until `shutdown` fires.
/// Logs `admin API listening on ADDR`. Also expires unapproved requests (and audits it) about
/// once a second.
pub fn serve_listener(
    listener: tokio::net::TcpListener,
    state: ApiState,
    tls: Option<Arc<tls::ServerTls>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    serve_listener_within(listener, state, listener::Limits::default(), tls, shutdown)
}

/// [`serve_listener`] with explicit connection [`listener::Limits`] (tests use short ones).
pub fn serve_listener_within(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: listener::Limits,
    tls: Option<Arc<tls::ServerTls>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let Ok(local) = listener.local_addr() {
        let scheme = if tls.is_some() { "HTTPS" } else { "HTTP" };
        tracing::info!("admin API listening on {local} ({scheme})");
    }
    tracing::info!("admin API tokens: {}", state.tokens.describe());
    let sweeper = {
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => operator::expire(&state, state.clock.now_ms()).await,
                    _ = shutdown.changed() => return,
                }
            }
        }
    };
    let app = router(state);
    tokio::spawn(async move {
        let sweeper = tokio::spawn(sweeper);
        listener::serve(listener, app, limits, tls, shutdown).await;
        sweeper.abort();
    })
}

#[cfg(test)]
mod tests;
