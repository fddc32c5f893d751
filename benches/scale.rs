//! antwort on a corpus of any size, rerunnable: `cargo bench --bench scale`.
//!
//! Builds the index in a fresh process (wall time, peak memory), then reports its size by part,
//! cold `antwort ask` (fresh processes), where a cold start's seconds go, warm latency per mode
//! beside the query embedding, and the dense search's recall against exact search: the
//! index's own (the scan, or the graph when the index has one) and, with
//! `ANTWORT_BENCH_GRAPH=1` on an index without one, a graph built here over the same vectors.
//!
//! - `ANTWORT_BENCH_CORPUS`: a corpus file (JSON Lines, BEIR `corpus.jsonl`, Markdown); the
//!   bundled corpus if unset.
//! - `ANTWORT_BENCH_QUERIES`: queries (TSV or BEIR `queries.jsonl`); the `queries.jsonl` beside
//!   a BEIR corpus, else the bundled dev queries.
//! - `ANTWORT_BENCH_INDEX`: where to build (kept afterwards); a temporary directory if unset.
//!   With `ANTWORT_BENCH_REUSE=1` an index already there is measured as it is, without a build
//!   (a 47k-pair build takes a quarter of an hour).
//! - `ANTWORT_BENCH_GRAPH=1`: also build an HNSW graph over the index's vectors in this
//!   process, to compare it with the scan (minutes at 47k pairs).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use antwort::embed::{E5Encoder, ModelFiles, TokenizerScope};
use antwort::eval::{self, bundled, percentile, Query};
use antwort::index::IndexDir;
use antwort::retrieve::dense::{GraphPolicy, UnitHit, VectorIndex};
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};
use antwort::similarity::PairSpace;
use common::{millis, run_antwort};

const COLD_RUNS: usize = 3;
const MAX_QUERIES: usize = 100;
/// Search-list lengths (hnsw_rs's `ef`) measured beside the default.
const LISTS: [usize; 4] = [256, 512, 1024, 2048];

fn queries(corpus: Option<&Path>) -> Vec<Query> {
    let path = std::env::var_os("ANTWORT_BENCH_QUERIES")
        .map(PathBuf::from)
        .or_else(|| corpus.map(|c| c.with_file_name("queries.jsonl")))
        .filter(|p| p.is_file());
    let mut queries = match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).unwrap();
            eval::parse_queries(&path, &text).unwrap()
        }
        None => eval::parse_queries("dev".as_ref(), bundled::DEV_QUERIES).unwrap(),
    };
    queries.truncate(MAX_QUERIES);
    queries
}

/// The live generation's directory: the one the index's `CURRENT` file names.
fn live_generation(root: &Path) -> PathBuf {
    let current = std::fs::read_to_string(root.join("CURRENT")).expect("a built index");
    root.join(current.trim())
}

/// Bytes of each part of the live generation, largest first.
fn parts(generation: &Path) -> Vec<(String, u64)> {
    fn size(path: &Path) -> u64 {
        if path.is_dir() {
            std::fs::read_dir(path)
                .unwrap()
                .map(|e| size(&e.unwrap().path()))
                .sum()
        } else {
            path.metadata().map_or(0, |m| m.len())
        }
    }
    let mut parts: Vec<(String, u64)> = std::fs::read_dir(generation)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                size(&path),
            )
        })
        .collect();
    parts.sort_by_key(|part| std::cmp::Reverse(part.1));
    parts
}

fn recall(found: &[UnitHit], exact: &[UnitHit]) -> f64 {
    let hits = exact
        .iter()
        .filter(|e| found.iter().any(|f| f.unit == e.unit))
        .count();
    hits as f64 / exact.len().max(1) as f64
}

