//! The vesting module's behaviour, run natively through the SDK's
//! `MockHost` with a fake membership module: the schedule maths (linear,
//! stepped, cliffs, floors), who may create grants, releases through
//! membership `set_units`, cancellation on exit with and without the vested
//! part, and bad calls that fail clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use membership_api::{Member, MemberInfo};
use polypact_sdk::Message;
use polypact_sdk::testing::MockHost;
use serde_json::{Value, json};
use vesting::{
    CreatedResponse, Grant, GrantsResponse, ReleasedResponse, Schedule, VestedResponse, polypact_dispatch,
};

const ALICE: &str = "pm1alice"; // admin, 100 economic, 10 voting
const BOB: &str = "pm1bob"; // 50 economic, 5 voting
const FORMER: &str = "pm1former";
const GOV: &str = "voting";
const T0: u64 = 1_000_000;
const YEAR: u64 = 360_000;

fn setup() -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB]);
    host.on_query("membership", |q: Value| {
        if let Some(m) = q.get("member") {
            let who = m["member"].as_str().unwrap();
            // Membership's answer, built from its published types.
            let record = |voting_units, economic_units, active| MemberInfo {
                member: who.into(),
                record: Member {
                    voting_units,
                    economic_units,
                    roles: Default::default(),
                    active,
                    joined_at: 0,
                    left_at: None,
                },
            };
            return match who {
                ALICE => Ok(record(10, 100, true)),
                BOB => Ok(record(5, 50, true)),
                FORMER => Ok(record(0, 7, false)),
                _ => Err(format!("{who} is not a member")),
            }
            .map(|info| serde_json::to_value(info).unwrap());
        }
        if let Some(r) = q.get("has_role") {
            return Ok(json!({"has_role": r["member"] == ALICE && r["role"] == "admin"}));
        }
        Err(format!("unexpected query {q}"))
    });
    host.set_time_ms(T0);
    host.init(
        ALICE,
        &json!({"membership": "membership", "governance": GOV, "exit_module": "exit", "admin_role": "admin"}),
    )
    .unwrap();
    host
}

fn grant_msg(member: &str, units: u64, cliff: u64, steps: Option<u32>) -> Value {
    json!({"create_grant": {"member": member, "units": units, "start_ms": T0, "cliff_ms": cliff,
        "duration_ms": YEAR, "steps": steps}})
}

fn create(host: &mut MockHost, msg: &Value) -> u64 {
    let r = host.handle_from_module(GOV, ALICE, msg).unwrap();
    r.data_as::<CreatedResponse>().unwrap().unwrap().id
}

fn vested(host: &mut MockHost, member: &str, at: u64) -> VestedResponse {
    host.query(&json!({"vested": {"member": member, "at_ms": at}})).unwrap()
}

fn set_units(msg: &Message) -> Value {
    match msg {
        Message::Call { module, msg } => {
            assert_eq!(module, "membership");
            serde_json::from_slice::<Value>(msg).unwrap()["set_units"].clone()
        }
        other => panic!("expected a membership call, got {other:?}"),
    }
}

#[test]
fn linear_schedule_floors_and_ends_exact() {
    let s = Schedule { start_ms: 100, cliff_ms: 0, duration_ms: 3, steps: None };
    assert_eq!((s.vested(10, 99), s.vested(10, 100), s.vested(10, 101), s.vested(10, 102)), (0, 0, 3, 6));
    assert_eq!((s.vested(10, 103), s.vested(10, u64::MAX)), (10, 10));
    // Largest values: no overflow in the product.
    let big = Schedule { start_ms: 0, cliff_ms: 0, duration_ms: u64::MAX, steps: None };
    assert_eq!(big.vested(u64::MAX, u64::MAX - 1), u64::MAX - 1);
}

#[test]
fn cliff_holds_everything_back_then_catches_up() {
    let s = Schedule { start_ms: 0, cliff_ms: 250, duration_ms: 1000, steps: None };
    assert_eq!(s.vested(1000, 249), 0);
    assert!(s.in_cliff(249) && !s.in_cliff(250));
    assert_eq!(s.vested(1000, 250), 250);
    assert_eq!(s.vested(1000, 999), 999);
}

#[test]
fn steps_are_exact() {
    let s = Schedule { start_ms: 0, cliff_ms: 0, duration_ms: 12, steps: Some(4) };
    // Steps every 3 ms: 0, 25, 50, 75, 100 of 100; 10 of 3 steps: 3, 6, 10.
    let got: Vec<u64> = [0, 2, 3, 5, 6, 9, 11, 12].iter().map(|t| s.vested(100, *t)).collect();
    assert_eq!(got, [0, 0, 25, 25, 50, 75, 75, 100]);
    let thirds = Schedule { start_ms: 0, cliff_ms: 0, duration_ms: 3, steps: Some(3) };
    assert_eq!([1, 2, 3].map(|t| thirds.vested(10, t)), [3, 6, 10]);
}

