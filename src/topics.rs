//! How the pairs of a corpus relate to each other: the nearest other pairs of one pair
//! ("related", "see also"), the corpus grouped into topics, and a map of it.
//!
//! Everything here works on *pair vectors*, one per Q&A pair, derived from the unit embeddings
//! the index already holds (see [`PairSpace`]); nothing is embedded again. Explanations come
//! from the analyzed terms of question and answer, shown as the words the corpus writes.
//!
//! ```text
//! Index ─▶ PairSpace ─┬▶ related(doc, k)        nearest pairs, with similarity and shared terms
//!                     └▶ topics() ─▶ Topics ─▶ draw_map(&topics, "map.svg")
//! ```

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rayon::prelude::*;
use serde::Serialize;

use crate::analysis;
use crate::corpus::QaPair;
use crate::error::{Error, IoContext, Result};
use crate::index::Index;
use crate::vector::UnitKind;

/// Share of the question in a pair vector; the answer's sentences, averaged, carry the rest.
///
/// The question says what a pair is *about* in a dozen words, the answer's sentences say it
/// again with the details that set close topics apart. Averaging all units alike would let a
/// long answer drown its question (an answer of 25 sentences would make the question 4 % of the
/// vector), so the two halves are normalised apart and mixed. Measured on the bundled corpus
/// (`tests/topics.rs`): the question alone puts LoRA next to other "Was ist …" questions and
/// misses its link to fine-tuned models; the answer alone splits the GAN questions whose answers
/// go into different details; an even mix keeps the four GAN pairs together and LoRA next to
/// the foundation-vs-fine-tuned pair.
pub const QUESTION_WEIGHT: f32 = 0.5;

/// A pair's nearest neighbour counts as semantically close when its similarity is in the top
/// this share of all pair-to-pair similarities of the corpus.
pub const SEMANTIC_TOP_SHARE: f32 = 0.05;

/// Shared terms make a lexical link when their IDFs add up to at least this: two terms each
/// rarer than in a quarter of the pairs, or one that only a handful of pairs use.
pub const LEXICAL_MIN_IDF: f32 = 4.0 * std::f32::consts::LN_2; // 2·ln 4

/// Two pairs this similar say the same thing: listed as near-duplicates by [`PairSpace::topics`].
pub const NEAR_DUPLICATE_SIMILARITY: f32 = 0.97;

/// Pairs clustered directly at most; beyond, an evenly spread sample is clustered and the rest
/// join the topic of the nearest centroid (average linkage needs the full similarity matrix).
pub const MAX_CLUSTERED: usize = 1500;

/// How many key terms a [`Related`] shows at most.
const MAX_SHARED_TERMS: usize = 5;
/// Pairs sampled to learn the corpus's similarity distribution.
const SIMILARITY_SAMPLE: usize = 800;
/// Terms in a question count this many times over terms in the answer, as in BM25.
const QUESTION_TERM_WEIGHT: f32 = 2.0;

/// Words that carry no topic in interview-style questions, or English function words that the
/// German stop list lets through. Removed (by stem) from key terms and labels, not from search.
const FILLER_WORDS: &str = "mal paar gibt gibt's kannst kann könnte könntest würdest würde \
    erkläre erklär erklären erklärt erzähl erzähle beschreibe beschreiben bitte genau eigentlich \
    wichtig wichtigsten bestimmte verschiedene verwendet verwenden nutzen genutzt beim bzw usw \
    etwa sowie z b dabei dadurch daher deshalb also wurde wurden sodass oft häufig einfach \
    the of and to in is are for on with as by a an or it be that this from at not can which \
    how what why when more than into its their they them such also use used using";

/// Pair vectors and the term statistics that explain them.
pub struct PairSpace {
    dim: usize,
    /// The mean of the raw pair vectors, taken out of every one (see [`PairSpace::from_pairs`]).
    mean: Vec<f32>,
    /// Row-major, one unit-length row per pair.
    vectors: Vec<f32>,
    pairs: Vec<PairInfo>,
    terms: Terms,
    /// Similarity from which a neighbour is [`Link::Semantic`], from [`SEMANTIC_TOP_SHARE`].
    semantic_above: f32,
}

struct PairInfo {
    id: String,
    question: String,
    title: String,
}

/// Analyzed terms of the corpus, with a readable surface word for each.
struct Terms {
    /// Term id by stem.
    ids: HashMap<String, u32>,
    /// Per term id: the surface word most often written for it.
    surface: Vec<String>,
    /// Per term id: number of pairs that use it.
    df: Vec<u32>,
    /// Per term id: whether it may be shown (not filler, not a number).
    shown: Vec<bool>,
    /// Per pair: (term id, weighted count), sorted by term id.
    bags: Vec<Vec<(u32, f32)>>,
}

/// How a related pair is related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Close in meaning, for this corpus (see [`SEMANTIC_TOP_SHARE`]), with few shared terms.
    Semantic,
    /// Shares distinctive terms (see [`LEXICAL_MIN_IDF`]) without being especially close.
    Lexical,
    Both,
    /// Among the nearest, but neither notably close nor sharing distinctive terms.
    Weak,
}

