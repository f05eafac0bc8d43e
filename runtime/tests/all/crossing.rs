//! Messages between partnerships through real ledgers and the real
//! guestbook `.wasm`: a message sent in one partnership, attested there by
//! every participant once final, and delivered to another with its
//! certificate runs there once, as a call from the sender (`pp1…`).
//! Replays, forgeries, truncations, misaddressed and out-of-order
//! certificates are refused and change nothing but their failure record.

use polypact::cert::{Certificate, OutboundMessage, Statement};
use polypact::ledger::{OpOutcome, crossing};
use polypact::node::crossing::build_certificate;
use polypact::op::{OpId, PartnershipId, Payload, SystemPermission};
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::{Value, json};

fn guestbook() -> Vec<u8> {
    module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"))
}

const SEND: &[SystemPermission] = &[SystemPermission::MessagePartnerships];

/// A program of 3 whose guestbook may message other partnerships.
fn program(wasm: &[u8]) -> WasmHarness {
    WasmHarness::new(3, &[("guestbook", wasm, "{}", SEND)]).expect("program genesis")
}

/// A project of 2 whose guestbook accepts signatures from `accepts`.
fn project(wasm: &[u8], accepts: &[PartnershipId]) -> WasmHarness {
    let listed: Vec<String> = accepts.iter().map(PartnershipId::to_member_text).collect();
    let config = json!({ "partnerships": listed }).to_string();
    WasmHarness::new(2, &[("guestbook", wasm, &config, &[])]).expect("project genesis")
}

/// Every participant of `h` attests everything its final state asks of it.
fn attest_all(h: &mut WasmHarness) {
    let id = h.ledger.partnership();
    let state = h.ledger.final_state().clone();
    let founders = h.ledger.charter().participants.clone();
    let mut statements = Vec::new();
    // Each new participant set, attested by the members of both sets.
    for g in 1..=crossing::generation(&state) {
        let before = crossing::trusted_set(&state, &founders, g - 1).expect("set");
        let set = crossing::participant_set(&state, g).expect("set");
        let both: Vec<_> = before.members.iter().filter(|m| set.members.contains(m)).copied().collect();
        statements.push((Statement::Participants(set), both));
    }
    for (to, last) in crossing::outbox_heads(&state) {
        for seq in 1..=last {
            let message = crossing::outbound(&state, &to, seq).expect("filed");
            let set = crossing::trusted_set(&state, &founders, message.generation).expect("set");
            statements.push((Statement::Message(message), set.members));
        }
    }
    for i in 0..h.keys.len() {
        let member = h.member(i);
        let mut digests: Vec<[u8; 32]> = statements
            .iter()
            .filter(|(_, set)| set.contains(&member))
            .map(|(s, _)| s.digest(&id))
            .filter(|d| h.ledger.attestation(d, &member).is_none())
            .collect();
        if digests.is_empty() {
            continue;
        }
        digests.sort();
        h.now += 1;
        let op = h.ledger.create_op(&h.keys[i], Payload::Attest { statements: digests }, h.now);
        h.ledger.insert(op, h.now).expect("attest op accepted");
    }
}

/// Member `i` of `h` delivers `certificate` bytes; returns the op.
fn deliver(h: &mut WasmHarness, i: usize, certificate: Vec<u8>) -> OpId {
    h.now += 1;
    let op = h.ledger.create_op(&h.keys[i], Payload::Deliver { certificate }, h.now);
    let id = op.id();
    h.ledger.insert(op, h.now).expect("a deliver op is accepted as structure");
    id
}

fn certificate_for(from: &WasmHarness, to: &WasmHarness, seq: u64) -> Certificate {
    let message = crossing::outbound(from.ledger.final_state(), &to.ledger.partnership(), seq).expect("sent");
    let trusted = crossing::inbox(to.ledger.optimistic_state(), &from.ledger.partnership())
        .map(|r| polypact::cert::TrustedSet { generation: r.generation, members: r.members });
    build_certificate(&from.ledger, &from.ledger.partnership(), trusted.as_ref(), Statement::Message(message))
        .expect("builds")
        .expect("every attestation is there")
}

