//! Exit and vesting as real WASM in a ledger, beside real membership,
//! voting and treasury: a ragequit over three assets, the Moloch block on
//! yes-voters, a bad leaver inside a vesting cliff, a buyout with a right
//! of first refusal, dissolution by vote, and bad calls that fail clearly
//! and leave nothing but the failure record.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used)] // tests

use std::collections::BTreeMap;

use polypact::op::{Payload, SystemPermission};
use polypact::testing::{T0, WasmHarness, module_wasm};
use serde_json::{Value, json};

const PERIOD: u64 = 1_000;
const GRACE: u64 = 1_000;

/// Economic units of members 0, 1, 2 (voting units are the same).
const UNITS: [u64; 3] = [70, 50, 30];

struct Setup {
    /// Extra keys of the exit config.
    exit: Value,
    /// Keys (participants or not) and how many are participants.
    keys: u8,
    participants: u8,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { exit: json!({}), keys: 4, participants: 3 }
    }
}

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

fn id(seed: u8) -> String {
    polypact::op::MemberKey::from_seed(seed).member_id().to_string()
}

fn harness(setup: Setup) -> WasmHarness {
    let members: Vec<Value> = (0..3)
        .map(|i| {
            let roles: Vec<&str> = if i == 0 { vec!["admin"] } else { vec![] };
            json!({"member": id(i as u8 + 1), "voting_units": UNITS[i], "economic_units": UNITS[i], "roles": roles})
        })
        .collect();
    let membership =
        json!({"members": members, "governance": "voting", "managers": ["exit", "vesting"]}).to_string();
    let voting = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": PERIOD, "max_period_ms": 100 * PERIOD, "grace_period_ms": GRACE,
        "late_quorum_extension_ms": 0, "allow_vote_change": true, "proposers": "members",
        "veto": null, "expiry_ms": 10_000_000
    })
    .to_string();
    let treasury = json!({
        "membership": "membership", "governance": "voting", "exit_module": "exit",
        "assets": ["EUR", "USD", {"code": "JPY", "exponent": 0}], "confirmation": "none",
        "split": {"pro_rata": {}}
    })
    .to_string();
    let mut exit = json!({"membership": "membership", "governance": "voting", "treasury": "treasury",
        "vesting": "vesting"});
    for (k, v) in setup.exit.as_object().unwrap() {
        exit[k] = v.clone();
    }
    let exit = exit.to_string();
    let vesting = json!({"membership": "membership", "governance": "voting", "exit_module": "exit",
        "admin_role": "admin"})
    .to_string();
    let (m, v, t, e, g) =
        (wasm("membership"), wasm("voting"), wasm("treasury"), wasm("exit"), wasm("vesting"));
    let membership_grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let exit_grants = [SystemPermission::RemoveParticipant, SystemPermission::Dissolve];
    WasmHarness::with_participants(
        setup.keys,
        setup.participants,
        &[
            ("membership", &m, &membership, &membership_grants),
            ("voting", &v, &voting, &[]),
            ("treasury", &t, &treasury, &[]),
            ("exit", &e, &exit, &exit_grants),
            ("vesting", &g, &vesting, &[]),
        ],
    )
    .expect("genesis")
}

/// Member `i`'s call must succeed; returns its data.
fn ok(h: &mut WasmHarness, i: usize, module: &str, msg: Value) -> Option<Value> {
    let op = h.call(i, module, &msg);
    if let Some(e) = h.outcome_error(&op) {
        panic!("{module} {msg} failed: {e}");
    }
    h.outcome_data(&op)
}

fn state(h: &WasmHarness) -> BTreeMap<Vec<u8>, Vec<u8>> {
    h.ledger.optimistic_state().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Member `i`'s call must fail; the only change is its failure record.
fn fails(h: &mut WasmHarness, i: usize, module: &str, msg: Value) -> String {
    let before = state(h);
    let op = h.call(i, module, &msg);
    let err = h.outcome_error(&op).unwrap_or_else(|| panic!("{module} {msg} should fail"));
    assert_only_failure_record(&before, &state(h));
    err
}

fn assert_only_failure_record(before: &BTreeMap<Vec<u8>, Vec<u8>>, after: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let added: Vec<&Vec<u8>> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(added.len(), 1, "a failure adds exactly its record");
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)), "a failed call changed state");
}

fn q(h: &WasmHarness, module: &str, msg: Value) -> Value {
    h.query(module, &msg).unwrap_or_else(|e| panic!("{module} {msg}: {e}"))
}

