//! The `rsmd` command line (shared by the `rsmd` binary and `rsmctl agent`).

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// The rsm node agent.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (default /etc/rsm/rsmd.toml; not required to exist unless given).
    #[arg(long, short, env = "RSMD_CONFIG")]
    config: Option<PathBuf>,
    /// This node's id (overrides the file).
    #[arg(long, env = "RSM_NODE_ID")]
    node_id: Option<u32>,
    /// Unix socket to listen on (overrides the file).
    #[arg(long, env = "RSM_SOCKET")]
    socket: Option<PathBuf>,
    /// Write the agent's pid here once it is ready; removed at exit.
    #[arg(long)]
    pid_file: Option<PathBuf>,
}

/// Runs the agent as a command: parses `args` (the first one is the program name), logs
/// to stderr (`RSM_LOG` filter), serves until SIGTERM or SIGINT.
///
/// # Errors
///
/// Bad arguments or configuration, or an agent that cannot start.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RSM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let args = Args::parse_from(args);
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(crate::config::DEFAULT_CONFIG), false),
    };
    let mut cfg = crate::Config::load(&path, required)?;
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if let Some(s) = args.socket {
        cfg.socket = s;
    }
    cfg.validate()?;
    raise_nofile();
    // SIGHUP too: an agent started with `&` from a terminal gets it when the terminal closes,
    // and must still remove its socket and pid file.
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .context("installing signal handlers")?;
    let mut agent = crate::Agent::start(&cfg)?;
    if let Some(p) = &args.pid_file {
        std::fs::write(p, format!("{}\n", std::process::id())).with_context(|| format!("writing {}", p.display()))?;
    }
    let mut signals = signals;
    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "shutting down");
    }
    agent.stop();
    if let Some(p) = &args.pid_file {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Raises the soft limit on open descriptors to the hard limit: the agent holds one per
/// published segment (three when it must hold the memory itself) and one or two per import
/// and client, so the usual soft limit of 1024 would stop a node at about 1,000 (or 330)
/// published segments.
fn raise_nofile() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let r = getrlimit(Resource::Nofile);
    if r.current != r.maximum {
        if let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: r.maximum, maximum: r.maximum }) {
            tracing::warn!("cannot raise the open-file limit: {e}");
        }
    }
    let r = getrlimit(Resource::Nofile);
    tracing::debug!(soft = ?r.current, hard = ?r.maximum, "open-file limit");
}

/// Gives `cmd` (whose program runs the agent: `rsmd`, `rsmctl agent`, or a wrapper such as
/// `ip netns exec NS rsmd`) the command line and environment of the agent of `node_id`: its
/// configuration file, socket, pid file (written once it serves) and log filter, with
/// `RSM_SOCKET`/`RSM_NODE_ID` of the caller's environment removed so they cannot override
/// them, and stdin/stdout closed. Where stderr (the log) goes, and the process group, are the
/// caller's. One place for how every launcher (`rsmctl cluster start`, the test harness)
/// starts an agent.
pub fn agent_command<'a>(
    cmd: &'a mut std::process::Command,
    config: &std::path::Path,
    node_id: u32,
    socket: &std::path::Path,
    pid_file: &std::path::Path,
    log_filter: &str,
) -> &'a mut std::process::Command {
    cmd.arg("--config")
        .arg(config)
        .arg("--node-id")
        .arg(node_id.to_string())
        .arg("--socket")
        .arg(socket)
        .arg("--pid-file")
        .arg(pid_file)
        .env("RSM_LOG", log_filter)
        .env_remove("RSM_SOCKET")
        .env_remove("RSM_NODE_ID")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
}
