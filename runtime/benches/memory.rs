//! Memory of a node's ledger and store against the length of the history
//! (issue 26, item 2): one partnership ingests `n` ops as a node takes
//! sync pages (insert a batch, persist it, save the final snapshot, let
//! final ops leave memory), and the process's resident memory is read at
//! the end. Each size runs in a fresh child process, so one size's
//! allocations do not colour another's figure; the reference is the
//! smallest size, measured in the same run.
//!
//! Run: `cargo bench -p polypact --bench memory` (100,000 and 1,000,000
//! ops; `POLYPACT_MEMORY_SIZES=10000,100000` for others; the store's page
//! cache at its default, 8 MiB, and at 128 MiB, or at the MiB listed in
//! `POLYPACT_MEMORY_CACHES=4,16`). Prints, per size:
//! resident memory at the end and its peak, the ops the ledger still holds,
//! the store's in-memory index entries (ops above its archive horizon), the
//! final height, the time taken, the time a restart takes to reopen the
//! store (without its check of the whole file) and rebuild the ledger, and
//! the time the store's open takes with that check; then the ratio
//! of the largest size's memory to the smallest's. A last row holds every op
//! in memory (no archive), as the ledger did before, for comparison.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use polypact::ledger::testing::{kv_executor, kv_genesis};
use polypact::ledger::{Ledger, LedgerConfig, Origin, StoreArchive};
use polypact::op::{MemberKey, OpId, Payload, SignedOp, UnsignedOp};
use polypact::store::{Store, StoreOptions};

/// The node binary's allocator (`src/main.rs`), so memory is what a node's is.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: u64 = 1_700_000_000_000;
const AUTHORS: usize = 4;
const BATCH: usize = 1_000;
const CHILD: &str = "POLYPACT_MEMORY_CHILD";

/// Ops of `AUTHORS` round-robin authors, each on the previous op and its own
/// previous one (finality advances as they arrive), signed as they are asked
/// for: the history is never all in memory at once.
struct Generator {
    keys: Vec<MemberKey>,
    genesis: SignedOp,
    last: OpId,
    own_last: [Option<OpId>; AUTHORS],
    seqs: [u64; AUTHORS],
    made: u64,
}

impl Generator {
    fn new() -> Generator {
        let keys: Vec<MemberKey> = (1..=AUTHORS as u8).map(MemberKey::from_seed).collect();
        let genesis = kv_genesis("memory", &keys, T0);
        let mut own_last = [None; AUTHORS];
        own_last[0] = Some(genesis.id());
        let mut seqs = [0; AUTHORS];
        seqs[0] = 1;
        Generator { last: genesis.id(), keys, genesis, own_last, seqs, made: 0 }
    }

    fn batch(&mut self, n: usize) -> Vec<SignedOp> {
        let msg = br#"{"add":{"key":"n","by":1}}"#.to_vec();
        (0..n)
            .map(|_| {
                let who = (self.made % AUTHORS as u64) as usize;
                self.made += 1;
                self.seqs[who] += 1;
                let mut parents = vec![self.last];
                if let Some(own) = self.own_last[who]
                    && own != self.last
                {
                    parents.push(own);
                }
                parents.sort();
                let op = UnsignedOp {
                    partnership: self.genesis.partnership(),
                    author: self.keys[who].member_id(),
                    seq: self.seqs[who],
                    parents,
                    time_ms: T0 + self.made,
                    payload: Payload::Call { module: "kv".into(), msg: msg.clone() },
                }
                .sign(&self.keys[who]);
                self.last = op.id();
                self.own_last[who] = Some(op.id());
                op
            })
            .collect()
    }
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field is there")
}

/// The child: ingests `n` ops and prints one line of figures. `cache_mib`:
/// the store's page cache (`None`: the default a node uses).
fn child(n: usize, archive: bool, cache_mib: Option<usize>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = StoreOptions::default();
    if let Some(mib) = cache_mib {
        options.cache_bytes = mib << 20;
    }
    let store = Arc::new(Store::open_with(&dir.path().join("memory.redb"), &options).expect("store"));
    let mut generator = Generator::new();
    let executor = kv_executor();
    let mut ledger =
        Ledger::new(generator.genesis.clone(), executor, LedgerConfig::default()).expect("genesis");
    let partnership = ledger.partnership();
    store.append_ops(&partnership, &[(0, &generator.genesis)]).expect("genesis stored");
    if archive {
        ledger.set_archive(Arc::new(StoreArchive::new(Arc::clone(&store), partnership)));
    }
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = generator.batch(BATCH.min(n - done));
        done += batch.len();
        let accepted: Vec<(u64, Arc<SignedOp>)> = ledger
            .insert_batch(batch, Origin::Fresh, u64::MAX / 2)
            .into_iter()
            .flat_map(|result| result.expect("accepted").accepted)
            .map(|(id, height)| (height, ledger.dag().get(&id).expect("in the graph").op))
            .collect();
        let refs: Vec<(u64, &SignedOp)> = accepted.iter().map(|(h, op)| (*h, op.as_ref())).collect();
        store.append_ops(&partnership, &refs).expect("persist");
        ledger.save_final_and_forget(&store).expect("snapshot");
        ledger.drain_notifications();
    }
    let took = started.elapsed();
    let (rss, peak) = (status_kib("VmRSS"), status_kib("VmHWM"));
    let (held, indexed, final_height) =
        (ledger.dag().held_len(), store.indexed_in_memory(&partnership), ledger.final_height());
    // A restart: the store reopened and the ledger rebuilt from it, first
    // without the store's check of the whole file, then the check alone.
    let path = dir.path().join("memory.redb");
    drop(ledger);
    drop(store);
    let mut unchecked = options.clone();
    unchecked.verify_on_open = false;
    let restarted = Instant::now();
    let store = Arc::new(Store::open_with(&path, &unchecked).expect("store"));
    let executor = kv_executor();
    let ledger = if archive {
        Ledger::open_with_archive(&store, &partnership, executor, LedgerConfig::default())
    } else {
        Ledger::open(&store, &partnership, executor, LedgerConfig::default())
    }
    .expect("reopens");
    let restart = restarted.elapsed();
    assert_eq!(ledger.final_height(), final_height, "the restart rebuilt the same ledger");
    drop(ledger);
    drop(store);
    let checking = Instant::now();
    drop(Store::open_with(&path, &options).expect("the file checks"));
    let check = checking.elapsed();
    println!(
        "figures {n} {rss} {peak} {held} {indexed} {final_height} {:.1} {:.3} {:.3}",
        took.as_secs_f64(),
        restart.as_secs_f64(),
        check.as_secs_f64()
    );
}

