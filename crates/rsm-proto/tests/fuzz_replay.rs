//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the fuzz bodies on
//! the stable toolchain, plus a batch of random inputs, so the normal test suite covers what
//! the fuzzers found. `cargo test -p rsm-proto --test fuzz_replay -- --ignored write_seeds`
//! regenerates the seed inputs.

use rsm_proto::data::{Header, Op};
use rsm_proto::fuzzing;
use rsm_proto::{AclEntry, LinkMsg, RemoteAccess, Request, Response, encode, frame_link};
use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = corpus(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        f(&std::fs::read(&p).expect("read"));
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
    n
}

/// Deterministic pseudo-random inputs (xorshift), half of them mutations of valid seeds.
fn random_inputs(f: fn(&[u8]), seeds: &[Vec<u8>]) {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000 {
        let mut v = if seeds.is_empty() || i % 2 == 0 {
            let len = (next() % 96) as usize;
            (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
        } else {
            seeds[(next() as usize) % seeds.len()].clone()
        };
        if !v.is_empty() {
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % v.len();
                v[at] = next() as u8;
            }
        }
        f(&v);
    }
}

fn requests() -> Vec<Request> {
    let acl = vec![AclEntry { node: 1, perm: 0o624 }, AclEntry { node: 2, perm: 0o600 }];
    vec![
        Request::Hello { version: rsm_proto::VERSION },
        Request::GetController { name: "loopback".into() },
        Request::Topology,
        Request::ExportCreate { controller: "tcp0".into(), size: 65536, flags: 1, mode: 0o644 },
        Request::ExportPublish { export: 1, segment_id: 0x600000, acl: acl.clone(), memfd_slot: 3 },
        Request::ExportRepublish { export: 1, acl },
        Request::ExportUnpublish { export: 1 },
        Request::ExportDestroy { export: 1 },
        Request::ExportPost { export: 1, no_accumulate: true },
        Request::ImportConnect { controller: "loopback".into(), node: 1, segment_id: 0x80000000, perm: 0o600 },
        Request::ImportDisconnect { import: 2 },
        Request::ImportPost { import: 2, no_accumulate: false },
        Request::Status,
        Request::Segments,
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Ok,
        Response::Err { code: 7 },
        Response::Hello { node: 3 },
        Response::ExportCreated { export: 9 },
        Response::Published { segment_id: 0x80000001 },
        Response::Connected {
            import: 4,
            size: 8192,
            rights: 0o600,
            gen_cell: 12,
            generation: 1,
            remote: Some(RemoteAccess { addr: "127.0.0.1:7300".into(), import_ref: 5, ticket: vec![7; 16] }),
        },
        Response::Segments(vec![]),
    ]
}

fn links() -> Vec<LinkMsg> {
    vec![
        LinkMsg::Hello { from: 1, to: 2, controller: "tcp0".into(), nonce: vec![1; 32] },
        LinkMsg::Challenge { nonce: vec![2; 32], mac: vec![3; 32] },
        LinkMsg::Proof { mac: vec![4; 32] },
        LinkMsg::Ping { seq: 1 },
        LinkMsg::Pong { seq: 1 },
        LinkMsg::Connect {
            req: 1,
            import: 2,
            segment_id: 0x80000000,
            perm: 0o600,
            uid: 1000,
            gid: 1000,
            groups: vec![27],
        },
        LinkMsg::Granted { req: 1, remote: 3, ticket: vec![9; 16], size: 4096, rights: 0o400 },
        LinkMsg::Refused { req: 1, code: 27 },
        LinkMsg::Disconnect { remote: 3 },
        LinkMsg::Revoke { imports: vec![2, 3] },
        LinkMsg::Signal { imports: vec![2], no_accumulate: true },
    ]
}

fn headers() -> Vec<Vec<u8>> {
    [Op::Hello, Op::Put, Op::Get, Op::Barrier, Op::Post, Op::Status, Op::Data, Op::Revoked]
        .iter()
        .map(|&op| Header::new(op, 0x0c, 0, 8, 4096).encode().to_vec())
        .collect()
}

#[test]
fn corpora_replay() {
    assert!(replay("decode_request", fuzzing::decode_request) >= requests().len());
    assert!(replay("decode_response", fuzzing::decode_response) >= responses().len());
    assert!(replay("link_stream", fuzzing::link_stream) >= 1);
    assert!(replay("data_headers", fuzzing::data_headers) >= 1);
}

#[test]
fn random_and_mutated_inputs() {
    random_inputs(fuzzing::decode_request, &requests().iter().map(encode).collect::<Vec<_>>());
    random_inputs(fuzzing::decode_response, &responses().iter().map(encode).collect::<Vec<_>>());
    random_inputs(fuzzing::link_stream, &links().iter().map(frame_link).collect::<Vec<_>>());
    random_inputs(fuzzing::data_headers, &headers());
}

#[test]
#[ignore = "writes the seed corpora; run by hand"]
fn write_seeds() {
    let write = |t: &str, items: Vec<Vec<u8>>| {
        let d = corpus(t);
        std::fs::create_dir_all(&d).expect("mkdir");
        for (i, b) in items.into_iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i:02}")), b).expect("write");
        }
    };
    write("decode_request", requests().iter().map(encode).collect());
    write("decode_response", responses().iter().map(encode).collect());
    let mut stream = Vec::new();
    for l in links() {
        stream.extend(frame_link(&l));
    }
    let mut one: Vec<Vec<u8>> = links().iter().map(frame_link).collect();
    one.push(stream);
    write("link_stream", one);
    write("data_headers", headers());
}
