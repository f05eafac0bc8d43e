//! The packed values of the archived op index: blocks of up to [`BLOCK`]
//! entries, each block one redb value (see `archive.rs` for why).
//!
//! Two layouts, fixed-size fields, integers big-endian, no header (the key
//! of a block names its first entry, and the length gives the count):
//!
//! - an *id block* (`archived_id_blocks`): `n × (op id(32) ‖ height(8))`,
//!   ids strictly ascending;
//! - an *author block* (`archived_author_blocks`): `n × (seq(8) ‖ op id(32)
//!   ‖ height(8))`, `(seq, op id)` strictly ascending (an author who
//!   equivocated has several entries for one seq).
//!
//! In both, `1 ≤ n ≤ BLOCK` and the first entry is the one the block's key
//! names. The stored value is the block followed by its checksum
//! (`checksum.rs`; [`seal_ids`], [`open_ids`] and the author pair).
//! Decoding checks all of that and says what is wrong; the caller
//! turns it into [`StoreError::Corrupt`](super::StoreError::Corrupt) naming
//! the partnership, so a damaged block is refused, never a panic.

use std::ops::RangeInclusive;

use redb::TableHandle;

use super::checksum;
use super::tables::{
    ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, AuthorKey, RunIdKey, split_author_key, split_run_id_key,
};
use crate::op::OpId;

/// The most entries a block holds. Measured with `cargo bench -p polypact
/// --bench archive` (100,000 ops archived in steps of 6,000): see the
/// decision "Archived op index" in `docs/decisions.md`.
pub(crate) const BLOCK: usize = 128;

/// Bytes of one entry of an id block: op id ‖ height.
const ID_ENTRY: usize = 40;
/// Bytes of one entry of an author block: seq ‖ op id ‖ height.
const AUTHOR_ENTRY: usize = 48;

/// One entry of an author block: `(seq, op id, height)`.
pub(crate) type AuthorEntry = (u64, OpId, u64);

/// An id block's bytes: `(op id, height)` entries in id order.
///
/// [`IdBlock::parse`] checks its shape in O(1) (whole entries, 1 to
/// [`BLOCK`] of them, the first the one its key names); the order of the
/// entries is checked by whatever reads them: all of them by
/// [`IdBlock::entries`], those on its path by [`IdBlock::height_of`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdBlock<'a> {
    bytes: &'a [u8],
}

impl<'a> IdBlock<'a> {
    /// Checks `bytes` as an id block whose key names `first`.
    pub(crate) fn parse(bytes: &'a [u8], first: &OpId) -> Result<IdBlock<'a>, String> {
        entry_count(bytes.len(), ID_ENTRY, "id")?;
        let block = IdBlock { bytes };
        if block.id(0) != first.0 {
            return Err(format!("an id block keyed by op {first} starts with op {}", block.entry(0).0));
        }
        Ok(block)
    }

    /// How many entries it holds (at least one).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / ID_ENTRY
    }

    /// The id of entry `i` (`i < len`).
    fn id(&self, i: usize) -> &'a [u8] {
        &self.bytes[i * ID_ENTRY..i * ID_ENTRY + 32]
    }

    /// Entry `i` (`i < len`).
    pub(crate) fn entry(&self, i: usize) -> (OpId, u64) {
        let at = i * ID_ENTRY;
        let mut id = [0u8; 32];
        id.copy_from_slice(self.id(i));
        (OpId(id), be_u64(&self.bytes[at + 32..at + ID_ENTRY]))
    }

    /// Every entry, checked to be in strictly ascending id order.
    pub(crate) fn entries(&self) -> Result<Vec<(OpId, u64)>, String> {
        if let Some(i) = (1..self.len()).find(|&i| self.id(i - 1) >= self.id(i)) {
            return Err(self.disorder(i));
        }
        Ok((0..self.len()).map(|i| self.entry(i)).collect())
    }

    /// The height of `id`, if the block holds it: a binary search, which
    /// checks the order of the entries it meets.
    pub(crate) fn height_of(&self, id: &OpId) -> Result<Option<u64>, String> {
        let at = lower_bound(self.len(), |i| self.id(i), &&id.0[..]).map_err(|i| self.disorder(i))?;
        Ok((at < self.len() && self.id(at) == id.0).then(|| self.entry(at).1))
    }

    fn disorder(&self, i: usize) -> String {
        format!(
            "the id block of op {} is out of order at entry {i} (op {})",
            self.entry(0).0,
            self.entry(i).0
        )
    }
}

