//! Lifetime and revocation: T17 (exporter exits without cleanup), SIGKILLed exporters and
//! importers, revoked importers cut off from the exporter's memory, and 1,000
//! create-publish-connect-map-SIGKILL cycles that leave the agent (and this process) exactly
//! where they started.
//!
//! The tests of this file run one at a time (they compare descriptor counts of this process).
#![allow(unsafe_code)]

use rsm::{BarrierMode, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{Puppet, TestAgent, wait_until};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|p| p.into_inner())
}

fn export_in(p: &mut Puppet, size: usize, text: &str, acl: &str) -> (String, u32) {
    let h = p.ok(&format!("export {size}"));
    p.ok(&format!("write {h} 0 {text}"));
    let id = p.num(&format!("publish {h} 0 {acl}")) as u32;
    (h, id)
}

#[test]
fn t17_exporter_exits_without_cleanup() {
    let _g = serial();
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    // This process exports too; the exiting puppet imports it.
    let mine = ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap();
    let mine_id = mine.publish(0, &[]).unwrap();

    let mut e = agent.puppet();
    let (_h, id) = export_in(&mut e, 8192, "exported", "1:666");
    let _unpublished = e.ok("export 4096");
    let mh = e.ok(&format!("connect 1 {mine_id} 600"));
    e.ok(&format!("map {mh} 600"));
    let mut i = agent.puppet();
    let ih = i.ok(&format!("connect 1 {id} 600"));
    i.ok(&format!("map {ih} 600"));
    i.ok(&format!("barrier {ih}"));
    assert_eq!(i.ok(&format!("load {ih} 0 8")), "exported");
    let st = agent.status();
    assert_eq!((st.exports, st.published, st.imports), (3, 2, 2));

    assert!(e.exit().success());
    wait_until(Duration::from_secs(10), "the agent to drop the exited client", || agent.status().exports == 1);
    let st = agent.status();
    assert_eq!((st.exports, st.published, st.imports), (1, 1, 1), "its exports and its import are gone");
    assert!(st.clients_died >= 1);
    assert_eq!(agent.segments()[0].importers, 0);
    // Its importer is told at the next implicit access and at every close.
    assert_eq!(i.err(&format!("put {ih} 0 x")), "RSMERR_CONN_ABORTED");
    for _ in 0..3 {
        i.ok(&format!("open {ih}"));
        assert_eq!(i.err(&format!("close {ih}")), "RSMERR_CONN_ABORTED");
    }
    i.ok(&format!("load {ih} 0 8")); // no fault
    assert_eq!(i.err(&format!("connect 1 {id} 600")), "RSMERR_SEG_NOT_PUBLISHED");
    i.ok(&format!("unmap {ih}"));
    i.ok(&format!("disconnect {ih}"));
    // The id is free for a new publication.
    mine.unpublish().unwrap();
    assert_eq!(mine.publish(id, &[]).unwrap_err(), Error::ReservedSegid, "system ids are not for explicit use");
}

#[test]
fn sigkilled_importer_has_its_imports_dropped() {
    let _g = serial();
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, 8192, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let mut p = agent.puppet();
    let a = p.ok(&format!("connect 1 {id} 600"));
    let _b = p.ok(&format!("connect 1 {id} 400"));
    p.ok(&format!("map {a} 600"));
    p.ok(&format!("store {a} 0 written-before-death"));
    assert_eq!(agent.segments()[0].importers, 2);
    let died = agent.status().clients_died;
    p.kill();
    wait_until(Duration::from_secs(10), "the importer's imports to be dropped", || agent.status().imports == 0);
    assert_eq!(agent.segments()[0].importers, 0);
    assert_eq!(agent.status().clients_died, died + 1);
    // The exporter is unaffected: its memory keeps what the importer wrote, it stays
    // published, posts to (no) importers succeed, and new importers connect.
    let mut got = [0u8; 20];
    seg.read_at(0, &mut got).unwrap();
    assert_eq!(&got, b"written-before-death");
    seg.signal_post(rsm::PostFlags::empty()).unwrap();
    let again = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    assert!(!again.is_revoked());
    drop(again);
    seg.destroy().unwrap();
}

