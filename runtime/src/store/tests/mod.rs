//! Tests of the store: API round trips, corruption, crash consistency, and a
//! model-based property test. Shared op builders live here.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod api;
mod archive;
mod checksums;
mod compact;
mod corruption;
mod crash;
mod model;
mod resting;
mod scrub;

use crate::op::{Charter, MemberKey, OpId, Params, PartnershipId, Payload, SignedOp, UnsignedOp};

/// A genesis op by `key` (the partnership id is its id).
fn genesis(key: &MemberKey) -> SignedOp {
    UnsignedOp {
        partnership: PartnershipId::default(),
        author: key.member_id(),
        seq: 1,
        parents: vec![],
        time_ms: 1_700_000_000_000,
        payload: Payload::Genesis(Charter {
            name: "test".into(),
            participants: vec![key.member_id()],
            modules: vec![],
            params: Params::default(),
            parent: None,
        }),
    }
    .sign(key)
}

/// An op of `p` by `key` with `seq`; `nonce` makes distinct ops of one seq.
fn op(p: &PartnershipId, key: &MemberKey, seq: u64, nonce: u64) -> SignedOp {
    UnsignedOp {
        partnership: *p,
        author: key.member_id(),
        seq,
        parents: vec![OpId([(seq % 251) as u8; 32])],
        time_ms: 1_700_000_000_000 + nonce,
        payload: Payload::Call { module: "counter".into(), msg: format!("{{\"n\":{nonce}}}").into_bytes() },
    }
    .sign(key)
}

/// The `(height, op)` pairs as `append_ops` takes them.
fn refs(ops: &[(u64, SignedOp)]) -> Vec<(u64, &SignedOp)> {
    ops.iter().map(|(h, op)| (*h, op)).collect()
}

/// Every op of `p` in order, through small pages.
fn all_ops(store: &crate::store::Store, p: &PartnershipId) -> Vec<(u64, SignedOp)> {
    store.iter_ops(p, 0, 7).collect::<Result<Vec<_>, _>>().expect("ops read back")
}
