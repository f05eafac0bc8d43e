//! A hostile peer on a partnership's topic: garbage, ops with bad
//! signatures, ops of another partnership, ops of a non-participant, and a
//! flood. Each is refused and lowers the peer's gossip score; sync is denied
//! to it; the honest nodes lose nothing and converge.

use std::time::Duration;

use polypact::net::{Keypair, NetEvent, NetHandle, Network, SyncRequest, SyncResponse, sync};
use polypact::node::{WaitFor, now_ms};
use polypact::op::{MemberKey, OpId, PartnershipId, Payload, SignedOp, UnsignedOp};
use polypact_tests::*;

fn op(key: &MemberKey, partnership: PartnershipId, parent: OpId, seq: u64) -> SignedOp {
    UnsignedOp {
        partnership,
        author: key.member_id(),
        seq,
        parents: vec![parent],
        time_ms: now_ms(),
        payload: Payload::Call { module: "guestbook".into(), msg: sign_msg("hostile") },
    }
    .sign(key)
}

async fn publish(attacker: &NetHandle, p: PartnershipId, bytes: Vec<u8>) {
    attacker.publish(p, bytes).await.expect("published or queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_is_refused_and_scored_down_and_nothing_is_lost() {
    let dirs = temp_dirs(3);
    let (nodes, code) = start_nodes(3, &dirs).await;
    let genesis = genesis(guestbook_charter(&[1, 2, 3], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let target = &nodes[0];

    let (attacker, mut attacker_events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![target.addr.clone()]))
            .expect("starts");
    // Drain the attacker's events so its network never stalls on them.
    let drain = tokio::spawn(async move {
        while let Some(event) = attacker_events.recv().await {
            // Nobody asks the attacker anything it answers.
            drop::<NetEvent>(event);
        }
    });
    attacker.subscribe(p).await.expect("subscribes");
    wait_for("the attacker to be on the topic", || async {
        let peers = attacker.topic_peers(p).await.map_err(|e| e.to_string())?;
        if peers.contains(&target.peer()) { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;

    // Sync is denied: no binding, a hello for a non-participant, a forged hello.
    let heads = attacker.request(target.peer(), heads_request(p)).await.expect("answer");
    assert_eq!(heads, heads_denied(p));
    let outsider = MemberKey::from_seed(66);
    let hello = sync::hello(&outsider, p, &attacker.local_peer_id());
    assert_eq!(attacker.request(target.peer(), hello).await.expect("answer"), SyncResponse::Denied);
    let SyncRequest::Hello { signature, .. } = sync::hello(&outsider, p, &attacker.local_peer_id()) else {
        panic!("hello")
    };
    let forged = SyncRequest::Hello { partnership: p, member: target.member, signature };
    assert_eq!(attacker.request(target.peer(), forged).await.expect("answer"), SyncResponse::Denied);
    let heads = attacker.request(target.peer(), heads_request(p)).await.expect("answer");
    assert_eq!(heads, heads_denied(p), "still denied after the failed hellos");
    // A proof signed by an outsider, or stretched from an outsider's
    // signature to the target's member, serves nothing either.
    let proof = sync::prove(&outsider, &[p], &attacker.local_peer_id());
    let forged = sync::Proof { member: target.member, ..proof.clone() };
    for proof in [proof, forged] {
        let SyncRequest::Heads { entries, .. } = heads_request(p) else { panic!("heads") };
        let request = SyncRequest::Heads { entries, proof: Some(proof) };
        assert_eq!(attacker.request(target.peer(), request).await.expect("answer"), heads_denied(p));
    }
    let ranges = vec![sync::SeqRange { partnership: p, author: target.member, from_seq: 1, limit: 10 }];
    let page = attacker.request(target.peer(), SyncRequest::Ops { ranges }).await.expect("answer");
    assert_eq!(page, SyncResponse::Page { ops: vec![], done: 1 }, "no ops to a stranger");

    // Honest work goes on during the attack.
    let mut authored = Vec::new();
    for node in &nodes {
        let receipt = node
            .node
            .call(p, "guestbook", sign_msg(&format!("{} before", node.seed)), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted");
        authored.push(receipt.op);
    }

    // Gossip attacks, by the worst attacker: one that holds the
    // partnership's key (leaked by a partner; fetched here as member 1's
    // node would). Without it, all it sends is refused as garbage.
    let (leak, leak_events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![target.addr.clone()]))
            .expect("starts");
    let authors: Vec<_> = (1..=3).map(|s| MemberKey::from_seed(s).member_id()).collect();
    let key = partnership_key_as(&leak, target.peer(), p, &MemberKey::from_seed(1), &authors).await;
    leak.shutdown().await.expect("shuts down");
    drop(leak_events);
    let sealed = |bytes: Vec<u8>| key.seal(&bytes).expect("sealed");
    let genesis_id = OpId(p.0);
    let mut bad_sig = op(&MemberKey::from_seed(1), p, genesis_id, 50).encode();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    publish(&attacker, p, sealed(bad_sig)).await;
    publish(&attacker, p, sealed(op(&outsider, PartnershipId([7; 32]), genesis_id, 1).encode())).await;
    let stranger_op = op(&outsider, p, genesis_id, 1);
    publish(&attacker, p, sealed(stranger_op.encode())).await;
    for i in 0..200 {
        publish(&attacker, p, format!("garbage {i}").into_bytes()).await;
    }
    wait_for("the attacker's score at the target to go negative", || async {
        match target.net.peer_score(attacker.local_peer_id()).await.map_err(|e| e.to_string())? {
            Some(score) if score < 0.0 => Ok(score),
            other => Err(format!("score {other:?}")),
        }
    })
    .await;

    for node in &nodes {
        let receipt = node
            .node
            .call(p, "guestbook", sign_msg(&format!("{} after", node.seed)), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted");
        authored.push(receipt.op);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let info = wait_converged(&refs, p, &authored).await;
    for node in &nodes {
        let (outcome, is_final) = node.node.op_status(p, stranger_op.id()).await.expect("status");
        assert!(outcome.is_none() && !is_final, "the outsider's op got into member {}'s graph", node.seed);
    }
    assert!(
        target.info(p).await.refusals.get("unknown_author").copied().unwrap_or(0) >= 1,
        "the outsider's op was refused and counted: {:?}",
        info.refusals
    );
    let count = target.node.query(p, "guestbook", br#"{"count":{}}"#.to_vec(), true).await.expect("count");
    let count: serde_json::Value = serde_json::from_slice(&count).expect("json");
    assert_eq!(count["count"], 6, "exactly the honest entries");

    attacker.shutdown().await.expect("shuts down");
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    for node in nodes {
        node.stop().await;
    }
}

/// A peer that asks too often is answered Busy (per-peer token bucket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_sync_requests_is_answered_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = polypact::node::SyncConfig { sync_requests_per_sec: 1, ..test_network_config() };
    let node = TestNode::start_with(dir.path(), 1, Keypair::generate_ed25519(), vec![], network).await;
    let (attacker, mut events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![node.addr.clone()]))
            .expect("starts");
    let target = node.peer();
    wait_for("the attacker to connect", || async {
        let peers = attacker.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.contains(&target) { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let p = PartnershipId([5; 32]);
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(attacker.request(target, heads_request(p)).await.expect("answer"));
    }
    // The first is answered (denied: a stranger cannot even learn whether the
    // node holds the partnership); a burst past one per second is not.
    assert_eq!(answers[0], heads_denied(p));
    assert!(answers.contains(&SyncResponse::Busy), "{answers:?}");
    attacker.shutdown().await.expect("shuts down");
    drain.abort();
    node.stop().await;
}
