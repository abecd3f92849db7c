//! The drift checks: the newest model version's window against the reference
//! window, one [`Check`] each for the label mix, the score distribution, the mean
//! score and the latency. Pure functions over [`Stats`]; what each computes is
//! written down in `schemas/monitor.md`.

use serde::{Deserialize, Deserializer, Serialize};

use super::window::{Stats, SCORE_BINS};

/// Thresholds of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Fewest decisions (with the checked quantity) in each window before a check runs.
    pub min_samples: u64,
    /// Label mix: trips when PSI is above this...
    pub label_psi_max: f64,
    /// ...and the chi-square p-value below this (and the score KS p-value too).
    pub p_value_max: f64,
    /// Scores: trips when the KS distance is above this (and p below `p_value_max`).
    pub score_ks_max: f64,
    /// Scores: trips when |mean − reference mean| is above this.
    pub score_mean_shift_max: f64,
    /// Latency: trips when p99 is above this many times the reference p99...
    pub latency_p99_ratio_max: f64,
    /// ...and at least this many ms above it.
    pub latency_p99_increase_min_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_samples: 200,
            label_psi_max: 0.2,
            p_value_max: 0.001,
            score_ks_max: 0.2,
            score_mean_shift_max: 0.1,
            latency_p99_ratio_max: 2.0,
            latency_p99_increase_min_ms: 5.0,
        }
    }
}

/// The names of the checks, in the order they run.
pub const CHECK_NAMES: [&str; 4] = [
    "label_mix",
    "score_distribution",
    "score_mean",
    "latency_p99",
];

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `label_mix`, `score_distribution`, `score_mean` or `latency_p99`.
    pub check: &'static str,
    /// Whether both windows had enough samples for it to run.
    pub measured: bool,
    /// Whether it trips the breaker.
    pub tripped: bool,
    /// The statistic compared with `threshold` (PSI, KS D, |Δ mean|, p99 ratio).
    pub statistic: f64,
    /// The threshold of `statistic`.
    pub threshold: f64,
    /// The test's p-value, for the checks that have one.
    pub p_value: Option<f64>,
    /// Samples in the current window.
    pub samples: u64,
    /// Samples in the reference window.
    pub reference_samples: u64,
}

/// A [`Check`] read back (from a saved trip): the name is one of
/// [`CHECK_NAMES`].
#[derive(Deserialize)]
struct SavedCheck {
    check: String,
    measured: bool,
    tripped: bool,
    #[serde(deserialize_with = "number_or_nan")]
    statistic: f64,
    #[serde(deserialize_with = "number_or_nan")]
    threshold: f64,
    p_value: Option<f64>,
    samples: u64,
    reference_samples: u64,
}

// By hand: a derived impl would borrow `check` from the input ('de: 'static).
impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Check, D::Error> {
        let c = SavedCheck::deserialize(d)?;
        let check = CHECK_NAMES
            .into_iter()
            .find(|n| *n == c.check)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check {:?}", c.check)))?;
        Ok(Check {
            check,
            measured: c.measured,
            tripped: c.tripped,
            statistic: c.statistic,
            threshold: c.threshold,
            p_value: c.p_value,
            samples: c.samples,
            reference_samples: c.reference_samples,
        })
    }
}

/// A number, or `null` (how JSON writes a non-finite one) as NaN.
fn number_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Every check of `current` against `reference`.
pub fn checks(current: &Stats, reference: &Stats, t: &Thresholds) -> Vec<Check> {
    vec![
        label_mix(current, reference, t),
        score_distribution(current, reference, t),
        score_mean(current, reference, t),
        latency(current, reference, t),
    ]
}

fn unmeasured(check: &'static str, threshold: f64, samples: u64, reference_samples: u64) -> Check {
    Check {
        check,
        measured: false,
        tripped: false,
        statistic: 0.0,
        threshold,
        p_value: None,
        samples,
        reference_samples,
    }
}

/// Label categories: each slot, then "no label".
fn label_counts(s: &Stats) -> Vec<u64> {
    let mut v = s.labels.clone();
    v.push(s.no_label);
    v
}

fn label_mix(cur: &Stats, reference: &Stats, t: &Thresholds) -> Check {
    let (n1, n2) = (cur.n, reference.n);
    if n1 < t.min_samples || n2 < t.min_samples {
        return unmeasured("label_mix", t.label_psi_max, n1, n2);
    }
    let (a, b) = (label_counts(cur), label_counts(reference));
    let psi = psi(&a, &b);
    let (chi2, df) = chi_square(&a, &b);
    let p = chi_square_survival(chi2, df);
    Check {
        check: "label_mix",
        measured: true,
        tripped: psi > t.label_psi_max && p < t.p_value_max,
        statistic: psi,
        threshold: t.label_psi_max,
        p_value: Some(p),
        samples: n1,
        reference_samples: n2,
    }
}

fn score_distribution(cur: &Stats, reference: &Stats, t: &Thresholds) -> Check {
    let (n1, n2) = (cur.scored(), reference.scored());
    if n1 < t.min_samples || n2 < t.min_samples {
        return unmeasured("score_distribution", t.score_ks_max, n1, n2);
    }
    let (mut c1, mut c2, mut d) = (0u64, 0u64, 0f64);
    for i in 0..SCORE_BINS {
        c1 += cur.scores[i];
        c2 += reference.scores[i];
        d = d.max((c1 as f64 / n1 as f64 - c2 as f64 / n2 as f64).abs());
    }
    let en = ((n1 as f64 * n2 as f64) / (n1 as f64 + n2 as f64)).sqrt();
    let p = kolmogorov_q((en + 0.12 + 0.11 / en) * d);
    Check {
        check: "score_distribution",
        measured: true,
        tripped: d > t.score_ks_max && p < t.p_value_max,
        statistic: d,
        threshold: t.score_ks_max,
        p_value: Some(p),
        samples: n1,
        reference_samples: n2,
    }
}

