//! The counted bad-input sweep of the Rust API of `rsm` (issue 6), the counterpart of
//! `tests/c/sweep.c`: every public function of `rsm` is called with out-of-range sizes,
//! offsets, alignments, permissions, modes, flags, counts, timeouts, controller names and
//! agent sockets, and on objects in every wrong state (unpublished, destroyed, disconnected,
//! unmapped, revoked), against a real `rsmd` (and, for imports, also through a network
//! controller of a two-node cluster), and must return the documented [`rsm::Error`] variant
//! (or value).
//!
//! Every case goes through one macro that counts it (per function and in total) and runs the
//! call under `catch_unwind`: a panic is a failed case (reported with the case), never the
//! end of the sweep. The test prints `rust sweep: N cases` and fails on any mismatch or panic,
//! if a listed function has no case, or if N falls below [`FLOOR`].
//!
//! What Rust ownership rules out, and is therefore not tested: NULL handles and pointers
//! (references, `NonNull`), garbage, forged and wrong-kind handles (each handle is its own
//! type), use after free and double free (a handle is an `Arc`; dropping the last clone
//! releases it and nothing can use it afterwards), invalid enumeration values where the API
//! takes an enum ([`BarrierMode`], [`BarrierType`]; their `TryFrom<u32>` conversions are
//! swept instead). What the API still allows is tested: a clone used after `destroy`,
//! `disconnect`, `unpublish` or `unmap`, a second `destroy`/`disconnect`, barriers used after
//! their own destroy and after their segment's disconnect, flag sets with unknown bits
//! (`from_bits_retain`), and the `unsafe` functions with the ranges they check (unaligned,
//! unmapped, wrapping, over-long counts).
//!
//! Functions without a bad input, not swept: `Controller::{name, is_loopback, attr,
//! local_node, agent_socket, same}` (a controller cannot be closed while a clone exists),
//! `Error::{code, c_name}`, `LocalMemory::{len, is_empty, as_ptr, controller}` and
//! `RawBuf::{len, is_empty}` (no state to be wrong), `RawBuf::new` (only records its
//! arguments; the ranges it describes are swept through `putv`/`getv`).
#![allow(unsafe_code)]

use rsm::{
    AccessEntry, BarrierMode, BarrierType, Controller, Error, ExportFlags, ExportSegment, ImportSegment, IoVec, Local,
    LocalMemory, PollFd, PostFlags, RawBuf, SgError, perm,
};
use rsm_testkit::{PageBuf, TestAgent, TestCluster};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::{Debug, Display};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::time::Duration;

/// Fewest cases the sweep may count: a floor, so that it cannot shrink unnoticed (it counted
/// 1020 when this was written).
const FLOOR: usize = 1000;

/// The public functions of `rsm` that take an input that can be bad, or that can be called
/// on an object in a wrong state; each must get at least one case.
const FUNCTIONS: &[&str] = &[
    "admin::segments",
    "admin::status",
    "Barrier::barrier_type",
    "Barrier::close",
    "Barrier::destroy",
    "Barrier::open",
    "Barrier::order",
    "Barrier::segment",
    "BarrierMode::try_from",
    "BarrierType::try_from",
    "canonical_name",
    "Controller::get",
    "Controller::get_at",
    "Controller::loopback",
    "default_socket",
    "Error::from_code",
    "ExportSegment::allocate",
    "ExportSegment::as_ptr",
    "ExportSegment::controller",
    "ExportSegment::create",
    "ExportSegment::destroy",
    "ExportSegment::get_pollfd",
    "ExportSegment::load",
    "ExportSegment::publish",
    "ExportSegment::read_at",
    "ExportSegment::rebind",
    "ExportSegment::release_pollfd",
    "ExportSegment::republish",
    "ExportSegment::segment_id",
    "ExportSegment::signal_post",
    "ExportSegment::signal_wait",
    "ExportSegment::size",
    "ExportSegment::store",
    "ExportSegment::unpublish",
    "ExportSegment::write_at",
    "ImportSegment::connect",
    "ImportSegment::controller",
    "ImportSegment::disconnect",
    "ImportSegment::get",
    "ImportSegment::get16",
    "ImportSegment::get32",
    "ImportSegment::get64",
    "ImportSegment::get8",
    "ImportSegment::get_pollfd",
    "ImportSegment::get_raw",
    "ImportSegment::getv",
    "ImportSegment::init_barrier",
    "ImportSegment::is_revoked",
    "ImportSegment::map",
    "ImportSegment::map_fixed",
    "ImportSegment::mode",
    "ImportSegment::node",
    "ImportSegment::put",
    "ImportSegment::put16",
    "ImportSegment::put32",
    "ImportSegment::put64",
    "ImportSegment::put8",
    "ImportSegment::put_raw",
    "ImportSegment::putv",
    "ImportSegment::release_pollfd",
    "ImportSegment::rights",
    "ImportSegment::segment_id",
    "ImportSegment::set_mode",
    "ImportSegment::signal_post",
    "ImportSegment::signal_wait",
    "ImportSegment::size",
    "ImportSegment::unmap",
    "LocalMemory::allocate",
    "LocalMemory::read_at",
    "LocalMemory::register",
    "LocalMemory::write_at",
    "segmentid_default_path",
    "segmentid_range",
    "segmentid_range_in",
    "timeout_ms",
    "topology",
    "topology_at",
    "wait_pollfd",
];

/// The counters.
#[derive(Default)]
struct Sweep {
    cases: usize,
    per: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
}

impl Sweep {
    fn record(&mut self, f: &'static str, what: &dyn Display, problem: Option<String>) {
        self.cases += 1;
        *self.per.entry(f).or_default() += 1;
        if let Some(p) = problem {
            self.failures.push(format!("{f}: {what}: {p}"));
        }
    }

    fn expect<T: PartialEq + Debug>(
        &mut self,
        f: &'static str,
        what: &dyn Display,
        got: std::thread::Result<T>,
        want: T,
    ) {
        let problem = match got {
            Err(p) => Some(format!("panicked: {}", panic_text(&*p))),
            Ok(v) if v == want => None,
            Ok(v) => Some(format!("expected {want:?}, got {v:?}")),
        };
        self.record(f, what, problem);
    }
}

/// `err!(s, "Type::function", description, call, Error::X)`: `call` (any `Result`) fails
/// with exactly `Error::X` (or, for vectors, the `SgError`).
macro_rules! err {
    ($s:expr, $f:literal, $what:expr, $call:expr, $want:expr) => {
        $s.expect($f, &$what, catch_unwind(AssertUnwindSafe(|| ($call).map(|_| ()))), Err($want))
    };
}

/// `val!(s, "function", description, call, value)`: `call` returns exactly `value`.
macro_rules! val {
    ($s:expr, $f:literal, $what:expr, $call:expr, $want:expr) => {
        $s.expect($f, &$what, catch_unwind(AssertUnwindSafe(|| $call)), $want)
    };
}

/// A non-null pointer with address `addr` (never dereferenced by the test).
fn addr(a: usize) -> NonNull<u8> {
    NonNull::new(std::ptr::without_provenance_mut(a)).expect("non-zero address")
}

/// `p + n`.
fn plus(p: NonNull<u8>, n: usize) -> NonNull<u8> {
    NonNull::new(p.as_ptr().wrapping_add(n)).expect("non-null")
}

/// The address of a range that was just unmapped.
fn hole(len: usize) -> NonNull<u8> {
    PageBuf::new(len).ptr()
}

/// Two pages of which only the first is mapped: a range that runs into a hole.
struct HalfMapped {
    p: NonNull<u8>,
    pg: usize,
}

impl HalfMapped {
    fn new(pg: usize) -> HalfMapped {
        // SAFETY: a null hint without MAP_FIXED maps fresh pages and touches nothing else.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                2 * pg,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .expect("mmap");
        let p = NonNull::new(p.cast::<u8>()).expect("mmap returned null");
        // SAFETY: the second page is ours (mapped just above) and nothing uses it.
        unsafe { rustix::mm::munmap(p.as_ptr().wrapping_add(pg).cast(), pg) }.expect("munmap");
        HalfMapped { p, pg }
    }
}

impl Drop for HalfMapped {
    fn drop(&mut self) {
        // SAFETY: the first page was mapped by new() and is unmapped only here.
        let _ = unsafe { rustix::mm::munmap(self.p.as_ptr().cast(), self.pg) };
    }
}

/// What every section works with: an agent, its loopback controller, and a published
/// 4-page segment.
struct Fx {
    agent: TestAgent,
    ctl: Controller,
    node: u32,
    pg: usize,
    e: ExportSegment,
    id: u32,
}

impl Fx {
    fn acl(&self, mode: u32) -> Vec<AccessEntry> {
        vec![AccessEntry { node: self.node, perm: mode }]
    }

    fn connect(&self, perm: u32) -> ImportSegment {
        ImportSegment::connect(&self.ctl, self.node, self.id, perm).expect("connect")
    }
}

/// Sockets that do not lead to an agent.
fn bad_sockets(dir: &Path) -> Vec<(String, PathBuf)> {
    let file = dir.join("regular-file");
    std::fs::write(&file, b"not a socket").expect("write");
    vec![
        ("a missing socket".into(), dir.join("missing.sock")),
        ("a directory".into(), dir.to_path_buf()),
        ("a regular file".into(), file),
        ("an empty path".into(), PathBuf::new()),
        ("a path longer than sun_path".into(), dir.join("x".repeat(200))),
        ("a path with a NUL byte".into(), PathBuf::from(OsString::from_vec(b"/tmp/rsm\0sweep.sock".to_vec()))),
    ]
}

#[test]
fn rust_bad_input_sweep() {
    let mut s = Sweep::default();
    // The environment first, while this test is the process's only thread doing anything.
    environment(&mut s);

    let agent = TestAgent::start(1);
    let ctl = agent.controller("loopback");
    let pg = usize::try_from(ctl.attr().page_size).expect("page size");
    let node = ctl.local_node();
    let e = ExportSegment::allocate(&ctl, 4 * pg, ExportFlags::empty()).expect("allocate");
    let id = e.publish(0, &[AccessEntry { node, perm: 0o666 }]).expect("publish");
    let fx = Fx { agent, ctl, node, pg, e, id };

    free_functions(&mut s, &fx);
    export_create(&mut s, &fx);
    export_access(&mut s, &fx);
    export_publish(&mut s, &fx);
    export_rebind(&mut s, &fx);
    export_lifetime(&mut s, &fx);
    import_connect(&mut s, &fx);
    import_map(&mut s, &fx);
    import_transfers(&mut s, &fx);
    import_vectors(&mut s, &fx);
    local_memory(&mut s, &fx);
    barriers(&mut s, &fx);
    signals(&mut s, &fx);
    remote(&mut s);

    println!("per function:");
    for (f, n) in &s.per {
        println!("  {f:<34} {n:5} cases");
    }
    for f in s.per.keys() {
        assert!(FUNCTIONS.contains(f), "case for {f}, which is not in FUNCTIONS");
    }
    let missing: Vec<&&str> = FUNCTIONS.iter().filter(|f| !s.per.contains_key(**f)).collect();
    println!("rust sweep: {} cases, {} failures", s.cases, s.failures.len());
    assert!(s.failures.is_empty(), "{} failed cases:\n{}", s.failures.len(), s.failures.join("\n"));
    assert!(missing.is_empty(), "functions without a case: {missing:?}");
    assert!(s.cases >= FLOOR, "only {} cases (the floor is {FLOOR})", s.cases);
    let log = fx.agent.log();
    assert!(
        !log.contains("panicked") && !log.contains("AddressSanitizer") && !log.contains("runtime error"),
        "the agent panicked or reported a memory error:\n{log}"
    );
}

