//! The membership module's behaviour, run natively through the SDK's
//! `MockHost`: admission flows, resignation, expulsion, units and roles,
//! voting-power history, and that bad calls fail clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use membership::{HasRoleResponse, MemberInfo, MembersResponse, PowerResponse, Totals, polypact_dispatch};
use polypact_sdk::testing::MockHost;
use polypact_sdk::{Message, SystemMsg};
use serde_json::{Value, json};

const TERMS: &str = "7e4a0c5d9e2b8f31c6a4d2e0b9f7a5c3e1d9b7f5a3c1e9d7b5f3a1c9e7d5b3f1";
const ALICE: &str = "pm1alice";
const BOB: &str = "pm1bob";
const CAROL: &str = "pm1carol";
const DAVE: &str = "pm1dave";
const GOV: &str = "voting";

fn setup() -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB]).set_terms(TERMS);
    host.set_height(1);
    host.init(
        ALICE,
        &json!({"members": [
            {"member": ALICE, "voting_units": 100, "economic_units": 100, "roles": ["admin"]},
            {"member": BOB, "voting_units": 50, "economic_units": 10}
        ], "governance": GOV}),
    )
    .unwrap();
    host
}

fn member(host: &mut MockHost, who: &str) -> MemberInfo {
    host.query(&json!({"member": {"member": who}})).unwrap()
}

fn totals(host: &mut MockHost) -> Totals {
    host.query(&json!({"totals": {}})).unwrap()
}

fn power_at(host: &mut MockHost, who: &str, height: u64) -> u64 {
    host.query::<PowerResponse>(&json!({"voting_power_at": {"member": who, "height": height}})).unwrap().power
}

fn total_at(host: &mut MockHost, height: u64) -> u64 {
    host.query::<PowerResponse>(&json!({"total_voting_power_at": {"height": height}})).unwrap().power
}

#[test]
fn init_records_members_and_totals() {
    let mut host = setup();
    let a = member(&mut host, ALICE);
    assert_eq!((a.record.voting_units, a.record.economic_units, a.record.active), (100, 100, true));
    assert!(a.record.roles.contains("admin"));
    assert_eq!(
        totals(&mut host),
        Totals { voting_units: 150, economic_units: 110, former_economic_units: 0, members: 2 }
    );
    let page: MembersResponse = host.query(&json!({"members": {"limit": 1}})).unwrap();
    assert_eq!(page.members.len(), 1);
    assert_eq!(page.members[0].member, ALICE);
    let page: MembersResponse = host.query(&json!({"members": {"start_after": ALICE}})).unwrap();
    assert_eq!(page.members[0].member, BOB);
}

#[test]
fn init_refuses_bad_configs_and_stores_nothing() {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE]).set_terms(TERMS);
    let err = host
        .init(ALICE, &json!({"members": [{"member": CAROL, "voting_units": 1}], "governance": GOV}))
        .unwrap_err();
    assert!(err.contains("pm1carol is not a participant"), "{err}");
    let err = host.init(ALICE, &json!({"members": [{"member": ALICE}], "governance": GOV})).unwrap_err();
    assert!(err.contains("would hold no units"), "{err}");
    let err = host.init(ALICE, &json!({"members": [], "governance": GOV})).unwrap_err();
    assert!(err.contains("at least one founding member"), "{err}");
    let err = host
        .init(ALICE, &json!({"members": [{"member": ALICE, "voting_units": 1}, {"member": ALICE, "voting_units": 1}], "governance": GOV}))
        .unwrap_err();
    assert!(err.contains("listed twice"), "{err}");
    assert!(host.state().is_empty());
}

