//! Compaction: dropping the content of a partnership's old final ops
//! behind a certified checkpoint.
//!
//! A partnership's participants attest the root of its final state at
//! checkpoint heights (`cert::Statement::Checkpoint`). Once a node holds
//! the certificate of one (every participant's attestation), it may
//! compact the stored ops at or below that height with
//! [`Store::compact_below`]: each op's record is replaced by a checked
//! 49-byte tombstone of its header (author, seq, time), what the graph needs to
//! place an op that arrives late built on it, and the archived index of
//! the ops (ids, heights, authors' seqs) stays, so an old seq's twin is
//! still an equivocation. The payload and signature go. The certificate,
//! kept in `compacted` with how far compaction got, proves to anyone what
//! the state was there. Ops the caller names (what a restart and
//! certificates read back) and ops still indexed in memory (above the
//! archive horizon, or stored late) are never compacted, nor is the
//! genesis.
//!
//! A read of a compacted op answers [`StoreError::Compacted`]
//! ([`Store::op_header`] still answers); reads of many ops (an author's for
//! sync, history in order) leave compacted ones out.
//! Deletion goes `max_ops` at a time, each step one durable commit that
//! also records how far it got, so a crash between steps loses nothing
//! and the next call goes on from there.
//!
//! This file owns the `compacted` table. Whether and when to compact is the
//! node's choice (an operator's setting, off by default: ops are kept for
//! audit); which ops a restart needs is the ledger's.

use std::collections::BTreeSet;

use redb::{ReadTransaction, ReadableTable, TableHandle};

use super::checksum;
use super::db::Store;
use super::error::StoreError;
use super::tables::{COMPACTED, OPS, OpKey, op_key, split_op_key};
use crate::op::{MemberId, OpHeader, OpId, PartnershipId};

/// The first byte of a compacted op's record, never an encoding version.
const TOMBSTONE: u8 = 0xC0;

/// A compacted op's record under `key`: [`TOMBSTONE`] ‖ author(32) ‖
/// seq(8) ‖ time_ms(8), what the graph needs to place ops built on it,
/// checked (`checksum.rs`; the op's content, which checked the header
/// against its id, is gone).
fn tombstone(key: &OpKey, header: &OpHeader) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(49);
    bytes.push(TOMBSTONE);
    bytes.extend_from_slice(&header.author.0);
    bytes.extend_from_slice(&header.seq.to_be_bytes());
    bytes.extend_from_slice(&header.time_ms.to_be_bytes());
    checksum::seal(OPS.name(), key, &bytes)
}

/// The checked tombstone for a record of schemas 6 to 8 under `key`, if
/// it is a tombstone (49 bytes, no checksum): for the upgrade to schema 9.
pub(super) fn reseal_tombstone(key: &OpKey, legacy: &[u8]) -> Option<Vec<u8>> {
    (legacy.len() == 49 && is_tombstone(legacy)).then(|| checksum::seal(OPS.name(), key, legacy))
}

/// Whether `bytes` is a compacted op's record (an op's record starts with
/// its encoding version, never [`TOMBSTONE`]).
pub(super) fn is_tombstone(bytes: &[u8]) -> bool {
    bytes.first() == Some(&TOMBSTONE)
}

/// The header the compacted op's record under `key` keeps: `None` for an
/// op's record, what is wrong for a tombstone that does not check.
pub(super) fn tombstone_header(key: &OpKey, stored: &[u8]) -> Option<Result<OpHeader, String>> {
    if !is_tombstone(stored) {
        return None;
    }
    let header = checksum::open(OPS.name(), key, stored).and_then(|bytes| {
        let malformed = || format!("a tombstone of {} bytes, not 49", bytes.len());
        let fields: &[u8; 49] = bytes.try_into().map_err(|_| malformed())?;
        let (author, rest) = fields[1..].split_first_chunk::<32>().ok_or_else(malformed)?;
        let (seq, time_ms) = rest.split_first_chunk::<8>().ok_or_else(malformed)?;
        let time_ms: [u8; 8] = time_ms.try_into().map_err(|_| malformed())?;
        Ok(OpHeader {
            author: MemberId(*author),
            seq: u64::from_be_bytes(*seq),
            time_ms: u64::from_be_bytes(time_ms),
        })
    });
    Some(header)
}

/// How far a partnership's stored ops are compacted, from
/// [`Store::compaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// The checkpoint height the certificate proves, and up to which ops
    /// are being compacted.
    pub checkpoint: u64,
    /// Every op at or below this height is compacted, except those kept.
    pub done_upto: u64,
    /// The certificate of the checkpoint (`cert::Certificate`, canonical
    /// bytes).
    pub certificate: Vec<u8>,
}

/// What one [`Store::compact_below`] step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactStep {
    /// How many ops it compacted.
    pub compacted: u64,
    /// Whether every op up to the checkpoint is now compacted (but those
    /// kept): the next call has nothing to do until a higher checkpoint.
    pub done: bool,
}

/// The `compacted` value of `p`: checkpoint ‖ done upto ‖ certificate,
/// checked (`checksum.rs`).
fn encode(p: &PartnershipId, c: &Compaction) -> Vec<u8> {
    let mut value = Vec::with_capacity(16 + c.certificate.len());
    value.extend_from_slice(&c.checkpoint.to_be_bytes());
    value.extend_from_slice(&c.done_upto.to_be_bytes());
    value.extend_from_slice(&c.certificate);
    checksum::seal(COMPACTED.name(), &p.0, &value)
}

/// The compaction record of `p` in `stored`; what is wrong if it does not
/// check or decode.
fn decode(p: &PartnershipId, stored: &[u8]) -> Result<Compaction, String> {
    parse(checksum::open(COMPACTED.name(), &p.0, stored)?)
}

