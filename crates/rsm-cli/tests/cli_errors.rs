//! rsmctl and the agent (`rsmctl agent` runs the same code as `rsmd`) on user mistakes and
//! signals: a clear error and a non-zero exit, never a panic, nothing deleted that is not
//! theirs, and no agent or socket left behind.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rsmctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rsmctl"));
    c.env_remove("RSM_SOCKET").env_remove("RUST_BACKTRACE").env("RSM_QUIET", "1").stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run rsmctl")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits up to `t` for `child`; kills it if it is still running then.
fn wait_for(child: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + t;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether some process has `needle` in its command line.
fn process_mentions(needle: &str) -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).contains(needle)).unwrap_or(false)
    })
}

#[test]
fn the_agent_refuses_a_socket_path_that_is_not_a_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("precious.txt");
    std::fs::write(&file, "data\n").unwrap();
    let o = run(rsmctl().args(["agent", "--node-id", "1", "--socket"]).arg(&file));
    assert!(!o.status.success(), "started on a regular file");
    assert!(stderr(&o).contains("not a socket"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data\n", "the file was touched");
}

#[test]
fn a_failed_agent_start_leaves_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "cluster_key = \"/nonexistent/rsm-test.key\"\n\
         [[nodes]]\nid = 1\ncontrollers = { tcp0 = \"127.0.0.1:1\" }\n\
         [[nodes]]\nid = 2\ncontrollers = { tcp0 = \"127.0.0.1:2\" }\n",
    )
    .unwrap();
    let sock = tmp.path().join("s.sock");
    let o = run(rsmctl().arg("agent").arg("--config").arg(&cfg).args(["--node-id", "1", "--socket"]).arg(&sock));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cluster key"), "{}", stderr(&o));
    assert!(!sock.exists(), "the socket of a failed start was left behind");
}

#[test]
fn sighup_stops_the_agent_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let (sock, pid) = (tmp.path().join("a.sock"), tmp.path().join("a.pid"));
    let mut child = rsmctl()
        .args(["agent", "--node-id", "3", "--socket"])
        .arg(&sock)
        .arg("--pid-file")
        .arg(&pid)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !pid.exists() {
        assert!(Instant::now() < end, "the agent did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = Command::new("kill").arg("-HUP").arg(child.id().to_string()).status();
    let st = wait_for(&mut child, Duration::from_secs(10)).expect("the agent did not stop on SIGHUP");
    assert!(st.success(), "{st}");
    assert!(!sock.exists() && !pid.exists(), "socket or pid file left behind");
}

#[test]
fn cluster_stop_leaves_a_stranger_named_by_a_stale_pid_file_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut stranger = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(tmp.path().join("node1.pid"), format!("{}\n", stranger.id())).unwrap();
    let o = run(rsmctl().args(["cluster", "stop", "--dir"]).arg(tmp.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "stopped 0 agents");
    assert!(stranger.try_wait().unwrap().is_none(), "cluster stop killed a process that is not an agent");
    assert!(!tmp.path().join("node1.pid").exists(), "the stale pid file stays");
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn option_mistakes_are_errors_not_panics() {
    let cases: &[(&[&str], &str)] = &[
        (&["--socket", "/nonexistent.sock", "agent", "--node-id", "2"], "must come first"),
        (
            &["bench", "--time", "1e20", "--controller", "loopback", "--op", "put", "--size", "8", "--kind", "bw"],
            "at most",
        ),
        (&["bench", "--max-time", "1e20", "--controller", "loopback", "--op", "put", "--size", "8"], "at most"),
        (&["bench", "--cpus", "1000,1001", "--controller", "loopback", "--op", "put", "--size", "8"], "may only use"),
        (&["bench", "scale", "--work-secs", "1e20"], "--work-secs"),
    ];
    for (args, want) in cases {
        let o = run(rsmctl().args(*args));
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

/// `rsmctl bench ... | head -1`: the closed pipe ends the command, which stops its agents and
/// removes their directory first.
#[test]
fn bench_into_a_closed_pipe_stops_its_agents() {
    let mut child = rsmctl()
        .args(["bench", "--controller", "loopback", "--op", "put,get", "--kind", "lat", "--size", "8,64"])
        .args(["--iters", "1000", "--max-time", "0.5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(first.contains("median"), "{first}");
    } // the read end closes here, like `head -1` exiting
    let st = wait_for(&mut child, Duration::from_secs(30)).expect("bench did not end after its output closed");
    let log = err_t.join().unwrap();
    let dir: PathBuf = log
        .lines()
        .find_map(|l| l.split(" agent(s) in ").nth(1))
        .and_then(|r| r.split(" (").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no agent directory in: {log}"));
    assert_eq!(st.code(), Some(141), "{log}");
    let end = Instant::now() + Duration::from_secs(5);
    while Path::new(&dir).exists() || process_mentions(&dir.to_string_lossy()) {
        assert!(Instant::now() < end, "agents or {} left behind: {log}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}
