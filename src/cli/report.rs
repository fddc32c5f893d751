//! What `antwort ask` prints: one [`Report`] per query, as JSON or as text for a terminal.

use std::collections::BTreeSet;
use std::io::Write;
use std::ops::Range;

use serde::Serialize;

use antwort::corpus::{Corpus, Metadata};
use antwort::retrieve::lexical::FieldScores;
use antwort::search::{Answers, Confidence, Hit, SearchOptions, Timings};

/// One query's answers: the JSON shape, and the text rendering of the same data.
#[derive(Serialize)]
pub struct Report<'a> {
    pub query: &'a str,
    /// The `--filter` conditions the answers were narrowed by, as given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    pub mode: &'static str,
    pub fusion: String,
    /// Share of the query (IDF-weighted) whose terms occur in the corpus; scales BM25 in fusion.
    pub lexical_coverage: f32,
    /// False when the corpus does not seem to answer the query: the results are only the
    /// nearest ones. Null when only BM25 ran.
    pub confident: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    pub results: Vec<ReportHit<'a>>,
    /// Questions related to the top answer, for moving on from it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub see_also: Vec<SeeAlso>,
    pub timings_ms: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<QueryExplain<'a>>,
}

#[derive(Serialize)]
pub struct ReportHit<'a> {
    pub rank: usize,
    pub id: &'a str,
    pub section: &'a str,
    pub question: &'a str,
    pub answer: &'a str,
    /// The pair's metadata fields; omitted when it has none.
    #[serde(skip_serializing_if = "no_metadata")]
    pub metadata: &'a Metadata,
    /// How close the hit is to the query, in [0, 1]; never above the hit before it (0.5 is the
    /// index's threshold of a confident answer; see `search::relevance`).
    pub score: f32,
    /// The answer sentence that matched best.
    pub excerpt: &'a str,
    /// Byte offsets of the excerpt in `answer`, end exclusive.
    pub excerpt_byte_range: [usize; 2],
    /// Distinct words of question and excerpt that the query matched, as written there.
    pub matched_terms: Vec<&'a str>,
    /// Byte offsets in `answer` of the matched words inside the excerpt.
    pub excerpt_match_byte_ranges: Vec<[usize; 2]>,
    /// Byte offsets in `question` of the matched words.
    pub question_match_byte_ranges: Vec<[usize; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<HitExplain>,
}

/// A question related to the top answer.
#[derive(Serialize)]
pub struct SeeAlso {
    pub id: String,
    pub question: String,
    pub similarity: f32,
}

/// Why a hit is where it is (`--explain`).
#[derive(Serialize)]
pub struct HitExplain {
    pub bm25: Option<LexicalExplain>,
    pub dense: Option<DenseExplain>,
    pub fused_score: f32,
    pub rerank_score: Option<f32>,
    /// What the final order sorts by: the last stage's score (after the lift, in the full
    /// pipeline), comparable only within this list.
    pub final_score: f32,
}

#[derive(Serialize)]
pub struct LexicalExplain {
    pub rank: usize,
    /// Words and grams, each scaled to its best hit, summed.
    pub score: f32,
    /// BM25 of the words in the question field alone, unboosted; null if it matched nothing there.
    pub question_field: Option<f32>,
    /// BM25 of the words in the answer field alone; null if it matched nothing there.
    pub answer_field: Option<f32>,
    /// BM25 of the character grams, both fields; null if no gram matched.
    pub grams: Option<f32>,
}

#[derive(Serialize)]
pub struct DenseExplain {
    pub rank: usize,
    /// Best cosine similarity of any unit of the pair.
    pub similarity: f32,
}

/// Per-query details for `--explain`.
#[derive(Serialize)]
pub struct QueryExplain<'a> {
    /// The analyzed terms BM25 searched for.
    pub terms: &'a [String],
    /// Time to load the embedding model in this process, if it was loaded.
    pub model_load_ms: Option<f64>,
    /// Which reranker ordered the answers, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<&'static str>,
}

/// Extra material for `--explain`, gathered by the caller.
pub struct ExplainInput<'a> {
    pub fields: FieldScores,
    pub terms: &'a [String],
    pub model_load_ms: Option<f64>,
    pub reranker: Option<&'static str>,
}

fn no_metadata(metadata: &&Metadata) -> bool {
    metadata.is_empty()
}

fn byte_ranges(ranges: &[Range<usize>]) -> Vec<[usize; 2]> {
    ranges.iter().map(|r| [r.start, r.end]).collect()
}

