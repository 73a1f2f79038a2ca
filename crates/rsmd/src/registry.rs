//! The node's segment registry: every export and import of every local client, the id
//! space, and the access decisions. Pure bookkeeping over descriptors; the server drives it.

use crate::config::Config;
use rsm_os::creds::PeerCred;
use rsm_os::gentable::{CELLS, GenTable};
use rsm_os::mem::{Mapping, Prot};
use rsm_os::{AsFd, OwnedFd};
use rsm_proto::data::TICKET_LEN;
use rsm_proto::{
    AclEntry, AgentStatus, ControllerAttr, LinkMsg, LocalController, RemoteController, SegmentInfo, Topology,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// RSMERR codes the registry returns (numbers of RSMAPI section 2.1).
#[allow(missing_docs)]
pub mod code {
    pub const CTLR_NOT_PRESENT: u16 = 4;
    pub const BAD_SEG_HNDL: u16 = 5;
    pub const SEG_ALREADY_PUBLISHED: u16 = 6;
    pub const SEG_NOT_PUBLISHED: u16 = 7;
    pub const SEG_NOT_PUBLISHED_TO_NODE: u16 = 8;
    pub const NOT_CREATOR: u16 = 12;
    pub const BAD_ADDR: u16 = 16;
    pub const BAD_LENGTH: u16 = 20;
    pub const BAD_ACL: u16 = 21;
    pub const RESERVED_SEGID: u16 = 23;
    pub const SEGID_IN_USE: u16 = 24;
    pub const PERM_DENIED: u16 = 27;
    pub const REMOTE_NODE_UNREACHABLE: u16 = 39;
    pub const CONN_ABORTED: u16 = 40;
    pub const INSUFFICIENT_RESOURCES: u16 = 31;
    pub const INSUFFICIENT_MEM: u16 = 32;
    pub const INTERNAL_ERROR: u16 = 100;
    pub const BAD_ARGS_ERRORS: u16 = 117;
}

/// A failed registry operation: an RSMERR code.
pub type Code = u16;

const PERM_READ: u32 = 0o400;
const PERM_WRITE: u32 = 0o200;
const PERM_RDWR: u32 = 0o600;
const USER_APP_ID_BASE: u32 = 0x8000_0000;
const DLPI_ID_END: u32 = 0x3F_FFFF;
const ALLOW_REBIND: u32 = 1;
/// The remote reference of an import whose path failed (references start at 1).
const ORPHANED: u64 = 0;

/// A local client process, as `SO_PEERCRED` describes it.
#[derive(Debug)]
pub struct Client {
    /// Its credentials.
    pub cred: PeerCred,
    /// A pidfd of the process that connected, taken at its first publish (`SO_PEERPIDFD`);
    /// `None` until then, or when the kernel has none to give.
    pidfd: Option<Arc<OwnedFd>>,
}

/// Logs that the agent is at its descriptor limit; the code to refuse the request with.
fn out_of_descriptors() -> Code {
    tracing::warn!("out of descriptors (RLIMIT_NOFILE): refusing a publication with INSUFFICIENT_RESOURCES");
    code::INSUFFICIENT_RESOURCES
}

/// Where the agent gets a published segment's memory from when an importer (or its own
/// mapping for remote importers) needs it.
enum Memory {
    /// The exporter keeps the memfd open at `slot` while the segment is published: the agent
    /// takes a duplicate through `pidfd` when it needs one, so a published segment costs it
    /// no descriptor for its memory. `id` (device, inode) is checked on every take.
    InExporter { pidfd: Arc<OwnedFd>, slot: i32, id: (u64, u64) },
    /// The agent holds the descriptors: it may not take them from the exporter (another user
    /// and no `CAP_SYS_PTRACE`, no `SO_PEERPIDFD`, `limits.hold_segment_memory`), or the
    /// exporter's slot did not hold the memfd it sent.
    Held { rw: Arc<OwnedFd>, ro: Arc<OwnedFd> },
}

/// A duplicate of descriptor `slot` of the process behind `pidfd` if it is the file `id`
/// (device, inode); `None` if it is another file.
fn take_same(pidfd: &OwnedFd, slot: i32, id: (u64, u64)) -> Result<Option<OwnedFd>, rustix::io::Errno> {
    let fd = rsm_os::creds::take_fd(pidfd, slot)?;
    Ok((rsm_os::memfd::identity(&fd).ok() == Some(id)).then_some(fd))
}

impl Memory {
    /// A descriptor of the memory, read-write or read-only.
    fn open(&self, writable: bool) -> Result<Arc<OwnedFd>, Code> {
        match self {
            Memory::Held { rw, ro } => Ok(if writable { rw.clone() } else { ro.clone() }),
            Memory::InExporter { pidfd, slot, id } => {
                let fd = take_same(pidfd, *slot, *id)
                    .map_err(|e| match e {
                        rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOMEM => {
                            code::INSUFFICIENT_RESOURCES
                        }
                        // The exporter has exited (its agent connection not yet seen closing)
                        // or closed the descriptor: the segment is going away.
                        _ => code::SEG_NOT_PUBLISHED,
                    })?
                    .ok_or_else(|| {
                        tracing::warn!(slot, "the exporter's descriptor no longer holds the segment's memfd");
                        code::SEG_NOT_PUBLISHED
                    })?;
                if writable {
                    return Ok(Arc::new(fd));
                }
                rsm_os::memfd::reopen_readonly(&fd).map(Arc::new).map_err(|_| code::INSUFFICIENT_RESOURCES)
            }
        }
    }
}

struct Publication {
    segment_id: u32,
    acl: Vec<AclEntry>,
    memory: Memory,
    event: Arc<OwnedFd>,
    gen_cell: u32,
    importers: HashSet<u64>,
    remote_importers: HashSet<u64>,
    /// The agent's own mapping, made when the first remote importer connects.
    map: Option<Arc<Mapping>>,
}

struct Export {
    owner: u64,
    creator_pid: u32,
    uid: u32,
    gid: u32,
    /// `0777 & ~umask` of the creator.
    mode: u32,
    size: u64,
    flags: u32,
    controller: String,
    publication: Option<Publication>,
}

enum ImportKind {
    /// A segment of this node: the export id.
    Local { export: u64 },
    /// A segment of another node, reached through `controller`.
    Remote { controller: String, node: u32, remote: u64 },
}

struct Import {
    owner: u64,
    kind: ImportKind,
    gen_cell: u32,
    event: Arc<OwnedFd>,
}

/// What the data server needs to serve one remote importer of a local segment.
pub struct Served {
    /// The exporter's memory.
    pub map: Arc<Mapping>,
    /// Segment size.
    pub size: u64,
    /// Rights of the connection.
    pub rights: u32,
    /// The exporter's event counter.
    pub event: Arc<OwnedFd>,
    /// Set when the publication is withdrawn or the importer is gone.
    pub revoked: AtomicBool,
    /// The import ended from the importer's side (its disconnect, its death, its node gone),
    /// not by the exporter: posts it sent before that, still unread on the data connection,
    /// are delivered (a post right before a process dies must not be lost to the race
    /// between its data connection and its agent's disconnect). Puts are not applied.
    pub importer_ended: AtomicBool,
    /// Open data connections, shut down at revocation.
    pub conns: Mutex<Vec<Arc<DataConn>>>,
}

impl Served {
    /// Marks the import revoked and ends its data connections (each gets a `Revoked` frame).
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for c in conns {
            c.revoke();
        }
    }
}

