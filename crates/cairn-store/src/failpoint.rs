//! Named points where a crash test stops a process on purpose, so that its
//! SIGKILL lands at an exact moment (between a merge's compression and its
//! write, between a reindex's reset and its rebuild, ...) instead of a random
//! one.
//!
//! A point does nothing unless the environment variable `CAIRN_FAILPOINT`
//! names it. When it does, the thread that reaches the point prints
//! `cairn: failpoint NAME reached` on standard error and stops there for good
//! (other threads go on, as they would in the moment before a real crash);
//! the test then kills the process. The variable is read once per process.

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that names the point to stop at.
pub const VAR: &str = "CAIRN_FAILPOINT";

/// The line printed on standard error when `name` is reached.
pub fn reached_line(name: &str) -> String {
    format!("cairn: failpoint {name} reached")
}

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(VAR).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Stop the calling thread here for good when `CAIRN_FAILPOINT` is `name`.
pub fn hit(name: &str) {
    if armed() != Some(name) {
        return;
    }
    eprintln!("{}", reached_line(name));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
