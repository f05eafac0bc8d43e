//! How the WASM host is set up: [`HostConfig`] and the guest limits in it.
//!
//! This file owns the knobs and their defaults. It does not apply them: the
//! engine (`engine.rs`), the store (`executor.rs`) and the host functions
//! (`imports.rs`) do.
//!
//! The knobs fall in two groups. [`GuestLimits`] decides outcomes (whether a
//! module's memory may grow, whether a key is too long, whether an output is
//! too large): every node of a partnership must use the same values, so keep
//! the defaults unless the whole network changes together. The rest of
//! [`HostConfig`] (cache directory, wall-clock deadline, instance slots) is
//! local to one node and never changes an outcome.

use std::path::PathBuf;
use std::time::Duration;

/// How a [`WasmExecutor`](super::WasmExecutor) is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// Where compiled modules are cached, keyed by code hash and engine
    /// configuration; `None` compiles every module on every start.
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock backstop per invocation. A module still running after
    /// this long fails with [`ExecError::Fault`](crate::ledger::ExecError::Fault),
    /// which never becomes a recorded outcome. Fuel, not this, is what bounds
    /// a module; set it far above what any fuel budget can take.
    pub deadline: Duration,
    /// How often the background ticker advances the engine's epoch; the
    /// deadline is checked with this granularity.
    pub epoch_tick: Duration,
    /// Instance slots reserved by the pooling allocator: the most module
    /// instances alive at once (nested queries each hold one). Each slot
    /// reserves virtual address space, not memory.
    pub max_instances: u32,
    /// Limits that decide outcomes; equal on every node.
    pub limits: GuestLimits,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            deadline: Duration::from_secs(10),
            epoch_tick: Duration::from_millis(50),
            max_instances: 64,
            limits: GuestLimits::default(),
        }
    }
}

impl HostConfig {
    /// The default configuration with the on-disk cache in `dir`.
    pub fn with_cache_dir(dir: impl Into<PathBuf>) -> Self {
        HostConfig { cache_dir: Some(dir.into()), ..HostConfig::default() }
    }
}

/// Limits on what a module may do. They decide outcomes, so every node of a
/// partnership must use the same values (the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuestLimits {
    /// Largest WASM binary `add_code` accepts, in bytes.
    pub max_code_bytes: usize,
    /// Largest linear memory, in bytes (a multiple of 64 KiB); `memory.grow`
    /// beyond it returns -1.
    pub max_memory_bytes: u64,
    /// Most elements in a table.
    pub max_table_elements: u32,
    /// Native stack available to WASM code, in bytes; deeper recursion traps
    /// with a stack overflow.
    pub max_wasm_stack: usize,
    /// Largest output an entry point may return, in bytes.
    pub max_output_bytes: u32,
    /// Longest key (or scan prefix or start) a host call accepts, in bytes.
    pub max_key_bytes: u32,
    /// Longest value `db_set` accepts, in bytes.
    pub max_value_bytes: u32,
    /// Most entries one `db_scan` returns; a larger `limit` is lowered to
    /// this, and the module pages on (the SDK does).
    pub max_scan_entries: u32,
    /// Longest module name plus message a `query` accepts, in bytes.
    pub max_query_bytes: u32,
    /// Longest encoded event `emit_event` accepts, in bytes.
    pub max_event_bytes: u32,
    /// Longest debug line kept, in bytes; longer lines are cut (logging
    /// never changes an outcome, but the whole line is still bounds-checked
    /// and paid for).
    pub max_log_bytes: u32,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            max_code_bytes: 16 * 1024 * 1024,
            max_memory_bytes: 64 * 1024 * 1024,
            max_table_elements: 10_000,
            max_wasm_stack: 512 * 1024,
            max_output_bytes: 1024 * 1024,
            max_key_bytes: 4 * 1024,
            max_value_bytes: 512 * 1024,
            max_scan_entries: 256,
            max_query_bytes: 64 * 1024,
            max_event_bytes: 64 * 1024,
            max_log_bytes: 4 * 1024,
        }
    }
}
