//! Tests of the WASM host with hand-written WAT modules and a
//! `BTreeMap`-backed [`HostEnv`] double.
//!
//! `basics` covers the happy paths and host functions, `adversarial` the
//! modules that must fail deterministically, `cache` the on-disk cache.

mod adversarial;
mod background;
mod basics;
mod cache;

use std::collections::BTreeMap;

use polypact_sdk::abi::{Entry, Env, Event, Info, Input, QueryResult};

use super::{HostConfig, WasmExecutor};
use crate::ledger::{ExecError, Executor, HostEnv, Invocation, Invoked};
use crate::op::CodeHash;

/// The counter module (see the fixture's header).
pub(super) const COUNTER_WAT: &str = include_str!("../../../tests/fixtures/host/counter.wat");
/// The module with empty entry points.
pub(super) const EMPTY_WAT: &str = include_str!("../../../tests/fixtures/host/empty.wat");

/// Fuel for ordinary test invocations.
pub(super) const FUEL: u64 = 10_000_000;

/// A host environment over a `BTreeMap`, recording everything.
#[derive(Default)]
pub(super) struct TestEnv<'a> {
    pub(super) state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(super) events: Vec<Event>,
    pub(super) logs: Vec<String>,
    /// Query mode: writes are refused.
    pub(super) read_only: bool,
    /// What `query` answers: a fixed result and fuel, or a nested call of
    /// the query entry of a real module.
    pub(super) answer: Answer<'a>,
    /// The queries asked: module, message, fuel offered.
    pub(super) queries: Vec<(String, Vec<u8>, u64)>,
}

/// How [`TestEnv`] answers a query.
#[derive(Default)]
pub(super) enum Answer<'a> {
    /// `Err("no modules")`, no fuel.
    #[default]
    Nothing,
    /// A fixed result and the fuel it claims to have used.
    Fixed(QueryResult, u64),
    /// Runs the query entry of `code` on `executor`, against an empty state.
    Nested(&'a WasmExecutor, CodeHash),
}

impl HostEnv for TestEnv<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).cloned()
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot write state".into());
        }
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot write state".into());
        }
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

    fn query(&mut self, module: &str, msg: &[u8], fuel: u64) -> (QueryResult, u64) {
        self.queries.push((module.to_owned(), msg.to_vec(), fuel));
        match &self.answer {
            Answer::Nothing => (Err("no modules".into()), 0),
            Answer::Fixed(result, used) => (result.clone(), *used),
            Answer::Nested(executor, code) => {
                let mut inner = TestEnv { read_only: true, ..TestEnv::default() };
                let input = input(msg);
                let call = Invocation { code, entry: Entry::Query, input: &input, fuel };
                match executor.invoke(call, &mut inner) {
                    Ok(Invoked { output: crate::ledger::Output::Query(result), fuel_used }) => {
                        (result, fuel_used)
                    }
                    Ok(other) => (Err(format!("unexpected output {other:?}")), fuel),
                    Err(e) => (Err(e.to_string()), fuel),
                }
            }
        }
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    fn log(&mut self, line: &str) {
        self.logs.push(line.to_owned());
    }
}

/// An executor for tests: few instance slots, no cache.
pub(super) fn executor() -> WasmExecutor {
    WasmExecutor::new(small_config()).expect("executor starts")
}

/// The test configuration: the default with few instance slots.
pub(super) fn small_config() -> HostConfig {
    HostConfig { max_instances: 8, ..HostConfig::default() }
}

/// WAT text to a WASM binary.
pub(super) fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test WAT parses")
}

/// A typical input with `msg`.
pub(super) fn input(msg: &[u8]) -> Input {
    Input {
        env: Env {
            partnership: "ab".repeat(32),
            module: "counter".into(),
            height: 7,
            time_ms: 1_700_000_000_000,
        },
        info: Some(Info { caller: "pm1test".into(), sender_module: None, op_id: "cd".repeat(32), seq: 3 }),
        msg: msg.to_vec(),
    }
}

/// Runs `entry` of `code` with `fuel` against `env`.
pub(super) fn run(
    executor: &WasmExecutor,
    code: &CodeHash,
    entry: Entry,
    env: &mut TestEnv<'_>,
    fuel: u64,
) -> Result<Invoked, ExecError> {
    let input = input(br#"{"go":{}}"#);
    executor.invoke(Invocation { code, entry, input: &input, fuel }, env)
}

/// Every import of the ABI, for modules that want them.
pub(super) const IMPORTS_WAT: &str = r#"
  (import "polypact" "db_get" (func $db_get (param i32 i32) (result i64)))
  (import "polypact" "db_set" (func $db_set (param i32 i32 i32 i32)))
  (import "polypact" "db_remove" (func $db_remove (param i32 i32)))
  (import "polypact" "db_scan" (func $db_scan (param i32 i32 i32 i32 i32) (result i64)))
  (import "polypact" "query" (func $query (param i32 i32 i32 i32) (result i64)))
  (import "polypact" "take_result" (func $take_result (param i32)))
  (import "polypact" "emit_event" (func $emit_event (param i32 i32)))
  (import "polypact" "debug_log" (func $debug_log (param i32 i32)))
"#;

/// A module with every import, memory, the ABI version export, a bump
/// allocator, the constant outputs `Ok(Response::default())` at 0 (4 bytes)
/// and `Ok([])` at 16 (2 bytes), scratch space from 1024, and `body`.
pub(super) fn module_with(body: &str) -> String {
    format!(
        r#"(module
  {IMPORTS_WAT}
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 0) "\00\00\00\00")
  (data (i32.const 16) "\00\00")
  (func (export "polypact_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
  {body}
)"#
    )
}

/// A full module whose `handle` runs `handle_body` (params `$ptr`, `$len`,
/// result `i64`); the other entry points return `Ok` at once.
pub(super) fn handle_module(handle_body: &str) -> String {
    module_with(&format!(
        r#"
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 0x10_0000_0002))
  (func (export "polypact_handle") (param $ptr i32) (param $len i32) (result i64)
    {handle_body})"#
    ))
}

/// Checks that a good module still runs on `executor` after a failure.
pub(super) fn still_works(executor: &WasmExecutor) {
    let code = executor.add_code(&wasm(COUNTER_WAT)).expect("counter is valid");
    let mut env = TestEnv::default();
    let done = run(executor, &code, Entry::Handle, &mut env, FUEL).expect("counter runs");
    assert_eq!(done.output, crate::ledger::Output::Response(Ok(Default::default())));
    assert_eq!(env.state.get(b"count".as_slice()), Some(&1u64.to_le_bytes().to_vec()));
}
