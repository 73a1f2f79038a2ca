//! Export side: create errors, T9 (publish rules), T12 (rebind), creator checks.
#![allow(unsafe_code)]

use rsm::{AccessEntry, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{PageBuf, TestAgent};
use std::ptr::NonNull;

const PAGE: usize = 4096;

fn acl(node: u32, perm: u32) -> [AccessEntry; 1] {
    [AccessEntry { node, perm }]
}

#[test]
fn create_errors_in_check_order() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    assert_eq!(ExportSegment::allocate(&ctl, 0, ExportFlags::empty()).unwrap_err(), Error::BadLength);
    assert_eq!(ExportSegment::allocate(&ctl, 100, ExportFlags::empty()).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(ExportSegment::allocate(&ctl, PAGE + 1, ExportFlags::empty()).unwrap_err(), Error::BadMemAlignment);
    let buf = PageBuf::new(4 * PAGE);
    let odd = NonNull::new(buf.ptr().as_ptr().wrapping_add(8)).unwrap();
    // SAFETY: every call below fails its checks before touching memory; buf outlives them.
    let create =
        |addr: NonNull<u8>, len: usize| unsafe { ExportSegment::create(&ctl, addr, len, ExportFlags::empty()) };
    assert_eq!(create(buf.ptr(), 0).unwrap_err(), Error::BadLength);
    assert_eq!(create(odd, PAGE).unwrap_err(), Error::BadMemAlignment);
    assert_eq!(create(buf.ptr(), 100).unwrap_err(), Error::BadMemAlignment);
    // Length 0 is checked before alignment.
    assert_eq!(create(odd, 0).unwrap_err(), Error::BadLength);
    // A range that is not mapped: page 1 of the address space (below every mapping).
    assert_eq!(create(NonNull::new(PAGE as *mut u8).unwrap(), PAGE).unwrap_err(), Error::BadAddr);
    // Flags: DONTWAIT is accepted.
    assert!(ExportSegment::allocate(&ctl, PAGE, ExportFlags::CREATE_SEG_DONTWAIT).is_ok());
}

#[test]
fn create_limits_of_the_node() {
    // 1 MiB of exportable memory, 3 segments (export + import) at once.
    let agent = TestAgent::start_with(1, &["[limits]", "max_segments = 3", "max_exported_bytes = 1048576"]);
    let ctl = agent.controller("loopback");
    // Over the controller's largest segment: BAD_LENGTH (checked by the library).
    assert_eq!(ExportSegment::allocate(&ctl, 2 << 20, ExportFlags::empty()).unwrap_err(), Error::BadLength);
    let a = ExportSegment::allocate(&ctl, 512 * 1024, ExportFlags::empty()).unwrap();
    // Under the per-segment limit but over the node total: INSUFFICIENT_MEM (the agent's
    // max-exported-memory).
    assert_eq!(ExportSegment::allocate(&ctl, 768 * 1024, ExportFlags::empty()).unwrap_err(), Error::InsufficientMem);
    let b = ExportSegment::allocate(&ctl, 256 * 1024, ExportFlags::empty()).unwrap();
    let id = a.publish(0, &[]).unwrap();
    let _imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    // Three segments now: no fourth, export or import.
    assert_eq!(ExportSegment::allocate(&ctl, PAGE, ExportFlags::empty()).unwrap_err(), Error::InsufficientResources);
    assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::InsufficientResources);
    // Destroying one frees its slot and its bytes.
    b.destroy().unwrap();
    assert!(ExportSegment::allocate(&ctl, 256 * 1024, ExportFlags::empty()).is_ok());
    let st = agent.status();
    assert_eq!((st.exports, st.imports), (1, 1), "the temporary segment above was dropped again");
}

