//! The host functions a module imports from `polypact`, and what they cost.
//!
//! This file owns the linker: the functions of [`polypact_sdk::abi`]'s import
//! table, each of which bounds-checks every guest pointer, enforces the size
//! limits of [`GuestLimits`](super::GuestLimits), charges deterministic fuel
//! (see [`cost`]) and routes to the invocation's
//! [`HostEnv`](crate::ledger::HostEnv). A violation ends the invocation with
//! a [`GuestFault`] whose text says what the module did wrong. It does not
//! own the store (`executor.rs`) or the environment's lending (`state.rs`).

use polypact_sdk::abi::{Event, IMPORT_MODULE};
use thiserror::Error;
use wasmtime::{Caller, Engine, Extern, Linker, Memory, Result, Trap};

use super::error::HostError;
use super::state::StoreState;
use super::validate::{EXPORT_MEMORY, Sig, Ty};

/// Fuel the host functions charge, on top of the fuel of the module's own
/// instructions (one per WASM operator).
///
/// These are protocol constants: they decide when a budget runs out, so
/// every node must use the same values. Bytes are counted from the call's
/// arguments and results, never from anything node-local.
pub mod cost {
    /// Every host call.
    pub const CALL: u64 = 1_000;
    /// Per byte read: keys, prefixes, values and results handed back,
    /// query messages, log lines.
    pub const READ_BYTE: u64 = 2;
    /// Per byte written to state (key plus value) or removed (key).
    pub const WRITE_BYTE: u64 = 20;
    /// Per byte of an emitted event (it is kept with the op's result).
    pub const EVENT_BYTE: u64 = 10;
    /// Per byte `take_result` copies into the module's memory.
    pub const COPY_BYTE: u64 = 1;
}

/// The host functions: name and signature, in the order of the ABI table.
pub(super) const IMPORTS: [(&str, Sig); 8] = [
    ("db_get", Sig { params: &[Ty::I32, Ty::I32], results: &[Ty::I64] }),
    ("db_set", Sig { params: &[Ty::I32, Ty::I32, Ty::I32, Ty::I32], results: &[] }),
    ("db_remove", Sig { params: &[Ty::I32, Ty::I32], results: &[] }),
    ("db_scan", Sig { params: &[Ty::I32, Ty::I32, Ty::I32, Ty::I32, Ty::I32], results: &[Ty::I64] }),
    ("query", Sig { params: &[Ty::I32, Ty::I32, Ty::I32, Ty::I32], results: &[Ty::I64] }),
    ("take_result", Sig { params: &[Ty::I32], results: &[] }),
    ("emit_event", Sig { params: &[Ty::I32, Ty::I32], results: &[] }),
    ("debug_log", Sig { params: &[Ty::I32, Ty::I32], results: &[] }),
];

/// How a host function ends an invocation because of what the module did.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(super) enum GuestFault {
    /// A violation of memory or limits: becomes `ExecError::Trap`.
    #[error("{0}")]
    Trap(String),
    /// A violation of the calling convention: becomes `ExecError::Abi`.
    #[error("{0}")]
    Abi(String),
}

fn trap(text: String) -> wasmtime::Error {
    wasmtime::Error::new(GuestFault::Trap(text))
}

fn abi(text: String) -> wasmtime::Error {
    wasmtime::Error::new(GuestFault::Abi(text))
}

/// The linker with every host function defined.
pub(super) fn linker(engine: &Engine) -> Result<Linker<StoreState>, HostError> {
    let mut linker = Linker::new(engine);
    let defined = (|| -> Result<()> {
        linker.func_wrap(IMPORT_MODULE, IMPORTS[0].0, db_get)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[1].0, db_set)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[2].0, db_remove)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[3].0, db_scan)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[4].0, query)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[5].0, take_result)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[6].0, emit_event)?;
        linker.func_wrap(IMPORT_MODULE, IMPORTS[7].0, debug_log)?;
        Ok(())
    })();
    defined.map_err(|e| HostError::Engine { reason: format!("cannot define the host functions: {e:#}") })?;
    Ok(linker)
}

type Ctx<'a> = Caller<'a, StoreState>;

/// Charges `amount` fuel; out of fuel ends the call like running out in WASM.
fn charge(caller: &mut Ctx<'_>, amount: u64) -> Result<()> {
    let fuel = caller.get_fuel()?;
    match fuel.checked_sub(amount) {
        Some(rest) => caller.set_fuel(rest),
        None => {
            caller.set_fuel(0)?;
            Err(Trap::OutOfFuel.into())
        }
    }
}