/// A compaction record's fields, checksum aside (schemas 6 to 8 stored
/// them bare: the upgrade reads them with this).
pub(super) fn parse(value: &[u8]) -> Result<Compaction, String> {
    let too_short = || "it is too short".to_owned();
    let (checkpoint, rest) = value.split_first_chunk::<8>().ok_or_else(too_short)?;
    let (done_upto, certificate) = rest.split_first_chunk::<8>().ok_or_else(too_short)?;
    Ok(Compaction {
        checkpoint: u64::from_be_bytes(*checkpoint),
        done_upto: u64::from_be_bytes(*done_upto),
        certificate: certificate.to_vec(),
    })
}

impl Store {
    /// How far the ops of `p` are compacted; `None` if never.
    pub fn compaction(&self, p: &PartnershipId) -> Result<Option<Compaction>, StoreError> {
        self.guarded("reading the compaction record", || {
            let txn = self.read_txn()?;
            self.compaction_in(&txn, p)
        })
    }

    /// [`Store::compaction`] within `txn`.
    pub(super) fn compaction_in(
        &self,
        txn: &ReadTransaction,
        p: &PartnershipId,
    ) -> Result<Option<Compaction>, StoreError> {
        let what = "reading the compaction record";
        let table = txn.open_table(COMPACTED).map_err(self.ctx(what))?;
        let Some(value) = table.get(&p.0).map_err(self.ctx(what))? else { return Ok(None) };
        decode(p, value.value())
            .map(Some)
            .map_err(|e| self.corrupt(format!("the compaction record of partnership {p}: {e}")))
    }

    /// Compacts up to `max_ops` stored ops of `p` at heights
    /// `1..=checkpoint` that are archived (not indexed in memory) and not
    /// in `keep` (each record becomes its header's tombstone), in one
    /// durable commit that also records `certificate` and how far
    /// compaction got. Call it only with a checkpoint whose certificate
    /// verifies and that is at or below the archive horizon; refused, with
    /// nothing changed, for a checkpoint above the horizon or below one
    /// already recorded ([`StoreError::CompactionRefused`]).
    pub fn compact_below(
        &self,
        p: &PartnershipId,
        checkpoint: u64,
        certificate: &[u8],
        keep: &BTreeSet<OpId>,
        max_ops: usize,
    ) -> Result<CompactStep, StoreError> {
        let what = "compacting ops";
        let horizon = self.archive_horizon(p)?.unwrap_or(0);
        if checkpoint > horizon {
            return Err(StoreError::CompactionRefused(format!(
                "cannot compact partnership {p} up to height {checkpoint}: its ops are archived only up to \
                 {horizon}"
            )));
        }
        let previous = self.compaction(p)?;
        if let Some(previous) = &previous
            && checkpoint < previous.checkpoint
        {
            return Err(StoreError::CompactionRefused(format!(
                "cannot compact partnership {p} up to height {checkpoint}: it is compacted up to {} already",
                previous.checkpoint
            )));
        }
        let from = previous.as_ref().map_or(1, |c| c.done_upto.saturating_add(1)).max(1);
        let unchanged = previous.as_ref().is_some_and(|c| c.checkpoint == checkpoint);
        if from > checkpoint && unchanged {
            return Ok(CompactStep { compacted: 0, done: true });
        }
        let in_memory = self.with_index(p, |index| {
            index
                .ids
                .iter()
                .filter(|(_, height)| **height <= checkpoint)
                .map(|(id, _)| *id)
                .collect::<BTreeSet<_>>()
        })?;
        self.guarded(what, || {
            let txn = self.write_txn()?;
            let mut step = CompactStep::default();
            {
                let mut ops = txn.open_table(OPS).map_err(self.ctx(what))?;
                let mut doomed: Vec<(OpKey, Vec<u8>)> = Vec::new();
                // Whole heights at a time, so `done_upto` is exact.
                let mut done_upto = checkpoint.max(from.saturating_sub(1));
                if from <= checkpoint {
                    let (start, end) =
                        (op_key(p, from, &OpId([0; 32])), op_key(p, checkpoint, &OpId([0xff; 32])));
                    let mut last_height = None;
                    for entry in ops.range::<&OpKey>(&start..=&end).map_err(self.ctx(what))? {
                        let (key, value) = entry.map_err(self.ctx(what))?;
                        let key = *key.value();
                        let (height, id) = split_op_key(&key);
                        if last_height != Some(height) {
                            if doomed.len() >= max_ops.max(1) {
                                done_upto = height - 1;
                                break;
                            }
                            last_height = Some(height);
                        }
                        let bytes = value.value();
                        if keep.contains(&id) || in_memory.contains(&id) || is_tombstone(bytes) {
                            continue;
                        }
                        // Checked against its id: the tombstone keeps what
                        // the op said, and nothing will check it again.
                        let header = self.checked_header(bytes, &id)?;
                        doomed.push((key, tombstone(&key, &header)));
                    }
                }
                for (key, stone) in &doomed {
                    ops.insert(key, stone.as_slice()).map_err(self.ctx(what))?;
                }
                step.compacted = doomed.len() as u64;
                step.done = done_upto == checkpoint;
                let record = Compaction { checkpoint, done_upto, certificate: certificate.to_vec() };
                let mut table = txn.open_table(COMPACTED).map_err(self.ctx(what))?;
                table.insert(&p.0, encode(p, &record).as_slice()).map_err(self.ctx(what))?;
            }
            self.commit(txn, what)?;
            Ok(step)
        })
    }
}
