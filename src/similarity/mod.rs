//! How similar two Q&A pairs of a corpus are: one *pair vector* per pair, built from what the
//! index already holds (the unit embeddings and the text; nothing is embedded again), and the
//! similarity of two pairs as the cosine of their vectors. See [`PairSpace`].
//!
//! Ranking depends on it — the rerank lift ([`crate::rerank::lift_related`]) moves answers
//! about the best answer's topic up — and so does [`crate::explore`] (related pairs, topics,
//! the map), which is built on top of it. The dependency only goes that way: nothing here
//! knows about exploration, so that search can be built and reasoned about without it.
//!
//! ```text
//! unit vectors ─┐                         ┌▶ similarity(a, b)   the rerank lift
//! pair texts ───┴▶ PairSpace ─────────────┤
//!                  (dense + terms::Terms) └▶ explore: related, topics, map
//! ```

mod terms;
#[cfg(test)]
pub(crate) mod testing;

use std::borrow::Cow;

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::corpus::QaPair;
use crate::corpus::UnitKind;
use crate::embed::{centre, dot, normalize};
use crate::error::{Error, IoContext, Result};
use crate::retrieve::dense::VectorIndex;

use terms::Terms;

/// Share of the question in the dense half of a pair vector; the answer's sentences, averaged,
/// carry the rest.
///
/// The question says what a pair is *about* in a dozen words, the answer's sentences say it
/// again with the details that set close topics apart. Averaging all units alike would let a
/// long answer drown its question (with 25 sentences the question would be 4 % of the vector),
/// so question and answer are normalised apart and mixed evenly.
pub const QUESTION_WEIGHT: f32 = 0.5;

/// Share of the dense (embedding) part in the similarity of two pairs; TF-IDF over their
/// distinctive words has the rest. See [`PairSpace`] for why there is a lexical part at all.
pub const SEMANTIC_WEIGHT: f32 = 0.5;

/// A link is semantic when the dense cosine, and lexical when the TF-IDF cosine, is in the top
/// this share of that cosine over all pairs of pairs of the corpus: "high" is relative to the
/// corpus's own distribution, whatever the model's or the vocabulary's scale.
pub const LINK_TOP_SHARE: f32 = 0.1;

/// Pairs sampled to learn the corpus's similarity distribution.
const SIMILARITY_SAMPLE: usize = 800;

/// The pairs of a corpus as points in one space, for the rerank lift, "related" and "topics".
///
/// A pair's point has two parts, and the similarity of two pairs is the weighted sum
/// ([`SEMANTIC_WEIGHT`]) of the two parts' cosines — the cosine of the concatenated vectors:
///
/// - **dense**: the pair's unit embeddings, question and answer sentences mixed
///   ([`QUESTION_WEIGHT`]), *minus the corpus mean*, normalised. Embeddings of one model share
///   a large common direction: on the bundled corpus every pair is 0.89–0.98 similar to every
///   other, and what tells topics apart is the small rest. Taking out the mean spreads the same
///   pairs over -0.4…0.6 and makes clusters separable at all.
/// - **lexical**: TF-IDF over the pair's distinctive words (question words count double; stop
///   words, filler and — in a corpus that capitalises nouns — non-nouns left out), normalised.
///   e5-small alone misses links the text states outright: LoRA's answer builds on a
///   "Basismodell", the word of the foundation-vs-fine-tuned question, yet by embedding alone
///   that pair is not among LoRA's five nearest; with the lexical part it is second. And by
///   embedding alone gan-training-stability is nearer to inference-speed-optimization (both
///   "techniques to improve …") than to conditional-gans, with which it shares "GAN",
///   "Generator" and "Diskriminator". Words used by a single pair are left out too: they
///   cannot link two pairs and would only shrink the cosines of pairs that use many of them.
#[derive(Serialize, Deserialize)]
pub struct PairSpace {
    dim: usize,
    /// The mean of the raw dense vectors, taken out of every one.
    mean: Vec<f32>,
    /// Dense parts, row-major, one unit-length row per pair.
    dense: Vec<f32>,
    pairs: Vec<PairInfo>,
    terms: Terms,
    /// Dense cosine from which a link is semantic; see [`LINK_TOP_SHARE`].
    semantic_above: f32,
    /// TF-IDF cosine from which a link is lexical; see [`LINK_TOP_SHARE`].
    lexical_above: f32,
}

