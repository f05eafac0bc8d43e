//! Errors of the WASM host's own operations: setting it up and adding code.
//!
//! This file owns [`HostError`]. Errors of *running* a module are the
//! ledger's [`ExecError`](crate::ledger::ExecError), built in `executor.rs`,
//! and the in-guest faults raised by host functions live in `imports.rs`.

use std::path::PathBuf;

use thiserror::Error;

use crate::op::CodeHash;

/// Why the host could not be set up or could not take a module.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostError {
    /// The wasmtime engine refused the configuration (for example the
    /// pooling allocator could not reserve its address space).
    #[error("cannot set up the WASM engine: {reason}; lower `max_instances` or the memory limit")]
    Engine {
        /// What wasmtime said.
        reason: String,
    },
    /// The module is not a valid polypact module; nothing was stored.
    #[error("module {code} is not a valid polypact module: {reason}")]
    InvalidModule {
        /// Hash of the refused code.
        code: CodeHash,
        /// What is wrong with it, naming the offending export or import.
        reason: String,
    },
    /// The module is larger than [`GuestLimits::max_code_bytes`](super::GuestLimits::max_code_bytes).
    #[error("module {code} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Hash of the refused code.
        code: CodeHash,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The compiled-module cache directory could not be created or used.
    #[error("cannot use the module cache directory {}: {source}; check that it exists and is writable", path.display())]
    Cache {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The background epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
    /// The background compiler thread could not be started.
    #[error("cannot start the module compiler thread: {0}")]
    CompilerThread(#[source] std::io::Error),
}
