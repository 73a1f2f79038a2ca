//! Issue #3, remote data path: put/get of every width through `tcp0` against real agents, the
//! same error codes as on loopback, scatter/gather with local memory handles, explicit-mode
//! pipelining (close = every byte delivered), mapping refused remotely and plain memory for a
//! same-node import through `tcp0`. Remote variants of RSMAPI T2–T7, T9, T11, T12 and T15.

use rsm::{
    AccessEntry, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, IoVec, Local,
    LocalMemory, PostFlags, SgError, perm,
};
use rsm_testkit::{TestCluster, pattern, process_gone, process_state, wait_until};
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn acl(node: u32, mode: u32) -> [AccessEntry; 1] {
    [AccessEntry { node, perm: mode }]
}

fn read_all(seg: &ExportSegment) -> Vec<u8> {
    let mut v = vec![0u8; seg.size()];
    seg.read_at(0, &mut v).unwrap();
    v
}

/// Calls that must fail the same way on every transport, with the code RSMAPI gives them.
fn error_cases(imp: &ImportSegment) -> Vec<(&'static str, rsm::Result<()>, rsm::Result<()>)> {
    let size = imp.size();
    vec![
        ("put16 at an odd offset", imp.put16(1, &[1]), Err(Error::BadMemAlignment)),
        ("get16 at an odd offset", imp.get16(3, &mut [0u16; 1]), Err(Error::BadMemAlignment)),
        ("put32 at offset 2", imp.put32(2, &[1]), Err(Error::BadMemAlignment)),
        ("get32 at offset 6", imp.get32(6, &mut [0u32; 1]), Err(Error::BadMemAlignment)),
        ("put64 at offset 4", imp.put64(4, &[1]), Err(Error::BadMemAlignment)),
        ("get64 at offset 12", imp.get64(12, &mut [0u64; 1]), Err(Error::BadMemAlignment)),
        ("get16 misaligned and past the end", imp.get16(size + 1, &mut [0u16; 1]), Err(Error::BadMemAlignment)),
        ("get64 past the end", imp.get64(size - 8, &mut [0u64; 2]), Err(Error::BadLength)),
        ("put32 past the end", imp.put32(size - 4, &[1, 2]), Err(Error::BadLength)),
        ("put past the end", imp.put(size - 1, &[1, 2]), Err(Error::BadLength)),
        ("get at the end", imp.get(size, &mut [0u8; 1]), Err(Error::BadLength)),
        ("put8 past the end", imp.put8(size - 2, &[1, 2, 3]), Err(Error::BadLength)),
        ("put at a huge offset", imp.put(usize::MAX - 1, &[1, 2, 3, 4]), Err(Error::BadLength)),
        ("empty get past the end", imp.get(size + 1, &mut []), Err(Error::BadLength)),
        ("empty put at the end", imp.put(size, &[]), Ok(())),
        ("empty get64", imp.get64(8, &mut []), Ok(())),
    ]
}

/// A remote import and a loopback import of equal segments give the same answers to the same
/// bad calls (T3, T7), with the codes the contract names.
fn assert_same_errors(remote: &ImportSegment, local: &ImportSegment) {
    let r = error_cases(remote);
    let l = error_cases(local);
    for ((what, got_r, want), (_, got_l, _)) in r.into_iter().zip(l) {
        assert_eq!(got_r, want, "remote: {what}");
        assert_eq!(got_l, want, "loopback: {what}");
    }
}

