//! The embedding stage: text in, a pooled vector and per-token states out.
//!
//! [`Encoder`] is the seam between the pipeline and a model. Everything above it (the index
//! build, both retrieval arms, late interaction, the pair space) sees only [`Encoding`]s, so it
//! runs the same on [`E5Encoder`] (multilingual-e5-small on ONNX Runtime, what antwort ships)
//! and on [`HashingEncoder`], a deterministic stand-in that needs no model files and lets the
//! whole pipeline be tested anywhere.

use std::borrow::Cow;

use crate::error::Result;

mod e5;
mod hashing;
pub mod vocabulary;

pub use e5::ort_environment;
pub use e5::{
    E5Encoder, ModelFiles, TokenizerScope, FETCH_COMMAND, MAX_TOKENS, MODEL_DIR_ENV, MODEL_SUBDIR,
};
pub use e5::{NO_SPINNING, ORT_LIBRARY};
pub use hashing::HashingEncoder;

/// A text as the model saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoding {
    /// The unit-length mean of the token states, pooled as fastembed pools them: what the vector
    /// index holds and retrieval compares.
    pub vector: Vec<f32>,
    /// The unit-length state of each token of the text itself, one row of
    /// [`Encoding::dim`] after another: what late interaction compares. A model's query or
    /// passage prefix and its special tokens are left out; they are the same in every text
    /// and would match each other, not content.
    pub tokens: Vec<f32>,
}

impl Encoding {
    pub fn dim(&self) -> usize {
        self.vector.len()
    }

    /// The token rows.
    pub fn token_rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.tokens.chunks_exact(self.dim().max(1))
    }
}

/// Reports how far a long job (embedding a corpus) has come. The library stays silent; a front
/// end draws a bar.
pub trait Progress: Sync {
    /// The job has `total` steps.
    fn start(&self, _total: u64) {}
    /// `steps` more are done.
    fn advance(&self, _steps: u64) {}
}

/// No progress shown.
impl Progress for () {}

/// A text encoder: what the pipeline needs of an embedding model.
///
/// Queries and passages are encoded apart because asymmetric models (e5) are trained with a
/// different prefix for each. Implementations guard whatever needs exclusive access (an ONNX
/// session) themselves, so that one encoder serves many threads.
pub trait Encoder: Send + Sync {
    /// Human-readable id of the model, recorded in the index manifest.
    fn model_id(&self) -> &str;

    /// Checksum of the model's weights: an index built by another model is stale.
    fn model_checksum(&self) -> &str;

    /// A search query's embedding and token states.
    fn encode_query(&self, query: &str) -> Result<Encoding>;

    /// Passages' embeddings and token states. Each encoding is handed to `sink` with its input
    /// index as soon as it is done, in any order, so that a caller can shrink it (an index build
    /// quantizes the token states) instead of holding every text's states at full size at once.
    fn encode_passages(
        &self,
        texts: &[&str],
        progress: &dyn Progress,
        sink: &mut dyn FnMut(usize, Encoding),
    ) -> Result<()>;

    /// `text` as the model reads it best; a reranker that reads text is given the query in
    /// this spelling too. Unchanged by default.
    fn respelled<'t>(&self, text: &'t str) -> Result<Cow<'t, str>> {
        Ok(Cow::Borrowed(text))
    }

    /// The unit-length embedding of a search query.
    fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        Ok(self.encode_query(query)?.vector)
    }

    /// Passages' embeddings and token states, in input order.
    fn encode_all(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        let mut out = vec![Encoding::default(); texts.len()];
        self.encode_passages(texts, &(), &mut |i, encoding| out[i] = encoding)?;
        Ok(out)
    }
}

/// A shared encoder is an encoder: a server keeps one model loaded across the searchers of
/// successive index generations.
impl<E: Encoder + ?Sized> Encoder for std::sync::Arc<E> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }

    fn model_checksum(&self) -> &str {
        (**self).model_checksum()
    }

    fn encode_query(&self, query: &str) -> Result<Encoding> {
        (**self).encode_query(query)
    }

    fn encode_passages(
        &self,
        texts: &[&str],
        progress: &dyn Progress,
        sink: &mut dyn FnMut(usize, Encoding),
    ) -> Result<()> {
        (**self).encode_passages(texts, progress, sink)
    }

    fn respelled<'t>(&self, text: &'t str) -> Result<Cow<'t, str>> {
        (**self).respelled(text)
    }
}

/// `v` scaled to length one.
pub(crate) fn unit_length(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v);
    v
}

/// Scales `v` to length one in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Takes `mean` out of `v` and scales it to length one again. The outputs of one model share
/// a large common direction that makes everything look alike; what is left without the
/// corpus's mean is what tells texts (in the pair space) or tokens (in late interaction) apart.
pub fn centre(v: &mut [f32], mean: &[f32]) {
    v.iter_mut().zip(mean).for_each(|(x, m)| *x -= m);
    normalize(v);
}

/// Cosine similarity of two unit-length embeddings: their [`dot`] product.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b)
}

/// Dot product, summed in eight independent lanes ([`sum_in_lanes`]).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum_in_lanes(a, b, |x, y| x * y)
}

/// `Σ term(a[i], b[i])`, summed in eight independent lanes: a plain `sum()` must add in order,
/// which keeps the compiler from using vector instructions, and search, MaxSim and the topic
/// map make thousands of these.
#[inline(always)]
pub fn sum_in_lanes(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = (chunks_a.remainder().iter())
        .zip(chunks_b.remainder())
        .map(|(&x, &y)| term(x, y))
        .sum();
    let mut lanes = [0.0f32; 8];
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            lanes[i] += term(x[i], y[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The eight-lane dot product is the plain one, up to rounding, at every length.
        #[test]
        fn dot_is_the_plain_sum(pairs in proptest::collection::vec((-1.0f32..1.0, -1.0f32..1.0), 0..100)) {
            let (a, b): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            prop_assert!((dot(&a, &b) - plain).abs() < 1e-4);
        }
    }

    #[test]
    fn centring_removes_the_shared_direction() {
        let mean = [0.9, 0.1, 0.0];
        let mut a = [0.95, 0.3, 0.0];
        let mut b = [0.95, -0.1, 0.0];
        normalize(&mut a);
        normalize(&mut b);
        assert!(cosine(&a, &b) > 0.9);
        centre(&mut a, &mean);
        centre(&mut b, &mean);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-6);
        assert!(cosine(&a, &b) < 0.0, "{}", cosine(&a, &b));
        let mut zero = [0.0f32; 3];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);
    }
}
