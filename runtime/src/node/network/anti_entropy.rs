//! Anti-entropy, per peer and batched across partnerships. Between two
//! peers one round compares the heads of every partnership they share that
//! needs it in one `Heads` request (a digest of each seq vector; the answer
//! names those that differ, with the peer's seq vector) and fetches what
//! this node lacks with `Ops` requests whose pages carry ops of several
//! partnerships. A partition heals and a late joiner catches up without any
//! gossip replay.
//!
//! What a round includes, so that idle partnerships cost nothing:
//!
//! - For each peer the node remembers the digest each shared partnership
//!   had when the two last found it equal (*agreed*). A partnership whose
//!   stored ops changed (reported by the core) is *unsettled*; on each
//!   periodic tick every unsettled partnership is compared with up to
//!   [`SyncConfig::anti_entropy_peers`](super::SyncConfig) of its peers
//!   whose agreed digest is not its current one, taken in turn, and it is
//!   settled once every peer of its topic agrees. An idle node sends no
//!   sync request at all.
//! - A peer that subscribes to a partnership's topic is compared with at
//!   once (a short coalescing delay gathers the subscriptions of a new
//!   connection into one round).
//! - A peer whose `Heads` request showed a difference is asked back soon
//!   ([`NetworkHalf::ask_back`]): if it had ops this node lacks, whose
//!   digests here did not change, this node would otherwise never ask.
//!
//! One round runs per peer at a time. Every request of a round is asked
//! again with backoff until answered ([`crate::net::NetHandle::request_retrying`]);
//! a round that still ends early (the peer is gone) leaves its
//! partnerships due with that peer, and a peer that reconnects subscribes
//! again. Each page's signatures are checked on all cores, off the node
//! loop, while the next page is fetched and the loop inserts the page
//! before.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Fetched, NetworkHalf};
use crate::net::sync::{
    HeadsDigest, HeadsEntry, MAX_HEADS_ENTRIES, MAX_RANGES_PER_REQUEST, PartnershipSeqs, Proof, SeqRange,
};
use crate::net::{NetHandle, PeerId, SyncRequest, SyncResponse, sync};
use crate::node::core::NodeCore;
use crate::op::{Limits, MemberId, PartnershipId, SignedOp, check_signatures, decode_signed_op};

/// How long a round asked for "soon" waits, so that what asks for it in a
/// burst (the subscriptions of a new connection) shares one round.
const COALESCE: Duration = Duration::from_millis(20);

/// The anti-entropy book of a node (see the module doc).
#[derive(Default)]
pub(super) struct AntiEntropy {
    peers: BTreeMap<PeerId, PeerSync>,
    /// Partnerships that may differ from some peer's agreed digest.
    unsettled: BTreeSet<PartnershipId>,
    /// Where each partnership's next choice of peers starts.
    turns: BTreeMap<PartnershipId, usize>,
    /// Rounds counter, so a round's end is matched to its peer's current book.
    rounds: u64,
}

/// What this node keeps about syncing with one peer.
#[derive(Default)]
struct PeerSync {
    /// Each shared partnership's digest when the two last found it equal.
    agreed: BTreeMap<PartnershipId, HeadsDigest>,
    /// Partnerships to compare in the next round with this peer.
    due: BTreeSet<PartnershipId>,
    /// When the next round with this peer starts, if one is asked for.
    soon: Option<Instant>,
    /// The round running with this peer, if any.
    running: Option<u64>,
    /// When the last round with this peer started.
    last_round: Option<Instant>,
}

/// What a round found, handed back to the node loop after its pages.
#[derive(Debug)]
pub struct RoundDone {
    round: u64,
    /// Partnerships found equal, with the digest sent.
    equal: Vec<(PartnershipId, HeadsDigest)>,
    /// Partnerships that differed, with the peer's digest.
    differed: Vec<(PartnershipId, HeadsDigest)>,
    /// Partnerships the peer would not sync with this node.
    denied: Vec<PartnershipId>,
    /// Partnerships the round did not get to (the peer went away).
    unanswered: Vec<PartnershipId>,
}

