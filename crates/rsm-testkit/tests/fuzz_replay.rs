//! Replays the `agent_session` fuzz corpus (and random sessions) against a live agent on the
//! stable toolchain: hostile client sessions must never crash the agent or disturb another
//! client's published segment (see `rsm_testkit::fuzzing`).

use rsm_proto::{AclEntry, Request, encode};
use rsm_testkit::fuzzing::agent_session;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

static PANICKED: AtomicBool = AtomicBool::new(false);

fn catch_agent_panics() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |i| {
        PANICKED.store(true, Ordering::SeqCst);
        prev(i);
    }));
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/agent_session")
}

/// A session: valid hello, then each request as a message with the given fd flags.
fn session(msgs: &[(Request, u8)]) -> Vec<u8> {
    let mut v = vec![1u8];
    for (r, flags) in msgs {
        let b = encode(r);
        v.push(b.len() as u8);
        v.push(*flags);
        v.extend(b);
    }
    v
}

fn seeds() -> Vec<Vec<u8>> {
    let witness_id = 0x600000;
    vec![
        session(&[(Request::Status, 0), (Request::Segments, 0)]),
        session(&[
            (Request::ExportCreate { controller: "loopback".into(), size: 8192, flags: 1, mode: 0o644 }, 0),
            (Request::ExportPublish { export: 2, segment_id: 0, acl: vec![], memfd_slot: 3 }, 3 | 4),
            (
                Request::ExportPublish {
                    export: 2,
                    segment_id: 0x700000,
                    acl: vec![AclEntry { node: 5, perm: 0o600 }],
                    memfd_slot: -1,
                },
                1,
            ),
        ]),
        // Attacks on the witness: its export (id 1), its segment id.
        session(&[
            (Request::ExportUnpublish { export: 1 }, 0),
            (Request::ExportDestroy { export: 1 }, 0),
            (Request::ExportRepublish { export: 1, acl: vec![] }, 0),
            (Request::ExportPublish { export: 1, segment_id: witness_id, acl: vec![], memfd_slot: 0 }, 3),
            (Request::ExportPost { export: 1, no_accumulate: false }, 0),
        ]),
        session(&[
            (Request::ImportConnect { controller: "loopback".into(), node: 5, segment_id: witness_id, perm: 0o600 }, 4),
            (Request::ImportDisconnect { import: 1 }, 0),
            (Request::ImportPost { import: 99, no_accumulate: true }, 0),
        ]),
        // No hello first, garbage, truncated frames.
        vec![0, 3, 0, 1, 2, 3],
        vec![1, 200, 7, 1, 0xff, 0xff, 0xff, 0xff],
    ]
}

#[test]
fn agent_session_corpus_and_random() {
    catch_agent_panics();
    let dir = corpus();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        agent_session(&std::fs::read(e.expect("entry").path()).expect("read"));
        n += 1;
    }
    assert!(n >= seeds().len(), "corpus {} has {n} entries", dir.display());
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let seeds = seeds();
    for i in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut s = seeds[(x as usize) % seeds.len()].clone();
        for k in 0..(i % 5) {
            let at = ((x >> (k * 8)) as usize) % s.len();
            s[at] = (x >> 3) as u8 ^ k as u8;
        }
        agent_session(&s);
    }
    assert!(!PANICKED.load(Ordering::SeqCst), "a thread of the agent panicked");
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_agent_seeds() {
    let d = corpus();
    std::fs::create_dir_all(&d).expect("mkdir");
    for (i, s) in seeds().into_iter().enumerate() {
        std::fs::write(d.join(format!("seed-{i:02}")), s).expect("write");
    }
}
