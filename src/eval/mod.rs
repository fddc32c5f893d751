//! The evaluation stage: judged queries in, standard metrics out, with trec_eval's definitions
//! so that every figure can be checked with trec_eval, ir_measures or ranx.
//!
//! - nDCG@10: gain = relevance grade, log2 discount, ideal ranking from all judged documents;
//! - RR@10: reciprocal rank of the first relevant document in the top 10;
//! - R@k: share of relevant documents in the top k; P@5; AP over the whole ranking.
//!
//! A document is relevant when its grade is at least 1. Rankings are ordered by score,
//! ties broken by document id descending, as trec_eval does. Queries without any relevant
//! document are left out of averages (trec_eval skips them too) and reported apart.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// A query to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub id: String,
    pub text: String,
}

/// Graded judgments: query id → document id → grade.
pub type Qrels = HashMap<String, HashMap<String, i32>>;

/// Metric values for one query, or averaged over queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    #[serde(rename = "nDCG@10")]
    pub ndcg10: f64,
    #[serde(rename = "RR@10")]
    pub rr10: f64,
    #[serde(rename = "R@1")]
    pub r1: f64,
    #[serde(rename = "R@5")]
    pub r5: f64,
    #[serde(rename = "R@10")]
    pub r10: f64,
    #[serde(rename = "R@100")]
    pub r100: f64,
    #[serde(rename = "AP")]
    pub ap: f64,
    #[serde(rename = "P@5")]
    pub p5: f64,
}

impl Metrics {
    /// Names in table order, as ir_measures spells them.
    pub const NAMES: [&'static str; 8] = [
        "nDCG@10", "RR@10", "R@1", "R@5", "R@10", "R@100", "AP", "P@5",
    ];

    pub fn values(&self) -> [f64; 8] {
        [
            self.ndcg10,
            self.rr10,
            self.r1,
            self.r5,
            self.r10,
            self.r100,
            self.ap,
            self.p5,
        ]
    }

    /// Mean over `all`; zero for an empty slice.
    pub fn mean(all: &[Metrics]) -> Metrics {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&Metrics) -> f64| all.iter().map(f).sum::<f64>() / n;
        Metrics {
            ndcg10: sum(|m| m.ndcg10),
            rr10: sum(|m| m.rr10),
            r1: sum(|m| m.r1),
            r5: sum(|m| m.r5),
            r10: sum(|m| m.r10),
            r100: sum(|m| m.r100),
            ap: sum(|m| m.ap),
            p5: sum(|m| m.p5),
        }
    }
}

/// Scores one ranking of `(doc id, score)` against the judgments of its query.
/// Returns `None` when the query has no relevant document.
pub fn evaluate(run: &[(String, f64)], judged: &HashMap<String, i32>) -> Option<Metrics> {
    let relevant = judged.values().filter(|&&g| g >= 1).count();
    if relevant == 0 {
        return None;
    }
    let mut ranked: Vec<&(String, f64)> = run.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let grade = |doc: &str| judged.get(doc).copied().unwrap_or(0).max(0);

    let dcg = |grades: &mut dyn Iterator<Item = i32>| -> f64 {
        grades
            .take(10)
            .enumerate()
            .map(|(i, g)| g as f64 / ((i + 2) as f64).log2())
            .sum()
    };
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let ndcg10 = dcg(&mut ranked.iter().map(|(d, _)| grade(d))) / dcg(&mut ideal.into_iter());

    let hits: Vec<bool> = ranked.iter().map(|(d, _)| grade(d) >= 1).collect();
    let found_within = |k: usize| hits.iter().take(k).filter(|&&h| h).count() as f64;
    let rr10 = hits
        .iter()
        .take(10)
        .position(|&h| h)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64);
    let mut seen = 0usize;
    let mut precision_sum = 0.0;
    for (i, &hit) in hits.iter().enumerate() {
        if hit {
            seen += 1;
            precision_sum += seen as f64 / (i + 1) as f64;
        }
    }
    let relevant = relevant as f64;
    Some(Metrics {
        ndcg10,
        rr10,
        r1: found_within(1) / relevant,
        r5: found_within(5) / relevant,
        r10: found_within(10) / relevant,
        r100: found_within(100) / relevant,
        ap: precision_sum / relevant,
        p5: found_within(5) / 5.0,
    })
}

