//! Signing in to the console, sessions and CSRF protection.
//!
//! - **Sign-in**: the login form posts the node's API token; it is compared
//!   in constant time with the API's own comparison. A wrong or missing
//!   token gets the login page again (401), never data.
//! - **Sessions**: a random 256-bit id (from the operating system) in a
//!   cookie `Secure; HttpOnly; SameSite=Strict; Path=/`, named after the
//!   node's member so that two nodes on one host (cookies ignore ports) do
//!   not overwrite each other's. The node keeps sessions in memory only:
//!   sign-out ends one for good, a restart ends all, a session idle for
//!   [`IDLE`] or older than [`LIFETIME`] ends, and at most
//!   [`MAX_SESSIONS`] are kept (the least recently used goes first). The
//!   cookie carries nothing derived from the token.
//! - **CSRF**: every form carries the session's own random token (`csrf`),
//!   compared in constant time; and a POST whose `Origin` (or, without one,
//!   `Sec-Fetch-Site`) shows another origin is refused before anything else
//!   (SameSite=Strict does not cover another port of the same host, which
//!   is the same site).
//!
//! The cookie authenticates console routes only; `/v1` routes read the
//! `Authorization` header alone (`api::require_token`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::Console;
use super::error::ConsoleError;
use super::render::{LoginPage, html};
use crate::op::MemberId;

/// A session unused for this long ends.
pub(crate) const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after sign-in, used or not.
pub(crate) const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Sessions kept at most.
pub(crate) const MAX_SESSIONS: usize = 256;

struct Entry {
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// The signed-in browsers of one node, in memory.
pub(crate) struct Sessions {
    cookie_name: String,
    entries: Mutex<HashMap<String, Entry>>,
}

/// 32 random bytes, hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    hex::encode(bytes)
}

impl Sessions {
    /// No sessions yet, for the node of `member`.
    pub(crate) fn new(member: &MemberId) -> Self {
        let tag = &blake3::hash(member.to_string().as_bytes()).to_hex()[..12];
        Sessions { cookie_name: format!("polypact_console_{tag}"), entries: Mutex::new(HashMap::new()) }
    }

    /// The session cookie's name.
    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Opens a session: its id and CSRF token.
    fn open(&self) -> (String, String) {
        let (id, csrf) = (random_hex(), random_hex());
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| alive(e, now));
        while entries.len() >= MAX_SESSIONS {
            let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| k.clone()) else {
                break;
            };
            entries.remove(&oldest);
        }
        entries.insert(id.clone(), Entry { csrf: csrf.clone(), created: now, last_seen: now });
        (id, csrf)
    }

    /// The CSRF token of a live session, marking it used.
    fn find(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get_mut(id) {
            Some(entry) if alive(entry, now) => {
                entry.last_seen = now;
                Some(entry.csrf.clone())
            }
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        }
    }

    /// Whether a session is still open (for long-lived event streams).
    pub(crate) fn is_open(&self, id: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(id).is_some_and(|e| alive(e, Instant::now()))
    }

    /// Ends a session.
    fn close(&self, id: &str) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// The session id in a request's cookies, if any.
    fn id_in(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie_name)
            .map(|(_, value)| value.trim().to_owned())
    }
}

fn alive(entry: &Entry, now: Instant) -> bool {
    now.duration_since(entry.last_seen) < IDLE && now.duration_since(entry.created) < LIFETIME
}

/// A signed-in request: its session id and the session's CSRF token.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The session id (the cookie's value).
    pub(crate) id: String,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
}

impl Session {
    /// Checks a POST of this session: same origin, and the form's CSRF
    /// token is the session's.
    pub(crate) fn check(&self, headers: &HeaderMap, form_token: Option<&str>) -> Result<(), ConsoleError> {
        same_origin(headers)?;
        match form_token {
            Some(token) if crate::api::same_token(token, &self.csrf) => Ok(()),
            Some(_) => Err(ConsoleError::Forbidden(
                "this form is from an earlier session; reload the page and send it again".into(),
            )),
            None => Err(ConsoleError::Forbidden(
                "the form carries no CSRF token; send it from the console's own page".into(),
            )),
        }
    }
}

/// Refuses a request that a page of another origin sent.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        return match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
            _ => Err(ConsoleError::Forbidden(format!(
                "refused: the request came from {origin}, not from this console's own pages"
            ))),
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin" | "none") => Ok(()),
        Some(other) => Err(ConsoleError::Forbidden(format!(
            "refused: the request came from a {other} page, not from this console's own pages"
        ))),
    }
}

