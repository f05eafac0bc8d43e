//! The term module's rules, run natively through the SDK's `MockHost` with a
//! fake membership module answering `member`: the sunset (tick after the
//! end sends exit `dissolve`), renewal by governance, milestones, KPI
//! records, review cycles opened as voting proposals, the KPI-driven split
//! sent to the treasury, and bad calls that fail clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use std::collections::BTreeMap;

use membership_api::{Member, MemberInfo};
use polypact_sdk::Message;
use polypact_sdk::testing::MockHost;
use serde_json::{Value, json};
use term::{
    KpiTarget, MilestoneView, MilestonesResponse, ReviewsResponse, SplitPreview, SplitRule, StatusResponse,
    polypact_dispatch, set_split_msg, split_from_values,
};

const STUDIO: &str = "pm1studio";
const TELCO: &str = "pm1telco";
const FORMER: &str = "pm1former";
const OUTSIDER: &str = "pm1outsider";

const DAY: u64 = 86_400_000;
const START: u64 = 1_700_000_000_000;
const END: u64 = START + 360 * DAY;

fn fake_membership(host: &mut MockHost) {
    host.on_query("membership", |q: Value| {
        let who = q["member"]["member"].as_str().ok_or_else(|| format!("unexpected query {q}"))?;
        // Membership's answer, built from its published types.
        let record = |voting_units, active| MemberInfo {
            member: who.into(),
            record: Member {
                voting_units,
                economic_units: 0,
                roles: Default::default(),
                active,
                joined_at: 0,
                left_at: None,
            },
        };
        match who {
            STUDIO | TELCO => Ok(record(50, true)),
            FORMER => Ok(record(0, false)),
            _ => Err(format!("{who} is not a member")),
        }
        .map(|info| serde_json::to_value(info).unwrap())
    });
}

/// The other modules' configs, as the term module reads them at init: each
/// a whole config of its module, with the given fields written over it.
fn fake_neighbours(host: &mut MockHost, voting: Value, exit: Value, treasury: Value) {
    let over = |mut config: Value, fields: Value| {
        for (k, v) in fields.as_object().unwrap() {
            config[k] = v.clone();
        }
        config
    };
    let voting = over(
        json!({"membership": "membership", "rules": {"default": {"threshold": {"majority": {}}}},
            "min_period_ms": DAY, "max_period_ms": 14 * DAY}),
        voting,
    );
    let exit =
        over(json!({"membership": "membership", "governance": "voting", "treasury": "treasury"}), exit);
    let treasury = over(
        json!({"membership": "membership", "governance": "voting", "exit_module": "exit", "split_managers": [],
            "assets": {"EUR": 2}, "treasurer_role": "treasurer", "confirmation": "none", "spend_vote_above": {},
            "spend_vote_kind": null}),
        treasury,
    );
    host.on_query("voting", move |_: Value| Ok(voting.clone()));
    host.on_query("exit", move |_: Value| Ok(exit.clone()));
    host.on_query("treasury", move |_: Value| Ok(treasury.clone()));
}

fn neighbours(host: &mut MockHost) {
    fake_neighbours(
        host,
        json!({"module_proposers": ["term"], "min_period_ms": DAY, "max_period_ms": 14 * DAY}),
        json!({"term_module": "term"}),
        json!({"split_managers": ["term"]}),
    );
}

fn config() -> Value {
    json!({
        "membership": "membership",
        "governance": "voting",
        "exit": "exit",
        "treasury": "treasury",
        "start_ms": START,
        "end_ms": END,
        "milestones": [
            {"id": "pilot", "title": "Pilot in three cities", "due_ms": START + 90 * DAY, "owners": [TELCO]},
            {"id": "season-1", "title": "First season delivered", "due_ms": START + 180 * DAY, "owners": [STUDIO, TELCO]}
        ],
        "kpis": {
            "subscribers": {"description": "paying subscribers at period end", "unit": "subscribers"},
            "episodes": {"description": "episodes delivered in the period"}
        },
        "reviews": {"at": [
            {"at_ms": START + 90 * DAY, "period": "2026-Q1"},
            {"at_ms": START + 180 * DAY, "period": "2026-Q2"},
            {"at_ms": START + 400 * DAY, "period": "2027-Q1"}
        ]},
        "review_kind": "default",
        "review_period_ms": 7 * DAY,
        "split_rule": {
            "base_bps": {STUDIO: 6000, TELCO: 4000},
            "targets": [
                {"metric": "episodes", "member": STUDIO, "target": 10},
                {"metric": "subscribers", "member": TELCO, "target": 1000}
            ],
            "min_attainment_bps": 5000,
            "max_attainment_bps": 15000
        }
    })
}

fn setup_with(config: Value) -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.env_mut().module = "term".into();
    host.set_participants(&[STUDIO, TELCO]);
    fake_membership(&mut host);
    neighbours(&mut host);
    host.set_height(5).set_time_ms(START);
    host.init(STUDIO, &config).unwrap();
    host
}

fn setup() -> MockHost {
    setup_with(config())
}

fn status(host: &mut MockHost) -> StatusResponse {
    host.query(&json!({"status": {}})).unwrap()
}

fn gov(host: &mut MockHost, msg: Value) -> Result<polypact_sdk::Response, String> {
    host.handle_from_module("voting", STUDIO, &msg)
}

