//! Modules that misbehave: each must fail with a clear, deterministic error,
//! the same on a second run, without writing state, and leave the executor
//! working.

use std::time::Duration;

use polypact_sdk::abi::Entry;

use super::*;
use crate::host::HostError;

/// Runs `handle` of a module (or of [`handle_module`] around a handle
/// body) twice on fresh environments; both runs must
/// fail alike and write nothing. Then checks the executor still works.
fn fails_alike(module_or_handle_body: &str, fuel: u64) -> (ExecError, TestEnv<'static>) {
    let module = if module_or_handle_body.starts_with("(module") {
        module_or_handle_body.to_owned()
    } else {
        handle_module(module_or_handle_body)
    };
    let executor = executor();
    let code = executor.add_code(&wasm(&module)).expect("the module itself is valid");
    let mut first_env = TestEnv::default();
    let first = run(&executor, &code, Entry::Handle, &mut first_env, fuel).expect_err("must fail");
    let mut second_env = TestEnv::default();
    let second = run(&executor, &code, Entry::Handle, &mut second_env, fuel).expect_err("must fail");
    assert_eq!(first, second, "the second run failed differently");
    assert!(first_env.state.is_empty() && second_env.state.is_empty(), "a failing module wrote state");
    assert_eq!(first_env.logs, second_env.logs);
    still_works(&executor);
    (first, first_env)
}

fn refused(module: &str) -> String {
    let executor = executor();
    let wasm = wasm(module);
    match executor.add_code(&wasm) {
        Err(HostError::InvalidModule { code, reason }) => {
            assert_eq!(code, CodeHash::of(&wasm));
            assert!(!executor.has_code(&code), "a refused module was kept");
            assert!(executor.code_hashes().is_empty());
            still_works(&executor);
            reason
        }
        other => panic!("expected an invalid module, got {other:?}"),
    }
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let (err, _) = fails_alike("(loop $forever (br $forever)) (i64.const 4)", FUEL);
    assert_eq!(err, ExecError::OutOfFuel { budget: FUEL });
}

#[test]
fn zero_fuel_runs_out_at_once() {
    let (err, _) = fails_alike("(i64.const 4)", 0);
    assert_eq!(err, ExecError::OutOfFuel { budget: 0 });
}

#[test]
fn a_host_call_the_budget_cannot_pay_runs_out_before_it_acts() {
    // The WASM before the call costs a few dozen units; the call 1000+.
    let (err, env) = fails_alike("(call $debug_log (i32.const 0) (i32.const 4)) (i64.const 4)", 900);
    assert_eq!(err, ExecError::OutOfFuel { budget: 900 });
    assert!(env.logs.is_empty(), "the host acted before charging");
}

#[test]
fn a_start_function_that_loops_runs_out_of_fuel() {
    let module = handle_module("(i64.const 4)").replace(
        "(func (export \"polypact_init\")",
        "(func $spin (loop $l (br $l)))\n  (start $spin)\n  (func (export \"polypact_init\")",
    );
    let (err, _) = fails_alike(&module, FUEL);
    assert_eq!(err, ExecError::OutOfFuel { budget: FUEL });
}

#[test]
fn memory_grow_stops_at_the_limit_and_reports_failure() {
    // Grows a page at a time until memory.grow returns -1, then stores the
    // page count under "p".
    let handle = r#"
    (block $done (loop $grow
      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (br $grow)))
    (i32.store (i32.const 1024) (memory.size))
    (i32.store8 (i32.const 1030) (i32.const 0x70))
    (call $db_set (i32.const 1030) (i32.const 1) (i32.const 1024) (i32.const 4))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut fuel = Vec::new();
    for _ in 0..2 {
        let mut env = TestEnv::default();
        fuel.push(run(&executor, &code, Entry::Handle, &mut env, FUEL).expect("runs").fuel_used);
        let pages = (executor.limits().max_memory_bytes / 65_536) as u32;
        assert_eq!(pages, 1024);
        assert_eq!(env.state.get(b"p".as_slice()), Some(&pages.to_le_bytes().to_vec()));
    }
    assert_eq!(fuel[0], fuel[1]);
    still_works(&executor);
}

#[test]
fn memory_grow_without_end_traps_when_the_module_checks() {
    let handle = r#"
    (loop $grow
      (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then unreachable))
      (br $grow))
    (i64.const 4)"#;
    let (err, _) = fails_alike(&handle_module(handle), FUEL);
    assert_eq!(err, ExecError::Trap("wasm trap: wasm `unreachable` instruction executed".into()));
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let module = module_with(
        r#"
  (func $deep (param i32) (result i32)
    (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 0x10_0000_0002))
  (func (export "polypact_handle") (param i32 i32) (result i64)
    (drop (call $deep (i32.const 0)))
    (i64.const 4))"#,
    );
    let (err, _) = fails_alike(&module, u64::MAX / 2);
    assert_eq!(err, ExecError::Trap("wasm trap: call stack exhausted".into()));
}

