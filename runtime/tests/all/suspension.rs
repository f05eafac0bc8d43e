//! Suspension of absent participants, and finality under partitions.
//!
//! Scenarios: a silent participant is suspended by a majority and the
//! others go on; what it authored while cut off has no effect; it returns
//! and counts again; two partners alone cannot suspend each other, a witness
//! makes it possible; bad votes are refused or fail.
//!
//! Property (safety): members act in their own views under random
//! partitions, votes, withdrawals and returns; no two views ever finalise
//! an op with different outcomes, or reach one final height with different
//! final roots, and no view's final height goes down. Property (liveness):
//! once the network is whole and every member acts as its node would
//! (acks, withdraws a vote whose member turned out to be there, resumes
//! when suspended), every payload-bearing op is final everywhere.

use std::collections::BTreeMap;

use polypact::ledger::{Ledger, NativeExecutor, NotificationKind, OpOutcome, Refusal};
use polypact::op::{MemberId, MemberKey, OpId, Payload, SignedOp, UnsignedOp};
use proptest::prelude::*;
use serde_json::json;

use crate::support::{T0, author, call, charter, genesis, keys, ledger, sync};

fn set(value: u64) -> Payload {
    call(json!({"set": {"key": "k", "value": value.to_string()}}))
}

/// The vote `key` would cast now in `view` to suspend `member`.
fn suspend_vote(view: &Ledger<NativeExecutor>, member: MemberId) -> Payload {
    let cut_seq = view.dag().chain(&member).map_or(0, |c| c.max_seq());
    Payload::Suspend { member, cut_seq }
}

/// `key` votes in `view` to suspend `member`, at the cut it sees.
fn vote(view: &mut Ledger<NativeExecutor>, key: &MemberKey, member: MemberId, now: u64) -> SignedOp {
    let payload = suspend_vote(view, member);
    author(view, key, payload, now)
}

fn outcome_kind(outcome: &OpOutcome) -> &'static str {
    match outcome {
        OpOutcome::Applied { .. } => "applied",
        OpOutcome::Failed { .. } => "failed",
        OpOutcome::Skipped { .. } => "skipped",
        OpOutcome::Structural => "structural",
    }
}

