//! A coarser copy of the points for large stores: four bits a dimension, on each dimension's
//! own range, derived in memory from the byte codes the index stores.
//!
//! A scan of the byte codes is bound by memory bandwidth: at 181,664 rows of 384 dimensions it
//! reads 70 MB a query. This copy is half that, and ranks the rows closely enough that the
//! exact nearest are among the best few thousand it finds: at 47k pairs of medquad-liveqa,
//! 0.9994 of the exact top 300 units were among its best 2,000 (docs/EVALUATION.md, "Speed").
//! The store rescores those in full precision ([`super::points::PointStore::nearest`]).
//!
//! Unlike the byte codes, which scale each row by its own largest magnitude, these scale each
//! dimension by its range over the store: sixteen levels are too few for one scale to serve a
//! row's largest and its typical values, but enough for a dimension's range.

use rayon::prelude::*;

/// Dimensions a block of codes holds: 32 bytes, the low nibbles the first 32 dimensions, the
/// high nibbles the next 32, so that one 256-bit load and two masks give 64 levels in order.
const BLOCK_DIMS: usize = 64;
const BLOCK_BYTES: usize = BLOCK_DIMS / 2;
/// The largest level: four bits.
const TOP_LEVEL: f32 = 15.0;
/// Rows a task derives at a time.
const CHUNK_ROWS: usize = 8192;

/// Every row at four bits a dimension: `x[d] ≈ low[d] + step[d] × level`. Only the steps are
/// kept: `low` adds the same to every row's similarity to a query.
pub(crate) struct CoarseCodes {
    dim: usize,
    step: Vec<f32>,
    /// [`CoarseCodes::row_bytes`] a row, dimensions padded with level 0 to whole blocks.
    codes: Vec<u8>,
}

/// A query as the coarse scan meets it: each dimension weighted by that dimension's step and
/// scaled into a signed byte, padded with zeros to whole blocks.
pub(crate) struct CoarseQuery {
    weights: Vec<i8>,
    scale: f32,
}

impl CoarseCodes {
    /// The coarse copy of rows given by their byte codes (`dim` a row) and each row's scale:
    /// row `r` is `scales[r] × codes[r]`.
    pub(crate) fn derive(dim: usize, scales: &[f32], codes: &[i8]) -> CoarseCodes {
        let row = |r: usize| (scales[r], &codes[r * dim..(r + 1) * dim]);
        let rows = scales.len();
        let (low, high) = (0..rows.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|chunk| {
                let (mut low, mut high) = (vec![f32::MAX; dim], vec![f32::MIN; dim]);
                for r in chunk * CHUNK_ROWS..((chunk + 1) * CHUNK_ROWS).min(rows) {
                    let (scale, codes) = row(r);
                    for ((low, high), &code) in low.iter_mut().zip(&mut high).zip(codes) {
                        let x = scale * f32::from(code);
                        *low = low.min(x);
                        *high = high.max(x);
                    }
                }
                (low, high)
            })
            .reduce(
                || (vec![f32::MAX; dim], vec![f32::MIN; dim]),
                |(mut low, mut high), (other_low, other_high)| {
                    for (l, o) in low.iter_mut().zip(other_low) {
                        *l = l.min(o);
                    }
                    for (h, o) in high.iter_mut().zip(other_high) {
                        *h = h.max(o);
                    }
                    (low, high)
                },
            );
        // A dimension with one value everywhere (or no rows) has level 0 everywhere.
        let step: Vec<f32> = (low.iter().zip(&high))
            .map(|(&l, &h)| if h > l { (h - l) / TOP_LEVEL } else { 1.0 })
            .collect();
        let inverse: Vec<f32> = step.iter().map(|s| s.recip()).collect();
        let row_bytes = Self::row_bytes(dim);
        let mut coarse = vec![0u8; rows * row_bytes];
        // Levels first, in a loop the compiler vectorises (rounding by adding a half and
        // truncating: `f32::round` is a library call on baseline x86-64), then packed.
        coarse.par_chunks_mut(row_bytes).enumerate().for_each_init(
            || vec![0u8; dim],
            |levels, (r, out)| {
                let (scale, codes) = row(r);
                let dims = levels.iter_mut().zip(codes).zip(&low).zip(&inverse);
                for (((level, &code), &low), &inverse) in dims {
                    let x = (scale * f32::from(code) - low) * inverse;
                    *level = (x.clamp(0.0, TOP_LEVEL) + 0.5) as u8;
                }
                for (levels, out) in levels.chunks(BLOCK_DIMS).zip(out.chunks_mut(BLOCK_BYTES)) {
                    let (first, second) = levels.split_at(levels.len().min(BLOCK_BYTES));
                    for (byte, &level) in out.iter_mut().zip(first) {
                        *byte = level;
                    }
                    for (byte, &level) in out.iter_mut().zip(second) {
                        *byte |= level << 4;
                    }
                }
            },
        );
        CoarseCodes {
            dim,
            step,
            codes: coarse,
        }
    }

    fn row_bytes(dim: usize) -> usize {
        dim.div_ceil(BLOCK_DIMS) * BLOCK_BYTES
    }

    /// The query in the terms of the coarse codes.
    pub(crate) fn query(&self, query: &[f32]) -> CoarseQuery {
        let weighted: Vec<f32> = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let largest = weighted.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        let mut weights: Vec<i8> = (weighted.iter())
            .map(|w| (w / scale).round() as i8)
            .collect();
        weights.resize(Self::row_bytes(self.dim) * 2, 0);
        CoarseQuery { weights, scale }
    }