fn revenue(h: &mut WasmHarness, asset: &str, amount: u64, reference: &str) {
    ok(
        h,
        0,
        "treasury",
        json!({"record_revenue": {"asset": asset, "amount": amount, "reference": reference}}),
    );
}

/// Proposes `messages`, has members 0 and 1 vote yes, and returns the id.
fn propose(h: &mut WasmHarness, messages: Value) -> u64 {
    propose_with(h, messages, &[0, 1])
}

/// Proposes `messages` and has `voters` vote yes; returns the id.
fn propose_with(h: &mut WasmHarness, messages: Value, voters: &[usize]) -> u64 {
    h.advance_ms(10);
    let data =
        ok(h, 0, "voting", json!({"propose": {"title": "t", "messages": messages, "period_ms": PERIOD}}));
    let id = data.unwrap()["id"].as_u64().unwrap();
    for voter in voters {
        ok(h, *voter, "voting", json!({"vote": {"proposal": id, "choice": "yes"}}));
    }
    id
}

fn execute(h: &mut WasmHarness, id: u64) -> Option<String> {
    let op = h.call(2, "voting", &json!({"execute": {"proposal": id}}));
    h.outcome_error(&op)
}

fn member(h: &WasmHarness, who: &str) -> Value {
    q(h, "membership", json!({"member": {"member": who}}))
}

fn is_participant(h: &WasmHarness, seed: u8) -> bool {
    let who = polypact::op::MemberKey::from_seed(seed).member_id();
    h.ledger.participants().iter().any(|(m, _)| *m == who)
}

fn amount(v: &Value) -> u128 {
    match v {
        Value::Number(n) => u128::from(n.as_u64().unwrap()),
        Value::String(s) => s.parse().unwrap(),
        Value::Null => 0,
        other => panic!("not an amount: {other}"),
    }
}

#[test]
fn ragequit_takes_the_floor_fair_share_of_three_assets() {
    let mut h = harness(Setup::default());
    revenue(&mut h, "EUR", 1000, "INV-1");
    revenue(&mut h, "USD", 777, "INV-2");
    revenue(&mut h, "JPY", 10, "INV-3");
    let before = q(&h, "treasury", json!({"balances": {}}));
    let carol = id(3);
    let data = ok(&mut h, 2, "exit", json!({"ragequit": {}})).unwrap();
    assert_eq!((data["units"].clone(), data["total_units"].clone()), (json!(30), json!(150)));
    // floor(1000*30/150)=200, floor(777*30/150)=155 (155.4), floor(10*30/150)=2.
    let st = q(&h, "treasury", json!({"statement": {"member": carol}}));
    let earned: Vec<u128> = ["EUR", "USD", "JPY"].iter().map(|a| amount(&st[a]["earned"])).collect();
    assert_eq!(earned, [200, 155, 2]);
    // Pools and claims add up: what left the pool is exactly the claim.
    let after = q(&h, "treasury", json!({"balances": {}}));
    for (asset, paid) in [("EUR", 200), ("USD", 155), ("JPY", 2)] {
        assert_eq!(amount(&after["pool"][asset]), amount(&before["pool"][asset]) - paid, "{asset} pool");
        assert_eq!(amount(&after["claims_total"][asset]), amount(&before["claims_total"][asset]) + paid);
    }
    // Units gone, membership ended, participant removed: its ops are refused at the door.
    let m = member(&h, &carol);
    assert_eq!((m["active"].clone(), m["economic_units"].clone()), (json!(false), json!(0)));
    assert_eq!(q(&h, "membership", json!({"totals": {}}))["economic_units"], json!(120));
    assert!(!is_participant(&h, 3));
    assert!(h.try_call(2, "exit", &json!({"ragequit": {}})).is_err(), "a second exit is refused");
    assert_eq!(q(&h, "exit", json!({"status": {"member": carol}}))["departure"]["how"], json!("ragequit"));
}

