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
//! Finding an op by id, and an author's ops by seq, uses an index in two
//! parts, split at the partnership's *archive horizon* (a height):
//!
//! - in memory ([`OpIndex`]), the ops above the horizon (and the few
//!   appended late at or below it and not archived yet): op id → height,
//!   and each author's `(seq, height, op id)` in order, about 110 bytes per
//!   op; plus a summary of the archive (the horizon, its runs, the archived
//!   op count, each author's highest archived seq: O(authors));
//! - on disk, the ops at or below the horizon, moved there by
//!   [`Store::archive_below`] once they are final (`archive.rs`).
//!
//! The memory part is built on first use from the `ops` table above the
//! horizon (one read of the non-archived tail; author and seq are read off
//! the first bytes of each record) and extended by every append after its
//! commit, so memory and start-up cost grow with the tail, not with
//! history. Appending writes only the `ops` table, whose keys grow with the
//! height and land on the same few pages:
//!
//! - a table keyed by random op ids is written at random places, and at a
//!   million ops every batch rewrote about one 4 KiB page per op (the
//!   ingest bench's store cost grew 3.6x from 10k to 1M ops; schema 1);
//! - a table keyed by author wrote one page per author in each commit, about
//!   a third of a commit's page writes in a quiet partnership (schemas 1–3).
//!
//! The archive is written in bulk instead, once per [`Store::archive_below`],
//! so it can keep its writes sequential: see `archive.rs`. Every read
//! answers the same whether an op is archived or not.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::sync::PoisonError;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableHandle};

use super::archive::{Archive, Run};
use super::checksum;
use super::compact::tombstone_header;
use super::db::{STORED_OP_LIMITS, Store};
use super::error::StoreError;
use super::tables::{
    ARCHIVED_ID_BLOCKS, LATE_OPS, OPS, OpKey, PARTNERSHIPS, op_key, op_key_max, op_keys_at, split_op_key,
};
use crate::op::{
    MemberId, OpHeader, OpId, PartnershipId, Payload, SignedOp, decode_signed_op, encode_signed_op,
    header_of_encoding, op_id_of_encoding,
};

/// What the store keeps in memory about one partnership's stored ops.
#[derive(Default)]
pub(crate) struct OpIndex {
    /// Op id → height of every stored op not archived: those above the
    /// archive horizon, and those appended late at or below it since the
    /// last archive.
    pub(super) ids: HashMap<OpId, u64>,
    /// Each author's stored ops not archived, as `(seq, height, op id)`,
    /// ascending. An author who equivocated has several entries for one
    /// seq. With the id here, an author's ops and an archive's entries are
    /// found without reading op records (reading them to learn author and
    /// seq was a fifth of an archive's cost).
    pub(super) authors: BTreeMap<MemberId, Vec<AuthorOp>>,
    /// The summary of what is archived on disk.
    pub(super) archive: Archive,
}

impl OpIndex {
    fn add(&mut self, id: OpId, height: u64, author: MemberId, seq: u64) {
        self.ids.insert(id, height);
        let ops = self.authors.entry(author).or_default();
        // Ops arrive in seq order (an op's parents include its author's
        // previous op), so this is almost always the end.
        let at = ops.partition_point(|&entry| entry <= (seq, height, id));
        ops.insert(at, (seq, height, id));
    }

    /// Forgets the entries at or below `height` (just archived), and gives
    /// back the memory they held.
    pub(super) fn forget_up_to(&mut self, height: u64) {
        self.ids.retain(|_, stored| *stored > height);
        if self.ids.capacity() > 4 * self.ids.len() + 64 {
            self.ids.shrink_to(2 * self.ids.len());
        }
        self.authors.retain(|_, ops| {
            ops.retain(|&(_, stored, _)| stored > height);
            if ops.capacity() > 4 * ops.len() + 16 {
                ops.shrink_to(2 * ops.len());
            }
            !ops.is_empty()
        });
    }

    /// How many ops of the partnership are stored, archived or not.
    fn op_count(&self) -> u64 {
        self.ids.len() as u64 + self.archive.count
    }

