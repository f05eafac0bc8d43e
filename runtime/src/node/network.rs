//! The node loop's network half: what the node does with gossip, sync
//! requests and anti-entropy, on top of the ledger-agnostic [`crate::net`].
//!
//! - **Gossip in.** A message is decoded (size, canonical encoding) and
//!   must belong to the topic's partnership; then it is inserted through the
//!   [`NodeCore`] (the ledger's front door: structure, signature,
//!   participation policy), which persists what it accepts *before*
//!   the verdict is reported. Accept forwards it; Reject (garbage, bad
//!   signatures, another partnership's op, an author who is not a
//!   participant) lowers the sender's gossip score; Ignore (duplicates, an op
//!   held for the clock) neither forwards nor penalises. An op whose parents
//!   are missing waits in the ledger's pending buffer; its parents are
//!   fetched from the sender by id, and its verdict is reported Accept once
//!   it gets in (or Ignore when it expires). Nothing is forwarded blindly.
//!   Gossip is taken only from peers that act for an active participant
//!   (bound, or proven by a sync `Hello`), as sync is served only to them;
//!   from any other peer a bad op is still refused and penalised, and a good
//!   one is ignored (sync brings it from a participant's node).
//!   Messages that have already arrived when the node turns to gossip are
//!   taken together (up to [`GOSSIP_BATCH`]): their signatures are checked
//!   at once and what they let in is persisted with one store commit, so a
//!   burst of acks costs one commit, not one per ack.
//! - **Gossip out.** Every op the node's member authors is published; ops
//!   accepted from gossip are forwarded by gossipsub itself.
//! - **Sync serving.** Requests are answered from the store, and only to
//!   peers bound (`Payload::BindPeer`, executed in the ledger) to an active
//!   participant of the partnership asked about. Pages are bounded.
//! - **Anti-entropy.** When a peer subscribes to a partnership's topic and
//!   every few seconds, the node asks the topic's peers for their per-author
//!   seq vectors and fetches what it lacks by author and seq range, one page
//!   per author in turn, inserting them as synced history. A partition heals
//!   and a late joiner catches up without any gossip replay. The session
//!   checks each page's signatures (on all cores, off the node loop) while
//!   it fetches the next page and the loop inserts the page before; the
//!   loop finds the verdicts made.
//! - **Membership of topics.** The node subscribes to the topics of the
//!   partnerships it holds (also ahead of its member's admission, to catch
//!   up), leaves them when its member is removed, and binds its peer id with
//!   a signed `BindPeer` op once its member is active and a peer's heads have
//!   been heard (a member key moved to a fresh node must not sign a seq its
//!   old node already used). Peers prove their member with a signed sync
//!   `Hello` before a binding exists; partnerships are announced to
//!   connected peers and joined by the nodes of their participants.
//!
//! It does not decide what is valid (the ledger does) or how bytes move
//! (the `net` module does).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::core::{NodeCore, Origin};
use super::error::NodeError;
use super::service::{NodeConfig, RunningNode, now_ms, open_core, start_with_network};
use crate::ledger::Refusal;
use crate::net::{
    MessageId, NetConfig, NetEvent, NetHandle, Network, PeerId, SyncRequest, SyncResponder, SyncResponse,
    Verdict, sync,
};
use crate::op::{Limits, MemberId, MemberKey, OpId, PartnershipId, Payload, SignedOp, decode_signed_op};

/// Most gossip messages taken into one batch (one store commit).
pub const GOSSIP_BATCH: usize = 64;

/// One gossip message as it came off the network.
struct GossipMessage {
    partnership: PartnershipId,
    data: Vec<u8>,
    msg_id: MessageId,
    source: PeerId,
}

/// A decoded gossip op waiting for the batch insert, with whom to answer.
struct GossipOp {
    op: SignedOp,
    msg_id: MessageId,
    source: PeerId,
}

/// Settings of the network half.
#[derive(Clone, Copy, Debug)]
pub struct NetworkConfig {
    /// How often anti-entropy runs for each partnership.
    pub anti_entropy_interval: Duration,
    /// Peers asked at each periodic anti-entropy round of a partnership, in
    /// turn through its peers (a peer that subscribes is asked at once, on
    /// its own). A few rather than all: gossip delivers nearly everything,
    /// and asking every peer every round costs each node work that grows
    /// with the square of the partnership's size.
    pub anti_entropy_peers: usize,
    /// Ops asked per author per page during anti-entropy.
    pub page_ops: u32,
    /// How long a gossip message whose op waits for parents keeps its
    /// verdict open before it is reported Ignore.
    pub pending_verdict_ttl: Duration,
    /// Most fetches of missing parents by id in flight at once.
    pub max_id_fetches: usize,
    /// Capacity of the channel from fetch tasks to the node loop.
    pub fetch_capacity: usize,
    /// Sync requests served per peer per second (a token bucket with the
    /// same burst); past it a peer is answered [`SyncResponse::Busy`].
    pub sync_requests_per_sec: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            anti_entropy_interval: Duration::from_secs(3),
            anti_entropy_peers: 2,
            page_ops: 1024,
            pending_verdict_ttl: Duration::from_secs(4),
            max_id_fetches: 8,
            fetch_capacity: 16,
            sync_requests_per_sec: 200,
        }
    }
}

/// Counters of what the network half did (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Gossip messages accepted (and forwarded).
    pub gossip_accepted: u64,
    /// Gossip messages rejected (sender penalised).
    pub gossip_rejected: u64,
    /// Gossip messages ignored.
    pub gossip_ignored: u64,
    /// Ops inserted from sync.
    pub synced_ops: u64,
    /// Sync requests answered with data.
    pub sync_served: u64,
    /// Sync requests denied.
    pub sync_denied: u64,
    /// Sync requests refused by the per-peer rate limit.
    pub sync_busy: u64,
}

