//! The corpus stage: question-and-answer pairs, loaded from the bundled article or from a user's
//! own file, validated whole before anything is indexed.
//!
//! Three input formats are accepted, detected from the content:
//! - JSON Lines in antwort's own format: `{"id", "section"?, "question", "answer", "metadata"?}`
//!   per line;
//! - BEIR `corpus.jsonl`: `{"_id", "title", "text", "metadata"?}`, title read as the question;
//! - Markdown: `## Question` headings with the answer below, `# Section` headings optional, and
//!   an optional front matter (`---` … `---`) whose fields are the metadata of every pair of the
//!   file.
//!
//! Metadata are named lists of strings (see [`Metadata`]); `--filter` narrows a search by them.
//!
//! Every problem is reported with file and line, and a file with any problem yields no corpus at
//! all: indexing half a file would silently hide answers.

use std::collections::{BTreeMap, HashMap};
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

/// A pair's metadata: field name to its values, e.g. `tags: [gan, training]`, `source: [book]`.
///
/// In a corpus file a field's value is a string, a number or a boolean (kept as written, e.g.
/// `2024`, `true`), or a list of those; `null` and `[]` mean the pair has no value for it.
/// Objects and nested lists are rejected. The section is not metadata: it stays its own field
/// (`--filter section=…` matches it all the same).
pub type Metadata = BTreeMap<String, Vec<String>>;

/// The one field name metadata may not use: the section is a field of its own.
pub const SECTION_FIELD: &str = "section";

/// One question with its answer: the unit antwort retrieves and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    pub id: String,
    #[serde(default)]
    pub section: String,
    pub question: String,
    pub answer: String,
    /// Omitted when empty, so corpus files without metadata read and write as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: Metadata,
}

impl QaPair {
    /// A pair with no section and no metadata: for corpora built in memory
    /// ([`Corpus::from_pairs`]).
    pub fn new(
        id: impl Into<String>,
        question: impl Into<String>,
        answer: impl Into<String>,
    ) -> Self {
        QaPair {
            id: id.into(),
            section: String::new(),
            question: question.into(),
            answer: answer.into(),
            metadata: Metadata::new(),
        }
    }
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
    /// The file's stamp, taken before it was read, for a corpus loaded from a file.
    stamp: Option<FileStamp>,
}

/// What the file system says of a corpus file: enough to know, without reading it again, that
/// it has not changed since (the check `git status` makes of its index).
///
/// The inode, size and both times: an edit moves the change time, which tools that restore a
/// modification time (`touch -d`, `rsync -t`) cannot set back, and a file replaced by a rename
/// has another inode. A stamp taken within [`RACY_SECONDS`] of the file's last change proves
/// nothing (the file may change again within the file system's time granularity without its
/// times moving), so such a stamp never vouches for the file: it is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    len: u64,
    inode: u64,
    modified_ns: i128,
    changed_ns: i128,
    taken_ns: i128,
}

/// See [`FileStamp`].
const RACY_SECONDS: i128 = 2;

impl FileStamp {
    /// The stamp of `path` now, if it can be read.
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        let taken = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(FileStamp {
            len: meta.len(),
            inode: meta.ino(),
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
            taken_ns: taken.as_nanos() as i128,
        })
    }

    /// Whether `path` is, by its stamp, still the file this stamp was taken of.
    pub fn still_describes(&self, path: &Path) -> bool {
        let settled =
            self.changed_ns.max(self.modified_ns) + RACY_SECONDS * 1_000_000_000 < self.taken_ns;
        settled
            && FileStamp::of(path).is_some_and(|now| {
                (now.len, now.inode, now.modified_ns, now.changed_ns)
                    == (self.len, self.inode, self.modified_ns, self.changed_ns)
            })
    }
}

