//! Network figures (ignored by default; run with
//! `cargo test --release -p polypact-tests --test all net_bench:: -- --ignored --nocapture --test-threads 1`):
//!
//! - submit → final on every node, p50/p99, for 4, 8 and 16 in-process nodes
//!   (`POLYPACT_BENCH_NODES=8` picks sizes), with a real node's settings
//!   (node, network and libp2p), beside raw gossipsub one-hop
//!   delivery measured in the same run; once for ops in a quiet partnership
//!   (each submitted an ack window after the previous one is final, so
//!   nodes ack at once) and once back to back (each submitted as soon as
//!   the previous one is final, so acks wait for the window);
//! - catch-up throughput (ops/s) of a newcomer syncing a long history;
//! - suspension of a dead partner on 4 nodes: from its node dying to the
//!   first op after it final on the other three, beside the charter's
//!   `suspend_after_ms` (the target: that plus under 1 s;
//!   `POLYPACT_BENCH_SUSPEND_MS` sets it, 2000 by default), and from its
//!   node's return to it being counted again (readmitted on every node, and
//!   its first call final on every node); `POLYPACT_BENCH_ROUNDS` rounds.
//!
//! `POLYPACT_BENCH_TRACE=1` prints each op's timeline (and, for an op slow to
//! become final everywhere, when each node made it final and applied each
//! other node's ack); `RUST_LOG` (for example
//! `polypact::net=debug,polypact::node::network=debug`) shows what the nodes did.
//!
//! They print figures and assert only correctness, never timing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use polypact::ledger::OpOutcome;
use polypact::net::{Keypair, NetEvent, Network, Protocol};
use polypact::node::{OpEventKind, SyncConfig, WaitFor, now_ms};
use polypact::op::{MemberKey, OpId, PartnershipId, Payload, UnsignedOp};
use polypact::store::{FinalDelta, Store};
use polypact::testing::WasmHarness;
use polypact_tests::*;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!("p50 {:?}  p99 {:?}  (n={})", percentile(&samples, 50), percentile(&samples, 99), samples.len())
}

/// Raw `verify_strict` on one core (decompress the key, verify), in
/// signatures per second: the machine's speed in this run, to read the
/// other figures against.
fn raw_verify_rate(ops: &[polypact::op::SignedOp]) -> f64 {
    let started = Instant::now();
    for op in ops {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&op.author().0).expect("key");
        let mut message = b"polypact/op/v1:".to_vec();
        message.extend_from_slice(op.id().as_bytes());
        let signature = ed25519_dalek::Signature::from_bytes(op.signature());
        key.verify_strict(&message, &signature).expect("valid signature");
    }
    ops.len() as f64 / started.elapsed().as_secs_f64()
}

/// The machine's own latency tail for the work one op gives it: `bursts`
/// times, a fixed piece of pure CPU work split over two threads
/// (`per_core` raw `verify_strict` each), timed wall-clock, then `idle` of
/// nothing, the rhythm of the quiet load. On a shared virtual machine the
/// p99 of such a burst is several times its p50 whatever the program does;
/// the bench's p99s are read against it.
fn machine_burst_latency(
    ops: &[polypact::op::SignedOp],
    per_core: usize,
    idle: Duration,
    bursts: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(bursts);
    for burst in 0..bursts {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for core in 0..2 {
                let from = (burst * 2 + core) * per_core % (ops.len() - per_core);
                scope.spawn(move || raw_verify_rate(&ops[from..from + per_core]));
            }
        });
        samples.push(started.elapsed());
        std::thread::sleep(idle);
    }
    samples
}

/// The nodes' ack window (default settings): the quiet load's rest
/// between ops.
fn ack_window() -> Duration {
    Duration::from_millis(polypact::node::CoreConfig::default().ack_debounce_ms)
}

/// A signed ack of `key` at `seq` (its parent need not exist: these ops only
/// travel or are verified, never inserted).
fn ack_op(partnership: PartnershipId, key: &MemberKey, seq: u64) -> polypact::op::SignedOp {
    UnsignedOp {
        partnership,
        author: key.member_id(),
        seq,
        parents: vec![OpId([1; 32])],
        time_ms: seq,
        payload: Payload::Ack,
    }
    .sign(key)
}