impl AntiEntropy {
    /// Partnerships whose stored ops changed: compared again.
    pub(super) fn changed(&mut self, partnerships: impl IntoIterator<Item = PartnershipId>) {
        self.unsettled.extend(partnerships);
    }

    /// `peer` asked about `partnership` with the digest this node has too:
    /// they agree, and neither needs a round about it until it changes.
    pub(super) fn agree(&mut self, peer: PeerId, partnership: PartnershipId, digest: HeadsDigest) {
        let book = self.peers.entry(peer).or_default();
        // Asked for soon, it is still compared: the ask came before this.
        if !book.due.contains(&partnership) {
            book.agreed.insert(partnership, digest);
        }
    }

    /// Forgets a peer that disconnected (its next connection starts afresh).
    pub(super) fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Whether a periodic tick has anything to do.
    fn idle(&self) -> bool {
        self.unsettled.is_empty() && self.peers.values().all(|p| p.due.is_empty())
    }

    /// When the earliest round asked for soon starts.
    pub(super) fn next_soon(&self) -> Option<Instant> {
        self.peers.values().filter(|p| p.running.is_none()).filter_map(|p| p.soon).min()
    }

    /// Asks for a round with `peer` about `partnership` soon, however its
    /// digests compared before; `min_gap`: no sooner than this after the
    /// last round with it started.
    fn want(&mut self, peer: PeerId, partnership: PartnershipId, min_gap: Duration) {
        let book = self.peers.entry(peer).or_default();
        book.agreed.remove(&partnership);
        book.due.insert(partnership);
        let mut at = Instant::now() + COALESCE;
        if let Some(last) = book.last_round {
            at = at.max(last + min_gap);
        }
        book.soon = Some(book.soon.map_or(at, |soon| soon.min(at)));
    }

    /// Moves the unsettled partnerships into their peers' due sets: each
    /// with up to `count` of the peers (in `by_partnership`) whose agreed
    /// digest is not `digest(p)`, in turn. Settled ones leave the set.
    fn choose(
        &mut self,
        by_partnership: &BTreeMap<PartnershipId, Vec<PeerId>>,
        count: usize,
        mut digest: impl FnMut(&PartnershipId) -> Option<HeadsDigest>,
    ) {
        for partnership in std::mem::take(&mut self.unsettled) {
            let (Some(peers), Some(ours)) = (by_partnership.get(&partnership), digest(&partnership)) else {
                continue;
            };
            let disagreeing: Vec<PeerId> = peers
                .iter()
                .filter(|peer| {
                    self.peers.get(peer).is_none_or(|book| book.agreed.get(&partnership) != Some(&ours))
                })
                .copied()
                .collect();
            if disagreeing.is_empty() {
                continue;
            }
            let turn = self.turns.entry(partnership).or_insert(0);
            let chosen = peers_in_turn(&disagreeing, *turn, count.max(1));
            *turn = turn.wrapping_add(chosen.len());
            for peer in chosen {
                self.peers.entry(peer).or_default().due.insert(partnership);
            }
            self.unsettled.insert(partnership);
        }
    }
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

impl NetworkHalf {
    /// The periodic anti-entropy tick: compares the unsettled partnerships
    /// with some of their peers. Does nothing (not even ask the network)
    /// while nothing changed.
    pub(super) async fn anti_entropy_tick(&mut self, core: &NodeCore) {
        if self.anti_entropy.idle() {
            return;
        }
        let by_partnership = self.net.peers_by_partnership().await.unwrap_or_default();
        let count = self.config.anti_entropy_peers;
        self.anti_entropy.choose(&by_partnership, count, |p| digest_of(core, p));
        let peers: Vec<PeerId> = self
            .anti_entropy
            .peers
            .iter()
            .filter(|(_, book)| !book.due.is_empty() && book.running.is_none())
            .map(|(peer, _)| *peer)
            .collect();
        for peer in peers {
            self.start_round(core, peer);
        }
    }

