//! A client process that runs out of descriptors while it connects: the connect fails with
//! `RSMERR_INSUFFICIENT_RESOURCES`, the process keeps its agent connection (so its own
//! published segments stay published), and a grant whose descriptors were lost in transit is
//! given back (the agent's import count matches the client's).

use rsm::{BarrierType, ImportSegment, perm};
use rsm_testkit::{Puppet, TestAgent};

#[test]
fn a_client_out_of_descriptors_keeps_its_segments_and_leaks_no_import() {
    let agent = TestAgent::start(1);
    // 48 descriptors for the whole puppet: a few dozen imports at most.
    let mut p = Puppet::at(agent.socket()).wrapped(&["prlimit", "--nofile=48:48", "--"]).spawn();
    p.ok("ctl loopback");
    let h = p.ok("export 8192");
    p.ok(&format!("write {h} 0 still-mine"));
    let id = p.num(&format!("publish {h} 0"));
    let mut ok = 0;
    let err = loop {
        let r = p.cmd(&format!("connect 1 {id:#x} 600"));
        match r.strip_prefix("ok ") {
            Some(_) => ok += 1,
            None => break r,
        }
        assert!(ok < 1000, "never ran out of descriptors");
    };
    assert_eq!(err, "err RSMERR_INSUFFICIENT_RESOURCES", "after {ok} imports");
    assert!(ok > 0);
    // Still connected to its agent: its segment is published and importable...
    let seg = agent.segments().into_iter().find(|s| s.segment_id == Some(id as u32)).expect("still published");
    // ...and the agent holds exactly the imports the client got (none half-granted).
    assert_eq!(seg.importers as usize, ok, "imports held by the agent");
    assert_eq!(agent.status().imports as usize, ok);
    let ctl = agent.controller("loopback");
    let imp = ImportSegment::connect(&ctl, 1, id as u32, perm::READ).unwrap();
    let _b = imp.init_barrier(BarrierType::Node).unwrap();
    let mut got = [0u8; 10];
    imp.get(0, &mut got).unwrap();
    assert_eq!(&got, b"still-mine");
    // And the puppet itself still talks to its agent.
    p.ok(&format!("write {h} 0 still-ok!!"));
    assert!(!p.ok("whoami").is_empty());
}
