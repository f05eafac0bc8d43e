//! Resting marks: the partnerships a node may leave unloaded when it starts.
//!
//! A node marks a partnership *resting* once it has nothing left to do in
//! it at its saved final height (every op final, nothing owed; the node's
//! rule). The mark is the final height it was taken at and the node's own
//! record (opaque bytes here: who takes part, who is bound where), which
//! is what a node serves and follows a partnership by until it loads the
//! ledger. The store keeps one invariant that makes a mark safe to trust:
//!
//! - **A mark never outlives a change of the ops.** Every commit that
//!   appends an op of a partnership deletes its mark in the same
//!   transaction ([`Store::append_ops_of_many`]), so a mark present at open
//!   describes exactly the ops stored.
//! - **A mark is taken over a saved snapshot.** [`Store::mark_resting`]
//!   refuses a height that is not the partnership's saved final height.
//!
//! This file owns the `resting` table. When a partnership may rest is the
//! node's rule (`node/resting.rs`); what its record holds is the node's.

use redb::{ReadableTable, TableHandle, WriteTransaction};

use super::checksum;
use super::db::Store;
use super::error::StoreError;
use super::tables::{FINAL_META, RESTING, decode_meta};
use crate::op::PartnershipId;

/// A partnership's resting mark, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestingMark {
    /// The saved final height the mark was taken at.
    pub final_height: u64,
    /// The node's record of the partnership at that height.
    pub record: Vec<u8>,
}

impl Store {
    /// Marks each of `marks` resting at its saved final height, in one
    /// durable commit. Refused as a whole ([`StoreError::RestingRefused`])
    /// if a height is not the partnership's saved final height.
    pub fn mark_resting(&self, marks: &[(PartnershipId, RestingMark)]) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        let what = "marking partnerships resting";
        self.guarded(what, || {
            let txn = self.write_txn()?;
            {
                let meta = txn.open_table(FINAL_META).map_err(self.ctx(what))?;
                let mut table = txn.open_table(RESTING).map_err(self.ctx(what))?;
                for (p, mark) in marks {
                    let saved = self.saved_final_height_in(&meta, p, what)?;
                    if saved != Some(mark.final_height) {
                        return Err(StoreError::RestingRefused(format!(
                            "partnership {p}: a mark at final height {} over a saved final height of {}",
                            mark.final_height,
                            saved.map_or_else(|| "none".to_owned(), |h| h.to_string())
                        )));
                    }
                    let mut value = Vec::with_capacity(8 + mark.record.len());
                    value.extend_from_slice(&mark.final_height.to_be_bytes());
                    value.extend_from_slice(&mark.record);
                    let sealed = checksum::seal(RESTING.name(), &p.0, &value);
                    table.insert(&p.0, sealed.as_slice()).map_err(self.ctx(what))?;
                }
            }
            self.commit(txn, what)
        })
    }

    /// The resting mark of `p`, if it has one. A mark that does not match
    /// its checksum, or is too short to hold its height, is refused
    /// ([`StoreError::Corrupt`]).
    pub fn resting_mark(&self, p: &PartnershipId) -> Result<Option<RestingMark>, StoreError> {
        let what = "reading a resting mark";
        self.guarded(what, || {
            let txn = self.read_txn()?;
            let table = txn.open_table(RESTING).map_err(self.ctx(what))?;
            let Some(value) = table.get(&p.0).map_err(self.ctx(what))? else { return Ok(None) };
            let malformed =
                |detail: String| self.corrupt(format!("the resting mark of partnership {p}: {detail}"));
            let bytes = checksum::open(RESTING.name(), &p.0, value.value()).map_err(malformed)?;
            let (height, record) =
                bytes.split_first_chunk::<8>().ok_or_else(|| malformed("it is too short".into()))?;
            Ok(Some(RestingMark { final_height: u64::from_be_bytes(*height), record: record.to_vec() }))
        })
    }

    /// The saved final height of `p` (`None` if no snapshot was saved),
    /// without reading the state.
    pub fn saved_final_height(&self, p: &PartnershipId) -> Result<Option<u64>, StoreError> {
        let what = "reading the final height";
        self.guarded(what, || {
            let txn = self.read_txn()?;
            let meta = txn.open_table(FINAL_META).map_err(self.ctx(what))?;
            self.saved_final_height_in(&meta, p, what)
        })
    }

    /// [`Store::saved_final_height`] from an open `final_meta` table.
    fn saved_final_height_in(
        &self,
        meta: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
        p: &PartnershipId,
        what: &str,
    ) -> Result<Option<u64>, StoreError> {
        let Some(record) = meta.get(&p.0).map_err(self.ctx(what))? else { return Ok(None) };
        decode_meta(p, record.value()).map(|(height, _)| Some(height)).map_err(|e| self.bad_meta(p, e))
    }

    /// Deletes the resting marks of `partnerships` within `txn` (a commit
    /// that appends their ops).
    pub(super) fn unmark_resting_in<'a>(
        &self,
        txn: &WriteTransaction,
        partnerships: impl IntoIterator<Item = &'a PartnershipId>,
    ) -> Result<(), StoreError> {
        let what = "clearing resting marks";
        let mut table = txn.open_table(RESTING).map_err(self.ctx(what))?;
        for p in partnerships {
            table.remove(&p.0).map_err(self.ctx(what))?;
        }
        Ok(())
    }
}
