//! Resting partnerships (issue 26, lazy loading), through two nodes' cores
//! and the real guestbook `.wasm`: a partnership with nothing left to do
//! is marked resting on the snapshot tick and left unloaded by the next
//! start; its roster answers who takes part without loading it; its first
//! use loads it with exactly the state it had; a partner's op loads it and
//! finality goes on, the mark cleared by the op and taken again once it
//! is quiet. A partnership with a payload not final is never marked, and a
//! mark a start cannot trust is ignored: the ledger is loaded instead.

use polypact::net::Keypair;
use polypact::node::{self, NodeBuilder, NodeConfig, NodeCore, NodeError, Roster, Standing};
use polypact::op::{CodeHash, MemberId, MemberKey, PartnershipId, Payload, SignedOp};
use polypact::store::{RestingMark, Store};
use polypact::testing::module_wasm;
use serde_json::json;

use crate::support::{guestbook_charter, guestbook_entries as entries};

/// Alice's and Bob's nodes, without a network: what one node's core
/// authors is handed to the other's.
struct Pair {
    dirs: [tempfile::TempDir; 2],
    wasm: Vec<u8>,
    alice: NodeCore,
    bob: NodeCore,
    now: u64,
}

fn open(dir: &tempfile::TempDir, seed: u8, wasm: &[u8]) -> NodeCore {
    let mut core =
        NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(seed)).open().expect("open");
    core.add_code(wasm).expect("code");
    core
}

fn member(seed: u8) -> MemberId {
    MemberKey::from_seed(seed).member_id()
}

impl Pair {
    fn new() -> Pair {
        let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
        let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
        let alice = open(&dirs[0], 1, &wasm);
        let bob = open(&dirs[1], 2, &wasm);
        Pair { dirs, wasm, alice, bob, now: 1_000 }
    }

    /// A partnership of the two, created by Alice; its genesis.
    fn create(&mut self) -> (PartnershipId, SignedOp) {
        self.now += 1;
        let charter = guestbook_charter(vec![member(1), member(2)], CodeHash::of(&self.wasm));
        let p = self.alice.create_partnership(charter, self.now).expect("create");
        let genesis = self.alice.take_outbox().pop().expect("genesis").1;
        self.bob.join(genesis.clone()).expect("join");
        (p, genesis)
    }

    fn pass(&mut self) {
        loop {
            let (from_alice, from_bob) = (self.alice.take_outbox(), self.bob.take_outbox());
            if from_alice.is_empty() && from_bob.is_empty() {
                return;
            }
            for (p, op) in from_alice {
                self.bob.insert(&p, op, node::Origin::Fresh, self.now).expect("accepted");
            }
            for (p, op) in from_bob {
                self.alice.insert(&p, op, node::Origin::Fresh, self.now).expect("accepted");
            }
        }
    }

    /// A few seconds of both nodes exchanging and ticking (acks,
    /// snapshots, resting marks).
    fn settle(&mut self) {
        for _ in 0..4 {
            self.now += 1_000;
            self.pass();
            for core in [&mut self.alice, &mut self.bob] {
                core.tick(self.now).expect("tick");
                core.tend_absences(self.now).expect("absences");
                core.tend_crossings(self.now).expect("crossings");
            }
        }
        self.pass();
    }

    /// Alice's node stopped cleanly and started again from its store.
    fn restart_alice(&mut self) {
        self.alice.flush().expect("flush");
        let placeholder = open(&tempfile::tempdir().expect("tempdir"), 9, &self.wasm);
        drop(std::mem::replace(&mut self.alice, placeholder));
        self.alice = open(&self.dirs[0], 1, &self.wasm);
    }
}

fn sign(core: &mut NodeCore, p: &PartnershipId, text: &str, now: u64) {
    let message = json!({"sign": {"message": text}}).to_string().into_bytes();
    core.submit_call(p, "guestbook", message, now).expect("call");
}

