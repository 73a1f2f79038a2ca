//! Import segments: connections to segments that other processes (or nodes) published.
//!
//! # Safety
//!
//! The only `unsafe` here is [`ImportSegment::map_fixed`], which maps over an address the
//! caller names (`RSM_MAP_FIXED`); the caller promises the range holds nothing in use.
#![allow(unsafe_code)]

use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::perm;
use crate::remote::RemoteConn;
use crate::signal::{Counter, PollFd, PostFlags};
use rsm_os::mem::{Elem, Mapping, Prot};
use rsm_os::{AsFd, OwnedFd};
use rsm_proto::{Request, Response};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, fence};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// How put and get are checked (`rsm_barrier_mode_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BarrierMode {
    /// `RSM_BARRIER_MODE_EXPLICIT` (0): the application brackets accesses with
    /// [`Barrier::open`] / [`Barrier::close`]; errors surface at close.
    Explicit = 0,
    /// `RSM_BARRIER_MODE_IMPLICIT` (1, the default): every put/get is its own checked window
    /// and needs an initialised barrier.
    Implicit = 1,
}

impl TryFrom<u32> for BarrierMode {
    type Error = Error;
    fn try_from(v: u32) -> Result<Self> {
        match v {
            0 => Ok(BarrierMode::Explicit),
            1 => Ok(BarrierMode::Implicit),
            _ => Err(Error::BadMode),
        }
    }
}

/// Barrier scope (`rsm_barrier_type_t`); accepted and recorded, every type gives the same
/// guarantees here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BarrierType {
    /// `RSM_BARRIER_SEGMENT`.
    Segment = 0x01,
    /// `RSM_BARRIER_NODE`.
    Node = 0x02,
    /// `RSM_BARRIER_SEGMENT_THREAD`.
    SegmentThread = 0x11,
    /// `RSM_BARRIER_NODE_THREAD`.
    NodeThread = 0x12,
}

impl TryFrom<u32> for BarrierType {
    type Error = Error;
    fn try_from(v: u32) -> Result<Self> {
        match v {
            0x01 => Ok(BarrierType::Segment),
            0x02 => Ok(BarrierType::Node),
            0x11 => Ok(BarrierType::SegmentThread),
            0x12 => Ok(BarrierType::NodeThread),
            _ => Err(Error::BadBarrierPtr),
        }
    }
}

/// Where [`ImportSegment::map`] puts the mapping (`rsm_attribute_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAt {
    /// `RSM_MAP_NONE`: anywhere.
    Any,
    /// `RSM_MAP_FIXED`: exactly here (page aligned); see [`ImportSegment::map_fixed`].
    Fixed(NonNull<u8>),
}

struct MapState {
    mapping: Mapping,
    /// Segment offset of the mapping's first byte.
    offset: usize,
    /// Window length (bytes the caller asked for).
    len: usize,
    implicit: bool,
    /// What the mapping allows ([`perm::READ`], [`perm::WRITE`]): an explicit mapping may
    /// allow less than the connection.
    perm: u32,
}

/// One put or get as [`ImportSegment::access`] checks it.
#[derive(Clone, Copy)]
struct Access {
    caller: Caller,
    /// Segment offset.
    offset: usize,
    /// Length in bytes.
    bytes: usize,
    /// Access width: the offset must be a multiple.
    align: usize,
    /// A put (needs the write right) or a get (read).
    write: bool,
}

/// Who asks for an access: a put or get of its own, or an entry of a scatter/gather vector.
/// In implicit mode a put or get needs the segment's barrier; putv/getv do not (RSMAPI 3.8
/// lists no barrier error for them: each entry is its own window, checked the same way).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Single,
    Vector,
}

#[derive(Default)]
struct ImportState {
    disconnected: bool,
    map: Option<MapState>,
    /// The revocation was seen and the mapping moved to scratch pages.
    scrapped: bool,
}

/// How the segment's bytes are reached.
enum Transport {
    /// Same node: the segment's memfd (read-only unless write was granted) and the
    /// exporter's event counter.
    Local { memfd: OwnedFd, export_event: OwnedFd },
    /// Another node: a data connection to its agent.
    Remote(RemoteConn),
}

pub(crate) struct ImportInner {
    ctl: Controller,
    import_id: u64,
    node: u32,
    segment_id: u32,
    size: usize,
    rights: u32,
    gen_cell: u32,
    generation: u32,
    /// The agent incarnation that made the connection (see `Node::call_in`).
    epoch: u64,
    /// That agent's generation table, where `gen_cell` is.
    gens: Arc<rsm_os::gentable::GenTable>,
    transport: Transport,
    pub(crate) counter: Counter,
    owner_pid: u32,
    mode: AtomicU8,
    /// Id of the barrier implicit-mode accesses use (0: none).
    barrier: AtomicU64,
    state: RwLock<ImportState>,
}

/// An import segment (`rsm_memseg_import_handle_t`): a connection to a published segment.
///
/// All methods take `&self` and may be called from many threads at once. On the loopback
/// controller, put and get are a bounds check and a copy: no system call, no process-wide
/// lock.
#[derive(Clone)]
pub struct ImportSegment {
    pub(crate) inner: Arc<ImportInner>,
}

