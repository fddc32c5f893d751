//! antwort: local semantic search for question-and-answer corpora.
//!
//! The pipeline, one module per stage; dependencies point down it, never back:
//!
//! ```text
//! corpus ─▶ text ─▶ retrieve::lexical (tantivy BM25) ─────┐
//!        └▶ embed (Encoder: e5) ─▶ retrieve::dense (HNSW) ─┴▶ fusion ─▶ rerank ─▶ search
//!                 └▶ rerank::late_interaction (token states) ─────────┘     ▲
//!                                          similarity (pair space) ─────────┘
//! index: builds and keeps every stage's data on disk, in generations
//! explore: related pairs, topics, the map (beside the ranking path, not in it)
//! eval: metrics (a leaf) and the harness that drives a searcher
//! ```
//!
//! The command line is the `antwort` binary's own (`src/cli/`); the library knows nothing of
//! terminals, flags or progress bars. See `docs/ARCHITECTURE.md`.

pub mod corpus;
pub mod embed;
pub mod error;
pub mod eval;
pub mod explore;
pub mod fusion;
pub mod index;
pub mod rerank;
pub mod retrieve;
pub mod search;
pub mod similarity;
pub mod text;

pub use error::{Error, Result};