    /// Starts the rounds asked for soon whose time has come.
    pub(super) fn start_due_rounds(&mut self, core: &NodeCore) {
        let now = Instant::now();
        let peers: Vec<PeerId> = self
            .anti_entropy
            .peers
            .iter()
            .filter(|(_, book)| book.running.is_none() && book.soon.is_some_and(|at| at <= now))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in peers {
            self.start_round(core, peer);
        }
    }

    /// A peer subscribed to `partnership`'s topic, or a fetch needs its
    /// history: compare the partnership with it soon.
    pub(super) fn sync_soon(&mut self, core: &NodeCore, peer: PeerId, partnership: PartnershipId) {
        if !core.holds(&partnership) || !self.subscribed.contains(&partnership) {
            return;
        }
        self.anti_entropy.want(peer, partnership, Duration::ZERO);
    }

    /// `peer`'s `Heads` request showed `partnership` differing here: the
    /// peer may hold ops this node lacks, so this node compares with it
    /// soon too (at most a third of an anti-entropy interval after its
    /// last round with the peer, so two nodes that cannot agree, an op
    /// held back for the clock say, do not keep each other busy).
    pub(super) fn ask_back(&mut self, peer: PeerId, partnership: PartnershipId) {
        if !self.subscribed.contains(&partnership) {
            return;
        }
        let gap = self.config.anti_entropy_interval / 3;
        self.anti_entropy.want(peer, partnership, gap);
    }

    /// Starts a round with `peer` over its due partnerships, unless one runs.
    fn start_round(&mut self, core: &NodeCore, peer: PeerId) {
        let due = match self.anti_entropy.peers.get_mut(&peer) {
            Some(book) if book.running.is_none() => {
                book.soon = None;
                std::mem::take(&mut book.due)
            }
            _ => return,
        };
        let mut ours = BTreeMap::new();
        let mut entries = Vec::new();
        for partnership in due {
            if !core.holds(&partnership) || !self.subscribed.contains(&partnership) {
                continue;
            }
            match core.store().author_seqs(&partnership) {
                Ok(seqs) => {
                    entries.push(HeadsEntry { partnership, digest: HeadsDigest::of(&seqs) });
                    ours.insert(partnership, seqs);
                }
                Err(error) => {
                    tracing::warn!(%partnership, %error, "cannot read author seqs for anti-entropy")
                }
            }
        }
        if entries.is_empty() {
            return;
        }
        self.anti_entropy.rounds += 1;
        let round = self.anti_entropy.rounds;
        if let Some(book) = self.anti_entropy.peers.get_mut(&peer) {
            book.running = Some(round);
            book.last_round = Some(Instant::now());
        }
        let me = self.net.local_peer_id();
        let requests: Vec<(Vec<HeadsEntry>, Proof)> = entries
            .chunks(MAX_HEADS_ENTRIES)
            .map(|chunk| {
                let partnerships: Vec<PartnershipId> = chunk.iter().map(|e| e.partnership).collect();
                (chunk.to_vec(), sync::prove(&self.key, &partnerships, &me))
            })
            .collect();
        tracing::debug!(node = %self.key.member_id(), %peer, partnerships = entries.len(), "anti-entropy round");
        let session = Round {
            net: self.net.clone(),
            peer,
            round,
            ours,
            page: self.config.page_ops.clamp(1, sync::MAX_PAGE_OPS),
            tx: self.fetch_tx.clone(),
            limits: self.limits,
            done: RoundDone {
                round,
                equal: Vec::new(),
                differed: Vec::new(),
                denied: Vec::new(),
                unanswered: Vec::new(),
            },
        };
        tokio::spawn(session.run(requests));
    }