#[test]
fn unreachable_traps() {
    let (err, _) = fails_alike("unreachable", FUEL);
    assert_eq!(err, ExecError::Trap("wasm trap: wasm `unreachable` instruction executed".into()));
}

#[test]
fn a_rust_style_panic_logs_then_traps() {
    // What a Rust module with panic = "abort" does: print the message, trap.
    let module = handle_module(
        r#"
    (call $debug_log (i32.const 1024) (i32.const 18))
    unreachable"#,
    )
    .replace(
        "(data (i32.const 16)",
        "(data (i32.const 1024) \"panicked at: boom!\")\n  (data (i32.const 16)",
    );
    let (err, env) = fails_alike(&module, FUEL);
    assert_eq!(err, ExecError::Trap("wasm trap: wasm `unreachable` instruction executed".into()));
    assert_eq!(env.logs, vec!["panicked at: boom!".to_owned()]);
}

#[test]
fn an_integer_division_by_zero_traps() {
    let (err, _) = fails_alike(
        "(drop (i32.div_u (i32.const 1) (i32.sub (local.get $len) (local.get $len)))) (i64.const 4)",
        FUEL,
    );
    assert_eq!(err, ExecError::Trap("wasm trap: integer divide by zero".into()));
}

#[test]
fn a_huge_output_breaks_the_abi() {
    // pack_region(0, 2 MiB): over the 1 MiB output limit.
    let (err, _) = fails_alike("(i64.const 0x20_0000)", FUEL);
    assert_eq!(
        err,
        ExecError::Abi(
            "polypact_handle returned 2097152 bytes, over the output limit of 1048576 bytes".into()
        )
    );
}

