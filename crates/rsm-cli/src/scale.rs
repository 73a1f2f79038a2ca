//! `rsmctl bench scale`: many segments on one node and many concurrent importers of one
//! segment across two nodes, on two throwaway local agents (a `tcp0` cluster on 127.0.0.1).
//!
//! 1. **Idle**: the RSS (`VmRSS`), descriptors and threads of each fresh agent with no
//!    client.
//! 2. **Segments**: exporter processes (`rsmctl bench scale-exporter`, each holding at most
//!    [`SEGMENTS_PER_EXPORTER`]) export and publish `--segments` segments of one page on
//!    node 1 (through `tcp0`), timing each create + publish. At
//!    checkpoints (100, 1000, 5000, 10000, ...) it connects `--samples` times to a random
//!    published segment from node 1 (`loopback`) and from node 2 (`tcp0`), gets the 8 bytes
//!    the exporter wrote there, checks them and disconnects, and reads the agents' RSS.
//!    Then it destroys every segment and reads the RSS and descriptors again.
//! 3. **Importers**: one segment of `--importers` × `--slice` bytes on node 1; importer `i`
//!    owns slice `i`. Even importers connect from node 1 (`loopback`), odd ones from node 2
//!    (`tcp0`, so every put and get crosses to node 1's agent on its own data connection).
//!    Each importer is a thread with its **own agent connection** (it reaches the agent
//!    through a symlink of its own to the socket: the library keeps one connection per socket
//!    path and process). Importers are added in waves up to each checkpoint (100, 500, 1000,
//!    ...), at most `--connect-parallel` connecting at once; connected ones keep putting a
//!    pattern into their slice and getting it back every `--pace-ms`. After the last wave all
//!    of them work at once for `--work-secs` (a round, `--work-gap-us` of sleep, a round,
//!    ...), then write a final pattern that the exporter checks byte for byte in its own
//!    memory. Then all disconnect, and the agents' counters must come back to no import.
//!
//! Every wrong byte or failed operation counts as an error (as does a publish the agent
//! refuses: publishing then stops at that count); the command fails if there is any.
//!
//! Descriptors: the agent keeps one per published segment (the event counter; it takes the
//! memfd from the exporter when an importer needs it) and an exporter two (memfd, event
//! counter), hence several exporter processes. The command raises its own limit (which the
//! agents and exporters inherit) as far as it may and says how far it got.

use crate::cluster::INTERRUPTED;
use anyhow::{Context, Result, anyhow, bail};
use rsm::{BarrierType, Controller, ExportFlags, ExportSegment, ImportSegment, perm};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The `rsmctl bench` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum BenchCmd {
    /// Scale: many published segments on one node and many concurrent importers of one
    /// segment across two nodes; connect latency, agent RSS and how they grow.
    Scale(Box<ScaleArgs>),
    /// One exporter process of `bench scale` (started by it; commands on stdin).
    #[command(hide = true)]
    ScaleExporter {
        /// Socket of the node's agent.
        #[arg(long)]
        socket: PathBuf,
    },
}

/// Options of `rsmctl bench scale`.
#[derive(clap::Args, Debug)]
pub(crate) struct ScaleArgs {
    /// Segments to publish on node 1.
    #[arg(long, default_value_t = 10_000)]
    segments: usize,
    /// Concurrent importers of one segment (half on node 1, half on node 2).
    #[arg(long, default_value_t = 1_000)]
    importers: usize,
    /// Connect samples per controller at each segment checkpoint.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Bytes of the segment each importer owns (a multiple of 8).
    #[arg(long, default_value_t = 4096)]
    slice: usize,
    /// Importers connecting at the same time (more than 1 measures queueing too: the library
    /// opens agent connections of one process one at a time).
    #[arg(long, default_value_t = 1)]
    connect_parallel: usize,
    /// While importers are being added, each connected one does one put + get every this
    /// many milliseconds.
    #[arg(long, default_value_t = 200)]
    pace_ms: u64,
    /// Seconds during which all importers work at once, each one round after another with
    /// `--work-gap-us` between rounds.
    #[arg(long, default_value_t = 3.0)]
    work_secs: f64,
    /// Sleep between two rounds of one importer while all work at once. With 0 (yield only)
    /// the ~500 importers whose rounds never block keep ~1000 threads runnable on this
    /// machine's CPUs, which starves every other thread for seconds (and the agents'
    /// heartbeats, so paths go down).
    #[arg(long, default_value_t = 1000)]
    work_gap_us: u64,
    /// Runs of the importer phase on the same agents (RSS after each tells retention from a
    /// leak).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// RLIMIT_NOFILE for this process and the agents it starts (default: raised to what
    /// the counts need, if possible; 0: leave as it is).
    #[arg(long)]
    nofile: Option<u64>,
    /// Directory for the agents' sockets, logs and pid files (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// One JSON object per line instead of tables.
    #[arg(long)]
    json: bool,
}

/// Agents this command started: stopped on drop (normal end, error, panic) and on SIGINT,
/// SIGTERM, SIGHUP, SIGPIPE.
struct Agents {
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Agents {
    fn drop(&mut self) {
        let _ = crate::cluster::stop(&self.dir);
    }
}

/// RSS, descriptors and threads of a process.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

fn usage(pid: u32) -> Usage {
    let mut u = Usage::default();
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for l in s.lines() {
            let num = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            if l.starts_with("VmRSS:") {
                u.rss_kib = num(l);
            } else if l.starts_with("Threads:") {
                u.threads = num(l);
            }
        }
    }
    u.fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64).unwrap_or(0);
    u
}

