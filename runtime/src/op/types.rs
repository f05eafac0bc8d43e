//! The op structure, its payloads, signing, and equivocation proofs.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::charter::Charter;
use super::chunk::CodeChunk;
use super::codec::{self, Limits};
use super::error::OpError;
use super::ids::{MemberId, OpId, PartnershipId};
use super::keys::{MemberKey, VerifyFailure, verify_op_signature};

/// What an op carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Creates a partnership from a charter. Always seq 1, no parents, height 0.
    Genesis(Charter),
    /// Calls a module's `handle` with a JSON message.
    Call {
        /// The module instance's name in the charter.
        module: String,
        /// The message, JSON bytes (the runtime needs no schema).
        msg: Vec<u8>,
    },
    /// Countersignature: "I have seen everything in my parents' past". Acks
    /// carry nothing, change no state, and are never acked.
    Ack,
    /// Binds the author's node (a libp2p peer id, in its binary form) so
    /// that node may serve and receive this partnership's ops.
    BindPeer {
        /// The peer id's bytes.
        peer_id: Vec<u8>,
    },
    /// A vote to suspend `member`, a participant finality waits for but who
    /// has been silent: from the suspension on, finality stops waiting for
    /// it and its ops after `cut_seq` have no effect (see the ledger's
    /// suspension rules). `cut_seq` must be the highest seq of `member`'s
    /// ops in this op's causal past (0 if none): the cut this voter saw.
    Suspend {
        /// Who to suspend.
        member: MemberId,
        /// `member`'s last op that counts, as this voter saw it.
        cut_seq: u64,
    },
    /// Withdraws the author's live suspension vote (the suspended-to-be
    /// participant turned out to be there).
    Withdraw,
    /// The author, suspended, asks to take part again. It has no effect of
    /// its own: an active participant's [`Payload::Readmit`] with this op
    /// in its past brings the author back.
    Resume,
    /// Brings back `member`, suspended, whose `Resume` op is in this op's
    /// past: from here on finality waits for it again, and its ops from
    /// that `Resume` on count.
    Readmit {
        /// Who returns.
        member: MemberId,
    },
    /// One chunk of module code published in the partnership: once the
    /// author's chunks of one code are all in the log, in order, and hash to
    /// its hash, the code is *published* here and `install_module` /
    /// `upgrade_module` may name it. Code enters a partnership only this
    /// way or in the genesis.
    PublishCode(CodeChunk),
    /// The author states, signed, that each of these statements holds in
    /// this partnership's final state (see [`crate::cert`]): a message to
    /// another partnership, a new participant set. Attestations are what a
    /// certificate between partnerships is made of. Like an ack, an attest
    /// op changes no state and is never acked; it counts as the author's
    /// countersignature of everything in its past.
    Attest {
        /// Statement digests ([`crate::cert::StatementDigest`]), strictly
        /// ascending, 1 to [`MAX_ATTESTED_PER_OP`].
        statements: Vec<[u8; 32]>,
    },
    /// Delivers a message from another partnership, proven final there by
    /// a certificate ([`crate::cert::Certificate`], canonical bytes). The
    /// ledger verifies it against what this partnership already trusts of
    /// the sender and runs it as a call from the sender (`pp1…`), exactly
    /// once and in order per sender.
    Deliver {
        /// The certificate's canonical encoding.
        certificate: Vec<u8>,
    },
    /// A new partnership key (see [`crate::seal`]), sealed to `recipients`:
    /// the active participants as the author saw them, each in the slot of
    /// its place in the list. Gossip about the partnership travels under the
    /// newest key none of whose recipients has left; a participant set that
    /// loses a member (removal, suspension) or gains one is given a new key
    /// this way. Like an ack, a rekey op changes no state and is never
    /// acked; it counts as the author's countersignature of its past.
    Rekey {
        /// Who can open the key, strictly ascending, 1 to [`MAX_REKEY_RECIPIENTS`].
        recipients: Vec<MemberId>,
        /// The 32 key bytes, one slot per recipient.
        sealed: crate::seal::SealedBox,
    },
}