/// A pair related to another pair or to a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    /// Ordinal in the corpus.
    pub doc: usize,
    pub id: String,
    pub question: String,
    /// Cosine similarity of the pair vectors.
    pub similarity: f32,
    pub link: Link,
    /// Distinctive words both use, most telling first, as the corpus writes them.
    pub shared_terms: Vec<String>,
}

/// The corpus grouped into topics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topics {
    /// Largest first. Every pair is a member of exactly one.
    pub topics: Vec<Topic>,
    /// Pairs at least [`NEAR_DUPLICATE_SIMILARITY`] alike, most similar first; they keep their
    /// topic as well.
    pub near_duplicates: Vec<NearDuplicate>,
    /// Mean silhouette of the chosen grouping, in [-1, 1]: how much closer pairs are to their
    /// own topic than to the next one.
    pub silhouette: f32,
    /// One per pair, in corpus order: where it lies on the map.
    pub points: Vec<MapPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// The key terms joined by ", ".
    pub label: String,
    /// Two to four words that set the topic apart from the rest of the corpus.
    pub terms: Vec<String>,
    /// Member ids, in corpus order.
    pub members: Vec<String>,
    /// Member ordinals, in corpus order.
    pub docs: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearDuplicate {
    pub a: String,
    pub b: String,
    pub similarity: f32,
}

/// A pair on the topic map: the first two principal components of the pair vectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub doc: usize,
    pub id: String,
    /// A few words naming the pair on the map: its id when the id is readable, else the
    /// beginning of the question.
    pub title: String,
    /// Index into [`Topics::topics`].
    pub topic: usize,
    pub x: f32,
    pub y: f32,
}

impl PairSpace {
    /// The pair space of a loaded index. Costs one pass over the unit vectors and one analysis
    /// of the corpus text; build it once and ask it many times.
    pub fn new(index: &Index) -> PairSpace {
        let vectors: Vec<Vec<f32>> = (0..index.corpus.len())
            .into_par_iter()
            .map(|doc| pair_vector(index, doc))
            .collect();
        PairSpace::from_pairs(index.corpus.pairs(), vectors)
            .expect("the index has one vector of one width per pair")
    }

