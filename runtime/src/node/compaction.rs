//! This node's compaction of its store: dropping the content of a
//! partnership's stored final ops behind the latest checkpoint every
//! participant attested, when the operator turned it on
//! (`[node] compact_history`, off by default).
//!
//! Every participant's node attests each checkpoint the ledger takes (the
//! root of the final state at a multiple of the charter's
//! `checkpoint_every`; `node/crossing.rs`). Once this node's graph holds
//! the attestation of every participant of the checkpoint's set, it builds
//! the checkpoint's certificate, checks it as any verifier would, and the
//! store compacts the ops at or below the checkpoint, a bounded step per
//! snapshot tick, keeping what a restart and certificates read back
//! ([`Ledger::ops_kept_by_compaction`](crate::ledger::Ledger::ops_kept_by_compaction)).
//! No participant alone, nor a majority, can make another node compact:
//! a certificate needs every participant's signature, and a node compacts
//! only with its own operator's consent. Nor can a majority compact away
//! what a partner it suspended needs to come back: a node compacts behind
//! a checkpoint only once every partner not removed, suspended ones
//! included, has attested it, which a suspended partner's node does once
//! it has caught up; until the partners remove it, it holds compaction
//! back.
//!
//! It does not own the checkpoints (the ledger), the attestations
//! (`node/crossing.rs`) or the records (`store/compact.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::cert::{CheckpointStatement, Statement};
use crate::ledger::{Executor, Ledger, crossing};
use crate::op::{MemberId, PartnershipId};
use crate::store::{Compaction, StoreError};

use super::core::NodeCore;
use super::crossing::build_certificate;
use super::error::NodeError;

/// The most ops one step compacts per partnership (one store commit).
pub const COMPACT_OPS_PER_STEP: usize = 16_384;

/// What the node remembers between ticks about compaction.
#[derive(Debug, Default)]
pub(crate) struct CompactionState {
    /// Partnerships to look at on the next snapshot tick: final state
    /// moved, or a compaction is under way.
    pub(crate) due: BTreeSet<PartnershipId>,
    /// Per partnership, the checkpoint compaction finished at.
    done: BTreeMap<PartnershipId, u64>,
}

