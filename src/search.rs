//! The query pipeline: embed the query, ask both arms, fuse per Q&A pair, pick each hit's
//! matching sentence. Each stage is a call into its own module; this one only wires them and
//! times them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;
use tantivy::tokenizer::TextAnalyzer;

use crate::analysis::matching_spans;
use crate::corpus::Corpus;
use crate::embedding::{Embedder, Encoding};
use crate::error::{Error, Result};
use crate::fusion::{self, ArmRank, Fused, Fusion};
use crate::index::Index;
use crate::lexical::{distinct_terms, LexicalResult};
use crate::rerank::{self, Candidate, LateInteractionReranker, RerankQuery, Reranker};
use crate::similarity::PairSpace;
use crate::vector::{UnitHit, UnitKind};

/// Which retrievers answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// BM25 only: exact words, no model needed.
    Bm25,
    /// Embeddings only.
    Dense,
    /// Both, fused.
    Hybrid,
    /// Both, fused, then the top candidates reranked: the full pipeline.
    Rerank,
}

impl Mode {
    pub fn needs_embedder(self) -> bool {
        self != Mode::Bm25
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
            Mode::Rerank => "rerank",
        }
    }
}

/// How a query is answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchOptions {
    pub mode: Mode,
    pub top_k: usize,
    pub fusion: Fusion,
    /// Candidates each arm contributes to fusion; at least 5 × `top_k` so that a pair one arm
    /// ranks low can still be lifted by the other.
    pub depth: usize,
    /// Fused candidates the reranker rescores in [`Mode::Rerank`]; those below follow in fused
    /// order (before the lift towards the best answer), so a `top_k` beyond this depth still
    /// lists them.
    pub rerank_depth: usize,
    /// How much the answers follow their relatedness to the best one
    /// ([`rerank::lift_related`]); 0 keeps the reranker's order.
    pub related_weight: f32,
}

impl SearchOptions {
    pub const DEFAULT_TOP_K: usize = 5;
    pub const MIN_DEPTH: usize = 50;

    pub fn new(mode: Mode, top_k: usize, fusion: Fusion) -> SearchOptions {
        SearchOptions {
            mode,
            top_k,
            fusion,
            depth: (5 * top_k).max(Self::MIN_DEPTH),
            rerank_depth: rerank::DEFAULT_RERANK_DEPTH,
            related_weight: rerank::DEFAULT_RELATED_WEIGHT,
        }
    }
}

/// The default fusion: the adaptive convex combination, chosen by measurement (see the README).
pub const DEFAULT_FUSION: Fusion = Fusion::Convex {
    alpha: Fusion::DEFAULT_ALPHA,
    adaptive: true,
};

/// One answer, with the evidence for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Ordinal of the pair in the corpus.
    pub doc: usize,
    pub score: f32,
    pub lexical: Option<ArmRank>,
    pub dense: Option<ArmRank>,
    /// The fused score (in single-arm modes, that arm's score).
    pub fused: f32,
    /// The reranker's score, in [`Mode::Rerank`] and within the rerank depth; `score` is it
    /// lowered by unrelatedness to the best answer ([`SearchOptions::related_weight`]).
    pub rerank: Option<f32>,
    /// Byte range in the answer of the sentence that matched best.
    pub excerpt: Range<usize>,
    /// Byte ranges in the answer, inside the excerpt, of words the query matched.
    pub excerpt_matches: Vec<Range<usize>>,
    /// Byte ranges in the question of words the query matched.
    pub question_matches: Vec<Range<usize>>,
}

/// Time spent in each stage of one query.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    #[serde(serialize_with = "as_millis")]
    pub embed: Duration,
    #[serde(serialize_with = "as_millis")]
    pub lexical: Duration,
    #[serde(serialize_with = "as_millis")]
    pub vector: Duration,
    #[serde(serialize_with = "as_millis")]
    pub fusion: Duration,
    #[serde(serialize_with = "as_millis")]
    pub rerank: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// What a query returned.