impl Corpus {
    /// Loads and validates the corpus a source names.
    pub fn load(source: &CorpusSource) -> Result<Corpus> {
        match source {
            CorpusSource::Bundled => parse(Path::new(BUNDLED_NAME), BUNDLED_JSONL.as_bytes()),
            CorpusSource::File(path) => {
                let stamp = FileStamp::of(path);
                let bytes = std::fs::read(path)
                    .context(|| format!("cannot read corpus file {}", path.display()))?;
                Ok(Corpus {
                    stamp,
                    ..parse(path, &bytes)?
                })
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

    /// The stamp of the file the corpus was read from, taken before reading it.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.stamp
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
            // Only pairs with metadata hash it, so that the checksums of corpora without any
            // (and the indexes built from them) stay what they were.
            for (name, values) in &pair.metadata {
                hasher.update([0xff]);
                for field in std::iter::once(name).chain(values) {
                    hasher.update((field.len() as u64).to_le_bytes());
                    hasher.update(field.as_bytes());
                }
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
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// The metadata of a JSON record, checked: an object whose values are strings, numbers,
/// booleans or lists of those.
fn json_metadata(value: Option<serde_json::Value>) -> std::result::Result<Metadata, String> {
    use serde_json::Value;
    let fields = match value {
        None | Some(Value::Null) => return Ok(Metadata::new()),
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(format!(
                "metadata must be an object of named values, e.g. {{\"tags\": [\"gan\"], \"source\": \"book\"}}, found {other}"
            ))
        }
    };
    let mut metadata = Metadata::new();
    for (name, value) in fields {
        let scalar = |v: &Value| {
            match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!(
                "metadata field {name:?} must be a string, a number, a boolean or a list of those, found {other}"
            )),
        }
        };
        let values = match &value {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<std::result::Result<_, _>>()?,
            single => vec![scalar(single)?],
        };
        add_metadata(&mut metadata, &name, values)?;
    }
    Ok(metadata)
}

/// Adds one field's values, normalized: name and values trimmed, white space collapsed, empty
/// values dropped, a field without values left out.
fn add_metadata(
    metadata: &mut Metadata,
    name: &str,
    values: Vec<String>,
) -> std::result::Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a metadata field has an empty name".into());
    }
    if name.eq_ignore_ascii_case(SECTION_FIELD) {
        return Err(
            "\"section\" is not metadata but a field of its own: put it beside \"question\" (JSON) \
             or under a `# Section` heading (Markdown)"
                .into(),
        );
    }
    if metadata
        .keys()
        .any(|k| k.to_lowercase() == name.to_lowercase())
    {
        return Err(format!(
            "metadata field {name:?} appears twice (names are compared ignoring case)"
        ));
    }
    let values: Vec<String> = values
        .iter()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|v| !v.is_empty())
        .collect();
    if !values.is_empty() {
        metadata.insert(name.to_string(), values);
    }
    Ok(())
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
        let metadata =
            json_metadata(record.metadata).map_err(|e| Error::corpus(path, line_no, e))?;
        pairs.push((
            line_no,
            QaPair {
                id,
                section: record.section,
                question: record.question.unwrap_or_default(),
                answer: record.answer,
                metadata,
            },
        ));
    }
    Ok(pairs)
}

