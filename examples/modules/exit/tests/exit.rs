//! The exit module's behaviour, run natively through the SDK's `MockHost`
//! with fake membership, voting, treasury and vesting modules: ragequit and
//! its Moloch block, notice, lock-ups, good and bad leavers, buyouts with a
//! right of first refusal and their payables, kicks, dissolution, and bad
//! calls that fail clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use exit::{ExitData, Offer, StatementResponse, StatusResponse, polypact_dispatch};
use polypact_sdk::testing::MockHost;
use polypact_sdk::{Message, SystemMsg};
use serde_json::{Value, json};

const ALICE: &str = "pm1alice"; // 100 economic, 100 voting
const BOB: &str = "pm1bob"; // 60 economic
const CAROL: &str = "pm1carol"; // 40 economic
const OUTSIDER: &str = "pm1outsider";
const GOV: &str = "voting";
const T0: u64 = 1_000_000;
const DAY: u64 = 86_400_000;

/// The fakes' shared state.
#[derive(Default)]
struct World {
    /// member -> (voting, economic, active, joined_at)
    members: BTreeMap<String, (u64, u64, bool, u64)>,
    former_claims: u64,
    open_yes: BTreeMap<String, Vec<u64>>,
    /// member -> (releasable economic, in_cliff)
    vesting: BTreeMap<String, (u64, bool)>,
    pool: BTreeMap<String, u128>,
}

type Shared = Rc<RefCell<World>>;

fn fakes(host: &mut MockHost) -> Shared {
    let world: Shared = Rc::new(RefCell::new(World::default()));
    {
        let mut w = world.borrow_mut();
        for (m, v, e) in [(ALICE, 100, 100), (BOB, 0, 60), (CAROL, 10, 40)] {
            w.members.insert(m.into(), (v, e, true, 0));
        }
        w.pool.insert("EUR".into(), 10_000);
    }
    let w = world.clone();
    host.on_query("membership", move |q: Value| {
        let w = w.borrow();
        let view = |m: &str, r: &(u64, u64, bool, u64)| {
            json!({"member": m, "voting_units": r.0, "economic_units": r.1, "roles": [], "active": r.2,
                "joined_at": r.3, "left_at": null})
        };
        if let Some(m) = q.get("member") {
            let who = m["member"].as_str().unwrap();
            return w.members.get(who).map(|r| view(who, r)).ok_or_else(|| format!("{who} is not a member"));
        }
        if q.get("totals").is_some() {
            let active = w.members.values().filter(|r| r.2);
            return Ok(json!({"voting_units": 0, "economic_units": active.map(|r| r.1).sum::<u64>(),
                "former_economic_units": w.former_claims, "members": 3}));
        }
        if let Some(p) = q.get("members") {
            let after = p["start_after"].as_str().unwrap_or("");
            let page: Vec<Value> =
                w.members.iter().filter(|(k, _)| k.as_str() > after).map(|(k, r)| view(k, r)).collect();
            return Ok(json!({"members": page}));
        }
        Err(format!("unexpected membership query {q}"))
    });
    let w = world.clone();
    host.on_query(GOV, move |q: Value| {
        let voter = q["open_yes_votes"]["voter"].as_str().ok_or("unexpected voting query")?;
        Ok(json!({"proposals": w.borrow().open_yes.get(voter).cloned().unwrap_or_default()}))
    });
    let w = world.clone();
    host.on_query("vesting", move |q: Value| {
        let who = q["vested"]["member"].as_str().ok_or("unexpected vesting query")?;
        let (releasable, in_cliff) = w.borrow().vesting.get(who).copied().unwrap_or((0, false));
        Ok(json!({"vested": 0, "unvested": 0, "in_cliff": in_cliff, "at_ms": 0,
            "economic": {"vested": releasable, "unvested": 0, "released": 0, "releasable": releasable},
            "voting": {"vested": 0, "unvested": 0, "released": 0, "releasable": 0}}))
    });
    let w = world.clone();
    host.on_query("treasury", move |q: Value| {
        if q.get("balances").is_some() {
            return Ok(json!({"pool": w.borrow().pool, "claims_total": {}, "totals": {}}));
        }
        Err(format!("unexpected treasury query {q}"))
    });
    world
}

fn base_config() -> Value {
    json!({"membership": "membership", "governance": GOV, "treasury": "treasury", "vesting": "vesting",
        "term_module": "term"})
}