#[test]
fn a_majority_suspends_a_silent_member_and_goes_on() {
    let k = keys(3);
    let members: Vec<MemberId> = k.iter().map(MemberKey::member_id).collect();
    let g = genesis(&k[0], charter(&members));
    let mut a = ledger(&g);
    let mut b = ledger(&g);
    let mut c = ledger(&g);
    // C takes part once, then goes silent (its node is cut off).
    author(&mut c, &k[2], set(1), T0 + 1);
    sync(&c, &mut a, T0 + 1);
    sync(&c, &mut b, T0 + 1);
    // While cut off, C authors an op nobody sees yet.
    let hidden = author(&mut c, &k[2], set(99), T0 + 2);
    // A records something: it cannot become final while C counts.
    let op = author(&mut a, &k[0], set(2), T0 + 3);
    sync(&a, &mut b, T0 + 3);
    author(&mut b, &k[1], Payload::Ack, T0 + 4);
    sync(&b, &mut a, T0 + 4);
    assert!(!a.is_final(&op.id()), "C has not built on it");
    // A and B vote to suspend C at its last op they saw (seq 1).
    vote(&mut a, &k[0], members[2], T0 + 5);
    sync(&a, &mut b, T0 + 5);
    let completing = vote(&mut b, &k[1], members[2], T0 + 6);
    assert!(b.optimistic_state().is_suspended(&members[2]));
    sync(&b, &mut a, T0 + 6);
    for view in [&mut a, &mut b] {
        let me = if view.dag().chain(&members[0]).is_some_and(|c| c.max_seq() >= 3) { &k[0] } else { &k[1] };
        if view.needs_ack(&me.member_id()) {
            author(view, me, Payload::Ack, T0 + 7);
        }
    }
    sync(&a, &mut b, T0 + 7);
    sync(&b, &mut a, T0 + 7);
    for view in [&a, &b] {
        assert!(view.is_final(&op.id()), "the op is final without C");
        assert!(view.is_final(&completing.id()), "so is the suspension");
    }
    assert_eq!(a.final_root(), b.final_root());
    // Modules see it through `system`.
    let statuses = a.query("system", br#"{"statuses":{}}"#, true).expect("runs").expect("answers");
    let statuses: serde_json::Value = serde_json::from_slice(&statuses).expect("json");
    let status_of = |m: &MemberId| {
        statuses
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["member"] == m.to_string())
            .map(|s| s["status"].clone())
    };
    assert_eq!(status_of(&members[2]), Some(json!("suspended")));
    assert_eq!(status_of(&members[0]), Some(json!("active")));
    // C's hidden op arrives late: it has no effect, and nothing final moves.
    let root = a.final_root();
    a.insert_synced(hidden.clone(), T0 + 8).expect("structure is kept");
    assert_eq!(a.final_root(), root);
    match a.outcome(&hidden.id()) {
        Some(OpOutcome::Skipped { reason }) => assert!(reason.contains("suspended"), "{reason}"),
        other => panic!("an op sorting below the final height is reported skipped, not {other:?}"),
    }
    assert_eq!(a.final_state().get(b"m/kv/k").map(|v| v.as_slice()), Some(&b"2"[..]));
    // C comes back, learns of its suspension, resumes; from then on it counts.
    sync(&a, &mut c, T0 + 9);
    assert!(c.optimistic_state().is_suspended(&members[2]));
    match c.outcome(&hidden.id()) {
        Some(OpOutcome::Skipped { reason }) => assert!(reason.contains("suspended"), "{reason}"),
        other => panic!("C's own view must report its cut-off op as without effect, not {other:?}"),
    }
    // It asks to return; a partner who sees the request readmits it.
    let resume = author(&mut c, &k[2], Payload::Resume, T0 + 10);
    assert!(matches!(c.outcome(&resume.id()), Some(OpOutcome::Skipped { .. })), "a request only");
    sync(&c, &mut a, T0 + 10);
    let readmit = author(&mut a, &k[0], Payload::Readmit { member: members[2] }, T0 + 10);
    assert!(matches!(a.outcome(&readmit.id()), Some(OpOutcome::Applied { .. })));
    assert!(!a.optimistic_state().is_suspended(&members[2]));
    sync(&a, &mut c, T0 + 10);
    let back = author(&mut c, &k[2], set(3), T0 + 11);
    for _ in 0..3 {
        sync(&c, &mut a, T0 + 12);
        sync(&c, &mut b, T0 + 12);
        for (view, key) in [(&mut a, &k[0]), (&mut b, &k[1])] {
            if view.needs_ack(&key.member_id()) {
                author(view, key, Payload::Ack, T0 + 13);
            }
        }
        sync(&a, &mut b, T0 + 14);
        sync(&b, &mut a, T0 + 14);
        sync(&a, &mut c, T0 + 14);
        if c.needs_ack(&members[2]) {
            author(&mut c, &k[2], Payload::Ack, T0 + 15);
        }
    }
    for view in [&a, &b, &c] {
        assert!(view.is_final(&back.id()), "C's op after its return is final");
        assert!(!view.optimistic_state().is_suspended(&members[2]));
    }
    assert_eq!(a.final_root(), b.final_root());
    assert_eq!(a.final_root(), c.final_root());
    assert_eq!(a.final_state().get(b"m/kv/k").map(|v| v.as_slice()), Some(&b"3"[..]));
}

#[test]
fn two_partners_cannot_suspend_each_other_but_a_witness_makes_a_majority() {
    let k = keys(3);
    let pair: Vec<MemberId> = k[..2].iter().map(MemberKey::member_id).collect();
    let g = genesis(&k[0], charter(&pair));
    let mut a = ledger(&g);
    let first = vote(&mut a, &k[0], pair[1], T0 + 1);
    assert!(matches!(a.outcome(&first.id()), Some(OpOutcome::Applied { .. })));
    assert!(!a.optimistic_state().is_suspended(&pair[1]), "one vote of two is no majority");

    // With a witness (a third participant with no stake), one partner and
    // the witness are a majority.
    let trio: Vec<MemberId> = k.iter().map(MemberKey::member_id).collect();
    let g = genesis(&k[0], charter(&trio));
    let mut a = ledger(&g);
    let mut w = ledger(&g);
    vote(&mut a, &k[0], trio[1], T0 + 1);
    sync(&a, &mut w, T0 + 1);
    vote(&mut w, &k[2], trio[1], T0 + 2);
    assert!(w.optimistic_state().is_suspended(&trio[1]));
}