#[test]
fn admission_by_vote_returns_add_participant() {
    let mut host = setup();
    host.set_height(5);
    host.handle(
        BOB,
        &json!({"apply": {"applicant": CAROL, "voting_units": 30, "economic_units": 5, "sponsor": BOB}}),
    )
    .unwrap();
    // Not from governance: refused.
    let before = host.state().clone();
    let err = host.handle(ALICE, &json!({"admit": {"member": CAROL}})).unwrap_err();
    assert!(err.starts_with("not allowed: only the governance module \"voting\" may admit"), "{err}");
    assert_eq!(host.state(), &before);
    let r = host.handle_from_module(GOV, ALICE, &json!({"admit": {"member": CAROL}})).unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::AddParticipant { member: CAROL.into() })]);
    assert_eq!(r.events[0].kind, "member_added");
    assert_eq!(r.events[0].get("via"), Some("application"));
    let c = member(&mut host, CAROL);
    assert_eq!((c.record.voting_units, c.record.economic_units), (30, 5));
    assert_eq!(power_at(&mut host, CAROL, 4), 0);
    assert_eq!(power_at(&mut host, CAROL, 5), 30);
    assert_eq!(total_at(&mut host, 4), 150);
    assert_eq!(total_at(&mut host, 5), 180);
    let apps: Vec<Value> = host.query(&json!({"applications": {}})).unwrap();
    assert!(apps.is_empty());
}

#[test]
fn invitation_flow_needs_a_second_admin_or_governance() {
    let mut host = setup();
    host.handle(ALICE, &json!({"invite": {"invitee": CAROL, "voting_units": 10, "roles": ["treasurer"]}}))
        .unwrap();
    let err = host.handle(ALICE, &json!({"admit_invited": {"invitee": CAROL}})).unwrap_err();
    assert!(err.contains("another admin or the governance module must admit"), "{err}");
    let err = host.handle(BOB, &json!({"invite": {"invitee": DAVE, "voting_units": 1}})).unwrap_err();
    assert!(err.starts_with("not allowed: only a member with role \"admin\""), "{err}");
    let r = host.handle_from_module(GOV, ALICE, &json!({"admit_invited": {"invitee": CAROL}})).unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::AddParticipant { member: CAROL.into() })]);
    let has: HasRoleResponse =
        host.query(&json!({"has_role": {"member": CAROL, "role": "treasurer"}})).unwrap();
    assert!(has.has_role);
    let err = host.handle(ALICE, &json!({"admit_invited": {"invitee": DAVE}})).unwrap_err();
    assert_eq!(err, "there is no pending invitation for pm1dave");
}

#[test]
fn resignation_keeps_the_economic_claim() {
    let mut host = setup();
    host.set_height(3);
    let r = host.handle(BOB, &json!({"resign": {}})).unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::RemoveParticipant { member: BOB.into() })]);
    let b = member(&mut host, BOB);
    assert_eq!((b.record.voting_units, b.record.economic_units, b.record.active), (0, 10, false));
    assert_eq!(
        totals(&mut host),
        Totals { voting_units: 100, economic_units: 100, former_economic_units: 10, members: 1 }
    );
    assert_eq!(power_at(&mut host, BOB, 2), 50);
    assert_eq!(power_at(&mut host, BOB, 3), 0);
    let err = host.handle(BOB, &json!({"resign": {}})).unwrap_err();
    assert_eq!(err, "pm1bob is no longer a member");
}

#[test]
fn expelled_members_voting_units_turn_economic() {
    let mut host = setup();
    host.set_height(7);
    let err = host.handle(ALICE, &json!({"expel": {"member": BOB}})).unwrap_err();
    assert!(err.contains("only the governance module"), "{err}");
    let r = host.handle_from_module(GOV, ALICE, &json!({"expel": {"member": BOB}})).unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::RemoveParticipant { member: BOB.into() })]);
    assert_eq!(r.events[0].kind, "member_expelled");
    assert_eq!(r.events[0].get("economic_claim"), Some("60"));
    let b = member(&mut host, BOB);
    assert_eq!((b.record.voting_units, b.record.economic_units, b.record.active), (0, 60, false));
    assert!(b.record.roles.is_empty());
    assert_eq!(totals(&mut host).former_economic_units, 60);
    assert_eq!(total_at(&mut host, 6), 150);
    assert_eq!(total_at(&mut host, 7), 100);
}