/// An author block's bytes: `(seq, op id, height)` entries in `(seq, id)`
/// order. Checked like [`IdBlock`]: the shape by [`AuthorBlock::parse`],
/// the order by the reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuthorBlock<'a> {
    bytes: &'a [u8],
}

impl<'a> AuthorBlock<'a> {
    /// Checks `bytes` as an author block whose key names `(seq, id)` as its
    /// first entry.
    pub(crate) fn parse(bytes: &'a [u8], first: (u64, &OpId)) -> Result<AuthorBlock<'a>, String> {
        entry_count(bytes.len(), AUTHOR_ENTRY, "author")?;
        let block = AuthorBlock { bytes };
        if block.key(0) != (first.0, &first.1.0[..]) {
            let (seq, id, _) = block.entry(0);
            return Err(format!(
                "an author block keyed by seq {} op {} starts with seq {seq} op {id}",
                first.0, first.1
            ));
        }
        Ok(block)
    }

    /// How many entries it holds (at least one).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / AUTHOR_ENTRY
    }

    /// The `(seq, id)` of entry `i` (`i < len`).
    fn key(&self, i: usize) -> (u64, &'a [u8]) {
        let at = i * AUTHOR_ENTRY;
        (be_u64(&self.bytes[at..at + 8]), &self.bytes[at + 8..at + 40])
    }

    /// Entry `i` (`i < len`).
    pub(crate) fn entry(&self, i: usize) -> AuthorEntry {
        let (seq, raw) = self.key(i);
        let mut id = [0u8; 32];
        id.copy_from_slice(raw);
        let at = i * AUTHOR_ENTRY;
        (seq, OpId(id), be_u64(&self.bytes[at + 40..at + AUTHOR_ENTRY]))
    }

    /// Every entry, checked to be in strictly ascending `(seq, id)` order.
    pub(crate) fn entries(&self) -> Result<Vec<AuthorEntry>, String> {
        if let Some(i) = (1..self.len()).find(|&i| self.key(i - 1) >= self.key(i)) {
            return Err(self.disorder(i));
        }
        Ok((0..self.len()).map(|i| self.entry(i)).collect())
    }

    /// The entries with a seq in `seqs`: a binary search for the first,
    /// then forward; the order of the entries met is checked.
    pub(crate) fn with_seqs(&self, seqs: &RangeInclusive<u64>) -> Result<Vec<AuthorEntry>, String> {
        let from = (*seqs.start(), &[0u8; 32][..]);
        let start = lower_bound(self.len(), |i| self.key(i), &from).map_err(|i| self.disorder(i))?;
        let mut out = Vec::new();
        for i in start..self.len() {
            if i > 0 && self.key(i - 1) >= self.key(i) {
                return Err(self.disorder(i));
            }
            let entry = self.entry(i);
            if entry.0 > *seqs.end() {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// The seq of its last entry (not below the first's).
    pub(crate) fn last_seq(&self) -> Result<u64, String> {
        let last = self.len() - 1;
        if self.key(last).0 < self.key(0).0 {
            return Err(self.disorder(last));
        }
        Ok(self.key(last).0)
    }

    fn disorder(&self, i: usize) -> String {
        let ((first_seq, first_id, _), (seq, id, _)) = (self.entry(0), self.entry(i));
        format!(
            "the author block of seq {first_seq} op {first_id} is out of order at entry {i} (seq {seq} op {id})"
        )
    }
}

/// The value of an id block holding `entries` (in id order, at most
/// [`BLOCK`]).
pub(crate) fn encode_ids(entries: &[(OpId, u64)]) -> Vec<u8> {
    debug_assert!(!entries.is_empty() && entries.len() <= BLOCK);
    let mut out = Vec::with_capacity(entries.len() * ID_ENTRY);
    for (id, height) in entries {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&height.to_be_bytes());
    }
    out
}

/// The value of an author block holding `entries` (in `(seq, id)` order,
/// at most [`BLOCK`]).
pub(crate) fn encode_authors(entries: &[AuthorEntry]) -> Vec<u8> {
    debug_assert!(!entries.is_empty() && entries.len() <= BLOCK);
    let mut out = Vec::with_capacity(entries.len() * AUTHOR_ENTRY);
    for (seq, id, height) in entries {
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&height.to_be_bytes());
    }
    out
}

/// The stored value of the id block under `key`: its entries (in id order,
/// at most [`BLOCK`], the first the one `key` names) and their checksum
/// (`checksum.rs`).
pub(crate) fn seal_ids(key: &RunIdKey, entries: &[(OpId, u64)]) -> Vec<u8> {
    checksum::seal(ARCHIVED_ID_BLOCKS.name(), key, &encode_ids(entries))
}

/// The id block stored under `key`, once its checksum checks and its shape
/// fits (see [`IdBlock::parse`]).
pub(crate) fn open_ids<'a>(key: &RunIdKey, stored: &'a [u8]) -> Result<IdBlock<'a>, String> {
    let bytes = checksum::open(ARCHIVED_ID_BLOCKS.name(), key, stored)?;
    IdBlock::parse(bytes, &split_run_id_key(key))
}

