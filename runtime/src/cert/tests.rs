//! Certificates: honest ones verify; forged, truncated, replayed and
//! wrong-membership ones are refused (property tests over random mutations).

use proptest::prelude::*;

use super::*;
use crate::op::{Charter, CodeHash, MemberKey, ModuleSpec, Params, Payload, UnsignedOp};

const T0: u64 = 1_700_000_000_000;

struct Fixture {
    keys: Vec<MemberKey>,
    genesis: SignedOp,
    source: PartnershipId,
}

fn fixture(n: u8) -> Fixture {
    let mut keys: Vec<MemberKey> = (1..=n).map(MemberKey::from_seed).collect();
    keys.sort_by_key(MemberKey::member_id);
    let charter = Charter {
        name: "program".into(),
        participants: keys.iter().map(MemberKey::member_id).collect(),
        modules: vec![ModuleSpec {
            name: "kv".into(),
            code: CodeHash::of(b"kv"),
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    };
    let genesis = UnsignedOp {
        partnership: PartnershipId::default(),
        author: keys[0].member_id(),
        seq: 1,
        parents: vec![],
        time_ms: T0,
        payload: Payload::Genesis(charter),
    }
    .sign(&keys[0]);
    let source = genesis.partnership();
    Fixture { keys, genesis, source }
}

fn attest(key: &MemberKey, source: PartnershipId, statement: &Statement, seq: u64) -> SignedOp {
    UnsignedOp {
        partnership: source,
        author: key.member_id(),
        seq,
        parents: vec![OpId([seq as u8; 32])],
        time_ms: T0 + seq,
        payload: Payload::Attest { statements: vec![statement.digest(&source)] },
    }
    .sign(key)
}

fn attested(keys: &[&MemberKey], source: PartnershipId, statement: Statement, seq: u64) -> Attested {
    let mut attestations: Vec<SignedOp> = keys.iter().map(|k| attest(k, source, &statement, seq)).collect();
    attestations.sort_by_key(SignedOp::author);
    Attested { statement, attestations }
}

fn message(to: u8, seq: u64, generation: u64) -> Statement {
    Statement::Message(OutboundMessage {
        to: PartnershipId([to; 32]),
        seq,
        module: "treasury".into(),
        msg: br#"{"record_revenue":{"amount":"100"}}"#.to_vec(),
        source_op: OpId([9; 32]),
        height: 7,
        generation,
    })
}

fn members(keys: &[&MemberKey]) -> Vec<MemberId> {
    let mut out: Vec<MemberId> = keys.iter().map(|k| k.member_id()).collect();
    out.sort();
    out
}

/// A certificate for a message sent under generation 1, after the fourth
/// founder was removed, starting from the genesis.
fn after_removal(f: &Fixture) -> Certificate {
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    let remaining = &all[..all.len() - 1];
    let set = Statement::Participants(ParticipantSet {
        generation: 1,
        changed_by: OpId([4; 32]),
        height: 4,
        members: members(remaining),
    });
    Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![attested(remaining, f.source, set, 2)],
        subject: attested(remaining, f.source, message(0xbb, 1, 1), 3),
    }
}

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn an_honest_certificate_verifies_from_the_genesis_and_from_a_trusted_set() {
    let f = fixture(4);
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    let cert = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![],
        subject: attested(&all, f.source, message(0xbb, 1, 0), 2),
    };
    let verified = verify(&cert, None, &limits()).expect("verifies");
    assert_eq!(verified.set, TrustedSet { generation: 0, members: members(&all) });
    let without_genesis = Certificate { genesis: None, ..cert.clone() };
    assert_eq!(verify(&without_genesis, None, &limits()), Err(CertError::GenesisNeeded(f.source)));
    verify(&without_genesis, Some(&verified.set), &limits()).expect("verifies from the trusted set");
    let decoded = Certificate::decode(&cert.encode(), &limits()).expect("decodes");
    assert_eq!(decoded, cert);
}

#[test]
fn a_removed_partner_is_not_needed_and_its_signature_alone_proves_nothing() {
    let f = fixture(4);
    let cert = after_removal(&f);
    let verified = verify(&cert, None, &limits()).expect("verifies");
    assert_eq!(verified.set.generation, 1);
    assert_eq!(verified.set.members.len(), 3);
    // The removed partner signs a message under the old set: it lacks the
    // others' attestations.
    let removed = &f.keys[3];
    let lone = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![],
        subject: attested(&[removed], f.source, message(0xbb, 1, 0), 9),
    };
    assert!(matches!(verify(&lone, None, &limits()), Err(CertError::MissingAttestation(_))));
    // ...and once the set moved on, it cannot attest under the new one.
    let mut forged = cert.clone();
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    forged.subject = attested(&all, f.source, message(0xbb, 1, 1), 9);
    assert_eq!(verify(&forged, None, &limits()), Err(CertError::NotInSet(removed.member_id())));
}

