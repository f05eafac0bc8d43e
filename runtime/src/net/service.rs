//! The network task: one tokio task owns the libp2p swarm and is driven
//! through a [`NetHandle`] (commands) and a channel of [`NetEvent`]s.
//!
//! It knows nothing of ledgers: it moves bytes. Gossip messages are handed
//! to the node, which checks them and reports a [`Verdict`]; only accepted
//! messages are forwarded. Sync requests are handed to the node with a
//! [`SyncResponder`] to answer through. Publishing to a topic nobody listens
//! on yet is queued (bounded) and retried; bootstrap peers are redialled with
//! exponential backoff.
//!
//! Every channel is bounded. When the node is slow to take events, the task
//! stops polling the swarm (back-pressure onto the connections) but keeps
//! serving commands, so a node waiting on a command while events pile up
//! cannot deadlock it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId, PublishError, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ListenError, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, connection_limits, identify, mdns, multiaddr::Protocol, noise, tcp, yamux,
};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use super::behaviour::{Behaviour, BehaviourEvent, PROTOCOL_VERSION};
use super::config::TransportConfig;
use super::error::{NetError, RequestFailure};
use super::gossip;
use super::peers::{PeerAddresses, PeerStats, Peers};
use super::sync::{Retry, SyncRequest, SyncResponse};
use crate::op::PartnershipId;

/// The node's verdict on a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Invalid (bad signature, garbage, wrong partnership): drop it and
    /// penalise the peer that sent it.
    Reject,
    /// Not forwarded, no penalty (a duplicate, an op held back, an op of a
    /// partnership this node cannot judge yet).
    Ignore,
}

/// Answers one inbound sync request: pass it back with
/// [`NetHandle::respond`]. Dropping it without answering fails the request
/// on the asking side.
#[derive(Debug)]
pub struct SyncResponder(ResponseChannel<SyncResponse>);

/// Something the network tells the node.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetEvent {
    /// A gossip message on a subscribed partnership topic, not yet
    /// forwarded: report a [`Verdict`] with [`NetHandle::report`].
    Gossip {
        /// The partnership of the topic.
        partnership: PartnershipId,
        /// The message (a signed op's encoding, if the sender is honest).
        data: Vec<u8>,
        /// The gossip message id (the op id for a well-formed op).
        msg_id: MessageId,
        /// The peer that sent it to us.
        source: PeerId,
    },
    /// A peer asks for sync data: answer with [`NetHandle::respond`].
    SyncRequest {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: SyncRequest,
        /// Where the answer goes.
        responder: SyncResponder,
    },
    /// The first connection to a peer is up.
    PeerConnected(PeerId),
    /// The last connection to a peer is down.
    PeerDisconnected(PeerId),
    /// A peer subscribed to a partnership's topic.
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The partnership.
        partnership: PartnershipId,
    },
}

