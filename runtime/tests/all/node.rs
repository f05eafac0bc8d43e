//! The node service without a network: create a partnership, call and
//! query the real WASM guestbook through a `NodeHandle`, wait for outcomes,
//! refuse bad requests without changing anything, and come back after a
//! restart with everything it accepted.

use std::time::Duration;

use polypact::ledger::FinalInMemory;
use polypact::node::{self, NodeBuilder, NodeConfig, NodeError, OpEventKind, WaitFor};
use polypact::op::{CodeHash, MemberKey, PartnershipId, Payload};
use polypact::testing::module_wasm;
use serde_json::json;

use crate::support::guestbook_charter;

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn a_node_runs_calls_through_wasm_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = MemberKey::from_seed(7);
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let (partnership, signed_op, root) = rt.block_on(async {
        let running =
            NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(7)).start().expect("start");
        let node = running.handle.clone();
        let code = node.add_code(wasm.clone()).await.expect("code");
        let p =
            node.create_partnership(guestbook_charter(vec![key.member_id()], code)).await.expect("create");
        let mut events = node.subscribe();

        let receipt = node
            .call(
                p,
                "guestbook",
                json!({"sign": {"message": "hello"}}).to_string().into_bytes(),
                WaitFor::Final,
                WAIT,
            )
            .await
            .expect("call");
        assert!(receipt.is_final, "a sole participant's op is final at once");
        let outcome = receipt.outcome.expect("applied");
        assert_eq!(polypact::node::outcome_json(&outcome)["data"], json!({"id": 1}));
        // Subscribers saw it applied and final.
        let mut kinds = Vec::new();
        while let Ok(event) = events.try_recv() {
            if event.op == receipt.op {
                kinds.push(event.kind);
            }
        }
        assert!(kinds.contains(&OpEventKind::Applied) && kinds.contains(&OpEventKind::Final), "{kinds:?}");

        // A call the module rejects: applied as failed, with the module's error.
        let rejected = node
            .call(
                p,
                "guestbook",
                json!({"sign": {"message": " "}}).to_string().into_bytes(),
                WaitFor::Applied,
                WAIT,
            )
            .await
            .expect("accepted");
        let error = polypact::node::outcome_json(&rejected.outcome.expect("applied"));
        assert_eq!(error["status"], "failed");
        assert!(error["error"].as_str().expect("text").contains("empty"), "{error}");

        let before = node.partnership(p).await.expect("show");
        // Bad requests: clear errors, nothing changes.
        let unknown_module =
            node.call(p, "nope", b"{}".to_vec(), WaitFor::Applied, WAIT).await.expect_err("refused");
        assert!(matches!(unknown_module, NodeError::UnknownModule { .. }), "{unknown_module}");
        assert!(unknown_module.to_string().contains("guestbook"), "names the known modules");
        let unknown_p = node
            .query(PartnershipId::default(), "guestbook", b"{}".to_vec(), true)
            .await
            .expect_err("refused");
        assert!(matches!(unknown_p, NodeError::UnknownPartnership(_)), "{unknown_p}");
        let bad_query = node.query(p, "guestbook", b"{not json".to_vec(), false).await.expect_err("refused");
        assert!(matches!(bad_query, NodeError::ModuleRejected { .. }), "{bad_query}");
        let outsider =
            node.create_partnership(guestbook_charter(vec![MemberKey::from_seed(8).member_id()], code)).await;
        assert!(matches!(outsider, Err(NodeError::NotAParticipant(_))), "{outsider:?}");
        let missing =
            node.create_partnership(guestbook_charter(vec![key.member_id()], CodeHash::of(b"absent"))).await;
        assert!(matches!(missing, Err(NodeError::MissingCode(_))), "{missing:?}");
        let garbage_code = node.add_code(b"not wasm".to_vec()).await;
        assert!(matches!(garbage_code, Err(NodeError::Code(_))), "{garbage_code:?}");
        let after = node.partnership(p).await.expect("show");
        assert_eq!(before.optimistic_root, after.optimistic_root);
        assert_eq!(before.op_count, after.op_count);
        assert_eq!(node.partnerships().await.expect("list").len(), 1);

        let count = node.query(p, "guestbook", json!({"count": {}}).to_string().into_bytes(), true).await;
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&count.expect("query")).expect("json"),
            json!({"count": 1})
        );
        node.shutdown().await.expect("shutdown");
        running.task.await.expect("join").expect("clean stop");
        (p, receipt.op, after.final_root)
    });

    // Restart over the same directory: the partnership, its ops and its
    // final state are back; module code comes from the store.
    rt.block_on(async {
        let running =
            NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(7)).start().expect("restart");
        let node = running.handle.clone();
        let info = node.partnership(partnership).await.expect("restored");
        assert_eq!(info.final_root, root);
        let (outcome, is_final) = node.op_status(partnership, signed_op).await.expect("status");
        assert!(is_final);
        assert!(outcome.is_some() || info.final_height > 0);
        let again = node
            .call(
                partnership,
                "guestbook",
                json!({"sign": {"message": "back"}}).to_string().into_bytes(),
                WaitFor::Final,
                WAIT,
            )
            .await
            .expect("call after restart");
        assert_eq!(polypact::node::outcome_json(&again.outcome.expect("applied"))["data"], json!({"id": 2}));
        node.shutdown().await.expect("shutdown");
    });
}