/// `RSM_SOCKET` and `RSM_SEGMENTID_FILE`: the functions that read them.
fn environment(s: &mut Sweep) {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-agent.sock");
    let set = |k: &str, v: &Path| {
        // SAFETY: this is the only test of this binary, and it changes the environment
        // before it starts any thread or process (nothing reads the environment meanwhile).
        unsafe { std::env::set_var(k, v) };
    };
    set("RSM_QUIET", Path::new("1"));
    set("RSM_SOCKET", &missing);
    val!(s, "default_socket", "RSM_SOCKET names no agent", rsm::default_socket(), missing.clone());
    err!(s, "Controller::get", "RSM_SOCKET names no agent", Controller::get("loopback"), Error::CtlrNotPresent);
    err!(s, "Controller::get", "RSM_SOCKET names no agent, bad name", Controller::get("a/b"), Error::CtlrNotPresent);
    err!(s, "Controller::loopback", "RSM_SOCKET names no agent", Controller::loopback(), Error::CtlrNotPresent);
    err!(s, "topology", "RSM_SOCKET names no agent", rsm::topology(), Error::CtlrNotPresent);
    for (what, p) in bad_sockets(dir.path()) {
        if p.as_os_str().is_empty() || p.as_os_str().as_encoded_bytes().contains(&0) {
            continue;
        }
        set("RSM_SOCKET", &p);
        err!(s, "Controller::get", format!("RSM_SOCKET {what}"), Controller::get("loopback"), Error::CtlrNotPresent);
        err!(s, "topology", format!("RSM_SOCKET {what}"), rsm::topology(), Error::CtlrNotPresent);
    }
    set("RSM_SOCKET", Path::new(""));
    val!(s, "default_socket", "RSM_SOCKET empty (ignored)", rsm::default_socket(), PathBuf::from(rsm::DEFAULT_SOCKET));

    let conf = dir.path().join("missing.segmentid");
    set("RSM_SEGMENTID_FILE", &conf);
    val!(s, "segmentid_default_path", "RSM_SEGMENTID_FILE set", rsm::segmentid_default_path(), conf.clone());
    err!(s, "segmentid_range", "RSM_SEGMENTID_FILE names no file", rsm::segmentid_range("APP"), Error::BadConf);
    err!(s, "segmentid_range", "no file, empty appid", rsm::segmentid_range(""), Error::BadConf);
    set("RSM_SEGMENTID_FILE", dir.path());
    err!(s, "segmentid_range", "RSM_SEGMENTID_FILE names a directory", rsm::segmentid_range("APP"), Error::BadConf);
    set("RSM_SEGMENTID_FILE", Path::new(""));
    val!(
        s,
        "segmentid_default_path",
        "RSM_SEGMENTID_FILE empty (ignored)",
        rsm::segmentid_default_path(),
        PathBuf::from(rsm::SEGMENTID_DEFAULT_PATH)
    );
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var("RSM_SOCKET") };
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var("RSM_SEGMENTID_FILE") };
}

/// Names, codes, conversions, sockets, the segment-id file, `wait_pollfd`.
fn free_functions(s: &mut Sweep, fx: &Fx) {
    let long = "a/".repeat(500);
    for name in
        ["", "12", "0", "a/b0", " loopback", "loopback ", "loopback\n", "x99999999999", "\u{e9}t\u{e9}0", long.as_str()]
    {
        val!(s, "canonical_name", format!("{name:?}"), rsm::canonical_name(Some(name)), None);
    }
    for code in [0, -1, 46, 99, 102, 116, 118, 126, 128, 1000, i32::MIN, i32::MAX] {
        val!(s, "Error::from_code", format!("code {code}"), Error::from_code(code), None);
    }
    for m in [2u32, 3, 0x10, 0x7FFF_FFFF, 0x8000_0000, u32::MAX] {
        val!(s, "BarrierMode::try_from", format!("{m:#x}"), BarrierMode::try_from(m), Err(Error::BadMode));
    }
    for t in [0u32, 3, 0x10, 0x13, 0x21, 0x7FFF_FFFF, u32::MAX] {
        val!(s, "BarrierType::try_from", format!("{t:#x}"), BarrierType::try_from(t), Err(Error::BadBarrierPtr));
    }
    for ms in [-1, -2, -1000, i32::MIN] {
        val!(s, "timeout_ms", format!("{ms} (forever)"), rsm::timeout_ms(ms), None);
    }
    val!(s, "timeout_ms", "i32::MAX", rsm::timeout_ms(i32::MAX), Some(Duration::from_millis(2_147_483_647)));

    // Sockets that lead to no agent.
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, p) in bad_sockets(dir.path()) {
        err!(s, "topology_at", &what, rsm::topology_at(&p), Error::CtlrNotPresent);
        err!(s, "admin::status", &what, rsm::admin::status(&p), Error::CtlrNotPresent);
        err!(s, "admin::segments", &what, rsm::admin::segments(&p), Error::CtlrNotPresent);
        err!(s, "Controller::get_at", &what, Controller::get_at(&p, Some("loopback")), Error::CtlrNotPresent);
        err!(
            s,
            "Controller::get_at",
            format!("{what}, name None"),
            Controller::get_at(&p, None),
            Error::CtlrNotPresent
        );
    }
    // Controller names the agent does not have.
    let many = "a".repeat(400);
    for name in [
        "",
        "nosuch0",
        "nosuch",
        "tcp",
        "tcp0",
        "tcp1",
        "sci0",
        "a/b0",
        "loopback\n",
        " loopback",
        many.as_str(),
        long.as_str(),
    ] {
        err!(
            s,
            "Controller::get_at",
            format!("name {name:?}"),
            Controller::get_at(fx.agent.socket(), Some(name)),
            Error::CtlrNotPresent
        );
    }

    // The segment-id file.
    let file = |name: &str, text: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let good = file(
        "good",
        b"# keyword appid baseid length\nreserved SWEEPAPP 0x600000 100\nreserved OVERFLOWBASE 0x1ffffffff 3\n\
          reserved OVERFLOWLEN 0x600000 99999999999999999999\nfoo BADKEYWORD 0x600000 10\n",
    );
    let blank = file("blank", b"\nreserved SWEEPAPP 0x600000 100\n");
    let short = file("short", b"reserved SWEEPAPP\nreserved OTHER 0x600000 100\n");
    let binary = file("binary", b"\xff\xfe\x00garbage\x80 \x81 \x82 \x83\n");
    val!(
        s,
        "segmentid_range_in",
        "a good file (control)",
        rsm::segmentid_range_in(&good, "sweepapp"),
        Ok((0x600000, 100))
    );
    for appid in ["", "nosuch", "SWEEPAPPX", "SWEEPAP", " SWEEPAPP", "#", "\u{0}", many.as_str()] {
        err!(
            s,
            "segmentid_range_in",
            format!("appid {appid:.12?}"),
            rsm::segmentid_range_in(&good, appid),
            Error::BadAppid
        );
    }
    for (appid, what) in
        [("OVERFLOWBASE", "baseid overflows"), ("OVERFLOWLEN", "length overflows"), ("BADKEYWORD", "keyword")]
    {
        err!(s, "segmentid_range_in", what, rsm::segmentid_range_in(&good, appid), Error::BadConf);
    }
    err!(s, "segmentid_range_in", "blank line first", rsm::segmentid_range_in(&blank, "SWEEPAPP"), Error::BadConf);
    err!(s, "segmentid_range_in", "short line first", rsm::segmentid_range_in(&short, "OTHER"), Error::BadConf);
    err!(
        s,
        "segmentid_range_in",
        "binary garbage (four fields, no match)",
        rsm::segmentid_range_in(&binary, "APP"),
        Error::BadAppid
    );
    err!(
        s,
        "segmentid_range_in",
        "missing file",
        rsm::segmentid_range_in(&dir.path().join("none"), "APP"),
        Error::BadConf
    );
    err!(s, "segmentid_range_in", "a directory", rsm::segmentid_range_in(dir.path(), "APP"), Error::BadConf);
    err!(s, "segmentid_range_in", "an empty path", rsm::segmentid_range_in(Path::new(""), "APP"), Error::BadConf);

    // wait_pollfd: nothing to wait for, descriptors that are not open, huge timeouts.
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let pollin = 0x001;
    let pfd = |fd: i32| PollFd { fd, events: pollin, revents: 0 };
    val!(
        s,
        "wait_pollfd",
        "no entries, timeout 0",
        rsm::wait_pollfd(&mut [], Some(Duration::ZERO)),
        Err(Error::Timeout)
    );
    val!(
        s,
        "wait_pollfd",
        "no entries, timeout 1 ns",
        rsm::wait_pollfd(&mut [], Some(Duration::from_nanos(1))),
        Err(Error::Timeout)
    );
    val!(
        s,
        "wait_pollfd",
        "negative descriptors only",
        rsm::wait_pollfd(&mut [pfd(-1), pfd(-2), pfd(i32::MIN)], Some(Duration::from_millis(1))),
        Err(Error::Timeout)
    );
    let mut closed = [pfd(-1), pfd(i32::MAX)];
    val!(
        s,
        "wait_pollfd",
        "descriptor i32::MAX (POLLNVAL)",
        rsm::wait_pollfd(&mut closed, Some(Duration::ZERO)),
        Ok(1)
    );
    val!(s, "wait_pollfd", "  ... and its revents", closed[1].revents, 0x020);
    std::io::Write::write_all(&mut &b, b"x").expect("write");
    for t in [Duration::MAX, Duration::from_secs(u64::MAX / 2), Duration::new(u64::MAX, 999_999_999)] {
        let mut ready = [pfd(a.as_raw_fd())];
        val!(
            s,
            "wait_pollfd",
            format!("a descriptor ready, timeout {t:?}"),
            rsm::wait_pollfd(&mut ready, Some(t)),
            Ok(1)
        );
    }
    let mut ready = [pfd(a.as_raw_fd())];
    val!(s, "wait_pollfd", "a descriptor ready, no timeout", rsm::wait_pollfd(&mut ready, None), Ok(1));
}

