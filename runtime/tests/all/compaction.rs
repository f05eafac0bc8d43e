//! Compaction behind certified checkpoints, through two nodes' cores and the
//! real guestbook `.wasm`: every `checkpoint_every` heights each ledger takes
//! the root of its final state, every participant's node attests it, and a
//! node whose operator turned compaction on deletes its stored ops at or
//! below the latest checkpoint every participant attested, keeping what a
//! restart and certificates read back. The checkpoint's certificate proves
//! the root to anyone; a node that keeps history (the default) keeps every
//! op; a partner that withholds or falsifies its attestation stops
//! compaction everywhere; a restart after compaction ends in the same state.

use polypact::cert::{self, Certificate, CheckpointStatement, Statement};
use polypact::ledger::FinalInMemory;
use polypact::node::{self, NodeBuilder, NodeConfig, NodeCore, NodeError};
use polypact::op::{Charter, CodeHash, MemberId, MemberKey, PartnershipId, Payload, SignedOp, UnsignedOp};
use polypact::store::StoreError;
use polypact::testing::module_wasm;
use serde_json::json;

use crate::support::{guestbook_charter, guestbook_entries as entries};

const EVERY: u64 = 256;

fn charter(participants: Vec<MemberId>, code: CodeHash, checkpoint_every: u64) -> Charter {
    let mut charter = guestbook_charter(participants, code);
    charter.params.checkpoint_every = checkpoint_every;
    charter
}

/// Alice and Bob's nodes in one partnership; `compacts` says whose
/// operator turned compaction on.
struct Two {
    dirs: [tempfile::TempDir; 2],
    wasm: Vec<u8>,
    alice: NodeCore,
    bob: NodeCore,
    p: PartnershipId,
    now: u64,
    calls: u32,
    compacts: [bool; 2],
    /// What happens to Bob's attest ops on their way to Alice.
    bob_attests: BobAttests,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BobAttests {
    Honestly,
    /// His node attests nothing (a partner withholding its attestations).
    Withheld,
}

fn open(dir: &tempfile::TempDir, seed: u8, wasm: &[u8], compact: bool) -> NodeCore {
    let mut config = NodeConfig::new(dir.path());
    config.core.ledger.final_in_memory = FinalInMemory { forget_above: 16, keep_recent: 4 };
    config.core.compact_history = compact;
    let mut core = NodeBuilder::new(config, MemberKey::from_seed(seed)).open().expect("open");
    core.add_code(wasm).expect("code");
    core
}

impl Two {
    fn new(compacts: [bool; 2], bob_attests: BobAttests) -> Two {
        Two::with_absent(compacts, bob_attests, None)
    }

    /// [`Two::new`], with a third participant (seed 3) whose node never
    /// runs, suspended by the other two after `suspend_after_ms`.
    fn with_absent(compacts: [bool; 2], bob_attests: BobAttests, suspend_after_ms: Option<u64>) -> Two {
        let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
        let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
        let mut alice = open(&dirs[0], 1, &wasm, compacts[0]);
        let mut bob = open(&dirs[1], 2, &wasm, compacts[1]);
        let seeds: &[u8] = if suspend_after_ms.is_some() { &[1, 2, 3] } else { &[1, 2] };
        let members = seeds.iter().map(|s| MemberKey::from_seed(*s).member_id()).collect();
        let mut charter = charter(members, CodeHash::of(&wasm), EVERY);
        if let Some(ms) = suspend_after_ms {
            charter.params.suspend_after_ms = ms;
        }
        let p = alice.create_partnership(charter, 1_000).expect("create");
        let genesis = alice.take_outbox().pop().expect("genesis").1;
        bob.join(genesis).expect("join");
        Two { dirs, wasm, alice, bob, p, now: 2_000, calls: 0, compacts, bob_attests }
    }

    fn pass(&mut self) {
        for (partnership, op) in self.alice.take_outbox() {
            self.bob.insert(&partnership, op, node::Origin::Fresh, self.now).expect("accepted");
        }
        for (partnership, op) in self.bob.take_outbox() {
            self.alice.insert(&partnership, op, node::Origin::Fresh, self.now).expect("accepted");
        }
    }