/// Markdown: an optional front matter, `# Section`, `## Question`, answer text below until the
/// next heading.
fn parse_markdown(path: &Path, lines: &[&str]) -> Result<Vec<(usize, QaPair)>> {
    let (front, body_start) = front_matter(path, lines)?;
    let mut pairs = Vec::new();
    let mut section = front.section.unwrap_or_default();
    let metadata = front.metadata;
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
                    metadata: metadata.clone(),
                },
            ));
        }
    };
    for (i, line) in lines.iter().enumerate().skip(body_start) {
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

/// What a Markdown file's front matter says.
#[derive(Debug, Default)]
struct FrontMatter {
    /// `section: …`: the section of the pairs above the first `# Section` heading.
    section: Option<String>,
    metadata: Metadata,
}

/// The front matter at the top of a Markdown file, if it has one, and the index of the first
/// line after it.
///
/// The front matter is the YAML-like block between a first line `---` and the next `---`
/// line: `key: value`, `key: [a, b]`, or `key:` followed by `- item` lines; values may be
/// quoted; blank lines and `#` comments are skipped. Anything else in it is an error, since a
/// front matter that is misread would silently mislabel every pair of the file.
fn front_matter(path: &Path, lines: &[&str]) -> Result<(FrontMatter, usize)> {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return Ok((FrontMatter::default(), 0));
    }
    let Some(end) = lines
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, l)| matches!(l.trim_end(), "---" | "..."))
        .map(|(i, _)| i)
    else {
        return Err(Error::corpus(
            path,
            1,
            "the front matter that starts here is not closed by a `---` line",
        ));
    };
    let unquote = |v: &str| {
        let v = v.trim();
        let quoted = v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')));
        if quoted {
            v[1..v.len() - 1].to_string()
        } else {
            v.to_string()
        }
    };
    // (line number, name, values)
    let mut fields: Vec<(usize, String, Vec<String>)> = Vec::new();
    // Whether the last field was a bare `key:` that `- item` lines may continue.
    let mut listing = false;
    for (i, line) in lines.iter().enumerate().take(end).skip(1) {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or((trimmed == "-").then_some(""))
        {
            match fields.last_mut() {
                Some((_, _, values)) if listing => values.push(unquote(item)),
                _ => {
                    return Err(Error::corpus(
                        path,
                        line_no,
                        "a `- item` line in the front matter belongs under a `key:` line",
                    ))
                }
            }
            continue;
        }
        let Some((name, value)) = trimmed.split_once(':') else {
            return Err(Error::corpus(
                path,
                line_no,
                format!("front matter line {trimmed:?} is not `key: value` or `key: [a, b]`"),
            ));
        };
        let value = value.trim();
        listing = value.is_empty();
        let values = if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'))
        {
            inner.split(',').map(unquote).collect()
        } else if value.is_empty() {
            Vec::new()
        } else {
            vec![unquote(value)]
        };
        fields.push((line_no, name.trim().to_string(), values));
    }
    let mut front = FrontMatter::default();
    for (line_no, name, values) in fields {
        if name.eq_ignore_ascii_case(SECTION_FIELD) {
            match values.as_slice() {
                [one] => front.section = Some(one.clone()),
                _ => {
                    return Err(Error::corpus(
                        path,
                        line_no,
                        "`section` in the front matter takes one value: the section of the \
                         pairs above the first `# Section` heading",
                    ))
                }
            }
            continue;
        }
        add_metadata(&mut front.metadata, &name, values)
            .map_err(|e| Error::corpus(path, line_no, e))?;
    }
    Ok((front, end + 1))
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
        // Pairs built in memory or read back from an index get the checks a file gets.
        let metadata = std::mem::take(&mut pair.metadata);
        for (name, values) in metadata {
            add_metadata(&mut pair.metadata, &name, values)
                .map_err(|e| Error::corpus(path, line, e))?;
        }
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
    Ok(Corpus { pairs, stamp: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_vouches_only_for_a_settled_unchanged_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faq.jsonl");
        std::fs::write(&path, "one").unwrap();
        let fresh = FileStamp::of(&path).unwrap();
        // Just written: the file may still change within its times' granularity.
        assert!(!fresh.still_describes(&path));
        // As if the stamp had been taken a while after the last change.
        let settled = FileStamp {
            taken_ns: fresh.taken_ns + 3 * RACY_SECONDS * 1_000_000_000,
            ..fresh
        };
        assert!(settled.still_describes(&path));
        // The same length written again, its modification time put back: the change time
        // still tells.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "two").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        assert!(!settled.still_describes(&path));
        std::fs::remove_file(&path).unwrap();
        assert!(!settled.still_describes(&path));
    }

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

    fn meta(pairs: &[(&str, &[&str])]) -> Metadata {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn json_metadata_takes_strings_lists_numbers_and_booleans() {
        let corpus = parse_str(
            r#"{"id": "a", "question": "Q", "answer": "A", "metadata": {"tags": ["gan", " deep   learning ", ""], "source": "book", "year": 2024, "draft": false, "none": null, "empty": []}}
{"id": "b", "question": "Q", "answer": "A"}"#,
        )
        .unwrap();
        assert_eq!(
            corpus.get(0).metadata,
            meta(&[
                ("draft", &["false"]),
                ("source", &["book"]),
                ("tags", &["gan", "deep learning"]),
                ("year", &["2024"]),
            ])
        );
        assert!(corpus.get(1).metadata.is_empty());
    }

    #[test]
    fn beir_records_carry_metadata() {
        let corpus = parse_str(
            r#"{"_id": "d1", "title": "T", "text": "Body", "metadata": {"url": "https://x", "tags": ["a", "b"]}}"#,
        )
        .unwrap();
        assert_eq!(
            corpus.get(0).metadata,
            meta(&[("tags", &["a", "b"]), ("url", &["https://x"])])
        );
    }

    #[test]
    fn bad_json_metadata_is_an_error_with_its_line() {
        let good = r#"{"id": "a", "question": "Q?", "answer": "A."}"#;
        for (record, needle) in [
            (
                r#"{"id": "b", "answer": "A", "metadata": ["x"]}"#,
                "metadata must be an object",
            ),
            (
                r#"{"id": "b", "answer": "A", "metadata": {"tags": {"x": 1}}}"#,
                "metadata field \"tags\" must be a string",
            ),
            (
                r#"{"id": "b", "answer": "A", "metadata": {"tags": [["x"]]}}"#,
                "must be a string, a number",
            ),
            (
                r#"{"id": "b", "answer": "A", "metadata": {"section": "x"}}"#,
                "\"section\" is not metadata",
            ),
            (
                r#"{"id": "b", "answer": "A", "metadata": {"Tags": "x", "tags": "y"}}"#,
                "appears twice",
            ),
            (
                r#"{"id": "b", "answer": "A", "metadata": {" ": "x"}}"#,
                "empty name",
            ),
        ] {
            let err = parse_str(&format!("{good}\n{record}"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("test.jsonl:2: "), "{err}");
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn metadata_round_trips_through_the_indexed_form_and_is_omitted_when_empty() {
        let corpus = parse_str(
            r#"{"id": "a", "question": "Q", "answer": "A", "metadata": {"tags": "gan"}}
{"id": "b", "question": "Q", "answer": "A"}"#,
        )
        .unwrap();
        let lines: Vec<String> = corpus
            .pairs()
            .iter()
            .map(|p| serde_json::to_string(p).unwrap())
            .collect();
        assert!(
            lines[0].contains(r#""metadata":{"tags":["gan"]}"#),
            "{}",
            lines[0]
        );
        assert!(!lines[1].contains("metadata"), "{}", lines[1]);
        let back: Vec<QaPair> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, corpus.pairs());
    }

    #[test]
    fn markdown_front_matter_gives_every_pair_its_metadata() {
        let md = "---\n# a comment\nsource: \"Handbuch\"\ntags: [gan, 'deep learning']\nauthors:\n  - Ada\n  - Bob\nsection: Start\n---\n## Vorher?\nJa.\n# Grundlagen\n## Was ist LoRA?\nLow-Rank.\n";
        let corpus = parse(Path::new("faq.md"), md.as_bytes()).unwrap();
        assert_eq!(
            corpus.len(),
            2,
            "the front matter's `#` lines are no sections"
        );
        let expected = meta(&[
            ("authors", &["Ada", "Bob"]),
            ("source", &["Handbuch"]),
            ("tags", &["gan", "deep learning"]),
        ]);
        for pair in corpus.pairs() {
            assert_eq!(pair.metadata, expected, "{}", pair.id);
        }
        assert_eq!(corpus.get(0).section, "Start");
        assert_eq!(corpus.get(1).section, "Grundlagen");
    }

    #[test]
    fn markdown_without_front_matter_has_no_metadata_and_a_rule_is_no_front_matter() {
        let md = "## Frage?\nAntwort.\n\n---\n\n## Noch eine?\nJa.\n";
        let corpus = parse(Path::new("faq.md"), md.as_bytes()).unwrap();
        assert_eq!(corpus.len(), 2);
        assert!(corpus.pairs().iter().all(|p| p.metadata.is_empty()));
    }

    #[test]
    fn bad_front_matter_is_an_error_with_its_line() {
        for (md, line, needle) in [
            ("---\ntags: [a]\n## Frage?\nJa.\n", 1, "not closed"),
            (
                "---\ntags [a]\n---\n## Frage?\nJa.\n",
                2,
                "is not `key: value`",
            ),
            (
                "---\n- a\n---\n## Frage?\nJa.\n",
                2,
                "belongs under a `key:` line",
            ),
            (
                "---\nsection: [a, b]\n---\n## Frage?\nJa.\n",
                2,
                "takes one value",
            ),
        ] {
            let err = parse(Path::new("faq.md"), md.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("faq.md:{line}: ")), "{err}");
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn checksum_sees_metadata_only_where_there_is_some() {
        let plain = parse_str(r#"{"id": "a", "question": "Q", "answer": "A"}"#).unwrap();
        let empty =
            parse_str(r#"{"id": "a", "question": "Q", "answer": "A", "metadata": {}}"#).unwrap();
        let tagged =
            parse_str(r#"{"id": "a", "question": "Q", "answer": "A", "metadata": {"t": "x"}}"#)
                .unwrap();
        let retagged =
            parse_str(r#"{"id": "a", "question": "Q", "answer": "A", "metadata": {"t": "y"}}"#)
                .unwrap();
        assert_eq!(plain.checksum(), empty.checksum());
        assert_ne!(plain.checksum(), tagged.checksum());
        assert_ne!(tagged.checksum(), retagged.checksum());
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
