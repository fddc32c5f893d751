//! The corpus stage: question-and-answer pairs, loaded from the bundled article or from a user's
//! own file, validated whole before anything is indexed.
//!
//! Three input formats are accepted, detected from the content:
//! - JSON Lines in antwort's own format: `{"id", "section"?, "question", "answer"}` per line;
//! - BEIR `corpus.jsonl`: `{"_id", "title", "text"}`, title read as the question;
//! - Markdown: `## Question` headings with the answer below, `# Section` headings optional.
//!
//! Every problem is reported with file and line, and a file with any problem yields no corpus at
//! all: indexing half a file would silently hide answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};

mod units;

pub use units::{units_of, units_of_pair, Unit, UnitKind};

/// The bundled corpus: generative-AI interview questions, from `corpus/genai-interview.jsonl`.
/// Compiled in so that `antwort` answers from a bare binary, with no path to get wrong.
pub const BUNDLED_JSONL: &str = include_str!("../../corpus/genai-interview.jsonl");

/// What `CorpusSource::Bundled` is called in messages and manifests.
pub const BUNDLED_NAME: &str = "bundled:genai-interview";

/// One question with its answer: the unit antwort retrieves and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    pub id: String,
    #[serde(default)]
    pub section: String,
    pub question: String,
    pub answer: String,
}

/// Where a corpus comes from; kept in the index manifest so that staleness can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum CorpusSource {
    Bundled,
    File(PathBuf),
}

impl std::fmt::Display for CorpusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorpusSource::Bundled => f.write_str(BUNDLED_NAME),
            CorpusSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A validated corpus: non-empty, unique ids, every answer non-empty.
#[derive(Debug, Clone)]
pub struct Corpus {
    pairs: Vec<QaPair>,
}

impl Corpus {
    /// Loads and validates the corpus a source names.
    pub fn load(source: &CorpusSource) -> Result<Corpus> {
        match source {
            CorpusSource::Bundled => parse(Path::new(BUNDLED_NAME), BUNDLED_JSONL.as_bytes()),
            CorpusSource::File(path) => {
                let bytes = std::fs::read(path)
                    .context(|| format!("cannot read corpus file {}", path.display()))?;
                parse(path, &bytes)
            }
        }
    }

    /// Builds a corpus from pairs already in memory, with the same validation as a file.
    pub fn from_pairs(pairs: Vec<QaPair>) -> Result<Corpus> {
        let origin = Path::new("<memory>");
        let numbered = pairs.into_iter().enumerate().map(|(i, p)| (i + 1, p));
        validate(origin, numbered.collect())
    }

    pub fn pairs(&self) -> &[QaPair] {
        &self.pairs
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn get(&self, ordinal: usize) -> &QaPair {
        &self.pairs[ordinal]
    }

    /// Position of the pair with this id, if any.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.pairs.iter().position(|p| p.id == id)
    }

    /// A checksum of the records themselves, so that reformatting a file does not invalidate
    /// an index but any change of content does.
    pub fn checksum(&self) -> String {
        let mut hasher = Sha256::new();
        for pair in &self.pairs {
            for field in [&pair.id, &pair.section, &pair.question, &pair.answer] {
                hasher.update((field.len() as u64).to_le_bytes());
                hasher.update(field.as_bytes());
            }
        }
        hex(&hasher.finalize())
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Collapses runs of white space inside each line, trims lines and drops empty ones, so that
/// answers compare and display the same whatever the source's layout was.
pub fn normalize_text(text: &str) -> String {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits raw bytes into lines, rejecting the first line that is not UTF-8.
fn utf8_lines<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<&'a str>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            std::str::from_utf8(line).map_err(|e| {
                Error::corpus(
                    path,
                    i + 1,
                    format!(
                        "not valid UTF-8 (byte {} of the line); save the file as UTF-8",
                        e.valid_up_to() + 1
                    ),
                )
            })
        })
        .collect()
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Corpus> {
    let lines = utf8_lines(path, bytes)?;
    let first = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty());
    let numbered = match first {
        None => return Err(Error::corpus(path, 0, "the corpus is empty")),
        Some(line) if line.starts_with('{') => parse_json_lines(path, &lines)?,
        Some(_) => parse_markdown(path, &lines)?,
    };
    validate(path, numbered)
}

