//! Ops on disk: appending accepted ops, reading them back in order, by id and
//! by author.
//!
//! The store keeps what it is given: it checks only what keeps its own tables
//! consistent (the partnership, genesis at height 0, one height per op). It
//! does not verify signatures, parents or authors: that is the `dag`'s job,
//! done before an op is appended. Every op read back is decoded from its
//! canonical bytes and checked against the id it is stored under; a record
//! that fails is [`StoreError::Corrupt`], never skipped.
//!
//! Finding an op by id, and an author's ops by seq, uses an index kept in
//! memory per partnership ([`OpIndex`]): op id → height, and each author's
//! `(seq, height)` pairs in order. It is built from the `ops` table on first
//! use (one read of the partnership's ops; author and seq are read off the
//! first bytes of each record) and extended by every append after its
//! commit. Neither is a table, so a commit writes only the `ops` table,
//! whose keys grow with the height and land on the same few pages:
//!
//! - a table keyed by random op ids is written at random places, and at a
//!   million ops every batch rewrote about one 4 KiB page per op (the
//!   ingest bench's store cost grew 3.6x from 10k to 1M ops; schema 1);
//! - a table keyed by author wrote one page per author in each commit, about
//!   a third of a commit's page writes in a quiet partnership (schemas 1–3).
//!
//! The index costs about 70 bytes of memory per op (the id map and 16 bytes
//! in the author's list), about what the ledger's own graph keeps. Each
//! author's highest seq and the op count follow from it (schema 2 kept them
//! in tables that every commit rewrote).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::sync::PoisonError;

use redb::{ReadTransaction, ReadableTable};

use super::db::{STORED_OP_LIMITS, Store};
use super::error::StoreError;
use super::tables::{OPS, OpKey, PARTNERSHIPS, op_key, op_key_max, op_keys_at, split_op_key};
use crate::op::{
    MemberId, OpId, PartnershipId, Payload, SignedOp, author_and_seq_of_encoding, decode_signed_op,
    encode_signed_op,
};

/// What the store keeps in memory about one partnership's stored ops.
#[derive(Default)]
pub(crate) struct OpIndex {
    /// Op id → height of every stored op.
    ids: HashMap<OpId, u64>,
    /// Each author's stored ops as `(seq, height)`, ascending. An author who
    /// equivocated has several entries for one seq (one per op, so the same
    /// pair twice for two ops at one height).
    authors: BTreeMap<MemberId, Vec<(u64, u64)>>,
}

impl OpIndex {
    fn add(&mut self, id: OpId, height: u64, author: MemberId, seq: u64) {
        self.ids.insert(id, height);
        let ops = self.authors.entry(author).or_default();
        // Ops arrive in seq order (an op's parents include its author's
        // previous op), so this is almost always the end.
        let at = ops.partition_point(|&entry| entry <= (seq, height));
        ops.insert(at, (seq, height));
    }

    /// Each author's highest stored seq.
    fn highest_seqs(&self) -> BTreeMap<MemberId, u64> {
        self.authors.iter().filter_map(|(author, ops)| Some((*author, ops.last()?.0))).collect()
    }

    /// The `(seq, height)` entries of `author` with seq in `seqs`.
    fn of_author(&self, author: &MemberId, seqs: &RangeInclusive<u64>) -> &[(u64, u64)] {
        let Some(ops) = self.authors.get(author) else { return &[] };
        let start = ops.partition_point(|&(seq, _)| seq < *seqs.start());
        let end = ops.partition_point(|&(seq, _)| seq <= *seqs.end());
        &ops[start..end]
    }
}

/// A position in a partnership's order `(height, op id)`: where a page of
/// [`Store::ops_in_order`] starts (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpCursor {
    /// The height.
    pub height: u64,
    /// The op id; within one height, ops sort by id.
    pub id: OpId,
}

impl OpCursor {
    /// The first position at `height` (before every op of that height).
    pub fn at_height(height: u64) -> Self {
        OpCursor { height, id: OpId([0; 32]) }
    }
}

/// One page of ops in order, from [`Store::ops_in_order`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpPage {
    /// `(height, op)` pairs in ascending `(height, id)` order.
    pub ops: Vec<(u64, SignedOp)>,
    /// Where the next page starts, or `None` if this page reached the end.
    pub next: Option<OpCursor>,
}

