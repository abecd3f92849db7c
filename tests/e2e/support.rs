//! Running the binaries and holding a ledger in a temp dir.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Path of a workspace binary next to this test's target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/e2e-<hash> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --release --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// What a command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run a binary with arguments.
pub fn run(name: &str, args: &[&str]) -> Run {
    Run::from(Command::new(bin(name)).args(args).output().unwrap())
}

/// A ledger in a temp dir.
pub struct TestLedger {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub verifier: String,
}

impl TestLedger {
    /// `cairn init`.
    pub fn new(origin: &str) -> TestLedger {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("ledger");
        let out = run(
            "cairn",
            &["init", "--data", data.to_str().unwrap(), "--origin", origin],
        )
        .ok();
        let verifier = out.stdout.lines().last().unwrap().trim().to_owned();
        assert!(
            verifier.starts_with(origin),
            "init prints the verifier key: {}",
            out.stdout
        );
        TestLedger {
            tmp,
            data,
            verifier,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `cairn <cmd> --data DIR args...`.
    pub fn cairn(&self, cmd: &[&str], args: &[&str]) -> Run {
        let mut all: Vec<&str> = cmd.to_vec();
        all.extend(["--data", self.data.to_str().unwrap()]);
        all.extend(args);
        run("cairn", &all)
    }

    /// Synthetic decisions appended; returns the receipts.
    pub fn append_synth(&self, seed: u64, count: u64) -> Vec<serde_json::Value> {
        let file = self.path(&format!("synth-{seed}-{count}.ndjson"));
        run(
            "cairn-synth",
            &[
                "--seed",
                &seed.to_string(),
                "--count",
                &count.to_string(),
                "--out",
                file.to_str().unwrap(),
            ],
        )
        .ok();
        let out = self.cairn(&["append"], &[file.to_str().unwrap()]).ok();
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A copy of the ledger directory, to damage.
    pub fn copy(&self, name: &str) -> PathBuf {
        let to = self.path(name);
        copy_dir(&self.data, &to);
        to
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `cairn verify --json` on a directory.
pub fn verify_json(data: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["verify", "--json", "--data", data.to_str().unwrap()];
    args.extend(extra);
    run("cairn", &args)
}

/// A `cairnd` child process on port 0 of loopback.
pub struct Cairnd {
    child: Option<Child>,
    /// The address it listens on.
    pub addr: String,
    /// Its log lines (JSON) so far.
    log: Arc<Mutex<Vec<Value>>>,
}

impl Cairnd {
    /// Start `cairnd --init --data DIR --listen 127.0.0.1:0 EXTRA...` and wait
    /// until it logs the address it listens on.
    pub fn start(data: &Path, extra: &[&str]) -> Cairnd {
        Cairnd::start_with_env(data, extra, &[])
    }

    /// [`Cairnd::start`] with more environment variables.
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Cairnd {
        let mut child = Command::new(bin("cairnd"))
            .args(["--init", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .envs(env.iter().copied())
            .env("CAIRND_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel::<String>();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&log);
        // Keep reading after the address is found, so the pipe never fills.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                // A line that is not JSON (a failpoint's) is kept as a string.
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if v["fields"]["message"] == "cairnd listening" {
                    let _ = tx.send(v["fields"]["addr"].as_str().unwrap_or("").to_owned());
                }
                kept.lock().unwrap().push(v);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("cairnd logs the address it listens on");
        Cairnd {
            child: Some(child),
            addr,
            log,
        }
    }

    /// The log lines so far whose message contains `text`.
    pub fn logged(&self, text: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
            .cloned()
            .collect()
    }

    /// Wait until the daemon stopped at failpoint `name` (see
    /// `cairn_store::failpoint`), for at most `within`.
    #[track_caller]
    pub fn wait_for_failpoint(&self, name: &str, within: Duration) {
        let line = cairn_store::failpoint::reached_line(name);
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if self.log.lock().unwrap().iter().any(|v| v == &line) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("cairnd did not reach failpoint {name} within {within:?}");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, and reap it.
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and wait for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        c.wait().unwrap()
    }
}

impl Drop for Cairnd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `cmd` with failpoint `name` armed, SIGKILL it once it stops there, and
/// return its standard error. Panics if it exits without reaching the point.
#[track_caller]
pub fn kill_at_failpoint(cmd: &mut Command, name: &str) -> String {
    let mut child = cmd
        .env(cairn_store::failpoint::VAR, name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let line = cairn_store::failpoint::reached_line(name);
    let (tx, rx) = mpsc::channel::<bool>();
    let seen = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            let hit = l == line;
            kept.lock().unwrap().push_str(&(l + "\n"));
            if hit {
                let _ = tx.send(true);
            }
        }
        let _ = tx.send(false);
    });
    let reached = rx.recv_timeout(Duration::from_secs(120)).unwrap_or(false);
    let _ = child.kill();
    child.wait().unwrap();
    let stderr = seen.lock().unwrap().clone();
    assert!(
        reached,
        "failpoint {name} was never reached; stderr:\n{stderr}"
    );
    stderr
}

/// Opens `page` in headless Chromium (installed by `scripts/browser.sh`) and
/// returns the DOM after its scripts ran, on stdout.
pub fn rendered_dom(page: &Path) -> Run {
    rendered_url(&format!("file://{}", page.display()))
}

/// Opens `url` in headless Chromium and returns the DOM after its scripts ran.
pub fn rendered_url(url: &str) -> Run {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "Chromium is not installed: run scripts/browser.sh (it installs the Debian package chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap();
    Run::from(out)
}

/// One request on its own connection; the status code and the body.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: cairnd\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    (status, body.to_owned())
}
