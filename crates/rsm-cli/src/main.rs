//! `rsmctl`: look at an rsm node, run the demo, benchmarks and local clusters.

mod demo;
mod show;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Look at an rsm node and try rsm out.
#[derive(Parser, Debug)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Agent socket (the node to talk to).
    #[arg(long, global = true, env = "RSM_SOCKET", default_value = rsm::DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The node: id, agent, controllers with their attributes, counters.
    Info {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Controllers and the remote nodes they reach, with path states.
    Topology {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Export segments of the node: ids, sizes, owners, access lists, importers.
    Segments {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Counters of the agent.
    Stats {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start a throwaway agent and walk through export, publish, import, map, put/get,
    /// barriers, signals and revocation, with timings.
    Demo,
    /// Run a node agent in the foreground (the same program as `rsmd`; arguments as for
    /// `rsmd`, e.g. `rsmctl agent --node-id 2 --socket /tmp/node2.sock`).
    #[command(disable_help_flag = true)]
    Agent {
        /// Arguments for the agent.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// (internal) the importing process of the demo.
    #[command(hide = true)]
    DemoImporter {
        #[arg(long)]
        node: u32,
        #[arg(long)]
        segment: u32,
    },
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "agent") {
        let mut args = vec![std::ffi::OsString::from("rsmctl agent")];
        args.extend(argv.into_iter().skip(2));
        if let Err(e) = rsmd::cli::run(args) {
            eprintln!("rsmctl agent: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RSM_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Info { json } => show::info(&cli.socket, json),
        Cmd::Topology { json } => show::topology(&cli.socket, json),
        Cmd::Segments { json } => show::segments(&cli.socket, json),
        Cmd::Stats { json } => show::stats(&cli.socket, json),
        Cmd::Demo => demo::run(),
        Cmd::Agent { .. } => unreachable!("handled before parsing"),
        Cmd::DemoImporter { node, segment } => demo::importer(&cli.socket, node, segment),
    };
    if let Err(e) = r {
        eprintln!("rsmctl: {e:#}");
        std::process::exit(1);
    }
}
