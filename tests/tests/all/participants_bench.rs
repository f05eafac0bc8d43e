//! What a bigger partnership costs each node (issue 26, item 3), ignored by
//! default; run with
//! `cargo test --release -p polypact-tests --test all participants_bench:: -- --ignored --nocapture`.
//!
//! In-process node cores (`NodeCore`: the real ledger, WASM guestbook,
//! store with fsync, ack policy) of 4, 8, 16, 32 and 64 participants of one
//! partnership, joined by a perfect network: every op a core authors is
//! handed to every other core, and simulated time advances 10 ms per
//! step, so each core acks once per ack window whatever arrived in it.
//! Each core's work (inserting what it receives, its own calls and acks,
//! its ticks) runs on one thread and is timed with that thread's CPU clock,
//! so the figure is the design's cost per node, not the machine's
//! contention. `POLYPACT_PARTICIPANTS_CALLS` (default 64) calls, one per
//! node in turn, `POLYPACT_PARTICIPANTS_PER_STEP` (default 4) per 10 ms
//! step, until every call is final on every core.
//!
//! Prints, per size: CPU per node per final call (mean over nodes), bytes
//! received per node per final call, acks authored per node per call, and
//! the ratio to the 8-participant figure of the same run (linear growth is
//! ×8 at 64). It asserts only that every call became final everywhere.

use std::time::Duration;

use polypact::node::{NodeBuilder, NodeConfig, NodeCore, Origin, now_ms};
use polypact::op::{MemberKey, OpId, PartnershipId, Payload, SignedOp};
use polypact_tests::*;

/// This thread's CPU time so far (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_nanos(nanos)
}

struct SimNode {
    core: NodeCore,
    cpu: Duration,
    bytes_in: u64,
    acks: u64,
}

impl SimNode {
    fn timed<T>(&mut self, work: impl FnOnce(&mut NodeCore) -> T) -> T {
        let start = thread_cpu();
        let out = work(&mut self.core);
        self.cpu += thread_cpu().saturating_sub(start);
        out
    }
}

struct Figures {
    cpu_per_call: Duration,
    bytes_per_call: f64,
    acks_per_call: f64,
}

fn run(n: u8, calls: usize, dirs: &[tempfile::TempDir]) -> Figures {
    let wasm = guestbook_wasm();
    let mut nodes: Vec<SimNode> = (1..=n)
        .map(|seed| {
            let config = NodeConfig::new(dirs[usize::from(seed - 1)].path());
            let mut core = NodeBuilder::new(config, MemberKey::from_seed(seed)).open().expect("opens");
            core.add_code(&wasm).expect("code");
            SimNode { core, cpu: Duration::ZERO, bytes_in: 0, acks: 0 }
        })
        .collect();
    let code = polypact::op::CodeHash::of(&wasm);
    let seeds: Vec<u8> = (1..=n).collect();
    let mut t = now_ms();
    let genesis = genesis(guestbook_charter(&seeds, code), 1, t);
    let p: PartnershipId = genesis.partnership();
    for node in &mut nodes {
        node.core.join(genesis.clone()).expect("joins");
        let _ = node.core.take_outbox();
    }
    // Measure from here: the partnership exists everywhere.
    for node in &mut nodes {
        node.cpu = Duration::ZERO;
    }
    let per_step: usize =
        std::env::var("POLYPACT_PARTICIPANTS_PER_STEP").ok().and_then(|v| v.parse().ok()).unwrap_or(4).max(1);
    let mut submitted: Vec<OpId> = Vec::new();
    let mut next_author = 0usize;
    for _step in 0..100_000 {
        t += 10;
        // A few calls per step, one node after another.
        for _ in 0..per_step {
            if submitted.len() >= calls {
                break;
            }
            let author = next_author % nodes.len();
            next_author += 1;
            let text = format!("call {}", submitted.len());
            let op = nodes[author]
                .timed(|core| core.submit_call(&p, "guestbook", sign_msg(&text), t))
                .expect("submits");
            submitted.push(op.id());
        }
        // Every core's ticks (acks once per window), then the network.
        let mut sent: Vec<(usize, Vec<SignedOp>)> = Vec::new();
        for (i, node) in nodes.iter_mut().enumerate() {
            node.timed(|core| core.tick(t)).expect("tick");
            let out: Vec<SignedOp> =
                node.timed(|core| core.take_outbox()).into_iter().map(|(_, op)| op).collect();
            node.acks += out.iter().filter(|op| matches!(op.op().payload, Payload::Ack)).count() as u64;
            if !out.is_empty() {
                sent.push((i, out));
            }
        }
        for (from, ops) in &sent {
            let bytes: u64 = ops.iter().map(|op| op.encode().len() as u64).sum();
            for (i, node) in nodes.iter_mut().enumerate() {
                if i == *from {
                    continue;
                }
                node.bytes_in += bytes;
                // Fresh copies: each core checks every signature itself.
                let copies: Vec<SignedOp> = ops
                    .iter()
                    .map(|op| {
                        polypact::op::decode_signed_op(&op.encode(), &polypact::op::Limits::default())
                            .expect("op")
                    })
                    .collect();
                node.timed(|core| core.insert_batch(&p, copies, Origin::Fresh, t)).expect("inserts");
            }
        }
        if submitted.len() >= calls
            && nodes.iter().all(|node| {
                let ledger = node.core.ledger(&p).expect("ledger");
                submitted.iter().all(|id| ledger.is_final(id))
            })
        {
            break;
        }
    }
    for node in &nodes {
        let ledger = node.core.ledger(&p).expect("ledger");
        assert!(submitted.iter().all(|id| ledger.is_final(id)), "every call final on every core");
    }
    let total_cpu: Duration = nodes.iter().map(|n| n.cpu).sum();
    let nodes_count = nodes.len() as u32;
    Figures {
        cpu_per_call: total_cpu / nodes_count / calls as u32,
        bytes_per_call: nodes.iter().map(|n| n.bytes_in as f64).sum::<f64>()
            / f64::from(nodes_count)
            / calls as f64,
        acks_per_call: nodes.iter().map(|n| n.acks as f64).sum::<f64>()
            / f64::from(nodes_count)
            / calls as f64,
    }
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture (release)"]
fn per_node_cost_per_final_call_against_participants() {
    let calls: usize =
        std::env::var("POLYPACT_PARTICIPANTS_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let sizes = [4u8, 8, 16, 32, 64];
    let mut results = Vec::new();
    for n in sizes {
        let dirs = temp_dirs(usize::from(n));
        let figures = run(n, calls, &dirs);
        results.push((n, figures));
    }
    let eight = results.iter().find(|(n, _)| *n == 8).map(|(_, f)| f.cpu_per_call).expect("8");
    println!(
        "| participants | CPU per node per final call | bytes in per node per call | acks per node per call | CPU vs 8 |"
    );
    println!("|---|---|---|---|---|");
    for (n, f) in &results {
        println!(
            "| {n} | {:.0} µs | {:.0} | {:.2} | {:.2}× |",
            f.cpu_per_call.as_secs_f64() * 1e6,
            f.bytes_per_call,
            f.acks_per_call,
            f.cpu_per_call.as_secs_f64() / eight.as_secs_f64()
        );
    }
}
