//! The canonical, versioned binary encoding of ops.
//!
//! Layout of a signed op: one version byte ([`ENCODING_VERSION`]), the
//! postcard encoding of the [`UnsignedOp`], then the 64-byte signature. The op
//! id is BLAKE3 over everything but the signature. Decoding re-encodes and
//! compares, so only the one canonical encoding of an op is ever accepted and
//! two nodes can never disagree on an id.

use super::error::OpError;
use super::ids::{MemberId, OpId, PartnershipId};
use super::types::{OpHeader, SignedOp, UnsignedOp};

/// The encoding version this node writes and reads.
/// Version 2 added a charter's `parent` (spawned partnerships), version 3
/// its `params.checkpoint_every`; ops of an older version are refused with
/// a clear error, not misread.
pub const ENCODING_VERSION: u8 = 3;

/// Size limits an op must respect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest signed encoding accepted, in bytes.
    pub max_op_bytes: usize,
    /// The most parents an op may name.
    pub max_parents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_op_bytes: 256 * 1024, max_parents: 64 }
    }
}

pub(crate) fn encode_unsigned(op: &UnsignedOp) -> Vec<u8> {
    let mut out = vec![ENCODING_VERSION];
    // Serialising plain data into a Vec cannot fail: postcard only errors on
    // unsupported serde features, which our types do not use.
    #[allow(clippy::expect_used)]
    let out = postcard::to_extend(op, std::mem::take(&mut out)).expect("ops always serialise");
    out
}

/// The canonical signed encoding of `op`.
pub fn encode_signed_op(op: &SignedOp) -> Vec<u8> {
    let mut out = encode_unsigned(op.op());
    out.extend_from_slice(op.signature());
    out
}

/// The id of the op whose signed encoding is `bytes`, read off the bytes
/// without decoding them: BLAKE3 of everything before the 64-byte
/// signature, if `bytes` is long enough and carries this encoding version.
///
/// Whenever [`decode_signed_op`] accepts `bytes`, this is that op's id. For
/// bytes it refuses, this is the hash of bytes that are no op's canonical
/// unsigned encoding, which no op id equals, unless the bytes are an op's
/// canonical encoding followed by a signature that is not its own (and
/// that, like any signature, is checked later, not here).
pub fn op_id_of_encoding(bytes: &[u8]) -> Option<OpId> {
    if bytes.len() < 1 + 64 || bytes[0] != ENCODING_VERSION {
        return None;
    }
    Some(id_of_unsigned_encoding(&bytes[..bytes.len() - 64]))
}

/// The author, seq and time of a canonical signed op encoding, read off
/// its first fields without decoding the rest (`None` if they do not
/// parse): for the store, which checks the bytes against the op's id
/// first.
pub(crate) fn header_of_encoding(bytes: &[u8]) -> Option<OpHeader> {
    let (&version, fields) = bytes.split_first()?;
    if version != ENCODING_VERSION {
        return None;
    }
    let ((_, author, seq, _, time_ms), _): ((PartnershipId, MemberId, u64, Vec<OpId>, u64), _) =
        postcard::take_from_bytes(fields).ok()?;
    Some(OpHeader { author, seq, time_ms })
}

/// The op id rule, in one place: BLAKE3 of the canonical unsigned encoding
/// (version byte included).
pub(crate) fn id_of_unsigned_encoding(unsigned_bytes: &[u8]) -> OpId {
    OpId(*blake3::hash(unsigned_bytes).as_bytes())
}

