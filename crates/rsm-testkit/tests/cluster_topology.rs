//! Issue #3, topology: every node lists `tcp0` with the other nodes and `connection_state` 3;
//! a SIGKILLed agent shows as down (1) on the others within 2 s and comes back to 3 by itself
//! when it is started again, after which new connects work (remote T1).

use rsm::{BarrierType, CONNECTION_ACTIVE, Controller, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::TestCluster;
use std::time::{Duration, Instant};

const DOWN: u32 = 1;

/// `hwaddr` of a controller at `a`: its IPv4 address and port.
fn hwaddr(a: std::net::SocketAddr) -> u64 {
    match a {
        std::net::SocketAddr::V4(v4) => (u64::from(u32::from(*v4.ip())) << 16) | u64::from(v4.port()),
        std::net::SocketAddr::V6(_) => panic!("the test cluster uses IPv4"),
    }
}

#[test]
fn every_node_lists_its_peers_on_tcp0_active() {
    let c = TestCluster::start(3);
    for id in 1..=3u32 {
        let t = c.topology(id);
        assert_eq!(t.local_node, id);
        // Loopback is not listed; tcp0 is the only controller.
        assert_eq!(t.controllers.len(), 1, "node {id}: {t:?}");
        let ctl = &t.controllers[0];
        assert_eq!(ctl.name, "tcp0");
        assert_eq!(ctl.hwaddr, hwaddr(c.addr(id, "tcp0")));
        let mut peers: Vec<u32> = ctl.remotes.iter().map(|r| r.node).collect();
        peers.sort_unstable();
        let want: Vec<u32> = (1..=3).filter(|n| *n != id).collect();
        assert_eq!(peers, want, "node {id}");
        for r in &ctl.remotes {
            assert_eq!(r.name, "tcp0");
            assert_eq!(r.state, CONNECTION_ACTIVE, "node {id} -> node {}", r.node);
            assert_eq!(r.hwaddr, hwaddr(c.addr(r.node, "tcp0")));
        }
        // The controller handle: tcp0 exists, tcp1 does not, loopback is the local node.
        let tcp0 = c.controller(id, "tcp0");
        assert_eq!(tcp0.name(), "tcp0");
        assert_eq!(tcp0.local_node(), id);
        assert!(tcp0.same(&c.controller(id, "TCP0")));
        assert_eq!(Controller::get_at(c.socket(id), Some("tcp1")).err(), Some(Error::CtlrNotPresent));
        assert_eq!(Controller::get_at(c.socket(id), Some("nosuch0")).err(), Some(Error::CtlrNotPresent));
        assert_eq!(Controller::get_at(c.socket(id), None).unwrap().local_node(), id);
    }
}

#[test]
fn a_killed_agent_shows_down_and_rejoins_when_restarted() {
    let c = TestCluster::start(3);
    let t0 = Instant::now();
    c.kill_node(3);
    let mut took = Duration::ZERO;
    for id in [1, 2] {
        c.wait_path_state(id, 3, DOWN, Duration::from_secs(5));
        took = t0.elapsed();
    }
    assert!(took <= Duration::from_millis(2500), "the others saw node 3 down only after {took:?}");
    // The path between the survivors is untouched.
    assert_eq!(c.path_state(1, 2), CONNECTION_ACTIVE);
    assert_eq!(c.path_state(2, 1), CONNECTION_ACTIVE);
    // While it is down, nothing can be imported from it.
    assert_eq!(
        ImportSegment::connect(&c.controller(1, "tcp0"), 3, 0x60_0000, perm::READ).err(),
        Some(Error::RemoteNodeUnreachable)
    );

    // Started again with the same configuration, node id and socket: every path is active
    // again on every node, without anybody else doing anything.
    c.restart_node(3);
    for (from, to) in [(1, 3), (2, 3), (3, 1), (3, 2)] {
        c.wait_path_state(from, to, CONNECTION_ACTIVE, Duration::from_secs(10));
    }
    let t = c.topology(3);
    assert_eq!(t.local_node, 3);
    assert!(t.controllers[0].remotes.iter().all(|r| r.state == CONNECTION_ACTIVE));

    // New connects work both ways with the restarted node.
    let on3 = ExportSegment::allocate(&c.controller(3, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id3 = on3.publish(0x60_0000, &[]).unwrap();
    for importer in [1, 2] {
        let imp = ImportSegment::connect(&c.controller(importer, "tcp0"), 3, id3, perm::RDWR).unwrap();
        let _b = imp.init_barrier(BarrierType::Node).unwrap();
        imp.put(8 * importer as usize, b"rejoined").unwrap();
    }
    let mut b = [0u8; 24];
    on3.read_at(8, &mut b).unwrap();
    assert_eq!(&b[..8], b"rejoined");
    assert_eq!(&b[8..16], b"rejoined");
    let on1 = ExportSegment::allocate(&c.controller(1, "tcp0"), 4096, ExportFlags::empty()).unwrap();
    let id1 = on1.publish(0, &[]).unwrap();
    on1.write_at(0, b"from node one").unwrap();
    let imp = ImportSegment::connect(&c.controller(3, "tcp0"), 1, id1, perm::READ).unwrap();
    let _b = imp.init_barrier(BarrierType::Node).unwrap();
    let mut b = [0u8; 13];
    imp.get(0, &mut b).unwrap();
    assert_eq!(&b, b"from node one");
}
