//! Metadata filters with the real model and real indexes: through the library, and through the
//! `antwort` binary as a user runs it.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::binary::{antwort, stderr, stdout};
use common::ids;

use antwort::corpus::{Corpus, CorpusSource};
use antwort::index::IndexDir;
use antwort::retrieve::Filter;
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};

/// Kitchen pairs, all near the query below, and garden pairs, further from it; every answer
/// has the word "Wasser", so that BM25 finds each of them too.
const KITCHEN: [(&str, &str, &str); 7] = [
    (
        "bread",
        "Wie backe ich ein Brot?",
        "Mehl, Wasser, Salz und Hefe zu einem Teig verkneten, gehen lassen und backen.",
    ),
    (
        "sourdough",
        "Wie setze ich einen Sauerteig für Brot an?",
        "Roggenmehl und Wasser mischen und einige Tage täglich füttern, bis der Teig sauer riecht.",
    ),
    (
        "rolls",
        "Wie backe ich Brötchen?",
        "Einen festen Teig aus Mehl, Wasser, Hefe und Salz zu Kugeln formen und heiß backen.",
    ),
    (
        "pizza",
        "Wie mache ich einen Pizzateig?",
        "Mehl, lauwarmes Wasser, Hefe, Öl und Salz verkneten und den Teig ruhen lassen.",
    ),
    (
        "cake",
        "Wie backe ich einen Rührkuchen?",
        "Butter, Zucker, Eier und Mehl verrühren, einen Schuss Wasser dazu und backen.",
    ),
    (
        "dough-dry",
        "Warum ist mein Brotteig zu trocken?",
        "Es fehlt Wasser: nach und nach etwas Wasser einarbeiten, bis der Teig geschmeidig ist.",
    ),
    (
        "bread-crust",
        "Wie bekommt mein Brot eine knusprige Kruste?",
        "Eine Schale Wasser in den heißen Ofen stellen: der Dampf macht die Kruste knusprig.",
    ),
];

const GARDEN: [(&str, &str, &str); 5] = [
    (
        "tomatoes",
        "Wie oft gieße ich Tomaten?",
        "Tomaten morgens kräftig an der Wurzel mit Wasser gießen, nie über die Blätter.",
    ),
    (
        "lawn",
        "Wie oft sprenge ich den Rasen im Sommer?",
        "Ein Rasen will etwa zwanzig Liter Wasser je Quadratmeter in der Woche.",
    ),
    (
        "roses",
        "Wann schneide ich Rosen zurück?",
        "Rosen im Frühjahr zur Forsythienblüte schneiden und danach mit Wasser angießen.",
    ),
    (
        "compost",
        "Wie lege ich einen Komposthaufen an?",
        "Grünschnitt und Küchenabfälle schichten und bei Trockenheit mit Wasser feucht halten.",
    ),
    (
        "rain-barrel",
        "Wie nutze ich eine Regentonne?",
        "Die Regentonne fängt Wasser vom Dach auf, das die Pflanzen besser vertragen als Leitungswasser.",
    ),
];

const QUERY: &str = "Wie viel Wasser braucht der Teig für ein Brot?";

/// The corpus as JSON Lines: kitchen pairs in section "kitchen", garden pairs with
/// `topic: garden`; tags as lists, one pair with a single tag as a string.
fn corpus_jsonl() -> String {
    let record = |(id, question, answer): (&str, &str, &str), section: &str, topic: &str| {
        let tags = if id == "lawn" {
            serde_json::json!("rasen")
        } else {
            serde_json::json!([topic, id])
        };
        serde_json::json!({
            "id": id,
            "section": section,
            "question": question,
            "answer": answer,
            "metadata": {"topic": topic, "tags": tags, "source": "handbuch"},
        })
        .to_string()
    };
    KITCHEN
        .iter()
        .map(|&p| record(p, "kitchen", "kitchen"))
        .chain(GARDEN.iter().map(|&p| record(p, "garden", "garden")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_garden(id: &str) -> bool {
    GARDEN.iter().any(|g| g.0 == id)
}

struct Fixture {
    _dir: tempfile::TempDir,
    searcher: Searcher,
}

/// The corpus above, indexed with the real model and opened from disk.
fn searcher() -> &'static Searcher {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("faq.jsonl");
            std::fs::write(&path, corpus_jsonl()).unwrap();
            let source = CorpusSource::File(path);
            let corpus = Corpus::load(&source).unwrap();
            let encoder = common::encoder();
            let index_dir = IndexDir::new(dir.path().join("index"));
            index_dir.build(&corpus, &source, &encoder, &()).unwrap();
            Fixture {
                searcher: Searcher::new(index_dir.open().unwrap(), Some(Box::new(encoder))),
                _dir: dir,
            }
        })
        .searcher
}

