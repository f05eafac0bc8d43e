//! The final-state snapshot, so a restart replays only the non-final tail.
//!
//! The ledger hands over, each time finality advances, the writes that became
//! final since the last call ([`FinalDelta`]); they are applied together with
//! the new final height and the ledger's metadata blob in one durable
//! transaction, so the snapshot on disk is always one the ledger saved, never
//! a mix of two. The ledger's root of the state is saved beside it, so a
//! load can tell a damaged state from the one saved (a node opens its
//! store without the check of the whole file); the final height and the
//! ledger's metadata carry a checksum (`checksum.rs`). What the state means,
//! and what the metadata holds, is the ledger's business.

use redb::{ReadableTable, WriteTransaction};

use super::db::Store;
use super::error::StoreError;
use super::tables::{FINAL_META, FINAL_ROOTS, FINAL_STATE, decode_meta, encode_meta, prefix_end, state_key};
use crate::op::{PartnershipId, SignedOp};

/// The change of the final state since the last [`Store::save_final`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalDelta {
    /// The new final height (never below the stored one).
    pub final_height: u64,
    /// Writes that became final, in the order they happened: `Some` sets a
    /// key, `None` removes it. A later write to the same key wins.
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The ledger's metadata at this final height; replaces the stored one.
    pub meta: Vec<u8>,
    /// The root of the final state once `writes` are applied, as the ledger
    /// computes it; replaces the stored one (`None` removes it: the next
    /// load checks nothing).
    pub state_root: Option<[u8; 32]>,
}

/// The final state of a partnership as saved, from [`Store::load_final`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalSnapshot {
    /// The final height the state is at.
    pub final_height: u64,
    /// Every key/value pair of the final state, ascending by key.
    pub state: Vec<(Vec<u8>, Vec<u8>)>,
    /// The ledger's metadata saved with it.
    pub meta: Vec<u8>,
    /// The state's root as the ledger saved it, if it did (a snapshot of
    /// schema 7 or older has none).
    pub state_root: Option<[u8; 32]>,
}

impl Store {
    /// Applies `delta` to the saved final state of `p` in one durable
    /// transaction. Refused with nothing written if it would move the final
    /// height back ([`StoreError::FinalHeightBack`]).
    pub fn save_final(&self, p: &PartnershipId, delta: &FinalDelta) -> Result<(), StoreError> {
        self.guarded("saving the final state", || {
            let txn = self.write_txn()?;
            self.write_final(&txn, p, delta)?;
            self.commit(txn, "committing the final state")
        })
    }

    /// Writes `delta` to the final state of `p` in `txn` (see
    /// [`Store::save_final`]).
    pub(super) fn write_final(
        &self,
        txn: &WriteTransaction,
        p: &PartnershipId,
        delta: &FinalDelta,
    ) -> Result<(), StoreError> {
        let mut meta = txn.open_table(FINAL_META).map_err(self.ctx("saving the final state"))?;
        if let Some(stored) = meta.get(&p.0).map_err(self.ctx("saving the final state"))? {
            let (stored, _) = decode_meta(p, stored.value()).map_err(|e| self.bad_meta(p, e))?;
            if delta.final_height < stored {
                return Err(StoreError::FinalHeightBack {
                    partnership: *p,
                    stored,
                    given: delta.final_height,
                });
            }
        }
        meta.insert(&p.0, encode_meta(p, delta.final_height, &delta.meta).as_slice())
            .map_err(self.ctx("saving the final state"))?;
        let mut roots = txn.open_table(FINAL_ROOTS).map_err(self.ctx("saving the final state"))?;
        match &delta.state_root {
            Some(root) => roots.insert(&p.0, root).map(drop),
            None => roots.remove(&p.0).map(drop),
        }
        .map_err(self.ctx("saving the final state"))?;
        let mut state = txn.open_table(FINAL_STATE).map_err(self.ctx("saving the final state"))?;
        let mut key = Vec::new();
        for (k, v) in &delta.writes {
            key.clear();
            key.extend_from_slice(&p.0);
            key.extend_from_slice(k);
            match v {
                Some(v) => {
                    state.insert(key.as_slice(), v.as_slice()).map_err(self.ctx("saving the final state"))?;
                }
                None => {
                    state.remove(key.as_slice()).map_err(self.ctx("saving the final state"))?;
                }
            }
        }
        Ok(())
    }

    /// The saved final state of `p`, or `None` if none was ever saved.
    pub fn load_final(&self, p: &PartnershipId) -> Result<Option<FinalSnapshot>, StoreError> {
        self.guarded("loading the final state", || {
            let txn = self.read_txn()?;
            let meta = txn.open_table(FINAL_META).map_err(self.ctx("loading the final state"))?;
            let Some(record) = meta.get(&p.0).map_err(self.ctx("loading the final state"))? else {
                return Ok(None);
            };
            let (final_height, meta) = decode_meta(p, record.value()).map_err(|e| self.bad_meta(p, e))?;
            let table = txn.open_table(FINAL_STATE).map_err(self.ctx("loading the final state"))?;
            let start = state_key(p, &[]);
            let range = match prefix_end(p) {
                Some(end) => table.range::<&[u8]>(start.as_slice()..end.as_slice()),
                None => table.range::<&[u8]>(start.as_slice()..),
            }
            .map_err(self.ctx("loading the final state"))?;
            let mut state = Vec::new();
            for entry in range {
                let (key, value) = entry.map_err(self.ctx("loading the final state"))?;
                state.push((key.value()[32..].to_vec(), value.value().to_vec()));
            }
            let roots = txn.open_table(FINAL_ROOTS).map_err(self.ctx("loading the final state"))?;
            let state_root =
                roots.get(&p.0).map_err(self.ctx("loading the final state"))?.map(|r| *r.value());
            Ok(Some(FinalSnapshot { final_height, state, meta: meta.to_vec(), state_root }))
        })
    }
}

impl Store {
    /// A `final_meta` record of `p` that does not check or decode.
    pub(super) fn bad_meta(&self, p: &PartnershipId, detail: String) -> StoreError {
        self.corrupt(format!("the snapshot record of partnership {p}: {detail}"))
    }

    /// The ops of `p` stored late, at or below its archive horizon and not
    /// archived since, with their heights, in `(height, id)` order: with the
    /// ops above the horizon, what a restart from a ledger's graph summary
    /// replays (the summary was saved before the store archived).
    pub fn late_ops_of(&self, p: &PartnershipId) -> Result<Vec<(u64, SignedOp)>, StoreError> {
        let late = self.guarded("reading late ops", || {
            let txn = self.read_txn()?;
            self.late_ops(&txn, p)
        })?;
        let mut out = Vec::with_capacity(late.len());
        for (height, id) in late {
            let (stored, op) = self
                .get_op(p, &id)?
                .ok_or_else(|| self.corrupt(format!("the late op {id} is listed but not stored")))?;
            if stored != height {
                return Err(
                    self.corrupt(format!("the late op {id} is listed at {height}, stored at {stored}"))
                );
            }
            out.push((height, op));
        }
        Ok(out)
    }
}
