//! Governance scenarios through the real WASM: the `membership` and `voting`
//! modules built for wasm32, loaded by the WASM host and driven by signed
//! ops through a ledger.
//!
//! This file owns the voting outcomes a partnership depends on (quorum,
//! veto, late quorum, vote changes, delegation, expulsion, the decision
//! table) and the bad messages that must fail with a clear error while
//! changing nothing but the ledger's failure record, and the plain case: a
//! proposal that passes admits a new partner, whose ops then count.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeMap;

use polypact::op::{OpId, SystemPermission};
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::{Value, json};

const ALICE: usize = 0; // 40 voting units, admin (veto)
const BOB: usize = 1; // 30
const CAROL: usize = 2; // 20
const DAVE: usize = 3; // 10
const ERIN: usize = 4; // a participant who is not a member (no voting units)

const PERIOD: u64 = 10_000;
const GRACE: u64 = 1_000;
const EXTENSION: u64 = 5_000;

/// Five keys, all participants; the first four are members with 40/30/20/10
/// voting units, Erin holds none.
fn setup() -> WasmHarness {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let id = |seed: u8| polypact::op::MemberKey::from_seed(seed).member_id().to_string();
    let membership_config = json!({
        "members": [
            {"member": id(1), "voting_units": 40, "economic_units": 40, "roles": ["admin"]},
            {"member": id(2), "voting_units": 30, "economic_units": 5},
            {"member": id(3), "voting_units": 20, "economic_units": 20},
            {"member": id(4), "voting_units": 10, "economic_units": 10}
        ],
        "governance": "voting"
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {
            "default": {"threshold": {"majority": {}}, "quorum_percent": 50},
            "admit_member": {"threshold": {"percent": {"percent": 67}}, "quorum_percent": 50}
        },
        "min_period_ms": 1000, "max_period_ms": 100_000,
        "grace_period_ms": GRACE, "late_quorum_extension_ms": EXTENSION,
        "allow_vote_change": true, "proposers": "members",
        "veto": {"role": "admin"}, "expiry_ms": 1_000_000
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    WasmHarness::new(
        5,
        &[("membership", &membership, &membership_config, &grants), ("voting", &voting, &voting_config, &[])],
    )
    .expect("genesis")
}

/// Asserts that `op` succeeded (the op first, so a call can be written inline).
fn ok(op: OpId, h: &WasmHarness) {
    assert_eq!(h.outcome_error(&op), None, "the op should have succeeded");
}

/// Member `who` proposes `body` (with `period_ms` = [`PERIOD`] unless set); returns the id.
fn propose(h: &mut WasmHarness, who: usize, mut body: Value) -> u64 {
    if body.get("period_ms").is_none() {
        body["period_ms"] = json!(PERIOD);
    }
    let op = h.call(who, "voting", &json!({"propose": body}));
    ok(op, h);
    h.outcome_data(&op).expect("propose returns data")["id"].as_u64().expect("an id")
}

fn vote(h: &mut WasmHarness, who: usize, id: u64, choice: &str) -> OpId {
    h.call(who, "voting", &json!({"vote": {"proposal": id, "choice": choice}}))
}

fn proposal(h: &WasmHarness, id: u64) -> Value {
    h.query("voting", &json!({"proposal": {"id": id}})).expect("proposal query")
}

fn execute(h: &mut WasmHarness, who: usize, id: u64) -> OpId {
    h.call(who, "voting", &json!({"execute": {"proposal": id}}))
}

/// Moves the clock to `t` (if it is not past it) and lets every
/// participant ack: queries answer at the time of the latest op.
fn at(h: &mut WasmHarness, t: u64) {
    h.now = h.now.max(t);
    h.ack_all();
}

/// Moves the clock past the proposal's close and its grace period.
fn past_grace(h: &mut WasmHarness, id: u64) {
    let closes = proposal(h, id)["closes_ms"].as_u64().unwrap();
    at(h, closes + GRACE);
}

fn state(h: &WasmHarness) -> BTreeMap<Vec<u8>, Vec<u8>> {
    h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The op failed with an error containing `want`, and the only change to
/// the state is the ledger's record of that failure.
fn assert_failed_cleanly(h: &WasmHarness, before: &BTreeMap<Vec<u8>, Vec<u8>>, op: &OpId, want: &str) {
    let error = h.outcome_error(op).unwrap_or_else(|| panic!("expected a failure containing {want:?}"));
    assert!(error.contains(want), "got {error:?}, want it to contain {want:?}");
    let after = state(h);
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)), "a key changed or vanished");
    let added: Vec<_> = after.iter().filter(|(k, _)| !before.contains_key(*k)).collect();
    assert_eq!(added.len(), 1, "only the failure record may be added");
    assert_eq!(added[0].1, error.as_bytes());
    assert_eq!(h.ledger.optimistic_state().failure(op), Some(error));
}

