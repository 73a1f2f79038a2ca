//! Export segments: memory this process offers to importers.
//!
//! # Safety
//!
//! This file holds `unsafe` because two operations take memory from the caller:
//! [`ExportSegment::create`] and [`ExportSegment::rebind`]. Their contract (the caller owns
//! the range, keeps it mapped until destroy, and reaches it only by pointer) is what makes
//! the re-backing calls into `rsm_os::mem` sound; every other access goes through
//! bounds-checked `Mapping` methods.
#![allow(unsafe_code)]

use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::perm;
use crate::signal::{Counter, PollFd, PostFlags};
use rsm_os::mem::{Elem, Mapping, Prot};
use rsm_os::{AsFd, OwnedFd};
use rsm_proto::{Request, Response};
use std::ptr::NonNull;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use rsm_proto::AclEntry as AccessEntry;

bitflags::bitflags! {
    /// Flags of [`ExportSegment::create`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ExportFlags: u32 {
        /// `RSM_ALLOW_REBIND`: [`ExportSegment::rebind`] is allowed.
        const ALLOW_REBIND = 0x01;
        /// `RSM_CREATE_SEG_DONTWAIT`: never wait for resources; fail instead.
        const CREATE_SEG_DONTWAIT = 0x02;
    }
}

/// Largest access list.
pub const MAX_ACL: usize = 64;
/// Largest node id an access list may name.
pub const MAX_NODE: u32 = 64;
/// First system-assigned segment id (`RSM_USER_APP_ID_BASE`).
pub const USER_APP_ID_BASE: u32 = 0x8000_0000;
/// Last id reserved for the system (`RSM_DLPI_ID_END`): lower explicit ids are refused.
pub const DLPI_ID_END: u32 = 0x3F_FFFF;

struct ExportState {
    destroyed: bool,
    /// Where the exporter sees the segment.
    region: Mapping,
    /// Whether `region` is memory rsm allocated (unmapped at destroy) rather than the caller's.
    allocated: bool,
    memfd: OwnedFd,
    published: Option<u32>,
}

pub(crate) struct ExportInner {
    ctl: Controller,
    export_id: u64,
    /// The agent incarnation that knows `export_id` (see `Node::call_in`).
    epoch: u64,
    creator_pid: u32,
    size: usize,
    flags: ExportFlags,
    pub(crate) counter: Counter,
    state: RwLock<ExportState>,
}

/// An export segment (`rsm_memseg_export_handle_t`): memory of this process that, once
/// published under a segment id, other processes and nodes can import.
///
/// The memory is reached by the exporter through [`ExportSegment::as_ptr`] (raw, since
/// importers can change it at any time) or copied with [`ExportSegment::read_at`] /
/// [`ExportSegment::write_at`]. Dropping the segment destroys it.
#[derive(Clone)]
pub struct ExportSegment {
    pub(crate) inner: Arc<ExportInner>,
}

impl std::fmt::Debug for ExportSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportSegment")
            .field("export_id", &self.inner.export_id)
            .field("size", &self.inner.size)
            .finish()
    }
}

/// Caller memory that live export segments of this process re-back: start -> end. Two
/// segments over one range would each re-back it with their own memory, and the first one's
/// importers would silently stop seeing the caller's writes; the second is refused instead.
fn exported_ranges() -> &'static std::sync::Mutex<std::collections::BTreeMap<usize, usize>> {
    static R: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<usize, usize>>> =
        std::sync::OnceLock::new();
    R.get_or_init(Default::default)
}

/// Records `[start, start+len)` as exported; [`Error::BadAddr`] if it overlaps a range a live
/// segment of this process already exports.
fn claim_range(start: usize, len: usize) -> Result<()> {
    let end = start.checked_add(len).ok_or(Error::BadAddr)?;
    let mut r = crate::node::lock(exported_ranges());
    // The range starting last before `end` is the only one that can overlap.
    if r.range(..end).next_back().is_some_and(|(_, &e)| e > start) {
        return Err(Error::BadAddr);
    }
    r.insert(start, end);
    Ok(())
}

