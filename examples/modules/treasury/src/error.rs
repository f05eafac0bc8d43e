//! The treasury module's errors.
//!
//! This file owns [`TreasuryError`], the reasons a treasury call or query
//! fails, in the words the caller sees (tests match on them). It does not
//! own when each is raised (`contract.rs`, `distribute.rs`, `validate.rs`).

use crate::msg::{Amount, CallStatus, Status};

/// Why a treasury call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreasuryError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid treasury config: {0}")]
    Config(String),
    /// A bad split.
    #[error("invalid split: {0}")]
    BadSplit(String),
    /// An asset the config does not list.
    #[error("unknown asset {asset:?}; this treasury keeps {known}")]
    UnknownAsset {
        /// The code given.
        asset: String,
        /// The configured codes.
        known: String,
    },
    /// A zero amount where one is needed.
    #[error("{what} must be above 0")]
    Zero {
        /// What was zero.
        what: &'static str,
    },
    /// A bad text field.
    #[error("{0}")]
    BadText(String),
    /// Arithmetic would overflow.
    #[error("{0} would overflow u128; nothing was changed")]
    Overflow(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A reference used before.
    #[error(
        "a {kind} with reference {reference:?} already exists (id {id}); use a distinct reference, e.g. per instalment"
    )]
    DuplicateReference {
        /// Entry kind or `payout`.
        kind: &'static str,
        /// The reference.
        reference: String,
        /// The existing id.
        id: u64,
    },
    /// No such entry, payout or contribution.
    #[error("there is no {what} {id}")]
    NotFound {
        /// `entry`, `payout`, `contribution`.
        what: &'static str,
        /// The id.
        id: u64,
    },
    /// It is not pending any more.
    #[error("{what} {id} is already {status}, not pending")]
    NotPending {
        /// `entry`, `payout`, `contribution`.
        what: &'static str,
        /// The id.
        id: u64,
        /// Its status.
        status: Status,
    },
    /// The pool cannot cover it.
    #[error("the {asset} pool holds {pool}, less than the {needed} needed for {what}")]
    InsufficientPool {
        /// Asset.
        asset: String,
        /// Pool now.
        pool: Amount,
        /// Needed.
        needed: Amount,
        /// What needed it.
        what: String,
    },
    /// A payout above what is owed.
    #[error("{0}")]
    ExceedsOwed(String),
    /// A spend above the limit not from governance.
    #[error(
        "a spend of {amount} {asset} is above the {limit} a treasurer may spend alone; only the governance module \"{governance}\" may make it: propose it there"
    )]
    SpendNeedsVote {
        /// Amount.
        amount: Amount,
        /// Asset.
        asset: String,
        /// Limit.
        limit: Amount,
        /// Governance instance.
        governance: String,
    },
    /// The governance proposal behind a spend does not check out.
    #[error("spend not authorised by proposal: {0}")]
    BadProposal(String),
    /// Nothing to distribute.
    #[error("the {0} pool is empty; nothing to distribute")]
    EmptyPool(String),
    /// No such capital call.
    #[error("there is no capital call {0}")]
    NoSuchCall(u64),
    /// A capital call not in the state the message needs.
    #[error("capital call {id} is {status}, not {needed}")]
    CallNotOpen {
        /// The call.
        id: u64,
        /// Where it stands.
        status: CallStatus,
        /// What the message needs (`open`, `awaiting_vote`).
        needed: &'static str,
    },
    /// Too early or too late for this in a call's period.
    #[error("{0}")]
    CallPeriod(String),
    /// A payment above what is left of a member's share.
    #[error("{0}")]
    ExceedsCall(String),
    /// No current member holds economic units to call.
    #[error("cannot call {amount} {asset}: no current member holds economic units; nothing was changed")]
    NoOneToCall {
        /// Asset.
        asset: String,
        /// The amount to call.
        amount: Amount,
    },
    /// Distribution with no one to pay.
    #[error("cannot distribute {amount} {asset}: {why}")]
    NoOneToPay {
        /// Asset.
        asset: String,
        /// Amount.
        amount: Amount,
        /// Why.
        why: String,
    },
}

/// The result of treasury's functions.
pub type Result<T> = core::result::Result<T, TreasuryError>;