#[derive(Serialize, Deserialize)]
struct PairInfo {
    id: String,
    question: String,
    title: String,
}

/// A point to compare with the pairs of a space: one of its pairs, or a text placed among
/// them ([`PairSpace::probe`], [`PairSpace::text_probe`]).
pub(crate) struct Probe<'a> {
    /// Unit length, corpus mean removed, as [`PairSpace::vector`].
    pub(crate) dense: Cow<'a, [f32]>,
    /// Unit TF-IDF vector over the corpus's shown terms, sorted by term.
    pub(crate) lexical: Cow<'a, [(u32, f32)]>,
    /// (term, weighted count) over all the corpus's terms, sorted by term: for the words a
    /// probe shares with a pair.
    pub(crate) bag: Cow<'a, [(u32, f32)]>,
}

impl PairSpace {
    /// The pair space of an index's corpus `pairs` and its unit `vectors` (built over those
    /// pairs): one pass over the unit vectors and one analysis of the corpus text. Build it
    /// once and ask it many times.
    ///
    /// # Panics
    ///
    /// If `vectors` has no unit for some pair, or units of different widths.
    pub fn new(pairs: &[QaPair], vectors: &VectorIndex) -> PairSpace {
        let raw: Vec<Vec<f32>> = (0..pairs.len())
            .into_par_iter()
            .map(|doc| pair_vector(vectors, doc))
            .collect();
        PairSpace::from_pairs(pairs, raw).expect("the index has one vector of one width per pair")
    }

    /// A pair space over `pairs` with the given raw dense vectors, one per pair (normalised and
    /// centred here): for vectors that come from elsewhere, and for tests.
    pub fn from_pairs(pairs: &[QaPair], mut vectors: Vec<Vec<f32>>) -> Result<PairSpace> {
        if pairs.len() != vectors.len() {
            return Err(Error::Usage(format!(
                "{} pairs but {} vectors",
                pairs.len(),
                vectors.len()
            )));
        }
        let dim = vectors.first().map_or(0, Vec::len);
        if vectors.iter().any(|v| v.len() != dim) {
            return Err(Error::Usage("pair vectors differ in width".into()));
        }
        vectors.iter_mut().for_each(|v| normalize(v));
        let mut mean = vec![0.0f32; dim];
        for v in &vectors {
            add_scaled(&mut mean, v, 1.0 / pairs.len() as f32);
        }
        let mut dense = Vec::with_capacity(pairs.len() * dim);
        for v in &mut vectors {
            centre(v, &mean);
            dense.extend_from_slice(v);
        }
        let terms = Terms::of(pairs);
        let infos = pairs
            .iter()
            .map(|p| PairInfo {
                id: p.id.clone(),
                question: p.question.clone(),
                title: terms.title(p),
            })
            .collect();
        let mut space = PairSpace {
            dim,
            mean,
            dense,
            pairs: infos,
            terms,
            semantic_above: 1.0,
            lexical_above: 1.0,
        };
        let [semantic, lexical] = space.link_thresholds();
        space.semantic_above = semantic;
        space.lexical_above = lexical;
        Ok(space)
    }

