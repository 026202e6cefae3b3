//! The plugin's memory allocator: small blocks recycled by size class, the rest from the
//! system allocator (wasi-libc's dlmalloc).
//!
//! Why: counted in the proxy (BENCHMARKS.md), a third of what the bench's Rust plugins
//! executed a request was dlmalloc and its wrappers (`__rust_alloc`, `__rdl_alloc`,
//! `malloc`, `dlmalloc`, and the same four to free), every branch of them metered by
//! fuel and the epoch check. A hook allocates mostly small, short-lived values (the strings
//! the host hands over, a `Vec` that grows), and a free list per power-of-two size class
//! serves each of those in a few instructions once a block of its size has been freed.
//!
//! Blocks of up to 4 KiB with an alignment of at most 16 come from the classes (a class's
//! new blocks from the system allocator, at the class's full size); anything else goes
//! to the system allocator. A freed block goes back to its class's list and is
//! never returned to the system allocator, so an instance keeps, per class, the most it
//! ever held at once: a fresh instance (the default) starts over on every request, and a
//! reused one settles at its peak. The plugin's memory limit bounds it like any other use.
//!
//! Installed as the global allocator by the `size-class-allocator` feature (on by default)
//! on single-threaded wasm32 targets only, which is what lets the lists go without a lock.
//! A plugin with a global allocator of its own turns the feature off. The type is not
//! public: its `Sync` holds only where this module installs it (and in its tests, one
//! instance per test), so no one else may install it on a target with threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The smallest block: 16 bytes, room for the free list's link on any target.
const MIN_SHIFT: u32 = 4;
/// The largest block served from a class: 4 KiB.
const MAX_SHIFT: u32 = 12;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Every block is aligned to this; a layout asking for more goes to the system allocator.
const ALIGN: usize = 1 << MIN_SHIFT;

/// A size-class allocator for single-threaded guests. See the module documentation.
pub(crate) struct SizeClasses(UnsafeCell<State>);

struct State {
    /// The head of each class's free list; a free block's first word links to the next.
    free: [*mut u8; CLASSES],
}

// SAFETY: this module is compiled only where it installs the allocator, a target without
// threads (see `lib.rs`), and for its tests, which use one instance per test.
unsafe impl Sync for SizeClasses {}

/// The plugin's global allocator (this module is compiled outside tests only where it is
/// installed).
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: SizeClasses = SizeClasses::new();

impl SizeClasses {
    /// An allocator with empty lists: each class's first blocks come from the system
    /// allocator.
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(State { free: [ptr::null_mut(); CLASSES] }))
    }
}

/// The class that serves `layout` (its blocks are `16 << class` bytes), or `None` when
/// the system allocator does.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > 1 << MAX_SHIFT || layout.align() > ALIGN {
        return None;
    }
    let size = layout.size().max(1 << MIN_SHIFT);
    // The power of two at or above `size`, as a shift: 16 -> 4, 17 -> 5, 4096 -> 12.
    let shift = usize::BITS - (size - 1).leading_zeros();
    Some((shift - MIN_SHIFT) as usize)
}