enum Command {
    Subscribe(PartnershipId, oneshot::Sender<Result<(), NetError>>),
    Unsubscribe(PartnershipId),
    Publish(PartnershipId, Vec<u8>, oneshot::Sender<Result<(), NetError>>),
    Report(MessageId, PeerId, Verdict),
    Request(PeerId, SyncRequest, oneshot::Sender<Result<SyncResponse, NetError>>),
    Respond(SyncResponder, SyncResponse),
    Block(PeerId),
    Unblock(PeerId),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    TopicPeers(PartnershipId, oneshot::Sender<Vec<PeerId>>),
    PeersByPartnership(oneshot::Sender<BTreeMap<PartnershipId, Vec<PeerId>>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    SetKnownPeers(BTreeSet<PeerId>),
    Peers(oneshot::Sender<Vec<PeerAddresses>>),
    PeerStats(oneshot::Sender<PeerStats>),
    Shutdown(oneshot::Sender<()>),
}

/// The network's front: cheap to clone, every method talks to the task.
#[derive(Clone, Debug)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    /// Per-peer turns for sync requests
    /// ([`TransportConfig::max_requests_in_flight_per_peer`]).
    turns: Arc<Mutex<BTreeMap<PeerId, Arc<Semaphore>>>>,
    in_flight_per_peer: usize,
    retry: Retry,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl NetHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).await.map_err(|_| NetError::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Joins a partnership's topic.
    pub async fn subscribe(&self, partnership: PartnershipId) -> Result<(), NetError> {
        self.ask(|tx| Command::Subscribe(partnership, tx)).await?
    }

    /// Leaves a partnership's topic (and drops its queued publications).
    pub async fn unsubscribe(&self, partnership: PartnershipId) -> Result<(), NetError> {
        self.send(Command::Unsubscribe(partnership)).await
    }

    /// Publishes an op's bytes on the partnership's topic. With no peer on
    /// the topic yet it is queued and retried; publishing what gossip already
    /// carried (a duplicate) is a success.
    pub async fn publish(&self, partnership: PartnershipId, data: Vec<u8>) -> Result<(), NetError> {
        self.ask(|tx| Command::Publish(partnership, data, tx)).await?
    }

    /// Reports the verdict on a gossip message (once per message).
    pub async fn report(&self, msg_id: MessageId, source: PeerId, verdict: Verdict) -> Result<(), NetError> {
        self.send(Command::Report(msg_id, source, verdict)).await
    }

    /// Sends a sync request and waits for the answer (or the request
    /// timeout), once. At most
    /// [`TransportConfig::max_requests_in_flight_per_peer`] requests to one
    /// peer are in flight at once; others wait their turn, so a node in many
    /// partnerships with the same peer does not overrun its stream capacity.
    pub async fn request(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, NetError> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let capacity = self.in_flight_per_peer.max(1);
            Arc::clone(turns.entry(peer).or_insert_with(|| Arc::new(Semaphore::new(capacity))))
        };
        let _permit = turn.acquire_owned().await.map_err(|_| NetError::Stopped)?;
        self.ask(|tx| Command::Request(peer, request, tx)).await?
    }

    /// [`request`](Self::request), asked again with backoff
    /// ([`TransportConfig::request_retry`]) for as long as the peer answers
    /// [`SyncResponse::Busy`] or the request fails in a way that asking
    /// again may cure ([`NetError::is_transient`]: timed out, its stream
    /// dropped by a peer at capacity, its connection closed). Returns the
    /// first other answer, or the error that ended it: the peer cannot be
    /// reached (it is gone; whoever needs it asks again when it returns),
    /// it speaks another protocol, or the network stopped.
    pub async fn request_retrying(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetError> {
        let mut attempt = 0u32;
        loop {
            match self.request(peer, request.clone()).await {
                Ok(SyncResponse::Busy) => {
                    let kind = request.kind();
                    tracing::debug!(%peer, kind, attempt, "sync request refused as busy; asking again");
                }
                Err(error) if error.is_transient() => {
                    let kind = request.kind();
                    tracing::debug!(%peer, kind, attempt, %error, "sync request failed; asking again");
                }
                other => return other,
            }
            tokio::time::sleep(self.retry.pause(attempt)).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// Answers an inbound sync request.
    pub async fn respond(&self, responder: SyncResponder, response: SyncResponse) -> Result<(), NetError> {
        self.send(Command::Respond(responder, response)).await
    }

    /// Blocks a peer: closes its connections and refuses new ones.
    pub async fn block(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Block(peer)).await
    }

    /// Lifts a block.
    pub async fn unblock(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Unblock(peer)).await
    }

    /// Dials an address once (bootstrap peers are redialled by the task).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// Peers with at least one connection, ascending.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ask(Command::ConnectedPeers).await
    }

    /// Connected peers subscribed to a partnership's topic, ascending.
    pub async fn topic_peers(&self, partnership: PartnershipId) -> Result<Vec<PeerId>, NetError> {
        self.ask(|tx| Command::TopicPeers(partnership, tx)).await
    }

    /// For every partnership this node is subscribed to, the connected
    /// peers subscribed to it too, ascending (partnerships no peer shares
    /// are left out). One call for all of them.
    pub async fn peers_by_partnership(&self) -> Result<BTreeMap<PartnershipId, Vec<PeerId>>, NetError> {
        self.ask(Command::PeersByPartnership).await
    }

    /// The addresses the node listens on (waits for the first one to be bound).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(Command::ListenAddrs).await
    }

    /// A peer's gossip score, if scored.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetError> {
        self.ask(|tx| Command::PeerScore(peer, tx)).await
    }

    /// Tells the network which peers the node knows (those bound to, or
    /// proven for, a participant of its partnerships): with the bootstrap
    /// peers they may use the reserved connection slots and are never
    /// disconnected as strangers. Replaces the previous set.
    pub async fn set_known_peers(&self, known: BTreeSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetKnownPeers(known)).await
    }

    /// Every connected peer with its addresses, ascending by peer id.
    pub async fn peers(&self) -> Result<Vec<PeerAddresses>, NetError> {
        self.ask(Command::Peers).await
    }

    /// What the network turned away so far (strangers disconnected,
    /// connections refused).
    pub async fn peer_stats(&self) -> Result<PeerStats, NetError> {
        self.ask(Command::PeerStats).await
    }

    /// Stops the network task and closes every connection.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(Command::Shutdown).await
    }
}