#[test]
fn widths_bytes_and_the_error_codes_of_loopback() {
    let c = TestCluster::start(2);
    let ex_ctl = c.controller(1, "tcp0");
    let im_ctl = c.controller(2, "tcp0");
    let size = 64 * KIB;

    // tcp0 cannot map remote segments and says so.
    let a = im_ctl.attr();
    assert_eq!(a.max_import_map_size, 0);
    assert_eq!(a.tot_import_map_size, 0);
    assert_eq!(a.direct_access_sizes, rsm::DAS8 | rsm::DAS16 | rsm::DAS32 | rsm::DAS64);
    assert_eq!(a.page_size as usize, rsm_os::page_size());
    assert!(c.controller(2, "loopback").attr().max_import_map_size > 0);

    let seg = ExportSegment::allocate(&ex_ctl, size, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o666)).unwrap();
    assert!(id >= rsm::USER_APP_ID_BASE);
    // The loopback reference: an equal segment on the importing node.
    let lo_ctl = Controller::get_at(c.socket(2), None).unwrap();
    let lseg = ExportSegment::allocate(&lo_ctl, size, ExportFlags::empty()).unwrap();
    let lid = lseg.publish(0, &[]).unwrap();

    let imp = ImportSegment::connect(&im_ctl, 1, id, perm::RDWR).unwrap();
    let limp = ImportSegment::connect(&lo_ctl, 2, lid, perm::RDWR).unwrap();
    assert_eq!((imp.size(), imp.rights(), imp.node(), imp.segment_id()), (size, perm::RDWR, 1, id));

    // T3: implicit mode needs a barrier; explicit mode does not.
    for i in [&imp, &limp] {
        assert_eq!(i.mode(), Ok(BarrierMode::Implicit));
        assert_eq!(i.put(0, b"x"), Err(Error::BarrierUninitialized));
        assert_eq!(i.get(0, &mut [0u8; 1]), Err(Error::BarrierUninitialized));
        // Bounds come before the barrier check.
        assert_eq!(i.get(size, &mut [0u8; 1]), Err(Error::BadLength));
        i.set_mode(BarrierMode::Explicit).unwrap();
        i.put(0, b"explicit without a barrier").unwrap();
        let mut b = [0u8; 26];
        i.get(0, &mut b).unwrap();
        assert_eq!(&b, b"explicit without a barrier");
        i.set_mode(BarrierMode::Implicit).unwrap();
    }
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    let lbar = limp.init_barrier(BarrierType::Node).unwrap();

    // Every width, with repeat counts, lands in the exporter's memory as native items.
    imp.put8(1, &[1, 2, 3]).unwrap();
    imp.put16(6, &[0x1111, 0x2222, 0x3333, 0x4444, 0x5555]).unwrap();
    imp.put32(16, &[0xdead_beef, 0x0102_0304, 7]).unwrap();
    imp.put64(32, &[u64::MAX, 0x0123_4567_89ab_cdef]).unwrap();
    let mut m = [0u8; 48];
    seg.read_at(0, &mut m).unwrap();
    assert_eq!(&m[1..4], &[1, 2, 3]);
    for (k, v) in [0x1111u16, 0x2222, 0x3333, 0x4444, 0x5555].iter().enumerate() {
        assert_eq!(seg.load::<u16>(6 + 2 * k).unwrap(), *v);
    }
    assert_eq!(seg.load::<u32>(16).unwrap(), 0xdead_beef);
    assert_eq!(seg.load::<u32>(20).unwrap(), 0x0102_0304);
    assert_eq!(seg.load::<u32>(24).unwrap(), 7);
    assert_eq!(seg.load::<u64>(32).unwrap(), u64::MAX);
    assert_eq!(seg.load::<u64>(40).unwrap(), 0x0123_4567_89ab_cdef);

    // And the exporter's stores come back through every width.
    seg.store::<u64>(4096, 0x1122_3344_5566_7788).unwrap();
    seg.store::<u64>(4104, 42).unwrap();
    let mut g8 = [0u8; 16];
    imp.get8(4096, &mut g8).unwrap();
    let mut want = 0x1122_3344_5566_7788u64.to_ne_bytes().to_vec();
    want.extend_from_slice(&42u64.to_ne_bytes());
    assert_eq!(g8.to_vec(), want);
    let mut g16 = [0u16; 8];
    imp.get16(4096, &mut g16).unwrap();
    assert_eq!(g16[0], u16::from_ne_bytes([want[0], want[1]]));
    assert_eq!(g16[7], u16::from_ne_bytes([want[14], want[15]]));
    let mut g32 = [0u32; 4];
    imp.get32(4096, &mut g32).unwrap();
    assert_eq!(g32[1], u32::from_ne_bytes([want[4], want[5], want[6], want[7]]));
    let mut g64 = [0u64; 2];
    imp.get64(4096, &mut g64).unwrap();
    assert_eq!(g64, [0x1122_3344_5566_7788, 42]);

    // Byte put/get of a whole segment's worth, unaligned.
    let data = pattern(1, size - 3);
    imp.put(3, &data).unwrap();
    let mut back = vec![0u8; size - 3];
    imp.get(3, &mut back).unwrap();
    assert!(back == data);
    assert!(read_all(&seg)[3..] == data[..]);

    // Same error codes as loopback, in the same order (alignment, then bounds).
    assert_same_errors(&imp, &limp);

    // Read-only and write-only connections.
    let ro = ImportSegment::connect(&im_ctl, 1, id, perm::READ).unwrap();
    let lro = ImportSegment::connect(&lo_ctl, 2, lid, perm::READ).unwrap();
    let wo = ImportSegment::connect(&im_ctl, 1, id, perm::WRITE).unwrap();
    let lwo = ImportSegment::connect(&lo_ctl, 2, lid, perm::WRITE).unwrap();
    let _bars: Vec<_> = [&ro, &lro, &wo, &lwo].iter().map(|i| i.init_barrier(BarrierType::Node).unwrap()).collect();
    assert_eq!((ro.rights(), wo.rights()), (perm::READ, perm::WRITE));
    for (r, w) in [(&ro, &wo), (&lro, &lwo)] {
        assert_eq!(r.put(0, b"no"), Err(Error::PermDenied));
        assert_eq!(r.put64(8, &[1]), Err(Error::PermDenied));
        // The right is checked before the bounds, alignment before the right.
        assert_eq!(r.put(size, b"no"), Err(Error::PermDenied));
        assert_eq!(r.put16(1, &[1]), Err(Error::BadMemAlignment));
        r.get(0, &mut [0u8; 8]).unwrap();
        assert_eq!(w.get(0, &mut [0u8; 1]), Err(Error::PermDenied));
        assert_eq!(w.get32(0, &mut [0u32; 1]), Err(Error::PermDenied));
        w.put(0, b"w").unwrap();
        r.set_mode(BarrierMode::Explicit).unwrap();
        assert_eq!(r.put(0, b"no"), Err(Error::PermDenied));
    }
    let mut one = [0u8; 1];
    seg.read_at(0, &mut one).unwrap();
    assert_eq!(&one, b"w");

    // T5/T6 over the network: map is refused after the ordinary checks; put/get never map.
    assert_eq!(imp.map(0o777, 0, 4096).err(), Some(Error::BadPerms));
    assert_eq!(imp.map(perm::RDWR, 0, 0).err(), Some(Error::BadLength));
    assert_eq!(imp.map(perm::RDWR, 0, size + 1).err(), Some(Error::BadLength));
    assert_eq!(imp.map(perm::RDWR, 100, 4096).err(), Some(Error::BadMemAlignment));
    assert_eq!(ro.map(perm::RDWR, 0, 4096).err(), Some(Error::BadPerms));
    assert_eq!(imp.map(perm::RDWR, 0, 4096).err(), Some(Error::MapFailed));
    assert_eq!(ro.map(perm::READ, 0, size).err(), Some(Error::MapFailed));
    assert_eq!(imp.unmap(), Err(Error::SegNotMapped));

    // A destroyed barrier: implicit accesses need a new one.
    bar.destroy().unwrap();
    assert_eq!(imp.put(0, b"x"), Err(Error::BarrierUninitialized));
    assert_eq!(bar.destroy(), Err(Error::BarrierUninitialized));
    let bar2 = imp.init_barrier(BarrierType::Segment).unwrap();
    imp.put(0, b"y").unwrap();

    // Disconnect: the handle is dead, remotely too.
    drop(bar2);
    imp.disconnect().unwrap();
    assert_eq!(imp.put(0, b"x"), Err(Error::BadSegHndl));
    assert_eq!(imp.get(0, &mut [0u8; 1]), Err(Error::BadSegHndl));
    assert_eq!(imp.disconnect(), Err(Error::BadSegHndl));
    drop(lbar);
    limp.disconnect().unwrap();
    wait_until(Duration::from_secs(5), "the exporter's agent to forget the disconnected import", || {
        c.segments_of(1).iter().find(|s| s.segment_id == Some(id)).is_some_and(|s| s.importers == 2)
    });
}

