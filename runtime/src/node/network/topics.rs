//! Following partnerships. The node subscribes to the topics of the
//! partnerships it holds (also ahead of its member's admission, to catch
//! up), leaves them when its member is removed (once its removal ack is
//! sent), and binds its peer id with a signed `BindPeer` op once its member
//! is active and a peer's heads have been heard: a member key moved to a
//! fresh node must not sign a seq its old node already used. Only
//! partnerships whose ops changed, or that just caught up, are looked at
//! again, so an idle partnership costs a node turn nothing. It also tells
//! the transport which peers it knows (bound to an active participant of a
//! partnership it holds, or proven by a hello): those keep their
//! connections and may use the reserved slots; the transport disconnects
//! other peers after a while.

use std::collections::BTreeSet;

use super::NetworkHalf;
use crate::net::PeerId;
use crate::node::clock::now_ms;
use crate::node::core::NodeCore;
use crate::node::error::NodeError;
use crate::op::{PartnershipId, Payload};

impl NetworkHalf {
    /// Subscribes to the partnerships this node takes part in and leaves
    /// those it no longer does. `sending`: partnerships with ops about to be
    /// published (a removed member's last ack among them), left next time.
    pub(super) async fn follow_partnerships(
        &mut self,
        core: &mut NodeCore,
        sending: &BTreeSet<PartnershipId>,
    ) -> Result<(), NodeError> {
        let member = core.member();
        let me = self.net.local_peer_id().to_bytes();
        // Newly followed partnerships of the member, announced together.
        let mut announce = Vec::new();
        for partnership in std::mem::take(&mut self.to_follow) {
            // A resting partnership is followed from its roster; binding
            // (below) is what loads its ledger.
            let Some(roster) = core.roster(&partnership) else { continue };
            let record = roster.participant(&member);
            if record.as_ref().is_some_and(|r| !r.is_active()) {
                if roster.awaits(&member) || sending.contains(&partnership) {
                    // Removed by others, with its removal ack still to send.
                    self.to_follow.insert(partnership);
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
            let bound = roster.bound_peer(&member) == Some(me.as_slice());
            if !self.subscribed.contains(&partnership) {
                // Held now, however it was joined: an invitation to it is moot.
                self.invitations.remove(&partnership);
                match self.net.subscribe(partnership).await {
                    Ok(()) => {
                        self.subscribed.insert(partnership);
                        if active {
                            announce.push(partnership);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%partnership, %error, "cannot subscribe");
                        self.to_follow.insert(partnership);
                    }
                }
            }
            // Bind only after hearing a peer's heads: a member key moved to a
            // fresh node must not sign a seq its old node already used.
            let may_author = self.caught_up.contains(&partnership);
            if active
                && may_author
                && !bound
                && !self.bind_authored.contains(&partnership)
                && !roster.halted()
            {
                match core.author(&partnership, Payload::BindPeer { peer_id: me.clone() }, now_ms()) {
                    Ok(_) => {
                        self.bind_authored.insert(partnership);
                    }
                    Err(e @ NodeError::Store(_)) => return Err(e),
                    Err(error) => {
                        tracing::warn!(%partnership, %error, "cannot bind this node's peer id");
                        self.to_follow.insert(partnership);
                    }
                }
            }
        }
        if !announce.is_empty() {
            let peers = self.net.connected_peers().await.unwrap_or_default();
            self.announce(core, &announce, &peers);
        }
        Ok(())
    }
}

impl NetworkHalf {
    /// Tells the transport which peers this node knows, if that changed:
    /// peers bound to an active participant of a partnership it holds, and
    /// peers proven on their connection by a hello.
    pub(super) async fn tell_known_peers(&mut self, core: &NodeCore) {
        let mut known: BTreeSet<PeerId> = self
            .authorised
            .iter()
            .filter(|((partnership, _), member)| core.roster(partnership).is_some_and(|r| r.awaits(member)))
            .map(|((_, peer), _)| *peer)
            .collect();
        for partnership in core.partnership_ids() {
            let Some(roster) = core.roster(&partnership) else { continue };
            for (member, record) in roster.participants() {
                if record.is_active()
                    && let Some(bytes) = roster.bound_peer(&member)
                    && let Ok(peer) = PeerId::from_bytes(bytes)
                {
                    known.insert(peer);
                }
            }
        }
        known.remove(&self.net.local_peer_id());
        if known != self.known_peers {
            let _ = self.net.set_known_peers(known.clone()).await;
            self.known_peers = known;
        }
    }
}