fn export_create(s: &mut Sweep, fx: &Fx) {
    let (ctl, pg) = (&fx.ctl, fx.pg);
    let max = usize::try_from(fx.ctl.attr().max_export_segment_size).unwrap_or(usize::MAX) & !(pg - 1);
    let none = ExportFlags::empty();
    err!(s, "ExportSegment::allocate", "size 0", ExportSegment::allocate(ctl, 0, none), Error::BadLength);
    for size in [1, 8, pg / 2, pg - 1, pg + 1, 3 * pg - 1, usize::MAX] {
        err!(
            s,
            "ExportSegment::allocate",
            format!("size {size}"),
            ExportSegment::allocate(ctl, size, none),
            Error::BadMemAlignment
        );
    }
    for size in [max + pg, usize::MAX & !(pg - 1), 1 << 62] {
        err!(
            s,
            "ExportSegment::allocate",
            format!("size {size:#x} (over the maximum)"),
            ExportSegment::allocate(ctl, size, none),
            Error::BadLength
        );
    }
    for bits in [0xFFFF_FFFC, u32::MAX] {
        val!(
            s,
            "ExportSegment::allocate",
            format!("flags {bits:#x} (unknown bits ignored)"),
            ExportSegment::allocate(ctl, pg, ExportFlags::from_bits_retain(bits)).map(|x| x.size()),
            Ok(pg)
        );
    }

    let buf = PageBuf::new(2 * pg);
    let half = HalfMapped::new(pg);
    // SAFETY: every range given is either `buf` (the test's own memory, unused otherwise and
    // kept mapped until the end of this function, so a segment created over it by mistake
    // stays valid) or not mapped at all (refused before anything is touched).
    let create = |at: NonNull<u8>, size: usize| unsafe { ExportSegment::create(ctl, at, size, ExportFlags::empty()) };
    let p = buf.ptr();
    err!(s, "ExportSegment::create", "size 0", create(p, 0), Error::BadLength);
    err!(s, "ExportSegment::create", "size 0, address misaligned: size first", create(plus(p, 1), 0), Error::BadLength);
    for m in [1, 8, 64, pg / 2, pg - 1] {
        err!(s, "ExportSegment::create", format!("address page + {m}"), create(plus(p, m), pg), Error::BadMemAlignment);
    }
    for size in [1, pg - 1, pg + 1, usize::MAX] {
        err!(s, "ExportSegment::create", format!("size {size}"), create(p, size), Error::BadMemAlignment);
    }
    err!(s, "ExportSegment::create", "over the maximum", create(p, max + pg), Error::BadLength);
    err!(
        s,
        "ExportSegment::create",
        "misaligned and over the maximum",
        create(plus(p, 1), max + pg),
        Error::BadMemAlignment
    );
    err!(s, "ExportSegment::create", "address 0x1000 (never mapped)", create(addr(0x1000), pg), Error::BadAddr);
    let last = addr(usize::MAX & !(pg - 1));
    err!(s, "ExportSegment::create", "the last page (wraps)", create(last, pg), Error::BadAddr);
    err!(s, "ExportSegment::create", "past the end of the address space", create(last, 2 * pg), Error::BadAddr);
    err!(s, "ExportSegment::create", "an unmapped range", create(hole(pg), pg), Error::BadAddr);
    err!(s, "ExportSegment::create", "a range running into a hole", create(half.p, 2 * pg), Error::BadAddr);
}

/// `write_at`, `read_at`, `load`, `store`: bounds, alignment, and after destroy.
fn export_access(s: &mut Sweep, fx: &Fx) {
    let (e, pg) = (&fx.e, fx.pg);
    let size = e.size();
    let big = vec![0u8; size + 1];
    let mut back = vec![0u8; size + 1];
    for (off, len, what) in [
        (size, 1, "at the end"),
        (size - 1, 2, "across the end"),
        (0, size + 1, "one byte too many"),
        (usize::MAX, 1, "offset usize::MAX"),
        (usize::MAX - 3, 8, "offset + length wraps"),
    ] {
        err!(s, "ExportSegment::write_at", what, e.write_at(off, &big[..len]), Error::BadLength);
        err!(s, "ExportSegment::read_at", what, e.read_at(off, &mut back[..len]), Error::BadLength);
    }
    macro_rules! elems {
        ($t:ty) => {{
            let w = std::mem::size_of::<$t>();
            for m in 1..w {
                err!(
                    s,
                    "ExportSegment::load",
                    format!("{} at offset {m}", stringify!($t)),
                    e.load::<$t>(m),
                    Error::BadMemAlignment
                );
                err!(
                    s,
                    "ExportSegment::store",
                    format!("{} at offset {m}", stringify!($t)),
                    e.store::<$t>(m, 1),
                    Error::BadMemAlignment
                );
                err!(
                    s,
                    "ExportSegment::load",
                    format!("{} at offset usize::MAX - {}", stringify!($t), w - 1 - m),
                    e.load::<$t>(usize::MAX - (w - 1 - m)),
                    Error::BadMemAlignment
                );
            }
            for off in [size, size + w, usize::MAX & !(w - 1), (usize::MAX & !(w - 1)) - w] {
                err!(
                    s,
                    "ExportSegment::load",
                    format!("{} at offset {off:#x}", stringify!($t)),
                    e.load::<$t>(off),
                    Error::BadLength
                );
                err!(
                    s,
                    "ExportSegment::store",
                    format!("{} at offset {off:#x}", stringify!($t)),
                    e.store::<$t>(off, 1),
                    Error::BadLength
                );
            }
        }};
    }
    elems!(u8);
    elems!(u16);
    elems!(u32);
    elems!(u64);

    // A clone used after destroy.
    let d = ExportSegment::allocate(&fx.ctl, pg, ExportFlags::empty()).expect("allocate");
    let clone = d.clone();
    d.destroy().expect("destroy");
    err!(s, "ExportSegment::write_at", "destroyed", clone.write_at(0, &[1]), Error::BadSegHndl);
    err!(s, "ExportSegment::write_at", "destroyed, out of range", clone.write_at(usize::MAX, &[1]), Error::BadSegHndl);
    err!(s, "ExportSegment::read_at", "destroyed", clone.read_at(0, &mut back[..1]), Error::BadSegHndl);
    err!(s, "ExportSegment::load", "destroyed", clone.load::<u64>(0), Error::BadSegHndl);
    err!(s, "ExportSegment::load", "destroyed, misaligned", clone.load::<u64>(1), Error::BadSegHndl);
    err!(s, "ExportSegment::store", "destroyed", clone.store::<u32>(0, 1), Error::BadSegHndl);
    err!(
        s,
        "ExportSegment::store",
        "destroyed, out of range",
        clone.store::<u32>(usize::MAX & !3, 1),
        Error::BadSegHndl
    );
    // The getters still answer.
    val!(s, "ExportSegment::size", "destroyed", clone.size(), pg);
    val!(s, "ExportSegment::segment_id", "destroyed", clone.segment_id(), None);
    val!(s, "ExportSegment::controller", "destroyed", clone.controller().same(&fx.ctl), true);
    val!(s, "ExportSegment::as_ptr", "destroyed (an address, not a panic)", clone.as_ptr().is_null(), false);
}

fn export_publish(s: &mut Sweep, fx: &Fx) {
    let (ctl, pg, node) = (&fx.ctl, fx.pg, fx.node);
    let p = ExportSegment::allocate(ctl, pg, ExportFlags::empty()).expect("allocate");
    let q = ExportSegment::allocate(ctl, pg, ExportFlags::empty()).expect("allocate");
    let ok = fx.acl(0o666);
    let reserved = [
        1u32,
        2,
        0xF_FFFF,
        0x10_0000,
        0x1F_FFFF,
        0x20_0000,
        0x2F_FFFF,
        0x30_0000,
        0x3F_FFFF,
        0x8000_0000,
        0x8000_0001,
        0xFFFF_FFFE,
        u32::MAX,
    ];
    let mut bad_acls: Vec<(String, Vec<AccessEntry>)> = vec![
        ("65 entries".into(), vec![AccessEntry { node, perm: 0o666 }; 65]),
        ("1000 entries".into(), vec![AccessEntry { node, perm: 0o666 }; 1000]),
        ("2 entries (loopback allows one)".into(), vec![AccessEntry { node, perm: 0o666 }; 2]),
        (
            "a second entry for another node".into(),
            vec![AccessEntry { node, perm: 0o666 }, AccessEntry { node: node + 1, perm: 0o666 }],
        ),
    ];
    for n in [0, 2, 63, 64, 65, 1000, u32::MAX] {
        if n != node {
            bad_acls.push((format!("node {n} (not the local node)"), vec![AccessEntry { node: n, perm: 0o666 }]));
        }
    }
    for m in [0o667, 0o670, 0o700, 0o777, 0o1000, 0o7777, 0x8000_0000, u32::MAX] {
        bad_acls.push((format!("mode {m:#o}"), vec![AccessEntry { node, perm: m }]));
    }

    for (what, acl) in &bad_acls {
        err!(s, "ExportSegment::publish", what, p.publish(0, acl), Error::BadAcl);
    }
    for id in reserved {
        err!(s, "ExportSegment::publish", format!("segment id {id:#x}"), p.publish(id, &ok), Error::ReservedSegid);
        err!(
            s,
            "ExportSegment::publish",
            format!("segment id {id:#x}, bad list: id first"),
            p.publish(id, &bad_acls[0].1),
            Error::ReservedSegid
        );
    }
    let fixed = 0x5B_0000 + (std::process::id() & 0xFFFF);
    val!(s, "ExportSegment::publish", "a free explicit id (control)", p.publish(fixed, &ok), Ok(fixed));
    err!(s, "ExportSegment::publish", "an id in use", q.publish(fixed, &ok), Error::SegidInUse);
    err!(s, "ExportSegment::publish", "an id in use, empty list", q.publish(fixed, &[]), Error::SegidInUse);
    err!(s, "ExportSegment::publish", "published already", p.publish(0, &ok), Error::SegAlreadyPublished);
    err!(s, "ExportSegment::publish", "published already, reserved id", p.publish(1, &ok), Error::SegAlreadyPublished);
    err!(
        s,
        "ExportSegment::publish",
        "published already, bad list",
        p.publish(0, &bad_acls[0].1),
        Error::SegAlreadyPublished
    );
    for (what, acl) in &bad_acls {
        err!(s, "ExportSegment::republish", what, p.republish(acl), Error::BadAcl);
    }
    err!(s, "ExportSegment::unpublish", "never published", q.unpublish(), Error::SegNotPublished);
    err!(s, "ExportSegment::republish", "never published", q.republish(&ok), Error::SegNotPublished);
    err!(
        s,
        "ExportSegment::republish",
        "never published, bad list",
        q.republish(&bad_acls[0].1),
        Error::SegNotPublished
    );
    p.unpublish().expect("unpublish");
    err!(s, "ExportSegment::unpublish", "unpublished just now (twice)", p.unpublish(), Error::SegNotPublished);
    err!(s, "ExportSegment::republish", "unpublished", p.republish(&ok), Error::SegNotPublished);
    val!(s, "ExportSegment::segment_id", "unpublished", p.segment_id(), None);
    val!(s, "ExportSegment::publish", "the id given back by unpublish (control)", q.publish(fixed, &ok), Ok(fixed));
    let pc = p.clone();
    p.destroy().expect("destroy");
    err!(s, "ExportSegment::publish", "destroyed", pc.publish(0, &ok), Error::BadSegHndl);
    err!(
        s,
        "ExportSegment::publish",
        "destroyed, reserved id, bad list",
        pc.publish(1, &bad_acls[0].1),
        Error::BadSegHndl
    );
    err!(s, "ExportSegment::republish", "destroyed", pc.republish(&ok), Error::BadSegHndl);
    err!(s, "ExportSegment::unpublish", "destroyed", pc.unpublish(), Error::BadSegHndl);
    drop(q);
}

