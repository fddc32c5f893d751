//! The query pipeline: embed the query, ask both arms, fuse per Q&A pair, pick each hit's
//! matching sentence. Each stage is a call into its own module; this one only wires them and
//! times them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tantivy::tokenizer::TextAnalyzer;

use crate::corpus::{Corpus, UnitKind};
use crate::embed::{Encoder, Encoding};
use crate::error::{Error, Result};
use crate::fusion::{self, ArmRank, Fused, Fusion};
use crate::index::Index;
use crate::rerank::{self, Candidate, LateInteractionReranker, RerankQuery, Reranker};
use crate::retrieve::dense::{DenseRetriever, NeighbourSearch};
use crate::retrieve::lexical::{self, distinct_terms};
use crate::retrieve::{best_first, Allowed, PairHit, RetrievalQuery, Retrieved, Retriever};
use crate::similarity::PairSpace;
use crate::text::matching_spans;

/// Which retrievers answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Every mode, cheapest first.
    pub const ALL: [Mode; 4] = [Mode::Bm25, Mode::Dense, Mode::Hybrid, Mode::Rerank];

    pub fn needs_embedder(self) -> bool {
        self != Mode::Bm25
    }

    /// What the mode does, in a line.
    pub fn about(self) -> &'static str {
        match self {
            Mode::Bm25 => "BM25 only: exact words, no model needed",
            Mode::Dense => "embeddings only",
            Mode::Hybrid => "both, fused",
            Mode::Rerank => "both, fused, then the top candidates reranked: the full pipeline",
        }
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
    /// ([`rerank::lift_related`]); 0 keeps the reranker's order, `None` takes the reranker's
    /// own ([`Reranker::related_weight`]).
    pub related_weight: Option<f32>,
}

impl std::str::FromStr for Mode {
    type Err = Error;

    fn from_str(name: &str) -> Result<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                Error::Usage(format!(
                    "unknown mode {name:?}; the modes are {}",
                    names.join(", ")
                ))
            })
    }
}

impl SearchOptions {
    pub const DEFAULT_TOP_K: usize = 5;
    /// Candidates each arm fetches at least: the depth fusion normalises over, so that any
    /// `top_k` ranks its head as a default query does.
    pub const MIN_DEPTH: usize = fusion::NORMALISATION_DEPTH;

