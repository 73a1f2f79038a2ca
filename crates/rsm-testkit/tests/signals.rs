//! Events between processes: T13 (post/wait, accumulation, NO_ACCUMULATE) and T14
//! (poll descriptors mixed with ordinary descriptors).

use rsm::{Error, ExportFlags, ExportSegment, ImportSegment, POLLRDNORM, PollFd, PostFlags, perm, wait_pollfd};
use rsm_testkit::TestAgent;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const MS: fn(u64) -> Option<Duration> = |ms| Some(Duration::from_millis(ms));

fn published(agent: &TestAgent) -> (ExportSegment, u32) {
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    (seg, id)
}

#[test]
fn t13_importer_posts_accumulate_at_the_exporter() {
    let agent = TestAgent::start(1);
    let (seg, id) = published(&agent);
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 600"));
    // Nothing pending: a zero timeout polls.
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    for _ in 0..3 {
        p.ok(&format!("post {h}"));
    }
    for i in 0..3 {
        seg.signal_wait(MS(1000)).unwrap_or_else(|e| panic!("wait {i}: {e}"));
    }
    let t = Instant::now();
    assert_eq!(seg.signal_wait(MS(100)).unwrap_err(), Error::Timeout);
    assert!(t.elapsed() >= Duration::from_millis(90), "the timeout was honoured");
    // NO_ACCUMULATE: three quick posts, one event (the contract; illumos ignored the flag).
    for _ in 0..3 {
        p.ok(&format!("post {h} noacc"));
    }
    seg.signal_wait(MS(1000)).unwrap();
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    // An accumulating post counts on top of a pending one; a NO_ACCUMULATE one does not.
    p.ok(&format!("post {h}"));
    p.ok(&format!("post {h} noacc"));
    p.ok(&format!("post {h}"));
    seg.signal_wait(MS(1000)).unwrap();
    seg.signal_wait(MS(1000)).unwrap();
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
}

