//! Operations: the only thing that changes a partnership.
//!
//! This module owns identities ([`MemberId`], [`MemberKey`]), hashes
//! ([`OpId`], [`PartnershipId`], [`CodeHash`]), the op structure
//! ([`UnsignedOp`], [`SignedOp`], [`Payload`]), the [`Charter`] carried by a
//! genesis op, module code chunks ([`CodeChunk`]), the canonical versioned binary encoding, signing and
//! verification, and the size limits an op must respect.
//!
//! It does not own where an op goes (the graph, `dag`), what it does (the
//! `ledger`), or how it is stored or sent (`store`, `net`).

mod charter;
mod chunk;
mod codec;
mod error;
mod ids;
mod keys;
mod types;

pub(crate) use charter::is_valid_module_name;
pub use charter::{
    Charter, CharterError, CodeSource, MAX_FUEL_PER_OP, MAX_MESSAGE_DEPTH, MIN_CHECKPOINT_EVERY, ModuleSpec,
    Params, ParentLink, SystemPermission, Unfilled, UnknownReference, did_you_mean, fill_placeholders,
    placeholders, reference_problems, unfilled_placeholders,
};
pub use chunk::{CODE_CHUNK_BYTES, CodeChunk, MAX_CODE_BYTES};
pub(crate) use codec::header_of_encoding;
pub use codec::{ENCODING_VERSION, Limits, decode_signed_op, encode_signed_op, op_id_of_encoding};
pub use error::{IdParseError, OpError};
pub use ids::{CodeHash, MEMBER_HRP, MemberId, OpId, PARTNERSHIP_HRP, PartnershipId};
pub use keys::MemberKey;
pub use types::{
    EquivocationProof, MAX_ATTESTED_PER_OP, MAX_REKEY_RECIPIENTS, OpHeader, Payload, SignedOp, UnsignedOp,
    check_signatures,
};
