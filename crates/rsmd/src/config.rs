//! Agent configuration: a TOML file (default `/etc/rsm/rsmd.toml`), overridden by environment
//! variables, overridden by command-line flags.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/rsm/rsmd.toml";
/// Default socket.
pub const DEFAULT_SOCKET: &str = "/run/rsm/rsmd.sock";

/// Resource limits of one node.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most segments (export + import) at once (Solaris `max-segments`).
    pub max_segments: u64,
    /// Most bytes in export segments at once; 0 means the machine's physical memory
    /// (Solaris `max-exported-memory`).
    pub max_exported_bytes: u64,
    /// Keep every published segment's memory descriptors open in the agent (two per
    /// segment) even when it could take a duplicate from the exporter (`pidfd_getfd`)
    /// whenever an importer needs one. Only for exporters that close descriptors behind
    /// the library's back; it costs the agent two descriptors per published segment.
    pub hold_segment_memory: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_segments: 65_536, max_exported_bytes: 0, hold_segment_memory: false }
    }
}

/// One node of the cluster and the addresses of its controllers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node id.
    pub id: u32,
    /// Controller name (`tcp0`, `tcp1`, ...) → `host:port` it listens on.
    #[serde(default)]
    pub controllers: BTreeMap<String, String>,
}

/// Path health timing.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    /// Interval between heartbeats on each path, in milliseconds.
    pub heartbeat_ms: u64,
    /// A path without an answer for this long is down, in milliseconds.
    pub dead_after_ms: u64,
    /// How long a remote connect may take before it fails with
    /// `RSMERR_REMOTE_NODE_UNREACHABLE`, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long a data-connection thread busy-polls for the next request, or for the rest of
    /// a large put's payload, before it blocks, in microseconds (0: block at once). Spinning
    /// trades CPU for latency (and, for streams of large puts, keeps the thread off the
    /// sender's CPU).
    pub data_spin_us: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health { heartbeat_ms: 200, dead_after_ms: 1000, connect_timeout_ms: 2000, data_spin_us: 50 }
    }
}

/// The configuration of one agent. The `nodes` table may be the same file on every node of a
/// cluster: each agent picks its own entry by `node_id` (which a flag or `RSM_NODE_ID` can set).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id (0..=64).
    pub node_id: u32,
    /// Unix socket local clients connect to.
    pub socket: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// File with the cluster key shared by all agents (readable only by its owner); needed
    /// when this node has controllers.
    pub cluster_key: Option<PathBuf>,
    /// Path health timing.
    pub health: Health,
    /// Every node of the cluster with its controllers.
    pub nodes: Vec<NodeConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            socket: PathBuf::from(DEFAULT_SOCKET),
            limits: Limits::default(),
            cluster_key: None,
            health: Health::default(),
            nodes: Vec::new(),
        }
    }
}

/// Whether `name` is a canonical network controller name (`tcp` + unit number).
pub fn is_tcp_controller(name: &str) -> bool {
    name.strip_prefix("tcp")
        .is_some_and(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()) && (u == "0" || !u.starts_with('0')))
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// Largest node id (RSMAPI access lists name nodes up to 64).
pub const MAX_NODE_ID: u32 = 64;

