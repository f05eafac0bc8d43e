//! Capital calls and milestone-gated vesting as real WASM in a ledger, with
//! the real membership, voting, treasury, exit, term and vesting modules:
//! a cost above the pool opens calls pro rata by economic units that each
//! member pays itself; a member that misses its call falls under the
//! charter's default terms (dilution, or removal as a bad leaver) only once
//! the period is over, and what it missed is called from those who paid;
//! under `cap_and_vote` the rest waits on a vote; a vesting grant gated on a
//! term milestone releases only after governance approved the milestone.
//! Every bad call fails clearly and changes nothing but its failure record.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeMap;

use polypact::op::{MemberKey, SystemPermission};
use polypact::testing::{T0, WasmHarness, module_wasm};
use serde_json::{Value, json};

/// Voting: majority of cast power with a 50% quorum, 1 s minimum period, 1 s grace.
const PERIOD_MS: u64 = 1_000;
const GRACE_MS: u64 = 1_000;
/// How long a capital call stays open.
const CALL_MS: u64 = 10_000;

fn id(seed: u8) -> String {
    MemberKey::from_seed(seed).member_id().to_string()
}

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Members 0 (studio, 50 units), 1 (telco, 30) and 2 (bank, 20); the studio
/// is the vesting admin; the telco owns the term's milestone `pilot`.
struct Jv {
    h: WasmHarness,
    studio: String,
    telco: String,
    bank: String,
}

fn start(overrun: Value) -> Jv {
    let (studio, telco, bank) = (id(1), id(2), id(3));
    let membership = json!({
        "members": [
            {"member": studio, "voting_units": 50, "economic_units": 50, "roles": ["admin"]},
            {"member": telco, "voting_units": 30, "economic_units": 30},
            {"member": bank, "voting_units": 20, "economic_units": 20}
        ],
        "governance": "voting",
        "managers": ["exit", "treasury", "vesting"]
    });
    let voting = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": PERIOD_MS, "max_period_ms": 100_000, "grace_period_ms": GRACE_MS,
        "allow_vote_change": true, "proposers": "members", "module_proposers": ["term"]
    });
    let treasury = json!({
        "membership": "membership", "governance": "voting", "exit_module": "exit",
        "split_managers": ["term"], "assets": ["EUR"], "confirmation": "other_member",
        "split": {"pro_rata": {}}, "overrun": overrun
    });
    let exit = json!({
        "membership": "membership", "governance": "voting", "treasury": "treasury", "term_module": "term",
        "vesting": "vesting", "bad_leaver": {"forfeit_percent": 50}
    });
    let term = json!({
        "membership": "membership", "governance": "voting", "exit": "exit", "treasury": "treasury",
        "start_ms": T0, "end_ms": T0 + 10_000_000,
        "milestones": [{"id": "pilot", "title": "Pilot live", "due_ms": T0 + 20_000, "owners": [telco]}]
    });
    let vesting = json!({
        "membership": "membership", "governance": "voting", "exit_module": "exit",
        "admin_role": "admin", "term_module": "term"
    });
    let code: Vec<(&str, Vec<u8>, String)> = vec![
        ("membership", wasm("membership"), membership.to_string()),
        ("voting", wasm("voting"), voting.to_string()),
        ("treasury", wasm("treasury"), treasury.to_string()),
        ("exit", wasm("exit"), exit.to_string()),
        ("term", wasm("term"), term.to_string()),
        ("vesting", wasm("vesting"), vesting.to_string()),
    ];
    let membership_grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let exit_grants = [SystemPermission::RemoveParticipant, SystemPermission::Dissolve];
    let modules: Vec<(&str, &[u8], &str, &[SystemPermission])> = code
        .iter()
        .map(|(name, w, c)| {
            let grants: &[SystemPermission] = match *name {
                "membership" => &membership_grants,
                "exit" => &exit_grants,
                _ => &[],
            };
            (*name, w.as_slice(), c.as_str(), grants)
        })
        .collect();
    let h = WasmHarness::with_participants(3, 3, &modules).expect("genesis");
    Jv { h, studio, telco, bank }
}

fn dilution() -> Value {
    json!({"capital_call": {"period_ms": CALL_MS, "on_default": {"dilution": {"penalty_bps": 5000}}}})
}