impl std::fmt::Debug for ImportSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSegment")
            .field("node", &self.inner.node)
            .field("segment_id", &format_args!("{:#x}", self.inner.segment_id))
            .field("size", &self.inner.size)
            .finish()
    }
}

static NEXT_BARRIER: AtomicU64 = AtomicU64::new(1);

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl ImportSegment {
    /// Connects to segment `segment_id` published on node `node`, asking for `perm`
    /// ([`perm::READ`], [`perm::WRITE`], [`perm::RDWR`] or [`perm::NONE`]).
    ///
    /// The exporting node decides: its access list for this node, then the owner/group/other
    /// bits against this process's uid, gid and groups.
    ///
    /// # Errors
    ///
    /// [`Error::PermDenied`] (bits other than 0600 in `perm`, or refused),
    /// [`Error::CtlrNotPresent`] (loopback asked for another node),
    /// [`Error::SegNotPublished`], [`Error::SegNotPublishedToNode`],
    /// [`Error::RemoteNodeUnreachable`], [`Error::InsufficientResources`].
    #[doc(alias = "rsm_memseg_import_connect")]
    pub fn connect(ctl: &Controller, node: u32, segment_id: u32, perm: u32) -> Result<ImportSegment> {
        if perm & !perm::RDWR != 0 {
            return Err(Error::PermDenied);
        }
        if ctl.is_loopback() && node != ctl.local_node() {
            return Err(Error::CtlrNotPresent);
        }
        let counter = Counter::new()?;
        let req = Request::ImportConnect { controller: ctl.name().to_string(), node, segment_id, perm };
        let (resp, fds, inc) = ctl.node().call_new(&req, &[counter.post_end.as_fd()])?;
        let Response::Connected { import, size, rights, gen_cell, generation, remote } = resp else {
            return Err(Error::InternalError);
        };
        let transport = match remote {
            None => {
                let mut fds = fds.into_iter();
                let (Some(memfd), Some(export_event)) = (fds.next(), fds.next()) else {
                    return Err(Error::InternalError);
                };
                Transport::Local { memfd, export_event }
            }
            Some(ra) => {
                let gens = inc.gens.clone();
                let revoked = move || gens.load(gen_cell) != Some(generation);
                match RemoteConn::open(ra.addr, ra.import_ref, ra.ticket, &revoked) {
                    Ok(c) => Transport::Remote(c),
                    Err(e) => {
                        let _ = ctl.node().call_in(inc.epoch, &Request::ImportDisconnect { import }, &[]);
                        return Err(if e == Error::ConnAborted { Error::SegNotPublished } else { e });
                    }
                }
            }
        };
        tracing::trace!(import, node, segment_id, size, rights, "connected");
        Ok(ImportSegment {
            inner: Arc::new(ImportInner {
                ctl: ctl.clone(),
                import_id: import,
                node,
                segment_id,
                size: usize::try_from(size).map_err(|_| Error::InsufficientMem)?,
                rights,
                gen_cell,
                generation,
                epoch: inc.epoch,
                gens: inc.gens,
                transport,
                counter,
                owner_pid: std::process::id(),
                mode: AtomicU8::new(BarrierMode::Implicit as u8),
                barrier: AtomicU64::new(0),
                state: RwLock::new(ImportState::default()),
            }),
        })
    }

    /// Segment size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Exporting node.
    pub fn node(&self) -> u32 {
        self.inner.node
    }

    /// Segment id.
    pub fn segment_id(&self) -> u32 {
        self.inner.segment_id
    }

    /// Rights of this connection (`RSM_PERM_*` bits).
    pub fn rights(&self) -> u32 {
        self.inner.rights
    }

    /// The controller the connection was made through.
    pub fn controller(&self) -> &Controller {
        &self.inner.ctl
    }

    /// Whether the exporter revoked this connection (unpublish, destroy, exit).
    #[inline]
    pub fn is_revoked(&self) -> bool {
        self.inner.is_revoked()
    }

    /// Breaks the connection. An implicit mapping is undone; an explicit one must be unmapped
    /// first. Works on a revoked connection too. Later calls on any clone of this handle
    /// fail with [`Error::BadSegHndl`].
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (already disconnected), [`Error::SegStillMapped`],
    /// [`Error::PollfdInUse`].
    #[doc(alias = "rsm_memseg_import_disconnect")]
    pub fn disconnect(&self) -> Result<()> {
        let mut st = write(&self.inner.state);
        if st.disconnected {
            return Err(Error::BadSegHndl);
        }
        if st.map.as_ref().is_some_and(|m| !m.implicit) {
            return Err(Error::SegStillMapped);
        }
        if self.inner.counter.pollfd_in_use() {
            return Err(Error::PollfdInUse);
        }
        st.disconnected = true;
        st.map = None;
        drop(st);
        match self.inner.end() {
            Ok(()) | Err(Error::ConnAborted) => {}
            Err(e) => tracing::debug!("disconnect: {e}"),
        }
        tracing::trace!(import = self.inner.import_id, "disconnected");
        Ok(())
    }

    /// Maps `[offset, offset+len)` of the segment into this process with rights `perm`, at an
    /// address the system picks, and returns it. Loads and stores through it reach the
    /// exporter's memory directly; bracket them with an explicit barrier to learn whether
    /// they were valid.
    ///
    /// # Errors
    ///
    /// In order: [`Error::SegAlreadyMapped`] (also after an implicit mapping by put/get),
    /// [`Error::BadSegHndl`] (disconnected), [`Error::BadPerms`] (`perm` over 0600),
    /// [`Error::BadLength`] (0 or past the end), [`Error::BadMemAlignment`] (offset not page
    /// aligned), [`Error::ConnAborted`] (revoked), [`Error::BadPerms`] (more than the
    /// connection's rights), [`Error::MapFailed`] (controller cannot map).
    #[doc(alias = "rsm_memseg_import_map")]
    pub fn map(&self, perm: u32, offset: usize, len: usize) -> Result<NonNull<u8>> {
        self.map_inner(MapAt::Any, perm, offset, len)
    }

    /// As [`ImportSegment::map`], at exactly `addr` (`RSM_MAP_FIXED`), replacing whatever was
    /// mapped there.
    ///
    /// # Safety
    ///
    /// `[addr, addr+len rounded up to pages)` must not hold memory that anything still uses.
    ///
    /// # Errors
    ///
    /// As for `map`, and [`Error::BadMemAlignment`] for an unaligned `addr`.
    #[doc(alias = "rsm_memseg_import_map")]
    pub unsafe fn map_fixed(&self, addr: NonNull<u8>, perm: u32, offset: usize, len: usize) -> Result<NonNull<u8>> {
        self.map_inner(MapAt::Fixed(addr), perm, offset, len)
    }

    fn map_inner(&self, at: MapAt, perm: u32, offset: usize, len: usize) -> Result<NonNull<u8>> {
        let mut st = write(&self.inner.state);
        if st.map.is_some() {
            return Err(Error::SegAlreadyMapped);
        }
        if st.disconnected {
            return Err(Error::BadSegHndl);
        }
        if perm > perm::RDWR {
            return Err(Error::BadPerms);
        }
        if len == 0 || offset.checked_add(len).is_none_or(|end| end > self.inner.size) {
            return Err(Error::BadLength);
        }
        if !rsm_os::is_page_aligned(offset) {
            return Err(Error::BadMemAlignment);
        }
        if let MapAt::Fixed(a) = at {
            if !rsm_os::is_page_aligned(a.as_ptr() as usize) {
                return Err(Error::BadMemAlignment);
            }
        }
        if self.is_revoked() {
            return Err(Error::ConnAborted);
        }
        if perm & !self.inner.rights != 0 {
            return Err(Error::BadPerms);
        }
        let Transport::Local { memfd, .. } = &self.inner.transport else {
            // A segment on another node cannot be mapped through a network controller (its
            // attributes say so: max_import_map_size is 0). A revocation the data connection
            // already reported (before the local agent bumped the cell) is still CONN_ABORTED.
            let seen = matches!(&self.inner.transport, Transport::Remote(rc) if rc.revoked());
            return Err(if seen { Error::ConnAborted } else { Error::MapFailed });
        };
        let prot = if perm & perm::WRITE != 0 {
            Prot::ReadWrite
        } else if perm & perm::READ != 0 {
            Prot::Read
        } else {
            Prot::None
        };
        let maplen = rsm_os::page_round_up(len).ok_or(Error::BadLength)?;
        let maplen = maplen.min(rsm_os::page_round_up(self.inner.size - offset).ok_or(Error::BadLength)?);
        let mapping = match at {
            MapAt::Any => Mapping::map_shared_at(memfd, offset as u64, maplen, prot),
            // SAFETY: the caller gives the range up (map_fixed's contract).
            MapAt::Fixed(a) => unsafe { Mapping::map_shared_fixed(memfd, offset as u64, a.as_ptr(), maplen, prot) },
        }
        .map_err(|e| match e {
            rsm_os::Errno::ACCESS | rsm_os::Errno::PERM => Error::BadPerms,
            rsm_os::Errno::NOMEM | rsm_os::Errno::AGAIN => Error::InsufficientResources,
            _ => Error::MapFailed,
        })?;
        let ptr = NonNull::new(mapping.as_ptr()).ok_or(Error::MapFailed)?;
        st.map = Some(MapState { mapping, offset, len, implicit: false, perm: perm & perm::RDWR });
        Ok(ptr)
    }

    /// Removes the mapping (explicit or implicit).
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected), [`Error::SegNotMapped`].
    #[doc(alias = "rsm_memseg_import_unmap")]
    pub fn unmap(&self) -> Result<()> {
        let mut st = write(&self.inner.state);
        if st.disconnected {
            return Err(Error::BadSegHndl);
        }
        match st.map.take() {
            Some(_) => Ok(()),
            None => Err(Error::SegNotMapped),
        }
    }

    /// Sets the barrier mode.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected).
    #[doc(alias = "rsm_memseg_import_set_mode")]
    pub fn set_mode(&self, mode: BarrierMode) -> Result<()> {
        self.check_connected()?;
        self.inner.mode.store(mode as u8, Ordering::Relaxed);
        Ok(())
    }

    /// The barrier mode.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected).
    #[doc(alias = "rsm_memseg_import_get_mode")]
    pub fn mode(&self) -> Result<BarrierMode> {
        self.check_connected()?;
        Ok(if self.inner.mode.load(Ordering::Relaxed) == 0 { BarrierMode::Explicit } else { BarrierMode::Implicit })
    }

    fn check_connected(&self) -> Result<()> {
        if read(&self.inner.state).disconnected { Err(Error::BadSegHndl) } else { Ok(()) }
    }

    /// Creates a barrier for this segment and makes it the one implicit-mode accesses use
    /// (the last one created wins).
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected).
    #[doc(alias = "rsm_memseg_import_init_barrier")]
    pub fn init_barrier(&self, ty: BarrierType) -> Result<Barrier> {
        self.check_connected()?;
        let id = NEXT_BARRIER.fetch_add(1, Ordering::Relaxed);
        self.inner.barrier.store(id, Ordering::SeqCst);
        Ok(Barrier { seg: self.clone(), id, ty, opened: AtomicBool::new(false), destroyed: AtomicBool::new(false) })
    }

    /// Moves a revoked connection's mapping onto scratch pages, once.
    fn scrap_if_revoked(&self) {
        if !self.is_revoked() {
            return;
        }
        let mut st = write(&self.inner.state);
        if !st.scrapped {
            st.scrapped = true;
            if let Some(m) = &st.map {
                let _ = m.mapping.redirect_to_scratch();
            }
        }
    }

    /// The common path of every put and get: checks in the RSMAPI order, maps implicitly if
    /// needed, then runs `copy` with the mapping and the offset inside it; for a segment on
    /// another node, `remote` with the data connection, whether the handle is in implicit
    /// mode, and the revocation check.
    #[inline]
    fn access(
        &self,
        Access { caller, offset, bytes, align, write: write_access }: Access,
        copy: impl FnOnce(&Mapping, usize) -> std::result::Result<(), rsm_os::mem::OutOfBounds>,
        remote: impl FnOnce(&RemoteConn, bool, &dyn Fn() -> bool) -> Result<()>,
    ) -> Result<()> {
        if offset % align != 0 {
            return Err(Error::BadMemAlignment);
        }
        let inner = &*self.inner;
        if let Transport::Remote(rc) = &inner.transport {
            return self.access_remote(rc, caller, offset, bytes, write_access, remote);
        }
        let mut st = read(&inner.state);
        if st.disconnected {
            return Err(Error::BadSegHndl);
        }
        if st.map.is_none() {
            drop(st);
            self.map_implicitly()?;
            st = read(&inner.state);
            if st.disconnected {
                return Err(Error::BadSegHndl);
            }
        }
        let Some(m) = st.map.as_ref() else { return Err(Error::SegNotMapped) };
        let needed = if write_access { perm::WRITE } else { perm::READ };
        // What the mapping allows: the connection's rights for an implicit mapping, at most
        // those for an explicit one (map refuses more), so one test covers both (a read-only
        // mapping of a read-write connection takes no put through it).
        if m.perm & needed == 0 {
            return Err(Error::PermDenied);
        }
        // Any byte outside an explicit window is BAD_OFFSET; past the end of the segment
        // (implicit whole-segment mapping) it is BAD_LENGTH (RSMAPI 3.7, "Bounds").
        let rel = offset.checked_sub(m.offset).filter(|rel| rel.checked_add(bytes).is_some_and(|end| end <= m.len));
        let Some(rel) = rel else {
            return Err(if m.implicit { Error::BadLength } else { Error::BadOffset });
        };
        let implicit = inner.mode.load(Ordering::Relaxed) == BarrierMode::Implicit as u8;
        if implicit {
            if caller == Caller::Single && inner.barrier.load(Ordering::Relaxed) == 0 {
                return Err(Error::BarrierUninitialized);
            }
            if self.is_revoked() {
                drop(st);
                self.scrap_if_revoked();
                return Err(Error::ConnAborted);
            }
        }
        copy(&m.mapping, rel).map_err(|_| Error::BadLength)?;
        if implicit {
            fence(Ordering::SeqCst);
            if self.is_revoked() {
                drop(st);
                self.scrap_if_revoked();
                return Err(Error::ConnAborted);
            }
        }
        Ok(())
    }

    /// The checks of [`ImportSegment::access`] for a segment on another node, then the
    /// transfer over the data connection: individually checked in implicit mode; in explicit
    /// mode puts are pipelined and the failures of puts and gets come with the barrier close.
    fn access_remote(
        &self,
        rc: &RemoteConn,
        caller: Caller,
        offset: usize,
        bytes: usize,
        write_access: bool,
        op: impl FnOnce(&RemoteConn, bool, &dyn Fn() -> bool) -> Result<()>,
    ) -> Result<()> {
        let inner = &*self.inner;
        if read(&inner.state).disconnected {
            return Err(Error::BadSegHndl);
        }
        let needed = if write_access { perm::WRITE } else { perm::READ };
        if inner.rights & needed == 0 {
            return Err(Error::PermDenied);
        }
        if offset.checked_add(bytes).is_none_or(|end| end > inner.size) {
            return Err(Error::BadLength);
        }
        let implicit = inner.mode.load(Ordering::Relaxed) == BarrierMode::Implicit as u8;
        if implicit {
            if caller == Caller::Single && inner.barrier.load(Ordering::Relaxed) == 0 {
                return Err(Error::BarrierUninitialized);
            }
            if self.is_revoked() {
                return Err(Error::ConnAborted);
            }
        }
        let revoked = || self.is_revoked();
        // A get is always synchronous; a put waits for its status only in implicit mode. In
        // explicit mode the failures of both belong to the window (reported by its close).
        op(rc, implicit, &revoked)
    }

    #[cold]
    fn map_implicitly(&self) -> Result<()> {
        let mut st = write(&self.inner.state);
        if st.map.is_some() || st.disconnected {
            return Ok(());
        }
        if self.is_revoked() {
            return Err(Error::ConnAborted);
        }
        let Transport::Local { memfd, .. } = &self.inner.transport else {
            return Err(Error::MapFailed);
        };
        let prot = if self.inner.rights & perm::WRITE != 0 {
            Prot::ReadWrite
        } else if self.inner.rights & perm::READ != 0 {
            Prot::Read
        } else {
            Prot::None
        };
        let len = rsm_os::page_round_up(self.inner.size).ok_or(Error::BadLength)?;
        let mapping = Mapping::map_shared(memfd, len, prot).map_err(|e| match e {
            rsm_os::Errno::NOMEM | rsm_os::Errno::AGAIN => Error::InsufficientResources,
            rsm_os::Errno::ACCESS => Error::BadPerms,
            _ => Error::MapFailed,
        })?;
        st.map = Some(MapState { mapping, offset: 0, len: self.inner.size, implicit: true, perm: self.inner.rights });
        Ok(())
    }

    /// Copies `src` into the segment at `offset` (`rsm_memseg_import_put`).
    ///
    /// # Errors
    ///
    /// In the RSMAPI order: [`Error::BadSegHndl`] (disconnected), implicit-mapping errors,
    /// [`Error::PermDenied`] (no write right), [`Error::BadOffset`] (not entirely inside an
    /// explicit mapping's window) or [`Error::BadLength`] (past the end), then in implicit mode
    /// [`Error::BarrierUninitialized`] and [`Error::ConnAborted`].
    #[doc(alias = "rsm_memseg_import_put")]
    pub fn put(&self, offset: usize, src: &[u8]) -> Result<()> {
        self.put_as(Caller::Single, offset, src)
    }

    pub(crate) fn put_as(&self, caller: Caller, offset: usize, src: &[u8]) -> Result<()> {
        self.access(
            Access { caller, offset, bytes: src.len(), align: 1, write: true },
            |m, at| m.write_at(at, src),
            |rc, ack, rv| rc.put(offset, src, 1, ack, rv),
        )
    }

    /// Copies bytes of the segment at `offset` into `dst` (`rsm_memseg_import_get`).
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::put`], with the read right.
    #[doc(alias = "rsm_memseg_import_get")]
    pub fn get(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        self.get_as(Caller::Single, offset, dst)
    }

    pub(crate) fn get_as(&self, caller: Caller, offset: usize, dst: &mut [u8]) -> Result<()> {
        let len = dst.len();
        let p = dst.as_mut_ptr();
        self.access(
            Access { caller, offset, bytes: len, align: 1, write: false },
            |m, at| m.read_at(at, dst),
            |rc, implicit, rv| {
                // SAFETY: `dst` was only lent to the local closure, which this path does not
                // run; p..p+len is the caller's exclusive slice.
                let d = unsafe { std::slice::from_raw_parts_mut(p, len) };
                rc.get(offset, d, 1, !implicit, rv)
            },
        )
    }

    fn put_elems<T: Elem>(&self, offset: usize, src: &[T]) -> Result<()> {
        let w = std::mem::size_of::<T>();
        self.access(
            Access { caller: Caller::Single, offset, bytes: std::mem::size_of_val(src), align: w, write: true },
            |m, at| m.write_elems(at, src),
            |rc, ack, rv| rc.put(offset, &rsm_os::mem::elems_to_bytes(src), w, ack, rv),
        )
    }

    fn get_elems<T: Elem>(&self, offset: usize, dst: &mut [T]) -> Result<()> {
        let w = std::mem::size_of::<T>();
        let n = dst.len();
        let len = std::mem::size_of_val(dst);
        let p = dst.as_mut_ptr();
        self.access(
            Access { caller: Caller::Single, offset, bytes: len, align: w, write: false },
            |m, at| m.read_elems(at, dst),
            |rc, implicit, rv| {
                let mut bytes = vec![0u8; len];
                rc.get(offset, &mut bytes, w, !implicit, rv)?;
                // SAFETY: `dst` was only lent to the local closure, which this path does not run;
                // p..p+n is the caller's exclusive slice.
                rsm_os::mem::bytes_to_elems(&bytes, unsafe { std::slice::from_raw_parts_mut(p, n) });
                Ok(())
            },
        )
    }

    /// Stores `count` items read from `src` at `offset`: the raw-pointer form of
    /// [`ImportSegment::put`] (`T = u8`) and `put8`..`put64`, for callers whose buffers must
    /// stay behind a pointer (the C ABI: a C buffer may itself be a mapped segment that
    /// other processes change, so it is never seen as a Rust slice).
    ///
    /// # Safety
    ///
    /// `src` must be aligned for `T` and valid for reading `count` items during the call.
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::put`]; [`Error::BadMemAlignment`] for an offset that is not a
    /// multiple of the item size.
    #[doc(alias = "rsm_memseg_import_put")]
    pub unsafe fn put_raw<T: Elem>(&self, offset: usize, src: *const T, count: usize) -> Result<()> {
        // SAFETY: this function's contract.
        unsafe { self.put_raw_as(Caller::Single, offset, src, count) }
    }

    /// [`ImportSegment::put_raw`] for `caller`.
    ///
    /// # Safety
    ///
    /// As for [`ImportSegment::put_raw`].
    pub(crate) unsafe fn put_raw_as<T: Elem>(
        &self,
        caller: Caller,
        offset: usize,
        src: *const T,
        count: usize,
    ) -> Result<()> {
        // An overflowing size can only fail the bounds check, which comes after the others.
        let bytes = count.saturating_mul(std::mem::size_of::<T>());
        let w = std::mem::size_of::<T>();
        self.access(
            Access { caller, offset, bytes, align: w, write: true },
            |m, at| {
                // SAFETY: src is aligned and readable for count items (this function's contract).
                unsafe { m.write_from_raw(at, src, count) }
            },
            |rc, ack, rv| {
                let mut v = vec![0u8; bytes];
                // SAFETY: src is readable for count items = bytes bytes (contract); v is ours.
                unsafe { rsm_os::mem::copy_raw(src.cast::<u8>(), v.as_mut_ptr(), bytes) };
                rc.put(offset, &v, w, ack, rv)
            },
        )
    }

    /// Loads `count` items at `offset` into `dst`: the raw-pointer form of
    /// [`ImportSegment::get`] (`T = u8`) and `get8`..`get64` (see [`ImportSegment::put_raw`]).
    ///
    /// # Safety
    ///
    /// `dst` must be aligned for `T`, valid for writing `count` items during the call, and
    /// not reached through Rust references meanwhile.
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::get`]; [`Error::BadMemAlignment`] for an offset that is not a
    /// multiple of the item size.
    #[doc(alias = "rsm_memseg_import_get")]
    pub unsafe fn get_raw<T: Elem>(&self, offset: usize, dst: *mut T, count: usize) -> Result<()> {
        // SAFETY: this function's contract.
        unsafe { self.get_raw_as(Caller::Single, offset, dst, count) }
    }

    /// [`ImportSegment::get_raw`] for `caller`.
    ///
    /// # Safety
    ///
    /// As for [`ImportSegment::get_raw`].
    pub(crate) unsafe fn get_raw_as<T: Elem>(
        &self,
        caller: Caller,
        offset: usize,
        dst: *mut T,
        count: usize,
    ) -> Result<()> {
        let bytes = count.saturating_mul(std::mem::size_of::<T>());
        let w = std::mem::size_of::<T>();
        self.access(
            Access { caller, offset, bytes, align: w, write: false },
            |m, at| {
                // SAFETY: dst is aligned and writable for count items (this function's contract).
                unsafe { m.read_into_raw(at, dst, count) }
            },
            |rc, implicit, rv| {
                let mut v = vec![0u8; bytes];
                rc.get(offset, &mut v, w, !implicit, rv)?;
                // SAFETY: dst is writable for count items = bytes bytes (contract).
                unsafe { rsm_os::mem::copy_raw(v.as_ptr(), dst.cast::<u8>(), bytes) };
                Ok(())
            },
        )
    }

    /// Stores each byte of `src` (`rsm_memseg_import_put8`).
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::put`].
    #[doc(alias = "rsm_memseg_import_put8")]
    pub fn put8(&self, offset: usize, src: &[u8]) -> Result<()> {
        self.put_elems(offset, src)
    }
    /// Stores 16-bit items, each with one access (`rsm_memseg_import_put16`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an odd offset, else as for [`ImportSegment::put`].
    #[doc(alias = "rsm_memseg_import_put16")]
    pub fn put16(&self, offset: usize, src: &[u16]) -> Result<()> {
        self.put_elems(offset, src)
    }
    /// Stores 32-bit items (`rsm_memseg_import_put32`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an offset not a multiple of 4, else as for `put`.
    #[doc(alias = "rsm_memseg_import_put32")]
    pub fn put32(&self, offset: usize, src: &[u32]) -> Result<()> {
        self.put_elems(offset, src)
    }
    /// Stores 64-bit items (`rsm_memseg_import_put64`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an offset not a multiple of 8, else as for `put`.
    #[doc(alias = "rsm_memseg_import_put64")]
    pub fn put64(&self, offset: usize, src: &[u64]) -> Result<()> {
        self.put_elems(offset, src)
    }
    /// Loads bytes (`rsm_memseg_import_get8`).
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::get`].
    #[doc(alias = "rsm_memseg_import_get8")]
    pub fn get8(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        self.get_elems(offset, dst)
    }
    /// Loads 16-bit items (`rsm_memseg_import_get16`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an odd offset, else as for `get`.
    #[doc(alias = "rsm_memseg_import_get16")]
    pub fn get16(&self, offset: usize, dst: &mut [u16]) -> Result<()> {
        self.get_elems(offset, dst)
    }
    /// Loads 32-bit items (`rsm_memseg_import_get32`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an offset not a multiple of 4, else as for `get`.
    #[doc(alias = "rsm_memseg_import_get32")]
    pub fn get32(&self, offset: usize, dst: &mut [u32]) -> Result<()> {
        self.get_elems(offset, dst)
    }
    /// Loads 64-bit items (`rsm_memseg_import_get64`).
    ///
    /// # Errors
    ///
    /// [`Error::BadMemAlignment`] for an offset not a multiple of 8, else as for `get`.
    #[doc(alias = "rsm_memseg_import_get64")]
    pub fn get64(&self, offset: usize, dst: &mut [u64]) -> Result<()> {
        self.get_elems(offset, dst)
    }

    /// Copies between the segment and a registered local buffer (for putv/getv).
    pub(crate) fn copy_local(
        &self,
        offset: usize,
        local: &Mapping,
        local_off: usize,
        len: usize,
        put: bool,
    ) -> Result<()> {
        if local_off.checked_add(len).is_none_or(|e| e > local.len()) {
            return Err(Error::BadLength);
        }
        self.access(
            Access { caller: Caller::Vector, offset, bytes: len, align: 1, write: put },
            |m, at| {
                if put {
                    Mapping::copy_between(local, local_off, m, at, len)
                } else {
                    Mapping::copy_between(m, at, local, local_off, len)
                }
            },
            |rc, implicit, rv| {
                let mut v = vec![0u8; len];
                if put {
                    local.read_at(local_off, &mut v).map_err(|_| Error::BadLength)?;
                    rc.put(offset, &v, 1, implicit, rv)
                } else {
                    rc.get(offset, &mut v, 1, !implicit, rv)?;
                    local.write_at(local_off, &v).map_err(|_| Error::BadLength)
                }
            },
        )
    }

    /// Posts one event to the exporter. Dropped silently if the segment is no longer
    /// published.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected), [`Error::ConnAborted`] (agent gone).
    #[doc(alias = "rsm_intr_signal_post")]
    pub fn signal_post(&self, flags: PostFlags) -> Result<()> {
        self.check_connected()?;
        if self.is_revoked() {
            return Ok(());
        }
        let no_acc = flags.contains(PostFlags::NO_ACCUMULATE);
        match &self.inner.transport {
            Transport::Remote(rc) => rc.post(no_acc, &|| self.is_revoked()),
            Transport::Local { .. } if no_acc => {
                // The agent is the one poster that checks before adding, which makes the check
                // and the add one step.
                self.inner.ctl.node().call_in(
                    self.inner.epoch,
                    &Request::ImportPost { import: self.inner.import_id, no_accumulate: true },
                    &[],
                )?;
                Ok(())
            }
            Transport::Local { export_event, .. } => {
                rsm_os::event::post(export_event).map_err(crate::signal::errno_to_error)
            }
        }
    }

    /// Waits for one event posted to this import segment (by the exporter), and consumes it.
    /// `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`], [`Error::Timeout`], [`Error::Interrupted`].
    #[doc(alias = "rsm_intr_signal_wait")]
    pub fn signal_wait(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_connected()?;
        self.inner.counter.wait(timeout)
    }

    /// A descriptor for [`crate::wait_pollfd`] with `events = POLLRDNORM`; holding it keeps
    /// [`ImportSegment::disconnect`] from succeeding until [`ImportSegment::release_pollfd`].
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected, or cut off by the exporter: RSMAPI 3.10 wants a
    /// connected segment; illumos did not check).
    #[doc(alias = "rsm_memseg_get_pollfd")]
    pub fn get_pollfd(&self) -> Result<PollFd> {
        self.check_connected()?;
        if self.is_revoked() {
            return Err(Error::BadSegHndl);
        }
        Ok(self.inner.counter.get_pollfd())
    }

    /// Drops one reference taken by [`ImportSegment::get_pollfd`].
    ///
    /// # Errors
    ///
    /// [`Error::BadSegHndl`] (disconnected).
    #[doc(alias = "rsm_memseg_release_pollfd")]
    pub fn release_pollfd(&self) -> Result<()> {
        self.check_connected()?;
        self.inner.counter.release_pollfd();
        Ok(())
    }

    pub(crate) fn is_disconnected(&self) -> bool {
        read(&self.inner.state).disconnected
    }
}

impl ImportInner {
    fn is_revoked(&self) -> bool {
        self.gens.load(self.gen_cell) != Some(self.generation)
    }

    /// Ends the import at the agent. Over a network controller, first lets the exporting agent
    /// apply what this process sent without an answer (`RemoteConn::settle`; not from a forked
    /// child, whose data connection is the parent's socket too).
    fn end(&self) -> Result<()> {
        if let (Transport::Remote(rc), true) = (&self.transport, std::process::id() == self.owner_pid) {
            rc.settle(&|| self.is_revoked());
        }
        self.ctl.node().call_in(self.epoch, &Request::ImportDisconnect { import: self.import_id }, &[]).map(|_| ())
    }
}

impl Drop for ImportInner {
    fn drop(&mut self) {
        let disconnected = self.state.get_mut().unwrap_or_else(|p| p.into_inner()).disconnected;
        if !disconnected && std::process::id() == self.owner_pid {
            let _ = self.end();
        }
    }
}

/// A barrier (`rsmapi_barrier_t`): an error-detection window over accesses to one import
/// segment. A close that returns `Ok` means every access since the open completed.
#[derive(Debug)]
pub struct Barrier {
    seg: ImportSegment,
    id: u64,
    ty: BarrierType,
    opened: AtomicBool,
    destroyed: AtomicBool,
}

impl Barrier {
    /// The segment this barrier belongs to.
    pub fn segment(&self) -> &ImportSegment {
        &self.seg
    }

    /// Its type.
    pub fn barrier_type(&self) -> BarrierType {
        self.ty
    }

    fn check(&self) -> Result<()> {
        if self.destroyed.load(Ordering::Relaxed) { Err(Error::BarrierUninitialized) } else { Ok(()) }
    }

    /// Opens a window.
    ///
    /// # Errors
    ///
    /// [`Error::BarrierUninitialized`] (destroyed), [`Error::BadSegHndl`] (disconnected).
    #[doc(alias = "rsm_memseg_import_open_barrier")]
    pub fn open(&self) -> Result<()> {
        self.check()?;
        self.seg.check_connected()?;
        if let Transport::Remote(rc) = &self.seg.inner.transport {
            rc.open_window();
        }
        self.opened.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Orders the window: writes before it complete before writes after it.
    ///
    /// # Errors
    ///
    /// [`Error::BarrierUninitialized`], [`Error::ConnAborted`] (revoked, or disconnected by
    /// this process), [`Error::BarrierNotOpened`].
    #[doc(alias = "rsm_memseg_import_order_barrier")]
    pub fn order(&self) -> Result<()> {
        self.check()?;
        fence(Ordering::SeqCst);
        if self.seg.is_disconnected() {
            return Err(Error::ConnAborted);
        }
        if self.seg.is_revoked() {
            self.seg.scrap_if_revoked();
            return Err(Error::ConnAborted);
        }
        if !self.opened.load(Ordering::SeqCst) {
            return Err(Error::BarrierNotOpened);
        }
        Ok(())
    }

    /// Closes the window. `Ok` means every put, get, load and store through this segment
    /// since [`Barrier::open`] reached the exporter's memory.
    ///
    /// # Errors
    ///
    /// [`Error::BarrierUninitialized`], [`Error::ConnAborted`] (the connection was revoked
    /// since connect, or disconnected by this process: a torn-down connection, as RSMAPI's
    /// generation check reports it; returned by every later close),
    /// [`Error::BarrierNotOpened`], [`Error::BarrierFailure`] (a transfer in the window failed).
    #[doc(alias = "rsm_memseg_import_close_barrier")]
    pub fn close(&self) -> Result<()> {
        self.check()?;
        fence(Ordering::SeqCst);
        if self.seg.is_disconnected() {
            self.opened.store(false, Ordering::SeqCst);
            return Err(Error::ConnAborted);
        }
        if self.seg.is_revoked() {
            self.opened.store(false, Ordering::SeqCst);
            self.seg.scrap_if_revoked();
            return Err(Error::ConnAborted);
        }
        if !self.opened.swap(false, Ordering::SeqCst) {
            return Err(Error::BarrierNotOpened);
        }
        if let Transport::Remote(rc) = &self.seg.inner.transport {
            // One round trip: the agent answers after applying every earlier put, with the
            // first failure of the window.
            return rc.barrier(&|| self.seg.is_revoked());
        }
        Ok(())
    }

    /// Destroys the barrier; implicit-mode accesses then fail with
    /// [`Error::BarrierUninitialized`] until another barrier is initialised.
    ///
    /// # Errors
    ///
    /// [`Error::BarrierUninitialized`] (already destroyed).
    #[doc(alias = "rsm_memseg_import_destroy_barrier")]
    pub fn destroy(&self) -> Result<()> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Err(Error::BarrierUninitialized);
        }
        let _ = self.seg.inner.barrier.compare_exchange(self.id, 0, Ordering::SeqCst, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        let _ = self.destroy();
    }
}