#[test]
fn revoked_importers_cannot_reach_the_exporters_memory_after_unpublish() {
    let _g = serial();
    let agent = TestAgent::start(1);
    let mut a = agent.puppet();
    let (h, id) = export_in(&mut a, 8192, "ORIGINAL", "");
    let mut b = agent.puppet();
    let bh = b.ok(&format!("connect 1 {id} 600"));
    b.ok(&format!("map {bh} 600"));
    b.ok(&format!("barrier {bh}"));
    // The path works before the revocation.
    b.ok(&format!("store {bh} 0 HACKED"));
    assert_eq!(a.ok(&format!("read {h} 0 8")), "HACKEDAL");
    a.ok(&format!("unpublish {h}"));
    // A store right after the revocation, before the importer's library has noticed
    // anything, no longer reaches the exporter...
    b.ok(&format!("store {bh} 0 EVIL!!!!"));
    assert_eq!(a.ok(&format!("read {h} 0 8")), "HACKEDAL");
    // ...nor do later ones, and the importer is told.
    assert_eq!(b.err(&format!("put {bh} 0 EVIL")), "RSMERR_CONN_ABORTED");
    b.ok(&format!("store {bh} 100 EVIL"));
    b.ok(&format!("open {bh}"));
    assert_eq!(b.err(&format!("close {bh}")), "RSMERR_CONN_ABORTED");
    assert_eq!(a.ok(&format!("read {h} 100 4")), "....");
    // The exporter still owns its (pinned) memory with everything written before; a new
    // publication serves it to new importers, while the stale handle stays cut off.
    a.ok(&format!("write {h} 200 exporter-after"));
    let id2 = a.num(&format!("publish {h} 0"));
    let ch = b.ok(&format!("connect 1 {id2} 600"));
    b.ok(&format!("barrier {ch}"));
    assert_eq!(b.ok(&format!("get {ch} 0 8")), "HACKEDAL");
    assert_eq!(b.ok(&format!("get {ch} 200 14")), "exporter-after");
    b.ok(&format!("store {bh} 200 EVIL"));
    assert_eq!(b.ok(&format!("get {ch} 200 4")), "expo");
    assert_eq!(b.err(&format!("close {bh}")), "RSMERR_CONN_ABORTED");
}

#[test]
fn revoked_importers_cannot_reach_the_callers_memory_after_destroy() {
    let _g = serial();
    let agent = TestAgent::start(1);
    let mut a = agent.puppet();
    let buf = a.ok("buf 8192 caller-");
    let h = a.ok(&format!("exportbuf {buf}"));
    let id = a.num(&format!("publish {h} 0"));
    let mut b = agent.puppet();
    let bh = b.ok(&format!("connect 1 {id} 600"));
    b.ok(&format!("map {bh} 600"));
    b.ok(&format!("store {bh} 0 IMPORTER"));
    assert_eq!(a.ok(&format!("bufread {buf} 0 16")), "IMPORTERaller-ca");
    let far = a.ok(&format!("bufread {buf} 4000 8"));
    a.ok(&format!("destroy {h}"));
    // The caller got its buffer back as private memory with the last contents.
    assert_eq!(a.ok(&format!("bufread {buf} 0 16")), "IMPORTERaller-ca");
    b.ok(&format!("store {bh} 0 EVIL!!!"));
    b.ok(&format!("store {bh} 4000 EVIL!!!"));
    assert_eq!(a.ok(&format!("bufread {buf} 0 16")), "IMPORTERaller-ca");
    assert_eq!(a.ok(&format!("bufread {buf} 4000 8")), far);
    a.ok(&format!("bufwrite {buf} 8 private!"));
    assert_ne!(b.ok(&format!("load {bh} 8 8")), "private!");
    b.ok(&format!("barrier {bh}"));
    assert_eq!(b.err(&format!("get {bh} 0 8")), "RSMERR_CONN_ABORTED");
}

