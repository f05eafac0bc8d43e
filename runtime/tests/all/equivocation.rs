//! Equivocation: two ops with one `(author, seq)`, delivered in different
//! orders to different ledgers, give the same proof and the same exclusion.

use polypact::ledger::{Ledger, NativeExecutor};
use polypact::op::{EquivocationProof, Limits, MemberKey, SignedOp};
use serde_json::json;

use crate::support::{T0, author, call, charter, genesis, keys, ledger};

struct Scene {
    genesis: SignedOp,
    ops: Vec<SignedOp>,
    twins: (SignedOp, SignedOp),
}

fn scene() -> Scene {
    let keys = keys(3);
    let members: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
    let genesis = genesis(&keys[0], charter(&members));
    let mut base = ledger(&genesis);
    let mut ops = Vec::new();
    ops.push(author(&mut base, &keys[0], call(json!({"set": {"key": "x", "value": "0"}})), T0 + 1));
    ops.push(author(&mut base, &keys[1], call(json!({"add": {"key": "n", "by": 1}})), T0 + 2));
    // Member 3 signs two different ops with the same seq on the same parents.
    let a = base.create_op(&keys[2], call(json!({"set": {"key": "x", "value": "A"}})), T0 + 3);
    let b = base.create_op(&keys[2], call(json!({"set": {"key": "x", "value": "B"}})), T0 + 3);
    assert_eq!((a.seq(), a.author()), (b.seq(), b.author()));
    // It keeps going on top of one of them; others build on both.
    let mut fork = ledger(&genesis);
    for op in &ops {
        fork.insert(op.clone(), T0 + 10).expect("accepted");
    }
    fork.insert(a.clone(), T0 + 10).expect("accepted");
    let after_a = author(&mut fork, &keys[2], call(json!({"add": {"key": "n", "by": 10}})), T0 + 4);
    let mut other = ledger(&genesis);
    for op in &ops {
        other.insert(op.clone(), T0 + 10).expect("accepted");
    }
    other.insert(b.clone(), T0 + 10).expect("accepted");
    let on_b = author(&mut other, &keys[1], call(json!({"add": {"key": "n", "by": 100}})), T0 + 5);
    ops.extend([a.clone(), b.clone(), after_a, on_b]);
    Scene { genesis, ops, twins: (a, b) }
}

fn deliver(genesis: &SignedOp, ops: &[SignedOp]) -> Ledger<NativeExecutor> {
    let mut ledger = ledger(genesis);
    let mut waiting: Vec<SignedOp> = Vec::new();
    for op in ops {
        let _ = ledger.insert(op.clone(), T0 + 1_000);
        waiting.retain(|w| !ledger.dag().contains(&w.id()));
    }
    ledger
}

#[test]
fn same_proof_and_exclusion_in_every_delivery_order() {
    let scene = scene();
    let orders: Vec<Vec<usize>> = vec![
        vec![0, 1, 2, 3, 4, 5],
        vec![0, 1, 3, 2, 5, 4],
        vec![5, 4, 3, 2, 1, 0],
        vec![1, 0, 4, 3, 5, 2],
        vec![0, 1, 2, 4, 3, 5],
    ];
    let mut results = Vec::new();
    for order in orders {
        let ops: Vec<SignedOp> = order.iter().map(|&i| scene.ops[i].clone()).collect();
        let ledger = deliver(&scene.genesis, &ops);
        assert_eq!(ledger.dag().len(), scene.ops.len() + 1, "every op is kept as structure");
        let proofs = ledger.dag().equivocations().to_vec();
        assert_eq!(proofs.len(), 1);
        proofs[0].verify(&Limits::default()).expect("the proof checks on its own");
        results.push((
            proofs[0].clone(),
            ledger.excluded().clone(),
            ledger.optimistic_root(),
            ledger.optimistic_state().equivocators(),
            ledger.query("kv", br#"{"get":"n"}"#, false).expect("query runs"),
        ));
    }
    let first = results[0].clone();
    for result in &results {
        assert_eq!(*result, first);
    }
    let (proof, excluded, _, evidence, n) = first;
    let expected = EquivocationProof::new(scene.twins.0.clone(), scene.twins.1.clone()).expect("conflict");
    assert_eq!(proof, expected);
    let cheat = scene.twins.0.author();
    assert_eq!(excluded.get(&cheat), Some(&scene.twins.0.seq()));
    assert_eq!(evidence, vec![(cheat, scene.twins.0.seq())], "modules can see the equivocation");
    // The cheater's +10 never ran; the honest +1 and +100 did.
    assert_eq!(n, Ok(b"\"101\"".to_vec()));
}

#[test]
fn proof_round_trips_and_rejects_non_conflicts() {
    let scene = scene();
    let proof = EquivocationProof::new(scene.twins.0.clone(), scene.twins.1.clone()).expect("conflict");
    let bytes = proof.encode();
    let back = EquivocationProof::decode(&bytes, &Limits::default()).expect("decodes");
    assert_eq!(back, proof);
    assert!(EquivocationProof::new(scene.twins.0.clone(), scene.twins.0.clone()).is_none());
    assert!(EquivocationProof::new(scene.ops[0].clone(), scene.ops[1].clone()).is_none());
    assert!(EquivocationProof::decode(&bytes[..bytes.len() - 3], &Limits::default()).is_err());
}