fn score_mean(cur: &Stats, reference: &Stats, t: &Thresholds) -> Check {
    let (n1, n2) = (cur.scored(), reference.scored());
    match (cur.score_mean(), reference.score_mean()) {
        (Some(m1), Some(m2)) if n1 >= t.min_samples && n2 >= t.min_samples => {
            let shift = (m1 - m2).abs();
            Check {
                check: "score_mean",
                measured: true,
                tripped: shift > t.score_mean_shift_max,
                statistic: shift,
                threshold: t.score_mean_shift_max,
                p_value: None,
                samples: n1,
                reference_samples: n2,
            }
        }
        _ => unmeasured("score_mean", t.score_mean_shift_max, n1, n2),
    }
}

fn latency(cur: &Stats, reference: &Stats, t: &Thresholds) -> Check {
    let (n1, n2) = (cur.latency_n, reference.latency_n);
    match (
        cur.latency_quantile_ms(0.99),
        reference.latency_quantile_ms(0.99),
    ) {
        (Some(p1), Some(p2)) if n1 >= t.min_samples && n2 >= t.min_samples => {
            let ratio = p1 / p2;
            Check {
                check: "latency_p99",
                measured: true,
                tripped: ratio > t.latency_p99_ratio_max
                    && p1 - p2 >= t.latency_p99_increase_min_ms,
                statistic: ratio,
                threshold: t.latency_p99_ratio_max,
                p_value: None,
                samples: n1,
                reference_samples: n2,
            }
        }
        _ => unmeasured("latency_p99", t.latency_p99_ratio_max, n1, n2),
    }
}

/// Share floor of PSI, so that a category absent on one side gives a large but
/// finite term.
const PSI_FLOOR: f64 = 1e-4;

/// Population stability index: Σ (pᵢ − qᵢ) · ln(pᵢ / qᵢ) over the categories,
/// shares floored at [`PSI_FLOOR`].
pub fn psi(current: &[u64], reference: &[u64]) -> f64 {
    let (n1, n2) = (
        current.iter().sum::<u64>() as f64,
        reference.iter().sum::<u64>() as f64,
    );
    if n1 == 0.0 || n2 == 0.0 {
        return 0.0;
    }
    current
        .iter()
        .zip(reference)
        .filter(|(a, b)| **a + **b > 0)
        .map(|(a, b)| {
            let p = (*a as f64 / n1).max(PSI_FLOOR);
            let q = (*b as f64 / n2).max(PSI_FLOOR);
            (p - q) * (p / q).ln()
        })
        .sum()
}

/// Pearson's chi-square statistic of the 2 × k table (current, reference) over
/// the categories either side has, and its degrees of freedom (k − 1).
pub fn chi_square(current: &[u64], reference: &[u64]) -> (f64, u64) {
    let (n1, n2) = (
        current.iter().sum::<u64>() as f64,
        reference.iter().sum::<u64>() as f64,
    );
    let n = n1 + n2;
    let mut stat = 0.0;
    let mut k = 0u64;
    for (a, b) in current.iter().zip(reference) {
        let col = (*a + *b) as f64;
        if col == 0.0 {
            continue;
        }
        k += 1;
        for (obs, row) in [(*a as f64, n1), (*b as f64, n2)] {
            let expected = row * col / n;
            if expected > 0.0 {
                stat += (obs - expected).powi(2) / expected;
            }
        }
    }
    (stat, k.saturating_sub(1))
}

/// P(X ≥ x) for X chi-square with `df` degrees of freedom: the regularised
/// upper incomplete gamma function Q(df/2, x/2). 1 when `df` is 0.
pub fn chi_square_survival(x: f64, df: u64) -> f64 {
    if df == 0 || x <= 0.0 {
        return 1.0;
    }
    gamma_q(df as f64 / 2.0, x / 2.0)
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9), accurate to about 1e-15.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Q(a, x) by the series for x < a + 1, else the continued fraction (Numerical
/// Recipes' `gammq`).
fn gamma_q(a: f64, x: f64) -> f64 {
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * (-x + a * x.ln() - gln).exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - gln).exp() * h).clamp(0.0, 1.0)
    }
}

/// The Kolmogorov distribution's survival function Q_KS(λ).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let j = f64::from(j);
        let term = sign * 2.0 * (-2.0 * j * j * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    sum.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_survival_matches_tables() {
        // Critical values from standard tables: P(X ≥ x) for (x, df).
        for (x, df, p) in [
            (3.841, 1, 0.05),
            (6.635, 1, 0.01),
            (5.991, 2, 0.05),
            (9.210, 2, 0.01),
            (18.307, 10, 0.05),
            (0.0, 3, 1.0),
        ] {
            let got = chi_square_survival(x, df);
            assert!((got - p).abs() < 5e-4, "x={x} df={df}: {got} vs {p}");
        }
    }

    #[test]
    fn psi_and_chi_square_of_a_known_shift() {
        let a = [800, 200];
        let b = [400, 600];
        // PSI = (0.8−0.4)·ln 2 + (0.2−0.6)·ln(1/3)
        let expected = 0.4 * 2f64.ln() + 0.4 * 3f64.ln();
        assert!((psi(&a, &b) - expected).abs() < 1e-12);
        assert_eq!(psi(&a, &a), 0.0);
        let (x, df) = chi_square(&a, &b);
        assert_eq!(df, 1);
        // Expected counts 600/400 per row: 4 cells of 200²/600 or 200²/400.
        assert!((x - (2.0 * 40_000.0 / 600.0 + 2.0 * 40_000.0 / 400.0)).abs() < 1e-9);
    }
}