fn main() {
    let corpus = std::env::var_os("ANTWORT_BENCH_CORPUS").map(PathBuf::from);
    let kept = std::env::var_os("ANTWORT_BENCH_INDEX").map(PathBuf::from);
    let temporary = tempfile::tempdir().unwrap();
    let root = kept.unwrap_or_else(|| temporary.path().join("index"));
    let reuse = std::env::var_os("ANTWORT_BENCH_REUSE").is_some_and(|v| v == "1");
    let queries = queries(corpus.as_deref());
    let name = corpus
        .as_ref()
        .map_or("bundled corpus".into(), |c| c.display().to_string());

    // Fresh processes first, while this one is small (see `run_antwort`).
    let built = (!reuse || !IndexDir::new(&root).exists()).then(|| {
        let mut args = vec![OsStr::new("--index"), root.as_os_str(), OsStr::new("index")];
        if let Some(corpus) = &corpus {
            args.extend([OsStr::new("--corpus"), corpus.as_os_str()]);
        }
        run_antwort(&args)
    });
    let question = queries[0].text.as_str();
    let ask = [
        OsStr::new("--index"),
        root.as_os_str(),
        OsStr::new("ask"),
        OsStr::new(question),
        OsStr::new("--json"),
    ];
    let (mut walls, peaks): (Vec<f64>, Vec<f64>) =
        (0..COLD_RUNS).map(|_| run_antwort(&ask)).unzip();
    let cold_wall = percentile(&mut walls, 0.5);
    let cold_peak = peaks.into_iter().fold(0.0, f64::max);

    // Where a cold start's time goes, one part at a time (`ask` overlaps the model with the rest).
    let models = ModelFiles::locate(None).expect("run scripts/fetch-models first");
    let started = Instant::now();
    let encoder = E5Encoder::load(&models, 2, TokenizerScope::Whole).unwrap();
    let model_load = started.elapsed();
    let generation = live_generation(&root);
    let parts = parts(&generation);
    let started = Instant::now();
    drop(VectorIndex::load(&generation.join("vectors")).unwrap());
    let vectors_load = started.elapsed();
    let started = Instant::now();
    let index = IndexDir::new(&root).open().unwrap();
    let open = started.elapsed();
    let started = Instant::now();
    let pairs = index.load_pair_space().unwrap();
    let pair_space_load = started.elapsed();
    let started = Instant::now();
    drop(PairSpace::new(index.corpus.pairs(), &index.vectors));
    let pair_space_build = started.elapsed();
    let token_rows = index.tokens.rows();
    let (documents, units) = (index.corpus.len(), index.vectors.len());

    let graph_wanted = std::env::var_os("ANTWORT_BENCH_GRAPH").is_some_and(|v| v == "1");
    let built_graph = (graph_wanted && !index.vectors.has_graph()).then(|| {
        let started = Instant::now();
        let vectors = &index.vectors;
        let unit_vectors = (0..vectors.len())
            .map(|u| vectors.vector(u).to_vec())
            .collect();
        let graph = VectorIndex::build(vectors.units().to_vec(), unit_vectors, GraphPolicy::Always)
            .unwrap();
        (graph, started.elapsed())
    });
    let searcher = Searcher::new(index, Some(Box::new(encoder))).with_pair_space(pairs);
    let vectors = &searcher.index().vectors;
    let graph = match &built_graph {
        Some((graph, _)) => Some(graph),
        None => vectors.has_graph().then_some(vectors),
    };
    let encoder = searcher.encoder().unwrap();
    let mut embed_times = Vec::new();
    let (mut indexed_times, mut exact_times) = (Vec::new(), Vec::new());
    let (mut recall_10, mut recall_50) = (0.0, 0.0);
    let mut by_list: Vec<(usize, f64, Vec<f64>)> =
        LISTS.iter().map(|&ef| (ef, 0.0, Vec::new())).collect();
    for query in &queries {
        let started = Instant::now();
        let vector = encoder.embed_query(&query.text).unwrap();
        embed_times.push(millis(started.elapsed()));
        let started = Instant::now();
        let indexed = vectors.search(&vector, 50);
        indexed_times.push(millis(started.elapsed()));
        let started = Instant::now();
        let exact = vectors.exact_search(&vector, 50);
        exact_times.push(millis(started.elapsed()));
        recall_10 += recall(
            &indexed[..indexed.len().min(10)],
            &exact[..exact.len().min(10)],
        );
        recall_50 += recall(&indexed, &exact);
        let Some(graph) = graph else { continue };
        for (ef, recall_sum, times) in &mut by_list {
            let started = Instant::now();
            let found = (graph.graph_search_with_list(&vector, 50, *ef)).expect("it has a graph");
            times.push(millis(started.elapsed()));
            *recall_sum += recall(&found, &exact);
        }
    }
    let n = queries.len() as f64;
    let embed_p50 = percentile(&mut embed_times, 0.5);
    let mut stages: Vec<[f64; 6]> = Vec::new();
    let modes: Vec<(Mode, f64, f64)> = [Mode::Bm25, Mode::Dense, Mode::Hybrid, Mode::Rerank]
        .into_iter()
        .map(|mode| {
            let options = SearchOptions::new(mode, 10, DEFAULT_FUSION);
            let mut times: Vec<f64> = (queries.iter())
                .map(|q| {
                    let started = Instant::now();
                    let answers = searcher.search(&q.text, &options).unwrap();
                    let took = millis(started.elapsed());
                    if mode == Mode::Rerank {
                        let t = &answers.timings;
                        let staged = [t.embed, t.lexical, t.vector, t.fusion, t.rerank].map(millis);
                        let [embed, bm25, dense, fusion, rerank] = staged;
                        // BM25 runs beside the embedding: only what it takes beyond counts.
                        let rest = took - embed.max(bm25) - dense - fusion - rerank;
                        stages.push([embed, bm25, dense, fusion, rerank, rest]);
                    }
                    took
                })
                .collect();
            let p50 = percentile(&mut times, 0.5);
            (mode, p50, percentile(&mut times, 0.95))
        })
        .collect();

    println!(
        "\nantwort scale benchmark ({name}: {documents} pairs, {units} units, {token_rows} tokens; {} queries)",
        queries.len()
    );
    println!("| what | value |");
    println!("|---|---|");
    match built {
        Some((wall, peak)) => println!(
            "| full build, fresh process | {:.1} s, peak {peak:.0} MB |",
            wall / 1e3
        ),
        None => println!("| full build | not run (ANTWORT_BENCH_REUSE=1) |"),
    }
    let total: u64 = parts.iter().map(|p| p.1).sum();
    println!("| index on disk | {:.1} MB |", total as f64 / 1e6);
    for (part, bytes) in &parts {
        println!("| - {part} | {:.1} MB |", *bytes as f64 / 1e6);
    }
    if let Some((_, bytes)) = parts.iter().find(|p| p.0 == "tokens.bin") {
        println!(
            "| token states per token | {:.1} B |",
            *bytes as f64 / token_rows as f64
        );
    }
    println!("| cold `antwort ask`, median of {COLD_RUNS} / peak memory | {cold_wall:.0} ms / {cold_peak:.0} MB |");
    println!(
        "| cold start, part by part: model load | {:.0} ms |",
        millis(model_load)
    );
    let searched = if vectors.has_graph() { "graph" } else { "scan" };
    println!(
        "| - vectors ({} rows, {searched}) load | {:.0} ms |",
        vectors.rows(),
        millis(vectors_load)
    );
    println!(
        "| - whole index open (vectors included) | {:.0} ms |",
        millis(open)
    );
    println!(
        "| - pair space (\"See also\", the lift): read / built anew | {:.0} / {:.0} ms |",
        millis(pair_space_load),
        millis(pair_space_build)
    );
    println!("| query embedding p50 | {embed_p50:.2} ms |");
    for (mode, p50, p95) in &modes {
        println!(
            "| warm `{}` p50 / p95 | {p50:.2} / {p95:.2} ms ({:.2} x embedding) |",
            mode.name(),
            p50 / embed_p50
        );
    }
    let stage_names = [
        "embedding",
        "bm25 (beside the embedding)",
        "dense arm",
        "fusion",
        "rerank and lift",
        "excerpts and the rest",
    ];
    let line: Vec<String> = (stage_names.iter().enumerate())
        .map(|(i, name)| {
            let mut column: Vec<f64> = stages.iter().map(|s| s[i]).collect();
            format!("{name} {:.2}", percentile(&mut column, 0.5))
        })
        .collect();
    println!("| warm `rerank` by stage, p50 ms | {} |", line.join(", "));
    println!(
        "| dense search ({searched}) of 50, p50 | {:.3} ms (exact in full precision: {:.3} ms) |",
        percentile(&mut indexed_times, 0.5),
        percentile(&mut exact_times, 0.5)
    );
    println!(
        "| {searched} recall against exact, top 10 / top 50 | {:.4} / {:.4} |",
        recall_10 / n,
        recall_50 / n
    );
    if let Some((_, took)) = &built_graph {
        println!(
            "| HNSW graph built here over the same vectors | {:.1} s |",
            took.as_secs_f64()
        );
    }
    for (ef, recall_sum, times) in by_list.iter_mut().filter(|_| graph.is_some()) {
        println!(
            "| - HNSW, search list of {ef}: recall of the top 50, p50 | {:.4}, {:.3} ms |",
            *recall_sum / n,
            percentile(times, 0.5)
        );
    }
}
