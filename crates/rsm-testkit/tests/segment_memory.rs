//! Where the agent gets a published segment's memory from. By default the exporter keeps its
//! memfd open and the agent takes a duplicate (`pidfd_getfd`) whenever an importer, or its
//! own mapping for remote importers, needs one: a published segment costs the agent one
//! descriptor (the event counter) instead of three, which is what lets one node publish
//! 10,000 segments under a 20,000-descriptor limit. With `limits.hold_segment_memory` (or
//! when it may not take descriptors from the exporter) the agent holds the memfd and its
//! read-only reopen as well, and keeps serving the segment whatever the exporter does with
//! its descriptors.
//!
//! The test process is the exporter (the segments are its own); importers are puppets.
// Pointing the library's memfd descriptor at /dev/null behind its back is a raw dup2.
#![allow(unsafe_code)]

use rsm::{ExportFlags, ExportSegment};
use rsm_testkit::{TestAgent, wait_until};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const N: usize = 64;
const SIZE: usize = 8192;

/// Whether this kernel gives a peer's pidfd (`SO_PEERPIDFD`, Linux 6.5); without it the agent
/// always holds segment memory.
fn kernel_has_peer_pidfd() -> bool {
    let (a, _b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rsm_os::creds::peer_pidfd(&a).is_ok()
}

/// The descriptor number at which the library keeps `seg`'s memfd: the one whose inode is
/// that of the mapping at `seg.as_ptr()`.
fn memfd_slot_of(seg: &ExportSegment) -> i32 {
    let addr = seg.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let ino: u64 = maps
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let start = usize::from_str_radix(f.next()?.split('-').next()?, 16).ok()?;
            if start != addr {
                return None;
            }
            f.nth(3)?.parse().ok()
        })
        .expect("the segment's mapping in /proc/self/maps");
    for ent in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let link = std::fs::read_link(ent.path()).unwrap_or_default();
        if link.to_string_lossy().starts_with("/memfd:rsm-segment")
            && std::fs::metadata(ent.path()).is_ok_and(|m| m.ino() == ino)
        {
            return ent.file_name().to_string_lossy().parse().unwrap();
        }
    }
    panic!("no descriptor of the segment's memfd (inode {ino})");
}

/// What an application that closes descriptors it does not own does to the library: the
/// memfd's descriptor number now refers to /dev/null.
fn clobber(slot: i32) {
    let null = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: `slot` is the library's memfd descriptor of a segment this test owns;
    // replacing it is the misbehaviour under test. The library's mapping keeps the memory,
    // and it only ever closes the descriptor later (closing /dev/null instead).
    let r = unsafe { libc::dup2(null.as_raw_fd(), slot) };
    assert_eq!(r, slot, "dup2: {}", std::io::Error::last_os_error());
}

/// Connects puppet `p` to segment `id` with `perm` and sets up its barrier.
fn connect(p: &mut rsm_testkit::Puppet, id: u32, perm: &str) -> String {
    let h = p.ok(&format!("connect 1 {id} {perm}"));
    p.ok(&format!("barrier {h}"));
    h
}

fn publish_many(agent: &TestAgent) -> Vec<(ExportSegment, u32)> {
    let ctl = agent.controller("loopback");
    (0..N)
        .map(|i| {
            let seg = ExportSegment::allocate(&ctl, SIZE, ExportFlags::empty()).unwrap();
            seg.write_at(100, format!("segment-{i}").as_bytes()).unwrap();
            let id = seg.publish(0, &[]).unwrap();
            (seg, id)
        })
        .collect()
}

