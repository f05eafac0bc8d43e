//! The guestbook's rules: its entry points and one function per call and
//! query.
//!
//! This file owns what each message does: who may sign, what an entry must
//! be, clearing one's own entries, the queries and the migration. `handle`
//! and `query` only dispatch. It does not own the message formats
//! (`msg.rs`), the storage layout (`state.rs`) or the error texts
//! (`error.rs`).

use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};

use crate::error::{GuestbookError, Result};
use crate::msg::{
    Config, CountResponse, EntriesResponse, Entry, HandleMsg, MigrateMsg, QueryMsg, SignResponse,
};
use crate::state::{BY_AUTHOR, CONFIG, COUNT, ENTRIES, NEXT_ID, VERSION};

/// The longest `max_message_len` a config may set.
pub const MAX_MESSAGE_LEN_LIMIT: u32 = 4096;
/// Page size of `entries` and `by_author` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 10;
/// The largest page a query returns (larger limits are lowered to it).
pub const MAX_PAGE: u32 = 100;
/// The state layout version this code writes (see [`migrate`]).
pub const STATE_VERSION: u32 = 1;

// ----- entry points -----

/// `init`: validates and stores the config; the book starts empty.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    check_max_len(config.max_message_len)?;
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    COUNT.save(ctx, &0)?;
    VERSION.save(ctx, &STATE_VERSION)?;
    Ok(Response::new().add_event(
        Event::new("guestbook_opened")
            .attr("max_message_len", config.max_message_len)
            .attr("participants_only", config.participants_only),
    ))
}

/// `handle`: `sign` and `clear_mine`.
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    match msg {
        HandleMsg::Sign { message } => execute_sign(ctx, message),
        HandleMsg::ClearMine {} => execute_clear_mine(ctx),
        HandleMsg::SignElsewhere { partnership, message } => {
            execute_sign_elsewhere(ctx, partnership, message)
        }
    }
}

/// `query`: `entries`, `count`, `by_author`, `config`.
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let answer = match msg {
        QueryMsg::Entries { start_after, limit } => to_json(&query_entries(ctx, start_after, limit)?)?,
        QueryMsg::Count {} => to_json(&CountResponse { count: COUNT.load(ctx)? })?,
        QueryMsg::ByAuthor { author, start_after, limit } => {
            to_json(&query_by_author(ctx, &author, start_after, limit)?)?
        }
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
    };
    Ok(answer)
}

/// `migrate`: applies config changes and records the state version. Every
/// version so far has the same layout, so no entries need rewriting.
pub fn migrate(ctx: &mut Ctx, msg: MigrateMsg) -> Result<Response> {
    let mut config = CONFIG.load(ctx)?;
    if let Some(max) = msg.max_message_len {
        check_max_len(max)?;
        config.max_message_len = max;
    }
    if let Some(only) = msg.participants_only {
        config.participants_only = only;
    }
    CONFIG.save(ctx, &config)?;
    let from = VERSION.may_load(ctx)?.unwrap_or(0);
    VERSION.save(ctx, &STATE_VERSION)?;
    Ok(Response::new().add_event(
        Event::new("guestbook_migrated")
            .attr("from_version", from)
            .attr("to_version", STATE_VERSION)
            .attr("max_message_len", config.max_message_len),
    ))
}

// ----- calls -----

/// `sign`: adds an entry by the caller.
pub fn execute_sign(ctx: &mut Ctx, message: String) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    if message.trim().is_empty() {
        return Err(GuestbookError::EmptyMessage);
    }
    let len = message.chars().count();
    if len > config.max_message_len as usize {
        return Err(GuestbookError::TooLong { len, max: config.max_message_len });
    }
    let author = ctx.caller().to_owned();
    let listed_partnership = config.partnerships.contains(&author);
    if config.participants_only && !listed_partnership && !ctx.is_participant(&author)? {
        return Err(GuestbookError::NotParticipant { member: author });
    }
    let id = NEXT_ID.load(ctx)?;
    NEXT_ID.save(ctx, &(id + 1))?;
    COUNT.update(ctx, |n| Ok::<_, GuestbookError>(n.unwrap_or(0) + 1))?;
    let entry = Entry { id, author, message, height: ctx.height(), time_ms: ctx.time_ms() };
    ENTRIES.save(ctx, id, &entry)?;
    BY_AUTHOR.save(ctx, (&entry.author, id), &())?;
    let event = Event::new("signed").attr("id", id).attr("author", &entry.author);
    Ok(Response::new().add_event(event).set_data(&SignResponse { id })?)
}

/// `sign_elsewhere`: sends a `sign` to the guestbook of another
/// partnership; a participant of this one must ask.
pub fn execute_sign_elsewhere(ctx: &mut Ctx, partnership: String, message: String) -> Result<Response> {
    if message.trim().is_empty() {
        return Err(GuestbookError::EmptyMessage);
    }
    let author = ctx.caller().to_owned();
    if !ctx.is_participant(&author)? {
        return Err(GuestbookError::NotParticipant { member: author });
    }
    let sign = HandleMsg::Sign { message };
    let event = Event::new("signing_elsewhere").attr("partnership", &partnership).attr("by", &author);
    Ok(Response::new().add_event(event).send_to_partnership(partnership, "guestbook", &sign)?)
}

/// `clear_mine`: removes all of the caller's entries.
pub fn execute_clear_mine(ctx: &mut Ctx) -> Result<Response> {
    let author = ctx.caller().to_owned();
    let ids = BY_AUTHOR
        .prefix(&author)
        .iter(ctx)
        .map(|item| item.map(|(id, ())| id))
        .collect::<core::result::Result<Vec<u64>, _>>()?;
    for &id in &ids {
        ENTRIES.remove(ctx, id);
        BY_AUTHOR.remove(ctx, (&author, id));
    }
    let removed = ids.len() as u64;
    COUNT.update(ctx, |n| Ok::<_, GuestbookError>(n.unwrap_or(0).saturating_sub(removed)))?;
    Ok(Response::new().add_event(Event::new("cleared").attr("author", author).attr("removed", removed)))
}

fn check_max_len(max: u32) -> Result<()> {
    if (1..=MAX_MESSAGE_LEN_LIMIT).contains(&max) { Ok(()) } else { Err(GuestbookError::InvalidMaxLen(max)) }
}

// ----- queries -----

/// `entries`: a page of entries in id order.
pub fn query_entries(
    ctx: &QueryCtx,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<EntriesResponse> {
    let entries = ENTRIES.range(ctx, start_after, page_size(limit))?.into_iter().map(|(_, e)| e).collect();
    Ok(EntriesResponse { entries })
}

/// `by_author`: a page of one author's entries in id order.
pub fn query_by_author(
    ctx: &QueryCtx,
    author: &str,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<EntriesResponse> {
    let ids = BY_AUTHOR.prefix(author).range(ctx, start_after, page_size(limit))?;
    let entries =
        ids.into_iter().map(|(id, ())| ENTRIES.load(ctx, id)).collect::<core::result::Result<_, _>>()?;
    Ok(EntriesResponse { entries })
}

fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE)
}
