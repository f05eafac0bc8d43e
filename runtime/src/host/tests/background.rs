//! Published code through `Executor::load_code`: checked at once (size,
//! validation), compiled on the background compiler, and waited for only
//! by an invocation that needs it; a module that compiles but breaks the
//! ABI fails each invocation with the same named reason.

use polypact_sdk::abi::Entry;

use super::*;
use crate::ledger::Executor;

fn costly(functions: usize, locals: usize, branches: usize) -> Vec<u8> {
    crate::testing::costly_module(functions, locals, branches)
}

#[test]
fn published_code_loads_at_once_and_runs_once_compiled() {
    let executor = executor();
    let wasm = wasm(COUNTER_WAT);
    let code = executor.load_code(&wasm).expect("valid");
    assert!(executor.has_code(&code), "known as soon as it is loaded");
    // An invocation waits for the compile, then runs.
    let mut env = TestEnv::default();
    run(&executor, &code, Entry::Init, &mut env, FUEL).expect("runs");
    assert_eq!(executor.compiling(), 0);
    assert_eq!(executor.load_code(&wasm), Ok(code), "loading again is a no-op");
}

#[test]
fn bytes_that_are_not_wasm_are_refused_at_once() {
    let executor = executor();
    let error = executor.load_code(b"\0asm but not really").expect_err("invalid");
    assert!(
        matches!(&error, ExecError::InvalidModule(reason) if reason.contains("not valid WASM")),
        "{error}"
    );
    assert!(!executor.has_code(&CodeHash::of(b"\0asm but not really")));
    assert_eq!(executor.compiling(), 0);
}

#[test]
fn a_module_that_breaks_the_abi_fails_each_invocation_with_its_reason() {
    let executor = executor();
    let module = module_with(
        r#"
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 4))"#,
    );
    let code = executor.load_code(&wasm(&module)).expect("valid WASM");
    let mut env = TestEnv::default();
    let first = run(&executor, &code, Entry::Init, &mut env, FUEL).expect_err("no handle export");
    let second = run(&executor, &code, Entry::Init, &mut env, FUEL).expect_err("again");
    assert_eq!(first, second);
    assert!(
        matches!(&first, ExecError::InvalidModule(reason) if reason.contains("missing export `polypact_handle`")),
        "{first}"
    );
    still_works(&executor);
}

/// The compile-cost rule refuses, before any compile, a module whose
/// function (or whole) would cost too much to compile, naming what.
#[test]
fn a_module_too_costly_to_compile_is_refused_before_compiling() {
    let executor = executor();
    let one_costly = costly(1, 1_000, 10_000);
    let error = executor.load_code(&one_costly).expect_err("over the function limit");
    assert!(
        matches!(&error, ExecError::InvalidModule(reason) if reason.contains("would cost 10010000 to compile")),
        "{error}"
    );
    assert!(executor.add_code(&one_costly).is_err(), "add_code applies the same rule");
    let many = costly(21, 315, 3_160);
    let error = executor.load_code(&many).expect_err("over the module limit");
    assert!(
        matches!(&error, ExecError::InvalidModule(reason) if reason.contains("the module would cost")),
        "{error}"
    );
    assert_eq!(executor.stats().compiled, 0, "nothing was compiled");
    assert_eq!(executor.compiling(), 0);
    // Just under both limits: accepted.
    assert!(executor.load_code(&costly(2, 315, 3_160)).is_ok());
}

#[test]
#[ignore = "a measurement: cargo test -p polypact --lib costly_module_compile_time -- --ignored --nocapture"]
fn costly_module_compile_time() {
    for (locals, branches) in [(200, 2_000), (315, 3_160), (500, 5_000), (1_000, 10_000)] {
        let bytes = costly(1, locals, branches);
        let executor = WasmExecutor::new(small_config()).expect("executor");
        let started = std::time::Instant::now();
        // Past the rule's limit the module is refused before compiling;
        // compile it anyway to see what the rule saves.
        let result = executor.preparer_for_tests().prepare(CodeHash::of(&bytes), &bytes).map(|_| ());
        println!(
            "{locals} locals x {branches} branches: {} bytes, {:?}, {:?}",
            bytes.len(),
            started.elapsed(),
            result
        );
    }
}

#[test]
#[ignore = "a measurement: cargo test -p polypact --lib --features testing standard_modules_compile_cost -- --ignored --nocapture"]
fn standard_modules_compile_cost() {
    for name in ["membership", "voting", "treasury", "exit", "term", "vesting", "guestbook"] {
        let wasm = crate::testing::module_wasm(name).expect("built");
        let cost = crate::host::CompileCost::of(&wasm).expect("parses");
        println!(
            "{name}: {} bytes, costliest function {} (#{}), total {}",
            wasm.len(),
            cost.max_function,
            cost.costliest,
            cost.total
        );
    }
    for (locals, branches) in [(200, 2_000), (500, 5_000), (1_000, 10_000)] {
        let cost = crate::host::CompileCost::of(&costly(1, locals, branches)).expect("parses");
        println!("costly {locals} x {branches}: {cost:?}");
    }
}
