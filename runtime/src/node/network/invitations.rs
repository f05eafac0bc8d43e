//! Invitations: announced partnerships that wait for the operator's consent.
//!
//! A peer may announce any genesis that names this node's member (its id is
//! no secret). One whose creator is a stranger (not this node's member, not
//! an active participant of any partnership the node holds) is not joined:
//! it is kept here, in memory, as an [`Invitation`] the operator lists,
//! accepts (the node joins exactly as it would have on its own, fetching
//! the module code from the announcing peer, or from another connected
//! peer) or declines. So a stranger cannot make a node join partnerships,
//! and what it can make the node keep is bounded: one invitation per
//! partnership, at most [`SyncConfig::max_invitations`](super::SyncConfig)
//! (the oldest is dropped), and a bounded memory of declined ones, whose
//! later announcements are ignored until the node restarts.
//!
//! Which announcements become invitations is decided in
//! [`discovery`](super::discovery); this file owns keeping, listing,
//! accepting and declining them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{Fetched, JoinReply, NetworkHalf};
use crate::net::PeerId;
use crate::node::core::NodeCore;
use crate::node::error::NodeError;
use crate::op::{MemberId, PartnershipId, Payload, SignedOp};

/// How many declined partnership ids are remembered (their announcements
/// are then ignored), oldest forgotten first.
const MAX_DECLINED: usize = 1024;

/// A partnership announced to this node, naming its member as a founding
/// participant, from a creator it has no partnership with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// The partnership (its genesis op's id).
    pub partnership: PartnershipId,
    /// The charter's name (may be empty).
    pub name: String,
    /// Who created it: the genesis op's author.
    pub creator: MemberId,
    /// The founding participants the charter names (this node's member among them).
    pub participants: Vec<MemberId>,
    /// When it was first announced, milliseconds since the Unix epoch (node clock).
    pub received_ms: u64,
    /// The peer that announced it last (where the module code is fetched from first).
    pub announced_by: PeerId,
}

/// One invitation and the genesis it carries.
struct Pending {
    invitation: Invitation,
    genesis: SignedOp,
}

/// The invitations a node keeps: bounded, one per partnership, oldest
/// dropped first.
pub(super) struct Invitations {
    max: usize,
    pending: BTreeMap<PartnershipId, Pending>,
    /// Partnership ids in the order they were first kept.
    order: VecDeque<PartnershipId>,
    declined: BTreeSet<PartnershipId>,
    declined_order: VecDeque<PartnershipId>,
}

/// What [`Invitations::keep`] did with an announcement.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kept {
    /// A new invitation (the oldest may have been dropped to make room).
    New,
    /// Already kept: only the announcing peer was updated.
    Known,
    /// The operator declined it earlier: ignored.
    Declined,
}

impl Invitations {
    pub(super) fn new(max: usize) -> Self {
        Invitations {
            max: max.max(1),
            pending: BTreeMap::new(),
            order: VecDeque::new(),
            declined: BTreeSet::new(),
            declined_order: VecDeque::new(),
        }
    }

    /// Keeps `genesis` (a verified genesis op) as an invitation announced by `peer`.
    pub(super) fn keep(&mut self, genesis: SignedOp, peer: PeerId, now_ms: u64) -> Kept {
        let partnership = genesis.partnership();
        if self.declined.contains(&partnership) {
            return Kept::Declined;
        }
        if let Some(pending) = self.pending.get_mut(&partnership) {
            pending.invitation.announced_by = peer;
            return Kept::Known;
        }
        let Payload::Genesis(charter) = &genesis.op().payload else { return Kept::Declined };
        let invitation = Invitation {
            partnership,
            name: charter.name.clone(),
            creator: genesis.author(),
            participants: charter.participants.clone(),
            received_ms: now_ms,
            announced_by: peer,
        };
        while self.pending.len() >= self.max {
            let Some(oldest) = self.order.pop_front() else { break };
            self.pending.remove(&oldest);
        }
        self.pending.insert(partnership, Pending { invitation, genesis });
        self.order.push_back(partnership);
        Kept::New
    }

    /// Every invitation, oldest first.
    pub(super) fn list(&self) -> Vec<Invitation> {
        self.order.iter().filter_map(|id| self.pending.get(id)).map(|p| p.invitation.clone()).collect()
    }

    /// How many are kept.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The genesis and announcing peer of one invitation.
    fn get(&self, partnership: &PartnershipId) -> Option<(SignedOp, PeerId)> {
        self.pending.get(partnership).map(|p| (p.genesis.clone(), p.invitation.announced_by))
    }

    /// Forgets an invitation (joined, or declined). Returns whether there was one.
    pub(super) fn remove(&mut self, partnership: &PartnershipId) -> bool {
        let had = self.pending.remove(partnership).is_some();
        if had {
            self.order.retain(|id| id != partnership);
        }
        had
    }

    /// Forgets an invitation and ignores its later announcements.
    fn decline(&mut self, partnership: PartnershipId) -> bool {
        if !self.remove(&partnership) {
            return false;
        }
        if self.declined.insert(partnership) {
            self.declined_order.push_back(partnership);
            while self.declined_order.len() > MAX_DECLINED {
                if let Some(oldest) = self.declined_order.pop_front() {
                    self.declined.remove(&oldest);
                }
            }
        }
        true
    }
}

impl NetworkHalf {
    /// The invitations waiting for the operator, oldest first.
    pub fn invitations(&self) -> Vec<Invitation> {
        self.invitations.list()
    }

