//! Finding partnerships over the network: a partnership created on one node
//! is announced to connected peers, and the nodes of its participants join
//! it on their own (fetching module code they lack); `join_by_id` works for a
//! participant and is refused for an outsider, changing nothing.

use polypact::net::Keypair;
use polypact::node::{NodeError, WaitFor};
use polypact_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_partnerships_are_announced_and_joined() {
    let dirs = temp_dirs(4);
    let wasm = guestbook_wasm();
    let mut nodes: Vec<TestNode> = Vec::new();
    for seed in 1..=4u8 {
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        nodes.push(
            TestNode::start(dirs[usize::from(seed - 1)].path(), seed, Keypair::generate_ed25519(), bootstrap)
                .await,
        );
    }
    // Only the creator has the module code.
    let code = nodes[0].node.add_code(wasm).await.expect("code");
    wait_for("everyone connected to the creator", || async {
        let peers = nodes[0].net.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.len() == 3 { Ok(()) } else { Err(format!("{} peers", peers.len())) }
    })
    .await;
    let p = nodes[0].node.create_partnership(guestbook_charter(&[1, 2, 3], code)).await.expect("creates");

    // Members 2 and 3 join by themselves, with the code fetched from member 1.
    for node in &nodes[1..3] {
        wait_for("the announced partnership to be joined", || async {
            node.node.partnership(p).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
    }
    // Member 3 asking by id gets the same partnership.
    assert_eq!(nodes[2].node.join_by_id(p).await.expect("joined"), p);
    // Member 4 is no participant: it neither joined nor can join by id.
    assert!(nodes[3].node.partnerships().await.expect("list").is_empty());
    let refused = nodes[3].node.join_by_id(p).await;
    assert!(matches!(refused, Err(NodeError::UnknownPartnership(id)) if id == p), "{refused:?}");
    assert!(nodes[3].node.partnerships().await.expect("list").is_empty(), "nothing changed");

    let receipt = nodes[1]
        .node
        .call(p, "guestbook", sign_msg("joined by announcement"), WaitFor::Accepted, WAIT)
        .await
        .expect("accepted");
    let refs: Vec<&TestNode> = nodes[..3].iter().collect();
    wait_converged(&refs, p, &[receipt.op]).await;
    for node in nodes {
        node.stop().await;
    }
}
