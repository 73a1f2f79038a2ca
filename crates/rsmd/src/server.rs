//! The local server: accepts client processes on the Unix socket and answers their requests
//! from the registry, one thread per client.

use crate::cluster::Cluster;
use crate::config::Config;
use crate::registry::{Effect, Registry, code};
use rsm_os::{AsFd, BorrowedFd, OwnedFd};
use rsm_proto::{Request, Response};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another agent answers on the socket.
    #[error("an agent is already listening on {0}")]
    InUse(PathBuf),
    /// The socket could not be created.
    #[error("cannot listen on {path}")]
    Listen {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The socket path names something that is not a socket (never removed).
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// Other setup failure.
    #[error("{0}")]
    Setup(#[from] std::io::Error),
    /// The cluster part of the configuration cannot be used.
    #[error("{0}")]
    Cluster(String),
}

struct Shared {
    registry: Arc<Mutex<Registry>>,
    cluster: Option<Arc<Cluster>>,
    stopping: AtomicBool,
    clients: Mutex<Vec<(u64, Arc<OwnedFd>)>>,
    next_client: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running agent. Dropping it stops it.
pub struct Agent {
    shared: Arc<Shared>,
    socket: PathBuf,
    node_id: u32,
    listener: Option<Arc<OwnedFd>>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("socket", &self.socket).field("node_id", &self.node_id).finish()
    }
}

fn prepare_socket(path: &Path) -> Result<(), StartError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| StartError::Listen { path: path.into(), source: e })?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(StartError::NotASocket(path.into()));
        }
        if rsm_os::uds::connect(path).is_ok() {
            return Err(StartError::InUse(path.into()));
        }
        // A socket left behind by an agent that died.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

impl Agent {
    /// Starts an agent: binds its socket and serves clients on background threads.
    ///
    /// # Errors
    ///
    /// [`StartError`].
    pub fn start(cfg: &Config) -> Result<Agent, StartError> {
        cfg.validate().map_err(|e| StartError::Cluster(e.to_string()))?;
        prepare_socket(&cfg.socket)?;
        let listener = rsm_os::uds::listen(&cfg.socket)
            .map_err(|e| StartError::Listen { path: cfg.socket.clone(), source: e.into() })?;
        // Any local user may connect; every operation checks its caller's credentials.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&cfg.socket, std::fs::Permissions::from_mode(0o666));
        // A start that fails from here on leaves no socket behind.
        let unbind = |e: StartError| {
            let _ = std::fs::remove_file(&cfg.socket);
            e
        };
        let registry = Arc::new(Mutex::new(Registry::new(cfg).map_err(|e| unbind(e.into()))?));
        let cluster = Cluster::bind(cfg, registry.clone()).map_err(|e| unbind(StartError::Cluster(e)))?;
        let shared = Arc::new(Shared {
            registry,
            cluster: cluster.clone(),
            stopping: AtomicBool::new(false),
            clients: Mutex::new(Vec::new()),
            next_client: AtomicU64::new(1),
        });
        let listener = Arc::new(listener);
        let (s2, l2) = (shared.clone(), listener.clone());
        let accept_thread = std::thread::Builder::new()
            .name("rsmd-accept".into())
            .spawn(move || accept_loop(s2, l2))
            .map_err(|e| unbind(e.into()))?;
        if let Some(c) = &cluster {
            c.start();
        }
        tracing::info!(node = cfg.node_id, socket = %cfg.socket.display(), "rsmd listening");
        Ok(Agent {
            shared,
            socket: cfg.socket.clone(),
            node_id: cfg.node_id,
            listener: Some(listener),
            accept_thread: Some(accept_thread),
        })
    }