/// Decodes a signed op from its canonical encoding.
///
/// Checks the version, the size limit and canonicality. It does not check the
/// signature or the structure: call [`SignedOp::verify`] for that.
pub fn decode_signed_op(bytes: &[u8], limits: &Limits) -> Result<SignedOp, OpError> {
    if bytes.len() > limits.max_op_bytes {
        return Err(OpError::TooLarge { size: bytes.len(), limit: limits.max_op_bytes });
    }
    let (&version, _) = bytes.split_first().ok_or_else(|| OpError::Malformed("empty input".into()))?;
    if version != ENCODING_VERSION {
        return Err(OpError::UnsupportedVersion { found: version, supported: ENCODING_VERSION });
    }
    if bytes.len() < 1 + 64 {
        return Err(OpError::Malformed(format!("{} bytes is too short for an op", bytes.len())));
    }
    let (unsigned_bytes, signature) = bytes.split_at(bytes.len() - 64);
    let op: UnsignedOp = postcard::from_bytes(&unsigned_bytes[1..])
        .map_err(|e| OpError::Malformed(format!("cannot decode op: {e}")))?;
    if encode_unsigned(&op) != unsigned_bytes {
        return Err(OpError::Malformed("not the canonical encoding of the op".into()));
    }
    let id = id_of_unsigned_encoding(unsigned_bytes);
    let mut sig = [0u8; 64];
    sig.copy_from_slice(signature);
    Ok(SignedOp::from_parts(op, sig, id, bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{MemberKey, PartnershipId, Payload};

    fn call_op(key: &MemberKey) -> SignedOp {
        UnsignedOp {
            partnership: PartnershipId([5; 32]),
            author: key.member_id(),
            seq: 2,
            parents: vec![OpId([1; 32])],
            time_ms: 1_700_000_000_000,
            payload: Payload::Call { module: "counter".into(), msg: br#"{"add":1}"#.to_vec() },
        }
        .sign(key)
    }

    /// The signature verdict an op keeps is the verdict of its own bytes: a
    /// checked op and a fresh copy are equal and agree, and a copy with a
    /// damaged signature is refused every time it is checked.
    #[test]
    fn the_kept_signature_verdict_is_the_ops_own() {
        let key = MemberKey::from_seed(4);
        let op = call_op(&key);
        let limits = Limits::default();
        assert!(op.check_signature().is_ok());
        let fresh = decode_signed_op(&op.encode(), &limits).expect("decodes");
        assert_eq!(fresh, op, "the verdict is not part of the op's identity");
        assert!(fresh.verify(&limits).is_ok());
        let mut damaged_bytes = op.encode();
        let last = damaged_bytes.len() - 1;
        damaged_bytes[last] ^= 1;
        let damaged = decode_signed_op(&damaged_bytes, &limits).expect("still decodes");
        for _ in 0..2 {
            assert!(matches!(damaged.verify(&limits), Err(OpError::BadSignature { .. })));
            assert!(matches!(damaged.clone().check_signature(), Err(OpError::BadSignature { .. })));
        }
        assert!(op.verify(&limits).is_ok(), "the good op's verdict is untouched");
    }

    #[test]
    fn round_trip_keeps_id_and_signature() {
        let key = MemberKey::from_seed(1);
        let op = call_op(&key);
        let bytes = op.encode();
        assert_eq!(bytes.len(), op.encoded_len());
        let back = decode_signed_op(&bytes, &Limits::default()).expect("decodes");
        assert_eq!(back, op);
        back.verify(&Limits::default()).expect("verifies");
    }

    #[test]
    fn garbage_and_versions_are_refused() {
        let limits = Limits::default();
        assert!(matches!(decode_signed_op(&[], &limits), Err(OpError::Malformed(_))));
        assert!(matches!(
            decode_signed_op(&[9; 100], &limits),
            Err(OpError::UnsupportedVersion { found: 9, .. })
        ));
        assert!(matches!(decode_signed_op(&[ENCODING_VERSION; 100], &limits), Err(OpError::Malformed(_))));
        // An op of the format before the charter's parent is refused as such.
        assert!(matches!(
            decode_signed_op(&[1; 100], &limits),
            Err(OpError::UnsupportedVersion { found: 1, .. })
        ));
        let big = vec![1u8; limits.max_op_bytes + 1];
        assert!(matches!(decode_signed_op(&big, &limits), Err(OpError::TooLarge { .. })));
    }

    #[test]
    fn trailing_or_flipped_bytes_are_refused() {
        let key = MemberKey::from_seed(1);
        let mut bytes = call_op(&key).encode();
        bytes.insert(bytes.len() - 64, 0);
        assert!(decode_signed_op(&bytes, &Limits::default()).is_err());
        let mut bytes = call_op(&key).encode();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let op = decode_signed_op(&bytes, &Limits::default()).expect("decodes");
        assert!(matches!(op.verify(&Limits::default()), Err(OpError::BadSignature { .. })));
    }

    proptest::proptest! {
        /// The id, author and seq read off the bytes are the ones the op
        /// decodes to, for any op; and for any bytes that decode at all.
        #[test]
        fn the_id_and_header_read_off_the_bytes_are_the_decoded_ones(
            seed in 1u8..=255,
            seq in 1u64..1_000_000,
            parents in proptest::collection::vec(proptest::array::uniform32(proptest::num::u8::ANY), 0..5),
            time_ms in proptest::num::u64::ANY,
            msg in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            flip in proptest::num::usize::ANY,
        ) {
            let key = MemberKey::from_seed(seed);
            let op = UnsignedOp {
                partnership: PartnershipId([seed; 32]),
                author: key.member_id(),
                seq,
                parents: parents.into_iter().map(OpId).collect(),
                time_ms,
                payload: Payload::Call { module: "m".into(), msg },
            }
            .sign(&key);
            let mut bytes = op.encode();
            proptest::prop_assert_eq!(op_id_of_encoding(&bytes), Some(op.id()));
            proptest::prop_assert_eq!(header_of_encoding(&bytes), Some(op.header()));
            // One byte changed anywhere: whatever still decodes has the id
            // read off its bytes.
            let at = flip % bytes.len();
            bytes[at] ^= 0x55;
            if let Ok(decoded) = decode_signed_op(&bytes, &Limits::default()) {
                proptest::prop_assert_eq!(op_id_of_encoding(&bytes), Some(decoded.id()));
                proptest::prop_assert_eq!(header_of_encoding(&bytes), Some(decoded.header()));
            }
        }
    }
}