/// `per_byte * len`, saturating (a saturated cost is simply unpayable).
fn bytes_cost(per_byte: u64, len: usize) -> u64 {
    per_byte.saturating_mul(u64::try_from(len).unwrap_or(u64::MAX))
}

fn memory(caller: &mut Ctx<'_>) -> Result<Memory> {
    if let Some(memory) = caller.data().memory {
        return Ok(memory);
    }
    match caller.get_export(EXPORT_MEMORY) {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(abi("the module exports no `memory`".into())),
    }
}

/// A guest region as host offsets, after checking its length against `max`.
fn region(call: &str, what: &str, ptr: i32, len: i32, max: u32) -> Result<(usize, usize)> {
    // WASM pointers and lengths are unsigned 32-bit values in an `i32`.
    let (ptr, len) = (ptr as u32, len as u32);
    if len > max {
        return Err(trap(format!("{call}: the {what} is {len} bytes, over the limit of {max} bytes")));
    }
    Ok((ptr as usize, len as usize))
}

/// Checks that `start..start + len` lies in the module's memory.
fn in_bounds(caller: &mut Ctx<'_>, call: &str, what: &str, start: usize, len: usize) -> Result<Memory> {
    let memory = memory(caller)?;
    let size = memory.data_size(&*caller);
    if start.checked_add(len).is_none_or(|end| end > size) {
        return Err(trap(format!(
            "{call}: the {what} at {start}..{} is outside the module's memory of {size} bytes",
            start.saturating_add(len)
        )));
    }
    Ok(memory)
}

/// Copies a guest region of at most `max` bytes out of the module's memory.
fn read(caller: &mut Ctx<'_>, call: &str, what: &str, ptr: i32, len: i32, max: u32) -> Result<Vec<u8>> {
    let (start, len) = region(call, what, ptr, len, max)?;
    let memory = in_bounds(caller, call, what, start, len)?;
    Ok(memory.data(&*caller)[start..start + len].to_vec())
}

/// Keeps `bytes` for `take_result` and returns their length.
fn pend(caller: &mut Ctx<'_>, call: &str, bytes: Vec<u8>) -> Result<i64> {
    let len = i64::try_from(bytes.len()).map_err(|_| trap(format!("{call}: the result is too large")))?;
    caller.data_mut().pending = Some(bytes);
    Ok(len)
}

/// `(key_ptr, key_len) -> i64`: `-1` if absent, else the value's length.
fn db_get(mut caller: Ctx<'_>, key_ptr: i32, key_len: i32) -> Result<i64> {
    let max_key = caller.data().limits.max_key_bytes;
    let key = read(&mut caller, "db_get", "key", key_ptr, key_len, max_key)?;
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::READ_BYTE, key.len())))?;
    caller.data_mut().pending = None;
    match caller.data_mut().env().get(&key) {
        None => Ok(-1),
        Some(value) => {
            charge(&mut caller, bytes_cost(cost::READ_BYTE, value.len()))?;
            pend(&mut caller, "db_get", value)
        }
    }
}

/// `(key_ptr, key_len, val_ptr, val_len)`: writes a key.
fn db_set(mut caller: Ctx<'_>, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32) -> Result<()> {
    let limits = caller.data().limits;
    let key = read(&mut caller, "db_set", "key", key_ptr, key_len, limits.max_key_bytes)?;
    let value = read(&mut caller, "db_set", "value", val_ptr, val_len, limits.max_value_bytes)?;
    let written = key.len().saturating_add(value.len());
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::WRITE_BYTE, written)))?;
    caller.data_mut().env().set(&key, &value).map_err(|why| abi(format!("db_set refused by the host: {why}")))
}

/// `(key_ptr, key_len)`: deletes a key.
fn db_remove(mut caller: Ctx<'_>, key_ptr: i32, key_len: i32) -> Result<()> {
    let max_key = caller.data().limits.max_key_bytes;
    let key = read(&mut caller, "db_remove", "key", key_ptr, key_len, max_key)?;
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::WRITE_BYTE, key.len())))?;
    caller.data_mut().env().remove(&key).map_err(|why| abi(format!("db_remove refused by the host: {why}")))
}

