//! Small sampling helpers on top of any [`rand::Rng`], plus stateless mixing
//! used for identifiers that must be unique and for per-entity stable traits.

use rand::Rng;

/// Sampling helpers used throughout the generator.
pub(crate) trait RngExt: Rng {
    /// A uniform draw from `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.random::<f64>()
    }

    /// True with probability `p` (values outside `[0, 1]` saturate).
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal draw with the given median and log-space standard deviation.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// An exponential draw with the given mean.
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A uniformly chosen element of a non-empty slice.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.random_range(0..items.len())]
    }

    /// A uniformly chosen string of a non-empty word list.
    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.random_range(0..items.len())]
    }

    /// An element chosen with probability proportional to its weight.
    fn pick_weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| *w).sum();
        let mut ticket = self.random_range(0..total.max(1));
        for &(item, w) in items {
            if ticket < w {
                return item;
            }
            ticket -= w;
        }
        items[items.len() - 1].0
    }

    /// `n` lowercase hex digits.
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let word = self.random::<u64>();
            let chunk = format!("{word:016x}");
            let take = (n - s.len()).min(16);
            s.push_str(&chunk[..take]);
        }
        s
    }
}

impl<R: Rng + ?Sized> RngExt for R {}

/// The SplitMix64 finalizer: a bijection on `u64`, so distinct inputs give
/// distinct outputs. Used for unique identifiers and stable per-entity traits.
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable value in `[0, 1)` for an entity, independent of the random stream.
pub(crate) fn stable_unit(entity: u64, salt: u64) -> f64 {
    (mix64(entity ^ mix64(salt)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Rounds to `digits` decimal places.
pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn hex_has_requested_length() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1, 15, 16, 17, 32] {
            let h = rng.hex(n);
            assert_eq!(h.len(), n);
            assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn weighted_pick_respects_zero_weight() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let items = [("a", 0), ("b", 5)];
        for _ in 0..100 {
            assert_eq!(rng.pick_weighted(&items), "b");
        }
    }
}
