//! A reranker's scores mixed with the fused evidence that chose its candidates.
//!
//! A cross-encoder trained on one kind of relevance (web passages for MS MARCO) reads a
//! candidate better than retrieval did where its training matches the corpus, and worse where
//! it does not: alone, it lost to the fused list on an English FAQ set (docs/EVALUATION.md,
//! "Cross-encoder"). Keeping part of the fused score in the final order keeps what both arms
//! agreed on, so a model far from the corpus can only move candidates so far.

use super::{Candidate, RerankQuery, Reranker};
use crate::error::{Error, Result};

/// `weight` × the inner reranker's score + (1 − `weight`) × the fused score, each min-max
/// normalised over the candidates first, since the two live on unrelated scales (logits and a
/// convex mix of normalised arm scores).
pub struct Blended<R> {
    inner: R,
    weight: f32,
}

impl<R: Reranker> Blended<R> {
    /// `weight` in [0, 1]: 1 is the inner reranker alone, 0 the fused order.
    pub fn new(inner: R, weight: f32) -> Result<Blended<R>> {
        if !(0.0..=1.0).contains(&weight) {
            return Err(Error::Usage(format!(
                "a reranker's weight against the fused score must be in [0, 1], not {weight}"
            )));
        }
        Ok(Blended { inner, weight })
    }
}

impl<R: Reranker> Reranker for Blended<R> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn related_weight(&self) -> f32 {
        self.inner.related_weight()
    }

    fn score(&self, query: &RerankQuery, candidates: &[Candidate]) -> Result<Vec<f32>> {
        let model = self.inner.score(query, candidates)?;
        let fused: Vec<f32> = candidates.iter().map(|c| c.fused_score).collect();
        Ok(mix(self.weight, &model, &fused))
    }
}

/// `weight` × `model` + (1 − `weight`) × `fused`, each min-max normalised first.
fn mix(weight: f32, model: &[f32], fused: &[f32]) -> Vec<f32> {
    (min_max(model).into_iter())
        .zip(min_max(fused))
        .map(|(m, f)| weight * m + (1.0 - weight) * f)
        .collect()
}

/// `scores` mapped onto [0, 1], the lowest to 0 and the highest to 1; all 1 when they are equal
/// (nothing to tell apart), and a score that is not a number counts as the lowest.
pub(super) fn min_max(scores: &[f32]) -> Vec<f32> {
    let finite = || scores.iter().copied().filter(|s| s.is_finite());
    let (Some(low), Some(high)) = (finite().reduce(f32::min), finite().reduce(f32::max)) else {
        return vec![1.0; scores.len()];
    };
    let span = high - low;
    scores
        .iter()
        .map(|&s| match s.is_finite() {
            true if span > 0.0 => (s - low) / span,
            true => 1.0,
            false => 0.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_moves_the_order_from_the_fused_one_to_the_models() {
        let fused = [0.9, 0.5, 0.1];
        let model = [-3.0, 1.0, 8.0];
        let close = |a: Vec<f32>, b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(mix(1.0, &model, &fused), [0.0, 4.0 / 11.0, 1.0]));
        assert!(close(mix(0.0, &model, &fused), [1.0, 0.5, 0.0]));
        // Between, whichever side has more weight decides which of the two disputed ends leads.
        let leader = |weight| {
            let mixed = mix(weight, &model, &fused);
            (0..3)
                .max_by(|&a, &b| mixed[a].total_cmp(&mixed[b]))
                .unwrap()
        };
        assert_eq!(leader(0.6), 2);
        assert_eq!(leader(0.4), 0);
    }

    #[test]
    fn equal_or_broken_scores_neither_divide_by_zero_nor_lead() {
        assert_eq!(min_max(&[2.0, 2.0]), vec![1.0, 1.0]);
        assert_eq!(min_max(&[f32::NAN, 1.0, 3.0]), vec![0.0, 0.0, 1.0]);
        assert_eq!(min_max(&[f32::NAN]), vec![1.0]);
        let no_model = crate::rerank::LateInteractionReranker;
        assert!(Blended::new(no_model, 1.5).is_err());
        assert!(Blended::new(no_model, 0.5).is_ok());
    }
}
