//! The nearest other pairs of a pair, or of a text that is not in the corpus, by
//! [`PairSpace::similarity`]: "related" and "see also", each with why it is related.

use serde::Serialize;

use crate::similarity::{PairSpace, Probe, SEMANTIC_WEIGHT};

/// How a related pair is related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Close in meaning for this corpus (see
    /// [`LINK_TOP_SHARE`](crate::similarity::LINK_TOP_SHARE)), without notably many distinctive
    /// words in common.
    Semantic,
    /// Shares notably many distinctive words (see
    /// [`LINK_TOP_SHARE`](crate::similarity::LINK_TOP_SHARE)) without being especially close in
    /// meaning.
    Lexical,
    Both,
    /// Among the nearest, but neither notably close nor sharing distinctive words.
    Weak,
}

impl Link {
    /// The link of a pair that is, or is not, notably close in meaning and notably sharing
    /// distinctive words.
    pub fn of(semantic: bool, lexical: bool) -> Link {
        match (semantic, lexical) {
            (true, true) => Link::Both,
            (true, false) => Link::Semantic,
            (false, true) => Link::Lexical,
            (false, false) => Link::Weak,
        }
    }
}

/// A pair related to another pair or to a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    /// Ordinal in the corpus.
    pub doc: usize,
    pub id: String,
    pub question: String,
    /// What the neighbours are ranked by: [`SEMANTIC_WEIGHT`] of `semantic` plus the rest of
    /// `lexical`, as [`PairSpace::similarity`].
    pub similarity: f32,
    /// Cosine of the dense parts (embeddings, corpus mean removed), in [-1, 1].
    pub semantic: f32,
    /// Cosine of the TF-IDF parts, in [0, 1].
    pub lexical: f32,
    pub link: Link,
    /// Distinctive words both use, most telling first, as the corpus writes them.
    pub shared_terms: Vec<String>,
}

/// The `k` pairs nearest to pair `doc` of `space`, itself excluded, best first.
pub fn related(space: &PairSpace, doc: usize, k: usize) -> Vec<Related> {
    nearest(space, &space.probe(doc), Some(doc), k)
}

/// The `k` pairs of `space` nearest to a text that is not in the corpus, best first. `vector`
/// is the text's embedding; embed it as a passage, as the index embeds questions and answers,
/// so that it lies among the pairs. Nothing when `vector` is not of the space's width.
pub fn related_to_text(space: &PairSpace, text: &str, vector: &[f32], k: usize) -> Vec<Related> {
    match space.text_probe(text, vector) {
        Some(probe) => nearest(space, &probe, None, k),
        None => Vec::new(),
    }
}

/// The `k` pairs nearest to `probe` but `skip`, best first, ties to the lower ordinal.
fn nearest(space: &PairSpace, probe: &Probe, skip: Option<usize>, k: usize) -> Vec<Related> {
    if space.dim() == 0 {
        return Vec::new();
    }
    let mut scored: Vec<(usize, f32, f32)> = space
        .cosines(probe)
        .into_iter()
        .enumerate()
        .filter(|&(doc, _)| Some(doc) != skip)
        .map(|(doc, (semantic, lexical))| (doc, semantic, lexical))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    let score = |s: &(usize, f32, f32)| SEMANTIC_WEIGHT * s.1 + (1.0 - SEMANTIC_WEIGHT) * s.2;
    let best_first = |a: &(usize, f32, f32), b: &(usize, f32, f32)| {
        score(b).total_cmp(&score(a)).then(a.0.cmp(&b.0))
    };
    if k < scored.len() {
        scored.select_nth_unstable_by(k - 1, best_first);
        scored.truncate(k);
    }
    scored.sort_by(best_first);
    let terms = space.terms();
    scored
        .into_iter()
        .map(|s| {
            let (doc, semantic, lexical) = s;
            let shared_terms = terms.shared(&probe.bag, terms.bag(doc));
            let is_lexical = lexical >= space.lexical_threshold() && !shared_terms.is_empty();
            let link = Link::of(semantic >= space.semantic_threshold(), is_lexical);
            Related {
                doc,
                id: space.id(doc).to_string(),
                question: space.question(doc).to_string(),
                similarity: score(&s),
                semantic,
                lexical,
                link,
                shared_terms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::testing::{pairs, space, vectors};

    #[test]
    fn related_excludes_itself_and_comes_best_first() {
        let space = space();
        for doc in 0..space.len() {
            let found = related(&space, doc, 3);
            assert_eq!(found.len(), 3);
            assert!(found.iter().all(|r| r.doc != doc));
            assert!(found.windows(2).all(|w| w[0].similarity >= w[1].similarity));
            for r in &found {
                assert_eq!(r.id, space.id(r.doc));
                assert!((r.similarity - space.similarity(doc, r.doc)).abs() < 1e-6);
                assert!((r.semantic - space.semantic(doc, r.doc)).abs() < 1e-6);
                assert!((r.lexical - space.lexical(doc, r.doc)).abs() < 1e-6);
            }
        }
        // Asking for more than there is gives everything else; for none, nothing.
        assert_eq!(related(&space, 0, 100).len(), space.len() - 1);
        assert!(related(&space, 0, 0).is_empty());
    }

    #[test]
    fn the_nearest_pair_is_of_the_same_topic_with_its_shared_words() {
        let space = space();
        let found = related(&space, 0, 1);
        assert_eq!(found[0].id, "gan-training");
        assert!(found[0].shared_terms.iter().any(|t| t == "Diskriminator"));
        // The two are the closest in meaning of the corpus.
        assert!(
            matches!(found[0].link, Link::Semantic | Link::Both),
            "{found:#?}"
        );
        for doc in 0..space.len() {
            for r in related(&space, doc, 5) {
                let semantic = r.semantic >= space.semantic_threshold();
                let lexical = r.lexical >= space.lexical_threshold() && !r.shared_terms.is_empty();
                assert_eq!(r.link, Link::of(semantic, lexical), "{r:#?}");
            }
        }
    }

    #[test]
    fn a_text_finds_the_pairs_it_is_about() {
        let space = space();
        let pairs = pairs();
        // A pair's own question and vector, as if it were new, find the pair itself first.
        let found = related_to_text(&space, &pairs[4].question, &vectors()[4], 2);
        assert_eq!(found[0].id, "tokenizer");
        assert_eq!(found[1].id, "attention");
        assert!(found[0].shared_terms.iter().any(|t| t == "Tokenizer"));
        // A vector of another width finds nothing.
        assert!(related_to_text(&space, "Tokenizer", &[1.0], 2).is_empty());
    }

    #[test]
    fn an_empty_space_has_nothing_related() {
        let space = PairSpace::from_pairs(&[], Vec::new()).unwrap();
        assert!(related_to_text(&space, "GAN", &[], 3).is_empty());
    }
}
