//! Property: every ledger that holds the same ops computes the same order,
//! state root and final height, whatever order the ops arrived in (with
//! duplicates and parents arriving late), and nothing at or below an earlier
//! `final_height` ever changes.

use std::collections::BTreeMap;

use polypact::dag::OrderKey;
use polypact::ledger::{Ledger, NativeExecutor};
use polypact::op::{MemberKey, Payload, SignedOp};
use proptest::prelude::*;
use serde_json::json;

use crate::support::{T0, call, charter, genesis, keys, ledger, sync};

#[derive(Clone, Debug)]
enum Action {
    /// Member `who` authors something of kind `what` in its own view.
    Create { who: usize, what: u8, arg: u8 },
    /// Member `to` receives everything member `from` has.
    Sync { from: usize, to: usize },
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..n, 0u8..10, any::<u8>()).prop_map(|(who, what, arg)| Action::Create { who, what, arg }),
        2 => (0..n, 0..n).prop_map(|(from, to)| Action::Sync { from, to }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, usize, Vec<Action>, u64)> {
    (2usize..=8).prop_flat_map(|n| (Just(n), 1..=n, prop::collection::vec(action(n), 5..60), any::<u64>()))
}

/// splitmix64: a tiny deterministic generator for delivery orders.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn payload_for(what: u8, arg: u8, keys: &[MemberKey]) -> Payload {
    let key = format!("k{}", arg % 5);
    match what {
        0..=2 => call(json!({"set": {"key": key, "value": arg.to_string()}})),
        3..=4 => call(json!({"add": {"key": key, "by": arg as i64 - 100}})),
        5 => call(json!({"fail": "deliberate"})),
        6 => call(json!({"admit": keys[arg as usize % keys.len()].member_id().to_string()})),
        7 => call(json!({"remove": keys[arg as usize % keys.len()].member_id().to_string()})),
        _ => Payload::Ack,
    }
}

/// Runs the authors' side: each member has its own view (a ledger), authors
/// on it, and views exchange ops. Returns every op authored.
fn author_ops(n: usize, initial: usize, actions: &[Action]) -> (SignedOp, Vec<SignedOp>) {
    let keys = keys(n as u8);
    let members: Vec<_> = keys[..initial].iter().map(MemberKey::member_id).collect();
    let genesis = genesis(&keys[0], charter(&members));
    let mut views: Vec<Ledger<NativeExecutor>> = (0..n).map(|_| ledger(&genesis)).collect();
    let mut now = T0;
    let step = |views: &mut Vec<Ledger<NativeExecutor>>, action: &Action, now: u64| match *action {
        Action::Create { who, what, arg } => {
            let op = views[who].create_op(&keys[who], payload_for(what, arg, &keys), now);
            // Members who are not (or no longer) participants in their own
            // view cannot author; that refusal is expected here.
            let _ = views[who].insert(op, now);
        }
        Action::Sync { from, to } if from != to => {
            let (a, b) = if from < to {
                let (left, right) = views.split_at_mut(to);
                (&left[from], &mut right[0])
            } else {
                let (left, right) = views.split_at_mut(from);
                (&right[0], &mut left[to])
            };
            sync(a, b, now);
        }
        Action::Sync { .. } => {}
    };
    for action in actions {
        now += 10;
        step(&mut views, action, now);
    }
    // Quiesce: everyone learns everything and acks what it has not acked.
    for _ in 0..3 {
        for to in 0..n {
            for from in 0..n {
                now += 1;
                step(&mut views, &Action::Sync { from, to }, now);
            }
        }
        for who in 0..n {
            let member = keys[who].member_id();
            if views[who].needs_ack(&member) || views[who].owes_removal_ack(&member) {
                now += 1;
                let op = views[who].create_op(&keys[who], Payload::Ack, now);
                let _ = views[who].insert(op, now);
            }
        }
    }
    let mut all: BTreeMap<_, SignedOp> = BTreeMap::new();
    for view in &views {
        for node in view.dag().nodes() {
            all.insert(node.op.id(), (*node.op).clone());
        }
    }
    all.remove(&genesis.id());
    (genesis, all.into_values().collect())
}

