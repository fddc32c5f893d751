//! `antwort eval`: every mode on judged queries, side by side, with paired tests; and
//! `--sweep` over fusion and rerank settings.

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

use super::{open_searcher_in, Cli, EvalArgs, Format, Split};
use antwort::corpus::CorpusSource;
use antwort::embed::TokenizerScope;
use antwort::eval::{
    self, bundled, Config, ConfigReport, EvalManifest, EvalReport, Qrels, Query, Suite, SuiteSet,
};
use antwort::fusion::Fusion;
use antwort::index::IndexDir;
use antwort::search::{Mode, SearchOptions, Searcher, DEFAULT_FUSION};

/// The configuration every other is tested against.
const DEFAULT_CONFIG: &str = "rerank (default)";

/// Fewer judged queries than this and a sweep's differences are mostly noise.
const TRUSTWORTHY_QUERIES: usize = 100;

pub fn run(cli: &Cli, args: &EvalArgs) -> anyhow::Result<()> {
    if !args.suite.is_empty() {
        return suite(cli, args);
    }
    let (mut queries, qrels, mut searcher) = inputs(cli, args)?;
    at_most(&mut queries, args);
    if args.sweep {
        return sweep(&mut searcher, args, &queries, &qrels);
    }
    let top_k = searcher.corpus().len().min(100);
    let configs = standard_configs(args, top_k)?;
    let reports = eval::run_configs(&searcher, &configs, &queries, &qrels)?;
    if let Some(dir) = &args.run_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for report in &reports {
            let tag = format!("antwort-{}", antwort::corpus::slug(&report.name));
            eval::write_run(&dir.join(format!("{tag}.run")), &report.runs, &tag)?;
        }
    }
    let manifest = manifest(&searcher, &configs, &queries, &reports);
    let report = EvalReport::new(manifest, reports, DEFAULT_CONFIG);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Md | Format::Text => {
            print!("{}", report.table(args.format == Format::Md));
            let unjudged = &report.configs[0].evaluation.unjudged;
            if !unjudged.is_empty() {
                println!(
                    "\n{} queries without a relevant document, left out of the averages: {}",
                    unjudged.len(),
                    unjudged.join(" ")
                );
            }
            println!(
                "p: paired randomization test on nDCG@10 against \"{DEFAULT_CONFIG}\" ({} trials).",
                eval::RANDOMIZATION_TRIALS
            );
        }
    }
    Ok(())
}

/// The name `--suite` gives the bundled judged queries.
const BUNDLED_SET: &str = "bundled";

/// `--suite`: each set indexed once (kept under `--suite-index`) and run through the default's
/// own stages, all in one table.
fn suite(cli: &Cli, args: &EvalArgs) -> anyhow::Result<()> {
    let bundled_name = || {
        let split = (args.split.to_possible_value()).expect("every split has a name");
        format!("{BUNDLED_SET}-{}", split.get_name())
    };
    // Every name first: a set's index is kept by its name, so a second set of one name would
    // otherwise rebuild the first one's index before the clash is seen.
    let mut names = std::collections::HashSet::new();
    let mut named = Vec::with_capacity(args.suite.len());
    for entry in &args.suite {
        let bundled = entry.as_os_str() == BUNDLED_SET;
        let name = if bundled {
            bundled_name()
        } else {
            set_name(entry)?
        };
        if !names.insert(name.clone()) {
            anyhow::bail!(
                "two sets of the suite are named {name:?}; a set's index is kept by its \
                 directory's name, so give each set a directory of its own name"
            );
        }
        named.push((name, (!bundled).then_some(entry)));
    }
    let mut sets = Vec::with_capacity(named.len());
    for (name, beir) in named {
        let (mut queries, qrels, searcher) = match beir {
            None => {
                let (queries, qrels) = bundled_set(args.split)?;
                (queries, qrels, default_index_searcher(cli)?)
            }
            Some(dir) => beir_set(cli, dir, &IndexDir::new(args.suite_index.join(&name)))?,
        };
        at_most(&mut queries, args);
        let top_k = searcher.corpus().len().min(100);
        let configs = stage_configs(args, top_k)?;
        eprintln!("eval: {name}: {} queries", queries.len());
        let configs = eval::run_configs(&searcher, &configs, &queries, &qrels)?;
        sets.push(SuiteSet {
            name,
            documents: searcher.corpus().len(),
            judged_queries: configs.first().map_or(0, |c| c.evaluation.per_query.len()),
            configs,
        });
    }
    let suite = Suite::new(sets);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&suite)?),
        Format::Md | Format::Text => print!("{}", suite.table(args.format == Format::Md)),
    }
    Ok(())
}

