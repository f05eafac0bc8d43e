//! The term module as real WASM in a ledger, with the real membership,
//! voting, treasury and exit modules around it: a term that ends and
//! dissolves the partnership, a renewal vote that prevents it, a KPI review
//! that changes the treasury's split (and the next distribution follows it),
//! and bad calls that fail clearly and change nothing but their failure
//! record.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeMap;

use polypact::op::{MemberKey, Payload, SystemPermission};
use polypact::testing::{T0, WasmHarness, module_wasm};
use serde_json::{Value, json};

/// Voting: majority of cast power with a 50% quorum, 1 s minimum period, 1 s grace.
const PERIOD_MS: u64 = 1_000;
const GRACE_MS: u64 = 1_000;
/// The term: from genesis for 50 s, one review 10 s in.
const END: u64 = T0 + 50_000;
const REVIEW_AT: u64 = T0 + 10_000;

fn id(seed: u8) -> String {
    MemberKey::from_seed(seed).member_id().to_string()
}

fn wasm(name: &str) -> Vec<u8> {
    module_wasm(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Members 0 (studio) and 1 (telco) hold 50 voting and economic units each;
/// participant 2 (auditor) is a participant but not a member.
struct Jv {
    h: WasmHarness,
    studio: String,
    telco: String,
}

fn term_config(extra: Value) -> Value {
    let (studio, telco) = (id(1), id(2));
    let mut config = json!({
        "membership": "membership", "governance": "voting", "exit": "exit", "treasury": "treasury",
        "start_ms": T0, "end_ms": END,
        "milestones": [{"id": "pilot", "title": "Pilot live", "due_ms": T0 + 20_000, "owners": [telco]}],
        "kpis": {"episodes": {"description": "episodes delivered"}, "subscribers": {"unit": "subscribers"}},
        "reviews": {"at": [{"at_ms": REVIEW_AT, "period": "2026-Q1"}]},
        "review_period_ms": PERIOD_MS,
        "split_rule": {
            "base_bps": {studio.clone(): 5000, telco.clone(): 5000},
            "targets": [
                {"metric": "episodes", "member": studio, "target": 10},
                {"metric": "subscribers", "member": telco, "target": 1000}
            ]
        }
    });
    if let (Some(c), Value::Object(e)) = (config.as_object_mut(), extra) {
        c.extend(e);
    }
    config
}

fn start(term: Value) -> Jv {
    let (studio, telco) = (id(1), id(2));
    let membership = json!({
        "members": [
            {"member": studio, "voting_units": 50, "economic_units": 50},
            {"member": telco, "voting_units": 50, "economic_units": 50}
        ],
        "governance": "voting",
        "managers": ["exit"]
    });
    let voting = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": PERIOD_MS, "max_period_ms": 100_000, "grace_period_ms": GRACE_MS,
        "allow_vote_change": true, "proposers": "members", "module_proposers": ["term"]
    });
    let treasury = json!({
        "membership": "membership", "governance": "voting", "exit_module": "exit",
        "split_managers": ["term"], "assets": ["EUR"],
        "split": {"fixed": {"shares": {studio.clone(): 5000, telco.clone(): 5000}}}
    });
    let exit = json!({
        "membership": "membership", "governance": "voting", "treasury": "treasury", "term_module": "term"
    });
    let (m, v, t, e, te) = (wasm("membership"), wasm("voting"), wasm("treasury"), wasm("exit"), wasm("term"));
    let (mc, vc, tc, ec, tec) = (
        membership.to_string(),
        voting.to_string(),
        treasury.to_string(),
        exit.to_string(),
        term.to_string(),
    );
    let membership_grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let exit_grants = [SystemPermission::RemoveParticipant, SystemPermission::Dissolve];
    let h = WasmHarness::with_participants(
        3,
        3,
        &[
            ("membership", &m, &mc, &membership_grants),
            ("voting", &v, &vc, &[]),
            ("treasury", &t, &tc, &[]),
            ("exit", &e, &ec, &exit_grants),
            ("term", &te, &tec, &[]),
        ],
    )
    .expect("genesis");
    Jv { h, studio, telco }
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

    /// Member `i` calls; the call must fail. Returns the error, without the
    /// ledger's "module `name`: " prefix when the module itself refused.
    fn err(&mut self, i: usize, module: &str, msg: Value) -> String {
        let op = self.h.call(i, module, &msg);
        let err = self
            .h
            .outcome_error(&op)
            .unwrap_or_else(|| panic!("member {i}'s call {msg} to {module} succeeded"));
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

    /// Proposes `messages`, both members vote yes, waits out period and grace, executes.
    fn pass(&mut self, title: &str, messages: Value) -> u64 {
        let data = self.ok(
            0,
            "voting",
            json!({"propose": {"title": title, "messages": messages, "period_ms": PERIOD_MS}}),
        );
        let proposal = data.unwrap()["id"].as_u64().unwrap();
        self.vote_and_execute(proposal);
        proposal
    }

    fn vote_and_execute(&mut self, proposal: u64) {
        for voter in [0, 1] {
            self.ok(voter, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}}));
        }
        self.h.advance_ms(PERIOD_MS + GRACE_MS);
        self.ok(1, "voting", json!({"execute": {"proposal": proposal}}));
    }

    fn dissolution(&self) -> Value {
        self.query("system", json!({"dissolution": {}}))
    }

    /// Moves the clock to `t` (it never goes back).
    fn at(&mut self, t: u64) {
        assert!(t >= self.h.now, "the clock does not go back");
        self.h.now = t;
    }
}

