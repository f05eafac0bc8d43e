//! Ingest throughput of the core: decode, verify, insert, order, execute a
//! trivial native module, persist in batches — beside raw `verify_strict` on
//! one core, on the same machine in the same run. Two ways: *pipelined*, as
//! a node's sync takes pages (the next batch is decoded and its signatures
//! checked on all cores while this one is inserted, executed and stored),
//! and *batched* (each batch's signatures checked on all cores, then its
//! graph work, in turn).
//!
//! Run: `cargo bench -p polypact --bench ingest` (set `POLYPACT_BENCH_FULL=1`
//! to include the 1,000,000-op scaling point). Prints ops/s, the ratio to
//! `verify_strict`, per-op cost from 10k ops up (split into graph, store and
//! snapshot work), and the cost of a late op against the length of the
//! non-final tail it reorders. `POLYPACT_BENCH_SIZES=30000,300000` measures
//! other sizes, `POLYPACT_BENCH_CACHES=8,128` other store page caches (MiB),
//! one run of every size each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use polypact::ledger::testing::{kv_executor as executor, kv_genesis};
use polypact::ledger::{Ledger, LedgerConfig, Origin, StoreArchive};
use polypact::op::{
    Limits, MemberKey, OpId, Payload, SignedOp, UnsignedOp, check_signatures, decode_signed_op,
};
use polypact::store::{Store, StoreOptions};

/// The node binary's allocator (`src/main.rs`), so the serial part costs
/// what it costs in a node.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: u64 = 1_700_000_000_000;
const AUTHORS: usize = 4;
const BATCH: usize = 1_000;

struct Fixture {
    keys: Vec<MemberKey>,
    genesis: SignedOp,
}

fn fixture() -> Fixture {
    let keys: Vec<MemberKey> = (1..=AUTHORS as u8).map(MemberKey::from_seed).collect();
    let genesis = kv_genesis("bench", &keys, T0);
    Fixture { keys, genesis }
}

/// `n` ops after genesis: round-robin authors, each on the previous op and
/// its own previous op, so finality advances as they arrive. `silent` stops
/// one author after `silent_after` ops (its ops are left out), so the tail
/// grows. Returns encoded ops.
fn generate(f: &Fixture, n: usize, silent_after: Option<usize>) -> Vec<Vec<u8>> {
    let partnership = f.genesis.partnership();
    let mut out = Vec::with_capacity(n);
    let mut last: OpId = f.genesis.id();
    let mut own_last: [Option<OpId>; AUTHORS] = [None; AUTHORS];
    let mut seqs = [0u64; AUTHORS];
    // The genesis is author 0's first op.
    own_last[0] = Some(f.genesis.id());
    seqs[0] = 1;
    let msg = br#"{"add":{"key":"n","by":1}}"#.to_vec();
    let mut i = 0usize;
    while out.len() < n {
        let who = i % AUTHORS;
        i += 1;
        if who == AUTHORS - 1 && silent_after.is_some_and(|after| out.len() >= after) {
            continue;
        }
        seqs[who] += 1;
        let mut parents = vec![last];
        if let Some(own) = own_last[who]
            && own != last
        {
            parents.push(own);
        }
        parents.sort();
        let op = UnsignedOp {
            partnership,
            author: f.keys[who].member_id(),
            seq: seqs[who],
            parents,
            time_ms: T0 + out.len() as u64 + 1,
            payload: Payload::Call { module: "kv".into(), msg: msg.clone() },
        }
        .sign(&f.keys[who]);
        last = op.id();
        own_last[who] = Some(op.id());
        out.push(op.encode());
    }
    out
}

/// Time spent per phase of [`ingest`]: waiting for the next batch (decode
/// and signature checks, when they are not pipelined), graph and ledger
/// work, store append, final snapshot.
type Phases = [Duration; 4];

/// How [`ingest`] gets a batch's signatures checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Decode a batch, then [`Ledger::insert_batch`] checks its signatures
    /// on all cores before its graph work: the cores take turns.
    Batched,
    /// As a node's sync does: a second thread decodes batch N+1 and checks
    /// its signatures on all cores ([`check_signatures`]) while batch N is
    /// inserted, executed and stored; `insert_batch` only looks the
    /// verdicts up.
    Pipelined,
}

fn decode_batch(chunk: &[Vec<u8>]) -> Vec<SignedOp> {
    let limits = Limits::default();
    chunk.iter().map(|bytes| decode_signed_op(bytes, &limits).expect("decodes")).collect()
}

