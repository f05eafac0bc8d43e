//! The bounded buffer of ops whose parents have not arrived yet.
//!
//! Ops that arrive before their parents (gossip is unordered) wait here and
//! are released when the last missing parent is inserted. The buffer is
//! bounded by a count and by bytes ([`PendingLimits`]); an op that would go
//! past either bound is refused (not stored, not remembered), and the sender
//! or anti-entropy sync offers it again once its parents are in. Refusing the
//! newcomer rather than evicting older ops keeps the buffer's work bounded and
//! cannot be used to push out ops a peer already waits on.

use std::collections::{BTreeMap, BTreeSet};

use crate::op::{OpId, SignedOp};

/// Bounds of the pending buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLimits {
    /// Most ops held at once.
    pub max_ops: usize,
    /// Most encoded bytes held at once.
    pub max_bytes: usize,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits { max_ops: 10_000, max_bytes: 64 * 1024 * 1024 }
    }
}

/// Ops waiting for parents, indexed by what they wait for.
#[derive(Debug, Default)]
pub struct PendingBuffer {
    limits: PendingLimits,
    ops: BTreeMap<OpId, Held>,
    waiting_on: BTreeMap<OpId, BTreeSet<OpId>>,
    bytes: usize,
}

/// One waiting op.
#[derive(Debug)]
struct Held {
    op: SignedOp,
    missing: BTreeSet<OpId>,
    front_door: bool,
}

/// The buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingFull {
    /// Ops held.
    pub ops: usize,
    /// Bytes held.
    pub bytes: usize,
}

impl PendingBuffer {
    /// An empty buffer with these bounds.
    pub fn new(limits: PendingLimits) -> Self {
        PendingBuffer { limits, ..Default::default() }
    }

    /// Number of ops waiting.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether this op is already waiting.
    pub fn contains(&self, id: &OpId) -> bool {
        self.ops.contains_key(id)
    }

    /// Records that a waiting op was offered again by sync: when released it
    /// meets the structural rules only (the most lenient door it came by).
    pub fn offered_by_sync(&mut self, id: &OpId) {
        if let Some(held) = self.ops.get_mut(id) {
            held.front_door = false;
        }
    }

    /// Every missing parent some waiting op needs, ascending (what sync should fetch).
    pub fn wanted(&self) -> impl Iterator<Item = &OpId> {
        self.waiting_on.keys().filter(|id| !self.ops.contains_key(id))
    }

    /// Holds `op` until `missing` are all inserted. `front_door` (whether it
    /// came in through the ledger's front door) is kept and handed back on
    /// release, so the op meets the same rules it would have met had its
    /// parents been there.
    pub fn hold(&mut self, op: SignedOp, missing: Vec<OpId>, front_door: bool) -> Result<(), PendingFull> {
        let id = op.id();
        if self.ops.contains_key(&id) {
            return Ok(());
        }
        let size = op.encoded_len();
        if self.ops.len() >= self.limits.max_ops || self.bytes + size > self.limits.max_bytes {
            return Err(PendingFull { ops: self.ops.len(), bytes: self.bytes });
        }
        for parent in &missing {
            self.waiting_on.entry(*parent).or_default().insert(id);
        }
        self.bytes += size;
        self.ops.insert(id, Held { op, missing: missing.into_iter().collect(), front_door });
        Ok(())
    }

    /// Called when `parent` was inserted: returns the ops that no longer
    /// wait for anything, ascending by id, each with its `front_door` flag.
    pub fn release(&mut self, parent: &OpId) -> Vec<(SignedOp, bool)> {
        let Some(children) = self.waiting_on.remove(parent) else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        for child in children {
            let now_ready = match self.ops.get_mut(&child) {
                Some(held) => {
                    held.missing.remove(parent);
                    held.missing.is_empty()
                }
                None => false,
            };
            if now_ready && let Some(held) = self.ops.remove(&child) {
                self.bytes -= held.op.encoded_len();
                ready.push((held.op, held.front_door));
            }
        }
        ready
    }

    /// Drops a waiting op (and its wait entries), e.g. when it turned out to be invalid.
    pub fn drop_op(&mut self, id: &OpId) {
        if let Some(Held { op, missing, .. }) = self.ops.remove(id) {
            self.bytes -= op.encoded_len();
            for parent in missing {
                if let Some(set) = self.waiting_on.get_mut(&parent) {
                    set.remove(id);
                    if set.is_empty() {
                        self.waiting_on.remove(&parent);
                    }
                }
            }
        }
    }
}