/// Starts the network.
pub struct Network;

impl Network {
    /// Builds the swarm, starts listening and dialing, and spawns the task on
    /// the current tokio runtime (it must be called inside one). The task
    /// ends on [`NetHandle::shutdown`] or when every handle is dropped.
    pub fn spawn(config: TransportConfig) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
        let idle = config.idle_timeout;
        let (in_flight_per_peer, retry) = (config.max_requests_in_flight_per_peer, config.request_retry);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|key| Behaviour::new(key, &config).map_err(|e| e.to_string().into()))
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen { addr: addr.clone(), detail: e.to_string() })?;
        }
        let local_peer_id = *swarm.local_peer_id();
        let (commands_tx, commands) = mpsc::channel(config.command_capacity.max(1));
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity.max(1));
        let now = Instant::now();
        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| Redial {
                addr: addr.clone(),
                peer: peer_of(addr),
                next: now,
                backoff: config.redial_min,
            })
            .collect();
        let peers = Peers::new(config.bootstrap.iter().filter_map(peer_of));
        let task = Task {
            peers,
            swarm,
            commands,
            events: events_tx,
            outbox: VecDeque::new(),
            subscribed: BTreeMap::new(),
            publish_queue: VecDeque::new(),
            requests: BTreeMap::new(),
            listen_waiters: Vec::new(),
            listen_addrs: Vec::new(),
            listeners_open: config.listen.len(),
            bootstrap,
            config,
        };
        tokio::spawn(task.run());
        let handle = NetHandle {
            commands: commands_tx,
            local_peer_id,
            turns: Arc::default(),
            in_flight_per_peer,
            retry,
        };
        Ok((handle, events_rx))
    }
}

/// The peer id in an address's `/p2p/` suffix.
pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

struct Redial {
    addr: Multiaddr,
    peer: Option<PeerId>,
    next: Instant,
    backoff: Duration,
}

struct Queued {
    topic: TopicHash,
    data: Vec<u8>,
}

struct Task {
    /// Connected peers' addresses, trusted peers, strangers on the clock.
    peers: Peers,
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    outbox: VecDeque<NetEvent>,
    subscribed: BTreeMap<TopicHash, PartnershipId>,
    publish_queue: VecDeque<Queued>,
    requests: BTreeMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, NetError>>>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    listen_addrs: Vec<Multiaddr>,
    /// Listeners not closed yet (`listen_addrs` waits for one of them).
    listeners_open: usize,
    bootstrap: Vec<Redial>,
    config: TransportConfig,
}

