//! System messages through real WASM: `install_module`, `upgrade_module`
//! (with the new code's `migrate`) and `dissolve`, each carried by a passed
//! `voting` proposal and checked against the charter's permission table.
//!
//! This file owns the ledger-level behaviour of those three messages: what
//! an installed module answers, that an upgrade runs `migrate` atomically,
//! that a module without the permission is refused ("does not grant"), and
//! that after dissolution every call fails while queries keep answering.
//! The modules' own rules are tested with the modules.

use std::collections::BTreeMap;

use polypact::ledger::OpOutcome;
use polypact::op::{MemberKey, OpId, SystemPermission};
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::{Value, json};

const PERIOD: u64 = 1_000;

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Three members (50 admin / 30 / 20 voting units) with membership and
/// voting; voting holds `voting_grants`; `extra` modules are added after.
fn setup(voting_grants: &[SystemPermission], extra: &[(&str, &[u8], &str)]) -> WasmHarness {
    let membership = wasm("membership");
    let voting = wasm("voting");
    let id = |seed: u8| MemberKey::from_seed(seed).member_id().to_string();
    let membership_config = json!({
        "members": [
            {"member": id(1), "voting_units": 50, "economic_units": 50, "roles": ["admin"]},
            {"member": id(2), "voting_units": 30, "economic_units": 30},
            {"member": id(3), "voting_units": 20, "economic_units": 20}
        ],
        "governance": "voting"
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": PERIOD, "max_period_ms": PERIOD,
        "grace_period_ms": 0, "allow_vote_change": false
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let mut modules: Vec<(&str, &[u8], &str, &[SystemPermission])> = vec![
        ("membership", &membership, &membership_config, &grants),
        ("voting", &voting, &voting_config, voting_grants),
    ];
    for &(name, code, config) in extra {
        modules.push((name, code, config, &[]));
    }
    WasmHarness::new(3, &modules).expect("genesis")
}

/// Alice proposes `messages`, Alice and Bob vote yes (80 of 100), the
/// period ends, and Carol executes. Returns the proposal id and the
/// execution op (which may have failed).
fn pass(h: &mut WasmHarness, messages: Value) -> (u64, OpId) {
    let propose = h.call(0, "voting", &json!({"propose": {"title": "System", "messages": messages}}));
    assert_eq!(h.outcome_error(&propose), None, "propose");
    let id = h.outcome_data(&propose).expect("an id")["id"].as_u64().expect("an id");
    for voter in [0, 1] {
        let vote = h.call(voter, "voting", &json!({"vote": {"proposal": id, "choice": "yes"}}));
        assert_eq!(h.outcome_error(&vote), None, "vote");
    }
    h.advance_ms(PERIOD);
    let execute = h.call(2, "voting", &json!({"execute": {"proposal": id}}));
    (id, execute)
}

fn state(h: &WasmHarness) -> BTreeMap<Vec<u8>, Vec<u8>> {
    h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The op failed with an error containing `want`, and the failure record
/// is the only change to the state.
fn assert_failed_cleanly(h: &WasmHarness, before: &BTreeMap<Vec<u8>, Vec<u8>>, op: &OpId, want: &str) {
    let error = h.outcome_error(op).unwrap_or_else(|| panic!("expected a failure containing {want:?}"));
    assert!(error.contains(want), "got {error:?}, want it to contain {want:?}");
    let after = state(h);
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)), "a key changed or vanished");
    let added: Vec<_> = after.iter().filter(|(k, _)| !before.contains_key(*k)).collect();
    assert_eq!(added.len(), 1, "only the failure record may be added");
    assert_eq!(h.ledger.optimistic_state().failure(op), Some(error));
}

fn events(h: &WasmHarness, op: &OpId) -> Vec<(String, String)> {
    match h.ledger.outcome(op) {
        Some(OpOutcome::Applied { events, .. }) => {
            events.into_iter().map(|e| (e.module, e.event.kind)).collect()
        }
        other => panic!("not applied: {other:?}"),
    }
}

fn code_of(h: &WasmHarness, module: &str) -> Option<String> {
    h.ledger.modules().into_iter().find(|(name, _)| name == module).map(|(_, r)| r.code.to_hex())
}