#[test]
fn units_and_roles_change_with_history() {
    let mut host = setup();
    host.set_height(4);
    host.handle(ALICE, &json!({"set_units": {"member": BOB, "voting_units": 70}})).unwrap();
    host.set_height(9);
    host.handle_from_module(GOV, BOB, &json!({"set_units": {"member": BOB, "voting_units": 5}})).unwrap();
    assert_eq!(power_at(&mut host, BOB, 1), 50);
    assert_eq!(power_at(&mut host, BOB, 3), 50);
    assert_eq!(power_at(&mut host, BOB, 4), 70);
    assert_eq!(power_at(&mut host, BOB, 8), 70);
    assert_eq!(power_at(&mut host, BOB, 9), 5);
    assert_eq!(power_at(&mut host, BOB, u64::MAX), 5);
    assert_eq!(power_at(&mut host, BOB, 0), 0);
    assert_eq!(total_at(&mut host, 8), 170);
    host.handle(ALICE, &json!({"grant_role": {"member": BOB, "role": "treasurer"}})).unwrap();
    let err = host.handle(ALICE, &json!({"grant_role": {"member": BOB, "role": "treasurer"}})).unwrap_err();
    assert_eq!(err, "pm1bob already has role \"treasurer\"");
    host.handle(ALICE, &json!({"revoke_role": {"member": BOB, "role": "treasurer"}})).unwrap();
    let has: HasRoleResponse =
        host.query(&json!({"has_role": {"member": BOB, "role": "treasurer"}})).unwrap();
    assert!(!has.has_role);
}

#[test]
fn bad_calls_fail_clearly_and_change_nothing() {
    let mut host = setup();
    let before = host.state().clone();
    let cases = [
        (
            BOB,
            json!({"set_units": {"member": ALICE, "voting_units": 1}}),
            "not allowed: only a member with role \"admin\"",
        ),
        (ALICE, json!({"set_units": {"member": CAROL, "voting_units": 1}}), "pm1carol is not a member"),
        (
            ALICE,
            json!({"set_units": {"member": BOB, "voting_units": 0, "economic_units": 0}}),
            "pm1bob would hold no units",
        ),
        (ALICE, json!({"invite": {"invitee": BOB, "voting_units": 1}}), "pm1bob is already a member"),
        (ALICE, json!({"invite": {"invitee": CAROL}}), "pm1carol would hold no units"),
        (
            CAROL,
            json!({"apply": {"applicant": DAVE, "voting_units": 1}}),
            "not allowed: only a current member may sponsor",
        ),
        (
            BOB,
            json!({"apply": {"applicant": DAVE, "voting_units": 1, "sponsor": ALICE}}),
            "the sponsor must be the caller",
        ),
        (ALICE, json!({"grant_role": {"member": BOB, "role": ""}}), "role names must be 1 to 64"),
        (ALICE, json!({"dance": {}}), "invalid handle message: unknown variant `dance`"),
    ];
    for (who, msg, want) in cases {
        let err = host.handle(who, &msg).unwrap_err();
        assert!(err.starts_with(want), "{msg}: got {err:?}, want {want:?}");
        assert_eq!(host.state(), &before, "{msg} changed state");
    }
    let err = host.handle_from_module(GOV, ALICE, &json!({"admit": {"member": DAVE}})).unwrap_err();
    assert_eq!(err, "pm1dave has no pending application or invitation; give voting_units or economic_units");
    let err = host.handle_raw(ALICE, b"{not json").unwrap_err();
    assert!(err.starts_with("invalid handle message"), "{err}");
    let err = host.query::<Value>(&json!({"member": {"member": DAVE}})).unwrap_err();
    assert_eq!(err, "pm1dave is not a member");
    assert_eq!(host.state(), &before);
}

fn setup_with_managers() -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB]).set_terms(TERMS);
    host.set_height(1);
    host.init(
        ALICE,
        &json!({"members": [
            {"member": ALICE, "voting_units": 100, "economic_units": 100, "roles": ["admin"]},
            {"member": BOB, "voting_units": 50, "economic_units": 10}
        ], "governance": GOV, "managers": ["exit", "vesting"]}),
    )
    .unwrap();
    host
}