#[test]
fn ragequit_is_blocked_while_a_yes_voted_proposal_is_pending() {
    let mut h = harness(Setup::default());
    revenue(&mut h, "EUR", 300, "INV-1");
    let grant = json!([{"call": {"module": "membership", "msg": {"grant_role": {"member": id(1), "role": "treasurer"}}}}]);
    let proposal = propose(&mut h, grant);
    let err = fails(&mut h, 1, "exit", json!({"ragequit": {}}));
    assert!(err.contains(&format!("{} voted yes on proposals still pending ({proposal})", id(2))), "{err}");
    assert!(err.contains("ragequit is blocked until they are executed"), "{err}");
    h.advance_ms(PERIOD + GRACE + 10);
    // Passed but not executed: still blocked.
    let err = fails(&mut h, 1, "exit", json!({"ragequit": {}}));
    assert!(err.contains("still pending"), "{err}");
    assert_eq!(execute(&mut h, proposal), None);
    let data = ok(&mut h, 1, "exit", json!({"ragequit": {}})).unwrap();
    assert_eq!(data["units"], json!(50));
    let st = q(&h, "treasury", json!({"statement": {"member": id(2)}}));
    assert_eq!(amount(&st["EUR"]["earned"]), 100); // 300 * 50 / 150
}

#[test]
fn a_bad_leaver_inside_the_cliff_keeps_nothing_unvested() {
    let mut h = harness(Setup {
        exit: json!({"bad_leaver": {"inside_cliff": true, "forfeit_percent": 50, "keep_vested": false}}),
        ..Setup::default()
    });
    revenue(&mut h, "EUR", 1500, "INV-1");
    let start = h.now;
    // The admin grants Carol 1000 units (cliff 10 s of 40 s) and Bob 100 (no cliff).
    for (who, units, cliff) in [(id(3), 1000, 10_000), (id(2), 100, 0)] {
        ok(
            &mut h,
            0,
            "vesting",
            json!({"create_grant": {"member": who, "units": units, "start_ms": start,
            "cliff_ms": cliff, "duration_ms": 40_000}}),
        );
    }
    // A good grant vests and is claimed through membership.
    h.advance_ms(20_000);
    let released = ok(&mut h, 1, "vesting", json!({"claim": {}})).unwrap();
    let vested_bob = released["economic"].as_u64().unwrap();
    assert!((50..=51).contains(&vested_bob), "{released}");
    assert_eq!(member(&h, &id(2))["economic_units"], json!(50 + vested_bob));
    // Carol's cliff was 10 s; give her a fresh grant still inside its cliff.
    let now = h.now;
    ok(
        &mut h,
        0,
        "vesting",
        json!({"create_grant": {"member": id(3), "units": 500, "start_ms": now,
        "cliff_ms": 10_000, "duration_ms": 40_000}}),
    );
    let v = q(&h, "vesting", json!({"vested": {"member": id(3), "at_ms": h.now}}));
    assert_eq!(v["in_cliff"], json!(true));
    let total = q(&h, "membership", json!({"totals": {}}))["economic_units"].as_u64().unwrap();
    let data = ok(&mut h, 2, "exit", json!({"ragequit": {}})).unwrap();
    // Bad leaver: nothing of the grants is released, half of its 30 units forfeited.
    assert_eq!(data["bad_leaver"], json!("left inside a vesting cliff"));
    assert_eq!((data["units"].clone(), data["forfeited_units"].clone()), (json!(15), json!(15)));
    assert_eq!(data["total_units"], json!(total));
    let v = q(&h, "vesting", json!({"vested": {"member": id(3), "at_ms": h.now + 1_000_000}}));
    assert_eq!((v["economic"]["released"].clone(), v["unvested"].clone()), (json!(0), json!(0)));
    let grants = q(&h, "vesting", json!({"grants": {"member": id(3)}}));
    let forfeited: Vec<Value> =
        grants["grants"].as_array().unwrap().iter().map(|g| g["cancelled"]["forfeited"].clone()).collect();
    assert_eq!(forfeited, [json!(1000), json!(500)]);
    let st = q(&h, "treasury", json!({"statement": {"member": id(3)}}));
    assert_eq!(amount(&st["EUR"]["earned"]), 1500 * 15 / u128::from(total));
}

