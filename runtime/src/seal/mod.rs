//! Confidentiality: partnership keys, envelopes and sealed boxes.
//!
//! Owns the cryptography that keeps a partnership's traffic unreadable to
//! anyone who is not one of its participants, built only from well-kept
//! crates (XChaCha20-Poly1305 from RustCrypto, X25519 from dalek,
//! HKDF-SHA256); no primitive is written here.
//!
//! - A [`PartnershipKey`] is 32 random bytes. Gossip about a partnership
//!   travels as an *envelope* under its current key ([`PartnershipKey::seal`]):
//!   a version byte, the key's [`KeyId`] (HKDF of the key, so it names the
//!   key without revealing it or the partnership), a random 24-byte nonce
//!   and the XChaCha20-Poly1305 ciphertext, the header as associated data.
//! - A member's X25519 key is its ed25519 key on the Montgomery curve
//!   ([`recipient_key`], [`crate::op::MemberKey::x25519_secret`]): every
//!   participant's is known from the moment it is named (in a genesis or
//!   an admission), with nothing to publish first (docs/decisions.md).
//! - A [`SealedBox`] carries bytes to a set of recipients (a new partnership
//!   key in a `rekey` op, a genesis in an announcement): a fresh content key
//!   encrypts the bytes once, and one *slot* per recipient wraps the
//!   content key under HKDF(X25519(ephemeral, recipient)), bound to the
//!   ephemeral key, the recipient's key and a context (what the box is for
//!   and, for a rekey, the partnership), age-style.
//!
//! Does not own which key a node uses, when it rotates, or who receives it
//! (the node's key ring, `node::network::keyring`), nor where a rekey op sits in the
//! ledger (`ledger`).

#[cfg(test)]
mod tests;

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::op::{MAX_REKEY_RECIPIENTS, MemberId, MemberKey, PartnershipId, Payload, SignedOp};

/// The version byte that opens every envelope.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes an envelope adds to what it carries: version, key id, nonce, tag.
pub const ENVELOPE_OVERHEAD: usize = 1 + KEY_ID_LEN + NONCE_LEN + TAG_LEN;
/// Bytes of a [`KeyId`].
pub const KEY_ID_LEN: usize = 16;
/// Bytes of one slot of a [`SealedBox`]: a wrapped 32-byte key and its tag.
pub const SLOT_LEN: usize = 32 + TAG_LEN;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
    /// The bytes do not have the shape of what they claim to be.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// An envelope, a sealed box.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// Authentication failed: another key, another recipient, or bytes
    /// changed on the way.
    #[error("cannot open: wrong key or tampered bytes")]
    Open,
    /// A member id that is not a valid ed25519 key, or whose X25519 key is
    /// of small order: nothing can be sealed to it.
    #[error("member {0} has no usable encryption key")]
    BadRecipient(MemberId),
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SealError::Randomness(e.to_string()))?;
    Ok(bytes)
}

/// HKDF-SHA256 of `ikm` into 32 bytes under `info` (and `salt`).
fn derive(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let info: Vec<u8> = info.concat();
    // 32 bytes is far below HKDF-SHA256's 8,160-byte limit.
    if Hkdf::<Sha256>::new(salt, ikm).expand(&info, &mut out).is_err() {
        unreachable!("HKDF-SHA256 expands to 32 bytes");
    }
    out
}

/// Names a [`PartnershipKey`] in envelopes: HKDF of the key, so it reveals
/// neither the key nor the partnership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

/// A partnership's symmetric key (see the module doc). Its bytes never
/// appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PartnershipKey {
    bytes: [u8; 32],
    id: KeyId,
    envelope_key: [u8; 32],
}

impl std::fmt::Debug for PartnershipKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartnershipKey({})", hex::encode(self.id.0))
    }
}