#[test]
fn sigkilled_exporter_cuts_off_every_importer() {
    let _g = serial();
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let (_h, id) = export_in(&mut e, 4096, "shared", "");
    let ctl = agent.controller("loopback");
    let local = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    local.set_mode(BarrierMode::Explicit).unwrap();
    let bar = local.init_barrier(BarrierType::Node).unwrap();
    let mut importers: Vec<(Puppet, String)> = (0..3)
        .map(|_| {
            let mut p = agent.puppet();
            let h = p.ok(&format!("connect 1 {id} 600"));
            p.ok(&format!("barrier {h}"));
            p.ok(&format!("mode {h} explicit"));
            p.ok(&format!("open {h}"));
            p.ok(&format!("put {h} 0 in-window"));
            (p, h)
        })
        .collect();
    bar.open().unwrap();
    e.kill();
    wait_until(Duration::from_secs(10), "the revocation", || local.is_revoked());
    assert_eq!(bar.close().unwrap_err(), Error::ConnAborted);
    for (p, h) in &mut importers {
        // Explicit mode: the put itself does not fail; the window's close does.
        p.ok(&format!("put {h} 0 lost"));
        assert_eq!(p.err(&format!("close {h}")), "RSMERR_CONN_ABORTED");
        assert_eq!(p.err(&format!("close {h}")), "RSMERR_CONN_ABORTED");
        p.ok(&format!("disconnect {h}"));
    }
    let st = agent.status();
    assert_eq!((st.exports, st.published), (0, 0));
    assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::SegNotPublished);
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

fn count_lines(path: &str) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

fn maps_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default()
}

/// Lines only in `before` (-) or only in `after` (+).
fn maps_diff(before: &str, after: &str) -> String {
    let b: std::collections::HashSet<&str> = before.lines().collect();
    let a: std::collections::HashSet<&str> = after.lines().collect();
    let mut out: Vec<String> = b.difference(&a).map(|l| format!("- {l}")).collect();
    out.extend(a.difference(&b).map(|l| format!("+ {l}")));
    out.sort();
    out.join("\n")
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Footprint {
    agent_fds: usize,
    agent_maps: usize,
    self_fds: usize,
    self_maps: usize,
}

fn footprint(agent: &TestAgent) -> Footprint {
    Footprint {
        agent_fds: agent.open_fds(),
        agent_maps: agent.maps(),
        self_fds: count_dir("/proc/self/fd"),
        self_maps: count_lines("/proc/self/maps"),
    }
}

#[test]
fn leak_cycles_of_sigkilled_exporters() {
    let _g = serial();
    const CYCLES: usize = 1000;
    const WARMUP: usize = 20;
    const SEG: usize = 64 * 1024;
    let agent = TestAgent::start_for_leak_checks(1, &[]);
    let ctl = agent.controller("loopback");
    // A segment of this process that every exporter puppet also imports, so that each killed
    // client has exports, a publication, and an import for the agent to clean up.
    let mine = ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap();
    let mine_id = mine.publish(0, &[]).unwrap();

    let cycle = |i: usize| {
        let mut e = agent.puppet();
        let h = e.ok(&format!("export {SEG}"));
        e.ok(&format!("write {h} 0 cycle-{i:06}"));
        let id = e.num(&format!("publish {h} 0")) as u32;
        let mh = e.ok(&format!("connect 1 {mine_id} 600"));
        e.ok(&format!("barrier {mh}"));
        e.ok(&format!("put {mh} 0 {i:06}"));

        let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
        let p = imp.map(perm::RDWR, 0, SEG).unwrap();
        imp.set_mode(BarrierMode::Explicit).unwrap();
        let bar = imp.init_barrier(BarrierType::Node).unwrap();
        bar.open().unwrap();
        let mut got = [0u8; 12];
        imp.get(0, &mut got).unwrap();
        bar.close().unwrap();
        assert_eq!(got, *format!("cycle-{i:06}").as_bytes());
        // The explicit mapping shows the same bytes.
        // SAFETY: p maps the segment read-write until the unmap below.
        let first = unsafe { p.as_ptr().wrapping_add(6).read_volatile() };
        assert_eq!(first, got[6]);

        e.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !imp.is_revoked() {
            assert!(Instant::now() < deadline, "cycle {i}: revocation not seen");
            std::thread::sleep(Duration::from_micros(100));
        }
        bar.open().unwrap();
        assert_eq!(bar.close().unwrap_err(), Error::ConnAborted);
        drop(bar);
        imp.unmap().unwrap();
        imp.disconnect().unwrap();
        assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::SegNotPublished);
    };

    let t0 = Instant::now();
    for i in 0..WARMUP {
        cycle(i);
    }
    let settled = |agent: &TestAgent| {
        wait_until(Duration::from_secs(10), "the agent to finish with dead clients", || {
            let st = agent.status();
            st.clients == 1 && st.imports == 0 && st.exports == 1
        });
        std::thread::sleep(Duration::from_millis(100));
    };
    settled(&agent);
    let base = footprint(&agent);
    let base_rss = agent.rss_kib();
    let base_maps = maps_of(agent.pid());
    for i in WARMUP..WARMUP + CYCLES {
        cycle(i);
    }
    settled(&agent);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = footprint(&agent);
    while now != base && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = footprint(&agent);
    }
    let rss = agent.rss_kib();
    eprintln!(
        "{CYCLES} cycles in {:?}: baseline {base:?} rss {base_rss} KiB, after {now:?} rss {rss} KiB",
        t0.elapsed()
    );
    assert_eq!(now.agent_fds, base.agent_fds, "agent descriptors leaked");
    assert_eq!(
        now.agent_maps,
        base.agent_maps,
        "agent mappings leaked:\n{}",
        maps_diff(&base_maps, &maps_of(agent.pid()))
    );
    assert_eq!(now.self_fds, base.self_fds, "importer-side descriptors leaked");
    assert_eq!(now.self_maps, base.self_maps, "importer-side mappings leaked");
    assert!(rss <= base_rss + 2048, "agent RSS grew from {base_rss} KiB to {rss} KiB");
    let st = agent.status();
    assert_eq!((st.clients, st.exports, st.published, st.imports), (1, 1, 1, 0));
    assert_eq!(st.clients_died, (WARMUP + CYCLES) as u64);
    assert_eq!(st.revocations, (WARMUP + CYCLES) as u64);
    // The long-lived segment saw every importer come and go and holds the last one's write.
    let mut last = [0u8; 6];
    mine.read_at(0, &mut last).unwrap();
    assert_eq!(last, *format!("{:06}", WARMUP + CYCLES - 1).as_bytes());
    assert_eq!(agent.segments().iter().find(|s| s.segment_id == Some(mine_id)).unwrap().importers, 0);
}

