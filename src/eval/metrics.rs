//! The metrics, with trec_eval's definitions: a leaf that knows rankings and judgments, not
//! the pipeline.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::Qrels;

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
