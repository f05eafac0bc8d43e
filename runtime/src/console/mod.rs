//! The web console: HTML pages for partners, served by the node on the
//! API's address (same origin), for people who do not use the CLI.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | portfolio: every partnership, what waits for the member, what it is owed |
//! | `GET|POST /console/login`, `POST /console/logout` | sign in with the node's API token |
//! | `GET /console/new`, `POST /console/new`, `POST /console/new/inspect`, `POST /console/join` | create a partnership from a charter file, join one from a genesis |
//! | `GET /console/p/{id}` | a partnership: participants, heights, finality, modules, charter |
//! | `GET|POST /console/p/{id}/proposals…` | proposals: list, detail, propose, vote, execute |
//! | `GET|POST /console/p/{id}/treasury…` | balances, entries to confirm, statements, chart |
//! | `GET /console/p/{id}/events` | the live feed |
//! | `GET /console/stream`, `GET /console/p/{id}/stream` | server-sent events that refresh pages live |
//! | `GET /console/assets/{file}` | htmx, its SSE extension, the style sheet (embedded in the binary) |
//!
//! Pages are server-rendered [askama] templates (`templates/`, checked at
//! compile time); [htmx] (vendored in `assets/`, nothing is loaded from
//! elsewhere) swaps in fragments for live updates and form answers. Every
//! page works through the same [`NodeHandle`](crate::node::NodeHandle)
//! calls as the JSON API, and creation and joining go through the API's own
//! handlers, so the console can do nothing the API cannot.
//!
//! Sign-in and CSRF protection are in `auth` (a random session id in a
//! `Secure; HttpOnly; SameSite=Strict` cookie, kept in memory; a per-session
//! token in every form and an `Origin` check on every POST). The cookie
//! authenticates console routes only: `/v1` routes take the bearer token
//! alone.
//!
//! This module owns the console's routes, pages and sessions. It does not
//! own the JSON API (`api`), the node, or any rule of a module: a refused
//! action shows the module's own error.
//!
//! [askama]: https://askama.rs
//! [htmx]: https://htmx.org

mod assets;
mod auth;
mod chart;
mod error;
mod modules;
mod pages;
mod render;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::api::ApiState;

/// What every console handler sees: the API's state (node, config) and the
/// console's sessions.
#[derive(Clone)]
pub(crate) struct Console {
    /// The API's state: the node handle, the token, the call timeout, the
    /// genesis directory.
    pub(crate) api: ApiState,
    /// Signed-in browsers.
    pub(crate) sessions: Arc<auth::Sessions>,
}

/// The console's router, to merge into the API's (its state is the
/// console's own; the returned router fits the API's).
pub(crate) fn router(api: ApiState) -> Router<ApiState> {
    let sessions = Arc::new(auth::Sessions::new(&api.node.member()));
    let console = Console { api, sessions };
    Router::new()
        .route("/", get(pages::portfolio::view))
        .route("/console", get(pages::portfolio::view))
        .route("/console/live", get(pages::portfolio::live))
        .route("/console/stream", get(pages::events::node_stream))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/new", get(pages::setup::page_view).post(pages::setup::create))
        .route("/console/new/inspect", post(pages::setup::inspect))
        .route("/console/join", post(pages::setup::join))
        .route("/console/p/{id}", get(pages::partnership::view))
        .route("/console/p/{id}/accept-terms", post(pages::partnership::accept_terms))
        .route("/console/p/{id}/stream", get(pages::events::partnership_stream))
        .route("/console/p/{id}/events", get(pages::events::page_view))
        .route("/console/p/{id}/proposals", get(pages::proposals::list).post(pages::proposals::propose))
        .route("/console/p/{id}/proposals/form", get(pages::proposals::form_fields))
        .route("/console/p/{id}/proposals/{n}", get(pages::proposals::detail))
        .route("/console/p/{id}/proposals/{n}/vote", post(pages::proposals::vote))
        .route("/console/p/{id}/proposals/{n}/execute", post(pages::proposals::execute))
        .route("/console/p/{id}/treasury", get(pages::treasury::view))
        .route("/console/p/{id}/treasury/record", post(pages::treasury::record))
        .route("/console/p/{id}/treasury/distribute", post(pages::treasury::distribute))
        .route("/console/p/{id}/treasury/entries/{entry}/confirm", post(pages::treasury::confirm))
        .route("/console/p/{id}/treasury/entries/{entry}/reject", post(pages::treasury::reject))
        .route("/console/p/{id}/treasury/payouts/{payout}/confirm", post(pages::treasury::confirm_payout))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// The content security policy of every console answer: scripts, styles,
/// images and connections from this origin only, no framing, forms post
/// here only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers; pages are never cached (they show
/// live state and carry the session's CSRF token).
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