impl Task {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(self.config.retry_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outbox_cap = self.config.event_capacity.max(1);
        let events = self.events.clone();
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.command(command),
                    None => break,
                },
                permit = events.reserve(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.outbox.pop_front() {
                            permit.send(event);
                        }
                    }
                    // Nobody listens any more: drop what would go there.
                    Err(_) => self.outbox.clear(),
                },
                event = self.swarm.select_next_some(), if self.outbox.len() < outbox_cap => {
                    self.swarm_event(event);
                }
                _ = tick.tick() => {
                    self.retry_publications();
                    self.redial();
                    self.disconnect_strangers();
                }
            }
        }
        for (_, reply) in std::mem::take(&mut self.requests) {
            let _ = reply.send(Err(NetError::Stopped));
        }
        tracing::debug!(peer = %self.swarm.local_peer_id(), "network stopped");
    }

    fn emit(&mut self, event: NetEvent) {
        if self.events.is_closed() {
            return;
        }
        self.outbox.push_back(event);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Subscribe(partnership, reply) => {
                let topic = gossip::topic(&partnership);
                let hash = topic.hash();
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .subscribe(&topic)
                    .map(|_| ())
                    .map_err(|e| NetError::Gossip(format!("cannot subscribe to {topic}: {e:?}")))
                    .and_then(|()| {
                        self.swarm
                            .behaviour_mut()
                            .gossip
                            .set_topic_params(topic.clone(), gossip::topic_score_params())
                            .map_err(|e| NetError::Gossip(e.to_owned()))
                    });
                if result.is_ok() {
                    self.subscribed.insert(hash, partnership);
                }
                let _ = reply.send(result);
            }
            Command::Unsubscribe(partnership) => {
                let topic = gossip::topic(&partnership);
                self.swarm.behaviour_mut().gossip.unsubscribe(&topic);
                let hash = topic.hash();
                self.subscribed.remove(&hash);
                self.publish_queue.retain(|q| q.topic != hash);
            }
            Command::Publish(partnership, data, reply) => {
                let topic = gossip::topic(&partnership).hash();
                let _ = reply.send(self.publish(topic, data));
            }
            Command::Report(msg_id, source, verdict) => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&msg_id, &source, acceptance);
            }
            Command::Request(peer, request, reply) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.requests.insert(id, reply);
            }
            Command::Respond(SyncResponder(channel), response) => {
                if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
                    tracing::debug!("sync response not sent: the asking peer went away");
                }
            }
            Command::Block(peer) => {
                self.swarm.behaviour_mut().blocks.block_peer(peer);
            }
            Command::Unblock(peer) => {
                self.swarm.behaviour_mut().blocks.unblock_peer(peer);
                // Redial bootstrap peers right away rather than after the backoff.
                let now = Instant::now();
                for entry in &mut self.bootstrap {
                    if entry.peer.is_none_or(|p| p == peer) {
                        entry.next = now;
                        entry.backoff = self.config.redial_min;
                    }
                }
            }
            Command::Dial(addr, reply) => {
                let result = self
                    .swarm
                    .dial(dial_opts(&addr))
                    .map_err(|e| NetError::Dial { addr: addr.to_string(), detail: e.to_string() });
                let _ = reply.send(result);
            }
            Command::ConnectedPeers(reply) => {
                let mut peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                peers.sort();
                let _ = reply.send(peers);
            }
            Command::TopicPeers(partnership, reply) => {
                let hash = gossip::topic(&partnership).hash();
                let mut peers: Vec<PeerId> = self
                    .swarm
                    .behaviour()
                    .gossip
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .map(|(peer, _)| *peer)
                    .collect();
                peers.sort();
                let _ = reply.send(peers);
            }
            Command::PeersByPartnership(reply) => {
                let mut by: BTreeMap<PartnershipId, Vec<PeerId>> = BTreeMap::new();
                for (peer, topics) in self.swarm.behaviour().gossip.all_peers() {
                    for topic in topics {
                        if let Some(partnership) = self.subscribed.get(topic) {
                            by.entry(*partnership).or_default().push(*peer);
                        }
                    }
                }
                for peers in by.values_mut() {
                    peers.sort();
                }
                let _ = reply.send(by);
            }
            Command::ListenAddrs(reply) => {
                if self.listen_addrs.is_empty() && self.listeners_open > 0 {
                    self.listen_waiters.push(reply);
                } else {
                    let _ = reply.send(self.listen_addrs.clone());
                }
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossip.peer_score(&peer));
            }
            Command::SetKnownPeers(known) => {
                let (added, removed) = self.peers.set_known(known, Instant::now());
                let reserve = &mut self.swarm.behaviour_mut().reserve;
                for peer in &added {
                    reserve.bypass_peer_id(peer);
                }
                for peer in &removed {
                    reserve.remove_peer_id(peer);
                }
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.list());
            }
            Command::PeerStats(reply) => {
                let _ = reply.send(self.peers.stats);
            }
            Command::Shutdown(_) => {}
        }
    }

    fn publish(&mut self, topic: TopicHash, data: Vec<u8>) -> Result<(), NetError> {
        match self.swarm.behaviour_mut().gossip.publish(topic.clone(), data.clone()) {
            Ok(_) | Err(PublishError::Duplicate) => Ok(()),
            Err(PublishError::NoPeersSubscribedToTopic) | Err(PublishError::AllQueuesFull(_)) => {
                if self.publish_queue.len() >= self.config.publish_queue {
                    return Err(NetError::PublishQueueFull(self.publish_queue.len()));
                }
                self.publish_queue.push_back(Queued { topic, data });
                Ok(())
            }
            Err(PublishError::MessageTooLarge) => Err(NetError::Gossip(format!(
                "a message of {} bytes is over the gossip limit of {} bytes",
                data.len(),
                self.config.max_op_bytes
            ))),
            Err(other) => Err(NetError::Gossip(format!("cannot publish: {other}"))),
        }
    }

    /// Publishes what waits, in order; what still finds no peer waits on.
    fn retry_publications(&mut self) {
        let waiting = std::mem::take(&mut self.publish_queue);
        let mut blocked_topics: Vec<TopicHash> = Vec::new();
        for queued in waiting {
            if blocked_topics.contains(&queued.topic) {
                self.publish_queue.push_back(queued);
                continue;
            }
            match self.swarm.behaviour_mut().gossip.publish(queued.topic.clone(), queued.data.clone()) {
                Ok(_) | Err(PublishError::Duplicate) => {}
                Err(PublishError::NoPeersSubscribedToTopic) | Err(PublishError::AllQueuesFull(_)) => {
                    blocked_topics.push(queued.topic.clone());
                    self.publish_queue.push_back(queued);
                }
                Err(error) => tracing::warn!(%error, "dropping a queued publication"),
            }
        }
    }

    fn redial(&mut self) {
        let now = Instant::now();
        for i in 0..self.bootstrap.len() {
            let entry = &self.bootstrap[i];
            if entry.next > now {
                continue;
            }
            if let Some(peer) = entry.peer
                && (self.swarm.is_connected(&peer) || peer == *self.swarm.local_peer_id())
            {
                continue;
            }
            let addr = entry.addr.clone();
            if let Err(error) = self.swarm.dial(dial_opts(&addr)) {
                tracing::debug!(%addr, %error, "bootstrap dial did not start");
            }
            let entry = &mut self.bootstrap[i];
            entry.next = now + entry.backoff;
            entry.backoff = (entry.backoff * 2).min(self.config.redial_max);
        }
    }

    /// Disconnects strangers that stayed past the stranger timeout without
    /// becoming known.
    fn disconnect_strangers(&mut self) {
        let Some(timeout) = self.config.stranger_timeout else { return };
        for peer in self.peers.expired(Instant::now(), timeout) {
            tracing::info!(
                %peer,
                timeout_s = timeout.as_secs_f64(),
                "disconnecting a peer that acts for no participant of this node's partnerships and is no bootstrap peer"
            );
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.behaviour_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, peer = %self.swarm.local_peer_id(), "listening");
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
                for waiter in self.listen_waiters.drain(..) {
                    let _ = waiter.send(self.listen_addrs.clone());
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen_addrs.retain(|a| *a != address),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                tracing::warn!(?addresses, ?reason, "a listener closed");
                self.listeners_open = self.listeners_open.saturating_sub(1);
                self.listen_addrs.retain(|a| !addresses.contains(a));
                if self.listeners_open == 0 {
                    for waiter in self.listen_waiters.drain(..) {
                        let _ = waiter.send(self.listen_addrs.clone());
                    }
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, connection_id, endpoint, num_established, ..
            } => {
                tracing::debug!(peer = %peer_id, ?endpoint, %num_established, "connection established");
                if let ConnectedPoint::Dialer { address, .. } = &endpoint {
                    let mut bootstrap = false;
                    for entry in &mut self.bootstrap {
                        let same = entry.peer == Some(peer_id)
                            || (entry.peer.is_none() && without_p2p(&entry.addr) == without_p2p(address));
                        if same {
                            entry.peer = Some(peer_id);
                            entry.backoff = self.config.redial_min;
                            bootstrap = true;
                        }
                    }
                    if bootstrap && self.peers.add_bootstrap(peer_id) {
                        self.swarm.behaviour_mut().reserve.bypass_peer_id(&peer_id);
                    }
                }
                self.peers.connected(
                    peer_id,
                    connection_id,
                    endpoint.get_remote_address().clone(),
                    Instant::now(),
                );
                if num_established.get() == 1 {
                    self.emit(NetEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, cause, .. } => {
                tracing::debug!(peer = %peer_id, %num_established, ?cause, "a connection closed");
                self.peers.closed(peer_id, connection_id);
                if num_established > 0 {
                    return;
                }
                let now = Instant::now();
                for entry in &mut self.bootstrap {
                    if entry.peer == Some(peer_id) {
                        entry.next = entry.next.max(now + self.config.redial_min);
                    }
                }
                self.emit(NetEvent::PeerDisconnected(peer_id));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError { error, peer_id, .. } => {
                let limited = matches!(&error, ListenError::Denied { cause }
                    if cause.downcast_ref::<connection_limits::Exceeded>().is_some());
                if limited {
                    let trusted = peer_id.is_some_and(|p| self.peers.is_trusted(&p));
                    if trusted {
                        self.peers.stats.trusted_refused += 1;
                        tracing::warn!(
                            ?peer_id,
                            "refused a trusted peer's connection: every connection slot is taken"
                        );
                    } else {
                        self.peers.stats.strangers_refused += 1;
                        tracing::debug!(
                            ?peer_id,
                            "refused a stranger's connection: only reserved slots are free"
                        );
                    }
                }
                tracing::debug!(%error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossip(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                match self.subscribed.get(&message.topic) {
                    Some(&partnership) => self.emit(NetEvent::Gossip {
                        partnership,
                        data: message.data,
                        msg_id: message_id,
                        source: propagation_source,
                    }),
                    None => {
                        self.swarm.behaviour_mut().gossip.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    }
                }
            }
            BehaviourEvent::Gossip(gossipsub::Event::Subscribed { peer_id, topic }) => {
                if self.subscribed.contains_key(&topic) {
                    self.retry_publications();
                }
                if let Some(&partnership) = self.subscribed.get(&topic) {
                    self.emit(NetEvent::PeerSubscribed { peer: peer_id, partnership });
                }
            }
            BehaviourEvent::Gossip(_) => {}
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.emit(NetEvent::SyncRequest { peer, request, responder: SyncResponder(channel) });
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let failure = match &error {
                        request_response::OutboundFailure::DialFailure => RequestFailure::Unreachable,
                        request_response::OutboundFailure::Timeout => RequestFailure::Timeout,
                        request_response::OutboundFailure::ConnectionClosed => {
                            RequestFailure::ConnectionClosed
                        }
                        request_response::OutboundFailure::UnsupportedProtocols => {
                            RequestFailure::Unsupported
                        }
                        request_response::OutboundFailure::Io(_) => RequestFailure::Stream,
                    };
                    let detail = error.to_string();
                    let _ = reply.send(Err(NetError::Request { peer, failure, detail }));
                }
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure { peer, error, .. }) => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            BehaviourEvent::Sync(_) => {}
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.peers.identified(peer_id, info.listen_addrs);
                if info.protocol_version != PROTOCOL_VERSION {
                    tracing::info!(
                        peer = %peer_id,
                        version = %info.protocol_version,
                        "disconnecting a peer of another protocol version"
                    );
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
            }
            BehaviourEvent::Identify(_) => {}
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) && peer != *self.swarm.local_peer_id() {
                        let opts = DialOpts::peer_id(peer)
                            .addresses(vec![addr])
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build();
                        let _ = self.swarm.dial(opts);
                    }
                }
            }
            BehaviourEvent::Mdns(_) => {}
            BehaviourEvent::Blocks(never)
            | BehaviourEvent::Limits(never)
            | BehaviourEvent::Reserve(never) => match never {},
        }
    }
}

/// Dial options for an address: by peer (no second connection to a peer
/// already connected or being dialled) when it names one.
fn dial_opts(addr: &Multiaddr) -> DialOpts {
    match peer_of(addr) {
        Some(peer) => DialOpts::peer_id(peer)
            .addresses(vec![addr.clone()])
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build(),
        None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
    }
}

fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}