impl Store {
    /// Persists a batch of accepted ops in one durable transaction: when this
    /// returns `Ok`, every op of the batch is on disk; when it returns `Err`,
    /// none is.
    ///
    /// Each entry is `(height, op)`. An op already stored at the same height is
    /// skipped (appending is idempotent). Refused, with nothing stored: an op
    /// of another partnership ([`StoreError::WrongPartnership`]), a genesis op
    /// not at height 0 or another op at height 0 ([`StoreError::BadHeight`]),
    /// an op already stored at another height ([`StoreError::HeightConflict`]).
    pub fn append_ops(
        &self,
        partnership: &PartnershipId,
        ops: &[(u64, &SignedOp)],
    ) -> Result<(), StoreError> {
        self.append_ops_of_many(&[(*partnership, ops)])
    }

    /// [`append_ops`](Self::append_ops) of several partnerships' batches in
    /// one durable transaction (one fsync for all of them): when this
    /// returns `Ok`, every op of every batch is on disk; when it returns
    /// `Err`, none is. A node in many partnerships takes in gossip and sync
    /// pages that span many of them.
    pub fn append_ops_of_many(
        &self,
        batches: &[(PartnershipId, &[(u64, &SignedOp)])],
    ) -> Result<(), StoreError> {
        for (partnership, ops) in batches {
            for &(height, op) in *ops {
                if op.partnership() != *partnership {
                    return Err(StoreError::WrongPartnership {
                        op: op.id(),
                        expected: *partnership,
                        found: op.partnership(),
                    });
                }
                let genesis = matches!(op.op().payload, Payload::Genesis(_));
                if genesis != (height == 0) {
                    return Err(StoreError::BadHeight { op: op.id(), kind: op.op().payload.kind(), height });
                }
            }
        }
        if batches.iter().all(|(_, ops)| ops.is_empty()) {
            return Ok(());
        }
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        for (partnership, _) in batches {
            self.index_of(&mut indexes, partnership)?;
        }
        let added = self.guarded("appending ops", || {
            let txn = self.write_txn()?;
            // The ops of this commit, to find duplicates within it:
            // (partnership, id) → (height, author, seq).
            let mut added: HashMap<(PartnershipId, OpId), (u64, MemberId, u64)> = HashMap::new();
            {
                let mut op_table = txn.open_table(OPS).map_err(self.ctx("appending ops"))?;
                for (partnership, ops) in batches {
                    let Some(known) = indexes.get(partnership) else { continue };
                    if known.ids.is_empty() && !ops.is_empty() {
                        // A partnership's first ops: list it.
                        let mut listed = txn.open_table(PARTNERSHIPS).map_err(self.ctx("appending ops"))?;
                        listed.insert(&partnership.0, 0).map_err(self.ctx("appending ops"))?;
                    }
                    for &(height, op) in *ops {
                        let id = op.id();
                        let before =
                            known.ids.get(&id).or_else(|| added.get(&(*partnership, id)).map(|(h, _, _)| h));
                        match before {
                            Some(&stored) if stored == height => continue,
                            Some(&stored) => {
                                return Err(StoreError::HeightConflict { op: id, stored, given: height });
                            }
                            None => {}
                        }
                        let bytes = encode_signed_op(op);
                        op_table
                            .insert(&op_key(partnership, height, &id), bytes.as_slice())
                            .map_err(self.ctx("appending ops"))?;
                        added.insert((*partnership, id), (height, op.author(), op.seq()));
                    }
                }
            }
            self.commit(txn, "committing ops")?;
            Ok(added)
        })?;
        // Only what is committed enters the index.
        for ((partnership, id), (height, author, seq)) in added {
            if let Some(known) = indexes.get_mut(&partnership) {
                known.add(id, height, author, seq);
            }
        }
        Ok(())
    }