fn setup_with(extra: Value) -> (MockHost, Shared) {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB, CAROL]);
    let world = fakes(&mut host);
    host.set_height(1).set_time_ms(T0);
    let mut config = base_config();
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    host.init(ALICE, &config).unwrap();
    host.advance(1, 1);
    (host, world)
}

fn setup() -> (MockHost, Shared) {
    setup_with(json!({}))
}

/// Each message of a response as (module, JSON) or ("system", …).
fn messages(msgs: &[Message]) -> Vec<(String, Value)> {
    msgs.iter()
        .map(|m| match m {
            Message::Call { module, msg } => (module.clone(), serde_json::from_slice(msg).unwrap()),
            Message::System(SystemMsg::Dissolve { reason }) => ("system".into(), json!({"dissolve": reason})),
            Message::System(other) => ("system".into(), json!(format!("{other:?}"))),
            Message::Partnership { to, module, msg } => {
                (format!("{to}/{module}"), serde_json::from_slice(msg).unwrap())
            }
        })
        .collect()
}

fn status(host: &mut MockHost, who: &str) -> StatusResponse {
    host.query(&json!({"status": {"member": who}})).unwrap()
}

/// A failing call leaves the state exactly as it was.
fn fails(host: &mut MockHost, caller: &str, sender: Option<&str>, msg: Value) -> String {
    let before = host.state().clone();
    let err = match sender {
        Some(module) => host.handle_from_module(module, caller, &msg).unwrap_err(),
        None => host.handle(caller, &msg).unwrap_err(),
    };
    assert_eq!(host.state(), &before, "a failed {msg} changed state");
    err
}

#[test]
fn ragequit_pays_the_fair_share_then_removes_in_one_op() {
    let (mut host, world) = setup();
    world.borrow_mut().former_claims = 50;
    let r = host.handle(BOB, &json!({"ragequit": {}})).unwrap();
    assert_eq!(
        messages(&r.messages),
        vec![
            ("vesting".into(), json!({"cancel_on_exit": {"member": BOB, "keep_vested": true}})),
            // 60 of the 200 current units plus 50 still claimed by former members.
            (
                "treasury".into(),
                json!({"payout_fair_share": {"member": BOB, "units": 60, "total_units": 250}})
            ),
            ("membership".into(), json!({"remove_member": {"member": BOB, "economic_units": 0}})),
        ]
    );
    let data: ExitData = r.data_as().unwrap().unwrap();
    assert_eq!(
        (data.units, data.total_units, data.forfeited_units, data.bad_leaver),
        (60, Some(250), 0, None)
    );
    assert_eq!(r.events[0].kind, "ragequit");
    let d = status(&mut host, BOB).departure.unwrap();
    assert_eq!((d.how, d.kept_units), (exit::How::Ragequit, 60));
    // Membership has not yet removed it in this fake: a second exit is still refused.
    let err = fails(&mut host, BOB, None, json!({"ragequit": {}}));
    assert!(err.starts_with("pm1bob has already left (Ragequit at height 2)"), "{err}");
    let err = fails(&mut host, BOB, None, json!({"leave": {}}));
    assert!(err.starts_with("pm1bob has already left"), "{err}");
}

#[test]
fn ragequit_is_blocked_while_a_yes_voted_proposal_is_pending() {
    let (mut host, world) = setup();
    world.borrow_mut().open_yes.insert(CAROL.into(), vec![1, 4]);
    let err = fails(&mut host, CAROL, None, json!({"ragequit": {}}));
    assert_eq!(
        err,
        "pm1carol voted yes on proposals still pending (1, 4); ragequit is blocked until they are executed, rejected, vetoed or expired"
    );
    world.borrow_mut().open_yes.clear();
    host.handle(CAROL, &json!({"ragequit": {}})).unwrap();
}

#[test]
fn ragequit_is_an_op_of_the_member_and_only_members_may() {
    let (mut host, _) = setup();
    let err = fails(&mut host, OUTSIDER, None, json!({"ragequit": {}}));
    assert_eq!(err, "pm1outsider is not a member");
    let err = fails(&mut host, BOB, Some(GOV), json!({"ragequit": {}}));
    assert_eq!(err, "not allowed: a member must ragequit with its own op, not through a module");
    let err = fails(&mut host, BOB, None, json!({"ragequit": {"now": true}}));
    assert!(err.starts_with("invalid handle message: "), "{err}");
    let before = host.state().clone();
    let err = host.handle_raw(BOB, b"{\"ragequit\"").unwrap_err();
    assert!(err.starts_with("invalid handle message: "), "{err}");
    assert_eq!(host.state(), &before);
}

