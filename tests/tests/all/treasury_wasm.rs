//! Treasury scenarios through the real WASM: the `membership`, `voting` and
//! `treasury` modules built for wasm32, loaded by the WASM host and driven
//! by signed ops through a ledger.
//!
//! This file owns the joint-venture scenario (revenue and costs confirmed by
//! the other partner, a waterfall that recoups costs, fills a capped
//! tranche and splits the rest pro rata, payouts confirmed by the payee,
//! statements that add up to the unit), a spend above the charter's limit
//! made by a voting proposal that carries it (of kind `spend_above`, by
//! what it carries, whatever its label), and the bad messages
//! that must fail with a clear error while changing nothing but the
//! ledger's failure record. The treasury's rules one by one are tested
//! natively in `examples/modules/treasury/tests/treasury.rs`.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeMap;

use polypact::op::{OpId, SystemPermission};
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::{Value, json};

const STUDIO: usize = 0; // 60 voting and economic units, treasurer
const TELCO: usize = 1; // 40 voting and economic units

const PERIOD: u64 = 10_000;
const GRACE: u64 = 1_000;
/// The capped tranche that goes to the telco first.
const TRANCHE: u64 = 100_000;
/// What a treasurer may spend alone, in EUR cents.
const LIMIT: u64 = 100_000;

fn id(h: &WasmHarness, i: usize) -> String {
    h.member(i).to_string()
}

/// Two partners in a joint venture: membership, voting and treasury as WASM.
fn setup() -> WasmHarness {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let treasury = module_wasm("treasury").unwrap_or_else(|e| panic!("{e}"));
    let key = |seed: u8| polypact::op::MemberKey::from_seed(seed).member_id().to_string();
    let (studio, telco) = (key(1), key(2));
    let membership_config = json!({
        "members": [
            {"member": studio, "voting_units": 60, "economic_units": 60, "roles": ["treasurer"]},
            {"member": telco, "voting_units": 40, "economic_units": 40, "roles": []}
        ],
        "governance": "voting"
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {
            "default": {"threshold": {"majority": {}}, "quorum_percent": 50},
            "spend_above": {"threshold": {"unanimous": {}}, "quorum_percent": 100}
        },
        "min_period_ms": 1_000, "max_period_ms": PERIOD,
        "grace_period_ms": GRACE, "late_quorum_extension_ms": 0,
        "allow_vote_change": true, "proposers": "members", "veto": null, "expiry_ms": 1_000_000
    })
    .to_string();
    let treasury_config = json!({
        "membership": "membership",
        "governance": "voting",
        "exit_module": "exit",
        "split_managers": [],
        "assets": ["EUR", {"code": "USD", "exponent": 2}],
        "treasurer_role": "treasurer",
        "confirmation": "other_member",
        "spend_vote_above": {"EUR": LIMIT, "USD": LIMIT},
        "spend_vote_kind": "spend_above",
        "split": {"waterfall": {
            "recoup": true,
            "tranches": [{"cap": {"EUR": TRANCHE}, "shares": {telco.clone(): 10000}}],
            "rest": {"pro_rata": {}}
        }}
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    WasmHarness::new(
        2,
        &[
            ("membership", &membership, &membership_config, &grants),
            ("voting", &voting, &voting_config, &[]),
            ("treasury", &treasury, &treasury_config, &[]),
        ],
    )
    .expect("genesis")
}

fn call(h: &mut WasmHarness, who: usize, msg: Value) -> OpId {
    h.call(who, "treasury", &msg)
}

#[track_caller]
fn ok(h: &mut WasmHarness, who: usize, module: &str, msg: Value) -> Option<Value> {
    let op = h.call(who, module, &msg);
    if let Some(e) = h.outcome_error(&op) {
        panic!("{msg} failed: {e}");
    }
    h.outcome_data(&op)
}

fn q(h: &WasmHarness, msg: Value) -> Value {
    h.query("treasury", &msg).unwrap_or_else(|e| panic!("{msg}: {e}"))
}

fn state(h: &WasmHarness) -> BTreeMap<Vec<u8>, Vec<u8>> {
    h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The op failed with an error containing `want`, and the only change to
/// the state is the ledger's record of that failure.
#[track_caller]
fn assert_failed_cleanly(h: &WasmHarness, before: &BTreeMap<Vec<u8>, Vec<u8>>, op: &OpId, want: &str) {
    let error = h.outcome_error(op).unwrap_or_else(|| panic!("expected a failure containing {want:?}"));
    assert!(error.contains(want), "got {error:?}, want it to contain {want:?}");
    let after = state(h);
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)), "a key changed or vanished");
    let added: Vec<_> = after.iter().filter(|(k, _)| !before.contains_key(*k)).collect();
    assert_eq!(added.len(), 1, "only the failure record may be added");
    assert_eq!(added[0].1, error.as_bytes());
}