/// Reads queries as TSV (`qid<TAB>text`) or BEIR JSON Lines (`{"_id", "text"}`).
pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    let text = read_text(path)?;
    parse_queries(path, &text)
}

pub fn parse_queries(path: &Path, text: &str) -> Result<Vec<Query>> {
    #[derive(Deserialize)]
    struct BeirQuery {
        #[serde(alias = "id")]
        _id: serde_json::Value,
        text: String,
    }
    let mut queries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let query = if line.trim_start().starts_with('{') {
            let q: BeirQuery = serde_json::from_str(line)
                .map_err(|e| Error::judgments(path, line_no, format!("bad query record: {e}")))?;
            let id = match q._id {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Query { id, text: q.text }
        } else {
            let (id, text) = line
                .split_once('\t')
                .ok_or_else(|| Error::judgments(path, line_no, "expected `query-id<TAB>text`"))?;
            Query {
                id: id.trim().to_string(),
                text: text.trim().to_string(),
            }
        };
        if query.id.is_empty() || query.text.is_empty() {
            return Err(Error::judgments(path, line_no, "empty query id or text"));
        }
        queries.push(query);
    }
    Ok(queries)
}

/// Reads judgments as TREC qrels (`qid 0 docid rel`) or BEIR qrels TSV
/// (`query-id<TAB>corpus-id<TAB>score`, with its header line).
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let text = read_text(path)?;
    parse_qrels(path, &text)
}

pub fn parse_qrels(path: &Path, text: &str) -> Result<Qrels> {
    let mut qrels: Qrels = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (query, doc, grade) = match fields.as_slice() {
            [] => continue,
            ["query-id", "corpus-id", "score"] if line_no == 1 => continue,
            [q, _iteration, d, g] => (q, d, g),
            [q, d, g] => (q, d, g),
            _ => {
                return Err(Error::judgments(
                    path,
                    line_no,
                    "expected `query-id 0 doc-id grade` (TREC) or `query-id<TAB>doc-id<TAB>grade` (BEIR)",
                ))
            }
        };
        let grade: i32 = grade.parse().map_err(|_| {
            Error::judgments(
                path,
                line_no,
                format!("grade must be an integer, found '{grade}'"),
            )
        })?;
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), grade);
    }
    Ok(qrels)
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::judgments(path, line, "not valid UTF-8")
    })
}

/// The judged query set bundled with the bundled corpus.
pub mod bundled {
    pub const DEV_QUERIES: &str = include_str!("../../corpus/eval/dev.tsv");
    pub const DEV_QRELS: &str = include_str!("../../corpus/eval/dev.qrels");
    pub const HELDOUT_QUERIES: &str = include_str!("../../corpus/eval/heldout.tsv");
    pub const HELDOUT_QRELS: &str = include_str!("../../corpus/eval/heldout.qrels");
}

/// Per-query metrics of one configuration, with the mean over judged queries.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub per_query: BTreeMap<String, Metrics>,
    pub mean: Metrics,
    /// Queries without a relevant document: not in the averages.
    pub unjudged: Vec<String>,
}

