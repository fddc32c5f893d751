//! The answer as the user sees it on the bundled corpus: reranking, the matching sentence and
//! its highlighted words, and the verdict when the corpus cannot answer.

mod common;

use antwort::eval::{self, bundled as judged};
use antwort::rerank::{Candidate, RerankQuery, Reranker, UnitReranker};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};
use common::bundled;

/// The built-in reranker follows its signal: with equal fused scores, the pair whose units
/// are closer to the query wins, by exactly `max + w · second + w_fused · fused`; and the fused
/// weight alone reorders when the unit signal is switched off.
#[test]
fn unit_reranker_orders_by_its_signal() {
    let mut searcher = bundled();
    let query = "Wie verhindert man, dass der Generator immer dieselben Bilder erzeugt?";
    let vector = searcher.embedder().unwrap().embed_query(query).unwrap();
    let index = searcher.index();
    let collapse = index.corpus.position("gan-mode-collapse").unwrap();
    let lora = index.corpus.position("lora").unwrap();
    let rerank_query = RerankQuery {
        text: query,
        vector: Some(&vector),
    };
    let top_two = |doc| {
        let mut sims: Vec<f32> = index
            .vectors
            .units_of_doc(doc)
            .map(|u| antwort::embedding::cosine(&vector, index.vectors.vector(u)))
            .collect();
        sims.sort_by(|a, b| b.total_cmp(a));
        (sims[0], sims[1])
    };

    let reranker = UnitReranker::default();
    let even = [
        Candidate {
            doc: lora,
            fused_score: 0.5,
        },
        Candidate {
            doc: collapse,
            fused_score: 0.5,
        },
    ];
    let scores = { reranker }.score(&rerank_query, &even, index).unwrap();
    assert!(
        scores[1] > scores[0],
        "mode collapse should win: {scores:?}"
    );
    let (best, second) = top_two(collapse);
    let expected = best + reranker.second_weight * second;
    assert!(
        (scores[1] - expected).abs() < 1e-4,
        "{} vs {expected}",
        scores[1]
    );

    let fused_only = UnitReranker {
        second_weight: 0.0,
        fused_weight: 10.0,
    };
    let uneven = [
        Candidate {
            doc: lora,
            fused_score: 1.0,
        },
        Candidate {
            doc: collapse,
            fused_score: 0.0,
        },
    ];
    let scores = { fused_only }.score(&rerank_query, &uneven, index).unwrap();
    assert!(scores[0] > scores[1], "{scores:?}");
}

#[test]
fn excerpts_and_highlights_are_real_offsets() {
    let mut searcher = bundled();
    let options = SearchOptions::new(Mode::Rerank, 5, DEFAULT_FUSION);
    for query in [
        "Wasserstein-Distanz GAN",
        "Was ist LoRA?",
        "Wie funktionieren Diffusionsmodelle?",
    ] {
        let answers = searcher.search(query, &options).unwrap();
        let top = &answers.hits[0];
        let pair = searcher.corpus().get(top.doc);
        let sentence = &pair.answer[top.excerpt.clone()];
        assert!(!sentence.is_empty() && pair.answer.contains(sentence));
        assert!(
            !top.excerpt_matches.is_empty() || !top.question_matches.is_empty(),
            "{query}"
        );
        for range in &top.excerpt_matches {
            assert!(top.excerpt.start <= range.start && range.end <= top.excerpt.end);
            let word = &pair.answer[range.clone()];
            assert!(word.chars().all(char::is_alphanumeric), "{word:?}");
        }
        for range in &top.question_matches {
            assert!(pair.question[range.clone()]
                .chars()
                .all(char::is_alphanumeric));
        }
    }
}

/// Out-of-domain questions are flagged; in-domain ones are not.
#[test]
fn questions_the_corpus_cannot_answer_are_flagged() {
    let mut searcher = bundled();
    let options = SearchOptions::new(Mode::Rerank, 3, DEFAULT_FUSION);
    let mut confident = |query: &str| {
        let answers = searcher.search(query, &options).unwrap();
        assert_eq!(answers.hits.len(), 3, "weak results are still shown");
        answers.confidence.unwrap().confident
    };
    for query in [
        "Wie backe ich Brot?",
        "Who won the 2014 World Cup?",
        "Wie wird das Wetter morgen in Hamburg?",
    ] {
        assert!(!confident(query), "{query} should be flagged");
    }
    for query in [
        "Was ist LoRA?",
        "How do diffusion models work?",
        "Was ist Mode Collapse bei GANs?",
    ] {
        assert!(confident(query), "{query} should not be flagged");
    }
}

/// Over the whole judged set: most out-of-domain queries flagged, most in-domain ones not.
#[test]
fn flagging_rates_on_the_judged_queries() {
    let mut searcher = bundled();
    let options = SearchOptions::new(Mode::Rerank, 3, DEFAULT_FUSION);
    let mut queries = eval::parse_queries("dev".as_ref(), judged::DEV_QUERIES).unwrap();
    queries.extend(eval::parse_queries("heldout".as_ref(), judged::HELDOUT_QUERIES).unwrap());
    let (mut ood, mut ood_flagged, mut domain, mut domain_flagged) = (0, 0, 0, 0);
    for query in &queries {
        let flagged = !searcher
            .search(&query.text, &options)
            .unwrap()
            .confidence
            .unwrap()
            .confident;
        if query.id.starts_with("ood-") {
            ood += 1;
            ood_flagged += usize::from(flagged);
        } else {
            domain += 1;
            domain_flagged += usize::from(flagged);
        }
    }
    assert!(
        ood_flagged * 10 >= ood * 6,
        "only {ood_flagged} of {ood} out-of-domain flagged"
    );
    assert!(
        domain_flagged * 5 <= domain,
        "{domain_flagged} of {domain} in-domain flagged"
    );
}
