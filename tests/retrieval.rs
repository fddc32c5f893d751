//! Retrieval behaviour on the bundled corpus, with the real model and real indexes.

mod common;

use antwort::eval::{self, bundled as judged, Config};
use antwort::retrieve::dense::{GraphPolicy, UnitHit, VectorIndex};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};
use common::{bundled, top_ids};

fn assert_in_top(query: &str, mode: Mode, k: usize, expected: &str) {
    let ids = top_ids(bundled(), query, mode, k);
    assert!(
        ids.iter().any(|id| id == expected),
        "{query:?} ({mode:?}): expected {expected} in the top {k}, got {ids:?}"
    );
}

#[test]
fn german_paraphrases_find_their_question() {
    for (query, expected) in [
        (
            "Zwei neuronale Netze treten gegeneinander an: eins fälscht Bilder, das andere soll die Fälschung entlarven. Wie funktioniert das?",
            "gan-principles",
        ),
        (
            "Das Training meines Generator-Diskriminator-Paars schwankt wild und kommt nie zur Ruhe, welche Kniffe helfen?",
            "gan-training-stability",
        ),
        (
            "Mein Sprachmodell übersieht bei sehr langen Eingaben alles, was zwischen Anfang und Schluss steht",
            "lost-in-the-middle",
        ),
    ] {
        assert_in_top(query, Mode::Hybrid, 3, expected);
    }
}

#[test]
fn english_questions_find_german_answers() {
    for (query, expected) in [
        (
            "How do diffusion models generate images?",
            "diffusion-models",
        ),
        (
            "When should I use RAG instead of fine-tuning?",
            "rag-vs-fine-tuning",
        ),
        (
            "What is mode collapse in GANs and how do you deal with it?",
            "gan-mode-collapse",
        ),
        (
            "How can guardrails make an LLM deployment safe?",
            "llm-guardrails",
        ),
    ] {
        assert_in_top(query, Mode::Hybrid, 3, expected);
    }
}

#[test]
fn a_rare_term_is_found_first_by_bm25() {
    let ids = top_ids(bundled(), "Wasserstein", Mode::Bm25, 3);
    assert_eq!(
        ids.first().map(String::as_str),
        Some("gan-training-stability"),
        "{ids:?}"
    );
}

#[test]
fn bm25_finds_misspelled_words_through_their_grams() {
    // No stem of these misspellings occurs in the corpus; only the character grams connect
    // them to the word they were meant to be.
    for (query, expected) in [
        ("Quantisierng", "inference-speed-optimization"),
        ("Trasnformer", "transformer-architecture"),
        ("Retreival", "rag-vs-fine-tuning"),
    ] {
        assert_in_top(query, Mode::Bm25, 3, expected);
    }
}

#[test]
fn umlaut_spellings_retrieve_the_same() {
    let searcher = bundled();
    let with = top_ids(searcher, "Größe Übersetzung Schlüssel", Mode::Bm25, 5);
    let without = top_ids(searcher, "Groesse Uebersetzung Schluessel", Mode::Bm25, 5);
    assert!(!with.is_empty());
    assert_eq!(with, without);
}

/// BM25 folds both spellings; the model does not, so the embedder restores the umlauts a query
/// typed without them lost, where the model's vocabulary is sure which "ue" is an "ü".
#[test]
fn umlauts_typed_as_digraphs_reach_the_model_restored() {
    let searcher = bundled();
    let embedder = searcher.encoder().unwrap();
    let respelled = |text: &str| embedder.respelled(text).unwrap().into_owned();
    assert_eq!(
        respelled(
            "Wie kann ich ein Modell guenstig anpassen, ohne saemtliche Gewichte zu aendern?"
        ),
        "Wie kann ich ein Modell günstig anpassen, ohne sämtliche Gewichte zu ändern?"
    );
    assert_eq!(
        respelled("Uebersetzung, Groesse, Strasse, Schluessel, koennen"),
        "Übersetzung, Größe, Straße, Schlüssel, können"
    );
    // Digraphs that are letters of their own stay, including "Zuerst", whose umlaut reading
    // the model finds slightly more probable, but not by the margin.
    for text in [
        "neue Quelle",
        "aktuell",
        "Feuer",
        "dass",
        "Zuerst",
        "Prozess",
        "Klasse",
        "Israel",
        "Masse",
    ] {
        assert_eq!(respelled(text), text);
    }
    let typed = "Wie kann ich ein riesiges Sprachmodell guenstig an unsere Firma anpassen, ohne saemtliche Gewichte neu zu trainieren?";
    let proper = "Wie kann ich ein riesiges Sprachmodell günstig an unsere Firma anpassen, ohne sämtliche Gewichte neu zu trainieren?";
    assert_eq!(
        top_ids(searcher, typed, Mode::Rerank, 5),
        top_ids(searcher, proper, Mode::Rerank, 5)
    );
}

