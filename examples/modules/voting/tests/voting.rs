//! The voting module's behaviour, run natively through the SDK's `MockHost`
//! with a fake membership module answering power and role queries:
//! passing, quorum, veto, late quorum, vote changes, delegation, the
//! decision table, execution, and bad calls that fail clearly and change
//! nothing.

#![allow(clippy::unwrap_used)] // tests

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use polypact_sdk::testing::MockHost;
use polypact_sdk::{Message, SystemMsg};
use serde_json::{Value, json};
use voting::{ProposalView, ProposeResponse, Status, VoteResponse, polypact_dispatch};

const ALICE: &str = "pm1alice"; // 40, admin
const BOB: &str = "pm1bob"; // 30
const CAROL: &str = "pm1carol"; // 20
const DAVE: &str = "pm1dave"; // 10
const MALLORY: &str = "pm1mallory"; // 0

const DAY: u64 = 86_400_000;

/// Power per member (same at every height unless `from` says otherwise).
type Powers = Rc<RefCell<BTreeMap<String, (u64, u64)>>>; // member -> (power, from_height)

fn fake_membership(host: &mut MockHost) -> Powers {
    let powers: Powers = Rc::new(RefCell::new(
        [(ALICE, 40), (BOB, 30), (CAROL, 20), (DAVE, 10)]
            .into_iter()
            .map(|(m, p)| (m.to_string(), (p, 0)))
            .collect(),
    ));
    let p = powers.clone();
    host.on_query("membership", move |q: Value| {
        let at =
            |m: &str, h: u64| p.borrow().get(m).filter(|(_, from)| *from <= h).map(|(v, _)| *v).unwrap_or(0);
        if let Some(v) = q.get("voting_power_at") {
            let h = v["height"].as_u64().unwrap();
            Ok(json!({"power": at(v["member"].as_str().unwrap(), h), "height": h}))
        } else if let Some(v) = q.get("total_voting_power_at") {
            let h = v["height"].as_u64().unwrap();
            let keys: Vec<String> = p.borrow().keys().cloned().collect();
            Ok(json!({"power": keys.iter().map(|k| at(k, h)).sum::<u64>(), "height": h}))
        } else if let Some(v) = q.get("has_role") {
            Ok(json!({"has_role": v["member"] == ALICE && v["role"] == "admin"}))
        } else {
            Err(format!("unexpected query {q}"))
        }
    });
    powers
}

fn config() -> Value {
    json!({
        "membership": "membership",
        "rules": {
            "default": {"threshold": {"majority": {}}, "quorum_percent": 50},
            "admit_member": {"threshold": {"percent": {"percent": 67}}, "quorum_percent": 50},
            "dissolve": {"threshold": {"unanimous": {}}, "quorum_percent": 100}
        },
        "min_period_ms": DAY,
        "max_period_ms": 7 * DAY,
        "grace_period_ms": DAY,
        "late_quorum_extension_ms": DAY,
        "allow_vote_change": true,
        "proposers": "members",
        "veto": {"role": "admin"},
        "expiry_ms": 7 * DAY
    })
}

fn setup_with(config: Value) -> (MockHost, Powers) {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB, CAROL, DAVE]);
    let powers = fake_membership(&mut host);
    host.set_height(10).set_time_ms(1_000_000);
    host.init(ALICE, &config).unwrap();
    (host, powers)
}

fn setup() -> (MockHost, Powers) {
    setup_with(config())
}

fn propose(host: &mut MockHost, who: &str, body: Value) -> Result<u64, String> {
    let r = host.handle(who, &json!({"propose": body}))?;
    Ok(r.data_as::<ProposeResponse>().unwrap().unwrap().id)
}

fn simple(kind: &str) -> Value {
    json!({"title": "Admit Erin", "kind": kind, "period_ms": 2 * DAY, "messages": [
        {"call": {"module": "membership", "msg": {"admit": {"member": "pm1erin", "voting_units": 5}}}},
        {"system": {"add_participant": {"member": "pm1erin"}}}
    ]})
}

/// A proposal whose message is an everyday matter (`default`) under `label`.
fn note(label: &str) -> Value {
    json!({"title": "Minutes", "kind": label, "period_ms": 2 * DAY, "messages": [
        {"call": {"module": "notes", "msg": {"note": {"text": "approved"}}}}
    ]})
}

