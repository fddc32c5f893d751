//! The reranking stage: reorders the top fused candidates with a closer look than retrieval
//! could afford over the whole corpus.
//!
//! Two implementations share the [`Reranker`] interface, which sees only the candidates it
//! rescores (their text and stored token states), never the index:
//! - [`LateInteractionReranker`], built in: needs nothing beyond the embedding model already
//!   loaded; it compares every token of the query with every token of each candidate
//!   ([`late_interaction`]);
//! - [`cross_encoder::CrossEncoder`]: an ONNX cross-encoder through fastembed's `TextRerank`,
//!   reading query and answer together (an English one is fetched; others the user supplies),
//!   mixed with the fused score by [`Blended`] so that it refines fusion's order rather than
//!   replacing it.
//!
//! Whichever scored them, [`lift::lift_related`] then orders the answers after the best one by
//! how related they are to it, as well as by their own score.

use rayon::prelude::*;

use crate::corpus::QaPair;
use crate::error::Result;

pub mod blend;
pub mod cross_encoder;
pub mod late_interaction;
pub mod lift;

pub use blend::Blended;
pub use late_interaction::{DocTokens, QueryTokens};
pub use lift::lift_related;

/// Candidates reranked by default: enough to lift an answer fusion put at rank 20. The built-in
/// reranker takes about 2 ms for them; a cross-encoder of e5-small's size takes about 3 s on
/// two cores, so lower `--rerank-depth` with one.
pub const DEFAULT_RERANK_DEPTH: usize = 20;

/// How strongly the final order follows relatedness to the best answer, in units of the spread
/// of the reranked scores; see [`lift_related`]. 0 turns it off.
///
/// Chosen on the dev queries among 0, 0.5, 1, 1.5 and 2 (docs/EVALUATION.md, "The lift"):
/// 1 and 1.5 tie on nDCG@10 and 1 keeps more RR@10; above, it begins to push the answer itself
/// down when the best candidate was a near miss.
pub const DEFAULT_RELATED_WEIGHT: f32 = 1.0;

/// A query as the reranker sees it.
pub struct RerankQuery<'a> {
    /// The query as the embedding model read it (umlauts restored).
    pub text: &'a str,
    /// The query's token states, centred for this index, when the dense arm embedded it.
    pub tokens: Option<&'a QueryTokens>,
}

/// A fused candidate to rescore: everything a reranker may look at.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Ordinal of the pair in the corpus.
    pub doc: usize,
    pub fused_score: f32,
    pub pair: &'a QaPair,
    /// The pair's stored token states.
    pub tokens: DocTokens<'a>,
}

/// Rescores candidates; higher is better. One score per candidate, in candidate order.
///
/// `Send + Sync` so that one searcher serves many threads: a reranker that needs exclusive
/// access to something (an ONNX session) guards it inside.
pub trait Reranker: Send + Sync {
    fn name(&self) -> &'static str;
    fn score(&self, query: &RerankQuery, candidates: &[Candidate]) -> Result<Vec<f32>>;

    /// How much the answers after the best follow their relatedness to it
    /// ([`lift_related`]) unless the query says: whether this reranker's order gains from the
    /// lift is measured per reranker.
    fn related_weight(&self) -> f32 {
        DEFAULT_RELATED_WEIGHT
    }
}

/// The built-in reranker: late interaction ([`late_interaction`]) between the query's
/// token states and each candidate's, which the index keeps from the units' embeddings.
///
/// It reads each candidate word by word where retrieval saw one pooled vector per unit. Chosen
/// on the dev queries against the former built-in (best unit + second best + fused score) and
/// against blends of MaxSim with the fused score or the best unit: MaxSim alone was best, and any
/// weight on the fused score lowered it, since fusion already chose the candidates
/// (docs/EVALUATION.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct LateInteractionReranker;

impl Reranker for LateInteractionReranker {
    fn name(&self) -> &'static str {
        "maxsim"
    }

    fn score(&self, query: &RerankQuery, candidates: &[Candidate]) -> Result<Vec<f32>> {
        let Some(tokens) = query.tokens else {
            return Ok(candidates.iter().map(|c| c.fused_score).collect());
        };
        Ok(candidates
            .par_iter()
            .map_init(Vec::new, |buffer, c| c.tokens.maxsim_in(tokens, buffer))
            .collect())
    }
}
