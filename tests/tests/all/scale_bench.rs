//! Figures of a node in many partnerships (issue 26), ignored by default;
//! run with
//! `cargo test --release -p polypact-tests --test all scale_bench:: -- --ignored --nocapture`.
//!
//! Two in-process nodes on loopback with a real node's settings (node,
//! sync and libp2p defaults), sharing `POLYPACT_SCALE_PARTNERSHIPS`
//! (default 1,000) guestbook partnerships, each beside a reference
//! measured in the same run:
//!
//! - one call by each node in each partnership, submitted without waiting:
//!   time from the first submit until every call is final on both nodes;
//!   reference: the same number of calls in one partnership of the same
//!   two nodes;
//! - idle CPU per node, as a share of one core, over
//!   `POLYPACT_SCALE_IDLE_S` (default 30) seconds once everything is final
//!   and a few anti-entropy intervals have passed: the process's CPU time
//!   (`/proc/self/stat`) halved, since both nodes run in it; reference:
//!   the same two nodes before they held any partnership;
//! - RSS per idle partnership: the process's RSS then, less its RSS
//!   before the partnerships were joined, over 2 × the partnerships;
//! - start-up to serving: a node stopped cleanly and started again from
//!   its store, timed until it answers a request (store opened, ledgers
//!   with work left rebuilt, network listening); reference: a node with an
//!   empty store; and how many ledgers it loaded, at start and once it has
//!   reconnected and compared heads with its partner (idle partnerships
//!   rest until first used).
//!
//! It prints figures and asserts only correctness, never timing.

use std::time::{Duration, Instant};

use polypact::node::SyncConfig;
use polypact_tests::*;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The process's CPU time over `window` of idling, as a share of one core
/// per node (two nodes in the process).
async fn idle_cpu_per_node(window: Duration) -> Option<f64> {
    let before = process_cpu_time()?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let used = process_cpu_time()? - before;
    Some(used.as_secs_f64() / started.elapsed().as_secs_f64() / 2.0 * 100.0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "unknown".into(), |p| format!("{p:.2}% of one core"))
}

/// Starts a node for member `seed` in `dir` with `keypair` and a real
/// node's settings, and times it until it answers a request.
async fn timed_start(
    dir: &std::path::Path,
    seed: u8,
    keypair: polypact::net::Keypair,
    bootstrap: Vec<polypact::net::Multiaddr>,
) -> (TestNode, Duration) {
    let started = Instant::now();
    let node =
        TestNode::start_configured(dir, seed, real_net_config(keypair, bootstrap), SyncConfig::default())
            .await;
    node.node.info().await.expect("serving");
    (node, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture, in release"]
async fn bench_many_partnerships_between_two_nodes() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let count = env_usize("POLYPACT_SCALE_PARTNERSHIPS", 1000);
    let window = Duration::from_secs(env_usize("POLYPACT_SCALE_IDLE_S", 30) as u64);
    let settle = SyncConfig::default().anti_entropy_interval * 3;
    let dirs = temp_dirs(3);
    let (nodes, code) = start_nodes_with(2, &dirs[..2], SyncConfig::default(), real_net_config).await;
    let refs: Vec<&TestNode> = nodes.iter().collect();

    // Reference: the two nodes holding nothing.
    tokio::time::sleep(settle).await;
    let idle_empty = idle_cpu_per_node(window).await;
    let rss_empty = process_rss_bytes();

    let started = Instant::now();
    let ids = shared_partnerships(&refs, code, count).await;
    let joined = started.elapsed();
    let started = Instant::now();
    let ops = sign_in_each(&refs, &ids).await;
    let submitted = started.elapsed();
    wait_all_final(&refs, &ops, Duration::from_secs(1800)).await;
    let all_final = started.elapsed();

    tokio::time::sleep(settle).await;
    let idle_many = idle_cpu_per_node(window).await;
    let rss_many = process_rss_bytes();

    // Start-up from the store: the second node stopped cleanly, started again.
    let mut nodes = nodes;
    let second = nodes.pop().expect("two nodes");
    let bootstrap = vec![nodes[0].addr.clone()];
    let keypair = second.keypair.clone();
    second.stop().await;
    let (second, startup_many) = timed_start(dirs[1].path(), 2, keypair, bootstrap).await;
    let held = second.node.info().await.expect("info").partnerships;
    assert_eq!(held, count, "every partnership is back");
    let loaded_at_start = second.node.info().await.expect("info").partnerships_loaded;
    // Reconnected and compared with the partner: idle ones stay unloaded.
    tokio::time::sleep(settle).await;
    let loaded_after_settle = second.node.info().await.expect("info").partnerships_loaded;

    let (empty, startup_empty) =
        timed_start(dirs[2].path(), 3, polypact::net::Keypair::generate_ed25519(), vec![]).await;
    empty.stop().await;
    nodes.push(second);
    let refs: Vec<&TestNode> = nodes.iter().collect();

    // Reference for finality: as many calls in one partnership of the same two nodes.
    let one = shared_partnerships(&refs, code, 1).await;
    let many_calls: Vec<_> = std::iter::repeat_n(one[0], count).collect();
    let started = Instant::now();
    let ops = sign_in_each(&refs, &many_calls).await;
    wait_all_final(&refs, &ops, Duration::from_secs(1800)).await;
    let reference_final = started.elapsed();

    let per_partnership = match (rss_many, rss_empty) {
        (Some(many), Some(empty)) => {
            format!("{:.1} KB", many.saturating_sub(empty) as f64 / (2 * count) as f64 / 1024.0)
        }
        _ => "unknown".into(),
    };
    eprintln!("two in-process nodes sharing {count} guestbook partnerships, a real node's settings:");
    eprintln!("  joining all of them on both nodes: {:.1} s", joined.as_secs_f64());
    eprintln!(
        "  one call by each node in each ({} calls, submitted in {:.1} s) → all final on both: {:.1} s; \
         reference, {} calls in one partnership: {:.1} s (ratio {:.2})",
        2 * count,
        submitted.as_secs_f64(),
        all_final.as_secs_f64(),
        2 * count,
        reference_final.as_secs_f64(),
        all_final.as_secs_f64() / reference_final.as_secs_f64(),
    );
    eprintln!(
        "  idle CPU per node over {} s: {} with {count} partnerships; reference, none: {}",
        window.as_secs(),
        percent(idle_many),
        percent(idle_empty),
    );
    eprintln!(
        "  RSS per idle partnership: {per_partnership} (process: {:.1} MB with them, {:.1} MB before)",
        rss_many.map_or(0.0, mb),
        rss_empty.map_or(0.0, mb),
    );
    eprintln!(
        "  start-up to serving with {count} partnerships in the store: {:.2} s; reference, empty store: {:.2} s",
        startup_many.as_secs_f64(),
        startup_empty.as_secs_f64(),
    );
    eprintln!(
        "  ledgers loaded by the restarted node: {loaded_at_start} of {count} at start, \
         {loaded_after_settle} once reconnected and compared with its partner ({} s)",
        settle.as_secs(),
    );
    for node in nodes {
        node.stop().await;
    }
}
