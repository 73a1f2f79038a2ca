//! Issue #3, signals across nodes (remote T13 and T14): an importer's post wakes the exporter
//! on its node, an exporter's post wakes every importer on every node, NO_ACCUMULATE and
//! poll descriptors behave as on loopback.

use rsm::{
    AccessEntry, BarrierMode, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, POLLRDNORM, PollFd,
    PostFlags, perm,
};
use rsm_os::AsRawFd;
use rsm_testkit::TestCluster;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// Everything this import sent before (posts) has been applied by the exporting agent: a get
/// is a round trip on the same ordered data connection.
fn data_fence(imp: &ImportSegment) {
    imp.get(0, &mut [0u8; 1]).unwrap();
}

/// Every message node `from` sent to node `to` on its link before this call (signals) has
/// been applied by `to`: a connect from `from` to `to` is a round trip on that ordered link
/// (this one is refused, which is all it needs to be).
fn link_fence(c: &TestCluster, from: u32, to: u32) {
    let r = ImportSegment::connect(&c.controller(from, "tcp0"), to, 0x7fff_fff0, perm::READ);
    assert_eq!(r.err(), Some(Error::SegNotPublished));
}

#[test]
fn importer_posts_wake_the_exporter_and_no_accumulate_keeps_one() {
    let c = TestCluster::start(2);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o666 }]).unwrap();
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();

    // T13: three posts, three waits, the fourth times out.
    for _ in 0..3 {
        imp.signal_post(PostFlags::empty()).unwrap();
    }
    for k in 0..3 {
        seg.signal_wait(Some(WAIT)).unwrap_or_else(|e| panic!("wait {k}: {e}"));
    }
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(200))), Err(Error::Timeout));
    assert_eq!(seg.signal_wait(Some(Duration::ZERO)), Err(Error::Timeout));

    // A post from another process on the importing node wakes a waiter that is already blocked.
    let mut pup = c.puppet(2);
    let h = pup.ok(&format!("connect 1 {id:#x} 600"));
    pup.ok(&format!("barrier {h}"));
    let waiter = std::thread::spawn({
        let seg = seg.clone();
        move || seg.signal_wait(Some(WAIT))
    });
    std::thread::sleep(Duration::from_millis(50));
    pup.ok(&format!("post {h}"));
    assert_eq!(waiter.join().unwrap(), Ok(()));

    // NO_ACCUMULATE: three quick posts, one successful wait, the next times out.
    for _ in 0..3 {
        imp.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    }
    data_fence(&imp);
    seg.signal_wait(Some(WAIT)).unwrap();
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(200))), Err(Error::Timeout));
    // Pending from another importer: a NO_ACCUMULATE post adds nothing.
    pup.ok(&format!("post {h}"));
    pup.ok(&format!("post {h} noacc"));
    pup.ok(&format!("get {h} 0 1")); // the puppet's own data fence
    imp.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    data_fence(&imp);
    seg.signal_wait(Some(WAIT)).unwrap();
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(100))), Err(Error::Timeout));

    // The exporter's pollfd fires for a remote post and the wait consumes it.
    let mut fds = [seg.get_pollfd().unwrap()];
    assert_eq!(seg.destroy(), Err(Error::PollfdInUse));
    imp.signal_post(PostFlags::empty()).unwrap();
    assert_eq!(rsm::wait_pollfd(&mut fds, Some(WAIT)), Ok(1));
    assert_eq!(fds[0].revents, POLLRDNORM);
    assert_eq!(rsm::wait_pollfd(&mut fds, Some(Duration::ZERO)), Err(Error::Timeout));
    seg.release_pollfd().unwrap();

    // Posts to an unpublished segment are dropped silently (still 0).
    seg.unpublish().unwrap();
    assert_eq!(imp.signal_post(PostFlags::empty()), Ok(()));
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(100))), Err(Error::Timeout));
}