fn vote(host: &mut MockHost, who: &str, id: u64, choice: Value) -> Result<(), String> {
    host.handle(who, &json!({"vote": {"proposal": id, "choice": choice}})).map(|_| ())
}

fn view(host: &mut MockHost, id: u64) -> ProposalView {
    host.query(&json!({"proposal": {"id": id}})).unwrap()
}

#[test]
fn a_proposal_passes_and_executes_once() {
    let (mut host, _) = setup();
    host.advance(1, 0);
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    assert_eq!(id, 1);
    let v = view(&mut host, id);
    assert_eq!((v.status, v.proposal.snapshot_height, v.proposal.total_power), (Status::Open, 10, 100));
    vote(&mut host, ALICE, id, json!("yes")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    vote(&mut host, CAROL, id, json!("no")).unwrap();
    assert_eq!(view(&mut host, id).proposal.tally.yes, 70);
    // Open until the end (votes may still change), then grace, then executable.
    let err = host.handle(DAVE, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 1 cannot be executed now (status: Open)");
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Passed);
    host.advance(1, DAY);
    assert_eq!(view(&mut host, id).status, Status::Executable);
    let r = host.handle(DAVE, &json!({"execute": {"proposal": id}})).unwrap();
    assert_eq!(
        r.messages,
        vec![
            Message::Call {
                module: "membership".into(),
                msg: br#"{"admit":{"member":"pm1erin","voting_units":5}}"#.to_vec()
            },
            Message::System(SystemMsg::AddParticipant { member: "pm1erin".into() }),
        ]
    );
    assert_eq!(view(&mut host, id).status, Status::Executed);
    let before = host.state().clone();
    let err = host.handle(DAVE, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 1 cannot be executed now (status: Executed)");
    assert_eq!(host.state(), &before);
}

#[test]
fn a_proposal_without_quorum_is_rejected() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    vote(&mut host, DAVE, id, json!("abstain")).unwrap(); // 40 of 100 cast < 50%
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Rejected);
    let err = host.handle(BOB, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 1 cannot be executed now (status: Rejected)");
}

#[test]
fn the_veto_holder_stops_a_passed_proposal_in_grace() {
    let (mut host, _) = setup();
    let id = propose(&mut host, BOB, simple("default")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    vote(&mut host, CAROL, id, json!("yes")).unwrap();
    vote(&mut host, DAVE, id, json!("yes")).unwrap();
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Passed);
    let err = host.handle(BOB, &json!({"veto": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "not allowed: pm1bob does not hold the veto");
    let r = host.handle(ALICE, &json!({"veto": {"proposal": id}})).unwrap();
    assert_eq!(r.events[0].kind, "proposal_vetoed");
    host.advance(1, DAY);
    assert_eq!(view(&mut host, id).status, Status::Vetoed);
    let err = host.handle(BOB, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 1 cannot be executed now (status: Vetoed)");
}

#[test]
fn late_quorum_extends_the_vote() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, note("default")).unwrap();
    let end = view(&mut host, id).proposal.end_ms;
    host.set_time_ms(end - 1000);
    vote(&mut host, ALICE, id, json!("yes")).unwrap(); // 40%: no quorum yet
    assert_eq!(view(&mut host, id).proposal.end_ms, end);
    vote(&mut host, BOB, id, json!("no")).unwrap(); // 70%: quorum, within the last day
    let v = view(&mut host, id);
    assert_eq!(v.proposal.end_ms, end - 1000 + DAY);
    assert_eq!(v.proposal.quorum_reached_ms, Some(end - 1000));
    host.set_time_ms(end + 10);
    assert_eq!(view(&mut host, id).status, Status::Open);
    vote(&mut host, CAROL, id, json!("yes")).unwrap(); // still counts
    host.set_time_ms(end - 1000 + DAY);
    let v = view(&mut host, id);
    assert_eq!((v.status, v.proposal.tally.yes, v.proposal.tally.no), (Status::Passed, 60, 30));
}

#[test]
fn a_vote_can_be_changed_while_open_only_if_allowed() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    vote(&mut host, BOB, id, json!("no")).unwrap();
    let t = view(&mut host, id).proposal.tally;
    assert_eq!((t.yes, t.no), (0, 30));
    let ballot: VoteResponse = host.query(&json!({"vote": {"proposal": id, "voter": BOB}})).unwrap();
    assert_eq!(ballot.ballot.unwrap().weight, 30);

    let mut strict = config();
    strict["allow_vote_change"] = json!(false);
    let (mut host, _) = setup_with(strict);
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    let before = host.state().clone();
    let err = vote(&mut host, BOB, id, json!("no")).unwrap_err();
    assert_eq!(err, "invalid vote: pm1bob already voted on proposal 1; votes cannot be changed");
    assert_eq!(host.state(), &before);
    // Without vote changes, a decided outcome closes the vote early.
    vote(&mut host, ALICE, id, json!("yes")).unwrap(); // 70 yes of 100: majority can no longer flip
    let v = view(&mut host, id);
    assert_eq!(v.status, Status::Passed);
    let err = vote(&mut host, CAROL, id, json!("no")).unwrap_err();
    assert_eq!(err, "proposal 1 is closed for voting (status: Passed)");
}

#[test]
fn delegated_power_counts_unless_the_delegator_votes() {
    let (mut host, _) = setup();
    host.handle(DAVE, &json!({"delegate": {"to": CAROL}})).unwrap();
    host.handle(BOB, &json!({"delegate": {"to": CAROL}})).unwrap();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, CAROL, id, json!("yes")).unwrap();
    assert_eq!(view(&mut host, id).proposal.tally.yes, 60);
    // Bob votes himself: his power leaves Carol's ballot.
    vote(&mut host, BOB, id, json!("no")).unwrap();
    let t = view(&mut host, id).proposal.tally;
    assert_eq!((t.yes, t.no), (30, 30));
    let ballot: VoteResponse = host.query(&json!({"vote": {"proposal": id, "voter": CAROL}})).unwrap();
    assert_eq!(ballot.ballot.unwrap().delegated, vec![(DAVE.to_string(), 10)]);
    host.handle(DAVE, &json!({"undelegate": {}})).unwrap();
    let err = host.handle(DAVE, &json!({"undelegate": {}})).unwrap_err();
    assert_eq!(err, "invalid delegation: pm1dave has no delegate");
    let err = host.handle(DAVE, &json!({"delegate": {"to": DAVE}})).unwrap_err();
    assert_eq!(err, "invalid delegation: a member cannot delegate to itself");
}