fn call_msg(message: &Message) -> (String, Value) {
    match message {
        Message::Call { module, msg } => (module.clone(), serde_json::from_slice(msg).unwrap()),
        other => panic!("expected a module call, got {other:?}"),
    }
}

fn record(host: &mut MockHost, who: &str, metric: &str, value: u64, period: &str) -> Result<(), String> {
    host.handle(who, &json!({"record_kpi": {"metric": metric, "value": value, "period": period}})).map(|_| ())
}

// ----- config -----

#[test]
fn init_stores_the_term_and_reports_it() {
    let mut host = setup();
    let s = status(&mut host);
    assert_eq!((s.start_ms, s.end_ms, s.phase.as_str()), (START, END, "active"));
    let next = s.next_review.unwrap();
    assert_eq!((next.number, next.due_ms, next.period.as_str()), (1, START + 90 * DAY, "2026-Q1"));
    assert_eq!(s.next_due_ms, START + 90 * DAY);
    let config: Value = host.query(&json!({"config": {}})).unwrap();
    assert_eq!(config["initial_end_ms"], json!(END));
    assert_eq!(config["split_rule"]["base_bps"][STUDIO], json!(6000));
}

#[test]
fn bad_configs_are_refused_with_the_reason() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["end_ms"] = json!(START)),
            "invalid term config: start_ms (1700000000000) must be before end_ms",
        ),
        (
            Box::new(|c| {
                c["reviews"] = json!({"every_ms": DAY, "at": [{"at_ms": START + 1, "period": "x"}]})
            }),
            "invalid term config: reviews takes exactly one of every_ms or a non-empty at list",
        ),
        (
            Box::new(|c| c["reviews"] = json!({"every_ms": 0})),
            "invalid term config: reviews.every_ms must be above 0",
        ),
        (
            Box::new(|c| c["reviews"]["at"][1]["at_ms"] = json!(START + 10 * DAY)),
            "invalid term config: review dates must be after start_ms and strictly ascending",
        ),
        (
            Box::new(|c| c["reviews"]["at"][1]["period"] = json!("2026-Q1")),
            "review period \"2026-Q1\" is used twice",
        ),
        (
            Box::new(|c| c["reviews"]["at"][0]["period"] = json!("Q 1")),
            "printable ASCII characters without spaces",
        ),
        (
            Box::new(|c| c["split_rule"]["base_bps"][TELCO] = json!(3000)),
            "invalid split rule: base_bps must add up to 10000, they add up to 9000",
        ),
        (
            Box::new(|c| c["split_rule"]["targets"][0]["metric"] = json!("revenue")),
            "invalid split rule: target metric \"revenue\" is not declared in kpis",
        ),
        (Box::new(|c| c["split_rule"]["targets"][0]["target"] = json!(0)), "must be above 0"),
        (
            Box::new(|c| c["split_rule"]["max_attainment_bps"] = json!(1000)),
            "need min_attainment_bps <= max_attainment_bps",
        ),
        (
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("treasury");
            }),
            "a split_rule needs treasury",
        ),
        (
            Box::new(|c| {
                c["split_rule"]["base_bps"] = json!({STUDIO: 6000, OUTSIDER: 4000});
                c["split_rule"]["targets"] = json!([]);
            }),
            "invalid split rule: base_bps names pm1outsider, who is not a current member (pm1outsider is not a member)",
        ),
        (
            Box::new(|c| c["milestones"][0]["owners"] = json!([FORMER])),
            "invalid milestone: pilot: owner pm1former is not a current member (pm1former is a former member)",
        ),
        (
            Box::new(|c| c["milestones"][1]["id"] = json!("pilot")),
            "invalid milestone: id \"pilot\" is already used",
        ),
        (
            Box::new(|c| c["milestones"][0]["id"] = json!("Pilot!")),
            "invalid milestone: id \"Pilot!\" must be",
        ),
        (Box::new(|c| c["milestones"][0]["owners"] = json!([])), "give 1 to 32 owners"),
        (Box::new(|c| c["kpis"]["Bad Name"] = json!({})), "kpi name \"Bad Name\" must be"),
        (Box::new(|c| c["governance"] = json!(" ")), "governance must name a module instance"),
        (Box::new(|c| c["surprise"] = json!(1)), "invalid init config: unknown field `surprise`"),
        (
            Box::new(|c| c["split_rule"]["targets"][1]["member"] = json!(OUTSIDER)),
            "invalid split rule: target of \"subscribers\" names pm1outsider, who has no base_bps",
        ),
        (
            Box::new(|c| c["split_rule"]["targets"][0]["target"] = json!(-3)),
            "KPI values must not be negative, got -3",
        ),
    ];
    for (edit, expected) in cases {
        let mut host = MockHost::new(polypact_dispatch);
        host.env_mut().module = "term".into();
        fake_membership(&mut host);
        neighbours(&mut host);
        let mut c = config();
        edit(&mut c);
        let err = host.init(STUDIO, &c).unwrap_err();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert!(host.state().is_empty(), "a refused init leaves no state ({expected})");
    }
}

