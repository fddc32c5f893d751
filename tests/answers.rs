//! The answer as the user sees it on the bundled corpus: reranking, the matching sentence and
//! its highlighted words, and the verdict when the corpus cannot answer.

mod common;

use antwort::eval::{self, bundled as judged};
use antwort::rerank::{Candidate, LateInteractionReranker, RerankQuery, Reranker};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};
use common::bundled;

/// The built-in reranker reads MaxSim over the token states the index stored for each pair:
/// MaxSim against the whole pair matches MaxSim computed afresh from the pair's unit texts
/// (every state centred on the corpus's mean token state), and against its question alone
/// the question's unit, a paraphrase's own pair wins over an unrelated one even when fusion
/// put the other first, and without token states (no model) the fused order stands.
#[test]
fn late_interaction_reranker_scores_the_pairs_own_tokens() {
    let searcher = bundled();
    let query = "Wie verhindert man, dass der Generator immer dieselben Bilder erzeugt?";
    let embedder = searcher.encoder().unwrap();
    let encoded = embedder.encode_query(query).unwrap();
    let index_corpus = searcher.corpus().clone();
    let collapse = index_corpus.position("gan-mode-collapse").unwrap();
    let lora = index_corpus.position("lora").unwrap();
    let unit_texts: Vec<&str> = searcher
        .index()
        .vectors
        .units()
        .iter()
        .filter(|u| u.doc == collapse)
        .map(|u| u.text(&index_corpus))
        .collect();
    let fresh = searcher.encoder().unwrap().encode_all(&unit_texts).unwrap();
    let mean = searcher.index().tokens.mean().to_vec();
    let centred = |row: &[f32]| -> Vec<f32> {
        let v: Vec<f32> = row.iter().zip(&mean).map(|(x, m)| x - m).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    let exact = |units: &[antwort::embed::Encoding]| {
        encoded
            .token_rows()
            .map(|q| {
                let q = centred(q);
                (units.iter())
                    .flat_map(|e| e.token_rows())
                    .map(|d| antwort::embed::cosine(&q, &centred(d)))
                    .fold(f32::MIN, f32::max)
            })
            .sum::<f32>()
            / encoded.token_rows().count() as f32
    };

    let index = searcher.index();
    let candidate = |doc: usize, fused_score: f32| Candidate {
        doc,
        fused_score,
        pair: index.corpus.get(doc),
        tokens: index.tokens.doc(doc),
    };
    let candidates = [candidate(lora, 0.9), candidate(collapse, 0.1)];
    let query_tokens = index.tokens.query(&encoded.tokens);
    let with_tokens = RerankQuery {
        text: query,
        tokens: Some(&query_tokens),
    };
    let scores = LateInteractionReranker
        .score(&with_tokens, &candidates)
        .unwrap();
    assert!(
        scores[1] > scores[0],
        "mode collapse should win: {scores:?}"
    );
    // Two bits a dimension restore a state at a cosine of about 0.94 (docs/EVALUATION.md), so
    // a token's best match scores a little under its exact cosine: 0.012 below here. The
    // question is the pair's first unit.
    let stored = index
        .tokens
        .doc(collapse)
        .maxsims_in(&query_tokens, &mut Vec::new());
    for (got, want) in [
        (stored.pair, exact(&fresh)),
        (stored.lead, exact(&fresh[..1])),
    ] {
        assert!((got - want).abs() < 0.03, "{got} vs {want}");
    }
    assert!(stored.pair > stored.lead, "{stored:?}");

    let without_model = RerankQuery {
        text: query,
        tokens: None,
    };
    let scores = LateInteractionReranker
        .score(&without_model, &candidates)
        .unwrap();
    assert_eq!(scores, [0.9, 0.1]);
}

#[test]
fn excerpts_and_highlights_are_real_offsets() {
    let searcher = bundled();
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
    let searcher = bundled();
    let options = SearchOptions::new(Mode::Rerank, 3, DEFAULT_FUSION);
    let confident = |query: &str| {
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
    let searcher = bundled();
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

/// Only the top `rerank_depth` fused candidates are reranked; without the lift towards the best
/// answer, the answers below them follow in fused order, so asking for more answers than the
/// depth never reshuffles the tail.
#[test]
fn answers_below_the_rerank_depth_keep_their_fused_order() {
    let searcher = bundled();
    let mut options = SearchOptions::new(Mode::Rerank, 30, DEFAULT_FUSION);
    options.rerank_depth = 5;
    options.related_weight = Some(0.0);
    let answers = searcher
        .search("Wie bewertet man ein Sprachmodell?", &options)
        .unwrap();
    let hits = &answers.hits;
    assert_eq!(hits.len(), 30);
    assert!(hits[..5].iter().all(|h| h.rerank.is_some()));
    assert!(hits[5..].iter().all(|h| h.rerank.is_none()));
    for pair in hits[..5].windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
    for pair in hits[5..].windows(2) {
        assert!(
            pair[0].fused >= pair[1].fused,
            "{} < {}",
            pair[0].fused,
            pair[1].fused
        );
    }
    // One scale for the whole list: those below the depth score under the reranked ones.
    assert!(hits.windows(2).all(|w| w[0].score > w[1].score));
    // The reranked five are the fused top five, reordered.
    let mut hybrid = options;
    hybrid.mode = Mode::Hybrid;
    let fused = searcher
        .search("Wie bewertet man ein Sprachmodell?", &hybrid)
        .unwrap();
    let mut top: Vec<usize> = fused.hits[..5].iter().map(|h| h.doc).collect();
    let mut reranked: Vec<usize> = hits[..5].iter().map(|h| h.doc).collect();
    top.sort_unstable();
    reranked.sort_unstable();
    assert_eq!(top, reranked);
}

/// The answers after the best follow it by topic: a near miss at the top (the GAN basics for a
/// mode-collapse question) brings the other GAN answers up, the actual answer among them,
/// while the best stays first and the scores stay sorted.
#[test]
fn answers_related_to_the_best_are_lifted() {
    let searcher = bundled();
    let query = "Mein Generator erzeugt immer wieder fast dieselben Bilder, was hilft dagegen?";
    let ids = |searcher: &antwort::search::Searcher, weight: f32| {
        let mut options = SearchOptions::new(Mode::Rerank, 36, DEFAULT_FUSION);
        options.related_weight = Some(weight);
        let hits = searcher.search(query, &options).unwrap().hits;
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        hits.iter()
            .map(|h| searcher.corpus().get(h.doc).id.clone())
            .collect::<Vec<_>>()
    };
    let plain = ids(searcher, 0.0);
    let lifted = ids(searcher, antwort::rerank::DEFAULT_RELATED_WEIGHT);
    assert_eq!(plain[0], lifted[0], "the best stays first");
    let rank = |ids: &[String], id: &str| ids.iter().position(|i| i == id).unwrap();
    // The answer itself (mode collapse) comes up into the top 3, and the other GAN answer
    // that helps (stabilising the training) comes up too.
    for (related, within) in [("gan-mode-collapse", 3), ("gan-training-stability", 7)] {
        assert!(
            rank(&lifted, related) < within && rank(&lifted, related) < rank(&plain, related),
            "{related}: rank {} lifted, {} plain; lifted order {lifted:?}",
            rank(&lifted, related),
            rank(&plain, related)
        );
    }
}

/// One loaded searcher answers from several threads at once exactly as from one: the model's
/// session is locked inside the encoder, everything else is read-only.
#[test]
fn one_searcher_serves_many_threads_with_the_same_answers() {
    let searcher = bundled();
    let queries = judged_queries();
    let options = SearchOptions::new(Mode::Rerank, 10, DEFAULT_FUSION);
    let ranking = |query: &str| -> Vec<(usize, f32)> {
        let answers = searcher.search(query, &options).unwrap();
        answers.hits.iter().map(|h| (h.doc, h.score)).collect()
    };
    let alone: Vec<Vec<(usize, f32)>> = queries.iter().map(|q| ranking(q)).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let (queries, ranking) = (&queries, &ranking);
                scope.spawn(move || {
                    (0..queries.len())
                        .map(|i| (i + worker * 7) % queries.len())
                        .map(|i| (i, ranking(&queries[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            for (i, got) in worker.join().unwrap() {
                assert_eq!(got, alone[i], "{:?}", queries[i]);
            }
        }
    });
}

/// The first 24 dev queries.
fn judged_queries() -> Vec<String> {
    let queries = eval::parse_queries("dev".as_ref(), judged::DEV_QUERIES).unwrap();
    queries.into_iter().take(24).map(|q| q.text).collect()
}
