//! The disputes module natively through the SDK's `MockHost`, with a fake
//! membership (two members) and a fake voting module: a panel that must
//! agree, the freeze and release messages to the treasury, the windows,
//! and bad calls that fail clearly and change nothing.

#![allow(clippy::unwrap_used)] // tests

use disputes::{Dispute, Status, polypact_dispatch};
use polypact_sdk::Message;
use polypact_sdk::testing::MockHost;
use serde_json::{Value, json};

const ALICE: &str = "pm1alice";
const BOB: &str = "pm1bob";
const M1: &str = "pm1mediator1";
const M2: &str = "pm1mediator2";
const M3: &str = "pm1mediator3";

fn setup() -> MockHost {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB, M1, M2, M3]);
    host.on_query("membership", |q: Value| {
        let who = q["member"]["member"].as_str().unwrap_or_default().to_owned();
        if who == ALICE || who == BOB {
            Ok(json!({"member": who, "voting_units": 1, "economic_units": 1, "roles": [], "active": true,
                "joined_at": 0, "left_at": null}))
        } else {
            Err(format!("{who} is not a member"))
        }
    });
    host.set_time_ms(1_000);
    host.init(
        ALICE,
        &json!({"membership": "membership", "governance": "voting", "treasury": "treasury",
            "mediators": {"members": [M1, M2, M3], "quorum": 2}, "negotiation_ms": 100, "appeal_ms": 1000}),
    )
    .unwrap();
    host
}

fn dispute(host: &mut MockHost, id: u64) -> Dispute {
    host.query(&json!({"dispute": {"id": id}})).unwrap()
}

fn ruling(decision: &str) -> Value {
    json!({"decision": decision, "messages": [{"call": {"module": "treasury", "msg": {"reverse_entry": {"id": 7, "reason": "ruling"}}}}]})
}

#[test]
fn a_panel_rules_by_quorum_and_the_ruling_runs_after_the_window() {
    let mut host = setup();
    let raised = host
        .handle(
            BOB,
            &json!({"raise": {"subject": {"entry": {"id": 7}}, "claim": "never paid", "evidence": "email"}}),
        )
        .unwrap();
    assert_eq!(
        raised.messages,
        vec![Message::Call {
            module: "treasury".into(),
            msg: br#"{"freeze":{"subject":{"entry":7},"dispute":1}}"#.to_vec()
        }]
    );
    let err = host.handle(ALICE, &json!({"escalate": {"dispute": 1}})).unwrap_err();
    assert!(err.contains("negotiate"), "{err}");
    host.advance(1, 100);
    host.handle(ALICE, &json!({"escalate": {"dispute": 1}})).unwrap();
    let err = host.handle(ALICE, &json!({"rule": {"dispute": 1, "ruling": ruling("reverse")}})).unwrap_err();
    assert!(err.contains("is not a mediator"), "{err}");
    host.handle(M1, &json!({"rule": {"dispute": 1, "ruling": ruling("reverse")}})).unwrap();
    assert_eq!(dispute(&mut host, 1).status, Status::Escalated, "one of a panel of three does not decide");
    let before = host.state().clone();
    let err = host.handle(M2, &json!({"rule": {"dispute": 1, "ruling": ruling("keep it")}})).unwrap_err();
    assert!(err.contains("different ruling"), "{err}");
    assert_eq!(host.state(), &before);
    host.handle(M2, &json!({"rule": {"dispute": 1, "ruling": ruling("reverse")}})).unwrap();
    assert_eq!(dispute(&mut host, 1).status, Status::Ruled);
    let err = host.handle(ALICE, &json!({"execute": {"dispute": 1}})).unwrap_err();
    assert!(err.contains("appeal window"), "{err}");
    host.advance(1, 1000);
    let run = host.handle(ALICE, &json!({"execute": {"dispute": 1}})).unwrap();
    assert_eq!(run.messages.len(), 2, "release, then the ruling's message");
    assert_eq!(
        run.messages[0],
        Message::Call { module: "treasury".into(), msg: br#"{"release":{"subject":{"entry":7}}}"#.to_vec() }
    );
    assert_eq!(dispute(&mut host, 1).status, Status::Executed);
}

#[test]
fn only_members_raise_only_the_raiser_settles_and_appeals_name_a_matching_proposal() {
    let mut host = setup();
    let err = host
        .handle(
            M1,
            &json!({"raise": {"subject": {"member": {"member": BOB}}, "claim": "x", "evidence": "y"}}),
        )
        .unwrap_err();
    assert!(err.contains("only a current member"), "{err}");
    let err = host
        .handle(ALICE, &json!({"raise": {"subject": {"kpi": {"metric": "m", "period": "p"}}, "claim": "", "evidence": "y"}}))
        .unwrap_err();
    assert!(err.contains("the claim must be 1 to"), "{err}");
    let raised = host
        .handle(ALICE, &json!({"raise": {"subject": {"kpi": {"metric": "episodes", "period": "Q1"}}, "claim": "wrong count", "evidence": "log"}}))
        .unwrap();
    assert!(raised.messages.is_empty(), "a KPI freezes nothing in the treasury");
    let err = host.handle(BOB, &json!({"settle": {"dispute": 1}})).unwrap_err();
    assert!(err.contains("only pm1alice who raised"), "{err}");
    host.handle(ALICE, &json!({"settle": {"dispute": 1}})).unwrap();
    assert_eq!(dispute(&mut host, 1).status, Status::Settled);
    // An appeal must name an open proposal carrying exactly the overturn.
    host.handle(ALICE, &json!({"raise": {"subject": {"payout": {"id": 2}}, "claim": "c", "evidence": "e"}}))
        .unwrap();
    host.advance(1, 100);
    host.handle(BOB, &json!({"escalate": {"dispute": 2}})).unwrap();
    host.handle(M1, &json!({"rule": {"dispute": 2, "ruling": ruling("pay")}})).unwrap();
    host.handle(M3, &json!({"rule": {"dispute": 2, "ruling": ruling("pay")}})).unwrap();
    host.on_query("voting", |_q: Value| {
        Ok(json!({"id": 5, "title": "t", "description": "", "kind": "appeal", "rule": {"threshold": {"unanimous": {}}, "quorum_percent": 100},
            "proposer": ALICE, "messages": [{"call": {"module": "disputes", "msg": {"overturn": {"dispute": 1}}}}],
            "choices": null, "snapshot_height": 0, "total_power": 2, "created_ms": 0, "period_ms": 1, "draft": false,
            "sponsor": null, "start_ms": 0, "end_ms": 1, "closed_early_ms": null, "quorum_reached_ms": null,
            "tally": {"yes": 0, "no": 0, "abstain": 0, "options": []}, "firm": {"yes": 0, "no": 0, "abstain": 0, "options": []},
            "executed_ms": null, "vetoed_by": null, "status": "open", "winner": null, "closes_ms": 1, "executable_from_ms": 1}))
    });
    let err = host.handle(ALICE, &json!({"appeal": {"dispute": 2, "proposal": 5}})).unwrap_err();
    assert!(err.contains("must be open and carry exactly"), "{err}");
}
