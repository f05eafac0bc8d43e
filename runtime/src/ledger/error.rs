//! Why the ledger refused an op, and why a ledger could not be built.

use thiserror::Error;

use crate::op::{MemberId, OpError, OpId, PartnershipId};

/// Why an op was refused. A refused op changes nothing and is not stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The op belongs to another partnership.
    #[error("op is for partnership {found}, not {expected}")]
    WrongPartnership {
        /// This ledger's partnership.
        expected: PartnershipId,
        /// The op's.
        found: PartnershipId,
    },
    /// Encoding, size, structure or signature is wrong.
    #[error(transparent)]
    Invalid(#[from] OpError),
    /// The op is already in the graph (or waiting for its parents).
    #[error("op {0} is already known")]
    Duplicate(OpId),
    /// The author was never admitted to the partnership.
    #[error("author {0} is not a participant of this partnership")]
    UnknownAuthor(MemberId),
    /// The op sits above its author's removal.
    #[error(
        "author {author} was removed at height {removed_at}; an op of theirs at height {height} is refused"
    )]
    RemovedAuthor {
        /// The author.
        author: MemberId,
        /// Height of the removal.
        removed_at: u64,
        /// Height the op would have.
        height: u64,
    },
    /// The op does not have its author's admission in its past.
    #[error(
        "author {author} was admitted at height {admitted_at}; an op at height {height} cannot have that admission in its past"
    )]
    NotYetAdmitted {
        /// The author.
        author: MemberId,
        /// Height of the admission.
        admitted_at: u64,
        /// Height the op would have.
        height: u64,
    },
    /// A suspension vote whose cut is not its member's last op in its past.
    #[error("invalid suspension vote: {0}")]
    BadSuspension(String),
    /// The author's previous op (seq - 1) is not among the parents.
    #[error("seq gap: op has seq {seq} but does not name its author's op {expected} as a parent (author's highest seq here is {known})", expected = seq - 1)]
    SeqGap {
        /// The op's seq.
        seq: u64,
        /// The author's highest seq in the graph.
        known: u64,
    },
    /// An author's first op names one of its own ops.
    #[error("an author's first op (seq 1) cannot name one of the author's ops as a parent")]
    FirstOpHasOwnParent,
    /// A second genesis op.
    #[error("a partnership has exactly one genesis op")]
    SecondGenesis,
    /// `time_ms` is below a parent's.
    #[error("time_ms {time_ms} is below its parent's time_ms {parent_time_ms}")]
    TimeBeforeParent {
        /// The op's time.
        time_ms: u64,
        /// The highest parent time.
        parent_time_ms: u64,
    },
    /// `time_ms` is too far ahead of this node's clock; offer it again later.
    #[error(
        "time_ms {time_ms} is more than {tolerance_ms} ms ahead of this node's clock ({now_ms}); held back, offer it again later"
    )]
    TooFarAhead {
        /// The op's time.
        time_ms: u64,
        /// This node's clock.
        now_ms: u64,
        /// The charter's tolerance.
        tolerance_ms: u64,
    },
    /// Too many ops already wait for parents; offer it again once its parents are in.
    #[error("{ops} ops ({bytes} bytes) already wait for their parents; offer this op again later")]
    PendingFull {
        /// Ops waiting.
        ops: usize,
        /// Bytes waiting.
        bytes: usize,
    },
    /// The partnership was dissolved or closed: it takes no more ops.
    #[error("the partnership is closed to new ops")]
    Closed,
}

impl Refusal {
    /// A stable, short reason code (for metrics and logs).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::WrongPartnership { .. } => "wrong_partnership",
            Refusal::Invalid(OpError::BadSignature { .. }) | Refusal::Invalid(OpError::BadAuthorKey(_)) => {
                "bad_signature"
            }
            Refusal::Invalid(OpError::TooLarge { .. }) => "too_large",
            Refusal::Invalid(_) => "malformed",
            Refusal::Duplicate(_) => "duplicate",
            Refusal::UnknownAuthor(_) => "unknown_author",
            Refusal::RemovedAuthor { .. } => "removed_author",
            Refusal::NotYetAdmitted { .. } => "not_yet_admitted",
            Refusal::BadSuspension(_) => "bad_suspension",
            Refusal::SeqGap { .. } | Refusal::FirstOpHasOwnParent => "seq_gap",
            Refusal::SecondGenesis => "second_genesis",
            Refusal::TimeBeforeParent { .. } => "time_before_parent",
            Refusal::TooFarAhead { .. } => "time_ahead",
            Refusal::PendingFull { .. } => "pending_full",
            Refusal::Closed => "closed",
        }
    }
}

/// Why a ledger could not be created or restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The genesis op is not valid.
    #[error("invalid genesis op: {0}")]
    InvalidGenesis(String),
    /// A module's init failed, so the partnership cannot start.
    #[error("the partnership cannot start: {0}")]
    GenesisFailed(String),
    /// Module code the charter names is not on this node.
    #[error("module code {0} is not on this node; upload it first")]
    MissingCode(crate::op::CodeHash),
    /// Stored data does not fit together (a snapshot that does not match the ops).
    #[error("stored ledger data is inconsistent: {0}")]
    Inconsistent(String),
    /// The stored final state is not the one the ledger saved: its root
    /// differs from the root saved with it, so the store is damaged.
    #[error(
        "the stored final state at height {height} is damaged: its root is {found}, the root saved with it {saved}; restore the store from a backup, or move it away and join again from a partner's node"
    )]
    DamagedSnapshot {
        /// The snapshot's final height.
        height: u64,
        /// The root saved with it, hex.
        saved: String,
        /// The root of what was read, hex.
        found: String,
    },
}
