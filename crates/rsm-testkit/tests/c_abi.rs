//! The C ABI end to end: builds `librsm.so` and the C programs of `tests/c` (once with
//! AddressSanitizer + UndefinedBehaviorSanitizer, once plain for valgrind), starts real
//! agents and runs every program against them (among them the counted bad-input sweep,
//! `sweep.c`, whose case count is checked against a floor); the two-party scenario as two
//! processes on one node and on two nodes; the exported symbols; `make install` and the
//! examples built with pkg-config against the installed tree.
//!
//! Needs a C compiler (`cc`), `make`, `nm` and `pkg-config`; valgrind is used when installed.

use rsm_testkit::{TestAgent, TestCluster};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The 42 functions of RSMAPI section 0, the exact export list of `librsm.so`.
const RSMAPI_FUNCTIONS: [&str; 42] = [
    "rsm_create_localmemory_handle",
    "rsm_free_interconnect_topology",
    "rsm_free_localmemory_handle",
    "rsm_get_controller",
    "rsm_get_controller_attr",
    "rsm_get_interconnect_topology",
    "rsm_get_segmentid_range",
    "rsm_intr_signal_post",
    "rsm_intr_signal_wait",
    "rsm_intr_signal_wait_pollfd",
    "rsm_memseg_export_create",
    "rsm_memseg_export_destroy",
    "rsm_memseg_export_publish",
    "rsm_memseg_export_rebind",
    "rsm_memseg_export_republish",
    "rsm_memseg_export_unpublish",
    "rsm_memseg_get_pollfd",
    "rsm_memseg_import_close_barrier",
    "rsm_memseg_import_connect",
    "rsm_memseg_import_destroy_barrier",
    "rsm_memseg_import_disconnect",
    "rsm_memseg_import_get",
    "rsm_memseg_import_get16",
    "rsm_memseg_import_get32",
    "rsm_memseg_import_get64",
    "rsm_memseg_import_get8",
    "rsm_memseg_import_get_mode",
    "rsm_memseg_import_getv",
    "rsm_memseg_import_init_barrier",
    "rsm_memseg_import_map",
    "rsm_memseg_import_open_barrier",
    "rsm_memseg_import_order_barrier",
    "rsm_memseg_import_put",
    "rsm_memseg_import_put16",
    "rsm_memseg_import_put32",
    "rsm_memseg_import_put64",
    "rsm_memseg_import_put8",
    "rsm_memseg_import_putv",
    "rsm_memseg_import_set_mode",
    "rsm_memseg_import_unmap",
    "rsm_memseg_release_pollfd",
    "rsm_release_controller",
];

/// The C test programs that run against one agent, in `tests/c`.
const AGENT_PROGRAMS: [&str; 7] = ["controller", "export", "import", "barrier", "signal", "sg", "hostile"];

/// Fewest cases the counted bad-input sweep (`tests/c/sweep.c`) may report: a floor, so that
/// the sweep cannot shrink unnoticed (it counted 3421 when this was written).
const SWEEP_FLOOR: usize = 3400;

/// Longest a single C program may run (valgrind is slow).
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

/// The directory holding `librsm.so` (and `rsmd`, `rsmctl`), built on first use in the
/// profile of this test.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = rsm_testkit::bin_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root()).args(["build", "--quiet", "-p", "rsm-ffi"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        run_ok(&mut cmd, "cargo build -p rsm-ffi");
        assert!(dir.join("librsm.so").exists(), "no librsm.so in {}", dir.display());
        dir
    })
}

/// Builds the C programs (sanitized or plain) once; returns their directory.
fn c_programs(sanitize: bool) -> &'static Path {
    static ASAN: OnceLock<PathBuf> = OnceLock::new();
    static PLAIN: OnceLock<PathBuf> = OnceLock::new();
    let cell = if sanitize { &ASAN } else { &PLAIN };
    cell.get_or_init(|| {
        let build = lib_dir().join("c-tests").join(if sanitize { "asan" } else { "plain" });
        let text = run_ok(
            Command::new("make")
                .arg("-C")
                .arg(root().join("tests/c"))
                .arg(format!("BUILD={}", build.display()))
                .arg(format!("LIBDIR={}", lib_dir().display()))
                .arg(format!("SANITIZE={}", u8::from(sanitize)))
                .arg("all"),
            "make -C tests/c",
        );
        println!("{text}");
        build
    })
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A C program's command with the environment every run gets.
fn program(path: &Path, socket: Option<&Path>) -> Command {
    let mut cmd = Command::new(path);
    if let Some(s) = socket {
        cmd.env("RSM_SOCKET", s);
    }
    cmd.env("RSM_QUIET", "1")
        .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    cmd
}