fn check_observers(genesis: &SignedOp, ops: &[SignedOp], seed: u64) -> Result<(), TestCaseError> {
    let mut mix = Mix(seed);
    let far_future = u64::MAX / 2;
    // The order every ledger must end with.
    let mut reference = ledger(genesis);
    let mut pending: Vec<SignedOp> = ops.to_vec();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|op| match reference.insert_synced(op.clone(), far_future) {
            Ok(ins) => !ins.waiting_for.is_empty() && !reference.dag().contains(&op.id()),
            Err(_) => false,
        });
        if pending.len() == before {
            break;
        }
    }
    let full_order: Vec<OrderKey> = reference.dag().order();
    let full_set: std::collections::BTreeSet<OrderKey> = full_order.iter().copied().collect();
    let mut roots_at_final: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let mut observers = Vec::new();
    for _ in 0..3 {
        let mut observer = ledger(genesis);
        // A random delivery order with some duplicates.
        let mut delivery: Vec<SignedOp> = ops.to_vec();
        for i in (1..delivery.len()).rev() {
            let j = mix.below(i + 1);
            delivery.swap(i, j);
        }
        for _ in 0..ops.len() / 4 {
            let j = mix.below(ops.len().max(1));
            if let Some(op) = ops.get(j) {
                let at = mix.below(delivery.len() + 1);
                delivery.insert(at, op.clone());
            }
        }
        let mut last_final = 0;
        let mut final_parts: Vec<(u64, Vec<OrderKey>)> = Vec::new();
        for op in delivery {
            let _ = observer.insert(op, far_future);
            let final_height = observer.final_height();
            prop_assert!(final_height >= last_final, "final height went down");
            last_final = final_height;
            let root = observer.final_root();
            let seen = *roots_at_final.entry(final_height).or_insert(root);
            prop_assert_eq!(seen, root, "two final roots at final height {}", final_height);
            // Nothing final moves or changes: every op that was at or below
            // the final height is in the complete order (whose relative order
            // is fixed by (height, id)), and the final root at a final height
            // never changes (checked above, across all observers).
            let final_part: Vec<OrderKey> =
                observer.dag().order().into_iter().filter(|k| k.height <= final_height).collect();
            for key in &final_part {
                prop_assert!(full_set.contains(key), "final op {:?} is not in the complete order", key);
            }
            final_parts.push((final_height, final_part));
        }
        // Anti-entropy: what the front door turned away comes in by sync.
        for op in ops {
            let _ = observer.insert_synced(op.clone(), far_future);
        }
        // An op that turned up below an earlier final height can only be one
        // with no effect (a removed participant's concurrent op, kept as
        // structure): check it left the state alone.
        for (height, part) in &final_parts {
            for key in full_order.iter().filter(|k| k.height <= *height && !part.contains(k)) {
                let outcome = observer.outcome(&key.id);
                prop_assert!(
                    matches!(
                        outcome,
                        Some(
                            polypact::ledger::OpOutcome::Structural
                                | polypact::ledger::OpOutcome::Skipped { .. }
                        )
                    ),
                    "op {:?} arrived below final height {} with an effect: {:?}",
                    key,
                    height,
                    outcome
                );
            }
        }
        observers.push(observer);
    }
    for observer in &observers {
        prop_assert_eq!(observer.dag().order(), full_order.clone());
        prop_assert_eq!(observer.optimistic_root(), reference.optimistic_root());
        prop_assert_eq!(observer.final_height(), reference.final_height());
        prop_assert_eq!(observer.final_root(), reference.final_root());
        prop_assert!(observer.pending().is_empty());
    }
    Ok(())
}

/// 64 cases per run by default; `PROPTEST_CASES=N` searches longer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    #[test]
    fn same_ops_same_order_root_and_finality((n, initial, actions, seed) in scenario()) {
        let (genesis, ops) = author_ops(n, initial, &actions);
        check_observers(&genesis, &ops, seed)?;
    }

    /// Liveness: once every view has everything and has acked (a member
    /// removed by others included, with its one removal ack), every
    /// payload-bearing op is final, whatever admissions and removals (by
    /// self and by others) the schedule held. (Acks are never acked, so the
    /// last acks may stay above the final height.)
    #[test]
    fn quiescence_finalises_every_payload_op((n, initial, actions, _seed) in scenario()) {
        let (genesis, ops) = author_ops(n, initial, &actions);
        let mut observer = ledger(&genesis);
        for op in &ops {
            let _ = observer.insert_synced(op.clone(), u64::MAX / 2);
        }
        for op in ops.iter().filter(|op| op.op().payload.is_payload_bearing()) {
            prop_assert!(
                observer.is_final(&op.id()),
                "op {} ({}) never became final",
                op.id(),
                op.op().payload.kind()
            );
        }
    }
}

#[test]
fn quiescent_partnership_finalises_everything_it_authored() {
    let actions: Vec<Action> = (0..30)
        .map(|i| {
            if i % 3 == 2 {
                Action::Sync { from: i % 4, to: (i + 1) % 4 }
            } else {
                Action::Create { who: i % 4, what: (i % 6) as u8, arg: i as u8 }
            }
        })
        .collect();
    let (genesis, ops) = author_ops(4, 4, &actions);
    let mut observer = ledger(&genesis);
    for op in &ops {
        let _ = observer.insert(op.clone(), u64::MAX / 2);
    }
    for op in &ops {
        if op.op().payload.is_payload_bearing() {
            assert!(observer.is_final(&op.id()), "payload op {} never became final", op.id());
        }
    }
}
