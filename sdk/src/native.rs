//! Running SDK modules natively, without wasm (not on `wasm32`).
//!
//! This file owns the native side of the host calls: the [`NativeHost`]
//! trait and [`with_host`], which installs a host for the duration of one
//! dispatch. Inside it, every storage read and write, query, event and log
//! the module makes goes to that host, exactly as the same calls go to the
//! `polypact` imports on wasm. It does not own a host implementation: the
//! runtime provides one (to run modules natively behind its executor), and
//! [`crate::testing::MockHost`] is one for unit tests.
//!
//! Native support needs `std` (for a thread-local), which every non-wasm
//! target has; it is compiled on every target but `wasm32`, whatever the
//! crate features.
//!
//! A host call made outside [`with_host`] panics with a message saying so. A
//! write the host refuses (a write in a query) panics too, which matches wasm,
//! where the host traps: a native runner should catch the panic
//! (`std::panic::catch_unwind`) and treat it as a trap.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::abi::Event;

/// The host functions of the ABI, for modules run natively.
///
/// The methods mirror the `polypact` imports (see [`crate::abi`]); keys are
/// in the module's own namespace.
pub trait NativeHost {
    /// Reads a key.
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>>;
    /// Writes a key; an error (e.g. a write in a query) makes the module panic.
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
    /// Deletes a key; an error (e.g. in a query) makes the module panic.
    fn remove(&mut self, key: &[u8]) -> Result<(), String>;
    /// Keys starting with `prefix` and `>= start` (a whole key), ascending,
    /// at most `limit`, each with its value; keys are returned whole.
    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Queries another module (or [`crate::abi::SYSTEM_MODULE`]): its JSON
    /// result, or its error text.
    fn query(&mut self, module: &str, msg: &[u8]) -> Result<Vec<u8>, String>;
    /// Records an event emitted during the call.
    fn emit(&mut self, event: Event);
    /// A debug line.
    fn log(&mut self, line: &str);
}

type HostPtr = NonNull<dyn NativeHost + 'static>;

std::thread_local! {
    /// The host of the dispatch running on this thread. Empty outside
    /// `with_host`, and also while a host method runs (see `with_current`).
    static CURRENT: Cell<Option<HostPtr>> = const { Cell::new(None) };
}

/// Restores the previous slot content when a `with_host` or `with_current`
/// scope ends, also when it unwinds.
struct Restore(Option<HostPtr>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|slot| slot.set(self.0));
    }
}

/// Runs `f` (typically a module's `polypact_dispatch`) with `host` answering
/// every host call the module makes.
///
/// Calls nest: a host whose [`NativeHost::query`] runs another module inside
/// its own `with_host` is fine, and the outer host is back in place when the
/// inner call returns or panics.
///
/// ```
/// use polypact_sdk::native::with_host;
/// use polypact_sdk::testing::MockHost;
///
/// fn dispatch(_: polypact_sdk::abi::Entry, _: &[u8]) -> Vec<u8> { Vec::new() }
/// let mut host = MockHost::new(dispatch);
/// let out = with_host(&mut host, || dispatch(polypact_sdk::abi::Entry::Query, &[]));
/// assert!(out.is_empty());
/// ```
pub fn with_host<R>(host: &mut dyn NativeHost, f: impl FnOnce() -> R) -> R {
    let ptr: NonNull<dyn NativeHost + '_> = NonNull::from(host);
    #[allow(unsafe_code)]
    // SAFETY: this only erases the trait object's lifetime bound; the fat
    // pointer layout is identical. The erased pointer is stored in `CURRENT`
    // only until `_restore` drops at the end of this function (also on
    // unwind), while `host` is mutably borrowed by this frame, so it is never
    // dereferenced after the borrow ends. `with_current` dereferences it only
    // while it has taken it out of the slot, so no two `&mut` exist at once.
    let ptr: HostPtr = unsafe { core::mem::transmute::<NonNull<dyn NativeHost + '_>, HostPtr>(ptr) };
    let _restore = Restore(CURRENT.with(|slot| slot.replace(Some(ptr))));
    f()
}

/// Runs `f` on the current host. Panics outside [`with_host`].
pub(crate) fn with_current<R>(f: impl FnOnce(&mut dyn NativeHost) -> R) -> R {
    let taken = CURRENT.with(|slot| slot.take());
    let Some(mut ptr) = taken else {
        panic!(
            "a polypact host function was called outside a dispatch, or from inside a host call; \
             run module code through `polypact_sdk::native::with_host` or `polypact_sdk::testing::MockHost`"
        );
    };
    // Put the host back afterwards, also if `f` panics.
    let _restore = Restore(Some(ptr));
    #[allow(unsafe_code)]
    // SAFETY: `ptr` came from a `&mut dyn NativeHost` that `with_host` keeps
    // borrowed for as long as it is in the slot (see there). We took it out
    // of the slot, so until `_restore` puts it back no other `with_current`
    // can create a second reference to it: this `&mut` is unique.
    let host = unsafe { ptr.as_mut() };
    f(host)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::MockHost;
    use alloc::string::ToString;

    fn nothing(_: crate::abi::Entry, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    #[test]
    fn hosts_nest_and_are_restored() {
        let mut outer = MockHost::new(nothing);
        let mut inner = MockHost::new(nothing);
        with_host(&mut outer, || {
            with_current(|h| h.log("outer 1"));
            with_host(&mut inner, || with_current(|h| h.log("inner")));
            with_current(|h| h.log("outer 2"));
        });
        assert_eq!(outer.logs(), ["outer 1".to_string(), "outer 2".to_string()]);
        assert_eq!(inner.logs(), ["inner".to_string()]);
        assert!(CURRENT.with(|slot| slot.get()).is_none());
    }

    #[test]
    fn slot_is_cleared_after_a_panic() {
        let mut host = MockHost::new(nothing);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_host(&mut host, || with_current(|_| panic!("boom")))
        }));
        assert!(result.is_err());
        assert!(CURRENT.with(|slot| slot.get()).is_none());
    }

    #[test]
    #[should_panic(expected = "outside a dispatch")]
    fn host_call_outside_a_dispatch_panics() {
        with_current(|h| h.log("nobody listens"));
    }
}
