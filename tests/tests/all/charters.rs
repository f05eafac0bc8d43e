//! Every example charter in `examples/charters/*.toml` starts a partnership.
//!
//! This file owns the check that the shipped charter templates stay valid as
//! the modules change: each template's `${name}` placeholders are filled with
//! distinct member ids, the TOML is parsed with its `wasm` paths resolved
//! (relative to the charter's folder) to the built modules, and a genesis
//! ledger is built from it, which runs every module's `init` through the
//! real WASM host. New charter files are picked up without editing this test.
//! It does not check what a charter's modules do after genesis (their own
//! scenario tests do), apart from a short tour of `cooperative.toml`.
//!
//! Build the modules first: `./scripts/build-modules.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polypact::host::{HostConfig, WasmExecutor, declared_references};
use polypact::ledger::{Executor, Ledger, LedgerConfig};
use polypact::op::{
    Charter, CodeHash, CodeSource, MemberKey, Payload, UnsignedOp, fill_placeholders, placeholders,
    reference_problems,
};
use polypact::testing::{T0, WasmHarness, module_wasm_path};
use serde_json::json;

fn charters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join("charters")
}

/// Every `*.toml` in `examples/charters`, sorted.
fn charter_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(charters_dir())
        .expect("examples/charters exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A charter template filled with member ids of keys with seeds 1, 2, 3…
/// (in placeholder name order), parsed with its code added to `executor`.
/// Returns the charter and the key seeds, placeholder name → seed.
fn load(path: &Path, executor: &WasmExecutor) -> (Charter, BTreeMap<String, u8>) {
    let text = std::fs::read_to_string(path).expect("readable charter");
    let seeds: BTreeMap<String, u8> = placeholders(&text).into_iter().zip(1u8..).collect();
    // A placeholder named `program` stands for a partnership (`pp1…`), the
    // others for members.
    let values: BTreeMap<String, String> = seeds
        .iter()
        .map(|(name, seed)| {
            let value = if name == "program" {
                polypact::op::PartnershipId([*seed; 32]).to_member_text()
            } else {
                MemberKey::from_seed(*seed).member_id().to_string()
            };
            (name.clone(), value)
        })
        .collect();
    let filled = fill_placeholders(&text, &values).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let base = path.parent().expect("a charter lives in a folder");
    let mut references = BTreeMap::new();
    let charter =
        Charter::from_toml(&filled, &path.display().to_string(), base, |module, source| match source {
            CodeSource::Hash(hash) if executor.has_code(&hash) => Ok(hash),
            CodeSource::Hash(hash) => Err(format!("no code {hash} on this node for module `{module}`")),
            CodeSource::File(file) => {
                let wasm = read_wasm(&file)?;
                let code = executor.add_code(&wasm).map_err(|e| e.to_string())?;
                assert_eq!(code, CodeHash::of(&wasm), "a module's code hash is BLAKE3 of its wasm");
                references.insert(module.to_owned(), declared_references(&wasm).map_err(|e| e.to_string())?);
                Ok(code)
            }
        })
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Every reference between its modules names one of them.
    let problems = reference_problems(&filled, |module| references.get(module).cloned());
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    (charter, seeds)
}

/// Reads a charter's `wasm` file. A path into `target/wasm32-unknown-unknown/release`
/// that does not exist (the build went to `CARGO_TARGET_DIR`) falls back to
/// where the build put that module.
fn read_wasm(file: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).or_else(|e| {
        let fallback = file
            .file_stem()
            .filter(|_| file.parent().is_some_and(|d| d.ends_with("wasm32-unknown-unknown/release")))
            .map(|stem| module_wasm_path(&stem.to_string_lossy()));
        match fallback {
            Some(path) => std::fs::read(&path).map_err(|e2| {
                format!(
                    "cannot read {} ({e}) nor {} ({e2}); build the modules with ./scripts/build-modules.sh",
                    file.display(),
                    path.display()
                )
            }),
            None => Err(format!("cannot read {} ({e})", file.display())),
        }
    })
}

/// A ledger whose genesis carries `charter`, signed by `author`; runs every
/// module's `init`.
fn genesis(charter: Charter, author: &MemberKey, executor: WasmExecutor) -> Ledger<WasmExecutor> {
    let op = UnsignedOp {
        partnership: Default::default(),
        author: author.member_id(),
        seq: 1,
        parents: vec![],
        time_ms: T0,
        payload: Payload::Genesis(charter),
    }
    .sign(author);
    Ledger::new(op, executor, LedgerConfig::default()).unwrap_or_else(|e| panic!("genesis failed: {e}"))
}

#[test]
fn every_example_charter_starts_a_partnership() {
    let files = charter_files();
    assert!(
        files.iter().any(|f| f.ends_with("cooperative.toml")),
        "examples/charters/cooperative.toml is missing"
    );
    for path in files {
        let executor = WasmExecutor::new(HostConfig::default()).expect("WASM host");
        let (charter, seeds) = load(&path, &executor);
        assert!(!charter.modules.is_empty(), "{}: a charter without modules", path.display());
        let author = MemberKey::from_seed(seeds.values().next().copied().unwrap_or(1));
        let modules: Vec<String> = charter.modules.iter().map(|m| m.name.clone()).collect();
        let ledger = genesis(charter, &author, executor);
        let installed: Vec<String> = ledger.modules().into_iter().map(|(name, _)| name).collect();
        for name in &modules {
            assert!(installed.contains(name), "{}: module `{name}` not installed", path.display());
        }
    }
}

#[test]
fn the_cooperative_needs_a_second_to_open_a_proposal() {
    let executor = WasmExecutor::new(HostConfig::default()).expect("WASM host");
    let (charter, seeds) = load(&charters_dir().join("cooperative.toml"), &executor);
    let keys: Vec<MemberKey> =
        ["alice", "bob", "carol"].iter().map(|n| MemberKey::from_seed(seeds[*n])).collect();
    let ids: Vec<String> = keys.iter().map(|k| k.member_id().to_string()).collect();
    let ledger = genesis(charter, &keys[0], executor);
    // Drive it with the harness's helpers: alice, bob, carol.
    let mut h = WasmHarness { keys, ledger, now: T0 };
    let members = h.query("membership", &json!({"members": {}})).unwrap();
    let listed: Vec<&str> =
        members["members"].as_array().unwrap().iter().map(|m| m["member"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(listed, sorted.iter().map(String::as_str).collect::<Vec<_>>());
    let propose =
        h.call(0, "voting", &json!({"propose": {"title": "Paint the shop", "period_ms": 86_400_000}}));
    assert_eq!(h.outcome_error(&propose), None);
    let p = h.query("voting", &json!({"proposal": {"id": 1}})).unwrap();
    assert_eq!(p["status"], json!("draft"));
    let own = h.call(0, "voting", &json!({"sponsor": {"proposal": 1}}));
    assert!(h.outcome_error(&own).unwrap().contains("another member must sponsor it"));
    let second = h.call(1, "voting", &json!({"sponsor": {"proposal": 1}}));
    assert_eq!(h.outcome_error(&second), None);
    let p = h.query("voting", &json!({"proposal": {"id": 1}})).unwrap();
    assert_eq!((p["status"].clone(), p["sponsor"].clone()), (json!("open"), json!(ids[1])));
    assert_eq!(p["total_power"], json!(300));
}