fn export_rebind(s: &mut Sweep, fx: &Fx) {
    let (ctl, pg) = (&fx.ctl, fx.pg);
    let xr = ExportSegment::allocate(ctl, 2 * pg, ExportFlags::ALLOW_REBIND).expect("allocate");
    let xn = ExportSegment::allocate(ctl, pg, ExportFlags::empty()).expect("allocate");
    let nbuf = PageBuf::new(2 * pg);
    let half = HalfMapped::new(pg);
    let cur = NonNull::new(xr.as_ptr()).expect("segment address");
    // SAFETY: every range given is `nbuf` (the test's own memory, kept mapped until the end
    // of this function), the segment's current range (a no-op), or one that rebind refuses
    // before touching it (misaligned, unmapped, overlapping, wrong size).
    let rebind = |x: &ExportSegment, at: NonNull<u8>, size: usize| unsafe { x.rebind(at, size) };
    let n = nbuf.ptr();
    for m in [1, 8, pg / 2, pg - 1] {
        err!(
            s,
            "ExportSegment::rebind",
            format!("address page + {m}"),
            rebind(&xr, plus(n, m), 2 * pg),
            Error::BadAddr
        );
    }
    err!(
        s,
        "ExportSegment::rebind",
        "misaligned, wrong size: address first",
        rebind(&xr, plus(n, 1), 0),
        Error::BadAddr
    );
    err!(
        s,
        "ExportSegment::rebind",
        "address 0x1000 (never mapped)",
        rebind(&xr, addr(0x1000), 2 * pg),
        Error::BadAddr
    );
    err!(
        s,
        "ExportSegment::rebind",
        "the last pages (wraps)",
        rebind(&xr, addr(usize::MAX & !(pg - 1)), 2 * pg),
        Error::BadAddr
    );
    err!(s, "ExportSegment::rebind", "an unmapped range", rebind(&xr, hole(2 * pg), 2 * pg), Error::BadAddr);
    err!(s, "ExportSegment::rebind", "a range running into a hole", rebind(&xr, half.p, 2 * pg), Error::BadAddr);
    err!(
        s,
        "ExportSegment::rebind",
        "overlapping the current range (above)",
        rebind(&xr, plus(cur, pg), 2 * pg),
        Error::BadAddr
    );
    err!(
        s,
        "ExportSegment::rebind",
        "overlapping the current range (below)",
        rebind(&xr, addr(cur.as_ptr() as usize - pg), 2 * pg),
        Error::BadAddr
    );
    for size in [0, 1, pg, pg + 1, 2 * pg - 1, 2 * pg + 1, 3 * pg, usize::MAX, usize::MAX & !(pg - 1)] {
        err!(s, "ExportSegment::rebind", format!("size {size}"), rebind(&xr, n, size), Error::BadLength);
    }
    err!(
        s,
        "ExportSegment::rebind",
        "wrong size, unmapped: size first",
        rebind(&xr, addr(0x1000), pg),
        Error::BadLength
    );
    val!(s, "ExportSegment::rebind", "the current address (a no-op)", rebind(&xr, cur, 2 * pg), Ok(()));
    err!(s, "ExportSegment::rebind", "no ALLOW_REBIND", rebind(&xn, n, pg), Error::RebindNotAllowed);
    err!(s, "ExportSegment::rebind", "no ALLOW_REBIND, size 0: flag first", rebind(&xn, n, 0), Error::RebindNotAllowed);
    err!(
        s,
        "ExportSegment::rebind",
        "no ALLOW_REBIND, unmapped",
        rebind(&xn, addr(0x1000), pg),
        Error::RebindNotAllowed
    );
    err!(
        s,
        "ExportSegment::rebind",
        "no ALLOW_REBIND, misaligned: address first",
        rebind(&xn, plus(n, 1), pg),
        Error::BadAddr
    );
    let xc = xr.clone();
    xr.destroy().expect("destroy");
    err!(s, "ExportSegment::rebind", "destroyed", rebind(&xc, n, 2 * pg), Error::BadSegHndl);
    err!(
        s,
        "ExportSegment::rebind",
        "destroyed, misaligned, wrong size",
        rebind(&xc, plus(n, 1), 0),
        Error::BadSegHndl
    );
}

fn export_lifetime(s: &mut Sweep, fx: &Fx) {
    let d = ExportSegment::allocate(&fx.ctl, fx.pg, ExportFlags::empty()).expect("allocate");
    let dc = d.clone();
    err!(s, "ExportSegment::get_pollfd", "not published", d.get_pollfd(), Error::BadSegHndl);
    d.publish(0, &[]).expect("publish");
    d.get_pollfd().expect("get_pollfd");
    err!(s, "ExportSegment::destroy", "a poll descriptor held", d.destroy(), Error::PollfdInUse);
    err!(s, "ExportSegment::unpublish", "a poll descriptor held", d.unpublish(), Error::PollfdInUse);
    val!(s, "ExportSegment::release_pollfd", "the one held (control)", d.release_pollfd(), Ok(()));
    val!(s, "ExportSegment::release_pollfd", "released more often than got", d.release_pollfd(), Ok(()));
    d.get_pollfd().expect("get_pollfd");
    err!(s, "ExportSegment::destroy", "one reference held after releases below zero", d.destroy(), Error::PollfdInUse);
    d.release_pollfd().expect("release");
    d.destroy().expect("destroy");
    err!(s, "ExportSegment::destroy", "destroyed just now (twice)", d.destroy(), Error::BadSegHndl);
    err!(s, "ExportSegment::destroy", "a clone of a destroyed segment", dc.destroy(), Error::BadSegHndl);
    err!(s, "ExportSegment::signal_post", "destroyed", dc.signal_post(PostFlags::empty()), Error::BadSegHndl);
    err!(
        s,
        "ExportSegment::signal_post",
        "destroyed, every flag",
        dc.signal_post(PostFlags::from_bits_retain(u32::MAX)),
        Error::BadSegHndl
    );
    err!(
        s,
        "ExportSegment::signal_wait",
        "destroyed, timeout 0",
        dc.signal_wait(Some(Duration::ZERO)),
        Error::BadSegHndl
    );
    err!(s, "ExportSegment::signal_wait", "destroyed, no timeout", dc.signal_wait(None), Error::BadSegHndl);
    err!(
        s,
        "ExportSegment::signal_wait",
        "destroyed, Duration::MAX",
        dc.signal_wait(Some(Duration::MAX)),
        Error::BadSegHndl
    );
    err!(s, "ExportSegment::get_pollfd", "destroyed", dc.get_pollfd(), Error::BadSegHndl);
    err!(s, "ExportSegment::release_pollfd", "destroyed", dc.release_pollfd(), Error::BadSegHndl);
}

fn import_connect(s: &mut Sweep, fx: &Fx) {
    let (ctl, node, id) = (&fx.ctl, fx.node, fx.id);
    for p in [
        0o1,
        0o2,
        0o4,
        0o7,
        0o10,
        0o60,
        0o70,
        0o100,
        0o601,
        0o606,
        0o666,
        0o700,
        0o777,
        0o1000,
        0o1600,
        0x8000_0000,
        u32::MAX,
    ] {
        err!(
            s,
            "ImportSegment::connect",
            format!("perm {p:#o}"),
            ImportSegment::connect(ctl, node, id, p),
            Error::PermDenied
        );
    }
    err!(
        s,
        "ImportSegment::connect",
        "perm 0777, another node: perm first",
        ImportSegment::connect(ctl, node + 1, id, 0o777),
        Error::PermDenied
    );
    for n in [0, 2, 3, 63, 64, 65, 1000, 0x7FFF_FFFF, u32::MAX] {
        if n != node {
            err!(
                s,
                "ImportSegment::connect",
                format!("node {n} through loopback"),
                ImportSegment::connect(ctl, n, id, perm::RDWR),
                Error::CtlrNotPresent
            );
        }
    }
    for i in [0, 1, 0x3F_FFFF, 0x40_0000, 0x7FFF_FFFF, u32::MAX, id.wrapping_add(1000)] {
        if i != id {
            err!(
                s,
                "ImportSegment::connect",
                format!("segment id {i:#x}"),
                ImportSegment::connect(ctl, node, i, perm::RDWR),
                Error::SegNotPublished
            );
        }
    }

    // disconnect: mapped, pollfd held, twice.
    let t = fx.connect(perm::RDWR);
    let tc = t.clone();
    t.map(perm::RDWR, 0, fx.pg).expect("map");
    err!(s, "ImportSegment::disconnect", "explicitly mapped", t.disconnect(), Error::SegStillMapped);
    t.get_pollfd().expect("get_pollfd");
    err!(
        s,
        "ImportSegment::disconnect",
        "mapped and a poll descriptor held: mapping first",
        t.disconnect(),
        Error::SegStillMapped
    );
    t.unmap().expect("unmap");
    err!(s, "ImportSegment::disconnect", "a poll descriptor held", t.disconnect(), Error::PollfdInUse);
    t.release_pollfd().expect("release");
    val!(s, "ImportSegment::release_pollfd", "released more often than got", t.release_pollfd(), Ok(()));
    t.get_pollfd().expect("get_pollfd");
    err!(
        s,
        "ImportSegment::disconnect",
        "one reference held after releases below zero",
        t.disconnect(),
        Error::PollfdInUse
    );
    t.release_pollfd().expect("release");
    t.disconnect().expect("disconnect");
    err!(s, "ImportSegment::disconnect", "disconnected just now (twice)", t.disconnect(), Error::BadSegHndl);
    err!(s, "ImportSegment::disconnect", "a clone of a disconnected segment", tc.disconnect(), Error::BadSegHndl);
    // The getters still answer.
    val!(s, "ImportSegment::size", "disconnected", tc.size(), fx.e.size());
    val!(s, "ImportSegment::node", "disconnected", tc.node(), node);
    val!(s, "ImportSegment::segment_id", "disconnected", tc.segment_id(), id);
    val!(s, "ImportSegment::rights", "disconnected", tc.rights(), perm::RDWR);
    val!(s, "ImportSegment::controller", "disconnected", tc.controller().same(ctl), true);
    val!(
        s,
        "ImportSegment::is_revoked",
        "disconnected (an answer, not a panic)",
        catch_unwind(AssertUnwindSafe(|| tc.is_revoked())).is_ok(),
        true
    );
    // Everything else refuses it.
    err!(s, "ImportSegment::map", "disconnected", tc.map(perm::RDWR, 0, fx.pg), Error::BadSegHndl);
    err!(s, "ImportSegment::map", "disconnected, bad perm and length", tc.map(0o777, 1, 0), Error::BadSegHndl);
    err!(s, "ImportSegment::unmap", "disconnected", tc.unmap(), Error::BadSegHndl);
    err!(s, "ImportSegment::set_mode", "disconnected", tc.set_mode(BarrierMode::Explicit), Error::BadSegHndl);
    err!(s, "ImportSegment::mode", "disconnected", tc.mode(), Error::BadSegHndl);
    err!(s, "ImportSegment::init_barrier", "disconnected", tc.init_barrier(BarrierType::Node), Error::BadSegHndl);
    err!(s, "ImportSegment::signal_post", "disconnected", tc.signal_post(PostFlags::empty()), Error::BadSegHndl);
    err!(
        s,
        "ImportSegment::signal_wait",
        "disconnected, timeout 0",
        tc.signal_wait(Some(Duration::ZERO)),
        Error::BadSegHndl
    );
    err!(s, "ImportSegment::signal_wait", "disconnected, no timeout", tc.signal_wait(None), Error::BadSegHndl);
    err!(s, "ImportSegment::get_pollfd", "disconnected", tc.get_pollfd(), Error::BadSegHndl);
    err!(s, "ImportSegment::release_pollfd", "disconnected", tc.release_pollfd(), Error::BadSegHndl);
    err!(s, "ImportSegment::put", "disconnected", tc.put(0, &[1]), Error::BadSegHndl);
    err!(s, "ImportSegment::get", "disconnected", tc.get(0, &mut [0]), Error::BadSegHndl);
    err!(s, "ImportSegment::put64", "disconnected", tc.put64(0, &[1]), Error::BadSegHndl);
    err!(s, "ImportSegment::get32", "disconnected", tc.get32(0, &mut [0]), Error::BadSegHndl);
}

