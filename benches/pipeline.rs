//! The pipeline's speed, rerunnable: `cargo bench --bench pipeline`.
//!
//! First a report table (cold `antwort ask` wall time and peak memory, index build time,
//! embedding throughput, warm per-query latency p50/p95 per mode next to the query-embedding
//! time of the same run), then criterion's measurements of each warm stage.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Instant;

use common::{millis, run_antwort};

use antwort::corpus::units_of;
use antwort::corpus::{Corpus, CorpusSource};
use antwort::embed::{E5Encoder, Encoder, ModelFiles, TokenizerScope};
use antwort::eval::{self, bundled, percentile};
use antwort::index::IndexDir;
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};
use criterion::Criterion;

const COLD_RUNS: usize = 5;
const WARM_ROUNDS: usize = 5;

/// Cold `antwort ask`, each in a fresh process, over the index in `index`: median wall time
/// and the largest peak memory, in ms and MB.
fn cold_ask(index: &Path) -> (f64, f64) {
    let args = [
        OsStr::new("--index"),
        index.as_os_str(),
        OsStr::new("ask"),
        OsStr::new("Was ist LoRA?"),
        OsStr::new("--json"),
    ];
    let (mut walls, peaks): (Vec<f64>, Vec<f64>) =
        (0..COLD_RUNS).map(|_| run_antwort(&args)).unzip();
    (
        percentile(&mut walls, 0.5),
        peaks.into_iter().fold(0.0, f64::max),
    )
}

/// p50 of the rerank stage alone for 10, 20 and 30 candidates, from the pipeline's own timings.
fn rerank_latency(searcher: &Searcher, queries: &[eval::Query]) -> Vec<(usize, f64)> {
    [10, 20, 30]
        .into_iter()
        .map(|depth| {
            let mut options = SearchOptions::new(Mode::Rerank, 10, DEFAULT_FUSION);
            options.rerank_depth = depth;
            let mut times: Vec<f64> = queries
                .iter()
                .map(|q| millis(searcher.search(&q.text, &options).unwrap().timings.rerank))
                .collect();
            (depth, percentile(&mut times, 0.5))
        })
        .collect()
}

fn main() {
    let models = ModelFiles::locate(None).expect("run scripts/fetch-models first");
    let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // First the fresh processes, while this one is small (see `run_antwort`).
    let cold_index = dir.path().join("cold");
    let (cold_build, cold_build_peak) = run_antwort(&[
        OsStr::new("--index"),
        cold_index.as_os_str(),
        OsStr::new("index"),
    ]);
    let (cold_p50, cold_peak) = cold_ask(&cold_index);

    let index_dir = IndexDir::new(dir.path().join("warm"));

    let started = Instant::now();
    let embedder = E5Encoder::load(&models, 2, TokenizerScope::Whole).unwrap();
    let model_load = started.elapsed();

    let started = Instant::now();
    index_dir
        .build(&corpus, &CorpusSource::Bundled, &embedder, &())
        .unwrap();
    let build = started.elapsed();

    let units = units_of(&corpus);
    let texts: Vec<&str> = units.iter().map(|u| u.text(&corpus)).collect();
    let started = Instant::now();
    embedder.encode_all(&texts).unwrap();
    let throughput = texts.len() as f64 / started.elapsed().as_secs_f64();

    let searcher = Searcher::new(index_dir.open().unwrap(), Some(Box::new(embedder)));
    let queries = eval::parse_queries("dev".as_ref(), bundled::DEV_QUERIES).unwrap();
    let mut embed_times = Vec::new();
    let mut rows = Vec::new();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid, Mode::Rerank] {
        let options = SearchOptions::new(mode, 10, DEFAULT_FUSION);
        let mut times = Vec::new();
        for _ in 0..WARM_ROUNDS {
            for query in &queries {
                let started = Instant::now();
                let answers = searcher.search(&query.text, &options).unwrap();
                times.push(millis(started.elapsed()));
                if mode.needs_embedder() {
                    embed_times.push(millis(answers.timings.embed));
                }
            }
        }
        rows.push((
            mode,
            percentile(&mut times, 0.5),
            percentile(&mut times, 0.95),
        ));
    }
    let embed_p50 = percentile(&mut embed_times, 0.5);

    println!(
        "\nantwort pipeline benchmark (bundled corpus: {} pairs, {} units)",
        corpus.len(),
        units.len()
    );
    println!("| what | value |");
    println!("|---|---|");
    println!("| cold `antwort ask` wall time, median of {COLD_RUNS} | {cold_p50:.0} ms |");
    println!("| cold `antwort ask` peak memory | {cold_peak:.0} MB |");
    println!(
        "| cold `antwort index`, bundled corpus (model load included) | {:.2} s, {cold_build_peak:.0} MB |",
        cold_build / 1e3
    );
    println!("| model load (in process) | {:.0} ms |", millis(model_load));
    println!(
        "| index build, bundled corpus, after model load | {:.2} s |",
        build.as_secs_f64()
    );
    println!(
        "| embedding throughput (passages, length-sorted batches) | {throughput:.0} units/s |"
    );
    println!("| query embedding p50 | {embed_p50:.2} ms |");
    for (mode, p50, p95) in &rows {
        println!(
            "| warm `{}` query p50 / p95 | {p50:.2} / {p95:.2} ms ({:.2} x embedding) |",
            mode.name(),
            p50 / embed_p50
        );
    }
    for (depth, p50) in rerank_latency(&searcher, &queries) {
        println!("| built-in rerank of {depth} candidates, p50 | {p50:.3} ms |");
    }
    // The cross-encoder ANTWORT_RERANKER names, else the English one `scripts/fetch-models`
    // installs: its cost depends on the candidates' length, not on their language.
    {
        let dir = match std::env::var_os(antwort::rerank::cross_encoder::RERANKER_ENV) {
            Some(dir) => std::path::PathBuf::from(dir),
            None => models.english_reranker_dir().unwrap(),
        };
        let cross_encoder =
            antwort::rerank::cross_encoder::CrossEncoder::load(&dir, &models, 2).unwrap();
        // A searcher of its own, so that criterion below measures the built-in default.
        let embedder = E5Encoder::load(&models, 2, TokenizerScope::Whole).unwrap();
        let crossed = Searcher::new(index_dir.open().unwrap(), Some(Box::new(embedder)))
            .with_reranker(Box::new(cross_encoder));
        let few: Vec<eval::Query> = queries.iter().take(8).cloned().collect();
        for (depth, p50) in rerank_latency(&crossed, &few) {
            println!("| cross-encoder rerank of {depth} candidates, p50 | {p50:.0} ms |");
        }
    }
    println!();

    let mut criterion = Criterion::default().configure_from_args().sample_size(30);
    let query = "Wie funktionieren Diffusionsmodelle?";
    criterion.bench_function("embed query", |b| {
        b.iter(|| searcher.encoder().unwrap().embed_query(query).unwrap())
    });
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid, Mode::Rerank] {
        let options = SearchOptions::new(mode, 10, DEFAULT_FUSION);
        criterion.bench_function(&format!("ask {}", mode.name()), |b| {
            b.iter(|| searcher.search(query, &options).unwrap())
        });
    }
    criterion.final_summary();
}
