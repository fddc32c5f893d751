//! The README's reliability promises, counted: builds killed at random moments, every file of
//! an index generation damaged in three ways, and builds onto a full and a read-only disk.
//! Each test prints its counts (the README's
//! "Reliability" table comes from them) and fails on any lost index, panic or wrong answer.
//!
//! `ANTWORT_CRASH_KILLS` sets how many builds are killed (default 12; `scripts/reliability`
//! runs 50).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use antwort::corpus::{Corpus, CorpusSource};
use antwort::index::Manifest;
use rand::{Rng, SeedableRng};

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

/// The pair whose answer the two corpus versions of the crash test disagree on, and the
/// question that finds it.
const CHANGED_PAIR: &str = "lora";
const CHANGED_QUESTION: &str = "Was ist LoRA?";

/// The bundled corpus as a JSON Lines file, its [`CHANGED_PAIR`] answer marked with `version`.
fn corpus_version(path: &Path, version: &str) -> String {
    let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
    let mut answer = String::new();
    let lines: Vec<String> = corpus
        .pairs()
        .iter()
        .map(|pair| {
            let mut pair = pair.clone();
            if pair.id == CHANGED_PAIR {
                pair.answer = format!("{} (Fassung {version})", pair.answer);
                answer = pair.answer.clone();
            }
            serde_json::to_string(&pair).unwrap()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
    answer
}

/// A build's phases in order, with their share of its wall time as one uninterrupted build of
/// the same kind spent them (model loading and reading first; the manifest and the swap of
/// `CURRENT` last).
fn phases(manifest: &Manifest, wall: Duration) -> Vec<(&'static str, Duration, Duration)> {
    let s = manifest.build.seconds;
    let inside = [
        ("lexical", s.lexical),
        ("embedding", s.embed),
        ("token states", s.tokens),
        ("vectors", s.vectors),
        ("pair space", s.pairs),
        ("calibration", s.calibrate),
    ];
    let wall = wall.as_secs_f64();
    let tail = 0.02_f64.min(wall / 10.0);
    let mut at = (wall - s.total - tail).max(0.0);
    let mut phases = vec![("model load, reading", 0.0, at)];
    for (name, seconds) in inside {
        phases.push((name, at, at + seconds));
        at += seconds;
    }
    phases.push(("manifest, swap", at, wall));
    phases
        .into_iter()
        .map(|(name, start, end)| {
            let seconds = |x: f64| Duration::from_secs_f64(x.max(0.0));
            (name, seconds(start), seconds(end.max(start)))
        })
        .collect()
}

/// `antwort index` killed with SIGKILL at a random moment, again and again, each kill aimed
/// into a phase of the build in turn, alternately building two versions of the corpus that
/// differ in one answer, from scratch (`--full`) and incrementally. After every kill `antwort
/// ask` must answer from a complete generation, the old or the new one and never a mix: the
/// answer it shows is the one in the corpus the live manifest names. At the end an
/// uninterrupted build succeeds and leaves one generation and no abandoned build behind.
#[test]
fn builds_killed_at_random_moments_leave_a_complete_index() {
    let kills: usize = std::env::var("ANTWORT_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12);
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let versions = [dir.path().join("a.jsonl"), dir.path().join("b.jsonl")];
    let answers = [
        corpus_version(&versions[0], "A"),
        corpus_version(&versions[1], "B"),
    ];
    let build = |corpus: &Path, full: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_antwort"));
        command
            .arg("--index")
            .arg(&index)
            .args(["index", "--corpus"])
            .arg(corpus)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if full {
            command.arg("--full");
        }
        command
    };
    let live_manifest = || -> Manifest {
        let path = live_generation(&index).join("manifest.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    // One uninterrupted build of each kind times its phases.
    let mut timed = Vec::new();
    for (corpus, full) in [(&versions[0], true), (&versions[1], false)] {
        let started = Instant::now();
        assert!(build(corpus, full).status().unwrap().success());
        timed.push(phases(&live_manifest(), started.elapsed()));
    }

    let mut random = rand::rngs::SmallRng::seed_from_u64(0x0061_6e74_776f_7274);
    // How much faster or slower than its timed build each kind runs now (other tests share
    // the cores): a build that finishes before its kill rescales its kind and is aimed again.
    let mut pace = [1.0f64; 2];
    let (mut kill, mut survived, mut finished_first) = (0, 0, 0);
    let mut by_phase = std::collections::BTreeMap::<(usize, &str), usize>::new();
    let mut failures = Vec::new();
    while kill < kills && finished_first < 4 * kills {
        let live = match &live_manifest().corpus_source {
            CorpusSource::File(live) => live.clone(),
            other => panic!("the live index is of {other:?}"),
        };
        // Always the other version, so that an incremental build has a pair to embed.
        let target = &versions[usize::from(live == versions[0])];
        let full = kill % 4 < 2;
        let kind = usize::from(!full);
        let phases = &timed[kind];
        let order = kill % phases.len();
        let (phase, start, end) = phases[order];
        let delay = (start + (end - start).mul_f64(random.random::<f64>())).mul_f64(pace[kind]);
        let started = Instant::now();
        let mut child = build(target, full).spawn().unwrap();
        let finished = loop {
            if child.try_wait().unwrap().is_some() {
                break Some(started.elapsed());
            }
            if started.elapsed() >= delay {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if let Some(took) = finished {
            let timed_wall = phases.last().map_or(took, |p| p.2);
            pace[kind] = took.as_secs_f64() / timed_wall.as_secs_f64().max(1e-3);
            finished_first += 1;
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        *by_phase.entry((order, phase)).or_default() += 1;
        kill += 1;

        let case = format!("kill {kill} in {phase} ({} ms)", delay.as_millis());
        let output = antwort(&index, &["ask", CHANGED_QUESTION, "--json", "-k", "1"]);
        if !output.status.success() {
            failures.push(format!("{case}: ask failed: {}", stderr(&output)));
            continue;
        }
        let manifest = live_manifest();
        let CorpusSource::File(live) = &manifest.corpus_source else {
            failures.push(format!("{case}: the live index is not of either version"));
            continue;
        };
        let expected = &answers[usize::from(live == &versions[1])];
        let shown = answers_of(&output);
        if shown.first().map(|(id, answer)| (id.as_str(), answer)) != Some((CHANGED_PAIR, expected))
        {
            failures.push(format!(
                "{case}: {shown:?}, but the live corpus says {expected:?}"
            ));
        } else {
            survived += 1;
        }
    }
    assert_eq!(kill, kills, "builds kept finishing before their kill");

    assert!(build(&versions[0], false).status().unwrap().success());
    let left: Vec<String> = std::fs::read_dir(&index)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            ["gen-", ".build-", ".CURRENT-"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .collect();
    if left.len() != 1 {
        failures.push(format!("after the last build the index holds {left:?}"));
    }
    let phases: Vec<String> = (by_phase.iter())
        .map(|((_, phase), n)| format!("{phase} {n}"))
        .collect();
    println!(
        "SIGKILL during build: {survived} of {kills} survived ({finished_first} more builds \
         finished before their kill and were aimed again); kills by phase: {}",
        phases.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Id and answer text of each hit of `ask --json`.
fn answers_of(output: &Output) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_str(&stdout(output)).unwrap();
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            let text = |name: &str| hit[name].as_str().unwrap_or_default().to_string();
            (text("id"), text("answer"))
        })
        .collect()
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Mounted(PathBuf);

impl Mounted {
    /// A tmpfs of `size` at `at`, or `None` where this machine does not let the test mount one
    /// (mounting needs root).
    fn tmpfs(at: &Path, size: &str) -> Option<Mounted> {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Mounted(at.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A build into a disk that fills up, and one into a disk that is read-only, each fail with
/// exit status 1 and the system's reason, leave no partial build behind, and the index they
/// would have replaced answers as before. Skipped, saying so, where no tmpfs can be mounted.
#[test]
fn a_full_or_read_only_disk_fails_the_build_and_keeps_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, common::small::records().join("\n")).unwrap();
    // Room for the small corpus's index (about 50 kB) but not for the bundled one's (1.5 MB).
    let Some(disk) = Mounted::tmpfs(&dir.path().join("disk"), "512k") else {
        println!("full and read-only disk: skipped, this machine does not allow mounting a tmpfs");
        return;
    };
    let index = disk.0.join("index");
    let built = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let still_answers = |case: &str| {
        let output = antwort(&index, &["ask", "Wie backe ich Brot?", "--json", "-k", "1"]);
        assert!(output.status.success(), "{case}: {}", stderr(&output));
        assert_eq!(answers_of(&output)[0].0, "bread", "{case}");
        let partial: Vec<_> = std::fs::read_dir(&index)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".build-"))
            .collect();
        assert!(
            partial.is_empty(),
            "{case}: a partial build was left behind"
        );
    };

    let full = antwort(&index, &["index"]);
    common::binary::assert_clear_error(&full, &["No space left on device"]);
    still_answers("disk full");

    disk.remount_read_only();
    let read_only = antwort(
        &index,
        &["index", "--full", "--corpus", corpus.to_str().unwrap()],
    );
    common::binary::assert_clear_error(&read_only, &["Read-only file system"]);
    still_answers("read-only");
    println!(
        "full and read-only disk: 2 of 2 builds failed cleanly, the index answering after each"
    );
}