/// Runs a C test program to completion (with a watchdog); panics with its output unless it
/// exits 0. Returns the output.
fn check_program(mut cmd: Command, what: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = wait_child(&mut child, PROGRAM_TIMEOUT, what);
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(status.success(), "{what} failed ({status}):\n{text}");
    let summary = text.lines().rev().find(|l| l.contains(" checks, ")).unwrap_or("(no summary)");
    println!("{what}: {summary}");
    text
}

fn wait_child(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn librsm_exports_exactly_the_42_functions() {
    let lib = lib_dir().join("librsm.so");
    let text = run_ok(Command::new("nm").arg("-D").arg("--defined-only").arg(&lib), "nm -D");
    let mut exported: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    exported.sort_unstable();
    let mut want = RSMAPI_FUNCTIONS.to_vec();
    want.sort_unstable();
    assert_eq!(exported, want, "dynamic symbols of {}", lib.display());
    for l in text.lines() {
        assert!(l.split_whitespace().nth(1) == Some("T"), "not a function: {l}");
    }

    // The version script names the same 42.
    let map = std::fs::read_to_string(root().join("crates/rsm-ffi/librsm.map")).expect("librsm.map");
    let mut in_map: Vec<&str> =
        map.lines().map(str::trim).filter(|l| l.starts_with("rsm_")).map(|l| l.trim_end_matches(';')).collect();
    in_map.sort_unstable();
    assert_eq!(in_map, want, "librsm.map");

    // The header declares the same 42.
    let header = std::fs::read_to_string(root().join("crates/rsm-ffi/include/rsmapi.h")).expect("rsmapi.h");
    let mut declared: Vec<&str> = header
        .lines()
        .filter_map(|l| l.strip_prefix("int ").or_else(|| l.strip_prefix("void ")))
        .filter_map(|l| l.split('(').next())
        .filter(|n| n.starts_with("rsm_"))
        .collect();
    declared.sort_unstable();
    assert_eq!(declared, want, "prototypes in rsmapi.h");

    // The static library defines them all.
    let text = run_ok(Command::new("nm").arg("--defined-only").arg(lib_dir().join("librsm.a")), "nm librsm.a");
    for f in RSMAPI_FUNCTIONS {
        assert!(text.lines().any(|l| l.ends_with(&format!(" T {f}"))), "librsm.a does not define {f}");
    }

    // The soname is the Solaris one.
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(&lib), "readelf -d");
    assert!(dynamic.contains("Library soname: [librsm.so.2]"), "{dynamic}");
}

#[test]
fn c_headers_layout_and_prototypes() {
    let build = c_programs(true);
    // prototypes.o was compiled by the build (compile-only check); layout runs.
    assert!(build.join("prototypes.o").exists());
    check_program(program(&build.join("layout"), None), "layout");
}

#[test]
fn c_programs_under_asan_and_ubsan() {
    let build = c_programs(true);
    let agent = TestAgent::start(1);
    for p in AGENT_PROGRAMS {
        check_program(program(&build.join(p), Some(agent.socket())), &format!("{p} (ASan+UBSan)"));
    }
}

#[test]
fn c_programs_under_valgrind() {
    if !have("valgrind") {
        eprintln!("SKIPPED: valgrind is not installed");
        return;
    }
    let build = c_programs(false);
    let agent = TestAgent::start(2);
    for p in AGENT_PROGRAMS {
        let mut cmd = program(Path::new("valgrind"), Some(agent.socket()));
        cmd.args([
            "-q",
            "--error-exitcode=99",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
        ])
        .arg(build.join(p));
        check_program(cmd, &format!("{p} (valgrind)"));
    }
}

