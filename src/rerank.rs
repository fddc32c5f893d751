//! The reranking stage: reorders the top fused candidates with a closer look than retrieval
//! could afford over the whole corpus.
//!
//! Two implementations share the [`Reranker`] interface:
//! - [`UnitReranker`], built in: needs nothing beyond the embedding model already loaded; it
//!   compares the query with every unit of each candidate (its question and each answer
//!   sentence) and blends that with the fused score;
//! - [`crate::cross_encoder::CrossEncoder`]: a user-supplied ONNX cross-encoder through fastembed's
//!   `TextRerank`, reading query and answer together.

use crate::embedding::cosine;
use crate::error::Result;
use crate::index::Index;

/// Candidates reranked by default: enough to lift an answer fusion put at rank 20. The built-in
/// reranker takes well under a millisecond for them; a cross-encoder of e5-small's size takes
/// about 3 s on two cores, so lower `--rerank-depth` with one.
pub const DEFAULT_RERANK_DEPTH: usize = 20;

/// A query as the reranker sees it.
pub struct RerankQuery<'a> {
    pub text: &'a str,
    /// The query's embedding, when the dense arm computed one.
    pub vector: Option<&'a [f32]>,
}

/// A fused candidate to rescore.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub doc: usize,
    pub fused_score: f32,
}

/// Rescores candidates; higher is better. One score per candidate, in candidate order.
pub trait Reranker {
    fn name(&self) -> &'static str;
    fn score(
        &mut self,
        query: &RerankQuery,
        candidates: &[Candidate],
        index: &Index,
    ) -> Result<Vec<f32>>;
}

/// The built-in reranker.
///
/// Retrieval gave each pair the similarity of its single best unit. Here every candidate's
/// units are compared with the query, and the score rewards a pair whose question *and*
/// answer sentences agree with the query: `max + w_second · second best + w_fused · fused`,
/// with the fused score min-max normalised over the candidates.
///
/// The weights were chosen on the dev queries from a 3 × 5 grid (second ∈ {0, 0.3, 1},
/// fused ∈ {0.02, 0.1, 0.3, 0.5, 1}). Since BM25 also scores character grams, the fused list
/// carries more of the lexical evidence and the best setting gives it full weight and the
/// second-best unit none; the gain over fusion alone is small (see the README).
#[derive(Debug, Clone, Copy)]
pub struct UnitReranker {
    pub second_weight: f32,
    pub fused_weight: f32,
}

impl Default for UnitReranker {
    fn default() -> Self {
        UnitReranker {
            second_weight: 0.0,
            fused_weight: 1.0,
        }
    }
}

impl Reranker for UnitReranker {
    fn name(&self) -> &'static str {
        "units"
    }

    fn score(
        &mut self,
        query: &RerankQuery,
        candidates: &[Candidate],
        index: &Index,
    ) -> Result<Vec<f32>> {
        let Some(vector) = query.vector else {
            return Ok(candidates.iter().map(|c| c.fused_score).collect());
        };
        let (lo, hi) = candidates
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), c| {
                (lo.min(c.fused_score), hi.max(c.fused_score))
            });
        let span = (hi - lo).max(f32::EPSILON);
        let vectors = &index.vectors;
        Ok(candidates
            .iter()
            .map(|candidate| {
                let mut best = [f32::NEG_INFINITY; 2];
                for unit in vectors.units_of_doc(candidate.doc) {
                    let similarity = cosine(vector, vectors.vector(unit));
                    if similarity > best[0] {
                        best = [similarity, best[0]];
                    } else if similarity > best[1] {
                        best[1] = similarity;
                    }
                }
                let second = if best[1].is_finite() {
                    best[1]
                } else {
                    best[0]
                };
                let fused = (candidate.fused_score - lo) / span;
                best[0] + self.second_weight * second + self.fused_weight * fused
            })
            .collect())
    }
}
