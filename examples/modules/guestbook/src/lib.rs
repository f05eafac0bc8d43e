//! Guestbook: an example polypact module. The partnership's participants
//! sign a guestbook; anyone can read it, page by page.
//!
//! This crate owns the guestbook's messages, state and rules, and nothing
//! else: it shows the SDK end to end (entry points, [`Item`] and [`Map`] with
//! ordered paging and a secondary index, events, a query to `system`, a
//! migration, typed errors). The message formats are in `README.md`.
//!
//! State layout:
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | limits, set by init and migrate |
//! | `next_id` | `Item<u64>` | the id the next entry gets (ids are never reused) |
//! | `count` | `Item<u64>` | how many entries there are now |
//! | `entries` | `Map<u64, Entry>` | the entries, by id (so in signing order) |
//! | `by_author` | `Map<(&str, u64), ()>` | index: author, then id |

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, to_json};
use serde::{Deserialize, Serialize};

/// The longest `max_message_len` a config may set.
pub const MAX_MESSAGE_LEN_LIMIT: u32 = 4096;
/// `max_message_len` when the config does not set it.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 280;
/// Page size of `entries` and `by_author` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 10;
/// The largest page a query returns (larger limits are lowered to it).
pub const MAX_PAGE: u32 = 100;
/// The state layout version this code writes (see [`migrate`]).
pub const STATE_VERSION: u32 = 1;

const CONFIG: Item<Config> = Item::new("config");
const NEXT_ID: Item<u64> = Item::new("next_id");
const COUNT: Item<u64> = Item::new("count");
const VERSION: Item<u32> = Item::new("version");
const ENTRIES: Map<u64, Entry> = Map::new("entries");
const BY_AUTHOR: Map<(&str, u64), ()> = Map::new("by_author");

/// The init config: `{"max_message_len": 280, "participants_only": true}`,
/// both optional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The longest message, in characters.
    #[serde(default = "default_max_len")]
    pub max_message_len: u32,
    /// Whether only current participants may sign (else anyone whose op
    /// reaches the module, which is in practice the same set).
    #[serde(default = "default_true")]
    pub participants_only: bool,
}

fn default_max_len() -> u32 {
    DEFAULT_MAX_MESSAGE_LEN
}

fn default_true() -> bool {
    true
}

/// One signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id: 1, 2, 3… in signing order.
    pub id: u64,
    /// Who signed (`pm1…`).
    pub author: String,
    /// What they wrote.
    pub message: String,
    /// Height of the op that signed.
    pub height: u64,
    /// Time of that op, ms since the epoch.
    pub time_ms: u64,
}

/// Calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// `{"sign":{"message":"…"}}`: adds an entry by the caller.
    Sign {
        /// The text, 1 to `max_message_len` characters, not only whitespace.
        message: String,
    },
    /// `{"clear_mine":{}}`: removes all of the caller's entries.
    ClearMine {},
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// `{"entries":{"start_after":3,"limit":10}}`: entries in id order.
    Entries {
        /// Start after this id (from the first if absent).
        start_after: Option<u64>,
        /// Page size ([`DEFAULT_PAGE`] if absent, at most [`MAX_PAGE`]).
        limit: Option<u32>,
    },
    /// `{"count":{}}`: how many entries there are.
    Count {},
    /// `{"by_author":{"author":"pm1…"}}`: one author's entries in id order.
    ByAuthor {
        /// The author.
        author: String,
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// `{"config":{}}`: the current config.
    Config {},
}

/// `{"max_message_len": 500}`: the migrate message; fields left out keep
/// their value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateMsg {
    /// A new `max_message_len`.
    #[serde(default)]
    pub max_message_len: Option<u32>,
    /// A new `participants_only`.
    #[serde(default)]
    pub participants_only: Option<bool>,
}

/// Answer of `entries` and `by_author`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesResponse {
    /// The page, in id order; fewer than asked means the end.
    pub entries: Vec<Entry>,
}

/// Answer of `count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountResponse {
    /// Entries now in the book.
    pub count: u64,
}

/// Answer data of `sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    /// The new entry's id.
    pub id: u64,
}

/// Why a guestbook call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuestbookError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// The caller is not a current participant.
    #[error("only current participants may sign, and {member} is not one")]
    NotParticipant {
        /// The caller.
        member: String,
    },
    /// The message is empty or only whitespace.
    #[error("the message is empty; write something to sign")]
    EmptyMessage,
    /// The message is longer than the config allows.
    #[error("the message has {len} characters, at most {max} are allowed")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// A config or migrate message sets an impossible limit.
    #[error("max_message_len must be between 1 and {MAX_MESSAGE_LEN_LIMIT}, got {0}")]
    InvalidMaxLen(u32),
}

type Result<T> = core::result::Result<T, GuestbookError>;

fn check_max_len(max: u32) -> Result<()> {
    if (1..=MAX_MESSAGE_LEN_LIMIT).contains(&max) { Ok(()) } else { Err(GuestbookError::InvalidMaxLen(max)) }
}

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
        HandleMsg::Sign { message } => sign(ctx, message),
        HandleMsg::ClearMine {} => clear_mine(ctx),
    }
}

fn sign(ctx: &mut Ctx, message: String) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    if message.trim().is_empty() {
        return Err(GuestbookError::EmptyMessage);
    }
    let len = message.chars().count();
    if len > config.max_message_len as usize {
        return Err(GuestbookError::TooLong { len, max: config.max_message_len });
    }
    let author = ctx.caller().to_owned();
    if config.participants_only && !ctx.is_participant(&author)? {
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

fn clear_mine(ctx: &mut Ctx) -> Result<Response> {
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

/// `query`: `entries`, `count`, `by_author`, `config`.
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let answer = match msg {
        QueryMsg::Entries { start_after, limit } => {
            let entries =
                ENTRIES.range(ctx, start_after, page_size(limit))?.into_iter().map(|(_, e)| e).collect();
            to_json(&EntriesResponse { entries })?
        }
        QueryMsg::Count {} => to_json(&CountResponse { count: COUNT.load(ctx)? })?,
        QueryMsg::ByAuthor { author, start_after, limit } => {
            let ids = BY_AUTHOR.prefix(author.as_str()).range(ctx, start_after, page_size(limit))?;
            let entries = ids
                .into_iter()
                .map(|(id, ())| ENTRIES.load(ctx, id))
                .collect::<core::result::Result<_, _>>()?;
            to_json(&EntriesResponse { entries })?
        }
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
    };
    Ok(answer)
}

fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE)
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

polypact_sdk::export!(init: init, handle: handle, query: query, migrate: migrate);
