//! The ledger: a pure, synchronous state machine over one partnership's ops.
//!
//! [`Ledger::insert`] takes a signed op and either refuses it (with a
//! [`Refusal`], changing nothing), holds it until its parents arrive, or
//! accepts it into the graph. Accepted ops are applied in the order
//! `(height, id)`; an op that arrives late and sorts before applied ones makes
//! the ledger undo back to its place (undo logs of the writes) and re-apply.
//! After every insert the ledger recomputes `final_height` by
//! countersignature and moves what became final from the optimistic tail
//! into the final state, which never changes afterwards.
//!
//! **Structure and policy.** Whether an op belongs in the graph must be the
//! same decision on every node, so it may depend only on the op and its
//! causal past: signature, size, partnership, parents present, the author's
//! chain (seq - 1 among the parents), time never below a parent's. Who is a
//! participant is decided by executing ops, and an execution outcome in the
//! optimistic tail can still change when an earlier-sorting op arrives; so
//! participation is applied twice, in two deterministic ways: at the **front
//! door** ([`Ledger::insert`], for client submissions and gossip) an op whose
//! author is unknown, whose admission is not in its past, or whose removal is
//! in its past is refused; and at **execution**, an op whose author is not an
//! active participant where it sorts has no effect (it stays as structure).
//! Ops that sync fetches because the history holds them go through
//! [`Ledger::insert_synced`], which applies the structural rules only, so
//! every node ends with the same graph.
//!
//! It knows nothing of tokio, the network or the disk: the node persists what
//! it accepts ([`Insertion::accepted`]) and drains [`Notification`]s; tests
//! drive it directly.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use polypact_sdk::abi::{Entry, QueryResult};
use rayon::prelude::*;

use super::dispatch::{ModuleEvent, OpContext, OpRun, RunError};
use super::error::{LedgerError, Refusal};
use super::executor::{ExecError, Executor};
use super::finality::{self, Counted, Status, TailPayload, VoteCap};
use super::state::{
    ModuleRecord, ParticipantRecord, StateMap, Write, encode_record, evidence_key, failed_key, module_key,
    participant_key, peer_key,
};
use super::summary::{LedgerMeta, LedgerSummary};
use super::{crossing, publish, suspension};
use crate::cert::{CheckpointStatement, StatementDigest};
use crate::dag::{Dag, OpArchive, OrderKey, PendingBuffer, PendingLimits, PlaceError, Placement};
use crate::op::{
    Charter, EquivocationProof, Limits, MemberId, MemberKey, OpError, OpId, PartnershipId, Payload, SignedOp,
    UnsignedOp,
};

/// Batches smaller than this verify their ops on the calling thread: below
/// it, handing work to other cores costs more than it saves.
const PARALLEL_CHECK_MIN_OPS: usize = 16;

/// Ops per parallel task when a batch is verified on all cores.
const PARALLEL_CHECK_CHUNK: usize = 8;

/// Where an op came from; decides which insertion rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Gossip or a client: the front door (participation policy applies).
    Fresh,
    /// Fetched by sync because the history holds it: structural rules only.
    Synced,
}

/// A saved final state: its final height and every key/value pair.
pub type Snapshot = (u64, Vec<(Vec<u8>, Vec<u8>)>);

/// Ledger settings that are the node's, not the charter's.
#[derive(Clone, Copy, Debug, Default)]
pub struct LedgerConfig {
    /// Op size limits.
    pub limits: Limits,
    /// Bounds of the buffer of ops waiting for parents.
    pub pending: PendingLimits,
    /// How many final ops a ledger with an archive keeps in memory.
    pub final_in_memory: FinalInMemory,
}

/// How many final ops a ledger with an archive ([`Ledger::set_archive`])
/// holds in memory. The heads, each author's latest op and rekey ops are
/// held whatever these say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalInMemory {
    /// Final ops held before the oldest are forgotten: a busy partnership
    /// forgets in steps of about `forget_above - keep_recent` ops, so the
    /// cost of finding them is spread over the ops that made them final.
    pub forget_above: usize,
    /// The most recent final ops kept when forgetting: late duplicates and
    /// ops built on recent history find their parents in memory.
    pub keep_recent: usize,
}

impl Default for FinalInMemory {
    fn default() -> Self {
        FinalInMemory { forget_above: 8192, keep_recent: 2048 }
    }
}

/// What became of an applied op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// A call that succeeded: its response data and events.
    Applied {
        /// The first module's response data (JSON bytes).
        data: Option<Vec<u8>>,
        /// Every event of the call and its messages, in order.
        events: Vec<ModuleEvent>,
    },
    /// A call that failed; nothing it did happened. The error is recorded
    /// in state, so it is the same on every node.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// A payload that was not executed (author not active, or proven to have
    /// equivocated). The op stays in the graph as structure.
    Skipped {
        /// Why.
        reason: String,
    },
    /// An op with no effect on state (an ack), or the genesis.
    Structural,
}

/// Whether a notification is about the optimistic or the final state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// Applied to the optimistic state (may still be undone).
    Applied,
    /// Undone from the optimistic state (an earlier-sorting op arrived).
    Undone,
    /// Final: its place and its effects never change.
    Final,
}

/// Something that happened to an op, for subscribers (the API's event stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// What happened.
    pub kind: NotificationKind,
    /// To which op.
    pub id: OpId,
    /// Its height.
    pub height: u64,
    /// Its outcome (absent for `Undone`).
    pub outcome: Option<OpOutcome>,
}

/// The result of inserting an op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Insertion {
    /// Ops that entered the graph, in insertion order, with their heights:
    /// the op itself and any waiting ops it released. The node persists these.
    pub accepted: Vec<(OpId, u64)>,
    /// Parents the op is waiting for, if it was held back.
    pub waiting_for: Vec<OpId>,
    /// Ops released from the buffer that turned out to be invalid (dropped).
    pub dropped: Vec<(OpId, Refusal)>,
    /// An equivocation found by this insertion.
    pub equivocation: Option<EquivocationProof>,
}

struct Applied {
    undo: Vec<Write>,
    redo: Vec<Write>,
    outcome: OpOutcome,
}

struct TailEntry {
    op: Arc<SignedOp>,
    applied: Option<Applied>,
    /// Participants with an op that has this one in its past (or is it).
    seen_by: BTreeSet<MemberId>,
}

const MAX_NOTIFICATIONS: usize = 100_000;
const RECENT_OUTCOMES: usize = 10_000;
/// The most bytes of outcomes (data and events) remembered for recent final
/// ops, beside the count: what a node keeps in memory is bounded in bytes.
const RECENT_OUTCOME_BYTES: usize = 16 * 1024 * 1024;

/// The bytes an outcome keeps in memory (roughly: its data, events, error).
fn outcome_size(outcome: &OpOutcome) -> usize {
    match outcome {
        OpOutcome::Applied { data, events } => {
            data.as_ref().map_or(0, Vec::len) + events.iter().map(super::dispatch::event_size).sum::<usize>()
        }
        OpOutcome::Failed { error } => error.len(),
        OpOutcome::Skipped { reason } => reason.len(),
        OpOutcome::Structural => 0,
    }
}

/// Ops replayed at start-up between two checks for final ops to forget.
const REPLAY_FORGET_EVERY: u64 = 4096;

/// How many of the latest checkpoints a ledger keeps: a node attests each
/// as it is taken and compacts behind the latest one every participant
/// attested, so older ones are of no further use.
pub const CHECKPOINTS_KEPT: usize = 4;

/// Ops kept in memory however old: rekey ops, which the keyring reads on
/// every change of key.
fn pinned(op: &SignedOp) -> bool {
    matches!(op.op().payload, Payload::Rekey { .. })
}

/// One partnership's ledger.
pub struct Ledger<E: Executor> {
    partnership: PartnershipId,
    charter: Charter,
    genesis: Arc<SignedOp>,
    config: LedgerConfig,
    executor: E,
    dag: Dag,
    pending: PendingBuffer,
    optimistic: StateMap,
    final_state: StateMap,
    tail: BTreeMap<OrderKey, TailEntry>,
    applied_upto: Option<OrderKey>,
    final_height: u64,
    final_time_ms: u64,
    final_ops: u64,
    excluded: BTreeMap<MemberId, u64>,
    final_delta: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Outcomes of recent final ops, looked up by id and never iterated
    /// (a hash map: its order decides nothing; one insert per final op).
    recent_final: HashMap<OpId, OpOutcome>,
    recent_order: VecDeque<OpId>,
    recent_bytes: usize,
    notifications: VecDeque<Notification>,
    dropped_notifications: u64,
    refusals: BTreeMap<&'static str, u64>,
    insert_counter: u64,
    last_payload_insert: BTreeMap<MemberId, u64>,
    last_own_insert: BTreeMap<MemberId, u64>,
    halted: Option<String>,
    /// Code whose publication an executed op completed, for the node's code
    /// store ([`Ledger::take_published_code`]). Filled while executing.
    published_code: std::sync::Mutex<Vec<Vec<u8>>>,
    /// Suspension cuts assumed for the tail (see [`Ledger::settle`]): a
    /// member's ops after its cut have no effect.
    cuts: BTreeMap<MemberId, u64>,
    /// The suspension votes of the tail: voter, member, cut.
    tail_votes: BTreeMap<OrderKey, (MemberId, MemberId, u64)>,
    /// Every attest op in the graph, by statement and author: what
    /// certificates are built from (see [`crate::cert`]).
    attestations: BTreeMap<StatementDigest, BTreeMap<MemberId, OpId>>,
    /// Every rekey op in the graph, in the graph's order: the partnership
    /// keys a node may hold (see [`crate::seal`]).
    rekeys: BTreeMap<OrderKey, OpId>,
    /// Final deliveries from other partnerships refused, by reason (see
    /// [`crossing::refusal_reason`]); counted once, when final.
    delivery_refusals: BTreeMap<&'static str, u64>,
    /// The latest summary of the graph (`None` while nothing was
    /// forgotten).
    summary: Option<LedgerSummary>,
    /// Whether `summary` changed since it was last saved.
    summary_unsaved: bool,
    /// The latest checkpoints taken (at most [`CHECKPOINTS_KEPT`]),
    /// ascending by height.
    checkpoints: VecDeque<CheckpointStatement>,
    /// `summary` and `checkpoints`, encoded ([`LedgerMeta`]): what is
    /// saved with the final snapshot.
    meta: Vec<u8>,
    /// Whether `meta` changed since it was last saved.
    meta_unsaved: bool,
    /// How many stored ops the ledger's opening replayed.
    replayed_at_open: u64,
}

