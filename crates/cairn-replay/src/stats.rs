//! The statistics of a report: percentiles, means, histograms and the two-sample
//! Kolmogorov–Smirnov test used for the score shift.

use serde::Serialize;

/// Nearest-rank percentile (`q` in 0..=1) of sorted values; `None` when empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Mean, `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sort finite values ascending, dropping NaN and infinities.
pub fn sorted_finite(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    // Values equal under `total_cmp` have the same bits, so an unstable sort gives
    // the same order as a stable one, without the stable sort's buffer.
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// The two-sample Kolmogorov–Smirnov statistic D (largest distance between the two
/// empirical distribution functions) and its asymptotic p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KsTest {
    /// D, in 0..=1.
    pub d: f64,
    /// The probability of a D at least this large if both samples came from one
    /// distribution (asymptotic, Numerical Recipes' approximation).
    pub p_value: f64,
}

/// The KS test on two sorted samples; `None` if either is empty.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<KsTest> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    let en = (na * nb / (na + nb)).sqrt();
    let p_value = kolmogorov_q((en + 0.12 + 0.11 / en) * d);
    Some(KsTest { d, p_value })
}

/// Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let term = sign * (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Two histograms over the same bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Bin edges, one more than bins; the last bin includes its upper edge.
    pub edges: Vec<f64>,
    /// Counts of the recorded values.
    pub recorded: Vec<u64>,
    /// Counts of the candidate's values.
    pub candidate: Vec<u64>,
}

/// `bins` equal-width bins spanning both sorted samples.
pub fn histogram(recorded: &[f64], candidate: &[f64], bins: usize) -> Option<Histogram> {
    let lo = recorded.first()?.min(*candidate.first()?);
    let hi = recorded.last()?.max(*candidate.last()?);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let edges = (0..=bins).map(|k| lo + width * k as f64).collect();
    let count = |xs: &[f64]| {
        let mut c = vec![0u64; bins];
        for x in xs {
            let k = (((x - lo) / width) as usize).min(bins - 1);
            c[k] += 1;
        }
        c
    };
    Some(Histogram {
        edges,
        recorded: count(recorded),
        candidate: count(candidate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn ks_sees_a_shift_and_not_a_copy() {
        let a: Vec<f64> = (0..500).map(|i| f64::from(i) / 500.0).collect();
        let same = ks_two_sample(&a, &a).expect("non-empty");
        assert_eq!(same.d, 0.0);
        assert!(same.p_value > 0.99);
        let shifted: Vec<f64> = a.iter().map(|x| x + 0.2).collect();
        let t = ks_two_sample(&a, &shifted).expect("non-empty");
        assert!((t.d - 0.2).abs() < 0.01, "{t:?}");
        assert!(t.p_value < 1e-6, "{t:?}");
        // Disjoint samples: D = 1.
        assert_eq!(
            ks_two_sample(&[0.0, 1.0], &[2.0, 3.0]).map(|t| t.d),
            Some(1.0)
        );
    }

    #[test]
    fn histograms_share_bins_and_count_everything() {
        let h = histogram(&[0.0, 0.5, 1.0], &[1.0, 1.0], 4).expect("non-empty");
        assert_eq!(h.edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(h.recorded, vec![1, 0, 1, 1]);
        assert_eq!(h.candidate, vec![0, 0, 0, 2]);
        let flat = histogram(&[2.0], &[2.0], 2).expect("non-empty");
        assert_eq!(flat.recorded.iter().sum::<u64>(), 1);
    }
}
