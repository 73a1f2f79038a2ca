//! The fault-injection soak (issue 6): three nodes (real `rsmd` agents, each in its own network
//! namespace), exporters and importers (worker processes, see [`worker`]) doing random puts in
//! explicit barrier windows, and a chaos driver that SIGKILLs exporters, importers and agents,
//! restarts them, cuts and restores links, and resets importers' data connections.
//!
//! What is checked, and how:
//!
//! - Every window whose `close_barrier` returned 0 is verified byte for byte: the driver keeps a
//!   shadow copy of each importer's region (importers own disjoint regions of a segment
//!   exported on another node) and asks the exporter process, over its pipe, for the region's
//!   bytes. A byte that differs is corrupt; a committed window any of whose bytes is not found
//!   (or whose exporter is not the one the importer connected to) is lost.
//! - Faults that destroy an exporter's memory (agent kills, half of the exporter kills) take a
//!   write lock that every close-then-verify holds for reading, and an exporter kill holds it
//!   until the exporting agent has withdrawn the segment; so a close that returns 0 can always
//!   be verified, and a close issued after such a kill must fail. The other half of the
//!   exporter kills race with closes: a window that committed while its exporter was being
//!   killed (before the agent withdrew the segment) cannot be verified, since the memory died
//!   with the process, and is counted as unverifiable; any other window that committed and
//!   whose bytes are not there is lost. Link cuts, importer kills and data-connection resets
//!   (`ss -K`, as root) take no lock and may hit anywhere, closes included.
//! - Every failed window must report `RSMERR_BARRIER_FAILURE` or `RSMERR_CONN_ABORTED`.
//! - Every request to a worker has a bound; no answer within it is a hang.
//! - At the end every agent's descriptors, memfds and mappings are compared with the baseline
//!   taken after its last (re)start, once every path is active again and nothing is connected.
//!
//! After a failed or interrupted window the bytes it touched are unknown (some puts may have
//! landed): they are not compared until an importer's window rewrites them and commits.

pub(crate) mod lab;
pub(crate) mod proc;
pub(crate) mod worker;

use lab::{Lab, NODES};
use proc::{NoReply, Reply, Worker};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// Offset of the first importer region; the page before holds the exporter's incarnation.
const HEADER: usize = 4096;

/// Allowed growth of an agent's footprint at the end over its baseline. Descriptors and
/// memfds must come back exactly; mappings exactly too (the agents run with glibc's arena and
/// thread-stack caches off, as in `lifetime.rs`).
pub(crate) const FD_SLACK: usize = 0;
/// See [`FD_SLACK`].
pub(crate) const MEMFD_SLACK: usize = 0;
/// See [`FD_SLACK`].
pub(crate) const MAPS_SLACK: usize = 0;

/// The soak's settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) duration: Duration,
    pub(crate) seed: u64,
    pub(crate) exporters: usize,
    pub(crate) importers: usize,
    pub(crate) region: usize,
    pub(crate) bound: Duration,
    pub(crate) fault_interval: Duration,
    pub(crate) loopback: bool,
    pub(crate) keep: bool,
    pub(crate) verbose: bool,
    /// Importers skip every Nth put but report success (0: never): a self-test of the checks.
    pub(crate) sabotage: u64,
    pub(crate) bin_dir: PathBuf,
}

/// SplitMix64: small, seedable, good enough for choosing sizes and faults.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub(crate) fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The kinds of faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    ExporterKill,
    ImporterKill,
    AgentKill,
    LinkCut,
    DataReset,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::ExporterKill => "exporter_kill",
            Fault::ImporterKill => "importer_kill",
            Fault::AgentKill => "agent_kill",
            Fault::LinkCut => "link_cut",
            Fault::DataReset => "data_reset",
        }
    }
}

/// An agent's footprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Footprint {
    fds: usize,
    memfds: usize,
    maps: usize,
}

impl Footprint {
    fn of(pid: u32) -> Footprint {
        let mut fp = Footprint::default();
        if let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for e in d.flatten() {
                fp.fds += 1;
                if std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("memfd:")) {
                    fp.memfds += 1;
                }
            }
        }
        fp.maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map(|s| s.lines().count()).unwrap_or(0);
        fp
    }

    fn within(self, base: Footprint) -> bool {
        self.fds <= base.fds + FD_SLACK
            && self.memfds <= base.memfds + MEMFD_SLACK
            && self.maps <= base.maps + MAPS_SLACK
    }
}

/// Everything counted.
#[derive(Default, Debug)]
struct Stats {
    committed: u64,
    failed: BTreeMap<String, u64>,
    interrupted: u64,
    bytes_committed: u64,
    bytes_verified: u64,
    lost: u64,
    corrupt: u64,
    faults: BTreeMap<&'static str, u64>,
    connect_errors: BTreeMap<String, u64>,
    hangs: u64,
    violations: u64,
    messages: Vec<String>,
    leaks: u64,
    racing_exporter_kills: u64,
    unverifiable: u64,
    worker_starts: u64,
    agent_restarts: u64,
    max_close: Duration,
    max_connect: Duration,
    link_cut_total: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Exporter,
    Importer,
}

/// A node's agent and the workers running on it.
struct NodeSt {
    /// Workers may start (the agent serves).
    up: bool,
    agent: Option<Child>,
    /// Live workers (not yet reaped): pid and role.
    workers: HashMap<u32, Role>,
    /// Workers the chaos driver killed, not yet seen dead by their owner.
    killed: HashSet<u32>,
}

struct NodeRt {
    k: usize,
    st: Mutex<NodeSt>,
    baseline: Mutex<Option<Footprint>>,
}

/// A worker registered with its node: unregistered before it is reaped, so the chaos driver
/// never signals a recycled pid.
struct Handle {
    w: Option<Worker>,
    node: Arc<NodeRt>,
    pid: u32,
}

impl Handle {
    fn w(&mut self) -> &mut Worker {
        self.w.as_mut().expect("worker present until drop")
    }
    /// Whether the chaos driver killed it (and forgets that).
    fn killed_by_chaos(&self) -> bool {
        lock(&self.node.st).killed.remove(&self.pid)
    }
    /// Asks the worker to exit cleanly.
    fn exit(mut self, bound: Duration) -> bool {
        lock(&self.node.st).workers.remove(&self.pid);
        self.w.take().is_some_and(|w| w.exit(bound))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.node.st);
            st.workers.remove(&self.pid);
            st.killed.remove(&self.pid);
        }
        drop(self.w.take());
    }
}

