//! Agent configuration: a TOML file (default `/etc/rsm/rsmd.toml`), overridden by environment
//! variables, overridden by command-line flags.

use serde::Deserialize;
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_segments: 65_536, max_exported_bytes: 0 }
    }
}

/// The configuration of one agent.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This node's id (0..=64).
    pub node_id: u32,
    /// Unix socket local clients connect to.
    pub socket: PathBuf,
    /// Limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config { node_id: 1, socket: PathBuf::from(DEFAULT_SOCKET), limits: Limits::default() }
    }
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
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
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(e) })?;
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
        Ok(())
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
    }
}
