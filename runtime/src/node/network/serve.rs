//! Sync serving. Requests are answered from the store, and only to peers
//! that act for an active participant of the partnership asked about: bound
//! (`Payload::BindPeer`, executed in the ledger) or proven by a signed
//! `Hello` on this connection. A partnership the node does not hold is
//! denied like one the peer may not see, so a stranger cannot probe which
//! partnerships a node holds. Each peer has a token bucket of
//! [`SyncConfig::sync_requests_per_sec`](super::SyncConfig); past it the
//! answer is `Busy`. Pages are bounded by the `net` module's sync limits.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::NetworkHalf;
use crate::net::{PeerId, SyncRequest, SyncResponder, SyncResponse, sync};
use crate::node::core::NodeCore;
use crate::op::{MemberId, PartnershipId, SignedOp};

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
                let active = core.ledger(&partnership).is_some_and(|l| l.awaits(&member));
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
            SyncRequest::Announce { genesis } => {
                self.announced(core, peer, &genesis);
                SyncResponse::Noted
            }
            request => answer(core, &self.authorised, &peer, &request),
        };
        match &response {
            SyncResponse::Denied => self.stats.sync_denied += 1,
            _ => self.stats.sync_served += 1,
        }
        let _ = self.net.respond(responder, response).await;
    }

    /// Takes one request's token from `peer`'s bucket (refilled at
    /// `sync_requests_per_sec`, holding at most one second's worth).
    fn take_token(&mut self, peer: PeerId) -> bool {
        let rate = u64::from(self.config.sync_requests_per_sec.max(1));
        let full = rate * 1000;
        let now = Instant::now();
        let (tokens, last) = self.buckets.entry(peer).or_insert((full, now));
        let elapsed_ms = u64::try_from(now.duration_since(*last).as_millis()).unwrap_or(u64::MAX);
        *tokens = tokens.saturating_add(elapsed_ms.saturating_mul(rate)).min(full);
        *last = now;
        if *tokens >= 1000 {
            *tokens -= 1000;
            true
        } else {
            false
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
    let Some(ledger) = core.ledger(partnership) else { return false };
    let state = ledger.optimistic_state();
    if let Some(member) = authorised.get(&(*partnership, *peer))
        && ledger.awaits(member)
    {
        return true;
    }
    let bytes = peer.to_bytes();
    state
        .participants()
        .iter()
        .any(|(member, _)| state.bound_peer(member) == Some(&bytes) && ledger.awaits(member))
}

pub(super) type Authorised = BTreeMap<(PartnershipId, PeerId), MemberId>;

fn answer(core: &NodeCore, authorised: &Authorised, peer: &PeerId, request: &SyncRequest) -> SyncResponse {
    if let Err(refusal) = request.check_bounds() {
        return refusal;
    }
    match request.partnership() {
        Some(partnership) => {
            // A partnership this node does not hold is Denied too, so a
            // stranger cannot probe which partnerships a node holds.
            if !peer_may_sync(core, authorised, &partnership, peer) {
                return SyncResponse::Denied;
            }
        }
        None => {
            // Code: to peers bound in any partnership this node holds.
            if !core.partnership_ids().iter().any(|p| peer_may_sync(core, authorised, p, peer)) {
                return SyncResponse::Denied;
            }
        }
    }
    let store = core.store();
    let result = match request {
        SyncRequest::Heads { partnership } => store
            .author_seqs(partnership)
            .map(|seqs| SyncResponse::Heads { seqs: seqs.into_iter().collect() }),
        SyncRequest::OpsByAuthor { partnership, author, from_seq, limit } => {
            store.ops_by_author(partnership, author, *from_seq, *limit as usize).map(|ops| {
                let full = ops.len() >= *limit as usize;
                match sync::page_of(ops.iter().map(SignedOp::encode), sync::MAX_PAGE_OPS as usize) {
                    SyncResponse::Ops { ops, more } => SyncResponse::Ops { ops, more: more || full },
                    other => other,
                }
            })
        }
        SyncRequest::OpsById { partnership, ids } => {
            let mut found = Vec::new();
            for id in ids {
                match store.get_op(partnership, id) {
                    Ok(Some((_, op))) => found.push(op.encode()),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "store read failed while serving sync");
                        return SyncResponse::Unknown;
                    }
                }
            }
            Ok(sync::page_of(found, sync::MAX_IDS_PER_REQUEST))
        }
        SyncRequest::Code { hash } => store
            .get_code(hash)
            .map(|code| code.map_or(SyncResponse::Unknown, |wasm| SyncResponse::Code { wasm })),
        // Hello and Announce are answered by the caller; anything newer is unknown here.
        _ => Ok(SyncResponse::Unknown),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "store read failed while serving sync");
        SyncResponse::Unknown
    })
}