#[test]
fn managers_are_validated_and_shown_in_the_config() {
    let mut host = setup_with_managers();
    let config: Value = host.query(&json!({"config": {}})).unwrap();
    assert_eq!(
        config,
        json!({"governance": GOV, "managers": ["exit", "vesting"], "require_acceptance": false})
    );
    for managers in [json!(["exit", "exit"]), json!([""]), json!([GOV])] {
        let mut host = MockHost::new(polypact_dispatch);
        host.set_participants(&[ALICE]).set_terms(TERMS);
        let err = host
            .init(
                ALICE,
                &json!({"members": [{"member": ALICE, "voting_units": 1}], "governance": GOV, "managers": managers}),
            )
            .unwrap_err();
        assert!(err.starts_with("managers must name distinct module instances"), "{managers}: {err}");
        assert!(host.state().is_empty());
    }
    // Without `managers` the default is none.
    let mut host = setup();
    let config: Value = host.query(&json!({"config": {}})).unwrap();
    assert_eq!(config["managers"], json!([]));
}

#[test]
fn a_manager_sets_and_transfers_units_with_history() {
    let mut host = setup_with_managers();
    host.set_height(4);
    let r = host
        .handle_from_module(
            "vesting",
            ALICE,
            &json!({"transfer_units": {"from": ALICE, "to": BOB, "voting_units": 20, "economic_units": 30}}),
        )
        .unwrap();
    assert_eq!(r.events[0].kind, "units_transferred");
    assert_eq!(r.events[0].get("by"), Some("module:vesting"));
    let (a, b) = (member(&mut host, ALICE), member(&mut host, BOB));
    assert_eq!((a.record.voting_units, a.record.economic_units), (80, 70));
    assert_eq!((b.record.voting_units, b.record.economic_units), (70, 40));
    assert_eq!(power_at(&mut host, ALICE, 3), 100);
    assert_eq!(power_at(&mut host, BOB, 4), 70);
    assert_eq!(
        totals(&mut host),
        Totals { voting_units: 150, economic_units: 110, former_economic_units: 0, members: 2 }
    );
    // Governance may too; a manager may set units.
    host.handle_from_module(
        GOV,
        ALICE,
        &json!({"transfer_units": {"from": BOB, "to": ALICE, "economic_units": 5}}),
    )
    .unwrap();
    let r = host
        .handle_from_module("exit", ALICE, &json!({"set_units": {"member": BOB, "voting_units": 1}}))
        .unwrap();
    assert_eq!(r.events[0].get("by"), Some("module:exit"));
    assert_eq!(member(&mut host, BOB).record.voting_units, 1);
}

#[test]
fn a_former_members_claim_can_be_transferred_to_a_member() {
    let mut host = setup_with_managers();
    host.set_height(3);
    host.handle(BOB, &json!({"resign": {}})).unwrap(); // claim of 10 economic units
    host.handle_from_module(
        "exit",
        ALICE,
        &json!({"transfer_units": {"from": BOB, "to": ALICE, "economic_units": 4}}),
    )
    .unwrap();
    assert_eq!(member(&mut host, BOB).record.economic_units, 6);
    assert_eq!(
        totals(&mut host),
        Totals { voting_units: 100, economic_units: 104, former_economic_units: 6, members: 1 }
    );
    let before = host.state().clone();
    let err = host
        .handle_from_module(
            "exit",
            ALICE,
            &json!({"transfer_units": {"from": BOB, "to": ALICE, "voting_units": 1}}),
        )
        .unwrap_err();
    assert_eq!(err, "pm1bob holds 0 voting units, fewer than the 1 asked for");
    let err = host
        .handle_from_module(
            "exit",
            ALICE,
            &json!({"transfer_units": {"from": ALICE, "to": BOB, "economic_units": 1}}),
        )
        .unwrap_err();
    assert_eq!(err, "pm1bob is no longer a member");
    assert_eq!(host.state(), &before);
}