/// Whom finality waits for (whom a node would vote to suspend) is whoever
/// has not built on the op finality is held at, which need not be the
/// oldest op that is not final: of two ops at one height, everyone built on
/// the first, C and D not on the second (a partition fell between them).
#[test]
fn finality_waits_for_those_who_did_not_build_on_a_later_op_of_the_same_height() {
    let k = keys(4);
    let members: Vec<MemberId> = k.iter().map(MemberKey::member_id).collect();
    let g = genesis(&k[0], charter(&members));
    let mut a = ledger(&g);
    let mut b = ledger(&g);
    // A and B sign at once, each on the genesis alone: two ops at height 1.
    let p = author(&mut a, &k[0], set(1), T0 + 1);
    let q = author(&mut b, &k[1], set(2), T0 + 1);
    let (first, second) = if p.id() < q.id() { (p, q) } else { (q, p) };
    // C and D get only the first op and build on it.
    let mut c = ledger(&g);
    let mut d = ledger(&g);
    for (view, key) in [(&mut c, &k[2]), (&mut d, &k[3])] {
        view.insert_synced(first.clone(), T0 + 2).expect("accepted");
        author(view, key, Payload::Ack, T0 + 2);
    }
    // A and B get both and build on both; A gets everything.
    sync(&a, &mut b, T0 + 2);
    sync(&b, &mut a, T0 + 2);
    author(&mut b, &k[1], Payload::Ack, T0 + 3);
    for other in [&b, &c, &d] {
        sync(other, &mut a, T0 + 3);
    }
    author(&mut a, &k[0], Payload::Ack, T0 + 3);
    assert_eq!(a.final_height(), 0, "C and D have not built on the second op");
    assert!(!a.is_final(&first.id()) && !a.is_final(&second.id()));
    let mut waiting = a.waiting_for();
    waiting.sort();
    let mut expected = vec![members[2], members[3]];
    expected.sort();
    assert_eq!(waiting, expected, "finality is held at the second op, which C and D have not built on");
}

#[test]
fn bad_votes_are_refused_or_fail() {
    let k = keys(4);
    let members: Vec<MemberId> = k[..3].iter().map(MemberKey::member_id).collect();
    let g = genesis(&k[0], charter(&members));
    let mut a = ledger(&g);
    author(&mut a, &k[2], set(1), T0 + 1);
    // A cut that is not the member's last op in the vote's past.
    let forged = {
        let honest = a.create_op(&k[0], suspend_vote(&a, members[2]), T0 + 2);
        let mut op: UnsignedOp = honest.op().clone();
        op.payload = Payload::Suspend { member: members[2], cut_seq: 0 };
        op.sign(&k[0])
    };
    let refusal = a.insert(forged.clone(), T0 + 2).expect_err("a stale cut is refused");
    assert!(matches!(refusal, Refusal::BadSuspension(_)), "{refusal}");
    assert!(a.insert_synced(forged, T0 + 2).is_err(), "by sync too: it is a structural rule");
    // A cut beyond what the vote saw.
    let ahead = {
        let honest = a.create_op(&k[0], suspend_vote(&a, members[2]), T0 + 2);
        let mut op: UnsignedOp = honest.op().clone();
        op.payload = Payload::Suspend { member: members[2], cut_seq: 7 };
        op.sign(&k[0])
    };
    assert!(matches!(a.insert(ahead, T0 + 2), Err(Refusal::BadSuspension(_))));
    // Voting for oneself is malformed.
    let own = a.create_op(&k[0], Payload::Suspend { member: members[0], cut_seq: 0 }, T0 + 2);
    assert!(a.insert(own, T0 + 2).is_err());
    // One vote per epoch: a vote against someone else fails, withdrawn or not…
    vote(&mut a, &k[0], members[2], T0 + 3);
    let second = vote(&mut a, &k[0], members[1], T0 + 4);
    match a.outcome(&second.id()) {
        Some(OpOutcome::Failed { error }) => assert!(error.contains("once per epoch"), "{error}"),
        other => panic!("{other:?}"),
    }
    let withdrawn = author(&mut a, &k[0], Payload::Withdraw, T0 + 5);
    assert!(matches!(a.outcome(&withdrawn.id()), Some(OpOutcome::Applied { .. })));
    assert!(a.optimistic_state().live_vote(&members[0]).is_none());
    let again = author(&mut a, &k[0], Payload::Withdraw, T0 + 6);
    assert!(matches!(a.outcome(&again.id()), Some(OpOutcome::Failed { .. })));
    let third = vote(&mut a, &k[0], members[1], T0 + 6);
    assert!(matches!(a.outcome(&third.id()), Some(OpOutcome::Failed { .. })));
    // …while a vote against the same member at a later cut replaces it.
    author(&mut a, &k[2], set(5), T0 + 6);
    let revote = vote(&mut a, &k[0], members[2], T0 + 6);
    assert!(matches!(a.outcome(&revote.id()), Some(OpOutcome::Applied { .. })));
    assert_eq!(a.optimistic_state().live_vote(&members[0]).map(|v| v.cut_seq), Some(2));
    // Resume by someone not suspended fails; so does readmitting them.
    let resume = author(&mut a, &k[1], Payload::Resume, T0 + 7);
    assert!(matches!(a.outcome(&resume.id()), Some(OpOutcome::Failed { .. })));
    let readmit = author(&mut a, &k[0], Payload::Readmit { member: members[1] }, T0 + 7);
    assert!(matches!(a.outcome(&readmit.id()), Some(OpOutcome::Failed { .. })));
    // A newcomer admitted after the member's last op cannot vote against it.
    author(&mut a, &k[0], call(json!({"admit": k[3].member_id().to_string()})), T0 + 8);
    let late = vote(&mut a, &k[3], members[2], T0 + 9);
    match a.outcome(&late.id()) {
        Some(OpOutcome::Failed { error }) => assert!(error.contains("could have seen"), "{error}"),
        other => panic!("{other:?}"),
    }
}

