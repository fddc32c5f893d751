//! Principal components by power iteration, over any matrix that can give the two products
//! the iteration needs ([`Matrix`]): so that a matrix too wide to build — the pair vectors,
//! a dense part plus one column per term of the corpus — need not be built, and so that the
//! algorithm can be tested on a plain one.
//!
//! Power iteration from a fixed start, with a fixed sign: the same matrix gives the same
//! components, and the same corpus the same map.

use crate::embed::{dot, normalize};
use crate::similarity::add_scaled;

/// A matrix with rows `x_i`, seen only through `x_i · v` and `out += s · x_i`.
pub(super) trait Matrix {
    /// Number of rows.
    fn rows(&self) -> usize;
    /// Number of columns: the width of a row and of a component.
    fn columns(&self) -> usize;
    /// `x_i · v`.
    fn row_dot(&self, i: usize, v: &[f32]) -> f32;
    /// `out += scale · x_i`.
    fn add_row(&self, i: usize, scale: f32, out: &mut [f32]);
}

/// The first `count` principal components of the rows of `matrix` (of the centred rows: the
/// mean row is never built, see [`scores`]), leading first: unit length, each orthogonal to
/// the ones before, its largest entry positive.
pub(super) fn components(matrix: &impl Matrix, count: usize) -> Vec<Vec<f32>> {
    let mut found: Vec<Vec<f32>> = Vec::with_capacity(count);
    for _ in 0..count {
        let next = component(matrix, &found);
        found.push(next);
    }
    found
}

/// `x_i · v` for every row, centred (the mean of the scores taken out): the coordinates of the
/// centred rows along `v`.
pub(super) fn scores(matrix: &impl Matrix, v: &[f32]) -> Vec<f32> {
    let raw: Vec<f32> = (0..matrix.rows()).map(|i| matrix.row_dot(i, v)).collect();
    let mean = raw.iter().sum::<f32>() / raw.len().max(1) as f32;
    raw.into_iter().map(|s| s - mean).collect()
}

/// `Σ u_i x_i`: with centred scores `u` this is the centred covariance times `v`.
fn back(matrix: &impl Matrix, u: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; matrix.columns()];
    for (i, &ui) in u.iter().enumerate() {
        matrix.add_row(i, ui, &mut out);
    }
    out
}

