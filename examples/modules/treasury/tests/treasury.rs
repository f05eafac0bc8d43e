//! The treasury module's rules, run natively through the SDK's `MockHost`
//! with fake membership and voting modules: amounts, assets, confirmation,
//! capital accounts, every split with awkward numbers, distribution, fair
//! shares, payouts, spending limits, split changes, and bad calls that fail
//! clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use polypact_sdk::testing::{MOCK_TIME_MS, MockHost};
use serde_json::{Value, json};
use treasury::{
    Amount, BalancesResponse, DistributeResponse, DistributionRecord, DistributionView, FairShareResponse,
    RecordedResponse, StatementResponse, Status, polypact_dispatch,
};

const ALICE: &str = "pm1alice"; // 60 economic units, treasurer
const BOB: &str = "pm1bob"; // 40 economic units, auditor
const CAROL: &str = "pm1carol"; // 0 economic units
const MALLORY: &str = "pm1mallory"; // not a member

/// member -> (economic units, roles)
type Members = Rc<RefCell<BTreeMap<String, (u64, Vec<String>)>>>;
/// proposal id -> answer
type Proposals = Rc<RefCell<BTreeMap<u64, Value>>>;

fn fake_membership(host: &mut MockHost) -> Members {
    let members: Members = Rc::new(RefCell::new(
        [(ALICE, 60, vec!["treasurer"]), (BOB, 40, vec!["auditor"]), (CAROL, 0, vec![])]
            .into_iter()
            .map(|(m, u, r)| (m.to_string(), (u, r.into_iter().map(String::from).collect())))
            .collect(),
    ));
    let m = members.clone();
    host.on_query("membership", move |q: Value| {
        let record = |id: &str, (units, roles): &(u64, Vec<String>)| {
            json!({"member": id, "voting_units": 1, "economic_units": units, "roles": roles, "active": true,
                   "joined_at": 0, "left_at": null})
        };
        if let Some(v) = q.get("member") {
            let id = v["member"].as_str().unwrap();
            m.borrow().get(id).map(|r| record(id, r)).ok_or_else(|| format!("{id} is not a member"))
        } else if let Some(v) = q.get("members") {
            let after = v["start_after"].as_str().map(String::from);
            let list: Vec<Value> = m
                .borrow()
                .iter()
                .filter(|(id, _)| after.as_ref().is_none_or(|a| *id > a))
                .map(|(id, r)| record(id, r))
                .collect();
            Ok(json!({ "members": list }))
        } else if let Some(v) = q.get("has_role") {
            let id = v["member"].as_str().unwrap();
            let role = v["role"].as_str().unwrap();
            Ok(json!({"has_role": m.borrow().get(id).is_some_and(|(_, roles)| roles.iter().any(|r| r == role))}))
        } else {
            Err(format!("unexpected query {q}"))
        }
    });
    members
}

fn fake_voting(host: &mut MockHost) -> Proposals {
    let proposals: Proposals = Rc::new(RefCell::new(BTreeMap::new()));
    let p = proposals.clone();
    host.on_query("voting", move |q: Value| {
        let id = q["proposal"]["id"].as_u64().ok_or_else(|| format!("unexpected query {q}"))?;
        p.borrow().get(&id).cloned().ok_or_else(|| format!("there is no proposal {id}"))
    });
    proposals
}

fn config_with(split: Value, confirmation: Value) -> Value {
    json!({
        "membership": "membership",
        "governance": "voting",
        "exit_module": "exit",
        "split_managers": ["term"],
        "assets": ["EUR", {"code": "USD"}, {"code": "JPY", "exponent": 0}],
        "treasurer_role": "treasurer",
        "confirmation": confirmation,
        "spend_vote_above": {"EUR": 1000, "USD": 1000},
        "split": split
    })
}

fn setup_with(config: Value) -> (MockHost, Members, Proposals) {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB, CAROL]);
    let members = fake_membership(&mut host);
    let proposals = fake_voting(&mut host);
    host.env_mut().module = "treasury".into();
    host.init(ALICE, &config).unwrap();
    (host, members, proposals)
}

fn setup(split: Value) -> MockHost {
    setup_with(config_with(split, json!("none"))).0
}

fn ok(host: &mut MockHost, caller: &str, msg: Value) -> polypact_sdk::Response {
    host.handle(caller, &msg).unwrap_or_else(|e| panic!("{msg} failed: {e}"))
}

/// Calls that must fail: returns the error and checks that state is unchanged.
fn fails(host: &mut MockHost, caller: &str, msg: Value) -> String {
    let before = host.state().clone();
    let err = host.handle(caller, &msg).expect_err(&format!("{msg} should fail"));
    assert_eq!(host.state(), &before, "a failed call changed state: {msg}");
    err
}

fn fails_from(host: &mut MockHost, module: &str, msg: Value) -> String {
    let before = host.state().clone();
    let err = host.handle_from_module(module, ALICE, &msg).expect_err(&format!("{msg} should fail"));
    assert_eq!(host.state(), &before, "a failed call changed state: {msg}");
    err
}

fn fails_raw(host: &mut MockHost, raw: &str) -> String {
    let before = host.state().clone();
    let err = host.handle_raw(ALICE, raw.as_bytes()).expect_err(&format!("{raw} should fail"));
    assert_eq!(host.state(), &before);
    err
}

fn balances(host: &mut MockHost) -> BalancesResponse {
    host.query(&json!({"balances": {}})).unwrap()
}

fn pool(host: &mut MockHost, asset: &str) -> u128 {
    balances(host).pool[asset].0
}

fn statement(host: &mut MockHost, member: &str) -> StatementResponse {
    host.query(&json!({"statement": {"member": member}})).unwrap()
}

fn earned(host: &mut MockHost, member: &str, asset: &str) -> u128 {
    statement(host, member)[asset].earned.0
}

fn revenue(
    host: &mut MockHost,
    caller: &str,
    asset: &str,
    amount: Value,
    reference: &str,
) -> RecordedResponse {
    let msg = json!({"record_revenue": {"asset": asset, "amount": amount, "reference": reference, "counterparty": "client"}});
    ok(host, caller, msg).data_as().unwrap().unwrap()
}

fn distribute(host: &mut MockHost, asset: &str) -> DistributionView {
    let r: DistributeResponse =
        ok(host, ALICE, json!({"distribute": {"asset": asset}})).data_as().unwrap().unwrap();
    r.distributed[asset].clone()
}

fn shares(view: &DistributionView) -> BTreeMap<&str, u128> {
    view.shares.iter().map(|(m, a)| (m.as_str(), a.0)).collect()
}

/// pool + claims == revenue + cash capital - pool costs - spent - paid out, per asset.
fn assert_books_balance(host: &mut MockHost) {
    for (asset, t) in balances(host).totals {
        let inflow = t.revenue.0 + t.capital_cash.0;
        let outflow = t.costs.0 + t.spent.0 + t.paid_out.0;
        assert_eq!(t.pool.0 + t.claims.0, inflow - outflow, "{asset} books do not balance");
        assert_eq!(
            t.distributed.0,
            t.claims.0 + t.paid_out.0,
            "{asset}: distributed is claims plus paid out"
        );
    }
}

// ---------------------------------------------------------------- config