/// antwort's own record and BEIR's, read by one struct: BEIR's `_id`/`title`/`text` are
/// aliases of `id`/`question`/`answer`.
#[derive(Deserialize)]
struct JsonRecord {
    #[serde(alias = "_id")]
    id: serde_json::Value,
    #[serde(default)]
    section: String,
    #[serde(alias = "title", default)]
    question: Option<String>,
    #[serde(alias = "text")]
    answer: String,
}

fn parse_json_lines(path: &Path, lines: &[&str]) -> Result<Vec<(usize, QaPair)>> {
    let mut pairs = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: JsonRecord = serde_json::from_str(line).map_err(|e| {
            let what = if e.is_data() {
                "record does not fit the corpus format"
            } else {
                "malformed JSON"
            };
            Error::corpus(
                path,
                line_no,
                format!("{what}: {e} (expected {{\"id\", \"question\", \"answer\"}} or BEIR {{\"_id\", \"title\", \"text\"}})"),
            )
        })?;
        let id = match record.id {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(Error::corpus(
                    path,
                    line_no,
                    format!("id must be a string or a number, found {other}"),
                ))
            }
        };
        pairs.push((
            line_no,
            QaPair {
                id,
                section: record.section,
                question: record.question.unwrap_or_default(),
                answer: record.answer,
            },
        ));
    }
    Ok(pairs)
}

/// Markdown: `# Section`, `## Question`, answer text below until the next heading.
fn parse_markdown(path: &Path, lines: &[&str]) -> Result<Vec<(usize, QaPair)>> {
    let mut pairs = Vec::new();
    let mut section = String::new();
    // (line of the heading, question, answer lines)
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    let mut in_fence = false;
    let mut close = |open: &mut Option<(usize, String, Vec<&str>)>, section: &str| {
        if let Some((line_no, question, body)) = open.take() {
            pairs.push((
                line_no,
                QaPair {
                    id: slug(&question),
                    section: section.to_string(),
                    question,
                    answer: body.join("\n"),
                },
            ));
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let heading = if in_fence {
            None
        } else {
            markdown_heading(line)
        };
        match heading {
            Some((1, title)) => {
                close(&mut open, &section);
                section = title.to_string();
            }
            Some((2, title)) => {
                close(&mut open, &section);
                open = Some((i + 1, title.to_string(), Vec::new()));
            }
            _ => {
                if let Some((_, _, body)) = open.as_mut() {
                    body.push(line);
                }
            }
        }
    }
    close(&mut open, &section);
    if pairs.is_empty() {
        return Err(Error::corpus(
            path,
            0,
            "no question found: a Markdown corpus needs `## Question` headings with the answer below, \
             and a JSON Lines corpus needs one {\"id\", \"question\", \"answer\"} object per line",
        ));
    }
    Ok(pairs)
}

/// `(level, title)` of an ATX heading of level 1 or 2.
fn markdown_heading(line: &str) -> Option<(usize, &str)> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    let rest = &line[hashes..];
    if (1..=2).contains(&hashes) && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        Some((hashes, rest.trim().trim_end_matches('#').trim()))
    } else {
        None
    }
}

/// A readable, URL-safe id from a question: ASCII-folded German, lower case, hyphens.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => "-",
        };
        out.push_str(folded);
    }
    let words: Vec<&str> = out.split('-').filter(|w| !w.is_empty()).collect();
    let mut id = String::new();
    for word in words {
        if !id.is_empty() && id.len() + word.len() >= 48 {
            break;
        }
        if !id.is_empty() {
            id.push('-');
        }
        id.push_str(word);
    }
    id
}

