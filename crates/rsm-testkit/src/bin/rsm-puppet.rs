//! `rsm-puppet`: a client process for tests. Reads one command per line on stdin, runs it
//! with the rsm API and answers one line on stdout: `ok [values]` or `err RSMERR_...`.
//! With `--uid/--gid/--groups` (as root) it first becomes that user.
//!
//! Commands (handles are small numbers the puppet hands out):
//! `ping`, `whoami`, `node`, `umask <octal>`, `exit`;
//! exporter: `export <size> [rebind]`, `buf <size> [text]`, `exportbuf <buf> [rebind]`,
//! `bufread <buf> <off> <n>`, `bufwrite <buf> <off> <text>`, `publish <h> <id> [node:octal...]`,
//! `republish <h> [node:octal...]`, `unpublish <h>`, `destroy <h>`, `rebind <h> <buf>`,
//! `write <h> <off> <text>`, `read <h> <off> <n>`, `epost <h> [noacc]`, `ewait <h> <ms>`;
//! importer: `connect <node> <id> <octal>`, `disconnect <h>`, `rights <h>`, `map <h> <octal>`,
//! `unmap <h>`, `store <h> <off> <text>`, `load <h> <off> <n>`, `put <h> <off> <text>`,
//! `get <h> <off> <n>`, `barrier <h>`, `mode <h> explicit|implicit`, `open <h>`, `close <h>`,
//! `post <h> [noacc]`, `wait <h> <ms>`, `putloop <h> <n>`;
//! misc: `catch` (SIGUSR1 then interrupts a blocking wait instead of killing),
//! `fork <command...>` (runs one command in a forked child: the answer is the child's),
//! `forkpublish <h> <id>`, `segrange <appid>`, `tryprotect <h>`, `tryreopen`.
//! cluster: `ctl <name>` (controller for later exports/connects, e.g. `tcp0`),
//! `putfill <h> <off> <len> <seed>`, `checkfill <h> <off> <len> <seed>` (`rsm_testkit::pattern`).
#![allow(unsafe_code)]

use rsm::{
    AccessEntry, Barrier, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment,
    PostFlags, perm,
};
use rsm_testkit::PageBuf;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::ptr::NonNull;
use std::time::Duration;

enum Obj {
    Export(ExportSegment),
    Buf(PageBuf),
    Import { seg: ImportSegment, bar: Option<Barrier>, map: Option<NonNull<u8>> },
}

/// An import's segment, barrier and explicit mapping.
type ImportParts<'a> = (&'a ImportSegment, &'a mut Option<Barrier>, &'a mut Option<NonNull<u8>>);

struct State {
    ctl: Option<Controller>,
    objs: HashMap<u32, Obj>,
    next: u32,
}

type R = Result<String, String>;

fn e(err: Error) -> String {
    err.c_name().to_string()
}

fn num(s: Option<&str>) -> Result<u64, String> {
    let s = s.ok_or("missing argument")?;
    let r = if let Some(h) = s.strip_prefix("0x") { u64::from_str_radix(h, 16) } else { s.parse() };
    r.map_err(|_| format!("bad number {s}"))
}

fn oct(s: Option<&str>) -> Result<u32, String> {
    u32::from_str_radix(s.ok_or("missing argument")?, 8).map_err(|_| "bad octal".to_string())
}

fn acl<'a>(it: impl Iterator<Item = &'a str>) -> Result<Vec<AccessEntry>, String> {
    it.map(|a| {
        let (n, p) = a.split_once(':').ok_or("acl entries are node:octal")?;
        Ok(AccessEntry {
            node: n.parse().map_err(|_| "bad node")?,
            perm: u32::from_str_radix(p, 8).map_err(|_| "bad perm")?,
        })
    })
    .collect()
}

