//! The README's reliability promises, counted: builds killed at random moments, and every file
//! of an index generation damaged in three ways. Each test prints its counts (the README's
//! "Reliability" table comes from them) and fails on any lost index, panic or wrong answer.
//!
//! `ANTWORT_CRASH_KILLS` sets how many builds are killed (default 12; `scripts/reliability`
//! runs 50).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::binary::{antwort, stderr, stdout};

/// What a user asks after each fault: it has one right answer in the small corpus.
const QUESTION: &str = "Wie repariere ich einen Fahrradreifen?";

/// The answers of `ask --json`, as far as a user reads them: id, question, answer and score.
fn answers(output: &Output) -> Vec<(String, String, String, String)> {
    let json: serde_json::Value = serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("ask --json printed no JSON ({e}): {}", stdout(output)));
    let field = |hit: &serde_json::Value, name: &str| hit[name].to_string();
    json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| {
            (
                field(hit, "id"),
                field(hit, "question"),
                field(hit, "answer"),
                format!("{:.4}", hit["score"].as_f64().unwrap_or(f64::NAN)),
            )
        })
        .collect()
}

fn live_generation(index: &Path) -> PathBuf {
    let live = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    index.join(live.trim())
}

/// Every file under `dir`, relative to it, sorted; lock files (empty, never read) aside.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if !entry.file_name().to_string_lossy().ends_with(".lock") {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    Flip,
    Delete,
}

impl Damage {
    fn apply(self, path: &Path) {
        match self {
            Damage::Truncate => {
                let bytes = std::fs::read(path).unwrap();
                std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
            }
            Damage::Flip => {
                let mut bytes = std::fs::read(path).unwrap();
                let middle = bytes.len() / 2;
                let end = bytes.len().min(middle + 8);
                for byte in &mut bytes[middle..end] {
                    *byte ^= 0x5a;
                }
                std::fs::write(path, bytes).unwrap();
            }
            Damage::Delete => std::fs::remove_file(path).unwrap(),
        }
    }
}

/// Each file of a generation truncated, flipped in its middle, and deleted, one at a time on a
/// fresh copy: `antwort ask` must either answer exactly as from the intact index (it rebuilt
/// the index, or the damage hit nothing a query reads) or fail with exit status 1 and a message
/// that names the file and `antwort index`, and never panic or answer differently.
#[test]
fn every_file_of_a_generation_damaged_three_ways() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, common::small::records().join("\n")).unwrap();
    let index = dir.path().join("index");
    let build = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert!(build.status.success(), "{}", stderr(&build));
    let ask = || antwort(&index, &["ask", QUESTION, "--json"]);
    let intact = answers(&ask());
    assert_eq!(intact[0].0, "\"bike\"");

    let generation = live_generation(&index);
    let pristine = dir.path().join("pristine");
    copy_dir(&index, &pristine);
    let files = files_under(&generation);
    assert!(files.len() >= 8, "{files:?}");

    let (mut errors, mut as_before, mut failures) = (0, 0, Vec::new());
    for file in &files {
        for damage in [Damage::Truncate, Damage::Flip, Damage::Delete] {
            // Afresh each time: `ask` may have rebuilt the index after the last case.
            std::fs::remove_dir_all(&index).unwrap();
            copy_dir(&pristine, &index);
            damage.apply(&generation.join(file));
            let output = ask();
            let message = stderr(&output);
            let case = format!("{damage:?} {}", file.display());
            if message.contains("panicked") || output.status.code() == Some(101) {
                failures.push(format!("{case}: panic: {message}"));
            } else if output.status.success() {
                if answers(&output) == intact {
                    as_before += 1;
                } else {
                    failures.push(format!(
                        "{case}: a different answer, presented as right: {}",
                        stdout(&output)
                    ));
                }
            } else {
                let name = file.file_name().unwrap().to_string_lossy();
                let parent = file.parent().and_then(|p| p.file_name());
                let named = message.contains(&*name)
                    || parent.is_some_and(|p| message.contains(&*p.to_string_lossy()));
                if output.status.code() == Some(1) && named && message.contains("antwort index") {
                    errors += 1;
                } else {
                    failures.push(format!("{case}: an unclear error: {message}"));
                }
            }
        }
    }
    let cases = files.len() * 3;
    println!(
        "damaged files: {cases} cases over {} files: {errors} clear errors, {as_before} answered \
         as before, {} failed",
        files.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