/// The most statements one attest op carries.
pub const MAX_ATTESTED_PER_OP: usize = 256;

/// The most recipients one rekey op seals its key to.
pub const MAX_REKEY_RECIPIENTS: usize = 1024;

impl Payload {
    /// Whether this payload asks for countersignature (everything but
    /// `Ack`, `Attest` and `Rekey`, which change no state).
    pub fn is_payload_bearing(&self) -> bool {
        !matches!(self, Payload::Ack | Payload::Attest { .. } | Payload::Rekey { .. })
    }

    /// A short name for logs, metrics and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Genesis(_) => "genesis",
            Payload::Call { .. } => "call",
            Payload::Ack => "ack",
            Payload::BindPeer { .. } => "bind_peer",
            Payload::Suspend { .. } => "suspend",
            Payload::Withdraw => "withdraw",
            Payload::Resume => "resume",
            Payload::Readmit { .. } => "readmit",
            Payload::PublishCode(_) => "publish_code",
            Payload::Attest { .. } => "attest",
            Payload::Deliver { .. } => "deliver",
            Payload::Rekey { .. } => "rekey",
        }
    }
}

/// An op before signing. Its canonical encoding defines its [`OpId`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedOp {
    /// The partnership; all zeros for a genesis op (whose id *is* the
    /// partnership id).
    pub partnership: PartnershipId,
    /// Who signs it.
    pub author: MemberId,
    /// 1, 2, 3… per author per partnership.
    pub seq: u64,
    /// The heads the author knew, strictly ascending; they include the
    /// author's own previous op. Empty only for genesis.
    pub parents: Vec<OpId>,
    /// The author's clock in milliseconds since the Unix epoch; never below
    /// any parent's.
    pub time_ms: u64,
    /// What the op does.
    pub payload: Payload,
}

impl UnsignedOp {
    /// The op id: BLAKE3 of the canonical unsigned encoding.
    pub fn id(&self) -> OpId {
        codec::id_of_unsigned_encoding(&codec::encode_unsigned(self))
    }

    /// Signs the op.
    ///
    /// # Panics
    /// If `key` is not the key of `self.author` (a programming error).
    pub fn sign(self, key: &MemberKey) -> SignedOp {
        assert_eq!(key.member_id(), self.author, "signing an op with another member's key");
        let encoded = codec::encode_unsigned(&self);
        let id = codec::id_of_unsigned_encoding(&encoded);
        let signature = key.sign_op(&id);
        let encoded_len = encoded.len() + 64;
        SignedOp { op: self, signature, id, encoded_len, signature_verdict: SignatureVerdict::default() }
    }

