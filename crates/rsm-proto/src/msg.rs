use serde::{Deserialize, Serialize};

/// One entry of a node access list (`rsmapi_access_entry_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// Node allowed to import.
    pub node: u32,
    /// Octal owner/group/other mode for that node.
    pub perm: u32,
}

/// Controller attributes (`rsmapi_controller_attr_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerAttr {
    /// Bit set of `RSM_DAS*` widths for direct access.
    pub direct_access_sizes: u32,
    /// Bit set of `RSM_DAS*` widths accessed atomically.
    pub atomic_sizes: u32,
    /// Page size.
    pub page_size: u64,
    /// Largest export segment.
    pub max_export_segment_size: u64,
    /// Total exportable bytes.
    pub tot_export_segment_size: u64,
    /// Most export segments.
    pub max_export_segments: u64,
    /// Largest import mapping (0: the controller cannot map).
    pub max_import_map_size: u64,
    /// Total mappable import bytes.
    pub tot_import_map_size: u64,
    /// Most import segments.
    pub max_import_segments: u64,
}

/// A remote controller reachable from a local one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteController {
    /// Node id of the peer.
    pub node: u32,
    /// Its controller name.
    pub name: String,
    /// Its hardware address.
    pub hwaddr: u64,
    /// Path state: 1 down, 2 up, 3 active, 4 going down.
    pub state: u32,
}

/// One local controller and what it reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalController {
    /// `"<type><unit>"`.
    pub name: String,
    /// Its hardware address.
    pub hwaddr: u64,
    /// Peers.
    pub remotes: Vec<RemoteController>,
}

/// A topology snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// This node.
    pub local_node: u32,
    /// Local controllers except loopback.
    pub controllers: Vec<LocalController>,
}

/// A segment as `rsmctl segments` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Agent-local export id.
    pub export: u64,
    /// Published id, if published.
    pub segment_id: Option<u32>,
    /// Controller it was created on.
    pub controller: String,
    /// Size in bytes.
    pub size: u64,
    /// Creating process.
    pub creator_pid: u32,
    /// Creator's uid and gid.
    pub uid: u32,
    /// Creator's gid.
    pub gid: u32,
    /// Default mode (from the creator's umask).
    pub mode: u32,
    /// Access list.
    pub acl: Vec<AclEntry>,
    /// Number of connected importers.
    pub importers: u32,
}

/// Counters an agent keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Node id.
    pub node: u32,
    /// Agent pid.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Controllers configured.
    pub controllers: Vec<String>,
    /// Connected clients.
    pub clients: u64,
    /// Export segments (created).
    pub exports: u64,
    /// Of which published.
    pub published: u64,
    /// Of those, the ones whose memory descriptors the agent holds itself (three descriptors
    /// each instead of one): see `limits.hold_segment_memory`.
    pub memory_held: u64,
    /// Import connections of local processes.
    pub imports: u64,
    /// Importers on other nodes of local segments.
    pub remote_importers: u64,
    /// Bytes in export segments.
    pub exported_bytes: u64,
    /// Lifetime counters.
    pub connects: u64,
    /// Lifetime count of refused connects.
    pub connects_refused: u64,
    /// Lifetime count of revocations (unpublish, destroy, exporter death).
    pub revocations: u64,
    /// Lifetime count of events delivered by the agent.
    pub signals: u64,
    /// Lifetime count of clients that went away without cleaning up.
    pub clients_died: u64,
}

/// How an importing process reaches a segment on another node: a data connection to the
/// exporting node's agent, authenticated by a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteAccess {
    /// `host:port` of the exporting node's controller.
    pub addr: String,
    /// Reference of the import on the exporting node.
    pub import_ref: u64,
    /// The ticket ([`crate::data::TICKET_LEN`] random bytes).
    pub ticket: Vec<u8>,
}

/// A request from a client process to its node agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// First message on a connection. Answered by [`Response::Hello`] carrying one fd: the
    /// generation table (read-only).
    Hello {
        /// Client's protocol version.
        version: u8,
    },
    /// Look up a controller by canonical name (`loopback`, `tcp0`).
    GetController {
        /// Canonical name.
        name: String,
    },
    /// Topology snapshot.
    Topology,
    /// Register a new export segment.
    ExportCreate {
        /// Controller name.
        controller: String,
        /// Size in bytes.
        size: u64,
        /// `RSM_ALLOW_REBIND` etc.
        flags: u32,
        /// `0777 & ~umask` of the creating process.
        mode: u32,
    },
    /// Publish. Carries three fds: the read-write memfd, a read-only reopen of it, and the
    /// segment's eventfd (the agent may keep only the eventfd: see `memfd_slot`).
    ExportPublish {
        /// Export id from [`Response::ExportCreated`].
        export: u64,
        /// 0 to let the agent choose.
        segment_id: u32,
        /// Access list (empty: every node, default mode).
        acl: Vec<AclEntry>,
        /// The exporter's own descriptor number of the memfd, which it keeps open while the
        /// segment is published: an agent allowed to (`pidfd_getfd`) takes a duplicate from
        /// there when an importer needs one instead of holding the memfd itself.
        memfd_slot: i32,
    },
    /// Replace the access list.
    ExportRepublish {
        /// Export id.
        export: u64,
        /// New access list.
        acl: Vec<AclEntry>,
    },
    /// Withdraw the id and cut off every importer.
    ExportUnpublish {
        /// Export id.
        export: u64,
    },
    /// Forget the segment (unpublishing it first if needed).
    ExportDestroy {
        /// Export id.
        export: u64,
    },
    /// Post one event to every importer.
    ExportPost {
        /// Export id.
        export: u64,
        /// `RSM_SIGPOST_NO_ACCUMULATE`.
        no_accumulate: bool,
    },
    /// Connect to a published segment. Carries one fd: the import's eventfd. Answered by
    /// [`Response::Connected`] with two fds: the segment memfd (read-only unless write was
    /// granted) and the exporter's eventfd.
    ImportConnect {
        /// Controller name.
        controller: String,
        /// Exporting node.
        node: u32,
        /// Segment id.
        segment_id: u32,
        /// Requested `RSM_PERM_*`.
        perm: u32,
    },
    /// Disconnect.
    ImportDisconnect {
        /// Import id.
        import: u64,
    },
    /// Post one event to the exporter through the agent.
    ImportPost {
        /// Import id.
        import: u64,
        /// `RSM_SIGPOST_NO_ACCUMULATE`.
        no_accumulate: bool,
    },
    /// Agent status and counters.
    Status,
    /// All export segments.
    Segments,
}

