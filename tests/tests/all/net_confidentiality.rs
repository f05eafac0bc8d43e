//! Issue 22, end-to-end encryption per partnership, over real libp2p with
//! the real membership, voting and guestbook `.wasm`. A stranger who has
//! learned the partnership id (the worst case: it can compute the gossip
//! topic) subscribes to the partnership's traffic: it receives envelopes
//! only, none naming the partnership, an author, or anything written. Then
//! the partners expel one of them by vote: the remaining two get a new key
//! and converge as before, while everything written after the removal is
//! sealed under keys the removed partner's node never held, and neither
//! gossip nor sync brings it there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use polypact::ledger::OpOutcome;
use polypact::net::{Keypair, NetEvent, Network, TransportConfig};
use polypact::node::{WaitFor, now_ms};
use polypact::op::{Charter, Limits, MemberKey, ModuleSpec, Params, SystemPermission, decode_signed_op};
use polypact::seal::{self, KeyId};
use polypact_tests::governance::{
    add_governance_code, call, execute_when_due, fast_voting_config, member, query, wait_for_proposal,
};
use polypact_tests::*;
use serde_json::json;

/// Nodes that never cut off a stranger, so the tap stays connected.
fn tapped_net(keypair: Keypair, bootstrap: Vec<polypact::net::Multiaddr>) -> TransportConfig {
    let mut config = test_net_config(keypair, bootstrap);
    config.stranger_timeout = None;
    config
}

fn charter(
    seeds: &[u8],
    codes: &polypact_tests::governance::Codes,
    guestbook: polypact::op::CodeHash,
) -> Charter {
    let mut participants: Vec<_> = seeds.iter().map(|s| MemberKey::from_seed(*s).member_id()).collect();
    participants.sort();
    let members: Vec<_> =
        seeds.iter().map(|s| json!({"member": member(*s), "voting_units": 1, "economic_units": 1})).collect();
    Charter {
        name: "confidential venture".into(),
        participants,
        modules: vec![
            ModuleSpec {
                name: "membership".into(),
                code: codes.membership,
                config: json!({"members": members, "governance": "voting"}).to_string(),
                permissions: vec![SystemPermission::AddParticipant, SystemPermission::RemoveParticipant],
            },
            ModuleSpec {
                name: "voting".into(),
                code: codes.voting,
                config: fast_voting_config().to_string(),
                permissions: vec![],
            },
            ModuleSpec {
                name: "guestbook".into(),
                code: guestbook,
                config: "{}".into(),
                permissions: vec![],
            },
        ],
        params: Params::default(),
        parent: None,
    }
}

/// Signs the guestbook with `text` on `node` and waits until it is final there.
async fn sign_final(node: &TestNode, p: polypact::op::PartnershipId, text: &str) -> polypact::op::OpId {
    let receipt = node.node.call(p, "guestbook", sign_msg(text), WaitFor::Final, WAIT).await.expect("final");
    assert!(matches!(receipt.outcome, Some(OpOutcome::Applied { .. })), "{:?}", receipt.outcome);
    receipt.op
}

