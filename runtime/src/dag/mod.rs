//! The op graph: causal structure, heights, order, heads, per-author chains,
//! equivocation, and the buffer of ops waiting for their parents.
//!
//! An op enters the graph only when its whole causal past is present. Its
//! **height** is one more than its highest parent's (genesis is 0) and the
//! **order** of a partnership's ops is ascending [`OrderKey`] `(height, id)`:
//! a topological order that needs no coordinator. Each author's ops form a
//! chain (seq 1, 2, 3…, each naming the previous one as a parent); two ops
//! with one `(author, seq)` are an equivocation, kept as structure with an
//! [`EquivocationProof`].
//!
//! This module does not know who may author ops, what ops do, or what is
//! final: that is the `ledger`'s, which consults the graph through
//! [`Dag::place`] before it [`Dag::insert`]s.

mod pending;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::op::{EquivocationProof, MemberId, OpId, SignedOp};

pub use pending::{PendingBuffer, PendingLimits};

/// Most ops [`Dag::reaches`] visits before it gives up.
pub const REACH_VISIT_LIMIT: usize = 100_000;

/// Position of an op in the order: ascending `(height, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// 1 + the highest parent's height; 0 for genesis.
    pub height: u64,
    /// The op id, the tie-breaker within a height.
    pub id: OpId,
}

/// One op in the graph.
#[derive(Clone, Debug)]
pub struct Node {
    /// The signed op.
    pub op: Arc<SignedOp>,
    /// Its height.
    pub height: u64,
}

impl Node {
    /// Its position in the order.
    pub fn key(&self) -> OrderKey {
        OrderKey { height: self.height, id: self.op.id() }
    }
}

/// An author's ops, by seq.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// `by_seq[s - 1]` = the first op seen with seq `s`.
    by_seq: Vec<OpId>,
    /// Further ops seen with an already-used seq (equivocations), by seq.
    conflicts: BTreeMap<u64, Vec<OpId>>,
    /// The highest height of any of the author's ops.
    tip_height: Option<u64>,
}

impl Chain {
    /// The highest seq seen.
    pub fn max_seq(&self) -> u64 {
        self.by_seq.len() as u64
    }

    /// The height of the author's highest op, if any.
    pub fn tip_height(&self) -> Option<u64> {
        self.tip_height
    }

    /// The op with this seq (the first seen, if it equivocated).
    pub fn op_at(&self, seq: u64) -> Option<OpId> {
        seq.checked_sub(1).and_then(|i| self.by_seq.get(i as usize)).copied()
    }

    /// All ops with this seq (more than one if the author equivocated).
    pub fn ops_at(&self, seq: u64) -> Vec<OpId> {
        let mut ids: Vec<OpId> = self.op_at(seq).into_iter().collect();
        if let Some(more) = self.conflicts.get(&seq) {
            ids.extend(more.iter().copied());
        }
        ids
    }
}

/// Where an op would go, computed before inserting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Its height.
    pub height: u64,
    /// The highest `time_ms` among its parents.
    pub max_parent_time_ms: u64,
    /// The op already in the graph with the same `(author, seq)`, if any.
    pub equivocates_with: Option<OpId>,
}

/// Why the graph cannot place an op (its parents being all present).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// Some parents are not in the graph yet.
    MissingParents(Vec<OpId>),
    /// The op is already in the graph.
    Duplicate,
    /// For seq > 1: no parent is the author's op with seq - 1.
    SeqGap {
        /// The seq of the op.
        seq: u64,
        /// The highest seq of the author in the graph.
        known: u64,
    },
    /// A seq-1 op that names one of its author's ops as a parent.
    FirstOpHasOwnParent,
    /// A second genesis.
    SecondGenesis,
}

/// The op graph of one partnership.
#[derive(Debug, Default)]
pub struct Dag {
    nodes: Vec<Node>,
    index: HashMap<OpId, u32>,
    heads: BTreeSet<OpId>,
    chains: BTreeMap<MemberId, Chain>,
    equivocations: Vec<EquivocationProof>,
    max_height: u64,
}