#[test]
fn notice_must_be_given_and_run_out() {
    let (mut host, _) = setup_with(json!({"notice_ms": 30 * DAY}));
    let err = fails(&mut host, BOB, None, json!({"ragequit": {}}));
    assert_eq!(
        err,
        "pm1bob must give notice first (2592000000 ms): send give_notice, then leave when it has run"
    );
    let r = host.handle(BOB, &json!({"give_notice": {}})).unwrap();
    assert_eq!(r.events[0].get("effective_ms"), Some((T0 + 1 + 30 * DAY).to_string().as_str()));
    let err = fails(&mut host, BOB, None, json!({"give_notice": {}}));
    assert_eq!(err, format!("pm1bob already gave notice at {} ms", T0 + 1));
    host.advance(1, 30 * DAY - 1);
    let err = fails(&mut host, BOB, None, json!({"leave": {}}));
    assert!(err.starts_with("pm1bob's notice period runs until"), "{err}");
    assert_eq!(status(&mut host, BOB).may_leave_from_ms, Some(T0 + 1 + 30 * DAY));
    host.advance(1, 1);
    host.handle(BOB, &json!({"ragequit": {}})).unwrap();
    // Withdrawing a notice.
    host.handle(CAROL, &json!({"give_notice": {}})).unwrap();
    host.handle(CAROL, &json!({"withdraw_notice": {}})).unwrap();
    assert_eq!(status(&mut host, CAROL).notice_given_ms, None);
    let err = fails(&mut host, CAROL, None, json!({"withdraw_notice": {}}));
    assert_eq!(err, "pm1carol has given no notice");
}

#[test]
fn lockups_block_exit_with_a_clear_error() {
    // Founders are locked up for a year from installation; everyone until lockup_until_ms.
    let (mut host, _) = setup_with(json!({"lockup_ms": 365 * DAY, "lockup_until_ms": T0 + DAY}));
    let err = fails(&mut host, BOB, None, json!({"ragequit": {}}));
    assert_eq!(
        err,
        format!(
            "pm1bob is locked up until {} ms (now {}); no exit or sale before then",
            T0 + 365 * DAY,
            T0 + 1
        )
    );
    let err = fails(&mut host, CAROL, None, json!({"leave": {}}));
    assert!(err.starts_with("pm1carol is locked up until"), "{err}");
    let err = fails(&mut host, ALICE, None, json!({"set_lockup": {"member": CAROL, "until_ms": 5}}));
    assert_eq!(err, "not allowed: only the governance module \"voting\" may set a lock-up; propose it there");
    host.advance(1, 365 * DAY);
    host.handle_from_module(
        GOV,
        ALICE,
        &json!({"set_lockup": {"member": CAROL, "until_ms": T0 + 400 * DAY}}),
    )
    .unwrap();
    assert_eq!(status(&mut host, CAROL).lockup_until_ms, T0 + 400 * DAY);
    let err = fails(&mut host, CAROL, None, json!({"ragequit": {}}));
    assert!(err.starts_with(&format!("pm1carol is locked up until {}", T0 + 400 * DAY)), "{err}");
    host.handle(BOB, &json!({"ragequit": {}})).unwrap();
}

#[test]
fn the_global_lockup_binds_everyone() {
    let (mut host, world) = setup_with(json!({"lockup_until_ms": T0 + DAY}));
    world.borrow_mut().members.insert("pm1dave".into(), (0, 10, true, 5));
    let err = fails(&mut host, "pm1dave", None, json!({"ragequit": {}}));
    assert!(err.starts_with(&format!("pm1dave is locked up until {}", T0 + DAY)), "{err}");
    host.advance(1, DAY);
    host.handle("pm1dave", &json!({"ragequit": {}})).unwrap();
}

#[test]
fn later_members_are_not_under_the_founders_lockup() {
    let (mut host, world) = setup_with(json!({"lockup_ms": 365 * DAY}));
    world.borrow_mut().members.insert("pm1dave".into(), (0, 10, true, 5));
    host.handle("pm1dave", &json!({"ragequit": {}})).unwrap();
}