/// The stored value of the author block under `key`: its entries (in
/// `(seq, id)` order, at most [`BLOCK`], the first the one `key` names) and
/// their checksum.
pub(crate) fn seal_authors(key: &AuthorKey, entries: &[AuthorEntry]) -> Vec<u8> {
    checksum::seal(ARCHIVED_AUTHOR_BLOCKS.name(), key, &encode_authors(entries))
}

/// The author block stored under `key`, once its checksum checks and its
/// shape fits (see [`AuthorBlock::parse`]).
pub(crate) fn open_authors<'a>(key: &AuthorKey, stored: &'a [u8]) -> Result<AuthorBlock<'a>, String> {
    let bytes = checksum::open(ARCHIVED_AUTHOR_BLOCKS.name(), key, stored)?;
    let (_, seq, id) = split_author_key(key);
    AuthorBlock::parse(bytes, (seq, &id))
}

/// The first index of `0..n` whose key is not below `target`, by binary
/// search over keys that ascend strictly; `Err(i)` if the keys met on the
/// way do not (entry `i` is not between the keys met before it).
fn lower_bound<K: Ord>(n: usize, key: impl Fn(usize) -> K, target: &K) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, n);
    let (mut below, mut above): (Option<K>, Option<K>) = (None, None);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = key(mid);
        if below.as_ref().is_some_and(|b| *b >= at) || above.as_ref().is_some_and(|a| *a <= at) {
            return Err(mid);
        }
        if at < *target {
            lo = mid + 1;
            below = Some(at);
        } else {
            hi = mid;
            above = Some(at);
        }
    }
    Ok(lo)
}