/// Calls and checks the call failed cleanly.
#[track_caller]
fn fails(h: &mut WasmHarness, who: usize, msg: Value, want: &str) {
    let before = state(h);
    let op = call(h, who, msg);
    assert_failed_cleanly(h, &before, &op, want);
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not an integer"))
}

/// Records an entry (by `who`) and has the other partner confirm it.
fn record_confirmed(h: &mut WasmHarness, who: usize, msg: Value) -> u64 {
    let data = ok(h, who, "treasury", msg).expect("data");
    assert_eq!(data["status"], json!("pending"));
    let id = n(&data["id"]);
    ok(h, 1 - who, "treasury", json!({"confirm_entry": {"id": id}}));
    id
}

/// Checks every member's statement: earned = paid + pending + owed, and the
/// earnings add up to what was distributed, to the unit.
fn assert_statements_add_up(h: &WasmHarness, asset: &str) {
    let mut earned = 0;
    for i in [STUDIO, TELCO] {
        let row = &q(h, json!({"statement": {"member": id(h, i)}}))[asset];
        assert_eq!(n(&row["earned"]), n(&row["paid"]) + n(&row["pending"]) + n(&row["owed"]), "{row}");
        earned += n(&row["earned"]);
    }
    let totals = &q(h, json!({"balances": {}}))["totals"][asset];
    assert_eq!(earned, n(&totals["distributed"]));
    assert_eq!(n(&totals["distributed"]), n(&totals["claims"]) + n(&totals["paid_out"]));
    let inflow = n(&totals["revenue"]) + n(&totals["capital_cash"]);
    let outflow = n(&totals["costs"]) + n(&totals["spent"]) + n(&totals["paid_out"]);
    assert_eq!(n(&totals["pool"]) + n(&totals["claims"]), inflow - outflow, "{asset} books do not balance");
}