#[test]
fn a_declared_bad_leaver_forfeits_a_percentage_and_its_vested_part() {
    let (mut host, world) = setup_with(json!({"bad_leaver": {"forfeit_percent": 25}}));
    world.borrow_mut().vesting.insert(BOB.into(), (40, false));
    let err =
        fails(&mut host, ALICE, None, json!({"declare_bad_leaver": {"member": BOB, "reason": "fraud"}}));
    assert!(err.starts_with("not allowed: only the governance module"), "{err}");
    host.handle_from_module(GOV, ALICE, &json!({"declare_bad_leaver": {"member": BOB, "reason": "fraud"}}))
        .unwrap();
    assert_eq!(status(&mut host, BOB).declared_bad_leaver.as_deref(), Some("fraud"));
    let r = host.handle(BOB, &json!({"ragequit": {}})).unwrap();
    let m = messages(&r.messages);
    assert_eq!(m[0].1, json!({"cancel_on_exit": {"member": BOB, "keep_vested": false}}));
    // 60 units, 25% (15) forfeited; the vested 40 are not released to a bad leaver.
    assert_eq!(m[1].1, json!({"payout_fair_share": {"member": BOB, "units": 45, "total_units": 200}}));
    let data: ExitData = r.data_as().unwrap().unwrap();
    assert_eq!(
        (data.forfeited_units, data.bad_leaver.as_deref()),
        (15, Some("declared by governance: fraud"))
    );
}

#[test]
fn a_good_leaver_takes_its_vested_units_along() {
    let (mut host, world) = setup_with(json!({"bad_leaver": {"forfeit_percent": 100}}));
    world.borrow_mut().vesting.insert(BOB.into(), (40, false));
    let r = host.handle(BOB, &json!({"ragequit": {}})).unwrap();
    let m = messages(&r.messages);
    assert_eq!(m[0].1, json!({"cancel_on_exit": {"member": BOB, "keep_vested": true}}));
    // The 40 released units join both its units and the total.
    assert_eq!(m[1].1, json!({"payout_fair_share": {"member": BOB, "units": 100, "total_units": 240}}));
}

#[test]
fn leaving_inside_a_cliff_makes_a_bad_leaver_when_configured() {
    let (mut host, world) =
        setup_with(json!({"bad_leaver": {"forfeit_percent": 0, "inside_cliff": true, "keep_vested": false}}));
    world.borrow_mut().vesting.insert(CAROL.into(), (0, true));
    let r = host.handle(CAROL, &json!({"leave": {}})).unwrap();
    let m = messages(&r.messages);
    assert_eq!(m[0].1, json!({"cancel_on_exit": {"member": CAROL, "keep_vested": false}}));
    // No buyout terms: it leaves keeping its units as a claim in membership.
    assert_eq!(m[1].1, json!({"remove_member": {"member": CAROL, "economic_units": 40}}));
    let d = status(&mut host, CAROL).departure.unwrap();
    assert_eq!((d.how, d.bad_leaver.as_deref()), (exit::How::Leave, Some("left inside a vesting cliff")));
}

#[test]
fn kick_is_governance_only_and_pays_out() {
    let (mut host, _) = setup_with(json!({"lockup_until_ms": T0 + DAY,
        "bad_leaver": {"forfeit_percent": 50, "inside_lockup": true}}));
    let err = fails(&mut host, ALICE, None, json!({"kick": {"member": CAROL}}));
    assert!(err.starts_with("not allowed: only the governance module \"voting\" may kick a member"), "{err}");
    let r = host.handle_from_module(GOV, ALICE, &json!({"kick": {"member": CAROL}})).unwrap();
    let m = messages(&r.messages);
    assert_eq!(m[1].1, json!({"payout_fair_share": {"member": CAROL, "units": 20, "total_units": 200}}));
    assert_eq!(r.events[0].kind, "member_kicked");
    assert_eq!(r.events[0].get("bad_leaver"), Some("left inside the lock-up"));
}

fn buyout_config(price: Value) -> Value {
    json!({"buyout": {"price": price, "rofr_ms": 7 * DAY, "open_ms": 7 * DAY}})
}