    /// A round with `peer` ended (its pages are inserted: they came first on
    /// the same channel). Records what now agrees, keeps the rest due or
    /// unsettled, and notes the partnerships whose heads a peer answered
    /// (the node has seen its member's history as the network knows it).
    pub(super) fn round_done(&mut self, core: &NodeCore, peer: PeerId, done: RoundDone) {
        let Some(book) = self.anti_entropy.peers.get_mut(&peer) else { return };
        if book.running != Some(done.round) {
            return;
        }
        book.running = None;
        for (partnership, digest) in &done.equal {
            book.agreed.insert(*partnership, *digest);
        }
        for (partnership, theirs) in &done.differed {
            // Equal now if this node fetched what it lacked and the peer
            // lacked nothing; else compared again.
            if digest_of(core, partnership) == Some(*theirs) {
                book.agreed.insert(*partnership, *theirs);
            } else {
                book.agreed.remove(partnership);
                self.anti_entropy.unsettled.insert(*partnership);
            }
        }
        if !done.unanswered.is_empty() {
            // Nothing is left waiting for an exchange that did not happen.
            book.due.extend(done.unanswered.iter().copied());
            let at = Instant::now() + self.config.anti_entropy_interval;
            book.soon = Some(book.soon.map_or(at, |soon| soon.min(at)));
        }
        if !book.due.is_empty() && book.soon.is_none() {
            book.soon = Some(Instant::now() + COALESCE);
        }
        self.anti_entropy.unsettled.extend(done.denied.iter().copied());
        for (partnership, _) in done.equal.iter().chain(&done.differed) {
            if self.caught_up.insert(*partnership) {
                // It may bind its peer id now.
                self.to_follow.insert(*partnership);
            }
        }
    }
}

/// The digest of `partnership`'s stored seq vector here.
fn digest_of(core: &NodeCore, partnership: &PartnershipId) -> Option<HeadsDigest> {
    core.store().author_seqs(partnership).ok().map(|seqs| HeadsDigest::of(&seqs))
}

/// One anti-entropy round with one peer: heads of every due partnership,
/// then the missing ranges of all of them, page by page.
struct Round {
    net: NetHandle,
    peer: PeerId,
    round: u64,
    /// This node's seq vectors of the partnerships asked about.
    ours: BTreeMap<PartnershipId, BTreeMap<MemberId, u64>>,
    page: u32,
    tx: mpsc::Sender<Fetched>,
    limits: Limits,
    done: RoundDone,
}

/// A range still to fetch: `(partnership, author, next seq, last seq the peer has)`.
type Wanted = (PartnershipId, MemberId, u64, u64);

impl Round {
    async fn run(mut self, requests: Vec<(Vec<HeadsEntry>, Proof)>) {
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut requests = requests.into_iter();
        while let Some((entries, proof)) = requests.next() {
            if !self.heads(entries, proof, &mut wanted).await {
                for (entries, _) in requests.by_ref() {
                    self.done.unanswered.extend(entries.iter().map(|e| e.partnership));
                }
            }
        }
        if !self.fetch(wanted).await {
            return;
        }
        let round = self.round;
        tracing::trace!(peer = %self.peer, round, "anti-entropy round done");
        let _ = self.tx.send(Fetched::RoundDone { peer: self.peer, done: self.done }).await;
    }

    /// Asks the peer for one chunk's heads (again for what one answer left
    /// out), and notes what to fetch. Returns false when the peer stopped
    /// answering (the rest is noted unanswered).
    async fn heads(&mut self, mut entries: Vec<HeadsEntry>, proof: Proof, wanted: &mut Vec<Wanted>) -> bool {
        // The proof covers the whole chunk; the peer keeps what it proved
        // for the connection, so what it left unanswered is asked without.
        let mut proof = Some(proof);
        while !entries.is_empty() {
            let request = SyncRequest::Heads { entries: entries.clone(), proof: proof.take() };
            let (differ, denied, answered) = match self.net.request_retrying(self.peer, request).await {
                Ok(SyncResponse::Heads { differ, denied, answered }) if answered > 0 => {
                    (differ, denied, (answered as usize).min(entries.len()))
                }
                Ok(other) => {
                    tracing::debug!(peer = %self.peer, ?other, "anti-entropy heads not answered");
                    self.done.unanswered.extend(entries.iter().map(|e| e.partnership));
                    return false;
                }
                Err(error) => {
                    tracing::debug!(peer = %self.peer, %error, "anti-entropy heads failed");
                    self.done.unanswered.extend(entries.iter().map(|e| e.partnership));
                    return false;
                }
            };
            let rest = entries.split_off(answered);
            let denied: BTreeSet<PartnershipId> = denied.into_iter().collect();
            let differ: BTreeMap<PartnershipId, Vec<(MemberId, u64)>> =
                differ.into_iter().map(|PartnershipSeqs { partnership, seqs }| (partnership, seqs)).collect();
            for entry in entries {
                let partnership = entry.partnership;
                if denied.contains(&partnership) {
                    self.done.denied.push(partnership);
                } else if let Some(seqs) = differ.get(&partnership) {
                    let theirs = HeadsDigest::of(seqs.iter().map(|(author, seq)| (author, seq)));
                    self.done.differed.push((partnership, theirs));
                    let ours = self.ours.get(&partnership);
                    for (author, last) in seqs {
                        let have = ours.and_then(|o| o.get(author)).copied().unwrap_or(0);
                        if *last > have {
                            wanted.push((partnership, *author, have + 1, *last));
                        }
                    }
                } else {
                    self.done.equal.push((partnership, entry.digest));
                }
            }
            entries = rest;
        }
        true
    }

