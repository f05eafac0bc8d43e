//! The on-disk cache: a cold start loads instead of compiling, and a file
//! this cache did not write for this code and engine is never loaded.

use std::fs;
use std::path::{Path, PathBuf};

use polypact_sdk::abi::Entry;

use super::*;
use crate::host::{HostError, HostStats};

fn cached(dir: &Path) -> WasmExecutor {
    WasmExecutor::new(HostConfig { cache_dir: Some(dir.to_owned()), ..small_config() }).expect("starts")
}

/// The cache files in `dir` (no temporary files may be left).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        fs::read_dir(dir).expect("lists").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.ends_with(".pcwasm") && !name.starts_with('.'), "stray file {name}");
    }
    files
}

fn fuel_of(executor: &WasmExecutor, code: &CodeHash) -> u64 {
    run(executor, code, Entry::Handle, &mut TestEnv::default(), FUEL).expect("runs").fuel_used
}

#[test]
fn a_second_executor_loads_from_the_cache_without_compiling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = wasm(COUNTER_WAT);

    let first = cached(dir.path());
    let code = first.add_code(&bytes).expect("valid");
    assert_eq!(first.stats(), HostStats { compiled: 1, loaded_from_cache: 0 });
    let fuel = fuel_of(&first, &code);
    let written = files(dir.path());
    assert_eq!(written.len(), 1);
    assert!(written[0].to_string_lossy().contains(&code.to_hex()));
    drop(first);

    let second = cached(dir.path());
    assert_eq!(second.add_code(&bytes).expect("valid"), code);
    assert_eq!(second.stats(), HostStats { compiled: 0, loaded_from_cache: 1 });
    assert_eq!(fuel_of(&second, &code), fuel);
    still_works(&second);
}

#[test]
fn a_corrupted_truncated_or_foreign_file_is_recompiled_and_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = wasm(COUNTER_WAT);
    let code = cached(dir.path()).add_code(&bytes).expect("valid");
    let path = files(dir.path()).remove(0);
    let good = fs::read(&path).expect("reads");

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let other = {
        let other_dir = tempfile::tempdir().expect("temp dir");
        cached(other_dir.path()).add_code(&wasm(EMPTY_WAT)).expect("valid");
        fs::read(files(other_dir.path()).remove(0)).expect("reads")
    };
    for bad in [flipped, good[..good.len() / 2].to_vec(), b"PPCWASM1".to_vec(), other, Vec::new()] {
        fs::write(&path, &bad).expect("writes");
        let executor = cached(dir.path());
        assert_eq!(executor.add_code(&bytes).expect("valid"), code);
        assert_eq!(executor.stats(), HostStats { compiled: 1, loaded_from_cache: 0 });
        still_works(&executor);
        assert_eq!(fs::read(&path).expect("reads"), good, "the bad file was not replaced");
    }
    let executor = cached(dir.path());
    executor.add_code(&bytes).expect("valid");
    assert_eq!(executor.stats(), HostStats { compiled: 0, loaded_from_cache: 1 });
}

#[test]
fn an_invalid_module_is_not_cached() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = cached(dir.path());
    let no_handle = EMPTY_WAT.replace("(export \"polypact_handle\")", "");
    assert!(matches!(executor.add_code(&wasm(&no_handle)), Err(HostError::InvalidModule { .. })));
    assert!(files(dir.path()).is_empty());
}

#[test]
fn a_cache_dir_that_cannot_be_created_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").expect("writes");
    let err = WasmExecutor::new(HostConfig { cache_dir: Some(file.join("cache")), ..small_config() })
        .expect_err("not a directory");
    assert!(matches!(&err, HostError::Cache { path, .. } if path == &file.join("cache")), "{err:?}");
    assert!(err.to_string().contains("writable"), "{err}");
}
