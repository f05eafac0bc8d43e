//! The host calls, as safe Rust functions, on every target.
//!
//! This file owns the one place where the SDK talks to the host: on `wasm32`
//! through the `polypact` imports listed in [`crate::abi`], elsewhere through
//! the [`NativeHost`](crate::native::NativeHost) installed by
//! [`with_host`](crate::native::with_host). Everything above it (storage,
//! queries, events) is target independent. It does not own the exports
//! (see `export.rs`).
//!
//! A write the host refuses traps on wasm (the host traps) and panics
//! natively, so a module sees the same outcome on both.

use alloc::string::String;
use alloc::vec::Vec;

use crate::abi::{Event, ScanPage};
use crate::error::Error;

/// Reads a key of the module's namespace.
pub(crate) fn db_get(key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    imp::db_get(key)
}

/// Writes a key (traps on wasm, panics natively, if the host refuses).
pub(crate) fn db_set(key: &[u8], value: &[u8]) {
    imp::db_set(key, value)
}

/// Deletes a key (traps on wasm, panics natively, if the host refuses).
pub(crate) fn db_remove(key: &[u8]) {
    imp::db_remove(key)
}

/// Up to `limit` entries whose keys start with `prefix` and are `>= start`,
/// ascending. Checks that every key has the prefix and that keys ascend.
pub(crate) fn db_scan(prefix: &[u8], start: &[u8], limit: u32) -> Result<ScanPage, Error> {
    let page = imp::db_scan(prefix, start, limit)?;
    if page.len() > limit as usize {
        return Err(Error::Host(alloc::format!("db_scan returned {} entries, limit {limit}", page.len())));
    }
    let mut previous: Option<&[u8]> = None;
    for (key, _) in &page {
        if !key.starts_with(prefix) || key.as_slice() < start || previous.is_some_and(|p| p >= key) {
            return Err(Error::Host("db_scan returned keys out of the requested range or order".into()));
        }
        previous = Some(key);
    }
    Ok(page)
}

/// Queries another module: `Ok(json)` or the module's error text.
pub(crate) fn query(module: &str, msg: &[u8]) -> Result<Result<Vec<u8>, String>, Error> {
    imp::query(module, msg)
}

/// Emits an event now (it precedes the response's events).
pub(crate) fn emit_event(event: &Event) {
    imp::emit_event(event)
}

