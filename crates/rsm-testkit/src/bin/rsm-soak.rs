//! `rsm-soak`: the fault-injection soak of issue 6. Three nodes (real `rsmd` agents in network
//! namespaces made for the run), exporters and importers doing random puts in explicit barrier
//! windows, and a chaos driver that SIGKILLs exporters, importers and agents, restarts them,
//! and cuts and restores links. Every committed window is verified byte for byte at the
//! exporter; see `src/soak/mod.rs` for what is checked and how.
//!
//! ```text
//! rsm-soak --duration 10m            # the local run
//! rsm-soak --duration 30s --json     # the CI setting (tests/soak.rs)
//! ```
//!
//! Exit status 0 only when every invariant held: no committed window lost, no byte corrupt,
//! every failed window `RSMERR_BARRIER_FAILURE` or `RSMERR_CONN_ABORTED`, no call beyond its
//! bound, no agent leaking descriptors, memfds or mappings.

#[path = "../soak/mod.rs"]
mod soak;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Fault-injection soak of rsm: three nodes, random barrier windows, a chaos driver.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// How long the chaos runs (e.g. 30s, 10m); the set-up and final checks add some seconds.
    #[arg(long, value_parser = duration, default_value = "60s")]
    duration: Duration,
    /// Seed of every random choice (default: from the clock; printed in the report).
    #[arg(long)]
    seed: Option<u64>,
    /// Exporter processes per node.
    #[arg(long, default_value_t = 2)]
    exporters: usize,
    /// Importer processes per node (each imports one region of a segment on another node).
    #[arg(long, default_value_t = 3)]
    importers: usize,
    /// Bytes of each importer's region (a multiple of 8).
    #[arg(long, default_value_t = 128 * 1024)]
    region: usize,
    /// Bound on every call of a worker; no answer within it is a hang.
    #[arg(long, value_parser = duration, default_value = "10s")]
    bound: Duration,
    /// Mean time between faults.
    #[arg(long, value_parser = duration, default_value = "1500ms")]
    fault_interval: Duration,
    /// Run on 127.0.0.1-3 without namespaces (no link cuts), even as root.
    #[arg(long)]
    loopback: bool,
    /// Keep the working directory (configuration, agent logs).
    #[arg(long)]
    keep: bool,
    /// Print a one-line JSON summary on stdout (the human report goes to stderr).
    #[arg(long)]
    json: bool,
    /// Log every fault and restart on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Self-test: importers skip every Nth put yet report success, so the run must fail
    /// (lost windows, corrupt bytes).
    #[arg(long, default_value_t = 0, hide = true)]
    sabotage: u64,
    /// Directory of the `rsmd` binary (default: the directory of this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// A worker process (started by the driver; requests on stdin).
    #[command(hide = true)]
    Worker {
        /// The agent's socket.
        #[arg(long)]
        socket: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Cmd::Worker { socket }) = &args.cmd {
        return soak::worker::run(socket);
    }
    if args.region < 64 || args.region % 8 != 0 || args.exporters == 0 || args.importers == 0 {
        eprintln!("rsm-soak: --region must be a multiple of 8 (at least 64), --exporters and --importers at least 1");
        return ExitCode::from(2);
    }
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)).unwrap_or_default()
    });
    if !soak::has_rsmd(&bin_dir) {
        eprintln!("rsm-soak: no rsmd in {} (build the workspace, or give --bin-dir)", bin_dir.display());
        return ExitCode::from(2);
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let cfg = soak::Config {
        duration: args.duration,
        seed,
        exporters: args.exporters,
        importers: args.importers,
        region: args.region,
        bound: args.bound,
        fault_interval: args.fault_interval.max(Duration::from_millis(10)),
        loopback: args.loopback,
        keep: args.keep,
        verbose: args.verbose,
        sabotage: args.sabotage,
        bin_dir,
    };
    match soak::run(cfg) {
        Ok(out) => {
            eprint!("{}", out.text);
            if args.json {
                println!("{}", out.json);
            }
            if out.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("rsm-soak: {e}");
            ExitCode::from(3)
        }
    }
}