#[test]
fn buyout_with_first_refusal_then_open_sale_and_payables() {
    let (mut host, world) = setup_with(buyout_config(json!({"fixed": {"asset": "EUR", "per_unit": 3}})));
    // Bob leaves: its 60 units are offered; Alice (100) and Carol (40) get 42 and 17 first.
    let r = host.handle(BOB, &json!({"leave": {}})).unwrap();
    assert!(r.messages.iter().all(|m| !matches!(m, Message::Call { module, .. } if module == "membership")));
    let offer: Offer = host.query(&json!({"offer": {"seller": BOB}})).unwrap();
    assert_eq!(
        (offer.units, offer.per_unit, offer.leaving, offer.rofr_until_ms),
        (60, Some(3), true, T0 + 1 + 7 * DAY)
    );
    let err = fails(&mut host, BOB, None, json!({"leave": {}}));
    assert!(err.starts_with("pm1bob is already leaving"), "{err}");
    let err = fails(&mut host, BOB, None, json!({"ragequit": {}}));
    assert!(err.starts_with("pm1bob is already leaving"), "{err}");
    // Inside the window: at most the pro-rata allotment.
    let err = fails(&mut host, CAROL, None, json!({"accept_offer": {"seller": BOB, "economic_units": 18}}));
    assert!(err.contains("may buy at most its pro-rata 17 units"), "{err}");
    let r = host.handle(CAROL, &json!({"accept_offer": {"seller": BOB, "economic_units": 17}})).unwrap();
    assert_eq!(
        messages(&r.messages),
        vec![(
            "membership".into(),
            json!({"transfer_units": {"from": BOB, "to": CAROL, "voting_units": 0, "economic_units": 17}})
        )]
    );
    let err = fails(&mut host, CAROL, None, json!({"accept_offer": {"seller": BOB, "economic_units": 1}}));
    assert!(err.contains("pro-rata 0 units"), "{err}");
    // An outsider cannot buy directly, nor be named by governance inside the window.
    let err = fails(&mut host, OUTSIDER, None, json!({"accept_offer": {"seller": BOB, "economic_units": 1}}));
    assert!(
        err.starts_with("not allowed: pm1outsider is not a member; an outsider buys only through governance")
    );
    let sell = json!({"sell_to_outsider": {"seller": BOB, "buyer": OUTSIDER, "economic_units": 10}});
    let err = fails(&mut host, ALICE, Some(GOV), sell.clone());
    assert!(err.starts_with("the members' right of first refusal on pm1bob's units runs until"), "{err}");
    host.handle(ALICE, &json!({"accept_offer": {"seller": BOB, "economic_units": 30}})).unwrap();
    // After the window: governance names an admitted outsider; any member may buy the rest.
    host.advance(1, 7 * DAY);
    let err = fails(&mut host, ALICE, Some(GOV), sell.clone());
    assert!(err.starts_with("pm1outsider must be admitted to membership before it buys"), "{err}");
    world.borrow_mut().members.insert(OUTSIDER.into(), (0, 1, true, 9));
    host.handle_from_module(GOV, ALICE, &sell).unwrap();
    // What membership holds for Bob after the transfers; the close keeps the unsold rest as its claim.
    world.borrow_mut().members.get_mut(BOB).unwrap().1 = 60 - 17 - 30 - 10;
    let err = fails(&mut host, CAROL, None, json!({"close_offer": {"seller": BOB}}));
    assert!(err.starts_with("pm1bob's offer is open until"), "{err}");
    host.advance(1, 7 * DAY);
    let r = host.handle(CAROL, &json!({"close_offer": {"seller": BOB}})).unwrap();
    assert_eq!(messages(&r.messages)[0].1, json!({"remove_member": {"member": BOB, "economic_units": 3}}));
    assert!(host.query::<Value>(&json!({"offer": {"seller": BOB}})).is_err());
    let d = status(&mut host, BOB).departure.unwrap();
    assert_eq!((d.how, d.kept_units), (exit::How::Leave, 3));
    // Payables: every buyer owes Bob units * 3 EUR.
    let st: StatementResponse = host.query(&json!({"statement": {"member": BOB}})).unwrap();
    let owed: Vec<(String, u128)> = st.owed.iter().map(|p| (p.counterparty.clone(), p.amount)).collect();
    assert_eq!(owed, vec![(ALICE.into(), 90), (CAROL.into(), 51), (OUTSIDER.into(), 30)]);
    let st: StatementResponse = host.query(&json!({"statement": {"member": CAROL}})).unwrap();
    assert_eq!((st.owes[0].counterparty.as_str(), st.owes[0].amount), (BOB, 51));
    // Bob confirms Carol paid part; overpaying is refused.
    let err = fails(
        &mut host,
        BOB,
        None,
        json!({"confirm_payment": {"debtor": CAROL, "asset": "EUR", "amount": 52}}),
    );
    assert_eq!(err, "invalid request: pm1carol owes pm1bob 51 EUR; confirm 1 to 51, not 52");
    host.handle(BOB, &json!({"confirm_payment": {"debtor": CAROL, "asset": "EUR", "amount": 50}})).unwrap();
    let st: StatementResponse = host.query(&json!({"statement": {"member": CAROL}})).unwrap();
    assert_eq!(st.owes[0].amount, 1);
    host.handle(BOB, &json!({"confirm_payment": {"debtor": CAROL, "asset": "EUR", "amount": 1}})).unwrap();
    let st: StatementResponse = host.query(&json!({"statement": {"member": CAROL}})).unwrap();
    assert!(st.owes.is_empty());
}

