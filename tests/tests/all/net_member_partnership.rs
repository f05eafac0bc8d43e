//! A partnership that is a member of another (issue 25), over real libp2p
//! with the real membership, voting and treasury `.wasm`: a joint venture
//! of two partners is a member (`pp1…`) of a consortium of three; it votes
//! there by its own decision (a proposal of its own, relayed with proof),
//! and its share of a consortium distribution lands in its treasury,
//! exactly once. It authors no ops in the consortium, so the consortium's
//! finality never waits for it.

use std::time::Duration;

use polypact::node::now_ms;
use polypact::op::{Charter, MemberKey, ModuleSpec, Params, SystemPermission};
use polypact_tests::governance::{
    Codes, add_governance_code, call, execute_when_due, fast_voting_config, member, query, wait_for_proposal,
};
use polypact_tests::*;
use serde_json::{Value, json};

fn treasury_config() -> Value {
    json!({"membership": "membership", "governance": "voting", "assets": ["EUR"], "confirmation": "other_member",
           "split": {"pro_rata": {}}})
}

/// A charter of `seeds` with membership (`members`), voting and treasury;
/// voting and the treasury may message other partnerships.
fn charter(name: &str, seeds: &[u8], members: Value, codes: &Codes) -> Charter {
    let mut participants: Vec<_> = seeds.iter().map(|s| MemberKey::from_seed(*s).member_id()).collect();
    participants.sort();
    let send = vec![SystemPermission::MessagePartnerships];
    Charter {
        name: name.into(),
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
                permissions: send.clone(),
            },
            ModuleSpec {
                name: "treasury".into(),
                code: codes.treasury,
                config: treasury_config().to_string(),
                permissions: send,
            },
        ],
        params: Params::default(),
        parent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joint_venture_votes_in_its_consortium_and_is_paid_into_its_treasury() {
    let dirs = temp_dirs(3);
    let (nodes, _) = start_nodes(3, &dirs).await;
    let codes = add_governance_code(&nodes).await;
    let unit = |m: String, v: u64, e: u64| json!({"member": m, "voting_units": v, "economic_units": e});
    let jv_charter =
        charter("joint venture", &[1, 2], json!([unit(member(1), 1, 1), unit(member(2), 1, 1)]), &codes);
    let jv_genesis = genesis(jv_charter, 1, now_ms());
    let jv = jv_genesis.partnership();
    let consortium_members = json!([
        unit(member(1), 10, 10),
        unit(member(2), 10, 10),
        unit(member(3), 10, 10),
        unit(jv.to_member_text(), 10, 30)
    ]);
    let consortium_genesis =
        genesis(charter("consortium", &[1, 2, 3], consortium_members, &codes), 1, now_ms());
    let consortium = consortium_genesis.partnership();
    for node in &nodes {
        node.node.join(consortium_genesis.clone()).await.expect("joins the consortium");
    }
    for node in &nodes[..2] {
        node.node.join(jv_genesis.clone()).await.expect("joins the joint venture");
    }

    // The consortium asks a question; the joint venture decides its answer.
    let asked = call(
        &nodes[2],
        consortium,
        "voting",
        json!({"propose": {"title": "Adopt the 2027 budget", "period_ms": 600_000}}),
    )
    .await
    .expect("data");
    let question = asked["id"].as_u64().expect("proposal id");
    let vote_there = json!({"partnership": {"to": consortium.to_member_text(), "module": "voting",
        "msg": {"vote": {"proposal": question, "choice": "yes"}}}});
    let decided = call(
        &nodes[0],
        jv,
        "voting",
        json!({"propose": {"title": "Vote yes on the budget",
        "messages": [vote_there], "period_ms": 500}}),
    )
    .await
    .expect("data");
    let decision = decided["id"].as_u64().expect("proposal id");
    for node in &nodes[..2] {
        wait_for_proposal(node, jv, decision).await;
        call(node, jv, "voting", json!({"vote": {"proposal": decision, "choice": "yes"}})).await;
    }
    execute_when_due(&nodes[0], jv, decision).await;
    let jv_member = jv.to_member_text();
    for node in &nodes {
        wait_for("the joint venture's vote to be final in the consortium on every node", || async {
            let ballot = query(
                node,
                consortium,
                "voting",
                json!({"vote": {"proposal": question, "voter": jv_member}}),
                true,
            )
            .await?;
            if ballot["ballot"].is_null() { Err(format!("member {}: {ballot}", node.seed)) } else { Ok(()) }
        })
        .await;
    }

    // Revenue in the consortium, distributed: the joint venture's 30 of 60
    // economic units go to its treasury.
    call(
        &nodes[2],
        consortium,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": "INV-1"}}),
    )
    .await;
    let entries =
        query(&nodes[2], consortium, "treasury", json!({"entries": {}}), false).await.expect("entries");
    let revenue = entries[0]["id"].as_u64().expect("entry id");
    wait_for("the revenue to reach member 1", || async {
        query(&nodes[0], consortium, "treasury", json!({"entry": {"id": revenue}}), false).await.map(|_| ())
    })
    .await;
    call(&nodes[0], consortium, "treasury", json!({"confirm_entry": {"id": revenue}})).await;
    wait_for("the confirmed revenue to reach member 2", || async {
        let balances = query(&nodes[1], consortium, "treasury", json!({"balances": {}}), false).await?;
        if balances["pool"]["EUR"] == json!(1000) { Ok(()) } else { Err(balances.to_string()) }
    })
    .await;
    call(&nodes[1], consortium, "treasury", json!({"distribute": {"asset": "EUR"}})).await;
    let consortium_member = consortium.to_member_text();
    for node in &nodes[..2] {
        wait_for("the payment to land in the joint venture's treasury, final", || async {
            let book = query(node, jv, "treasury", json!({"entries": {}}), true).await?;
            let got = book.as_array().cloned().unwrap_or_default();
            let from: Vec<&Value> =
                got.iter().filter(|e| e["counterparty"] == json!(consortium_member)).collect();
            match from.as_slice() {
                [one] if one["amount"] == json!(500) && one["status"] == json!("pending") => Ok(()),
                _ => Err(format!("member {}: {book}", node.seed)),
            }
        })
        .await;
    }
    let statement = query(
        &nodes[2],
        consortium,
        "treasury",
        json!({"statement": {"member": jv.to_member_text()}}),
        false,
    )
    .await
    .expect("statement");
    assert_eq!(statement["EUR"]["paid"], json!(500), "{statement}");
    assert_eq!(statement["EUR"]["owed"], json!(0), "{statement}");
    // A member of the joint venture confirms the money arrived: it counts.
    let book = query(&nodes[0], jv, "treasury", json!({"entries": {}}), true).await.expect("entries");
    let payment = book[0]["id"].as_u64().expect("entry id");
    call(&nodes[1], jv, "treasury", json!({"confirm_entry": {"id": payment}})).await;
    let balances = query(&nodes[1], jv, "treasury", json!({"balances": {}}), false).await.expect("balances");
    assert_eq!(balances["pool"]["EUR"], json!(500), "{balances}");
    // Exactly once, whatever the relays did.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let book = query(&nodes[1], jv, "treasury", json!({"entries": {}}), false).await.expect("entries");
    assert_eq!(book.as_array().map(Vec::len), Some(1), "{book}");
    for node in nodes {
        node.stop().await;
    }
}
