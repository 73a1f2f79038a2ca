//! The connection of this process to its node agent (`rsmd`).

use crate::error::{Error, Result};
use rsm_os::gentable::GenTable;
use rsm_os::{BorrowedFd, Errno, OwnedFd};
use rsm_proto::{Request, Response};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Default agent socket.
pub const DEFAULT_SOCKET: &str = "/run/rsm/rsmd.sock";

/// The agent socket this process uses: `RSM_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn default_socket() -> PathBuf {
    std::env::var_os("RSM_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

struct Conn {
    pid: u32,
    fd: OwnedFd,
}

/// One node agent as seen from this process.
pub(crate) struct Node {
    socket: PathBuf,
    node_id: u32,
    conn: Mutex<Option<Conn>>,
    gens: GenTable,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("socket", &self.socket).field("node_id", &self.node_id).finish()
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Node>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<Node>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn hello(socket: &Path) -> std::result::Result<(OwnedFd, u32, OwnedFd), String> {
    let fd =
        rsm_os::uds::connect(socket).map_err(|e| format!("cannot connect to rsmd at {}: {e}", socket.display()))?;
    let frame = rsm_proto::encode(&Request::Hello { version: rsm_proto::VERSION });
    rsm_os::uds::send(&fd, &frame, &[]).map_err(|e| format!("rsmd at {}: {e}", socket.display()))?;
    let mut buf = Vec::new();
    let fds = rsm_os::uds::recv(&fd, &mut buf)
        .map_err(|e| format!("rsmd at {}: {e}", socket.display()))?
        .ok_or_else(|| format!("rsmd at {} closed the connection", socket.display()))?;
    match rsm_proto::decode::<Response>(&buf) {
        Ok(Response::Hello { node }) => {
            let g = fds.into_iter().next().ok_or_else(|| "rsmd sent no generation table".to_string())?;
            Ok((fd, node, g))
        }
        Ok(other) => Err(format!("rsmd at {}: unexpected answer {other:?}", socket.display())),
        Err(e) => Err(format!("rsmd at {}: {e}", socket.display())),
    }
}

impl Node {
    /// The agent listening on `socket` (one shared connection per socket and process).
    pub(crate) fn open(socket: &Path) -> Result<Arc<Node>> {
        let mut reg = lock(registry());
        if let Some(n) = reg.get(socket).and_then(Weak::upgrade) {
            return Ok(n);
        }
        let (fd, node_id, gfd) = hello(socket).map_err(|msg| {
            tracing::warn!("{msg}");
            if std::env::var_os("RSM_QUIET").is_none() {
                eprintln!("rsm: {msg} (start rsmd, or point RSM_SOCKET at a running agent)");
            }
            Error::CtlrNotPresent
        })?;
        let gens = GenTable::open(&gfd).map_err(|_| Error::InsufficientResources)?;
        let n = Arc::new(Node {
            socket: socket.to_path_buf(),
            node_id,
            conn: Mutex::new(Some(Conn { pid: std::process::id(), fd })),
            gens,
        });
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(socket.to_path_buf(), Arc::downgrade(&n));
        Ok(n)
    }

    pub(crate) fn node_id(&self) -> u32 {
        self.node_id
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Current value of a generation cell (`u32::MAX` never matches a snapshot taken from a
    /// valid cell of a live agent... but an out-of-range cell reads as revoked).
    #[inline]
    pub(crate) fn generation(&self, cell: u32) -> Option<u32> {
        self.gens.load(cell)
    }

    /// Sends one request and waits for its answer. Calls from a forked child use a connection
    /// of their own, so the agent sees the child's credentials.
    pub(crate) fn call(&self, req: &Request, fds: &[BorrowedFd<'_>]) -> Result<(Response, Vec<OwnedFd>)> {
        let frame = rsm_proto::encode(req);
        let mut guard = lock(&self.conn);
        let pid = std::process::id();
        if guard.as_ref().is_none_or(|c| c.pid != pid) {
            // A forked child (or a connection lost earlier): connect anew.
            let (fd, node, _g) = hello(&self.socket).map_err(|msg| {
                tracing::warn!("{msg}");
                Error::ConnAborted
            })?;
            if node != self.node_id {
                return Err(Error::ConnAborted);
            }
            *guard = Some(Conn { pid, fd });
        }
        let conn = guard.as_ref().ok_or(Error::ConnAborted)?;
        let mut buf = Vec::new();
        let res = (|| -> std::result::Result<(Response, Vec<OwnedFd>), Errno> {
            rsm_os::uds::send(&conn.fd, &frame, fds)?;
            let rfds = rsm_os::uds::recv(&conn.fd, &mut buf)?.ok_or(Errno::CONNRESET)?;
            let resp = rsm_proto::decode::<Response>(&buf).map_err(|_| Errno::PROTO)?;
            Ok((resp, rfds))
        })();
        match res {
            Ok((Response::Err { code }, _)) => Err(Error::from_wire(code)),
            Ok(r) => Ok(r),
            // The answer came whole but this process is out of descriptors, so the ones it
            // carried were lost. The connection is fine: keep it (dropping it would make the
            // agent revoke everything this process has). A connect that was granted is given
            // back, since nothing here can use it.
            Err(Errno::MFILE) => {
                if let Ok(Response::Connected { import, .. }) = rsm_proto::decode::<Response>(&buf) {
                    let undo = rsm_proto::encode(&Request::ImportDisconnect { import });
                    let mut ans = Vec::new();
                    let gone = rsm_os::uds::send(&conn.fd, &undo, &[]).and_then(|()| {
                        // Its answer carries no descriptor.
                        rsm_os::uds::recv(&conn.fd, &mut ans).map(|_| ())
                    });
                    if gone.is_err() {
                        *guard = None;
                    }
                }
                tracing::warn!(socket = %self.socket.display(), "out of descriptors: an answer's descriptors were lost");
                Err(Error::InsufficientResources)
            }
            Err(e) => {
                tracing::warn!(socket = %self.socket.display(), "lost the connection to rsmd: {e}");
                *guard = None;
                Err(Error::ConnAborted)
            }
        }
    }
}