#[derive(Debug, Clone)]
pub struct Answers {
    pub hits: Vec<Hit>,
    /// The analyzed query terms BM25 searched for.
    pub terms: Vec<String>,
    /// How much of the query BM25 could see (see [`LexicalResult::coverage`]).
    pub lexical_coverage: f32,
    /// Whether the corpus seems to answer the query at all; `None` without the dense arm.
    pub confidence: Option<Confidence>,
    pub timings: Timings,
}

/// The verdict on whether any answer is a real answer (see [`crate::index::Calibration`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Confidence {
    pub confident: bool,
    /// The query's best similarity to any unit of the corpus.
    pub best_similarity: f32,
    /// The corpus's calibrated threshold.
    pub weak_below: f32,
}

/// A per-pair view of the dense arm: the best similarity of any unit of the pair, and which
/// sentence of its answer was closest.
#[derive(Debug, Clone, Copy)]
struct DenseDoc {
    score: f32,
    best_sentence: Option<(usize, f32)>,
}

/// Answers queries over a loaded index.
pub struct Searcher {
    index: Index,
    embedder: Option<Embedder>,
    reranker: Box<dyn Reranker + Send>,
    /// Query encodings by query text, when [`Searcher::cache_query_vectors`] is on.
    query_cache: Option<HashMap<String, Encoding>>,
    /// How the pairs relate to each other, built on first use.
    pair_space: OnceLock<PairSpace>,
}

/// A candidate on its way through the stages after fusion.
struct Ranked {
    fused: Fused,
    rerank: Option<f32>,
    /// What it is ordered by: the fused score, or in [`Mode::Rerank`] the final score on the
    /// reranker's scale.
    score: f32,
}

impl Searcher {
    /// `embedder` may be `None` when only BM25 will be asked.
    pub fn new(index: Index, embedder: Option<Embedder>) -> Searcher {
        Searcher {
            index,
            embedder,
            reranker: Box::new(LateInteractionReranker),
            query_cache: None,
            pair_space: OnceLock::new(),
        }
    }

    /// Replaces the reranker [`Mode::Rerank`] uses (the built-in [`LateInteractionReranker`] by
    /// default).
    pub fn with_reranker(mut self, reranker: Box<dyn Reranker + Send>) -> Searcher {
        self.reranker = reranker;
        self
    }

    pub fn corpus(&self) -> &Corpus {
        &self.index.corpus
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Remember query vectors by text: for evaluations that ask the same queries under many
    /// settings. Off by default, so that latency measurements include embedding.
    pub fn cache_query_vectors(&mut self, on: bool) {
        self.query_cache = on.then(HashMap::new);
    }

    /// The reranker's name.
    pub fn reranker_name(&self) -> &'static str {
        self.reranker.name()
    }

    /// Uses `pairs`, built elsewhere (e.g. while the model loads), as the searcher's pair space;
    /// it must be of this searcher's index.
    pub fn with_pair_space(mut self, pairs: PairSpace) -> Searcher {
        self.pair_space = OnceLock::from(pairs);
        self
    }

    /// The pairs of the corpus as points, for "related" and "see also"; built on first use and
    /// kept.
    pub fn pair_space(&self) -> &PairSpace {
        self.pair_space
            .get_or_init(|| PairSpace::new(self.index.corpus.pairs(), &self.index.vectors))
    }

    /// The loaded model, if any: for callers that embed text themselves (e.g. related items).
    pub fn embedder(&mut self) -> Option<&mut Embedder> {
        self.embedder.as_mut()
    }