/// The ack window: a member acks at once after a quiet window (leading
/// edge, so an idle partnership finalises in two hops), and otherwise one
/// window after its last ack, with one ack covering all that arrived
/// meanwhile (at most one ack per member per window).
#[test]
fn acks_go_out_at_once_after_a_quiet_window_and_once_per_window_under_load() {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let (alice_key, bob_key) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let open = |dir: &tempfile::TempDir, seed: u8| {
        let mut config = NodeConfig::new(dir.path());
        config.core.ack_debounce_ms = 50;
        let mut core = NodeBuilder::new(config, MemberKey::from_seed(seed)).open().expect("open");
        core.add_code(&wasm).expect("code");
        core
    };
    let mut alice = open(&dirs[0], 1);
    let mut bob = open(&dirs[1], 2);
    let code = CodeHash::of(&wasm);
    let p = alice
        .create_partnership(guestbook_charter(vec![alice_key.member_id(), bob_key.member_id()], code), 1_000)
        .expect("create");
    let genesis = alice.take_outbox().pop().expect("genesis").1;
    bob.join(genesis).expect("join");
    let sign = |n: u32| json!({"sign": {"message": format!("entry {n}")}}).to_string().into_bytes();
    let deliver = |alice: &mut node::NodeCore, bob: &mut node::NodeCore, now: u64| {
        for (partnership, op) in alice.take_outbox() {
            bob.insert(&partnership, op, node::Origin::Fresh, now).expect("bob accepts");
        }
    };
    assert_eq!(bob.next_ack_due(), None, "nothing of others to ack yet");

    // Quiet partnership: Bob acks at once, in the same store commit as the
    // op he acks (the ack is durable and queued when the insert returns).
    alice.submit_call(&p, "guestbook", sign(1), 2_000).expect("call");
    deliver(&mut alice, &mut bob, 2_000);
    assert_eq!(bob.next_ack_due(), None, "leading edge: nothing left owed");
    let acks = bob.take_outbox();
    assert_eq!(acks.len(), 1, "one ack at once");
    assert!(matches!(acks[0].1.op().payload, Payload::Ack));
    assert!(bob.store().get_op(&p, &acks[0].1.id()).expect("store").is_some(), "the ack is durable");
    let mut bob_acks = acks;

    // Busy: two more ops inside the window wait for its end, and one ack covers both.
    alice.submit_call(&p, "guestbook", sign(2), 2_010).expect("call");
    deliver(&mut alice, &mut bob, 2_010);
    assert_eq!(bob.next_ack_due(), Some(2_050), "one window after the last ack");
    assert!(bob.tick(2_049).expect("tick").is_empty(), "not before the window ends");
    alice.submit_call(&p, "guestbook", sign(3), 2_030).expect("call");
    deliver(&mut alice, &mut bob, 2_030);
    assert_eq!(bob.next_ack_due(), Some(2_050), "the window does not move");
    let acks = bob.tick(2_050).expect("tick");
    assert_eq!(acks.len(), 1, "one ack for both ops");
    bob_acks.extend(bob.take_outbox());
    let ledger = bob.ledger(&p).expect("ledger");
    let ack = ledger.dag().get(&acks[0].1).expect("ack in the graph");
    let alice_tip =
        ledger.dag().chain(&alice_key.member_id()).and_then(|c| c.tip_height()).expect("alice's ops");
    assert!(ack.height > alice_tip, "the ack builds on Alice's latest op");

    // Quiet again: the next op is acked at once.
    alice.submit_call(&p, "guestbook", sign(4), 3_000).expect("call");
    deliver(&mut alice, &mut bob, 3_000);
    assert_eq!(bob.next_ack_due(), None);
    bob_acks.extend(bob.take_outbox());
    assert_eq!(bob_acks.len(), 3, "three windows, three acks");
    // An ack is never acked: Alice owes nothing for Bob's acks.
    for (partnership, op) in bob_acks {
        alice.insert(&partnership, op, node::Origin::Fresh, 3_001).expect("alice accepts");
    }
    assert_eq!(alice.next_ack_due(), None, "acks are never acked");

    // Bob's clock steps back two seconds: his ack is still due within a window.
    alice.submit_call(&p, "guestbook", sign(5), 3_010).expect("call");
    deliver(&mut alice, &mut bob, 1_000);
    assert_eq!(bob.next_ack_due(), Some(1_050), "at most a window from now");
}

