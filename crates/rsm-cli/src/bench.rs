//! `rsmctl bench`: latency and bandwidth of rsm's data path, measured the way `ucx_perftest`
//! and `shared/bench/baselines.c` measure, so that the numbers can be set side by side.
//!
//! What each measurement is (A and B are two threads of this process, pinned to two CPUs):
//!
//! - **put, lat**: a ping-pong. A exports SA (through its controller), B exports SB; A imports
//!   SB, B imports SA. A puts `size` bytes whose last 8 bytes hold the sequence number n into
//!   SB; B polls its own memory (`ExportSegment::read_at`) until it reads n there, then puts n
//!   into SA; A polls SA. Reported: round trip / 2 (one-way).
//!   Over `tcp0`, A's controller is node 1's and B's is node 2's, so each put crosses from one
//!   node to the other's agent.
//! - **get, lat**: the time of one blocking get of `size` bytes from a segment of B's node.
//! - **putv, lat**: the time of one `putv` whose entries (up to `--iov`, at least 8 bytes each)
//!   together move `size` bytes.
//! - **barrier, lat** (explicit mode): the time of open + put of `size` bytes + close, i.e.
//!   one committed write.
//! - **signal, lat**: a ping-pong of events: A posts to SB (through its import), B waits on
//!   SB, posts to SA, A waits on SA. Reported: round trip / 2.
//! - **put / get / putv, bw**: repeated operations of `size` bytes on one offset for `--time`
//!   seconds, in batches; in explicit mode each batch is a barrier window (open, ops, close)
//!   and only bytes of windows whose close succeeded count. GB/s = 10^9 bytes/s. The median
//!   and p99 are those of the time per operation of each batch.
//!
//! Percentiles are nearest-rank over all samples taken after a warm-up. A sample is one
//! operation (round trip) when that takes 2 µs or more; shorter ones are timed in batches of
//! `--batch` per timestamp (auto: about 2 µs worth, from the warm-up), so that the clock read
//! (`Instant::now`, ~25 ns, ~50 ns per shared-memory round trip) does not dominate; the JSON
//! says how many (`batch`), and the percentiles are then those of the batch means.
//! (`baselines.c` reads `rdtscp`, ~18 ns, and `ucx_perftest` `rdtsc`, ~10 ns, per round trip;
//! unsafe code for the TSC is not wanted in `rsmctl`.)

use crate::cluster::INTERRUPTED;
use anyhow::{Context, Result, anyhow, bail};
use rsm::{
    AccessEntry, Barrier, BarrierMode, BarrierType, Controller, ExportFlags, ExportSegment, ImportSegment, IoVec,
    Local, PostFlags, perm,
};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest `--time` / `--max-time` accepted, in seconds.
pub(crate) const MAX_SECS: f64 = 86_400.0;
/// No progress from the other side for this long ends a measurement with an error.
const STALL: Duration = Duration::from_secs(10);
/// Each wait for an event is cut into slices of this length, to notice the other side quit.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// After an interruption, the main thread waits for the signal thread to end the process
/// instead of reporting the failures that stopping the agents causes.
fn hold_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// Largest size a measurement takes.
const MAX_SIZE: usize = 8 << 20;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Put,
    Get,
    Putv,
    Barrier,
    Signal,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Latency.
    Lat,
    /// Bandwidth.
    Bw,
}

/// How a side waits for an answer from the network (get data, put status, barrier close).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Busy-poll for a bounded time (the library's spin, 50 µs by default or RSM_SPIN_US; the
    /// agents' `data_spin_us`), then block.
    Spin,
    /// Block in the kernel at once: library spin 0 and, for agents this command starts,
    /// `data_spin_us = 0`.
    Block,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Implicit,
    Explicit,
}

/// Options of `rsmctl bench`.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// Controllers to measure (comma-separated): `loopback` (one node, mapped memory) and/or
    /// a network controller such as `tcp0` (between node 1 and node 2).
    #[arg(long = "controller", value_delimiter = ',')]
    controllers: Vec<String>,
    /// Operations (comma-separated).
    #[arg(long = "op", value_enum, value_delimiter = ',')]
    ops: Vec<Op>,
    /// Sizes in bytes (comma-separated; K/M suffixes, e.g. `8,4K,1M`; `all`: every power of
    /// two from 8 B to 8 MiB). Default with a selection: 8,64,512,4K,32K,256K,1M,8M.
    #[arg(long = "size", value_delimiter = ',')]
    sizes: Vec<String>,
    /// Barrier modes (comma-separated). Barrier always runs in explicit mode; signal has none.
    #[arg(long = "mode", value_enum, value_delimiter = ',')]
    modes: Vec<Mode>,
    /// What to measure: latency and/or bandwidth (comma-separated).
    #[arg(long = "kind", value_enum, value_delimiter = ',')]
    kinds: Vec<Kind>,
    /// Latency samples per measurement (round trips for ping-pongs).
    #[arg(long, default_value_t = 100_000)]
    iters: usize,
    /// Warm-up iterations before each latency measurement (default: iters/10, at most 10000;
    /// never more than one second).
    #[arg(long)]
    warmup: Option<usize>,
    /// Seconds of measuring per bandwidth measurement (after 20% more of warm-up).
    #[arg(long, default_value_t = 1.0)]
    time: f64,
    /// Latency measurements stop after this many seconds even if `--iters` are not done.
    #[arg(long, default_value_t = 5.0)]
    max_time: f64,
    /// Operations (round trips for ping-pongs) per timestamp for latency, and operations per
    /// batch (barrier window) for bandwidth (default: about 2 µs worth for latency, 16 MiB
    /// worth, at most 4096 ops and ~1/50 of --time, for bandwidth).
    #[arg(long)]
    batch: Option<usize>,
    /// Entries per putv (at most 16, each at least 8 bytes).
    #[arg(long, default_value_t = 16)]
    iov: usize,
    /// Fewer samples and shorter runs (20000 samples, 0.3 s bandwidth, 2 s cap).
    #[arg(long)]
    quick: bool,
    /// One JSON object per line per measurement on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// How network waits are done: a bounded spin then block (default), or block at once.
    /// With --node1/--node2 only this process's waits change, not the agents'.
    #[arg(long, value_enum, default_value = "spin")]
    wait: Wait,
    /// Agent socket of node 1 of an already running cluster (default: start two agents in a
    /// temporary directory and stop them at the end).
    #[arg(long)]
    node1: Option<PathBuf>,
    /// Agent socket of node 2 of that cluster (needed for network controllers).
    #[arg(long)]
    node2: Option<PathBuf>,
    /// The two CPUs for side A and side B (default: the first two this process may use).
    #[arg(long, value_parser = parse_cpus)]
    cpus: Option<(usize, usize)>,
    /// Do not pin the two sides to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// A side waiting for a put polls its memory this many times, then yields the CPU between
    /// polls (0: yield at once; a huge number: pure spinning like ucx_perftest). Default: 512
    /// (~10 µs) on loopback, where nothing else needs the CPU; 2 over a network controller,
    /// where the agent that must deliver the other side's put may be woken on this CPU (the
    /// library's own waits do the same).
    #[arg(long)]
    spin_polls: Option<u32>,
    /// Other benchmarks (`scale`).
    #[command(subcommand)]
    pub(crate) sub: Option<crate::scale::BenchCmd>,
}

