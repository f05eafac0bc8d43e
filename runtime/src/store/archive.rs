//! The archived op index: index entries of final ops, moved out of memory.
//!
//! [`Store::archive_below`] moves every in-memory index entry of a
//! partnership at or below a height (the *archive horizon*, which only
//! rises) to disk in one durable transaction, so a node's memory holds
//! only the ops above the horizon plus a summary of O(authors) ([`Archive`]).
//! This file owns the archive's tables (`archive_meta`, `archived_authors`,
//! `archived_ids`, `archived_runs`, `late_ops`; see `tables.rs`) and the
//! reads of them; `ops.rs` decides when to read them.
//!
//! Writes stay sequential, which is why the index left disk in schemas 2–4
//! (a table keyed by random op ids costs a page write per op per commit):
//!
//! - by author: `partnership ‖ author ‖ seq ‖ op id` → height, written in
//!   key order; an author's new entries have higher seqs than its archived
//!   ones, so they land at the end of its range: about one page per author
//!   per archive;
//! - by id: a set of sorted *runs*, `partnership ‖ run ‖ op id` → height.
//!   Each archive writes its entries as one new run, numbered above every
//!   other run of the partnership, so the run is appended at the end of the
//!   partnership's range in id order. When [`FANOUT`] runs of one level
//!   exist, the next archive merges them into one run of the next level
//!   (size-tiered, as in an LSM tree): each entry is rewritten once per
//!   level, O(log n) times, and a level holds at most [`FANOUT`] runs, so a
//!   lookup probes at most [`FANOUT`] runs per level (newest first: the ops
//!   a graph looks up are mostly recent). A lookup of an id that is not
//!   archived probes every run; that is rare (an op already final arriving
//!   again, or a caller asking about an unknown id), so no filter is kept.
//!
//! The horizon is stored (`archive_meta`); the archived op count is the sum
//! of the runs' entry counts, and each author's highest archived seq is the
//! last key of its range in `archived_authors`, found with two seeks per
//! author when the index is built. Deriving both keeps one copy of each
//! fact on disk, and a stored list of seqs would grow with the membership
//! and be rewritten by every archive.
//!
//! An op appended late at or below the horizon stays in memory until the
//! next archive, like any other, and is listed in `late_ops` so that a
//! restart, which reads the `ops` table only above the horizon, finds it.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use std::ops::Bound;

use redb::{Range, ReadOnlyTable, ReadTransaction, ReadableTable, Table, TableHandle, WriteTransaction};

use super::block::{AuthorEntry, BLOCK, open_authors, open_ids, seal_authors, seal_ids};
use super::checksum;
use super::db::Store;
use super::error::StoreError;
use super::snapshot::FinalDelta;
use super::tables::{
    ARCHIVE_META, ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, AuthorKey, LATE_OPS, OpKey,
    RunIdKey, RunKey, author_key, author_keys, op_key, op_key_max, run_id_key, run_id_keys, run_key,
    split_author_key, split_op_key, split_run_id_key, split_run_key, successor,
};
use crate::op::{MemberId, OpId, PartnershipId};

/// How many runs of one level are merged into one run of the next.
pub(crate) const FANOUT: usize = 8;

/// What the in-memory index knows of a partnership's archive: O(authors)
/// plus the list of runs (at most [`FANOUT`] per level).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Archive {
    /// The archive horizon, or `None` if nothing was ever archived.
    pub(crate) horizon: Option<u64>,
    /// The runs of the archived id index, by ascending number (oldest first).
    pub(crate) runs: Vec<Run>,
    /// How many ops are archived (the sum of the runs' entry counts).
    pub(crate) count: u64,
    /// Each author's highest archived seq.
    pub(crate) seqs: BTreeMap<MemberId, u64>,
}

/// One sorted run of the archived id index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Its number: runs written later have higher numbers.
    pub(crate) number: u64,
    /// 0 for a run written by an archive, `n + 1` for one merged from runs
    /// of level `n`.
    pub(crate) level: u64,
    /// How many entries it holds.
    pub(crate) len: u64,
}

impl Archive {
    /// The number for a new run: above every existing one.
    fn next_run(&self) -> u64 {
        self.runs.last().map_or(0, |run| run.number + 1)
    }