impl<E: Executor> Ledger<E> {
    /// Creates a partnership's ledger from its genesis op: checks it, installs
    /// the charter's participants and modules, and runs every module's `init`.
    pub fn new(genesis: SignedOp, executor: E, config: LedgerConfig) -> Result<Self, LedgerError> {
        genesis.verify(&config.limits).map_err(|e| LedgerError::InvalidGenesis(e.to_string()))?;
        let Payload::Genesis(charter) = genesis.op().payload.clone() else {
            return Err(LedgerError::InvalidGenesis(format!(
                "a {} op is not a genesis",
                genesis.op().payload.kind()
            )));
        };
        let partnership = genesis.partnership();
        // A spawned partnership exists only with its parent's proof.
        let parent_trust = crossing::provenance(&genesis, &charter).map_err(LedgerError::InvalidGenesis)?;
        let genesis = Arc::new(genesis);
        let state = genesis_state(&genesis, &charter, &executor, parent_trust)?;
        let mut dag = Dag::new();
        let placement = dag.place(&genesis).map_err(|e| LedgerError::InvalidGenesis(format!("{e:?}")))?;
        dag.insert(Arc::clone(&genesis), placement);
        let mut final_delta = BTreeMap::new();
        for (k, v) in state.iter() {
            final_delta.insert(k.clone(), Some(v.clone()));
        }
        let mut ledger = Ledger {
            partnership,
            final_time_ms: genesis.op().time_ms,
            charter,
            genesis,
            config,
            executor,
            dag,
            pending: PendingBuffer::new(config.pending),
            optimistic: state.clone(),
            final_state: state,
            tail: BTreeMap::new(),
            applied_upto: None,
            final_height: 0,
            final_ops: 1,
            excluded: BTreeMap::new(),
            final_delta,
            recent_final: HashMap::new(),
            recent_order: VecDeque::new(),
            recent_bytes: 0,
            notifications: VecDeque::new(),
            dropped_notifications: 0,
            refusals: BTreeMap::new(),
            insert_counter: 0,
            last_payload_insert: BTreeMap::new(),
            last_own_insert: BTreeMap::new(),
            attestations: BTreeMap::new(),
            rekeys: BTreeMap::new(),
            delivery_refusals: BTreeMap::new(),
            summary: None,
            summary_unsaved: false,
            checkpoints: VecDeque::new(),
            meta: Vec::new(),
            meta_unsaved: false,
            replayed_at_open: 0,
            halted: None,
            published_code: std::sync::Mutex::default(),
            cuts: BTreeMap::new(),
            tail_votes: BTreeMap::new(),
        };
        let id = ledger.genesis.id();
        ledger.remember_final(id, OpOutcome::Structural);
        ledger.notify(NotificationKind::Final, id, 0, Some(OpOutcome::Structural));
        Ok(ledger)
    }

    /// Rebuilds a ledger from storage: the genesis, the final state snapshot
    /// (if any) and every op after the genesis in `(height, id)` order.
    ///
    /// Ops at or below the snapshot's final height go into the graph without
    /// being executed again; the rest are applied as on first arrival. Stored
    /// ops were verified when they were accepted and are not verified again.
    pub fn restore(
        genesis: SignedOp,
        executor: E,
        config: LedgerConfig,
        snapshot: Option<Snapshot>,
        ops: impl IntoIterator<Item = SignedOp>,
    ) -> Result<Self, LedgerError> {
        Self::restore_with(genesis, executor, config, (snapshot, None), ops, None)
    }

    /// [`restore`](Self::restore), with an archive of the ops being
    /// replayed (they are all stored): final ops are forgotten as the
    /// replay goes, so a restart holds no more in memory than the running
    /// node did. `snapshot` comes with the root saved with it, if any: a
    /// state whose root differs is refused
    /// ([`LedgerError::DamagedSnapshot`]).
    pub(crate) fn restore_with(
        genesis: SignedOp,
        executor: E,
        config: LedgerConfig,
        snapshot: (Option<Snapshot>, Option<[u8; 32]>),
        ops: impl IntoIterator<Item = SignedOp>,
        archive: Option<Arc<dyn OpArchive>>,
    ) -> Result<Self, LedgerError> {
        let mut ledger = Ledger::new(genesis, executor, config)?;
        if let Some(archive) = archive {
            ledger.dag.set_archive(archive);
        }
        let snapshot_height = ledger.install_snapshot(snapshot)?;
        ledger.replay(snapshot_height, ops)?;
        ledger.finish_replay()?;
        Ok(ledger)
    }

    /// Rebuilds a ledger from a summary of its graph instead of every stored
    /// op: the graph at or below the summary's horizon is `graph` (built by
    /// [`Dag::from_summary`]), and `ops` are the stored ops the summary does
    /// not cover (those above its horizon, and any stored later at or below
    /// it), in `(height, id)` order. What a restart costs then grows with
    /// the non-final tail and the recent final ops, not with history.
    /// `snapshot` as in [`restore_with`](Self::restore_with).
    pub(crate) fn resume(
        genesis: SignedOp,
        executor: E,
        config: LedgerConfig,
        snapshot: (Option<Snapshot>, Option<[u8; 32]>),
        meta: LedgerMeta,
        graph: Dag,
        ops: impl IntoIterator<Item = SignedOp>,
    ) -> Result<Self, LedgerError> {
        let LedgerMeta { summary: Some(summary), checkpoints, .. } = meta else {
            return Err(LedgerError::Inconsistent("resumed without a graph summary".into()));
        };
        let mut ledger = Ledger::new(genesis, executor, config)?;
        let snapshot_height = ledger.install_snapshot(snapshot)?;
        if snapshot_height.is_none_or(|height| height < summary.dag.horizon) {
            return Err(LedgerError::Inconsistent(format!(
                "the graph summary reaches height {}, above the final snapshot",
                summary.dag.horizon
            )));
        }
        ledger.dag = graph;
        ledger.final_ops = summary.dag.count;
        ledger.final_time_ms = ledger.final_time_ms.max(summary.final_time_ms);
        for (author, seq) in ledger.dag.equivocated_seqs() {
            let from = ledger.excluded.get(&author).map_or(seq, |&s| s.min(seq));
            ledger.excluded.insert(author, from);
        }
        for (digest, member, id) in &summary.attestations {
            ledger.attestations.entry(*digest).or_default().entry(*member).or_insert(*id);
        }
        for (height, id) in &summary.rekeys {
            ledger.rekeys.insert(OrderKey { height: *height, id: *id }, *id);
        }
        ledger.summary = Some(summary);
        ledger.restore_checkpoints(checkpoints);
        ledger.replay(snapshot_height, ops)?;
        ledger.finish_replay()?;
        Ok(ledger)
    }

    /// Installs a stored final snapshot; returns its height (`None` for no
    /// snapshot or one at the genesis).
    /// Refused if its root is not `saved_root`, when one was saved.
    fn install_snapshot(
        &mut self,
        (snapshot, saved_root): (Option<Snapshot>, Option<[u8; 32]>),
    ) -> Result<Option<u64>, LedgerError> {
        match snapshot {
            Some((height, pairs)) if height > 0 => {
                let state = StateMap::from_pairs(pairs);
                if let Some(saved) = saved_root
                    && state.root() != saved
                {
                    return Err(LedgerError::DamagedSnapshot {
                        height,
                        saved: hex::encode(saved),
                        found: hex::encode(state.root()),
                    });
                }
                self.optimistic = state.clone();
                self.final_state = state;
                self.final_delta.clear();
                self.final_height = height;
                Ok(Some(height))
            }
            _ => Ok(None),
        }
    }

    /// Puts stored ops back into the graph in `(height, id)` order: those at
    /// or below the snapshot's height without executing them again, the
    /// rest as on first arrival. Stored ops were verified when accepted.
    fn replay(
        &mut self,
        snapshot_height: Option<u64>,
        ops: impl IntoIterator<Item = SignedOp>,
    ) -> Result<(), LedgerError> {
        let mut replayed: u64 = 0;
        for op in ops {
            let id = op.id();
            if id == self.genesis.id() {
                continue;
            }
            // Not `contains_op`: the store holds this very op, so asking it
            // whether the graph has the op would always say yes.
            if self.dag.contains_in_memory(&op) {
                continue;
            }
            let placement = self.dag.place_stored(&op).map_err(|e| {
                LedgerError::Inconsistent(format!("stored op {id} does not fit the graph: {e:?}"))
            })?;
            replayed += 1;
            self.replayed_at_open += 1;
            if replayed.is_multiple_of(REPLAY_FORGET_EVERY) {
                // Ops at this op's height may not all be replayed yet: only
                // what lies below it may be forgotten.
                let up_to = self.final_height.min(placement.height.saturating_sub(1));
                let FinalInMemory { forget_above, keep_recent } = self.config.final_in_memory;
                self.dag.forget_oldest(up_to, forget_above, keep_recent, pinned);
            }
            let op = Arc::new(op);
            if snapshot_height.is_some_and(|h| placement.height <= h) {
                if let Some(found) = self.dag.insert(Arc::clone(&op), placement) {
                    self.note_equivocation(found.author, found.seq);
                }
                self.note_indexed(&op);
                self.final_ops += 1;
                // Final-state queries see the time of the latest final op,
                // as they did before the restart.
                self.final_time_ms = self.final_time_ms.max(op.op().time_ms);
                if let Payload::Genesis(_) = op.op().payload {
                    return Err(LedgerError::Inconsistent("a second genesis is stored".into()));
                }
                continue;
            }
            self.admit(op, placement);
            if let Some(halt) = &self.halted {
                return Err(LedgerError::Inconsistent(format!("replay stopped: {halt}")));
            }
        }
        Ok(())
    }