#[test]
fn exporter_post_wakes_every_importer_on_every_node() {
    let c = TestCluster::start(3);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    // Importers: one on the exporting node (through tcp0: memory), two on node 2, one on
    // node 3 in this process and one on node 3 in another process.
    let local = ImportSegment::connect(&c.controller(1, "tcp0"), 1, id, perm::READ).unwrap();
    let a2 = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).unwrap();
    let b2 = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).unwrap();
    let a3 = ImportSegment::connect(&c.controller(3, "tcp0"), 1, id, perm::READ).unwrap();
    let mut p3 = c.puppet(3);
    let h3 = p3.ok(&format!("connect 1 {id:#x} 400"));
    let all = [&local, &a2, &b2, &a3];

    seg.signal_post(PostFlags::empty()).unwrap();
    for (k, i) in all.iter().enumerate() {
        i.signal_wait(Some(WAIT)).unwrap_or_else(|e| panic!("importer {k}: {e}"));
    }
    p3.ok(&format!("wait {h3} 5000"));
    link_fence(&c, 1, 2);
    link_fence(&c, 1, 3);
    for (k, i) in all.iter().enumerate() {
        assert_eq!(i.signal_wait(Some(Duration::ZERO)), Err(Error::Timeout), "importer {k} woke twice");
    }
    assert_eq!(p3.err(&format!("wait {h3} 0")), "RSMERR_TIMEOUT");

    // Events accumulate: two posts, two waits each.
    seg.signal_post(PostFlags::empty()).unwrap();
    seg.signal_post(PostFlags::empty()).unwrap();
    for i in all {
        i.signal_wait(Some(WAIT)).unwrap();
        i.signal_wait(Some(WAIT)).unwrap();
    }
    p3.ok(&format!("wait {h3} 5000"));
    p3.ok(&format!("wait {h3} 5000"));

    // NO_ACCUMULATE from the exporter: three quick posts, one wait on every importer.
    for _ in 0..3 {
        seg.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    }
    link_fence(&c, 1, 2);
    link_fence(&c, 1, 3);
    for (k, i) in all.iter().enumerate() {
        i.signal_wait(Some(WAIT)).unwrap();
        assert_eq!(i.signal_wait(Some(Duration::ZERO)), Err(Error::Timeout), "importer {k}: NO_ACCUMULATE accumulated");
    }
    p3.ok(&format!("wait {h3} 5000"));
    assert_eq!(p3.err(&format!("wait {h3} 0")), "RSMERR_TIMEOUT");

    // A disconnected importer is no longer signalled; the others still are.
    b2.disconnect().unwrap();
    seg.signal_post(PostFlags::empty()).unwrap();
    a2.signal_wait(Some(WAIT)).unwrap();
    a3.signal_wait(Some(WAIT)).unwrap();
    local.signal_wait(Some(WAIT)).unwrap();
    assert_eq!(b2.signal_wait(Some(Duration::ZERO)), Err(Error::BadSegHndl));
}

