//! Module code (WASM bytes), stored and fetched by its BLAKE3 code hash.
//!
//! The hash is checked again on every read, so a damaged file gives an error,
//! never the wrong code. Compiling and caching compiled modules is the
//! `host`'s business.

use redb::ReadableTable;

use super::db::Store;
use super::error::StoreError;
use super::tables::CODE;
use crate::op::CodeHash;

impl Store {
    /// Stores `wasm` durably under its code hash and returns the hash.
    /// Storing the same code again changes nothing.
    pub fn put_code(&self, wasm: &[u8]) -> Result<CodeHash, StoreError> {
        let hash = CodeHash::of(wasm);
        self.guarded("storing module code", || {
            let txn = self.write_txn()?;
            {
                let mut code = txn.open_table(CODE).map_err(self.ctx("storing module code"))?;
                if code.get(&hash.0).map_err(self.ctx("storing module code"))?.is_some() {
                    return Ok(());
                }
                code.insert(&hash.0, wasm).map_err(self.ctx("storing module code"))?;
            }
            self.commit(txn, "committing module code")
        })?;
        Ok(hash)
    }

    /// The code stored under `hash`, checked against it.
    pub fn get_code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, StoreError> {
        self.guarded("reading module code", || {
            let txn = self.read_txn()?;
            let code = txn.open_table(CODE).map_err(self.ctx("reading module code"))?;
            let Some(wasm) = code.get(&hash.0).map_err(self.ctx("reading module code"))? else {
                return Ok(None);
            };
            let wasm = wasm.value();
            if CodeHash::of(wasm) != *hash {
                return Err(StoreError::CodeMismatch { path: self.label().to_path_buf(), hash: *hash });
            }
            Ok(Some(wasm.to_vec()))
        })
    }

    /// The hashes of all stored code, ascending.
    pub fn code_hashes(&self) -> Result<Vec<CodeHash>, StoreError> {
        self.guarded("listing module code", || {
            let txn = self.read_txn()?;
            let code = txn.open_table(CODE).map_err(self.ctx("listing module code"))?;
            let mut out = Vec::new();
            for entry in code.iter().map_err(self.ctx("listing module code"))? {
                out.push(CodeHash(*entry.map_err(self.ctx("listing module code"))?.0.value()));
            }
            Ok(out)
        })
    }
}
