//! The node loop's network half: what the node does with gossip, sync
//! requests and anti-entropy, on top of the ledger-agnostic [`crate::net`].
//! It does not decide what is valid (the ledger does) or how bytes move
//! (the `net` module does).
//!
//! [`NetworkHalf`] is owned by the node task next to the [`NodeCore`]: the
//! task awaits [`NetworkHalf::next`], hands what arrives to
//! [`NetworkHalf::handle`], and calls [`NetworkHalf::flush`] after every
//! turn. Each concern lives in its own file:
//!
//! - [`gossip`](self::gossip): gossip in, in batches, and the verdicts
//!   reported to gossipsub.
//! - [`fetch`](self::fetch): parents that a gossip op names and this node
//!   lacks, fetched by id; fetched pages inserted.
//! - [`serve`](self::serve): sync requests answered, to participants'
//!   peers only, within a per-peer rate.
//! - [`anti_entropy`](self::anti_entropy): rounds per peer that compare
//!   the heads of every shared partnership that changed in one request and
//!   fetch what is missing in pages across partnerships; nothing while idle.
//! - [`discovery`](self::discovery): partnerships announced to peers and
//!   joined by id.
//! - [`invitations`](self::invitations): announced partnerships from
//!   strangers, kept for the operator to accept or decline.
//! - [`topics`](self::topics): subscribing to the partnerships the member
//!   takes part in, leaving them, and binding the node's peer id.
//!
//! Gossip out is [`NetworkHalf::flush`]: every op the member authored is
//! published; ops accepted from gossip are forwarded by gossipsub itself.
//! Starting a node with its network is [`super::NodeBuilder`]'s job.

mod anti_entropy;
mod discovery;
mod fetch;
mod gossip;
mod invitations;
mod keyring;
pub use keyring::KeysHeld;
pub(crate) use keyring::wants_rekey;
mod serve;
mod topics;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use self::anti_entropy::AntiEntropy;
use self::gossip::{GossipMessage, OpenVerdict};
use self::serve::Authorised;
use super::core::NodeCore;
use super::error::NodeError;
use crate::net::{MessageId, NetEvent, NetHandle, PeerId, PeerStats, SyncRequest, Verdict, sync};
use crate::op::{Limits, MemberId, MemberKey, OpId, PartnershipId, Payload, SignedOp};

pub use self::anti_entropy::RoundDone;
pub use self::discovery::JOIN_BY_ID_PATIENCE;
pub use self::gossip::GOSSIP_BATCH;
pub use self::invitations::Invitation;

/// How the node syncs its partnerships over the transport: anti-entropy,
/// pages, fetches and sync rate limits. What the transport listens on and
/// dials is [`crate::net::TransportConfig`].
#[derive(Clone, Copy, Debug)]
pub struct SyncConfig {
    /// How often anti-entropy compares the partnerships whose ops changed
    /// (with nothing changed, it does nothing).
    pub anti_entropy_interval: Duration,
    /// Peers a changed partnership is compared with at each anti-entropy
    /// tick, in turn through its peers that do not yet agree (a peer that
    /// subscribes is compared with at once). A few rather than all: gossip
    /// delivers nearly everything, and asking every peer every round costs
    /// each node work that grows with the square of the partnership's size.
    pub anti_entropy_peers: usize,
    /// Ops asked per author and partnership in one page range.
    pub page_ops: u32,
    /// How long a gossip message whose op waits for parents keeps its
    /// verdict open before it is reported Ignore.
    pub pending_verdict_ttl: Duration,
    /// Most fetches of missing parents by id in flight at once.
    pub max_id_fetches: usize,
    /// Capacity of the channel from fetch tasks to the node loop.
    pub fetch_capacity: usize,
    /// Sync requests served per peer per second (a token bucket with the
    /// same burst); past it a peer is answered [`SyncResponse::Busy`](crate::net::SyncResponse::Busy).
    pub sync_requests_per_sec: u32,
    /// Most invitations kept (announced partnerships from strangers waiting
    /// for the operator); past it the oldest is dropped.
    pub max_invitations: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            anti_entropy_interval: Duration::from_secs(3),
            anti_entropy_peers: 2,
            page_ops: 1024,
            pending_verdict_ttl: Duration::from_secs(4),
            max_id_fetches: 8,
            fetch_capacity: 16,
            sync_requests_per_sec: 200,
            max_invitations: 64,
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
    /// Of the rejected, those from peers that act for no participant.
    pub gossip_rejected_from_strangers: u64,
    /// Of the ignored, those from peers that act for no participant (left to sync).
    pub gossip_ignored_from_strangers: u64,
    /// Announced partnerships joined without asking (a known partner's).
    pub announces_joined: u64,
    /// Announced partnerships kept as invitations (a stranger's).
    pub announces_invited: u64,
    /// Announcements ignored (not a genesis naming this node's member, a
    /// bad signature, or a declined invitation).
    pub announces_ignored: u64,
    /// Invitations waiting for the operator now.
    pub invitations: u64,
    /// What the transport turned away (strangers disconnected, connections
    /// refused); filled in by [`NetworkHalf::full_stats`].
    pub transport: PeerStats,
    /// Ops inserted from sync.
    pub synced_ops: u64,
    /// Sync requests answered with data.
    pub sync_served: u64,
    /// Sync requests denied.
    pub sync_denied: u64,
    /// Sync requests refused by the per-peer rate limit.
    pub sync_busy: u64,
    /// Gossip sealed under a key this node does not hold (yet): ignored,
    /// and the sender's history compared soon.
    pub gossip_unknown_key: u64,
    /// Own ops not gossiped because no partnership key could carry them
    /// (left to anti-entropy), as just after a removal.
    pub gossip_unsealed: u64,
    /// Rekey ops this node authored.
    pub rekeys_authored: u64,
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
    /// Time for an anti-entropy round asked for soon.
    RoundDue,
}