    pub fn search(&mut self, query: &str, options: &SearchOptions) -> Result<Answers> {
        let mut timings = Timings::default();
        let depth = options.depth.max(options.top_k);

        let lexical = if options.mode == Mode::Dense {
            LexicalResult::default()
        } else {
            let started = Instant::now();
            let result = self.index.lexical.search(query, depth)?;
            timings.lexical = started.elapsed();
            result
        };

        let mut query_encoding = None;
        let dense = if options.mode.needs_embedder() {
            let embedder = self.embedder.as_mut().ok_or_else(|| {
                Error::Usage(format!(
                    "mode {} needs the embedding model",
                    options.mode.name()
                ))
            })?;
            let started = Instant::now();
            let cached = self
                .query_cache
                .as_ref()
                .and_then(|c| c.get(query))
                .cloned();
            let encoding = match cached {
                Some(encoding) => encoding,
                None => embedder.encode_query(query)?,
            };
            if let Some(cache) = self.query_cache.as_mut() {
                cache
                    .entry(query.to_string())
                    .or_insert_with(|| encoding.clone());
            }
            timings.embed = started.elapsed();
            let started = Instant::now();
            let docs = self.dense_docs(&encoding.vector, depth);
            timings.vector = started.elapsed();
            query_encoding = Some(encoding);
            docs
        } else {
            HashMap::new()
        };

        let started = Instant::now();
        let lexical_list: Vec<(usize, f32)> =
            lexical.hits.iter().map(|h| (h.doc, h.score)).collect();
        let mut dense_list: Vec<(usize, f32)> = dense.iter().map(|(&d, s)| (d, s.score)).collect();
        dense_list.sort_by(rerank::best_first);
        dense_list.truncate(depth);
        let fused = match options.mode {
            Mode::Hybrid | Mode::Rerank => {
                fusion::fuse(options.fusion, &lexical_list, &dense_list, lexical.coverage)
            }
            Mode::Bm25 => fusion::single_arm(&lexical_list, fusion::Arm::Lexical),
            Mode::Dense => fusion::single_arm(&dense_list, fusion::Arm::Dense),
        };
        timings.fusion = started.elapsed();

        let mut ranked: Vec<Ranked> = fused
            .into_iter()
            .map(|fused| Ranked {
                score: fused.score,
                fused,
                rerank: None,
            })
            .collect();
        if options.mode == Mode::Rerank {
            let started = Instant::now();
            let reranked = options.rerank_depth.min(ranked.len());
            let candidates: Vec<Candidate> = ranked[..reranked]
                .iter()
                .map(|r| Candidate {
                    doc: r.fused.doc,
                    fused_score: r.fused.score,
                })
                .collect();
            // A cross-encoder reads the query as the embedding model did, umlauts restored.
            let text = self
                .embedder
                .as_ref()
                .map_or(Cow::Borrowed(query), |e| e.respelled(query));
            let query = RerankQuery {
                text: &text,
                tokens: query_encoding.as_ref().map(|e| e.tokens.as_slice()),
            };
            let scores = self.reranker.score(&query, &candidates, &self.index)?;
            for (r, score) in ranked.iter_mut().zip(scores) {
                r.rerank = Some(score);
                r.score = score;
            }
            let mut head: Vec<(usize, f32)> = ranked[..reranked]
                .iter()
                .map(|r| (r.fused.doc, r.score))
                .collect();
            head.sort_by(rerank::best_first);
            let below: Vec<usize> = ranked[reranked..].iter().map(|r| r.fused.doc).collect();
            let weight = options.related_weight;
            // Built on first use only when needed.
            let space = (weight > 0.0).then(|| self.pair_space());
            let scored = rerank::lift_related(&head, &below, weight, |a, b| {
                space.map_or(0.0, |space| space.similarity(a, b))
            });
            let mut by_doc: HashMap<usize, Ranked> =
                ranked.drain(..).map(|r| (r.fused.doc, r)).collect();
            ranked = scored
                .into_iter()
                .map(|(doc, score)| Ranked {
                    score,
                    ..by_doc.remove(&doc).expect("one candidate per pair")
                })
                .collect();
            timings.rerank = started.elapsed();
        }

        let mut analyzer = crate::analysis::german_analyzer();
        let hits = ranked
            .into_iter()
            .take(options.top_k)
            .map(
                |Ranked {
                     fused: f,
                     rerank,
                     score,
                 }| {
                    let pair = self.index.corpus.get(f.doc);
                    let excerpt =
                        self.excerpt(f.doc, dense.get(&f.doc), &lexical.terms, &mut analyzer);
                    let in_excerpt = &pair.answer[excerpt.clone()];
                    let excerpt_matches = matching_spans(&mut analyzer, in_excerpt, &lexical.terms)
                        .into_iter()
                        .map(|r| r.start + excerpt.start..r.end + excerpt.start)
                        .collect();
                    Hit {
                        doc: f.doc,
                        score,
                        fused: f.score,
                        lexical: f.lexical,
                        dense: f.dense,
                        rerank,
                        excerpt_matches,
                        question_matches: matching_spans(
                            &mut analyzer,
                            &pair.question,
                            &lexical.terms,
                        ),
                        excerpt,
                    }
                },
            )
            .collect();
        let calibration = self.index.manifest.calibration;
        let confidence =
            dense
                .values()
                .map(|d| d.score)
                .max_by(f32::total_cmp)
                .map(|best_similarity| Confidence {
                    confident: best_similarity >= calibration.weak_below,
                    best_similarity,
                    weak_below: calibration.weak_below,
                });
        Ok(Answers {
            hits,
            terms: lexical.terms,
            lexical_coverage: lexical.coverage,
            confidence,
            timings,
        })
    }

