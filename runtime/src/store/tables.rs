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
//! | table                    | key                                               | value                          |
//! |--------------------------|---------------------------------------------------|--------------------------------|
//! | `schema`                 | `"version"`                                       | schema version (u64)           |
//! | `ops`                    | partnership(32) ‖ height(8) ‖ op id(32)           | canonical signed op            |
//! | `partnerships`           | partnership(32)                                   | the key's checksum (u64)       |
//! | `final_state`            | partnership(32) ‖ state key                       | state value                    |
//! | `final_meta`             | partnership(32)                                   | final height(8) ‖ ledger meta ✓ |
//! | `code`                   | code hash(32)                                     | WASM bytes                     |
//! | `archive_meta`           | partnership(32)                                   | archive horizon(8) ✓           |
//! | `archived_author_blocks` | partnership(32) ‖ author(32) ‖ seq(8) ‖ op id(32) | block of (seq, op id, height) ✓ |
//! | `archived_id_blocks`     | partnership(32) ‖ run(8) ‖ op id(32)              | block of (op id, height) ✓     |
//! | `archived_runs`          | partnership(32) ‖ run(8)                          | level(8) ‖ entry count(8) ✓    |
//! | `late_ops`               | partnership(32) ‖ height(8) ‖ op id(32)           | unit                           |
//! | `compacted`              | partnership(32)                                   | checkpoint(8) ‖ done upto(8) ‖ certificate ✓ |
//! | `resting`                | partnership(32)                                   | final height(8) ‖ node's record ✓ |
//! | `final_roots`            | partnership(32)                                   | final state's root(32)         |
//!
//! ✓: the value is followed by its checksum (`checksum.rs`, schema 9), as
//! is a compacted op's tombstone in `ops`; the rest check themselves (an
//! op against its id, code against its hash, the final state against the
//! root in `final_roots`, which the ledger checks).
//!
//! `archive_meta`, the `archived_*` tables and `late_ops` hold the archived
//! op index (schema 5, `archive.rs`): the
//! index entries of ops at or below a partnership's archive horizon, moved
//! out of memory by [`Store::archive_below`](super::Store::archive_below).
//! Its entries are packed into blocks of up to 128, one redb value each
//! (layouts in `block.rs`), keyed by the block's first entry: an author's
//! blocks by `(seq, op id)` of their first entry, in seq order; a run's
//! blocks by the first op id, in id order. `archived_id_blocks` is a set
//! of sorted runs, each written once in key order at the end of the
//! partnership's range and merged size-tiered; `late_ops` lists ops
//! appended at or below the horizon that are still indexed in memory, so a
//! restart finds them (the tail read starts above the horizon).
//!
//! Schema 6 added `compacted` (`compact.rs`), with the op encoding
//! version 3 (a charter's `checkpoint_every`). Schema 7 added `resting`
//! (`resting.rs`): an older node would append ops without clearing a
//! partnership's mark, so it must not open a file that has them. Schema 8
//! added `final_roots` (`snapshot.rs`): an older node would save a final
//! state without its root, and the next load would take the stale root for
//! damage. Schema 9 added the checksums (`upgrade.rs` rewrites an older
//! file's records with them): an older node would read a checksum as part
//! of the value.
//!
//! Schema 5 was never released with one key per entry (`archived_authors`,
//! `archived_ids`, value a height): the blocks replaced them the day they
//! were written, under the same schema number.

use redb::{TableDefinition, TableHandle};

use super::checksum;
use crate::op::{MemberId, OpId, PartnershipId};

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
/// Each partnership's archive horizon (a checked u64, `archive.rs`): every
/// op at or below it that is not in `late_ops` is indexed in the
/// `archived_*` tables, not in memory.
pub(crate) const ARCHIVE_META: TableDefinition<&'static [u8; 32], &'static [u8]> =
    TableDefinition::new("archive_meta");
/// Schemas 5 to 8's `archive_meta`, the horizon without a checksum:
/// rewritten checked by the upgrade to schema 9.
pub(crate) const LEGACY_ARCHIVE_META: TableDefinition<&'static [u8; 32], u64> =
    TableDefinition::new("archive_meta");
/// Archived ops by author: blocks of `(seq, op id, height)` keyed by the
/// author and the `(seq, op id)` of their first entry (`block.rs`).
pub(crate) const ARCHIVED_AUTHOR_BLOCKS: TableDefinition<&'static AuthorKey, &'static [u8]> =
    TableDefinition::new("archived_author_blocks");
