//! Disputes through the real WASM (issue 23): the `disputes` module with
//! membership, voting and the treasury, driven by signed ops through a
//! ledger.
//!
//! - A dispute about a counted revenue entry freezes its amount (the pool
//!   cannot distribute it), escalates after negotiation, and the mediator's
//!   ruling (reverse the entry) runs once the appeal window has passed.
//! - A second ruling is appealed: the overturn proposal is a reserved
//!   matter (unanimity) by what it carries, passes, and the ruling never
//!   runs; the entry is released and distributed.
//! - Bad calls (an outsider raising, a non-mediator ruling, early
//!   escalation or execution) fail clearly and change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use polypact::op::SystemPermission;
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::{Value, json};

const STUDIO: usize = 0;
const TELCO: usize = 1;
const MEDIATOR: usize = 2;
const NEGOTIATION: u64 = 1_000;
const APPEAL: u64 = 5_000;
const PERIOD: u64 = 1_000;

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

fn id(seed: u8) -> String {
    polypact::op::MemberKey::from_seed(seed).member_id().to_string()
}

/// Two partners (60/40) and a mediator who is a participant with no units.
fn setup() -> WasmHarness {
    let membership = json!({"members": [
        {"member": id(1), "voting_units": 60, "economic_units": 60, "roles": ["treasurer"]},
        {"member": id(2), "voting_units": 40, "economic_units": 40, "roles": ["treasurer"]}
    ], "governance": "voting"})
    .to_string();
    let voting = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "reserved": ["appeal"],
        "min_period_ms": PERIOD, "max_period_ms": 10 * PERIOD, "grace_period_ms": 0,
        "allow_vote_change": true
    })
    .to_string();
    let treasury = json!({
        "membership": "membership", "governance": "voting", "disputes": "disputes",
        "assets": ["EUR"], "confirmation": "other_member", "treasurer_role": "treasurer",
        "split": {"pro_rata": {}}
    })
    .to_string();
    let disputes = json!({
        "membership": "membership", "governance": "voting", "treasury": "treasury",
        "mediators": {"members": [id(3)], "quorum": 1},
        "negotiation_ms": NEGOTIATION, "appeal_ms": APPEAL
    })
    .to_string();
    let (m, v, t, d) = (wasm("membership"), wasm("voting"), wasm("treasury"), wasm("disputes"));
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    WasmHarness::new(
        3,
        &[
            ("membership", &m, &membership, &grants),
            ("voting", &v, &voting, &[]),
            ("treasury", &t, &treasury, &[]),
            ("disputes", &d, &disputes, &[]),
        ],
    )
    .expect("genesis")
}

#[track_caller]
fn ok(h: &mut WasmHarness, who: usize, module: &str, msg: Value) -> Option<Value> {
    let op = h.call(who, module, &msg);
    if let Some(e) = h.outcome_error(&op) {
        panic!("{msg} to {module} failed: {e}");
    }
    h.outcome_data(&op)
}

#[track_caller]
fn fails(h: &mut WasmHarness, who: usize, module: &str, msg: Value, want: &str) {
    let before: Vec<(Vec<u8>, Vec<u8>)> =
        h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let op = h.call(who, module, &msg);
    let error = h.outcome_error(&op).unwrap_or_else(|| panic!("{msg} should fail with {want:?}"));
    assert!(error.contains(want), "got {error:?}, want {want:?}");
    let after: Vec<(Vec<u8>, Vec<u8>)> =
        h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(after.len(), before.len() + 1, "only the failure record is added");
}

fn q(h: &WasmHarness, module: &str, msg: Value) -> Value {
    h.query(module, &msg).unwrap_or_else(|e| panic!("{msg}: {e}"))
}

fn n(v: &Value) -> u128 {
    v.as_str().map_or_else(|| v.as_u64().map(u128::from).unwrap_or(0), |s| s.parse().unwrap())
}

/// The studio records revenue, the telco confirms it; its entry id.
fn revenue(h: &mut WasmHarness, amount: u64, reference: &str) -> u64 {
    let data = ok(
        h,
        STUDIO,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": amount,
        "reference": reference, "counterparty": "Client"}}),
    )
    .unwrap();
    let entry = data["id"].as_u64().unwrap();
    ok(h, TELCO, "treasury", json!({"confirm_entry": {"id": entry}}));
    entry
}

