//! Many threads at once: one import handle shared by 8 threads doing puts, gets and barrier
//! windows while other threads connect, map and disconnect; the control path under
//! concurrency; revocation in the middle of it all.
#![allow(unsafe_code)]

use rsm::{BarrierType, Error, ExportFlags, ExportSegment, ImportSegment, PostFlags, perm};
use rsm_testkit::TestAgent;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier as StartLine};
use std::time::Duration;

const REGION: usize = 64 * 1024;
const WORKERS: usize = 8;
const ROUNDS: usize = 1500;

fn pattern(t: usize, round: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (t * 37 + round * 11 + i) as u8).collect()
}

#[test]
fn one_handle_many_threads_with_churn_around_it() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    // Regions 0..8 for the workers, 8 and 9 for connect/disconnect churn, 10 for map churn.
    let seg = ExportSegment::allocate(&ctl, 11 * REGION, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    // Each worker gets its own barrier for explicit windows; the implicit-mode barrier is
    // made last so that it is the segment's current one while the workers' barriers live.
    let mut worker_bars: Vec<rsm::Barrier> =
        (0..WORKERS).map(|_| imp.init_barrier(BarrierType::SegmentThread).unwrap()).collect();
    let _implicit = imp.init_barrier(BarrierType::Node).unwrap();
    let start = Arc::new(StartLine::new(WORKERS + 4));
    let stop = Arc::new(AtomicBool::new(false));
    let posts = Arc::new(AtomicUsize::new(0));
    let mapped_rounds = Arc::new(AtomicUsize::new(0));

    let mut handles = Vec::new();
    for t in 0..WORKERS {
        let imp = imp.clone();
        let bar = worker_bars.remove(0);
        let start = start.clone();
        let posts = posts.clone();
        handles.push(std::thread::spawn(move || {
            let base = t * REGION;
            start.wait();
            for round in 0..ROUNDS {
                // A block put and get.
                let block = pattern(t, round, 4096);
                let off = base + (round % 15) * 4096;
                imp.put(off, &block).unwrap();
                let mut back = vec![0u8; 4096];
                imp.get(off, &mut back).unwrap();
                assert_eq!(back, block, "thread {t} round {round}: block");
                // Typed accesses in an explicit window, with an order barrier in between.
                bar.open().unwrap();
                let words: Vec<u64> = (0..32).map(|i| ((t as u64) << 48) | ((round as u64) << 16) | i).collect();
                imp.put64(base + REGION - 256, &words).unwrap();
                bar.order().unwrap();
                imp.put32(base + REGION - 512, &[t as u32, round as u32]).unwrap();
                imp.put16(base + REGION - 520, &[round as u16]).unwrap();
                let mut w = [0u64; 32];
                imp.get64(base + REGION - 256, &mut w).unwrap();
                let mut d = [0u32; 2];
                imp.get32(base + REGION - 512, &mut d).unwrap();
                bar.close().unwrap();
                assert_eq!(&w[..], &words[..], "thread {t} round {round}: words");
                assert_eq!(d, [t as u32, round as u32]);
                if round % 100 == 0 {
                    imp.signal_post(PostFlags::empty()).unwrap();
                    posts.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // Two threads connecting, using and disconnecting their own handles, over and over.
    for c in 0..2usize {
        let ctl = ctl.clone();
        let start = start.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let base = (WORKERS + c) * REGION;
            start.wait();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) || n < 20 {
                let h = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
                let _b = h.init_barrier(BarrierType::Node).unwrap();
                let data = pattern(100 + c, n, 512);
                h.put(base + (n % 100) * 512, &data).unwrap();
                let mut back = vec![0u8; 512];
                h.get(base + (n % 100) * 512, &mut back).unwrap();
                assert_eq!(back, data);
                drop(_b);
                h.disconnect().unwrap();
                n += 1;
            }
        }));
    }
    // One thread mapping and unmapping, storing through the mapping inside windows.
    {
        let ctl = ctl.clone();
        let start = start.clone();
        let stop = stop.clone();
        let mapped_rounds = mapped_rounds.clone();
        handles.push(std::thread::spawn(move || {
            let h = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
            let b = h.init_barrier(BarrierType::Node).unwrap();
            start.wait();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) || n < 20 {
                let p = h.map(perm::RDWR, 10 * REGION, REGION).unwrap();
                b.open().unwrap();
                for i in 0..64 {
                    // SAFETY: p maps REGION bytes read-write until the unmap below.
                    unsafe { p.as_ptr().wrapping_add(i * 8).cast::<u64>().write_volatile((n * 64 + i) as u64) };
                }
                b.close().unwrap();
                h.unmap().unwrap();
                n += 1;
            }
            mapped_rounds.store(n, Ordering::SeqCst);
            drop(b);
            h.disconnect().unwrap();
        }));
    }
    // And the exporter consuming the workers' events meanwhile.
    let waiter = {
        let seg = seg.clone();
        let start = start.clone();
        std::thread::spawn(move || {
            start.wait();
            let mut got = 0;
            while got < WORKERS * ROUNDS.div_ceil(100) {
                seg.signal_wait(Some(Duration::from_secs(30))).unwrap();
                got += 1;
            }
            got
        })
    };
    let mut workers = handles;
    let churn_and_map = workers.split_off(WORKERS);
    for w in workers {
        w.join().expect("worker panicked");
    }
    stop.store(true, Ordering::SeqCst);
    for c in churn_and_map {
        c.join().expect("churn thread panicked");
    }
    assert_eq!(waiter.join().unwrap(), posts.load(Ordering::SeqCst));
    assert_eq!(seg.signal_wait(Some(Duration::ZERO)).unwrap_err(), Error::Timeout);

    // The exporter's memory holds each worker's last round, byte for byte.
    for t in 0..WORKERS {
        let round = ROUNDS - 1;
        let off = t * REGION + (round % 15) * 4096;
        let mut got = vec![0u8; 4096];
        seg.read_at(off, &mut got).unwrap();
        assert_eq!(got, pattern(t, round, 4096), "worker {t}'s last block");
        let mut w = [0u8; 8];
        seg.read_at(t * REGION + REGION - 256 + 31 * 8, &mut w).unwrap();
        assert_eq!(u64::from_ne_bytes(w), ((t as u64) << 48) | ((round as u64) << 16) | 31);
    }
    // ...and the mapping thread's last stores.
    let n = mapped_rounds.load(Ordering::SeqCst) - 1;
    for i in 0..64 {
        let mut w = [0u8; 8];
        seg.read_at(10 * REGION + i * 8, &mut w).unwrap();
        assert_eq!(u64::from_ne_bytes(w), (n * 64 + i) as u64);
    }
    let st = agent.status();
    assert_eq!(st.imports, 1, "every churned import was disconnected");
}

#[test]
fn revocation_while_threads_hammer_the_segment() {
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, WORKERS * 4096, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    let start = Arc::new(StartLine::new(WORKERS + 1));
    let aborted = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for t in 0..WORKERS {
        let imp = imp.clone();
        let start = start.clone();
        let aborted = aborted.clone();
        handles.push(std::thread::spawn(move || {
            start.wait();
            let mut ok_after_abort = 0;
            let mut seen_abort = false;
            let mut i = 0u64;
            // Keep going well past the revocation.
            let mut after = 0;
            while after < 2000 {
                let r = if i % 2 == 0 { imp.put64(t * 4096, &[i]) } else { imp.get64(t * 4096, &mut [0u64; 1]) };
                match r {
                    Ok(()) if seen_abort => ok_after_abort += 1,
                    Ok(()) => {}
                    Err(Error::ConnAborted) => {
                        seen_abort = true;
                        after += 1;
                    }
                    Err(e) => panic!("thread {t}: unexpected {e}"),
                }
                i += 1;
            }
            if seen_abort {
                aborted.fetch_add(1, Ordering::SeqCst);
            }
            ok_after_abort
        }));
    }
    start.wait();
    std::thread::sleep(Duration::from_millis(20));
    seg.unpublish().unwrap();
    // Once unpublish has returned, nothing the importers do reaches the exporter's memory.
    let mut snapshot = vec![0u8; WORKERS * 4096];
    seg.read_at(0, &mut snapshot).unwrap();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0, "an access succeeded after the thread saw CONN_ABORTED");
    }
    assert_eq!(aborted.load(Ordering::SeqCst), WORKERS);
    let mut later = vec![0u8; WORKERS * 4096];
    seg.read_at(0, &mut later).unwrap();
    assert_eq!(later, snapshot, "a revoked importer changed the exporter's memory");
    assert_eq!(imp.put(0, b"x").unwrap_err(), Error::ConnAborted);
    drop(_bar);
    imp.disconnect().unwrap();
}

