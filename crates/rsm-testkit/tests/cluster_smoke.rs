use rsm::{AccessEntry, BarrierMode, BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, PostFlags, perm};
use rsm_testkit::TestCluster;
use std::time::Duration;

#[test]
fn remote_put_get_barrier_signal() {
    let c = TestCluster::start(2);
    let ex_ctl = c.controller(1, "tcp0");
    let im_ctl = c.controller(2, "tcp0");
    assert_eq!(im_ctl.attr().max_import_map_size, 0);
    let seg = ExportSegment::allocate(&ex_ctl, 1 << 20, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o600 }]).unwrap();
    let imp = ImportSegment::connect(&im_ctl, 1, id, perm::RDWR).unwrap();
    assert_eq!(imp.size(), 1 << 20);
    assert_eq!(imp.map(perm::RDWR, 0, 4096), Err(Error::MapFailed));
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    imp.put(100, b"remote hello").unwrap();
    let mut b = [0u8; 12];
    seg.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"remote hello");
    seg.write_at(4096, &7u64.to_ne_bytes()).unwrap();
    let mut v = [0u64; 1];
    imp.get64(4096, &mut v).unwrap();
    assert_eq!(v[0], 7);
    // Explicit mode: pipelined puts, one round trip at close.
    imp.set_mode(BarrierMode::Explicit).unwrap();
    bar.open().unwrap();
    let big = vec![0xabu8; 1 << 20];
    imp.put(0, &big).unwrap();
    bar.close().unwrap();
    let mut back = vec![0u8; 1 << 20];
    seg.read_at(0, &mut back).unwrap();
    assert!(back == big);
    // Signals both ways.
    imp.signal_post(PostFlags::empty()).unwrap();
    seg.signal_wait(Some(Duration::from_secs(5))).unwrap();
    seg.signal_post(PostFlags::empty()).unwrap();
    imp.signal_wait(Some(Duration::from_secs(5))).unwrap();
    // Unpublish: the importer is aborted.
    bar.open().unwrap();
    seg.unpublish().unwrap();
    imp.put(0, b"late").unwrap();
    assert_eq!(bar.close(), Err(Error::ConnAborted));
    assert_eq!(bar.close(), Err(Error::ConnAborted));
    drop(bar);
    imp.disconnect().unwrap();
}
