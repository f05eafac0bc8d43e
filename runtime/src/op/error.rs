//! Errors of the `op` module: what was wrong with an id or an op.

use thiserror::Error;

use super::ids::{MemberId, OpId};

/// A text id that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// A member id (bech32m, `pm1…`) that does not parse.
    #[error("invalid member id `{input}`: {reason}")]
    Member {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A hash (op id, partnership id, code hash) that does not parse.
    #[error("invalid {what} `{input}`: {reason}")]
    Hash {
        /// Which kind of hash was expected.
        what: &'static str,
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
}

/// Why an op, on its own, is not acceptable: encoding, size, signature.
///
/// Graph-level reasons (missing parents, unknown author, a seq gap) are the
/// `dag`'s and the `ledger`'s errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpError {
    /// The bytes are not a canonical encoding of an op.
    #[error("malformed op encoding: {0}")]
    Malformed(String),
    /// The encoding version byte is one this node does not speak.
    #[error("op encoding version {found} is not supported (this node speaks version {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this node encodes.
        supported: u8,
    },
    /// The encoded op is larger than the limit.
    #[error("op is {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// An op names more parents than allowed.
    #[error("op has {count} parents, the limit is {limit}")]
    TooManyParents {
        /// Number of parents.
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The op's structure is wrong (duplicate parents, seq 0, genesis shape…).
    #[error("invalid op structure: {0}")]
    Structure(String),
    /// The author's key is not a valid ed25519 point.
    #[error("author {0} is not a valid ed25519 public key")]
    BadAuthorKey(MemberId),
    /// The signature does not verify under `verify_strict`.
    #[error("signature of op {op} by {author} does not verify (strict ed25519)")]
    BadSignature {
        /// The op's id.
        op: OpId,
        /// Its claimed author.
        author: MemberId,
    },
}
