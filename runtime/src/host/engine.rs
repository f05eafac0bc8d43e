//! The wasmtime engine every module runs on, and its epoch ticker.
//!
//! This file owns the engine configuration, which is where most of the
//! determinism argument of the module doc is enforced (fuel, NaN
//! canonicalisation, the WASM features on offer, the stack, the pooling
//! allocator and its limits), and the background thread that advances the
//! engine's epoch for the wall-clock backstop. It does not own compiling,
//! caching or running modules.

use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy,
    WasmFeatures,
};

use super::config::HostConfig;
use super::error::HostError;

/// Linear-memory bytes of a reused pool slot that may be reset in place
/// (copied back from the module's image or zeroed) instead of being handed
/// back to the OS with `madvise`. With `PAGEMAP_SCAN` (Linux 6.7+) only the
/// pages the last instance actually wrote are reset, so a large budget costs
/// nothing for small invocations and spares them the page faults and TLB
/// shootdowns of `madvise`; without it, this many bytes from the start of the
/// slot would be reset on every instantiation, so it falls back to a small
/// budget. A Rust module's memory starts with about 1 MiB of stack, then its
/// data and heap (see BENCHMARKS.md for the measurements).
const KEEP_RESIDENT_WITH_PAGEMAP: usize = 4 * 1024 * 1024;

/// The reset budget of memories when the kernel cannot say which pages were
/// written, and of tables always.
const KEEP_RESIDENT_WITHOUT_PAGEMAP: usize = 64 * 1024;

/// Builds the engine for `config`.
pub(super) fn build_engine(config: &HostConfig) -> Result<Engine, HostError> {
    let limits = &config.limits;
    let engine_error = |reason: String| HostError::Engine { reason };
    let max_memory = usize::try_from(limits.max_memory_bytes).map_err(|_| {
        engine_error(format!("memory limit {} does not fit this machine", limits.max_memory_bytes))
    })?;
    let table_elements = usize::try_from(limits.max_table_elements).map_err(|_| {
        engine_error(format!("table limit {} does not fit this machine", limits.max_table_elements))
    })?;

    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(config.max_instances)
        .total_memories(config.max_instances)
        .total_tables(config.max_instances)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(max_memory)
        .table_elements(table_elements)
        .table_keep_resident(KEEP_RESIDENT_WITHOUT_PAGEMAP);
    // Reset what a reused slot's last instance wrote in place rather than
    // with `madvise`: most invocations touch little memory, and this makes
    // instantiation several times cheaper.
    if pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes).linear_memory_keep_resident(KEEP_RESIDENT_WITH_PAGEMAP);
    } else {
        pool.linear_memory_keep_resident(KEEP_RESIDENT_WITHOUT_PAGEMAP);
    }

    let mut wasm = Config::new();
    wasm.strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        // Metering: every operator costs fuel; the budget decides when a module stops.
        .consume_fuel(true)
        // The wall-clock backstop; never decides an outcome.
        .epoch_interruption(true)
        // Every NaN a float operation produces has the canonical bits.
        .cranelift_nan_canonicalization(true)
        .max_wasm_stack(limits.max_wasm_stack)
        // Only deterministic features: no threads or shared memory, no
        // relaxed SIMD (its results differ between CPUs), no second memory,
        // no 64-bit memory, no custom page sizes, no GC or stack switching.
        .wasm_features(WasmFeatures::THREADS, false)
        .wasm_shared_everything_threads(false)
        .shared_memory(false)
        .wasm_relaxed_simd(false)
        .relaxed_simd_deterministic(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .wasm_stack_switching(false)
        .wasm_gc(false)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| engine_error(format!("{e:#}")))
}

/// Whether the kernel offers the `PAGEMAP_SCAN` ioctl (asked once per engine).
fn pagemap_scan_available() -> bool {
    let mut probe = PoolingAllocationConfig::new();
    probe
        .total_core_instances(1)
        .total_memories(1)
        .total_tables(1)
        .max_memory_size(64 * 1024)
        .pagemap_scan(Enabled::Yes);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(probe));
    Engine::new(&config).is_ok()
}

/// How many epoch ticks make at least `deadline`: the deadline counts from
/// the current epoch, which may be about to advance, so one tick is added.
pub(super) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_nanos = tick.as_nanos().max(1);
    let ticks = deadline.as_nanos().div_ceil(tick_nanos);
    u64::try_from(ticks).unwrap_or(u64::MAX - 1).saturating_add(1).max(2)
}

/// A thread that advances the engine's epoch every tick until dropped.
pub(super) struct EpochTicker {
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub(super) fn start(engine: Engine, tick: Duration) -> Result<Self, HostError> {
        let (stop, stopped) = sync_channel::<()>(1);
        let tick = tick.max(Duration::from_millis(1));
        let thread = std::thread::Builder::new()
            .name("polypact-epoch".into())
            .spawn(move || {
                // Dropping the sender (or sending) stops the ticker.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(HostError::Ticker)?;
        Ok(EpochTicker { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only loops on the channel; it cannot panic.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochTicker").field("running", &self.thread.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up_and_add_one() {
        assert_eq!(deadline_ticks(Duration::from_secs(10), Duration::from_millis(50)), 201);
        assert_eq!(deadline_ticks(Duration::from_millis(120), Duration::from_millis(50)), 4);
        assert_eq!(deadline_ticks(Duration::ZERO, Duration::from_millis(50)), 2);
        assert_eq!(deadline_ticks(Duration::from_secs(1), Duration::ZERO), 1_000_000_001);
    }
}