fn release_range(start: usize) {
    crate::node::lock(exported_ranges()).remove(&start);
}

/// The caller's range that segment `st` re-backed becomes private memory again, with its
/// last contents (the caller's pointer stays valid), and may be exported anew.
fn give_back_caller_memory(st: &ExportState, size: usize) {
    if let Some(p) = NonNull::new(st.region.as_ptr()) {
        // SAFETY: the range is the caller's memory that the segment re-backed; giving it back
        // as private memory keeps the caller's pointer valid.
        let _ = unsafe { rsm_os::mem::reback_private(p, size) };
    }
    release_range(st.region.as_ptr() as usize);
}

fn fresh_memfd(size: usize) -> Result<OwnedFd> {
    let fd = rsm_os::memfd::create("rsm-segment", size as u64).map_err(|_| Error::InsufficientMem)?;
    rsm_os::memfd::seal_size(&fd).map_err(|_| Error::InsufficientMem)?;
    Ok(fd)
}

fn rlock(l: &RwLock<ExportState>) -> RwLockReadGuard<'_, ExportState> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn wlock(l: &RwLock<ExportState>) -> RwLockWriteGuard<'_, ExportState> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Checks an access list as publish and republish do.
pub(crate) fn validate_acl(acl: &[AccessEntry], loopback: bool, local_node: u32) -> Result<()> {
    if acl.len() > MAX_ACL {
        return Err(Error::BadAcl);
    }
    for e in acl {
        if e.node > MAX_NODE || e.perm > perm::ALL_RW {
            return Err(Error::BadAcl);
        }
    }
    if loopback && (acl.len() > 1 || acl.iter().any(|e| e.node != local_node)) {
        return Err(Error::BadAcl);
    }
    Ok(())
}

impl ExportSegment {
    /// Creates an export segment of `size` bytes (a multiple of the page size) over new,
    /// zero-filled memory that rsm allocates.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] for 0 or more than the controller allows,
    /// [`Error::BadMemAlignment`] if `size` is not a page multiple, [`Error::InsufficientMem`],
    /// [`Error::InsufficientResources`] when the node's segment limit is reached.
    #[doc(alias = "rsm_memseg_export_create")]
    pub fn allocate(ctl: &Controller, size: usize, flags: ExportFlags) -> Result<ExportSegment> {
        Self::check_size(ctl, size)?;
        let memfd = fresh_memfd(size)?;
        let region = Mapping::map_shared(&memfd, size, Prot::ReadWrite).map_err(|_| Error::InsufficientMem)?;
        Self::register(ctl, size, flags, region, true, memfd)
    }

    /// Creates an export segment over memory the caller already has (`valloc`, `memalign`,
    /// `mmap`). The range is re-backed in place by shareable memory with the same contents:
    /// `addr` keeps working and from now on reaches what importers see.
    ///
    /// # Safety
    ///
    /// `[addr, addr+size)` must be memory of this process that the caller owns and does not
    /// access through Rust references while the segment exists; it must not be unmapped
    /// before the segment is destroyed. (That it is mapped is checked: [`Error::BadAddr`].)
    ///
    /// # Errors
    ///
    /// In the order of `rsm_memseg_export_create`: [`Error::BadLength`] (0),
    /// [`Error::BadMemAlignment`] (`addr` or `size` not page aligned), [`Error::BadLength`]
    /// (over the limit), [`Error::InsufficientMem`], [`Error::InsufficientResources`],
    /// [`Error::BadAddr`] (range not mapped, or overlapping memory that a live segment of
    /// this process already exports: each segment re-backs its range with memory of its
    /// own, so a second one over the same pages would silently cut the first one's importers
    /// off the caller's writes).
    #[doc(alias = "rsm_memseg_export_create")]
    pub unsafe fn create(
        ctl: &Controller,
        addr: NonNull<u8>,
        size: usize,
        flags: ExportFlags,
    ) -> Result<ExportSegment> {
        if size == 0 {
            return Err(Error::BadLength);
        }
        if !rsm_os::is_page_aligned(addr.as_ptr() as usize) {
            return Err(Error::BadMemAlignment);
        }
        Self::check_size(ctl, size)?;
        if !rsm_os::mem::is_mapped(addr, size) {
            return Err(Error::BadAddr);
        }
        let start = addr.as_ptr() as usize;
        claim_range(start, size)?;
        let r = (|| {
            let memfd = fresh_memfd(size)?;
            // SAFETY: the caller owns the mapped range (function contract; mapped checked above).
            unsafe { rsm_os::mem::reback_shared(&memfd, addr, size) }.map_err(|_| Error::BadAddr)?;
            // SAFETY: the range is now our shared mapping of memfd and stays mapped until
            // destroy (caller contract: not unmapped before destroy).
            let region = unsafe { Mapping::borrowed(addr, size, Prot::ReadWrite) };
            Self::register(ctl, size, flags, region, false, memfd)
        })();
        if r.is_err() {
            release_range(start);
        }
        r
    }