#[test]
fn governance_and_admins_create_grants_others_cannot() {
    let mut host = setup();
    let id = create(&mut host, &grant_msg(BOB, 1200, YEAR / 4, None));
    assert_eq!(id, 1);
    // An admin's own op.
    let r = host.handle(ALICE, &grant_msg(BOB, 10, 0, Some(2))).unwrap();
    assert_eq!(r.data_as::<CreatedResponse>().unwrap().unwrap().id, 2);
    assert_eq!(r.events[0].kind, "grant_created");
    assert_eq!(r.events[0].get("by"), Some(ALICE));
    let before = host.state().clone();
    let err = host.handle(BOB, &grant_msg(BOB, 10, 0, None)).unwrap_err();
    assert_eq!(
        err,
        "not allowed: only the governance module \"voting\" or a member with role \"admin\" may create grants"
    );
    let err = host.handle_from_module("treasury", ALICE, &grant_msg(BOB, 10, 0, None)).unwrap_err();
    assert!(err.starts_with("not allowed:"), "{err}");
    assert_eq!(host.state(), &before);
    let grants: GrantsResponse = host.query(&json!({"grants": {"member": BOB}})).unwrap();
    assert_eq!(grants.grants.iter().map(|g| g.units).collect::<Vec<_>>(), [1200, 10]);
}

#[test]
fn bad_grants_are_refused_and_change_nothing() {
    let mut host = setup();
    let before = host.state().clone();
    let cases = [
        (grant_msg("pm1stranger", 10, 0, None), "invalid grant: "),
        (grant_msg(FORMER, 10, 0, None), "pm1former is not a current member"),
        (grant_msg(BOB, 0, 0, None), "invalid grant: units must be above 0"),
        (
            grant_msg(BOB, 10, YEAR + 1, None),
            "invalid grant: cliff_ms (360001) cannot exceed duration_ms (360000)",
        ),
        (grant_msg(BOB, 10, 0, Some(0)), "invalid grant: steps must be 1 to 10000, got 0"),
        (
            json!({"create_grant": {"member": BOB, "units": 1, "start_ms": 0, "cliff_ms": 0, "duration_ms": 0}}),
            "invalid grant: duration_ms must be above 0",
        ),
        (
            json!({"create_grant": {"member": BOB, "units": -1, "start_ms": 0, "cliff_ms": 0, "duration_ms": 5}}),
            "invalid handle message: ",
        ),
        (
            json!({"create_grant": {"member": BOB, "units": 1.5, "start_ms": 0, "cliff_ms": 0, "duration_ms": 5}}),
            "invalid handle message: ",
        ),
    ];
    for (msg, want) in cases {
        let err = host.handle_from_module(GOV, ALICE, &msg).unwrap_err();
        if want == "invalid grant: " {
            assert!(err.starts_with("pm1stranger is not a current member"), "{err}");
        } else {
            assert!(err.starts_with(want), "{msg}: {err}");
        }
    }
    let err = host.handle_raw(ALICE, b"{\"claim\":").unwrap_err();
    assert!(err.starts_with("invalid handle message: "), "{err}");
    assert_eq!(host.state(), &before);
}

