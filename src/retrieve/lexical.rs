//! The lexical stage: BM25 over question and answer as separate tantivy fields, the question
//! field boosted because a query matches the question it paraphrases far more often than the
//! wording of the answer.
//!
//! Each field is indexed twice: as stemmed words, and as character grams of the words (see
//! [`text::gram_analyzer`]). Words are precise; grams find compounds, their parts, and
//! misspellings that no stem reaches. The two views are scored apart and summed after each is
//! scaled to its best hit, so neither drowns the other; the grams lift BM25 most on typos and
//! keyword queries (docs/EVALUATION.md, "BM25 twice").
//!
//! Queries are not parsed with tantivy's query language: the user's text goes through the same
//! analyzer as the documents and becomes a disjunction of terms, so quotes, colons, brackets,
//! `AND`, `*` or a lone `-` are just characters and can never be a syntax error.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::{Allowed, PairHit, RetrievalQuery, Retrieved, Retriever};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::text::{self, GERMAN_ANALYZER, GRAM_ANALYZER};

/// The field holding each document's corpus ordinal: stored, and a fast field that filters
/// collect on.
const ORDINAL: &str = "ordinal";

/// How much more a term in the question counts than the same term in the answer.
pub const QUESTION_BOOST: f32 = 2.0;

/// One document found by BM25: its corpus ordinal and score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LexicalHit {
    doc: usize,
    score: f32,
}

/// BM25 scores of the parts of the lexical score, by corpus ordinal (see
/// [`LexicalIndex::field_scores`]).
#[derive(Debug, Clone, Default)]
pub struct FieldScores {
    /// Stemmed words in the question field.
    pub question: HashMap<usize, f32>,
    /// Stemmed words in the answer field.
    pub answer: HashMap<usize, f32>,
    /// Character grams in both fields, the question boosted.
    pub grams: HashMap<usize, f32>,
}

/// A BM25 index over a corpus, read-only once built.
pub struct LexicalIndex {
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    gram_analyzer: TextAnalyzer,
}

#[derive(Clone, Copy)]
struct Fields {
    ordinal: Field,
    question: Field,
    answer: Field,
    question_grams: Field,
    answer_grams: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let text = |analyzer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(analyzer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        let mut builder = Schema::builder();
        let fields = Fields {
            ordinal: builder.add_u64_field(ORDINAL, FAST | STORED),
            question: builder.add_text_field("question", text(GERMAN_ANALYZER)),
            answer: builder.add_text_field("answer", text(GERMAN_ANALYZER)),
            question_grams: builder.add_text_field("question_grams", text(GRAM_ANALYZER)),
            answer_grams: builder.add_text_field("answer_grams", text(GRAM_ANALYZER)),
        };
        (builder.build(), fields)
    }

    /// The word fields with their weights.
    fn words(&self) -> [(Field, f32); 2] {
        [(self.question, QUESTION_BOOST), (self.answer, 1.0)]
    }

    /// The gram fields with their weights.
    fn grams(&self) -> [(Field, f32); 2] {
        [
            (self.question_grams, QUESTION_BOOST),
            (self.answer_grams, 1.0),
        ]
    }

    fn resolve(schema: &Schema) -> Result<Fields> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| tantivy::TantivyError::SchemaError(format!("field '{name}' missing")))
        };
        Ok(Fields {
            ordinal: get(ORDINAL)?,
            question: get("question")?,
            answer: get("answer")?,
            question_grams: get("question_grams")?,
            answer_grams: get("answer_grams")?,
        })
    }
}

/// Both analyzers, under the names the schema refers to them by.
fn register_analyzers(index: &Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(GERMAN_ANALYZER, text::german_analyzer());
    tokenizers.register(GRAM_ANALYZER, text::gram_analyzer());
}

