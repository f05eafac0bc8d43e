//! Restart: a ledger rebuilt from the store after a crash at any point has
//! exactly the ops it reported accepted, and the same roots as a ledger that
//! never stopped.

use polypact::ledger::{Ledger, LedgerConfig, NativeExecutor};
use polypact::op::{MemberKey, Payload, SignedOp};
use polypact::store::{FinalDelta, Store};
use serde_json::json;

use crate::support::{T0, call, charter, executor, genesis, keys, ledger};

/// One durable write the node makes, in the order it makes them.
#[derive(Clone)]
enum Write {
    Ops(Vec<(u64, SignedOp)>),
    Final(FinalDelta),
}

/// Runs a three-member partnership as a node would: every accepted batch is
/// appended before it counts as accepted; the final state is saved every few
/// ops. Returns the writes and, after each write, the ops accepted so far.
fn workload() -> (SignedOp, Vec<Write>, Vec<Vec<SignedOp>>) {
    let keys = keys(3);
    let members: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
    let genesis = genesis(&keys[0], charter(&members));
    let mut node = ledger(&genesis);
    let mut writes = vec![Write::Ops(vec![(0, genesis.clone())])];
    let mut accepted: Vec<SignedOp> = vec![genesis.clone()];
    let mut accepted_after = vec![accepted.clone()];
    let mut now = T0;
    for i in 0..40u64 {
        now += 7;
        let who = (i % 3) as usize;
        let payload = match i % 5 {
            0 | 1 => call(json!({"add": {"key": "n", "by": i}})),
            2 => call(json!({"set": {"key": format!("k{}", i % 4), "value": i.to_string()}})),
            3 => call(json!({"fail": "deliberately"})),
            _ => Payload::Ack,
        };
        let op = node.create_op(&keys[who], payload, now);
        let insertion = node.insert(op, now).expect("accepted");
        let batch: Vec<(u64, SignedOp)> = insertion
            .accepted
            .iter()
            .map(|(id, h)| (*h, (*node.dag().get(id).expect("in graph").op).clone()))
            .collect();
        accepted.extend(batch.iter().map(|(_, op)| op.clone()));
        writes.push(Write::Ops(batch));
        accepted_after.push(accepted.clone());
        if i % 4 == 3 {
            let (final_height, writes_delta) = node.take_final_delta();
            let state_root = Some(node.final_root());
            writes.push(Write::Final(FinalDelta {
                final_height,
                writes: writes_delta,
                meta: vec![],
                state_root,
            }));
            accepted_after.push(accepted.clone());
        }
    }
    (genesis, writes, accepted_after)
}

fn apply(store: &Store, partnership: &polypact::op::PartnershipId, write: &Write) {
    match write {
        Write::Ops(batch) => {
            let refs: Vec<(u64, &SignedOp)> = batch.iter().map(|(h, op)| (*h, op)).collect();
            store.append_ops(partnership, &refs).expect("append");
        }
        Write::Final(delta) => store.save_final(partnership, delta).expect("save final"),
    }
}

fn never_stopped(genesis: &SignedOp, ops: &[SignedOp]) -> Ledger<NativeExecutor> {
    let mut ledger = ledger(genesis);
    for op in ops.iter().skip(1) {
        ledger.insert_synced(op.clone(), u64::MAX / 2).expect("accepted again");
    }
    ledger
}

#[test]
fn crash_between_any_two_writes() {
    let (genesis, writes, accepted_after) = workload();
    let partnership = genesis.partnership();
    for crash_after in 1..=writes.len() {
        let store = Store::open_in_memory().expect("store");
        for write in &writes[..crash_after] {
            apply(&store, &partnership, write);
        }
        // "Crash": only the store survives.
        let restored = Ledger::open(&store, &partnership, executor(), LedgerConfig::default())
            .unwrap_or_else(|e| panic!("restore after write {crash_after}: {e}"));
        let reported = &accepted_after[crash_after - 1];
        let mut have: Vec<_> = restored.dag().nodes().map(|n| n.op.id()).collect();
        let mut want: Vec<_> = reported.iter().map(SignedOp::id).collect();
        have.sort();
        want.sort();
        assert_eq!(have, want, "after write {crash_after}: the restored ops are not the reported ones");
        let reference = never_stopped(&genesis, reported);
        assert_eq!(restored.final_height(), reference.final_height(), "after write {crash_after}");
        assert_eq!(restored.final_root(), reference.final_root(), "after write {crash_after}");
        assert_eq!(restored.optimistic_root(), reference.optimistic_root(), "after write {crash_after}");
        assert_eq!(restored.dag().order(), reference.dag().order());
    }
}

#[test]
fn restart_from_a_file_replays_only_the_tail_and_carries_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let (genesis, writes, accepted_after) = workload();
    let partnership = genesis.partnership();
    {
        let store = Store::open(&path).expect("open");
        for write in &writes {
            apply(&store, &partnership, write);
        }
    }
    let store = Store::open(&path).expect("reopen");
    let snapshot = store.load_final(&partnership).expect("read").expect("a snapshot was saved");
    assert!(snapshot.final_height > 0);
    let mut restored =
        Ledger::open(&store, &partnership, executor(), LedgerConfig::default()).expect("restores");
    let all = accepted_after.last().expect("some");
    let reference = never_stopped(&genesis, all);
    assert_eq!(restored.final_root(), reference.final_root());
    assert_eq!(restored.optimistic_root(), reference.optimistic_root());
    // It keeps working: a new op applies on top.
    let key = MemberKey::from_seed(1);
    let op = restored.create_op(&key, call(json!({"add": {"key": "n", "by": 1}})), T0 + 10_000);
    restored.insert(op, T0 + 10_000).expect("accepted after restart");
    assert!(restored.save_final(&store).is_ok());
}