#[test]
fn metadata_survive_the_index() {
    let searcher = searcher();
    let lawn = searcher.corpus().position("lawn").unwrap();
    let pair = searcher.corpus().get(lawn);
    assert_eq!(pair.metadata["tags"], ["rasen"]);
    assert_eq!(pair.metadata["topic"], ["garden"]);
}

#[test]
fn a_filter_returns_k_matching_pairs_that_the_unfiltered_top_k_does_not_show() {
    let searcher = searcher();
    let k = 3;
    for mode in Mode::ALL {
        let mut options = SearchOptions::new(mode, k, DEFAULT_FUSION);
        // As many candidates per arm as answers: a filter applied after retrieval (or after
        // fusion) would find no garden pair among them.
        options.depth = k;
        let unfiltered = ids(searcher, &searcher.search(QUERY, &options).unwrap());
        assert_eq!(unfiltered.len(), k, "{mode:?}");
        assert!(
            !unfiltered.iter().any(|id| is_garden(id)),
            "{mode:?}: the test needs a query whose top {k} has no garden pair, got {unfiltered:?}"
        );
        let filter = Filter::parse(&["topic=garden"]).unwrap();
        let allowed = filter.allowed(searcher.corpus()).unwrap().unwrap();
        assert_eq!(allowed.len(), GARDEN.len());
        let answers = searcher
            .search_within(QUERY, &options, Some(&allowed))
            .unwrap();
        let filtered = ids(searcher, &answers);
        assert_eq!(filtered.len(), k, "{mode:?}: {filtered:?}");
        assert!(
            filtered.iter().all(|id| is_garden(id)),
            "{mode:?}: {filtered:?}"
        );
    }
}

#[test]
fn filters_on_several_fields_all_hold_and_values_of_one_field_are_alternatives() {
    let searcher = searcher();
    let options = SearchOptions::new(Mode::Rerank, 10, DEFAULT_FUSION);
    let run = |conditions: &[&str]| {
        let allowed = Filter::parse(conditions)
            .unwrap()
            .allowed(searcher.corpus())
            .unwrap();
        let mut found = ids(
            searcher,
            &searcher
                .search_within(QUERY, &options, allowed.as_ref())
                .unwrap(),
        );
        found.sort();
        found
    };
    assert_eq!(run(&["tag=tomatoes", "tag=ROSES"]), ["roses", "tomatoes"]);
    assert_eq!(run(&["section=garden", "tags=rasen"]), ["lawn"]);
    let none = Filter::parse(&["section=kitchen", "tags=garden"])
        .unwrap()
        .allowed(searcher.corpus())
        .unwrap_err()
        .to_string();
    assert!(
        none.starts_with(
            "no pair matches all of the filters section=kitchen, tags=garden together"
        ),
        "{none}"
    );
}

#[test]
fn an_unknown_field_or_value_is_a_clear_error() {
    let corpus = searcher().corpus();
    let error = |conditions: &[&str]| {
        Filter::parse(conditions)
            .unwrap()
            .allowed(corpus)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(&["author=ada"]),
        "unknown filter field \"author\"; the fields of this corpus are: section, source, tags, topic"
    );
    let message = error(&["topic=kueche"]);
    assert!(
        message.starts_with(
            "no pair has topic=\"kueche\"; values of topic in this corpus: kitchen, garden"
        ),
        "{message}"
    );
}

