//! [`WasmExecutor`]: the ledger's [`Executor`] for real WASM modules.
//!
//! This file owns the code table (one `InstancePre` per code hash), adding
//! code (cache lookup, compile, validate, cache store), and running one
//! invocation in a fresh store (exports resolved once per module): ABI
//! version check, input, entry call, output, and the mapping of every
//! failure to an [`ExecError`]. It does not own the
//! engine settings (`engine.rs`), the cache format (`cache.rs`), module
//! checks (`validate.rs`) or the host functions (`imports.rs`).

use std::sync::Arc;
use std::time::Duration;

use polypact_sdk::abi::{
    ABI_VERSION, EXPORT_ABI_VERSION, EXPORT_ALLOC, Entry, QueryResult, ResponseResult, unpack_region,
};
use serde::de::DeserializeOwned;
use wasmtime::{
    Engine, Instance, ModuleExport, PoolConcurrencyLimitError, Store, Trap, TypedFunc, WasmParams,
    WasmResults,
};

use super::cache::ArtifactCache;
use super::config::{GuestLimits, HostConfig};
use super::engine::{EpochTicker, build_engine, deadline_ticks};
use super::error::HostError;
use super::imports::{GuestFault, linker};
use super::prepare::{BackgroundCompiler, Code, Codes, Preparer, entry_slot};
use super::state::{EnvSlot, StoreState};
use crate::ledger::{ExecError, Executor, HostEnv, Invocation, Invoked, Output};
use crate::op::CodeHash;

/// Native stack the host's own frames around one module invocation may
/// take (wasmtime's entry trampolines, host functions, the ledger's
/// dispatch), on top of the module's `max_wasm_stack`.
const NATIVE_FRAMES_BYTES: usize = 512 * 1024;

/// Runs WASM modules with wasmtime: metered, sandboxed, deterministic.
///
/// Add code with [`add_code`](Self::add_code), then hand the executor to the
/// ledger, which calls [`Executor::invoke`]. Every invocation gets a fresh
/// instance, so nothing leaks from one to the next. The executor is `Send`
/// and `Sync`; invocations may run on several threads at once, up to
/// [`HostConfig::max_instances`] live instances.
pub struct WasmExecutor {
    engine: Engine,
    limits: GuestLimits,
    deadline: Duration,
    deadline_ticks: u64,
    max_instances: u32,
    /// Turns bytes into [`Code`]; shared with the background compiler.
    preparer: Arc<Preparer>,
    codes: Codes,
    /// Published code compiling off the caller's thread.
    background: BackgroundCompiler,
    _ticker: EpochTicker,
}

/// The function `export` of `instance`, typed; a missing or mistyped export
/// is an invalid module (`check` makes both impossible for added code).
fn typed_export<P: WasmParams, R: WasmResults>(
    store: &mut Store<StoreState>,
    instance: &Instance,
    export: Option<&ModuleExport>,
    name: &str,
) -> Result<TypedFunc<P, R>, ExecError> {
    export
        .and_then(|export| instance.get_module_export(&mut *store, export))
        .and_then(|ext| ext.into_func())
        .ok_or_else(|| ExecError::InvalidModule(format!("missing export `{name}`")))?
        .typed::<P, R>(&*store)
        .map_err(|e| ExecError::InvalidModule(format!("{name}: {e:#}")))
}

/// Counters of how code was added, for tests, benchmarks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// Modules compiled from WASM by this executor.
    pub compiled: u64,
    /// Modules loaded from the on-disk cache instead.
    pub loaded_from_cache: u64,
}