/// `--max-queries`: the first N queries only.
fn at_most(queries: &mut Vec<Query>, args: &EvalArgs) {
    if let Some(n) = args.max_queries {
        queries.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
}

/// A BEIR set's name in the suite: its directory's.
fn set_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir
        .canonicalize()
        .with_context(|| format!("cannot open the data set {}", dir.display()))?;
    name.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no directory name to call the set by", dir.display()))
}

/// The default's own stages, each as the flags set it: BM25, dense, their fusion, and the
/// default (fusion, reranking and the lift).
fn stage_configs(args: &EvalArgs, top_k: usize) -> anyhow::Result<Vec<Config>> {
    let fusion = args.fusion.fusion()?;
    [
        ("bm25", Mode::Bm25),
        ("dense", Mode::Dense),
        ("hybrid", Mode::Hybrid),
        (DEFAULT_CONFIG, Mode::Rerank),
    ]
    .into_iter()
    .map(|(name, mode)| {
        Ok(Config {
            name: name.into(),
            options: args.fusion.options_with(mode, top_k, fusion)?,
        })
    })
    .collect()
}

/// A BEIR directory's judged queries and a searcher over its corpus, indexed in `index`.
fn beir_set(
    cli: &Cli,
    dir: &Path,
    index: &IndexDir,
) -> anyhow::Result<(Vec<Query>, Qrels, Searcher)> {
    let queries = eval::read_queries(&dir.join("queries.jsonl"))?;
    let qrels = eval::read_qrels(&dir.join("qrels").join("test.tsv"))?;
    let source = CorpusSource::File(dir.join("corpus.jsonl"));
    let searcher = open_searcher_in(
        cli,
        index,
        Some(source),
        Mode::Rerank,
        TokenizerScope::Whole,
    )?;
    Ok((queries, qrels, searcher))
}

/// The judged queries and a searcher over the corpus they judge.
fn inputs(cli: &Cli, args: &EvalArgs) -> anyhow::Result<(Vec<Query>, Qrels, Searcher)> {
    if let Some(dir) = &args.beir {
        return beir_set(cli, dir, &IndexDir::new(dir.join("antwort-index")));
    }
    let (queries, qrels) = match (&args.queries, &args.qrels) {
        (Some(q), Some(r)) => (eval::read_queries(q)?, eval::read_qrels(r)?),
        _ => bundled_set(args.split)?,
    };
    Ok((queries, qrels, default_index_searcher(cli)?))
}

/// A searcher over the index of `--index`, built or refreshed first when needed.
fn default_index_searcher(cli: &Cli) -> anyhow::Result<Searcher> {
    let index = IndexDir::new(&cli.index);
    open_searcher_in(cli, &index, None, Mode::Rerank, TokenizerScope::Whole)
}

fn bundled_set(split: Split) -> anyhow::Result<(Vec<Query>, Qrels)> {
    let mut parts = Vec::new();
    if split != Split::Heldout {
        parts.push((bundled::DEV_QUERIES, bundled::DEV_QRELS));
    }
    if split != Split::Dev {
        parts.push((bundled::HELDOUT_QUERIES, bundled::HELDOUT_QRELS));
    }
    let (mut queries, mut qrels) = (Vec::new(), Qrels::new());
    for (q, r) in parts {
        queries.extend(eval::parse_queries(Path::new("bundled queries"), q)?);
        qrels.extend(eval::parse_qrels(Path::new("bundled qrels"), r)?);
    }
    Ok((queries, qrels))
}

/// bm25, dense, RRF and convex fusion (fixed and adaptive), and the full pipeline.
fn standard_configs(args: &EvalArgs, top_k: usize) -> anyhow::Result<Vec<Config>> {
    let chosen = args.fusion.fusion()?;
    let with = |mode, fusion| args.fusion.options_with(mode, top_k, fusion);
    let mut configs = vec![
        Config {
            name: "bm25".into(),
            options: with(Mode::Bm25, chosen)?,
        },
        Config {
            name: "dense".into(),
            options: with(Mode::Dense, chosen)?,
        },
    ];
    let (k, alpha) = (args.fusion.rrf_k, args.fusion.alpha);
    for adaptive in [false, true] {
        let label = if adaptive { "adaptive" } else { "fixed" };
        configs.push(Config {
            name: format!("hybrid rrf k={k} {label}"),
            options: with(Mode::Hybrid, Fusion::Rrf { k, adaptive })?,
        });
        configs.push(Config {
            name: format!("hybrid convex a={alpha} {label}"),
            options: with(Mode::Hybrid, Fusion::Convex { alpha, adaptive })?,
        });
    }
    configs.push(Config {
        name: DEFAULT_CONFIG.into(),
        options: with(Mode::Rerank, chosen)?,
    });
    Ok(configs)
}