// The binary.

/// The corpus written to a file and indexed by `antwort index`, once per test binary.
fn indexed() -> &'static (tempfile::TempDir, PathBuf) {
    static INDEXED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    INDEXED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("faq.jsonl");
        std::fs::write(&corpus, corpus_jsonl()).unwrap();
        let index = dir.path().join("index");
        let built = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
        assert!(built.status.success(), "{}", stderr(&built));
        (dir, index)
    })
}

#[test]
fn ask_filter_on_the_command_line_narrows_the_json_results_which_carry_metadata() {
    let (_, index) = indexed();
    let output = antwort(
        index,
        &[
            "ask",
            QUERY,
            "--json",
            "-k",
            "3",
            "--filter",
            "topic=garden",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["filters"], serde_json::json!(["topic=garden"]));
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{report}");
    for result in results {
        assert!(is_garden(result["id"].as_str().unwrap()), "{result}");
        assert_eq!(result["metadata"]["topic"], serde_json::json!(["garden"]));
        assert_eq!(
            result["metadata"]["source"],
            serde_json::json!(["handbuch"])
        );
    }
    for related in report["see_also"].as_array().into_iter().flatten() {
        assert!(
            is_garden(related["id"].as_str().unwrap()),
            "see also: {related}"
        );
    }
}

#[test]
fn ask_filter_in_batch_and_text_output() {
    let (dir, index) = indexed();
    let batch = dir.path().join("queries.txt");
    std::fs::write(&batch, format!("{QUERY}\nWie backe ich Brötchen?\n")).unwrap();
    let output = antwort(
        index,
        &[
            "ask",
            "--batch",
            batch.to_str().unwrap(),
            "-k",
            "2",
            "--filter",
            "section=garden",
            "--filter",
            "tag=rasen",
            "--filter",
            "tag=compost",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for report in &lines {
        let mut found: Vec<&str> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        found.sort_unstable();
        assert_eq!(found, ["compost", "lawn"], "{report}");
    }

    let text = antwort(
        index,
        &["ask", QUERY, "-k", "1", "--filter", "topic=garden"],
    );
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.starts_with("Only pairs with topic=garden"), "{text}");
    assert!(
        text.contains("lawn · garden · source: handbuch · tags: rasen · topic: garden"),
        "{text}"
    );
}

#[test]
fn ask_with_an_unknown_filter_field_fails_with_the_known_fields() {
    let (_, index) = indexed();
    let output = antwort(index, &["ask", QUERY, "--filter", "autor=ada"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(
            "unknown filter field \"autor\"; the fields of this corpus are: section, source, tags, topic"
        ),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    assert!(stdout(&output).is_empty());

    let output = antwort(index, &["ask", QUERY, "--filter", "topic"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a usage error: {}",
        stderr(&output)
    );
    let message = stderr(&output);
    assert!(
        message.contains("filter \"topic\" is not FIELD=VALUE"),
        "{message}"
    );
}

#[test]
fn a_markdown_front_matter_is_filtered_on_like_json_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("faq.md");
    std::fs::write(
        &corpus,
        "---\nsource: Gartenbuch\ntags: [garten, wasser]\n---\n# Beet\n## Wie oft gieße ich Tomaten?\n\
         Morgens kräftig an der Wurzel gießen.\n## Wann schneide ich Rosen?\nIm Frühjahr zur \
         Forsythienblüte.\n# Rasen\n## Wie oft mähe ich den Rasen?\nIm Sommer einmal die Woche.\n",
    )
    .unwrap();
    let index = dir.path().join("index");
    let built = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let output = antwort(
        &index,
        &[
            "ask",
            "Wann gieße ich Tomaten?",
            "--json",
            "--filter",
            "section=rasen",
            "--filter",
            "tag=Wasser",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only the pair of section Rasen: {report}");
    assert_eq!(results[0]["id"], "wie-oft-maehe-ich-den-rasen");
    assert_eq!(
        results[0]["metadata"],
        serde_json::json!({"source": ["Gartenbuch"], "tags": ["garten", "wasser"]})
    );
}
