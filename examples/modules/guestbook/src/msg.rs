//! The guestbook's messages: its init config, calls, queries, migrate
//! message and answers, and the [`Entry`] they carry.
//!
//! This file owns the module's wire formats. No other module talks to the
//! guestbook, so they live here; a module that others call publishes them in
//! an interface crate instead (see `membership/api`). The JSON forms are in
//! `README.md`.

use serde::{Deserialize, Serialize};

/// `max_message_len` when the config does not set it.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 280;

/// The init config: `{"max_message_len": 280, "participants_only": true,
/// "partnerships": ["pp1…"]}`, all optional.
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
    /// Partnerships (`pp1…`) whose messages may sign too, when
    /// `participants_only` is on: a message delivered from another
    /// partnership has that partnership as its caller.
    #[serde(default)]
    pub partnerships: Vec<String>,
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
    /// `{"sign_elsewhere":{"partnership":"pp1…","message":"…"}}`: signs the
    /// guestbook of another partnership in this partnership's name (the
    /// charter must give this module `message_partnerships`). The message
    /// goes once this op is final here; the other guestbook must list this
    /// partnership in its `partnerships`.
    SignElsewhere {
        /// The other partnership (`pp1…` or 64 hex digits).
        partnership: String,
        /// The text to sign there.
        message: String,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// `{"entries":{"start_after":3,"limit":10}}`: entries in id order.
    Entries {
        /// Start after this id (from the first if absent).
        start_after: Option<u64>,
        /// Page size ([`DEFAULT_PAGE`](crate::contract::DEFAULT_PAGE) if absent, at most
        /// [`MAX_PAGE`](crate::contract::MAX_PAGE)).
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
