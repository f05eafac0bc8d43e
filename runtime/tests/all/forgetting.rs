//! Final ops leaving memory: a ledger that forgets its final ops (and reads
//! them back from the store when asked) decides exactly as one that holds
//! every op, also when ops reach into the forgotten past: a late op built
//! on an old view, an equivocation of an old seq, an old op delivered again,
//! and across a restart.

use std::sync::Arc;

use polypact::ledger::{FinalInMemory, Insertion, Ledger, LedgerConfig, NativeExecutor, Refusal};
use polypact::op::{MemberKey, OpId, Payload, SignedOp, UnsignedOp};
use polypact::store::{FinalDelta, Store};
use serde_json::json;

use crate::support::{T0, call, charter, executor, genesis, keys, ledger};

/// Forget early and often, so a few hundred ops cross the horizon many times.
fn forgetful_config() -> LedgerConfig {
    LedgerConfig { final_in_memory: FinalInMemory { forget_above: 16, keep_recent: 4 }, ..Default::default() }
}

/// What the forgetful ledger does after each persisted insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tick {
    /// A node's snapshot tick: forget, save the summary and archive.
    Full,
    /// Nothing: the op is stored and the node stops before its next tick.
    Skipped,
}

/// The same partnership twice: `plain` holds every op, `forgetful` forgets
/// final ops into `store` after each persisted insert.
struct Pair {
    keys: Vec<MemberKey>,
    plain: Ledger<NativeExecutor>,
    forgetful: Ledger<NativeExecutor>,
    store: Arc<Store>,
    /// Every op either accepted, in order.
    seen: Vec<SignedOp>,
    now: u64,
    forgot: usize,
    /// Whether outcomes are compared (not after `forgetful` restarted).
    outcomes: bool,
    tick: Tick,
}

impl Pair {
    fn new() -> Pair {
        let keys = keys(3);
        let members: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
        let genesis = genesis(&keys[0], charter(&members));
        let store = Arc::new(Store::open_in_memory().expect("store"));
        store.append_ops(&genesis.partnership(), &[(0, &genesis)]).expect("genesis stored");
        let forgetful =
            Ledger::open_with_archive(&store, &genesis.partnership(), executor(), forgetful_config())
                .expect("opens");
        Pair {
            keys,
            plain: ledger(&genesis),
            forgetful,
            store,
            seen: vec![genesis],
            now: T0,
            forgot: 0,
            outcomes: true,
            tick: Tick::Full,
        }
    }

    /// Inserts `op` into both; persists what the forgetful one accepted,
    /// lets it forget, and checks both answered and decided alike.
    fn insert(&mut self, op: SignedOp) -> Result<Insertion, Refusal> {
        self.now += 5;
        let plain = self.plain.insert(op.clone(), self.now);
        let forgetful = self.forgetful.insert(op.clone(), self.now);
        assert_eq!(plain, forgetful, "the two ledgers answer op {} differently", op.id());
        if let Ok(insertion) = &forgetful {
            let ops: Vec<(u64, SignedOp)> = insertion
                .accepted
                .iter()
                .map(|(id, height)| {
                    (*height, (*self.forgetful.dag().get(id).expect("accepted op").op).clone())
                })
                .collect();
            let refs: Vec<(u64, &SignedOp)> = ops.iter().map(|(h, op)| (*h, op)).collect();
            self.store.append_ops(&op.partnership(), &refs).expect("persisted");
            self.seen.extend(ops.into_iter().map(|(_, op)| op));
            // As a node does at its snapshot tick: final ops leave memory,
            // the summary is saved, the store's index follows them to disk.
            let forgot = match self.tick {
                Tick::Full => self.forgetful.save_final_and_forget(&self.store).expect("saved"),
                Tick::Skipped => None,
            };
            if forgot.is_some() {
                self.forgot += 1;
            }
        }
        self.check_alike();
        forgetful
    }

    /// `who` authors `payload` on the current heads.
    fn author(&mut self, who: usize, payload: Payload) -> SignedOp {
        let op = self.plain.create_op(&self.keys[who], payload, self.now + 5);
        assert_eq!(op, self.forgetful.create_op(&self.keys[who], op.op().payload.clone(), self.now + 5));
        self.insert(op.clone()).expect("accepted");
        op
    }

    fn check_alike(&self) {
        check_alike(&self.plain, &self.forgetful, &self.seen, self.outcomes);
    }

    /// The forgetful node stops and starts again from the store.
    fn restart(&mut self) {
        let p = self.plain.partnership();
        self.forgetful =
            Ledger::open_with_archive(&self.store, &p, executor(), forgetful_config()).expect("reopens");
        self.outcomes = false;
        self.check_alike();
    }
}

