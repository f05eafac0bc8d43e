//! The tables of the database file and how their keys are laid out.
//!
//! Fixed-size keys are `&[u8; N]`, whose comparison is a plain byte
//! comparison (redb's generic `[T; N]` compares and copies element by
//! element; the two share one on-disk encoding).
//!
//! This is the on-disk format: changing a table's name, key or value type, or
//! a key layout, changes [`SCHEMA_VERSION`](super::SCHEMA_VERSION). Every
//! multi-byte integer in a key is big-endian so that redb's byte-wise key
//! order is the numeric order, and every key starts with the partnership id so
//! one partnership's records are one contiguous range.
//!
//! | table            | key                                             | value                          |
//! |------------------|-------------------------------------------------|--------------------------------|
//! | `schema`         | `"version"`                                     | schema version (u64)           |
//! | `ops`            | partnership(32) ‖ height(8) ‖ op id(32)         | canonical signed op            |
//! | `partnerships`   | partnership(32)                                 | unused (0; schema 2: op count) |
//! | `final_state`    | partnership(32) ‖ state key                     | state value                    |
//! | `final_meta`     | partnership(32)                                 | final height(8) ‖ ledger meta  |
//! | `code`           | code hash(32)                                   | WASM bytes                     |

use redb::TableDefinition;

#[cfg(test)]
use crate::op::MemberId;
use crate::op::{OpId, PartnershipId};

pub(crate) const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
pub(crate) const SCHEMA_KEY: &str = "version";

pub(crate) const OPS: TableDefinition<&'static OpKey, &'static [u8]> = TableDefinition::new("ops");
/// Schema 1's index of op id → height, dropped by schema 2: a table keyed
/// by random op ids is written at random places, and at a million ops every
/// batch rewrote about one page per op. The store keeps that index in memory
/// instead (`ops.rs`).
pub(crate) const LEGACY_OP_INDEX: TableDefinition<&'static [u8; 64], u64> = TableDefinition::new("op_index");
/// Schemas 1 to 3's index of each author's ops, dropped by schema 4: its
/// keys sort by author, so a commit of ops from several authors wrote a
/// page per author (about a third of a commit's page writes in a quiet
/// partnership). The store keeps each author's `(seq, height)` list in
/// memory instead, built from `ops` (`ops.rs`).
pub(crate) const LEGACY_AUTHOR_INDEX: TableDefinition<&'static AuthorKey, u64> =
    TableDefinition::new("author_index");
/// Schema 2's highest seq per author, dropped by schema 3 along with the op
/// count in `partnerships`: both follow from the ops, and every
/// commit rewrote their pages. The store keeps them in memory with the op
/// id index instead (`ops.rs`).
pub(crate) const LEGACY_AUTHOR_SEQS: TableDefinition<&'static [u8; 64], u64> =
    TableDefinition::new("author_seqs");
pub(crate) const PARTNERSHIPS: TableDefinition<&'static [u8; 32], u64> = TableDefinition::new("partnerships");
pub(crate) const FINAL_STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("final_state");
pub(crate) const FINAL_META: TableDefinition<&'static [u8; 32], &'static [u8]> =
    TableDefinition::new("final_meta");
pub(crate) const CODE: TableDefinition<&'static [u8; 32], &'static [u8]> = TableDefinition::new("code");

/// `partnership ‖ height ‖ op id`.
pub(crate) type OpKey = [u8; 72];
/// `partnership ‖ author ‖ seq ‖ op id`: the key of the legacy
/// `author_index` table.
pub(crate) type AuthorKey = [u8; 104];

pub(crate) fn op_key(p: &PartnershipId, height: u64, id: &OpId) -> OpKey {
    let mut key = [0u8; 72];
    key[..32].copy_from_slice(&p.0);
    key[32..40].copy_from_slice(&height.to_be_bytes());
    key[40..].copy_from_slice(&id.0);
    key
}

/// Splits an [`OpKey`] into its height and op id.
pub(crate) fn split_op_key(key: &OpKey) -> (u64, OpId) {
    let mut height = [0u8; 8];
    height.copy_from_slice(&key[32..40]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[40..]);
    (u64::from_be_bytes(height), OpId(id))
}

/// The last possible [`OpKey`] of a partnership.
pub(crate) fn op_key_max(p: &PartnershipId) -> OpKey {
    op_key(p, u64::MAX, &OpId([0xff; 32]))
}

/// The first and last possible [`OpKey`] at `height` of `p`: the bounds of
/// the ops at one height.
pub(crate) fn op_keys_at(p: &PartnershipId, height: u64) -> (OpKey, OpKey) {
    (op_key(p, height, &OpId([0; 32])), op_key(p, height, &OpId([0xff; 32])))
}

/// An `author_index` key, for tests that write files of the older schemas.
#[cfg(test)]
pub(crate) fn author_key(p: &PartnershipId, author: &MemberId, seq: u64, id: &OpId) -> AuthorKey {
    let mut key = [0u8; 104];
    key[..32].copy_from_slice(&p.0);
    key[32..64].copy_from_slice(&author.0);
    key[64..72].copy_from_slice(&seq.to_be_bytes());
    key[72..].copy_from_slice(&id.0);
    key
}

/// `partnership ‖ state key`.
pub(crate) fn state_key(p: &PartnershipId, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + key.len());
    out.extend_from_slice(&p.0);
    out.extend_from_slice(key);
    out
}

/// The first 32-byte prefix after `p`, or `None` if `p` is all `0xff`: the
/// exclusive end of `p`'s range in a table keyed by `p ‖ …`.
pub(crate) fn prefix_end(p: &PartnershipId) -> Option<[u8; 32]> {
    let mut end = p.0;
    for byte in end.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(end);
        }
    }
    None
}

/// `final height ‖ meta`, the value of `final_meta`.
pub(crate) fn encode_meta(final_height: u64, meta: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + meta.len());
    out.extend_from_slice(&final_height.to_be_bytes());
    out.extend_from_slice(meta);
    out
}

/// Splits a `final_meta` value; `None` if it is shorter than 8 bytes.
pub(crate) fn decode_meta(value: &[u8]) -> Option<(u64, &[u8])> {
    let (height, meta) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*height), meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_keys_sort_by_height_then_id() {
        let p = PartnershipId([1; 32]);
        let a = op_key(&p, 1, &OpId([0xff; 32]));
        let b = op_key(&p, 2, &OpId([0; 32]));
        let c = op_key(&p, 2, &OpId([1; 32]));
        assert!(a < b && b < c);
        assert!(c < op_key_max(&p));
        assert_eq!(split_op_key(&c), (2, OpId([1; 32])));
        assert!(op_key_max(&p) < op_key(&PartnershipId([2; 32]), 0, &OpId([0; 32])));
        let (first, last) = op_keys_at(&p, 2);
        assert!(a < first && first <= b && c <= last && last < op_key(&p, 3, &OpId([0; 32])));
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(&PartnershipId([0xff; 32])), None);
        let mut p = [0u8; 32];
        p[31] = 0xff;
        p[30] = 7;
        let end = prefix_end(&PartnershipId(p)).expect("has an end");
        assert_eq!((end[30], end[31]), (8, 0));
    }

    #[test]
    fn meta_round_trips_and_short_values_are_refused() {
        let value = encode_meta(42, b"ledger");
        assert_eq!(decode_meta(&value), Some((42, &b"ledger"[..])));
        assert_eq!(decode_meta(&[1, 2, 3]), None);
    }
}
