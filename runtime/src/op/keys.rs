//! Member signing keys.
//!
//! A [`MemberKey`] is an ed25519 signing key. Signatures are over the op id
//! with a domain prefix, and are checked with `verify_strict` (no small-order
//! keys, no non-canonical `s`). Keystore files belong to the node, not here.
//!
//! Checking a signature starts by decompressing the author's public key, a
//! field exponentiation that is about a tenth of `verify_strict`'s cost. A
//! partnership has few authors and many ops, so the decompressed keys are
//! kept in a small process-wide memo. Decompression is a pure function of
//! the 32 key bytes, so the memo changes no result, only the time.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::ids::{MemberId, OpId};

/// Domain separation for op signatures, so an op signature can never be
/// replayed as a signature over anything else.
pub(crate) const OP_SIGNATURE_DOMAIN: &[u8] = b"polypact/op/v1:";

/// A member's signing key.
pub struct MemberKey {
    signing: SigningKey,
}

impl MemberKey {
    /// A fresh key from the operating system's randomness.
    ///
    /// # Panics
    /// Only if the operating system has no randomness source at all.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut secret).expect("the operating system provides randomness");
        Self::from_secret(secret)
    }

    /// A key from its 32 secret bytes (a keystore, a test seed).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        MemberKey { signing: SigningKey::from_bytes(&secret) }
    }

    /// A deterministic key for tests and examples: `seed` repeated.
    pub fn from_seed(seed: u8) -> Self {
        Self::from_secret([seed; 32])
    }

    /// The 32 secret bytes (for writing a keystore).
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The member id this key signs for.
    pub fn member_id(&self) -> MemberId {
        MemberId(self.signing.verifying_key().to_bytes())
    }

    /// Signs an op id.
    pub fn sign_op(&self, id: &OpId) -> [u8; 64] {
        self.signing.sign(&op_signing_message(id)).to_bytes()
    }

    /// The member's X25519 secret: its ed25519 secret scalar, as RFC 8032
    /// derives it (the Montgomery twin of [`crate::seal::recipient_key`]).
    /// What is sealed to the member opens with it.
    pub fn x25519_secret(&self) -> [u8; 32] {
        self.signing.to_scalar_bytes()
    }
}

impl std::fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemberKey({})", self.member_id())
    }
}

pub(crate) fn op_signing_message(id: &OpId) -> [u8; 47] {
    let mut message = [0u8; 47];
    message[..15].copy_from_slice(OP_SIGNATURE_DOMAIN);
    message[15..].copy_from_slice(&id.0);
    message
}

/// How many decompressed keys the memo holds before it starts over (a
/// node's partnerships rarely have this many authors between them).
const KEY_MEMO_LIMIT: usize = 4_096;

/// Decompressed public keys by their bytes (only keys that decompress).
static KEY_MEMO: LazyLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = LazyLock::new(Default::default);

/// `author`'s decompressed public key, from the memo when it is there.
fn verifying_key(author: &MemberId) -> Result<VerifyingKey, VerifyFailure> {
    // A panic elsewhere while holding the lock cannot leave the map
    // half-written in a way that matters: every entry is complete.
    if let Some(key) = KEY_MEMO.lock().unwrap_or_else(PoisonError::into_inner).get(&author.0) {
        return Ok(*key);
    }
    let key = VerifyingKey::from_bytes(&author.0).map_err(|_| VerifyFailure::BadKey)?;
    let mut memo = KEY_MEMO.lock().unwrap_or_else(PoisonError::into_inner);
    if memo.len() >= KEY_MEMO_LIMIT {
        memo.clear();
    }
    memo.insert(author.0, key);
    Ok(key)
}

/// Verifies `signature` by `author` over `id` with `verify_strict`.
pub(crate) fn verify_op_signature(
    author: &MemberId,
    id: &OpId,
    signature: &[u8; 64],
) -> Result<(), VerifyFailure> {
    let key = verifying_key(author)?;
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&op_signing_message(id), &signature).map_err(|_| VerifyFailure::BadSignature)
}

/// Why a signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyFailure {
    BadKey,
    BadSignature,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_length_matches() {
        assert_eq!(OP_SIGNATURE_DOMAIN.len(), 15);
    }

    #[test]
    fn sign_and_verify() {
        let key = MemberKey::from_seed(3);
        let id = OpId([1; 32]);
        let sig = key.sign_op(&id);
        assert!(verify_op_signature(&key.member_id(), &id, &sig).is_ok());
        assert_eq!(
            verify_op_signature(&key.member_id(), &OpId([2; 32]), &sig),
            Err(VerifyFailure::BadSignature)
        );
    }

    /// The key memo changes no verdict: the first check (which decompresses
    /// and remembers) and later ones (from the memo, also after the memo
    /// starts over) agree, for good keys, small-order keys and bytes that
    /// are no key at all (never remembered).
    #[test]
    fn the_key_memo_changes_no_verdict() {
        let id = OpId([7; 32]);
        let good = MemberKey::from_seed(9);
        let sig = good.sign_op(&id);
        // The identity point: decompresses, but is small-order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        // A y with no curve point (found by search, so the test says why).
        let no_point = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some repeated byte is not a curve point");
        for round in 0..3 {
            assert_eq!(verify_op_signature(&good.member_id(), &id, &sig), Ok(()), "round {round}");
            assert_eq!(
                verify_op_signature(&good.member_id(), &OpId([8; 32]), &sig),
                Err(VerifyFailure::BadSignature)
            );
            assert_eq!(verify_op_signature(&MemberId(identity), &id, &sig), Err(VerifyFailure::BadSignature));
            assert_eq!(verify_op_signature(&MemberId(no_point), &id, &sig), Err(VerifyFailure::BadKey));
            assert!(!KEY_MEMO.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&no_point));
            if round == 1 {
                // Overflow the memo so it starts over.
                for seed in 0..4 * KEY_MEMO_LIMIT {
                    let bytes = *blake3::hash(&seed.to_le_bytes()).as_bytes();
                    let _ = verifying_key(&MemberId(bytes));
                }
            }
        }
    }
}