fn import_map(s: &mut Sweep, fx: &Fx) {
    let pg = fx.pg;
    let size = fx.e.size();
    let m = fx.connect(perm::RDWR);
    let ro = fx.connect(perm::READ);
    let wo = fx.connect(perm::WRITE);
    let none = fx.connect(perm::NONE);
    for p in [
        0o601,
        0o602,
        0o604,
        0o606,
        0o666,
        0o700,
        0o777,
        0o1000,
        0o1600,
        0x8000_0000,
        u32::MAX,
        0o1,
        0o7,
        0o60,
        0o66,
        0o201,
    ] {
        err!(s, "ImportSegment::map", format!("perm {p:#o}"), m.map(p, 0, pg), Error::BadPerms);
    }
    err!(s, "ImportSegment::map", "perm 0777, length 0, offset 1: perm first", m.map(0o777, 1, 0), Error::BadPerms);
    for (off, len, what) in [
        (0, 0, "length 0"),
        (0, size + 1, "length size + 1"),
        (0, usize::MAX, "length usize::MAX"),
        (pg, size, "offset + length past the end"),
        (size, 1, "offset at the end"),
        (usize::MAX & !(pg - 1), pg, "offset usize::MAX rounded down"),
        (pg, usize::MAX - pg + 1, "offset + length wraps to 0"),
        (1, 0, "length 0, offset misaligned: length first"),
    ] {
        err!(s, "ImportSegment::map", what, m.map(perm::RDWR, off, len), Error::BadLength);
    }
    for off in [1, 8, pg / 2, pg + 1, 3 * pg + 4] {
        err!(s, "ImportSegment::map", format!("offset {off}"), m.map(perm::RDWR, off, 1), Error::BadMemAlignment);
    }
    let spot = PageBuf::new(2 * pg);
    // SAFETY: every address given is inside `spot`, the test's own pages, which nothing uses
    // (and map_fixed refuses the misaligned ones before mapping anything).
    let fixed =
        |x: &ImportSegment, at: NonNull<u8>, p: u32, off: usize, len: usize| unsafe { x.map_fixed(at, p, off, len) };
    for mis in [1, 8, pg / 2] {
        err!(
            s,
            "ImportSegment::map_fixed",
            format!("at page + {mis}"),
            fixed(&m, plus(spot.ptr(), mis), perm::RDWR, 0, pg),
            Error::BadMemAlignment
        );
    }
    err!(s, "ImportSegment::map_fixed", "perm 0777", fixed(&m, spot.ptr(), 0o777, 0, pg), Error::BadPerms);
    err!(s, "ImportSegment::map_fixed", "length 0", fixed(&m, spot.ptr(), perm::RDWR, 0, 0), Error::BadLength);
    err!(
        s,
        "ImportSegment::map_fixed",
        "offset misaligned",
        fixed(&m, spot.ptr(), perm::RDWR, 1, 1),
        Error::BadMemAlignment
    );
    err!(
        s,
        "ImportSegment::map_fixed",
        "more than the rights",
        fixed(&ro, spot.ptr(), perm::RDWR, 0, pg),
        Error::BadPerms
    );
    m.map(perm::RDWR, 0, pg).expect("map");
    err!(s, "ImportSegment::map", "mapped already", m.map(perm::RDWR, 0, pg), Error::SegAlreadyMapped);
    err!(
        s,
        "ImportSegment::map",
        "mapped already, perm, offset, length bad too",
        m.map(0o777, 1, 0),
        Error::SegAlreadyMapped
    );
    err!(
        s,
        "ImportSegment::map_fixed",
        "mapped already",
        fixed(&m, spot.ptr(), perm::RDWR, 0, pg),
        Error::SegAlreadyMapped
    );
    m.unmap().expect("unmap");
    err!(s, "ImportSegment::unmap", "unmapped just now (twice)", m.unmap(), Error::SegNotMapped);
    err!(s, "ImportSegment::unmap", "never mapped", ro.unmap(), Error::SegNotMapped);
    let _bar = m.init_barrier(BarrierType::Node).expect("barrier");
    m.put(0, &[1]).expect("put");
    err!(s, "ImportSegment::map", "mapped implicitly by a put", m.map(perm::RDWR, 0, pg), Error::SegAlreadyMapped);
    val!(s, "ImportSegment::unmap", "the implicit mapping (control)", m.unmap(), Ok(()));
    err!(s, "ImportSegment::map", "RDWR on a read-only connection", ro.map(perm::RDWR, 0, pg), Error::BadPerms);
    err!(s, "ImportSegment::map", "WRITE on a read-only connection", ro.map(perm::WRITE, 0, pg), Error::BadPerms);
    err!(s, "ImportSegment::map", "READ on a write-only connection", wo.map(perm::READ, 0, pg), Error::BadPerms);
    err!(s, "ImportSegment::map", "READ without rights", none.map(perm::READ, 0, pg), Error::BadPerms);

    // Revoked.
    let r = ExportSegment::allocate(&fx.ctl, pg, ExportFlags::empty()).expect("allocate");
    let rid = r.publish(0, &fx.acl(0o666)).expect("publish");
    let rev = ImportSegment::connect(&fx.ctl, fx.node, rid, perm::RDWR).expect("connect");
    r.unpublish().expect("unpublish");
    err!(s, "ImportSegment::map", "revoked", rev.map(perm::RDWR, 0, pg), Error::ConnAborted);
    err!(s, "ImportSegment::map", "revoked, perm 0777: perm first", rev.map(0o777, 0, pg), Error::BadPerms);
    err!(
        s,
        "ImportSegment::map",
        "revoked, past the end: length first",
        rev.map(perm::RDWR, 0, 2 * pg),
        Error::BadLength
    );
    err!(s, "ImportSegment::map_fixed", "revoked", fixed(&rev, spot.ptr(), perm::RDWR, 0, pg), Error::ConnAborted);
    err!(s, "ImportSegment::unmap", "revoked, never mapped", rev.unmap(), Error::SegNotMapped);
    val!(s, "ImportSegment::is_revoked", "revoked", rev.is_revoked(), true);
}

