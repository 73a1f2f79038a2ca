//! T1: controllers and topology, against real agents.

use rsm::{CONNECTION_ACTIVE, Controller, DAS8, DAS16, DAS32, DAS64, Error};
use rsm_testkit::TestAgent;

#[test]
fn t1_same_controller_twice_is_one_handle() {
    let agent = TestAgent::start(1);
    let a = rsm::Controller::get_at(agent.socket(), Some("loopback")).unwrap();
    let b = rsm::Controller::get_at(agent.socket(), Some("loopback")).unwrap();
    assert!(a.same(&b), "getting loopback twice must give the same handle");
    // NULL name and any loopback<N>, in any case, are the one loopback controller.
    let c = rsm::Controller::get_at(agent.socket(), None).unwrap();
    let d = rsm::Controller::get_at(agent.socket(), Some("LoopBack7")).unwrap();
    assert!(a.same(&c) && a.same(&d));
    assert_eq!(d.name(), "loopback");
    assert!(d.is_loopback());
    assert_eq!(a.local_node(), 1);
    assert_eq!(a.agent_socket(), agent.socket());
    // Each get is paired with a release: the handle stays usable while any reference lives.
    drop(a);
    drop(c);
    drop(d);
    assert_eq!(b.local_node(), 1);
    let seg = rsm::ExportSegment::allocate(&b, 4096, rsm::ExportFlags::empty()).unwrap();
    assert!(seg.controller().same(&b));
}

#[test]
fn t1_unknown_controller_and_missing_agent() {
    let agent = TestAgent::start(1);
    assert_eq!(Controller::get_at(agent.socket(), Some("nosuch0")).unwrap_err(), Error::CtlrNotPresent);
    // Names that cannot be a controller at all.
    assert_eq!(Controller::get_at(agent.socket(), Some("")).unwrap_err(), Error::CtlrNotPresent);
    assert_eq!(Controller::get_at(agent.socket(), Some("0")).unwrap_err(), Error::CtlrNotPresent);
    // No agent on the socket.
    let nowhere = agent.dir().join("nobody-listens-here.sock");
    assert_eq!(Controller::get_at(&nowhere, Some("loopback")).unwrap_err(), Error::CtlrNotPresent);
    assert_eq!(rsm::topology_at(&nowhere).unwrap_err(), Error::CtlrNotPresent);
}

#[test]
fn t1_attributes_report_the_truth() {
    let agent = TestAgent::start_with(1, &["[limits]", "max_segments = 100", "max_exported_bytes = 67108864"]);
    let ctl = agent.controller("loopback");
    let a = ctl.attr();
    let page = rustix::param::page_size() as u64;
    assert_eq!(a.page_size, page, "loopback page size is the system page size (not illumos' 8)");
    assert_eq!(a.direct_access_sizes, DAS8 | DAS16 | DAS32 | DAS64);
    assert_eq!(a.atomic_sizes, DAS8 | DAS16 | DAS32 | DAS64);
    assert_eq!(a.max_export_segment_size, 64 << 20);
    assert_eq!(a.tot_export_segment_size, 64 << 20);
    assert_eq!(a.max_export_segments, 100);
    assert_eq!(a.max_import_segments, 100);
    assert!(a.max_import_map_size > 0, "loopback can map");
}

#[test]
fn t1_topology_walk() {
    let agent = TestAgent::start(7);
    let t = rsm::topology_at(agent.socket()).unwrap();
    assert_eq!(t.local_node, 7);
    // The loopback pseudo-controller is not listed; a node without interconnects has none.
    assert!(t.controllers.iter().all(|c| c.name != "loopback"));
    let mut usable = 0;
    for c in &t.controllers {
        assert!(!c.name.is_empty());
        for r in &c.remotes {
            assert!((1..=4).contains(&r.state), "path state {} out of range", r.state);
            if r.state == CONNECTION_ACTIVE {
                usable += 1;
            }
        }
    }
    assert_eq!(usable, 0, "a single node has no active remote paths");
    // A snapshot is self-contained: taking another one gives the same answer.
    assert_eq!(rsm::topology_at(agent.socket()).unwrap(), t);
}

#[test]
fn t1_two_agents_are_two_nodes() {
    let a = TestAgent::start(1);
    let b = TestAgent::start(2);
    let ca = a.controller("loopback");
    let cb = b.controller("loopback");
    assert!(!ca.same(&cb));
    assert_eq!((ca.local_node(), cb.local_node()), (1, 2));
    // The loopback controller only reaches its own node.
    let seg = rsm::ExportSegment::allocate(&cb, 4096, rsm::ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    assert_eq!(rsm::ImportSegment::connect(&ca, 2, id, rsm::perm::RDWR).unwrap_err(), Error::CtlrNotPresent);
    // Ids are per node: the same id is not published on node 1.
    assert_eq!(rsm::ImportSegment::connect(&ca, 1, id, rsm::perm::RDWR).unwrap_err(), Error::SegNotPublished);
    assert!(rsm::ImportSegment::connect(&cb, 2, id, rsm::perm::RDWR).is_ok());
}

#[test]
fn t1_controller_from_the_environment() {
    // `Controller::get` uses RSM_SOCKET: checked in a puppet, which gets it from the testkit.
    let agent = TestAgent::start(5);
    let mut p = agent.puppet();
    assert_eq!(p.ok("node"), "5");
}