async fn guestbook_text(node: &TestNode, p: polypact::op::PartnershipId, final_state: bool) -> String {
    query(node, p, "guestbook", json!({"entries": {"limit": 100}}), final_state)
        .await
        .expect("entries")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_reads_nothing_and_a_removed_partner_nothing_written_after_it_left() {
    let dirs = temp_dirs(3);
    let (nodes, guestbook) = start_nodes_with(3, &dirs, test_network_config(), tapped_net).await;
    let codes = add_governance_code(&nodes).await;
    let genesis = genesis(charter(&[1, 2, 3], &codes, guestbook), 1, now_ms());
    let p = genesis.partnership();
    for node in &nodes {
        node.node.join(genesis.clone()).await.expect("joins");
    }

    // The tap: a stranger that knows the partnership id, subscribed to its topic.
    let (tap, mut tap_events) =
        Network::spawn(tapped_net(Keypair::generate_ed25519(), vec![nodes[0].addr.clone()])).expect("starts");
    tap.subscribe(p).await.expect("subscribes");
    let captured: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = Arc::clone(&captured);
    let drain = tokio::spawn(async move {
        while let Some(event) = tap_events.recv().await {
            if let NetEvent::Gossip { data, .. } = event {
                sink.lock().expect("lock").push(data);
            }
        }
    });

    // Every node gets the partnership's first key, then the partners write.
    for node in &nodes {
        wait_for("the partnership's first key", || async {
            let keys = node.node.partnership_keys(p).await.map_err(|e| e.to_string())?.ok_or("no network")?;
            if keys.sealing.is_some() { Ok(()) } else { Err(format!("{keys:?}")) }
        })
        .await;
    }
    for (i, node) in nodes.iter().enumerate() {
        sign_final(node, p, &format!("SECRET-BEFORE-{i} Confidential Customer Ltd")).await;
    }
    let before_removal = wait_for("the tap to receive the partners' gossip", || async {
        let n = captured.lock().expect("lock").len();
        if n >= 3 { Ok(n) } else { Err(format!("{n} messages")) }
    })
    .await;

    // What the stranger holds: envelopes, naming nothing.
    let authors: Vec<[u8; 32]> = (1..=3).map(|s| MemberKey::from_seed(s).member_id().0).collect();
    let check_opaque = |messages: &[Vec<u8>]| {
        for data in messages {
            assert!(seal::envelope_key_id(data).is_ok(), "not an envelope");
            assert!(decode_signed_op(data, &Limits::default()).is_err(), "an op in clear");
            assert!(!data.windows(6).any(|w| w == b"SECRET"), "plaintext in gossip");
            assert!(!data.windows(32).any(|w| w == p.0), "the partnership id in gossip");
            for author in &authors {
                assert!(!data.windows(32).any(|w| w == author), "an author id in gossip");
            }
        }
    };
    check_opaque(&captured.lock().expect("lock").clone());

    // Partners 1 and 2 expel partner 3 by vote.
    let keys_of_3_before: Vec<KeyId> =
        nodes[2].node.partnership_keys(p).await.expect("keys").expect("network").held;
    let proposed = call(
        &nodes[0],
        p,
        "voting",
        json!({"propose": {"title": "Expel partner 3", "period_ms": 500,
               "messages": [{"call": {"module": "membership", "msg": {"expel": {"member": member(3)}}}}]}}),
    )
    .await
    .expect("data");
    let proposal = proposed["id"].as_u64().expect("id");
    for node in &nodes[..2] {
        wait_for_proposal(node, p, proposal).await;
        call(node, p, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}})).await;
    }
    execute_when_due(&nodes[0], p, proposal).await;
    // The remaining two rotate to a key sealed to them alone.
    for node in &nodes[..2] {
        wait_for("a key the removed partner does not hold", || async {
            let keys = node.node.partnership_keys(p).await.map_err(|e| e.to_string())?.ok_or("no network")?;
            match keys.sealing {
                Some(id) if !keys_of_3_before.contains(&id) && !keys.wants_rekey => Ok(()),
                _ => Err(format!("{keys:?}")),
            }
        })
        .await;
    }
    let removed_at = captured.lock().expect("lock").len();
    assert!(removed_at >= before_removal);

    // Written after the removal: final on both remaining nodes, as before.
    let after = sign_final(&nodes[0], p, "SECRET-AFTER Confidential Customer Ltd").await;
    wait_for("the remaining partner to see it final", || async {
        let status = nodes[1].node.op_status(p, after).await.map_err(|e| e.to_string())?;
        if status.1 { Ok(()) } else { Err(format!("{status:?}")) }
    })
    .await;
    assert_eq!(guestbook_text(&nodes[0], p, true).await, guestbook_text(&nodes[1], p, true).await);
    wait_for("the tap to receive gossip written after the removal", || async {
        let n = captured.lock().expect("lock").len();
        if n > removed_at { Ok(()) } else { Err(format!("{n} messages")) }
    })
    .await;
    // Give gossip and anti-entropy time to reach the removed partner's node, if they would.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let messages = captured.lock().expect("lock").clone();
    check_opaque(&messages);
    let keys_of_3: Vec<KeyId> = nodes[2].node.partnership_keys(p).await.expect("keys").expect("network").held;
    let sealing_now =
        nodes[0].node.partnership_keys(p).await.expect("keys").expect("network").sealing.expect("a key");
    assert!(!keys_of_3.contains(&sealing_now), "the removed partner holds the new key");
    let after_removal: Vec<KeyId> =
        messages[removed_at..].iter().map(|m| seal::envelope_key_id(m).expect("envelope")).collect();
    assert!(after_removal.contains(&sealing_now), "{after_removal:?}");
    // What the removed partner's node holds: nothing written after it left.
    let seen_by_3 = guestbook_text(&nodes[2], p, false).await;
    assert!(seen_by_3.contains("SECRET-BEFORE-0"), "{seen_by_3}");
    assert!(!seen_by_3.contains("SECRET-AFTER"), "{seen_by_3}");
    let (outcome, _) = nodes[2].node.op_status(p, after).await.expect("status");
    assert!(outcome.is_none(), "the removed partner's node applied the op: {outcome:?}");

    tap.shutdown().await.expect("shuts down");
    drain.abort();
    for node in nodes {
        node.stop().await;
    }
}