    /// The levels holding [`FANOUT`] runs or more, ascending.
    fn full_levels(&self) -> Vec<u64> {
        let mut per_level: BTreeMap<u64, usize> = BTreeMap::new();
        for run in &self.runs {
            *per_level.entry(run.level).or_default() += 1;
        }
        per_level.into_iter().filter(|&(_, runs)| runs >= FANOUT).map(|(level, _)| level).collect()
    }
}

/// One index entry being archived.
struct Entry {
    height: u64,
    id: OpId,
    author: MemberId,
    seq: u64,
}

impl Store {
    /// Moves every in-memory index entry of `p` at or below `height` to
    /// disk, in one durable transaction, and raises the archive horizon of
    /// `p` to `height`; returns how many entries it moved.
    ///
    /// Call it with heights that are final: afterwards the memory index of
    /// `p` holds only the ops above the horizon, plus O(authors) of summary,
    /// and every read answers as before. The horizon never goes down: a
    /// height below it moves only the entries at or below `height` still in
    /// memory (ops appended late into the archived region) and leaves the
    /// horizon where it is. Such late ops go to memory when appended, like
    /// any other, and the next call moves them.
    ///
    /// When this returns `Err`, nothing was archived and the memory index is
    /// unchanged.
    pub fn archive_below(&self, p: &PartnershipId, height: u64) -> Result<u64, StoreError> {
        self.archive_with(p, height, None)
    }

    /// [`Store::save_final`] and [`Store::archive_below`] in one durable
    /// transaction: a ledger's graph summary (in `delta`'s meta) and the
    /// store's archive horizon move together, so every op stored at or
    /// below the horizon after it is listed late and none before it is.
    pub fn save_final_and_archive(
        &self,
        p: &PartnershipId,
        delta: &FinalDelta,
        height: u64,
    ) -> Result<u64, StoreError> {
        self.archive_with(p, height, Some(delta))
    }

    fn archive_with(
        &self,
        p: &PartnershipId,
        height: u64,
        delta: Option<&FinalDelta>,
    ) -> Result<u64, StoreError> {
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        let index = self.index_of(&mut indexes, p)?;
        // What moves, from memory alone: the memory index carries each
        // entry's author and seq, so no op record is read.
        let entries: Vec<Entry> = index
            .up_to(height)
            .map(|(author, (seq, stored, id))| Entry { height: stored, id, author, seq })
            .collect();
        let horizon = index.archive.horizon.map_or(height, |old| old.max(height));
        let full = index.archive.full_levels();
        if entries.is_empty() && index.archive.horizon == Some(horizon) && full.is_empty() {
            drop(indexes);
            return delta.map_or(Ok(()), |delta| self.save_final(p, delta)).map(|()| 0);
        }
        let what = "archiving ops";
        let archive = self.guarded(what, || {
            // The committed state, the same the write starts from: archives
            // and appends write these tables only under the index lock.
            let snapshot = self.read_txn()?;
            let mut archive = index.archive.clone();
            let txn = self.write_txn()?;
            for level in full {
                // Runs of the committed state only: the snapshot cannot
                // read a run merged in this transaction.
                let sources: Vec<Run> =
                    index.archive.runs.iter().filter(|run| run.level == level).copied().collect();
                self.merge_runs(&snapshot, &txn, p, &mut archive, &sources)?;
            }
            self.write_run(&txn, p, &mut archive, &entries)?;
            self.write_authors(&txn, p, &mut archive, &entries)?;
            if let Some(old) = index.archive.horizon
                && entries.iter().any(|entry| entry.height <= old)
            {
                // The late ops just archived are no longer in memory.
                let (first, last) = (op_key(p, 0, &OpId([0; 32])), op_key(p, height, &OpId([0xff; 32])));
                let mut late = txn.open_table(LATE_OPS).map_err(self.ctx(what))?;
                late.retain_in::<&OpKey, _>(&first..=&last, |_, _| false).map_err(self.ctx(what))?;
            }
            if archive.horizon != Some(horizon) {
                let mut meta = txn.open_table(ARCHIVE_META).map_err(self.ctx(what))?;
                meta.insert(&p.0, seal_horizon(p, horizon).as_slice()).map_err(self.ctx(what))?;
                archive.horizon = Some(horizon);
            }
            if let Some(delta) = delta {
                self.write_final(&txn, p, delta)?;
            }
            self.commit(txn, "committing an archive")?;
            Ok((archive, entries.len() as u64))
        });
        // Only what is committed changes memory.
        let (archive, moved) = archive?;
        index.archive = archive;
        index.forget_up_to(height);
        Ok(moved)
    }