#[test]
fn config_is_validated() {
    let cases = [
        (json!({"assets": []}), "list 1 to 32 assets"),
        (json!({"assets": ["EUR", "EUR"]}), "asset EUR is listed twice"),
        (json!({"assets": ["eur"]}), "must be 1 to 12 of A-Z and 0-9"),
        (json!({"assets": [{"code": "EUR", "exponent": 19}]}), "exponent 19 is above 18"),
        (json!({"spend_vote_above": {"GBP": 5}}), "spend_vote_above: unknown asset \"GBP\""),
        (
            json!({"split": {"fixed": {"shares": {ALICE: 5000, BOB: 4000}}}}),
            "add up to 9000 basis points, not 10000",
        ),
        (json!({"split": {"fixed": {"shares": {"alice": 10000}}}}), "must be a member id"),
        (
            json!({"split": {"waterfall": {"tranches": [{"cap": {"GBP": 1}, "shares": {ALICE: 10000}}]}}}),
            "unknown asset \"GBP\"",
        ),
        (
            json!({"split": {"waterfall": {"tranches": [{"cap": {"EUR": 0}, "shares": {ALICE: 10000}}]}}}),
            "caps EUR at 0",
        ),
        (json!({"confirmation": {"role": ""}}), "confirmation role must not be empty"),
        (
            json!({"assets": [{"code": "EUR", "exp": 2}]}),
            "unknown field `exp`, expected `code` or `exponent`",
        ),
        (json!({"assets": [7]}), "expected an asset: \"EUR\" or {\"code\":\"EUR\",\"exponent\":2}"),
    ];
    for (patch, expected) in cases {
        let mut config = config_with(json!({"pro_rata": {}}), json!("none"));
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        let mut host = MockHost::new(polypact_dispatch);
        let err = host.init(ALICE, &config).unwrap_err();
        assert!(err.contains(expected), "{patch}: {err}");
        assert!(host.state().is_empty());
    }
}

// ---------------------------------------------------------------- amounts and assets

#[test]
fn bad_amounts_and_unknown_assets_are_clear_errors_that_change_nothing() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    let err = fails_raw(&mut host, r#"{"record_revenue":{"asset":"EUR","amount":-5,"reference":"X"}}"#);
    assert!(err.contains("amounts must not be negative, got -5"), "{err}");
    let err = fails_raw(&mut host, r#"{"record_revenue":{"asset":"EUR","amount":1.5,"reference":"X"}}"#);
    assert!(err.contains("whole numbers of minor units"), "{err}");
    let err = fails_raw(&mut host, r#"{"record_revenue":{"asset":"EUR","amount":1e3,"reference":"X"}}"#);
    assert!(err.contains("whole numbers of minor units"), "{err}");
    let err = fails_raw(
        &mut host,
        r#"{"record_revenue":{"asset":"EUR","amount":"340282366920938463463374607431768211456","reference":"X"}}"#,
    );
    assert!(err.contains("exceeds the largest amount"), "{err}");
    let err =
        fails(&mut host, ALICE, json!({"record_revenue": {"asset": "GBP", "amount": 5, "reference": "X"}}));
    assert_eq!(err, "unknown asset \"GBP\"; this treasury keeps EUR, JPY, USD");
    let err =
        fails(&mut host, ALICE, json!({"record_revenue": {"asset": "EUR", "amount": 0, "reference": "X"}}));
    assert_eq!(err, "the amount must be above 0");
    let err =
        fails(&mut host, ALICE, json!({"record_revenue": {"asset": "EUR", "amount": 5, "reference": " "}}));
    assert_eq!(err, "reference must not be empty");
    // Overflow of the pool: u128::MAX plus what is there.
    let err = fails(
        &mut host,
        ALICE,
        json!({"record_revenue": {"asset": "EUR", "amount": u128::MAX.to_string(), "reference": "HUGE"}}),
    );
    assert_eq!(err, "the pool would overflow u128; nothing was changed");
    assert_eq!(pool(&mut host, "EUR"), 100);
}

#[test]
fn only_current_members_record_and_a_reference_is_used_once() {
    let mut host = setup(json!({"pro_rata": {}}));
    let err =
        fails(&mut host, MALLORY, json!({"record_revenue": {"asset": "EUR", "amount": 5, "reference": "A"}}));
    assert_eq!(err, "not allowed: only a current member may record revenue; pm1mallory is not one");
    let err = fails_from(
        &mut host,
        "voting",
        json!({"record_revenue": {"asset": "EUR", "amount": 5, "reference": "A"}}),
    );
    assert!(err.contains("done by a member's own op, not by module \"voting\""), "{err}");
    revenue(&mut host, ALICE, "EUR", json!(5), "INV-7");
    let err =
        fails(&mut host, BOB, json!({"record_revenue": {"asset": "EUR", "amount": 5, "reference": "INV-7"}}));
    assert!(err.starts_with("a revenue with reference \"INV-7\" already exists (id 0)"), "{err}");
    // The same reference is fine for another kind.
    ok(&mut host, BOB, json!({"record_cost": {"asset": "EUR", "amount": 5, "reference": "INV-7"}}));
}

// ---------------------------------------------------------------- confirmation

#[test]
fn unconfirmed_entries_count_nowhere_until_another_member_confirms() {
    let (mut host, _, _) = setup_with(config_with(json!({"pro_rata": {}}), json!("other_member")));
    let r = revenue(&mut host, ALICE, "EUR", json!(1000), "INV-1");
    assert_eq!((r.id, r.status), (0, Status::Pending));
    ok(
        &mut host,
        BOB,
        json!({"record_cost": {"asset": "EUR", "amount": 300, "reference": "C-1", "paid_from": "member"}}),
    );
    // Nowhere: not in the pool, balances, totals, statements, capital, preview, distribution.
    let b = balances(&mut host);
    assert_eq!(b.pool["EUR"], Amount(0));
    assert_eq!(b.totals["EUR"].revenue, Amount(0));
    assert_eq!(statement(&mut host, BOB)["EUR"].capital, Amount(0));
    let preview: DistributionView = host.query(&json!({"preview": {"asset": "EUR"}})).unwrap();
    assert_eq!(preview.amount, Amount(0));
    assert!(preview.shares.is_empty());
    let err = fails(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    assert_eq!(err, "the EUR pool is empty; nothing to distribute");
    let err = fails(&mut host, BOB, json!({"distribute": {"asset": "EUR", "amount": 1}}));
    assert_eq!(err, "the EUR pool is empty; nothing to distribute");

    // The recorder may not confirm its own entry; outsiders may not either.
    let err = fails(&mut host, ALICE, json!({"confirm_entry": {"id": 0}}));
    assert_eq!(err, "not allowed: pm1alice recorded entry 0 and may not confirm it; another member must");
    let err = fails(&mut host, MALLORY, json!({"confirm_entry": {"id": 0}}));
    assert!(err.contains("only a current member may confirm"), "{err}");
    ok(&mut host, BOB, json!({"confirm_entry": {"id": 0}}));
    assert_eq!(pool(&mut host, "EUR"), 1000);
    let err = fails(&mut host, CAROL, json!({"confirm_entry": {"id": 0}}));
    assert_eq!(err, "entry 0 is already counted, not pending");
    ok(&mut host, ALICE, json!({"confirm_entry": {"id": 1}}));
    assert_eq!(statement(&mut host, BOB)["EUR"].capital, Amount(300));
    let err = fails(&mut host, ALICE, json!({"confirm_entry": {"id": 9}}));
    assert_eq!(err, "there is no entry 9");
    assert_books_balance(&mut host);
}

#[test]
fn a_confirmation_role_is_read_from_membership() {
    let (mut host, _, _) = setup_with(config_with(json!({"pro_rata": {}}), json!({"role": "auditor"})));
    revenue(&mut host, ALICE, "EUR", json!(10), "INV-1");
    revenue(&mut host, BOB, "EUR", json!(20), "INV-2");
    let err = fails(&mut host, CAROL, json!({"confirm_entry": {"id": 0}}));
    assert_eq!(err, "not allowed: only a member with role \"auditor\" may confirm entries");
    // The auditor recorded entry 1 itself: four eyes, so no.
    let err = fails(&mut host, BOB, json!({"confirm_entry": {"id": 1}}));
    assert!(err.contains("may not confirm it"), "{err}");
    ok(&mut host, BOB, json!({"confirm_entry": {"id": 0}}));
    assert_eq!(pool(&mut host, "EUR"), 10);
    // The recorder withdraws its own; its reference becomes free again.
    let err = fails(&mut host, CAROL, json!({"reject_entry": {"id": 1, "reason": "typo"}}));
    assert!(err.contains("only a member with role \"auditor\" may reject"), "{err}");
    ok(&mut host, BOB, json!({"reject_entry": {"id": 1, "reason": "wrong client"}}));
    let e: Value = host.query(&json!({"entry": {"id": 1}})).unwrap();
    assert_eq!((e["status"].as_str(), e["reason"].as_str()), (Some("rejected"), Some("wrong client")));
    let err = fails(&mut host, ALICE, json!({"confirm_entry": {"id": 1}}));
    assert_eq!(err, "entry 1 is already rejected, not pending");
    revenue(&mut host, BOB, "EUR", json!(20), "INV-2");
    assert_eq!(pool(&mut host, "EUR"), 10);
}

#[test]
fn costs_from_the_pool_need_money_and_costs_paid_by_a_partner_become_its_capital() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    let err =
        fails(&mut host, BOB, json!({"record_cost": {"asset": "EUR", "amount": 101, "reference": "C-1"}}));
    assert_eq!(err, "the EUR pool holds 100, less than the 101 needed for cost 1");
    ok(
        &mut host,
        BOB,
        json!({"record_cost": {"asset": "EUR", "amount": 40, "reference": "C-1", "counterparty": "cloud"}}),
    );
    assert_eq!(pool(&mut host, "EUR"), 60);
    ok(
        &mut host,
        BOB,
        json!({"record_cost": {"asset": "EUR", "amount": 500, "reference": "C-2", "paid_from": "member"}}),
    );
    ok(
        &mut host,
        ALICE,
        json!({"contribute_capital": {"asset": "EUR", "amount": 1000, "reference": "WIRE-1"}}),
    );
    assert_eq!(pool(&mut host, "EUR"), 1060);
    let s = statement(&mut host, BOB);
    assert_eq!((s["EUR"].capital, s["EUR"].recoupable), (Amount(500), Amount(500)));
    assert_eq!(statement(&mut host, ALICE)["EUR"].capital, Amount(1000));
    let t = &balances(&mut host).totals["EUR"];
    assert_eq!((t.costs, t.member_costs, t.capital_cash), (Amount(40), Amount(500), Amount(1000)));
    assert_books_balance(&mut host);
}

// ---------------------------------------------------------------- splits

#[test]
fn pro_rata_uses_economic_units_with_largest_remainder() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(101), "INV-1");
    // 60:40 of 101 = 60.6, 40.4 → alice 61 (remainder 0.6), bob 40; carol has no units.
    let view = distribute(&mut host, "EUR");
    assert_eq!(shares(&view), BTreeMap::from([(ALICE, 61), (BOB, 40)]));
    assert_eq!(pool(&mut host, "EUR"), 0);
    assert_eq!(balances(&mut host).claims_total["EUR"], Amount(101));
    assert_books_balance(&mut host);
}

