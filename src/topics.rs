//! How the pairs of a corpus relate to each other: the nearest other pairs of one pair
//! ("related", "see also"), the corpus grouped into topics, and a map of it.
//!
//! Everything here works on one *pair vector* per Q&A pair, built from what the index already
//! holds: the unit embeddings and the text. Nothing is embedded again. See [`PairSpace`].
//!
//! ```text
//! Index ─▶ PairSpace ─┬▶ related(doc, k)   nearest pairs, with similarity, link and shared words
//!                     └▶ topics() ─▶ Topics ─▶ draw_map(&topics, "map.svg")
//! ```

use std::collections::{HashMap, HashSet};
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rayon::prelude::*;
use serde::Serialize;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::corpus::QaPair;
use crate::corpus::UnitKind;
use crate::embed::{centre, dot, normalize};
use crate::error::{Error, IoContext, Result};
use crate::index::Index;
use crate::text;

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

/// Two pairs at least this similar ([`PairSpace::similarity`]) say nearly the same thing: a
/// question asked twice, or one answer filed under two wordings. On the bundled corpus the most
/// similar two pairs (two GAN questions) reach 0.46.
pub const NEAR_DUPLICATE_SIMILARITY: f32 = 0.85;

/// Pairs clustered directly at most; beyond, a sample drawn with a fixed seed is clustered and
/// the rest join the topic their nearest sampled neighbours are in (the neighbour graph of the
/// sample is built from all its similarities, m² of them).
pub const MAX_CLUSTERED: usize = 2000;

/// How many shared words a [`Related`] shows at most.
const MAX_SHARED_TERMS: usize = 5;
/// Pairs sampled to learn the corpus's similarity distribution.
const SIMILARITY_SAMPLE: usize = 800;
/// Words in a question count this many times over words in the answer, as in BM25.
const QUESTION_TERM_WEIGHT: f32 = 2.0;
/// Below this share of noun-like words, a corpus is taken not to capitalise nouns (not German),
/// and every word may be shown.
const MIN_NOUN_SHARE: f32 = 0.1;

/// Words that carry no topic in interview-style questions and answers, or English function
/// words that the German stop list lets through. Left out (by stem) of the lexical part, the
/// key words and the labels; search is not affected.
const FILLER_WORDS: &str = "mal paar gibt gibt's kannst kann könnte könntest würdest würde \
    müssen muss sollte sollten soll gut besser besten schon sowohl statt anstatt mehr viel \
    viele vielen immer ganz neu neue neuen einfach oft häufig genau eigentlich bitte etwa sowie \
    dabei dadurch daher deshalb also sodass bzw usw z b beim wurde wurden macht machen mach \
    erkläre erklär erklären erklärt erzähl erzähle beschreibe beschreiben benutze benutz nutze \
    nutzen genutzt verwenden verwendet wichtig wichtigsten bestimmte bestimmten verschiedene \
    Unterschied Unterschiede Konzept Beispiel Art Weise Rolle Bereich Fall Punkt Sache Dinge \
    Infos Teil Teile zwei drei erste ersten Antwort Antworten Frage Fragen Aufgabe Aufgaben \
    Problem Probleme Technik Techniken Sprechen Ansatz \
    the of and to in is are for on with as by a an or it be that this from at not can which \
    how what why when more than into its their they them such also use used using";

/// The pairs of a corpus as points in one space, for "related" and "topics".
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

struct PairInfo {
    id: String,
    question: String,
    title: String,
}

/// Analyzed words of the corpus, with a readable surface word for each.
struct Terms {
    /// Term id by stem.
    ids: HashMap<String, u32>,
    /// Per term: the surface word most often written for it.
    surface: Vec<String>,
    /// Per term: number of pairs that use it.
    df: Vec<u32>,
    /// Per term: whether it is distinctive material (not filler, not a number, noun-like).
    shown: Vec<bool>,
    /// Per pair: (term, weighted count) over all terms, sorted by term.
    bags: Vec<Vec<(u32, f32)>>,
    /// Per pair: unit TF-IDF vector over shown terms, sorted by term.
    lexical: Vec<Vec<(u32, f32)>>,
    /// Per term: (pair, TF-IDF weight), the transpose of `lexical`.
    postings: Vec<Vec<(u32, f32)>>,
}

/// How a related pair is related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Close in meaning for this corpus (see [`LINK_TOP_SHARE`]), without notably many
    /// distinctive words in common.
    Semantic,
    /// Shares notably many distinctive words (see [`LINK_TOP_SHARE`]) without being
    /// especially close in meaning.
    Lexical,
    Both,
    /// Among the nearest, but neither notably close nor sharing distinctive words.
    Weak,
}

