//! SDK modules compiled natively, behind the same [`Executor`] trait as
//! the WASM host: [`DispatchExecutor`] calls a module's generated
//! `polypact_dispatch` (see `polypact_sdk::export!`) with the same postcard
//! input the WASM export receives, bridging its host calls to the ledger's
//! [`HostEnv`].
//!
//! It exists to measure what WASM costs (the host benchmark runs one module
//! both ways in the same run) and for fast native tests. It is not a
//! sandbox: there is no fuel metering (it reports 0 fuel used) and no memory
//! limit, so a node never runs untrusted code through it. A panic in the
//! module is caught and reported as a trap, as on WASM.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use polypact_sdk::abi::{Entry, Event, QueryResult, ResponseResult};
use polypact_sdk::native::{NativeHost, with_host};

use crate::ledger::{ExecError, Executor, HostEnv, Invocation, Invoked, Output};
use crate::op::CodeHash;

/// A module's generated dispatch function.
pub type DispatchFn = fn(Entry, &[u8]) -> Vec<u8>;

/// Runs natively compiled SDK modules, keyed by a code hash chosen by the
/// caller (e.g. the hash of the same module's WASM, so a charter can name it).
#[derive(Clone, Debug, Default)]
pub struct DispatchExecutor {
    modules: BTreeMap<CodeHash, DispatchFn>,
}

impl DispatchExecutor {
    /// An executor with no modules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `dispatch` under `code`.
    pub fn with_module(mut self, code: CodeHash, dispatch: DispatchFn) -> Self {
        self.modules.insert(code, dispatch);
        self
    }
}

/// Bridges the SDK's native host calls to the ledger's environment.
struct Bridge<'e> {
    env: &'e mut dyn HostEnv,
    fuel: u64,
}

impl NativeHost for Bridge<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.env.get(key)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.env.set(key, value)
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        self.env.remove(key)
    }

    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.env.scan(prefix, start, limit)
    }

    fn query(&mut self, module: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        self.env.query(module, msg, self.fuel).0
    }

    fn emit(&mut self, event: Event) {
        self.env.emit(event);
    }

    fn log(&mut self, line: &str) {
        self.env.log(line);
    }
}

impl Executor for DispatchExecutor {
    fn has_code(&self, code: &CodeHash) -> bool {
        self.modules.contains_key(code)
    }

    /// Dispatched modules are registered, not loaded: published bytes are
    /// accepted when their hash is a registered module's.
    fn load_code(&self, wasm: &[u8]) -> Result<CodeHash, ExecError> {
        let code = CodeHash::of(wasm);
        if self.modules.contains_key(&code) {
            Ok(code)
        } else {
            Err(ExecError::InvalidModule(format!("no module is registered for {code}")))
        }
    }

    fn invoke(&self, call: Invocation<'_>, env: &mut dyn HostEnv) -> Result<Invoked, ExecError> {
        let dispatch = *self.modules.get(call.code).ok_or(ExecError::MissingCode(*call.code))?;
        let input = postcard::to_allocvec(call.input)
            .map_err(|e| ExecError::Fault(format!("cannot encode the input: {e}")))?;
        let mut bridge = Bridge { env, fuel: call.fuel };
        let entry = call.entry;
        let bytes = catch_unwind(AssertUnwindSafe(|| with_host(&mut bridge, || dispatch(entry, &input))))
            .map_err(|panic| {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the module panicked".to_owned());
                ExecError::Trap(text)
            })?;
        let output = match entry {
            Entry::Query => Output::Query(
                postcard::from_bytes::<QueryResult>(&bytes)
                    .map_err(|e| ExecError::Abi(format!("not a postcard QueryResult: {e}")))?,
            ),
            _ => Output::Response(
                postcard::from_bytes::<ResponseResult>(&bytes)
                    .map_err(|e| ExecError::Abi(format!("not a postcard ResponseResult: {e}")))?,
            ),
        };
        Ok(Invoked { output, fuel_used: 0 })
    }
}