#[test]
fn an_output_outside_memory_breaks_the_abi() {
    // pack_region(0xffff_0000, 256).
    let (err, _) = fails_alike("(i64.const 0xffff_0000_0000_0100)", FUEL);
    match err {
        ExecError::Abi(text) => {
            assert!(text.contains("outside the module's memory of 131072 bytes"), "{text}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn garbage_output_breaks_the_abi() {
    let garbage = |bytes: &str, len: u32| {
        handle_module(&format!("(i64.const {})", (1024u64 << 32) | u64::from(len))).replace(
            "(data (i32.const 16)",
            &format!("(data (i32.const 1024) \"{bytes}\")\n  (data (i32.const 16)"),
        )
    };
    let (err, _) = fails_alike(&garbage("\\ff\\ff\\ff\\ff", 4), FUEL);
    match err {
        ExecError::Abi(text) => assert!(text.contains("not a postcard ResponseResult"), "{text}"),
        other => panic!("unexpected {other:?}"),
    }
    // A valid response followed by a stray byte.
    let (err, _) = fails_alike(&garbage("\\00\\00\\00\\00\\00", 5), FUEL);
    assert_eq!(err, ExecError::Abi("polypact_handle returned 1 bytes after its ResponseResult".into()));
}

#[test]
fn host_calls_with_pointers_outside_memory_trap() {
    let (err, _) = fails_alike(
        "(call $db_set (i32.const -16) (i32.const 8) (i32.const 0) (i32.const 1)) (i64.const 4)",
        FUEL,
    );
    assert_eq!(
        err,
        ExecError::Trap(
            "db_set: the key at 4294967280..4294967288 is outside the module's memory of 131072 bytes".into()
        )
    );
    let (err, _) = fails_alike(
        "(call $db_set (i32.const 0) (i32.const 1) (i32.const 131000) (i32.const 100)) (i64.const 4)",
        FUEL,
    );
    assert_eq!(
        err,
        ExecError::Trap(
            "db_set: the value at 131000..131100 is outside the module's memory of 131072 bytes".into()
        )
    );
    let (err, _) = fails_alike("(drop (call $db_get (i32.const 131071) (i32.const 2))) (i64.const 4)", FUEL);
    assert!(
        matches!(&err, ExecError::Trap(t) if t.starts_with("db_get: the key at 131071..131073")),
        "{err:?}"
    );
    let (err, _) = fails_alike("(call $emit_event (i32.const 131072) (i32.const 1)) (i64.const 4)", FUEL);
    assert!(matches!(&err, ExecError::Trap(t) if t.starts_with("emit_event: the event at")), "{err:?}");
    let (err, _) = fails_alike("(call $debug_log (i32.const -1) (i32.const -1)) (i64.const 4)", FUEL);
    assert!(matches!(&err, ExecError::Trap(t) if t.starts_with("debug_log: the line at")), "{err:?}");
}

#[test]
fn take_result_outside_memory_traps() {
    // The counter keeps "count"; a db_get finds it, take_result aims outside.
    let handle = r#"
    (i32.store8 (i32.const 1024) (i32.const 0x63))
    (drop (call $db_get (i32.const 1024) (i32.const 1)))
    (call $take_result (i32.const 131070))
    (i64.const 4)"#;
    let executor = executor();
    let code = executor.add_code(&wasm(&handle_module(handle))).expect("valid");
    let mut env = TestEnv::default();
    env.state.insert(b"c".to_vec(), vec![7; 8]);
    let before = env.state.clone();
    let err = run(&executor, &code, Entry::Handle, &mut env, FUEL).expect_err("out of bounds");
    assert_eq!(
        err,
        ExecError::Trap(
            "take_result: the destination at 131070..131078 is outside the module's memory of 131072 bytes"
                .into()
        )
    );
    assert_eq!(env.state, before);
    still_works(&executor);
}

#[test]
fn take_result_without_a_result_breaks_the_abi() {
    let (err, _) = fails_alike("(call $take_result (i32.const 0)) (i64.const 4)", FUEL);
    assert!(matches!(&err, ExecError::Abi(t) if t.starts_with("take_result: there is no result")), "{err:?}");
    // An absent key leaves no result either.
    let (err, _) = fails_alike(
        "(drop (call $db_get (i32.const 0) (i32.const 1))) (call $take_result (i32.const 0)) (i64.const 4)",
        FUEL,
    );
    assert!(matches!(&err, ExecError::Abi(t) if t.starts_with("take_result: there is no result")), "{err:?}");
}

#[test]
fn oversized_keys_values_and_events_trap() {
    let (err, _) = fails_alike("(drop (call $db_get (i32.const 0) (i32.const 5000))) (i64.const 4)", FUEL);
    assert_eq!(err, ExecError::Trap("db_get: the key is 5000 bytes, over the limit of 4096 bytes".into()));
    let (err, _) = fails_alike(
        "(call $db_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 600000)) (i64.const 4)",
        FUEL,
    );
    assert_eq!(
        err,
        ExecError::Trap("db_set: the value is 600000 bytes, over the limit of 524288 bytes".into())
    );
    let (err, _) = fails_alike("(call $emit_event (i32.const 0) (i32.const 70000)) (i64.const 4)", FUEL);
    assert_eq!(
        err,
        ExecError::Trap("emit_event: the event is 70000 bytes, over the limit of 65536 bytes".into())
    );
}

#[test]
fn a_garbage_event_breaks_the_abi() {
    // 0xff is not a valid varint length for the kind.
    let module = handle_module("(call $emit_event (i32.const 1024) (i32.const 2)) (i64.const 4)")
        .replace("(data (i32.const 16)", "(data (i32.const 1024) \"\\ff\\ff\")\n  (data (i32.const 16)");
    let (err, env) = fails_alike(&module, FUEL);
    assert!(
        matches!(&err, ExecError::Abi(t) if t.starts_with("emit_event: the bytes are not a postcard Event")),
        "{err:?}"
    );
    assert!(env.events.is_empty());
}

#[test]
fn a_wrong_abi_version_is_refused_with_both_versions() {
    let module = handle_module("(i64.const 4)").replace(
        "(func (export \"polypact_abi_version\") (result i32) (i32.const 1))",
        "(func (export \"polypact_abi_version\") (result i32) (i32.const 2))",
    );
    let (err, _) = fails_alike(&module, FUEL);
    assert_eq!(
        err,
        ExecError::InvalidModule(
            "built for ABI version 2, this node speaks 1; rebuild it with a matching polypact SDK".into()
        )
    );
}

#[test]
fn the_wall_clock_backstop_is_a_fault_never_an_outcome() {
    let config = HostConfig {
        deadline: Duration::from_millis(100),
        epoch_tick: Duration::from_millis(10),
        ..small_config()
    };
    let executor = WasmExecutor::new(config).expect("starts");
    let code = executor
        .add_code(&wasm(&handle_module("(loop $forever (br $forever)) (i64.const 4)")))
        .expect("valid");
    let mut env = TestEnv::default();
    // Fuel that cannot run out in any reasonable time: only the deadline stops it.
    let err = run(&executor, &code, Entry::Handle, &mut env, u64::MAX).expect_err("stopped");
    assert!(matches!(&err, ExecError::Fault(t) if t.contains("wall-clock deadline")), "{err:?}");
    assert!(env.state.is_empty());
    still_works(&executor);
}

#[test]
fn a_missing_export_is_named() {
    let module = module_with(
        r#"
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 4))"#,
    );
    let reason = refused(&module);
    assert!(reason.contains("missing export `polypact_handle` (i32, i32) -> i64;"), "{reason}");

    let no_memory = handle_module("(i64.const 4)").replace("(memory (export \"memory\") 2)", "(memory 2)");
    let reason = refused(&no_memory);
    assert!(reason.contains("missing export `memory`"), "{reason}");
}

#[test]
fn a_wrong_export_signature_is_named() {
    let module = handle_module("(i64.const 4)").replace(
        "(func (export \"polypact_alloc\") (param $len i32) (result i32)",
        "(func (export \"polypact_alloc\") (param i64) (result i64) (i64.const 0))\n  (func $unused (param $len i32) (result i32)",
    );
    let reason = refused(&module);
    assert!(
        reason.contains("export `polypact_alloc` has signature (i64) -> i64, expected (i32) -> i32"),
        "{reason}"
    );
}

#[test]
fn unknown_wasi_and_mistyped_imports_are_named() {
    let with_import =
        |import: &str| handle_module("(i64.const 4)").replacen("(memory", &format!("{import}\n  (memory"), 1);

    let reason = refused(&with_import(r#"(import "polypact" "db_frob" (func (param i32)))"#));
    assert!(reason.contains("imports `polypact`.`db_frob`, which this host does not provide"), "{reason}");

    let reason = refused(&with_import(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
    ));
    assert!(reason.contains("imports `wasi_snapshot_preview1`.`fd_write`"), "{reason}");
    assert!(reason.contains("WASI"), "{reason}");

    let reason =
        refused(&with_import(r#"(import "polypact" "debug_log" (func $log2 (param i32) (result i64)))"#));
    assert!(
        reason.contains(
            "imports `polypact`.`debug_log` with signature (i32) -> i64, but the host's is (i32, i32)"
        ),
        "{reason}"
    );

    let reason = refused(&with_import(r#"(import "env" "base" (global i32))"#));
    assert!(reason.contains("imports `env`.`base`"), "{reason}");
}

#[test]
fn a_memory_that_starts_over_the_limit_is_refused() {
    let module = handle_module("(i64.const 4)")
        .replace("(memory (export \"memory\") 2)", "(memory (export \"memory\") 2000)");
    let reason = refused(&module);
    // The pooling allocator refuses it first; `validate` would otherwise.
    assert!(reason.contains("memory") && reason.contains("exceeds the limit of 0x4000000 bytes"), "{reason}");
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let executor = executor();
    for bytes in [b"not wasm at all".as_slice(), EMPTY_WAT.as_bytes()] {
        match executor.add_code(bytes) {
            Err(HostError::InvalidModule { reason, .. }) => {
                assert!(reason.contains("not valid WASM"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(executor.code_hashes().is_empty());
    still_works(&executor);
}

#[test]
fn code_over_the_size_limit_is_refused() {
    let mut config = small_config();
    config.limits.max_code_bytes = 64;
    let executor = WasmExecutor::new(config).expect("starts");
    let bytes = wasm(COUNTER_WAT);
    match executor.add_code(&bytes) {
        Err(HostError::TooLarge { size, limit: 64, .. }) => assert_eq!(size, bytes.len()),
        other => panic!("unexpected {other:?}"),
    }
    assert!(executor.code_hashes().is_empty());
}

/// How fast fuel burns in straight-line WASM on this machine (the figure
/// behind `op::MAX_FUEL_PER_OP`): `cargo test -p polypact --lib
/// measure_fuel_per_second -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_fuel_per_second() {
    let executor = executor();
    for body in [
        "(loop $forever (br $forever)) (i64.const 4)",
        "(local $i i64) (loop $l (local.set $i (i64.add (local.get $i) (i64.const 1))) (br $l)) (i64.const 4)",
    ] {
        let code = executor.add_code(&wasm(&handle_module(body))).expect("valid");
        for fuel in [100_000_000u64, 1_000_000_000] {
            let mut env = TestEnv::default();
            let t = std::time::Instant::now();
            let _ = run(&executor, &code, Entry::Handle, &mut env, fuel);
            let s = t.elapsed().as_secs_f64();
            eprintln!("fuel {fuel}: {s:.3} s = {:.0} M fuel/s", fuel as f64 / s / 1e6);
        }
    }
}