/// What the network half waits on, for the node loop to hand back to
/// [`NetworkHalf::handle`].
#[derive(Debug)]
pub enum NetInput {
    /// Something from the network.
    Event(NetEvent),
    /// Ops fetched by sync, or a fetch that ended.
    Fetched(Fetched),
    /// Time for anti-entropy and expiries.
    Tick,
}

/// The result of a fetch task.
#[derive(Debug)]
pub enum Fetched {
    /// Ops fetched from `peer` (decoded, not yet verified).
    Ops {
        /// The partnership.
        partnership: PartnershipId,
        /// Who sent them.
        peer: PeerId,
        /// The ops.
        ops: Vec<SignedOp>,
    },
    /// An anti-entropy session ended.
    SessionDone {
        /// The partnership.
        partnership: PartnershipId,
        /// Whether some peer answered with its heads (and what it had was fetched).
        heard: bool,
    },
    /// A fetch by id ended.
    IdFetchDone,
    /// A genesis fetched or announced, with the module code fetched for it.
    Genesis {
        /// The genesis op (its id is checked against what was asked).
        genesis: Box<SignedOp>,
        /// Module code fetched from the peer (checked against the charter's hashes).
        code: Vec<Vec<u8>>,
        /// Who waits for the join, if anyone.
        reply: Option<JoinReply>,
    },
    /// A join by id found no peer that could provide the genesis.
    JoinFailed(PartnershipId, JoinReply),
}

struct OpenVerdict {
    msg_id: MessageId,
    source: PeerId,
    since: Instant,
}

/// The network half of a node: owned by the node task next to the
/// [`NodeCore`], fed by [`NetworkHalf::next`].
pub struct NetworkHalf {
    net: NetHandle,
    events: mpsc::Receiver<NetEvent>,
    /// Events taken off `events` while batching gossip, handed out first.
    backlog: VecDeque<NetEvent>,
    events_closed: bool,
    fetch_tx: mpsc::Sender<Fetched>,
    fetch_rx: mpsc::Receiver<Fetched>,
    ticker: tokio::time::Interval,
    config: NetworkConfig,
    limits: Limits,
    subscribed: BTreeSet<PartnershipId>,
    bind_authored: BTreeSet<PartnershipId>,
    sessions: BTreeSet<PartnershipId>,
    /// Partnerships for which a session heard some peer's heads: the node
    /// has seen its member's own history as the network knows it.
    caught_up: BTreeSet<PartnershipId>,
    /// Partnerships that want another session as soon as the running one ends.
    session_wanted: BTreeSet<PartnershipId>,
    /// Where each partnership's next anti-entropy round starts in its peers.
    anti_entropy_turns: BTreeMap<PartnershipId, usize>,
    open_verdicts: BTreeMap<OpId, OpenVerdict>,
    id_fetches: usize,
    stats: NetworkStats,
    /// The member key, to sign this node's sync hellos.
    key: MemberKey,
    /// Hellos this node sends, by partnership.
    hellos: BTreeMap<PartnershipId, SyncRequest>,
    /// Peers that proved (by hello) to act for a member, by partnership.
    authorised: Authorised,
    /// Per-peer sync rate limit: milli-tokens and when they were last refilled.
    buckets: BTreeMap<PeerId, (u64, Instant)>,
}

type JoinReply = oneshot::Sender<Result<PartnershipId, NodeError>>;