/// The same module with a custom section appended: the same behaviour under
/// another code hash (a stand-in for a new release).
fn another_build(wasm: &[u8]) -> Vec<u8> {
    let name = b"polypact-test-release";
    let payload = b"2";
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + payload.len()) as u8); // size (LEB128, < 128)
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[test]
fn a_voted_install_adds_a_module_that_answers_and_takes_calls() {
    let guestbook = wasm("guestbook");
    let mut h = setup(&[SystemPermission::InstallModule], &[]);
    let (code, published) = h.publish(1, &guestbook);
    let last = published.last().expect("a chunk");
    assert_eq!(h.outcome_error(last), None, "published");
    assert!(events(&h, last).contains(&("system".into(), "code_published".into())));
    assert!(
        h.query("guestbook", &json!({"count": {}}))
            .expect_err("an error")
            .contains("no module named `guestbook`")
    );
    let install = |permissions: Value| {
        json!([{"system": {"install_module": {
            "name": "guestbook", "code": code.to_hex(),
            "config": {"max_message_len": 100}, "permissions": permissions
        }}}])
    };
    // Voting cannot grant what it does not hold: the op fails, nothing installed.
    let (id, refused) = pass(&mut h, install(json!(["add_participant"])));
    let error = h.outcome_error(&refused).expect("refused");
    assert!(
        error.contains("module `voting` cannot grant `add_participant`, which it does not hold"),
        "{error}"
    );
    assert_eq!(code_of(&h, "guestbook"), None);
    let status =
        h.query("voting", &json!({"proposal": {"id": id}})).expect("the query answers")["status"].clone();
    assert_eq!(status, json!("executable"), "a failed execution leaves the proposal unexecuted");

    let (_, execute) = pass(&mut h, install(json!([])));
    assert_eq!(h.outcome_error(&execute), None);
    assert!(events(&h, &execute).contains(&("guestbook".into(), "guestbook_opened".into())));
    assert_eq!(code_of(&h, "guestbook"), Some(code.to_hex()));
    assert_eq!(
        h.query("guestbook", &json!({"config": {}})).expect("the query answers"),
        json!({"max_message_len": 100, "participants_only": true, "partnerships": []})
    );
    let sign = h.call(1, "guestbook", &json!({"sign": {"message": "installed by vote"}}));
    assert_eq!(h.outcome_error(&sign), None);
    assert_eq!(h.query("guestbook", &json!({"count": {}})).expect("the query answers"), json!({"count": 1}));
    // The same name again is refused.
    let (_, again) = pass(&mut h, install(json!([])));
    assert!(
        h.outcome_error(&again).expect("refused").contains("a module named `guestbook` is already installed")
    );
}

