//! A harness that runs real `.wasm` modules through a real ledger.
//!
//! Module authors and the standard modules' scenario tests use it to check a
//! module as the node runs it: compiled for `wasm32-unknown-unknown`, loaded
//! by the WASM host, called by signed ops, applied by the ledger (atomic
//! messages, system messages, failures recorded in state). It owns no logic
//! of its own beyond wiring those parts together.
//!
//! ```no_run
//! use polypact::testing::{WasmHarness, module_wasm};
//! let wasm = module_wasm("guestbook").expect("built by scripts/build-modules.sh");
//! let mut h = WasmHarness::new(3, &[("guestbook", &wasm, "{}", &[])]).expect("genesis");
//! let op = h.call(0, "guestbook", &serde_json::json!({"sign": {"message": "hello"}}));
//! assert!(h.outcome_error(&op).is_none());
//! ```

use std::path::PathBuf;

use crate::host::{HostConfig, WasmExecutor};
use crate::ledger::{Ledger, LedgerConfig, LedgerError, OpOutcome};
use crate::op::{
    Charter, MemberId, MemberKey, ModuleSpec, OpId, Params, Payload, SignedOp, SystemPermission, UnsignedOp,
};

/// The logical clock's start (2023-11-14): tests add to it.
pub const T0: u64 = 1_700_000_000_000;

/// Where `scripts/build-modules.sh` puts a module crate's `.wasm`.
pub fn module_wasm_path(crate_name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target
        .join("wasm32-unknown-unknown")
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// The on-disk cache of compiled modules shared by every harness (and every
/// test process) of this target directory: a module is compiled once per
/// build, not once per test. Keyed by code and engine, written atomically.
pub fn test_module_cache() -> PathBuf {
    module_wasm_path("x").parent().and_then(|p| p.parent()).and_then(|p| p.parent()).map_or_else(
        || std::env::temp_dir().join("polypact-test-module-cache"),
        |target| target.join("polypact-test-module-cache"),
    )
}

/// Reads a module crate's built `.wasm`, or says how to build it.
pub fn module_wasm(crate_name: &str) -> Result<Vec<u8>, String> {
    let path = module_wasm_path(crate_name);
    std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}); build the modules first with ./scripts/build-modules.sh",
            path.display()
        )
    })
}

/// A partnership of `n` members (keys with seeds 1..=n) running real WASM
/// modules in one ledger, with a logical clock.
pub struct WasmHarness {
    /// The members' keys.
    pub keys: Vec<MemberKey>,
    /// The ledger.
    pub ledger: Ledger<WasmExecutor>,
    /// The clock (`time_ms` of the next op).
    pub now: u64,
}

/// One module of a harness charter: name, wasm, JSON config, permissions.
pub type ModuleDef<'a> = (&'a str, &'a [u8], &'a str, &'a [SystemPermission]);