#[test]
fn the_decision_table_demands_more_for_reserved_kinds() {
    let (mut host, _) = setup();
    let plain = propose(&mut host, ALICE, note("default")).unwrap();
    let admit = propose(&mut host, ALICE, note("admit_member")).unwrap();
    for id in [plain, admit] {
        vote(&mut host, ALICE, id, json!("yes")).unwrap();
        vote(&mut host, CAROL, id, json!("yes")).unwrap();
        vote(&mut host, BOB, id, json!("no")).unwrap(); // 60 yes / 30 no: 66.6%
    }
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, plain).status, Status::Passed);
    assert_eq!(view(&mut host, admit).status, Status::Rejected);
    let err = propose(&mut host, ALICE, simple("spend_above")).unwrap_err();
    assert_eq!(
        err,
        "invalid proposal: unknown kind \"spend_above\"; the decision table has admit_member, default, dissolve"
    );
}

#[test]
fn voting_power_is_fixed_at_the_snapshot_and_non_members_cannot_vote() {
    let (mut host, powers) = setup();
    powers.borrow_mut().insert(MALLORY.into(), (1000, 11)); // gains units at height 11
    host.set_height(11);
    let id = propose(&mut host, ALICE, simple("default")).unwrap(); // snapshot 10
    let before = host.state().clone();
    let err = vote(&mut host, MALLORY, id, json!("yes")).unwrap_err();
    assert_eq!(
        err,
        "pm1mallory had no voting power at height 10 (proposal 1's snapshot); only members then may vote"
    );
    assert_eq!(host.state(), &before);
    let err = propose(&mut host, "pm1nobody", simple("default")).unwrap_err();
    assert!(err.starts_with("not allowed: only members with voting power may propose"), "{err}");
}

