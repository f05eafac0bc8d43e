//! Verifying a certificate: a pure function of the certificate and what the
//! verifier already trusts of the source partnership.
//!
//! It owns the rules (see the parent module): where the chain starts, that
//! it has no gap, who must attest each statement, and what an attestation
//! must be. It does not own what a verifier then does with the statement.

use std::collections::BTreeSet;

use thiserror::Error;

use super::{Attested, Certificate, Statement};
use crate::op::{Limits, MemberId, PartnershipId, Payload, SignedOp};

/// What a verifier trusts of a partnership: one of its participant sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedSet {
    /// The set's generation (0: the genesis's participants).
    pub generation: u64,
    /// Its members, ascending.
    pub members: Vec<MemberId>,
}

/// A verified certificate: its statement, and the set that attested it,
/// which the verifier may trust from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The newest set the certificate proved.
    pub set: TrustedSet,
    /// The statement, proven.
    pub statement: Statement,
}

/// Why a certificate is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertError {
    /// Not a canonical certificate encoding.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// A format version this node does not read.
    #[error("certificate version {found} is not supported (this node reads version {supported})")]
    Version {
        /// The version found.
        found: u8,
        /// The version this node reads.
        supported: u8,
    },
    /// The verifier trusts nothing of the source yet and the certificate
    /// carries no genesis to start from.
    #[error("the certificate carries no genesis and nothing of partnership {0} is trusted yet")]
    GenesisNeeded(PartnershipId),
    /// The genesis carried is not the source's.
    #[error("the certificate's genesis is not that of partnership {partnership}: {reason}")]
    BadGenesis {
        /// The source partnership.
        partnership: PartnershipId,
        /// What is wrong with it.
        reason: String,
    },
    /// The chain does not continue from the trusted set (a gap, or an old
    /// link replayed).
    #[error("participant set generation {found} does not follow the trusted generation {expected} - 1")]
    ChainGap {
        /// The generation that must come next.
        expected: u64,
        /// The generation found.
        found: u64,
    },
    /// A statement made in another generation than the one proven.
    #[error(
        "the statement was made under participant set generation {stated}, but the set proven is {proven}"
    )]
    GenerationMismatch {
        /// The generation the statement names.
        stated: u64,
        /// The generation the chain reaches.
        proven: u64,
    },
    /// A participant set that cannot be (empty, unsorted, or sharing no
    /// member with the set before it).
    #[error("invalid participant set, generation {generation}: {reason}")]
    BadSet {
        /// Its generation.
        generation: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A participant of the attesting set did not attest.
    #[error("{0} did not attest the statement")]
    MissingAttestation(MemberId),
    /// An attestation by someone outside the attesting set.
    #[error("{0} attested but is not in the attesting participant set")]
    NotInSet(MemberId),
    /// An attestation that is not a valid attest op of the source stating
    /// this statement.
    #[error("attestation by {member}: {reason}")]
    BadAttestation {
        /// Its author.
        member: MemberId,
        /// What is wrong with it.
        reason: String,
    },
}

impl CertError {
    /// A short name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            CertError::Malformed(_) => "malformed",
            CertError::Version { .. } => "version",
            CertError::GenesisNeeded(_) => "genesis_needed",
            CertError::BadGenesis { .. } => "bad_genesis",
            CertError::ChainGap { .. } => "chain_gap",
            CertError::GenerationMismatch { .. } => "generation",
            CertError::BadSet { .. } => "bad_set",
            CertError::MissingAttestation(_) => "missing_attestation",
            CertError::NotInSet(_) => "not_in_set",
            CertError::BadAttestation { .. } => "bad_attestation",
        }
    }
}