fn validate(path: &Path, numbered: Vec<(usize, QaPair)>) -> Result<Corpus> {
    let mut first_line_of: HashMap<String, usize> = HashMap::with_capacity(numbered.len());
    let mut pairs = Vec::with_capacity(numbered.len());
    for (line, mut pair) in numbered {
        pair.id = pair.id.trim().to_string();
        pair.section = normalize_text(&pair.section);
        pair.question = normalize_text(&pair.question);
        pair.answer = normalize_text(&pair.answer);
        if pair.id.is_empty() {
            return Err(Error::corpus(path, line, "empty id"));
        }
        if pair.answer.is_empty() {
            return Err(Error::corpus(
                path,
                line,
                format!("empty answer for '{}'", pair.id),
            ));
        }
        if let Some(first) = first_line_of.insert(pair.id.clone(), line) {
            return Err(Error::corpus(
                path,
                line,
                format!("duplicate id '{}' (first used on line {first})", pair.id),
            ));
        }
        pairs.push(pair);
    }
    if pairs.is_empty() {
        return Err(Error::corpus(path, 0, "the corpus has no records"));
    }
    Ok(Corpus { pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Corpus> {
        parse(Path::new("test.jsonl"), text.as_bytes())
    }

    #[test]
    fn bundled_corpus_has_36_pairs_in_four_sections() {
        let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
        assert_eq!(corpus.len(), 36);
        let mut sections: Vec<&str> = corpus.pairs().iter().map(|p| p.section.as_str()).collect();
        sections.dedup();
        assert_eq!(
            sections,
            ["basic", "intermediate", "advanced", "ai-engineer"]
        );
    }

    #[test]
    fn beir_records_map_title_to_question() {
        let corpus = parse_str(r#"{"_id": 7, "title": "T", "text": "Body"}"#).unwrap();
        let pair = corpus.get(0);
        assert_eq!(
            (
                pair.id.as_str(),
                pair.question.as_str(),
                pair.answer.as_str()
            ),
            ("7", "T", "Body")
        );
    }

    #[test]
    fn errors_name_the_line() {
        let good = r#"{"id": "a", "question": "Q?", "answer": "A."}"#;
        let cases = [
            (format!("{good}\n{{not json"), 2, "malformed JSON"),
            (
                format!("{good}\n{{\"id\": \"b\", \"question\": \"Q\"}}"),
                2,
                "missing field `answer`",
            ),
            (
                format!("{good}\n\n{good}"),
                3,
                "duplicate id 'a' (first used on line 1)",
            ),
            (
                format!("{good}\n{{\"id\": \"b\", \"question\": \"Q\", \"answer\": \"  \"}}"),
                2,
                "empty answer",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse_str(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("test.jsonl:{line}: ")), "{err}");
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn non_utf8_is_rejected_with_its_line() {
        let bytes = b"{\"id\": \"a\", \"question\": \"Q\", \"answer\": \"A\"}\n{\"id\": \"b\", \"question\": \"Gr\xfc\xdfe\", \"answer\": \"A\"}\n";
        let err = parse(Path::new("x.jsonl"), bytes).unwrap_err().to_string();
        assert!(err.starts_with("x.jsonl:2: not valid UTF-8"), "{err}");
    }

    #[test]
    fn markdown_headings_become_questions_and_sections() {
        let md = "Intro text\n# Grundlagen\n## Was ist LoRA?\nLow-Rank   Adaptation.\n\n- Punkt eins\n## Was ist RAG?\nAbruf plus Generierung.\n";
        let corpus = parse(Path::new("faq.md"), md.as_bytes()).unwrap();
        assert_eq!(corpus.len(), 2);
        let lora = corpus.get(0);
        assert_eq!(lora.id, "was-ist-lora");
        assert_eq!(lora.section, "Grundlagen");
        assert_eq!(lora.answer, "Low-Rank Adaptation.\n- Punkt eins");
    }

    #[test]
    fn markdown_question_without_answer_is_an_error() {
        let err = parse(Path::new("faq.md"), b"## Leer?\n\n## Voll?\nJa.\n").unwrap_err();
        assert_eq!(err.to_string(), "faq.md:1: empty answer for 'leer'");
    }

    #[test]
    fn checksum_ignores_layout_but_not_content() {
        let a = parse_str(r#"{"id": "a", "question": "Q", "answer": "A  b"}"#).unwrap();
        let b = parse_str(r#"{"answer": "A b", "question": " Q ", "id": "a"}"#).unwrap();
        let c = parse_str(r#"{"id": "a", "question": "Q", "answer": "A c"}"#).unwrap();
        assert_eq!(a.checksum(), b.checksum());
        assert_ne!(a.checksum(), c.checksum());
    }
}
