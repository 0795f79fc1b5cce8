//! The status page: `GET /` and `/ui` (every service), `GET /ui/service/{name}` (one in
//! detail), server-rendered HTML for a person with a browser.
//!
//! Beside the flow, reading it like `status` (probe -> health -> policy -> plan -> provider ->
//! verify; the page reads the status board the control loop answers, and the audit trail in
//! `state`). One self-contained document per request: inline CSS and SVG, no script, no
//! external asset, a meta refresh every 5 s (`?refresh=0` turns it off). Every string from the
//! configuration, a probe or the audit trail is HTML-escaped ([`html::esc`]).
//!
//! At 10,000 services the fleet view lists those needing a look first and renders at most
//! [`overview::PAGE_ROWS`] rows a page (`?page=`, `?q=` filters, `?service=` jumps to one).
//! Charts come from each check's bounded history (`health::history`, 196 bytes a check).
//!
//! Access: the same rule as `/metrics` (a loopback peer reads without a token, anyone else
//! needs a read-only or operator bearer token); see docs/status-page.md.

mod chart;
mod detail;
mod html;
mod overview;
mod timeline;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::ApiState;
use crate::reconcile::ServiceStatus;
use crate::state::AuditEntry;

/// Services whose events the fleet view gathers (the first that need a look).
const EVENT_SERVICES: usize = 20;

/// Audit entries read per service for a timeline (newest first).
const EVENTS_READ: usize = 200;

/// What the query string may say; anything unparsable is ignored rather than refused.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    service: Option<String>,
    q: Option<String>,
    page: Option<String>,
    refresh: Option<String>,
}

/// How the fleet view is asked to look.
#[derive(Debug, Clone, Default)]
pub(super) struct View {
    /// Case-insensitive filter on names, records, providers, phases and targets.
    pub q: Option<String>,
    /// 1-based page of the matching rows.
    pub page: usize,
    /// Whether the page reloads itself.
    pub refresh: bool,
}

impl Params {
    fn view(&self) -> View {
        View {
            q: self.q.clone().filter(|q| !q.trim().is_empty()),
            page: self
                .page
                .as_deref()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(1),
            refresh: self.refresh.as_deref() != Some("0"),
        }
    }
}

/// `GET /`, `/ui`: every service, or one with `?service=NAME`.
pub(super) async fn index(
    State(s): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    if let Some(refused) = refusal(&s, peer, &headers) {
        return refused;
    }
    let view = params.view();
    match params.service.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => service_page(&s, name, view.refresh).await,
        None => fleet_page(&s, &view).await,
    }
}

/// `GET /ui/service/{name}`: one service in detail.
pub(super) async fn service(
    State(s): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(refused) = refusal(&s, peer, &headers) {
        return refused;
    }
    service_page(&s, &name, params.view().refresh).await
}

/// The `/metrics` rule: loopback without a token, elsewhere a read-only or operator token.
/// `Some` is the answer to a caller who may not read the page.
fn refusal(
    s: &ApiState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<Response> {
    let local = peer.is_some_and(|Extension(ConnectInfo(p))| p.ip().is_loopback());
    let role = super::auth::bearer(headers)
        .and_then(|t| s.tokens.identify(t))
        .map(|t| t.role);
    let (status, _) = super::metrics::may_read(local, role).err()?;
    let why = if status == StatusCode::FORBIDDEN {
        "Agent tokens may not read the status page."
    } else {
        "The status page from outside loopback needs `Authorization: Bearer <token>` \
             (read-only or operator), e.g. added by a reverse proxy."
    };
    let page = html::page(
        "Not allowed",
        None,
        s.clock.now_ms(),
        &format!("<p>{why}</p>"),
    );
    Some(respond(status, page))
}

async fn fleet_page(s: &ApiState, view: &View) -> Response {
    let now = s.clock.now_ms();
    let rows = match s.board.all().await {
        Ok(rows) => rows,
        Err(e) => return unavailable(now, &e),
    };
    let events = fleet_events(s, &rows, now).await;
    let body = overview::render(&rows, view, &events, now);
    let mut stop = format!("/ui?refresh=0&page={}", view.page.max(1));
    if let Some(q) = &view.q {
        stop.push_str(&format!("&q={}", html::url_part(q)));
    }
    let stop = view.refresh.then_some(stop.as_str());
    respond(
        StatusCode::OK,
        html::page("dnsfailback status", stop, now, &body),
    )
}

/// The last 24 h of events of the first services that need a look.
async fn fleet_events(s: &ApiState, rows: &[ServiceStatus], now: u64) -> Vec<AuditEntry> {
    let since = now.saturating_sub(timeline::SPAN_MS);
    let mut events = Vec::new();
    for r in rows
        .iter()
        .filter(|r| html::needs_attention(r))
        .take(EVENT_SERVICES)
    {
        if let Ok(h) = s.store.history(&r.service, EVENTS_READ).await {
            events.extend(h.into_iter().filter(|e| e.at_ms >= since));
        }
    }
    events
}

async fn service_page(s: &ApiState, name: &str, refresh: bool) -> Response {
    let now = s.clock.now_ms();
    let d = match s.board.detail(name).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            let body = format!("<p>No service named <code>{}</code>.</p>", html::esc(name));
            return respond(
                StatusCode::NOT_FOUND,
                html::page("Unknown service", None, now, &body),
            );
        }
        Err(e) => return unavailable(now, &e),
    };
    let (events, note) = match s.store.history(name, EVENTS_READ).await {
        Ok(h) => (h, String::new()),
        Err(e) => (
            Vec::new(),
            format!(
                "<p class=\"bad\">The audit trail could not be read: {}</p>",
                html::esc(&e.to_string())
            ),
        ),
    };
    let body = format!("{note}{}", detail::render(&d, &events, now));
    let stop = format!("/ui/service/{}?refresh=0", html::url_part(name));
    let stop = refresh.then_some(stop.as_str());
    respond(
        StatusCode::OK,
        html::page(&format!("{name} - dnsfailback"), stop, now, &body),
    )
}

fn unavailable(now: u64, why: &str) -> Response {
    let body = format!("<p class=\"bad\">{}</p>", html::esc(why));
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        html::page("dnsfailback status", Some("?refresh=0"), now, &body),
    )
}

/// An HTML answer that is never cached and may load nothing from anywhere (its style is
/// inline, its charts are inline SVG).
fn respond(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