// ---- Property tests ------------------------------------------------------

#[derive(Clone, Debug)]
enum Action {
    /// Member `who` authors something in its own view.
    Create { who: usize, what: u8 },
    /// `to` receives everything `from` has, if they are on the same side.
    Sync { from: usize, to: usize },
    /// The members whose bit is set are cut off from the others.
    Partition { side: u8 },
    /// The network is whole again.
    Heal,
    /// `who` votes to suspend `member`.
    Vote { who: usize, member: usize },
    /// `who` withdraws its vote.
    Withdraw { who: usize },
    /// `who` asks to return (has effect only if suspended and readmitted).
    Resume { who: usize },
    /// `who` readmits `member`.
    Readmit { who: usize, member: usize },
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..n, 0u8..6).prop_map(|(who, what)| Action::Create { who, what }),
        5 => (0..n, 0..n).prop_map(|(from, to)| Action::Sync { from, to }),
        1 => any::<u8>().prop_map(|side| Action::Partition { side }),
        1 => Just(Action::Heal),
        2 => (0..n, 0..n).prop_map(|(who, member)| Action::Vote { who, member }),
        1 => (0..n).prop_map(|who| Action::Withdraw { who }),
        1 => (0..n).prop_map(|who| Action::Resume { who }),
        1 => (0..n, 0..n).prop_map(|(who, member)| Action::Readmit { who, member }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Action>)> {
    (3usize..=5).prop_flat_map(|n| (Just(n), prop::collection::vec(action(n), 10..90)))
}

struct World {
    keys: Vec<MemberKey>,
    members: Vec<MemberId>,
    views: Vec<Ledger<NativeExecutor>>,
    side: u8,
    now: u64,
    /// Every op's final outcome, as the first view to finalise it saw it.
    final_outcomes: BTreeMap<OpId, &'static str>,
    /// The final root at each final height, as first seen.
    roots: BTreeMap<u64, [u8; 32]>,
    last_final: Vec<u64>,
}

impl World {
    fn new(n: usize) -> World {
        let keys = keys(n as u8);
        let members: Vec<MemberId> = keys.iter().map(MemberKey::member_id).collect();
        let g = genesis(&keys[0], charter(&members));
        let views = (0..n).map(|_| ledger(&g)).collect();
        World {
            keys,
            members,
            views,
            side: 0,
            now: T0,
            final_outcomes: BTreeMap::new(),
            roots: BTreeMap::new(),
            last_final: vec![0; n],
        }
    }

    fn same_side(&self, a: usize, b: usize) -> bool {
        (self.side >> a & 1) == (self.side >> b & 1)
    }

    fn author(&mut self, who: usize, payload: Payload) -> Option<SignedOp> {
        self.now += 10;
        let op = self.views[who].create_op(&self.keys[who], payload, self.now);
        self.views[who].insert(op.clone(), self.now).ok().map(|_| op)
    }

    fn sync(&mut self, from: usize, to: usize) {
        if from == to || !self.same_side(from, to) {
            return;
        }
        self.now += 1;
        let (a, b) = if from < to {
            let (left, right) = self.views.split_at_mut(to);
            (&left[from], &mut right[0])
        } else {
            let (left, right) = self.views.split_at_mut(from);
            (&right[0], &mut left[to])
        };
        sync(a, b, self.now);
    }

