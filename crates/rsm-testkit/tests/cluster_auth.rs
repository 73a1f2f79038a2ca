//! Issue #3, authentication: a raw TCP client on a node's `tcp0` port that sends garbage,
//! speaks the link protocol without the cluster key, or presents a made-up or wrong ticket on
//! a data connection gets no segment, no data and no signal: the connection is closed without
//! a byte, the exporter's memory is unchanged, its signal wait times out, and the agent keeps
//! serving everybody else. An agent started with another key never gets an active path.

use hmac::{Hmac, Mac};
use rsm::{
    AccessEntry, BarrierMode, BarrierType, CONNECTION_ACTIVE, Error, ExportFlags, ExportSegment, ImportSegment, perm,
};
use rsm_os::OwnedFd;
use rsm_proto::data::{self, Header, Op};
use rsm_proto::{LinkMsg, NONCE_LEN, RemoteAccess, Request, Response, frame_link};
use rsm_testkit::{TestCluster, pattern, wait_until};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SIZE: usize = 64 * 1024;

/// A segment on node 1 that every node may read and write, filled with a known pattern.
fn victim(c: &TestCluster) -> (ExportSegment, u32, Vec<u8>) {
    let seg = ExportSegment::allocate(&c.controller(1, "tcp0"), SIZE, ExportFlags::empty()).unwrap();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o666 }]).unwrap();
    let content = pattern(77, SIZE);
    seg.write_at(0, &content).unwrap();
    (seg, id, content)
}

fn dial(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect to tcp0");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Writes, ignoring a peer that already hung up.
fn send(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}

/// The agent closes the connection without sending a single byte.
fn assert_closed_without_data(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("{what}: the agent sent {n} bytes: {:02x?}", &buf[..n.min(32)]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
                ) =>
            {
                return;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: not closed after {:?}: {e}", t0.elapsed()),
        }
    }
}

/// The exporter's memory is exactly `content`, and no event is pending for it.
fn assert_untouched(seg: &ExportSegment, content: &[u8], what: &str) {
    let mut now = vec![0u8; content.len()];
    seg.read_at(0, &mut now).unwrap();
    assert!(now == content, "{what}: the exporter's memory changed");
    assert_eq!(
        seg.signal_wait(Some(Duration::from_millis(300))),
        Err(Error::Timeout),
        "{what}: the exporter got a signal"
    );
}

/// A normal importer on node 2 still works (put, close, get), and the link is still up.
fn assert_still_serving(c: &TestCluster, id: u32, seg: &ExportSegment, content: &mut [u8]) {
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    imp.set_mode(BarrierMode::Explicit).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    bar.open().unwrap();
    imp.put(SIZE - 5, b"legit").unwrap();
    bar.close().unwrap();
    let mut b = [0u8; 5];
    seg.read_at(SIZE - 5, &mut b).unwrap();
    assert_eq!(&b, b"legit");
    content[SIZE - 5..].copy_from_slice(b"legit");
    assert_eq!(c.path_state(1, 2), CONNECTION_ACTIVE);
    assert_eq!(c.path_state(2, 1), CONNECTION_ACTIVE);
}

/// After a data hello: a put over the exporter's bytes, a post and a get, none of which may
/// have any effect.
fn attack_frames() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&Header::new(Op::Put, data::FLAG_ACK, 0, 64, 0).encode());
    v.extend_from_slice(&[0xee; 64]);
    v.extend_from_slice(&Header::new(Op::Post, 0, 0, 0, 0).encode());
    v.extend_from_slice(&Header::new(Op::Get, 0, 0, 64, 0).encode());
    v.extend_from_slice(&Header::new(Op::Barrier, 0, 0, 0, 0).encode());
    v
}

fn data_hello(import_ref: u64, ticket: &[u8]) -> Vec<u8> {
    let mut v = b"RSMD".to_vec();
    v.extend_from_slice(&Header::new(Op::Hello, 0, 0, ticket.len() as u32, import_ref).encode());
    v.extend_from_slice(ticket);
    v
}

