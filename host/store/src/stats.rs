//! Statistics for rates: Wilson score intervals, and the tests the paper used for its
//! markers and contrasts (pooled two-proportion z-test, one-sided exact binomial test,
//! Fisher's combination of p-values), and Welch's t-test for the mean of a value (the paper
//! compares raw reported scores that way).
//!
//! Written here rather than taken from a general statistics crate on purpose: reports need
//! these few functions only, the exact binomial tail is summed exactly (not through an
//! approximation of the regularised beta), and every function is checked below against
//! published values (scipy, R and printed tables), so a change that moves a p-value fails.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval for `positives` out of `n`, as (low, high) proportions.
/// With `n == 0` the interval is the whole of [0, 1].
pub fn wilson(positives: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = positives as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The complementary error function, with relative error below 1.2e-7 everywhere
/// (the Chebyshev fit of Numerical Recipes, section 6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(Z > z) for a standard normal Z.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
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
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return std::f64::consts::PI.ln()
            - (std::f64::consts::PI * x).sin().ln()
            - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let guard = |v: f64| if v.abs() < tiny { tiny } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut f = d;
    for m in 1..=300 {
        let m = m as f64;
        let mut step = 1.0;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 / guard(1.0 + numerator * d);
            c = guard(1.0 + numerator / c);
            step = c * d;
            f *= step;
        }
        if (step - 1.0).abs() < 1e-14 {
            break;
        }
    }
    front * f
}

/// Two-sided p-value of a Student t statistic with `df` degrees of freedom.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    incomplete_beta(df / (df + t * t), df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// Count, sum and sum of squares of a numeric value (a reported score), poolable by adding.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ValueStats {
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl ValueStats {
    pub fn add(&mut self, other: &ValueStats) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The sample variance (n - 1 in the denominator).
    pub fn variance(&self) -> Option<f64> {
        let mean = self.mean()?;
        (self.n > 1)
            .then(|| ((self.sum_sq - self.n as f64 * mean * mean) / (self.n as f64 - 1.0)).max(0.0))
    }
}