#[test]
fn explicit_window_pipelines_and_a_clean_close_means_every_byte_arrived() {
    let c = TestCluster::start(2);
    let ex_ctl = c.controller(1, "tcp0");
    let im_ctl = c.controller(2, "tcp0");
    let size = 16 * MIB;
    let seg = ExportSegment::allocate(&ex_ctl, size, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o600)).unwrap();
    let imp = ImportSegment::connect(&im_ctl, 1, id, perm::RDWR).unwrap();
    imp.set_mode(BarrierMode::Explicit).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();

    // Puts are not answered: they complete while the exporting agent is frozen (SIGSTOP), and
    // the close after it thaws reports them all delivered.
    let agent = c.pid(1);
    bar.open().unwrap();
    c.freeze_node(1);
    let small = pattern(7, 64 * KIB);
    for (k, chunk) in small.chunks(4 * KIB).enumerate() {
        imp.put(k * 4 * KIB, chunk).unwrap();
    }
    let still_stopped = process_state(agent) == 'T';
    c.thaw_node(1);
    assert!(still_stopped, "the agent woke up before the puts returned: they were not pipelined");
    bar.close().unwrap();
    assert!(read_all(&seg)[..64 * KIB] == small[..]);

    // Large random data in every width, with an order barrier and overlapping rewrites; a
    // close that returns Ok means all of it is in the exporter's memory, byte for byte.
    let mut want = pattern(42, size);
    bar.open().unwrap();
    imp.put(0, &want[..5 * MIB + 3]).unwrap(); // split into 4 MiB frames
    let w64: Vec<u64> =
        want[6 * MIB..7 * MIB].chunks_exact(8).map(|b| u64::from_ne_bytes(b.try_into().unwrap())).collect();
    imp.put64(6 * MIB, &w64).unwrap();
    let w32: Vec<u32> =
        want[7 * MIB..8 * MIB].chunks_exact(4).map(|b| u32::from_ne_bytes(b.try_into().unwrap())).collect();
    imp.put32(7 * MIB, &w32).unwrap();
    bar.order().unwrap();
    let w16: Vec<u16> =
        want[8 * MIB..9 * MIB].chunks_exact(2).map(|b| u16::from_ne_bytes(b.try_into().unwrap())).collect();
    imp.put16(8 * MIB, &w16).unwrap();
    imp.put8(9 * MIB + 1, &want[9 * MIB + 1..10 * MIB - 1]).unwrap();
    imp.put(5 * MIB + 3, &want[5 * MIB + 3..6 * MIB]).unwrap();
    imp.put(10 * MIB - 1, &want[10 * MIB - 1..]).unwrap();
    imp.put(9 * MIB, &want[9 * MIB..9 * MIB + 1]).unwrap();
    // Later puts win over earlier ones in the same window.
    let over = pattern(43, 3 * MIB + 11);
    imp.put(2 * MIB + 5, &over).unwrap();
    want[2 * MIB + 5..2 * MIB + 5 + over.len()].copy_from_slice(&over);
    bar.close().unwrap();
    let got = read_all(&seg);
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "the exporter's memory differs after a clean close");

    // The window loop of T4: several rounds, each verified.
    for round in 0..5u64 {
        let d = pattern(100 + round, 256 * KIB);
        let off = round as usize * 512 * KIB + 8;
        bar.open().unwrap();
        imp.put(off, &d[..100 * KIB]).unwrap();
        bar.order().unwrap();
        imp.put(off + 100 * KIB, &d[100 * KIB..]).unwrap();
        bar.close().unwrap();
        let mut b = vec![0u8; d.len()];
        seg.read_at(off, &mut b).unwrap();
        assert!(b == d, "round {round}");
    }
    // Gets in explicit mode read what the window wrote.
    let mut b = vec![0u8; 4 * MIB + 5];
    imp.get(1, &mut b).unwrap();
    assert!(b[..] == read_all(&seg)[1..4 * MIB + 6]);
    assert_eq!(bar.close(), Err(Error::BarrierNotOpened));
    assert_eq!(c.pid(1), agent);
    assert!(!process_gone(agent));
}