impl NetworkHalf {
    /// Wraps a started network ([`crate::net::Network::spawn`]).
    pub fn new(
        net: NetHandle,
        events: mpsc::Receiver<NetEvent>,
        config: NetworkConfig,
        limits: Limits,
        key: MemberKey,
    ) -> NetworkHalf {
        let (fetch_tx, fetch_rx) = mpsc::channel(config.fetch_capacity.max(1));
        let mut ticker = tokio::time::interval(config.anti_entropy_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        NetworkHalf {
            net,
            events,
            backlog: VecDeque::new(),
            events_closed: false,
            fetch_tx,
            fetch_rx,
            ticker,
            config,
            limits,
            subscribed: BTreeSet::new(),
            bind_authored: BTreeSet::new(),
            sessions: BTreeSet::new(),
            caught_up: BTreeSet::new(),
            session_wanted: BTreeSet::new(),
            anti_entropy_turns: BTreeMap::new(),
            open_verdicts: BTreeMap::new(),
            id_fetches: 0,
            stats: NetworkStats::default(),
            key,
            hellos: BTreeMap::new(),
            authorised: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The network handle.
    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// What the network half has done so far.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// Waits for the next network input. Cancel-safe (use it in `select!`).
    pub async fn next(&mut self) -> NetInput {
        if let Some(event) = self.backlog.pop_front() {
            return NetInput::Event(event);
        }
        tokio::select! {
            event = self.events.recv(), if !self.events_closed => match event {
                Some(event) => NetInput::Event(event),
                None => {
                    tracing::warn!("the network stopped; the node goes on without it");
                    self.events_closed = true;
                    NetInput::Tick
                }
            },
            Some(fetched) = self.fetch_rx.recv() => NetInput::Fetched(fetched),
            _ = self.ticker.tick() => NetInput::Tick,
        }
    }

    /// Handles one input. `Err` only for a store failure (fatal for the node).
    pub async fn handle(&mut self, core: &mut NodeCore, input: NetInput) -> Result<(), NodeError> {
        match input {
            NetInput::Event(NetEvent::Gossip { partnership, data, msg_id, source }) => {
                let batch = self.gossip_batch(GossipMessage { partnership, data, msg_id, source });
                self.gossip(core, batch).await
            }
            NetInput::Event(NetEvent::SyncRequest { peer, request, responder }) => {
                self.serve(core, peer, request, responder).await;
                Ok(())
            }
            NetInput::Event(NetEvent::PeerSubscribed { peer, partnership }) => {
                if core.ledger(&partnership).is_some() {
                    self.start_session(core, partnership, Some(vec![peer]));
                }
                Ok(())
            }
            NetInput::Event(NetEvent::PeerConnected(peer)) => {
                self.announce_all(core, &[peer]);
                Ok(())
            }
            NetInput::Event(NetEvent::PeerDisconnected(peer)) => {
                self.authorised.retain(|(_, p), _| *p != peer);
                self.buckets.remove(&peer);
                Ok(())
            }
            NetInput::Fetched(Fetched::Genesis { genesis, code, reply }) => {
                self.join_fetched(core, *genesis, code, reply)
            }
            NetInput::Fetched(Fetched::JoinFailed(partnership, reply)) => {
                let _ = reply.send(Err(NodeError::UnknownPartnership(partnership)));
                Ok(())
            }
            NetInput::Fetched(Fetched::Ops { partnership, peer, ops }) => {
                self.insert_fetched(core, partnership, peer, ops).await
            }
            NetInput::Fetched(Fetched::SessionDone { partnership, heard }) => {
                self.sessions.remove(&partnership);
                if heard {
                    self.caught_up.insert(partnership);
                }
                if self.session_wanted.remove(&partnership) {
                    self.start_session(core, partnership, None);
                }
                Ok(())
            }
            NetInput::Fetched(Fetched::IdFetchDone) => {
                self.id_fetches = self.id_fetches.saturating_sub(1);
                Ok(())
            }
            NetInput::Tick => {
                self.expire_verdicts().await;
                for partnership in self.subscribed.clone() {
                    self.start_session(core, partnership, None);
                }
                Ok(())
            }
        }
    }

    /// After every node-loop turn: publishes what the member authored, and
    /// follows the node's partnerships (subscribe, bind, unsubscribe).
    pub async fn flush(&mut self, core: &mut NodeCore) -> Result<(), NodeError> {
        // Held acks committed this turn can be forwarded now.
        let released = core.take_released();
        self.close_verdicts(&released).await;
        let outbox = core.take_outbox();
        let sending: BTreeSet<PartnershipId> = outbox.iter().map(|(p, _)| *p).collect();
        self.follow_partnerships(core, &sending).await?;
        for (partnership, op) in outbox {
            if let Err(error) = self.net.publish(partnership, op.encode()).await {
                // The op is durable; anti-entropy delivers it.
                tracing::warn!(%partnership, op = %op.id(), %error, "could not publish an op");
            }
        }
        Ok(())
    }

    /// Subscribes to the partnerships this node takes part in and leaves
    /// those it no longer does. `sending`: partnerships with ops about to be
    /// published (a removed member's last ack among them), left next time.
    async fn follow_partnerships(
        &mut self,
        core: &mut NodeCore,
        sending: &BTreeSet<PartnershipId>,
    ) -> Result<(), NodeError> {
        let member = core.member();
        let me = self.net.local_peer_id().to_bytes();
        for partnership in core.partnership_ids() {
            let Some(ledger) = core.ledger(&partnership) else { continue };
            let record = ledger.optimistic_state().participant(&member);
            if record.as_ref().is_some_and(|r| !r.is_active()) {
                if ledger.awaits(&member) || sending.contains(&partnership) {
                    // Removed by others, with its removal ack still to send.
                    continue;
                }
                // Removed: this node no longer receives the partnership's ops.
                if self.subscribed.remove(&partnership) {
                    let _ = self.net.unsubscribe(partnership).await;
                }
                continue;
            }
            // Not admitted yet (joined ahead of its admission): follow, do not bind.
            let active = record.is_some();
            let bound = ledger.optimistic_state().bound_peer(&member) == Some(&me);
            if !self.subscribed.contains(&partnership) {
                match self.net.subscribe(partnership).await {
                    Ok(()) => {
                        self.subscribed.insert(partnership);
                        if active {
                            let peers = self.net.connected_peers().await.unwrap_or_default();
                            self.announce(core, partnership, &peers);
                        }
                    }
                    Err(error) => tracing::warn!(%partnership, %error, "cannot subscribe"),
                }
            }
            // Bind only after hearing a peer's heads: a member key moved to a
            // fresh node must not sign a seq its old node already used.
            let may_author = self.caught_up.contains(&partnership);
            if active
                && may_author
                && !bound
                && !self.bind_authored.contains(&partnership)
                && ledger.halted().is_none()
            {
                match core.author(&partnership, Payload::BindPeer { peer_id: me.clone() }, now_ms()) {
                    Ok(_) => {
                        self.bind_authored.insert(partnership);
                    }
                    Err(e @ NodeError::Store(_)) => return Err(e),
                    Err(error) => tracing::warn!(%partnership, %error, "cannot bind this node's peer id"),
                }
            }
        }
        Ok(())
    }

    async fn report(&mut self, msg_id: MessageId, source: PeerId, verdict: Verdict) {
        match verdict {
            Verdict::Accept => self.stats.gossip_accepted += 1,
            Verdict::Reject => self.stats.gossip_rejected += 1,
            Verdict::Ignore => self.stats.gossip_ignored += 1,
        }
        let _ = self.net.report(msg_id, source, verdict).await;
    }

    /// `first` and the gossip messages that have already arrived after it
    /// (up to [`GOSSIP_BATCH`]); the first other event ends the batch and is
    /// handed out next by [`next`](Self::next), so order is kept.
    fn gossip_batch(&mut self, first: GossipMessage) -> Vec<GossipMessage> {
        let mut batch = vec![first];
        while batch.len() < GOSSIP_BATCH {
            match self.events.try_recv() {
                Ok(NetEvent::Gossip { partnership, data, msg_id, source }) => {
                    batch.push(GossipMessage { partnership, data, msg_id, source });
                }
                Ok(other) => {
                    self.backlog.push_back(other);
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }

    /// Checks a batch of gossip messages, reports the verdict of each one
    /// refused here, and inserts the rest per partnership.
    async fn gossip(&mut self, core: &mut NodeCore, messages: Vec<GossipMessage>) -> Result<(), NodeError> {
        let mut by_partnership: BTreeMap<PartnershipId, Vec<GossipOp>> = BTreeMap::new();
        let mut in_batch: BTreeSet<OpId> = BTreeSet::new();
        for GossipMessage { partnership, data, msg_id, source } in messages {
            let Some(ledger) = core.ledger(&partnership) else {
                self.report(msg_id, source, Verdict::Ignore).await;
                continue;
            };
            // Size and encoding here; structure and signature are checked
            // once, by the ledger, before anything is stored (a refusal maps
            // to Reject).
            let op = match decode_signed_op(&data, &self.limits) {
                Ok(op) => op,
                Err(error) => {
                    tracing::debug!(peer = %source, %error, "rejecting a gossip message");
                    self.report(msg_id, source, Verdict::Reject).await;
                    continue;
                }
            };
            if op.partnership() != partnership {
                self.report(msg_id, source, Verdict::Reject).await;
                continue;
            }
            let id = op.id();
            tracing::trace!(
                node = %self.key.member_id(), peer = %source, op = %id, author = %op.author(), seq = op.seq(),
                "gossip op in"
            );
            if ledger.dag().contains(&id) || self.open_verdicts.contains_key(&id) || !in_batch.insert(id) {
                self.report(msg_id, source, Verdict::Ignore).await;
                continue;
            }
            // Gossip is taken only from peers that act for a participant (bound
            // or proven by hello). From anyone else a bad op is still refused
            // and penalised; a good one is left to sync.
            if !peer_may_sync(core, &self.authorised, &partnership, &source) {
                let verdict = match core.precheck(&partnership, &op) {
                    Err(NodeError::Refused(refusal)) => verdict_for(&refusal),
                    Ok(()) | Err(_) => Verdict::Ignore,
                };
                tracing::debug!(peer = %source, op = %id, ?verdict, "gossip from a peer that acts for no participant");
                self.report(msg_id, source, verdict).await;
                continue;
            }
            by_partnership.entry(partnership).or_default().push(GossipOp { op, msg_id, source });
        }
        for (partnership, batch) in by_partnership {
            self.insert_gossip(core, partnership, batch).await?;
        }
        Ok(())
    }

    /// Inserts one partnership's gossip ops with one store commit, reports
    /// each message's verdict, and fetches the parents still missing.
    async fn insert_gossip(
        &mut self,
        core: &mut NodeCore,
        partnership: PartnershipId,
        batch: Vec<GossipOp>,
    ) -> Result<(), NodeError> {
        let (ops, answer_to): (Vec<SignedOp>, Vec<(OpId, MessageId, PeerId)>) = batch
            .into_iter()
            .map(|GossipOp { op, msg_id, source }| {
                let id = op.id();
                (op, (id, msg_id, source))
            })
            .unzip();
        let results = match core.insert_batch(&partnership, ops, Origin::Fresh, now_ms()) {
            Ok(results) => results,
            Err(e @ NodeError::Store(_)) => return Err(e),
            Err(error) => {
                tracing::debug!(%error, "gossip ops not inserted");
                for (_, msg_id, source) in answer_to {
                    self.report(msg_id, source, Verdict::Ignore).await;
                }
                return Ok(());
            }
        };
        let mut missing: BTreeMap<PeerId, Vec<OpId>> = BTreeMap::new();
        for ((id, msg_id, source), result) in answer_to.into_iter().zip(results) {
            match result {
                Ok(insertion) => {
                    // Accepted and durable: forward it. Waiting for parents,
                    // or accepted but held for a group commit: later.
                    let durable = |op: &OpId| !core.is_held(&partnership, op);
                    if insertion.accepted.iter().any(|(a, _)| *a == id) && durable(&id) {
                        self.report(msg_id, source, Verdict::Accept).await;
                    } else {
                        self.open_verdicts.insert(id, OpenVerdict { msg_id, source, since: Instant::now() });
                    }
                    let released: Vec<OpId> = insertion
                        .accepted
                        .iter()
                        .map(|(a, _)| *a)
                        .filter(|a| *a != id && durable(a))
                        .collect();
                    self.close_verdicts(&released).await;
                    if !insertion.waiting_for.is_empty() {
                        tracing::debug!(
                            node = %self.key.member_id(), peer = %source, op = %id,
                            missing = ?insertion.waiting_for, "gossip op waits for parents"
                        );
                    }
                    missing.entry(source).or_default().extend(insertion.waiting_for);
                }
                Err(refusal) => {
                    let verdict = verdict_for(&refusal);
                    tracing::debug!(peer = %source, %refusal, ?verdict, "gossip op refused");
                    self.report(msg_id, source, verdict).await;
                }
            }
        }
        // Parents a later op of the batch brought in are not missing.
        for (source, mut ids) in missing {
            ids.sort();
            ids.dedup();
            if let Some(ledger) = core.ledger(&partnership) {
                ids.retain(|id| !ledger.dag().contains(id));
            }
            if !ids.is_empty() {
                self.fetch_missing(core, partnership, source, ids);
            }
        }
        Ok(())
    }

    /// Reports Accept for ops that were waiting and are now durable.
    async fn close_verdicts(&mut self, accepted: &[OpId]) {
        for id in accepted {
            if let Some(open) = self.open_verdicts.remove(id) {
                self.report(open.msg_id, open.source, Verdict::Accept).await;
            }
        }
    }

    async fn expire_verdicts(&mut self) {
        let ttl = self.config.pending_verdict_ttl;
        let expired: Vec<OpId> =
            self.open_verdicts.iter().filter(|(_, v)| v.since.elapsed() >= ttl).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(open) = self.open_verdicts.remove(&id) {
                self.report(open.msg_id, open.source, Verdict::Ignore).await;
            }
        }
    }

    /// Asks `peer` for missing parents by id, or falls back to anti-entropy
    /// when too many fetches are in flight.
    fn fetch_missing(&mut self, core: &NodeCore, partnership: PartnershipId, peer: PeerId, ids: Vec<OpId>) {
        if self.id_fetches >= self.config.max_id_fetches {
            self.start_session(core, partnership, None);
            return;
        }
        self.id_fetches += 1;
        let hello = self.hello_for(partnership);
        let net = self.net.clone();
        let tx = self.fetch_tx.clone();
        let limits = self.limits;
        let mut ids = ids;
        ids.truncate(sync::MAX_IDS_PER_REQUEST);
        tokio::spawn(async move {
            let wanted: BTreeSet<OpId> = ids.iter().copied().collect();
            let _ = net.request(peer, hello).await;
            let response = net.request(peer, SyncRequest::OpsById { partnership, ids }).await;
            tracing::debug!(%peer, wanted = wanted.len(), ok = response.is_ok(), "fetched ops by id");
            if let Ok(SyncResponse::Ops { ops, .. }) = response {
                let ops: Vec<SignedOp> = ops
                    .iter()
                    .filter_map(|bytes| decode_signed_op(bytes, &limits).ok())
                    .filter(|op| wanted.contains(&op.id()))
                    .collect();
                if !ops.is_empty() {
                    let _ = tx.send(Fetched::Ops { partnership, peer, ops }).await;
                }
            }
            let _ = tx.send(Fetched::IdFetchDone).await;
        });
    }

    async fn insert_fetched(
        &mut self,
        core: &mut NodeCore,
        partnership: PartnershipId,
        peer: PeerId,
        ops: Vec<SignedOp>,
    ) -> Result<(), NodeError> {
        let ops: Vec<SignedOp> = ops.into_iter().filter(|op| op.partnership() == partnership).collect();
        let ids: Vec<OpId> = ops.iter().map(SignedOp::id).collect();
        // One store transaction for the whole page.
        let results = core.insert_batch(&partnership, ops, Origin::Synced, now_ms())?;
        let mut accepted = Vec::new();
        let mut waiting = BTreeSet::new();
        for (id, result) in ids.into_iter().zip(results) {
            match result {
                Ok(insertion) => {
                    self.stats.synced_ops += insertion.accepted.len() as u64;
                    waiting.remove(&id);
                    for (got, _) in &insertion.accepted {
                        waiting.remove(got);
                    }
                    waiting.extend(insertion.waiting_for);
                    accepted.extend(insertion.accepted);
                }
                Err(Refusal::Duplicate(_)) => {}
                Err(refusal) => tracing::debug!(%peer, %refusal, "synced op refused"),
            }
        }
        let accepted: Vec<OpId> = accepted.into_iter().map(|(id, _)| id).collect();
        self.close_verdicts(&accepted).await;
        if let Some(ledger) = core.ledger(&partnership) {
            waiting.retain(|id| !ledger.dag().contains(id));
        }
        if !waiting.is_empty() {
            self.fetch_missing(core, partnership, peer, waiting.into_iter().collect());
        }
        Ok(())
    }

    /// Starts an anti-entropy session for `partnership` with `peers` (or the
    /// next of the topic's peers in turn, [`NetworkConfig::anti_entropy_peers`]),
    /// unless one is running (then one follows it).
    fn start_session(&mut self, core: &NodeCore, partnership: PartnershipId, peers: Option<Vec<PeerId>>) {
        if !self.subscribed.contains(&partnership) {
            return;
        }
        if self.sessions.contains(&partnership) {
            self.session_wanted.insert(partnership);
            return;
        }
        let ours = match core.store().author_seqs(&partnership) {
            Ok(seqs) => seqs,
            Err(error) => {
                tracing::warn!(%partnership, %error, "cannot read author seqs for anti-entropy");
                return;
            }
        };
        self.sessions.insert(partnership);
        tracing::debug!(node = %self.key.member_id(), %partnership, ?peers, "anti-entropy session");
        let peers = peers.map(Asked::These).unwrap_or_else(|| {
            let count = self.config.anti_entropy_peers.max(1);
            let turn = self.anti_entropy_turns.entry(partnership).or_insert(0);
            let from = *turn;
            *turn = turn.wrapping_add(count);
            Asked::InTurn { from, count }
        });
        let session = Session {
            hello: self.hello_for(partnership),
            net: self.net.clone(),
            partnership,
            ours,
            page: self.config.page_ops.clamp(1, sync::MAX_PAGE_OPS),
            tx: self.fetch_tx.clone(),
            limits: self.limits,
            heard: false,
        };
        tokio::spawn(session.run(peers));
    }

    /// Takes one request's token from `peer`'s bucket (refilled at
    /// `sync_requests_per_sec`, holding at most one second's worth).
    fn take_token(&mut self, peer: PeerId) -> bool {
        let rate = u64::from(self.config.sync_requests_per_sec.max(1));
        let full = rate * 1000;
        let now = Instant::now();
        let (tokens, last) = self.buckets.entry(peer).or_insert((full, now));
        let elapsed_ms = u64::try_from(now.duration_since(*last).as_millis()).unwrap_or(u64::MAX);
        *tokens = tokens.saturating_add(elapsed_ms.saturating_mul(rate)).min(full);
        *last = now;
        if *tokens >= 1000 {
            *tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// This node's hello for `partnership` (signed once, then reused).
    fn hello_for(&mut self, partnership: PartnershipId) -> SyncRequest {
        let me = self.net.local_peer_id();
        let key = &self.key;
        self.hellos.entry(partnership).or_insert_with(|| sync::hello(key, partnership, &me)).clone()
    }

    /// Announces every partnership the member takes part in to `peers`.
    fn announce_all(&mut self, core: &NodeCore, peers: &[PeerId]) {
        for partnership in self.subscribed.clone() {
            self.announce(core, partnership, peers);
        }
    }

    /// Sends the genesis of `partnership` to `peers`, so that nodes of its
    /// participants join it (fire and forget).
    fn announce(&mut self, core: &NodeCore, partnership: PartnershipId, peers: &[PeerId]) {
        let Some(ledger) = core.ledger(&partnership) else { return };
        let genesis = ledger.genesis().encode();
        for peer in peers.iter().copied() {
            let net = self.net.clone();
            let request = SyncRequest::Announce { genesis: genesis.clone() };
            tokio::spawn(async move {
                let _ = net.request(peer, request).await;
            });
        }
    }

    /// A peer announced a partnership: join it if this node's member is one
    /// of its participants (fetching missing module code from that peer).
    fn announced(&mut self, core: &mut NodeCore, peer: PeerId, bytes: &[u8]) {
        let Ok(genesis) = decode_signed_op(bytes, &self.limits) else { return };
        if genesis.verify(&self.limits).is_err() || core.ledger(&genesis.partnership()).is_some() {
            return;
        }
        let Payload::Genesis(charter) = &genesis.op().payload else { return };
        if !charter.participants.contains(&core.member()) {
            return;
        }
        let missing = core.missing_code(charter);
        if missing.is_empty() {
            if let Err(error) = self.join_fetched(core, genesis, Vec::new(), None) {
                tracing::error!(%error, "joining an announced partnership failed");
            }
            return;
        }
        let hello = self.hello_for(genesis.partnership());
        let (net, tx) = (self.net.clone(), self.fetch_tx.clone());
        tokio::spawn(async move {
            let _ = net.request(peer, hello).await;
            let code = fetch_code(&net, peer, &missing).await;
            let _ = tx.send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: None }).await;
        });
    }

    /// Joins a partnership by id: asks connected peers (with this member's
    /// hello) for its genesis and any module code this node lacks, then joins;
    /// anti-entropy brings the rest. `reply` gets the outcome.
    pub fn join_by_id(&mut self, core: &NodeCore, partnership: PartnershipId, reply: JoinReply) {
        if core.ledger(&partnership).is_some() {
            let _ = reply.send(Ok(partnership));
            return;
        }
        let have: BTreeSet<crate::op::CodeHash> =
            core.store().code_hashes().unwrap_or_default().into_iter().collect();
        let hello = self.hello_for(partnership);
        let (net, tx, limits) = (self.net.clone(), self.fetch_tx.clone(), self.limits);
        tokio::spawn(async move {
            for peer in net.connected_peers().await.unwrap_or_default() {
                if !matches!(net.request(peer, hello.clone()).await, Ok(SyncResponse::Welcome)) {
                    continue;
                }
                let request = SyncRequest::OpsById { partnership, ids: vec![OpId(partnership.0)] };
                let Ok(SyncResponse::Ops { ops, .. }) = net.request(peer, request).await else { continue };
                let Some(genesis) =
                    ops.iter().filter_map(|bytes| decode_signed_op(bytes, &limits).ok()).find(|op| {
                        op.partnership() == partnership && matches!(op.op().payload, Payload::Genesis(_))
                    })
                else {
                    continue;
                };
                let Payload::Genesis(charter) = &genesis.op().payload else { continue };
                let missing: Vec<crate::op::CodeHash> =
                    charter.modules.iter().map(|m| m.code).filter(|c| !have.contains(c)).collect();
                let code = fetch_code(&net, peer, &missing).await;
                let _ =
                    tx.send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: Some(reply) }).await;
                return;
            }
            let _ = tx.send(Fetched::JoinFailed(partnership, reply)).await;
        });
    }

    /// Adds fetched code the charter names, then joins.
    fn join_fetched(
        &mut self,
        core: &mut NodeCore,
        genesis: SignedOp,
        code: Vec<Vec<u8>>,
        reply: Option<JoinReply>,
    ) -> Result<(), NodeError> {
        if let Payload::Genesis(charter) = &genesis.op().payload {
            let named: BTreeSet<crate::op::CodeHash> = charter.modules.iter().map(|m| m.code).collect();
            for wasm in code {
                if named.contains(&crate::op::CodeHash::of(&wasm)) {
                    match core.add_code(&wasm) {
                        Err(e @ NodeError::Store(_)) => return Err(e),
                        Err(error) => tracing::warn!(%error, "fetched module code rejected"),
                        Ok(_) => {}
                    }
                }
            }
        }
        let result = core.join(genesis);
        if let Err(NodeError::Store(_)) = &result {
            let failed = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            if let Some(reply) = reply {
                let _ = reply.send(Err(NodeError::StoreFailed(failed)));
            }
            return result.map(|_| ());
        }
        match reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(error) = result {
                    tracing::info!(%error, "not joining an announced partnership");
                }
            }
        }
        Ok(())
    }

    /// Answers a sync request from the store, to bound peers only.
    async fn serve(
        &mut self,
        core: &mut NodeCore,
        peer: PeerId,
        request: SyncRequest,
        responder: SyncResponder,
    ) {
        if !self.take_token(peer) {
            self.stats.sync_busy += 1;
            let _ = self.net.respond(responder, SyncResponse::Busy).await;
            return;
        }
        let response = match request {
            SyncRequest::Hello { partnership, member, signature } => {
                let active = core.ledger(&partnership).is_some_and(|l| l.awaits(&member));
                if active && sync::verify_hello(&partnership, &member, &signature, &peer) {
                    self.authorised.insert((partnership, peer), member);
                    SyncResponse::Welcome
                } else {
                    SyncResponse::Denied
                }
            }
            SyncRequest::Announce { genesis } => {
                self.announced(core, peer, &genesis);
                SyncResponse::Noted
            }
            request => answer(core, &self.authorised, &peer, &request),
        };
        match &response {
            SyncResponse::Denied => self.stats.sync_denied += 1,
            _ => self.stats.sync_served += 1,
        }
        let _ = self.net.respond(responder, response).await;
    }
}

/// Opens the node in `config.data_dir`, starts its network with `net`, and
/// runs both in one task. Returns the running node and the network handle
/// (for the operator's block list, peers, addresses).
///
/// Must be called inside a tokio runtime.
pub fn start_networked(
    config: NodeConfig,
    key: MemberKey,
    net: NetConfig,
    network: NetworkConfig,
) -> Result<(RunningNode, NetHandle), NodeError> {
    let key_copy = MemberKey::from_secret(key.secret());
    let core = open_core(&config, key)?;
    let (handle, events) =
        Network::spawn(net).map_err(|e| NodeError::Network(format!("cannot start the network: {e}")))?;
    let half = NetworkHalf::new(handle.clone(), events, network, config.core.ledger.limits, key_copy);
    Ok((start_with_network(core, &config, half), handle))
}

/// The verdict on a gossip op the ledger refused.
fn verdict_for(refusal: &Refusal) -> Verdict {
    match refusal {
        // Honest peers send these too: a race, a clock, a full buffer.
        Refusal::Duplicate(_)
        | Refusal::TooFarAhead { .. }
        | Refusal::PendingFull { .. }
        | Refusal::Closed => Verdict::Ignore,
        // An honest peer accepted an op before forwarding it, under rules
        // that depend only on the op and its past: the rest is the sender's fault.
        _ => Verdict::Reject,
    }
}

/// Whether `peer` acts for a participant finality waits for in `partnership`
/// (see [`Ledger::awaits`](crate::ledger::Ledger::awaits)): bound
/// by a `BindPeer` op, or proven by a hello on this connection.
fn peer_may_sync(
    core: &NodeCore,
    authorised: &Authorised,
    partnership: &PartnershipId,
    peer: &PeerId,
) -> bool {
    let Some(ledger) = core.ledger(partnership) else { return false };
    let state = ledger.optimistic_state();
    if let Some(member) = authorised.get(&(*partnership, *peer))
        && ledger.awaits(member)
    {
        return true;
    }
    let bytes = peer.to_bytes();
    state
        .participants()
        .iter()
        .any(|(member, _)| state.bound_peer(member) == Some(&bytes) && ledger.awaits(member))
}

type Authorised = BTreeMap<(PartnershipId, PeerId), MemberId>;

fn answer(core: &NodeCore, authorised: &Authorised, peer: &PeerId, request: &SyncRequest) -> SyncResponse {
    if let Err(refusal) = request.check_bounds() {
        return refusal;
    }
    match request.partnership() {
        Some(partnership) => {
            // A partnership this node does not hold is Denied too, so a
            // stranger cannot probe which partnerships a node holds.
            if !peer_may_sync(core, authorised, &partnership, peer) {
                return SyncResponse::Denied;
            }
        }
        None => {
            // Code: to peers bound in any partnership this node holds.
            if !core.partnership_ids().iter().any(|p| peer_may_sync(core, authorised, p, peer)) {
                return SyncResponse::Denied;
            }
        }
    }
    let store = core.store();
    let result = match request {
        SyncRequest::Heads { partnership } => store
            .author_seqs(partnership)
            .map(|seqs| SyncResponse::Heads { seqs: seqs.into_iter().collect() }),
        SyncRequest::OpsByAuthor { partnership, author, from_seq, limit } => {
            store.ops_by_author(partnership, author, *from_seq, *limit as usize).map(|ops| {
                let full = ops.len() >= *limit as usize;
                match sync::page_of(ops.iter().map(SignedOp::encode), sync::MAX_PAGE_OPS as usize) {
                    SyncResponse::Ops { ops, more } => SyncResponse::Ops { ops, more: more || full },
                    other => other,
                }
            })
        }
        SyncRequest::OpsById { partnership, ids } => {
            let mut found = Vec::new();
            for id in ids {
                match store.get_op(partnership, id) {
                    Ok(Some((_, op))) => found.push(op.encode()),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "store read failed while serving sync");
                        return SyncResponse::Unknown;
                    }
                }
            }
            Ok(sync::page_of(found, sync::MAX_IDS_PER_REQUEST))
        }
        SyncRequest::Code { hash } => store
            .get_code(hash)
            .map(|code| code.map_or(SyncResponse::Unknown, |wasm| SyncResponse::Code { wasm })),
        // Hello and Announce are answered by the caller; anything newer is unknown here.
        _ => Ok(SyncResponse::Unknown),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "store read failed while serving sync");
        SyncResponse::Unknown
    })
}