    /// Fetches `wanted` in pages of many ranges. Returns false when the node
    /// loop is gone.
    async fn fetch(&mut self, mut wanted: Vec<Wanted>) -> bool {
        let mut checking: Option<JoinHandle<Vec<SignedOp>>> = None;
        while !wanted.is_empty() {
            let asked: Vec<SeqRange> = wanted
                .iter()
                .take(MAX_RANGES_PER_REQUEST)
                .map(|&(partnership, author, next, last)| SeqRange {
                    partnership,
                    author,
                    from_seq: next,
                    limit: u32::try_from((last - next + 1).min(u64::from(self.page))).unwrap_or(self.page),
                })
                .collect();
            let request = SyncRequest::Ops { ranges: asked.clone() };
            let (ops, done) = match self.net.request_retrying(self.peer, request).await {
                Ok(SyncResponse::Page { ops, done }) => (ops, (done as usize).min(asked.len())),
                other => {
                    tracing::debug!(peer = %self.peer, ?other, "anti-entropy page not answered");
                    break;
                }
            };
            // Each op must fall in a range asked for; the highest seq got per range.
            let index: BTreeMap<(PartnershipId, MemberId), usize> =
                asked.iter().enumerate().map(|(i, r)| ((r.partnership, r.author), i)).collect();
            let mut highest: Vec<Option<u64>> = vec![None; asked.len()];
            let ops: Vec<SignedOp> = ops
                .iter()
                .filter_map(|bytes| decode_signed_op(bytes, &self.limits).ok())
                .filter(|op| {
                    let Some(&i) = index.get(&(op.partnership(), op.author())) else { return false };
                    let range = &asked[i];
                    let within =
                        op.seq() >= range.from_seq && op.seq() < range.from_seq + u64::from(range.limit);
                    if within {
                        highest[i] = highest[i].max(Some(op.seq()));
                    }
                    within
                })
                .collect();
            if ops.is_empty() && done == 0 {
                // No progress: a peer that answers so is not followed further.
                tracing::debug!(peer = %self.peer, "anti-entropy page made no progress");
                break;
            }
            if !ops.is_empty() {
                // This page's signatures are checked while the next page is
                // fetched; the page before goes to the node loop meanwhile.
                if let Some(previous) = checking.replace(check_signatures_ahead(ops))
                    && !self.deliver(previous).await
                {
                    return false;
                }
            }
            // Ranges asked: finished when served in full without more to
            // come, or when the peer's last seq is in; else from the next
            // seq, behind the ranges this page did not reach, so that each
            // author's ops come in turn (an author's page waits for the
            // others' ops it builds on, within the pending buffer's room).
            let mut unreached: Vec<Wanted> = Vec::with_capacity(wanted.len());
            let mut again: Vec<Wanted> = Vec::new();
            for (i, item) in wanted.iter().enumerate() {
                let (partnership, author, _, last) = *item;
                match highest.get(i).copied().flatten() {
                    _ if i >= asked.len() => unreached.push(*item),
                    Some(high) if high >= last => {}
                    Some(high) => again.push((partnership, author, high + 1, last)),
                    None if i < done => {}
                    None => unreached.push(*item),
                }
            }
            unreached.extend(again);
            wanted = unreached;
        }
        match checking {
            Some(last) => self.deliver(last).await,
            None => true,
        }
    }