    /// A pair space over `pairs` with the given pair vectors (normalised here), for pairs whose
    /// vectors come from elsewhere, and for tests.
    pub fn from_pairs(pairs: &[QaPair], vectors: Vec<Vec<f32>>) -> Result<PairSpace> {
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
        let mut vectors = vectors;
        vectors.iter_mut().for_each(|v| normalize(v));
        let mut mean = vec![0.0f32; dim];
        for v in &vectors {
            mean.iter_mut()
                .zip(v)
                .for_each(|(m, x)| *m += x / pairs.len() as f32);
        }
        let mut flat = Vec::with_capacity(pairs.len() * dim);
        for v in &mut vectors {
            v.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
            normalize(v);
            flat.extend_from_slice(v);
        }
        let infos = pairs
            .iter()
            .map(|p| PairInfo {
                id: p.id.clone(),
                question: p.question.clone(),
                title: short_title(p),
            })
            .collect();
        let mut space = PairSpace {
            dim,
            mean,
            vectors: flat,
            pairs: infos,
            terms: Terms::of(pairs),
            semantic_above: 1.0,
        };
        space.semantic_above = space.similarity_quantile(1.0 - SEMANTIC_TOP_SHARE);
        Ok(space)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Width of the pair vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit-length vector of pair `doc`.
    pub fn vector(&self, doc: usize) -> &[f32] {
        &self.vectors[doc * self.dim..(doc + 1) * self.dim]
    }

    /// Similarity from which a neighbour counts as semantically close in this corpus.
    pub fn semantic_threshold(&self) -> f32 {
        self.semantic_above
    }

    /// Cosine similarity of two pairs.
    pub fn similarity(&self, a: usize, b: usize) -> f32 {
        dot(self.vector(a), self.vector(b))
    }

    /// The `k` pairs nearest to pair `doc`, itself excluded, best first.
    pub fn related(&self, doc: usize, k: usize) -> Vec<Related> {
        let bag = &self.terms.bags[doc];
        self.nearest(self.vector(doc), Some(doc), k)
            .into_iter()
            .map(|(other, similarity)| self.explain(bag, other, similarity))
            .collect()
    }

    /// The `k` pairs nearest to a text that is not in the corpus, best first. `vector` is the
    /// text's embedding; embed it as a passage (as the index embeds questions and answers) so
    /// that it lies among the pair vectors. `text` only explains the links.
    pub fn related_to_text(&self, text: &str, vector: &[f32], k: usize) -> Vec<Related> {
        let mut query = vector.to_vec();
        normalize(&mut query);
        if query.len() == self.dim {
            query.iter_mut().zip(&self.mean).for_each(|(x, m)| *x -= m);
            normalize(&mut query);
        }
        let bag = self.terms.bag_of(text);
        self.nearest(&query, None, k)
            .into_iter()
            .map(|(other, similarity)| self.explain(&bag, other, similarity))
            .collect()
    }

    /// Brute force over all pair vectors: 10,000 pairs of 384 dimensions are 4 million
    /// multiply-adds, a few milliseconds.
    fn nearest(&self, query: &[f32], skip: Option<usize>, k: usize) -> Vec<(usize, f32)> {
        if self.dim == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .chunks_exact(self.dim)
            .enumerate()
            .filter(|&(doc, _)| Some(doc) != skip)
            .map(|(doc, v)| (doc, dot(query, v)))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        let best_first =
            |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k < scored.len() {
            scored.select_nth_unstable_by(k - 1, best_first);
            scored.truncate(k);
        }
        scored.sort_by(best_first);
        scored
    }

    fn explain(&self, bag: &[(u32, f32)], other: usize, similarity: f32) -> Related {
        let (shared_terms, idf_mass) = self.terms.shared(bag, &self.terms.bags[other], self.len());
        let semantic = similarity >= self.semantic_above;
        let lexical = idf_mass >= LEXICAL_MIN_IDF;
        let link = match (semantic, lexical) {
            (true, true) => Link::Both,
            (true, false) => Link::Semantic,
            (false, true) => Link::Lexical,
            (false, false) => Link::Weak,
        };
        Related {
            doc: other,
            id: self.pairs[other].id.clone(),
            question: self.pairs[other].question.clone(),
            similarity,
            link,
            shared_terms,
        }
    }

    /// The `q`-quantile of pair-to-pair similarities, over an evenly spread sample of pairs.
    fn similarity_quantile(&self, q: f32) -> f32 {
        let sample = spread_sample(self.len(), SIMILARITY_SAMPLE);
        let mut sims: Vec<f32> = sample
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, &a)| sample[i + 1..].iter().map(move |&b| (a, b)))
            .map(|(a, b)| self.similarity(a, b))
            .collect();
        if sims.is_empty() {
            return 1.0;
        }
        sims.sort_by(f32::total_cmp);
        let rank = ((q * sims.len() as f32).floor() as usize).min(sims.len() - 1);
        sims[rank]
    }

    /// Groups the corpus into topics; see [`Topics`].
    ///
    /// Average-linkage agglomerative clustering on cosine distance of the pair vectors, cut where
    /// the mean silhouette is best among 2 to 2·√n topics: the data, not a constant, decides how
    /// many topics there are.
    pub fn topics(&self) -> Topics {
        let n = self.len();
        let assignment = match n {
            0 => Vec::new(),
            1 | 2 => vec![0; n],
            _ => self.cluster(),
        };
        let (assignment, silhouette) = assignment_with_silhouette(self, assignment);
        let topics = self.describe(&assignment);
        // Renumber so that topics come largest first.
        let mut new_index = vec![0; topics.len()];
        for (new, (old, _)) in topics.iter().enumerate() {
            new_index[*old] = new;
        }
        let projection = self.project();
        let points = (0..n)
            .map(|doc| MapPoint {
                doc,
                id: self.pairs[doc].id.clone(),
                title: self.pairs[doc].title.clone(),
                topic: new_index[assignment[doc]],
                x: projection[doc].0,
                y: projection[doc].1,
            })
            .collect();
        Topics {
            topics: topics.into_iter().map(|(_, t)| t).collect(),
            near_duplicates: self.near_duplicates(),
            silhouette,
            points,
        }
    }

    /// Cluster label per pair.
    fn cluster(&self) -> Vec<usize> {
        let n = self.len();
        let sample = spread_sample(n, MAX_CLUSTERED);
        let m = sample.len();
        let distance: Vec<f32> = (0..m * m)
            .into_par_iter()
            .map(|ij| {
                let (i, j) = (ij / m, ij % m);
                if i == j {
                    0.0
                } else {
                    (1.0 - self.similarity(sample[i], sample[j])).max(0.0)
                }
            })
            .collect();
        let merges = average_linkage(distance.clone(), m);
        let max_k = ((2.0 * (m as f32).sqrt()).round() as usize).clamp(2, m - 1);
        let labels = best_cut(&merges, &distance, m, 2..=max_k);
        if m == n {
            return labels;
        }
        // The pairs outside the sample join the topic whose centroid is nearest.
        let k = labels.iter().max().map_or(0, |&l| l + 1);
        let mut centroids = vec![vec![0.0f32; self.dim]; k];
        for (&doc, &label) in sample.iter().zip(&labels) {
            for (c, x) in centroids[label].iter_mut().zip(self.vector(doc)) {
                *c += x;
            }
        }
        centroids.iter_mut().for_each(|c| normalize(c));
        let mut out = vec![usize::MAX; n];
        for (&doc, &label) in sample.iter().zip(&labels) {
            out[doc] = label;
        }
        out.par_iter_mut().enumerate().for_each(|(doc, label)| {
            if *label == usize::MAX {
                *label = (0..k)
                    .max_by(|&a, &b| {
                        dot(self.vector(doc), &centroids[a])
                            .total_cmp(&dot(self.vector(doc), &centroids[b]))
                    })
                    .unwrap_or(0);
            }
        });
        out
    }

    /// Topics with their labels, paired with their cluster number, largest first.
    fn describe(&self, assignment: &[usize]) -> Vec<(usize, Topic)> {
        let k = assignment.iter().max().map_or(0, |&l| l + 1);
        let mut docs = vec![Vec::new(); k];
        for (doc, &label) in assignment.iter().enumerate() {
            docs[label].push(doc);
        }
        let labels = self.terms.class_labels(&docs);
        let mut topics: Vec<(usize, Topic)> = docs
            .into_iter()
            .zip(labels)
            .enumerate()
            .filter(|(_, (members, _))| !members.is_empty())
            .map(|(cluster, (members, terms))| {
                let terms = if terms.is_empty() {
                    vec![self.pairs[members[0]].title.clone()]
                } else {
                    terms
                };
                let topic = Topic {
                    label: terms.join(", "),
                    terms,
                    members: members.iter().map(|&d| self.pairs[d].id.clone()).collect(),
                    docs: members,
                };
                (cluster, topic)
            })
            .collect();
        topics.sort_by(|a, b| {
            b.1.docs
                .len()
                .cmp(&a.1.docs.len())
                .then(a.1.docs[0].cmp(&b.1.docs[0]))
        });
        topics
    }

    fn near_duplicates(&self) -> Vec<NearDuplicate> {
        let mut found: Vec<NearDuplicate> = (0..self.len())
            .into_par_iter()
            .flat_map_iter(|a| {
                (a + 1..self.len()).filter_map(move |b| {
                    let similarity = self.similarity(a, b);
                    (similarity >= NEAR_DUPLICATE_SIMILARITY).then(|| NearDuplicate {
                        a: self.pairs[a].id.clone(),
                        b: self.pairs[b].id.clone(),
                        similarity,
                    })
                })
            })
            .collect();
        found.sort_by(|x, y| y.similarity.total_cmp(&x.similarity));
        found
    }

    /// The first two principal components of the pair vectors, by power iteration from a fixed
    /// start: the same corpus gives the same map.
    fn project(&self) -> Vec<(f32, f32)> {
        let (n, dim) = (self.len(), self.dim);
        if n == 0 || dim == 0 {
            return vec![(0.0, 0.0); n];
        }
        let mut mean = vec![0.0f32; dim];
        for v in self.vectors.chunks_exact(dim) {
            mean.iter_mut().zip(v).for_each(|(m, x)| *m += x / n as f32);
        }
        let centered: Vec<f32> = self
            .vectors
            .chunks_exact(dim)
            .flat_map(|v| v.iter().zip(&mean).map(|(x, m)| x - m))
            .collect();
        let first = principal_component(&centered, dim, &[]);
        let second = principal_component(&centered, dim, std::slice::from_ref(&first));
        centered
            .chunks_exact(dim)
            .map(|v| (dot(v, &first), dot(v, &second)))
            .collect()
    }
}

