//! The node's synchronous core: one store, one WASM executor, the node's
//! member key, and one [`Ledger`] per partnership the member takes part in.
//!
//! It owns the rules that sit between the ledger and the outside world:
//! an op is appended to the store (durably) before anything reports it
//! accepted; the member acks payload-bearing ops of others after a debounce;
//! the final state is snapshotted as it advances; ops the node must publish
//! are queued in an outbox; others' acks that finalise no call may wait a
//! few milliseconds to share a store commit
//! ([`CoreConfig::ack_commit_delay_ms`]). It knows nothing about tokio,
//! HTTP or libp2p: the service ([`super::service`]) drives it, and the network half
//! ([`super::network`]) feeds it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::host::WasmExecutor;
pub use crate::ledger::Origin;
use crate::ledger::{
    Executor, Insertion, Ledger, LedgerConfig, Notification, NotificationKind, OpOutcome, Refusal,
    StoreArchive,
};
use crate::op::{Charter, CodeHash, MemberId, MemberKey, OpId, PartnershipId, Payload, SignedOp, UnsignedOp};
use crate::store::{OpCursor, Store};

use super::error::NodeError;
use super::event::{NodeEvent, OpEventKind};
use super::ledgers::{Ledgers, Roster};
use super::service::{ParticipantStatus, ParticipantView, Waiting};

/// A partnership's ledger as the node runs it.
pub type NodeLedger = Ledger<Arc<WasmExecutor>>;

/// Each partnership's results of [`NodeCore::insert_batches`], in order.
pub type BatchResults = Vec<(PartnershipId, Vec<Result<Insertion, Refusal>>)>;

/// Ops a ledger let in, with their heights: what one partnership stores.
type Accepted = Vec<(u64, Arc<SignedOp>)>;

/// What [`NodeCore::insert_one`] leaves to store, if anything: the ops and
/// the member's leading-edge ack.
type ToStore = Option<(Accepted, Option<SignedOp>)>;

/// Node settings the core needs.
#[derive(Clone, Copy, Debug)]
pub struct CoreConfig {
    /// The ack window: a member acks others' payload-bearing ops at once
    /// when it has not acked in the partnership for this long, and otherwise
    /// when this long has passed since its last ack (one ack covers
    /// everything that arrived meanwhile). So an idle partnership finalises
    /// in two network hops, and a busy one gets at most one ack per member
    /// per window.
    pub ack_debounce_ms: u64,
    /// How often the final state is snapshotted to the store (a restart
    /// replays only the ops above the last snapshot). Each snapshot is a
    /// store commit with an fsync, so not on every tick.
    pub snapshot_interval_ms: u64,
    /// Group commit of acks: others' acks that arrive on gossip and make no
    /// payload-bearing op final may wait in memory up to this long, so that
    /// the acks of one round share a store commit instead of taking one each
    /// (in a quiet 8-node partnership, about half of a node's commits). An
    /// ack that completes a call's finality is committed at once, with every
    /// ack held before it. A held ack is reported to no one (no event, not
    /// forwarded on gossip, not served by sync, and committed before any
    /// client request is answered) until it is durable, and any op the
    /// member authors on top of it goes into the same commit. 0 commits
    /// every batch at once.
    pub ack_commit_delay_ms: u64,
    /// Ledger limits (op size, pending buffer).
    pub ledger: LedgerConfig,
    /// Whether the node compacts stored final ops (keeps only their
    /// headers) behind each partnership's latest certified checkpoint
    /// (`node/compaction.rs`). Off by default: the ops are kept for audit.
    pub compact_history: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            ack_debounce_ms: 50,
            snapshot_interval_ms: 1_000,
            ack_commit_delay_ms: 20,
            ledger: LedgerConfig::default(),
            compact_history: false,
        }
    }
}

/// The synchronous heart of a node.
pub struct NodeCore {
    /// Shared with every ledger, as the archive of the final ops it forgot.
    store: Arc<Store>,
    executor: Arc<WasmExecutor>,
    key: MemberKey,
    member: MemberId,
    pub(crate) config: CoreConfig,
    /// Every held partnership, its ledger loaded on first use
    /// (`node/ledgers.rs`).
    pub(crate) ledgers: Ledgers,
    /// When (node clock) the ack each partnership is owed falls due.
    ack_due_at: BTreeMap<PartnershipId, u64>,
    /// When (node clock) the member last acked in each partnership.
    last_ack_at: BTreeMap<PartnershipId, u64>,
    outbox: Vec<(PartnershipId, SignedOp)>,
    events: Vec<NodeEvent>,
    /// Node clock of the last final-state snapshot.
    last_snapshot_ms: u64,
    /// Others' acks accepted into a ledger but not yet in the store (see
    /// [`CoreConfig::ack_commit_delay_ms`]).
    held: BTreeMap<PartnershipId, HeldAcks>,
    /// Ops that were held and are now durable, for the network half to
    /// report (see [`NodeCore::take_released`]).
    released: Vec<OpId>,
    /// Node clock of the latest op of each member that reached this node,
    /// per partnership (for suspending absent partners, `node/absence.rs`).
    last_heard: BTreeMap<PartnershipId, BTreeMap<MemberId, u64>>,
    /// Node clock since when finality has been waiting for each member,
    /// per partnership (while it waits; see [`NodeCore::silent_since`]).
    waiting_since: BTreeMap<PartnershipId, BTreeMap<MemberId, u64>>,
    /// Attesting and relaying between partnerships (`node/crossing.rs`).
    pub(crate) crossings: super::crossing::CrossingState,
    /// Partnerships whose stored ops changed since the network half last
    /// asked ([`NodeCore::take_touched`]): what it must look at again.
    pub(crate) touched: BTreeSet<PartnershipId>,
    /// Partnerships the absence rules must look at on the next tick: ops
    /// arrived, or finality waits for someone. An idle partnership is not
    /// in it, so a tick costs nothing per idle partnership.
    attention: BTreeSet<PartnershipId>,
    /// Partnerships whose final state may have advanced since their last
    /// snapshot.
    pub(crate) unsnapshotted: BTreeSet<PartnershipId>,
    /// Partnerships whose stored ops changed since they were last marked
    /// resting, to look at on the snapshot tick (`node/resting.rs`).
    pub(crate) rest_due: BTreeSet<PartnershipId>,
    /// Whether a network half runs beside the core: it binds the member's
    /// peer id and follows what changed, so a partnership rests only once
    /// it has (`node/resting.rs`).
    pub(crate) networked: bool,
    /// Compacting the store behind certified checkpoints
    /// (`node/compaction.rs`).
    pub(crate) compaction: super::compaction::CompactionState,
}