#[test]
fn multiple_choice_picks_the_option_with_most_power() {
    let (mut host, _) = setup();
    let id =
        propose(&mut host, ALICE, json!({"title": "Venue", "choices": ["A", "B", "C"], "period_ms": DAY}))
            .unwrap();
    vote(&mut host, ALICE, id, json!({"option": 2})).unwrap();
    vote(&mut host, BOB, id, json!({"option": 1})).unwrap();
    vote(&mut host, CAROL, id, json!({"option": 1})).unwrap();
    let err = vote(&mut host, DAVE, id, json!("yes")).unwrap_err();
    assert!(err.starts_with("invalid vote: proposal 1 is multiple choice"), "{err}");
    let err = vote(&mut host, DAVE, id, json!({"option": 3})).unwrap_err();
    assert_eq!(err, "invalid vote: proposal 1 has options 0 to 2");
    host.advance(1, DAY);
    let v = view(&mut host, id);
    assert_eq!((v.status, v.winner), (Status::Decided, Some(1)));
    let err = propose(&mut host, ALICE, json!({"title": "x", "choices": ["A"]})).unwrap_err();
    assert!(err.contains("needs 2 to 32 choices"), "{err}");
}

#[test]
fn unexecuted_proposals_expire() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, ALICE, id, json!("yes")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    host.advance(1, 2 * DAY + DAY + 7 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Expired);
    let err = host.handle(ALICE, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 1 cannot be executed now (status: Expired)");
}

#[test]
fn bad_calls_fail_clearly_and_change_nothing() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, ALICE, id, json!("yes")).unwrap();
    let before = host.state().clone();
    let err = vote(&mut host, BOB, 99, json!("yes")).unwrap_err();
    assert_eq!(err, "there is no proposal 99");
    let err = host.handle(BOB, &json!({"execute": {"proposal": 99}})).unwrap_err();
    assert_eq!(err, "there is no proposal 99");
    let err = vote(&mut host, BOB, id, json!("maybe")).unwrap_err();
    assert!(err.starts_with("invalid handle message: unknown variant `maybe`"), "{err}");
    let err = host.handle_raw(BOB, b"{\"vote\":").unwrap_err();
    assert!(err.starts_with("invalid handle message"), "{err}");
    let err = propose(&mut host, ALICE, json!({"title": "x", "period_ms": 1})).unwrap_err();
    assert_eq!(err, format!("invalid proposal: period_ms must be between {} and {}, got 1", DAY, 7 * DAY));
    let err = propose(&mut host, ALICE, json!({"title": " "})).unwrap_err();
    assert_eq!(err, "invalid proposal: the title must be 1 to 256 bytes");
    assert_eq!(host.state(), &before);
    host.advance(1, 2 * DAY);
    let err = vote(&mut host, BOB, id, json!("yes")).unwrap_err();
    assert_eq!(err, "proposal 1 is closed for voting (status: Rejected)");
    assert_eq!(host.state(), &before);
    let err = host.query::<Value>(&json!({"proposal": {"id": 5}})).unwrap_err();
    assert_eq!(err, "there is no proposal 5");
}

#[test]
fn init_refuses_bad_configs() {
    let mut host = MockHost::new(polypact_dispatch);
    let mut c = config();
    c["rules"] = json!({"other": {"threshold": {"majority": {}}}});
    assert_eq!(
        host.init(ALICE, &c).unwrap_err(),
        "invalid voting config: rules must have a \"default\" rule"
    );
    let mut c = config();
    c["rules"]["default"]["threshold"] = json!({"percent": {"percent": 101}});
    assert!(host.init(ALICE, &c).unwrap_err().contains("percent must be 1 to 100"));
    let mut c = config();
    c["proposers"] = json!({"deposit_or_sponsor": true});
    let err = host.init(ALICE, &c).unwrap_err();
    assert!(err.contains("unknown variant `deposit_or_sponsor`"), "{err}");
    let mut c = config();
    c["module_proposers"] = json!(["term", "term"]);
    let err = host.init(ALICE, &c).unwrap_err();
    assert_eq!(
        err,
        "invalid voting config: module_proposers must name distinct module instances, got \"term\""
    );
    assert!(host.state().is_empty());
}

