//! Test harness: starts real `rsmd` agents (the binary, as separate processes) in temporary
//! directories and stops them when dropped, even when a test fails; drives scriptable client
//! processes ([`Puppet`]) that can run as other users and be SIGKILLed.

pub mod fuzzing;
pub mod netns;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod pagebuf;
pub use pagebuf::PageBuf;

/// Directory holding the workspace's binaries (`rsmd`, `rsmctl`), built on first use so they
/// are never stale: `RSM_BIN_DIR`, else the profile directory of the running test.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("RSM_BIN_DIR") {
            return PathBuf::from(d);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test> -> target/<profile>
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let release = dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--workspace", "--bins"]);
        if release {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok || dir.join("rsmd").exists(), "could not build rsmd (run `cargo build --workspace`)");
        dir
    })
    .clone()
}

/// Path of the `rsmd` binary.
pub fn rsmd_bin() -> PathBuf {
    bin_dir().join("rsmd")
}

/// Path of the `rsm-puppet` binary.
pub fn puppet_bin() -> PathBuf {
    bin_dir().join("rsm-puppet")
}

/// Path of the `rsmctl` binary.
pub fn rsmctl_bin() -> PathBuf {
    bin_dir().join("rsmctl")
}

/// Whether the test runs as root (needed to act as other users).
pub fn is_root() -> bool {
    rsm_uid() == 0
}

fn rsm_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// Skips the calling test (returning early) with a printed reason unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("SKIPPED: this test needs root (it acts as other users); CI runs it as root");
            return;
        }
    };
}

/// Waits until `f` returns true, or panics after `timeout` with `what`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A real `rsmd` process with its own node id and socket in a temporary directory.
pub struct TestAgent {
    child: Option<Child>,
    node_id: u32,
    socket: PathBuf,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl TestAgent {
    /// Starts an agent for node `node_id` in a new temporary directory.
    pub fn start(node_id: u32) -> TestAgent {
        let tmp = tempfile::Builder::new().prefix("rsm-test-").tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        // Other users must reach the socket in permission tests.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut a = TestAgent::start_in(node_id, &dir, &[]);
        a._tmp = Some(tmp);
        a
    }

    /// Starts an agent for node `node_id` in a new temporary directory, with extra
    /// configuration lines (e.g. `"[limits]"`, `"max_segments = 4"`).
    pub fn start_with(node_id: u32, config: &[&str]) -> TestAgent {
        let tmp = tempfile::Builder::new().prefix("rsm-test-").tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut a = TestAgent::start_in(node_id, &dir, config);
        a._tmp = Some(tmp);
        a
    }

    /// Starts an agent with its socket and config in `dir`; `config` lines are added to its
    /// configuration file.
    pub fn start_in(node_id: u32, dir: &Path, config: &[&str]) -> TestAgent {
        TestAgent::spawn_in(node_id, dir, config, &[])
    }

    /// As [`TestAgent::start_with`], for measuring the agent's footprint ([`TestAgent::maps`],
    /// [`TestAgent::rss_kib`]) exactly: glibc's allocator caches, which keep a varying number
    /// of mappings depending on how many client threads happened to overlap (malloc arenas,
    /// cached thread stacks), are turned off, so that any mapping left over is a real leak.
    pub fn start_for_leak_checks(node_id: u32, config: &[&str]) -> TestAgent {
        let tmp = tempfile::Builder::new().prefix("rsm-test-").tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let tunables = ("GLIBC_TUNABLES", "glibc.malloc.arena_max=1:glibc.pthread.stack_cache_size=0");
        let mut a = TestAgent::spawn_in(node_id, &dir, config, &[tunables]);
        a._tmp = Some(tmp);
        a
    }

    fn spawn_in(node_id: u32, dir: &Path, config: &[&str], env: &[(&str, &str)]) -> TestAgent {
        let socket = dir.join(format!("node{node_id}.sock"));
        let cfg = dir.join(format!("node{node_id}.toml"));
        let mut text = format!("node_id = {node_id}\nsocket = \"{}\"\n", socket.display());
        for l in config {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&cfg, text).expect("write config");
        let log = std::fs::File::create(dir.join(format!("node{node_id}.log"))).expect("log file");
        let child = Command::new(rsmd_bin())
            .arg("--config")
            .arg(&cfg)
            .env_remove("RSM_SOCKET")
            .env_remove("RSM_NODE_ID")
            .env("RSM_LOG", std::env::var("RSM_LOG").unwrap_or_else(|_| "debug".into()))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rsmd");
        let mut a =
            TestAgent { child: Some(child), node_id, socket: socket.clone(), dir: dir.to_path_buf(), _tmp: None };
        wait_until(Duration::from_secs(10), "rsmd to listen", || {
            if let Some(Ok(Some(st))) = a.child.as_mut().map(Child::try_wait) {
                panic!("rsmd exited during start-up ({st}):\n{}", a.log());
            }
            a.log().contains("rsmd listening")
        });
        a
    }

    /// Node id.
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// Socket path (what `RSM_SOCKET` should name).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Agent pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("node{}.log", self.node_id))).unwrap_or_default()
    }