/// The soft RLIMIT_NOFILE of a process (from /proc/PID/limits).
fn nofile_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .unwrap_or_else(|| "?".into())
}

fn usage_json(u: Usage) -> Value {
    json!({"rss_kib": u.rss_kib, "fds": u.fds, "threads": u.threads})
}

/// Nearest-rank percentile (sorts `v`).
fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let i = ((p / 100.0 * v.len() as f64).ceil() as usize).max(1) - 1;
    v[i.min(v.len() - 1)]
}

fn fmt_us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// xorshift64*: enough to pick segments at random.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// Counts to stop at: the usual ones below `n`, and `n`.
fn checkpoints(usual: &[usize], n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = usual.iter().copied().filter(|&c| c < n).collect();
    v.push(n);
    v
}

/// Raises RLIMIT_NOFILE to `want` (the hard limit too, if privileged). Returns (before,
/// after) soft limits.
fn raise_nofile(want: u64) -> (u64, u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let r = getrlimit(Resource::Nofile);
    let cur = r.current.unwrap_or(u64::MAX);
    if want <= cur {
        return (cur, cur);
    }
    let max = r.maximum.unwrap_or(u64::MAX);
    if want > max && setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: Some(want) }).is_ok() {
        return (cur, want);
    }
    let to = want.min(max);
    match setrlimit(Resource::Nofile, Rlimit { current: Some(to), maximum: r.maximum }) {
        Ok(()) => (cur, to),
        Err(_) => (cur, cur),
    }
}

/// Output: JSON lines or tables, on stdout.
struct Out {
    json: bool,
    errors: u64,
    first_errors: Vec<String>,
}

impl Out {
    fn emit(&self, v: &Value) -> Result<()> {
        if self.json {
            let mut o = std::io::stdout().lock();
            writeln!(o, "{v}")?;
            o.flush()?;
        }
        Ok(())
    }

    fn line(&self, s: &str) -> Result<()> {
        if !self.json {
            let mut o = std::io::stdout().lock();
            writeln!(o, "{s}")?;
            o.flush()?;
        }
        Ok(())
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 10 {
            eprintln!("rsmctl bench scale: error: {what}");
            self.first_errors.push(what);
        }
    }
}

/// Runs `rsmctl bench scale`.
pub(crate) fn run(a: ScaleArgs) -> Result<()> {
    if a.segments == 0 || a.importers == 0 || a.samples == 0 || a.connect_parallel == 0 {
        bail!("--segments, --importers, --samples and --connect-parallel must be positive");
    }
    if a.slice < 8 || a.slice % 8 != 0 {
        bail!("--slice must be a positive multiple of 8");
    }
    if !a.work_secs.is_finite() || a.work_secs < 0.0 || a.work_secs > crate::bench::MAX_SECS {
        bail!("--work-secs must be 0 to {} s", crate::bench::MAX_SECS);
    }
    let t_all = Instant::now();
    // Descriptors: the agent keeps 1 per published segment (its event counter) and 2-3 per
    // importer; an exporter process 2 per segment; this process up to 5 per importer.
    let want = (a.segments + 6 * a.importers + 1024).max(2 * SEGMENTS_PER_EXPORTER + 1024) as u64;
    let (nofile_before, nofile) = match a.nofile {
        Some(0) => {
            let c = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
            (c, c)
        }
        Some(n) => {
            use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
            let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
            setrlimit(Resource::Nofile, Rlimit { current: Some(n), maximum: Some(n) })
                .or_else(|_| {
                    setrlimit(
                        Resource::Nofile,
                        Rlimit { current: Some(n), maximum: getrlimit(Resource::Nofile).maximum },
                    )
                })
                .with_context(|| format!("setting RLIMIT_NOFILE to {n}"))?;
            (before, n)
        }
        None => raise_nofile(want),
    };
    if nofile < want {
        eprintln!(
            "rsmctl bench scale: RLIMIT_NOFILE is {nofile}, the counts need about {want} descriptors \
             (agent: 1 per published segment, 3 per importer); expect failures"
        );
    }
    let mut out = Out { json: a.json, errors: 0, first_errors: Vec::new() };

    // The agents.
    let (dir, tmp) = match &a.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new().prefix("rsm-scale-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    crate::cluster::stop_agents_on_signal(dir.clone(), tmp.is_some(), "rsmctl bench scale")?;
    let t = Instant::now();
    std::fs::create_dir_all(&dir)?;
    let agents = Agents { dir: dir.canonicalize()?, _tmp: tmp };
    let nodes = crate::cluster::start(2, &agents.dir, "warn")?;
    let (sock1, sock2) = (nodes[0].socket.clone(), nodes[1].socket.clone());
    let pid = |n: u32| -> Result<u32> {
        let p = agents.dir.join(format!("node{n}.pid"));
        std::fs::read_to_string(&p)?.trim().parse().with_context(|| format!("reading {}", p.display()))
    };
    let (pid1, pid2) = (pid(1)?, pid(2)?);
    eprintln!(
        "rsmctl bench scale: started 2 agents in {} ({:.1} s); RLIMIT_NOFILE {nofile_before} -> {nofile}",
        agents.dir.display(),
        t.elapsed().as_secs_f64()
    );
    // Let the agents settle (heartbeats running, start-up buffers freed).
    std::thread::sleep(Duration::from_millis(300));
    let idle1 = usage(pid1);
    let idle2 = usage(pid2);
    out.emit(&json!({
        "metric": "scale_config", "segments": a.segments, "importers": a.importers, "samples": a.samples,
        "slice": a.slice, "connect_parallel": a.connect_parallel, "pace_ms": a.pace_ms, "work_secs": a.work_secs,
        "work_gap_us": a.work_gap_us,
        "nofile_before": nofile_before, "nofile": nofile, "nofile_wanted": want,
        "agent_max_segments": rsmd::config::Limits::default().max_segments, "agent_nofile": nofile_of(pid1),
    }))?;
    out.emit(&json!({"metric": "scale_idle", "node1": usage_json(idle1), "node2": usage_json(idle2),
        "idle_limit_kib": 16 * 1024}))?;
    out.line(&format!(
        "agents idle: node 1 RSS {} MiB, {} fds, {} threads; node 2 RSS {} MiB, {} fds, {} threads (target: RSS <= 16 MiB)",
        mib(idle1.rss_kib),
        idle1.fds,
        idle1.threads,
        mib(idle2.rss_kib),
        idle2.fds,
        idle2.threads
    ))?;
    out.line(&format!(
        "RLIMIT_NOFILE of this process {nofile_before} -> {nofile} (wanted {want}), of the agents {}; agent \
         max_segments {} (the default, not changed)",
        nofile_of(pid1),
        rsmd::config::Limits::default().max_segments
    ))?;

    segments_phase(&a, &sock1, &sock2, pid1, pid2, idle1, &mut out)?;
    if INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park();
    }
    for run in 1..=a.repeat.max(1) {
        if a.repeat > 1 {
            out.line(&format!("\nimporter phase, run {run} of {}", a.repeat))?;
        }
        importers_phase(&a, &agents.dir, &sock1, &sock2, pid1, pid2, &mut out)?;
    }

    let secs = t_all.elapsed().as_secs_f64();
    out.emit(&json!({"metric": "scale_summary", "errors": out.errors, "secs": secs}))?;
    out.line(&format!("errors: {}; {:.1} s in all", out.errors, secs))?;
    drop(agents);
    if out.errors > 0 {
        bail!("{} error(s); first: {}", out.errors, out.first_errors.first().map(String::as_str).unwrap_or("?"));
    }
    Ok(())
}

