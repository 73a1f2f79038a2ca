//! `rsmctl demo`: a throwaway two-node cluster and three processes walking through the API:
//! an exporter on node 1, an importer on node 1 (same node: mapped memory) and an importer
//! on node 2 (across the network: the agent of node 1 serves its puts and gets).
//!
//! # Safety
//!
//! The same-node importer shows direct stores through a mapping, which are raw-pointer
//! writes into the range that [`ImportSegment::map`] returned (valid until unmap; revocation
//! keeps the range mapped).
#![allow(unsafe_code)]

use anyhow::{Context, Result, bail};
use rsm::{
    AccessEntry, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, PostFlags,
    perm,
};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const SIZE: usize = 1 << 20;
/// Where an importer leaves the monotonic time of its signal post.
const STAMP_AT: usize = 4096;
const CTL: &str = "tcp0";

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn fmt_t(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1000.0)
    } else if ns < 10_000_000 {
        format!("{:.0} µs", ns as f64 / 1000.0)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

fn line(who: &str, what: &str, t: Option<Duration>) {
    match t {
        Some(t) => crate::cluster::say!("  {who:<10} {what:<70} {:>9}", fmt_t(t)),
        None => crate::cluster::say!("  {who:<10} {what}"),
    }
}

/// Stops the demo's agents whatever happens.
struct ClusterGuard<'a>(&'a Path);

impl Drop for ClusterGuard<'_> {
    fn drop(&mut self) {
        let _ = crate::cluster::stop(self.0);
    }
}

pub(crate) fn run() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("rsm-demo-").tempdir()?;
    crate::cluster::stop_agents_on_signal(dir.path().to_path_buf(), true, "rsmctl demo")?;
    crate::cluster::say!("rsm demo: two nodes on this machine, an exporter and two importers, controller {CTL}");
    let t = Instant::now();
    let nodes = crate::cluster::start(2, dir.path(), "warn")?;
    let _guard = ClusterGuard(dir.path());
    line("agents", &format!("2 rsmd agents up, every path active ({})", dir.path().display()), Some(t.elapsed()));
    let topo = rsm::topology_at(&nodes[0].socket)?;
    for c in &topo.controllers {
        for r in &c.remotes {
            line(
                "topology",
                &format!("node {} {} -> node {} {}: state {}", topo.local_node, c.name, r.node, r.name, r.state),
                None,
            );
        }
    }
    exporter(&nodes[0].socket, &nodes[1].socket)
}

struct Importer {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

impl Importer {
    fn spawn(socket: &Path, node: u32, segment: u32, remote: bool) -> Result<Importer> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("--socket")
            .arg(socket)
            .arg("demo-importer")
            .arg("--node")
            .arg(node.to_string())
            .arg("--segment")
            .arg(segment.to_string());
        if remote {
            cmd.arg("--remote");
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().context("starting an importing process")?;
        let stdin = child.stdin.take().context("stdin")?;
        let out = BufReader::new(child.stdout.take().context("stdout")?);
        Ok(Importer { child, stdin, out })
    }

    /// Relays the importer's lines until `until`.
    fn relay(&mut self, until: &str) -> Result<()> {
        let mut l = String::new();
        loop {
            l.clear();
            if self.out.read_line(&mut l)? == 0 {
                bail!("the importing process ended early");
            }
            if l.trim_end() == until {
                return Ok(());
            }
            print!("{l}");
        }
    }