    /// Nothing stored and nothing archived: not worth keeping in memory.
    fn is_blank(&self) -> bool {
        self.ids.is_empty() && self.archive.horizon.is_none()
    }

    /// Each author's highest stored seq, archived or not.
    fn highest_seqs(&self) -> BTreeMap<MemberId, u64> {
        let mut seqs = self.archive.seqs.clone();
        for (author, ops) in &self.authors {
            if let Some(&(seq, _, _)) = ops.last() {
                let highest = seqs.entry(*author).or_insert(seq);
                *highest = (*highest).max(seq);
            }
        }
        seqs
    }

    /// The entries of `author` with seq in `seqs`, in memory.
    fn of_author(&self, author: &MemberId, seqs: &RangeInclusive<u64>) -> &[AuthorOp] {
        let Some(ops) = self.authors.get(author) else { return &[] };
        let start = ops.partition_point(|&(seq, _, _)| seq < *seqs.start());
        let end = ops.partition_point(|&(seq, _, _)| seq <= *seqs.end());
        &ops[start..end]
    }

    /// Every entry in memory at or below `height`, with its author.
    pub(super) fn up_to(&self, height: u64) -> impl Iterator<Item = (MemberId, AuthorOp)> + '_ {
        self.authors.iter().flat_map(move |(author, ops)| {
            ops.iter().filter(move |&&(_, stored, _)| stored <= height).map(move |&op| (*author, op))
        })
    }

    /// Whether `author` may have archived ops with a seq in `seqs`.
    fn may_have_archived(&self, author: &MemberId, seqs: &RangeInclusive<u64>) -> bool {
        self.archive.seqs.get(author).is_some_and(|&highest| highest >= *seqs.start())
    }
}

/// Where [`Store::op_height`] finds an op.
enum Located {
    InMemory(u64),
    Absent,
    /// Not in memory: the archive's runs, and a read transaction that
    /// agrees with the memory index.
    MaybeArchived(Vec<Run>, ReadTransaction),
}