#[test]
fn a_miswired_charter_fails_at_init_not_at_the_first_review() {
    let good_voting = json!({"module_proposers": ["term"], "min_period_ms": DAY, "max_period_ms": 14 * DAY});
    let cases = [
        (
            json!({"module_proposers": []}),
            json!({"term_module": "term"}),
            json!({"split_managers": ["term"]}),
            "invalid term config: the governance module \"voting\" does not list \"term\" in module_proposers",
        ),
        (
            json!({"module_proposers": ["term"], "rules": {"review": {"threshold": {"majority": {}}}}}),
            json!({"term_module": "term"}),
            json!({"split_managers": ["term"]}),
            "invalid term config: review_kind \"default\" is not a rule of the governance module \"voting\"",
        ),
        (
            json!({"module_proposers": ["term"], "min_period_ms": DAY, "max_period_ms": 2 * DAY}),
            json!({"term_module": "term"}),
            json!({"split_managers": ["term"]}),
            "invalid term config: review_period_ms 604800000 is outside the governance module's voting periods (86400000 to 172800000)",
        ),
        (
            good_voting.clone(),
            json!({"term_module": null}),
            json!({"split_managers": ["term"]}),
            "invalid term config: the exit module \"exit\" does not name \"term\" as its term_module",
        ),
        (
            good_voting,
            json!({"term_module": "term"}),
            json!({"split_managers": []}),
            "invalid term config: the treasury \"treasury\" does not list \"term\" in split_managers",
        ),
    ];
    for (voting, exit, treasury, expected) in cases {
        let mut host = MockHost::new(polypact_dispatch);
        host.env_mut().module = "term".into();
        fake_membership(&mut host);
        fake_neighbours(&mut host, voting, exit, treasury);
        let err = host.init(STUDIO, &config()).unwrap_err();
        assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
        assert!(host.state().is_empty());
    }
    // A neighbour that is not installed (yet): put term after it.
    let mut host = MockHost::new(polypact_dispatch);
    host.env_mut().module = "term".into();
    fake_membership(&mut host);
    let err = host.init(STUDIO, &config()).unwrap_err();
    assert!(err.starts_with("invalid term config: cannot read the config of module \"exit\""), "{err}");
    assert!(err.ends_with("list term after it in the charter"), "{err}");
}

// ----- sunset and renewal -----

#[test]
fn tick_before_anything_is_due_is_a_clear_error_and_changes_nothing() {
    let mut host = setup();
    host.set_time_ms(START + 10 * DAY);
    let before = host.state().clone();
    let err = host.handle(TELCO, &json!({"tick": {}})).unwrap_err();
    assert_eq!(
        err,
        format!(
            "nothing is due at {}: review 1 (period 2026-Q1) is due at {} and the term ends at {END}; \
             send tick again then (the status query shows next_due_ms)",
            START + 10 * DAY,
            START + 90 * DAY
        )
    );
    assert_eq!(host.state(), &before);
}

#[test]
fn tick_after_the_end_asks_exit_to_dissolve() {
    let mut host = setup();
    host.set_time_ms(END - 1);
    assert_eq!(status(&mut host).phase, "active");
    host.set_time_ms(END);
    assert_eq!(status(&mut host).phase, "ending");
    host.set_height(40);
    let r = host.handle(OUTSIDER, &json!({"tick": {}})).unwrap();
    assert_eq!(r.messages.len(), 1);
    assert_eq!(call_msg(&r.messages[0]), ("exit".into(), json!({"dissolve": {"reason": "term ended"}})));
    assert_eq!(r.events[0].kind, "term_ended");
    assert_eq!(r.data_as::<Value>().unwrap(), Some(json!({"ended": true, "opened_reviews": []})));
    let s = status(&mut host);
    assert_eq!(s.phase, "ended");
    let ended = s.ended.unwrap();
    assert_eq!(
        (ended.at_ms, ended.height, ended.by.as_str(), ended.reason.as_str()),
        (END, 40, OUTSIDER, "term ended")
    );
    // Were the partnership not closed in the same op, the term itself refuses further calls.
    let before = host.state().clone();
    let err = host.handle(STUDIO, &json!({"tick": {}})).unwrap_err();
    assert_eq!(err, format!("the term already ended at {END}"));
    let err = gov(&mut host, json!({"renew": {"end_ms": END + 10 * DAY}})).unwrap_err();
    assert_eq!(err, format!("the term already ended at {END}"));
    assert_eq!(host.state(), &before);
}

#[test]
fn the_end_wins_over_reviews_never_ticked() {
    let mut host = setup();
    host.set_time_ms(END + DAY);
    let r = host.handle(TELCO, &json!({"tick": {}})).unwrap();
    assert_eq!(r.messages.len(), 1, "only the dissolve, no review proposals");
    assert_eq!(call_msg(&r.messages[0]).0, "exit");
}