    /// Accepts an invitation: joins the partnership as an announcement from
    /// a partner would have, fetching the module code the node lacks from
    /// the announcing peer, else from other connected peers (each asked
    /// with this member's hello). `reply` gets the outcome; the invitation
    /// stays if the join fails (missing code: connect to a partner's node,
    /// or upload the code, and accept again).
    pub fn accept_invitation(&mut self, core: &mut NodeCore, partnership: PartnershipId, reply: JoinReply) {
        if core.holds(&partnership) {
            self.invitations.remove(&partnership);
            let _ = reply.send(Ok(partnership));
            return;
        }
        let Some((genesis, announcer)) = self.invitations.get(&partnership) else {
            let _ = reply.send(Err(NodeError::UnknownInvitation(partnership)));
            return;
        };
        let Payload::Genesis(charter) = &genesis.op().payload else {
            let _ = reply.send(Err(NodeError::UnknownInvitation(partnership)));
            return;
        };
        let missing = core.missing_code(charter);
        if missing.is_empty() {
            if let Err(error) = self.join_fetched(core, genesis, Vec::new(), Some(reply)) {
                tracing::error!(%error, "joining an accepted invitation failed");
            }
            return;
        }
        let hello = self.hello_for(partnership);
        let (net, tx) = (self.net.clone(), self.fetch_tx.clone());
        let executor = std::sync::Arc::clone(core.executor());
        tokio::spawn(async move {
            let mut peers = vec![announcer];
            peers.extend(
                net.connected_peers().await.unwrap_or_default().into_iter().filter(|p| *p != announcer),
            );
            let mut best: Vec<Vec<u8>> = Vec::new();
            for peer in peers {
                let _ = net.request(peer, hello.clone()).await;
                let code =
                    super::discovery::fetch_code(&net, peer, &missing, std::sync::Arc::clone(&executor))
                        .await;
                if code.len() > best.len() {
                    best = code;
                }
                if best.len() == missing.len() {
                    break;
                }
            }
            let _ = tx
                .send(Fetched::Genesis { genesis: Box::new(genesis), code: best, reply: Some(reply) })
                .await;
        });
    }

    /// Declines an invitation: it is forgotten, and later announcements of
    /// the same partnership are ignored (until the node restarts).
    pub fn decline_invitation(&mut self, partnership: PartnershipId) -> Result<(), NodeError> {
        if self.invitations.decline(partnership) {
            tracing::info!(%partnership, "invitation declined");
            Ok(())
        } else {
            Err(NodeError::UnknownInvitation(partnership))
        }
    }

    /// Keeps an announced genesis from a stranger as an invitation.
    pub(super) fn invite(&mut self, genesis: SignedOp, peer: PeerId, now_ms: u64) {
        let (partnership, creator) = (genesis.partnership(), genesis.author());
        match self.invitations.keep(genesis, peer, now_ms) {
            Kept::New => {
                self.stats.announces_invited += 1;
                tracing::info!(
                    %partnership, %creator, %peer,
                    "a partnership naming this node's member was announced by a creator it has no partnership with; \
                     kept as an invitation (`polypact invitations`)"
                );
            }
            Kept::Known => {}
            Kept::Declined => self.stats.announces_ignored += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Charter, MemberKey, Params, UnsignedOp};

    fn genesis(seed: u8, name: &str) -> SignedOp {
        let key = MemberKey::from_seed(seed);
        let charter = Charter {
            name: name.into(),
            participants: vec![key.member_id(), MemberKey::from_seed(200).member_id()],
            modules: vec![],
            params: Params::default(),
            parent: None,
        };
        UnsignedOp {
            partnership: PartnershipId::default(),
            author: key.member_id(),
            seq: 1,
            parents: vec![],
            time_ms: 1,
            payload: Payload::Genesis(charter),
        }
        .sign(&key)
    }

    #[test]
    fn invitations_are_bounded_one_per_partnership_oldest_dropped() {
        let mut kept = Invitations::new(3);
        let peer = PeerId::random();
        let all: Vec<SignedOp> = (0..5).map(|i| genesis(i, &format!("p{i}"))).collect();
        for (i, g) in all.iter().enumerate() {
            assert_eq!(kept.keep(g.clone(), peer, i as u64), Kept::New);
        }
        // The same partnership again is one invitation, whoever announces it.
        let other = PeerId::random();
        assert_eq!(kept.keep(all[4].clone(), other, 99), Kept::Known);
        let list = kept.list();
        assert_eq!(list.len(), 3);
        let ids: Vec<PartnershipId> = list.iter().map(|i| i.partnership).collect();
        assert_eq!(ids, vec![all[2].partnership(), all[3].partnership(), all[4].partnership()]);
        assert_eq!(list[2].announced_by, other);
        assert_eq!(list[2].received_ms, 4, "the first receipt's time is kept");
        assert_eq!(list[0].name, "p2");
        assert_eq!(list[0].creator, MemberKey::from_seed(2).member_id());
    }

    #[test]
    fn a_declined_invitation_is_not_kept_again() {
        let mut kept = Invitations::new(4);
        let peer = PeerId::random();
        let g = genesis(1, "x");
        assert_eq!(kept.keep(g.clone(), peer, 1), Kept::New);
        assert!(kept.decline(g.partnership()));
        assert!(!kept.decline(g.partnership()), "declined once");
        assert_eq!(kept.keep(g.clone(), peer, 2), Kept::Declined);
        assert!(kept.list().is_empty());
        // Removing (joined) does not decline.
        let h = genesis(2, "y");
        kept.keep(h.clone(), peer, 3);
        assert!(kept.remove(&h.partnership()));
        assert_eq!(kept.keep(h, peer, 4), Kept::New);
    }
}