impl WasmExecutor {
    /// Sets up the engine, the host functions, the cache directory and the
    /// epoch ticker.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let engine = build_engine(&config)?;
        let linker = linker(&engine)?;
        let cache = config.cache_dir.as_deref().map(|dir| ArtifactCache::open(dir, &engine)).transpose()?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        let preparer = Arc::new(Preparer::new(engine.clone(), linker, config.limits, cache));
        let codes = Codes::default();
        let background = BackgroundCompiler::start(Arc::clone(&preparer), codes.clone())?;
        Ok(WasmExecutor {
            limits: config.limits,
            deadline: config.deadline,
            deadline_ticks: deadline_ticks(config.deadline, config.epoch_tick),
            max_instances: config.max_instances,
            preparer,
            codes,
            background,
            _ticker: ticker,
            engine,
        })
    }

    /// Validates, compiles (or loads from the cache) and keeps a module;
    /// returns its code hash. Adding code that is already here does nothing.
    ///
    /// The module must export what [`polypact_sdk::abi`] lists, import
    /// nothing but its host functions, and fit the limits; the error names
    /// every offending export or import.
    pub fn add_code(&self, wasm: &[u8]) -> Result<CodeHash, HostError> {
        let code = CodeHash::of(wasm);
        if self.has_code(&code) {
            return Ok(code);
        }
        self.preparer.validate(code, wasm)?;
        let prepared = self.preparer.prepare(code, wasm)?;
        self.codes.insert(code, prepared);
        Ok(code)
    }

    /// The hashes of all code held, ascending.
    pub fn code_hashes(&self) -> Vec<CodeHash> {
        self.codes.hashes()
    }

    /// The preparer, to measure compiles past the rules in tests.
    #[cfg(test)]
    pub(super) fn preparer_for_tests(&self) -> &Preparer {
        &self.preparer
    }

    /// Checks `wasm` and compiles it on the background compiler (as
    /// [`Executor::load_code`] does), then waits, on the calling thread,
    /// until it is ready: for callers off the node loop that must hand the
    /// loop compiled code. The error says why the module cannot run.
    pub fn compile_off_loop(&self, wasm: &[u8]) -> Result<CodeHash, ExecError> {
        let code = self.load_code(wasm)?;
        self.code(&code).map(|_| code)
    }

    /// How many published modules are still compiling in the background.
    pub fn compiling(&self) -> usize {
        self.background.in_flight()
    }

    /// How code was added so far.
    pub fn stats(&self) -> HostStats {
        self.preparer.stats()
    }

    /// The limits every invocation runs under.
    pub fn limits(&self) -> &GuestLimits {
        &self.limits
    }

    /// The ready code for `code`, waiting for a background compile of it
    /// to end; the compile's error if it failed (the same on every node).
    fn code(&self, code: &CodeHash) -> Result<Arc<Code>, ExecError> {
        if let Some(ready) = self.codes.get(code) {
            return Ok(ready);
        }
        match self.background.wait_for(code) {
            Some(Ok(())) => self.codes.get(code).ok_or(ExecError::MissingCode(*code)),
            Some(Err(reason)) => Err(ExecError::InvalidModule(reason)),
            None => Err(ExecError::MissingCode(*code)),
        }
    }

    /// Runs one invocation in `store`; fuel accounting is the caller's.
    fn run(
        &self,
        store: &mut Store<StoreState>,
        code: &Code,
        entry: Entry,
        input: &[u8],
        budget: u64,
    ) -> Result<Output, ExecError> {
        let fail = |e: wasmtime::Error| self.classify(e, budget);
        let instance = code.pre.instantiate(&mut *store).map_err(fail)?;
        let exports = &code.exports;

        let version =
            typed_export::<(), i32>(store, &instance, Some(&exports.abi_version), EXPORT_ABI_VERSION)?
                .call(&mut *store, ())
                .map_err(fail)? as u32;
        if version != ABI_VERSION {
            return Err(ExecError::InvalidModule(format!(
                "built for ABI version {version}, this node speaks {ABI_VERSION}; rebuild it with a matching polypact SDK"
            )));
        }
        let memory = instance
            .get_module_export(&mut *store, &exports.memory)
            .and_then(|ext| ext.into_memory())
            .ok_or_else(|| ExecError::InvalidModule("missing export `memory`".into()))?;
        // The host functions find the memory here instead of by name.
        store.data_mut().memory = Some(memory);

        let len = i32::try_from(input.len()).map_err(|_| {
            ExecError::Abi(format!("the input of {} bytes does not fit a 32-bit memory", input.len()))
        })?;
        let ptr = typed_export::<i32, i32>(store, &instance, Some(&exports.alloc), EXPORT_ALLOC)?
            .call(&mut *store, len)
            .map_err(fail)?;
        memory.write(&mut *store, ptr as u32 as usize, input).map_err(|_| {
            ExecError::Abi(format!(
                "{EXPORT_ALLOC}({len}) returned {}, which is not a region of {len} bytes inside the module's memory",
                ptr as u32
            ))
        })?;

        let export = entry.export_name();
        let packed = typed_export::<(i32, i32), i64>(
            store,
            &instance,
            exports.entries[entry_slot(entry)].as_ref(),
            export,
        )?
        .call(&mut *store, (ptr, len))
        .map_err(fail)?;

        let (out_ptr, out_len) = unpack_region(packed as u64);
        let max = self.limits.max_output_bytes;
        if out_len > max {
            return Err(ExecError::Abi(format!(
                "{export} returned {out_len} bytes, over the output limit of {max} bytes"
            )));
        }
        let data = memory.data(&*store);
        let start = out_ptr as usize;
        let end = start.saturating_add(out_len as usize);
        let bytes = data.get(start..end).ok_or_else(|| {
            ExecError::Abi(format!(
                "{export} returned the region {start}..{end}, outside the module's memory of {} bytes",
                data.len()
            ))
        })?;
        match entry {
            Entry::Query => decode::<QueryResult>(bytes, export, "QueryResult").map(Output::Query),
            Entry::Init | Entry::Handle | Entry::Migrate => {
                decode::<ResponseResult>(bytes, export, "ResponseResult").map(Output::Response)
            }
        }
    }

    /// Maps a wasmtime failure to the ledger's error.
    fn classify(&self, error: wasmtime::Error, budget: u64) -> ExecError {
        tracing::debug!(error = ?error, "module invocation failed");
        if let Some(fault) = error.downcast_ref::<GuestFault>() {
            return match fault {
                GuestFault::Trap(text) => ExecError::Trap(text.clone()),
                GuestFault::Abi(text) => ExecError::Abi(text.clone()),
            };
        }
        if let Some(trap) = error.downcast_ref::<Trap>() {
            return match trap {
                Trap::OutOfFuel => ExecError::OutOfFuel { budget },
                Trap::Interrupt => ExecError::Fault(format!(
                    "the module ran past the wall-clock deadline of {:?} without exhausting its fuel; \
                     this node is too slow or overloaded to decide the op",
                    self.deadline
                )),
                // The trap code alone: deterministic, no addresses or backtrace.
                other => ExecError::Trap(other.to_string()),
            };
        }
        if error.is::<PoolConcurrencyLimitError>() {
            return ExecError::Fault(format!(
                "all {} instance slots are in use; raise `max_instances` or lower the nesting of queries",
                self.max_instances
            ));
        }
        ExecError::Fault(format!("{error:#}"))
    }
}