/// Welch's two-sample t-test of mean(a) against mean(b).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TTest {
    pub difference: f64,
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// `None` with fewer than two values on a side, or no variance on either.
pub fn welch_t(a: &ValueStats, b: &ValueStats) -> Option<TTest> {
    let (ma, mb, va, vb) = (a.mean()?, b.mean()?, a.variance()?, b.variance()?);
    let (sa, sb) = (va / a.n as f64, vb / b.n as f64);
    if sa + sb <= 0.0 {
        return None;
    }
    let t = (ma - mb) / (sa + sb).sqrt();
    let df = (sa + sb).powi(2) / (sa * sa / (a.n as f64 - 1.0) + sb * sb / (b.n as f64 - 1.0));
    Some(TTest {
        difference: ma - mb,
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// A two-sample comparison of proportions: `a` (positives, n) against `b`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ZTest {
    /// rate(a) - rate(b).
    pub difference: f64,
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// The pooled two-proportion z-test. `None` when either sample is empty or the pooled rate is
/// 0 or 1 (no variance: the test is undefined).
pub fn two_proportion_z(a: (u64, u64), b: (u64, u64)) -> Option<ZTest> {
    let ((xa, na), (xb, nb)) = (a, b);
    if na == 0 || nb == 0 {
        return None;
    }
    let (pa, pb) = (xa as f64 / na as f64, xb as f64 / nb as f64);
    let pooled = (xa + xb) as f64 / (na + nb) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / na as f64 + 1.0 / nb as f64)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (pa - pb) / se;
    Some(ZTest {
        difference: pa - pb,
        z,
        p: (2.0 * normal_upper_tail(z.abs())).min(1.0),
    })
}

/// The exact one-sided binomial test: P(X >= positives) for X ~ Binomial(n, p0).
pub fn binomial_upper(positives: u64, n: u64, p0: f64) -> f64 {
    if positives == 0 {
        return 1.0;
    }
    if positives > n || p0 <= 0.0 {
        return 0.0;
    }
    if p0 >= 1.0 {
        return 1.0;
    }
    // Sum the pmf from `positives` up in log space, largest term first for accuracy.
    let (lp, lq) = (p0.ln(), (1.0 - p0).ln());
    let mut log_choose = 0.0; // ln C(n, i), built up from i = 0
    for i in 0..positives {
        log_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let mut terms = Vec::with_capacity((n - positives + 1) as usize);
    let mut i = positives;
    loop {
        terms.push(log_choose + i as f64 * lp + (n - i) as f64 * lq);
        if i == n {
            break;
        }
        log_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
        i += 1;
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// Fisher's method: the combined p-value of independent tests, from chi-square with 2k
/// degrees of freedom (closed form for even degrees).
pub fn fisher(ps: &[f64]) -> Option<f64> {
    if ps.is_empty() {
        return None;
    }
    let x: f64 = ps.iter().map(|p| -2.0 * p.max(1e-300).ln()).sum();
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for j in 1..ps.len() {
        term *= half / j as f64;
        sum += term;
    }
    Some(((-half).exp() * sum).min(1.0))
}

/// The paper's significance marker: `***` p < .001, `**` p < .01, `*` p < .05.
pub fn marker(p: Option<f64>) -> &'static str {
    match p {
        Some(p) if p < 0.001 => "***",
        Some(p) if p < 0.01 => "**",
        Some(p) if p < 0.05 => "*",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1e-12)
    }

    #[test]
    fn matches_published_values() {
        // Reference values computed independently (Wilson 1927 formula, checked in Python).
        let (lo, hi) = wilson(0, 20, Z95);
        assert!(
            (lo - 0.0).abs() < 1e-9 && (hi - 0.16113).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(30, 100, Z95);
        assert!(
            (lo - 0.21895).abs() < 1e-4 && (hi - 0.39585).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(20, 20, Z95);
        assert!(
            (lo - 0.83887).abs() < 1e-4 && (hi - 1.0).abs() < 1e-9,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn normal_tail_matches_tables() {
        // Standard normal table values.
        assert!(close(normal_upper_tail(1.959_963_985), 0.025, 1e-6));
        assert!(close(normal_upper_tail(3.090_232_306), 0.001, 1e-5));
        assert!(close(normal_upper_tail(0.0), 0.5, 1e-7));
        assert!(close(normal_upper_tail(-1.0), 0.841_344_746, 1e-6));
    }

    #[test]
    fn z_test_matches_a_worked_example() {
        // 45/100 vs 30/100: pooled 0.375, se = sqrt(.375*.625*.02) = 0.068465, z = 2.19089,
        // two-sided p = 0.028460 (scipy.stats.norm.sf(2.19089) * 2).
        let t = two_proportion_z((45, 100), (30, 100)).unwrap();
        assert!(close(t.z, 2.190_890, 1e-5), "{t:?}");
        assert!(close(t.p, 0.028_460, 1e-3), "{t:?}");
        assert!(close(t.difference, 0.15, 1e-12));
        assert_eq!(two_proportion_z((0, 50), (0, 50)), None);
        assert_eq!(two_proportion_z((1, 0), (0, 50)), None);
    }

    #[test]
    fn binomial_tail_matches_exact_values() {
        // P(X >= 1 | n = 300, p = 0.001) = 1 - 0.999^300 = 0.259 27.
        assert!(close(
            binomial_upper(1, 300, 0.001),
            1.0 - 0.999f64.powi(300),
            1e-9
        ));
        // P(X >= 3 | n = 10, p = 0.5) = 1 - (1 + 10 + 45) / 1024 = 0.945 31.
        assert!(close(binomial_upper(3, 10, 0.5), 1.0 - 56.0 / 1024.0, 1e-9));
        // P(X = 10 | n = 10, p = 0.5) = 1 / 1024.
        assert!(close(binomial_upper(10, 10, 0.5), 1.0 / 1024.0, 1e-9));
        assert_eq!(binomial_upper(0, 10, 0.1), 1.0);
        // 30 of 300 against p0 = 0.001 is overwhelming evidence.
        assert!(binomial_upper(30, 300, 0.001) < 1e-30);
    }

    #[test]
    fn fisher_matches_chi_square() {
        // One p-value combines to itself.
        assert!(close(fisher(&[0.2]).unwrap(), 0.2, 1e-12));
        // p = (0.05, 0.05): X = 11.9829, df 4: survival = e^{-5.99146} (1 + 5.99146) = 0.017 479.
        assert!(close(fisher(&[0.05, 0.05]).unwrap(), 0.017_478_66, 1e-6));
        assert_eq!(fisher(&[]), None);
        assert_eq!(marker(Some(0.0009)), "***");
        assert_eq!(marker(Some(0.03)), "*");
        assert_eq!(marker(Some(0.2)), "");
        assert_eq!(marker(None), "");
    }
}

#[cfg(test)]
mod t_tests {
    use super::*;

    #[test]
    fn student_t_matches_published_values() {
        // Two-sided critical values from the t table, and the Cauchy case (df = 1) exactly.
        for (t, df, p) in [
            (2.228, 10.0, 0.050_01),
            (3.0, 5.0, 0.030_10),
            (1.0, 1.0, 0.5),
            (12.706, 1.0, 0.050_00),
            (1.96, 1e6, 0.049_99),
            (0.0, 7.0, 1.0),
        ] {
            let got = student_t_two_sided(t, df);
            assert!((got - p).abs() < 2e-4, "t = {t}, df = {df}: {got} vs {p}");
        }
    }

    #[test]
    fn welch_matches_a_worked_example() {
        let stats = |xs: &[f64]| ValueStats {
            n: xs.len() as u64,
            sum: xs.iter().sum(),
            sum_sq: xs.iter().map(|x| x * x).sum(),
        };
        let test = welch_t(
            &stats(&[1.0, 2.0, 3.0, 4.0, 5.0]),
            &stats(&[2.0, 4.0, 6.0, 8.0, 10.0]),
        )
        .unwrap();
        assert!((test.t + 1.897_366).abs() < 1e-5, "{test:?}");
        assert!((test.df - 5.882_353).abs() < 1e-5, "{test:?}");
        assert!((test.p - 0.107_53).abs() < 2e-4, "{test:?}");
        assert_eq!(
            welch_t(&stats(&[1.0]), &stats(&[2.0, 3.0])),
            None,
            "one value has no variance"
        );
    }
}