    fn step(&mut self, action: &Action) {
        match *action {
            Action::Create { who, what } => {
                let payload = if what < 4 { set(u64::from(what)) } else { Payload::Ack };
                self.author(who, payload);
            }
            Action::Sync { from, to } => self.sync(from, to),
            Action::Partition { side } => self.side = side,
            Action::Heal => self.side = 0,
            Action::Vote { who, member } if who != member => {
                let payload = suspend_vote(&self.views[who], self.members[member]);
                self.author(who, payload);
            }
            Action::Vote { .. } => {}
            Action::Withdraw { who } => {
                self.author(who, Payload::Withdraw);
            }
            Action::Resume { who } => {
                self.author(who, Payload::Resume);
            }
            Action::Readmit { who, member } if who != member => {
                let member = self.members[member];
                self.author(who, Payload::Readmit { member });
            }
            Action::Readmit { .. } => {}
        }
    }

    /// Checks every view against what the others finalised.
    fn check(&mut self) -> Result<(), TestCaseError> {
        for i in 0..self.views.len() {
            let (height, own_root) = (self.views[i].final_height(), self.views[i].final_root());
            prop_assert!(height >= self.last_final[i], "view {} final height went down", i);
            self.last_final[i] = height;
            let root = *self.roots.entry(height).or_insert(own_root);
            if root != own_root && std::env::var("SUSPENSION_DEBUG").is_ok() {
                self.dump();
            }
            prop_assert_eq!(root, own_root, "two final roots at final height {}", height);
            for note in self.views[i].drain_notifications() {
                if note.kind != NotificationKind::Final {
                    continue;
                }
                let Some(outcome) = note.outcome.as_ref().map(outcome_kind) else { continue };
                let first = *self.final_outcomes.entry(note.id).or_insert(outcome);
                prop_assert_eq!(first, outcome, "op {} final with two outcomes", note.id);
            }
        }
        Ok(())
    }

    /// Whether `member`, suspended in `who`'s view, has a resume op after its cut there.
    fn asked_to_return(&self, who: usize, member: MemberId) -> bool {
        let view = &self.views[who];
        let Some(record) = view.optimistic_state().suspension(&member) else { return false };
        view.dag()
            .ops_from(&member, record.cut_seq + 1)
            .iter()
            .any(|id| view.dag().get(id).is_some_and(|n| n.op.op().payload == Payload::Resume))
    }

    /// Prints every view's order and outcomes (`SUSPENSION_DEBUG=1`).
    fn dump(&self) {
        for (j, v) in self.views.iter().enumerate() {
            eprintln!("view {j}: final {} root {:?}", v.final_height(), &v.final_root()[..4]);
            for key in v.dag().order() {
                let Some(node) = v.dag().get(&key.id) else { continue };
                let who = self.members.iter().position(|m| *m == node.op.author());
                let outcome =
                    v.outcome(&key.id).map(|o| format!("{o:?}").chars().take(100).collect::<String>());
                eprintln!(
                    "   h{} {} by {:?} seq {} {} -> {:?}",
                    key.height,
                    &key.id.to_string()[..6],
                    who,
                    node.op.seq(),
                    node.op.op().payload.kind(),
                    outcome
                );
            }
        }
    }

