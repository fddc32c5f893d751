//! antwort's metrics against trec_eval's on a fixture: `tests/fixtures/trec/expected.json` was
//! computed by pytrec_eval (trec_eval's own measure code) from the run and qrels beside it. The
//! fixture has score ties, unjudged and zero-graded documents, a relevant document past rank
//! 10, a relevant document never retrieved, and a query with no relevant document.

use std::path::Path;

use antwort::eval::{evaluate, parse_qrels, parse_run};

const RUN: &str = include_str!("fixtures/trec/run.txt");
const QRELS: &str = include_str!("fixtures/trec/qrels.txt");
const EXPECTED: &str = include_str!("fixtures/trec/expected.json");

#[test]
fn metrics_match_trec_eval_to_four_decimals() {
    let runs = parse_run(Path::new("run.txt"), RUN).unwrap();
    let qrels = parse_qrels(Path::new("qrels.txt"), QRELS).unwrap();
    let expected: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
    let mut compared = 0;
    for (query, run) in &runs {
        let want = &expected["per_query"][query];
        let Some(got) = evaluate(run, &qrels[query]) else {
            // No relevant document: left out of averages, as the issue asks; trec_eval's
            // per-query figures for it are all zero.
            assert_eq!(query, "q4");
            assert!(want
                .as_object()
                .unwrap()
                .values()
                .all(|v| v.as_f64() == Some(0.0)));
            continue;
        };
        // Every first relevant rank in the fixture is within 10, so trec_eval's uncut
        // recip_rank equals RR@10.
        for (name, value) in [
            ("nDCG@10", got.ndcg10),
            ("RR", got.rr10),
            ("R@1", got.r1),
            ("R@5", got.r5),
            ("R@10", got.r10),
            ("R@100", got.r100),
            ("AP", got.ap),
            ("P@5", got.p5),
        ] {
            let reference = want[name].as_f64().unwrap();
            assert!(
                (value - reference).abs() < 5e-5,
                "{query} {name}: antwort {value:.6}, trec_eval {reference:.6}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 4 * 8);
}
