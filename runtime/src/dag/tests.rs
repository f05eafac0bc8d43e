//! The graph forgetting ops: what stays held, and that every lookup answers
//! the same for a forgotten op as for a held one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::op::{MemberKey, PartnershipId, Payload, UnsignedOp};

/// Every op ever inserted, as a store would hold them; those in
/// `compacted` are known by height only, as a compacted store knows them.
#[derive(Debug, Default)]
struct Everything {
    ops: Mutex<BTreeMap<OpId, (u64, Arc<SignedOp>)>>,
    compacted: Mutex<std::collections::BTreeSet<OpId>>,
}

impl OpArchive for Everything {
    fn height_of(&self, id: &OpId) -> Option<u64> {
        self.ops.lock().expect("lock").get(id).map(|(h, _)| *h)
    }
    fn op(&self, id: &OpId) -> Option<(u64, Arc<SignedOp>)> {
        if self.compacted.lock().expect("lock").contains(id) {
            return None;
        }
        self.ops.lock().expect("lock").get(id).cloned()
    }
    fn header(&self, id: &OpId) -> Option<(u64, OpHeader)> {
        self.ops.lock().expect("lock").get(id).map(|(h, op)| (*h, op.header()))
    }
    fn ops_at(&self, author: &MemberId, seq: u64) -> Vec<(u64, OpId)> {
        let ops = self.ops.lock().expect("lock");
        ops.values()
            .filter(|(_, op)| op.author() == *author && op.seq() == seq)
            .map(|(h, op)| (*h, op.id()))
            .collect()
    }
    fn failure(&self) -> Option<&str> {
        None
    }
}

fn op(key: &MemberKey, seq: u64, parents: Vec<OpId>, payload: Payload) -> SignedOp {
    let mut parents = parents;
    parents.sort();
    UnsignedOp {
        partnership: PartnershipId([1; 32]),
        author: key.member_id(),
        seq,
        parents,
        time_ms: seq,
        payload,
    }
    .sign(key)
}

/// Two authors taking turns, each op on the other's latest: a chain of
/// `n` ops after the genesis. Returns the graph, its archive, the ops.
fn two_authors(n: u64) -> (Dag, Arc<Everything>, Vec<SignedOp>) {
    let (a, b) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let archive = Arc::new(Everything::default());
    let mut dag = Dag::new();
    dag.set_archive(archive.clone());
    let mut ops = vec![op(&a, 1, vec![], Payload::Ack)];
    let insert = |dag: &mut Dag, op: SignedOp| {
        let placement = dag.place(&op).expect("places");
        let op = Arc::new(op);
        archive.ops.lock().expect("lock").insert(op.id(), (placement.height, Arc::clone(&op)));
        dag.insert(op, placement);
    };
    insert(&mut dag, ops[0].clone());
    for i in 0..n {
        let (key, seq) = if i % 2 == 0 { (&b, i / 2 + 1) } else { (&a, i / 2 + 2) };
        let last = ops.last().expect("an op").id();
        let mut parents = vec![last];
        if let Some(previous) = dag.op_at(&key.member_id(), seq - 1)
            && previous != last
        {
            parents.push(previous);
        }
        let next = op(key, seq, parents, Payload::Ack);
        insert(&mut dag, next.clone());
        ops.push(next);
    }
    (dag, archive, ops)
}

#[test]
fn forgetting_keeps_heads_latest_ops_and_pinned_ones_and_answers_alike() {
    let (mut dag, _archive, ops) = two_authors(40);
    let heights: Vec<u64> = ops.iter().map(|op| dag.get(&op.id()).expect("held").height).collect();
    let pinned = ops[3].id();
    let forgot = dag.forget_up_to(30, |op| op.id() == pinned);
    assert_eq!(forgot, 30, "31 ops at heights 0..=30, one pinned");
    assert!(dag.held(&pinned).is_some());
    assert!(dag.held(&ops[10].id()).is_none());
    // The latest op of each author and the head stay.
    for chain in dag.chains().values() {
        assert!(dag.held(&chain.latest().expect("an op")).is_some());
    }
    for head in dag.heads() {
        assert!(dag.held(head).is_some());
    }
    // Every lookup answers as before.
    for (op, height) in ops.iter().zip(&heights) {
        assert!(dag.contains(&op.id()));
        assert!(dag.contains_op(op));
        assert_eq!(dag.get(&op.id()).map(|n| n.height), Some(*height));
        assert_eq!(dag.op_at(&op.author(), op.seq()), Some(op.id()));
        assert_eq!(dag.ops_at(&op.author(), op.seq()), vec![op.id()]);
        assert_eq!(dag.place(op), Err(PlaceError::Duplicate));
    }
    assert!(dag.reaches(&[ops[40].id()], &ops[2].id()));
    assert_eq!(dag.len(), 41);
    assert_eq!(dag.held_len(), 41 - 30);
}

