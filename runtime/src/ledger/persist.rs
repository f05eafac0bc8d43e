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
use crate::dag::OpArchive;
use crate::op::{MemberId, OpId, PartnershipId, SignedOp};
use crate::store::{FinalDelta, Store, StoreError};

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
}

/// Ops read from the store per page while rebuilding.
const REPLAY_PAGE: usize = 4096;

impl<E: Executor> Ledger<E> {
    /// Writes what became final since the last call to the store's snapshot.
    pub fn save_final(&mut self, store: &Store) -> Result<(), StoreError> {
        let (final_height, writes) = self.take_final_delta();
        if writes.is_empty() {
            return Ok(());
        }
        store.save_final(&self.partnership(), &FinalDelta { final_height, writes, meta: Vec::new() })
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
    /// asked.
    pub fn open_with_archive(
        store: &Arc<Store>,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
    ) -> Result<Self, OpenError> {
        let archive: Arc<dyn OpArchive> = Arc::new(StoreArchive::new(Arc::clone(store), *p));
        Self::open_inner(store, p, executor, config, Some(archive))
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
        let snapshot = store.load_final(p)?.map(|s| (s.final_height, s.state));
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
        Ok(ledger?)
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
        self.answer(
            self.store.get_op(&self.partnership, id).map(|found| found.map(|(h, op)| (h, Arc::new(op)))),
        )
    }

    fn ops_at(&self, author: &MemberId, seq: u64) -> Vec<(u64, OpId)> {
        self.answer(self.store.op_ids_at(&self.partnership, author, seq).map(Some)).unwrap_or_default()
    }

    fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}
