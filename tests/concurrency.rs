//! Several `antwort` processes on one index directory at once, as a user's scripts and shells
//! run them: builds take turns, and readers never lose the files they are reading.
//!
//! Real binary, real model, real files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use antwort::index::IndexDir;

fn command(index: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_antwort"));
    command.arg("--index").arg(index).args(args);
    command
}

fn antwort(index: &Path, args: &[&str]) -> Output {
    command(index, args).output().expect("antwort runs")
}

fn spawn(index: &Path, args: &[&str]) -> Child {
    command(index, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("antwort starts")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {}: {}",
        output.status,
        stderr(output)
    );
    assert!(!stderr(output).contains("panicked"), "{}", stderr(output));
}

/// The id of the first answer of one `ask --json`.
fn top_id(output: &Output) -> String {
    assert_success(output, "ask");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    report["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no answer in {report}"))
        .to_string()
}

/// The names in the index directory that start with `prefix`.
fn entries(index: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(index)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Asserts that `index` holds one valid live generation, no staging directories, and at most
/// `max_generations` generations in all.
fn assert_one_live_index(index: &Path, max_generations: usize) {
    let current = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    let live = index.join(current.trim());
    assert!(
        live.join("manifest.json").is_file(),
        "CURRENT names {current:?}, which is not a complete generation; the directory holds {:?}",
        entries(index, "")
    );
    assert_eq!(entries(index, ".build-"), Vec::<String>::new());
    let generations = entries(index, "gen-");
    assert!(
        generations.len() <= max_generations,
        "{} generations left: {generations:?}",
        generations.len()
    );
}

/// A temporary directory with a copy of the bundled corpus as `faq.jsonl`, indexed into
/// `index`.
fn indexed_corpus_file() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("faq.jsonl");
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/genai-interview.jsonl");
    std::fs::copy(bundled, &corpus).unwrap();
    let index = dir.path().join("index");
    let built = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert_success(&built, "the first build");
    (dir, corpus, index)
}

#[test]
fn builds_started_at_once_take_turns_and_leave_one_index() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let started = Instant::now();
    let builds: Vec<Child> = (0..4).map(|_| spawn(&index, &["index"])).collect();
    let outputs: Vec<Output> = builds
        .into_iter()
        .map(|b| b.wait_with_output().unwrap())
        .collect();
    let messages: Vec<String> = outputs.iter().map(stderr).collect();
    for output in &outputs {
        assert_success(output, "a concurrent `antwort index`");
    }
    eprintln!(
        "4 concurrent builds done in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let built = messages.iter().filter(|m| m.contains("indexed 36")).count();
    let skipped = messages
        .iter()
        .filter(|m| m.contains("another process just indexed"))
        .count();
    assert!(built >= 1, "{messages:#?}");
    assert_eq!(built + skipped, 4, "{messages:#?}");
    // At least one started while the first was building, and did not build again.
    assert!(skipped >= 1, "{messages:#?}");
    // Those that waited found the index fresh, and said that they waited.
    for message in messages.iter().filter(|m| m.contains("another process")) {
        assert!(
            message.contains("waiting for another build of"),
            "{message}"
        );
    }
    // Nobody was reading: every old generation was collected.
    assert_one_live_index(&index, 1);

    let ask = antwort(&index, &["ask", "Was ist LoRA?", "--json"]);
    assert_eq!(top_id(&ask), "lora");
    assert!(!stderr(&ask).contains("building"), "{}", stderr(&ask));
}