/// A pair related to another pair or to a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    /// Ordinal in the corpus.
    pub doc: usize,
    pub id: String,
    pub question: String,
    /// What the neighbours are ranked by: [`SEMANTIC_WEIGHT`] of `semantic` plus the rest of
    /// `lexical`.
    pub similarity: f32,
    /// Cosine of the dense parts (embeddings, corpus mean removed), in [-1, 1].
    pub semantic: f32,
    /// Cosine of the TF-IDF parts, in [0, 1].
    pub lexical: f32,
    pub link: Link,
    /// Distinctive words both use, most telling first, as the corpus writes them.
    pub shared_terms: Vec<String>,
}

/// The corpus grouped into topics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topics {
    /// Largest first. Every pair is a member of exactly one.
    pub topics: Vec<Topic>,
    /// Pairs that say nearly the same thing, most similar first; they keep their topic too.
    pub near_duplicates: Vec<NearDuplicate>,
    /// Mean silhouette of the grouping, in [-1, 1]: how much nearer pairs are to their own
    /// topic than to the next one. Around 0.1 for a corpus of one domain like the bundled one.
    pub silhouette: f32,
    /// Modularity of the grouping on the neighbour graph, in [-0.5, 1]: the share of neighbour
    /// links inside topics beyond what chance would give.
    pub modularity: f32,
    /// One per pair, in corpus order: where it lies on the map.
    pub points: Vec<MapPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// The key words joined by ", ".
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
    /// As [`Related::similarity`].
    pub similarity: f32,
}

/// A pair on the topic map: its first two principal components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub doc: usize,
    pub id: String,
    /// A few words naming the pair on the map: its id when the id reads as words, else the
    /// distinctive words of its question.
    pub title: String,
    /// Index into [`Topics::topics`].
    pub topic: usize,
    pub x: f32,
    pub y: f32,
}