impl LexicalIndex {
    /// Writes a new BM25 index for `corpus` into the empty directory `dir`.
    pub fn build(dir: &Path, corpus: &Corpus) -> Result<()> {
        let (schema, fields) = Fields::schema();
        let index = Index::create_in_dir(dir, schema)?;
        register_analyzers(&index);
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 32_000_000)?;
        for (ordinal, pair) in corpus.pairs().iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_u64(fields.ordinal, ordinal as u64);
            doc.add_text(fields.question, &pair.question);
            doc.add_text(fields.answer, &pair.answer);
            doc.add_text(fields.question_grams, &pair.question);
            doc.add_text(fields.answer_grams, &pair.answer);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        Ok(())
    }

    pub fn open(dir: &Path) -> Result<LexicalIndex> {
        let index = MmapDirectory::open(dir)
            .map_err(tantivy::TantivyError::from)
            .and_then(|files| Index::open(ReadOnly(files)))
            .map_err(|e| {
                Error::index_caused(
                    dir,
                    "cannot open the BM25 index; rebuild with `antwort index`",
                    e,
                )
            })?;
        register_analyzers(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(LexicalIndex {
            reader,
            fields,
            analyzer: text::german_analyzer(),
            gram_analyzer: text::gram_analyzer(),
        })
    }

    /// The raw BM25 scores behind [`LexicalIndex::retrieve`]'s, for the pairs among each part's
    /// `limit` best: the question and answer word fields apart (unboosted), and the grams.
    /// What `--explain` shows.
    pub fn field_scores(&self, query: &str, limit: usize) -> Result<FieldScores> {
        self.field_scores_within(query, limit, None)
    }

    /// [`LexicalIndex::field_scores`] among the `allowed` pairs only (all when `None`), as
    /// [`LexicalIndex::retrieve`] scores them under a filter.
    pub fn field_scores_within(
        &self,
        query: &str,
        limit: usize,
        allowed: Option<&Allowed>,
    ) -> Result<FieldScores> {
        let terms = distinct_terms(&mut self.analyzer.clone(), query);
        let grams = distinct_terms(&mut self.gram_analyzer.clone(), query);
        let searcher = self.reader.searcher();
        let mut scores = FieldScores::default();
        for (query, into) in [
            (
                disjunction(&terms, &[(self.fields.question, 1.0)]),
                &mut scores.question,
            ),
            (
                disjunction(&terms, &[(self.fields.answer, 1.0)]),
                &mut scores.answer,
            ),
            (disjunction(&grams, &self.fields.grams()), &mut scores.grams),
        ] {
            for hit in self.top(&searcher, &query, limit, allowed)? {
                into.insert(hit.doc, hit.score);
            }
        }
        Ok(scores)
    }

    /// The `limit` best pairs for a query, by corpus ordinal, among the `allowed` ones only
    /// when given: those are filtered while collecting, so `limit` of them come back whenever
    /// that many match.
    fn top(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        limit: usize,
        allowed: Option<&Allowed>,
    ) -> Result<Vec<LexicalHit>> {
        // Clamped to the corpus: tantivy allocates the whole limit up front.
        let candidates = allowed.map_or(searcher.num_docs() as usize, Allowed::len);
        let limit = limit.min(candidates).max(1);
        let top_docs = TopDocs::with_limit(limit);
        let top = match allowed {
            None => searcher.search(query, &top_docs)?,
            Some(allowed) => {
                let allowed = allowed.clone();
                let keep = move |ordinal: u64| {
                    usize::try_from(ordinal).is_ok_and(|ordinal| allowed.contains(ordinal))
                };
                let filtered = FilterCollector::new(ORDINAL.to_string(), keep, top_docs);
                searcher.search(query, &filtered)?
            }
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let ordinal = doc
                .get_first(self.fields.ordinal)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| {
                    tantivy::TantivyError::SchemaError("document without ordinal".into())
                })?;
            hits.push(LexicalHit {
                doc: ordinal as usize,
                score,
            });
        }
        Ok(hits)
    }

    /// IDF-weighted share of query terms that the corpus contains: an English question over
    /// German answers scores low here, and fusion listens to it.
    fn coverage(&self, searcher: &Searcher, terms: &[String]) -> Result<f32> {
        let docs = searcher.num_docs() as f32;
        let idf = |df: f32| (1.0 + (docs - df + 0.5) / (df + 0.5)).ln();
        let (mut seen, mut total) = (0.0f32, 0.0f32);
        for term in terms {
            let mut df = 0u64;
            for field in [self.fields.question, self.fields.answer] {
                df = df.max(searcher.doc_freq(&Term::from_field_text(field, term))?);
            }
            let weight = idf(df as f32);
            total += weight;
            if df > 0 {
                seen += weight;
            }
        }
        Ok(if total > 0.0 { seen / total } else { 0.0 })
    }
}