fn parse_cpus(s: &str) -> std::result::Result<(usize, usize), String> {
    let (a, b) = s.split_once(',').ok_or("expected A,B")?;
    Ok((a.trim().parse().map_err(|e| format!("{e}"))?, b.trim().parse().map_err(|e| format!("{e}"))?))
}

fn parse_size(s: &str) -> Result<usize> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mult) = if let Some(n) =
        lower.strip_suffix("kib").or_else(|| lower.strip_suffix("kb")).or_else(|| lower.strip_suffix('k'))
    {
        (n, 1usize << 10)
    } else if let Some(n) =
        lower.strip_suffix("mib").or_else(|| lower.strip_suffix("mb")).or_else(|| lower.strip_suffix('m'))
    {
        (n, 1 << 20)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), 1)
    };
    let v: usize = num.trim().parse().with_context(|| format!("bad size {t:?}"))?;
    let v = v.checked_mul(mult).ok_or_else(|| anyhow!("size {t:?} too large"))?;
    if !(8..=MAX_SIZE).contains(&v) {
        bail!("size {t:?}: sizes go from 8 B to 8 MiB");
    }
    Ok(v)
}

fn fmt_size(s: usize) -> String {
    if s >= 1 << 20 && s % (1 << 20) == 0 {
        format!("{}MiB", s >> 20)
    } else if s >= 1 << 10 && s % (1 << 10) == 0 {
        format!("{}KiB", s >> 10)
    } else {
        format!("{s}B")
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// One measurement to make.
#[derive(Clone, Debug)]
struct Spec {
    ctl: String,
    op: Op,
    kind: Kind,
    /// `None` for signals.
    mode: Option<Mode>,
    /// 0 for signals.
    size: usize,
}

impl Spec {
    fn label(&self) -> String {
        let mut s = format!("{} {} {}", self.ctl, op_name(self.op), kind_name(self.kind));
        if self.op != Op::Signal {
            s.push_str(&format!(" {}", fmt_size(self.size)));
        }
        if let Some(m) = self.mode {
            s.push_str(&format!(" {}", mode_name(m)));
        }
        s
    }
}

fn op_name(o: Op) -> &'static str {
    match o {
        Op::Put => "put",
        Op::Get => "get",
        Op::Putv => "putv",
        Op::Barrier => "barrier",
        Op::Signal => "signal",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Lat => "lat",
        Kind::Bw => "bw",
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Implicit => "implicit",
        Mode::Explicit => "explicit",
    }
}

/// The result line of one measurement.
#[derive(Serialize, Debug)]
struct Record {
    /// e.g. `rsm_tcp0_put_lat_8B_implicit`.
    metric: String,
    controller: String,
    op: &'static str,
    kind: &'static str,
    mode: &'static str,
    size: usize,
    /// Operations timed (round trips for ping-pongs), warm-up excluded.
    iterations: u64,
    /// Samples the percentiles are taken over.
    samples: usize,
    /// Operations per sample.
    batch: usize,
    /// Whether `median_ns`/`p99_ns` are one-way times (round trip / 2) of a ping-pong.
    oneway: bool,
    median_ns: f64,
    p99_ns: f64,
    /// 10^9 bytes/s: for bandwidth the bytes moved over the measuring time; for latency
    /// `size / median_ns`.
    gbps: f64,
    /// Seconds of measuring (warm-up excluded).
    secs: f64,
    /// How network waits were done: `spin` (bounded spin, then block) or `block`.
    wait: &'static str,
    /// Polls of its own memory before a side waiting for a put ping-pong's put yields.
    spin_polls: u32,
    node_a: u32,
    node_b: u32,
}

/// Effective settings.
struct Cfg {
    iters: usize,
    warmup: Option<usize>,
    bw_time: Duration,
    max_time: Duration,
    batch: Option<usize>,
    iov: usize,
    cpus: Option<(usize, usize)>,
    /// Polls before a waiting side starts yielding between polls (`None`: per controller).
    spin_polls: Option<u32>,
    wait: Wait,
}

impl Cfg {
    /// Polls of its memory before a side waiting for a put over `ctl` starts yielding.
    fn spin_polls(&self, ctl: &Controller) -> u32 {
        self.spin_polls.unwrap_or(if ctl.name() == "loopback" { 512 } else { 2 })
    }

    fn warmup(&self) -> usize {
        self.warmup.unwrap_or((self.iters / 10).min(10_000))
    }
}

/// The agents being measured.
struct Nodes {
    sock1: PathBuf,
    sock2: Option<PathBuf>,
}

/// Agents this command started: stopped on drop (normal end, error, panic) and on SIGINT,
/// SIGTERM, SIGHUP.
struct OwnCluster {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = crate::cluster::stop(&self.dir);
    }
}

