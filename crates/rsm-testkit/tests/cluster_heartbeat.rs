//! Path health on a starved machine: an agent whose thread that reads a link's answers does
//! not get the CPU (while its other threads run) must not take the peer for dead, since the
//! peer's answers are waiting in the socket. Before that rule, a machine with ~1,000 runnable
//! threads marked the path down and aborted every remote importer (`docs/PERFORMANCE.md`,
//! "Heartbeats under CPU starvation"). The starvation is made exact here: the agent's
//! `rsmd-link-rx` threads are stopped with ptrace for three times `dead_after_ms`, the
//! heartbeat thread goes on pinging.

use rsm::{AccessEntry, BarrierType, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_testkit::{TestCluster, pattern};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `dead_after_ms` of the agents `rsmctl cluster start` runs (the default).
const DEAD_AFTER: Duration = Duration::from_millis(1000);

/// Builds `tools/stall_threads.c` into `dir`; `None` (with the reason printed) without a C
/// compiler.
fn stall_tool(dir: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/stall_threads.c");
    let out = dir.join("stall_threads");
    match Command::new("cc").args(["-O2", "-Wall", "-o"]).arg(&out).arg(&src).status() {
        Ok(s) if s.success() => Some(out),
        r => {
            eprintln!("SKIPPED: cannot build {} with cc ({r:?}); CI installs gcc", src.display());
            None
        }
    }
}

/// Thread ids of the threads of `pid` named `name`.
fn threads_named(pid: u32, name: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            v.extend(e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()));
        }
    }
    v
}

#[test]
fn a_starved_link_reader_is_not_a_dead_path() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tool) = stall_tool(tmp.path()) else { return };
    let c = TestCluster::start(2);

    // A segment on node 2, imported from node 1 over tcp0 (implicit mode).
    let seg = ExportSegment::allocate(&c.controller(2, "tcp0"), 65536, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 1, perm: 0o666 }]).unwrap();
    let imp = ImportSegment::connect(&c.controller(1, "tcp0"), 2, id, perm::RDWR).unwrap();
    let _bar = imp.init_barrier(BarrierType::Node).unwrap();
    imp.put(0, &pattern(1, 4096)).unwrap();

    let tids = threads_named(c.pid(1), "rsmd-link-rx");
    assert!(!tids.is_empty(), "node 1 has no link reader thread");
    let stall = DEAD_AFTER * 3;
    let out = Command::new(&tool)
        .arg(stall.as_millis().to_string())
        .args(tids.iter().map(u32::to_string))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    if out.status.code() == Some(3) {
        eprintln!(
            "SKIPPED: no right to ptrace the agent's threads ({}); CI runs as root",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    assert!(
        out.status.success() && out.stdout.starts_with(b"stopped"),
        "stall_threads failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Give the heartbeat thread one more beat (200 ms) after the reader is back.
    std::thread::sleep(Duration::from_millis(400));

    let log = c.log(1);
    assert!(!log.contains("path down"), "node 1 marked the path down while its peer answered; log:\n{log}");
    // The case was reached: a beat found the deadline passed with answers waiting unread.
    assert!(log.contains("late reading the peer's answers"), "the stall did not starve the reader; log:\n{log}");
    let t = c.topology(1);
    let remote = t.controllers.iter().flat_map(|l| l.remotes.iter()).find(|r| r.node == 2).expect("node 2 listed");
    assert_eq!(remote.state, rsm::CONNECTION_ACTIVE);

    // The import made before the stall still works, both ways.
    imp.put(4096, &pattern(2, 4096)).unwrap();
    let mut back = vec![0u8; 8192];
    imp.get(0, &mut back).unwrap();
    assert_eq!(&back[..4096], &pattern(1, 4096)[..]);
    assert_eq!(&back[4096..], &pattern(2, 4096)[..]);
    let mut mem = vec![0u8; 8192];
    seg.read_at(0, &mut mem).unwrap();
    assert_eq!(mem, back);
}