impl Retriever for LexicalIndex {
    fn name(&self) -> &'static str {
        "bm25"
    }

    /// Never fails on the query's content.
    fn retrieve(&self, query: &RetrievalQuery, depth: usize) -> Result<Retrieved> {
        let terms = distinct_terms(&mut self.analyzer.clone(), query.text);
        let searcher = self.reader.searcher();
        let coverage = self.coverage(&searcher, &terms)?;
        if terms.is_empty() || depth == 0 {
            return Ok(Retrieved {
                terms,
                coverage,
                ..Retrieved::default()
            });
        }
        let grams = distinct_terms(&mut self.gram_analyzer.clone(), query.text);
        let allowed = query.allowed;
        let words = disjunction(&terms, &self.fields.words());
        let words = self.top(&searcher, &words, depth, allowed)?;
        let grams = disjunction(&grams, &self.fields.grams());
        let grams = self.top(&searcher, &grams, depth, allowed)?;
        let views: [_; VIEWS] = [words, grams];
        let mut hits = sum_scaled(&views);
        hits.truncate(depth);
        Ok(Retrieved {
            hits: hits
                .into_iter()
                .map(|h| PairHit {
                    doc: h.doc,
                    score: h.score,
                    best_sentence: None,
                })
                .collect(),
            terms,
            coverage,
        })
    }
}

/// The BM25 files of a published generation, opened for reading only.
///
/// tantivy takes its meta lock, a file it creates and deletes, while it opens the segments, so
/// that a writer's garbage collection cannot delete them meanwhile. A generation is never
/// written again once it is published: there is no writer to keep out, and that lock file
/// would make an index on a read-only disk or a replica's read-only mount unreadable. So the
/// lock here is held in memory only, and every write is refused.
#[derive(Debug, Clone)]
struct ReadOnly(MmapDirectory);

impl ReadOnly {
    fn refused(path: &Path) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{}: an index generation is read-only", path.display()),
        )
    }
}

impl Directory for ReadOnly {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(Self::refused(path)),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            Self::refused(path),
            path.to_path_buf(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, _: &[u8]) -> std::io::Result<()> {
        Err(Self::refused(path))
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    /// Nothing to watch: the files never change.
    fn watch(&self, _: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

/// Every term in each of `fields`, each field's clauses boosted by its weight.
fn disjunction(terms: &[String], fields: &[(Field, f32)]) -> BooleanQuery {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * fields.len());
    for term in terms {
        for &(field, boost) in fields {
            let query = TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::WithFreqs,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(query), boost)),
            ));
        }
    }
    BooleanQuery::new(clauses)
}

/// The views a query is scored in, words and character grams: each adds at most 1 to a pair's
/// score ([`sum_scaled`]), so a pair's lexical score is at most this.
pub const VIEWS: usize = 2;

/// Sums hit lists after dividing each by its best score, best first (ties by ordinal).
///
/// BM25 over grams runs to many times the scores of BM25 over words, since a word brings a
/// handful of grams; scaling each list to its best hit gives both views the same say.
fn sum_scaled(lists: &[Vec<LexicalHit>]) -> Vec<LexicalHit> {
    let mut total: HashMap<usize, f32> = HashMap::new();
    for list in lists {
        let Some(best) = list.first().map(|h| h.score).filter(|&s| s > 0.0) else {
            continue;
        };
        for hit in list {
            *total.entry(hit.doc).or_default() += hit.score / best;
        }
    }
    let mut hits: Vec<LexicalHit> = total
        .into_iter()
        .map(|(doc, score)| LexicalHit { doc, score })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
    hits
}

/// The analyzed terms of `text`, each once, in first-seen order.
pub fn distinct_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    text::terms(analyzer, text)
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}