#[test]
fn putv_getv_with_local_memory_and_implicit_sigpost() {
    let c = TestCluster::start(2);
    let ex_ctl = c.controller(1, "tcp0");
    let im_ctl = c.controller(2, "tcp0");
    let size = 64 * KIB;
    let seg = ExportSegment::allocate(&ex_ctl, size, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o666)).unwrap();
    let imp = ImportSegment::connect(&im_ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();

    let lm = LocalMemory::allocate(&im_ctl, 3 * 4096).unwrap();
    let src = pattern(5, 3 * 4096);
    lm.write_at(0, &src).unwrap();
    let va = pattern(6, 50);
    let mut iov = [
        IoVec { local: Local::Handle(&lm, 0), remote_offset: 0, len: 100 },
        IoVec { local: Local::Src(&va), remote_offset: 5000, len: 50 },
        IoVec { local: Local::Handle(&lm, 4096), remote_offset: 9000, len: 8192 },
    ];
    imp.putv(&mut iov, PostFlags::IMPLICIT_SIGPOST).unwrap();
    let mem = read_all(&seg);
    assert!(mem[..100] == src[..100]);
    assert!(mem[5000..5050] == va[..]);
    assert!(mem[9000..17192] == src[4096..]);
    // IMPLICIT_SIGPOST: exactly one event for the exporter.
    seg.signal_wait(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(200))), Err(Error::Timeout));

    // getv reverses it into another handle and plain memory.
    let lm2 = LocalMemory::allocate(&im_ctl, 3 * 4096).unwrap();
    let mut dst = vec![0u8; 50];
    {
        let mut iov = [
            IoVec { local: Local::Handle(&lm2, 10), remote_offset: 0, len: 100 },
            IoVec { local: Local::Dst(&mut dst), remote_offset: 5000, len: 50 },
            IoVec { local: Local::Handle(&lm2, 4096), remote_offset: 9000, len: 8192 },
        ];
        imp.getv(&mut iov, PostFlags::empty()).unwrap();
    }
    assert!(dst == va);
    let mut b = vec![0u8; 3 * 4096];
    lm2.read_at(0, &mut b).unwrap();
    assert!(b[10..110] == src[..100]);
    assert!(b[4096..] == src[4096..]);

    // Vector rules (T15): 0 or 17 entries, a bad entry stops the vector with the residual.
    assert_eq!(imp.putv(&mut [], PostFlags::empty()), Err(SgError { error: Error::BadSgio, residual: 0 }));
    let mut many: Vec<IoVec<'_>> =
        (0..17).map(|k| IoVec { local: Local::Handle(&lm, 0), remote_offset: k * 8, len: 8 }).collect();
    assert_eq!(imp.putv(&mut many, PostFlags::empty()).map_err(|e| e.error), Err(Error::BadSgio));
    let mut bad = [
        IoVec { local: Local::Handle(&lm, 0), remote_offset: 100, len: 8 },
        IoVec { local: Local::Handle(&lm, 0), remote_offset: size - 4, len: 8 },
        IoVec { local: Local::Handle(&lm, 0), remote_offset: 200, len: 8 },
    ];
    assert_eq!(imp.putv(&mut bad, PostFlags::IMPLICIT_SIGPOST), Err(SgError { error: Error::BadLength, residual: 2 }));
    // No event for a vector that failed.
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(100))), Err(Error::Timeout));

    // IMPLICIT_SIGPOST with NO_ACCUMULATE: two vectors, one pending event.
    let f = PostFlags::IMPLICIT_SIGPOST | PostFlags::NO_ACCUMULATE;
    let mut one = [IoVec { local: Local::Handle(&lm, 0), remote_offset: 0, len: 16 }];
    imp.putv(&mut one, f).unwrap();
    imp.putv(&mut one, f).unwrap();
    fence(&imp);
    seg.signal_wait(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(0))), Err(Error::Timeout));

    // A read-only connection cannot putv.
    let ro = ImportSegment::connect(&im_ctl, 1, id, perm::READ).unwrap();
    let _rbar = ro.init_barrier(BarrierType::Node).unwrap();
    let mut one = [IoVec { local: Local::Handle(&lm, 0), remote_offset: 0, len: 16 }];
    assert_eq!(ro.putv(&mut one, PostFlags::IMPLICIT_SIGPOST), Err(SgError { error: Error::PermDenied, residual: 1 }));
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(100))), Err(Error::Timeout));
}