unsafe impl GlobalAlloc for SizeClasses {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded (see `Sync` above), and no reference to the state
        // outlives this call.
        let state = unsafe { &mut *self.0.get() };
        let head = state.free[class];
        if head.is_null() {
            // A new block, of the class's full size, from the system allocator: growing
            // the instance's memory for a region of blocks ahead of need made each fresh
            // instance grow it, which halved the bench's fresh-instance throughput.
            // SAFETY: the size is non-zero and ALIGN a power of two.
            return unsafe { System.alloc(Layout::from_size_align_unchecked(ALIGN << class, ALIGN)) };
        }
        // SAFETY: a free block of this class holds the link to the next one.
        state.free[class] = unsafe { head.cast::<*mut u8>().read() };
        head
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract: `block` came from `alloc` with `layout`,
            // which sent it to the system allocator.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`; `block` is one of this class's blocks (the same layout
        // chose the class when it was allocated), at least 16 bytes and 16-aligned.
        unsafe {
            let state = &mut *self.0.get();
            block.cast::<*mut u8>().write(state.free[class]);
            state.free[class] = block;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, fits.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: the caller's contract, passed on.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            // The block already has room: a class's blocks all have its full size.
            (Some(old), Some(new)) if old == new => block,
            _ => {
                // SAFETY: a fresh allocation, the copy of what both hold, and the old
                // block freed with the layout it was allocated with.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_the_powers_of_two_from_16_to_4096() {
        let class = |size, align| class_of(Layout::from_size_align(size, align).unwrap());
        assert_eq!(class(1, 1), Some(0));
        assert_eq!(class(16, 8), Some(0));
        assert_eq!(class(17, 1), Some(1));
        assert_eq!(class(32, 16), Some(1));
        assert_eq!(class(33, 4), Some(2));
        assert_eq!(class(4096, 1), Some(8));
        assert_eq!(class(4097, 1), None);
        assert_eq!(class(64, 32), None, "over-aligned layouts go to the system allocator");
    }

    /// Random allocations, reallocations and frees against one allocator: every live
    /// block keeps its contents, is aligned as asked, and overlaps no other.
    #[test]
    fn blocks_keep_their_contents_and_never_overlap() {
        let allocator = SizeClasses::new();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        let fill = |block: *mut u8, size: usize, byte: u8| unsafe { ptr::write_bytes(block, byte, size) };
        let holds = |block: *const u8, size: usize, byte: u8| unsafe {
            std::slice::from_raw_parts(block, size).iter().all(|&b| b == byte)
        };
        for step in 0..50_000 {
            let byte = (step % 251) as u8;
            match random(4) {
                0 | 1 => {
                    let most = if random(10) == 0 { 10_000 } else { 300 };
                    let size = 1 + random(most);
                    let align = 1 << random(6);
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let block = unsafe { allocator.alloc(layout) };
                    assert!(!block.is_null());
                    assert_eq!(block as usize % layout.align(), 0, "{layout:?}");
                    fill(block, size, byte);
                    live.push((block, layout, byte));
                }
                2 if !live.is_empty() => {
                    let (block, layout, old) = live.swap_remove(random(live.len()));
                    let new_size = 1 + random(5_000);
                    let moved = unsafe { allocator.realloc(block, layout, new_size) };
                    assert!(holds(moved, layout.size().min(new_size), old), "realloc lost contents");
                    let layout = Layout::from_size_align(new_size, layout.align()).unwrap();
                    fill(moved, new_size, byte);
                    live.push((moved, layout, byte));
                }
                _ if !live.is_empty() => {
                    let (block, layout, byte) = live.swap_remove(random(live.len()));
                    assert!(holds(block, layout.size(), byte), "a block was overwritten");
                    unsafe { allocator.dealloc(block, layout) };
                }
                _ => {}
            }
        }
        let mut spans: Vec<(usize, usize)> =
            live.iter().map(|(b, l, _)| (*b as usize, *b as usize + l.size())).collect();
        spans.sort();
        assert!(spans.windows(2).all(|pair| pair[0].1 <= pair[1].0), "live blocks overlap");
        for (block, layout, byte) in live {
            assert!(holds(block, layout.size(), byte), "a block was overwritten");
            unsafe { allocator.dealloc(block, layout) };
        }
    }

    #[test]
    fn a_freed_block_is_the_next_one_of_its_class() {
        let allocator = SizeClasses::new();
        let small = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let first = allocator.alloc(small);
            allocator.dealloc(first, small);
            assert_eq!(allocator.alloc(Layout::from_size_align(20, 4).unwrap()), first);
            let grown = allocator.realloc(first, Layout::from_size_align(20, 4).unwrap(), 32);
            assert_eq!(grown, first, "a block grows in place within its class");
        }
    }
}