#[test]
fn renewal_comes_only_from_governance_and_moves_the_end() {
    let mut host = setup();
    host.set_time_ms(END - DAY);
    let before = host.state().clone();
    let err = host.handle(STUDIO, &json!({"renew": {"end_ms": END + 180 * DAY}})).unwrap_err();
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may renew the term; propose it there"
    );
    let err = host
        .handle_from_module("treasury", STUDIO, &json!({"renew": {"end_ms": END + 180 * DAY}}))
        .unwrap_err();
    assert!(err.starts_with("not allowed: only the governance module"), "{err}");
    let err = gov(&mut host, json!({"renew": {"end_ms": END}})).unwrap_err();
    assert_eq!(
        err,
        format!(
            "invalid renewal: the new end {END} must be after the current end {END} and after now ({})",
            END - DAY
        )
    );
    let err = gov(&mut host, json!({"renew": {"end_ms": -1}})).unwrap_err();
    assert!(err.starts_with("invalid handle message: invalid value: integer `-1`, expected u64"), "{err}");
    assert_eq!(host.state(), &before);

    let r = gov(&mut host, json!({"renew": {"end_ms": END + 180 * DAY}})).unwrap();
    assert_eq!(r.events[0].kind, "term_renewed");
    assert_eq!(r.events[0].get("to_end_ms"), Some((END + 180 * DAY).to_string().as_str()));
    // Past the old end: no dissolution; the renewed term goes on.
    host.set_time_ms(END + DAY);
    let s = status(&mut host);
    assert_eq!((s.phase.as_str(), s.end_ms, s.renewals.len()), ("active", END + 180 * DAY, 1));
    let r = host.handle(TELCO, &json!({"tick": {}})).unwrap();
    assert!(r.messages.iter().all(|m| call_msg(m).0 == "voting"), "reviews open, nothing dissolves");
    // The 2027-Q1 review (day 400) now lies inside the renewed term.
    let s = status(&mut host);
    assert_eq!(s.next_review.unwrap().period, "2027-Q1");
}

#[test]
fn a_renewal_executed_after_the_end_but_before_any_tick_still_counts() {
    let mut host = setup();
    host.set_time_ms(END + DAY);
    gov(&mut host, json!({"renew": {"end_ms": END + 30 * DAY}})).unwrap();
    host.set_time_ms(END + 2 * DAY);
    let r = host.handle(TELCO, &json!({"tick": {}})).unwrap();
    assert!(r.messages.iter().all(|m| call_msg(m).0 != "exit"));
}

// ----- milestones -----

#[test]
fn owners_mark_milestones_done_and_overdue_shows_in_queries() {
    let mut host = setup();
    host.set_time_ms(START + 91 * DAY);
    let ms: MilestonesResponse = host.query(&json!({"milestones": {}})).unwrap();
    let statuses: Vec<(String, Value)> =
        ms.milestones.iter().map(|m| (m.milestone.id.clone(), json!(m.status))).collect();
    assert_eq!(statuses, vec![("pilot".into(), json!("overdue")), ("season-1".into(), json!("pending"))]);
    assert_eq!(status(&mut host).overdue_milestones, vec!["pilot".to_string()]);

    let before = host.state().clone();
    let err = host.handle(STUDIO, &json!({"complete_milestone": {"id": "pilot"}})).unwrap_err();
    assert_eq!(err, "not allowed: only the owners of milestone \"pilot\" (pm1telco) may mark it done");
    let err = host.handle(TELCO, &json!({"complete_milestone": {"id": "launch"}})).unwrap_err();
    assert_eq!(err, "there is no milestone \"launch\"");
    let err = host
        .handle_from_module("voting", TELCO, &json!({"complete_milestone": {"id": "pilot"}}))
        .unwrap_err();
    assert!(err.starts_with("not allowed: owners mark milestones done in their own ops"), "{err}");
    let long = "x".repeat(2000);
    let err = host.handle(TELCO, &json!({"complete_milestone": {"id": "pilot", "note": long}})).unwrap_err();
    assert_eq!(err, "invalid milestone: the note is over 1024 bytes");
    assert_eq!(host.state(), &before);

    let r = host
        .handle(TELCO, &json!({"complete_milestone": {"id": "pilot", "note": "Berlin, Lyon, Turin"}}))
        .unwrap();
    assert_eq!(r.events[0].kind, "milestone_completed");
    assert_eq!(r.events[0].get("late"), Some("true"));
    let m: Value = host.query(&json!({"milestone": {"id": "pilot"}})).unwrap();
    assert_eq!((m["status"].clone(), m["late"].clone()), (json!("done"), json!(true)));
    assert_eq!(m["done"]["by"], json!(TELCO));
    assert_eq!(m["done"]["note"], json!("Berlin, Lyon, Turin"));
    assert!(status(&mut host).overdue_milestones.is_empty());
    let err = host.handle(TELCO, &json!({"complete_milestone": {"id": "pilot"}})).unwrap_err();
    assert_eq!(
        err,
        format!("invalid milestone: \"pilot\" was already marked done by pm1telco at {}", START + 91 * DAY)
    );

    // Either owner of a shared milestone; on time it is not late.
    let r = host.handle(STUDIO, &json!({"complete_milestone": {"id": "season-1"}})).unwrap();
    assert_eq!(r.events[0].get("late"), Some("false"));
}

#[test]
fn governance_adds_milestones() {
    let mut host = setup();
    let spec = json!({"add_milestone": {"id": "launch", "title": "Commercial launch", "due_ms": START + 200 * DAY, "owners": [STUDIO]}});
    let before = host.state().clone();
    let err = host.handle(STUDIO, &spec).unwrap_err();
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may add milestones; propose it there"
    );
    let bad =
        json!({"add_milestone": {"id": "launch", "title": "Launch", "due_ms": 1, "owners": [OUTSIDER]}});
    let err = gov(&mut host, bad).unwrap_err();
    assert!(err.starts_with("invalid milestone: launch: owner pm1outsider is not a current member"), "{err}");
    assert_eq!(host.state(), &before);
    let r = gov(&mut host, spec.clone()).unwrap();
    assert_eq!(r.events[0].kind, "milestone_added");
    let ms: MilestonesResponse = host.query(&json!({"milestones": {}})).unwrap();
    assert_eq!(
        ms.milestones.iter().map(|m| m.milestone.id.as_str()).collect::<Vec<_>>(),
        ["pilot", "season-1", "launch"]
    );
    let err = gov(&mut host, spec).unwrap_err();
    assert_eq!(err, "invalid milestone: id \"launch\" is already used");
}

