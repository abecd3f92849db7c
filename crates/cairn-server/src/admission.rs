//! The byte budget of appends: how many request body bytes the daemon holds at
//! once, from the first byte read until the receipts are sent.
//!
//! A request reserves its bytes as they arrive; when the budget is spent it is
//! refused (429) instead of buffered, so memory stays bounded however many
//! clients push at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    bytes: usize,
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
            bytes,
        })
    }
}

impl Reservation {
    /// Grow the reservation to `total` bytes; false (and unchanged) when the
    /// budget cannot hold them.
    pub fn grow_to(&mut self, total: usize) -> bool {
        if total <= self.bytes {
            return true;
        }
        if self.budget.take(total - self.bytes) {
            self.bytes = total;
            true
        } else {
            false
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let b = ByteBudget::new(100);
        let mut r1 = b.reserve(60).expect("fits");
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
}