    pub fn new(mode: Mode, top_k: usize, fusion: Fusion) -> SearchOptions {
        SearchOptions {
            mode,
            top_k,
            fusion,
            depth: top_k.saturating_mul(5).max(Self::MIN_DEPTH),
            rerank_depth: rerank::DEFAULT_RERANK_DEPTH,
            related_weight: None,
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
    /// What the final order sorts by, on the last stage's own scale (in [`Mode::Rerank`] the
    /// reranker's, lowered by the lift): comparable within one list, not across queries.
    pub score: f32,
    /// The score to show ([`relevance`]): in [0, 1], never higher than the hit above it.
    pub relevance: f32,
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

/// Time spent in each stage of one query. The lexical arm runs while the query is embedded
/// (in the modes that do both), so the stages can add up to more than the query took.
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
    /// How much of the query BM25 could see (see [`Retrieved::coverage`]).
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

/// Answers queries over a loaded index.
///
/// `Send + Sync`, and [`Searcher::search`] takes `&self`: one loaded searcher serves any number
/// of threads; what needs exclusive access (an ONNX session) is guarded inside its stage.
pub struct Searcher {
    index: Index,
    encoder: Option<Box<dyn Encoder>>,
    reranker: Box<dyn Reranker>,
    neighbour_search: NeighbourSearch,
    /// Query encodings by query text, when [`Searcher::cache_query_vectors`] is on.
    query_cache: Option<Mutex<HashMap<String, Encoding>>>,
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
    /// `encoder` may be `None` when only BM25 will be asked.
    pub fn new(index: Index, encoder: Option<Box<dyn Encoder>>) -> Searcher {
        Searcher {
            index,
            encoder,
            reranker: Box::new(LateInteractionReranker),
            neighbour_search: NeighbourSearch::default(),
            query_cache: None,
            pair_space: OnceLock::new(),
        }
    }

    /// Replaces the reranker [`Mode::Rerank`] uses (the built-in [`LateInteractionReranker`] by
    /// default).
    pub fn with_reranker(mut self, reranker: Box<dyn Reranker>) -> Searcher {
        self.reranker = reranker;
        self
    }

    /// How the dense arm finds its nearest units (the HNSW graph by default).
    pub fn with_neighbour_search(mut self, search: NeighbourSearch) -> Searcher {
        self.neighbour_search = search;
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
        self.query_cache = on.then(Default::default);
    }

    /// The reranker's name.
    pub fn reranker_name(&self) -> &'static str {
        self.reranker.name()
    }

    /// The weight of the lift towards the best answer that `options` give with this
    /// searcher's reranker.
    pub fn related_weight(&self, options: &SearchOptions) -> f32 {
        (options.related_weight).unwrap_or_else(|| self.reranker.related_weight())
    }

    /// Uses `pairs`, built elsewhere (e.g. while the model loads), as the searcher's pair space;
    /// it must be of this searcher's index.
    pub fn with_pair_space(mut self, pairs: PairSpace) -> Searcher {
        self.pair_space = OnceLock::from(pairs);
        self
    }

    /// The pairs of the corpus as points, for the lift, "related" and "see also": read from
    /// the index on first use (built anew if that fails: the same space, only slower; callers
    /// that want the failure reported load it themselves, [`Index::load_pair_space`]) and
    /// kept.
    pub fn pair_space(&self) -> &PairSpace {
        self.pair_space.get_or_init(|| {
            (self.index.load_pair_space())
                .unwrap_or_else(|_| PairSpace::new(self.index.corpus.pairs(), &self.index.vectors))
        })
    }

    /// The loaded encoder, if any: for callers that embed text themselves (e.g. related items).
    pub fn encoder(&self) -> Option<&dyn Encoder> {
        self.encoder.as_deref()
    }

    /// The query's encoding, from the cache when it is on.
    fn encode(&self, encoder: &dyn Encoder, query: &str) -> Result<Encoding> {
        let Some(cache) = &self.query_cache else {
            return encoder.encode_query(query);
        };
        let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(encoding) = lock().get(query) {
            return Ok(encoding.clone());
        }
        let encoding = encoder.encode_query(query)?;
        lock()
            .entry(query.to_string())
            .or_insert_with(|| encoding.clone());
        Ok(encoding)
    }

    /// Answers `query`. `top_k`, `depth` and `rerank_depth` beyond the corpus mean all of it.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Answers> {
        self.search_within(query, options, None)
    }

    /// Answers `query` from the `allowed` pairs only (all when `None`), e.g. those a
    /// [`crate::retrieve::Filter`] lets through. Both arms search within them before ranking,
    /// so the answers are the `top_k` best allowed pairs, not the allowed ones among the
    /// `top_k` best; reranking and the lift see only allowed candidates too.
    pub fn search_within(
        &self,
        query: &str,
        options: &SearchOptions,
        allowed: Option<&Allowed>,
    ) -> Result<Answers> {
        let mut timings = Timings::default();
        if let Some(allowed) = allowed {
            if allowed
                .docs()
                .last()
                .is_some_and(|d| d >= self.index.corpus.len())
            {
                return Err(Error::Internal(
                    "a filter's pairs are not of this index's corpus".into(),
                ));
            }
        }
        let pairs = allowed.map_or(self.index.corpus.len(), Allowed::len);
        let top_k = options.top_k.min(pairs);
        let depth = options.depth.max(top_k).min(pairs);

        let encoder = if options.mode.needs_embedder() {
            Some(self.encoder.as_deref().ok_or_else(|| {
                Error::Usage(format!(
                    "mode {} needs the embedding model",
                    options.mode.name()
                ))
            })?)
        } else {
            None
        };
        // BM25 needs no embedding, so it runs on a thread of its own while the query is
        // embedded: the embedding is most of a query's time, and BM25 over a large corpus
        // is the next largest part (docs/EVALUATION.md, "Speed").
        let ask_lexical = || -> Result<(Retrieved, Duration)> {
            let started = Instant::now();
            let lexical = RetrievalQuery {
                text: query,
                encoding: None,
                allowed,
            };
            let result = self.index.lexical.retrieve(&lexical, depth)?;
            Ok((result, started.elapsed()))
        };
        let embed = |encoder: &dyn Encoder| -> Result<(Encoding, Duration)> {
            let started = Instant::now();
            let encoding = self.encode(encoder, query)?;
            Ok((encoding, started.elapsed()))
        };
        let ((lexical, lexical_took), encoding) = match encoder {
            None => (ask_lexical()?, None),
            Some(encoder) if options.mode == Mode::Dense => (
                (Retrieved::default(), Duration::ZERO),
                Some(embed(encoder)?),
            ),
            Some(encoder) => std::thread::scope(|scope| {
                let lexical = scope.spawn(ask_lexical);
                let encoding = embed(encoder);
                let lexical = lexical
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                Ok::<_, Error>((lexical?, Some(encoding?)))
            })?,
        };
        timings.lexical = lexical_took;
        let encoding = encoding.map(|(encoding, took)| {
            timings.embed = took;
            encoding
        });
        let retrieval = RetrievalQuery {
            text: query,
            encoding: encoding.as_ref(),
            allowed,
        };

        let dense = if options.mode.needs_embedder() {
            let started = Instant::now();
            let arm = DenseRetriever {
                index: &self.index.vectors,
                search: self.neighbour_search,
            };
            let result = arm.retrieve(&retrieval, depth)?;
            timings.vector = started.elapsed();
            result
        } else {
            Retrieved::default()
        };

        let started = Instant::now();
        let list = |arm: &Retrieved| -> Vec<(usize, f32)> {
            arm.hits.iter().map(|h| (h.doc, h.score)).collect()
        };
        let (lexical_list, dense_list) = (list(&lexical), list(&dense));
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
            ranked = self.rerank(query, encoding.as_ref(), ranked, options)?;
            timings.rerank = started.elapsed();
        }

        let mut analyzer = crate::text::german_analyzer();
        let best_sentences: HashMap<usize, (usize, f32)> = dense
            .hits
            .iter()
            .filter_map(|h| Some((h.doc, h.best_sentence?)))
            .collect();
        let mut hits: Vec<Hit> = ranked
            .into_iter()
            .take(top_k)
            .map(
                |Ranked {
                     fused: f,
                     rerank,
                     score,
                 }| {
                    let pair = self.index.corpus.get(f.doc);
                    let excerpt = self.excerpt(
                        f.doc,
                        best_sentences.get(&f.doc).copied(),
                        &lexical.terms,
                        &mut analyzer,
                    );
                    let in_excerpt = &pair.answer[excerpt.clone()];
                    let excerpt_matches = matching_spans(&mut analyzer, in_excerpt, &lexical.terms)
                        .into_iter()
                        .map(|r| r.start + excerpt.start..r.end + excerpt.start)
                        .collect();
                    Hit {
                        doc: f.doc,
                        score,
                        relevance: 0.0,
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
        relevance(
            &mut hits,
            dense.hits.last().map(|h| h.score),
            calibration.weak_below,
        );
        // The dense list is best first: its head is the query's best similarity to any unit.
        let confidence = dense
            .hits
            .first()
            .map(|h: &PairHit| h.score)
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

    /// The candidates within the rerank depth rescored by the reranker, those below put under
    /// them in fused order, then all lifted towards the best answer ([`rerank::lift_related`]).
    fn rerank(
        &self,
        query: &str,
        encoding: Option<&Encoding>,
        mut ranked: Vec<Ranked>,
        options: &SearchOptions,
    ) -> Result<Vec<Ranked>> {
        let reranked = options.rerank_depth.min(ranked.len());
        let tokens = &self.index.tokens;
        let candidates: Vec<Candidate> = ranked[..reranked]
            .iter()
            .map(|r| Candidate {
                doc: r.fused.doc,
                fused_score: r.fused.score,
                pair: self.index.corpus.get(r.fused.doc),
                tokens: tokens.doc(r.fused.doc),
            })
            .collect();
        // A cross-encoder reads the query as the embedding model did, umlauts restored.
        let text = self
            .encoder
            .as_deref()
            .map_or(Ok(Cow::Borrowed(query)), |e| e.respelled(query))?;
        let query_tokens = encoding.map(|e| tokens.query(&e.tokens));
        let query = RerankQuery {
            text: &text,
            tokens: query_tokens.as_ref(),
        };
        let scores = self.reranker.score(&query, &candidates)?;
        if scores.len() != candidates.len() {
            return Err(Error::Internal(format!(
                "reranker {} gave {} scores for {} candidates",
                self.reranker.name(),
                scores.len(),
                candidates.len()
            )));
        }
        for (r, score) in ranked.iter_mut().zip(scores) {
            r.rerank = Some(score);
            r.score = score;
        }
        let mut head: Vec<(usize, f32)> = ranked[..reranked]
            .iter()
            .map(|r| (r.fused.doc, r.score))
            .collect();
        head.sort_by(best_first);
        let below: Vec<usize> = ranked[reranked..].iter().map(|r| r.fused.doc).collect();
        let weight = self.related_weight(options);
        // Built on first use only when needed.
        let space = (weight > 0.0).then(|| self.pair_space());
        let scored = rerank::lift_related(&head, &below, weight, |a, b| {
            space.map_or(0.0, |space| space.similarity(a, b))
        });
        let mut by_doc: HashMap<usize, Ranked> =
            ranked.drain(..).map(|r| (r.fused.doc, r)).collect();
        scored
            .into_iter()
            .map(|(doc, score)| {
                let candidate = by_doc.remove(&doc).ok_or_else(|| {
                    Error::Internal(format!("pair {doc} came out of the lift twice"))
                })?;
                Ok(Ranked { score, ..candidate })
            })
            .collect()
    }

    /// The sentence of the answer that matched best: by embedding when the dense arm saw one,
    /// else the indexed sentence sharing most query terms, else the first.
    fn excerpt(
        &self,
        doc: usize,
        best_sentence: Option<(usize, f32)>,
        terms: &[String],
        analyzer: &mut TextAnalyzer,
    ) -> Range<usize> {
        let vectors = &self.index.vectors;
        if let Some((unit, _)) = best_sentence {
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

/// How sharply the shown score rises from 0 to 1 around the index's confidence threshold, in
/// cosine similarity: e5's similarities of a good and of a poor answer to one question lie a
/// few hundredths apart, so a hit 0.04 above the threshold shows 0.88, one 0.04 below 0.12.
const RELEVANCE_SCALE: f32 = 0.02;

/// The scores a user reads, one meaning for every query and mode: how close each hit is to the
/// query, in [0, 1], never higher than the hit above it.
///
/// With the model, a hit's closeness is its best sentence's cosine to the query on the index's
/// own scale: a logistic around the threshold below which the corpus is taken not to answer
/// ([`crate::index::Calibration`]), so 0.5 is that threshold on any corpus; a hit the dense arm
/// did not list (`dense_floor` is its last) is at most as close as that last one. BM25 alone
/// has no such scale: its score sums the shares of the best match of each of its views
/// ([`lexical::VIEWS`]), so there it is that sum over the views. Either way each hit shows at
/// most what the hit above it shows, so the shown scores fall with the final order that the
/// reranker and the lift decided; the stage scores stay in `--explain`.
fn relevance(hits: &mut [Hit], dense_floor: Option<f32>, weak_below: f32) {
    let mut ceiling = 1.0f32;
    for hit in hits {
        let closeness = match dense_floor {
            Some(floor) => {
                let similarity = hit.dense.map_or(floor, |d| d.score);
                1.0 / (1.0 + (-(similarity - weak_below) / RELEVANCE_SCALE).exp())
            }
            None => hit.fused / lexical::VIEWS as f32,
        };
        ceiling = ceiling.min(closeness.clamp(0.0, 1.0));
        hit.relevance = ceiling;
    }
}

/// A searcher is shared across threads as it is.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Searcher>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{CorpusSource, QaPair};
    use crate::embed::HashingEncoder;
    use crate::index::IndexDir;

    /// A small corpus indexed for real (tantivy, the HNSW graph, token states) with the
    /// hashing encoder, in a temporary directory.
    fn searcher() -> (tempfile::TempDir, Searcher) {
        searcher_of(vec![
            QaPair::new(
                "lora",
                "Was ist LoRA?",
                "Low-Rank-Adaptation friert die Gewichte ein. Nur kleine Adapter werden trainiert.",
            ),
            QaPair::new(
                "rag",
                "Was ist Retrieval-Augmented Generation?",
                "RAG holt passende Dokumente. Das Modell antwortet mit diesen Belegen.",
            ),
            QaPair::new(
                "gan",
                "Wie funktioniert ein GAN?",
                "Ein Generator fälscht Bilder. Ein Diskriminator entlarvt die Fälschung.",
            ),
            QaPair::new(
                "diffusion",
                "Wie funktionieren Diffusionsmodelle?",
                "Diffusionsmodelle entfernen schrittweise Rauschen aus einem Bild.",
            ),
        ])
    }

    fn searcher_of(pairs: Vec<QaPair>) -> (tempfile::TempDir, Searcher) {
        let corpus = Corpus::from_pairs(pairs).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let index_dir = IndexDir::new(dir.path());
        let encoder = HashingEncoder::new(48);
        index_dir
            .build(&corpus, &CorpusSource::Bundled, &encoder, &())
            .unwrap();
        let searcher = Searcher::new(index_dir.open().unwrap(), Some(Box::new(encoder)));
        (dir, searcher)
    }

    fn ids(searcher: &Searcher, answers: &Answers) -> Vec<String> {
        answers
            .hits
            .iter()
            .map(|h| searcher.corpus().get(h.doc).id.clone())
            .collect()
    }

    /// The head of the answers is the same however many are asked for: fusion normalises
    /// over a fixed depth and the lift reorders a fixed window, so `eval`'s top 100 begins as
    /// `ask`'s top 5 does, on a corpus deeper than both.
    #[test]
    fn the_head_of_the_answers_does_not_depend_on_how_many_are_asked_for() {
        let words = [
            "Modell", "Training", "Daten", "Tokens", "Gewichte", "Adapter", "Rauschen", "Bilder",
            "Suche", "Vektoren", "Kontext", "Fenster", "Agent", "Werkzeug",
        ];
        let pairs: Vec<QaPair> = (0..150)
            .map(|i| {
                let (a, b, c) = (words[i % 14], words[(i / 3) % 14], words[(i * 7 + 1) % 14]);
                QaPair::new(
                    format!("pair-{i}"),
                    format!("Wie hängen {a} und {b} zusammen?"),
                    format!("{a} beeinflusst {b}, und {c} ebenso. {b} braucht {c}."),
                )
            })
            .collect();
        let (_dir, searcher) = searcher_of(pairs);
        for query in [
            "Adapter und Gewichte",
            "Rauschen in Bildern",
            "Kontext Fenster Agent",
        ] {
            let head = |top_k: usize| {
                let options = SearchOptions::new(Mode::Rerank, top_k, DEFAULT_FUSION);
                let answers = searcher.search(query, &options).unwrap();
                ids(&searcher, &answers)[..5].to_vec()
            };
            assert_eq!(head(5), head(100), "{query}");
        }
    }

    /// BM25 runs on its own thread while the query is embedded: what it finds there, under a
    /// filter too, is what it finds alone, and both stages are timed.
    #[test]
    fn bm25_beside_the_embedding_answers_as_bm25_alone() {
        let (_dir, searcher) = searcher();
        let pairs = searcher.corpus().len();
        let every = Allowed::from_docs(pairs, 0..pairs);
        let some = Allowed::from_docs(pairs, [0, 2]);
        for allowed in [None, Some(&every), Some(&some)] {
            let ranks = |mode: Mode| {
                // Every pair, so that each mode lists every pair BM25 found.
                let options = SearchOptions::new(mode, pairs, DEFAULT_FUSION);
                let answers =
                    (searcher.search_within("Gewichte Adapter trainiert", &options, allowed))
                        .unwrap();
                let mut ranks: Vec<(usize, usize)> = (answers.hits.iter())
                    .filter_map(|h| Some((h.lexical?.rank, h.doc)))
                    .collect();
                ranks.sort_unstable();
                (ranks, answers.timings)
            };
            let (alone, _) = ranks(Mode::Bm25);
            assert!(!alone.is_empty(), "{allowed:?}");
            for mode in [Mode::Hybrid, Mode::Rerank] {
                let (beside, timings) = ranks(mode);
                assert_eq!(beside, alone, "{mode:?}, {allowed:?}");
                assert!(
                    !timings.embed.is_zero() && !timings.lexical.is_zero(),
                    "{mode:?}"
                );
            }
        }
    }

    #[test]
    fn every_mode_finds_the_pair_that_shares_the_words() {
        let (_dir, searcher) = searcher();
        for mode in Mode::ALL {
            let options = SearchOptions::new(mode, 4, DEFAULT_FUSION);
            let answers = searcher.search("Diskriminator entlarvt", &options).unwrap();
            assert_eq!(ids(&searcher, &answers)[0], "gan", "{mode:?}");
            assert!(
                answers.hits.windows(2).all(|w| w[0].score >= w[1].score),
                "{mode:?}: scores out of order"
            );
            let gan = &answers.hits[0];
            let answer = &searcher.corpus().get(gan.doc).answer;
            let excerpt = &answer[gan.excerpt.clone()];
            assert!(excerpt.contains("Diskriminator"), "{mode:?}: {excerpt:?}");
        }
    }

    /// The shown score is in [0, 1] and never rises down the list, in every mode, however the
    /// stages ordered it.
    #[test]
    fn shown_scores_are_bounded_and_fall_with_the_order() {
        let (_dir, searcher) = searcher();
        for mode in Mode::ALL {
            let options = SearchOptions::new(mode, 4, DEFAULT_FUSION);
            for query in [
                "Was ist LoRA?",
                "Rauschen im Bild",
                "Generator",
                "xyz Fälschung",
            ] {
                let hits = searcher.search(query, &options).unwrap().hits;
                let shown: Vec<f32> = hits.iter().map(|h| h.relevance).collect();
                assert!(
                    shown.iter().all(|s| (0.0..=1.0).contains(s)),
                    "{mode:?} {query}: {shown:?}"
                );
                assert!(
                    shown.windows(2).all(|w| w[0] >= w[1]),
                    "{mode:?} {query}: {shown:?}"
                );
            }
        }
    }

    /// Two pairs hold every word of the query, so MaxSim against either whole pair is the same;
    /// the one whose answer repeats them leads the fused list, but only the other asks it in its
    /// question, and the reranker puts that one first.
    #[test]
    fn the_question_that_asks_it_breaks_a_tie_of_whole_pairs() {
        let (_dir, searcher) = searcher_of(vec![
            QaPair::new(
                "what",
                "What is the coronavirus?",
                "A virus. Which symptoms? Coronavirus symptoms, which symptoms: see elsewhere.",
            ),
            QaPair::new(
                "symptoms",
                "Which symptoms does the coronavirus cause?",
                "Fever and cough.",
            ),
            QaPair::new("masks", "Do masks help?", "They reduce the spread."),
        ]);
        let query = "which symptoms coronavirus";
        let encoding = searcher.encoder().unwrap().encode_query(query).unwrap();
        let tokens = searcher.index.tokens.query(&encoding.tokens);
        let [what, symptoms] = [0, 1].map(|doc| {
            let stored = searcher.index.tokens.doc(doc);
            stored.maxsims_in(&tokens, &mut Vec::new())
        });
        assert!(
            (what.pair - symptoms.pair).abs() < 1e-6,
            "{what:?} {symptoms:?}"
        );
        assert!(symptoms.lead > what.lead + 0.1, "{what:?} {symptoms:?}");
        let order = |mode| {
            let options = SearchOptions::new(mode, 3, DEFAULT_FUSION);
            ids(&searcher, &searcher.search(query, &options).unwrap())
        };
        assert_eq!(order(Mode::Hybrid)[..2], ["what", "symptoms"]);
        assert_eq!(order(Mode::Rerank)[..2], ["symptoms", "what"]);
    }

    #[test]
    fn sizes_beyond_the_corpus_mean_all_of_it() {
        let (_dir, searcher) = searcher();
        for huge in [100, 100_000_000, usize::MAX / 2, usize::MAX] {
            let mut options = SearchOptions::new(Mode::Rerank, huge, DEFAULT_FUSION);
            options.depth = huge;
            options.rerank_depth = huge;
            let answers = searcher.search("Was ist LoRA?", &options).unwrap();
            assert_eq!(answers.hits.len(), 4, "top_k {huge}");
            assert_eq!(ids(&searcher, &answers)[0], "lora");
        }
    }

    #[test]
    fn threads_sharing_one_searcher_get_what_one_thread_gets() {
        let (_dir, searcher) = searcher();
        let queries = [
            "Was ist LoRA?",
            "Rauschen im Bild",
            "Dokumente als Belege",
            "Generator",
        ];
        let options = SearchOptions::new(Mode::Rerank, 4, DEFAULT_FUSION);
        let alone: Vec<Vec<Hit>> = queries
            .iter()
            .map(|q| searcher.search(q, &options).unwrap().hits)
            .collect();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|offset| {
                    let searcher = &searcher;
                    scope.spawn(move || {
                        (0..20)
                            .map(|i| {
                                let q = (i + offset) % queries.len();
                                (q, searcher.search(queries[q], &options).unwrap().hits)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                for (q, hits) in worker.join().unwrap() {
                    assert_eq!(hits, alone[q], "query {:?}", queries[q]);
                }
            }
        });
    }

    #[test]
    fn a_mode_that_needs_the_model_says_so_without_one() {
        let (_dir, searcher) = searcher();
        let index = IndexDir::new(_dir.path()).open().unwrap();
        drop(searcher);
        let bm25_only = Searcher::new(index, None);
        let options = SearchOptions::new(Mode::Bm25, 3, DEFAULT_FUSION);
        let answers = bm25_only.search("LoRA", &options).unwrap();
        assert_eq!(
            ids(&bm25_only, &answers),
            ["lora"],
            "only the pair with the word"
        );
        let options = SearchOptions::new(Mode::Dense, 3, DEFAULT_FUSION);
        let error = bm25_only.search("LoRA", &options).unwrap_err().to_string();
        assert!(error.contains("needs the embedding model"), "{error}");
    }

    #[test]
    fn a_filtered_search_ranks_only_the_allowed_pairs() {
        let (_dir, searcher) = searcher();
        let doc = |id: &str| searcher.corpus().position(id).unwrap();
        let allowed = Allowed::from_docs(4, [doc("rag"), doc("diffusion")]);
        for mode in Mode::ALL {
            let mut options = SearchOptions::new(mode, 2, DEFAULT_FUSION);
            // One candidate per arm: a filter applied after retrieval would keep nothing.
            options.depth = 1;
            let query = "Diskriminator entlarvt die Fälschung von Bildern";
            let unfiltered = searcher.search(query, &options).unwrap();
            assert_eq!(ids(&searcher, &unfiltered)[0], "gan", "{mode:?}");
            let answers = searcher
                .search_within(query, &options, Some(&allowed))
                .unwrap();
            let found = ids(&searcher, &answers);
            assert!(
                found.iter().all(|id| id == "rag" || id == "diffusion"),
                "{mode:?}: {found:?}"
            );
            if mode != Mode::Bm25 {
                assert_eq!(found.len(), 2, "{mode:?}: still top-k, {found:?}");
            }
            if let Some(confidence) = answers.confidence {
                let best = answers.hits.iter().filter_map(|h| h.dense).map(|d| d.score);
                let best = best.fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(
                    confidence.best_similarity, best,
                    "{mode:?}: among allowed pairs"
                );
            }
        }
        // BM25 finds an allowed pair by a word only that pair has.
        let options = SearchOptions::new(Mode::Bm25, 3, DEFAULT_FUSION);
        let answers = searcher
            .search_within("Rauschen Diskriminator", &options, Some(&allowed))
            .unwrap();
        assert_eq!(ids(&searcher, &answers), ["diffusion"]);
    }

    #[test]
    fn modes_parse_by_name() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
        }
        let error = "fast".parse::<Mode>().unwrap_err().to_string();
        assert!(error.contains("bm25, dense, hybrid, rerank"), "{error}");
    }
}
