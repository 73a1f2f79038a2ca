//! Criterion benchmarks of the loopback data path: `put` and `get` of 8 B to 1 MiB through an
//! import segment, in implicit and explicit barrier mode, against a real agent
//! (`rsmd::Agent`) started in this process on a socket in a temporary directory.
//!
//! `cargo bench -p rsm --bench data_path` runs them; `cargo test --benches` runs each once.
//! For the ping-pong latencies and the tcp controller, use `rsmctl bench`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rsm::{AccessEntry, BarrierMode, BarrierType, Controller, ExportFlags, ExportSegment, ImportSegment, perm};
use std::hint::black_box;

const SIZES: [usize; 6] = [8, 64, 512, 4 << 10, 64 << 10, 1 << 20];
const SEG: usize = 1 << 20;

fn data_path(c: &mut Criterion) {
    let dir = tempfile::Builder::new().prefix("rsm-bench-").tempdir().expect("temporary directory");
    let cfg = rsmd::Config { node_id: 1, socket: dir.path().join("rsmd.sock"), ..rsmd::Config::default() };
    let agent = rsmd::Agent::start(&cfg).expect("start an agent");
    let ctl = Controller::get_at(agent.socket(), Some("loopback")).expect("loopback controller");
    let seg = ExportSegment::allocate(&ctl, SEG, ExportFlags::empty()).expect("export");
    let id = seg.publish(0, &[AccessEntry { node: ctl.local_node(), perm: perm::RDWR }]).expect("publish");
    let imp = ImportSegment::connect(&ctl, ctl.local_node(), id, perm::RDWR).expect("connect");
    let bar = imp.init_barrier(BarrierType::Node).expect("barrier");
    let src: Vec<u8> = (0..SEG).map(|i| (i % 251) as u8).collect();
    let mut dst = vec![0u8; SEG];

    for (mode, name) in [(BarrierMode::Implicit, "implicit"), (BarrierMode::Explicit, "explicit")] {
        imp.set_mode(mode).expect("set mode");
        let mut g = c.benchmark_group(format!("loopback_put_{name}"));
        for &size in &SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
                b.iter(|| imp.put(0, black_box(&src[..size])).expect("put"));
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!("loopback_get_{name}"));
        for &size in &SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
                b.iter(|| {
                    imp.get(0, &mut dst[..size]).expect("get");
                    black_box(&dst);
                });
            });
        }
        g.finish();
    }

    drop(bar);
    imp.disconnect().expect("disconnect");
    seg.destroy().expect("destroy");
    drop(agent);
}

criterion_group!(benches, data_path);
criterion_main!(benches);