impl Dag {
    /// An empty graph.
    pub fn new() -> Self {
        Dag::default()
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `id` is in the graph.
    pub fn contains(&self, id: &OpId) -> bool {
        self.index.contains_key(id)
    }

    /// The node with this id.
    pub fn get(&self, id: &OpId) -> Option<&Node> {
        self.index.get(id).map(|&i| &self.nodes[i as usize])
    }

    /// The current heads (ops with no children), ascending.
    pub fn heads(&self) -> &BTreeSet<OpId> {
        &self.heads
    }

    /// The highest height in the graph.
    pub fn max_height(&self) -> u64 {
        self.max_height
    }

    /// An author's chain.
    pub fn chain(&self, author: &MemberId) -> Option<&Chain> {
        self.chains.get(author)
    }

    /// Every author's chain, ascending by member id.
    pub fn chains(&self) -> &BTreeMap<MemberId, Chain> {
        &self.chains
    }

    /// Equivocation proofs, in the order they were found.
    pub fn equivocations(&self) -> &[EquivocationProof] {
        &self.equivocations
    }

    /// All nodes, in insertion order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The whole order, ascending `(height, id)`. O(n log n): for tests and tools.
    pub fn order(&self) -> Vec<OrderKey> {
        let mut keys: Vec<OrderKey> = self.nodes.iter().map(Node::key).collect();
        keys.sort_unstable();
        keys
    }

    /// Whether `target` is in the past of (or among) `from`. Walks down only
    /// as far as `target`'s height, and gives up (answering `true`, the
    /// cautious answer for the ledger's policy checks) after visiting
    /// [`REACH_VISIT_LIMIT`] ops, so no op can make a node walk its whole history.
    pub fn reaches(&self, from: &[OpId], target: &OpId) -> bool {
        let Some(target_height) = self.get(target).map(|n| n.height) else {
            return false;
        };
        let mut stack: Vec<OpId> = from.to_vec();
        let mut seen: BTreeSet<OpId> = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if id == *target {
                return true;
            }
            if !seen.insert(id) {
                continue;
            }
            if seen.len() > REACH_VISIT_LIMIT {
                return true;
            }
            let Some(node) = self.get(&id) else { continue };
            if node.height <= target_height {
                continue;
            }
            stack.extend(node.op.op().parents.iter().copied());
        }
        false
    }

    /// Works out where `op` would go, or why it cannot go in yet.
    ///
    /// Checks presence of parents, the author's chain (seq - 1 among the
    /// parents) and duplicates. Signature, size, author and time rules are
    /// checked by the caller.
    pub fn place(&self, op: &SignedOp) -> Result<Placement, PlaceError> {
        if self.contains(&op.id()) {
            return Err(PlaceError::Duplicate);
        }
        let unsigned = op.op();
        if unsigned.parents.is_empty() {
            return if self.is_empty() {
                Ok(Placement { height: 0, max_parent_time_ms: 0, equivocates_with: None })
            } else {
                Err(PlaceError::SecondGenesis)
            };
        }
        let missing: Vec<OpId> = unsigned.parents.iter().filter(|p| !self.contains(p)).copied().collect();
        if !missing.is_empty() {
            return Err(PlaceError::MissingParents(missing));
        }
        let mut height = 0;
        let mut max_time = 0;
        let mut has_previous = false;
        let mut has_own_parent = false;
        for parent in &unsigned.parents {
            let node = &self.nodes[self.index[parent] as usize];
            height = height.max(node.height + 1);
            max_time = max_time.max(node.op.op().time_ms);
            if node.op.author() == unsigned.author {
                has_own_parent = true;
                if node.op.seq() + 1 == unsigned.seq {
                    has_previous = true;
                }
            }
        }
        if unsigned.seq == 1 && has_own_parent {
            return Err(PlaceError::FirstOpHasOwnParent);
        }
        if unsigned.seq > 1 && !has_previous {
            let known = self.chains.get(&unsigned.author).map_or(0, Chain::max_seq);
            return Err(PlaceError::SeqGap { seq: unsigned.seq, known });
        }
        let equivocates_with = self.chains.get(&unsigned.author).and_then(|chain| chain.op_at(unsigned.seq));
        Ok(Placement { height, max_parent_time_ms: max_time, equivocates_with })
    }

    /// Inserts an op placed by [`Dag::place`]. Returns the equivocation proof
    /// if the op conflicts with one already present.
    pub fn insert(&mut self, op: Arc<SignedOp>, placement: Placement) -> Option<EquivocationProof> {
        let id = op.id();
        let author = op.author();
        let seq = op.seq();
        for parent in &op.op().parents {
            self.heads.remove(parent);
        }
        self.heads.insert(id);
        self.max_height = self.max_height.max(placement.height);
        let chain = self.chains.entry(author).or_default();
        chain.tip_height = Some(chain.tip_height.map_or(placement.height, |t| t.max(placement.height)));
        let proof = match placement.equivocates_with {
            Some(first) => {
                chain.conflicts.entry(seq).or_default().push(id);
                let first_op = Arc::clone(&self.nodes[self.index[&first] as usize].op);
                EquivocationProof::new((*first_op).clone(), (*op).clone())
            }
            None => {
                // The chain rule guarantees seq = max_seq + 1 here: seq - 1 is
                // a parent, and seq itself is not taken.
                debug_assert_eq!(seq, chain.max_seq() + 1);
                chain.by_seq.push(id);
                None
            }
        };
        if let Some(proof) = &proof {
            self.equivocations.push(proof.clone());
        }
        self.index.insert(id, self.nodes.len() as u32);
        self.nodes.push(Node { op, height: placement.height });
        proof
    }
}
