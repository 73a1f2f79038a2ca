//! Issue #3, access control of remote imports (RSMAPI section 4, remote T10): decided at the
//! exporting node from its access list for the importing node (authenticated by the link) and
//! the owner/group/other bits against the importing process's real credentials, which its
//! agent takes from `SO_PEERCRED`. Puppets run as real, different uids (root only).

use rsm::{Error, ImportSegment, perm};
use rsm_testkit::{Identity, TestCluster, require_root};

#[test]
fn the_0624_worked_example_across_nodes() {
    require_root!();
    let c = TestCluster::start(2);
    let mut ex = c.puppet_as(1, &Identity::new(5001, 5001));
    assert_eq!(ex.ok("whoami"), "5001 5001");
    let h = ex.ok("export 65536");
    let id = ex.num(&format!("publish {h} 0 2:624"));
    ex.ok(&format!("write {h} 0 exported-data"));
    // A second segment whose list names only the exporting node.
    let h2 = ex.ok("export 4096");
    let id2 = ex.num(&format!("publish {h2} 0 1:666"));

    // Owner (same uid on the importing node): read and write.
    let mut owner = c.puppet_as(2, &Identity::new(5001, 5001));
    let o = owner.ok(&format!("connect 1 {id:#x} 600"));
    assert_eq!(owner.ok(&format!("rights {o}")), "600");
    owner.ok(&format!("barrier {o}"));
    assert_eq!(owner.ok(&format!("get {o} 0 13")), "exported-data");
    owner.ok(&format!("put {o} 200 owner-wrote"));

    // Group, primary or supplementary: write only.
    for who in [Identity::new(5002, 5001), Identity::new(5003, 5003).with_groups(&[5001])] {
        let mut g = c.puppet_as(2, &who);
        assert_eq!(g.err(&format!("connect 1 {id:#x} 600")), "RSMERR_PERM_DENIED", "{who:?}");
        assert_eq!(g.err(&format!("connect 1 {id:#x} 400")), "RSMERR_PERM_DENIED", "{who:?}");
        let w = g.ok(&format!("connect 1 {id:#x} 200"));
        assert_eq!(g.ok(&format!("rights {w}")), "200");
        g.ok(&format!("barrier {w}"));
        g.ok(&format!("put {w} 100 group-wrote{}", who.uid));
        assert_eq!(g.err(&format!("get {w} 0 4")), "RSMERR_PERM_DENIED");
        assert_eq!(ex.ok(&format!("read {h} 100 15")), format!("group-wrote{}", who.uid));
    }

    // Others: read only.
    let mut other = c.puppet_as(2, &Identity::new(5004, 5004));
    assert_eq!(other.err(&format!("connect 1 {id:#x} 200")), "RSMERR_PERM_DENIED");
    assert_eq!(other.err(&format!("connect 1 {id:#x} 600")), "RSMERR_PERM_DENIED");
    let r = other.ok(&format!("connect 1 {id:#x} 400"));
    other.ok(&format!("barrier {r}"));
    assert_eq!(other.ok(&format!("get {r} 200 11")), "owner-wrote");
    assert_eq!(other.err(&format!("put {r} 0 x")), "RSMERR_PERM_DENIED");
    // No rights asked, none given: a connection that can do nothing.
    let n = other.ok(&format!("connect 1 {id:#x} 0"));
    assert_eq!(other.ok(&format!("rights {n}")), "0");
    other.ok(&format!("barrier {n}"));
    assert_eq!(other.err(&format!("get {n} 0 1")), "RSMERR_PERM_DENIED");
    // Bits outside 0600 are refused before anything else.
    assert_eq!(other.err(&format!("connect 1 {id:#x} 700")), "RSMERR_PERM_DENIED");

    // A node missing from the list cannot import, whoever asks (even the owner).
    assert_eq!(owner.err(&format!("connect 1 {id2:#x} 400")), "RSMERR_SEG_NOT_PUBLISHED_TO_NODE");
    assert_eq!(other.err(&format!("connect 1 {id2:#x} 400")), "RSMERR_SEG_NOT_PUBLISHED_TO_NODE");
    // uid 0 is privileged for the ugo bits, not for the node list.
    let root = c.controller(2, "tcp0");
    let imp = ImportSegment::connect(&root, 1, id as u32, perm::RDWR).unwrap();
    assert_eq!(imp.rights(), perm::RDWR);
    assert_eq!(ImportSegment::connect(&root, 1, id2 as u32, perm::READ).err(), Some(Error::SegNotPublishedToNode));
    // Nothing but the owner's and the groups' writes reached the exporter's memory.
    assert_eq!(ex.ok(&format!("read {h} 0 13")), "exported-data");
    assert_eq!(ex.ok(&format!("read {h} 200 11")), "owner-wrote");
}

#[test]
fn an_empty_list_uses_the_creators_umask_and_a_node_entry_caps_it() {
    require_root!();
    let c = TestCluster::start(2);
    let mut ex = c.puppet_as(1, &Identity::new(5101, 5101));
    ex.ok("umask 022");
    let h022 = ex.ok("export 4096");
    let id022 = ex.num(&format!("publish {h022} 0"));
    ex.ok("umask 002");
    let h002 = ex.ok("export 4096");
    let id002 = ex.num(&format!("publish {h002} 0"));
    ex.ok("umask 000");
    let hcap = ex.ok("export 4096");
    let idcap = ex.num(&format!("publish {hcap} 0 2:444"));

    let mut owner = c.puppet_as(2, &Identity::new(5101, 5101));
    let mut group = c.puppet_as(2, &Identity::new(5102, 5101));
    let mut other = c.puppet_as(2, &Identity::new(5103, 5103));
    // umask 022 → 0644: owner rw, group and others read.
    owner.ok(&format!("connect 1 {id022:#x} 600"));
    group.ok(&format!("connect 1 {id022:#x} 400"));
    assert_eq!(group.err(&format!("connect 1 {id022:#x} 200")), "RSMERR_PERM_DENIED");
    other.ok(&format!("connect 1 {id022:#x} 400"));
    assert_eq!(other.err(&format!("connect 1 {id022:#x} 600")), "RSMERR_PERM_DENIED");
    // umask 002 → 0664: the group may write too, others still only read.
    group.ok(&format!("connect 1 {id002:#x} 600"));
    other.ok(&format!("connect 1 {id002:#x} 400"));
    assert_eq!(other.err(&format!("connect 1 {id002:#x} 200")), "RSMERR_PERM_DENIED");
    // A node entry of 0444 caps even the owner at read.
    assert_eq!(owner.err(&format!("connect 1 {idcap:#x} 600")), "RSMERR_PERM_DENIED");
    owner.ok(&format!("connect 1 {idcap:#x} 400"));
    other.ok(&format!("connect 1 {idcap:#x} 400"));
}
