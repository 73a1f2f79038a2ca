//! Access control with real, different users (spec section 4, T10, T11). Needs root: the
//! puppets drop to uids 4242/4343 and gids 4242/5000 (which need not exist).

use rsm::{Error, ImportSegment, perm};
use rsm_testkit::{Identity, Puppet, TestAgent, require_root};

const OWNER: u32 = 4242;
const OTHER_UID: u32 = 4343;
const GROUP: u32 = 4242;
const OTHER_GID: u32 = 5000;

fn owner() -> Identity {
    Identity::new(OWNER, GROUP)
}
fn same_group() -> Identity {
    Identity::new(OTHER_UID, GROUP)
}
fn other() -> Identity {
    Identity::new(OTHER_UID, OTHER_GID)
}
fn supplementary() -> Identity {
    Identity::new(OTHER_UID, OTHER_GID).with_groups(&[7777, GROUP])
}

/// Connects with `perm` (octal); `Ok(handle)` or `Err(code)`.
fn connect(p: &mut Puppet, id: u64, perm: &str) -> Result<String, String> {
    let r = p.cmd(&format!("connect 1 {id:#x} {perm}"));
    match r.strip_prefix("ok ") {
        Some(h) => Ok(h.to_string()),
        None => Err(r.strip_prefix("err ").unwrap_or(&r).to_string()),
    }
}

/// The exporter: a puppet of uid 4242 with `umask`, one 8 KiB segment with "secret" at 0,
/// published with `acl` (e.g. "1:624", or "" for the empty list).
fn exporter(agent: &TestAgent, umask: &str, acl: &str) -> (Puppet, String, u64) {
    let mut e = agent.puppet_as(&owner());
    assert_eq!(e.ok("whoami"), format!("{OWNER} {GROUP}"));
    e.ok(&format!("umask {umask}"));
    let h = e.ok("export 8192");
    e.ok(&format!("write {h} 0 secret"));
    let id = e.num(&format!("publish {h} 0 {acl}"));
    (e, h, id)
}

#[test]
fn t10_worked_example_0624() {
    require_root!();
    let agent = TestAgent::start(1);
    let (mut e, h, id) = exporter(&agent, "022", "1:624");

    // Owner (same uid): read and write.
    let mut o = agent.puppet_as(&owner());
    let oh = connect(&mut o, id, "600").unwrap();
    assert_eq!(o.ok(&format!("rights {oh}")), "600");
    o.ok(&format!("barrier {oh}"));
    assert_eq!(o.ok(&format!("get {oh} 0 6")), "secret");
    o.ok(&format!("put {oh} 100 by-owner"));
    assert_eq!(e.ok(&format!("read {h} 100 8")), "by-owner");

    // Same group, another uid: only write.
    let mut g = agent.puppet_as(&same_group());
    assert_eq!(g.ok("whoami"), format!("{OTHER_UID} {GROUP}"));
    assert_eq!(connect(&mut g, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut g, id, "400").unwrap_err(), "RSMERR_PERM_DENIED");
    let gh = connect(&mut g, id, "200").unwrap();
    assert_eq!(g.ok(&format!("rights {gh}")), "200");
    assert_eq!(g.err(&format!("map {gh} 600")), "RSMERR_BAD_PERMS");
    g.ok(&format!("barrier {gh}"));
    g.ok(&format!("put {gh} 200 by-group"));
    assert_eq!(e.ok(&format!("read {h} 200 8")), "by-group");
    assert_eq!(g.err(&format!("get {gh} 0 6")), "RSMERR_PERM_DENIED");

    // Others: only read.
    let mut x = agent.puppet_as(&other());
    assert_eq!(connect(&mut x, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut x, id, "200").unwrap_err(), "RSMERR_PERM_DENIED");
    let xh = connect(&mut x, id, "400").unwrap();
    assert_eq!(x.err(&format!("map {xh} 600")), "RSMERR_BAD_PERMS");
    x.ok(&format!("barrier {xh}"));
    assert_eq!(x.ok(&format!("get {xh} 100 8")), "by-owner");
    assert_eq!(x.err(&format!("put {xh} 0 by-other")), "RSMERR_PERM_DENIED");
    assert_eq!(e.ok(&format!("read {h} 0 6")), "secret");

    // A supplementary group counts as the group.
    let mut s = agent.puppet_as(&supplementary());
    assert_eq!(connect(&mut s, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut s, id, "400").unwrap_err(), "RSMERR_PERM_DENIED");
    let sh = connect(&mut s, id, "200").unwrap();
    s.ok(&format!("barrier {sh}"));
    s.ok(&format!("put {sh} 300 by-supplementary"));
    assert_eq!(e.ok(&format!("read {h} 300 16")), "by-supplementary");

    // perm 0 asks for nothing and is granted nothing, to anybody.
    let zh = connect(&mut x, id, "0").unwrap();
    assert_eq!(x.ok(&format!("rights {zh}")), "0");

    // A privileged process may pass anyway (the Solaris privilege check).
    let ctl = agent.controller("loopback");
    let root = ImportSegment::connect(&ctl, 1, id as u32, perm::RDWR).unwrap();
    assert_eq!(root.rights(), perm::RDWR);

    // The agent counted the refusals.
    assert_eq!(agent.status().connects_refused, 6);
}