#[test]
fn a_joint_venture_recoups_costs_fills_a_tranche_splits_the_rest_and_pays_out() {
    let mut h = setup();
    let (studio, telco) = (id(&h, STUDIO), id(&h, TELCO));

    // Costs each partner paid out of its own pocket, confirmed by the other.
    record_confirmed(
        &mut h,
        STUDIO,
        json!({"record_cost": {"asset": "EUR", "amount": 30_000, "reference": "STUDIO-INV-1",
            "counterparty": "render farm", "paid_from": "member"}}),
    );
    record_confirmed(
        &mut h,
        TELCO,
        json!({"record_cost": {"asset": "EUR", "amount": 20_000, "reference": "TELCO-INV-1",
            "counterparty": "network", "paid_from": "member"}}),
    );
    // Revenue from a client: pending until the telco confirms, and until then it counts nowhere.
    let data = ok(
        &mut h,
        STUDIO,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 500_001, "reference": "JV-2024-001", "counterparty": "Acme"}}),
    )
    .unwrap();
    let revenue_id = n(&data["id"]);
    assert_eq!(q(&h, json!({"balances": {}}))["pool"]["EUR"], json!(0));
    fails(
        &mut h,
        STUDIO,
        json!({"distribute": {"asset": "EUR"}}),
        "the EUR pool is empty; nothing to distribute",
    );
    fails(
        &mut h,
        STUDIO,
        json!({"confirm_entry": {"id": revenue_id}}),
        "may not confirm it; another member must",
    );
    ok(&mut h, TELCO, "treasury", json!({"confirm_entry": {"id": revenue_id}}));
    assert_eq!(q(&h, json!({"balances": {}}))["pool"]["EUR"], json!(500_001));

    // The waterfall: 50 000 recoup (30 000 + 20 000), 100 000 tranche to the telco,
    // 350 001 pro rata 60:40 = 210 000.6 / 140 000.4 → 210 001 and 140 000.
    let preview = q(&h, json!({"preview": {"asset": "EUR"}}));
    let data = ok(&mut h, TELCO, "treasury", json!({"distribute": {"asset": "EUR"}})).unwrap();
    let view = &data["distributed"]["EUR"];
    assert_eq!(view, &preview, "the preview is what distribute does");
    assert_eq!(view["recouped"], json!({studio.clone(): 30_000, telco.clone(): 20_000}));
    assert_eq!(view["tranches"], json!([TRANCHE]));
    assert_eq!(view["rest"], json!(350_001));
    assert_eq!(
        view["shares"],
        json!({studio.clone(): 30_000 + 210_001, telco.clone(): 20_000 + TRANCHE + 140_000})
    );
    let balances = q(&h, json!({"balances": {}}));
    assert_eq!((&balances["pool"]["EUR"], &balances["claims_total"]["EUR"]), (&json!(0), &json!(500_001)));
    assert_statements_add_up(&h, "EUR");

    // The studio (treasurer) pays the telco; the telco confirms; no second confirmation or payout.
    let owed = n(&q(&h, json!({"statement": {"member": telco.clone()}}))["EUR"]["owed"]);
    assert_eq!(owed, 260_000);
    let payout = ok(
        &mut h,
        STUDIO,
        "treasury",
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": owed, "reference": "SEPA-77"}}),
    )
    .unwrap();
    let payout_id = n(&payout["id"]);
    fails(
        &mut h,
        STUDIO,
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 1, "reference": "SEPA-78"}}),
        "is owed 0 EUR not already being paid",
    );
    fails(&mut h, STUDIO, json!({"confirm_payout": {"id": payout_id}}), "only the payee");
    ok(&mut h, TELCO, "treasury", json!({"confirm_payout": {"id": payout_id}}));
    fails(&mut h, TELCO, json!({"confirm_payout": {"id": payout_id}}), "is already confirmed, not pending");
    fails(
        &mut h,
        STUDIO,
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 1, "reference": "SEPA-79"}}),
        "is owed 0 EUR not already being paid",
    );
    // The telco pays the studio part of its share (the member paying records it).
    let payout = ok(
        &mut h,
        TELCO,
        "treasury",
        json!({"record_payout": {"member": studio.clone(), "asset": "EUR", "amount": 40_001, "reference": "SEPA-80"}}),
    )
    .unwrap();
    let row = &q(&h, json!({"statement": {"member": studio.clone()}}))["EUR"];
    assert_eq!(
        (n(&row["earned"]), n(&row["paid"]), n(&row["pending"]), n(&row["owed"])),
        (240_001, 0, 40_001, 200_000)
    );
    ok(&mut h, STUDIO, "treasury", json!({"confirm_payout": {"id": n(&payout["id"])}}));
    let row = &q(&h, json!({"statement": {"member": telco.clone()}}))["EUR"];
    assert_eq!((n(&row["earned"]), n(&row["paid"]), n(&row["owed"])), (260_000, 260_000, 0));
    assert_eq!((n(&row["capital"]), n(&row["recouped"]), n(&row["recoupable"])), (20_000, 20_000, 0));
    assert_statements_add_up(&h, "EUR");

    // Later revenue: the tranche is full and costs are recouped, so it is pro rata only.
    record_confirmed(
        &mut h,
        TELCO,
        json!({"record_revenue": {"asset": "EUR", "amount": 7, "reference": "JV-2024-002", "counterparty": "Beta"}}),
    );
    let data = ok(&mut h, STUDIO, "treasury", json!({"distribute": {}})).unwrap();
    assert_eq!(data["distributed"]["EUR"]["shares"], json!({studio.clone(): 4, telco.clone(): 3}));
    assert_statements_add_up(&h, "EUR");
    let waterfall = q(&h, json!({"waterfall": {}}));
    assert_eq!(waterfall["tranches"][0]["paid"]["EUR"], json!(TRANCHE));
}

