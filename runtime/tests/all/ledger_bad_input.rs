//! Every kind of bad op is refused with its own clear error and changes nothing.

use polypact::ledger::{Ledger, NativeExecutor, Refusal};
use polypact::op::{
    Limits, MemberId, MemberKey, OpError, OpId, Payload, SignedOp, UnsignedOp, decode_signed_op,
};
use serde_json::json;

use crate::support::{T0, author, call, charter, genesis, keys, ledger};

/// What must not change when an op is refused.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    ops: usize,
    heads: Vec<OpId>,
    final_height: u64,
    final_root: [u8; 32],
    optimistic_root: [u8; 32],
    pending: usize,
}

fn fingerprint(ledger: &Ledger<NativeExecutor>) -> Fingerprint {
    Fingerprint {
        ops: ledger.dag().len(),
        heads: ledger.dag().heads().iter().copied().collect(),
        final_height: ledger.final_height(),
        final_root: ledger.final_root(),
        optimistic_root: ledger.optimistic_root(),
        pending: ledger.pending().len(),
    }
}

struct Setup {
    keys: Vec<MemberKey>,
    ledger: Ledger<NativeExecutor>,
}

fn setup() -> Setup {
    let keys = keys(3);
    let members: Vec<MemberId> = keys[..2].iter().map(MemberKey::member_id).collect();
    let genesis = genesis(&keys[0], charter(&members));
    let mut ledger = ledger(&genesis);
    author(&mut ledger, &keys[0], call(json!({"set": {"key": "a", "value": "1"}})), T0 + 1);
    Setup { keys, ledger }
}

fn refused(ledger: &mut Ledger<NativeExecutor>, op: SignedOp, now: u64) -> Refusal {
    let before = fingerprint(ledger);
    let refusal = ledger.insert(op, now).expect_err("the op must be refused");
    assert_eq!(fingerprint(ledger), before, "a refused op changed the ledger");
    assert!(!refusal.to_string().is_empty());
    refusal
}

fn resign(op: &UnsignedOp, key: &MemberKey) -> SignedOp {
    op.clone().sign(key)
}

#[test]
fn bad_signature() {
    let mut s = setup();
    let op = s.ledger.create_op(&s.keys[1], call(json!({"set": {"key": "b", "value": "2"}})), T0 + 2);
    let mut bytes = op.encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let forged = decode_signed_op(&bytes, &Limits::default()).expect("still decodes");
    let refusal = refused(&mut s.ledger, forged, T0 + 2);
    assert!(matches!(refusal, Refusal::Invalid(OpError::BadSignature { .. })), "{refusal}");
    assert!(refusal.to_string().contains("does not verify"));
    assert_eq!(s.ledger.refusal_counts().get("bad_signature"), Some(&1));
}

#[test]
fn non_strict_signature_is_refused() {
    // A small-order public key (the identity point) with R = identity and
    // S = 0 passes cofactorless `verify` but not `verify_strict`.
    let mut s = setup();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = MemberId(identity);
    let unsigned = UnsignedOp {
        partnership: s.ledger.partnership(),
        author: weak,
        seq: 1,
        parents: s.ledger.dag().heads().iter().copied().collect(),
        time_ms: T0 + 2,
        payload: Payload::Ack,
    };
    let mut signed_bytes = {
        // Encode with any key, then swap author and signature bytes in.
        let mut op = unsigned.clone();
        op.author = s.keys[2].member_id();
        op.sign(&s.keys[2]).encode()
    };
    // Rebuild the encoding with the weak author: re-encode the unsigned part.
    let helper_key = MemberKey::from_seed(99);
    let mut reencoded = {
        let mut op = unsigned.clone();
        op.author = helper_key.member_id();
        op.sign(&helper_key).encode()
    };
    let author_at =
        reencoded.windows(32).position(|w| w == helper_key.member_id().0).expect("author bytes present");
    reencoded[author_at..author_at + 32].copy_from_slice(&identity);
    let sig_at = reencoded.len() - 64;
    let mut signature = [0u8; 64];
    signature[0] = 1; // R = identity, S = 0
    reencoded[sig_at..].copy_from_slice(&signature);
    signed_bytes.clear();
    let op = decode_signed_op(&reencoded, &Limits::default()).expect("decodes");
    assert_eq!(op.author(), weak);
    // Plain verification accepts it…
    let key = ed25519_dalek::VerifyingKey::from_bytes(&identity).expect("a point");
    let mut message = b"polypact/op/v1:".to_vec();
    message.extend_from_slice(&op.id().0);
    let sig = ed25519_dalek::Signature::from_bytes(&signature);
    assert!(key.verify_strict(&message, &sig).is_err());
    // …and the ledger refuses it.
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(matches!(refusal, Refusal::Invalid(OpError::BadSignature { .. })), "{refusal}");
}

