//! Saving a ledger's final state to the store and rebuilding it from there.
//!
//! Ops are persisted by whoever inserts them (the node), batch by batch,
//! before they are reported accepted. This file adds the two other halves:
//! [`Ledger::save_final`] writes the final-state delta (incremental
//! snapshot), and [`Ledger::open`] rebuilds a ledger from the stored ops and
//! snapshot, replaying only the ops above the snapshot's final height.

use thiserror::Error;

use super::core::{Ledger, LedgerConfig};
use super::error::LedgerError;
use super::executor::Executor;
use crate::op::PartnershipId;
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
    /// again; those at or below only rejoin the graph).
    pub fn open(
        store: &Store,
        p: &PartnershipId,
        executor: E,
        config: LedgerConfig,
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
        let ledger = Ledger::restore(genesis, executor, config, snapshot, rest);
        if let Some(e) = failure {
            return Err(e.into());
        }
        Ok(ledger?)
    }
}