    /// Writes `entries` as a new run of level 0, in id order, numbered above
    /// every other run of `p`: blocks of [`BLOCK`] entries (the last one
    /// may hold fewer), each keyed by its first id.
    fn write_run(
        &self,
        txn: &WriteTransaction,
        p: &PartnershipId,
        archive: &mut Archive,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let what = "archiving ops by id";
        let mut by_id: Vec<(OpId, u64)> = entries.iter().map(|entry| (entry.id, entry.height)).collect();
        by_id.sort_unstable();
        by_id.dedup_by_key(|&mut (id, _)| id);
        let run = Run { number: archive.next_run(), level: 0, len: by_id.len() as u64 };
        let mut blocks = txn.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?;
        for block in by_id.chunks(BLOCK) {
            let key = run_id_key(p, run.number, &block[0].0);
            blocks.insert(&key, seal_ids(&key, block).as_slice()).map_err(self.ctx(what))?;
        }
        let mut runs = txn.open_table(ARCHIVED_RUNS).map_err(self.ctx(what))?;
        let key = run_key(p, run.number);
        runs.insert(&key, seal_run(&key, &run).as_slice()).map_err(self.ctx(what))?;
        archive.runs.push(run);
        archive.count += run.len;
        Ok(())
    }

    /// Writes `entries` to the archived author index: per author, into the
    /// block each belongs in. New entries of an author normally follow its
    /// archived ones, so they fill its last block (rewritten) and go on in
    /// new blocks.
    fn write_authors(
        &self,
        txn: &WriteTransaction,
        p: &PartnershipId,
        archive: &mut Archive,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let what = "archiving ops by author";
        let mut by_author: Vec<(MemberId, AuthorEntry)> =
            entries.iter().map(|e| (e.author, (e.seq, e.id, e.height))).collect();
        by_author.sort_unstable_by_key(|&(author, (seq, id, _))| (author, seq, id));
        let mut table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).map_err(self.ctx(what))?;
        let mut new = Vec::new();
        for group in by_author.chunk_by(|a, b| a.0 == b.0) {
            let author = group[0].0;
            new.clear();
            new.extend(group.iter().map(|&(_, entry)| entry));
            self.write_author(&mut table, p, &author, &new)?;
            let top = group.iter().map(|&(_, (seq, _, _))| seq).max().unwrap_or(0);
            let highest = archive.seqs.entry(author).or_insert(top);
            *highest = (*highest).max(top);
        }
        Ok(())
    }

    /// Adds `new` (sorted by `(seq, id)`) to the blocks of `author`: each
    /// entry goes into the last block that starts at or before it (or the
    /// author's first block, which it then starts), the block is rewritten
    /// with its new entries and, past [`BLOCK`] entries, split in blocks of
    /// [`BLOCK`]. An entry already archived keeps the new height.
    fn write_author(
        &self,
        table: &mut Table<&'static AuthorKey, &'static [u8]>,
        p: &PartnershipId,
        author: &MemberId,
        new: &[AuthorEntry],
    ) -> Result<(), StoreError> {
        let what = "archiving ops by author";
        let (lo, hi) = author_keys(p, author, &(0..=u64::MAX));
        let mut rest = new;
        while let Some(&(seq, id, _)) = rest.first() {
            let key = author_key(p, author, seq, &id);
            let covering = {
                let before = table.range::<&AuthorKey>(&lo..=&key).map_err(self.ctx(what))?.next_back();
                let found = match before {
                    Some(found) => Some(found),
                    None => table.range::<&AuthorKey>(&lo..=&hi).map_err(self.ctx(what))?.next(),
                };
                match found {
                    Some(found) => {
                        let (key, value) = found.map_err(self.ctx(what))?;
                        Some((*key.value(), value.value().to_vec()))
                    }
                    None => None,
                }
            };
            let (old_key, old) = match covering {
                Some((old_key, bytes)) => {
                    let old = open_authors(&old_key, &bytes)
                        .and_then(|block| block.entries())
                        .map_err(|e| self.bad_block(p, e))?;
                    (Some(old_key), old)
                }
                None => (None, Vec::new()),
            };
            // The entries before the next block's first one go into this one.
            let next = match &old_key {
                Some(old_key) => table
                    .range::<&AuthorKey>((Bound::Excluded(old_key), Bound::Included(&hi)))
                    .map_err(self.ctx(what))?
                    .next()
                    .transpose()
                    .map_err(self.ctx(what))?
                    .map(|(key, _)| *key.value()),
                None => None,
            };
            let take = next
                .map_or(rest.len(), |next| {
                    rest.partition_point(|&(seq, id, _)| author_key(p, author, seq, &id) < next)
                })
                .max(1);
            let merged = merge_author_entries(old, &rest[..take]);
            let first_key = |block: &[AuthorEntry]| author_key(p, author, block[0].0, &block[0].1);
            if let Some(old_key) = old_key
                && old_key != first_key(&merged)
            {
                table.remove(&old_key).map_err(self.ctx(what))?;
            }
            for block in merged.chunks(BLOCK) {
                let key = first_key(block);
                table.insert(&key, seal_authors(&key, block).as_slice()).map_err(self.ctx(what))?;
            }
            rest = &rest[take..];
        }
        Ok(())
    }

    /// Merges `sources`, committed runs of one level (read from
    /// `snapshot`), into one new run of the next level, and deletes them.
    /// An id in two runs (only a caller bug can archive an op twice) keeps
    /// the newest run's height. Reads stream, one block per run at a time,
    /// and the merged run is written a block at a time.
    fn merge_runs(
        &self,
        snapshot: &ReadTransaction,
        txn: &WriteTransaction,
        p: &PartnershipId,
        archive: &mut Archive,
        sources: &[Run],
    ) -> Result<(), StoreError> {
        let what = "merging archived runs";
        let Some(level) = sources.first().map(|run| run.level) else { return Ok(()) };
        let merged = archive.next_run();
        let source_table = snapshot.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?;
        let mut cursors = Vec::with_capacity(sources.len());
        let mut heads = Vec::with_capacity(sources.len());
        for run in sources {
            let (first, last) = run_id_keys(p, run.number);
            let range = source_table.range::<&RunIdKey>(&first..=&last).map_err(self.ctx(what))?;
            let mut cursor = RunCursor { range, block: Vec::with_capacity(BLOCK), at: 0 };
            heads.push(self.next_archived(p, &mut cursor)?);
            cursors.push(cursor);
        }
        let mut blocks = txn.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?;
        let mut block: Vec<(OpId, u64)> = Vec::with_capacity(BLOCK);
        let mut written = 0u64;
        let mut flush = |block: &mut Vec<(OpId, u64)>| -> Result<(), StoreError> {
            if let Some(&(first, _)) = block.first() {
                let key = run_id_key(p, merged, &first);
                blocks.insert(&key, seal_ids(&key, block).as_slice()).map_err(self.ctx(what))?;
                block.clear();
            }
            Ok(())
        };
        while let Some((id, height)) = smallest_head(&heads) {
            for (head, cursor) in heads.iter_mut().zip(&mut cursors) {
                if head.is_some_and(|(at, _)| at == id) {
                    *head = self.next_archived(p, cursor)?;
                }
            }
            block.push((id, height));
            written += 1;
            if block.len() == BLOCK {
                flush(&mut block)?;
            }
        }
        flush(&mut block)?;
        let mut runs = txn.open_table(ARCHIVED_RUNS).map_err(self.ctx(what))?;
        for run in sources {
            let (first, last) = run_id_keys(p, run.number);
            blocks.retain_in::<&RunIdKey, _>(&first..=&last, |_, _| false).map_err(self.ctx(what))?;
            runs.remove(&run_key(p, run.number)).map_err(self.ctx(what))?;
        }
        let run = Run { number: merged, level: level + 1, len: written };
        let key = run_key(p, run.number);
        runs.insert(&key, seal_run(&key, &run).as_slice()).map_err(self.ctx(what))?;
        archive.runs.retain(|kept| !sources.contains(kept));
        archive.runs.push(run);
        archive.count = archive.count - sources.iter().map(|run| run.len).sum::<u64>() + written;
        Ok(())
    }

    /// The next `(id, height)` of a run being merged, reading its next
    /// block when the current one is done; a run whose ids do not ascend
    /// from block to block is corrupt.
    fn next_archived(
        &self,
        p: &PartnershipId,
        cursor: &mut RunCursor,
    ) -> Result<Option<(OpId, u64)>, StoreError> {
        if cursor.at == cursor.block.len() {
            let Some(entry) = cursor.range.next() else { return Ok(None) };
            let (key, value) = entry.map_err(self.ctx("merging archived runs"))?;
            let first = split_run_id_key(key.value());
            let block = open_ids(key.value(), value.value())
                .and_then(|block| block.entries())
                .map_err(|e| self.bad_block(p, e))?;
            if let Some(&(last, _)) = cursor.block.last()
                && last >= first
            {
                return Err(self.bad_block(
                    p,
                    format!("a run's block of op {first} follows one that ends with op {last}"),
                ));
            }
            cursor.block = block;
            cursor.at = 0;
        }
        let entry = cursor.block[cursor.at];
        cursor.at += 1;
        Ok(Some(entry))
    }

    /// A malformed block of the archived index of `p`.
    fn bad_block(&self, p: &PartnershipId, detail: String) -> StoreError {
        self.bad_archive(p, "block", detail)
    }

    /// A malformed record (`what`: block, run, horizon) of the archived
    /// index of `p`.
    fn bad_archive(&self, p: &PartnershipId, what: &str, detail: String) -> StoreError {
        self.corrupt(format!("the archived op index of partnership {p} has a malformed {what}: {detail}"))
    }

    /// The archive's summary for `p`: nothing if `p` has no horizon, else
    /// the horizon, the runs, the archived count and each author's highest
    /// archived seq.
    pub(super) fn read_archive(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
    ) -> Result<Archive, StoreError> {
        let what = "reading the archive";
        let meta = txn.open_table(ARCHIVE_META).map_err(self.ctx(what))?;
        let Some(stored) = meta.get(&p.0).map_err(self.ctx(what))? else {
            return Ok(Archive::default());
        };
        let horizon = open_horizon(p, stored.value()).map_err(|e| self.bad_archive(p, "horizon", e))?;
        let mut archive = Archive { horizon: Some(horizon), ..Archive::default() };
        let runs = txn.open_table(ARCHIVED_RUNS).map_err(self.ctx(what))?;
        let (first, last) = (run_key(p, 0), run_key(p, u64::MAX));
        for entry in runs.range::<&RunKey>(&first..=&last).map_err(self.ctx(what))? {
            let (key, value) = entry.map_err(self.ctx(what))?;
            let run = open_run(key.value(), value.value()).map_err(|e| self.bad_archive(p, "run", e))?;
            archive.runs.push(run);
            archive.count += run.len;
        }
        let authors = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).map_err(self.ctx(what))?;
        archive.seqs = self.archived_seqs(&authors, p)?;
        Ok(archive)
    }

    /// Each author's highest archived seq in `p`: per author, one seek to
    /// its first block and one to its last, whose last entry has it.
    fn archived_seqs(
        &self,
        authors: &ReadOnlyTable<&'static AuthorKey, &'static [u8]>,
        p: &PartnershipId,
    ) -> Result<BTreeMap<MemberId, u64>, StoreError> {
        let what = "reading archived authors";
        let end = author_key(p, &MemberId([0xff; 32]), u64::MAX, &OpId([0xff; 32]));
        let mut seqs = BTreeMap::new();
        let mut from = Some(MemberId([0; 32]));
        while let Some(start) = from {
            let first = author_key(p, &start, 0, &OpId([0; 32]));
            let Some(entry) = authors.range::<&AuthorKey>(&first..=&end).map_err(self.ctx(what))?.next()
            else {
                break;
            };
            let (author, _, _) = split_author_key(entry.map_err(self.ctx(what))?.0.value());
            let (lo, hi) = author_keys(p, &author, &(0..=u64::MAX));
            let last = authors.range::<&AuthorKey>(&lo..=&hi).map_err(self.ctx(what))?.next_back();
            if let Some(last) = last {
                let (key, value) = last.map_err(self.ctx(what))?;
                let highest = open_authors(key.value(), value.value())
                    .and_then(|block| block.last_seq())
                    .map_err(|e| self.bad_block(p, e))?;
                seqs.insert(author, highest);
            }
            from = successor(author.0).map(MemberId);
        }
        Ok(seqs)
    }

    /// The late ops of `p`: appended at or below the horizon, not archived
    /// yet, as `(height, id)`.
    pub(super) fn late_ops(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
    ) -> Result<Vec<(u64, OpId)>, StoreError> {
        let what = "reading late ops";
        let late = txn.open_table(LATE_OPS).map_err(self.ctx(what))?;
        let (first, last) = (op_key(p, 0, &OpId([0; 32])), op_key_max(p));
        let mut out = Vec::new();
        for entry in late.range::<&OpKey>(&first..=&last).map_err(self.ctx(what))? {
            out.push(split_op_key(entry.map_err(self.ctx(what))?.0.value()));
        }
        Ok(out)
    }

    /// The height of the archived op `id` of `p`, probing `runs` newest
    /// first: in each, one range read for the block that would hold it
    /// (the last that starts at or before it) and a binary search in it. An
    /// id not archived costs one probe per run.
    pub(super) fn archived_height(
        &self,
        table: &impl ReadableTable<&'static RunIdKey, &'static [u8]>,
        p: &PartnershipId,
        runs: &[Run],
        id: &OpId,
    ) -> Result<Option<u64>, StoreError> {
        let what = "looking up an op";
        for run in runs.iter().rev() {
            let (first, _) = run_id_keys(p, run.number);
            let key = run_id_key(p, run.number, id);
            let Some(found) = table.range::<&RunIdKey>(&first..=&key).map_err(self.ctx(what))?.next_back()
            else {
                continue;
            };
            let (key, value) = found.map_err(self.ctx(what))?;
            let height = open_ids(key.value(), value.value())
                .and_then(|block| block.height_of(id))
                .map_err(|e| self.bad_block(p, e))?;
            if height.is_some() {
                return Ok(height);
            }
        }
        Ok(None)
    }

    /// The archived ops of `author` in `p` with seq in `seqs`, as
    /// `(seq, height, id)` in `(seq, id)` order: the blocks from the last
    /// one that starts at or before the first seq wanted, forward while
    /// they start at or before the last.
    pub(super) fn archived_of_author(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
        author: &MemberId,
        seqs: &std::ops::RangeInclusive<u64>,
    ) -> Result<Vec<(u64, u64, OpId)>, StoreError> {
        let what = "reading an author's archived ops";
        let table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).map_err(self.ctx(what))?;
        let (lo, _) = author_keys(p, author, &(0..=u64::MAX));
        let (start, end) = author_keys(p, author, seqs);
        let from = match table.range::<&AuthorKey>(&lo..=&start).map_err(self.ctx(what))?.next_back() {
            Some(found) => *found.map_err(self.ctx(what))?.0.value(),
            None => lo,
        };
        let mut out = Vec::new();
        for found in table.range::<&AuthorKey>(&from..=&end).map_err(self.ctx(what))? {
            let (key, value) = found.map_err(self.ctx(what))?;
            let block = open_authors(key.value(), value.value())
                .and_then(|block| block.with_seqs(seqs))
                .map_err(|e| self.bad_block(p, e))?;
            out.extend(block.into_iter().map(|(seq, id, height)| (seq, height, id)));
        }
        Ok(out)
    }
}