#[test]
fn a_proposal_without_quorum_is_rejected_and_cannot_execute() {
    let mut h = setup();
    let id = propose(&mut h, BOB, json!({"title": "Buy a van"}));
    ok(vote(&mut h, BOB, id, "yes"), &h); // 30 of 100 < 50%
    ok(vote(&mut h, DAVE, id, "abstain"), &h); // 40 of 100
    past_grace(&mut h, id);
    let p = proposal(&h, id);
    assert_eq!(p["status"], json!("rejected"));
    assert_eq!((p["tally"]["yes"].as_u64(), p["tally"]["abstain"].as_u64()), (Some(30), Some(10)));
    let before = state(&h);
    let op = execute(&mut h, ALICE, id);
    assert_failed_cleanly(&h, &before, &op, "proposal 1 cannot be executed now (status: Rejected)");
}

#[test]
fn a_vetoed_proposal_cannot_execute() {
    let mut h = setup();
    let id = propose(&mut h, BOB, json!({"title": "Raise fees"}));
    for who in [BOB, CAROL, DAVE] {
        ok(vote(&mut h, who, id, "yes"), &h); // 60 yes: passes
    }
    let closes = proposal(&h, id)["closes_ms"].as_u64().unwrap();
    at(&mut h, closes); // closed, in grace
    assert_eq!(proposal(&h, id)["status"], json!("passed"));
    let before = state(&h);
    let op = h.call(BOB, "voting", &json!({"veto": {"proposal": id}}));
    let bob = h.member(BOB).to_string();
    assert_failed_cleanly(&h, &before, &op, &format!("not allowed: {bob} does not hold the veto"));
    let veto = h.call(ALICE, "voting", &json!({"veto": {"proposal": id}}));
    ok(veto, &h);
    past_grace(&mut h, id);
    let p = proposal(&h, id);
    assert_eq!(p["status"], json!("vetoed"));
    assert_eq!(p["vetoed_by"], json!(h.member(ALICE).to_string()));
    let before = state(&h);
    let op = execute(&mut h, CAROL, id);
    assert_failed_cleanly(&h, &before, &op, "proposal 1 cannot be executed now (status: Vetoed)");
}

#[test]
fn late_quorum_extends_the_vote() {
    let mut h = setup();
    let id = propose(&mut h, ALICE, json!({"title": "Late"}));
    let end = proposal(&h, id)["end_ms"].as_u64().unwrap();
    h.now = end - 1_000;
    ok(vote(&mut h, ALICE, id, "yes"), &h); // 40%: no quorum
    assert_eq!(proposal(&h, id)["end_ms"].as_u64(), Some(end));
    let quorum_vote = vote(&mut h, BOB, id, "no"); // 70%: quorum within the last 5 s
    ok(quorum_vote, &h);
    let reached = h.now;
    let p = proposal(&h, id);
    assert_eq!(p["end_ms"].as_u64(), Some(reached + EXTENSION));
    assert_eq!(p["quorum_reached_ms"].as_u64(), Some(reached));
    // Past the original end it is still open and votes still count.
    h.now = end + 10;
    ok(vote(&mut h, CAROL, id, "yes"), &h);
    assert_eq!(proposal(&h, id)["status"], json!("open"));
    at(&mut h, reached + EXTENSION);
    let p = proposal(&h, id);
    assert_eq!(p["status"], json!("passed"));
    assert_eq!((p["tally"]["yes"].as_u64(), p["tally"]["no"].as_u64()), (Some(60), Some(30)));
}