impl PartnershipKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<Self, SealError> {
        Ok(Self::from_bytes(random()?))
    }

    /// The key of these 32 bytes (as opened from a sealed box).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let id_bytes = derive(None, &bytes, &[b"polypact/key-id/v1"]);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&id_bytes[..KEY_ID_LEN]);
        let envelope_key = derive(None, &bytes, &[b"polypact/envelope/v1"]);
        PartnershipKey { bytes, id: KeyId(id), envelope_key }
    }

    /// The 32 key bytes (to seal them to recipients).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// The key's id, as envelopes carry it.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// `plaintext` in an envelope under this key, with a random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce: [u8; NONCE_LEN] = random()?;
        let mut out = Vec::with_capacity(plaintext.len() + ENVELOPE_OVERHEAD);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&self.id.0);
        let cipher = XChaCha20Poly1305::new((&self.envelope_key).into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), AeadPayload { msg: plaintext, aad: &out[..HEADER_LEN] })
            .map_err(|_| SealError::Malformed { what: "plaintext", why: "too long to seal".into() })?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// What an envelope under this key carries.
    pub fn open(&self, envelope: &[u8]) -> Result<Vec<u8>, SealError> {
        let key_id = envelope_key_id(envelope)?;
        if key_id != self.id {
            return Err(SealError::Open);
        }
        let nonce = &envelope[HEADER_LEN..HEADER_LEN + NONCE_LEN];
        let cipher = XChaCha20Poly1305::new((&self.envelope_key).into());
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                AeadPayload { msg: &envelope[HEADER_LEN + NONCE_LEN..], aad: &envelope[..HEADER_LEN] },
            )
            .map_err(|_| SealError::Open)
    }
}

/// The id of the key an envelope says it is sealed under (unchecked until
/// opened).
pub fn envelope_key_id(envelope: &[u8]) -> Result<KeyId, SealError> {
    let malformed = |why: &str| SealError::Malformed { what: "envelope", why: why.into() };
    if envelope.len() < ENVELOPE_OVERHEAD {
        return Err(malformed("shorter than its header and tag"));
    }
    if envelope[0] != ENVELOPE_VERSION {
        return Err(malformed(&format!("version {} (this node reads {ENVELOPE_VERSION})", envelope[0])));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&envelope[1..HEADER_LEN]);
    Ok(KeyId(id))
}

/// A member's X25519 public key: its ed25519 key on the Montgomery curve.
pub fn recipient_key(member: &MemberId) -> Result<[u8; 32], SealError> {
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&member.0).map_err(|_| SealError::BadRecipient(*member))?;
    if key.is_weak() {
        return Err(SealError::BadRecipient(*member));
    }
    Ok(key.to_montgomery().to_bytes())
}

/// The public half of an X25519 secret.
pub fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// Bytes sealed to a set of recipients (see the module doc): anyone may
/// hold it, only a recipient opens it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBox {
    /// The sender's one-time X25519 public key.
    pub ephemeral: [u8; 32],
    /// One wrapped content key per recipient ([`SLOT_LEN`] bytes each), in
    /// the order the recipients were given.
    pub slots: Vec<Vec<u8>>,
    /// The bytes under the content key.
    pub ciphertext: Vec<u8>,
}

/// The key that wraps the content key for one recipient.
fn slot_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32], context: &[u8]) -> [u8; 32] {
    let salt = [&ephemeral[..], &recipient[..]].concat();
    derive(Some(&salt), shared, &[b"polypact/seal/v1 slot:", context])
}

// Each slot key and each content key encrypts exactly one message, so a
// fixed nonce is safe under them.
const FIXED_NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