    /// What a node does on its own: withdraw a vote whose member acted
    /// after the cut, resume when suspended, ack what it has not built on.
    fn act_as_nodes(&mut self) {
        for who in 0..self.views.len() {
            let me = self.members[who];
            let state = self.views[who].optimistic_state();
            let vote = state.live_vote(&me);
            let suspended = state.is_suspended(&me);
            if let Some(vote) = vote {
                let seen = self.views[who].dag().chain(&vote.member).map_or(0, |c| c.max_seq());
                if seen > vote.cut_seq {
                    self.author(who, Payload::Withdraw);
                }
            }
            if suspended && !self.asked_to_return(who, me) {
                self.author(who, Payload::Resume);
            }
            let returning: Vec<MemberId> = self.views[who]
                .optimistic_state()
                .suspensions()
                .into_iter()
                .filter(|(member, record)| {
                    record.is_current() && *member != me && self.asked_to_return(who, *member)
                })
                .map(|(member, _)| member)
                .collect();
            for member in returning {
                self.author(who, Payload::Readmit { member });
            }
            if self.views[who].needs_ack(&me) {
                self.author(who, Payload::Ack);
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    #[test]
    fn no_two_views_finalise_differently_and_a_whole_network_finalises_everything(
        (n, actions) in scenario()
    ) {
        let mut world = World::new(n);
        for action in &actions {
            world.step(action);
            world.check()?;
        }
        // The network is whole again; every node does its part.
        world.side = 0;
        for _ in 0..6 {
            for to in 0..n {
                for from in 0..n {
                    world.sync(from, to);
                }
            }
            world.act_as_nodes();
            world.check()?;
        }
        for to in 0..n {
            for from in 0..n {
                world.sync(from, to);
            }
        }
        world.check()?;
        let ops: Vec<SignedOp> = world.views[0].dag().nodes().map(|node| (*node.op).clone()).collect();
        for view in &world.views {
            for op in ops.iter().filter(|op| op.op().payload.is_payload_bearing()) {
                if !view.is_final(&op.id()) && std::env::var("SUSPENSION_DEBUG").is_ok() {
                    world.dump();
                }
                prop_assert!(
                    view.is_final(&op.id()),
                    "{} op {} never became final",
                    op.op().payload.kind(),
                    op.id()
                );
            }
        }
    }
}

/// Found by the property test: a suspension whose voters all went on to
/// cast other suspension ops (a vote in the next epoch, a failed withdrawal)
/// still cuts its member's concurrent ops, on every node.
#[test]
fn a_suspension_cuts_its_member_even_after_its_voters_moved_on() {
    use Action::*;
    let actions = [
        Create { who: 0, what: 1 },
        Vote { who: 2, member: 0 },
        Vote { who: 2, member: 1 },
        Create { who: 0, what: 0 },
        Vote { who: 1, member: 0 },
        Sync { from: 1, to: 2 },
        Sync { from: 2, to: 0 },
        Sync { from: 0, to: 1 },
        Sync { from: 0, to: 2 },
        Create { who: 1, what: 0 },
        Withdraw { who: 1 },
        Create { who: 2, what: 0 },
    ];
    let n = 3;
    let mut world = World::new(n);
    for action in &actions {
        world.step(action);
        world.check().expect("consistent");
    }
    for _ in 0..6 {
        for to in 0..n {
            for from in 0..n {
                world.sync(from, to);
                world.check().expect("consistent");
            }
        }
        world.act_as_nodes();
        world.check().expect("consistent");
    }
}

/// The attacker's case: a partner votes to suspend another who is present
/// and never withdraws. Its lone vote cannot complete, and once the others
/// have moved past its window it stops holding finality back.
#[test]
fn a_lone_hostile_vote_does_not_freeze_finality() {
    let k = keys(3);
    let members: Vec<MemberId> = k.iter().map(MemberKey::member_id).collect();
    let mut with_window = charter(&members);
    with_window.params.suspend_after_ms = 1_000;
    let g = genesis(&k[0], with_window);
    let mut views = [ledger(&g), ledger(&g), ledger(&g)];
    let sync_all = |views: &mut [Ledger<NativeExecutor>; 3], now: u64| {
        for from in 0..3 {
            for to in 0..3 {
                if from != to {
                    let (src, dst) = if from < to {
                        let (l, r) = views.split_at_mut(to);
                        (&l[from], &mut r[0])
                    } else {
                        let (l, r) = views.split_at_mut(from);
                        (&r[0], &mut l[to])
                    };
                    sync(src, dst, now);
                }
            }
        }
    };
    author(&mut views[1], &k[1], set(1), T0 + 1);
    sync_all(&mut views, T0 + 1);
    // A votes against B, who is right there, and never withdraws.
    vote(&mut views[0], &k[0], members[1], T0 + 2);
    sync_all(&mut views, T0 + 2);
    let mut last = None;
    for round in 0..6u64 {
        let now = T0 + 10_000 + round * 10;
        last = Some(author(&mut views[1], &k[1], set(round + 2), now));
        sync_all(&mut views, now);
        for who in [0, 2] {
            if views[who].needs_ack(&members[who]) {
                author(&mut views[who], &k[who], Payload::Ack, now + 1);
            }
        }
        sync_all(&mut views, now + 2);
    }
    let last = last.expect("authored");
    for view in &views {
        assert!(!view.optimistic_state().is_suspended(&members[1]), "one vote of three is no quorum");
        assert!(view.is_final(&last.id()), "the lone vote still holds B's ops back");
    }
}
