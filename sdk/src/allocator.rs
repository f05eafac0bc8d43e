//! The module's memory allocator on `wasm32`: a bump allocator for
//! instances that live for one call.
//!
//! The host gives every op a fresh instance and drops it afterwards, so
//! nothing a module allocates outlives the call. A general-purpose allocator
//! (Rust's default on `wasm32` is dlmalloc) spends its time keeping free
//! lists for a future that never comes, and it grows the memory on its first
//! allocation, which makes the host shrink the memory again before the
//! slot's next instance: an `mprotect` and a TLB shootdown on every call.
//! This allocator instead
//!
//! - serves allocations from an arena in the module's zero-initialised data
//!   ([`ARENA_BYTES`], part of the initial memory, so a call that allocates
//!   less never grows memory), then from pages it grows at the end of memory;
//! - frees only the most recent allocation (which covers temporaries) and
//!   grows or shrinks the most recent allocation in place (which covers a
//!   `Vec` or `String` being built), and leaves everything else to the end
//!   of the instance.
//!
//! A call whose allocations add up to more than the host's memory limit
//! fails with an out-of-memory trap: deterministically, like any other
//! limit. A module that must reuse memory within one call (a long loop of
//! large temporaries that are not freed in order) can turn this allocator
//! off with the SDK's `system-allocator` feature, which leaves Rust's
//! default allocator in place.
//!
//! This file owns the allocation policy only; the memory limit is the
//! host's and the stack is laid out by the linker.

#![allow(unsafe_code, reason = "a global allocator is unsafe by contract")]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::{Cell, UnsafeCell};
use core::ptr;

/// Bytes served from the module's own data before memory is grown.
pub const ARENA_BYTES: usize = 256 * 1024;

/// A WebAssembly page.
const PAGE_BYTES: usize = 64 * 1024;

/// At least this many pages are grown at a time, so that a call that
/// outgrows the arena does not grow memory once per allocation.
const MIN_GROW_PAGES: usize = 4;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

/// The allocator: the free bytes are `next..end`, both addresses in linear
/// memory (0 until the first allocation).
struct BumpAllocator {
    arena: Arena,
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a module instance has one thread (the host turns threads off), so
// nothing accesses the cells concurrently.
unsafe impl Sync for BumpAllocator {}

#[global_allocator]
static ALLOCATOR: BumpAllocator =
    BumpAllocator { arena: Arena(UnsafeCell::new([0; ARENA_BYTES])), next: Cell::new(0), end: Cell::new(0) };

/// The end of linear memory, as an address.
fn memory_end() -> usize {
    wasm32::memory_size(0) * PAGE_BYTES
}

/// Grows memory so that it ends at `needed_end` or later; returns the new
/// end, or `None` when the host refuses (the memory limit).
fn grow_memory_to(needed_end: usize) -> Option<usize> {
    let current = memory_end();
    if needed_end <= current {
        return Some(current);
    }
    let pages = (needed_end - current).div_ceil(PAGE_BYTES);
    if wasm32::memory_grow(0, pages.max(MIN_GROW_PAGES)) != usize::MAX {
        return Some(memory_end());
    }
    // Near the limit, the rounded-up request may fail where the exact one fits.
    (pages < MIN_GROW_PAGES && wasm32::memory_grow(0, pages) != usize::MAX).then(memory_end)
}

impl BumpAllocator {
    /// The free region, set up on first use.
    fn region(&self) -> (usize, usize) {
        if self.end.get() == 0 {
            let start = self.arena.0.get().expose_provenance();
            self.next.set(start);
            self.end.set(start + ARENA_BYTES);
        }
        (self.next.get(), self.end.get())
    }

    /// The address of a fresh block for `layout`, or `None` when memory is exhausted.
    fn bump(&self, layout: Layout) -> Option<usize> {
        let (next, mut end) = self.region();
        let mut start = next.checked_next_multiple_of(layout.align())?;
        let mut new_next = start.checked_add(layout.size())?;
        if new_next > end {
            let memory_end = memory_end();
            if end != memory_end {
                // The arena is used up: carry on at the end of memory.
                start = memory_end.checked_next_multiple_of(layout.align())?;
                new_next = start.checked_add(layout.size())?;
            }
            end = grow_memory_to(new_next)?;
        }
        self.next.set(new_next);
        self.end.set(end);
        Some(start)
    }

    /// Whether the block at `addr` of `size` bytes is the most recent one.
    fn is_last(&self, addr: usize, size: usize) -> bool {
        addr.checked_add(size) == Some(self.next.get())
    }
}

// SAFETY: blocks are disjoint ranges of linear memory aligned as asked:
// `bump` hands out `start..start + size` with `start` a multiple of the
// alignment and moves `next` past it, and a block is only given back (or
// resized in place) while it is the last one handed out.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump(layout).map_or(ptr::null_mut(), ptr::with_exposed_provenance_mut)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let addr = block.expose_provenance();
        if self.is_last(addr, layout.size()) {
            self.next.set(addr);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let addr = block.expose_provenance();
        if self.is_last(addr, layout.size()) {
            let Some(new_next) = addr.checked_add(new_size) else { return ptr::null_mut() };
            let end = self.end.get();
            if new_next <= end {
                self.next.set(new_next);
                return block;
            }
            if end == memory_end() {
                // The block ends the memory: grow the memory under it.
                if let Some(new_end) = grow_memory_to(new_next) {
                    self.next.set(new_next);
                    self.end.set(new_end);
                    return block;
                }
                return ptr::null_mut();
            }
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        // SAFETY: the caller's contract for `realloc` is the one of `alloc` for `new_layout`.
        let new_block = unsafe { self.alloc(new_layout) };
        if !new_block.is_null() {
            // SAFETY: both blocks are valid for the smaller size and disjoint
            // (the new one was handed out after the old one).
            unsafe { ptr::copy_nonoverlapping(block, new_block, layout.size().min(new_size)) };
        }
        new_block
    }
}