/// Group commit of acks: others' acks that finalise no call wait in memory
/// (reported to no one, not in the store) until an ack completes a call's
/// finality, the member authors an op on top of them, their wait ends, or
/// the node shuts down; each of those commits them.
#[test]
fn acks_that_finalise_no_call_share_the_next_commit() {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let keys = [MemberKey::from_seed(1), MemberKey::from_seed(2), MemberKey::from_seed(3)];
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let open = |dir: &tempfile::TempDir, seed: u8| {
        let mut config = NodeConfig::new(dir.path());
        config.core.ack_commit_delay_ms = 20;
        // No snapshot in this test (a snapshot commits held acks first).
        config.core.snapshot_interval_ms = u64::MAX;
        let mut core = NodeBuilder::new(config, MemberKey::from_seed(seed)).open().expect("open");
        core.add_code(&wasm).expect("code");
        core
    };
    let mut alice = open(&dirs[0], 1);
    let mut bob = open(&dirs[1], 2);
    let mut carol = open(&dirs[2], 3);
    let code = CodeHash::of(&wasm);
    let p = alice
        .create_partnership(guestbook_charter(keys.iter().map(MemberKey::member_id).collect(), code), 1_000)
        .expect("create");
    let genesis = alice.take_outbox().pop().expect("genesis").1;
    bob.join(genesis.clone()).expect("join");
    carol.join(genesis).expect("join");
    let sign = |n: u32| json!({"sign": {"message": format!("entry {n}")}}).to_string().into_bytes();
    // Alice's call reaches Bob and Carol, who ack at once; their acks.
    let round = |alice: &mut node::NodeCore,
                 bob: &mut node::NodeCore,
                 carol: &mut node::NodeCore,
                 n: u32,
                 now: u64| {
        let call = alice.submit_call(&p, "guestbook", sign(n), now).expect("call");
        alice.take_outbox();
        let mut acks = Vec::new();
        for other in [&mut *bob, &mut *carol] {
            other.insert(&p, call.clone(), node::Origin::Fresh, now).expect("accepts the call");
            acks.push(other.take_outbox().pop().expect("an ack at once").1);
        }
        // Bob and Carol take each other's ack (Alice's next call builds on both).
        bob.insert(&p, acks[1].clone(), node::Origin::Fresh, now).expect("carol's ack");
        carol.insert(&p, acks[0].clone(), node::Origin::Fresh, now).expect("bob's ack");
        (call, acks)
    };
    let stored = |core: &node::NodeCore, id| core.store().get_op(&p, &id).expect("store").is_some();
    let events_about =
        |core: &mut node::NodeCore, id| core.take_events().into_iter().filter(|e| e.op == id).count();

    // Bob's ack alone finalises nothing at Alice: held, not stored, no event.
    let (call, acks) = round(&mut alice, &mut bob, &mut carol, 1, 2_000);
    alice.take_events();
    alice.insert(&p, acks[0].clone(), node::Origin::Fresh, 2_001).expect("bob's ack");
    assert!(alice.is_held(&p, &acks[0].id()) && !stored(&alice, acks[0].id()), "held in memory");
    assert_eq!(events_about(&mut alice, acks[0].id()), 0, "reported to no one yet");
    assert_eq!(alice.next_due(), Some(2_021), "committed at the latest when its wait ends");
    // Carol's ack completes the call's finality: both are committed at once.
    alice.insert(&p, acks[1].clone(), node::Origin::Fresh, 2_002).expect("carol's ack");
    assert!(acks.iter().all(|ack| stored(&alice, ack.id()) && !alice.is_held(&p, &ack.id())));
    assert_eq!(alice.take_released(), vec![acks[0].id()], "the held ack is now durable");
    let events = alice.take_events();
    assert!(events.iter().any(|e| e.op == call.id() && e.kind == OpEventKind::Final), "the call is final");
    assert!(events.iter().any(|e| e.op == acks[0].id()), "the held ack's events come with its commit");
    assert_eq!(alice.next_due(), None);

    // A held ack whose wait ends is committed by the tick.
    let (_, acks) = round(&mut alice, &mut bob, &mut carol, 2, 3_000);
    alice.insert(&p, acks[0].clone(), node::Origin::Fresh, 3_001).expect("bob's ack");
    assert!(
        alice.tick(3_020).expect("tick").is_empty() && alice.is_held(&p, &acks[0].id()),
        "not before 3,021"
    );
    alice.tick(3_021).expect("tick");
    assert!(
        stored(&alice, acks[0].id()) && !alice.is_held(&p, &acks[0].id()),
        "committed when its wait ends"
    );
    assert_eq!(alice.take_released(), vec![acks[0].id()]);
    alice.insert(&p, acks[1].clone(), node::Origin::Fresh, 3_022).expect("carol's ack");

    // A clean shutdown's flush commits what is held.
    let (_, acks) = round(&mut alice, &mut bob, &mut carol, 3, 4_000);
    let flushed = acks[0].id();
    alice.insert(&p, acks[0].clone(), node::Origin::Fresh, 4_001).expect("bob's ack");
    assert!(alice.is_held(&p, &flushed));
    alice.flush().expect("flush");
    assert!(stored(&alice, flushed) && !alice.is_held(&p, &flushed), "durable after the flush");
    alice.insert(&p, acks[1].clone(), node::Origin::Fresh, 4_002).expect("carol's ack");

    // An op the member authors on top of a held ack shares its commit.
    let (_, acks) = round(&mut alice, &mut bob, &mut carol, 4, 5_000);
    let shared = acks[0].id();
    alice.insert(&p, acks[0].clone(), node::Origin::Fresh, 5_001).expect("bob's ack");
    assert!(alice.is_held(&p, &shared));
    let next = alice.submit_call(&p, "guestbook", sign(5), 5_002).expect("call");
    assert!(next.op().parents.contains(&shared), "the call builds on the held ack");
    assert!(stored(&alice, shared) && stored(&alice, next.id()), "one commit holds both");
    drop(alice);
    let reopened =
        NodeBuilder::new(NodeConfig::new(dirs[0].path()), MemberKey::from_seed(1)).open().expect("reopen");
    let dag = reopened.ledger(&p).expect("ledger").dag();
    assert!(dag.contains(&flushed) && dag.contains(&shared), "and both are there after a restart");
}

