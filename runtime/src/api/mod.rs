//! The HTTP JSON API a node serves (axum): node info and peers,
//! partnerships (create from a charter, join, list, show), calls, queries,
//! module code upload, server-sent events, Prometheus metrics, and its own
//! OpenAPI description.
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | liveness, the only route without the token |
//! | `GET /openapi.json` | the description (`docs/openapi.json`) |
//! | `GET /metrics` | Prometheus text: ops accepted and refused by reason, heights, finality lag, pending ops, peers, refused network traffic, API counters |
//! | `GET /v1/node`, `GET /v1/peers` | member, version, peer id, p2p listen addresses (each with `/p2p/`), peers with their addresses |
//! | `POST /v1/code` | raw `.wasm` body → `{"hash"}` |
//! | `GET /v1/partnerships` | the list |
//! | `POST /v1/partnerships` | `{"charter": TOML, "values": {…}, "code": {module: hash}, "wasm": {module: hex}}` → the partnership, with its `genesis` (hex) |
//! | `POST /v1/partnerships/join` | `{"genesis": hex}` (a founding participant) or `{"id": hex}` (a member admitted later) → the partnership |
//! | `GET /v1/partnerships/{id}/genesis` | the genesis (hex) a new partner joins with |
//! | `GET /v1/partnerships/{id}` | heights, roots (hex), participants, modules, refusals |
//! | `POST /v1/partnerships/{id}/calls` | `{"module", "msg", "wait": "accepted"\|"applied"\|"final", "timeout_ms"}` |
//! | `GET /v1/partnerships/{id}/ops/{op}` | an op's status: applied (with its outcome), final |
//! | `GET /v1/partnerships/{id}/checkpoints` | its latest checkpoints (height, state root, who attested), each certificate once every participant attested, and how far this node compacted its history |
//! | `POST /v1/partnerships/{id}/query` | `{"module", "msg", "final": bool}` → `{"data"}` |
//! | `GET /v1/partnerships/{id}/events?final=true` | server-sent events, one per op applied, undone or final |
//! | `GET /v1/portfolio?final=true` | the member's view across its partnerships ([`crate::portfolio`]): owed to and by it per asset, waiting votes, deadlines, overlaps |
//! | `GET /v1/invitations` | partnerships announced by strangers, waiting for the operator |
//! | `POST /v1/invitations/{id}/accept`, `DELETE /v1/invitations/{id}` | join one, or drop it |
//! | `GET /`, `/console/…` | the web console for partners (HTML, its own sign-in; not part of the JSON API, see `console`) |
//!
//! ```text
//! $ TOKEN=$(cat ~/.polypact/api.token)
//! $ curl -s -H "Authorization: Bearer $TOKEN" localhost:7410/v1/partnerships/$ID/calls \
//!     -d '{"module":"guestbook","msg":{"sign":{"message":"hi"}},"wait":"final"}'
//! {"final":true,"op":"…","outcome":{"data":{"id":1},"events":[…],"status":"applied"},"status":"applied"}
//! ```
//!
//! - Loopback by default (the CLI binds `[api] listen`); every route except
//!   `GET /health` needs `Authorization: Bearer <token>`.
//! - Errors are `{"error": "…", "code": "unknown_partnership"}` with a
//!   fitting status ([`ApiError`]); a bad request changes nothing. Invalid
//!   JSON is answered with its line and column. A call the module rejects is
//!   a 422 `call_failed` with the module's `module_error` and the `op`.
//! - The route table ([`routes`]) is the one the router is built from, and a
//!   test checks it against `docs/openapi.json` ([`OPENAPI_JSON`]), which is
//!   also what `GET /openapi.json` serves, so the two cannot drift.
//!
//! This module speaks HTTP and JSON to clients over a [`NodeHandle`]; it
//! decides no state (the ledger does) and does not start the node or the
//! network (the CLI does).

mod edge;
mod error;
mod metrics;
pub(crate) mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

use crate::net::{Multiaddr, NetHandle, PeerId, Protocol};
use crate::node::NodeHandle;

pub use edge::{EdgeCounters, EdgeLimits};
pub use error::ApiError;
pub use metrics::ApiMetrics;