    /// Context-free structural checks: seq, parents, genesis shape, names.
    pub fn check_structure(&self, limits: &Limits) -> Result<(), OpError> {
        let fail = |why: String| Err(OpError::Structure(why));
        if self.seq == 0 {
            return fail("seq starts at 1".into());
        }
        if self.parents.len() > limits.max_parents {
            return Err(OpError::TooManyParents { count: self.parents.len(), limit: limits.max_parents });
        }
        if !self.parents.windows(2).all(|w| w[0] < w[1]) {
            return fail("parents must be strictly ascending (sorted, no duplicates)".into());
        }
        let zero = PartnershipId::default();
        match &self.payload {
            Payload::Genesis(charter) => {
                if self.seq != 1 || !self.parents.is_empty() || self.partnership != zero {
                    return fail("a genesis op has seq 1, no parents and a zero partnership id".into());
                }
                charter.validate().map_err(|e| OpError::Structure(format!("invalid charter: {e}")))?;
                if !charter.participants.contains(&self.author) {
                    return fail("the genesis author must be one of the charter's participants".into());
                }
            }
            other => {
                if self.parents.is_empty() {
                    return fail(format!("a {} op names at least one parent", other.kind()));
                }
                if self.partnership == zero {
                    return fail("only a genesis op has a zero partnership id".into());
                }
            }
        }
        if let Payload::Call { module, msg } = &self.payload {
            if !super::charter::is_valid_module_name(module) {
                return fail(format!(
                    "module name `{module}` is not 1 to 64 characters of a-z, 0-9, `_` or `-`"
                ));
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(msg) {
                return fail(format!("call message is not valid JSON: {e}"));
            }
        }
        if let Payload::BindPeer { peer_id } = &self.payload
            && (peer_id.is_empty() || peer_id.len() > 128)
        {
            return fail("a peer id is 1 to 128 bytes".into());
        }
        if let Payload::Suspend { member, .. } = &self.payload
            && *member == self.author
        {
            return fail("a participant cannot vote to suspend itself".into());
        }
        if let Payload::PublishCode(chunk) = &self.payload {
            chunk.check().map_err(OpError::Structure)?;
        }
        if let Payload::Attest { statements } = &self.payload
            && (statements.is_empty()
                || statements.len() > MAX_ATTESTED_PER_OP
                || !statements.windows(2).all(|w| w[0] < w[1]))
        {
            return fail(format!(
                "an attest op names 1 to {MAX_ATTESTED_PER_OP} statements, strictly ascending"
            ));
        }
        if let Payload::Deliver { certificate } = &self.payload
            && certificate.is_empty()
        {
            return fail("a deliver op carries a certificate".into());
        }
        if let Payload::Rekey { recipients, sealed } = &self.payload {
            if recipients.is_empty()
                || recipients.len() > MAX_REKEY_RECIPIENTS
                || !recipients.windows(2).all(|w| w[0] < w[1])
            {
                return fail(format!(
                    "a rekey op names 1 to {MAX_REKEY_RECIPIENTS} recipients, strictly ascending"
                ));
            }
            sealed.check_shape(recipients.len()).map_err(|e| OpError::Structure(e.to_string()))?;
            if sealed.slots.len() != recipients.len() || sealed.ciphertext.len() != crate::seal::SLOT_LEN {
                return fail("a rekey op seals one 32-byte key in one slot per recipient".into());
            }
        }
        if let Payload::Readmit { member } = &self.payload
            && *member == self.author
        {
            return fail(
                "a suspended participant asks to return with a resume op; another readmits it".into(),
            );
        }
        Ok(())
    }
}

/// A signed op, with its id, encoded size and signature verdict cached.
///
/// Build one with [`UnsignedOp::sign`] or [`decode_signed_op`](super::decode_signed_op).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOp {
    op: UnsignedOp,
    signature: [u8; 64],
    id: OpId,
    encoded_len: usize,
    signature_verdict: SignatureVerdict,
}

/// The outcome of an op's strict signature check, once it has run.
///
/// The fields it is computed from (author, id, signature) never change after
/// the op is built, so the verdict cannot go stale, and a clone carries it.
/// It is not part of the op's identity: two copies of an op are equal
/// whether or not either has been checked.
#[derive(Clone, Debug, Default)]
struct SignatureVerdict(OnceLock<Result<(), VerifyFailure>>);

impl PartialEq for SignatureVerdict {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SignatureVerdict {}

impl SignedOp {
    pub(crate) fn from_parts(op: UnsignedOp, signature: [u8; 64], id: OpId, encoded_len: usize) -> Self {
        SignedOp { op, signature, id, encoded_len, signature_verdict: SignatureVerdict::default() }
    }

    /// The op's id.
    pub fn id(&self) -> OpId {
        self.id
    }

    /// The unsigned op.
    pub fn op(&self) -> &UnsignedOp {
        &self.op
    }

    /// The ed25519 signature over the op id.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Size of the canonical signed encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// Shortcut to the author.
    pub fn author(&self) -> MemberId {
        self.op.author
    }

    /// Shortcut to the seq.
    pub fn seq(&self) -> u64 {
        self.op.seq
    }