#[test]
fn a_sold_out_offer_closes_itself_and_removes_the_leaver() {
    let (mut host, world) = setup_with(buyout_config(json!({"pool": {"asset": "EUR"}})));
    world.borrow_mut().members.insert(CAROL.into(), (0, 40, true, 0));
    host.handle(CAROL, &json!({"leave": {}})).unwrap();
    // Pool price: floor(10000 / 200) = 50 per unit. Alice 100 and Bob 60 split 40: 25 and 15.
    let offer: Offer = host.query(&json!({"offer": {"seller": CAROL}})).unwrap();
    assert_eq!(offer.per_unit, Some(50));
    host.handle(ALICE, &json!({"accept_offer": {"seller": CAROL, "economic_units": 25}})).unwrap();
    world.borrow_mut().members.get_mut(CAROL).unwrap().1 = 15;
    let r = host.handle(BOB, &json!({"accept_offer": {"seller": CAROL, "economic_units": 15}})).unwrap();
    let m = messages(&r.messages);
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].1, json!({"remove_member": {"member": CAROL, "economic_units": 0}}));
    assert!(r.events.iter().any(|e| e.kind == "member_left"));
    assert_eq!(status(&mut host, CAROL).departure.unwrap().kept_units, 0);
}

#[test]
fn voted_prices_and_voluntary_offers() {
    let (mut host, _) = setup_with(buyout_config(json!({"vote": {"asset": "USD"}})));
    let err = fails(&mut host, ALICE, None, json!({"offer_units": {"economic_units": 101}}));
    assert_eq!(err, "invalid request: economic_units must be 1 to 100 (what pm1alice holds), got 101");
    let err = fails(&mut host, BOB, None, json!({"offer_units": {"economic_units": 60}}));
    assert!(err.contains("would hold no units after selling all; use leave"), "{err}");
    host.handle(ALICE, &json!({"offer_units": {"economic_units": 50}})).unwrap();
    let err = fails(&mut host, BOB, None, json!({"accept_offer": {"seller": ALICE, "economic_units": 1}}));
    assert_eq!(err, "pm1alice's offer has no price yet; governance sets it with set_price");
    let err = fails(&mut host, BOB, None, json!({"set_price": {"seller": ALICE, "per_unit": 7}}));
    assert!(err.starts_with("not allowed:"), "{err}");
    host.handle_from_module(GOV, BOB, &json!({"set_price": {"seller": ALICE, "per_unit": 7}})).unwrap();
    host.handle(BOB, &json!({"accept_offer": {"seller": ALICE, "economic_units": 30}})).unwrap();
    let err = fails(&mut host, BOB, Some(GOV), json!({"set_price": {"seller": ALICE, "per_unit": 8}}));
    assert_eq!(err, "pm1alice's offer already has sales; its price is fixed");
    // The seller withdraws a voluntary offer; it stays a member.
    let r = host.handle(ALICE, &json!({"close_offer": {"seller": ALICE}})).unwrap();
    assert!(r.messages.is_empty());
    assert!(status(&mut host, ALICE).departure.is_none());
    let st: StatementResponse = host.query(&json!({"statement": {"member": BOB}})).unwrap();
    assert_eq!((st.owes[0].asset.as_str(), st.owes[0].amount), ("USD", 210));
}

