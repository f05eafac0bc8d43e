//! `polypact certificate verify`: a checkpoint's certificate, built by a
//! real ledger running the guestbook `.wasm`, is verified offline against
//! its partnership's id; a tampered one, one about another partnership and
//! text that is no certificate are refused with a clear error.

use polypact::cert::Statement;
use polypact::node::crossing::build_certificate;
use polypact::op::{MIN_CHECKPOINT_EVERY, Params, Payload};
use polypact::testing::{WasmHarness, module_wasm};
use serde_json::json;

use crate::support::{fails, ok};

/// A one-partner partnership past its first checkpoint, attested: the
/// certificate's hex, the partnership id, the checkpoint's height and root.
fn checkpoint_certificate() -> (String, String, u64, String) {
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let params = Params { checkpoint_every: MIN_CHECKPOINT_EVERY, ..Params::default() };
    let mut h = WasmHarness::with_params(1, &[("guestbook", &wasm, "{}", &[])], params).expect("genesis");
    for n in 0..MIN_CHECKPOINT_EVERY + 4 {
        h.call(0, "guestbook", &json!({"sign": {"message": format!("entry {n}")}}));
    }
    let checkpoint = *h.ledger.checkpoints().next().expect("a checkpoint taken");
    let p = h.ledger.partnership();
    h.now += 1;
    let digest = Statement::Checkpoint(checkpoint).digest(&p);
    let attest = h.ledger.create_op(&h.keys[0], Payload::Attest { statements: vec![digest] }, h.now);
    h.ledger.insert(attest, h.now).expect("attested");
    let certificate = build_certificate(&h.ledger, &p, None, Statement::Checkpoint(checkpoint))
        .expect("builds")
        .expect("every attestation is there");
    (hex::encode(certificate.encode()), p.to_hex(), checkpoint.height, hex::encode(checkpoint.state_root))
}

#[test]
fn a_checkpoint_certificate_verifies_offline_and_a_bad_one_is_refused() {
    let (certificate, p, height, root) = checkpoint_certificate();
    let human = ok(&["certificate", "verify", &certificate]);
    assert!(human.contains(&format!("valid: a certificate of partnership {p}")), "{human}");
    assert!(human.contains(&format!("at height {height} has the root {root}")), "{human}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoint.cert");
    std::fs::write(&file, format!("{certificate}\n")).unwrap();
    let file = file.to_str().unwrap();
    let verified: serde_json::Value =
        serde_json::from_str(&ok(&["certificate", "verify", file, "--partnership", &p, "--json"])).unwrap();
    assert_eq!(verified["valid"], json!(true));
    assert_eq!(verified["partnership"], json!(p));
    assert_eq!(verified["checkpoint"], json!({"height": height, "state_root": root}));

    // About another partnership: refused.
    let other = "ab".repeat(32);
    let err = fails(&["certificate", "verify", &certificate, "--partnership", &other]);
    assert!(err.contains(&format!("is about partnership {p}, not {other}")), "{err}");
    // Tampered: one hex digit of the signed statement changed.
    let mut bytes = hex::decode(&certificate).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let err = fails(&["certificate", "verify", &hex::encode(bytes)]);
    assert!(err.contains("does not"), "{err}");
    // No certificate at all.
    let err = fails(&["certificate", "verify", "not hex at all"]);
    assert!(err.contains("not hex"), "{err}");
    let err = fails(&["certificate", "verify", "00ff"]);
    assert!(err.contains("does not decode"), "{err}");
}