    /// Writes the space to `path`, for [`PairSpace::load`]: a query then reads it back instead
    /// of analysing the whole corpus again (seconds at 47,000 pairs).
    pub fn save(&self, path: &Path) -> Result<()> {
        let file =
            std::fs::File::create(path).context(|| format!("cannot write {}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        postcard::to_io(self, &mut writer)
            .map_err(|e| Error::index_caused(path, "cannot write the pair space", e))?;
        std::io::Write::flush(&mut writer).context(|| format!("cannot write {}", path.display()))
    }

    /// Reads what [`PairSpace::save`] wrote, for an index of `pairs` pairs.
    pub fn load(path: &Path, pairs: usize) -> Result<PairSpace> {
        let damaged =
            |what: &str| Error::index(path, format!("{what}; rebuild it with `antwort index`"));
        let bytes = std::fs::read(path).map_err(|e| {
            Error::index_caused(path, "cannot read it; rebuild it with `antwort index`", e)
        })?;
        let space: PairSpace = postcard::from_bytes(&bytes).map_err(|e| {
            Error::index_caused(path, "damaged; rebuild it with `antwort index`", e)
        })?;
        let consistent = space.pairs.len() == pairs
            && space.mean.len() == space.dim
            && space.dense.len() == pairs * space.dim
            && space.dense.iter().chain(&space.mean).all(|x| x.is_finite());
        if !consistent {
            return Err(damaged("it does not match the index"));
        }
        let PairSpace { terms, .. } = space;
        let terms = terms
            .check_and_index(pairs)
            .ok_or_else(|| damaged("its terms do not match the index"))?;
        Ok(PairSpace { terms, ..space })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Width of the dense parts.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The dense part of pair `doc`: unit length, corpus mean removed.
    pub fn vector(&self, doc: usize) -> &[f32] {
        &self.dense[doc * self.dim..(doc + 1) * self.dim]
    }

    /// The id of pair `doc`.
    pub fn id(&self, doc: usize) -> &str {
        &self.pairs[doc].id
    }

    /// The question of pair `doc`.
    pub fn question(&self, doc: usize) -> &str {
        &self.pairs[doc].question
    }

    /// A few words naming pair `doc`: its id when the id reads as words, else the distinctive
    /// words of its question.
    pub fn title(&self, doc: usize) -> &str {
        &self.pairs[doc].title
    }

    /// Dense cosine from which a link counts as semantic in this corpus.
    pub fn semantic_threshold(&self) -> f32 {
        self.semantic_above
    }

    /// TF-IDF cosine from which a link counts as lexical in this corpus.
    pub fn lexical_threshold(&self) -> f32 {
        self.lexical_above
    }

    /// Similarity of two pairs: [`SEMANTIC_WEIGHT`] of [`PairSpace::semantic`] plus the rest
    /// of [`PairSpace::lexical`].
    pub fn similarity(&self, a: usize, b: usize) -> f32 {
        SEMANTIC_WEIGHT * self.semantic(a, b) + (1.0 - SEMANTIC_WEIGHT) * self.lexical(a, b)
    }

    /// Cosine of the dense parts of two pairs (embeddings, corpus mean removed), in [-1, 1].
    pub fn semantic(&self, a: usize, b: usize) -> f32 {
        dot(self.vector(a), self.vector(b))
    }

    /// Cosine of the TF-IDF parts of two pairs, in [0, 1].
    pub fn lexical(&self, a: usize, b: usize) -> f32 {
        self.terms.cosine(a, b)
    }

    /// Similarities of pair `a` with each of `others`, as [`PairSpace::similarity`] (1 with
    /// itself), the lexical parts through the postings of `a`'s words: for many at once.
    pub fn similarity_row(&self, a: usize, others: &[usize]) -> Vec<f32> {
        let lexical = self.terms.lexical_scores(self.terms.lexical(a));
        others
            .iter()
            .map(|&b| {
                if a == b {
                    1.0
                } else {
                    SEMANTIC_WEIGHT * self.semantic(a, b) + (1.0 - SEMANTIC_WEIGHT) * lexical[b]
                }
            })
            .collect()
    }

    /// The analyzed words of the corpus.
    pub(crate) fn terms(&self) -> &Terms {
        &self.terms
    }

    /// Pair `doc` as a probe.
    pub(crate) fn probe(&self, doc: usize) -> Probe<'_> {
        Probe {
            dense: Cow::Borrowed(self.vector(doc)),
            lexical: Cow::Borrowed(self.terms.lexical(doc)),
            bag: Cow::Borrowed(self.terms.bag(doc)),
        }
    }

    /// A text that is not in the corpus, placed among the pairs: its embedding `vector`
    /// normalised and centred as the pairs' are, its words weighted as a question's over the
    /// corpus's vocabulary. `None` when `vector` is not of this space's width.
    pub(crate) fn text_probe(&self, text: &str, vector: &[f32]) -> Option<Probe<'static>> {
        if vector.len() != self.dim {
            return None;
        }
        let mut dense = vector.to_vec();
        normalize(&mut dense);
        centre(&mut dense, &self.mean);
        let bag = self.terms.bag_of(text);
        let lexical = self.terms.tf_idf(&bag);
        Some(Probe {
            dense: Cow::Owned(dense),
            lexical: Cow::Owned(lexical),
            bag: Cow::Owned(bag),
        })
    }

    /// The dense and the lexical cosine of `probe` with every pair, in corpus order: brute
    /// force over the dense parts (10,000 pairs of 384 dimensions are 4 million multiply-adds,
    /// milliseconds) plus the postings of the probe's words.
    pub(crate) fn cosines(&self, probe: &Probe) -> Vec<(f32, f32)> {
        let lexical = self.terms.lexical_scores(&probe.lexical);
        (0..self.len())
            .map(|doc| (dot(&probe.dense, self.vector(doc)), lexical[doc]))
            .collect()
    }

    /// The dense and the lexical cosine at the top [`LINK_TOP_SHARE`] of all pairs of pairs,
    /// over a sample of up to 800 pairs (320,000 pairs of pairs).
    fn link_thresholds(&self) -> [f32; 2] {
        let sample = spread_sample(self.len(), SIMILARITY_SAMPLE);
        let (mut dense, mut lexical): (Vec<f32>, Vec<f32>) = sample
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, &a)| sample[i + 1..].iter().map(move |&b| (a, b)))
            .map(|(a, b)| (self.semantic(a, b), self.lexical(a, b)))
            .unzip();
        [
            quantile(&mut dense, 1.0 - LINK_TOP_SHARE),
            quantile(&mut lexical, 1.0 - LINK_TOP_SHARE),
        ]
    }
}

