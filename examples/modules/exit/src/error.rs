//! The exit module's errors.
//!
//! This file owns [`ExitError`], the reasons an exit call or query fails,
//! in the words the caller sees (tests match on them). It does not own when
//! each is raised (`contract.rs`, `buyout.rs`).

use crate::msg::How;

/// Why an exit call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExitError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid exit config: {0}")]
    Config(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Not a current member.
    #[error("{0} is not a member")]
    NotMember(String),
    /// Already left.
    #[error("{member} has already left ({how:?} at height {height})")]
    AlreadyLeft {
        /// The member.
        member: String,
        /// How.
        how: How,
        /// When.
        height: u64,
    },
    /// Inside the lock-up.
    #[error("{member} is locked up until {until_ms} ms (now {now_ms}); no exit or sale before then")]
    LockedUp {
        /// The member.
        member: String,
        /// Lock-up end.
        until_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// Notice missing or running.
    #[error("{0}")]
    Notice(String),
    /// Ragequit blocked by pending yes votes.
    #[error(
        "{member} voted yes on proposals still pending ({list}); ragequit is blocked until they are executed, rejected, vetoed or expired"
    )]
    Blocked {
        /// The member.
        member: String,
        /// The proposal ids, comma-separated.
        list: String,
    },
    /// An offer problem.
    #[error("{0}")]
    Offer(String),
    /// No buyout terms.
    #[error("this partnership has no buyout terms (config `buyout`)")]
    NoBuyout,
    /// A bad argument.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Arithmetic overflow.
    #[error("amount would overflow")]
    Overflow,
}

/// The result of exit's functions.
pub type Result<T> = core::result::Result<T, ExitError>;
