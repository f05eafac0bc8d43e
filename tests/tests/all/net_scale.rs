//! Many partnerships between the same two nodes (issue 26): every one of
//! them becomes final. Per-partnership sync and anti-entropy between the
//! same two peers used to exceed the connection's stream capacity; the
//! streams the other side dropped were not retried, and half of 200
//! partnerships stayed unfinal for good.

use std::time::Duration;

use polypact::node::{WaitFor, now_ms};
use polypact::op::PartnershipId;
use polypact_tests::*;

/// Partnerships the two nodes share.
const PARTNERSHIPS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sharing_two_hundred_partnerships_finalise_every_one() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    let mut ids: Vec<PartnershipId> = Vec::new();
    for i in 0..PARTNERSHIPS {
        let mut charter = guestbook_charter(&[1, 2], code);
        charter.name = format!("project {i}");
        let genesis = genesis(charter, 1, now_ms());
        let mut id = None;
        for node in &nodes {
            id = Some(node.node.join(genesis.clone()).await.expect("joins"));
        }
        ids.push(id.expect("a partnership"));
    }
    // Each partner signs once in each, not waiting.
    let mut ops = Vec::new();
    for (i, p) in ids.iter().enumerate() {
        for node in &nodes {
            let receipt = node
                .node
                .call(
                    *p,
                    "guestbook",
                    sign_msg(&format!("hello {i}")),
                    WaitFor::Accepted,
                    Duration::from_secs(30),
                )
                .await
                .expect("accepted");
            ops.push((*p, receipt.op));
        }
    }
    wait_for("every call in every partnership to be final on both nodes", || async {
        let mut unfinal = 0;
        for (p, op) in &ops {
            for node in &nodes {
                let (_, is_final) = node.node.op_status(*p, *op).await.map_err(|e| e.to_string())?;
                if !is_final {
                    unfinal += 1;
                }
            }
        }
        if unfinal == 0 {
            return Ok(());
        }
        let mut detail = String::new();
        for (p, op) in ops.iter().take(400) {
            let (_, f0) = nodes[0].node.op_status(*p, *op).await.map_err(|e| e.to_string())?;
            let (_, f1) = nodes[1].node.op_status(*p, *op).await.map_err(|e| e.to_string())?;
            if !(f0 && f1) {
                let (a, b) = (nodes[0].info(*p).await, nodes[1].info(*p).await);
                let ta = nodes[0].net.topic_peers(*p).await.map(|v| v.len()).unwrap_or(99);
                let tb = nodes[1].net.topic_peers(*p).await.map(|v| v.len()).unwrap_or(99);
                detail = format!(
                    "{} ({}): node1 ops {} final {} opt {} topic peers {ta}; node2 ops {} final {} opt {} topic peers {tb}",
                    a.charter.name, f0 as u8 + f1 as u8, a.op_count, a.final_height, a.optimistic_height,
                    b.op_count, b.final_height, b.optimistic_height
                );
                break;
            }
        }
        Err(format!("{unfinal} of {} (op, node) pairs not final; first: {detail}", 2 * ops.len()))
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}
