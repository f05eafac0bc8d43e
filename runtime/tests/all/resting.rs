//! Resting partnerships (issue 26, lazy loading), through two nodes' cores
//! and the real guestbook `.wasm`: a partnership with nothing left to do
//! is marked resting on the snapshot tick and left unloaded by the next
//! start; its roster answers who takes part without loading it; its first
//! use loads it with exactly the state it had; a partner's op loads it and
//! finality goes on, the mark cleared by the op and taken again once it
//! is quiet. A partnership with a payload not final is never marked, and a
//! mark a start cannot trust is ignored: the ledger is loaded instead. A
//! partner who left stands in a resting partnership as in its ledger, and
//! its later ops neither wake nor unmark it (three nodes, the membership
//! `.wasm` beside the guestbook). A partnership whose stored state is
//! damaged fails its first use alone: the node and the others go on.

use polypact::net::Keypair;
use polypact::node::{self, NodeBuilder, NodeConfig, NodeCore, NodeError, Roster, Standing};
use polypact::op::{
    Charter, CodeHash, MemberId, MemberKey, ModuleSpec, Params, PartnershipId, Payload, SignedOp,
    SystemPermission,
};
use polypact::store::{FinalDelta, RestingMark, Store};
use polypact::testing::module_wasm;
use redb::ReadableTable;
use serde_json::json;

use crate::support::{guestbook_charter, guestbook_entries as entries};

/// Partners' nodes (Alice's first, Bob's second, Carol's third if any),
/// without a network: what one node's core authors is handed to every
/// other's.
struct Nodes {
    dirs: Vec<tempfile::TempDir>,
    codes: Vec<Vec<u8>>,
    cores: Vec<NodeCore>,
    now: u64,
}

fn open(dir: &tempfile::TempDir, seed: u8, codes: &[Vec<u8>]) -> NodeCore {
    let mut core =
        NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(seed)).open().expect("open");
    for code in codes {
        core.add_code(code).expect("code");
    }
    core
}

fn member(seed: u8) -> MemberId {
    MemberKey::from_seed(seed).member_id()
}

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

impl Nodes {
    /// Alice's and Bob's nodes, holding the guestbook.
    fn pair() -> Nodes {
        Nodes::new(2, vec![wasm("guestbook")])
    }

    /// The nodes of members 1..=`n`, each holding `codes`.
    fn new(n: u8, codes: Vec<Vec<u8>>) -> Nodes {
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let cores = dirs.iter().zip(1..).map(|(dir, seed)| open(dir, seed, &codes)).collect();
        Nodes { dirs, codes, cores, now: 1_000 }
    }

    /// A guestbook partnership of Alice and Bob, created by Alice; its genesis.
    fn create(&mut self) -> (PartnershipId, SignedOp) {
        let charter = guestbook_charter(vec![member(1), member(2)], CodeHash::of(&self.codes[0]));
        self.create_with(charter)
    }

    /// A partnership of `charter`, created by Alice and joined by every
    /// other node; its genesis.
    fn create_with(&mut self, charter: Charter) -> (PartnershipId, SignedOp) {
        self.now += 1;
        let p = self.cores[0].create_partnership(charter, self.now).expect("create");
        let genesis = self.cores[0].take_outbox().pop().expect("genesis").1;
        for core in &mut self.cores[1..] {
            core.join(genesis.clone()).expect("join");
        }
        (p, genesis)
    }

    fn pass(&mut self) {
        loop {
            let outboxes: Vec<_> = self.cores.iter_mut().map(NodeCore::take_outbox).collect();
            if outboxes.iter().all(Vec::is_empty) {
                return;
            }
            for (from, outbox) in outboxes.into_iter().enumerate() {
                for (p, op) in outbox {
                    for (to, core) in self.cores.iter_mut().enumerate() {
                        if to != from {
                            core.insert(&p, op.clone(), node::Origin::Fresh, self.now).expect("accepted");
                        }
                    }
                }
            }
        }
    }

    /// A few seconds of the nodes exchanging and ticking (acks,
    /// snapshots, resting marks).
    fn settle(&mut self) {
        for _ in 0..4 {
            self.now += 1_000;
            self.pass();
            for core in &mut self.cores {
                core.tick(self.now).expect("tick");
                core.tend_absences(self.now).expect("absences");
                core.tend_crossings(self.now).expect("crossings");
            }
        }
        self.pass();
    }

    /// Alice's node stopped cleanly and started again from its store.
    fn restart_alice(&mut self) {
        self.cores[0].flush().expect("flush");
        self.reopen_alice();
    }

    /// Alice's node stopped without a flush (a crash after its last
    /// commit) and started again from its store.
    fn reopen_alice(&mut self) {
        self.stop_alice();
        self.cores[0] = open(&self.dirs[0], 1, &self.codes);
    }