    /// The socket clients connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// This node's id.
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// Stops accepting, disconnects every client (their segments are revoked), and removes
    /// the socket.
    pub fn stop(&mut self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(l) = self.listener.take() {
            let _ = rustix::net::shutdown(&*l, rustix::net::Shutdown::Both);
        }
        // Wake accept() in case shutdown did not.
        let _ = rsm_os::uds::connect(&self.socket);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        for (_, fd) in lock(&self.shared.clients).iter() {
            let _ = rustix::net::shutdown(&**fd, rustix::net::Shutdown::Both);
        }
        if let Some(c) = &self.shared.cluster {
            c.stop();
        }
        let _ = std::fs::remove_file(&self.socket);
        tracing::info!(socket = %self.socket.display(), "rsmd stopped");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(shared: Arc<Shared>, listener: Arc<OwnedFd>) {
    loop {
        let fd = match rsm_os::uds::accept(&*listener) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                if !shared.stopping.load(Ordering::SeqCst) {
                    tracing::error!("accept failed: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
                return;
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let id = shared.next_client.fetch_add(1, Ordering::Relaxed);
        let fd = Arc::new(fd);
        lock(&shared.clients).push((id, fd.clone()));
        let s2 = shared.clone();
        let r = std::thread::Builder::new()
            .name(format!("rsmd-client-{id}"))
            .stack_size(256 * 1024)
            .spawn(move || serve_client(s2, fd, id));
        if let Err(e) = r {
            tracing::error!("cannot start a client thread: {e}");
            lock(&shared.clients).retain(|(c, _)| *c != id);
        }
    }
}

fn serve_client(shared: Arc<Shared>, fd: Arc<OwnedFd>, id: u64) {
    let cred = match rsm_os::creds::peer(&*fd) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot read peer credentials: {e}");
            lock(&shared.clients).retain(|(c, _)| *c != id);
            return;
        }
    };
    let span = tracing::debug_span!("client", id, pid = cred.pid, uid = cred.uid);
    let _g = span.enter();
    tracing::debug!("connected");
    lock(&shared.registry).add_client(id, cred);
    let mut buf = Vec::new();
    let mut greeted = false;
    loop {
        let fds = match rsm_os::uds::recv(&*fd, &mut buf) {
            Ok(Some(fds)) => fds,
            Ok(None) => break,
            // The request came without (all of) its descriptors: the agent is out of them
            // (RLIMIT_NOFILE). Refuse this request and keep the client: dropping the
            // connection would revoke everything it has.
            Err(rustix::io::Errno::MFILE) if greeted => {
                tracing::warn!("out of descriptors (RLIMIT_NOFILE): refusing a request with INSUFFICIENT_RESOURCES");
                let resp = rsm_proto::encode(&Response::Err { code: code::INSUFFICIENT_RESOURCES });
                if let Err(e) = rsm_os::uds::send(&*fd, &resp, &[]) {
                    tracing::debug!("send failed: {e}");
                    break;
                }
                continue;
            }
            Err(e) => {
                tracing::debug!("receive failed: {e}");
                break;
            }
        };
        let req = match rsm_proto::decode::<Request>(&buf) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("malformed request, dropping the connection: {e}");
                break;
            }
        };
        if !greeted && !matches!(req, Request::Hello { .. }) {
            tracing::warn!("first message is not Hello, dropping the connection");
            break;
        }
        greeted = true;
        if matches!(req, Request::ExportPublish { .. }) {
            let mut reg = lock(&shared.registry);
            if reg.wants_pidfd(id) {
                // Taken once, at the first publish: only exporters pay a descriptor for it.
                match rsm_os::creds::peer_pidfd(&*fd) {
                    Ok(p) => reg.set_client_pidfd(id, p),
                    Err(e) => tracing::debug!("no pidfd of the peer ({e}): the agent holds its segments' memory"),
                }
            }
        }
        let (resp, out) = handle(&shared, id, req, fds);
        let out_fds: Vec<BorrowedFd<'_>> = out.iter().map(|f| f.as_fd()).collect();
        if let Err(e) = rsm_os::uds::send(&*fd, &rsm_proto::encode(&resp), &out_fds) {
            tracing::debug!("send failed: {e}");
            break;
        }
    }
    let effects = {
        let mut reg = lock(&shared.registry);
        reg.remove_client(id);
        reg.take_effects()
    };
    execute(&shared, effects);
    lock(&shared.clients).retain(|(c, _)| *c != id);
    tracing::debug!("disconnected");
}

fn err(code: u16) -> (Response, Vec<Arc<OwnedFd>>) {
    (Response::Err { code }, Vec::new())
}

fn execute(shared: &Shared, effects: Vec<Effect>) {
    for e in effects {
        match e {
            Effect::Link { controller, node, msg } => {
                if let Some(c) = &shared.cluster {
                    c.send(&controller, node, &msg);
                }
            }
            Effect::Revoke(s) => s.revoke(),
        }
    }
}

fn handle(shared: &Shared, client: u64, req: Request, fds: Vec<OwnedFd>) -> (Response, Vec<Arc<OwnedFd>>) {
    if let Request::ImportConnect { controller, node, segment_id, perm } = &req {
        let local = lock(&shared.registry).node_id();
        if *node != local && controller != "loopback" {
            return connect_remote(shared, client, controller, *node, *segment_id, *perm, fds);
        }
    }
    let (r, effects) = {
        let mut reg = lock(&shared.registry);
        let r = handle_locked(&mut reg, client, req, fds);
        (r, reg.take_effects())
    };
    execute(shared, effects);
    r
}

