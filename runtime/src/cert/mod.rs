//! Certificates between partnerships: proof, to anyone who knows a
//! partnership's id, that something holds in its final state.
//!
//! Partnerships never share a log. What crosses from partnership A to
//! anyone else is a [`Certificate`]: a [`Statement`] about A (a message A
//! sends, a new participant set of A, a child partnership A spawns, the
//! root of its final state at a checkpoint height) with
//! the signed [`Payload::Attest`](crate::op::Payload::Attest) ops in which
//! **every** participant of A's set at that point states it, plus the chain
//! of A's participant sets since a point the verifier trusts: A's genesis
//! (whose id *is* A's id, so it needs no trust at all) or a set the
//! verifier verified before.
//!
//! Why attestations and not the acks that made the op final: an ack proves
//! that its author *saw* an op, not what the op did; what a message says is
//! the outcome of running modules, which a verifier in another partnership
//! cannot re-run. So each participant's node, once the op is final in its
//! own view, signs the outcome itself. An attest op is an op of A like any
//! other (signed, in A's graph, built on the final op), so it is also that
//! participant's countersignature. Safety is the same as finality's: a
//! forged statement needs the signature of every participant of the set,
//! and two conflicting attested statements name the participants who
//! signed both.
//!
//! A participant set is attested by the participants in both the old and
//! the new set (a removed or suspended participant does not have to sign
//! its own removal; a newcomer does not vouch for its own admission). Sets
//! are numbered by *generation* (0 = the genesis's participants, +1 on every
//! change), and every statement names the generation it was made in, so a
//! chain with a gap, a stale set or a replayed old chain is refused.
//!
//! This module owns the statement and certificate formats, their canonical
//! encoding and digests, and [`verify`], a pure function. It does not own
//! which statements a partnership makes (the ledger's outbox), who attests
//! and relays them (the node), or what a receiver does with a verified
//! message (the ledger).

mod verify;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::op::{Limits, MemberId, OpError, OpId, PartnershipId, SignedOp, decode_signed_op};

pub use verify::{CertError, TrustedSet, Verified, verify};

/// The certificate format this node writes and reads.
pub const CERTIFICATE_VERSION: u8 = 1;

/// The largest certificate accepted, in bytes: 64 participants' attest ops
/// for the statement and for a few set changes fit well within it.
pub const MAX_CERTIFICATE_BYTES: usize = 1024 * 1024;

/// The most set changes one certificate may carry; a verifier further
/// behind catches up over several certificates.
pub const MAX_CHAIN_LINKS: usize = 64;

/// The largest message one partnership sends another (its JSON bytes).
pub const MAX_CROSSING_MESSAGE_BYTES: usize = 64 * 1024;

/// The size limits the ops inside a certificate (a genesis, attest ops)
/// must keep: a rule of the runtime, the same on every node, never a node's
/// own settings, since whether a delivery or a spawned child is accepted
/// must be decided the same everywhere.
pub fn op_limits() -> Limits {
    Limits::default()
}

/// The hash every participant signs (in an attest op) for a statement.
pub type StatementDigest = [u8; 32];

/// A message from one partnership to another, as the sender's ledger
/// recorded it in its outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The receiving partnership.
    pub to: PartnershipId,
    /// 1, 2, 3… per (sender, receiver) pair: the receiver runs them in this
    /// order, each once.
    pub seq: u64,
    /// The module instance of the receiver to call.
    pub module: String,
    /// The message, JSON bytes.
    pub msg: Vec<u8>,
    /// The sender's op whose execution sent it.
    pub source_op: OpId,
    /// That op's height in the sender.
    pub height: u64,
    /// The sender's participant-set generation after that op.
    pub generation: u64,
}

/// A participant set of a partnership and where it began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantSet {
    /// 1, 2, 3…: the genesis's set is generation 0 (it needs no statement).
    pub generation: u64,
    /// The op after which this set holds.
    pub changed_by: OpId,
    /// That op's height.
    pub height: u64,
    /// The participants finality waits for (admitted, not removed, not
    /// suspended), ascending.
    pub members: Vec<MemberId>,
}

/// A child partnership a partnership decided to spawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnStatement {
    /// 1, 2, 3…: the parent's n-th spawn.
    pub seq: u64,
    /// BLAKE3 of the child's charter's canonical encoding, with its
    /// parent link's certificate left empty ([`spawned_charter_digest`]).
    pub charter: [u8; 32],
    /// Who signs the child's genesis: the first of its participants that is
    /// a participant of the parent.
    pub author: MemberId,
    /// The genesis's `time_ms`: the spawning op's.
    pub time_ms: u64,
    /// The parent's op whose execution spawned it.
    pub source_op: OpId,
    /// That op's height.
    pub height: u64,
    /// The parent's participant-set generation after that op.
    pub generation: u64,
}

/// The root of a partnership's final state at a checkpoint height (every
/// `checkpoint_every` heights of its charter): once every participant has
/// attested it, a node may compact the ops at or below the height, and
/// anyone can check what the state was there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointStatement {
    /// The height: every op at or below it is in the state, none above.
    pub height: u64,
    /// The final state's root there (BLAKE3 of its lattice hash).
    pub state_root: [u8; 32],
    /// The participant-set generation there.
    pub generation: u64,
}

