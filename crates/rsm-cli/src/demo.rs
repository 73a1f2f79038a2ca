//! `rsmctl demo`: a throwaway agent and two processes walking through the whole API.
//!
//! # Safety
//!
//! The importer shows direct stores through a mapping, which are raw-pointer writes into
//! the mapped range that [`ImportSegment::map`] returned (valid until unmap; revocation
//! keeps the range mapped).
#![allow(unsafe_code)]

use anyhow::{bail, Context, Result};
use rsm::{perm, AccessEntry, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, PostFlags};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SIZE: usize = 1 << 20;
/// Where the importer leaves the monotonic time of its signal post.
const STAMP_AT: usize = 4096;

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn us(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 { format!("{:.2} µs", ns as f64 / 1000.0) } else if ns < 10_000_000 { format!("{:.0} µs", ns as f64 / 1000.0) } else { format!("{:.1} ms", ns as f64 / 1e6) }
}

fn line(who: &str, what: &str, t: Option<Duration>) {
    match t {
        Some(t) => println!("  {who:<9} {what:<66} {:>9}", us(t)),
        None => println!("  {who:<9} {what}"),
    }
}

/// The node agent of the demo, a separate process.
struct DemoAgent(Child);

impl DemoAgent {
    fn start(dir: &Path) -> Result<(DemoAgent, PathBuf, String)> {
        let socket = dir.join("node1.sock");
        let exe = std::env::current_exe()?;
        // The rsmd binary next to rsmctl, or rsmctl itself in agent mode: either way a
        // separate process.
        let (prog, pre): (PathBuf, &[&str]) = match exe.parent().map(|d| d.join("rsmd")).filter(|p| p.exists()) {
            Some(bin) => (bin, &[]),
            None => (exe.clone(), &["agent"]),
        };
        let pid_file = dir.join("node1.pid");
        // An empty configuration: the demo must not pick up the machine's /etc/rsm.
        let cfg = dir.join("node1.toml");
        std::fs::write(&cfg, "")?;
        let child = Command::new(&prog)
            .args(pre)
            .arg("--config")
            .arg(&cfg)
            .arg("--node-id")
            .arg("1")
            .arg("--socket")
            .arg(&socket)
            .arg("--pid-file")
            .arg(&pid_file)
            .env("RSM_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", prog.display()))?;
        let mut a = DemoAgent(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            if let Some(st) = a.0.try_wait()? {
                bail!("rsmd exited during start-up ({st})");
            }
            if Instant::now() > deadline {
                bail!("rsmd did not start within 10 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let pid = a.0.id();
        Ok((a, socket, format!("rsmd pid {pid}")))
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for DemoAgent {
    /// SIGTERM (the agent removes its socket), then SIGKILL if it does not exit in 5 s.
    fn drop(&mut self) {
        let c = &mut self.0;
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

pub(crate) fn run() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("rsm-demo-").tempdir()?;
    println!("rsm demo: one node, an exporting and an importing process, the loopback controller");
    let t = Instant::now();
    let (agent, socket, what) = DemoAgent::start(dir.path())?;
    line("agent", &format!("{what}, node 1, socket {}", socket.display()), Some(t.elapsed()));
    let r = exporter(&socket);
    agent.stop();
    line("agent", "stopped; the socket and everything registered are gone", None);
    r
}

fn exporter(socket: &Path) -> Result<()> {
    let t = Instant::now();
    let ctl = Controller::get_at(socket, Some("loopback"))?;
    line("exporter", &format!("pid {}: rsm_get_controller(\"loopback\"), page size {}", std::process::id(), ctl.attr().page_size), Some(t.elapsed()));
    let t = Instant::now();
    let seg = ExportSegment::allocate(&ctl, SIZE, ExportFlags::empty())?;
    let id = seg.publish(0, &[AccessEntry { node: ctl.local_node(), perm: 0o600 }])?;
    line("exporter", &format!("created 1 MiB, published as segment {id:#x} for node {} mode 0600", ctl.local_node()), Some(t.elapsed()));

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("--socket")
        .arg(socket)
        .arg("demo-importer")
        .arg("--node")
        .arg(ctl.local_node().to_string())
        .arg("--segment")
        .arg(id.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the importing process")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let relay = |out: &mut BufReader<std::process::ChildStdout>, until: &str| -> Result<()> {
        let mut l = String::new();
        loop {
            l.clear();
            if out.read_line(&mut l)? == 0 {
                bail!("the importing process ended early");
            }
            if l.trim_end() == until {
                return Ok(());
            }
            print!("{l}");
        }
    };
    relay(&mut out, "posted")?;
    let t = Instant::now();
    seg.signal_wait(Some(Duration::from_secs(10)))?;
    let woke = now_ns();
    let waited = t.elapsed();
    let mut stamp = [0u8; 8];
    seg.read_at(STAMP_AT, &mut stamp)?;
    let post_to_wake = Duration::from_nanos(woke.saturating_sub(u64::from_ne_bytes(stamp)));
    line("exporter", "rsm_intr_signal_wait woke: signal post -> wait across processes", Some(post_to_wake));
    let _ = waited;
    let mut hello = [0u8; 19];
    seg.read_at(0, &mut hello)?;
    let ok = &hello == b"hello from importer";
    line("exporter", &format!("reads its own memory: {:?} {}", String::from_utf8_lossy(&hello), if ok { "(the importer's store)" } else { "(UNEXPECTED)" }), None);
    let t = Instant::now();
    seg.signal_post(PostFlags::empty())?;
    line("exporter", "rsm_intr_signal_post to every importer", Some(t.elapsed()));
    relay(&mut out, "waiting for revocation")?;

    let t = Instant::now();
    seg.unpublish()?;
    line("exporter", "rsm_memseg_export_unpublish: importers are cut off", Some(t.elapsed()));
    writeln!(stdin, "revoked")?;
    relay(&mut out, "done")?;
    let mut after = [0u8; 19];
    seg.read_at(0, &mut after)?;
    let intact = after == hello;
    line("exporter", &format!("memory after the stale store: {:?} {}", String::from_utf8_lossy(&after), if intact { "(unchanged)" } else { "(CHANGED!)" }), None);
    let st = child.wait()?;
    seg.destroy()?;
    line("exporter", "rsm_memseg_export_destroy", None);
    if !ok || !intact || !st.success() {
        bail!("the demo did not go as expected");
    }
    println!("demo finished: every step behaved as the RSMAPI specifies");
    Ok(())
}

/// The importing process of the demo.
pub(crate) fn importer(socket: &Path, node: u32, segment: u32) -> Result<()> {
    let me = "importer".to_string();
    let t = Instant::now();
    let ctl = Controller::get_at(socket, Some("loopback"))?;
    let imp = ImportSegment::connect(&ctl, node, segment, perm::RDWR)?;
    line(&me, &format!("pid {}: rsm_memseg_import_connect({node}, {segment:#x}, RDWR)", std::process::id()), Some(t.elapsed()));

    let t = Instant::now();
    let p = imp.map(perm::RDWR, 0, SIZE)?;
    let msg = b"hello from importer";
    // SAFETY: the mapping covers SIZE bytes at p and lives until unmap; plain stores into
    // shared memory through a raw pointer.
    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), p.as_ptr(), msg.len()) };
    line(&me, &format!("rsm_memseg_import_map 1 MiB at {p:p}, stored {:?} directly", "hello from importer"), Some(t.elapsed()));
    imp.unmap()?;

    let bar = imp.init_barrier(BarrierType::Node)?;
    let data = vec![0x5au8; 4096];
    let mut back = vec![0u8; 4096];
    let n = 1000;
    let t = Instant::now();
    for _ in 0..n {
        imp.put(8192, &data)?;
        imp.get(8192, &mut back)?;
    }
    if back != data {
        bail!("get returned other bytes than put wrote");
    }
    line(&me, "4 KiB put + 4 KiB get, implicit barrier mode (mean of 1000)", Some(t.elapsed() / n));
    let t = Instant::now();
    for _ in 0..n {
        imp.put64(16384, &[42])?;
    }
    line(&me, "8-byte put, implicit barrier mode (mean of 1000)", Some(t.elapsed() / n));

    imp.set_mode(BarrierMode::Explicit)?;
    let t = Instant::now();
    bar.open()?;
    for i in 0..1000u64 {
        imp.put64(16384 + (i as usize % 512) * 8, &[i])?;
    }
    bar.order()?;
    bar.close()?;
    line(&me, "explicit barrier: open, 1000 put64, order, close -> 0", Some(t.elapsed()));

    let _ = imp.put(STAMP_AT, &now_ns().to_ne_bytes());
    imp.put(STAMP_AT, &now_ns().to_ne_bytes())?;
    imp.signal_post(PostFlags::empty())?;
    println!("posted");
    std::io::stdout().flush()?;
    let t = Instant::now();
    imp.signal_wait(Some(Duration::from_secs(10)))?;
    line(&me, "rsm_intr_signal_wait: the exporter's reply arrived", Some(t.elapsed()));

    // put/get mapped the segment implicitly; an explicit map needs that undone first.
    imp.unmap()?;
    let p = imp.map(perm::RDWR, 0, SIZE)?;
    bar.open()?;
    println!("waiting for revocation");
    std::io::stdout().flush()?;
    let mut l = String::new();
    std::io::stdin().read_line(&mut l)?;
    // A store through the old mapping after the exporter revoked the segment.
    // SAFETY: as above; revocation leaves the range mapped (to scratch pages).
    unsafe { std::ptr::copy_nonoverlapping(b"STALE WRITE".as_ptr(), p.as_ptr(), 11) };
    match bar.close() {
        Err(Error::ConnAborted) => line(&me, "stale store, then rsm_memseg_import_close_barrier -> RSMERR_CONN_ABORTED", None),
        other => bail!("close_barrier after revocation returned {other:?}"),
    }
    match imp.put(0, b"x") {
        Err(Error::ConnAborted) => {}
        Err(Error::BarrierUninitialized) | Ok(()) => {}
        Err(e) => bail!("put after revocation returned {e}"),
    }
    bar.destroy()?;
    imp.unmap()?;
    imp.disconnect()?;
    line(&me, "unmap and disconnect still succeed on the revoked connection", None);
    println!("done");
    Ok(())
}
