//! Membership and voting as real WASM in a ledger: a proposal that passes
//! admits a new partner, whose ops then count.

use polypact::op::SystemPermission;
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::json;

#[test]
fn a_passed_proposal_admits_a_member_through_the_registry() {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let members = [
        polypact::op::MemberKey::from_seed(1).member_id(),
        polypact::op::MemberKey::from_seed(2).member_id(),
    ];
    let membership_config = json!({
        "members": [
            {"member": members[0].to_string(), "voting_units": 100, "economic_units": 100, "roles": ["admin"]},
            {"member": members[1].to_string(), "voting_units": 50, "economic_units": 50, "roles": []}
        ],
        "governance": "voting"
    })
    .to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 1000, "max_period_ms": 100000,
        "grace_period_ms": 1000, "late_quorum_extension_ms": 0,
        "allow_vote_change": true, "proposers": "members", "veto": null, "expiry_ms": 1000000
    })
    .to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let mut h = WasmHarness::with_participants(
        3,
        2,
        &[("membership", &membership, &membership_config, &grants), ("voting", &voting, &voting_config, &[])],
    )
    .expect("genesis");
    let newcomer = h.member(2);
    // Not a participant yet: the front door refuses its ops.
    assert!(h.try_call(2, "voting", &json!({"delegate": {"to": members[0].to_string()}})).is_err());

    h.advance_ms(10);
    let propose = h.call(
        0,
        "voting",
        &json!({"propose": {"title": "Admit the bank", "messages": [
            {"call": {"module": "membership", "msg": {"admit": {"member": newcomer.to_string(), "voting_units": 30, "economic_units": 30}}}}
        ], "period_ms": 1000}}),
    );
    assert_eq!(h.outcome_error(&propose), None);
    assert_eq!(h.outcome_data(&propose), Some(json!({"id": 1})));
    for voter in [0, 1] {
        let vote = h.call(voter, "voting", &json!({"vote": {"proposal": 1, "choice": "yes"}}));
        assert_eq!(h.outcome_error(&vote), None);
    }
    // Too early: still open or in grace.
    let early = h.call(0, "voting", &json!({"execute": {"proposal": 1}}));
    assert!(h.outcome_error(&early).is_some());
    h.advance_ms(5_000);
    let execute = h.call(1, "voting", &json!({"execute": {"proposal": 1}}));
    assert_eq!(h.outcome_error(&execute), None, "execution failed");
    assert!(h.ledger.participants().iter().any(|(m, _)| *m == newcomer), "the registry follows membership");
    let member = h.query("membership", &json!({"member": {"member": newcomer.to_string()}})).expect("query");
    assert_eq!(member["voting_units"], json!(30));
    // Double execution fails; its only trace is the failure record.
    let keys_before = h.ledger.optimistic_state().len();
    let again = h.call(0, "voting", &json!({"execute": {"proposal": 1}}));
    assert!(h.outcome_error(&again).is_some());
    assert_eq!(h.ledger.optimistic_state().len(), keys_before + 1);
    // The newcomer now authors, and finality waits for it too.
    h.call(2, "voting", &json!({"delegate": {"to": members[0].to_string()}}));
    h.ack_all();
    assert!(h.ledger.is_final(&execute));
}
