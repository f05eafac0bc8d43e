//! Missing parents. A gossip op whose parents this node lacks waits in the
//! ledger's pending buffer while its parents are asked of the peer that
//! sent it, by id (asked again with backoff while the peer is busy or the
//! request fails in transport); past
//! [`SyncConfig::max_id_fetches`](super::SyncConfig) fetches in flight, an
//! anti-entropy round with that peer is asked for instead. Pages fetched
//! here or by anti-entropy are inserted with one store commit per
//! partnership, and what they still lack is fetched in turn.

use std::collections::{BTreeMap, BTreeSet};

use super::{Fetched, NetworkHalf};
use crate::ledger::Refusal;
use crate::net::{PeerId, SyncRequest, SyncResponse, sync};
use crate::node::clock::now_ms;
use crate::node::core::{NodeCore, Origin};
use crate::node::error::NodeError;
use crate::op::{OpId, PartnershipId, SignedOp, decode_signed_op};

impl NetworkHalf {
    /// Asks `peer` for missing parents by id, or falls back to anti-entropy
    /// when too many fetches are in flight.
    pub(super) fn fetch_missing(
        &mut self,
        core: &NodeCore,
        partnership: PartnershipId,
        peer: PeerId,
        ids: Vec<OpId>,
    ) {
        if self.id_fetches >= self.config.max_id_fetches {
            self.sync_soon(core, peer, partnership);
            return;
        }
        self.id_fetches += 1;
        let hello = self.hello_for(partnership);
        let net = self.net.clone();
        let tx = self.fetch_tx.clone();
        let limits = self.limits;
        let mut ids = ids;
        ids.truncate(sync::MAX_IDS_PER_REQUEST);
        tokio::spawn(async move {
            let wanted: BTreeSet<OpId> = ids.iter().copied().collect();
            let request = SyncRequest::OpsById { partnership, ids };
            let mut response = net.request_retrying(peer, request.clone()).await;
            if let Ok(SyncResponse::Denied) = response {
                // Not bound there yet: prove the member, then ask again.
                let _ = net.request_retrying(peer, hello).await;
                response = net.request_retrying(peer, request).await;
            }
            tracing::debug!(%peer, wanted = wanted.len(), ok = response.is_ok(), "fetched ops by id");
            if let Ok(SyncResponse::Ops { ops, .. }) = response {
                let ops: Vec<SignedOp> = ops
                    .iter()
                    .filter_map(|bytes| decode_signed_op(bytes, &limits).ok())
                    .filter(|op| wanted.contains(&op.id()))
                    .collect();
                if !ops.is_empty() {
                    let _ = tx.send(Fetched::Ops { peer, ops }).await;
                }
            }
            let _ = tx.send(Fetched::IdFetchDone).await;
        });
    }

    /// Inserts fetched ops (a page may carry several partnerships') with
    /// one store commit, and fetches what they still lack.
    pub(super) async fn insert_fetched(
        &mut self,
        core: &mut NodeCore,
        peer: PeerId,
        ops: Vec<SignedOp>,
    ) -> Result<(), NodeError> {
        let mut by_partnership: BTreeMap<PartnershipId, Vec<SignedOp>> = BTreeMap::new();
        for op in ops {
            if core.holds(&op.partnership()) {
                by_partnership.entry(op.partnership()).or_default().push(op);
            }
        }
        let batches: Vec<(PartnershipId, Vec<SignedOp>)> = by_partnership.into_iter().collect();
        let ids: Vec<Vec<OpId>> =
            batches.iter().map(|(_, ops)| ops.iter().map(SignedOp::id).collect()).collect();
        if batches.is_empty() {
            return Ok(());
        }
        let inserted = core.insert_batches(batches, Origin::Synced, now_ms())?;
        for ((partnership, results), ids) in inserted.into_iter().zip(ids) {
            let mut accepted = Vec::new();
            let mut waiting = BTreeSet::new();
            for (id, result) in ids.into_iter().zip(results) {
                match result {
                    Ok(insertion) => {
                        self.stats.synced_ops += insertion.accepted.len() as u64;
                        waiting.remove(&id);
                        for (got, _) in &insertion.accepted {
                            waiting.remove(got);
                        }
                        waiting.extend(insertion.waiting_for);
                        accepted.extend(insertion.accepted);
                    }
                    Err(Refusal::Duplicate(_)) => {}
                    Err(refusal) => tracing::debug!(%peer, %refusal, "synced op refused"),
                }
            }
            let accepted: Vec<OpId> = accepted.into_iter().map(|(id, _)| id).collect();
            self.close_verdicts(&accepted).await;
            if let Some(ledger) = core.ledger(&partnership) {
                waiting.retain(|id| !ledger.dag().contains(id));
            }
            if !waiting.is_empty() {
                self.fetch_missing(core, partnership, peer, waiting.into_iter().collect());
            }
        }
        Ok(())
    }
}
