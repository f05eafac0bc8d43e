//! Turning WASM bytes into code ready to instantiate, on the caller's
//! thread ([`Preparer::prepare`]) or on a background compiler thread
//! ([`BackgroundCompiler`]) for code a partnership publishes, so that a
//! partner's costly module never holds up the node loop.
//!
//! This file owns the code table ([`Codes`]), the steps from bytes to
//! [`Code`] (size check, validation, the compile-cost rule, on-disk cache
//! lookup, compile, module checks, linking, cache store) and the background
//! queue. It does not run
//! code (`executor.rs`), know the engine settings (`engine.rs`) or the cache
//! format (`cache.rs`), or decide what a module may import or export
//! (`validate.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};

use polypact_sdk::abi::{EXPORT_ABI_VERSION, EXPORT_ALLOC, Entry};
use wasmtime::{Engine, InstancePre, Linker, Module, ModuleExport};

use super::cache::{ArtifactCache, Miss};
use super::compile_cost::CompileCost;
use super::config::GuestLimits;
use super::error::HostError;
use super::executor::HostStats;
use super::state::StoreState;
use super::validate::{EXPORT_MEMORY, Shape, check};
use crate::op::CodeHash;

/// A module ready to instantiate.
pub(super) struct Code {
    pub(super) pre: InstancePre<StoreState>,
    pub(super) shape: Shape,
    pub(super) exports: ExportHandles,
}

/// The exports an invocation uses, resolved once per module so that an
/// invocation finds them by index instead of by name.
pub(super) struct ExportHandles {
    pub(super) memory: ModuleExport,
    pub(super) alloc: ModuleExport,
    pub(super) abi_version: ModuleExport,
    /// Indexed by [`entry_slot`]; `None` for an optional export the module lacks.
    pub(super) entries: [Option<ModuleExport>; 4],
}

impl ExportHandles {
    /// Resolves the exports of a module that passed `check`.
    fn resolve(module: &Module) -> Result<Self, String> {
        let required =
            |name: &str| module.get_export_index(name).ok_or_else(|| format!("it has no export `{name}`"));
        let mut entries = [None, None, None, None];
        for entry in [Entry::Init, Entry::Handle, Entry::Query, Entry::Migrate] {
            entries[entry_slot(entry)] = module.get_export_index(entry.export_name());
        }
        Ok(ExportHandles {
            memory: required(EXPORT_MEMORY)?,
            alloc: required(EXPORT_ALLOC)?,
            abi_version: required(EXPORT_ABI_VERSION)?,
            entries,
        })
    }
}

/// The place of `entry` in [`ExportHandles::entries`].
pub(super) fn entry_slot(entry: Entry) -> usize {
    match entry {
        Entry::Init => 0,
        Entry::Handle => 1,
        Entry::Query => 2,
        Entry::Migrate => 3,
    }
}

/// The modules ready to instantiate, by code hash; shared between the
/// executor and its background compiler.
#[derive(Clone, Default)]
pub(super) struct Codes(Arc<RwLock<BTreeMap<CodeHash, Arc<Code>>>>);

impl Codes {
    pub(super) fn get(&self, code: &CodeHash) -> Option<Arc<Code>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).get(code).cloned()
    }

    pub(super) fn insert(&self, code: CodeHash, ready: Code) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).entry(code).or_insert_with(|| Arc::new(ready));
    }

    pub(super) fn hashes(&self) -> Vec<CodeHash> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).keys().copied().collect()
    }
}

/// Everything it takes to turn bytes into [`Code`].
pub(super) struct Preparer {
    engine: Engine,
    linker: Linker<StoreState>,
    limits: GuestLimits,
    cache: Option<ArtifactCache>,
    compiled: AtomicU64,
    loaded: AtomicU64,
}

impl Preparer {
    pub(super) fn new(
        engine: Engine,
        linker: Linker<StoreState>,
        limits: GuestLimits,
        cache: Option<ArtifactCache>,
    ) -> Self {
        Preparer { engine, linker, limits, cache, compiled: AtomicU64::new(0), loaded: AtomicU64::new(0) }
    }