/// See [`QUESTION_WEIGHT`].
fn pair_vector(index: &Index, doc: usize) -> Vec<f32> {
    let vectors = &index.vectors;
    let dim = vectors
        .len()
        .checked_sub(1)
        .map_or(0, |_| vectors.vector(0).len());
    let mut question = vec![0.0f32; dim];
    let mut answer = vec![0.0f32; dim];
    let mut has_question = false;
    for unit in vectors.units_of_doc(doc) {
        let target = if vectors.units()[unit].kind == UnitKind::Question {
            has_question = true;
            &mut question
        } else {
            &mut answer
        };
        target
            .iter_mut()
            .zip(vectors.vector(unit))
            .for_each(|(t, x)| *t += x);
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

impl Terms {
    fn of(pairs: &[QaPair]) -> Terms {
        let filler: std::collections::HashSet<String> =
            analysis::terms(&mut analysis::german_analyzer(), FILLER_WORDS)
                .into_iter()
                .collect();
        // Per pair: (stem, surface, weight) for every token.
        let analyzed: Vec<Vec<(String, String, f32)>> = pairs
            .par_iter()
            .map_init(analysis::german_analyzer, |analyzer, pair| {
                let mut out = tokens(analyzer, &pair.question, QUESTION_TERM_WEIGHT);
                out.extend(tokens(analyzer, &pair.answer, 1.0));
                out
            })
            .collect();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut surfaces: Vec<HashMap<String, (u32, usize)>> = Vec::new();
        let mut df: Vec<u32> = Vec::new();
        let mut shown = Vec::new();
        let mut bags = Vec::with_capacity(pairs.len());
        let mut seen_at = 0usize;
        for tokens in analyzed {
            let mut bag: HashMap<u32, f32> = HashMap::new();
            for (stem, surface, weight) in tokens {
                let id = *ids.entry(stem.clone()).or_insert_with(|| {
                    surfaces.push(HashMap::new());
                    df.push(0);
                    shown.push(!filler.contains(&stem) && is_showable(&surface));
                    (surfaces.len() - 1) as u32
                });
                seen_at += 1;
                surfaces[id as usize]
                    .entry(surface)
                    .or_insert((0, seen_at))
                    .0 += 1;
                *bag.entry(id).or_default() += weight;
            }
            for &id in bag.keys() {
                df[id as usize] += 1;
            }
            let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
            bag.sort_by_key(|&(id, _)| id);
            bags.push(bag);
        }
        let surface = surfaces
            .into_iter()
            .map(|forms| {
                // The most frequent spelling; among equals, the first seen.
                forms
                    .into_iter()
                    .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                    .map(|(s, _)| s)
                    .unwrap_or_default()
            })
            .collect();
        Terms {
            ids,
            surface,
            df,
            shown,
            bags,
        }
    }

    /// The bag of a text outside the corpus, over the corpus's vocabulary.
    fn bag_of(&self, text: &str) -> Vec<(u32, f32)> {
        let mut bag: HashMap<u32, f32> = HashMap::new();
        for stem in analysis::terms(&mut analysis::german_analyzer(), text) {
            if let Some(&id) = self.ids.get(&stem) {
                *bag.entry(id).or_default() += 1.0;
            }
        }
        let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
        bag.sort_by_key(|&(id, _)| id);
        bag
    }

    fn idf(&self, id: u32, n: usize) -> f32 {
        (n as f32 / self.df[id as usize].max(1) as f32).ln()
    }

    /// Shown terms both bags hold and fewer than a quarter of the pairs use, most telling
    /// first, and the sum of their IDFs.
    fn shared(&self, a: &[(u32, f32)], b: &[(u32, f32)], n: usize) -> (Vec<String>, f32) {
        let common_df = (n as f32 / 4.0).max(2.0);
        let mut shared: Vec<(u32, f32)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let id = a[i].0;
                    if self.shown[id as usize] && (self.df[id as usize] as f32) <= common_df {
                        let idf = self.idf(id, n);
                        shared.push((id, idf * a[i].1.min(b[j].1).sqrt()));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        let mass = shared.iter().map(|&(id, _)| self.idf(id, n)).sum();
        shared.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let words = shared
            .into_iter()
            .take(MAX_SHARED_TERMS)
            .map(|(id, _)| self.surface[id as usize].clone())
            .collect();
        (words, mass)
    }

    /// Two to four words per class that set it apart from the others: class-based TF-IDF
    /// (the class's term frequency times log(1 + average class size / the term's frequency in
    /// the corpus)), times the share of members using the term, so that a word one long answer
    /// repeats does not name a topic of several pairs.
    fn class_labels(&self, classes: &[Vec<usize>]) -> Vec<Vec<String>> {
        let vocabulary = self.surface.len();
        let mut total = vec![0.0f32; vocabulary];
        let mut class_tf: Vec<HashMap<u32, (f32, u32)>> = Vec::with_capacity(classes.len());
        for members in classes {
            let mut tf: HashMap<u32, (f32, u32)> = HashMap::new();
            for &doc in members {
                for &(id, weight) in &self.bags[doc] {
                    let entry = tf.entry(id).or_default();
                    entry.0 += weight;
                    entry.1 += 1;
                    total[id as usize] += weight;
                }
            }
            class_tf.push(tf);
        }
        let class_sizes: Vec<f32> = class_tf
            .iter()
            .map(|tf| tf.values().map(|v| v.0).sum())
            .collect();
        let non_empty = class_sizes.iter().filter(|&&s| s > 0.0).count().max(1);
        let average = class_sizes.iter().sum::<f32>() / non_empty as f32;
        class_tf
            .iter()
            .zip(classes)
            .zip(&class_sizes)
            .map(|((tf, members), &size)| {
                let mut scored: Vec<(u32, f32)> = tf
                    .iter()
                    .filter(|(&id, _)| self.shown[id as usize])
                    .map(|(&id, &(weight, used_by))| {
                        let ctfidf = weight / size * (1.0 + average / total[id as usize]).ln();
                        let coverage = used_by as f32 / members.len() as f32;
                        (id, ctfidf * coverage)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let top = scored.first().map_or(0.0, |s| s.1);
                let mut words: Vec<String> = Vec::new();
                for (id, score) in scored {
                    if words.len() == 4 || (words.len() >= 2 && score < 0.4 * top) {
                        break;
                    }
                    let word = &self.surface[id as usize];
                    if !words.iter().any(|w| w.eq_ignore_ascii_case(word)) {
                        words.push(word.clone());
                    }
                }
                words
            })
            .collect()
    }
}

/// The tokens of `text` as (stem, surface word, weight).
fn tokens(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    text: &str,
    weight: f32,
) -> Vec<(String, String, f32)> {
    use tantivy::tokenizer::TokenStream;
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let surface = &text[token.offset_from..token.offset_to];
        out.push((token.text.clone(), surface.to_string(), weight));
    }
    out
}

/// Whether a surface word can stand in a label: two letters at least, not a number.
fn is_showable(surface: &str) -> bool {
    surface.chars().filter(|c| c.is_alphabetic()).count() >= 2
}

/// The pair's id when it reads as words, else the first words of its question.
fn short_title(pair: &QaPair) -> String {
    const MAX_CHARS: usize = 30;
    if pair.id.chars().any(char::is_alphabetic) && pair.id.chars().count() <= MAX_CHARS {
        return pair.id.clone();
    }
    let source = if pair.question.is_empty() {
        &pair.answer
    } else {
        &pair.question
    };
    let mut title = String::new();
    for word in source.split_whitespace() {
        if title.chars().count() + word.chars().count() + 1 > MAX_CHARS {
            if title.is_empty() {
                title = word.chars().take(MAX_CHARS - 1).collect();
            }
            title.push('…');
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    title
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// `min(n, max)` indices spread evenly over `0..n`.
fn spread_sample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

/// One merge of two clusters at a distance.
#[derive(Debug, Clone, Copy)]
struct Merge {
    a: usize,
    b: usize,
    height: f32,
}

/// Average-linkage agglomerative clustering of `n` points by the nearest-neighbour chain
/// algorithm, O(n²) time on a full distance matrix (which it overwrites). Returns the n - 1
/// merges, lowest first.
fn average_linkage(mut d: Vec<f32>, n: usize) -> Vec<Merge> {
    let mut active = vec![true; n];
    let mut size = vec![1usize; n];
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push(active.iter().position(|&a| a).expect("clusters remain"));
        }
        let (a, b) = loop {
            let a = *chain.last().expect("chain is not empty");
            let previous = chain.len().checked_sub(2).map(|i| chain[i]);
            let mut best = previous;
            let mut best_d = previous.map_or(f32::INFINITY, |p| d[a * n + p]);
            for j in 0..n {
                if active[j] && j != a && d[a * n + j] < best_d {
                    best_d = d[a * n + j];
                    best = Some(j);
                }
            }
            let b = best.expect("another cluster remains");
            if Some(b) == previous {
                break (a, b);
            }
            chain.push(b);
        };
        chain.truncate(chain.len() - 2);
        let (keep, gone) = (a.min(b), a.max(b));
        let height = d[a * n + b];
        let (sk, sg) = (size[keep] as f32, size[gone] as f32);
        for j in 0..n {
            if active[j] && j != keep && j != gone {
                let merged = (sk * d[keep * n + j] + sg * d[gone * n + j]) / (sk + sg);
                d[keep * n + j] = merged;
                d[j * n + keep] = merged;
            }
        }
        active[gone] = false;
        size[keep] += size[gone];
        remaining -= 1;
        merges.push(Merge {
            a: keep,
            b: gone,
            height,
        });
    }
    merges.sort_by(|x, y| x.height.total_cmp(&y.height));
    merges
}

/// The cut of the dendrogram into k clusters, for the k in `range` with the best mean
/// silhouette (ties to fewer clusters). Labels are 0..k in order of first member.
fn best_cut(
    merges: &[Merge],
    distance: &[f32],
    n: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut clusters = n;
    let mut cuts: Vec<Vec<usize>> = Vec::new();
    if range.contains(&clusters) {
        cuts.push((0..n).collect());
    }
    for merge in merges {
        let (ra, rb) = (find(&mut parent, merge.a), find(&mut parent, merge.b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
            clusters -= 1;
        }
        if range.contains(&clusters) {
            cuts.push((0..n).map(|x| find(&mut parent, x)).collect());
        }
    }
    // Fewest clusters first, so that ties go to the simpler grouping.
    let mut best: Option<(f32, Vec<usize>)> = None;
    for cut in cuts.into_iter().rev() {
        let labels = compact_labels(&cut);
        let score = silhouette(distance, n, &labels);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, labels));
        }
    }
    best.map_or_else(|| vec![0; n], |(_, labels)| labels)
}

/// Labels renumbered 0.. in order of first appearance.
fn compact_labels(raw: &[usize]) -> Vec<usize> {
    let mut map: HashMap<usize, usize> = HashMap::new();
    raw.iter()
        .map(|r| {
            let next = map.len();
            *map.entry(*r).or_insert(next)
        })
        .collect()
}

/// Mean silhouette of a labelling under a full distance matrix; members of singleton clusters
/// count 0, as usual.
fn silhouette(distance: &[f32], n: usize, labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    if k < 2 {
        return 0.0;
    }
    let mut counts = vec![0usize; k];
    labels.iter().for_each(|&l| counts[l] += 1);
    let total: f32 = (0..n)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if counts[own] <= 1 {
                return 0.0;
            }
            let mut sums = vec![0.0f32; k];
            for j in 0..n {
                sums[labels[j]] += distance[i * n + j];
            }
            let a = sums[own] / (counts[own] - 1) as f32;
            let b = (0..k)
                .filter(|&c| c != own && counts[c] > 0)
                .map(|c| sums[c] / counts[c] as f32)
                .fold(f32::INFINITY, f32::min);
            let denominator = a.max(b);
            if denominator > 0.0 {
                (b - a) / denominator
            } else {
                0.0
            }
        })
        .sum();
    total / n as f32
}

/// The silhouette of any assignment over all pairs (sampled when large), for the report.
fn assignment_with_silhouette(space: &PairSpace, assignment: Vec<usize>) -> (Vec<usize>, f32) {
    let sample = spread_sample(space.len(), MAX_CLUSTERED);
    let m = sample.len();
    let distance: Vec<f32> = (0..m * m)
        .into_par_iter()
        .map(|ij| {
            let (i, j) = (ij / m, ij % m);
            (1.0 - space.similarity(sample[i], sample[j])).max(0.0)
        })
        .collect();
    let labels: Vec<usize> =
        compact_labels(&sample.iter().map(|&d| assignment[d]).collect::<Vec<_>>());
    let score = silhouette(&distance, m, &labels);
    (assignment, score)
}

/// The leading eigenvector of the covariance of `rows` (row-major, `dim` wide), orthogonal to
/// `against`, by power iteration from a fixed start. Its largest entry is made positive.
fn principal_component(rows: &[f32], dim: usize, against: &[Vec<f32>]) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim)
        .map(|i| 1.0 + ((i * 7919) % 97) as f32 / 97.0)
        .collect();
    let orthogonalize = |v: &mut Vec<f32>| {
        for u in against {
            let p = dot(v, u);
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= p * y);
        }
        normalize(v);
    };
    orthogonalize(&mut v);
    for _ in 0..300 {
        let mut next = vec![0.0f32; dim];
        for row in rows.chunks_exact(dim) {
            let p = dot(row, &v);
            next.iter_mut().zip(row).for_each(|(n, x)| *n += p * x);
        }
        orthogonalize(&mut next);
        let change: f32 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if change < 1e-6 {
            break;
        }
    }
    let largest = v
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or(0.0);
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------------