#[test]
fn a_term_that_ends_dissolves_the_partnership() {
    let mut jv = start(term_config(json!({"reviews": null, "split_rule": null})));
    let (studio, telco) = (jv.studio.clone(), jv.telco.clone());
    jv.ok(0, "treasury", json!({"record_revenue": {"asset": "EUR", "amount": 1001, "reference": "INV-1"}}));
    jv.at(END - 10);
    // Before the end nothing is due: a clear error, and nothing changes but the failure record.
    let (before, failures) = jv.state();
    let err = jv.err(2, "term", json!({"tick": {}}));
    assert!(
        err.starts_with(&format!(
            "nothing is due at {}: no review is left and the term ends at {END}",
            END - 9
        )),
        "{err}"
    );
    assert_eq!(jv.state(), (before, failures + 1));
    assert_eq!(jv.dissolution(), Value::Null);

    jv.at(END);
    // Anyone ticks, even the participant who is not a member.
    let data = jv.ok(2, "term", json!({"tick": {}}));
    assert_eq!(data, Some(json!({"ended": true, "opened_reviews": []})));
    let record = jv.dissolution();
    assert_eq!(record["reason"], json!("term ended"));

    // Every call now fails with "dissolved"; queries still answer.
    for (i, module, msg) in [
        (0, "term", json!({"tick": {}})),
        (1, "voting", json!({"propose": {"title": "Revive", "period_ms": PERIOD_MS}})),
        (0, "treasury", json!({"record_revenue": {"asset": "EUR", "amount": 5, "reference": "INV-2"}})),
        (1, "term", json!({"complete_milestone": {"id": "pilot"}})),
    ] {
        let err = jv.err(i, module, msg);
        assert!(err.starts_with("the partnership is dissolved"), "{err}");
    }
    let status = jv.query("term", json!({"status": {}}));
    assert_eq!(status["phase"], json!("ended"));
    assert_eq!(status["ended"]["reason"], json!("term ended"));
    assert_eq!(status["overdue_milestones"], json!(["pilot"]));
    // The exit distributed the pool before closing: 1001 cents, 50/50, largest remainder.
    let balances = jv.query("treasury", json!({"balances": {}}));
    assert_eq!(
        (balances["pool"]["EUR"].clone(), balances["claims_total"]["EUR"].clone()),
        (json!(0), json!(1001))
    );
    let earned: u64 = [studio, telco]
        .iter()
        .map(|m| jv.query("treasury", json!({"statement": {"member": m}}))["EUR"]["earned"].as_u64().unwrap())
        .sum();
    assert_eq!(earned, 1001);
    let exit = jv.query("exit", json!({"dissolution": {}}));
    assert_eq!(exit["by"], json!("module:term"), "{exit}");
}