#[test]
fn a_changed_vote_moves_the_tally() {
    let mut h = setup();
    let id = propose(&mut h, ALICE, json!({"title": "Change"}));
    ok(vote(&mut h, BOB, id, "yes"), &h);
    assert_eq!(proposal(&h, id)["tally"]["yes"].as_u64(), Some(30));
    ok(vote(&mut h, BOB, id, "no"), &h);
    let tally = proposal(&h, id)["tally"].clone();
    assert_eq!((tally["yes"].as_u64(), tally["no"].as_u64()), (Some(0), Some(30)));
    let bob = h.member(BOB).to_string();
    let ballot = h.query("voting", &json!({"vote": {"proposal": id, "voter": bob}})).unwrap();
    assert_eq!(ballot["ballot"]["choice"], json!("no"));
    assert_eq!(ballot["ballot"]["weight"].as_u64(), Some(30));
}

#[test]
fn a_delegates_ballot_carries_its_delegator_until_the_delegator_votes() {
    let mut h = setup();
    let carol = h.member(CAROL).to_string();
    let d = h.call(DAVE, "voting", &json!({"delegate": {"to": carol}}));
    ok(d, &h);
    let id = propose(&mut h, ALICE, json!({"title": "Delegation"}));
    ok(vote(&mut h, CAROL, id, "yes"), &h);
    let ballot = h.query("voting", &json!({"vote": {"proposal": id, "voter": carol}})).unwrap();
    assert_eq!(ballot["ballot"]["weight"].as_u64(), Some(30)); // 20 own + 10 Dave's
    assert_eq!(ballot["ballot"]["delegated"], json!([[h.member(DAVE).to_string(), 10]]));
    assert_eq!(proposal(&h, id)["tally"]["yes"].as_u64(), Some(30));
    // Dave votes himself: his power leaves Carol's ballot.
    ok(vote(&mut h, DAVE, id, "no"), &h);
    let ballot = h.query("voting", &json!({"vote": {"proposal": id, "voter": carol}})).unwrap();
    assert_eq!(ballot["ballot"]["weight"].as_u64(), Some(20));
    assert_eq!(ballot["ballot"]["delegated"], json!([]));
    let tally = proposal(&h, id)["tally"].clone();
    assert_eq!((tally["yes"].as_u64(), tally["no"].as_u64()), (Some(20), Some(10)));
}

#[test]
fn an_expelled_members_voting_units_turn_economic() {
    let mut h = setup();
    let bob = h.member(BOB);
    let id = propose(
        &mut h,
        ALICE,
        json!({"title": "Expel Bob", "messages": [
            {"call": {"module": "membership", "msg": {"expel": {"member": bob.to_string()}}}}
        ]}),
    );
    for who in [ALICE, CAROL, DAVE] {
        ok(vote(&mut h, who, id, "yes"), &h);
    }
    past_grace(&mut h, id);
    assert_eq!(proposal(&h, id)["status"], json!("executable"));
    let op = execute(&mut h, CAROL, id);
    ok(op, &h);
    assert_eq!(proposal(&h, id)["status"], json!("executed"));
    let m = h.query("membership", &json!({"member": {"member": bob.to_string()}})).unwrap();
    assert_eq!(m["active"], json!(false));
    assert_eq!((m["voting_units"].as_u64(), m["economic_units"].as_u64()), (Some(0), Some(35)));
    let totals = h.query("membership", &json!({"totals": {}})).unwrap();
    assert_eq!(totals["former_economic_units"].as_u64(), Some(35));
    assert_eq!(totals["voting_units"].as_u64(), Some(70));
    assert!(h.ledger.participants().iter().all(|(m, _)| *m != bob), "the registry follows membership");
    assert!(h.try_call(BOB, "voting", &json!({"undelegate": {}})).is_err(), "Bob's ops are refused");
}

#[test]
fn the_same_votes_pass_a_default_proposal_and_fail_an_admission() {
    let mut h = setup();
    let plain = propose(&mut h, ALICE, json!({"title": "Plain", "kind": "default"}));
    let admit = propose(&mut h, ALICE, json!({"title": "Admit", "kind": "admit_member"}));
    for id in [plain, admit] {
        ok(vote(&mut h, ALICE, id, "yes"), &h);
        ok(vote(&mut h, CAROL, id, "yes"), &h);
        ok(vote(&mut h, BOB, id, "no"), &h); // 60 yes of 90 cast: 66.7% < 67%
    }
    past_grace(&mut h, plain);
    past_grace(&mut h, admit);
    assert_eq!(proposal(&h, plain)["status"], json!("executable"));
    assert_eq!(proposal(&h, admit)["status"], json!("rejected"));
    assert_eq!(proposal(&h, admit)["rule"]["threshold"], json!({"percent": {"percent": 67}}));
    ok(execute(&mut h, DAVE, plain), &h);
    let before = state(&h);
    let op = execute(&mut h, DAVE, admit);
    assert_failed_cleanly(&h, &before, &op, "proposal 2 cannot be executed now (status: Rejected)");
}