/// Decodes a whole output: garbage or trailing bytes break the ABI.
fn decode<T: DeserializeOwned>(bytes: &[u8], export: &str, what: &str) -> Result<T, ExecError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| {
        ExecError::Abi(format!("{export} returned bytes that are not a postcard {what}: {e}"))
    })?;
    if !rest.is_empty() {
        return Err(ExecError::Abi(format!("{export} returned {} bytes after its {what}", rest.len())));
    }
    Ok(value)
}

impl Executor for WasmExecutor {
    fn has_code(&self, code: &CodeHash) -> bool {
        self.codes.get(code).is_some() || self.background.knows(code)
    }

    /// Checks the bytes (size, WASM validation: both the same on every
    /// node) at once, and compiles them on the background compiler, so a
    /// partner's costly module never holds up the caller (the node loop).
    /// A module whose compile or shape check fails fails each invocation
    /// with that reason.
    fn load_code(&self, wasm: &[u8]) -> Result<CodeHash, ExecError> {
        let code = CodeHash::of(wasm);
        if self.has_code(&code) {
            return Ok(code);
        }
        self.preparer.validate(code, wasm).map_err(|error| match error {
            HostError::InvalidModule { reason, .. } => ExecError::InvalidModule(reason),
            error @ HostError::TooLarge { .. } => ExecError::InvalidModule(error.to_string()),
            other => ExecError::Fault(other.to_string()),
        })?;
        self.background.submit(code, wasm.to_vec());
        Ok(code)
    }

    fn invoke(&self, call: Invocation<'_>, env: &mut dyn HostEnv) -> Result<Invoked, ExecError> {
        let code = self.code(call.code)?;
        if call.entry == Entry::Migrate && !code.shape.has_migrate {
            return Err(ExecError::InvalidModule(format!(
                "module {} has no `{}` export, so nothing can be upgraded to it; add a migrate entry point",
                call.code,
                Entry::Migrate.export_name()
            )));
        }
        let input = postcard::to_allocvec(call.input)
            .map_err(|e| ExecError::Fault(format!("cannot encode the input: {e}")))?;

        let mut env: &mut dyn HostEnv = env;
        #[allow(unsafe_code)]
        // SAFETY: the slot goes into `store` below, and `store` is dropped at
        // the end of this block, before `env`'s borrow (this function's
        // parameter) ends; `env` is not used again in this function.
        let slot = unsafe { EnvSlot::lend(&mut env) };
        let (result, remaining) = {
            let mut store = Store::try_new(&self.engine, StoreState::new(slot, self.limits))
                .map_err(|e| ExecError::Fault(format!("cannot create a store: {e:#}")))?;
            store.limiter(|state| &mut state.store_limits);
            store.set_fuel(call.fuel).map_err(|e| ExecError::Fault(format!("cannot set fuel: {e:#}")))?;
            store.set_epoch_deadline(self.deadline_ticks);
            store.epoch_deadline_trap();
            // Modules that query (or message) each other nest, each level on
            // this thread's stack with up to `max_wasm_stack` of WASM frames:
            // grow the stack first if what is left could not hold one more
            // level, so no nesting the rules allow can overflow it.
            let red_zone = self.limits.max_wasm_stack + NATIVE_FRAMES_BYTES;
            let result = stacker::maybe_grow(red_zone, 2 * red_zone, || {
                self.run(&mut store, &code, call.entry, &input, call.fuel)
            });
            let remaining = store.get_fuel().unwrap_or(0);
            drop(store);
            (result, remaining)
        };
        let output = result?;
        Ok(Invoked { output, fuel_used: call.fuel.saturating_sub(remaining) })
    }
}

impl std::fmt::Debug for WasmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmExecutor")
            .field("codes", &self.code_hashes())
            .field("limits", &self.limits)
            .field("deadline", &self.deadline)
            .field("compiling", &self.compiling())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
