//! Upgrading a file of an older schema to [`SCHEMA_VERSION`], in one
//! durable commit when the store opens it: either the whole upgrade is on
//! disk or none of it.
//!
//! The steps, each from the schema before:
//! - 1 → 2, 2 → 3, 3 → 4 each dropped a table whose content the store now
//!   keeps in memory, built from the `ops` table: the op id index, the
//!   per-author seqs (and the op counts in `partnerships`, which stayed
//!   behind, unread), the by-author index;
//! - 4 → 5 creates the empty tables of the archived op index (an older file
//!   has nothing archived); 5 → 6 the empty `compacted` table; 6 → 7 the
//!   empty `resting` table (no partnership of an older file is resting:
//!   each loads at the first start and may rest from then on); 7 → 8 the
//!   empty `final_roots` table (an older file's snapshots have no saved
//!   root, so their first load is not checked; the next save records one);
//! - 8 → 9 adds a checksum to every record that did not check itself
//!   (`checksum.rs`): the values of `final_meta`, `resting`, `compacted`
//!   and the archive's blocks gain one; the archive's horizons and runs,
//!   stored as bare integers, are rewritten as checked bytes; each entry
//!   of `partnerships` gets its key's checksum; and compacted ops'
//!   tombstones gain one. It reads and rewrites those tables once (the
//!   archived index is about 90 bytes per archived op) and, for compacted
//!   partnerships only, their compacted range of `ops`.
//!
//! This file does not decide the layouts: each table's file does.

use std::ops::Bound;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use super::archive::{Run, seal_horizon, seal_run};
use super::checksum;
use super::compact::{parse, reseal_tombstone};
use super::db::Store;
use super::error::{SCHEMA_VERSION, StoreError};
use super::tables::{
    self, ARCHIVE_META, ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, COMPACTED, FINAL_META,
    LEGACY_ARCHIVE_META, LEGACY_ARCHIVED_RUNS, OPS, OpKey, PARTNERSHIPS, RESTING, SCHEMA, SCHEMA_KEY, op_key,
    split_run_key,
};
use crate::op::{OpId, PartnershipId};

/// How many records the checksum step reads before it writes them back,
/// so its memory stays bounded at any size of table.
const BATCH: usize = 1024;

const WHAT: &str = "upgrading the schema";

impl Store {
    /// Upgrades a file of schema `found` (below [`SCHEMA_VERSION`]) in one
    /// durable commit.
    pub(super) fn upgrade_from(&self, found: u64) -> Result<(), StoreError> {
        let txn = self.write_txn()?;
        {
            // Deleting a table the file does not have is a no-op.
            txn.delete_table(tables::LEGACY_OP_INDEX).map_err(self.ctx(WHAT))?;
            txn.delete_table(tables::LEGACY_AUTHOR_SEQS).map_err(self.ctx(WHAT))?;
            txn.delete_table(tables::LEGACY_AUTHOR_INDEX).map_err(self.ctx(WHAT))?;
            if found < 9 {
                self.add_checksums(&txn)?;
            }
            self.create_archive_tables(&txn, WHAT)?;
            let mut schema = txn.open_table(SCHEMA).map_err(self.ctx(WHAT))?;
            schema.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(self.ctx(WHAT))?;
        }
        self.commit(txn, WHAT)?;
        tracing::info!(path = %self.label().display(), "store upgraded from schema {found} to {SCHEMA_VERSION}");
        Ok(())
    }

    /// Schema 8 → 9: a checksum on every record that did not check itself.
    fn add_checksums(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.seal_tombstones(txn)?;
        self.seal_values(txn, FINAL_META)?;
        self.seal_values(txn, RESTING)?;
        self.seal_values(txn, COMPACTED)?;
        self.seal_values(txn, ARCHIVED_ID_BLOCKS)?;
        self.seal_values(txn, ARCHIVED_AUTHOR_BLOCKS)?;
        // Horizons and runs were bare integers: the tables change type.
        let horizons = read_all(&txn.open_table(LEGACY_ARCHIVE_META).map_err(self.ctx(WHAT))?, |h| h)
            .map_err(self.ctx(WHAT))?;
        let runs = read_all(&txn.open_table(LEGACY_ARCHIVED_RUNS).map_err(self.ctx(WHAT))?, |run| run)
            .map_err(self.ctx(WHAT))?;
        txn.delete_table(LEGACY_ARCHIVE_META).map_err(self.ctx(WHAT))?;
        txn.delete_table(LEGACY_ARCHIVED_RUNS).map_err(self.ctx(WHAT))?;
        let mut table = txn.open_table(ARCHIVE_META).map_err(self.ctx(WHAT))?;
        for (p, horizon) in horizons {
            table.insert(&p, seal_horizon(&PartnershipId(p), horizon).as_slice()).map_err(self.ctx(WHAT))?;
        }
        let mut table = txn.open_table(ARCHIVED_RUNS).map_err(self.ctx(WHAT))?;
        for (key, (level, len)) in runs {
            let run = Run { number: split_run_key(&key), level, len };
            table.insert(&key, seal_run(&key, &run).as_slice()).map_err(self.ctx(WHAT))?;
        }
        let mut listed = txn.open_table(PARTNERSHIPS).map_err(self.ctx(WHAT))?;
        let keys = read_all(&listed, |_| ()).map_err(self.ctx(WHAT))?;
        for (p, _) in keys {
            listed.insert(&p, checksum::of_key(PARTNERSHIPS.name(), &p)).map_err(self.ctx(WHAT))?;
        }
        Ok(())
    }