/// Fetches module code by hash from `peer`, keeping what matches its hash.
async fn fetch_code(net: &NetHandle, peer: PeerId, hashes: &[crate::op::CodeHash]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for hash in hashes {
        if let Ok(SyncResponse::Code { wasm }) = net.request(peer, SyncRequest::Code { hash: *hash }).await
            && crate::op::CodeHash::of(&wasm) == *hash
        {
            out.push(wasm);
        }
    }
    out
}

/// Whom a sync session asks.
enum Asked {
    /// These peers.
    These(Vec<PeerId>),
    /// `count` of the topic's peers, in the order of their ids, from the
    /// `from`-th on (wrapping around).
    InTurn { from: usize, count: usize },
}

/// `count` of `peers` (sorted) from the `from`-th on, wrapping around, each
/// at most once: successive rounds that advance `from` by `count` ask every
/// peer in turn, whatever the number of peers.
fn peers_in_turn(peers: &[PeerId], from: usize, count: usize) -> Vec<PeerId> {
    if peers.is_empty() {
        return Vec::new();
    }
    let start = from % peers.len();
    (0..count.min(peers.len())).map(|i| peers[(start + i) % peers.len()]).collect()
}

/// One anti-entropy session: heads from each peer, then the missing ranges
/// page by page, one author after the other in turn.
struct Session {
    net: NetHandle,
    hello: SyncRequest,
    partnership: PartnershipId,
    ours: BTreeMap<MemberId, u64>,
    page: u32,
    tx: mpsc::Sender<Fetched>,
    limits: Limits,
    heard: bool,
}

