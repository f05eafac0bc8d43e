//! Live updates: the events view (`/console/p/{id}/events`, a feed of the
//! partnership's ops with applied, final and undone marked apart) and the
//! server-sent event streams every page listens to.
//!
//! - `GET /console/p/{id}/stream`: `changed` (no data) at most every
//!   [`THROTTLE`] after any op event of the partnership, which makes the
//!   page's live parts reload; with `?feed=1` also `op`, one rendered feed
//!   line per call applied, final or undone (`&final=1`: final only).
//! - `GET /console/stream`: `changed` after any op event of any partnership
//!   (the portfolio).
//!
//! Both come from [`NodeHandle::subscribe`](crate::node::NodeHandle::subscribe),
//! the stream the JSON API's `/events` serves. A stream ends when the
//! server shuts down or the session ends.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, mpsc};

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::render::{Chrome, error_page, page};
use super::load;
use crate::format::{format_time, short_member};
use crate::ledger::OpOutcome;
use crate::node::{NodeEvent, OpEventKind, now_ms};
use crate::op::PartnershipId;

/// The least time between two `changed` events of one stream.
pub(crate) const THROTTLE: Duration = Duration::from_millis(400);

/// One line of the feed.
#[derive(Template)]
#[template(path = "event_row.html")]
pub(crate) struct EventRow {
    kind: &'static str,
    time: String,
    height: u64,
    op: String,
    op_short: String,
    author: String,
    you: bool,
    module: String,
    summary: String,
    failed: bool,
}

impl EventRow {
    fn of(event: &NodeEvent, me: &str) -> EventRow {
        let author = event.author.map(|a| a.to_string()).unwrap_or_default();
        let (summary, failed) = match &event.outcome {
            Some(OpOutcome::Applied { events, .. }) if events.is_empty() => ("applied".to_owned(), false),
            Some(OpOutcome::Applied { events, .. }) => (
                events
                    .iter()
                    .map(|e| {
                        let attributes: Vec<String> =
                            e.event.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("{}: {} {}", e.module, e.event.kind, attributes.join(" "))
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
                false,
            ),
            Some(OpOutcome::Failed { error }) => (format!("refused: {error}"), true),
            Some(OpOutcome::Skipped { reason }) => (format!("without effect: {reason}"), true),
            Some(OpOutcome::Structural) => ("structural".to_owned(), false),
            None => ("undone; it will be applied again in its place".to_owned(), false),
        };
        let op = event.op.to_hex();
        EventRow {
            kind: match event.kind {
                OpEventKind::Applied => "applied",
                OpEventKind::Final => "final",
                OpEventKind::Undone => "undone",
            },
            time: format_time(now_ms())[11..19].to_owned(),
            height: event.height,
            op_short: op.chars().take(10).collect(),
            op,
            you: author == me,
            author: short_member(&author),
            module: event.module.clone().unwrap_or_default(),
            summary,
            failed,
        }
    }
}

/// The events page.
#[derive(Template)]
#[template(path = "events.html")]
pub(crate) struct EventsPage {
    chrome: Chrome,
    id: String,
    final_only: bool,
}

/// `?final=1` and `?feed=1`.
#[derive(serde::Deserialize, Default)]
pub(crate) struct StreamQuery {
    #[serde(default)]
    feed: Option<String>,
    #[serde(default, rename = "final")]
    final_only: Option<String>,
}

fn flag(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true" | "on"))
}

/// `GET /console/p/{id}/events`.
pub(crate) async fn page_view(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Response {
    let result = async {
        let loaded = load(&console, &id).await?;
        let final_only = flag(q.final_only.as_deref());
        let mut chrome = Chrome::partnership(
            format!("Events · {}", loaded.info.charter.name),
            &session,
            loaded.me.clone(),
            loaded.hex(),
            loaded.info.charter.name.clone(),
            "events",
        );
        chrome.stream =
            format!("/console/p/{}/stream?feed=1{}", loaded.hex(), if final_only { "&final=1" } else { "" });
        Ok::<_, ConsoleError>(EventsPage { chrome, id: loaded.hex(), final_only })
    }
    .await;
    page(result)
}

/// Turns a channel of events into an SSE answer.
fn sse(receiver: mpsc::Receiver<Event>) -> Response {
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// What one stream sends.
struct Feed {
    /// Only this partnership's events (all, for the portfolio).
    partnership: Option<PartnershipId>,
    /// Send feed lines too.
    lines: bool,
    /// Feed lines of final ops only.
    final_only: bool,
    /// The member, to mark its own ops.
    me: String,
}

/// Forwards node events to `out` until the client goes, the session
/// ends or the server shuts down.
async fn forward(
    console: Console,
    session: Session,
    mut events: broadcast::Receiver<NodeEvent>,
    feed: Feed,
    out: mpsc::Sender<Event>,
) {
    let mut closing = console.api.closing.clone();
    let mut dirty = false;
    let mut last_sent = tokio::time::Instant::now() - THROTTLE;
    loop {
        let due = last_sent + THROTTLE;
        tokio::select! {
            next = events.recv() => match next {
                Ok(event) => {
                    if feed.partnership.is_some_and(|p| p != event.partnership) {
                        continue;
                    }
                    dirty = true;
                    let is_call = event.module.is_some();
                    let wanted = !feed.final_only || event.kind == OpEventKind::Final;
                    if feed.lines && is_call && wanted {
                        let Ok(line) = EventRow::of(&event, &feed.me).render() else { continue };
                        let line = line.replace('\n', " ");
                        if out.send(Event::default().event("op").data(line)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => dirty = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep_until(due), if dirty => {
                if !console.sessions.is_open(&session.id) {
                    return;
                }
                if out.send(Event::default().event("changed").data("")).await.is_err() {
                    return;
                }
                dirty = false;
                last_sent = tokio::time::Instant::now();
            }
            _ = closing.changed() => return,
            () = out.closed() => return,
        }
    }
}

/// `GET /console/p/{id}/stream`.
pub(crate) async fn partnership_stream(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Response {
    // Subscribe before the check, so nothing after the page's read is missed.
    let events = console.api.node.subscribe();
    let loaded = match load(&console, &id).await {
        Ok(loaded) => loaded,
        Err(e) => return error_page(&e),
    };
    let feed = Feed {
        partnership: Some(loaded.id),
        lines: flag(q.feed.as_deref()),
        final_only: flag(q.final_only.as_deref()),
        me: loaded.me,
    };
    let (out, receiver) = mpsc::channel(64);
    tokio::spawn(forward(console, session, events, feed, out));
    sse(receiver)
}

/// `GET /console/stream`.
pub(crate) async fn node_stream(State(console): State<Console>, session: Session) -> Response {
    let events = console.api.node.subscribe();
    let feed = Feed {
        partnership: None,
        lines: false,
        final_only: false,
        me: console.api.node.member().to_string(),
    };
    let (out, receiver) = mpsc::channel(64);
    tokio::spawn(forward(console, session, events, feed, out));
    sse(receiver)
}
