//! Multi-node convergence over real libp2p on loopback: four nodes of one
//! partnership all author ops and end with the same final height and root,
//! everything authored final everywhere; a 3+3 partition made with the
//! operator block list heals without losing anything.

use polypact::node::{WaitFor, now_ms};
use polypact::op::OpId;
use polypact_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_converge_on_the_same_final_state() {
    let dirs = temp_dirs(4);
    let (nodes, code) = start_nodes(4, &dirs).await;
    let genesis = genesis(guestbook_charter(&[1, 2, 3, 4], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");

    let mut authored: Vec<OpId> = Vec::new();
    for round in 0..5 {
        for node in &nodes {
            let receipt = node
                .node
                .call(
                    p,
                    "guestbook",
                    sign_msg(&format!("{} says {round}", node.seed)),
                    WaitFor::Accepted,
                    WAIT,
                )
                .await
                .expect("accepted");
            authored.push(receipt.op);
        }
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let info = wait_converged(&refs, p, &authored).await;
    assert!(info.final_height >= 5, "final height {}", info.final_height);
    assert_eq!(info.participants.len(), 4);
    // The guestbook holds all twenty entries on every node, in the same order.
    let mut answers = Vec::new();
    for node in &nodes {
        let count = node.node.query(p, "guestbook", br#"{"count":{}}"#.to_vec(), true).await.expect("count");
        let count: serde_json::Value = serde_json::from_slice(&count).expect("json");
        assert_eq!(count["count"], 20, "member {}", node.seed);
        let all = node.node.query(p, "guestbook", br#"{"entries":{"limit":50}}"#.to_vec(), true).await;
        answers.push(all.expect("entries"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "the nodes list different entries");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_and_nothing_is_lost() {
    let dirs = temp_dirs(6);
    let (nodes, code) = start_nodes(6, &dirs).await;
    let genesis = genesis(guestbook_charter(&[1, 2, 3, 4, 5, 6], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let refs: Vec<&TestNode> = nodes.iter().collect();
    // Everyone is bound and connected before the cut.
    wait_for("every node to see every binding", || async {
        for node in &nodes {
            let info = node.info(p).await;
            if info.final_height < 1 {
                return Err(format!("member {} final height {}", node.seed, info.final_height));
            }
        }
        Ok(())
    })
    .await;

    let (left, right) = nodes.split_at(3);
    for a in left {
        for b in right {
            a.net.block(b.peer()).await.expect("blocks");
            b.net.block(a.peer()).await.expect("blocks");
        }
    }
    wait_for("the two sides to disconnect", || async {
        for a in left {
            let peers = a.net.connected_peers().await.map_err(|e| e.to_string())?;
            if right.iter().any(|b| peers.contains(&b.peer())) {
                return Err(format!("member {} still connected across", a.seed));
            }
        }
        Ok(())
    })
    .await;

    let mut authored: Vec<OpId> = Vec::new();
    for round in 0..4 {
        for node in &nodes {
            let receipt = node
                .node
                .call(
                    p,
                    "guestbook",
                    sign_msg(&format!("{} in the cut {round}", node.seed)),
                    WaitFor::Applied,
                    WAIT,
                )
                .await
                .expect("applied on its side");
            authored.push(receipt.op);
        }
    }
    // Nothing crosses the cut, and nothing authored in it is final yet
    // (finality waits for every participant).
    for op in &authored[..3] {
        let (outcome, _) = right[0].node.op_status(p, *op).await.expect("status");
        assert!(outcome.is_none(), "an op of the left side reached the right side through the cut");
        let (_, is_final) = left[0].node.op_status(p, *op).await.expect("status");
        assert!(!is_final, "final without the other side's countersignature");
    }

    for a in left {
        for b in right {
            a.net.unblock(b.peer()).await.expect("unblocks");
            b.net.unblock(a.peer()).await.expect("unblocks");
        }
    }
    let info = wait_converged(&refs, p, &authored).await;
    assert_eq!(info.participants.len(), 6);
    for node in nodes {
        node.stop().await;
    }
}
