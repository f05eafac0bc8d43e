//! Discovery and joining. The genesis of every partnership the member takes
//! part in is announced to connected peers, sealed to its founding
//! participants (a stranger learns nothing from it); a node whose member the charter
//! names as a founder joins it, fetching the module code it lacks from the
//! announcing peer, if the creator is a known partner (its own member, or
//! an active participant of a partnership it holds); from anyone else the
//! announcement becomes an invitation the operator accepts or declines
//! ([`super::invitations`]). A partnership can also be joined by id:
//! connected peers are asked (with this member's signed hello) for its
//! genesis and code, and only a partner's node that finds the member a
//! participant answers. Either way anti-entropy brings the rest of the
//! history.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Fetched, JoinReply, NetworkHalf};
use crate::host::WasmExecutor;
use crate::net::{NetHandle, PeerId, SyncRequest, SyncResponse, sync};
use crate::node::clock::now_ms;
use crate::node::core::NodeCore;
use crate::node::error::NodeError;
use crate::op::{CodeHash, MemberId, OpId, PartnershipId, Payload, SignedOp, decode_signed_op};
use crate::seal;

/// How long a join by id keeps asking while no connected peer could be
/// asked (a partner's node being redialled, say).
pub const JOIN_BY_ID_PATIENCE: Duration = Duration::from_secs(10);

/// The pause between two rounds of a join by id.
const JOIN_BY_ID_RETRY: Duration = Duration::from_millis(250);

/// What screening an announcement came to.
pub(super) enum Screened {
    /// A genesis naming this node's member that it does not hold: its
    /// signature is checked next.
    Genesis(Box<SignedOp>),
    /// Sealed to others (or not a sealed box at all): never worth opening again.
    NotForUs,
    /// A partnership this node holds already.
    Held(PartnershipId),
    /// Opened, and held already, malformed or not naming this member.
    Ignored,
}

/// Whether `member` is this node's member or an active participant of a
/// partnership the node holds: whose announced partnerships the node joins
/// without asking its operator.
fn is_known_partner(core: &NodeCore, member: &MemberId) -> bool {
    *member == core.member()
        || core.partnership_ids().iter().any(|p| {
            core.roster(p)
                .and_then(|roster| roster.participant(member))
                .is_some_and(|record| record.is_active())
        })
}

impl NetworkHalf {
    /// Announces every partnership the member takes part in to `peers`,
    /// many geneses per request.
    pub(super) fn announce_all(&mut self, core: &NodeCore, peers: &[PeerId]) {
        let member = core.member();
        let partnerships: Vec<PartnershipId> = self
            .subscribed
            .iter()
            .filter(|p| core.roster(p).is_some_and(|r| r.participant(&member).is_some()))
            .copied()
            .collect();
        self.announce(core, &partnerships, peers);
    }

