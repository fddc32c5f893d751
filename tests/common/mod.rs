//! Shared fixture: the bundled corpus indexed once per test binary with the real model, into a
//! temporary directory, then opened from disk as `antwort ask` opens it.

#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, OnceLock};

use antwort::corpus::{Corpus, CorpusSource};
use antwort::embed::{Embedder, ModelFiles};
use antwort::index::IndexDir;
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};

pub fn models() -> ModelFiles {
    ModelFiles::locate(None).expect("the models are missing: run scripts/fetch-models")
}

struct Fixture {
    _dir: tempfile::TempDir,
    searcher: Mutex<Searcher>,
}

/// A searcher over the bundled corpus, built with the real model and loaded back from disk.
pub fn bundled() -> MutexGuard<'static, Searcher> {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let models = models();
        let mut embedder = Embedder::load(&models, 2).unwrap();
        let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
        let index_dir = IndexDir::new(dir.path());
        index_dir
            .build(
                &corpus,
                &CorpusSource::Bundled,
                &models,
                &mut embedder,
                &indicatif::ProgressBar::hidden(),
            )
            .unwrap();
        let index = index_dir.open().unwrap();
        Fixture {
            _dir: dir,
            searcher: Mutex::new(Searcher::new(index, Some(embedder))),
        }
    });
    fixture.searcher.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ids of the top `k` answers for `query` in `mode` with the default fusion.
pub fn top_ids(searcher: &mut Searcher, query: &str, mode: Mode, k: usize) -> Vec<String> {
    let options = SearchOptions::new(mode, k, DEFAULT_FUSION);
    let answers = searcher.search(query, &options).unwrap();
    answers
        .hits
        .iter()
        .map(|h| searcher.corpus().get(h.doc).id.clone())
        .collect()
}
