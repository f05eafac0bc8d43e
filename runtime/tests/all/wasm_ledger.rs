//! The real `.wasm` example module through the real host and ledger.

use polypact::ledger::{Ledger, LedgerConfig};
use polypact::testing::{WasmHarness, module_wasm};
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
