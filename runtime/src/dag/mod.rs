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
//! **Memory.** Ops that the ledger calls final can be *forgotten*
//! ([`Dag::forget_up_to`]): their bodies, ids and chain entries leave
//! memory, and every lookup that reaches one reads it back from an
//! [`OpArchive`] (the node's store, where every op was persisted before it
//! was forgotten). Heads and each author's latest op always stay. Every
//! answer of the graph is the same whether an op is held or forgotten, so
//! forgetting changes what a node costs, never what it decides; only the
//! cost of the rare lookups that reach far into the past (a late op naming
//! an old parent, a walk down to an old admission) grows, by a store read
//! per forgotten op visited.
//!
//! This module does not know who may author ops, what ops do, or what is
//! final: that is the `ledger`'s, which consults the graph through
//! [`Dag::place`] before it [`Dag::insert`]s, and decides what to forget.

mod pending;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::op::{EquivocationProof, MemberId, OpHeader, OpId, SignedOp};

pub use pending::{PendingBuffer, PendingLimits};

/// Most ops [`Dag::reaches`] visits before it gives up.
pub const REACH_VISIT_LIMIT: usize = 100_000;

/// Where forgotten ops are read back from: the node's store, which holds
/// every op the graph ever took in (each was persisted before the ledger
/// could forget it).
///
/// The graph asks only about ops it has forgotten, and checks the height it
/// gets back against what it forgot, so an archive that holds more (ops
/// persisted but not yet replayed into the graph at start-up) answers
/// nothing wrong. A lookup that fails (a store read error) answers `None`;
/// the archive remembers the failure for [`OpArchive::failure`], and the
/// ledger halts on it rather than decide with a piece of its past missing.
pub trait OpArchive: Send + Sync + std::fmt::Debug {
    /// The height of the stored op `id`, if stored.
    fn height_of(&self, id: &OpId) -> Option<u64>;
    /// The stored op `id` with its height (`None` also for one compacted
    /// away, whose content is gone).
    fn op(&self, id: &OpId) -> Option<(u64, Arc<SignedOp>)>;
    /// The height and header of the stored op `id`, compacted or not.
    fn header(&self, id: &OpId) -> Option<(u64, OpHeader)>;
    /// Every stored op of `author` with `seq`, as `(height, id)`.
    fn ops_at(&self, author: &MemberId, seq: u64) -> Vec<(u64, OpId)>;
    /// The first lookup that failed, if one did.
    fn failure(&self) -> Option<&str>;
}

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

/// An author's ops, by seq. Only the seqs after the forgotten ones are
/// listed (see [`Dag::forget_up_to`]); [`Dag::op_at`] and [`Dag::ops_at`]
/// answer for every seq.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// Seqs `1..=forgotten` are no longer listed: their ops were forgotten.
    forgotten: u64,
    /// `by_seq[s - forgotten - 1]` = the first op seen with seq `s`.
    by_seq: VecDeque<OpId>,
    /// Further ops seen with an already-used seq (equivocations), by seq;
    /// every one, forgotten or not (they are rare).
    conflicts: BTreeMap<u64, Vec<OpId>>,
    /// The highest height of any of the author's ops.
    tip_height: Option<u64>,
}

impl Chain {
    /// The highest seq seen.
    pub fn max_seq(&self) -> u64 {
        self.forgotten + self.by_seq.len() as u64
    }

    /// The height of the author's highest op, if any.
    pub fn tip_height(&self) -> Option<u64> {
        self.tip_height
    }

    /// The id of the author's op with the highest seq (the first seen, if
    /// it equivocated): never forgotten.
    pub fn latest(&self) -> Option<OpId> {
        self.by_seq.back().copied()
    }

    /// Whether the author has more than one op with `seq`.
    pub fn equivocated_at(&self, seq: u64) -> bool {
        self.conflicts.contains_key(&seq)
    }

    /// The listed op with this seq (`None` for a forgotten seq).
    fn listed_at(&self, seq: u64) -> Option<OpId> {
        let index = seq.checked_sub(self.forgotten + 1)?;
        self.by_seq.get(usize::try_from(index).ok()?).copied()
    }

