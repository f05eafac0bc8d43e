//! Catching up without gossip replay: a participant that was never online
//! while 10,000 ops were made joins and catches up by sync alone; a node
//! killed without shutdown comes back with every op it had accepted and
//! converges with the others.

use std::time::Instant;

use polypact::net::Keypair;
use polypact::node::{WaitFor, now_ms};
use polypact::op::{OpId, Payload};
use polypact::store::Store;
use polypact::testing::WasmHarness;
use polypact_tests::*;

const OPS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_catches_up_ten_thousand_ops_by_sync() {
    // Members 1-3 wrote 10,000 guestbook entries while member 4, a
    // participant from the start, was never online. Built offline with the
    // ledger directly, then written to the three nodes' stores.
    let t = Instant::now();
    let wasm = guestbook_wasm();
    let mut harness = WasmHarness::new(4, &[("guestbook", &wasm, "{}", &[])]).expect("harness");
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
        if i % 997 == 0 || i >= OPS - 3 {
            sample.push(id);
        }
    }
    let genesis = harness.ledger.genesis().clone();
    let p = harness.ledger.partnership();
    let mut ops: Vec<(u64, polypact::op::SignedOp)> =
        harness.ledger.dag().nodes().map(|n| (n.height, (*n.op).clone())).collect();
    ops.sort_by_key(|(h, op)| (*h, op.id()));
    assert_eq!(ops.len(), OPS + 1);
    let dirs = temp_dirs(4);
    for dir in &dirs[..3] {
        let store = Store::open(&dir.path().join("store.redb")).expect("store");
        store.put_code(&wasm).expect("code");
        let refs: Vec<(u64, &polypact::op::SignedOp)> = ops.iter().map(|(h, op)| (*h, op)).collect();
        store.append_ops(&p, &refs).expect("ops");
    }

    eprintln!("built and stored {OPS} ops in {:?}", t.elapsed());
    let t = Instant::now();
    let mut nodes: Vec<TestNode> = Vec::new();
    for seed in 1..=3u8 {
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        nodes.push(
            TestNode::start(dirs[usize::from(seed - 1)].path(), seed, Keypair::generate_ed25519(), bootstrap)
                .await,
        );
    }
    for node in &nodes {
        let held = node.info(p).await.op_count;
        assert!(held > OPS as u64, "restored from the store: {held}");
    }

    eprintln!("three nodes restored in {:?}", t.elapsed());
    // The joiner starts empty, gets the genesis out of band, and syncs.
    let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
    let joiner = TestNode::start(dirs[3].path(), 4, Keypair::generate_ed25519(), bootstrap).await;
    joiner.node.add_code(wasm.clone()).await.expect("code");
    let started = Instant::now();
    joiner.node.join(genesis).await.expect("joins");
    nodes.push(joiner);
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let info = wait_converged(&refs, p, &sample).await;
    let took = started.elapsed();
    assert!(info.op_count > (OPS + 1) as u64, "the 10,000 ops and the acks and bindings: {}", info.op_count);
    eprintln!("late joiner caught up {} ops in {took:?}", info.op_count);
    let count = nodes[3].node.query(p, "guestbook", br#"{"count":{}}"#.to_vec(), true).await.expect("count");
    let count: serde_json::Value = serde_json::from_slice(&count).expect("json");
    assert_eq!(count["count"], entries, "every entry, final, on the joiner");
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