impl Evaluation {
    /// Evaluates rankings keyed by query id.
    pub fn of(runs: &BTreeMap<String, Vec<(String, f64)>>, qrels: &Qrels) -> Evaluation {
        let empty = HashMap::new();
        let mut per_query = BTreeMap::new();
        let mut unjudged = Vec::new();
        for (query, run) in runs {
            match evaluate(run, qrels.get(query).unwrap_or(&empty)) {
                Some(m) => {
                    per_query.insert(query.clone(), m);
                }
                None => unjudged.push(query.clone()),
            }
        }
        let all: Vec<Metrics> = per_query.values().copied().collect();
        Evaluation {
            mean: Metrics::mean(&all),
            per_query,
            unjudged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_numbered_ids_only() {
        assert_eq!(query_kind("de-para-46"), Some("de-para"));
        assert_eq!(query_kind("en-3"), Some("en"));
        for id in ["q0069", "TQ1", "Q11", "gan-", "-12", "kw-x1"] {
            assert_eq!(query_kind(id), None, "{id}");
        }
    }

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn run(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Worked by hand: ranking a(0) b(2) c(0) d(1), judged b=2, d=1, e=2 (e never retrieved).
    #[test]
    fn metrics_match_hand_computation() {
        let m = evaluate(
            &run(&[("a", 4.0), ("b", 3.0), ("c", 2.0), ("d", 1.0)]),
            &judged(&[("b", 2), ("d", 1), ("e", 2), ("z", 0)]),
        )
        .unwrap();
        let dcg = 2.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 2.0 + 2.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!(close(m.ndcg10, dcg / idcg), "{}", m.ndcg10);
        assert!(close(m.rr10, 0.5));
        assert!(close(m.r1, 0.0) && close(m.r5, 2.0 / 3.0) && close(m.r100, 2.0 / 3.0));
        assert!(close(m.ap, (1.0 / 2.0 + 2.0 / 4.0) / 3.0));
        assert!(close(m.p5, 2.0 / 5.0));
    }

    /// trec_eval breaks score ties by document id, descending: "b" before "a".
    #[test]
    fn ties_are_broken_like_trec_eval() {
        let m = evaluate(&run(&[("a", 1.0), ("b", 1.0)]), &judged(&[("a", 1)])).unwrap();
        assert!(close(m.rr10, 0.5));
    }

    #[test]
    fn queries_without_relevant_documents_are_left_out() {
        let mut runs = BTreeMap::new();
        runs.insert("q1".to_string(), run(&[("a", 1.0)]));
        runs.insert("q2".to_string(), run(&[("a", 1.0)]));
        let qrels = parse_qrels(Path::new("q"), "q1 0 a 1\nq2 0 a 0\n").unwrap();
        let eval = Evaluation::of(&runs, &qrels);
        assert_eq!(eval.unjudged, ["q2"]);
        assert!(close(eval.mean.ndcg10, 1.0));
    }

    #[test]
    fn qrels_formats_and_errors() {
        let beir =
            parse_qrels(Path::new("t.tsv"), "query-id\tcorpus-id\tscore\nq\td\t2\n").unwrap();
        assert_eq!(beir["q"]["d"], 2);
        let err = parse_qrels(Path::new("t.qrels"), "q 0 d 1\nq 0 d x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.qrels:2: grade must be an integer, found 'x'"
        );
    }

    #[test]
    fn randomization_test_separates_real_from_no_difference() {
        let a: Vec<f64> = (0..40).map(|i| 0.5 + (i % 5) as f64 * 0.1).collect();
        let better: Vec<f64> = a.iter().map(|x| x + 0.2).collect();
        assert!(randomization_test(&better, &a, 2000, 1) < 0.01);
        assert_eq!(randomization_test(&a, &a, 2000, 1), 1.0);
        let mixed: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| if i % 2 == 0 { x + 0.1 } else { x - 0.1 })
            .collect();
        assert!(randomization_test(&mixed, &a, 2000, 1) > 0.5);
    }

    #[test]
    fn run_files_follow_trec_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut runs = BTreeMap::new();
        runs.insert("q1".to_string(), run(&[("a", 2.0), ("b", 1.0)]));
        let path = dir.path().join("run.txt");
        write_run(&path, &runs, "antwort-hybrid").unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "q1 Q0 a 1 2.000000 antwort-hybrid\nq1 Q0 b 2 1.000000 antwort-hybrid\n"
        );
    }

    #[test]
    fn bundled_judgments_name_real_documents() {
        let corpus = crate::corpus::Corpus::load(&crate::corpus::CorpusSource::Bundled).unwrap();
        for (queries, qrels) in [
            (bundled::DEV_QUERIES, bundled::DEV_QRELS),
            (bundled::HELDOUT_QUERIES, bundled::HELDOUT_QRELS),
        ] {
            let queries = parse_queries(Path::new("q"), queries).unwrap();
            let qrels = parse_qrels(Path::new("r"), qrels).unwrap();
            for (query, docs) in &qrels {
                assert!(queries.iter().any(|q| &q.id == query), "{query}");
                for doc in docs.keys() {
                    assert!(corpus.position(doc).is_some(), "{doc}");
                }
            }
        }
    }
}

/// One configuration of the pipeline under evaluation.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub options: crate::search::SearchOptions,
}

