//! The generation table: one page-backed array of 32-bit counters that the agent shares
//! read-only with every client. A cell belongs to one publication of an export segment (or
//! one remote connection); revoking it bumps the counter. An importer remembers the value it
//! saw at connect and compares it at each barrier close and implicit access: one load, no
//! system call.
//!
//! # Safety
//!
//! Cells are reached as `&AtomicU32` inside a [`Mapping`] that lives as long as the table;
//! the index is bounds-checked and cells are 4-byte aligned (mappings are page aligned).
#![allow(unsafe_code)]

use crate::mem::{Mapping, Prot};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::sync::atomic::{AtomicU32, Ordering};

/// Number of cells in a table (4 MiB of address space; pages are only allocated when used).
pub const CELLS: u32 = 1 << 20;

/// A mapped generation table.
#[derive(Debug)]
pub struct GenTable {
    map: Mapping,
}

impl GenTable {
    /// Creates a new table (agent side): a sealed memfd, mapped read-write.
    pub fn create() -> Result<(GenTable, OwnedFd), Errno> {
        let len = CELLS as usize * 4;
        let fd = crate::memfd::create("rsm-generations", len as u64)?;
        crate::memfd::seal_size(&fd)?;
        let map = Mapping::map_shared(&fd, len, Prot::ReadWrite)?;
        Ok((GenTable { map }, fd))
    }

    /// Maps a table received from the agent, read-only (client side).
    pub fn open<Fd: AsFd>(fd: Fd) -> Result<GenTable, Errno> {
        let len = crate::memfd::size(&fd)? as usize;
        if len < 4 {
            return Err(Errno::INVAL);
        }
        let map = Mapping::map_shared(&fd, len, Prot::Read)?;
        Ok(GenTable { map })
    }

    fn cell(&self, index: u32) -> Option<&AtomicU32> {
        let off = (index as usize).checked_mul(4)?;
        if off.checked_add(4)? > self.map.len() {
            return None;
        }
        // SAFETY: off+4 <= len (checked above), the mapping is page aligned so the cell is
        // 4-byte aligned, and the mapping lives as long as &self.
        Some(unsafe { &*self.map.as_ptr().wrapping_add(off).cast::<AtomicU32>() })
    }

    /// Current value of a cell (`None` for an index outside the table).
    #[inline]
    pub fn load(&self, index: u32) -> Option<u32> {
        self.cell(index).map(|c| c.load(Ordering::SeqCst))
    }

    /// Increments a cell and returns the new value (agent side only: the client mapping is
    /// read-only and a store there would fault).
    pub fn bump(&self, index: u32) -> Option<u32> {
        if self.map.prot() != Prot::ReadWrite {
            return None;
        }
        self.cell(index).map(|c| c.fetch_add(1, Ordering::SeqCst).wrapping_add(1))
    }
}