impl NodeCore {
    /// One step of compaction for every partnership that is due (see the
    /// module doc). `Err` only for a store failure.
    pub(crate) fn compact_history(&mut self) -> Result<(), NodeError> {
        for partnership in std::mem::take(&mut self.compaction.due) {
            match self.compact_step(&partnership) {
                Ok(true) => {}
                Ok(false) => {
                    self.compaction.due.insert(partnership);
                }
                Err(NodeError::Store(StoreError::CompactionRefused(reason))) => {
                    tracing::warn!(partnership = %partnership.short(), %reason, "compaction refused");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One step for `partnership`; `Ok(true)` once nothing is left to do
    /// until a later checkpoint is certified.
    fn compact_step(&mut self, partnership: &PartnershipId) -> Result<bool, NodeError> {
        let Some(ledger) = self.ledger(partnership) else { return Ok(true) };
        let done = match self.compaction.done.get(partnership) {
            Some(done) => *done,
            None => {
                let stored = self.store().compaction(partnership)?;
                stored.filter(|c| c.done_upto == c.checkpoint).map_or(0, |c| c.checkpoint)
            }
        };
        let horizon = self.store().archive_horizon(partnership)?.unwrap_or(0);
        let candidates: Vec<_> =
            ledger.checkpoints().rev().filter(|c| c.height > done && c.height <= horizon).copied().collect();
        if !ledger.meta_saved() {
            // What a restart would read back is not on disk yet: the next
            // snapshot saves it first.
            return Ok(false);
        }
        for checkpoint in candidates {
            // Cheap first: every partner not removed must have attested,
            // a suspended one too (see the module doc).
            let digest = Statement::Checkpoint(checkpoint).digest(partnership);
            let absent = checkpoint_attesters(ledger, &checkpoint)
                .into_iter()
                .filter(|m| ledger.attestation(&digest, m).is_none())
                .count();
            if absent > 0 {
                tracing::debug!(partnership = %partnership.short(), height = checkpoint.height, absent, "compaction waits for every partner not removed to attest");
                continue;
            }
            let certificate = match build_certificate(
                ledger,
                partnership,
                None,
                Statement::Checkpoint(checkpoint),
            ) {
                Ok(Some(certificate)) => certificate,
                Ok(None) => continue,
                Err(problem) => {
                    tracing::debug!(partnership = %partnership.short(), height = checkpoint.height, "checkpoint not certifiable: {problem}");
                    continue;
                }
            };
            let keep = ledger.ops_kept_by_compaction();
            let step = self.store().compact_below(
                partnership,
                checkpoint.height,
                &certificate.encode(),
                &keep,
                COMPACT_OPS_PER_STEP,
            )?;
            tracing::debug!(partnership = %partnership.short(), checkpoint = checkpoint.height, compacted = step.compacted, done = step.done, "compacted stored ops");
            if step.done {
                tracing::info!(partnership = %partnership.short(), checkpoint = checkpoint.height, "history compacted behind a certified checkpoint");
                self.compaction.done.insert(*partnership, checkpoint.height);
            }
            return Ok(step.done);
        }
        self.compaction.done.insert(*partnership, done);
        Ok(true)
    }
}

/// Who attests `checkpoint` of `ledger`'s partnership: the participant set
/// it was taken under (what its certificate needs) and every partner not
/// removed in the final state, a suspended one included (what compaction
/// waits for), ascending.
pub(crate) fn checkpoint_attesters<E: Executor>(
    ledger: &Ledger<E>,
    checkpoint: &CheckpointStatement,
) -> Vec<MemberId> {
    let state = ledger.final_state();
    let mut attesters = crossing::trusted_set(state, &ledger.charter().participants, checkpoint.generation)
        .map(|set| set.members)
        .unwrap_or_default();
    attesters.extend(state.participants().into_iter().filter(|(_, r)| r.is_active()).map(|(m, _)| m));
    attesters.sort();
    attesters.dedup();
    attesters
}

/// One checkpoint a partnership took, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointView {
    /// The checkpoint.
    pub statement: CheckpointStatement,
    /// The participants who attest it, ascending: its set (whom its
    /// certificate needs) and every partner not removed, suspended ones
    /// included (whom compaction waits for).
    pub attesters: Vec<MemberId>,
    /// Those of them whose attestation this node's graph holds.
    pub attested: Vec<MemberId>,
    /// Its certificate (canonical bytes), once every attester attested.
    pub certificate: Option<Vec<u8>>,
}

/// A partnership's checkpoints and this node's compaction of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointsView {
    /// The charter's `checkpoint_every` (0: none are taken).
    pub checkpoint_every: u64,
    /// The latest checkpoints, ascending by height.
    pub checkpoints: Vec<CheckpointView>,
    /// Whether this node compacts its store.
    pub compact_history: bool,
    /// How far this node's store is compacted, if at all.
    pub compacted: Option<Compaction>,
}

impl NodeCore {
    /// The checkpoints of `partnership` and this node's compaction of it.
    pub fn checkpoints(&self, partnership: &PartnershipId) -> Result<CheckpointsView, NodeError> {
        let ledger = self.ledger_or_err(partnership)?;
        let checkpoints = ledger
            .checkpoints()
            .map(|checkpoint| {
                let attesters = checkpoint_attesters(ledger, checkpoint);
                let digest = Statement::Checkpoint(*checkpoint).digest(partnership);
                let attested =
                    attesters.iter().filter(|m| ledger.attestation(&digest, m).is_some()).copied().collect();
                let certificate =
                    build_certificate(ledger, partnership, None, Statement::Checkpoint(*checkpoint))
                        .ok()
                        .flatten()
                        .map(|c| c.encode());
                CheckpointView { statement: *checkpoint, attesters, attested, certificate }
            })
            .collect();
        Ok(CheckpointsView {
            checkpoint_every: ledger.charter().params.checkpoint_every,
            checkpoints,
            compact_history: self.config.compact_history,
            compacted: self.store().compaction(partnership)?,
        })
    }
}