    /// Sends the geneses of `partnerships` to `peers`, so that nodes of
    /// their participants join them, each sealed to its founding
    /// participants ([`seal::seal_announcement`]; sealed once per partnership).
    pub(super) fn announce(&mut self, core: &NodeCore, partnerships: &[PartnershipId], peers: &[PeerId]) {
        let mut geneses = Vec::new();
        for partnership in partnerships {
            if let Some(sealed) = self.sealed_geneses.get(partnership) {
                geneses.push(sealed.clone());
                continue;
            }
            // Read from the store for a resting partnership: announcing
            // does not load its ledger.
            let genesis = match core.genesis(partnership) {
                Ok(Some(genesis)) => genesis,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%partnership, %error, "cannot read a genesis to announce");
                    continue;
                }
            };
            match seal::seal_announcement(&genesis) {
                Ok(sealed) => {
                    self.sealed_geneses.insert(*partnership, sealed.clone());
                    geneses.push(sealed);
                }
                Err(error) => tracing::warn!(%partnership, %error, "cannot seal a genesis to announce"),
            }
        }
        self.send_announcements(geneses, peers);
    }

    /// Sends `geneses` to each of `peers` in batches within the sync
    /// bounds, each asked again until answered. One announcing task runs
    /// per peer: what is announced meanwhile waits and goes in the next
    /// batch, so joining many partnerships one by one costs a peer a few
    /// requests, not one each. A peer that goes away is announced to again
    /// when it reconnects.
    fn send_announcements(&mut self, geneses: Vec<Vec<u8>>, peers: &[PeerId]) {
        if geneses.is_empty() {
            return;
        }
        for peer in peers.iter().copied() {
            if let Some(queued) = self.announcing.get_mut(&peer) {
                queued.extend(geneses.iter().cloned());
                continue;
            }
            self.announcing.insert(peer, Vec::new());
            let (net, tx, batches) =
                (self.net.clone(), self.fetch_tx.clone(), announce_batches(geneses.clone()));
            tokio::spawn(async move {
                let mut reached = true;
                for geneses in batches {
                    if let Err(error) = net.request_retrying(peer, SyncRequest::Announce { geneses }).await {
                        tracing::debug!(%peer, %error, "announcing partnerships failed");
                        reached = false;
                        break;
                    }
                }
                let _ = tx.send(Fetched::Announced { peer, reached }).await;
            });
        }
    }

    /// An announcing task to `peer` ended: sends what waited for it.
    pub(super) fn announced_to(&mut self, peer: PeerId, reached: bool) {
        let queued = self.announcing.remove(&peer).unwrap_or_default();
        if reached {
            self.send_announcements(queued, &[peer]);
        }
    }

    /// The checks of an announcement before the genesis signature: it
    /// opens with this member's key (it is sealed to the founders), decodes,
    /// this node does not hold it yet, and it names this node's member as a
    /// founding participant. Counted when ignored.
    pub(super) fn screen_announced(&mut self, core: &NodeCore, bytes: &[u8]) -> Screened {
        let Ok(bytes) = seal::open_announcement(bytes, &self.key) else {
            self.stats.announces_ignored += 1;
            return Screened::NotForUs;
        };
        let Ok(genesis) = decode_signed_op(&bytes, &self.limits) else {
            self.stats.announces_ignored += 1;
            return Screened::Ignored;
        };
        if core.holds(&genesis.partnership()) {
            return Screened::Held(genesis.partnership());
        }
        let named = match &genesis.op().payload {
            Payload::Genesis(charter) => charter.participants.contains(&core.member()),
            _ => false,
        };
        if !named {
            self.stats.announces_ignored += 1;
            return Screened::Ignored;
        }
        Screened::Genesis(Box::new(genesis))
    }

    /// A peer announced a partnership that passed
    /// [`screen_announced`](Self::screen_announced). After its signature
    /// is checked, it is joined (fetching missing module code from that
    /// peer) only if its creator is this node's member, an active
    /// participant of a partnership the node holds (a known partner), or
    /// one of the members the operator listed
    /// ([`NetworkHalf::join_announced_from`]); one from anyone else is kept
    /// as an invitation for the operator ([`super::invitations`]).
    pub(super) fn announced(&mut self, core: &mut NodeCore, peer: PeerId, genesis: SignedOp) {
        if genesis.verify(&self.limits).is_err() {
            self.stats.announces_ignored += 1;
            return;
        }
        let creator = genesis.author();
        if !self.join_from.contains(&creator) && !is_known_partner(core, &creator) {
            self.invite(genesis, peer, now_ms());
            return;
        }
        self.stats.announces_joined += 1;
        self.join_announced(core, genesis, peer);
    }

    /// Joins an announced genesis, fetching the module code this node lacks
    /// from the announcing peer first.
    fn join_announced(&mut self, core: &mut NodeCore, genesis: SignedOp, peer: PeerId) {
        let Payload::Genesis(charter) = &genesis.op().payload else { return };
        let missing = core.missing_code(charter);
        if missing.is_empty() {
            if let Err(error) = self.join_fetched(core, genesis, Vec::new(), None) {
                tracing::error!(%error, "joining an announced partnership failed");
            }
            return;
        }
        let hello = self.hello_for(genesis.partnership());
        let (net, tx) = (self.net.clone(), self.fetch_tx.clone());
        let executor = Arc::clone(core.executor());
        tokio::spawn(async move {
            let _ = net.request_retrying(peer, hello).await;
            let code = fetch_code(&net, peer, &missing, executor).await;
            let _ = tx.send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: None }).await;
        });
    }

    /// Joins a partnership by id: asks connected peers (with this member's
    /// hello) for its genesis and any module code this node lacks, then joins;
    /// anti-entropy brings the rest. `reply` gets the outcome. While no
    /// connected peer could be asked (none connected, or a request failed in
    /// transport, as when a partner's node is being redialled) it asks again
    /// for up to [`JOIN_BY_ID_PATIENCE`]; once every connected peer has
    /// answered and none gave the genesis, it fails at once.
    pub fn join_by_id(&mut self, core: &NodeCore, partnership: PartnershipId, reply: JoinReply) {
        if core.holds(&partnership) {
            let _ = reply.send(Ok(partnership));
            return;
        }
        let have: BTreeSet<CodeHash> = core.store().code_hashes().unwrap_or_default().into_iter().collect();
        let hello = self.hello_for(partnership);
        let (net, tx, limits) = (self.net.clone(), self.fetch_tx.clone(), self.limits);
        let executor = Arc::clone(core.executor());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + JOIN_BY_ID_PATIENCE;
            loop {
                let peers = net.connected_peers().await.unwrap_or_default();
                let mut unanswered = peers.is_empty();
                for peer in peers {
                    match net.request(peer, hello.clone()).await {
                        Ok(SyncResponse::Welcome) => {}
                        // Asked too often: it may answer later.
                        Ok(SyncResponse::Busy) | Err(_) => {
                            unanswered = true;
                            continue;
                        }
                        Ok(_) => continue,
                    }
                    let request = SyncRequest::OpsById { partnership, ids: vec![OpId(partnership.0)] };
                    let Ok(SyncResponse::Ops { ops, .. }) = net.request(peer, request).await else {
                        unanswered = true;
                        continue;
                    };
                    let Some(genesis) =
                        ops.iter().filter_map(|bytes| decode_signed_op(bytes, &limits).ok()).find(|op| {
                            op.partnership() == partnership && matches!(op.op().payload, Payload::Genesis(_))
                        })
                    else {
                        continue;
                    };
                    let Payload::Genesis(charter) = &genesis.op().payload else { continue };
                    let missing: Vec<CodeHash> =
                        charter.modules.iter().map(|m| m.code).filter(|c| !have.contains(c)).collect();
                    let code = fetch_code(&net, peer, &missing, Arc::clone(&executor)).await;
                    let _ = tx
                        .send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: Some(reply) })
                        .await;
                    return;
                }
                if !unanswered || tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(JOIN_BY_ID_RETRY).await;
            }
            let _ = tx.send(Fetched::JoinFailed(partnership, reply)).await;
        });
    }

    /// Adds fetched code the charter names, then joins.
    pub(super) fn join_fetched(
        &mut self,
        core: &mut NodeCore,
        genesis: SignedOp,
        code: Vec<Vec<u8>>,
        reply: Option<JoinReply>,
    ) -> Result<(), NodeError> {
        if let Payload::Genesis(charter) = &genesis.op().payload {
            let named: BTreeSet<CodeHash> = charter.modules.iter().map(|m| m.code).collect();
            for wasm in code {
                if named.contains(&CodeHash::of(&wasm)) {
                    match core.add_code(&wasm) {
                        Err(e @ NodeError::Store(_)) => return Err(e),
                        Err(error) => tracing::warn!(%error, "fetched module code rejected"),
                        Ok(_) => {}
                    }
                }
            }
        }
        let result = core.join(genesis);
        if let Ok(partnership) = &result {
            // Joined, whichever way: an invitation to it is moot.
            self.invitations.remove(partnership);
        }
        if let Err(NodeError::Store(_)) = &result {
            let failed = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            if let Some(reply) = reply {
                let _ = reply.send(Err(NodeError::StoreFailed(failed)));
            }
            return result.map(|_| ());
        }
        match reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(error) = result {
                    tracing::info!(%error, "not joining an announced partnership");
                }
            }
        }
        Ok(())
    }
}