#[test]
fn a_renewal_vote_prevents_the_dissolution() {
    let mut jv = start(term_config(json!({"reviews": null, "split_rule": null})));
    let new_end = END + 30_000;
    // Only governance renews: a member's own op is refused and changes nothing.
    let (before, failures) = jv.state();
    let err = jv.err(0, "term", json!({"renew": {"end_ms": new_end}}));
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may renew the term; propose it there"
    );
    assert_eq!(jv.state(), (before, failures + 1));

    jv.at(END - 10_000);
    jv.pass(
        "Renew for 30 more seconds",
        json!([{"call": {"module": "term", "msg": {"renew": {"end_ms": new_end}}}}]),
    );
    let status = jv.query("term", json!({"status": {}}));
    assert_eq!(
        (status["end_ms"].clone(), status["renewals"][0]["from_end_ms"].clone()),
        (json!(new_end), json!(END))
    );

    // Past the old end: a tick finds nothing due, and the partnership lives on.
    jv.at(END + 1_000);
    let err = jv.err(1, "term", json!({"tick": {}}));
    assert!(err.contains(&format!("the term ends at {new_end}")), "{err}");
    assert_eq!(jv.dissolution(), Value::Null);
    jv.ok(1, "term", json!({"complete_milestone": {"id": "pilot", "note": "late but live"}}));
    let m = jv.query("term", json!({"milestone": {"id": "pilot"}}));
    assert_eq!((m["status"].clone(), m["late"].clone()), (json!("done"), json!(true)));

    // At the new end, the sunset applies.
    jv.at(new_end);
    jv.ok(0, "term", json!({"tick": {}}));
    assert_eq!(jv.dissolution()["reason"], json!("term ended"));
}