#[test]
fn agent_death_is_reported_not_hung() {
    let _g = serial();
    let mut agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    imp.put(0, b"before").unwrap();
    let socket = agent.socket().to_path_buf();
    agent.kill();
    // Control operations fail promptly with CONN_ABORTED; no new controller can be had.
    // Unpublish succeeds: the dead agent withdrew the segment, and the memory still moves
    // onto fresh backing, cutting off anything that maps it.
    let t = Instant::now();
    assert_eq!(seg.signal_post(rsm::PostFlags::empty()).unwrap_err(), Error::ConnAborted);
    assert_eq!(seg.republish(&[]).unwrap_err(), Error::ConnAborted);
    seg.unpublish().unwrap();
    assert_eq!(seg.unpublish().unwrap_err(), Error::SegNotPublished);
    assert_eq!(seg.publish(0, &[]).unwrap_err(), Error::ConnAborted);
    assert_eq!(ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap_err(), Error::ConnAborted);
    assert_eq!(rsm::topology_at(&socket).unwrap_err(), Error::ConnAborted);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Memory already shared stays usable locally, and cleanup does not hang or fail.
    let mut got = [0u8; 6];
    seg.read_at(0, &mut got).unwrap();
    assert_eq!(&got, b"before");
    drop(_bar);
    imp.disconnect().unwrap();
    seg.destroy().unwrap();
    // With every handle gone, the controller cannot be had again.
    drop((imp, seg, ctl));
    assert_eq!(rsm::Controller::get_at(&socket, Some("loopback")).unwrap_err(), Error::CtlrNotPresent);
}