fn manifest(
    searcher: &Searcher,
    configs: &[Config],
    queries: &[Query],
    reports: &[ConfigReport],
) -> EvalManifest {
    let index = &searcher.index().manifest;
    let default = configs
        .iter()
        .find(|c| c.name == DEFAULT_CONFIG)
        .map(|c| c.options);
    EvalManifest {
        antwort_version: env!("CARGO_PKG_VERSION"),
        model_id: index.model_id.clone(),
        model_checksum: index.model_checksum.clone(),
        index_format: index.format_version,
        corpus_checksum: index.corpus_checksum.clone(),
        documents: index.documents,
        queries: queries.len(),
        judged_queries: reports.first().map_or(0, |r| r.evaluation.per_query.len()),
        rerank: searcher.reranker_name(),
        rerank_depth: default.map_or(0, |o| o.rerank_depth),
        related_weight: default.map_or(0.0, |o| searcher.related_weight(&o)),
        default_config: default
            .map_or(String::new(), |o| format!("{} {}", o.mode.name(), o.fusion)),
    }
}

/// `--sweep`: the grid (fusion, candidate depth, rerank depth, related weight), ranked by
/// nDCG@10 then RR@10, with the best settings' paired test against the default and a warning
/// when the query set is too small to trust the ranking.
fn sweep(
    searcher: &mut Searcher,
    args: &EvalArgs,
    queries: &[Query],
    qrels: &Qrels,
) -> anyhow::Result<()> {
    let top_k = searcher.corpus().len().min(100);
    let mut fusions: Vec<Fusion> = [10.0, 30.0, 60.0, 100.0]
        .into_iter()
        .map(|k| Fusion::Rrf { k, adaptive: true })
        .collect();
    fusions.extend(
        [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
            .into_iter()
            .map(|alpha| Fusion::Convex {
                alpha,
                adaptive: true,
            }),
    );
    let mut configs = vec![Config {
        name: DEFAULT_CONFIG.into(),
        options: SearchOptions::new(Mode::Rerank, top_k, DEFAULT_FUSION),
    }];
    let weight = antwort::rerank::DEFAULT_RELATED_WEIGHT;
    for fusion in fusions {
        for depth in [20, 50, 100] {
            for rerank_depth in [10, 20, 30] {
                for related_weight in [0.0, weight, 2.0 * weight] {
                    let mut options = SearchOptions::new(Mode::Rerank, top_k, fusion);
                    options.depth = depth.max(top_k);
                    options.rerank_depth = rerank_depth;
                    options.related_weight = Some(related_weight);
                    configs.push(Config {
                        name: format!(
                            "{fusion} depth={depth} rerank-depth={rerank_depth} \
                             related-weight={related_weight}"
                        ),
                        options,
                    });
                }
            }
        }
    }
    // The same query text is embedded once for the whole grid.
    searcher.cache_query_vectors(true);
    let mut reports = eval::run_configs(searcher, &configs, queries, qrels)?;
    let default = reports.remove(0);
    reports.sort_by(|a, b| {
        let key = |r: &ConfigReport| (r.evaluation.mean.ndcg10, r.evaluation.mean.rr10);
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let per_query = |r: &ConfigReport| -> Vec<f64> {
        r.evaluation.per_query.values().map(|m| m.ndcg10).collect()
    };
    let mut rows = vec![vec![
        "settings".to_string(),
        "nDCG@10".into(),
        "RR@10".into(),
        "p vs default".into(),
    ]];
    let row = |r: &ConfigReport, p: String| {
        vec![
            r.name.clone(),
            format!("{:.4}", r.evaluation.mean.ndcg10),
            format!("{:.4}", r.evaluation.mean.rr10),
            p,
        ]
    };
    rows.push(row(&default, "-".into()));
    for r in reports.iter().take(10) {
        let p = eval::randomization_test(
            &per_query(r),
            &per_query(&default),
            eval::RANDOMIZATION_TRIALS,
            42,
        );
        rows.push(row(r, format!("{p:.4}")));
    }
    if args.format == Format::Json {
        let best: Vec<_> = reports.iter().take(10).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "default": default, "best": best }))?
        );
        return Ok(());
    }
    println!(
        "{} settings tried; the default first, then the 10 best:\n",
        configs.len()
    );
    print!("{}", eval::render(&rows, args.format == Format::Md));
    let judged = default.evaluation.per_query.len();
    let best_p = reports.first().map_or(1.0, |b| {
        eval::randomization_test(
            &per_query(b),
            &per_query(&default),
            eval::RANDOMIZATION_TRIALS,
            42,
        )
    });
    if judged < TRUSTWORTHY_QUERIES || best_p >= 0.05 {
        println!(
            "\nwarning: {judged} judged queries, best vs default p = {best_p:.3}: too few queries to trust \
             these differences; do not change settings on this evidence alone."
        );
    }
    Ok(())
}