impl WasmHarness {
    /// Starts a partnership whose participants are all `n` members.
    pub fn new(n: u8, modules: &[ModuleDef<'_>]) -> Result<Self, LedgerError> {
        Self::with_participants(n, n, modules)
    }

    /// Starts a partnership of `n` keys of which the first `participants`
    /// are the charter's participants (the rest can be admitted later).
    pub fn with_participants(
        n: u8,
        participants: u8,
        modules: &[ModuleDef<'_>],
    ) -> Result<Self, LedgerError> {
        Self::build(n, participants, modules, Params::default())
    }

    /// Starts a partnership of all `n` members under the charter `params`.
    pub fn with_params(n: u8, modules: &[ModuleDef<'_>], params: Params) -> Result<Self, LedgerError> {
        Self::build(n, n, modules, params)
    }

    fn build(
        n: u8,
        participants: u8,
        modules: &[ModuleDef<'_>],
        params: Params,
    ) -> Result<Self, LedgerError> {
        let executor = WasmExecutor::new(HostConfig::with_cache_dir(test_module_cache()))
            .map_err(|e| LedgerError::GenesisFailed(format!("cannot start the WASM host: {e}")))?;
        let keys: Vec<MemberKey> = (1..=n).map(MemberKey::from_seed).collect();
        let mut specs = Vec::new();
        for (name, wasm, config, permissions) in modules {
            let code = executor
                .add_code(wasm)
                .map_err(|e| LedgerError::GenesisFailed(format!("module `{name}` does not load: {e}")))?;
            let config: serde_json::Value = serde_json::from_str(config).map_err(|e| {
                LedgerError::GenesisFailed(format!("module `{name}` config is not JSON: {e}"))
            })?;
            specs.push(ModuleSpec {
                name: (*name).to_owned(),
                code,
                config: config.to_string(),
                permissions: permissions.to_vec(),
            });
        }
        let mut members: Vec<MemberId> =
            keys[..participants as usize].iter().map(MemberKey::member_id).collect();
        members.sort();
        let charter =
            Charter { name: "harness".into(), participants: members, modules: specs, params, parent: None };
        let genesis = UnsignedOp {
            partnership: Default::default(),
            author: keys[0].member_id(),
            seq: 1,
            parents: vec![],
            time_ms: T0,
            payload: Payload::Genesis(charter),
        }
        .sign(&keys[0]);
        let ledger = Ledger::new(genesis, executor, LedgerConfig::default())?;
        Ok(WasmHarness { keys, ledger, now: T0 })
    }

    /// The member id of member `i`.
    pub fn member(&self, i: usize) -> MemberId {
        self.keys[i].member_id()
    }

    /// Moves the clock forward.
    pub fn advance_ms(&mut self, ms: u64) {
        self.now += ms;
    }

    /// Member `i` calls `module` with `msg`; the op is inserted and applied.
    /// Returns the op's id (its outcome may be a failure: see [`Self::outcome_error`]).
    ///
    /// # Panics
    /// If the op is refused (the member is not a participant): use
    /// [`Self::try_call`] to see the refusal.
    pub fn call(&mut self, i: usize, module: &str, msg: &serde_json::Value) -> OpId {
        match self.try_call(i, module, msg) {
            Ok(id) => id,
            Err(refusal) => panic!("member {i}'s call to `{module}` was refused: {refusal}"),
        }
    }

    /// Like [`Self::call`], returning a refusal instead of panicking.
    pub fn try_call(
        &mut self,
        i: usize,
        module: &str,
        msg: &serde_json::Value,
    ) -> Result<OpId, crate::ledger::Refusal> {
        self.now += 1;
        let payload = Payload::Call { module: module.to_owned(), msg: msg.to_string().into_bytes() };
        let op = self.ledger.create_op(&self.keys[i], payload, self.now);
        let id = op.id();
        self.ledger.insert(op, self.now)?;
        Ok(id)
    }

    /// Member `i` publishes `wasm` in the partnership (one `PublishCode` op
    /// per chunk, in order); returns the code's hash and the ops.
    pub fn publish(&mut self, i: usize, wasm: &[u8]) -> (crate::op::CodeHash, Vec<OpId>) {
        let mut ops = Vec::new();
        for chunk in crate::op::CodeChunk::split(wasm) {
            self.now += 1;
            let op = self.ledger.create_op(&self.keys[i], Payload::PublishCode(chunk), self.now);
            ops.push(op.id());
            if let Err(refusal) = self.ledger.insert(op, self.now) {
                panic!("member {i}'s publish op was refused: {refusal}");
            }
        }
        (crate::op::CodeHash::of(wasm), ops)
    }

    /// Every participant acks, so everything so far becomes final.
    pub fn ack_all(&mut self) {
        for i in 0..self.keys.len() {
            let member = self.keys[i].member_id();
            if self.ledger.participants().iter().any(|(m, _)| *m == member) {
                self.now += 1;
                let op = self.ledger.create_op(&self.keys[i], Payload::Ack, self.now);
                let _ = self.ledger.insert(op, self.now);
            }
        }
    }

    /// The error of a failed op, if it failed.
    pub fn outcome_error(&self, op: &OpId) -> Option<String> {
        match self.ledger.outcome(op) {
            Some(OpOutcome::Failed { error }) => Some(error),
            Some(OpOutcome::Skipped { reason }) => Some(reason),
            _ => None,
        }
    }

    /// The response data of a successful op, as JSON.
    pub fn outcome_data(&self, op: &OpId) -> Option<serde_json::Value> {
        match self.ledger.outcome(op) {
            Some(OpOutcome::Applied { data: Some(data), .. }) => serde_json::from_slice(&data).ok(),
            _ => None,
        }
    }

    /// Queries a module against the optimistic state; the module's error as `Err`.
    pub fn query(&self, module: &str, msg: &serde_json::Value) -> Result<serde_json::Value, String> {
        let result = self
            .ledger
            .query(module, msg.to_string().as_bytes(), false)
            .map_err(|e| format!("the host could not run the query: {e}"))?;
        let bytes = result?;
        serde_json::from_slice(&bytes).map_err(|e| format!("query answer is not JSON: {e}"))
    }

    /// Every op of the ledger, in insertion order (to replay elsewhere).
    pub fn ops(&self) -> Vec<SignedOp> {
        self.ledger.dag().nodes().map(|n| (*n.op).clone()).collect()
    }
}

/// A valid polypact module that is slow to compile: `functions` functions,
/// each with `locals` locals that all stay live across `branches`
/// conditional blocks (compile time grows with their product; see
/// `host::CompileCost`). Its entry points answer `Ok` at once. For tests of
/// compiling off the node loop and of the compile-cost rule.
pub fn costly_module(functions: usize, locals: usize, branches: usize) -> Vec<u8> {
    let mut body = String::new();
    for index in 0..functions {
        body.push_str(&format!("  (func $costly{index} (param i64) (result i64) (local"));
        body.push_str(&" i64".repeat(locals));
        body.push_str(")\n");
        for i in 0..branches {
            let (a, c) = ((i * 7) % locals + 1, i % locals + 1);
            body.push_str(&format!(
                "    (if (i64.ne (local.get 0) (i64.const {i})) (then (local.set {c} (i64.add (local.get {a}) (local.get 0)))))\n"
            ));
        }
        body.push_str("    (local.get 1)");
        for l in 2..=locals {
            body.push_str(&format!("\n    (local.get {l}) (i64.add)"));
        }
        body.push_str(")\n");
    }
    raw_module(
        "",
        &format!(
            r#"  (func (export "polypact_init") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_handle") (param i32 i32) (result i64) (i64.const 4))
  (func (export "polypact_query") (param i32 i32) (result i64) (i64.const 0x10_0000_0002))
{body}"#
        ),
    )
}

/// A hand-written polypact module in WAT, for tests of the host and the
/// ledger against the real ABI: `imports` (host functions, e.g.
/// `(import "polypact" "query" (func $query (param i32 i32 i32 i32) (result i64)))`),
/// then a 2-page memory, a bump allocator (`$alloc`) from 64 KiB, the ABI version
/// export, the 4 zero bytes of `Ok(Response::default())` at address 0 (an
/// entry point answers `Ok` with `(i64.const 4)`), and `body`: the entry
/// points and anything else the module needs.
///
/// # Panics
/// If the text is not valid WAT (a bug in the test that wrote it).
pub fn raw_module(imports: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 0) "\00\00\00\00")
  (func $alloc (export "polypact_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
  (func (export "polypact_abi_version") (result i32) (i32.const 1))
{body})"#
    );
    #[allow(clippy::expect_used)] // a test's WAT; its author wants the panic
    wat::parse_str(text).expect("the test module's WAT parses")
}
