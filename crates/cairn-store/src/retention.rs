//! How much of an archived ledger stays local (`cairnd --local-retention`): a
//! size (`10GiB`) or an age (`30d`), and which windows that lets a daemon
//! drop. The decision is pure arithmetic over what the caller measured, so it
//! is tested here; [`Ledger::drop_windows`] then enforces the hard rules
//! (archived, sealed, not the tail, no erasure the archive lacks).

use std::fmt;
use std::str::FromStr;

use crate::backend::{Backend, Cf};
use crate::error::Result;
use crate::ledger::Ledger;
use crate::pieces::BUNDLE_ENTRIES;

/// How much local data to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep at most this many bytes of entry and payload bundles locally.
    Bytes(u64),
    /// Keep windows whose newest entry was recorded less than this many
    /// seconds ago.
    AgeSeconds(u64),
}

/// Why a retention could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is neither a size (512MiB, 10GiB, 2TB, 1000000) nor an age (90s, 30m, 12h, 30d)")]
pub struct BadRetention {
    /// The text given.
    pub text: String,
}

impl FromStr for Retention {
    type Err = BadRetention;

    fn from_str(text: &str) -> Result<Retention, BadRetention> {
        let bad = || BadRetention {
            text: text.to_owned(),
        };
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let scale = |m: u64| n.checked_mul(m).ok_or_else(bad);
        Ok(match unit.trim() {
            "" | "B" => Retention::Bytes(n),
            "KB" => Retention::Bytes(scale(1_000)?),
            "MB" => Retention::Bytes(scale(1_000_000)?),
            "GB" => Retention::Bytes(scale(1_000_000_000)?),
            "TB" => Retention::Bytes(scale(1_000_000_000_000)?),
            "KiB" => Retention::Bytes(scale(1 << 10)?),
            "MiB" => Retention::Bytes(scale(1 << 20)?),
            "GiB" => Retention::Bytes(scale(1 << 30)?),
            "TiB" => Retention::Bytes(scale(1 << 40)?),
            "s" => Retention::AgeSeconds(n),
            "m" => Retention::AgeSeconds(scale(60)?),
            "h" => Retention::AgeSeconds(scale(3600)?),
            "d" => Retention::AgeSeconds(scale(86_400)?),
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Bytes(b) => write!(f, "{b} bytes"),
            Retention::AgeSeconds(s) => write!(f, "{s} s"),
        }
    }
}

/// What the local store holds now, as the size rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalBundles {
    /// Seqs below this are dropped already (a multiple of 256).
    pub dropped: u64,
    /// Entries in the ledger.
    pub size: u64,
    /// Bytes of entry and payload bundles the engine holds.
    pub bytes: u64,
}

/// The new drop boundary that brings local bundles within `limit` bytes,
/// assuming the local windows are of about equal size (the boundary the
/// ledger may reach is bounded further by [`Ledger::drop_windows`]). The
/// engine's byte count lags a drop until compaction catches up; the next
/// pass measures again, so an estimate too small is corrected, and one too
/// large drops at most the windows the estimate rounded up.
pub fn below_for_bytes(limit: u64, local: LocalBundles) -> u64 {
    if limit == 0 {
        // Keep nothing: every window the ledger lets go, measured or not yet
        // (what the memtables hold is not counted in `bytes`).
        return local.size.div_ceil(BUNDLE_ENTRIES) * BUNDLE_ENTRIES;
    }
    if local.bytes <= limit {
        return local.dropped;
    }
    let windows = local
        .size
        .div_ceil(BUNDLE_ENTRIES)
        .saturating_sub(local.dropped / BUNDLE_ENTRIES);
    if windows == 0 {
        return local.dropped;
    }
    let per_window = local.bytes.div_ceil(windows).max(1);
    let excess = local.bytes - limit;
    let drop = excess.div_ceil(per_window).min(windows);
    local.dropped + drop * BUNDLE_ENTRIES
}

