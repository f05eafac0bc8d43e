//! The attack of issue 23 on a real testnet of three node processes driven
//! through the CLI: two partners (80% of the votes) label an admission
//! `default` to pass it under the majority rule, though the charter
//! reserves admissions for unanimity. The rule comes from what the proposal
//! carries, so the bank's "no" rejects it on every node; the same proposal
//! with every vote passes.

use serde_json::json;

use crate::removal::{Testnet, eventually, sleep_past};
use crate::support::{json, text};

#[test]
fn a_relabelled_admission_is_held_to_the_charters_admission_rule_on_every_node() {
    let net = Testnet::up(&["studio", "telco", "bank"]);
    let id = net.create("studio", "testnet-trio.toml", &["telco", "bank"]);
    let newcomer = polypact::op::MemberKey::from_seed(42).member_id().to_string();
    let admit = |title: &str| {
        json!({"propose": {"title": title, "kind": "default", "period_ms": 2000, "messages": [
            {"call": {"module": "membership", "msg": {"admit": {"member": newcomer, "voting_units": 10, "economic_units": 10}}}}
        ]}})
    };
    let run = |proposal: u64, voters: &[(&str, &str)]| -> Result<serde_json::Value, String> {
        for (voter, choice) in voters {
            // A call is applied on its own node first: each voter's node
            // must have the proposal before it votes on it.
            let proposal_query = json!({"proposal": {"id": proposal}}).to_string();
            eventually(&format!("{voter} sees proposal {proposal}"), || {
                net.succeeds(voter, &["query", &id, "voting", &proposal_query]).then_some(())
            });
            net.call(
                voter,
                &id,
                "voting",
                &json!({"vote": {"proposal": proposal, "choice": choice}}),
                "applied",
            );
        }
        let open = net.query("telco", &id, "voting", &json!({"proposal": {"id": proposal}}), false);
        assert_eq!(open["kind"], json!("admit_member"), "{open}");
        sleep_past(open["executable_from_ms"].as_u64().unwrap());
        let execute = json!({"execute": {"proposal": proposal}}).to_string();
        eventually("the execution is decided", || {
            let out = net.run("telco", &["call", &id, "voting", &execute, "--wait", "final", "--json"]);
            let stderr = text(&out.stderr);
            if out.status.success() {
                return Some(Ok(json(&text(&out.stdout))));
            }
            (!stderr.contains("status: Passed") && !stderr.contains("status: Open")).then_some(Err(stderr))
        })
    };
    let relabelled = net.call("studio", &id, "voting", &admit("Admit a friend"), "applied");
    let proposal = relabelled["outcome"]["data"]["id"].as_u64().unwrap();
    let err = run(proposal, &[("studio", "yes"), ("telco", "yes"), ("bank", "no")]).expect_err("rejected");
    assert!(err.contains("status: Rejected"), "{err}");
    for node in ["studio", "telco", "bank"] {
        let out = net
            .run(node, &["query", &id, "membership", &json!({"member": {"member": newcomer}}).to_string()]);
        assert!(!out.status.success(), "{node}: the newcomer was not admitted");
    }
    let honest = net.call("studio", &id, "voting", &admit("Admit a friend, all agreed"), "applied");
    let proposal = honest["outcome"]["data"]["id"].as_u64().unwrap();
    run(proposal, &[("studio", "yes"), ("telco", "yes"), ("bank", "yes")]).expect("passes with every vote");
    for node in ["studio", "telco", "bank"] {
        eventually(&format!("{node} sees the newcomer"), || {
            net.succeeds(
                node,
                &["query", &id, "membership", &json!({"member": {"member": newcomer}}).to_string()],
            )
            .then_some(())
        });
    }
}