#[test]
fn the_agent_takes_segment_memory_from_the_exporter() {
    if !kernel_has_peer_pidfd() {
        println!("SKIPPED: this kernel has no SO_PEERPIDFD (Linux 6.5): the agent always holds segment memory");
        return;
    }
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    drop(ctl);
    let before = agent.open_fds();
    let segs = publish_many(&agent);
    let grew = agent.open_fds() - before;
    // One per segment (its event counter), plus the exporter's pidfd and connection.
    assert!(
        (N..=N + 3).contains(&grew),
        "the agent holds {grew} more descriptors for {N} published segments (expected about one each)"
    );

    let mut p = agent.puppet();
    // Read-write importers: what they put is in the exporter's memory, and they see its data.
    for i in [0, 17, N - 1] {
        let (seg, id) = &segs[i];
        let h = connect(&mut p, *id, "600");
        assert_eq!(p.ok(&format!("get {h} 100 {}", format!("segment-{i}").len())), format!("segment-{i}"));
        p.ok(&format!("put {h} 200 from-importer-{i}"));
        let mut got = vec![0u8; format!("from-importer-{i}").len()];
        seg.read_at(200, &mut got).unwrap();
        assert_eq!(got, format!("from-importer-{i}").as_bytes());
        p.ok(&format!("disconnect {h}"));
    }
    // A read-only importer gets a read-only descriptor: reads work, a writable mapping or a
    // put is refused, and the exporter's memory is unchanged.
    let (seg, id) = &segs[3];
    let h = p.ok(&format!("connect 1 {id} 400"));
    assert_eq!(p.ok(&format!("rights {h}")), "400");
    assert_eq!(p.err(&format!("map {h} 600")), "RSMERR_BAD_PERMS");
    p.ok(&format!("map {h} 400"));
    assert_eq!(p.ok(&format!("load {h} 100 9")), "segment-3");
    assert_eq!(p.ok(&format!("tryprotect {h}")).split(' ').next(), Some("denied"));
    p.ok(&format!("unmap {h}"));
    p.ok(&format!("barrier {h}"));
    assert_eq!(p.ok(&format!("get {h} 100 9")), "segment-3");
    assert_eq!(p.err(&format!("put {h} 100 x")), "RSMERR_PERM_DENIED");
    p.ok(&format!("disconnect {h}"));
    let mut got = [0u8; 9];
    seg.read_at(100, &mut got).unwrap();
    assert_eq!(&got, b"segment-3");

    // The exporter's descriptor no longer holds the memfd: new connects to that segment fail
    // cleanly, an importer already connected keeps working, and nothing else is disturbed.
    let (seg5, id5) = &segs[5];
    let early = connect(&mut p, *id5, "600");
    clobber(memfd_slot_of(seg5));
    assert_eq!(p.err(&format!("connect 1 {id5} 600")), "RSMERR_SEG_NOT_PUBLISHED");
    assert!(agent.log().contains("no longer holds the segment's memfd"), "{}", agent.log());
    p.ok(&format!("put {early} 300 still-connected"));
    let mut got = [0u8; 15];
    seg5.read_at(300, &mut got).unwrap();
    assert_eq!(&got, b"still-connected");
    p.ok(&format!("disconnect {early}"));
    let (_, id6) = &segs[6];
    let h = connect(&mut p, *id6, "600");
    assert_eq!(p.ok(&format!("get {h} 100 9")), "segment-6");
    p.ok(&format!("disconnect {h}"));
    let st = agent.status();
    assert_eq!((st.published, st.memory_held), (N as u64, 0), "{st:?}");

    // Destroying everything gives every descriptor back (the duplicates taken for the
    // importers were not kept).
    drop(p);
    for (seg, _) in segs {
        seg.destroy().unwrap();
    }
    wait_until(Duration::from_secs(10), "the agent to close the segments' descriptors", || {
        agent.open_fds() <= before + 1
    });
}

#[test]
fn with_hold_segment_memory_the_agent_keeps_it() {
    let agent = TestAgent::start_with(1, &["[limits]", "hold_segment_memory = true"]);
    drop(agent.controller("loopback"));
    let before = agent.open_fds();
    let segs = publish_many(&agent);
    let grew = agent.open_fds() - before;
    assert!(grew >= 3 * N, "the agent holds only {grew} more descriptors for {N} published segments");
    let st = agent.status();
    assert_eq!((st.published, st.memory_held), (N as u64, N as u64), "{st:?}");

    // Whatever the exporter does with its descriptors, importers still get the memory.
    let mut p = agent.puppet();
    let (seg, id) = &segs[9];
    clobber(memfd_slot_of(seg));
    let h = connect(&mut p, *id, "600");
    assert_eq!(p.ok(&format!("get {h} 100 9")), "segment-9");
    p.ok(&format!("put {h} 200 held"));
    let mut got = [0u8; 4];
    seg.read_at(200, &mut got).unwrap();
    assert_eq!(&got, b"held");
    let h2 = connect(&mut p, *id, "400");
    assert_eq!(p.err(&format!("put {h2} 0 x")), "RSMERR_PERM_DENIED");
    drop(p);
    for (seg, _) in segs {
        seg.destroy().unwrap();
    }
    wait_until(Duration::from_secs(10), "the agent to close the segments' descriptors", || {
        agent.open_fds() <= before + 1
    });
}