#[test]
fn garbage_and_silence_on_the_port_get_nothing() {
    let c = TestCluster::start(2);
    let (seg, id, mut content) = victim(&c);
    let addr = c.addr(1, "tcp0");
    // A connection that says nothing is dropped too (in its own thread: it takes a while).
    let silent = std::thread::spawn(move || {
        let mut s = dial(addr);
        assert_closed_without_data(&mut s, "silent connection");
    });
    let random = pattern(3, 64 * 1024);
    let mut bad_magic = b"RSMD".to_vec();
    bad_magic.extend_from_slice(&[0x77; data::HEADER_LEN]);
    let mut put_first = b"RSMD".to_vec();
    put_first.extend_from_slice(&Header::new(Op::Put, 0, 0, 4, 0).encode());
    put_first.extend_from_slice(b"evil");
    let mut huge_data = b"RSMD".to_vec();
    huge_data.extend_from_slice(&Header::new(Op::Hello, 0, 0, u32::MAX, 1).encode());
    let mut huge_link = b"RSML".to_vec();
    huge_link.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut ping_first = b"RSML".to_vec();
    ping_first.extend_from_slice(&frame_link(&LinkMsg::Ping { seq: 1 }));
    let mut connect_first = b"RSML".to_vec();
    connect_first.extend_from_slice(&frame_link(&LinkMsg::Connect {
        req: 1,
        import: 1,
        segment_id: id,
        perm: 0o600,
        uid: 0,
        gid: 0,
        groups: vec![],
    }));
    let hello = |from: u32, to: u32, controller: &str| {
        let mut v = b"RSML".to_vec();
        v.extend_from_slice(&frame_link(&LinkMsg::Hello {
            from,
            to,
            controller: controller.into(),
            nonce: vec![1; NONCE_LEN],
        }));
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("http", b"GET / HTTP/1.1\r\nHost: rsm\r\n\r\n".to_vec()),
        ("random bytes", random),
        ("unknown data op", bad_magic),
        ("put before hello", put_first),
        ("oversized data hello", huge_data),
        ("oversized link frame", huge_link),
        ("ping before hello", ping_first),
        ("connect before the handshake", connect_first),
        ("hello from a node not in the configuration", hello(9, 1, "tcp0")),
        ("hello for another node", hello(2, 3, "tcp0")),
        ("hello on another controller", hello(2, 1, "tcp1")),
        ("hello with a short nonce", {
            let mut v = b"RSML".to_vec();
            v.extend_from_slice(&frame_link(&LinkMsg::Hello {
                from: 2,
                to: 1,
                controller: "tcp0".into(),
                nonce: vec![1; 4],
            }));
            v
        }),
    ];
    for (what, bytes) in &cases {
        let mut s = dial(addr);
        send(&mut s, bytes);
        assert_closed_without_data(&mut s, what);
    }
    silent.join().unwrap();
    assert_untouched(&seg, &content, "garbage");
    assert_still_serving(&c, id, &seg, &mut content);
}

type HmacSha256 = Hmac<Sha256>;
use sha2::Sha256;