#[test]
fn claims_release_what_vested_through_membership() {
    let mut host = setup();
    create(&mut host, &grant_msg(BOB, 1000, YEAR / 4, None));
    create(
        &mut host,
        &json!({"create_grant": {"member": BOB, "units": 100, "unit_kind": "voting",
        "start_ms": T0, "cliff_ms": 0, "duration_ms": YEAR}}),
    );
    // Inside the cliff: nothing to claim, and the error says so.
    host.set_time_ms(T0 + YEAR / 8);
    let v = vested(&mut host, BOB, T0 + YEAR / 8);
    assert!(v.in_cliff);
    assert_eq!((v.economic.vested, v.economic.unvested, v.voting.vested), (0, 1000, 12));
    host.set_time_ms(T0 + YEAR / 10);
    let r = host.handle(BOB, &json!({"claim": {}})).unwrap();
    // Only the voting grant has vested (10 of 100).
    assert_eq!(set_units(&r.messages[0]), json!({"member": BOB, "voting_units": 15, "economic_units": 50}));
    host.set_time_ms(T0 + YEAR / 2);
    // Anyone may trigger a release: it only moves what is due.
    let r = host.handle(ALICE, &json!({"release": {"member": BOB}})).unwrap();
    let out: ReleasedResponse = r.data_as().unwrap().unwrap();
    assert_eq!((out.economic, out.voting, out.forfeited), (500, 40, 0));
    // The fake membership still reports the old units; vesting adds to what it reads.
    assert_eq!(set_units(&r.messages[0]), json!({"member": BOB, "voting_units": 45, "economic_units": 550}));
    assert_eq!(r.events.iter().filter(|e| e.kind == "units_released").count(), 2);
    let err = host.handle(BOB, &json!({"claim": {}})).unwrap_err();
    assert_eq!(err, "pm1bob has nothing vested to release now");
    let v = vested(&mut host, BOB, T0 + YEAR / 2);
    assert_eq!((v.economic.released, v.economic.releasable, v.vested, v.unvested), (500, 0, 550, 550));
    // A claim through a module is refused: claim is the member's own op.
    let err = host.handle_from_module(GOV, BOB, &json!({"claim": {}})).unwrap_err();
    assert!(err.starts_with("not allowed: claim is an op of the member itself"), "{err}");
}

#[test]
fn cancel_on_exit_keeps_or_forfeits_the_vested_part() {
    let mut host = setup();
    let id = create(&mut host, &grant_msg(BOB, 1000, 0, None));
    host.set_time_ms(T0 + YEAR / 4);
    // Only the exit module may cancel on exit.
    let before = host.state().clone();
    let err = host.handle(BOB, &json!({"cancel_on_exit": {"member": BOB, "keep_vested": true}})).unwrap_err();
    assert_eq!(err, "not allowed: only the exit module \"exit\" may cancel grants on exit");
    assert_eq!(host.state(), &before);
    // Good leaver: the vested 250 move to the member, 750 are forfeited.
    let r = host
        .handle_from_module("exit", BOB, &json!({"cancel_on_exit": {"member": BOB, "keep_vested": true}}))
        .unwrap();
    assert_eq!(set_units(&r.messages[0]), json!({"member": BOB, "voting_units": 5, "economic_units": 300}));
    let out: ReleasedResponse = r.data_as().unwrap().unwrap();
    assert_eq!((out.economic, out.forfeited), (250, 750));
    let g: Grant = host.query(&json!({"grant": {"id": id}})).unwrap();
    assert_eq!((g.released, g.cancelled.as_ref().unwrap().forfeited), (250, 750));
    // Cancelled grants vest no further.
    let v = vested(&mut host, BOB, T0 + 2 * YEAR);
    assert_eq!((v.vested, v.unvested, v.in_cliff), (250, 0, false));

    // Bad leaver: nothing released, everything unreleased forfeited.
    let mut host = setup();
    create(&mut host, &grant_msg(BOB, 1000, YEAR / 2, None));
    host.set_time_ms(T0 + YEAR / 4);
    let r = host
        .handle_from_module("exit", BOB, &json!({"cancel_on_exit": {"member": BOB, "keep_vested": false}}))
        .unwrap();
    assert!(r.messages.is_empty());
    assert_eq!(r.data_as::<ReleasedResponse>().unwrap().unwrap().forfeited, 1000);
    assert_eq!(r.events[0].get("forfeited"), Some("1000"));
    // No grants: a harmless no-op.
    let r = host
        .handle_from_module("exit", ALICE, &json!({"cancel_on_exit": {"member": ALICE, "keep_vested": true}}))
        .unwrap();
    assert!(r.messages.is_empty() && r.events.is_empty());
}

#[test]
fn governance_cancels_one_grant() {
    let mut host = setup();
    let id = create(&mut host, &grant_msg(BOB, 100, 0, Some(4)));
    host.set_time_ms(T0 + YEAR / 2);
    let err = host.handle(ALICE, &json!({"cancel_grant": {"grant": id, "keep_vested": true}})).unwrap_err();
    assert!(err.starts_with("not allowed: only the governance module"), "{err}");
    let r = host
        .handle_from_module(GOV, ALICE, &json!({"cancel_grant": {"grant": id, "keep_vested": true}}))
        .unwrap();
    assert_eq!(set_units(&r.messages[0])["economic_units"], json!(100));
    let err = host
        .handle_from_module(GOV, ALICE, &json!({"cancel_grant": {"grant": id, "keep_vested": true}}))
        .unwrap_err();
    assert_eq!(err, "grant 1 is already cancelled");
    let err = host
        .handle_from_module(GOV, ALICE, &json!({"cancel_grant": {"grant": 9, "keep_vested": true}}))
        .unwrap_err();
    assert_eq!(err, "there is no grant 9");
}

