//! The harness: drives a searcher through judged queries under several configurations and
//! reports every metric, latency, and paired tests against the default.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    percentile, randomization_test, Evaluation, Metrics, Qrels, Query, RANDOMIZATION_TRIALS,
};
use crate::error::Result;

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
    /// p50 of the query embedding within those queries (0 for a mode that does not embed):
    /// what the whole query's latency is measured against.
    pub embed_p50_ms: f64,
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
        let mut embeddings = Vec::with_capacity(queries.len());
        for query in queries {
            let started = std::time::Instant::now();
            let answers = searcher.search(&query.text, &config.options)?;
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
            embeddings.push(answers.timings.embed.as_secs_f64() * 1e3);
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
            embed_p50_ms: percentile(&mut embeddings, 0.50),
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