#[test]
fn t9_publish_rules() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let a = ExportSegment::allocate(&ctl, PAGE, ExportFlags::empty()).unwrap();
    let b = ExportSegment::allocate(&ctl, PAGE, ExportFlags::empty()).unwrap();

    // System-assigned ids start at 0x80000000, count up, and are never reused.
    let id = a.publish(0, &acl(1, 0o666)).unwrap();
    assert!(id >= rsm::USER_APP_ID_BASE);
    assert_eq!(a.segment_id(), Some(id));
    assert_eq!(a.publish(0, &acl(1, 0o666)).unwrap_err(), Error::SegAlreadyPublished);
    // Already-published is reported before a reserved id.
    assert_eq!(a.publish(0x200000, &[]).unwrap_err(), Error::SegAlreadyPublished);
    let id_b = b.publish(0, &[]).unwrap();
    assert_eq!(id_b, id + 1);
    b.unpublish().unwrap();
    assert_eq!(b.segment_id(), None);
    assert_eq!(b.unpublish().unwrap_err(), Error::SegNotPublished);
    let id_b2 = b.publish(0, &[]).unwrap();
    assert_eq!(id_b2, id + 2, "system ids are never reused");
    b.unpublish().unwrap();

    // Reserved ranges: 1..=0x3FFFFF and 0x80000000.. .
    for bad in [1, 0x0F_FFFF, 0x10_0000, 0x20_0000, 0x3F_FFFF, 0x8000_0000, 0x8000_0001, u32::MAX] {
        assert_eq!(b.publish(bad, &[]).unwrap_err(), Error::ReservedSegid, "id {bad:#x}");
    }
    // HPC/OPS ranges and the rest up to 0x7FFFFFFF are accepted as given.
    assert_eq!(b.publish(0x40_0000, &[]).unwrap(), 0x40_0000);
    b.unpublish().unwrap();
    assert_eq!(b.publish(0x7FFF_FFFF, &[]).unwrap(), 0x7FFF_FFFF);
    b.unpublish().unwrap();

    // One id, two segments: the second gets SEGID_IN_USE; unpublishing frees the id.
    a.unpublish().unwrap();
    assert_eq!(a.publish(0x600000, &[]).unwrap(), 0x600000);
    assert_eq!(b.publish(0x600000, &[]).unwrap_err(), Error::SegidInUse);
    assert_eq!(b.segment_id(), None);
    a.unpublish().unwrap();
    assert_eq!(b.publish(0x600000, &[]).unwrap(), 0x600000);
    // An importer reaches b under it now.
    b.write_at(0, b"segment b").unwrap();
    let imp = ImportSegment::connect(&ctl, 1, 0x600000, perm::READ).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let mut got = [0u8; 9];
    imp.get(0, &mut got).unwrap();
    assert_eq!(&got, b"segment b");
}

#[test]
fn t9_acl_validation() {
    let agent = TestAgent::start(3);
    let ctl = agent.controller("loopback");
    let s = ExportSegment::allocate(&ctl, PAGE, ExportFlags::empty()).unwrap();
    assert_eq!(s.publish(0, &acl(3, 0o777)).unwrap_err(), Error::BadAcl);
    assert_eq!(s.publish(0, &acl(3, 0o700)).unwrap_err(), Error::BadAcl);
    assert_eq!(s.publish(0, &acl(3, 0o1000)).unwrap_err(), Error::BadAcl);
    assert_eq!(s.publish(0, &acl(65, 0o666)).unwrap_err(), Error::BadAcl);
    // On loopback the list may only name the local node, once.
    assert_eq!(s.publish(0, &acl(4, 0o666)).unwrap_err(), Error::BadAcl);
    let two = [AccessEntry { node: 3, perm: 0o666 }, AccessEntry { node: 3, perm: 0o600 }];
    assert_eq!(s.publish(0, &two).unwrap_err(), Error::BadAcl);
    let many: Vec<AccessEntry> = (0..65).map(|n| AccessEntry { node: n % 64, perm: 0o666 }).collect();
    assert_eq!(s.publish(0, &many).unwrap_err(), Error::BadAcl);
    assert_eq!(s.segment_id(), None, "a refused publish leaves the segment unpublished");
    // 0611 is "at most 0666" as a number, so it passes (spec 3.4).
    let id = s.publish(0, &acl(3, 0o611)).unwrap();
    assert_eq!(agent.segments().iter().find(|i| i.segment_id == Some(id)).unwrap().acl, acl(3, 0o611).to_vec());
    // Republish validates the same way and keeps the old list on failure.
    assert_eq!(s.republish(&acl(3, 0o777)).unwrap_err(), Error::BadAcl);
    assert_eq!(s.republish(&acl(9, 0o666)).unwrap_err(), Error::BadAcl);
    assert_eq!(agent.segments().iter().find(|i| i.segment_id == Some(id)).unwrap().acl, acl(3, 0o611).to_vec());
    s.republish(&[]).unwrap();
    assert!(agent.segments().iter().find(|i| i.segment_id == Some(id)).unwrap().acl.is_empty());
    s.unpublish().unwrap();
    assert_eq!(s.republish(&[]).unwrap_err(), Error::SegNotPublished);
}

