//! The allocator of the `sovra` binary and of the benches that measure it:
//! mimalloc, asked for an aligned block only when the alignment is more
//! than every block already has.
//!
//! The `mimalloc` crate's allocator calls `mi_malloc_aligned` for every
//! allocation. In mimalloc 3 that entry treats a block as naturally
//! aligned only when its size is a power of two: any other size (a 24- or
//! 48-byte value, most of a policy's syntax tree) pays the aligned path's
//! checks, and often its generic path, which may also hand out a larger
//! block than the size asks for (reported upstream:
//! purpleprotocol/mimalloc_rust#170). By callgrind, compiling 10,000 rules
//! took 65 instructions an allocation that way and 38 this way.
//!
//! Every block mimalloc hands out is aligned to at least a word: its size
//! classes are multiples of a word, laid out from page starts aligned to
//! more, and larger blocks are page-aligned. So a layout that asks for at
//! most a word's alignment is served by the plain functions; a larger one
//! by the aligned ones, as before.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator (`#[global_allocator]` in
/// `src/main.rs` and the benches).
pub struct MiMalloc;

// SAFETY: each method hands the layout's size (and, above a word, its
// alignment) to the mimalloc function that returns a block of at least
// that size and alignment, or null when out of memory; `dealloc` and
// `realloc` are only given blocks this allocator returned, as
// `GlobalAlloc` requires of its callers, and mimalloc frees and resizes
// blocks from either kind of function alike.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as for the impl.
            unsafe { mi::mi_malloc(layout.size()) }.cast()
        } else {
            // SAFETY: as for the impl.
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as for the impl.
            unsafe { mi::mi_zalloc(layout.size()) }.cast()
        } else {
            // SAFETY: as for the impl.
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: as for the impl.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as for the impl.
            unsafe { mi::mi_realloc(ptr.cast::<c_void>(), new_size) }.cast()
        } else {
            // SAFETY: as for the impl.
            unsafe { mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()) }.cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to a few pages, at every alignment from a byte to a
    /// page: the block is aligned, holds what is written to it, keeps it
    /// when grown and shrunk, and a zeroed block is zeros.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let sizes = (1..=300).chain([511, 512, 1000, 4095, 4096, 4097, 70_000, 1 << 21]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: the layout has a non-zero size; every block is
                // written within its size and freed once, by this allocator.
                unsafe {
                    let p = MiMalloc.alloc(layout);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    for i in 0..size {
                        p.add(i).write(i as u8);
                    }
                    let grown = MiMalloc.realloc(p, layout, size * 2 + 5);
                    assert!(
                        !grown.is_null() && (grown as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    for i in 0..size {
                        assert_eq!(grown.add(i).read(), i as u8, "{size} {align}");
                    }
                    let grown_layout =
                        Layout::from_size_align(size * 2 + 5, align).unwrap_or(layout);
                    let shrunk = MiMalloc.realloc(grown, grown_layout, size.div_ceil(2));
                    assert!(
                        !shrunk.is_null() && (shrunk as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    for i in 0..size.div_ceil(2) {
                        assert_eq!(shrunk.add(i).read(), i as u8, "{size} {align}");
                    }
                    let shrunk_layout =
                        Layout::from_size_align(size.div_ceil(2), align).unwrap_or(layout);
                    MiMalloc.dealloc(shrunk, shrunk_layout);
                    let z = MiMalloc.alloc_zeroed(layout);
                    assert!(
                        !z.is_null() && (z as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    assert!((0..size).all(|i| z.add(i).read() == 0), "{size} {align}");
                    MiMalloc.dealloc(z, layout);
                }
            }
        }
    }
}