#[test]
fn awkward_numbers_always_add_up_to_the_unit() {
    // 100 three ways, equal weights: the extra unit goes to the lowest member id.
    let mut host = setup(json!({"fixed": {"shares": {"pm1c": 3334, "pm1a": 3333, "pm1b": 3333}}}));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    assert_eq!(
        shares(&distribute(&mut host, "EUR")),
        BTreeMap::from([("pm1a", 33), ("pm1b", 33), ("pm1c", 34)])
    );
    // 1 unit among 7 equal members: the first id gets it.
    let seven: serde_json::Map<String, Value> =
        (1..=7).map(|i| (format!("pm1m{i}"), json!(if i == 1 { 1432 } else { 1428 }))).collect();
    let mut host = setup(json!({"fixed": {"shares": seven}}));
    revenue(&mut host, ALICE, "JPY", json!(1), "INV-1");
    assert_eq!(shares(&distribute(&mut host, "JPY")), BTreeMap::from([("pm1m1", 1)]));
    // Primes, several distributions, and a huge u128 amount.
    let mut host =
        setup(json!({"fixed": {"shares": {"pm1a": 1117, "pm1b": 2221, "pm1c": 3331, "pm1d": 3331}}}));
    let mut total = 0u128;
    for (i, amount) in [7919u128, 104729, 2, 3, u128::MAX - 104729 - 7919 - 5 - 1].into_iter().enumerate() {
        revenue(&mut host, ALICE, "USD", json!(amount.to_string()), &format!("INV-{i}"));
        let view = distribute(&mut host, "USD");
        assert_eq!(view.shares.values().map(|a| a.0).sum::<u128>(), amount);
        total += amount;
    }
    let earned: u128 = ["pm1a", "pm1b", "pm1c", "pm1d"].iter().map(|m| earned(&mut host, m, "USD")).sum();
    assert_eq!(earned, total);
    assert_eq!(balances(&mut host).claims_total["USD"], Amount(total));
    // The answer writes amounts above u64::MAX as strings, so they read back exactly.
    let raw: Value = host.query(&json!({"balances": {}})).unwrap();
    assert_eq!(raw["claims_total"]["USD"], json!(total.to_string()));
    assert_books_balance(&mut host);
}

#[test]
fn waterfall_recoups_costs_then_fills_a_capped_tranche_then_splits_pro_rata() {
    let mut host = setup(json!({"waterfall": {
        "recoup": true,
        "tranches": [{"cap": {"EUR": 1000}, "shares": {BOB: 10000}}],
        "rest": {"pro_rata": {}}
    }}));
    ok(
        &mut host,
        ALICE,
        json!({"record_cost": {"asset": "EUR", "amount": 300, "reference": "C-A", "paid_from": "member"}}),
    );
    ok(
        &mut host,
        BOB,
        json!({"record_cost": {"asset": "EUR", "amount": 100, "reference": "C-B", "paid_from": "member"}}),
    );
    // 200 does not cover the 400 to recoup: pro rata to what is outstanding (3:1).
    revenue(&mut host, ALICE, "EUR", json!(200), "INV-1");
    let v = distribute(&mut host, "EUR");
    assert_eq!(shares(&v), BTreeMap::from([(ALICE, 150), (BOB, 50)]));
    assert_eq!(v.recouped, v.shares);
    // 1701: 200 recoup left (150 + 50), then the 1000 tranche to bob, then 501 pro rata 60:40.
    revenue(&mut host, ALICE, "EUR", json!(1701), "INV-2");
    let preview: DistributionView = host.query(&json!({"preview": {"asset": "EUR"}})).unwrap();
    let v = distribute(&mut host, "EUR");
    assert_eq!(preview, v, "preview shows exactly what distribute does");
    assert_eq!((v.tranches.clone(), v.rest), (vec![Amount(1000)], Amount(501)));
    // rest 501 * 0.6 = 300.6 → 301 alice, 200.4 → 200 bob.
    assert_eq!(shares(&v), BTreeMap::from([(ALICE, 150 + 301), (BOB, 50 + 1000 + 200)]));
    let w: Value = host.query(&json!({"waterfall": {}})).unwrap();
    assert_eq!(w["tranches"][0]["paid"]["EUR"], json!(1000));
    assert_eq!(w["recoupable"]["EUR"], json!(0));
    // The tranche is full: later money goes pro rata only.
    revenue(&mut host, ALICE, "EUR", json!(10), "INV-3");
    assert_eq!(shares(&distribute(&mut host, "EUR")), BTreeMap::from([(ALICE, 6), (BOB, 4)]));
    // Statements add up to every unit distributed.
    let total: u128 = [ALICE, BOB, CAROL].iter().map(|m| earned(&mut host, m, "EUR")).sum();
    assert_eq!(total, 200 + 1701 + 10);
    let s = statement(&mut host, ALICE);
    assert_eq!(
        (s["EUR"].capital, s["EUR"].recouped, s["EUR"].recoupable),
        (Amount(300), Amount(300), Amount(0))
    );
    // A tranche without a cap in an asset is skipped there.
    revenue(&mut host, ALICE, "USD", json!(10), "INV-4");
    assert_eq!(shares(&distribute(&mut host, "USD")), BTreeMap::from([(ALICE, 6), (BOB, 4)]));
    assert_books_balance(&mut host);
}