/// Everything a caller can ask of the two ledgers is the same (the outcomes
/// of recent final ops only if neither restarted: they are remembered in
/// memory, not stored).
fn check_alike(
    plain: &Ledger<NativeExecutor>,
    other: &Ledger<NativeExecutor>,
    seen: &[SignedOp],
    outcomes: bool,
) {
    assert_eq!(plain.final_height(), other.final_height());
    assert_eq!(plain.optimistic_height(), other.optimistic_height());
    assert_eq!(plain.final_root(), other.final_root());
    assert_eq!(
        plain.checkpoints().collect::<Vec<_>>(),
        other.checkpoints().collect::<Vec<_>>(),
        "the same checkpoints, forgetting and restarting or not"
    );
    assert_eq!(plain.optimistic_root(), other.optimistic_root());
    assert_eq!(plain.final_op_count(), other.final_op_count());
    assert_eq!(plain.dag().heads(), other.dag().heads());
    assert_eq!(plain.dag().len(), other.dag().len());
    assert_eq!(plain.excluded(), other.excluded());
    assert_eq!(plain.waiting_for(), other.waiting_for());
    for op in seen.iter().rev().take(40).chain(seen.iter().step_by(7)) {
        let id = op.id();
        assert_eq!(plain.is_final(&id), other.is_final(&id), "is_final of {id}");
        if outcomes {
            assert_eq!(plain.outcome(&id), other.outcome(&id), "outcome of {id}");
        }
        assert_eq!(
            plain.dag().get(&id).map(|n| n.height),
            other.dag().get(&id).map(|n| n.height),
            "height of {id}"
        );
    }
    for (member, chain) in plain.dag().chains() {
        let theirs = other.dag().chain(member).expect("same authors");
        assert_eq!(chain.max_seq(), theirs.max_seq());
        assert_eq!(chain.tip_height(), theirs.tip_height());
        for seq in [1, chain.max_seq() / 2, chain.max_seq()] {
            assert_eq!(
                plain.dag().ops_at(member, seq),
                other.dag().ops_at(member, seq),
                "{member} seq {seq}"
            );
        }
    }
}

fn workload_step(pair: &mut Pair, i: u64) {
    let who = (i % 3) as usize;
    let payload = match i % 6 {
        0 | 1 => call(json!({"add": {"key": "n", "by": i}})),
        2 => call(json!({"set": {"key": format!("k{}", i % 5), "value": i.to_string()}})),
        3 => call(json!({"fail": "deliberately"})),
        _ => Payload::Ack,
    };
    pair.author(who, payload);
}

/// An op of `key` with `seq` on `parents`, signed.
fn op_on(pair: &Pair, key: &MemberKey, seq: u64, mut parents: Vec<OpId>, payload: Payload) -> SignedOp {
    parents.sort();
    UnsignedOp {
        partnership: pair.plain.partnership(),
        author: key.member_id(),
        seq,
        parents,
        time_ms: pair.now + 5,
        payload,
    }
    .sign(key)
}