/// put/get of every width, and the raw forms.
fn import_transfers(s: &mut Sweep, fx: &Fx) {
    let pg = fx.pg;
    let size = fx.e.size();
    let im = fx.connect(perm::RDWR);
    let _b = im.init_barrier(BarrierType::Node).expect("barrier");
    let ro = fx.connect(perm::READ);
    let _bro = ro.init_barrier(BarrierType::Node).expect("barrier");
    let wo = fx.connect(perm::WRITE);
    let _bwo = wo.init_barrier(BarrierType::Node).expect("barrier");
    let none = fx.connect(perm::NONE);
    let _bn = none.init_barrier(BarrierType::Node).expect("barrier");
    let nobar = fx.connect(perm::RDWR);
    let win = fx.connect(perm::RDWR);
    let _bw = win.init_barrier(BarrierType::Node).expect("barrier");
    win.map(perm::RDWR, pg, 2 * pg).expect("window");
    let r = ExportSegment::allocate(&fx.ctl, pg, ExportFlags::empty()).expect("allocate");
    let rid = r.publish(0, &fx.acl(0o666)).expect("publish");
    let rev = ImportSegment::connect(&fx.ctl, fx.node, rid, perm::RDWR).expect("connect");
    let _br = rev.init_barrier(BarrierType::Node).expect("barrier");
    r.unpublish().expect("unpublish");
    let gone = fx.connect(perm::RDWR);
    gone.disconnect().expect("disconnect");

    macro_rules! width {
        ($t:ty, $put:ident, $get:ident, $fput:literal, $fget:literal) => {{
            let w = std::mem::size_of::<$t>();
            let one: [$t; 1] = [1];
            let two: [$t; 2] = [1, 2];
            let many = vec![<$t>::default(); size / w + 1];
            let mut d1: [$t; 1] = [0];
            let mut d2: [$t; 2] = [0; 2];
            let mut dmany = vec![<$t>::default(); size / w + 1];
            for m in 1..w {
                err!(s, $fput, format!("offset {m}"), im.$put(m, &one), Error::BadMemAlignment);
                err!(s, $fget, format!("offset {m}"), im.$get(m, &mut d1), Error::BadMemAlignment);
                err!(s, $fput, format!("offset size - {}", w - m), im.$put(size - w + m, &one), Error::BadMemAlignment);
                err!(
                    s,
                    $fget,
                    format!("offset usize::MAX - {}", w - 1 - m),
                    im.$get(usize::MAX - (w - 1 - m), &mut d1),
                    Error::BadMemAlignment
                );
                err!(s, $fput, format!("offset {m}, no write right"), ro.$put(m, &one), Error::BadMemAlignment);
                err!(s, $fget, format!("offset {m}, no barrier"), nobar.$get(m, &mut d1), Error::BadMemAlignment);
                err!(s, $fput, format!("offset {m}, disconnected"), gone.$put(m, &one), Error::BadMemAlignment);
                err!(
                    s,
                    $fget,
                    format!("offset pg + {m} in the window"),
                    win.$get(pg + m, &mut d1),
                    Error::BadMemAlignment
                );
            }
            for (off, what) in [
                (size, "at the end"),
                (usize::MAX & !(w - 1), "offset usize::MAX rounded down"),
                (size + w, "past the end"),
            ] {
                err!(s, $fput, what, im.$put(off, &one), Error::BadLength);
                err!(s, $fget, what, im.$get(off, &mut d1), Error::BadLength);
            }
            err!(s, $fput, "last item and one more", im.$put(size - w, &two), Error::BadLength);
            err!(s, $fget, "last item and one more", im.$get(size - w, &mut d2), Error::BadLength);
            err!(s, $fput, "one item more than the segment", im.$put(0, &many), Error::BadLength);
            err!(s, $fget, "one item more than the segment", im.$get(0, &mut dmany), Error::BadLength);
            err!(s, $fput, "offset + length wraps", im.$put((usize::MAX & !(w - 1)) - w, &two), Error::BadLength);
            for (off, what) in [
                (0, "before the window"),
                (pg - w, "just before the window"),
                (3 * pg, "just after the window"),
                (size, "at the segment's end"),
                (usize::MAX & !(w - 1), "offset usize::MAX rounded down"),
            ] {
                err!(s, $fput, format!("{what} [pg, 3 pg)"), win.$put(off, &one), Error::BadOffset);
                err!(s, $fget, format!("{what} [pg, 3 pg)"), win.$get(off, &mut d1), Error::BadOffset);
            }
            err!(s, $fput, "straddling the window's start", win.$put(pg - w, &two), Error::BadOffset);
            err!(s, $fget, "straddling the window's end", win.$get(3 * pg - w, &mut d2), Error::BadOffset);
            err!(s, $fput, "no write right", ro.$put(0, &one), Error::PermDenied);
            err!(s, $fget, "no read right", wo.$get(0, &mut d1), Error::PermDenied);
            err!(s, $fput, "no rights", none.$put(0, &one), Error::PermDenied);
            err!(s, $fget, "no rights", none.$get(0, &mut d1), Error::PermDenied);
            err!(s, $fput, "no write right, out of range: rights first", ro.$put(size, &one), Error::PermDenied);
            err!(s, $fput, "implicit mode, no barrier", nobar.$put(0, &one), Error::BarrierUninitialized);
            err!(s, $fget, "implicit mode, no barrier", nobar.$get(0, &mut d1), Error::BarrierUninitialized);
            err!(s, $fget, "no barrier, out of range: bounds first", nobar.$get(size, &mut d1), Error::BadLength);
            err!(s, $fput, "revoked", rev.$put(0, &one), Error::ConnAborted);
            err!(s, $fget, "revoked", rev.$get(0, &mut d1), Error::ConnAborted);
            err!(s, $fput, "disconnected", gone.$put(0, &one), Error::BadSegHndl);
            err!(s, $fget, "disconnected", gone.$get(0, &mut d1), Error::BadSegHndl);
            val!(s, $fput, "nothing, at the end (accepted)", im.$put(size, &[]), Ok(()));
            val!(s, $fget, "nothing, at the end (accepted)", im.$get(size, &mut []), Ok(()));
        }};
    }
    width!(u8, put, get, "ImportSegment::put", "ImportSegment::get");
    width!(u8, put8, get8, "ImportSegment::put8", "ImportSegment::get8");
    width!(u16, put16, get16, "ImportSegment::put16", "ImportSegment::get16");
    width!(u32, put32, get32, "ImportSegment::put32", "ImportSegment::get32");
    width!(u64, put64, get64, "ImportSegment::put64", "ImportSegment::get64");

    // The raw forms: counts the buffer cannot hold are refused by the bounds check before
    // anything is read or written (what the C ABI relies on for a C caller's count).
    macro_rules! raw {
        ($t:ty) => {{
            let w = std::mem::size_of::<$t>();
            let src: [$t; 2] = [1, 2];
            let mut dst: [$t; 2] = [0; 2];
            let d = dst.as_mut_ptr();
            // SAFETY: `src`/`dst` hold 2 aligned items; every count over 2 is refused by the
            // bounds check (the segment is far smaller than the count's bytes) before the
            // buffer is touched, and the misaligned offsets before that.
            let put = |x: &ImportSegment, off: usize, n: usize| unsafe { x.put_raw::<$t>(off, src.as_ptr(), n) };
            // SAFETY: as above, for writing.
            let get = |x: &ImportSegment, off: usize, n: usize| unsafe { x.get_raw::<$t>(off, d, n) };
            let t = stringify!($t);
            let mut counts = vec![(usize::MAX, "count usize::MAX"), (size / w + 1, "one item more than the segment")];
            if w > 1 {
                counts.push((usize::MAX / w + 1, "count * size wraps to 0"));
                counts.push((usize::MAX / w + 2, "count * size wraps to one item"));
            }
            for (n, what) in counts {
                err!(s, "ImportSegment::put_raw", format!("{t}: {what}"), put(&im, 0, n), Error::BadLength);
                err!(s, "ImportSegment::get_raw", format!("{t}: {what}"), get(&im, 0, n), Error::BadLength);
                err!(s, "ImportSegment::put_raw", format!("{t}: {what}, window"), put(&win, pg, n), Error::BadOffset);
                err!(
                    s,
                    "ImportSegment::get_raw",
                    format!("{t}: {what}, no read right"),
                    get(&wo, 0, n),
                    Error::PermDenied
                );
            }
            for m in 1..w {
                err!(s, "ImportSegment::put_raw", format!("{t}: offset {m}"), put(&im, m, 1), Error::BadMemAlignment);
                err!(
                    s,
                    "ImportSegment::get_raw",
                    format!("{t}: offset {m}, count usize::MAX"),
                    get(&im, m, usize::MAX),
                    Error::BadMemAlignment
                );
            }
            err!(
                s,
                "ImportSegment::put_raw",
                format!("{t}: offset + count wraps"),
                put(&im, usize::MAX & !(w - 1), 2),
                Error::BadLength
            );
            err!(s, "ImportSegment::get_raw", format!("{t}: revoked"), get(&rev, 0, 1), Error::ConnAborted);
            err!(s, "ImportSegment::put_raw", format!("{t}: disconnected"), put(&gone, 0, 1), Error::BadSegHndl);
            err!(
                s,
                "ImportSegment::get_raw",
                format!("{t}: no barrier"),
                get(&nobar, 0, 1),
                Error::BarrierUninitialized
            );
        }};
    }
    raw!(u8);
    raw!(u16);
    raw!(u32);
    raw!(u64);

    // Modes need no exporter: a revoked connection still has one.
    val!(s, "ImportSegment::set_mode", "revoked (accepted)", rev.set_mode(BarrierMode::Explicit), Ok(()));
    val!(s, "ImportSegment::mode", "revoked", rev.mode(), Ok(BarrierMode::Explicit));
}