struct ExpSt {
    h: Option<Handle>,
    segid: u32,
    inc: u64,
    alive: bool,
    respawn_at: Instant,
    /// Kills of this slot's incarnations that did not take the lock: when the exporting
    /// agent was seen to have withdrawn the segment (None: not yet).
    racing_kills: HashMap<u64, Option<Instant>>,
}

struct ExpSlot {
    k: usize,
    regions: usize,
    st: Mutex<ExpSt>,
}

struct ImpSpec {
    k: usize,
    idx: usize,
    target: usize,
    region: usize,
}

struct Soak {
    cfg: Config,
    lab: Lab,
    dir: Mutex<tempfile::TempDir>,
    dir_path: PathBuf,
    exe: PathBuf,
    nodes: Vec<Arc<NodeRt>>,
    exporters: Vec<ExpSlot>,
    /// Held for reading from before a close until its verification; for writing by faults
    /// that destroy an exporter's memory.
    memlock: RwLock<()>,
    stop: Arc<AtomicBool>,
    /// Exporters stop only after every importer has (a window may still be verified).
    stop_exporters: AtomicBool,
    chaos_done: AtomicBool,
    cuts: AtomicUsize,
    cut_list: Mutex<Vec<Cut>>,
    inc: AtomicU64,
    stats: Mutex<Stats>,
    t0: Instant,
}

impl Soak {
    fn socket(&self, k: usize) -> PathBuf {
        self.dir_path.join(format!("node{}.sock", k + 1))
    }

    fn note(&self, msg: String) {
        if self.cfg.verbose {
            eprintln!("[{:>7.2}s] {msg}", self.t0.elapsed().as_secs_f64());
        }
    }

    /// Records a broken invariant.
    fn violation(&self, msg: String) {
        eprintln!("[{:>7.2}s] VIOLATION: {msg}", self.t0.elapsed().as_secs_f64());
        let mut s = lock(&self.stats);
        s.violations += 1;
        if s.messages.len() < 100 {
            s.messages.push(msg);
        }
    }

    fn hang(&self, what: String) {
        eprintln!("[{:>7.2}s] HANG: {what}", self.t0.elapsed().as_secs_f64());
        let mut s = lock(&self.stats);
        s.hangs += 1;
        if s.messages.len() < 100 {
            s.messages.push(format!("hang: {what}"));
        }
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    fn write_config(&self) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let key = self.dir_path.join("cluster.key");
        let mut seed = Rng::new(self.cfg.seed ^ 0x5eed);
        let hex: String = (0..32).map(|_| format!("{:02x}", seed.next_u64() as u8)).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .map_err(|e| e.to_string())?;
        writeln!(f, "{hex}").map_err(|e| e.to_string())?;
        let mut cfg = format!("cluster_key = \"{}\"\n", key.display());
        for k in 0..NODES {
            cfg.push_str(&format!(
                "\n[[nodes]]\nid = {}\ncontrollers = {{ tcp0 = \"{}\" }}\n",
                k + 1,
                self.lab.addr(k)
            ));
        }
        std::fs::write(self.dir_path.join("cluster.toml"), cfg).map_err(|e| e.to_string())
    }

    fn agent_log(&self, k: usize) -> PathBuf {
        self.dir_path.join(format!("node{}.log", k + 1))
    }