/// Something a partnership states about its final state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statement {
    /// A new participant set.
    Participants(ParticipantSet),
    /// A message to another partnership.
    Message(OutboundMessage),
    /// A child partnership it spawns.
    Spawned(SpawnStatement),
    /// Its final state's root at a checkpoint height.
    Checkpoint(CheckpointStatement),
}

/// The digest a [`SpawnStatement`] names: the child's charter with the
/// certificate of its parent link left empty (the certificate proves the
/// statement, so it cannot be part of what the statement hashes).
pub fn spawned_charter_digest(charter: &crate::op::Charter) -> [u8; 32] {
    let mut bare = charter.clone();
    if let Some(link) = &mut bare.parent {
        link.certificate.clear();
    }
    *blake3::Hasher::new_derive_key("polypact 2026-12 spawned charter v1")
        .update(&canonical(&bare))
        .finalize()
        .as_bytes()
}

impl Statement {
    /// The generation of the set that attests this statement: the set the
    /// message was sent in, or, for a new set, the set before it.
    pub fn attesting_generation(&self) -> u64 {
        match self {
            Statement::Participants(set) => set.generation.saturating_sub(1),
            Statement::Message(message) => message.generation,
            Statement::Spawned(spawn) => spawn.generation,
            Statement::Checkpoint(checkpoint) => checkpoint.generation,
        }
    }

    /// The digest participants of `source` sign for this statement: BLAKE3
    /// in derive-key mode over the source partnership and the statement's
    /// canonical (postcard) encoding, so a statement of one partnership
    /// can never pass for another's.
    pub fn digest(&self, source: &PartnershipId) -> StatementDigest {
        let mut hasher = blake3::Hasher::new_derive_key("polypact 2026-12 statement v1");
        hasher.update(&source.0);
        hasher.update(&canonical(self));
        *hasher.finalize().as_bytes()
    }
}

/// A statement with the attest ops that state it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// What is stated.
    pub statement: Statement,
    /// One attest op per participant of the attesting set, ascending by
    /// author.
    pub attestations: Vec<SignedOp>,
}

/// Proof that a statement holds in a partnership's final state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The partnership the statement is about.
    pub source: PartnershipId,
    /// Its genesis op, for a verifier that trusts nothing of it yet.
    pub genesis: Option<SignedOp>,
    /// Its participant sets since the verifier's trusted one, consecutive.
    pub chain: Vec<Attested>,
    /// The statement proven.
    pub subject: Attested,
}

#[derive(Serialize, Deserialize)]
struct WireAttested {
    statement: Statement,
    attestations: Vec<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct WireCertificate {
    version: u8,
    source: PartnershipId,
    genesis: Option<Vec<u8>>,
    chain: Vec<WireAttested>,
    subject: WireAttested,
}

fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data into a Vec: postcard fails only on serde features these
    // types do not use.
    #[allow(clippy::expect_used)]
    postcard::to_allocvec(value).expect("plain data always serialises")
}

fn to_wire(attested: &Attested) -> WireAttested {
    WireAttested {
        statement: attested.statement.clone(),
        attestations: attested.attestations.iter().map(SignedOp::encode).collect(),
    }
}

fn from_wire(wire: WireAttested, limits: &Limits) -> Result<Attested, OpError> {
    let attestations =
        wire.attestations.iter().map(|bytes| decode_signed_op(bytes, limits)).collect::<Result<_, _>>()?;
    Ok(Attested { statement: wire.statement, attestations })
}

impl Certificate {
    /// The canonical encoding: a version byte's worth of header, then
    /// postcard, ops in their own canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        canonical(&WireCertificate {
            version: CERTIFICATE_VERSION,
            source: self.source,
            genesis: self.genesis.as_ref().map(SignedOp::encode),
            chain: self.chain.iter().map(to_wire).collect(),
            subject: to_wire(&self.subject),
        })
    }

    /// Decodes a certificate, accepting only its canonical encoding. It
    /// checks the format, not the proof: run [`verify`] for that.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, CertError> {
        if bytes.len() > MAX_CERTIFICATE_BYTES {
            return Err(CertError::Malformed(format!(
                "{} bytes, over the limit of {MAX_CERTIFICATE_BYTES}",
                bytes.len()
            )));
        }
        let wire: WireCertificate =
            postcard::from_bytes(bytes).map_err(|e| CertError::Malformed(format!("cannot decode: {e}")))?;
        if wire.version != CERTIFICATE_VERSION {
            return Err(CertError::Version { found: wire.version, supported: CERTIFICATE_VERSION });
        }
        if wire.chain.len() > MAX_CHAIN_LINKS {
            return Err(CertError::Malformed(format!(
                "{} set changes, over the limit of {MAX_CHAIN_LINKS} per certificate",
                wire.chain.len()
            )));
        }
        let op =
            |bytes: &[u8]| decode_signed_op(bytes, limits).map_err(|e| CertError::Malformed(e.to_string()));
        let cert = Certificate {
            source: wire.source,
            genesis: wire.genesis.as_deref().map(op).transpose()?,
            chain: wire
                .chain
                .into_iter()
                .map(|link| from_wire(link, limits))
                .collect::<Result<_, _>>()
                .map_err(|e| CertError::Malformed(e.to_string()))?,
            subject: from_wire(wire.subject, limits).map_err(|e| CertError::Malformed(e.to_string()))?,
        };
        if cert.encode() != bytes {
            return Err(CertError::Malformed("not the canonical encoding of the certificate".into()));
        }
        Ok(cert)
    }
}