#[test]
fn a_spend_above_the_limit_goes_through_a_spend_above_proposal() {
    let mut h = setup();
    record_confirmed(
        &mut h,
        STUDIO,
        json!({"record_revenue": {"asset": "EUR", "amount": 1_000_000, "reference": "INV-1", "counterparty": "Acme"}}),
    );
    let spend = json!({"spend": {"asset": "EUR", "amount": 250_000, "to": "Studio Lighting GmbH",
        "reference": "PO-9", "proposal": 1}});
    // The treasurer alone: refused, nothing changes.
    fails(&mut h, STUDIO, spend.clone(), "is above the 100000 a treasurer may spend alone");
    // Up to the limit the treasurer may.
    ok(
        &mut h,
        STUDIO,
        "treasury",
        json!({"spend": {"asset": "EUR", "amount": LIMIT, "to": "Caterer", "reference": "PO-8"}}),
    );
    // Relabelling does not help: a proposal labelled `default` that carries
    // the spend is held to the `spend_above` rule (the treasury declares
    // the kind of a spend above its limit), so the studio's 60% is not enough.
    let proposal = ok(
        &mut h,
        STUDIO,
        "voting",
        json!({"propose": {"title": "Lighting rig", "kind": "default",
            "messages": [{"call": {"module": "treasury", "msg": spend}}], "period_ms": 1_000}}),
    )
    .unwrap();
    assert_eq!(proposal, json!({"id": 1}));
    let view = h.query("voting", &json!({"proposal": {"id": 1}})).expect("the proposal");
    assert_eq!(view["kind"], json!("spend_above"), "{view}");
    ok(&mut h, STUDIO, "voting", json!({"vote": {"proposal": 1, "choice": "yes"}}));
    ok(&mut h, TELCO, "voting", json!({"vote": {"proposal": 1, "choice": "no"}}));
    h.advance_ms(1_000 + GRACE + 1);
    let before = state(&h);
    let op = h.call(TELCO, "voting", &json!({"execute": {"proposal": 1}}));
    assert_failed_cleanly(&h, &before, &op, "cannot be executed now (status: Rejected)");

    // The same spend as a spend_above proposal (id 2) runs.
    let spend = json!({"spend": {"asset": "EUR", "amount": 250_000, "to": "Studio Lighting GmbH",
        "reference": "PO-9", "proposal": 2}});
    let proposal = ok(
        &mut h,
        TELCO,
        "voting",
        json!({"propose": {"title": "Lighting rig", "kind": "spend_above",
            "messages": [{"call": {"module": "treasury", "msg": spend}}], "period_ms": 1_000}}),
    )
    .unwrap();
    assert_eq!(proposal, json!({"id": 2}));
    for voter in [STUDIO, TELCO] {
        ok(&mut h, voter, "voting", json!({"vote": {"proposal": 2, "choice": "yes"}}));
    }
    h.advance_ms(1_000 + GRACE + 1);
    ok(&mut h, STUDIO, "voting", json!({"execute": {"proposal": 2}}));
    let totals = &q(&h, json!({"balances": {}}))["totals"]["EUR"];
    assert_eq!((n(&totals["pool"]), n(&totals["spent"])), (1_000_000 - LIMIT - 250_000, LIMIT + 250_000));
    let entries = q(&h, json!({"entries": {}}));
    let last = entries.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["kind"], &last["recorded_by"], &last["proposal"]),
        (&json!("spend"), &json!("module:voting"), &json!(2))
    );
    // A member cannot replay the spend with the proposal's id.
    fails(&mut h, STUDIO, spend, "is above the 100000 a treasurer may spend alone");
}

