//! The units of a corpus: the pieces of each Q&A pair that get their own embedding and token
//! states. The dense retriever, the reranker's token store and the pair space all key their
//! data by unit, so the segmentation lives here, below all of them.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::Corpus;
use crate::text;

/// What part of a Q&A pair a unit stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Question,
    Answer,
    Sentence,
}

/// A piece of a Q&A pair that gets its own embedding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Ordinal of the pair in the corpus.
    pub doc: usize,
    pub kind: UnitKind,
    /// Byte range in the answer for sentences; the whole answer for `Answer`, empty for
    /// `Question`.
    pub span: Range<usize>,
}

impl Unit {
    /// The unit's text, borrowed from the corpus.
    pub fn text<'c>(&self, corpus: &'c Corpus) -> &'c str {
        let pair = corpus.get(self.doc);
        match self.kind {
            UnitKind::Question => &pair.question,
            UnitKind::Answer | UnitKind::Sentence => &pair.answer[self.span.clone()],
        }
    }
}

/// Where the units of pair `doc` are in `units`, as [`units_of`] orders them: pair by pair,
/// so one contiguous run, found by binary search.
pub fn units_of_pair(units: &[Unit], doc: usize) -> std::ops::Range<usize> {
    let start = units.partition_point(|u| u.doc < doc);
    let end = units.partition_point(|u| u.doc <= doc);
    start..end
}

/// The units of a corpus, pair by pair: the question (when there is one), and the answer's
/// sentences, or the answer whole when it is a single sentence.
///
/// Whole multi-sentence answers are not embedded as well: on the judged queries they added
/// nothing over their sentences and, being the longest inputs, cost three quarters of the
/// embedding time (docs/EVALUATION.md, "Units").
pub fn units_of(corpus: &Corpus) -> Vec<Unit> {
    let mut units = Vec::new();
    for (doc, pair) in corpus.pairs().iter().enumerate() {
        if !pair.question.is_empty() {
            units.push(Unit {
                doc,
                kind: UnitKind::Question,
                span: 0..0,
            });
        }
        let sentences = text::sentences(&pair.answer);
        if sentences.len() > 1 {
            units.extend(sentences.into_iter().map(|span| Unit {
                doc,
                kind: UnitKind::Sentence,
                span,
            }));
        } else {
            units.push(Unit {
                doc,
                kind: UnitKind::Answer,
                span: 0..pair.answer.len(),
            });
        }
    }
    units
}
