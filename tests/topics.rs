//! Related pairs, topics and the topic map, on the bundled corpus indexed with the real model,
//! and `related` on a synthetic corpus of 10,000 pairs for speed.

mod common;

use std::time::{Duration, Instant};

use antwort::corpus::QaPair;
use antwort::explore::{self, Link, Related, Topics};
use antwort::similarity::PairSpace;

/// The pair space and topics of the bundled index, built once per test binary.
fn bundled_space() -> &'static (PairSpace, Topics, Vec<QaPair>) {
    static SPACE: std::sync::OnceLock<(PairSpace, Topics, Vec<QaPair>)> =
        std::sync::OnceLock::new();
    SPACE.get_or_init(|| {
        let searcher = common::bundled();
        let index = searcher.index();
        let space = PairSpace::new(index.corpus.pairs(), &index.vectors);
        let topics = explore::topics(&space);
        (space, topics, index.corpus.pairs().to_vec())
    })
}

fn position(pairs: &[QaPair], id: &str) -> usize {
    pairs
        .iter()
        .position(|p| p.id == id)
        .unwrap_or_else(|| panic!("{id} is not in the bundled corpus"))
}

fn ids(related: &[Related]) -> Vec<&str> {
    related.iter().map(|r| r.id.as_str()).collect()
}

fn topic_of<'t>(topics: &'t Topics, id: &str) -> &'t str {
    &topics
        .topics
        .iter()
        .find(|t| t.members.iter().any(|m| m == id))
        .unwrap_or_else(|| panic!("{id} is in no topic"))
        .label
}

#[test]
fn the_four_gan_questions_share_a_topic() {
    let (_, topics, _) = bundled_space();
    let gan = topic_of(topics, "gan-principles");
    for id in [
        "gan-mode-collapse",
        "gan-training-stability",
        "conditional-gans",
    ] {
        assert_eq!(topic_of(topics, id), gan, "{id} is not with gan-principles");
    }
    // And the topic is not the whole corpus.
    assert!(topics.topics.len() >= 2, "{topics:#?}");
}

#[test]
fn the_two_rag_questions_are_related_both_ways() {
    let (space, _, pairs) = bundled_space();
    let versus = position(pairs, "rag-vs-fine-tuning");
    let system = position(pairs, "end-to-end-rag-system");
    let from_versus = explore::related(space, versus, 3);
    let from_system = explore::related(space, system, 3);
    assert!(
        ids(&from_versus).contains(&"end-to-end-rag-system"),
        "{from_versus:#?}"
    );
    assert!(
        ids(&from_system).contains(&"rag-vs-fine-tuning"),
        "{from_system:#?}"
    );
    let link = from_versus
        .iter()
        .find(|r| r.id == "end-to-end-rag-system")
        .unwrap();
    assert!(
        link.shared_terms.iter().any(|t| t == "RAG"),
        "the shared word should explain the link: {link:#?}"
    );
}

#[test]
fn lora_is_related_to_fine_tuned_models() {
    let (space, _, pairs) = bundled_space();
    let related = explore::related(space, position(pairs, "lora"), 5);
    assert!(
        ids(&related).contains(&"foundation-vs-fine-tuned-model"),
        "{related:#?}"
    );
}

#[test]
fn related_excludes_itself_and_comes_best_first() {
    let (space, _, pairs) = bundled_space();
    for doc in 0..pairs.len() {
        let related = explore::related(space, doc, 5);
        assert_eq!(related.len(), 5);
        assert!(related.iter().all(|r| r.doc != doc));
        assert!(related
            .windows(2)
            .all(|w| w[0].similarity >= w[1].similarity));
        for r in &related {
            assert_eq!(r.id, pairs[r.doc].id);
            let semantic = r.semantic >= space.semantic_threshold();
            let lexical = r.lexical >= space.lexical_threshold() && !r.shared_terms.is_empty();
            assert_eq!(r.link, Link::of(semantic, lexical), "{r:#?}");
        }
    }
    // Asking for more than there is gives everything else.
    assert_eq!(explore::related(space, 0, 1000).len(), pairs.len() - 1);
}

#[test]
fn related_to_a_text_finds_its_topic() {
    let text = "Wie verhindert man, dass der Generator eines GAN immer dieselben Bilder erzeugt?";
    let vector = {
        let searcher = common::bundled();
        let embedder = searcher.encoder().expect("the fixture has an embedder");
        embedder.encode_all(&[text]).unwrap().remove(0).vector
    };
    let (space, _, _) = bundled_space();
    let related = explore::related_to_text(space, text, &vector, 3);
    assert!(ids(&related).contains(&"gan-mode-collapse"), "{related:#?}");
    assert!(related.iter().all(|r| r.id.contains("gan")), "{related:#?}");
}

