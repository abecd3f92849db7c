//! Telling real differences from noise, as Diffy does: replay the same inputs to a
//! baseline serving the recorded model version, and report a path as a real
//! difference only when the candidate differs from the record there significantly
//! more often than the baseline does.
//!
//! **The rule.** Over the `n` entries that both the candidate and the baseline
//! answered, let `c` be how many the candidate differs from the record at a path,
//! and `b` how many the baseline does.
//!
//! 1. `c = 0`: no difference.
//! 2. `b = 0`: the baseline reproduced the record at this path every time, so the
//!    path is deterministic and every candidate difference is real.
//! 3. Otherwise the path is noisy. It is a real difference only when both hold:
//!    - the rates differ by at least [`NoiseRule::min_effect`] (one percentage
//!      point): `c/n − b/n ≥ min_effect`; and
//!    - a one-sided two-proportion z-test with pooled variance rejects "the
//!      candidate differs no more often than the baseline" at α = 0.01:
//!      `p = (c + b) / 2n`, `z = (c/n − b/n) / √(p(1−p)·2/n) > 2.326`.
//!
//! Without any paired entry (`n = 0`, e.g. the baseline failed everywhere) there is
//! no evidence of noise, and candidate differences count as real.

use serde::Serialize;

/// The decision rule, with its parameters (reported with the results).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoiseRule {
    /// The rule's name in reports.
    pub name: &'static str,
    /// Significance level of the one-sided test.
    pub alpha: f64,
    /// The critical value of z for `alpha`.
    pub z_critical: f64,
    /// Smallest excess of the candidate's difference rate over the baseline's that
    /// counts, as a fraction.
    pub min_effect: f64,
}

impl Default for NoiseRule {
    fn default() -> Self {
        NoiseRule {
            name: "one-sided two-proportion z-test (pooled), deterministic paths exact",
            alpha: 0.01,
            z_critical: 2.326_347_874_040_841,
            min_effect: 0.01,
        }
    }
}

/// What the rule says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real difference.
    Difference,
    /// Noise: the baseline differs about as often.
    Noise,
}

/// The verdict on a path, with the test statistic when the test was run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// Difference or noise.
    pub verdict: Verdict,
    /// The z statistic, when both rates were non-zero.
    pub z: Option<f64>,
}

impl NoiseRule {
    /// Judge a path: `n` paired entries, `c` candidate differences and `b` baseline
    /// differences among them.
    pub fn judge(&self, n: u64, c: u64, b: u64) -> Judgement {
        let real = Judgement {
            verdict: Verdict::Difference,
            z: None,
        };
        if n == 0 || b == 0 {
            return real;
        }
        let nf = n as f64;
        let (pc, pb) = (c as f64 / nf, b as f64 / nf);
        let pooled = (c + b) as f64 / (2.0 * nf);
        let se = (pooled * (1.0 - pooled) * 2.0 / nf).sqrt();
        let z = if se > 0.0 { (pc - pb) / se } else { 0.0 };
        let verdict = if pc - pb >= self.min_effect && z > self.z_critical {
            Verdict::Difference
        } else {
            Verdict::Noise
        };
        Judgement {
            verdict,
            z: Some(z),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(n: u64, c: u64, b: u64) -> Verdict {
        NoiseRule::default().judge(n, c, b).verdict
    }

    #[test]
    fn a_field_the_baseline_also_changes_is_noise() {
        // Nondeterministic on every entry, in both.
        assert_eq!(verdict(200, 200, 200), Verdict::Noise);
        // Nondeterministic on some entries, at similar rates.
        assert_eq!(verdict(200, 24, 18), Verdict::Noise);
        assert_eq!(verdict(100, 12, 8), Verdict::Noise);
    }

    #[test]
    fn a_field_changed_more_often_than_noise_explains_is_real() {
        // 30% vs 10% of 100: z ≈ 3.54.
        let j = NoiseRule::default().judge(100, 30, 10);
        assert_eq!(j.verdict, Verdict::Difference);
        assert!((j.z.unwrap_or(0.0) - 3.535).abs() < 0.01, "{j:?}");
        // A tiny effect on a huge sample is significant but below the minimum effect.
        assert_eq!(verdict(1_000_000, 105_000, 100_000), Verdict::Noise);
    }

    #[test]
    fn a_path_the_baseline_never_changes_is_deterministic() {
        assert_eq!(verdict(10_000, 1, 0), Verdict::Difference);
        assert_eq!(verdict(0, 5, 0), Verdict::Difference);
    }

    #[test]
    fn the_critical_value_matches_alpha() {
        // Φ(2.326348) = 0.99 to six places: check against an erf series.
        let z = NoiseRule::default().z_critical;
        let phi = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
        assert!((phi - 0.99).abs() < 1e-6, "{phi}");
    }

    fn erf(x: f64) -> f64 {
        // Maclaurin series; converges well for |x| < 3.
        let mut sum = 0.0;
        let mut term = x;
        for n in 0..80 {
            sum += term / (2 * n + 1) as f64;
            term *= -x * x / (n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }
}
