//! The summary of a ledger's graph that a restart starts from instead of
//! every stored op: the graph at or below the horizon up to which final ops
//! left memory ([`DagSummary`]), and what the ledger indexes there (attest
//! and rekey ops, the time of the latest final op).
//!
//! It is saved with the final snapshot (as the snapshot's metadata, in the
//! same commit) each time final ops leave memory, always before the store
//! archives its index of them, so that every op stored after it at or below
//! its horizon is one the store lists as late. A restart then reads the
//! summary, the held ops it names, the late ops and the ops above the
//! horizon: what it costs follows the non-final tail and the recent final
//! ops, not history. A summary that does not decode or does not fit the
//! store is set aside and every op replayed instead (logged).
//!
//! The summary travels inside [`LedgerMeta`], the ledger's metadata saved
//! with every final snapshot, beside the latest checkpoints the ledger took
//! (`Ledger::checkpoints`): a checkpoint at or below the snapshot's height
//! is not taken again by a restart, which does not run those ops again.
//!
//! This module owns the encoding; building a summary is the graph's and the
//! ledger's (`Dag::summary`, `Ledger::forget_final`), using it
//! `Ledger::open_with_archive`'s.

use serde::{Deserialize, Serialize};

use crate::cert::{CheckpointStatement, StatementDigest};
use crate::dag::DagSummary;
use crate::op::{MemberId, OpId};

/// The encoding's version, its first byte. Version 1 was a bare
/// [`LedgerSummary`]; a store holding one is replayed in full once.
pub(crate) const VERSION: u8 = 2;

/// What a ledger saves with its final snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LedgerMeta {
    /// [`VERSION`].
    pub version: u8,
    /// The graph's summary, once final ops left memory.
    pub summary: Option<LedgerSummary>,
    /// The latest checkpoints taken, ascending by height.
    pub checkpoints: Vec<CheckpointStatement>,
}

/// A ledger's graph at or below its horizon, and the ledger's indexes there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LedgerSummary {
    /// The graph.
    pub dag: DagSummary,
    /// The time of the latest final op when the summary was made (a restart
    /// takes the highest of it and the final ops it replays).
    pub final_time_ms: u64,
    /// Attest ops at or below the horizon: statement, author, op.
    pub attestations: Vec<(StatementDigest, MemberId, OpId)>,
    /// Rekey ops at or below the horizon: height, op.
    pub rekeys: Vec<(u64, OpId)>,
}

/// The bytes of a [`LedgerMeta`] of `summary` and `checkpoints` (empty when
/// there is nothing to say), without gathering them into one: postcard
/// encodes a struct as the tuple of its fields, and a deque as a list.
pub(crate) fn encode_meta(
    summary: &Option<LedgerSummary>,
    checkpoints: &std::collections::VecDeque<CheckpointStatement>,
) -> Vec<u8> {
    if summary.is_none() && checkpoints.is_empty() {
        return Vec::new();
    }
    #[allow(clippy::expect_used)]
    postcard::to_allocvec(&(VERSION, summary, checkpoints)).expect("plain data always serialises")
}

impl LedgerMeta {
    /// The metadata from its bytes (none from none); `Err` says why they
    /// are not metadata.
    pub(crate) fn decode(bytes: &[u8]) -> Result<LedgerMeta, String> {
        if bytes.is_empty() {
            return Ok(LedgerMeta::default());
        }
        match bytes.first() {
            Some(&VERSION) => postcard::from_bytes(bytes).map_err(|e| format!("it does not decode: {e}")),
            Some(other) => Err(format!("its version {other} is not {VERSION}")),
            None => Err("it is empty".into()),
        }
    }
}
