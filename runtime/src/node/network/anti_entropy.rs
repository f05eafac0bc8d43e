//! Anti-entropy. When a peer subscribes to a partnership's topic and every
//! few seconds, the node asks some of the topic's peers (in turn) for their
//! per-author seq vectors and fetches what it lacks by author and seq range,
//! one page per author in turn, inserting them as synced history. A
//! partition heals and a late joiner catches up without any gossip replay.
//! The session checks each page's signatures (on all cores, off the node
//! loop) while it fetches the next page and the loop inserts the page
//! before; the loop finds the verdicts made. One session runs per
//! partnership at a time; a request for another while it runs is kept and
//! honoured when it ends.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Fetched, NetworkHalf};
use crate::net::{NetHandle, PeerId, SyncRequest, SyncResponse, sync};
use crate::node::core::NodeCore;
use crate::op::{Limits, MemberId, PartnershipId, SignedOp, decode_signed_op};

impl NetworkHalf {
    /// Starts an anti-entropy session for `partnership` with `peers` (or the
    /// next of the topic's peers in turn, [`SyncConfig::anti_entropy_peers`]),
    /// unless one is running (then one follows it).
    pub(super) fn start_session(
        &mut self,
        core: &NodeCore,
        partnership: PartnershipId,
        peers: Option<Vec<PeerId>>,
    ) {
        if !self.subscribed.contains(&partnership) {
            return;
        }
        if self.sessions.contains(&partnership) {
            self.session_wanted.insert(partnership);
            return;
        }
        let ours = match core.store().author_seqs(&partnership) {
            Ok(seqs) => seqs,
            Err(error) => {
                tracing::warn!(%partnership, %error, "cannot read author seqs for anti-entropy");
                return;
            }
        };
        self.sessions.insert(partnership);
        tracing::debug!(node = %self.key.member_id(), %partnership, ?peers, "anti-entropy session");
        let peers = peers.map(Asked::These).unwrap_or_else(|| {
            let count = self.config.anti_entropy_peers.max(1);
            let turn = self.anti_entropy_turns.entry(partnership).or_insert(0);
            let from = *turn;
            *turn = turn.wrapping_add(count);
            Asked::InTurn { from, count }
        });
        let session = Session {
            hello: self.hello_for(partnership),
            net: self.net.clone(),
            partnership,
            ours,
            page: self.config.page_ops.clamp(1, sync::MAX_PAGE_OPS),
            tx: self.fetch_tx.clone(),
            limits: self.limits,
            heard: false,
        };
        tokio::spawn(session.run(peers));
    }
}

/// Whom a sync session asks.
enum Asked {
    /// These peers.
    These(Vec<PeerId>),
    /// `count` of the topic's peers, in the order of their ids, from the
    /// `from`-th on (wrapping around).
    InTurn { from: usize, count: usize },
}

/// `count` of `peers` (sorted) from the `from`-th on, wrapping around, each
/// at most once: successive rounds that advance `from` by `count` ask every
/// peer in turn, whatever the number of peers.
fn peers_in_turn(peers: &[PeerId], from: usize, count: usize) -> Vec<PeerId> {
    if peers.is_empty() {
        return Vec::new();
    }
    let start = from % peers.len();
    (0..count.min(peers.len())).map(|i| peers[(start + i) % peers.len()]).collect()
}

/// One anti-entropy session: heads from each peer, then the missing ranges
/// page by page, one author after the other in turn.
struct Session {
    net: NetHandle,
    hello: SyncRequest,
    partnership: PartnershipId,
    ours: BTreeMap<MemberId, u64>,
    page: u32,
    tx: mpsc::Sender<Fetched>,
    limits: Limits,
    heard: bool,
}

impl Session {
    async fn run(mut self, peers: Asked) {
        let partnership = self.partnership;
        let peers = match peers {
            Asked::These(peers) => peers,
            Asked::InTurn { from, count } => {
                let mut topic = self.net.topic_peers(partnership).await.unwrap_or_default();
                topic.sort();
                peers_in_turn(&topic, from, count)
            }
        };
        for peer in peers {
            if !self.with_peer(peer).await {
                break;
            }
        }
        let heard = self.heard;
        let _ = self.tx.send(Fetched::SessionDone { partnership, heard }).await;
    }