impl Jv {
    /// Member `i` calls; the call must succeed. Returns its data.
    fn ok(&mut self, i: usize, module: &str, msg: Value) -> Option<Value> {
        let op = self.h.call(i, module, &msg);
        if let Some(e) = self.h.outcome_error(&op) {
            panic!("member {i}'s call {msg} to {module} failed: {e}");
        }
        self.h.outcome_data(&op)
    }

    /// Member `i` calls; the call must fail and change nothing but its
    /// failure record. Returns the error without the ledger's prefix.
    fn err(&mut self, i: usize, module: &str, msg: Value) -> String {
        let (before, failures) = self.state();
        let op = self.h.call(i, module, &msg);
        let err = self
            .h
            .outcome_error(&op)
            .unwrap_or_else(|| panic!("member {i}'s call {msg} to {module} succeeded"));
        assert_eq!(self.state(), (before, failures + 1), "a failed call changed more than its record");
        let prefix = format!("module `{module}`: ");
        err.strip_prefix(&prefix).map(str::to_owned).unwrap_or(err)
    }

    fn query(&self, module: &str, msg: Value) -> Value {
        self.h.query(module, &msg).unwrap_or_else(|e| panic!("query {msg} to {module}: {e}"))
    }

    /// The state without failure records, and the number of failure records.
    fn state(&self) -> (BTreeMap<Vec<u8>, Vec<u8>>, usize) {
        let mut kept = BTreeMap::new();
        let mut failures = 0;
        for (k, v) in self.h.ledger.optimistic_state().iter() {
            if k.starts_with(b"s/f/") {
                failures += 1;
            } else {
                kept.insert(k.clone(), v.clone());
            }
        }
        (kept, failures)
    }

    /// Proposes `messages`; every member votes yes; waits out period and grace; executes.
    fn pass(&mut self, title: &str, messages: Value) {
        let data = self.ok(
            0,
            "voting",
            json!({"propose": {"title": title, "messages": messages, "period_ms": PERIOD_MS}}),
        );
        let proposal = data.unwrap()["id"].as_u64().unwrap();
        for voter in 0..3 {
            self.ok(voter, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}}));
        }
        self.h.advance_ms(PERIOD_MS + GRACE_MS);
        self.ok(1, "voting", json!({"execute": {"proposal": proposal}}));
    }

    /// Member `payer` records an entry and member `confirmer` confirms it; returns the confirmation's data.
    fn record_and_confirm(&mut self, payer: usize, confirmer: usize, msg: Value) -> Value {
        let id = self.ok(payer, "treasury", msg).unwrap()["id"].as_u64().unwrap();
        self.ok(confirmer, "treasury", json!({"confirm_entry": {"id": id}})).unwrap()
    }

    fn call(&self, call: u64) -> Value {
        self.query("treasury", json!({"capital_call": {"id": call}}))
    }

    fn units(&self, member: &str) -> u64 {
        self.query("membership", json!({"member": {"member": member}}))["economic_units"].as_u64().unwrap()
    }

    fn totals(&self) -> Value {
        self.query("treasury", json!({"balances": {}}))["totals"]["EUR"].clone()
    }
}