#[test]
fn role_proposers_and_member_veto() {
    let mut c = config();
    c["proposers"] = json!({"role": "admin"});
    c["veto"] = json!({"member": DAVE});
    let (mut host, _) = setup_with(c);
    let err = propose(&mut host, BOB, simple("default")).unwrap_err();
    assert_eq!(err, "not allowed: only members with role \"admin\" may propose");
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    let err = host.handle(ALICE, &json!({"veto": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "not allowed: pm1alice does not hold the veto");
    host.handle(DAVE, &json!({"veto": {"proposal": id}})).unwrap();
    assert_eq!(view(&mut host, id).status, Status::Vetoed);
    let err = vote(&mut host, BOB, id, json!("yes")).unwrap_err();
    assert_eq!(err, "proposal 1 is closed for voting (status: Vetoed)");
}

#[test]
fn a_delegator_who_voted_first_is_not_counted_again() {
    let (mut host, _) = setup();
    host.handle(BOB, &json!({"delegate": {"to": CAROL}})).unwrap();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, BOB, id, json!("no")).unwrap();
    vote(&mut host, CAROL, id, json!("yes")).unwrap();
    let t = view(&mut host, id).proposal.tally;
    assert_eq!((t.yes, t.no), (20, 30));
    // A delegate without power of its own may vote with its delegators' power.
    host.handle(DAVE, &json!({"delegate": {"to": MALLORY}})).unwrap();
    vote(&mut host, MALLORY, id, json!("yes")).unwrap();
    assert_eq!(view(&mut host, id).proposal.tally.yes, 30);
}

#[test]
fn a_module_proposer_proposes_without_power_and_other_modules_cannot() {
    let mut c = config();
    c["module_proposers"] = json!(["term"]);
    let (mut host, _) = setup_with(c);
    let r = host.handle_from_module("term", MALLORY, &json!({"propose": simple("default")})).unwrap();
    let id = r.data_as::<ProposeResponse>().unwrap().unwrap().id;
    let v = view(&mut host, id);
    assert_eq!((v.status, v.proposal.proposer.as_str()), (Status::Open, "module:term"));
    let before = host.state().clone();
    let err = host.handle_from_module("treasury", ALICE, &json!({"propose": simple("default")})).unwrap_err();
    assert_eq!(
        err,
        "not allowed: module `treasury` may not propose; list it in the config's module_proposers"
    );
    // A module cannot vote (or delegate, veto, sponsor) in a member's name.
    let err = host
        .handle_from_module("term", ALICE, &json!({"vote": {"proposal": id, "choice": "yes"}}))
        .unwrap_err();
    assert_eq!(
        err,
        "not allowed: a member votes, delegates, vetoes and sponsors with its own op, not through module `term`"
    );
    assert_eq!(host.state(), &before);
}

fn open_yes(host: &mut MockHost, voter: &str) -> Vec<u64> {
    let r: Value = host.query(&json!({"open_yes_votes": {"voter": voter}})).unwrap();
    serde_json::from_value(r["proposals"].clone()).unwrap()
}

#[test]
fn open_yes_votes_lists_live_proposals_with_the_voters_own_yes() {
    let (mut host, _) = setup();
    host.handle(DAVE, &json!({"delegate": {"to": BOB}})).unwrap();
    let p1 = propose(&mut host, ALICE, simple("default")).unwrap();
    let p2 = propose(&mut host, ALICE, json!({"title": "short", "period_ms": DAY})).unwrap();
    let p3 = propose(&mut host, ALICE, simple("default")).unwrap();
    vote(&mut host, BOB, p1, json!("yes")).unwrap();
    vote(&mut host, BOB, p2, json!("yes")).unwrap();
    vote(&mut host, BOB, p3, json!("yes")).unwrap();
    vote(&mut host, BOB, p3, json!("no")).unwrap(); // changed: no longer yes
    vote(&mut host, ALICE, p2, json!("yes")).unwrap();
    assert_eq!(open_yes(&mut host, BOB), vec![p1, p2]);
    // Dave's power rides on Bob's ballot, but Dave's own ballot is not yes.
    assert_eq!(open_yes(&mut host, DAVE), Vec::<u64>::new());
    // p2 passes (70 of 100 yes) and stays listed while passed or executable.
    host.advance(1, DAY);
    assert_eq!(view(&mut host, p2).status, Status::Passed);
    assert_eq!(open_yes(&mut host, BOB), vec![p1, p2]);
    host.advance(1, DAY);
    assert_eq!(view(&mut host, p2).status, Status::Executable);
    host.handle(ALICE, &json!({"execute": {"proposal": p2}})).unwrap();
    // p1 closes without quorum (30 of 100 < 50%): rejected, so it drops out too.
    assert_eq!(view(&mut host, p1).status, Status::Rejected);
    assert_eq!(open_yes(&mut host, BOB), Vec::<u64>::new());
}

fn sponsored(role: Value) -> (MockHost, Powers) {
    let mut c = config();
    c["proposers"] = json!({"sponsored": role});
    setup_with(c)
}

#[test]
fn sponsored_with_a_role_drafts_until_a_role_holder_sponsors() {
    let (mut host, powers) = sponsored(json!({"role": "admin"}));
    // The admin's own proposal opens directly.
    let direct = propose(&mut host, ALICE, simple("default")).unwrap();
    assert_eq!(view(&mut host, direct).status, Status::Open);
    // Bob's starts as a draft: no snapshot, no voting.
    host.advance(1, 1000);
    let id = propose(&mut host, BOB, simple("default")).unwrap();
    let v = view(&mut host, id);
    assert_eq!((v.status, v.proposal.draft, v.proposal.total_power), (Status::Draft, true, 0));
    let before = host.state().clone();
    let err = vote(&mut host, BOB, id, json!("yes")).unwrap_err();
    assert_eq!(
        err,
        "proposal 2 is a draft; it opens for voting when a sponsor sends {\"sponsor\":{\"proposal\":2}}"
    );
    let err = host.handle(CAROL, &json!({"sponsor": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "not allowed: only members with role \"admin\" may sponsor a proposal");
    let err = host.handle(ALICE, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 2 cannot be executed now (status: Draft)");
    assert_eq!(host.state(), &before);
    // Power changes before sponsorship count: the snapshot is taken then.
    powers.borrow_mut().insert(MALLORY.into(), (100, 12));
    host.set_height(13).set_time_ms(5_000_000);
    let r = host.handle(ALICE, &json!({"sponsor": {"proposal": id}})).unwrap();
    assert_eq!(r.events[0].kind, "proposal_sponsored");
    let v = view(&mut host, id);
    assert_eq!(v.status, Status::Open);
    assert_eq!(v.proposal.sponsor.as_deref(), Some(ALICE));
    assert_eq!((v.proposal.snapshot_height, v.proposal.total_power), (12, 200));
    assert_eq!((v.proposal.start_ms, v.proposal.end_ms), (5_000_000, 5_000_000 + 2 * DAY));
    vote(&mut host, MALLORY, id, json!("yes")).unwrap();
    let err = host.handle(ALICE, &json!({"sponsor": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "proposal 2 cannot be sponsored now (status: Open)");
    let err = host.handle(ALICE, &json!({"sponsor": {"proposal": 9}})).unwrap_err();
    assert_eq!(err, "there is no proposal 9");
}

#[test]
fn sponsored_without_a_role_needs_another_member_with_power() {
    let (mut host, _) = sponsored(json!({}));
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    assert_eq!(view(&mut host, id).status, Status::Draft);
    let before = host.state().clone();
    let err = host.handle(ALICE, &json!({"sponsor": {"proposal": id}})).unwrap_err();
    assert_eq!(err, "not allowed: pm1alice proposed 1; another member must sponsor it");
    let err = host.handle(MALLORY, &json!({"sponsor": {"proposal": id}})).unwrap_err();
    assert!(err.starts_with("not allowed: only members with voting power may sponsor"), "{err}");
    let err = propose(&mut host, MALLORY, simple("default")).unwrap_err();
    assert!(err.starts_with("not allowed: only members with voting power may propose"), "{err}");
    assert_eq!(host.state(), &before);
    host.handle(DAVE, &json!({"sponsor": {"proposal": id}})).unwrap();
    vote(&mut host, ALICE, id, json!("yes")).unwrap();
    vote(&mut host, BOB, id, json!("yes")).unwrap();
    host.advance(1, 3 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Executable);
}

#[test]
fn a_proposal_may_dissolve_the_partnership() {
    let (mut host, _) = setup();
    let id = propose(
        &mut host,
        ALICE,
        json!({"title": "Wind up", "kind": "dissolve", "period_ms": DAY,
               "messages": [{"system": {"dissolve": {"reason": "project done"}}}]}),
    )
    .unwrap();
    for who in [ALICE, BOB, CAROL, DAVE] {
        vote(&mut host, who, id, json!("yes")).unwrap();
    }
    host.advance(1, 2 * DAY);
    let r = host.handle(BOB, &json!({"execute": {"proposal": id}})).unwrap();
    assert_eq!(r.messages, vec![Message::System(SystemMsg::Dissolve { reason: "project done".into() })]);
}

#[test]
fn a_sponsored_config_with_unknown_fields_is_refused() {
    let mut host = MockHost::new(polypact_dispatch);
    let mut c = config();
    c["proposers"] = json!({"sponsored": {"roles": "admin"}});
    let err = host.init(ALICE, &c).unwrap_err();
    assert!(err.contains("unknown field `roles`"), "{err}");
    assert!(host.state().is_empty());
}

/// A member suspended for absence counts in a proposal's total by default
/// (a suspension never lowers the bar); a charter may count only those
/// present.
#[test]
fn suspended_members_count_in_the_total_unless_the_charter_says_otherwise() {
    use polypact_sdk::Status as Presence;
    let statuses = [
        (ALICE, Presence::Active),
        (BOB, Presence::Suspended),
        (CAROL, Presence::Active),
        (DAVE, Presence::Active),
    ];
    let (mut host, _) = setup();
    host.set_statuses(&statuses);
    host.advance(1, 0);
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    assert_eq!(view(&mut host, id).proposal.total_power, 100);

    let mut present_only = config();
    present_only["suspended_count_in_total"] = json!(false);
    let (mut host, _) = setup_with(present_only);
    host.set_statuses(&statuses);
    host.advance(1, 0);
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    assert_eq!(view(&mut host, id).proposal.total_power, 70, "Bob's 30 are left out");
    // Alice and Carol (60 of the 70 present) pass it.
    vote(&mut host, ALICE, id, json!("yes")).unwrap();
    vote(&mut host, CAROL, id, json!("yes")).unwrap();
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Passed);
}

/// Alice, Carol yes and Bob no on `id`: 60 of 90 cast (66.7%), quorum 90%.
fn sixty_percent(host: &mut MockHost, id: u64) {
    vote(host, ALICE, id, json!("yes")).unwrap();
    vote(host, CAROL, id, json!("yes")).unwrap();
    vote(host, BOB, id, json!("no")).unwrap();
}

/// The attack of issue 23: an admission labelled `default` still needs the
/// admission rule (67%), because the rule comes from what the proposal
/// does; with the right majority it passes.
#[test]
fn a_relabelled_admission_needs_the_admission_rule() {
    let (mut host, _) = setup();
    let relabelled = propose(&mut host, ALICE, simple("default")).unwrap();
    let v = view(&mut host, relabelled);
    assert_eq!(v.proposal.kind, "admit_member", "the system message decides the kind");
    assert!(v.proposal.rules.contains_key("admit_member"));
    sixty_percent(&mut host, relabelled);
    let honest = propose(&mut host, ALICE, simple("default")).unwrap();
    for voter in [ALICE, BOB, DAVE] {
        vote(&mut host, voter, honest, json!("yes")).unwrap(); // 80 yes
    }
    vote(&mut host, CAROL, honest, json!("no")).unwrap(); // 20 no: 80%
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, relabelled).status, Status::Rejected);
    assert_eq!(view(&mut host, honest).status, Status::Passed);
}

/// A proposal that mixes an everyday call with an admission needs the
/// stricter rule; an everyday call alone passes with the same votes.
#[test]
fn a_mixed_proposal_needs_the_strictest_rule_it_carries() {
    let (mut host, _) = setup();
    let everyday = propose(&mut host, ALICE, note("default")).unwrap();
    let mut mixed = note("default");
    mixed["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": {"add_participant": {"member": "pm1erin"}}}));
    let mixed = propose(&mut host, ALICE, mixed).unwrap();
    assert_eq!(
        view(&mut host, mixed).proposal.rules.keys().cloned().collect::<Vec<_>>(),
        vec!["admit_member".to_owned(), "default".to_owned()]
    );
    for id in [everyday, mixed] {
        sixty_percent(&mut host, id);
    }
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, everyday).status, Status::Passed);
    assert_eq!(view(&mut host, mixed).status, Status::Rejected);
}