struct Figures {
    rss_kib: u64,
    peak_kib: u64,
    held: u64,
    indexed: u64,
    final_height: u64,
    seconds: f64,
    /// Store reopened without the whole-file check, ledger rebuilt.
    restart_seconds: f64,
    /// The store opened with its check of the whole file
    /// (`StoreOptions::verify_on_open`, on by default).
    check_seconds: f64,
}

/// Runs the child for `n` ops and reads its line.
fn measure(n: usize, archive: bool, cache_mib: Option<usize>) -> Figures {
    let exe = std::env::current_exe().expect("this bench's path");
    let cache = cache_mib.map_or("default".to_owned(), |mib| mib.to_string());
    let output =
        Command::new(exe).env(CHILD, format!("{n},{archive},{cache}")).output().expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find_map(|l| l.strip_prefix("figures ")).expect("a figures line");
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| f[i].parse::<u64>().expect("a number");
    Figures {
        rss_kib: num(1),
        peak_kib: num(2),
        held: num(3),
        indexed: num(4),
        final_height: num(5),
        seconds: f[6].parse().expect("seconds"),
        restart_seconds: f[7].parse().expect("seconds"),
        check_seconds: f[8].parse().expect("seconds"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let parts: Vec<&str> = spec.split(',').collect();
        let [n, archive, cache] = parts[..] else { panic!("{CHILD}: n,archive,cache") };
        child(n.parse().expect("n"), archive == "true", cache.parse().ok());
        return;
    }
    // `cargo bench` passes `--bench`; any other filter is ignored.
    let sizes: Vec<usize> = match std::env::var("POLYPACT_MEMORY_SIZES") {
        Ok(list) => {
            list.split(',').map(|n| n.trim().parse().expect("POLYPACT_MEMORY_SIZES: numbers")).collect()
        }
        Err(_) => vec![100_000, 1_000_000],
    };
    println!("\n== memory against history: one partnership, file-backed redb, batches of {BATCH} ==");
    println!(
        "{:>10} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>8}",
        "ops",
        "graph",
        "cache",
        "RSS MiB",
        "peak MiB",
        "held ops",
        "indexed",
        "final h",
        "s",
        "restart s",
        "check s"
    );
    let smallest = sizes.iter().copied().min().expect("a size");
    let largest = sizes.iter().copied().max().expect("a size");
    // The store's page cache is bounded (8 MiB by default) and fills as
    // the file grows; the larger bound shows how it fills with history.
    // `POLYPACT_MEMORY_CACHES=4,16`: other page caches, in MiB.
    let caches: Vec<Option<usize>> = match std::env::var("POLYPACT_MEMORY_CACHES") {
        Ok(list) => list
            .split(',')
            .map(|mib| Some(mib.trim().parse().expect("POLYPACT_MEMORY_CACHES: MiB numbers")))
            .collect(),
        Err(_) => vec![None, Some(128)],
    };
    for cache_mib in caches {
        let cache = format!("{} MiB", cache_mib.unwrap_or(polypact::store::DEFAULT_CACHE_MIB));
        let mut rss = Vec::new();
        for &n in &sizes {
            let f = measure(n, true, cache_mib);
            print_row(n, "forgetting", &cache, &f);
            rss.push((n, f.rss_kib));
        }
        let at = |size: usize| rss.iter().find(|(n, _)| *n == size).map_or(0, |(_, kib)| *kib) as f64;
        println!(
            "RSS at {largest} ops vs {smallest} (reference, same run), {cache} cache: {:.2}x (target: within 20%)",
            at(largest) / at(smallest)
        );
    }
    let default_cache = format!("{} MiB", polypact::store::DEFAULT_CACHE_MIB);
    print_row(smallest, "holding all", &default_cache, &measure(smallest, false, None));
}

fn print_row(n: usize, graph: &str, cache: &str, f: &Figures) {
    println!(
        "{:>10} {:>12} {:>8} {:>9.1} {:>9.1} {:>9} {:>9} {:>9} {:>7.1} {:>9.3} {:>8.3}",
        n,
        graph,
        cache,
        f.rss_kib as f64 / 1024.0,
        f.peak_kib as f64 / 1024.0,
        f.held,
        f.indexed,
        f.final_height,
        f.seconds,
        f.restart_seconds,
        f.check_seconds
    );
}