#[test]
fn a_tranche_by_percentages_shares_its_cap() {
    let mut host = setup(json!({"waterfall": {
        "tranches": [{"cap": {"EUR": 100}, "shares": {ALICE: 2500, BOB: 7500}}],
        "rest": {"fixed": {"shares": {CAROL: 10000}}}
    }}));
    revenue(&mut host, ALICE, "EUR", json!(103), "INV-1");
    assert_eq!(shares(&distribute(&mut host, "EUR")), BTreeMap::from([(ALICE, 25), (BOB, 75), (CAROL, 3)]));
}

#[test]
fn a_tranche_may_be_pro_rata_or_by_capital_up_to_its_cap() {
    let mut host = setup(json!({"waterfall": {
        "tranches": [
            {"cap": {"EUR": 10}, "split": {"capital": {}}},
            {"cap": {"EUR": 100}, "split": {"pro_rata": {}}}
        ],
        "rest": {"fixed": {"shares": {CAROL: 10000}}}
    }}));
    // No capital yet: a distribution that reaches the first tranche has no one to pay.
    revenue(&mut host, ALICE, "EUR", json!(5), "INV-0");
    let err = fails(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    assert_eq!(err, "cannot distribute 5 EUR: tranche 0 is by capital and no member has capital in EUR");
    ok(
        &mut host,
        BOB,
        json!({"record_cost": {"asset": "EUR", "amount": 1, "reference": "C", "paid_from": "member"}}),
    );
    revenue(&mut host, ALICE, "EUR", json!(110), "INV-1");
    // 115: 10 to bob (the only capital), 100 pro rata 60:40, 5 to carol.
    let v = distribute(&mut host, "EUR");
    assert_eq!(shares(&v), BTreeMap::from([(ALICE, 60), (BOB, 10 + 40), (CAROL, 5)]));
    assert_eq!((v.tranches.clone(), v.rest), (vec![Amount(10), Amount(100)], Amount(5)));
    let err = fails_from(
        &mut host,
        "voting",
        json!({"set_split": {"waterfall": {"tranches": [{"cap": {"EUR": 1}, "shares": {ALICE: 10000}, "split": {"pro_rata": {}}}]}}}),
    );
    assert_eq!(err, "invalid split: tranche 0 has both shares and a split; give one");
    let w: Value = host.query(&json!({"waterfall": {}})).unwrap();
    assert_eq!(
        w["tranches"][1],
        json!({"cap": {"EUR": 100}, "paid": {"EUR": 100}, "split": {"pro_rata": {}}})
    );
}

#[test]
fn in_kind_contributions_count_only_once_governance_values_them() {
    let mut host = setup(json!({"capital": {}}));
    ok(&mut host, ALICE, json!({"contribute_capital": {"asset": "EUR", "amount": 100, "reference": "W-1"}}));
    let r: RecordedResponse = ok(
        &mut host,
        BOB,
        json!({"declare_contribution": {"asset": "EUR", "value": 300, "description": "patent 123", "category": "ip"}}),
    )
    .data_as()
    .unwrap()
    .unwrap();
    assert_eq!(r.id, 0);
    // Declared only: bob has no capital, so the capital split pays alice alone.
    assert_eq!(statement(&mut host, BOB)["EUR"].capital, Amount(0));
    let preview: DistributionView = host.query(&json!({"preview": {"asset": "EUR"}})).unwrap();
    assert_eq!(shares(&preview), BTreeMap::from([(ALICE, 100)]));
    // Only governance values.
    let err = fails(&mut host, ALICE, json!({"value_contribution": {"id": 0}}));
    assert!(err.starts_with("not allowed: only the governance module \"voting\" may value"), "{err}");
    let err = fails_from(&mut host, "term", json!({"value_contribution": {"id": 0}}));
    assert!(err.starts_with("not allowed"), "{err}");
    host.handle_from_module("voting", ALICE, &json!({"value_contribution": {"id": 0, "value": 200}}))
        .unwrap();
    assert_eq!(statement(&mut host, BOB)["EUR"].capital, Amount(200));
    let err = fails_from(&mut host, "voting", json!({"value_contribution": {"id": 0}}));
    assert_eq!(err, "contribution 0 is already valued, not pending");
    // Now 100:200.
    assert_eq!(shares(&distribute(&mut host, "EUR")), BTreeMap::from([(ALICE, 33), (BOB, 67)]));
    // A rejected one never counts.
    ok(
        &mut host,
        CAROL,
        json!({"declare_contribution": {"asset": "EUR", "value": 50, "description": "servers"}}),
    );
    host.handle_from_module(
        "voting",
        ALICE,
        &json!({"reject_contribution": {"id": 1, "reason": "not needed"}}),
    )
    .unwrap();
    assert_eq!(statement(&mut host, CAROL)["EUR"].capital, Amount(0));
    assert_eq!(balances(&mut host).totals["EUR"].in_kind, Amount(200));
    let err = fails(
        &mut host,
        CAROL,
        json!({"declare_contribution": {"asset": "EUR", "value": 0, "description": "x"}}),
    );
    assert_eq!(err, "the declared value must be above 0");
}

#[test]
fn a_split_with_no_one_to_pay_is_refused() {
    let mut host = setup(json!({"capital": {}}));
    revenue(&mut host, ALICE, "EUR", json!(5), "INV-1");
    let err = fails(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    assert_eq!(err, "cannot distribute 5 EUR: the rest is by capital and no member has capital in EUR");
}

// ---------------------------------------------------------------- distribution and exits

#[test]
fn distribute_everything_part_of_a_pool_and_distribute_all_from_exit_or_governance() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    revenue(&mut host, ALICE, "USD", json!(50), "INV-2");
    let err = fails(&mut host, ALICE, json!({"distribute": {"asset": "EUR", "amount": 101}}));
    assert_eq!(err, "the EUR pool holds 100, less than the 101 needed for this distribution");
    let err = fails(&mut host, ALICE, json!({"distribute": {"amount": 5}}));
    assert!(err.starts_with("an amount needs an asset"), "{err}");
    let err = fails(&mut host, MALLORY, json!({"distribute": {}}));
    assert!(err.starts_with("not allowed"), "{err}");
    ok(&mut host, BOB, json!({"distribute": {"asset": "EUR", "amount": 10}}));
    assert_eq!(pool(&mut host, "EUR"), 90);
    let err = fails(&mut host, ALICE, json!({"distribute_all": {}}));
    assert!(err.starts_with("not allowed: only the exit module"), "{err}");
    let r = host.handle_from_module("exit", ALICE, &json!({"distribute_all": {}})).unwrap();
    let data: DistributeResponse = r.data_as().unwrap().unwrap();
    assert_eq!(data.distributed.keys().collect::<Vec<_>>(), ["EUR", "USD"], "JPY is empty and left out");
    assert_eq!(r.events.iter().filter(|e| e.kind == "distributed").count(), 2);
    assert_eq!((pool(&mut host, "EUR"), pool(&mut host, "USD")), (0, 0));
    // Empty pools: distribute_all is a no-op, not an error.
    host.handle_from_module("voting", ALICE, &json!({"distribute_all": {}})).unwrap();
    ok(&mut host, ALICE, json!({"distribute": {}}));
    assert_books_balance(&mut host);
}

#[test]
fn payout_fair_share_floors_every_asset_and_is_only_for_the_exit_module() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(1000), "INV-1");
    revenue(&mut host, ALICE, "USD", json!(7), "INV-2");
    let msg = json!({"payout_fair_share": {"member": BOB, "units": 30, "total_units": 150}});
    let err = fails(&mut host, BOB, msg.clone());
    assert_eq!(err, "not allowed: only the exit module \"exit\" may pay a fair share");
    let err = fails_from(
        &mut host,
        "exit",
        json!({"payout_fair_share": {"member": BOB, "units": 3, "total_units": 2}}),
    );
    assert_eq!(err, "units 3 exceed total_units 2");
    let err = fails_from(
        &mut host,
        "exit",
        json!({"payout_fair_share": {"member": BOB, "units": 0, "total_units": 0}}),
    );
    assert_eq!(err, "total_units must be above 0");
    let r = host.handle_from_module("exit", ALICE, &msg).unwrap();
    let data: FairShareResponse = r.data_as().unwrap().unwrap();
    // 1000 * 30/150 = 200; 7 * 30/150 = 1.4 → 1; JPY 0.
    assert_eq!(
        data.paid,
        BTreeMap::from([("EUR".into(), Amount(200)), ("JPY".into(), Amount(0)), ("USD".into(), Amount(1))])
    );
    assert_eq!(r.events[0].get("paid"), Some("EUR:200,JPY:0,USD:1"));
    assert_eq!((pool(&mut host, "EUR"), pool(&mut host, "USD")), (800, 6));
    assert_eq!(statement(&mut host, BOB)["EUR"].owed, Amount(200));
    assert_books_balance(&mut host);
}

