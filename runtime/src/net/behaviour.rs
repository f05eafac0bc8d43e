//! The composed libp2p behaviour of a node: block list, connection limits
//! (with slots reserved for trusted peers), identify, gossipsub, sync
//! request-response and (optionally) mDNS.
//!
//! This file only assembles the parts with their configuration; the event
//! loop that drives them is `service.rs`.

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{allow_block_list, connection_limits, gossipsub, identify, mdns, request_response};

use super::config::TransportConfig;
use super::error::NetError;
use super::gossip;
use super::sync::{SYNC_PROTOCOL, SyncCodec};

/// The identify protocol version; peers of another version are disconnected.
/// Version 2: sync batched across partnerships (`/polypact/sync/2`).
pub const PROTOCOL_VERSION: &str = "/polypact/2";

/// Everything a node speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// The operator's block list (first, so a blocked peer is refused before anything else).
    pub(crate) blocks: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Connection limits, for every peer.
    pub(crate) limits: connection_limits::Behaviour,
    /// The limit for strangers: every slot but the reserved ones. Trusted
    /// peers (known to the node, bootstrap peers) are on its bypass list.
    pub(crate) reserve: connection_limits::Behaviour,
    /// Identify: protocol version, listen addresses.
    pub(crate) identify: identify::Behaviour,
    /// Gossip of ops, one topic per partnership.
    pub(crate) gossip: gossipsub::Behaviour,
    /// Sync requests and responses.
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    /// LAN discovery, when on.
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

impl Behaviour {
    pub(crate) fn new(key: &Keypair, config: &TransportConfig) -> Result<Self, NetError> {
        let mut blocks = allow_block_list::Behaviour::default();
        for peer in &config.blocked {
            blocks.block_peer(*peer);
        }
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(config.max_connections_per_peer))
                .with_max_pending_incoming(Some(config.max_pending_incoming)),
        );
        let mut reserve = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default().with_max_established(Some(
                config.max_connections.saturating_sub(config.reserved_connections),
            )),
        );
        for peer in config.bootstrap.iter().filter_map(super::service::peer_of) {
            reserve.bypass_peer_id(&peer);
        }
        let identify = identify::Behaviour::new(
            identify::Config::new(PROTOCOL_VERSION.to_owned(), key.public())
                .with_agent_version(format!("polypact/{}", env!("CARGO_PKG_VERSION"))),
        );
        let gossip_config =
            gossip::config(config.max_op_bytes, config.heartbeat).map_err(NetError::Gossip)?;
        // gossipsub's default filter takes at most 100 topics from a peer
        // (its subscriptions past that are dropped, so two nodes sharing
        // more than 100 partnerships never saw each other on the rest).
        let filter = gossipsub::MaxCountSubscriptionFilter {
            filter: gossipsub::AllowAllSubscriptionFilter {},
            max_subscribed_topics: config.max_topics_per_peer,
            max_subscriptions_per_request: config.max_topics_per_peer,
        };
        let mut gossip = gossipsub::Behaviour::new_with_subscription_filter(
            gossipsub::MessageAuthenticity::Anonymous,
            gossip_config,
            filter,
        )
        .map_err(|e| NetError::Gossip(e.to_owned()))?;
        gossip
            .with_peer_score(gossip::score_params(), gossip::score_thresholds())
            .map_err(NetError::Gossip)?;
        let sync = request_response::Behaviour::with_codec(
            SyncCodec::default(),
            [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(config.max_inbound_streams.max(1)),
        );
        let mdns = if config.mdns {
            let mdns = mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                .map_err(|e| NetError::Transport(format!("mDNS: {e}")))?;
            Some(mdns)
        } else {
            None
        };
        Ok(Behaviour { blocks, limits, reserve, identify, gossip, sync, mdns: mdns.into() })
    }
}
