//! Import side: T2 (put/get between processes), T5 (mapping), T6 (implicit mapping),
//! T7 (alignment, bounds, rights), connect errors.
#![allow(unsafe_code)]

use rsm::{AccessEntry, BarrierMode, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{PageBuf, TestAgent};
use std::ptr::NonNull;

const PAGE: usize = 4096;
const SIZE: usize = 4 * PAGE;

/// An agent, a published 16 KiB segment of this process, and an RDWR import of it with a
/// barrier.
fn setup() -> (TestAgent, ExportSegment, u32) {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, SIZE, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 1, perm: 0o666 }]).unwrap();
    (agent, seg, id)
}

fn exporter_bytes(seg: &ExportSegment, off: usize, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    seg.read_at(off, &mut v).unwrap();
    v
}

#[test]
fn t2_importer_process_puts_and_gets() {
    let (agent, seg, id) = setup();
    assert!(id >= 0x8000_0000);
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    assert_eq!(p.ok(&format!("rights {h}")), "600");
    p.ok(&format!("barrier {h}"));
    p.ok(&format!("put {h} 0 hello-from-the-importer"));
    assert_eq!(exporter_bytes(&seg, 0, 23), b"hello-from-the-importer");
    seg.write_at(SIZE - 6, b"at-end").unwrap();
    assert_eq!(p.ok(&format!("get {h} {} 6", SIZE - 6)), "at-end");
    p.ok(&format!("disconnect {h}"));
    assert_eq!(p.err(&format!("get {h} 0 1")), "RSMERR_BAD_SEG_HNDL");
}

#[test]
fn t2_exporter_process_and_typed_transfers() {
    // The exporter is another process; this process imports.
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let h = e.ok(&format!("export {SIZE}"));
    e.ok(&format!("write {h} 8 ABCD"));
    let id = e.num(&format!("publish {h} 0 1:666")) as u32;
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    assert_eq!((imp.size(), imp.node(), imp.segment_id(), imp.rights()), (SIZE, 1, id, perm::RDWR));
    assert_eq!(imp.mode().unwrap(), BarrierMode::Implicit, "new imports are in implicit mode");
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    assert_eq!(bar.barrier_type(), BarrierType::Node);
    let mut w = [0u32; 1];
    imp.get32(8, &mut w).unwrap();
    assert_eq!(w[0], u32::from_ne_bytes(*b"ABCD"));

    imp.put8(0, &[1, 2, 3]).unwrap();
    imp.put16(16, &[0xBEEF, 0xCAFE]).unwrap();
    imp.put32(32, &[0xDEAD_BEEF, 7]).unwrap();
    imp.put64(64, &[0x0123_4567_89AB_CDEF, u64::MAX]).unwrap();
    imp.put(128, b"bytes").unwrap();
    // Zero counts are accepted (no-ops).
    imp.put(0, &[]).unwrap();
    imp.get64(SIZE, &mut []).unwrap();

    // The exporter's memory has exactly these bytes (read by the exporting process).
    let mut raw = |off: usize, n: usize| -> Vec<u8> {
        let s = e.ok(&format!("read {h} {off} {n}"));
        s.into_bytes()
    };
    assert_eq!(raw(128, 5), b"bytes");
    let mut b8 = [0u8; 3];
    imp.get8(0, &mut b8).unwrap();
    assert_eq!(b8, [1, 2, 3]);
    let mut b16 = [0u16; 2];
    imp.get16(16, &mut b16).unwrap();
    assert_eq!(b16, [0xBEEF, 0xCAFE]);
    let mut b32 = [0u32; 2];
    imp.get32(32, &mut b32).unwrap();
    assert_eq!(b32, [0xDEAD_BEEF, 7]);
    let mut b64 = [0u64; 2];
    imp.get64(64, &mut b64).unwrap();
    assert_eq!(b64, [0x0123_4567_89AB_CDEF, u64::MAX]);
    // ...and a second importer in the exporter's own process agrees byte for byte.
    let h2 = e.ok(&format!("connect 1 {id} 400"));
    e.ok(&format!("barrier {h2}"));
    assert_eq!(e.ok(&format!("get {h2} 8 4")), "ABCD");
    let mut all = [0u8; 16];
    imp.get(64, &mut all).unwrap();
    assert_eq!(all[..8], 0x0123_4567_89AB_CDEFu64.to_ne_bytes());
    assert_eq!(all[8..], u64::MAX.to_ne_bytes());
    drop(bar);
    imp.disconnect().unwrap();
}