/// The result of a fetch task.
#[derive(Debug)]
pub enum Fetched {
    /// Ops fetched from `peer` (decoded, not yet verified), of one or
    /// several partnerships.
    Ops {
        /// Who sent them.
        peer: PeerId,
        /// The ops.
        ops: Vec<SignedOp>,
    },
    /// An anti-entropy round with `peer` ended (after its pages).
    RoundDone {
        /// The peer.
        peer: PeerId,
        /// What it found.
        done: RoundDone,
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
    /// Announcing partnerships to `peer` ended.
    Announced {
        /// The peer.
        peer: PeerId,
        /// Whether every batch was answered.
        reached: bool,
    },
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
    config: SyncConfig,
    limits: Limits,
    subscribed: BTreeSet<PartnershipId>,
    bind_authored: BTreeSet<PartnershipId>,
    /// Partnerships for which a round heard some peer's heads: the node
    /// has seen its member's own history as the network knows it.
    caught_up: BTreeSet<PartnershipId>,
    /// Partnerships to follow again (subscribe, bind, leave): those whose
    /// ops changed or that caught up. An idle partnership is not looked at.
    to_follow: BTreeSet<PartnershipId>,
    /// Per-peer anti-entropy: what agrees, what is due, rounds running.
    anti_entropy: AntiEntropy,
    /// Whether the peers known to the node may have changed since they were
    /// last told to the transport.
    known_dirty: bool,
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
    /// Announced partnerships from strangers, waiting for the operator.
    invitations: invitations::Invitations,
    /// Peers an announcing task runs for, with the geneses waiting for it.
    announcing: BTreeMap<PeerId, Vec<Vec<u8>>>,
    /// The peers last told to the transport as known.
    known_peers: BTreeSet<PeerId>,
    /// Members whose announced partnerships are joined without asking.
    join_from: BTreeSet<MemberId>,
    /// The partnership keys this node opened ([`keyring`]).
    keyring: keyring::KeyRing,
    /// Announcements of partnerships, sealed once each ([`discovery`]).
    sealed_geneses: BTreeMap<PartnershipId, Vec<u8>>,
    /// Announcements screened, by digest: not for this member (`None`) or
    /// the partnership they announce; oldest first in `screened_order`
    /// (`serve.rs`).
    screened_announcements: BTreeMap<[u8; 32], Option<PartnershipId>>,
    screened_order: VecDeque<[u8; 32]>,
}

type JoinReply = oneshot::Sender<Result<PartnershipId, NodeError>>;

impl NetworkHalf {
    /// Wraps a started network ([`crate::net::Network::spawn`]).
    pub fn new(
        net: NetHandle,
        events: mpsc::Receiver<NetEvent>,
        config: SyncConfig,
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
            caught_up: BTreeSet::new(),
            to_follow: BTreeSet::new(),
            anti_entropy: AntiEntropy::default(),
            known_dirty: true,
            open_verdicts: BTreeMap::new(),
            id_fetches: 0,
            stats: NetworkStats::default(),
            key,
            hellos: BTreeMap::new(),
            authorised: BTreeMap::new(),
            buckets: BTreeMap::new(),
            invitations: invitations::Invitations::new(config.max_invitations),
            announcing: BTreeMap::new(),
            known_peers: BTreeSet::new(),
            join_from: BTreeSet::new(),
            keyring: keyring::KeyRing::default(),
            sealed_geneses: BTreeMap::new(),
            screened_announcements: BTreeMap::new(),
            screened_order: VecDeque::new(),
        }
    }

    /// Members whose announced partnerships (naming this node's member as a
    /// founder) are joined without asking, besides the participants of
    /// partnerships the node holds.
    pub fn join_announced_from(&mut self, members: BTreeSet<MemberId>) {
        self.join_from = members;
    }