/// One op of an author: seq, height, id.
pub(super) type AuthorOp = (u64, u64, OpId);

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
    ///
    /// One case of the last is not caught: an op archived (at or below the
    /// archive horizon, see [`archive_below`](Self::archive_below)) given
    /// again with a height above the horizon. Catching it would cost a
    /// lookup in the archive for every fresh op; heights follow from the
    /// parents, so only a caller bug gives an op two heights.
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
        let what = "appending ops";
        let added = self.guarded(what, || {
            let txn = self.write_txn()?;
            // The ops of this commit, to find duplicates within it:
            // (partnership, id) → (height, author, seq).
            let mut added: HashMap<(PartnershipId, OpId), (u64, MemberId, u64)> = HashMap::new();
            {
                let mut op_table = txn.open_table(OPS).map_err(self.ctx(what))?;
                // Opened only for ops at or below an archive horizon (rare).
                let mut late_table = None;
                let mut archived_ids = None;
                for (partnership, ops) in batches {
                    let Some(known) = indexes.get(partnership) else { continue };
                    if known.op_count() == 0 && !ops.is_empty() {
                        // A partnership's first ops: list it.
                        let mut listed = txn.open_table(PARTNERSHIPS).map_err(self.ctx(what))?;
                        let check = checksum::of_key(PARTNERSHIPS.name(), &partnership.0);
                        listed.insert(&partnership.0, check).map_err(self.ctx(what))?;
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
                        let key = op_key(partnership, height, &id);
                        if known.archive.horizon.is_some_and(|horizon| height <= horizon) {
                            // A late op into the archived region: stored
                            // there already, archived at another height, or
                            // new (then listed, so a restart indexes it).
                            if op_table.get(&key).map_err(self.ctx(what))?.is_some() {
                                continue;
                            }
                            let ids = match &mut archived_ids {
                                Some(table) => table,
                                None => archived_ids
                                    .insert(txn.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?),
                            };
                            if let Some(stored) =
                                self.archived_height(ids, partnership, &known.archive.runs, &id)?
                            {
                                return Err(StoreError::HeightConflict { op: id, stored, given: height });
                            }
                            let late = match &mut late_table {
                                Some(table) => table,
                                None => late_table.insert(txn.open_table(LATE_OPS).map_err(self.ctx(what))?),
                            };
                            late.insert(&key, ()).map_err(self.ctx(what))?;
                        }
                        let bytes = encode_signed_op(op);
                        op_table.insert(&key, bytes.as_slice()).map_err(self.ctx(what))?;
                        added.insert((*partnership, id), (height, op.author(), op.seq()));
                    }
                }
            }
            // A partnership's ops changed: it is no longer resting.
            let appended: BTreeSet<&PartnershipId> =
                added.keys().map(|(partnership, _)| partnership).collect();
            self.unmark_resting_in(&txn, appended)?;
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

    /// The index of `p` in `indexes`, built the first time (one read of the
    /// ops above the archive horizon of `p`).
    pub(super) fn index_of<'a>(
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
    pub(super) fn with_index<T>(
        &self,
        p: &PartnershipId,
        f: impl FnOnce(&OpIndex) -> T,
    ) -> Result<T, StoreError> {
        self.with_index_locked(p, |index| Ok(f(index)))
    }

    /// `f` of the index of `p`, and a read transaction begun under the
    /// same lock: the two agree, since an archive moves entries from memory
    /// to disk under the lock and changes memory only after its commit.
    fn with_index_and_txn<T>(
        &self,
        p: &PartnershipId,
        f: impl FnOnce(&OpIndex) -> T,
    ) -> Result<(T, ReadTransaction), StoreError> {
        self.with_index_locked(p, |index| Ok((f(index), self.read_txn()?)))
    }

    fn with_index_locked<T>(
        &self,
        p: &PartnershipId,
        f: impl FnOnce(&OpIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = indexes.get(p) {
            return f(index);
        }
        let index = self.read_index(p)?;
        let answer = f(&index);
        if !index.is_blank() {
            indexes.insert(*p, index);
        }
        answer
    }

    /// The index of `p` from disk: the archive's summary, then every op
    /// above the archive horizon from the `ops` table (the height and id
    /// from each key, the author and seq off the first fields of each
    /// record, once it hashes to its id), then the late ops at or below it
    /// not archived yet.
    fn read_index(&self, p: &PartnershipId) -> Result<OpIndex, StoreError> {
        let what = "indexing ops";
        self.guarded(what, || {
            let txn = self.read_txn()?;
            let archive = self.read_archive(&txn, p)?;
            let tail_from = archive.horizon.map_or(Some(0), |horizon| horizon.checked_add(1));
            let late = if archive.horizon.is_some() { self.late_ops(&txn, p)? } else { Vec::new() };
            let mut index = OpIndex { archive, ..OpIndex::default() };
            let op_table = txn.open_table(OPS).map_err(self.ctx(what))?;
            if let Some(from) = tail_from {
                let (first, last) = (op_key(p, from, &OpId([0; 32])), op_key_max(p));
                for entry in op_table.range::<&OpKey>(&first..=&last).map_err(self.ctx(what))? {
                    let (key, value) = entry.map_err(self.ctx(what))?;
                    let (height, id) = split_op_key(key.value());
                    let header = self.checked_header(value.value(), &id)?;
                    index.add(id, height, header.author, header.seq);
                }
            }
            for (height, id) in late {
                let bytes =
                    op_table.get(&op_key(p, height, &id)).map_err(self.ctx(what))?.ok_or_else(|| {
                        self.corrupt(format!(
                            "op {id} is listed as late at height {height} but not stored there"
                        ))
                    })?;
                let header = self.checked_header(bytes.value(), &id)?;
                index.add(id, height, header.author, header.seq);
            }
            Ok(index)
        })
    }

    /// The partnerships whose genesis op is stored, ascending.
    pub fn partnerships(&self) -> Result<Vec<PartnershipId>, StoreError> {
        self.guarded("listing partnerships", || {
            let txn = self.read_txn()?;
            let listed = txn.open_table(PARTNERSHIPS).map_err(self.ctx("listing partnerships"))?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("listing partnerships"))?;
            let mut out = Vec::new();
            for entry in listed.iter().map_err(self.ctx("listing partnerships"))? {
                let (key, check) = entry.map_err(self.ctx("listing partnerships"))?;
                let p = PartnershipId(*key.value());
                if check.value() != checksum::of_key(PARTNERSHIPS.name(), &p.0) {
                    return Err(self.corrupt(format!(
                        "the list of partnerships holds {p} with a checksum that does not match: it was damaged"
                    )));
                }
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
        self.with_index(p, OpIndex::op_count)
    }

    /// How many ops of `p` the in-memory index holds: those above the
    /// archive horizon and those appended late since the last archive (0
    /// before the index of `p` is first used after opening). For tests and
    /// memory measurements.
    pub fn indexed_in_memory(&self, p: &PartnershipId) -> usize {
        let indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        indexes.get(p).map_or(0, |index| index.ids.len())
    }

    /// The height of the op `id` of partnership `p`, if stored: from memory,
    /// else from the archive on disk. The archive is probed run by run,
    /// newest first, so finding an archived op costs a few point reads and
    /// an id that is not stored at all costs one read per run (up to
    /// 8 per level of the archive; see `archive.rs`).
    pub fn op_height(&self, p: &PartnershipId, id: &OpId) -> Result<Option<u64>, StoreError> {
        let found = self.with_index_locked(p, |index| {
            Ok(match index.ids.get(id) {
                Some(&height) => Located::InMemory(height),
                None if index.archive.runs.is_empty() => Located::Absent,
                None => Located::MaybeArchived(index.archive.runs.clone(), self.read_txn()?),
            })
        })?;
        match found {
            Located::InMemory(height) => Ok(Some(height)),
            Located::Absent => Ok(None),
            Located::MaybeArchived(runs, txn) => self.guarded("looking up an op", || {
                let table = txn.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx("looking up an op"))?;
                self.archived_height(&table, p, &runs, id)
            }),
        }
    }

    /// The op `id` of partnership `p` with its height, if stored.
    pub fn get_op(&self, p: &PartnershipId, id: &OpId) -> Result<Option<(u64, SignedOp)>, StoreError> {
        let Some(height) = self.op_height(p, id)? else { return Ok(None) };
        self.guarded("reading an op", || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("reading an op"))?;
            let op = self.read_op(&txn, &op_table, p, height, id)?;
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
                if let Some(tombstone) = tombstone_header(key.value(), value.value()) {
                    // Compacted behind a certified checkpoint.
                    tombstone.map_err(|e| self.bad_tombstone(&id, e))?;
                    continue;
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
        let what = "reading an author's ops";
        let mut found = self.author_ops(p, author, &seqs)?;
        found.sort_by_key(|&(seq, _, id)| (seq, id));
        self.guarded(what, || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx(what))?;
            let mut ops = Vec::with_capacity(found.len());
            for (_, height, id) in &found {
                match self.read_op(&txn, &op_table, p, *height, id) {
                    Ok(op) => ops.push(op),
                    // Compacted behind a certified checkpoint: not served.
                    Err(StoreError::Compacted { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(ops)
        })
    }

    /// Every stored op of `author` in `p` with seq `seq`, as `(height, id)`,
    /// ascending: one for an honest author, several for one who equivocated
    /// (archived or not).
    pub fn op_ids_at(
        &self,
        p: &PartnershipId,
        author: &MemberId,
        seq: u64,
    ) -> Result<Vec<(u64, OpId)>, StoreError> {
        let mut found: Vec<(u64, OpId)> = self
            .author_ops(p, author, &(seq..=seq))?
            .into_iter()
            .map(|(_, height, id)| (height, id))
            .collect();
        found.sort();
        Ok(found)
    }

    /// The archive horizon of `p` ([`Store::archive_below`]): every op of
    /// `p` at or below it is indexed on disk or listed late. `None` if
    /// nothing of `p` was ever archived.
    pub fn archive_horizon(&self, p: &PartnershipId) -> Result<Option<u64>, StoreError> {
        self.with_index(p, |index| index.archive.horizon)
    }

    /// The ops of `author` in `p` with seq in `seqs`, in no given order:
    /// those the memory index lists, and those archived.
    fn author_ops(
        &self,
        p: &PartnershipId,
        author: &MemberId,
        seqs: &RangeInclusive<u64>,
    ) -> Result<Vec<AuthorOp>, StoreError> {
        let ((mut found, archived), txn) = self.with_index_and_txn(p, |index| {
            (index.of_author(author, seqs).to_vec(), index.may_have_archived(author, seqs))
        })?;
        if archived {
            found.extend(
                self.guarded("reading an author's ops", || self.archived_of_author(&txn, p, author, seqs))?,
            );
        }
        Ok(found)
    }

    /// For sync: the highest seq stored for each author of `p`.
    pub fn author_seqs(&self, p: &PartnershipId) -> Result<BTreeMap<MemberId, u64>, StoreError> {
        self.with_index(p, OpIndex::highest_seqs)
    }

    /// Reads and decodes the op stored at `(p, height, id)`; a missing row
    /// behind an index entry is [`StoreError::Compacted`] at or below the
    /// compacted height, corruption anywhere else.
    pub(super) fn read_op(
        &self,
        txn: &ReadTransaction,
        op_table: &ReadOnlyTable<&'static OpKey, &'static [u8]>,
        p: &PartnershipId,
        height: u64,
        id: &OpId,
    ) -> Result<SignedOp, StoreError> {
        let Some(bytes) = op_table.get(&op_key(p, height, id)).map_err(self.ctx("reading an op"))? else {
            return Err(self.corrupt(format!("op {id} is indexed at height {height} but not stored there")));
        };
        if let Some(tombstone) = tombstone_header(&op_key(p, height, id), bytes.value()) {
            tombstone.map_err(|e| self.bad_tombstone(id, e))?;
            let checkpoint = self.compaction_in(txn, p)?.map_or(height, |c| c.checkpoint);
            return Err(StoreError::Compacted { partnership: *p, op: *id, height, checkpoint });
        }
        self.decode_op(bytes.value(), id)
    }

    /// The height and header of the stored op `id` of `p`, compacted or
    /// not: what the graph needs to place an op built on it.
    pub fn op_header(&self, p: &PartnershipId, id: &OpId) -> Result<Option<(u64, OpHeader)>, StoreError> {
        let Some(height) = self.op_height(p, id)? else { return Ok(None) };
        self.guarded("reading an op's header", || {
            let txn = self.read_txn()?;
            let op_table = txn.open_table(OPS).map_err(self.ctx("reading an op's header"))?;
            let bytes = op_table
                .get(&op_key(p, height, id))
                .map_err(self.ctx("reading an op's header"))?
                .ok_or_else(|| {
                    self.corrupt(format!("op {id} is indexed at height {height} but not stored there"))
                })?;
            let header = match tombstone_header(&op_key(p, height, id), bytes.value()) {
                Some(tombstone) => tombstone.map_err(|e| self.bad_tombstone(id, e))?,
                None => self.checked_header(bytes.value(), id)?,
            };
            Ok(Some((height, header)))
        })
    }

    /// The header of the stored op `id`, read off its first fields once
    /// its bytes hash to `id` (no full decode).
    pub(super) fn checked_header(&self, bytes: &[u8], id: &OpId) -> Result<OpHeader, StoreError> {
        if op_id_of_encoding(bytes) != Some(*id) {
            return Err(self.corrupt(format!("the record stored as op {id} is not that op")));
        }
        header_of_encoding(bytes).ok_or_else(|| self.corrupt(format!("stored op {id} has no header")))
    }

    /// A compacted op's record that does not check.
    fn bad_tombstone(&self, id: &OpId, detail: String) -> StoreError {
        self.corrupt(format!("the compacted record of op {id}: {detail}"))
    }

    /// Decodes stored op bytes and checks they are the op `id`.
    pub(super) fn decode_op(&self, bytes: &[u8], id: &OpId) -> Result<SignedOp, StoreError> {
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
