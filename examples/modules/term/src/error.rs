//! The term module's errors.
//!
//! This file owns [`TermError`], the reasons a term call or query fails, in
//! the words the caller sees (tests match on them). It does not own when
//! each is raised (`contract.rs`).

/// Why a term call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TermError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid term config: {0}")]
    Config(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The caller is not a current member.
    #[error("not allowed: {member} is not a current member ({reason}); only members may {what}")]
    NotMember {
        /// The caller.
        member: String,
        /// What membership said.
        reason: String,
        /// What was tried.
        what: &'static str,
    },
    /// A bad KPI record.
    #[error("invalid KPI: {0}")]
    BadKpi(String),
    /// A bad milestone or completion.
    #[error("invalid milestone: {0}")]
    BadMilestone(String),
    /// No such milestone.
    #[error("there is no milestone {0:?}")]
    UnknownMilestone(String),
    /// A bad renewal.
    #[error("invalid renewal: {0}")]
    BadRenewal(String),
    /// A bad split rule.
    #[error("invalid split rule: {0}")]
    BadSplitRule(String),
    /// A review that cannot be applied.
    #[error("cannot apply review {review}: {reason}")]
    Review {
        /// The review.
        review: u64,
        /// Why.
        reason: String,
    },
    /// `tick` with nothing to do.
    #[error("nothing is due at {now_ms}: {next}; send tick again then (the status query shows next_due_ms)")]
    NothingDue {
        /// The op's time.
        now_ms: u64,
        /// What comes next.
        next: String,
    },
    /// The term already ended.
    #[error("the term already ended at {0}")]
    Ended(u64),
}

/// The result of term's functions.
pub type Result<T> = core::result::Result<T, TermError>;
