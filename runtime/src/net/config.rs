//! [`TransportConfig`]: what a node's libp2p transport listens on, whom it
//! dials, and its connection bounds (with the slots kept for trusted peers
//! and how long a stranger may stay). How the node uses the transport to
//! sync partnerships is `node::SyncConfig`.

use std::net::Ipv4Addr;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use super::sync::{MAX_REQUESTS_IN_FLIGHT_PER_PEER, MAX_STREAMS_PER_CONNECTION, Retry};

/// Settings of one node's libp2p transport (ledger-agnostic).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// The node's libp2p key (its peer id). Not a member key.
    pub keypair: Keypair,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001` and
    /// `/ip4/0.0.0.0/udp/4001/quic-v1`. Port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to redial with backoff whenever the
    /// connection is lost. A `/p2p/<peer id>` suffix is recommended.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Peers refused at start (the operator's block list).
    pub blocked: Vec<PeerId>,
    /// The most partnership topics a peer may be subscribed to (and send
    /// in one subscription message): the partnerships a node shares with
    /// one peer. Past it the peer's further subscriptions are ignored.
    pub max_topics_per_peer: usize,
    /// Largest op accepted on gossip, in bytes (the ledger's limit).
    pub max_op_bytes: usize,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Of `max_connections`, how many only trusted peers may use: peers the
    /// node knows ([`NetHandle::set_known_peers`](super::NetHandle::set_known_peers))
    /// and bootstrap peers. Strangers get at most the rest, so they can
    /// never take a partner's place.
    pub reserved_connections: u32,
    /// How long a stranger (a connected peer that is neither known nor a
    /// bootstrap peer) stays connected without becoming known; `None`: for
    /// ever.
    pub stranger_timeout: Option<Duration>,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most incoming connections still negotiating.
    pub max_pending_incoming: u32,
    /// Capacity of the command channel (handle → network).
    pub command_capacity: usize,
    /// Capacity of the event channel (network → node).
    pub event_capacity: usize,
    /// Most messages waiting to be published (no peer on the topic yet).
    pub publish_queue: usize,
    /// How long a sync request may take before it fails.
    pub request_timeout: Duration,
    /// Inbound sync streams served at once on one connection; past it
    /// libp2p drops a stream and its requester asks again.
    pub max_inbound_streams: usize,
    /// Sync requests in flight to one peer at once; the rest wait their
    /// turn, in order.
    pub max_requests_in_flight_per_peer: usize,
    /// How requests refused for capacity or failed in transport are asked
    /// again ([`NetHandle::request_retrying`](super::NetHandle::request_retrying)).
    pub request_retry: Retry,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// How often queued publications and bootstrap redials are retried.
    pub retry_interval: Duration,
    /// First redial delay of a lost bootstrap peer; doubles up to `redial_max`.
    pub redial_min: Duration,
    /// Longest redial delay.
    pub redial_max: Duration,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
}

impl TransportConfig {
    /// A configuration with `keypair` that listens on every interface on
    /// free TCP and QUIC ports, with mDNS off and no bootstrap peers.
    pub fn new(keypair: Keypair) -> Self {
        TransportConfig {
            keypair,
            listen: vec![
                Multiaddr::empty().with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED)).with(Protocol::Tcp(0)),
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                    .with(Protocol::Udp(0))
                    .with(Protocol::QuicV1),
            ],
            bootstrap: Vec::new(),
            mdns: false,
            blocked: Vec::new(),
            max_op_bytes: crate::op::Limits::default().max_op_bytes,
            max_topics_per_peer: 16_384,
            max_connections: 256,
            reserved_connections: 32,
            stranger_timeout: Some(Duration::from_secs(30)),
            max_connections_per_peer: 2,
            max_pending_incoming: 64,
            command_capacity: 1024,
            event_capacity: 1024,
            publish_queue: 4096,
            request_timeout: Duration::from_secs(30),
            max_inbound_streams: MAX_STREAMS_PER_CONNECTION,
            max_requests_in_flight_per_peer: MAX_REQUESTS_IN_FLIGHT_PER_PEER,
            request_retry: Retry::default(),
            heartbeat: Duration::from_millis(700),
            retry_interval: Duration::from_millis(250),
            redial_min: Duration::from_millis(500),
            redial_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
        }
    }

    /// Loopback only, TCP on a free port: for tests and local testnets.
    pub fn loopback(keypair: Keypair) -> Self {
        let mut config = TransportConfig::new(keypair);
        config.listen =
            vec![Multiaddr::empty().with(Protocol::Ip4(Ipv4Addr::LOCALHOST)).with(Protocol::Tcp(0))];
        config
    }
}