/// A module declares the kinds of its own messages (here the fake
/// membership names `admit` an admission); the charter's `kinds` map
/// decides over it; `reserved` kinds need every unit.
#[test]
fn kinds_come_from_the_charter_then_the_module_and_reserved_kinds_need_everyone() {
    let mut host = MockHost::new(polypact_dispatch);
    host.set_participants(&[ALICE, BOB, CAROL, DAVE]);
    fake_membership(&mut host);
    // The notes module declares `publish` as a `publication`.
    host.on_query("notes", |q: Value| {
        if q["proposal_kind"]["msg"].get("publish").is_some() {
            Ok(json!({"kind": "publication"}))
        } else {
            Err(format!("unexpected query {q}"))
        }
    });
    let mut config = config();
    config["rules"]["publication"] = json!({"threshold": {"majority": {}}, "quorum_percent": 95});
    config["kinds"] = json!({"notes.note": "dissolve"});
    config["reserved"] = json!(["publication"]);
    host.set_height(10).set_time_ms(1_000_000);
    host.init(ALICE, &config).unwrap();
    // `notes.note` is mapped by the charter: the dissolve rule (unanimity).
    let charter_mapped = propose(&mut host, ALICE, note("default")).unwrap();
    assert_eq!(view(&mut host, charter_mapped).proposal.kind, "dissolve");
    // `publish` is declared by the module and reserved by the charter.
    let declared = propose(
        &mut host,
        ALICE,
        json!({"title": "Publish", "period_ms": 2 * DAY, "messages": [
            {"call": {"module": "notes", "msg": {"publish": {}}}}
        ]}),
    )
    .unwrap();
    let v = view(&mut host, declared);
    assert_eq!(v.proposal.kind, "publication");
    assert_eq!(v.proposal.rule.threshold, voting::Threshold::Unanimous {});
    for id in [charter_mapped, declared] {
        for voter in [ALICE, BOB, CAROL] {
            vote(&mut host, voter, id, json!("yes")).unwrap(); // 90 of 100
        }
    }
    host.advance(1, 2 * DAY);
    assert_eq!(view(&mut host, charter_mapped).status, Status::Rejected);
    assert_eq!(view(&mut host, declared).status, Status::Rejected);
}

/// A proposal made before the decision table changed is checked at
/// execution against the table as it stands: once admissions are reserved
/// for unanimity (by `migrate`), a 77% admission no longer executes.
#[test]
fn execution_checks_the_decision_table_as_it_stands_then() {
    let (mut host, _) = setup();
    let id = propose(&mut host, ALICE, simple("default")).unwrap();
    for voter in [ALICE, BOB, CAROL] {
        vote(&mut host, voter, id, json!("yes")).unwrap(); // 90 yes
    }
    host.advance(1, 3 * DAY);
    assert_eq!(view(&mut host, id).status, Status::Executable);
    host.migrate(ALICE, &json!({"reserved": ["admit_member"]})).unwrap();
    let before = host.state().clone();
    let err = host.handle(DAVE, &json!({"execute": {"proposal": id}})).unwrap_err();
    assert!(err.contains("proposal 1 carries what needs `admit_member` (every voting unit yes"), "{err}");
    assert_eq!(host.state(), &before, "a refused execution changes nothing");
    let err = host.migrate(ALICE, &json!({"rules": {}})).unwrap_err();
    assert!(err.contains("default"), "{err}");
}