impl Session {
    async fn run(mut self, peers: Asked) {
        let partnership = self.partnership;
        let peers = match peers {
            Asked::These(peers) => peers,
            Asked::InTurn { from, count } => {
                let mut topic = self.net.topic_peers(partnership).await.unwrap_or_default();
                topic.sort();
                peers_in_turn(&topic, from, count)
            }
        };
        for peer in peers {
            if !self.with_peer(peer).await {
                break;
            }
        }
        let heard = self.heard;
        let _ = self.tx.send(Fetched::SessionDone { partnership, heard }).await;
    }

    /// Returns false when the node loop is gone.
    async fn with_peer(&mut self, peer: PeerId) -> bool {
        let partnership = self.partnership;
        // Proves this node's member; a peer that already knows our binding
        // answers Welcome too. A Denied here shows in the Heads answer.
        let _ = self.net.request(peer, self.hello.clone()).await;
        let seqs = match self.net.request(peer, SyncRequest::Heads { partnership }).await {
            Ok(SyncResponse::Heads { seqs }) => seqs,
            _ => return true,
        };
        self.heard = true;
        // (author, next seq wanted, last seq the peer has)
        let mut wanted: Vec<(MemberId, u64, u64)> = seqs
            .into_iter()
            .filter_map(|(author, theirs)| {
                let have = self.ours.get(&author).copied().unwrap_or(0);
                (theirs > have).then_some((author, have + 1, theirs))
            })
            .collect();
        let mut checking: Option<JoinHandle<Vec<SignedOp>>> = None;
        while !wanted.is_empty() {
            let mut i = 0;
            while i < wanted.len() {
                let (author, next, last) = wanted[i];
                let limit = u32::try_from((last - next + 1).min(u64::from(self.page))).unwrap_or(self.page);
                let request = SyncRequest::OpsByAuthor { partnership, author, from_seq: next, limit };
                let ops = match self.net.request(peer, request).await {
                    Ok(SyncResponse::Ops { ops, .. }) => ops,
                    _ => Vec::new(),
                };
                let end = next + u64::from(limit);
                let ops: Vec<SignedOp> = ops
                    .iter()
                    .filter_map(|bytes| decode_signed_op(bytes, &self.limits).ok())
                    .filter(|op| op.author() == author && op.seq() >= next && op.seq() < end)
                    .collect();
                let Some(highest) = ops.iter().map(SignedOp::seq).max() else {
                    wanted.swap_remove(i);
                    continue;
                };
                // This page's signatures are checked while the next page is
                // fetched; the page before goes to the node loop meanwhile.
                if let Some(previous) = checking.replace(check_signatures_ahead(ops))
                    && !self.deliver(peer, previous).await
                {
                    return false;
                }
                self.ours.insert(author, highest);
                if highest >= last {
                    wanted.swap_remove(i);
                } else {
                    wanted[i].1 = highest + 1;
                    i += 1;
                }
            }
        }
        match checking {
            Some(last) => self.deliver(peer, last).await,
            None => true,
        }
    }

