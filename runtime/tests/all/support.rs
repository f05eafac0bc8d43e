//! Shared set-up: keys, a charter with the native test module, ledgers.

use std::sync::Arc;

use polypact::ledger::testing::KvModule;
use polypact::ledger::{Ledger, LedgerConfig, NativeExecutor};
use polypact::op::{
    Charter, CodeHash, MemberId, MemberKey, ModuleSpec, Params, Payload, SignedOp, SystemPermission,
    UnsignedOp,
};

/// Base of the logical clock tests use.
pub const T0: u64 = 1_700_000_000_000;

/// The code hash the test module is registered under.
pub fn kv_code() -> CodeHash {
    CodeHash::of(b"kv-module")
}

/// An executor with the test module.
pub fn executor() -> NativeExecutor {
    let mut executor = NativeExecutor::new();
    executor.register(kv_code(), Arc::new(KvModule));
    executor
}

/// Keys with seeds 1..=n.
pub fn keys(n: u8) -> Vec<MemberKey> {
    (1..=n).map(MemberKey::from_seed).collect()
}

/// A charter with `participants` and one `kv` module allowed to add and remove participants.
pub fn charter(participants: &[MemberId]) -> Charter {
    let mut participants = participants.to_vec();
    participants.sort();
    Charter {
        name: "test partnership".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "kv".into(),
            code: kv_code(),
            config: "{}".into(),
            permissions: vec![SystemPermission::AddParticipant, SystemPermission::RemoveParticipant],
        }],
        // Checkpoints as often as the runtime allows, so longer tests take
        // some and compare them.
        params: Params { checkpoint_every: polypact::op::MIN_CHECKPOINT_EVERY, ..Params::default() },
        parent: None,
    }
}

/// A charter with `participants` and the guestbook `.wasm` of hash `code`,
/// under the default parameters.
pub fn guestbook_charter(participants: Vec<MemberId>, code: CodeHash) -> Charter {
    let mut participants = participants;
    participants.sort();
    Charter {
        name: "node test".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "guestbook".into(),
            code,
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    }
}

/// The genesis op of `charter`, authored by `key`.
pub fn genesis(key: &MemberKey, charter: Charter) -> SignedOp {
    UnsignedOp {
        partnership: Default::default(),
        author: key.member_id(),
        seq: 1,
        parents: vec![],
        time_ms: T0,
        payload: Payload::Genesis(charter),
    }
    .sign(key)
}

/// A ledger for `genesis` with the test executor.
pub fn ledger(genesis: &SignedOp) -> Ledger<NativeExecutor> {
    Ledger::new(genesis.clone(), executor(), LedgerConfig::default()).expect("genesis applies")
}

/// A JSON call payload for the `kv` module.
pub fn call(msg: serde_json::Value) -> Payload {
    Payload::Call { module: "kv".into(), msg: msg.to_string().into_bytes() }
}

/// Authors `payload` as `key` on `ledger`'s heads and inserts it.
pub fn author(ledger: &mut Ledger<NativeExecutor>, key: &MemberKey, payload: Payload, now: u64) -> SignedOp {
    let op = ledger.create_op(key, payload, now);
    ledger.insert(op.clone(), now).expect("own op is accepted");
    op
}

/// Delivers every op of `from` that `to` lacks, in graph order.
pub fn sync(from: &Ledger<NativeExecutor>, to: &mut Ledger<NativeExecutor>, now: u64) {
    let mut ops: Vec<(u64, SignedOp)> = from
        .dag()
        .nodes()
        .filter(|n| !to.dag().contains(&n.op.id()))
        .map(|n| (n.height, (*n.op).clone()))
        .collect();
    ops.sort_by_key(|(h, op)| (*h, op.id()));
    for (_, op) in ops {
        let _ = to.insert_synced(op, now);
    }
}

/// The guestbook's entries in `p`'s final state on `core` (loads it).
pub fn guestbook_entries(core: &polypact::node::NodeCore, p: &polypact::op::PartnershipId) -> Vec<u8> {
    core.ledger(p)
        .expect("ledger")
        .query("guestbook", br#"{"entries":{}}"#, true)
        .expect("query")
        .expect("answer")
}