/// The stored `archive_meta` value of `p`: its horizon, checked
/// (`checksum.rs`).
pub(super) fn seal_horizon(p: &PartnershipId, horizon: u64) -> Vec<u8> {
    checksum::seal(ARCHIVE_META.name(), &p.0, &horizon.to_be_bytes())
}

/// The horizon stored for `p`, once it checks.
fn open_horizon(p: &PartnershipId, stored: &[u8]) -> Result<u64, String> {
    let value = checksum::open(ARCHIVE_META.name(), &p.0, stored)?;
    let bytes: [u8; 8] = value.try_into().map_err(|_| format!("{} bytes, not 8", value.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The stored `archived_runs` value under `key`: level ‖ entry count,
/// checked.
pub(super) fn seal_run(key: &RunKey, run: &Run) -> Vec<u8> {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&run.level.to_be_bytes());
    value[8..].copy_from_slice(&run.len.to_be_bytes());
    checksum::seal(ARCHIVED_RUNS.name(), key, &value)
}

/// The run stored under `key`, once it checks.
fn open_run(key: &RunKey, stored: &[u8]) -> Result<Run, String> {
    let value = checksum::open(ARCHIVED_RUNS.name(), key, stored)?;
    let fields: [u8; 16] = value.try_into().map_err(|_| format!("{} bytes, not 16", value.len()))?;
    let (level, len) = fields.split_at(8);
    let word =
        |bytes: &[u8]| bytes.try_into().map(u64::from_be_bytes).map_err(|_| "a short field".to_owned());
    Ok(Run { number: split_run_key(key), level: word(level)?, len: word(len)? })
}

/// A run being merged: its blocks in id order, and the entries of the
/// current one.
struct RunCursor {
    range: Range<'static, &'static RunIdKey, &'static [u8]>,
    block: Vec<(OpId, u64)>,
    at: usize,
}

/// `old` and `new` entries of an author, both sorted by `(seq, id)`, in
/// one sorted list; an entry in both keeps the new height.
fn merge_author_entries(mut old: Vec<AuthorEntry>, new: &[AuthorEntry]) -> Vec<AuthorEntry> {
    let key = |&(seq, id, _): &AuthorEntry| (seq, id);
    match (old.last(), new.first()) {
        (Some(last), Some(first)) if key(last) < key(first) => {
            old.extend_from_slice(new);
            return old;
        }
        (None, _) => return new.to_vec(),
        _ => {}
    }
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut a, mut b) = (old.into_iter().peekable(), new.iter().copied().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match key(x).cmp(&key(y)) {
                std::cmp::Ordering::Less => out.extend(a.next()),
                std::cmp::Ordering::Greater => out.extend(b.next()),
                std::cmp::Ordering::Equal => {
                    a.next();
                    out.extend(b.next());
                }
            },
            (Some(_), None) => out.extend(a.next()),
            (None, Some(_)) => out.extend(b.next()),
            (None, None) => return out,
        }
    }
}

