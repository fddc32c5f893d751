//! The `antwort` binary as a user runs it: real model, real index directories, real files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::binary::{antwort, assert_clear_error, stderr, stdout};
use common::small::record;

fn small_corpus() -> String {
    common::small::records().join("\n")
}

/// A temporary directory holding `faq.jsonl` (the small corpus) and its built `index`.
fn indexed_small_corpus() -> (tempfile::TempDir, PathBuf) {
    indexed_small_corpus_with(&[])
}

/// [`indexed_small_corpus`], with more flags for `antwort index`.
fn indexed_small_corpus_with(flags: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("faq.jsonl");
    std::fs::write(&corpus, small_corpus()).unwrap();
    let index = dir.path().join("index");
    let mut args = vec!["index", "--corpus", corpus.to_str().unwrap()];
    args.extend_from_slice(flags);
    let built = antwort(&index, &args);
    assert!(built.status.success(), "{}", stderr(&built));
    (dir, index)
}

/// Ids of the JSON results of one `ask --json`.
fn result_ids(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{}", stderr(output));
    let report: serde_json::Value = serde_json::from_str(&stdout(output)).unwrap();
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ask_builds_a_missing_index_and_answers_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let output = antwort(&index, &["ask", "Was ist LoRA?", "--json", "--top-k", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("there is no index yet"),
        "{}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["query"], "Was ist LoRA?");
    assert_eq!(report["mode"], "rerank");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let top = &results[0];
    assert_eq!(top["rank"], 1);
    assert_eq!(top["id"], "lora");
    assert_eq!(top["section"], "intermediate");
    assert_eq!(top["question"], "Was ist Low-Rank-Adaptation (LoRA)?");
    assert!(top["answer"]
        .as_str()
        .unwrap()
        .contains("Low-Rank Adaptation"));
    assert!(top["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap());
    // The shown score reads the same on any query: in [0, 1], falling down the list, and above
    // one half for an answer the corpus clearly has.
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores[0] > 0.5, "{scores:?}");
    let [start, end] = [&top["excerpt_byte_range"][0], &top["excerpt_byte_range"][1]]
        .map(|v| v.as_u64().unwrap() as usize);
    assert_eq!(
        &top["answer"].as_str().unwrap()[start..end],
        top["excerpt"].as_str().unwrap()
    );

    // The second run finds the index fresh and says nothing about building.
    let again = antwort(&index, &["ask", "How do diffusion models work?", "--json"]);
    assert!(!stderr(&again).contains("building"), "{}", stderr(&again));
    assert_eq!(result_ids(&again)[0], "diffusion-models");
}

#[test]
fn batch_prints_one_json_line_per_query() {
    let (dir, index) = indexed_small_corpus();
    let batch = dir.path().join("queries.txt");
    std::fs::write(&batch, "Brot backen\n\nTee kochen\nPlatten am Fahrrad\n").unwrap();
    let output = antwort(
        &index,
        &["ask", "--batch", batch.to_str().unwrap(), "--mode", "bm25"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["query"], "Tee kochen");
    assert_eq!(lines[1]["mode"], "bm25");
    assert_eq!(lines[1]["results"][0]["id"], "tea");
}

#[test]
fn a_bad_corpus_line_fails_with_its_line_and_leaves_the_index_untouched() {
    let (dir, index) = indexed_small_corpus();
    let before = std::fs::read_to_string(index.join("CURRENT")).unwrap();

    let bad = dir.path().join("bad.jsonl");
    let text = format!(
        "{}\n{}\n{{\"id\": \"x\", \"question\": \"Q\"",
        record("a", "Q?", "A."),
        record("b", "Q?", "B.")
    );
    std::fs::write(&bad, text).unwrap();
    let failed = antwort(&index, &["index", "--corpus", bad.to_str().unwrap()]);
    assert_clear_error(&failed, &["bad.jsonl:3: malformed JSON"]);

    assert_eq!(
        std::fs::read_to_string(index.join("CURRENT")).unwrap(),
        before
    );
    let ids = result_ids(&antwort(
        &index,
        &["ask", "Brot", "--json", "--mode", "bm25"],
    ));
    assert_eq!(ids[0], "bread");
}

#[test]
fn a_changed_corpus_is_reindexed_before_answering() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("faq.md");
    std::fs::write(
        &corpus,
        "# Küche\n## Wie backe ich Brot?\nMehl, Wasser, Hefe.\n",
    )
    .unwrap();
    let index = dir.path().join("index");
    assert!(
        antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()])
            .status
            .success()
    );
    std::fs::write(
        &corpus,
        "# Küche\n## Wie backe ich Brot?\nMehl, Wasser, Hefe.\n## Wie koche ich Tee?\nWasser aufkochen, Teeblätter ziehen lassen.\n",
    )
    .unwrap();
    let output = antwort(&index, &["ask", "Teeblätter", "--json"]);
    assert!(
        stderr(&output).contains("the corpus changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(result_ids(&output)[0], "wie-koche-ich-tee");
}

#[test]
fn a_killed_build_leaves_the_previous_index_usable() {
    let (_dir, index) = indexed_small_corpus();

    // Rebuilding for the bundled corpus takes seconds of embedding; kill it midway.
    let mut build = Command::new(env!("CARGO_BIN_EXE_antwort"))
        .arg("--index")
        .arg(&index)
        .arg("index")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it is writing its new generation.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let building = || {
        std::fs::read_dir(&index)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".build-"))
    };
    while !building() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(building(), "the build never started writing");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = build.kill();
    let status = build.wait().unwrap();
    assert!(
        !status.success(),
        "the build finished before it could be interrupted"
    );

    let ids = result_ids(&antwort(
        &index,
        &["ask", "Fahrradreifen flicken", "--json"],
    ));
    assert_eq!(ids[0], "bike");
}

/// `antwort ask` with the model directory taken from the environment, as a user sets it.
fn ask_with_models(index: &Path, models: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antwort"))
        .arg("--index")
        .arg(index)
        .args(["ask", "Was ist LoRA?"])
        .env("ANTWORT_MODEL_DIR", models)
        .output()
        .expect("antwort runs")
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = ask_with_models(&dir.path().join("index"), &dir.path().join("nowhere"));
    assert_clear_error(&output, &["no embedding model in", "scripts/fetch-models"]);
}

#[test]
fn a_wrong_onnx_runtime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let models = antwort::embed::ModelFiles::locate(None).expect("run scripts/fetch-models");
    // A model directory whose library is not a library.
    let fake = dir.path().join("models");
    std::fs::create_dir_all(fake.join("lib")).unwrap();
    std::fs::write(
        fake.join(antwort::embed::ORT_LIBRARY),
        b"not a shared object",
    )
    .unwrap();
    let subdir = fake.join(antwort::embed::MODEL_SUBDIR);
    std::fs::create_dir_all(&subdir).unwrap();
    for entry in std::fs::read_dir(models.root().join(antwort::embed::MODEL_SUBDIR)).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), subdir.join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        models.root().join("manifest.json"),
        fake.join("manifest.json"),
    )
    .unwrap();
    let output = ask_with_models(&dir.path().join("index"), &fake);
    assert_clear_error(
        &output,
        &["cannot load ONNX Runtime from", "scripts/fetch-models"],
    );
}

