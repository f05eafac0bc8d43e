//! What a store carries during one invocation: the lent [`HostEnv`], the
//! pending host-call result, and the store's resource limits.
//!
//! This file owns [`EnvSlot`], the one place where the `&mut dyn HostEnv`
//! given to `invoke` is reached from host functions, and the proof that this
//! is sound. It does not own the host functions (`imports.rs`) or the store's
//! life (`executor.rs`).

use std::marker::PhantomData;
use std::ptr::NonNull;

use wasmtime::{Memory, StoreLimits, StoreLimitsBuilder};

use super::config::GuestLimits;
use crate::ledger::HostEnv;

/// The data of every store: one per invocation.
pub(super) struct StoreState {
    env: EnvSlot,
    /// Limits the host functions enforce.
    pub(super) limits: GuestLimits,
    /// The result of the last `db_get`, `db_scan` or `query`, until
    /// `take_result` copies it out.
    pub(super) pending: Option<Vec<u8>>,
    /// Memory and table limits, enforced by wasmtime through `Store::limiter`.
    pub(super) store_limits: StoreLimits,
    /// The instance's memory, once the executor has looked it up (host
    /// functions called before that, from a start function, look it up by name).
    pub(super) memory: Option<Memory>,
}

impl StoreState {
    /// The state of a new store for an invocation against `env`.
    pub(super) fn new(env: EnvSlot, limits: GuestLimits) -> Self {
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.max_memory_bytes).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(limits.max_table_elements).unwrap_or(usize::MAX))
            .instances(1)
            .memories(1)
            .tables(1)
            // `memory.grow` past the limit returns -1, as the spec allows;
            // the module decides what to do (usually: trap on OOM).
            .trap_on_grow_failure(false)
            .build();
        StoreState { env, limits, pending: None, store_limits, memory: None }
    }

    /// The environment of the running invocation.
    pub(super) fn env(&mut self) -> &mut dyn HostEnv {
        self.env.get()
    }
}

/// A `&mut dyn HostEnv` lent to a store for one invocation.
///
/// A [`wasmtime::Store`]'s data must be `'static`, but the environment is
/// borrowed only for the duration of `Executor::invoke`. The slot holds a
/// pointer to the caller's `&mut dyn HostEnv` with its lifetime erased; the
/// contract of [`EnvSlot::lend`] puts the burden of keeping the borrow alive
/// on the one caller, `WasmExecutor::invoke`, which creates the store after
/// lending and drops it before returning.
///
/// The slot is neither `Send` nor `Sync` (the raw pointer and the marker),
/// so the store holding it cannot leave the invoking thread.
pub(super) struct EnvSlot {
    /// Points at a `&mut dyn HostEnv` on `invoke`'s stack frame.
    target: NonNull<()>,
    _not_send: PhantomData<*mut ()>,
}

impl EnvSlot {
    /// Lends `*env` to a store.
    ///
    /// # Safety
    ///
    /// The caller must ensure that the slot (and the store that holds it)
    /// is dropped before the borrow `env` ends, and that `env` is not used
    /// in any other way while the slot exists.
    #[allow(unsafe_code)]
    pub(super) unsafe fn lend(env: &mut &mut dyn HostEnv) -> Self {
        EnvSlot { target: NonNull::from(env).cast(), _not_send: PhantomData }
    }

    /// The lent environment, for as long as `self` is borrowed.
    fn get(&mut self) -> &mut dyn HostEnv {
        let target = self.target.cast::<&mut dyn HostEnv>();
        #[allow(unsafe_code)]
        // SAFETY: `target` was made by `lend` from a `&mut &mut dyn HostEnv`,
        // so it is non-null, aligned and points at a value of exactly this
        // type. By `lend`'s contract that value and the environment it
        // borrows outlive the slot, and nothing else uses them while the
        // slot exists. The returned reference borrows `self` mutably, so no
        // two references from this slot exist at once; a store runs one
        // host function at a time on one thread (the slot is not `Send`),
        // and a nested invocation started from inside a host function gets
        // its own environment and its own slot.
        unsafe {
            &mut **target.as_ptr()
        }
    }
}