/// A debug line.
pub(crate) fn debug_log(line: &str) {
    imp::debug_log(line)
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::abi::{Event, ScanPage};
    use crate::error::Error;
    use crate::native::with_current;

    pub(super) fn db_get(key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(with_current(|h| h.get(key)))
    }

    pub(super) fn db_set(key: &[u8], value: &[u8]) {
        if let Err(reason) = with_current(|h| h.set(key, value)) {
            panic!("the host refused a write: {reason}");
        }
    }

    pub(super) fn db_remove(key: &[u8]) {
        if let Err(reason) = with_current(|h| h.remove(key)) {
            panic!("the host refused a delete: {reason}");
        }
    }

    pub(super) fn db_scan(prefix: &[u8], start: &[u8], limit: u32) -> Result<ScanPage, Error> {
        Ok(with_current(|h| h.scan(prefix, start, limit)))
    }

    pub(super) fn query(module: &str, msg: &[u8]) -> Result<Result<Vec<u8>, String>, Error> {
        Ok(with_current(|h| h.query(module, msg)))
    }

    pub(super) fn emit_event(event: &Event) {
        with_current(|h| h.emit(event.clone()))
    }

    pub(super) fn debug_log(line: &str) {
        with_current(|h| h.log(line))
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::abi::{Event, QueryResult, ScanPage};
    use crate::error::Error;

    #[allow(unsafe_code)]
    mod raw {
        // The imports of `crate::abi`. On wasm32 a pointer and a `usize` are
        // both `i32`, and `i64` is `i64`, so these match the ABI signatures.
        #[link(wasm_import_module = "polypact")]
        unsafe extern "C" {
            pub(super) fn db_get(key_ptr: *const u8, key_len: usize) -> i64;
            pub(super) fn db_set(key_ptr: *const u8, key_len: usize, val_ptr: *const u8, val_len: usize);
            pub(super) fn db_remove(key_ptr: *const u8, key_len: usize);
            pub(super) fn db_scan(
                prefix_ptr: *const u8,
                prefix_len: usize,
                start_ptr: *const u8,
                start_len: usize,
                limit: u32,
            ) -> i64;
            pub(super) fn query(
                module_ptr: *const u8,
                module_len: usize,
                msg_ptr: *const u8,
                msg_len: usize,
            ) -> i64;
            pub(super) fn take_result(dst_ptr: *mut u8);
            pub(super) fn emit_event(ptr: *const u8, len: usize);
            pub(super) fn debug_log(ptr: *const u8, len: usize);
        }
    }

    /// Fetches the host's last result, `len` bytes, into a fresh buffer.
    fn take_result(len: i64) -> Result<Vec<u8>, Error> {
        let len = usize::try_from(len)
            .map_err(|_| Error::Host(alloc::format!("a host call returned the length {len}")))?;
        let mut buf = vec![0u8; len];
        #[allow(unsafe_code)]
        // SAFETY: `buf` is an initialised, writable buffer of exactly `len`
        // bytes, the length the host just announced for its last result;
        // `take_result` writes exactly that many bytes at the pointer.
        unsafe {
            raw::take_result(buf.as_mut_ptr())
        };
        Ok(buf)
    }

    pub(super) fn db_get(key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads `key.len()` bytes at `key.as_ptr()`,
        // which `key` borrows for the duration of the call.
        let len = unsafe { raw::db_get(key.as_ptr(), key.len()) };
        if len < 0 { Ok(None) } else { take_result(len).map(Some) }
    }

    pub(super) fn db_set(key: &[u8], value: &[u8]) {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the two borrowed slices.
        unsafe {
            raw::db_set(key.as_ptr(), key.len(), value.as_ptr(), value.len())
        }
    }

    pub(super) fn db_remove(key: &[u8]) {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the borrowed slice.
        unsafe {
            raw::db_remove(key.as_ptr(), key.len())
        }
    }

    pub(super) fn db_scan(prefix: &[u8], start: &[u8], limit: u32) -> Result<ScanPage, Error> {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the two borrowed slices.
        let len = unsafe { raw::db_scan(prefix.as_ptr(), prefix.len(), start.as_ptr(), start.len(), limit) };
        let bytes = take_result(len)?;
        postcard::from_bytes(&bytes).map_err(|e| Error::Host(alloc::format!("malformed db_scan page: {e}")))
    }

    pub(super) fn query(module: &str, msg: &[u8]) -> Result<Result<Vec<u8>, String>, Error> {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the two borrowed slices.
        let len = unsafe { raw::query(module.as_ptr(), module.len(), msg.as_ptr(), msg.len()) };
        let bytes = take_result(len)?;
        postcard::from_bytes::<QueryResult>(&bytes)
            .map_err(|e| Error::Host(alloc::format!("malformed query result: {e}")))
    }

    pub(super) fn emit_event(event: &Event) {
        // Encoding strings into a Vec cannot fail; should it ever, trapping
        // is deterministic, where dropping the event would lose output.
        let bytes = match postcard::to_allocvec(event) {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot encode event: {e}"),
        };
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the borrowed buffer.
        unsafe {
            raw::emit_event(bytes.as_ptr(), bytes.len())
        }
    }

    pub(super) fn debug_log(line: &str) {
        #[allow(unsafe_code)]
        // SAFETY: the host only reads the borrowed string.
        unsafe {
            raw::debug_log(line.as_ptr(), line.len())
        }
    }
}
