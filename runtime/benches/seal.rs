//! Confidentiality: what sealing gossip costs per op, beside what taking an
//! op in costs anyway, measured in the same run.
//!
//! Run: `cargo bench -p polypact --bench seal`. Prints, for a typical call
//! op (a guestbook entry, ~250 bytes) and a large one (4 KiB of message):
//! sealing it in an envelope, opening it, and the reference: decoding it
//! and checking its signature with `verify_strict` on one core (the front
//! door's fixed cost per op; every figure is the median per op over
//! repeated runs of 2,000 ops). Then a rekey op for 8 and for 64
//! participants: sealing a fresh key to all of them, and opening one slot.

use std::time::{Duration, Instant};

use polypact::op::{Limits, MemberKey, OpId, PartnershipId, Payload, SignedOp, UnsignedOp, decode_signed_op};
use polypact::seal::{self, PartnershipKey, SealedBox};

const ROUNDS: usize = 21;
const OPS: usize = 2_000;

fn call_op(key: &MemberKey, seq: u64, message_bytes: usize) -> SignedOp {
    let text = "x".repeat(message_bytes);
    UnsignedOp {
        partnership: PartnershipId([3; 32]),
        author: key.member_id(),
        seq,
        parents: vec![OpId([1; 32]), OpId([2; 32])],
        time_ms: 1_700_000_000_000 + seq,
        payload: Payload::Call {
            module: "guestbook".into(),
            msg: format!(r#"{{"sign":{{"message":"{text}"}}}}"#).into_bytes(),
        },
    }
    .sign(key)
}

/// Median per-item time of `f` run over `items`, `ROUNDS` times.
fn per_item<T>(items: &[T], mut f: impl FnMut(&T)) -> Duration {
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for item in items {
                f(item);
            }
            start.elapsed() / items.len() as u32
        })
        .collect();
    samples.sort();
    samples[ROUNDS / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let key = MemberKey::from_seed(1);
    let partnership_key = PartnershipKey::generate().expect("key");
    let limits = Limits::default();
    println!(
        "| op | bytes | seal µs | open µs | decode + verify_strict µs (reference) | (seal + open) / reference |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, message_bytes) in [("guestbook call", 24), ("call with 4 KiB", 4096)] {
        let ops: Vec<Vec<u8>> =
            (1..=OPS as u64).map(|seq| call_op(&key, seq, message_bytes).encode()).collect();
        let sealed: Vec<Vec<u8>> = ops.iter().map(|op| partnership_key.seal(op).expect("seal")).collect();
        let seal_time = per_item(&ops, |op| {
            std::hint::black_box(partnership_key.seal(op).expect("seal"));
        });
        let open_time = per_item(&sealed, |envelope| {
            std::hint::black_box(partnership_key.open(envelope).expect("open"));
        });
        // Fresh decodes, so no cached signature verdict is reused.
        let reference = per_item(&ops, |bytes| {
            let op = decode_signed_op(bytes, &limits).expect("decode");
            op.verify(&limits).expect("valid");
        });
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.3} |",
            ops[0].len(),
            micros(seal_time),
            micros(open_time),
            micros(reference),
            (seal_time + open_time).as_secs_f64() / reference.as_secs_f64()
        );
    }
    println!();
    println!(
        "| rekey recipients | seal the key to all µs | open one slot µs | one verify_strict µs (reference) |"
    );
    println!("|---|---|---|---|");
    let one_op = call_op(&key, 1, 24).encode();
    let verify_one = per_item(&[one_op], |bytes| {
        decode_signed_op(bytes, &limits).expect("decode").verify(&limits).expect("valid");
    });
    for n in [8u8, 64] {
        let members: Vec<MemberKey> = (1..=n).map(MemberKey::from_seed).collect();
        let public: Vec<[u8; 32]> =
            members.iter().map(|m| seal::recipient_key(&m.member_id()).expect("key")).collect();
        let context = seal::rekey_context(&PartnershipId([3; 32]));
        let bytes = partnership_key.to_bytes();
        let boxes: Vec<SealedBox> =
            (0..20).map(|_| SealedBox::seal(&public, &context, &bytes).expect("seal")).collect();
        let seal_all = per_item(&[()], |()| {
            std::hint::black_box(SealedBox::seal(&public, &context, &bytes).expect("seal"));
        });
        let secret = members[0].x25519_secret();
        let open_one = per_item(&boxes, |sealed| {
            std::hint::black_box(sealed.open_slot(0, &secret, &context).expect("open"));
        });
        println!("| {n} | {:.1} | {:.1} | {:.1} |", micros(seal_all), micros(open_one), micros(verify_one));
    }
}