/// The raw dense vector of a pair; see [`QUESTION_WEIGHT`].
fn pair_vector(vectors: &VectorIndex, doc: usize) -> Vec<f32> {
    let units = vectors.units_of_doc(doc);
    let dim = units.clone().next().map_or(0, |u| vectors.vector(u).len());
    let mut question = vec![0.0f32; dim];
    let mut answer = vec![0.0f32; dim];
    let mut has_question = false;
    for unit in units {
        if vectors.units()[unit].kind == UnitKind::Question {
            has_question = true;
            add_scaled(&mut question, vectors.vector(unit), 1.0);
        } else {
            add_scaled(&mut answer, vectors.vector(unit), 1.0);
        }
    }
    normalize(&mut question);
    normalize(&mut answer);
    let w = if has_question { QUESTION_WEIGHT } else { 0.0 };
    let mut out: Vec<f32> = question
        .iter()
        .zip(&answer)
        .map(|(q, a)| w * q + (1.0 - w) * a)
        .collect();
    normalize(&mut out);
    out
}

/// `target += scale · v`.
pub(crate) fn add_scaled(target: &mut [f32], v: &[f32], scale: f32) {
    target.iter_mut().zip(v).for_each(|(t, x)| *t += scale * x);
}

/// The `q`-quantile of `values` (which it sorts); 1 when there are none.
fn quantile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return 1.0;
    }
    values.sort_by(f32::total_cmp);
    let rank = (q * values.len() as f32).floor() as usize;
    values[rank.min(values.len() - 1)]
}

/// `min(n, max)` distinct indices of `0..n`, in order: all of them, or a sample drawn by a
/// fixed-seed generator, so that runs agree. Not every k-th index: a corpus ordered in a cycle
/// (sections taking turns) would be sampled from a few of its sections only.
pub(crate) fn spread_sample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    // Partial Fisher-Yates shuffle with xorshift64*.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut indices: Vec<usize> = (0..n).collect();
    for i in 0..max {
        let j = i + (next() % (n - i) as u64) as usize;
        indices.swap(i, j);
    }
    indices.truncate(max);
    indices.sort_unstable();
    indices
}

#[cfg(test)]
mod tests {
    use super::testing::{pairs, space, vectors};
    use super::*;
    use crate::corpus::units_of;
    use crate::corpus::Corpus;
    use crate::retrieve::dense::GraphPolicy;

