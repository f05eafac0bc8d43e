//! The cost of moving final ops' index entries to disk
//! ([`Store::archive_below`]) beside the cost of storing the same ops
//! ([`Store::append_ops`]), measured in the same run on a file-backed store.
//!
//! One partnership of four round-robin authors, one op per height: the ops
//! are appended in batches of 1,000 (as a node takes sync pages) and every
//! 6,000 ops the index is archived up to 1,000 heights behind the newest op
//! (the non-final tail stays in memory), as the memory bench's node does.
//! Prints µs per op appended and per op archived, the archive's ms per call,
//! then the cost of reads that go to the archive: an archived op's height by
//! id, an id that is not stored (it probes every run), and one author's ops
//! at one seq. Last, compaction behind a checkpoint at the archive horizon
//! ([`Store::compact_below`], in steps of the node's size): µs per op
//! compacted, beside appending, and the header read a late op's placement
//! needs of a compacted parent ([`Store::op_header`]).
//!
//! Run: `cargo bench -p polypact --bench archive` (`POLYPACT_ARCHIVE_OPS`
//! for another number of ops than 100,000).

use std::time::{Duration, Instant};

use polypact::op::{MemberKey, OpId, PartnershipId, Payload, SignedOp, UnsignedOp};
use polypact::store::Store;

/// The node binary's allocator (`src/main.rs`), so costs are a node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: u64 = 1_700_000_000_000;
const AUTHORS: usize = 4;
const BATCH: usize = 1_000;
const ARCHIVE_EVERY: usize = 6_000;
const TAIL: u64 = 1_000;
const LOOKUPS: usize = 10_000;

/// `n` ops of `AUTHORS` round-robin authors, op `i` at height `i + 1`
/// (the store does not check parents or signatures, only the partnership).
fn history(n: usize) -> (PartnershipId, Vec<(u64, SignedOp)>) {
    let keys: Vec<MemberKey> = (1..=AUTHORS as u8).map(MemberKey::from_seed).collect();
    let p = PartnershipId([0x5a; 32]);
    let mut seqs = [0u64; AUTHORS];
    let mut last = OpId([0; 32]);
    let ops = (0..n)
        .map(|i| {
            let who = i % AUTHORS;
            seqs[who] += 1;
            let op = UnsignedOp {
                partnership: p,
                author: keys[who].member_id(),
                seq: seqs[who],
                parents: vec![last],
                time_ms: T0 + i as u64,
                payload: Payload::Call {
                    module: "kv".into(),
                    msg: br#"{"add":{"key":"n","by":1}}"#.to_vec(),
                },
            }
            .sign(&keys[who]);
            last = op.id();
            (i as u64 + 1, op)
        })
        .collect();
    (p, ops)
}

/// A cheap deterministic sequence of indexes below `n`.
fn picks(n: usize, count: usize) -> Vec<usize> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

fn micros_per(took: Duration, n: usize) -> f64 {
    took.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn main() {
    let n: usize = std::env::var("POLYPACT_ARCHIVE_OPS")
        .map(|v| v.parse().expect("POLYPACT_ARCHIVE_OPS: a number"))
        .unwrap_or(100_000);
    let (p, ops) = history(n);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("archive.redb")).expect("store");

    let (mut appending, mut archiving) = (Duration::ZERO, Duration::ZERO);
    let (mut archived, mut calls, mut slowest) = (0u64, 0usize, Duration::ZERO);
    for (i, batch) in ops.chunks(BATCH).enumerate() {
        let refs: Vec<(u64, &SignedOp)> = batch.iter().map(|(h, op)| (*h, op)).collect();
        let started = Instant::now();
        store.append_ops(&p, &refs).expect("appended");
        appending += started.elapsed();
        let done = (i + 1) * BATCH;
        if done.is_multiple_of(ARCHIVE_EVERY) || done >= n {
            let horizon = batch.last().expect("a batch").0.saturating_sub(TAIL);
            let started = Instant::now();
            archived += store.archive_below(&p, horizon).expect("archived");
            let took = started.elapsed();
            archiving += took;
            slowest = slowest.max(took);
            calls += 1;
        }
    }
    assert_eq!(store.op_count(&p).expect("count"), n as u64);
    assert_eq!(store.indexed_in_memory(&p) as u64, n as u64 - archived);

    // Reads that go to the archive.
    let archived_ops = &ops[..archived as usize];
    let started = Instant::now();
    for i in picks(archived_ops.len(), LOOKUPS) {
        let (height, op) = &archived_ops[i];
        assert_eq!(store.op_height(&p, &op.id()).expect("read"), Some(*height));
    }
    let by_id = started.elapsed();
    let started = Instant::now();
    for i in picks(usize::MAX >> 1, LOOKUPS) {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        assert_eq!(store.op_height(&p, &OpId(id)).expect("read"), None);
    }
    let unknown = started.elapsed();
    let started = Instant::now();
    for i in picks(archived_ops.len(), LOOKUPS) {
        let (height, op) = &archived_ops[i];
        let found = store.op_ids_at(&p, &op.author(), op.seq()).expect("read");
        assert_eq!(found, vec![(*height, op.id())]);
    }
    let by_seq = started.elapsed();

    println!("\n== archiving the op index: {n} ops, file-backed redb, batches of {BATCH} ==");
    println!("append_ops       {:>8.2} µs per op (reference)", micros_per(appending, n));
    println!(
        "archive_below    {:>8.2} µs per op archived ({archived} ops in {calls} calls, {:.1} ms per call, slowest {:.1} ms)",
        micros_per(archiving, archived as usize),
        archiving.as_secs_f64() * 1e3 / calls.max(1) as f64,
        slowest.as_secs_f64() * 1e3,
    );
    println!(
        "archive / append {:>8.2}",
        archiving.as_secs_f64() / archived as f64 * n as f64 / appending.as_secs_f64()
    );
    println!("op_height, archived id  {:>8.2} µs", micros_per(by_id, LOOKUPS));
    println!("op_height, unknown id   {:>8.2} µs", micros_per(unknown, LOOKUPS));
    println!("op_ids_at, archived seq {:>8.2} µs", micros_per(by_seq, LOOKUPS));

    // Compaction behind a checkpoint at the archive horizon.
    let checkpoint = store.archive_horizon(&p).expect("read").expect("archived");
    let keep = std::collections::BTreeSet::new();
    let started = Instant::now();
    let (mut compacted, mut steps) = (0u64, 0usize);
    loop {
        let step = store
            .compact_below(&p, checkpoint, b"certificate", &keep, polypact::node::COMPACT_OPS_PER_STEP)
            .expect("compacted");
        compacted += step.compacted;
        steps += 1;
        if step.done {
            break;
        }
    }
    let compacting = started.elapsed();
    assert_eq!(compacted, checkpoint);
    let started = Instant::now();
    for i in picks(archived_ops.len(), LOOKUPS) {
        let (height, op) = &archived_ops[i];
        let (found, header) = store.op_header(&p, &op.id()).expect("read").expect("a header");
        assert_eq!((found, header), (*height, op.header()));
    }
    let headers = started.elapsed();
    println!(
        "compact_below    {:>8.2} µs per op compacted ({compacted} ops in {steps} steps, {:.1} ms per step)",
        micros_per(compacting, compacted as usize),
        compacting.as_secs_f64() * 1e3 / steps.max(1) as f64,
    );
    println!(
        "compact / append {:>8.2}",
        compacting.as_secs_f64() / compacted as f64 * n as f64 / appending.as_secs_f64()
    );
    println!("op_header, compacted op {:>8.2} µs", micros_per(headers, LOOKUPS));
}