/// A round trip on the import's data connection: everything sent before it (puts, posts) has
/// been applied by the exporting agent when it returns.
fn fence(imp: &ImportSegment) {
    imp.get(0, &mut [0u8; 1]).unwrap();
}

#[test]
fn same_node_import_through_tcp0_is_plain_memory() {
    let c = TestCluster::start(2);
    let ctl = c.controller(1, "tcp0");
    let seg = ExportSegment::allocate(&ctl, 8192, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(1, 0o666)).unwrap();
    // In this process: map works (it would not through tcp0 to another node).
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    imp.map(perm::RDWR, 0, 8192).unwrap();
    assert_eq!(imp.map(perm::RDWR, 0, 8192).err(), Some(Error::SegAlreadyMapped));
    imp.unmap().unwrap();
    // In another process on node 1, through tcp0: stores through the mapping reach the
    // exporter, and the exporter's writes are loads away.
    let mut pup = c.puppet(1);
    let h = pup.ok(&format!("connect 1 {id:#x} 600"));
    pup.ok(&format!("map {h} 600"));
    pup.ok(&format!("store {h} 100 stored-through-a-tcp0-mapping"));
    let mut b = [0u8; 29];
    seg.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"stored-through-a-tcp0-mapping");
    seg.write_at(4000, b"exporter-wrote").unwrap();
    assert_eq!(pup.ok(&format!("load {h} 4000 14")), "exporter-wrote");
    // A node-2 importer of the same segment cannot map it.
    let remote = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR);
    assert_eq!(remote.err(), Some(Error::SegNotPublishedToNode));
}

