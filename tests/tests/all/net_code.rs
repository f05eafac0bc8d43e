//! Module code over the real network (in-process nodes on loopback libp2p):
//! what one partner publishes reaches the other partners' nodes by the sync
//! that brings the ops, and a partner's costly module compiles on the
//! receiving node's background compiler, never on its loop.
//!
//! - Node 1 publishes a module no node has; node 2, never given it, records
//!   the publication and holds the code in its store.
//! - Node 1 publishes a module that costs node 2 seconds to compile; while
//!   node 2 is still compiling it, a call in another partnership on node 2
//!   is applied. The check is by condition (the compile still running when
//!   the call returned), not by a timed assertion.
//! - The same when the costly module comes with a partner's new
//!   partnership (announced, and joined by node 2 with the code it
//!   fetches): node 2 compiles it off its loop before joining.

use std::time::Duration;

use polypact::ledger::OpOutcome;
use polypact::node::{WaitFor, now_ms};
use polypact::op::PartnershipId;
use polypact::testing::costly_module;
use polypact_tests::*;

const CALL_WAIT: Duration = Duration::from_secs(30);

/// A partnership of members 1 and 2 (guestbook only), joined on both nodes.
async fn partnership(nodes: &[TestNode], code: polypact::op::CodeHash, name: &str) -> PartnershipId {
    let mut charter = guestbook_charter(&[1, 2], code);
    charter.name = name.into();
    let genesis = genesis(charter, 1, now_ms());
    let mut id = None;
    for node in nodes {
        id = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    id.expect("a partnership")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_code_reaches_the_partners_node_by_sync_alone() {
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    let p = partnership(&nodes, code, "a new module is published").await;
    // A module no node has: node 1 publishes it, node 2 is never given it.
    let release = costly_module(1, 4, 4);
    let receipt = nodes[0].node.publish_code(p, release, WaitFor::Final, CALL_WAIT).await.expect("published");
    assert!(matches!(receipt.outcome, Some(OpOutcome::Applied { .. })), "{receipt:?}");
    assert_eq!(receipt.ops.len(), 1);
    wait_for("node 2 to record the publication and hold the code", || async {
        let info = nodes[1].info(p).await;
        let recorded = info.published_code.iter().any(|(c, _)| *c == receipt.code);
        let held = nodes[1].node.module_references(receipt.code).await.map_err(|e| e.to_string())?.is_some();
        if recorded && held { Ok(()) } else { Err(format!("recorded {recorded}, held {held}")) }
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partners_costly_module_compiles_off_the_loop_and_other_partnerships_go_on() {
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    let busy = partnership(&nodes, code, "where the costly module is published").await;
    let other = partnership(&nodes, code, "an unrelated partnership").await;
    // The most a module may cost under the compile-cost rule: 20 functions
    // at the per-function limit. Node 1 compiles it once, on publishing.
    let costly = costly_module(20, 315, 3_160);
    let published =
        nodes[0].node.publish_code(busy, costly, WaitFor::Accepted, CALL_WAIT).await.expect("published");
    // Node 2 gets the chunks by gossip and, on the last one, queues the compile.
    compiling_starts(&nodes[1]).await;
    let receipt = nodes[1]
        .node
        .call(other, "guestbook", sign_msg("business as usual"), WaitFor::Applied, CALL_WAIT)
        .await
        .expect("the call is applied");
    assert!(matches!(receipt.outcome, Some(OpOutcome::Applied { .. })), "{receipt:?}");
    let still = nodes[1].node.info().await.expect("info").modules_compiling;
    assert!(
        still > 0,
        "the call in the other partnership was applied only once the compile had ended: it waited for the compile"
    );
    // The publication is recorded on both nodes all the same.
    wait_for("node 2 to record the publication", || async {
        let info = nodes[1].info(busy).await;
        if info.published_code.iter().any(|(c, _)| *c == published.code) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}

/// What node 2 is compiling, once it is compiling something.
async fn compiling_starts(node: &TestNode) {
    wait_for("node 2 to start compiling the partner's module", || async {
        let info = node.node.info().await.map_err(|e| e.to_string())?;
        if info.modules_compiling > 0 { Ok(()) } else { Err("nothing compiling yet".into()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_costly_module_in_a_partners_new_partnership_compiles_off_the_loop() {
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    let other = partnership(&nodes, code, "an unrelated partnership").await;
    let costly = costly_module(20, 315, 3_160);
    let heavy = nodes[0].node.add_code(costly).await.expect("node 1 has the module");
    let mut charter = guestbook_charter(&[1, 2], code);
    charter.name = "a project with a costly module".into();
    charter.modules.push(polypact::op::ModuleSpec {
        name: "heavy".into(),
        code: heavy,
        config: "{}".into(),
        permissions: vec![],
    });
    let project = nodes[0].node.create_partnership(charter).await.expect("created");
    compiling_starts(&nodes[1]).await;
    let receipt = nodes[1]
        .node
        .call(other, "guestbook", sign_msg("business as usual"), WaitFor::Applied, CALL_WAIT)
        .await
        .expect("the call is applied");
    assert!(matches!(receipt.outcome, Some(OpOutcome::Applied { .. })), "{receipt:?}");
    assert!(
        nodes[1].node.info().await.expect("info").modules_compiling > 0,
        "the call was applied only once the compile had ended: it waited for the compile"
    );
    wait_for("node 2 to join the project", || async {
        nodes[1].node.partnership(project).await.map(|_| ()).map_err(|e| e.to_string())
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}