#[test]
fn t10_empty_acl_uses_the_exporters_umask() {
    require_root!();
    let agent = TestAgent::start(1);
    // umask 022: 0777 & ~022 = 0755, limited to rw bits: owner rw, group and others r.
    let (_e, _h, id) = exporter(&agent, "022", "");
    assert_eq!(agent.segments().iter().find(|s| s.segment_id == Some(id as u32)).unwrap().mode, 0o755);
    let mut o = agent.puppet_as(&owner());
    assert!(connect(&mut o, id, "600").is_ok());
    let mut g = agent.puppet_as(&same_group());
    assert_eq!(connect(&mut g, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut g, id, "200").unwrap_err(), "RSMERR_PERM_DENIED");
    let gh = connect(&mut g, id, "400").unwrap();
    g.ok(&format!("barrier {gh}"));
    assert_eq!(g.ok(&format!("get {gh} 0 6")), "secret");
    let mut x = agent.puppet_as(&other());
    assert_eq!(connect(&mut x, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut x, id, "200").unwrap_err(), "RSMERR_PERM_DENIED");
    assert!(connect(&mut x, id, "400").is_ok());

    // umask 077: only the owner; umask 000: everybody reads and writes.
    let (_e2, _h2, private) = exporter(&agent, "077", "");
    assert_eq!(agent.segments().iter().find(|s| s.segment_id == Some(private as u32)).unwrap().mode, 0o700);
    assert!(connect(&mut o, private, "600").is_ok());
    assert_eq!(connect(&mut g, private, "400").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut x, private, "400").unwrap_err(), "RSMERR_PERM_DENIED");
    let (_e3, h3, open) = exporter(&agent, "000", "");
    let xh = connect(&mut x, open, "600").unwrap();
    x.ok(&format!("barrier {xh}"));
    x.ok(&format!("put {xh} 0 public"));
    let mut e3 = _e3;
    assert_eq!(e3.ok(&format!("read {h3} 0 6")), "public");
    // The umask is the creator's at create time: changing it later changes nothing.
    e3.ok("umask 077");
    assert!(connect(&mut g, open, "600").is_ok());
}

#[test]
fn t10_node_access_list_on_loopback() {
    require_root!();
    // The loopback controller only reaches its own node, so its access list can only name it
    // (spec 3.4): a list for another node is refused with BAD_ACL at publish, and the
    // "node not in the list" refusal (SEG_NOT_PUBLISHED_TO_NODE) needs a network controller.
    let agent = TestAgent::start(1);
    let mut e = agent.puppet_as(&owner());
    let h = e.ok("export 4096");
    assert_eq!(e.err(&format!("publish {h} 0 2:666")), "RSMERR_BAD_ACL");
    // The node's entry is the most any user on it gets: 0444 makes even the owner read-only.
    let id = e.num(&format!("publish {h} 0 1:444"));
    let mut o = agent.puppet_as(&owner());
    assert_eq!(connect(&mut o, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut o, id, "200").unwrap_err(), "RSMERR_PERM_DENIED");
    let oh = connect(&mut o, id, "400").unwrap();
    assert_eq!(o.ok(&format!("rights {oh}")), "400");
}