/// A connect to a segment of another node: decided there, over the controller's link. The
/// registry lock is not held while waiting for the answer.
fn connect_remote(
    shared: &Shared,
    client: u64,
    controller: &str,
    node: u32,
    segment_id: u32,
    perm: u32,
    fds: Vec<OwnedFd>,
) -> (Response, Vec<Arc<OwnedFd>>) {
    let Some(cluster) = &shared.cluster else { return err(code::CTLR_NOT_PRESENT) };
    let [event]: [OwnedFd; 1] = match fds.try_into() {
        Ok(f) => f,
        Err(_) => return err(code::BAD_ARGS_ERRORS),
    };
    let (import, cell, cred) = match lock(&shared.registry).remote_connect_begin(client, controller, node, perm) {
        Ok(v) => v,
        Err(c) => return err(c),
    };
    let granted = cluster.connect(controller, node, import, segment_id, perm, cred.uid, cred.gid, cred.groups.clone());
    let addr = lock(&shared.registry).peer_addr(controller, node).map(str::to_string);
    let ticket = granted.as_ref().ok().map(|g| g.1.clone());
    let (r, effects) = {
        let mut reg = lock(&shared.registry);
        let r = reg.remote_connect_finish(
            client,
            controller,
            node,
            import,
            cell,
            event,
            granted.map(|(rf, _, size, rights)| (rf, size, rights)),
        );
        (r, reg.take_effects())
    };
    execute(shared, effects);
    match (r, addr, ticket) {
        (Ok(c), Some(addr), Some(ticket)) => {
            let import_ref = match lock(&shared.registry).remote_ref(c.import) {
                Some(r) => r,
                None => return err(code::CONN_ABORTED),
            };
            (
                Response::Connected {
                    import: c.import,
                    size: c.size,
                    rights: c.rights,
                    gen_cell: c.gen_cell,
                    generation: c.generation,
                    remote: Some(rsm_proto::RemoteAccess { addr, import_ref, ticket }),
                },
                Vec::new(),
            )
        }
        (Err(c), _, _) => err(c),
        _ => err(code::INTERNAL_ERROR),
    }
}

fn handle_locked(reg: &mut Registry, client: u64, req: Request, fds: Vec<OwnedFd>) -> (Response, Vec<Arc<OwnedFd>>) {
    let r = match req {
        Request::Hello { version } => {
            if version != rsm_proto::VERSION {
                return err(101);
            }
            let g = match rustix::io::dup(reg.gens_fd()) {
                Ok(g) => g,
                Err(_) => return err(code::INSUFFICIENT_RESOURCES),
            };
            return (Response::Hello { node: reg.node_id() }, vec![Arc::new(g)]);
        }
        Request::GetController { name } => reg.controller_attr(&name).map(|attr| Response::Controller { attr }),
        Request::Topology => Ok(Response::Topology(reg.topology())),
        Request::ExportCreate { controller, size, flags, mode } => {
            reg.export_create(client, &controller, size, flags, mode).map(|export| Response::ExportCreated { export })
        }
        Request::ExportPublish { export, segment_id, acl, memfd_slot } => reg
            .export_publish(client, export, segment_id, acl, memfd_slot, fds)
            .map(|segment_id| Response::Published { segment_id }),
        Request::ExportRepublish { export, acl } => reg.export_republish(client, export, acl).map(|()| Response::Ok),
        Request::ExportUnpublish { export } => reg.export_unpublish(client, export).map(|()| Response::Ok),
        Request::ExportDestroy { export } => reg.export_destroy(client, export).map(|()| Response::Ok),
        Request::ExportPost { export, no_accumulate } => {
            reg.export_post(client, export, no_accumulate).map(|()| Response::Ok)
        }
        Request::ImportConnect { controller, node, segment_id, perm } => {
            match reg.import_connect(client, &controller, node, segment_id, perm, fds) {
                Ok(c) => {
                    let fds = c.local.map(|(m, e)| vec![m, e]).unwrap_or_default();
                    return (
                        Response::Connected {
                            import: c.import,
                            size: c.size,
                            rights: c.rights,
                            gen_cell: c.gen_cell,
                            generation: c.generation,
                            remote: None,
                        },
                        fds,
                    );
                }
                Err(e) => Err(e),
            }
        }
        Request::ImportDisconnect { import } => reg.import_disconnect(client, import).map(|()| Response::Ok),
        Request::ImportPost { import, no_accumulate } => {
            reg.import_post(client, import, no_accumulate).map(|()| Response::Ok)
        }
        Request::Status => Ok(Response::Status(reg.status())),
        Request::Segments => Ok(Response::Segments(reg.segments_info())),
    };
    match r {
        Ok(resp) => (resp, Vec::new()),
        Err(code) => {
            tracing::debug!(code, "request failed");
            err(code)
        }
    }
}