impl PairSpace {
    /// The pair space of a loaded index: one pass over the unit vectors and one analysis of the
    /// corpus text. Build it once and ask it many times.
    pub fn new(index: &Index) -> PairSpace {
        let vectors: Vec<Vec<f32>> = (0..index.corpus.len())
            .into_par_iter()
            .map(|doc| pair_vector(index, doc))
            .collect();
        PairSpace::from_pairs(index.corpus.pairs(), vectors)
            .expect("the index has one vector of one width per pair")
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
                title: short_title(p, &terms),
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

    /// Dense cosine from which a link counts as semantic in this corpus.
    pub fn semantic_threshold(&self) -> f32 {
        self.semantic_above
    }

    /// TF-IDF cosine from which a link counts as lexical in this corpus.
    pub fn lexical_threshold(&self) -> f32 {
        self.lexical_above
    }

    /// Similarity of two pairs, as [`Related::similarity`].
    pub fn similarity(&self, a: usize, b: usize) -> f32 {
        SEMANTIC_WEIGHT * self.dense_similarity(a, b)
            + (1.0 - SEMANTIC_WEIGHT) * sparse_dot(&self.terms.lexical[a], &self.terms.lexical[b])
    }

    fn dense_similarity(&self, a: usize, b: usize) -> f32 {
        dot(self.vector(a), self.vector(b))
    }

    /// The `k` pairs nearest to pair `doc`, itself excluded, best first.
    pub fn related(&self, doc: usize, k: usize) -> Vec<Related> {
        let probe = Probe {
            dense: self.vector(doc),
            lexical: &self.terms.lexical[doc],
            bag: &self.terms.bags[doc],
        };
        self.nearest(&probe, Some(doc), k)
    }

    /// The `k` pairs nearest to a text that is not in the corpus, best first. `vector` is the
    /// text's embedding; embed it as a passage, as the index embeds questions and answers, so
    /// that it lies among the pairs.
    pub fn related_to_text(&self, text: &str, vector: &[f32], k: usize) -> Vec<Related> {
        if vector.len() != self.dim {
            return Vec::new();
        }
        let mut dense = vector.to_vec();
        normalize(&mut dense);
        centre(&mut dense, &self.mean);
        let bag = self.terms.bag_of(text);
        let lexical = self.terms.tf_idf(&bag);
        let probe = Probe {
            dense: &dense,
            lexical: &lexical,
            bag: &bag,
        };
        self.nearest(&probe, None, k)
    }

    /// Brute force over the dense parts (10,000 pairs of 384 dimensions are 4 million
    /// multiply-adds, milliseconds) plus the postings of the probe's words.
    fn nearest(&self, probe: &Probe, skip: Option<usize>, k: usize) -> Vec<Related> {
        if self.dim == 0 || probe.dense.len() != self.dim {
            return Vec::new();
        }
        let lexical = self.terms.lexical_scores(probe.lexical);
        let mut scored: Vec<(usize, f32, f32)> = self
            .dense
            .chunks_exact(self.dim)
            .enumerate()
            .filter(|&(doc, _)| Some(doc) != skip)
            .map(|(doc, v)| (doc, dot(probe.dense, v), lexical[doc]))
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
        scored
            .into_iter()
            .map(|s| {
                let (doc, semantic, lexical) = s;
                let shared_terms = self.terms.shared(probe.bag, &self.terms.bags[doc]);
                let is_lexical = lexical >= self.lexical_above && !shared_terms.is_empty();
                let link = match (semantic >= self.semantic_above, is_lexical) {
                    (true, true) => Link::Both,
                    (true, false) => Link::Semantic,
                    (false, true) => Link::Lexical,
                    (false, false) => Link::Weak,
                };
                Related {
                    doc,
                    id: self.pairs[doc].id.clone(),
                    question: self.pairs[doc].question.clone(),
                    similarity: score(&s),
                    semantic,
                    lexical,
                    link,
                    shared_terms,
                }
            })
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
            .map(|(a, b)| {
                let lexical = sparse_dot(&self.terms.lexical[a], &self.terms.lexical[b]);
                (self.dense_similarity(a, b), lexical)
            })
            .unzip();
        [
            quantile(&mut dense, 1.0 - LINK_TOP_SHARE),
            quantile(&mut lexical, 1.0 - LINK_TOP_SHARE),
        ]
    }

    /// Groups the corpus into topics; see [`Topics`].
    ///
    /// Each pair is linked to its ⌈ln n⌉ most similar pairs — about the sparsest neighbour
    /// graph that still holds together — and the graph is split where it has the most weight
    /// inside groups beyond what chance would put there (modularity, by the Louvain method).
    /// So the data decides how many topics there are, and a topic is a group whose members are
    /// one another's neighbours, not a slice of a ranking.
    ///
    /// Average-linkage clustering cut at the best silhouette was tried first: on the bundled
    /// corpus every cut from 2 to 12 topics has a silhouette of 0.05–0.10, so the choice among
    /// them was noise, and small changes to the vectors flipped it between 2 and 7 topics. The
    /// modularity optimum kept the four GAN pairs together under every weighting tried.
    pub fn topics(&self) -> Topics {
        let n = self.len();
        let (assignment, silhouette, modularity) = match n {
            0 => (Vec::new(), 0.0, 0.0),
            1 | 2 => (vec![0; n], 0.0, 0.0),
            _ => self.cluster(),
        };
        let described = self.describe(&assignment);
        let mut renumber = vec![0; assignment.iter().max().map_or(0, |&l| l + 1)];
        for (new, (old, _)) in described.iter().enumerate() {
            renumber[*old] = new;
        }
        let projection = self.project();
        let points = (0..n)
            .map(|doc| MapPoint {
                doc,
                id: self.pairs[doc].id.clone(),
                title: self.pairs[doc].title.clone(),
                topic: renumber[assignment[doc]],
                x: projection[doc].0,
                y: projection[doc].1,
            })
            .collect();
        Topics {
            topics: described.into_iter().map(|(_, t)| t).collect(),
            near_duplicates: self.near_duplicates(),
            silhouette,
            modularity,
            points,
        }
    }

    /// A cluster number per pair, 0.., with the silhouette and modularity of the clustering.
    fn cluster(&self) -> (Vec<usize>, f32, f32) {
        let n = self.len();
        let sample = spread_sample(n, MAX_CLUSTERED);
        let m = sample.len();
        let similarity: Vec<f32> = sample
            .par_iter()
            .flat_map_iter(|&a| {
                let row = self.similarity_row(a, &sample);
                row.into_iter()
            })
            .collect();
        let neighbours = ((m as f32).ln().ceil() as usize).clamp(2, m - 1);
        let graph = neighbour_graph(&similarity, m, neighbours);
        let labels = louvain(&graph);
        let modularity = modularity(&graph, &labels);
        let distance: Vec<f32> = similarity.iter().map(|s| (1.0 - s).max(0.0)).collect();
        let silhouette = silhouette(&distance, m, &labels);
        if m == n {
            return (labels, silhouette, modularity);
        }
        // The pairs outside the sample join the topic of their nearest sampled neighbours,
        // each neighbour's vote weighted by its similarity.
        let k = labels.iter().max().map_or(0, |&l| l + 1);
        let mut out = vec![usize::MAX; n];
        for (&doc, &label) in sample.iter().zip(&labels) {
            out[doc] = label;
        }
        out.par_iter_mut().enumerate().for_each(|(doc, label)| {
            if *label != usize::MAX {
                return;
            }
            let mut near: Vec<(usize, f32)> = self
                .similarity_row(doc, &sample)
                .into_iter()
                .enumerate()
                .collect();
            near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut votes = vec![0.0f32; k];
            for &(i, s) in near.iter().take(neighbours) {
                votes[labels[i]] += s.max(1e-3);
            }
            *label = (0..k)
                .max_by(|&a, &b| votes[a].total_cmp(&votes[b]).then(b.cmp(&a)))
                .unwrap_or(0);
        });
        (out, silhouette, modularity)
    }

    /// Similarities of pair `a` with each of `others`, as [`PairSpace::similarity`] (1 with
    /// itself).
    fn similarity_row(&self, a: usize, others: &[usize]) -> Vec<f32> {
        let lexical = self.terms.lexical_scores(&self.terms.lexical[a]);
        others
            .iter()
            .map(|&b| {
                if a == b {
                    1.0
                } else {
                    SEMANTIC_WEIGHT * self.dense_similarity(a, b)
                        + (1.0 - SEMANTIC_WEIGHT) * lexical[b]
                }
            })
            .collect()
    }

    /// Topics with their labels, each paired with its cluster number, largest first.
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
            (b.1.docs.len())
                .cmp(&a.1.docs.len())
                .then(a.1.docs[0].cmp(&b.1.docs[0]))
        });
        topics
    }

    /// All pairs of pairs at least [`NEAR_DUPLICATE_SIMILARITY`] alike: n²/2 similarities, a
    /// few seconds for 10,000 pairs.
    fn near_duplicates(&self) -> Vec<NearDuplicate> {
        let n = self.len();
        let mut found: Vec<NearDuplicate> = (0..n)
            .into_par_iter()
            .flat_map_iter(|a| {
                (a + 1..n).filter_map(move |b| {
                    // The lexical part is at most 1: a dense part below this cannot make it.
                    let dense_needed =
                        (NEAR_DUPLICATE_SIMILARITY - (1.0 - SEMANTIC_WEIGHT)) / SEMANTIC_WEIGHT;
                    if self.dense_similarity(a, b) < dense_needed {
                        return None;
                    }
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

    /// The first two principal components of the pair vectors (dense and lexical parts
    /// concatenated, weighted as in [`PairSpace::similarity`]), by power iteration from a fixed
    /// start: the same corpus gives the same map.
    fn project(&self) -> Vec<(f32, f32)> {
        let n = self.len();
        if n == 0 {
            return Vec::new();
        }
        let pca = Pca {
            space: self,
            dense_weight: SEMANTIC_WEIGHT.sqrt(),
            lexical_weight: (1.0 - SEMANTIC_WEIGHT).sqrt(),
        };
        let first = pca.component(&[]);
        let second = pca.component(std::slice::from_ref(&first));
        let xs = pca.scores(&first);
        let ys = pca.scores(&second);
        xs.into_iter().zip(ys).collect()
    }
}

/// What [`PairSpace::nearest`] compares against.
struct Probe<'a> {
    dense: &'a [f32],
    lexical: &'a [(u32, f32)],
    bag: &'a [(u32, f32)],
}

/// Principal components of the centred pair vectors `x_i = [a·dense_i, b·lexical_i]` without
/// building them: a direction is `v = [dense part, one weight per term]`.
struct Pca<'a> {
    space: &'a PairSpace,
    dense_weight: f32,
    lexical_weight: f32,
}

impl Pca<'_> {
    fn width(&self) -> usize {
        self.space.dim + self.space.terms.surface.len()
    }

    /// `x_i · v` for every pair, centred (the mean of the scores taken out).
    fn scores(&self, v: &[f32]) -> Vec<f32> {
        let dim = self.space.dim;
        let (vd, vl) = v.split_at(dim);
        let raw: Vec<f32> = (0..self.space.len())
            .map(|i| {
                let lexical: f32 = self.space.terms.lexical[i]
                    .iter()
                    .map(|&(t, w)| w * vl[t as usize])
                    .sum();
                self.dense_weight * dot(self.space.vector(i), vd) + self.lexical_weight * lexical
            })
            .collect();
        let mean = raw.iter().sum::<f32>() / raw.len().max(1) as f32;
        raw.into_iter().map(|s| s - mean).collect()
    }

    /// `Σ u_i x_i`: with centred scores `u` this is the centred covariance times `v`.
    fn back(&self, u: &[f32]) -> Vec<f32> {
        let dim = self.space.dim;
        let mut out = vec![0.0f32; self.width()];
        for (i, &ui) in u.iter().enumerate() {
            add_scaled(
                &mut out[..dim],
                self.space.vector(i),
                ui * self.dense_weight,
            );
            for &(t, w) in &self.space.terms.lexical[i] {
                out[dim + t as usize] += ui * w * self.lexical_weight;
            }
        }
        out
    }

    /// The leading eigenvector orthogonal to `against`, from a fixed start; its largest entry
    /// made positive so that the map does not flip between runs.
    fn component(&self, against: &[Vec<f32>]) -> Vec<f32> {
        let width = self.width();
        let orthogonalize = |v: &mut Vec<f32>| {
            for u in against {
                let p = dot(v, u);
                add_scaled(v, u, -p);
            }
            normalize(v);
        };
        let mut v: Vec<f32> = (0..width)
            .map(|i| 1.0 + ((i * 7919) % 97) as f32 / 97.0)
            .collect();
        orthogonalize(&mut v);
        // A map needs no more precision than a pixel: 100 rounds are plenty even where the two
        // leading eigenvalues are close (they are on structureless data).
        for _ in 0..100 {
            let mut next = self.back(&self.scores(&v));
            orthogonalize(&mut next);
            let change: f32 = next.iter().zip(&v).map(|(a, b)| (a - b) * (a - b)).sum();
            v = next;
            if change < 1e-10 {
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
}

/// The raw dense vector of a pair; see [`QUESTION_WEIGHT`].
fn pair_vector(index: &Index, doc: usize) -> Vec<f32> {
    let vectors = &index.vectors;
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

/// One analyzed word of a text.
struct Token {
    stem: String,
    surface: String,
    /// Written with a capital where a sentence does not start: a noun, in German.
    capital_inside: bool,
    /// At the start of a sentence, line or list item, where capitals say nothing.
    sentence_start: bool,
}

/// How a term is written across the corpus.
#[derive(Default)]
struct Spelling {
    /// Surface form → (count, first seen).
    forms: HashMap<String, (u32, usize)>,
    inside: u32,
    capital_inside: u32,
}

impl Terms {
    fn of(pairs: &[QaPair]) -> Terms {
        let mut analyzer = text::german_analyzer();
        let filler: HashSet<String> = text::terms(&mut analyzer, FILLER_WORDS)
            .into_iter()
            .collect();
        let analyzed: Vec<(Vec<Token>, Vec<Token>)> = pairs
            .par_iter()
            .map_init(text::german_analyzer, |analyzer, pair| {
                (
                    tokens(analyzer, &pair.question),
                    tokens(analyzer, &pair.answer),
                )
            })
            .collect();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut spellings: Vec<Spelling> = Vec::new();
        let mut df: Vec<u32> = Vec::new();
        let mut bags = Vec::with_capacity(pairs.len());
        let mut seen = 0usize;
        for (question, answer) in analyzed {
            let mut bag: HashMap<u32, f32> = HashMap::new();
            let weighted = question
                .into_iter()
                .map(|t| (t, QUESTION_TERM_WEIGHT))
                .chain(answer.into_iter().map(|t| (t, 1.0)));
            for (token, weight) in weighted {
                let id = *ids.entry(token.stem).or_insert_with(|| {
                    spellings.push(Spelling::default());
                    df.push(0);
                    (spellings.len() - 1) as u32
                });
                let spelling = &mut spellings[id as usize];
                seen += 1;
                spelling.forms.entry(token.surface).or_insert((0, seen)).0 += 1;
                if !token.sentence_start {
                    spelling.inside += 1;
                    spelling.capital_inside += u32::from(token.capital_inside);
                }
                *bag.entry(id).or_default() += weight;
            }
            for &id in bag.keys() {
                df[id as usize] += 1;
            }
            let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
            bag.sort_by_key(|&(id, _)| id);
            bags.push(bag);
        }

        let noun_like: Vec<bool> = spellings
            .iter()
            .map(|s| s.inside > 0 && 2 * s.capital_inside >= s.inside)
            .collect();
        let capitalises = noun_like.iter().filter(|&&b| b).count() as f32
            >= MIN_NOUN_SHARE * noun_like.len() as f32;
        let surface: Vec<String> = spellings
            .into_iter()
            .map(|s| {
                // The most frequent spelling; among equals, the first seen.
                s.forms
                    .into_iter()
                    .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                    .map(|(form, _)| form)
                    .unwrap_or_default()
            })
            .collect();
        let mut stems: Vec<(&String, &u32)> = ids.iter().collect();
        stems.sort_by_key(|&(_, &id)| id);
        let shown: Vec<bool> = stems
            .iter()
            .map(|&(stem, &id)| {
                let id = id as usize;
                !filler.contains(stem)
                    && is_showable(&surface[id])
                    && (noun_like[id] || !capitalises)
            })
            .collect();

        let mut terms = Terms {
            ids,
            surface,
            df,
            shown,
            bags,
            lexical: Vec::new(),
            postings: Vec::new(),
        };
        terms.lexical = terms.bags.iter().map(|bag| terms.tf_idf(bag)).collect();
        let mut postings = vec![Vec::new(); terms.surface.len()];
        for (doc, vector) in terms.lexical.iter().enumerate() {
            for &(term, weight) in vector {
                postings[term as usize].push((doc as u32, weight));
            }
        }
        terms.postings = postings;
        terms
    }

    /// TF-IDF cosine of a unit lexical vector with every pair, through the postings.
    fn lexical_scores(&self, vector: &[(u32, f32)]) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.bags.len()];
        for &(term, weight) in vector {
            for &(doc, w) in &self.postings[term as usize] {
                scores[doc as usize] += weight * w;
            }
        }
        scores
    }

    fn idf(&self, id: u32) -> f32 {
        (self.bags.len() as f32 / self.df[id as usize].max(1) as f32).ln()
    }

    /// Unit TF-IDF vector of a bag over shown terms: (1 + ln tf) · ln(n / df).
    fn tf_idf(&self, bag: &[(u32, f32)]) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = bag
            .iter()
            .filter(|&&(id, _)| self.shown[id as usize] && self.df[id as usize] >= 2)
            .map(|&(id, tf)| (id, (1.0 + tf.ln()) * self.idf(id)))
            .filter(|&(_, w)| w > 0.0)
            .collect();
        let norm = out.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        out
    }

    /// The bag of a text outside the corpus, over the corpus's vocabulary.
    fn bag_of(&self, text: &str) -> Vec<(u32, f32)> {
        let mut bag: HashMap<u32, f32> = HashMap::new();
        for stem in text::terms(&mut text::german_analyzer(), text) {
            if let Some(&id) = self.ids.get(&stem) {
                *bag.entry(id).or_default() += QUESTION_TERM_WEIGHT;
            }
        }
        let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
        bag.sort_by_key(|&(id, _)| id);
        bag
    }

    /// Shown terms both bags hold and at most a quarter of the pairs use, most telling first
    /// (IDF times how much both use it).
    fn shared(&self, a: &[(u32, f32)], b: &[(u32, f32)]) -> Vec<String> {
        let n = self.bags.len();
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
                        shared.push((id, self.idf(id) * a[i].1.min(b[j].1).sqrt()));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        shared.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut words: Vec<String> = Vec::new();
        for (id, _) in shared {
            let word = &self.surface[id as usize];
            if words.len() < MAX_SHARED_TERMS && !words.iter().any(|w| same_word(w, word)) {
                words.push(word.clone());
            }
        }
        words
    }

    /// Two to four words per class that set it apart from the rest of the corpus.
    ///
    /// A word scores its share of the class's words, times its IDF over pairs, times the share
    /// of members that use it — so that a word one long answer repeats does not name a topic of
    /// several pairs. Words that half the corpus uses name no topic and are left out. (Class-based
    /// TF-IDF, with ln(1 + average class size / frequency) as IDF, was tried first: with four or
    /// five classes that IDF hardly falls for common words, and "Modell" named every topic.)
    fn class_labels(&self, classes: &[Vec<usize>]) -> Vec<Vec<String>> {
        let n = self.bags.len();
        classes
            .iter()
            .map(|members| {
                let mut tf: HashMap<u32, (f32, u32)> = HashMap::new();
                for &doc in members {
                    for &(id, weight) in &self.bags[doc] {
                        let entry = tf.entry(id).or_default();
                        entry.0 += weight;
                        entry.1 += 1;
                    }
                }
                let size: f32 = tf.values().map(|v| v.0).sum();
                let distinctive = |id: u32| {
                    self.shown[id as usize] && 2 * self.df[id as usize] as usize <= n.max(2)
                };
                let mut scored: Vec<(u32, f32)> = tf
                    .iter()
                    .filter(|(&id, _)| distinctive(id))
                    .map(|(&id, &(weight, used_by))| {
                        let coverage = used_by as f32 / members.len() as f32;
                        (id, weight / size * self.idf(id) * coverage)
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
                    if !words.iter().any(|w| same_word(w, word)) {
                        words.push(word.clone());
                    }
                }
                words
            })
            .collect()
    }
}

/// The analyzed words of `text`, with their surface forms and where they stand.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let surface = &text[token.offset_from..token.offset_to];
        let before = text[..token.offset_from]
            .trim_end_matches([' ', '\t', '"', '„', '“', '”', '(', '[', '-', '–', '*', '•'])
            .chars()
            .next_back();
        out.push(Token {
            stem: token.text.clone(),
            surface: surface.to_string(),
            capital_inside: surface.chars().next().is_some_and(char::is_uppercase),
            sentence_start: before.is_none_or(|c| matches!(c, '.' | '!' | '?' | ':' | '\n')),
        });
    }
    out
}

/// Whether two shown words are one for a reader: equal but for case or a plural "s" that the
/// stemmer keeps (it strips nothing from a word without a vowel, so "LLM" and "LLMs" differ).
fn same_word(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let bare = |w: &str| {
        w.strip_suffix('s')
            .map(str::to_string)
            .unwrap_or_else(|| w.to_string())
    };
    a == b || bare(&a) == b || a == bare(&b)
}

/// Whether a surface word can stand in a label: two letters at least.
fn is_showable(surface: &str) -> bool {
    surface.chars().filter(|c| c.is_alphabetic()).count() >= 2
}

/// The pair's id when it reads as words; else the distinctive words of its question (or of its
/// answer's beginning), up to four.
fn short_title(pair: &QaPair, terms: &Terms) -> String {
    const MAX_CHARS: usize = 40;
    if pair.id.chars().filter(|c| c.is_alphabetic()).count() >= 3
        && pair.id.chars().count() <= MAX_CHARS
    {
        return pair.id.clone();
    }
    let source = if pair.question.is_empty() {
        &pair.answer
    } else {
        &pair.question
    };
    let mut analyzer = text::german_analyzer();
    let mut words: Vec<String> = Vec::new();
    for token in tokens(&mut analyzer, source) {
        let shown = terms
            .ids
            .get(&token.stem)
            .is_some_and(|&id| terms.shown[id as usize]);
        if shown && !words.iter().any(|w| same_word(w, &token.surface)) {
            words.push(token.surface);
        }
        if words.len() == 4 {
            break;
        }
    }
    let mut title = if words.is_empty() {
        source
            .split_whitespace()
            .take(5)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        words.join(" ")
    };
    if title.chars().count() > MAX_CHARS {
        title = title.chars().take(MAX_CHARS - 1).collect::<String>() + "…";
    }
    if title.is_empty() {
        pair.id.clone()
    } else {
        title
    }
}

/// Dot product of two sparse vectors sorted by index.
fn sparse_dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

fn add_scaled(target: &mut [f32], v: &[f32], scale: f32) {
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
fn spread_sample(n: usize, max: usize) -> Vec<usize> {
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

/// Each point linked to its `k` most similar points, weighted by similarity (at least a
/// thousandth, so that every link counts), made symmetric.
fn neighbour_graph(similarity: &[f32], n: usize, k: usize) -> Vec<Vec<(usize, f32)>> {
    let mut weights: HashMap<(usize, usize), f32> = HashMap::new();
    for i in 0..n {
        let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        others.sort_by(|&a, &b| {
            similarity[i * n + b]
                .total_cmp(&similarity[i * n + a])
                .then(a.cmp(&b))
        });
        for &j in others.iter().take(k) {
            weights.insert((i.min(j), i.max(j)), similarity[i * n + j].max(1e-3));
        }
    }
    let mut edges: Vec<((usize, usize), f32)> = weights.into_iter().collect();
    edges.sort_by_key(|&(e, _)| e);
    let mut adjacency = vec![Vec::new(); n];
    for ((i, j), w) in edges {
        adjacency[i].push((j, w));
        adjacency[j].push((i, w));
    }
    adjacency
}

/// Modularity of a labelling of a weighted graph.
fn modularity(graph: &[Vec<(usize, f32)>], labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    let mut inside = vec![0.0f32; k];
    let mut degree = vec![0.0f32; k];
    let mut two_m = 0.0f32;
    for (i, edges) in graph.iter().enumerate() {
        for &(j, w) in edges {
            two_m += w;
            degree[labels[i]] += w;
            if labels[i] == labels[j] {
                inside[labels[i]] += w;
            }
        }
    }
    if two_m == 0.0 {
        return 0.0;
    }
    (0..k)
        .map(|c| inside[c] / two_m - (degree[c] / two_m).powi(2))
        .sum()
}

/// Louvain modularity optimisation, deterministic (nodes in order, ties to the lower id).
fn louvain(graph: &[Vec<(usize, f32)>]) -> Vec<usize> {
    let n = graph.len();
    let mut membership: Vec<usize> = (0..n).collect();
    let mut level: Vec<Vec<(usize, f32)>> = graph.to_vec();
    loop {
        let (communities, moved) = louvain_level(&level);
        if !moved {
            break;
        }
        let labels = compact_labels(&communities);
        let k = labels.iter().max().map_or(0, |&l| l + 1);
        membership.iter_mut().for_each(|m| *m = labels[*m]);
        let mut next: Vec<HashMap<usize, f32>> = vec![HashMap::new(); k];
        for (i, edges) in level.iter().enumerate() {
            for &(j, w) in edges {
                *next[labels[i]].entry(labels[j]).or_default() += w;
            }
        }
        level = next
            .into_iter()
            .map(|m| {
                let mut v: Vec<(usize, f32)> = m.into_iter().collect();
                v.sort_by_key(|e| e.0);
                v
            })
            .collect();
        if k == 1 {
            break;
        }
    }
    compact_labels(&membership)
}

/// One level of Louvain: local moves until none improves modularity. Self-loops (i, i) are
/// allowed and count in degrees.
fn louvain_level(graph: &[Vec<(usize, f32)>]) -> (Vec<usize>, bool) {
    let n = graph.len();
    let degree: Vec<f32> = graph.iter().map(|e| e.iter().map(|x| x.1).sum()).collect();
    let two_m: f32 = degree.iter().sum();
    let mut community: Vec<usize> = (0..n).collect();
    let mut total: Vec<f32> = degree.clone();
    let mut moved_any = false;
    if two_m == 0.0 {
        return (community, false);
    }
    for _ in 0..100 {
        let mut moved = false;
        for i in 0..n {
            let own = community[i];
            total[own] -= degree[i];
            let mut links: HashMap<usize, f32> = HashMap::new();
            for &(j, w) in &graph[i] {
                if j != i {
                    *links.entry(community[j]).or_default() += w;
                }
            }
            let gain = |c: usize, l: f32| l - total[c] * degree[i] / two_m;
            let mut best = own;
            let mut best_gain = gain(own, links.get(&own).copied().unwrap_or(0.0));
            let mut candidates: Vec<(usize, f32)> = links.into_iter().collect();
            candidates.sort_by_key(|c| c.0);
            for (c, l) in candidates {
                let g = gain(c, l);
                if g > best_gain + 1e-7 {
                    best = c;
                    best_gain = g;
                }
            }
            total[best] += degree[i];
            if best != own {
                community[i] = best;
                moved = true;
                moved_any = true;
            }
        }
        if !moved {
            break;
        }
    }
    (community, moved_any)
}

// ---------------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------------

const MAP_WIDTH: u32 = 1400;
const MAP_HEIGHT: u32 = 900;
/// Width of the legend column at the right.
const LEGEND_WIDTH: i32 = 380;
/// Font sizes in pixels as drawn.
const LABEL_FONT: f64 = 11.0;
const LEGEND_FONT: f64 = 13.0;
const TITLE_FONT: f64 = 15.0;
/// plotters' SVG backend writes a font of size s as `font-size="s / 1.24"`.
const PLOTTERS_FONT_SCALE: f64 = 1.24;
/// Radius of a point on a labelled map; large maps get smaller, translucent points.
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
    // Golden-ratio steps around the hue circle keep consecutive topics apart.
    let (r, g, b) = HSLColor((topic as f64 * 0.618_034).fract(), 0.65, 0.45)
        .to_backend_color()
        .rgb;
    RGBColor(r, g, b)
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
    let font = |px: f64| ("sans-serif", px * PLOTTERS_FONT_SCALE).into_font();
    root.draw(&Text::new(
        format!(
            "{} pairs, {} topics (first two principal components of the pair vectors)",
            n,
            topics.topics.len()
        ),
        (20, 14),
        font(TITLE_FONT).color(&BLACK),
    ))?;

    // The plot region, with room for labels to the right of the rightmost points.
    let labelled = n <= MAX_LABELLED;
    let (left, top) = (30.0, 50.0);
    let right = f64::from(MAP_WIDTH as i32 - LEGEND_WIDTH) - if labelled { 150.0 } else { 30.0 };
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
    if labelled {
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
    let (radius, opacity) = if labelled {
        (POINT_RADIUS, 1.0)
    } else if n <= 2000 {
        (3, 0.8)
    } else {
        (2, 0.6)
    };
    for (point, &(x, y)) in topics.points.iter().zip(&positions) {
        let colour = topic_colour(point.topic).mix(opacity);
        root.draw(&Circle::new((x as i32, y as i32), radius, colour.filled()))?;
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
