//! Errors of the network: what failed and what to do.

use libp2p::{Multiaddr, PeerId};
use thiserror::Error;

/// A network failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetError {
    /// The network task has stopped (shut down, or it failed).
    #[error("the network has stopped; restart the node")]
    Stopped,
    /// The transport could not be built.
    #[error("cannot set up the network transport: {0}")]
    Transport(String),
    /// A listen address was refused.
    #[error("cannot listen on {addr}: {detail}; check that the address is local and the port is free")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        detail: String,
    },
    /// A dial could not start.
    #[error("cannot dial {addr}: {detail}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        detail: String,
    },
    /// Gossipsub refused its configuration or a subscription.
    #[error("gossip: {0}")]
    Gossip(String),
    /// Too many messages wait to be published; the op stays in the store and
    /// anti-entropy delivers it.
    #[error("{0} messages already wait to be published; try again later")]
    PublishQueueFull(usize),
    /// A sync request failed in transport (timeout, connection lost,
    /// protocol not supported by the peer).
    #[error("sync request to {peer} failed: {detail}")]
    Request {
        /// The peer asked.
        peer: PeerId,
        /// Why.
        detail: String,
    },
}
