//! Cleaning up after Ctrl-C or SIGTERM. Guards clean up on success and on
//! error, but a signal ends the process without unwinding; so everything a run
//! starts or creates is also registered here, and a watcher thread undoes it
//! (kills the daemon, stops PostgreSQL, removes the directory) before exiting.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once};

/// What a signal must undo.
#[derive(Debug, Default)]
struct Pending {
    work_dir: Option<PathBuf>,
    cairnd_pid: Option<u32>,
    /// The script and the server's directory.
    postgres: Option<(PathBuf, PathBuf)>,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    work_dir: None,
    cairnd_pid: None,
    postgres: None,
});
static WATCH: Once = Once::new();

fn pending() -> MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Start the watcher (once per process).
pub fn watch() {
    WATCH.call_once(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(runtime) = runtime else {
            return;
        };
        std::thread::spawn(move || {
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            eprintln!(
                "bench-peers: interrupted; stopping the servers and removing the run's directory"
            );
            undo();
            std::process::exit(130);
        });
    });
}

fn undo() {
    let p = std::mem::take(&mut *pending());
    if let Some(pid) = p.cairnd_pid {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
    if let Some((script, dir)) = p.postgres {
        let _ = Command::new(script).arg("stop").arg(dir).status();
    }
    if let Some(dir) = p.work_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The run's directory exists (`Some`) or is gone (`None`).
pub fn work_dir(dir: Option<&Path>) {
    pending().work_dir = dir.map(Path::to_owned);
}

/// The daemon runs (`Some(pid)`) or has ended (`None`).
pub fn cairnd(pid: Option<u32>) {
    pending().cairnd_pid = pid;
}

/// PostgreSQL runs (`Some((script, dir))`) or is stopped (`None`).
pub fn postgres(server: Option<(&Path, &Path)>) {
    pending().postgres = server.map(|(s, d)| (s.to_owned(), d.to_owned()));
}