/// The link handshake MAC (as the agents compute it), here with whatever key we have.
fn link_mac(key: &[u8], label: &[u8], na: &[u8], nb: &[u8], dialer: u32, acceptor: u32, controller: &str) -> Vec<u8> {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
    m.update(label);
    m.update(&(na.len() as u32).to_le_bytes());
    m.update(na);
    m.update(&(nb.len() as u32).to_le_bytes());
    m.update(nb);
    m.update(&dialer.to_le_bytes());
    m.update(&acceptor.to_le_bytes());
    m.update(controller.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn read_link(s: &mut TcpStream) -> LinkMsg {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("a link frame");
    let mut body = vec![0u8; rsm_proto::link::frame_len(len).unwrap()];
    s.read_exact(&mut body).unwrap();
    rsm_proto::decode(&body).unwrap()
}

#[test]
fn the_link_protocol_without_the_key_gets_nothing() {
    let c = TestCluster::start(2);
    let (seg, id, mut content) = victim(&c);
    // An import by node 2 that the attacker would like to signal or revoke.
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::RDWR).unwrap();
    let bar = imp.init_barrier(BarrierType::Node).unwrap();
    let addr = c.addr(1, "tcp0");
    let wrong_key = b"not the cluster key, but long enough".to_vec();
    for attempt in ["wrong key", "reflected challenge", "empty proof"] {
        let mut s = dial(addr);
        let na = pattern(11, NONCE_LEN);
        send(&mut s, b"RSML");
        send(&mut s, &frame_link(&LinkMsg::Hello { from: 2, to: 1, controller: "tcp0".into(), nonce: na.clone() }));
        // The acceptor answers a well-formed hello from a listed node with its challenge (it
        // proves the key to us; we cannot check it without the key, and it gives us nothing).
        let LinkMsg::Challenge { nonce: nb, mac: their_mac } = read_link(&mut s) else {
            panic!("expected a challenge")
        };
        assert_eq!(nb.len(), NONCE_LEN);
        let proof = match attempt {
            "wrong key" => link_mac(&wrong_key, b"rsm-link-dialer", &na, &nb, 2, 1, "tcp0"),
            "reflected challenge" => their_mac,
            _ => Vec::new(),
        };
        let mut rest = frame_link(&LinkMsg::Proof { mac: proof });
        // Then everything a real peer could ask, pipelined.
        rest.extend_from_slice(&frame_link(&LinkMsg::Ping { seq: 1 }));
        rest.extend_from_slice(&frame_link(&LinkMsg::Connect {
            req: 7,
            import: 1234,
            segment_id: id,
            perm: 0o600,
            uid: 0,
            gid: 0,
            groups: vec![],
        }));
        rest.extend_from_slice(&frame_link(&LinkMsg::Signal { imports: (0..64).collect(), no_accumulate: false }));
        rest.extend_from_slice(&frame_link(&LinkMsg::Revoke { imports: (0..64).collect() }));
        rest.extend_from_slice(&frame_link(&LinkMsg::Disconnect { remote: 1 }));
        send(&mut s, &rest);
        assert_closed_without_data(&mut s, attempt);
    }
    assert_untouched(&seg, &content, "link attacks");
    // The real node 2's import was neither signalled nor revoked, and still works.
    assert_eq!(imp.signal_wait(Some(Duration::ZERO)), Err(Error::Timeout));
    imp.put(0, b"ok").unwrap();
    assert_eq!(bar.close(), Err(Error::BarrierNotOpened));
    content[..2].copy_from_slice(b"ok");
    assert_eq!(c.status_of(1).remote_importers, 1);
    assert_still_serving(&c, id, &seg, &mut content);
    assert!(c.log(1).contains("failed the key check"), "node 1 did not log the refused handshake");
}

/// A client of node 2's agent speaking its socket protocol directly, to learn what the
/// library keeps to itself: the import reference and ticket of a remote import.
struct RawClient {
    fd: OwnedFd,
    _event: Vec<OwnedFd>,
}

impl RawClient {
    fn open(socket: &std::path::Path) -> RawClient {
        let fd = rsm_os::uds::connect(socket).unwrap();
        let mut c = RawClient { fd, _event: Vec::new() };
        assert!(matches!(c.call(&Request::Hello { version: rsm_proto::VERSION }, None), Response::Hello { .. }));
        c
    }

    fn call(&mut self, req: &Request, fd: Option<OwnedFd>) -> Response {
        use rsm_os::AsFd;
        let fds: Vec<_> = fd.iter().map(|f| f.as_fd()).collect();
        rsm_os::uds::send(&self.fd, &rsm_proto::encode(req), &fds).unwrap();
        drop(fds);
        self._event.extend(fd);
        let mut buf = Vec::new();
        rsm_os::uds::recv(&self.fd, &mut buf).unwrap().expect("an answer");
        rsm_proto::decode(&buf).unwrap()
    }

    fn connect(&mut self, node: u32, segment_id: u32, perm: u32) -> (u64, RemoteAccess) {
        let (_ev_read, ev) = rsm_os::event::create().unwrap();
        match self.call(&Request::ImportConnect { controller: "tcp0".into(), node, segment_id, perm }, Some(ev)) {
            Response::Connected { import, remote: Some(ra), .. } => (import, ra),
            other => panic!("connect: {other:?}"),
        }
    }
}

fn read_header(s: &mut TcpStream) -> Header {
    let mut hb = [0u8; data::HEADER_LEN];
    s.read_exact(&mut hb).expect("an answer header");
    Header::decode(&hb).unwrap()
}

#[test]
fn data_hellos_with_made_up_or_wrong_tickets_get_nothing() {
    let c = TestCluster::start(2);
    let (seg, id, mut content) = victim(&c);
    let mut raw = RawClient::open(c.socket(2));
    let (a_import, a) = raw.connect(1, id, perm::RDWR);
    let (_b_import, b) = raw.connect(1, id, perm::READ);
    assert_eq!(a.ticket.len(), data::TICKET_LEN);
    assert_ne!(a.ticket, b.ticket);
    assert_eq!(a.addr.parse::<SocketAddr>().unwrap(), c.addr(1, "tcp0"));
    let addr = c.addr(1, "tcp0");

    let mut flipped = a.ticket.clone();
    flipped[7] ^= 0x10;
    let cases: Vec<(&str, u64, Vec<u8>)> = vec![
        ("made-up reference and ticket", 0x1234_5678, pattern(1, data::TICKET_LEN)),
        ("reference 0", 0, a.ticket.clone()),
        ("real reference, one bit of its ticket flipped", a.import_ref, flipped),
        ("real reference, another import's ticket", a.import_ref, b.ticket.clone()),
        ("read-only reference with the writable import's ticket", b.import_ref, a.ticket.clone()),
        ("real reference, zero ticket", a.import_ref, vec![0; data::TICKET_LEN]),
        ("real reference, short ticket", a.import_ref, a.ticket[..15].to_vec()),
        ("real reference, long ticket", a.import_ref, [a.ticket.clone(), vec![0]].concat()),
    ];
    for (what, r, t) in &cases {
        let mut s = dial(addr);
        let mut bytes = data_hello(*r, t);
        bytes.extend_from_slice(&attack_frames());
        send(&mut s, &bytes);
        assert_closed_without_data(&mut s, what);
    }
    assert_untouched(&seg, &content, "wrong tickets");

    // The framing above is right: the real reference and ticket are answered, and the agent
    // itself enforces the connection's rights and the bounds, whatever the client library
    // would have checked.
    let mut s = dial(addr);
    send(&mut s, &data_hello(a.import_ref, &a.ticket));
    let h = read_header(&mut s);
    assert_eq!((h.op, h.code, h.offset), (Op::Status, 0, SIZE as u64));
    send(&mut s, &Header::new(Op::Get, 0, 0, 16, 32).encode());
    let h = read_header(&mut s);
    assert_eq!((h.op, h.len), (Op::Data, 16));
    let mut got = [0u8; 16];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], &content[32..48]);
    let status = |s: &mut TcpStream, frame: Vec<u8>| {
        send(s, &frame);
        let h = read_header(s);
        assert_eq!(h.op, Op::Status);
        h.code
    };
    let put = |off: u64, width: u8, n: usize| {
        let mut v = Header::new(Op::Put, data::FLAG_ACK | (width << data::FLAG_WIDTH_SHIFT), 0, n as u32, off)
            .encode()
            .to_vec();
        v.extend_from_slice(&vec![0xee; n]);
        v
    };
    assert_eq!(status(&mut s, put(SIZE as u64 - 2, 0, 4)), Error::BadLength.code() as u16);
    assert_eq!(status(&mut s, put(u64::MAX - 1, 0, 4)), Error::BadLength.code() as u16);
    assert_eq!(status(&mut s, put(4, 3, 8)), Error::BadMemAlignment.code() as u16);
    assert_eq!(
        status(&mut s, Header::new(Op::Get, 0, 0, 16, SIZE as u64 - 8).encode().to_vec()),
        Error::BadLength.code() as u16
    );
    let mut sb = dial(addr);
    send(&mut sb, &data_hello(b.import_ref, &b.ticket));
    assert_eq!(read_header(&mut sb).code, 0);
    assert_eq!(status(&mut sb, put(0, 0, 8)), Error::PermDenied.code() as u16);
    assert_untouched(&seg, &content, "checked frames");

    // A ticket stops working when its import ends: the open connection is told and closed,
    // and the same reference and ticket are refused afterwards (a stolen old ticket).
    assert_eq!(raw.call(&Request::ImportDisconnect { import: a_import }, None), Response::Ok);
    let h = read_header(&mut s);
    assert_eq!((h.op, h.code), (Op::Revoked, Error::ConnAborted.code() as u16));
    assert_closed_without_data(&mut s, "revoked connection");
    wait_until(Duration::from_secs(5), "the exporting node to drop the import", || {
        c.status_of(1).remote_importers == 1
    });
    let mut s = dial(addr);
    let mut bytes = data_hello(a.import_ref, &a.ticket);
    bytes.extend_from_slice(&attack_frames());
    send(&mut s, &bytes);
    assert_closed_without_data(&mut s, "the ticket of a disconnected import");
    assert_untouched(&seg, &content, "old ticket");
    assert_still_serving(&c, id, &seg, &mut content);
}

