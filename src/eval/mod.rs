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

mod harness;
mod judgments;
mod metrics;
mod stats;
mod suite;

pub use harness::{
    query_kind, render, run_configs, Config, ConfigReport, EvalManifest, EvalReport,
};
pub use judgments::{
    bundled, parse_qrels, parse_queries, parse_run, read_qrels, read_queries, write_run, Qrels,
    Query,
};
pub use metrics::{evaluate, Evaluation, Metrics};
pub use stats::{percentile, randomization_test, RANDOMIZATION_TRIALS};
pub use suite::{Shortfall, Suite, SuiteSet, SHORTFALL_TOLERANCE};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};
    use std::path::Path;

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