    fn norm(v: &[f32]) -> f32 {
        dot(v, v).sqrt()
    }

    /// The same corpus writes the same file, whatever order the maps inside iterate in: an
    /// incremental build is to leave the very index a full build leaves.
    #[test]
    fn a_space_built_twice_is_saved_byte_for_byte_alike() {
        let dir = tempfile::tempdir().unwrap();
        let saved = |name: &str| {
            let path = dir.path().join(name);
            space().save(&path).unwrap();
            std::fs::read(&path).unwrap()
        };
        let first = saved("first.bin");
        for n in 0..8 {
            assert!(saved(&format!("{n}.bin")) == first, "build {n}");
        }
        let pairs = pairs().len();
        let loaded = PairSpace::load(&dir.path().join("first.bin"), pairs).unwrap();
        assert_eq!(loaded.similarity(0, 1), space().similarity(0, 1));
    }

    #[test]
    fn from_pairs_wants_one_vector_of_one_width_per_pair() {
        let pairs = pairs();
        assert!(PairSpace::from_pairs(&pairs, vectors()[..5].to_vec()).is_err());
        let mut vectors = vectors();
        vectors[3].push(1.0);
        assert!(PairSpace::from_pairs(&pairs, vectors).is_err());
        let empty = PairSpace::from_pairs(&[], Vec::new()).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.dim(), 0);
    }

    #[test]
    fn the_corpus_mean_is_taken_out_of_the_dense_parts() {
        let pairs = [QaPair::new("a", "", "eins"), QaPair::new("b", "", "zwei")];
        let raw = vec![vec![1.0, 0.1], vec![1.0, -0.1]];
        assert!(crate::embed::cosine(&raw[0], &raw[1]) > 0.98);
        let space = PairSpace::from_pairs(&pairs, raw).unwrap();
        // Without their common direction the two are opposite.
        assert!(
            (space.semantic(0, 1) + 1.0).abs() < 1e-5,
            "{}",
            space.semantic(0, 1)
        );
        for doc in 0..2 {
            assert!((norm(space.vector(doc)) - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn similarity_is_symmetric_and_highest_with_itself() {
        let space = space();
        for a in 0..space.len() {
            for b in 0..space.len() {
                assert_eq!(space.similarity(a, b), space.similarity(b, a), "{a} {b}");
                let expected = SEMANTIC_WEIGHT * space.semantic(a, b)
                    + (1.0 - SEMANTIC_WEIGHT) * space.lexical(a, b);
                assert_eq!(space.similarity(a, b), expected);
                if a != b {
                    assert!(
                        space.similarity(a, a) > space.similarity(a, b),
                        "{a} is more like {b} than like itself"
                    );
                }
            }
            assert!((space.semantic(a, a) - 1.0).abs() < 1e-5);
            assert!((space.lexical(a, a) - 1.0).abs() < 1e-5, "{a}");
        }
    }

    #[test]
    fn pairs_of_one_topic_are_nearest() {
        let space = space();
        for a in 0..space.len() {
            let partner = a ^ 1;
            let nearest = (0..space.len())
                .filter(|&b| b != a)
                .max_by(|&x, &y| space.similarity(a, x).total_cmp(&space.similarity(a, y)))
                .unwrap();
            assert_eq!(nearest, partner, "{}", space.id(a));
            assert!(space.lexical(a, partner) > 0.0);
        }
        // The topics share no distinctive word.
        assert_eq!(space.lexical(0, 2), 0.0);
        assert_eq!(space.lexical(1, 4), 0.0);
    }

    #[test]
    fn a_similarity_row_agrees_with_similarity() {
        let space = space();
        let all: Vec<usize> = (0..space.len()).collect();
        for a in 0..space.len() {
            let row = space.similarity_row(a, &all);
            for (b, s) in row.into_iter().enumerate() {
                let expected = if a == b { 1.0 } else { space.similarity(a, b) };
                assert!((s - expected).abs() < 1e-6, "{a} {b}: {s} vs {expected}");
            }
        }
    }

    #[test]
    fn a_text_is_placed_as_a_pair_would_be() {
        let space = space();
        let pairs = pairs();
        assert!(space.text_probe("Generator", &[1.0, 2.0]).is_none());
        let probe = space.text_probe(&pairs[2].question, &vectors()[2]).unwrap();
        assert_eq!(&*probe.dense, space.vector(2));
        let cosines = space.cosines(&probe);
        assert_eq!(cosines.len(), space.len());
        let best = (0..space.len())
            .max_by(|&a, &b| cosines[a].0.total_cmp(&cosines[b].0))
            .unwrap();
        assert_eq!(best, 2);
        // "Quantisierung" is the question's distinctive word, which pairs 2 and 3 share.
        assert!(cosines[2].1 > 0.0 && cosines[3].1 > 0.0, "{cosines:?}");
        assert_eq!(cosines[0].1, 0.0);
        // A pair's own probe gives its own similarities.
        let own = space.cosines(&space.probe(1));
        for (b, &(semantic, lexical)) in own.iter().enumerate() {
            assert!((semantic - space.semantic(1, b)).abs() < 1e-6);
            assert!((lexical - space.lexical(1, b)).abs() < 1e-6);
        }
    }

    #[test]
    fn a_pair_vector_mixes_question_and_answer_evenly() {
        let pairs = vec![
            QaPair::new("with-question", "Frage eins?", "Satz eins. Satz zwei."),
            QaPair::new("without-question", "", "Nur eine Antwort."),
        ];
        let corpus = Corpus::from_pairs(pairs.clone()).unwrap();
        let units = units_of(&corpus);
        let unit_vectors: Vec<Vec<f32>> = units
            .iter()
            .map(|u| match (u.doc, u.kind) {
                (0, UnitKind::Question) => vec![1.0, 0.0, 0.0],
                (0, _) => vec![0.0, 1.0, 0.0],
                _ => vec![0.0, 0.6, 0.8],
            })
            .collect();
        let index = VectorIndex::build(units, unit_vectors, GraphPolicy::Never).unwrap();
        let space = PairSpace::new(corpus.pairs(), &index);
        let expected = vec![vec![0.5, 0.5, 0.0], vec![0.0, 0.6, 0.8]];
        let reference = PairSpace::from_pairs(&pairs, expected).unwrap();
        for doc in 0..2 {
            let (got, expected) = (space.vector(doc), reference.vector(doc));
            assert!(
                got.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
                "{got:?} vs {expected:?}"
            );
        }
    }

    #[test]
    fn link_thresholds_are_high_cosines_of_the_corpus() {
        let space = space();
        let n = space.len();
        let above = |threshold: f32, cosine: &dyn Fn(usize, usize) -> f32| {
            (0..n)
                .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                .filter(|&(a, b)| cosine(a, b) >= threshold)
                .count()
        };
        // 15 pairs of pairs: the top tenth is the highest two.
        assert_eq!(
            above(space.semantic_threshold(), &|a, b| space.semantic(a, b)),
            2
        );
        assert!(above(space.lexical_threshold(), &|a, b| space.lexical(a, b)) >= 1);
        assert!(space.lexical_threshold() > 0.0);
    }

    #[test]
    fn a_spread_sample_is_all_or_a_fixed_spread() {
        assert_eq!(spread_sample(5, 10), vec![0, 1, 2, 3, 4]);
        let sample = spread_sample(1000, 100);
        assert_eq!(sample.len(), 100);
        assert!(
            sample.windows(2).all(|w| w[0] < w[1]),
            "sorted and distinct"
        );
        assert!(sample[0] < 100 && sample[99] > 900, "spread over the range");
        assert_eq!(sample, spread_sample(1000, 100));
    }

    #[test]
    fn quantiles_of_sorted_values() {
        assert_eq!(quantile(&mut [3.0, 1.0, 4.0, 2.0], 0.5), 3.0);
        assert_eq!(quantile(&mut [3.0, 1.0, 4.0, 2.0], 0.9), 4.0);
        assert_eq!(quantile(&mut [3.0, 1.0, 4.0, 2.0], 1.0), 4.0);
        assert_eq!(quantile(&mut [], 0.9), 1.0);
    }
}
