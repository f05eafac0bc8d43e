//! The network's book of peers: where each connected peer is (the remote
//! address of each connection, and the listen addresses it reports through
//! identify), which peers the node trusts, and which connected peers are
//! strangers on a clock.
//!
//! A peer is *trusted* when the node said it knows it
//! ([`NetHandle::set_known_peers`](super::NetHandle::set_known_peers): the
//! node half knows which peers are bound to, or proved a hello for, a
//! participant of its partnerships) or when it is a bootstrap peer of the
//! operator's config. Trusted peers may use the connection slots kept in
//! reserve ([`TransportConfig::reserved_connections`](super::TransportConfig));
//! the service gives them to libp2p's `connection_limits` as its bypass
//! list. Any other connected peer is a *stranger*: one that is still not
//! trusted [`TransportConfig::stranger_timeout`](super::TransportConfig)
//! after it connected is disconnected by the service (counted).
//!
//! This file keeps the book; it does not dial, disconnect or decide who is
//! known (the service and the node half do).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// Most listen addresses kept per peer (what a peer reports is its own word).
const MAX_LISTEN_ADDRS: usize = 16;

/// A connected peer's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddresses {
    /// The peer.
    pub peer: PeerId,
    /// The remote address of each connection to it, as this node sees it
    /// (for a connection it opened, an address it can dial again).
    pub connected: Vec<Multiaddr>,
    /// The addresses it says it listens on (identify), at most 16.
    pub listening: Vec<Multiaddr>,
    /// Whether the node trusts it (known to the node, or a bootstrap peer).
    pub trusted: bool,
}

/// Counters of the peers the network turned away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Strangers disconnected for not becoming known within the stranger timeout.
    pub strangers_disconnected: u64,
    /// Incoming connections of strangers refused by a connection limit
    /// (above all: every slot but the reserved ones taken).
    pub strangers_refused: u64,
    /// Incoming connections of trusted peers refused by a connection limit.
    pub trusted_refused: u64,
}

/// The book (see the module doc).
#[derive(Default)]
pub(crate) struct Peers {
    connections: BTreeMap<PeerId, BTreeMap<ConnectionId, Multiaddr>>,
    listening: BTreeMap<PeerId, Vec<Multiaddr>>,
    known: BTreeSet<PeerId>,
    bootstrap: BTreeSet<PeerId>,
    /// Connected strangers and since when.
    strangers: BTreeMap<PeerId, Instant>,
    pub(crate) stats: PeerStats,
}

impl Peers {
    /// A book whose bootstrap peers (those with a `/p2p/` suffix) are `bootstrap`.
    pub(crate) fn new(bootstrap: impl IntoIterator<Item = PeerId>) -> Self {
        Peers { bootstrap: bootstrap.into_iter().collect(), ..Peers::default() }
    }

    /// Whether `peer` may use the reserved slots and stays connected.
    pub(crate) fn is_trusted(&self, peer: &PeerId) -> bool {
        self.known.contains(peer) || self.bootstrap.contains(peer)
    }

    /// Every trusted peer.
    pub(crate) fn trusted(&self) -> BTreeSet<PeerId> {
        self.known.union(&self.bootstrap).copied().collect()
    }

    /// A bootstrap address turned out to be `peer`'s. Returns whether it
    /// was not trusted before.
    pub(crate) fn add_bootstrap(&mut self, peer: PeerId) -> bool {
        let was = self.is_trusted(&peer);
        self.bootstrap.insert(peer);
        self.strangers.remove(&peer);
        !was
    }

    /// The node's known peers are now `known`. Returns the peers that became
    /// trusted and those that stopped being trusted.
    pub(crate) fn set_known(&mut self, known: BTreeSet<PeerId>, now: Instant) -> (Vec<PeerId>, Vec<PeerId>) {
        let before = self.trusted();
        self.known = known;
        let after = self.trusted();
        let added: Vec<PeerId> = after.difference(&before).copied().collect();
        let removed: Vec<PeerId> = before.difference(&after).copied().collect();
        for peer in &added {
            self.strangers.remove(peer);
        }
        // A peer that is no longer known, still connected, is a stranger from now.
        for peer in &removed {
            if self.connections.contains_key(peer) {
                self.strangers.insert(*peer, now);
            }
        }
        (added, removed)
    }

