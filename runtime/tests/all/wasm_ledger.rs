//! The real `.wasm` example module through the real host and ledger.

use polypact::ledger::{Ledger, LedgerConfig};
use polypact::testing::{WasmHarness, module_wasm, raw_module};
use serde_json::json;

fn guestbook() -> Vec<u8> {
    module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn guestbook_signs_pages_and_fails_cleanly_as_wasm() {
    let wasm = guestbook();
    let mut h =
        WasmHarness::new(3, &[("guestbook", &wasm, r#"{"max_message_len": 20}"#, &[])]).expect("genesis");
    let first = h.call(0, "guestbook", &json!({"sign": {"message": "hello from the studio"}}));
    assert!(h.outcome_error(&first).expect("too long").contains("at most 20"));
    let ok = h.call(1, "guestbook", &json!({"sign": {"message": "hi from telco"}}));
    assert_eq!(h.outcome_error(&ok), None);
    assert_eq!(h.outcome_data(&ok), Some(json!({"id": 1})));
    let empty = h.call(2, "guestbook", &json!({"sign": {"message": "   "}}));
    assert!(h.outcome_error(&empty).expect("empty").contains("empty"));
    let garbage = h.call(2, "guestbook", &json!({"nonsense": 1}));
    assert!(h.outcome_error(&garbage).expect("bad shape").contains("invalid handle message"));
    assert_eq!(h.query("guestbook", &json!({"count": {}})).expect("count"), json!({"count": 1}));
    h.ack_all();
    assert!(h.ledger.is_final(&ok));
    // The failure is recorded in state, the same on every node.
    assert!(h.ledger.final_state().failure(&first).is_some());
}

#[test]
fn same_module_same_ops_same_root_on_two_ledgers_including_failures() {
    let wasm = guestbook();
    let mut h = WasmHarness::new(2, &[("guestbook", &wasm, "{}", &[])]).expect("genesis");
    for i in 0..10 {
        let message = if i % 3 == 0 { String::new() } else { format!("entry {i}") };
        h.call(i % 2, "guestbook", &json!({"sign": {"message": message}}));
    }
    h.call(0, "guestbook", &json!({"clear_mine": {}}));
    h.ack_all();
    let ops = h.ops();
    let executor = polypact::host::WasmExecutor::new(Default::default()).expect("host");
    executor.add_code(&wasm).expect("loads");
    let mut other = Ledger::new(ops[0].clone(), executor, LedgerConfig::default()).expect("genesis");
    // Deliver in reverse: parents arrive late, the ledger waits and reorders.
    for op in ops[1..].iter().rev() {
        other.insert(op.clone(), u64::MAX / 2).expect("accepted");
    }
    assert_eq!(other.final_height(), h.ledger.final_height());
    assert_eq!(other.final_root(), h.ledger.final_root());
    assert_eq!(other.optimistic_root(), h.ledger.optimistic_root());
}

/// A call that allocates more than the SDK allocator's arena (256 KiB) grows
/// the instance's memory and still answers exactly: 100 entries of 4,000
/// bytes are read, collected and encoded in one query.
#[test]
fn a_query_larger_than_the_allocator_arena_answers_exactly() {
    let wasm = guestbook();
    let mut h =
        WasmHarness::new(2, &[("guestbook", &wasm, r#"{"max_message_len": 4096}"#, &[])]).expect("genesis");
    let messages: Vec<String> = (0..100u32)
        .map(|i| format!("{i:03}{}", char::from(b'a' + (i % 26) as u8).to_string().repeat(3997)))
        .collect();
    for (i, message) in messages.iter().enumerate() {
        let op = h.call(i % 2, "guestbook", &json!({"sign": {"message": message}}));
        assert_eq!(h.outcome_error(&op), None);
    }
    let page = h.query("guestbook", &json!({"entries": {"limit": 100}})).expect("entries");
    let got: Vec<&str> = page["entries"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    assert_eq!(got, messages.iter().map(String::as_str).collect::<Vec<_>>());
}

/// A module whose query recurses `frames` deep (holding its stack), then
/// queries module `next` and answers with whatever that answered; its handle
/// and init do nothing.
fn hop(next: &str, frames: u32) -> Vec<u8> {
    let len = next.len();
    raw_module(
        r#"(import "polypact" "query" (func $query (param i32 i32 i32 i32) (result i64)))
  (import "polypact" "take_result" (func $take_result (param i32)))"#,
        &format!(
            r#"  (data (i32.const 32) "{next}")
  (data (i32.const 96) "{{}}")
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_handle") (param i32 i32) (result i64) (i64.const 4))
  (func $deep (param $n i32) (param $a i64) (param $b i64) (param $c i64) (param $d i64) (result i64)
    (local $len i32) (local $p i32)
    (if (result i64) (local.get $n)
      (then (i64.add (i64.mul (local.get $a) (i64.const 0))
        (call $deep (i32.sub (local.get $n) (i32.const 1)) (local.get $b) (local.get $c) (local.get $d) (local.get $a))))
      (else
        (local.set $len (i32.wrap_i64 (call $query (i32.const 32) (i32.const {len}) (i32.const 96) (i32.const 2))))
        (local.set $p (call $alloc (local.get $len)))
        (call $take_result (local.get $p))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))))
  (func (export "polypact_query") (param i32 i32) (result i64)
    (call $deep (i32.const {frames}) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)))"#
        ),
    )
}

/// Modules that query each other, each holding a deep stack, nest no deeper
/// than the charter's rule: a deterministic error naming the rule, not a
/// crashed node (each level may hold a whole WASM stack, and the host grows
/// the thread's stack before one more level could overflow it).
#[test]
fn a_deep_chain_of_queries_stops_at_the_depth_rule() {
    let names: Vec<String> = (0..12).map(|i| format!("hop{i}")).collect();
    let codes: Vec<Vec<u8>> = (0..12).map(|i| hop(&format!("hop{}", i + 1), 4_000)).collect();
    let modules: Vec<polypact::testing::ModuleDef<'_>> =
        names.iter().zip(&codes).map(|(n, c)| (n.as_str(), c.as_slice(), "{}", &[][..])).collect();
    let h = WasmHarness::new(2, &modules).expect("genesis");
    let answer = h.query("hop0", &json!({})).expect_err("the chain is deeper than the rule");
    assert!(answer.contains("query depth limit 8 reached querying `hop9`"), "{answer}");
    // The same answer again: the limit is a rule, not a property of this run.
    assert_eq!(h.query("hop0", &json!({})).expect_err("again"), answer);
}

/// A module whose handle queries module `leaf` `times` times, ignoring
/// every answer, then succeeds; its query answers at once, its init does
/// nothing.
fn fan(times: u32) -> Vec<u8> {
    raw_module(
        r#"(import "polypact" "query" (func $query (param i32 i32 i32 i32) (result i64)))"#,
        &format!(
            r#"  (data (i32.const 32) "leaf")
  (data (i32.const 96) "{{}}")
  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  ;; `Ok` with empty data: postcard variant 0, length 0.
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 2))
  (func (export "polypact_handle") (param i32 i32) (result i64)
    (local $i i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const {times})))
      (drop (call $query (i32.const 32) (i32.const 4) (i32.const 96) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (i64.const 4))"#
        ),
    )
}

/// An op that runs more module entry points than the runtime's rule fails
/// with the rule's name, even though the module ignores its refused
/// queries; the same on a second ledger, with the same state root. One
/// under the limit is applied.
#[test]
fn an_op_past_the_invocation_rule_fails_naming_it_the_same_on_two_ledgers() {
    use polypact::ledger::MAX_INVOCATIONS_PER_OP;
    let leaf = fan(0);
    let (over, under) = (fan(MAX_INVOCATIONS_PER_OP + 5), fan(MAX_INVOCATIONS_PER_OP - 1));
    let modules: Vec<polypact::testing::ModuleDef<'_>> =
        vec![("leaf", &leaf, "{}", &[]), ("over", &over, "{}", &[]), ("under", &under, "{}", &[])];
    let mut roots = Vec::new();
    for _node in 0..2 {
        // The most fuel a charter may give, so that fuel is not what ends it.
        let params =
            polypact::op::Params { fuel_per_op: polypact::op::MAX_FUEL_PER_OP, ..Default::default() };
        let mut h = WasmHarness::with_params(2, &modules, params).expect("genesis");
        let failed = h.call(0, "over", &json!({}));
        let error = h.outcome_error(&failed).expect("over the limit");
        assert!(error.contains(&format!("invocation limit {MAX_INVOCATIONS_PER_OP} reached")), "{error}");
        let applied = h.call(1, "under", &json!({}));
        assert_eq!(h.outcome_error(&applied), None, "under the limit");
        roots.push((error, h.ledger.optimistic_root()));
    }
    assert_eq!(roots[0], roots[1]);
}

/// A module whose `handle` runs `body` (locals `$i`, `$n`; result `i64`);
/// `init` and `query` answer `Ok` at once. It imports `db_get` and `query`.
fn misbehaving(body: &str) -> Vec<u8> {
    raw_module(
        r#"(import "polypact" "db_get" (func $db_get (param i32 i32) (result i64)))"#,
        &format!(
            r#"  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 0x10_0000_0002))
  (func $recurse (param $d i64) (result i64) (i64.add (call $recurse (i64.add (local.get $d) (i64.const 1))) (i64.const 1)))
  (func (export "polypact_handle") (param i32 i32) (result i64)
    (local $i i32) (local $n i32)
    {body})"#
        ),
    )
}

/// Adversarial modules through the real host and ledger on two nodes (two
/// ledgers, each with its own executor), the same ops in the same order:
/// each op fails (or succeeds) the same way on both, with the same error
/// (fuel budgets included), and both end on the same state root.
#[test]
fn adversarial_modules_fail_alike_on_two_nodes_and_leave_the_same_root() {
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("spin", misbehaving("(loop $l (br $l)) (unreachable)"), Some("out of fuel (budget 50000000)")),
        (
            "hoard",
            // Grows memory a page at a time until the 64 MiB limit says no,
            // then answers: memory growth stops at a rule, not a node's RAM.
            misbehaving(
                "(block $full (loop $l (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l))) (i64.const 4)",
            ),
            None,
        ),
        ("recurse", misbehaving("(call $recurse (i64.const 0))"), Some("call stack exhausted")),
        ("trap", misbehaving("(unreachable)"), Some("wasm `unreachable` instruction executed")),
        (
            "wild",
            misbehaving("(drop (call $db_get (i32.const 0x7fff0000) (i32.const 64))) (i64.const 4)"),
            Some("outside the module's memory"),
        ),
        ("flood", misbehaving("(i64.const 0x0020_0000)"), Some("over the output limit")),
    ];
    let modules: Vec<polypact::testing::ModuleDef<'_>> =
        cases.iter().map(|(name, wasm, _)| (*name, wasm.as_slice(), "{}", &[][..])).collect();
    let mut nodes = Vec::new();
    for _node in 0..2 {
        let mut h = WasmHarness::new(2, &modules).expect("genesis");
        let mut outcomes = Vec::new();
        for (name, _, want) in &cases {
            let op = h.call(0, name, &json!({}));
            let error = h.outcome_error(&op);
            match (want, &error) {
                (Some(want), Some(error)) => assert!(error.contains(want), "{name}: {error}"),
                (None, None) => {}
                _ => panic!("{name}: expected {want:?}, got {error:?}"),
            }
            outcomes.push(error);
        }
        // Honest work after all of it.
        let after = h.call(1, "hoard", &json!({}));
        assert_eq!(h.outcome_error(&after), None);
        h.ack_all();
        assert!(h.ledger.is_final(&after));
        nodes.push((outcomes, h.ledger.optimistic_root(), h.ledger.final_root()));
    }
    assert_eq!(nodes[0], nodes[1], "the two nodes differ");
}