/// The whole pipeline over `ops`, a batch at a time as a node takes a sync
/// page (decode, [`Ledger::insert_batch`], then one store commit, the
/// final snapshot, and final ops leaving memory with the store's index of
/// them); returns elapsed time and the time per phase.
fn ingest(f: &Fixture, ops: &[Vec<u8>], store: &Arc<Store>, mode: Mode) -> (Duration, Phases) {
    let start = Instant::now();
    let mut ledger = Ledger::new(f.genesis.clone(), executor(), LedgerConfig::default()).expect("genesis");
    let partnership = ledger.partnership();
    store.append_ops(&partnership, &[(0, &f.genesis)]).expect("genesis stored");
    ledger.set_archive(Arc::new(StoreArchive::new(Arc::clone(store), partnership)));
    let now = u64::MAX / 2;
    let mut phases: Phases = [Duration::ZERO; 4];
    std::thread::scope(|scope| {
        let mut batches: Box<dyn Iterator<Item = Vec<SignedOp>>> = match mode {
            Mode::Batched => Box::new(ops.chunks(BATCH).map(decode_batch)),
            Mode::Pipelined => {
                // One batch checked ahead, one waiting: bounded, as sync is.
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<SignedOp>>(1);
                scope.spawn(move || {
                    for chunk in ops.chunks(BATCH) {
                        let batch = decode_batch(chunk);
                        check_signatures(&batch);
                        if tx.send(batch).is_err() {
                            break;
                        }
                    }
                });
                Box::new(rx.into_iter())
            }
        };
        loop {
            let t0 = Instant::now();
            let Some(decoded) = batches.next() else { break };
            let t1 = Instant::now();
            let accepted: Vec<(u64, Arc<SignedOp>)> = ledger
                .insert_batch(decoded, Origin::Fresh, now)
                .into_iter()
                .flat_map(|result| result.expect("accepted").accepted)
                .map(|(id, height)| (height, Arc::clone(&ledger.dag().get(&id).expect("in the graph").op)))
                .collect();
            let t2 = Instant::now();
            let refs: Vec<(u64, &SignedOp)> = accepted.iter().map(|(h, op)| (*h, op.as_ref())).collect();
            store.append_ops(&partnership, &refs).expect("persist");
            let t3 = Instant::now();
            ledger.save_final_and_forget(store).expect("snapshot");
            ledger.drain_notifications();
            let t4 = Instant::now();
            for (phase, took) in phases.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
                *phase += took;
            }
        }
    });
    (start.elapsed(), phases)
}