#[test]
fn ids_per_node_republish_and_rebind_seen_remotely() {
    let c = TestCluster::start(2);
    let (c1, c2) = (c.controller(1, "tcp0"), c.controller(2, "tcp0"));

    // T9: ids are per node; the same explicit id on two nodes names two segments.
    let s1 = ExportSegment::allocate(&c1, 4096, ExportFlags::empty()).unwrap();
    let s2 = ExportSegment::allocate(&c2, 4096, ExportFlags::empty()).unwrap();
    assert_eq!(
        s1.publish(0x60_0000, &[AccessEntry { node: 1, perm: 0o666 }, AccessEntry { node: 2, perm: 0o666 }]),
        Ok(0x60_0000)
    );
    assert_eq!(s2.publish(0x60_0000, &[]), Ok(0x60_0000));
    s1.write_at(0, b"node one").unwrap();
    s2.write_at(0, b"node two").unwrap();
    let i21 = ImportSegment::connect(&c2, 1, 0x60_0000, perm::READ).unwrap();
    let i12 = ImportSegment::connect(&c1, 2, 0x60_0000, perm::READ).unwrap();
    let (_b1, _b2) = (i21.init_barrier(BarrierType::Node).unwrap(), i12.init_barrier(BarrierType::Node).unwrap());
    let mut b = [0u8; 8];
    i21.get(0, &mut b).unwrap();
    assert_eq!(&b, b"node one");
    i12.get(0, &mut b).unwrap();
    assert_eq!(&b, b"node two");
    let dup = ExportSegment::allocate(&c1, 4096, ExportFlags::empty()).unwrap();
    assert_eq!(dup.publish(0x60_0000, &[]), Err(Error::SegidInUse));
    // Access lists on a network controller: many nodes are fine, bad entries are not.
    assert_eq!(dup.publish(0, &[AccessEntry { node: 65, perm: 0o666 }]), Err(Error::BadAcl));
    assert_eq!(dup.publish(0, &[AccessEntry { node: 2, perm: 0o777 }]), Err(Error::BadAcl));
    let long: Vec<AccessEntry> = (0..65).map(|n| AccessEntry { node: n % 64, perm: 0o666 }).collect();
    assert_eq!(dup.publish(0, &long), Err(Error::BadAcl));
    assert_eq!(ImportSegment::connect(&c2, 1, 0x60_0001, perm::READ).err(), Some(Error::SegNotPublished));
    // A loopback export is for its own node only.
    let lo =
        ExportSegment::allocate(&Controller::get_at(c.socket(1), None).unwrap(), 4096, ExportFlags::empty()).unwrap();
    let lo_id = lo.publish(0, &[]).unwrap();
    assert_eq!(ImportSegment::connect(&c2, 1, lo_id, perm::READ).err(), Some(Error::SegNotPublishedToNode));

    // T11: republish to another node; the connection keeps working, a new connect fails.
    let seg = ExportSegment::allocate(&c1, 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o666)).unwrap();
    let imp = ImportSegment::connect(&c2, 1, id, perm::RDWR).unwrap();
    imp.set_mode(BarrierMode::Explicit).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    seg.republish(&acl(1, 0o666)).unwrap();
    bar.open().unwrap();
    imp.put(0, b"still connected").unwrap();
    bar.close().unwrap();
    let mut b = [0u8; 15];
    seg.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"still connected");
    assert_eq!(ImportSegment::connect(&c2, 1, id, perm::RDWR).err(), Some(Error::SegNotPublishedToNode));
    seg.republish(&[]).unwrap();
    ImportSegment::connect(&c2, 1, id, perm::RDWR).unwrap().disconnect().unwrap();
    seg.unpublish().unwrap();
    assert_eq!(seg.republish(&acl(2, 0o666)), Err(Error::SegNotPublished));

    // T12: a rebind in the exporter (a puppet, caller memory) is seen by an importer on
    // another node that connected before it and by one that connects after.
    let mut ex = c.puppet(1);
    let b1 = ex.ok("buf 8192 old-contents");
    let b2 = ex.ok("buf 8192 new-contents");
    let b0 = ex.ok("buf 8192 fixed");
    // Pages a live segment exports cannot be exported a second time.
    let norebind = ex.ok(&format!("exportbuf {b0}"));
    assert_eq!(ex.err(&format!("exportbuf {b0} rebind")), "RSMERR_BAD_ADDR");
    let h = ex.ok(&format!("exportbuf {b1} rebind"));
    assert_eq!(ex.err(&format!("rebind {norebind} {b2}")), "RSMERR_REBIND_NOT_ALLOWED");
    let rid = ex.num(&format!("publish {h} 0 2:666")) as u32;
    let before = ImportSegment::connect(&c2, 1, rid, perm::RDWR).unwrap();
    let _bb = before.init_barrier(BarrierType::Node).unwrap();
    let mut b = [0u8; 12];
    before.get(0, &mut b).unwrap();
    assert_eq!(&b, b"old-contents");
    ex.ok(&format!("rebind {h} {b2}"));
    before.get(0, &mut b).unwrap();
    assert_eq!(&b, b"new-contents");
    let after = ImportSegment::connect(&c2, 1, rid, perm::READ).unwrap();
    let _ba = after.init_barrier(BarrierType::Node).unwrap();
    after.get(0, &mut b).unwrap();
    assert_eq!(&b, b"new-contents");
    // Remote puts reach the new buffer, not the old one.
    before.put(0, b"remote-write").unwrap();
    assert_eq!(ex.ok(&format!("bufread {b2} 0 12")), "remote-write");
    assert_eq!(ex.ok(&format!("bufread {b1} 0 12")), "old-contents");
    ex.ok(&format!("rebind {h} {b2}"));
}