    /// Returns false when the node loop is gone.
    async fn with_peer(&mut self, peer: PeerId) -> bool {
        let partnership = self.partnership;
        // Proves this node's member; a peer that already knows our binding
        // answers Welcome too. A Denied here shows in the Heads answer.
        let _ = self.net.request(peer, self.hello.clone()).await;
        let seqs = match self.net.request(peer, SyncRequest::Heads { partnership }).await {
            Ok(SyncResponse::Heads { seqs }) => seqs,
            _ => return true,
        };
        self.heard = true;
        // (author, next seq wanted, last seq the peer has)
        let mut wanted: Vec<(MemberId, u64, u64)> = seqs
            .into_iter()
            .filter_map(|(author, theirs)| {
                let have = self.ours.get(&author).copied().unwrap_or(0);
                (theirs > have).then_some((author, have + 1, theirs))
            })
            .collect();
        let mut checking: Option<JoinHandle<Vec<SignedOp>>> = None;
        while !wanted.is_empty() {
            let mut i = 0;
            while i < wanted.len() {
                let (author, next, last) = wanted[i];
                let limit = u32::try_from((last - next + 1).min(u64::from(self.page))).unwrap_or(self.page);
                let request = SyncRequest::OpsByAuthor { partnership, author, from_seq: next, limit };
                let ops = match self.net.request(peer, request).await {
                    Ok(SyncResponse::Ops { ops, .. }) => ops,
                    _ => Vec::new(),
                };
                let end = next + u64::from(limit);
                let ops: Vec<SignedOp> = ops
                    .iter()
                    .filter_map(|bytes| decode_signed_op(bytes, &self.limits).ok())
                    .filter(|op| op.author() == author && op.seq() >= next && op.seq() < end)
                    .collect();
                let Some(highest) = ops.iter().map(SignedOp::seq).max() else {
                    wanted.swap_remove(i);
                    continue;
                };
                // This page's signatures are checked while the next page is
                // fetched; the page before goes to the node loop meanwhile.
                if let Some(previous) = checking.replace(check_signatures_ahead(ops))
                    && !self.deliver(peer, previous).await
                {
                    return false;
                }
                self.ours.insert(author, highest);
                if highest >= last {
                    wanted.swap_remove(i);
                } else {
                    wanted[i].1 = highest + 1;
                    i += 1;
                }
            }
        }
        match checking {
            Some(last) => self.deliver(peer, last).await,
            None => true,
        }
    }

    /// Hands a fetched page to the node loop once its signature check is
    /// done. Returns false when the node loop is gone.
    async fn deliver(&self, peer: PeerId, checking: JoinHandle<Vec<SignedOp>>) -> bool {
        // Only a panic in the check could lose the page; anti-entropy asks again.
        let ops = checking.await.unwrap_or_default();
        self.tx.send(Fetched::Ops { partnership: self.partnership, peer, ops }).await.is_ok()
    }
}

/// Starts the signature check of every op of a fetched page on the blocking
/// pool, across all cores, so the node loop (busy inserting the page before)
/// only looks the verdicts up ([`SignedOp::check_signature`] keeps them).
/// Refusing is still the ledger's call; this decides nothing.
fn check_signatures_ahead(ops: Vec<SignedOp>) -> JoinHandle<Vec<SignedOp>> {
    use rayon::prelude::*;
    tokio::task::spawn_blocking(move || {
        ops.par_iter().for_each(|op| {
            let _ = op.check_signature();
        });
        ops
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anti_entropy_rounds_ask_every_peer_in_turn() {
        let peers: Vec<PeerId> = {
            let mut peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
            peers.sort();
            peers
        };
        // Five rounds of two over five peers: ten asks, every peer twice.
        let mut asked: BTreeMap<PeerId, usize> = BTreeMap::new();
        for round in 0..5 {
            let these = peers_in_turn(&peers, round * 2, 2);
            assert_eq!(these.len(), 2);
            assert_ne!(these[0], these[1]);
            for peer in these {
                *asked.entry(peer).or_default() += 1;
            }
        }
        assert_eq!(asked.len(), 5);
        assert!(asked.values().all(|&n| n == 2), "{asked:?}");
        // More asked than there are peers: each once.
        let both = peers_in_turn(&peers[..2], 7, 4);
        assert_eq!(both.len(), 2);
        assert_ne!(both[0], both[1]);
        assert!(peers_in_turn(&[], 3, 2).is_empty());
        // A turn counter that wraps still picks valid peers.
        assert_eq!(peers_in_turn(&peers, usize::MAX, 2).len(), 2);
    }
}