fn entries(h: &WasmHarness) -> Vec<Value> {
    let answer = h.query("guestbook", &json!({"entries": {}})).expect("entries");
    answer["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_final_attested_message_runs_once_in_the_receiver_as_a_call_from_the_sender() {
    let wasm = guestbook();
    let mut p = program(&wasm);
    let mut q = project(&wasm, &[p.ledger.partnership()]);
    let q_id = q.ledger.partnership().to_member_text();
    let send = p.call(
        0,
        "guestbook",
        &json!({"sign_elsewhere": {"partnership": q_id, "message": "from the program"}}),
    );
    assert_eq!(p.outcome_error(&send), None);
    // Not final yet: nothing is filed in the final outbox, so nothing can be proven.
    assert!(crossing::outbound(p.ledger.final_state(), &q.ledger.partnership(), 1).is_none());
    p.ack_all();
    let filed =
        crossing::outbound(p.ledger.final_state(), &q.ledger.partnership(), 1).expect("filed when final");
    assert_eq!(filed.source_op, send);
    assert_eq!((filed.seq, filed.generation, filed.module.as_str()), (1, 0, "guestbook"));
    // Two of three attested: no certificate yet.
    attest_all(&mut p);
    let certificate = certificate_for(&p, &q, 1);
    assert!(certificate.genesis.is_some(), "the receiver trusts nothing of the sender yet");

    let delivered = deliver(&mut q, 0, certificate.encode());
    assert_eq!(q.outcome_error(&delivered), None);
    let book = entries(&q);
    assert_eq!(book.len(), 1);
    assert_eq!(book[0]["author"], json!(p.ledger.partnership().to_member_text()));
    assert_eq!(book[0]["message"], json!("from the program"));
    match q.ledger.outcome(&delivered) {
        Some(OpOutcome::Applied { events, .. }) => {
            assert_eq!(events[0].event.kind, "message_delivered");
            assert_eq!(events[0].module, "system");
        }
        other => panic!("expected the delivery applied, got {other:?}"),
    }

    // The other project member relays the same message: refused, counted
    // in its failure, and the book is unchanged.
    let root = q.ledger.optimistic_state().get(b"m/guestbook/").cloned();
    let again = deliver(&mut q, 1, certificate.encode());
    assert!(
        q.outcome_error(&again).expect("refused").contains("already delivered"),
        "{:?}",
        q.outcome_error(&again)
    );
    assert_eq!(entries(&q).len(), 1);
    assert_eq!(q.ledger.optimistic_state().get(b"m/guestbook/").cloned(), root);
    q.ack_all();
    assert!(q.ledger.is_final(&delivered));
    let counted: Vec<(&str, u64)> = q.ledger.delivery_refusals().iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(counted, vec![("duplicate", 1)], "the second relay's delivery is counted once, when final");
    let inbox = crossing::inbox(q.ledger.final_state(), &p.ledger.partnership()).expect("inbox");
    assert_eq!(inbox.last_seq, 1);
    assert_eq!(inbox.members.len(), 3);
}

#[test]
fn forged_truncated_misaddressed_and_out_of_order_certificates_change_nothing() {
    let wasm = guestbook();
    let mut p = program(&wasm);
    let mut q = project(&wasm, &[p.ledger.partnership()]);
    let mut r = project(&wasm, &[]);
    // r differs from q only if its charter differs; the config does.
    assert_ne!(q.ledger.partnership(), r.ledger.partnership());
    let q_id = q.ledger.partnership().to_member_text();
    for text in ["first", "second"] {
        p.call(1, "guestbook", &json!({"sign_elsewhere": {"partnership": q_id, "message": text}}));
    }
    p.ack_all();
    attest_all(&mut p);
    let first = certificate_for(&p, &q, 1);
    let second = certificate_for(&p, &q, 2);
    let before = q.ledger.optimistic_state().clone();
    let module_state = |h: &WasmHarness| -> Vec<(Vec<u8>, Vec<u8>)> {
        h.ledger
            .optimistic_state()
            .iter()
            .filter(|(k, _)| k.starts_with(b"m/") || k.starts_with(b"s/i/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let untouched = module_state(&q);

    // The message text changed, the attestations kept.
    let mut forged = first.clone();
    if let Statement::Message(OutboundMessage { msg, .. }) = &mut forged.subject.statement {
        *msg = json!({"sign": {"message": "forged"}}).to_string().into_bytes();
    }
    let refusals = [
        (forged.encode(), "does not state this statement"),
        (first.encode()[..first.encode().len() - 7].to_vec(), "malformed certificate"),
        (second.encode(), "message 1 runs first"),
        (vec![0xff; 40], "malformed certificate"),
    ];
    for (bytes, expected) in refusals {
        let op = deliver(&mut q, 0, bytes);
        let error = q.outcome_error(&op).expect("refused");
        assert!(error.contains(expected), "expected `{expected}` in `{error}`");
        assert_eq!(module_state(&q), untouched, "a refused delivery changed state ({error})");
    }
    // A certificate for q delivered to r.
    let op = deliver(&mut r, 0, first.encode());
    assert!(r.outcome_error(&op).expect("refused").contains("is for partnership"));
    // A missing attestation.
    let mut short = first.clone();
    short.subject.attestations.pop();
    let op = deliver(&mut q, 1, short.encode());
    assert!(q.outcome_error(&op).expect("refused").contains("did not attest"));
    assert_eq!(module_state(&q), untouched);
    // In order, both run.
    let op = deliver(&mut q, 0, first.encode());
    assert_eq!(q.outcome_error(&op), None);
    let second = certificate_for(&p, &q, 2);
    assert!(second.genesis.is_none(), "the receiver trusts the sender's set now");
    let op = deliver(&mut q, 1, second.encode());
    assert_eq!(q.outcome_error(&op), None);
    let texts: Vec<Value> = entries(&q).into_iter().map(|e| e["message"].clone()).collect();
    assert_eq!(texts, vec![json!("first"), json!("second")]);
    q.ack_all();
    let counted: Vec<(&str, u64)> = q.ledger.delivery_refusals().iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(counted, vec![("certificate", 4), ("out_of_order", 1)]);
    assert_ne!(before.root(), q.ledger.optimistic_state().root());
}

#[test]
fn a_message_the_receiver_refuses_is_consumed_once_and_the_channel_moves_on() {
    let wasm = guestbook();
    let mut p = program(&wasm);
    // This project does not list the program: its guestbook refuses it.
    let mut q = project(&wasm, &[]);
    let q_id = q.ledger.partnership().to_member_text();
    for text in ["refused", "also refused"] {
        p.call(0, "guestbook", &json!({"sign_elsewhere": {"partnership": q_id, "message": text}}));
    }
    p.ack_all();
    attest_all(&mut p);
    let certificate = certificate_for(&p, &q, 1).encode();
    let op = deliver(&mut q, 0, certificate);
    let error = q.outcome_error(&op).expect("the module refuses");
    assert!(error.contains("only current participants may sign"), "{error}");
    assert_eq!(
        crossing::inbox(q.ledger.optimistic_state(), &p.ledger.partnership()).expect("consumed").last_seq,
        1
    );
    assert!(entries(&q).is_empty());
    // The next one is next in order, not stuck behind the refusal.
    let certificate = certificate_for(&p, &q, 2).encode();
    let op = deliver(&mut q, 1, certificate);
    assert!(q.outcome_error(&op).expect("refused too").contains("only current participants"));
    assert_eq!(
        crossing::inbox(q.ledger.optimistic_state(), &p.ledger.partnership()).expect("consumed").last_seq,
        2
    );
}

#[test]
fn sending_needs_the_permission_and_a_valid_receiver() {
    let wasm = guestbook();
    let mut no_permission = WasmHarness::new(2, &[("guestbook", &wasm, "{}", &[])]).expect("genesis");
    let other = PartnershipId([7; 32]).to_member_text();
    let op = no_permission.call(
        0,
        "guestbook",
        &json!({"sign_elsewhere": {"partnership": other, "message": "hi"}}),
    );
    let error = no_permission.outcome_error(&op).expect("refused");
    assert!(error.contains("message_partnerships"), "{error}");
    let mut p = program(&wasm);
    let own = p.ledger.partnership().to_member_text();
    let op = p.call(0, "guestbook", &json!({"sign_elsewhere": {"partnership": own, "message": "hi"}}));
    assert!(p.outcome_error(&op).expect("to itself").contains("itself"));
    let op = p.call(
        0,
        "guestbook",
        &json!({"sign_elsewhere": {"partnership": "pp1notaparnership", "message": "hi"}}),
    );
    assert!(p.outcome_error(&op).expect("bad id").contains("partnership id"));
    p.ack_all();
    assert!(crossing::outbox_heads(p.ledger.final_state()).is_empty(), "failed ops send nothing");
}

// ----- spawning -----

const MEMBERSHIP_GRANTS: &[SystemPermission] = &[SystemPermission::AddParticipant];
const SPAWN: &[SystemPermission] = &[SystemPermission::SpawnPartnership];

/// A program of 3 (membership, voting that may spawn, guestbook).
fn spawning_program() -> WasmHarness {
    program_with_voting_grants(SPAWN)
}

fn program_with_voting_grants(grants: &[SystemPermission]) -> WasmHarness {
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let wasm = guestbook();
    let id = |seed: u8| polypact::op::MemberKey::from_seed(seed).member_id().to_string();
    let members: Vec<Value> =
        (1..=3).map(|s| json!({"member": id(s), "voting_units": 1, "economic_units": 1})).collect();
    let membership_config = json!({"members": members, "governance": "voting"}).to_string();
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 1000, "max_period_ms": 100_000, "grace_period_ms": 0,
        "late_quorum_extension_ms": 0, "allow_vote_change": true, "proposers": "members",
        "veto": null, "expiry_ms": 1_000_000
    })
    .to_string();
    WasmHarness::with_participants(
        4,
        3,
        &[
            ("membership", &membership, &membership_config, MEMBERSHIP_GRANTS),
            ("voting", &voting, &voting_config, grants),
            ("guestbook", &wasm, "{}", &[]),
        ],
    )
    .expect("program genesis")
}

/// A child charter template: the guestbook only, `${motto}` in its name.
fn child_template(p: &WasmHarness) -> Value {
    let code = p.ledger.charter().module("guestbook").expect("guestbook").code;
    json!({"name": "project ${motto}", "participants": [], "params": polypact::op::Params::default(),
        "modules": [{"name": "guestbook", "code": code, "config": "{}", "permissions": []}]})
}

/// The program votes `messages` through; returns the execute op.
fn pass(p: &mut WasmHarness, messages: Value) -> OpId {
    let op =
        p.call(0, "voting", &json!({"propose": {"title": "spawn", "messages": messages, "period_ms": 1000}}));
    let id = p.outcome_data(&op).unwrap_or_else(|| panic!("{:?}", p.outcome_error(&op)))["id"].clone();
    for i in 0..3 {
        p.call(i, "voting", &json!({"vote": {"proposal": id, "choice": "yes"}}));
    }
    p.advance_ms(2000);
    p.call(0, "voting", &json!({"execute": {"proposal": id}}))
}

fn spawn_msg(p: &WasmHarness, participants: &[String]) -> Value {
    json!([{"system": {"spawn_partnership": {"charter": child_template(p), "values": {"motto": "alpha"},
        "participants": participants}}}])
}

/// Every participant attests every spawn of the final state.
fn attest_spawns(p: &mut WasmHarness) {
    let id = p.ledger.partnership();
    let digests: Vec<[u8; 32]> = crossing::spawns(p.ledger.final_state())
        .into_iter()
        .map(|r| Statement::Spawned(r.statement).digest(&id))
        .collect();
    for i in 0..3 {
        p.now += 1;
        let op = p.ledger.create_op(&p.keys[i], Payload::Attest { statements: digests.clone() }, p.now);
        p.ledger.insert(op, p.now).expect("attest op accepted");
    }
}

fn child_executor() -> polypact::host::WasmExecutor {
    let executor = polypact::host::WasmExecutor::new(polypact::host::HostConfig::with_cache_dir(
        polypact::testing::test_module_cache(),
    ))
    .expect("host");
    executor.add_code(&guestbook()).expect("guestbook loads");
    executor
}

/// The genesis the founder signs for spawn `record`, with `certificate`.
fn child_genesis(
    p: &WasmHarness,
    record: &crossing::SpawnRecord,
    certificate: Vec<u8>,
    edit: impl FnOnce(&mut polypact::op::UnsignedOp),
) -> polypact::op::SignedOp {
    let mut charter = record.charter.clone();
    charter.parent.as_mut().expect("a parent link").certificate = certificate;
    let mut op = polypact::op::UnsignedOp {
        partnership: PartnershipId::default(),
        author: record.statement.author,
        seq: 1,
        parents: vec![],
        time_ms: record.statement.time_ms,
        payload: Payload::Genesis(charter),
    };
    edit(&mut op);
    let key = p.keys.iter().find(|k| k.member_id() == op.author).expect("a program key");
    op.sign(key)
}

#[test]
fn a_spawned_partnership_is_created_only_with_its_parents_proof() {
    let mut p = spawning_program();
    let outsider = polypact::op::MemberKey::from_seed(9).member_id().to_string();
    let participants = vec![p.member(0).to_string(), p.member(1).to_string(), outsider];
    let messages = spawn_msg(&p, &participants);
    let executed = pass(&mut p, messages);
    assert_eq!(p.outcome_error(&executed), None);
    assert!(crossing::spawns(p.ledger.final_state()).is_empty(), "filed, but not final yet");
    p.ack_all();
    let record = crossing::spawns(p.ledger.final_state()).pop().expect("spawn filed");
    assert_eq!(record.charter.name, "project alpha");
    assert_eq!(record.charter.participants.len(), 3);
    let pid = p.ledger.partnership();
    let statement = Statement::Spawned(record.statement.clone());
    assert_eq!(
        build_certificate(&p.ledger, &pid, None, statement.clone()).expect("builds"),
        None,
        "not attested"
    );
    attest_spawns(&mut p);
    let certificate = build_certificate(&p.ledger, &pid, None, statement).expect("builds").expect("attested");
    let bytes = certificate.encode();

    let honest = child_genesis(&p, &record, bytes.clone(), |_| {});
    let child = polypact::ledger::Ledger::new(honest, child_executor(), Default::default()).expect("created");
    let trust = crossing::inbox(child.final_state(), &pid).expect("the child trusts its parent");
    assert_eq!((trust.last_seq, trust.members.len()), (0, 3));

    // Forgeries: each is refused, whoever signs it.
    let mut renamed = record.clone();
    renamed.charter.name = "project omega".into();
    let forged: Vec<(&str, polypact::op::SignedOp)> = vec![
        ("not this genesis", child_genesis(&p, &renamed, bytes.clone(), |_| {})),
        ("provenance: malformed", child_genesis(&p, &record, Vec::new(), |_| {})),
        ("provenance: malformed", child_genesis(&p, &record, bytes[..bytes.len() / 2].to_vec(), |_| {})),
        ("not this genesis", child_genesis(&p, &record, bytes.clone(), |op| op.time_ms += 1)),
        (
            "not this genesis",
            child_genesis(&p, &record, bytes.clone(), |op| {
                op.author = if record.statement.author == p.member(0) { p.member(1) } else { p.member(0) };
            }),
        ),
        (
            "not the parent",
            child_genesis(&p, &record, bytes.clone(), |op| {
                if let Payload::Genesis(c) = &mut op.payload {
                    c.parent.as_mut().expect("link").partnership = PartnershipId([1; 32]);
                }
            }),
        ),
    ];
    for (expected, genesis) in forged {
        let error = polypact::ledger::Ledger::new(genesis, child_executor(), Default::default())
            .err()
            .unwrap_or_else(|| panic!("a forged child ({expected}) was created"))
            .to_string();
        assert!(error.contains(expected), "expected `{expected}` in `{error}`");
    }
}

#[test]
fn a_spawn_the_parent_cannot_found_is_refused_and_files_nothing() {
    let mut p = spawning_program();
    let stranger = polypact::op::MemberKey::from_seed(9).member_id().to_string();
    // No child participant is a participant of the parent.
    let messages = spawn_msg(&p, std::slice::from_ref(&stranger));
    let op = pass(&mut p, messages);
    assert!(p.outcome_error(&op).expect("refused").contains("no child participant is a participant here"));
    // Code that is not published in the parent.
    let mut template = child_template(&p);
    template["modules"][0]["code"] = json!(polypact::op::CodeHash([7; 32]));
    let messages = json!([{"system": {"spawn_partnership": {"charter": template, "values": {"motto": "x"},
        "participants": [p.member(0).to_string()]}}}]);
    let op = pass(&mut p, messages);
    assert!(p.outcome_error(&op).expect("refused").contains("not published in this partnership"));
    // A placeholder without a value.
    let messages = json!([{"system": {"spawn_partnership": {"charter": child_template(&p), "values": {},
        "participants": [p.member(0).to_string()]}}}]);
    let op = pass(&mut p, messages);
    assert!(p.outcome_error(&op).expect("refused").contains("motto"), "{:?}", p.outcome_error(&op));
    p.ack_all();
    assert!(crossing::spawns(p.ledger.final_state()).is_empty());
    // A voting instance the charter does not grant `spawn_partnership`.
    let mut ungranted = program_with_voting_grants(&[]);
    let messages = spawn_msg(&ungranted, &[ungranted.member(0).to_string()]);
    let op = pass(&mut ungranted, messages);
    let error = ungranted.outcome_error(&op).expect("refused");
    assert!(error.contains("may not send `spawn_partnership`"), "{error}");
}

#[test]
fn a_removed_partner_is_left_out_of_what_is_proven_and_no_relay_can_skip_its_removal() {
    let wasm = guestbook();
    let membership = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let id = |seed: u8| polypact::op::MemberKey::from_seed(seed).member_id().to_string();
    let members: Vec<Value> =
        (1..=3).map(|s| json!({"member": id(s), "voting_units": 1, "economic_units": 1})).collect();
    let membership_config = json!({"members": members, "governance": "voting"}).to_string();
    let grants = [SystemPermission::AddParticipant, SystemPermission::RemoveParticipant];
    let mut p = WasmHarness::new(
        3,
        &[("membership", &membership, &membership_config, &grants), ("guestbook", &wasm, "{}", SEND)],
    )
    .expect("program genesis");
    let mut q = project(&wasm, &[p.ledger.partnership()]);
    // The third partner leaves: a new participant set, generation 1.
    let resigned = p.call(2, "membership", &json!({"resign": {}}));
    assert_eq!(p.outcome_error(&resigned), None);
    let q_id = q.ledger.partnership().to_member_text();
    p.call(
        0,
        "guestbook",
        &json!({"sign_elsewhere": {"partnership": q_id, "message": "after the departure"}}),
    );
    p.ack_all();
    let state = p.ledger.final_state();
    assert_eq!(crossing::generation(state), 1);
    let set = crossing::participant_set(state, 1).expect("generation 1");
    assert!(!set.members.contains(&p.member(2)), "the partner who left is not in the new set");
    attest_all(&mut p);
    assert!(
        p.ledger
            .attestation(&Statement::Participants(set).digest(&p.ledger.partnership()), &p.member(2))
            .is_none(),
        "the partner who left does not attest its own removal"
    );
    let certificate = certificate_for(&p, &q, 1);
    assert_eq!(certificate.chain.len(), 1, "the removal is in the chain");
    assert_eq!(certificate.subject.attestations.len(), 2, "only the remaining partners attest the message");
    // A relay that drops the removal from the chain is refused.
    let mut skipped = certificate.clone();
    skipped.chain.clear();
    let op = deliver(&mut q, 0, skipped.encode());
    assert!(q.outcome_error(&op).expect("refused").contains("generation"), "{:?}", q.outcome_error(&op));
    let op = deliver(&mut q, 1, certificate.encode());
    assert_eq!(q.outcome_error(&op), None);
    assert_eq!(entries(&q).len(), 1);
    assert_eq!(
        crossing::inbox(q.ledger.optimistic_state(), &p.ledger.partnership()).expect("inbox").generation,
        1
    );
}