#[test]
fn destroyed_segment_is_a_bad_handle() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let s = ExportSegment::allocate(&ctl, PAGE, ExportFlags::ALLOW_REBIND).unwrap();
    let id = s.publish(0, &[]).unwrap();
    s.destroy().unwrap();
    assert_eq!(s.destroy().unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.publish(0, &[]).unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.republish(&[]).unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.unpublish().unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.write_at(0, b"x").unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.read_at(0, &mut [0u8; 1]).unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.signal_post(rsm::PostFlags::empty()).unwrap_err(), Error::BadSegHndl);
    assert_eq!(s.get_pollfd().unwrap_err(), Error::BadSegHndl);
    let buf = PageBuf::new(PAGE);
    // SAFETY: the segment is destroyed, so rebind fails before touching the buffer.
    assert_eq!(unsafe { s.rebind(buf.ptr(), PAGE) }.unwrap_err(), Error::BadSegHndl);
    // Destroy unpublished it: the id is gone.
    assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::SegNotPublished);
    assert_eq!(agent.status().exports, 0);
}

#[test]
fn t9_creator_checks_from_a_forked_child() {
    let agent = TestAgent::start(1);
    let mut p = agent.puppet();
    let h = p.ok("export 4096 rebind");
    let b = p.ok("buf 4096 zz");
    // Not published yet: the child may not publish it.
    assert_eq!(p.ok(&format!("fork publish {h} 0")), "err RSMERR_NOT_CREATOR");
    assert_eq!(p.ok(&format!("forkpublish {h} 0x600000")), "RSMERR_NOT_CREATOR");
    // A reserved id is refused before the creator check (spec 3.4 check order).
    assert_eq!(p.ok(&format!("fork publish {h} 0x200000")), "err RSMERR_RESERVED_SEGID");
    let id = p.num(&format!("publish {h} 0 1:666"));
    assert_eq!(p.ok(&format!("fork unpublish {h}")), "err RSMERR_NOT_CREATOR");
    assert_eq!(p.ok(&format!("fork republish {h} 1:600")), "err RSMERR_NOT_CREATOR");
    assert_eq!(p.ok(&format!("fork rebind {h} {b}")), "err RSMERR_NOT_CREATOR");
    // NOT_CREATOR is reported before a wrong length (spec 3.4 rebind order).
    let small = p.ok("buf 8192");
    assert_eq!(p.ok(&format!("fork rebind {h} {small}")), "err RSMERR_NOT_CREATOR");
    assert_eq!(p.err(&format!("rebind {h} {small}")), "RSMERR_BAD_LENGTH");
    // Destroy from the child frees the child's copy of the handle only (RSMAPI 3.4 makes
    // publish, republish, unpublish and rebind the creator's, not destroy).
    assert_eq!(p.ok(&format!("fork destroy {h}")), "ok");
    // Neither that nor the child's exit took the segment with it; the creator still can do
    // it all.
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id as u32, perm::RDWR).unwrap();
    assert!(!imp.is_revoked());
    p.ok(&format!("republish {h} 1:600"));
    p.ok(&format!("unpublish {h}"));
    assert!(imp.is_revoked());
    p.ok(&format!("destroy {h}"));
}

#[test]
fn create_over_caller_memory_keeps_contents_and_gives_them_back() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let buf = PageBuf::filled(2 * PAGE, b"caller-data ");
    // SAFETY: buf outlives the segment (declared before it, destroyed explicitly below) and
    // is reached only through raw copies.
    let seg = unsafe { ExportSegment::create(&ctl, buf.ptr(), buf.len(), ExportFlags::empty()) }.unwrap();
    assert_eq!(seg.as_ptr(), buf.ptr().as_ptr(), "the caller's address keeps working");
    let mut got = [0u8; 12];
    seg.read_at(0, &mut got).unwrap();
    assert_eq!(&got, b"caller-data ", "re-backing kept the contents");
    let id = seg.publish(0, &[]).unwrap();
    // Another process writes; the caller sees it through its own pointer, and vice versa.
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("barrier {h}"));
    p.ok(&format!("put {h} 100 from-importer"));
    assert_eq!(buf.read_vec(100, 13), b"from-importer");
    buf.write(200, b"from-caller");
    assert_eq!(p.ok(&format!("get {h} 200 11")), "from-caller");
    // Destroy: the caller keeps its memory with the last contents, and the importer is cut off.
    seg.destroy().unwrap();
    assert_eq!(buf.read_vec(100, 13), b"from-importer");
    assert_eq!(p.err(&format!("put {h} 100 too-late")), "RSMERR_CONN_ABORTED");
    buf.write(0, b"still mine");
    assert_eq!(buf.read_vec(0, 10), b"still mine");
}