    /// What a rebuilt ledger does once its ops are back: finality, memory,
    /// and the acks it may still owe.
    fn finish_replay(&mut self) -> Result<(), LedgerError> {
        self.advance_finality();
        if let Some(failure) = self.dag.archive_failure() {
            return Err(LedgerError::Inconsistent(format!("replay stopped: {failure}")));
        }
        self.forget_final();
        // Anything received before the restart may still need our ack.
        for entry in self.tail.values() {
            if entry.op.op().payload.is_payload_bearing() {
                self.last_payload_insert.insert(entry.op.author(), 1);
            }
        }
        self.last_own_insert.clear();
        Ok(())
    }

    /// Gives the ledger an archive of its ops (the node's store): from now
    /// on it may forget final ops ([`Ledger::forget_final`]) and read them
    /// back from there when asked. Every op the ledger accepts must be
    /// persisted before the next [`Ledger::forget_final`].
    pub fn set_archive(&mut self, archive: Arc<dyn OpArchive>) {
        self.dag.set_archive(archive);
    }

    /// Forgets the oldest final ops once more than
    /// [`FinalInMemory::forget_above`] are held (keeping the most recent
    /// ones, the heads, each author's latest op and rekey ops), if the
    /// ledger has an archive. Returns the height up to
    /// which it forgot, for the store to move its own index of those ops to
    /// disk. Call it only when every accepted op is persisted.
    pub fn forget_final(&mut self) -> Option<u64> {
        let FinalInMemory { forget_above, keep_recent } = self.config.final_in_memory;
        let horizon = self.dag.forget_oldest(self.final_height, forget_above, keep_recent, pinned)?;
        // What a restart starts from instead of every op: saved with the
        // next final snapshot (`save_final`), before the store archives.
        self.summary = self.summary();
        self.summary_unsaved = true;
        self.refresh_meta();
        Some(horizon)
    }

    /// Encodes the metadata saved with the final snapshot again.
    fn refresh_meta(&mut self) {
        self.meta = super::summary::encode_meta(&self.summary, &self.checkpoints);
        self.meta_unsaved = true;
    }

    /// The latest checkpoints the ledger took (at most
    /// [`CHECKPOINTS_KEPT`]), ascending by height: the root of the final
    /// state at each multiple of the charter's `checkpoint_every`, for
    /// every participant's node to attest.
    pub fn checkpoints(&self) -> impl DoubleEndedIterator<Item = &CheckpointStatement> {
        self.checkpoints.iter()
    }

    /// The ops a compaction of the store must keep: what a restart reads
    /// back (the ops held in memory, which the saved summary names, and
    /// both ops of every equivocation), what certificates are built from
    /// (attest ops), what the keyring reads (rekey ops), and the genesis.
    pub fn ops_kept_by_compaction(&self) -> BTreeSet<OpId> {
        let mut keep: BTreeSet<OpId> = self.dag.held_ids().copied().collect();
        keep.insert(self.genesis.id());
        for proof in self.dag.equivocations() {
            let (first, second) = proof.ops();
            keep.extend([first.id(), second.id()]);
        }
        if let Some(summary) = &self.summary {
            keep.extend(summary.dag.held.iter().copied());
            keep.extend(summary.dag.equivocations.iter().flat_map(|(a, b)| [*a, *b]));
        }
        keep.extend(self.attestations.values().flat_map(|by| by.values().copied()));
        keep.extend(self.rekeys.values().copied());
        keep
    }

    /// Puts back checkpoints saved before a restart (the replay takes again
    /// only those above the final snapshot).
    pub(crate) fn restore_checkpoints(&mut self, saved: Vec<CheckpointStatement>) {
        for checkpoint in saved {
            self.note_checkpoint(checkpoint);
        }
    }

    fn note_checkpoint(&mut self, checkpoint: CheckpointStatement) {
        if self.checkpoints.iter().any(|c| c.height == checkpoint.height) {
            return;
        }
        let at = self.checkpoints.partition_point(|c| c.height < checkpoint.height);
        self.checkpoints.insert(at, checkpoint);
        while self.checkpoints.len() > CHECKPOINTS_KEPT {
            self.checkpoints.pop_front();
        }
        self.refresh_meta();
    }

    /// Takes the checkpoints at the charter's multiples of
    /// `checkpoint_every` from `*next` up to `below` (exclusive): the final
    /// state holds every op at or below them and none above.
    fn take_checkpoints(&mut self, next: &mut u64, below: u64) {
        let every = self.charter.params.checkpoint_every;
        while every > 0 && *next < below {
            let checkpoint = CheckpointStatement {
                height: *next,
                state_root: self.final_state.root(),
                generation: crossing::generation(&self.final_state),
            };
            self.note_checkpoint(checkpoint);
            *next = next.saturating_add(every);
        }
    }

    /// The graph at or below its horizon and what the ledger indexes there,
    /// for a restart; `None` if nothing was forgotten.
    fn summary(&self) -> Option<LedgerSummary> {
        let dag = self.dag.summary()?;
        let horizon = dag.horizon;
        let below = |id: &OpId| self.dag.held(id).is_none_or(|node| node.height <= horizon);
        let attestations = self
            .attestations
            .iter()
            .flat_map(|(digest, by)| by.iter().map(move |(member, id)| (*digest, *member, *id)))
            .filter(|(_, _, id)| below(id))
            .collect();
        let rekeys =
            self.rekeys.keys().filter(|key| key.height <= horizon).map(|key| (key.height, key.id)).collect();
        Some(LedgerSummary { dag, final_time_ms: self.final_time_ms, attestations, rekeys })
    }

    /// Whether the summary of the graph changed since this was last called
    /// (for the store, which moves its archive horizon with it).
    pub(crate) fn take_summary_changed(&mut self) -> bool {
        std::mem::take(&mut self.summary_unsaved)
    }

    /// The metadata saved with the final snapshot ([`LedgerMeta`]: the
    /// graph's summary and the latest checkpoints), encoded, if it changed
    /// since this was last called.
    pub(crate) fn take_meta(&mut self) -> Option<&[u8]> {
        std::mem::take(&mut self.meta_unsaved).then_some(self.meta.as_slice())
    }

    /// Whether the graph summary and checkpoints are saved as they are
    /// (nothing for [`Ledger::save_final`] to write of them): a new summary
    /// always renews the metadata too.
    pub(crate) fn meta_saved(&self) -> bool {
        !self.meta_unsaved
    }

    /// The metadata saved with the final snapshot, encoded (empty if none).
    pub(crate) fn meta_bytes(&self) -> &[u8] {
        &self.meta
    }

    /// How many stored ops opening this ledger replayed into its graph:
    /// every op after the genesis, or, from a summary of the graph, only
    /// those it does not cover.
    pub fn replayed_at_open(&self) -> u64 {
        self.replayed_at_open
    }

    /// The partnership's id.
    pub fn partnership(&self) -> PartnershipId {
        self.partnership
    }

    /// The charter of the genesis.
    pub fn charter(&self) -> &Charter {
        &self.charter
    }

    /// The genesis op.
    pub fn genesis(&self) -> &SignedOp {
        &self.genesis
    }

    /// The op graph.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// Every op at or below this height is final.
    pub fn final_height(&self) -> u64 {
        self.final_height
    }

    /// The highest height in the graph.
    pub fn optimistic_height(&self) -> u64 {
        self.dag.max_height()
    }

    /// Number of final ops.
    pub fn final_op_count(&self) -> u64 {
        self.final_ops
    }

    /// The final state.
    pub fn final_state(&self) -> &StateMap {
        &self.final_state
    }

    /// The optimistic state (final plus every applied op above it).
    pub fn optimistic_state(&self) -> &StateMap {
        &self.optimistic
    }

    /// Root of the final state.
    pub fn final_root(&self) -> [u8; 32] {
        self.final_state.root()
    }

    /// Root of the optimistic state.
    pub fn optimistic_root(&self) -> [u8; 32] {
        self.optimistic.root()
    }

