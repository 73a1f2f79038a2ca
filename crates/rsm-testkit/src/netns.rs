//! Two nodes in two network namespaces joined by a veth pair, an agent in each: for tests of
//! real cut links (root only). Everything made is removed when the [`PairLab`] is dropped,
//! whatever happened.

use crate::{Puppet, rsmd_bin, wait_until};
use rsm::CONNECTION_ACTIVE;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Runs `ip ARGS...`; `Err` with its message when it fails.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Two namespaces, a veth pair between them and (after [`PairLab::start_agents`]) an agent in
/// each, node 1 in `ns[0]`, node 2 in `ns[1]`.
pub struct PairLab {
    /// The namespaces' names.
    pub ns: [String; 2],
    /// The veth ends, `veth[k]` in `ns[k]`.
    pub veth: [String; 2],
    agents: Vec<Child>,
    dir: tempfile::TempDir,
    /// Second octet of the lab's 10.x.y.0/24 network.
    net: u32,
}

impl Drop for PairLab {
    fn drop(&mut self) {
        for a in &mut self.agents {
            let _ = a.kill();
            let _ = a.wait();
        }
        for ns in &self.ns {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

impl PairLab {
    /// Builds the namespaces and the link, with names made of `tag` (a few letters, unique
    /// per test file) and this process's id; `Err` (a reason to skip) when this machine cannot.
    pub fn new(tag: &str, net: u32) -> Result<PairLab, String> {
        let pid = std::process::id();
        let lab = PairLab {
            ns: [format!("rsm{tag}A{pid}"), format!("rsm{tag}B{pid}")],
            veth: [format!("rsm{tag}a{pid}"), format!("rsm{tag}b{pid}")],
            agents: Vec::new(),
            dir: tempfile::Builder::new().prefix("rsm-netns-").tempdir().map_err(|e| e.to_string())?,
            net,
        };
        ip(&["netns", "add", &lab.ns[0]])?;
        // From here on, Drop removes whatever was made.
        ip(&["netns", "add", &lab.ns[1]])?;
        ip(&["link", "add", &lab.veth[0], "type", "veth", "peer", "name", &lab.veth[1]])?;
        for k in 0..2 {
            ip(&["link", "set", &lab.veth[k], "netns", &lab.ns[k]])?;
            ip(&["-n", &lab.ns[k], "addr", "add", &format!("{}/24", lab.addr(k)), "dev", &lab.veth[k]])?;
            ip(&["-n", &lab.ns[k], "link", "set", &lab.veth[k], "up"])?;
            ip(&["-n", &lab.ns[k], "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    /// Address of node `k + 1`.
    pub fn addr(&self, k: usize) -> String {
        let pid = std::process::id();
        format!("10.{}.{}.{}", self.net + (pid >> 8) % 50, pid % 256, k + 1)
    }

    /// Agent socket of `node` (1 or 2).
    pub fn socket(&self, node: u32) -> PathBuf {
        self.dir.path().join(format!("node{node}.sock"))
    }

    /// What the agent of `node` logged.
    pub fn log(&self, node: u32) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{node}.log"))).unwrap_or_default()
    }

    /// Starts the two agents (`tcp0` on port 7300 of each node's address), each inside its
    /// namespace, and waits until both run.
    pub fn start_agents(&mut self) {
        let dir = self.dir.path().to_path_buf();
        let key = dir.join("cluster.key");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&key).unwrap();
            writeln!(f, "{}", "5a".repeat(32)).unwrap();
        }
        let cfg = dir.join("cluster.toml");
        let mut text = format!("cluster_key = \"{}\"\n", key.display());
        for k in 0..2 {
            text.push_str(&format!(
                "\n[[nodes]]\nid = {}\ncontrollers = {{ tcp0 = \"{}:7300\" }}\n",
                k + 1,
                self.addr(k)
            ));
        }
        std::fs::write(&cfg, text).unwrap();
        for node in 1..=2u32 {
            let log = std::fs::File::create(dir.join(format!("node{node}.log"))).unwrap();
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &self.ns[node as usize - 1]]).arg(rsmd_bin());
            let pid_file = dir.join(format!("node{node}.pid"));
            let child = rsmd::cli::agent_command(&mut cmd, &cfg, node, &self.socket(node), &pid_file, "debug")
                .stderr(log)
                .spawn()
                .expect("ip netns exec rsmd");
            self.agents.push(child);
        }
        for node in 1..=2u32 {
            let pid = dir.join(format!("node{node}.pid"));
            wait_until(Duration::from_secs(10), "an agent in its namespace to start", || {
                for a in &mut self.agents {
                    if let Ok(Some(st)) = a.try_wait() {
                        panic!("an agent exited ({st}):\n{}\n{}", self.log(1), self.log(2));
                    }
                }
                pid.exists()
            });
        }
    }

    /// The state of `from`'s path to `to` (0 when it cannot be read).
    pub fn path_state(&self, from: u32, to: u32) -> u32 {
        rsm::topology_at(&self.socket(from))
            .ok()
            .and_then(|t| t.controllers.first()?.remotes.iter().find(|r| r.node == to).map(|r| r.state))
            .unwrap_or(0)
    }

    /// Waits until both paths are active; returns how long that took.
    pub fn wait_active(&self, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        wait_until(timeout, "both paths to be active", || {
            self.path_state(1, 2) == CONNECTION_ACTIVE && self.path_state(2, 1) == CONNECTION_ACTIVE
        });
        t0.elapsed()
    }

    /// Takes node `k + 1`'s end of the link down or up.
    pub fn link(&self, k: usize, up: bool) {
        ip(&["-n", &self.ns[k], "link", "set", &self.veth[k], if up { "up" } else { "down" }]).unwrap();
    }

    /// A puppet client of node 2, inside node 2's namespace, on `tcp0`.
    pub fn importer(&self) -> Puppet {
        let mut p = Puppet::at(&self.socket(2)).wrapped(&["ip", "netns", "exec", &self.ns[1]]).spawn();
        p.ok("ctl tcp0");
        p
    }
}