/// The leading eigenvector of the centred covariance orthogonal to `against`, from a fixed
/// start; its largest entry made positive so that the map does not flip between runs.
fn component(matrix: &impl Matrix, against: &[Vec<f32>]) -> Vec<f32> {
    let width = matrix.columns();
    let orthogonalize = |v: &mut Vec<f32>| {
        for u in against {
            let p = dot(v, u);
            add_scaled(v, u, -p);
        }
        normalize(v);
    };
    let mut v: Vec<f32> = (0..width)
        .map(|i| 1.0 + ((i * 7919) % 97) as f32 / 97.0)
        .collect();
    orthogonalize(&mut v);
    // A map needs no more precision than a pixel: 100 rounds are plenty even where the two
    // leading eigenvalues are close (they are on structureless data).
    for _ in 0..100 {
        let mut next = back(matrix, &scores(matrix, &v));
        orthogonalize(&mut next);
        let change: f32 = next.iter().zip(&v).map(|(a, b)| (a - b) * (a - b)).sum();
        v = next;
        if change < 1e-10 {
            break;
        }
    }
    let largest = v
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or(0.0);
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain dense matrix, one `Vec` per row.
    struct Dense(Vec<Vec<f32>>);

    impl Matrix for Dense {
        fn rows(&self) -> usize {
            self.0.len()
        }

        fn columns(&self) -> usize {
            self.0.first().map_or(0, Vec::len)
        }

        fn row_dot(&self, i: usize, v: &[f32]) -> f32 {
            dot(&self.0[i], v)
        }

        fn add_row(&self, i: usize, scale: f32, out: &mut [f32]) {
            add_scaled(out, &self.0[i], scale);
        }
    }

    /// xorshift64*, and roughly normal numbers by the sum of uniforms.
    struct Rng(u64);

    impl Rng {
        fn normal(&mut self) -> f32 {
            let mut uniform = || {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
            };
            // Twelve uniforms have variance 1.
            (0..12).map(|_| uniform()).sum::<f32>() - 6.0
        }
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        normalize(&mut v);
        v
    }

    /// `Σ a_k · axes[k]`.
    fn combine(axes: &[Vec<f32>], a: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; axes[0].len()];
        for (axis, &s) in axes.iter().zip(a) {
            add_scaled(&mut out, axis, s);
        }
        out
    }

    #[test]
    fn points_along_a_line_give_the_line() {
        let direction = unit(&[3.0, -1.0, 2.0, 0.5]);
        let across = unit(&[1.0, 1.0, -1.0, 0.0]);
        assert!(dot(&direction, &across).abs() < 1e-6);
        let offset = [5.0, 5.0, 5.0, 5.0];
        let rows: Vec<Vec<f32>> = (0..21)
            .map(|i| {
                let t = i as f32 - 10.0;
                let wobble = 0.05 * if i % 2 == 0 { 1.0 } else { -1.0 };
                let mut x = combine(&[direction.clone(), across.clone()], &[t, wobble]);
                add_scaled(&mut x, &offset, 1.0);
                x
            })
            .collect();
        let matrix = Dense(rows);
        let found = components(&matrix, 2);
        assert!(dot(&found[0], &direction).abs() > 0.999, "{:?}", found[0]);
        assert!(dot(&found[1], &across).abs() > 0.999, "{:?}", found[1]);
        assert!(dot(&found[0], &found[1]).abs() < 1e-5);
        // The scores are the centred rows' coordinates: the points' positions on the line.
        let xs = scores(&matrix, &found[0]);
        assert!(xs.iter().sum::<f32>().abs() < 1e-3);
        let sign = dot(&found[0], &direction).signum();
        for (i, x) in xs.iter().enumerate() {
            assert!((x - sign * (i as f32 - 10.0)).abs() < 1e-2, "{i}: {x}");
        }
    }

    #[test]
    fn a_gaussian_cloud_gives_the_axes_of_its_covariance() {
        // Standard deviations 3, 1 and 0.3 along three orthonormal axes of a rotated frame.
        let axes = [
            unit(&[1.0, 2.0, 2.0]),
            unit(&[2.0, 1.0, -2.0]),
            unit(&[2.0, -2.0, 1.0]),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let rows: Vec<Vec<f32>> = (0..2000)
            .map(|_| {
                let a = [3.0 * rng.normal(), rng.normal(), 0.3 * rng.normal()];
                let mut x = combine(&axes, &a);
                add_scaled(&mut x, &[1.0, -4.0, 2.0], 1.0);
                x
            })
            .collect();
        let matrix = Dense(rows);
        let found = components(&matrix, 2);
        for (component, axis) in found.iter().zip(&axes) {
            assert!(
                dot(component, axis).abs() > 0.999,
                "{component:?} vs {axis:?}"
            );
            assert!((dot(component, component) - 1.0).abs() < 1e-5);
        }
        assert!(dot(&found[0], &found[1]).abs() < 1e-5);
        // The variance along the first component is the largest, about 9.
        let variance = |v: &[f32]| scores(&matrix, v).iter().map(|s| s * s).sum::<f32>() / 2000.0;
        assert!(
            (variance(&found[0]) - 9.0).abs() < 0.9,
            "{}",
            variance(&found[0])
        );
        assert!(
            (variance(&found[1]) - 1.0).abs() < 0.1,
            "{}",
            variance(&found[1])
        );
    }

    #[test]
    fn components_are_deterministic_with_the_largest_entry_positive() {
        let mut rng = Rng(7);
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|_| (0..6).map(|_| rng.normal()).collect())
            .collect();
        let matrix = Dense(rows);
        let found = components(&matrix, 3);
        assert_eq!(found, components(&matrix, 3));
        // A prefix of more components is the fewer.
        assert_eq!(found[..2], components(&matrix, 2)[..]);
        for component in &found {
            let largest = component
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap();
            assert!(largest > 0.0, "{component:?}");
        }
        for (i, a) in found.iter().enumerate() {
            for b in &found[i + 1..] {
                assert!(dot(a, b).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn no_rows_give_zero_scores() {
        let matrix = Dense(Vec::new());
        assert!(components(&matrix, 2).iter().all(Vec::is_empty));
        assert!(scores(&matrix, &[]).is_empty());
    }
}
