//! The guestbook's behaviour, run natively through the SDK's `MockHost`
//! (the same encode and decode path as the `.wasm`): every message, query
//! and error, and that failed calls change nothing.

#![allow(clippy::unwrap_used)] // tests

use guestbook::{CountResponse, EntriesResponse, Entry, SignResponse, polypact_dispatch};
use polypact_sdk::testing::{MOCK_TIME_MS, MockHost};
use serde_json::{Value, json};

const ALICE: &str = "pm1alice";
const BOB: &str = "pm1bob";
const MALLORY: &str = "pm1mallory";

/// A guestbook with Alice and Bob as participants.
fn book(config: Value) -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB]);
    host.init(ALICE, &config).expect("init");
    host
}

fn sign(host: &mut MockHost, who: &str, message: &str) -> Result<u64, String> {
    let response = host.handle(who, &json!({"sign": {"message": message}}))?;
    Ok(response.data_as::<SignResponse>().expect("data decodes").expect("data is set").id)
}

fn count(host: &mut MockHost) -> u64 {
    host.query::<CountResponse>(&json!({"count": {}})).expect("count").count
}

fn entries(host: &mut MockHost, query: Value) -> Vec<Entry> {
    host.query::<EntriesResponse>(&query).expect("entries").entries
}

fn ids(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

#[test]
fn init_applies_defaults_and_emits_an_event() {
    let mut host = MockHost::new(polypact_dispatch);
    let response = host.init(ALICE, &json!({})).unwrap();
    assert_eq!(response.events[0].kind, "guestbook_opened");
    assert_eq!(response.events[0].get("max_message_len"), Some("280"));
    let config: Value = host.query(&json!({"config": {}})).unwrap();
    assert_eq!(config, json!({"max_message_len": 280, "participants_only": true, "partnerships": []}));
    assert_eq!(count(&mut host), 0);
}

#[test]
fn init_rejects_bad_configs() {
    let mut host = MockHost::new(polypact_dispatch);
    let err = host.init(ALICE, &json!({"max_message_len": 0})).unwrap_err();
    assert_eq!(err, "max_message_len must be between 1 and 4096, got 0");
    let err = host.init(ALICE, &json!({"max_len": 10})).unwrap_err();
    assert!(err.starts_with("invalid init config: unknown field `max_len`"), "{err}");
    assert!(host.state().is_empty(), "a failed init stores nothing");
}

#[test]
fn signing_stores_an_entry_with_context_and_an_event() {
    let mut host = book(json!({}));
    host.set_height(7).set_time_ms(MOCK_TIME_MS + 5);
    let response = host.handle(BOB, &json!({"sign": {"message": "hello, partners"}})).unwrap();
    assert_eq!(response.data_as::<SignResponse>().unwrap(), Some(SignResponse { id: 1 }));
    let event = &response.events[0];
    assert_eq!((event.kind.as_str(), event.get("id"), event.get("author")), ("signed", Some("1"), Some(BOB)));

    let all = entries(&mut host, json!({"entries": {}}));
    assert_eq!(
        all,
        vec![Entry {
            id: 1,
            author: BOB.into(),
            message: "hello, partners".into(),
            height: 7,
            time_ms: MOCK_TIME_MS + 5
        }]
    );
    assert_eq!(count(&mut host), 1);
}

#[test]
fn entries_page_in_id_order() {
    let mut host = book(json!({}));
    for i in 1..=25 {
        let who = if i % 2 == 0 { ALICE } else { BOB };
        assert_eq!(sign(&mut host, who, &format!("entry {i}")).unwrap(), i);
    }
    let first = entries(&mut host, json!({"entries": {}}));
    assert_eq!(ids(&first), (1..=10).collect::<Vec<_>>(), "default page is 10");
    let next = entries(&mut host, json!({"entries": {"start_after": 10, "limit": 10}}));
    assert_eq!(ids(&next), (11..=20).collect::<Vec<_>>());
    let last = entries(&mut host, json!({"entries": {"start_after": 20, "limit": 10}}));
    assert_eq!(ids(&last), (21..=25).collect::<Vec<_>>());
    assert!(entries(&mut host, json!({"entries": {"start_after": 25}})).is_empty());
    let capped = entries(&mut host, json!({"entries": {"limit": 1000}}));
    assert_eq!(capped.len(), 25, "limit is capped at 100, and there are 25");
    assert!(entries(&mut host, json!({"entries": {"limit": 0}})).is_empty());
}

#[test]
fn by_author_lists_one_authors_entries() {
    let mut host = book(json!({}));
    for (who, text) in [(ALICE, "a1"), (BOB, "b1"), (ALICE, "a2"), (BOB, "b2"), (ALICE, "a3")] {
        sign(&mut host, who, text).unwrap();
    }
    let alice = entries(&mut host, json!({"by_author": {"author": ALICE}}));
    assert_eq!(alice.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["a1", "a2", "a3"]);
    let page = entries(&mut host, json!({"by_author": {"author": ALICE, "start_after": 1, "limit": 1}}));
    assert_eq!(ids(&page), [3]);
    assert!(entries(&mut host, json!({"by_author": {"author": MALLORY}})).is_empty());
}

#[test]
fn clear_mine_removes_only_the_callers_entries() {
    let mut host = book(json!({}));
    for (who, text) in [(ALICE, "a1"), (BOB, "b1"), (ALICE, "a2")] {
        sign(&mut host, who, text).unwrap();
    }
    let response = host.handle(ALICE, &json!({"clear_mine": {}})).unwrap();
    assert_eq!(response.events[0].get("removed"), Some("2"));
    assert_eq!(ids(&entries(&mut host, json!({"entries": {}}))), [2]);
    assert!(entries(&mut host, json!({"by_author": {"author": ALICE}})).is_empty());
    assert_eq!(count(&mut host), 1);

    // Ids are never reused, and clearing again is a no-op.
    assert_eq!(sign(&mut host, ALICE, "a3").unwrap(), 4);
    host.handle(BOB, &json!({"clear_mine": {}})).unwrap();
    let response = host.handle(BOB, &json!({"clear_mine": {}})).unwrap();
    assert_eq!(response.events[0].get("removed"), Some("0"));
    assert_eq!(ids(&entries(&mut host, json!({"entries": {}}))), [4]);
}

#[test]
fn empty_messages_are_refused() {
    let mut host = book(json!({}));
    let before = host.state().clone();
    for message in ["", "   \n\t"] {
        let err = sign(&mut host, ALICE, message).unwrap_err();
        assert_eq!(err, "the message is empty; write something to sign");
    }
    assert_eq!(host.state(), &before);
}

#[test]
fn too_long_messages_are_refused_counting_characters() {
    let mut host = book(json!({"max_message_len": 5}));
    assert!(sign(&mut host, ALICE, "ééééé").is_ok(), "5 characters (10 bytes) fit");
    let before = host.state().clone();
    let err = sign(&mut host, ALICE, "123456").unwrap_err();
    assert_eq!(err, "the message has 6 characters, at most 5 are allowed");
    assert_eq!(host.state(), &before);
}

#[test]
fn non_participants_cannot_sign() {
    let mut host = book(json!({}));
    let before = host.state().clone();
    let err = sign(&mut host, MALLORY, "let me in").unwrap_err();
    assert_eq!(err, "only current participants may sign, and pm1mallory is not one");
    assert_eq!(host.state(), &before);

    // A removed participant is refused too: the check asks `system` each time.
    host.set_participants(&[ALICE]);
    assert!(sign(&mut host, BOB, "still here?").is_err());

    // Unless the book is open to everyone.
    let mut open = book(json!({"participants_only": false}));
    assert_eq!(sign(&mut open, MALLORY, "hi").unwrap(), 1);
}

#[test]
fn malformed_messages_are_clear_errors() {
    let mut host = book(json!({}));
    let before = host.state().clone();
    let err = host.handle(ALICE, &json!({"sing": {"message": "x"}})).unwrap_err();
    assert_eq!(
        err,
        "invalid handle message: unknown variant `sing`, expected one of `sign`, `clear_mine`, `sign_elsewhere` at line 1 column 7"
    );
    let err = host.handle(ALICE, &json!({"sign": {}})).unwrap_err();
    assert!(err.starts_with("invalid handle message: missing field `message`"), "{err}");
    let err = host.handle_raw(ALICE, b"sign").unwrap_err();
    assert!(err.starts_with("invalid handle message: expected value at line 1 column 1"), "{err}");
    let err = host.query::<Value>(&json!({"entries": {"limit": -1}})).unwrap_err();
    assert!(err.starts_with("invalid query message: invalid value: integer `-1`"), "{err}");
    assert_eq!(host.state(), &before);
}

#[test]
fn migrate_updates_the_config_and_keeps_entries() {
    let mut host = book(json!({"max_message_len": 3}));
    sign(&mut host, ALICE, "abc").unwrap();
    let response = host.migrate(ALICE, &json!({"max_message_len": 10})).unwrap();
    let event = &response.events[0];
    assert_eq!(event.kind, "guestbook_migrated");
    assert_eq!((event.get("from_version"), event.get("to_version")), (Some("1"), Some("1")));
    assert_eq!(sign(&mut host, ALICE, "abcdefghij").unwrap(), 2);
    assert_eq!(count(&mut host), 2);

    let before = host.state().clone();
    let err = host.migrate(ALICE, &json!({"max_message_len": 5000})).unwrap_err();
    assert_eq!(err, "max_message_len must be between 1 and 4096, got 5000");
    let err = host.migrate(ALICE, &json!({"max": 1})).unwrap_err();
    assert!(err.starts_with("invalid migrate message: unknown field `max`"), "{err}");
    assert_eq!(host.state(), &before);
}

#[test]
fn calls_before_init_fail_cleanly() {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE]);
    let err = sign(&mut host, ALICE, "too early").unwrap_err();
    assert_eq!(err, "item \"config\" not found");
    let err = host.query::<CountResponse>(&json!({"count": {}})).unwrap_err();
    assert_eq!(err, "item \"count\" not found");
}