impl State {
    fn ctl(&mut self) -> Result<Controller, String> {
        if self.ctl.is_none() {
            self.ctl = Some(Controller::get("loopback").map_err(e)?);
        }
        Ok(self.ctl.clone().ok_or("no controller")?)
    }
    fn add(&mut self, o: Obj) -> String {
        self.next += 1;
        self.objs.insert(self.next, o);
        self.next.to_string()
    }
    fn export(&self, h: Option<&str>) -> Result<&ExportSegment, String> {
        match self.objs.get(&(num(h)? as u32)) {
            Some(Obj::Export(x)) => Ok(x),
            _ => Err("no such export".into()),
        }
    }
    fn buf(&self, h: Option<&str>) -> Result<&PageBuf, String> {
        match self.objs.get(&(num(h)? as u32)) {
            Some(Obj::Buf(b)) => Ok(b),
            _ => Err("no such buffer".into()),
        }
    }
    fn import(&mut self, h: Option<&str>) -> Result<ImportParts<'_>, String> {
        match self.objs.get_mut(&(num(h)? as u32)) {
            Some(Obj::Import { seg, bar, map }) => Ok((seg, bar, map)),
            _ => Err("no such import".into()),
        }
    }

    fn run(&mut self, line: &str) -> R {
        let mut it = line.split_whitespace();
        let Some(cmd) = it.next() else { return Ok(String::new()) };
        match cmd {
            "ping" => Ok("pong".into()),
            "whoami" => Ok(format!("{} {}", rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw())),
            "node" => Ok(self.ctl()?.local_node().to_string()),
            "umask" => {
                let m = oct(it.next())?;
                // SAFETY: umask(2) only sets this process's file-creation mask.
                let old = unsafe { libc::umask(m as libc::mode_t) };
                Ok(format!("{old:o}"))
            }
            "buf" => {
                let size = num(it.next())? as usize;
                let text = it.next().unwrap_or("");
                Ok(self.add(Obj::Buf(PageBuf::filled(size, text.as_bytes()))))
            }
            "bufread" => {
                let b = self.buf(it.next())?;
                let off = num(it.next())? as usize;
                let n = num(it.next())? as usize;
                if off.checked_add(n).is_none_or(|e| e > b.len()) {
                    return Err("out of range".into());
                }
                Ok(String::from_utf8_lossy(&b.read_vec(off, n)).replace('\0', "."))
            }
            "bufwrite" => {
                let b = self.buf(it.next())?;
                let off = num(it.next())? as usize;
                let text = it.next().unwrap_or("");
                if off.checked_add(text.len()).is_none_or(|e| e > b.len()) {
                    return Err("out of range".into());
                }
                b.write(off, text.as_bytes());
                Ok(String::new())
            }
            "exportbuf" => {
                let h = it.next();
                let flags = if it.next() == Some("rebind") { ExportFlags::ALLOW_REBIND } else { ExportFlags::empty() };
                let ctl = self.ctl()?;
                let b = self.buf(h)?;
                // SAFETY: the buffer belongs to this puppet and is never dropped (objects live
                // until the process exits), and it is reached only through raw copies.
                let s = unsafe { ExportSegment::create(&ctl, b.ptr(), b.len(), flags) }.map_err(e)?;
                Ok(self.add(Obj::Export(s)))
            }
            "rebind" => {
                let h = it.next();
                let b = self.buf(it.next())?;
                let (ptr, len) = (b.ptr(), b.len());
                // SAFETY: as for exportbuf: the buffer lives until the process exits.
                unsafe { self.export(h)?.rebind(ptr, len) }.map_err(e).map(|()| String::new())
            }
            "fork" => {
                let rest: Vec<&str> = it.collect();
                let rest = rest.join(" ");
                let (r, w) = rustix::pipe::pipe().map_err(|x| x.to_string())?;
                // SAFETY: the puppet is single-threaded (rsm starts no threads), so the child
                // may run ordinary code after fork.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let res = match self.run(&rest) {
                        Ok(v) if v.is_empty() => "ok".to_string(),
                        Ok(v) => format!("ok {v}"),
                        Err(x) => format!("err {x}"),
                    };
                    let _ = rustix::io::write(&w, res.as_bytes());
                    std::process::exit(0);
                }
                drop(w);
                let mut out = Vec::new();
                let mut buf = [0u8; 256];
                while let Ok(n) = rustix::io::read(&r, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                let mut st = 0;
                // SAFETY: waitpid on our own child with a valid status pointer.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                // The child's answer, as if it were ours ("fork" itself succeeded).
                let ans = String::from_utf8_lossy(&out).into_owned();
                Ok(ans)
            }
            "catch" => {
                // A no-op SIGUSR1 handler, so that the signal interrupts a blocking wait
                // instead of killing the puppet.
                extern "C" fn nothing(_: libc::c_int) {}
                let handler: extern "C" fn(libc::c_int) = nothing;
                // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags).
                let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
                sa.sa_sigaction = handler as libc::sighandler_t;
                // SAFETY: installs a handler that does nothing (async-signal-safe) for SIGUSR1.
                let r = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
                if r == 0 { Ok(String::new()) } else { Err(std::io::Error::last_os_error().to_string()) }
            }
            "sigpipe" => {
                // The default SIGPIPE action, as in a C program (the Rust runtime ignores it):
                // a library write to a broken connection that raised it would kill us.
                // SAFETY: restoring the default disposition of one signal.
                let r = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
                if r == libc::SIG_ERR { Err(std::io::Error::last_os_error().to_string()) } else { Ok(String::new()) }
            }
            "segrange" => {
                let (base, len) = rsm::segmentid_range(it.next().unwrap_or("")).map_err(e)?;
                Ok(format!("{base:#x} {len}"))
            }
            "export" => {
                let size = num(it.next())? as usize;
                let flags = if it.next() == Some("rebind") { ExportFlags::ALLOW_REBIND } else { ExportFlags::empty() };
                let ctl = self.ctl()?;
                let s = ExportSegment::allocate(&ctl, size, flags).map_err(e)?;
                Ok(self.add(Obj::Export(s)))
            }
            "publish" => {
                let h = it.next();
                let id = num(it.next())? as u32;
                let acl = acl(it)?;
                let id = self.export(h)?.publish(id, &acl).map_err(e)?;
                Ok(format!("{id:#x}"))
            }
            "republish" => {
                let h = it.next();
                let acl = acl(it)?;
                self.export(h)?.republish(&acl).map_err(e).map(|()| String::new())
            }
            "unpublish" => self.export(it.next())?.unpublish().map_err(e).map(|()| String::new()),
            "destroy" => self.export(it.next())?.destroy().map_err(e).map(|()| String::new()),
            "write" => {
                let h = it.next();
                let off = num(it.next())? as usize;
                let text = it.next().unwrap_or("");
                self.export(h)?.write_at(off, text.as_bytes()).map_err(e).map(|()| String::new())
            }
            "read" => {
                let h = it.next();
                let off = num(it.next())? as usize;
                let mut buf = vec![0u8; num(it.next())? as usize];
                self.export(h)?.read_at(off, &mut buf).map_err(e)?;
                Ok(String::from_utf8_lossy(&buf).replace('\0', "."))
            }
            "epost" => {
                let h = it.next();
                let f = if it.next() == Some("noacc") { PostFlags::NO_ACCUMULATE } else { PostFlags::empty() };
                self.export(h)?.signal_post(f).map_err(e).map(|()| String::new())
            }
            "ewait" => {
                let h = it.next();
                let ms = num(it.next())?;
                self.export(h)?.signal_wait(Some(Duration::from_millis(ms))).map_err(e).map(|()| String::new())
            }
            "forkpublish" => {
                let h = it.next();
                let id = num(it.next())? as u32;
                let seg = self.export(h)?.clone();
                let (r, w) = rustix::pipe::pipe().map_err(|x| x.to_string())?;
                // SAFETY: the puppet is single-threaded (rsm starts no threads), so the child
                // may run ordinary code after fork.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let res = match seg.publish(id, &[]) {
                        Ok(_) => "ok".to_string(),
                        Err(x) => x.c_name().to_string(),
                    };
                    let _ = rustix::io::write(&w, res.as_bytes());
                    std::process::exit(0);
                }
                drop(w);
                let mut buf = [0u8; 64];
                let n = rustix::io::read(&r, &mut buf).map_err(|x| x.to_string())?;
                let mut st = 0;
                // SAFETY: waitpid on our own child with a valid status pointer.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
            }
            "connect" => {
                let node = num(it.next())? as u32;
                let id = num(it.next())? as u32;
                let p = oct(it.next())?;
                let ctl = self.ctl()?;
                let s = ImportSegment::connect(&ctl, node, id, p).map_err(e)?;
                Ok(self.add(Obj::Import { seg: s, bar: None, map: None }))
            }
            "disconnect" => self.import(it.next())?.0.disconnect().map_err(e).map(|()| String::new()),
            "rights" => Ok(format!("{:o}", self.import(it.next())?.0.rights())),
            "map" => {
                let h = it.next();
                let p = oct(it.next())?;
                let (seg, _, map) = self.import(h)?;
                let len = seg.size();
                let ptr = seg.map(p, 0, len).map_err(e)?;
                *map = Some(ptr);
                Ok(String::new())
            }
            "unmap" => {
                let (seg, _, map) = self.import(it.next())?;
                seg.unmap().map_err(e)?;
                *map = None;
                Ok(String::new())
            }
            "load" => {
                // A load through the explicit mapping, however stale.
                let h = it.next();
                let off = num(it.next())? as usize;
                let n = num(it.next())? as usize;
                let (seg, _, map) = self.import(h)?;
                let p = map.ok_or("not mapped")?;
                if off.checked_add(n).is_none_or(|e| e > seg.size()) {
                    return Err("out of range".into());
                }
                let mut buf = vec![0u8; n];
                // SAFETY: the mapping covers the whole segment (mapped by `map`) and stays
                // mapped (revocation replaces its pages in place).
                unsafe { std::ptr::copy_nonoverlapping(p.as_ptr().wrapping_add(off), buf.as_mut_ptr(), n) };
                Ok(String::from_utf8_lossy(&buf).replace('\0', "."))
            }
            "tryprotect" => {
                // An importer trying to make its mapping writable behind rsm's back.
                let (seg, _, map) = self.import(it.next())?;
                let p = map.ok_or("not mapped")?;
                let len = seg.size().div_ceil(rustix::param::page_size()) * rustix::param::page_size();
                // SAFETY: mprotect on our own mapping of exactly its length; a success is only
                // reported, never used to store.
                let r = unsafe { libc::mprotect(p.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_WRITE) };
                Ok(if r == 0 { "allowed".into() } else { format!("denied {}", std::io::Error::last_os_error()) })
            }
            "tryreopen" => {
                // An importer trying to reopen the segment memfds it holds for writing.
                let mut tried = 0;
                let mut allowed = 0;
                for ent in std::fs::read_dir("/proc/self/fd").map_err(|x| x.to_string())?.flatten() {
                    let target = std::fs::read_link(ent.path()).unwrap_or_default();
                    if !target.to_string_lossy().starts_with("/memfd:rsm-segment") {
                        continue;
                    }
                    tried += 1;
                    if std::fs::OpenOptions::new().read(true).write(true).open(ent.path()).is_ok() {
                        allowed += 1;
                    }
                }
                Ok(if allowed > 0 { format!("allowed {allowed}/{tried}") } else { format!("denied {tried}") })
            }
            "putloop" => {
                // n rounds of put64/get64/put/get on one handle, each checked: the loop the
                // "no system call on the data path" test traces.
                let h = it.next();
                let n = num(it.next())?;
                let (seg, _, _) = self.import(h)?;
                let mut r64 = [0u64; 1];
                let mut rb = [0u8; 8];
                for i in 0..n {
                    seg.put64(0, &[i]).map_err(e)?;
                    seg.get64(0, &mut r64).map_err(e)?;
                    seg.put(8, &i.to_le_bytes()).map_err(e)?;
                    seg.get(8, &mut rb).map_err(e)?;
                    if r64[0] != i || u64::from_le_bytes(rb) != i {
                        return Err(format!("data mismatch at round {i}"));
                    }
                }
                Ok(n.to_string())
            }
            "store" => {
                // A store through the explicit mapping, however stale.
                let h = it.next();
                let off = num(it.next())? as usize;
                let text = it.next().unwrap_or("").to_string();
                let (seg, _, map) = self.import(h)?;
                let p = map.ok_or("not mapped")?;
                if off + text.len() > seg.size() {
                    return Err("out of range".into());
                }
                // SAFETY: the mapping covers the whole segment (mapped above) and stays mapped
                // (revocation replaces its pages in place).
                unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), p.as_ptr().wrapping_add(off), text.len()) };
                Ok(String::new())
            }
            "put" => {
                let h = it.next();
                let off = num(it.next())? as usize;
                let text = it.next().unwrap_or("").to_string();
                self.import(h)?.0.put(off, text.as_bytes()).map_err(e).map(|()| String::new())
            }
            "get" => {
                let h = it.next();
                let off = num(it.next())? as usize;
                let mut buf = vec![0u8; num(it.next())? as usize];
                self.import(h)?.0.get(off, &mut buf).map_err(e)?;
                Ok(String::from_utf8_lossy(&buf).replace('\0', "."))
            }
            "barrier" => {
                let (seg, bar, _) = self.import(it.next())?;
                *bar = Some(seg.init_barrier(BarrierType::Node).map_err(e)?);
                Ok(String::new())
            }
            "mode" => {
                let h = it.next();
                let m = if it.next() == Some("explicit") { BarrierMode::Explicit } else { BarrierMode::Implicit };
                self.import(h)?.0.set_mode(m).map_err(e).map(|()| String::new())
            }
            "open" => self.import(it.next())?.1.as_ref().ok_or("no barrier")?.open().map_err(e).map(|()| String::new()),
            "close" => {
                self.import(it.next())?.1.as_ref().ok_or("no barrier")?.close().map_err(e).map(|()| String::new())
            }
            "post" => {
                let h = it.next();
                let f = if it.next() == Some("noacc") { PostFlags::NO_ACCUMULATE } else { PostFlags::empty() };
                self.import(h)?.0.signal_post(f).map_err(e).map(|()| String::new())
            }
            "wait" => {
                let h = it.next();
                let ms = num(it.next())?;
                self.import(h)?.0.signal_wait(Some(Duration::from_millis(ms))).map_err(e).map(|()| String::new())
            }
            "ctl" => {
                // The controller later exports and connects use (default loopback), e.g. tcp0.
                let name = it.next().unwrap_or("loopback");
                self.ctl = Some(Controller::get(name).map_err(e)?);
                Ok(name.to_string())
            }
            "putfill" => {
                // One put of rsm_testkit::pattern(seed, len) at off (pipelined in explicit mode).
                let h = it.next();
                let off = num(it.next())? as usize;
                let len = num(it.next())? as usize;
                let data = rsm_testkit::pattern(num(it.next())?, len);
                self.import(h)?.0.put(off, &data).map_err(e).map(|()| String::new())
            }
            "checkfill" => {
                // Whether an export holds rsm_testkit::pattern(seed, len) at off.
                let h = it.next();
                let off = num(it.next())? as usize;
                let len = num(it.next())? as usize;
                let want = rsm_testkit::pattern(num(it.next())?, len);
                let mut got = vec![0u8; len];
                self.export(h)?.read_at(off, &mut got).map_err(e)?;
                match got.iter().zip(&want).position(|(a, b)| a != b) {
                    None => Ok("match".into()),
                    Some(i) => Err(format!("mismatch at {}", off + i)),
                }
            }
            "exit" => std::process::exit(0),
            other => Err(format!("unknown command {other}")),
        }
    }
}

fn drop_privileges(args: &[String]) {
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let (Some(uid), Some(gid)) = (get("--uid"), get("--gid")) else { return };
    let uid: u32 = uid.parse().expect("uid");
    let gid: u32 = gid.parse().expect("gid");
    let groups: Vec<libc::gid_t> = get("--groups")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|g| g.parse().expect("group"))
        .collect();
    // Plain credential syscalls at start-up, before any other thread exists.
    // SAFETY: the pointer/length pair describes our own vector.
    let ok = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } == 0;
    // SAFETY: no pointers involved.
    let ok = ok && unsafe { libc::setgid(gid) } == 0;
    // SAFETY: no pointers involved.
    let ok = ok && unsafe { libc::setuid(uid) } == 0;
    assert!(ok, "cannot become {uid}:{gid}: {}", std::io::Error::last_os_error());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    drop_privileges(&args);
    let _ = perm::RDWR;
    let mut st = State { ctl: None, objs: HashMap::new(), next: 0 };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let ans = match st.run(line.trim()) {
            Ok(v) if v.is_empty() => "ok".to_string(),
            Ok(v) => format!("ok {v}"),
            Err(x) => format!("err {x}"),
        };
        let _ = writeln!(out, "{ans}");
        let _ = out.flush();
    }
}