    /// `n` rounds: Alice signs the guestbook, both nodes exchange what
    /// they authored, tick (acks, snapshots, compaction) and attest.
    fn rounds(&mut self, n: u32) {
        for _ in 0..n {
            self.now += 1_000;
            self.calls += 1;
            let message =
                json!({"sign": {"message": format!("entry {}", self.calls)}}).to_string().into_bytes();
            self.alice.submit_call(&self.p, "guestbook", message, self.now).expect("call");
            for _ in 0..2 {
                self.pass();
                let bob_attests = self.bob_attests == BobAttests::Honestly;
                for (core, attests) in [(&mut self.alice, true), (&mut self.bob, bob_attests)] {
                    core.tick(self.now).expect("tick");
                    core.tend_absences(self.now).expect("absences");
                    if attests {
                        core.tend_crossings(self.now).expect("crossings");
                    }
                }
            }
        }
        self.pass();
    }

    fn restart_alice(&mut self) {
        let placeholder = open(&tempfile::tempdir().expect("tempdir"), 9, &self.wasm, false);
        drop(std::mem::replace(&mut self.alice, placeholder));
        self.alice = open(&self.dirs[0], 1, &self.wasm, self.compacts[0]);
    }

    /// Every op of Bob's store at or below `height` (he keeps history).
    fn bobs_ops_upto(&self, height: u64) -> Vec<(u64, SignedOp)> {
        self.bob
            .store()
            .iter_ops(&self.p, 0, 1024)
            .map(|item| item.expect("read"))
            .take_while(|(h, _)| *h <= height)
            .collect()
    }
}

fn checkpoints(core: &NodeCore, p: &PartnershipId) -> Vec<CheckpointStatement> {
    core.ledger(p).expect("ledger").checkpoints().copied().collect()
}

#[test]
fn a_compacting_node_deletes_history_behind_a_certified_checkpoint_and_restarts_the_same() {
    let mut two = Two::new([true, false], BobAttests::Honestly);
    let p = two.p;
    two.rounds(300);

    // Both nodes took the same checkpoints, every EVERY heights.
    let taken = checkpoints(&two.alice, &p);
    assert!(
        !taken.is_empty(),
        "no checkpoint taken at final height {}",
        two.alice.ledger(&p).expect("ledger").final_height()
    );
    assert_eq!(taken, checkpoints(&two.bob, &p), "the two nodes took different checkpoints");
    assert!(taken.iter().all(|c| c.height % EVERY == 0 && c.generation == 0));

    // Alice compacted behind the latest checkpoint both attested; the
    // certificate she keeps proves its root to anyone.
    let compaction = two.alice.store().compaction(&p).expect("read").expect("alice compacted");
    assert_eq!(compaction.done_upto, compaction.checkpoint, "compaction finished");
    let checkpoint = *taken.iter().find(|c| c.height == compaction.checkpoint).expect("a checkpoint taken");
    let certificate =
        Certificate::decode(&compaction.certificate, &cert::op_limits()).expect("the certificate decodes");
    let verified = cert::verify(&certificate, None, &cert::op_limits()).expect("the certificate verifies");
    assert_eq!(verified.statement, Statement::Checkpoint(checkpoint));
    assert_eq!(certificate.source, p);

    // Below the checkpoint Alice keeps only what a restart and certificates
    // need; Bob, who keeps history (the default), keeps every op.
    assert!(two.bob.store().compaction(&p).expect("read").is_none(), "bob keeps history");
    let all_below = two.bobs_ops_upto(checkpoint.height);
    let kept_below: Vec<(u64, SignedOp)> = two
        .alice
        .store()
        .iter_ops(&p, 0, 1024)
        .map(|item| item.expect("read"))
        .take_while(|(h, _)| *h <= checkpoint.height)
        .collect();
    assert!(all_below.len() > 2 * EVERY as usize / 2, "{} ops below the checkpoint", all_below.len());
    assert!(
        kept_below.len() * 4 < all_below.len(),
        "alice keeps {} of {} ops below the checkpoint",
        kept_below.len(),
        all_below.len()
    );
    assert_eq!(kept_below.first().map(|(h, _)| *h), Some(0), "the genesis is kept");
    let kept_ids: std::collections::BTreeSet<_> = kept_below.iter().map(|(_, op)| op.id()).collect();
    let (height, deleted) =
        all_below.iter().find(|(h, op)| *h > 0 && !kept_ids.contains(&op.id())).expect("a deleted op");
    match two.alice.store().get_op(&p, &deleted.id()) {
        Err(StoreError::Compacted { height: h, checkpoint: c, .. }) => {
            assert_eq!((h, c), (*height, checkpoint.height));
        }
        other => panic!("reading a compacted op answered {other:?}"),
    }
    // Serving an author's ops for sync leaves the deleted ones out, without
    // an error; the graph still knows every op's height.
    let alices = two.alice.member();
    let served = two.alice.store().ops_by_author(&p, &alices, 1, 10_000).expect("served");
    let bob_served = two.bob.store().ops_by_author(&p, &alices, 1, 10_000).expect("served");
    assert!(served.len() < bob_served.len());
    let ledger = two.alice.ledger(&p).expect("ledger");
    assert_eq!(ledger.dag().height_of(&deleted.id()), Some(*height));
    assert!(ledger.is_final(&deleted.id()));

    // The store refuses a compaction it cannot stand behind.
    let horizon = two.alice.store().archive_horizon(&p).expect("read").expect("archived");
    let none = std::collections::BTreeSet::new();
    for (height, why) in [(horizon + EVERY, "above the archive"), (checkpoint.height - 1, "below the last")] {
        match two.alice.store().compact_below(&p, height, b"", &none, 10) {
            Err(StoreError::CompactionRefused(_)) => {}
            other => panic!("a compaction {why} answered {other:?}"),
        }
    }
    assert_eq!(two.alice.store().compaction(&p).expect("read"), Some(compaction.clone()), "nothing changed");

    // Alice restarts from her compacted store: same state, same checkpoints,
    // and the partnership goes on.
    two.restart_alice();
    assert_eq!(
        two.alice.ledger(&p).expect("ledger").final_root(),
        two.bob.ledger(&p).expect("ledger").final_root()
    );
    assert_eq!(checkpoints(&two.alice, &p), checkpoints(&two.bob, &p));
    two.rounds(150);
    let (a, b) = (two.alice.ledger(&p).expect("ledger"), two.bob.ledger(&p).expect("ledger"));
    assert_eq!(a.final_height(), b.final_height());
    assert_eq!(a.final_root(), b.final_root());
    assert!(a.final_height() + 3 >= a.optimistic_height(), "the new calls become final");
    assert_eq!(entries(&two.alice, &p), entries(&two.bob, &p));
    let later = two.alice.store().compaction(&p).expect("read").expect("compacted");
    assert!(later.checkpoint > compaction.checkpoint, "compaction follows the next certified checkpoint");

    // The view the API serves: each checkpoint, who attested, its
    // certificate once complete.
    let view = two.alice.checkpoints(&p).expect("view");
    assert_eq!(view.checkpoint_every, EVERY);
    assert!(view.compact_history);
    let last = view.checkpoints.last().expect("a checkpoint");
    if last.attested.len() == 2 {
        assert!(last.certificate.is_some());
    }
    assert!(view.checkpoints.iter().any(|c| c.certificate.is_some()));

    // Bob's key signs a twin of one of his old ops, compacted on Alice's
    // node: her graph no longer has its content, yet both nodes must find
    // the same equivocation and decide alike.
    let bob_key = MemberKey::from_seed(2);
    let bob = bob_key.member_id();
    let seq = 5;
    let (original, parent) = {
        let dag = two.bob.ledger(&p).expect("ledger").dag();
        (dag.op_at(&bob, seq).expect("bob's op"), dag.op_at(&bob, seq - 1).expect("bob's op"))
    };
    assert!(
        matches!(two.alice.store().get_op(&p, &original), Err(StoreError::Compacted { .. })),
        "the original is compacted on alice's node"
    );
    let twin = UnsignedOp {
        partnership: p,
        author: bob,
        seq,
        parents: vec![parent],
        time_ms: two.now,
        payload: Payload::Ack,
    }
    .sign(&bob_key);
    for core in [&mut two.alice, &mut two.bob] {
        let insertion =
            core.insert(&p, twin.clone(), node::Origin::Fresh, two.now).expect("the twin is taken in");
        assert_eq!(insertion.accepted.len(), 1, "the twin is placed: {insertion:?}");
    }
    two.rounds(3);
    let (a, b) = (two.alice.ledger(&p).expect("ledger"), two.bob.ledger(&p).expect("ledger"));
    assert_eq!(a.excluded(), b.excluded());
    assert_eq!(a.excluded().get(&bob), Some(&seq), "bob is excluded from the equivocated seq on");
    assert_eq!(a.dag().equivocated_seqs(), b.dag().equivocated_seqs());
    assert!(
        a.dag().equivocations().is_empty() && !b.dag().equivocations().is_empty(),
        "only bob's has the proof"
    );
    assert_eq!((a.final_height(), a.final_root()), (b.final_height(), b.final_root()));
    assert_eq!((a.optimistic_height(), a.optimistic_root()), (b.optimistic_height(), b.optimistic_root()));
    // And across a restart of the compacted node.
    two.restart_alice();
    let (a, b) = (two.alice.ledger(&p).expect("ledger"), two.bob.ledger(&p).expect("ledger"));
    assert_eq!(a.excluded(), b.excluded());
    assert_eq!((a.final_height(), a.final_root()), (b.final_height(), b.final_root()));
}

/// A partner can keep every node from compacting, never make one compact
/// on a state it did not agree with: the certificate needs every
/// participant's attestation of the very root.
#[test]
fn a_partner_that_withholds_or_falsifies_its_attestation_stops_compaction() {
    let mut two = Two::new([true, true], BobAttests::Withheld);
    let p = two.p;
    two.rounds(200);
    let taken = checkpoints(&two.alice, &p);
    let first = *taken.first().expect("a checkpoint taken");
    // Bob's key signs an attestation of a false root for the checkpoint.
    let lie = Statement::Checkpoint(CheckpointStatement { state_root: [7; 32], ..first });
    let bob_key = MemberKey::from_seed(2);
    let op = two.bob.ledger(&p).expect("ledger").create_op(
        &bob_key,
        Payload::Attest { statements: vec![lie.digest(&p)] },
        two.now + 1,
    );
    for core in [&mut two.bob, &mut two.alice] {
        core.insert(&p, op.clone(), node::Origin::Fresh, two.now + 1)
            .expect("an attest op is accepted as structure");
    }
    two.rounds(100);

    assert!(
        two.alice.store().compaction(&p).expect("read").is_none(),
        "alice compacted without bob's attestation"
    );
    let view = two.alice.checkpoints(&p).expect("view");
    assert!(
        view.checkpoints.iter().all(|c| c.certificate.is_none() && c.attested == vec![two.alice.member()])
    );
    assert!(two.bob.store().compaction(&p).expect("read").is_none());
    let count = |core: &NodeCore| core.store().iter_ops(&p, 0, 1024).count();
    let (alices, bobs) = (count(&two.alice), count(&two.bob));
    assert!(alices == bobs && bobs > 2 * EVERY as usize, "alice keeps {alices} ops, bob {bobs}");
    assert_eq!(
        two.alice.ledger(&p).expect("ledger").final_root(),
        two.bob.ledger(&p).expect("ledger").final_root()
    );
}

/// A majority that suspended a partner cannot compact away the history
/// that partner needs to come back: the certificate does without the
/// suspended partner, compaction does not.
#[test]
fn a_suspended_partner_holds_compaction_back() {
    let mut two = Two::with_absent([true, true], BobAttests::Honestly, Some(5_000));
    let p = two.p;
    two.rounds(450);
    let carol = MemberKey::from_seed(3).member_id();
    let ledger = two.alice.ledger(&p).expect("ledger");
    assert!(
        ledger.final_height() > 2 * EVERY,
        "the two finalise without carol once she is suspended: final height {}",
        ledger.final_height()
    );
    let view = two.alice.checkpoints(&p).expect("view");
    let certified: Vec<_> = view.checkpoints.iter().filter(|c| c.certificate.is_some()).collect();
    assert!(!certified.is_empty(), "checkpoints under the set without carol are certified: {view:?}");
    assert!(certified.iter().all(|c| c.statement.generation > 0 && c.attesters.contains(&carol)));
    for core in [&two.alice, &two.bob] {
        assert_eq!(core.store().compaction(&p).expect("read"), None, "a node compacted what carol needs");
    }
}

#[test]
fn a_charter_with_checkpoints_too_close_together_is_refused() {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = open(&dir, 1, &wasm, false);
    let members = vec![MemberKey::from_seed(1).member_id(), MemberKey::from_seed(2).member_id()];
    for every in [1, 16, 255] {
        match core.create_partnership(charter(members.clone(), CodeHash::of(&wasm), every), 1_000) {
            Err(error @ NodeError::BadGenesis(_)) => {
                assert!(error.to_string().contains("checkpoint_every"), "{error}");
            }
            other => panic!("checkpoint_every = {every} answered {:?}", other.map(|p| p.to_string())),
        }
    }
    assert!(core.partnership_ids().is_empty(), "nothing was created");
    for every in [0, 256] {
        core.create_partnership(charter(members.clone(), CodeHash::of(&wasm), every), 1_000)
            .expect("accepted");
    }
}
