//! Gossip in. A message is an envelope ([`crate::seal`]) opened under one
//! of the partnership's keys this node holds (one under a key it does not
//! hold yet is ignored from a partner's node, whose history is compared
//! soon, and rejected from any other peer; one that does not open is
//! rejected); the op inside is decoded (size, canonical encoding) and must
//! belong to the topic's partnership; then it is inserted through the
//! [`NodeCore`] (the ledger's front door: structure, signature,
//! participation policy), which persists what it accepts *before* the
//! verdict is reported. Accept forwards it; Reject (garbage, bad
//! signatures, another partnership's op, an author who is not a
//! participant) lowers the sender's gossip score; Ignore (duplicates, an op
//! held for the clock) neither forwards nor penalises. An op whose parents
//! are missing waits in the ledger's pending buffer; its parents are fetched
//! from the sender by id ([`super::fetch`]), and its verdict is reported
//! Accept once it gets in (or Ignore when it expires). Nothing is forwarded
//! blindly.
//!
//! Gossip is taken only from peers that act for an active participant
//! (bound, or proven by a sync `Hello`), as sync is served only to them;
//! from any other peer a bad op is still refused and penalised, and a good
//! one is ignored (sync brings it from a participant's node). On a resting
//! partnership's topic (`node/resting.rs`) another peer's message is
//! ignored unopened: opening it would load the ledger.
//!
//! Messages that have already arrived when the node turns to gossip are
//! taken together (up to [`GOSSIP_BATCH`]): their signatures are checked at
//! once and what they let in is persisted with one store commit, whatever
//! partnerships they belong to, so a burst of acks costs one commit, not
//! one per ack or per partnership.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::NetworkHalf;
use super::keyring::Opened;
use super::serve::peer_may_sync;
use crate::ledger::Refusal;
use crate::net::{MessageId, NetEvent, PeerId, Verdict};
use crate::node::clock::now_ms;
use crate::node::core::{NodeCore, Origin};
use crate::node::error::NodeError;
use crate::op::{OpId, PartnershipId, SignedOp, decode_signed_op};

/// Most gossip messages taken into one batch (one store commit).
pub const GOSSIP_BATCH: usize = 64;

/// One gossip message as it came off the network.
pub(super) struct GossipMessage {
    pub(super) partnership: PartnershipId,
    pub(super) data: Vec<u8>,
    pub(super) msg_id: MessageId,
    pub(super) source: PeerId,
}

/// A decoded gossip op waiting for the batch insert, with whom to answer.
struct GossipOp {
    op: SignedOp,
    msg_id: MessageId,
    source: PeerId,
}

pub(super) struct OpenVerdict {
    msg_id: MessageId,
    source: PeerId,
    since: Instant,
}

