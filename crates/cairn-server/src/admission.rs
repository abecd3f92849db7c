//! The byte budget of appends: how much memory the daemon's append requests
//! hold at once, from the first byte read until the receipts are sent.
//!
//! A request reserves its body's bytes as they arrive; before its body is
//! parsed it reserves what parsing and preparing it will hold (see
//! [`decisions_cost`]), then what its parsed and prepared forms really hold once
//! they are made. When the budget is spent the request is refused (429) instead
//! of buffered, so memory stays bounded however many clients push at once and
//! however slowly the machine works through them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What one decision of a request costs in memory beyond its bytes, while it
/// is parsed and then prepared: the parsed decision and the prepared append
/// themselves (their heap bytes are counted apart) and the allocator's
/// rounding of their dozen allocations.
pub const DECISION_OVERHEAD_BYTES: usize = 1536;

/// What a decisions body of `body_bytes` with at most `lines` decisions is
/// expected to hold while it is parsed and prepared, reserved before parsing:
/// the body itself until parsing ends, then the parsed decisions and the
/// prepared appends side by side (each about as large as the decisions'
/// bytes), plus a fixed overhead per decision. Canonical JSON is mostly no
/// longer than its source, but can be (`1e9` is written `1000000000.0`), so
/// once parsed a request reserves what its decisions really hold
/// (`parsed_cost`) before it goes on.
pub fn decisions_cost(body_bytes: usize, lines: usize) -> usize {
    body_bytes
        .saturating_mul(2)
        .saturating_add(lines.saturating_mul(DECISION_OVERHEAD_BYTES))
}

/// The shared budget.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    max: usize,
}

/// Bytes held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<ByteBudget>,
    bytes: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    /// Reserve `bytes`, or `None` when the budget cannot hold them.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation {
            budget: Arc::clone(self),
            bytes: AtomicUsize::new(bytes),
        })
    }

    /// The budget's size.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Reservation {
    /// Grow the reservation to `total` bytes; false (and unchanged) when the
    /// budget cannot hold them. Never shrinks.
    pub fn grow_to(&self, total: usize) -> bool {
        let held = self.bytes();
        if total <= held {
            return true;
        }
        self.resize(total)
    }

    /// Make the reservation `total` bytes: growing fails (false, unchanged)
    /// when the budget cannot hold them; shrinking gives bytes back. Only the
    /// request that owns the reservation resizes it, one step at a time.
    pub fn resize(&self, total: usize) -> bool {
        let held = self.bytes();
        if total > held {
            if !self.budget.take(total - held) {
                return false;
            }
        } else {
            self.budget.used.fetch_sub(held - total, Ordering::AcqRel);
        }
        self.bytes.store(total, Ordering::Release);
        true
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(*self.bytes.get_mut(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let b = ByteBudget::new(100);
        let r1 = b.reserve(60).expect("fits");
        assert!(b.reserve(41).is_none());
        assert!(!r1.grow_to(101));
        assert!(r1.grow_to(90));
        assert_eq!(b.used(), 90);
        let r2 = b.reserve(10).expect("fits exactly");
        drop(r1);
        assert_eq!(b.used(), 10);
        drop(r2);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_reservation_shrinks_and_grows_within_the_budget() {
        let b = ByteBudget::new(100);
        let r = b.reserve(80).expect("fits");
        assert!(r.resize(30), "shrinking always works");
        assert_eq!((r.bytes(), b.used()), (30, 30));
        let other = b.reserve(70).expect("the bytes given back are free again");
        assert!(!r.resize(31), "no room left");
        assert_eq!((r.bytes(), b.used()), (30, 100));
        drop(other);
        assert!(r.resize(100));
        drop(r);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_batch_of_small_decisions_costs_more_than_its_bytes() {
        // 1,000 decisions of 100 bytes: twice the body and the per-decision
        // overhead, about seventeen times the body in all.
        assert_eq!(
            decisions_cost(100_000, 1000),
            200_000 + 1000 * DECISION_OVERHEAD_BYTES
        );
        assert_eq!(decisions_cost(usize::MAX, 2), usize::MAX);
    }
}
