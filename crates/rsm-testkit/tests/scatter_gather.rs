//! T15: scatter/gather between processes, registered local memory, implicit signal post.
#![allow(unsafe_code)]

use rsm::{
    BarrierMode, BarrierType, Error, ImportSegment, IoVec, Local, LocalMemory, MAX_SGIOREQS, PostFlags, SgError, perm,
};
use rsm_testkit::{PageBuf, Puppet, TestAgent};
use std::ptr::NonNull;

const SIZE: usize = 4 * 4096;

/// An exporter process with a 16 KiB segment, and an RDWR import of it here.
fn setup(agent: &TestAgent) -> (Puppet, String, u32, ImportSegment) {
    let mut e = agent.puppet();
    let h = e.ok(&format!("export {SIZE}"));
    let id = e.num(&format!("publish {h} 0")) as u32;
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    (e, h, id, imp)
}

#[test]
fn t15_putv_getv_mixing_addresses_and_handles() {
    let agent = TestAgent::start(1);
    let (mut e, h, _id, imp) = setup(&agent);
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let ctl = agent.controller("loopback");
    let lm = LocalMemory::allocate(&ctl, 8192).unwrap();
    assert_eq!(lm.len(), 8192);
    lm.write_at(4096, b"from-a-handle").unwrap();
    let a = b"first-piece".to_vec();
    let c = b"third".to_vec();
    let mut iov = [
        IoVec { local: Local::Src(&a), remote_offset: 0, len: a.len() },
        IoVec { local: Local::Handle(&lm, 4096), remote_offset: 5000, len: 13 },
        IoVec { local: Local::Src(&c), remote_offset: SIZE - 5, len: 5 },
    ];
    imp.putv(&mut iov, PostFlags::empty()).unwrap();
    assert_eq!(e.ok(&format!("read {h} 0 11")), "first-piece");
    assert_eq!(e.ok(&format!("read {h} 5000 13")), "from-a-handle");
    assert_eq!(e.ok(&format!("read {h} {} 5", SIZE - 5)), "third");

    // getv reverses it, into other memory.
    e.ok(&format!("write {h} 100 gathered"));
    let mut x = [0u8; 11];
    let mut z = [0u8; 5];
    let mut iov = [
        IoVec { local: Local::Dst(&mut x), remote_offset: 0, len: 11 },
        IoVec { local: Local::Handle(&lm, 0), remote_offset: 100, len: 8 },
        IoVec { local: Local::Dst(&mut z), remote_offset: SIZE - 5, len: 5 },
    ];
    imp.getv(&mut iov, PostFlags::empty()).unwrap();
    assert_eq!(&x, b"first-piece");
    assert_eq!(&z, b"third");
    let mut g = [0u8; 8];
    lm.read_at(0, &mut g).unwrap();
    assert_eq!(&g, b"gathered");

    // A caller's own page-aligned buffer, registered.
    let buf = PageBuf::filled(4096, b"registered-");
    // SAFETY: buf outlives the handle (declared first) and is reached only by raw copies.
    let reg = unsafe { LocalMemory::register(&ctl, buf.ptr(), buf.len()) }.unwrap();
    assert_eq!(reg.as_ptr(), buf.ptr().as_ptr());
    let mut iov = [IoVec { local: Local::Handle(&reg, 0), remote_offset: 8000, len: 11 }];
    imp.putv(&mut iov, PostFlags::empty()).unwrap();
    assert_eq!(e.ok(&format!("read {h} 8000 11")), "registered-");
    let mut iov = [IoVec { local: Local::Handle(&reg, 100), remote_offset: 5000, len: 13 }];
    imp.getv(&mut iov, PostFlags::empty()).unwrap();
    assert_eq!(buf.read_vec(100, 13), b"from-a-handle");
}