/// The first window in `[lo, hi)` that `is_old` says is not old, by binary
/// search (windows are in recording order, so old ones come first); `hi`
/// when all are old.
pub fn first_young(lo: u64, hi: u64, mut is_old: impl FnMut(u64) -> Result<bool>) -> Result<u64> {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_old(mid)? {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

impl Retention {
    /// The seq below which this retention lets the windows of `ledger` be
    /// dropped, when the archive holds every entry below `archived`, at
    /// `now_us` (microseconds since the epoch).
    pub fn below<B: Backend>(&self, ledger: &Ledger<B>, archived: u64, now_us: i64) -> Result<u64> {
        let dropped = ledger.dropped_below()?;
        let ceiling = ledger.droppable_below(archived)?;
        if ceiling <= dropped {
            return Ok(dropped);
        }
        match *self {
            Retention::Bytes(limit) => {
                let backend = ledger.backend();
                let bytes = backend.family_bytes(Cf::Bundles)?
                    + backend.family_bytes(Cf::PayloadBundles)?;
                let local = LocalBundles {
                    dropped,
                    size: ledger.size(),
                    bytes,
                };
                Ok(below_for_bytes(limit, local).min(ceiling))
            }
            Retention::AgeSeconds(age) => {
                let cutoff = now_us.saturating_sub(
                    i64::try_from(age)
                        .unwrap_or(i64::MAX / 1_000_000)
                        .saturating_mul(1_000_000),
                );
                let first = first_young(dropped / BUNDLE_ENTRIES, ceiling / BUNDLE_ENTRIES, |w| {
                    let last = (w + 1) * BUNDLE_ENTRIES - 1;
                    Ok(ledger.entry(last)?.recorded_at_us < cutoff)
                })?;
                Ok(first * BUNDLE_ENTRIES)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_and_ages_parse_and_nonsense_is_refused() {
        let r = |s: &str| s.parse::<Retention>().unwrap();
        assert_eq!(r("10GiB"), Retention::Bytes(10 << 30));
        assert_eq!(r("512MiB"), Retention::Bytes(512 << 20));
        assert_eq!(r("2TB"), Retention::Bytes(2_000_000_000_000));
        assert_eq!(r("4096"), Retention::Bytes(4096));
        assert_eq!(r("30d"), Retention::AgeSeconds(30 * 86_400));
        assert_eq!(r("12h"), Retention::AgeSeconds(12 * 3600));
        assert_eq!(r("0s"), Retention::AgeSeconds(0));
        for bad in [
            "",
            "GiB",
            "10 parsecs",
            "-1d",
            "1.5GiB",
            "99999999999999999999TiB",
        ] {
            let err = bad.parse::<Retention>().unwrap_err();
            assert!(err.to_string().contains("neither a size"), "{bad}: {err}");
        }
    }

    #[test]
    fn within_the_limit_nothing_is_dropped() {
        let local = LocalBundles {
            dropped: 512,
            size: 10_000,
            bytes: 1 << 20,
        };
        assert_eq!(below_for_bytes(1 << 20, local), 512);
        assert_eq!(below_for_bytes(u64::MAX, local), 512);
    }

    #[test]
    fn over_the_limit_the_oldest_windows_go_first_rounded_up() {
        // 10 local windows (2560..5120) of 1000 bytes each.
        let local = LocalBundles {
            dropped: 2560,
            size: 5120,
            bytes: 10_000,
        };
        // 2500 bytes too many: three windows.
        assert_eq!(below_for_bytes(7_500, local), 2560 + 3 * 256);
        // A limit of nothing drops every local window; the ledger then keeps
        // the tail window and what is not archived.
        assert_eq!(below_for_bytes(0, local), 5120);
        // Even before anything is measured (all of it still in memtables).
        let unmeasured = LocalBundles { bytes: 0, ..local };
        assert_eq!(below_for_bytes(0, unmeasured), 5120);
        assert_eq!(below_for_bytes(1, unmeasured), 2560);
    }

    #[test]
    fn the_open_window_counts_as_a_local_window() {
        let local = LocalBundles {
            dropped: 0,
            size: 300,
            bytes: 2_000,
        };
        assert_eq!(below_for_bytes(1_500, local), 256);
    }

    #[test]
    fn the_first_young_window_is_found_by_bisection() {
        let times = [10, 20, 30, 40, 50, 60];
        let mut reads = 0;
        let first = first_young(0, 6, |w| {
            reads += 1;
            Ok(times[w as usize] < 45)
        })
        .unwrap();
        assert_eq!(first, 4);
        assert!(reads <= 3, "{reads} reads");
        assert_eq!(first_young(2, 6, |_| Ok(true)).unwrap(), 6);
        assert_eq!(first_young(2, 6, |_| Ok(false)).unwrap(), 2);
        assert_eq!(first_young(3, 3, |_| Ok(true)).unwrap(), 3);
    }
}
