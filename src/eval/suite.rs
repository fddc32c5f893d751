//! A suite: the default pipeline and each of its own stages on several judged sets in one
//! table, their macro average, and every set where the default falls below one of its own
//! stages. A default is only as good as its worst corpus: a setting that wins on the set it
//! was tuned on and loses on another is what this table exists to show.

use serde::Serialize;

use super::{render, ConfigReport};

/// How far below one of its own stages the default may fall on a set (nDCG@10) before the
/// suite reports it: less is measurement noise on sets of a few hundred queries.
pub const SHORTFALL_TOLERANCE: f64 = 0.005;

/// One judged set of the suite and what each configuration scored on it.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteSet {
    pub name: String,
    pub documents: usize,
    pub judged_queries: usize,
    /// Every stage, the default last.
    pub configs: Vec<ConfigReport>,
}

impl SuiteSet {
    fn default_config(&self) -> Option<&ConfigReport> {
        self.configs.last()
    }

    /// The query embedding's p50 on this set, from the configurations that embed.
    pub fn embed_p50_ms(&self) -> f64 {
        (self.configs.iter())
            .map(|c| c.embed_p50_ms)
            .fold(0.0, f64::max)
    }
}

/// A stage the default fell below on a set, by more than [`SHORTFALL_TOLERANCE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shortfall {
    pub set: String,
    pub stage: String,
    pub default_ndcg10: f64,
    pub stage_ndcg10: f64,
}

/// Every set's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    pub sets: Vec<SuiteSet>,
    /// Mean over the sets of each configuration's nDCG@10, RR@10 and R@100, by name.
    pub macro_average: Vec<(String, [f64; 3])>,
    pub shortfalls: Vec<Shortfall>,
}

impl Suite {
    /// The suite of `sets`, each with the same configurations in the same order, the default
    /// last.
    pub fn new(sets: Vec<SuiteSet>) -> Suite {
        let names: Vec<String> = sets
            .first()
            .map(|s| s.configs.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let macro_average = names
            .iter()
            .map(|name| {
                let mut sums = [0.0; 3];
                let mut count = 0usize;
                for config in sets
                    .iter()
                    .flat_map(|s| &s.configs)
                    .filter(|c| &c.name == name)
                {
                    let mean = &config.evaluation.mean;
                    for (sum, value) in sums.iter_mut().zip([mean.ndcg10, mean.rr10, mean.r100]) {
                        *sum += value;
                    }
                    count += 1;
                }
                (name.clone(), sums.map(|s| s / count.max(1) as f64))
            })
            .collect();
        let shortfalls = sets
            .iter()
            .flat_map(|set| {
                let default = set
                    .default_config()
                    .map_or(0.0, |d| d.evaluation.mean.ndcg10);
                let stages = &set.configs[..set.configs.len().saturating_sub(1)];
                stages
                    .iter()
                    .filter(move |stage| {
                        stage.evaluation.mean.ndcg10 > default + SHORTFALL_TOLERANCE
                    })
                    .map(move |stage| Shortfall {
                        set: set.name.clone(),
                        stage: stage.name.clone(),
                        default_ndcg10: default,
                        stage_ndcg10: stage.evaluation.mean.ndcg10,
                    })
            })
            .collect();
        Suite {
            sets,
            macro_average,
            shortfalls,
        }
    }

    /// One row per set and configuration, then the macro average, then the verdict per set.
    pub fn table(&self, markdown: bool) -> String {
        let mut rows = vec![[
            "set", "stage", "nDCG@10", "RR@10", "R@100", "p50 ms", "x embed",
        ]
        .map(String::from)
        .to_vec()];
        for set in &self.sets {
            let embed = set.embed_p50_ms();
            for config in &set.configs {
                let mean = &config.evaluation.mean;
                rows.push(vec![
                    format!(
                        "{} ({} docs, {} q)",
                        set.name, set.documents, set.judged_queries
                    ),
                    config.name.clone(),
                    format!("{:.4}", mean.ndcg10),
                    format!("{:.4}", mean.rr10),
                    format!("{:.4}", mean.r100),
                    format!("{:.2}", config.latency_p50_ms),
                    if embed > 0.0 {
                        format!("{:.2}", config.latency_p50_ms / embed)
                    } else {
                        "-".into()
                    },
                ]);
            }
        }
        for (name, [ndcg, rr, r100]) in &self.macro_average {
            rows.push(vec![
                format!("macro average ({} sets)", self.sets.len()),
                name.clone(),
                format!("{ndcg:.4}"),
                format!("{rr:.4}"),
                format!("{r100:.4}"),
                "-".into(),
                "-".into(),
            ]);
        }
        let mut out = render(&rows, markdown);
        out.push('\n');
        for set in &self.sets {
            let below: Vec<String> = (self.shortfalls.iter())
                .filter(|s| s.set == set.name)
                .map(|s| {
                    format!(
                        "{} {:.4} (default {:.4}, {:+.4})",
                        s.stage,
                        s.stage_ndcg10,
                        s.default_ndcg10,
                        s.default_ndcg10 - s.stage_ndcg10
                    )
                })
                .collect();
            let verdict = if below.is_empty() {
                format!("default not below any of its stages (tolerance {SHORTFALL_TOLERANCE})")
            } else {
                format!("DEFAULT BELOW {}", below.join("; "))
            };
            out.push_str(&format!("{}: {verdict}\n", set.name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Evaluation, Metrics};
    use std::collections::BTreeMap;

    fn config(name: &str, ndcg10: f64) -> ConfigReport {
        let mean = Metrics {
            ndcg10,
            rr10: ndcg10,
            r1: 0.0,
            r5: 0.0,
            r10: 0.0,
            r100: 1.0,
            ap: 0.0,
            p5: 0.0,
        };
        ConfigReport {
            name: name.into(),
            evaluation: Evaluation {
                mean,
                per_query: BTreeMap::new(),
                unjudged: Vec::new(),
            },
            ndcg10_by_kind: BTreeMap::new(),
            latency_p50_ms: 2.0,
            latency_p95_ms: 3.0,
            embed_p50_ms: 1.0,
            runs: BTreeMap::new(),
        }
    }

    fn set(name: &str, scores: [f64; 3]) -> SuiteSet {
        SuiteSet {
            name: name.into(),
            documents: 10,
            judged_queries: 5,
            configs: vec![
                config("bm25", scores[0]),
                config("dense", scores[1]),
                config("default", scores[2]),
            ],
        }
    }

    #[test]
    fn the_default_below_a_stage_beyond_the_tolerance_is_reported() {
        let suite = Suite::new(vec![
            set("held", [0.5, 0.6, 0.6 - SHORTFALL_TOLERANCE / 2.0]),
            set("fell", [0.7, 0.5, 0.6]),
        ]);
        assert_eq!(
            suite.shortfalls,
            [Shortfall {
                set: "fell".into(),
                stage: "bm25".into(),
                default_ndcg10: 0.6,
                stage_ndcg10: 0.7,
            }]
        );
        let (name, [ndcg, _, r100]) = &suite.macro_average[0];
        assert_eq!(name, "bm25");
        assert!((ndcg - 0.6).abs() < 1e-12 && (r100 - 1.0).abs() < 1e-12);
        let table = suite.table(false);
        assert!(table.contains("held: default not below"), "{table}");
        assert!(table.contains("fell: DEFAULT BELOW bm25 0.7000"), "{table}");
        assert!(table.contains("macro average (2 sets)"), "{table}");
    }
}
