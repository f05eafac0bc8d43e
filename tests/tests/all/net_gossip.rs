//! Gossip of an op that arrives before its parents: it waits (not forwarded),
//! its missing parent is fetched by id from the peer that sent it, and only
//! then is it accepted, stored and forwarded to the rest of the mesh; and
//! gossip is taken only from peers that act for a participant.

use polypact::net::{Keypair, NetEvent, Network, SyncRequest, SyncResponse, sync};
use polypact::node::now_ms;
use polypact::op::{MemberKey, OpId, Payload, SignedOp, UnsignedOp};
use polypact_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_op_ahead_of_its_parent_waits_fetches_it_by_id_and_then_spreads() {
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    // Member 3 is a participant whose node is a bare network in this test.
    let genesis = genesis(guestbook_charter(&[1, 2, 3], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let third = MemberKey::from_seed(3);
    let call = |seq: u64, parent: OpId, text: &str| -> SignedOp {
        UnsignedOp {
            partnership: p,
            author: third.member_id(),
            seq,
            parents: vec![parent],
            time_ms: now_ms(),
            payload: Payload::Call { module: "guestbook".into(), msg: sign_msg(text) },
        }
        .sign(&third)
    };
    let first = call(1, genesis.id(), "first");
    let second = call(2, first.id(), "second");

    // Connected to node 1 only; node 2 hears of member 3's ops only through node 1.
    let (bare, mut events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![nodes[0].addr.clone()]))
            .expect("starts");
    bare.subscribe(p).await.expect("subscribes");
    wait_for("node 1 on the bare peer's topic", || async {
        let peers = bare.topic_peers(p).await.map_err(|e| e.to_string())?;
        if peers.contains(&nodes[0].peer()) { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;
    // As a participant's node does, the bare peer proves its member first:
    // nodes take gossip only from peers that act for a participant.
    let hello = sync::hello(&third, p, &bare.local_peer_id());
    assert_eq!(bare.request(nodes[0].peer(), hello).await.expect("answer"), SyncResponse::Welcome);
    // Gossip is sealed under the partnership's key, which member 3 opens
    // from the rekey op sealed to it.
    let authors = [MemberKey::from_seed(1).member_id(), MemberKey::from_seed(2).member_id()];
    let key = partnership_key_as(&bare, nodes[0].peer(), p, &third, &authors).await;
    bare.publish(p, key.seal(&second.encode()).expect("sealed"))
        .await
        .expect("publishes the second op first");

    // Node 1 asks the sender for the missing parent by id; answer it.
    let first_bytes = first.encode();
    let asked = loop {
        match events.recv().await.expect("running") {
            NetEvent::SyncRequest { request: SyncRequest::OpsById { ids, .. }, responder, .. } => {
                let answer = if ids.contains(&first.id()) {
                    SyncResponse::Ops { ops: vec![first_bytes.clone()], more: false }
                } else {
                    SyncResponse::Unknown
                };
                bare.respond(responder, answer).await.expect("responds");
                break ids;
            }
            NetEvent::SyncRequest { request: SyncRequest::Hello { .. }, responder, .. } => {
                bare.respond(responder, SyncResponse::Welcome).await.expect("responds");
            }
            NetEvent::SyncRequest { responder, .. } => {
                bare.respond(responder, SyncResponse::Denied).await.expect("responds");
            }
            _ => {}
        }
    };
    assert_eq!(asked, vec![first.id()], "node 1 asked for exactly the missing parent");

    // Both ops reach node 2 (the second only after node 1 accepted it), and
    // every node ends with both entries applied in order.
    for node in &nodes {
        wait_for("both ops applied", || async {
            for op in [first.id(), second.id()] {
                let (outcome, _) = node.node.op_status(p, op).await.map_err(|e| e.to_string())?;
                if outcome.is_none() {
                    return Err(format!("{op:?} not applied on member {}", node.seed));
                }
            }
            Ok(())
        })
        .await;
    }
    // Keep answering the bare peer's sync requests while the nodes finish.
    let server = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::SyncRequest { responder, .. } = event {
                let _ = bare.respond(responder, SyncResponse::Denied).await;
            }
        }
    });
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let count = |node: &TestNode| {
        let node = node.node.clone();
        async move {
            let answer = node.query(p, "guestbook", br#"{"count":{}}"#.to_vec(), false).await.expect("count");
            serde_json::from_slice::<serde_json::Value>(&answer).expect("json")["count"].clone()
        }
    };
    for node in &refs {
        assert_eq!(count(node).await, 2);
    }
    for node in nodes {
        node.stop().await;
    }
    server.abort();
}

/// Gossip is taken only from peers that act for a participant: a good op of
/// a participant, forwarded by a peer that proved no member and has no
/// binding, is not taken (sync from a participant's node brings it), while
/// garbage from that peer is still refused and scored down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_op_from_a_peer_that_acts_for_no_participant_is_not_taken() {
    let dirs = temp_dirs(1);
    let (nodes, code) = start_nodes(1, &dirs).await;
    let genesis = genesis(guestbook_charter(&[1, 3], code), 1, now_ms());
    let p = nodes[0].node.join(genesis.clone()).await.expect("joins");
    let third = MemberKey::from_seed(3);
    let good = UnsignedOp {
        partnership: p,
        author: third.member_id(),
        seq: 1,
        parents: vec![genesis.id()],
        time_ms: now_ms(),
        payload: Payload::Call { module: "guestbook".into(), msg: sign_msg("relayed") },
    }
    .sign(&third);

    let (relay, mut events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![nodes[0].addr.clone()]))
            .expect("starts");
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    relay.subscribe(p).await.expect("subscribes");
    wait_for("the node on the relay's topic", || async {
        let peers = relay.topic_peers(p).await.map_err(|e| e.to_string())?;
        if peers.contains(&nodes[0].peer()) { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;
    // The relay holds no key of the partnership: whatever it seals its op
    // under, the node cannot open it and does not take it.
    let made_up = polypact::seal::PartnershipKey::from_bytes([42; 32]);
    relay.publish(p, made_up.seal(&good.encode()).expect("sealed")).await.expect("publishes");
    // Messages of one peer are handled in order: once the garbage after the
    // good op has been scored, the good op has been decided too.
    for i in 0..10 {
        relay.publish(p, format!("garbage {i}").into_bytes()).await.expect("publishes");
    }
    wait_for("the relay's score to go negative", || async {
        match nodes[0].net.peer_score(relay.local_peer_id()).await.map_err(|e| e.to_string())? {
            Some(score) if score < 0.0 => Ok(score),
            other => Err(format!("score {other:?}")),
        }
    })
    .await;
    let (outcome, _) = nodes[0].node.op_status(p, good.id()).await.expect("status");
    assert!(outcome.is_none(), "a good op relayed by a peer acting for no participant was taken");
    let stats = nodes[0].node.network_stats().await.expect("stats").expect("network");
    assert!(stats.gossip_unknown_key >= 1, "{stats:?}");

    relay.shutdown().await.expect("shuts down");
    drain.abort();
    for node in nodes {
        node.stop().await;
    }
}