/// Fetches module code by hash from `peer`, keeping what matches its hash,
/// and has it compiled on the background compiler, waiting here: the node
/// loop, which adds it when it joins, then finds it compiled (a partner's
/// costly module never holds the loop up). Errors are reported by that add.
pub(super) async fn fetch_code(
    net: &NetHandle,
    peer: PeerId,
    hashes: &[CodeHash],
    executor: Arc<WasmExecutor>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for hash in hashes {
        if let Ok(SyncResponse::Code { wasm }) =
            net.request_retrying(peer, SyncRequest::Code { hash: *hash }).await
            && CodeHash::of(&wasm) == *hash
        {
            out.push(wasm);
        }
    }
    let compiling = out.clone();
    let _ = tokio::task::spawn_blocking(move || {
        for wasm in &compiling {
            let _ = executor.compile_off_loop(wasm);
        }
    })
    .await;
    out
}

/// `geneses` in batches of at most [`sync::MAX_GENESES_PER_ANNOUNCE`] and
/// [`sync::MAX_ANNOUNCE_BYTES`] (a batch takes at least one).
fn announce_batches(geneses: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut batches: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut bytes = 0usize;
    for genesis in geneses {
        let fits = batches.last().is_some_and(|batch| {
            batch.len() < sync::MAX_GENESES_PER_ANNOUNCE && bytes + genesis.len() <= sync::MAX_ANNOUNCE_BYTES
        });
        if !fits {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += genesis.len();
        if let Some(batch) = batches.last_mut() {
            batch.push(genesis);
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_batched_within_the_bounds() {
        assert!(announce_batches(Vec::new()).is_empty());
        let small = announce_batches(vec![vec![0; 100]; sync::MAX_GENESES_PER_ANNOUNCE + 1]);
        assert_eq!(small.iter().map(Vec::len).collect::<Vec<_>>(), vec![sync::MAX_GENESES_PER_ANNOUNCE, 1]);
        let big = announce_batches(vec![vec![0; sync::MAX_ANNOUNCE_BYTES / 2]; 5]);
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
        // A genesis larger than a batch still goes, alone.
        let huge = announce_batches(vec![vec![0; 10], vec![0; sync::MAX_ANNOUNCE_BYTES + 1], vec![0; 10]]);
        assert_eq!(huge.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
    }
}
