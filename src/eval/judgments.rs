//! Judged queries, judgments and run files: reading and writing the formats of trec_eval and
//! BEIR, with errors that name the file and line.

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
