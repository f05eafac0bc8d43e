//! Compaction behind certified checkpoints over the real network
//! (in-process nodes on loopback libp2p), driven by nothing but the nodes'
//! own ticks: both partners' nodes attest each checkpoint over gossip, the
//! node whose operator turned `compact_history` on deletes its history
//! behind the latest certified one while its partner's node keeps every
//! op, the certificate verifies for anyone, and the compacted node comes
//! back from its store and goes on with its partner.

use std::time::Duration;

use polypact::cert::{self, Certificate, Statement};
use polypact::ledger::FinalInMemory;
use polypact::net::{Keypair, Network, SyncRequest, SyncResponse, sync};
use polypact::node::{NodeConfig, WaitFor};
use polypact::op::{MemberKey, Params};
use polypact_tests::*;

const EVERY: u64 = 256;

async fn start(
    dir: &tempfile::TempDir,
    seed: u8,
    compact: bool,
    bootstrap: Vec<polypact::net::Multiaddr>,
) -> TestNode {
    let mut config = NodeConfig::new(dir.path());
    config.core.compact_history = compact;
    config.core.ledger.final_in_memory = FinalInMemory { forget_above: 64, keep_recent: 16 };
    let node = TestNode::start_with_config(
        config,
        seed,
        test_net_config(Keypair::generate_ed25519(), bootstrap),
        test_network_config(),
    )
    .await;
    node.node.add_code(guestbook_wasm()).await.expect("code");
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_compacts_behind_a_checkpoint_both_partners_attested_over_the_network() {
    let dirs = temp_dirs(2);
    let alice = start(&dirs[0], 1, true, vec![]).await;
    let bob = start(&dirs[1], 2, false, vec![alice.addr.clone()]).await;
    let code = polypact::op::CodeHash::of(&guestbook_wasm());
    let mut charter = guestbook_charter(&[1, 2], code);
    charter.params = Params { checkpoint_every: EVERY, ..Params::default() };
    let genesis = genesis(charter, 1, polypact::node::now_ms());
    let p = join_all(&[&alice, &bob], &[genesis]).await[0];

    // Calls from both partners until a few checkpoints have passed.
    let mut last = None;
    let mut first = None;
    for i in 0..600 {
        let node = if i % 2 == 0 { &alice } else { &bob };
        let wait = if i % 50 == 49 { WaitFor::Final } else { WaitFor::Accepted };
        let receipt = node
            .node
            .call(p, "guestbook", sign_msg(&format!("entry {i}")), wait, Duration::from_secs(30))
            .await
            .expect("call");
        last = Some(receipt.op);
        first = first.or(Some(receipt.op));
    }
    let info = wait_converged(&[&alice, &bob], p, &[last.expect("a call")]).await;
    assert!(info.final_height > EVERY + 64, "final height {}", info.final_height);

    let compaction = wait_for("alice to compact behind a certified checkpoint", || async {
        let view = alice.node.checkpoints(p).await.map_err(|e| e.to_string())?;
        match view.compacted {
            Some(c) if c.done_upto == c.checkpoint => Ok(c),
            other => Err(format!(
                "compacted {other:?}; checkpoints {:?}",
                view.checkpoints.iter().map(|c| (c.statement.height, c.attested.len())).collect::<Vec<_>>()
            )),
        }
    })
    .await;
    let certificate = Certificate::decode(&compaction.certificate, &cert::op_limits()).expect("decodes");
    let verified = cert::verify(&certificate, None, &cert::op_limits()).expect("verifies");
    let Statement::Checkpoint(checkpoint) = verified.statement else {
        panic!("not a checkpoint: {verified:?}")
    };
    assert_eq!(checkpoint.height, compaction.checkpoint);
    assert_eq!(checkpoint.height % EVERY, 0);
    // Bob's node took the same checkpoint and keeps every op.
    let bobs = bob.node.checkpoints(p).await.expect("view");
    assert!(bobs.compacted.is_none(), "bob keeps history");
    assert!(bobs.checkpoints.iter().any(|c| c.statement == checkpoint && c.certificate.is_some()));

    // A partner's peer asking Alice's node for ops by id gets those she
    // still holds, and nothing of a compacted one, without an error; an
    // author's range is served without the compacted ops.
    let (peer, mut peer_events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![alice.addr.clone()]))
            .expect("starts");
    let drain = tokio::spawn(async move { while peer_events.recv().await.is_some() {} });
    let hello = sync::hello(&MemberKey::from_seed(2), p, &peer.local_peer_id());
    let welcome = wait_for("alice's node to welcome bob's member", || async {
        match peer.request(alice.peer(), hello.clone()).await {
            Ok(SyncResponse::Welcome) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    welcome.await;
    let (compacted, live) = (first.expect("a call"), last.expect("a call"));
    let request = SyncRequest::OpsById { partnership: p, ids: vec![compacted, live] };
    match peer.request(alice.peer(), request).await.expect("answer") {
        SyncResponse::Ops { ops, .. } => {
            let ids: Vec<_> = ops
                .iter()
                .map(|bytes| {
                    polypact::op::decode_signed_op(bytes, &polypact::op::Limits::default()).expect("op").id()
                })
                .collect();
            assert_eq!(ids, vec![live], "only the op alice's node still holds");
        }
        other => panic!("asking for a compacted op answered {other:?}"),
    }
    let ranges = vec![sync::SeqRange { partnership: p, author: alice.member, from_seq: 1, limit: 10 }];
    match peer.request(alice.peer(), SyncRequest::Ops { ranges }).await.expect("answer") {
        SyncResponse::Page { done: 1, .. } => {}
        other => panic!("asking for a compacted range answered {other:?}"),
    }
    peer.shutdown().await.expect("shuts down");
    drain.abort();

    // Alice comes back from her compacted store and goes on with Bob.
    alice.stop().await;
    let alice = start(&dirs[0], 1, true, vec![bob.addr.clone()]).await;
    let receipt = alice
        .node
        .call(p, "guestbook", sign_msg("after the restart"), WaitFor::Final, Duration::from_secs(60))
        .await
        .expect("call after the restart");
    let info = wait_converged(&[&alice, &bob], p, &[receipt.op]).await;
    assert!(info.final_height > checkpoint.height);
    let entries = |node: &TestNode| {
        let handle = node.node.clone();
        async move { handle.query(p, "guestbook", br#"{"entries":{}}"#.to_vec(), true).await.expect("query") }
    };
    assert_eq!(entries(&alice).await, entries(&bob).await);
    alice.stop().await;
    bob.stop().await;
}
