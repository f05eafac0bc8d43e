//! Published code through `Executor::load_code`: checked at once (size,
//! validation), compiled on the background compiler, and waited for only
//! by an invocation that needs it; a module that compiles but breaks the
//! ABI fails each invocation with the same named reason.

use polypact_sdk::abi::Entry;

use super::*;
use crate::ledger::Executor;

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
