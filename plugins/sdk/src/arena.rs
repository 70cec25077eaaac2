//! The `arena` heap of a gate built without std: allocation moves a pointer
//! up, and nothing is given back until the evaluation ends.
//!
//! modelgate runs every evaluation in a fresh instance and throws it away
//! afterwards, so a gate's heap never outlives one call. An arena fits
//! that: a block costs an alignment and an addition, freeing costs nothing,
//! and what one evaluation writes is a few contiguous pages from the start
//! of the heap, which is all the host has to reset for the next candidate.
//! The price is that freed memory is not reused, except the most recent
//! block (freed, or grown in place, when nothing was allocated after it,
//! which covers a `Vec` or `String` that is pushed to, and a temporary
//! freed right after use). A gate whose work is proportional to its input,
//! like `builtin:threshold`, peaks at a small multiple of that input; one
//! that allocates and frees in a long loop should keep dlmalloc, the
//! default heap. Past the memory limit an allocation fails, so the gate
//! fails with "memory limit"; it never passes for want of memory.
//!
//! dlmalloc, the default heap, takes its regions from an arena too, and
//! frees nothing back to it: without the `arena` feature only `alloc` is
//! used.
#![cfg_attr(not(any(test, feature = "arena")), allow(dead_code))]

/// Where the arena's memory comes from: one region from `start` up to
/// `end`, which [`grow`](Pages::grow) moves up.
pub(crate) trait Pages {
    /// The first byte the arena may hand out.
    fn start(&self) -> usize;
    /// One past the last byte of memory the instance has now.
    fn end(&self) -> usize;
    /// Extends the memory so that `end()` is at least `to`; false when the
    /// host refuses (the memory limit) or the address space ends.
    fn grow(&mut self, to: usize) -> bool;
}

/// A bump allocator over [`Pages`]. Memory the instance never handed out
/// is zero (a fresh instance's memory and `memory.grow`'s pages are), so
/// only blocks below `dirty` need zeroing when zeroed memory is asked for.
pub(crate) struct Arena<P> {
    pages: P,
    /// The next free byte; 0 until the first allocation.
    top: usize,
    /// One past the highest byte ever handed out.
    dirty: usize,
}

impl<P: Pages> Arena<P> {
    /// An arena that starts at `pages.start()` on its first allocation.
    pub(crate) const fn new(pages: P) -> Arena<P> {
        Arena {
            pages,
            top: 0,
            dirty: 0,
        }
    }

    fn top(&self) -> usize {
        if self.top == 0 {
            self.pages.start()
        } else {
            self.top
        }
    }

    /// Moves the top to `end`, growing the memory if needed.
    fn reach(&mut self, end: usize) -> bool {
        if end > self.pages.end() && !self.pages.grow(end) {
            return false;
        }
        self.top = end;
        self.dirty = self.dirty.max(end);
        true
    }

    /// A block of `size` bytes aligned to `align` (a power of two), or 0.
    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> usize {
        let top = self.top();
        let Some(start) = top.checked_add(align - 1).map(|a| a & !(align - 1)) else {
            return 0;
        };
        match start.checked_add(size) {
            Some(end) if self.reach(end) => start,
            _ => 0,
        }
    }

    /// Like [`alloc`](Self::alloc), and the block reads as zeros. Returns
    /// the block and how many of its first bytes the caller must zero
    /// (those below `dirty`: handed out before, freed, and handed out
    /// again).
    pub(crate) fn alloc_zeroed(&mut self, size: usize, align: usize) -> (usize, usize) {
        let dirty = self.dirty;
        let start = self.alloc(size, align);
        if start == 0 {
            return (0, 0);
        }
        (start, dirty.saturating_sub(start).min(size))
    }

    /// Frees the block at `ptr` of `size` bytes: only the most recent block
    /// goes back; any other stays until the instance is thrown away.
    pub(crate) fn dealloc(&mut self, ptr: usize, size: usize) {
        if ptr.checked_add(size) == Some(self.top) {
            self.top = ptr;
        }
    }