    /// The code of every publication completed since the last call, joined
    /// and checked: the node keeps it in its code store so it outlives the
    /// ops (the state keeps only its record).
    pub fn take_published_code(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(self.published_code.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Why applying stopped, if this node could not decide an op (missing
    /// code, a node fault). Applying resumes on the next insert.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref().or_else(|| self.dag.archive_failure())
    }

    /// Refusal counts by reason.
    pub fn refusal_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.refusals
    }

    /// Ops waiting for parents.
    pub fn pending(&self) -> &PendingBuffer {
        &self.pending
    }

    /// Members excluded for equivocation, with the first seq they signed twice.
    pub fn excluded(&self) -> &BTreeMap<MemberId, u64> {
        &self.excluded
    }

    /// The outcome of an op, if it was applied and is still remembered (the
    /// tail, and the most recent final ops). A failed final op's error is
    /// always available from [`StateMap::failure`].
    pub fn outcome(&self, id: &OpId) -> Option<OpOutcome> {
        if let Some(node) = self.dag.held(id)
            && let Some(entry) = self.tail.get(&node.key())
        {
            return entry.applied.as_ref().map(|a| a.outcome.clone());
        }
        if let Some(outcome) = self.recent_final.get(id) {
            return Some(outcome.clone());
        }
        let node = self.dag.get(id)?;
        if node.height > self.final_height {
            return None;
        }
        Some(match self.final_state.failure(id) {
            Some(error) => OpOutcome::Failed { error },
            None => OpOutcome::Structural,
        })
    }

    /// Whether `id` is final.
    pub fn is_final(&self, id: &OpId) -> bool {
        self.dag.height_of(id).is_some_and(|height| height <= self.final_height)
    }

    /// The notifications gathered and not yet taken, oldest first.
    pub fn pending_notifications(&self) -> impl Iterator<Item = &Notification> {
        self.notifications.iter()
    }

    /// Takes the notifications gathered since the last call.
    pub fn drain_notifications(&mut self) -> Vec<Notification> {
        self.notifications.drain(..).collect()
    }

    /// Bytes of outcomes remembered for recent final ops (bounded; older
    /// final outcomes are read from the state's failure records).
    pub fn remembered_outcome_bytes(&self) -> usize {
        self.recent_bytes
    }

    /// Notifications dropped because nobody drained them in time.
    pub fn dropped_notifications(&self) -> u64 {
        self.dropped_notifications
    }

    /// Takes the writes that became final since the last call (for the
    /// store's incremental snapshot), with the final height they reach.
    pub fn take_final_delta(&mut self) -> (u64, Vec<Write>) {
        (self.final_height, std::mem::take(&mut self.final_delta).into_iter().collect())
    }

    /// Whether `member` should author an ack: some other participant's
    /// payload-bearing op arrived after `member`'s latest op. Acks are never
    /// acked, since they are not payload-bearing.
    pub fn needs_ack(&self, member: &MemberId) -> bool {
        let mine = self.last_own_insert.get(member).copied().unwrap_or(0);
        self.last_payload_insert.iter().any(|(author, &at)| author != member && at > mine)
    }

    /// Builds and signs `key`'s next op on the current heads, or, for an
    /// ack, on the few payload ops it acks (it is not inserted: call
    /// [`Ledger::insert`] with it).
    pub fn create_op(&self, key: &MemberKey, payload: Payload, now_ms: u64) -> SignedOp {
        let author = key.member_id();
        let chain = self.dag.chain(&author);
        let seq = chain.map_or(0, |c| c.max_seq()) + 1;
        let own_previous = chain.and_then(|c| c.latest());
        let max_parents = self.config.limits.max_parents.max(1);
        let mut heads = match payload {
            Payload::Ack => self.ack_targets(&author),
            _ => None,
        }
        .unwrap_or_else(|| {
            self.dag.heads().iter().filter_map(|id| self.dag.held(id).map(|n| (n.height, *id))).collect()
        });
        // Highest heads first: they carry the most of the past.
        heads.sort_unstable_by(|a, b| b.cmp(a));
        let mut parents: BTreeSet<OpId> = own_previous.into_iter().collect();
        for (_, id) in heads {
            if parents.len() >= max_parents {
                break;
            }
            parents.insert(id);
        }
        let max_parent_time =
            parents.iter().filter_map(|id| self.dag.get(id)).map(|n| n.op.op().time_ms).max().unwrap_or(0);
        UnsignedOp {
            partnership: self.partnership,
            author,
            seq,
            parents: parents.into_iter().collect(),
            time_ms: now_ms.max(max_parent_time),
            payload,
        }
        .sign(key)
    }

    /// What an ack by `author` names besides its own previous op: the
    /// payload-bearing ops of the tail it has not built on, when they are
    /// few (`None`: name every head instead). Acks are never acked, so
    /// naming the other partners' acks, which are most of the heads when
    /// every partner acks each window, only made every ack O(partners)
    /// bytes; finality needs an ack to have the payloads in its past, and
    /// nothing else (`finality.rs`, rule 2). Many unseen payloads (a
    /// catch-up, a burst) are covered by the heads in fewer parents.
    fn ack_targets(&self, author: &MemberId) -> Option<Vec<(u64, OpId)>> {
        const MAX_ACK_TARGETS: usize = 8;
        let mut targets = Vec::new();
        for (key, entry) in &self.tail {
            if entry.op.op().payload.is_payload_bearing() && !entry.seen_by.contains(author) {
                if targets.len() == MAX_ACK_TARGETS {
                    return None;
                }
                targets.push((key.height, key.id));
            }
        }
        (!targets.is_empty()).then_some(targets)
    }

    /// Inserts a fresh op: one submitted by a client or gossiped by a peer.
    ///
    /// Besides the structural rules of [`Ledger::insert_synced`], the front
    /// door applies the participation policy: the author must be a
    /// participant whose admission is in the op's past, and whose removal
    /// (if any) is not. See the module doc for why this is policy and not a
    /// rule of the graph.
    pub fn insert(&mut self, op: SignedOp, now_ms: u64) -> Result<Insertion, Refusal> {
        let result = self.try_insert(op, now_ms, true, None);
        self.counted(result)
    }

    /// Inserts an op fetched by sync because the partnership's history holds
    /// it: only the structural rules apply (signature, size, partnership,
    /// parents present, chain, time). An op whose author is not an active
    /// participant where it sorts is kept as structure and has no effect.
    pub fn insert_synced(&mut self, op: SignedOp, now_ms: u64) -> Result<Insertion, Refusal> {
        let result = self.try_insert(op, now_ms, false, None);
        self.counted(result)
    }

    /// The checks of the front door that need nothing but the op and the
    /// participant registry: partnership, size, structure, the strict
    /// signature, and an author this ledger knows. For an op the node will
    /// not insert (it came from a forwarder the node does not take gossip
    /// from), to tell a bad op, whose sender is penalised, from a good one.
    /// A refusal is counted as [`insert`](Self::insert) counts it; nothing
    /// else changes.
    pub fn precheck(&mut self, op: &SignedOp) -> Result<(), Refusal> {
        let result = self.precheck_inner(op);
        self.counted(result)
    }

    fn precheck_inner(&self, op: &SignedOp) -> Result<(), Refusal> {
        if op.partnership() != self.partnership {
            return Err(Refusal::WrongPartnership { expected: self.partnership, found: op.partnership() });
        }
        op.verify(&self.config.limits)?;
        match self.optimistic.participant(&op.author()) {
            Some(_) => Ok(()),
            None => Err(Refusal::UnknownAuthor(op.author())),
        }
    }

    /// Inserts ops in order, each accepted or refused on its own: the results
    /// are exactly those of calling [`insert`](Self::insert) (for
    /// [`Origin::Fresh`]) or [`insert_synced`](Self::insert_synced) (for
    /// [`Origin::Synced`]) once per op, in order.
    ///
    /// The difference is speed: the checks that depend on nothing but the op
    /// itself (size, structure, the strict signature) run first, for the
    /// whole batch, on all cores. Everything that depends on the graph stays
    /// sequential and in order.
    pub fn insert_batch(
        &mut self,
        ops: Vec<SignedOp>,
        origin: Origin,
        now_ms: u64,
    ) -> Vec<Result<Insertion, Refusal>> {
        let checks = self.check_ops(&ops);
        let front_door = origin == Origin::Fresh;
        ops.into_iter()
            .zip(checks)
            .map(|(op, checked)| {
                let result = self.try_insert(op, now_ms, front_door, checked);
                self.counted(result)
            })
            .collect()
    }

    /// Counts a refusal by its reason (the metrics' `refused` counters).
    fn counted<T>(&mut self, result: Result<T, Refusal>) -> Result<T, Refusal> {
        if let Err(refusal) = &result {
            *self.refusals.entry(refusal.reason()).or_default() += 1;
        }
        result
    }

    /// [`SignedOp::verify`] of every op of a batch that could get past the
    /// cheap checks (right partnership, not held already), in parallel when
    /// the batch is large enough to pay for it; `None` for the others, which
    /// [`try_insert`](Self::try_insert) refuses before it would verify.
    fn check_ops(&self, ops: &[SignedOp]) -> Vec<Option<Result<(), OpError>>> {
        let limits = self.config.limits;
        // The cheap graph lookups first, here; only the pure check goes to other cores.
        let wanted: Vec<bool> = ops
            .iter()
            .map(|op| {
                let id = op.id();
                op.partnership() == self.partnership
                    && !self.dag.contains_op(op)
                    && !self.pending.contains(&id)
            })
            .collect();
        let check = |(op, wanted): (&SignedOp, &bool)| wanted.then(|| op.verify(&limits));
        // Ops whose signatures were checked ahead of time (a sync page is
        // checked while the page before it is inserted) only look their
        // verdicts up, here: the other cores may be busy checking the next
        // batch, and this one must not wait behind it.
        let unchecked =
            ops.iter().zip(&wanted).filter(|(op, wanted)| **wanted && !op.signature_checked()).count();
        if unchecked < PARALLEL_CHECK_MIN_OPS {
            ops.iter().zip(&wanted).map(check).collect()
        } else {
            ops.par_iter().zip(&wanted).with_min_len(PARALLEL_CHECK_CHUNK).map(check).collect()
        }
    }

    /// `checked`: the outcome of [`SignedOp::verify`] if the caller already
    /// ran it (see [`check_ops`](Self::check_ops)).
    fn try_insert(
        &mut self,
        op: SignedOp,
        now_ms: u64,
        front_door: bool,
        checked: Option<Result<(), OpError>>,
    ) -> Result<Insertion, Refusal> {
        let id = op.id();
        if op.partnership() != self.partnership {
            return Err(Refusal::WrongPartnership { expected: self.partnership, found: op.partnership() });
        }
        if self.dag.contains_op(&op) {
            return Err(Refusal::Duplicate(id));
        }
        if self.pending.contains(&id) {
            if !front_door {
                self.pending.offered_by_sync(&id);
            }
            return Err(Refusal::Duplicate(id));
        }
        match checked {
            Some(result) => result?,
            None => op.verify(&self.config.limits)?,
        }
        let tolerance = self.charter.params.clock_tolerance_ms;
        if op.op().time_ms > now_ms.saturating_add(tolerance) {
            return Err(Refusal::TooFarAhead { time_ms: op.op().time_ms, now_ms, tolerance_ms: tolerance });
        }
        let placement = match self.dag.place(&op) {
            Ok(placement) => placement,
            Err(PlaceError::MissingParents(missing)) => {
                self.pending
                    .hold(op, missing.clone(), front_door)
                    .map_err(|full| Refusal::PendingFull { ops: full.ops, bytes: full.bytes })?;
                return Ok(Insertion { waiting_for: missing, ..Insertion::default() });
            }
            Err(other) => return Err(place_refusal(id, other)),
        };
        check_time(&op, &placement)?;
        suspension::check_cut(&self.dag, &op).map_err(Refusal::BadSuspension)?;
        if front_door {
            self.check_participation(&op, &placement)?;
        }
        let mut insertion = Insertion::default();
        let op = Arc::new(op);
        insertion.equivocation = self.admit(Arc::clone(&op), placement);
        insertion.accepted.push((id, placement.height));
        self.release_waiting(id, &mut insertion);
        self.advance_finality();
        Ok(insertion)
    }

    /// Admits ops that were waiting for `parent`, transitively, under the
    /// rules of the door each came in by.
    fn release_waiting(&mut self, parent: OpId, insertion: &mut Insertion) {
        let mut queue: VecDeque<(SignedOp, bool)> = self.pending.release(&parent).into();
        while let Some((child, front_door)) = queue.pop_front() {
            let child_id = child.id();
            let placed = match self.dag.place(&child) {
                Err(PlaceError::MissingParents(missing)) => {
                    // Cannot happen (it was released because its parents are in); hold it again.
                    let _ = self.pending.hold(child, missing, front_door);
                    continue;
                }
                other => other.map_err(|e| place_refusal(child_id, e)),
            };
            let checked =
                placed
                    .and_then(|p| check_time(&child, &p).map(|()| p))
                    .and_then(|p| {
                        suspension::check_cut(&self.dag, &child).map(|()| p).map_err(Refusal::BadSuspension)
                    })
                    .and_then(|p| {
                        if front_door { self.check_participation(&child, &p).map(|()| p) } else { Ok(p) }
                    });
            let placement = match checked {
                Ok(placement) => placement,
                Err(refusal) => {
                    *self.refusals.entry(refusal.reason()).or_default() += 1;
                    insertion.dropped.push((child_id, refusal));
                    continue;
                }
            };
            if let Some(proof) = self.admit(Arc::new(child), placement) {
                insertion.equivocation = Some(proof);
            }
            insertion.accepted.push((child_id, placement.height));
            queue.extend(self.pending.release(&child_id));
        }
    }

    /// The participation policy of the front door.
    fn check_participation(&self, op: &SignedOp, placement: &Placement) -> Result<(), Refusal> {
        let author = op.author();
        let height = placement.height;
        let Some(record) = self.optimistic.participant(&author) else {
            return Err(Refusal::UnknownAuthor(author));
        };
        // Later ops carry the admission through their own previous op.
        if op.seq() == 1
            && let Some(admitted_by) = record.admitted_by
            && !self.dag.reaches(&op.op().parents, &admitted_by)
        {
            return Err(Refusal::NotYetAdmitted { author, admitted_at: record.admitted_at, height });
        }
        if let (Some(removed_at), Some(removed_by)) = (record.removed_at, record.removed_by)
            && height > removed_at
            && self.dag.reaches(&op.op().parents, &removed_by)
            && !self.is_removal_ack(op, &removed_by)
        {
            return Err(Refusal::RemovedAuthor { author, removed_at, height });
        }
        Ok(())
    }

    /// Whether `op` is its author's *removal ack*: an ack that builds on
    /// the op that removed the author, and the author's first op to do so.
    ///
    /// The finality rule waits for a removed participant until its chain
    /// reaches the height of its removal; when others removed it, the only
    /// way to get there is to build on the removing op. So exactly one op
    /// of a removed author may do that: an ack (no payload, no effect on
    /// state), which its node authors on its own when it sees its removal
    /// (see `docs/decisions.md`, "Removal by others"). Later ops are refused
    /// as before, so a removed author cannot keep writing into the graph.
    fn is_removal_ack(&self, op: &SignedOp, removed_by: &OpId) -> bool {
        if op.op().payload != Payload::Ack {
            return false;
        }
        let (author, seq) = (op.author(), op.seq());
        let previous = op.op().parents.iter().find(|parent| {
            self.dag.get(parent).is_some_and(|node| node.op.author() == author && node.op.seq() + 1 == seq)
        });
        match previous {
            None => true,
            Some(previous) => !self.dag.reaches(std::slice::from_ref(previous), removed_by),
        }
    }

    /// How far `member`'s participation reaches for finality: the height of
    /// its latest op, or of its admission if that is higher.
    fn reach(&self, member: &MemberId, record: &ParticipantRecord) -> u64 {
        let tip = self.dag.chain(member).and_then(|c| c.tip_height()).unwrap_or(0);
        record.admitted_at.max(tip)
    }

    /// Whether finality still waits for `member`: it is an active
    /// participant, or one removed whose chain has not yet reached its
    /// removal (its node owes a removal ack). A node acting for such a
    /// member keeps receiving and serving the partnership's ops.
    pub fn awaits(&self, member: &MemberId) -> bool {
        match self.optimistic.participant(member) {
            None => false,
            Some(record) => match record.removed_at {
                None => true,
                Some(removed_at) => self.reach(member, &record) < removed_at,
            },
        }
    }

    /// Whether `member` was removed by another participant's op and has
    /// not yet authored its removal ack (see [`Ledger::awaits`]). Its node
    /// authors that ack on its own.
    pub fn owes_removal_ack(&self, member: &MemberId) -> bool {
        self.optimistic
            .participant(member)
            .is_some_and(|record| record.removed_at.is_some() && self.awaits(member))
    }

    /// Indexes an attest op's statements by author, and a rekey op by its
    /// place in the graph (the op is in the graph already).
    fn note_indexed(&mut self, op: &SignedOp) {
        if let Payload::Rekey { .. } = &op.op().payload
            && let Some(node) = self.dag.get(&op.id())
        {
            self.rekeys.insert(node.key(), op.id());
        }
        if let Payload::Attest { statements } = &op.op().payload {
            for digest in statements {
                self.attestations.entry(*digest).or_default().entry(op.author()).or_insert(op.id());
            }
        }
    }

    /// Final deliveries from other partnerships that were refused (a replay,
    /// a second relay, a forgery, one out of turn), by reason, since the
    /// ledger was opened.
    pub fn delivery_refusals(&self) -> &BTreeMap<&'static str, u64> {
        &self.delivery_refusals
    }

