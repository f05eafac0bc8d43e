//! Messages between partnerships over real libp2p (issue 25): a program of
//! three partners sends into a project of two of them; every node in both
//! relays, the project runs each message exactly once, in order, as a call
//! from the program (`pp1…`), also across a relay's crash and restart. The
//! third partner, not in the project, never holds it; a partition between
//! the relays heals and the message arrives once.

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

    // A partition cuts the sender's node off from the others: the message
    // cannot become final while it lasts; once it heals, it arrives once.
    let cut = [(0, 1), (1, 0), (0, 2), (2, 0)];
    for (a, b) in cut {
        nodes[a].net.block(nodes[b].peer()).await.expect("blocks");
    }
    let receipt = nodes[0]
        .node
        .call(program, "guestbook", send("across the partition"), WaitFor::Accepted, WAIT)
        .await
        .expect("accepted");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, is_final) = nodes[0].node.op_status(program, receipt.op).await.expect("status");
    assert!(!is_final, "nothing is final while a partner's node is cut off");
    for (a, b) in cut {
        nodes[a].net.unblock(nodes[b].peer()).await.expect("unblocks");
        let _ = nodes[a].net.dial(nodes[b].addr.clone()).await;
    }
    wait_for_book(
        &[&nodes[0], &nodes[1]],
        project,
        program,
        &["welcome", "second", "third", "across the partition"],
    )
    .await;
    for node in nodes {
        node.stop().await;
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Time from a message's op being final in the sender to its effect being
/// final in the receiver, on every node, beside the sender op's own
/// submit → final time in the same run (two partners, both in both
/// partnerships, on loopback). Run:
/// `cargo test --release -p polypact-tests --test all net_crossing::bench -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures"]
async fn bench_final_in_one_to_final_in_the_other() {
    let rounds: usize =
        std::env::var("POLYPACT_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let dirs = temp_dirs(2);
    let (nodes, code) = start_nodes(2, &dirs).await;
    let program_genesis = genesis(charter(&[1, 2], code, "program", json!({}), true), 1, now_ms());
    let program = program_genesis.partnership();
    let project_genesis = genesis(
        charter(&[1, 2], code, "project", json!({"partnerships": [program.to_member_text()]}), false),
        1,
        now_ms(),
    );
    let project = project_genesis.partnership();
    for node in &nodes {
        node.node.join(program_genesis.clone()).await.expect("joins");
        node.node.join(project_genesis.clone()).await.expect("joins");
    }
    let mut to_final = Vec::new();
    let mut across = Vec::new();
    for round in 0..rounds {
        let msg = json!({"sign_elsewhere": {"partnership": project.to_member_text(), "message": format!("m{round}")}});
        let start = std::time::Instant::now();
        nodes[0]
            .node
            .call(program, "guestbook", msg.to_string().into_bytes(), WaitFor::Final, WAIT)
            .await
            .expect("final");
        let sender_final = start.elapsed();
        loop {
            let mut done = true;
            for node in &nodes {
                done &= entries(node, project, true).await.map(|b| b.len() > round).unwrap_or(false);
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        across.push(start.elapsed() - sender_final);
        to_final.push(sender_final);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    to_final.sort();
    across.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "final in the sender → final in the receiver on every node ({rounds} rounds): p50 {:.1} ms, p99 {:.1} ms; \
         reference, submit → final in the sender: p50 {:.1} ms, p99 {:.1} ms; ratio p50 {:.2}",
        ms(percentile(&across, 50)),
        ms(percentile(&across, 99)),
        ms(percentile(&to_final, 50)),
        ms(percentile(&to_final, 99)),
        ms(percentile(&across, 50)) / ms(percentile(&to_final, 50)),
    );
    for node in nodes {
        node.stop().await;
    }
}
