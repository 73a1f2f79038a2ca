//! "Get/put/map on the same node makes no system call": a puppet runs 100,000 rounds of
//! put64/get64/put/get under `strace -f`, and the trace between the command arriving and its
//! answer leaving is empty (so there is no futex either: no contended process-wide lock).
//!
//! Needs `strace` (CI installs it); skipped with a message otherwise.

use rsm::{ExportFlags, ExportSegment};
use rsm_testkit::{Puppet, TestAgent};
use std::path::PathBuf;

const ROUNDS: u64 = 100_000;

fn strace() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("strace")).find(|p| p.is_file())
}

/// The syscall lines of a trace (not signals, exits or strace's own notes).
fn syscalls(trace: &str) -> Vec<&str> {
    trace.lines().filter(|l| l.contains('(') && !l.contains("--- ") && !l.contains("+++ ")).collect()
}

#[test]
fn loopback_put_get_make_no_system_call() {
    let Some(strace) = strace() else {
        eprintln!("SKIPPED: strace not installed");
        return;
    };
    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let seg = ExportSegment::allocate(&ctl, 65536, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[]).unwrap();
    let trace_file = agent.dir().join("putloop.trace");
    let strace = strace.to_string_lossy().into_owned();
    let out = trace_file.to_string_lossy().into_owned();
    let mut p = Puppet::on(&agent).wrapped(&[&strace, "-f", "-qq", "-o", &out]).spawn();
    let h = p.ok(&format!("connect 1 {id} 600"));
    p.ok(&format!("barrier {h}"));
    // The first access maps the segment implicitly (one mmap); the loop starts after it.
    p.ok(&format!("put {h} 0 warm"));
    assert_eq!(p.ok(&format!("putloop {h} {ROUNDS}")), ROUNDS.to_string());
    assert!(p.exit().success());

    // The loop really ran against the exporter's memory.
    let mut last = [0u8; 16];
    seg.read_at(0, &mut last).unwrap();
    assert_eq!(u64::from_ne_bytes(last[..8].try_into().unwrap()), ROUNDS - 1);
    assert_eq!(u64::from_le_bytes(last[8..].try_into().unwrap()), ROUNDS - 1);

    let trace = std::fs::read_to_string(&trace_file).expect("strace output");
    let calls = syscalls(&trace);
    let begin = calls
        .iter()
        .position(|l| l.contains("read(0,") && l.contains("putloop"))
        .unwrap_or_else(|| panic!("no read of the putloop command in the trace:\n{trace}"));
    let end = calls[begin..]
        .iter()
        .position(|l| l.contains("write(1,") && l.contains(&format!("ok {ROUNDS}")))
        .map(|i| begin + i)
        .unwrap_or_else(|| panic!("no write of the answer in the trace:\n{trace}"));
    let in_loop = &calls[begin + 1..end];
    eprintln!(
        "{} system calls in the whole puppet run, {} during {ROUNDS} rounds of put64/get64/put/get",
        calls.len(),
        in_loop.len()
    );
    assert!(in_loop.is_empty(), "the data path made system calls:\n{}", in_loop.join("\n"));
    // Even the whole process (start-up, connect, agent round trips) is far below the loop's
    // 400,000 accesses.
    assert!(calls.len() < 1000, "{} system calls in total", calls.len());
}