#[test]
fn an_overrun_opens_capital_calls_pro_rata_that_each_member_pays_itself() {
    let mut jv = start(dilution());
    let (studio, telco, bank) = (jv.studio.clone(), jv.telco.clone(), jv.bank.clone());
    jv.record_and_confirm(
        0,
        1,
        json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": "INV-1"}}),
    );

    // A cost of 2001 against a pool of 1000: once confirmed, the pool pays its
    // 1000 and the other 1001 is called 50:30:20, the odd unit to the largest
    // remainder (the studio's).
    let data = jv.record_and_confirm(
        0,
        1,
        json!({"record_cost": {"asset": "EUR", "amount": 2001, "reference": "INV-88", "counterparty": "render farm"}}),
    );
    assert_eq!(data, json!({"id": 1, "status": "called", "call": 0}));
    let call = jv.call(0);
    assert_eq!(call["status"], json!("open"));
    assert_eq!((call["carried"].clone(), call["amount"].clone()), (json!(1000), json!(1001)));
    let called: BTreeMap<String, u64> =
        [(&studio, 501), (&telco, 300), (&bank, 200)].into_iter().map(|(m, v)| (m.clone(), v)).collect();
    for (member, amount) in &called {
        assert_eq!(call["shares"][member], json!({"called": amount, "paid": 0, "pending": 0}), "{member}");
    }
    let due = call["due_ms"].as_u64().unwrap();
    assert_eq!(due, call["opened_ms"].as_u64().unwrap() + CALL_MS);
    assert_eq!(jv.query("treasury", json!({"entry": {"id": 1}}))["status"], json!("called"));
    let totals = jv.totals();
    assert_eq!((totals["pool"].clone(), totals["costs"].clone()), (json!(0), json!(1000)));

    // A partner cannot pay another's call, nor pay more than its share, nor nothing.
    let err = jv.err(1, "treasury", json!({"pay_call": {"call": 0, "reference": "W-1", "member": studio}}));
    assert_eq!(
        err,
        format!(
            "not allowed: {telco} may not pay {studio}'s share of capital call 0; each member pays its own share, in its own op"
        )
    );
    let err = jv.err(1, "treasury", json!({"pay_call": {"call": 0, "amount": 301, "reference": "W-1"}}));
    assert_eq!(
        err,
        format!(
            "{telco} has 300 EUR left to pay on capital call 0 (called 300, paid 0, awaiting confirmation 0); a payment of 301 is more"
        )
    );
    let err = jv.err(1, "treasury", json!({"pay_call": {"call": 0, "amount": 0, "reference": "W-1"}}));
    assert_eq!(err, "the amount must be above 0");
    let err = jv.err(1, "treasury", json!({"pay_call": {"call": 0, "amount": -5, "reference": "W-1"}}));
    assert!(err.starts_with("invalid handle message: amounts must not be negative, got -5"), "{err}");
    let err = jv.err(1, "treasury", json!({"pay_call": {"call": 9, "reference": "W-1"}}));
    assert_eq!(err, "there is no capital call 9");

    // The studio pays its whole share; it cannot mark its own payment as
    // arrived: until another member confirms, nothing counts.
    let paid = jv.ok(0, "treasury", json!({"pay_call": {"call": 0, "reference": "WIRE-S"}})).unwrap();
    assert_eq!(paid, json!({"id": 2, "status": "pending"}));
    let err = jv.err(0, "treasury", json!({"confirm_entry": {"id": 2}}));
    assert_eq!(
        err,
        format!("not allowed: {studio} recorded entry 2 and may not confirm it; another member must")
    );
    assert_eq!(jv.call(0)["shares"][&studio], json!({"called": 501, "paid": 0, "pending": 501}));
    // Nor pay again what it already has on the way.
    let err = jv.err(0, "treasury", json!({"pay_call": {"call": 0, "reference": "WIRE-S2"}}));
    assert_eq!(
        err,
        format!(
            "{studio} has nothing left to pay on capital call 0 (called 501, paid 0, awaiting confirmation 501)"
        )
    );
    jv.ok(1, "treasury", json!({"confirm_entry": {"id": 2}}));
    assert_eq!(jv.call(0)["shares"][&studio], json!({"called": 501, "paid": 501, "pending": 0}));

    // The telco in two instalments, the bank at once; each confirmed by another member.
    jv.record_and_confirm(1, 2, json!({"pay_call": {"call": 0, "amount": 100, "reference": "WIRE-T1"}}));
    jv.record_and_confirm(1, 0, json!({"pay_call": {"call": 0, "reference": "WIRE-T2"}}));
    assert_eq!(jv.call(0)["status"], json!("open"));
    assert_eq!(jv.query("treasury", json!({"entry": {"id": 1}}))["status"], json!("called"));
    jv.record_and_confirm(2, 0, json!({"pay_call": {"call": 0, "reference": "WIRE-B"}}));

    // Every share paid: the call is funded and the cost counts, in full.
    assert_eq!(jv.call(0)["status"], json!("funded"));
    assert_eq!(jv.query("treasury", json!({"entry": {"id": 1}}))["status"], json!("counted"));
    let totals = jv.totals();
    assert_eq!(
        (totals["pool"].clone(), totals["costs"].clone(), totals["capital_cash"].clone()),
        (json!(0), json!(2001), json!(1001))
    );
    for (member, amount) in &called {
        let statement = jv.query("treasury", json!({"statement": {"member": member}}));
        assert_eq!(statement["EUR"]["capital"], json!(amount), "{member}");
    }
    // A funded call takes no more payments and has no default.
    let err = jv.err(2, "treasury", json!({"apply_default": {"call": 0}}));
    assert_eq!(err, "capital call 0 is funded, not open");
    let err = jv.err(2, "treasury", json!({"pay_call": {"call": 0, "reference": "WIRE-B2"}}));
    assert_eq!(err, "capital call 0 is funded, not open");
}

