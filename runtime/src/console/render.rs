//! Turning templates into answers: the layout every page shares
//! ([`Chrome`]), the sign-in, error and message pages, and how an action's
//! result is answered ([`respond`]): to htmx a message fragment for the
//! page's message area, to a plain form post a page with the message and a
//! way back.
//!
//! It owns no page's content (`pages/`) and no session logic (`auth`).

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Session;
use super::error::ConsoleError;

/// What the shared layout shows around a page.
pub(crate) struct Chrome {
    /// The page's title.
    pub(crate) title: String,
    /// The session's CSRF token, put in every form.
    pub(crate) csrf: String,
    /// The node's member id.
    pub(crate) member: String,
    /// The partnership the page is about, for the section menu.
    pub(crate) partnership: Option<NavPartnership>,
    /// The server-sent events that refresh the page's live parts.
    pub(crate) stream: String,
    /// The software version.
    pub(crate) version: &'static str,
}

/// The partnership a page belongs to, for the menu.
pub(crate) struct NavPartnership {
    /// Its id (hex).
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Which section is shown: `overview`, `proposals`, `treasury`, `events`.
    pub(crate) section: &'static str,
}

impl Chrome {
    /// The member id, shortened for the header.
    pub(crate) fn member_short(&self) -> String {
        crate::format::short_member(&self.member)
    }

    /// The layout of a page outside any partnership.
    pub(crate) fn node(title: impl Into<String>, session: &Session, member: String) -> Chrome {
        Chrome {
            title: title.into(),
            csrf: session.csrf.clone(),
            member,
            partnership: None,
            stream: "/console/stream".into(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The layout of a page of a partnership.
    pub(crate) fn partnership(
        title: impl Into<String>,
        session: &Session,
        member: String,
        id: String,
        name: String,
        section: &'static str,
    ) -> Chrome {
        Chrome {
            title: title.into(),
            csrf: session.csrf.clone(),
            member,
            stream: format!("/console/p/{id}/stream"),
            partnership: Some(NavPartnership { id, name, section }),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    /// Why the last attempt failed.
    pub(crate) error: Option<String>,
    /// The node's member id (so the partner knows which node this is).
    pub(crate) member: String,
}

/// A page that says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    /// The status, as a number and words.
    pub(crate) status: String,
    /// What went wrong.
    pub(crate) message: String,
}

/// The page a plain (script-less) form post answers with.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    /// Whether the action was done.
    pub(crate) ok: bool,
    /// What happened.
    pub(crate) message: String,
    /// Where to go back to.
    pub(crate) back: String,
}

/// The message fragment an htmx form post answers with.
#[derive(Template)]
#[template(path = "flash.html")]
pub(crate) struct Flash {
    /// Whether the action was done.
    pub(crate) ok: bool,
    /// What happened.
    pub(crate) message: String,
}

/// A rendered template with `status`, or the error page if it fails.
pub(crate) fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => error_page(&ConsoleError::Render(e)),
    }
}

/// A page answer, or the error page.
pub(crate) fn page(result: Result<impl Template, ConsoleError>) -> Response {
    match result {
        Ok(template) => html(StatusCode::OK, &template),
        Err(e) => error_page(&e),
    }
}

/// The error page for `error`, with its status.
pub(crate) fn error_page(error: &ConsoleError) -> Response {
    let status = error.status();
    let words = status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage { status: format!("{} {words}", status.as_u16()), message: error.to_string() };
    match page.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(_) => {
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], error.to_string()).into_response()
        }
    }
}

/// What a successful action did.
pub(crate) struct Done {
    /// What happened, in words.
    pub(crate) message: String,
    /// The page to show next (a plain post goes there; htmx navigates there
    /// when `navigate`).
    pub(crate) back: String,
    /// Whether htmx should load `back` (a new partnership) rather than
    /// show the message in place.
    pub(crate) navigate: bool,
}

impl Done {
    /// A message shown in place; a plain post returns to `back`.
    pub(crate) fn stay(message: impl Into<String>, back: impl Into<String>) -> Done {
        Done { message: message.into(), back: back.into(), navigate: false }
    }

    /// Go to `to` when done.
    pub(crate) fn go(message: impl Into<String>, to: impl Into<String>) -> Done {
        Done { message: message.into(), back: to.into(), navigate: true }
    }
}

/// Whether the request came from htmx (it wants a fragment).
pub(crate) fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Answers an action: to htmx the message fragment (status 200, so htmx
/// swaps it in; `X-Console-Outcome` says `ok` or `refused`), to a plain
/// post a message page (or, when it navigates, a redirect).
pub(crate) fn respond(headers: &HeaderMap, back: &str, result: Result<Done, ConsoleError>) -> Response {
    let htmx = is_htmx(headers);
    match result {
        Ok(done) if htmx => {
            let mut response = html(StatusCode::OK, &Flash { ok: true, message: done.message });
            let h = response.headers_mut();
            h.insert("x-console-outcome", HeaderValue::from_static("ok"));
            if done.navigate
                && let Ok(v) = HeaderValue::from_str(&done.back)
            {
                h.insert("HX-Redirect", v);
            }
            response
        }
        Ok(done) if done.navigate => Redirect::to(&done.back).into_response(),
        Ok(done) => html(StatusCode::OK, &MessagePage { ok: true, message: done.message, back: done.back }),
        Err(e) if htmx => {
            let mut response = html(StatusCode::OK, &Flash { ok: false, message: e.to_string() });
            response.headers_mut().insert("x-console-outcome", HeaderValue::from_static("refused"));
            response
        }
        Err(e) => html(e.status(), &MessagePage { ok: false, message: e.to_string(), back: back.to_owned() }),
    }
}