impl Config {
    /// Parses a configuration text.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(e) })?;
        c.validate()?;
        Ok(c)
    }

    /// Loads `path`; a missing file gives the defaults unless `required`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`].
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(t) => Config::parse(&t, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Config::default()),
            Err(e) => Err(ConfigError::Read { path: path.to_path_buf(), source: e }),
        }
    }

    /// Checks ranges.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id > MAX_NODE_ID {
            return Err(ConfigError::Invalid(format!("node_id {} is over {MAX_NODE_ID}", self.node_id)));
        }
        if self.socket.as_os_str().is_empty() {
            return Err(ConfigError::Invalid("socket is empty".into()));
        }
        if self.limits.max_segments == 0 {
            return Err(ConfigError::Invalid("limits.max_segments is 0".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for n in &self.nodes {
            if n.id > MAX_NODE_ID {
                return Err(ConfigError::Invalid(format!("node {} is over {MAX_NODE_ID}", n.id)));
            }
            if !seen.insert(n.id) {
                return Err(ConfigError::Invalid(format!("node {} is listed twice", n.id)));
            }
            for (name, addr) in &n.controllers {
                if !is_tcp_controller(name) {
                    return Err(ConfigError::Invalid(format!("node {}: controller {name:?} is not tcp<N>", n.id)));
                }
                if addr.parse::<std::net::SocketAddr>().is_err() {
                    return Err(ConfigError::Invalid(format!("node {}: {name} address {addr:?} is not ip:port", n.id)));
                }
            }
        }
        if !self.local_controllers().is_empty() && self.cluster_key.is_none() {
            return Err(ConfigError::Invalid("this node has controllers but no cluster_key".into()));
        }
        if self.health.heartbeat_ms == 0 || self.health.dead_after_ms <= self.health.heartbeat_ms {
            return Err(ConfigError::Invalid("health: need 0 < heartbeat_ms < dead_after_ms".into()));
        }
        Ok(())
    }

    /// This node's controllers: name → listen address.
    pub fn local_controllers(&self) -> BTreeMap<String, String> {
        self.nodes.iter().find(|n| n.id == self.node_id).map(|n| n.controllers.clone()).unwrap_or_default()
    }

    /// The peers reachable through controller `name`: (node id, address).
    pub fn peers(&self, name: &str) -> Vec<(u32, String)> {
        // A controller this node does not have reaches nobody.
        if !self.local_controllers().contains_key(name) {
            return Vec::new();
        }
        self.nodes
            .iter()
            .filter(|n| n.id != self.node_id)
            .filter_map(|n| n.controllers.get(name).map(|a| (n.id, a.clone())))
            .collect()
    }

    /// `limits.max_exported_bytes`, with 0 resolved to physical memory.
    pub fn max_exported_bytes(&self) -> u64 {
        if self.limits.max_exported_bytes == 0 { rsm_os::phys_mem() } else { self.limits.max_exported_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let p = Path::new("x.toml");
        assert_eq!(Config::parse("", p).unwrap(), Config::default());
        let c = Config::parse("node_id = 7\nsocket = \"/tmp/a.sock\"\n[limits]\nmax_segments = 10\n", p).unwrap();
        assert_eq!(c.node_id, 7);
        assert_eq!(c.socket, PathBuf::from("/tmp/a.sock"));
        assert_eq!(c.limits.max_segments, 10);
        assert_eq!(c.limits.max_exported_bytes, 0);
        assert!(Config::parse("node_id = 65", p).is_err());
        assert!(Config::parse("bogus = 1", p).is_err());
        assert!(Config::parse("[limits]\nmax_segments = 0", p).is_err());
        assert!(Config::load(Path::new("/nonexistent/rsmd.toml"), false).is_ok());
        assert!(Config::load(Path::new("/nonexistent/rsmd.toml"), true).is_err());
        let cluster = "cluster_key = \"/k\"\n[[nodes]]\nid = 1\ncontrollers = { tcp0 = \"127.0.0.1:7001\" }\n\
                       [[nodes]]\nid = 2\ncontrollers = { tcp0 = \"127.0.0.1:7002\", tcp1 = \"127.0.0.2:7002\" }\n";
        let c = Config::parse(cluster, p).unwrap();
        assert_eq!(c.local_controllers().get("tcp0").map(String::as_str), Some("127.0.0.1:7001"));
        assert_eq!(c.peers("tcp0"), vec![(2, "127.0.0.1:7002".to_string())]);
        assert!(c.peers("tcp1").is_empty());
        assert!(Config::parse(&cluster.replace("cluster_key = \"/k\"", ""), p).is_err());
        assert!(Config::parse(&cluster.replace("tcp1", "eth0"), p).is_err());
        assert!(Config::parse(&cluster.replace("127.0.0.2:7002", "nowhere"), p).is_err());
        assert!(
            is_tcp_controller("tcp0")
                && is_tcp_controller("tcp12")
                && !is_tcp_controller("tcp01")
                && !is_tcp_controller("tcp")
        );
    }
}