#[test]
fn offers_need_buyout_terms() {
    let (mut host, _) = setup();
    let err = fails(&mut host, ALICE, None, json!({"offer_units": {"economic_units": 5}}));
    assert_eq!(err, "this partnership has no buyout terms (config `buyout`)");
    let err = fails(&mut host, ALICE, None, json!({"accept_offer": {"seller": BOB, "economic_units": 5}}));
    assert_eq!(err, "pm1bob has no open offer");
}

#[test]
fn dissolution_distributes_then_dissolves() {
    let (mut host, _) = setup();
    let err = fails(&mut host, ALICE, None, json!({"dissolve": {"reason": "done"}}));
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" or the term module \"term\" may dissolve the partnership"
    );
    let err = fails(&mut host, ALICE, Some(GOV), json!({"dissolve": {"reason": ""}}));
    assert_eq!(err, "invalid request: a dissolution needs a reason of 1 to 256 bytes");
    let r = host.handle_from_module("term", ALICE, &json!({"dissolve": {"reason": "term ended"}})).unwrap();
    assert_eq!(
        messages(&r.messages),
        vec![
            ("treasury".into(), json!({"distribute_all": {}})),
            ("system".into(), json!({"dissolve": "term ended"}))
        ]
    );
    let d: Value = host.query(&json!({"dissolution": {}})).unwrap();
    assert_eq!((d["reason"].as_str(), d["by"].as_str()), (Some("term ended"), Some("module:term")));
    let err = fails(&mut host, BOB, None, json!({"ragequit": {}}));
    assert_eq!(err, "not allowed: the partnership was dissolved (term ended)");
}

#[test]
fn bad_configs_are_refused() {
    let mut host = MockHost::new(polypact_dispatch);
    let mut c = base_config();
    c["bad_leaver"] = json!({"forfeit_percent": 101});
    assert_eq!(
        host.init(ALICE, &c).unwrap_err(),
        "invalid exit config: bad_leaver.forfeit_percent must be 0 to 100, got 101"
    );
    let mut c = base_config();
    c["treasury"] = json!(" ");
    assert_eq!(
        host.init(ALICE, &c).unwrap_err(),
        "invalid exit config: treasury must name a module instance"
    );
    let mut c = base_config();
    c["notice_ms"] = json!(-1);
    assert!(host.init(ALICE, &c).unwrap_err().starts_with("invalid init config: "));
    assert!(host.state().is_empty());
}

#[test]
fn a_member_admitted_again_after_leaving_may_leave_again() {
    let (mut host, world) = setup();
    host.handle(BOB, &json!({"leave": {}})).unwrap();
    let err = fails(&mut host, BOB, None, json!({"give_notice": {}}));
    assert!(err.starts_with("pm1bob has already left (Leave at height 2)"), "{err}");
    // Membership admits Bob again at height 5.
    world.borrow_mut().members.insert(BOB.into(), (0, 60, true, 5));
    host.set_height(6);
    host.handle(BOB, &json!({"ragequit": {}})).unwrap();
    assert_eq!(status(&mut host, BOB).departure.unwrap().how, exit::How::Ragequit);
}

#[test]
fn a_fully_forfeiting_bad_leaver_is_paid_nothing() {
    let (mut host, _) = setup_with(json!({"bad_leaver": {"forfeit_percent": 100}}));
    host.handle_from_module(
        GOV,
        ALICE,
        &json!({"declare_bad_leaver": {"member": CAROL, "reason": "breach"}}),
    )
    .unwrap();
    let r = host.handle(CAROL, &json!({"ragequit": {}})).unwrap();
    let modules: Vec<String> = messages(&r.messages).into_iter().map(|(m, _)| m).collect();
    assert_eq!(modules, ["vesting", "membership"], "no payout of 0 units");
    // Governance can also take a declaration back (here: too late, it left).
    let err = fails(&mut host, ALICE, Some(GOV), json!({"clear_bad_leaver": {"member": CAROL}}));
    assert_eq!(err, "invalid request: pm1carol is not declared a bad leaver");
}

#[test]
fn a_leaver_nobody_could_buy_from_keeps_its_units_as_a_claim() {
    let (mut host, world) = setup_with(buyout_config(json!({"fixed": {"asset": "EUR", "per_unit": 1}})));
    for who in [ALICE, CAROL] {
        world.borrow_mut().members.get_mut(who).unwrap().1 = 0;
    }
    let r = host.handle(BOB, &json!({"leave": {}})).unwrap();
    assert_eq!(messages(&r.messages)[1].1, json!({"remove_member": {"member": BOB, "economic_units": 60}}));
    let offers: exit::OffersResponse = host.query(&json!({"offers": {}})).unwrap();
    assert!(offers.offers.is_empty());
}

