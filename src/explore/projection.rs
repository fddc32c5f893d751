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