/// Verifies `cert` against `trusted`, what the verifier already trusts of
/// the source (`None`: nothing; the certificate must then carry the
/// source's genesis). Pure: the same inputs give the same answer on every
/// node.
pub fn verify(
    cert: &Certificate,
    trusted: Option<&TrustedSet>,
    limits: &Limits,
) -> Result<Verified, CertError> {
    let source = cert.source;
    let mut set = match (&cert.genesis, trusted) {
        (Some(genesis), trusted) => {
            let founders = check_genesis(genesis, &source, limits)?;
            trusted.cloned().unwrap_or(TrustedSet { generation: 0, members: founders })
        }
        (None, Some(trusted)) => trusted.clone(),
        (None, None) => return Err(CertError::GenesisNeeded(source)),
    };
    for link in &cert.chain {
        set = next_set(&source, &set, link, limits)?;
    }
    match &cert.subject.statement {
        Statement::Participants(_) => {
            set = next_set(&source, &set, &cert.subject, limits)?;
        }
        Statement::Message(_) | Statement::Spawned(_) | Statement::Checkpoint(_) => {
            let stated = cert.subject.statement.attesting_generation();
            if stated != set.generation {
                return Err(CertError::GenerationMismatch { stated, proven: set.generation });
            }
            check_attestations(&source, &cert.subject, &set.members, limits)?;
        }
    }
    Ok(Verified { set, statement: cert.subject.statement.clone() })
}

/// The genesis's founders, if it is the source's genesis.
fn check_genesis(
    genesis: &SignedOp,
    source: &PartnershipId,
    limits: &Limits,
) -> Result<Vec<MemberId>, CertError> {
    let bad = |reason: String| CertError::BadGenesis { partnership: *source, reason };
    let Payload::Genesis(charter) = &genesis.op().payload else {
        return Err(bad(format!("it is a {} op", genesis.op().payload.kind())));
    };
    if genesis.partnership() != *source {
        return Err(bad(format!("it founds partnership {}", genesis.partnership())));
    }
    genesis.verify(limits).map_err(|e| bad(e.to_string()))?;
    let mut founders = charter.participants.clone();
    founders.sort();
    founders.dedup();
    Ok(founders)
}

/// The set a chain link proves, attested by the members of both sets.
fn next_set(
    source: &PartnershipId,
    current: &TrustedSet,
    link: &Attested,
    limits: &Limits,
) -> Result<TrustedSet, CertError> {
    let Statement::Participants(next) = &link.statement else {
        return Err(CertError::Malformed("a chain link must state a participant set".into()));
    };
    let expected = current.generation.saturating_add(1);
    if next.generation != expected {
        return Err(CertError::ChainGap { expected, found: next.generation });
    }
    let bad = |reason: &str| CertError::BadSet { generation: next.generation, reason: reason.into() };
    if next.members.is_empty() {
        return Err(bad("no members"));
    }
    if !next.members.windows(2).all(|w| w[0] < w[1]) {
        return Err(bad("members are not strictly ascending"));
    }
    let new: BTreeSet<&MemberId> = next.members.iter().collect();
    let continuing: Vec<MemberId> = current.members.iter().filter(|m| new.contains(m)).copied().collect();
    if continuing.is_empty() {
        return Err(bad("it shares no member with the set before it, so nobody can attest it"));
    }
    check_attestations(source, link, &continuing, limits)?;
    Ok(TrustedSet { generation: next.generation, members: next.members.clone() })
}

/// Every member of `attesters` (ascending) attests `attested.statement`,
/// once, in a valid attest op of `source`; nobody else does.
fn check_attestations(
    source: &PartnershipId,
    attested: &Attested,
    attesters: &[MemberId],
    limits: &Limits,
) -> Result<(), CertError> {
    let ops = &attested.attestations;
    if !ops.windows(2).all(|w| w[0].author() < w[1].author()) {
        return Err(CertError::Malformed("attestations are not one per author, ascending".into()));
    }
    let required: BTreeSet<&MemberId> = attesters.iter().collect();
    if let Some(stranger) = ops.iter().map(SignedOp::author).find(|a| !required.contains(a)) {
        return Err(CertError::NotInSet(stranger));
    }
    let present: BTreeSet<MemberId> = ops.iter().map(SignedOp::author).collect();
    if let Some(missing) = attesters.iter().find(|m| !present.contains(m)) {
        return Err(CertError::MissingAttestation(*missing));
    }
    let digest = attested.statement.digest(source);
    for op in ops {
        let bad = |reason: String| CertError::BadAttestation { member: op.author(), reason };
        let Payload::Attest { statements } = &op.op().payload else {
            return Err(bad(format!("a {} op, not an attest op", op.op().payload.kind())));
        };
        if op.partnership() != *source {
            return Err(bad(format!("an op of partnership {}, not {source}", op.partnership())));
        }
        if statements.binary_search(&digest).is_err() {
            return Err(bad("it does not state this statement".into()));
        }
        op.verify(limits).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}
