//! Barriers: T3 (implicit mode needs a barrier), T4 (explicit windows), T8 (forced
//! disconnect seen through barriers, for every way an exporter can revoke).
#![allow(unsafe_code)]

use rsm::{BarrierMode, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{Puppet, TestAgent, wait_until};
use std::time::Duration;

const SIZE: usize = 16384;

fn local_export(agent: &TestAgent) -> (ExportSegment, u32) {
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, SIZE, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    (seg, id)
}

fn bytes(seg: &ExportSegment, off: usize, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    seg.read_at(off, &mut v).unwrap();
    v
}

#[test]
fn t3_implicit_mode_needs_a_barrier() {
    let agent = TestAgent::start(1);
    let (seg, id) = local_export(&agent);
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    assert_eq!(imp.put(0, b"x").unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(imp.get(0, &mut [0u8; 1]).unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(imp.put64(0, &[1]).unwrap_err(), Error::BarrierUninitialized);
    // Bounds and rights are checked before the barrier.
    assert_eq!(imp.put(SIZE, b"x").unwrap_err(), Error::BadLength);
    let ro = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    assert_eq!(ro.put(0, b"x").unwrap_err(), Error::PermDenied);
    // Explicit mode needs none for put/get.
    imp.set_mode(BarrierMode::Explicit).unwrap();
    assert_eq!(imp.mode().unwrap(), BarrierMode::Explicit);
    imp.put(0, b"explicit").unwrap();
    assert_eq!(bytes(&seg, 0, 8), b"explicit");
    // Back to implicit: a barrier makes it work; destroying it detaches it again.
    imp.set_mode(BarrierMode::Implicit).unwrap();
    let bar = imp.init_barrier(BarrierType::Segment).unwrap();
    imp.put(8, b"implicit").unwrap();
    assert_eq!(bytes(&seg, 8, 8), b"implicit");
    bar.destroy().unwrap();
    assert_eq!(imp.put(0, b"x").unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(bar.destroy().unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(bar.open().unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(bar.close().unwrap_err(), Error::BarrierUninitialized);
    assert_eq!(bar.order().unwrap_err(), Error::BarrierUninitialized);
    // Mode values from C: only 0 and 1.
    assert_eq!(BarrierMode::try_from(0).unwrap(), BarrierMode::Explicit);
    assert_eq!(BarrierMode::try_from(1).unwrap(), BarrierMode::Implicit);
    assert_eq!(BarrierMode::try_from(2).unwrap_err(), Error::BadMode);
}

#[test]
fn t3_the_last_barrier_initialised_wins() {
    let agent = TestAgent::start(1);
    let (_seg, id) = local_export(&agent);
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let b1 = imp.init_barrier(BarrierType::Node).unwrap();
    let b2 = imp.init_barrier(BarrierType::SegmentThread).unwrap();
    // Destroying a barrier that is not the segment's current one leaves implicit mode working.
    b1.destroy().unwrap();
    imp.put(0, b"ok").unwrap();
    // Destroying the current one detaches it.
    drop(b2);
    assert_eq!(imp.put(0, b"x").unwrap_err(), Error::BarrierUninitialized);
    let _b3 = imp.init_barrier(BarrierType::NodeThread).unwrap();
    imp.put(0, b"ok").unwrap();
}

#[test]
fn t4_explicit_barrier_loop() {
    let agent = TestAgent::start(1);
    let (seg, id) = local_export(&agent);
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    imp.set_mode(BarrierMode::Explicit).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    assert!(bar.segment().segment_id() == id);
    // Close and order without open (Linux tracks the pairing illumos never checked).
    assert_eq!(bar.close().unwrap_err(), Error::BarrierNotOpened);
    assert_eq!(bar.order().unwrap_err(), Error::BarrierNotOpened);
    for round in 0u64..50 {
        let rc = loop {
            bar.open().unwrap();
            imp.put64(0, &[round]).unwrap();
            imp.put32(8, &[round as u32, !(round as u32)]).unwrap();
            bar.order().unwrap();
            imp.put16(16, &[round as u16]).unwrap();
            imp.put8(18, &[round as u8]).unwrap();
            imp.put(24, &round.to_be_bytes()).unwrap();
            let mut back = [0u64; 1];
            imp.get64(0, &mut back).unwrap();
            assert_eq!(back[0], round);
            match bar.close() {
                Err(Error::BarrierFailure) => continue,
                rc => break rc,
            }
        };
        rc.unwrap();
        let mut w = [0u8; 32];
        seg.read_at(0, &mut w).unwrap();
        assert_eq!(u64::from_ne_bytes(w[0..8].try_into().unwrap()), round);
        assert_eq!(u32::from_ne_bytes(w[8..12].try_into().unwrap()), round as u32);
        assert_eq!(u32::from_ne_bytes(w[12..16].try_into().unwrap()), !(round as u32));
        assert_eq!(u16::from_ne_bytes(w[16..18].try_into().unwrap()), round as u16);
        assert_eq!(w[18], round as u8);
        assert_eq!(u64::from_be_bytes(w[24..32].try_into().unwrap()), round);
    }
    // Mapped stores bracketed by a window (after undoing the implicit mapping of the puts).
    imp.unmap().unwrap();
    let p = imp.map(perm::RDWR, 0, SIZE).unwrap();
    bar.open().unwrap();
    for (i, b) in b"mapped".iter().enumerate() {
        // SAFETY: the mapping covers the whole segment read-write until unmap below.
        unsafe { p.as_ptr().wrapping_add(1000 + i).write_volatile(*b) };
    }
    bar.close().unwrap();
    assert_eq!(bytes(&seg, 1000, 6), b"mapped");
    imp.unmap().unwrap();
}

/// The four ways an exporter revokes its importers.
#[derive(Clone, Copy, Debug)]
enum Revoke {
    Unpublish,
    Destroy,
    Exit,
    Kill,
}

fn revoke(how: Revoke, e: Puppet, h: &str) -> Option<Puppet> {
    let mut e = e;
    match how {
        Revoke::Unpublish => {
            e.ok(&format!("unpublish {h}"));
            Some(e)
        }
        Revoke::Destroy => {
            e.ok(&format!("destroy {h}"));
            Some(e)
        }
        Revoke::Exit => {
            assert!(e.exit().success());
            None
        }
        Revoke::Kill => {
            e.kill();
            None
        }
    }
}

fn t8_forced_disconnect(how: Revoke) {
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let h = e.ok(&format!("export {SIZE}"));
    e.ok(&format!("write {h} 0 exporter-data"));
    let id = e.num(&format!("publish {h} 0")) as u32;
    let ctl = agent.controller("loopback");

    // One importer mapped, in implicit mode; one in explicit mode.
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    let ptr = imp.map(perm::RDWR, 0, SIZE).unwrap();
    imp.put(100, b"before").unwrap();
    let exp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    exp.set_mode(BarrierMode::Explicit).unwrap();
    let ebar = exp.init_barrier(BarrierType::Node).unwrap();
    ebar.open().unwrap();
    exp.put(200, b"in-window").unwrap();
    bar.open().unwrap();
    bar.close().unwrap();

    let e = revoke(how, e, &h);
    wait_until(Duration::from_secs(10), "the revocation to reach the importer", || imp.is_revoked());

    // Implicit mode: the next access says so.
    assert_eq!(imp.put(100, b"after").unwrap_err(), Error::ConnAborted, "{how:?}");
    assert_eq!(imp.get(0, &mut [0u8; 4]).unwrap_err(), Error::ConnAborted);
    assert_eq!(imp.get32(0, &mut [0u32; 1]).unwrap_err(), Error::ConnAborted);
    // Every close says so, again and again, until the application reconnects.
    for _ in 0..3 {
        bar.open().unwrap();
        assert_eq!(bar.close().unwrap_err(), Error::ConnAborted);
    }
    assert_eq!(bar.order().unwrap_err(), Error::ConnAborted);
    // Explicit mode: the window that was open when the exporter went away fails at close.
    let _ = exp.put(200, b"lost");
    assert_eq!(ebar.close().unwrap_err(), Error::ConnAborted);
    assert_eq!(ebar.close().unwrap_err(), Error::ConnAborted);
    // Loads and stores through the old mapping do not fault.
    // SAFETY: the mapping stays valid until unmap (revocation replaces its pages in place).
    let _ = unsafe { ptr.as_ptr().wrapping_add(100).read_volatile() };
    // SAFETY: as above; the mapping is writable.
    unsafe { ptr.as_ptr().wrapping_add(SIZE - 1).write_volatile(1) };
    // A post to a revoked exporter is dropped silently.
    imp.signal_post(rsm::PostFlags::empty()).unwrap();
    // Cleanup still works, and a map of the revoked connection fails.
    drop(bar);
    imp.unmap().unwrap();
    assert_eq!(imp.map(perm::RDWR, 0, SIZE).unwrap_err(), Error::ConnAborted);
    imp.disconnect().unwrap();
    drop(ebar);
    exp.disconnect().unwrap();
    // The id is gone.
    assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::SegNotPublished);
    let st = agent.status();
    assert_eq!(st.imports, 0);
    assert_eq!(st.published, 0);
    match how {
        Revoke::Unpublish => assert_eq!(st.exports, 1),
        _ => assert_eq!(st.exports, 0),
    }
    assert!(st.revocations >= 1);

    // T4: "on CONN_ABORTED stop and reconnect": after a republish the application reconnects.
    if let (Revoke::Unpublish, Some(mut e)) = (how, e) {
        let id2 = e.num(&format!("publish {h} 0")) as u32;
        assert_ne!(id2, id);
        let again = ImportSegment::connect(&ctl, 1, id2, perm::RDWR).unwrap();
        let b = again.init_barrier(BarrierType::Node).unwrap();
        let mut got = [0u8; 6];
        again.get(100, &mut got).unwrap();
        assert_eq!(&got, b"before", "the exporter kept its data across unpublish");
        b.open().unwrap();
        b.close().unwrap();
    }
}

#[test]
fn t8_forced_disconnect_by_unpublish() {
    t8_forced_disconnect(Revoke::Unpublish);
}

#[test]
fn t8_forced_disconnect_by_destroy() {
    t8_forced_disconnect(Revoke::Destroy);
}

#[test]
fn t8_forced_disconnect_by_exporter_exit() {
    t8_forced_disconnect(Revoke::Exit);
}

#[test]
fn t8_forced_disconnect_by_exporter_sigkill() {
    t8_forced_disconnect(Revoke::Kill);
}

#[test]
fn t8_forced_disconnect_seen_by_an_importer_process() {
    // The importer is a separate process too: it learns of the revocation only through the
    // shared generation table.
    let agent = TestAgent::start(1);
    let (seg, id) = local_export(&agent);
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("barrier {h}"));
    p.ok(&format!("put {h} 0 alive"));
    p.ok(&format!("open {h}"));
    p.ok(&format!("close {h}"));
    seg.unpublish().unwrap();
    assert_eq!(p.err(&format!("put {h} 0 dead")), "RSMERR_CONN_ABORTED");
    assert_eq!(p.err(&format!("get {h} 0 4")), "RSMERR_CONN_ABORTED");
    p.ok(&format!("open {h}"));
    assert_eq!(p.err(&format!("close {h}")), "RSMERR_CONN_ABORTED");
    assert_eq!(p.err(&format!("close {h}")), "RSMERR_CONN_ABORTED");
    p.ok(&format!("disconnect {h}"));
    assert_eq!(bytes(&seg, 0, 5), b"alive");
    assert_eq!(p.err(&format!("connect 1 {id} 600")), "RSMERR_SEG_NOT_PUBLISHED");
}