    /// Resizes the block at `ptr` from `old` to `new` bytes. The most recent
    /// block grows or shrinks in place (the caller copies nothing); another
    /// block moves to the top. Returns the block and whether the caller must
    /// copy the old bytes into it, or 0 when memory ran out.
    pub(crate) fn realloc(
        &mut self,
        ptr: usize,
        old: usize,
        align: usize,
        new: usize,
    ) -> (usize, bool) {
        if ptr.checked_add(old) == Some(self.top) {
            return match ptr.checked_add(new) {
                Some(end) if self.reach(end) => (ptr, false),
                _ => (0, false),
            };
        }
        (self.alloc(new, align), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of 64 KiB from 1000 up, growing up to `limit`.
    struct Fake {
        end: usize,
        limit: usize,
        grew: usize,
    }

    impl Pages for Fake {
        fn start(&self) -> usize {
            1000
        }
        fn end(&self) -> usize {
            self.end
        }
        fn grow(&mut self, to: usize) -> bool {
            let end = to.div_ceil(65536) * 65536;
            if end > self.limit {
                return false;
            }
            self.end = end;
            self.grew += 1;
            true
        }
    }

    fn arena(limit: usize) -> Arena<Fake> {
        Arena::new(Fake {
            end: 65536,
            limit,
            grew: 0,
        })
    }

    #[test]
    fn blocks_are_aligned_apart_and_start_at_the_heap() {
        let mut a = arena(1 << 20);
        let b1 = a.alloc(3, 1);
        let b2 = a.alloc(8, 8);
        let b3 = a.alloc(1, 16);
        assert_eq!(b1, 1000);
        assert_eq!(b2, 1008, "aligned up past the first block");
        assert_eq!(b3, 1024);
        assert_eq!(a.pages.grew, 0);
    }

    #[test]
    fn the_last_block_is_freed_and_grown_in_place_and_others_stay() {
        let mut a = arena(1 << 20);
        let b1 = a.alloc(16, 8);
        let b2 = a.alloc(16, 8);
        assert_eq!(
            a.realloc(b2, 16, 8, 64),
            (b2, false),
            "last block grows in place"
        );
        a.dealloc(b1, 16);
        assert_eq!(
            a.alloc(8, 8),
            b2 + 64,
            "a block under another is not reused"
        );
        let b4 = a.alloc(32, 8);
        a.dealloc(b4, 32);
        assert_eq!(a.alloc(32, 8), b4, "the freed last block is reused");
        let (moved, copy) = a.realloc(b1, 16, 8, 32);
        assert!(copy && moved > b4, "another block moves to the top");
    }

    #[test]
    fn memory_grows_as_needed_and_running_out_returns_null() {
        let mut a = arena(3 * 65536);
        let big = a.alloc(100_000, 8);
        assert_eq!(big, 1000);
        assert_eq!(a.pages.end, 2 * 65536);
        assert_eq!(a.alloc(200_000, 8), 0, "past the limit");
        assert_eq!(a.realloc(big, 100_000, 8, 400_000), (0, false));
        assert_eq!(a.alloc(usize::MAX - 8, 8), 0, "no overflow");
        assert_eq!(a.alloc(usize::MAX, 1), 0, "no overflow");
        assert_ne!(a.alloc(1000, 8), 0, "a failure leaves the arena usable");
    }

    #[test]
    fn only_reused_bytes_need_zeroing() {
        let mut a = arena(1 << 20);
        let (b1, zero) = a.alloc_zeroed(64, 8);
        assert_eq!(zero, 0, "never handed out: already zero");
        a.dealloc(b1, 64);
        let (b2, zero) = a.alloc_zeroed(128, 8);
        assert_eq!((b2, zero), (b1, 64), "the first 64 bytes were used before");
        let b3 = a.alloc(16, 8);
        a.realloc(b3, 16, 8, 8);
        let (_, zero) = a.alloc_zeroed(16, 8);
        assert_eq!(zero, 8, "a shrunk block leaves used bytes above it");
    }
}