/// One partnership's acks waiting for a store commit.
struct HeldAcks {
    /// Node clock when the first of them was held.
    since_ms: u64,
    ops: Vec<(u64, Arc<SignedOp>)>,
}

impl NodeCore {
    /// Opens a node over `store`: hands every stored module code to the
    /// executor's background compiler and rebuilds the ledger of every
    /// stored partnership that is not resting (replaying only the ops
    /// above its final snapshot); a resting one is loaded on first use
    /// (`node/resting.rs`). A partnership whose ledger cannot be rebuilt
    /// (its stored records are damaged) is held as failed: every use of it
    /// answers [`NodeError::Open`], and the node and the others go on.
    ///
    /// Stored code includes whatever partners published, valid or not: code
    /// that is no usable module is remembered as such (an install of it
    /// fails the same way on every node) and never stops the node opening.
    pub fn open(
        store: Store,
        executor: Arc<WasmExecutor>,
        key: MemberKey,
        config: CoreConfig,
    ) -> Result<NodeCore, NodeError> {
        for hash in store.code_hashes()? {
            if let Some(wasm) = store.get_code(&hash)?
                && let Err(error) = executor.load_code(&wasm)
            {
                tracing::warn!(code = %hash.short(), "stored code is no usable module: {error}");
            }
        }
        let store = Arc::new(store);
        let mut ledgers = Ledgers::new(Arc::clone(&store), Arc::clone(&executor), config.ledger);
        let mut loaded = Vec::new();
        for partnership in store.partnerships()? {
            match super::resting::resting_standing(&store, &partnership)? {
                Some(standing) => ledgers.insert_resting(partnership, standing),
                None => match ledgers.load(&partnership) {
                    Ok(ledger) => {
                        ledgers.insert_loaded(partnership, ledger);
                        loaded.push(partnership);
                    }
                    // A damaged record fails its partnership, not the node:
                    // it answers `NodeError::Open` and the others go on.
                    Err(message) => {
                        tracing::error!(partnership = %partnership.short(), error = %message, "cannot load a partnership's ledger; it is unavailable until the store is repaired");
                        ledgers.insert_failed(partnership, message);
                    }
                },
            }
        }
        let member = key.member_id();
        let mut crossings = super::crossing::CrossingState::default();
        crossings.dirty.extend(loaded.iter().copied());
        // The network half follows and compares every partnership after a
        // start, resting or not (from their rosters, without loading them).
        let touched = ledgers.ids().collect();
        Ok(NodeCore {
            store,
            executor,
            key,
            member,
            config,
            ledgers,
            ack_due_at: BTreeMap::new(),
            last_ack_at: BTreeMap::new(),
            outbox: Vec::new(),
            events: Vec::new(),
            last_snapshot_ms: 0,
            held: BTreeMap::new(),
            released: Vec::new(),
            last_heard: BTreeMap::new(),
            waiting_since: BTreeMap::new(),
            crossings,
            touched,
            attention: loaded.iter().copied().collect(),
            unsnapshotted: loaded.iter().copied().collect(),
            rest_due: loaded.into_iter().collect(),
            networked: false,
            compaction: super::compaction::CompactionState::default(),
        })
    }

    /// The member this node acts for.
    pub fn member(&self) -> MemberId {
        self.member
    }

    /// The store (read access for sync serving).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The executor.
    pub fn executor(&self) -> &Arc<WasmExecutor> {
        &self.executor
    }

    /// Every partnership this node holds, ascending.
    pub fn partnership_ids(&self) -> Vec<PartnershipId> {
        self.ledgers.ids().collect()
    }

    /// How many partnerships the node holds.
    pub fn partnership_count(&self) -> usize {
        self.ledgers.len()
    }

    /// Whether the node holds `partnership` (never loads its ledger).
    pub fn holds(&self, partnership: &PartnershipId) -> bool {
        self.ledgers.contains(partnership)
    }

    /// How many held partnerships have their ledger loaded (the others
    /// rest until first used, `node/resting.rs`).
    pub fn loaded_count(&self) -> usize {
        self.ledgers.loaded_count()
    }

    /// The held partnerships whose ledger could not be loaded from the
    /// store (a damaged record), with why: each answers
    /// [`NodeError::Open`] until the store is repaired.
    pub fn unavailable_partnerships(&self) -> Vec<(PartnershipId, String)> {
        self.ledgers.unavailable()
    }

