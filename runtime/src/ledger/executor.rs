//! The boundary between the ledger and whatever runs module code.
//!
//! The ledger decides *what* runs (which op, which module, which entry, with
//! how much fuel, in which order, atomically) and owns the state. An
//! [`Executor`] runs *one* entry point of one module against a [`HostEnv`]:
//! the WASM host (`crate::host`) in a node, a [`NativeExecutor`](super::NativeExecutor)
//! in tests and benchmarks. Both sit behind this one trait, so the ledger
//! cannot tell them apart.

use polypact_sdk::abi::{Entry, Event, Input, QueryResult, ResponseResult};
use thiserror::Error;

use crate::op::CodeHash;

/// One invocation of one entry point of one module.
#[derive(Clone, Copy, Debug)]
pub struct Invocation<'a> {
    /// The module's code.
    pub code: &'a CodeHash,
    /// Which entry point.
    pub entry: Entry,
    /// The input (env, info, JSON message).
    pub input: &'a Input,
    /// Fuel available to this invocation.
    pub fuel: u64,
}

/// What a module returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// From init, handle or migrate.
    Response(ResponseResult),
    /// From query.
    Query(QueryResult),
}

/// A finished invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoked {
    /// What the module returned (which may be the module's own error).
    pub output: Output,
    /// Fuel it burnt, deterministic for the same code and input.
    pub fuel_used: u64,
}

/// Why an invocation did not produce an output.
///
/// Everything but [`ExecError::Fault`] is deterministic: every node running
/// the same op gets the same error, and the op is recorded as failed with it.
/// A `Fault` means this node could not decide the op (a wall-clock backstop
/// fired, the machine ran out of resources): the ledger must stop rather than
/// record an outcome other nodes might not share.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The op's fuel budget ran out.
    #[error("out of fuel (budget {budget})")]
    OutOfFuel {
        /// The fuel the invocation started with.
        budget: u64,
    },
    /// The module trapped (unreachable, a panic, memory out of bounds, stack
    /// overflow, memory limit…).
    #[error("module trapped: {0}")]
    Trap(String),
    /// The module is not a valid polypact module (does not compile, wrong ABI
    /// version, missing export, unknown import).
    #[error("invalid module: {0}")]
    InvalidModule(String),
    /// The module broke the calling convention (garbage output, output too
    /// large, a write in a query).
    #[error("module broke the ABI: {0}")]
    Abi(String),
    /// No code with this hash is on the node.
    #[error("module code {0} is not on this node")]
    MissingCode(CodeHash),
    /// This node could not decide the outcome; not deterministic, never recorded.
    #[error("node fault while running a module: {0}")]
    Fault(String),
}

/// What a running module may touch: its own keys, queries, events, logs.
///
/// Keys are already in the module's namespace: the ledger's implementation
/// prefixes them. In a query, writes return an error.
pub trait HostEnv {
    /// Reads a key.
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>>;
    /// Writes a key. Errors in read-only (query) mode.
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
    /// Deletes a key. Errors in read-only (query) mode.
    fn remove(&mut self, key: &[u8]) -> Result<(), String>;
    /// Keys starting with `prefix` and `>= start`, ascending, at most `limit`.
    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Queries another module (or `system`) with `fuel` available; returns
    /// its result and the fuel it used (which the caller must charge).
    fn query(&mut self, module: &str, msg: &[u8], fuel: u64) -> (QueryResult, u64);
    /// Records an event.
    fn emit(&mut self, event: Event);
    /// A debug line; never affects state.
    fn log(&mut self, line: &str);
}

/// Runs module code.
pub trait Executor {
    /// Whether the code with this hash is available.
    fn has_code(&self, code: &CodeHash) -> bool;
    /// Makes `wasm`, just published in a partnership's log, available to
    /// [`invoke`](Self::invoke) (a no-op if it already is). An error other
    /// than [`ExecError::Fault`] means the code is not a valid module, the
    /// same on every node.
    fn load_code(&self, wasm: &[u8]) -> Result<CodeHash, ExecError>;
    /// Runs one entry point.
    fn invoke(&self, call: Invocation<'_>, env: &mut dyn HostEnv) -> Result<Invoked, ExecError>;
}

/// A shared executor: one node runs many partnerships on one engine and one
/// module cache.
impl<E: Executor + ?Sized> Executor for std::sync::Arc<E> {
    fn has_code(&self, code: &CodeHash) -> bool {
        (**self).has_code(code)
    }

    fn load_code(&self, wasm: &[u8]) -> Result<CodeHash, ExecError> {
        (**self).load_code(wasm)
    }

    fn invoke(&self, call: Invocation<'_>, env: &mut dyn HostEnv) -> Result<Invoked, ExecError> {
        (**self).invoke(call, env)
    }
}
