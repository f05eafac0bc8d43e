//! The vesting module's errors.
//!
//! This file owns [`VestingError`], the reasons a vesting call or query
//! fails, in the words the caller sees (tests match on them). It does not
//! own when each is raised (`contract.rs`).

use crate::contract::MAX_GRANTS_PER_MEMBER;

/// Why a vesting call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VestingError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid vesting config: {0}")]
    Config(String),
    /// A bad grant.
    #[error("invalid grant: {0}")]
    BadGrant(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Not a current member.
    #[error("{0} is not a current member; grants and releases are for current members")]
    NotMember(String),
    /// No such grant.
    #[error("there is no grant {0}")]
    UnknownGrant(u64),
    /// Already cancelled.
    #[error("grant {0} is already cancelled")]
    Cancelled(u64),
    /// Nothing to release.
    #[error("{0} has nothing vested to release now")]
    NothingToRelease(String),
    /// Too many grants.
    #[error("{0} already holds {MAX_GRANTS_PER_MEMBER} grants, the most one member may hold")]
    TooManyGrants(String),
    /// Arithmetic overflow.
    #[error("units would overflow")]
    Overflow,
}

/// The result of vesting's functions.
pub type Result<T> = core::result::Result<T, VestingError>;