    /// Whether `partnership`'s ledger is loaded (never loads it).
    pub fn is_loaded(&self, partnership: &PartnershipId) -> bool {
        self.ledgers.loaded(partnership).is_some()
    }

    /// `partnership`'s ledger if it is loaded; never loads it.
    pub fn loaded_ledger(&self, partnership: &PartnershipId) -> Option<&NodeLedger> {
        self.ledgers.loaded(partnership)
    }

    /// `partnership` as the network half sees it (who takes part and is
    /// awaited, who is bound where), from its ledger if loaded and from
    /// its resting standing otherwise: never loads it.
    pub fn roster(&self, partnership: &PartnershipId) -> Option<Roster<'_>> {
        self.ledgers.roster(partnership)
    }

    /// `partnership`'s genesis op: from its ledger if loaded, otherwise
    /// read from the store (never loads the ledger).
    pub fn genesis(&self, partnership: &PartnershipId) -> Result<Option<SignedOp>, NodeError> {
        if let Some(ledger) = self.ledgers.loaded(partnership) {
            return Ok(Some(ledger.genesis().clone()));
        }
        if !self.holds(partnership) {
            return Ok(None);
        }
        let mut page = self.store.ops_in_order(partnership, OpCursor::at_height(0), 1)?;
        Ok(page.ops.pop().filter(|(height, _)| *height == 0).map(|(_, genesis)| genesis))
    }

    /// One partnership's ledger.
    pub fn ledger(&self, partnership: &PartnershipId) -> Option<&NodeLedger> {
        self.ledgers.get(partnership)
    }

    /// One partnership's ledger, or the error clients see.
    pub fn ledger_or_err(&self, partnership: &PartnershipId) -> Result<&NodeLedger, NodeError> {
        if let Some(ledger) = self.ledgers.get(partnership) {
            return Ok(ledger);
        }
        Err(match self.ledgers.load_error(partnership) {
            Some(message) => NodeError::Open { partnership: *partnership, message: message.to_owned() },
            None => NodeError::UnknownPartnership(*partnership),
        })
    }

    /// Adds module code: checks it compiles as a polypact module, then stores
    /// it durably. Idempotent.
    pub fn add_code(&mut self, wasm: &[u8]) -> Result<CodeHash, NodeError> {
        let hash = self.executor.add_code(wasm).map_err(|e| NodeError::Code(e.to_string()))?;
        self.store.put_code(wasm)?;
        Ok(hash)
    }

    /// The config fields that the stored code `code` declares as naming
    /// other module instances (see [`crate::host::declared_references`]);
    /// `None` if the node does not have the code.
    pub fn module_references(&self, code: &CodeHash) -> Result<Option<Vec<String>>, NodeError> {
        let Some(wasm) = self.store.get_code(code)? else { return Ok(None) };
        crate::host::declared_references(&wasm).map(Some).map_err(|e| NodeError::Code(e.to_string()))
    }

    /// Code hashes the charter needs that this node does not have.
    pub fn missing_code(&self, charter: &Charter) -> Vec<CodeHash> {
        let mut missing: Vec<CodeHash> = charter
            .modules
            .iter()
            .map(|m| m.code)
            .filter(|code| !crate::ledger::Executor::has_code(&*self.executor, code))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Creates a partnership from `charter`, authored by this node's member
    /// (who must be one of its participants): builds and stores the genesis.
    pub fn create_partnership(&mut self, charter: Charter, now_ms: u64) -> Result<PartnershipId, NodeError> {
        if !charter.participants.contains(&self.member) {
            return Err(NodeError::NotAParticipant(self.member));
        }
        let missing = self.missing_code(&charter);
        if !missing.is_empty() {
            return Err(NodeError::MissingCode(missing));
        }
        let genesis = UnsignedOp {
            partnership: PartnershipId::default(),
            author: self.member,
            seq: 1,
            parents: vec![],
            time_ms: now_ms,
            payload: Payload::Genesis(charter),
        }
        .sign(&self.key);
        let partnership = self.join(genesis.clone())?;
        self.outbox.push((partnership, genesis));
        Ok(partnership)
    }

    /// Joins a partnership from its genesis op (created here or received
    /// from a peer). Every module's code must be on the node. The member
    /// need not be a founding participant: a member admitted later joins
    /// from the genesis and catches up by sync (until its admission is in
    /// the node's graph it only follows). Idempotent.
    pub fn join(&mut self, genesis: SignedOp) -> Result<PartnershipId, NodeError> {
        genesis.verify(&self.config.ledger.limits).map_err(|e| NodeError::BadGenesis(e.to_string()))?;
        let Payload::Genesis(charter) = &genesis.op().payload else {
            return Err(NodeError::BadGenesis("the op is not a genesis".into()));
        };
        let missing = self.missing_code(charter);
        if !missing.is_empty() {
            return Err(NodeError::MissingCode(missing));
        }
        let mut ledger = Ledger::new(genesis.clone(), Arc::clone(&self.executor), self.config.ledger)
            .map_err(|e| NodeError::BadGenesis(e.to_string()))?;
        let partnership = ledger.partnership();
        if self.ledgers.contains(&partnership) {
            return Ok(partnership);
        }
        ledger.set_archive(Arc::new(StoreArchive::new(Arc::clone(&self.store), partnership)));
        self.store.append_ops(&partnership, &[(0, &genesis)])?;
        self.ledgers.insert_loaded(partnership, ledger);
        self.touched.insert(partnership);
        self.rest_due.insert(partnership);
        self.attention.insert(partnership);
        self.unsnapshotted.insert(partnership);
        Ok(partnership)
    }

    /// Signs and inserts an op of this node's member, persists it, and
    /// queues it for publishing. Returns the op.
    pub fn author(
        &mut self,
        partnership: &PartnershipId,
        payload: Payload,
        now_ms: u64,
    ) -> Result<SignedOp, NodeError> {
        let ledger = self.ledger_or_err(partnership)?;
        if let Some(reason) = ledger.halted() {
            return Err(NodeError::Halted { partnership: *partnership, reason: reason.to_owned() });
        }
        let op = ledger.create_op(&self.key, payload, now_ms);
        self.insert(partnership, op.clone(), Origin::Fresh, now_ms)?;
        if !op.op().payload.is_payload_bearing() {
            self.record_ack(partnership, now_ms);
        }
        self.outbox.push((*partnership, op.clone()));
        Ok(op)
    }

    /// Submits a call as the node's member.
    pub fn submit_call(
        &mut self,
        partnership: &PartnershipId,
        module: &str,
        msg: Vec<u8>,
        now_ms: u64,
    ) -> Result<SignedOp, NodeError> {
        let ledger = self.ledger_or_err(partnership)?;
        if ledger.optimistic_state().module(module).is_none() {
            let known: Vec<String> = ledger.modules().into_iter().map(|(name, _)| name).collect();
            return Err(NodeError::UnknownModule { module: module.to_owned(), known });
        }
        if let Some(record) = ledger.optimistic_state().dissolution() {
            return Err(NodeError::Dissolved(record.to_string()));
        }
        self.author(partnership, Payload::Call { module: module.to_owned(), msg }, now_ms)
    }

    /// Publishes `wasm` in `partnership`: checks it is a valid module within
    /// the charter's `max_code_bytes`, keeps it, and authors one
    /// `PublishCode` op per chunk, in order. Returns the code's hash and the
    /// ops (none if the code is already published there).
    pub fn submit_code(
        &mut self,
        partnership: &PartnershipId,
        wasm: &[u8],
        now_ms: u64,
    ) -> Result<(CodeHash, Vec<SignedOp>), NodeError> {
        let ledger = self.ledger_or_err(partnership)?;
        if let Some(record) = ledger.optimistic_state().dissolution() {
            return Err(NodeError::Dissolved(record.to_string()));
        }
        let limit = ledger.charter().params.max_code_bytes;
        if wasm.is_empty() || wasm.len() > limit as usize {
            return Err(NodeError::Code(format!(
                "the module is {} bytes; this partnership takes 1 to {limit} (its charter's max_code_bytes)",
                wasm.len()
            )));
        }
        let code = CodeHash::of(wasm);
        if ledger.optimistic_state().published_code(&code).is_some() {
            return Ok((code, Vec::new()));
        }
        // Checked here first, so a bad module is refused with its reason
        // before anything is signed (and compiled once, on its author's node).
        self.add_code(wasm)?;
        let mut ops = Vec::new();
        for chunk in crate::op::CodeChunk::split(wasm) {
            ops.push(self.author(partnership, Payload::PublishCode(chunk), now_ms)?);
        }
        Ok((code, ops))
    }

    /// Inserts an op received from outside (gossip, sync) or authored here,
    /// and persists everything it let into the graph before returning: when
    /// this returns `Ok`, the accepted ops are durable, except others' acks
    /// held for a group commit ([`is_held`](Self::is_held),
    /// [`CoreConfig::ack_commit_delay_ms`]).
    ///
    /// A refused op ([`NodeError::Refused`]) changes nothing. A store failure
    /// ([`NodeError::Store`]) is fatal for the node: memory and disk differ,
    /// so the caller must stop (a restart rebuilds from the disk).
    pub fn insert(
        &mut self,
        partnership: &PartnershipId,
        op: SignedOp,
        origin: Origin,
        now_ms: u64,
    ) -> Result<Insertion, NodeError> {
        // One op in, one result out.
        match self.insert_batch(partnership, vec![op], origin, now_ms)?.pop() {
            Some(result) => result.map_err(NodeError::Refused),
            None => Err(NodeError::Internal("a batch of one op gave no result".into())),
        }
    }

    /// [`Ledger::precheck`] of `op` in `partnership`'s ledger (nothing is
    /// inserted). `Err` for an unknown partnership or a refused op.
    pub fn precheck(&mut self, partnership: &PartnershipId, op: &SignedOp) -> Result<(), NodeError> {
        let Some(ledger) = self.ledgers.get_mut(partnership) else {
            return Err(NodeError::UnknownPartnership(*partnership));
        };
        ledger.precheck(op).map_err(NodeError::Refused)
    }

    /// Inserts ops in order (a sync page), each accepted or refused on its
    /// own, then persists every op they let in with ONE store transaction
    /// (one fsync per page, not per op) before returning, together with the
    /// acks held before; or, for gossip that is only others' acks and makes
    /// no call final, holds them for a later commit.
    ///
    /// `Err` only for an unknown partnership or a (fatal) store failure.
    pub fn insert_batch(
        &mut self,
        partnership: &PartnershipId,
        ops: Vec<SignedOp>,
        origin: Origin,
        now_ms: u64,
    ) -> Result<Vec<Result<Insertion, Refusal>>, NodeError> {
        match self.insert_batches(vec![(*partnership, ops)], origin, now_ms)?.pop() {
            Some((_, results)) => Ok(results),
            None => Err(NodeError::Internal("a batch of one partnership gave no result".into())),
        }
    }

    /// [`insert_batch`](Self::insert_batch) of several partnerships' batches
    /// (gossip and sync pages span many partnerships): each partnership's
    /// ops are inserted into its ledger, then everything they let in, in
    /// every partnership, is persisted with ONE store transaction before
    /// anything is reported. Returns each partnership's results, in order.
    ///
    /// `Err` only for an unknown partnership (before anything is inserted)
    /// or a (fatal) store failure.
    pub fn insert_batches(
        &mut self,
        batches: Vec<(PartnershipId, Vec<SignedOp>)>,
        origin: Origin,
        now_ms: u64,
    ) -> Result<BatchResults, NodeError> {
        if let Some((unknown, _)) = batches.iter().find(|(p, _)| !self.ledgers.contains(p)) {
            return Err(NodeError::UnknownPartnership(*unknown));
        }
        let mut results = Vec::with_capacity(batches.len());
        // What each partnership lets in, to persist together, and the
        // member's leading-edge ack in it.
        let mut to_persist: Vec<(PartnershipId, Accepted, Option<SignedOp>)> = Vec::new();
        for (partnership, ops) in batches {
            let (insertions, persist) = self.insert_one(&partnership, ops, origin, now_ms)?;
            results.push((partnership, insertions));
            if let Some((batch, ack)) = persist {
                to_persist.push((partnership, batch, ack));
            }
        }
        if to_persist.iter().any(|(_, batch, _)| !batch.is_empty()) {
            // A commit happens anyway: every partnership's held acks share it.
            for (partnership, held) in std::mem::take(&mut self.held) {
                self.released.extend(held.ops.iter().map(|(_, op)| op.id()));
                to_persist.push((partnership, held.ops, None));
            }
        }
        let batches: Vec<(PartnershipId, Accepted)> =
            to_persist.iter().map(|(p, batch, _)| (*p, batch.clone())).collect();
        self.persist_many(&batches)?;
        for (partnership, _, ack) in to_persist {
            if let Some(ack) = ack {
                self.record_ack(&partnership, now_ms);
                self.outbox.push((partnership, ack));
            }
            self.collect_events(&partnership);
            if self.ledgers.get(&partnership).is_some_and(|l| owes_ack(l, &self.member)) {
                // Leading edge: due now after a quiet window; otherwise one
                // window after the last ack, covering all that arrives
                // meanwhile (and never more than a window from now, should
                // the clock step back).
                let due_at = now_ms
                    .max(self.ack_window_end(&partnership))
                    .min(now_ms.saturating_add(self.config.ack_debounce_ms));
                self.ack_due_at.entry(partnership).or_insert(due_at);
            }
        }
        Ok(results)
    }

    /// The in-memory half of inserting one partnership's batch: the ledger
    /// takes the ops; others' acks that finalise no call are held; else
    /// what to persist (with the acks held before) and the member's
    /// leading-edge ack, if it owes one. Nothing is reported here.
    fn insert_one(
        &mut self,
        partnership: &PartnershipId,
        ops: Vec<SignedOp>,
        origin: Origin,
        now_ms: u64,
    ) -> Result<(Vec<Result<Insertion, Refusal>>, ToStore), NodeError> {
        let window_end = self.ack_window_end(partnership);
        let Some(ledger) = self.ledgers.get_mut(partnership) else {
            return Err(NodeError::UnknownPartnership(*partnership));
        };
        let results = ledger.insert_batch(ops, origin, now_ms);
        keep_published_code(&self.store, ledger)?;
        let mut batch = accepted_ops(ledger, results.iter().flatten());
        if !batch.is_empty() {
            self.attention.insert(*partnership);
            self.unsnapshotted.insert(*partnership);
        }
        let heard = self.last_heard.entry(*partnership).or_default();
        for (_, op) in &batch {
            heard.insert(op.author(), now_ms);
        }
        if self.config.ack_commit_delay_ms > 0
            && origin == Origin::Fresh
            && !batch.is_empty()
            && batch.iter().all(|(_, op)| !op.op().payload.is_payload_bearing() && op.author() != self.member)
            && !ledger.pending_notifications().any(finalises_a_payload)
        {
            // Others' acks that finalise no call: they wait for the next
            // commit (their notifications stay queued in the ledger).
            self.held
                .entry(*partnership)
                .or_insert(HeldAcks { since_ms: now_ms, ops: Vec::new() })
                .ops
                .extend(batch);
            return Ok((results, None));
        }
        if !batch.is_empty()
            && let Some(held) = self.held.remove(partnership)
        {
            // Held acks go first into this commit (the member's ack below
            // may build on them).
            self.released.extend(held.ops.iter().map(|(_, op)| op.id()));
            batch.splice(0..0, held.ops);
        }
        // Leading edge of the ack window: the ack goes into the same store
        // commit as the ops it acks, so it costs no commit of its own and
        // leaves as soon as they are durable.
        let mut ack = None;
        if !batch.is_empty()
            && now_ms >= window_end
            && owes_ack(ledger, &self.member)
            && ledger.halted().is_none()
        {
            let op = ledger.create_op(&self.key, Payload::Ack, now_ms);
            match ledger.insert(op.clone(), now_ms) {
                Ok(insertion) => {
                    batch.extend(accepted_ops(ledger, [&insertion]));
                    ack = Some(op);
                }
                // Still owed: scheduled below, authored on the next tick.
                Err(refusal) => tracing::warn!(%partnership, %refusal, "could not ack at once"),
            }
        }
        Ok((results, Some((batch, ack))))
    }

    /// Whether the member owes `partnership` an ack, has one scheduled, or
    /// holds others' acks there not yet committed.
    pub(crate) fn owes_or_holds_acks(&self, partnership: &PartnershipId) -> bool {
        self.held.contains_key(partnership)
            || self.ack_due_at.contains_key(partnership)
            || self.ledgers.loaded(partnership).is_some_and(|l| owes_ack(l, &self.member))
    }

    /// Notes that the member acked in `partnership` at `now_ms`: nothing is
    /// owed there any more, and a new ack window opens.
    fn record_ack(&mut self, partnership: &PartnershipId, now_ms: u64) {
        self.ack_due_at.remove(partnership);
        self.last_ack_at.insert(*partnership, now_ms);
    }

    /// When the ack window opened by the member's last ack in `partnership`
    /// ends (0 if it has not acked there since the node started).
    fn ack_window_end(&self, partnership: &PartnershipId) -> u64 {
        self.last_ack_at.get(partnership).map_or(0, |last| last.saturating_add(self.config.ack_debounce_ms))
    }

    /// Authors, in each partnership, the suspension op the member owes
    /// now, if any (see `node/absence.rs`): a vote to suspend a partner
    /// that finality has waited for longer than the charter allows, a
    /// withdrawal, a request to return, or a readmission. Returns the ops
    /// authored.
    pub fn tend_absences(&mut self, now_ms: u64) -> Result<Vec<(PartnershipId, OpId)>, NodeError> {
        let mut authored = Vec::new();
        for partnership in std::mem::take(&mut self.attention) {
            let silent_since = self.silent_since(&partnership, now_ms);
            let Some(ledger) = self.ledgers.get(&partnership) else { continue };
            if ledger.halted().is_some() {
                continue;
            }
            let Some(payload) = super::absence::next_action(ledger, &self.member, &silent_since, now_ms)
            else {
                // Only time can change the answer while finality waits for
                // someone; otherwise the next op brings it back.
                if !silent_since.is_empty() {
                    self.attention.insert(partnership);
                }
                continue;
            };
            // Looked at again next tick, whatever becomes of this op.
            self.attention.insert(partnership);
            tracing::info!(%partnership, op = payload.kind(), "authoring a suspension op on the member's behalf");
            let op = self.author(&partnership, payload, now_ms)?;
            authored.push((partnership, op.id()));
        }
        Ok(authored)
    }

    /// For each participant finality in `partnership` waits for, since when
    /// (node clock) it has been silent while ops waited for it: the later of
    /// its last op reaching this node and finality starting to wait for it
    /// (a partner admitted a moment ago is not absent). Notes when waiting
    /// starts and forgets those no longer waited for.
    fn silent_since(&mut self, partnership: &PartnershipId, now_ms: u64) -> BTreeMap<MemberId, u64> {
        let Some(ledger) = self.ledgers.get(partnership) else { return BTreeMap::new() };
        let waiting = ledger.waiting_for();
        let started = self.waiting_since.entry(*partnership).or_default();
        started.retain(|member, _| waiting.contains(member));
        let heard = self.last_heard.get(partnership);
        waiting
            .into_iter()
            .map(|member| {
                let waited = *started.entry(member).or_insert(now_ms);
                let last = heard.and_then(|h| h.get(&member)).copied().unwrap_or(0);
                (member, waited.max(last))
            })
            .collect()
    }

    /// Every participant of `partnership` with its status and when this
    /// node last heard from it.
    pub fn participant_views(&self, partnership: &PartnershipId, now_ms: u64) -> Vec<ParticipantView> {
        let Some(ledger) = self.ledgers.get(partnership) else { return Vec::new() };
        let state = ledger.optimistic_state();
        let heard = self.last_heard.get(partnership);
        state
            .participants()
            .into_iter()
            .map(|(member, record)| {
                let status = match (record.removed_at, state.suspension(&member)) {
                    (Some(at), _) => ParticipantStatus::Removed { at },
                    (None, Some(s)) if s.is_current() => {
                        ParticipantStatus::Suspended { at: s.suspended_at, cut_seq: s.cut_seq }
                    }
                    _ => ParticipantStatus::Active,
                };
                let last_heard_ms_ago =
                    heard.and_then(|h| h.get(&member)).map(|at| now_ms.saturating_sub(*at));
                ParticipantView { member, admitted_at: record.admitted_at, status, last_heard_ms_ago }
            })
            .collect()
    }

    /// The participants finality in `partnership` is waiting for, how long
    /// each has been silent, and when (or why not) this node will vote to
    /// suspend it.
    pub fn waiting_for(&self, partnership: &PartnershipId, now_ms: u64) -> Vec<Waiting> {
        let Some(ledger) = self.ledgers.get(partnership) else { return Vec::new() };
        let started = self.waiting_since.get(partnership);
        let heard = self.last_heard.get(partnership);
        let after = ledger.charter().params.suspend_after_ms;
        let voters = ledger
            .optimistic_state()
            .participants()
            .into_iter()
            .filter(|(m, r)| r.is_active() && !ledger.optimistic_state().is_suspended(m))
            .count();
        ledger
            .waiting_for()
            .into_iter()
            .map(|member| {
                let waited = started.and_then(|s| s.get(&member)).copied().unwrap_or(now_ms);
                let last = heard.and_then(|h| h.get(&member)).copied().unwrap_or(0);
                let silent_for_ms = now_ms.saturating_sub(waited.max(last));
                let why_not = if member == self.member {
                    Some("this node's own member: it acks when it has built on the op".to_owned())
                } else if after == 0 {
                    Some("the charter never suspends (suspend_after_ms = 0)".to_owned())
                } else if voters < 3 {
                    Some(format!(
                        "a suspension needs votes from more than half of the {voters} active participants, \
                         and only the others can vote: name a witness in the charter"
                    ))
                } else if !ledger.votes_on_suspensions(&self.member) {
                    Some("this node's member does not vote on suspensions in this epoch".to_owned())
                } else {
                    None
                };
                let suspension_in_ms = why_not.is_none().then(|| after.saturating_sub(silent_for_ms));
                Waiting { member, silent_for_ms, suspension_in_ms, why_not }
            })
            .collect()
    }

    /// Periodic work: authors the acks that are due (see
    /// [`CoreConfig::ack_debounce_ms`]) and saves final-state snapshots.
    /// Returns the acks authored.
    pub fn tick(&mut self, now_ms: u64) -> Result<Vec<(PartnershipId, OpId)>, NodeError> {
        let due: Vec<PartnershipId> =
            self.ack_due_at.iter().filter(|(_, due_at)| now_ms >= **due_at).map(|(p, _)| *p).collect();
        let mut acks = Vec::new();
        for partnership in due {
            self.ack_due_at.remove(&partnership);
            if self.ledgers.get(&partnership).is_some_and(|l| owes_ack(l, &self.member)) {
                // Its commit takes the partnership's held acks along.
                let op = self.author(&partnership, Payload::Ack, now_ms)?;
                acks.push((partnership, op.id()));
            }
        }
        let delay = self.config.ack_commit_delay_ms;
        let snapshot_due = now_ms.saturating_sub(self.last_snapshot_ms) >= self.config.snapshot_interval_ms;
        // Held acks whose wait is over (or whose clock stepped back), and
        // all of them before a snapshot: a snapshot covers only durable ops.
        let ripe: Vec<PartnershipId> = self
            .held
            .iter()
            .filter(|(_, held)| {
                snapshot_due || now_ms >= held.since_ms.saturating_add(delay) || now_ms < held.since_ms
            })
            .map(|(p, _)| *p)
            .collect();
        self.commit_held(&ripe)?;
        if snapshot_due {
            self.last_snapshot_ms = now_ms;
            self.save_snapshots()?;
        }
        Ok(acks)
    }

    /// When the next ack falls due, if one is owed.
    pub fn next_ack_due(&self) -> Option<u64> {
        self.ack_due_at.values().min().copied()
    }

    /// When [`tick`](Self::tick) next has work that cannot wait for the
    /// periodic tick: an ack falls due or held acks must be committed.
    pub fn next_due(&self) -> Option<u64> {
        let delay = self.config.ack_commit_delay_ms;
        let commits = self.held.values().map(|held| held.since_ms.saturating_add(delay));
        self.ack_due_at.values().copied().chain(commits).min()
    }

    /// Whether `op` is an ack accepted into `partnership`'s ledger that is
    /// not yet durable (see [`CoreConfig::ack_commit_delay_ms`]).
    pub fn is_held(&self, partnership: &PartnershipId, op: &OpId) -> bool {
        self.held.get(partnership).is_some_and(|held| held.ops.iter().any(|(_, held)| held.id() == *op))
    }

    /// Takes the ids of held acks that have become durable since the last
    /// call (the network half reports them accepted now).
    pub fn take_released(&mut self) -> Vec<OpId> {
        std::mem::take(&mut self.released)
    }

    /// Appends ops the ledgers of several partnerships accepted to the
    /// store in one commit (nothing for empty batches).
    fn persist_many(&mut self, batches: &[(PartnershipId, Accepted)]) -> Result<(), NodeError> {
        let refs: Vec<(PartnershipId, Vec<(u64, &SignedOp)>)> = batches
            .iter()
            .filter(|(_, ops)| !ops.is_empty())
            .map(|(p, ops)| (*p, ops.iter().map(|(h, op)| (*h, op.as_ref())).collect()))
            .collect();
        if refs.is_empty() {
            return Ok(());
        }
        self.touched.extend(refs.iter().map(|(p, _)| *p));
        self.rest_due.extend(refs.iter().map(|(p, _)| *p));
        let slices: Vec<(PartnershipId, &[(u64, &SignedOp)])> =
            refs.iter().map(|(p, ops)| (*p, ops.as_slice())).collect();
        self.store.append_ops_of_many(&slices).map_err(|e| {
            // The ledgers already hold these ops in memory; without them on
            // disk the node must not go on as if they were accepted.
            tracing::error!(error = %e, "cannot persist accepted ops; the node must stop");
            NodeError::Store(e)
        })
    }

    /// Commits the held acks of `partnerships` in one store commit and
    /// reports what they did.
    fn commit_held(&mut self, partnerships: &[PartnershipId]) -> Result<(), NodeError> {
        let held: Vec<(PartnershipId, HeldAcks)> =
            partnerships.iter().filter_map(|p| self.held.remove(p).map(|h| (*p, h))).collect();
        if held.is_empty() {
            return Ok(());
        }
        let batches: Vec<(PartnershipId, Accepted)> =
            held.into_iter().map(|(p, held)| (p, held.ops)).collect();
        self.persist_many(&batches)?;
        for (partnership, ops) in &batches {
            self.released.extend(ops.iter().map(|(_, op)| op.id()));
            self.collect_events(partnership);
        }
        Ok(())
    }

    /// Takes the ops to publish (authored here, in order).
    pub fn take_outbox(&mut self) -> Vec<(PartnershipId, SignedOp)> {
        std::mem::take(&mut self.outbox)
    }

    /// Takes the events produced since the last call.
    pub fn take_events(&mut self) -> Vec<NodeEvent> {
        std::mem::take(&mut self.events)
    }

    /// Commits every held ack now (before a client is answered: a client
    /// sees only durable ops). `Err` only for a (fatal) store failure.
    pub fn commit_held_acks(&mut self) -> Result<(), NodeError> {
        let all: Vec<PartnershipId> = self.held.keys().copied().collect();
        self.commit_held(&all)
    }

    /// Commits every held ack and saves every ledger's final snapshot
    /// (clean shutdown).
    pub fn flush(&mut self) -> Result<(), NodeError> {
        self.commit_held_acks()?;
        self.save_snapshots()
    }

    /// Saves the final snapshot of every partnership whose final state may
    /// have advanced since its last one (the others have nothing to save).
    fn save_snapshots(&mut self) -> Result<(), NodeError> {
        for partnership in std::mem::take(&mut self.unsnapshotted) {
            let Some(ledger) = self.ledgers.get_mut(&partnership) else { continue };
            // Every accepted op is durable here (held acks are committed
            // before a snapshot), so final ones may leave memory, the
            // store's index of them following them to disk.
            if self.config.compact_history {
                // Its final state moved: a checkpoint may be certified now.
                self.compaction.due.insert(partnership);
            }
            let saved = if self.held.contains_key(&partnership) {
                ledger.save_final(&self.store).map(|()| None)
            } else {
                ledger.save_final_and_forget(&self.store)
            };
            match saved {
                Ok(Some(horizon)) => {
                    tracing::debug!(%partnership, horizon, held = ledger.dag().held_len(), "final ops left memory");
                }
                Ok(None) => {}
                Err(e) => {
                    self.unsnapshotted.insert(partnership);
                    return Err(e.into());
                }
            }
        }
        self.compact_history()?;
        self.mark_quiet_partnerships()
    }

    /// Takes the partnerships whose stored ops changed (or that were
    /// opened or joined) since the last call: the network half follows,
    /// binds and compares only those, so idle partnerships cost it nothing.
    pub fn take_touched(&mut self) -> BTreeSet<PartnershipId> {
        std::mem::take(&mut self.touched)
    }

    fn collect_events(&mut self, partnership: &PartnershipId) {
        let Some(ledger) = self.ledgers.get_mut(partnership) else { return };
        let notes = ledger.drain_notifications();
        if notes.iter().any(|n| n.kind == NotificationKind::Final) {
            self.crossings.dirty.insert(*partnership);
        }
        for note in notes {
            let kind = match note.kind {
                NotificationKind::Applied => OpEventKind::Applied,
                NotificationKind::Undone => OpEventKind::Undone,
                NotificationKind::Final => OpEventKind::Final,
            };
            let (author, module) = match ledger.dag().get(&note.id) {
                Some(node) => {
                    let module = match &node.op.op().payload {
                        Payload::Call { module, .. } => Some(module.clone()),
                        _ => None,
                    };
                    (Some(node.op.author()), module)
                }
                None => (None, None),
            };
            self.events.push(NodeEvent {
                partnership: *partnership,
                op: note.id,
                height: note.height,
                kind,
                author,
                module,
                outcome: note.outcome,
            });
        }
    }

    /// The outcome of an op, if the ledger still knows it.
    pub fn outcome(&self, partnership: &PartnershipId, op: &OpId) -> Option<OpOutcome> {
        self.ledgers.get(partnership)?.outcome(op)
    }
}