/// Attack: a partner publishes code that is valid WASM but no polypact
/// module (it exports no entry points). Every node keeps published code, so
/// it lands in the store; a restart must still open the node, with the
/// partnership working, rather than refuse to start over a partner's junk.
#[test]
fn published_code_that_is_no_module_does_not_stop_a_restart() {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let key = MemberKey::from_seed(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core =
        NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(1)).open().expect("open");
    let code = core.add_code(&wasm).expect("code");
    let p = core.create_partnership(guestbook_charter(vec![key.member_id()], code), 1_000).expect("create");
    let junk = polypact::testing::raw_module("", "");
    for (i, chunk) in polypact::op::CodeChunk::split(&junk).into_iter().enumerate() {
        core.author(&p, Payload::PublishCode(chunk), 2_000 + i as u64).expect("publish op accepted");
    }
    let junk_code = CodeHash::of(&junk);
    assert!(core.store().get_code(&junk_code).expect("store").is_some(), "the published junk is kept");
    drop(core);

    let mut core = NodeBuilder::new(NodeConfig::new(dir.path()), MemberKey::from_seed(1))
        .open()
        .expect("reopen despite the junk");
    let call = json!({"sign": {"message": "still here"}}).to_string().into_bytes();
    let op = core.submit_call(&p, "guestbook", call, 3_000).expect("the partnership still takes calls");
    let outcome = core.ledger(&p).expect("ledger").outcome(&op.id());
    assert!(
        matches!(outcome, Some(polypact::ledger::OpOutcome::Applied { .. })),
        "and runs them: {outcome:?}"
    );
}