/// The OpenAPI description served at `GET /openapi.json` (checked in as
/// `docs/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Largest request body (charters with inline module code, code uploads).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A peer of the node, as `GET /v1/peers` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerInfo {
    /// The peer's libp2p id.
    pub peer_id: String,
    /// The remote address of each connection to it, as this node sees it.
    pub addresses: Vec<String>,
    /// The addresses it says it listens on (identify), each with
    /// `/p2p/<peer id>`: what a partner dials.
    pub listen_addresses: Vec<String>,
    /// Whether the node trusts it: it acts for a participant of one of the
    /// node's partnerships, or it is a bootstrap peer. Other peers are
    /// disconnected after a while.
    pub trusted: bool,
}

/// Where the API gets the node's peers from (the network half). Without
/// one the node reports no peers.
pub type PeerSource = Arc<dyn Fn() -> BoxFuture<'static, Vec<PeerInfo>> + Send + Sync>;

/// Where the API gets the node's current p2p listen addresses from (with
/// `/p2p/<peer id>`). Without one, `GET /v1/node` shows
/// [`ApiConfig::p2p_listen`].
pub type ListenSource = Arc<dyn Fn() -> BoxFuture<'static, Vec<String>> + Send + Sync>;

/// `addr` with `/p2p/<peer>` at its end (unless it has one).
fn with_peer(addr: &Multiaddr, peer: PeerId) -> String {
    if addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        addr.to_string()
    } else {
        addr.clone().with(Protocol::P2p(peer)).to_string()
    }
}

/// Whether an address is on this machine only (loopback).
fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// A node's listen addresses as partners should read them: each with
/// `/p2p/<peer id>`, the ones other machines can reach first, loopback last.
pub fn dialable(addrs: &[Multiaddr], peer: PeerId) -> Vec<String> {
    let mut sorted: Vec<&Multiaddr> = addrs.iter().collect();
    sorted.sort_by_key(|a| is_loopback(a));
    let mut out: Vec<String> = Vec::with_capacity(sorted.len());
    for addr in sorted {
        let text = with_peer(addr, peer);
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

/// How the API runs.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token every route but `GET /health` requires.
    pub token: String,
    /// The node's libp2p peer id, shown by `GET /v1/node`.
    pub peer_id: Option<String>,
    /// The node's p2p listen addresses, shown by `GET /v1/node`.
    pub p2p_listen: Vec<String>,
    /// How long a call waits for `applied` or `final` when the request does
    /// not say.
    pub call_timeout: Duration,
    /// The node's peers.
    pub peers: Option<PeerSource>,
    /// The node's current p2p listen addresses (over `p2p_listen`).
    pub listen: Option<ListenSource>,
    /// The node's member key. With it, `POST /v1/partnerships` signs the
    /// genesis here, has the node join it, and returns it (hex) so the
    /// other partners' nodes can join with `POST /v1/partnerships/join`.
    /// Without it the node creates the partnership and no genesis is returned.
    pub genesis_signer: Option<Arc<crate::op::MemberKey>>,
    /// Where the API keeps the genesis of every partnership created or
    /// joined through it (`<id>.hex`), served by
    /// `GET /v1/partnerships/{id}/genesis` so any partner's node can hand it
    /// to a new partner. `None`: not kept.
    pub genesis_dir: Option<std::path::PathBuf>,
    /// What a client can make the node spend before a handler runs.
    pub edge: EdgeLimits,
}

impl ApiConfig {
    /// A config with `token` and defaults for the rest.
    pub fn new(token: impl Into<String>) -> Self {
        ApiConfig {
            token: token.into(),
            peer_id: None,
            p2p_listen: Vec::new(),
            call_timeout: Duration::from_secs(30),
            peers: None,
            listen: None,
            genesis_signer: None,
            genesis_dir: None,
            edge: EdgeLimits::default(),
        }
    }
}

impl ApiConfig {
    /// Shows the node's network through the API: its peer id, its listen
    /// addresses as they are when asked (all interfaces of a wildcard
    /// address, each with `/p2p/<peer id>`) and its peers with their
    /// addresses.
    #[must_use]
    pub fn with_network(mut self, net: &NetHandle) -> Self {
        let me = net.local_peer_id();
        self.peer_id = Some(me.to_string());
        let listen = net.clone();
        self.listen = Some(Arc::new(move || {
            let net = listen.clone();
            Box::pin(async move { dialable(&net.listen_addrs().await.unwrap_or_default(), me) })
        }));
        let peers = net.clone();
        self.peers = Some(Arc::new(move || {
            let net = peers.clone();
            Box::pin(async move {
                net.peers()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| PeerInfo {
                        peer_id: p.peer.to_string(),
                        addresses: p.connected.iter().map(ToString::to_string).collect(),
                        listen_addresses: dialable(&p.listening, p.peer),
                        trusted: p.trusted,
                    })
                    .collect()
            })
        }));
        self
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig").field("peer_id", &self.peer_id).finish_non_exhaustive()
    }
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) node: NodeHandle,
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) metrics: Arc<ApiMetrics>,
    pub(crate) edge: Arc<EdgeCounters>,
    /// Flips to `true` when the server shuts down, ending event streams.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