#[test]
fn an_agent_with_another_key_never_gets_an_active_path() {
    let c = TestCluster::start(2);
    let (seg, id, _) = victim(&c);
    // Node 2 comes back with the same configuration but another key.
    c.kill_node(2);
    let other_key = c.dir().join("other.key");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&other_key).unwrap();
        writeln!(f, "{}", "ab".repeat(32)).unwrap();
    }
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    let key_line = text.lines().find(|l| l.starts_with("cluster_key")).unwrap().to_string();
    let cfg = c.dir().join("other.toml");
    std::fs::write(&cfg, text.replace(&key_line, &format!("cluster_key = \"{}\"", other_key.display()))).unwrap();
    c.restart_node_with(2, &cfg);
    c.wait_path_state(1, 2, 1, Duration::from_secs(5));
    // Several dial rounds (every 200 ms, both ways): never active on either side.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(c.path_state(1, 2), 1, "node 1 accepted a node 2 with another key");
        assert_eq!(c.path_state(2, 1), 1, "node 2 (another key) accepted node 1");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).err(),
        Some(Error::RemoteNodeUnreachable)
    );
    // With the right key it joins at once.
    c.kill_node(2);
    c.restart_node(2);
    c.wait_path_state(1, 2, CONNECTION_ACTIVE, Duration::from_secs(10));
    c.wait_path_state(2, 1, CONNECTION_ACTIVE, Duration::from_secs(10));
    let imp = ImportSegment::connect(&c.controller(2, "tcp0"), 1, id, perm::READ).unwrap();
    let _b = imp.init_barrier(BarrierType::Node).unwrap();
    let mut b = [0u8; 8];
    imp.get(0, &mut b).unwrap();
    assert_eq!(&b[..], &pattern(77, 8)[..]);
    drop(seg);
}
