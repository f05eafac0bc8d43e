//! Scrubbing: reading every record of the store once and checking it, to
//! find damage before a node meets it.
//!
//! A node checks each record when it reads it, so damage in a record it
//! has not read yet (an old op, an archived block, an idle partnership's
//! state) stays unseen until then. [`Store::scrub`] reads them all, each
//! with the check its reader makes (an op against its id, a tombstone and
//! the store's other records against their checksums, module code against
//! its hash, a final state against its saved root through the function the
//! caller gives, since roots are the ledger's), and cross-checks what
//! several records say together: every run of the archived id index holds
//! as many entries as it records, and the archived index by id and by
//! author hold the same number. Damage in one area is reported and the
//! scrub goes on, so one report lists all of it.
//!
//! This file owns the walk and the report; the checks are the records'
//! own (`checksum.rs`, `block.rs`, `ops.rs`). Run it on a store no node
//! has open (`polypact store check`); with the whole-file check at open it
//! also checks redb's own pages.

use std::collections::BTreeMap;

use redb::ReadTransaction;

use super::block::{open_authors, open_ids};
use super::compact::tombstone_header;
use super::db::Store;
use super::error::StoreError;
use super::tables::{
    ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, AuthorKey, OPS, OpKey, RunIdKey, author_key, op_key,
    op_key_max, run_id_key, split_op_key,
};
use crate::op::{MemberId, OpId, PartnershipId};

/// The root of a final state, from its key/value pairs (the ledger's rule:
/// `ledger::LtHash`).
pub type StateRootFn<'a> = &'a dyn Fn(&[(Vec<u8>, Vec<u8>)]) -> [u8; 32];

/// The scrub of one area of a partnership's records, counting into the
/// report.
type AreaScrub<'a> = dyn Fn(&mut ScrubReport) -> Result<(), StoreError> + 'a;

/// What [`Store::scrub`] read, and the damage it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScrubReport {
    /// Partnerships read.
    pub partnerships: u64,
    /// Op records read and checked, compacted ones included.
    pub ops: u64,
    /// Of those, compacted ops (tombstones).
    pub compacted: u64,
    /// Archived op index entries read, by id and by author.
    pub archived_entries: u64,
    /// Final state values read.
    pub state_values: u64,
    /// Final states checked against their saved root (a state saved by
    /// a node older than schema 8 has none until its next save).
    pub roots_checked: u64,
    /// Module code blobs read and checked against their hash.
    pub code: u64,
    /// Every damaged record found, in the order met.
    pub damage: Vec<Damage>,
}

/// One damaged record (or set of records that disagree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The partnership it belongs to, if it belongs to one.
    pub partnership: Option<PartnershipId>,
    /// What it is: `ops`, `archived index`, `final state`, …
    pub area: &'static str,
    /// What is wrong, as the store says it.
    pub detail: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.partnership {
            Some(p) => write!(f, "partnership {p}, {}: {}", self.area, self.detail),
            None => write!(f, "{}: {}", self.area, self.detail),
        }
    }
}