// ----- KPIs -----

#[test]
fn a_metric_with_reporters_is_recorded_only_by_them() {
    let mut c = config();
    c["kpis"]["episodes"]["reporters"] = json!([TELCO]);
    let mut host = setup_with(c);
    let before = host.state().clone();
    let err = record(&mut host, STUDIO, "episodes", 12, "2026-Q1").unwrap_err();
    assert_eq!(err, "not allowed: only pm1telco may record episodes");
    assert_eq!(host.state(), &before);
    record(&mut host, TELCO, "episodes", 12, "2026-Q1").unwrap();
    record(&mut host, STUDIO, "subscribers", 12, "2026-Q1").unwrap(); // no reporters: any member

    let mut c = config();
    c["kpis"]["episodes"]["reporters"] = json!([OUTSIDER]);
    let mut host = MockHost::new(polypact_dispatch);
    host.env_mut().module = "term".into();
    fake_membership(&mut host);
    neighbours(&mut host);
    let err = host.init(STUDIO, &c).unwrap_err();
    assert_eq!(
        err,
        "invalid term config: kpi \"episodes\": reporter pm1outsider is not a current member (pm1outsider is not a member)"
    );
}

#[test]
fn members_record_kpis_and_only_the_recorder_corrects_until_a_review_uses_them() {
    let mut host = setup();
    let before = host.state().clone();
    let err = record(&mut host, OUTSIDER, "subscribers", 10, "2026-Q1").unwrap_err();
    assert_eq!(
        err,
        "not allowed: pm1outsider is not a current member (pm1outsider is not a member); only members may record KPIs"
    );
    let err = record(&mut host, FORMER, "subscribers", 10, "2026-Q1").unwrap_err();
    assert!(err.contains("pm1former is a former member"), "{err}");
    let err = record(&mut host, TELCO, "revenue", 10, "2026-Q1").unwrap_err();
    assert_eq!(err, "invalid KPI: unknown metric \"revenue\"; this term declares episodes, subscribers");
    let err = record(&mut host, TELCO, "subscribers", 10, "").unwrap_err();
    assert!(err.starts_with("invalid KPI: period \"\" must be 1 to 64"), "{err}");
    let err = host
        .handle_from_module(
            "voting",
            TELCO,
            &json!({"record_kpi": {"metric": "subscribers", "value": 1, "period": "p"}}),
        )
        .unwrap_err();
    assert!(err.starts_with("not allowed: members record KPIs in their own ops"), "{err}");
    for (value, expected) in [
        (json!(-5), "KPI values must not be negative, got -5"),
        (json!(1.5), "KPI values are whole numbers from 0 to 18446744073709551615"),
        (json!(1e3), "KPI values are whole numbers"),
        (json!("12"), "invalid type: string \"12\", expected a whole number from 0 to 18446744073709551615"),
    ] {
        let msg = json!({"record_kpi": {"metric": "subscribers", "value": value, "period": "2026-Q1"}});
        let err = host.handle(TELCO, &msg).unwrap_err();
        assert!(err.starts_with(&format!("invalid handle message: {expected}")), "{err}");
    }
    let err = host.handle_raw(TELCO, b"{\"record_kpi\": {").unwrap_err();
    assert!(err.starts_with("invalid handle message: EOF while parsing"), "{err}");
    let err = host
        .handle_raw(
            TELCO,
            br#"{"record_kpi":{"metric":"subscribers","value":18446744073709551616,"period":"p"}}"#,
        )
        .unwrap_err();
    assert!(err.starts_with("invalid handle message: KPI values are whole numbers"), "{err}");
    assert_eq!(host.state(), &before, "failed calls leave no trace");

    host.set_time_ms(START + 80 * DAY);
    let r = host
        .handle(TELCO, &json!({"record_kpi": {"metric": "subscribers", "value": 900, "period": "2026-Q1"}}))
        .unwrap();
    assert_eq!(r.events[0].kind, "kpi_recorded");
    // Someone else may not overwrite it; the recorder may correct it.
    let err = record(&mut host, STUDIO, "subscribers", 5000, "2026-Q1").unwrap_err();
    assert_eq!(
        err,
        "invalid KPI: subscribers for 2026-Q1 was recorded by pm1telco; only its recorder may correct it"
    );
    let r = host
        .handle(TELCO, &json!({"record_kpi": {"metric": "subscribers", "value": 950, "period": "2026-Q1"}}))
        .unwrap();
    assert_eq!(r.events[0].kind, "kpi_corrected");
    let k: Value = host.query(&json!({"kpi": {"metric": "subscribers", "period": "2026-Q1"}})).unwrap();
    assert_eq!((k["kpi"]["value"].clone(), k["kpi"]["corrections"].clone()), (json!(950), json!(1)));
    // A review freezes its period.
    host.set_time_ms(START + 90 * DAY);
    host.handle(STUDIO, &json!({"tick": {}})).unwrap();
    let err = record(&mut host, TELCO, "subscribers", 2000, "2026-Q1").unwrap_err();
    assert_eq!(err, "invalid KPI: subscribers for 2026-Q1 is final: review 1 already used it");
    // Other periods stay open; the list pages by period label.
    record(&mut host, TELCO, "subscribers", 1200, "2026-Q2").unwrap();
    record(&mut host, TELCO, "subscribers", 1300, "2026-Q3").unwrap();
    let page: Value = host
        .query(&json!({"kpis": {"metric": "subscribers", "start_after": "2026-Q1", "limit": 1}}))
        .unwrap();
    assert_eq!(page["kpis"].as_array().unwrap().len(), 1);
    assert_eq!(page["kpis"][0]["period"], json!("2026-Q2"));
    let none: Value = host.query(&json!({"kpi": {"metric": "episodes", "period": "2026-Q1"}})).unwrap();
    assert_eq!(none, json!({"kpi": null}));
}