#[test]
fn bad_messages_fail_clearly_and_change_nothing_but_the_failure_record() {
    let mut h = setup();
    let telco = id(&h, TELCO);
    record_confirmed(
        &mut h,
        STUDIO,
        json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": "INV-1"}}),
    );
    let revenue =
        |amount: Value| json!({"record_revenue": {"asset": "EUR", "amount": amount, "reference": "INV-2"}});
    fails(&mut h, STUDIO, revenue(json!(-5)), "amounts must not be negative, got -5");
    fails(&mut h, STUDIO, revenue(json!(12.5)), "amounts are whole numbers of minor units");
    fails(
        &mut h,
        STUDIO,
        revenue(json!("340282366920938463463374607431768211456")),
        "exceeds the largest amount, 340282366920938463463374607431768211455",
    );
    fails(
        &mut h,
        STUDIO,
        json!({"record_revenue": {"asset": "GBP", "amount": 5, "reference": "INV-2"}}),
        "unknown asset \"GBP\"; this treasury keeps EUR, USD",
    );
    fails(&mut h, STUDIO, revenue(json!(0)), "the amount must be above 0");
    fails(&mut h, STUDIO, json!({"steal": {}}), "invalid handle message: unknown variant `steal`");
    fails(
        &mut h,
        TELCO,
        json!({"record_revenue": {"asset": "EUR", "amount": 1, "reference": "INV-1"}}),
        "a revenue with reference \"INV-1\" already exists",
    );

    // A huge revenue may be recorded, but confirming it would overflow the pool.
    let data = ok(&mut h, STUDIO, "treasury", revenue(json!(u128::MAX.to_string()))).unwrap();
    let huge = n(&data["id"]);
    fails(
        &mut h,
        TELCO,
        json!({"confirm_entry": {"id": huge}}),
        "the pool would overflow u128; nothing was changed",
    );

    // Unconfirmed revenue is not counted: not by its recorder, not in a distribution, not in a payout.
    let data = ok(
        &mut h,
        STUDIO,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 9_000, "reference": "INV-3"}}),
    )
    .unwrap();
    fails(&mut h, STUDIO, json!({"confirm_entry": {"id": n(&data["id"])}}), "may not confirm it");
    fails(
        &mut h,
        STUDIO,
        json!({"distribute": {"asset": "EUR", "amount": 1001}}),
        "the EUR pool holds 1000, less than the 1001 needed for this distribution",
    );
    ok(&mut h, STUDIO, "treasury", json!({"distribute": {"asset": "EUR"}}));
    // 1000: no costs to recoup, so all of it is in the telco's tranche.
    let row = &q(&h, json!({"statement": {"member": telco.clone()}}))["EUR"];
    assert_eq!(n(&row["owed"]), 1000);
    fails(
        &mut h,
        STUDIO,
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 1001, "reference": "T-1"}}),
        "is owed 1000 EUR not already being paid",
    );

    // Double payout and double confirmation.
    let data = ok(
        &mut h,
        STUDIO,
        "treasury",
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 600, "reference": "T-1"}}),
    )
    .unwrap();
    let payout = n(&data["id"]);
    fails(
        &mut h,
        STUDIO,
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 600, "reference": "T-2"}}),
        "is owed 400 EUR not already being paid",
    );
    fails(
        &mut h,
        STUDIO,
        json!({"record_payout": {"member": telco.clone(), "asset": "EUR", "amount": 100, "reference": "T-1"}}),
        "a payout with reference \"T-1\" already exists",
    );
    ok(&mut h, TELCO, "treasury", json!({"confirm_payout": {"id": payout}}));
    fails(&mut h, TELCO, json!({"confirm_payout": {"id": payout}}), "is already confirmed, not pending");

    // Spending: above the limit by a member, and by a member without the treasurer role.
    record_confirmed(
        &mut h,
        TELCO,
        json!({"record_revenue": {"asset": "EUR", "amount": 500_000, "reference": "INV-4"}}),
    );
    fails(
        &mut h,
        STUDIO,
        json!({"spend": {"asset": "EUR", "amount": LIMIT + 1, "to": "x", "reference": "S-1"}}),
        "a spend of 100001 EUR is above the 100000 a treasurer may spend alone; only the governance module \"voting\" may make it",
    );
    fails(
        &mut h,
        TELCO,
        json!({"spend": {"asset": "EUR", "amount": 5, "to": "x", "reference": "S-1"}}),
        "only a member with role \"treasurer\" (or governance) may spend",
    );
    // Only governance values contributions and sets the split; only exit pays fair shares.
    fails(
        &mut h,
        STUDIO,
        json!({"value_contribution": {"id": 0}}),
        "only the governance module \"voting\" may value",
    );
    fails(
        &mut h,
        STUDIO,
        json!({"set_split": {"pro_rata": {}}}),
        "only the governance module \"voting\" or a split manager",
    );
    fails(
        &mut h,
        STUDIO,
        json!({"payout_fair_share": {"member": telco.clone(), "units": 1, "total_units": 2}}),
        "only the exit module \"exit\" may pay a fair share",
    );
    assert_statements_add_up(&h, "EUR");
}