/// One data connection from a remote importing process.
pub struct DataConn {
    /// The socket; writes go through the mutex so frames never interleave.
    pub writer: Mutex<std::net::TcpStream>,
}

impl DataConn {
    /// Sends `Revoked` and closes the connection.
    pub fn revoke(&self) {
        use std::io::Write;
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let h = rsm_proto::data::Header::new(rsm_proto::data::Op::Revoked, 0, 40, 0, 0).encode();
        let _ = (&*w).write_all(&h);
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
}

/// An importer on another node of a local segment.
struct RemoteImporter {
    controller: String,
    node: u32,
    /// Its import id on its node.
    import: u64,
    export: u64,
    ticket: [u8; TICKET_LEN],
    served: Arc<Served>,
}

/// Something the registry asks the caller to do once the registry lock is released.
pub enum Effect {
    /// Send a message to a node over a controller's link.
    Link {
        /// Controller.
        controller: String,
        /// Node.
        node: u32,
        /// Message.
        msg: LinkMsg,
    },
    /// Revoke a served import (ends its data connections).
    Revoke(Arc<Served>),
}

/// What a successful connect hands the importer.
pub struct Connected {
    /// Import id.
    pub import: u64,
    /// Segment size.
    pub size: u64,
    /// Rights.
    pub rights: u32,
    /// Generation cell and its value.
    pub gen_cell: u32,
    /// Value at connect.
    pub generation: u32,
    /// Memfd for the importer (read-only unless write was granted) and the exporter's event
    /// counter, for a segment of this node.
    pub local: Option<(Arc<OwnedFd>, Arc<OwnedFd>)>,
}

/// The registry of one node.
pub struct Registry {
    node_id: u32,
    max_segments: u64,
    max_exported_bytes: u64,
    hold_memory: bool,
    started: Instant,
    gens: GenTable,
    gens_fd: OwnedFd,
    free_cells: Vec<u32>,
    next_cell: u32,
    next_auto_id: Option<u32>,
    next_object: u64,
    clients: HashMap<u64, Client>,
    exports: BTreeMap<u64, Export>,
    published: HashMap<u32, u64>,
    imports: HashMap<u64, Import>,
    remote_in: HashMap<u64, RemoteImporter>,
    exported_bytes: u64,
    stats: AgentStatus,
    /// Local tcp controllers: name → listen address.
    controllers: BTreeMap<String, String>,
    /// Path states, maintained by the cluster: (controller, node) → state.
    paths: BTreeMap<(String, u32), (String, u32)>,
    effects: Vec<Effect>,
}

impl Registry {
    /// A new, empty registry.
    ///
    /// # Errors
    ///
    /// When the generation table cannot be created.
    pub fn new(cfg: &Config) -> std::io::Result<Registry> {
        let (gens, gfd) = GenTable::create()?;
        let gens_fd = rsm_os::memfd::reopen_readonly(&gfd)?;
        drop(gfd);
        Ok(Registry {
            node_id: cfg.node_id,
            max_segments: cfg.limits.max_segments,
            max_exported_bytes: cfg.max_exported_bytes(),
            hold_memory: cfg.limits.hold_segment_memory,
            started: Instant::now(),
            gens,
            gens_fd,
            free_cells: Vec::new(),
            // Cell 0 is never handed out.
            next_cell: 1,
            next_auto_id: Some(USER_APP_ID_BASE),
            next_object: 1,
            clients: HashMap::new(),
            exports: BTreeMap::new(),
            published: HashMap::new(),
            imports: HashMap::new(),
            remote_in: HashMap::new(),
            exported_bytes: 0,
            stats: AgentStatus::default(),
            controllers: cfg.local_controllers(),
            paths: cfg
                .local_controllers()
                .keys()
                .flat_map(|c| cfg.peers(c).into_iter().map(move |(n, a)| ((c.clone(), n), (a, 1))))
                .collect(),
            effects: Vec::new(),
        })
    }