#[test]
fn threads_share_one_remote_import() {
    let c = TestCluster::start(2);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 64 * KIB, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o666)).unwrap();
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    // Implicit-mode puts and gets from four threads at once on one handle: every answer goes
    // to the thread that asked.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let imp = imp.clone();
            std::thread::spawn(move || {
                let off = t as usize * 16 * KIB;
                for round in 0..25u64 {
                    let v = pattern(t * 1000 + round, 1000 + round as usize);
                    imp.put(off, &v).unwrap();
                    imp.put64(off + 8 * KIB, &[t, round]).unwrap();
                    let mut back = vec![0u8; v.len()];
                    imp.get(off, &mut back).unwrap();
                    assert!(back == v, "thread {t} round {round}");
                    let mut w = [0u64; 2];
                    imp.get64(off + 8 * KIB, &mut w).unwrap();
                    assert_eq!(w, [t, round]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..4u64 {
        assert_eq!(seg.load::<u64>(t as usize * 16 * KIB + 8 * KIB + 8).unwrap(), 24);
    }
}

/// With no spin at all (`set_wait_spin(0)`: every wait blocks in the kernel at once) remote
/// puts, gets and barrier closes behave exactly as with the default spin.
#[test]
fn blocking_waits_deliver_the_same_bytes() {
    rsm::set_wait_spin(std::time::Duration::MAX);
    assert!(rsm::wait_spin() > std::time::Duration::from_secs(1_000_000), "a huge spin is kept, clamped");
    rsm::set_wait_spin(std::time::Duration::ZERO);
    assert_eq!(rsm::wait_spin(), std::time::Duration::ZERO);
    let c = TestCluster::start(2);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 64 * KIB, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &acl(2, 0o600)).unwrap();
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    let want = pattern(9, 64 * KIB);
    for (k, chunk) in want.chunks(8 * KIB).enumerate() {
        imp.put(k * 8 * KIB, chunk).unwrap();
    }
    let mut got = vec![0u8; 64 * KIB];
    imp.get(0, &mut got).unwrap();
    assert!(got == want, "get after blocking puts");
    imp.set_mode(BarrierMode::Explicit).unwrap();
    bar.open().unwrap();
    imp.put(100, b"blocking").unwrap();
    bar.close().unwrap();
    assert!(read_all(&seg)[100..108] == *b"blocking");
    rsm::set_wait_spin(std::time::Duration::from_micros(50));
}