/// `(prefix_ptr, prefix_len, start_ptr, start_len, limit) -> i64`: the
/// length of a postcard `ScanPage` of at most `min(limit, max_scan_entries)`
/// entries.
fn db_scan(
    mut caller: Ctx<'_>,
    prefix_ptr: i32,
    prefix_len: i32,
    start_ptr: i32,
    start_len: i32,
    limit: i32,
) -> Result<i64> {
    let limits = caller.data().limits;
    let prefix = read(&mut caller, "db_scan", "prefix", prefix_ptr, prefix_len, limits.max_key_bytes)?;
    let start = read(&mut caller, "db_scan", "start key", start_ptr, start_len, limits.max_key_bytes)?;
    let read_bytes = prefix.len().saturating_add(start.len());
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::READ_BYTE, read_bytes)))?;
    let limit = (limit as u32).min(limits.max_scan_entries);
    caller.data_mut().pending = None;
    let page = if limit == 0 { Vec::new() } else { caller.data_mut().env().scan(&prefix, &start, limit) };
    let encoded = postcard::to_allocvec(&page)
        .map_err(|e| wasmtime::Error::msg(format!("cannot encode a scan page: {e}")))?;
    charge(&mut caller, bytes_cost(cost::READ_BYTE, encoded.len()))?;
    pend(&mut caller, "db_scan", encoded)
}

/// `(module_ptr, module_len, msg_ptr, msg_len) -> i64`: the length of a
/// postcard `QueryResult`. The queried module runs on this call's fuel.
fn query(mut caller: Ctx<'_>, module_ptr: i32, module_len: i32, msg_ptr: i32, msg_len: i32) -> Result<i64> {
    let max = caller.data().limits.max_query_bytes;
    let module = read(&mut caller, "query", "module name", module_ptr, module_len, max)?;
    let msg = read(&mut caller, "query", "message", msg_ptr, msg_len, max)?;
    let total = module.len().saturating_add(msg.len());
    if total > max as usize {
        return Err(trap(format!(
            "query: the module name and message are {total} bytes, over the limit of {max} bytes"
        )));
    }
    let module = String::from_utf8(module).map_err(|_| abi("query: the module name is not UTF-8".into()))?;
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::READ_BYTE, total)))?;
    caller.data_mut().pending = None;
    let available = caller.get_fuel()?;
    let (result, used) = caller.data_mut().env().query(&module, &msg, available);
    if used > available {
        caller.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    caller.set_fuel(available - used)?;
    let encoded = postcard::to_allocvec(&result)
        .map_err(|e| wasmtime::Error::msg(format!("cannot encode a query result: {e}")))?;
    charge(&mut caller, bytes_cost(cost::READ_BYTE, encoded.len()))?;
    pend(&mut caller, "query", encoded)
}

/// `(dst_ptr)`: copies the pending result into the module's memory.
fn take_result(mut caller: Ctx<'_>, dst_ptr: i32) -> Result<()> {
    let Some(bytes) = caller.data_mut().pending.take() else {
        return Err(abi(
            "take_result: there is no result to take (call it once, after a db_get that found a value, a db_scan \
             or a query)"
                .into(),
        ));
    };
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::COPY_BYTE, bytes.len())))?;
    let start = dst_ptr as u32 as usize;
    let memory = in_bounds(&mut caller, "take_result", "destination", start, bytes.len())?;
    memory.data_mut(&mut caller)[start..start + bytes.len()].copy_from_slice(&bytes);
    Ok(())
}

/// `(ptr, len)`: a postcard `Event`.
fn emit_event(mut caller: Ctx<'_>, ptr: i32, len: i32) -> Result<()> {
    let max = caller.data().limits.max_event_bytes;
    let bytes = read(&mut caller, "emit_event", "event", ptr, len, max)?;
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::EVENT_BYTE, bytes.len())))?;
    let (event, rest) = postcard::take_from_bytes::<Event>(&bytes)
        .map_err(|e| abi(format!("emit_event: the bytes are not a postcard Event: {e}")))?;
    if !rest.is_empty() {
        return Err(abi(format!("emit_event: {} bytes follow the event", rest.len())));
    }
    caller.data_mut().env().emit(event);
    Ok(())
}

/// `(ptr, len)`: a UTF-8 debug line; never affects state. The whole line is
/// bounds-checked and paid for; only the first `max_log_bytes` are kept.
fn debug_log(mut caller: Ctx<'_>, ptr: i32, len: i32) -> Result<()> {
    let max = caller.data().limits.max_log_bytes;
    let (start, len) = region("debug_log", "line", ptr, len, u32::MAX)?;
    let memory = in_bounds(&mut caller, "debug_log", "line", start, len)?;
    charge(&mut caller, cost::CALL.saturating_add(bytes_cost(cost::READ_BYTE, len)))?;
    let kept = len.min(max as usize);
    let mut line = String::from_utf8_lossy(&memory.data(&caller)[start..start + kept]).into_owned();
    if kept < len {
        line.push_str(" [cut]");
    }
    caller.data_mut().env().log(&line);
    Ok(())
}