#[test]
fn distributions_and_fair_shares_are_kept_in_order_with_height_and_time() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(1000), "INV-1");
    host.set_height(5).set_time_ms(MOCK_TIME_MS + 1000);
    distribute(&mut host, "EUR");
    revenue(&mut host, ALICE, "EUR", json!(500), "INV-2");
    host.set_height(9).set_time_ms(MOCK_TIME_MS + 9000);
    let fair = json!({"payout_fair_share": {"member": BOB, "units": 40, "total_units": 100}});
    host.handle_from_module("exit", ALICE, &fair).unwrap();
    // A refused distribution keeps no record.
    fails(&mut host, ALICE, json!({"distribute": {"asset": "USD"}}));
    let all: Vec<DistributionRecord> = host.query(&json!({"distributions": {}})).unwrap();
    let seen: Vec<_> = all
        .iter()
        .map(|d| (d.id, d.asset.as_str(), d.amount.0, d.fair_share_of.as_deref(), d.height, d.time_ms))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, "EUR", 1000, None, 5, MOCK_TIME_MS + 1000),
            (1, "EUR", 200, Some(BOB), 9, MOCK_TIME_MS + 9000),
        ]
    );
    assert_eq!((all[0].by.as_str(), all[1].by.as_str()), (ALICE, "module:exit"));
    // Paged like the other lists.
    let rest: Vec<DistributionRecord> =
        host.query(&json!({"distributions": {"start_after": 0, "limit": 5}})).unwrap();
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), vec![1]);
    let total: u128 = all.iter().map(|d| d.amount.0).sum();
    assert_eq!(balances(&mut host).totals["EUR"].distributed, Amount(total));
}

// ---------------------------------------------------------------- payouts

#[test]
fn payouts_are_recorded_by_the_payer_confirmed_by_the_payee_and_never_twice() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(1000), "INV-1");
    distribute(&mut host, "EUR"); // alice 600, bob 400
    let pay = |amount: u64, reference: &str| json!({"record_payout": {"member": BOB, "asset": "EUR", "amount": amount, "reference": reference}});
    let err = fails(
        &mut host,
        BOB,
        json!({"record_payout": {"member": BOB, "asset": "EUR", "amount": 1, "reference": "T-0"}}),
    );
    assert!(err.starts_with("not allowed: pm1bob may not record a payout to itself"), "{err}");
    let err = fails(&mut host, ALICE, pay(401, "T-1"));
    assert_eq!(
        err,
        "pm1bob is owed 400 EUR not already being paid (earned 400, paid 0, pending 0); a payout of 401 is more"
    );
    ok(&mut host, ALICE, pay(300, "T-1"));
    // Pending counts against what may still be paid: no double payout.
    let err = fails(&mut host, CAROL, pay(101, "T-2"));
    assert!(err.starts_with("pm1bob is owed 100 EUR not already being paid"), "{err}");
    let err = fails(&mut host, CAROL, pay(10, "T-1"));
    assert!(err.starts_with("a payout with reference \"T-1\" already exists (id 0)"), "{err}");
    let s = statement(&mut host, BOB)["EUR"].clone();
    assert_eq!((s.earned, s.paid, s.pending, s.owed), (Amount(400), Amount(0), Amount(300), Amount(100)));
    // Only the payee confirms; twice is an error.
    let err = fails(&mut host, ALICE, json!({"confirm_payout": {"id": 0}}));
    assert!(err.starts_with("not allowed: only the payee pm1bob confirms payout 0"), "{err}");
    let err = fails_from(&mut host, "voting", json!({"confirm_payout": {"id": 0}}));
    assert!(err.starts_with("not allowed"), "governance only when the payee has left: {err}");
    ok(&mut host, BOB, json!({"confirm_payout": {"id": 0}}));
    let err = fails(&mut host, BOB, json!({"confirm_payout": {"id": 0}}));
    assert_eq!(err, "payout 0 is already confirmed, not pending");
    let err = fails(&mut host, BOB, json!({"cancel_payout": {"id": 0}}));
    assert_eq!(err, "payout 0 is already confirmed, not pending");
    let s = statement(&mut host, BOB)["EUR"].clone();
    assert_eq!((s.earned, s.paid, s.pending, s.owed), (Amount(400), Amount(300), Amount(0), Amount(100)));
    // A cancelled payout frees its amount and its reference.
    ok(&mut host, CAROL, pay(100, "T-2"));
    let err = fails(&mut host, ALICE, json!({"cancel_payout": {"id": 1}}));
    assert!(err.starts_with("not allowed: only the payer pm1carol or the payee pm1bob"), "{err}");
    ok(&mut host, BOB, json!({"cancel_payout": {"id": 1, "reason": "never arrived"}}));
    ok(&mut host, CAROL, pay(100, "T-2"));
    ok(&mut host, BOB, json!({"confirm_payout": {"id": 2}}));
    let s = statement(&mut host, BOB)["EUR"].clone();
    assert_eq!((s.earned, s.paid, s.owed), (Amount(400), Amount(400), Amount(0)));
    let err = fails(&mut host, ALICE, pay(1, "T-3"));
    assert!(err.starts_with("pm1bob is owed 0 EUR"), "{err}");
    assert_eq!(balances(&mut host).claims_total["EUR"], Amount(600));
    assert_books_balance(&mut host);
}