#[test]
fn connect_errors() {
    let (agent, _seg, id) = setup();
    let ctl = agent.controller("loopback");
    // Bits other than 0600 in perm (library check).
    assert_eq!(ImportSegment::connect(&ctl, 1, id, 0o700).unwrap_err(), Error::PermDenied);
    assert_eq!(ImportSegment::connect(&ctl, 1, id, 0o1000).unwrap_err(), Error::PermDenied);
    assert_eq!(ImportSegment::connect(&ctl, 1, id, 0o644).unwrap_err(), Error::PermDenied);
    // No such id on this node.
    assert_eq!(ImportSegment::connect(&ctl, 1, 0x7000_0000, perm::RDWR).unwrap_err(), Error::SegNotPublished);
    assert_eq!(ImportSegment::connect(&ctl, 1, id + 1, perm::RDWR).unwrap_err(), Error::SegNotPublished);
    // Loopback only reaches the local node; bad perm bits are reported first.
    assert_eq!(ImportSegment::connect(&ctl, 2, id, perm::RDWR).unwrap_err(), Error::CtlrNotPresent);
    assert_eq!(ImportSegment::connect(&ctl, 2, id, 0o700).unwrap_err(), Error::PermDenied);
    // perm 0 is a connection with no rights.
    let none = ImportSegment::connect(&ctl, 1, id, perm::NONE).unwrap();
    assert_eq!(none.rights(), 0);
    assert_eq!(none.map(perm::READ, 0, PAGE).unwrap_err(), Error::BadPerms);
    none.set_mode(BarrierMode::Explicit).unwrap();
    assert_eq!(none.get(0, &mut [0u8; 4]).unwrap_err(), Error::PermDenied);
    assert_eq!(none.put(0, b"x").unwrap_err(), Error::PermDenied);
    // The agent saw (and refused) only the two unknown ids; the rest the library refused.
    assert_eq!(agent.status().connects_refused, 2);
}

#[test]
fn t5_mapping() {
    let (agent, seg, id) = setup();
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    // Direct stores through the mapping reach the exporter; exporter writes are loaded.
    p.ok(&format!("map {h} 600"));
    p.ok(&format!("store {h} 4000 stored-directly"));
    assert_eq!(exporter_bytes(&seg, 4000, 15), b"stored-directly");
    seg.write_at(9000, b"exporter").unwrap();
    assert_eq!(p.ok(&format!("load {h} 9000 8")), "exporter");
    assert_eq!(p.err(&format!("map {h} 600")), "RSMERR_SEG_ALREADY_MAPPED");
    assert_eq!(p.err(&format!("disconnect {h}")), "RSMERR_SEG_STILL_MAPPED");
    p.ok(&format!("unmap {h}"));
    assert_eq!(p.err(&format!("unmap {h}")), "RSMERR_SEG_NOT_MAPPED");
    p.ok(&format!("disconnect {h}"));

    // Argument errors, in process (check order of spec 3.6).
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    assert_eq!(imp.map(0o777, 0, PAGE).unwrap_err(), Error::BadPerms);
    assert_eq!(imp.map(perm::RDWR, 0, 0).unwrap_err(), Error::BadLength);
    assert_eq!(imp.map(perm::RDWR, PAGE, SIZE).unwrap_err(), Error::BadLength);
    assert_eq!(imp.map(perm::RDWR, 0, SIZE + 1).unwrap_err(), Error::BadLength);
    assert_eq!(imp.map(perm::RDWR, 100, PAGE).unwrap_err(), Error::BadMemAlignment);
    // Bad perms before bad length before bad alignment.
    assert_eq!(imp.map(0o777, 100, 0).unwrap_err(), Error::BadPerms);
    assert_eq!(imp.map(perm::RDWR, 100, 0).unwrap_err(), Error::BadLength);
    let spot = PageBuf::new(2 * PAGE);
    let odd = NonNull::new(spot.ptr().as_ptr().wrapping_add(16)).unwrap();
    // SAFETY: the alignment check fails before anything is mapped.
    assert_eq!(unsafe { imp.map_fixed(odd, perm::RDWR, 0, PAGE) }.unwrap_err(), Error::BadMemAlignment);

    // A window [PAGE, PAGE + 2*PAGE): accesses are restricted to it.
    let ptr = imp.map(perm::RDWR, PAGE, 2 * PAGE).unwrap();
    imp.set_mode(BarrierMode::Explicit).unwrap();
    seg.write_at(PAGE, b"window-start").unwrap();
    let mut got = [0u8; 12];
    imp.get(PAGE, &mut got).unwrap();
    assert_eq!(&got, b"window-start");
    // SAFETY: ptr maps the window's first page (read-write, alive until unmap below).
    let first = unsafe { ptr.as_ptr().read_volatile() };
    assert_eq!(first, b'w');
    assert_eq!(imp.get(0, &mut got).unwrap_err(), Error::BadOffset);
    assert_eq!(imp.get(PAGE - 1, &mut got).unwrap_err(), Error::BadOffset);
    assert_eq!(imp.get(3 * PAGE, &mut got).unwrap_err(), Error::BadOffset);
    assert_eq!(imp.put(3 * PAGE + 8, b"x").unwrap_err(), Error::BadOffset);
    // An access that starts inside the window and runs past its end is outside it too.
    assert_eq!(imp.get(3 * PAGE - 4, &mut got).unwrap_err(), Error::BadOffset);
    imp.put(3 * PAGE - 4, b"last").unwrap();
    assert_eq!(exporter_bytes(&seg, 3 * PAGE - 4, 4), b"last");
    imp.unmap().unwrap();

    // A length that is not a page multiple: the window is exactly that long.
    imp.map(perm::READ, 0, 100).unwrap();
    imp.get(96, &mut [0u8; 4]).unwrap();
    assert_eq!(imp.get(97, &mut [0u8; 4]).unwrap_err(), Error::BadOffset);
    imp.unmap().unwrap();

    // RSM_MAP_FIXED at a page-aligned address we give up.
    let spot_addr = spot.ptr();
    // SAFETY: the range belongs to `spot`, which is forgotten below (never unmapped by us
    // again), and nothing else uses it.
    let at = unsafe { imp.map_fixed(spot_addr, perm::RDWR, 0, PAGE) }.unwrap();
    assert_eq!(at, spot_addr);
    spot.write(10, b"fixed");
    assert_eq!(exporter_bytes(&seg, 10, 5), b"fixed");
    imp.unmap().unwrap();
    std::mem::forget(spot);
    imp.disconnect().unwrap();
    assert_eq!(imp.map(perm::RDWR, 0, PAGE).unwrap_err(), Error::BadSegHndl);
}

