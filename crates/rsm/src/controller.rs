//! Controllers: the interconnects a node reaches other nodes through.

use crate::error::{Error, Result};
use crate::node::{self, Node, lock};
use rsm_proto::{Request, Response};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub use rsm_proto::ControllerAttr;

/// `RSM_DAS8`: 8-bit access.
pub const DAS8: u32 = 1;
/// `RSM_DAS16`.
pub const DAS16: u32 = 2;
/// `RSM_DAS32`.
pub const DAS32: u32 = 4;
/// `RSM_DAS64`.
pub const DAS64: u32 = 8;

#[derive(Debug)]
pub(crate) struct CtlInner {
    pub(crate) node: Arc<Node>,
    pub(crate) name: String,
    pub(crate) attr: ControllerAttr,
}

/// A handle to one controller of the local node (`rsmapi_controller_handle_t`).
///
/// Getting the same controller twice in a process gives the same handle ([`Controller::same`]
/// is true); it stays open while any clone, segment or barrier made through it is alive.
#[derive(Clone, Debug)]
pub struct Controller {
    pub(crate) inner: Arc<CtlInner>,
}

/// Splits a controller name into type and unit as Solaris does: trailing decimal digits are
/// the unit (none: 0), the rest the type, compared case-insensitively; every `loopback<N>`
/// (and `None`) is the one loopback controller.
pub fn canonical_name(name: Option<&str>) -> Option<String> {
    let name = match name {
        None => return Some("loopback".into()),
        Some(n) => n,
    };
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (ty, unit) = name.split_at(name.len() - digits);
    if ty.is_empty() || !ty.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return None;
    }
    let ty = ty.to_ascii_lowercase();
    if ty == "loopback" {
        return Some(ty);
    }
    let unit: u32 = if unit.is_empty() { 0 } else { unit.parse().ok()? };
    Some(format!("{ty}{unit}"))
}

type CtlKey = (PathBuf, String);

fn open_controllers() -> &'static Mutex<HashMap<CtlKey, Weak<CtlInner>>> {
    static R: OnceLock<Mutex<HashMap<CtlKey, Weak<CtlInner>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

impl Controller {
    /// Gets a controller of the node agent named by `RSM_SOCKET` (default
    /// `/run/rsm/rsmd.sock`): `"loopback"` for this node, `"tcp0"` for a network.
    ///
    /// # Errors
    ///
    /// [`Error::CtlrNotPresent`] when no agent answers on the socket (a message naming the
    /// socket goes to stderr unless `RSM_QUIET` is set) or the node has no such controller.
    #[doc(alias = "rsm_get_controller")]
    pub fn get(name: &str) -> Result<Controller> {
        Self::get_at(&node::default_socket(), Some(name))
    }

    /// The loopback controller (`rsm_get_controller(NULL, ...)`).
    ///
    /// # Errors
    ///
    /// As for [`Controller::get`].
    pub fn loopback() -> Result<Controller> {
        Self::get_at(&node::default_socket(), None)
    }

    /// Gets a controller of the agent listening on `socket`.
    ///
    /// # Errors
    ///
    /// As for [`Controller::get`].
    pub fn get_at(socket: &Path, name: Option<&str>) -> Result<Controller> {
        let canon = canonical_name(name).ok_or(Error::CtlrNotPresent)?;
        let key = (socket.to_path_buf(), canon.clone());
        let mut open = lock(open_controllers());
        if let Some(inner) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(Controller { inner });
        }
        let node = Node::open(socket)?;
        let attr = match node.call(&Request::GetController { name: canon.clone() }, &[])? {
            (Response::Controller { attr }, _) => attr,
            _ => return Err(Error::InternalError),
        };
        let inner = Arc::new(CtlInner { node, name: canon, attr });
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&inner));
        Ok(Controller { inner })
    }

    /// Canonical name (`"loopback"`, `"tcp0"`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether this is the loopback controller.
    pub fn is_loopback(&self) -> bool {
        self.inner.name == "loopback"
    }

    /// The controller's attributes.
    #[doc(alias = "rsm_get_controller_attr")]
    pub fn attr(&self) -> ControllerAttr {
        self.inner.attr
    }

    /// Node id of the local node.
    pub fn local_node(&self) -> u32 {
        self.inner.node.node_id()
    }

    /// Socket of the agent this controller belongs to.
    pub fn agent_socket(&self) -> &Path {
        self.inner.node.socket()
    }

    /// Whether two handles are the same controller.
    pub fn same(&self, other: &Controller) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.inner.node
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_name;

    #[test]
    fn names_parse_like_solaris() {
        assert_eq!(canonical_name(None).as_deref(), Some("loopback"));
        assert_eq!(canonical_name(Some("loopback")).as_deref(), Some("loopback"));
        assert_eq!(canonical_name(Some("LoopBack3")).as_deref(), Some("loopback"));
        assert_eq!(canonical_name(Some("tcp")).as_deref(), Some("tcp0"));
        assert_eq!(canonical_name(Some("TCP01")).as_deref(), Some("tcp1"));
        assert_eq!(canonical_name(Some("wrsm12")).as_deref(), Some("wrsm12"));
        assert_eq!(canonical_name(Some("")), None);
        assert_eq!(canonical_name(Some("12")), None);
        assert_eq!(canonical_name(Some("a/b0")), None);
        assert_eq!(canonical_name(Some("x99999999999")), None);
    }
}