#[test]
fn t12_rebind_errors() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let a = PageBuf::new(2 * PAGE);
    let other = PageBuf::new(2 * PAGE);
    let small = PageBuf::new(PAGE);
    // SAFETY: the buffers outlive the segments (declared first, dropped last) and are only
    // reached through raw copies; failing calls do not touch memory.
    let create = |buf: &PageBuf, f: ExportFlags| unsafe { ExportSegment::create(&ctl, buf.ptr(), buf.len(), f) };
    // SAFETY: as above.
    let rebind = |seg: &ExportSegment, addr: NonNull<u8>, len: usize| unsafe { seg.rebind(addr, len) };
    let fixed = create(&a, ExportFlags::empty()).unwrap();
    assert_eq!(rebind(&fixed, other.ptr(), other.len()).unwrap_err(), Error::RebindNotAllowed);
    fixed.destroy().unwrap();

    let seg = create(&a, ExportFlags::ALLOW_REBIND).unwrap();
    let odd = NonNull::new(other.ptr().as_ptr().wrapping_add(1)).unwrap();
    assert_eq!(rebind(&seg, odd, other.len()).unwrap_err(), Error::BadAddr);
    assert_eq!(rebind(&seg, small.ptr(), small.len()).unwrap_err(), Error::BadLength);
    assert_eq!(rebind(&seg, other.ptr(), 3 * PAGE).unwrap_err(), Error::BadLength);
    // Overlapping the current range, or not mapped at all.
    let half = NonNull::new(a.ptr().as_ptr().wrapping_add(PAGE)).unwrap();
    assert_eq!(rebind(&seg, half, a.len()).unwrap_err(), Error::BadAddr);
    assert_eq!(rebind(&seg, NonNull::new(PAGE as *mut u8).unwrap(), a.len()).unwrap_err(), Error::BadAddr);
    // Same address: a successful no-op.
    seg.write_at(0, b"same").unwrap();
    rebind(&seg, a.ptr(), a.len()).unwrap();
    assert_eq!(seg.as_ptr(), a.ptr().as_ptr());
    assert_eq!(a.read_vec(0, 4), b"same");
    seg.destroy().unwrap();
}

#[test]
fn t12_rebind_importers_follow_the_new_memory() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let old = PageBuf::filled(2 * PAGE, b"OLD-");
    let new = PageBuf::filled(2 * PAGE, b"NEW-");
    // SAFETY: both buffers outlive the segment (declared first) and are reached only through
    // raw copies.
    let seg = unsafe { ExportSegment::create(&ctl, old.ptr(), old.len(), ExportFlags::ALLOW_REBIND) }.unwrap();
    let id = seg.publish(0, &[]).unwrap();

    // One importer that mapped explicitly, one that uses put/get (implicit mapping), both in
    // another process; one in this process.
    let mut p = agent.puppet();
    let m = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("map {m} 600"));
    p.ok(&format!("barrier {m}"));
    p.ok(&format!("mode {m} explicit"));
    let g = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("barrier {g}"));
    assert_eq!(p.ok(&format!("get {g} 0 8")), "OLD-OLD-");
    assert_eq!(p.ok(&format!("load {m} 4 8")), "OLD-OLD-");
    let local = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = local.init_barrier(BarrierType::Node).unwrap();

    // SAFETY: as above.
    unsafe { seg.rebind(new.ptr(), new.len()) }.unwrap();
    assert_eq!(seg.as_ptr(), new.ptr().as_ptr());
    assert_eq!(seg.segment_id(), Some(id), "rebind keeps the id");

    // Importers stay connected (no revocation) and see the new memory.
    assert_eq!(p.ok(&format!("get {g} 0 8")), "NEW-NEW-");
    assert_eq!(p.ok(&format!("load {m} 4 8")), "NEW-NEW-");
    let mut got = [0u8; 4];
    local.get(8, &mut got).unwrap();
    assert_eq!(&got, b"NEW-");
    assert!(!local.is_revoked());
    p.ok(&format!("open {m}"));
    p.ok(&format!("store {m} 16 mapped-write"));
    p.ok(&format!("close {m}"));
    p.ok(&format!("put {g} 40 put-write"));
    assert_eq!(new.read_vec(16, 12), b"mapped-write");
    assert_eq!(new.read_vec(40, 9), b"put-write");
    // The old buffer is the caller's private memory again: untouched by importers, and
    // what the caller writes there reaches nobody.
    assert_eq!(old.read_vec(16, 12), b"OLD-OLD-OLD-");
    assert_eq!(old.read_vec(40, 9), b"OLD-OLD-O");
    old.write(0, b"secret!!");
    assert_eq!(p.ok(&format!("get {g} 0 8")), "NEW-NEW-");
    assert_eq!(p.ok(&format!("load {m} 0 8")), "NEW-NEW-");
    // A fresh importer sees the new memory too.
    let h = p.ok(&format!("connect 1 {id} 400"));
    p.ok(&format!("barrier {h}"));
    assert_eq!(p.ok(&format!("get {h} 16 12")), "mapped-write");
    seg.destroy().unwrap();
}

