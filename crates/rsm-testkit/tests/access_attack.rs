//! Issue 6, access control under attack: importers that must get nothing try everything they
//! can reach, and afterwards the exporter's whole segment is read back and compared with what
//! it held before. An importing node outside the access list, a user without the rights (real
//! other uids, root only), and a revoked importer that keeps its old mapping. The fourth
//! attacker, a process speaking the network protocols without the cluster key, is in
//! `cluster_auth.rs` (same check: the exporter's memory unchanged afterwards).
// The revoked importer's loads and stores through its old mapping are raw pointer accesses.
#![allow(unsafe_code)]

use rsm::{AccessEntry, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{Identity, TestAgent, TestCluster, pattern, require_root, wait_until};
use std::time::Duration;

const SIZE: usize = 64 * 1024;

fn read_all(seg: &ExportSegment) -> Vec<u8> {
    let mut v = vec![0u8; SIZE];
    seg.read_at(0, &mut v).unwrap();
    v
}

/// A segment of node 1 filled with a known pattern, published with `acl`.
fn victim(ctl: &Controller, acl: &[AccessEntry]) -> (ExportSegment, u32, Vec<u8>) {
    let seg = ExportSegment::allocate(ctl, SIZE, ExportFlags::empty()).unwrap();
    let content = pattern(0x5ec7e7, SIZE);
    seg.write_at(0, &content).unwrap();
    let id = seg.publish(0, acl).unwrap();
    (seg, id, content)
}

#[test]
fn a_node_outside_the_access_list_reads_and_changes_nothing() {
    let c = TestCluster::start(3);
    // Node 2 may read and write; node 3 is not on the list.
    let (seg, id, content) = victim(&c.controller(1, "tcp0"), &[AccessEntry { node: 2, perm: 0o666 }]);
    let outsider = c.controller(3, "tcp0");
    for want in [perm::RDWR, perm::READ, perm::WRITE] {
        assert_eq!(
            ImportSegment::connect(&outsider, 1, id, want).unwrap_err(),
            Error::SegNotPublishedToNode,
            "node 3 asking for {want:o}"
        );
    }
    // Guessing other ids gets no further.
    for guess in [id + 1, id.wrapping_sub(1), 0x600000, u32::MAX] {
        assert!(ImportSegment::connect(&outsider, 1, guess, perm::RDWR).is_err(), "guessed id {guess:#x}");
    }
    // Node 2, on the list, can: the refusal above was the list, not the path.
    let insider = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).unwrap();
    let _bar = insider.init_barrier(BarrierType::Node).unwrap();
    let mut got = vec![0u8; 64];
    insider.get(0, &mut got).unwrap();
    assert_eq!(got, content[..64]);
    assert!(read_all(&seg) == content, "the exporter's memory changed");
    assert!(c.status_of(1).connects_refused >= 3);
}

#[test]
fn a_user_without_the_rights_reads_and_changes_nothing() {
    require_root!();
    let agent = TestAgent::start(1);
    // Owner root (uid 0) with mode 0600 on the local node: another uid has no right at all,
    // a member of another group none either.
    let (seg, id, content) = victim(&agent.controller("loopback"), &[AccessEntry { node: 1, perm: 0o600 }]);
    for who in [Identity::new(4343, 5000), Identity::new(4343, 0), Identity::new(4343, 5000).with_groups(&[0])] {
        let mut p = agent.puppet_as(&who);
        for want in ["600", "400", "200"] {
            let r = p.cmd(&format!("connect 1 {id:#x} {want}"));
            assert_eq!(r, "err RSMERR_PERM_DENIED", "{who:?} asking for {want}");
        }
        // A zero-rights connection is granted nothing: no get, no put, no mapping.
        let h = p.ok(&format!("connect 1 {id:#x} 0"));
        assert_eq!(p.ok(&format!("rights {h}")), "0");
        p.ok(&format!("barrier {h}"));
        assert_eq!(p.err(&format!("get {h} 0 16")), "RSMERR_PERM_DENIED");
        assert_eq!(p.err(&format!("put {h} 0 intruder")), "RSMERR_PERM_DENIED");
        assert!(p.cmd(&format!("map {h} 400")).starts_with("err "), "a mapping without rights");
        assert!(p.cmd(&format!("map {h} 600")).starts_with("err "), "a mapping without rights");
        p.ok(&format!("disconnect {h}"));
    }
    assert!(read_all(&seg) == content, "the exporter's memory changed");
}

#[test]
fn a_revoked_importer_with_its_old_mapping_reads_and_changes_nothing() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let (seg, id, content) = victim(&ctl, &[]);
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let ptr = imp.map(perm::RDWR, 0, SIZE).unwrap();
    // Before the revocation the mapping is the exporter's memory.
    // SAFETY: the mapping covers SIZE bytes until unmap.
    assert_eq!(unsafe { ptr.as_ptr().wrapping_add(7).read_volatile() }, content[7]);

    seg.unpublish().unwrap();
    wait_until(Duration::from_secs(10), "the revocation to reach the importer", || imp.is_revoked());
    // The exporter changes its memory after the revocation: the old mapping must not see it.
    let after = pattern(0xaf7e4, SIZE);
    seg.write_at(0, &after).unwrap();
    let mut seen_after = 0;
    for (i, &a) in after.iter().enumerate() {
        // SAFETY: revocation replaces the mapping's pages in place; the range (SIZE bytes)
        // stays mapped and writable until unmap.
        let b = unsafe { ptr.as_ptr().wrapping_add(i).read_volatile() };
        if b == a && b != 0 {
            seen_after += 1;
        }
        // SAFETY: as above.
        unsafe { ptr.as_ptr().wrapping_add(i).write_volatile(!a) };
    }
    // Pattern bytes agree by chance with probability 1/256 per byte; anything near that is
    // chance, the whole segment would be a leak.
    assert!(seen_after < SIZE / 64, "the old mapping still shows the exporter's new bytes ({seen_after})");
    assert!(read_all(&seg) == after, "stores through the revoked mapping reached the exporter");
    // Neither do the library calls.
    assert_eq!(imp.put(0, b"intruder").unwrap_err(), Error::ConnAborted);
    assert_eq!(imp.get(0, &mut [0u8; 8]).unwrap_err(), Error::ConnAborted);
    imp.unmap().unwrap();
    assert_eq!(imp.map(perm::RDWR, 0, SIZE).unwrap_err(), Error::ConnAborted);
    // Republished, the old connection stays dead and the bytes are the exporter's.
    let id2 = seg.publish(0, &[]).unwrap();
    assert_eq!(imp.put(0, b"intruder").unwrap_err(), Error::ConnAborted);
    let fresh = ImportSegment::connect(&ctl, 1, id2, perm::READ).unwrap();
    let _bar = fresh.init_barrier(BarrierType::Node).unwrap();
    let mut got = vec![0u8; SIZE];
    fresh.get(0, &mut got).unwrap();
    assert!(got == after);
    assert!(read_all(&seg) == after, "the exporter's memory changed");
    drop(content);
}
