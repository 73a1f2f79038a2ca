use rsm::{AccessEntry, BarrierType, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::TestAgent;

#[test]
fn t2_basic_put_get_in_process() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    assert_eq!(ctl.local_node(), 1);
    let seg = ExportSegment::allocate(&ctl, 65536, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 1, perm: 0o666 }]).unwrap();
    assert!(id >= 0x8000_0000);
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    imp.put(0, b"hello world").unwrap();
    let mut buf = [0u8; 11];
    seg.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello world");
    seg.write_at(8, &0xdeadbeefu32.to_ne_bytes()).unwrap();
    let mut w = [0u32; 1];
    imp.get32(8, &mut w).unwrap();
    assert_eq!(w[0], 0xdeadbeef);
}
