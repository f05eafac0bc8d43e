//! Certificates between partnerships: size and verification time against
//! the number of participants (2 to 64), beside the reference measured in
//! the same run: that many single `verify_strict` checks on one core (a
//! certificate's verification is dominated by one signature per
//! participant).
//!
//! Run: `cargo bench -p polypact --bench certificates`. Prints, per size:
//! the certificate's bytes from the genesis (a verifier that trusts
//! nothing yet) and from a trusted set (the usual case: later messages),
//! decode + verify time (median of repeated runs, each from fresh bytes so
//! no signature verdict is reused), and the ratio to n × `verify_strict`.

use std::time::{Duration, Instant};

use polypact::cert::{Attested, Certificate, OutboundMessage, Statement, TrustedSet, verify};
use polypact::op::{
    Charter, CodeHash, Limits, MemberKey, ModuleSpec, OpId, Params, PartnershipId, Payload, SignedOp,
    UnsignedOp,
};

const T0: u64 = 1_700_000_000_000;
const ROUNDS: usize = 41;

fn genesis(keys: &[MemberKey]) -> SignedOp {
    let mut participants: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
    participants.sort();
    let charter = Charter {
        name: "bench program".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "treasury".into(),
            code: CodeHash::of(b"treasury"),
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    };
    UnsignedOp {
        partnership: PartnershipId::default(),
        author: keys[0].member_id(),
        seq: 1,
        parents: vec![],
        time_ms: T0,
        payload: Payload::Genesis(charter),
    }
    .sign(&keys[0])
}

fn certificate(keys: &[MemberKey], with_genesis: bool) -> (Certificate, Vec<u8>) {
    let genesis = genesis(keys);
    let source = genesis.partnership();
    let statement = Statement::Message(OutboundMessage {
        to: PartnershipId([7; 32]),
        seq: 1,
        module: "treasury".into(),
        msg: br#"{"receive_payment":{"asset":"EUR","amount":100,"reference":"program-fee-1"}}"#.to_vec(),
        source_op: OpId([9; 32]),
        height: 12,
        generation: 0,
    });
    let digest = statement.digest(&source);
    let mut attestations: Vec<SignedOp> = keys
        .iter()
        .map(|k| {
            UnsignedOp {
                partnership: source,
                author: k.member_id(),
                seq: 5,
                parents: vec![OpId([1; 32]), OpId([2; 32])],
                time_ms: T0 + 5,
                payload: Payload::Attest { statements: vec![digest] },
            }
            .sign(k)
        })
        .collect();
    attestations.sort_by_key(SignedOp::author);
    let cert = Certificate {
        source,
        genesis: with_genesis.then_some(genesis),
        chain: vec![],
        subject: Attested { statement, attestations },
    };
    let bytes = cert.encode();
    (cert, bytes)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// One `verify_strict` of a fresh op signature (decode included, as for a
/// certificate's attestations).
fn single_verify(key: &MemberKey, limits: &Limits) -> Duration {
    let op = UnsignedOp {
        partnership: PartnershipId([3; 32]),
        author: key.member_id(),
        seq: 2,
        parents: vec![OpId([1; 32])],
        time_ms: T0,
        payload: Payload::Ack,
    }
    .sign(key);
    let bytes = op.encode();
    let mut times = Vec::new();
    for _ in 0..ROUNDS * 8 {
        let start = Instant::now();
        let op = polypact::op::decode_signed_op(&bytes, limits).expect("decodes");
        op.check_signature().expect("valid");
        times.push(start.elapsed());
    }
    median(times)
}

fn main() {
    let limits = Limits::default();
    let reference = single_verify(&MemberKey::from_seed(1), &limits);
    println!("one verify_strict of an op (decode included): {:.1} µs", reference.as_secs_f64() * 1e6);
    println!(
        "{:>4} | {:>10} | {:>12} | {:>12} | {:>12} | {:>6}",
        "n", "bytes", "bytes+gen.", "verify", "n×verify", "ratio"
    );
    for n in [2usize, 4, 8, 16, 32, 64] {
        let keys: Vec<MemberKey> = (1..=n as u8).map(MemberKey::from_seed).collect();
        let (_, with_genesis) = certificate(&keys, true);
        let (cert, trusted_bytes) = certificate(&keys, false);
        let mut members: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
        members.sort();
        let trusted = TrustedSet { generation: 0, members };
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let start = Instant::now();
            let decoded = Certificate::decode(&trusted_bytes, &limits).expect("decodes");
            verify(&decoded, Some(&trusted), &limits).expect("verifies");
            times.push(start.elapsed());
        }
        assert_eq!(cert.source, Certificate::decode(&trusted_bytes, &limits).expect("decodes").source);
        let took = median(times);
        let expected = reference * n as u32;
        println!(
            "{n:>4} | {:>10} | {:>12} | {:>9.1} µs | {:>9.1} µs | {:>6.2}",
            trusted_bytes.len(),
            with_genesis.len(),
            took.as_secs_f64() * 1e6,
            expected.as_secs_f64() * 1e6,
            took.as_secs_f64() / expected.as_secs_f64()
        );
    }
}