#[test]
fn t11_republish_changes_only_new_connects() {
    require_root!();
    let agent = TestAgent::start(1);
    let (mut e, h, id) = exporter(&agent, "022", "1:666");
    let mut g = agent.puppet_as(&same_group());
    let gh = connect(&mut g, id, "600").unwrap();
    g.ok(&format!("barrier {gh}"));
    // Only the owner from now on.
    e.ok(&format!("republish {h} 1:600"));
    // The existing connection keeps the rights it got.
    g.ok(&format!("put {gh} 0 still-connected"));
    assert_eq!(e.ok(&format!("read {h} 0 15")), "still-connected");
    assert_eq!(g.ok(&format!("get {gh} 0 5")), "still");
    g.ok(&format!("open {gh}"));
    g.ok(&format!("close {gh}"));
    // A fresh connect is decided by the new list.
    assert_eq!(connect(&mut g, id, "600").unwrap_err(), "RSMERR_PERM_DENIED");
    assert_eq!(connect(&mut g, id, "400").unwrap_err(), "RSMERR_PERM_DENIED");
    let mut o = agent.puppet_as(&owner());
    assert!(connect(&mut o, id, "600").is_ok());
    // Back to the umask default (0755 -> group may read).
    e.ok(&format!("republish {h}"));
    assert!(connect(&mut g, id, "400").is_ok());
    // Republish needs a published segment.
    e.ok(&format!("unpublish {h}"));
    assert_eq!(e.err(&format!("republish {h} 1:666")), "RSMERR_SEG_NOT_PUBLISHED");
}

#[test]
fn read_only_importer_cannot_get_write_access() {
    require_root!();
    let agent = TestAgent::start(1);
    let (mut e, h, id) = exporter(&agent, "022", "1:644");
    let mut x = agent.puppet_as(&other());
    let xh = connect(&mut x, id, "400").unwrap();
    x.ok(&format!("map {xh} 400"));
    assert_eq!(x.ok(&format!("load {xh} 0 6")), "secret");
    // Neither by changing the protection of its mapping...
    assert!(x.ok(&format!("tryprotect {xh}")).starts_with("denied"), "mprotect to writable must fail");
    // ...nor by reopening the descriptor it was given for writing.
    let r = x.ok("tryreopen");
    assert!(r.starts_with("denied ") && r != "denied 0", "reopen for writing must fail: {r}");
    assert_eq!(e.ok(&format!("read {h} 0 6")), "secret");
}

/// A client speaking the wire protocol directly, as a buggy or hostile program could.
struct RawClient {
    fd: rsm_os::OwnedFd,
}

impl RawClient {
    fn connect(agent: &TestAgent) -> RawClient {
        let fd = rsm_os::uds::connect(agent.socket()).unwrap();
        let c = RawClient { fd };
        let (resp, fds) = c.call(&rsm_proto::Request::Hello { version: rsm_proto::VERSION }, &[]);
        assert_eq!(resp, rsm_proto::Response::Hello { node: agent.node_id() });
        assert_eq!(fds.len(), 1, "Hello carries the generation table");
        c
    }

