//! The reranking stage: reorders the top fused candidates with a closer look than retrieval
//! could afford over the whole corpus.
//!
//! Two implementations share the [`Reranker`] interface, which sees only the candidates it
//! rescores (their text and stored token states), never the index:
//! - [`LateInteractionReranker`], built in: needs nothing beyond the embedding model already
//!   loaded; it compares every token of the query with every token of each candidate, and of
//!   the candidate's question alone ([`late_interaction`]);
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

use blend::min_max;
pub use blend::Blended;
pub use late_interaction::{DocTokens, MaxSims, QueryTokens};
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
/// It reads each candidate word by word where retrieval saw one pooled vector per unit. Its
/// score mixes three things, each min-max normalised over the candidates:
/// - MaxSim against the whole pair, which carries the order on the corpora whose questions ask
///   about what an answer says (the bundled corpus, WikiQA);
/// - [`QUESTION_WEIGHT`] × MaxSim against the pair's question alone: a user's question that
///   restates an FAQ question must find each of its words there, not somewhere in a long
///   answer (on an English COVID FAQ set, whole-pair MaxSim put "What is a coronavirus?"
///   first for "what are the symptoms of corona virus?");
/// - [`FUSED_WEIGHT`] × the fused score, so that what both arms agreed on is not thrown away.
///
/// The weights were chosen across the whole tuning suite, not on one corpus
/// (docs/EVALUATION.md, "The suite").
#[derive(Debug, Clone, Copy, Default)]
pub struct LateInteractionReranker;

/// The share of MaxSim against the question alone beside MaxSim against the whole pair.
pub const QUESTION_WEIGHT: f32 = 0.35;
/// The share of the fused score beside MaxSim against the whole pair.
pub const FUSED_WEIGHT: f32 = 0.05;

impl Reranker for LateInteractionReranker {
    fn name(&self) -> &'static str {
        "maxsim"
    }

    fn score(&self, query: &RerankQuery, candidates: &[Candidate]) -> Result<Vec<f32>> {
        let Some(tokens) = query.tokens else {
            return Ok(candidates.iter().map(|c| c.fused_score).collect());
        };
        let maxsims: Vec<MaxSims> = candidates
            .par_iter()
            .map_init(Vec::new, |buffer, c| c.tokens.maxsims_in(tokens, buffer))
            .collect();
        // A pair without a question is its answer alone: the whole pair stands in for it.
        let against_question = |(c, m): (&Candidate, &MaxSims)| {
            if c.pair.question.is_empty() {
                m.pair
            } else {
                m.lead
            }
        };
        let pair = min_max(&maxsims.iter().map(|m| m.pair).collect::<Vec<_>>());
        let question: Vec<f32> = candidates
            .iter()
            .zip(&maxsims)
            .map(against_question)
            .collect();
        let question = min_max(&question);
        let fused = min_max(&candidates.iter().map(|c| c.fused_score).collect::<Vec<_>>());
        Ok((pair.iter().zip(&question).zip(&fused))
            .map(|((p, q), f)| p + QUESTION_WEIGHT * q + FUSED_WEIGHT * f)
            .collect())
    }
}