#[test]
fn an_op_on_a_forgotten_parent_is_placed_and_an_old_seq_is_an_equivocation() {
    let (mut dag, _archive, ops) = two_authors(40);
    dag.forget_up_to(30, |_| false);
    let a = MemberKey::from_seed(1);
    // A's op with seq 3 again, on its seq-2 op: both long forgotten.
    let seq2 = dag.op_at(&a.member_id(), 2).expect("seq 2");
    let seq3 = dag.op_at(&a.member_id(), 3).expect("seq 3");
    let twin = op(&a, 3, vec![seq2, ops[1].id()], Payload::Resume);
    let placement = dag.place(&twin).expect("places");
    assert_eq!(placement.equivocates_with, Some(seq3));
    let found = dag.insert(Arc::new(twin.clone()), placement).expect("an equivocation");
    assert_eq!(found.proof.expect("proven").seq(), 3);
    assert_eq!(dag.ops_at(&a.member_id(), 3), {
        let mut both = vec![seq3, twin.id()];
        both.sort();
        both
    });
    assert!(dag.contains_op(&twin));
}

#[test]
fn without_an_archive_nothing_is_forgotten() {
    let (a, b) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let mut dag = Dag::new();
    let genesis = op(&a, 1, vec![], Payload::Ack);
    let placement = dag.place(&genesis).expect("places");
    dag.insert(Arc::new(genesis.clone()), placement);
    let next = op(&b, 1, vec![genesis.id()], Payload::Ack);
    let placement = dag.place(&next).expect("places");
    dag.insert(Arc::new(next), placement);
    assert_eq!(dag.forget_up_to(10, |_| false), 0);
    assert_eq!(dag.forget_oldest(10, 0, 0, |_| false), None);
    assert_eq!(dag.held_len(), 2);
}

/// A twin of a seq whose op was compacted (its content gone, its height
/// known) is the same equivocation, only without a proof, and a summary
/// carries it across a restart without reading the op.
#[test]
fn a_twin_of_a_compacted_op_is_an_equivocation_without_a_proof() {
    let (mut dag, archive, ops) = two_authors(40);
    dag.forget_up_to(30, |_| false);
    let a = MemberKey::from_seed(1);
    let seq2 = dag.op_at(&a.member_id(), 2).expect("seq 2");
    let seq3 = dag.op_at(&a.member_id(), 3).expect("seq 3");
    archive.compacted.lock().expect("lock").insert(seq3);
    assert!(dag.get(&seq3).is_none(), "its content is gone");
    assert!(dag.height_of(&seq3).is_some(), "its height is known");
    let twin = op(&a, 3, vec![seq2, ops[1].id()], Payload::Resume);
    let placement = dag.place(&twin).expect("places");
    assert_eq!(placement.equivocates_with, Some(seq3));
    let found = dag.insert(Arc::new(twin.clone()), placement).expect("an equivocation");
    assert_eq!((found.author, found.seq, found.proof), (a.member_id(), 3, None));
    assert_eq!(dag.equivocated_seqs(), vec![(a.member_id(), 3)]);
    archive.ops.lock().expect("lock").insert(twin.id(), (placement.height, Arc::new(twin.clone())));
    dag.forget_up_to(dag.max_height(), |_| false);
    let summary = dag.summary().expect("a summary");
    assert_eq!(summary.unproven.len(), 1);
    let back = Dag::from_summary(&summary, archive.clone()).expect("the summary fits");
    assert_eq!(back.equivocated_seqs(), vec![(a.member_id(), 3)]);
}