#[test]
fn a_missed_call_dilutes_the_defaulter_only_after_its_period_and_the_rest_is_called_again() {
    let mut jv = start(dilution());
    let (studio, telco, bank) = (jv.studio.clone(), jv.telco.clone(), jv.bank.clone());
    // An empty pool: the whole cost of 1000 is called, 500/300/200.
    jv.record_and_confirm(
        0,
        1,
        json!({"record_cost": {"asset": "EUR", "amount": 1000, "reference": "INV-9"}}),
    );
    let due = jv.call(0)["due_ms"].as_u64().unwrap();
    jv.record_and_confirm(0, 1, json!({"pay_call": {"call": 0, "reference": "WIRE-S"}}));
    jv.record_and_confirm(1, 0, json!({"pay_call": {"call": 0, "amount": 100, "reference": "WIRE-T1"}}));

    // Within the period no one may apply the default terms.
    let err = jv.err(0, "treasury", json!({"apply_default": {"call": 0}}));
    assert!(
        err.starts_with("capital call 0 is open until ")
            && err.ends_with("; its default terms apply only after its period ends"),
        "{err}"
    );
    // A payment recorded in time holds the default until a confirmer decides on it.
    jv.ok(1, "treasury", json!({"pay_call": {"call": 0, "amount": 50, "reference": "WIRE-T2"}}));
    jv.h.now = due; // the next op runs just after the period
    let err = jv.err(0, "treasury", json!({"apply_default": {"call": 0}}));
    assert_eq!(
        err,
        format!(
            "{telco}'s payment of 50 EUR to capital call 0 awaits confirmation; confirm or reject it first"
        )
    );
    jv.ok(2, "treasury", json!({"reject_entry": {"id": 3, "reason": "never arrived"}}));
    // After the period no payment is taken.
    let err = jv.err(2, "treasury", json!({"pay_call": {"call": 0, "reference": "WIRE-B"}}));
    assert!(err.starts_with("the period of capital call 0 ended at "), "{err}");

    // The bank applies the terms. Dilution at 5000 bps: the telco missed 200
    // of 300 and loses floor(30 × 5000 × 200 / (10000 × 300)) = 10 units; the
    // bank missed all 200 and loses floor(20 × 5000 / 10000) = 10; both go to
    // the studio, the only member that paid in full.
    let data = jv.ok(2, "treasury", json!({"apply_default": {"call": 0}})).unwrap();
    assert_eq!(data["status"], json!("defaulted"));
    assert_eq!(
        data["defaulters"],
        json!([bank.clone(), telco.clone()].into_iter().collect::<std::collections::BTreeSet<_>>())
    );
    assert_eq!((jv.units(&studio), jv.units(&telco), jv.units(&bank)), (70, 20, 10));
    // What they missed (200 + 200) is called from the studio, for a new period.
    let next = jv.call(1);
    assert_eq!(
        (next["status"].clone(), next["follows"].clone(), next["carried"].clone(), next["amount"].clone()),
        (json!("open"), json!(0), json!(600), json!(400))
    );
    assert_eq!(next["shares"], json!({studio.clone(): {"called": 400, "paid": 0, "pending": 0}}));
    assert_eq!(jv.call(0)["followed_by"], json!(1));
    let err = jv.err(2, "treasury", json!({"apply_default": {"call": 0}}));
    assert_eq!(err, "capital call 0 is defaulted, not open");
    // The bank has no share in the new round.
    let err = jv.err(2, "treasury", json!({"pay_call": {"call": 1, "reference": "WIRE-B"}}));
    assert_eq!(
        err,
        format!("not allowed: {bank} has no share in capital call 1; only the members called pay it")
    );

    jv.record_and_confirm(0, 2, json!({"pay_call": {"call": 1, "reference": "WIRE-S2"}}));
    assert_eq!(jv.call(1)["status"], json!("funded"));
    let cost = jv.query("treasury", json!({"entry": {"id": 0}}));
    assert_eq!((cost["status"].clone(), cost["call"].clone()), (json!("counted"), json!(1)));
    let totals = jv.totals();
    assert_eq!((totals["costs"].clone(), totals["capital_cash"].clone()), (json!(1000), json!(1000)));
    let statement = jv.query("treasury", json!({"statement": {"member": studio}}));
    assert_eq!(statement["EUR"]["capital"], json!(900));
}