    /// Hands a fetched page to the node loop once its signature check is
    /// done. Returns false when the node loop is gone.
    async fn deliver(&self, peer: PeerId, checking: JoinHandle<Vec<SignedOp>>) -> bool {
        // Only a panic in the check could lose the page; anti-entropy asks again.
        let ops = checking.await.unwrap_or_default();
        self.tx.send(Fetched::Ops { partnership: self.partnership, peer, ops }).await.is_ok()
    }
}

/// Starts the signature check of every op of a fetched page on the blocking
/// pool, across all cores, so the node loop (busy inserting the page before)
/// only looks the verdicts up ([`SignedOp::check_signature`] keeps them).
/// Refusing is still the ledger's call; this decides nothing.
fn check_signatures_ahead(ops: Vec<SignedOp>) -> JoinHandle<Vec<SignedOp>> {
    use rayon::prelude::*;
    tokio::task::spawn_blocking(move || {
        ops.par_iter().for_each(|op| {
            let _ = op.check_signature();
        });
        ops
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpError;

    #[test]
    fn verdicts_penalise_only_what_honest_peers_never_send() {
        let id = OpId([1; 32]);
        assert_eq!(verdict_for(&Refusal::Duplicate(id)), Verdict::Ignore);
        assert_eq!(verdict_for(&Refusal::PendingFull { ops: 1, bytes: 1 }), Verdict::Ignore);
        assert_eq!(
            verdict_for(&Refusal::TooFarAhead { time_ms: 2, now_ms: 1, tolerance_ms: 0 }),
            Verdict::Ignore
        );
        assert_eq!(verdict_for(&Refusal::UnknownAuthor(MemberId([2; 32]))), Verdict::Reject);
        assert_eq!(
            verdict_for(&Refusal::Invalid(OpError::BadSignature { op: id, author: MemberId([2; 32]) })),
            Verdict::Reject
        );
        assert_eq!(verdict_for(&Refusal::SeqGap { seq: 3, known: 1 }), Verdict::Reject);
    }

    #[test]
    fn anti_entropy_rounds_ask_every_peer_in_turn() {
        let peers: Vec<PeerId> = {
            let mut peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
            peers.sort();
            peers
        };
        // Five rounds of two over five peers: ten asks, every peer twice.
        let mut asked: BTreeMap<PeerId, usize> = BTreeMap::new();
        for round in 0..5 {
            let these = peers_in_turn(&peers, round * 2, 2);
            assert_eq!(these.len(), 2);
            assert_ne!(these[0], these[1]);
            for peer in these {
                *asked.entry(peer).or_default() += 1;
            }
        }
        assert_eq!(asked.len(), 5);
        assert!(asked.values().all(|&n| n == 2), "{asked:?}");
        // More asked than there are peers: each once.
        let both = peers_in_turn(&peers[..2], 7, 4);
        assert_eq!(both.len(), 2);
        assert_ne!(both[0], both[1]);
        assert!(peers_in_turn(&[], 3, 2).is_empty());
        // A turn counter that wraps still picks valid peers.
        assert_eq!(peers_in_turn(&peers, usize::MAX, 2).len(), 2);
    }
}