/// Archived ops by id: the runs of the archived id index, each as blocks of
/// `(op id, height)` keyed by the run and their first op id (`block.rs`).
pub(crate) const ARCHIVED_ID_BLOCKS: TableDefinition<&'static RunIdKey, &'static [u8]> =
    TableDefinition::new("archived_id_blocks");
/// The runs of `archived_ids`: `(level, entry count)` of each, checked
/// (`archive.rs`).
pub(crate) const ARCHIVED_RUNS: TableDefinition<&'static RunKey, &'static [u8]> =
    TableDefinition::new("archived_runs");
/// Schemas 5 to 8's `archived_runs`, without a checksum: rewritten
/// checked by the upgrade to schema 9.
pub(crate) const LEGACY_ARCHIVED_RUNS: TableDefinition<&'static RunKey, (u64, u64)> =
    TableDefinition::new("archived_runs");
/// Each partnership's compaction (`compact.rs`): the checkpoint, how far
/// deletion got, and the checkpoint's certificate.
pub(crate) const COMPACTED: TableDefinition<&'static [u8; 32], &'static [u8]> =
    TableDefinition::new("compacted");
/// Each resting partnership's mark (`resting.rs`): the final height it
/// was taken at and the node's record of the partnership there.
pub(crate) const RESTING: TableDefinition<&'static [u8; 32], &'static [u8]> = TableDefinition::new("resting");
/// Each partnership's final state root as its ledger saved it with the
/// snapshot (`snapshot.rs`): what a load checks the stored state against.
pub(crate) const FINAL_ROOTS: TableDefinition<&'static [u8; 32], &'static [u8; 32]> =
    TableDefinition::new("final_roots");
/// Ops appended at or below the archive horizon and not archived yet.
pub(crate) const LATE_OPS: TableDefinition<&'static OpKey, ()> = TableDefinition::new("late_ops");

/// `partnership ‖ height ‖ op id`.
pub(crate) type OpKey = [u8; 72];
/// `partnership ‖ author ‖ seq ‖ op id`: the key of `archived_author_blocks`
/// (the first entry of a block) and of the legacy `author_index` table.
pub(crate) type AuthorKey = [u8; 104];
/// `partnership ‖ run ‖ op id`: the key of `archived_id_blocks` (the first
/// id of a block).
pub(crate) type RunIdKey = [u8; 72];
/// `partnership ‖ run`: the key of `archived_runs`.
pub(crate) type RunKey = [u8; 40];

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

/// An [`AuthorKey`].
pub(crate) fn author_key(p: &PartnershipId, author: &MemberId, seq: u64, id: &OpId) -> AuthorKey {
    let mut key = [0u8; 104];
    key[..32].copy_from_slice(&p.0);
    key[32..64].copy_from_slice(&author.0);
    key[64..72].copy_from_slice(&seq.to_be_bytes());
    key[72..].copy_from_slice(&id.0);
    key
}

/// Splits an [`AuthorKey`] into its author, seq and op id.
pub(crate) fn split_author_key(key: &AuthorKey) -> (MemberId, u64, OpId) {
    let mut author = [0u8; 32];
    author.copy_from_slice(&key[32..64]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[64..72]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[72..]);
    (MemberId(author), u64::from_be_bytes(seq), OpId(id))
}

/// The first and last possible [`AuthorKey`] of `author` in `p` with a seq
/// in `seqs`.
pub(crate) fn author_keys(
    p: &PartnershipId,
    author: &MemberId,
    seqs: &std::ops::RangeInclusive<u64>,
) -> (AuthorKey, AuthorKey) {
    (
        author_key(p, author, *seqs.start(), &OpId([0; 32])),
        author_key(p, author, *seqs.end(), &OpId([0xff; 32])),
    )
}

/// A [`RunIdKey`].
pub(crate) fn run_id_key(p: &PartnershipId, run: u64, id: &OpId) -> RunIdKey {
    let mut key = [0u8; 72];
    key[..32].copy_from_slice(&p.0);
    key[32..40].copy_from_slice(&run.to_be_bytes());
    key[40..].copy_from_slice(&id.0);
    key
}