#[test]
fn pool_prices_read_large_treasury_amounts() {
    let (mut host, _) = setup_with(buyout_config(json!({"pool": {"asset": "EUR"}})));
    // Treasury writes amounts above u64::MAX as decimal strings.
    host.on_query("treasury", |_: Value| {
        Ok(json!({"pool": {"EUR": "36893488147419103200"}, "claims_total": {}, "totals": {}}))
    });
    host.handle(ALICE, &json!({"offer_units": {"economic_units": 10}})).unwrap();
    let offers: exit::OffersResponse = host.query(&json!({"offers": {}})).unwrap();
    assert_eq!(offers.offers[0].per_unit, Some(36_893_488_147_419_103_200 / 200));
    host.on_query("treasury", |_: Value| Ok(json!({"pool": {"EUR": 1.5}, "claims_total": {}, "totals": {}})));
    let err = fails(&mut host, BOB, None, json!({"offer_units": {"economic_units": 10}}));
    // Exit reads the answer with the treasury's own Amount, which refuses fractions.
    assert!(
        err.contains("invalid answer of module \"treasury\": amounts are whole numbers of minor units"),
        "{err}"
    );
}

#[test]
fn only_the_treasury_removes_a_defaulter_and_it_leaves_as_a_bad_leaver() {
    let (mut host, world) = setup_with(json!({"bad_leaver": {"forfeit_percent": 50, "keep_vested": false}}));
    world.borrow_mut().vesting.insert(BOB.into(), (40, false));
    let msg =
        json!({"default_exit": {"member": BOB, "reason": "missed capital call 0 (100 of 100 EUR unpaid)"}});
    // Not the member's partners, not governance: only the treasury's default terms.
    let err = fails(&mut host, ALICE, None, msg.clone());
    assert_eq!(
        err,
        "not allowed: only the treasury module \"treasury\" removes a member that defaulted on a capital call"
    );
    let err = fails(&mut host, ALICE, Some(GOV), msg.clone());
    assert!(err.starts_with("not allowed: only the treasury module"), "{err}");
    let err =
        fails(&mut host, ALICE, Some("treasury"), json!({"default_exit": {"member": BOB, "reason": " "}}));
    assert_eq!(err, "invalid request: a reason of 1 to 256 bytes is needed");

    let r = host.handle_from_module("treasury", ALICE, &msg).unwrap();
    let m = messages(&r.messages);
    // A bad leaver whatever else holds: vesting forfeited, half its 60 units kept.
    assert_eq!(m[0].1, json!({"cancel_on_exit": {"member": BOB, "keep_vested": false}}));
    assert_eq!(m[1].1, json!({"payout_fair_share": {"member": BOB, "units": 30, "total_units": 200}}));
    assert_eq!(m[2].1, json!({"remove_member": {"member": BOB, "economic_units": 0}}));
    let d = status(&mut host, BOB).departure.unwrap();
    assert_eq!(
        (d.how, d.bad_leaver.as_deref()),
        (exit::How::Kick, Some("defaulted: missed capital call 0 (100 of 100 EUR unpaid)"))
    );
}

#[test]
fn an_open_offer_does_not_shelter_a_defaulter() {
    let (mut host, _) = setup_with(buyout_config(json!({"vote": {"asset": "USD"}})));
    host.handle(ALICE, &json!({"offer_units": {"economic_units": 50}})).unwrap();
    let msg =
        json!({"default_exit": {"member": ALICE, "reason": "missed capital call 3 (5 of 5 EUR unpaid)"}});
    let r = host.handle_from_module("treasury", BOB, &msg).unwrap();
    assert!(r.events.iter().any(|e| e.kind == "offer_closed" && e.get("withdrawn") == Some("default")));
    let err = fails(&mut host, BOB, None, json!({"accept_offer": {"seller": ALICE, "economic_units": 1}}));
    assert!(err.contains("has no open offer"), "{err}");
    let d = status(&mut host, ALICE).departure.unwrap();
    assert_eq!(d.how, exit::How::Kick);
}
