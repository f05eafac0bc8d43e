//! Sync serving. Requests are answered from the store, and only about
//! partnerships in which the asking peer acts for an active participant:
//! bound (`Payload::BindPeer`, executed in the ledger) or proven on this
//! connection by a member's signature (a `Hello` for one partnership, a
//! `Proof` in a `Heads` request for many). A partnership the node does not
//! hold is denied like one the peer may not see, so a stranger cannot
//! probe which partnerships a node holds; in a request about many, each
//! partnership is judged on its own. Each peer has a token bucket of
//! [`SyncConfig::sync_requests_per_sec`](super::SyncConfig); past it the
//! answer is `Busy` (and the peer asks again). Answers are bounded by the
//! `net` module's sync limits. A `Heads` request that shows a partnership
//! differing makes this node ask that peer back
//! ([`NetworkHalf::ask_back`]).

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::NetworkHalf;
use super::discovery::Screened;
use crate::net::sync::{HeadsDigest, HeadsEntry, PartnershipSeqs, Proof};
use crate::net::{PeerId, SyncRequest, SyncResponder, SyncResponse, sync};
use crate::node::core::NodeCore;
use crate::op::{MemberId, PartnershipId, SignedOp};
use crate::seal;
use crate::store::StoreError;

/// How many screened announcements a node remembers.
const SCREENED_REMEMBERED: usize = 4096;

impl NetworkHalf {
    /// Answers a sync request from the store, to bound peers only.
    pub(super) async fn serve(
        &mut self,
        core: &mut NodeCore,
        peer: PeerId,
        request: SyncRequest,
        responder: SyncResponder,
    ) {
        if !self.take_token(peer) {
            self.stats.sync_busy += 1;
            let _ = self.net.respond(responder, SyncResponse::Busy).await;
            return;
        }
        let response = match request {
            SyncRequest::Hello { partnership, member, signature } => {
                let active = core.roster(&partnership).is_some_and(|r| r.awaits(&member));
                if active && sync::verify_hello(&partnership, &member, &signature, &peer) {
                    self.authorised.insert((partnership, peer), member);
                    if !self.known_peers.contains(&peer) {
                        // A participant's node: it keeps its connection.
                        self.tell_known_peers(core).await;
                    }
                    SyncResponse::Welcome
                } else {
                    SyncResponse::Denied
                }
            }
            SyncRequest::Announce { geneses } if geneses.len() <= sync::MAX_GENESES_PER_ANNOUNCE => {
                // Each announcement is sealed to its founders: opening it
                // costs a Diffie-Hellman and a tag check per slot, paid in
                // tokens before it is tried ([`seal::announcement_cost`];
                // the request's own token pays one), so a batch costs what
                // as many requests did. Past the bucket, the rest is refused as busy
                // (and asked again). One that opened for no one here is
                // remembered and not tried again.
                let mut paid = 1usize;
                let mut response = SyncResponse::Noted;
                for bytes in &geneses {
                    let digest = *blake3::hash(bytes).as_bytes();
                    match self.screened_announcements.get(&digest) {
                        // Not for this member, or for a partnership it holds.
                        Some(None) => continue,
                        Some(Some(partnership)) if core.holds(partnership) => continue,
                        _ => {}
                    }
                    let cost = seal::announcement_cost(bytes);
                    let owed = cost.saturating_sub(std::mem::take(&mut paid));
                    if owed > 0 && !self.take_tokens(peer, owed) {
                        self.stats.sync_busy += 1;
                        response = SyncResponse::Busy;
                        break;
                    }
                    match self.screen_announced(core, bytes) {
                        Screened::Genesis(genesis) => {
                            self.remember_screened(digest, Some(genesis.partnership()));
                            self.announced(core, peer, *genesis);
                        }
                        Screened::Held(partnership) => self.remember_screened(digest, Some(partnership)),
                        Screened::NotForUs => self.remember_screened(digest, None),
                        Screened::Ignored => {}
                    }
                }
                response
            }
            SyncRequest::Heads { entries, proof } if entries.len() <= sync::MAX_HEADS_ENTRIES => {
                self.heads(core, peer, entries, proof).await
            }
            request => answer(core, &self.authorised, &peer, &request),
        };
        match &response {
            SyncResponse::Denied => self.stats.sync_denied += 1,
            // Heads of nothing but partnerships the peer may not see.
            SyncResponse::Heads { denied, answered, .. } if denied.len() == *answered as usize => {
                self.stats.sync_denied += 1;
            }
            _ => self.stats.sync_served += 1,
        }
        let _ = self.net.respond(responder, response).await;
    }