/// The first and last possible [`RunIdKey`] of run `run` of `p`.
pub(crate) fn run_id_keys(p: &PartnershipId, run: u64) -> (RunIdKey, RunIdKey) {
    (run_id_key(p, run, &OpId([0; 32])), run_id_key(p, run, &OpId([0xff; 32])))
}

/// A [`RunKey`].
pub(crate) fn run_key(p: &PartnershipId, run: u64) -> RunKey {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&p.0);
    key[32..].copy_from_slice(&run.to_be_bytes());
    key
}

/// The run number of a [`RunKey`].
pub(crate) fn split_run_key(key: &RunKey) -> u64 {
    let mut run = [0u8; 8];
    run.copy_from_slice(&key[32..]);
    u64::from_be_bytes(run)
}

/// The id of a [`RunIdKey`] (an [`OpKey`] with the run in place of the
/// height splits the same way).
pub(crate) fn split_run_id_key(key: &RunIdKey) -> OpId {
    split_op_key(key).1
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
    successor(p.0)
}

/// The next 32 bytes in byte order, or `None` after all `0xff`.
pub(crate) fn successor(mut bytes: [u8; 32]) -> Option<[u8; 32]> {
    for byte in bytes.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(bytes);
        }
    }
    None
}

/// `final height ‖ meta`, checked (`checksum.rs`): the value of
/// `final_meta` for `p`.
pub(crate) fn encode_meta(p: &PartnershipId, final_height: u64, meta: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + meta.len());
    value.extend_from_slice(&final_height.to_be_bytes());
    value.extend_from_slice(meta);
    checksum::seal(FINAL_META.name(), &p.0, &value)
}

/// Splits the `final_meta` value of `p` into the final height and the
/// ledger's meta; what is wrong if its checksum does not check or it is
/// shorter than a height.
pub(crate) fn decode_meta<'v>(p: &PartnershipId, stored: &'v [u8]) -> Result<(u64, &'v [u8]), String> {
    let value = checksum::open(FINAL_META.name(), &p.0, stored)?;
    let (height, meta) =
        value.split_first_chunk::<8>().ok_or_else(|| "the snapshot record is too short".to_owned())?;
    Ok((u64::from_be_bytes(*height), meta))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
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
    fn archive_keys_sort_by_partnership_then_run_or_author_then_seq() {
        let (p, q) = (PartnershipId([1; 32]), PartnershipId([2; 32]));
        let a = run_id_key(&p, 1, &OpId([0xff; 32]));
        let b = run_id_key(&p, 2, &OpId([0; 32]));
        assert!(a < b && b < run_id_key(&q, 0, &OpId([0; 32])));
        assert_eq!(split_run_id_key(&b), OpId([0; 32]));
        let (first, last) = run_id_keys(&p, 2);
        assert!(a < first && first <= b && last < run_id_key(&p, 3, &OpId([0; 32])));
        assert!(run_key(&p, 1) < run_key(&p, 2) && run_key(&p, u64::MAX) < run_key(&q, 0));
        assert_eq!(split_run_key(&run_key(&p, 7)), 7);
        let (alice, bob) = (MemberId([1; 32]), MemberId([2; 32]));
        let k = author_key(&p, &alice, 3, &OpId([9; 32]));
        assert!(author_key(&p, &alice, 2, &OpId([0xff; 32])) < k);
        assert!(k < author_key(&p, &bob, 0, &OpId([0; 32])));
        assert_eq!(split_author_key(&k), (alice, 3, OpId([9; 32])));
        let (first, last) = author_keys(&p, &alice, &(3..=4));
        assert!(first <= k && k <= last && last < author_key(&p, &alice, 5, &OpId([0; 32])));
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
    fn meta_round_trips_and_short_or_damaged_values_are_refused() {
        let p = PartnershipId([3; 32]);
        let value = encode_meta(&p, 42, b"ledger");
        assert_eq!(decode_meta(&p, &value), Ok((42, &b"ledger"[..])));
        assert!(decode_meta(&PartnershipId([4; 32]), &value).is_err(), "another partnership's record");
        assert!(decode_meta(&p, &[1, 2, 3]).is_err());
        let short = checksum::seal(FINAL_META.name(), &p.0, &[1, 2, 3]);
        assert!(decode_meta(&p, &short).unwrap_err().contains("too short"));
        let mut damaged = value;
        damaged[3] ^= 1;
        assert!(decode_meta(&p, &damaged).unwrap_err().contains("checksum"));
    }
}