#[test]
fn a_kpi_review_changes_the_split_and_the_next_distribution_follows_it() {
    let mut jv = start(term_config(json!({})));
    let (studio, telco) = (jv.studio.clone(), jv.telco.clone());
    assert_eq!(
        jv.query("treasury", json!({"split": {}})),
        json!({"fixed": {"shares": {studio.clone(): 5000, telco.clone(): 5000}}})
    );

    // Bad KPI calls: a participant who is not a member, malformed values, malformed JSON.
    let (before, failures) = jv.state();
    let err =
        jv.err(2, "term", json!({"record_kpi": {"metric": "episodes", "value": 3, "period": "2026-Q1"}}));
    assert!(err.starts_with(&format!("not allowed: {} is not a current member (", id(3))), "{err}");
    assert!(err.ends_with("only members may record KPIs"), "{err}");
    let err =
        jv.err(0, "term", json!({"record_kpi": {"metric": "episodes", "value": -3, "period": "2026-Q1"}}));
    assert!(err.starts_with("invalid handle message: KPI values must not be negative, got -3"), "{err}");
    let err =
        jv.err(0, "term", json!({"record_kpi": {"metric": "episodes", "value": 2.5, "period": "2026-Q1"}}));
    assert!(err.starts_with("invalid handle message: KPI values are whole numbers"), "{err}");
    let err =
        jv.err(0, "term", json!({"record_kpi": {"metric": "revenue", "value": 3, "period": "2026-Q1"}}));
    assert_eq!(err, "invalid KPI: unknown metric \"revenue\"; this term declares episodes, subscribers");
    jv.h.now += 1;
    let op = jv.h.ledger.create_op(
        &jv.h.keys[0],
        Payload::Call { module: "term".into(), msg: b"{\"record_kpi\": {\"metric\": ".to_vec() },
        jv.h.now,
    );
    // Bytes that are not JSON never enter the graph: refused at the door, counted, not stored.
    let refusal = jv.h.ledger.insert(op, jv.h.now).expect_err("not JSON");
    assert!(format!("{refusal:?}").contains("call message is not valid JSON"), "{refusal:?}");
    // JSON of the wrong shape runs and fails with the decoder's explanation.
    let err = jv.err(0, "term", json!({"record_kpi": {"metric": "episodes", "period": "2026-Q1"}}));
    assert!(err.starts_with("invalid handle message: missing field `value`"), "{err}");
    // A review tick before the review date: nothing is due.
    let err = jv.err(1, "term", json!({"tick": {}}));
    assert!(err.contains(&format!("review 1 (period 2026-Q1) is due at {REVIEW_AT}")), "{err}");
    assert_eq!(jv.state(), (before, failures + 6), "six failures, nothing else changed");

    // The studio delivered 15 of 10 episodes (15000 bps), the telco 500 of 1000 subscribers (5000).
    jv.ok(0, "term", json!({"record_kpi": {"metric": "episodes", "value": 15, "period": "2026-Q1"}}));
    jv.ok(1, "term", json!({"record_kpi": {"metric": "subscribers", "value": 500, "period": "2026-Q1"}}));
    let preview = jv.query("term", json!({"preview_split": {"period": "2026-Q1"}}));
    assert_eq!(preview["split"], json!({studio.clone(): 7500, telco.clone(): 2500}));

    // The review falls due; a tick opens it as a proposal in voting, proposed by the term module.
    jv.at(REVIEW_AT);
    let data = jv.ok(1, "term", json!({"tick": {}}));
    assert_eq!(data, Some(json!({"ended": false, "opened_reviews": [1]})));
    let proposal = jv.query("voting", json!({"proposal": {"id": 1}}));
    assert_eq!(proposal["proposer"], json!("module:term"));
    assert_eq!(
        proposal["messages"],
        json!([{"call": {"module": "term", "msg": {"apply_review": {"review": 1}}}}])
    );
    assert_eq!(proposal["title"], json!("Term review 1 (KPI period 2026-Q1)"));
    // The period's KPIs are now final, and only governance applies the review.
    let err =
        jv.err(0, "term", json!({"record_kpi": {"metric": "episodes", "value": 20, "period": "2026-Q1"}}));
    assert_eq!(err, "invalid KPI: episodes for 2026-Q1 is final: review 1 already used it");
    let err = jv.err(0, "term", json!({"apply_review": {"review": 1}}));
    assert!(
        err.starts_with("not allowed: only the governance module \"voting\" may apply a review"),
        "{err}"
    );
    // Before execution the split is unchanged.
    assert_eq!(jv.query("treasury", json!({"split": {}}))["fixed"]["shares"][&studio], json!(5000));

    jv.vote_and_execute(1);
    assert_eq!(
        jv.query("treasury", json!({"split": {}})),
        json!({"fixed": {"shares": {studio.clone(): 7500, telco.clone(): 2500}}})
    );
    let reviews = jv.query("term", json!({"reviews": {}}));
    assert_eq!(reviews["reviews"][0]["status"], json!("applied"));
    assert_eq!(jv.query("term", json!({"status": {}}))["last_applied_review"], json!(1));

    // Revenue distributed afterwards follows the new split.
    jv.ok(0, "treasury", json!({"record_revenue": {"asset": "EUR", "amount": 10_000, "reference": "INV-7"}}));
    jv.ok(1, "treasury", json!({"distribute": {"asset": "EUR"}}));
    let earned =
        |jv: &Jv, m: &str| jv.query("treasury", json!({"statement": {"member": m}}))["EUR"]["earned"].clone();
    assert_eq!((earned(&jv, &studio), earned(&jv, &telco)), (json!(7500), json!(2500)));
}

