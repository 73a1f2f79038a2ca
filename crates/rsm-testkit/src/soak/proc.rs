//! The driver's handle on a worker process: requests on its stdin, answers read by a thread
//! into a channel so that every wait has a bound.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// One answer of a worker.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `ok [value]`: the value.
    Ok(String),
    /// `err NAME ...`: the name (`RSMERR_...` or `BAD_REQUEST`) and the rest.
    Err(String),
    /// `data LEN` and its bytes.
    Data(Vec<u8>),
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReply {
    /// The worker's output ended (it died).
    Died,
    /// Nothing within the bound: a hang.
    Hang,
}

/// A running worker.
pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Reply>,
    /// Set once the worker was reaped.
    reaped: bool,
}

fn reader(out: impl Read, tx: std::sync::mpsc::Sender<Reply>) {
    let mut r = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let l = line.trim_end();
        let reply = if let Some(len) = l.strip_prefix("data ") {
            let Ok(len) = len.parse::<usize>() else { return };
            let mut buf = vec![0u8; len];
            if r.read_exact(&mut buf).is_err() {
                return;
            }
            Reply::Data(buf)
        } else if l == "ok" {
            Reply::Ok(String::new())
        } else if let Some(v) = l.strip_prefix("ok ") {
            Reply::Ok(v.to_string())
        } else if let Some(e) = l.strip_prefix("err ") {
            Reply::Err(e.to_string())
        } else {
            Reply::Err(format!("BAD_ANSWER {l}"))
        };
        if tx.send(reply).is_err() {
            return;
        }
    }
}

impl Worker {
    /// Starts `cmd` and waits (at most `bound`) for its `ok ready` line.
    pub(crate) fn spawn(mut cmd: Command, bound: Duration) -> Result<Worker, String> {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).env("RSM_QUIET", "1");
        let mut child = cmd.spawn().map_err(|e| format!("spawn worker: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("worker pipes".into());
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || reader(stdout, tx));
        let w = Worker { child, stdin, rx, reaped: false };
        match w.rx.recv_timeout(bound) {
            Ok(Reply::Ok(s)) if s.starts_with("ready") => Ok(w),
            Ok(other) => Err(format!("worker start: {other:?}")),
            Err(RecvTimeoutError::Timeout) => Err("worker start: no answer within the bound".into()),
            Err(RecvTimeoutError::Disconnected) => Err("worker start: died".into()),
        }
    }

    /// Process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `line` and waits at most `bound` for the answer.
    pub(crate) fn call(&mut self, line: &str, bound: Duration) -> Result<Reply, NoReply> {
        if writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).is_err() {
            return Err(NoReply::Died);
        }
        match self.rx.recv_timeout(bound) {
            Ok(r) => Ok(r),
            Err(RecvTimeoutError::Timeout) => Err(NoReply::Hang),
            Err(RecvTimeoutError::Disconnected) => Err(NoReply::Died),
        }
    }

    /// Asks the worker to exit (it cleans up) and waits at most `bound`; SIGKILL after that.
    /// Returns whether it exited by itself.
    pub(crate) fn exit(mut self, bound: Duration) -> bool {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.stdin.flush();
        let deadline = std::time::Instant::now() + bound;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.reaped = true;
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