    /// Replaces every value of `table` with itself and its checksum, a
    /// [`BATCH`] at a time.
    fn seal_values<const N: usize>(
        &self,
        txn: &WriteTransaction,
        definition: TableDefinition<&'static [u8; N], &'static [u8]>,
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(definition).map_err(self.ctx(WHAT))?;
        let mut after: Option<[u8; N]> = None;
        loop {
            let batch: Vec<([u8; N], Vec<u8>)> = {
                let range = match &after {
                    Some(key) => table.range::<&[u8; N]>((Bound::Excluded(key), Bound::Unbounded)),
                    None => table.range::<&[u8; N]>(..),
                }
                .map_err(self.ctx(WHAT))?;
                range
                    .take(BATCH)
                    .map(|entry| entry.map(|(key, value)| (*key.value(), value.value().to_vec())))
                    .collect::<Result<_, _>>()
                    .map_err(self.ctx(WHAT))?
            };
            let Some((last, _)) = batch.last() else { return Ok(()) };
            after = Some(*last);
            for (key, value) in &batch {
                let sealed = checksum::seal(definition.name(), key, value);
                table.insert(key, sealed.as_slice()).map_err(self.ctx(WHAT))?;
            }
        }
    }

    /// Gives every tombstone a checksum: the compacted range of each
    /// compacted partnership (read from `compacted` before it is sealed).
    fn seal_tombstones(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        let compacted =
            read_all(&txn.open_table(COMPACTED).map_err(self.ctx(WHAT))?, |record| record.to_vec())
                .map_err(self.ctx(WHAT))?;
        let mut ops = txn.open_table(OPS).map_err(self.ctx(WHAT))?;
        for (p, record) in compacted {
            let p = PartnershipId(p);
            let done_upto = parse(&record)
                .map_err(|e| self.corrupt(format!("the compaction record of partnership {p}: {e}")))?
                .done_upto;
            let end = op_key(&p, done_upto, &OpId([0xff; 32]));
            let mut from: Bound<OpKey> = Bound::Included(op_key(&p, 0, &OpId([0; 32])));
            loop {
                let (batch, last): (Vec<(OpKey, Vec<u8>)>, Option<OpKey>) = {
                    let mut range = ops
                        .range::<&OpKey>((from.as_ref(), Bound::Included(&end)))
                        .map_err(self.ctx(WHAT))?;
                    let mut batch = Vec::new();
                    let mut last = None;
                    for entry in range.by_ref().take(BATCH) {
                        let (key, value) = entry.map_err(self.ctx(WHAT))?;
                        let key = *key.value();
                        last = Some(key);
                        if let Some(sealed) = reseal_tombstone(&key, value.value()) {
                            batch.push((key, sealed));
                        }
                    }
                    (batch, last)
                };
                let Some(last) = last else { break };
                for (key, sealed) in &batch {
                    ops.insert(key, sealed.as_slice()).map_err(self.ctx(WHAT))?;
                }
                from = Bound::Excluded(last);
            }
        }
        Ok(())
    }
}

/// Every entry of a table whose keys are fixed-size, in key order, each
/// value made `owned`.
fn read_all<const N: usize, V: redb::Value + 'static, O>(
    table: &impl ReadableTable<&'static [u8; N], V>,
    owned: impl Fn(V::SelfType<'_>) -> O,
) -> Result<Vec<([u8; N], O)>, redb::StorageError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        out.push((*key.value(), owned(value.value())));
    }
    Ok(out)
}