#[test]
fn wrong_membership_is_refused() {
    let f = fixture(3);
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    let stranger = MemberKey::from_seed(99);
    // A set change attested by the newcomer alone.
    let grown = {
        let mut with: Vec<&MemberKey> = all.clone();
        with.push(&stranger);
        members(&with)
    };
    let set = Statement::Participants(ParticipantSet {
        generation: 1,
        changed_by: OpId([4; 32]),
        height: 4,
        members: vec![stranger.member_id()],
    });
    let cert = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![attested(&[&stranger], f.source, set, 2)],
        subject: attested(&[&stranger], f.source, message(1, 1, 1), 3),
    };
    assert!(matches!(verify(&cert, None, &limits()), Err(CertError::BadSet { .. })));
    // An honest admission, but the message is attested by the founders only.
    let admitted = Statement::Participants(ParticipantSet {
        generation: 1,
        changed_by: OpId([4; 32]),
        height: 4,
        members: grown,
    });
    let cert = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![attested(&all, f.source, admitted, 2)],
        subject: attested(&all, f.source, message(1, 1, 1), 3),
    };
    assert_eq!(verify(&cert, None, &limits()), Err(CertError::MissingAttestation(stranger.member_id())));
    // Attestations of another partnership's statement.
    let other = fixture(4);
    let mut cert = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![],
        subject: attested(&all, f.source, message(1, 1, 0), 2),
    };
    cert.subject.attestations[0] = attest(&f.keys[0], other.source, &message(1, 1, 0), 2);
    assert!(matches!(verify(&cert, None, &limits()), Err(CertError::BadAttestation { .. })));
    // Another partnership's genesis.
    let cert = Certificate { genesis: Some(other.genesis.clone()), ..cert };
    assert!(matches!(verify(&cert, None, &limits()), Err(CertError::BadGenesis { .. })));
}

#[test]
fn a_replayed_chain_and_a_stale_statement_are_refused() {
    let f = fixture(4);
    let cert = after_removal(&f);
    let trusted = verify(&cert, None, &limits()).expect("verifies").set;
    // Replaying the chain to a verifier that already trusts generation 1.
    assert_eq!(verify(&cert, Some(&trusted), &limits()), Err(CertError::ChainGap { expected: 2, found: 1 }));
    // A message of generation 0 once generation 1 is trusted.
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    let stale = Certificate {
        source: f.source,
        genesis: None,
        chain: vec![],
        subject: attested(&all, f.source, message(0xbb, 1, 0), 9),
    };
    assert_eq!(
        verify(&stale, Some(&trusted), &limits()),
        Err(CertError::GenerationMismatch { stated: 0, proven: 1 })
    );
}

#[test]
fn attestations_must_be_attest_ops_one_per_author() {
    let f = fixture(2);
    let all: Vec<&MemberKey> = f.keys.iter().collect();
    let mut cert = Certificate {
        source: f.source,
        genesis: Some(f.genesis.clone()),
        chain: vec![],
        subject: attested(&all, f.source, message(1, 1, 0), 2),
    };
    let twice = cert.subject.attestations[0].clone();
    cert.subject.attestations.insert(0, twice);
    assert!(matches!(verify(&cert, None, &limits()), Err(CertError::Malformed(_))));
    cert.subject.attestations.remove(0);
    let ack = UnsignedOp {
        partnership: f.source,
        author: f.keys[0].member_id(),
        seq: 2,
        parents: vec![OpId([1; 32])],
        time_ms: T0,
        payload: Payload::Ack,
    }
    .sign(&f.keys[0]);
    cert.subject.attestations[0] = ack;
    assert!(matches!(verify(&cert, None, &limits()), Err(CertError::BadAttestation { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any change to any byte of an honest certificate makes it refused:
    /// it no longer decodes, or it no longer verifies.
    #[test]
    fn a_forged_byte_is_refused(position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let f = fixture(3);
        let bytes = after_removal(&f).encode();
        let mut forged = bytes.clone();
        let at = position.index(forged.len());
        forged[at] ^= flip;
        let refused = match Certificate::decode(&forged, &limits()) {
            Err(_) => true,
            Ok(cert) => verify(&cert, None, &limits()).is_err(),
        };
        prop_assert!(refused, "a certificate with byte {at} changed was accepted");
    }

    /// Every truncation of an honest certificate is refused.
    #[test]
    fn a_truncated_certificate_is_refused(cut in any::<prop::sample::Index>()) {
        let f = fixture(3);
        let bytes = after_removal(&f).encode();
        let len = cut.index(bytes.len());
        prop_assert!(Certificate::decode(&bytes[..len], &limits()).is_err());
    }

    /// Dropping any attestation, anywhere in the certificate, is refused.
    #[test]
    fn a_missing_attestation_is_refused(link in 0usize..2, which in any::<prop::sample::Index>()) {
        let f = fixture(4);
        let mut cert = after_removal(&f);
        let attested = if link == 0 { &mut cert.chain[0] } else { &mut cert.subject };
        let at = which.index(attested.attestations.len());
        attested.attestations.remove(at);
        prop_assert!(matches!(verify(&cert, None, &limits()), Err(CertError::MissingAttestation(_))));
    }
}