#[test]
fn bad_config_is_refused() {
    let mut host = MockHost::new(polypact_dispatch);
    let err = host.init(ALICE, &json!({"membership": "", "governance": GOV})).unwrap_err();
    assert_eq!(err, "invalid vesting config: membership must name a module instance");
    let err = host.init(ALICE, &json!({"membership": "m", "governance": GOV, "extra": 1})).unwrap_err();
    assert!(err.starts_with("invalid init config: unknown field `extra`"), "{err}");
}

/// A vesting instance with a term module whose milestone `pilot` is
/// approved once `approved` is set; `launch` is never approved.
fn setup_gated() -> (MockHost, std::rc::Rc<std::cell::Cell<bool>>) {
    let mut host = setup();
    let approved = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = approved.clone();
    host.on_query("term", move |q: Value| {
        let id = q["milestone"]["id"].as_str().ok_or_else(|| format!("unexpected query {q}"))?.to_owned();
        if id != "pilot" && id != "launch" {
            return Err(format!("there is no milestone {id:?}"));
        }
        let approved =
            (id == "pilot" && flag.get()).then(|| json!({"at_ms": T0, "height": 3, "by": "module:voting"}));
        // The term module's answer, checked against its published type.
        let view: term_api::MilestoneView = serde_json::from_value(json!({
            "id": id, "title": "t", "due_ms": T0, "owners": [BOB], "done": null,
            "approved": approved, "status": "pending", "late": false
        }))
        .unwrap();
        Ok(serde_json::to_value(view).unwrap())
    });
    host.env_mut().module = "vesting".into();
    // Re-initialise with the term module named.
    host.init(
        ALICE,
        &json!({"membership": "membership", "governance": GOV, "exit_module": "exit", "admin_role": "admin",
                "term_module": "term"}),
    )
    .unwrap();
    (host, approved)
}

fn gated(member: &str, milestone: &str) -> Value {
    json!({"create_grant": {"member": member, "units": 100, "start_ms": T0, "duration_ms": YEAR,
                            "milestone": milestone}})
}

#[test]
fn a_gated_grant_vests_nothing_until_its_milestone_is_approved() {
    let (mut host, approved) = setup_gated();
    let id = create(&mut host, &gated(BOB, "pilot"));
    let grant: Grant = host.query(&json!({"grant": {"id": id}})).unwrap();
    assert_eq!(grant.milestone.as_deref(), Some("pilot"));
    host.set_time_ms(T0 + YEAR / 2);
    let v = vested(&mut host, BOB, T0 + YEAR / 2);
    assert_eq!((v.vested, v.unvested, v.economic.releasable), (0, 100, 0));
    let before = host.state().clone();
    let err = host.handle(BOB, &json!({"claim": {}})).unwrap_err();
    assert_eq!(err, format!("{BOB} has nothing vested to release now"));
    assert_eq!(host.state(), &before);

    // Approved: the schedule applies as if there had been no gate.
    approved.set(true);
    let v = vested(&mut host, BOB, T0 + YEAR / 2);
    assert_eq!((v.vested, v.unvested, v.economic.releasable), (50, 50, 50));
    let r = host.handle(BOB, &json!({"claim": {}})).unwrap();
    assert_eq!(set_units(&r.messages[0]), json!({"member": BOB, "voting_units": 5, "economic_units": 100}));
}

#[test]
fn a_gated_grant_cancelled_before_approval_forfeits_everything() {
    let (mut host, _) = setup_gated();
    create(&mut host, &gated(BOB, "launch"));
    host.set_time_ms(T0 + YEAR);
    let r = host.handle_from_module(
        "exit",
        ALICE,
        &json!({"cancel_on_exit": {"member": BOB, "keep_vested": true}}),
    );
    let out: ReleasedResponse = r.unwrap().data_as().unwrap().unwrap();
    assert_eq!((out.economic, out.forfeited), (0, 100));
}

#[test]
fn a_milestone_must_exist_and_needs_a_term_module() {
    let (mut host, _) = setup_gated();
    let before = host.state().clone();
    let err = host.handle_from_module(GOV, ALICE, &gated(BOB, "pilott")).unwrap_err();
    assert!(err.contains("there is no milestone \"pilott\""), "{err}");
    assert_eq!(host.state(), &before);
    let mut plain = setup();
    let err = plain.handle_from_module(GOV, ALICE, &gated(BOB, "pilot")).unwrap_err();
    assert_eq!(
        err,
        "invalid grant: a grant gated on milestone \"pilot\" needs the config's term_module, the term instance that holds it"
    );
}
