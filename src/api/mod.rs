//! Admin API: how the CLI (and an operator's tooling) talks to the running controller.
//!
//! Beside the flow rather than in it: it reads the status board that `reconcile` refreshes and
//! the audit trail in `state`. Bound to loopback by default; every request needs the bearer
//! token; refused requests are logged without the token.

mod auth;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dnsfailback_provider::Secret;

use crate::reconcile::StatusBoard;
use crate::state::Store;

pub use auth::{load_or_create_token, BearerAuth};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub board: StatusBoard,
    pub store: Arc<dyn Store>,
    pub token: Arc<Secret>,
    /// Where accepted operator commands go (the control loop).
    pub commands: tokio::sync::mpsc::Sender<crate::policy::command::OperatorCommand>,
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

async fn status_all(State(s): State<ApiState>) -> Response {
    match s.board.read() {
        Ok(b) => Json(b.values().cloned().collect::<Vec<_>>()).into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "status board unavailable",
        ),
    }
}

async fn status_one(State(s): State<ApiState>, Path(service): Path<String>) -> Response {
    match s.board.read().ok().and_then(|b| b.get(&service).cloned()) {
        Some(st) => Json(st).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no service named `{service}`"),
        ),
    }
}

async fn history(State(s): State<ApiState>, Path(service): Path<String>) -> Response {
    match s.store.history(&service, 200) {
        Ok(h) => Json(h).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
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
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(authed)
        .with_state(state)
}

/// Serves on an already bound listener until `shutdown` fires. Logs `admin API listening on ADDR`.
pub fn serve_listener(
    listener: tokio::net::TcpListener,
    state: ApiState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let Ok(local) = listener.local_addr() {
        tracing::info!("admin API listening on {local}");
    }
    let app = router(state);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        });
        if let Err(e) = server.await {
            tracing::error!("admin API stopped: {e}");
        }
    })
}