#[test]
fn t12_rebind_of_rsm_allocated_memory_in_another_process() {
    // Exporter in a puppet, with memory rsm allocated; it rebinds onto a buffer of its own.
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let h = e.ok("export 8192 rebind");
    e.ok(&format!("write {h} 0 before"));
    let id = e.num(&format!("publish {h} 0"));
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id as u32, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let b = e.ok("buf 8192 after-");
    e.ok(&format!("rebind {h} {b}"));
    let mut got = [0u8; 6];
    imp.get(0, &mut got).unwrap();
    assert_eq!(&got, b"after-");
    imp.put(100, b"through-rebind").unwrap();
    assert_eq!(e.ok(&format!("bufread {b} 100 14")), "through-rebind");
    assert_eq!(e.ok(&format!("read {h} 100 14")), "through-rebind");
    e.ok(&format!("bufwrite {b} 200 direct"));
    let mut got = [0u8; 6];
    imp.get(200, &mut got).unwrap();
    assert_eq!(&got, b"direct");
}

/// Two live segments over the same caller pages cannot both re-back them (each would bring
/// memory of its own, and the first one's importers would silently stop seeing the caller's
/// writes): the second create, or a rebind onto exported pages, is `RSMERR_BAD_ADDR`. Once
/// the first is destroyed or rebound away, the pages can be exported again; the first
/// segment keeps working throughout.
#[test]
fn one_live_segment_per_caller_range() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let buf = PageBuf::filled(4 * PAGE, b"shared ");
    let (p, len) = (buf.ptr(), buf.len());
    let at = |off: usize| NonNull::new(p.as_ptr().wrapping_add(off)).unwrap();
    // SAFETY: the pages are this test's PageBufs', reached only through their raw copies and
    // mapped until they drop after every segment; failing calls do not touch memory.
    let create = |addr: NonNull<u8>, n: usize, f: ExportFlags| unsafe { ExportSegment::create(&ctl, addr, n, f) };
    // SAFETY: as above.
    let rebind = |seg: &ExportSegment, addr: NonNull<u8>, n: usize| unsafe { seg.rebind(addr, n) };
    let first = create(p, len, ExportFlags::ALLOW_REBIND).unwrap();
    let id = first.publish(0, &[]).unwrap();
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    for (off, n, what) in
        [(0, len, "the same range"), (PAGE, PAGE, "a page inside"), (3 * PAGE, 2 * PAGE, "overlapping the end")]
    {
        let r = create(at(off), n, ExportFlags::empty());
        assert_eq!(r.err(), Some(Error::BadAddr), "{what}");
    }
    // The first segment still shares the caller's pages with its importer.
    buf.write(8, b"after");
    let mut got = [0u8; 5];
    imp.get(8, &mut got).unwrap();
    assert_eq!(&got, b"after");

    // Rebind onto pages another segment exports: refused as well.
    let other = PageBuf::new(len);
    let second = create(other.ptr(), len, ExportFlags::ALLOW_REBIND).unwrap();
    assert_eq!(rebind(&second, p, len).unwrap_err(), Error::BadAddr);
    // Rebinding the first away frees its old pages for a new segment.
    let third_buf = PageBuf::new(len);
    rebind(&first, third_buf.ptr(), len).unwrap();
    let again = create(p, len, ExportFlags::empty()).unwrap();
    again.destroy().unwrap();
    // And destroy frees them too.
    second.destroy().unwrap();
    let again = create(other.ptr(), len, ExportFlags::empty()).unwrap();
    again.destroy().unwrap();
    imp.disconnect().unwrap();
    first.destroy().unwrap();
}