// ----- reviews and the split -----

#[test]
fn a_due_review_opens_a_proposal_whose_execution_sets_the_kpi_split() {
    let mut host = setup();
    host.set_time_ms(START + 85 * DAY);
    record(&mut host, STUDIO, "episodes", 12, "2026-Q1").unwrap(); // 120%
    record(&mut host, TELCO, "subscribers", 600, "2026-Q1").unwrap(); // 60%
    let preview: SplitPreview = host.query(&json!({"preview_split": {"period": "2026-Q1"}})).unwrap();
    // Weights 6000*12000 = 72e6 and 4000*6000 = 24e6: 75% / 25%.
    assert_eq!(preview.split, Some(BTreeMap::from([(STUDIO.into(), 7500), (TELCO.into(), 2500)])));
    assert_eq!(preview.attainment_bps, BTreeMap::from([(STUDIO.into(), 12000), (TELCO.into(), 6000)]));

    host.set_time_ms(START + 90 * DAY);
    let r = host.handle(TELCO, &json!({"tick": {}})).unwrap();
    assert_eq!(r.data_as::<Value>().unwrap(), Some(json!({"ended": false, "opened_reviews": [1]})));
    assert_eq!(r.messages.len(), 1);
    let (module, msg) = call_msg(&r.messages[0]);
    assert_eq!(module, "voting");
    let p = &msg["propose"];
    assert_eq!(p["title"], json!("Term review 1 (KPI period 2026-Q1)"));
    assert_eq!(p["kind"], json!("default"));
    assert_eq!(p["period_ms"], json!(7 * DAY));
    assert_eq!(p["messages"], json!([{"call": {"module": "term", "msg": {"apply_review": {"review": 1}}}}]));
    assert!(p["description"].as_str().unwrap().contains("pm1studio 7500 bps, pm1telco 2500 bps"));
    assert_eq!(r.events[0].kind, "review_opened");

    // Not due again until review 2.
    let err = host.handle(TELCO, &json!({"tick": {}})).unwrap_err();
    assert!(err.contains("review 2 (period 2026-Q2) is due at"), "{err}");

    let reviews: ReviewsResponse = host.query(&json!({"reviews": {}})).unwrap();
    let st: Vec<(u64, &str)> = reviews.reviews.iter().map(|r| (r.number, r.status.as_str())).collect();
    assert_eq!(st, [(1, "opened"), (2, "scheduled")], "review 3 lies after the end");

    // Only governance applies, and only opened reviews.
    let before = host.state().clone();
    let err = host.handle(STUDIO, &json!({"apply_review": {"review": 1}})).unwrap_err();
    assert!(
        err.starts_with("not allowed: only the governance module \"voting\" may apply a review"),
        "{err}"
    );
    let err = gov(&mut host, json!({"apply_review": {"review": 2}})).unwrap_err();
    assert_eq!(err, "cannot apply review 2: it has not been opened; tick opens reviews when they fall due");
    assert_eq!(host.state(), &before);

    let r = gov(&mut host, json!({"apply_review": {"review": 1}})).unwrap();
    assert_eq!(
        call_msg(&r.messages[0]),
        ("treasury".into(), json!({"set_split": {"fixed": {"shares": {STUDIO: 7500, TELCO: 2500}}}}))
    );
    assert_eq!(r.events[0].kind, "review_applied");
    assert_eq!(status(&mut host).last_applied_review, 1);
    let err = gov(&mut host, json!({"apply_review": {"review": 1}})).unwrap_err();
    assert!(err.starts_with("cannot apply review 1: it was already applied at"), "{err}");
}

#[test]
fn an_older_review_cannot_override_a_newer_one() {
    let mut host = setup();
    host.set_time_ms(START + 200 * DAY); // both reviews are due: one tick opens both
    let r = host.handle(TELCO, &json!({"tick": {}})).unwrap();
    assert_eq!(r.data_as::<Value>().unwrap(), Some(json!({"ended": false, "opened_reviews": [1, 2]})));
    assert_eq!(r.messages.len(), 2);
    gov(&mut host, json!({"apply_review": {"review": 2}})).unwrap();
    let err = gov(&mut host, json!({"apply_review": {"review": 1}})).unwrap_err();
    assert_eq!(err, "cannot apply review 1: review 2 is newer and already applied");
    let reviews: ReviewsResponse = host.query(&json!({"reviews": {}})).unwrap();
    let st: Vec<&str> = reviews.reviews.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(st, ["superseded", "applied"]);
}