/// putv/getv: counts, entries, bounds, states.
fn import_vectors(s: &mut Sweep, fx: &Fx) {
    let pg = fx.pg;
    let size = fx.e.size();
    let im = fx.connect(perm::RDWR);
    let _b = im.init_barrier(BarrierType::Node).expect("barrier");
    let ro = fx.connect(perm::READ);
    let _bro = ro.init_barrier(BarrierType::Node).expect("barrier");
    let wo = fx.connect(perm::WRITE);
    let _bwo = wo.init_barrier(BarrierType::Node).expect("barrier");
    let nobar = fx.connect(perm::RDWR);
    let win = fx.connect(perm::RDWR);
    let _bw = win.init_barrier(BarrierType::Node).expect("barrier");
    win.map(perm::RDWR, pg, 2 * pg).expect("window");
    let gone = fx.connect(perm::RDWR);
    gone.disconnect().expect("disconnect");
    let lm = LocalMemory::allocate(&fx.ctl, 2 * pg).expect("local memory");
    let other = TestAgent::start(7);
    let foreign = LocalMemory::allocate(&other.controller("loopback"), pg).expect("local memory");
    let src = vec![7u8; 64];
    let raw = PageBuf::new(pg);
    let sg = |error, residual| SgError { error, residual };
    let no = PostFlags::empty();

    // A vector of `n` 8-byte Src entries at remote offsets 64 * i.
    fn entries(src: &[u8], n: usize) -> Vec<IoVec<'_>> {
        (0..n).map(|i| IoVec { local: Local::Src(src), remote_offset: 64 * (i % 64), len: 8 }).collect()
    }
    let srcs = |n: usize| entries(&src, n);
    for n in [0usize, 17, 100, 1000] {
        err!(s, "ImportSegment::putv", format!("{n} entries"), im.putv(&mut srcs(n), no), sg(Error::BadSgio, n));
    }
    err!(s, "ImportSegment::getv", "no entries", im.getv(&mut [], PostFlags::empty()), sg(Error::BadSgio, 0));
    let mut dsts: Vec<Vec<u8>> = (0..17).map(|_| vec![0u8; 8]).collect();
    let mut v: Vec<IoVec<'_>> =
        dsts.iter_mut().map(|d| IoVec { local: Local::Dst(d), remote_offset: 0, len: 8 }).collect();
    err!(s, "ImportSegment::getv", "17 entries", im.getv(&mut v, no), sg(Error::BadSgio, 17));
    drop(v);
    err!(s, "ImportSegment::putv", "disconnected", gone.putv(&mut srcs(2), no), sg(Error::BadSgio, 2));
    err!(s, "ImportSegment::putv", "disconnected, 0 entries", gone.putv(&mut srcs(0), no), sg(Error::BadSgio, 0));
    let mut d8 = [0u8; 8];
    err!(
        s,
        "ImportSegment::getv",
        "disconnected",
        gone.getv(&mut [IoVec { local: Local::Dst(&mut d8), remote_offset: 0, len: 8 }], no),
        sg(Error::BadSgio, 1)
    );

    // Entries that do not fit the call or their buffer.
    let mut d8b = [0u8; 8];
    let mut v = srcs(3);
    v[1] = IoVec { local: Local::Dst(&mut d8b), remote_offset: 0, len: 8 };
    err!(s, "ImportSegment::putv", "entry 2 of 3 is a destination", im.putv(&mut v, no), sg(Error::BadSgio, 2));
    let mut v = [IoVec { local: Local::Src(&src), remote_offset: 0, len: 8 }];
    err!(s, "ImportSegment::getv", "a source entry", im.getv(&mut v, no), sg(Error::BadSgio, 1));
    let mut v = srcs(3);
    v[2].len = 65;
    err!(s, "ImportSegment::putv", "entry 3 longer than its slice", im.putv(&mut v, no), sg(Error::BadLength, 1));
    let mut d4 = [0u8; 4];
    let mut v = [IoVec { local: Local::Dst(&mut d4), remote_offset: 0, len: 5 }];
    err!(s, "ImportSegment::getv", "longer than its slice", im.getv(&mut v, no), sg(Error::BadLength, 1));
    // SAFETY: the buffer is `raw`, the test's own page, valid for pg bytes; entries that
    // claim more are refused (length over the buffer) before it is touched.
    let rb = |n: usize| unsafe { RawBuf::new(raw.ptr().as_ptr(), n) };
    for (blen, len, what) in
        [(8, 9, "a raw buffer shorter than the entry"), (pg, usize::MAX, "a raw entry of usize::MAX bytes")]
    {
        let mut v = [IoVec { local: Local::Raw(rb(blen)), remote_offset: 0, len }];
        err!(s, "ImportSegment::putv", what, im.putv(&mut v, no), sg(Error::BadLength, 1));
        let mut v = [IoVec { local: Local::Raw(rb(blen)), remote_offset: 0, len }];
        err!(s, "ImportSegment::getv", what, im.getv(&mut v, no), sg(Error::BadLength, 1));
    }
    // SAFETY: a buffer description whose length is over its real size, refused as above.
    let huge = unsafe { RawBuf::new(raw.ptr().as_ptr(), usize::MAX) };
    let mut v = [IoVec { local: Local::Raw(huge), remote_offset: 8, len: usize::MAX }];
    err!(
        s,
        "ImportSegment::putv",
        "a raw buffer claiming usize::MAX bytes",
        im.putv(&mut v, no),
        sg(Error::BadLength, 1)
    );

    // Remote bounds: processing stops at the first failing entry.
    for (i, off, what) in [
        (0, size, "entry 1 at the end"),
        (1, size - 4, "entry 2 straddles the end"),
        (2, usize::MAX, "entry 3 at usize::MAX"),
        (2, usize::MAX - 3, "entry 3 wraps"),
    ] {
        let mut v = srcs(3);
        v[i].remote_offset = off;
        err!(s, "ImportSegment::putv", what, im.putv(&mut v, no), sg(Error::BadLength, 3 - i));
    }
    // Registered buffers: their own bounds, and their controller's agent.
    for (loff, len, what) in [
        (2 * pg, 1, "at the buffer's end"),
        (usize::MAX, 1, "offset usize::MAX"),
        (8, 2 * pg, "past the buffer"),
        (0, usize::MAX, "usize::MAX bytes"),
    ] {
        let mut v = [IoVec { local: Local::Handle(&lm, loff), remote_offset: 0, len }];
        err!(
            s,
            "ImportSegment::putv",
            format!("registered buffer, {what}"),
            im.putv(&mut v, no),
            sg(Error::BadLength, 1)
        );
        let mut v = [IoVec { local: Local::Handle(&lm, loff), remote_offset: 0, len }];
        err!(
            s,
            "ImportSegment::getv",
            format!("registered buffer, {what}"),
            im.getv(&mut v, no),
            sg(Error::BadLength, 1)
        );
    }
    let mut v = [IoVec { local: Local::Handle(&foreign, 0), remote_offset: 0, len: 8 }];
    err!(
        s,
        "ImportSegment::putv",
        "a buffer registered with another agent's controller",
        im.putv(&mut v, no),
        sg(Error::BadSgio, 1)
    );
    let mut v = [IoVec { local: Local::Handle(&foreign, 0), remote_offset: 0, len: 8 }];
    err!(
        s,
        "ImportSegment::getv",
        "a buffer registered with another agent's controller",
        im.getv(&mut v, no),
        sg(Error::BadSgio, 1)
    );
    // States.
    err!(s, "ImportSegment::putv", "outside the window", win.putv(&mut srcs(2), no), sg(Error::BadOffset, 2));
    err!(s, "ImportSegment::putv", "no write right", ro.putv(&mut srcs(2), no), sg(Error::PermDenied, 2));
    let mut v = [IoVec { local: Local::Dst(&mut d8), remote_offset: 0, len: 8 }];
    err!(s, "ImportSegment::getv", "no read right", wo.getv(&mut v, no), sg(Error::PermDenied, 1));
    // No barrier error for vectors (RSMAPI 3.8): each entry is its own window.
    val!(s, "ImportSegment::putv", "implicit mode, no barrier", nobar.putv(&mut srcs(2), no), Ok(()));
    // Unknown flag bits are ignored.
    val!(
        s,
        "ImportSegment::putv",
        "flags with every unknown bit",
        im.putv(&mut srcs(2), PostFlags::from_bits_retain(0xFFFF_FFFC)),
        Ok(())
    );
    drop(other);
}

fn local_memory(s: &mut Sweep, fx: &Fx) {
    let (ctl, pg) = (&fx.ctl, fx.pg);
    err!(s, "LocalMemory::allocate", "length 0", LocalMemory::allocate(ctl, 0), Error::BadLength);
    for len in [usize::MAX, usize::MAX & !(pg - 1), 1 << 62] {
        err!(
            s,
            "LocalMemory::allocate",
            format!("length {len:#x}"),
            LocalMemory::allocate(ctl, len),
            Error::InsufficientMem
        );
    }
    let buf = PageBuf::new(2 * pg);
    let half = HalfMapped::new(pg);
    // SAFETY: the ranges are `buf` (the test's own memory, kept mapped until the end of this
    // function and not otherwise used) or unmapped ones that register refuses.
    let register = |at: NonNull<u8>, len: usize| unsafe { LocalMemory::register(ctl, at, len) };
    let p = buf.ptr();
    for m in [1, 8, 64, pg / 2, pg - 1] {
        err!(s, "LocalMemory::register", format!("address page + {m}"), register(plus(p, m), pg), Error::BadAddr);
    }
    err!(s, "LocalMemory::register", "misaligned, length 0: address first", register(plus(p, 1), 0), Error::BadAddr);
    err!(s, "LocalMemory::register", "length 0", register(p, 0), Error::BadLength);
    err!(s, "LocalMemory::register", "address 0x1000 (never mapped)", register(addr(0x1000), pg), Error::BadAddr);
    err!(
        s,
        "LocalMemory::register",
        "the last page (wraps)",
        register(addr(usize::MAX & !(pg - 1)), pg),
        Error::BadAddr
    );
    err!(s, "LocalMemory::register", "length usize::MAX", register(p, usize::MAX), Error::BadAddr);
    err!(s, "LocalMemory::register", "an unmapped range", register(hole(pg), pg), Error::BadAddr);
    err!(s, "LocalMemory::register", "a range running into a hole", register(half.p, 2 * pg), Error::BadAddr);
    let lm = LocalMemory::allocate(ctl, 2 * pg).expect("local memory");
    let big = vec![0u8; 2 * pg + 1];
    let mut back = vec![0u8; 2 * pg + 1];
    for (off, len, what) in [
        (2 * pg, 1, "at the end"),
        (0, 2 * pg + 1, "one byte too many"),
        (usize::MAX, 1, "offset usize::MAX"),
        (usize::MAX - 3, 8, "offset + length wraps"),
    ] {
        err!(s, "LocalMemory::write_at", what, lm.write_at(off, &big[..len]), Error::BadLength);
        err!(s, "LocalMemory::read_at", what, lm.read_at(off, &mut back[..len]), Error::BadLength);
    }
}

fn barriers(s: &mut Sweep, fx: &Fx) {
    let im = fx.connect(perm::RDWR);
    let b = im.init_barrier(BarrierType::SegmentThread).expect("barrier");
    err!(s, "Barrier::close", "never opened", b.close(), Error::BarrierNotOpened);
    err!(s, "Barrier::order", "never opened", b.order(), Error::BarrierNotOpened);
    b.open().expect("open");
    b.close().expect("close");
    err!(s, "Barrier::close", "closed just now (twice)", b.close(), Error::BarrierNotOpened);
    b.destroy().expect("destroy");
    err!(s, "Barrier::destroy", "destroyed just now (twice)", b.destroy(), Error::BarrierUninitialized);
    err!(s, "Barrier::open", "destroyed", b.open(), Error::BarrierUninitialized);
    err!(s, "Barrier::close", "destroyed", b.close(), Error::BarrierUninitialized);
    err!(s, "Barrier::order", "destroyed", b.order(), Error::BarrierUninitialized);
    val!(s, "Barrier::segment", "destroyed", b.segment().segment_id(), fx.id);
    val!(s, "Barrier::barrier_type", "destroyed", b.barrier_type(), BarrierType::SegmentThread);
    err!(s, "ImportSegment::put", "its barrier destroyed", im.put(0, &[1]), Error::BarrierUninitialized);

    // Revoked.
    let r = ExportSegment::allocate(&fx.ctl, fx.pg, ExportFlags::empty()).expect("allocate");
    let rid = r.publish(0, &fx.acl(0o666)).expect("publish");
    let rev = ImportSegment::connect(&fx.ctl, fx.node, rid, perm::RDWR).expect("connect");
    let br = rev.init_barrier(BarrierType::Segment).expect("barrier");
    br.open().expect("open");
    r.destroy().expect("destroy");
    err!(s, "Barrier::close", "revoked (exporter destroyed)", br.close(), Error::ConnAborted);
    err!(s, "Barrier::close", "revoked, again", br.close(), Error::ConnAborted);
    err!(s, "Barrier::order", "revoked", br.order(), Error::ConnAborted);

    // The segment disconnected under an open window.
    let t = fx.connect(perm::RDWR);
    let bt = t.init_barrier(BarrierType::Node).expect("barrier");
    bt.open().expect("open");
    t.disconnect().expect("disconnect");
    err!(s, "Barrier::order", "window open across a disconnect", bt.order(), Error::ConnAborted);
    err!(s, "Barrier::close", "window open across a disconnect", bt.close(), Error::ConnAborted);
    err!(s, "Barrier::close", "segment disconnected, again", bt.close(), Error::ConnAborted);
    err!(s, "Barrier::open", "segment disconnected", bt.open(), Error::BadSegHndl);
    val!(s, "Barrier::destroy", "segment disconnected (allowed)", bt.destroy(), Ok(()));
    err!(s, "Barrier::destroy", "destroyed just now (twice)", bt.destroy(), Error::BarrierUninitialized);
}