#[test]
fn governance_confirms_for_a_payee_who_is_no_longer_a_participant() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(10), "INV-1");
    distribute(&mut host, "EUR");
    ok(
        &mut host,
        ALICE,
        json!({"record_payout": {"member": BOB, "asset": "EUR", "amount": 4, "reference": "T"}}),
    );
    host.set_participants(&[ALICE, CAROL]);
    host.handle_from_module("voting", ALICE, &json!({"confirm_payout": {"id": 0}})).unwrap();
    assert_eq!(statement(&mut host, BOB)["EUR"].paid, Amount(4));
}

// ---------------------------------------------------------------- spending

#[test]
fn spends_up_to_the_limit_by_a_treasurer_above_it_only_by_governance() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(5000), "INV-1");
    let spend = |amount: u64, reference: &str| json!({"spend": {"asset": "EUR", "amount": amount, "to": "vendor", "reference": reference}});
    let err = fails(&mut host, BOB, spend(100, "S-1"));
    assert_eq!(
        err,
        "not allowed: only a member with role \"treasurer\" (or governance) may spend; pm1bob does not have it"
    );
    ok(&mut host, ALICE, spend(1000, "S-1"));
    let err = fails(&mut host, ALICE, spend(1001, "S-2"));
    assert_eq!(
        err,
        "a spend of 1001 EUR is above the 1000 a treasurer may spend alone; only the governance module \"voting\" may make it: propose it there"
    );
    let err = fails_from(&mut host, "term", spend(1001, "S-2"));
    assert!(err.starts_with("a spend of 1001 EUR is above"), "{err}");
    host.handle_from_module("voting", ALICE, &spend(3000, "S-2")).unwrap();
    assert_eq!(pool(&mut host, "EUR"), 1000);
    let err = fails_from(&mut host, "voting", spend(1001, "S-3"));
    assert_eq!(err, "the EUR pool holds 1000, less than the 1001 needed for spend 3");
    let err = fails(&mut host, ALICE, spend(10, "S-1"));
    assert!(err.starts_with("a spend with reference \"S-1\" already exists"), "{err}");
    // JPY has no limit configured: every JPY spend needs governance.
    revenue(&mut host, ALICE, "JPY", json!(5), "INV-2");
    let err = fails(
        &mut host,
        ALICE,
        json!({"spend": {"asset": "JPY", "amount": 1, "to": "x", "reference": "S-J"}}),
    );
    assert!(err.starts_with("a spend of 1 JPY is above the 0"), "{err}");
    assert_eq!(balances(&mut host).totals["EUR"].spent, Amount(4000));
    assert_books_balance(&mut host);
}

#[test]
fn with_a_spend_vote_kind_the_proposal_must_be_executed_of_that_kind_and_carry_the_spend() {
    let mut config = config_with(json!({"pro_rata": {}}), json!("none"));
    config["spend_vote_kind"] = json!("spend_above");
    let (mut host, _, proposals) = setup_with(config);
    revenue(&mut host, ALICE, "EUR", json!(50_000), "INV-1");
    let spend = json!({"spend": {"asset": "EUR", "amount": 20_000, "to": "studio", "reference": "S-1", "proposal": 1}});
    // What voting answers for `proposal`, built from its published types.
    let proposal = |kind: &str, status: &str, msg: &Value| {
        let proposal = voting_api::Proposal {
            id: 1,
            title: "Spend".into(),
            description: String::new(),
            kind: kind.into(),
            rules: Default::default(),
            rule: voting_api::Rule { threshold: voting_api::Threshold::Majority {}, quorum_percent: 0 },
            proposer: ALICE.into(),
            messages: vec![voting_api::ProposalMsg::Call { module: "treasury".into(), msg: msg.clone() }],
            choices: None,
            snapshot_height: 0,
            total_power: 100,
            created_ms: 0,
            period_ms: 1,
            draft: false,
            sponsor: None,
            start_ms: 0,
            end_ms: 1,
            closed_early_ms: None,
            quorum_reached_ms: None,
            tally: voting_api::Tally::default(),
            firm: voting_api::Tally::default(),
            executed_ms: None,
            vetoed_by: None,
        };
        let status = serde_json::from_value(json!(status)).unwrap();
        let view =
            voting_api::ProposalView { proposal, status, winner: None, closes_ms: 1, executable_from_ms: 1 };
        serde_json::to_value(view).unwrap()
    };
    let mut without = spend.clone();
    without["spend"].as_object_mut().unwrap().remove("proposal");
    let err = fails_from(&mut host, "voting", without);
    assert!(err.contains("must name its \"spend_above\" proposal"), "{err}");
    proposals.borrow_mut().insert(1, proposal("default", "executed", &spend));
    let err = fails_from(&mut host, "voting", spend.clone());
    assert!(
        err.contains("proposal 1 is of kind \"default\"; spends above the limit need kind \"spend_above\""),
        "{err}"
    );
    proposals.borrow_mut().insert(1, proposal("spend_above", "passed", &spend));
    let err = fails_from(&mut host, "voting", spend.clone());
    assert!(err.contains("proposal 1 is passed, not executed"), "{err}");
    let mut other = spend.clone();
    other["spend"]["amount"] = json!(20_001);
    proposals.borrow_mut().insert(1, proposal("spend_above", "executed", &other));
    let err = fails_from(&mut host, "voting", spend.clone());
    assert!(err.contains("proposal 1 does not carry this exact spend"), "{err}");
    proposals.borrow_mut().insert(1, proposal("spend_above", "executed", &spend));
    host.handle_from_module("voting", ALICE, &spend).unwrap();
    assert_eq!(pool(&mut host, "EUR"), 30_000);
    // A second spend on the same proposal (another reference) is refused.
    let mut again = spend.clone();
    again["spend"]["reference"] = json!("S-2");
    let err = fails_from(&mut host, "voting", again);
    assert!(err.contains("proposal 1 already authorised a spend"), "{err}");
}

// ---------------------------------------------------------------- split changes

#[test]
fn set_split_by_governance_or_a_split_manager_restarts_tranches() {
    let mut host =
        setup(json!({"waterfall": {"tranches": [{"cap": {"EUR": 10}, "shares": {CAROL: 10000}}]}}));
    revenue(&mut host, ALICE, "EUR", json!(10), "INV-1");
    distribute(&mut host, "EUR");
    let new = json!({"waterfall": {"tranches": [{"cap": {"EUR": 10}, "shares": {CAROL: 10000}}]}});
    let err = fails(&mut host, ALICE, json!({"set_split": new}));
    assert!(
        err.starts_with("not allowed: only the governance module \"voting\" or a split manager"),
        "{err}"
    );
    let err = fails_from(&mut host, "exit", json!({"set_split": new}));
    assert!(err.starts_with("not allowed"), "{err}");
    let err = fails_from(&mut host, "voting", json!({"set_split": {"fixed": {"shares": {ALICE: 1}}}}));
    assert_eq!(err, "invalid split: fixed shares add up to 1 basis points, not 10000");
    host.handle_from_module("term", ALICE, &json!({"set_split": new})).unwrap();
    // Answered in full, defaults filled in, in the shape set_split takes.
    let full = json!({"waterfall": {"recoup": false, "tranches": [{"cap": {"EUR": 10}, "shares": {CAROL: 10000}}], "rest": {"pro_rata": {}}}});
    assert_eq!(host.query::<Value>(&json!({"split": {}})).unwrap(), full);
    revenue(&mut host, ALICE, "EUR", json!(10), "INV-2");
    assert_eq!(
        shares(&distribute(&mut host, "EUR")),
        BTreeMap::from([(CAROL, 10)]),
        "the new tranche starts empty"
    );
    host.handle_from_module(
        "voting",
        ALICE,
        &json!({"set_split": {"fixed": {"shares": {ALICE: 5000, BOB: 5000}}}}),
    )
    .unwrap();
    revenue(&mut host, ALICE, "EUR", json!(3), "INV-3");
    assert_eq!(shares(&distribute(&mut host, "EUR")), BTreeMap::from([(ALICE, 2), (BOB, 1)]));
}

