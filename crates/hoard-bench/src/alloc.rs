//! A global allocator that counts live heap bytes while counting is switched on, so the
//! snapshot suite reports the real bytes a catalogue holds (allocator rounding aside)
//! instead of a sum of `size_of`s.
//!
//! Switched off, each allocation costs one relaxed load of a flag that is never written
//! then, so the other suites measure what they measured before.

// The one place in the workspace with `unsafe`: `GlobalAlloc` is an unsafe trait. Every
// call forwards to `System` with the caller's arguments unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The bench binary's allocator: `System`, plus a byte count.
pub struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_add(delta, Relaxed);
    }
}

// SAFETY: each method forwards to `System`, which upholds the `GlobalAlloc` contract; the
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Live bytes allocated by `build` and still held by what it returns (plus anything else
/// allocated and not freed meanwhile: run it with nothing else going on). Frees of blocks
/// allocated before the measurement would count against it, so `build` should only free
/// what it allocated itself.
pub fn measure<T>(build: impl FnOnce() -> T) -> (T, i64) {
    LIVE.store(0, Relaxed);
    ENABLED.store(true, Relaxed);
    let value = build();
    ENABLED.store(false, Relaxed);
    (value, LIVE.load(Relaxed) as i64)
}
