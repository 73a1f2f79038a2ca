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

/// The connection and what belongs to the agent incarnation behind it.
struct State {
    conn: Option<Conn>,
    /// Bumped each time the connection is made anew after it was lost: the agent may have
    /// restarted and forgotten every object of this process, and numbers new ones from 1
    /// again, so a handle made before must not reach it (it could name another object).
    epoch: u64,
    /// That agent's generation table.
    gens: Arc<GenTable>,
}

/// What an object-creating request was answered by: the agent incarnation its handle belongs
/// to (see [`Node::call_in`]) and that agent's generation table.
pub(crate) struct Incarnation {
    pub(crate) epoch: u64,
    pub(crate) gens: Arc<GenTable>,
}

/// One node agent as seen from this process.
pub(crate) struct Node {
    socket: PathBuf,
    node_id: u32,
    state: Mutex<State>,
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
        let gens = Arc::new(GenTable::open(&gfd).map_err(|_| Error::InsufficientResources)?);
        let n = Arc::new(Node {
            socket: socket.to_path_buf(),
            node_id,
            state: Mutex::new(State { conn: Some(Conn { pid: std::process::id(), fd }), epoch: 0, gens }),
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

    /// Sends one request and waits for its answer. Calls from a forked child use a connection
    /// of their own, so the agent sees the child's credentials.
    pub(crate) fn call(&self, req: &Request, fds: &[BorrowedFd<'_>]) -> Result<(Response, Vec<OwnedFd>)> {
        self.exchange(None, req, fds).map(|(r, f, _)| (r, f))
    }

    /// As [`Node::call`], for a request that creates an object: also says which agent
    /// incarnation the object belongs to.
    pub(crate) fn call_new(
        &self,
        req: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Vec<OwnedFd>, Incarnation)> {
        self.exchange(None, req, fds)
    }

    /// As [`Node::call`], for a request about an object made under agent incarnation
    /// `epoch`: when the connection has been made anew since (the agent that knew the object
    /// is gone), fails with [`Error::ConnAborted`] without sending anything.
    pub(crate) fn call_in(
        &self,
        epoch: u64,
        req: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Vec<OwnedFd>)> {
        self.exchange(Some(epoch), req, fds).map(|(r, f, _)| (r, f))
    }

    fn exchange(
        &self,
        epoch: Option<u64>,
        req: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Vec<OwnedFd>, Incarnation)> {
        let frame = rsm_proto::encode(req);
        let mut st = lock(&self.state);
        let pid = std::process::id();
        if st.conn.as_ref().is_none_or(|c| c.pid != pid) {
            // A forked child (same agent: its objects stay valid, and the agent refuses the
            // parent's to it) or a connection lost earlier (maybe another agent now).
            let lost = st.conn.is_none();
            if lost && epoch.is_some() {
                // Whatever agent answers now does not know the handle's object (an agent
                // forgets everything of a client whose connection closes).
                return Err(Error::ConnAborted);
            }
            let (fd, node, g) = hello(&self.socket).map_err(|msg| {
                tracing::warn!("{msg}");
                Error::ConnAborted
            })?;
            if node != self.node_id {
                return Err(Error::ConnAborted);
            }
            if lost {
                st.gens = Arc::new(GenTable::open(&g).map_err(|_| Error::InsufficientResources)?);
                st.epoch += 1;
            }
            st.conn = Some(Conn { pid, fd });
        }
        if epoch.is_some_and(|e| e != st.epoch) {
            return Err(Error::ConnAborted);
        }
        let inc = Incarnation { epoch: st.epoch, gens: st.gens.clone() };
        let conn = st.conn.as_ref().ok_or(Error::ConnAborted)?;
        let mut buf = Vec::new();
        let res = (|| -> std::result::Result<(Response, Vec<OwnedFd>), Errno> {
            rsm_os::uds::send(&conn.fd, &frame, fds)?;
            let rfds = rsm_os::uds::recv(&conn.fd, &mut buf)?.ok_or(Errno::CONNRESET)?;
            let resp = rsm_proto::decode::<Response>(&buf).map_err(|_| Errno::PROTO)?;
            Ok((resp, rfds))
        })();
        match res {
            Ok((Response::Err { code }, _)) => Err(Error::from_wire(code)),
            Ok((r, f)) => Ok((r, f, inc)),
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
                        st.conn = None;
                    }
                }
                tracing::warn!(socket = %self.socket.display(), "out of descriptors: an answer's descriptors were lost");
                Err(Error::InsufficientResources)
            }
            Err(e) => {
                tracing::warn!(socket = %self.socket.display(), "lost the connection to rsmd: {e}");
                st.conn = None;
                Err(Error::ConnAborted)
            }
        }
    }
}