/// Final ops leave a node's memory at the snapshot tick (the graph forgets
/// them, the store's index of them moves to disk), the node goes on, and a
/// restart holds as little and ends in the same state as its partner.
#[test]
fn final_ops_leave_a_nodes_memory_and_a_restart_brings_back_only_the_recent_ones() {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let (alice_key, bob_key) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let dirs = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let open = |dir: &tempfile::TempDir, seed: u8| {
        let mut config = NodeConfig::new(dir.path());
        config.core.ledger.final_in_memory = FinalInMemory { forget_above: 16, keep_recent: 4 };
        let mut core = NodeBuilder::new(config, MemberKey::from_seed(seed)).open().expect("open");
        core.add_code(&wasm).expect("code");
        core
    };
    let mut alice = open(&dirs[0], 1);
    let mut bob = open(&dirs[1], 2);
    let code = CodeHash::of(&wasm);
    let p = alice
        .create_partnership(guestbook_charter(vec![alice_key.member_id(), bob_key.member_id()], code), 1_000)
        .expect("create");
    let genesis = alice.take_outbox().pop().expect("genesis").1;
    bob.join(genesis).expect("join");
    let pass = |from: &mut node::NodeCore, to: &mut node::NodeCore, now: u64| {
        for (partnership, op) in from.take_outbox() {
            to.insert(&partnership, op, node::Origin::Fresh, now).expect("accepted");
        }
    };
    // One call a second, each acked and final; a snapshot every tick.
    let mut now = 2_000;
    let mut rounds = |alice: &mut node::NodeCore, bob: &mut node::NodeCore, from: u32, to: u32| {
        for n in from..to {
            now += 1_000;
            let message = json!({"sign": {"message": format!("entry {n}")}}).to_string().into_bytes();
            alice.submit_call(&p, "guestbook", message, now).expect("call");
            pass(alice, bob, now);
            pass(bob, alice, now);
            alice.tick(now).expect("tick");
            bob.tick(now).expect("tick");
        }
    };
    rounds(&mut alice, &mut bob, 0, 150);
    for core in [&alice, &bob] {
        let ledger = core.ledger(&p).expect("ledger");
        assert!(ledger.final_height() + 3 >= ledger.optimistic_height(), "calls become final");
        let (held, all) = (ledger.dag().held_len(), ledger.dag().len());
        assert!(all >= 300 && held < 60, "{held} of {all} ops held");
        let indexed = core.store().indexed_in_memory(&p);
        assert!(indexed < 60, "the store indexes {indexed} ops in memory");
    }

    // Bob restarts from his store.
    drop(bob);
    let mut bob = open(&dirs[1], 2);
    let (restarted, running) = (bob.ledger(&p).expect("ledger"), alice.ledger(&p).expect("ledger"));
    assert_eq!(restarted.final_root(), running.final_root());
    assert_eq!(restarted.dag().heads(), running.dag().heads());
    assert!(restarted.dag().held_len() < 60, "{} ops held after the restart", restarted.dag().held_len());

    rounds(&mut alice, &mut bob, 150, 160);
    let (restarted, running) = (bob.ledger(&p).expect("ledger"), alice.ledger(&p).expect("ledger"));
    assert_eq!(restarted.final_height(), running.final_height());
    assert_eq!(restarted.final_root(), running.final_root());
    assert!(running.final_height() + 3 >= running.optimistic_height(), "the new calls become final");
    let entries =
        |ledger: &node::NodeLedger| ledger.query("guestbook", br#"{"entries":{}}"#, true).expect("query");
    assert_eq!(entries(restarted), entries(running));
}