    /// The partnership this op belongs to (its own id for a genesis op).
    pub fn partnership(&self) -> PartnershipId {
        match self.op.payload {
            Payload::Genesis(_) => PartnershipId(self.id.0),
            _ => self.op.partnership,
        }
    }

    /// The canonical signed encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_signed_op(self)
    }

    /// Checks size, structure and the strict ed25519 signature.
    pub fn verify(&self, limits: &Limits) -> Result<(), OpError> {
        if self.encoded_len > limits.max_op_bytes {
            return Err(OpError::TooLarge { size: self.encoded_len, limit: limits.max_op_bytes });
        }
        self.op.check_structure(limits)?;
        self.check_signature()
    }

    /// Checks the strict ed25519 signature alone. The check runs once per op
    /// (the verdict is kept with it), so a caller may run it ahead of time,
    /// on other threads, and [`SignedOp::verify`] then only looks it up.
    pub fn check_signature(&self) -> Result<(), OpError> {
        let verdict = self
            .signature_verdict
            .0
            .get_or_init(|| verify_op_signature(&self.op.author, &self.id, &self.signature));
        verdict.map_err(|failure| match failure {
            VerifyFailure::BadKey => OpError::BadAuthorKey(self.op.author),
            VerifyFailure::BadSignature => OpError::BadSignature { op: self.id, author: self.op.author },
        })
    }

    /// Whether the strict signature check has run on this op (or a copy it
    /// was cloned from), so [`SignedOp::check_signature`] only looks its
    /// verdict up. Says nothing about what the verdict is.
    pub fn signature_checked(&self) -> bool {
        self.signature_verdict.0.get().is_some()
    }
}

/// Runs the strict signature check ([`SignedOp::check_signature`]) of every
/// op on all cores, keeping each verdict with its op, and returns how many
/// failed. A caller runs it ahead of time, off the thread that inserts (a
/// sync page while the page before it is inserted): the ledger then only
/// looks the verdicts up, and refusing an op is still the ledger's call.
pub fn check_signatures(ops: &[SignedOp]) -> usize {
    use rayon::prelude::*;
    ops.par_iter().with_min_len(CHECK_SIGNATURES_CHUNK).filter(|op| op.check_signature().is_err()).count()
}

/// Ops per parallel task in [`check_signatures`]: enough to pay for handing
/// work to another core, few enough to share a page between two.
const CHECK_SIGNATURES_CHUNK: usize = 8;

/// What the graph needs of an op to place the ops built on it: who signed
/// it, its seq and its time. A store that compacted the op away keeps this
/// much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpHeader {
    /// The author.
    pub author: MemberId,
    /// The author's seq.
    pub seq: u64,
    /// The op's `time_ms`.
    pub time_ms: u64,
}

impl SignedOp {
    /// The op's [`OpHeader`].
    pub fn header(&self) -> OpHeader {
        OpHeader { author: self.op.author, seq: self.op.seq, time_ms: self.op.time_ms }
    }
}

/// Proof that a member signed two different ops with the same
/// `(partnership, author, seq)`. Anyone can check it from the two signed ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquivocationProof {
    first: SignedOp,
    second: SignedOp,
}

impl EquivocationProof {
    /// Builds the proof; the two ops are kept in ascending id order so every
    /// node builds the identical proof. Returns `None` if the two ops do not
    /// conflict.
    pub fn new(a: SignedOp, b: SignedOp) -> Option<Self> {
        let conflict = a.id() != b.id()
            && a.author() == b.author()
            && a.seq() == b.seq()
            && a.partnership() == b.partnership();
        if !conflict {
            return None;
        }
        let (first, second) = if a.id() < b.id() { (a, b) } else { (b, a) };
        Some(EquivocationProof { first, second })
    }

    /// The member who equivocated.
    pub fn author(&self) -> MemberId {
        self.first.author()
    }

    /// The seq signed twice.
    pub fn seq(&self) -> u64 {
        self.first.seq()
    }

    /// The two conflicting ops, lower id first.
    pub fn ops(&self) -> (&SignedOp, &SignedOp) {
        (&self.first, &self.second)
    }

