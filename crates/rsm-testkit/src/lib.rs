//! Test harness: starts real `rsmd` agents (the binary, as separate processes) in temporary
//! directories and stops them when dropped, even when a test fails; drives scriptable client
//! processes ([`Puppet`]) that can run as other users and be SIGKILLed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
        cmd.args(["build", "--quiet", "--bins"]);
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
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)?.parse().ok()))
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

    /// Starts an agent with its socket and config in `dir`; `config` lines are added to its
    /// configuration file.
    pub fn start_in(node_id: u32, dir: &Path, config: &[&str]) -> TestAgent {
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rsmd");
        let mut a = TestAgent { child: Some(child), node_id, socket: socket.clone(), dir: dir.to_path_buf(), _tmp: None };
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
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok()))
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
        let mut cmd = Command::new(puppet_bin);
        cmd.env("RSM_SOCKET", socket).env("RSM_QUIET", "1").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        if let Some(w) = who {
            let groups: Vec<String> = w.groups.iter().map(u32::to_string).collect();
            cmd.arg("--uid").arg(w.uid.to_string()).arg("--gid").arg(w.gid.to_string()).arg("--groups").arg(groups.join(","));
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
        writeln!(self.stdin, "{line}").expect("puppet stdin");
        self.stdin.flush().expect("flush");
        let mut out = String::new();
        self.stdout.read_line(&mut out).expect("puppet stdout");
        assert!(!out.is_empty(), "puppet died while running `{line}`");
        out.trim_end().to_string()
    }

    /// Runs a command that must succeed and returns what follows `ok `.
    pub fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        assert!(r == "ok" || r.starts_with("ok "), "`{line}` failed: {r}");
        r.strip_prefix("ok").unwrap_or("").trim().to_string()
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