/// Checks the report of `tests/c/sweep.c`: no failure, at least [`SWEEP_FLOOR`] cases, and at
/// least one case for each of the 42 functions. Returns the number of cases.
fn check_sweep(text: &str, what: &str) -> usize {
    for bad in
        ["AddressSanitizer", "LeakSanitizer", "runtime error:", "== ERROR SUMMARY", "Invalid read", "Invalid write"]
    {
        assert!(!text.contains(bad), "{what}: the output reports \"{bad}\":\n{text}");
    }
    let line =
        text.lines().rev().find(|l| l.starts_with("sweep: ")).unwrap_or_else(|| panic!("{what}: no summary:\n{text}"));
    let mut words = line.split_whitespace();
    let (cases, failures) = match (words.nth(1), words.next(), words.next()) {
        (Some(n), Some("cases,"), Some(f)) => {
            (n.parse::<usize>().expect("case count"), f.parse::<usize>().expect("failures"))
        }
        _ => panic!("{what}: malformed summary {line:?}"),
    };
    assert_eq!(failures, 0, "{what}: {line}\n{text}");
    assert!(cases >= SWEEP_FLOOR, "{what}: only {cases} cases (the floor is {SWEEP_FLOOR})");
    for f in RSMAPI_FUNCTIONS {
        let n = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(f).filter(|r| r.starts_with(' ')))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        assert!(n > 0, "{what}: no case for {f}");
    }
    println!("{what}: {line}");
    cases
}

/// The counted bad-input sweep over all 42 functions (issue 6), under ASan + UBSan.
#[test]
fn c_bad_input_sweep_under_asan_and_ubsan() {
    let build = c_programs(true);
    let agent = TestAgent::start(1);
    let what = "sweep (ASan+UBSan)";
    let text = check_program(program(&build.join("sweep"), Some(agent.socket())), what);
    check_sweep(&text, what);
}

/// The same sweep under valgrind (memcheck, definite leaks are errors).
#[test]
fn c_bad_input_sweep_under_valgrind() {
    if !have("valgrind") {
        eprintln!("SKIPPED: valgrind is not installed");
        return;
    }
    let build = c_programs(false);
    let agent = TestAgent::start(2);
    let what = "sweep (valgrind)";
    let mut cmd = program(Path::new("valgrind"), Some(agent.socket()));
    // The sweep leaves out the cases that hand poll(2) unreadable memory on purpose.
    cmd.env("RSM_TEST_UNDER_VALGRIND", "1");
    cmd.args([
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        "--show-leak-kinds=definite",
        "--errors-for-leak-kinds=definite",
    ])
    .arg(build.join("sweep"));
    let text = check_program(cmd, what);
    check_sweep(&text, what);
}

/// Starts `two_party export` and returns it with the node and segment id it printed.
fn start_exporter(
    build: &Path,
    socket: &Path,
    ctl: &str,
    importer_node: Option<u32>,
) -> (Child, u32, u32, std::thread::JoinHandle<String>) {
    let mut cmd = program(&build.join("two_party"), Some(socket));
    cmd.arg("export").arg(ctl);
    if let Some(n) = importer_node {
        cmd.arg(n.to_string());
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn exporter");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = String::new();
    let (node, id) = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("exporter ended before READY:\n{seen}");
        };
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("READY ") {
            let mut it = rest.split_whitespace().map(|v| v.parse::<u32>().expect("number"));
            break (it.next().expect("node"), it.next().expect("segment id"));
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut all = seen;
        for l in lines.map_while(Result::ok) {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    (child, node, id, rest)
}

/// The two-party scenario: exporter on `ex_socket`, importer on `im_socket`.
fn two_party(ex_socket: &Path, im_socket: &Path, ctl: &str, importer_node: Option<u32>) {
    let build = c_programs(true);
    let (mut exporter, node, id, output) = start_exporter(build, ex_socket, ctl, importer_node);
    let mut imp = program(&build.join("two_party"), Some(im_socket));
    imp.arg("import").arg(ctl).arg(node.to_string()).arg(id.to_string());
    let imported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_program(imp, &format!("two_party import ({ctl})"))
    }));
    let status = wait_child(&mut exporter, PROGRAM_TIMEOUT, "two_party export");
    let text = output.join().unwrap_or_default();
    if let Err(e) = imported {
        eprintln!("exporter output:\n{text}");
        std::panic::resume_unwind(e);
    }
    assert!(status.success(), "two_party export ({ctl}) failed ({status}):\n{text}");
    println!("two_party export ({ctl}): {}", text.lines().last().unwrap_or(""));
}

