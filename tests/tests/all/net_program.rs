//! A program spawns a project (issue 25), over real libp2p with the real
//! membership, voting and treasury `.wasm`: four partners vote in their
//! program to spawn a project of two of them plus an outsider; the founder's
//! node signs the project's genesis with the program's certificate, the
//! others verify it before they hold the project, and the outsider holds
//! the project and never the program. Revenue distributed in the project
//! pays the program fee into the program's treasury exactly once, though
//! both nodes in both partnerships relay it, and across a relay's restart.

use std::collections::BTreeMap;
use std::time::Duration;

use polypact::node::now_ms;
use polypact::op::{Charter, MemberKey, ModuleSpec, Params, PartnershipId, SystemPermission};
use polypact_tests::governance::{
    Codes, add_governance_code, call, execute_when_due, fast_voting_config, member, query, wait_for_proposal,
};
use polypact_tests::*;
use serde_json::{Value, json};

fn modules(
    codes: &Codes,
    members: Value,
    treasury: Value,
    voting_grants: Vec<SystemPermission>,
) -> Vec<ModuleSpec> {
    vec![
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
            permissions: voting_grants,
        },
        ModuleSpec {
            name: "treasury".into(),
            code: codes.treasury,
            config: treasury.to_string(),
            permissions: vec![SystemPermission::MessagePartnerships],
        },
    ]
}

fn unit(m: String) -> Value {
    json!({"member": m, "voting_units": 1, "economic_units": 1})
}

/// The project template the program spawns: `${lead}`, `${partner}`,
/// `${guest}` and `${program}` are filled by the spawn's values.
fn project_template(codes: &Codes) -> Value {
    let members = json!([unit("${lead}".into()), unit("${partner}".into()), unit("${guest}".into())]);
    let treasury = json!({"membership": "membership", "governance": "voting", "assets": ["EUR"],
        "confirmation": "other_member", "split": {"pro_rata": {}},
        "program_fee": {"partnership": "${program}", "bps": 1000}});
    let charter = Charter {
        name: "project: ${guest} joins".into(),
        participants: vec![],
        modules: modules(codes, members, treasury, vec![]),
        params: Params::default(),
        parent: None,
    };
    serde_json::to_value(charter).expect("charter JSON")
}

