//! `rsmctl`: look at an rsm node, run the demo, benchmarks and local clusters.
//!
//! # Safety
//!
//! `main` resets SIGPIPE with one `libc::signal` call (see `default_sigpipe`).
#![allow(unsafe_code)]

mod bench;
mod cluster;
mod demo;
mod scale;
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
    /// A local cluster of agents on 127.0.0.1 (for trying rsm, tests and demos).
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
    /// Latency and bandwidth of put, get, putv, barriers and signals over loopback and tcp
    /// (like ucx_perftest). Without options: a standard set on two throwaway local agents.
    Bench(Box<bench::BenchArgs>),
    /// Start a throwaway two-node cluster and walk through export, publish, import (same
    /// node and across nodes), map, put/get, barriers, signals and revocation, with timings.
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
        #[arg(long)]
        remote: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCmd {
    /// Start N agents (node ids 1..N, one `tcp0` controller each on a free port, sockets
    /// DIR/nodeN.sock, pid files DIR/nodeN.pid, a new cluster key); returns when every
    /// path is active and prints `node N RSM_SOCKET=PATH` per node.
    Start {
        /// Number of nodes.
        #[arg(long, default_value_t = 2)]
        nodes: u32,
        /// Directory for sockets, pid files, logs, configuration and key.
        #[arg(long)]
        dir: PathBuf,
        /// Log filter of the agents (their logs go to DIR/nodeN.log).
        #[arg(long, default_value = "info")]
        log: String,
    },
    /// Stop the agents started in DIR.
    Stop {
        /// The directory given to `start`.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Restores the default SIGPIPE action, so `rsmctl ... | head` ends quietly like other tools.
fn default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists;
    // no handler code is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    default_sigpipe();
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
            tracing_subscriber::EnvFilter::try_from_env("RSM_LOG")
                // The library's own warnings (e.g. "cannot connect to rsmd") would repeat
                // what rsmctl reports; RSM_LOG=warn shows them.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rsm=error")),
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
        Cmd::Bench(mut args) => match args.sub.take() {
            Some(scale::BenchCmd::Scale(s)) => scale::run(*s),
            Some(scale::BenchCmd::ScaleExporter { socket }) => scale::exporter(&socket),
            None => bench::run(*args),
        },
        Cmd::Cluster { cmd: ClusterCmd::Start { nodes, dir, log } } => cluster::start(nodes, &dir, &log).map(|ns| {
            for n in ns {
                println!("node {} RSM_SOCKET={}", n.id, n.socket.display());
            }
        }),
        Cmd::Cluster { cmd: ClusterCmd::Stop { dir } } => cluster::stop(&dir).map(|n| println!("stopped {n} agents")),
        // `rsmctl agent ...` is handled before parsing; here it came after rsmctl's own options.
        Cmd::Agent { .. } => Err(anyhow::anyhow!(
            "`agent` must come first and takes the agent's own options: rsmctl agent --socket PATH ..."
        )),
        Cmd::DemoImporter { node, segment, remote } => demo::importer(&cli.socket, node, segment, remote),
    };
    if let Err(e) = r {
        // Output closed (`| head`): the command has cleaned up by now; end as the default
        // SIGPIPE action would, without a message.
        let closed = e
            .chain()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe));
        if closed {
            std::process::exit(128 + libc::SIGPIPE);
        }
        eprintln!("rsmctl: {e:#}");
        std::process::exit(1);
    }
}