#[test]
fn a_buyout_gives_members_first_refusal_before_an_outsider() {
    let mut h = harness(Setup {
        exit: json!({"buyout": {"price": {"fixed": {"asset": "EUR", "per_unit": 10}},
            "rofr_ms": 100_000, "open_ms": 100_000}}),
        ..Setup::default()
    });
    let (alice, bob, carol, outsider) = (id(1), id(2), id(3), id(4));
    let data = ok(&mut h, 2, "exit", json!({"leave": {}})).unwrap();
    assert_eq!(data["units"], json!(30));
    let err = fails(&mut h, 2, "exit", json!({"leave": {}}));
    assert!(err.contains("is already leaving"), "{err}");
    // Pro rata: Alice 30*70/120 = 17, Bob 30*50/120 = 12; one unit is left for the open sale.
    let err = fails(&mut h, 0, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 18}}));
    assert!(err.contains("may buy at most its pro-rata 17 units"), "{err}");
    ok(&mut h, 0, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 17}}));
    ok(&mut h, 1, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 12}}));
    // The outsider is no participant: its own op is refused at the door.
    assert!(h.try_call(3, "exit", &json!({"accept_offer": {"seller": carol, "economic_units": 1}})).is_err());
    // Governance names it inside the window: the whole proposal fails atomically.
    let sale = propose(
        &mut h,
        json!([
            {"call": {"module": "membership", "msg": {"admit": {"member": outsider, "economic_units": 1}}}},
            {"call": {"module": "exit", "msg": {"sell_to_outsider": {"seller": carol, "buyer": outsider, "economic_units": 1}}}}
        ]),
    );
    h.advance_ms(PERIOD + GRACE + 10);
    let err = execute(&mut h, sale).expect("inside the window");
    assert!(err.contains("right of first refusal"), "{err}");
    assert!(!is_participant(&h, 4), "the admission was undone with the sale");
    h.advance_ms(100_000);
    assert_eq!(execute(&mut h, sale), None);
    // Sold out: the offer closed itself and Carol left with no units.
    let units = |h: &WasmHarness, who: &str| member(h, who)["economic_units"].as_u64().unwrap();
    assert_eq!((units(&h, &alice), units(&h, &bob), units(&h, &outsider)), (87, 62, 2));
    assert_eq!(member(&h, &carol)["active"], json!(false));
    assert!(!is_participant(&h, 3));
    // Who owes Carol what, in debtor-id order.
    let st = q(&h, "exit", json!({"statement": {"member": carol}}));
    let mut expected = vec![
        json!({"counterparty": alice, "asset": "EUR", "amount": 170}),
        json!({"counterparty": bob, "asset": "EUR", "amount": 120}),
        json!({"counterparty": outsider, "asset": "EUR", "amount": 10}),
    ];
    expected.sort_by_key(|p| p["counterparty"].as_str().unwrap().to_owned());
    assert_eq!(st["owed"], Value::Array(expected));
    let st = q(&h, "exit", json!({"statement": {"member": alice}}));
    assert_eq!(st["owes"], json!([{"counterparty": carol, "asset": "EUR", "amount": 170}]));
}

#[test]
fn dissolution_by_vote_closes_the_partnership_to_calls() {
    let mut h = harness(Setup::default());
    revenue(&mut h, "EUR", 1000, "INV-1");
    let proposal = propose(
        &mut h,
        json!([{"call": {"module": "exit", "msg": {"dissolve": {"reason": "project done"}}}}]),
    );
    h.advance_ms(PERIOD + GRACE + 10);
    assert_eq!(execute(&mut h, proposal), None);
    // Everything was distributed pro rata first (70/50/30 of 1000, largest remainder).
    let b = q(&h, "treasury", json!({"balances": {}}));
    assert_eq!((amount(&b["pool"]["EUR"]), amount(&b["claims_total"]["EUR"])), (0, 1000));
    let earned: Vec<u128> = (1..=3)
        .map(|i| amount(&q(&h, "treasury", json!({"statement": {"member": id(i)}}))["EUR"]["earned"]))
        .collect();
    assert_eq!(earned.iter().sum::<u128>(), 1000);
    assert_eq!(earned, [467, 333, 200]);
    // Every later call fails; queries still answer.
    for (module, msg) in [
        ("exit", json!({"ragequit": {}})),
        ("treasury", json!({"record_revenue": {"asset": "EUR", "amount": 1, "reference": "late"}})),
        ("voting", json!({"propose": {"title": "again", "messages": [], "period_ms": PERIOD}})),
    ] {
        let err = fails(&mut h, 1, module, msg);
        assert!(err.starts_with("the partnership is dissolved"), "{err}");
    }
    let d = q(&h, "exit", json!({"dissolution": {}}));
    assert_eq!((d["reason"].clone(), d["by"].clone()), (json!("project done"), json!("module:voting")));
    assert_eq!(member(&h, &id(1))["active"], json!(true));
}

