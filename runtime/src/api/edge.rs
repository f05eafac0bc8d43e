//! The API's edge: what a client (or anyone who can reach the port) can
//! make the node spend before a handler runs.
//!
//! - **Connections**: at most [`EdgeLimits::max_connections`] at once; past
//!   that a new connection is closed at once (counted), so a flood of idle
//!   sockets cannot exhaust the node's file descriptors.
//! - **Headers**: a connection that has not sent a request's headers within
//!   [`EdgeLimits::header_read_timeout`] is closed (half-open connections
//!   do not linger).
//! - **Bodies**: read within [`EdgeLimits::body_read_timeout`]; bodies larger
//!   than [`EdgeLimits::large_body_bytes`] (module code, charters with code)
//!   are admitted [`EdgeLimits::max_large_bodies`] at a time, others are told
//!   to come back (503 `busy`), so a burst of uploads stays within a bounded
//!   amount of memory.
//! - **Errors**: every error answer is JSON (`{"code","message"}`), also
//!   those produced below the handlers (a body over the limit, a timeout).
//!
//! It does not own routes, authentication or the handlers (`routes.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::ApiError;

/// The limits of the API's edge (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_read_timeout: Duration,
    /// Time to send a request's body.
    pub body_read_timeout: Duration,
    /// A body larger than this (by its `Content-Length`) is a large one.
    pub large_body_bytes: u64,
    /// Large bodies read at once.
    pub max_large_bodies: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            large_body_bytes: 1024 * 1024,
            max_large_bodies: 4,
        }
    }
}

/// Counters of what the edge turned away (shown by `/metrics`).
#[derive(Debug, Default)]
pub struct EdgeCounters {
    /// Connections closed at once because the node served its maximum.
    pub connections_refused: AtomicU64,
    /// Large bodies told to come back later.
    pub large_bodies_refused: AtomicU64,
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes; then lets open connections finish (at most 5 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: EdgeLimits,
    counters: Arc<EdgeCounters>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, say: wait a moment rather than spin.
                tracing::warn!(%error, "cannot accept an API connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            counters.connections_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone().map_request(|r: Request<_>| r.map(Body::new)));
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    Ok(())
}

/// State of [`admit_body`].
#[derive(Clone)]
pub(crate) struct BodyAdmission {
    pub(crate) limits: EdgeLimits,
    pub(crate) large: Arc<Semaphore>,
    pub(crate) counters: Arc<EdgeCounters>,
}

/// Admits a request whose body is large only while fewer than the limit
/// are being read; others get 503 `busy` with a hint to retry.
pub(crate) async fn admit_body(
    State(admission): State<BodyAdmission>,
    request: Request,
    next: Next,
) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_none_or(|l| l <= admission.limits.large_body_bytes) {
        return next.run(request).await;
    }
    let Ok(permit) = Arc::clone(&admission.large).try_acquire_owned() else {
        admission.counters.large_bodies_refused.fetch_add(1, Ordering::Relaxed);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "the node is reading {} large request bodies already; send this one again in a moment",
                admission.limits.max_large_bodies
            ),
        )
        .into_response();
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// Turns every error answer that is not JSON (produced below the handlers:
/// a body over the limit, a body read timeout, a malformed request) into
/// the API's JSON error shape.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // HTML is the web console's own answer (an error page), kept as it is.
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes).trim().to_owned();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!("the request body is over the limit of {} bytes", super::MAX_BODY_BYTES),
        ),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request body did not arrive in time".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method".to_owned())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "send the body as JSON (Content-Type: application/json)".to_owned())
        }
        s if s.is_client_error() => ("bad_request", "the request is malformed".to_owned()),
        _ => ("internal", "the node could not answer".to_owned()),
    };
    let message = if detail.is_empty() { message } else { format!("{message}: {detail}") };
    ApiError::new(status, code, message).into_response()
}