    /// Every rekey op in the graph, oldest first in the graph's order (its
    /// total order; concurrent rekeys sort by height, then id).
    pub fn rekeys(&self) -> Vec<Arc<SignedOp>> {
        self.rekeys.values().filter_map(|id| self.dag.get(id)).map(|node| node.op).collect()
    }

    /// `member`'s attest op stating the statement with `digest`, if one is
    /// in the graph.
    pub fn attestation(&self, digest: &StatementDigest, member: &MemberId) -> Option<Arc<SignedOp>> {
        let id = self.attestations.get(digest)?.get(member)?;
        self.dag.get(id).map(|node| node.op)
    }

    /// Puts a checked op into the graph and applies what can be applied.
    fn admit(&mut self, op: Arc<SignedOp>, placement: Placement) -> Option<EquivocationProof> {
        let author = op.author();
        let key = OrderKey { height: placement.height, id: op.id() };
        self.insert_counter += 1;
        self.last_own_insert.insert(author, self.insert_counter);
        if op.op().payload.is_payload_bearing() {
            self.last_payload_insert.insert(author, self.insert_counter);
        }
        let found = self.dag.insert(Arc::clone(&op), placement);
        self.note_indexed(&op);
        if key.height <= self.final_height {
            // Only an op with no effect can sort into the final region: an
            // equivocating op, or one of a suspended or removed participant.
            // It is kept as structure but cannot change what is final.
            self.final_ops += 1;
            if op.op().payload.is_payload_bearing() {
                // Its author's node (and whoever asks) is told it was
                // skipped and why, as if it had sorted into the tail.
                let reason = self.skip_reason(&op, key.height).unwrap_or_else(|| {
                    "it sorts below the final height, where nothing can change any more".to_owned()
                });
                let outcome = OpOutcome::Skipped { reason };
                self.remember_final(key.id, outcome.clone());
                self.notify(NotificationKind::Applied, key.id, key.height, Some(outcome.clone()));
                self.notify(NotificationKind::Final, key.id, key.height, Some(outcome));
            }
        } else {
            if let Payload::Suspend { member, cut_seq } = op.op().payload {
                self.tail_votes.insert(key, (author, member, cut_seq));
            }
            self.tail.insert(key, TailEntry { op: Arc::clone(&op), applied: None, seen_by: BTreeSet::new() });
            self.mark_seen(&op);
            self.rewind_to(key);
        }
        if let Some(found) = &found {
            self.note_equivocation(found.author, found.seq);
        }
        self.settle();
        found.and_then(|found| found.proof)
    }

    /// Records that `op`'s author has built on `op` and its whole past (the
    /// tail part of it; everything final was built on by every participant
    /// that counts). Stops at ops already marked, so each tail op is walked
    /// at most once per participant.
    fn mark_seen(&mut self, op: &SignedOp) {
        let author = op.author();
        let mut stack = vec![op.id()];
        while let Some(id) = stack.pop() {
            // Tail ops are always held: one not held is final.
            let Some(node) = self.dag.held(&id) else { continue };
            let key = node.key();
            let Some(entry) = self.tail.get_mut(&key) else { continue };
            if entry.seen_by.insert(author) {
                stack.extend(entry.op.op().parents.iter().copied());
            }
        }
    }

