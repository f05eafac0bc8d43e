//! The guestbook's errors.
//!
//! This file owns [`GuestbookError`], the reasons a call fails, in the words
//! the caller sees (tests match on them). It does not own when each is
//! raised (`contract.rs`).

use crate::contract::MAX_MESSAGE_LEN_LIMIT;

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

/// The result of the guestbook's functions.
pub type Result<T> = core::result::Result<T, GuestbookError>;