#[test]
fn bad_exits_fail_clearly_and_change_nothing() {
    let mut h = harness(Setup {
        exit: json!({"lockup_until_ms": T0 + 60_000, "notice_ms": 5_000}),
        keys: 4,
        participants: 4,
    });
    // Lock-up.
    let err = fails(&mut h, 1, "exit", json!({"ragequit": {}}));
    assert!(err.contains(&format!("{} is locked up until {} ms", id(2), T0 + 60_000)), "{err}");
    // A participant who is no member.
    let err = fails(&mut h, 3, "exit", json!({"give_notice": {}}));
    assert!(err.ends_with(&format!("{} is not a member", id(4))), "{err}");
    // Notice: missing, then running, then given twice.
    h.advance_ms(60_000);
    let err = fails(&mut h, 1, "exit", json!({"leave": {}}));
    assert!(err.contains("must give notice first"), "{err}");
    ok(&mut h, 1, "exit", json!({"give_notice": {}}));
    let err = fails(&mut h, 1, "exit", json!({"give_notice": {}}));
    assert!(err.contains("already gave notice"), "{err}");
    let err = fails(&mut h, 1, "exit", json!({"ragequit": {}}));
    assert!(err.contains("notice period runs until"), "{err}");
    // Malformed messages.
    let err = fails(&mut h, 1, "exit", json!({"ragequit": {"at_once": true}}));
    assert!(err.contains("invalid handle message: unknown field `at_once`"), "{err}");
    let err = fails(&mut h, 1, "exit", json!({"rage_quit": {}}));
    assert!(err.contains("invalid handle message: unknown variant `rage_quit`"), "{err}");
    let before = state(&h);
    h.advance_ms(1);
    let op = h.ledger.create_op(
        &h.keys[1],
        Payload::Call { module: "exit".into(), msg: b"{\"leave\":".to_vec() },
        h.now,
    );
    // Not JSON at all: the node refuses the op at the door, and nothing is recorded.
    let refusal = h.ledger.insert(op, h.now).unwrap_err();
    assert!(refusal.to_string().contains("not valid JSON"), "{refusal}");
    assert_eq!(state(&h), before);
    // A leave after the notice ran; a second leave is refused at the door.
    h.advance_ms(5_000);
    ok(&mut h, 1, "exit", json!({"leave": {}}));
    assert_eq!(member(&h, &id(2))["economic_units"], json!(50), "a good leaver keeps its units as a claim");
    assert!(h.try_call(1, "exit", &json!({"leave": {}})).is_err());
    // Only governance or the term module may dissolve.
    let err = fails(&mut h, 0, "exit", json!({"dissolve": {"reason": "mine"}}));
    assert!(err.contains("only the governance module \"voting\""), "{err}");
}

#[test]
fn a_good_leaver_takes_its_vested_units_and_governance_can_kick() {
    let mut h = harness(Setup::default());
    revenue(&mut h, "EUR", 2000, "INV-1");
    let start = h.now;
    ok(
        &mut h,
        0,
        "vesting",
        json!({"create_grant": {"member": id(2), "units": 100, "start_ms": start,
        "cliff_ms": 0, "duration_ms": 10_000, "steps": 2}}),
    );
    h.advance_ms(5_000);
    // Half vested (one of two steps), none released yet: the ragequit releases it first.
    let data = ok(&mut h, 1, "exit", json!({"ragequit": {}})).unwrap();
    assert_eq!((data["units"].clone(), data["total_units"].clone()), (json!(100), json!(200)));
    let st = q(&h, "treasury", json!({"statement": {"member": id(2)}}));
    assert_eq!(amount(&st["EUR"]["earned"]), 1000); // 2000 * 100 / 200
    let grant = q(&h, "vesting", json!({"grant": {"id": 1}}));
    assert_eq!((grant["released"].clone(), grant["cancelled"]["forfeited"].clone()), (json!(50), json!(50)));
    assert_eq!(member(&h, &id(2))["economic_units"], json!(0));
    assert_eq!(q(&h, "membership", json!({"totals": {}}))["economic_units"], json!(100));
    // Ragekick by vote: Carol is paid her share of what is left and removed.
    let kick =
        propose_with(&mut h, json!([{"call": {"module": "exit", "msg": {"kick": {"member": id(3)}}}}]), &[0]);
    h.advance_ms(PERIOD + GRACE + 10);
    let op = h.call(0, "voting", &json!({"execute": {"proposal": kick}}));
    assert_eq!(h.outcome_error(&op), None);
    let st = q(&h, "treasury", json!({"statement": {"member": id(3)}}));
    assert_eq!(amount(&st["EUR"]["earned"]), 300); // 1000 * 30 / 100
    assert!(!is_participant(&h, 3));
    assert_eq!(q(&h, "exit", json!({"status": {"member": id(3)}}))["departure"]["how"], json!("kick"));
}

