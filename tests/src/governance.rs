//! Helpers for tests of partnerships governed by the standard modules
//! (membership, voting, treasury) on in-process nodes: their code on every
//! node, a voting config with periods short enough for a test, and calls
//! and queries that say what went wrong.

use polypact::ledger::OpOutcome;
use polypact::node::WaitFor;
use polypact::op::{CodeHash, MemberKey, PartnershipId};
use polypact::testing::module_wasm;
use serde_json::{Value, json};

use crate::{TestNode, WAIT, wait_for};

/// The member id (`pm1…`) of the key with `seed`.
pub fn member(seed: u8) -> String {
    MemberKey::from_seed(seed).member_id().to_string()
}

/// The standard modules' code hashes, as every node holds them.
pub struct Codes {
    /// membership.
    pub membership: CodeHash,
    /// voting.
    pub voting: CodeHash,
    /// treasury.
    pub treasury: CodeHash,
}

/// Uploads the membership, voting and treasury modules to every node.
///
/// # Panics
/// If the modules are not built or a node refuses them.
pub async fn add_governance_code(nodes: &[TestNode]) -> Codes {
    let wasm = |name: &str| module_wasm(name).unwrap_or_else(|e| panic!("{e}"));
    let (membership, voting, treasury) = (wasm("membership"), wasm("voting"), wasm("treasury"));
    let mut codes = None;
    for node in nodes {
        codes = Some(Codes {
            membership: node.node.add_code(membership.clone()).await.expect("code"),
            voting: node.node.add_code(voting.clone()).await.expect("code"),
            treasury: node.node.add_code(treasury.clone()).await.expect("code"),
        });
    }
    codes.expect("at least one node")
}

/// A voting config for tests: majority with half the units taking part,
/// votes of 500 ms or more, no grace period.
pub fn fast_voting_config() -> Value {
    json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 500, "max_period_ms": 600_000,
        "grace_period_ms": 0, "late_quorum_extension_ms": 0,
        "allow_vote_change": true, "proposers": "members", "veto": null, "expiry_ms": 600_000
    })
}

/// `node` calls `module` of `p` with `msg` and waits until it is applied;
/// its response data.
///
/// # Panics
/// If the call is refused or fails.
pub async fn call(node: &TestNode, p: PartnershipId, module: &str, msg: Value) -> Option<Value> {
    let receipt = node
        .node
        .call(p, module, msg.to_string().into_bytes(), WaitFor::Applied, WAIT)
        .await
        .expect("applied");
    match receipt.outcome {
        Some(OpOutcome::Applied { data, .. }) => data.map(|d| serde_json::from_slice(&d).expect("JSON data")),
        other => panic!("{module} {msg} did not apply: {other:?}"),
    }
}

/// Queries `module` of `p` on `node` (final or optimistic state).
pub async fn query(
    node: &TestNode,
    p: PartnershipId,
    module: &str,
    msg: Value,
    final_state: bool,
) -> Result<Value, String> {
    let answer = node
        .node
        .query(p, module, msg.to_string().into_bytes(), final_state)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&answer).map_err(|e| e.to_string())
}

/// Waits until `node` has applied proposal `id` of `p`.
pub async fn wait_for_proposal(node: &TestNode, p: PartnershipId, id: u64) {
    wait_for("the proposal to reach the node", || async {
        query(node, p, "voting", json!({"proposal": {"id": id}}), false).await.map(|_| ())
    })
    .await;
}

/// Executes proposal `id` of `p` on `node` once its period (and any grace)
/// is over by the node's clock, asking again every 200 ms until it applies.
///
/// # Panics
/// If it does not apply within the wait.
pub async fn execute_when_due(node: &TestNode, p: PartnershipId, id: u64) {
    wait_for("the proposal to execute", || async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let msg = json!({"execute": {"proposal": id}}).to_string().into_bytes();
        let receipt =
            node.node.call(p, "voting", msg, WaitFor::Applied, WAIT).await.map_err(|e| e.to_string())?;
        match receipt.outcome {
            Some(OpOutcome::Applied { .. }) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