#[test]
fn bad_transfers_fail_clearly_and_change_nothing() {
    let mut host = setup_with_managers();
    let before = host.state().clone();
    let t = |from: &str, to: &str, v: u64, e: u64| json!({"transfer_units": {"from": from, "to": to, "voting_units": v, "economic_units": e}});
    let cases = [
        ("exit", t(ALICE, BOB, 0, 0), "invalid transfer: give voting_units and/or economic_units above 0"),
        ("exit", t(ALICE, ALICE, 1, 0), "invalid transfer: pm1alice cannot transfer units to itself"),
        ("exit", t(BOB, ALICE, 51, 0), "pm1bob holds 50 voting units, fewer than the 51 asked for"),
        ("exit", t(BOB, ALICE, 0, 11), "pm1bob holds 10 economic units, fewer than the 11 asked for"),
        ("exit", t(CAROL, ALICE, 1, 0), "pm1carol is not a member"),
        ("exit", t(ALICE, CAROL, 1, 0), "pm1carol is not a member"),
        (
            "treasury",
            t(ALICE, BOB, 1, 0),
            "not allowed: only the governance module \"voting\" or a manager module (exit, vesting) may transfer units",
        ),
        (
            "treasury",
            json!({"remove_member": {"member": BOB}}),
            "not allowed: only the governance module \"voting\" or a manager module (exit, vesting) may remove a member",
        ),
        (
            "exit",
            json!({"remove_member": {"member": BOB, "economic_units": 61}}),
            "pm1bob holds 60 voting and economic units together, fewer than the 61 asked for",
        ),
        ("exit", json!({"remove_member": {"member": CAROL}}), "pm1carol is not a member"),
    ];
    for (sender, msg, want) in cases {
        let err = host.handle_from_module(sender, ALICE, &msg).unwrap_err();
        assert_eq!(err, want, "{msg}");
        assert_eq!(host.state(), &before, "{msg} changed state");
    }
    // An admin's own op may not transfer (only modules that own the rule may).
    let err = host.handle(ALICE, &t(BOB, ALICE, 1, 0)).unwrap_err();
    assert!(err.starts_with("not allowed: only the governance module"), "{err}");
    assert_eq!(host.state(), &before);
}

#[test]
fn a_manager_removes_a_member_leaving_the_claim_it_names() {
    let mut host = setup_with_managers();
    host.set_height(6);
    let r = host
        .handle_from_module("exit", BOB, &json!({"remove_member": {"member": BOB, "economic_units": 0}}))
        .unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::RemoveParticipant { member: BOB.into() })]);
    assert_eq!(r.events[0].kind, "member_removed");
    assert_eq!(r.events[0].get("economic_claim"), Some("0"));
    assert_eq!(r.events[0].get("voting_units_dropped"), Some("50"));
    let b = member(&mut host, BOB);
    assert_eq!((b.record.voting_units, b.record.economic_units, b.record.active), (0, 0, false));
    assert_eq!(b.record.left_at, Some(6));
    assert_eq!(
        totals(&mut host),
        Totals { voting_units: 100, economic_units: 100, former_economic_units: 0, members: 1 }
    );
    assert_eq!(power_at(&mut host, BOB, 5), 50);
    assert_eq!(power_at(&mut host, BOB, 6), 0);
    let err = host.handle_from_module("exit", BOB, &json!({"remove_member": {"member": BOB}})).unwrap_err();
    assert_eq!(err, "pm1bob is no longer a member");
    // Governance may remove too, keeping a claim (here voting units become part of it).
    host.set_participants(&[ALICE, CAROL]).set_terms(TERMS);
    host.handle_from_module(
        GOV,
        ALICE,
        &json!({"admit": {"member": CAROL, "voting_units": 5, "economic_units": 5, "roles": ["admin"]}}),
    )
    .unwrap();
    host.handle_from_module(GOV, ALICE, &json!({"remove_member": {"member": CAROL, "economic_units": 8}}))
        .unwrap();
    let c = member(&mut host, CAROL);
    assert_eq!((c.record.economic_units, c.record.roles.len()), (8, 0));
    assert_eq!(totals(&mut host).former_economic_units, 8);
}