impl<'a> Report<'a> {
    pub fn new(
        corpus: &'a Corpus,
        query: &'a str,
        options: &SearchOptions,
        answers: &Answers,
        explain: Option<ExplainInput<'a>>,
    ) -> Self {
        let results = answers
            .hits
            .iter()
            .enumerate()
            .map(|(i, hit)| {
                let pair = corpus.get(hit.doc);
                let mut matched = BTreeSet::new();
                matched.extend(
                    hit.question_matches
                        .iter()
                        .map(|r| &pair.question[r.clone()]),
                );
                matched.extend(hit.excerpt_matches.iter().map(|r| &pair.answer[r.clone()]));
                ReportHit {
                    rank: i + 1,
                    id: &pair.id,
                    section: &pair.section,
                    question: &pair.question,
                    answer: &pair.answer,
                    metadata: &pair.metadata,
                    score: hit.relevance,
                    excerpt: &pair.answer[hit.excerpt.clone()],
                    excerpt_byte_range: [hit.excerpt.start, hit.excerpt.end],
                    matched_terms: matched.into_iter().collect(),
                    excerpt_match_byte_ranges: byte_ranges(&hit.excerpt_matches),
                    question_match_byte_ranges: byte_ranges(&hit.question_matches),
                    bm25_rank: hit.lexical.map(|a| a.rank),
                    dense_rank: hit.dense.map(|a| a.rank),
                    explain: explain.as_ref().map(|e| explain_hit(hit, &e.fields)),
                }
            })
            .collect();
        Report {
            query,
            filters: Vec::new(),
            mode: options.mode.name(),
            fusion: options.fusion.to_string(),
            lexical_coverage: answers.lexical_coverage,
            confident: answers.confidence.map(|c| c.confident),
            confidence: answers.confidence,
            results,
            see_also: Vec::new(),
            timings_ms: answers.timings,
            explain: explain.map(|e| QueryExplain {
                terms: e.terms,
                model_load_ms: e.model_load_ms,
                reranker: e.reranker,
            }),
        }
    }

    pub fn write_text(&self, out: &mut impl Write, colour: bool) -> std::io::Result<()> {
        let style = Style::new(colour);
        if !self.filters.is_empty() {
            writeln!(
                out,
                "{}Only pairs with {}{}\n",
                style.dim,
                self.filters.join(", "),
                style.reset
            )?;
        }
        if self.results.is_empty() {
            writeln!(out, "no answer found for \"{}\"", self.query)?;
        } else if self.confident == Some(false) {
            writeln!(
                out,
                "{}No confident answer:{} the corpus does not seem to cover this question. \
                 Nearest results, weak:\n",
                style.bold, style.reset
            )?;
        }
        for hit in &self.results {
            let title = if hit.question.is_empty() {
                hit.id.to_string()
            } else {
                style.highlight(hit.question, &hit.question_match_byte_ranges, 0, style.bold)
            };
            writeln!(out, "{}. {}{title}{}", hit.rank, style.bold, style.reset)?;
            let section = if hit.section.is_empty() {
                "-"
            } else {
                hit.section
            };
            let metadata: String = hit
                .metadata
                .iter()
                .map(|(name, values)| format!(" · {name}: {}", compact(values)))
                .collect();
            writeln!(
                out,
                "   {}{} · {section}{metadata} · score {:.4}{}",
                style.dim, hit.id, hit.score, style.reset
            )?;
            let kept = clip(hit.excerpt, 300);
            let start = hit.excerpt_byte_range[0];
            let visible: Vec<[usize; 2]> = hit
                .excerpt_match_byte_ranges
                .iter()
                .filter(|r| r[1] - start <= kept.len())
                .copied()
                .collect();
            let ellipsis = if kept.len() < hit.excerpt.len() {
                " …"
            } else {
                ""
            };
            writeln!(
                out,
                "   {}{ellipsis}",
                style.highlight(kept, &visible, start, "")
            )?;
            if let Some(explain) = &hit.explain {
                writeln!(out, "   {}{}{}", style.dim, explain.line(), style.reset)?;
            }
            if hit.rank == 1 && !self.see_also.is_empty() {
                writeln!(out, "   {}See also:{}", style.dim, style.reset)?;
                for related in &self.see_also {
                    writeln!(
                        out,
                        "   {}→ {} ({}){}",
                        style.dim, related.question, related.id, style.reset
                    )?;
                }
            }
            writeln!(out)?;
        }
        if let Some(explain) = &self.explain {
            let t = &self.timings_ms;
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            let load = explain
                .model_load_ms
                .map_or(String::new(), |m| format!("model load {m:.0} ms, "));
            // BM25 runs while the query is embedded, when a mode does both.
            let beside = if t.embed.is_zero() || t.lexical.is_zero() {
                ""
            } else {
                " beside it"
            };
            writeln!(
                out,
                "{}terms {:?} · coverage {:.2} · {load}embed {:.1} ms, bm25 {:.2} ms{beside}, \
                 dense {:.2} ms, fusion {:.2} ms, {} {:.2} ms{}",
                style.dim,
                explain.terms,
                self.lexical_coverage,
                ms(t.embed),
                ms(t.lexical),
                ms(t.vector),
                ms(t.fusion),
                explain.reranker.unwrap_or("rerank"),
                ms(t.rerank),
                style.reset
            )?;
        }
        Ok(())
    }
}

