//! A subprocess candidate: one long-lived process, run by `sh -c COMMAND`, reading
//! one request object per line on its standard input and writing one answer per
//! line on its standard output, in the order of the requests.
//!
//! Requests are pipelined: up to the run's concurrency are written before their
//! answers are read, and answers are matched to requests by order. A request that
//! times out keeps its place, so its late answer is read and dropped rather than
//! given to the next request. If the process exits, waiting requests fail and the
//! next call starts it again, at most [`RESTARTS_MAX`] times.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

use super::{parse_answer, request_bytes, CallFailure, FailureKind, RESPONSE_BYTES_MAX};
use crate::error::ReplayError;
use crate::record::Record;

/// How often a candidate process that exited is started again.
pub const RESTARTS_MAX: u32 = 3;
/// Requests queued for the writer at most.
const QUEUE_MAX: usize = 1024;
/// How long a process may take to exit after its input is closed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

type Answer = Result<Vec<u8>, CallFailure>;
type Job = (Vec<u8>, oneshot::Sender<Answer>);
type Pending = Arc<Mutex<VecDeque<oneshot::Sender<Answer>>>>;

/// A candidate subprocess.
#[derive(Debug)]
pub struct ProcessCandidate {
    command: String,
    running: tokio::sync::Mutex<Option<Arc<Running>>>,
    restarts: AtomicU32,
}

#[derive(Debug)]
struct Running {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    alive: Arc<AtomicBool>,
    child: tokio::sync::Mutex<Child>,
}

fn exited(why: &str) -> CallFailure {
    CallFailure::new(FailureKind::ProcessExited, why, true)
}