    /// This node.
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// The read-only generation table descriptor handed to clients.
    pub fn gens_fd(&self) -> &OwnedFd {
        &self.gens_fd
    }

    /// Registers a client.
    pub fn add_client(&mut self, id: u64, cred: PeerCred) {
        self.clients.insert(id, Client { cred, pidfd: None });
    }

    /// Whether the client still needs a pidfd (see [`Registry::set_client_pidfd`]).
    pub fn wants_pidfd(&self, id: u64) -> bool {
        !self.hold_memory && self.clients.get(&id).is_some_and(|c| c.pidfd.is_none())
    }

    /// Records a pidfd of the client's process, through which the agent may take the
    /// memory of its published segments when needed instead of holding it.
    pub fn set_client_pidfd(&mut self, id: u64, pidfd: OwnedFd) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.pidfd = Some(Arc::new(pidfd));
        }
    }

    /// Forgets a client and everything it owned; `died` when it went away without cleaning
    /// up after itself.
    pub fn remove_client(&mut self, id: u64) {
        let exports: Vec<u64> = self.exports.iter().filter(|(_, e)| e.owner == id).map(|(k, _)| *k).collect();
        let imports: Vec<u64> = self.imports.iter().filter(|(_, i)| i.owner == id).map(|(k, _)| *k).collect();
        if !exports.is_empty() || !imports.is_empty() {
            self.stats.clients_died += 1;
        }
        for i in imports {
            self.drop_import(i);
        }
        for e in exports {
            self.drop_export(e);
        }
        self.clients.remove(&id);
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_object;
        self.next_object += 1;
        id
    }

    fn alloc_cell(&mut self) -> Option<u32> {
        if let Some(c) = self.free_cells.pop() {
            return Some(c);
        }
        if self.next_cell >= CELLS {
            return None;
        }
        self.next_cell += 1;
        Some(self.next_cell - 1)
    }

    fn segments(&self) -> u64 {
        (self.exports.len() + self.imports.len()) as u64
    }

    /// Attributes of a controller by canonical name.
    pub fn controller_attr(&self, name: &str) -> Result<ControllerAttr, Code> {
        let loopback = name == "loopback";
        if !loopback && !self.controllers.contains_key(name) {
            return Err(code::CTLR_NOT_PRESENT);
        }
        let max = self.max_exported_bytes;
        Ok(ControllerAttr {
            direct_access_sizes: 0xF,
            atomic_sizes: 0xF,
            page_size: rsm_os::page_size() as u64,
            max_export_segment_size: max,
            tot_export_segment_size: max,
            max_export_segments: self.max_segments,
            // Segments on other nodes cannot be mapped through a network controller.
            max_import_map_size: if loopback { max } else { 0 },
            tot_import_map_size: if loopback { max } else { 0 },
            max_import_segments: self.max_segments,
        })
    }

    /// The topology (loopback is not listed).
    pub fn topology(&self) -> Topology {
        let controllers = self
            .controllers
            .iter()
            .map(|(name, addr)| LocalController {
                name: name.clone(),
                hwaddr: hwaddr(addr),
                remotes: self
                    .paths
                    .iter()
                    .filter(|((c, _), _)| c == name)
                    .map(|((c, n), (a, st))| RemoteController {
                        node: *n,
                        name: c.clone(),
                        hwaddr: hwaddr(a),
                        state: *st,
                    })
                    .collect(),
            })
            .collect();
        Topology { local_node: self.node_id, controllers }
    }

    /// Records the state of a path (1 down, 2 up, 3 active).
    pub fn set_path_state(&mut self, controller: &str, node: u32, state: u32) {
        if let Some(p) = self.paths.get_mut(&(controller.to_string(), node)) {
            p.1 = state;
        }
    }

    /// The state of a path (0: no such path).
    pub fn path_state(&self, controller: &str, node: u32) -> u32 {
        self.paths.get(&(controller.to_string(), node)).map_or(0, |p| p.1)
    }

    /// Effects queued by the last operations.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn client(&self, id: u64) -> Result<&Client, Code> {
        self.clients.get(&id).ok_or(code::INTERNAL_ERROR)
    }

    /// `ExportCreate`.
    pub fn export_create(
        &mut self,
        client: u64,
        controller: &str,
        size: u64,
        flags: u32,
        mode: u32,
    ) -> Result<u64, Code> {
        self.controller_attr(controller)?;
        if size == 0 || size % rsm_os::page_size() as u64 != 0 {
            return Err(code::BAD_LENGTH);
        }
        if self.segments() >= self.max_segments {
            return Err(code::INSUFFICIENT_RESOURCES);
        }
        if self.exported_bytes.saturating_add(size) > self.max_exported_bytes {
            return Err(code::INSUFFICIENT_MEM);
        }
        let c = self.client(client)?;
        let (pid, uid, gid) = (c.cred.pid, c.cred.uid, c.cred.gid);
        let id = self.next_id();
        self.exports.insert(
            id,
            Export {
                owner: client,
                creator_pid: pid,
                uid,
                gid,
                mode: mode & 0o777,
                size,
                flags,
                controller: controller.to_string(),
                publication: None,
            },
        );
        self.exported_bytes += size;
        Ok(id)
    }

    fn owned_export(&mut self, client: u64, export: u64) -> Result<&mut Export, Code> {
        let e = self.exports.get_mut(&export).ok_or(code::BAD_SEG_HNDL)?;
        if e.owner != client {
            return Err(code::NOT_CREATOR);
        }
        Ok(e)
    }

    fn validate_acl(&self, acl: &[AclEntry], controller: &str) -> Result<(), Code> {
        if acl.len() > 64 || acl.iter().any(|e| e.node > 64 || e.perm > 0o666) {
            return Err(code::BAD_ACL);
        }
        if controller == "loopback" && (acl.len() > 1 || acl.iter().any(|e| e.node != self.node_id)) {
            return Err(code::BAD_ACL);
        }
        Ok(())
    }

    /// Decides where a new publication's memory comes from: the exporter's own descriptor
    /// when the agent can take it from there (tried once, and it must be the same memfd the
    /// exporter sent), else the descriptors it sent.
    fn memory_of(&self, client: u64, rw: OwnedFd, ro: OwnedFd, slot: i32, id: (u64, u64)) -> Result<Memory, Code> {
        use rustix::io::Errno;
        let held = |rw, ro| Ok(Memory::Held { rw: Arc::new(rw), ro: Arc::new(ro) });
        let pidfd = match self.clients.get(&client).and_then(|c| c.pidfd.clone()) {
            Some(p) if !self.hold_memory => p,
            _ => return held(rw, ro),
        };
        // At most one descriptor more than the request brought at any time: an agent at its
        // limit refuses the publication instead of holding three descriptors for it.
        match take_same(&pidfd, slot, id) {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::debug!(slot, "the exporter's slot is not the memfd it sent: holding it");
                return held(rw, ro);
            }
            Err(Errno::MFILE | Errno::NFILE) => return Err(out_of_descriptors()),
            Err(e) => {
                tracing::debug!(slot, "cannot take descriptors from the exporter ({e}): holding them");
                return held(rw, ro);
            }
        }
        // Read-only importers get a reopen made when they connect: the agent must be allowed
        // to make one (the memfd is mode 0600).
        match rsm_os::memfd::reopen_readonly(&rw) {
            Ok(_) => Ok(Memory::InExporter { pidfd, slot, id }),
            Err(Errno::MFILE | Errno::NFILE) => Err(out_of_descriptors()),
            Err(e) => {
                tracing::debug!("cannot reopen the exporter's memfd read-only ({e}): holding its descriptors");
                held(rw, ro)
            }
        }
    }

    /// `ExportPublish`, with the three descriptors it carries.
    pub fn export_publish(
        &mut self,
        client: u64,
        export: u64,
        segment_id: u32,
        acl: Vec<AclEntry>,
        memfd_slot: i32,
        fds: Vec<OwnedFd>,
    ) -> Result<u32, Code> {
        let e = self.owned_export(client, export)?;
        if e.publication.is_some() {
            return Err(code::SEG_ALREADY_PUBLISHED);
        }
        if segment_id != 0 && (segment_id <= DLPI_ID_END || segment_id >= USER_APP_ID_BASE) {
            return Err(code::RESERVED_SEGID);
        }
        let (size, controller) = (e.size, e.controller.clone());
        self.validate_acl(&acl, &controller)?;
        let [memfd, memfd_ro, event]: [OwnedFd; 3] = fds.try_into().map_err(|_| code::BAD_ARGS_ERRORS)?;
        // The memory must be exactly the segment and sealed against resizing, so that no
        // importer can be made to fault: a client cannot hand us anything else.
        for fd in [&memfd, &memfd_ro] {
            if rsm_os::memfd::size(fd).ok() != Some(size) || !rsm_os::memfd::is_size_sealed(fd) {
                return Err(code::BAD_ADDR);
            }
        }
        // Both must be the same file: read-only importers see what read-write ones change.
        let mem_id = rsm_os::memfd::identity(&memfd).map_err(|_| code::BAD_ADDR)?;
        if rsm_os::memfd::identity(&memfd_ro).ok() != Some(mem_id) {
            return Err(code::BAD_ADDR);
        }
        let id = if segment_id == 0 {
            let id = self.next_auto_id.ok_or(code::INSUFFICIENT_RESOURCES)?;
            self.next_auto_id = id.checked_add(1);
            id
        } else {
            if self.published.contains_key(&segment_id) {
                return Err(code::SEGID_IN_USE);
            }
            segment_id
        };
        let memory = self.memory_of(client, memfd, memfd_ro, memfd_slot, mem_id)?;
        let gen_cell = self.alloc_cell().ok_or(code::INSUFFICIENT_RESOURCES)?;
        let e = self.exports.get_mut(&export).ok_or(code::BAD_SEG_HNDL)?;
        e.publication = Some(Publication {
            segment_id: id,
            acl,
            memory,
            event: Arc::new(event),
            gen_cell,
            importers: HashSet::new(),
            remote_importers: HashSet::new(),
            map: None,
        });
        self.published.insert(id, export);
        tracing::debug!(export, segment_id = format_args!("{id:#x}"), "published");
        Ok(id)
    }

    /// `ExportRepublish`.
    pub fn export_republish(&mut self, client: u64, export: u64, acl: Vec<AclEntry>) -> Result<(), Code> {
        let controller = self.owned_export(client, export)?.controller.clone();
        if self.exports.get(&export).and_then(|e| e.publication.as_ref()).is_none() {
            return Err(code::SEG_NOT_PUBLISHED);
        }
        self.validate_acl(&acl, &controller)?;
        if let Some(p) = self.exports.get_mut(&export).and_then(|e| e.publication.as_mut()) {
            p.acl = acl;
        }
        Ok(())
    }

    /// Cuts a remote importer off: marked revoked now, under the registry lock (so no barrier
    /// or access on its data connections succeeds once the registry has withdrawn it, as the
    /// generation bump does for local importers); its connections are told and closed by the
    /// caller afterwards ([`Effect::Revoke`]).
    fn revoke_served(&mut self, served: Arc<Served>) {
        served.revoked.store(true, Ordering::SeqCst);
        self.effects.push(Effect::Revoke(served));
    }

    /// Withdraws a publication: bumps its generation (every importer is cut off) and frees
    /// its id and cell.
    fn revoke(&mut self, export: u64) -> bool {
        let Some(p) = self.exports.get_mut(&export).and_then(|e| e.publication.take()) else { return false };
        self.gens.bump(p.gen_cell);
        self.free_cells.push(p.gen_cell);
        self.published.remove(&p.segment_id);
        let mut by_node: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
        for r in &p.remote_importers {
            if let Some(ri) = self.remote_in.remove(r) {
                by_node.entry((ri.controller.clone(), ri.node)).or_default().push(ri.import);
                self.revoke_served(ri.served);
            }
        }
        for ((controller, node), imports) in by_node {
            self.effects.push(Effect::Link { controller, node, msg: LinkMsg::Revoke { imports } });
        }
        self.stats.revocations += 1;
        tracing::debug!(
            export,
            segment_id = format_args!("{:#x}", p.segment_id),
            importers = p.importers.len(),
            "revoked"
        );
        true
    }

    /// `ExportUnpublish`.
    pub fn export_unpublish(&mut self, client: u64, export: u64) -> Result<(), Code> {
        self.owned_export(client, export)?;
        if self.revoke(export) { Ok(()) } else { Err(code::SEG_NOT_PUBLISHED) }
    }

    fn drop_export(&mut self, export: u64) {
        self.revoke(export);
        if let Some(e) = self.exports.remove(&export) {
            self.exported_bytes -= e.size;
        }
    }

    /// `ExportDestroy`.
    pub fn export_destroy(&mut self, client: u64, export: u64) -> Result<(), Code> {
        self.owned_export(client, export)?;
        self.drop_export(export);
        Ok(())
    }

    /// `ExportPost`: one event to every importer.
    pub fn export_post(&mut self, client: u64, export: u64, no_accumulate: bool) -> Result<(), Code> {
        self.owned_export(client, export)?;
        let Some(p) = self.exports.get(&export).and_then(|e| e.publication.as_ref()) else { return Ok(()) };
        let mut n = 0;
        for i in &p.importers {
            if let Some(imp) = self.imports.get(i) {
                post(&imp.event, no_accumulate);
                n += 1;
            }
        }
        let mut by_node: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
        for r in &p.remote_importers {
            if let Some(ri) = self.remote_in.get(r) {
                by_node.entry((ri.controller.clone(), ri.node)).or_default().push(ri.import);
                n += 1;
            }
        }
        for ((controller, node), imports) in by_node {
            self.effects.push(Effect::Link { controller, node, msg: LinkMsg::Signal { imports, no_accumulate } });
        }
        self.stats.signals += n;
        Ok(())
    }

    /// The access decision of RSMAPI section 4 for a local importer. Returns the rights of
    /// the connection.
    fn decide(
        p: &Publication,
        e: &Export,
        importer_node: u32,
        uid: u32,
        gid: u32,
        groups: &[u32],
        perm: u32,
    ) -> Result<u32, Code> {
        let m = if p.acl.is_empty() {
            0o666 & e.mode
        } else {
            match p.acl.iter().find(|a| a.node == importer_node) {
                Some(a) => 0o666 & a.perm,
                None => return Err(code::SEG_NOT_PUBLISHED_TO_NODE),
            }
        };
        let req = perm & PERM_RDWR;
        let access = (if perm & PERM_READ != 0 { 0o444 } else { 0 }) | (if perm & PERM_WRITE != 0 { 0o222 } else { 0 });
        let granted = access & m;
        let shift = if uid == e.uid {
            0
        } else if gid == e.gid || groups.contains(&e.gid) {
            3
        } else {
            6
        };
        if req & !(granted << shift) & 0o777 == 0 || uid == 0 { Ok(req) } else { Err(code::PERM_DENIED) }
    }

    /// `ImportConnect` from a local client.
    pub fn import_connect(
        &mut self,
        client: u64,
        controller: &str,
        node: u32,
        segment_id: u32,
        perm: u32,
        fds: Vec<OwnedFd>,
    ) -> Result<Connected, Code> {
        self.controller_attr(controller)?;
        if perm & !PERM_RDWR != 0 {
            return Err(code::PERM_DENIED);
        }
        if node != self.node_id {
            // Remote connects are made by the cluster (Registry::remote_connect_*).
            return Err(if controller == "loopback" { code::CTLR_NOT_PRESENT } else { code::REMOTE_NODE_UNREACHABLE });
        }
        let [event]: [OwnedFd; 1] = fds.try_into().map_err(|_| code::BAD_ARGS_ERRORS)?;
        let r = self.connect_local(client, segment_id, perm, event);
        match &r {
            Ok(_) => self.stats.connects += 1,
            Err(_) => self.stats.connects_refused += 1,
        }
        r
    }

    fn connect_local(&mut self, client: u64, segment_id: u32, perm: u32, event: OwnedFd) -> Result<Connected, Code> {
        let export = *self.published.get(&segment_id).ok_or(code::SEG_NOT_PUBLISHED)?;
        let cred = self.client(client)?.cred.clone();
        let e = self.exports.get(&export).ok_or(code::SEG_NOT_PUBLISHED)?;
        let p = e.publication.as_ref().ok_or(code::SEG_NOT_PUBLISHED)?;
        let rights = Self::decide(p, e, self.node_id, cred.uid, cred.gid, &cred.groups, perm)?;
        if self.segments() >= self.max_segments {
            return Err(code::INSUFFICIENT_RESOURCES);
        }
        let import = self.next_id();
        let e = self.exports.get_mut(&export).ok_or(code::SEG_NOT_PUBLISHED)?;
        let size = e.size;
        let p = e.publication.as_mut().ok_or(code::SEG_NOT_PUBLISHED)?;
        let memfd = p.memory.open(rights & PERM_WRITE != 0)?;
        p.importers.insert(import);
        let c = Connected {
            import,
            size,
            rights,
            gen_cell: p.gen_cell,
            generation: self.gens.load(p.gen_cell).unwrap_or(0),
            local: Some((memfd, p.event.clone())),
        };
        self.imports.insert(
            import,
            Import { owner: client, kind: ImportKind::Local { export }, gen_cell: p.gen_cell, event: Arc::new(event) },
        );
        Ok(c)
    }

    fn drop_import(&mut self, import: u64) {
        let Some(i) = self.imports.remove(&import) else { return };
        match i.kind {
            ImportKind::Local { export } => {
                if let Some(p) = self.exports.get_mut(&export).and_then(|e| e.publication.as_mut()) {
                    p.importers.remove(&import);
                }
            }
            ImportKind::Remote { controller, node, remote } => {
                // The cell was this import's own: invalidate any snapshot, then reuse it.
                self.gens.bump(i.gen_cell);
                self.free_cells.push(i.gen_cell);
                if remote != ORPHANED {
                    self.effects.push(Effect::Link { controller, node, msg: LinkMsg::Disconnect { remote } });
                }
            }
        }
    }

    /// `ImportDisconnect`.
    pub fn import_disconnect(&mut self, client: u64, import: u64) -> Result<(), Code> {
        match self.imports.get(&import) {
            Some(i) if i.owner == client => {
                self.drop_import(import);
                Ok(())
            }
            _ => Err(code::BAD_SEG_HNDL),
        }
    }

    /// `ImportPost`: one event to the exporter (dropped if no longer published).
    pub fn import_post(&mut self, client: u64, import: u64, no_accumulate: bool) -> Result<(), Code> {
        let i = match self.imports.get(&import) {
            Some(i) if i.owner == client => i,
            _ => return Err(code::BAD_SEG_HNDL),
        };
        if let ImportKind::Local { export } = i.kind {
            if let Some(p) = self.exports.get(&export).and_then(|e| e.publication.as_ref()) {
                if p.gen_cell == i.gen_cell {
                    post(&p.event, no_accumulate);
                    self.stats.signals += 1;
                }
            }
        }
        Ok(())
    }

    /// Checks a remote connect on the importing node and reserves its import id and cell.
    pub fn remote_connect_begin(
        &mut self,
        client: u64,
        controller: &str,
        node: u32,
        perm: u32,
    ) -> Result<(u64, u32, PeerCred), Code> {
        if controller == "loopback" || !self.controllers.contains_key(controller) {
            return Err(code::CTLR_NOT_PRESENT);
        }
        if perm & !PERM_RDWR != 0 {
            return Err(code::PERM_DENIED);
        }
        if node > crate::config::MAX_NODE_ID || self.path_state(controller, node) != 3 {
            self.stats.connects_refused += 1;
            return Err(code::REMOTE_NODE_UNREACHABLE);
        }
        if self.segments() >= self.max_segments {
            return Err(code::INSUFFICIENT_RESOURCES);
        }
        let cred = self.client(client)?.cred.clone();
        let cell = self.alloc_cell().ok_or(code::INSUFFICIENT_RESOURCES)?;
        let id = self.next_id();
        Ok((id, cell, cred))
    }

    /// Completes (or abandons, with `granted = None`) a remote connect on the importing node.
    #[allow(clippy::too_many_arguments)]
    pub fn remote_connect_finish(
        &mut self,
        client: u64,
        controller: &str,
        node: u32,
        import: u64,
        cell: u32,
        event: OwnedFd,
        granted: Result<(u64, u64, u32), Code>,
    ) -> Result<Connected, Code> {
        let alive = self.clients.contains_key(&client) && self.path_state(controller, node) == 3;
        match granted {
            Ok((remote, size, rights)) if alive => {
                self.imports.insert(
                    import,
                    Import {
                        owner: client,
                        kind: ImportKind::Remote { controller: controller.to_string(), node, remote },
                        gen_cell: cell,
                        event: Arc::new(event),
                    },
                );
                self.stats.connects += 1;
                Ok(Connected {
                    import,
                    size,
                    rights,
                    gen_cell: cell,
                    generation: self.gens.load(cell).unwrap_or(0),
                    local: None,
                })
            }
            other => {
                self.gens.bump(cell);
                self.free_cells.push(cell);
                self.stats.connects_refused += 1;
                if let Ok((remote, _, _)) = other {
                    self.effects.push(Effect::Link {
                        controller: controller.to_string(),
                        node,
                        msg: LinkMsg::Disconnect { remote },
                    });
                    return Err(code::CONN_ABORTED);
                }
                Err(other.err().unwrap_or(code::INTERNAL_ERROR))
            }
        }
    }

    /// The exporting node's decision on a connect from `node` (authenticated by the link).
    #[allow(clippy::too_many_arguments)]
    pub fn serve_connect(
        &mut self,
        controller: &str,
        node: u32,
        import: u64,
        segment_id: u32,
        perm: u32,
        uid: u32,
        gid: u32,
        groups: &[u32],
    ) -> Result<(u64, [u8; TICKET_LEN], u64, u32), Code> {
        let r = self.serve_connect_inner(controller, node, import, segment_id, perm, uid, gid, groups);
        match &r {
            Ok(_) => self.stats.connects += 1,
            Err(_) => self.stats.connects_refused += 1,
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn serve_connect_inner(
        &mut self,
        controller: &str,
        node: u32,
        import: u64,
        segment_id: u32,
        perm: u32,
        uid: u32,
        gid: u32,
        groups: &[u32],
    ) -> Result<(u64, [u8; TICKET_LEN], u64, u32), Code> {
        if perm & !PERM_RDWR != 0 {
            return Err(code::PERM_DENIED);
        }
        let export = *self.published.get(&segment_id).ok_or(code::SEG_NOT_PUBLISHED)?;
        let e = self.exports.get(&export).ok_or(code::SEG_NOT_PUBLISHED)?;
        if e.controller == "loopback" {
            // A loopback export is for this node only.
            return Err(code::SEG_NOT_PUBLISHED_TO_NODE);
        }
        let p = e.publication.as_ref().ok_or(code::SEG_NOT_PUBLISHED)?;
        let rights = Self::decide(p, e, node, uid, gid, groups, perm)?;
        if self.segments() >= self.max_segments {
            return Err(code::INSUFFICIENT_RESOURCES);
        }
        let size = e.size;
        let mut ticket = [0u8; TICKET_LEN];
        rustix::rand::getrandom(&mut ticket, rustix::rand::GetRandomFlags::empty())
            .map_err(|_| code::INTERNAL_ERROR)?;
        let r = self.next_id();
        let e = self.exports.get_mut(&export).ok_or(code::SEG_NOT_PUBLISHED)?;
        let p = e.publication.as_mut().ok_or(code::SEG_NOT_PUBLISHED)?;
        let map = match &p.map {
            Some(m) => m.clone(),
            None => {
                let fd = p.memory.open(true)?;
                let m = Arc::new(
                    Mapping::map_shared(&*fd, size as usize, Prot::ReadWrite)
                        .map_err(|_| code::INSUFFICIENT_RESOURCES)?,
                );
                p.map = Some(m.clone());
                m
            }
        };
        p.remote_importers.insert(r);
        let served = Arc::new(Served {
            map,
            size,
            rights,
            event: p.event.clone(),
            revoked: AtomicBool::new(false),
            importer_ended: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        self.remote_in
            .insert(r, RemoteImporter { controller: controller.to_string(), node, import, export, ticket, served });
        Ok((r, ticket, size, rights))
    }

    /// A remote importer's data connection presents its ticket.
    pub fn data_hello(&self, remote: u64, ticket: &[u8]) -> Option<Arc<Served>> {
        let ri = self.remote_in.get(&remote)?;
        // Compare without an early exit, so timing tells nothing about the ticket.
        if ticket.len() != TICKET_LEN || ticket.iter().zip(ri.ticket.iter()).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return None;
        }
        if ri.served.revoked.load(Ordering::SeqCst) {
            return None;
        }
        Some(ri.served.clone())
    }

    /// An importing node ended an import of a local segment (`node` is the link's peer).
    pub fn remote_disconnect(&mut self, node: u32, remote: u64) {
        if self.remote_in.get(&remote).is_some_and(|r| r.node == node) {
            self.drop_remote_importer(remote);
        }
    }

    /// Forgets the remote importer `remote` of one of our publications and ends its data
    /// connections.
    fn drop_remote_importer(&mut self, remote: u64) {
        if let Some(ri) = self.remote_in.remove(&remote) {
            if let Some(p) = self.exports.get_mut(&ri.export).and_then(|e| e.publication.as_mut()) {
                p.remote_importers.remove(&remote);
            }
            ri.served.importer_ended.store(true, Ordering::SeqCst);
            self.revoke_served(ri.served);
        }
    }

    /// The exporting node `node` revoked these local imports of its segments.
    pub fn revoke_imports(&mut self, node: u32, imports: &[u64]) {
        for id in imports {
            if let Some(i) = self.imports.get(id) {
                if matches!(i.kind, ImportKind::Remote { node: n, .. } if n == node) {
                    self.gens.bump(i.gen_cell);
                    self.stats.revocations += 1;
                }
            }
        }
    }

    /// The exporting node `node` posts one event to each of these local imports.
    pub fn signal_imports(&mut self, node: u32, imports: &[u64], no_accumulate: bool) {
        for id in imports {
            if let Some(i) = self.imports.get(id) {
                if matches!(i.kind, ImportKind::Remote { node: n, .. } if n == node) {
                    post(&i.event, no_accumulate);
                    self.stats.signals += 1;
                }
            }
        }
    }

    /// The path to `node` through `controller` failed: every import of that node's segments
    /// through it is aborted, and every importer on that node of local segments is dropped.
    pub fn peer_down(&mut self, controller: &str, node: u32) {
        for i in self.imports.values_mut() {
            if let ImportKind::Remote { controller: c, node: n, remote } = &mut i.kind {
                if c == controller && *n == node {
                    self.gens.bump(i.gen_cell);
                    // The exporting side drops its end when the path fails (or is a new agent
                    // that reuses references): never name this reference to it again.
                    *remote = ORPHANED;
                }
            }
        }
        let gone: Vec<u64> = self
            .remote_in
            .iter()
            .filter(|(_, r)| r.node == node && r.controller == controller)
            .map(|(k, _)| *k)
            .collect();
        for r in gone {
            self.drop_remote_importer(r);
        }
    }

    /// The reference on the exporting node of a remote import.
    pub fn remote_ref(&self, import: u64) -> Option<u64> {
        match &self.imports.get(&import)?.kind {
            ImportKind::Remote { remote, .. } if *remote != ORPHANED => Some(*remote),
            _ => None,
        }
    }

    /// The address of a local controller.
    pub fn controller_addr(&self, name: &str) -> Option<&str> {
        self.controllers.get(name).map(String::as_str)
    }

    /// The address of a peer's controller.
    pub fn peer_addr(&self, controller: &str, node: u32) -> Option<&str> {
        self.paths.get(&(controller.to_string(), node)).map(|p| p.0.as_str())
    }

    /// Status and counters.
    pub fn status(&self) -> AgentStatus {
        AgentStatus {
            node: self.node_id,
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs(),
            controllers: std::iter::once("loopback".to_string()).chain(self.controllers.keys().cloned()).collect(),
            clients: self.clients.len() as u64,
            exports: self.exports.len() as u64,
            published: self.published.len() as u64,
            memory_held: self
                .exports
                .values()
                .filter(|e| e.publication.as_ref().is_some_and(|p| matches!(p.memory, Memory::Held { .. })))
                .count() as u64,
            imports: self.imports.len() as u64,
            remote_importers: self.remote_in.len() as u64,
            exported_bytes: self.exported_bytes,
            ..self.stats.clone()
        }
    }

    /// Every export segment.
    pub fn segments_info(&self) -> Vec<SegmentInfo> {
        self.exports
            .iter()
            .map(|(id, e)| SegmentInfo {
                export: *id,
                segment_id: e.publication.as_ref().map(|p| p.segment_id),
                controller: e.controller.clone(),
                size: e.size,
                creator_pid: e.creator_pid,
                uid: e.uid,
                gid: e.gid,
                mode: e.mode,
                acl: e.publication.as_ref().map(|p| p.acl.clone()).unwrap_or_default(),
                importers: e.publication.as_ref().map_or(0, |p| (p.importers.len() + p.remote_importers.len()) as u32),
            })
            .collect()
    }

    /// Whether the export was created with `RSM_ALLOW_REBIND` (kept for `rsmctl`).
    pub fn rebind_allowed(&self, export: u64) -> bool {
        self.exports.get(&export).is_some_and(|e| e.flags & ALLOW_REBIND != 0)
    }
}

/// A 64-bit "hardware address" for a controller: its IPv4 address and port (or a hash of
/// the text for other addresses).
fn hwaddr(addr: &str) -> u64 {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(std::net::SocketAddr::V4(a)) => (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port()),
        _ => addr.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3)),
    }
}

/// Posts one event; a `NO_ACCUMULATE` post checks and adds under one agent-wide lock, so the
/// agent (client threads and data-connection threads alike) is a single check-then-add poster.
pub(crate) fn post<Fd: AsFd>(fd: Fd, no_accumulate: bool) {
    static NO_ACCUMULATE: Mutex<()> = Mutex::new(());
    let r = if no_accumulate {
        let _one_at_a_time = NO_ACCUMULATE.lock().unwrap_or_else(|p| p.into_inner());
        rsm_os::event::post_no_accumulate_sigpipe_ignored(fd)
    } else {
        // rsmd is a Rust program: SIGPIPE is ignored.
        rsm_os::event::post_sigpipe_ignored(fd)
    };
    if let Err(e) = r {
        tracing::warn!("event post failed: {e}");
    }
}