impl NetworkHalf {
    /// `first` and the gossip messages that have already arrived after it
    /// (up to [`GOSSIP_BATCH`]); the first other event ends the batch and is
    /// handed out next by [`next`](Self::next), so order is kept.
    pub(super) fn gossip_batch(&mut self, first: GossipMessage) -> Vec<GossipMessage> {
        let mut batch = vec![first];
        while batch.len() < GOSSIP_BATCH {
            match self.events.try_recv() {
                Ok(NetEvent::Gossip { partnership, data, msg_id, source }) => {
                    batch.push(GossipMessage { partnership, data, msg_id, source });
                }
                Ok(other) => {
                    self.backlog.push_back(other);
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }

    /// Checks a batch of gossip messages, reports the verdict of each one
    /// refused here, and inserts the rest per partnership.
    pub(super) async fn gossip(
        &mut self,
        core: &mut NodeCore,
        messages: Vec<GossipMessage>,
    ) -> Result<(), NodeError> {
        let mut by_partnership: BTreeMap<PartnershipId, Vec<GossipOp>> = BTreeMap::new();
        let mut in_batch: BTreeSet<OpId> = BTreeSet::new();
        for GossipMessage { partnership, data, msg_id, source } in messages {
            if !core.holds(&partnership) {
                self.report(msg_id, source, Verdict::Ignore).await;
                continue;
            };
            // A resting partnership is loaded for its partners' nodes only:
            // what another peer sends on its topic is ignored unopened (and
            // unpenalised; sync from a partner brings whatever is real), so
            // a stranger cannot make the node load what it holds.
            if !core.is_loaded(&partnership) && !peer_may_sync(core, &self.authorised, &partnership, &source)
            {
                self.stats.gossip_ignored_from_strangers += 1;
                self.report(msg_id, source, Verdict::Ignore).await;
                continue;
            }
            // The envelope first: under a key this node holds, or it waits
            // for the rekey op that brings the key (by sync, soon).
            let data = match self.open_gossip(core, &partnership, &data) {
                Opened::Op(bytes) => bytes,
                Opened::UnknownKey => {
                    self.stats.gossip_unknown_key += 1;
                    if peer_may_sync(core, &self.authorised, &partnership, &source) {
                        // A partner's node with a key this one lacks yet:
                        // its history brings the rekey op.
                        self.report(msg_id, source, Verdict::Ignore).await;
                        self.sync_soon(core, source, partnership);
                    } else {
                        // No key was ever sealed to a peer that acts for no
                        // participant: what it sends is made up.
                        self.stats.gossip_rejected_from_strangers += 1;
                        self.report(msg_id, source, Verdict::Reject).await;
                    }
                    continue;
                }
                Opened::Bad(error) => {
                    tracing::debug!(peer = %source, %error, "rejecting a gossip envelope");
                    self.report(msg_id, source, Verdict::Reject).await;
                    continue;
                }
            };
            let Some(ledger) = core.ledger(&partnership) else { continue };
            // Size and encoding here; structure and signature are checked
            // once, by the ledger, before anything is stored (a refusal maps
            // to Reject).
            let op = match decode_signed_op(&data, &self.limits) {
                Ok(op) => op,
                Err(error) => {
                    tracing::debug!(peer = %source, %error, "rejecting a gossip message");
                    self.report(msg_id, source, Verdict::Reject).await;
                    continue;
                }
            };
            if op.partnership() != partnership {
                self.report(msg_id, source, Verdict::Reject).await;
                continue;
            }
            let id = op.id();
            tracing::trace!(
                node = %self.key.member_id(), peer = %source, op = %id, author = %op.author(), seq = op.seq(),
                "gossip op in"
            );
            if ledger.dag().contains_op(&op) || self.open_verdicts.contains_key(&id) || !in_batch.insert(id) {
                self.report(msg_id, source, Verdict::Ignore).await;
                continue;
            }
            // Gossip is taken only from peers that act for a participant (bound
            // or proven by hello). From anyone else a bad op is still refused
            // and penalised; a good one is left to sync.
            if !peer_may_sync(core, &self.authorised, &partnership, &source) {
                let verdict = match core.precheck(&partnership, &op) {
                    Err(NodeError::Refused(refusal)) => verdict_for(&refusal),
                    Ok(()) | Err(_) => Verdict::Ignore,
                };
                tracing::debug!(peer = %source, op = %id, ?verdict, "gossip from a peer that acts for no participant");
                match verdict {
                    Verdict::Reject => self.stats.gossip_rejected_from_strangers += 1,
                    _ => self.stats.gossip_ignored_from_strangers += 1,
                }
                self.report(msg_id, source, verdict).await;
                continue;
            }
            by_partnership.entry(partnership).or_default().push(GossipOp { op, msg_id, source });
        }
        // Every partnership of the batch in one store commit.
        let mut answer_to: Vec<Vec<(OpId, MessageId, PeerId)>> = Vec::new();
        let mut batches = Vec::new();
        for (partnership, batch) in by_partnership {
            let (ops, answers): (Vec<SignedOp>, Vec<(OpId, MessageId, PeerId)>) = batch
                .into_iter()
                .map(|GossipOp { op, msg_id, source }| {
                    let id = op.id();
                    (op, (id, msg_id, source))
                })
                .unzip();
            batches.push((partnership, ops));
            answer_to.push(answers);
        }
        if batches.is_empty() {
            return Ok(());
        }
        let results = match core.insert_batches(batches, Origin::Fresh, now_ms()) {
            Ok(results) => results,
            Err(e @ NodeError::Store(_)) => return Err(e),
            Err(error) => {
                tracing::debug!(%error, "gossip ops not inserted");
                for (_, msg_id, source) in answer_to.into_iter().flatten() {
                    self.report(msg_id, source, Verdict::Ignore).await;
                }
                return Ok(());
            }
        };
        for ((partnership, results), answers) in results.into_iter().zip(answer_to) {
            self.gossip_inserted(core, partnership, answers, results).await;
        }
        Ok(())
    }

    /// Reports the verdict of each of one partnership's gossip messages
    /// once inserted, and fetches the parents still missing.
    async fn gossip_inserted(
        &mut self,
        core: &NodeCore,
        partnership: PartnershipId,
        answer_to: Vec<(OpId, MessageId, PeerId)>,
        results: Vec<Result<crate::ledger::Insertion, Refusal>>,
    ) {
        let mut missing: BTreeMap<PeerId, Vec<OpId>> = BTreeMap::new();
        for ((id, msg_id, source), result) in answer_to.into_iter().zip(results) {
            match result {
                Ok(insertion) => {
                    // Accepted and durable: forward it. Waiting for parents,
                    // or accepted but held for a group commit: later.
                    let durable = |op: &OpId| !core.is_held(&partnership, op);
                    if insertion.accepted.iter().any(|(a, _)| *a == id) && durable(&id) {
                        self.report(msg_id, source, Verdict::Accept).await;
                    } else {
                        self.open_verdicts.insert(id, OpenVerdict { msg_id, source, since: Instant::now() });
                    }
                    let released: Vec<OpId> = insertion
                        .accepted
                        .iter()
                        .map(|(a, _)| *a)
                        .filter(|a| *a != id && durable(a))
                        .collect();
                    self.close_verdicts(&released).await;
                    if !insertion.waiting_for.is_empty() {
                        tracing::debug!(
                            node = %self.key.member_id(), peer = %source, op = %id,
                            missing = ?insertion.waiting_for, "gossip op waits for parents"
                        );
                    }
                    missing.entry(source).or_default().extend(insertion.waiting_for);
                }
                Err(refusal) => {
                    let verdict = verdict_for(&refusal);
                    tracing::debug!(peer = %source, %refusal, ?verdict, "gossip op refused");
                    self.report(msg_id, source, verdict).await;
                }
            }
        }
        // Parents a later op of the batch brought in are not missing.
        for (source, mut ids) in missing {
            ids.sort();
            ids.dedup();
            if let Some(ledger) = core.ledger(&partnership) {
                ids.retain(|id| !ledger.dag().contains(id));
            }
            if !ids.is_empty() {
                self.fetch_missing(core, partnership, source, ids);
            }
        }
    }

    /// Reports Accept for ops that were waiting and are now durable.
    pub(super) async fn close_verdicts(&mut self, accepted: &[OpId]) {
        for id in accepted {
            if let Some(open) = self.open_verdicts.remove(id) {
                self.report(open.msg_id, open.source, Verdict::Accept).await;
            }
        }
    }

    pub(super) async fn expire_verdicts(&mut self) {
        let ttl = self.config.pending_verdict_ttl;
        let expired: Vec<OpId> =
            self.open_verdicts.iter().filter(|(_, v)| v.since.elapsed() >= ttl).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(open) = self.open_verdicts.remove(&id) {
                self.report(open.msg_id, open.source, Verdict::Ignore).await;
            }
        }
    }
}

/// The verdict on a gossip op the ledger refused.
fn verdict_for(refusal: &Refusal) -> Verdict {
    match refusal {
        // Honest peers send these too: a race, a clock, a full buffer.
        Refusal::Duplicate(_)
        | Refusal::TooFarAhead { .. }
        | Refusal::PendingFull { .. }
        | Refusal::Closed => Verdict::Ignore,
        // An honest peer accepted an op before forwarding it, under rules
        // that depend only on the op and its past: the rest is the sender's fault.
        _ => Verdict::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{MemberId, OpError};

    #[test]
    fn verdicts_penalise_only_what_honest_peers_never_send() {
        let id = OpId([1; 32]);
        assert_eq!(verdict_for(&Refusal::Duplicate(id)), Verdict::Ignore);
        assert_eq!(verdict_for(&Refusal::PendingFull { ops: 1, bytes: 1 }), Verdict::Ignore);
        assert_eq!(
            verdict_for(&Refusal::TooFarAhead { time_ms: 2, now_ms: 1, tolerance_ms: 0 }),
            Verdict::Ignore
        );
        assert_eq!(verdict_for(&Refusal::UnknownAuthor(MemberId([2; 32]))), Verdict::Reject);
        assert_eq!(
            verdict_for(&Refusal::Invalid(OpError::BadSignature { op: id, author: MemberId([2; 32]) })),
            Verdict::Reject
        );
        assert_eq!(verdict_for(&Refusal::SeqGap { seq: 3, known: 1 }), Verdict::Reject);
    }
}
