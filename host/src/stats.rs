//! Statistics for rates: Wilson score intervals.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
