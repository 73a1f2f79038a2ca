//! `rsmd`, the rsm node agent, as a library: what the Solaris kernel driver `/dev/rsm` did.
//!
//! One agent runs per node. Local processes connect to its Unix socket; it keeps the segment
//! registry (ids, access lists, who created what), decides every connect, hands importers the
//! segment's memory descriptor, delivers signals, and revokes segments whose exporter
//! unpublishes, destroys, or dies.
//!
//! ```no_run
//! let cfg = rsmd::Config { node_id: 3, socket: "/tmp/node3.sock".into(), ..Default::default() };
//! let agent = rsmd::Agent::start(&cfg)?;
//! # drop(agent);
//! # Ok::<(), rsmd::StartError>(())
//! ```
#![warn(missing_docs)]

pub mod cli;
mod cluster;
pub mod config;
pub mod registry;
mod server;

pub use cluster::read_key;
pub use config::{Config, ConfigError, Health, Limits, NodeConfig};
pub use server::{Agent, StartError};