#[test]
fn query_syntax_characters_are_plain_text() {
    let searcher = bundled();
    for query in [
        "\"LoRA",
        "title:LoRA",
        "(GAN AND [mode collapse]",
        "-",
        "*",
        "LoRA^2 ~ OR NOT",
        "a:b:c \\ / { } !",
        "?",
    ] {
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            let options = SearchOptions::new(mode, 5, DEFAULT_FUSION);
            let answers = searcher.search(query, &options);
            assert!(
                answers.is_ok(),
                "{query:?} in {mode:?}: {:?}",
                answers.err()
            );
        }
    }
    assert_eq!(top_ids(searcher, "title:LoRA^2", Mode::Bm25, 1), ["lora"]);
}

#[test]
fn excerpts_are_sentences_of_the_answer() {
    let searcher = bundled();
    let options = SearchOptions::new(Mode::Hybrid, 5, DEFAULT_FUSION);
    let answers = searcher
        .search("Wasserstein-Distanz als Verlustfunktion", &options)
        .unwrap();
    let top = &answers.hits[0];
    let answer = &searcher.corpus().get(top.doc).answer;
    let excerpt = &answer[top.excerpt.clone()];
    assert!(excerpt.contains("Wasserstein"), "{excerpt}");
    assert!(excerpt.len() < answer.len());
}

/// The index's scan, and a graph over the same vectors, must find what brute force finds on
/// the bundled corpus, for every judged query.
#[test]
fn scan_and_graph_top10_equal_exact_search() {
    let searcher = bundled();
    let vectors = &searcher.index().vectors;
    assert!(!vectors.has_graph(), "the bundled corpus is scanned");
    let unit_vectors = (0..vectors.len())
        .map(|u| vectors.vector(u).to_vec())
        .collect();
    let with_graph =
        VectorIndex::build(vectors.units().to_vec(), unit_vectors, GraphPolicy::Always).unwrap();
    let queries = eval::parse_queries("dev".as_ref(), judged::DEV_QUERIES).unwrap();
    let units = |hits: Vec<UnitHit>| hits.iter().map(|h| h.unit).collect::<Vec<_>>();
    for query in &queries {
        let vector = searcher
            .encoder()
            .unwrap()
            .embed_query(&query.text)
            .unwrap();
        let exact = units(vectors.exact_search(&vector, 10));
        assert_eq!(
            units(vectors.search(&vector, 10)),
            exact,
            "scan: {}",
            query.text
        );
        assert_eq!(
            units(with_graph.search(&vector, 10)),
            exact,
            "graph: {}",
            query.text
        );
    }
}

/// Quality guard: the default pipeline may not fall below the committed baseline on the dev
/// split (see corpus/eval/baseline.json), nor below the dense arm it fuses.
#[test]
fn default_pipeline_holds_its_baseline() {
    let baseline: serde_json::Value =
        serde_json::from_str(include_str!("../corpus/eval/baseline.json")).unwrap();
    let tolerance = baseline["tolerance"].as_f64().unwrap();
    let queries = eval::parse_queries("dev".as_ref(), judged::DEV_QUERIES).unwrap();
    let qrels = eval::parse_qrels("dev".as_ref(), judged::DEV_QRELS).unwrap();
    let configs = [
        Config {
            name: "default".into(),
            options: SearchOptions::new(Mode::Rerank, 36, DEFAULT_FUSION),
        },
        Config {
            name: "dense".into(),
            options: SearchOptions::new(Mode::Dense, 36, DEFAULT_FUSION),
        },
    ];
    let reports = eval::run_configs(bundled(), &configs, &queries, &qrels).unwrap();
    let (default, dense) = (&reports[0].evaluation.mean, &reports[1].evaluation.mean);
    for (name, value) in [("nDCG@10", default.ndcg10), ("RR@10", default.rr10)] {
        let floor = baseline["dev"][name].as_f64().unwrap() - tolerance;
        assert!(
            value >= floor,
            "{name} {value:.4} fell below the baseline floor {floor:.4}"
        );
    }
    assert!(
        default.ndcg10 >= dense.ndcg10,
        "fusion {:.4} < dense {:.4}",
        default.ndcg10,
        dense.ndcg10
    );
    let english = reports[0].ndcg10_by_kind["en"];
    let english_dense = reports[1].ndcg10_by_kind["en"];
    assert!(
        english >= english_dense - 0.02,
        "English: fusion {english:.4} vs dense {english_dense:.4}"
    );
}