async fn raw_gossip_one_hop(rounds: usize) -> Vec<Duration> {
    let p = PartnershipId([3; 32]);
    // Two bare networks are strangers to each other (no node tells them who
    // it knows): keep a from cutting b off in a long run.
    let mut a_config = real_net_config(Keypair::generate_ed25519(), vec![]);
    a_config.stranger_timeout = None;
    let (a, _a_events) = Network::spawn(a_config).expect("a");
    let addr = a.listen_addrs().await.expect("addrs")[0].clone().with(Protocol::P2p(a.local_peer_id()));
    let (b, mut b_events) =
        Network::spawn(real_net_config(Keypair::generate_ed25519(), vec![addr])).expect("b");
    a.subscribe(p).await.expect("sub");
    b.subscribe(p).await.expect("sub");
    wait_for("b on a's topic", || async {
        if a.topic_peers(p).await.map_err(|e| e.to_string())?.contains(&b.local_peer_id()) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    let key = MemberKey::from_seed(9);
    let mut samples = Vec::new();
    for seq in 1..=rounds as u64 {
        let op = ack_op(p, &key, seq);
        let sent = Instant::now();
        a.publish(p, op.encode()).await.expect("publish");
        loop {
            match b_events.recv().await.expect("event") {
                NetEvent::Gossip { msg_id, source, .. } => {
                    samples.push(sent.elapsed());
                    b.report(msg_id, source, polypact::net::Verdict::Ignore).await.expect("report");
                    break;
                }
                _ => continue,
            }
        }
    }
    a.shutdown().await.expect("down");
    b.shutdown().await.expect("down");
    samples
}

/// One load's samples and the CPU time the whole process spent per op.
struct Load {
    samples: Vec<Duration>,
    cpu_per_op: Option<Duration>,
}

impl Load {
    fn summary(self) -> String {
        let cpu =
            self.cpu_per_op.map(|c| format!(", CPU {:.1} ms per op on all nodes", c.as_secs_f64() * 1e3));
        format!("{}{}", summary(self.samples), cpu.unwrap_or_default())
    }
}

/// Submit → final on all `n` nodes for `ops` ops in a quiet partnership and
/// then for `ops` ops back to back: `(quiet, back_to_back)`.
async fn submit_to_final(n: u8, ops: usize) -> (Load, Load) {
    let dirs = temp_dirs(usize::from(n));
    let (nodes, code) = start_nodes_with(n, &dirs, SyncConfig::default(), real_net_config).await;
    let seeds: Vec<u8> = (1..=n).collect();
    let genesis = genesis(guestbook_charter(&seeds, code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("p");
    let refs: Vec<&TestNode> = nodes.iter().collect();
    wait_converged(&refs, p, &[]).await;
    // What the idle nodes cost (gossip heartbeats, anti-entropy, snapshots).
    let idle = Duration::from_secs(3);
    let idle_started = process_cpu_time();
    tokio::time::sleep(idle).await;
    if let Some(cpu) = process_cpu_time().zip(idle_started).map(|(now, then)| now - then) {
        eprintln!("{n} nodes idle: CPU {:.0} ms per second", cpu.as_secs_f64() * 1e3 / idle.as_secs_f64());
    }
    // Every node's op events, merged into one channel, so the bench wakes on
    // the event itself rather than polling.
    let trace = std::env::var("POLYPACT_BENCH_TRACE").is_ok();
    let (events_in, mut events) = tokio::sync::mpsc::unbounded_channel();
    for (k, node) in nodes.iter().enumerate() {
        let mut rx = node.node.subscribe();
        let events_in = events_in.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) if event.module.is_some() || trace => {
                        if events_in.send((k, event)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    drop(events_in);
    let window = ack_window();
    let (mut quiet, mut back_to_back) = (Vec::new(), Vec::new());
    let mut cpu_at_start = None;
    // The first few ops warm the nodes up (module instances, connections,
    // gossip meshes) and are not counted.
    const WARM_UP: usize = 5;
    let mut quiet_cpu = None;
    for i in 0..WARM_UP + 2 * ops {
        let is_quiet = i < WARM_UP + ops;
        if i == WARM_UP {
            cpu_at_start = process_cpu_time();
        }
        if i == WARM_UP + ops {
            quiet_cpu = process_cpu_time().zip(cpu_at_start).map(|(now, then)| now - then);
            cpu_at_start = process_cpu_time();
        }
        if is_quiet {
            tokio::time::sleep(window).await;
        }
        let author = &nodes[i % nodes.len()];
        let sent = Instant::now();
        let op =
            author.node.call(p, "guestbook", sign_msg(&format!("op {i}")), WaitFor::Accepted, WAIT).await;
        let op = op.expect("accepted").op;
        let mut final_on: BTreeMap<usize, Duration> = BTreeMap::new();
        let mut applied_on: BTreeMap<usize, Duration> = BTreeMap::new();
        // Traced: when each node applied each other node's acks.
        let mut acks_on: BTreeMap<usize, BTreeMap<usize, Duration>> = BTreeMap::new();
        while final_on.len() < nodes.len() {
            let (k, event) = tokio::time::timeout_at((sent + WAIT).into(), events.recv())
                .await
                .unwrap_or_else(|_| panic!("op {i} not final everywhere"))
                .expect("nodes running");
            if event.op == op && event.kind == OpEventKind::Final {
                final_on.insert(k, sent.elapsed());
            }
            if event.op == op && event.kind == OpEventKind::Applied {
                applied_on.entry(k).or_insert(sent.elapsed());
            }
            if event.module.is_none() && event.kind == OpEventKind::Applied {
                let author = nodes.iter().position(|n| Some(n.member) == event.author);
                if let Some(author) = author {
                    acks_on.entry(k).or_default().entry(author).or_insert(sent.elapsed());
                }
            }
        }
        if trace {
            eprintln!(
                "op {i} ({}): applied by all {:?}, first final {:?}, final on all {:?}",
                if is_quiet { "quiet" } else { "back to back" },
                applied_on.values().max(),
                final_on.values().min(),
                final_on.values().max(),
            );
            if applied_on.values().max().is_some_and(|d| *d > Duration::from_millis(20)) {
                eprintln!("  applied per node: {applied_on:?}");
            }
            if final_on.values().max().is_some_and(|d| *d > 2 * window) {
                eprintln!("  final per node: {final_on:?}");
                for (k, acks) in &acks_on {
                    eprintln!("  node {k} applied acks of: {acks:?}");
                }
            }
        }
        let sample = final_on.values().copied().max().expect("n nodes");
        if i < WARM_UP {
            continue;
        }
        if is_quiet { quiet.push(sample) } else { back_to_back.push(sample) }
    }
    let back_to_back_cpu = process_cpu_time().zip(cpu_at_start).map(|(now, then)| now - then);
    for node in nodes {
        node.stop().await;
    }
    let per_op = |cpu: Option<Duration>| cpu.map(|c| c / ops as u32);
    (
        Load { samples: quiet, cpu_per_op: per_op(quiet_cpu) },
        Load { samples: back_to_back, cpu_per_op: per_op(back_to_back_cpu) },
    )
}

// The nodes share one runtime here; as separate processes each would have
// its own threads, so one node's store commit would not hold up another's
// network task. 16 threads give every node at least one (on the same cores);
// a runtime per node measured the same (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 16)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_submit_to_final_beside_raw_gossip() {
    // `RUST_LOG=libp2p_gossipsub=debug` and the like show what the nodes did.
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
    let key = MemberKey::from_seed(7);
    let signed: Vec<polypact::op::SignedOp> =
        (1..=2_000u64).map(|seq| ack_op(PartnershipId([5; 32]), &key, seq)).collect();
    let raw_rate = raw_verify_rate(&signed);
    eprintln!("machine: raw verify_strict on one core = {raw_rate:.0} ops/s");
    let signed = std::sync::Arc::new(signed);
    eprintln!("raw gossipsub one hop:        {}", summary(raw_gossip_one_hop(200).await));
    let sizes: Vec<u8> = std::env::var("POLYPACT_BENCH_NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![4, 8, 16]);
    for n in sizes {
        let (quiet, back_to_back) = submit_to_final(n, 200).await;
        let quiet_cpu = quiet.cpu_per_op;
        eprintln!("submit -> final on {n} nodes, quiet:         {}", quiet.summary());
        eprintln!("submit -> final on {n} nodes, back to back:  {}", back_to_back.summary());
        // The same CPU as one quiet op, as pure CPU on both cores, with the
        // quiet load's rhythm (a burst, then an ack window of rest).
        if let Some(cpu) = quiet_cpu {
            let per_core = ((cpu.as_secs_f64() * raw_rate / 2.0) as usize).clamp(1, signed.len() / 2);
            let window = ack_window();
            let ops = std::sync::Arc::clone(&signed);
            let bursts =
                tokio::task::spawn_blocking(move || machine_burst_latency(&ops, per_core, window, 200))
                    .await
                    .expect("bursts");
            eprintln!("  the machine, that CPU as a 2-core burst:  {}", summary(bursts));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_catch_up_throughput() {
    let ops: usize = std::env::var("POLYPACT_BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let guestbook = guestbook_wasm();
    let mut harness = WasmHarness::new(2, &[("guestbook", &guestbook, "{}", &[])]).expect("harness");
    for i in 0..ops {
        harness.advance_ms(1);
        let op = harness.ledger.create_op(&harness.keys[i % 2], Payload::Ack, harness.now);
        harness.ledger.insert(op, harness.now).expect("ack");
    }
    let p = harness.ledger.partnership();
    let genesis = harness.ledger.genesis().clone();
    let mut all: Vec<(u64, polypact::op::SignedOp)> =
        harness.ledger.dag().nodes().map(|n| (n.height, (*n.op).clone())).collect();
    all.sort_by_key(|(h, op)| (*h, op.id()));
    // The references, on the same machine in the same run, on one core:
    // raw ed25519 (decompress the key, `verify_strict`) of every op's
    // signature, and the node's own check of an op (structure, then the
    // strict signature with the author's key remembered).
    let signed: Vec<polypact::op::SignedOp> = all.iter().map(|(_, op)| op.clone()).collect();
    let raw_rate = raw_verify_rate(&signed);
    let limits = polypact::op::Limits::default();
    // Fresh copies, as a node gets them off the wire (an op keeps its
    // signature verdict, and these were checked when the history was built).
    let fresh: Vec<polypact::op::SignedOp> = all
        .iter()
        .map(|(_, op)| polypact::op::decode_signed_op(&op.encode(), &limits).expect("decodes"))
        .collect();
    let check_started = Instant::now();
    for op in &fresh {
        op.verify(&limits).expect("valid op");
    }
    let check_rate = all.len() as f64 / check_started.elapsed().as_secs_f64();
    let dirs = temp_dirs(2);
    {
        let store = Store::open(&dirs[0].path().join("store.redb")).expect("store");
        store.put_code(&guestbook).expect("code");
        let refs: Vec<(u64, &polypact::op::SignedOp)> = all.iter().map(|(h, op)| (*h, op)).collect();
        store.append_ops(&p, &refs).expect("ops");
        let writes = harness.ledger.final_state().iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let delta = FinalDelta {
            final_height: harness.ledger.final_height(),
            writes,
            meta: Vec::new(),
            state_root: Some(harness.ledger.final_root()),
        };
        store.save_final(&p, &delta).expect("snapshot");
    }
    let server = TestNode::start(dirs[0].path(), 1, Keypair::generate_ed25519(), vec![]).await;
    let client =
        TestNode::start(dirs[1].path(), 2, Keypair::generate_ed25519(), vec![server.addr.clone()]).await;
    client.node.add_code(guestbook).await.expect("code");
    let started = Instant::now();
    client.node.join(genesis).await.expect("joins");
    let total = all.len() as u64;
    wait_for("the client to hold every op", || async {
        let held = client.info(p).await.op_count;
        if held >= total { Ok(()) } else { Err(format!("{held} of {total}")) }
    })
    .await;
    let took = started.elapsed();
    eprintln!("catch-up: {total} ops in {took:?} = {:.0} ops/s", total as f64 / took.as_secs_f64());
    eprintln!(
        "reference, one core: raw verify_strict = {raw_rate:.0} ops/s, the node's op check = {check_rate:.0} ops/s"
    );
    client.stop().await;
    server.stop().await;
}

/// Every node's op events, merged into one channel as `(node index, event)`.
fn merged_events(
    nodes: &[&TestNode],
) -> tokio::sync::mpsc::UnboundedReceiver<(usize, polypact::node::NodeEvent)> {
    let (events_in, events) = tokio::sync::mpsc::unbounded_channel();
    for (k, node) in nodes.iter().enumerate() {
        let mut rx = node.node.subscribe();
        let events_in = events_in.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if events_in.send((k, event)).is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    events
}

/// Waits on `events` until `op` is final on every node of `count`; also
/// returns when (since `from`) the first op completing a suspension was
/// applied on a node, if one was.
async fn until_final_on_all(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, polypact::node::NodeEvent)>,
    op: OpId,
    count: usize,
    from: Instant,
) -> (Duration, Option<Duration>) {
    let mut final_on = std::collections::BTreeSet::new();
    let mut suspended_at = None;
    while final_on.len() < count {
        let (k, event) = tokio::time::timeout_at((from + WAIT).into(), events.recv())
            .await
            .unwrap_or_else(|_| panic!("op {op:?} not final on every node"))
            .expect("nodes running");
        if event.op == op && event.kind == OpEventKind::Final {
            final_on.insert(k);
        }
        let suspends = matches!(&event.outcome, Some(OpOutcome::Applied { events, .. })
            if events.iter().any(|e| e.event.kind == "participant_suspended"));
        if suspends && suspended_at.is_none() {
            suspended_at = Some(from.elapsed());
        }
    }
    (from.elapsed(), suspended_at)
}

/// Polls until every node of `nodes` shows `member` as `status`.
async fn until_status(nodes: &[&TestNode], p: PartnershipId, member: polypact::op::MemberId, status: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut all = true;
        for node in nodes {
            let info = node.info(p).await;
            let seen = info.statuses.iter().find(|v| v.member == member).map(|v| v.status.name());
            all &= seen == Some(status);
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "member never {status} on every node");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// As the quiet load of `bench_submit_to_final_beside_raw_gossip`: real
// settings, a thread per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn bench_suspension_of_a_dead_partner_and_its_return() {
    let suspend_after_ms: u64 =
        std::env::var("POLYPACT_BENCH_SUSPEND_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let rounds: usize = std::env::var("POLYPACT_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dirs = temp_dirs(4);
    let (mut nodes, code) = start_nodes_with(4, &dirs, SyncConfig::default(), real_net_config).await;
    let mut charter = guestbook_charter(&[1, 2, 3, 4], code);
    charter.params.suspend_after_ms = suspend_after_ms;
    let genesis = genesis(charter, 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("p");
    let mut calls = Vec::new();
    for node in &nodes {
        let receipt = node
            .node
            .call(p, "guestbook", sign_msg("hello"), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted");
        calls.push(receipt.op);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    wait_converged(&refs, p, &calls).await;
    let reference = Duration::from_millis(suspend_after_ms);
    let (mut to_final, mut to_suspended, mut to_readmitted, mut to_counted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // A quiet moment, then the last node dies (aborted: no shutdown).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let victim = nodes.pop().expect("node 4");
        let (dir, seed, keypair, member) =
            (victim.dir.clone(), victim.seed, victim.keypair.clone(), victim.member);
        let living: Vec<&TestNode> = nodes.iter().collect();
        let mut events = merged_events(&living);
        let died = Instant::now();
        victim.kill().await;
        // Life goes on: a call right away on another node.
        let author = &nodes[round % nodes.len()];
        let op = author
            .node
            .call(p, "guestbook", sign_msg(&format!("round {round}")), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted")
            .op;
        let (final_after, suspended_after) = until_final_on_all(&mut events, op, living.len(), died).await;
        to_final.push(final_after);
        if let Some(at) = suspended_after {
            to_suspended.push(at);
        }
        drop(events);
        until_status(&living, p, member, "suspended").await;

        // It comes back from its store with its keys.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        let returned = Instant::now();
        let back = TestNode::start_configured(
            &dir,
            seed,
            real_net_config(keypair, bootstrap),
            SyncConfig::default(),
        )
        .await;
        nodes.push(back);
        let all: Vec<&TestNode> = nodes.iter().collect();
        until_status(&all, p, member, "active").await;
        to_readmitted.push(returned.elapsed());
        let mut events = merged_events(&all);
        let op = nodes[3]
            .node
            .call(p, "guestbook", sign_msg(&format!("back {round}")), WaitFor::Accepted, WAIT)
            .await
            .expect("accepted")
            .op;
        let (counted, _) = until_final_on_all(&mut events, op, all.len(), returned).await;
        to_counted.push(counted);
        eprintln!(
            "round {round}: death -> first final {final_after:?} (suspended at {suspended_after:?}); \
             return -> readmitted everywhere {:?}, its call final everywhere {counted:?}",
            to_readmitted.last().expect("one")
        );
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let describe = |name: &str, samples: &[Duration], against: Option<Duration>| {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let (min, med, max) = (sorted[0], sorted[sorted.len() / 2], sorted[sorted.len() - 1]);
        let mut line = format!(
            "{name}: min {:.0} ms, median {:.0} ms, max {:.0} ms (n={})",
            ms(&min),
            ms(&med),
            ms(&max),
            sorted.len()
        );
        if let Some(reference) = against {
            line += &format!(
                "; reference suspend_after_ms = {} ms: median {:.2}x, over it by {:.0} ms (median) / {:.0} ms (max), target < 1000 ms",
                reference.as_millis(),
                med.as_secs_f64() / reference.as_secs_f64(),
                ms(&med) - ms(&reference),
                ms(&max) - ms(&reference)
            );
        }
        eprintln!("{line}");
    };
    eprintln!("suspension on 4 in-process nodes, real settings, suspend_after_ms = {suspend_after_ms}:");
    describe("  death -> suspension applied (first node)", &to_suspended, Some(reference));
    describe("  death -> first op after it final on the other three", &to_final, Some(reference));
    describe("  return -> readmitted on all four", &to_readmitted, None);
    describe("  return -> its first call final on all four", &to_counted, None);
    for node in nodes {
        node.stop().await;
    }
}