    /// Applies the tail under the suspension cuts its votes call for.
    ///
    /// A suspended member's ops after its cut have no effect wherever they
    /// sort, also before the vote that suspended it; and whether a vote
    /// completes a suspension could depend on what those ops did (a vote of
    /// the member's own for someone else, an admission it executed). So the
    /// rule takes, the same way on every node, the reading that favours the
    /// suspensions in the order their first votes sort: each candidate
    /// `(member, cut)` is tried with the cuts kept so far, and kept if its
    /// vote then completes a suspension and every kept one still does. With
    /// no votes in the tail this is one plain pass.
    fn settle(&mut self) {
        let candidates = self.vote_candidates();
        let mut kept: Vec<(MemberId, u64)> = Vec::new();
        for (member, cut) in candidates {
            if kept.iter().any(|(m, _)| *m == member) {
                continue;
            }
            let mut trial = kept.clone();
            trial.push((member, cut));
            self.apply_with_cuts(&trial);
            if self.halted.is_some() {
                return;
            }
            if trial.iter().all(|(m, c)| self.suspended_in_tail(m, *c)) {
                kept = trial;
            }
        }
        self.apply_with_cuts(&kept);
    }

    /// Applies the tail with exactly these suspension cuts assumed,
    /// rewinding first to the earliest op whose effect they change.
    fn apply_with_cuts(&mut self, cuts: &[(MemberId, u64)]) {
        let wanted: BTreeMap<MemberId, u64> = cuts.iter().copied().collect();
        if wanted != self.cuts {
            let from = self.earliest_cut_change(&wanted);
            self.cuts = wanted;
            if let Some(from) = from {
                self.rewind_to(from);
            }
        }
        self.apply_forward();
    }

    /// Whether the applied tail suspends `member` at `cut`.
    fn suspended_in_tail(&self, member: &MemberId, cut: u64) -> bool {
        self.optimistic
            .suspension(member)
            .is_some_and(|r| r.cut_seq == cut && r.suspended_at > self.final_height)
    }

    /// Every `(member, cut)` a vote may still make effective, in the order
    /// of their first vote: the live votes of the final state, then those
    /// of every vote in the tail (whatever its outcome now: a vote's effect
    /// can change while it is not final, so every one is tried).
    fn vote_candidates(&self) -> Vec<(MemberId, u64)> {
        let mut candidates: Vec<(MemberId, u64)> =
            self.final_state.live_votes().into_iter().map(|(_, v)| (v.member, v.cut_seq)).collect();
        for (_, member, cut) in self.tail_votes.values() {
            if !candidates.contains(&(*member, *cut)) {
                candidates.push((*member, *cut));
            }
        }
        candidates
    }

    /// The earliest applied tail op whose effect changes when the cuts
    /// change from `self.cuts` to `wanted`.
    fn earliest_cut_change(&self, wanted: &BTreeMap<MemberId, u64>) -> Option<OrderKey> {
        let members: BTreeSet<&MemberId> = self.cuts.keys().chain(wanted.keys()).collect();
        members
            .into_iter()
            .filter(|m| self.cuts.get(m) != wanted.get(m))
            .filter_map(|member| {
                let low = self
                    .cuts
                    .get(member)
                    .copied()
                    .unwrap_or(u64::MAX)
                    .min(wanted.get(member).copied().unwrap_or(u64::MAX));
                self.dag
                    .held_ops_from(member, low.saturating_add(1))
                    .filter_map(|id| self.dag.held(&id).map(|n| n.key()))
                    .filter(|key| self.tail.contains_key(key))
                    .min()
            })
            .min()
    }

    /// Records an equivocation: the author's payloads from that seq on are
    /// not executed, on every node that holds both ops, whatever the order
    /// they arrived in.
    fn note_equivocation(&mut self, author: MemberId, seq: u64) {
        let from = self.excluded.get(&author).map_or(seq, |&s| s.min(seq));
        self.excluded.insert(author, from);
        let earliest = self
            .dag
            .held_ops_from(&author, from)
            .filter_map(|id| self.dag.held(&id).map(|n| n.key()))
            .filter(|key| self.tail.contains_key(key))
            .min();
        if let Some(key) = earliest {
            self.rewind_to(key);
        }
    }

    /// Why a member's op has no effect under the suspension rules, if it
    /// has none: it lies after the member's cut and before its return,
    /// either by the state at its place or by a cut the tail's votes call
    /// for (which applies wherever the op sorts).
    fn suspension_skip(&self, op: &SignedOp) -> Option<String> {
        let (author, seq) = (op.author(), op.seq());
        let record = self.optimistic.suspension(&author);
        if let Some(record) = record
            && record.cuts_off(seq)
        {
            return Some(format!(
                "{author} is suspended: its ops after seq {} have no effect until a partner readmits it",
                record.cut_seq
            ));
        }
        if let Some(&cut) = self.cuts.get(&author)
            && seq > cut
            && !record
                .is_some_and(|r| r.cut_seq == cut && r.resumed_seq.is_some_and(|resumed| seq >= resumed))
        {
            return Some(format!(
                "{author} is suspended: its ops after seq {cut} have no effect until a partner readmits it"
            ));
        }
        None
    }

