//! Answers split into sentences: the dense units and the excerpt a hit shows.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Byte ranges of the sentences of `text`, trimmed, empty ones dropped.
///
/// Lines are hard boundaries (bullet points are sentences of their own); inside a line the
/// Unicode sentence rules apply, with German abbreviations such as "z. B." or "bzw." kept whole.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut pending: Option<Range<usize>> = None;
        for (offset, piece) in line.split_sentence_bound_indices() {
            let start = line_start + offset;
            let range = match pending.take() {
                Some(open) => open.start..start + piece.len(),
                None => start..start + piece.len(),
            };
            if ends_with_abbreviation(&text[range.clone()]) {
                pending = Some(range);
            } else {
                out.push(range);
            }
        }
        out.extend(pending);
        line_start += line.len();
    }
    out.into_iter()
        .map(|r| trim_range(text, r))
        .filter(|r| text[r.clone()].chars().any(char::is_alphanumeric))
        .collect()
}

/// Abbreviations after which the Unicode rules would wrongly end a sentence.
fn ends_with_abbreviation(sentence: &str) -> bool {
    const ABBREVIATIONS: [&str; 12] = [
        "z.", "B.", "bzw.", "usw.", "d.", "h.", "ca.", "vs.", "u.", "a.", "etc.", "e.",
    ];
    let last = sentence.trim_end().rsplit(' ').next().unwrap_or("");
    ABBREVIATIONS.contains(&last.trim_start_matches(['(', '[', '„', '"', '“']))
}

fn trim_range(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.start + slice.trim_end().len();
    start..end.max(start)
}