#[test]
fn a_review_in_a_waterfall_charter_keeps_the_recoup_and_sets_the_rest() {
    let mut config = term_config(json!({}));
    config["split_rule"]["waterfall"] = json!({"recoup": true});
    let mut jv = start(config);
    let (studio, telco) = (jv.studio.clone(), jv.telco.clone());
    jv.ok(0, "term", json!({"record_kpi": {"metric": "episodes", "value": 10, "period": "2026-Q1"}}));
    jv.ok(1, "term", json!({"record_kpi": {"metric": "subscribers", "value": 250, "period": "2026-Q1"}}));
    jv.at(REVIEW_AT + 5);
    jv.ok(0, "term", json!({"tick": {}}));
    jv.vote_and_execute(1);
    // 5000*10000 : 5000*2500 = 80% : 20%.
    assert_eq!(
        jv.query("treasury", json!({"split": {}})),
        json!({"waterfall": {"recoup": true, "tranches": [], "rest": {"fixed": {"shares": {studio: 8000, telco: 2000}}}}})
    );
}

/// Loads `examples/charters/<file>` with its placeholders filled by the ids
/// of keys 1, 2, … (in `names` order), runs its genesis, and returns a
/// harness over keys 1..=`keys`.
fn charter_harness(file: &str, names: &[&str], keys: u8) -> WasmHarness {
    use polypact::host::{HostConfig, WasmExecutor};
    use polypact::ledger::{Ledger, LedgerConfig};
    use polypact::op::{Charter, CodeSource, UnsignedOp, fill_placeholders};
    use polypact::testing::module_wasm_path;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/charters");
    let text = std::fs::read_to_string(dir.join(file)).expect("the charter exists");
    let values: BTreeMap<String, String> =
        names.iter().zip(1u8..).map(|(n, seed)| (n.to_string(), id(seed))).collect();
    let filled = fill_placeholders(&text, &values).expect("every placeholder named");
    let executor = WasmExecutor::new(HostConfig::default()).expect("WASM host");
    let charter = Charter::from_toml(&filled, file, &dir, |module, source| match source {
        // Read the module the build put in the target dir (CARGO_TARGET_DIR aware).
        CodeSource::File(path) => {
            let stem = path.file_stem().expect("a .wasm file").to_string_lossy().into_owned();
            let wasm = std::fs::read(module_wasm_path(&stem))
                .map_err(|e| format!("module `{module}`: {e}; run ./scripts/build-modules.sh"))?;
            executor.add_code(&wasm).map_err(|e| e.to_string())
        }
        CodeSource::Hash(h) => Err(format!("unexpected code hash {h}")),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let first = MemberKey::from_seed(1);
    let genesis = UnsignedOp {
        partnership: Default::default(),
        author: first.member_id(),
        seq: 1,
        parents: vec![],
        time_ms: T0,
        payload: Payload::Genesis(charter),
    }
    .sign(&first);
    let ledger = Ledger::new(genesis, executor, LedgerConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    WasmHarness { keys: (1..=keys).map(MemberKey::from_seed).collect(), ledger, now: T0 }
}

/// The joint-venture charter as shipped: a bank is admitted by vote, a KPI
/// review re-weighs the waterfall's rest, revenue then follows it (the
/// bank's capital recouped first), and the sunset winds the venture up.
#[test]
fn the_joint_venture_charter_admits_a_bank_reviews_kpis_and_ends() {
    const DAY: u64 = 86_400_000;
    let h = charter_harness("joint-venture.toml", &["studio", "telco", "mediator"], 4);
    let mut jv = Jv { h, studio: id(1), telco: id(2) };
    let (studio, telco, bank) = (jv.studio.clone(), jv.telco.clone(), id(4));
    let pass_kind = |jv: &mut Jv, kind: &str, messages: Value| {
        let data = jv.ok(
            0,
            "voting",
            json!({"propose": {"title": kind, "kind": kind, "messages": messages, "period_ms": DAY}}),
        );
        let proposal = data.unwrap()["id"].as_u64().unwrap();
        for voter in [0, 1] {
            jv.ok(voter, "voting", json!({"vote": {"proposal": proposal, "choice": "yes"}}));
        }
        jv.h.advance_ms(3 * DAY);
        jv.ok(1, "voting", json!({"execute": {"proposal": proposal}}));
    };

    // 2026-03: the partners admit a bank by a unanimous vote.
    jv.at(1_772_323_200_000);
    let admit = json!({"admit": {"member": bank, "voting_units": 20, "economic_units": 0}});
    pass_kind(&mut jv, "admit_member", json!([{"call": {"module": "membership", "msg": admit}}]));
    assert!(
        jv.h.ledger.participants().iter().any(|(m, _)| m.to_string() == bank),
        "the bank is a participant"
    );
    // The bank finances: 500.00 EUR of capital, confirmed by another partner (four eyes).
    let data = jv.ok(
        3,
        "treasury",
        json!({"contribute_capital": {"asset": "EUR", "amount": 50_000, "reference": "LOAN-1"}}),
    );
    let entry = data.unwrap()["id"].clone();
    jv.ok(0, "treasury", json!({"confirm_entry": {"id": entry}}));

    // Q1 KPIs: 10 of 8 episodes (125%), 30000 of 50000 subscribers (60%).
    // The telco reports both; the studio may not grade itself.
    let err =
        jv.err(0, "term", json!({"record_kpi": {"metric": "episodes", "value": 10, "period": "2026-Q1"}}));
    assert_eq!(err, format!("not allowed: only {telco} may record episodes"));
    jv.ok(1, "term", json!({"record_kpi": {"metric": "episodes", "value": 10, "period": "2026-Q1"}}));
    jv.ok(1, "term", json!({"record_kpi": {"metric": "subscribers", "value": 30_000, "period": "2026-Q1"}}));
    jv.at(1_776_211_200_000); // 2026-04-15: review 1 is due
    let data = jv.ok(2, "term", json!({"tick": {}}));
    assert_eq!(data, Some(json!({"ended": false, "opened_reviews": [1]})));
    let proposal = jv.query("voting", json!({"proposal": {"id": 2}}));
    assert_eq!(
        (proposal["kind"].clone(), proposal["proposer"].clone()),
        (json!("review"), json!("module:term"))
    );
    for voter in [0, 1] {
        jv.ok(voter, "voting", json!({"vote": {"proposal": 2, "choice": "yes"}}));
    }
    jv.h.advance_ms(9 * DAY); // 7 days of voting, 2 of grace
    jv.ok(2, "voting", json!({"execute": {"proposal": 2}}));
    assert_eq!(
        jv.query("treasury", json!({"split": {}})),
        json!({"waterfall": {"recoup": true, "tranches": [], "rest": {"fixed": {"shares": {studio.clone(): 7576, telco.clone(): 2424}}}}})
    );

    // 1,000.00 EUR of revenue, confirmed, distributed: the bank's capital
    // comes back first, the rest follows the reviewed shares.
    let data = jv.ok(
        1,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 100_000, "reference": "INV-1"}}),
    );
    let entry = data.unwrap()["id"].clone();
    jv.ok(0, "treasury", json!({"confirm_entry": {"id": entry}}));
    jv.ok(0, "treasury", json!({"distribute": {"asset": "EUR"}}));
    let earned =
        |jv: &Jv, m: &str| jv.query("treasury", json!({"statement": {"member": m}}))["EUR"]["earned"].clone();
    assert_eq!(
        (earned(&jv, &bank), earned(&jv, &studio), earned(&jv, &telco)),
        (json!(50_000), json!(75_760), json!(24_240))
    );

    // 2028-01-01: no renewal was voted; the next tick winds the venture up.
    jv.at(1_830_297_600_000);
    jv.ok(1, "term", json!({"tick": {}}));
    assert_eq!(jv.dissolution()["reason"], json!("term ended"));
    let err = jv.err(2, "term", json!({"tick": {}}));
    assert!(err.starts_with("the partnership is dissolved"), "{err}");
    assert_eq!(jv.query("term", json!({"status": {}}))["phase"], json!("ended"));
}

