//! Errors of the store: what went wrong with the database file or a request.
//!
//! Every error that concerns the database names its file (or `<in-memory>`),
//! so an operator knows which file to restore, move or delete. Faults of the
//! file (I/O, corruption, schema) are kept apart from requests the store
//! refuses (an op filed under the wrong partnership, a final height going
//! back), which change nothing.

use std::path::PathBuf;

use thiserror::Error;

use crate::op::{CodeHash, OpId, PartnershipId};

/// The schema version this node reads and writes (see [`StoreError::Schema`]).
pub const SCHEMA_VERSION: u64 = 9;

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file cannot be opened or created (missing directory,
    /// permissions, a full disk).
    #[error("cannot open the polypact store {}: {detail}; check that the directory exists and is writable", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What the operating system or redb said.
        detail: String,
    },
    /// Another process (or another `Store` in this process) has the file open.
    #[error("the polypact store {} is already open in another process or node; stop it first or use another data directory", path.display())]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a readable polypact store: truncated, overwritten,
    /// not a redb database at all, or a stored record that does not decode.
    #[error("the polypact store {} is corrupt or truncated ({detail}); restore it from a backup, or move it away and let the node resync from its peers", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was found wrong.
        detail: String,
    },
    /// The file was written by a polypact with another schema version.
    #[error("the polypact store {} was written by {} polypact (schema {found}), this node reads schema {supported}; run a matching polypact version", path.display(), if *found > *supported { "a newer" } else { "an older" })]
    Schema {
        /// The database file.
        path: PathBuf,
        /// The schema version recorded in the file.
        found: u64,
        /// The schema version this node reads ([`SCHEMA_VERSION`]).
        supported: u64,
    },
    /// The file is a redb database, but not one written by polypact.
    #[error("{} is a redb database but not a polypact store (it has no schema record); point the node at its own data directory", path.display())]
    NotAStore {
        /// The database file.
        path: PathBuf,
    },
    /// Reading or writing the file failed (a disk error, a full disk). The
    /// operation had no effect; if it persists, stop the node and check the disk.
    #[error("I/O error on the polypact store {}: {detail}; the operation had no effect", path.display())]
    Io {
        /// The database file.
        path: PathBuf,
        /// What the operating system or redb said.
        detail: String,
    },
    /// An op handed to [`Store::append_ops`](super::Store::append_ops) belongs
    /// to another partnership. Nothing of the batch was stored.
    #[error("op {op} belongs to partnership {found}, not {expected}; nothing of the batch was stored")]
    WrongPartnership {
        /// The op.
        op: OpId,
        /// The partnership the batch was filed under.
        expected: PartnershipId,
        /// The partnership the op names.
        found: PartnershipId,
    },
    /// A genesis op not at height 0, or another op at height 0. Nothing of the
    /// batch was stored.
    #[error(
        "op {op} ({kind}) cannot be stored at height {height}: genesis, and only genesis, is at height 0; nothing of the batch was stored"
    )]
    BadHeight {
        /// The op.
        op: OpId,
        /// Its payload kind.
        kind: &'static str,
        /// The height it was given.
        height: u64,
    },
    /// An op already stored is appended again with another height. Heights
    /// are a function of the parents, so this is a caller bug. Nothing of the
    /// batch was stored.
    #[error(
        "op {op} is stored at height {stored}, it cannot be appended again at height {given}; nothing of the batch was stored"
    )]
    HeightConflict {
        /// The op.
        op: OpId,
        /// The height on disk.
        stored: u64,
        /// The height given now.
        given: u64,
    },
    /// A snapshot delta would move the final height back. Finality never goes
    /// back; nothing was written.
    #[error(
        "partnership {partnership}: the stored final height is {stored}, a snapshot at {given} would move it back; nothing was written"
    )]
    FinalHeightBack {
        /// The partnership.
        partnership: PartnershipId,
        /// The final height on disk.
        stored: u64,
        /// The final height of the refused delta.
        given: u64,
    },
    /// Stored code whose bytes no longer hash to their key.
    #[error("module code {hash} in the polypact store {} does not match its hash (the file is corrupt); restore it or fetch the code again from a peer", path.display())]
    CodeMismatch {
        /// The database file.
        path: PathBuf,
        /// The code hash asked for.
        hash: CodeHash,
    },
    /// The op was deleted by compaction behind a certified checkpoint
    /// (`Store::compact_below`); the certificate proves the state there.
    #[error(
        "op {op} of partnership {partnership} is at height {height}, compacted behind the certified checkpoint at height {checkpoint}; ask a node that keeps history, or check the checkpoint's certificate"
    )]
    Compacted {
        /// The partnership.
        partnership: PartnershipId,
        /// The op asked for.
        op: OpId,
        /// Its height.
        height: u64,
        /// The checkpoint it was compacted behind.
        checkpoint: u64,
    },
    /// A compaction the store refuses (a checkpoint above what is archived,
    /// or below one already compacted); nothing was changed.
    #[error("{0}; nothing was changed")]
    CompactionRefused(String),
    /// A resting mark was refused: its height is not the partnership's
    /// saved final height ([`Store::mark_resting`](super::Store::mark_resting)).
    #[error("resting mark refused: {0}")]
    RestingRefused(String),
}

/// Turns a redb error into a [`StoreError`] naming `path`.
///
/// Corruption and short reads become [`StoreError::Corrupt`]; other I/O
/// failures [`StoreError::Io`].
pub(crate) fn from_redb(path: &std::path::Path, context: &str, err: impl Into<redb::Error>) -> StoreError {
    use std::io::ErrorKind;
    let err: redb::Error = err.into();
    let detail = format!("{context}: {err}");
    let path = path.to_path_buf();
    match &err {
        redb::Error::DatabaseAlreadyOpen => StoreError::AlreadyOpen { path },
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) | redb::Error::RepairAborted => {
            StoreError::Corrupt { path, detail }
        }
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TableDoesNotExist(_) => StoreError::Corrupt { path, detail },
        redb::Error::Io(io) if matches!(io.kind(), ErrorKind::UnexpectedEof | ErrorKind::InvalidData) => {
            StoreError::Corrupt { path, detail }
        }
        _ => StoreError::Io { path, detail },
    }
}