#[test]
fn t5_mapping_rights_of_a_read_only_connection() {
    let (agent, seg, id) = setup();
    let ctl = agent.controller("loopback");
    let ro = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    assert_eq!(ro.rights(), perm::READ);
    assert_eq!(ro.map(perm::RDWR, 0, SIZE).unwrap_err(), Error::BadPerms);
    assert_eq!(ro.map(perm::WRITE, 0, SIZE).unwrap_err(), Error::BadPerms);
    let p = ro.map(perm::READ, 0, SIZE).unwrap();
    seg.write_at(0, b"ro").unwrap();
    // SAFETY: p maps the first page read-only; a load is allowed.
    assert_eq!(unsafe { p.as_ptr().read_volatile() }, b'r');
    ro.unmap().unwrap();
    // Implicit mapping uses the granted rights (not read+write as illumos did), so get works.
    let _bar = ro.init_barrier(BarrierType::Node).unwrap();
    let mut got = [0u8; 2];
    ro.get(0, &mut got).unwrap();
    assert_eq!(&got, b"ro");
    assert_eq!(ro.put(0, b"no").unwrap_err(), Error::PermDenied);
    let wo = ImportSegment::connect(&ctl, 1, id, perm::WRITE).unwrap();
    let _bar2 = wo.init_barrier(BarrierType::Node).unwrap();
    wo.put(2, b"wo").unwrap();
    assert_eq!(wo.get(0, &mut got).unwrap_err(), Error::PermDenied);
    assert_eq!(exporter_bytes(&seg, 0, 4), b"rowo");
}

#[test]
fn t6_implicit_mapping_interaction() {
    let (agent, seg, id) = setup();
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    imp.put(0, b"implicit").unwrap();
    assert_eq!(exporter_bytes(&seg, 0, 8), b"implicit");
    // The put mapped the whole segment implicitly.
    assert_eq!(imp.map(perm::RDWR, 0, SIZE).unwrap_err(), Error::SegAlreadyMapped);
    // Outside the segment it is BAD_LENGTH (not BAD_OFFSET: no explicit window).
    assert_eq!(imp.get(SIZE - 2, &mut [0u8; 4]).unwrap_err(), Error::BadLength);
    assert_eq!(imp.get(SIZE + PAGE, &mut [0u8; 1]).unwrap_err(), Error::BadLength);
    // unmap undoes an implicit mapping too; then an explicit map works.
    imp.unmap().unwrap();
    imp.map(perm::RDWR, 0, SIZE).unwrap();
    imp.unmap().unwrap();
    // Disconnect without unmap after an implicit mapping succeeds.
    imp.get(0, &mut [0u8; 1]).unwrap();
    imp.disconnect().unwrap();
    // Same in another process.
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("barrier {h}"));
    assert_eq!(p.ok(&format!("get {h} 0 8")), "implicit");
    assert_eq!(p.err(&format!("map {h} 600")), "RSMERR_SEG_ALREADY_MAPPED");
    p.ok(&format!("disconnect {h}"));
}