fn start_cluster(n: u32, wait: Wait) -> Result<(OwnCluster, Nodes)> {
    let tmp = tempfile::Builder::new().prefix("rsm-bench-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    // On a signal: stop the agents, remove the directory, and end with 128 + signal.
    crate::cluster::stop_agents_on_signal(dir.clone(), true, "rsmctl bench")?;
    let t = Instant::now();
    let guard = OwnCluster { dir: dir.clone(), _tmp: tmp };
    let extra = match wait {
        Wait::Spin => "",
        Wait::Block => "[health]\ndata_spin_us = 0\n",
    };
    let nodes = crate::cluster::start_with(n, &dir, "warn", extra)?;
    eprintln!("rsmctl bench: started {n} agent(s) in {} ({:.1} s)", dir.display(), t.elapsed().as_secs_f64());
    let sock1 = nodes[0].socket.clone();
    let sock2 = nodes.get(1).map(|n| n.socket.clone());
    Ok((guard, Nodes { sock1, sock2 }))
}

/// The standard set run without a selection.
fn standard_set() -> Vec<Spec> {
    let s = |ctl: &str, op, kind, mode, size| Spec { ctl: ctl.to_string(), op, kind, mode, size };
    use Kind::{Bw, Lat};
    use Mode::{Explicit, Implicit};
    vec![
        s("loopback", Op::Put, Lat, Some(Implicit), 8),
        s("loopback", Op::Put, Lat, Some(Explicit), 8),
        s("loopback", Op::Get, Lat, Some(Implicit), 8),
        s("loopback", Op::Get, Lat, Some(Explicit), 8),
        s("loopback", Op::Put, Bw, Some(Implicit), 1 << 20),
        s("loopback", Op::Put, Bw, Some(Explicit), 1 << 20),
        s("loopback", Op::Get, Bw, Some(Implicit), 1 << 20),
        s("loopback", Op::Get, Bw, Some(Explicit), 1 << 20),
        s("loopback", Op::Signal, Lat, None, 0),
        s("tcp0", Op::Put, Lat, Some(Implicit), 8),
        s("tcp0", Op::Put, Lat, Some(Explicit), 8),
        s("tcp0", Op::Get, Lat, Some(Implicit), 8),
        s("tcp0", Op::Barrier, Lat, Some(Explicit), 8),
        s("tcp0", Op::Put, Bw, Some(Explicit), 1 << 20),
        s("tcp0", Op::Signal, Lat, None, 0),
    ]
}

fn selection(a: &BenchArgs) -> Result<Vec<Spec>> {
    let ctls: Vec<String> = if a.controllers.is_empty() {
        vec!["loopback".into(), "tcp0".into()]
    } else {
        a.controllers
            .iter()
            .map(|c| rsm::canonical_name(Some(c.trim())).unwrap_or_else(|| c.trim().to_string()))
            .collect()
    };
    let ops = if a.ops.is_empty() { vec![Op::Put, Op::Get, Op::Putv, Op::Barrier, Op::Signal] } else { a.ops.clone() };
    let mut sizes = Vec::new();
    if a.sizes.is_empty() {
        sizes = vec![8, 64, 512, 4 << 10, 32 << 10, 256 << 10, 1 << 20, 8 << 20];
    } else {
        for s in &a.sizes {
            if s.trim() == "all" {
                sizes.extend((3..=23).map(|p| 1usize << p));
            } else {
                sizes.push(parse_size(s)?);
            }
        }
    }
    let modes = if a.modes.is_empty() { vec![Mode::Implicit, Mode::Explicit] } else { a.modes.clone() };
    let kinds = if a.kinds.is_empty() { vec![Kind::Lat, Kind::Bw] } else { a.kinds.clone() };
    let mut out = Vec::new();
    for ctl in &ctls {
        for &op in &ops {
            if op == Op::Signal {
                if kinds.contains(&Kind::Lat) {
                    out.push(Spec { ctl: ctl.clone(), op, kind: Kind::Lat, mode: None, size: 0 });
                }
                continue;
            }
            for &kind in &kinds {
                if op == Op::Barrier && kind == Kind::Bw {
                    continue;
                }
                for &size in &sizes {
                    for &mode in &modes {
                        if op == Op::Barrier && mode == Mode::Implicit {
                            continue;
                        }
                        out.push(Spec { ctl: ctl.clone(), op, kind, mode: Some(mode), size });
                    }
                }
            }
        }
    }
    if out.is_empty() {
        bail!("the selection contains no measurement (barrier runs only in explicit mode and only as latency)");
    }
    Ok(out)
}

fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU).filter(|&i| set.is_set(i)).collect(),
        Err(_) => Vec::new(),
    }
}