    /// Alice's node stopped, without a flush (a crash after its last commit).
    fn stop_alice(&mut self) {
        let placeholder = open(&tempfile::tempdir().expect("tempdir"), 9, &self.codes);
        drop(std::mem::replace(&mut self.cores[0], placeholder));
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
    let mut t = Nodes::pair();
    let (idle, idle_genesis) = t.create();
    let (unfinal, _) = t.create();
    let (used, _) = t.create();
    for p in [idle, unfinal, used] {
        sign(&mut t.cores[0], &p, "hello", t.now);
    }
    // Alice's node binds a peer id in one: its standing carries it.
    let peer_id = Keypair::generate_ed25519().public().to_peer_id().to_bytes();
    t.cores[0].author(&idle, Payload::BindPeer { peer_id: peer_id.clone() }, t.now).expect("bind");
    t.settle();
    for p in [idle, unfinal, used] {
        assert_eq!(entries(&t.cores[0], &p), entries(&t.cores[1], &p));
        assert!(t.cores[0].ledger(&p).expect("ledger").tail_is_structural(), "every call final");
        let mark = t.cores[0].store().resting_mark(&p).expect("read").expect("marked on the snapshot tick");
        assert_eq!(Some(mark.final_height), t.cores[0].store().saved_final_height(&p).expect("read"));
    }
    let used_marked_at = t.cores[0].store().resting_mark(&used).expect("read").expect("marked").final_height;
    // A standing answers every question of the network half as its
    // loaded ledger does, for a participant and a stranger alike.
    let ledger = t.cores[0].ledger(&idle).expect("ledger");
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
    sign(&mut t.cores[0], &unfinal, "unseen", t.now);
    t.cores[0].take_outbox();
    let before: Vec<_> = [idle, unfinal, used].iter().map(|p| roots(&t.cores[0], p)).collect();
    let idle_entries = entries(&t.cores[0], &idle);
    t.restart_alice();
    assert_eq!(t.cores[0].store().resting_mark(&unfinal).expect("read"), None, "its new op cleared the mark");

    assert_eq!(t.cores[0].partnership_count(), 3);
    assert_eq!(t.cores[0].loaded_count(), 1, "only the partnership with work left is loaded");
    assert!(t.cores[0].is_loaded(&unfinal));
    // Its roster answers from the mark, without loading it.
    let roster = t.cores[0].roster(&idle).expect("held");
    assert!(roster.awaits(&member(2)) && roster.awaits(&member(1)));
    assert!(!roster.awaits(&member(3)), "a stranger is no participant");
    assert_eq!(roster.participants().len(), 2);
    assert!(!roster.halted());
    assert_eq!(t.cores[0].genesis(&idle).expect("read").map(|g| g.id()), Some(idle_genesis.id()));
    assert!(!t.cores[0].is_loaded(&idle), "reading the roster and the genesis loads nothing");

    // The first read loads it, with exactly the state it had.
    assert_eq!(entries(&t.cores[0], &idle), idle_entries);
    assert!(t.cores[0].is_loaded(&idle));
    for (p, roots_before) in [idle, unfinal, used].iter().zip(&before) {
        assert_eq!(roots(&t.cores[0], p), *roots_before);
    }

    // A partner's op loads the other and finality goes on.
    t.reopen_alice();
    assert!(!t.cores[0].is_loaded(&used));
    sign(&mut t.cores[1], &used, "again", t.now);
    t.pass();
    assert!(t.cores[0].is_loaded(&used), "the op loaded it");
    assert_eq!(t.cores[0].store().resting_mark(&used).expect("read"), None, "the op cleared its mark");
    t.settle();
    assert_eq!(roots(&t.cores[0], &used), roots(&t.cores[1], &used));
    assert_eq!(entries(&t.cores[0], &used), entries(&t.cores[1], &used));
    let ledger = t.cores[0].ledger(&used).expect("ledger");
    assert!(ledger.tail_is_structural(), "Bob's second call is final");
    let mark = t.cores[0].store().resting_mark(&used).expect("read").expect("quiet again: marked again");
    assert!(mark.final_height > used_marked_at, "at the new height");
    assert!(mark.final_height <= ledger.final_height());
}

#[test]
fn a_mark_a_start_cannot_trust_is_ignored_and_the_ledger_loaded() {
    let mut t = Nodes::pair();
    let (garbled, _) = t.create();
    let (versioned, _) = t.create();
    for p in [garbled, versioned] {
        sign(&mut t.cores[0], &p, "hello", t.now);
    }
    t.settle();
    t.cores[0].flush().expect("flush");
    let expected: Vec<_> = [garbled, versioned].iter().map(|p| entries(&t.cores[0], p)).collect();
    t.stop_alice();
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
    t.cores[0] = open(&t.dirs[0], 1, &t.codes);
    assert_eq!(t.cores[0].loaded_count(), 2, "both loaded at start");
    for (p, expected) in [garbled, versioned].iter().zip(&expected) {
        assert_eq!(&entries(&t.cores[0], p), expected);
    }
    // And they go on as usual.
    sign(&mut t.cores[1], &garbled, "after", t.now);
    t.settle();
    assert_eq!(entries(&t.cores[0], &garbled), entries(&t.cores[1], &garbled));
}

#[test]
fn an_unknown_partnership_is_unknown_whether_or_not_others_rest() {
    let mut t = Nodes::pair();
    let (p, _) = t.create();
    t.settle();
    t.restart_alice();
    let stranger = PartnershipId([7; 32]);
    assert!(!t.cores[0].holds(&stranger));
    assert!(t.cores[0].roster(&stranger).is_none());
    assert!(t.cores[0].genesis(&stranger).expect("read").is_none());
    assert!(matches!(t.cores[0].ledger_or_err(&stranger), Err(NodeError::UnknownPartnership(_))));
    assert!(t.cores[0].holds(&p));
}

/// Members 1..=3 under the membership module (a member may resign) and
/// the guestbook.
fn membership_charter(t: &Nodes) -> Charter {
    let members: Vec<_> = (1..=3)
        .map(|s| json!({"member": member(s).to_string(), "voting_units": 1, "economic_units": 1}))
        .collect();
    let mut participants: Vec<_> = (1..=3).map(member).collect();
    participants.sort();
    Charter {
        name: "three partners".into(),
        participants,
        modules: vec![
            ModuleSpec {
                name: "membership".into(),
                code: CodeHash::of(&t.codes[1]),
                config: json!({"members": members, "governance": "voting"}).to_string(),
                permissions: vec![SystemPermission::AddParticipant, SystemPermission::RemoveParticipant],
            },
            ModuleSpec {
                name: "guestbook".into(),
                code: CodeHash::of(&t.codes[0]),
                config: "{}".into(),
                permissions: vec![],
            },
        ],
        params: Params::default(),
        parent: None,
    }
}

#[test]
fn a_partner_who_left_stands_in_a_resting_partnership_as_in_its_ledger_and_cannot_wake_it() {
    let mut t = Nodes::new(3, vec![wasm("guestbook"), wasm("membership")]);
    let charter = membership_charter(&t);
    let (p, _) = t.create_with(charter);
    sign(&mut t.cores[2], &p, "before leaving", t.now);
    t.settle();
    let message = json!({"resign": {}}).to_string().into_bytes();
    t.cores[2].submit_call(&p, "membership", message, t.now).expect("resign");
    t.settle();
    // Carol's node is gone; Alice and Bob go on without it.
    let carol = t.cores.pop().expect("carol's node");
    let carol_key = MemberKey::from_seed(3);
    sign(&mut t.cores[0], &p, "after", t.now);
    t.settle();
    let ledger = t.cores[0].ledger(&p).expect("ledger");
    let record = ledger.optimistic_state().participant(&member(3)).expect("a record is kept");
    assert!(record.removed_at.is_some(), "Carol left");
    assert!(!ledger.awaits(&member(3)) && !ledger.owes_removal_ack(&member(3)), "her removal ack came");
    assert!(ledger.tail_is_structural(), "every call final without her");
    assert!(t.cores[0].store().resting_mark(&p).expect("read").is_some(), "it rests");
    // The standing answers for her as the ledger does.
    let standing = Standing::of(ledger);
    let (loaded, resting) = (Roster::Loaded(ledger), Roster::Resting(&standing));
    for who in [member(1), member(2), member(3)] {
        assert_eq!(loaded.awaits(&who), resting.awaits(&who));
        assert_eq!(loaded.participant(&who), resting.participant(&who));
    }
    assert_eq!(loaded.participants(), resting.participants());
    let entries_before = entries(&t.cores[0], &p);

    t.restart_alice();
    assert!(!t.cores[0].is_loaded(&p));
    let roster = t.cores[0].roster(&p).expect("held");
    assert!(!roster.awaits(&member(3)), "finality waits for her no more");
    assert_eq!(roster.participant(&member(3)), Some(record));
    assert!(roster.awaits(&member(1)) && roster.awaits(&member(2)));
    // Her node, built on everything it saw, signs again: refused, stored
    // nowhere, and the partnership stays marked resting.
    let forged = carol.ledger(&p).expect("her ledger").create_op(
        &carol_key,
        Payload::Call { module: "guestbook".into(), msg: br#"{"sign":{"message":"still here"}}"#.to_vec() },
        t.now,
    );
    let refused = t.cores[0].insert(&p, forged, node::Origin::Fresh, t.now);
    assert!(matches!(refused, Err(NodeError::Refused(_))), "{refused:?}");
    assert!(t.cores[0].store().resting_mark(&p).expect("read").is_some(), "nothing was appended");
    t.settle();
    assert_eq!(entries(&t.cores[0], &p), entries_before);
    t.restart_alice();
    assert!(!t.cores[0].is_loaded(&p), "her op leaves it resting across a restart");
    assert_eq!(entries(&t.cores[0], &p), entries_before);
}

/// Two partnerships Alice and Bob share, each signed in and settled;
/// then Alice's node stops, `damage` changes her store file (given the
/// damaged partnership), and her node starts again, without the
/// whole-file check (a node's default). Asserts that the node starts,
/// that the damaged partnership answers an error every time and loads
/// nothing, and that the other partnership and the partner go on; returns
/// the nodes, the damaged partnership and its error.
fn one_damaged_partnership(
    damage: impl FnOnce(&std::path::Path, &PartnershipId),
) -> (Nodes, PartnershipId, String) {
    let mut t = Nodes::pair();
    let (damaged, _) = t.create();
    let (sound, _) = t.create();
    for p in [damaged, sound] {
        sign(&mut t.cores[0], &p, "hello", t.now);
    }
    t.settle();
    let sound_entries = entries(&t.cores[0], &sound);
    t.cores[0].flush().expect("flush");
    t.stop_alice();
    damage(&t.dirs[0].path().join(node::STORE_FILE), &damaged);
    t.cores[0] = open(&t.dirs[0], 1, &t.codes);
    assert_eq!(t.cores[0].partnership_count(), 2, "the node starts");
    let error = t.cores[0].ledger_or_err(&damaged).err().expect("refused").to_string();
    // Asking again gives the same answer, and nothing was loaded.
    assert!(t.cores[0].ledger_or_err(&damaged).is_err());
    assert!(!t.cores[0].is_loaded(&damaged));
    // The node says which partnership is unavailable and why.
    let unavailable = t.cores[0].unavailable_partnerships();
    assert_eq!(unavailable.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![damaged]);
    assert!(error.ends_with(&unavailable[0].1), "{error} / {}", unavailable[0].1);
    // The other partnership and the partner go on.
    assert_eq!(entries(&t.cores[0], &sound), sound_entries);
    sign(&mut t.cores[1], &sound, "after", t.now);
    t.settle();
    assert_eq!(entries(&t.cores[0], &sound), entries(&t.cores[1], &sound));
    (t, damaged, error)
}

#[test]
fn a_partnership_whose_stored_state_is_damaged_fails_its_first_use_alone() {
    let (_, _, error) = one_damaged_partnership(|path, damaged| {
        // A value changed under the root saved with it, as a damaged disk
        // would leave it (redb's own checksums hold: the whole-file check
        // at open cannot see this).
        let store = Store::open(path).expect("store");
        let stored = store.load_final(damaged).expect("read").expect("a snapshot");
        let (key, mut value) = stored.state.last().cloned().expect("a state value");
        value[0] ^= 1;
        let delta = FinalDelta {
            final_height: stored.final_height,
            writes: vec![(key, Some(value))],
            meta: stored.meta,
            state_root: stored.state_root,
        };
        store.save_final(damaged, &delta).expect("saved");
    });
    assert!(error.contains("is damaged"), "{error}");
}

#[test]
fn a_partnership_whose_saved_summary_is_damaged_fails_alone_without_the_whole_file_check() {
    // The saved summary and final height are checked against their
    // checksum when read, not by a check of the whole file at open.
    let (_, damaged, error) = one_damaged_partnership(|path, damaged| {
        // One bit of the record changed in place, redb's page checksums
        // intact: what a damaged disk under a trusting open looks like.
        let db = redb::Database::open(path).expect("store");
        let txn = db.begin_write().expect("write");
        {
            let definition: redb::TableDefinition<&[u8; 32], &[u8]> =
                redb::TableDefinition::new("final_meta");
            let mut table = txn.open_table(definition).expect("table");
            let mut value = table.get(&damaged.0).expect("read").expect("a record").value().to_vec();
            value[10] ^= 0x20;
            table.insert(&damaged.0, value.as_slice()).expect("write");
        }
        txn.commit().expect("commit");
    });
    assert!(error.contains("snapshot record") && error.contains("checksum"), "{error}");
    assert!(error.contains(&damaged.to_string()), "the partnership is named: {error}");
}
