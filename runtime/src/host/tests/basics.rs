//! The happy paths: the counter module, every host function, fuel.

use polypact_sdk::abi::{Entry, Event, Response};

use super::*;
use crate::host::cost;
use crate::ledger::Output;

#[test]
fn executor_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<WasmExecutor>();
}

#[test]
fn counter_counts_stores_its_input_emits_and_logs() {
    let executor = executor();
    let code = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    assert_eq!(code, CodeHash::of(&wasm(COUNTER_WAT)));
    assert!(executor.has_code(&code));
    assert_eq!(executor.code_hashes(), vec![code]);

    let mut env = TestEnv::default();
    let init = run(&executor, &code, Entry::Init, &mut env, FUEL).expect("init runs");
    assert_eq!(init.output, Output::Response(Ok(Response::default())));
    assert!(env.state.is_empty());

    let query = run(&executor, &code, Entry::Query, &mut env, FUEL).expect("query runs");
    assert_eq!(query.output, Output::Query(Ok(vec![])));

    for _ in 0..2 {
        let done = run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("handle runs");
        assert_eq!(done.output, Output::Response(Ok(Response::default())));
        assert!(done.fuel_used > 0 && done.fuel_used < FUEL);
    }
    let expected_input = postcard::to_allocvec(&input(br#"{"go":{}}"#)).expect("encodes");
    assert_eq!(env.state.get(b"input".as_slice()), Some(&expected_input));
    assert_eq!(env.state.get(b"count".as_slice()), Some(&2u64.to_le_bytes().to_vec()));
    let counted = Event { kind: "counted".into(), attributes: vec![] };
    assert_eq!(env.events, vec![counted.clone(), counted]);
    assert_eq!(env.logs, vec!["counting".to_owned(), "counting".to_owned()]);

    let query = run(&executor, &code, Entry::Query, &mut env, FUEL).expect("query runs");
    assert_eq!(query.output, Output::Query(Ok(2u64.to_le_bytes().to_vec())));
}

#[test]
fn adding_code_twice_keeps_one_copy() {
    let executor = executor();
    let first = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    let second = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    assert_eq!(first, second);
    assert_eq!(executor.code_hashes().len(), 1);
    assert_eq!(executor.stats().compiled, 1);
}

#[test]
fn unknown_code_is_missing() {
    let executor = executor();
    let code = CodeHash::of(b"never added");
    let mut env = TestEnv::default();
    let err = run(&executor, &code, Entry::Handle, &mut env, FUEL).expect_err("no such code");
    assert_eq!(err, ExecError::MissingCode(code));
}

#[test]
fn fuel_is_the_same_on_every_run_and_every_executor() {
    let (a, b) = (executor(), executor());
    let mut used = Vec::new();
    for executor in [&a, &b, &a] {
        let code = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
        let mut env = TestEnv::default();
        let first = run(executor, &code, Entry::Handle, &mut env, FUEL).expect("runs").fuel_used;
        let second = run(executor, &code, Entry::Handle, &mut env, FUEL).expect("runs").fuel_used;
        used.push((first, second));
    }
    assert!(used.iter().all(|u| *u == used[0]), "{used:?}");
    // The second run reads an 8-byte value and copies it: exactly the
    // host's per-byte costs more, plus the instructions of the copy path.
    let (first, second) = used[0];
    assert!(second > first + cost::CALL, "{first} {second}");
}

#[test]
fn the_budget_it_used_is_enough_and_half_is_not() {
    let executor = executor();
    let code = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    let used = run(&executor, &code, Entry::Handle, &mut TestEnv::default(), FUEL).expect("runs").fuel_used;
    let exact = run(&executor, &code, Entry::Handle, &mut TestEnv::default(), used).expect("enough");
    assert_eq!(exact.fuel_used, used);
    // WASM checks fuel at calls and loop heads, so a budget a little short
    // may still finish (reporting the whole budget used); half cannot.
    let half = used / 2;
    let err = run(&executor, &code, Entry::Handle, &mut TestEnv::default(), half).expect_err("short");
    assert_eq!(err, ExecError::OutOfFuel { budget: half });
    for budget in [used - 1, used - 10] {
        match run(&executor, &code, Entry::Handle, &mut TestEnv::default(), budget) {
            Ok(done) => assert_eq!(done.fuel_used, budget),
            Err(err) => assert_eq!(err, ExecError::OutOfFuel { budget }),
        }
    }
}

#[test]
fn a_module_without_migrate_cannot_be_migrated_to() {
    let executor = executor();
    let code = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    let mut env = TestEnv::default();
    let err = run(&executor, &code, Entry::Migrate, &mut env, FUEL).expect_err("no migrate");
    match err {
        ExecError::InvalidModule(text) => assert!(text.contains("polypact_migrate"), "{text}"),
        other => panic!("unexpected {other:?}"),
    }

    let with_migrate = handle_module("(i64.const 4)").replace(
        "(func (export \"polypact_init\")",
        "(func (export \"polypact_migrate\") (param i32 i32) (result i64) (i64.const 4))\n  (func (export \"polypact_init\")",
    );
    let code = executor.add_code(&wasm(&with_migrate)).expect("valid");
    let done = run(&executor, &code, Entry::Migrate, &mut env, FUEL).expect("migrates");
    assert_eq!(done.output, Output::Response(Ok(Response::default())));
}

#[test]
fn a_module_error_is_an_output_not_a_failure() {
    // postcard of Err("no"): variant 1, then the string.
    let module = handle_module(r#"(i64.const 0x400_0000_0004)"#)
        .replace("(data (i32.const 16)", "(data (i32.const 1024) \"\\01\\02no\")\n  (data (i32.const 16)");
    let executor = executor();
    let code = executor.add_code(&wasm(&module)).expect("valid");
    let done = run(&executor, &code, Entry::Handle, &mut TestEnv::default(), FUEL).expect("runs");
    assert_eq!(done.output, Output::Response(Err("no".into())));
}

#[test]
fn a_write_in_a_query_breaks_the_abi_and_changes_nothing() {
    let module = module_with(
        r#"
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_handle") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64)
    (call $db_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
    (i64.const 0x10_0000_0002))"#,
    );
    let executor = executor();
    let code = executor.add_code(&wasm(&module)).expect("valid");
    let mut env = TestEnv { read_only: true, ..TestEnv::default() };
    let err = run(&executor, &code, Entry::Query, &mut env, FUEL).expect_err("refused");
    assert_eq!(err, ExecError::Abi("db_set refused by the host: a query cannot write state".into()));
    assert!(env.state.is_empty());
    still_works(&executor);
}

/// A handle that queries module "other" with `{}` and stores the postcard
/// result under "answer".
const QUERY_AND_STORE: &str = r#"
    (local $n i32)
    (i32.store (i32.const 1024) (i32.const 0x7265_6874)) ;; "ther" little-endian after "o"
    (i32.store8 (i32.const 1023) (i32.const 0x6f))        ;; "o"
    (i32.store16 (i32.const 1032) (i32.const 0x7d7b))      ;; "{}"
    (local.set $n (i32.wrap_i64 (call $query (i32.const 1023) (i32.const 5) (i32.const 1032) (i32.const 2))))
    (call $take_result (i32.const 2048))
    (i32.store (i32.const 1040) (i32.const 0x7773_6e61)) ;; "answ"
    (i32.store16 (i32.const 1044) (i32.const 0x7265))    ;; "er"
    (call $db_set (i32.const 1040) (i32.const 6) (i32.const 2048) (local.get $n))
    (i64.const 4)"#;

#[test]
fn a_query_hands_over_the_remaining_fuel_and_charges_what_it_used() {
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(QUERY_AND_STORE))).expect("valid");
    let mut fuel_used = Vec::new();
    for claimed in [500, 1_500] {
        let mut env = TestEnv { answer: Answer::Fixed(Ok(b"42".to_vec()), claimed), ..TestEnv::default() };
        let done = run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs");
        assert_eq!(env.queries.len(), 1);
        let (module, msg, offered) = &env.queries[0];
        assert_eq!((module.as_str(), msg.as_slice()), ("other", b"{}".as_slice()));
        assert!(*offered < FUEL && *offered > FUEL - 10_000, "{offered}");
        let expected = postcard::to_allocvec(&Ok::<Vec<u8>, String>(b"42".to_vec())).expect("encodes");
        assert_eq!(env.state.get(b"answer".as_slice()), Some(&expected));
        fuel_used.push(done.fuel_used);
    }
    assert_eq!(fuel_used[1] - fuel_used[0], 1_000);

    // A query that claims more fuel than there was runs the caller out.
    let mut env = TestEnv { answer: Answer::Fixed(Ok(vec![]), u64::MAX), ..TestEnv::default() };
    let err = run(&executor, &code, Entry::Handle, &mut env, FUEL).expect_err("out of fuel");
    assert_eq!(err, ExecError::OutOfFuel { budget: FUEL });
    assert!(env.state.is_empty());
}

#[test]
fn a_query_may_run_another_module_on_the_same_thread() {
    let executor = executor();
    let caller = executor.add_code(&wasm(&handle_module(QUERY_AND_STORE))).expect("valid");
    let counter = executor.add_code(&wasm(COUNTER_WAT)).expect("valid");
    let mut env = TestEnv { answer: Answer::Nested(&executor, counter), ..TestEnv::default() };
    run(&executor, &caller, Entry::Handle, &mut env, FUEL).expect("runs");
    // The nested counter had no count yet: Ok([]).
    assert_eq!(env.state.get(b"answer".as_slice()), Some(&vec![0u8, 0]));
}

#[test]
fn scan_returns_a_postcard_page_capped_at_the_host_maximum() {
    // Scan prefix "k" from "k" with limit 1000; store the page under "page".
    let handle = r#"
    (local $n i32)
    (i32.store8 (i32.const 1024) (i32.const 0x6b)) ;; "k"
    (local.set $n (i32.wrap_i64
      (call $db_scan (i32.const 1024) (i32.const 1) (i32.const 1024) (i32.const 1) (i32.const 1000))))
    (call $take_result (i32.const 4096))
    (i32.store (i32.const 1028) (i32.const 0x6567_6170)) ;; "page"
    (call $db_set (i32.const 1028) (i32.const 4) (i32.const 4096) (local.get $n))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut env = TestEnv::default();
    for i in 0..300u32 {
        env.state.insert(format!("k{i:03}").into_bytes(), vec![1]);
    }
    env.state.insert(b"j".to_vec(), vec![2]);
    run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs");
    let max = executor.limits().max_scan_entries as usize;
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        (0..max).map(|i| (format!("k{i:03}").into_bytes(), vec![1])).collect();
    assert_eq!(env.state.get(b"page".as_slice()), Some(&postcard::to_allocvec(&expected).expect("encodes")));
}

#[test]
fn remove_deletes_a_key() {
    let handle = r#"
    (i32.store8 (i32.const 1024) (i32.const 0x78)) ;; "x"
    (call $db_remove (i32.const 1024) (i32.const 1))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut env = TestEnv::default();
    env.state.insert(b"x".to_vec(), b"1".to_vec());
    env.state.insert(b"y".to_vec(), b"2".to_vec());
    run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs");
    assert_eq!(env.state.keys().collect::<Vec<_>>(), vec![&b"y".to_vec()]);
}

#[test]
fn every_nan_has_the_canonical_bits() {
    // Stores the bits of four NaN-producing operations under "a".."d":
    // 0/0, a sign-flipped NaN with a payload plus one (f32), sqrt(-1) and a
    // negative NaN with a payload times two (f64). Without canonicalisation
    // x86 gives 0xffc00000 for 0/0 and propagates the payloads and signs.
    let handle = r#"
    (i32.store (i32.const 2000) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
    (i32.store (i32.const 2008) (i32.reinterpret_f32 (f32.add (f32.const -nan:0x200001) (f32.const 1))))
    (i64.store (i32.const 2016) (i64.reinterpret_f64 (f64.sqrt (f64.const -1))))
    (i64.store (i32.const 2024) (i64.reinterpret_f64 (f64.mul (f64.const -nan:0x4) (f64.const 2))))
    (i32.store8 (i32.const 1024) (i32.const 0x61))
    (i32.store8 (i32.const 1025) (i32.const 0x62))
    (i32.store8 (i32.const 1026) (i32.const 0x63))
    (i32.store8 (i32.const 1027) (i32.const 0x64))
    (call $db_set (i32.const 1024) (i32.const 1) (i32.const 2000) (i32.const 4))
    (call $db_set (i32.const 1025) (i32.const 1) (i32.const 2008) (i32.const 4))
    (call $db_set (i32.const 1026) (i32.const 1) (i32.const 2016) (i32.const 8))
    (call $db_set (i32.const 1027) (i32.const 1) (i32.const 2024) (i32.const 8))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut env = TestEnv::default();
    run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs");
    let canonical32 = 0x7fc0_0000u32.to_le_bytes().to_vec();
    let canonical64 = 0x7ff8_0000_0000_0000u64.to_le_bytes().to_vec();
    assert_eq!(env.state.get(b"a".as_slice()), Some(&canonical32));
    assert_eq!(env.state.get(b"b".as_slice()), Some(&canonical32));
    assert_eq!(env.state.get(b"c".as_slice()), Some(&canonical64));
    assert_eq!(env.state.get(b"d".as_slice()), Some(&canonical64));
}

#[test]
fn long_debug_lines_are_cut_and_bad_utf8_is_replaced() {
    // A 10_000-byte line of 0xff.
    let handle = r#"
    (memory.fill (i32.const 4096) (i32.const 0xff) (i32.const 10000))
    (call $debug_log (i32.const 4096) (i32.const 10000))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut env = TestEnv::default();
    run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs");
    assert_eq!(env.logs.len(), 1);
    let max = executor.limits().max_log_bytes as usize;
    assert_eq!(env.logs[0], format!("{} [cut]", "\u{fffd}".repeat(max)));
}