    /// Starts node `k`'s agent (first start or restart) and waits until it serves.
    fn start_agent(&self, k: usize) -> Result<(), String> {
        let pid_file = self.dir_path.join(format!("node{}.pid", k + 1));
        let _ = std::fs::remove_file(&pid_file);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.agent_log(k)).map_err(|e| e.to_string())?;
        let mut cmd = self.lab.command(k, &self.cfg.bin_dir.join("rsmd"));
        cmd.arg("--config")
            .arg(self.dir_path.join("cluster.toml"))
            .arg("--node-id")
            .arg((k + 1).to_string())
            .arg("--socket")
            .arg(self.socket(k))
            .arg("--pid-file")
            .arg(&pid_file)
            .env("RSM_LOG", std::env::var("RSM_LOG").unwrap_or_else(|_| "info".into()))
            // As TestAgent::start_for_leak_checks: no allocator caches, so that any mapping
            // left over at the end is a real leak.
            .env("GLIBC_TUNABLES", "glibc.malloc.arena_max=1:glibc.pthread.stack_cache_size=0")
            .env_remove("RSM_SOCKET")
            .env_remove("RSM_NODE_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = cmd.spawn().map_err(|e| format!("spawn rsmd: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("agent {} exited during start-up ({st})", k + 1));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("agent {} did not start within 10 s", k + 1));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        lock(&self.nodes[k].st).agent = Some(child);
        Ok(())
    }

    fn agent_pid(&self, k: usize) -> u32 {
        lock(&self.nodes[k].st).agent.as_ref().map(Child::id).unwrap_or(0)
    }

    fn path_state(&self, from: usize, to: usize) -> u32 {
        let sock = self.socket(from);
        let Some(topo) = bounded(self.cfg.bound, move || rsm::topology_at(&sock)) else {
            self.hang(format!("agent {} did not answer a topology query within {:?}", from + 1, self.cfg.bound));
            return 0;
        };
        topo.ok()
            .and_then(|t| {
                t.controllers
                    .iter()
                    .find(|c| c.name == "tcp0")?
                    .remotes
                    .iter()
                    .find(|r| r.node == to as u32 + 1)
                    .map(|r| r.state)
            })
            .unwrap_or(0)
    }

    /// Waits until every path touching node `k` (or every path, for `None`) is active.
    fn wait_paths(&self, k: Option<usize>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            for a in 0..NODES {
                for b in 0..NODES {
                    if a != b && k.is_none_or(|k| a == k || b == k) && self.path_state(a, b) != rsm::CONNECTION_ACTIVE {
                        all = false;
                    }
                }
            }
            if all {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The footprint of agent `k` once it stops changing (two equal samples 100 ms apart).
    fn settled_footprint(&self, k: usize) -> Footprint {
        let pid = self.agent_pid(k);
        let mut last = Footprint::of(pid);
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = Footprint::of(pid);
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    /// Makes node `k` usable after a (re)start: paths active, baseline taken, workers allowed.
    fn agent_ready(&self, k: usize) {
        if !self.wait_paths(Some(k), Duration::from_secs(15)) {
            self.violation(format!("paths of node {} not active 15 s after its agent started", k + 1));
        }
        let fp = self.settled_footprint(k);
        self.note(format!("node {} baseline {fp:?}", k + 1));
        *lock(&self.nodes[k].baseline) = Some(fp);
        lock(&self.nodes[k].st).up = true;
    }

    /// Starts a worker on node `k` if its agent serves.
    fn spawn(&self, k: usize, role: Role) -> Option<Handle> {
        let node = &self.nodes[k];
        let mut st = lock(&node.st);
        if !st.up || self.stop.load(Ordering::SeqCst) {
            return None;
        }
        let mut cmd = self.lab.command(k, &self.exe);
        cmd.arg("worker").arg("--socket").arg(self.socket(k));
        if role == Role::Importer && self.cfg.sabotage > 0 {
            cmd.env("RSM_SOAK_SABOTAGE", self.cfg.sabotage.to_string());
        }
        match Worker::spawn(cmd, self.cfg.bound) {
            Ok(w) => {
                let pid = w.pid();
                st.workers.insert(pid, role);
                drop(st);
                self.stats().worker_starts += 1;
                Some(Handle { w: Some(w), node: node.clone(), pid })
            }
            Err(e) => {
                drop(st);
                self.violation(format!("a {role:?} worker on node {} could not start: {e}", k + 1));
                None
            }
        }
    }

    // ---------------------------------------------------------------- exporters

    fn exporter_loop(&self, idx: usize) {
        let slot = &self.exporters[idx];
        let size = HEADER + slot.regions.max(1) * self.cfg.region;
        let acl: Vec<String> = (0..NODES).filter(|&n| n != slot.k).map(|n| (n + 1).to_string()).collect();
        while !self.stop_exporters.load(Ordering::SeqCst) {
            {
                let mut s = lock(&slot.st);
                // Only the chaos driver kills exporters, and it takes them out of the slot.
                if let Some(h) = s.h.as_mut() {
                    if !h.w().alive() {
                        let h = s.h.take();
                        s.alive = false;
                        if !h.as_ref().is_some_and(Handle::killed_by_chaos) {
                            self.violation(format!("exporter {idx} on node {} died by itself", slot.k + 1));
                        }
                    }
                }
                if s.h.is_none() && Instant::now() >= s.respawn_at {
                    if let Some(mut h) = self.spawn(slot.k, Role::Exporter) {
                        let inc = self.inc.fetch_add(1, Ordering::SeqCst) + 1;
                        match h.w().call(&format!("export {size} {inc} {}", acl.join(" ")), self.cfg.bound) {
                            Ok(Reply::Ok(id)) => match id.parse() {
                                Ok(id) => {
                                    self.note(format!(
                                        "exporter {idx} on node {} up: id {id:#x} inc {inc}",
                                        slot.k + 1
                                    ));
                                    s.h = Some(h);
                                    s.segid = id;
                                    s.inc = inc;
                                    s.alive = true;
                                }
                                Err(_) => self.violation(format!("export answered {id:?}")),
                            },
                            Ok(other) => {
                                if !h.killed_by_chaos() {
                                    self.violation(format!("exporter {idx}: export failed: {other:?}"));
                                }
                            }
                            Err(NoReply::Died) => {
                                if !h.killed_by_chaos() {
                                    self.violation(format!("exporter {idx} died during export"));
                                }
                            }
                            Err(NoReply::Hang) => self.hang(format!("exporter {idx}: export")),
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let h = lock(&slot.st).h.take();
        if let Some(h) = h {
            if !h.exit(self.cfg.bound) {
                self.hang(format!("exporter {idx} did not exit"));
            }
        }
    }

    /// Reads `len` bytes at `off` of exporter `idx` if it is still incarnation `inc`.
    fn exporter_bytes(&self, idx: usize, inc: u64, off: usize, len: usize) -> Result<Vec<u8>, String> {
        let slot = &self.exporters[idx];
        let mut s = lock(&slot.st);
        if !s.alive || s.inc != inc {
            return Err(format!("exporter {idx} is no longer incarnation {inc} (now {}, alive {})", s.inc, s.alive));
        }
        let bound = self.cfg.bound;
        let Some(h) = s.h.as_mut() else { return Err("no exporter worker".into()) };
        match h.w().call(&format!("read {off} {len}"), bound) {
            Ok(Reply::Data(d)) if d.len() == len => Ok(d),
            Ok(other) => Err(format!("read answered {other:?}")),
            Err(NoReply::Died) => {
                s.h = None;
                s.alive = false;
                Err("exporter died".into())
            }
            Err(NoReply::Hang) => {
                self.hang(format!("exporter {idx}: read"));
                s.h = None;
                s.alive = false;
                Err("exporter hung".into())
            }
        }
    }

    // ---------------------------------------------------------------- importers

    fn importer_loop(&self, spec: &ImpSpec, seed: u64) {
        let mut imp = Importer::new(self, spec, seed);
        while !self.stop.load(Ordering::SeqCst) {
            imp.step();
        }
        if let Some(h) = imp.h.take() {
            if !h.exit(self.cfg.bound) {
                self.hang(format!("importer {} did not exit", spec.idx));
            }
        }
    }

    // ---------------------------------------------------------------- chaos

    fn kill_pid(pid: u32) {
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }

    fn kill_exporter(&self, rng: &mut Rng) -> bool {
        let live: Vec<usize> = (0..self.exporters.len()).filter(|&i| lock(&self.exporters[i].st).alive).collect();
        if live.is_empty() {
            return false;
        }
        let idx = live[rng.below(live.len())];
        let slot = &self.exporters[idx];
        // Half of the exporter kills take the lock (and so never hit a close in flight, and
        // every close after them must fail); the other half race with closes: a window that
        // committed on an incarnation killed before the agent withdrew its segment cannot be
        // verified (the exporter's memory is gone) and is counted as unverifiable, not lost.
        let racing = rng.below(2) == 0;
        let _w = if racing { None } else { Some(self.memlock.write().unwrap_or_else(|e| e.into_inner())) };
        let (segid, pid, inc) = {
            let mut s = lock(&slot.st);
            if !s.alive {
                return false;
            }
            if racing {
                let inc = s.inc;
                s.racing_kills.insert(inc, None);
            }
            s.alive = false;
            s.respawn_at = Instant::now() + rng.ms(0, 800);
            let pid = s.h.as_ref().map(|h| h.pid).unwrap_or(0);
            // Dropping the handle SIGKILLs and reaps it.
            s.h = None;
            (s.segid, pid, s.inc)
        };
        if racing {
            self.stats().racing_exporter_kills += 1;
        }
        self.note(format!("chaos: SIGKILL exporter {idx} (pid {pid}) on node {} (racing {racing})", slot.k + 1));
        // A close issued from now on must fail: wait until the exporting agent has withdrawn
        // the segment before letting any close run.
        let deadline = Instant::now() + self.cfg.bound;
        loop {
            let sock = self.socket(slot.k);
            let Some(answer) = bounded(self.cfg.bound, move || rsm::admin::segments(&sock)) else {
                self.hang(format!("agent {} did not answer a segment list within {:?}", slot.k + 1, self.cfg.bound));
                break;
            };
            match answer {
                Ok(v) if v.iter().all(|s| s.segment_id != Some(segid)) => break,
                Ok(_) => {}
                Err(e) => {
                    self.violation(format!("agent {} does not answer: {e}", slot.k + 1));
                    break;
                }
            }
            if Instant::now() > deadline {
                self.hang(format!("agent {} still lists segment {segid:#x} of a killed exporter", slot.k + 1));
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if racing {
            lock(&slot.st).racing_kills.insert(inc, Some(Instant::now()));
        }
        true
    }

    /// Whether a close that started at `close_started` on incarnation `inc` of exporter `idx`
    /// may have returned 0 with the exporter already dead: a racing kill of that incarnation
    /// whose withdrawal was not yet seen when the close started.
    fn raced(&self, idx: usize, inc: u64, close_started: Instant) -> bool {
        lock(&self.exporters[idx].st).racing_kills.get(&inc).is_some_and(|w| w.is_none_or(|t| t > close_started))
    }

    fn kill_importer(&self, rng: &mut Rng) -> bool {
        let start = rng.below(NODES);
        for i in 0..NODES {
            let node = &self.nodes[(start + i) % NODES];
            let mut st = lock(&node.st);
            let mut pids: Vec<u32> =
                st.workers.iter().filter(|(_, r)| **r == Role::Importer).map(|(p, _)| *p).collect();
            if pids.is_empty() {
                continue;
            }
            pids.sort_unstable();
            let pid = pids[rng.below(pids.len())];
            st.workers.remove(&pid);
            st.killed.insert(pid);
            Soak::kill_pid(pid);
            drop(st);
            self.note(format!("chaos: SIGKILL importer pid {pid} on node {}", node.k + 1));
            return true;
        }
        false
    }

    /// Resets the TCP data connections of a random importer (`ss -K` in its namespace), the
    /// link staying up: the importing process sees its connection broken with no revocation,
    /// which is `RSMERR_BARRIER_FAILURE` for the window, and re-dials on its next put.
    fn reset_data(&self, rng: &mut Rng) -> bool {
        let start = rng.below(NODES);
        for i in 0..NODES {
            let k = (start + i) % NODES;
            let node = &self.nodes[k];
            let st = lock(&node.st);
            let mut pids: Vec<u32> =
                st.workers.iter().filter(|(_, r)| **r == Role::Importer).map(|(p, _)| *p).collect();
            pids.sort_unstable();
            let first = rng.below(pids.len().max(1));
            for j in 0..pids.len() {
                let pid = pids[(first + j) % pids.len()];
                // The pid is registered, so not yet reaped: it is the importer.
                let conns = tcp_connections(pid);
                if conns.is_empty() {
                    continue;
                }
                drop(st);
                let mut killed = 0;
                for local in &conns {
                    let out = self
                        .lab
                        .command(k, Path::new("ss"))
                        .args(["-K", "-t", "-n", "src", local])
                        .stdin(Stdio::null())
                        .stderr(Stdio::null())
                        .output();
                    match out {
                        Ok(o) if o.status.success() => {
                            killed += String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(local)).count()
                        }
                        _ => self.violation(format!("ss -K src {local} failed: {out:?}")),
                    }
                }
                self.note(format!("chaos: reset {killed} data connection(s) of importer pid {pid} on node {}", k + 1));
                return killed > 0;
            }
        }
        false
    }

    fn kill_agent(&self, rng: &mut Rng) -> bool {
        // Restarts and baselines are taken with every link up.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cuts.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let k = rng.below(NODES);
        let node = &self.nodes[k];
        {
            let _w = self.memlock.write().unwrap_or_else(|e| e.into_inner());
            lock(&node.st).up = false;
            for slot in self.exporters.iter().filter(|s| s.k == k) {
                let mut s = lock(&slot.st);
                s.alive = false;
                s.h = None;
            }
            let mut st = lock(&node.st);
            let pids: Vec<u32> = st.workers.keys().copied().collect();
            for pid in pids {
                st.workers.remove(&pid);
                st.killed.insert(pid);
                Soak::kill_pid(pid);
            }
            if let Some(mut a) = st.agent.take() {
                let _ = a.kill();
                let _ = a.wait();
            }
            self.note(format!("chaos: SIGKILL agent {} and its workers", k + 1));
        }
        std::thread::sleep(rng.ms(0, 500));
        if let Err(e) = self.start_agent(k) {
            self.violation(format!("agent {} could not restart: {e}", k + 1));
            return true;
        }
        self.stats().agent_restarts += 1;
        self.agent_ready(k);
        self.note(format!("chaos: agent {} back", k + 1));
        true
    }

    /// Restores the links whose time has come (all of them with `all`).
    fn restore_links(&self, all: bool) {
        let due: Vec<Cut> = {
            let mut v = lock(&self.cut_list);
            let now = Instant::now();
            let (due, keep): (Vec<Cut>, Vec<Cut>) = v.drain(..).partition(|c| all || c.until <= now);
            *v = keep;
            due
        };
        for c in due {
            if let Err(e) = self.lab.restore(c.a, c.b) {
                self.violation(format!("restore link {}-{}: {e}", c.a + 1, c.b + 1));
            }
            self.stats().link_cut_total += c.hold;
            self.cuts.fetch_sub(1, Ordering::SeqCst);
            self.note(format!("chaos: link {}-{} restored", c.a + 1, c.b + 1));
        }
    }

    // ---------------------------------------------------------------- end

    fn check_agents(&self) -> Vec<(usize, Footprint, Footprint)> {
        let mut out = Vec::new();
        if !self.wait_paths(None, Duration::from_secs(20)) {
            self.violation("not every path active 20 s after the chaos ended".into());
        }
        for k in 0..NODES {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let sock = self.socket(k);
                let Some(answer) = bounded(self.cfg.bound, move || rsm::admin::status(&sock)) else {
                    self.hang(format!("agent {} did not answer a status query within {:?}", k + 1, self.cfg.bound));
                    break;
                };
                match answer {
                    Ok(st) if st.exports == 0 && st.imports == 0 && st.remote_importers == 0 && st.published == 0 => {
                        break;
                    }
                    Ok(st) if Instant::now() > deadline => {
                        self.violation(format!(
                            "agent {} still has exports {} published {} imports {} remote importers {} after every worker exited",
                            k + 1,
                            st.exports,
                            st.published,
                            st.imports,
                            st.remote_importers
                        ));
                        break;
                    }
                    Err(e) => {
                        self.violation(format!("agent {} does not answer at the end: {e}", k + 1));
                        break;
                    }
                    Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        for k in 0..NODES {
            let Some(base) = *lock(&self.nodes[k].baseline) else { continue };
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut now = self.settled_footprint(k);
            while !now.within(base) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                now = self.settled_footprint(k);
            }
            self.note(format!("node {} footprint: baseline {base:?}, end {now:?}", k + 1));
            if !now.within(base) {
                let maps = std::fs::read_to_string(format!("/proc/{}/maps", self.agent_pid(k))).unwrap_or_default();
                let memfd_maps = maps.lines().filter(|l| l.contains("memfd:")).count();
                let msg =
                    format!("agent {} leaked: baseline {base:?}, end {now:?} (memfd mappings now {memfd_maps})", k + 1);
                eprintln!("LEAK: {msg}");
                let mut s = self.stats();
                s.leaks += 1;
                s.messages.push(msg);
            }
            out.push((k, base, now));
        }
        out
    }

    /// Kills whatever is still running and removes the namespaces (idempotent).
    fn cleanup(&self) {
        for node in &self.nodes {
            let mut st = lock(&node.st);
            st.up = false;
            for pid in st.workers.keys() {
                Soak::kill_pid(*pid);
            }
            if let Some(mut a) = st.agent.take() {
                if let Some(p) = rustix::process::Pid::from_raw(a.id() as i32) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
                }
                let deadline = Instant::now() + Duration::from_secs(5);
                while !matches!(a.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = a.kill();
                let _ = a.wait();
            }
        }
    }
}

/// A cut link and when to restore it.
struct Cut {
    until: Instant,
    a: usize,
    b: usize,
    hold: Duration,
}

/// One importer: its worker, its connection and the shadow of its region.
struct Importer<'a> {
    soak: &'a Soak,
    spec: &'a ImpSpec,
    rng: Rng,
    h: Option<Handle>,
    /// Connected to this incarnation of the target exporter.
    conn: Option<u64>,
    /// Incarnation the shadow describes.
    shadow_inc: u64,
    shadow: Vec<u8>,
    known: Vec<bool>,
    base: usize,
}

/// One put of a window: region offset, length, pattern seed, access width.
#[derive(Clone, Copy)]
struct Put {
    off: usize,
    len: usize,
    seed: u64,
    width: usize,
}

impl<'a> Importer<'a> {
    fn new(soak: &'a Soak, spec: &'a ImpSpec, seed: u64) -> Importer<'a> {
        let r = soak.cfg.region;
        Importer {
            soak,
            spec,
            rng: Rng::new(seed),
            h: None,
            conn: None,
            shadow_inc: 0,
            shadow: vec![0; r],
            known: vec![false; r],
            base: HEADER + spec.region * r,
        }
    }

    fn name(&self) -> String {
        format!("importer {} (node {} -> exporter {})", self.spec.idx, self.spec.k + 1, self.spec.target)
    }

    /// A request to the worker; `None` when it is gone (dead or hung: both handled here).
    fn call(&mut self, line: &str) -> Option<Reply> {
        let bound = self.soak.cfg.bound;
        let h = self.h.as_mut()?;
        let t = Instant::now();
        match h.w().call(line, bound) {
            Ok(r) => Some(r),
            Err(NoReply::Died) => {
                let h = self.h.take()?;
                if !h.killed_by_chaos() {
                    self.soak.violation(format!("{} died by itself during `{line}`", self.name()));
                }
                self.conn = None;
                None
            }
            Err(NoReply::Hang) => {
                self.soak.hang(format!("{}: `{line}` gave no answer in {:?}", self.name(), t.elapsed()));
                self.h = None;
                self.conn = None;
                None
            }
        }
    }

    fn forget(&mut self, puts: &[Put]) {
        for p in puts {
            self.known[p.off..p.off + p.len].iter_mut().for_each(|k| *k = false);
        }
    }

    fn step(&mut self) {
        let soak = self.soak;
        if self.h.is_none() {
            self.h = soak.spawn(self.spec.k, Role::Importer);
            if self.h.is_none() {
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
        }
        if self.conn.is_none() {
            let (alive, segid, node) = {
                let s = lock(&soak.exporters[self.spec.target].st);
                (s.alive, s.segid, soak.exporters[self.spec.target].k)
            };
            if !alive {
                std::thread::sleep(Duration::from_millis(20));
                return;
            }
            let t = Instant::now();
            let r = self.call(&format!("connect {} {segid}", node + 1));
            let took = t.elapsed();
            {
                let mut s = soak.stats();
                s.max_connect = s.max_connect.max(took);
            }
            match r {
                Some(Reply::Ok(inc)) => {
                    let Ok(inc) = inc.parse::<u64>() else {
                        soak.violation(format!("connect answered {inc:?}"));
                        return;
                    };
                    if inc != self.shadow_inc {
                        // A new exporter: its memory is all zeros.
                        self.shadow.iter_mut().for_each(|b| *b = 0);
                        self.known.iter_mut().for_each(|k| *k = true);
                        self.shadow_inc = inc;
                    }
                    self.conn = Some(inc);
                }
                Some(Reply::Err(e)) => {
                    let name = e.split_whitespace().next().unwrap_or("").to_string();
                    *soak.stats().connect_errors.entry(name).or_default() += 1;
                    std::thread::sleep(self.rng.ms(10, 100));
                }
                Some(other) => soak.violation(format!("{}: connect answered {other:?}", self.name())),
                None => {}
            }
            return;
        }
        self.window();
        std::thread::sleep(self.rng.ms(0, 10));
    }

    fn plan(&mut self) -> Vec<Put> {
        let r = self.soak.cfg.region;
        let mut puts = Vec::new();
        // Rewrite whatever is unknown first, so that the region becomes fully checkable again.
        if let (Some(lo), Some(hi)) = (self.known.iter().position(|k| !k), self.known.iter().rposition(|k| !k)) {
            puts.push(Put { off: lo, len: hi + 1 - lo, seed: self.rng.next_u64(), width: 1 });
        }
        for _ in 0..self.rng.range(1, 8) {
            let width = [1, 1, 2, 4, 8][self.rng.below(5)];
            let len = match self.rng.below(20) {
                0 => self.rng.range(16 * 1024, r as u64) as usize,
                1..=5 => self.rng.range(257, 16 * 1024) as usize,
                _ => self.rng.range(1, 256) as usize,
            };
            let len = (len / width).max(1) * width;
            let off = self.rng.range(0, (r - len) as u64) as usize / width * width;
            puts.push(Put { off, len, seed: self.rng.next_u64(), width });
        }
        puts
    }

    fn window(&mut self) {
        let soak = self.soak;
        let Some(inc) = self.conn else { return };
        let puts = self.plan();
        match self.call("open") {
            Some(Reply::Ok(_)) => {}
            Some(other) => {
                soak.violation(format!("{}: open answered {other:?}", self.name()));
                self.disconnect();
                return;
            }
            None => return,
        }
        let mut put_err: Option<String> = None;
        for (i, p) in puts.iter().enumerate() {
            match self.call(&format!("put {} {} {} {}", self.base + p.off, p.len, p.seed, p.width)) {
                Some(Reply::Ok(_)) => {}
                Some(Reply::Err(e)) => {
                    put_err.get_or_insert(e);
                }
                Some(other) => soak.violation(format!("{}: put answered {other:?}", self.name())),
                None => {
                    self.forget(&puts[..=i]);
                    soak.stats().interrupted += 1;
                    return;
                }
            }
        }
        let guard = soak.memlock.read().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        let close_started = t;
        let close = self.call("close");
        let took = t.elapsed();
        {
            let mut s = soak.stats();
            s.max_close = s.max_close.max(took);
        }
        let outcome = match (close, put_err) {
            (None, _) => {
                drop(guard);
                self.forget(&puts);
                soak.stats().interrupted += 1;
                return;
            }
            (Some(Reply::Ok(_)), None) => Ok(()),
            (Some(Reply::Ok(_)), Some(e)) => Err(format!("{e} (a put failed, the close returned 0)")),
            (Some(Reply::Err(e)), _) => Err(e),
            (Some(other), _) => Err(format!("{other:?}")),
        };
        match outcome {
            Ok(()) => {
                self.verify(inc, &puts, close_started);
                drop(guard);
            }
            Err(e) => {
                drop(guard);
                self.forget(&puts);
                let name = e.split_whitespace().next().unwrap_or("").to_string();
                *soak.stats().failed.entry(name.clone()).or_default() += 1;
                match name.as_str() {
                    "RSMERR_BARRIER_FAILURE" => {}
                    "RSMERR_CONN_ABORTED" => self.disconnect(),
                    _ => {
                        soak.violation(format!("{}: a failed window reported {e}", self.name()));
                        self.disconnect();
                    }
                }
            }
        }
    }

    fn disconnect(&mut self) {
        if self.conn.take().is_some() {
            match self.call("disconnect") {
                Some(Reply::Ok(_)) | None => {}
                Some(other) => self.soak.violation(format!("{}: disconnect answered {other:?}", self.name())),
            }
        }
    }

    /// A committed window: apply it to the shadow and compare the whole region with the
    /// exporter's bytes.
    fn verify(&mut self, inc: u64, puts: &[Put], close_started: Instant) {
        let soak = self.soak;
        let r = soak.cfg.region;
        let mut in_window = vec![false; r];
        let mut bytes = 0u64;
        for p in puts {
            self.shadow[p.off..p.off + p.len].copy_from_slice(&rsm_testkit::pattern(p.seed, p.len));
            self.known[p.off..p.off + p.len].iter_mut().for_each(|k| *k = true);
            in_window[p.off..p.off + p.len].iter_mut().for_each(|k| *k = true);
            bytes += p.len as u64;
        }
        let got = match soak.exporter_bytes(self.spec.target, inc, self.base, r) {
            Ok(g) => g,
            Err(_) if soak.raced(self.spec.target, inc, close_started) => {
                soak.stats().unverifiable += 1;
                self.known.iter_mut().for_each(|k| *k = false);
                return;
            }
            Err(e) => {
                soak.violation(format!("{}: close returned 0 but the bytes cannot be found: {e}", self.name()));
                let mut s = soak.stats();
                s.committed += 1;
                s.lost += 1;
                drop(s);
                self.known.iter_mut().for_each(|k| *k = false);
                return;
            }
        };
        let mut verified = 0u64;
        let mut corrupt = 0u64;
        let mut window_bad = false;
        let mut first_bad = None;
        for i in 0..r {
            if !self.known[i] {
                continue;
            }
            verified += 1;
            if got[i] != self.shadow[i] {
                corrupt += 1;
                window_bad |= in_window[i];
                first_bad.get_or_insert(i);
                // Rewritten by a later window; not counted twice.
                self.known[i] = false;
            }
        }
        let mut s = soak.stats();
        s.committed += 1;
        s.bytes_committed += bytes;
        s.bytes_verified += verified;
        s.corrupt += corrupt;
        if window_bad {
            s.lost += 1;
        }
        drop(s);
        if let Some(i) = first_bad {
            soak.violation(format!(
                "{}: {corrupt} bytes differ from the shadow (first at region offset {i}: exporter {:#04x}, expected {:#04x}; in this window: {window_bad})",
                self.name(),
                got[i],
                self.shadow[i]
            ));
        }
    }
}

/// The result of a run.
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) json: serde_json::Value,
    pub(crate) text: String,
}

fn assign(cfg: &Config) -> (Vec<ExpSlot>, Vec<ImpSpec>) {
    let mut exporters: Vec<ExpSlot> = Vec::new();
    for k in 0..NODES {
        for _ in 0..cfg.exporters {
            exporters.push(ExpSlot {
                k,
                regions: 0,
                st: Mutex::new(ExpSt {
                    h: None,
                    segid: 0,
                    inc: 0,
                    alive: false,
                    respawn_at: Instant::now(),
                    racing_kills: HashMap::new(),
                }),
            });
        }
    }
    let mut importers = Vec::new();
    for k in 0..NODES {
        let others: Vec<usize> = (0..exporters.len()).filter(|&i| exporters[i].k != k).collect();
        for i in 0..cfg.importers {
            let target = others[(k * cfg.importers + i) % others.len()];
            let region = exporters[target].regions;
            exporters[target].regions += 1;
            importers.push(ImpSpec { k, idx: importers.len(), target, region });
        }
    }
    (exporters, importers)
}

/// Runs the soak.
/// Runs one query to an agent on its own thread and waits at most `bound` for it: a frozen
/// or hung agent must show up as a hang in the report, not hang the driver. `None`: no
/// answer in time (the thread is left to finish or die with the process).
fn bounded<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("soak-query".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(bound).ok()
}

pub(crate) fn run(cfg: Config) -> Result<Outcome, String> {
    // SIGINT/SIGTERM end the run early, with the usual clean-up and report.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let (lab, mode, why) = if cfg.loopback {
        (Lab::loopback(), "loopback", "asked for (--loopback)".to_string())
    } else if !crate_is_root() {
        (Lab::loopback(), "loopback", "not root: network namespaces need root".to_string())
    } else {
        match Lab::netns() {
            Ok(l) => (l, "netns", String::new()),
            Err(e) => (Lab::loopback(), "loopback", format!("cannot build network namespaces: {e}")),
        }
    };
    if mode == "loopback" {
        eprintln!("rsm-soak: three agents on 127.0.0.1-3 without namespaces, so no link cuts: {why}");
    }
    let dir = tempfile::Builder::new().prefix("rsm-soak-").tempdir().map_err(|e| e.to_string())?;
    let (exporters, importers) = assign(&cfg);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let nodes = (0..NODES)
        .map(|k| {
            Arc::new(NodeRt {
                k,
                st: Mutex::new(NodeSt { up: false, agent: None, workers: HashMap::new(), killed: HashSet::new() }),
                baseline: Mutex::new(None),
            })
        })
        .collect();
    let soak = Arc::new(Soak {
        cfg: cfg.clone(),
        lab,
        dir_path: dir.path().to_path_buf(),
        dir: Mutex::new(dir),
        exe,
        nodes,
        exporters,
        memlock: RwLock::new(()),
        stop,
        stop_exporters: AtomicBool::new(false),
        chaos_done: AtomicBool::new(false),
        cuts: AtomicUsize::new(0),
        cut_list: Mutex::new(Vec::new()),
        inc: AtomicU64::new(0),
        stats: Mutex::new(Stats::default()),
        t0: Instant::now(),
    });
    /// Kills everything and removes the namespaces however `run` ends (panics included).
    struct Cleanup(Arc<Soak>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            self.0.stop.store(true, Ordering::SeqCst);
            self.0.stop_exporters.store(true, Ordering::SeqCst);
            self.0.restore_links(true);
            self.0.cleanup();
            self.0.lab.remove();
        }
    }
    let guard = Cleanup(soak.clone());
    soak.write_config()?;
    for k in 0..NODES {
        soak.start_agent(k)?;
    }
    if !soak.wait_paths(None, Duration::from_secs(20)) {
        return Err("the three agents did not connect within 20 s".into());
    }
    for k in 0..NODES {
        soak.agent_ready(k);
    }
    let mut rng = Rng::new(cfg.seed);
    let t_start = Instant::now();
    let deadline = t_start + cfg.duration;
    let mut ex_threads = Vec::new();
    for idx in 0..soak.exporters.len() {
        let s = soak.clone();
        ex_threads.push(std::thread::spawn(move || s.exporter_loop(idx)));
    }
    let mut threads = Vec::new();
    let importers = Arc::new(importers);
    for i in 0..importers.len() {
        let (s, imps, seed) = (soak.clone(), importers.clone(), rng.next_u64());
        threads.push(std::thread::spawn(move || s.importer_loop(&imps[i], seed)));
    }
    // The chaos driver (and its link restorer).
    let chaos = {
        let s = soak.clone();
        let mut crng = Rng::new(rng.next_u64());
        std::thread::spawn(move || s.chaos_with_restores(&mut crng, deadline))
    };
    if chaos.join().is_err() {
        soak.violation("the chaos driver panicked".into());
    }
    soak.stop.store(true, Ordering::SeqCst);
    for t in threads {
        if t.join().is_err() {
            soak.violation("an importer thread panicked".into());
        }
    }
    soak.stop_exporters.store(true, Ordering::SeqCst);
    for t in ex_threads {
        if t.join().is_err() {
            soak.violation("an exporter thread panicked".into());
        }
    }
    let ran = t_start.elapsed();
    let footprints = soak.check_agents();
    drop(guard);
    let mut out = report(&soak, mode, &why, ran, &footprints);
    // A failed run keeps its logs, except the self-test, which is meant to fail.
    if cfg.keep || (!out.ok && cfg.sabotage == 0) {
        lock(&soak.dir).disable_cleanup(true);
        out.text.push_str(&format!("  logs and configuration kept in {}\n", soak.dir_path.display()));
    }
    Ok(out)
}

impl Soak {
    /// The chaos loop, with a helper thread restoring cut links when their time comes (so a
    /// restore is never late because a fault waits for the lock).
    fn chaos_with_restores(&self, rng: &mut Rng, deadline: Instant) {
        std::thread::scope(|sc| {
            let restorer = sc.spawn(|| {
                while !self.chaos_done.load(Ordering::SeqCst) {
                    self.restore_links(false);
                    std::thread::sleep(Duration::from_millis(10));
                }
                self.restore_links(true);
            });
            self.chaos_inner(rng, deadline);
            self.chaos_done.store(true, Ordering::SeqCst);
            let _ = restorer.join();
        });
    }

    fn chaos_inner(&self, rng: &mut Rng, deadline: Instant) {
        let mut kinds = vec![Fault::ExporterKill, Fault::ImporterKill, Fault::AgentKill];
        if self.lab.can_cut() {
            kinds.push(Fault::LinkCut);
        }
        if crate_is_root() {
            kinds.push(Fault::DataReset);
        }
        let mut bag: Vec<Fault> = Vec::new();
        let iv = self.cfg.fault_interval.as_millis() as u64;
        loop {
            let pause = rng.ms(iv / 2, iv * 3 / 2);
            let at = Instant::now() + pause;
            while Instant::now() < at.min(deadline) && !self.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if at >= deadline || self.stop.load(Ordering::SeqCst) {
                break;
            }
            if bag.is_empty() {
                bag = kinds.clone();
                for i in (1..bag.len()).rev() {
                    bag.swap(i, rng.below(i + 1));
                }
            }
            let Some(f) = bag.pop() else { continue };
            let done = match f {
                Fault::ExporterKill => self.kill_exporter(rng),
                Fault::ImporterKill => self.kill_importer(rng),
                Fault::AgentKill => self.kill_agent(rng),
                Fault::DataReset => self.reset_data(rng),
                Fault::LinkCut => {
                    let a = rng.below(NODES);
                    let b = (a + 1 + rng.below(NODES - 1)) % NODES;
                    let hold = rng.ms(200, 3000);
                    match self.lab.cut(a, b) {
                        Ok(()) => {
                            self.cuts.fetch_add(1, Ordering::SeqCst);
                            self.note(format!("chaos: link {}-{} cut for {hold:?}", a + 1, b + 1));
                            lock(&self.cut_list).push(Cut { until: Instant::now() + hold, a, b, hold });
                            true
                        }
                        Err(e) => {
                            self.violation(format!("cut link {}-{}: {e}", a + 1, b + 1));
                            false
                        }
                    }
                }
            };
            if done {
                *self.stats().faults.entry(f.name()).or_default() += 1;
            }
        }
    }
}

/// The local `ADDR:PORT` of every established TCP (IPv4) connection of process `pid`.
fn tcp_connections(pid: u32) -> Vec<String> {
    let mut inodes = HashSet::new();
    if let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in d.flatten() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let t = t.to_string_lossy().to_string();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(i.to_string());
                }
            }
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if f.len() < 10 || f[3] != "01" || !inodes.contains(f[9]) {
            continue;
        }
        let Some((ip, port)) = f[1].split_once(':') else { continue };
        let (Ok(ip), Ok(port)) = (u32::from_str_radix(ip, 16), u16::from_str_radix(port, 16)) else { continue };
        out.push(format!("{}:{port}", std::net::Ipv4Addr::from(ip.to_le_bytes())));
    }
    out
}

fn crate_is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn report(soak: &Soak, mode: &str, why: &str, ran: Duration, footprints: &[(usize, Footprint, Footprint)]) -> Outcome {
    let s = soak.stats();
    let failed: u64 = s.failed.values().sum();
    let faults: u64 = s.faults.values().sum();
    let ok = s.hangs == 0 && s.violations == 0 && s.lost == 0 && s.corrupt == 0 && s.leaks == 0 && s.committed > 0;
    let fp: Vec<serde_json::Value> = footprints
        .iter()
        .map(|(k, b, n)| {
            serde_json::json!({
                "node": k + 1,
                "baseline": {"fds": b.fds, "memfds": b.memfds, "maps": b.maps},
                "end": {"fds": n.fds, "memfds": n.memfds, "maps": n.maps},
            })
        })
        .collect();
    let cfg = &soak.cfg;
    let json = serde_json::json!({
        "ok": ok,
        "mode": mode,
        "mode_reason": why,
        "seed": cfg.seed,
        "sabotage": cfg.sabotage,
        "duration_s": ran.as_secs_f64(),
        "nodes": NODES,
        "exporters": cfg.exporters * NODES,
        "importers": cfg.importers * NODES,
        "region_bytes": cfg.region,
        "bound_ms": cfg.bound.as_millis() as u64,
        "windows_committed": s.committed,
        "windows_failed": failed,
        "windows_failed_by_error": s.failed,
        "windows_interrupted": s.interrupted,
        "windows_unverifiable": s.unverifiable,
        "racing_exporter_kills": s.racing_exporter_kills,
        "bytes_committed": s.bytes_committed,
        "bytes_verified": s.bytes_verified,
        "faults": faults,
        "faults_by_kind": s.faults,
        "link_cut_seconds": s.link_cut_total.as_secs_f64(),
        "agent_restarts": s.agent_restarts,
        "worker_starts": s.worker_starts,
        "connect_errors": s.connect_errors,
        "max_close_ms": s.max_close.as_millis() as u64,
        "max_connect_ms": s.max_connect.as_millis() as u64,
        "lost": s.lost,
        "corrupt": s.corrupt,
        "hangs": s.hangs,
        "violations": s.violations,
        "leaks": s.leaks,
        "footprints": fp,
        "messages": s.messages,
    });
    let mut text = String::new();
    let kinds = ["exporter_kill", "importer_kill", "agent_kill", "link_cut", "data_reset"];
    text.push_str(&format!(
        "rsm-soak: {mode}, seed {}, {:.1} s, 3 nodes, {} exporters, {} importers, region {} B, bound {:?}\n",
        cfg.seed,
        ran.as_secs_f64(),
        cfg.exporters * NODES,
        cfg.importers * NODES,
        cfg.region,
        cfg.bound
    ));
    text.push_str(&format!("  windows committed   {}\n", s.committed));
    text.push_str(&format!("  windows failed      {failed} {:?}\n", s.failed));
    text.push_str(&format!("  windows interrupted {} (importer killed mid-window)\n", s.interrupted));
    text.push_str(&format!(
        "  windows unverifiable {} (committed, then the exporter died in a racing kill)\n",
        s.unverifiable
    ));
    text.push_str(&format!("  bytes committed     {}\n", s.bytes_committed));
    text.push_str(&format!("  bytes verified      {}\n", s.bytes_verified));
    text.push_str(&format!(
        "  faults injected     {faults} ({})\n",
        kinds.iter().map(|k| format!("{k} {}", s.faults.get(k).copied().unwrap_or(0))).collect::<Vec<_>>().join(", ")
    ));
    text.push_str(&format!(
        "  racing exporter kills {} (of the exporter kills, without the lock)\n",
        s.racing_exporter_kills
    ));
    text.push_str(&format!("  connect errors      {:?}\n", s.connect_errors));
    text.push_str(&format!("  slowest close       {:?}, slowest connect {:?}\n", s.max_close, s.max_connect));
    for (k, b, n) in footprints {
        text.push_str(&format!(
            "  agent {} footprint   fds {}->{}, memfds {}->{}, maps {}->{}\n",
            k + 1,
            b.fds,
            n.fds,
            b.memfds,
            n.memfds,
            b.maps,
            n.maps
        ));
    }
    text.push_str(&format!(
        "  lost {}, corrupt {}, hangs {}, violations {}, leaks {}\n",
        s.lost, s.corrupt, s.hangs, s.violations, s.leaks
    ));
    for m in &s.messages {
        text.push_str(&format!("  ! {m}\n"));
    }
    text.push_str(if ok { "  RESULT: ok\n" } else { "  RESULT: FAILED\n" });
    Outcome { ok, json, text }
}

/// Whether `path` looks like a directory holding the workspace's binaries.
pub(crate) fn has_rsmd(dir: &Path) -> bool {
    dir.join("rsmd").exists()
}