fn explain_hit(hit: &Hit, fields: &FieldScores) -> HitExplain {
    HitExplain {
        bm25: hit.lexical.map(|arm| LexicalExplain {
            rank: arm.rank,
            score: arm.score,
            question_field: fields.question.get(&hit.doc).copied(),
            answer_field: fields.answer.get(&hit.doc).copied(),
            grams: fields.grams.get(&hit.doc).copied(),
        }),
        dense: hit.dense.map(|arm| DenseExplain {
            rank: arm.rank,
            similarity: arm.score,
        }),
        fused_score: hit.fused,
        rerank_score: hit.rerank,
        final_score: hit.score,
    }
}

impl HitExplain {
    fn line(&self) -> String {
        let mut parts = Vec::new();
        match &self.bm25 {
            Some(b) => {
                let score = |s: Option<f32>| s.map_or("-".into(), |s| format!("{s:.2}"));
                parts.push(format!(
                    "bm25 #{} {:.2} (question {}, answer {}, grams {})",
                    b.rank,
                    b.score,
                    score(b.question_field),
                    score(b.answer_field),
                    score(b.grams)
                ))
            }
            None => parts.push("bm25 -".into()),
        }
        match &self.dense {
            Some(d) => parts.push(format!("dense #{} {:.3}", d.rank, d.similarity)),
            None => parts.push("dense -".into()),
        }
        parts.push(format!("fused {:.4}", self.fused_score));
        if let Some(r) = self.rerank_score {
            parts.push(format!("rerank {r:.4}"));
        }
        parts.push(format!("final {:.4}", self.final_score));
        parts.join(" · ")
    }
}

/// ANSI styles, or none when the output is not a terminal.
struct Style {
    bold: &'static str,
    dim: &'static str,
    mark: &'static str,
    reset: &'static str,
}

impl Style {
    fn new(colour: bool) -> Style {
        if colour {
            Style {
                bold: "\x1b[1m",
                dim: "\x1b[2m",
                mark: "\x1b[1;33m",
                reset: "\x1b[0m",
            }
        } else {
            Style {
                bold: "",
                dim: "",
                mark: "",
                reset: "",
            }
        }
    }

    /// `text` with the byte `ranges` (offset by `base`) marked; `resume` is the style the text
    /// around them is in.
    fn highlight(&self, text: &str, ranges: &[[usize; 2]], base: usize, resume: &str) -> String {
        if self.mark.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + ranges.len() * 12);
        let mut at = 0;
        for &[start, end] in ranges {
            let (start, end) = (start - base, end - base);
            out.push_str(&text[at..start]);
            out.push_str(self.mark);
            out.push_str(&text[start..end]);
            out.push_str(self.reset);
            out.push_str(resume);
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// A metadata field's values for the one line of a hit: the first few, each clipped, and how
/// many more there are (BEIR metadata can list hundreds of citing papers).
fn compact(values: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|v| {
            let kept = clip(v, 40);
            if kept.len() < v.len() {
                format!("{kept} …")
            } else {
                kept.to_string()
            }
        })
        .collect();
    if values.len() > SHOWN {
        parts.push(format!("+{} more", values.len() - SHOWN));
    }
    parts.join(", ")
}

/// The start of `text` up to `max` characters, cut at a word boundary.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        None => text,
        Some((end, _)) => {
            let cut = &text[..end];
            cut.rsplit_once(' ').map_or(cut, |(head, _)| head)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn long_metadata_is_shown_compactly() {
        let values = |vs: &[&str]| vs.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(compact(&values(&["gan", "vae"])), "gan, vae");
        assert_eq!(
            compact(&values(&["a", "b", "c", "d", "e"])),
            "a, b, c, +2 more"
        );
        let long = "ein sehr langer Wert der weit über vierzig Zeichen hinausgeht";
        assert_eq!(
            compact(&values(&[long])),
            "ein sehr langer Wert der weit über …"
        );
    }
}