    /// Nearest units through the graph, folded into one score per pair.
    fn dense_docs(&self, query: &[f32], depth: usize) -> HashMap<usize, DenseDoc> {
        let vectors = &self.index.vectors;
        let units_per_doc = vectors.len().div_ceil(self.index.corpus.len().max(1));
        let unit_hits = vectors.search(query, depth * units_per_doc);
        let mut docs: HashMap<usize, DenseDoc> = HashMap::new();
        for UnitHit {
            unit: id,
            similarity,
        } in unit_hits
        {
            let unit = &vectors.units()[id];
            let entry = docs.entry(unit.doc).or_insert(DenseDoc {
                score: f32::NEG_INFINITY,
                best_sentence: None,
            });
            entry.score = entry.score.max(similarity);
            if unit.kind == UnitKind::Sentence
                && entry
                    .best_sentence
                    .is_none_or(|(_, best)| similarity > best)
            {
                entry.best_sentence = Some((id, similarity));
            }
        }
        docs
    }

    /// The sentence of the answer that matched best: by embedding when the dense arm saw one,
    /// else the indexed sentence sharing most query terms, else the first.
    fn excerpt(
        &self,
        doc: usize,
        dense: Option<&DenseDoc>,
        terms: &[String],
        analyzer: &mut TextAnalyzer,
    ) -> Range<usize> {
        let vectors = &self.index.vectors;
        if let Some((unit, _)) = dense.and_then(|d| d.best_sentence) {
            return vectors.units()[unit].span.clone();
        }
        let answer = &self.index.corpus.get(doc).answer;
        let shared = |analyzer: &mut TextAnalyzer, span: &Range<usize>| {
            distinct_terms(analyzer, &answer[span.clone()])
                .iter()
                .filter(|t| terms.contains(t))
                .count()
        };
        let mut best: Option<(usize, Range<usize>)> = None;
        // The answer's own units: its sentences, or the whole answer when it is one sentence.
        for unit in vectors.units_of_doc(doc) {
            let unit = &vectors.units()[unit];
            if unit.kind == UnitKind::Question {
                continue;
            }
            let count = shared(analyzer, &unit.span);
            if best.as_ref().is_none_or(|(c, _)| count > *c) {
                best = Some((count, unit.span.clone()));
            }
        }
        best.map_or(0..answer.len(), |(_, span)| span)
    }
}
