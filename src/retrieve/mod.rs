//! The retrieval stage: two arms that each rank the pairs of the corpus for a query.
//!
//! - [`lexical`]: BM25 over words and character grams (tantivy);
//! - [`dense`]: the nearest units by embedding, through an HNSW graph or exactly.
//!
//! Both answer through [`Retriever`], with one list per pair (never per unit: fusion must meet
//! keys of one grain), so fusion and the searcher do not know which index is behind an arm.

use crate::embed::Encoding;
use crate::error::Result;

pub mod dense;
pub mod filter;
pub mod lexical;

pub use filter::{Allowed, Filter};

/// A query as the retrievers see it.
#[derive(Debug, Clone, Copy)]
pub struct RetrievalQuery<'a> {
    pub text: &'a str,
    /// The query's embedding, for arms that need one.
    pub encoding: Option<&'a Encoding>,
    /// The only pairs an arm may return, when a filter narrows the search; `None` for all.
    /// Arms restrict their search to them, so that `depth` allowed pairs come back whenever
    /// that many exist.
    pub allowed: Option<&'a Allowed>,
}

/// One pair found by an arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairHit {
    /// Ordinal of the pair in the corpus.
    pub doc: usize,
    pub score: f32,
    /// The answer sentence (unit id, similarity) that matched best, when the arm compares
    /// sentences.
    pub best_sentence: Option<(usize, f32)>,
}

/// What an arm found.
#[derive(Debug, Clone, Default)]
pub struct Retrieved {
    /// One entry per pair, best first (ties by ordinal).
    pub hits: Vec<PairHit>,
    /// How much of the query the arm could see, in [0, 1]; fusion may weigh the arm by it.
    pub coverage: f32,
    /// The analyzed query terms the arm searched for, when it searches terms.
    pub terms: Vec<String>,
}

/// Ranks the pairs of a corpus for a query.
pub trait Retriever: Send + Sync {
    fn name(&self) -> &'static str;

    /// At most `depth` pairs, best first. `depth` beyond the corpus is no error.
    fn retrieve(&self, query: &RetrievalQuery, depth: usize) -> Result<Retrieved>;
}

/// Orders (pair, score) by score, highest first, and ties by pair, so that rankings are
/// reproducible.
pub fn best_first(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}