#[test]
fn t13_exporter_posts_reach_every_importer_once() {
    let agent = TestAgent::start(1);
    let (seg, id) = published(&agent);
    let ctl = agent.controller("loopback");
    let local = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    let mut p = agent.puppet();
    let h1 = p.ok(&format!("connect 1 {id} 600"));
    let h2 = p.ok(&format!("connect 1 {id} 0"));
    let mut q = agent.puppet();
    let h3 = q.ok(&format!("connect 1 {id} 400"));
    // An import of another segment must not hear it.
    let (_other, other_id) = published(&agent);
    let unrelated = ImportSegment::connect(&ctl, 1, other_id, perm::READ).unwrap();

    seg.signal_post(PostFlags::empty()).unwrap();
    local.signal_wait(MS(1000)).unwrap();
    p.ok(&format!("wait {h1} 1000"));
    p.ok(&format!("wait {h2} 1000"));
    q.ok(&format!("wait {h3} 1000"));
    assert_eq!(local.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    assert_eq!(p.err(&format!("wait {h1} 0")), "RSMERR_TIMEOUT");
    assert_eq!(q.err(&format!("wait {h3} 0")), "RSMERR_TIMEOUT");
    assert_eq!(unrelated.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    // The exporter does not hear its own posts.
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);

    // Two posts, two waits each; NO_ACCUMULATE ones collapse.
    seg.signal_post(PostFlags::empty()).unwrap();
    seg.signal_post(PostFlags::empty()).unwrap();
    seg.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    for _ in 0..2 {
        local.signal_wait(MS(1000)).unwrap();
        q.ok(&format!("wait {h3} 1000"));
    }
    assert_eq!(local.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    assert_eq!(q.err(&format!("wait {h3} 0")), "RSMERR_TIMEOUT");
    p.ok(&format!("disconnect {h1}"));
    seg.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    seg.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    q.ok(&format!("wait {h3} 1000"));
    assert_eq!(q.err(&format!("wait {h3} 0")), "RSMERR_TIMEOUT");
    assert_eq!(p.err(&format!("wait {h1} 0")), "RSMERR_BAD_SEG_HNDL");
    assert_eq!(agent.status().signals, 4 + 3 * 4 + 2 * 3, "the agent counts one delivery per importer and post");
}

#[test]
fn t13_a_blocked_waiter_wakes_on_a_post_from_another_process() {
    let agent = TestAgent::start(1);
    let (seg, id) = published(&agent);
    let mut p = agent.puppet();
    let h = p.ok(&format!("connect 1 {id} 0"));
    let waiter = {
        let seg = seg.clone();
        std::thread::spawn(move || seg.signal_wait(None))
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished(), "the waiter must block until the post");
    p.ok(&format!("post {h}"));
    waiter.join().unwrap().unwrap();
    // And the other way round: an importer blocked in wait, the exporter posts.
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::READ).unwrap();
    let waiter = {
        let imp = imp.clone();
        std::thread::spawn(move || imp.signal_wait(MS(10_000)))
    };
    std::thread::sleep(Duration::from_millis(50));
    seg.signal_post(PostFlags::empty()).unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn t13_posts_around_revocation_and_bad_handles() {
    let agent = TestAgent::start(1);
    let (seg, id) = published(&agent);
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    seg.unpublish().unwrap();
    // Posts to an unpublished segment are dropped silently, in both directions.
    imp.signal_post(PostFlags::empty()).unwrap();
    imp.signal_post(PostFlags::NO_ACCUMULATE).unwrap();
    seg.signal_post(PostFlags::empty()).unwrap();
    let id2 = seg.publish(0, &[]).unwrap();
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    assert_eq!(imp.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    // The stale import stays deaf after the republish; a new one hears.
    let fresh = ImportSegment::connect(&ctl, 1, id2, perm::RDWR).unwrap();
    imp.signal_post(PostFlags::empty()).unwrap();
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    fresh.signal_post(PostFlags::empty()).unwrap();
    seg.signal_wait(MS(1000)).unwrap();
    // Bad handles.
    imp.disconnect().unwrap();
    assert_eq!(imp.signal_post(PostFlags::empty()).unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.signal_wait(MS(0)).unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.get_pollfd().unwrap_err(), Error::BadSegHndl);
    assert_eq!(imp.release_pollfd().unwrap_err(), Error::BadSegHndl);
    seg.destroy().unwrap();
    assert_eq!(seg.signal_wait(MS(0)).unwrap_err(), Error::BadSegHndl);
    assert_eq!(seg.signal_post(PostFlags::empty()).unwrap_err(), Error::BadSegHndl);
    assert_eq!(seg.release_pollfd().unwrap_err(), Error::BadSegHndl);
}

#[test]
fn t14_pollfds_mixed_with_a_pipe() {
    let agent = TestAgent::start(1);
    // A: exported here, an importer process posts to it.
    let (a, a_id) = published(&agent);
    let mut p = agent.puppet();
    let ah = p.ok(&format!("connect 1 {a_id} 600"));
    // B: exported by another process, imported here.
    let mut e = agent.puppet();
    let eh = e.ok("export 4096");
    let b_id = e.num(&format!("publish {eh} 0"));
    let ctl = agent.controller("loopback");
    let b = ImportSegment::connect(&ctl, 1, b_id as u32, perm::RDWR).unwrap();
    let (r, w) = rustix::pipe::pipe().unwrap();

    let pa = a.get_pollfd().unwrap();
    let pb = b.get_pollfd().unwrap();
    assert_eq!((pa.events, pb.events), (POLLRDNORM, POLLRDNORM));
    let mut fds = [pa, pb, PollFd { fd: r.as_raw_fd(), events: libc::POLLIN, revents: 0 }];

    // Nothing yet.
    assert_eq!(wait_pollfd(&mut fds, MS(0)).unwrap_err(), Error::Timeout);
    // An event on A and data on the pipe.
    p.ok(&format!("post {ah}"));
    rustix::io::write(&w, b"x").unwrap();
    let n = wait_pollfd(&mut fds, MS(1000)).unwrap();
    assert_eq!(n, 2, "{fds:?}");
    assert_eq!(fds[0].revents, POLLRDNORM);
    assert_eq!(fds[1].revents, 0);
    assert_ne!(fds[2].revents & libc::POLLIN, 0);
    // The event on A was consumed; the pipe is still readable.
    assert_eq!(wait_pollfd(&mut fds, MS(0)).unwrap(), 1);
    assert_eq!(fds[0].revents, 0);
    assert_ne!(fds[2].revents & libc::POLLIN, 0);
    assert_eq!(a.signal_wait(MS(0)).unwrap_err(), Error::Timeout);
    rustix::io::read(&r, &mut [0u8; 1]).unwrap();
    assert_eq!(wait_pollfd(&mut fds, MS(0)).unwrap_err(), Error::Timeout);
    // The exporter process posts to B; two posts are two events.
    e.ok(&format!("epost {eh}"));
    e.ok(&format!("epost {eh}"));
    assert_eq!(wait_pollfd(&mut fds, MS(1000)).unwrap(), 1);
    assert_eq!(fds[1].revents, POLLRDNORM);
    assert_eq!(wait_pollfd(&mut fds[1..2], MS(1000)).unwrap(), 1);
    assert_eq!(wait_pollfd(&mut fds, MS(50)).unwrap_err(), Error::Timeout);
    // A posted event is also consumable by a plain wait (same counter).
    p.ok(&format!("post {ah}"));
    a.signal_wait(MS(1000)).unwrap();
    assert_eq!(wait_pollfd(&mut fds, MS(0)).unwrap_err(), Error::Timeout);

    // While a poll descriptor is held, destroy and disconnect refuse.
    assert_eq!(a.destroy().unwrap_err(), Error::PollfdInUse);
    assert_eq!(b.disconnect().unwrap_err(), Error::PollfdInUse);
    // Two gets need two releases.
    let _again = a.get_pollfd().unwrap();
    a.release_pollfd().unwrap();
    assert_eq!(a.destroy().unwrap_err(), Error::PollfdInUse);
    a.release_pollfd().unwrap();
    a.release_pollfd().unwrap(); // never below zero
    b.release_pollfd().unwrap();
    a.destroy().unwrap();
    b.disconnect().unwrap();
    // The importer process of A sees the destroy.
    assert_eq!(p.err(&format!("connect 1 {a_id} 600")), "RSMERR_SEG_NOT_PUBLISHED");
}

#[test]
fn waits_interrupted_by_a_signal() {
    let agent = TestAgent::start(1);
    let (seg, id) = published(&agent);
    let mut e = agent.puppet();
    let eh = e.ok("export 4096");
    e.ok(&format!("publish {eh} 0"));
    let mut p = agent.puppet();
    p.ok("catch");
    e.ok("catch");
    let h = p.ok(&format!("connect 1 {id} 600"));
    // An importer blocked in wait, and an exporter blocked in wait, each get a signal.
    for (puppet, line) in [(&mut p, format!("wait {h} 20000")), (&mut e, format!("ewait {eh} 20000"))] {
        let t = Instant::now();
        puppet.send(&line);
        // Signal until the answer comes (a signal before the puppet blocks is harmless).
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pid = puppet.pid();
        let kicker = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    rsm_testkit::send_signal(pid, libc::SIGUSR1);
                }
            })
        };
        let answer = puppet.reply();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        kicker.join().unwrap();
        assert_eq!(answer, "err RSMERR_INTERRUPTED");
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(puppet.ok("ping"), "pong");
    }
    // The segment still works afterwards.
    p.ok(&format!("post {h}"));
    seg.signal_wait(MS(1000)).unwrap();
}