#[test]
fn remote_import_pollfd_mixes_with_ordinary_descriptors() {
    let c = TestCluster::start(2);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o444 }]).unwrap();
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).unwrap();
    // A second segment, local to node 2, that nobody signals.
    let other = ExportSegment::allocate(&c.controller(2, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    other.publish(0, &[]).unwrap();
    let (r, w) = rustix::pipe::pipe().unwrap();
    let mut fds = [
        imp.get_pollfd().unwrap(),
        other.get_pollfd().unwrap(),
        PollFd { fd: r.as_raw_fd(), events: 0x001, revents: 0 },
    ];
    seg.signal_post(PostFlags::empty()).unwrap();
    link_fence(&c, 1, 2);
    rustix::io::write(&w, b"x").unwrap();
    assert_eq!(rsm::wait_pollfd(&mut fds, Some(WAIT)), Ok(2));
    assert_eq!(fds[0].revents, POLLRDNORM);
    assert_eq!(fds[1].revents, 0);
    assert_ne!(fds[2].revents & 0x001, 0);
    // The event was consumed; the pipe is still readable.
    assert_eq!(rsm::wait_pollfd(&mut fds, Some(Duration::ZERO)), Ok(1));
    assert_eq!(fds[0].revents, 0);
    rustix::io::read(&r, &mut [0u8; 1]).unwrap();
    assert_eq!(rsm::wait_pollfd(&mut fds, Some(Duration::ZERO)), Err(Error::Timeout));
    // A post while blocked in wait_pollfd wakes it.
    let poster = std::thread::spawn({
        let seg = seg.clone();
        move || {
            std::thread::sleep(Duration::from_millis(50));
            seg.signal_post(PostFlags::empty())
        }
    });
    assert_eq!(rsm::wait_pollfd(&mut fds[..1], Some(WAIT)), Ok(1));
    assert_eq!(poster.join().unwrap(), Ok(()));
    // While the pollfd is held the import cannot be disconnected.
    assert_eq!(imp.disconnect(), Err(Error::PollfdInUse));
    imp.release_pollfd().unwrap();
    other.release_pollfd().unwrap();
    imp.disconnect().unwrap();
    other.destroy().unwrap();
}

/// Two nodes; node 1 runs with `data_spin_us = 0`, so that its data thread must be woken for
/// every frame (the slow case for a post racing a disconnect); a segment of node 1 that node 2
/// may import.
fn slow_exporting_node() -> (TestCluster, ExportSegment, u32) {
    let c = TestCluster::start(2);
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    let cfg = c.dir().join("nospin.toml");
    std::fs::write(&cfg, format!("{text}\n[health]\ndata_spin_us = 0\n")).unwrap();
    c.kill_node(1);
    c.restart_node_with(1, &cfg);
    c.wait_path_state(2, 1, rsm::CONNECTION_ACTIVE, WAIT);
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o666 }]).unwrap();
    (c, seg, id)
}

/// Takes exactly `n` events, then no more come.
fn expect_events(seg: &ExportSegment, n: usize) {
    for k in 0..n {
        seg.signal_wait(Some(WAIT)).unwrap_or_else(|e| panic!("event {k} of {n}: {e}"));
    }
    assert_eq!(seg.signal_wait(Some(Duration::from_millis(200))), Err(Error::Timeout));
}

/// A post and an explicit-mode put made just before a disconnect (or the drop of the import)
/// reach the exporter, as they would on Solaris, where both are done by the time the call
/// returns. They travel on the data connection to the exporting agent, the disconnect through
/// the importing node's agent and the link, and the second must not overtake the first (the
/// exporting agent applies no put to an import that has ended).
#[test]
fn a_post_and_a_put_just_before_disconnect_are_delivered() {
    let (c, seg, id) = slow_exporting_node();
    let ctl = c.controller(2, "tcp0");
    const N: usize = 150;
    for i in 0..N {
        let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
        imp.set_mode(BarrierMode::Explicit).unwrap();
        imp.put64(8 * i, &[i as u64 + 1]).unwrap();
        imp.signal_post(PostFlags::empty()).unwrap();
        if i % 2 == 0 {
            imp.disconnect().unwrap();
        } else {
            drop(imp);
        }
    }
    expect_events(&seg, N);
    let mut b = vec![0u8; 8 * N];
    seg.read_at(0, &mut b).unwrap();
    for (i, v) in b.chunks_exact(8).enumerate() {
        assert_eq!(u64::from_ne_bytes(v.try_into().unwrap()), i as u64 + 1, "the put of import {i}");
    }
}

/// A process killed right after its post still delivers it: the importing agent ends the
/// import when it sees the process die, and the exporting agent still reads what the
/// importer sent before (its posts count; the import is not the exporter's to revoke here).
#[test]
fn a_post_just_before_the_importer_is_killed_is_delivered() {
    let (c, seg, id) = slow_exporting_node();
    const N: usize = 100;
    for _ in 0..N {
        let mut pup = c.puppet(2);
        let h = pup.ok(&format!("connect 1 {id:#x} 600"));
        pup.ok(&format!("post {h}"));
        pup.kill();
    }
    expect_events(&seg, N);
}