    /// Checks both signatures and that the ops conflict.
    pub fn verify(&self, limits: &Limits) -> Result<(), OpError> {
        self.first.verify(limits)?;
        self.second.verify(limits)?;
        if EquivocationProof::new(self.first.clone(), self.second.clone()).is_none() {
            return Err(OpError::Structure("the two ops of an equivocation proof do not conflict".into()));
        }
        Ok(())
    }

    /// Canonical encoding: both signed ops, length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let a = self.first.encode();
        let b = self.second.encode();
        let mut out = Vec::with_capacity(8 + a.len() + b.len());
        out.extend_from_slice(&(a.len() as u32).to_be_bytes());
        out.extend_from_slice(&a);
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
        out
    }

    /// Decodes and verifies a proof.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, OpError> {
        let (a, rest) = split_prefixed(bytes)?;
        let (b, rest) = split_prefixed(rest)?;
        if !rest.is_empty() {
            return Err(OpError::Malformed("trailing bytes after an equivocation proof".into()));
        }
        let a = codec::decode_signed_op(a, limits)?;
        let b = codec::decode_signed_op(b, limits)?;
        let proof = EquivocationProof::new(a, b).ok_or_else(|| {
            OpError::Structure("the two ops of an equivocation proof do not conflict".into())
        })?;
        proof.verify(limits)?;
        Ok(proof)
    }
}

fn split_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8]), OpError> {
    let truncated = || OpError::Malformed("truncated equivocation proof".into());
    let len_bytes: [u8; 4] = bytes.get(..4).ok_or_else(truncated)?.try_into().map_err(|_| truncated())?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let body = bytes.get(4..4 + len).ok_or_else(truncated)?;
    Ok((body, &bytes[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{PartnershipKey, SLOT_LEN, SealedBox, recipient_key, rekey_context};

    fn rekey(recipients: Vec<MemberId>, sealed: SealedBox) -> UnsignedOp {
        UnsignedOp {
            partnership: PartnershipId([5; 32]),
            author: MemberKey::from_seed(1).member_id(),
            seq: 2,
            parents: vec![OpId([1; 32])],
            time_ms: 1,
            payload: Payload::Rekey { recipients, sealed },
        }
    }

    #[test]
    fn a_rekey_op_seals_one_key_in_one_slot_per_recipient() {
        let mut members: Vec<MemberId> = (1..=3).map(|s| MemberKey::from_seed(s).member_id()).collect();
        members.sort();
        let public: Vec<[u8; 32]> = members.iter().map(|m| recipient_key(m).expect("key")).collect();
        let key = PartnershipKey::from_bytes([8; 32]).to_bytes();
        let sealed = SealedBox::seal(&public, &rekey_context(&PartnershipId([5; 32])), &key).expect("seal");
        let limits = Limits::default();
        assert_eq!(rekey(members.clone(), sealed.clone()).check_structure(&limits), Ok(()));
        assert!(!Payload::Rekey { recipients: members.clone(), sealed: sealed.clone() }.is_payload_bearing());

        let refused =
            |op: UnsignedOp| assert!(matches!(op.check_structure(&limits), Err(OpError::Structure(_))));
        // Recipients out of order, repeated, or none.
        let mut reversed = members.clone();
        reversed.reverse();
        refused(rekey(reversed, sealed.clone()));
        refused(rekey(vec![members[0], members[0], members[1]], sealed.clone()));
        refused(rekey(vec![], SealedBox { slots: vec![], ..sealed.clone() }));
        // A slot missing, a slot of the wrong size, a key of the wrong size.
        refused(rekey(members[..2].to_vec(), sealed.clone()));
        let mut bent = sealed.clone();
        bent.slots[0].push(0);
        refused(rekey(members.clone(), bent));
        let mut bent = sealed.clone();
        bent.ciphertext = vec![0; SLOT_LEN + 1];
        refused(rekey(members, bent));
    }
}