/// Waits until every node of `nodes` holds exactly `count` fee payments from
/// `project` in the program's treasury, final.
async fn wait_for_fees(nodes: &[&TestNode], program: PartnershipId, project: PartnershipId, count: usize) {
    let from = json!(project.to_member_text());
    for node in nodes {
        wait_for("the program fee in the program's treasury, final", || async {
            let book = query(node, program, "treasury", json!({"entries": {}}), true).await?;
            let fees: Vec<&Value> = book
                .as_array()
                .map(|b| b.iter().filter(|e| e["counterparty"] == from).collect())
                .unwrap_or_default();
            if fees.len() == count && fees.iter().all(|e| e["amount"] == json!(100)) {
                Ok(())
            } else {
                Err(format!("member {}: {book}", node.seed))
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_spawns_a_project_with_an_outsider_and_collects_its_fee_exactly_once() {
    let dirs = temp_dirs(5);
    let (mut nodes, _) = start_nodes(5, &dirs).await;
    let codes = add_governance_code(&nodes).await;
    let mut participants: Vec<_> = (1..=4).map(|s| MemberKey::from_seed(s).member_id()).collect();
    participants.sort();
    let program_treasury = json!({"membership": "membership", "governance": "voting", "assets": ["EUR"],
        "confirmation": "other_member", "split": {"pro_rata": {}}});
    let grants = vec![SystemPermission::SpawnPartnership, SystemPermission::MessagePartnerships];
    let program_charter = Charter {
        name: "ecosystem program".into(),
        participants,
        modules: modules(
            &codes,
            json!((1..=4).map(|s| unit(member(s))).collect::<Vec<_>>()),
            program_treasury,
            grants,
        ),
        params: Params::default(),
        parent: None,
    };
    let program_genesis = genesis(program_charter, 1, now_ms());
    let program = program_genesis.partnership();
    for node in &nodes[..4] {
        node.node.join(program_genesis.clone()).await.expect("joins the program");
    }

    // The program votes to spawn a project of members 1 and 2 with member 5.
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("lead", member(1)),
        ("partner", member(2)),
        ("guest", member(5)),
        ("program", program.to_member_text()),
    ]);
    let spawn = json!({"system": {"spawn_partnership": {"charter": project_template(&codes), "values": values,
        "participants": [member(1), member(2), member(5)]}}});
    let proposed = call(
        &nodes[0],
        program,
        "voting",
        json!({"propose": {"title": "Project with member 5",
        "messages": [spawn], "period_ms": 500}}),
    )
    .await
    .expect("data");
    let proposal = proposed["id"].as_u64().expect("id");
    for node in &nodes[..3] {
        wait_for_proposal(node, program, proposal).await;
        call(node, program, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}})).await;
    }
    execute_when_due(&nodes[3], program, proposal).await;

    // The founder's node signs the genesis; the other program member joins
    // on its own, having checked the provenance; the outsider is invited.
    let project = wait_for("the project to be founded and joined by member 2", || async {
        for summary in nodes[1].node.partnerships().await.map_err(|e| e.to_string())? {
            let info = nodes[1].info(summary.id).await;
            if info.charter.parent.as_ref().is_some_and(|l| l.partnership == program) {
                return Ok(summary.id);
            }
        }
        Err("not yet".to_owned())
    })
    .await;
    wait_for("the outsider to be invited to the project", || async {
        let invitations = nodes[4].node.invitations().await.map_err(|e| e.to_string())?;
        if invitations.iter().any(|i| i.partnership == project) {
            Ok(())
        } else {
            Err(format!("{invitations:?}"))
        }
    })
    .await;
    nodes[4].node.accept_invitation(project).await.expect("the outsider accepts");
    for node in [&nodes[0], &nodes[1], &nodes[4]] {
        let info = node.info(project).await;
        let link = info.charter.parent.expect("a parent");
        assert_eq!((link.partnership, link.seq), (program, 1));
    }
    assert!(nodes[4].node.partnership(program).await.is_err(), "the outsider never holds the program");
    // The lead partner's one view shows the program with its project.
    let options = polypact::portfolio::Options { now_ms: now_ms(), final_state: false };
    let view = polypact::portfolio::gather(&nodes[0].node, &options).await.expect("portfolio");
    let row = |id: PartnershipId| view.partnerships.iter().find(|h| h.id == id.to_hex()).expect("held");
    assert_eq!(row(project).parent, Some(program.to_hex()));
    assert_eq!(row(program).children, vec![project.to_hex()]);
    assert!(nodes[2].node.partnership(project).await.is_err(), "member 3 is not in the project");

    // Revenue in the project: the program's 10% goes to the program, once.
    let revenue =
        |n: u32| json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": format!("INV-{n}")}});
    for n in 1..=2u32 {
        if n == 2 {
            // A relay restarts between the two distributions.
            let killed = nodes.remove(1);
            let (dir, seed, keypair) = (killed.dir.clone(), killed.seed, killed.keypair.clone());
            killed.kill().await;
            let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
            nodes.insert(1, TestNode::start(&dir, seed, keypair, bootstrap).await);
        }
        let recorded = call(&nodes[4], project, "treasury", revenue(n)).await.expect("data");
        let id = recorded["id"].as_u64().expect("entry id");
        wait_for("the revenue to reach member 1", || async {
            query(&nodes[0], project, "treasury", json!({"entry": {"id": id}}), false).await.map(|_| ())
        })
        .await;
        call(&nodes[0], project, "treasury", json!({"confirm_entry": {"id": id}})).await;
        let distributed = call(&nodes[0], project, "treasury", json!({"distribute": {"asset": "EUR"}}))
            .await
            .expect("data");
        assert_eq!(distributed["distributed"]["EUR"]["amount"], json!(900), "{distributed}");
        wait_for_fees(&[&nodes[0], &nodes[1], &nodes[2], &nodes[3]], program, project, n as usize).await;
    }
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_for_fees(&[&nodes[2]], program, project, 2).await;
    for node in nodes {
        node.stop().await;
    }
}