    /// The network handle.
    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    /// What the network half has done so far.
    pub fn stats(&self) -> NetworkStats {
        NetworkStats { invitations: self.invitations.len() as u64, ..self.stats }
    }

    /// [`stats`](Self::stats) with the transport's own counters.
    pub async fn full_stats(&self) -> NetworkStats {
        NetworkStats { transport: self.net.peer_stats().await.unwrap_or_default(), ..self.stats() }
    }

    /// Waits for the next network input. Cancel-safe (use it in `select!`).
    pub async fn next(&mut self) -> NetInput {
        if let Some(event) = self.backlog.pop_front() {
            return NetInput::Event(event);
        }
        let soon = self.anti_entropy.next_soon();
        let round_due = async move {
            match soon {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
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
            () = round_due => NetInput::RoundDue,
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
                self.sync_soon(core, peer, partnership);
                Ok(())
            }
            NetInput::Event(NetEvent::PeerConnected(peer)) => {
                self.announce_all(core, &[peer]);
                Ok(())
            }
            NetInput::Event(NetEvent::PeerDisconnected(peer)) => {
                self.authorised.retain(|(_, p), _| *p != peer);
                self.buckets.remove(&peer);
                self.anti_entropy.disconnected(&peer);
                self.known_dirty = true;
                Ok(())
            }
            NetInput::Fetched(Fetched::Genesis { genesis, code, reply }) => {
                self.join_fetched(core, *genesis, code, reply)
            }
            NetInput::Fetched(Fetched::JoinFailed(partnership, reply)) => {
                let _ = reply.send(Err(NodeError::UnknownPartnership(partnership)));
                Ok(())
            }
            NetInput::Fetched(Fetched::Ops { peer, ops }) => self.insert_fetched(core, peer, ops).await,
            NetInput::Fetched(Fetched::Announced { peer, reached }) => {
                self.announced_to(peer, reached);
                Ok(())
            }
            NetInput::Fetched(Fetched::RoundDone { peer, done }) => {
                self.round_done(core, peer, done);
                Ok(())
            }
            NetInput::Fetched(Fetched::IdFetchDone) => {
                self.id_fetches = self.id_fetches.saturating_sub(1);
                Ok(())
            }
            NetInput::Tick => {
                self.expire_verdicts().await;
                let waiting = self.waiting_for_keys();
                if !waiting.is_empty() {
                    self.tend_keys(core, waiting)?;
                }
                if std::mem::take(&mut self.known_dirty) {
                    self.tell_known_peers(core).await;
                }
                self.anti_entropy_tick(core).await;
                Ok(())
            }
            NetInput::RoundDue => {
                self.start_due_rounds(core);
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
        let touched = core.take_touched();
        let mut outbox = core.take_outbox();
        // Partnerships created here just now get their first key at once.
        let me = core.member();
        for (partnership, op) in &outbox {
            if matches!(op.op().payload, Payload::Genesis(_)) && op.author() == me {
                self.keyring.created_here(*partnership);
            }
        }
        if !touched.is_empty() {
            self.known_dirty = true;
            self.to_follow.extend(touched.iter().copied());
            self.tend_keys(core, touched.iter().copied())?;
            self.anti_entropy.changed(touched);
        }
        outbox.extend(core.take_outbox());
        let sending: BTreeSet<PartnershipId> = outbox.iter().map(|(p, _)| *p).collect();
        self.follow_partnerships(core, &sending).await?;
        for (partnership, op) in outbox {
            let Some(envelope) = self.seal_gossip(core, &partnership, &op) else {
                tracing::debug!(%partnership, op = %op.id(), "no partnership key may carry this op: left to anti-entropy");
                self.stats.gossip_unsealed += 1;
                continue;
            };
            if let Err(error) = self.net.publish(partnership, envelope).await {
                // The op is durable; anti-entropy delivers it.
                tracing::warn!(%partnership, op = %op.id(), %error, "could not publish an op");
            }
        }
        Ok(())
    }

    pub(super) async fn report(&mut self, msg_id: MessageId, source: PeerId, verdict: Verdict) {
        match verdict {
            Verdict::Accept => self.stats.gossip_accepted += 1,
            Verdict::Reject => self.stats.gossip_rejected += 1,
            Verdict::Ignore => self.stats.gossip_ignored += 1,
        }
        let _ = self.net.report(msg_id, source, verdict).await;
    }

    /// This node's hello for `partnership` (signed once, then reused).
    pub(super) fn hello_for(&mut self, partnership: PartnershipId) -> SyncRequest {
        let me = self.net.local_peer_id();
        let key = &self.key;
        self.hellos.entry(partnership).or_insert_with(|| sync::hello(key, partnership, &me)).clone()
    }
}