/// Issue 23: a seller removed when its buyout closed can sign nothing, yet
/// is paid in full: each buyer pays, and another partner than that buyer
/// confirms the payment for the former partner, citing a reference. The
/// seller itself, and the buyer on its own behalf, cannot.
#[test]
fn a_buyout_seller_is_paid_in_full_after_its_removal() {
    let mut h = harness(Setup {
        exit: json!({"buyout": {"price": {"fixed": {"asset": "EUR", "per_unit": 10}},
            "rofr_ms": 100_000, "open_ms": 100_000}}),
        ..Setup::default()
    });
    let (alice, bob, carol) = (id(1), id(2), id(3));
    ok(&mut h, 2, "exit", json!({"leave": {}}));
    ok(&mut h, 0, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 17}}));
    ok(&mut h, 1, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 12}}));
    h.advance_ms(100_000); // past first refusal: the last unit is anyone's
    ok(&mut h, 1, "exit", json!({"accept_offer": {"seller": carol, "economic_units": 1}}));
    assert!(!is_participant(&h, 3), "sold out: the seller left");
    assert!(
        h.try_call(2, "exit", &json!({"confirm_payment": {"debtor": alice, "asset": "EUR", "amount": 170}}))
            .is_err()
    );
    let for_carol = |debtor: &str, amount: u64, reference: Option<&str>| {
        json!({"confirm_payment": {"debtor": debtor, "asset": "EUR", "amount": amount,
            "creditor": carol, "reference": reference}})
    };
    // The debtor cannot confirm its own payment for the seller.
    let err = fails(&mut h, 0, "exit", for_carol(&alice, 170, Some("SEPA-1")));
    assert!(err.contains("other than the debtor"), "{err}");
    // Without a reference, no one can.
    let err = fails(&mut h, 1, "exit", for_carol(&alice, 170, None));
    assert!(err.contains("needs a reference"), "{err}");
    // Bob confirms Alice's payment, Alice confirms Bob's.
    ok(&mut h, 1, "exit", for_carol(&alice, 170, Some("SEPA-1")));
    ok(&mut h, 0, "exit", for_carol(&bob, 130, Some("SEPA-2")));
    let st = q(&h, "exit", json!({"statement": {"member": carol}}));
    assert_eq!(st["owed"], json!([]), "paid in full: {st}");
}

/// A ragequitter's statement stays readable after it left, and what the
/// treasury owes it is paid out and confirmed by another partner than the
/// payer, with evidence.
#[test]
fn a_ragequitters_statement_stays_readable_and_its_payout_is_confirmed_by_a_partner() {
    let mut h = harness(Setup::default());
    revenue(&mut h, "EUR", 1000, "INV-1");
    let carol = id(3);
    ok(&mut h, 2, "exit", json!({"ragequit": {}}));
    assert!(!is_participant(&h, 3));
    let st = q(&h, "treasury", json!({"statement": {"member": carol}}));
    assert_eq!(amount(&st["EUR"]["owed"]), 200, "{st}");
    assert_eq!(q(&h, "exit", json!({"status": {"member": carol}}))["departure"]["how"], json!("ragequit"));
    // Alice (a treasurer) pays Carol's share out of the partnership's account.
    let data = ok(
        &mut h,
        0,
        "treasury",
        json!({"record_payout": {"member": carol, "asset": "EUR", "amount": 200,
        "reference": "SEPA-CAROL"}}),
    )
    .unwrap();
    let payout = data["id"].clone();
    // The payer cannot confirm its own payout; another partner can, with evidence.
    let err = fails(&mut h, 0, "treasury", json!({"confirm_payout": {"id": payout, "evidence": "stmt 7"}}));
    assert!(err.contains("another partner than the payer"), "{err}");
    let err = fails(&mut h, 1, "treasury", json!({"confirm_payout": {"id": payout}}));
    assert!(err.contains("evidence"), "{err}");
    ok(
        &mut h,
        1,
        "treasury",
        json!({"confirm_payout": {"id": payout, "evidence": "bank statement 2026-12, line 7"}}),
    );
    let st = q(&h, "treasury", json!({"statement": {"member": carol}}));
    assert_eq!((amount(&st["EUR"]["paid"]), amount(&st["EUR"]["owed"])), (200, 0), "{st}");
}
