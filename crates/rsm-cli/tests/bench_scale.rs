//! `rsmctl bench scale` with small counts: it runs, prints every JSON record with its fields,
//! and counts no error. No timing is checked. The agents it starts are stopped even if the
//! test fails or the command hangs (its directory is the test's, and its pid files are read).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stops `rsmctl` (which stops its agents on TERM) and any agent left in the directory.
struct Cleanup {
    dir: PathBuf,
    pid: Option<u32>,
}

fn kill(sig: &str, pid: &str) {
    let _ = Command::new("kill").arg(sig).arg(pid).stderr(Stdio::null()).status();
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = self.pid.take() {
            kill("-TERM", &p.to_string());
            std::thread::sleep(Duration::from_millis(500));
            kill("-KILL", &p.to_string());
        }
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pid") {
                if let Ok(pid) = std::fs::read_to_string(&p) {
                    kill("-KILL", pid.trim());
                }
            }
        }
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for k in path {
        cur = cur.get(k).unwrap_or_else(|| panic!("{} has no {path:?}: {v}", v["metric"]));
    }
    cur
}

#[test]
fn scale_smoke() {
    let tmp = tempfile::Builder::new().prefix("rsm-scale-test-").tempdir().expect("tempdir");
    let dir: &Path = tmp.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rsmctl"))
        .args(["bench", "scale", "--json", "--segments", "200", "--importers", "40", "--samples", "20"])
        .args(["--work-secs", "0.5", "--pace-ms", "20", "--dir"])
        .arg(dir)
        .env_remove("RSM_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rsmctl");
    let mut guard = Cleanup { dir: dir.to_path_buf(), pid: Some(child.id()) };
    // Read the output on threads so that a full pipe never blocks the command.
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "rsmctl bench scale did not finish within 120 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    guard.pid = None;
    let out = out_t.join().expect("stdout reader");
    let err = err_t.join().expect("stderr reader");
    assert!(status.success(), "rsmctl bench scale failed ({status}):\n{err}\n{out}");

    let recs: Vec<Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let of = |m: &'static str| recs.iter().filter(move |r| r["metric"] == m);
    assert_eq!(of("scale_config").count(), 1);
    let idle = of("scale_idle").next().expect("scale_idle");
    for n in ["node1", "node2"] {
        assert!(field(idle, &[n, "rss_kib"]).as_u64().unwrap() > 0);
        assert!(field(idle, &[n, "fds"]).as_u64().unwrap() > 0);
    }
    let segs: Vec<&Value> = of("scale_segments").collect();
    assert_eq!(segs.iter().map(|r| r["segments"].as_u64().unwrap()).collect::<Vec<_>>(), [100, 200]);
    for r in &segs {
        for f in ["publish_p50_ns", "publish_p99_ns", "connect_loopback_p50_ns", "connect_tcp_p99_ns"] {
            assert!(field(r, &[f]).as_u64().unwrap() > 0, "{f} in {r}");
        }
        assert_eq!(r["samples"], 40);
        assert!(field(r, &["node1", "rss_kib"]).as_u64().unwrap() > 0);
    }
    assert_eq!(of("scale_segments_destroyed").count(), 1);
    let imps: Vec<&Value> = of("scale_importers").collect();
    assert_eq!(imps.last().expect("importer rows")["importers"], 40);
    assert_eq!(imps.last().unwrap()["connected"], 40);
    let work = of("scale_importers_work").next().expect("scale_importers_work");
    assert_eq!(work["bad_slices"], 0);
    assert_eq!(work["slices_checked"], 40);
    assert!(work["rounds_loopback"].as_u64().unwrap() > 0 && work["rounds_tcp"].as_u64().unwrap() > 0);
    let left = of("scale_importers_left").next().expect("scale_importers_left");
    assert!(field(left, &["node1", "fds"]).as_u64().unwrap() > 0);
    let summary = of("scale_summary").next().expect("scale_summary");
    assert_eq!(summary["errors"], 0, "{err}");
    for r in &recs {
        if let Some(e) = r.get("errors") {
            assert_eq!(e, 0, "{r}");
        }
    }
}
