//! A deterministic encoder that needs no model: each word's state is the sum of pseudo-random
//! vectors of its character trigrams, the pooled vector their mean.
//!
//! It is a bag of sub-words, not a language model: words that share trigrams (`Modell`,
//! `Modelle`) come out close, unrelated words nearly orthogonal, paraphrases unrelated. That
//! is enough to give every stage above [`super::Encoder`] real, checkable input (an index
//! built, searched, reranked and explored end to end) in a unit test on any machine.

use super::{normalize, Encoder, Encoding, Progress};
use crate::error::Result;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct HashingEncoder {
    dim: usize,
    id: String,
}

impl HashingEncoder {
    /// An encoder of `dim` dimensions (at least 1).
    pub fn new(dim: usize) -> HashingEncoder {
        let dim = dim.max(1);
        HashingEncoder {
            dim,
            id: format!("antwort-hashing-{dim}"),
        }
    }

    fn encode(&self, text: &str) -> Encoding {
        let mut tokens = Vec::new();
        let mut pooled = vec![0.0f32; self.dim];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let state = self.word_state(&word.to_lowercase());
            pooled.iter_mut().zip(&state).for_each(|(p, s)| *p += s);
            tokens.extend(state);
        }
        normalize(&mut pooled);
        Encoding {
            vector: pooled,
            tokens,
        }
    }

    /// The unit-length sum of the word's trigram vectors (the word padded with one space each
    /// side, so that short words have trigrams too).
    fn word_state(&self, word: &str) -> Vec<f32> {
        let chars: Vec<char> = format!(" {word} ").chars().collect();
        let mut state = vec![0.0f32; self.dim];
        for gram in chars.windows(3) {
            let mut seed = gram.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
                (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
            });
            for x in &mut state {
                *x += (splitmix(&mut seed) >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            }
        }
        normalize(&mut state);
        state
    }
}

/// One step of SplitMix64: a fast, well-mixed stream of numbers from any seed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Encoder for HashingEncoder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn model_checksum(&self) -> &str {
        &self.id
    }

    fn encode_query(&self, query: &str) -> Result<Encoding> {
        Ok(self.encode(query))
    }

    fn encode_passages(
        &self,
        texts: &[&str],
        progress: &dyn Progress,
        sink: &mut dyn FnMut(usize, Encoding),
    ) -> Result<()> {
        progress.start(texts.len() as u64);
        for (i, text) in texts.iter().enumerate() {
            sink(i, self.encode(text));
            progress.advance(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::cosine;

    #[test]
    fn shared_subwords_are_close_and_strangers_are_not() {
        let encoder = HashingEncoder::new(64);
        let embed = |t: &str| encoder.embed_query(t).unwrap();
        let (a, b, c) = (embed("Modell"), embed("Modelle"), embed("Kuchen"));
        assert!(cosine(&a, &b) > 0.6, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.4, "{}", cosine(&a, &c));
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn one_unit_row_per_word_and_the_same_every_time() {
        let encoder = HashingEncoder::new(32);
        let e = encoder
            .encode_query("Was ist LoRA? Größere Modelle!")
            .unwrap();
        assert_eq!(e.dim(), 32);
        assert_eq!(e.token_rows().count(), 5);
        for row in e.token_rows() {
            assert!((cosine(row, row) - 1.0).abs() < 1e-5);
        }
        assert_eq!(
            e,
            encoder
                .encode_all(&["Was ist LoRA? Größere Modelle!"])
                .unwrap()[0]
        );
        assert_eq!(encoder.encode_query("").unwrap().token_rows().count(), 0);
    }
}
