//! Suspension of absent partners over the real network (in-process nodes on
//! loopback libp2p), with nothing driving it but the nodes' own periodic
//! tick and the charter's `suspend_after_ms`:
//!
//! - a partner's node dies: the other three suspend it and finalise without
//!   it; it comes back from its store, asks to return, a partner's node
//!   readmits it, and all four end on one final root;
//! - partitions made with the network's block list: 2+2 suspends no one
//!   (neither side is a majority) and heals into one root; 3+1 suspends the
//!   one, whose calls while cut off are skipped with the reason, and heals
//!   without changing anything the three had made final;
//! - two partners and a witness (a third participant) suspend the absent
//!   partner; two partners alone wait, and the partnership info says why.
//!
//! Each test fails if the nodes stop voting (`NodeCore::tend_absences`),
//! stop readmitting, or take half of the participants for a majority.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use polypact::ledger::OpOutcome;
use polypact::net::Keypair;
use polypact::node::{NodeEvent, OpEventKind, PartnershipInfo, WaitFor, now_ms};
use polypact::op::{MemberId, OpId, PartnershipId};
use polypact_tests::*;

/// A partner silent this long while ops wait for it is suspended (short, so
/// that the tests take seconds).
const SUSPEND_AFTER_MS: u64 = 1_500;

/// How long a partition is held once both sides have voted: well past
/// `suspend_after_ms`, so any vote that could complete a suspension has had
/// its chance.
const HOLD: Duration = Duration::from_millis(3 * SUSPEND_AFTER_MS);

/// A participant's status name as `info` shows it.
fn status(info: &PartnershipInfo, member: MemberId) -> &'static str {
    info.statuses.iter().find(|v| v.member == member).map_or("missing", |v| v.status.name())
}

/// The participants `info` shows suspended.
fn suspended(info: &PartnershipInfo) -> Vec<MemberId> {
    info.statuses.iter().filter(|v| v.status.name() == "suspended").map(|v| v.member).collect()
}

/// What a node sees, for failure messages: heights, statuses, and whom
/// finality waits for.
fn describe(seed: u8, info: &PartnershipInfo) -> String {
    let statuses: Vec<String> =
        info.statuses.iter().map(|v| format!("{}={}", short(&v.member), v.status.name())).collect();
    let waiting: Vec<String> = info
        .waiting_for
        .iter()
        .map(|w| {
            format!(
                "{} silent {} ms, suspension in {:?} ms, why not {:?}",
                short(&w.member),
                w.silent_for_ms,
                w.suspension_in_ms,
                w.why_not
            )
        })
        .collect();
    format!(
        "node {seed}: final {} / optimistic {}, [{}], waiting for [{}]",
        info.final_height,
        info.optimistic_height,
        statuses.join(" "),
        waiting.join("; ")
    )
}

fn short(member: &MemberId) -> String {
    member.to_string().chars().take(12).collect()
}

/// Every node's view, for failure messages.
async fn views(nodes: &[&TestNode], p: PartnershipId) -> String {
    let mut out = Vec::new();
    for node in nodes {
        out.push(describe(node.seed, &node.info(p).await));
    }
    out.join(" | ")
}