#[test]
fn bad_messages_fail_clearly_and_change_nothing_but_the_failure_record() {
    let mut h = setup();
    let id = propose(&mut h, ALICE, json!({"title": "Target", "period_ms": 1000}));
    ok(vote(&mut h, ALICE, id, "yes"), &h);
    ok(vote(&mut h, BOB, id, "yes"), &h);
    let erin = h.member(ERIN).to_string();
    let cases: Vec<(usize, Vec<u8>, String)> = vec![
        (
            BOB,
            json!({"vote": {"proposal": 9, "choice": "yes"}}).to_string().into_bytes(),
            "there is no proposal 9".into(),
        ),
        (
            ERIN,
            json!({"vote": {"proposal": id, "choice": "yes"}}).to_string().into_bytes(),
            format!("{erin} had no voting power at height"),
        ),
        (BOB, br#"{"vote": 5}"#.to_vec(), "invalid handle message".into()),
        (BOB, br#"{"dance": {}}"#.to_vec(), "invalid handle message: unknown variant `dance`".into()),
        (BOB, json!({"execute": {"proposal": 9}}).to_string().into_bytes(), "there is no proposal 9".into()),
    ];
    for (who, msg, want) in cases {
        let before = state(&h);
        let op = call_raw(&mut h, who, "voting", msg);
        assert_failed_cleanly(&h, &before, &op, &want);
    }
    // Bytes that are not JSON never reach a module: the ledger refuses the
    // op at the door, so there is not even a failure record.
    let (root, ops) = (h.ledger.optimistic_root(), h.ops().len());
    h.now += 1;
    let payload = polypact::op::Payload::Call { module: "voting".into(), msg: b"\xff\x00 not json".to_vec() };
    let op = h.ledger.create_op(&h.keys[BOB], payload, h.now);
    let refusal = h.ledger.insert(op, h.now).expect_err("non-JSON is refused").to_string();
    assert!(refusal.contains("call message is not valid JSON"), "{refusal}");
    assert_eq!((h.ledger.optimistic_root(), h.ops().len()), (root, ops));
    // After the close, a vote fails; after execution, a second execution fails.
    past_grace(&mut h, id);
    let before = state(&h);
    let op = vote(&mut h, CAROL, id, "yes");
    assert_failed_cleanly(&h, &before, &op, "proposal 1 is closed for voting (status: Executable)");
    ok(execute(&mut h, DAVE, id), &h);
    let before = state(&h);
    let op = execute(&mut h, DAVE, id);
    assert_failed_cleanly(&h, &before, &op, "proposal 1 cannot be executed now (status: Executed)");
    // A call to a module the charter does not have.
    let before = state(&h);
    let op = call_raw(&mut h, BOB, "treasury", b"{}".to_vec());
    assert_failed_cleanly(&h, &before, &op, "no module named `treasury` in this partnership");
}

/// Member `who` sends raw bytes (not necessarily JSON) to `module`.
fn call_raw(h: &mut WasmHarness, who: usize, module: &str, msg: Vec<u8>) -> OpId {
    h.now += 1;
    let payload = polypact::op::Payload::Call { module: module.to_owned(), msg };
    let op = h.ledger.create_op(&h.keys[who], payload, h.now);
    let id = op.id();
    h.ledger.insert(op, h.now).expect("the op is accepted into the graph");
    id
}

#[test]
fn a_passed_proposal_admits_a_member_through_the_registry() {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let members = [
        polypact::op::MemberKey::from_seed(1).member_id(),
        polypact::op::MemberKey::from_seed(2).member_id(),
    ];
    let membership_config = json!({
        "members": [
            {"member": members[0].to_string(), "voting_units": 100, "economic_units": 100, "roles": ["admin"]},
            {"member": members[1].to_string(), "voting_units": 50, "economic_units": 50, "roles": []}
        ],
        "governance": "voting"
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 1000, "max_period_ms": 100000,
        "grace_period_ms": 1000, "late_quorum_extension_ms": 0,
        "allow_vote_change": true, "proposers": "members", "veto": null, "expiry_ms": 1000000
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let mut h = WasmHarness::with_participants(
        3,
        2,
        &[("membership", &membership, &membership_config, &grants), ("voting", &voting, &voting_config, &[])],
    )
    .expect("genesis");
    let newcomer = h.member(2);
    // Not a participant yet: the front door refuses its ops.
    assert!(h.try_call(2, "voting", &json!({"delegate": {"to": members[0].to_string()}})).is_err());

    h.advance_ms(10);
    let propose = h.call(
        0,
        "voting",
        &json!({"propose": {"title": "Admit the bank", "messages": [
            {"call": {"module": "membership", "msg": {"admit": {"member": newcomer.to_string(), "voting_units": 30, "economic_units": 30}}}}
        ], "period_ms": 1000}}),
    );
    assert_eq!(h.outcome_error(&propose), None);
    assert_eq!(h.outcome_data(&propose), Some(json!({"id": 1})));
    for voter in [0, 1] {
        let vote = h.call(voter, "voting", &json!({"vote": {"proposal": 1, "choice": "yes"}}));
        assert_eq!(h.outcome_error(&vote), None);
    }
    // Too early: still open or in grace.
    let early = h.call(0, "voting", &json!({"execute": {"proposal": 1}}));
    assert!(h.outcome_error(&early).is_some());
    h.advance_ms(5_000);
    let execute = h.call(1, "voting", &json!({"execute": {"proposal": 1}}));
    assert_eq!(h.outcome_error(&execute), None, "execution failed");
    assert!(h.ledger.participants().iter().any(|(m, _)| *m == newcomer), "the registry follows membership");
    let member = h.query("membership", &json!({"member": {"member": newcomer.to_string()}})).expect("query");
    assert_eq!(member["voting_units"], json!(30));
    // Double execution fails; its only trace is the failure record.
    let keys_before = h.ledger.optimistic_state().len();
    let again = h.call(0, "voting", &json!({"execute": {"proposal": 1}}));
    assert!(h.outcome_error(&again).is_some());
    assert_eq!(h.ledger.optimistic_state().len(), keys_before + 1);
    // The newcomer now authors, and finality waits for it too.
    h.call(2, "voting", &json!({"delegate": {"to": members[0].to_string()}}));
    h.ack_all();
    assert!(h.ledger.is_final(&execute));
}

/// The attack of issue 23 through the real modules: an admission labelled
/// `default` is held to the admission rule (membership declares `admit` an
/// admission), so 66.7% does not pass it; the same proposal with 80% does.
#[test]
fn a_relabelled_admission_fails_and_passes_only_with_the_admission_majority() {
    let mut h = setup();
    let frank = polypact::op::MemberKey::from_seed(9).member_id().to_string();
    let admission = json!({"title": "Admit Frank", "kind": "default", "messages": [
        {"call": {"module": "membership", "msg": {"admit": {"member": frank, "voting_units": 5, "economic_units": 5}}}}
    ]});
    let relabelled = propose(&mut h, ALICE, admission.clone());
    assert_eq!(proposal(&h, relabelled)["kind"], json!("admit_member"));
    ok(vote(&mut h, ALICE, relabelled, "yes"), &h);
    ok(vote(&mut h, CAROL, relabelled, "yes"), &h);
    ok(vote(&mut h, BOB, relabelled, "no"), &h); // 60 of 90: 66.7% < 67%
    past_grace(&mut h, relabelled);
    assert_eq!(proposal(&h, relabelled)["status"], json!("rejected"));
    let before = state(&h);
    let op = execute(&mut h, DAVE, relabelled);
    assert_failed_cleanly(&h, &before, &op, "cannot be executed now (status: Rejected)");

    let honest = propose(&mut h, ALICE, admission);
    for voter in [ALICE, BOB, DAVE] {
        ok(vote(&mut h, voter, honest, "yes"), &h); // 80 of 100
    }
    past_grace(&mut h, honest);
    ok(execute(&mut h, CAROL, honest), &h);
    let member = h.query("membership", &json!({"member": {"member": frank}})).unwrap();
    assert_eq!(member["voting_units"], json!(5), "{member}");
}

/// A proposal mixing an everyday message and an admission needs the
/// admission rule: the votes that pass the everyday message alone do not
/// pass the mix.
#[test]
fn a_mixed_proposal_needs_the_stricter_rule() {
    let mut h = setup();
    let erin = h.member(ERIN).to_string();
    let everyday = json!({"call": {"module": "membership", "msg": {"grant_role": {"member": erin.clone(), "role": "scribe"}}}});
    let admit = json!({"system": {"add_participant": {"member": erin}}});
    let alone = propose(&mut h, ALICE, json!({"title": "A role", "messages": [everyday.clone()]}));
    let mixed = propose(&mut h, ALICE, json!({"title": "A role and a seat", "messages": [everyday, admit]}));
    assert_eq!(proposal(&h, mixed)["rules"].as_object().unwrap().len(), 2, "{}", proposal(&h, mixed));
    for id in [alone, mixed] {
        ok(vote(&mut h, ALICE, id, "yes"), &h);
        ok(vote(&mut h, CAROL, id, "yes"), &h);
        ok(vote(&mut h, BOB, id, "no"), &h);
    }
    past_grace(&mut h, alone);
    past_grace(&mut h, mixed);
    assert_eq!(proposal(&h, alone)["status"], json!("executable"));
    assert_eq!(proposal(&h, mixed)["status"], json!("rejected"));
}

/// Issue 23 through the real modules: under `require_acceptance` a
/// newcomer admitted by vote holds nothing until its own op accepts the
/// partnership's terms; an acceptance of terms read before an upgrade is
/// refused; the current terms are accepted and queryable.
#[test]
fn a_newcomer_holds_nothing_until_it_accepts_the_terms_as_they_stand() {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let id = |seed: u8| polypact::op::MemberKey::from_seed(seed).member_id().to_string();
    let membership_config = json!({
        "members": [
            {"member": id(1), "voting_units": 60, "economic_units": 60},
            {"member": id(2), "voting_units": 40, "economic_units": 40}
        ],
        "governance": "voting", "require_acceptance": true
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 1000, "max_period_ms": 100_000, "grace_period_ms": GRACE
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let mut h = WasmHarness::with_participants(
        3,
        2,
        &[
            ("membership", &membership, &membership_config, &grants),
            ("voting", &voting, &voting_config, &[SystemPermission::UpgradeModule]),
        ],
    )
    .expect("genesis");
    let newcomer = id(3);
    let pass = |h: &mut WasmHarness, messages: Value| {
        let p = propose(h, 0, json!({"title": "Change", "messages": messages, "period_ms": 1000}));
        ok(vote(h, 0, p, "yes"), h); // 60 of 100: decided, closes early
        past_grace(h, p);
        ok(execute(h, 1, p), h);
    };
    pass(
        &mut h,
        json!([{"call": {"module": "membership", "msg": {"admit": {"member": newcomer, "voting_units": 10, "economic_units": 10}}}}]),
    );
    assert!(h.ledger.participants().iter().any(|(m, _)| m.to_string() == newcomer), "a participant, to sign");
    assert!(h.query("membership", &json!({"member": {"member": newcomer}})).is_err(), "no member yet");
    assert_eq!(h.query("membership", &json!({"totals": {}})).unwrap()["voting_units"], json!(100));
    let read = h.query("system", &json!({"terms": {}})).unwrap()["terms"].clone();
    // An upgrade (voting to the same code, a new decision table) changes the terms.
    let code = h.ledger.modules().into_iter().find(|(n, _)| n == "voting").unwrap().1.code.to_hex();
    pass(
        &mut h,
        json!([{"system": {"upgrade_module": {"name": "voting", "code": code,
        "migrate_msg": {"reserved": ["admit_member"]}}}}]),
    );
    let stale = h.call(2, "membership", &json!({"accept_terms": {"terms": read}}));
    let error = h.outcome_error(&stale).expect("stale terms are refused");
    assert!(error.contains("the terms changed since they were read"), "{error}");
    let now = h.query("system", &json!({"terms": {}})).unwrap();
    assert_eq!(now["generation"], json!(1));
    ok(h.call(2, "membership", &json!({"accept_terms": {"terms": now["terms"]}})), &h);
    let member = h.query("membership", &json!({"member": {"member": newcomer}})).unwrap();
    assert_eq!(member["voting_units"], json!(10), "{member}");
    let acceptance = h.query("membership", &json!({"acceptance": {"member": newcomer}})).unwrap();
    assert_eq!(acceptance["accepted"]["terms"], now["terms"]);
}