    /// A connection to `peer` is up, at `addr` (its remote address).
    pub(crate) fn connected(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        addr: Multiaddr,
        now: Instant,
    ) {
        self.connections.entry(peer).or_default().insert(connection, addr);
        if !self.is_trusted(&peer) {
            self.strangers.entry(peer).or_insert(now);
        }
    }

    /// A connection to `peer` is down.
    pub(crate) fn closed(&mut self, peer: PeerId, connection: ConnectionId) {
        if let Some(connections) = self.connections.get_mut(&peer) {
            connections.remove(&connection);
            if connections.is_empty() {
                self.connections.remove(&peer);
                self.listening.remove(&peer);
                self.strangers.remove(&peer);
            }
        }
    }

    /// `peer` reported its listen addresses.
    pub(crate) fn identified(&mut self, peer: PeerId, mut addrs: Vec<Multiaddr>) {
        if !self.connections.contains_key(&peer) {
            return;
        }
        addrs.truncate(MAX_LISTEN_ADDRS);
        self.listening.insert(peer, addrs);
    }

    /// Strangers connected for `timeout` or longer, taken off the clock (the
    /// caller disconnects them).
    pub(crate) fn expired(&mut self, now: Instant, timeout: Duration) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .strangers
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= timeout)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &expired {
            self.strangers.remove(peer);
        }
        self.stats.strangers_disconnected += expired.len() as u64;
        expired
    }

    /// Every connected peer with its addresses, ascending by peer id.
    pub(crate) fn list(&self) -> Vec<PeerAddresses> {
        self.connections
            .iter()
            .map(|(peer, connections)| {
                let mut connected: Vec<Multiaddr> = connections.values().cloned().collect();
                connected.sort();
                connected.dedup();
                PeerAddresses {
                    peer: *peer,
                    connected,
                    listening: self.listening.get(peer).cloned().unwrap_or_default(),
                    trusted: self.is_trusted(peer),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("address")
    }

    #[test]
    fn strangers_expire_unless_known_in_time() {
        let start = Instant::now();
        let (boot, stranger, partner) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut peers = Peers::new([boot]);
        peers.connected(boot, ConnectionId::new_unchecked(1), addr(1), start);
        peers.connected(stranger, ConnectionId::new_unchecked(2), addr(2), start);
        peers.connected(partner, ConnectionId::new_unchecked(3), addr(3), start);
        let timeout = Duration::from_secs(30);
        assert!(peers.expired(start + Duration::from_secs(29), timeout).is_empty());
        // The partner proves itself in time; the stranger does not.
        let (added, removed) = peers.set_known([partner].into(), start + Duration::from_secs(10));
        assert_eq!((added, removed), (vec![partner], vec![]));
        assert_eq!(peers.expired(start + timeout, timeout), vec![stranger]);
        assert_eq!(peers.stats.strangers_disconnected, 1);
        assert!(peers.expired(start + timeout * 3, timeout).is_empty(), "each once");
        // No longer known: a stranger again, on a fresh clock.
        let later = start + timeout * 4;
        let (added, removed) = peers.set_known(BTreeSet::new(), later);
        assert_eq!((added, removed), (vec![], vec![partner]));
        assert!(peers.expired(later + Duration::from_secs(1), timeout).is_empty());
        assert_eq!(peers.expired(later + timeout, timeout), vec![partner]);
    }

    #[test]
    fn addresses_are_kept_per_connection_and_forgotten_with_the_last() {
        let now = Instant::now();
        let peer = PeerId::random();
        let mut peers = Peers::new([]);
        peers.identified(peer, vec![addr(9)]);
        assert!(peers.list().is_empty(), "not connected: nothing kept");
        peers.connected(peer, ConnectionId::new_unchecked(1), addr(1), now);
        peers.connected(peer, ConnectionId::new_unchecked(2), addr(2), now);
        peers.identified(peer, (0..40).map(addr).collect());
        let list = peers.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].connected, vec![addr(1), addr(2)]);
        assert_eq!(list[0].listening.len(), MAX_LISTEN_ADDRS);
        assert!(!list[0].trusted);
        peers.closed(peer, ConnectionId::new_unchecked(1));
        assert_eq!(peers.list()[0].connected, vec![addr(2)]);
        peers.closed(peer, ConnectionId::new_unchecked(2));
        assert!(peers.list().is_empty());
        assert!(peers.expired(now + Duration::from_secs(100), Duration::from_secs(1)).is_empty());
    }
}
