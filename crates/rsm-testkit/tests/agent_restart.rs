//! An agent that dies forgets every object of its clients, and a restarted one numbers new
//! ones from 1 again. Handles made before the restart must neither reach the new agent's
//! objects (which may carry the same numbers) nor leave importers attached: unpublishing a
//! segment whose agent is gone still cuts off the importers that map it.

use rsm::{BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, PostFlags, perm};
use rsm_testkit::TestAgent;
use std::time::{Duration, Instant};

/// Calls `f` until the library has reconnected to the restarted agent (the first call after
/// the agent died finds the connection broken).
fn after_reconnect<T>(mut f: impl FnMut() -> rsm::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(v) => return v,
            Err(Error::ConnAborted) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("after the restart: {e:?}"),
        }
    }
}

#[test]
fn handles_from_before_an_agent_restart_do_not_reach_new_objects() {
    let mut first = TestAgent::start(1);
    let dir = first.dir().to_path_buf();
    let ctl = first.controller("loopback");
    let old = ExportSegment::allocate(&ctl, 8192, ExportFlags::empty()).unwrap();
    old.write_at(0, b"old-data").unwrap();
    let old_id = old.publish(0, &[]).unwrap();
    // An import of this process (the first agent's object 2).
    let old_imp = ImportSegment::connect(&ctl, 1, old_id, perm::RDWR).unwrap();
    // A loopback importer maps the old segment.
    let mut p = first.puppet();
    let h = p.ok(&format!("connect 1 {old_id} 600"));
    p.ok(&format!("map {h} 600"));
    p.ok(&format!("store {h} 0 importer"));
    let mut b = [0u8; 8];
    old.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"importer");

    first.kill();
    let second = TestAgent::start_in(1, &dir, &[]);

    // New objects of this process on the new agent: its first export gets the same number
    // the old one had on the first agent.
    let new = after_reconnect(|| ExportSegment::allocate(&ctl, 8192, ExportFlags::empty()));
    new.write_at(0, b"new-data").unwrap();
    let new_id = new.publish(0, &[]).unwrap();
    let published = |id| second.segments().iter().any(|s| s.segment_id == Some(id));
    assert!(published(new_id));
    // And its first import (object 2, like `old_imp` on the first agent).
    let new_imp = ImportSegment::connect(&ctl, 1, new_id, perm::RDWR).unwrap();
    let _bar = new_imp.init_barrier(BarrierType::Node).unwrap();
    assert_eq!(second.status().imports, 1);

    // The old import handle reaches nothing on the new agent: disconnecting it succeeds and
    // leaves the new import alone.
    old_imp.disconnect().unwrap();
    assert_eq!(second.status().imports, 1, "disconnecting the old import disconnected the new one");
    let mut got = [0u8; 8];
    new_imp.get(0, &mut got).unwrap();
    assert_eq!(&got, b"new-data");

    // The old handle reaches nothing on the new agent.
    assert_eq!(old.republish(&[]), Err(Error::ConnAborted));
    assert_eq!(old.signal_post(PostFlags::empty()), Err(Error::ConnAborted));
    // Unpublishing it succeeds (it is published nowhere) and cuts off the importer's
    // mapping: its stores no longer reach the exporter's memory.
    old.unpublish().unwrap();
    assert!(published(new_id), "unpublishing the old handle withdrew the new segment");
    p.ok(&format!("store {h} 0 too-late"));
    old.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"importer", "a store through the old mapping reached the exporter after unpublish");
    old.destroy().unwrap();
    assert!(published(new_id), "destroying the old handle destroyed the new segment");

    // The new segment works for a new importer.
    let mut q = second.puppet();
    let qh = q.ok(&format!("connect 1 {new_id} 600"));
    q.ok(&format!("barrier {qh}"));
    assert_eq!(q.ok(&format!("get {qh} 0 8")), "new-data");
    q.ok(&format!("disconnect {qh}"));
    let st = second.status();
    assert_eq!((st.published, st.exports, st.imports), (1, 1, 1), "{st:?}");
    // Revocation of an import made after the restart is seen: it reads the new agent's
    // generation table, not the first agent's.
    new.unpublish().unwrap();
    assert!(new_imp.is_revoked(), "the unpublish was not seen by the import made after the restart");
    assert_eq!(new_imp.get(0, &mut got), Err(Error::ConnAborted));
    drop(_bar);
    new_imp.disconnect().unwrap();
    new.destroy().unwrap();
    drop(p);
}