/// The alliance charter as shipped: the waterfall pays the agency's minimum
/// guarantee, then the platform and reseller's tranche, and the term's
/// sunset winds the alliance up through exit.
#[test]
fn the_alliance_charter_pays_its_waterfall_and_ends_at_its_sunset() {
    let h = charter_harness("alliance.toml", &["agency", "platform", "reseller"], 3);
    let mut al = Jv { h, studio: id(1), telco: id(2) };
    let (agency, platform, reseller) = (id(1), id(2), id(3));
    al.at(1_780_000_000_000); // mid-2026
    // 60,000.00 EUR of revenue, confirmed by another partner, distributed.
    let data = al.ok(
        0,
        "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 6_000_000, "reference": "CL-1"}}),
    );
    let entry = data.unwrap()["id"].clone();
    let err = al.err(0, "treasury", json!({"confirm_entry": {"id": entry}}));
    assert!(err.contains("may not confirm it; another member must"), "{err}");
    al.ok(1, "treasury", json!({"confirm_entry": {"id": entry}}));
    al.ok(2, "treasury", json!({"distribute": {"asset": "EUR"}}));
    let earned =
        |al: &Jv, m: &str| al.query("treasury", json!({"statement": {"member": m}}))["EUR"]["earned"].clone();
    // The first 50,000.00 to the agency; the next 10,000.00 60/40.
    assert_eq!(
        (earned(&al, &agency), earned(&al, &platform), earned(&al, &reseller)),
        (json!(5_000_000), json!(600_000), json!(400_000))
    );
    // Any partner records its KPIs (no reporters in this charter).
    al.ok(
        2,
        "term",
        json!({"record_kpi": {"metric": "units_sold_abroad", "value": 420, "period": "2026-Q2"}}),
    );
    // 2027-01-01: no renewal; the next tick ends the alliance.
    al.at(1_798_761_600_000);
    al.ok(2, "term", json!({"tick": {}}));
    assert_eq!(al.dissolution()["reason"], json!("term ended"));
}