    /// The ids of every op with seq ≥ `from` that is listed: the listed
    /// seqs and the equivocations (every op not forgotten is among them).
    fn listed_from(&self, from: u64) -> impl Iterator<Item = OpId> + '_ {
        let skip = from.saturating_sub(self.forgotten + 1);
        let listed = self.by_seq.iter().skip(usize::try_from(skip).unwrap_or(usize::MAX)).copied();
        listed.chain(self.conflicts.range(from..).flat_map(|(_, ids)| ids.iter().copied()))
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
    /// The ops held in memory (looked up by id, never iterated to decide
    /// anything: a hash map's order is no one's business).
    held: HashMap<OpId, Node>,
    /// How many ops the graph has, held or forgotten.
    count: u64,
    heads: BTreeSet<OpId>,
    chains: BTreeMap<MemberId, Chain>,
    equivocations: Vec<EquivocationProof>,
    /// Equivocations whose first op's content is gone (compacted behind a
    /// certified checkpoint): no proof can be built, but the graph decides
    /// exactly as one that has the proof.
    unproven: Vec<Unproven>,
    max_height: u64,
    /// Every op at or below this height that is not held was forgotten
    /// (`None`: nothing was).
    horizon: Option<u64>,
    /// Where forgotten ops are read back from (none: nothing is forgotten).
    archive: Option<Arc<dyn OpArchive>>,
}

impl Dag {
    /// An empty graph.
    pub fn new() -> Self {
        Dag::default()
    }

    /// Gives the graph an archive: from now on final ops may be forgotten.
    pub fn set_archive(&mut self, archive: Arc<dyn OpArchive>) {
        self.archive = Some(archive);
    }

    /// The first archive lookup that failed, if one did.
    pub fn archive_failure(&self) -> Option<&str> {
        self.archive.as_deref().and_then(|archive| archive.failure())
    }