#[test]
fn under_bad_leaver_terms_a_defaulter_is_removed_by_the_exit_module() {
    let mut jv = start(json!({"capital_call": {"period_ms": CALL_MS, "on_default": {"bad_leaver": {}}}}));
    let (studio, telco, bank) = (jv.studio.clone(), jv.telco.clone(), jv.bank.clone());
    jv.record_and_confirm(
        0,
        1,
        json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": "INV-1"}}),
    );
    jv.record_and_confirm(
        0,
        1,
        json!({"record_cost": {"asset": "EUR", "amount": 1500, "reference": "INV-2"}}),
    );
    // 500 called: 250/150/100. The studio and the telco pay; the bank does not.
    jv.record_and_confirm(0, 1, json!({"pay_call": {"call": 0, "reference": "W-S"}}));
    jv.record_and_confirm(1, 0, json!({"pay_call": {"call": 0, "reference": "W-T"}}));
    let due = jv.call(0)["due_ms"].as_u64().unwrap();
    jv.h.now = due - 1; // the next op runs at `due`, the last moment of the period: still too early
    let err = jv.err(1, "treasury", json!({"apply_default": {"call": 0}}));
    assert!(err.starts_with("capital call 0 is open until "), "{err}");

    jv.ok(1, "treasury", json!({"apply_default": {"call": 0}}));
    // The exit module removed the bank as a bad leaver: it forfeits half its units.
    let status = jv.query("exit", json!({"status": {"member": bank}}));
    let departure = &status["departure"];
    assert_eq!(departure["how"], json!("kick"), "{status}");
    assert_eq!(departure["bad_leaver"], json!("defaulted: missed capital call 0 (100 of 100 EUR unpaid)"));
    assert_eq!(
        (departure["kept_units"].clone(), departure["forfeited_units"].clone()),
        (json!(10), json!(10))
    );
    let record = jv.query("membership", json!({"member": {"member": bank}}));
    assert_eq!(record["active"], json!(false));
    // Its 100 is called from the studio and the telco, 50:30.
    let next = jv.call(1);
    let shares = next["shares"].as_object().unwrap();
    assert_eq!(shares.keys().cloned().collect::<Vec<_>>(), {
        let mut v = vec![studio.clone(), telco.clone()];
        v.sort();
        v
    });
    let sum: u64 = shares.values().map(|s| s["called"].as_u64().unwrap()).sum();
    assert_eq!(sum, 100);
    assert!(shares[&studio]["called"].as_u64().unwrap() >= 62, "{next}");
}