    /// How code was prepared so far.
    pub(super) fn stats(&self) -> HostStats {
        HostStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            loaded_from_cache: self.loaded.load(Ordering::Relaxed),
        }
    }

    /// The checks that need no compile: the size limit and WASM validation
    /// (linear in the size; the same answer on every node).
    pub(super) fn validate(&self, code: CodeHash, wasm: &[u8]) -> Result<(), HostError> {
        let limit = self.limits.max_code_bytes;
        if wasm.len() > limit {
            return Err(HostError::TooLarge { code, size: wasm.len(), limit });
        }
        Module::validate(&self.engine, wasm)
            .map_err(|e| HostError::InvalidModule { code, reason: format!("it is not valid WASM: {e:#}") })?;
        CompileCost::of(wasm)
            .and_then(|cost| cost.check())
            .map_err(|reason| HostError::InvalidModule { code, reason })
    }

    /// Compiles (or loads from the cache), checks and links `wasm`, which
    /// passed [`validate`](Self::validate).
    pub(super) fn prepare(&self, code: CodeHash, wasm: &[u8]) -> Result<Code, HostError> {
        let limit = self.limits.max_code_bytes;
        if wasm.len() > limit {
            return Err(HostError::TooLarge { code, size: wasm.len(), limit });
        }
        let invalid = |reason: String| HostError::InvalidModule { code, reason };
        let (module, fresh) = match self.load_cached(&code) {
            Some(module) => (module, false),
            None => {
                let module = Module::from_binary(&self.engine, wasm)
                    .map_err(|e| invalid(format!("it does not compile: {e:#}")))?;
                self.compiled.fetch_add(1, Ordering::Relaxed);
                (module, true)
            }
        };
        let shape = check(&module, &self.limits).map_err(invalid)?;
        let exports = ExportHandles::resolve(&module).map_err(invalid)?;
        let pre =
            self.linker.instantiate_pre(&module).map_err(|e| invalid(format!("it does not link: {e:#}")))?;
        if fresh
            && let Some(cache) = &self.cache
            && let Err(why) = cache.store(&code, &module)
        {
            tracing::warn!(code = %code.short(), "module cache: {why}; the module will be compiled again next start");
        }
        Ok(Code { pre, shape, exports })
    }

    /// The module for `code` from the on-disk cache, if there is a usable one.
    fn load_cached(&self, code: &CodeHash) -> Option<Module> {
        let cache = self.cache.as_ref()?;
        match cache.load(&self.engine, code) {
            Ok(module) => {
                self.loaded.fetch_add(1, Ordering::Relaxed);
                Some(module)
            }
            Err(Miss::Absent) => None,
            Err(Miss::Unusable(why)) => {
                tracing::warn!(code = %code.short(), "module cache: {why}; compiling again");
                None
            }
        }
    }
}

/// One background compile: its outcome once done.
#[derive(Default)]
struct Compile {
    outcome: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

/// Compiles published code on its own thread, one module after another,
/// into the shared [`Codes`]. Callers that need a module still compiling
/// wait for it ([`wait_for`](Self::wait_for)); everything else goes on.
pub(super) struct BackgroundCompiler {
    jobs: Mutex<mpsc::Sender<(CodeHash, Vec<u8>)>>,
    /// Compiles queued or running, and those that failed (with why).
    compiles: Arc<Mutex<BTreeMap<CodeHash, Arc<Compile>>>>,
}

impl BackgroundCompiler {
    /// Starts the compiler thread; it ends when the compiler is dropped.
    pub(super) fn start(preparer: Arc<Preparer>, codes: Codes) -> Result<Self, HostError> {
        let (jobs, queue) = mpsc::channel::<(CodeHash, Vec<u8>)>();
        let compiles: Arc<Mutex<BTreeMap<CodeHash, Arc<Compile>>>> = Arc::default();
        let shared = Arc::clone(&compiles);
        std::thread::Builder::new()
            .name("polypact-compile".into())
            .spawn(move || {
                for (code, wasm) in queue {
                    let started = std::time::Instant::now();
                    let outcome = preparer.prepare(code, &wasm).map(|ready| codes.insert(code, ready));
                    tracing::debug!(code = %code.short(), took = ?started.elapsed(), ok = outcome.is_ok(), "compiled published code");
                    let compile = shared.lock().unwrap_or_else(PoisonError::into_inner).get(&code).cloned();
                    if outcome.is_ok() {
                        shared.lock().unwrap_or_else(PoisonError::into_inner).remove(&code);
                    }
                    if let Some(compile) = compile {
                        let reason = outcome.map_err(|e| match e {
                            HostError::InvalidModule { reason, .. } => reason,
                            other => other.to_string(),
                        });
                        *compile.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                        compile.done.notify_all();
                    }
                }
            })
            .map_err(HostError::CompilerThread)?;
        Ok(BackgroundCompiler { jobs: Mutex::new(jobs), compiles })
    }

    /// Queues `wasm` (already validated) for compiling, unless it is queued.
    pub(super) fn submit(&self, code: CodeHash, wasm: Vec<u8>) {
        let mut compiles = self.compiles.lock().unwrap_or_else(PoisonError::into_inner);
        if compiles.contains_key(&code) {
            return;
        }
        compiles.insert(code, Arc::default());
        drop(compiles);
        if self.jobs.lock().unwrap_or_else(PoisonError::into_inner).send((code, wasm)).is_err() {
            tracing::error!(code = %code.short(), "the compiler thread is gone; the module cannot be compiled");
        }
    }

    /// Whether `code` is queued, compiling, or failed to compile here.
    pub(super) fn knows(&self, code: &CodeHash) -> bool {
        self.compiles.lock().unwrap_or_else(PoisonError::into_inner).contains_key(code)
    }

    /// How many compiles are queued or running.
    pub(super) fn in_flight(&self) -> usize {
        let compiles = self.compiles.lock().unwrap_or_else(PoisonError::into_inner);
        compiles
            .values()
            .filter(|c| c.outcome.lock().unwrap_or_else(PoisonError::into_inner).is_none())
            .count()
    }

    /// Waits until the background compile of `code` ends: `Ok` once the
    /// code is ready, its reason if it failed; `None` if it was never
    /// submitted (or is ready and forgotten).
    pub(super) fn wait_for(&self, code: &CodeHash) -> Option<Result<(), String>> {
        let compile = self.compiles.lock().unwrap_or_else(PoisonError::into_inner).get(code).cloned()?;
        let mut outcome = compile.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        while outcome.is_none() {
            outcome = compile.done.wait(outcome).unwrap_or_else(PoisonError::into_inner);
        }
        outcome.clone()
    }
}