const MAP_WIDTH: u32 = 1400;
const MAP_HEIGHT: u32 = 900;
/// Width of the legend column at the right.
const LEGEND_WIDTH: i32 = 380;
const LABEL_FONT: f64 = 11.0;
const LEGEND_FONT: f64 = 13.0;
const POINT_RADIUS: i32 = 5;
/// Above this many pairs points are not labelled: the legend and colours still tell topics apart.
const MAX_LABELLED: usize = 200;

/// Distinct colours for the first topics (Tableau 10 and a few more); later ones get hues.
const PALETTE: [(u8, u8, u8); 12] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 128),
    (128, 128, 0),
];

fn topic_colour(topic: usize) -> RGBColor {
    if let Some(&(r, g, b)) = PALETTE.get(topic) {
        return RGBColor(r, g, b);
    }
    let hue = (topic as f64 * 0.618_034).fract();
    let HSLColor(h, s, l) = HSLColor(hue, 0.65, 0.45);
    let rgb = HSLColor(h, s, l).to_backend_color().rgb;
    RGBColor(rgb.0, rgb.1, rgb.2)
}

/// Writes the topic map as SVG to `path`; see [`map_svg`].
pub fn draw_map(topics: &Topics, path: &Path) -> Result<()> {
    let svg = map_svg(topics)?;
    std::fs::write(path, svg).context(|| format!("cannot write the map to {}", path.display()))
}