#[test]
fn a_voted_upgrade_runs_the_new_codes_migrate_atomically() {
    let guestbook = wasm("guestbook");
    let mut h =
        setup(&[SystemPermission::UpgradeModule], &[("guestbook", &guestbook, r#"{"max_message_len": 10}"#)]);
    let old = code_of(&h, "guestbook").expect("installed at genesis");
    let sign = h.call(0, "guestbook", &json!({"sign": {"message": "short"}}));
    assert_eq!(h.outcome_error(&sign), None);
    let long = json!({"sign": {"message": "a message longer than ten"}});
    let refused = h.call(0, "guestbook", &long);
    assert!(h.outcome_error(&refused).expect("too long").contains("at most 10"));

    // Code without a migrate entry point: the upgrade fails as a whole.
    let (voting_code, _) = h.publish(0, &wasm("voting"));
    let upgrade = |code: String| {
        json!([{"system": {"upgrade_module": {
            "name": "guestbook", "code": code, "migrate_msg": {"max_message_len": 500}
        }}}])
    };
    let (_, failed) = pass(&mut h, upgrade(voting_code.to_hex()));
    let error = h.outcome_error(&failed).expect("no migrate");
    assert!(error.contains("migrate"), "{error}");
    assert_eq!(code_of(&h, "guestbook"), Some(old.clone()), "the code did not change");

    let release = another_build(&guestbook);
    let (new, _) = h.publish(2, &release);
    assert_ne!(new.to_hex(), old);
    let (_, execute) = pass(&mut h, upgrade(new.to_hex()));
    assert_eq!(h.outcome_error(&execute), None);
    assert!(events(&h, &execute).contains(&("guestbook".into(), "guestbook_migrated".into())));
    assert_eq!(code_of(&h, "guestbook"), Some(new.to_hex()));
    assert_eq!(
        h.query("guestbook", &json!({"config": {}})).expect("the query answers")["max_message_len"],
        json!(500)
    );
    assert_eq!(
        h.query("guestbook", &json!({"count": {}})).expect("the query answers"),
        json!({"count": 1}),
        "entries kept"
    );
    let accepted = h.call(0, "guestbook", &long);
    assert_eq!(h.outcome_error(&accepted), None);
}

#[test]
fn a_module_without_the_permission_is_refused() {
    let guestbook = wasm("guestbook");
    let mut h = setup(&[], &[("guestbook", &guestbook, "{}")]);
    let code = h.ledger.executor().add_code(&another_build(&guestbook)).expect("loads");
    let cases = [
        (
            json!([{"system": {"install_module": {"name": "book2", "code": code.to_hex(), "config": {}}}}]),
            "module `voting` may not send `install_module` (the charter does not grant it)",
        ),
        (
            json!([{"system": {"upgrade_module": {"name": "guestbook", "code": code.to_hex(), "migrate_msg": {}}}}]),
            "module `voting` may not send `upgrade_module` (the charter does not grant it)",
        ),
        (
            json!([{"system": {"dissolve": {"reason": "done"}}}]),
            "module `voting` may not send `dissolve` (the charter does not grant it)",
        ),
    ];
    for (messages, want) in cases {
        let propose = h.call(0, "voting", &json!({"propose": {"title": "System", "messages": messages}}));
        let id = h.outcome_data(&propose).expect("an id")["id"].as_u64().expect("an id");
        for voter in [0, 1] {
            h.call(voter, "voting", &json!({"vote": {"proposal": id, "choice": "yes"}}));
        }
        h.advance_ms(PERIOD);
        let before = state(&h);
        let execute = h.call(2, "voting", &json!({"execute": {"proposal": id}}));
        assert_failed_cleanly(&h, &before, &execute, want);
    }
    assert_eq!(h.query("system", &json!({"dissolution": {}})).expect("the query answers"), Value::Null);
}

#[test]
fn after_a_voted_dissolution_calls_fail_and_queries_answer() {
    let mut h = setup(&[SystemPermission::Dissolve], &[]);
    let (id, execute) = pass(&mut h, json!([{"system": {"dissolve": {"reason": "project delivered"}}}]));
    assert_eq!(h.outcome_error(&execute), None);
    let record = h.query("system", &json!({"dissolution": {}})).expect("the query answers");
    assert_eq!(record["reason"], json!("project delivered"));
    assert_eq!(record["op"], json!(execute.to_hex()));
    let height = record["height"].as_u64().expect("a height");
    let want = format!(
        "the partnership is dissolved (at height {height}: project delivered); it accepts queries only"
    );
    let calls = [
        (0, "voting", json!({"propose": {"title": "Again"}})),
        (1, "voting", json!({"execute": {"proposal": id}})),
        (2, "membership", json!({"resign": {}})),
        (0, "nowhere", json!({})),
    ];
    for (who, module, msg) in calls {
        let before = state(&h);
        let op = h.call(who, module, &msg);
        assert_failed_cleanly(&h, &before, &op, &want);
    }
    // Queries still answer, from the modules and from `system`.
    let p = h.query("voting", &json!({"proposal": {"id": id}})).expect("the query answers");
    assert_eq!(p["status"], json!("executed"));
    assert_eq!(
        h.query("membership", &json!({"totals": {}})).expect("the query answers")["members"],
        json!(3)
    );
    assert_eq!(
        h.query("system", &json!({"participants": {}})).expect("the query answers").as_array().map(Vec::len),
        Some(3)
    );
    // Acks still finalise what came before.
    h.ack_all();
    assert!(h.ledger.is_final(&execute));
}

/// The attack of issue 21: a vote installs code that the partnership's log
/// does not hold. Every node, whether or not its operator loaded that code
/// by hand, fails the op with the same error; nothing halts, and the ops
/// after it (and their finality) go on.
#[test]
fn an_install_naming_code_outside_the_log_fails_the_same_on_every_node_and_nothing_halts() {
    let guestbook = wasm("guestbook");
    let code = polypact::op::CodeHash::of(&guestbook);
    let install = json!([{"system": {"install_module": {
        "name": "guestbook", "code": code.to_hex(), "config": {}, "permissions": []
    }}}]);
    let mut outcomes = Vec::new();
    for loaded_by_hand in [true, false] {
        let mut h = setup(&[SystemPermission::InstallModule], &[]);
        if loaded_by_hand {
            // An operator uploaded it to this node (`POST /v1/code`): it
            // still is not the partnership's code.
            h.ledger.executor().add_code(&guestbook).expect("loads");
        }
        let before = state(&h);
        let (_, execute) = pass(&mut h, install.clone());
        let error = h.outcome_error(&execute).expect("refused");
        assert!(error.contains(&format!("code {code} is not published in this partnership")), "{error}");
        assert!(!before.is_empty());
        assert_eq!(h.ledger.halted(), None, "the ledger never halts for code outside the log");
        let after = h.call(0, "voting", &json!({"propose": {"title": "Life goes on", "messages": []}}));
        assert_eq!(h.outcome_error(&after), None);
        h.ack_all();
        assert!(h.ledger.is_final(&after), "finality goes on");
        outcomes.push((error, h.ledger.optimistic_root()));
    }
    assert_eq!(outcomes[0], outcomes[1], "the same error and the same state on both nodes");
}

/// A hostile participant's publications: out of order, another author's
/// code, chunks that hash to something else, code over the charter's limit,
/// and bytes that are not a module. Each fails cleanly and publishes
/// nothing; an honest publication afterwards still works.
#[test]
fn hostile_publications_fail_cleanly_and_publish_nothing() {
    use polypact::op::{CODE_CHUNK_BYTES, CodeChunk, Payload};
    let mut h = setup(&[SystemPermission::InstallModule], &[]);
    let guestbook = wasm("guestbook");
    assert!(guestbook.len() > CODE_CHUNK_BYTES, "the test needs a module of two chunks or more");
    let chunks = CodeChunk::split(&guestbook);
    let publish_chunk = |h: &mut WasmHarness, who: usize, chunk: CodeChunk| {
        h.advance_ms(1);
        let now = h.now;
        let op = h.ledger.create_op(&h.keys[who], Payload::PublishCode(chunk), now);
        let id = op.id();
        h.ledger.insert(op, now).expect("structurally fine");
        id
    };
    // The second chunk first: it follows nothing.
    let skipped = publish_chunk(&mut h, 0, chunks[1].clone());
    assert!(h.outcome_error(&skipped).expect("refused").contains("does not follow"));
    // Bob's first chunk does not let Alice continue Bob's publication.
    publish_chunk(&mut h, 1, chunks[0].clone());
    let foreign = publish_chunk(&mut h, 0, chunks[1].clone());
    assert!(h.outcome_error(&foreign).expect("refused").contains("does not follow"));
    // Chunks claiming another hash: the whole is checked against it.
    let forged: Vec<CodeChunk> = chunks
        .iter()
        .cloned()
        .map(|mut c| {
            c.code = polypact::op::CodeHash::of(b"something else");
            c
        })
        .collect();
    let mut last = None;
    for chunk in forged {
        last = Some(publish_chunk(&mut h, 2, chunk));
    }
    let error = h.outcome_error(&last.expect("ops")).expect("refused");
    assert!(error.contains("the published chunks hash to"), "{error}");
    // Bytes that are not a module.
    let (junk, ops) = h.publish(2, b"not a wasm module at all");
    let error = h.outcome_error(ops.last().expect("an op")).expect("refused");
    assert!(error.contains(&format!("code {junk} cannot be published")), "{error}");
    let published: Vec<_> = h.ledger.optimistic_state().published_codes();
    assert!(
        published.iter().all(|(code, _)| *code != junk && *code != CodeChunk::split(&guestbook)[0].code),
        "nothing hostile got published"
    );
    // Bob finishes his own publication honestly after all that.
    for chunk in chunks.iter().skip(1) {
        let id = publish_chunk(&mut h, 1, chunk.clone());
        assert_eq!(h.outcome_error(&id), None);
    }
    assert!(h.ledger.optimistic_state().published_code(&chunks[0].code).is_some());
}

/// Code over the charter's `max_code_bytes` is refused before any chunk is
/// kept, the same on every node.
#[test]
fn code_over_the_charters_limit_is_not_published() {
    use polypact::op::{CodeChunk, Payload};
    let mut h = setup(&[], &[]);
    let limit = h.ledger.charter().params.max_code_bytes;
    let big = vec![0u8; limit as usize + 1];
    let first = CodeChunk::split(&big).remove(0);
    h.advance_ms(1);
    let now = h.now;
    let op = h.ledger.create_op(&h.keys[0], Payload::PublishCode(first), now);
    let id = op.id();
    h.ledger.insert(op, now).expect("structurally fine");
    let error = h.outcome_error(&id).expect("refused");
    assert!(error.contains("over this partnership's max_code_bytes"), "{error}");
}