fn verify_only(ops: &[SignedOp]) -> Duration {
    let start = Instant::now();
    for op in ops {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&op.author().0).expect("key");
        let mut message = b"polypact/op/v1:".to_vec();
        message.extend_from_slice(&op.id().0);
        let sig = ed25519_dalek::Signature::from_bytes(op.signature());
        key.verify_strict(&message, &sig).expect("valid");
    }
    start.elapsed()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn criterion_benches(c: &mut Criterion) {
    let f = fixture();
    let ops = generate(&f, 2_000, None);
    let decoded: Vec<SignedOp> =
        ops.iter().map(|b| decode_signed_op(b, &Limits::default()).expect("decodes")).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(ops.len() as u64));
    group.sample_size(10);
    group.bench_function("verify_strict (reference)", |b| b.iter(|| verify_only(&decoded)));
    for (name, mode) in [
        ("end to end, batched (decode, verify, insert, execute, persist)", Mode::Batched),
        ("end to end, pipelined (verify N+1 while N is inserted)", Mode::Pipelined),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || Arc::new(Store::open_in_memory().expect("store")),
                |store| ingest(&f, &ops, &store, mode).0,
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn scaling_report() {
    let f = fixture();
    let full = std::env::var("POLYPACT_BENCH_FULL").is_ok_and(|v| v == "1");
    let mut sizes = vec![10_000, 100_000];
    if full {
        sizes.push(1_000_000);
    }
    // `POLYPACT_BENCH_SIZES=30000,300000` measures other sizes (for profiling).
    if let Ok(list) = std::env::var("POLYPACT_BENCH_SIZES") {
        sizes = list.split(',').map(|n| n.trim().parse().expect("POLYPACT_BENCH_SIZES: numbers")).collect();
    }
    // `POLYPACT_BENCH_CACHES=8,128`: the store's page cache, in MiB, one
    // run of every size per cache (default: the store's default).
    let caches: Vec<StoreOptions> = match std::env::var("POLYPACT_BENCH_CACHES") {
        Ok(list) => list
            .split(',')
            .map(|mib| {
                let mib: usize = mib.trim().parse().expect("POLYPACT_BENCH_CACHES: MiB numbers");
                let mut options = StoreOptions::default();
                options.cache_bytes = mib << 20;
                options
            })
            .collect(),
        Err(_) => vec![StoreOptions::default()],
    };
    for options in &caches {
        scaling_report_with(&f, &sizes, options);
    }
    late_op_report(&f);
}

fn scaling_report_with(f: &Fixture, sizes: &[usize], options: &StoreOptions) {
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "\n== ingest scaling (file-backed redb, fsync per batch of {BATCH}, page cache {} MiB) ==",
        options.cache_bytes >> 20
    );
    println!("reference: verify_strict alone over the same ops, on one core, in the same run");
    println!(
        "{:>10} {:>10} {:>14} {:>14} {:>10} {:>8}",
        "ops", "mode", "ingest ops/s", "verify ops/s", "µs/op", "ratio"
    );
    println!(
        "           (µs/op by phase on the inserting thread: wait = decode + verify when not pipelined)"
    );
    for (i, &n) in sizes.iter().enumerate() {
        let ops = generate(f, n, None);
        for (m, (label, mode)) in
            [("pipelined", Mode::Pipelined), ("batched", Mode::Batched)].into_iter().enumerate()
        {
            // The reference just before each figure: this machine's speed drifts.
            let decoded = decode_batch(&ops);
            let verify = verify_only(&decoded);
            drop(decoded);
            let path = dir.path().join(format!("ingest-{i}-{m}.redb"));
            let store = Arc::new(Store::open_with(&path, options).expect("store"));
            let (took, phases) = ingest(f, &ops, &store, mode);
            drop(store);
            // A restart: the store's in-memory index of the ops is built on first
            // use, from one read of the partnership's op records.
            let store = Store::open_with(&path, options).expect("store");
            let started = Instant::now();
            let count = store.op_count(&f.genesis.partnership()).expect("op count");
            let reindex = started.elapsed();
            assert!(count >= n as u64, "every op is stored: {count} of {n}");
            let per_op = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
            println!(
                "{:>10} {:>10} {:>14.0} {:>14.0} {:>10.2} {:>8.2}   (µs/op: wait {:.1}, graph {:.1}, store {:.1}, snapshot {:.1}; index at restart {:.2})",
                n,
                label,
                rate(n, took),
                rate(n, verify),
                per_op(took),
                rate(n, took) / rate(n, verify),
                per_op(phases[0]),
                per_op(phases[1]),
                per_op(phases[2]),
                per_op(phases[3]),
                per_op(reindex)
            );
        }
    }
}

fn late_op_report(f: &Fixture) {
    println!("\n== a late op that reorders the non-final tail ==");
    println!("{:>10} {:>10} {:>14}", "history", "tail", "insert µs");
    for &(history, tail) in &[(10_000, 100), (10_000, 1_000), (10_000, 10_000), (100_000, 1_000)] {
        let ops = generate(f, history + tail, Some(history));
        let mut ledger =
            Ledger::new(f.genesis.clone(), executor(), LedgerConfig::default()).expect("genesis");
        let limits = Limits::default();
        let mut silent_last: Option<SignedOp> = None;
        for bytes in &ops {
            let op = decode_signed_op(bytes, &limits).expect("decodes");
            if op.author() == f.keys[AUTHORS - 1].member_id() {
                silent_last = Some(op.clone());
            }
            ledger.insert(op, u64::MAX / 2).expect("accepted");
            ledger.drain_notifications();
        }
        let last = silent_last.expect("the silent author wrote before going quiet");
        // The silent author comes back with an op on its own last op: it
        // sorts before the whole tail above that height.
        let late = UnsignedOp {
            partnership: ledger.partnership(),
            author: last.author(),
            seq: last.seq() + 1,
            parents: vec![last.id()],
            time_ms: last.op().time_ms,
            payload: Payload::Call { module: "kv".into(), msg: br#"{"add":{"key":"n","by":1}}"#.to_vec() },
        }
        .sign(&f.keys[AUTHORS - 1]);
        let start = Instant::now();
        ledger.insert(late, u64::MAX / 2).expect("accepted");
        let took = start.elapsed();
        println!("{:>10} {:>10} {:>14.1}", history, tail, took.as_secs_f64() * 1e6);
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    scaling_report();
}