    /// Number of ops, held or forgotten.
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(usize::MAX)
    }

    /// Number of ops held in memory.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// The height at or below which ops may have been forgotten.
    pub fn horizon(&self) -> Option<u64> {
        self.horizon
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `id` is in the graph (a store read if it is not held).
    pub fn contains(&self, id: &OpId) -> bool {
        self.held.contains_key(id) || self.forgotten_height(id).is_some()
    }

    /// Whether `op` is in the graph. Unlike [`Dag::contains`] this reads the
    /// store only for an op whose seq its author's chain has forgotten, so
    /// a new op costs no store read.
    pub fn contains_op(&self, op: &SignedOp) -> bool {
        if self.contains_in_memory(op) {
            return true;
        }
        let Some(chain) = self.chains.get(&op.author()) else { return false };
        let (id, seq) = (op.id(), op.seq());
        seq <= chain.forgotten && self.forgotten_ops_at(&op.author(), seq).any(|other| other == id)
    }

    /// Whether `op` is held, or listed by its author's chain, reading
    /// nothing from the store. What a replay asks: the store gives each of
    /// its ops once, and holds ops the graph does not have yet (those
    /// stored after the graph's summary), so it cannot say which the graph
    /// has.
    pub fn contains_in_memory(&self, op: &SignedOp) -> bool {
        let id = op.id();
        if self.held.contains_key(&id) {
            return true;
        }
        let Some(chain) = self.chains.get(&op.author()) else { return false };
        let seq = op.seq();
        chain.listed_at(seq) == Some(id) || chain.conflicts.get(&seq).is_some_and(|ids| ids.contains(&id))
    }

    /// The node with this id if it is held in memory: the tail's ops, the
    /// heads, each author's latest op and recent final ones always are.
    pub fn held(&self, id: &OpId) -> Option<&Node> {
        self.held.get(id)
    }

    /// The node with this id (read back from the store if forgotten).
    pub fn get(&self, id: &OpId) -> Option<Node> {
        if let Some(node) = self.held.get(id) {
            return Some(node.clone());
        }
        let horizon = self.horizon?;
        let (height, op) = self.archive.as_ref()?.op(id)?;
        (height <= horizon && op.id() == *id).then_some(Node { op, height })
    }

    /// The height and header of `id`, if it is an op of the graph: what
    /// placing an op built on it needs, also of an op compacted away.
    fn parent_header(&self, id: &OpId) -> Option<(u64, OpHeader)> {
        if let Some(node) = self.held.get(id) {
            return Some((node.height, node.op.header()));
        }
        let horizon = self.horizon?;
        self.archive.as_ref()?.header(id).filter(|(height, _)| *height <= horizon)
    }

    /// The height of `id`, if it is an op of the graph: held, or forgotten
    /// (read from the archive's index, which knows the heights of ops
    /// compacted away, whose content [`Dag::get`] no longer has).
    pub fn height_of(&self, id: &OpId) -> Option<u64> {
        match self.held.get(id) {
            Some(node) => Some(node.height),
            None => self.forgotten_height(id),
        }
    }

    /// The height of `id`, if it is a forgotten op of the graph.
    fn forgotten_height(&self, id: &OpId) -> Option<u64> {
        let horizon = self.horizon?;
        self.archive.as_ref()?.height_of(id).filter(|height| *height <= horizon)
    }

    /// The forgotten ops of `author` with `seq`.
    fn forgotten_ops_at(&self, author: &MemberId, seq: u64) -> impl Iterator<Item = OpId> {
        let horizon = self.horizon.unwrap_or(0);
        let found = match (&self.archive, self.horizon) {
            (Some(archive), Some(_)) => archive.ops_at(author, seq),
            _ => Vec::new(),
        };
        found.into_iter().filter(move |(height, _)| *height <= horizon).map(|(_, id)| id)
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

    /// The op of `author` with `seq` (the first seen, if it equivocated and
    /// is held; the first in the order, if its seq was forgotten).
    pub fn op_at(&self, author: &MemberId, seq: u64) -> Option<OpId> {
        let chain = self.chains.get(author)?;
        if seq > chain.forgotten {
            return chain.listed_at(seq);
        }
        self.ops_at(author, seq).into_iter().next()
    }

    /// Every op of `author` with `seq` (more than one if it equivocated),
    /// ascending by id.
    pub fn ops_at(&self, author: &MemberId, seq: u64) -> Vec<OpId> {
        let Some(chain) = self.chains.get(author) else { return Vec::new() };
        let mut ids: BTreeSet<OpId> = chain.listed_at(seq).into_iter().collect();
        ids.extend(chain.conflicts.get(&seq).into_iter().flatten().copied());
        if seq <= chain.forgotten {
            ids.extend(self.forgotten_ops_at(author, seq));
        }
        ids.into_iter().collect()
    }

    /// Every op of `author` with seq ≥ `from`, ascending by `(seq, id)`.
    /// Forgotten seqs cost a store read each.
    pub fn ops_from(&self, author: &MemberId, from: u64) -> Vec<OpId> {
        let Some(chain) = self.chains.get(author) else { return Vec::new() };
        (from.max(1)..=chain.max_seq()).flat_map(|seq| self.ops_at(author, seq)).collect()
    }

    /// The ids of `author`'s ops with seq ≥ `from` that are listed in
    /// memory: every such op that is held is among them (some may be
    /// forgotten). What the ledger walks to find tail ops.
    pub fn held_ops_from<'a>(&'a self, author: &MemberId, from: u64) -> impl Iterator<Item = OpId> + 'a {
        self.chains.get(author).into_iter().flat_map(move |chain| chain.listed_from(from))
    }

    /// Equivocation proofs, in the order they were found.
    pub fn equivocations(&self) -> &[EquivocationProof] {
        &self.equivocations
    }

    /// Every equivocation found, proven or not (see [`Unproven`]), as
    /// `(author, seq)`, in the order found per kind.
    pub fn equivocated_seqs(&self) -> Vec<(MemberId, u64)> {
        let proven = self.equivocations.iter().map(|proof| (proof.author(), proof.seq()));
        proven.chain(self.unproven.iter().map(|u| (u.author, u.seq))).collect()
    }

    /// The ids of the held ops, in no given order.
    pub fn held_ids(&self) -> impl Iterator<Item = &OpId> {
        self.held.keys()
    }

    /// The held nodes, ascending `(height, id)`: every op while nothing was
    /// forgotten. O(n log n): for tests and tools.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        let mut nodes: Vec<&Node> = self.held.values().collect();
        nodes.sort_unstable_by_key(|node| node.key());
        nodes.into_iter()
    }

    /// The order of the held ops, ascending `(height, id)`. O(n log n): for
    /// tests and tools.
    pub fn order(&self) -> Vec<OrderKey> {
        self.nodes().map(Node::key).collect()
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
        if self.contains_op(op) {
            return Err(PlaceError::Duplicate);
        }
        self.place_new(op)
    }

    /// [`Dag::place`] for an op read back from the store at a restart,
    /// which the store lists among the forgotten ops of its seq because it
    /// is stored: only the graph in memory tells a duplicate.
    pub fn place_stored(&self, op: &SignedOp) -> Result<Placement, PlaceError> {
        if self.contains_in_memory(op) {
            return Err(PlaceError::Duplicate);
        }
        self.place_new(op)
    }

    fn place_new(&self, op: &SignedOp) -> Result<Placement, PlaceError> {
        let unsigned = op.op();
        if unsigned.parents.is_empty() {
            return if self.is_empty() {
                Ok(Placement { height: 0, max_parent_time_ms: 0, equivocates_with: None })
            } else {
                Err(PlaceError::SecondGenesis)
            };
        }
        let mut found = Vec::with_capacity(unsigned.parents.len());
        let mut missing = Vec::new();
        for parent in &unsigned.parents {
            match self.parent_header(parent) {
                Some(header) => found.push(header),
                None => missing.push(*parent),
            }
        }
        if !missing.is_empty() {
            return Err(PlaceError::MissingParents(missing));
        }
        let mut height = 0;
        let mut max_time = 0;
        let mut has_previous = false;
        let mut has_own_parent = false;
        for (parent_height, header) in &found {
            height = height.max(parent_height + 1);
            max_time = max_time.max(header.time_ms);
            if header.author == unsigned.author {
                has_own_parent = true;
                if header.seq + 1 == unsigned.seq {
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
        let equivocates_with = match self.op_at(&unsigned.author, unsigned.seq) {
            // A stored op being read back is listed among its seq's ops.
            Some(first) if first == op.id() => {
                self.ops_at(&unsigned.author, unsigned.seq).into_iter().find(|other| *other != first)
            }
            first => first,
        };
        Ok(Placement { height, max_parent_time_ms: max_time, equivocates_with })
    }

    /// Inserts an op placed by [`Dag::place`]. Returns the equivocation proof
    /// if the op conflicts with one already present.
    pub fn insert(&mut self, op: Arc<SignedOp>, placement: Placement) -> Option<Equivocation> {
        let id = op.id();
        let author = op.author();
        let seq = op.seq();
        for parent in &op.op().parents {
            self.heads.remove(parent);
        }
        self.heads.insert(id);
        self.max_height = self.max_height.max(placement.height);
        let first = placement.equivocates_with.and_then(|first| self.get(&first));
        let chain = self.chains.entry(author).or_default();
        chain.tip_height = Some(chain.tip_height.map_or(placement.height, |t| t.max(placement.height)));
        let found = match placement.equivocates_with {
            Some(first_id) => {
                chain.conflicts.entry(seq).or_default().push(id);
                let proof =
                    first.and_then(|first| EquivocationProof::new((*first.op).clone(), (*op).clone()));
                match &proof {
                    Some(proof) => self.equivocations.push(proof.clone()),
                    None => self.unproven.push(Unproven { author, seq, first: first_id, second: id }),
                }
                Some(Equivocation { author, seq, proof })
            }
            None => {
                // The chain rule guarantees seq = max_seq + 1 here: seq - 1 is
                // a parent, and seq itself is not taken.
                debug_assert_eq!(seq, chain.max_seq() + 1);
                chain.by_seq.push_back(id);
                None
            }
        };
        self.held.insert(id, Node { op, height: placement.height });
        self.count += 1;
        found
    }

    /// Forgets every held op at or below `horizon` except the heads, each
    /// author's latest op and those `keep` asks to keep, and stops listing
    /// the seqs whose ops all lie at or below it. Only a graph with an
    /// archive forgets (without one this does nothing); the caller must have
    /// persisted every op it forgets, and must pass only final heights, so
    /// nothing forgotten is ever needed by the tail. Returns how many ops
    /// left memory.
    pub fn forget_up_to(&mut self, horizon: u64, keep: impl Fn(&SignedOp) -> bool) -> usize {
        if self.archive.is_none() {
            return 0;
        }
        let latest: BTreeSet<OpId> = self
            .chains
            .values()
            .flat_map(|chain| {
                let max = chain.max_seq();
                chain.latest().into_iter().chain(chain.conflicts.get(&max).into_iter().flatten().copied())
            })
            .collect();
        let before = self.held.len();
        self.held.retain(|id, node| {
            node.height > horizon || self.heads.contains(id) || latest.contains(id) || keep(&node.op)
        });
        let horizon = self.horizon.map_or(horizon, |h| h.max(horizon));
        self.horizon = Some(horizon);
        for chain in self.chains.values_mut() {
            while chain.by_seq.len() > 1 {
                let Some(front) = chain.by_seq.front() else { break };
                // An id no longer held was forgotten, so it lies at or below
                // the horizon.
                if self.held.get(front).is_some_and(|node| node.height > horizon) {
                    break;
                }
                chain.by_seq.pop_front();
                chain.forgotten += 1;
            }
        }
        before - self.held.len()
    }

    /// Forgets the oldest held ops at or below `up_to`, down to about
    /// `keep_recent` of them, by [`Dag::forget_up_to`] (with `keep`). Does
    /// nothing while at most `forget_above` are held at or below `up_to`.
    /// Returns the horizon it forgot up to, if it forgot any op.
    pub fn forget_oldest(
        &mut self,
        up_to: u64,
        forget_above: usize,
        keep_recent: usize,
        keep: impl Fn(&SignedOp) -> bool,
    ) -> Option<u64> {
        self.archive.as_ref()?;
        let mut heights: Vec<u64> =
            self.held.values().map(|node| node.height).filter(|height| *height <= up_to).collect();
        if heights.len() <= forget_above.max(keep_recent) {
            return None;
        }
        let cut = heights.len() - keep_recent - 1;
        let (_, horizon, _) = heights.select_nth_unstable(cut);
        let horizon = *horizon;
        (self.forget_up_to(horizon, keep) > 0).then_some(horizon)
    }
}

/// The part of a graph at or below its horizon, in the form a restart
/// rebuilds it from: with it, the ops above the horizon (and any stored
/// later at or below it) are all a restart replays.
///
/// It describes the graph *restricted* to the ops at or below the horizon,
/// so that replaying the ops above it, in any later state of the store,
/// gives the graph a full replay would: heads include every op at or below
/// the horizon that a replayed op names (replay removes them again), and
/// chains list only what lies at or below it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagSummary {
    /// Every op at or below it that is not among `held` was forgotten.
    pub horizon: u64,
    /// How many ops lie at or below the horizon.
    pub count: u64,
    /// The highest height at or below the horizon.
    pub max_height: u64,
    /// The heads of the restricted graph (a superset: see above).
    pub heads: Vec<OpId>,
    /// The ops at or below the horizon held in memory (heads, authors'
    /// latest ops, pinned ones), read back from the store at a restart.
    pub held: Vec<OpId>,
    /// Each author's chain at or below the horizon.
    pub chains: Vec<ChainSummary>,
    /// The equivocations whose two ops both lie at or below it, in the
    /// order they were found: `(first, second)`.
    pub equivocations: Vec<(OpId, OpId)>,
    /// The equivocations found without a proof (see [`Unproven`]) whose
    /// second op lies at or below it.
    pub unproven: Vec<Unproven>,
}

/// An equivocation found when the content of its first op was gone
/// (compacted behind a certified checkpoint): the graph knows the two ops'
/// ids, author and seq, and decides as it would with the proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unproven {
    /// The author who equivocated.
    pub author: MemberId,
    /// The seq it used twice.
    pub seq: u64,
    /// The op listed first (its content compacted).
    pub first: OpId,
    /// The op that conflicts with it.
    pub second: OpId,
}

