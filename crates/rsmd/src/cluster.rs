//! The network side of an agent: one TCP listener per controller, an authenticated link to
//! every peer with heartbeats (path health), remote connect decisions, and the data server
//! that reads and writes exported memory for importing processes on other nodes.
//!
//! Every TCP connection starts with a 4-byte preamble: `RSML` for an agent link (then the
//! HMAC handshake of [`handshake_dialer`]/[`handshake_acceptor`] with the cluster key), `RSMD`
//! for a data connection (then a `Hello` frame with the import's ticket). Anything else, a
//! failed handshake or a wrong ticket ends the connection without a word.

use crate::config::{Config, Health};
use crate::registry::{Effect, Registry, Served, code};
use hmac::{Hmac, Mac};
use rsm_proto::data::{self, Header, Op};
use rsm_proto::{LinkMsg, NONCE_LEN};
use sha2::Sha256;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const LINK_PREAMBLE: &[u8; 4] = b"RSML";
const DATA_PREAMBLE: &[u8; 4] = b"RSMD";
const STATE_DOWN: u32 = 1;
const STATE_ACTIVE: u32 = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads the cluster key file, refusing one that others can read.
///
/// # Errors
///
/// A message for the operator.
pub fn read_key(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("cluster key {}: {e}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "cluster key {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        ));
    }
    let text = std::fs::read(path).map_err(|e| format!("cluster key {}: {e}", path.display()))?;
    let key: Vec<u8> = text.trim_ascii().to_vec();
    if key.len() < 16 {
        return Err(format!("cluster key {} is shorter than 16 bytes", path.display()));
    }
    Ok(key)
}

/// The HMAC state over one handshake's transcript: label, both nonces (length-prefixed), both
/// node ids and the controller name.
fn transcript(
    key: &[u8],
    label: &[u8],
    a: &[u8],
    b: &[u8],
    dialer: u32,
    acceptor: u32,
    controller: &str,
) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(label);
    m.update(&(a.len() as u32).to_le_bytes());
    m.update(a);
    m.update(&(b.len() as u32).to_le_bytes());
    m.update(b);
    m.update(&dialer.to_le_bytes());
    m.update(&acceptor.to_le_bytes());
    m.update(controller.as_bytes());
    m
}

fn mac(key: &[u8], label: &[u8], a: &[u8], b: &[u8], dialer: u32, acceptor: u32, controller: &str) -> Vec<u8> {
    transcript(key, label, a, b, dialer, acceptor, controller).finalize().into_bytes().to_vec()
}

/// Checks `tag` in constant time.
#[allow(clippy::too_many_arguments)]
fn verify(
    key: &[u8],
    label: &[u8],
    a: &[u8],
    b: &[u8],
    dialer: u32,
    acceptor: u32,
    controller: &str,
    tag: &[u8],
) -> bool {
    transcript(key, label, a, b, dialer, acceptor, controller).verify_slice(tag).is_ok()
}

fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    let _ = rustix::rand::getrandom(&mut n, rustix::rand::GetRandomFlags::empty());
    n
}

fn write_msg(w: &mut impl Write, msg: &LinkMsg) -> std::io::Result<()> {
    w.write_all(&rsm_proto::frame_link(msg))
}