    /// The index of `p` in `indexes`, built from the `ops` table the first
    /// time (one read of that partnership's ops).
    fn index_of<'a>(
        &self,
        indexes: &'a mut BTreeMap<PartnershipId, OpIndex>,
        p: &PartnershipId,
    ) -> Result<&'a mut OpIndex, StoreError> {
        match indexes.entry(*p) {
            Entry::Occupied(built) => Ok(built.into_mut()),
            Entry::Vacant(slot) => Ok(slot.insert(self.read_index(p)?)),
        }
    }

    /// `f` of the index of `p`, built on first use and kept once `p` has
    /// ops (a read about an unknown partnership leaves nothing behind).
    fn with_index<T>(&self, p: &PartnershipId, f: impl FnOnce(&OpIndex) -> T) -> Result<T, StoreError> {
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = indexes.get(p) {
            return Ok(f(index));
        }
        let index = self.read_index(p)?;
        let answer = f(&index);
        if !index.ids.is_empty() {
            indexes.insert(*p, index);
        }
        Ok(answer)
    }

    /// The index of every op of `p`, from the `ops` table: the height and
    /// id from each key, the author and seq off the first bytes of each
    /// record.
    fn read_index(&self, p: &PartnershipId) -> Result<OpIndex, StoreError> {
        self.guarded("indexing ops", || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("indexing ops"))?;
            let (first, last) = (op_key(p, 0, &OpId([0; 32])), op_key_max(p));
            let mut index = OpIndex::default();
            for entry in op_table.range::<&OpKey>(&first..=&last).map_err(self.ctx("indexing ops"))? {
                let (key, value) = entry.map_err(self.ctx("indexing ops"))?;
                let (height, id) = split_op_key(key.value());
                let (author, seq) = self.author_and_seq(value.value(), &id)?;
                index.add(id, height, author, seq);
            }
            Ok(index)
        })
    }

    /// The partnerships whose genesis op is stored, ascending.
    pub fn partnerships(&self) -> Result<Vec<PartnershipId>, StoreError> {
        self.guarded("listing partnerships", || {
            let txn = self.read_txn()?;
            let counts = txn.open_table(PARTNERSHIPS).map_err(self.ctx("listing partnerships"))?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("listing partnerships"))?;
            let mut out = Vec::new();
            for entry in counts.iter().map_err(self.ctx("listing partnerships"))? {
                let p = PartnershipId(*entry.map_err(self.ctx("listing partnerships"))?.0.value());
                let (first, last) = op_keys_at(&p, 0);
                if op_table
                    .range::<&OpKey>(&first..=&last)
                    .map_err(self.ctx("listing partnerships"))?
                    .next()
                    .transpose()
                    .map_err(self.ctx("listing partnerships"))?
                    .is_some()
                {
                    out.push(p);
                }
            }
            Ok(out)
        })
    }

    /// How many ops of `p` are stored (0 for an unknown partnership).
    pub fn op_count(&self, p: &PartnershipId) -> Result<u64, StoreError> {
        self.with_index(p, |index| index.ids.len() as u64)
    }

    /// The op `id` of partnership `p` with its height, if stored.
    pub fn get_op(&self, p: &PartnershipId, id: &OpId) -> Result<Option<(u64, SignedOp)>, StoreError> {
        let height = self.with_index(p, |index| index.ids.get(id).copied())?;
        let Some(height) = height else { return Ok(None) };
        self.guarded("reading an op", || {
            let txn = self.read_txn()?;
            let op = self.read_op(&txn, p, height, id)?;
            Ok(Some((height, op)))
        })
    }

    /// Up to `limit` ops of `p` (at least one, if any remain) in ascending
    /// `(height, id)` order, starting at `from` (inclusive), and the cursor
    /// of the next page. Start with [`OpCursor::at_height`]; each page is its
    /// own read, so memory stays bounded by `limit`.
    pub fn ops_in_order(
        &self,
        p: &PartnershipId,
        from: OpCursor,
        limit: usize,
    ) -> Result<OpPage, StoreError> {
        let limit = limit.max(1);
        self.guarded("reading ops in order", || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("reading ops in order"))?;
            let (start, end) = (op_key(p, from.height, &from.id), op_key_max(p));
            let mut ops = Vec::with_capacity(limit.min(1024));
            let mut next = None;
            for entry in op_table.range::<&OpKey>(&start..=&end).map_err(self.ctx("reading ops in order"))? {
                let (key, value) = entry.map_err(self.ctx("reading ops in order"))?;
                let (height, id) = split_op_key(key.value());
                if ops.len() == limit {
                    next = Some(OpCursor { height, id });
                    break;
                }
                ops.push((height, self.decode_op(value.value(), &id)?));
            }
            Ok(OpPage { ops, next })
        })
    }

    /// Every op of `p` from `from_height` on, in order, read `page_size` at a
    /// time. Each page is a separate read: ops appended meanwhile after the
    /// cursor are seen, ones that sort before it are not.
    pub fn iter_ops(&self, p: &PartnershipId, from_height: u64, page_size: usize) -> OpsIter<'_> {
        OpsIter {
            store: self,
            partnership: *p,
            next: Some(OpCursor::at_height(from_height)),
            page: Vec::new().into_iter(),
            page_size,
        }
    }

    /// For sync: the ops `author` signed in `p` with seq in
    /// `[from_seq, from_seq + limit)`, by seq then id; an author who
    /// equivocated has two (or more) ops for one seq, all returned.
    pub fn ops_by_author(
        &self,
        p: &PartnershipId,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedOp>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let seqs = from_seq..=from_seq.saturating_add(limit as u64 - 1);
        let (expected, heights) = self.with_index(p, |index| {
            let entries = index.of_author(author, &seqs);
            (entries.len(), entries.iter().map(|&(_, height)| height).collect::<BTreeSet<u64>>())
        })?;
        if expected == 0 {
            return Ok(Vec::new());
        }
        self.guarded("reading an author's ops", || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("reading an author's ops"))?;
            let mut out = Vec::with_capacity(expected);
            for height in heights {
                let (first, last) = op_keys_at(p, height);
                for entry in
                    op_table.range::<&OpKey>(&first..=&last).map_err(self.ctx("reading an author's ops"))?
                {
                    let (key, value) = entry.map_err(self.ctx("reading an author's ops"))?;
                    let (_, id) = split_op_key(key.value());
                    let (by, seq) = self.author_and_seq(value.value(), &id)?;
                    if by == *author && seqs.contains(&seq) {
                        out.push((seq, self.decode_op(value.value(), &id)?));
                    }
                }
            }
            if out.len() != expected {
                return Err(self.corrupt(format!(
                    "{expected} ops of {author} are indexed with seqs {seqs:?}, {} are stored",
                    out.len()
                )));
            }
            out.sort_by_key(|(seq, op)| (*seq, op.id()));
            Ok(out.into_iter().map(|(_, op)| op).collect())
        })
    }

    /// For sync: the highest seq stored for each author of `p`.
    pub fn author_seqs(&self, p: &PartnershipId) -> Result<BTreeMap<MemberId, u64>, StoreError> {
        self.with_index(p, OpIndex::highest_seqs)
    }

    /// Reads and decodes the op stored at `(p, height, id)`; a missing row
    /// behind an index entry is corruption.
    fn read_op(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
        height: u64,
        id: &OpId,
    ) -> Result<SignedOp, StoreError> {
        let op_table = txn.open_table(OPS).map_err(self.ctx("reading an op"))?;
        let bytes =
            op_table.get(&op_key(p, height, id)).map_err(self.ctx("reading an op"))?.ok_or_else(|| {
                self.corrupt(format!("op {id} is indexed at height {height} but not stored there"))
            })?;
        self.decode_op(bytes.value(), id)
    }

    /// The author and seq of the stored op `id`, read off its first bytes; a
    /// record too short for them is corruption.
    fn author_and_seq(&self, bytes: &[u8], id: &OpId) -> Result<(MemberId, u64), StoreError> {
        author_and_seq_of_encoding(bytes)
            .ok_or_else(|| self.corrupt(format!("stored op {id} has no author and seq")))
    }

    /// Decodes stored op bytes and checks they are the op `id`.
    fn decode_op(&self, bytes: &[u8], id: &OpId) -> Result<SignedOp, StoreError> {
        let op = decode_signed_op(bytes, &STORED_OP_LIMITS)
            .map_err(|e| self.corrupt(format!("stored op {id} does not decode: {e}")))?;
        if op.id() != *id {
            return Err(self.corrupt(format!("the op stored as {id} has id {}", op.id())));
        }
        Ok(op)
    }
}

/// The ops of a partnership in order, read in pages; from [`Store::iter_ops`].
///
/// Yields `Err` at most once, then ends.
#[derive(Debug)]
pub struct OpsIter<'a> {
    store: &'a Store,
    partnership: PartnershipId,
    next: Option<OpCursor>,
    page: std::vec::IntoIter<(u64, SignedOp)>,
    page_size: usize,
}

impl Iterator for OpsIter<'_> {
    type Item = Result<(u64, SignedOp), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.page.next() {
            return Some(Ok(item));
        }
        let cursor = self.next.take()?;
        match self.store.ops_in_order(&self.partnership, cursor, self.page_size) {
            Ok(page) => {
                self.next = page.next;
                self.page = page.ops.into_iter();
                self.page.next().map(Ok)
            }
            Err(e) => Some(Err(e)),
        }
    }
}