/// Final and optimistic roots of `p` on `core` (loads it).
fn roots(core: &NodeCore, p: &PartnershipId) -> ([u8; 32], [u8; 32]) {
    let ledger = core.ledger(p).expect("ledger");
    (ledger.final_root(), ledger.optimistic_state().root())
}

#[test]
fn an_idle_partnership_rests_and_its_first_use_loads_the_same_state() {
    let mut t = Pair::new();
    let (idle, idle_genesis) = t.create();
    let (unfinal, _) = t.create();
    let (used, _) = t.create();
    for p in [idle, unfinal, used] {
        sign(&mut t.alice, &p, "hello", t.now);
    }
    // Alice's node binds a peer id in one: its standing carries it.
    let peer_id = Keypair::generate_ed25519().public().to_peer_id().to_bytes();
    t.alice.author(&idle, Payload::BindPeer { peer_id: peer_id.clone() }, t.now).expect("bind");
    t.settle();
    for p in [idle, unfinal, used] {
        assert_eq!(entries(&t.alice, &p), entries(&t.bob, &p));
        assert!(t.alice.ledger(&p).expect("ledger").tail_is_structural(), "every call final");
        let mark = t.alice.store().resting_mark(&p).expect("read").expect("marked on the snapshot tick");
        assert_eq!(Some(mark.final_height), t.alice.store().saved_final_height(&p).expect("read"));
    }
    let used_marked_at = t.alice.store().resting_mark(&used).expect("read").expect("marked").final_height;
    // A standing answers every question of the network half as its
    // loaded ledger does, for a participant and a stranger alike.
    let ledger = t.alice.ledger(&idle).expect("ledger");
    let standing = Standing::of(ledger);
    assert_eq!(Standing::decode(&standing.encode()), Ok(standing.clone()));
    let (loaded, resting) = (Roster::Loaded(ledger), Roster::Resting(&standing));
    for who in [member(1), member(2), member(3)] {
        assert_eq!(loaded.awaits(&who), resting.awaits(&who));
        assert_eq!(loaded.participant(&who), resting.participant(&who));
        assert_eq!(loaded.bound_peer(&who), resting.bound_peer(&who));
    }
    assert_eq!(loaded.participants(), resting.participants());
    assert_eq!(
        (loaded.name(), loaded.final_height(), loaded.optimistic_height(), loaded.halted(), loaded.parent()),
        (
            resting.name(),
            resting.final_height(),
            resting.optimistic_height(),
            resting.halted(),
            resting.parent()
        )
    );
    assert!(loaded.optimistic_height() > loaded.final_height(), "the last ack waits for the next op");
    assert_eq!(resting.bound_peer(&member(1)), Some(peer_id.as_slice()));
    // A call Bob never sees: a payload not final, so that one cannot rest.
    sign(&mut t.alice, &unfinal, "unseen", t.now);
    t.alice.take_outbox();
    let before: Vec<_> = [idle, unfinal, used].iter().map(|p| roots(&t.alice, p)).collect();
    let idle_entries = entries(&t.alice, &idle);
    t.restart_alice();
    assert_eq!(t.alice.store().resting_mark(&unfinal).expect("read"), None, "its new op cleared the mark");

    assert_eq!(t.alice.partnership_count(), 3);
    assert_eq!(t.alice.loaded_count(), 1, "only the partnership with work left is loaded");
    assert!(t.alice.is_loaded(&unfinal));
    // Its roster answers from the mark, without loading it.
    let roster = t.alice.roster(&idle).expect("held");
    assert!(roster.awaits(&member(2)) && roster.awaits(&member(1)));
    assert!(!roster.awaits(&member(3)), "a stranger is no participant");
    assert_eq!(roster.participants().len(), 2);
    assert!(!roster.halted());
    assert_eq!(t.alice.genesis(&idle).expect("read").map(|g| g.id()), Some(idle_genesis.id()));
    assert!(!t.alice.is_loaded(&idle), "reading the roster and the genesis loads nothing");

    // The first read loads it, with exactly the state it had.
    assert_eq!(entries(&t.alice, &idle), idle_entries);
    assert!(t.alice.is_loaded(&idle));
    for (p, roots_before) in [idle, unfinal, used].iter().zip(&before) {
        assert_eq!(roots(&t.alice, p), *roots_before);
    }

    // A partner's op loads the other and finality goes on.
    let fresh = open(&tempfile::tempdir().expect("tempdir"), 9, &t.wasm);
    drop(std::mem::replace(&mut t.alice, fresh));
    t.alice = open(&t.dirs[0], 1, &t.wasm);
    assert!(!t.alice.is_loaded(&used));
    sign(&mut t.bob, &used, "again", t.now);
    t.pass();
    assert!(t.alice.is_loaded(&used), "the op loaded it");
    assert_eq!(t.alice.store().resting_mark(&used).expect("read"), None, "the op cleared its mark");
    t.settle();
    assert_eq!(roots(&t.alice, &used), roots(&t.bob, &used));
    assert_eq!(entries(&t.alice, &used), entries(&t.bob, &used));
    let ledger = t.alice.ledger(&used).expect("ledger");
    assert!(ledger.tail_is_structural(), "Bob's second call is final");
    let mark = t.alice.store().resting_mark(&used).expect("read").expect("quiet again: marked again");
    assert!(mark.final_height > used_marked_at, "at the new height");
    assert!(mark.final_height <= ledger.final_height());
}