/// The telco disputes `entry`, escalates after negotiation, and the
/// mediator rules that it be reversed; the dispute's id.
fn dispute_and_rule(h: &mut WasmHarness, entry: u64) -> u64 {
    let data = ok(
        h,
        TELCO,
        "disputes",
        json!({"raise": {"subject": {"entry": {"id": entry}},
        "claim": "the client never paid this invoice", "evidence": "client email 2026-11-02"}}),
    )
    .unwrap();
    let dispute = data["id"].as_u64().unwrap();
    fails(h, STUDIO, "disputes", json!({"escalate": {"dispute": dispute}}), "negotiate");
    h.advance_ms(NEGOTIATION);
    ok(h, STUDIO, "disputes", json!({"escalate": {"dispute": dispute}}));
    let ruling = json!({"decision": "the revenue was never received: reverse it",
        "messages": [{"call": {"module": "treasury", "msg": {"reverse_entry": {"id": entry, "reason": "ruling"}}}}]});
    fails(h, TELCO, "disputes", json!({"rule": {"dispute": dispute, "ruling": ruling}}), "is not a mediator");
    ok(h, MEDIATOR, "disputes", json!({"rule": {"dispute": dispute, "ruling": ruling}}));
    dispute
}

#[test]
fn a_disputed_entry_is_frozen_escalated_and_the_ruling_runs() {
    let mut h = setup();
    let entry = revenue(&mut h, 1_000, "INV-1");
    // A participant who is not a member cannot raise a dispute.
    fails(
        &mut h,
        MEDIATOR,
        "disputes",
        json!({"raise": {"subject": {"entry": {"id": entry}},
        "claim": "x", "evidence": "y"}}),
        "only a current member",
    );
    let dispute = dispute_and_rule(&mut h, entry);
    // Frozen: the pool holds it, but distributes nothing.
    let totals = &q(&h, "treasury", json!({"balances": {}}))["totals"]["EUR"];
    assert_eq!((n(&totals["pool"]), n(&totals["frozen"])), (1_000, 1_000), "{totals}");
    let err = {
        let op = h.call(STUDIO, "treasury", &json!({"distribute": {"asset": "EUR"}}));
        h.outcome_error(&op).expect("nothing to distribute")
    };
    assert!(err.contains("EUR"), "{err}");
    // The ruling runs only once the appeal window has passed.
    fails(&mut h, STUDIO, "disputes", json!({"execute": {"dispute": dispute}}), "appeal window");
    h.advance_ms(APPEAL);
    ok(&mut h, STUDIO, "disputes", json!({"execute": {"dispute": dispute}}));
    let totals = &q(&h, "treasury", json!({"balances": {}}))["totals"]["EUR"];
    assert_eq!((n(&totals["pool"]), n(&totals["frozen"]), n(&totals["revenue"])), (0, 0, 0), "{totals}");
    assert_eq!(q(&h, "treasury", json!({"entry": {"id": entry}}))["status"], json!("reversed"));
    assert_eq!(q(&h, "disputes", json!({"dispute": {"id": dispute}}))["status"], json!("executed"));
}

#[test]
fn an_appeal_by_a_reserved_vote_overturns_a_ruling() {
    let mut h = setup();
    let entry = revenue(&mut h, 500, "INV-2");
    let dispute = dispute_and_rule(&mut h, entry);
    // The studio appeals: a proposal carrying the overturn, which the
    // disputes module declares an `appeal`, reserved for unanimity.
    let overturn = json!({"call": {"module": "disputes", "msg": {"overturn": {"dispute": dispute}}}});
    let data = ok(
        &mut h,
        STUDIO,
        "voting",
        json!({"propose": {"title": "Appeal", "messages": [overturn],
        "period_ms": PERIOD}}),
    )
    .unwrap();
    let proposal = data["id"].as_u64().unwrap();
    let view = q(&h, "voting", json!({"proposal": {"id": proposal}}));
    assert_eq!(view["kind"], json!("appeal"), "{view}");
    assert_eq!(view["rule"]["threshold"], json!({"unanimous": {}}));
    ok(&mut h, STUDIO, "disputes", json!({"appeal": {"dispute": dispute, "proposal": proposal}}));
    for voter in [STUDIO, TELCO] {
        ok(&mut h, voter, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}}));
    }
    h.advance_ms(PERIOD);
    ok(&mut h, TELCO, "voting", json!({"execute": {"proposal": proposal}}));
    assert_eq!(q(&h, "disputes", json!({"dispute": {"id": dispute}}))["status"], json!("overturned"));
    // Nothing of the ruling runs; the entry is released and distributed.
    h.advance_ms(APPEAL);
    fails(&mut h, STUDIO, "disputes", json!({"execute": {"dispute": dispute}}), "cannot be executed now");
    assert_eq!(q(&h, "treasury", json!({"entry": {"id": entry}}))["status"], json!("counted"));
    ok(&mut h, STUDIO, "treasury", json!({"distribute": {"asset": "EUR"}}));
    let totals = &q(&h, "treasury", json!({"balances": {}}))["totals"]["EUR"];
    assert_eq!((n(&totals["pool"]), n(&totals["distributed"])), (0, 500), "{totals}");
}
