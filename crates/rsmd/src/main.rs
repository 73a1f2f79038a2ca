//! `rsmd`: the rsm node agent.

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

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RSM_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(rsmd::config::DEFAULT_CONFIG), false),
    };
    let mut cfg = rsmd::Config::load(&path, required)?;
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if let Some(s) = args.socket {
        cfg.socket = s;
    }
    cfg.validate()?;
    let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .context("installing signal handlers")?;
    let mut agent = rsmd::Agent::start(&cfg)?;
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