/// Poll descriptors follow the man pages where illumos did not (RSMAPI 3.4, 3.10, section 8
/// item 6): only a published export or a connected import gives one, and unpublish fails
/// while one is held, as destroy and disconnect do.
#[test]
fn pollfd_needs_a_live_segment_and_blocks_unpublish() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, 4096, ExportFlags::empty()).unwrap();
    assert_eq!(seg.get_pollfd().unwrap_err(), Error::BadSegHndl, "not published yet");
    let id = seg.publish(0, &[]).unwrap();
    let pfd = seg.get_pollfd().unwrap();
    assert_eq!(pfd.events, POLLRDNORM);
    assert_eq!(seg.unpublish().unwrap_err(), Error::PollfdInUse);
    // Still published and working: an importer connects and posts, the descriptor reports it.
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    imp.signal_post(PostFlags::empty()).unwrap();
    let mut fds = [pfd];
    assert_eq!(wait_pollfd(&mut fds, MS(1000)).unwrap(), 1);
    seg.release_pollfd().unwrap();
    let ipfd = imp.get_pollfd().unwrap();
    assert_eq!(ipfd.events, POLLRDNORM);
    imp.release_pollfd().unwrap();
    seg.unpublish().unwrap();
    // The importer is cut off: no descriptor for it, and none for the unpublished export.
    assert_eq!(imp.get_pollfd().unwrap_err(), Error::BadSegHndl, "revoked import");
    assert_eq!(seg.get_pollfd().unwrap_err(), Error::BadSegHndl, "unpublished again");
    imp.disconnect().unwrap();
    // Published again, it gives descriptors again.
    seg.publish(0, &[]).unwrap();
    seg.get_pollfd().unwrap();
    seg.release_pollfd().unwrap();
    seg.destroy().unwrap();
}