    fn check_size(ctl: &Controller, size: usize) -> Result<()> {
        if size == 0 {
            return Err(Error::BadLength);
        }
        if !rsm_os::is_page_aligned(size) {
            return Err(Error::BadMemAlignment);
        }
        if size as u64 > ctl.attr().max_export_segment_size {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    fn register(
        ctl: &Controller,
        size: usize,
        flags: ExportFlags,
        region: Mapping,
        allocated: bool,
        memfd: OwnedFd,
    ) -> Result<ExportSegment> {
        let counter = Counter::new()?;
        let mode = 0o777 & !rsm_os::creds::umask();
        let req =
            Request::ExportCreate { controller: ctl.name().to_string(), size: size as u64, flags: flags.bits(), mode };
        let (export_id, epoch) = match ctl.node().call_new(&req, &[]) {
            Ok((Response::ExportCreated { export }, _, inc)) => (export, inc.epoch),
            Ok(_) => Err(Error::InternalError)?,
            Err(e) => {
                if !allocated {
                    // Give the caller back ordinary private memory.
                    // SAFETY: the range is the caller's (create's contract) and still mapped.
                    let _ = unsafe { rsm_os::mem::reback_private(NonNull::new(region.as_ptr()).ok_or(e)?, size) };
                }
                return Err(e);
            }
        };
        tracing::trace!(export_id, size, "export segment created");
        Ok(ExportSegment {
            inner: Arc::new(ExportInner {
                ctl: ctl.clone(),
                export_id,
                epoch,
                creator_pid: std::process::id(),
                size,
                flags,
                counter,
                state: RwLock::new(ExportState { destroyed: false, region, allocated, memfd, published: None }),
            }),
        })
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The controller the segment was created on.
    pub fn controller(&self) -> &Controller {
        &self.inner.ctl
    }

    /// The published segment id, if published.
    pub fn segment_id(&self) -> Option<u32> {
        rlock(&self.inner.state).published
    }

    /// Whether the calling process created the segment.
    fn check_creator(&self) -> Result<()> {
        if std::process::id() != self.inner.creator_pid { Err(Error::NotCreator) } else { Ok(()) }
    }

    /// First byte of the segment as the exporter sees it. Importers may change the bytes at
    /// any time: read and write them with raw-pointer or atomic accesses only. The pointer
    /// changes with [`ExportSegment::rebind`] and is dangling after destroy.
    pub fn as_ptr(&self) -> *mut u8 {
        rlock(&self.inner.state).region.as_ptr()
    }

    /// Copies `src` into the segment at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] if the range leaves the segment, [`Error::BadSegHndl`] after
    /// destroy.
    pub fn write_at(&self, offset: usize, src: &[u8]) -> Result<()> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        st.region.write_at(offset, src).map_err(|_| Error::BadLength)
    }

    /// Copies bytes of the segment at `offset` into `dst`.
    ///
    /// # Errors
    ///
    /// As for [`ExportSegment::write_at`].
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        st.region.read_at(offset, dst).map_err(|_| Error::BadLength)
    }

    /// Loads the item at `offset` (aligned to its size) with one access: how an exporter
    /// polls a flag that importers set. Takes only the segment's reader lock.
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] (unaligned), [`Error::BadLength`] (past the end),
    /// [`Error::BadSegHndl`] (destroyed).
    pub fn load<T: Elem>(&self, offset: usize) -> Result<T> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if offset % std::mem::size_of::<T>() != 0 {
            return Err(Error::BadMemAlignment);
        }
        let mut v = [T::default()];
        st.region.read_elems(offset, &mut v).map_err(|_| Error::BadLength)?;
        Ok(v[0])
    }

    /// Stores `value` at `offset` (aligned to its size) with one access.
    ///
    /// # Errors
    ///
    /// As for [`ExportSegment::load`].
    pub fn store<T: Elem>(&self, offset: usize, value: T) -> Result<()> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if offset % std::mem::size_of::<T>() != 0 {
            return Err(Error::BadMemAlignment);
        }
        st.region.write_elems(offset, &[value]).map_err(|_| Error::BadLength)
    }

    /// Publishes the segment under `segment_id` (0: the node picks the next id from
    /// 0x80000000 on) for the nodes of `acl` (empty: every node, with the mode the creating
    /// process's umask gives). Returns the id.
    ///
    /// # Errors
    ///
    /// In this order: [`Error::BadSegHndl`] (destroyed), [`Error::SegAlreadyPublished`],
    /// [`Error::ReservedSegid`] (1..=0x3FFFFF or 0x80000000 and up), [`Error::NotCreator`],
    /// [`Error::BadAcl`] (over 64 entries, a node over 64, a mode over 0666, or on loopback
    /// anything but one entry for the local node), [`Error::SegidInUse`],
    /// [`Error::InsufficientResources`] (system ids exhausted).
    #[doc(alias = "rsm_memseg_export_publish")]
    pub fn publish(&self, segment_id: u32, acl: &[AccessEntry]) -> Result<u32> {
        let mut st = wlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if st.published.is_some() {
            return Err(Error::SegAlreadyPublished);
        }
        if segment_id != 0 && (segment_id <= DLPI_ID_END || segment_id >= USER_APP_ID_BASE) {
            return Err(Error::ReservedSegid);
        }
        self.check_creator()?;
        validate_acl(acl, self.inner.ctl.is_loopback(), self.inner.ctl.local_node())?;
        let ro = rsm_os::memfd::reopen_readonly(&st.memfd).map_err(|_| Error::InsufficientResources)?;
        // The memfd stays open at this number while published (unpublish moves the segment
        // onto a new one only after the agent has withdrawn it), so the agent may take a
        // duplicate from here when it needs one instead of holding it.
        let memfd_slot = std::os::fd::AsRawFd::as_raw_fd(&st.memfd);
        let req = Request::ExportPublish { export: self.inner.export_id, segment_id, acl: acl.to_vec(), memfd_slot };
        let fds = [st.memfd.as_fd(), ro.as_fd(), self.inner.counter.post_end.as_fd()];
        match self.inner.ctl.node().call_in(self.inner.epoch, &req, &fds)? {
            (Response::Published { segment_id }, _) => {
                st.published = Some(segment_id);
                tracing::trace!(export_id = self.inner.export_id, segment_id, "published");
                Ok(segment_id)
            }
            _ => Err(Error::InternalError),
        }
    }

    /// Replaces the access list of a published segment. Existing connections keep their
    /// rights; new connects are decided by the new list.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`], [`Error::SegNotPublished`], [`Error::NotCreator`],
    /// [`Error::BadAcl`].
    #[doc(alias = "rsm_memseg_export_republish")]
    pub fn republish(&self, acl: &[AccessEntry]) -> Result<()> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if st.published.is_none() {
            return Err(Error::SegNotPublished);
        }
        self.check_creator()?;
        validate_acl(acl, self.inner.ctl.is_loopback(), self.inner.ctl.local_node())?;
        self.inner.ctl.node().call_in(
            self.inner.epoch,
            &Request::ExportRepublish { export: self.inner.export_id, acl: acl.to_vec() },
            &[],
        )?;
        Ok(())
    }

    /// Withdraws the segment id and cuts off every importer: their next barrier close or
    /// implicit access reports [`Error::ConnAborted`], and stale mappings no longer reach
    /// this memory (the segment moves onto fresh backing before this returns). When the
    /// agent that published it is gone (it withdrew everything of this process), this still
    /// succeeds and still cuts off the mappings.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`], [`Error::SegNotPublished`], [`Error::NotCreator`],
    /// [`Error::PollfdInUse`] (a descriptor from [`ExportSegment::get_pollfd`] is still held,
    /// as the RSMAPI man page says; illumos did not check).
    #[doc(alias = "rsm_memseg_export_unpublish")]
    pub fn unpublish(&self) -> Result<()> {
        let mut st = wlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if st.published.is_none() {
            return Err(Error::SegNotPublished);
        }
        self.check_creator()?;
        // get_pollfd takes its reference under the state lock held here.
        if self.inner.counter.pollfd_in_use() {
            return Err(Error::PollfdInUse);
        }
        match self.inner.ctl.node().call_in(
            self.inner.epoch,
            &Request::ExportUnpublish { export: self.inner.export_id },
            &[],
        ) {
            // The agent that published the segment is gone (it withdrew everything of this
            // process when the connection ended): it is not published anywhere now, and what
            // is left is cutting off importers that still map the memory.
            Ok(_) | Err(Error::ConnAborted) => {}
            Err(e) => return Err(e),
        }
        st.published = None;
        self.move_to_fresh_backing(&mut st)?;
        tracing::trace!(export_id = self.inner.export_id, "unpublished");
        Ok(())
    }

    /// Moves the exporter's range onto a new memfd with the same contents, so that anyone
    /// still mapping the old one holds only an orphaned copy.
    fn move_to_fresh_backing(&self, st: &mut ExportState) -> Result<()> {
        let memfd = fresh_memfd(self.inner.size)?;
        let addr = NonNull::new(st.region.as_ptr()).ok_or(Error::InternalError)?;
        // SAFETY: the range is the segment's own region (mapped read-write, owned by the
        // segment); the state lock keeps every other rsm access out during the move.
        unsafe { rsm_os::mem::reback_shared(&memfd, addr, self.inner.size) }.map_err(|_| Error::InsufficientMem)?;
        st.memfd = memfd;
        Ok(())
    }

    /// Moves the segment onto the memory at `addr` (same size): its current contents are
    /// replaced by the contents of the new range, importers stay connected and from now on
    /// see (and change) the new range, and the old range becomes ordinary private memory
    /// again that no importer can reach. Rebinding to the current address does nothing.
    ///
    /// # Safety
    ///
    /// As for [`ExportSegment::create`], for the new range.
    ///
    /// # Errors
    ///
    /// In order: [`Error::BadSegHndl`], [`Error::BadAddr`] (misaligned, unmapped, or
    /// overlapping the current range), [`Error::RebindNotAllowed`], [`Error::NotCreator`],
    /// [`Error::BadLength`] (size differs).
    #[doc(alias = "rsm_memseg_export_rebind")]
    pub unsafe fn rebind(&self, addr: NonNull<u8>, size: usize) -> Result<()> {
        let mut st = wlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        let a = addr.as_ptr() as usize;
        if !rsm_os::is_page_aligned(a) {
            return Err(Error::BadAddr);
        }
        if !self.inner.flags.contains(ExportFlags::ALLOW_REBIND) {
            return Err(Error::RebindNotAllowed);
        }
        self.check_creator()?;
        if size != self.inner.size {
            return Err(Error::BadLength);
        }
        let old = st.region.as_ptr() as usize;
        if a == old {
            return Ok(());
        }
        if a < old + size && old < a.saturating_add(size) {
            return Err(Error::BadAddr);
        }
        if !rsm_os::mem::is_mapped(addr, size) {
            return Err(Error::BadAddr);
        }
        claim_range(a, size)?;
        let old_was_callers = !st.allocated;
        // SAFETY: this function's contract.
        let r = unsafe { self.rebind_claimed(&mut st, addr, size) };
        match r {
            // The caller's old range is private memory again: free to export anew.
            Ok(()) if old_was_callers => release_range(old),
            Ok(()) => {}
            Err(_) => release_range(a),
        }
        r
    }

    /// The move of [`ExportSegment::rebind`] once the new range is claimed.
    ///
    /// # Safety
    ///
    /// As for [`ExportSegment::rebind`].
    unsafe fn rebind_claimed(&self, st: &mut ExportState, addr: NonNull<u8>, size: usize) -> Result<()> {
        // SAFETY: the caller owns the new range (contract) and it is mapped (checked); the
        // borrowed view lives only for the copy below.
        let new_view = unsafe { Mapping::borrowed(addr, size, Prot::ReadWrite) };
        if st.allocated {
            // The new contents into the shared backing, through the old range that maps it.
            Mapping::copy_between(&new_view, 0, &st.region, 0, size).map_err(|_| Error::InternalError)?;
        } else {
            // The caller's old range keeps its contents as private memory that no importer
            // reaches; then the new contents go into the shared backing.
            let old = NonNull::new(st.region.as_ptr()).ok_or(Error::InternalError)?;
            // SAFETY: the old range is the caller's memory re-backed by this segment; the state
            // lock keeps other rsm accesses out.
            unsafe { rsm_os::mem::reback_private(old, size) }.map_err(|_| Error::InsufficientMem)?;
            let tmp = Mapping::map_shared(&st.memfd, size, Prot::ReadWrite).map_err(|_| Error::InsufficientMem)?;
            Mapping::copy_between(&new_view, 0, &tmp, 0, size).map_err(|_| Error::InternalError)?;
        }
        // The shared backing over the new range.
        // SAFETY: the caller gives the new range up to the segment (contract).
        let m = unsafe { Mapping::map_shared_fixed(&st.memfd, 0, addr.as_ptr(), size, Prot::ReadWrite) }
            .map_err(|_| Error::BadAddr)?;
        let (ptr, len) = m.leak();
        // SAFETY: the range now maps our memfd and stays mapped until destroy (contract).
        let new_region = unsafe { Mapping::borrowed(ptr, len, Prot::ReadWrite) };
        // An rsm-allocated old range is unmapped here; a caller's one is left alone.
        drop(std::mem::replace(&mut st.region, new_region));
        st.allocated = false;
        tracing::trace!(export_id = self.inner.export_id, "rebound");
        Ok(())
    }

    /// Unpublishes (if published) and destroys the segment. rsm-allocated memory is
    /// released; caller memory stays mapped, as private memory with its last contents.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (already destroyed), [`Error::PollfdInUse`] (a poll descriptor
    /// from [`ExportSegment::get_pollfd`] is still held).
    ///
    /// In a forked child (not the creator) only the child's copy of the handle is destroyed:
    /// the segment stays the creator's, and the child's view of caller memory becomes private
    /// memory (its writes no longer reach the segment).
    #[doc(alias = "rsm_memseg_export_destroy")]
    pub fn destroy(&self) -> Result<()> {
        let mut st = wlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if self.inner.counter.pollfd_in_use() {
            return Err(Error::PollfdInUse);
        }
        if std::process::id() != self.inner.creator_pid {
            // A forked child's copy of the handle (RSMAPI 3.4: only publish, republish,
            // unpublish and rebind are the creator's): it is freed here and the segment stays
            // the creator's. The child's view of the memory leaves the segment: the caller's
            // pages become private memory again, so the child's writes no longer reach it.
            st.destroyed = true;
            st.published = None;
            self.detach_memory(&mut st);
            return Ok(());
        }
        self.destroy_locked(&mut st)
    }

    /// Gives the caller's range back as private memory (rsm-allocated memory: released).
    fn detach_memory(&self, st: &mut ExportState) {
        if !st.allocated {
            give_back_caller_memory(st, self.inner.size);
        } else if let Ok(m) = Mapping::anonymous(rsm_os::page_size()) {
            // Release the shared memory now (the Arc may outlive destroy).
            let old = std::mem::replace(&mut st.region, m);
            drop(old);
        }
    }

    fn destroy_locked(&self, st: &mut ExportState) -> Result<()> {
        // The agent revokes first, so a barrier that closes successfully afterwards cannot
        // exist; then the memory leaves the shared backing.
        let r = self.inner.ctl.node().call_in(
            self.inner.epoch,
            &Request::ExportDestroy { export: self.inner.export_id },
            &[],
        );
        st.destroyed = true;
        st.published = None;
        self.detach_memory(st);
        tracing::trace!(export_id = self.inner.export_id, "destroyed");
        match r {
            Ok(_) | Err(Error::ConnAborted) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn check_live(&self) -> Result<()> {
        if rlock(&self.inner.state).destroyed { Err(Error::BadSegHndl) } else { Ok(()) }
    }

    /// Posts one event to every importer of the segment, on every node (none: nothing
    /// happens).
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (destroyed), [`Error::ConnAborted`] (agent gone).
    #[doc(alias = "rsm_intr_signal_post")]
    pub fn signal_post(&self, flags: PostFlags) -> Result<()> {
        let st = rlock(&self.inner.state);
        if st.destroyed {
            return Err(Error::BadSegHndl);
        }
        if st.published.is_none() {
            return Ok(());
        }
        drop(st);
        let req = Request::ExportPost {
            export: self.inner.export_id,
            no_accumulate: flags.contains(PostFlags::NO_ACCUMULATE),
        };
        self.inner.ctl.node().call_in(self.inner.epoch, &req, &[])?;
        Ok(())
    }

    /// Waits for one event posted by an importer, and consumes it. `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`], [`Error::Timeout`], [`Error::Interrupted`].
    #[doc(alias = "rsm_intr_signal_wait")]
    pub fn signal_wait(&self, timeout: Option<std::time::Duration>) -> Result<()> {
        self.check_live()?;
        self.inner.counter.wait(timeout)
    }

    /// A descriptor for [`crate::wait_pollfd`]; while held, unpublish and destroy fail with
    /// [`Error::PollfdInUse`].
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (destroyed, or not published: RSMAPI 3.10 wants a published
    /// segment; illumos did not check).
    #[doc(alias = "rsm_memseg_get_pollfd")]
    pub fn get_pollfd(&self) -> Result<PollFd> {
        // The reference is taken under the state lock, which unpublish holds while it checks.
        let st = rlock(&self.inner.state);
        if st.destroyed || st.published.is_none() {
            return Err(Error::BadSegHndl);
        }
        Ok(self.inner.counter.get_pollfd())
    }

    /// Drops one reference taken by [`ExportSegment::get_pollfd`].
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (destroyed).
    #[doc(alias = "rsm_memseg_release_pollfd")]
    pub fn release_pollfd(&self) -> Result<()> {
        self.check_live()?;
        self.inner.counter.release_pollfd();
        Ok(())
    }
}

impl Drop for ExportInner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if !st.destroyed && std::process::id() == self.creator_pid {
            let _ = self.ctl.node().call_in(self.epoch, &Request::ExportDestroy { export: self.export_id }, &[]);
            if !st.allocated {
                give_back_caller_memory(st, self.size);
            }
        }
    }
}