#[test]
fn two_processes_on_one_node() {
    let agent = TestAgent::start(3);
    two_party(agent.socket(), agent.socket(), "loopback", None);
}

#[test]
fn two_processes_on_two_nodes() {
    let cluster = TestCluster::start(2);
    two_party(cluster.socket(1), cluster.socket(2), "tcp0", Some(2));
}

#[test]
fn install_and_build_the_examples_with_pkg_config() {
    if !have("pkg-config") {
        eprintln!("SKIPPED: pkg-config is not installed");
        return;
    }
    let lib = lib_dir();
    let profile = if lib.file_name().is_some_and(|n| n == "release") { "release" } else { "dev" };
    let prefix = tempfile::Builder::new().prefix("rsm-install-").tempdir().expect("tempdir");
    // CARGO_TARGET_DIR: the lib dir's parent, whatever it is.
    let target = lib.parent().expect("target dir");
    run_ok(
        Command::new("make")
            .arg("-C")
            .arg(root())
            .arg("install")
            .arg(format!("PREFIX={}", prefix.path().display()))
            .arg(format!("PROFILE={profile}"))
            .arg(format!("TARGET_DIR={}", target.display())),
        "make install",
    );
    for f in [
        "lib/librsm.so",
        "lib/librsm.so.2",
        "lib/librsm.a",
        "lib/pkgconfig/rsm.pc",
        "include/rsmapi.h",
        "include/sys/rsm/rsm_common.h",
        "include/sys/rsm/rsmapi_common.h",
        "bin/rsmd",
        "bin/rsmctl",
    ] {
        assert!(prefix.path().join(f).exists(), "make install did not install {f}");
    }

    // The examples, built in a scratch directory with pkg-config against the installed tree.
    let build = tempfile::tempdir().expect("tempdir");
    let pc = prefix.path().join("lib/pkgconfig");
    run_ok(
        Command::new("make")
            .current_dir(build.path())
            .arg("-f")
            .arg(root().join("examples/c/Makefile"))
            .env("PKG_CONFIG_PATH", &pc),
        "make -f examples/c/Makefile",
    );
    let flags = run_ok(
        Command::new("pkg-config").args(["--cflags", "--libs", "rsm"]).env("PKG_CONFIG_PATH", &pc),
        "pkg-config",
    );
    assert!(flags.contains(&format!("-I{}/include", prefix.path().display())), "{flags}");

    // Run the pair (the installed rsmd as the agent would do too; the test agent is the same
    // binary).
    let agent = TestAgent::start(4);
    let mut exporter = Command::new(build.path().join("exporter"))
        .env("RSM_SOCKET", agent.socket())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn example exporter");
    let mut lines = BufReader::new(exporter.stdout.take().expect("stdout")).lines();
    let args: Vec<String> = loop {
        let line = lines.next().expect("exporter output").expect("line");
        if let Some(rest) = line.strip_prefix("run: importer ") {
            break rest.split_whitespace().map(str::to_string).collect();
        }
    };
    let out = run_ok(
        Command::new(build.path().join("importer")).args(&args).env("RSM_SOCKET", agent.socket()),
        "example importer",
    );
    assert!(out.contains("sent 3 \"bye\": ack 3"), "{out}");
    let status = wait_child(&mut exporter, Duration::from_secs(30), "example exporter");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "example exporter failed ({status}): {rest:?}");
    assert!(rest.iter().any(|l| l == "message 3: bye") && rest.last().is_some_and(|l| l == "done"), "{rest:?}");
}
