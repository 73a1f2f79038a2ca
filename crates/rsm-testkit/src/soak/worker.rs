//! The worker side of the soak: one process per exporter or importer, driven over its stdin and
//! stdout (never the network, so the driver's checks do not depend on what is being tested).
//!
//! Requests are text lines; answers are one line, `ok [value]` or `err RSMERR_...`, except
//! `read`, answered `data LEN` followed by exactly LEN raw bytes.
//!
//! - `export SIZE INC NODE...`: allocate a segment, write INC (u64, little endian) at offset 0,
//!   publish it (system id) to NODEs with mode 0666; answers the segment id.
//! - `read OFF LEN`: the exporter's own bytes (what the driver compares with its shadow).
//! - `connect NODE ID`: import RDWR, initialise a barrier, read the exporter's incarnation at
//!   offset 0 (one checked implicit get), switch to explicit mode; answers the incarnation.
//! - `open`, `put OFF LEN SEED WIDTH` (`rsm_testkit::pattern(SEED, LEN)` with put, put16,
//!   put32 or put64), `close`, `disconnect`, `exit`.

use rsm::{Barrier, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, perm};
use std::io::{BufRead, Write};
use std::path::Path;

struct State {
    ctl: Controller,
    /// `--sabotage N` of the driver (`RSM_SOAK_SABOTAGE`): every Nth put is skipped and still
    /// answered `ok`, to prove that the driver's checks catch lost writes.
    sabotage: u64,
    puts: u64,
    export: Option<ExportSegment>,
    import: Option<(ImportSegment, Barrier)>,
}

fn n<T: std::str::FromStr>(s: Option<&str>) -> Result<T, String> {
    s.ok_or("missing argument")?.parse().map_err(|_| "bad number".to_string())
}

fn rsm_err(e: Error) -> String {
    e.c_name().to_string()
}

/// Copies `bytes` into items of `T` with the same bytes in memory (native order).
fn items<T, const W: usize>(bytes: &[u8], f: fn([u8; W]) -> T) -> Vec<T> {
    bytes.chunks_exact(W).map(|c| f(c.try_into().unwrap_or([0; W]))).collect()
}

enum Answer {
    Line(String),
    Data(Vec<u8>),
    Exit,
}

impl State {
    fn import(&self) -> Result<&(ImportSegment, Barrier), String> {
        self.import.as_ref().ok_or_else(|| "not connected".to_string())
    }

    fn run(&mut self, line: &str) -> Result<Answer, String> {
        let mut it = line.split_whitespace();
        let ok = |s: String| Ok(Answer::Line(s));
        match it.next().unwrap_or("") {
            "ping" => ok("pong".into()),
            "exit" => Ok(Answer::Exit),
            "export" => {
                let size: usize = n(it.next())?;
                let inc: u64 = n(it.next())?;
                let acl = it
                    .map(|s| s.parse().map(|node| rsm::AccessEntry { node, perm: perm::ALL_RW }))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| "bad node")?;
                let seg = ExportSegment::allocate(&self.ctl, size, ExportFlags::empty()).map_err(rsm_err)?;
                seg.write_at(0, &inc.to_le_bytes()).map_err(rsm_err)?;
                let id = seg.publish(0, &acl).map_err(rsm_err)?;
                self.export = Some(seg);
                ok(id.to_string())
            }
            "read" => {
                let off: usize = n(it.next())?;
                let len: usize = n(it.next())?;
                let seg = self.export.as_ref().ok_or("no export")?;
                let mut buf = vec![0u8; len];
                seg.read_at(off, &mut buf).map_err(rsm_err)?;
                Ok(Answer::Data(buf))
            }
            "connect" => {
                let node: u32 = n(it.next())?;
                let id: u32 = n(it.next())?;
                if let Some((seg, bar)) = self.import.take() {
                    drop(bar);
                    let _ = seg.disconnect();
                }
                let seg = ImportSegment::connect(&self.ctl, node, id, perm::RDWR).map_err(rsm_err)?;
                let bar = seg.init_barrier(BarrierType::Node).map_err(rsm_err)?;
                let mut inc = [0u8; 8];
                let r = seg.get(0, &mut inc).and_then(|()| seg.set_mode(BarrierMode::Explicit));
                if let Err(e) = r {
                    drop(bar);
                    let _ = seg.disconnect();
                    return Err(rsm_err(e));
                }
                self.import = Some((seg, bar));
                ok(u64::from_le_bytes(inc).to_string())
            }
            "open" => {
                self.import()?.1.open().map_err(rsm_err)?;
                ok(String::new())
            }
            "put" => {
                let off: usize = n(it.next())?;
                let len: usize = n(it.next())?;
                let seed: u64 = n(it.next())?;
                let width: usize = n(it.next())?;
                let data = rsm_testkit::pattern(seed, len);
                self.puts += 1;
                if self.sabotage > 0 && self.puts % self.sabotage == 0 {
                    return ok(String::new());
                }
                let seg = &self.import()?.0;
                let r = match width {
                    2 => seg.put16(off, &items(&data, u16::from_ne_bytes)),
                    4 => seg.put32(off, &items(&data, u32::from_ne_bytes)),
                    8 => seg.put64(off, &items(&data, u64::from_ne_bytes)),
                    _ => seg.put(off, &data),
                };
                r.map_err(rsm_err)?;
                ok(String::new())
            }
            "close" => {
                self.import()?.1.close().map_err(rsm_err)?;
                ok(String::new())
            }
            "disconnect" => {
                let (seg, bar) = self.import.take().ok_or("not connected")?;
                drop(bar);
                seg.disconnect().map_err(rsm_err)?;
                ok(String::new())
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

/// Runs a worker talking to the agent at `socket` until `exit` or the end of its input (the
/// driver is gone). Exporters destroy and importers disconnect on the way out.
pub(crate) fn run(socket: &Path) -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let ctl = match Controller::get_at(socket, Some("tcp0")) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "err {}", e.c_name());
            let _ = out.flush();
            return std::process::ExitCode::FAILURE;
        }
    };
    let sabotage = std::env::var("RSM_SOAK_SABOTAGE").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut st = State { ctl, sabotage, puts: 0, export: None, import: None };
    let _ = writeln!(out, "ok ready {}", std::process::id());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let r = match st.run(&line) {
            Ok(Answer::Exit) => break,
            Ok(Answer::Line(s)) if s.is_empty() => writeln!(out, "ok"),
            Ok(Answer::Line(s)) => writeln!(out, "ok {s}"),
            Ok(Answer::Data(d)) => writeln!(out, "data {}", d.len()).and_then(|()| out.write_all(&d)),
            Err(e) if e.starts_with("RSMERR_") => writeln!(out, "err {e}"),
            Err(e) => writeln!(out, "err BAD_REQUEST {e}"),
        };
        if r.and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    if let Some((seg, bar)) = st.import.take() {
        drop(bar);
        let _ = seg.disconnect();
    }
    if let Some(seg) = st.export.take() {
        let _ = seg.destroy();
    }
    std::process::ExitCode::SUCCESS
}