#[test]
fn a_ledger_that_forgets_final_ops_decides_as_one_that_holds_them() {
    let mut pair = Pair::new();
    for i in 0..240 {
        workload_step(&mut pair, i);
    }
    assert!(pair.forgot >= 5, "forgot {} times", pair.forgot);
    let p = pair.plain.partnership();
    let indexed = pair.store.indexed_in_memory(&p);
    assert!(indexed < 60, "the store indexes {indexed} ops in memory");
    let held = pair.forgetful.dag().held_len();
    assert!(held < 60, "{held} of {} ops still held", pair.forgetful.dag().len());
    assert_eq!(pair.plain.dag().held_len(), pair.plain.dag().len());

    // An old op delivered again is a duplicate, though it left memory.
    let old = pair.seen[20].clone();
    assert!(pair.forgetful.dag().held(&old.id()).is_none());
    assert!(matches!(pair.insert(old.clone()), Err(Refusal::Duplicate(id)) if id == old.id()));
    assert!(matches!(pair.forgetful.insert_synced(old.clone(), pair.now), Err(Refusal::Duplicate(_))));

    // A late op of C built on an old view: its own latest op and an op long
    // forgotten. Both ledgers place it at the same height, alike.
    let all = keys(3);
    let c = &all[2];
    let c_latest = pair.plain.dag().chain(&c.member_id()).and_then(|chain| chain.latest()).expect("C wrote");
    let c_seq = pair.plain.dag().chain(&c.member_id()).expect("C wrote").max_seq() + 1;
    let late = op_on(
        &pair,
        c,
        c_seq,
        vec![c_latest, pair.seen[30].id()],
        call(json!({"add": {"key": "late", "by": 1}})),
    );
    pair.insert(late).expect("the late op is accepted");

    // A names a parent that exists nowhere: both wait for it.
    let a = &all[0];
    let a_latest = pair.plain.dag().chain(&a.member_id()).and_then(|chain| chain.latest()).expect("A wrote");
    let a_seq = pair.plain.dag().chain(&a.member_id()).expect("A wrote").max_seq() + 1;
    let orphan = op_on(&pair, a, a_seq, vec![a_latest, OpId([7; 32])], Payload::Ack);
    let waiting = pair.insert(orphan).expect("held back");
    assert_eq!(waiting.waiting_for, vec![OpId([7; 32])]);

    // B equivocates on a seq whose ops left memory long ago: the proof is
    // found (the first op read back from the store) and B's payloads from
    // that seq on are excluded, alike on both.
    let b = &all[1];
    let b_id = b.member_id();
    let first = pair.plain.dag().op_at(&b_id, 5).expect("B's fifth op");
    assert!(pair.forgetful.dag().held(&first).is_none(), "B's fifth op left memory");
    let previous = pair.plain.dag().op_at(&b_id, 4).expect("B's fourth op");
    let twin = op_on(&pair, b, 5, vec![previous], call(json!({"add": {"key": "twin", "by": 2}})));
    let insertion = pair.insert(twin).expect("an equivocation is kept as structure");
    let proof = insertion.equivocation.expect("the equivocation is proven");
    assert_eq!(proof.seq(), 5);
    assert_eq!(pair.forgetful.excluded().get(&b_id), Some(&5));

    for i in 240..300 {
        workload_step(&mut pair, i);
    }

    // A restart from the summary brings back the equivocation (stored late,
    // below the horizon) and everything else alike.
    let restarted =
        Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).expect("reopens");
    check_alike(&pair.plain, &restarted, &pair.seen, false);
    assert_eq!(restarted.excluded().get(&b_id), Some(&5));
    assert!(restarted.replayed_at_open() < 80, "replayed {} ops", restarted.replayed_at_open());
}

#[test]
fn a_restart_with_the_archive_holds_only_the_recent_ops_and_decides_alike() {
    let mut pair = Pair::new();
    // Past the first checkpoint (every 256 heights in these charters), which
    // a restart takes back from the summary's metadata, not from a replay.
    for i in 0..330 {
        workload_step(&mut pair, i);
    }
    assert_eq!(pair.plain.checkpoints().count(), 1, "final height {}", pair.plain.final_height());
    pair.forgetful.save_final(&pair.store).expect("saved");
    let p = pair.plain.partnership();
    let mut restarted =
        Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).expect("reopens");
    check_alike(&pair.plain, &restarted, &pair.seen, false);
    let held = restarted.dag().held_len();
    assert!(held < 60, "{held} of {} ops held after the restart", restarted.dag().len());
    // From the graph's summary: only the recent ops are read again.
    let replayed = restarted.replayed_at_open();
    assert!(replayed < 60, "replayed {replayed} of {} ops", restarted.dag().len());

    // It goes on as the one that never stopped.
    pair.forgetful = restarted;
    pair.outcomes = false;
    for i in 330..400 {
        workload_step(&mut pair, i);
    }
    restarted = Ledger::open(&pair.store, &p, executor(), LedgerConfig::default()).expect("reopens in full");
    check_alike(&pair.plain, &restarted, &pair.seen, false);
    assert_eq!(restarted.replayed_at_open() as usize, restarted.dag().len() - 1, "every op but the genesis");
}

#[test]
fn a_summary_that_does_not_fit_is_set_aside_and_every_op_replayed() {
    let mut pair = Pair::new();
    for i in 0..120 {
        workload_step(&mut pair, i);
    }
    let p = pair.plain.partnership();
    // A damaged summary beside the final snapshot (same height, no writes).
    let stored = pair.store.load_final(&p).expect("load").expect("a snapshot");
    assert!(!stored.meta.is_empty(), "the node saved a summary");
    for meta in [vec![1, 0xff, 0xff], vec![9, 1, 2], b"junk".to_vec()] {
        let delta = FinalDelta {
            final_height: stored.final_height,
            writes: Vec::new(),
            meta,
            state_root: stored.state_root,
        };
        pair.store.save_final(&p, &delta).expect("saved");
        let restarted =
            Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).expect("reopens");
        check_alike(&pair.plain, &restarted, &pair.seen, false);
        assert_eq!(restarted.replayed_at_open() as usize, restarted.dag().len() - 1, "every op replayed");
    }
}