    /// Answers a `Heads` request: for each partnership the peer may sync
    /// here, whether its digest equals this node's (with this node's seq
    /// vector when it does not), within [`sync::MAX_HEADS_BYTES`].
    async fn heads(
        &mut self,
        core: &NodeCore,
        peer: PeerId,
        entries: Vec<HeadsEntry>,
        proof: Option<Proof>,
    ) -> SyncResponse {
        if entries.is_empty() || proof.as_ref().is_some_and(|p| p.signature.len() != 64) {
            return SyncResponse::TooLarge;
        }
        // The proof is checked once, and only when some partnership is not
        // already served to the peer; it serves the peer every named
        // partnership in which its member is an active participant.
        if let Some(proof) = proof
            && entries.iter().any(|e| !peer_may_sync(core, &self.authorised, &e.partnership, &peer))
        {
            let named: Vec<PartnershipId> = entries.iter().map(|e| e.partnership).collect();
            if sync::verify_proof(&proof, &named, &peer) {
                for partnership in named {
                    if core.roster(&partnership).is_some_and(|r| r.awaits(&proof.member)) {
                        self.authorised.insert((partnership, peer), proof.member);
                    }
                }
                if !self.known_peers.contains(&peer) {
                    // A participant's node: it keeps its connection.
                    self.tell_known_peers(core).await;
                }
            }
        }
        let mut differ = Vec::new();
        let mut denied = Vec::new();
        let mut bytes = 0usize;
        let mut answered = 0u32;
        for entry in &entries {
            let partnership = entry.partnership;
            if !peer_may_sync(core, &self.authorised, &partnership, &peer) {
                denied.push(partnership);
                answered += 1;
                continue;
            }
            let seqs = match core.store().author_seqs(&partnership) {
                Ok(seqs) => seqs,
                Err(error) => {
                    tracing::warn!(%error, "store read failed while serving sync");
                    break;
                }
            };
            let digest = HeadsDigest::of(&seqs);
            if digest == entry.digest {
                self.anti_entropy.agree(peer, partnership, digest);
            } else {
                // An author and a seq on the wire, with room for framing.
                let size = 40 + 41 * seqs.len();
                if !differ.is_empty() && bytes + size > sync::MAX_HEADS_BYTES {
                    break;
                }
                bytes += size;
                differ.push(PartnershipSeqs { partnership, seqs: seqs.into_iter().collect() });
                self.ask_back(peer, partnership);
            }
            answered += 1;
        }
        SyncResponse::Heads { differ, denied, answered }
    }

    /// Takes one request's token from `peer`'s bucket (refilled at
    /// `sync_requests_per_sec`, holding at most one second's worth).
    fn take_token(&mut self, peer: PeerId) -> bool {
        self.take_tokens(peer, 1)
    }

