//! `rsmctl cluster start | stop | status`: a local cluster of agents on 127.0.0.1.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
            if Path::new(&format!("/proc/{}", p.trim())).exists() {
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
    for i in 1..=n {
        let socket = dir.join(format!("node{i}.sock"));
        let pid_file = dir.join(format!("node{i}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let log = std::fs::File::create(dir.join(format!("node{i}.log")))?;
        use std::os::unix::process::CommandExt;
        rsmd::cli::agent_command(&mut agent_command()?, &cfg_path, i, &socket, &pid_file, log_level)
            .stderr(log)
            // Its own process group: the agents outlive this command and a ^C at the terminal.
            .process_group(0)
            .spawn()
            .context("starting an agent")?;
        nodes.push(Node { id: i, socket });
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for nd in &nodes {
        let pid_file = dir.join(format!("node{}.pid", nd.id));
        while !pid_file.exists() {
            if Instant::now() > deadline {
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

/// Stops every agent whose pid file is in `dir`. Returns how many were stopped.
pub(crate) fn stop(dir: &Path) -> Result<usize> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "pid")
            && p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("node"))
        {
            if let Ok(pid) = std::fs::read_to_string(&p).map(|s| s.trim().to_string()) {
                if pid.parse::<u32>().is_ok() {
                    pids.push((pid, p));
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