    fn say(&mut self, what: &str) -> Result<()> {
        writeln!(self.stdin, "{what}")?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.relay("done")?;
        if !self.child.wait()?.success() {
            bail!("an importing process failed");
        }
        Ok(())
    }
}

/// Waits for one importer's signal and reports the post → wait latency across processes.
fn await_signal(seg: &ExportSegment, what: &str) -> Result<()> {
    seg.signal_wait(Some(Duration::from_secs(10)))?;
    let woke = now_ns();
    let mut stamp = [0u8; 8];
    seg.read_at(STAMP_AT, &mut stamp)?;
    line("exporter", what, Some(Duration::from_nanos(woke.saturating_sub(u64::from_ne_bytes(stamp)))));
    Ok(())
}

fn exporter(sock1: &Path, sock2: &Path) -> Result<()> {
    let me = "exporter";
    let t = Instant::now();
    let ctl = Controller::get_at(sock1, Some(CTL))?;
    line(
        me,
        &format!("pid {}, node {}: rsm_get_controller(\"{CTL}\")", std::process::id(), ctl.local_node()),
        Some(t.elapsed()),
    );
    let t = Instant::now();
    let seg = ExportSegment::allocate(&ctl, SIZE, ExportFlags::empty())?;
    let acl = [AccessEntry { node: 1, perm: 0o600 }, AccessEntry { node: 2, perm: 0o600 }];
    let id = seg.publish(0, &acl)?;
    line(me, &format!("created 1 MiB, published as {id:#x} for nodes 1 and 2 (mode 0600)"), Some(t.elapsed()));

    // An importer on the same node: the segment's memory is mapped into it.
    let mut a = Importer::spawn(sock1, 1, id, false)?;
    a.relay("posted")?;
    await_signal(&seg, "signal from the node-1 importer: post -> wait")?;
    let mut hello = [0u8; 19];
    seg.read_at(0, &mut hello)?;
    let ok = &hello == b"hello from importer";
    line(
        me,
        &format!(
            "reads its memory: {:?} {}",
            String::from_utf8_lossy(&hello),
            if ok { "(the importer's direct store)" } else { "(UNEXPECTED)" }
        ),
        None,
    );
    let t = Instant::now();
    seg.signal_post(PostFlags::empty())?;
    line(me, "rsm_intr_signal_post to every importer", Some(t.elapsed()));
    a.finish()?;

    // An importer on node 2: every access crosses the network to node 1's agent.
    let mut b = Importer::spawn(sock2, 1, id, true)?;
    b.relay("posted")?;
    await_signal(&seg, "signal from the node-2 importer (across nodes): post -> wait")?;
    let mut chk = vec![0u8; 64 * 1024];
    seg.read_at(65536, &mut chk)?;
    let window_ok = chk.iter().enumerate().all(|(i, &v)| v == (i % 251) as u8);
    line(
        me,
        &format!(
            "the node-2 importer's 64 KiB window is in its memory: {}",
            if window_ok { "yes, byte for byte" } else { "NO" }
        ),
        None,
    );
    seg.signal_post(PostFlags::empty())?;
    b.relay("waiting for revocation")?;

    let mut before = [0u8; 16];
    seg.read_at(0, &mut before)?;
    let t = Instant::now();
    seg.unpublish()?;
    line(me, "rsm_memseg_export_unpublish: every importer, on every node, is cut off", Some(t.elapsed()));
    b.say("revoked")?;
    b.finish()?;
    let mut after = [0u8; 16];
    seg.read_at(0, &mut after)?;
    let intact = after == before;
    line(
        me,
        &format!("memory after the node-2 importer's late put: {}", if intact { "unchanged" } else { "CHANGED!" }),
        None,
    );
    seg.destroy()?;
    line(me, "rsm_memseg_export_destroy", None);
    if !ok || !window_ok || !intact {
        bail!("the demo did not go as expected");
    }
    crate::cluster::say!("demo finished: every step behaved as the RSMAPI specifies");
    Ok(())
}

fn mean(t: Instant, n: u32) -> Duration {
    t.elapsed() / n
}

/// An importing process of the demo.
pub(crate) fn importer(socket: &Path, node: u32, segment: u32, remote: bool) -> Result<()> {
    let me = if remote { "node-2 imp" } else { "node-1 imp" };
    let t = Instant::now();
    let ctl = Controller::get_at(socket, Some(CTL))?;
    let imp = ImportSegment::connect(&ctl, node, segment, perm::RDWR)?;
    line(
        me,
        &format!("pid {}: rsm_memseg_import_connect(node {node}, {segment:#x}, RDWR)", std::process::id()),
        Some(t.elapsed()),
    );
    let bar = imp.init_barrier(BarrierType::Node)?;

    if !remote {
        let t = Instant::now();
        let p = imp.map(perm::RDWR, 0, SIZE)?;
        let msg = b"hello from importer";
        // SAFETY: the mapping covers SIZE bytes at p and lives until unmap.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), p.as_ptr(), msg.len()) };
        line(me, "rsm_memseg_import_map 1 MiB, stored \"hello from importer\" directly", Some(t.elapsed()));
        imp.unmap()?;
    } else {
        match imp.map(perm::RDWR, 0, SIZE) {
            Err(Error::MapFailed) => {
                line(me, "rsm_memseg_import_map -> RSMERR_MAP_FAILED: tcp0 cannot map remote memory", None)
            }
            other => bail!("map of a remote segment returned {other:?}"),
        }
    }

    let n = if remote { 200 } else { 10_000 };
    let mut v = [0u64; 1];
    let t = Instant::now();
    for i in 0..n {
        imp.put64(16384, &[u64::from(i)])?;
    }
    line(me, &format!("8-byte put, implicit mode (each checked), mean of {n}"), Some(mean(t, n)));
    let t = Instant::now();
    for _ in 0..n {
        imp.get64(16384, &mut v)?;
    }
    line(me, &format!("8-byte get, mean of {n}"), Some(mean(t, n)));

    imp.set_mode(BarrierMode::Explicit)?;
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    bar.open()?;
    for chunk in 0..16 {
        imp.put(65536 + chunk * 4096, &data[chunk * 4096..(chunk + 1) * 4096])?;
    }
    bar.order()?;
    bar.close()?;
    line(me, "explicit barrier: open, 16 x 4 KiB put, order, close -> 0", Some(t.elapsed()));

    imp.put(STAMP_AT, &now_ns().to_ne_bytes())?;
    bar.open()?;
    imp.put(STAMP_AT, &now_ns().to_ne_bytes())?;
    bar.close()?;
    imp.signal_post(PostFlags::empty())?;
    crate::cluster::say!("posted");
    std::io::stdout().flush()?;
    let t = Instant::now();
    imp.signal_wait(Some(Duration::from_secs(10)))?;
    line(me, "rsm_intr_signal_wait: the exporter's post arrived", Some(t.elapsed()));

    if remote {
        bar.open()?;
        crate::cluster::say!("waiting for revocation");
        std::io::stdout().flush()?;
        let mut l = String::new();
        std::io::stdin().read_line(&mut l)?;
        imp.put(0, b"LATE PUT")?;
        let t = Instant::now();
        match bar.close() {
            Err(Error::ConnAborted) => {
                line(me, "put, then rsm_memseg_import_close_barrier -> RSMERR_CONN_ABORTED", Some(t.elapsed()))
            }
            other => bail!("close_barrier after revocation returned {other:?}"),
        }
    }
    bar.destroy()?;
    imp.disconnect()?;
    line(me, "disconnected", None);
    crate::cluster::say!("done");
    Ok(())
}