#[test]
fn t7_alignment_and_bounds() {
    let (agent, _seg, id) = setup();
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    assert_eq!(imp.get16(1, &mut [0u16; 1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.put16(3, &[1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.get32(2, &mut [0u32; 1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.put32(6, &[1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.get64(4, &mut [0u64; 1]).unwrap_err(), Error::BadMemAlignment);
    // The spec's T7 example get64(size-4) is misaligned, which the check order of 3.7 reports
    // first (as illumos does); aligned accesses past the end are BAD_LENGTH.
    assert_eq!(imp.get64(SIZE - 4, &mut [0u64; 1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.get64(SIZE - 8, &mut [0u64; 2]).unwrap_err(), Error::BadLength);
    assert_eq!(imp.get32(SIZE - 4, &mut [0u32; 2]).unwrap_err(), Error::BadLength);
    assert_eq!(imp.put16(SIZE, &[1]).unwrap_err(), Error::BadLength);
    assert_eq!(imp.put8(SIZE - 1, &[1, 2]).unwrap_err(), Error::BadLength);
    assert_eq!(imp.put(usize::MAX - 2, b"wrap").unwrap_err(), Error::BadLength);
    imp.get64(SIZE - 8, &mut [0u64; 1]).unwrap();
    // Put on a read-only connection.
    let ro = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    let _rbar = ro.init_barrier(BarrierType::Node).unwrap();
    assert_eq!(ro.put8(0, &[1]).unwrap_err(), Error::PermDenied);
    assert_eq!(ro.put64(0, &[1]).unwrap_err(), Error::PermDenied);
    // PERM_DENIED comes before bounds, alignment before both.
    assert_eq!(ro.put(SIZE * 2, b"x").unwrap_err(), Error::PermDenied);
    assert_eq!(ro.put16(SIZE * 2 + 1, &[1]).unwrap_err(), Error::BadMemAlignment);
    // After disconnect: BAD_SEG_HNDL, but alignment is still checked first.
    imp.disconnect().unwrap();
    assert_eq!(imp.get8(0, &mut [0u8; 1]).unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.get16(1, &mut [0u16; 1]).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(imp.disconnect().unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.unmap().unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.set_mode(BarrierMode::Explicit).unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.mode().unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.init_barrier(BarrierType::Node).unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.map(perm::RDWR, 0, PAGE).unwrap_err(), Error::BadSegHndl);
}

/// A put or get through an explicit mapping that allows less than the connection is
/// `RSMERR_PERM_DENIED` (the missing right, RSMAPI 3.7's check before the bounds), not a
/// length error; the segment is unchanged.
#[test]
fn t7_access_through_a_narrower_mapping_is_perm_denied() {
    let (agent, seg, id) = setup();
    let ctl = agent.controller("loopback");
    seg.write_at(0, b"original").unwrap();
    for (map_perm, put_ok, get_ok) in [(perm::READ, false, true), (perm::NONE, false, false), (perm::RDWR, true, true)]
    {
        let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
        let _bar = imp.init_barrier(BarrierType::Node).unwrap();
        imp.map(map_perm, 0, PAGE).unwrap();
        let put = imp.put(0, b"changed!");
        let mut back = [0u8; 8];
        let get = imp.get(0, &mut back);
        assert_eq!(put, if put_ok { Ok(()) } else { Err(Error::PermDenied) }, "put, map perm {map_perm:o}");
        assert_eq!(get, if get_ok { Ok(()) } else { Err(Error::PermDenied) }, "get, map perm {map_perm:o}");
        let want: &[u8] = if put_ok { b"changed!" } else { b"original" };
        assert_eq!(exporter_bytes(&seg, 0, 8), want, "map perm {map_perm:o}");
        if get_ok {
            assert_eq!(&back, want);
        }
        // The rights check comes before the bounds check, as for the connection's rights.
        if !put_ok {
            assert_eq!(imp.put(2 * PAGE, b"x"), Err(Error::PermDenied));
        }
        imp.unmap().unwrap();
        imp.disconnect().unwrap();
        seg.write_at(0, b"original").unwrap();
    }
}