    /// Hands a fetched page to the node loop once its signature check is
    /// done. Returns false when the node loop is gone.
    async fn deliver(&self, checking: JoinHandle<Vec<SignedOp>>) -> bool {
        // Only a panic in the check could lose the page; anti-entropy asks again.
        let ops = checking.await.unwrap_or_default();
        self.tx.send(Fetched::Ops { peer: self.peer, ops }).await.is_ok()
    }
}

/// Starts the signature check of every op of a fetched page on the blocking
/// pool, across all cores, so the node loop (busy inserting the page before)
/// only looks the verdicts up ([`SignedOp::check_signature`] keeps them).
/// Refusing is still the ledger's call; this decides nothing.
fn check_signatures_ahead(ops: Vec<SignedOp>) -> JoinHandle<Vec<SignedOp>> {
    tokio::task::spawn_blocking(move || {
        check_signatures(&ops);
        ops
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_peers(n: usize) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        peers.sort();
        peers
    }

    #[test]
    fn anti_entropy_rounds_ask_every_peer_in_turn() {
        let peers = sorted_peers(5);
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

    #[test]
    fn a_changed_partnership_is_compared_until_every_peer_agrees_then_costs_nothing() {
        let peers = sorted_peers(5);
        let p = PartnershipId([1; 32]);
        let by: BTreeMap<PartnershipId, Vec<PeerId>> = [(p, peers.clone())].into();
        let digest = HeadsDigest([7; 32]);
        let mut book = AntiEntropy::default();
        assert!(book.idle());
        book.changed([p]);
        let mut rounds = 0;
        while !book.idle() {
            rounds += 1;
            assert!(rounds < 10, "never settles");
            book.choose(&by, 2, |_| Some(digest));
            for peer in &peers {
                let Some(sync) = book.peers.get_mut(peer) else { continue };
                // Each round, the chosen peers find it equal.
                if sync.due.remove(&p) {
                    sync.agreed.insert(p, digest);
                }
            }
        }
        // Two at a time over five peers: three rounds, then a fourth tick
        // that finds every peer agreeing.
        assert_eq!(rounds, 4);
        assert!(peers.iter().all(|peer| book.peers[peer].agreed.get(&p) == Some(&digest)));
        // Unchanged since: the next ticks do nothing.
        book.choose(&by, 2, |_| Some(digest));
        assert!(book.idle());
        // A new digest makes every peer disagree again.
        book.changed([p]);
        book.choose(&by, 2, |_| Some(HeadsDigest([8; 32])));
        assert_eq!(book.peers.values().filter(|s| s.due.contains(&p)).count(), 2);
    }

    #[test]
    fn a_partnership_nobody_shares_is_settled_at_once() {
        let mut book = AntiEntropy::default();
        book.changed([PartnershipId([1; 32])]);
        book.choose(&BTreeMap::new(), 2, |_| Some(HeadsDigest([0; 32])));
        assert!(book.idle());
    }

    #[test]
    fn rounds_asked_for_soon_are_spaced_after_the_last_one() {
        let peer = PeerId::random();
        let p = PartnershipId([1; 32]);
        let mut book = AntiEntropy::default();
        book.want(peer, p, Duration::from_secs(1));
        let first = book.next_soon().expect("a round soon");
        assert!(first <= Instant::now() + COALESCE);
        book.peers.get_mut(&peer).expect("book").last_round = Some(Instant::now());
        book.peers.get_mut(&peer).expect("book").soon = None;
        book.want(peer, p, Duration::from_secs(1));
        assert!(book.next_soon().expect("a round") >= Instant::now() + Duration::from_millis(900));
        // A running round hides its peer's next one until it ends.
        book.peers.get_mut(&peer).expect("book").running = Some(1);
        assert_eq!(book.next_soon(), None);
    }
}
