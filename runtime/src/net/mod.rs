//! The network: libp2p transport, gossip and sync, knowing nothing of ledgers.
//!
//! [`Network::spawn`] starts one tokio task that owns a libp2p swarm (TCP
//! and QUIC, noise, yamux, identify, gossipsub, the sync request-response
//! protocol, optional mDNS, an operator block list and connection limits)
//! and returns a [`NetHandle`] to command it and a bounded channel of
//! [`NetEvent`]s.
//!
//! - Gossip: one topic per partnership ([`gossip::topic`], a keyed hash of
//!   its id); a message is one op sealed by the node under the
//!   partnership's key ([`crate::seal`]), its message id a hash of the
//!   bytes. Messages are validated by the node
//!   ([`NetEvent::Gossip`] then [`NetHandle::report`] with a [`Verdict`])
//!   before gossipsub forwards them; rejected messages lower the sender's
//!   score. Publishing with no peer on the topic queues and retries.
//! - Sync ([`sync`]): `/polypact/sync/2`, batched across the partnerships
//!   two peers share: heads digests of many partnerships in one request
//!   (answered with what differs), ops by author and seq range of many
//!   partnerships in bounded pages, ops by id, code by hash, a
//!   member-signed proof of whom a peer acts for, and `Announce` of
//!   partnerships' geneses. Requests arrive as [`NetEvent::SyncRequest`]
//!   and are answered with [`NetHandle::respond`]; [`NetHandle::request`]
//!   asks a peer (a bounded number in flight per peer), and
//!   [`NetHandle::request_retrying`] asks until answered, with backoff,
//!   whatever the peer refused for capacity or lost in transport.
//! - Peers: explicit bootstrap addresses redialled with backoff, mDNS on a
//!   LAN (off unless asked for), [`NetHandle::block`] for the operator's
//!   block list. The node tells the network which peers it knows
//!   ([`NetHandle::set_known_peers`]); with the bootstrap peers they are
//!   trusted: only they may use the connection slots kept in reserve, and
//!   any other peer is disconnected once it has stayed a stranger for
//!   [`TransportConfig::stranger_timeout`] (the book is `peers.rs`). Each
//!   connected peer's addresses: [`NetHandle::peers`].
//!
//! What the bytes mean, who may ask for what, and what to fetch is the
//! node's business (`node::network`).
//!
//! Gossipsub forwards a topic's messages to any connected peer subscribed
//! to it: what keeps them unread is the node's sealing, not this layer.
//! Sync serves only peers that act for a participant.

mod behaviour;
mod config;
mod error;
pub mod gossip;
mod peers;
mod service;
pub mod sync;

#[cfg(test)]
mod tests;

pub use behaviour::PROTOCOL_VERSION;
pub use config::TransportConfig;
pub use error::{NetError, RequestFailure};
pub use libp2p::gossipsub::MessageId;
pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
pub use peers::{PeerAddresses, PeerStats};
pub use service::{NetEvent, NetHandle, Network, SyncResponder, Verdict};
pub use sync::{Retry, SyncRequest, SyncResponse};