fn read_msg(r: &mut impl Read) -> std::io::Result<LinkMsg> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = rsm_proto::link::frame_len(len).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    rsm_proto::decode(&buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// One controller's link to one peer: our outgoing connection (requests and notifications go
/// out on it, answers come back on it).
struct Link {
    controller: String,
    node: u32,
    addr: String,
    state: AtomicU32,
    writer: Mutex<Option<TcpStream>>,
    pending: Mutex<HashMap<u64, SyncSender<LinkMsg>>>,
    last_heard: Mutex<Instant>,
}

/// The network side of one agent.
pub(crate) struct Cluster {
    node_id: u32,
    key: Vec<u8>,
    health: Health,
    registry: Arc<Mutex<Registry>>,
    links: HashMap<(String, u32), Arc<Link>>,
    listeners: Mutex<Vec<(String, Arc<TcpListener>)>>,
    next_req: AtomicU64,
    stopping: AtomicBool,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Cluster {
    /// Binds every controller's listener (so start-up fails early on a busy port).
    pub(crate) fn bind(cfg: &Config, registry: Arc<Mutex<Registry>>) -> Result<Option<Arc<Cluster>>, String> {
        let ctls = cfg.local_controllers();
        if ctls.is_empty() {
            return Ok(None);
        }
        let key = read_key(cfg.cluster_key.as_deref().ok_or("no cluster_key configured")?)?;
        let mut listeners = Vec::new();
        let mut links = HashMap::new();
        for (name, addr) in &ctls {
            let l = TcpListener::bind(addr).map_err(|e| format!("{name}: cannot listen on {addr}: {e}"))?;
            listeners.push((name.clone(), Arc::new(l)));
            for (node, paddr) in cfg.peers(name) {
                links.insert(
                    (name.clone(), node),
                    Arc::new(Link {
                        controller: name.clone(),
                        node,
                        addr: paddr,
                        state: AtomicU32::new(STATE_DOWN),
                        writer: Mutex::new(None),
                        pending: Mutex::new(HashMap::new()),
                        last_heard: Mutex::new(Instant::now()),
                    }),
                );
            }
        }
        Ok(Some(Arc::new(Cluster {
            node_id: cfg.node_id,
            key,
            health: cfg.health.clone(),
            registry,
            links,
            listeners: Mutex::new(listeners),
            next_req: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })))
    }

    /// Starts the acceptors and one dialer per link.
    pub(crate) fn start(self: &Arc<Self>) {
        let listeners = lock(&self.listeners).clone();
        let mut threads = lock(&self.threads);
        for (name, l) in listeners {
            let me = self.clone();
            if let Ok(t) =
                std::thread::Builder::new().name(format!("rsmd-{name}-accept")).spawn(move || me.accept_loop(&name, l))
            {
                threads.push(t);
            }
        }
        for link in self.links.values() {
            let (me, link) = (self.clone(), link.clone());
            if let Ok(t) = std::thread::Builder::new()
                .name(format!("rsmd-{}-n{}", link.controller, link.node))
                .spawn(move || me.dial_loop(link))
            {
                threads.push(t);
            }
        }
    }

    /// Stops every thread and closes every connection.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept()s.
        for (_, l) in lock(&self.listeners).iter() {
            let _ = rustix::net::shutdown(&**l, rustix::net::Shutdown::Read);
        }
        for link in self.links.values() {
            if let Some(w) = lock(&link.writer).take() {
                let _ = w.shutdown(std::net::Shutdown::Both);
            }
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }

    fn execute(&self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Link { controller, node, msg } => self.send(&controller, node, &msg),
                Effect::Revoke(s) => s.revoke(),
            }
        }
    }

    fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let (r, effects) = {
            let mut reg = lock(&self.registry);
            let r = f(&mut reg);
            (r, reg.take_effects())
        };
        self.execute(effects);
        r
    }

    /// Sends a one-way message to a peer (dropped if the path is down: the peer then learns
    /// of the failure from the path itself).
    pub(crate) fn send(&self, controller: &str, node: u32, msg: &LinkMsg) {
        let Some(link) = self.links.get(&(controller.to_string(), node)) else { return };
        let mut w = lock(&link.writer);
        if let Some(s) = w.as_mut() {
            if write_msg(s, msg).is_err() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Asks `node` for a segment on behalf of a local process. Returns (remote ref, ticket,
    /// size, rights) or an RSMERR code.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        &self,
        controller: &str,
        node: u32,
        import: u64,
        segment_id: u32,
        perm: u32,
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
    ) -> Result<(u64, Vec<u8>, u64, u32), u16> {
        let link = self.links.get(&(controller.to_string(), node)).ok_or(code::REMOTE_NODE_UNREACHABLE)?;
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(1);
        lock(&link.pending).insert(req, tx);
        {
            let mut w = lock(&link.writer);
            let ok = match w.as_mut() {
                Some(s) => write_msg(s, &LinkMsg::Connect { req, import, segment_id, perm, uid, gid, groups }).is_ok(),
                None => false,
            };
            if !ok {
                lock(&link.pending).remove(&req);
                return Err(code::REMOTE_NODE_UNREACHABLE);
            }
        }
        let r = rx.recv_timeout(Duration::from_millis(self.health.connect_timeout_ms));
        lock(&link.pending).remove(&req);
        match r {
            Ok(LinkMsg::Granted { remote, ticket, size, rights, .. }) => Ok((remote, ticket, size, rights)),
            Ok(LinkMsg::Refused { code, .. }) => Err(code),
            _ => Err(code::REMOTE_NODE_UNREACHABLE),
        }
    }

    fn set_state(&self, link: &Link, state: u32) {
        let old = link.state.swap(state, Ordering::SeqCst);
        lock(&self.registry).set_path_state(&link.controller, link.node, state);
        if old == STATE_ACTIVE && state != STATE_ACTIVE {
            tracing::warn!(controller = %link.controller, node = link.node, "path down");
            self.with_registry(|r| r.peer_down(&link.controller, link.node));
        } else if state == STATE_ACTIVE && old != STATE_ACTIVE {
            tracing::info!(controller = %link.controller, node = link.node, "path active");
        }
    }

    /// Keeps our outgoing connection to one peer alive: dial, authenticate, heartbeat; on
    /// silence or error mark the path down and dial again.
    fn dial_loop(self: Arc<Self>, link: Arc<Link>) {
        let beat = Duration::from_millis(self.health.heartbeat_ms);
        let dead = Duration::from_millis(self.health.dead_after_ms);
        while !self.stopping.load(Ordering::SeqCst) {
            let stream = match self.dial(&link, dead) {
                Ok(s) => s,
                Err(e) => {
                    tracing::trace!(controller = %link.controller, node = link.node, "dial failed: {e}");
                    self.set_state(&link, STATE_DOWN);
                    std::thread::sleep(beat);
                    continue;
                }
            };
            let Ok(reader) = stream.try_clone() else { continue };
            *lock(&link.last_heard) = Instant::now();
            *lock(&link.writer) = Some(stream);
            self.set_state(&link, STATE_ACTIVE);
            let alive = Arc::new(AtomicBool::new(true));
            let (l2, a2) = (link.clone(), alive.clone());
            let dialer = std::thread::current();
            let rt = std::thread::Builder::new().name("rsmd-link-rx".into()).spawn(move || {
                let mut r = reader;
                while let Ok(msg) = read_msg(&mut r) {
                    *lock(&l2.last_heard) = Instant::now();
                    match msg {
                        LinkMsg::Granted { req, .. } | LinkMsg::Refused { req, .. } => {
                            if let Some(tx) = lock(&l2.pending).remove(&req) {
                                let _ = tx.try_send(msg);
                            }
                        }
                        _ => {}
                    }
                }
                a2.store(false, Ordering::SeqCst);
                // The peer closed the link (e.g. its agent died): mark the path down now, not
                // at the next heartbeat.
                dialer.unpark();
            });
            let mut seq = 0u64;
            while !self.stopping.load(Ordering::SeqCst) && alive.load(Ordering::SeqCst) {
                seq += 1;
                {
                    let mut w = lock(&link.writer);
                    let ok = w.as_mut().is_some_and(|s| write_msg(s, &LinkMsg::Ping { seq }).is_ok());
                    if !ok {
                        break;
                    }
                }
                let next = Instant::now() + beat;
                while alive.load(Ordering::SeqCst) && Instant::now() < next {
                    std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                }
                if lock(&link.last_heard).elapsed() > dead {
                    // An answer waiting in the socket means the peer is alive and this agent's
                    // receiving thread has not run (a starved machine): not a dead path.
                    if answer_waiting(&link) {
                        tracing::debug!(controller = %link.controller, node = link.node, "late reading the peer's answers");
                        continue;
                    }
                    tracing::debug!(controller = %link.controller, node = link.node, "no answer for {dead:?}");
                    break;
                }
            }
            if let Some(s) = lock(&link.writer).take() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            if let Ok(t) = rt {
                let _ = t.join();
            }
            lock(&link.pending).clear();
            self.set_state(&link, STATE_DOWN);
            if !self.stopping.load(Ordering::SeqCst) {
                std::thread::sleep(beat);
            }
        }
    }

    fn dial(&self, link: &Link, dead: Duration) -> std::io::Result<TcpStream> {
        let addr: SocketAddr = link.addr.parse().map_err(|_| std::io::Error::other("bad address"))?;
        let mut s = TcpStream::connect_timeout(&addr, dead)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(dead))?;
        s.write_all(LINK_PREAMBLE)?;
        self.handshake_dialer(&mut s, link)?;
        // After the handshake, silence is detected by the heartbeat, not by read timeouts.
        s.set_read_timeout(None)?;
        Ok(s)
    }

    /// Dialer side: Hello → Challenge (check the acceptor's MAC) → Proof.
    fn handshake_dialer(&self, s: &mut TcpStream, link: &Link) -> std::io::Result<()> {
        let na = nonce();
        write_msg(
            s,
            &LinkMsg::Hello {
                from: self.node_id,
                to: link.node,
                controller: link.controller.clone(),
                nonce: na.clone(),
            },
        )?;
        let LinkMsg::Challenge { nonce: nb, mac: m } = read_msg(s)? else {
            return Err(std::io::Error::other("expected a challenge"));
        };
        if !verify(&self.key, b"rsm-link-acceptor", &na, &nb, self.node_id, link.node, &link.controller, &m) {
            return Err(std::io::Error::other("the peer does not hold the cluster key"));
        }
        let proof = mac(&self.key, b"rsm-link-dialer", &na, &nb, self.node_id, link.node, &link.controller);
        write_msg(s, &LinkMsg::Proof { mac: proof })
    }

    fn accept_loop(self: Arc<Self>, controller: &str, l: Arc<TcpListener>) {
        while !self.stopping.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((s, peer)) => {
                    let me = self.clone();
                    let c = controller.to_string();
                    let _ = std::thread::Builder::new().name("rsmd-tcp-conn".into()).stack_size(256 * 1024).spawn(
                        move || {
                            if let Err(e) = me.serve_conn(&c, s) {
                                tracing::debug!(%peer, "connection ended: {e}");
                            }
                        },
                    );
                }
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(e) => {
                    tracing::warn!("accept on {controller}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn serve_conn(&self, controller: &str, mut s: TcpStream) -> std::io::Result<()> {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(self.health.dead_after_ms.max(2000))))?;
        let mut pre = [0u8; 4];
        s.read_exact(&mut pre)?;
        match &pre {
            LINK_PREAMBLE => self.serve_link(controller, s),
            DATA_PREAMBLE => self.serve_data(s),
            _ => Err(std::io::Error::other("unknown preamble")),
        }
    }

    /// Acceptor side of a link: authenticate, then answer pings and requests and apply
    /// notifications until the peer goes quiet.
    fn serve_link(&self, controller: &str, mut s: TcpStream) -> std::io::Result<()> {
        let LinkMsg::Hello { from, to, controller: c, nonce: na } = read_msg(&mut s)? else {
            return Err(std::io::Error::other("expected hello"));
        };
        if to != self.node_id
            || c != controller
            || !self.links.contains_key(&(controller.to_string(), from))
            || na.len() != NONCE_LEN
        {
            return Err(std::io::Error::other(format!("unexpected hello from node {from} for node {to} on {c}")));
        }
        let nb = nonce();
        let m = mac(&self.key, b"rsm-link-acceptor", &na, &nb, from, self.node_id, controller);
        write_msg(&mut s, &LinkMsg::Challenge { nonce: nb.clone(), mac: m })?;
        let LinkMsg::Proof { mac: proof } = read_msg(&mut s)? else {
            return Err(std::io::Error::other("expected proof"));
        };
        if !verify(&self.key, b"rsm-link-dialer", &na, &nb, from, self.node_id, controller, &proof) {
            return Err(std::io::Error::other(format!("node {from} failed the key check")));
        }
        tracing::debug!(controller, node = from, "link accepted");
        s.set_read_timeout(Some(Duration::from_millis(self.health.dead_after_ms)))?;
        let mut w = s.try_clone()?;
        let r = loop {
            if self.stopping.load(Ordering::SeqCst) {
                break Ok(());
            }
            let msg = match read_msg(&mut s) {
                Ok(m) => m,
                Err(e) => break Err(e),
            };
            match msg {
                LinkMsg::Ping { seq } => write_msg(&mut w, &LinkMsg::Pong { seq })?,
                LinkMsg::Connect { req, import, segment_id, perm, uid, gid, groups } => {
                    let reply = match self.with_registry(|r| {
                        r.serve_connect(controller, from, import, segment_id, perm, uid, gid, &groups)
                    }) {
                        Ok((remote, ticket, size, rights)) => {
                            LinkMsg::Granted { req, remote, ticket: ticket.to_vec(), size, rights }
                        }
                        Err(code) => LinkMsg::Refused { req, code },
                    };
                    write_msg(&mut w, &reply)?;
                }
                LinkMsg::Disconnect { remote } => self.with_registry(|r| r.remote_disconnect(from, remote)),
                LinkMsg::Revoke { imports } => self.with_registry(|r| r.revoke_imports(from, &imports)),
                LinkMsg::Signal { imports, no_accumulate } => {
                    self.with_registry(|r| r.signal_imports(from, &imports, no_accumulate))
                }
                other => tracing::debug!("unexpected link message {other:?}"),
            }
        };
        // The peer's outgoing side is gone: whatever it was doing through this path failed.
        if !self.stopping.load(Ordering::SeqCst) {
            tracing::debug!(controller, node = from, "incoming link closed");
            self.with_registry(|r| r.peer_down(controller, from));
        }
        r
    }

    /// Serves one importing process: reads and writes the exporter's memory itself.
    fn serve_data(&self, mut s: TcpStream) -> std::io::Result<()> {
        let mut hb = [0u8; data::HEADER_LEN];
        s.read_exact(&mut hb)?;
        let h = Header::decode(&hb).map_err(std::io::Error::other)?;
        if h.op != Op::Hello || h.len as usize != data::TICKET_LEN {
            return Err(std::io::Error::other("expected a data hello"));
        }
        let mut ticket = [0u8; data::TICKET_LEN];
        s.read_exact(&mut ticket)?;
        let Some(served) = lock(&self.registry).data_hello(h.offset, &ticket) else {
            return Err(std::io::Error::other("bad ticket"));
        };
        let conn = Arc::new(crate::registry::DataConn { writer: Mutex::new(s.try_clone()?) });
        lock(&served.conns).push(conn.clone());
        if served.revoked.load(Ordering::SeqCst) {
            conn.revoke();
            return Ok(());
        }
        s.set_read_timeout(None)?;
        conn.reply(Header::new(Op::Status, 0, 0, 0, served.size))?;
        let r = serve_frames(&mut s, &served, &conn, Duration::from_micros(self.health.data_spin_us));
        lock(&served.conns).retain(|c| !Arc::ptr_eq(c, &conn));
        r
    }
}

impl crate::registry::DataConn {
    fn reply(&self, h: Header) -> std::io::Result<()> {
        let w = lock(&self.writer);
        (&*w).write_all(&h.encode())
    }

    fn reply_data(&self, h: Header, payload: &[u8]) -> std::io::Result<()> {
        let w = lock(&self.writer);
        let h = h.encode();
        let mut bufs = [std::io::IoSlice::new(&h), std::io::IoSlice::new(payload)];
        let mut bufs = &mut bufs[..];
        std::io::IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            match (&*w).write_vectored(bufs) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => std::io::IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether a put (or get) of `len` bytes described by `h` may touch the exporter's memory:
/// 0, or the RSMERR code that the access fails with.
fn check(served: &Served, h: &Header, len: usize, put: bool) -> u16 {
    if served.revoked.load(Ordering::SeqCst) {
        return code::CONN_ABORTED;
    }
    let need = if put { 0o200 } else { 0o400 };
    if served.rights & need == 0 {
        return code::PERM_DENIED;
    }
    let w = h.width();
    let off = h.offset;
    if off.checked_add(len as u64).is_none_or(|e| e > served.size) {
        return code::BAD_LENGTH;
    }
    if off % w as u64 != 0 || len % w != 0 {
        return 17; // RSMERR_BAD_MEM_ALIGNMENT
    }
    0
}

/// Applies one put or get to the exporter's memory with the access width the client asked
/// for; returns an RSMERR code or 0.
fn apply(served: &Served, h: &Header, buf: &mut [u8], put: bool) -> u16 {
    let c = check(served, h, buf.len(), put);
    if c != 0 {
        return c;
    }
    let w = h.width();
    let off = h.offset as usize;
    let m = &served.map;
    let r = match (w, put) {
        (1, true) => m.write_at(off, buf),
        (1, false) => m.read_at(off, buf),
        (2, true) => m.write_elems(off, &to_elems::<2, u16>(buf, u16::from_ne_bytes)),
        (4, true) => m.write_elems(off, &to_elems::<4, u32>(buf, u32::from_ne_bytes)),
        (8, true) => m.write_elems(off, &to_elems::<8, u64>(buf, u64::from_ne_bytes)),
        (2, false) => read_elems::<2, u16>(m, off, buf, u16::to_ne_bytes),
        (4, false) => read_elems::<4, u32>(m, off, buf, u32::to_ne_bytes),
        (_, false) => read_elems::<8, u64>(m, off, buf, u64::to_ne_bytes),
        (_, true) => m.write_at(off, buf),
    };
    if r.is_err() { code::BAD_LENGTH } else { 0 }
}

fn to_elems<const N: usize, T>(b: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    b.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect()
}

fn read_elems<const N: usize, T: rsm_os::mem::Elem + Default>(
    m: &rsm_os::mem::Mapping,
    off: usize,
    out: &mut [u8],
    f: fn(T) -> [u8; N],
) -> Result<(), rsm_os::mem::OutOfBounds> {
    let mut v = vec![T::default(); out.len() / N];
    m.read_elems(off, &mut v)?;
    for (c, x) in out.chunks_exact_mut(N).zip(v) {
        c.copy_from_slice(&f(x));
    }
    Ok(())
}

/// Puts of at least this many bytes (of width 1) are received straight into the mapping;
/// smaller ones through a buffer (one copy either way; the buffer saves a system call when
/// the payload is already waiting behind the header).
const DIRECT_PUT: usize = 16 * 1024;

/// Receives exactly `len` bytes from `s` into `map` at `off` (already checked). Before each
/// blocking receive it polls the socket for up to `spin` ([`rsm_os::net::spin`]): a receiver
/// that blocks between the segments of a stream is woken by the sender each time, and the
/// scheduler then tends to move it onto the sender's CPU (a wake-up from a sender says "I am
/// about to sleep", which a streaming sender never does), where the two halve each other's
/// throughput.
fn recv_into(s: &TcpStream, map: &rsm_os::mem::Mapping, off: usize, len: usize, spin: Duration) -> std::io::Result<()> {
    let mut done = 0;
    while done < len {
        let (at, want) = (off + done, len - done);
        let polled = rsm_os::net::spin(spin, || match map.try_recv_at(s, at, want) {
            Ok(n) => Ok(Some(n)),
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Ok(None),
            Err(e) => Err(e),
        });
        let r = match polled {
            Ok(Some(n)) => Ok(n),
            Ok(None) => map.recv_at(s, at, want),
            Err(e) => Err(e),
        };
        match r {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receive side of a data connection: one buffer that each `recv` fills as far as the
/// socket has bytes, so that a small frame (header and payload) and the frames pipelined
/// behind it cost one system call, not two per frame.
struct Rx {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Rx {
    const CAP: usize = 64 * 1024;

    fn new() -> Rx {
        Rx { buf: vec![0; Rx::CAP], start: 0, end: 0 }
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Receives more bytes (at least one), spinning for up to `spin` first.
    fn fill(&mut self, s: &TcpStream, spin: Duration) -> std::io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < data::HEADER_LEN {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let room = &mut self.buf[self.end..];
        let n = match rsm_os::net::recv_spin(s, room, spin).map_err(std::io::Error::from)? {
            rsm_os::net::Spin::Data(n) => n,
            rsm_os::net::Spin::Closed => 0,
            rsm_os::net::Spin::Nothing => (&*s).read(room)?,
        };
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    /// The next frame header.
    fn header(&mut self, s: &TcpStream, spin: Duration) -> std::io::Result<Header> {
        while self.buffered() < data::HEADER_LEN {
            self.fill(s, spin)?;
        }
        let mut hb = [0u8; data::HEADER_LEN];
        hb.copy_from_slice(&self.buf[self.start..self.start + data::HEADER_LEN]);
        self.start += data::HEADER_LEN;
        Header::decode(&hb).map_err(std::io::Error::other)
    }

    /// Takes up to `len` buffered bytes.
    fn take(&mut self, len: usize) -> &mut [u8] {
        let n = len.min(self.buffered());
        let b = &mut self.buf[self.start..self.start + n];
        self.start += n;
        b
    }

    /// Reads a payload of exactly `dst.len()` bytes: what is buffered, then the rest straight
    /// from the socket.
    fn payload(&mut self, s: &TcpStream, dst: &mut [u8]) -> std::io::Result<()> {
        let k = {
            let b = self.take(dst.len());
            dst[..b.len()].copy_from_slice(b);
            b.len()
        };
        (&*s).read_exact(&mut dst[k..])
    }

    /// Receives a payload of `len` bytes into `map` at `off` (already checked): what is
    /// buffered, then the rest straight from the socket into the mapping.
    fn payload_into(
        &mut self,
        s: &TcpStream,
        map: &rsm_os::mem::Mapping,
        off: usize,
        len: usize,
        spin: Duration,
    ) -> std::io::Result<()> {
        let b = self.take(len);
        let k = b.len();
        map.write_at(off, b).map_err(|_| std::io::Error::other("put outside the mapping"))?;
        recv_into(s, map, off + k, len - k, spin)
    }
}

fn serve_frames(
    s: &mut TcpStream,
    served: &Served,
    conn: &crate::registry::DataConn,
    spin: Duration,
) -> std::io::Result<()> {
    let mut window_err: u16 = 0;
    let mut buf = Vec::new();
    let mut rx = Rx::new();
    loop {
        let h = rx.header(s, spin)?;
        match h.op {
            Op::Put => {
                let len = h.len as usize;
                let c = if len >= DIRECT_PUT && h.width() == 1 && check(served, &h, len, true) == 0 {
                    // Large byte puts go from the socket straight into the exporter's memory.
                    rx.payload_into(s, &served.map, h.offset as usize, len, spin)?;
                    0
                } else if rx.buffered() >= len {
                    // The usual small put: already here, behind its header.
                    apply(served, &h, rx.take(len), true)
                } else {
                    buf.resize(len, 0);
                    rx.payload(s, &mut buf)?;
                    apply(served, &h, &mut buf, true)
                };
                if h.flags & data::FLAG_ACK != 0 {
                    conn.reply(Header::new(Op::Status, 0, c, 0, 0))?;
                } else if window_err == 0 {
                    window_err = c;
                }
            }
            Op::Get => {
                buf.resize(h.len as usize, 0);
                let c = apply(served, &h, &mut buf, false);
                if c == 0 {
                    conn.reply_data(Header::new(Op::Data, 0, 0, h.len, h.offset), &buf)?;
                } else {
                    conn.reply(Header::new(Op::Status, 0, c, 0, 0))?;
                }
            }
            Op::Barrier => {
                let c = if served.revoked.load(Ordering::SeqCst) { code::CONN_ABORTED } else { window_err };
                window_err = 0;
                conn.reply(Header::new(Op::Status, 0, c, 0, 0))?;
            }
            Op::Post => {
                // After a revocation by the exporter posts are dropped; after the importer's
                // own end, the ones it sent before (still unread here) count.
                if !served.revoked.load(Ordering::SeqCst) || served.importer_ended.load(Ordering::SeqCst) {
                    crate::registry::post(&*served.event, h.flags & data::FLAG_NO_ACCUMULATE != 0);
                }
            }
            _ => return Err(std::io::Error::other("unexpected frame")),
        }
    }
}

/// Whether bytes from the peer wait unread on the link's socket.
fn answer_waiting(link: &Link) -> bool {
    let w = lock(&link.writer);
    let Some(s) = w.as_ref() else { return false };
    let mut b = [0u8; 1];
    matches!(
        rustix::net::recv(s, &mut b, rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    )
}