/// What one configuration scored, with its latency.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    pub name: String,
    pub evaluation: Evaluation,
    /// Mean nDCG@10 per query kind (see [`query_kind`]), e.g. `en`, `de-para`; empty when
    /// the queries have no kinds.
    pub ndcg10_by_kind: BTreeMap<String, f64>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    #[serde(skip)]
    pub runs: BTreeMap<String, Vec<(String, f64)>>,
}

/// Runs every query through every configuration.
pub fn run_configs(
    searcher: &crate::search::Searcher,
    configs: &[Config],
    queries: &[Query],
    qrels: &Qrels,
) -> Result<Vec<ConfigReport>> {
    let mut reports = Vec::with_capacity(configs.len());
    for config in configs {
        let mut runs = BTreeMap::new();
        let mut latencies = Vec::with_capacity(queries.len());
        for query in queries {
            let started = std::time::Instant::now();
            let answers = searcher.search(&query.text, &config.options)?;
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
            let ranking = answers
                .hits
                .iter()
                .map(|h| (searcher.corpus().get(h.doc).id.clone(), h.score as f64))
                .collect();
            runs.insert(query.id.clone(), ranking);
        }
        let evaluation = Evaluation::of(&runs, qrels);
        let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let kinds: Option<Vec<&str>> = evaluation
            .per_query
            .keys()
            .map(|query| query_kind(query))
            .collect();
        for (kind, metrics) in kinds
            .into_iter()
            .flatten()
            .zip(evaluation.per_query.values())
        {
            by_kind
                .entry(kind.to_string())
                .or_default()
                .push(metrics.ndcg10);
        }
        reports.push(ConfigReport {
            name: config.name.clone(),
            ndcg10_by_kind: by_kind
                .into_iter()
                .map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64))
                .collect(),
            latency_p50_ms: percentile(&mut latencies, 0.50),
            latency_p95_ms: percentile(&mut latencies, 0.95),
            evaluation,
            runs,
        });
    }
    Ok(reports)
}

/// The kind of a query, by the naming the bundled judged queries follow: its id up to a final
/// `-<number>` (`de-para-46` is of kind `de-para`). Ids without such a suffix (`q0069`, `TQ1`,
/// as in BEIR sets) have none, and a set with any query without a kind is reported without
/// kinds at all.
pub fn query_kind(id: &str) -> Option<&str> {
    let (kind, number) = id.rsplit_once('-')?;
    let numbered = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    (numbered && !kind.is_empty()).then_some(kind)
}

/// Nearest-rank percentile; `q` in [0, 1].
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Two-sided paired randomization test on per-query scores: the share of random sign flips of
/// the per-query differences whose mean is at least as far from zero as the observed one.
/// `(hits + 1) / (trials + 1)`, so never exactly 0. Deterministic for a given seed.
pub fn randomization_test(a: &[f64], b: &[f64], trials: usize, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    assert_eq!(a.len(), b.len(), "paired samples");
    if a.is_empty() {
        return 1.0;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let observed = diffs.iter().sum::<f64>().abs();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut at_least = 0usize;
    for _ in 0..trials {
        let permuted: f64 = diffs
            .iter()
            .map(|d| if rng.random_bool(0.5) { *d } else { -*d })
            .sum();
        if permuted.abs() >= observed - 1e-12 {
            at_least += 1;
        }
    }
    (at_least + 1) as f64 / (trials + 1) as f64
}

/// Reads a TREC run file (`qid Q0 docid rank score tag`); the rank column is ignored, as
/// trec_eval ignores it: documents are ordered by score.
pub fn parse_run(path: &Path, text: &str) -> Result<BTreeMap<String, Vec<(String, f64)>>> {
    let mut runs: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [query, _q0, doc, _rank, score, _tag] => {
                let score: f64 = score.parse().map_err(|_| {
                    Error::judgments(
                        path,
                        i + 1,
                        format!("score must be a number, found '{score}'"),
                    )
                })?;
                runs.entry(query.to_string())
                    .or_default()
                    .push((doc.to_string(), score));
            }
            _ => {
                return Err(Error::judgments(
                    path,
                    i + 1,
                    "expected `qid Q0 docid rank score tag`",
                ))
            }
        }
    }
    Ok(runs)
}

