//! The on-disk cache of compiled modules.
//!
//! This file owns the cache's file format, its keys, and the one `unsafe`
//! call that turns cached bytes back into a [`Module`]. It does not decide
//! when to compile (the executor does) and does not validate modules
//! (`validate.rs` checks every module, cached or not).
//!
//! # Format and trust
//!
//! One file per module and engine: `<code hash>-<engine hash prefix>.pcwasm`,
//! holding a header — magic, the code hash, the engine hash, the BLAKE3 of
//! the artifact — then the artifact from [`Module::serialize`]. The engine
//! hash is BLAKE3 over [`Engine::precompile_compatibility_hash`], so an
//! artifact of another wasmtime version or engine configuration is never
//! loaded. Files are written to a temporary name, synced, then renamed, so a
//! reader sees a whole file or none. A file whose header or checksum does not
//! match is ignored (and replaced on the next compile).
//!
//! The cache trusts its directory: whoever can write there can write a file
//! with a valid header. Give it the same protection as the node's binary.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{Engine, Module};

use super::error::HostError;
use crate::op::CodeHash;

/// The first bytes of every cache file (format version 1).
const MAGIC: [u8; 8] = *b"PPCWASM1";
/// Magic, code hash, engine hash, artifact hash.
const HEADER_LEN: usize = 8 + 32 + 32 + 32;

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of compiled modules for one engine.
#[derive(Debug)]
pub(super) struct ArtifactCache {
    dir: PathBuf,
    engine_hash: [u8; 32],
}

/// Why a cache file was not used.
#[derive(Debug)]
pub(super) enum Miss {
    /// No file: the normal cold case.
    Absent,
    /// A file exists but cannot be used; it will be replaced.
    Unusable(String),
}

impl ArtifactCache {
    /// Opens (creating if needed) the cache in `dir` for `engine`.
    pub(super) fn open(dir: &Path, engine: &Engine) -> Result<Self, HostError> {
        fs::create_dir_all(dir).map_err(|source| HostError::Cache { path: dir.to_owned(), source })?;
        Ok(ArtifactCache { dir: dir.to_owned(), engine_hash: engine_hash(engine) })
    }

    /// The file for `code`.
    pub(super) fn path(&self, code: &CodeHash) -> PathBuf {
        let engine = hex::encode(&self.engine_hash[..8]);
        self.dir.join(format!("{}-{engine}.pcwasm", code.to_hex()))
    }

    /// Loads the compiled module for `code`, if this cache wrote one for
    /// this engine.
    pub(super) fn load(&self, engine: &Engine, code: &CodeHash) -> Result<Module, Miss> {
        let path = self.path(code);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Unusable(format!("cannot read {}: {e}", path.display()))),
        };
        let artifact = self.check(code, &bytes).map_err(Miss::Unusable)?;
        #[allow(unsafe_code)]
        // SAFETY: `Module::deserialize` requires bytes produced by
        // `Module::serialize` of a compatible engine, untampered. `check`
        // proved that this file carries our magic, the code hash asked for,
        // the hash of this engine's compatibility key (same wasmtime version
        // and compilation settings), and a BLAKE3 of the artifact that
        // matches its bytes: the artifact is exactly what `store` wrote for
        // this code and engine, not truncated or corrupted. Files appear in
        // the directory only through `store`'s atomic rename, and the
        // directory is trusted like the node's binary (module doc).
        let module = unsafe { Module::deserialize(engine, artifact) };
        module.map_err(|e| Miss::Unusable(format!("wasmtime refused {}: {e:#}", path.display())))
    }

    /// Checks a file's header and returns its artifact.
    fn check<'a>(&self, code: &CodeHash, bytes: &'a [u8]) -> Result<&'a [u8], String> {
        let Some((header, artifact)) = bytes.split_at_checked(HEADER_LEN) else {
            return Err(format!("truncated cache file ({} bytes)", bytes.len()));
        };
        if header[..8] != MAGIC {
            return Err("not a polypact cache file (bad magic)".into());
        }
        if header[8..40] != code.0 {
            return Err("cache file is for another code hash".into());
        }
        if header[40..72] != self.engine_hash {
            return Err("cache file is for another engine configuration".into());
        }
        if header[72..104] != *blake3::hash(artifact).as_bytes() {
            return Err("cache file checksum does not match (corrupted or partly written)".into());
        }
        Ok(artifact)
    }

    /// Writes the compiled module for `code` atomically.
    pub(super) fn store(&self, code: &CodeHash, module: &Module) -> Result<(), String> {
        let artifact = module.serialize().map_err(|e| format!("cannot serialise module: {e:#}"))?;
        let path = self.path(code);
        let temp = self.dir.join(format!(
            ".{}.tmp-{}-{}",
            code.to_hex(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_synced(
            &temp,
            &[&MAGIC, &code.0, &self.engine_hash, blake3::hash(&artifact).as_bytes(), &artifact],
        )
        .and_then(|()| fs::rename(&temp, &path));
        written.map_err(|e| {
            // Best effort: the temporary file is garbage either way.
            let _ = fs::remove_file(&temp);
            format!("cannot write {}: {e}", path.display())
        })
    }
}

/// Writes `parts` to a new file at `path` and syncs it.
fn write_synced(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()
}

/// BLAKE3 over the engine's precompile compatibility key.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    let mut hasher = Blake3Hasher(blake3::Hasher::new());
    hasher.0.update(b"polypact engine key v1\0");
    engine.precompile_compatibility_hash().hash(&mut hasher);
    *hasher.0.finalize().as_bytes()
}

/// A [`Hasher`] that feeds BLAKE3, so the key is stable (unlike `DefaultHasher`).
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