fn signals(s: &mut Sweep, fx: &Fx) {
    let x = ExportSegment::allocate(&fx.ctl, fx.pg, ExportFlags::empty()).expect("allocate");
    let xid = x.publish(0, &fx.acl(0o666)).expect("publish");
    let im = ImportSegment::connect(&fx.ctl, fx.node, xid, perm::RDWR).expect("connect");
    for bits in [0x1, 0x4, 0x8000_0000, 0xFFFF_FFFC, u32::MAX] {
        val!(
            s,
            "ImportSegment::signal_post",
            format!("flags {bits:#x} (unknown bits ignored)"),
            im.signal_post(PostFlags::from_bits_retain(bits)),
            Ok(())
        );
        x.signal_wait(Some(Duration::from_secs(5))).expect("the event");
        val!(
            s,
            "ExportSegment::signal_post",
            format!("flags {bits:#x} (unknown bits ignored)"),
            x.signal_post(PostFlags::from_bits_retain(bits)),
            Ok(())
        );
        im.signal_wait(Some(Duration::from_secs(5))).expect("the event");
    }
    for t in [Duration::ZERO, Duration::from_nanos(1), Duration::from_micros(999)] {
        err!(
            s,
            "ExportSegment::signal_wait",
            format!("nothing pending, {t:?}"),
            x.signal_wait(Some(t)),
            Error::Timeout
        );
        err!(
            s,
            "ImportSegment::signal_wait",
            format!("nothing pending, {t:?}"),
            im.signal_wait(Some(t)),
            Error::Timeout
        );
    }
    // Timeouts too long for a deadline: forever (tested with an event pending).
    for t in [
        Duration::MAX,
        Duration::new(u64::MAX, 0),
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(i64::MAX as u64),
    ] {
        im.signal_post(PostFlags::empty()).expect("post");
        val!(s, "ExportSegment::signal_wait", format!("an event pending, {t:?}"), x.signal_wait(Some(t)), Ok(()));
        x.signal_post(PostFlags::empty()).expect("post");
        val!(s, "ImportSegment::signal_wait", format!("an event pending, {t:?}"), im.signal_wait(Some(t)), Ok(()));
    }
    val!(s, "ImportSegment::release_pollfd", "never got", im.release_pollfd(), Ok(()));
    val!(s, "ExportSegment::release_pollfd", "never got", x.release_pollfd(), Ok(()));
    val!(
        s,
        "ImportSegment::get_pollfd",
        "a connected segment (control)",
        im.get_pollfd().map(|p| p.events),
        Ok(rsm::POLLRDNORM)
    );
    im.release_pollfd().expect("release");
    val!(s, "ExportSegment::get_pollfd", "an export (control)", x.get_pollfd().map(|p| p.events), Ok(rsm::POLLRDNORM));
    x.release_pollfd().expect("release");
    // Revoked: a post is dropped silently; an unpublished export has nobody to post to.
    x.unpublish().expect("unpublish");
    val!(s, "ImportSegment::signal_post", "revoked (dropped)", im.signal_post(PostFlags::empty()), Ok(()));
    val!(
        s,
        "ExportSegment::signal_post",
        "unpublished (no importer)",
        x.signal_post(PostFlags::from_bits_retain(u32::MAX)),
        Ok(())
    );
    err!(
        s,
        "ExportSegment::signal_wait",
        "unpublished, nothing pending",
        x.signal_wait(Some(Duration::ZERO)),
        Error::Timeout
    );
}

/// The same through a network controller: an import of a segment on another node, whose
/// accesses take the data connection instead of shared memory.
fn remote(s: &mut Sweep) {
    let c = TestCluster::start(2);
    let (ex_ctl, im_ctl) = (c.controller(1, "tcp0"), c.controller(2, "tcp0"));
    let pg = usize::try_from(im_ctl.attr().page_size).expect("page size");
    let seg = ExportSegment::allocate(&ex_ctl, 2 * pg, ExportFlags::empty()).expect("allocate");
    let size = seg.size();
    let id = seg.publish(0, &[AccessEntry { node: 2, perm: 0o666 }]).expect("publish");
    let other = ExportSegment::allocate(&ex_ctl, pg, ExportFlags::empty()).expect("allocate");
    let oid = other.publish(0, &[AccessEntry { node: 1, perm: 0o666 }]).expect("publish");
    let conn = |p: u32| ImportSegment::connect(&im_ctl, 1, id, p);
    err!(s, "ImportSegment::connect", "remote: perm 0777", conn(0o777), Error::PermDenied);
    err!(
        s,
        "ImportSegment::connect",
        "remote: unpublished id",
        ImportSegment::connect(&im_ctl, 1, id.wrapping_add(1000), perm::RDWR),
        Error::SegNotPublished
    );
    err!(
        s,
        "ImportSegment::connect",
        "remote: not published to this node",
        ImportSegment::connect(&im_ctl, 1, oid, perm::RDWR),
        Error::SegNotPublishedToNode
    );
    for n in [3, 64, u32::MAX] {
        err!(
            s,
            "ImportSegment::connect",
            format!("remote: node {n} (not in the cluster)"),
            ImportSegment::connect(&im_ctl, n, id, perm::RDWR),
            Error::RemoteNodeUnreachable
        );
    }
    let im = conn(perm::RDWR).expect("connect");
    let _b = im.init_barrier(BarrierType::Node).expect("barrier");
    let ro = conn(perm::READ).expect("connect");
    let _bro = ro.init_barrier(BarrierType::Node).expect("barrier");
    let nobar = conn(perm::RDWR).expect("connect");
    let mut d8 = [0u64; 2];
    for m in 1..8 {
        err!(s, "ImportSegment::put64", format!("remote: offset {m}"), im.put64(m, &[1]), Error::BadMemAlignment);
        err!(
            s,
            "ImportSegment::get64",
            format!("remote: offset {m}"),
            im.get64(m, &mut d8[..1]),
            Error::BadMemAlignment
        );
    }
    for (off, what) in [
        (size, "at the end"),
        (size - 8, "last item and one more"),
        (usize::MAX & !7, "offset usize::MAX rounded down"),
    ] {
        err!(s, "ImportSegment::put64", format!("remote: {what}"), im.put64(off, &[1, 2]), Error::BadLength);
        err!(s, "ImportSegment::get64", format!("remote: {what}"), im.get64(off, &mut d8), Error::BadLength);
        err!(s, "ImportSegment::put", format!("remote: {what}"), im.put(off, &[0; 16]), Error::BadLength);
        err!(s, "ImportSegment::get", format!("remote: {what}"), im.get(off, &mut [0; 16]), Error::BadLength);
    }
    err!(
        s,
        "ImportSegment::put",
        "remote: one byte more than the segment",
        im.put(0, &vec![0; size + 1]),
        Error::BadLength
    );
    let src = [1u32; 2];
    // SAFETY: `src` holds 2 items; the larger counts are refused by the bounds check before
    // anything is read.
    let put_raw = |n: usize| unsafe { im.put_raw::<u32>(0, src.as_ptr(), n) };
    for n in [usize::MAX, usize::MAX / 4 + 1, size / 4 + 1] {
        err!(s, "ImportSegment::put_raw", format!("remote: count {n:#x}"), put_raw(n), Error::BadLength);
    }
    err!(s, "ImportSegment::put32", "remote: no write right", ro.put32(0, &[1]), Error::PermDenied);
    err!(
        s,
        "ImportSegment::put32",
        "remote: no write right, out of range: rights first",
        ro.put32(size, &[1]),
        Error::PermDenied
    );
    err!(
        s,
        "ImportSegment::put32",
        "remote: implicit mode, no barrier",
        nobar.put32(0, &[1]),
        Error::BarrierUninitialized
    );
    err!(
        s,
        "ImportSegment::get32",
        "remote: no barrier, out of range: bounds first",
        nobar.get32(size, &mut [0]),
        Error::BadLength
    );
    err!(s, "ImportSegment::map", "remote: perm 0777", im.map(0o777, 0, pg), Error::BadPerms);
    err!(s, "ImportSegment::map", "remote: length 0", im.map(perm::RDWR, 0, 0), Error::BadLength);
    err!(s, "ImportSegment::map", "remote: offset misaligned", im.map(perm::RDWR, 1, 1), Error::BadMemAlignment);
    err!(
        s,
        "ImportSegment::map",
        "remote: a network controller cannot map",
        im.map(perm::RDWR, 0, pg),
        Error::MapFailed
    );
    err!(s, "ImportSegment::unmap", "remote: never mapped", im.unmap(), Error::SegNotMapped);
    let mut v = [IoVec { local: Local::Src(&[1; 8]), remote_offset: size, len: 8 }];
    err!(
        s,
        "ImportSegment::putv",
        "remote: past the end",
        im.putv(&mut v, PostFlags::empty()),
        SgError { error: Error::BadLength, residual: 1 }
    );
    let mut back = [0u8; 8];
    let mut v = [IoVec { local: Local::Dst(&mut back), remote_offset: usize::MAX, len: 8 }];
    err!(
        s,
        "ImportSegment::getv",
        "remote: offset usize::MAX",
        im.getv(&mut v, PostFlags::empty()),
        SgError { error: Error::BadLength, residual: 1 }
    );
    // Disconnected.
    let gone = conn(perm::RDWR).expect("connect");
    gone.disconnect().expect("disconnect");
    err!(s, "ImportSegment::put", "remote: disconnected", gone.put(0, &[1]), Error::BadSegHndl);
    err!(s, "ImportSegment::get64", "remote: disconnected", gone.get64(0, &mut d8), Error::BadSegHndl);
    err!(
        s,
        "ImportSegment::signal_post",
        "remote: disconnected",
        gone.signal_post(PostFlags::empty()),
        Error::BadSegHndl
    );
    err!(s, "ImportSegment::disconnect", "remote: disconnected (twice)", gone.disconnect(), Error::BadSegHndl);
    // Revoked: implicit accesses and barrier closes report it.
    let bar = im.init_barrier(BarrierType::Segment).expect("barrier");
    bar.open().expect("open");
    seg.unpublish().expect("unpublish");
    rsm_testkit::wait_until(Duration::from_secs(5), "the revocation to reach node 2", || im.is_revoked());
    err!(s, "ImportSegment::put32", "remote: revoked", im.put32(0, &[1]), Error::ConnAborted);
    err!(s, "ImportSegment::get32", "remote: revoked", im.get32(0, &mut [0]), Error::ConnAborted);
    err!(s, "Barrier::close", "remote: revoked", bar.close(), Error::ConnAborted);
    err!(s, "Barrier::close", "remote: revoked, again", bar.close(), Error::ConnAborted);
    err!(s, "ImportSegment::map", "remote: revoked", im.map(perm::RDWR, 0, pg), Error::ConnAborted);
    val!(s, "ImportSegment::signal_post", "remote: revoked (dropped)", im.signal_post(PostFlags::empty()), Ok(()));
    for p in 1..=2 {
        assert!(!c.log(p).contains("panicked"), "agent {p} panicked:\n{}", c.log(p));
    }
}
