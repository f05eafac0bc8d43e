//! When a partnership may rest: be left unloaded at the node's next start
//! and loaded on its first use (`node/ledgers.rs`).
//!
//! A node in a thousand partnerships is idle in most of them. At each
//! snapshot tick it looks at the partnerships whose stored ops changed
//! since it last marked them, and marks resting (`Store::mark_resting`,
//! with the partnership's [`Standing`]) each one it has nothing left to do
//! in at its saved final height:
//!
//! - every op that carries a payload is final (what is not final yet is
//!   structural, acks mostly, which change no state: an idle
//!   partnership's last acks wait for its next op), none waits for
//!   parents, and the final snapshot is saved at the final height;
//! - the member owes no ack and holds no ack uncommitted;
//! - nothing between partnerships is owed: no attestation left to look
//!   at, no delivery waiting from or to it (`node/crossing.rs`);
//! - no compaction step is due (`node/compaction.rs`);
//! - with a network half: no rekey is wanted, the member, if active, has
//!   bound a peer id (duties the half does only with the ledger), and the
//!   half has taken in the partnership's last change (it follows and
//!   compares from the change).
//!
//! A partnership that is not quiet yet is looked at again on the next
//! tick. The store clears a mark in the commit that appends any op of its
//! partnership, so a mark never describes other ops than those stored;
//! and a start trusts a mark only at the saved final height it was taken
//! at. Everything else (a peer's gossip or sync, a client's read, a
//! message from another partnership) loads the ledger where it is needed.
//!
//! A start with a mark it cannot use (malformed, or at another height)
//! loads the ledger, as it would without one: a mark only ever saves work.

use super::core::{NodeCore, NodeLedger};
use super::error::NodeError;
use super::ledgers::Standing;
use crate::op::PartnershipId;
use crate::store::{RestingMark, Store, StoreError};

impl NodeCore {
    /// Marks resting every partnership due a look that is quiet (see the
    /// module doc), in one store commit; the others stay due.
    pub(crate) fn mark_quiet_partnerships(&mut self) -> Result<(), NodeError> {
        let due = std::mem::take(&mut self.rest_due);
        let mut marks = Vec::new();
        for partnership in due {
            let standing = self.quiet_standing(&partnership);
            // The saved snapshot's height: a final height that moved over
            // acks alone wrote nothing, and a start replays those acks.
            let saved = match standing {
                Some(_) => self.store().saved_final_height(&partnership)?,
                None => None,
            };
            match (standing, saved) {
                (Some(standing), Some(final_height)) => {
                    marks.push((partnership, RestingMark { final_height, record: standing.encode() }));
                }
                _ if self.holds(&partnership) => {
                    self.rest_due.insert(partnership);
                }
                _ => {}
            }
        }
        match self.store().mark_resting(&marks) {
            Ok(()) => Ok(()),
            Err(StoreError::RestingRefused(reason)) => {
                // Not expected (the heights were read just now); never
                // worth stopping the node for: looked at again next tick.
                tracing::warn!(%reason, "partnerships could not be marked resting");
                self.rest_due.extend(marks.into_iter().map(|(p, _)| p));
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The standing `partnership` rests with, if it is quiet now.
    fn quiet_standing(&self, partnership: &PartnershipId) -> Option<Standing> {
        let ledger = self.ledgers.loaded(partnership)?;
        let quiet = ledger.tail_is_structural()
            && ledger.pending().is_empty()
            && !self.unsnapshotted.contains(partnership)
            && !self.owes_or_holds_acks(partnership)
            && !self.crossing_work_in(partnership)
            && !self.compaction.due.contains(partnership)
            && (!self.networked || self.network_duties_done(partnership, ledger));
        quiet.then(|| Standing::of(ledger))
    }

    /// Whether the network half has taken in `partnership`'s last change,
    /// wants no rekey in it, and has bound the member's peer id there if
    /// the member is active.
    fn network_duties_done(&self, partnership: &PartnershipId, ledger: &NodeLedger) -> bool {
        let state = ledger.optimistic_state();
        let member = self.member();
        !self.touched.contains(partnership)
            && !super::network::wants_rekey(ledger)
            && state
                .participant(&member)
                .is_none_or(|record| !record.is_active() || state.bound_peer(&member).is_some())
    }
}

/// The standing `partnership` rests with in `store`, if it has a mark a
/// start may trust; `Ok(None)` to load its ledger (no mark, or one that
/// is malformed or at another height than the saved snapshot, logged).
pub(crate) fn resting_standing(
    store: &Store,
    partnership: &PartnershipId,
) -> Result<Option<Standing>, NodeError> {
    let read = || -> Result<Option<(RestingMark, Option<u64>)>, StoreError> {
        let Some(mark) = store.resting_mark(partnership)? else { return Ok(None) };
        Ok(Some((mark, store.saved_final_height(partnership)?)))
    };
    let (mark, saved) = match read() {
        Ok(Some(read)) => read,
        Ok(None) => return Ok(None),
        // A damaged mark or snapshot record: a load that meets the same
        // damage fails this partnership alone.
        Err(error @ StoreError::Corrupt { .. }) => {
            tracing::warn!(partnership = %partnership.short(), %error, "a resting mark, or the snapshot it stands on, cannot be read; loading the ledger");
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    if saved != Some(mark.final_height) {
        tracing::warn!(
            partnership = %partnership.short(),
            mark = mark.final_height,
            ?saved,
            "a resting mark is not at the saved final height; loading the ledger"
        );
        return Ok(None);
    }
    match Standing::decode(&mark.record) {
        Ok(standing) => Ok(Some(standing)),
        Err(reason) => {
            tracing::warn!(partnership = %partnership.short(), %reason, "a resting mark cannot be used; loading the ledger");
            Ok(None)
        }
    }
}
