//! The voting module's errors.
//!
//! This file owns [`VotingError`], the reasons a voting call or query
//! fails, in the words the caller sees (tests match on them). It does not
//! own when each is raised (`contract.rs`).

use crate::msg::Status;

/// Why a voting call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VotingError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid voting config: {0}")]
    Config(String),
    /// A bad proposal.
    #[error("invalid proposal: {0}")]
    BadProposal(String),
    /// No such proposal.
    #[error("there is no proposal {0}")]
    UnknownProposal(u64),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The proposal is not open.
    #[error("proposal {id} is closed for voting (status: {status:?})")]
    Closed {
        /// Proposal id.
        id: u64,
        /// Its status.
        status: Status,
    },
    /// A bad vote.
    #[error("invalid vote: {0}")]
    BadVote(String),
    /// A voter without power.
    #[error(
        "{member} had no voting power at height {height} (proposal {id}'s snapshot); only members then may vote"
    )]
    NoPower {
        /// The voter.
        member: String,
        /// The snapshot height.
        height: u64,
        /// Proposal id.
        id: u64,
    },
    /// Execution or veto in the wrong status.
    #[error("proposal {id} cannot be {what} now (status: {status:?})")]
    WrongStatus {
        /// Proposal id.
        id: u64,
        /// What was tried.
        what: &'static str,
        /// Its status.
        status: Status,
    },
    /// A bad delegation.
    #[error("invalid delegation: {0}")]
    BadDelegation(String),
    /// A vote on a draft.
    #[error(
        "proposal {0} is a draft; it opens for voting when a sponsor sends {{\"sponsor\":{{\"proposal\":{0}}}}}"
    )]
    Draft(u64),
}

/// The result of voting's functions.
pub type Result<T> = core::result::Result<T, VotingError>;
