//! The lift towards the best answer: after reranking, the answers that follow the best one
//! are ordered by how related they are to it as well as by their own score.
//!
//! It takes the relatedness of two pairs as a function, so it knows nothing of how pairs are
//! compared (the searcher hands it the pair space's similarity).

use crate::retrieve::best_first;

/// How far below the lowest reranked score the candidates below the rerank depth reach, in
/// units of the reranked scores' spread: they keep their fused order, a step apart, on the
/// reranker's scale.
const BELOW_DEPTH_SPAN: f32 = 0.1;

/// Candidates the lift reorders, counted from the top of the fused list, reranked or not: as
/// many as any query fetches (fusion's normalisation depth). Those further down follow in
/// fused order, under every lifted one.
///
/// So the head of the answers is the same however many are asked for, and a long list keeps
/// fusion's recall. Lifting all of them let pairs related to the best answer climb from
/// hundreds of places down over relevant ones: a top 100 fetches 500 candidates, and at
/// 47k pairs the lifted top 100 held fewer relevant answers than the fused one
/// (docs/EVALUATION.md, "The lift").
pub const LIFT_WINDOW: usize = crate::fusion::NORMALISATION_DEPTH;

/// The final order: every candidate lifted by how related its pair is to the best one — or
/// rather, every other one lowered by how unrelated it is, so that the best keeps its score.
///
/// A reader who found the answer is next helped most by the answers around it — the mode
/// collapse question by the one on stabilising GAN training, the VAE by the latent space — and
/// those share the answer's topic more than the query's words, so the reranker alone puts them
/// anywhere below it, often below the rerank depth.
///
/// `reranked` are (pair, reranker score), best first; `below` the pairs under the rerank
/// depth, in fused order. Those are put on the reranker's scale first, just under its lowest
/// score (see [`BELOW_DEPTH_SPAN`]), so that one scale ranks the whole list. Then each within
/// the [`LIFT_WINDOW`] loses `weight` × the reranked scores' spread × (1 − its `similarity` to
/// the best, at most 1; the best itself counts as 1), and those beyond it follow, a step
/// apart, under the lowest lifted one. Scaling by the spread makes the weight mean the same for any
/// reranker's scale, and since nothing is more related to the best than the best itself, the
/// best stays first, with its own score. Returns (pair, score) for all, best first.
pub fn lift_related(
    reranked: &[(usize, f32)],
    below: &[usize],
    weight: f32,
    similarity: impl Fn(usize, usize) -> f32,
) -> Vec<(usize, f32)> {
    let (Some(&(best, high)), Some(&(_, low))) = (reranked.first(), reranked.last()) else {
        // Nothing reranked: the fused order stands.
        return below
            .iter()
            .enumerate()
            .map(|(i, &doc)| (doc, -((i + 1) as f32)))
            .collect();
    };
    let lifted_below = LIFT_WINDOW.saturating_sub(reranked.len()).min(below.len());
    let (below, beyond) = below.split_at(lifted_below);
    let spread = high - low;
    // Equal scores still need a step to keep the fused order below the depth.
    let step =
        if spread > 0.0 { spread } else { 1.0 } * BELOW_DEPTH_SPAN / below.len().max(1) as f32;
    let mut scores: Vec<(usize, f32)> = reranked
        .iter()
        .copied()
        .chain(
            below
                .iter()
                .enumerate()
                .map(|(i, &doc)| (doc, low - step * (i + 1) as f32)),
        )
        .collect();
    let lift = weight * spread;
    if lift > 0.0 {
        for (doc, score) in &mut scores {
            let related = if *doc == best {
                1.0
            } else {
                similarity(best, *doc).min(1.0)
            };
            *score -= lift * (1.0 - related);
        }
    }
    let floor = scores.iter().map(|&(_, score)| score).fold(low, f32::min);
    scores
        .extend((beyond.iter().enumerate()).map(|(i, &doc)| (doc, floor - step * (i + 1) as f32)));
    scores.sort_by(best_first);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieve::best_first;
    use proptest::prelude::*;

    const SIMILARITY: [[f32; 5]; 5] = [
        [1.0, 0.1, 0.4, 0.0, 0.5],
        [0.1, 1.0, 0.0, 0.0, 0.0],
        [0.4, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.5, 0.0, 0.0, 0.0, 1.0],
    ];

    /// Pairs 0..4 reranked with these scores, pair 4 below the depth.
    fn lifted(scores: [f32; 4], weight: f32) -> Vec<(usize, f32)> {
        let mut reranked: Vec<(usize, f32)> = scores.into_iter().enumerate().collect();
        reranked.sort_by(best_first);
        lift_related(&reranked, &[4], weight, |a, b| SIMILARITY[a][b])
    }

    fn order(scored: &[(usize, f32)]) -> Vec<usize> {
        scored.iter().map(|s| s.0).collect()
    }

    #[test]
    fn a_related_answer_overtakes_an_unrelated_one_of_nearly_the_same_score() {
        let scores = [0.90, 0.86, 0.85, 0.80];
        assert_eq!(order(&lifted(scores, 0.0)), [0, 1, 2, 3, 4]);
        // Spread 0.1: pair 2 loses 0.06, pair 1 0.09, pair 3 0.1, and pair 4, below the depth
        // at 0.80 - 0.01, loses 0.05.
        let scored = lifted(scores, 1.0);
        assert_eq!(order(&scored), [0, 2, 1, 4, 3]);
        assert!(
            (scored[0].1 - 0.90).abs() < 1e-6,
            "the best keeps its score"
        );
        assert!((scored[1].1 - 0.79).abs() < 1e-6);
        assert!((scored[3].1 - 0.74).abs() < 1e-6);
    }

    #[test]
    fn the_weight_means_the_same_on_any_score_scale() {
        let scores = [0.90, 0.86, 0.85, 0.80];
        let logits = scores.map(|s| 40.0 * s - 30.0);
        assert_eq!(order(&lifted(scores, 1.5)), order(&lifted(logits, 1.5)));
    }

    #[test]
    fn below_the_depth_the_fused_order_stands_without_a_lift() {
        let reranked = [(7, 0.5), (3, 0.2)];
        let scored = lift_related(&reranked, &[9, 1, 5], 0.0, |_, _| 1.0);
        assert_eq!(order(&scored), [7, 3, 9, 1, 5]);
        assert!(scored.windows(2).all(|w| w[0].1 > w[1].1));
        // Equal reranked scores: no lift, and still a step between those below.
        let scored = lift_related(&[(2, 0.5), (0, 0.5)], &[9, 1], 1.0, |_, _| 1.0);
        assert_eq!(order(&scored), [0, 2, 9, 1]);
        assert!(lift_related(&[], &[], 1.0, |_, _| 1.0).is_empty());
        assert_eq!(order(&lift_related(&[], &[9, 1], 1.0, |_, _| 1.0)), [9, 1]);
    }

    /// Beyond the window the fused order stands, under every lifted candidate, and the head of
    /// the list is the same however many candidates follow.
    #[test]
    fn beyond_the_window_the_fused_order_stands() {
        let reranked: Vec<(usize, f32)> = (0..20).map(|d| (d, 1.0 - d as f32 * 0.01)).collect();
        let window = LIFT_WINDOW - reranked.len();
        let below: Vec<usize> = (20..20 + window + 100).collect();
        // The deepest are the most related to the best: without a window they would climb.
        let related = |_: usize, doc: usize| if doc >= 20 + window { 1.0 } else { 0.0 };
        let long = lift_related(&reranked, &below, 1.0, related);
        let short = lift_related(&reranked, &below[..window], 1.0, related);
        assert_eq!(order(&long)[..LIFT_WINDOW], order(&short)[..]);
        assert_eq!(order(&long)[LIFT_WINDOW..], below[window..]);
        assert!(long.windows(2).all(|w| w[0].1 > w[1].1));
    }

    proptest! {
        /// Whatever the scores and similarities, the best answer stays first, nothing is lost,
        /// and the result is sorted by its scores.
        #[test]
        fn the_best_stays_first(
            scores in proptest::collection::vec(-5.0f32..5.0, 1..30),
            below in 0usize..80,
            similarities in proptest::collection::vec(-1.0f32..1.5, 110),
            weight in 0.0f32..10.0,
        ) {
            let mut reranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
            reranked.sort_by(best_first);
            let below: Vec<usize> = (scores.len()..scores.len() + below).collect();
            let scored = lift_related(&reranked, &below, weight, |_, b| similarities[b]);
            prop_assert_eq!(scored[0].0, reranked[0].0);
            prop_assert!(scored.windows(2).all(|w| w[0].1 >= w[1].1));
            let mut docs = order(&scored);
            docs.sort_unstable();
            prop_assert_eq!(docs, (0..scores.len() + below.len()).collect::<Vec<_>>());
        }
    }
}