/// Issue 23: under `require_acceptance` an admitted newcomer holds nothing
/// until its own op accepts the terms as they stand; stale terms are
/// refused; what each member accepted, and when, is queryable (the
/// founders': the genesis).
#[test]
fn a_newcomer_holds_nothing_until_it_accepts_the_current_terms() {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB]).set_terms(TERMS);
    host.set_height(1);
    host.init(
        ALICE,
        &json!({"members": [{"member": ALICE, "voting_units": 100, "economic_units": 100}],
            "governance": GOV, "require_acceptance": true}),
    )
    .unwrap();
    let founder: Value = host.query(&json!({"acceptance": {"member": ALICE}})).unwrap();
    assert_eq!(founder["accepted"]["terms"], json!(TERMS));
    assert_eq!(founder["accepted"]["height"], json!(1));
    let admitted = host
        .handle_from_module(
            GOV,
            ALICE,
            &json!({"admit": {"member": CAROL, "voting_units": 20, "economic_units": 20}}),
        )
        .unwrap();
    assert_eq!(admitted.messages.len(), 1, "the newcomer becomes a participant, to sign its acceptance");
    // No units, no voting power, not in the totals, until it accepts.
    assert!(host.query::<Value>(&json!({"member": {"member": CAROL}})).is_err());
    assert_eq!(totals(&mut host).voting_units, 100);
    let power: Value = host.query(&json!({"voting_power_at": {"member": CAROL, "height": 5}})).unwrap();
    assert_eq!(power["power"], json!(0));
    // Someone else cannot accept for it; stale terms are refused.
    let err = host.handle(BOB, &json!({"accept_terms": {"terms": TERMS}})).unwrap_err();
    assert!(err.contains("has no admission waiting"), "{err}");
    host.set_terms("an-upgrade-later");
    let before = host.state().clone();
    let err = host.handle(CAROL, &json!({"accept_terms": {"terms": TERMS}})).unwrap_err();
    assert!(err.contains("the terms changed since they were read"), "{err}");
    assert_eq!(host.state(), &before);
    host.set_height(7);
    host.handle(CAROL, &json!({"accept_terms": {"terms": "an-upgrade-later"}})).unwrap();
    assert_eq!(member(&mut host, CAROL).record.voting_units, 20);
    assert_eq!(totals(&mut host).voting_units, 120);
    let carol: Value = host.query(&json!({"acceptance": {"member": CAROL}})).unwrap();
    assert_eq!(
        (carol["accepted"]["terms"].clone(), carol["accepted"]["height"].clone()),
        (json!("an-upgrade-later"), json!(7))
    );
    assert_eq!(carol["pending"], Value::Null);
}

#[test]
fn a_partnership_member_is_admitted_and_removed_without_participant_changes() {
    const VENTURE: &str = "pp1venture";
    let mut host = setup();
    let admit = json!({"admit": {"member": VENTURE, "voting_units": 20, "economic_units": 30}});
    let r = host.handle_from_module(GOV, ALICE, &admit).unwrap();
    assert!(r.messages.is_empty(), "a partnership is never a participant: {:?}", r.messages);
    assert_eq!(r.events[0].kind, "member_added");
    let v = member(&mut host, VENTURE);
    assert_eq!((v.record.voting_units, v.record.economic_units, v.record.active), (20, 30, true));
    // It resigns by a message of its own decision (it is the caller).
    let r = host.handle(VENTURE, &json!({"resign": {}})).unwrap();
    assert!(r.messages.is_empty(), "{:?}", r.messages);
    assert!(!member(&mut host, VENTURE).record.active);
    // A founding partnership member needs no participant either.
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE]).set_terms(TERMS);
    let config = json!({"members": [
        {"member": ALICE, "voting_units": 1, "economic_units": 1},
        {"member": VENTURE, "voting_units": 1, "economic_units": 1}
    ], "governance": GOV});
    host.init(ALICE, &config).unwrap();
    assert!(member(&mut host, VENTURE).record.active);
    let mut fresh = MockHost::new(polypact_dispatch);
    fresh.set_participants(&[ALICE]).set_terms(TERMS);
    let err = fresh
        .init(ALICE, &json!({"members": [{"member": DAVE, "voting_units": 1, "economic_units": 1}], "governance": GOV}))
        .unwrap_err();
    assert!(err.contains("is not a participant"), "{err}");
}