fn pin(cpu: Option<usize>) {
    if let Some(c) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(c);
        if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
            tracing::warn!("could not pin to CPU {c}: {e}");
        }
    }
}

/// Runs `rsmctl bench`.
pub(crate) fn run(a: BenchArgs) -> Result<()> {
    let standard =
        a.controllers.is_empty() && a.ops.is_empty() && a.sizes.is_empty() && a.modes.is_empty() && a.kinds.is_empty();
    let specs = if standard { standard_set() } else { selection(&a)? };
    let (mut iters, mut bw_time, mut max_time) = (a.iters, a.time, a.max_time);
    if a.quick {
        iters = iters.min(20_000);
        bw_time = bw_time.min(0.3);
        max_time = max_time.min(2.0);
    }
    if iters == 0 || !bw_time.is_finite() || bw_time <= 0.0 || !max_time.is_finite() || max_time <= 0.0 {
        bail!("--iters, --time and --max-time must be positive");
    }
    // A day is more than any measurement needs (and Duration cannot hold 1e20 s).
    if bw_time > MAX_SECS || max_time > MAX_SECS {
        bail!("--time and --max-time must be at most {MAX_SECS} s");
    }
    if a.iov == 0 || a.iov > rsm::MAX_SGIOREQS {
        bail!("--iov must be 1..={}", rsm::MAX_SGIOREQS);
    }
    if a.batch == Some(0) {
        bail!("--batch must be positive");
    }
    let cpus_allowed = allowed_cpus();
    if let Some((x, y)) = a.cpus {
        if !cpus_allowed.contains(&x) || !cpus_allowed.contains(&y) {
            bail!("--cpus {x},{y}: this process may only use CPUs {cpus_allowed:?}");
        }
    }
    let cpus = if a.no_pin || cpus_allowed.len() < 2 {
        None
    } else {
        Some(a.cpus.unwrap_or((cpus_allowed[0], cpus_allowed[1])))
    };
    let cfg = Cfg {
        iters,
        warmup: a.warmup,
        bw_time: Duration::from_secs_f64(bw_time),
        max_time: Duration::from_secs_f64(max_time),
        batch: a.batch,
        iov: a.iov,
        cpus,
        // With one CPU the other side cannot run while this one spins.
        spin_polls: if cpus_allowed.len() < 2 { Some(0) } else { a.spin_polls },
        wait: a.wait,
    };
    if a.wait == Wait::Block {
        rsm::set_wait_spin(Duration::ZERO);
    }
    if cpus_allowed.len() < 2 {
        eprintln!("rsmctl bench: fewer than 2 CPUs: the sides yield while they spin; latencies measure the scheduler");
    }
    let needs_remote = specs.iter().any(|s| s.ctl != "loopback");
    let (_own, nodes) = match &a.node1 {
        Some(s1) => {
            if needs_remote && a.node2.is_none() {
                bail!("network controllers need --node2 (the socket of another node's agent)");
            }
            (None, Nodes { sock1: s1.clone(), sock2: a.node2.clone() })
        }
        None => {
            let (g, n) = start_cluster(if needs_remote { 2 } else { 1 }, a.wait)?;
            (Some(g), n)
        }
    };

    let mut prog = Progress::new(specs.len());
    let mut out = std::io::stdout().lock();
    if !a.json {
        writeln!(
            out,
            "{:<9} {:<7} {:<4} {:<8} {:>7} {:>9} {:>11} {:>11} {:>9}  note",
            "ctl", "op", "kind", "mode", "size", "iters", "median", "p99", "GB/s"
        )?;
    }
    let t_all = Instant::now();
    let mut failures = 0;
    for (i, spec) in specs.iter().enumerate() {
        hold_if_interrupted();
        prog.begin(i + 1, &spec.label());
        let r = measure(&nodes, spec, &cfg, &mut prog);
        hold_if_interrupted();
        prog.end();
        match r {
            Ok(rec) => {
                if a.json {
                    writeln!(out, "{}", serde_json::to_string(&rec)?)?;
                } else {
                    let note = match (rec.kind, rec.oneway) {
                        ("bw", _) => format!("per op, {} op(s) per sample", rec.batch),
                        (_, true) if rec.batch > 1 => format!("one-way (round trip / 2), {} per timestamp", rec.batch),
                        (_, true) => "one-way (round trip / 2)".to_string(),
                        _ if rec.batch > 1 => format!("per op, {} ops per timestamp", rec.batch),
                        _ => "per op".to_string(),
                    };
                    writeln!(
                        out,
                        "{:<9} {:<7} {:<4} {:<8} {:>7} {:>9} {:>11} {:>11} {:>9.3}  {}",
                        rec.controller,
                        rec.op,
                        rec.kind,
                        rec.mode,
                        if rec.size == 0 { "-".to_string() } else { fmt_size(rec.size) },
                        rec.iterations,
                        fmt_ns(rec.median_ns),
                        fmt_ns(rec.p99_ns),
                        rec.gbps,
                        note
                    )?;
                }
                out.flush()?;
            }
            Err(e) => {
                failures += 1;
                eprintln!("rsmctl bench: {} failed: {e:#}", spec.label());
            }
        }
    }
    if !a.json {
        writeln!(
            out,
            "({} measurement(s) in {:.1} s; {}; network waits: {}; GB/s = 1e9 B/s; percentiles nearest-rank)",
            specs.len(),
            t_all.elapsed().as_secs_f64(),
            match cfg.cpus {
                Some((x, y)) => format!("sides pinned to CPUs {x},{y}"),
                None => "unpinned".to_string(),
            },
            match cfg.wait {
                Wait::Spin => format!("spin {} µs, then block", rsm::wait_spin().as_micros()),
                Wait::Block => "block".to_string(),
            }
        )?;
    }
    if failures > 0 {
        bail!("{failures} measurement(s) failed");
    }
    Ok(())
}