#[test]
fn control_path_from_many_threads() {
    // Threads creating, publishing, connecting, posting and destroying at once, all over the
    // one agent connection of this process.
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let start = Arc::new(StartLine::new(6));
    let handles: Vec<_> = (0..6u32)
        .map(|t| {
            let ctl = ctl.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for round in 0..60u32 {
                    let seg = ExportSegment::allocate(&ctl, 8192, ExportFlags::empty()).unwrap();
                    // Explicit ids in a per-thread range, and system ids.
                    let want = if round % 2 == 0 { 0x40_0000 + t * 1000 + round } else { 0 };
                    let id = seg.publish(want, &[]).unwrap();
                    if want != 0 {
                        assert_eq!(id, want);
                    }
                    let imp = ImportSegment::connect(&ctl, 1, id, perm::RDWR).unwrap();
                    let _b = imp.init_barrier(BarrierType::Node).unwrap();
                    imp.put32(0, &[t, round]).unwrap();
                    let mut got = [0u8; 8];
                    seg.read_at(0, &mut got).unwrap();
                    assert_eq!(got[..4], t.to_ne_bytes());
                    assert_eq!(got[4..], round.to_ne_bytes());
                    seg.signal_post(PostFlags::empty()).unwrap();
                    imp.signal_wait(Some(Duration::from_secs(10))).unwrap();
                    if round % 3 == 0 {
                        seg.destroy().unwrap();
                        assert_eq!(imp.put(0, b"x").unwrap_err(), Error::ConnAborted);
                    } else {
                        seg.unpublish().unwrap();
                    }
                    drop(_b);
                    imp.disconnect().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread panicked");
    }
    let st = agent.status();
    assert_eq!((st.exports, st.imports, st.published), (0, 0, 0));
    assert_eq!(st.connects, 360);
    assert_eq!(st.revocations, 360);
}