/// What [`Dag::insert`] found when an op reuses its author's seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The author who equivocated.
    pub author: MemberId,
    /// The seq it used twice.
    pub seq: u64,
    /// The proof (both signed ops), unless the first op's content was
    /// compacted away.
    pub proof: Option<EquivocationProof>,
}

/// One author's chain at or below a horizon (see [`DagSummary`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSummary {
    /// The author.
    pub author: MemberId,
    /// Seqs `1..=forgotten` are no longer listed.
    pub forgotten: u64,
    /// The listed ops after them, by seq, all at or below the horizon.
    pub listed: Vec<OpId>,
    /// Equivocations at or below the horizon, by seq.
    pub conflicts: Vec<(u64, Vec<OpId>)>,
    /// The height of the author's highest op at or below the horizon.
    pub tip_height: Option<u64>,
}

impl Dag {
    /// Whether `id`, an op of the graph, lies at or below `horizon`: every
    /// op above the horizon is held.
    fn at_or_below(&self, id: &OpId, horizon: u64) -> bool {
        self.held.get(id).is_none_or(|node| node.height <= horizon)
    }

    /// The graph at or below its horizon, for a restart (`None` if nothing
    /// was forgotten, or in the one shape a summary cannot describe: an
    /// author whose listed ops go above the horizon and come back below it,
    /// which only an equivocation can make; a restart then replays every op).
    pub fn summary(&self) -> Option<DagSummary> {
        let horizon = self.horizon?;
        let above: Vec<&Node> = self.held.values().filter(|node| node.height > horizon).collect();
        let mut heads: BTreeSet<OpId> =
            self.heads.iter().filter(|id| self.at_or_below(id, horizon)).copied().collect();
        for node in &above {
            heads.extend(node.op.op().parents.iter().filter(|p| self.at_or_below(p, horizon)).copied());
        }
        let mut held: Vec<OpId> =
            self.held.values().filter(|node| node.height <= horizon).map(|node| node.op.id()).collect();
        held.sort_unstable();
        let mut chains = Vec::new();
        for (author, chain) in &self.chains {
            let mut listed = Vec::new();
            let mut crossed = false;
            for id in &chain.by_seq {
                if self.at_or_below(id, horizon) {
                    if crossed {
                        return None;
                    }
                    listed.push(*id);
                } else {
                    crossed = true;
                }
            }
            let conflicts: Vec<(u64, Vec<OpId>)> = chain
                .conflicts
                .iter()
                .map(|(seq, ids)| {
                    (*seq, ids.iter().filter(|id| self.at_or_below(id, horizon)).copied().collect())
                })
                .filter(|(_, ids): &(u64, Vec<OpId>)| !ids.is_empty())
                .collect();
            if chain.forgotten == 0 && listed.is_empty() && conflicts.is_empty() {
                continue;
            }
            let mut tip: Vec<OpId> = listed.last().copied().into_iter().collect();
            if listed.is_empty() {
                tip.extend(self.ops_at(author, chain.forgotten));
            }
            tip.extend(conflicts.iter().flat_map(|(_, ids)| ids.iter().copied()));
            let tip_height = tip.iter().filter_map(|id| self.height_of(id)).max();
            chains.push(ChainSummary {
                author: *author,
                forgotten: chain.forgotten,
                listed,
                conflicts,
                tip_height,
            });
        }
        let equivocations = self
            .equivocations
            .iter()
            .map(|proof| (proof.ops().0.id(), proof.ops().1.id()))
            .filter(|(a, b)| self.at_or_below(a, horizon) && self.at_or_below(b, horizon))
            .collect();
        let unproven =
            self.unproven.iter().filter(|u| self.at_or_below(&u.second, horizon)).copied().collect();
        Some(DagSummary {
            horizon,
            count: self.count - above.len() as u64,
            max_height: self.max_height.min(horizon),
            heads: heads.into_iter().collect(),
            held,
            chains,
            equivocations,
            unproven,
        })
    }