/// The agent's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done.
    Ok,
    /// Failed with an `RSMERR_*` code.
    Err {
        /// The code.
        code: u16,
    },
    /// Answer to Hello.
    Hello {
        /// This node's id.
        node: u32,
    },
    /// Controller found.
    Controller {
        /// Its attributes.
        attr: ControllerAttr,
    },
    /// Topology.
    Topology(Topology),
    /// Export registered.
    ExportCreated {
        /// Export id.
        export: u64,
    },
    /// Published.
    Published {
        /// The id (as chosen when 0 was asked).
        segment_id: u32,
    },
    /// Connected.
    Connected {
        /// Import id.
        import: u64,
        /// Segment size.
        size: u64,
        /// Rights of the connection (`RSM_PERM_*` bits).
        rights: u32,
        /// Generation cell.
        gen_cell: u32,
        /// Its value at connect.
        generation: u32,
        /// For a segment on another node: where and how to reach its data.
        remote: Option<RemoteAccess>,
    },
    /// Status.
    Status(AgentStatus),
    /// Segments.
    Segments(Vec<SegmentInfo>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeError, decode, encode};
    use proptest::prelude::*;

    fn acl() -> impl Strategy<Value = Vec<AclEntry>> {
        proptest::collection::vec((any::<u32>(), any::<u32>()).prop_map(|(node, perm)| AclEntry { node, perm }), 0..70)
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            any::<u8>().prop_map(|version| Request::Hello { version }),
            ".{0,300}".prop_map(|name| Request::GetController { name }),
            Just(Request::Topology),
            (".{0,20}", any::<u64>(), any::<u32>(), any::<u32>())
                .prop_map(|(controller, size, flags, mode)| Request::ExportCreate { controller, size, flags, mode }),
            (any::<u64>(), any::<u32>(), acl(), any::<i32>()).prop_map(|(export, segment_id, acl, memfd_slot)| {
                Request::ExportPublish { export, segment_id, acl, memfd_slot }
            }),
            (any::<u64>(), acl()).prop_map(|(export, acl)| Request::ExportRepublish { export, acl }),
            any::<u64>().prop_map(|export| Request::ExportUnpublish { export }),
            any::<u64>().prop_map(|export| Request::ExportDestroy { export }),
            (any::<u64>(), any::<bool>())
                .prop_map(|(export, no_accumulate)| Request::ExportPost { export, no_accumulate }),
            (".{0,20}", any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(controller, node, segment_id, perm)| {
                Request::ImportConnect { controller, node, segment_id, perm }
            }),
            any::<u64>().prop_map(|import| Request::ImportDisconnect { import }),
            (any::<u64>(), any::<bool>())
                .prop_map(|(import, no_accumulate)| Request::ImportPost { import, no_accumulate }),
            Just(Request::Status),
            Just(Request::Segments),
        ]
    }

    proptest! {
        #[test]
        fn request_roundtrip(r in request()) {
            prop_assert_eq!(decode::<Request>(&encode(&r)).unwrap(), r);
        }

        #[test]
        fn response_roundtrip(code in any::<u16>(), import in any::<u64>(), size in any::<u64>(), rights in any::<u32>(), cell in any::<u32>(), g in any::<u32>()) {
            for r in [Response::Ok, Response::Err { code }, Response::Connected { import, size, rights, gen_cell: cell, generation: g, remote: None }] {
                prop_assert_eq!(decode::<Response>(&encode(&r)).unwrap(), r);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
        }
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode::<Request>(&[]), Err(DecodeError::Empty));
        assert_eq!(decode::<Request>(&[9, 0]), Err(DecodeError::Version(9)));
        let mut f = encode(&Request::Topology);
        f.push(0);
        assert_eq!(decode::<Request>(&f), Err(DecodeError::Trailing(1)));
        assert!(matches!(decode::<Request>(&[VERSION_BYTE, 200]), Err(DecodeError::Malformed(_))));
    }
    const VERSION_BYTE: u8 = crate::VERSION;
}