#[test]
fn a_wrong_reranker_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = antwort(
        &dir.path().join("index"),
        &[
            "ask",
            "Was ist LoRA?",
            "--reranker",
            dir.path().join("no-model").to_str().unwrap(),
        ],
    );
    assert_clear_error(&output, &["no-model", "--reranker"]);
}

#[test]
fn related_and_topics_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let output = antwort(&index, &["related", "lora", "--json", "-k", "5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let ids: Vec<&str> = report["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains(&"lora"), "{ids:?}");

    // Free text goes to its best match first.
    let output = antwort(
        &index,
        &[
            "related",
            "Wie baue ich ein RAG-System?",
            "--json",
            "-k",
            "3",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["id"], "end-to-end-rag-system");

    let map = dir.path().join("map.svg");
    let output = antwort(
        &index,
        &["topics", "--json", "--map", map.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let topics: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let members: usize = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["members"].as_array().unwrap().len())
        .sum();
    assert_eq!(members, 36);
    assert!(std::fs::read_to_string(&map).unwrap().contains("<svg"));
}

/// Writes a BEIR data set into `beir`: three German pairs and one English, one German and one
/// colloquial query, each with one obvious answer.
fn write_beir_set(beir: &Path) {
    let corpus = [
        (
            "bread",
            "Wie backe ich Brot?",
            "Mehl, Wasser, Salz und Hefe verkneten und backen.",
        ),
        (
            "tea",
            "Wie koche ich Tee?",
            "Wasser aufkochen und die Teeblätter ziehen lassen.",
        ),
        (
            "bike",
            "Fahrradreifen flicken",
            "Den Schlauch flicken und wieder aufpumpen.",
        ),
    ]
    .map(|(id, title, text)| {
        serde_json::json!({"_id": id, "title": title, "text": text}).to_string()
    })
    .join("\n");
    std::fs::create_dir_all(beir).unwrap();
    std::fs::write(beir.join("corpus.jsonl"), corpus).unwrap();
    let queries = [
        // English against German. Not "How do I bake bread?": to e5 that is as close to "Wie
        // koche ich Tee?" as to "Wie backe ich Brot?" (dense cosines 0.8781 and 0.8789).
        ("q1", "Baking bread from flour and yeast"),
        ("q2", "Tee zubereiten"),
        ("q3", "Platten am Rad"),
    ]
    .map(|(id, text)| serde_json::json!({"_id": id, "text": text}).to_string())
    .join("\n");
    std::fs::write(beir.join("queries.jsonl"), queries).unwrap();
    std::fs::create_dir(beir.join("qrels")).unwrap();
    let qrels = "query-id\tcorpus-id\tscore\nq1\tbread\t2\nq2\ttea\t2\nq3\tbike\t2\nq3\ttea\t0\n";
    std::fs::write(beir.join("qrels/test.tsv"), qrels).unwrap();
}

/// `--suite`: the bundled queries and two BEIR sets in one table; each set's index is built
/// once under `--suite-index` and reused, every set reports the default's own stages (the
/// default last) and whether the default falls below one, and two sets of one name are a clear
/// error.
#[test]
fn eval_suite_runs_every_set_through_the_default_and_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let (kitchen, garden) = (dir.path().join("kitchen"), dir.path().join("more/garden"));
    write_beir_set(&kitchen);
    write_beir_set(&garden);
    let index = dir.path().join("bundled-index");
    let suite_index = dir.path().join("suite");
    let args = |format: &str| -> Vec<String> {
        let mut args: Vec<String> = ["eval", "--suite", "bundled"].map(String::from).to_vec();
        args.extend([&kitchen, &garden].map(|d| d.to_str().unwrap().to_string()));
        args.extend(
            [
                "--suite-index",
                suite_index.to_str().unwrap(),
                "--format",
                format,
            ]
            .map(String::from),
        );
        args
    };
    fn as_strs(args: &[String]) -> Vec<&str> {
        args.iter().map(String::as_str).collect()
    }
    let out = antwort(&index, &as_strs(&args("json")));
    assert!(out.status.success(), "{}", stderr(&out));
    for set in ["kitchen", "garden"] {
        assert!(suite_index.join(set).join("CURRENT").is_file(), "{set}");
    }
    let suite: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let sets = suite["sets"].as_array().unwrap();
    let names: Vec<&str> = sets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bundled-dev", "kitchen", "garden"]);
    for set in sets {
        let stages: Vec<&str> = (set["configs"].as_array().unwrap().iter())
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["bm25", "dense", "hybrid", "rerank (default)"]);
        let embed = set["configs"][3]["embed_p50_ms"].as_f64().unwrap();
        assert!(embed > 0.0, "the default embeds its queries: {embed}");
    }
    assert_eq!(sets[1]["documents"], 3);
    assert_eq!(sets[1]["judged_queries"], 3);
    let default_rr = sets[2]["configs"][3]["evaluation"]["mean"]["RR@10"]
        .as_f64()
        .unwrap();
    assert!(
        default_rr > 0.99,
        "one obvious answer each: RR@10 {default_rr}"
    );
    assert_eq!(suite["macro_average"].as_array().unwrap().len(), 4);
    assert!(suite["shortfalls"].is_array());

    // Run again: the indexes are reused, and the text table says for each set whether the
    // default held.
    let out = antwort(&index, &as_strs(&args("text")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("building"), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("macro average (3 sets)"), "{table}");
    for set in ["bundled-dev", "kitchen", "garden"] {
        assert!(
            table.contains(&format!("\n{set}: ")),
            "no verdict for {set}: {table}"
        );
    }

    // Two sets of one name: a clear error before anything is built over the first one's index.
    let twin = dir.path().join("twin/kitchen");
    write_beir_set(&twin);
    let live = || std::fs::read_to_string(suite_index.join("kitchen/CURRENT")).unwrap();
    let before = live();
    let out = antwort(
        &index,
        &[
            "eval",
            "--suite",
            kitchen.to_str().unwrap(),
            twin.to_str().unwrap(),
            "--suite-index",
            suite_index.to_str().unwrap(),
        ],
    );
    assert_clear_error(&out, &["two sets of the suite are named \"kitchen\""]);
    assert_eq!(live(), before);
}

/// A BEIR data set directory in one flag: its corpus is indexed inside it, its queries and
/// graded qrels are judged, the JSON report says what was measured, and `--sweep` runs on it. A
/// broken qrels line is an error with file and line.
#[test]
fn eval_runs_a_beir_directory_in_one_flag() {
    let dir = tempfile::tempdir().unwrap();
    let beir = dir.path();
    write_beir_set(beir);

    let unused_index = beir.join("unused");
    let beir_arg = beir.to_str().unwrap();
    let out = antwort(
        &unused_index,
        &["eval", "--beir", beir_arg, "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(beir.join("antwort-index").join("CURRENT").is_file());
    assert!(!unused_index.exists());
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["manifest"]["documents"], 3);
    assert_eq!(report["manifest"]["judged_queries"], 3);
    let default = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rerank (default)")
        .expect("the default pipeline is reported");
    let rr = default["evaluation"]["mean"]["RR@10"].as_f64().unwrap();
    assert!(rr > 0.99, "each query has one obvious answer: RR@10 {rr}");
    // BEIR ids (q1, q2, ...) carry no query kind: no column per query.
    assert_eq!(default["ndcg10_by_kind"], serde_json::json!({}));
    let out = antwort(&unused_index, &["eval", "--beir", beir_arg]);
    let table = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!table.contains("nDCG@10 q"), "{table}");

    // The sweep over the same data: the default, the best settings, and the warning that three
    // queries cannot tell settings apart.
    let out = antwort(&unused_index, &["eval", "--beir", beir_arg, "--sweep"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("settings tried"), "{table}");
    assert!(table.contains("rerank (default)"), "{table}");
    assert!(table.contains("related-weight="), "{table}");
    assert!(
        table.contains("warning: 3 judged queries"),
        "no small-set warning in {table}"
    );
    let out = antwort(
        &unused_index,
        &["eval", "--beir", beir_arg, "--sweep", "--format", "json"],
    );
    let sweep: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(sweep["best"].as_array().unwrap().len(), 10);
    assert_eq!(sweep["default"]["name"], "rerank (default)");

    std::fs::write(
        beir.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1 bread\n",
    )
    .unwrap();
    let out = antwort(&unused_index, &["eval", "--beir", beir_arg]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(error.contains("test.tsv:2"), "{error}");
}

/// A query of punctuation or emoji alone is refused with a clear error instead of a
/// "confident" answer; and a reader that stops early (`| head`) is not an error.
#[test]
fn wordless_queries_are_refused_and_a_closed_pipe_is_no_error() {
    let (_dir, index) = indexed_small_corpus();
    for query in ["???", "🚀 !"] {
        assert_clear_error(&antwort(&index, &["ask", query]), &["has no words"]);
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_antwort"))
        .arg("--index")
        .arg(&index)
        .args(["ask", "Brot backen", "--mode", "bm25", "-k", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// A damaged HNSW graph (hnsw_rs panics on those) is one clear error line naming the fix, with
/// no panic message or backtrace around it.
#[test]
fn a_damaged_graph_is_a_clear_error_without_a_panic_trace() {
    let (_dir, index) = indexed_small_corpus_with(&["--graph", "always"]);
    let live = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    let graph = index.join(live.trim()).join("vectors/graph.hnsw.graph");
    let bytes = std::fs::read(&graph).unwrap();
    std::fs::write(&graph, &bytes[..bytes.len() / 2]).unwrap();
    let out = antwort(&index, &["ask", "Wie backe ich Brot?"]);
    assert_clear_error(&out, &["damaged", "antwort index"]);
}

/// The graph policy of the last `antwort index` holds until another is given: `ask`'s own
/// rebuild of a changed corpus and a plain `antwort index` keep the graph, `--graph never` drops
/// it.
#[test]
fn a_rebuild_keeps_the_graph_policy_it_was_last_given() {
    let (dir, index) = indexed_small_corpus_with(&["--graph", "always"]);
    let graph = || -> bool {
        let live = std::fs::read_to_string(index.join("CURRENT")).unwrap();
        index
            .join(live.trim())
            .join("vectors/graph.hnsw.graph")
            .is_file()
    };
    let manifest_graph = || -> String {
        let live = std::fs::read_to_string(index.join("CURRENT")).unwrap();
        let manifest = std::fs::read_to_string(index.join(live.trim()).join("manifest.json"));
        let manifest: serde_json::Value = serde_json::from_str(&manifest.unwrap()).unwrap();
        manifest["graph"].as_str().unwrap().to_string()
    };
    assert!(graph());
    assert_eq!(manifest_graph(), "always");

    let corpus = dir.path().join("faq.jsonl");
    let mut text = std::fs::read_to_string(&corpus).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&record(
        "kite",
        "Wie baue ich einen Drachen?",
        "Aus Stäben, Papier und Schnur.",
    ));
    text.push('\n');
    std::fs::write(&corpus, text).unwrap();
    let out = antwort(&index, &["ask", "Drachen bauen", "-k", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("building the index"),
        "{}",
        stderr(&out)
    );
    assert!(graph(), "ask's rebuild kept the graph");

    let corpus = corpus.to_str().unwrap();
    let out = antwort(&index, &["index", "--corpus", corpus, "--full"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(graph(), "a plain rebuild kept the graph");
    let out = antwort(
        &index,
        &["index", "--corpus", corpus, "--full", "--graph", "never"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!graph());
    assert_eq!(manifest_graph(), "never");
}

/// Damaged point files and pair space: one clear error naming the file and the fix.
#[test]
fn damaged_points_and_pair_space_are_clear_errors() {
    for file in ["vectors/points.f32", "vectors/points.i8", "pairs.bin"] {
        let (_dir, index) = indexed_small_corpus();
        let live = std::fs::read_to_string(index.join("CURRENT")).unwrap();
        let path = index.join(live.trim()).join(file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let out = antwort(&index, &["ask", "Wie backe ich Brot?"]);
        let name = file.rsplit('/').next().unwrap();
        assert_clear_error(&out, &[name, "antwort index"]);
    }
}

#[test]
fn out_of_range_weights_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let ask = |flag: &str| antwort(&index, &["ask", "Was ist LoRA?", flag]);
    assert_clear_error(
        &ask("--related-weight=-1"),
        &["--related-weight must be 0 or more, got -1"],
    );
    assert_clear_error(
        &ask("--related-weight=NaN"),
        &["--related-weight must be 0 or more"],
    );
    assert_clear_error(&ask("--alpha=2"), &["--alpha must be between 0 and 1"]);
    let output = antwort(
        &index,
        &[
            "ask",
            "Was ist LoRA?",
            "--reranker",
            "ms-marco",
            "--reranker-weight=2",
        ],
    );
    assert_clear_error(
        &output,
        &["--reranker-weight must be between 0 and 1, got 2"],
    );
}

/// Sizes beyond the corpus mean all of it: `-k`, `--depth` and `--rerank-depth` as large as a
/// `usize` answer with every pair, in every mode, without a panic or a huge allocation.
#[test]
fn huge_sizes_answer_with_the_whole_corpus() {
    let (_dir, index) = indexed_small_corpus();
    let huge = usize::MAX.to_string();
    for mode in ["bm25", "dense", "hybrid", "rerank"] {
        for args in [
            vec!["-k", "99999999999"],
            vec!["-k", "4611686018427387904"],
            vec!["-k", &huge, "--depth", &huge, "--rerank-depth", &huge],
        ] {
            let mut all = vec!["ask", "Wasser", "--mode", mode, "--json"];
            all.extend(&args);
            let out = antwort(&index, &all);
            assert!(out.status.success(), "{mode} {args:?}: {}", stderr(&out));
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
            let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            let hits = report["results"].as_array().unwrap().len();
            let expected = if mode == "bm25" { 2 } else { 3 };
            assert_eq!(hits, expected, "{mode} {args:?}");
        }
    }
}

#[test]
fn completions_and_the_manual_page_cover_every_command() {
    let nowhere = Path::new("unused-index");
    for shell in ["bash", "zsh", "fish"] {
        let output = antwort(nowhere, &["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        // Flags without their dashes: fish spells them `-l top-k`.
        for word in [
            "ask",
            "index",
            "eval",
            "serve",
            "top-k",
            "filter",
            "cors-origin",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let output = antwort(nowhere, &["manpage"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    assert!(page.contains(".TH antwort 1"), "{page:.200}");
    for command in [
        "index",
        "ask",
        "eval",
        "related",
        "topics",
        "serve",
        "completions",
    ] {
        let entry = format!("antwort\\-{command}(1)");
        assert!(page.contains(&entry), "no {entry}");
    }
    assert!(!nowhere.exists());
}