/// The consortium charter as shipped: drafts need a second, a treasurer
/// cannot spend above the limit alone, and dissolution needs every member.
#[test]
fn the_consortium_charter_dissolves_only_by_unanimous_vote() {
    const DAY: u64 = 86_400_000;
    let h = charter_harness("consortium.toml", &["a", "b", "c", "d", "e"], 5);
    let mut c = Jv { h, studio: id(1), telco: id(2) };
    let err = c.err(
        0,
        "treasury",
        json!({"spend": {"asset": "EUR", "amount": 1_000_001, "to": "Lab GmbH", "reference": "PO-1"}}),
    );
    assert!(err.contains("may spend alone"), "{err}");
    let dissolve =
        json!([{"call": {"module": "exit", "msg": {"dissolve": {"reason": "programme complete"}}}}]);
    let data = c.ok(
        0,
        "voting",
        json!({"propose": {"title": "Wind up", "kind": "dissolve", "messages": dissolve, "period_ms": 3 * DAY}}),
    );
    let id = data.unwrap()["id"].as_u64().unwrap();
    assert_eq!(c.query("voting", json!({"proposal": {"id": id}}))["status"], json!("draft"));
    c.ok(1, "voting", json!({"sponsor": {"proposal": id}}));
    for voter in 0..4 {
        c.ok(voter, "voting", json!({"vote": {"proposal": id, "choice": "yes"}}));
    }
    // Four of five is not unanimous.
    c.h.advance_ms(3 * DAY + 3 * DAY);
    let err = c.err(1, "voting", json!({"execute": {"proposal": id}}));
    assert!(err.to_lowercase().contains("cannot be executed now (status: rejected)"), "{err}");
    assert_eq!(c.dissolution(), Value::Null);
    // Again, with all five.
    let data = c.ok(
        2,
        "voting",
        json!({"propose": {"title": "Wind up", "kind": "dissolve", "messages": dissolve, "period_ms": 3 * DAY}}),
    );
    let id = data.unwrap()["id"].as_u64().unwrap();
    c.ok(3, "voting", json!({"sponsor": {"proposal": id}}));
    for voter in 0..5 {
        c.ok(voter, "voting", json!({"vote": {"proposal": id, "choice": "yes"}}));
    }
    c.h.advance_ms(3 * DAY + 3 * DAY);
    c.ok(4, "voting", json!({"execute": {"proposal": id}}));
    assert_eq!(c.dissolution()["reason"], json!("programme complete"));
}