/// The topic map as an SVG document: one dot per pair at its place on the first two principal
/// components, coloured by topic and labelled with its title, with a legend of topic labels.
pub fn map_svg(topics: &Topics) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (MAP_WIDTH, MAP_HEIGHT)).into_drawing_area();
        render(topics, &root).map_err(|e| Error::Usage(format!("cannot draw the map: {e}")))?;
        root.present()
            .map_err(|e| Error::Usage(format!("cannot draw the map: {e}")))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An axis-aligned box in pixels: left, top, right, bottom.
type Box2 = (f64, f64, f64, f64);

fn overlap(a: Box2, b: Box2) -> f64 {
    let w = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let h = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    w * h
}

/// Rough width of a text in pixels for a sans-serif font: the SVG has no font metrics.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

fn render(topics: &Topics, root: &Area) -> DrawResult {
    root.fill(&WHITE)?;
    let n = topics.points.len();
    let font = |size: f64| ("sans-serif", size).into_font();
    root.draw(&Text::new(
        format!(
            "{} pairs, {} topics (first two principal components of the pair vectors)",
            n,
            topics.topics.len()
        ),
        (20, 14),
        font(15.0).color(&BLACK),
    ))?;

    // The plot region, with room for labels to the right of the rightmost points.
    let (left, top) = (30.0, 50.0);
    let right = f64::from(MAP_WIDTH as i32 - LEGEND_WIDTH) - 150.0;
    let bottom = f64::from(MAP_HEIGHT) - 30.0;
    let (min_x, max_x) = bounds(topics.points.iter().map(|p| p.x));
    let (min_y, max_y) = bounds(topics.points.iter().map(|p| p.y));
    let place = |x: f32, y: f32| -> (f64, f64) {
        let fx = if max_x > min_x {
            (f64::from(x) - min_x) / (max_x - min_x)
        } else {
            0.5
        };
        let fy = if max_y > min_y {
            (f64::from(y) - min_y) / (max_y - min_y)
        } else {
            0.5
        };
        (left + fx * (right - left), bottom - fy * (bottom - top))
    };
    let positions: Vec<(f64, f64)> = topics.points.iter().map(|p| place(p.x, p.y)).collect();
    root.draw(&Rectangle::new(
        [
            (10, 36),
            (MAP_WIDTH as i32 - LEGEND_WIDTH - 10, MAP_HEIGHT as i32 - 10),
        ],
        RGBColor(220, 220, 220).stroke_width(1),
    ))?;

    // Labels first (placed around the points, avoiding each other), then points on top.
    if n <= MAX_LABELLED {
        let labels = place_labels(topics, &positions);
        for (point, label) in topics.points.iter().zip(labels) {
            let colour = topic_colour(point.topic);
            if let Some((x0, y0)) = label.leader {
                root.draw(&PathElement::new(
                    vec![
                        (x0 as i32, y0 as i32),
                        (label.anchor.0 as i32, label.anchor.1 as i32),
                    ],
                    colour.mix(0.5).stroke_width(1),
                ))?;
            }
            let style = font(LABEL_FONT)
                .color(&RGBColor(40, 40, 40))
                .pos(Pos::new(label.h, VPos::Center));
            root.draw(&Text::new(
                point.title.clone(),
                (label.anchor.0 as i32, label.anchor.1 as i32),
                style,
            ))?;
        }
    }
    for (point, &(x, y)) in topics.points.iter().zip(&positions) {
        let colour = topic_colour(point.topic);
        root.draw(&Circle::new(
            (x as i32, y as i32),
            POINT_RADIUS,
            colour.filled(),
        ))?;
    }

    // Legend.
    let legend_x = MAP_WIDTH as i32 - LEGEND_WIDTH + 10;
    let mut y = 50;
    root.draw(&Text::new(
        "Topics".to_string(),
        (legend_x, y),
        font(LEGEND_FONT + 2.0).color(&BLACK),
    ))?;
    y += 24;
    let max_chars = ((f64::from(LEGEND_WIDTH) - 50.0) / (LEGEND_FONT * 0.56)) as usize;
    for (i, topic) in topics.topics.iter().enumerate() {
        if y > MAP_HEIGHT as i32 - 20 {
            root.draw(&Text::new(
                format!("… {} more", topics.topics.len() - i),
                (legend_x, y),
                font(LEGEND_FONT).color(&BLACK),
            ))?;
            break;
        }
        root.draw(&Rectangle::new(
            [(legend_x, y), (legend_x + 14, y + 14)],
            topic_colour(i).filled(),
        ))?;
        let mut text = format!("{} ({})", topic.label, topic.docs.len());
        if text.chars().count() > max_chars {
            text = text
                .chars()
                .take(max_chars.saturating_sub(1))
                .collect::<String>()
                + "…";
        }
        root.draw(&Text::new(
            text,
            (legend_x + 22, y + 7),
            font(LEGEND_FONT)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 22;
    }
    Ok(())
}

fn bounds(values: impl Iterator<Item = f32>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(f64::from(v)), hi.max(f64::from(v)))
    })
}