/// Publishes `a.segments` segments on node 1 with connect samples at checkpoints.
fn segments_phase(
    a: &ScaleArgs,
    sock1: &Path,
    sock2: &Path,
    pid1: u32,
    pid2: u32,
    idle1: Usage,
    out: &mut Out,
) -> Result<()> {
    let node1 = Controller::get_at(sock1, Some("tcp0")).context("tcp0 of node 1")?.local_node();
    let loop1 = Controller::get_at(sock1, Some("loopback")).context("loopback of node 1")?;
    let tcp2 = Controller::get_at(sock2, Some("tcp0")).context("tcp0 of node 2")?;
    let page = rustix::param::page_size();
    // (exporter, segment id); the segment's index in this list is the value it holds.
    let mut segs: Vec<(usize, u32)> = Vec::with_capacity(a.segments);
    let mut exporters: Vec<Exporter> = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
    out.line(&format!(
        "\n{} segments of {page} B published on node 1 (tcp0) by {} exporter processes (at most {SEGMENTS_PER_EXPORTER} \
         each); at each checkpoint {} connect + get 8 B + disconnect to random segments from node 1 (loopback) and \
         node 2 (tcp0)",
        a.segments,
        a.segments.div_ceil(SEGMENTS_PER_EXPORTER),
        a.samples
    ))?;
    out.line(&format!(
        "{:>9} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>7} {:>9} {:>7}",
        "segments",
        "pub p50 µs",
        "pub p99 µs",
        "lo con p50",
        "lo con p99",
        "tcp con p50",
        "tcp con p99",
        "lo cycle",
        "tcp cycle",
        "n1 RSS MiB",
        "n1 fds",
        "n2 RSS MiB",
        "n2 fds"
    ))?;
    let t_phase = Instant::now();
    let mut publish_ns: Vec<u64> = Vec::new();
    let mut pub_failed: Option<usize> = None;
    for cp in checkpoints(&[100, 1000, 5000, 10_000, 50_000], a.segments) {
        let t_band = Instant::now();
        while segs.len() < cp {
            let e = segs.len() / SEGMENTS_PER_EXPORTER;
            if e == exporters.len() {
                exporters.push(Exporter::start(sock1)?);
            }
            let n = (cp - segs.len()).min(SEGMENTS_PER_EXPORTER - segs.len() % SEGMENTS_PER_EXPORTER);
            let Published { done, failed } = exporters[e].publish(n, segs.len())?;
            for (id, ns) in done {
                publish_ns.push(ns);
                segs.push((e, id));
            }
            if let Some(err) = failed {
                out.error(format!(
                    "publishing segment {} failed: {err} (node 1's agent has {} descriptors open, limit {})",
                    segs.len() + 1,
                    usage(pid1).fds,
                    nofile_of(pid1)
                ));
                pub_failed = Some(segs.len());
                // Room for the connect samples (each needs a descriptor in the agent):
                // withdraw the last 1% again (the newest exporter's).
                let k = (segs.len() / 100).clamp(1, segs.len().max(1)).min(segs.len() % SEGMENTS_PER_EXPORTER);
                if k > 0 {
                    exporters[e].withdraw(k)?;
                    segs.truncate(segs.len() - k);
                }
                break;
            }
        }
        let band_secs = t_band.elapsed().as_secs_f64();
        let (pub50, pub99) = (pct(&mut publish_ns, 50.0), pct(&mut publish_ns, 99.0));
        publish_ns.clear();
        // Connect samples.
        let mut lat = [Vec::new(), Vec::new()];
        let mut cyc = [Vec::new(), Vec::new()];
        for k in 0..a.samples * 2 {
            if segs.is_empty() {
                break;
            }
            let which = k % 2;
            let ctl = if which == 0 { &loop1 } else { &tcp2 };
            let i = rng.below(segs.len());
            let id = segs[i].1;
            let t0 = Instant::now();
            match ImportSegment::connect(ctl, node1, id, perm::RDWR) {
                Ok(imp) => {
                    let t1 = Instant::now();
                    let mut b = [0u8; 8];
                    match imp.init_barrier(BarrierType::Node).and_then(|_bar| imp.get(0, &mut b)) {
                        Ok(()) if u64::from_ne_bytes(b) == i as u64 => {}
                        Ok(()) => out.error(format!("segment {i}: read {} instead of {i}", u64::from_ne_bytes(b))),
                        Err(e) => out.error(format!("get from segment {i} via {}: {e}", ctl.name())),
                    }
                    if let Err(e) = imp.disconnect() {
                        out.error(format!("disconnect from segment {i}: {e}"));
                    }
                    drop(imp);
                    lat[which].push(crate_ns(t1 - t0));
                    cyc[which].push(crate_ns(t0.elapsed()));
                }
                Err(e) => out.error(format!("connect to segment {i} via {}: {e}", ctl.name())),
            }
        }
        let (u1, u2) = (usage(pid1), usage(pid2));
        let n = segs.len();
        let growth = (u1.rss_kib.saturating_sub(idle1.rss_kib) * 1024) as f64 / n.max(1) as f64;
        let [l_lo, l_tcp] = &mut lat;
        let [c_lo, c_tcp] = &mut cyc;
        let row = json!({
            "metric": "scale_segments", "segments": n, "band_secs": band_secs,
            "publish_p50_ns": pub50, "publish_p99_ns": pub99,
            "connect_loopback_p50_ns": pct(l_lo, 50.0), "connect_loopback_p99_ns": pct(l_lo, 99.0),
            "connect_tcp_p50_ns": pct(l_tcp, 50.0), "connect_tcp_p99_ns": pct(l_tcp, 99.0),
            "cycle_loopback_p50_ns": pct(c_lo, 50.0), "cycle_tcp_p50_ns": pct(c_tcp, 50.0),
            "samples": l_lo.len() + l_tcp.len(),
            "node1": usage_json(u1), "node2": usage_json(u2),
            "node1_rss_growth_bytes_per_segment": growth, "publish_refused_at": pub_failed, "errors": out.errors,
        });
        out.emit(&row)?;
        out.line(&format!(
            "{:>9} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>7} {:>9} {:>7}",
            n,
            fmt_us(pub50),
            fmt_us(pub99),
            fmt_us(pct(l_lo, 50.0)),
            fmt_us(pct(l_lo, 99.0)),
            fmt_us(pct(l_tcp, 50.0)),
            fmt_us(pct(l_tcp, 99.0)),
            fmt_us(pct(c_lo, 50.0)),
            fmt_us(pct(c_tcp, 50.0)),
            mib(u1.rss_kib),
            u1.fds,
            mib(u2.rss_kib),
            u2.fds
        ))?;
        if let Some(m) = pub_failed {
            out.line(&format!(
                "  (publishing stopped: the agent refused segment {} (see above); {} withdrawn for the samples)",
                m + 1,
                m - n
            ))?;
            break;
        }
    }
    let published = segs.len();
    let publish_secs = t_phase.elapsed().as_secs_f64();
    let all = usage(pid1);
    let t = Instant::now();
    for x in &mut exporters {
        if let Err(e) = x.destroy() {
            out.error(format!("destroy: {e}"));
        }
    }
    drop(exporters);
    drop(segs);
    let destroy_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let (u1, u2) = (usage(pid1), usage(pid2));
    let st = rsm::admin::status(sock1).map_err(|e| anyhow!("status of node 1: {e}"))?;
    if st.exports != 0 || st.imports != 0 || st.remote_importers != 0 {
        out.error(format!(
            "node 1 still has {} export(s), {} import(s), {} remote importer(s) after destroy",
            st.exports, st.imports, st.remote_importers
        ));
    }
    out.emit(&json!({
        "metric": "scale_segments_destroyed", "segments": published, "publish_phase_secs": publish_secs,
        "destroy_secs": destroy_secs, "node1_rss_kib_published": all.rss_kib,
        "node1": usage_json(u1), "node2": usage_json(u2), "errors": out.errors,
    }))?;
    out.line(&format!(
        "{published} segments published in {publish_secs:.1} s (with the samples), destroyed in {destroy_secs:.2} s; \
         after: node 1 RSS {} MiB ({} with all published), {} fds (idle {}); node 2 RSS {} MiB",
        mib(u1.rss_kib),
        mib(all.rss_kib),
        u1.fds,
        idle1.fds,
        mib(u2.rss_kib)
    ))?;
    Ok(())
}