    /// Number of open descriptors of the agent.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// Resident memory of the agent in KiB.
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmRSS:")
    }

    /// Memory-mapped regions of the agent.
    pub fn maps(&self) -> usize {
        std::fs::read_to_string(format!("/proc/{}/maps", self.pid())).map(|s| s.lines().count()).unwrap_or(0)
    }

    /// Controller handle of this agent.
    pub fn controller(&self, name: &str) -> rsm::Controller {
        rsm::Controller::get_at(&self.socket, Some(name)).expect("controller")
    }

    /// The agent's status and counters (the `Status` request, as `rsmctl stats` shows them).
    pub fn status(&self) -> rsm::admin::AgentStatus {
        rsm::admin::status(&self.socket).expect("agent status")
    }

    /// The agent's export segments (the `Segments` request).
    pub fn segments(&self) -> Vec<rsm::admin::SegmentInfo> {
        rsm::admin::segments(&self.socket).expect("agent segments")
    }

    /// A puppet talking to this agent, running as the test's own user.
    pub fn puppet(&self) -> Puppet {
        Puppet::on(self).spawn()
    }

    /// A puppet talking to this agent as another user (needs root).
    pub fn puppet_as(&self, who: &Identity) -> Puppet {
        Puppet::on(self).user(who).spawn()
    }

    /// Stops the agent with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Kills the agent with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Sends a signal to a process.