    /// For each of the rows `rows`, a score that ranks them as their similarities to the
    /// query do, approximately: the similarity less `query · low`, the same for every row.
    pub(crate) fn scan(&self, query: &CoarseQuery, rows: std::ops::Range<usize>, out: &mut [f32]) {
        let row_bytes = Self::row_bytes(self.dim);
        let codes = &self.codes[rows.start * row_bytes..rows.end * row_bytes];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { scan_avx2(query, codes, out) };
            }
        }
        scan_portable(query, codes, out);
    }
}

fn scan_portable(query: &CoarseQuery, codes: &[u8], out: &mut [f32]) {
    let row_bytes = query.weights.len() / 2;
    for (row, out) in codes.chunks_exact(row_bytes).zip(out) {
        let mut sum = 0i32;
        for (bytes, weights) in
            (row.chunks_exact(BLOCK_BYTES)).zip(query.weights.chunks_exact(BLOCK_DIMS))
        {
            let (first, second) = weights.split_at(BLOCK_BYTES);
            for ((&byte, &w1), &w2) in bytes.iter().zip(first).zip(second) {
                sum +=
                    i32::from(byte & 0x0F) * i32::from(w1) + i32::from(byte >> 4) * i32::from(w2);
            }
        }
        *out = query.scale * sum as f32;
    }
}

/// [`scan_portable`] with AVX2: a block's 32 bytes are masked into their low and high levels,
/// which `vpmaddubsw` multiplies by the query's signed weights into pairs of 16-bit sums. No
/// sum can saturate: two pairs of levels at most 15 times weights of at most 128 in magnitude
/// come to 4 × 15 × 128 = 7,680.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2(query: &CoarseQuery, codes: &[u8], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let row_bytes = query.weights.len() / 2;
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    for (row, out) in codes.chunks_exact(row_bytes).zip(out) {
        let mut sums = _mm256_setzero_si256();
        for block in 0..row_bytes / BLOCK_BYTES {
            // SAFETY: the block's 32 bytes lie within the row, and its 64 weights within the
            // query's `2 × row_bytes`.
            let (bytes, first, second) = unsafe {
                let weights = query.weights.as_ptr().add(block * BLOCK_DIMS);
                (
                    _mm256_loadu_si256(row.as_ptr().add(block * BLOCK_BYTES).cast()),
                    _mm256_loadu_si256(weights.cast()),
                    _mm256_loadu_si256(weights.add(BLOCK_BYTES).cast()),
                )
            };
            let low = _mm256_and_si256(bytes, low_nibbles);
            let high = _mm256_and_si256(_mm256_srli_epi16::<4>(bytes), low_nibbles);
            let pairs = _mm256_add_epi16(
                _mm256_maddubs_epi16(low, first),
                _mm256_maddubs_epi16(high, second),
            );
            sums = _mm256_add_epi32(sums, _mm256_madd_epi16(pairs, ones));
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sums) };
        *out = query.scale * lanes.iter().sum::<i32>() as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::points::encode;
    use super::super::points::tests::unit_vectors;
    use super::*;
    use crate::embed::dot;

    /// Byte codes of `vectors` as the point store makes them.
    fn byte_codes(vectors: &[f32], dim: usize) -> (Vec<f32>, Vec<i8>) {
        let (scales, codes): (Vec<f32>, Vec<Vec<i8>>) =
            vectors.chunks_exact(dim).map(encode).unzip();
        (scales, codes.concat())
    }

    /// Every instruction set gives the same integer sums, for a width that leaves part of a
    /// block, and levels and weights at their extremes.
    #[test]
    fn the_coarse_scan_is_the_same_sum_everywhere() {
        for dim in [48, 64, 100, 384] {
            let vectors = unit_vectors(300, dim, 4);
            let (scales, codes) = byte_codes(&vectors, dim);
            let coarse = CoarseCodes::derive(dim, &scales, &codes);
            assert_eq!(coarse.codes.len(), 300 * dim.div_ceil(64) * 32);
            let mut query = vectors[..dim].to_vec();
            query[0] = -1.0;
            let query = coarse.query(&query);
            let mut portable = vec![0.0; 300];
            scan_portable(&query, &coarse.codes, &mut portable);
            let mut got = vec![0.0; 300];
            coarse.scan(&query, 0..300, &mut got);
            assert_eq!(got, portable, "{dim}");
        }
        // Every level 15 against every weight -128: the largest sums a lane could hold.
        let extreme = CoarseQuery {
            weights: vec![-128; 128],
            scale: 1.0,
        };
        let codes = vec![0xFF; 64 * 3];
        let (mut portable, mut got) = (vec![0.0; 3], vec![0.0; 3]);
        scan_portable(&extreme, &codes, &mut portable);
        assert_eq!(portable, vec![15.0 * 128.0 * -128.0; 3]);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            unsafe { scan_avx2(&extreme, &codes, &mut got) };
            assert_eq!(got, portable);
        }
    }

    /// The coarse scores follow the similarities: less one constant for every row, within
    /// the levels' error.
    #[test]
    fn coarse_scores_follow_the_similarities() {
        let dim = 96;
        let vectors = unit_vectors(2000, dim, 6);
        let (scales, codes) = byte_codes(&vectors, dim);
        let coarse = CoarseCodes::derive(dim, &scales, &codes);
        let query = &vectors[dim * 5..dim * 6];
        let mut scores = vec![0.0; 2000];
        coarse.scan(&coarse.query(query), 0..2000, &mut scores);
        let exact = |row: usize| dot(query, &vectors[row * dim..(row + 1) * dim]);
        let offset = exact(0) - scores[0];
        for (row, score) in scores.iter().enumerate() {
            let exact = exact(row);
            assert!(
                (score + offset - exact).abs() < 0.05,
                "{row}: {score} vs {exact}"
            );
        }
        let best = (0..2000).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(best, Some(5));
    }
}
