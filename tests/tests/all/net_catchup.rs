//! Catching up without gossip replay: a member admitted after 10,000 ops
//! joins by the partnership id alone and catches up by sync; a node
//! killed without shutdown comes back with every op it had accepted and
//! converges with the others.

use std::time::Instant;

use polypact::net::Keypair;
use polypact::node::{WaitFor, now_ms};
use polypact::op::{MemberKey, OpId, Payload, SystemPermission};
use polypact::store::{FinalDelta, Store};
use polypact::testing::{ModuleDef, WasmHarness};
use polypact_tests::*;

const OPS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_admitted_after_ten_thousand_ops_catches_up_by_sync() {
    // Members 1-3 made 10,000 ops, then admitted member 4 through the
    // membership module (one admin invites, another admits). Built offline
    // with the ledger directly and written to the three nodes' stores with
    // their final snapshot.
    let t = Instant::now();
    let guestbook = guestbook_wasm();
    let membership = polypact::testing::module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let admins: Vec<serde_json::Value> = (1..=3u8)
        .map(|s| {
            serde_json::json!({"member": MemberKey::from_seed(s).member_id().to_string(),
                "voting_units": 1, "economic_units": 1, "roles": ["admin"]})
        })
        .collect();
    let config = serde_json::json!({"members": admins, "governance": "voting"}).to_string();
    let modules: [ModuleDef<'_>; 2] = [
        ("guestbook", &guestbook, "{}", &[]),
        ("membership", &membership, &config, &[SystemPermission::AddParticipant]),
    ];
    let mut harness = WasmHarness::with_participants(4, 3, &modules).expect("harness");
    let mut sample: Vec<OpId> = Vec::new();
    // One guestbook entry in ten, the rest acks: the point is the op count
    // and the shape of the graph, not WASM time.
    let mut entries = 0u64;
    for i in 0..OPS {
        let author = i % 3;
        let id = if i % 10 == 0 {
            entries += 1;
            harness.call(author, "guestbook", &serde_json::json!({"sign": {"message": format!("entry {i}")}}))
        } else {
            harness.advance_ms(1);
            let op = harness.ledger.create_op(&harness.keys[author], Payload::Ack, harness.now);
            let id = op.id();
            harness.ledger.insert(op, harness.now).expect("ack accepted");
            id
        };
        if i % 997 == 0 {
            sample.push(id);
        }
    }
    let newcomer = MemberKey::from_seed(4).member_id().to_string();
    let invite = serde_json::json!({"invite": {"invitee": newcomer, "voting_units": 1}});
    let invited = harness.call(0, "membership", &invite);
    assert_eq!(harness.outcome_error(&invited), None);
    let admitted =
        harness.call(1, "membership", &serde_json::json!({"admit_invited": {"invitee": newcomer}}));
    assert_eq!(harness.outcome_error(&admitted), None);
    sample.push(admitted);
    harness.ack_all();
    assert!(harness.ledger.participants().iter().any(|(m, _)| *m == harness.member(3)), "member 4 admitted");
    let p = harness.ledger.partnership();
    let mut ops: Vec<(u64, polypact::op::SignedOp)> =
        harness.ledger.dag().nodes().map(|n| (n.height, (*n.op).clone())).collect();
    ops.sort_by_key(|(h, op)| (*h, op.id()));
    assert!(ops.len() > OPS);
    let snapshot = FinalDelta {
        final_height: harness.ledger.final_height(),
        writes: harness.ledger.final_state().iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
        meta: Vec::new(),
        state_root: Some(harness.ledger.final_root()),
    };
    let dirs = temp_dirs(4);
    for dir in &dirs[..3] {
        let store = Store::open(&dir.path().join("store.redb")).expect("store");
        store.put_code(&guestbook).expect("code");
        store.put_code(&membership).expect("code");
        let refs: Vec<(u64, &polypact::op::SignedOp)> = ops.iter().map(|(h, op)| (*h, op)).collect();
        store.append_ops(&p, &refs).expect("ops");
        store.save_final(&p, &snapshot).expect("snapshot");
    }
    eprintln!("built and stored {} ops in {:?}", ops.len(), t.elapsed());

    let t = Instant::now();
    let mut nodes: Vec<TestNode> = Vec::new();
    for seed in 1..=3u8 {
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        let dir = dirs[usize::from(seed - 1)].path();
        nodes.push(TestNode::start(dir, seed, Keypair::generate_ed25519(), bootstrap).await);
    }
    for node in &nodes {
        let held = node.info(p).await.op_count;
        assert!(held >= ops.len() as u64, "restored from the store: {held}");
    }
    eprintln!("three nodes restored in {:?}", t.elapsed());

    // The newcomer starts empty, with no module code; it knows only the
    // partnership id. It proves its member, gets the genesis and the code,
    // then the whole history by sync.
    let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
    let joiner = TestNode::start(dirs[3].path(), 4, Keypair::generate_ed25519(), bootstrap).await;
    wait_for("the newcomer to connect", || async {
        let peers = joiner.net.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.len() == 3 { Ok(()) } else { Err(format!("{} peers", peers.len())) }
    })
    .await;
    let started = Instant::now();
    assert_eq!(joiner.node.join_by_id(p).await.expect("joins by id"), p);
    nodes.push(joiner);
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let receipt =
        nodes[3].node.call(p, "guestbook", sign_msg("newcomer"), WaitFor::Applied, WAIT).await.map(|r| r.op);
    // The newcomer may call only once its admission is in its graph; wait for that.
    let newcomer_op = match receipt {
        Ok(op) => op,
        Err(_) => {
            wait_for("the newcomer to see its admission", || async {
                let info = nodes[3].info(p).await;
                if info.participants.iter().any(|(m, _)| *m == nodes[3].member) {
                    Ok(())
                } else {
                    Err(format!("{} ops so far", info.op_count))
                }
            })
            .await;
            nodes[3]
                .node
                .call(p, "guestbook", sign_msg("newcomer"), WaitFor::Applied, WAIT)
                .await
                .expect("call")
                .op
        }
    };
    sample.push(newcomer_op);
    let info = wait_converged(&refs, p, &sample).await;
    let took = started.elapsed();
    eprintln!("the newcomer caught up {} ops in {took:?}", info.op_count);
    assert_eq!(info.participants.len(), 4);
    let count = nodes[3].node.query(p, "guestbook", br#"{"count":{}}"#.to_vec(), true).await.expect("count");
    let count: serde_json::Value = serde_json::from_slice(&count).expect("json");
    assert_eq!(count["count"], entries + 1, "every entry, final, on the newcomer");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_keeps_what_it_accepted_and_converges() {
    let dirs = temp_dirs(3);
    let (mut nodes, code) = start_nodes(3, &dirs).await;
    let genesis = genesis(guestbook_charter(&[1, 2, 3], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let mut authored: Vec<OpId> = Vec::new();
    for round in 0..3 {
        for node in &nodes {
            let receipt = node
                .node
                .call(
                    p,
                    "guestbook",
                    sign_msg(&format!("{} before {round}", node.seed)),
                    WaitFor::Accepted,
                    WAIT,
                )
                .await
                .expect("accepted");
            authored.push(receipt.op);
        }
    }
    // Node 3 has seen everything authored so far (applied), then dies.
    let victim = nodes.pop().expect("node 3");
    wait_for("node 3 to apply every op authored so far", || async {
        for op in &authored {
            let (outcome, _) = victim.node.op_status(p, *op).await.map_err(|e| e.to_string())?;
            if outcome.is_none() {
                return Err(format!("{op:?} not applied on node 3"));
            }
        }
        Ok(())
    })
    .await;
    let held = victim.info(p).await.op_count;
    let (dir, keypair, seed) = (victim.dir.clone(), victim.keypair.clone(), victim.seed);
    victim.kill().await;

    // Life goes on without it.
    for round in 0..3 {
        for node in &nodes {
            let receipt = node
                .node
                .call(
                    p,
                    "guestbook",
                    sign_msg(&format!("{} after {round}", node.seed)),
                    WaitFor::Accepted,
                    WAIT,
                )
                .await
                .expect("accepted");
            authored.push(receipt.op);
        }
    }
    // Back with the same store and peer id.
    let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
    let back = TestNode::start(&dir, seed, keypair, bootstrap).await;
    let reopened = back.info(p).await.op_count;
    assert!(reopened >= held, "node 3 had {held} ops before the kill and {reopened} after");
    for op in &authored[..9] {
        let (outcome, _) = back.node.op_status(p, *op).await.expect("status");
        assert!(outcome.is_some(), "op {op:?} accepted before the kill was lost");
    }
    nodes.push(back);
    let receipt = nodes[2]
        .node
        .call(p, "guestbook", sign_msg("3 is back"), WaitFor::Accepted, WAIT)
        .await
        .expect("accepted after restart");
    authored.push(receipt.op);
    let refs: Vec<&TestNode> = nodes.iter().collect();
    wait_converged(&refs, p, &authored).await;
    for node in nodes {
        node.stop().await;
    }
}
