//! Benchmarks of the WASM host (`polypact::host`).
//!
//! Run: `cargo bench -p polypact --bench host`.
//!
//! - `invoke/*`: one `handle` end to end (fresh instance from the
//!   `InstancePre`, input written, call, output read and decoded, store
//!   dropped), for the empty module and for the counter module (five host
//!   calls). Each group is one place to add further executors for the same
//!   workload (for example the native executor, to compare WASM with native).
//! - `cold_start/*`: a new executor taking five modules, compiled from WASM
//!   against loaded from the on-disk cache, measured side by side.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use polypact::host::{HostConfig, WasmExecutor};
use polypact::ledger::{Executor, HostEnv, Invocation};
use polypact::op::CodeHash;
use polypact_sdk::abi::{Entry, Env, Event, Info, Input, QueryResult};

const EMPTY_WAT: &str = include_str!("../tests/fixtures/host/empty.wat");
const COUNTER_WAT: &str = include_str!("../tests/fixtures/host/counter.wat");
const FUEL: u64 = 10_000_000;

/// A `BTreeMap` state; everything else is dropped.
#[derive(Default)]
struct MapEnv {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl HostEnv for MapEnv {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).cloned()
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        self.state.remove(key);
        Ok(())
    }
    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state
            .range(start.to_vec()..)
            .filter(|(k, _)| k.starts_with(prefix))
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    fn query(&mut self, _module: &str, _msg: &[u8], _fuel: u64) -> (QueryResult, u64) {
        (Err("no modules".into()), 0)
    }
    fn emit(&mut self, _event: Event) {}
    fn log(&mut self, _line: &str) {}
}

fn input() -> Input {
    Input {
        env: Env {
            partnership: "ab".repeat(32),
            module: "bench".into(),
            height: 7,
            time_ms: 1_700_000_000_000,
        },
        info: Some(Info { caller: "pm1bench".into(), sender_module: None, op_id: "cd".repeat(32), seq: 3 }),
        msg: br#"{"go":{}}"#.to_vec(),
    }
}

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("bench WAT parses")
}

/// Benches `handle` of each executor's code, under `group_name/<label>`.
fn bench_handle(c: &mut Criterion, group_name: &str, executors: &[(&str, &dyn Executor, CodeHash)]) {
    let input = input();
    let mut group = c.benchmark_group(group_name);
    for (label, executor, code) in executors {
        let mut env = MapEnv::default();
        group.bench_function(*label, |b| {
            b.iter(|| {
                let call = Invocation { code, entry: Entry::Handle, input: &input, fuel: FUEL };
                black_box(executor.invoke(call, &mut env).expect("handle runs"))
            })
        });
    }
    group.finish();
}

fn invoke(c: &mut Criterion) {
    let executor = WasmExecutor::new(HostConfig::default()).expect("executor starts");
    let empty = executor.add_code(&wasm(EMPTY_WAT)).expect("valid");
    let counter = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    bench_handle(c, "invoke/empty_handle", &[("wasm", &executor, empty)]);
    bench_handle(c, "invoke/counter_handle", &[("wasm", &executor, counter)]);
}

/// Five distinct modules (the counter with a different marker each).
fn five_modules() -> Vec<Vec<u8>> {
    (0..5)
        .map(|i| {
            wasm(&COUNTER_WAT.replacen(
                "(memory",
                &format!("(global $marker{i} i32 (i32.const {i}))\n  (memory"),
                1,
            ))
        })
        .collect()
}

fn start_and_add(cache_dir: Option<&Path>, modules: &[Vec<u8>]) -> WasmExecutor {
    let config = match cache_dir {
        Some(dir) => HostConfig::with_cache_dir(dir),
        None => HostConfig::default(),
    };
    let executor = WasmExecutor::new(config).expect("executor starts");
    for module in modules {
        executor.add_code(module).expect("valid");
    }
    executor
}

fn cold_start(c: &mut Criterion) {
    let modules = five_modules();
    let dir = tempfile::tempdir().expect("temp dir");
    // Fill the cache once.
    drop(start_and_add(Some(dir.path()), &modules));

    let mut group = c.benchmark_group("cold_start/5_modules");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter_batched(|| (), |()| black_box(start_and_add(None, &modules)), BatchSize::PerIteration)
    });
    group.bench_function("from_disk_cache", |b| {
        b.iter_batched(
            || (),
            |()| {
                let executor = start_and_add(Some(dir.path()), &modules);
                assert_eq!(executor.stats().compiled, 0, "the cache was not used");
                black_box(executor)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = invoke, cold_start }
criterion_main!(benches);