#[test]
fn under_cap_and_vote_the_rest_of_a_cost_waits_on_governance() {
    let mut jv = start(
        json!({"cap_and_vote": {"period_ms": CALL_MS, "on_default": {"dilution": {"penalty_bps": 10000}}}}),
    );
    jv.record_and_confirm(
        0,
        1,
        json!({"record_revenue": {"asset": "EUR", "amount": 800, "reference": "INV-1"}}),
    );
    jv.record_and_confirm(
        0,
        1,
        json!({"record_cost": {"asset": "EUR", "amount": 1000, "reference": "INV-2"}}),
    );
    // The pool pays what it holds; the other 200 waits on a vote.
    let call = jv.call(0);
    assert_eq!(
        (call["status"].clone(), call["carried"].clone(), call["amount"].clone(), call["shares"].clone()),
        (json!("awaiting_vote"), json!(800), json!(200), json!({}))
    );
    assert_eq!(jv.totals()["pool"], json!(0));
    // No member opens the calls itself, and nothing can be paid before.
    let err = jv.err(0, "treasury", json!({"approve_overrun": {"call": 0}}));
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may approve an overrun; propose it there"
    );
    let err = jv.err(0, "treasury", json!({"pay_call": {"call": 0, "reference": "W"}}));
    assert_eq!(err, "capital call 0 is awaiting_vote, not open");

    jv.pass(
        "Fund the overrun",
        json!([{"call": {"module": "treasury", "msg": {"approve_overrun": {"call": 0}}}}]),
    );
    let call = jv.call(0);
    assert_eq!(call["status"], json!("open"));
    let sum: u64 = call["shares"].as_object().unwrap().values().map(|s| s["called"].as_u64().unwrap()).sum();
    assert_eq!(sum, 200);
    assert_eq!(
        call["due_ms"].as_u64().unwrap(),
        call["opened_ms"].as_u64().unwrap() + CALL_MS,
        "from the vote"
    );
    // Paid (100/60/40) and confirmed: the whole cost counts.
    jv.record_and_confirm(0, 1, json!({"pay_call": {"call": 0, "reference": "W-S"}}));
    jv.record_and_confirm(1, 2, json!({"pay_call": {"call": 0, "reference": "W-T"}}));
    jv.record_and_confirm(2, 0, json!({"pay_call": {"call": 0, "reference": "W-B"}}));
    assert_eq!(jv.call(0)["status"], json!("funded"));
    assert_eq!(jv.totals()["costs"], json!(1000));

    // A second overrun the partners decline: the cost is capped at the pool.
    jv.record_and_confirm(
        1,
        0,
        json!({"record_revenue": {"asset": "EUR", "amount": 300, "reference": "INV-3"}}),
    );
    jv.record_and_confirm(
        1,
        0,
        json!({"record_cost": {"asset": "EUR", "amount": 500, "reference": "INV-4"}}),
    );
    jv.pass("Decline", json!([{"call": {"module": "treasury", "msg": {"decline_overrun": {"call": 1}}}}]));
    assert_eq!(jv.call(1)["status"], json!("declined"));
    let cost = jv.query("treasury", json!({"entry": {"id": 6}}));
    assert_eq!((cost["status"].clone(), cost["amount"].clone()), (json!("counted"), json!(300)));
    assert_eq!(
        cost["reason"],
        json!("capped at the pool: 300 of 500 EUR paid; governance declined the other 200")
    );
}

#[test]
fn a_milestone_gated_grant_releases_only_after_the_vote_approves_the_milestone() {
    let mut jv = start(dilution());
    let telco = jv.telco.clone();
    let grant = |milestone: &str| {
        json!({"create_grant": {"member": telco, "units": 40, "start_ms": T0, "duration_ms": 1_000,
                                "steps": 4, "milestone": milestone}})
    };
    // A milestone the term does not have is refused at once.
    let err = jv.err(0, "vesting", grant("pilott"));
    assert!(err.contains("there is no milestone \"pilott\""), "{err}");
    jv.ok(0, "vesting", grant("pilot"));
    jv.h.now = T0 + 5_000; // the schedule is over: all 40 would have vested

    // Not vested, not releasable: the milestone is not approved.
    let vested = jv.query("vesting", json!({"vested": {"member": telco}}));
    assert_eq!((vested["vested"].clone(), vested["unvested"].clone()), (json!(0), json!(40)));
    let err = jv.err(1, "vesting", json!({"claim": {}}));
    assert_eq!(err, format!("{telco} has nothing vested to release now"));
    // The owner marking it done is not enough.
    jv.ok(1, "term", json!({"complete_milestone": {"id": "pilot"}}));
    let err = jv.err(1, "vesting", json!({"claim": {}}));
    assert_eq!(err, format!("{telco} has nothing vested to release now"));
    // Nor may a member approve it by its own op.
    let err = jv.err(1, "term", json!({"approve_milestone": {"id": "pilot"}}));
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may approve milestones; propose it there"
    );

    jv.pass(
        "Pilot accepted",
        json!([{"call": {"module": "term", "msg": {"approve_milestone": {"id": "pilot"}}}}]),
    );
    let m = jv.query("term", json!({"milestone": {"id": "pilot"}}));
    assert_eq!(m["approved"]["by"], json!("module:voting"));
    let data = jv.ok(1, "vesting", json!({"claim": {}})).unwrap();
    assert_eq!(data["economic"], json!(40));
    assert_eq!(jv.units(&telco), 70);
    let err = jv.err(1, "term", json!({"approve_milestone": {"id": "nope"}}));
    assert!(err.starts_with("not allowed"), "{err}");
}
