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
        /// What kind of failure: whether asking again may help.
        failure: RequestFailure,
        /// Why.
        detail: String,
    },
}

impl NetError {
    /// Whether asking the same peer again may succeed: a request that timed
    /// out, lost its stream (the peer was at capacity) or its connection.
    pub fn is_transient(&self) -> bool {
        matches!(self, NetError::Request { failure, .. } if failure.is_transient())
    }
}

/// Why a sync request failed in transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// The peer could not be dialled (no connection, no address that works).
    Unreachable,
    /// No answer within the request timeout.
    Timeout,
    /// The connection closed before the answer.
    ConnectionClosed,
    /// The peer speaks no version of the sync protocol this node speaks.
    Unsupported,
    /// The stream failed: among others, the peer dropped it because it was
    /// serving as many streams as it takes at once.
    Stream,
}

impl RequestFailure {
    /// Whether asking again may help (everything but an unreachable peer
    /// or one of another protocol version).
    pub fn is_transient(self) -> bool {
        matches!(self, RequestFailure::Timeout | RequestFailure::ConnectionClosed | RequestFailure::Stream)
    }
}