#[test]
fn asks_answer_while_the_index_is_rebuilt_again_and_again() {
    // Every rebuild ends by collecting the generation it replaced: the moment to catch.
    const REBUILDS: usize = 6;
    let (dir, index) = small_index();
    let rebuild = || rebuild(dir.path(), &index);
    let rebuilding = AtomicBool::new(true);
    // Asks in `mode` until the rebuilds are done, `min` times at least; returns how often.
    let ask_until_rebuilt = |mode: &str, min: usize| {
        let mut asks = 0;
        while rebuilding.load(Ordering::SeqCst) || asks < min {
            let ask = antwort(&index, &["ask", "Was ist LoRA?", "--json", "--mode", mode]);
            assert_eq!(top_id(&ask), "lora", "ask {asks} in mode {mode}");
            // The index was fresh all along: no ask may have taken it for missing.
            assert!(
                !stderr(&ask).contains("building"),
                "ask {asks} in mode {mode}: {}",
                stderr(&ask)
            );
            asks += 1;
        }
        asks
    };
    let started = Instant::now();
    let (bm25, full) = std::thread::scope(|scope| {
        let rebuilds = scope.spawn(|| {
            let _stop = Stop(&rebuilding);
            (0..REBUILDS).for_each(|_| rebuild());
        });
        // BM25 alone needs no model: one after another, these asks spend much of their time
        // opening the index. The whole pipeline loads the model as well.
        let bm25 = scope.spawn(|| ask_until_rebuilt("bm25", 20));
        let full = ask_until_rebuilt("rerank", 5);
        rebuilds.join().unwrap();
        (bm25.join().unwrap(), full)
    });
    eprintln!(
        "{bm25} BM25 asks and {full} through the whole pipeline during {REBUILDS} rebuilds in \
         {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The last rebuild may have found the previous generation still being read.
    assert_one_live_index(&index, 2);
}

/// Clears its flag when dropped, also when the thread holding it panics.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Four pairs, so that a build takes little more than loading the model.
/// A temporary directory holding `faq.jsonl` (the small corpus) and its built `index`.
fn small_index() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("faq.jsonl"), small_corpus()).unwrap();
    let index = dir.path().join("index");
    rebuild(dir.path(), &index);
    (dir, index)
}

/// Indexes `dir/faq.jsonl` into `index`, as `antwort index --corpus` does.
fn rebuild(dir: &Path, index: &Path) {
    let corpus = dir.join("faq.jsonl");
    let output = antwort(index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert_success(&output, "a rebuild");
}

fn small_corpus() -> String {
    [
        (
            "lora",
            "Was ist LoRA?",
            "Low-Rank Adaptation trainiert kleine Zusatzmatrizen.",
        ),
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
            "Wie flicke ich einen Reifen?",
            "Den Schlauch flicken und aufpumpen.",
        ),
    ]
    .iter()
    .map(|(id, question, answer)| {
        serde_json::json!({ "id": id, "question": question, "answer": answer }).to_string()
    })
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn an_open_index_keeps_its_generation_until_it_is_dropped() {
    let (dir, index) = small_index();
    let rebuild = || rebuild(dir.path(), &index);
    let first = entries(&index, "gen-");
    let opened = IndexDir::new(&index).open().unwrap();

    rebuild();
    let both = entries(&index, "gen-");
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.contains(&first[0]), "{both:?}");
    let kept = index.join(&first[0]);
    for part in [
        "manifest.json",
        "corpus.jsonl",
        "lexical",
        "vectors",
        "tokens.bin",
    ] {
        assert!(
            kept.join(part).exists(),
            "{part} of the open generation is gone"
        );
    }
    assert_eq!(opened.corpus.len(), 4);

    drop(opened);
    rebuild();
    let last = entries(&index, "gen-");
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(!both.contains(&last[0]), "{both:?} {last:?}");
}

#[test]
fn an_ask_that_waits_for_a_build_answers_from_it_without_building_again() {
    let (_dir, corpus, index) = indexed_corpus_file();
    // The corpus changes; a rebuild starts, and while it is embedding, a question comes.
    let mut changed = std::fs::read_to_string(&corpus).unwrap();
    changed.push_str(
        &serde_json::json!({
            "id": "sourdough",
            "question": "Wie füttere ich einen Sauerteig?",
            "answer": "Den Sauerteig täglich mit Mehl und Wasser füttern und warm stellen."
        })
        .to_string(),
    );
    changed.push('\n');
    std::fs::write(&corpus, changed).unwrap();
    let build = spawn(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while entries(&index, ".build-").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !entries(&index, ".build-").is_empty(),
        "the build never started writing"
    );

    let ask = antwort(&index, &["ask", "Sauerteig füttern", "--json"]);
    let build = build.wait_with_output().unwrap();
    assert_success(&build, "the rebuild");
    assert_eq!(top_id(&ask), "sourdough");
    let message = stderr(&ask);
    assert!(
        message.contains("waiting for another build of"),
        "{message}"
    );
    assert!(!message.contains("building"), "{message}");
    assert_one_live_index(&index, 1);
}