#[test]
fn missing_kpis_count_at_the_floor_and_a_waterfall_frame_is_kept() {
    let mut c = config();
    c["split_rule"]["waterfall"] = json!({"recoup": true});
    let mut host = setup_with(c);
    host.set_time_ms(START + 90 * DAY);
    // Nothing recorded: both at the 50% floor, so the base split stands.
    host.handle(TELCO, &json!({"tick": {}})).unwrap();
    let r = gov(&mut host, json!({"apply_review": {"review": 1}})).unwrap();
    assert_eq!(
        call_msg(&r.messages[0]).1,
        json!({"set_split": {"waterfall": {"recoup": true, "tranches": [],
            "rest": {"fixed": {"shares": {STUDIO: 6000, TELCO: 4000}}}}}})
    );
}

#[test]
fn every_ms_schedules_number_the_periods_and_a_tick_opens_at_most_eight() {
    let mut c = config();
    c["reviews"] = json!({"every_ms": DAY});
    c.as_object_mut().unwrap().remove("split_rule");
    let mut host = setup_with(c);
    host.set_time_ms(START + 20 * DAY);
    let r = host.handle(STUDIO, &json!({"tick": {}})).unwrap();
    assert_eq!(
        r.data_as::<Value>().unwrap(),
        Some(json!({"ended": false, "opened_reviews": [1, 2, 3, 4, 5, 6, 7, 8]}))
    );
    let (_, msg) = call_msg(&r.messages[7]);
    assert_eq!(msg["propose"]["title"], json!("Term review 8 (KPI period 8)"));
    let s = status(&mut host);
    assert_eq!(s.next_review.unwrap().number, 9);
    // Without a split rule, applying a review only records it.
    let r = gov(&mut host, json!({"apply_review": {"review": 3}})).unwrap();
    assert!(r.messages.is_empty());
    let reviews: ReviewsResponse = host.query(&json!({"reviews": {"start_after": 7, "limit": 3}})).unwrap();
    let st: Vec<(u64, &str)> = reviews.reviews.iter().map(|r| (r.number, r.status.as_str())).collect();
    assert_eq!(st, [(8, "opened"), (9, "due"), (10, "due")]);
}

#[test]
fn governance_replaces_or_removes_the_split_rule() {
    let mut host = setup();
    let rule = json!({"base_bps": {STUDIO: 5000, TELCO: 5000}});
    let before = host.state().clone();
    let err = host.handle(TELCO, &json!({"set_split_rule": {"split_rule": rule}})).unwrap_err();
    assert!(
        err.starts_with("not allowed: only the governance module \"voting\" may change the split rule"),
        "{err}"
    );
    let err =
        gov(&mut host, json!({"set_split_rule": {"split_rule": {"base_bps": {STUDIO: 10001}}}})).unwrap_err();
    assert_eq!(err, "invalid split rule: base_bps must add up to 10000, they add up to 10001");
    assert_eq!(host.state(), &before);
    gov(&mut host, json!({"set_split_rule": {"split_rule": rule}})).unwrap();
    let p: SplitPreview = host.query(&json!({"preview_split": {"period": "2026-Q1"}})).unwrap();
    assert_eq!(p.split, Some(BTreeMap::from([(STUDIO.into(), 5000), (TELCO.into(), 5000)])));
    gov(&mut host, json!({"set_split_rule": {"split_rule": null}})).unwrap();
    let p: SplitPreview = host.query(&json!({"preview_split": {"period": "2026-Q1"}})).unwrap();
    assert_eq!(p.split, None);
}

