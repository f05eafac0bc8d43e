//! Messages between partnerships over real libp2p (issue 25): a program of
//! three partners sends into a project of two of them; every node in both
//! relays, the project runs each message exactly once, in order, as a call
//! from the program (`pp1…`), also across a relay's crash and restart. The
//! third partner, not in the project, never holds it.

use std::time::Duration;

use polypact::ledger::OpOutcome;
use polypact::node::{WaitFor, now_ms};
use polypact::op::{Charter, CodeHash, ModuleSpec, PartnershipId, SystemPermission};
use polypact_tests::*;
use serde_json::{Value, json};

fn charter(seeds: &[u8], code: CodeHash, name: &str, config: Value, send: bool) -> Charter {
    let mut charter = guestbook_charter(seeds, code);
    charter.name = name.into();
    charter.modules = vec![ModuleSpec {
        name: "guestbook".into(),
        code,
        config: config.to_string(),
        permissions: if send { vec![SystemPermission::MessagePartnerships] } else { vec![] },
    }];
    charter
}

async fn entries(node: &TestNode, p: PartnershipId, final_state: bool) -> Result<Vec<Value>, String> {
    let answer = node
        .node
        .query(p, "guestbook", json!({"entries": {"limit": 100}}).to_string().into_bytes(), final_state)
        .await
        .map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    Ok(answer["entries"].as_array().cloned().unwrap_or_default())
}

/// Waits until both project nodes hold exactly `texts`, final, each by the program.
async fn wait_for_book(nodes: &[&TestNode], project: PartnershipId, program: PartnershipId, texts: &[&str]) {
    let author = json!(program.to_member_text());
    let want: Vec<Value> = texts.iter().map(|t| json!(t)).collect();
    wait_for("the project's book to hold the program's messages, final, on both nodes", || async {
        for node in nodes {
            let book = entries(node, project, true).await?;
            let got: Vec<Value> = book.iter().map(|e| e["message"].clone()).collect();
            if got != want || book.iter().any(|e| e["author"] != author) {
                return Err(format!("member {}: {book:?}", node.seed));
            }
        }
        Ok(())
    })
    .await;
    // Nothing more arrives later (a second relay's delivery is refused).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for node in nodes {
        let book = entries(node, project, false).await.expect("entries");
        assert_eq!(book.len(), texts.len(), "member {} holds a duplicate: {book:?}", node.seed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_messages_its_project_exactly_once_across_a_relay_restart() {
    let dirs = temp_dirs(3);
    let (mut nodes, code) = start_nodes(3, &dirs).await;
    let program_charter = charter(&[1, 2, 3], code, "program", json!({}), true);
    let program_genesis = genesis(program_charter, 1, now_ms());
    let program = program_genesis.partnership();
    let project_charter =
        charter(&[1, 2], code, "project", json!({"partnerships": [program.to_member_text()]}), false);
    let project_genesis = genesis(project_charter, 1, now_ms());
    let project = project_genesis.partnership();
    for node in &nodes {
        node.node.join(program_genesis.clone()).await.expect("joins the program");
    }
    for node in &nodes[..2] {
        node.node.join(project_genesis.clone()).await.expect("joins the project");
    }
    let send = |text: &str| {
        json!({"sign_elsewhere": {"partnership": project.to_member_text(), "message": text}})
            .to_string()
            .into_bytes()
    };
    // The outsider (member 3) asks; members 1 and 2 relay.
    let receipt = nodes[2]
        .node
        .call(program, "guestbook", send("welcome"), WaitFor::Final, WAIT)
        .await
        .expect("final in the program");
    assert!(matches!(receipt.outcome, Some(OpOutcome::Applied { .. })), "{:?}", receipt.outcome);
    wait_for_book(&[&nodes[0], &nodes[1]], project, program, &["welcome"]).await;
    assert!(nodes[2].node.partnership(project).await.is_err(), "the outsider never holds the project");

    // A relay crashes; the next messages still arrive once each.
    let killed = nodes.remove(0);
    let (dir, seed, keypair) = (killed.dir.clone(), killed.seed, killed.keypair.clone());
    killed.kill().await;
    for text in ["second", "third"] {
        let receipt = nodes[1]
            .node
            .call(program, "guestbook", send(text), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted");
        assert!(!matches!(receipt.outcome, Some(OpOutcome::Failed { .. })), "{:?}", receipt.outcome);
    }
    let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
    let restarted = TestNode::start(&dir, seed, keypair, bootstrap).await;
    nodes.insert(0, restarted);
    wait_for_book(&[&nodes[0], &nodes[1]], project, program, &["welcome", "second", "third"]).await;
    for node in nodes {
        node.stop().await;
    }
}
