//! Incremental builds with the real model: a build over a changed corpus embeds only the pairs
//! that changed and answers as a full build of the same corpus does.

mod common;

use antwort::corpus::{Corpus, CorpusSource, QaPair};
use antwort::index::{BuildOptions, IndexDir, Reuse};
use antwort::search::{Answers, Mode, SearchOptions, Searcher, DEFAULT_FUSION};

const QUERIES: &[&str] = &[
    "Was ist LoRA?",
    "How do diffusion models work?",
    "Wie bewertet man ein LLM?",
    "Was ist Mode Collapse bei GANs?",
    "Wie funktioniert Retrieval-Augmented Generation?",
    "What is the bottleneck of transformers?",
    "Wasserstein",
    "Warum halluzinieren Sprachmodelle?",
];

/// The bundled corpus with one answer rewritten, one pair removed and one added.
fn changed(corpus: &Corpus) -> Corpus {
    let mut pairs: Vec<QaPair> = corpus.pairs().to_vec();
    pairs[3]
        .answer
        .push_str(" Dazu kommt ein weiterer Satz, der die Antwort ändert.");
    pairs.remove(10);
    pairs.push(QaPair {
        id: "quantisierung".into(),
        section: "ai-engineer".into(),
        question: "Was bringt die Quantisierung eines Sprachmodells?".into(),
        answer: "Quantisierung speichert die Gewichte mit weniger Bits, etwa vier statt \
                 sechzehn. Das Modell braucht weniger Speicher und rechnet schneller, \
                 verliert aber etwas Genauigkeit."
            .into(),
        metadata: Default::default(),
    });
    Corpus::from_pairs(pairs).unwrap()
}

fn answers(searcher: &Searcher, query: &str) -> Answers {
    searcher
        .search(query, &SearchOptions::new(Mode::Rerank, 5, DEFAULT_FUSION))
        .unwrap()
}

#[test]
fn an_incremental_build_embeds_only_changes_and_answers_as_a_full_build() {
    let encoder = common::encoder();
    let source = CorpusSource::Bundled;
    let original = Corpus::load(&source).unwrap();
    let corpus = changed(&original);

    let incremental = tempfile::tempdir().unwrap();
    let incremental_dir = IndexDir::new(incremental.path());
    let first = incremental_dir
        .build(&original, &source, &encoder, &())
        .unwrap();
    assert_eq!(first.build.pairs_reused, 0);
    assert_eq!(first.build.pairs_embedded, original.len());
    let update = incremental_dir
        .build(&corpus, &source, &encoder, &())
        .unwrap();
    // The rewritten pair and the new one; the removed one is gone with its rows.
    assert_eq!(update.build.pairs_embedded, 2);
    assert_eq!(update.build.pairs_reused, corpus.len() - 2);
    assert!(update.build.units_embedded < first.build.units_embedded / 5);

    let full = tempfile::tempdir().unwrap();
    let full_dir = IndexDir::new(full.path());
    let rebuilt = full_dir
        .build_with(
            &corpus,
            &source,
            &encoder,
            &(),
            BuildOptions {
                reuse: Reuse::Nothing,
                ..BuildOptions::default()
            },
        )
        .unwrap();
    assert_eq!(rebuilt.build.pairs_embedded, corpus.len());
    assert_eq!(update.units, rebuilt.units);
    assert_eq!(update.build.tokens, rebuilt.build.tokens);
    assert_eq!(update.calibration, rebuilt.calibration);

    let incremental_index = incremental_dir.open().unwrap();
    let full_index = full_dir.open().unwrap();
    // The token file is the very one a full build writes.
    assert!(incremental_index.tokens == full_index.tokens);
    // Reused embeddings are the very ones a full build makes.
    for unit in 0..full_index.vectors.len() {
        let (a, b) = (
            incremental_index.vectors.vector(unit),
            full_index.vectors.vector(unit),
        );
        let cosine: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!(cosine > 0.9999, "unit {unit}: cosine {cosine}");
    }

    let incremental = Searcher::new(incremental_index, Some(Box::new(common::encoder())));
    let full = Searcher::new(full_index, Some(Box::new(encoder)));
    for query in QUERIES {
        let (a, b) = (answers(&incremental, query), answers(&full, query));
        assert_eq!(
            common::ids(&incremental, &a),
            common::ids(&full, &b),
            "{query}"
        );
        for (x, y) in a.hits.iter().zip(&b.hits) {
            assert_eq!(x.score, y.score, "{query}");
        }
    }
    // The new pair is found.
    let hits = answers(&incremental, "Was bringt Quantisierung der Gewichte?").hits;
    assert_eq!(incremental.corpus().get(hits[0].doc).id, "quantisierung");
}