/// Segments one exporter process publishes at most: it holds three descriptors per segment
/// (memfd, the two ends of the event counter), and 4,000 keeps it under a 20,000 descriptor
/// limit.
const SEGMENTS_PER_EXPORTER: usize = 4_000;

/// An exporter process of the segments phase (`rsmctl bench scale-exporter`), driven by
/// one-line commands on its stdin; killed on drop.
struct Exporter {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::BufReader<std::process::ChildStdout>,
}

/// What one `publish` command did.
struct Published {
    /// (segment id, ns to create and publish it) of each segment published.
    done: Vec<(u32, u64)>,
    /// The error that stopped it early.
    failed: Option<String>,
}

impl Exporter {
    fn start(socket: &Path) -> Result<Exporter> {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().context("this executable")?;
        let mut child = Command::new(exe)
            .args(["bench", "scale-exporter", "--socket"])
            .arg(socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting an exporter process")?;
        let to = child.stdin.take().ok_or_else(|| anyhow!("exporter stdin"))?;
        let from = std::io::BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("exporter stdout"))?);
        Ok(Exporter { child, to, from })
    }

    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut l = String::new();
        if self.from.read_line(&mut l)? == 0 {
            bail!("the exporter process exited");
        }
        Ok(l.trim_end().to_string())
    }

    /// Publishes `n` more segments, the first holding value `first`.
    fn publish(&mut self, n: usize, first: usize) -> Result<Published> {
        writeln!(self.to, "publish {n} {first}")?;
        let mut done = Vec::with_capacity(n);
        loop {
            let l = self.line()?;
            let mut f = l.splitn(3, ' ');
            match (f.next(), f.next(), f.next()) {
                (Some("seg"), Some(id), Some(ns)) => done.push((id.parse()?, ns.parse()?)),
                (Some("done"), _, _) => return Ok(Published { done, failed: None }),
                (Some("fail"), _, _) => return Ok(Published { done, failed: Some(l["fail ".len()..].to_string()) }),
                _ => bail!("exporter process: unexpected answer {l:?}"),
            }
        }
    }

    /// Destroys its newest `k` segments.
    fn withdraw(&mut self, k: usize) -> Result<()> {
        self.command(&format!("withdraw {k}"))
    }

    /// Destroys all its segments.
    fn destroy(&mut self) -> Result<()> {
        self.command("destroy")
    }

    /// Sends a command answered by `done` alone.
    fn command(&mut self, cmd: &str) -> Result<()> {
        writeln!(self.to, "{cmd}")?;
        match self.line()?.as_str() {
            "done" => Ok(()),
            l => bail!("exporter process: {cmd}: {l}"),
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rsmctl bench scale-exporter`: publishes and destroys one-page segments on `socket`'s
/// node (`tcp0`) as told on stdin: `publish N FIRST` (segment j holds the u64 FIRST + j in
/// its first 8 bytes; answers `seg ID NS` per segment, then `done` or `fail ERROR`),
/// `withdraw K` (destroys the newest K), `destroy` (all); exits at end of input.
pub(crate) fn exporter(socket: &Path) -> Result<()> {
    use std::io::BufRead;
    let ctl = Controller::get_at(socket, Some("tcp0")).context("tcp0 of node 1")?;
    let page = rustix::param::page_size();
    let mut segs: Vec<ExportSegment> = Vec::new();
    let stdout = std::io::stdout();
    for l in std::io::stdin().lock().lines() {
        let l = l?;
        let f: Vec<&str> = l.split_whitespace().collect();
        let mut o = stdout.lock();
        match f.as_slice() {
            ["publish", n, first] => {
                let (n, first): (usize, u64) = (n.parse()?, first.parse()?);
                let mut failed = None;
                for j in 0..n as u64 {
                    let t0 = Instant::now();
                    let r = ExportSegment::allocate(&ctl, page, ExportFlags::empty()).and_then(|s| {
                        s.write_at(0, &(first + j).to_ne_bytes())?;
                        let id = s.publish(0, &[])?;
                        Ok((s, id))
                    });
                    match r {
                        Ok((s, id)) => {
                            writeln!(o, "seg {id} {}", crate_ns(t0.elapsed()))?;
                            segs.push(s);
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                match failed {
                    None => writeln!(o, "done")?,
                    Some(e) => writeln!(o, "fail {e}")?,
                }
            }
            ["withdraw", k] => {
                let k: usize = k.parse()?;
                for s in segs.drain(segs.len().saturating_sub(k)..) {
                    let _ = s.destroy();
                }
                writeln!(o, "done")?;
            }
            ["destroy"] => {
                let mut err = None;
                for s in segs.drain(..) {
                    if let Err(e) = s.destroy() {
                        err.get_or_insert(e);
                    }
                }
                match err {
                    None => writeln!(o, "done")?,
                    Some(e) => writeln!(o, "failed {e}")?,
                }
            }
            _ => bail!("scale-exporter: unknown command {l:?}"),
        }
        o.flush()?;
    }
    Ok(())
}

fn crate_ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// A counting semaphore.
struct Gate {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    fn acquire(&self) {
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *f == 0 {
            f = self.cv.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        *f -= 1;
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.cv.notify_one();
    }
}

/// Importer phases.
const PACED: u8 = 0;
const FULL: u8 = 1;
const FINISH: u8 = 2;
const LEAVE: u8 = 3;

struct Shared {
    phase: AtomicU8,
    gate: Gate,
    pace: Duration,
    gap: Duration,
    slice: usize,
    segment: u32,
    node: u32,
    /// Rounds (put + get + compare) by local and remote importers during the full-speed phase.
    rounds: [AtomicU64; 2],
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, s: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_errors.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() < 10 {
            eprintln!("rsmctl bench scale: error: {s}");
            f.push(s);
        }
    }
}

/// What an importer thread reports.
enum Report {
    /// Connected (or failed to): `session_ns` to open its own agent connection (socket,
    /// hello, controller), then `ns` for connect + barrier.
    Connected { remote: bool, session_ns: u64, ns: u64, ok: bool },
    /// Wrote and checked its final pattern; rounds during the full-speed phase.
    Finished { rounds: u64 },
}

/// The byte at `j` of importer `i`'s slice in round `r`.
fn pattern(i: usize, r: u64, j: usize) -> u8 {
    (i as u64).wrapping_mul(131).wrapping_add(r.wrapping_mul(29)).wrapping_add(j as u64) as u8
}

fn importer(sh: &Shared, i: usize, link: &Path, remote: bool, tx: &mpsc::Sender<Report>) {
    let off = i * sh.slice;
    sh.gate.acquire();
    let t0 = Instant::now();
    let name = if remote { "tcp0" } else { "loopback" };
    let ctl = Controller::get_at(link, Some(name));
    let t1 = Instant::now();
    let r = ctl
        .and_then(|ctl| ImportSegment::connect(&ctl, sh.node, sh.segment, perm::RDWR))
        .and_then(|imp| imp.init_barrier(BarrierType::Node).map(|bar| (imp, bar)));
    let (session_ns, ns) = (crate_ns(t1 - t0), crate_ns(t1.elapsed()));
    sh.gate.release();
    let (imp, _bar) = match r {
        Ok(imp) => {
            let _ = tx.send(Report::Connected { remote, session_ns, ns, ok: true });
            imp
        }
        Err(e) => {
            sh.error(format!("importer {i} ({name}): connect: {e}"));
            let _ = tx.send(Report::Connected { remote, session_ns, ns, ok: false });
            return;
        }
    };
    let mut buf = vec![0u8; sh.slice];
    let mut back = vec![0u8; sh.slice];
    let mut round = 0u64;
    let mut full_rounds = 0u64;
    let mut one = |round: u64| -> bool {
        for (j, b) in buf.iter_mut().enumerate() {
            *b = pattern(i, round, j);
        }
        if let Err(e) = imp.put(off, &buf) {
            sh.error(format!("importer {i} ({name}): put: {e}"));
            return false;
        }
        back.fill(0);
        if let Err(e) = imp.get(off, &mut back) {
            sh.error(format!("importer {i} ({name}): get: {e}"));
            return false;
        }
        if back != buf {
            let j = back.iter().zip(&buf).position(|(x, y)| x != y).unwrap_or(0);
            sh.error(format!("importer {i} ({name}): byte {j} of its slice reads {} not {}", back[j], buf[j]));
            return false;
        }
        true
    };
    // After a first error the importer only waits (one error is enough to know).
    let mut failed = false;
    loop {
        match sh.phase.load(Ordering::Acquire) {
            PACED => {
                if !failed {
                    round += 1;
                    failed = !one(round);
                }
                std::thread::sleep(sh.pace);
            }
            FULL if !failed => {
                round += 1;
                if one(round) {
                    full_rounds += 1;
                    sh.rounds[usize::from(remote)].fetch_add(1, Ordering::Relaxed);
                } else {
                    failed = true;
                }
                if sh.gap.is_zero() {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(sh.gap);
                }
            }
            FULL => std::thread::sleep(Duration::from_millis(5)),
            _ => break,
        }
    }
    // The final pattern, left in place for the exporter to check.
    one(u64::MAX);
    let _ = tx.send(Report::Finished { rounds: full_rounds });
    while sh.phase.load(Ordering::Acquire) != LEAVE {
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Err(e) = imp.disconnect() {
        sh.error(format!("importer {i} ({name}): disconnect: {e}"));
    }
}

/// `a.importers` importers of one segment of node 1, half of them on node 2.
fn importers_phase(
    a: &ScaleArgs,
    dir: &Path,
    sock1: &Path,
    sock2: &Path,
    pid1: u32,
    pid2: u32,
    out: &mut Out,
) -> Result<()> {
    let n = a.importers;
    let exp_ctl = Controller::get_at(sock1, Some("tcp0")).context("tcp0 of node 1")?;
    let size = (n * a.slice).div_ceil(rustix::param::page_size()) * rustix::param::page_size();
    let seg = ExportSegment::allocate(&exp_ctl, size, ExportFlags::empty()).context("export")?;
    let segment = seg.publish(0, &[]).context("publish")?;
    // One socket path per importer: the library keeps one agent connection per path.
    let links = dir.join("links");
    std::fs::create_dir_all(&links)?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let remote = i % 2 == 1;
        let p = links.join(format!("i{i}.sock"));
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(if remote { sock2 } else { sock1 }, &p)?;
        paths.push((p, remote));
    }
    let base1 = usage(pid1);
    let base2 = usage(pid2);
    out.line(&format!(
        "\n{n} importers of one {size} B segment of node 1: even ones on node 1 (loopback), odd ones on node 2 \
         (tcp0); each its own agent connection and a {} B slice; {} connecting at once; connected ones put+get+check \
         every {} ms. µs per wave; session: opening its agent connection; con: connect + barrier",
        a.slice, a.connect_parallel, a.pace_ms
    ))?;
    out.line(&format!(
        "{:>9} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10} {:>7} {:>8} {:>10} {:>7} {:>8}",
        "importers",
        "session p50",
        "lo con p50",
        "lo con p99",
        "tcp con p50",
        "tcp con p99",
        "n1 RSS MiB",
        "n1 fds",
        "n1 thr",
        "n2 RSS MiB",
        "n2 fds",
        "n2 thr"
    ))?;
    let row = |k: usize, lo: &mut Vec<u64>, tcp: &mut Vec<u64>, sess: &mut Vec<u64>, u1: Usage, u2: Usage| {
        format!(
            "{:>9} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10} {:>7} {:>8} {:>10} {:>7} {:>8}",
            k,
            fmt_us(pct(sess, 50.0)),
            fmt_us(pct(lo, 50.0)),
            fmt_us(pct(lo, 99.0)),
            fmt_us(pct(tcp, 50.0)),
            fmt_us(pct(tcp, 99.0)),
            mib(u1.rss_kib),
            u1.fds,
            u1.threads,
            mib(u2.rss_kib),
            u2.fds,
            u2.threads
        )
    };
    out.emit(&json!({"metric": "scale_importers", "importers": 0, "node1": usage_json(base1),
        "node2": usage_json(base2), "errors": out.errors}))?;
    out.line(&row(0, &mut Vec::new(), &mut Vec::new(), &mut Vec::new(), base1, base2))?;

    let sh = Arc::new(Shared {
        phase: AtomicU8::new(PACED),
        gate: Gate { free: Mutex::new(a.connect_parallel), cv: Condvar::new() },
        pace: Duration::from_millis(a.pace_ms),
        gap: Duration::from_micros(a.work_gap_us),
        slice: a.slice,
        segment,
        node: exp_ctl.local_node(),
        rounds: [AtomicU64::new(0), AtomicU64::new(0)],
        errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel::<Report>();
    let mut threads = Vec::with_capacity(n);
    // Whatever happens below, the importer threads are told to leave and are joined.
    struct Leave<'a>(&'a Shared);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.phase.store(LEAVE, Ordering::Release);
        }
    }
    let leave = Leave(&sh);
    let mut connected = 0usize;
    let mut conn_ok = 0usize;
    let mut spawn_err = None;
    let t_connect = Instant::now();
    let mut all_lo = Vec::new();
    let mut all_tcp = Vec::new();
    for cp in checkpoints(&[100, 500, 1000, 5000], n) {
        let (mut lo, mut tcp, mut sess) = (Vec::new(), Vec::new(), Vec::new());
        let t_wave = Instant::now();
        let mut spawned_here = 0;
        while threads.len() < cp {
            let i = threads.len();
            let (link, remote) = paths[i].clone();
            let (sh2, tx2) = (sh.clone(), tx.clone());
            match std::thread::Builder::new()
                .name(format!("importer-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || importer(&sh2, i, &link, remote, &tx2))
            {
                Ok(h) => {
                    threads.push(h);
                    spawned_here += 1;
                }
                Err(e) => {
                    spawn_err = Some(format!("starting importer thread {i}: {e}"));
                    break;
                }
            }
        }
        for _ in 0..spawned_here {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(Report::Connected { remote, session_ns, ns, ok }) => {
                    connected += 1;
                    sess.push(session_ns);
                    if ok {
                        conn_ok += 1;
                        if remote { tcp.push(ns) } else { lo.push(ns) }
                    }
                }
                Ok(Report::Finished { .. }) => {}
                Err(_) => {
                    spawn_err = Some("an importer did not connect within 60 s".into());
                    break;
                }
            }
        }
        let wave_secs = t_wave.elapsed().as_secs_f64();
        all_lo.extend_from_slice(&lo);
        all_tcp.extend_from_slice(&tcp);
        let (u1, u2) = (usage(pid1), usage(pid2));
        let errors = out.errors + sh.errors.load(Ordering::Relaxed);
        out.emit(&json!({
            "metric": "scale_importers", "importers": threads.len(), "connected": conn_ok, "wave_secs": wave_secs,
            "connect_loopback_p50_ns": pct(&mut lo, 50.0), "connect_loopback_p99_ns": pct(&mut lo, 99.0),
            "connect_tcp_p50_ns": pct(&mut tcp, 50.0), "connect_tcp_p99_ns": pct(&mut tcp, 99.0),
            "wave_loopback": lo.len(), "wave_tcp": tcp.len(),
            "session_p50_ns": pct(&mut sess, 50.0), "session_p99_ns": pct(&mut sess, 99.0),
            "node1": usage_json(u1), "node2": usage_json(u2),
            "node1_rss_growth_bytes_per_importer":
                (u1.rss_kib.saturating_sub(base1.rss_kib) * 1024) as f64 / threads.len().max(1) as f64,
            "node2_rss_growth_bytes_per_importer":
                (u2.rss_kib.saturating_sub(base2.rss_kib) * 1024) as f64 / threads.len().max(1) as f64,
            "errors": errors,
        }))?;
        out.line(&row(threads.len(), &mut lo, &mut tcp, &mut sess, u1, u2))?;
        if spawn_err.is_some() {
            break;
        }
    }
    let connect_secs = t_connect.elapsed().as_secs_f64();
    if let Some(e) = spawn_err.take() {
        out.error(e);
    }
    // All connected at once: full speed.
    let t_work = Instant::now();
    sh.phase.store(FULL, Ordering::Release);
    std::thread::sleep(Duration::from_secs_f64(a.work_secs));
    sh.phase.store(FINISH, Ordering::Release);
    let work_secs = t_work.elapsed().as_secs_f64();
    let mut min_rounds = u64::MAX;
    let mut starved = 0;
    for _ in 0..conn_ok {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Report::Finished { rounds }) => {
                min_rounds = min_rounds.min(rounds);
                if rounds == 0 {
                    starved += 1;
                }
            }
            Ok(Report::Connected { .. }) => {}
            Err(_) => {
                out.error("an importer did not finish within 60 s".into());
                break;
            }
        }
    }
    // The exporter checks every slice in its own memory.
    let mut bad_slices = 0;
    let mut mem = vec![0u8; a.slice];
    for i in 0..connected.min(n) {
        seg.read_at(i * a.slice, &mut mem)?;
        if mem.iter().enumerate().any(|(j, &b)| b != pattern(i, u64::MAX, j)) {
            bad_slices += 1;
        }
    }
    if bad_slices > 0 {
        out.error(format!("{bad_slices} slice(s) do not hold their importer's final pattern in the exporter's memory"));
    }
    let (u1, u2) = (usage(pid1), usage(pid2));
    let lo_rounds = sh.rounds[0].load(Ordering::Relaxed);
    let tcp_rounds = sh.rounds[1].load(Ordering::Relaxed);
    let errors = out.errors + sh.errors.load(Ordering::Relaxed);
    out.emit(&json!({
        "metric": "scale_importers_work", "importers": threads.len(), "connected": conn_ok,
        "connect_secs": connect_secs, "work_secs": work_secs,
        "rounds_loopback": lo_rounds, "rounds_tcp": tcp_rounds,
        "min_rounds_per_importer": if min_rounds == u64::MAX { 0 } else { min_rounds },
        "starved": starved, "bad_slices": bad_slices, "slices_checked": connected.min(n),
        "connect_loopback_p50_ns": pct(&mut all_lo, 50.0), "connect_loopback_p99_ns": pct(&mut all_lo, 99.0),
        "connect_tcp_p50_ns": pct(&mut all_tcp, 50.0), "connect_tcp_p99_ns": pct(&mut all_tcp, 99.0),
        "node1": usage_json(u1), "node2": usage_json(u2), "errors": errors,
    }))?;
    out.line(&format!(
        "all {conn_ok} connected in {connect_secs:.2} s; {work_secs:.1} s at full speed: {lo_rounds} loopback and \
         {tcp_rounds} tcp rounds of put {} B + get + check, {} µs between rounds (fewest per importer {}, {starved} \
         importer(s) without a round); final patterns checked in the exporter's memory: {} of {} slices wrong",
        a.slice,
        a.work_gap_us,
        if min_rounds == u64::MAX { 0 } else { min_rounds },
        bad_slices,
        connected.min(n)
    ))?;
    // Everyone leaves.
    let t_leave = Instant::now();
    drop(leave);
    for h in threads {
        if h.join().is_err() {
            out.error("an importer thread panicked".into());
        }
    }
    let errors_threads = sh.errors.load(Ordering::Relaxed);
    out.errors += errors_threads;
    out.first_errors.extend(sh.first_errors.lock().unwrap_or_else(|p| p.into_inner()).drain(..));
    // The agents must forget every import.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (s1, s2) = loop {
        let s1 = rsm::admin::status(sock1).map_err(|e| anyhow!("status of node 1: {e}"))?;
        let s2 = rsm::admin::status(sock2).map_err(|e| anyhow!("status of node 2: {e}"))?;
        if (s1.imports == 0 && s1.remote_importers == 0 && s2.imports == 0) || Instant::now() > deadline {
            break (s1, s2);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let leave_secs = t_leave.elapsed().as_secs_f64();
    if s1.imports != 0 || s1.remote_importers != 0 || s2.imports != 0 {
        out.error(format!(
            "after every importer left: node 1 has {} import(s), {} remote importer(s); node 2 {} import(s)",
            s1.imports, s1.remote_importers, s2.imports
        ));
    }
    drop(seg);
    std::thread::sleep(Duration::from_millis(300));
    let (a1, a2) = (usage(pid1), usage(pid2));
    out.emit(&json!({
        "metric": "scale_importers_left", "leave_secs": leave_secs,
        "node1": usage_json(a1), "node2": usage_json(a2),
        "node1_clients": s1.clients, "node2_clients": s2.clients, "errors": out.errors,
    }))?;
    out.line(&format!(
        "all left in {leave_secs:.2} s; after: node 1 RSS {} MiB, {} fds, {} threads; node 2 RSS {} MiB, {} fds, {} \
         threads (before the importers: {} / {} MiB)",
        mib(a1.rss_kib),
        a1.fds,
        a1.threads,
        mib(a2.rss_kib),
        a2.fds,
        a2.threads,
        mib(base1.rss_kib),
        mib(base2.rss_kib)
    ))?;
    let _ = std::fs::remove_dir_all(&links);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_end_at_n() {
        assert_eq!(checkpoints(&[100, 1000], 10_000), vec![100, 1000, 10_000]);
        assert_eq!(checkpoints(&[100, 1000], 1000), vec![100, 1000]);
        assert_eq!(checkpoints(&[100, 1000], 40), vec![40]);
    }

    #[test]
    fn percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(pct(&mut v, 50.0), 50);
        assert_eq!(pct(&mut v, 99.0), 99);
        assert_eq!(pct(&mut [], 99.0), 0);
    }
}
