//! Saving a ledger's final state to the store and rebuilding it from there.
//!
//! Ops are persisted by whoever inserts them (the node), batch by batch,
//! before they are reported accepted. This file adds the two other halves:
//! [`Ledger::save_final`] writes the final-state delta (incremental
//! snapshot), and [`Ledger::open`] rebuilds a ledger from the stored ops and
//! snapshot, replaying only the ops above the snapshot's final height.
//! [`StoreArchive`] is the store seen as the graph's archive: where the
//! final ops a ledger forgot are read back from.

use std::sync::{Arc, OnceLock};

use thiserror::Error;

use super::core::{Ledger, LedgerConfig};
use super::error::LedgerError;
use super::executor::Executor;
use super::summary::LedgerMeta;
use crate::dag::{Dag, OpArchive};
use crate::op::{MemberId, OpHeader, OpId, PartnershipId, SignedOp};
use crate::store::{FinalDelta, OpCursor, Store, StoreError};

/// Why a ledger could not be rebuilt from the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The partnership has no genesis in the store.
    #[error("partnership {0} is not in this store")]
    UnknownPartnership(PartnershipId),
    /// The stored data does not rebuild a ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The store compacted the partnership's history, so only the graph
    /// summary saved with it can rebuild the ledger, and it cannot.
    #[error(
        "partnership {partnership}: its stored history is compacted up to height {checkpoint} and the graph summary saved with it cannot be used ({reason}); this store cannot rebuild it: restore the store from a backup, or move it away and join again from a partner's node that keeps history"
    )]
    Compacted {
        /// The partnership.
        partnership: PartnershipId,
        /// The checkpoint the history is compacted behind.
        checkpoint: u64,
        /// Why the summary cannot be used.
        reason: String,
    },
}

/// Why a graph summary cannot rebuild a ledger.
enum Unfit {
    /// It does not fit the store: a replay of every op may still.
    Reason(String),
    /// The final snapshot is damaged: nothing built on it can be trusted.
    Damaged(LedgerError),
}

impl From<String> for Unfit {
    fn from(reason: String) -> Self {
        Unfit::Reason(reason)
    }
}

/// Ops read from the store per page while rebuilding.
const REPLAY_PAGE: usize = 4096;

impl<E: Executor> Ledger<E> {
    /// Writes what became final since the last call to the store's
    /// snapshot, with the latest summary of the graph (what a restart starts
    /// from, [`Ledger::open_with_archive`]).
    pub fn save_final(&mut self, store: &Store) -> Result<(), StoreError> {
        let new_summary = self.take_summary_changed();
        let new_meta = self.take_meta().is_some();
        let (final_height, writes) = self.take_final_delta();
        if writes.is_empty() && !new_summary && !new_meta {
            return Ok(());
        }
        let delta = FinalDelta {
            final_height,
            writes,
            meta: self.meta_bytes().to_vec(),
            state_root: Some(self.final_root()),
        };
        match self.dag().horizon().filter(|_| new_summary) {
            // A new summary and the store's archive horizon move in one
            // commit: every op stored at or below the horizon after it is
            // listed late, and is exactly what the summary does not cover.
            Some(horizon) => store.save_final_and_archive(&self.partnership(), &delta, horizon).map(drop),
            None => store.save_final(&self.partnership(), &delta),
        }
    }

    /// What a node does at its snapshot tick: final ops leave memory
    /// ([`Ledger::forget_final`]), then the final snapshot is saved with
    /// the graph's new summary and the store moves its index of the
    /// forgotten ops to disk, in one commit ([`Ledger::save_final`]).
    /// Every accepted op must be persisted. Returns the horizon, if final
    /// ops left memory.
    pub fn save_final_and_forget(&mut self, store: &Store) -> Result<Option<u64>, StoreError> {
        let horizon = self.forget_final();
        self.save_final(store)?;
        Ok(horizon)
    }

    /// Rebuilds partnership `p`'s ledger from `store`: the genesis, the final
    /// snapshot, and every stored op (those above the snapshot are applied
    /// again; those at or below only rejoin the graph). The ledger holds
    /// every op in memory; a node uses [`Ledger::open_with_archive`].
    pub fn open(
        store: &Store,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
    ) -> Result<Self, OpenError> {
        Self::open_inner(store, p, executor, config, None)
    }

    /// [`Ledger::open`], keeping `store` as the ledger's archive: final ops
    /// leave memory as the replay goes and afterwards
    /// ([`Ledger::forget_final`]), and are read back from the store when
    /// asked. With a summary of the graph saved beside the final snapshot
    /// ([`Ledger::save_final_and_forget`]) only the ops it does not cover
    /// are read: those above its horizon and the late ones below it. A
    /// summary that does not fit is set aside (logged) and every op
    /// replayed.
    pub fn open_with_archive(
        store: &Arc<Store>,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
    ) -> Result<Self, OpenError>
    where
        E: Clone,
    {
        let archive: Arc<dyn OpArchive> = Arc::new(StoreArchive::new(Arc::clone(store), *p));
        let unfit = match Self::open_from_summary(store, p, executor.clone(), config, &archive) {
            Ok(Some(ledger)) => return Ok(ledger),
            Ok(None) => None,
            Err(Unfit::Reason(reason)) => Some(reason),
            // Replaying would install the same state: say what is wrong.
            Err(Unfit::Damaged(error)) => return Err(error.into()),
        };
        // A replay of every op needs every op: compacted history has only
        // the summary to start from.
        if let Some(compaction) = store.compaction(p)? {
            let reason = unfit.unwrap_or_else(|| "there is none".to_owned());
            return Err(OpenError::Compacted { partnership: *p, checkpoint: compaction.checkpoint, reason });
        }
        if let Some(reason) = unfit {
            tracing::warn!(partnership = %p, %reason, "the graph summary does not fit the store; replaying every op");
        }
        Self::open_inner(store, p, executor, config, Some(archive))
    }

