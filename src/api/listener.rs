//! The admin API's connections: how many at once, and how long each may take.
//!
//! Beside the flow (operator -> **api** -> policy): whatever a client does, the admin API must
//! keep answering the operator who needs it during an outage. `axum::serve` keeps a
//! connection open for as long as a client sends nothing, so a few thousand half-sent requests
//! could take the listener. Here every connection is served by hyper with
//! - a header-read timeout (a request's head must arrive within [`Limits::header_read`]),
//! - a request timeout (a handler, including reading the body, gets [`Limits::request`]; 408
//!   after that),
//! - a maximum age (a connection is closed after [`Limits::max_age`], so keep-alive cannot
//!   pin a slot forever),
//! - and at most [`Limits::max_connections`] at once; further clients wait in the kernel's
//!   accept queue until a slot frees.
//!
//! With [`super::tls::ServerTls`] every connection starts with a TLS handshake, which must
//! finish within the header-read timeout too (a client that opens a socket and sends nothing
//! is closed like one that sends half a request).

use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::tls::ServerTls;

/// Bounds on the admin API's connections; [`Limits::default`] is what `run` uses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read: Duration,
    pub request: Duration,
    pub max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
        }
    }
}

/// How long open connections get to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` (over TLS when `tls` is set) until `shutdown`
/// fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let slot = tokio::select! {
            _ = shutdown.changed() => break,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment instead of spinning.
                tracing::warn!("admin API cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        connections.spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(limits.max_age, async move {
                match acceptor {
                    None => connection(stream, peer, app, limits).await,
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(limits.header_read, acceptor.accept(stream));
                        match handshake.await {
                            Ok(Ok(stream)) => connection(stream, peer, app, limits).await,
                            Ok(Err(e)) => tracing::debug!("admin API TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!("admin API TLS handshake timed out"),
                        }
                    }
                }
            })
            .await;
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

/// One connection: HTTP/1.1 with the header-read timeout, each request under the request
/// timeout.
async fn connection<S>(stream: S, peer: std::net::SocketAddr, app: Router, limits: Limits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            let mut req = req.map(axum::body::Body::new);
            // Who is asking, for handlers that treat loopback peers differently (`/metrics`).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            match tokio::time::timeout(limits.request, app.oneshot(req)).await {
                Ok(answer) => answer,
                Err(_) => Ok(super::error(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request did not complete within {} s",
                        limits.request.as_secs()
                    ),
                )
                .into_response()),
            }
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("admin API connection ended: {e}");
    }
}