#[test]
fn unknown_author() {
    let mut s = setup();
    let outsider = &s.keys[2];
    let op = s.ledger.create_op(outsider, Payload::Ack, T0 + 2);
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(matches!(refusal, Refusal::UnknownAuthor(m) if m == outsider.member_id()), "{refusal}");
    assert!(refusal.to_string().contains("not a participant"));
}

#[test]
fn removed_author() {
    let mut s = setup();
    let leaver = s.keys[1].member_id();
    author(&mut s.ledger, &s.keys[0], call(json!({"remove": leaver.to_string()})), T0 + 2);
    assert!(s.ledger.participants().iter().all(|(m, _)| *m != leaver));
    // A payload-bearing op of the leaver that has the removal in its past.
    let op = s.ledger.create_op(&s.keys[1], call(json!({"set": {"key": "k", "value": "v"}})), T0 + 3);
    let refusal = refused(&mut s.ledger, op, T0 + 3);
    assert!(matches!(refusal, Refusal::RemovedAuthor { author, .. } if author == leaver), "{refusal}");
    // Its one removal ack is accepted (finality waits for it)…
    assert!(s.ledger.owes_removal_ack(&leaver));
    author(&mut s.ledger, &s.keys[1], Payload::Ack, T0 + 3);
    assert!(!s.ledger.owes_removal_ack(&leaver));
    assert!(!s.ledger.awaits(&leaver));
    // …and nothing after it.
    let op = s.ledger.create_op(&s.keys[1], Payload::Ack, T0 + 4);
    let refusal = refused(&mut s.ledger, op, T0 + 4);
    assert!(matches!(refusal, Refusal::RemovedAuthor { author, .. } if author == leaver), "{refusal}");
}

#[test]
fn op_for_another_partnership() {
    let mut s = setup();
    let other_genesis = genesis(&s.keys[0], charter(&[s.keys[0].member_id()]));
    let other = ledger(&other_genesis);
    let op = other.create_op(&s.keys[0], Payload::Ack, T0 + 2);
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(matches!(refusal, Refusal::WrongPartnership { .. }), "{refusal}");
}

#[test]
fn oversized_op() {
    let mut s = setup();
    let big = "x".repeat(300 * 1024);
    let op = s.ledger.create_op(&s.keys[0], call(json!({"set": {"key": "big", "value": big}})), T0 + 2);
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(matches!(refusal, Refusal::Invalid(OpError::TooLarge { .. })), "{refusal}");
    assert!(refusal.to_string().contains("the limit is"));
}

#[test]
fn duplicate_op() {
    let mut s = setup();
    let op = s.ledger.create_op(&s.keys[1], Payload::Ack, T0 + 2);
    s.ledger.insert(op.clone(), T0 + 2).expect("first time is fine");
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(matches!(refusal, Refusal::Duplicate(_)), "{refusal}");
}

#[test]
fn time_below_a_parent() {
    let mut s = setup();
    let mut op = s.ledger.create_op(&s.keys[1], Payload::Ack, T0 + 2).op().clone();
    op.time_ms = T0 - 10;
    let refusal = refused(&mut s.ledger, resign(&op, &s.keys[1]), T0 + 2);
    assert!(matches!(refusal, Refusal::TimeBeforeParent { .. }), "{refusal}");
}

#[test]
fn time_too_far_ahead() {
    let mut s = setup();
    let op = s.ledger.create_op(&s.keys[1], Payload::Ack, T0 + 10_000_000);
    let refusal = refused(&mut s.ledger, op.clone(), T0 + 2);
    assert!(matches!(refusal, Refusal::TooFarAhead { .. }), "{refusal}");
    assert!(refusal.to_string().contains("offer it again later"));
    // Once the clock catches up, the same op is fine.
    s.ledger.insert(op, T0 + 10_000_000).expect("accepted later");
}

#[test]
fn seq_gap() {
    let mut s = setup();
    let mut op = s.ledger.create_op(&s.keys[0], Payload::Ack, T0 + 2).op().clone();
    op.seq += 1;
    let refusal = refused(&mut s.ledger, resign(&op, &s.keys[0]), T0 + 2);
    assert!(matches!(refusal, Refusal::SeqGap { .. }), "{refusal}");
    assert!(refusal.to_string().contains("seq gap"));
}