/// How many entries of `size` bytes a block of `len` bytes holds, checked:
/// a whole number from 1 to [`BLOCK`].
fn entry_count(len: usize, size: usize, kind: &str) -> Result<usize, String> {
    if len == 0 || !len.is_multiple_of(size) || len / size > BLOCK {
        return Err(format!(
            "an {kind} block of {len} bytes: it must hold 1 to {BLOCK} entries of {size} bytes"
        ));
    }
    Ok(len / size)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    u64::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn id(n: u8) -> OpId {
        OpId([n; 32])
    }

    /// Ids in the order of `n`, for blocks of any size.
    fn nth(n: usize) -> OpId {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(n as u64).to_be_bytes());
        OpId(id)
    }

    #[test]
    fn id_blocks_round_trip_and_find_by_binary_search() {
        let entries: Vec<(OpId, u64)> = (0..BLOCK).map(|n| (nth(2 * n + 1), (n as u64) << 40)).collect();
        let bytes = encode_ids(&entries);
        assert_eq!(bytes.len(), BLOCK * 40);
        let block = IdBlock::parse(&bytes, &nth(1)).unwrap();
        assert_eq!(block.len(), BLOCK);
        assert_eq!(block.entries().unwrap(), entries);
        for &(at, height) in &entries {
            assert_eq!(block.height_of(&at), Ok(Some(height)));
        }
        // Before the first, between two, after the last.
        for absent in [0, 2, 2 * BLOCK] {
            assert_eq!(block.height_of(&nth(absent)), Ok(None), "{absent}");
        }
        let one = encode_ids(&[(id(9), 3)]);
        assert_eq!(IdBlock::parse(&one, &id(9)).unwrap().height_of(&id(9)), Ok(Some(3)));
    }

    #[test]
    fn malformed_id_blocks_are_refused() {
        let bytes = encode_ids(&[(id(1), 1), (id(2), 2)]);
        let refused = |bytes: &[u8], first: OpId| IdBlock::parse(bytes, &first).unwrap_err();
        assert!(refused(&[], id(1)).contains("0 bytes"));
        assert!(refused(&bytes[..41], id(1)).contains("41 bytes"));
        assert!(refused(&vec![0; 40 * (BLOCK + 1)], OpId([0; 32])).contains("1 to"));
        assert!(refused(&bytes, id(2)).contains("starts with"));
        // Out of order: refused by a read of every entry, and by a search
        // that meets the disorder.
        let swapped = encode_ids(&[(id(2), 1), (id(1), 2)]);
        let block = IdBlock::parse(&swapped, &id(2)).unwrap();
        assert!(block.entries().unwrap_err().contains("out of order at entry 1"));
        // A search below both meets entry 1, then entry 0 above it.
        assert!(block.height_of(&id(0)).unwrap_err().contains("out of order"));
        let twice = encode_ids(&[(id(1), 1), (id(1), 2)]);
        assert!(IdBlock::parse(&twice, &id(1)).unwrap().entries().unwrap_err().contains("out of order"));
    }

    #[test]
    fn a_search_checks_the_order_of_the_entries_it_meets() {
        let mut entries: Vec<(OpId, u64)> = (0..BLOCK).map(|n| (nth(n), 0)).collect();
        entries.swap(BLOCK / 4, BLOCK / 2);
        let bytes = encode_ids(&entries);
        let block = IdBlock::parse(&bytes, &nth(0)).unwrap();
        assert!(block.height_of(&nth(BLOCK / 4)).unwrap_err().contains("out of order"));
        assert!(block.entries().is_err());
    }

    #[test]
    fn stored_blocks_open_only_under_their_own_key_and_undamaged() {
        use crate::op::{MemberId, PartnershipId};
        use crate::store::tables::{author_key, run_id_key};
        let p = PartnershipId([5; 32]);
        let ids = [(id(1), 10), (id(2), 20)];
        let key = run_id_key(&p, 3, &id(1));
        let stored = seal_ids(&key, &ids);
        assert_eq!(open_ids(&key, &stored).unwrap().entries().unwrap(), ids);
        assert!(open_ids(&run_id_key(&p, 4, &id(1)), &stored).unwrap_err().contains("checksum"));
        let mut damaged = stored.clone();
        damaged[39] ^= 1; // the first entry's height
        assert!(open_ids(&key, &damaged).unwrap_err().contains("checksum"));
        let author = MemberId([6; 32]);
        let entries = [(4, id(1), 7), (5, id(2), 8)];
        let key = author_key(&p, &author, 4, &id(1));
        let stored = seal_authors(&key, &entries);
        assert_eq!(open_authors(&key, &stored).unwrap().entries().unwrap(), entries);
        assert!(open_authors(&author_key(&p, &author, 4, &id(3)), &stored).is_err());
        let mut damaged = stored;
        damaged[50] ^= 0x80;
        assert!(open_authors(&key, &damaged).unwrap_err().contains("checksum"));
    }

    #[test]
    fn author_blocks_round_trip_with_equivocations() {
        let entries: Vec<AuthorEntry> =
            vec![(3, id(9), 30), (4, id(1), 40), (4, id(2), 41), (7, id(0), 1), (u64::MAX, id(0), 7)];
        let bytes = encode_authors(&entries);
        assert_eq!(bytes.len(), 5 * 48);
        let block = AuthorBlock::parse(&bytes, (3, &id(9))).unwrap();
        assert_eq!(block.entries().unwrap(), entries);
        assert_eq!(block.last_seq(), Ok(u64::MAX));
        assert_eq!(block.with_seqs(&(4..=4)).unwrap(), entries[1..3]);
        assert_eq!(block.with_seqs(&(0..=3)).unwrap(), entries[..1]);
        assert_eq!(block.with_seqs(&(5..=6)).unwrap(), vec![]);
        assert_eq!(block.with_seqs(&(5..=u64::MAX)).unwrap(), entries[3..]);
        assert!(AuthorBlock::parse(&bytes, (3, &id(8))).unwrap_err().contains("starts with"));
        assert!(AuthorBlock::parse(&bytes[..47], (3, &id(9))).unwrap_err().contains("47 bytes"));
        assert!(AuthorBlock::parse(&[], (3, &id(9))).unwrap_err().contains("0 bytes"));
        let swapped = encode_authors(&[(4, id(2), 1), (4, id(1), 1)]);
        let block = AuthorBlock::parse(&swapped, (4, &id(2))).unwrap();
        assert!(block.entries().unwrap_err().contains("out of order"));
        assert!(block.with_seqs(&(4..=4)).unwrap_err().contains("out of order"));
        let backwards = encode_authors(&[(4, id(2), 1), (3, id(1), 1)]);
        assert!(AuthorBlock::parse(&backwards, (4, &id(2))).unwrap().last_seq().is_err());
        let too_many = encode_authors(&[(1, id(1), 1)]).repeat(BLOCK + 1);
        assert!(AuthorBlock::parse(&too_many, (1, &id(1))).unwrap_err().contains("1 to"));
    }
}