/// Trials of [`randomization_test`] in reports: p-values resolve to about 1e-4.
pub const RANDOMIZATION_TRIALS: usize = 10_000;

/// Writes rankings as a TREC run file: `qid Q0 docid rank score tag`, best first.
pub fn write_run(
    path: &Path,
    runs: &BTreeMap<String, Vec<(String, f64)>>,
    tag: &str,
) -> Result<()> {
    let mut out = String::new();
    for (query, ranking) in runs {
        for (i, (doc, score)) in ranking.iter().enumerate() {
            out.push_str(&format!("{query} Q0 {doc} {} {score:.6} {tag}\n", i + 1));
        }
    }
    std::fs::write(path, out).context(|| format!("cannot write run file {}", path.display()))
}

/// What a report was measured on, so that its numbers can be traced and reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct EvalManifest {
    pub antwort_version: &'static str,
    pub model_id: String,
    pub model_checksum: String,
    pub index_format: u32,
    pub corpus_checksum: String,
    pub documents: usize,
    pub queries: usize,
    pub judged_queries: usize,
    pub rerank: &'static str,
    pub rerank_depth: usize,
    pub related_weight: f32,
    pub default_config: String,
}

/// Every configuration's figures, with paired tests against the default configuration.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub manifest: EvalManifest,
    pub configs: Vec<ConfigReport>,
    /// p-value of the paired randomization test on nDCG@10 against the default; `None` for the
    /// default itself.
    pub p_ndcg10_vs_default: BTreeMap<String, Option<f64>>,
}

impl EvalReport {
    /// `default` names the configuration the others are tested against.
    pub fn new(manifest: EvalManifest, configs: Vec<ConfigReport>, default: &str) -> EvalReport {
        let per_query = |c: &ConfigReport| -> Vec<f64> {
            c.evaluation.per_query.values().map(|m| m.ndcg10).collect()
        };
        let base = configs.iter().find(|c| c.name == default).map(per_query);
        let p_ndcg10_vs_default = configs
            .iter()
            .map(|c| {
                let p = match &base {
                    Some(base) if c.name != default => Some(randomization_test(
                        &per_query(c),
                        base,
                        RANDOMIZATION_TRIALS,
                        42,
                    )),
                    _ => None,
                };
                (c.name.clone(), p)
            })
            .collect();
        EvalReport {
            manifest,
            configs,
            p_ndcg10_vs_default,
        }
    }

    /// The table of every configuration and metric: aligned text, or Markdown.
    pub fn table(&self, markdown: bool) -> String {
        let kinds: Vec<String> = self
            .configs
            .first()
            .map(|c| c.ndcg10_by_kind.keys().cloned().collect())
            .unwrap_or_default();
        let mut header = vec!["mode".to_string()];
        header.extend(Metrics::NAMES.iter().map(|s| s.to_string()));
        header.extend(kinds.iter().map(|k| format!("nDCG@10 {k}")));
        header.extend(["p vs default".into(), "p50 ms".into(), "p95 ms".into()]);
        let mut rows = vec![header];
        for c in &self.configs {
            let mut row = vec![c.name.clone()];
            row.extend(c.evaluation.mean.values().iter().map(|v| format!("{v:.4}")));
            row.extend(kinds.iter().map(|k| format!("{:.4}", c.ndcg10_by_kind[k])));
            row.push(
                match self.p_ndcg10_vs_default.get(&c.name).copied().flatten() {
                    Some(p) => format!("{p:.4}"),
                    None => "-".into(),
                },
            );
            row.push(format!("{:.2}", c.latency_p50_ms));
            row.push(format!("{:.2}", c.latency_p95_ms));
            rows.push(row);
        }
        render(&rows, markdown)
    }
}

/// Renders rows (the first is the header) as a Markdown table or as aligned columns.
pub fn render(rows: &[Vec<String>], markdown: bool) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let width: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == 0 {
                    format!("{cell:<w$}", w = width[i])
                } else {
                    format!("{cell:>w$}", w = width[i])
                }
            })
            .collect();
        if markdown {
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
            if n == 0 {
                out.push_str(&format!("|{}\n", "---|".repeat(columns)));
            }
        } else {
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}