/// Progress on stderr: a line that updates itself on a terminal, one line per measurement
/// otherwise.
struct Progress {
    tty: bool,
    total: usize,
    idx: usize,
    label: String,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let now = Instant::now();
        Progress { tty: std::io::stderr().is_terminal(), total, idx: 0, label: String::new(), start: now, last: now }
    }

    fn begin(&mut self, idx: usize, label: &str) {
        self.idx = idx;
        self.label = label.to_string();
        self.start = Instant::now();
        self.last = self.start;
        if self.tty {
            eprint!("\r\x1b[K[{}/{}] {} ...", idx, self.total, label);
        } else {
            eprintln!("[{}/{}] {}", idx, self.total, label);
        }
    }

    /// Redraws at most every 200 ms. `now` is a timestamp the caller already took (no clock
    /// read here: this runs inside timed loops); `frac` says how far the measurement is (0..1).
    #[inline]
    fn tick(&mut self, now: Instant, frac: impl FnOnce() -> f64) {
        if !self.tty || now.saturating_duration_since(self.last) < Duration::from_millis(200) {
            return;
        }
        self.draw(now, frac());
    }

    #[cold]
    fn draw(&mut self, now: Instant, frac: f64) {
        self.last = now;
        eprint!(
            "\r\x1b[K[{}/{}] {} {:>3.0}% ({:.1} s)",
            self.idx,
            self.total,
            self.label,
            (frac * 100.0).clamp(0.0, 100.0),
            now.saturating_duration_since(self.start).as_secs_f64()
        );
    }

    fn end(&mut self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

/// The two sides of a measurement: A's controller and B's (the same node for loopback).
fn controllers(nodes: &Nodes, name: &str) -> Result<(Controller, Controller)> {
    if name == "loopback" {
        let c = Controller::get_at(&nodes.sock1, Some("loopback")).context("loopback controller of node 1")?;
        return Ok((c.clone(), c));
    }
    let s2 = nodes.sock2.as_ref().ok_or_else(|| anyhow!("{name} needs a second node"))?;
    let a = Controller::get_at(&nodes.sock1, Some(name)).with_context(|| format!("controller {name} of node 1"))?;
    let b = Controller::get_at(s2, Some(name)).with_context(|| format!("controller {name} of node 2"))?;
    if a.local_node() == b.local_node() {
        bail!("--node1 and --node2 are the same node ({})", a.local_node());
    }
    Ok((a, b))
}

fn page_round(n: usize) -> usize {
    let p = rustix::param::page_size();
    n.div_ceil(p).max(1) * p
}

/// Exports `size` bytes through `ctl` for `importer`'s node and publishes them.
fn export(ctl: &Controller, size: usize, importer: &Controller) -> Result<(ExportSegment, u32)> {
    let seg = ExportSegment::allocate(ctl, page_round(size), ExportFlags::empty()).context("export create")?;
    let mut acl = vec![AccessEntry { node: importer.local_node(), perm: perm::RDWR }];
    if importer.local_node() != ctl.local_node() {
        acl.push(AccessEntry { node: ctl.local_node(), perm: perm::RDWR });
    }
    let id = seg.publish(0, &acl).context("publish")?;
    Ok((seg, id))
}

/// Connects to `id` on `exporter`'s node through `ctl`, with a barrier and the mode.
fn import(ctl: &Controller, exporter: &Controller, id: u32, mode: Option<Mode>) -> Result<(ImportSegment, Barrier)> {
    let imp = ImportSegment::connect(ctl, exporter.local_node(), id, perm::RDWR).context("import connect")?;
    let bar = imp.init_barrier(BarrierType::Node).context("init barrier")?;
    imp.set_mode(match mode {
        Some(Mode::Explicit) => BarrierMode::Explicit,
        _ => BarrierMode::Implicit,
    })?;
    Ok((imp, bar))
}

/// Sets the flag when dropped (a side that ends for any reason tells the other).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Polls the exporter's own memory until the 8 bytes at `off` hold `want`. `Ok(false)` if
/// the other side stopped.
fn wait_seq(seg: &ExportSegment, off: usize, want: u64, stop: &AtomicBool, spin_polls: u32) -> Result<bool> {
    let mut b = [0u8; 8];
    let mut spins: u32 = 0;
    let mut since: Option<Instant> = None;
    loop {
        seg.read_at(off, &mut b)?;
        if u64::from_ne_bytes(b) == want {
            return Ok(true);
        }
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let now = Instant::now();
            if now.duration_since(*since.get_or_insert(now)) > STALL {
                bail!("no answer from the other side for {} s", STALL.as_secs());
            }
        }
        if spins >= spin_polls {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Waits for one event on an export segment; `Ok(false)` if the other side stopped.
fn wait_event(seg: &ExportSegment, stop: &AtomicBool) -> Result<bool> {
    let start = Instant::now();
    loop {
        match seg.signal_wait(Some(WAIT_SLICE)) {
            Ok(()) => return Ok(true),
            Err(rsm::Error::Timeout) | Err(rsm::Error::Interrupted) => {
                if stop.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                if start.elapsed() > STALL {
                    bail!("no event from the other side for {} s", STALL.as_secs());
                }
            }
            Err(e) => return Err(e).context("signal wait"),
        }
    }
}

/// Operations (or round trips) per timestamp: enough for about 2 µs, so that the clock read
/// (`Instant::now`, ~25 ns, ~50 ns per round trip next to a cache-line transfer) is ~1-2%
/// of a sample. `took` is the time of `n` warm-up operations.
fn per_timestamp(took: Duration, n: u64) -> usize {
    let mean = ns(took) as f64 / n.max(1) as f64;
    ((2000.0 / mean.max(1.0)).ceil() as usize).clamp(1, 256)
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1) - 1;
    sorted[i.min(sorted.len() - 1)]
}

/// What a measurement loop produced.
struct Samples {
    /// Nanoseconds per sample (a round trip, or `batch` operations).
    v: Vec<u64>,
    batch: usize,
    secs: f64,
    /// Bytes moved while measuring (bandwidth only).
    bytes: u64,
    ops: u64,
}

fn measure(nodes: &Nodes, spec: &Spec, cfg: &Cfg, prog: &mut Progress) -> Result<Record> {
    let (ca, cb) = controllers(nodes, &spec.ctl)?;
    let size = spec.size;
    let (s, oneway) = match (spec.op, spec.kind) {
        (Op::Put, Kind::Lat) => (put_pingpong(&ca, &cb, spec.mode, size, cfg, prog)?, true),
        (Op::Signal, _) => (signal_pingpong(&ca, &cb, cfg, prog)?, true),
        (Op::Get | Op::Putv | Op::Barrier, Kind::Lat) => (op_latency(&ca, &cb, spec, cfg, prog)?, false),
        (Op::Put | Op::Get | Op::Putv, Kind::Bw) => (bandwidth(&ca, &cb, spec, cfg, prog)?, false),
        (Op::Barrier, Kind::Bw) => bail!("barrier has no bandwidth measurement"),
    };
    let mut v = s.v;
    v.sort_unstable();
    let div = if oneway { 2.0 * s.batch as f64 } else { s.batch as f64 };
    let median = pct(&v, 50.0) as f64 / div;
    let p99 = pct(&v, 99.0) as f64 / div;
    let gbps = match spec.kind {
        Kind::Bw => s.bytes as f64 / s.secs / 1e9,
        Kind::Lat if median > 0.0 => size as f64 / median,
        Kind::Lat => 0.0,
    };
    let mode = spec.mode.map(mode_name).unwrap_or("none");
    let mut metric = format!("rsm_{}_{}_{}", spec.ctl, op_name(spec.op), kind_name(spec.kind));
    if spec.op != Op::Signal {
        metric.push_str(&format!("_{}", fmt_size(size)));
    }
    if spec.mode.is_some() {
        metric.push_str(&format!("_{mode}"));
    }
    if cfg.wait == Wait::Block {
        metric.push_str("_block");
    }
    Ok(Record {
        metric,
        controller: spec.ctl.clone(),
        op: op_name(spec.op),
        kind: kind_name(spec.kind),
        mode,
        size,
        iterations: s.ops,
        samples: v.len(),
        batch: s.batch,
        oneway,
        median_ns: median,
        p99_ns: p99,
        gbps,
        secs: s.secs,
        wait: match cfg.wait {
            Wait::Spin => "spin",
            Wait::Block => "block",
        },
        spin_polls: cfg.spin_polls(&ca),
        node_a: ca.local_node(),
        node_b: cb.local_node(),
    })
}

/// Put ping-pong: A puts n into SB, B sees it in its own memory and puts n into SA, A sees it.
fn put_pingpong(
    ca: &Controller,
    cb: &Controller,
    mode: Option<Mode>,
    size: usize,
    cfg: &Cfg,
    prog: &mut Progress,
) -> Result<Samples> {
    let (sa, ida) = export(ca, size, cb)?;
    let (sb, idb) = export(cb, size, ca)?;
    let (a_imp, a_bar) = import(ca, cb, idb, mode)?; // A's view of SB
    let (b_imp, b_bar) = import(cb, ca, ida, mode)?; // B's view of SA
    let explicit = mode == Some(Mode::Explicit);
    let off = size - 8;
    let stop = AtomicBool::new(false);
    let (n, w) = (cfg.iters, cfg.warmup());
    let cpus = cfg.cpus;
    let ys = cfg.spin_polls(ca);

    let r = std::thread::scope(|s| -> Result<Samples> {
        let b = s.spawn(|| -> Result<()> {
            let _stop = StopOnDrop(&stop);
            pin(cpus.map(|c| c.1));
            let mut buf = vec![0u8; size];
            if explicit {
                b_bar.open()?;
            }
            for seq in 1u64.. {
                if !wait_seq(&sb, off, seq, &stop, ys)? {
                    break;
                }
                buf[off..].copy_from_slice(&seq.to_ne_bytes());
                b_imp.put(0, &buf).context("B's put")?;
            }
            if explicit {
                b_bar.close().context("B's barrier close")?;
            }
            Ok(())
        });
        let a = s.spawn(|| -> Result<Samples> {
            let _stop = StopOnDrop(&stop);
            pin(cpus.map(|c| c.0));
            let mut buf = vec![0u8; size];
            let mut v = Vec::with_capacity(n);
            if explicit {
                a_bar.open()?;
            }
            let mut seq = 0u64;
            let warm_start = Instant::now();
            let warm_end = warm_start + Duration::from_secs(1);
            let mut warm_done = 0u64;
            for _ in 0..w.max(100) {
                seq += 1;
                buf[off..].copy_from_slice(&seq.to_ne_bytes());
                a_imp.put(0, &buf).context("A's put")?;
                if !wait_seq(&sa, off, seq, &stop, ys)? {
                    bail!("the other side stopped");
                }
                warm_done += 1;
                if Instant::now() > warm_end {
                    break;
                }
            }
            let k = cfg.batch.unwrap_or_else(|| per_timestamp(warm_start.elapsed(), warm_done));
            let start = Instant::now();
            let mut prev = start;
            let mut last = start;
            for i in 0..n {
                for _ in 0..k {
                    seq += 1;
                    buf[off..].copy_from_slice(&seq.to_ne_bytes());
                    a_imp.put(0, &buf).context("A's put")?;
                    if !wait_seq(&sa, off, seq, &stop, ys)? {
                        bail!("the other side stopped");
                    }
                }
                let t = Instant::now();
                v.push(ns(t - prev));
                prev = t;
                last = t;
                let el = t - start;
                if el > cfg.max_time {
                    break;
                }
                prog.tick(t, || (i as f64 / n as f64).max(el.as_secs_f64() / cfg.max_time.as_secs_f64()));
            }
            if explicit {
                a_bar.close().context("A's barrier close")?;
            }
            let ops = (v.len() * k) as u64;
            Ok(Samples { v, batch: k, secs: (last - start).as_secs_f64(), bytes: 0, ops })
        });
        let ra = a.join().map_err(|_| anyhow!("side A panicked"));
        stop.store(true, Ordering::Relaxed);
        let rb = b.join().map_err(|_| anyhow!("side B panicked"))?;
        let ra = ra??;
        rb?;
        Ok(ra)
    });
    drop((a_imp, b_imp, a_bar, b_bar));
    r
}

/// Signal ping-pong: A posts to SB, B waits and posts to SA, A waits.
fn signal_pingpong(ca: &Controller, cb: &Controller, cfg: &Cfg, prog: &mut Progress) -> Result<Samples> {
    let (sa, ida) = export(ca, 1, cb)?;
    let (sb, idb) = export(cb, 1, ca)?;
    let (a_imp, _a_bar) = import(ca, cb, idb, None)?;
    let (b_imp, _b_bar) = import(cb, ca, ida, None)?;
    let stop = AtomicBool::new(false);
    let (n, w) = (cfg.iters, cfg.warmup());
    let cpus = cfg.cpus;
    std::thread::scope(|s| -> Result<Samples> {
        let b = s.spawn(|| -> Result<()> {
            let _stop = StopOnDrop(&stop);
            pin(cpus.map(|c| c.1));
            while wait_event(&sb, &stop)? {
                b_imp.signal_post(PostFlags::empty()).context("B's post")?;
            }
            Ok(())
        });
        let a = s.spawn(|| -> Result<Samples> {
            let _stop = StopOnDrop(&stop);
            pin(cpus.map(|c| c.0));
            let mut v = Vec::with_capacity(n);
            let warm_start = Instant::now();
            let warm_end = warm_start + Duration::from_secs(1);
            let mut warm_done = 0u64;
            for _ in 0..w.max(10) {
                a_imp.signal_post(PostFlags::empty()).context("A's post")?;
                if !wait_event(&sa, &stop)? {
                    bail!("the other side stopped");
                }
                warm_done += 1;
                if Instant::now() > warm_end {
                    break;
                }
            }
            let k = cfg.batch.unwrap_or_else(|| per_timestamp(warm_start.elapsed(), warm_done));
            let start = Instant::now();
            let (mut prev, mut last) = (start, start);
            for i in 0..n {
                for _ in 0..k {
                    a_imp.signal_post(PostFlags::empty()).context("A's post")?;
                    if !wait_event(&sa, &stop)? {
                        bail!("the other side stopped");
                    }
                }
                let t = Instant::now();
                v.push(ns(t - prev));
                prev = t;
                last = t;
                let el = t - start;
                if el > cfg.max_time {
                    break;
                }
                prog.tick(t, || (i as f64 / n as f64).max(el.as_secs_f64() / cfg.max_time.as_secs_f64()));
            }
            let ops = (v.len() * k) as u64;
            Ok(Samples { v, batch: k, secs: (last - start).as_secs_f64(), bytes: 0, ops })
        });
        let ra = a.join().map_err(|_| anyhow!("side A panicked"));
        stop.store(true, Ordering::Relaxed);
        let rb = b.join().map_err(|_| anyhow!("side B panicked"))?;
        let ra = ra??;
        rb?;
        Ok(ra)
    })
}

/// One putv of `size` bytes in up to `iov` entries of at least 8 bytes.
fn do_putv(imp: &ImportSegment, buf: &[u8], iov: usize) -> Result<()> {
    let size = buf.len();
    let n = iov.min(size / 8).max(1);
    let chunk = size / n;
    let mut v: Vec<IoVec<'_>> = (0..n)
        .map(|i| {
            let lo = i * chunk;
            let hi = if i == n - 1 { size } else { lo + chunk };
            IoVec { local: Local::Src(&buf[lo..hi]), remote_offset: lo, len: hi - lo }
        })
        .collect();
    imp.putv(&mut v, PostFlags::empty()).map_err(|e| anyhow!("putv: {e}"))
}

/// Latency of one operation (get, putv, or open+put+close) on B's segment, timed in batches.
fn op_latency(ca: &Controller, cb: &Controller, spec: &Spec, cfg: &Cfg, prog: &mut Progress) -> Result<Samples> {
    let size = spec.size;
    let (_sb, idb) = export(cb, size, ca)?;
    let (imp, bar) = import(ca, cb, idb, spec.mode)?;
    let explicit = spec.mode == Some(Mode::Explicit);
    pin_scoped(cfg.cpus.map(|c| c.0), || {
        let mut buf = vec![0u8; size];
        let mut one = || -> Result<()> {
            match spec.op {
                Op::Get => imp.get(0, &mut buf).context("get")?,
                Op::Putv => {
                    if explicit {
                        bar.open()?;
                    }
                    do_putv(&imp, &buf, cfg.iov)?;
                    if explicit {
                        bar.close().context("barrier close")?;
                    }
                }
                Op::Barrier => {
                    bar.open()?;
                    imp.put(0, &buf).context("put")?;
                    bar.close().context("barrier close")?;
                }
                _ => bail!("not a single-operation measurement"),
            }
            Ok(())
        };
        // Warm-up, and a calibration of the batch: about 2 µs worth of operations per sample.
        let w = cfg.warmup().max(100);
        let warm_end = Instant::now() + Duration::from_secs(1);
        let t = Instant::now();
        let mut done = 0u64;
        for _ in 0..w {
            one()?;
            done += 1;
            if Instant::now() > warm_end {
                break;
            }
        }
        let batch = cfg.batch.unwrap_or_else(|| per_timestamp(t.elapsed(), done));
        let n = cfg.iters;
        let mut v = Vec::with_capacity(n);
        let start = Instant::now();
        let (mut prev, mut last) = (start, start);
        for i in 0..n {
            for _ in 0..batch {
                one()?;
            }
            let t = Instant::now();
            v.push(ns(t - prev));
            prev = t;
            last = t;
            let el = t - start;
            if el > cfg.max_time {
                break;
            }
            prog.tick(t, || (i as f64 / n as f64).max(el.as_secs_f64() / cfg.max_time.as_secs_f64()));
        }
        let ops = (v.len() * batch) as u64;
        Ok(Samples { v, batch, secs: (last - start).as_secs_f64(), bytes: 0, ops })
    })
}

/// Runs `f` on a thread pinned to `cpu` (so the caller's thread keeps its affinity).
fn pin_scoped<T: Send>(cpu: Option<usize>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            pin(cpu);
            f()
        })
        .join()
        .map_err(|_| anyhow!("the measuring thread panicked"))?
    })
}