    /// The graph a [`Dag::summary`] describes, its held ops and
    /// equivocations read back from `archive`; the ops above the horizon
    /// are then inserted as usual. `Err` says what does not fit (a restart
    /// then replays every op instead).
    pub fn from_summary(summary: &DagSummary, archive: Arc<dyn OpArchive>) -> Result<Dag, String> {
        let horizon = summary.horizon;
        let read = |id: &OpId| -> Result<(u64, Arc<SignedOp>), String> {
            match archive.op(id) {
                Some((height, op)) if height <= horizon && op.id() == *id => Ok((height, op)),
                Some((height, _)) => {
                    Err(format!("op {id} is stored at height {height}, above the horizon {horizon}"))
                }
                None => Err(format!("op {id} is not in the store")),
            }
        };
        let mut held = HashMap::with_capacity(summary.held.len());
        for id in &summary.held {
            let (height, op) = read(id)?;
            held.insert(*id, Node { op, height });
        }
        let mut chains = BTreeMap::new();
        for chain in &summary.chains {
            chains.insert(
                chain.author,
                Chain {
                    forgotten: chain.forgotten,
                    by_seq: chain.listed.iter().copied().collect(),
                    conflicts: chain.conflicts.iter().cloned().collect(),
                    tip_height: chain.tip_height,
                },
            );
        }
        let mut equivocations = Vec::with_capacity(summary.equivocations.len());
        for (first, second) in &summary.equivocations {
            let ((_, a), (_, b)) = (read(first)?, read(second)?);
            let proof = EquivocationProof::new((*a).clone(), (*b).clone())
                .ok_or_else(|| format!("ops {first} and {second} are no equivocation"))?;
            equivocations.push(proof);
        }
        Ok(Dag {
            held,
            count: summary.count,
            heads: summary.heads.iter().copied().collect(),
            chains,
            equivocations,
            unproven: summary.unproven.clone(),
            max_height: summary.max_height,
            horizon: Some(horizon),
            archive: Some(archive),
        })
    }
}

#[cfg(test)]
mod tests;
