//! Page-aligned memory that a test (or the puppet) owns and hands to
//! `ExportSegment::create` / `rebind` / `LocalMemory::register`, as a C program would hand
//! `valloc` memory to `rsm_memseg_export_create`.
//!
//! # Safety
//!
//! A [`PageBuf`] is `len` bytes of a private anonymous mapping made by [`PageBuf::new`] and
//! unmapped only by `Drop`. Other processes may write the range once it is exported, so it is
//! never exposed as `&[u8]`: [`PageBuf::write`] and [`PageBuf::read`] are bounds-checked raw
//! copies. rsm may replace the pages in place (re-backing with `MAP_FIXED`, `mremap`), which
//! keeps the range mapped, so the copies stay valid.
#![allow(unsafe_code)]

use rustix::mm::{MapFlags, ProtFlags};
use std::ptr::NonNull;

/// Page-aligned, zero-filled memory owned by the test, reached only through raw copies.
#[derive(Debug)]
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a PageBuf is an address range reached only by raw copies, valid from any thread.
unsafe impl Send for PageBuf {}
// SAFETY: as for Send; no method hands out references into the range.
unsafe impl Sync for PageBuf {}

impl PageBuf {
    /// `len` bytes (rounded up to whole pages) of fresh zeroed memory.
    pub fn new(len: usize) -> PageBuf {
        let ps = rustix::param::page_size();
        let len = len.max(1).div_ceil(ps) * ps;
        // SAFETY: a null hint without MAP_FIXED lets the kernel pick an unused range, so no
        // existing memory is affected.
        let p = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
        }
        .expect("mmap");
        PageBuf { ptr: NonNull::new(p.cast::<u8>()).expect("mmap returned null"), len }
    }

    /// `len` bytes filled with `text` repeated.
    pub fn filled(len: usize, text: &[u8]) -> PageBuf {
        let b = PageBuf::new(len);
        if !text.is_empty() {
            let data: Vec<u8> = text.iter().copied().cycle().take(b.len).collect();
            b.write(0, &data);
        }
        b
    }

    /// First byte.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes (a page multiple).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `src` into the buffer at `off` (panics outside the buffer).
    pub fn write(&self, off: usize, src: &[u8]) {
        assert!(off.checked_add(src.len()).is_some_and(|e| e <= self.len), "PageBuf::write out of range");
        // SAFETY: the span is inside the mapping (checked above), which stays mapped and
        // writable for the life of self (module invariant); src is a distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().wrapping_add(off), src.len()) };
    }

    /// Copies bytes of the buffer at `off` into `dst` (panics outside the buffer).
    pub fn read(&self, off: usize, dst: &mut [u8]) {
        assert!(off.checked_add(dst.len()).is_some_and(|e| e <= self.len), "PageBuf::read out of range");
        // SAFETY: the span is inside the readable mapping (checked above, module invariant);
        // dst is an exclusive Rust slice that cannot overlap memory reached by pointer only.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr().wrapping_add(off), dst.as_mut_ptr(), dst.len()) };
    }

    /// `n` bytes at `off`.
    pub fn read_vec(&self, off: usize, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.read(off, &mut v);
        v
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by PageBuf::new with exactly this length and is
        // unmapped only here.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
