//! Whether the daemon accepts appends, and if not, why: the answer of `/readyz`
//! and the first check of every append.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The daemon's readiness.
#[derive(Debug, Default)]
pub struct Health {
    /// Set once and never cleared: a failed write poisons the ledger until restart.
    poisoned: AtomicBool,
    reason: Mutex<Option<String>>,
    draining: AtomicBool,
    /// Why the last append was refused for want of disk space, until one
    /// succeeds again.
    disk_full: Mutex<Option<String>>,
}

/// Why appends are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// A write or fsync failed, or the stored tree no longer extends the last
    /// signed checkpoint; the ledger refuses appends until reopened.
    Poisoned(String),
    /// The daemon is shutting down.
    Draining,
    /// The last append was refused because the disk is nearly full; appends
    /// are still tried, and resume once space is freed.
    DiskFull(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Poisoned(reason) => write!(
                f,
                "the ledger refuses appends ({reason}); reads are still served; restart the daemon once the cause is fixed"
            ),
            NotReady::Draining => f.write_str("the daemon is shutting down"),
            NotReady::DiskFull(reason) => f.write_str(reason),
        }
    }
}

impl Health {
    /// Record a failed write (or a refused checkpoint); appends are refused
    /// from now on.
    pub fn poison(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    /// Record that an append was refused for want of disk space (`Some`), or
    /// that one was written again (`None`).
    pub fn disk_full(&self, reason: Option<String>) {
        *self.disk_full.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// Record that shutdown has begun.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether appends are refused (after a failed write or a refused checkpoint).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// `Ok` when the daemon is ready for appends.
    pub fn ready(&self) -> Result<(), NotReady> {
        if self.is_poisoned() {
            let r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            return Err(NotReady::Poisoned(r.clone().unwrap_or_default()));
        }
        if self.draining.load(Ordering::Acquire) {
            return Err(NotReady::Draining);
        }
        if let Some(reason) = &*self.disk_full.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(NotReady::DiskFull(reason.clone()));
        }
        Ok(())
    }
}
