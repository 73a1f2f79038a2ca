//! The body of the `agent_session` fuzz target, shared with its stable replay test: one
//! hostile client session against a live agent, while a well-behaved exporter (the witness)
//! keeps a published segment there. After every session the agent must still answer, and the
//! witness's segment must still be published with its contents intact: a malformed or
//! malicious client may lose its own connection, never crash the agent or change another
//! client's state.
//!
//! Input layout: byte 0 chooses whether the session starts with a valid `Hello`; then
//! messages, each `[len: u8][flags: u8][len bytes]`; flag bit 0 attaches a fresh memfd of
//! the witness's size (sealed or not by bit 1), bit 2 attaches an eventfd.

use rsm::{AccessEntry, ExportFlags, ExportSegment, ImportSegment, perm};
use rsm_os::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const WITNESS_SIZE: usize = 2 * 4096;
const WITNESS_TEXT: &[u8] = b"the witness's bytes";

struct World {
    _agent: rsmd::Agent,
    socket: PathBuf,
    _dir: tempfile::TempDir,
    witness: ExportSegment,
    /// The checker's own client connection, kept across sessions, for the full check (an
    /// import of the witness).
    ctl: rsm::Controller,
    /// A raw client connection (past its Hello) that asks the registry for its segments
    /// after every session: one round trip, no descriptors, no mapping.
    probe: OwnedFd,
    sessions: u64,
    id: u32,
    node: u32,
}

/// Every this many sessions the check also imports the witness through the agent.
const FULL_CHECK_EVERY: u64 = 64;

fn call(sock: &OwnedFd, req: &rsm_proto::Request) -> rsm_proto::Response {
    rsm_os::uds::send(sock, &rsm_proto::encode(req), &[]).expect("the agent stopped reading the probe connection");
    let mut buf = Vec::new();
    match rsm_os::uds::recv(sock, &mut buf) {
        Ok(Some(_)) => rsm_proto::decode(&buf).expect("the agent sent an answer that does not decode"),
        other => panic!("the agent stopped answering the probe connection: {other:?}"),
    }
}

fn world() -> &'static Mutex<World> {
    static W: OnceLock<Mutex<World>> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("fuzz.sock");
        let cfg = rsmd::Config { node_id: 5, socket: socket.clone(), ..Default::default() };
        let agent = rsmd::Agent::start(&cfg).expect("agent");
        let ctl = rsm::Controller::get_at(&socket, Some("loopback")).expect("controller");
        let witness = ExportSegment::allocate(&ctl, WITNESS_SIZE, ExportFlags::empty()).expect("witness segment");
        witness.write_at(100, WITNESS_TEXT).expect("write");
        let id = witness.publish(0x600000, &[AccessEntry { node: 5, perm: 0o600 }]).expect("publish");
        let probe = rsm_os::uds::connect(&socket).expect("probe connection");
        call(&probe, &rsm_proto::Request::Hello { version: rsm_proto::VERSION });
        Mutex::new(World { _agent: agent, socket, _dir: dir, witness, ctl, probe, sessions: 0, id, node: 5 })
    })
}

fn attach(flags: u8) -> Vec<OwnedFd> {
    let mut v = Vec::new();
    if flags & 1 != 0 {
        if let Ok(fd) = rsm_os::memfd::create("fuzz", WITNESS_SIZE as u64) {
            if flags & 2 != 0 {
                let _ = rsm_os::memfd::seal_size(&fd);
            }
            v.push(fd);
        }
    }
    if flags & 4 != 0 {
        // The writing end of an event counter, as a client sends it (the reading end closes
        // here: the agent's posts then go nowhere, as after a client's death).
        if let Ok((_, fd)) = rsm_os::event::create() {
            v.push(fd);
        }
    }
    v
}

/// One hostile session, then the checks. Panics (the fuzzer's signal) if the agent died or
/// the witness was disturbed: after every session the agent must accept a connection, answer
/// a registry query on a connection it already had, list the witness as published with its
/// size, and the witness's bytes must be unchanged; every 64th session the witness is also
/// imported and read through the agent.
pub fn agent_session(data: &[u8]) {
    let w = world().lock().unwrap_or_else(|p| p.into_inner());
    // A new connection must always be accepted: an agent that stopped accepting is a failure.
    {
        let sock = rsm_os::uds::connect(&w.socket).expect("the agent stopped accepting connections");
        let _ = rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(200)),
        );
        let mut rest = data;
        if let Some((&first, r)) = rest.split_first() {
            rest = r;
            if first & 1 == 1 {
                let hello = rsm_proto::encode(&rsm_proto::Request::Hello { version: rsm_proto::VERSION });
                let _ = rsm_os::uds::send(&sock, &hello, &[]);
                let mut buf = Vec::new();
                let _ = rsm_os::uds::recv(&sock, &mut buf);
            }
        }
        while let [len, flags, tail @ ..] = rest {
            let n = (*len as usize).min(tail.len());
            let (msg, after) = tail.split_at(n);
            rest = after;
            let fds = attach(*flags);
            let b: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
            if rsm_os::uds::send(&sock, msg, &b).is_err() {
                break;
            }
            let mut buf = Vec::new();
            match rsm_os::uds::recv(&sock, &mut buf) {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
    // The agent still answers another client (a round trip through its registry), and the
    // witness is untouched: still published under its id, same size, same bytes.
    let mut w = w;
    assert_eq!(w.witness.segment_id(), Some(w.id));
    match call(&w.probe, &rsm_proto::Request::Segments) {
        rsm_proto::Response::Segments(list) => {
            let mine: Vec<_> = list.iter().filter(|i| i.segment_id == Some(w.id)).collect();
            assert_eq!(mine.len(), 1, "the witness segment is no longer published (or twice): {list:?}");
            assert_eq!(mine[0].size, WITNESS_SIZE as u64, "the witness segment changed size");
        }
        other => panic!("Segments answered with {other:?}"),
    }
    let mut got = vec![0u8; WITNESS_TEXT.len()];
    w.witness.read_at(100, &mut got).expect("read");
    assert_eq!(got, WITNESS_TEXT, "the witness's memory changed");
    w.sessions += 1;
    if w.sessions % FULL_CHECK_EVERY == 0 {
        let imp =
            ImportSegment::connect(&w.ctl, w.node, w.id, perm::READ).expect("the witness segment is still published");
        let _ = imp.set_mode(rsm::BarrierMode::Explicit);
        imp.get(100, &mut got).expect("get");
        assert_eq!(got, WITNESS_TEXT, "the witness's memory changed");
        imp.disconnect().expect("disconnect");
    }
}
