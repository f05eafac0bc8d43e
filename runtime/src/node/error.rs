//! The errors a node reports to its clients (API, CLI, embedding
//! applications). Each says what was wrong and, where it can, what to do.

use thiserror::Error;

use crate::ledger::Refusal;
use crate::op::{CodeHash, MemberId, PartnershipId};
use crate::store::StoreError;

/// Why a node request failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// No partnership with this id on the node.
    #[error("unknown partnership {0}; `polypact partnership list` shows the node's partnerships")]
    UnknownPartnership(PartnershipId),
    /// The partnership has no module instance with this name.
    #[error("unknown module `{module}`; the partnership has: {}", known.join(", "))]
    UnknownModule {
        /// The name asked for.
        module: String,
        /// The instances it has.
        known: Vec<String>,
    },
    /// The node's member is not a participant of the charter or partnership.
    #[error("this node's member {0} is not a participant of the partnership")]
    NotAParticipant(MemberId),
    /// No invitation to this partnership is waiting on the node.
    #[error("no invitation to partnership {0} waits on this node; `polypact invitations` lists them")]
    UnknownInvitation(PartnershipId),
    /// The charter needs module code the node does not have.
    #[error("module code missing on this node: {}; upload it first (`polypact module build` prints the hash)", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    MissingCode(Vec<CodeHash>),
    /// Module code was rejected.
    #[error("module code rejected: {0}")]
    Code(String),
    /// A genesis op that does not start a partnership.
    #[error("invalid genesis: {0}")]
    BadGenesis(String),
    /// The op was refused (and nothing changed).
    #[error("op refused: {0}")]
    Refused(Refusal),
    /// The partnership is dissolved; it takes queries only.
    #[error("the partnership is dissolved ({0}); it accepts queries only")]
    Dissolved(String),
    /// The partnership's ledger stopped on an undecidable fault.
    #[error("partnership {partnership} is halted: {reason}")]
    Halted {
        /// The partnership.
        partnership: PartnershipId,
        /// Why.
        reason: String,
    },
    /// The module refused the query, or failed it deterministically (it
    /// trapped, ran out of fuel, broke the ABI): the same answer on every
    /// node.
    #[error("module `{module}` refused the query: {reason}")]
    ModuleRejected {
        /// The module asked.
        module: String,
        /// The module's error, or how it failed.
        reason: String,
    },
    /// This node could not run the module (its code is missing here, or a
    /// fault of the node): another node may answer.
    #[error("this node could not run module `{module}`: {reason}")]
    HostFault {
        /// The module asked.
        module: String,
        /// What went wrong.
        reason: String,
    },
    /// A stored partnership could not be rebuilt.
    #[error("cannot open partnership {partnership} from the store: {message}")]
    Open {
        /// The partnership.
        partnership: PartnershipId,
        /// Why.
        message: String,
    },
    /// The store failed; the node cannot go on safely.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Waiting for an op's outcome took longer than allowed. The op was
    /// accepted; its outcome will still come.
    #[error(
        "op {op} was accepted but not yet {what} after {waited_ms} ms; it will still be applied, check it later"
    )]
    Timeout {
        /// The op.
        op: crate::op::OpId,
        /// `applied` or `final`.
        what: &'static str,
        /// How long the request waited.
        waited_ms: u64,
    },
    /// The node is shutting down or has stopped.
    #[error("the node is not running (it stopped or is shutting down)")]
    Stopped,
    /// The node could not start (its data directory, its WASM host).
    #[error("cannot start the node: {0}")]
    Start(String),
    /// The node's network could not start, or the node runs without one.
    #[error("network: {0}")]
    Network(String),
    /// The store failed earlier and the node stopped: memory and disk may
    /// differ, and only a restart (which rebuilds from the disk) is safe.
    #[error("the node stopped after a store failure: {0}; restart it")]
    StoreFailed(String),
    /// A broken invariant of the node itself: a bug, please report it.
    #[error("internal error (a bug, please report it): {0}")]
    Internal(String),
}
