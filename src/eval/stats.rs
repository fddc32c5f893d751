//! Statistics over per-query figures: percentiles and the paired randomization test.

/// Nearest-rank percentile; `q` in [0, 1].
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Trials of [`randomization_test`] in reports: p-values resolve to about 1e-4.
pub const RANDOMIZATION_TRIALS: usize = 10_000;

/// Two-sided paired randomization test on per-query scores: the share of random sign flips of
/// the per-query differences whose mean is at least as far from zero as the observed one.
/// `(hits + 1) / (trials + 1)`, so never exactly 0. Deterministic for a given seed.
pub fn randomization_test(a: &[f64], b: &[f64], trials: usize, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    assert_eq!(a.len(), b.len(), "paired samples");
    if a.is_empty() {
        return 1.0;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let observed = diffs.iter().sum::<f64>().abs();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut at_least = 0usize;
    for _ in 0..trials {
        let permuted: f64 = diffs
            .iter()
            .map(|d| if rng.random_bool(0.5) { *d } else { -*d })
            .sum();
        if permuted.abs() >= observed - 1e-12 {
            at_least += 1;
        }
    }
    (at_least + 1) as f64 / (trials + 1) as f64
}