pub fn send_signal(pid: u32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Who a [`Puppet`] runs as.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Identity {
    /// `uid` with primary group `gid` and no supplementary groups.
    pub fn new(uid: u32, gid: u32) -> Identity {
        Identity { uid, gid, groups: Vec::new() }
    }

    /// The same identity with supplementary `groups`.
    pub fn with_groups(mut self, groups: &[u32]) -> Identity {
        self.groups = groups.to_vec();
        self
    }
}

/// How to start a [`Puppet`]: whom it talks to, as whom, with which environment, under which
/// wrapper (e.g. `strace`).
#[derive(Clone, Debug)]
pub struct PuppetBuilder {
    socket: PathBuf,
    who: Option<Identity>,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
}

impl PuppetBuilder {
    /// Runs the puppet as another user (needs root).
    pub fn user(mut self, who: &Identity) -> Self {
        self.who = Some(who.clone());
        self
    }

    /// Sets an environment variable of the puppet.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the puppet under `argv` (the puppet's own command line is appended).
    pub fn wrapped(mut self, argv: &[&str]) -> Self {
        self.wrapper = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Starts the puppet and waits until it answers.
    pub fn spawn(self) -> Puppet {
        let bin = puppet_bin();
        let mut cmd = match self.wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Puppet::start(cmd, &self.socket, self.who.as_ref())
    }
}

/// A client process (`rsm-puppet`) that runs rsm operations given as text lines and answers
/// each with one line: `ok [values]` or `err RSMERR_...`.
pub struct Puppet {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Puppet {
    /// Starts a puppet talking to `agent`, optionally as another user.
    pub fn spawn(puppet_bin: &Path, socket: &Path, who: Option<&Identity>) -> Puppet {
        Puppet::start(Command::new(puppet_bin), socket, who)
    }

    /// A builder for a puppet talking to `agent`.
    pub fn on(agent: &TestAgent) -> PuppetBuilder {
        PuppetBuilder { socket: agent.socket().to_path_buf(), who: None, env: Vec::new(), wrapper: Vec::new() }
    }

    fn start(mut cmd: Command, socket: &Path, who: Option<&Identity>) -> Puppet {
        cmd.env("RSM_SOCKET", socket)
            .env("RSM_QUIET", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(w) = who {
            let groups: Vec<String> = w.groups.iter().map(u32::to_string).collect();
            cmd.arg("--uid")
                .arg(w.uid.to_string())
                .arg("--gid")
                .arg(w.gid.to_string())
                .arg("--groups")
                .arg(groups.join(","));
        }
        let mut child = cmd.spawn().expect("spawn puppet");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Puppet { child, stdin, stdout };
        assert_eq!(p.cmd("ping"), "ok pong");
        p
    }

    /// Runs one command and returns the answer line.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        let out = self.reply();
        assert!(!out.is_empty(), "puppet died while running `{line}`");
        out
    }

    /// Sends one command without waiting for its answer (see [`Puppet::reply`]), e.g. to
    /// signal the puppet while it blocks.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("puppet stdin");
        self.stdin.flush().expect("flush");
    }

    /// Reads the answer to the oldest command not answered yet (empty if the puppet died).
    pub fn reply(&mut self) -> String {
        let mut out = String::new();
        self.stdout.read_line(&mut out).expect("puppet stdout");
        out.trim_end().to_string()
    }

    /// Runs a command that must succeed and returns what follows `ok `.
    pub fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        assert!(r == "ok" || r.starts_with("ok "), "`{line}` failed: {r}");
        r.strip_prefix("ok").unwrap_or("").trim().to_string()
    }

    /// Runs a command that must fail and returns its error (e.g. `"RSMERR_PERM_DENIED"`).
    pub fn err(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        assert!(r.starts_with("err "), "`{line}` should have failed but answered: {r}");
        r["err ".len()..].to_string()
    }

    /// Runs a command that must succeed and parses its answer as a number (`0x` for hex).
    pub fn num(&mut self, line: &str) -> u64 {
        let r = self.ok(line);
        let parsed = match r.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => r.parse(),
        };
        parsed.unwrap_or_else(|_| panic!("`{line}` answered `{r}`, not a number"))
    }

    /// Asks the puppet to exit (without cleaning anything up) and waits for it.
    pub fn exit(mut self) -> std::process::ExitStatus {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "puppet did not exit");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the puppet and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Puppet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local cluster started with `rsmctl cluster start` (real agents on 127.0.0.1, one `tcp0`
/// controller each, a fresh cluster key); stopped with `rsmctl cluster stop` when dropped.
pub struct TestCluster {
    dir: tempfile::TempDir,
    sockets: Vec<PathBuf>,
}

impl TestCluster {
    /// Starts `n` nodes and waits until every path is active.
    pub fn start(n: u32) -> TestCluster {
        let dir = tempfile::Builder::new().prefix("rsm-cluster-").tempdir().expect("tempdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = Command::new(rsmctl_bin())
            .args(["cluster", "start", "--nodes", &n.to_string(), "--log", "debug", "--dir"])
            .arg(dir.path())
            .env("RSM_QUIET", "1")
            .output()
            .expect("run rsmctl cluster start");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut c = TestCluster { dir, sockets: Vec::new() };
        assert!(out.status.success(), "cluster start failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
        for (i, line) in text.lines().enumerate() {
            let want = format!("node {} RSM_SOCKET=", i + 1);
            let sock = line.strip_prefix(&want).unwrap_or_else(|| panic!("unexpected line {line:?}"));
            c.sockets.push(PathBuf::from(sock));
        }
        assert_eq!(c.sockets.len(), n as usize, "{text}");
        c
    }

    /// Socket of node `id` (1-based).
    pub fn socket(&self, id: u32) -> &Path {
        &self.sockets[id as usize - 1]
    }

    /// The cluster's directory (configuration, key, logs, pid files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A controller of node `id`.
    pub fn controller(&self, id: u32, name: &str) -> rsm::Controller {
        rsm::Controller::get_at(self.socket(id), Some(name)).expect("controller")
    }

    /// Pid of the agent of node `id`.
    pub fn pid(&self, id: u32) -> u32 {
        std::fs::read_to_string(self.dir.path().join(format!("node{id}.pid")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The log of node `id`.
    pub fn log(&self, id: u32) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{id}.log"))).unwrap_or_default()
    }

    /// The topology as node `id` sees it.
    pub fn topology(&self, id: u32) -> rsm::Topology {
        rsm::topology_at(self.socket(id)).expect("topology")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = Command::new(rsmctl_bin())
            .args(["cluster", "stop", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .status();
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift64*): the same on every call, so a puppet
/// can put them and the test can check them (or the other way round).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    if x == 0 {
        x = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Whether process `pid` is gone (or a zombie: dead, its descriptors closed, not yet reaped).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The state letter of process `pid` in `/proc/PID/stat` (`R`, `S`, `T` stopped, `Z`...; `?`
/// when it is gone).
pub fn process_state(pid: u32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().and_then(|r| r.trim_start().chars().next()))
        .unwrap_or('?')
}

impl Puppet {
    /// A builder for a puppet talking to the agent listening on `socket` (e.g. one node of a
    /// [`TestCluster`]).
    pub fn at(socket: &Path) -> PuppetBuilder {
        PuppetBuilder { socket: socket.to_path_buf(), who: None, env: Vec::new(), wrapper: Vec::new() }
    }
}

impl TestCluster {
    /// The cluster configuration file every agent reads (`DIR/cluster.toml`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("cluster.toml")
    }

    /// The parsed cluster configuration.
    pub fn config(&self) -> rsmd::Config {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p).expect("read cluster.toml");
        rsmd::Config::parse(&text, &p).expect("parse cluster.toml")
    }

    /// The address controller `ctl` of node `id` listens on.
    pub fn addr(&self, id: u32, ctl: &str) -> std::net::SocketAddr {
        let cfg = self.config();
        let n = cfg.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| panic!("node {id} not in cluster.toml"));
        n.controllers.get(ctl).unwrap_or_else(|| panic!("node {id} has no {ctl}")).parse().expect("controller address")
    }

    /// The state of the path from node `from` to node `to` on `tcp0` as `from` reports it
    /// (0: not listed; 1 down; 3 active). 0 too when `from`'s agent does not answer.
    pub fn path_state(&self, from: u32, to: u32) -> u32 {
        rsm::topology_at(self.socket(from))
            .ok()
            .and_then(|t| {
                t.controllers.iter().find(|c| c.name == "tcp0")?.remotes.iter().find(|r| r.node == to).map(|r| r.state)
            })
            .unwrap_or(0)
    }

    /// Waits until `from` reports `state` for its path to `to`; panics after `timeout`.
    /// Returns how long it took.
    pub fn wait_path_state(&self, from: u32, to: u32, state: u32, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        wait_until(timeout, &format!("node {from} to report its path to node {to} in state {state}"), || {
            self.path_state(from, to) == state
        });
        t0.elapsed()
    }

    /// SIGKILLs the agent of node `id` and waits until it is dead (its sockets closed).
    pub fn kill_node(&self, id: u32) {
        let pid = self.pid(id);
        assert!(pid != 0, "node {id} has no pid file");
        send_signal(pid, libc::SIGKILL);
        wait_until(Duration::from_secs(5), "the killed agent to die", || process_gone(pid));
        let _ = std::fs::remove_file(self.dir.path().join(format!("node{id}.pid")));
    }

    /// Starts the agent of node `id` again with the same command line as `rsmctl cluster
    /// start` (same configuration, node id, socket), and waits until it serves its socket.
    pub fn restart_node(&self, id: u32) {
        self.restart_node_with(id, &self.config_path());
    }

    /// As [`TestCluster::restart_node`], with another configuration file.
    pub fn restart_node_with(&self, id: u32, config: &Path) {
        let dir = self.dir.path();
        let pid_file = dir.join(format!("node{id}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("node{id}.log"))).expect("log");
        use std::os::unix::process::CommandExt;
        let mut child =
            rsmd::cli::agent_command(&mut Command::new(rsmd_bin()), config, id, self.socket(id), &pid_file, "debug")
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("spawn rsmd");
        let pid = child.id();
        // Reaped by this thread when it ends (`rsmctl cluster stop` or a kill), so it never
        // lingers as a zombie of the test.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        wait_until(Duration::from_secs(10), "the restarted agent to write its pid file", || {
            assert!(!process_gone(pid), "the restarted agent of node {id} exited:\n{}", self.log(id));
            pid_file.exists()
        });
    }

    /// The export segments of node `id` (the `Segments` request).
    pub fn segments_of(&self, id: u32) -> Vec<rsm::admin::SegmentInfo> {
        rsm::admin::segments(self.socket(id)).expect("agent segments")
    }

    /// The status and counters of node `id`'s agent.
    pub fn status_of(&self, id: u32) -> rsm::admin::AgentStatus {
        rsm::admin::status(self.socket(id)).expect("agent status")
    }

    /// Sends `sig` to the agent of node `id` (e.g. `SIGSTOP`/`SIGCONT` to freeze it).
    pub fn signal_node(&self, id: u32, sig: i32) {
        send_signal(self.pid(id), sig);
    }

    /// Freezes the agent of node `id` (SIGSTOP) and waits until it is stopped: from then on it
    /// answers nothing, as if its cable were pulled.
    pub fn freeze_node(&self, id: u32) {
        let pid = self.pid(id);
        send_signal(pid, libc::SIGSTOP);
        wait_until(Duration::from_secs(5), "the agent to stop", || process_state(pid) == 'T');
    }

    /// Thaws an agent frozen by [`TestCluster::freeze_node`].
    pub fn thaw_node(&self, id: u32) {
        send_signal(self.pid(id), libc::SIGCONT);
    }

    /// A puppet on node `id` whose controller is `tcp0`.
    pub fn puppet(&self, id: u32) -> Puppet {
        let mut p = Puppet::at(self.socket(id)).spawn();
        p.ok("ctl tcp0");
        p
    }

    /// A puppet on node `id` running as another user (needs root), controller `tcp0`.
    pub fn puppet_as(&self, id: u32, who: &Identity) -> Puppet {
        let mut p = Puppet::at(self.socket(id)).user(who).spawn();
        p.ok("ctl tcp0");
        p
    }
}