#[test]
fn garbage_bytes() {
    let limits = Limits::default();
    for garbage in [&b""[..], b"\x01", b"hello world", &[0xffu8; 200][..], &[1u8; 300][..]] {
        let error = decode_signed_op(garbage, &limits).expect_err("garbage must not decode");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn bad_json_in_a_call_is_refused_at_the_door() {
    let mut s = setup();
    let payload = Payload::Call { module: "kv".into(), msg: b"{not json".to_vec() };
    let op = s.ledger.create_op(&s.keys[0], payload, T0 + 2);
    let refusal = refused(&mut s.ledger, op, T0 + 2);
    assert!(refusal.to_string().contains("not valid JSON"), "{refusal}");
}

#[test]
fn failed_call_changes_nothing_but_its_record() {
    let mut s = setup();
    let before = s.ledger.optimistic_state().iter().count();
    let op = author(&mut s.ledger, &s.keys[0], call(json!({"fail": "no thanks"})), T0 + 2);
    let state = s.ledger.optimistic_state();
    assert_eq!(state.failure(&op.id()).as_deref(), Some("module `kv`: no thanks"));
    assert_eq!(state.iter().count(), before + 1, "only the failure record was written");
    assert!(state.iter().all(|(k, _)| !k.ends_with(b"doomed")));
}

#[test]
fn pending_buffer_is_bounded_and_refuses_past_its_bound() {
    use polypact::dag::PendingLimits;
    use polypact::ledger::LedgerConfig;

    let keys = keys(2);
    let members: Vec<MemberId> = keys.iter().map(MemberKey::member_id).collect();
    let genesis = genesis(&keys[0], charter(&members));
    let config =
        LedgerConfig { pending: PendingLimits { max_ops: 3, max_bytes: 1 << 20 }, ..Default::default() };
    let mut source = ledger(&genesis);
    let ops: Vec<SignedOp> = (0..6)
        .map(|i| author(&mut source, &keys[0], call(json!({"add": {"key": "n", "by": i}})), T0 + 1 + i))
        .collect();
    let mut target = Ledger::new(genesis.clone(), crate::support::executor(), config).expect("genesis");
    // Ops 1..=3 wait for op 0; the fourth orphan is refused, not stored.
    for op in &ops[1..4] {
        let insertion = target.insert(op.clone(), T0 + 100).expect("held");
        assert!(!insertion.waiting_for.is_empty());
    }
    let before = fingerprint(&target);
    let refusal = target.insert(ops[4].clone(), T0 + 100).expect_err("buffer full");
    assert!(matches!(refusal, Refusal::PendingFull { ops: 3, .. }), "{refusal}");
    assert!(refusal.to_string().contains("offer this op again later"));
    assert_eq!(fingerprint(&target), before);
    // The missing parent releases the waiting ops; the refused one can come again.
    let insertion = target.insert(ops[0].clone(), T0 + 100).expect("accepted");
    assert_eq!(insertion.accepted.len(), 4);
    target.insert(ops[4].clone(), T0 + 100).expect("accepted now");
    target.insert(ops[5].clone(), T0 + 100).expect("accepted");
    assert_eq!(target.optimistic_root(), source.optimistic_root());
}

/// Good ops in order, with a duplicate, a forged one, an outsider's, one of
/// another partnership and a child whose parent comes later mixed in, none
/// of them checked yet; and how many ops the source ledger holds.
fn mixed_batch() -> (Vec<SignedOp>, usize) {
    // `setup` is deterministic: every call builds the same ledger.
    let s = setup();
    let mut source = setup().ledger;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for i in 0..40u64 {
        if i == 10 {
            // Built on the first ten: a forged signature and a non-member.
            let op = source.create_op(&s.keys[0], call(json!({"set": {"key": "f", "value": "x"}})), T0 + 12);
            let mut bytes = op.encode();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x55;
            bad.push(decode_signed_op(&bytes, &Limits::default()).expect("still decodes"));
            bad.push(source.create_op(&s.keys[2], call(json!({"set": {"key": "o", "value": "x"}})), T0 + 12));
        }
        let key = &s.keys[(i % 2) as usize];
        good.push(author(
            &mut source,
            key,
            call(json!({"set": {"key": format!("k{i}"), "value": "v"}})),
            T0 + 2 + i,
        ));
    }
    let (forged, outsider) = (bad[0].clone(), bad[1].clone());
    let other_partnership = {
        let members = vec![s.keys[0].member_id()];
        let other = genesis(&s.keys[0], charter(&members));
        ledger(&other).create_op(&s.keys[0], call(json!({"set": {"key": "p", "value": "x"}})), T0 + 50)
    };
    // Good ops in order, with a duplicate, a forged one, an outsider's, one of
    // another partnership and a child whose parent comes later mixed in.
    let mut batch: Vec<SignedOp> = Vec::new();
    batch.extend(good[..10].iter().cloned());
    batch.push(forged);
    batch.push(good[3].clone());
    batch.push(outsider);
    batch.push(other_partnership);
    batch.push(good[11].clone());
    batch.push(good[10].clone());
    batch.extend(good[12..].iter().cloned());
    // As they come off the wire: no signature verdicts yet (an op keeps the
    // verdict of its check, and `source` checked these when it took them).
    let batch =
        batch.iter().map(|op| decode_signed_op(&op.encode(), &Limits::default()).expect("decodes")).collect();
    (batch, fingerprint(&source).ops)
}

/// Inserts `batch` one op at a time into one fresh ledger and as a batch
/// into another; both must end alike, with the same result for every op.
fn batch_matches_one_by_one(batch: Vec<SignedOp>, source_ops: usize) {
    // Fresh copies for the one-at-a-time ledger: no signature verdicts carried.
    let fresh: Vec<SignedOp> =
        batch.iter().map(|op| decode_signed_op(&op.encode(), &Limits::default()).expect("decodes")).collect();
    let mut one_by_one = setup().ledger;
    let alone: Vec<Result<_, Refusal>> =
        fresh.into_iter().map(|op| one_by_one.insert(op, T0 + 100)).collect();
    let mut batched = setup().ledger;
    let together = batched.insert_batch(batch, polypact::ledger::Origin::Fresh, T0 + 100);

    assert_eq!(together, alone);
    assert_eq!(fingerprint(&batched), fingerprint(&one_by_one));
    assert_eq!(fingerprint(&batched).ops, source_ops);
    assert_eq!(batched.refusal_counts(), one_by_one.refusal_counts());
    let reasons: Vec<&str> = together.iter().filter_map(|r| r.as_ref().err()).map(Refusal::reason).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        together.iter().any(|r| matches!(r, Err(Refusal::Invalid(OpError::BadSignature { .. })))),
        "the forged op is refused for its signature: {together:?}"
    );
}

/// A batch (whose signatures are checked on all cores before anything is
/// inserted) gives every op the result it would get alone, bad ones among
/// good ones included, and leaves the ledger as one op at a time would.
#[test]
fn a_batch_gives_each_op_the_result_it_would_get_alone() {
    let (batch, source_ops) = mixed_batch();
    batch_matches_one_by_one(batch, source_ops);
}

/// The same when the batch's signatures were checked ahead of time, as a
/// node's sync checks a page while the page before it is inserted: wholly,
/// or for some of its ops only. The forged op's verdict, reached ahead,
/// refuses it exactly as a check at insertion would.
#[test]
fn a_batch_checked_ahead_gives_each_op_the_result_it_would_get_alone() {
    let (batch, source_ops) = mixed_batch();
    assert!(batch.iter().all(|op| !op.signature_checked()));
    let failed = polypact::op::check_signatures(&batch);
    assert_eq!(failed, 1, "the forged signature");
    assert!(batch.iter().all(SignedOp::signature_checked));
    batch_matches_one_by_one(batch, source_ops);

    let (batch, source_ops) = mixed_batch();
    let half = batch.len() / 2;
    polypact::op::check_signatures(&batch[..half]);
    assert!(batch[half..].iter().all(|op| !op.signature_checked()));
    batch_matches_one_by_one(batch, source_ops);
}

#[test]
fn an_event_bomb_fails_alike_and_what_a_node_remembers_stays_bounded() {
    let mut s = setup();
    // Over the per-op limit: the op fails, with the rule's name, and changes nothing.
    let root = s.ledger.optimistic_root();
    let bomb =
        author(&mut s.ledger, &s.keys[0], call(json!({"emit": {"count": 60, "size": 65_000}})), T0 + 2);
    match s.ledger.outcome(&bomb.id()) {
        Some(polypact::ledger::OpOutcome::Failed { error }) => {
            assert!(error.contains("over the limit of 262144 bytes per op"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    let failure_only = s.ledger.optimistic_state().failure(&bomb.id()).is_some();
    assert!(failure_only && s.ledger.optimistic_root() != root, "only the failure record is written");
    // Just under it, many times: each op is fine, and the outcomes a node
    // keeps for recent final ops stay within their byte budget.
    let mut now = T0 + 3;
    for _ in 0..120 {
        now += 1;
        author(&mut s.ledger, &s.keys[0], call(json!({"emit": {"count": 3, "size": 80_000}})), now);
        author(&mut s.ledger, &s.keys[1], Payload::Ack, now);
    }
    assert!(s.ledger.final_height() > 200, "the ops became final");
    let kept = s.ledger.remembered_outcome_bytes();
    assert!(kept <= 16 * 1024 * 1024 + 300 * 1024, "{kept} bytes of outcomes kept");
}
