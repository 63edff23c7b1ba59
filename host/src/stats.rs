//! Statistics for rates: Wilson score intervals, and the tests the paper used for its
//! markers and contrasts (pooled two-proportion z-test, one-sided exact binomial test,
//! Fisher's combination of p-values).

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
                    + t * (-0.186_288_06 + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(Z > z) for a standard normal Z.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
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
    Some(ZTest { difference: pa - pb, z, p: (2.0 * normal_upper_tail(z.abs())).min(1.0) })
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
        assert!((lo - 0.0).abs() < 1e-9 && (hi - 0.16113).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(30, 100, Z95);
        assert!((lo - 0.21895).abs() < 1e-4 && (hi - 0.39585).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(20, 20, Z95);
        assert!((lo - 0.83887).abs() < 1e-4 && (hi - 1.0).abs() < 1e-9, "{lo} {hi}");
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
        assert!(close(binomial_upper(1, 300, 0.001), 1.0 - 0.999f64.powi(300), 1e-9));
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