#[test]
fn a_mark_a_start_cannot_trust_is_ignored_and_the_ledger_loaded() {
    let mut t = Pair::new();
    let (garbled, _) = t.create();
    let (versioned, _) = t.create();
    for p in [garbled, versioned] {
        sign(&mut t.alice, &p, "hello", t.now);
    }
    t.settle();
    t.alice.flush().expect("flush");
    let expected: Vec<_> = [garbled, versioned].iter().map(|p| entries(&t.alice, p)).collect();
    drop(std::mem::replace(&mut t.alice, open(&tempfile::tempdir().expect("tempdir"), 9, &t.wasm)));
    {
        let store = Store::open(&t.dirs[0].path().join("store.redb")).expect("store");
        let height = |p| store.saved_final_height(p).expect("read").expect("saved");
        let marks = [
            (garbled, RestingMark { final_height: height(&garbled), record: b"not a standing".to_vec() }),
            (versioned, RestingMark { final_height: height(&versioned), record: vec![99, 1, 2, 3] }),
        ];
        store.mark_resting(&marks).expect("marked");
        let refused = store.mark_resting(&[(garbled, RestingMark { final_height: 1_000, record: vec![] })]);
        assert!(refused.is_err(), "a mark off the saved final height is refused");
    }
    t.alice = open(&t.dirs[0], 1, &t.wasm);
    assert_eq!(t.alice.loaded_count(), 2, "both loaded at start");
    for (p, expected) in [garbled, versioned].iter().zip(&expected) {
        assert_eq!(&entries(&t.alice, p), expected);
    }
    // And they go on as usual.
    sign(&mut t.bob, &garbled, "after", t.now);
    t.settle();
    assert_eq!(entries(&t.alice, &garbled), entries(&t.bob, &garbled));
}

#[test]
fn an_unknown_partnership_is_unknown_whether_or_not_others_rest() {
    let mut t = Pair::new();
    let (p, _) = t.create();
    t.settle();
    t.restart_alice();
    let stranger = PartnershipId([7; 32]);
    assert!(!t.alice.holds(&stranger));
    assert!(t.alice.roster(&stranger).is_none());
    assert!(t.alice.genesis(&stranger).expect("read").is_none());
    assert!(matches!(t.alice.ledger_or_err(&stranger), Err(NodeError::UnknownPartnership(_))));
    assert!(t.alice.holds(&p));
}