/// Why a request has no session: where to send the browser.
pub(crate) struct SignInFirst {
    htmx: bool,
    stream: bool,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        // (HTML, so that the API's JSON error shaping leaves it as it is.)
        let sign_in = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<p>Sign in first: <a href=\"/console/login\">/console/login</a></p>",
        );
        if self.htmx {
            // htmx follows this header with a full page load.
            let mut response = sign_in.into_response();
            response.headers_mut().insert("HX-Redirect", HeaderValue::from_static("/console/login"));
            return response;
        }
        if self.stream {
            return sign_in.into_response();
        }
        Redirect::to("/console/login").into_response()
    }
}

impl FromRequestParts<Console> for Session {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let found = console
            .sessions
            .id_in(&parts.headers)
            .and_then(|id| console.sessions.find(&id).map(|csrf| Session { id, csrf }));
        found.ok_or_else(|| SignInFirst {
            htmx: parts.headers.contains_key("hx-request"),
            stream: parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/event-stream")),
        })
    }
}

/// `GET /console/login`: the sign-in page (or the portfolio if signed in).
pub(crate) async fn login_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    let signed_in = console.sessions.id_in(&headers).is_some_and(|id| console.sessions.find(&id).is_some());
    if signed_in {
        return Redirect::to("/").into_response();
    }
    html(StatusCode::OK, &LoginPage { error: None, member: console.api.node.member().to_string() })
}

/// The login form.
#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/login`: checks the token, opens a session.
pub(crate) async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let member = console.api.node.member().to_string();
    if let Err(e) = same_origin(&headers) {
        return html(StatusCode::FORBIDDEN, &LoginPage { error: Some(e.to_string()), member });
    }
    let token = form.token.trim();
    if token.is_empty() {
        return html(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("enter the node's API token (the file api.token in the node's home)".into()),
                member,
            },
        );
    }
    if !crate::api::same_token(token, &console.api.config.token) {
        // A wrong guess costs the guesser time.
        tokio::time::sleep(Duration::from_millis(300)).await;
        return html(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("wrong token: use the token in the node's home (api.token)".into()),
                member,
            },
        );
    }
    let (id, _) = console.sessions.open();
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        console.sessions.cookie_name(),
        LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The logout form.
#[derive(serde::Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /console/logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(e) = session.check(&headers, form.csrf.as_deref()) {
        return super::render::error_page(&e);
    }
    console.sessions.close(&session.id);
    let cookie =
        format!("{}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0", console.sessions.cookie_name());
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn sessions_open_find_and_close() {
        let sessions = Sessions::new(&crate::op::MemberKey::from_seed(1).member_id());
        let (id, csrf) = sessions.open();
        assert_eq!(sessions.find(&id), Some(csrf));
        assert!(sessions.is_open(&id));
        assert_eq!(sessions.find("nope"), None);
        sessions.close(&id);
        assert_eq!(sessions.find(&id), None);
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(&crate::op::MemberKey::from_seed(1).member_id());
        let first = sessions.open().0;
        for _ in 0..MAX_SESSIONS {
            sessions.open();
        }
        assert!(sessions.find(&first).is_none(), "the least recently used session went first");
        assert_eq!(sessions.entries.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn the_cookie_is_read_by_this_node_name_only() {
        let sessions = Sessions::new(&crate::op::MemberKey::from_seed(1).member_id());
        let other = Sessions::new(&crate::op::MemberKey::from_seed(2).member_id());
        assert_ne!(sessions.cookie_name(), other.cookie_name());
        let cookie = format!("a=b; {}=abc; {}=def", other.cookie_name(), sessions.cookie_name());
        assert_eq!(sessions.id_in(&headers(&[("cookie", &cookie)])), Some("def".into()));
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let same = headers(&[("host", "127.0.0.1:7410"), ("origin", "http://127.0.0.1:7410")]);
        assert!(same_origin(&same).is_ok());
        let other_port = headers(&[("host", "127.0.0.1:7410"), ("origin", "http://127.0.0.1:8080")]);
        assert!(same_origin(&other_port).is_err());
        let null = headers(&[("host", "127.0.0.1:7410"), ("origin", "null")]);
        assert!(same_origin(&null).is_err());
        let cross = headers(&[("host", "127.0.0.1:7410"), ("sec-fetch-site", "same-site")]);
        assert!(same_origin(&cross).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:7410")])).is_ok());
    }

    #[test]
    fn forms_need_the_sessions_token() {
        let session = Session { id: "i".into(), csrf: "secret".into() };
        let h = headers(&[("host", "h"), ("origin", "http://h")]);
        assert!(session.check(&h, Some("secret")).is_ok());
        assert!(session.check(&h, Some("guess")).is_err());
        assert!(session.check(&h, None).is_err());
    }
}