#[test]
fn a_stored_state_that_is_not_the_one_saved_is_refused_by_either_way_of_opening() {
    let mut pair = Pair::new();
    for i in 0..120 {
        workload_step(&mut pair, i);
    }
    let p = pair.plain.partnership();
    let stored = pair.store.load_final(&p).expect("load").expect("a snapshot");
    assert_eq!(stored.state_root, Some(pair.forgetful.final_root()), "the root is saved with the state");
    let reopened =
        Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).expect("reopens");
    assert_eq!(reopened.final_root(), pair.forgetful.final_root());
    // One value changed under the same root: what a damaged disk, or
    // anyone writing to the file, leaves behind.
    let (key, value) = stored.state.last().cloned().expect("a state value");
    let mut damaged = value.clone();
    damaged[0] ^= 1;
    let delta = FinalDelta {
        final_height: stored.final_height,
        writes: vec![(key.clone(), Some(damaged))],
        meta: stored.meta.clone(),
        state_root: stored.state_root,
    };
    pair.store.save_final(&p, &delta).expect("saved");
    for error in [
        Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).err(),
        Ledger::open(&pair.store, &p, executor(), LedgerConfig::default()).err(),
    ] {
        let error = error.expect("refused");
        let text = error.to_string();
        assert!(
            text.contains(&format!("stored final state at height {} is damaged", stored.final_height)),
            "{text}"
        );
        assert!(text.contains("restore the store from a backup"), "{text}");
    }
    // The value put back, both open again.
    let delta = FinalDelta { writes: vec![(key, Some(value))], ..delta };
    pair.store.save_final(&p, &delta).expect("saved");
    let reopened =
        Ledger::open_with_archive(&pair.store, &p, executor(), forgetful_config()).expect("reopens");
    assert_eq!(reopened.final_root(), pair.forgetful.final_root());
    Ledger::open(&pair.store, &p, executor(), LedgerConfig::default()).expect("reopens");
}

/// An op stored below the horizon after the graph's summary (here a late
/// equivocation of a forgotten seq), and the node stops before its next
/// snapshot tick: the restart finds it though the store, asked whether the
/// graph has it, would say yes (it holds the op).
#[test]
fn a_late_op_stored_after_the_summary_is_replayed_at_restart() {
    let mut pair = Pair::new();
    for i in 0..140 {
        workload_step(&mut pair, i);
    }
    let horizon = pair.forgetful.dag().horizon().expect("final ops left memory");
    let p = pair.plain.partnership();
    assert_eq!(pair.store.archive_horizon(&p).expect("read"), Some(horizon), "saved in one commit");
    pair.restart();

    pair.tick = Tick::Skipped;
    let all = keys(3);
    let b = &all[1];
    let (seq, previous) = (2, pair.plain.dag().op_at(&b.member_id(), 1).expect("B wrote"));
    assert!(pair.forgetful.dag().held(&previous).is_none(), "B's first op left memory");
    let twin = op_on(&pair, b, seq, vec![previous], call(json!({"add": {"key": "twin", "by": 3}})));
    let height = pair.insert(twin).expect("kept as structure").accepted[0].1;
    assert!(height <= horizon, "{height} <= {horizon}");
    assert_eq!(pair.plain.excluded().get(&b.member_id()), Some(&seq));
    pair.restart();
    assert_eq!(pair.forgetful.excluded().get(&b.member_id()), Some(&seq));
    // C equivocates on a forgotten seq too, on a recent op besides its own
    // old one: the twin lands above the horizon, and is replayed as well.
    let c = &all[2];
    let c_old = pair.plain.dag().op_at(&c.member_id(), 2).expect("C wrote");
    let recent = *pair.plain.dag().heads().iter().next().expect("a head");
    let c_twin = op_on(&pair, c, 3, vec![c_old, recent], call(json!({"add": {"key": "twin", "by": 4}})));
    let c_height = pair.insert(c_twin).expect("kept as structure").accepted[0].1;
    assert!(c_height > horizon, "{c_height} > {horizon}");
    assert_eq!(pair.plain.excluded().get(&c.member_id()), Some(&3));
    pair.restart();
    assert_eq!(pair.forgetful.excluded().get(&c.member_id()), Some(&3));
    pair.restart();

    // The next ticks cover it in a summary; restarts still agree.
    pair.tick = Tick::Full;
    for i in 140..220 {
        workload_step(&mut pair, i);
    }
    pair.restart();
    assert_eq!(pair.forgetful.excluded().get(&b.member_id()), Some(&seq));
}