    /// The ledger rebuilt from the graph summary saved with the final
    /// snapshot; `Ok(None)` if there is none, `Err` if it does not fit or
    /// the snapshot is damaged.
    fn open_from_summary(
        store: &Store,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
        archive: &Arc<dyn OpArchive>,
    ) -> Result<Option<Self>, Unfit> {
        let Some(snapshot) = store.load_final(p).map_err(|e| e.to_string())? else { return Ok(None) };
        let meta = LedgerMeta::decode(&snapshot.meta)?;
        let Some(summary) = &meta.summary else { return Ok(None) };
        let graph = Dag::from_summary(&summary.dag, Arc::clone(archive))?;
        let genesis =
            match store.ops_in_order(p, OpCursor::at_height(0), 1).map_err(|e| e.to_string())?.ops.pop() {
                Some((0, genesis)) => genesis,
                _ => return Err(format!("partnership {p} has no genesis in the store").into()),
            };
        let mut ops: Vec<SignedOp> =
            store.late_ops_of(p).map_err(|e| e.to_string())?.into_iter().map(|(_, op)| op).collect();
        // The summary and the store's archive horizon are saved in one
        // commit (`save_final_and_archive`): the summary covers every op at
        // or below its horizon except those the store lists as late.
        let covered = summary.dag.horizon;
        let archived = store.archive_horizon(p).map_err(|e| e.to_string())?;
        if archived != Some(covered) {
            return Err(format!(
                "the graph summary reaches height {covered}, the store archived up to {archived:?}"
            )
            .into());
        }
        let mut failure: Option<StoreError> = None;
        let above = store.iter_ops(p, covered.saturating_add(1), REPLAY_PAGE).map_while(|item| match item {
            Ok((_, op)) => Some(op),
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        ops.extend(above);
        if let Some(e) = failure {
            return Err(e.to_string().into());
        }
        let state = (Some((snapshot.final_height, snapshot.state)), snapshot.state_root);
        match Ledger::resume(genesis, executor, config, state, meta, graph, ops) {
            Ok(ledger) => Ok(Some(ledger)),
            Err(error @ LedgerError::DamagedSnapshot { .. }) => Err(Unfit::Damaged(error)),
            Err(error) => Err(error.to_string().into()),
        }
    }

    fn open_inner(
        store: &Store,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
        archive: Option<Arc<dyn OpArchive>>,
    ) -> Result<Self, OpenError> {
        let mut ops = store.iter_ops(p, 0, REPLAY_PAGE);
        let genesis = match ops.next() {
            Some(first) => {
                let (height, op) = first?;
                if height != 0 {
                    return Err(OpenError::UnknownPartnership(*p));
                }
                op
            }
            None => return Err(OpenError::UnknownPartnership(*p)),
        };
        let saved = store.load_final(p)?;
        // The checkpoints at or below the snapshot are not taken again (its
        // ops are not run again): they come back from its metadata, if it
        // is readable; a replay from the genesis takes them all again.
        let checkpoints = saved
            .as_ref()
            .and_then(|s| LedgerMeta::decode(&s.meta).ok())
            .map(|meta| meta.checkpoints)
            .unwrap_or_default();
        let root = saved.as_ref().and_then(|s| s.state_root);
        let snapshot = (saved.map(|s| (s.final_height, s.state)), root);
        let mut failure: Option<StoreError> = None;
        let rest = ops.map_while(|item| match item {
            Ok((_, op)) => Some(op),
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        let ledger = Ledger::restore_with(genesis, executor, config, snapshot, rest, archive);
        if let Some(e) = failure {
            return Err(e.into());
        }
        let mut ledger = ledger?;
        ledger.restore_checkpoints(checkpoints);
        Ok(ledger)
    }
}

/// One partnership's ops in the store, as the graph's [`OpArchive`].
#[derive(Debug)]
pub struct StoreArchive {
    store: Arc<Store>,
    partnership: PartnershipId,
    failure: OnceLock<String>,
}

impl StoreArchive {
    /// The archive of partnership `partnership`'s ops in `store`.
    pub fn new(store: Arc<Store>, partnership: PartnershipId) -> Self {
        StoreArchive { store, partnership, failure: OnceLock::new() }
    }

    /// The answer of a store read, or `None` (and the failure remembered).
    fn answer<T>(&self, result: Result<Option<T>, StoreError>) -> Option<T> {
        result.unwrap_or_else(|error| {
            tracing::error!(partnership = %self.partnership, %error, "cannot read a forgotten op back from the store");
            let _ = self.failure.set(format!("the store could not read an op back: {error}"));
            None
        })
    }
}

impl OpArchive for StoreArchive {
    fn height_of(&self, id: &OpId) -> Option<u64> {
        self.answer(self.store.op_height(&self.partnership, id))
    }

    fn op(&self, id: &OpId) -> Option<(u64, Arc<SignedOp>)> {
        match self.store.get_op(&self.partnership, id) {
            // Deleted behind a certified checkpoint: the graph still knows
            // its height (`height_of`), not its content.
            Err(StoreError::Compacted { .. }) => None,
            found => self.answer(found.map(|found| found.map(|(h, op)| (h, Arc::new(op))))),
        }
    }

    fn header(&self, id: &OpId) -> Option<(u64, OpHeader)> {
        self.answer(self.store.op_header(&self.partnership, id))
    }

    fn ops_at(&self, author: &MemberId, seq: u64) -> Vec<(u64, OpId)> {
        self.answer(self.store.op_ids_at(&self.partnership, author, seq).map(Some)).unwrap_or_default()
    }

    fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}