#[test]
fn t15_vector_errors_and_residual_counts() {
    let agent = TestAgent::start(1);
    let (_e, _h, _id, imp) = setup(&agent);
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let data = [7u8; 64];
    // 0 and 17 entries.
    assert_eq!(imp.putv(&mut [], PostFlags::empty()).unwrap_err(), SgError { error: Error::BadSgio, residual: 0 });
    let mut many: Vec<IoVec<'_>> =
        (0..MAX_SGIOREQS + 1).map(|i| IoVec { local: Local::Src(&data), remote_offset: i * 64, len: 64 }).collect();
    assert_eq!(imp.putv(&mut many, PostFlags::empty()).unwrap_err(), SgError { error: Error::BadSgio, residual: 17 });
    // 16 is the most, and works.
    imp.putv(&mut many[..MAX_SGIOREQS], PostFlags::empty()).unwrap();
    // Processing stops at the first failing entry; the residual counts it and the rest.
    let mut iov = [
        IoVec { local: Local::Src(b"done"), remote_offset: 0, len: 4 },
        IoVec { local: Local::Src(b"past-the-end"), remote_offset: SIZE - 4, len: 12 },
        IoVec { local: Local::Src(b"never"), remote_offset: 100, len: 5 },
    ];
    let err = imp.putv(&mut iov, PostFlags::empty()).unwrap_err();
    assert_eq!(err, SgError { error: Error::BadLength, residual: 2 });
    assert_eq!(Error::from(err), Error::BadLength);
    let mut got = [0u8; 5];
    imp.get(0, &mut got[..4]).unwrap();
    assert_eq!(&got[..4], b"done");
    imp.get(100, &mut got).unwrap();
    assert_eq!(got, [7u8; 5], "the entry after the failure was not started");
    // A length longer than the local piece; the wrong direction of plain memory.
    let mut iov = [IoVec { local: Local::Src(b"ab"), remote_offset: 0, len: 3 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::BadLength);
    let mut d = [0u8; 2];
    let mut iov = [IoVec { local: Local::Dst(&mut d), remote_offset: 0, len: 2 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::BadSgio);
    let mut iov = [IoVec { local: Local::Src(b"ab"), remote_offset: 0, len: 2 }];
    assert_eq!(imp.getv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::BadSgio);
    // A handle region too short for the entry.
    let ctl = agent.controller("loopback");
    let lm = LocalMemory::allocate(&ctl, 4096).unwrap();
    let mut iov = [IoVec { local: Local::Handle(&lm, 4000), remote_offset: 0, len: 200 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::BadLength);
    // A handle registered with another node's controller.
    let other = TestAgent::start(2);
    let foreign = LocalMemory::allocate(&other.controller("loopback"), 4096).unwrap();
    let mut iov = [IoVec { local: Local::Handle(&foreign, 0), remote_offset: 0, len: 8 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err(), SgError { error: Error::BadSgio, residual: 1 });
    // Rights apply as for put/get; a barrier is not needed in either mode (see
    // t15_vectors_need_no_barrier_in_implicit_mode).
    let (_e2, _h2, id2, imp2) = setup(&agent);
    let ro = ImportSegment::connect(&ctl, 1, id2, perm::READ).unwrap();
    let mut iov = [IoVec { local: Local::Src(b"x"), remote_offset: 0, len: 1 }];
    assert_eq!(ro.putv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::PermDenied);
    let mut iov = [IoVec { local: Local::Src(b"x"), remote_offset: 0, len: 1 }];
    imp2.putv(&mut iov, PostFlags::empty()).unwrap();
    imp2.set_mode(BarrierMode::Explicit).unwrap();
    imp2.putv(&mut iov, PostFlags::empty()).unwrap();
    // A disconnected segment.
    imp.disconnect().unwrap();
    let mut iov = [IoVec { local: Local::Src(b"x"), remote_offset: 0, len: 1 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err(), SgError { error: Error::BadSgio, residual: 1 });
}

#[test]
fn t15_implicit_signal_post() {
    let agent = TestAgent::start(1);
    let (mut e, h, _id, imp) = setup(&agent);
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let mut iov = [IoVec { local: Local::Src(b"ping"), remote_offset: 0, len: 4 }];
    imp.putv(&mut iov, PostFlags::IMPLICIT_SIGPOST).unwrap();
    e.ok(&format!("ewait {h} 1000"));
    assert_eq!(e.err(&format!("ewait {h} 0")), "RSMERR_TIMEOUT");
    assert_eq!(e.ok(&format!("read {h} 0 4")), "ping");
    // Without the flag, no event; with NO_ACCUMULATE, repeated vectors leave one.
    imp.putv(&mut iov, PostFlags::empty()).unwrap();
    assert_eq!(e.err(&format!("ewait {h} 0")), "RSMERR_TIMEOUT");
    for _ in 0..3 {
        imp.putv(&mut iov, PostFlags::IMPLICIT_SIGPOST | PostFlags::NO_ACCUMULATE).unwrap();
    }
    e.ok(&format!("ewait {h} 1000"));
    assert_eq!(e.err(&format!("ewait {h} 0")), "RSMERR_TIMEOUT");
    // A failed vector posts nothing.
    let mut bad = [IoVec { local: Local::Src(b"zz"), remote_offset: SIZE, len: 2 }];
    assert!(imp.putv(&mut bad, PostFlags::IMPLICIT_SIGPOST).is_err());
    assert_eq!(e.err(&format!("ewait {h} 100")), "RSMERR_TIMEOUT");
    // getv: without the flag no event, with it one after the data is read (RSMAPI 3.8).
    let mut d = [0u8; 4];
    let mut g = [IoVec { local: Local::Dst(&mut d), remote_offset: 0, len: 4 }];
    imp.getv(&mut g, PostFlags::empty()).unwrap();
    assert_eq!(e.err(&format!("ewait {h} 100")), "RSMERR_TIMEOUT");
    imp.getv(&mut g, PostFlags::IMPLICIT_SIGPOST).unwrap();
    e.ok(&format!("ewait {h} 1000"));
    assert_eq!(e.err(&format!("ewait {h} 0")), "RSMERR_TIMEOUT");
    assert_eq!(&d, b"ping");
    let mut d2 = [0u8; 2];
    let mut bad = [IoVec { local: Local::Dst(&mut d2), remote_offset: SIZE, len: 2 }];
    assert_eq!(imp.getv(&mut bad, PostFlags::IMPLICIT_SIGPOST).unwrap_err().error, Error::BadLength);
    assert_eq!(e.err(&format!("ewait {h} 100")), "RSMERR_TIMEOUT");
}

#[test]
fn t15_vectors_after_revocation() {
    let agent = TestAgent::start(1);
    let (mut e, h, _id, imp) = setup(&agent);
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    e.ok(&format!("unpublish {h}"));
    let mut iov = [IoVec { local: Local::Src(b"late"), remote_offset: 0, len: 4 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::IMPLICIT_SIGPOST).unwrap_err().error, Error::ConnAborted);
    let mut d = [0u8; 4];
    let mut g = [IoVec { local: Local::Dst(&mut d), remote_offset: 0, len: 4 }];
    assert_eq!(imp.getv(&mut g, PostFlags::empty()).unwrap_err().error, Error::ConnAborted);
    assert_eq!(e.ok(&format!("read {h} 0 4")), "....");
}

#[test]
fn t15_local_memory_handle_errors() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let buf = PageBuf::new(2 * 4096);
    let odd = NonNull::new(buf.ptr().as_ptr().wrapping_add(1)).unwrap();
    // SAFETY: every call below fails its checks before recording anything; buf outlives them.
    let register = |addr: NonNull<u8>, len: usize| unsafe { LocalMemory::register(&ctl, addr, len) };
    assert_eq!(register(odd, 4096).unwrap_err(), Error::BadAddr);
    assert_eq!(register(buf.ptr(), 0).unwrap_err(), Error::BadLength);
    // The address is checked before the length (spec 3.8 order).
    assert_eq!(register(odd, 0).unwrap_err(), Error::BadAddr);
    assert_eq!(register(NonNull::new(4096 as *mut u8).unwrap(), 4096).unwrap_err(), Error::BadAddr);
    assert_eq!(LocalMemory::allocate(&ctl, 0).unwrap_err(), Error::BadLength);
    // A length that is not a page multiple is fine.
    // SAFETY: buf outlives the handle.
    let lm = unsafe { LocalMemory::register(&ctl, buf.ptr(), 100) }.unwrap();
    assert_eq!(lm.len(), 100);
    assert!(lm.controller().same(&ctl));
    assert_eq!(lm.write_at(99, b"xy").unwrap_err(), Error::BadLength);
}

/// putv and getv in implicit mode need no barrier (RSMAPI 3.8 lists no barrier error; T15
/// connects and calls putv): every entry is still its own checked window, and a revocation
/// is still reported. A single put on the same handle does need one. Locally and over tcp0.
#[test]
fn t15_vectors_need_no_barrier_in_implicit_mode() {
    let check = |imp: &ImportSegment, what: &str| {
        assert_eq!(imp.put(0, b"x"), Err(Error::BarrierUninitialized), "{what}: a single put");
        let lm = LocalMemory::allocate(imp.controller(), 4096).unwrap();
        lm.write_at(0, b"handle").unwrap();
        let mut iov = [
            IoVec { local: Local::Src(b"no-barrier"), remote_offset: 100, len: 10 },
            IoVec { local: Local::Handle(&lm, 0), remote_offset: 200, len: 6 },
        ];
        imp.putv(&mut iov, PostFlags::empty()).unwrap_or_else(|e| panic!("{what}: putv {e:?}"));
        let (mut a, mut b) = ([0u8; 10], [0u8; 6]);
        let mut g = [
            IoVec { local: Local::Dst(&mut a), remote_offset: 100, len: 10 },
            IoVec { local: Local::Dst(&mut b), remote_offset: 200, len: 6 },
        ];
        imp.getv(&mut g, PostFlags::empty()).unwrap_or_else(|e| panic!("{what}: getv {e:?}"));
        assert_eq!((&a, &b), (b"no-barrier", b"handle"), "{what}");
    };

    let agent = TestAgent::start(1);
    let (mut e, h, _id, imp) = setup(&agent);
    check(&imp, "loopback");
    assert_eq!(e.ok(&format!("read {h} 100 10")), "no-barrier");
    e.ok(&format!("unpublish {h}"));
    let mut iov = [IoVec { local: Local::Src(b"late"), remote_offset: 0, len: 4 }];
    assert_eq!(imp.putv(&mut iov, PostFlags::empty()).unwrap_err().error, Error::ConnAborted);

    let c = rsm_testkit::TestCluster::start(2);
    let seg = rsm::ExportSegment::allocate(&c.controller(1, "tcp0"), SIZE, rsm::ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let remote = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    check(&remote, "tcp0");
    let mut mem = [0u8; 10];
    seg.read_at(100, &mut mem).unwrap();
    assert_eq!(&mem, b"no-barrier");
}