/// Bandwidth: batches of operations of `size` bytes for `bw_time`; in explicit mode each batch
/// is a barrier window and counts only if its close succeeds.
fn bandwidth(ca: &Controller, cb: &Controller, spec: &Spec, cfg: &Cfg, prog: &mut Progress) -> Result<Samples> {
    let size = spec.size;
    let (_sb, idb) = export(cb, size, ca)?;
    let (imp, bar) = import(ca, cb, idb, spec.mode)?;
    let explicit = spec.mode == Some(Mode::Explicit);
    // A batch (in explicit mode a barrier window) is 16 MiB worth of operations, at most 4096,
    // and no longer than about 1/50 of the measuring time (found during the warm-up).
    let max_batch = ((16usize << 20) / size).clamp(1, 4096);
    pin_scoped(cfg.cpus.map(|c| c.0), || {
        let mut buf: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut window = |batch: usize| -> Result<()> {
            if explicit {
                bar.open()?;
            }
            for _ in 0..batch {
                match spec.op {
                    Op::Put => imp.put(0, &buf).context("put")?,
                    Op::Get => imp.get(0, &mut buf).context("get")?,
                    Op::Putv => do_putv(&imp, &buf, cfg.iov)?,
                    _ => bail!("no bandwidth measurement for this operation"),
                }
            }
            if explicit {
                bar.close().context("barrier close (bytes of this window not counted)")?;
            }
            Ok(())
        };
        let warm = cfg.bw_time.mul_f64(0.2);
        let per_batch = cfg.bw_time.div_f64(50.0);
        let mut batch = cfg.batch.unwrap_or(1);
        let t = Instant::now();
        loop {
            let tb = Instant::now();
            window(batch)?;
            if cfg.batch.is_none() && batch < max_batch && tb.elapsed() < per_batch {
                batch = (batch * 2).min(max_batch);
            }
            if t.elapsed() >= warm {
                break;
            }
        }
        let mut v = Vec::new();
        let start = Instant::now();
        let mut prev = start;
        let mut bytes = 0u64;
        let mut ops = 0u64;
        loop {
            window(batch)?;
            let t = Instant::now();
            v.push(ns(t - prev));
            prev = t;
            bytes += (batch * size) as u64;
            ops += batch as u64;
            let el = t - start;
            if el >= cfg.bw_time {
                break;
            }
            prog.tick(t, || el.as_secs_f64() / cfg.bw_time.as_secs_f64());
        }
        Ok(Samples { v, batch, secs: (prev - start).as_secs_f64(), bytes, ops })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8").unwrap(), 8);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("8m").unwrap(), 8 << 20);
        assert!(parse_size("4").is_err());
        assert!(parse_size("16M").is_err());
        assert_eq!(fmt_size(1 << 20), "1MiB");
        assert_eq!(fmt_size(8), "8B");
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(pct(&v, 50.0), 50);
        assert_eq!(pct(&v, 99.0), 99);
        assert_eq!(pct(&[7], 99.0), 7);
        assert_eq!(pct(&[1, 2], 50.0), 1);
    }

    #[test]
    fn standard_set_is_what_compare_needs() {
        let s = standard_set();
        assert!(
            s.iter()
                .any(|x| x.ctl == "tcp0" && x.op == Op::Put && x.kind == Kind::Bw && x.mode == Some(Mode::Explicit))
        );
        assert!(s.iter().filter(|x| x.op == Op::Signal).count() == 2);
    }
}