/// The smallest id at the head of the runs being merged (given oldest
/// first), with the height of the newest run that holds it.
fn smallest_head(heads: &[Option<(OpId, u64)>]) -> Option<(OpId, u64)> {
    let mut smallest: Option<(OpId, u64)> = None;
    for &(id, height) in heads.iter().flatten() {
        if smallest.is_none_or(|(best, _)| id <= best) {
            smallest = Some((id, height));
        }
    }
    smallest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_run_wins_a_tie_when_merging() {
        let (a, b) = (OpId([1; 32]), OpId([2; 32]));
        assert_eq!(smallest_head(&[None, None]), None);
        assert_eq!(smallest_head(&[Some((b, 1)), None, Some((a, 2))]), Some((a, 2)));
        assert_eq!(smallest_head(&[Some((a, 1)), Some((b, 3)), Some((a, 2))]), Some((a, 2)));
    }

    #[test]
    fn full_levels_are_those_with_fanout_runs() {
        let run = |number, level| Run { number, level, len: 1 };
        let mut archive = Archive::default();
        assert_eq!(archive.next_run(), 0);
        archive.runs = (0..FANOUT as u64).map(|n| run(n, 1)).chain([run(50, 0)]).collect();
        assert_eq!(archive.full_levels(), vec![1]);
        assert_eq!(archive.next_run(), 51);
    }
}