    fn call(
        &self,
        req: &rsm_proto::Request,
        fds: &[rsm_os::BorrowedFd<'_>],
    ) -> (rsm_proto::Response, Vec<rsm_os::OwnedFd>) {
        rsm_os::uds::send(&self.fd, &rsm_proto::encode(req), fds).unwrap();
        let mut buf = Vec::new();
        let fds = rsm_os::uds::recv(&self.fd, &mut buf).unwrap().expect("agent closed the connection");
        (rsm_proto::decode(&buf).unwrap(), fds)
    }

    fn code(&self, req: &rsm_proto::Request) -> u16 {
        match self.call(req, &[]).0 {
            rsm_proto::Response::Err { code } => code,
            other => panic!("{req:?} should have failed, got {other:?}"),
        }
    }
}

#[test]
fn agent_refuses_other_clients_handles_and_bad_memory() {
    use rsm_os::AsFd;
    use rsm_proto::Request;
    // Not root-only: the creator of a segment is a client connection, whoever runs it.
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let h = e.ok("export 8192");
    e.ok(&format!("write {h} 0 intact"));
    let id = e.num(&format!("publish {h} 0 1:666")) as u32;
    let export = agent.segments().iter().find(|s| s.segment_id == Some(id)).unwrap().export;
    let mut imp = agent.puppet();
    let ih = imp.ok(&format!("connect 1 {id} 600"));
    imp.ok(&format!("barrier {ih}"));

    let raw = RawClient::connect(&agent);
    let not_creator = Error::NotCreator.code() as u16;
    assert_eq!(raw.code(&Request::ExportUnpublish { export }), not_creator);
    assert_eq!(raw.code(&Request::ExportDestroy { export }), not_creator);
    assert_eq!(raw.code(&Request::ExportRepublish { export, acl: vec![] }), not_creator);
    assert_eq!(raw.code(&Request::ExportPost { export, no_accumulate: false }), not_creator);
    assert_eq!(raw.code(&Request::ExportPublish { export, segment_id: 0, acl: vec![], memfd_slot: 0 }), not_creator);
    // Imports are the importer's: guessing their ids gets nothing.
    for import in 0..64 {
        assert_eq!(raw.code(&Request::ImportDisconnect { import }), Error::BadSegHndl.code() as u16);
        assert_eq!(raw.code(&Request::ImportPost { import, no_accumulate: false }), Error::BadSegHndl.code() as u16);
    }
    // Unknown controller, wrong node, bad perm bits.
    let conn = |controller: &str, node, perm| Request::ImportConnect {
        controller: controller.into(),
        node,
        segment_id: id,
        perm,
    };
    assert_eq!(raw.code(&conn("tcp0", 1, 0o600)), Error::CtlrNotPresent.code() as u16);
    assert_eq!(raw.code(&conn("loopback", 2, 0o600)), Error::CtlrNotPresent.code() as u16);
    assert_eq!(raw.code(&conn("loopback", 1, 0o777)), Error::PermDenied.code() as u16);

    // A client cannot publish memory that could fault importers: an unsealed memfd, a memfd
    // of the wrong size, or the wrong number of descriptors.
    let created =
        raw.call(&Request::ExportCreate { controller: "loopback".into(), size: 4096, flags: 0, mode: 0o755 }, &[]);
    let rsm_proto::Response::ExportCreated { export: mine } = created.0 else {
        panic!("create: {created:?}", created = created.0)
    };
    let unsealed = rsm_os::memfd::create("unsealed", 4096).unwrap();
    let unsealed_ro = rsm_os::memfd::reopen_readonly(&unsealed).unwrap();
    let wrong = rsm_os::memfd::create("wrong-size", 8192).unwrap();
    rsm_os::memfd::seal_size(&wrong).unwrap();
    let wrong_ro = rsm_os::memfd::reopen_readonly(&wrong).unwrap();
    let (_ev_read, ev) = rsm_os::event::create().unwrap();
    let publish = Request::ExportPublish { export: mine, segment_id: 0, acl: vec![], memfd_slot: 0 };
    let code = |r: (rsm_proto::Response, Vec<rsm_os::OwnedFd>)| match r.0 {
        rsm_proto::Response::Err { code } => code,
        other => panic!("publish should fail: {other:?}"),
    };
    assert_eq!(
        code(raw.call(&publish, &[unsealed.as_fd(), unsealed_ro.as_fd(), ev.as_fd()])),
        Error::BadAddr.code() as u16
    );
    assert_eq!(code(raw.call(&publish, &[wrong.as_fd(), wrong_ro.as_fd(), ev.as_fd()])), Error::BadAddr.code() as u16);
    assert_eq!(code(raw.call(&publish, &[ev.as_fd()])), Error::BadArgsErrors.code() as u16);
    // The "read-only" descriptor of another memfd: read-only importers would see other
    // memory than the one read-write importers change.
    let good = rsm_os::memfd::create("good", 4096).unwrap();
    rsm_os::memfd::seal_size(&good).unwrap();
    let other = rsm_os::memfd::create("other", 4096).unwrap();
    rsm_os::memfd::seal_size(&other).unwrap();
    let other_ro = rsm_os::memfd::reopen_readonly(&other).unwrap();
    assert_eq!(code(raw.call(&publish, &[good.as_fd(), other_ro.as_fd(), ev.as_fd()])), Error::BadAddr.code() as u16);
    assert_eq!(raw.call(&Request::ExportDestroy { export: mine }, &[]).0, rsm_proto::Response::Ok);
    // The owner's segment is untouched by all of that.
    imp.ok(&format!("put {ih} 100 still-works"));
    assert_eq!(imp.ok(&format!("get {ih} 0 6")), "intact");
    assert_eq!(e.ok(&format!("read {h} 100 11")), "still-works");
}

#[test]
fn agent_survives_garbage_and_wrong_versions() {
    let agent = TestAgent::start(1);
    let fd = rsm_os::uds::connect(agent.socket()).unwrap();
    // A wrong protocol version in Hello: BAD_DRIVER_VERSION.
    rsm_os::uds::send(&fd, &rsm_proto::encode(&rsm_proto::Request::Hello { version: 99 }), &[]).unwrap();
    let mut buf = Vec::new();
    rsm_os::uds::recv(&fd, &mut buf).unwrap().unwrap();
    assert_eq!(
        rsm_proto::decode::<rsm_proto::Response>(&buf).unwrap(),
        rsm_proto::Response::Err { code: Error::BadDriverVersion.code() as u16 }
    );
    // Garbage: the agent drops that connection and nothing else.
    rsm_os::uds::send(&fd, &[rsm_proto::VERSION, 0xff, 0xff, 0xff], &[]).unwrap();
    assert!(rsm_os::uds::recv(&fd, &mut buf).unwrap().is_none(), "the agent hangs up on garbage");
    let fd2 = rsm_os::uds::connect(agent.socket()).unwrap();
    rsm_os::uds::send(&fd2, &rsm_proto::encode(&rsm_proto::Request::Status), &[]).unwrap();
    assert!(rsm_os::uds::recv(&fd2, &mut buf).unwrap().is_none(), "the first message must be Hello");
    let mut p = agent.puppet();
    assert_eq!(p.ok("node"), "1");
}

/// An importer on the exporter's node is given the exporter's event counter so that it can
/// post without the agent: only its writing end. Posting through it wakes the exporter; it
/// cannot read, so an importer cannot take (steal) events meant for the exporter.
#[test]
fn an_importer_can_post_to_the_exporter_but_not_consume_its_events() {
    use rsm_os::AsFd;
    let agent = TestAgent::start(1);
    let mut e = agent.puppet();
    let h = e.ok("export 4096");
    let id = e.num(&format!("publish {h} 0")) as u32;
    let c = RawClient::connect(&agent);
    let (_own_read, own_write) = rsm_os::event::create().unwrap();
    let req = rsm_proto::Request::ImportConnect { controller: "loopback".into(), node: 1, segment_id: id, perm: 0o400 };
    let (resp, fds) = c.call(&req, &[own_write.as_fd()]);
    assert!(matches!(resp, rsm_proto::Response::Connected { .. }), "{resp:?}");
    assert_eq!(fds.len(), 2, "the memfd and the exporter's event counter");
    let export_event = &fds[1];
    rsm_os::event::post(export_event).unwrap();
    rsm_os::event::post(export_event).unwrap();
    assert_eq!(rsm_os::event::try_consume(export_event), Err(rsm_os::Errno::BADF));
    let mut b = [0u8; 8];
    assert_eq!(rustix::io::read(export_event, &mut b), Err(rsm_os::Errno::BADF));
    e.ok(&format!("ewait {h} 1000"));
    e.ok(&format!("ewait {h} 1000"));
    assert_eq!(e.err(&format!("ewait {h} 0")), "RSMERR_TIMEOUT");
}
