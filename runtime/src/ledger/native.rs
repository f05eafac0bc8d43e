//! An [`Executor`] that runs modules compiled into the node as Rust.
//!
//! Used by tests and benchmarks, and to compare a module's WASM build with
//! the same logic running natively through the same trait. A native module
//! is anything implementing [`NativeModule`]; [`NativeExecutor::register`]
//! binds it to a code hash, which charters then name as usual. Native code is
//! not metered: it reports zero fuel.

use std::collections::BTreeMap;
use std::sync::Arc;

use polypact_sdk::abi::{Entry, Input};

use super::executor::{ExecError, Executor, HostEnv, Invocation, Invoked, Output};
use crate::op::CodeHash;

/// A module implemented in Rust and linked into the node.
pub trait NativeModule: Send + Sync {
    /// Runs one entry point.
    fn invoke(&self, entry: Entry, input: &Input, env: &mut dyn HostEnv) -> Output;
}

/// Runs registered [`NativeModule`]s.
#[derive(Clone, Default)]
pub struct NativeExecutor {
    modules: BTreeMap<CodeHash, Arc<dyn NativeModule>>,
}

impl NativeExecutor {
    /// An executor with no modules.
    pub fn new() -> Self {
        NativeExecutor::default()
    }

    /// Binds `module` to `code` (any hash; tests usually use
    /// `CodeHash::of(b"name")`).
    pub fn register(&mut self, code: CodeHash, module: Arc<dyn NativeModule>) -> &mut Self {
        self.modules.insert(code, module);
        self
    }
}

impl std::fmt::Debug for NativeExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeExecutor").field("modules", &self.modules.keys().collect::<Vec<_>>()).finish()
    }
}

impl Executor for NativeExecutor {
    fn has_code(&self, code: &CodeHash) -> bool {
        self.modules.contains_key(code)
    }

    /// Native modules are registered, not loaded: published bytes are
    /// accepted when their hash is a registered module's.
    fn load_code(&self, wasm: &[u8]) -> Result<CodeHash, ExecError> {
        let code = CodeHash::of(wasm);
        if self.modules.contains_key(&code) {
            Ok(code)
        } else {
            Err(ExecError::InvalidModule(format!("no native module is registered for {code}")))
        }
    }

    fn invoke(&self, call: Invocation<'_>, env: &mut dyn HostEnv) -> Result<Invoked, ExecError> {
        let module = self.modules.get(call.code).ok_or(ExecError::MissingCode(*call.code))?;
        let output = module.invoke(call.entry, call.input, env);
        Ok(Invoked { output, fuel_used: 0 })
    }
}
