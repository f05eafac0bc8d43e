//! Member signing keys.
//!
//! A [`MemberKey`] is an ed25519 signing key. Signatures are over the op id
//! with a domain prefix, and are checked with `verify_strict` (no small-order
//! keys, no non-canonical `s`). Keystore files belong to the node, not here.

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

/// Verifies `signature` by `author` over `id` with `verify_strict`.
pub(crate) fn verify_op_signature(
    author: &MemberId,
    id: &OpId,
    signature: &[u8; 64],
) -> Result<(), VerifyFailure> {
    let key = VerifyingKey::from_bytes(&author.0).map_err(|_| VerifyFailure::BadKey)?;
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
}