    /// Takes `count` tokens from `peer`'s bucket, or none if it has fewer.
    fn take_tokens(&mut self, peer: PeerId, count: usize) -> bool {
        let rate = u64::from(self.config.sync_requests_per_sec.max(1));
        let full = rate * 1000;
        let now = Instant::now();
        let (tokens, last) = self.buckets.entry(peer).or_insert((full, now));
        let elapsed_ms = u64::try_from(now.duration_since(*last).as_millis()).unwrap_or(u64::MAX);
        *tokens = tokens.saturating_add(elapsed_ms.saturating_mul(rate)).min(full);
        *last = now;
        // Never more than a full bucket: what costs more is still affordable
        // once the bucket is full.
        let cost = u64::try_from(count).unwrap_or(u64::MAX).saturating_mul(1000).min(full);
        if *tokens >= cost {
            *tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Remembers what an announcement was (`None`: not for this member;
    /// else its partnership), so that the same bytes announced again cost
    /// nothing. Bounded: past [`SCREENED_REMEMBERED`] the oldest half is
    /// forgotten.
    fn remember_screened(&mut self, digest: [u8; 32], partnership: Option<PartnershipId>) {
        if self.screened_announcements.len() >= SCREENED_REMEMBERED {
            let keep: Vec<[u8; 32]> = self.screened_order.drain(..).skip(SCREENED_REMEMBERED / 2).collect();
            let kept: std::collections::BTreeSet<&[u8; 32]> = keep.iter().collect();
            self.screened_announcements.retain(|d, _| kept.contains(d));
            self.screened_order = keep.into();
        }
        if self.screened_announcements.insert(digest, partnership).is_none() {
            self.screened_order.push_back(digest);
        }
    }
}

/// Whether `peer` acts for a participant finality waits for in `partnership`
/// (see [`Ledger::awaits`](crate::ledger::Ledger::awaits)): bound
/// by a `BindPeer` op, or proven by a hello on this connection.
pub(super) fn peer_may_sync(
    core: &NodeCore,
    authorised: &Authorised,
    partnership: &PartnershipId,
    peer: &PeerId,
) -> bool {
    served_up_to(core, authorised, partnership, peer).is_some()
}

/// The highest op height `peer` is served of `partnership`: `None` if it
/// may not sync it (see [`peer_may_sync`]); everything for an active
/// participant's node; for a removed participant's node that still owes
/// its removal ack, only up to the height of the op that removed it, all
/// it needs to ack its removal. Nothing written after a partner's removal
/// reaches it, by sync or by gossip (whose keys it no longer holds).
pub(super) fn served_up_to(
    core: &NodeCore,
    authorised: &Authorised,
    partnership: &PartnershipId,
    peer: &PeerId,
) -> Option<u64> {
    // From the roster: serving a resting partnership does not load it.
    let roster = core.roster(partnership)?;
    let limit = |member: &MemberId| {
        if !roster.awaits(member) {
            return None;
        }
        Some(roster.participant(member).and_then(|r| r.removed_at).unwrap_or(u64::MAX))
    };
    if let Some(member) = authorised.get(&(*partnership, *peer))
        && let Some(up_to) = limit(member)
    {
        return Some(up_to);
    }
    let bytes = peer.to_bytes();
    roster
        .participants()
        .iter()
        .filter(|(member, _)| roster.bound_peer(member) == Some(bytes.as_slice()))
        .find_map(|(m, _)| limit(m))
}

pub(super) type Authorised = BTreeMap<(PartnershipId, PeerId), MemberId>;

fn answer(core: &NodeCore, authorised: &Authorised, peer: &PeerId, request: &SyncRequest) -> SyncResponse {
    if let Err(refusal) = request.check_bounds() {
        return refusal;
    }
    let store = core.store();
    let may_sync = |partnership: &PartnershipId| peer_may_sync(core, authorised, partnership, peer);
    // Whether an op is at or below the height the peer is served
    // (`up_to`, from [`served_up_to`]).
    let servable = |partnership: &PartnershipId, up_to: u64, op: &SignedOp| {
        up_to == u64::MAX
            || core
                .ledger(partnership)
                .and_then(|l| l.dag().height_of(&op.id()))
                .is_some_and(|height| height <= up_to)
    };
    let result = match request {
        SyncRequest::Ops { ranges } => {
            // Each range is judged on its own: one the peer may not see (or
            // of a partnership this node does not hold) is served as empty.
            let mut failed = None;
            let page = sync::page_of_ranges(ranges, |range, at_most| {
                let up_to = served_up_to(core, authorised, &range.partnership, peer);
                let (None, Some(up_to)) = (&failed, up_to) else { return Vec::new() };
                match store.ops_by_author(&range.partnership, &range.author, range.from_seq, at_most as usize)
                {
                    Ok(ops) => ops
                        .iter()
                        .take_while(|op| servable(&range.partnership, up_to, op))
                        .map(SignedOp::encode)
                        .collect(),
                    Err(error) => {
                        failed = Some(error);
                        Vec::new()
                    }
                }
            });
            match failed {
                Some(error) => Err(error),
                None => Ok(page),
            }
        }
        // A partnership this node does not hold is Denied too, so a
        // stranger cannot probe which partnerships a node holds.
        SyncRequest::OpsById { partnership, .. } if !may_sync(partnership) => Ok(SyncResponse::Denied),
        SyncRequest::OpsById { partnership, ids } => {
            let up_to = served_up_to(core, authorised, partnership, peer).unwrap_or(0);
            let mut found = Vec::new();
            for id in ids {
                match store.get_op(partnership, id) {
                    Ok(Some((_, op))) if servable(partnership, up_to, &op) => found.push(op.encode()),
                    Ok(Some(_)) => {}
                    // Unknown here, or compacted behind a certified
                    // checkpoint: what is not stored is not served.
                    Ok(None) | Err(StoreError::Compacted { .. }) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "store read failed while serving sync");
                        return SyncResponse::Unknown;
                    }
                }
            }
            Ok(sync::page_of(found, sync::MAX_IDS_PER_REQUEST))
        }
        // Code: to peers bound in any partnership this node holds.
        SyncRequest::Code { .. } if !core.partnership_ids().iter().any(may_sync) => Ok(SyncResponse::Denied),
        SyncRequest::Code { hash } => store
            .get_code(hash)
            .map(|code| code.map_or(SyncResponse::Unknown, |wasm| SyncResponse::Code { wasm })),
        // Heads, Hello and Announce are answered by the caller; anything newer is unknown here.
        _ => Ok(SyncResponse::Unknown),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "store read failed while serving sync");
        SyncResponse::Unknown
    })
}