/// `n` nodes (member seeds `1..=n`) in one guestbook partnership whose
/// charter suspends after [`SUSPEND_AFTER_MS`]; the first `callers` nodes
/// have each signed once and that is final everywhere (so every node has
/// heard from every other). Returns the nodes, the partnership and the calls.
async fn cluster(
    n: u8,
    callers: usize,
    dirs: &[tempfile::TempDir],
) -> (Vec<TestNode>, PartnershipId, Vec<OpId>) {
    let (nodes, code) = start_nodes(n, dirs).await;
    let seeds: Vec<u8> = (1..=n).collect();
    let mut charter = guestbook_charter(&seeds, code);
    charter.params.suspend_after_ms = SUSPEND_AFTER_MS;
    let genesis = genesis(charter, 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let mut calls = Vec::new();
    for node in &nodes[..callers] {
        calls.push(call(node, p, &format!("{} says hello", node.seed)).await);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    wait_converged(&refs, p, &calls).await;
    (nodes, p, calls)
}

/// A guestbook entry signed on `node`, accepted (durable) there.
async fn call(node: &TestNode, p: PartnershipId, text: &str) -> OpId {
    node.node.call(p, "guestbook", sign_msg(text), WaitFor::Accepted, WAIT).await.expect("accepted").op
}

/// Waits until every op of `ops` is final on every node of `nodes`.
async fn wait_final(nodes: &[&TestNode], p: PartnershipId, ops: &[OpId], what: &str) {
    wait_for(what, || async {
        for node in nodes {
            for op in ops {
                let (_, is_final) = node.node.op_status(p, *op).await.map_err(|e| e.to_string())?;
                if !is_final {
                    return Err(format!("{op:?} not final on node {}; {}", node.seed, views(nodes, p).await));
                }
            }
        }
        Ok(())
    })
    .await;
}

/// Waits until every node of `nodes` shows `member` with status `name`.
async fn wait_status(nodes: &[&TestNode], p: PartnershipId, member: MemberId, name: &str, what: &str) {
    wait_for(what, || async {
        for node in nodes {
            if status(&node.info(p).await, member) != name {
                return Err(views(nodes, p).await);
            }
        }
        Ok(())
    })
    .await;
}

/// Cuts every connection between `a` and `b` both ways with the block
/// lists, and waits until no node of one side is connected to the other.
async fn partition(a: &[&TestNode], b: &[&TestNode]) {
    for x in a {
        for y in b {
            x.net.block(y.peer()).await.expect("block");
            y.net.block(x.peer()).await.expect("block");
        }
    }
    wait_for("the partition to close every connection across it", || async {
        for (side, other) in [(a, b), (b, a)] {
            for x in side {
                let peers = x.net.connected_peers().await.map_err(|e| e.to_string())?;
                if let Some(y) = other.iter().find(|y| peers.contains(&y.peer())) {
                    return Err(format!("node {} still connected to node {}", x.seed, y.seed));
                }
            }
        }
        Ok(())
    })
    .await;
}

/// Lifts the blocks [`partition`] set.
async fn heal(a: &[&TestNode], b: &[&TestNode]) {
    for x in a {
        for y in b {
            x.net.unblock(y.peer()).await.expect("unblock");
            y.net.unblock(x.peer()).await.expect("unblock");
        }
    }
}

/// What is needed to bring a stopped node back: its store, member and peer id.
struct Stopped {
    dir: std::path::PathBuf,
    seed: u8,
    keypair: Keypair,
    member: MemberId,
}

/// Kills `node` as a crash would (the task aborted, no shutdown).
async fn crash(node: TestNode) -> Stopped {
    let stopped = Stopped {
        dir: node.dir.clone(),
        seed: node.seed,
        keypair: node.keypair.clone(),
        member: node.member,
    };
    node.kill().await;
    stopped
}

/// Starts `stopped` again from its store, with its peer id, dialing `peers`.
async fn restart(stopped: &Stopped, peers: &[&TestNode]) -> TestNode {
    let bootstrap = peers.iter().map(|n| n.addr.clone()).collect();
    TestNode::start(&stopped.dir, stopped.seed, stopped.keypair.clone(), bootstrap).await
}

/// Every event one node publishes, collected in the background.
struct Recorder {
    events: Arc<Mutex<Vec<NodeEvent>>>,
    lagged: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    fn start(node: &TestNode) -> Recorder {
        let mut rx = node.node.subscribe();
        let events = Arc::new(Mutex::new(Vec::new()));
        let lagged = Arc::new(Mutex::new(false));
        let (sink, lag) = (Arc::clone(&events), Arc::clone(&lagged));
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => sink.lock().expect("lock").push(event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        *lag.lock().expect("lock") = true
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Recorder { events, lagged, task }
    }

    /// The events so far (panics if any were missed).
    fn events(&self) -> Vec<NodeEvent> {
        assert!(!*self.lagged.lock().expect("lock"), "the recorder missed events");
        self.events.lock().expect("lock").clone()
    }

    /// Authors of the suspension votes this node applied.
    fn voters(&self) -> Vec<MemberId> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == OpEventKind::Applied)
            .filter(|e| match &e.outcome {
                Some(OpOutcome::Applied { events, .. }) => {
                    events.iter().any(|m| m.event.kind == "suspension_vote")
                }
                _ => false,
            })
            .filter_map(|e| e.author)
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asserts that `op` is final on every node of `nodes` and was skipped
/// because its author was suspended.
async fn assert_skipped_for_suspension(nodes: &[&TestNode], p: PartnershipId, op: OpId) {
    for node in nodes {
        let (outcome, is_final) = node.node.op_status(p, op).await.expect("status");
        assert!(is_final, "{op:?} not final on node {}", node.seed);
        match outcome {
            Some(OpOutcome::Skipped { reason }) => {
                assert!(reason.contains("is suspended"), "node {}: {op:?} skipped for {reason:?}", node.seed);
            }
            other => panic!("node {}: {op:?} should be skipped for the suspension, is {other:?}", node.seed),
        }
    }
}

/// The final guestbook entries on `node`, as their messages.
async fn final_entries(node: &TestNode, p: PartnershipId) -> Vec<String> {
    let answer = node
        .node
        .query(p, "guestbook", br#"{"entries":{"limit":1000}}"#.to_vec(), true)
        .await
        .expect("entries");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    answer["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["message"].as_str().expect("message").to_owned())
        .collect()
}

/// Four partners; one node dies; a call on another node: the first part
/// of both kill tests. Returns the three living nodes, the dead one, the
/// partnership and the calls made (all final on the three).
async fn kill_one_of_four(dirs: &[tempfile::TempDir]) -> (Vec<TestNode>, Stopped, PartnershipId, Vec<OpId>) {
    let (mut nodes, p, mut calls) = cluster(4, 4, dirs).await;
    let dead = crash(nodes.pop().expect("node 4")).await;
    let living: Vec<&TestNode> = nodes.iter().collect();
    let op = call(&nodes[0], p, "1 after 4 died").await;
    calls.push(op);
    wait_final(&living, p, &[op], "a call made after node 4 died to be final on the other three").await;
    for node in &living {
        let info = node.info(p).await;
        assert_eq!(status(&info, dead.member), "suspended", "{}", describe(node.seed, &info));
        assert!(info.waiting_for.is_empty(), "nothing waits any more: {}", describe(node.seed, &info));
    }
    (nodes, dead, p, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_partner_is_suspended_and_the_others_finalise() {
    let dirs = temp_dirs(4);
    let (nodes, dead, p, calls) = kill_one_of_four(&dirs).await;
    // The three agree on the final state without it.
    let living: Vec<&TestNode> = nodes.iter().collect();
    let info = wait_converged(&living, p, &calls).await;
    assert_eq!(suspended(&info), vec![dead.member]);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_partner_is_readmitted_and_all_converge() {
    let dirs = temp_dirs(4);
    let (mut nodes, dead, p, mut calls) = kill_one_of_four(&dirs).await;
    // Life goes on without it.
    for node in &nodes {
        calls.push(call(node, p, &format!("{} while 4 is away", node.seed)).await);
    }
    let living: Vec<&TestNode> = nodes.iter().collect();
    wait_final(&living, p, &calls, "the calls made while node 4 is away to be final on the three").await;
    let watcher = Recorder::start(&nodes[0]);

    // Back from its store, with its keys: it catches up, asks to return
    // and a partner's node readmits it, all on their own.
    let back = restart(&dead, &living).await;
    nodes.push(back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    wait_status(&all, p, dead.member, "active", "node 4 to be readmitted on all four nodes").await;
    let op = call(&nodes[3], p, "4 is back").await;
    calls.push(op);
    let info = wait_converged(&all, p, &calls).await;
    assert!(suspended(&info).is_empty(), "{}", describe(1, &info));
    for node in &all {
        let info = node.info(p).await;
        assert!(info.waiting_for.is_empty(), "{}", describe(node.seed, &info));
    }

    // What it authored while cut off (at least its request to return) is
    // final everywhere and skipped, naming the suspension.
    let cut_off: Vec<OpId> = watcher
        .events()
        .into_iter()
        .filter(|e| e.author == Some(dead.member) && e.kind == OpEventKind::Applied)
        .filter(|e| matches!(e.outcome, Some(OpOutcome::Skipped { .. })))
        .map(|e| e.op)
        .collect();
    assert!(!cut_off.is_empty(), "node 4's request to return is one of its ops after the cut");
    for op in cut_off {
        assert_skipped_for_suspension(&all, p, op).await;
    }
    let (outcome, is_final) = nodes[3].node.op_status(p, op).await.expect("status");
    assert!(is_final && matches!(outcome, Some(OpOutcome::Applied { .. })), "{outcome:?}");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_two_partition_suspends_no_one() {
    let dirs = temp_dirs(4);
    let (nodes, p, mut calls) = cluster(4, 4, &dirs).await;
    let all: Vec<&TestNode> = nodes.iter().collect();
    let recorders: Vec<Recorder> = nodes.iter().map(Recorder::start).collect();
    let (a, b) = (&all[..2], &all[2..]);
    partition(a, b).await;
    // The split: nothing authored from here on is below it, and nothing
    // above it can be final while a side lacks the other's acks.
    let mut split = 0;
    for node in &all {
        split = split.max(node.info(p).await.optimistic_height);
    }
    let during = [call(a[0], p, "1 in the split").await, call(b[0], p, "3 in the split").await];
    calls.extend(during);

    // Each side votes to suspend someone of the other (once each), but two
    // votes of four are no majority.
    let side_members = |side: &[&TestNode]| side.iter().map(|n| n.member).collect::<Vec<_>>();
    wait_for("both sides to vote to suspend someone on the other side", || async {
        let mut state = Vec::new();
        for (k, (side, recorder)) in [(a, &recorders[0]), (b, &recorders[2])].into_iter().enumerate() {
            let voters = recorder.voters();
            state.push(format!("side {k} saw votes of {:?}", voters.iter().map(short).collect::<Vec<_>>()));
            if !voters.iter().any(|v| side_members(side).contains(v)) {
                return Err(format!("{}; {}", state.join(", "), views(&all, p).await));
            }
        }
        Ok(())
    })
    .await;
    let hold_until = tokio::time::Instant::now() + HOLD;
    while tokio::time::Instant::now() < hold_until {
        for node in &all {
            let info = node.info(p).await;
            assert!(
                suspended(&info).is_empty(),
                "a side of two suspended someone: {}",
                describe(node.seed, &info)
            );
            assert!(
                info.final_height <= split,
                "final height passed the split ({split}) on one side: {}",
                describe(node.seed, &info)
            );
            for op in &during {
                let (_, is_final) = node.node.op_status(p, *op).await.expect("status");
                assert!(!is_final, "a call of the split is final on node {}", node.seed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    heal(a, b).await;
    let info = wait_converged(&all, p, &calls).await;
    assert!(info.final_height > split);
    // The votes of both sides are withdrawn (the members they named spoke
    // after their cuts) and become final too; no one is ever suspended.
    wait_for("nothing to wait for anyone, and no one suspended", || async {
        for node in &all {
            let info = node.info(p).await;
            assert!(suspended(&info).is_empty(), "{}", describe(node.seed, &info));
            if !info.waiting_for.is_empty() {
                return Err(describe(node.seed, &info));
            }
        }
        Ok(())
    })
    .await;
    drop(recorders);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_one_partition_suspends_the_one_and_heals() {
    let dirs = temp_dirs(4);
    let (nodes, p, mut calls) = cluster(4, 4, &dirs).await;
    let all: Vec<&TestNode> = nodes.iter().collect();
    let (three, one) = (&all[..3], &all[3..]);
    let lone = one[0].member;
    partition(three, one).await;

    // The one keeps calling: it cannot know it is cut off.
    let mut cut_off = Vec::new();
    for i in 0..2 {
        cut_off.push(call(one[0], p, &format!("4 alone {i}")).await);
    }
    // The three suspend it and finalise without it.
    for node in three {
        calls.push(call(node, p, &format!("{} without 4", node.seed)).await);
    }
    wait_final(three, p, &calls, "the three's calls to be final without node 4").await;
    wait_status(three, p, lone, "suspended", "the three to show node 4 suspended").await;
    cut_off.push(call(one[0], p, "4 alone, later").await);
    for op in &cut_off {
        let (_, is_final) = one[0].node.op_status(p, *op).await.expect("status");
        assert!(!is_final, "a call of the cut-off node is final on it alone");
    }
    // What the three made final, to check nothing of it changes.
    let mut settled = Vec::new();
    for op in &calls {
        let (outcome, is_final) = all[0].node.op_status(p, *op).await.expect("status");
        assert!(is_final);
        settled.push((*op, outcome));
    }
    let entries_before = final_entries(all[0], p).await;
    let final_before = all[0].info(p).await.final_height;

    heal(three, one).await;
    wait_status(&all, p, lone, "active", "node 4 to be readmitted on all four nodes").await;
    let back = call(one[0], p, "4 is back").await;
    calls.push(back);
    let mut everything = calls.clone();
    everything.extend(&cut_off);
    let info = wait_converged(&all, p, &everything).await;
    assert!(info.final_height > final_before);
    assert!(suspended(&info).is_empty(), "{}", describe(1, &info));
    for op in &cut_off {
        assert_skipped_for_suspension(&all, p, *op).await;
    }
    for node in &all {
        for (op, outcome) in &settled {
            let (now, is_final) = node.node.op_status(p, *op).await.expect("status");
            assert!(is_final, "{op:?} no longer final on node {}", node.seed);
            assert_eq!(&now, outcome, "{op:?} changed its outcome on node {}", node.seed);
        }
        let entries = final_entries(node, p).await;
        assert!(
            entries.starts_with(&entries_before),
            "node {}: the final entries were {entries_before:?}, now {entries:?}",
            node.seed
        );
        assert!(entries.contains(&"4 is back".to_owned()), "{entries:?}");
        assert!(!entries.iter().any(|e| e.starts_with("4 alone")), "a cut-off call took effect: {entries:?}");
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_lets_two_partners_suspend_the_third() {
    // Members 1 and 2 are the partners; 3 is the witness, a participant
    // that only acks and votes.
    let dirs = temp_dirs(3);
    let (mut nodes, p, _) = cluster(3, 2, &dirs).await;
    let witness = nodes.pop().expect("witness");
    let partner = nodes.pop().expect("partner 2");
    let gone = partner.member;
    partner.stop().await;
    nodes.push(witness);
    let remaining: Vec<&TestNode> = nodes.iter().collect();
    let op = call(&nodes[0], p, "1 without 2").await;
    wait_final(&remaining, p, &[op], "partner 1's call to be final on partner 1 and the witness").await;
    for node in &remaining {
        let info = node.info(p).await;
        assert_eq!(status(&info, gone), "suspended", "{}", describe(node.seed, &info));
    }
    let next = call(&nodes[0], p, "1 goes on").await;
    wait_converged(&remaining, p, &[op, next]).await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partners_without_a_witness_wait_and_say_why() {
    let dirs = temp_dirs(2);
    let (mut nodes, p, _) = cluster(2, 2, &dirs).await;
    let dead = crash(nodes.pop().expect("partner 2")).await;
    let op = call(&nodes[0], p, "1 alone").await;
    // Well past `suspend_after_ms`, the call still waits for partner 2.
    let until = tokio::time::Instant::now() + HOLD;
    while tokio::time::Instant::now() < until {
        let info = nodes[0].info(p).await;
        assert!(suspended(&info).is_empty(), "one of two suspended the other: {}", describe(1, &info));
        let (_, is_final) = nodes[0].node.op_status(p, op).await.expect("status");
        assert!(!is_final, "final without partner 2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info = nodes[0].info(p).await;
    let [waiting] = &info.waiting_for[..] else { panic!("one waited for: {}", describe(1, &info)) };
    assert_eq!(waiting.member, dead.member);
    assert!(waiting.silent_for_ms >= SUSPEND_AFTER_MS, "{}", describe(1, &info));
    assert_eq!(waiting.suspension_in_ms, None, "{}", describe(1, &info));
    let why = waiting.why_not.as_deref().unwrap_or_default();
    assert!(why.contains("witness"), "why_not should name the remedy: {why:?}");

    // It was only waiting: partner 2 comes back and the call is final.
    let back = restart(&dead, &[&nodes[0]]).await;
    nodes.push(back);
    let both: Vec<&TestNode> = nodes.iter().collect();
    wait_converged(&both, p, &[op]).await;
    for node in nodes {
        node.stop().await;
    }
}