impl ApiState {
    pub(crate) async fn peers(&self) -> Vec<PeerInfo> {
        match &self.config.peers {
            Some(source) => source().await,
            None => Vec::new(),
        }
    }

    /// The node's p2p listen addresses now (else as configured).
    pub(crate) async fn p2p_listen(&self) -> Vec<String> {
        match &self.config.listen {
            Some(source) => source().await,
            None => self.config.p2p_listen.clone(),
        }
    }
}

/// One route: method, path (axum and OpenAPI syntax: `{id}`), whether it
/// needs the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// Whether the bearer token is required.
    pub auth: bool,
}

/// Every route the API serves: the router is built from this table.
pub fn routes() -> Vec<Route> {
    routes::table().into_iter().map(|(route, _)| route).collect()
}

/// Builds the API router over a running node. The returned sender ends
/// event streams when set to `true` (`serve` does so on shutdown).
pub fn router(node: NodeHandle, config: ApiConfig) -> (Router, tokio::sync::watch::Sender<bool>) {
    let (router, closing, _) = router_with_edge(node, config);
    (router, closing)
}

fn router_with_edge(
    node: NodeHandle,
    config: ApiConfig,
) -> (Router, tokio::sync::watch::Sender<bool>, Arc<EdgeCounters>) {
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let limits = config.edge;
    let edge = Arc::new(EdgeCounters::default());
    let admission = edge::BodyAdmission {
        limits,
        large: Arc::new(tokio::sync::Semaphore::new(limits.max_large_bodies)),
        counters: Arc::clone(&edge),
    };
    let state = ApiState {
        node,
        config: Arc::new(config),
        metrics: Arc::new(ApiMetrics::default()),
        edge: Arc::clone(&edge),
        closing,
    };
    let mut open = Router::new();
    let mut guarded = Router::new();
    for (route, handler) in routes::table() {
        if route.auth {
            guarded = guarded.route(route.path, handler);
        } else {
            open = open.route(route.path, handler);
        }
    }
    let guarded = guarded.layer(middleware::from_fn_with_state(state.clone(), require_token));
    let router = open
        .merge(guarded)
        // The web console: its own routes, outside `/v1`, with its own sign-in.
        .merge(crate::console::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(middleware::from_fn_with_state(admission, edge::admit_body))
        .layer(middleware::from_fn(edge::json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state);
    (router, closing_tx, edge)
}

/// Serves the API on `listener` until `shutdown` completes, then ends event
/// streams and in-flight requests cleanly.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.edge;
    let (router, closing, counters) = router_with_edge(node, config);
    let shutdown = async move {
        shutdown.await;
        let _ = closing.send(true);
    };
    edge::serve(listener, router, limits, counters, shutdown).await
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_route",
        format!("no route {method} {}; GET /openapi.json lists the routes", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}; GET /openapi.json lists the routes", uri.path()),
    )
}

/// Compares in time independent of where the strings differ.
pub(crate) fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let problem = match given.map(|v| v.strip_prefix("Bearer ").map(str::trim)) {
        None => Some(
            "this route needs `Authorization: Bearer <token>`; the token is in the node's home (api.token)",
        ),
        Some(None) => Some("the Authorization header must be `Bearer <token>`"),
        Some(Some(token)) if !same_token(token, &state.config.token) => {
            Some("wrong API token; use the token in the node's home (api.token)")
        }
        Some(Some(_)) => None,
    };
    match problem {
        Some(message) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response(),
        None => next.run(request).await,
    }
}

async fn count_requests(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.count_response(response.status().as_u16());
    response
}
