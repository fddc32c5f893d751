//! The reranking stage: reorders the top fused candidates with a closer look than retrieval
//! could afford over the whole corpus.
//!
//! Two implementations share the [`Reranker`] interface:
//! - [`LateInteractionReranker`], built in: needs nothing beyond the embedding model already
//!   loaded; it compares every token of the query with every token of each candidate;
//! - [`crate::cross_encoder::CrossEncoder`]: a user-supplied ONNX cross-encoder through fastembed's
//!   `TextRerank`, reading query and answer together.

use crate::error::Result;
use crate::index::Index;

/// Candidates reranked by default: enough to lift an answer fusion put at rank 20. The built-in
/// reranker takes about 2 ms for them; a cross-encoder of e5-small's size takes about 3 s on
/// two cores, so lower `--rerank-depth` with one.
pub const DEFAULT_RERANK_DEPTH: usize = 20;

/// A query as the reranker sees it.
pub struct RerankQuery<'a> {
    pub text: &'a str,
    /// The query's token states (see [`crate::embedding::Encoding::tokens`]), when the dense
    /// arm embedded the query.
    pub tokens: Option<&'a [f32]>,
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

/// The built-in reranker: late interaction ([`crate::late_interaction`]) between the query's
/// token states and each candidate's, which the index keeps from the units' embeddings.
///
/// It reads each candidate word by word where retrieval saw one pooled vector per unit. Chosen
/// on the dev queries against the former built-in (best unit + second best + fused score) and
/// against blends of MaxSim with the fused score or the best unit: MaxSim alone was best
/// (nDCG@10 0.913 vs 0.893 in a replay of the pipeline); any weight on the fused score lowered
/// it, since fusion already chose the candidates.
#[derive(Debug, Clone, Copy, Default)]
pub struct LateInteractionReranker;

impl Reranker for LateInteractionReranker {
    fn name(&self) -> &'static str {
        "maxsim"
    }

    fn score(
        &mut self,
        query: &RerankQuery,
        candidates: &[Candidate],
        index: &Index,
    ) -> Result<Vec<f32>> {
        let Some(tokens) = query.tokens else {
            return Ok(candidates.iter().map(|c| c.fused_score).collect());
        };
        let docs: Vec<usize> = candidates.iter().map(|c| c.doc).collect();
        Ok(index.tokens.maxsim(tokens, &docs))
    }
}
