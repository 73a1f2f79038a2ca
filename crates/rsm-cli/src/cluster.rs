//! `rsmctl cluster start | stop | status`: a local cluster of agents on 127.0.0.1.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set by [`stop_agents_on_signal`]'s thread: the agents are being stopped and the process
/// is about to exit (the command's own failures from then on are not worth reporting).
pub(crate) static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For a command that runs its own agents (demo, bench, bench scale): on SIGINT, SIGTERM,
/// SIGHUP or SIGPIPE (its output closed, as by `| head`) a thread stops the agents of `dir`,
/// removes `dir` if `remove`, and ends the process with 128 + the signal. Without it a ^C
/// would leave the agents running (they have a process group of their own) and a closed
/// pipe would kill the command before its clean-up.
pub(crate) fn stop_agents_on_signal(dir: PathBuf, remove: bool, who: &'static str) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    let mut sigs =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGPIPE]).context("signal handlers")?;
    std::thread::Builder::new().name("rsmctl-signals".into()).spawn(move || {
        if let Some(sig) = sigs.forever().next() {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = stop(&dir);
            if remove {
                let _ = std::fs::remove_dir_all(&dir);
            }
            if sig != SIGPIPE {
                eprintln!("\n{who}: interrupted; agents stopped");
            }
            std::process::exit(128 + sig);
        }
    })?;
    Ok(())
}

/// Prints a line to standard output without panicking when it is closed: with SIGPIPE
/// handled by [`stop_agents_on_signal`], a write to a closed pipe fails (and the signal
/// thread ends the process) instead of killing it.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
pub(crate) use say;

/// One started node.
pub(crate) struct Node {
    pub(crate) id: u32,
    pub(crate) socket: PathBuf,
}

/// The program that runs an agent: `rsmd` next to this `rsmctl`, else `rsmctl agent`.
fn agent_command() -> Result<Command> {
    let exe = std::env::current_exe()?;
    Ok(match exe.parent().map(|d| d.join("rsmd")).filter(|p| p.exists()) {
        Some(bin) => Command::new(bin),
        None => {
            let mut c = Command::new(exe);
            c.arg("agent");
            c
        }
    })
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes a new random cluster key readable only by its owner.
pub(crate) fn write_key(path: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut k = [0u8; 32];
    rustix::rand::getrandom(&mut k, rustix::rand::GetRandomFlags::empty()).context("random key")?;
    let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(f, "{hex}")?;
    Ok(())
}

/// Starts `n` agents in `dir` and returns when every path between them is active.
pub(crate) fn start(n: u32, dir: &Path, log_level: &str) -> Result<Vec<Node>> {
    start_with(n, dir, log_level, "")
}

/// [`start`] with more agent configuration (TOML tables such as `[health]`), written before
/// the node list.
pub(crate) fn start_with(n: u32, dir: &Path, log_level: &str, extra_config: &str) -> Result<Vec<Node>> {
    if n == 0 || n > 64 {
        bail!("--nodes must be 1..=64");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    for i in 1..=n {
        let pid = dir.join(format!("node{i}.pid"));
        if let Ok(p) = std::fs::read_to_string(&pid) {
            if is_agent_of(p.trim(), &dir.join(format!("node{i}.sock"))) {
                bail!("node {i} of {} is already running (pid {}); stop it first", dir.display(), p.trim());
            }
        }
    }
    let key = dir.join("cluster.key");
    write_key(&key)?;
    let mut cfg = format!("cluster_key = \"{}\"\n{extra_config}\n", key.display());
    for i in 1..=n {
        cfg.push_str(&format!("\n[[nodes]]\nid = {i}\ncontrollers = {{ tcp0 = \"127.0.0.1:{}\" }}\n", free_port()?));
    }
    let cfg_path = dir.join("cluster.toml");
    std::fs::write(&cfg_path, cfg)?;
    let mut nodes = Vec::new();
    let mut children = Vec::new();
    for i in 1..=n {
        let socket = dir.join(format!("node{i}.sock"));
        let pid_file = dir.join(format!("node{i}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let log = std::fs::File::create(dir.join(format!("node{i}.log")))?;
        use std::os::unix::process::CommandExt;
        let child = rsmd::cli::agent_command(&mut agent_command()?, &cfg_path, i, &socket, &pid_file, log_level)
            .stderr(log)
            // Its own process group: the agents outlive this command and a ^C at the terminal.
            .process_group(0)
            .spawn()
            .context("starting an agent")?;
        children.push(child);
        nodes.push(Node { id: i, socket });
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (nd, child) in nodes.iter().zip(&mut children) {
        let pid_file = dir.join(format!("node{}.pid", nd.id));
        while !pid_file.exists() {
            // An agent that exited (bad configuration, socket path too long) is reported at
            // once, not after the deadline.
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join(format!("node{}.log", nd.id))).unwrap_or_default();
                let _ = stop(&dir);
                bail!("node {} did not start:\n{log}", nd.id);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Ready means every path is active.
    for nd in &nodes {
        loop {
            let ok = rsm::topology_at(&nd.socket)
                .map(|t| {
                    t.controllers.iter().all(|c| {
                        c.remotes.len() == n as usize - 1 && c.remotes.iter().all(|r| r.state == rsm::CONNECTION_ACTIVE)
                    })
                })
                .unwrap_or(false);
            if ok {
                break;
            }
            if Instant::now() > deadline {
                let _ = stop(&dir);
                bail!("the paths of node {} did not become active within 15 s", nd.id);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(nodes)
}

/// Whether process `pid` is an agent serving `socket` (its command line names the socket):
/// a stale pid file may name any process by now.
fn is_agent_of(pid: &str, socket: &Path) -> bool {
    if pid.parse::<u32>().is_err() {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let want = socket.as_os_str().as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == want)
}

/// Stops every agent whose pid file is in `dir`. Returns how many were stopped. A pid file
/// that names no agent of `dir` (the agent died, its pid was reused) is removed, and the
/// process it names is left alone.
pub(crate) fn stop(dir: &Path) -> Result<usize> {
    let mut pids = Vec::new();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "pid")
            && p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("node"))
        {
            if let Ok(pid) = std::fs::read_to_string(&p).map(|s| s.trim().to_string()) {
                if is_agent_of(&pid, &p.with_extension("sock")) {
                    pids.push((pid, p));
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    for (pid, _) in &pids {
        let _ = Command::new("kill").arg("-TERM").arg(pid).stderr(Stdio::null()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (pid, file) in &pids {
        while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            let _ = Command::new("kill").arg("-KILL").arg(pid).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_file(file);
    }
    Ok(pids.len())
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
        .unwrap_or(true)
}