    /// Undoes every applied op at or after `from`.
    fn rewind_to(&mut self, from: OrderKey) {
        if self.applied_upto.is_none_or(|marker| marker < from) {
            return;
        }
        let keys: Vec<OrderKey> = self
            .tail
            .range(from..)
            .rev()
            .filter(|(_, entry)| entry.applied.is_some())
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            let Some(entry) = self.tail.get_mut(&key) else { continue };
            let Some(applied) = entry.applied.take() else { continue };
            for (k, old) in applied.undo.into_iter().rev() {
                self.optimistic.put(k, old);
            }
            self.notify(NotificationKind::Undone, key.id, key.height, None);
        }
        self.applied_upto = self.tail.range(..from).next_back().map(|(key, _)| *key);
    }

    /// Applies unapplied tail ops in order until the end or an op this node
    /// cannot decide.
    fn apply_forward(&mut self) {
        loop {
            let next = match self.applied_upto {
                Some(marker) => self.tail.range((Bound::Excluded(marker), Bound::Unbounded)).next(),
                None => self.tail.iter().next(),
            }
            .map(|(key, entry)| (*key, Arc::clone(&entry.op)));
            let Some((key, op)) = next else {
                self.halted = None;
                return;
            };
            match self.execute(&op, key) {
                Ok((writes, outcome)) => {
                    let mut undo = Vec::with_capacity(writes.len());
                    for (k, v) in &writes {
                        let old = self.optimistic.put(k.clone(), v.clone());
                        undo.push((k.clone(), old));
                    }
                    self.notify(NotificationKind::Applied, key.id, key.height, Some(outcome.clone()));
                    if let Some(entry) = self.tail.get_mut(&key) {
                        entry.applied = Some(Applied { undo, redo: writes, outcome });
                    }
                    self.applied_upto = Some(key);
                }
                Err(error) => {
                    tracing::warn!(op = %key.id, %error, "cannot apply op yet");
                    self.halted = Some(format!("op {}: {error}", key.id));
                    return;
                }
            }
        }
    }

    /// Works out one op's writes and outcome against the optimistic state.
    fn execute(&self, op: &SignedOp, key: OrderKey) -> Result<(Vec<Write>, OpOutcome), ExecError> {
        let author = op.author();
        let seq = op.seq();
        let mut evidence: Option<Write> = None;
        if self.dag.chain(&author).is_some_and(|chain| chain.equivocated_at(seq)) {
            let twins = self.dag.ops_at(&author, seq);
            let sorts_after_a_twin = twins.iter().any(|t| {
                *t != key.id && self.dag.height_of(t).is_some_and(|height| OrderKey { height, id: *t } < key)
            });
            if sorts_after_a_twin {
                let from = self.optimistic.equivocation_from(&author).map_or(seq, |s| s.min(seq));
                evidence = Some((evidence_key(&author), Some(from.to_be_bytes().to_vec())));
            }
        }
        let with_evidence = |mut writes: Vec<Write>| {
            if let Some(e) = evidence.clone() {
                writes.retain(|(k, _)| *k != e.0);
                writes.push(e);
                writes.sort_by(|a, b| a.0.cmp(&b.0));
            }
            writes
        };
        if let Some(reason) = self.skip_reason(op, key.height) {
            let outcome = if op.op().payload.is_payload_bearing() {
                OpOutcome::Skipped { reason }
            } else {
                OpOutcome::Structural
            };
            return Ok((with_evidence(Vec::new()), outcome));
        }
        match &op.op().payload {
            Payload::Ack | Payload::Attest { .. } | Payload::Rekey { .. } | Payload::Genesis(_) => {
                Ok((with_evidence(Vec::new()), OpOutcome::Structural))
            }
            Payload::BindPeer { peer_id } => {
                Ok((with_evidence(vec![(peer_key(&author), Some(peer_id.clone()))]), OpOutcome::Structural))
            }
            Payload::Suspend { .. } | Payload::Withdraw | Payload::Resume | Payload::Readmit { .. } => {
                let (mut writes, outcome) =
                    suspension::execute(&self.optimistic, &self.dag, &self.charter.params, op, key);
                let extra = crossing::after_op(
                    &self.optimistic,
                    &self.partnership,
                    &writes,
                    crossing::Crossings::default(),
                    key,
                    op.op().time_ms,
                );
                writes.extend(extra);
                writes.sort_by(|a, b| a.0.cmp(&b.0));
                Ok((with_evidence(writes), outcome))
            }
            Payload::PublishCode(_) | Payload::Call { .. } | Payload::Deliver { .. }
                if self.optimistic.dissolution().is_some() =>
            {
                let error = dissolved_error(self.optimistic.dissolution());
                let record = vec![(failed_key(&key.id), Some(error.clone().into_bytes()))];
                Ok((with_evidence(record), OpOutcome::Failed { error }))
            }
            Payload::PublishCode(chunk) => {
                let run =
                    publish::execute(&self.optimistic, &self.charter.params, &self.executor, op, chunk, key)?;
                if let Some(wasm) = run.published {
                    self.published_code.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(wasm);
                }
                Ok((with_evidence(run.writes), run.outcome))
            }
            Payload::Call { module, msg } => {
                let (writes, outcome) = self.run_call(op, key, module, msg, None, None)?;
                Ok((with_evidence(writes), outcome))
            }
            Payload::Deliver { certificate } => {
                let delivery =
                    match crossing::accept_delivery(&self.optimistic, &self.partnership, certificate) {
                        Ok(delivery) => delivery,
                        Err(error) => {
                            let record = vec![(failed_key(&key.id), Some(error.clone().into_bytes()))];
                            return Ok((with_evidence(record), OpOutcome::Failed { error }));
                        }
                    };
                let message = &delivery.message;
                let caller = delivery.from.to_member_text();
                let (writes, outcome) =
                    self.run_call(op, key, &message.module, &message.msg, Some(caller), Some(&delivery))?;
                Ok((with_evidence(writes), outcome))
            }
        }
    }

    /// Runs a call of `module` with `msg` (an op's own call, or a message
    /// `delivery` from another partnership, whose inbox write is made
    /// whether the call succeeds or fails: a delivered message is consumed
    /// once, and a refusal is recorded, never retried).
    fn run_call(
        &self,
        op: &SignedOp,
        key: OrderKey,
        module: &str,
        msg: &[u8],
        caller: Option<String>,
        delivery: Option<&crossing::Delivery>,
    ) -> Result<(Vec<Write>, OpOutcome), ExecError> {
        let ctx = OpContext {
            partnership: self.partnership,
            op: key.id,
            author: op.author(),
            caller,
            seq: op.seq(),
            height: key.height,
            time_ms: op.op().time_ms,
        };
        let mut run = OpRun::new(&self.executor, &self.optimistic, &self.charter.params, ctx);
        if let Some(delivery) = delivery {
            run.put(delivery.inbox_write.0.clone(), delivery.inbox_write.1.clone());
        }
        match run.call(module, Entry::Handle, msg, None, 0, None) {
            Ok(data) => {
                let crossings =
                    crossing::Crossings { outgoing: run.take_outgoing(), spawns: run.take_spawns() };
                let (mut writes, mut events, _logs) = run.finish();
                let time_ms = op.op().time_ms;
                writes.extend(crossing::after_op(
                    &self.optimistic,
                    &self.partnership,
                    &writes,
                    crossings,
                    key,
                    time_ms,
                ));
                writes.sort_by(|a, b| a.0.cmp(&b.0));
                if let Some(delivery) = delivery {
                    events.insert(0, delivered_event(delivery));
                }
                Ok((writes, OpOutcome::Applied { data, events }))
            }
            Err(RunError::Failed(error)) => {
                let mut record = vec![(failed_key(&key.id), Some(error.clone().into_bytes()))];
                if let Some(delivery) = delivery {
                    record.push(delivery.inbox_write.clone());
                    record.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Ok((record, OpOutcome::Failed { error }))
            }
            Err(RunError::Undecidable(error)) => Err(error),
        }
    }

    fn skip_reason(&self, op: &SignedOp, height: u64) -> Option<String> {
        let author = op.author();
        if let Some(&from) = self.excluded.get(&author)
            && op.seq() >= from
        {
            return Some(format!(
                "{author} signed two ops with seq {from}; its ops from that seq on have no effect"
            ));
        }
        if let Some(reason) = self.suspension_skip(op) {
            return Some(reason);
        }
        match self.optimistic.participant(&author) {
            Some(record) if record.is_active() && record.admitted_at < height => None,
            Some(record) if !record.is_active() => Some(format!("{author} is no longer a participant")),
            _ => Some(format!("{author} is not a participant at this point of the order")),
        }
    }

    /// `final_height` by the rule of [`finality`](super::finality), from
    /// the optimistic participant registry, the tail and its votes.
    fn compute_final_height(&self) -> u64 {
        let members: Vec<Counted> = self
            .optimistic
            .participants()
            .into_iter()
            .map(|(member, record)| {
                let start = suspension::counting_start(&self.optimistic, &member, &record);
                let tip = self.dag.chain(&member).and_then(|c| c.tip_height()).unwrap_or(0);
                let status = match (record.removed_at, self.optimistic.suspension(&member)) {
                    (Some(at), _) => Status::Removed(at),
                    (None, Some(s)) if s.is_current() => Status::Suspended(s.suspended_at),
                    _ => Status::Active,
                };
                Counted { member, start, reach: start.max(tip), status }
            })
            .collect();
        let caps = self.vote_caps();
        let payloads = || {
            self.tail.iter().filter(|(_, e)| e.op.op().payload.is_payload_bearing()).map(|(key, e)| {
                TailPayload { height: key.height, author: e.op.author(), seen_by: &e.seen_by }
            })
        };
        finality::final_height(self.final_height, self.dag.max_height(), &members, payloads, &caps)
    }

    /// The caps of rule 3: every vote of the final state that is still
    /// live and every vote of the tail (whatever its outcome: it may still
    /// apply differently), each with where it stopped being live, if it did
    /// in the applied tail (withdrawn or replaced by its voter, or a new
    /// epoch began); votes that expired for good (see
    /// [`Ledger::vote_expired`]) cap nothing.
    fn vote_caps(&self) -> Vec<VoteCap> {
        let final_votes = self.final_state.live_votes();
        if final_votes.is_empty() && self.tail_votes.is_empty() {
            return Vec::new();
        }
        // Open votes: voter -> (member, cut, time, height, recorded).
        type Open = (MemberId, u64, u64, u64, bool);
        let mut open: BTreeMap<MemberId, Vec<Open>> = BTreeMap::new();
        for (voter, vote) in final_votes {
            open.entry(voter).or_default().push((vote.member, vote.cut_seq, vote.time_ms, 0, true));
        }
        let mut spans: Vec<(Open, Option<u64>)> = Vec::new();
        for (key, entry) in &self.tail {
            let Some(applied) = &entry.applied else { break };
            let author = entry.op.author();
            let new_epoch = applied.redo.iter().any(|(k, _)| k.as_slice() == super::state::EPOCH_KEY);
            let rewritten = applied.redo.iter().any(|(k, _)| *k == super::state::vote_key(&author));
            if rewritten && let Some(earlier) = open.remove(&author) {
                // Withdrawn, or replaced by a new vote of its voter.
                spans.extend(earlier.into_iter().map(|v| (v, Some(key.height))));
            }
            if let Some((voter, member, cut)) = self.tail_votes.get(key) {
                let recorded = matches!(applied.outcome, OpOutcome::Applied { .. });
                open.entry(*voter).or_default().push((
                    *member,
                    *cut,
                    entry.op.op().time_ms,
                    key.height,
                    recorded,
                ));
            }
            if new_epoch {
                for (_, votes) in std::mem::take(&mut open) {
                    spans.extend(votes.into_iter().map(|v| (v, Some(key.height))));
                }
            }
        }
        spans.extend(open.into_values().flatten().map(|v| (v, None)));
        spans
            .into_iter()
            .filter(|((member, cut, time_ms, height, _), _)| {
                !self.vote_expired(member, *cut, *time_ms, (*height).max(self.final_height))
            })
            .filter_map(|((member, cut, _, height, recorded), ended_at)| {
                let next_height =
                    self.dag.ops_at(&member, cut + 1).iter().filter_map(|id| self.dag.height_of(id)).min()?;
                Some(VoteCap { next_height, ended_at, height, recorded })
            })
            .collect()
    }

    /// Whether a vote against `member` at `cut`, cast at `time_ms` and
    /// `height`, can no longer count toward any suspension: the votes for
    /// the same cut that could combine with it (within two windows of
    /// `suspend_after_ms` either side), and
    /// the participants that could still cast one (active, not suspended,
    /// not the member, whose latest op is not past the window: an op's time
    /// is never below its parents'), are fewer than any quorum of the
    /// vote's epoch could need. A lone vote, mistaken or hostile, expires
    /// once the others have moved past its window.
    fn vote_expired(&self, member: &MemberId, cut: u64, time_ms: u64, height: u64) -> bool {
        // A completing vote lies within one window of this one, and the
        // votes it counts within one window of it.
        let reach = self.charter.params.suspend_after_ms.saturating_mul(2);
        let (low, high) = (time_ms.saturating_sub(reach), time_ms.saturating_add(reach));
        let within = |t: u64| t >= low && t <= high;
        let mut voters: BTreeSet<MemberId> = self
            .final_state
            .live_votes()
            .into_iter()
            .filter(|(_, v)| v.member == *member && v.cut_seq == cut && within(v.time_ms))
            .map(|(voter, _)| voter)
            .collect();
        for (key, (voter, m, c)) in &self.tail_votes {
            if m == member && *c == cut && self.tail.get(key).is_some_and(|e| within(e.op.op().time_ms)) {
                voters.insert(*voter);
            }
        }
        let state = &self.optimistic;
        let voting = suspension::voting_set(state);
        let potential = voting
            .iter()
            .filter(|m| *m != member && !voters.contains(m))
            .filter(|m| {
                self.dag
                    .chain(m)
                    .and_then(|c| c.latest())
                    .and_then(|id| self.dag.held(&id))
                    .is_none_or(|n| n.op.op().time_ms <= high)
            })
            .count();
        // A lower bound on the vote's epoch's voting set: members of today's
        // that were already counted where the vote sorts.
        let then = voting
            .iter()
            .filter(|m| {
                state.participant(m).is_some_and(|r| r.admitted_at < height)
                    && state.suspension(m).and_then(|s| s.resumed_at).is_none_or(|r| r < height)
            })
            .count();
        voters.len() + potential < then / 2 + 1
    }

    /// Moves what became final from the tail into the final state.
    fn advance_finality(&mut self) {
        let target = self.compute_final_height();
        if target <= self.final_height {
            return;
        }
        let mut reached = target;
        let every = self.charter.params.checkpoint_every;
        // The first checkpoint height above what is already final.
        let mut next_checkpoint = self
            .final_height
            .checked_div(every)
            .map_or(u64::MAX, |done| done.saturating_add(1).saturating_mul(every));
        while let Some(entry) = self.tail.first_entry() {
            let key = *entry.key();
            if key.height > target {
                break;
            }
            if entry.get().applied.is_none() {
                reached = key.height - 1;
                break;
            }
            if key.height > next_checkpoint {
                // Every op at or below the checkpoint is in the final
                // state, and none above.
                self.take_checkpoints(&mut next_checkpoint, key.height);
            }
            let Some(entry) = self.tail.first_entry() else { break };
            let entry = entry.remove();
            self.tail_votes.remove(&key);
            let Some(applied) = entry.applied else { continue };
            for (k, v) in applied.redo {
                self.final_state.put(k.clone(), v.clone());
                self.final_delta.insert(k, v);
            }
            self.final_ops += 1;
            self.final_time_ms = self.final_time_ms.max(entry.op.op().time_ms);
            if let (Payload::Deliver { .. }, OpOutcome::Failed { error }) =
                (&entry.op.op().payload, &applied.outcome)
                && let Some(reason) = crossing::refusal_reason(error)
            {
                *self.delivery_refusals.entry(reason).or_default() += 1;
            }
            self.remember_final(key.id, applied.outcome.clone());
            self.notify(NotificationKind::Final, key.id, key.height, Some(applied.outcome));
        }
        self.final_height = self.final_height.max(reached);
        self.take_checkpoints(&mut next_checkpoint, self.final_height.saturating_add(1));
    }

    fn remember_final(&mut self, id: OpId, outcome: OpOutcome) {
        self.recent_bytes += outcome_size(&outcome);
        if let Some(replaced) = self.recent_final.insert(id, outcome) {
            self.recent_bytes = self.recent_bytes.saturating_sub(outcome_size(&replaced));
        }
        self.recent_order.push_back(id);
        while self.recent_order.len() > RECENT_OUTCOMES
            || (self.recent_bytes > RECENT_OUTCOME_BYTES && self.recent_order.len() > 1)
        {
            if let Some(old) = self.recent_order.pop_front()
                && let Some(gone) = self.recent_final.remove(&old)
            {
                self.recent_bytes = self.recent_bytes.saturating_sub(outcome_size(&gone));
            }
        }
    }

    fn notify(&mut self, kind: NotificationKind, id: OpId, height: u64, outcome: Option<OpOutcome>) {
        if self.notifications.len() >= MAX_NOTIFICATIONS {
            self.notifications.pop_front();
            self.dropped_notifications += 1;
        }
        self.notifications.push_back(Notification { kind, id, height, outcome });
    }

    /// Queries a module (or `system`) against the final or the optimistic
    /// state. The module's own error comes back as `Ok(Err(text))`.
    pub fn query(&self, module: &str, msg: &[u8], final_state: bool) -> Result<QueryResult, ExecError> {
        let (state, height, time_ms) = if final_state {
            (&self.final_state, self.final_height, self.final_time_ms)
        } else {
            let time = self.tail.values().next_back().map_or(self.final_time_ms, |e| e.op.op().time_ms);
            (&self.optimistic, self.dag.max_height(), time)
        };
        let ctx = OpContext {
            partnership: self.partnership,
            op: OpId::default(),
            author: self.genesis.author(),
            caller: None,
            seq: 0,
            height,
            time_ms,
        };
        OpRun::new(&self.executor, state, &self.charter.params, ctx).external_query(module, msg)
    }

    /// Whether nothing above the final height carries a payload: the ops
    /// not final yet, if any, are structural (acks, attestations, rekeys),
    /// which change no state and wait only for the partners to author
    /// again (an idle partnership's last acks stay so until its next op).
    pub fn tail_is_structural(&self) -> bool {
        self.tail.iter().all(|(_, entry)| !entry.op.op().payload.is_payload_bearing())
    }

    /// The participants finality is waiting for now: those counted (active
    /// and not suspended, or removed and owing their removal ack) that have
    /// not built on the first payload-bearing op that is not final and that
    /// someone has not built on (rule 2 of the finality rule: usually the
    /// oldest op that is not final, but of two at one height the first may
    /// be built on by everyone and the second not). Empty when nothing waits.
    pub fn waiting_for(&self) -> Vec<MemberId> {
        let counted: Vec<(MemberId, u64)> = self
            .optimistic
            .participants()
            .into_iter()
            .filter(|(member, record)| match record.removed_at {
                Some(_) => self.awaits(member),
                None => !self.optimistic.is_suspended(member),
            })
            .map(|(member, record)| {
                let start = suspension::counting_start(&self.optimistic, &member, &record);
                (member, start)
            })
            .collect();
        self.tail
            .iter()
            .filter(|(_, e)| e.op.op().payload.is_payload_bearing())
            .map(|(key, entry)| {
                counted
                    .iter()
                    .filter(|(member, start)| {
                        *start < key.height && *member != entry.op.author() && !entry.seen_by.contains(member)
                    })
                    .map(|(member, _)| *member)
                    .collect::<Vec<MemberId>>()
            })
            .find(|missing| !missing.is_empty())
            .unwrap_or_default()
    }

    /// Whether `member` may vote on suspensions now (see the suspension
    /// rules): an active participant, not suspended, not readmitted in the
    /// current epoch.
    pub fn votes_on_suspensions(&self, member: &MemberId) -> bool {
        suspension::voting_set(&self.optimistic).contains(member)
    }

    /// Active participants of the optimistic state, ascending.
    pub fn participants(&self) -> Vec<(MemberId, ParticipantRecord)> {
        self.optimistic.participants().into_iter().filter(|(_, r)| r.is_active()).collect()
    }

    /// Installed modules of the optimistic state, ascending by name.
    pub fn modules(&self) -> Vec<(String, ModuleRecord)> {
        self.optimistic.modules()
    }
}