#[test]
fn every_question_is_in_exactly_one_topic() {
    let (_, topics, pairs) = bundled_space();
    let mut seen = vec![0usize; pairs.len()];
    for (i, topic) in topics.topics.iter().enumerate() {
        assert!(!topic.docs.is_empty());
        assert_eq!(topic.docs.len(), topic.members.len());
        for (&doc, id) in topic.docs.iter().zip(&topic.members) {
            assert_eq!(&pairs[doc].id, id);
            assert_eq!(topics.points[doc].topic, i, "the map disagrees on {id}");
            seen[doc] += 1;
        }
    }
    assert!(seen.iter().all(|&s| s == 1), "{seen:?}");
    assert_eq!(topics.points.len(), pairs.len());
    // Largest first.
    assert!(topics
        .topics
        .windows(2)
        .all(|w| w[0].docs.len() >= w[1].docs.len()));
}

#[test]
fn labels_are_words_of_the_corpus() {
    let (_, topics, pairs) = bundled_space();
    let words: std::collections::HashSet<String> = pairs
        .iter()
        .flat_map(|p| {
            format!("{} {}", p.question, p.answer)
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect();
    for topic in &topics.topics {
        assert!((1..=4).contains(&topic.terms.len()), "{topic:#?}");
        if topic.docs.len() > 1 {
            assert!(topic.terms.len() >= 2, "{topic:#?}");
        }
        assert_eq!(topic.label, topic.terms.join(", "));
        for term in &topic.terms {
            assert!(
                words.contains(&term.to_lowercase()),
                "label word {term:?} of {:?} is not a word of the corpus",
                topic.label
            );
        }
    }
    for doc in 0..pairs.len() {
        for r in explore::related(&bundled_space().0, doc, 5) {
            for term in &r.shared_terms {
                assert!(words.contains(&term.to_lowercase()), "{term:?}");
            }
        }
    }
}

#[test]
fn topics_are_deterministic() {
    let (space, topics, _) = bundled_space();
    assert_eq!(&explore::topics(space), topics);
}

#[test]
fn map_is_an_svg_with_one_point_per_pair() {
    let (_, topics, pairs) = bundled_space();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("map.svg");
    explore::draw_map(topics, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..100]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), pairs.len());
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
        .collect();
    for point in &topics.points {
        assert!(
            texts.contains(&escape(&point.title).as_str()),
            "{}",
            point.title
        );
    }
    for topic in &topics.topics {
        let entry = format!("{} ({})", escape(&topic.label), topic.docs.len());
        assert!(texts.contains(&entry.as_str()), "legend lacks {entry}");
    }
    // Every ampersand is an entity: the text is escaped.
    for (i, _) in svg.match_indices('&') {
        let rest = &svg[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "{}",
            &rest[..rest.len().min(20)]
        );
    }
    if let Ok(out) = std::env::var("ANTWORT_MAP_OUT") {
        std::fs::copy(&path, out).unwrap();
    }
}

#[test]
fn report_on_the_bundled_corpus() {
    let (space, topics, pairs) = bundled_space();
    println!(
        "{} topics, silhouette {:.3}, modularity {:.3}",
        topics.topics.len(),
        topics.silhouette,
        topics.modularity
    );
    for topic in &topics.topics {
        println!("[{}] {}", topic.label, topic.members.join(", "));
    }
    println!("near-duplicates: {:?}", topics.near_duplicates);
    for id in ["lora", "rag-vs-fine-tuning"] {
        println!("related to {id}:");
        for r in explore::related(space, position(pairs, id), 5) {
            println!(
                "  {:<34} {:.3} (semantic {:.2}, lexical {:.2}) {:?} {:?}",
                r.id, r.similarity, r.semantic, r.lexical, r.link, r.shared_terms
            );
        }
    }
}

/// xorshift64*: deterministic numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Roughly normal, by the sum of uniforms.
    fn normal(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum::<f32>()
            - 2.0
    }
}

#[test]
fn related_answers_fast_on_ten_thousand_pairs() {
    const PAIRS: usize = 10_000;
    const DIM: usize = 384;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vocabulary: Vec<String> = (0..2000).map(|i| format!("Begriff{i}")).collect();
    let text = |rng: &mut Rng, words: usize| {
        (0..words)
            .map(|_| vocabulary[(rng.next() % vocabulary.len() as u64) as usize].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pairs: Vec<QaPair> = (0..PAIRS)
        .map(|i| QaPair::new(format!("p{i}"), text(&mut rng, 6), text(&mut rng, 40)))
        .collect();
    let vectors: Vec<Vec<f32>> = (0..PAIRS)
        .map(|_| {
            let v: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect();

    let started = Instant::now();
    let space = PairSpace::from_pairs(&pairs, vectors).unwrap();
    println!(
        "pair space of {PAIRS} pairs built in {:?}",
        started.elapsed()
    );

    let asks = 20;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for i in 0..asks {
        let doc = i * PAIRS / asks;
        let one = Instant::now();
        let related = explore::related(&space, doc, 10);
        slowest = slowest.max(one.elapsed());
        assert_eq!(related.len(), 10);
        assert!(related.iter().all(|r| r.doc != doc));
    }
    let mean = started.elapsed() / asks as u32;
    println!("related on {PAIRS} pairs: mean {mean:?}, slowest {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}