/// Stores the code of publications `ledger` completed (the state keeps
/// only their records; the bytes must outlive the ops for restarts).
fn keep_published_code(store: &Store, ledger: &mut NodeLedger) -> Result<(), NodeError> {
    for wasm in ledger.take_published_code() {
        store.put_code(&wasm)?;
    }
    Ok(())
}

/// The ops `insertions` accepted into `ledger`, with their heights, to store.
fn accepted_ops<'a>(
    ledger: &NodeLedger,
    insertions: impl IntoIterator<Item = &'a Insertion>,
) -> Vec<(u64, Arc<SignedOp>)> {
    insertions
        .into_iter()
        .flat_map(|insertion| &insertion.accepted)
        .filter_map(|(id, height)| ledger.dag().get(id).map(|node| (*height, Arc::clone(&node.op))))
        .collect()
}

/// Whether a ledger notification says a payload-bearing op became final
/// (acks and the genesis are structural).
fn finalises_a_payload(note: &Notification) -> bool {
    note.kind == NotificationKind::Final && !matches!(note.outcome, Some(OpOutcome::Structural))
}

/// Whether `member` owes `ledger` an ack now: others' payload-bearing ops
/// arrived after its latest op and it is an active participant, or others
/// removed it and it has not yet built on its removal (its one removal ack,
/// without which finality would wait for it; after that it stops acking).
fn owes_ack(ledger: &NodeLedger, member: &MemberId) -> bool {
    let active = ledger.optimistic_state().participant(member).is_some_and(|r| r.is_active());
    (active && ledger.needs_ack(member)) || ledger.owes_removal_ack(member)
}