#[test]
fn sign_elsewhere_sends_a_sign_to_the_other_partnerships_guestbook() {
    let mut host = book(json!({}));
    let response = host
        .handle(ALICE, &json!({"sign_elsewhere": {"partnership": "pp1project", "message": "hello"}}))
        .unwrap();
    assert_eq!(
        response.messages,
        vec![polypact_sdk::Message::Partnership {
            to: "pp1project".into(),
            module: "guestbook".into(),
            msg: br#"{"sign":{"message":"hello"}}"#.to_vec(),
        }]
    );
    assert_eq!(response.events[0].kind, "signing_elsewhere");
    let refused =
        host.handle(MALLORY, &json!({"sign_elsewhere": {"partnership": "pp1project", "message": "hi"}}));
    assert!(refused.unwrap_err().contains("only current participants"));
    let empty = host.handle(ALICE, &json!({"sign_elsewhere": {"partnership": "pp1project", "message": " "}}));
    assert!(empty.unwrap_err().contains("empty"));
}

#[test]
fn a_listed_partnership_signs_and_an_unlisted_one_does_not() {
    let mut host = book(json!({"partnerships": ["pp1program"]}));
    assert_eq!(sign(&mut host, "pp1program", "from the program"), Ok(1));
    let refused = sign(&mut host, "pp1stranger", "let me in").unwrap_err();
    assert!(refused.contains("only current participants may sign, and pp1stranger is not one"), "{refused}");
    assert_eq!(count(&mut host), 1);
}