struct PlacedLabel {
    anchor: (f64, f64),
    h: HPos,
    /// Where the leader line starts, for labels set away from their point.
    leader: Option<(f64, f64)>,
}

/// Greedy label placement: each label, most crowded point first, takes the first of a ring of
/// candidate spots around its point that overlaps no point and no label placed so far, or the
/// least overlapping one; spots further out get a leader line.
fn place_labels(topics: &Topics, positions: &[(f64, f64)]) -> Vec<PlacedLabel> {
    let n = positions.len();
    let r = f64::from(POINT_RADIUS);
    let height = LABEL_FONT * 1.2;
    let point_boxes: Vec<Box2> = positions
        .iter()
        .map(|&(x, y)| (x - r, y - r, x + r, y + r))
        .collect();
    let crowd = |i: usize| {
        positions
            .iter()
            .filter(|&&(x, y)| (x - positions[i].0).hypot(y - positions[i].1) < 60.0)
            .count()
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(crowd(i)));
    let limit = (
        0.0,
        36.0,
        f64::from(MAP_WIDTH as i32 - LEGEND_WIDTH - 10),
        f64::from(MAP_HEIGHT) - 10.0,
    );
    let mut placed: Vec<Box2> = Vec::new();
    let mut out: Vec<Option<PlacedLabel>> = (0..n).map(|_| None).collect();
    for i in order {
        let (x, y) = positions[i];
        let width = text_width(&topics.points[i].title, LABEL_FONT);
        let mut best: Option<(f64, PlacedLabel, Box2)> = None;
        'rings: for ring in [1.0, 2.2, 3.6] {
            let gap = (r + 3.0) * ring;
            let candidates = [
                (x + gap, y, HPos::Left),
                (x - gap, y, HPos::Right),
                (x, y - gap - height / 2.0, HPos::Center),
                (x, y + gap + height / 2.0, HPos::Center),
                (x + gap * 0.8, y - gap * 0.8 - height / 2.0, HPos::Left),
                (x + gap * 0.8, y + gap * 0.8 + height / 2.0, HPos::Left),
                (x - gap * 0.8, y - gap * 0.8 - height / 2.0, HPos::Right),
                (x - gap * 0.8, y + gap * 0.8 + height / 2.0, HPos::Right),
            ];
            for (ax, ay, h) in candidates {
                let x0 = match h {
                    HPos::Left => ax,
                    HPos::Right => ax - width,
                    HPos::Center => ax - width / 2.0,
                };
                let b = (x0, ay - height / 2.0, x0 + width, ay + height / 2.0);
                let outside = width * height - overlap(b, limit);
                let cost: f64 = placed.iter().map(|&p| overlap(b, p)).sum::<f64>()
                    + point_boxes.iter().map(|&p| overlap(b, p)).sum::<f64>()
                    + outside * 10.0
                    + (ring - 1.0) * 4.0;
                let label = PlacedLabel {
                    anchor: (ax, ay),
                    h,
                    leader: (ring > 1.0).then_some((x, y)),
                };
                let better = best.as_ref().is_none_or(|(c, _, _)| cost < *c);
                if better {
                    best = Some((cost, label, b));
                }
                if cost <= (ring - 1.0) * 4.0 {
                    break 'rings;
                }
            }
        }
        let (_, label, b) = best.expect("candidates exist");
        placed.push(b);
        out[i] = Some(label);
    }
    out.into_iter()
        .map(|l| l.expect("every label placed"))
        .collect()
}
