//! Discovery and joining. The genesis of every partnership the member takes
//! part in is announced to connected peers; a node whose member the charter
//! names joins it, fetching the module code it lacks from the announcing
//! peer. A partnership can also be joined by id: connected peers are asked
//! (with this member's signed hello) for its genesis and code. Either way
//! anti-entropy brings the rest of the history.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Fetched, JoinReply, NetworkHalf};
use crate::host::WasmExecutor;
use crate::net::{NetHandle, PeerId, SyncRequest, SyncResponse};
use crate::node::core::NodeCore;
use crate::node::error::NodeError;
use crate::op::{CodeHash, OpId, PartnershipId, Payload, SignedOp, decode_signed_op};

impl NetworkHalf {
    /// Announces every partnership the member takes part in to `peers`.
    pub(super) fn announce_all(&mut self, core: &NodeCore, peers: &[PeerId]) {
        for partnership in self.subscribed.clone() {
            self.announce(core, partnership, peers);
        }
    }

    /// Sends the genesis of `partnership` to `peers`, so that nodes of its
    /// participants join it (fire and forget).
    pub(super) fn announce(&mut self, core: &NodeCore, partnership: PartnershipId, peers: &[PeerId]) {
        let Some(ledger) = core.ledger(&partnership) else { return };
        let genesis = ledger.genesis().encode();
        for peer in peers.iter().copied() {
            let net = self.net.clone();
            let request = SyncRequest::Announce { genesis: genesis.clone() };
            tokio::spawn(async move {
                let _ = net.request(peer, request).await;
            });
        }
    }

    /// A peer announced a partnership: join it if this node's member is one
    /// of its participants (fetching missing module code from that peer).
    pub(super) fn announced(&mut self, core: &mut NodeCore, peer: PeerId, bytes: &[u8]) {
        let Ok(genesis) = decode_signed_op(bytes, &self.limits) else { return };
        if genesis.verify(&self.limits).is_err() || core.ledger(&genesis.partnership()).is_some() {
            return;
        }
        let Payload::Genesis(charter) = &genesis.op().payload else { return };
        if !charter.participants.contains(&core.member()) {
            return;
        }
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
            let _ = net.request(peer, hello).await;
            let code = fetch_code(&net, peer, &missing, executor).await;
            let _ = tx.send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: None }).await;
        });
    }

    /// Joins a partnership by id: asks connected peers (with this member's
    /// hello) for its genesis and any module code this node lacks, then joins;
    /// anti-entropy brings the rest. `reply` gets the outcome.
    pub fn join_by_id(&mut self, core: &NodeCore, partnership: PartnershipId, reply: JoinReply) {
        if core.ledger(&partnership).is_some() {
            let _ = reply.send(Ok(partnership));
            return;
        }
        let have: BTreeSet<CodeHash> = core.store().code_hashes().unwrap_or_default().into_iter().collect();
        let hello = self.hello_for(partnership);
        let (net, tx, limits) = (self.net.clone(), self.fetch_tx.clone(), self.limits);
        let executor = Arc::clone(core.executor());
        tokio::spawn(async move {
            for peer in net.connected_peers().await.unwrap_or_default() {
                if !matches!(net.request(peer, hello.clone()).await, Ok(SyncResponse::Welcome)) {
                    continue;
                }
                let request = SyncRequest::OpsById { partnership, ids: vec![OpId(partnership.0)] };
                let Ok(SyncResponse::Ops { ops, .. }) = net.request(peer, request).await else { continue };
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
                let _ =
                    tx.send(Fetched::Genesis { genesis: Box::new(genesis), code, reply: Some(reply) }).await;
                return;
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
async fn fetch_code(
    net: &NetHandle,
    peer: PeerId,
    hashes: &[CodeHash],
    executor: Arc<WasmExecutor>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for hash in hashes {
        if let Ok(SyncResponse::Code { wasm }) = net.request(peer, SyncRequest::Code { hash: *hash }).await
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
