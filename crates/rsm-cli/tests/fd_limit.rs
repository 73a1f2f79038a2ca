//! An agent that runs out of descriptors (RLIMIT_NOFILE) refuses the request that needs more
//! with `RSMERR_INSUFFICIENT_RESOURCES` and keeps the client: its other segments stay
//! published and importable, and publishing works again once descriptors are freed.

use rsm::{BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An agent started under `ulimit -n`; stopped on drop, also when the test fails.
struct LimitedAgent {
    child: Child,
}

impl Drop for LimitedAgent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn agent_out_of_descriptors_refuses_the_request_and_keeps_the_client() {
    let tmp = tempfile::Builder::new().prefix("rsm-test-").tempdir().expect("tempdir");
    let socket = tmp.path().join("node1.sock");
    let log_path = tmp.path().join("node1.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    // `exec`: the child is the agent itself (`rsmctl agent` is `rsmd`), with soft and hard
    // limit 64.
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" agent --node-id 1 --socket \"$1\"")
        .arg(env!("CARGO_BIN_EXE_rsmctl"))
        .arg(&socket)
        .env_remove("RSM_SOCKET")
        .env_remove("RSM_NODE_ID")
        .env_remove("RSMD_CONFIG")
        .env("RSM_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn rsmd");
    let _agent = LimitedAgent { child };
    wait_until(Duration::from_secs(10), "rsmd to listen", || {
        std::fs::read_to_string(&log_path).unwrap_or_default().contains("rsmd listening")
    });

    let ctl = Controller::get_at(&socket, Some("loopback")).expect("controller");
    let page = rustix::param::page_size();
    let mut segs = Vec::new();
    let refused = loop {
        assert!(segs.len() < 64, "64 descriptors cannot hold {} publications (1 each at least)", segs.len());
        let s = ExportSegment::allocate(&ctl, page, ExportFlags::empty()).expect("create");
        s.write_at(0, &(segs.len() as u64).to_ne_bytes()).expect("write");
        match s.publish(0, &[]) {
            Ok(id) => segs.push((s, id)),
            Err(e) => break e,
        }
    };
    assert_eq!(refused, Error::InsufficientResources, "after {} publications", segs.len());
    assert!(segs.len() >= 5, "only {} publications under a limit of 64", segs.len());
    let st = rsm::admin::status(&socket).expect("status");
    assert_eq!(st.published as usize, segs.len(), "the client's segments must stay published");
    assert!(
        std::fs::read_to_string(&log_path).unwrap_or_default().contains("out of descriptors"),
        "the agent says why"
    );

    // Freeing one publication frees its descriptors: an import of another works again and
    // reads what the exporter wrote.
    let (last, _) = segs.pop().expect("a segment");
    last.destroy().expect("destroy");
    let (_, id0) = &segs[0];
    let imp = ImportSegment::connect(&ctl, ctl.local_node(), *id0, perm::RDWR).expect("connect");
    let _bar = imp.init_barrier(BarrierType::Node).expect("barrier");
    let mut b = [0u8; 8];
    imp.get(0, &mut b).expect("get");
    assert_eq!(u64::from_ne_bytes(b), 0);
    drop(_bar);
    imp.disconnect().expect("disconnect");
    drop(imp);

    // And so does a new publication.
    let s = ExportSegment::allocate(&ctl, page, ExportFlags::empty()).expect("create");
    s.publish(0, &[]).expect("publish after freeing descriptors");
}
