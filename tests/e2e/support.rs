//! Running the binaries and holding a ledger in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    fn from(out: Output) -> Run {
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
