//! antwort: local semantic search for question-and-answer corpora.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! corpus ─▶ analysis ─▶ lexical (tantivy BM25) ──┐
//!        └▶ embedding (fastembed e5) ─▶ vector (hnsw_rs) ─▶ fusion ─▶ rerank ─▶ search ─▶ cli
//!                    └▶ late_interaction (token states) ─────────────────┘
//! ```
//!
//! [`index`] keeps the built stages on disk and knows when they are stale. [`similarity`] says
//! how alike two pairs are, for the rerank lift; [`explore`] builds related pairs, topics and
//! the topic map on it, apart from the ranking path.

pub mod analysis;
pub mod cli;
pub mod corpus;
pub mod cross_encoder;
pub mod embedding;
pub mod error;
pub mod eval;
pub mod explore;
pub mod fusion;
pub mod index;
pub mod late_interaction;
pub mod lexical;
pub mod rerank;
pub mod search;
pub mod similarity;
pub mod vector;

pub use error::{Error, Result};