/// The structural time rule: never below a parent's time.
fn check_time(op: &SignedOp, placement: &Placement) -> Result<(), Refusal> {
    if op.op().time_ms < placement.max_parent_time_ms {
        return Err(Refusal::TimeBeforeParent {
            time_ms: op.op().time_ms,
            parent_time_ms: placement.max_parent_time_ms,
        });
    }
    Ok(())
}

fn place_refusal(id: OpId, error: PlaceError) -> Refusal {
    match error {
        PlaceError::Duplicate => Refusal::Duplicate(id),
        PlaceError::SeqGap { seq, known } => Refusal::SeqGap { seq, known },
        PlaceError::FirstOpHasOwnParent => Refusal::FirstOpHasOwnParent,
        PlaceError::SecondGenesis => Refusal::SecondGenesis,
        PlaceError::MissingParents(_) => Refusal::PendingFull { ops: 0, bytes: 0 },
    }
}

/// The state a genesis creates: participants, module records, every init.
fn genesis_state<E: Executor>(
    genesis: &SignedOp,
    charter: &Charter,
    executor: &E,
    parent_trust: Option<crossing::InboxRecord>,
) -> Result<StateMap, LedgerError> {
    for module in &charter.modules {
        if !executor.has_code(&module.code) {
            return Err(LedgerError::MissingCode(module.code));
        }
    }
    let empty = StateMap::default();
    let ctx = OpContext {
        partnership: genesis.partnership(),
        op: genesis.id(),
        author: genesis.author(),
        caller: None,
        seq: 1,
        height: 0,
        time_ms: genesis.op().time_ms,
    };
    let mut run = OpRun::new(executor, &empty, &charter.params, ctx);
    let record = ParticipantRecord { admitted_at: 0, admitted_by: None, removed_at: None, removed_by: None };
    for member in &charter.participants {
        run.put(participant_key(member), Some(encode_record(&record)));
    }
    for module in &charter.modules {
        let record = ModuleRecord { code: module.code, permissions: module.permissions.clone() };
        run.put(module_key(&module.name), Some(encode_record(&record)));
    }
    for (key, value) in publish::genesis_writes(charter.modules.iter().map(|m| m.code)) {
        run.put(key, value);
    }
    for module in &charter.modules {
        run.refuel();
        match run.call(&module.name, Entry::Init, module.config.as_bytes(), None, 0, None) {
            Ok(_) => {}
            Err(RunError::Failed(error)) => return Err(LedgerError::GenesisFailed(error)),
            Err(RunError::Undecidable(ExecError::MissingCode(code))) => {
                return Err(LedgerError::MissingCode(code));
            }
            Err(RunError::Undecidable(error)) => return Err(LedgerError::GenesisFailed(error.to_string())),
        }
    }
    if !run.take_outgoing().is_empty() || !run.take_spawns().is_empty() {
        return Err(LedgerError::GenesisFailed(
            "a module's init cannot message or spawn other partnerships (do it from a call)".into(),
        ));
    }
    if let Some(record) = parent_trust {
        let (key, value) = crossing::trust_parent(charter, &record);
        run.put(key, value);
    }
    let (writes, _events, _logs) = run.finish();
    Ok(StateMap::from_pairs(writes.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)))))
}

/// The system event of a delivered message, first among the call's events.
fn delivered_event(delivery: &crossing::Delivery) -> ModuleEvent {
    ModuleEvent {
        module: polypact_sdk::abi::SYSTEM_MODULE.to_owned(),
        event: polypact_sdk::abi::Event {
            kind: "message_delivered".into(),
            attributes: vec![
                ("from".into(), delivery.from.to_member_text()),
                ("seq".into(), delivery.message.seq.to_string()),
                ("module".into(), delivery.message.module.clone()),
                ("source_op".into(), delivery.message.source_op.to_hex()),
            ],
        },
    }
}

/// The error every call gets once the partnership is dissolved.
fn dissolved_error(record: Option<serde_json::Value>) -> String {
    let record = record.unwrap_or_default();
    format!(
        "the partnership is dissolved (at height {}: {}); it accepts queries only",
        record["height"],
        record["reason"].as_str().unwrap_or("no reason given")
    )
}
