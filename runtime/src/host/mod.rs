//! The WASM host: runs partnership modules with wasmtime, metered and
//! sandboxed, so that the same op gives the same result on every node.
//!
//! This module owns the engine and its configuration, compiling modules and
//! caching them on disk, the host functions a module imports, fuel metering
//! of host calls, and [`WasmExecutor`], the ledger's
//! [`Executor`](crate::ledger::Executor) for real `.wasm` code. It does not
//! own what a module may touch (the [`HostEnv`](crate::ledger::HostEnv) the
//! ledger passes in), which op runs when, or where code bytes are stored.
//!
//! # Use
//!
//! ```no_run
//! use polypact::host::{HostConfig, WasmExecutor};
//! use polypact::ledger::Executor;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let executor = WasmExecutor::new(HostConfig::with_cache_dir("/var/lib/polypact/modules"))?;
//! let wasm = std::fs::read("voting.wasm")?;
//! let code = executor.add_code(&wasm)?; // validated, compiled or loaded from the cache
//! assert!(executor.has_code(&code));
//! // the ledger now calls `executor.invoke(..)` for every entry point it runs
//! # Ok(()) }
//! ```
//!
//! # Determinism
//!
//! A node records the outcome of every op, including failures, so an
//! invocation must give the same output, the same error, and the same fuel
//! on every node. The host guarantees it as follows.
//!
//! - **Fuel, not time, bounds a module.** Every WASM operator costs one unit
//!   of fuel and every host call a fixed base plus a per-byte cost of its
//!   arguments and results ([`cost`]); both depend only on the code, the input
//!   and the state. Running out is [`ExecError::OutOfFuel`], the same on every
//!   node; `fuel_used` is exact.
//! - **Floats are canonical.** Cranelift canonicalises every NaN an operation
//!   produces (`0x7fc00000`, `0x7ff8000000000000`), so NaN payloads and signs
//!   cannot differ between CPUs. Relaxed SIMD, whose results differ between
//!   CPUs, is off.
//! - **Nothing outside the op reaches the module.** There are no threads or
//!   shared memory, no WASI, no clock, no randomness; a module may import only
//!   the `polypact` functions, and everything they return comes from the
//!   ledger's state. Each invocation runs in a fresh instance, so nothing leaks
//!   between ops.
//! - **Limits are fixed.** Memory (64 MiB), table size, the WASM stack, output
//!   and key/value sizes are [`GuestLimits`], equal on every node; `memory.grow`
//!   beyond the limit returns -1 and deeper recursion traps with a stack
//!   overflow. The stack bound is counted in native bytes: same binary and CPU
//!   architecture give the same depth, and a charter's fuel budget should keep
//!   honest modules far from it.
//! - **Failures are described by code, not by address.** A trap becomes
//!   [`ExecError::Trap`] with wasmtime's trap text ("wasm trap: call stack
//!   exhausted"), or the host function's own text; no backtraces or pointers.
//! - **The wall clock only stops a stuck node.** An epoch ticker thread lets an
//!   invocation run for [`HostConfig::deadline`] at most; past it the result
//!   is [`ExecError::Fault`], which the ledger never records (it stops
//!   instead). Fuel ends any module long before, on any healthy node.
//!
//! The module's own error (`Err(text)` in its response) is an output, not an
//! [`ExecError`]: it is [`Output::Response(Err(..))`](crate::ledger::Output).
//!
//! # Speed
//!
//! Modules are compiled once and kept as an `InstancePre`; compiled artifacts
//! are cached on disk keyed by code hash and engine configuration, so a
//! restart does not recompile. Instances come from wasmtime's pooling
//! allocator, so instantiation is a few microseconds.
//!
//! [`ExecError::OutOfFuel`]: crate::ledger::ExecError::OutOfFuel
//! [`ExecError::Trap`]: crate::ledger::ExecError::Trap
//! [`ExecError::Fault`]: crate::ledger::ExecError::Fault
//! [`ExecError`]: crate::ledger::ExecError

mod cache;
mod compile_cost;
mod config;
mod engine;
mod error;
mod executor;
mod imports;
#[cfg(any(test, feature = "testing"))]
pub mod native;
mod prepare;
mod references;
mod state;
mod validate;

#[cfg(test)]
mod tests;

pub use compile_cost::{CompileCost, MAX_FUNCTION_COMPILE_COST, MAX_MODULE_COMPILE_COST};
pub use config::{GuestLimits, HostConfig};
pub use error::HostError;
pub use executor::{HostStats, WasmExecutor};
pub use imports::cost;
pub use references::declared_references;