impl ProcessCandidate {
    /// Start `command`.
    pub async fn start(command: &str) -> Result<ProcessCandidate, ReplayError> {
        let running = spawn(command)?;
        Ok(ProcessCandidate {
            command: command.to_owned(),
            running: tokio::sync::Mutex::new(Some(Arc::new(running))),
            restarts: AtomicU32::new(0),
        })
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    async fn current(&self) -> Result<Arc<Running>, CallFailure> {
        let mut slot = self.running.lock().await;
        if let Some(r) = slot.as_ref() {
            if r.alive.load(Ordering::Acquire) {
                return Ok(r.clone());
            }
        }
        if self.restarts.fetch_add(1, Ordering::AcqRel) >= RESTARTS_MAX {
            return Err(CallFailure::new(
                FailureKind::ProcessExited,
                format!("candidate process exited; not restarted after {RESTARTS_MAX} restarts"),
                false,
            ));
        }
        if let Some(old) = slot.take() {
            let _ = old.child.lock().await.start_kill();
        }
        let fresh = Arc::new(
            spawn(&self.command)
                .map_err(|e| CallFailure::new(FailureKind::ProcessExited, e.to_string(), false))?,
        );
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Send one record and read the answer.
    pub async fn call(&self, record: &Record) -> Result<Value, CallFailure> {
        let running = self.current().await?;
        let sender = running
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| exited("candidate process is shutting down"))?;
        let mut line = request_bytes(record);
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        sender
            .send((line, tx))
            .await
            .map_err(|_| exited("candidate process exited"))?;
        let bytes = rx.await.map_err(|_| exited("candidate process exited"))??;
        parse_answer(&bytes)
    }

    /// Close the process's input, give it [`EXIT_GRACE`] to exit, then kill it.
    pub async fn shutdown(&self) {
        let Some(running) = self.running.lock().await.take() else {
            return;
        };
        running
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut child = running.child.lock().await;
        if tokio::time::timeout(EXIT_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

fn spawn(command: &str) -> Result<Running, ReplayError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C at the terminal stops the replay, which
        // then shuts the candidate down, instead of killing requests in flight.
        .process_group(0)
        .spawn()
        .map_err(|source| ReplayError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    let missing = |what: &str| ReplayError::Spawn {
        command: command.to_owned(),
        source: std::io::Error::other(format!("no {what} pipe")),
    };
    let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
    let pending: Pending = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    let (jobs, rx) = mpsc::channel(QUEUE_MAX);
    tokio::spawn(write_requests(stdin, rx, pending.clone(), alive.clone()));
    tokio::spawn(read_answers(stdout, pending, alive.clone()));
    Ok(Running {
        jobs: Mutex::new(Some(jobs)),
        alive,
        child: tokio::sync::Mutex::new(child),
    })
}

fn fail_all(pending: &Pending, alive: &AtomicBool, why: &str) {
    alive.store(false, Ordering::Release);
    let waiting: Vec<_> = pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    for w in waiting {
        let _ = w.send(Err(exited(why)));
    }
}

async fn write_requests(
    mut stdin: ChildStdin,
    mut jobs: mpsc::Receiver<Job>,
    pending: Pending,
    alive: Arc<AtomicBool>,
) {
    while let Some((line, reply)) = jobs.recv().await {
        // Queue the reply slot before writing, so that the answer always finds it.
        pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(reply);
        if let Err(e) = stdin.write_all(&line).await {
            fail_all(
                &pending,
                &alive,
                &format!("writing to the candidate process: {e}"),
            );
            return;
        }
        // Flush only when nothing else is queued: a burst goes out in one write.
        if jobs.is_empty() && stdin.flush().await.is_err() {
            fail_all(&pending, &alive, "the candidate process closed its input");
            return;
        }
    }
}

async fn read_answers(stdout: ChildStdout, pending: Pending, alive: Arc<AtomicBool>) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line_limited(&mut reader, &mut line, RESPONSE_BYTES_MAX).await {
            Ok(true) => {}
            Ok(false) => {
                fail_all(
                    &pending,
                    &alive,
                    "candidate process exited (its output closed)",
                );
                return;
            }
            Err(e) => {
                fail_all(
                    &pending,
                    &alive,
                    &format!("reading the candidate's answers: {e}"),
                );
                return;
            }
        }
        let waiter = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        match waiter {
            // A waiter that gave up (timeout) is dropped with its late answer.
            Some(w) => {
                let _ = w.send(Ok(std::mem::take(&mut line)));
            }
            None => {
                fail_all(
                    &pending,
                    &alive,
                    "candidate wrote an answer nobody asked for",
                );
                return;
            }
        }
    }
}

/// Read one line (without its `\n`) of at most `max` bytes. `Ok(false)` at the end
/// of input.
async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(!line.is_empty());
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(std::io::Error::other(format!(
                "answer line longer than {max} bytes"
            )));
        }
        line.extend_from_slice(&buf[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidate::tests::record;

    #[tokio::test]
    async fn answers_are_matched_to_requests_in_order() {
        // `cat` echoes each request back: the answer is the request object.
        let c = Arc::new(ProcessCandidate::start("cat").await.expect("starts"));
        let mut set = tokio::task::JoinSet::new();
        for s in 0..50u64 {
            let c = c.clone();
            set.spawn(async move { (s, c.call(&record(s)).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (s, answer) = joined.expect("task ran");
            assert_eq!(answer.expect("answered")["seq"], s, "answer of {s}");
        }
        c.shutdown().await;
    }

    #[tokio::test]
    async fn a_process_that_exits_fails_its_requests_and_is_restarted_a_few_times() {
        let c = ProcessCandidate::start("exit 3").await.expect("starts");
        for _ in 0..=RESTARTS_MAX + 1 {
            let e = c.call(&record(1)).await.expect_err("exited");
            assert_eq!(e.kind, FailureKind::ProcessExited);
        }
        let last = c.call(&record(1)).await.expect_err("exited");
        assert!(last.message.contains("not restarted"), "{}", last.message);
        assert!(!last.retryable);
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let mut r = BufReader::new(&b"abcdef\nxy"[..]);
        let mut line = Vec::new();
        assert!(read_line_limited(&mut r, &mut line, 3).await.is_err());
        let mut r = BufReader::new(&b"ab\nxy"[..]);
        assert!(read_line_limited(&mut r, &mut line, 3)
            .await
            .expect("reads"));
        assert_eq!(line, b"ab");
        line.clear();
        assert!(read_line_limited(&mut r, &mut line, 3)
            .await
            .expect("reads"));
        assert_eq!(line, b"xy");
        line.clear();
        assert!(!read_line_limited(&mut r, &mut line, 3)
            .await
            .expect("reads"));
    }
}