impl ScrubReport {
    /// The items a listing read, or none with its damage reported; `Err`
    /// for a failure that is not damage.
    fn listed<T>(
        &mut self,
        area: &'static str,
        listing: Result<Vec<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match listing {
            Ok(items) => Ok(items),
            Err(error @ StoreError::Corrupt { .. }) => {
                self.found(None, area, &error);
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }

    fn found(&mut self, partnership: Option<PartnershipId>, area: &'static str, error: &StoreError) {
        let detail = match error {
            StoreError::Corrupt { detail, .. } => detail.clone(),
            other => other.to_string(),
        };
        self.damage.push(Damage { partnership, area, detail });
    }
}

impl Store {
    /// Reads every record once and checks it (see the module doc); a
    /// final state with a saved root is checked with `state_root`.
    ///
    /// Damage goes in the report, not the error: `Err` is only for a store
    /// that cannot be read at all (an I/O failure, a closed store).
    pub fn scrub(&self, state_root: StateRootFn<'_>) -> Result<ScrubReport, StoreError> {
        let mut report = ScrubReport::default();
        let partnerships = report.listed("list of partnerships", self.partnerships())?;
        for p in &partnerships {
            report.partnerships += 1;
            self.scrub_partnership(p, state_root, &mut report)?;
        }
        let hashes = report.listed("module code", self.code_hashes())?;
        for hash in hashes {
            match self.get_code(&hash) {
                Ok(_) => report.code += 1,
                Err(error @ (StoreError::Corrupt { .. } | StoreError::CodeMismatch { .. })) => {
                    report.found(None, "module code", &error);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    /// Scrubs one partnership's records into `report`.
    fn scrub_partnership(
        &self,
        p: &PartnershipId,
        state_root: StateRootFn<'_>,
        report: &mut ScrubReport,
    ) -> Result<(), StoreError> {
        let some = Some(*p);
        // Each area alone: damage in one is reported and the next is read.
        let areas: [(&'static str, &AreaScrub<'_>); 6] = [
            ("ops", &|report| self.scrub_ops(p, report)),
            ("op index", &|_| self.op_count(p).map(drop)),
            ("archived index", &|report| self.scrub_archive(p, report)),
            ("late ops", &|_| self.late_ops_of(p).map(drop)),
            ("final state", &|report| self.scrub_final(p, state_root, report)),
            ("compaction and resting records", &|_| {
                self.compaction(p)?;
                self.resting_mark(p).map(drop)
            }),
        ];
        for (area, scrub) in areas {
            match self.guarded("scrubbing", || scrub(report)) {
                Ok(()) => {}
                Err(error @ StoreError::Corrupt { .. }) => report.found(some, area, &error),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Every op record of `p`, each checked: an op against its id, a
    /// tombstone against its checksum.
    fn scrub_ops(&self, p: &PartnershipId, report: &mut ScrubReport) -> Result<(), StoreError> {
        let what = "scrubbing ops";
        let txn = self.read_txn()?;
        let table = txn.open_table(OPS).map_err(self.ctx(what))?;
        let (first, last) = (op_key(p, 0, &OpId([0; 32])), op_key_max(p));
        for entry in table.range::<&OpKey>(&first..=&last).map_err(self.ctx(what))? {
            let (key, value) = entry.map_err(self.ctx(what))?;
            let (_, id) = split_op_key(key.value());
            match tombstone_header(key.value(), value.value()) {
                Some(tombstone) => {
                    tombstone.map_err(|e| self.corrupt(format!("the compacted record of op {id}: {e}")))?;
                    report.compacted += 1;
                }
                None => {
                    self.decode_op(value.value(), &id)?;
                }
            }
            report.ops += 1;
        }
        Ok(())
    }

    /// Every block of `p`'s archived index, each checked and in order, and
    /// their counts against the runs' and each other.
    fn scrub_archive(&self, p: &PartnershipId, report: &mut ScrubReport) -> Result<(), StoreError> {
        let txn = self.read_txn()?;
        let archive = self.read_archive(&txn, p)?;
        let by_id = self.scrub_id_blocks(&txn, p)?;
        for run in &archive.runs {
            let held = by_id.get(&run.number).copied().unwrap_or(0);
            if held != run.len {
                return Err(self.corrupt(format!(
                    "run {} of the archived index of partnership {p} records {} entries and holds {held}",
                    run.number, run.len
                )));
            }
        }
        if let Some((&run, _)) = by_id.iter().find(|(run, _)| !archive.runs.iter().any(|r| r.number == **run))
        {
            return Err(self.corrupt(format!(
                "the archived index of partnership {p} holds blocks of run {run}, which it does not record"
            )));
        }
        let by_author = self.scrub_author_blocks(&txn, p)?;
        if by_author != archive.count {
            return Err(self.corrupt(format!(
                "the archived index of partnership {p} holds {} entries by id and {by_author} by author",
                archive.count
            )));
        }
        report.archived_entries += archive.count + by_author;
        Ok(())
    }

    /// Entries per run in `p`'s id blocks, every block checked.
    fn scrub_id_blocks(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
    ) -> Result<BTreeMap<u64, u64>, StoreError> {
        let what = "scrubbing the archived index";
        let table = txn.open_table(ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?;
        let (first, last): (RunIdKey, RunIdKey) =
            (run_id_key(p, 0, &OpId([0; 32])), run_id_key(p, u64::MAX, &OpId([0xff; 32])));
        let mut runs = BTreeMap::new();
        for entry in table.range::<&RunIdKey>(&first..=&last).map_err(self.ctx(what))? {
            let (key, value) = entry.map_err(self.ctx(what))?;
            let entries = open_ids(key.value(), value.value())
                .and_then(|block| block.entries())
                .map_err(|e| self.corrupt(format!("the archived op index of partnership {p}: {e}")))?;
            // A run's key splits as an op's, with the run for the height.
            let (run, _) = split_op_key(key.value());
            *runs.entry(run).or_insert(0) += entries.len() as u64;
        }
        Ok(runs)
    }

    /// Entries in `p`'s author blocks, every block checked.
    fn scrub_author_blocks(&self, txn: &ReadTransaction, p: &PartnershipId) -> Result<u64, StoreError> {
        let what = "scrubbing the archived index";
        let table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).map_err(self.ctx(what))?;
        let (first, last): (AuthorKey, AuthorKey) = (
            author_key(p, &MemberId([0; 32]), 0, &OpId([0; 32])),
            author_key(p, &MemberId([0xff; 32]), u64::MAX, &OpId([0xff; 32])),
        );
        let mut count = 0;
        for entry in table.range::<&AuthorKey>(&first..=&last).map_err(self.ctx(what))? {
            let (key, value) = entry.map_err(self.ctx(what))?;
            let entries = open_authors(key.value(), value.value())
                .and_then(|block| block.entries())
                .map_err(|e| self.corrupt(format!("the archived op index of partnership {p}: {e}")))?;
            count += entries.len() as u64;
        }
        Ok(count)
    }

    /// `p`'s saved final state: its record, and its values against the
    /// saved root.
    fn scrub_final(
        &self,
        p: &PartnershipId,
        state_root: StateRootFn<'_>,
        report: &mut ScrubReport,
    ) -> Result<(), StoreError> {
        let Some(snapshot) = self.load_final(p)? else { return Ok(()) };
        report.state_values += snapshot.state.len() as u64;
        if let Some(saved) = snapshot.state_root {
            let found = state_root(&snapshot.state);
            if found != saved {
                return Err(self.corrupt(format!(
                    "the final state of partnership {p} at height {} has root {}, not the {} saved with it",
                    snapshot.final_height,
                    hex::encode(found),
                    hex::encode(saved)
                )));
            }
            report.roots_checked += 1;
        }
        Ok(())
    }
}
