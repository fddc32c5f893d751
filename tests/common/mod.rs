//! Shared fixture: the bundled corpus indexed once per test binary with the real model, into a
//! temporary directory, then opened from disk as `antwort ask` opens it.
//!
//! These tests need the model files: run `scripts/fetch-models` first (`scripts/test` does).

#![allow(dead_code)]

pub mod binary;
pub mod reference;
pub mod small;

use std::sync::OnceLock;

use antwort::corpus::{Corpus, CorpusSource};
use antwort::embed::{E5Encoder, ModelFiles, TokenizerScope};
use antwort::index::IndexDir;
use antwort::search::{Answers, Mode, SearchOptions, Searcher, DEFAULT_FUSION};

/// The model files, or a panic that says how to get them.
pub fn models() -> ModelFiles {
    ModelFiles::locate(None).unwrap_or_else(|e| {
        panic!("this test runs the real model, which is missing: {e}\n(run scripts/fetch-models)")
    })
}

/// The real encoder.
pub fn encoder() -> E5Encoder {
    E5Encoder::load(&models(), 2, TokenizerScope::Whole).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    searcher: Searcher,
}

/// A searcher over the bundled corpus, built with the real model and loaded back from disk;
/// shared by every test of the binary, from any thread.
pub fn bundled() -> &'static Searcher {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let encoder = encoder();
            let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
            let index_dir = IndexDir::new(dir.path());
            index_dir
                .build(&corpus, &CorpusSource::Bundled, &encoder, &())
                .unwrap();
            let index = index_dir.open().unwrap();
            Fixture {
                _dir: dir,
                searcher: Searcher::new(index, Some(Box::new(encoder))),
            }
        })
        .searcher
}

/// Ids of the top `k` answers for `query` in `mode` with the default fusion.
pub fn top_ids(searcher: &Searcher, query: &str, mode: Mode, k: usize) -> Vec<String> {
    let options = SearchOptions::new(mode, k, DEFAULT_FUSION);
    let answers = searcher.search(query, &options).unwrap();
    answers
        .hits
        .iter()
        .map(|h| searcher.corpus().get(h.doc).id.clone())
        .collect()
}

/// Ids of the pairs `answers` found, best first.
pub fn ids(searcher: &Searcher, answers: &Answers) -> Vec<String> {
    (answers.hits.iter())
        .map(|h| searcher.corpus().get(h.doc).id.clone())
        .collect()
}
