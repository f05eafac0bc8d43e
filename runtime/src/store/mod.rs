//! Persistence: the node's redb database of ops, final state and module code.
//!
//! Ops are the source of truth. A node appends each batch of accepted ops
//! with [`Store::append_ops`], one durable transaction (fsync, two-phase
//! commit), *before* it reports them accepted or gossips them on. Everything
//! else is derived: the ledger saves the final state incrementally with
//! [`Store::save_final`], so a restart loads the snapshot
//! ([`Store::load_final`]) and replays only the ops above its final height
//! ([`Store::iter_ops`]), in the order `(height, op id)`.
//!
//! The index that finds ops by id and by author is kept in memory for the
//! ops above a partnership's archive horizon and on disk below it: the
//! caller moves final ops' entries out of memory with
//! [`Store::archive_below`], so memory stays flat as history grows.
//!
//! Guarantees:
//! - a write method that returned `Ok` survives a crash or a power loss; one
//!   that returned `Err` (or never returned) left nothing partial: after a
//!   restart a batch of ops is wholly present or wholly absent, and the
//!   snapshot is the old one or the new one, never a mix;
//! - a truncated, overwritten or foreign file is refused with a
//!   [`StoreError`] that names the file, never a panic and never a silent
//!   re-initialisation or rollback;
//! - a damaged record is refused when it is read, with or without the
//!   check of the whole file at open ([`StoreOptions::verify_on_open`]):
//!   ops are checked against their id, module code against its hash, and
//!   every other record the store writes against its checksum
//!   (`checksum.rs`), except the final state's values, which the ledger
//!   checks against the root saved with them ([`FinalSnapshot::state_root`]).
//!
//! This module does not decide what is accepted (the `dag` does), what state
//! is (the `ledger`), or when to save it.
//!
//! ```
//! # fn main() -> Result<(), polypact::store::StoreError> {
//! use polypact::store::{FinalDelta, Store};
//! use polypact::op::PartnershipId;
//!
//! let store = Store::open_in_memory()?;
//! let p = PartnershipId([7; 32]);
//! let writes = vec![(b"k".to_vec(), Some(b"v".to_vec()))];
//! let root = Some([1; 32]); // the ledger's root of the state after `writes`
//! store.save_final(&p, &FinalDelta { final_height: 3, writes, meta: vec![], state_root: root })?;
//! let snapshot = store.load_final(&p)?.expect("saved");
//! assert_eq!(snapshot.state, vec![(b"k".to_vec(), b"v".to_vec())]);
//! assert_eq!(snapshot.state_root, root);
//! # Ok(())
//! # }
//! ```

mod archive;
mod block;
mod checksum;
mod code;
mod compact;
mod db;
mod error;
mod ops;
mod resting;
mod scrub;
mod snapshot;
mod tables;
mod upgrade;

#[cfg(test)]
mod tests;

pub use compact::{CompactStep, Compaction};
pub use db::{DEFAULT_CACHE_MIB, Store, StoreOptions};
pub use error::{SCHEMA_VERSION, StoreError};
pub use ops::{OpCursor, OpPage, OpsIter};
pub use resting::RestingMark;
pub use scrub::{Damage, ScrubReport, StateRootFn};
pub use snapshot::{FinalDelta, FinalSnapshot};