impl SealedBox {
    /// Seals `plaintext` to `recipients` (X25519 public keys, see
    /// [`recipient_key`]) for `context` (what the box is for; a recipient
    /// must name the same context to open it).
    pub fn seal(recipients: &[[u8; 32]], context: &[u8], plaintext: &[u8]) -> Result<Self, SealError> {
        let ephemeral_secret: [u8; 32] = random()?;
        let ephemeral = public_of(&ephemeral_secret);
        let content_key: [u8; 32] = random()?;
        let mut slots = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let shared = x25519_dalek::x25519(ephemeral_secret, *recipient);
            if shared == [0; 32] {
                return Err(SealError::Malformed { what: "recipient key", why: "of small order".into() });
            }
            let wrap = XChaCha20Poly1305::new((&slot_key(&shared, &ephemeral, recipient, context)).into());
            let slot = wrap
                .encrypt(XNonce::from_slice(&FIXED_NONCE), AeadPayload { msg: &content_key, aad: context })
                .map_err(|_| SealError::Open)?;
            slots.push(slot);
        }
        let aad = [context, &ephemeral[..]].concat();
        let ciphertext = XChaCha20Poly1305::new((&content_key).into())
            .encrypt(XNonce::from_slice(&FIXED_NONCE), AeadPayload { msg: plaintext, aad: &aad })
            .map_err(|_| SealError::Malformed { what: "plaintext", why: "too long to seal".into() })?;
        Ok(SealedBox { ephemeral, slots, ciphertext })
    }

    /// Opens the box with the recipient's X25519 `secret` through slot
    /// `slot` (its place among the recipients).
    pub fn open_slot(&self, slot: usize, secret: &[u8; 32], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let wrapped = self.slots.get(slot).ok_or(SealError::Open)?;
        let shared = x25519_dalek::x25519(*secret, self.ephemeral);
        if shared == [0; 32] {
            return Err(SealError::Open);
        }
        let key = slot_key(&shared, &self.ephemeral, &public_of(secret), context);
        let content_key = XChaCha20Poly1305::new((&key).into())
            .decrypt(XNonce::from_slice(&FIXED_NONCE), AeadPayload { msg: wrapped, aad: context })
            .map_err(|_| SealError::Open)?;
        let content_key: [u8; 32] = content_key.try_into().map_err(|_| SealError::Open)?;
        let aad = [context, &self.ephemeral[..]].concat();
        XChaCha20Poly1305::new((&content_key).into())
            .decrypt(XNonce::from_slice(&FIXED_NONCE), AeadPayload { msg: &self.ciphertext, aad: &aad })
            .map_err(|_| SealError::Open)
    }

    /// Opens the box with `secret` through whichever slot is its own (for a
    /// box whose recipients are not named, an announcement).
    pub fn open_any(&self, secret: &[u8; 32], context: &[u8]) -> Result<Vec<u8>, SealError> {
        (0..self.slots.len())
            .find_map(|slot| self.open_slot(slot, secret, context).ok())
            .ok_or(SealError::Open)
    }

    /// The shape checks anyone can make: 1 to `max_slots` slots of
    /// [`SLOT_LEN`] bytes and a ciphertext with at least its tag.
    pub fn check_shape(&self, max_slots: usize) -> Result<(), SealError> {
        let malformed = |why: String| SealError::Malformed { what: "sealed box", why };
        if self.slots.is_empty() || self.slots.len() > max_slots {
            return Err(malformed(format!("has {} slots, not 1 to {max_slots}", self.slots.len())));
        }
        if self.slots.iter().any(|s| s.len() != SLOT_LEN) {
            return Err(malformed(format!("a slot is not {SLOT_LEN} bytes")));
        }
        if self.ciphertext.len() < TAG_LEN {
            return Err(malformed("the ciphertext is shorter than its tag".into()));
        }
        Ok(())
    }
}

/// What a rekey op's slots are bound to: its purpose and the partnership
/// (a slot copied into another partnership's rekey op opens for no one).
pub fn rekey_context(partnership: &PartnershipId) -> Vec<u8> {
    [&b"polypact/rekey/v1:"[..], &partnership.0[..]].concat()
}

/// What an announcement's sealed box is bound to.
const ANNOUNCE_CONTEXT: &[u8] = b"polypact/announce/v1";

/// A genesis as announced to peers: sealed to the charter's founding
/// participants, so that a stranger who receives it learns neither the
/// partnership nor who is in it (the slots name no one; each founder's
/// node tries its key on each).
pub fn seal_announcement(genesis: &SignedOp) -> Result<Vec<u8>, SealError> {
    let Payload::Genesis(charter) = &genesis.op().payload else {
        return Err(SealError::Malformed { what: "genesis", why: "not a genesis op".into() });
    };
    let recipients: Vec<[u8; 32]> =
        charter.participants.iter().map(recipient_key).collect::<Result<_, _>>()?;
    let sealed = SealedBox::seal(&recipients, ANNOUNCE_CONTEXT, &genesis.encode())?;
    postcard::to_allocvec(&sealed)
        .map_err(|e| SealError::Malformed { what: "announcement", why: e.to_string() })
}

/// The genesis bytes of an announcement sealed to `key`'s member; an error
/// for anything else (malformed, or sealed to others).
pub fn open_announcement(bytes: &[u8], key: &MemberKey) -> Result<Vec<u8>, SealError> {
    let sealed: SealedBox = postcard::from_bytes(bytes)
        .map_err(|e| SealError::Malformed { what: "announcement", why: e.to_string() })?;
    sealed.check_shape(MAX_REKEY_RECIPIENTS)?;
    sealed.open_any(&key.x25519_secret(), ANNOUNCE_CONTEXT)
}

/// What trying to open an announcement costs a node, in sync tokens (one
/// token is about one signature check): one per two slots it would try,
/// at least one. Bytes that are no sealed box cost one (they are refused
/// once decoded).
pub fn announcement_cost(bytes: &[u8]) -> usize {
    postcard::from_bytes::<SealedBox>(bytes).map_or(1, |sealed| sealed.slots.len().div_ceil(2).max(1))
}