#[test]
fn malformed_messages_fail_clearly_and_change_nothing() {
    let mut host = setup();
    let before = host.state().clone();
    let err = host.handle(STUDIO, &json!({"tock": {}})).unwrap_err();
    assert!(err.starts_with("invalid handle message: unknown variant `tock`, expected one of"), "{err}");
    let err = host.handle_raw(STUDIO, b"not json").unwrap_err();
    assert!(err.starts_with("invalid handle message: expected value at line 1 column 1"), "{err}");
    let err = host.query_raw(br#"{"milestone":{}}"#).unwrap_err();
    assert!(err.starts_with("invalid query message: missing field `id`"), "{err}");
    assert_eq!(host.state(), &before);
}

// ----- the split arithmetic -----

fn rule(base: &[(&str, u64)], targets: &[(&str, &str, u64)], min: u64, max: u64) -> SplitRule {
    SplitRule {
        base_bps: base.iter().map(|(m, b)| (m.to_string(), *b)).collect(),
        targets: targets
            .iter()
            .map(|(metric, member, target)| KpiTarget {
                metric: metric.to_string(),
                member: member.to_string(),
                target: *target,
            })
            .collect(),
        min_attainment_bps: min,
        max_attainment_bps: max,
        waterfall: None,
    }
}

fn values(v: &[(&str, Option<u64>)]) -> BTreeMap<String, Option<u64>> {
    v.iter().map(|(m, x)| (m.to_string(), *x)).collect()
}

#[test]
fn attainment_is_clamped_averaged_and_scaled_with_largest_remainder() {
    let r = rule(&[("a", 3334), ("b", 3333), ("c", 3333)], &[("x", "a", 3), ("y", "a", 100)], 0, 20000);
    // a: x 2/3 = 6666 bps, y 300/100 capped at 20000 → mean 13333; b, c neutral 10000.
    let p = split_from_values(&r, &values(&[("x", Some(2)), ("y", Some(300))]));
    assert_eq!(p.attainment_bps["a"], 13333);
    let split = p.split.unwrap();
    assert_eq!(split.values().sum::<u64>(), 10000);
    // Weights: a 3334*13333 = 44452222, b = c = 33330000. Floors 4000, 2999, 2999;
    // the two bps left go to the largest remainders, b's and c's.
    assert_eq!(split, BTreeMap::from([("a".into(), 4000), ("b".into(), 3000), ("c".into(), 3000)]));
}

#[test]
fn equal_remainders_go_to_the_lower_member_id() {
    let r = rule(&[("a", 3334), ("b", 3333), ("c", 3333)], &[("x", "a", 1)], 0, 20000);
    // a at 0 → only b and c weigh, equally: 5000 each exactly.
    let p = split_from_values(&r, &values(&[("x", Some(0))]));
    assert_eq!(p.split.unwrap(), BTreeMap::from([("a".into(), 0), ("b".into(), 5000), ("c".into(), 5000)]));
    // Three equal weights: 3333 each and the last bps to the lowest id.
    let r = rule(&[("a", 3000), ("b", 3000), ("c", 4000)], &[("x", "c", 4)], 0, 20000);
    let p = split_from_values(&r, &values(&[("x", Some(3))])); // c: 4000 * 7500 = 3000 * 10000
    assert_eq!(
        p.split.unwrap(),
        BTreeMap::from([("a".into(), 3334), ("b".into(), 3333), ("c".into(), 3333)])
    );
}

#[test]
fn all_zero_weights_fall_back_to_the_base_split_and_huge_values_saturate() {
    let r = rule(&[("a", 7000), ("b", 3000)], &[("x", "a", 5), ("y", "b", 5)], 0, 20000);
    let p = split_from_values(&r, &values(&[("x", None), ("y", Some(0))]));
    assert_eq!(p.split.unwrap(), BTreeMap::from([("a".into(), 7000), ("b".into(), 3000)]));
    let p = split_from_values(&r, &values(&[("x", Some(u64::MAX)), ("y", Some(5))]));
    assert_eq!(p.attainment_bps["a"], 20000);
    let split = p.split.unwrap();
    // 7000*20000 : 3000*10000 = 140 : 30
    assert_eq!(split, BTreeMap::from([("a".into(), 8235), ("b".into(), 1765)]));
}

#[test]
fn splits_always_add_up_to_10000() {
    let r = rule(
        &[("a", 1), ("b", 4999), ("c", 2500), ("d", 2500)],
        &[("x", "a", 7), ("y", "b", 13), ("z", "c", 1000)],
        100,
        30000,
    );
    for x in 0..40u64 {
        for y in [0u64, 1, 5, 12, 13, 14, 100] {
            for z in [None, Some(1u64), Some(999), Some(5000)] {
                let p = split_from_values(&r, &values(&[("x", Some(x)), ("y", Some(y)), ("z", z)]));
                let split = p.split.unwrap();
                assert_eq!(split.values().sum::<u64>(), 10000, "x={x} y={y} z={z:?}");
            }
        }
    }
}

#[test]
fn the_treasury_message_leaves_zero_shares_out() {
    let split = BTreeMap::from([("a".to_string(), 0), ("b".to_string(), 10000)]);
    let msg = serde_json::to_value(set_split_msg(None, &split)).unwrap();
    assert_eq!(msg, json!({"set_split": {"fixed": {"shares": {"b": 10000}}}}));
}

#[test]
fn only_governance_approves_a_milestone_and_only_once_it_is_done() {
    let mut host = setup();
    // An owner cannot approve its own milestone, done or not.
    let before = host.state().clone();
    let err = host.handle(TELCO, &json!({"approve_milestone": {"id": "pilot"}})).unwrap_err();
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" may approve milestones; propose it there"
    );
    // Governance approves nothing not yet marked done, nor an unknown milestone.
    let err = gov(&mut host, json!({"approve_milestone": {"id": "pilot"}})).unwrap_err();
    assert!(err.starts_with("invalid milestone: \"pilot\" is not marked done yet; its owners"), "{err}");
    let err = gov(&mut host, json!({"approve_milestone": {"id": "nope"}})).unwrap_err();
    assert_eq!(err, "there is no milestone \"nope\"");
    assert_eq!(host.state(), &before);

    host.handle(TELCO, &json!({"complete_milestone": {"id": "pilot"}})).unwrap();
    let m: MilestoneView = host.query(&json!({"milestone": {"id": "pilot"}})).unwrap();
    assert!(!m.milestone.is_approved(), "done is not approved");
    gov(&mut host, json!({"approve_milestone": {"id": "pilot"}})).unwrap();
    let m: MilestoneView = host.query(&json!({"milestone": {"id": "pilot"}})).unwrap();
    assert_eq!(m.milestone.approved.as_ref().map(|a| a.by.as_str()), Some("module:voting"));
    let err = gov(&mut host, json!({"approve_milestone": {"id": "pilot"}})).unwrap_err();
    assert!(err.contains("was already approved"), "{err}");
}