#[test]
fn lists_and_unknown_messages() {
    let mut host = setup(json!({"pro_rata": {}}));
    for i in 0..3 {
        revenue(&mut host, ALICE, "EUR", json!(1), &format!("INV-{i}"));
    }
    let page: Vec<Value> = host.query(&json!({"entries": {"start_after": 0, "limit": 5}})).unwrap();
    assert_eq!(page.iter().map(|e| e["id"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(page[0]["counterparty"], json!("client"));
    let err = fails(&mut host, ALICE, json!({"steal": {}}));
    assert!(err.starts_with("invalid handle message: unknown variant `steal`"), "{err}");
    let err = host.query::<Value>(&json!({"payout": {"id": 3}})).unwrap_err();
    assert_eq!(err, "there is no payout 3");
    let config: Value = host.query(&json!({"config": {}})).unwrap();
    assert_eq!(config["assets"], json!({"EUR": 2, "JPY": 0, "USD": 2}));
}

// ----- between partnerships -----

const PROGRAM: &str = "pp1program";
const JV: &str = "pp1venture";

#[test]
fn a_program_fee_goes_to_the_program_first_and_the_rest_is_split() {
    let mut config = config_with(json!({"pro_rata": {}}), json!("none"));
    config["program_fee"] = json!({"partnership": PROGRAM, "bps": 1000});
    let (mut host, _, _) = setup_with(config);
    revenue(&mut host, ALICE, "EUR", json!(1005), "INV-1");
    let r = ok(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    // 10% of 1005, rounded down, is 100; 905 is split 60/40.
    let sent: Vec<(String, String, Value)> = r
        .messages
        .iter()
        .filter_map(|m| match m {
            polypact_sdk::Message::Partnership { to, module, msg } => {
                Some((to.clone(), module.clone(), serde_json::from_slice(msg).unwrap()))
            }
            _ => None,
        })
        .collect();
    let fee = json!({"receive_payment": {"asset": "EUR", "amount": 100, "reference": "program-fee-1"}});
    assert_eq!(sent, vec![(PROGRAM.to_owned(), "treasury".to_owned(), fee)]);
    let view: DistributeResponse = r.data_as().unwrap().unwrap();
    assert_eq!(view.distributed["EUR"].amount.0, 905);
    assert_eq!(earned(&mut host, ALICE, "EUR") + earned(&mut host, BOB, "EUR"), 905);
    assert_eq!(balances(&mut host).totals["EUR"].spent.0, 100);
    assert_eq!(pool(&mut host, "EUR"), 0);
    // Only the project's own governance ends it.
    let refused = fails(&mut host, ALICE, json!({"end_program_fee": {}}));
    assert!(refused.contains("only the governance module"), "{refused}");
    let r = host.handle_from_module("voting", ALICE, &json!({"end_program_fee": {}})).unwrap();
    assert_eq!(r.events[0].kind, "program_fee_ended");
    revenue(&mut host, ALICE, "EUR", json!(1000), "INV-2");
    let r = ok(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    assert!(r.messages.is_empty(), "no fee after it ended");
    let bad = json!({"partnership": "pm1notapartnership", "bps": 10});
    let mut config = config_with(json!({"pro_rata": {}}), json!("none"));
    config["program_fee"] = bad;
    let mut host = MockHost::new(polypact_dispatch);
    fake_membership(&mut host);
    assert!(host.init(ALICE, &config).unwrap_err().contains("must be a partnership (pp1…)"));
}

#[test]
fn a_partnership_member_is_paid_into_its_treasury_at_once() {
    let (mut host, members, _) = setup_with(config_with(json!({"pro_rata": {}}), json!("none")));
    members.borrow_mut().insert(JV.into(), (100, vec![]));
    revenue(&mut host, ALICE, "EUR", json!(2000), "INV-1");
    let r = ok(&mut host, ALICE, json!({"distribute": {"asset": "EUR"}}));
    // 2000 by 60:40:100: the joint venture's 1000 is sent at once.
    let payment = r
        .messages
        .iter()
        .find_map(|m| match m {
            polypact_sdk::Message::Partnership { to, module, msg } if to == JV && module == "treasury" => {
                Some(serde_json::from_slice::<Value>(msg).unwrap())
            }
            _ => None,
        })
        .expect("a payment to the joint venture");
    assert_eq!(payment["receive_payment"]["amount"], json!(1000));
    let s = statement(&mut host, JV);
    assert_eq!((s["EUR"].earned.0, s["EUR"].paid.0, s["EUR"].owed.0), (1000, 1000, 0));
    assert_eq!(balances(&mut host).claims_total["EUR"].0, 1000, "the key members' 1000 is still owed");
}

#[test]
fn a_payment_from_another_partnership_waits_for_a_member_to_confirm_it() {
    let (mut host, _, _) = setup_with(config_with(json!({"pro_rata": {}}), json!("none")));
    let pay = json!({"receive_payment": {"asset": "EUR", "amount": 250, "reference": "transfer-3"}});
    // Not from a member, not from a module: only from a partnership.
    assert!(fails(&mut host, ALICE, pay.clone()).contains("comes from another partnership"));
    assert!(fails_from(&mut host, "voting", pay.clone()).contains("comes from another partnership"));
    let recorded: RecordedResponse = ok(&mut host, PROGRAM, pay.clone()).data_as().unwrap().unwrap();
    assert_eq!(recorded.status, Status::Pending);
    assert_eq!(pool(&mut host, "EUR"), 0, "nothing counts until a member confirms");
    // The same payment twice (a replay) is refused.
    assert!(fails(&mut host, PROGRAM, pay).contains("already exists"));
    ok(&mut host, BOB, json!({"confirm_entry": {"id": recorded.id}}));
    assert_eq!(pool(&mut host, "EUR"), 250);
}

#[test]
fn a_partnership_member_confirms_by_its_own_decision() {
    let (mut host, members, _) = setup_with(config_with(json!({"pro_rata": {}}), json!("other_member")));
    members.borrow_mut().insert(JV.into(), (10, vec![]));
    let recorded = revenue(&mut host, ALICE, "EUR", json!(300), "INV-9");
    assert_eq!(recorded.status, Status::Pending);
    // Its message arrives with it as the caller, not via a module.
    ok(&mut host, JV, json!({"confirm_entry": {"id": recorded.id}}));
    assert_eq!(pool(&mut host, "EUR"), 300);
}

// ----- capital calls -----

fn calls_config(overrun: Value) -> Value {
    let mut config = config_with(json!({"pro_rata": {}}), json!("none"));
    config["overrun"] = overrun;
    config
}

fn dilution(penalty_bps: u32) -> Value {
    json!({"capital_call": {"period_ms": 1_000, "on_default": {"dilution": {"penalty_bps": penalty_bps}}}})
}

/// The membership messages of a response, as JSON.
fn calls_sent(r: &polypact_sdk::Response) -> Vec<(String, Value)> {
    r.messages
        .iter()
        .filter_map(|m| match m {
            polypact_sdk::Message::Call { module, msg } => {
                Some((module.clone(), serde_json::from_slice(msg).unwrap()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn overrun_terms_are_checked_at_init() {
    for (overrun, expected) in [
        (
            json!({"capital_call": {"period_ms": 0, "on_default": {"bad_leaver": {}}}}),
            "invalid treasury config: overrun: period_ms must be above 0",
        ),
        (
            dilution(10_001),
            "invalid treasury config: overrun: on_default.dilution.penalty_bps must be 0 to 10000, got 10001",
        ),
    ] {
        let mut host = MockHost::new(polypact_dispatch);
        fake_membership(&mut host);
        let err = host.init(ALICE, &calls_config(overrun)).expect_err("bad terms");
        assert!(err.contains(expected), "{err}");
    }
    let mut config =
        calls_config(json!({"cap_and_vote": {"period_ms": 5, "on_default": {"bad_leaver": {}}}}));
    config.as_object_mut().unwrap().remove("exit_module");
    let mut host = MockHost::new(polypact_dispatch);
    let err = host.init(ALICE, &config).expect_err("bad_leaver without exit");
    assert!(err.contains("on_default bad_leaver needs exit_module"), "{err}");
    let mut host = MockHost::new(polypact_dispatch);
    let err =
        host.init(ALICE, &calls_config(json!({"capital_call": {"period_ms": 5}}))).expect_err("no terms");
    assert!(err.contains("missing field `on_default`"), "{err}");
}

#[test]
fn without_overrun_terms_a_cost_above_the_pool_is_still_refused() {
    let mut host = setup(json!({"pro_rata": {}}));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    let err =
        fails(&mut host, ALICE, json!({"record_cost": {"asset": "EUR", "amount": 101, "reference": "C-1"}}));
    assert_eq!(err, "the EUR pool holds 100, less than the 101 needed for cost 1");
    let err = fails(&mut host, ALICE, json!({"apply_default": {"call": 0}}));
    assert!(err.contains("refuses costs above the pool"), "{err}");
}

#[test]
fn a_call_is_shared_by_units_and_a_defaulter_is_diluted_toward_the_payer() {
    let (mut host, _, _) = setup_with(calls_config(dilution(5_000)));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    let r =
        ok(&mut host, ALICE, json!({"record_cost": {"asset": "EUR", "amount": 1001, "reference": "C-1"}}));
    let recorded: RecordedResponse = r.data_as().unwrap().unwrap();
    assert_eq!((recorded.status, recorded.call), (Status::Called, Some(0)));
    // 901 by 60:40 is 540.6 / 360.4: the odd unit to the larger remainder (Alice's).
    let call: Value = host.query(&json!({"capital_call": {"id": 0}})).unwrap();
    assert_eq!(
        call["shares"],
        json!({ALICE: {"called": 541, "paid": 0, "pending": 0},
                                       BOB: {"called": 360, "paid": 0, "pending": 0}})
    );
    // Carol holds no units and is not called; Mallory is no member.
    let err = fails(&mut host, CAROL, json!({"pay_call": {"call": 0, "reference": "W-C"}}));
    assert_eq!(
        err,
        format!("not allowed: {CAROL} has no share in capital call 0; only the members called pay it")
    );
    let err = fails(&mut host, MALLORY, json!({"pay_call": {"call": 0, "reference": "W-M"}}));
    assert!(err.starts_with("not allowed: only a current member may pay a capital call"), "{err}");
    // A module cannot pay for a member either.
    let err = fails_from(&mut host, "voting", json!({"pay_call": {"call": 0, "reference": "W-V"}}));
    assert!(err.contains("is done by a member's own op"), "{err}");
    // With no confirmation configured, a payment counts when recorded.
    ok(&mut host, ALICE, json!({"pay_call": {"call": 0, "reference": "W-A"}}));
    ok(&mut host, BOB, json!({"pay_call": {"call": 0, "amount": 90, "reference": "W-B"}}));
    let t = balances(&mut host).totals["EUR"].clone();
    assert_eq!((t.pool.0, t.costs.0, t.capital_cash.0), (0, 100 + 541 + 90, 541 + 90));

    host.advance(1, 1_000); // the last moment of the period
    let err = fails(&mut host, BOB, json!({"apply_default": {"call": 0}}));
    assert!(err.starts_with("capital call 0 is open until"), "{err}");
    host.advance(1, 1);
    // Bob missed 270 of 360: floor(40 × 5000 × 270 / (10000 × 360)) = 15 units to Alice.
    let r = ok(&mut host, BOB, json!({"apply_default": {"call": 0}}));
    assert_eq!(
        calls_sent(&r),
        vec![(
            "membership".to_owned(),
            json!({"transfer_units": {"from": BOB, "to": ALICE, "voting_units": 0, "economic_units": 15}})
        )]
    );
    let next: Value = host.query(&json!({"capital_call": {"id": 1}})).unwrap();
    assert_eq!((next["amount"].clone(), next["carried"].clone()), (json!(270), json!(731)));
    assert_eq!(next["shares"], json!({ALICE: {"called": 270, "paid": 0, "pending": 0}}));
}

#[test]
fn when_no_one_pays_the_cost_is_rejected_and_its_money_returns_to_the_pool() {
    let (mut host, _, _) = setup_with(calls_config(dilution(10_000)));
    revenue(&mut host, ALICE, "EUR", json!(100), "INV-1");
    ok(&mut host, ALICE, json!({"record_cost": {"asset": "EUR", "amount": 300, "reference": "C-1"}}));
    ok(&mut host, ALICE, json!({"pay_call": {"call": 0, "amount": 20, "reference": "W-A"}}));
    host.advance(1, 1_001);
    let r = ok(&mut host, BOB, json!({"apply_default": {"call": 0}}));
    // No one paid in full: no one to dilute toward, and nothing more to call.
    assert!(calls_sent(&r).is_empty());
    let call: Value = host.query(&json!({"capital_call": {"id": 0}})).unwrap();
    assert_eq!(call["status"], json!("cancelled"));
    let cost: Value = host.query(&json!({"entry": {"id": 1}})).unwrap();
    assert_eq!(cost["status"], json!("rejected"));
    let t = balances(&mut host).totals["EUR"].clone();
    assert_eq!((t.pool.0, t.costs.0, t.capital_cash.0), (120, 0, 20));
    assert_eq!(statement(&mut host, ALICE)["EUR"].capital.0, 20);
    // The reference is free again: the cost can be recorded anew.
    ok(&mut host, ALICE, json!({"record_cost": {"asset": "EUR", "amount": 120, "reference": "C-1"}}));
    assert_eq!(pool(&mut host, "EUR"), 0);
}

#[test]
fn diluted_units_are_exact_and_floored() {
    use treasury::calls::diluted_units;
    assert_eq!(diluted_units(30, 5_000, Amount(200), Amount(300)).unwrap(), 10);
    assert_eq!(diluted_units(20, 5_000, Amount(200), Amount(200)).unwrap(), 10);
    assert_eq!(diluted_units(7, 10_000, Amount(1), Amount(3)).unwrap(), 2);
    assert_eq!(diluted_units(100, 0, Amount(5), Amount(5)).unwrap(), 0);
    assert_eq!(diluted_units(u64::MAX, 10_000, Amount(u128::MAX), Amount(u128::MAX)).unwrap(), u64::MAX);
}
