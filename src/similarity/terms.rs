//! The lexical part of pair similarity: TF-IDF over each pair's *distinctive* words, in an
//! index of its own, apart from the BM25 index of search.
//!
//! Search wants every word a query might use; telling pairs apart wants only the words that
//! say what a pair is about. So this index leaves out stop words, interview filler
//! ([`FILLER_WORDS`]), numbers, words a single pair uses and — in a corpus that capitalises
//! nouns — non-nouns, and keeps a readable surface word per stem, so that the words two pairs
//! share, the labels of a group of pairs and the short title of a pair can be shown as the
//! corpus writes them.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::corpus::QaPair;
use crate::text;

/// How many shared words [`Terms::shared`] gives at most.
const MAX_SHARED_TERMS: usize = 5;
/// Words in a question count this many times over words in the answer, as in BM25.
const QUESTION_TERM_WEIGHT: f32 = 2.0;
/// Below this share of noun-like words, a corpus is taken not to capitalise nouns (not German),
/// and every word may be shown.
const MIN_NOUN_SHARE: f32 = 0.1;
/// Pairs analysed at once by [`Terms::of`].
const ANALYSIS_SLICE: usize = 1024;

/// Words that carry no topic in interview-style questions and answers, or English function
/// words that the German stop list lets through. Left out (by stem) of the lexical part, the
/// key words and the labels; search is not affected.
const FILLER_WORDS: &str = "mal paar gibt gibt's kannst kann könnte könntest würdest würde \
    müssen muss sollte sollten soll gut besser besten schon sowohl statt anstatt mehr viel \
    viele vielen immer ganz neu neue neuen einfach oft häufig genau eigentlich bitte etwa sowie \
    dabei dadurch daher deshalb also sodass bzw usw z b beim wurde wurden macht machen mach \
    erkläre erklär erklären erklärt erzähl erzähle beschreibe beschreiben benutze benutz nutze \
    nutzen genutzt verwenden verwendet wichtig wichtigsten bestimmte bestimmten verschiedene \
    Unterschied Unterschiede Konzept Beispiel Art Weise Rolle Bereich Fall Punkt Sache Dinge \
    Infos Teil Teile zwei drei erste ersten Antwort Antworten Frage Fragen Aufgabe Aufgaben \
    Problem Probleme Technik Techniken Sprechen Ansatz \
    the of and to in is are for on with as by a an or it be that this from at not can which \
    how what why when more than into its their they them such also use used using";

/// Analyzed words of the corpus, with a readable surface word for each.
#[derive(Serialize, Deserialize)]
pub(crate) struct Terms {
    /// Term id by stem; written in stem order, so that the same corpus gives the same file.
    #[serde(serialize_with = "in_key_order")]
    ids: HashMap<String, u32>,
    /// Per term: the surface word most often written for it.
    surface: Vec<String>,
    /// Per term: number of pairs that use it.
    df: Vec<u32>,
    /// Per term: whether it is distinctive material (not filler, not a number, noun-like).
    shown: Vec<bool>,
    /// Per pair: (term, weighted count) over all terms, sorted by term.
    bags: Vec<Vec<(u32, f32)>>,
    /// Per pair: unit TF-IDF vector over shown terms, sorted by term.
    lexical: Vec<Vec<(u32, f32)>>,
    /// Per term: (pair, TF-IDF weight), the transpose of `lexical`: not saved, rebuilt on
    /// load ([`Terms::check_and_index`]).
    #[serde(skip)]
    postings: Vec<Vec<(u32, f32)>>,
}

/// A map as serde writes a sorted one: a `HashMap` iterates in a different order in every
/// process, and the pair space of an incremental build is to be the very file a full build writes.
fn in_key_order<S: serde::Serializer>(
    map: &HashMap<String, u32>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// One analyzed word of a text.
struct Token {
    stem: String,
    surface: String,
    /// Written with a capital where a sentence does not start: a noun, in German.
    capital_inside: bool,
    /// At the start of a sentence, line or list item, where capitals say nothing.
    sentence_start: bool,
}

/// How a term is written across the corpus.
#[derive(Default)]
struct Spelling {
    /// Surface form → (count, first seen).
    forms: HashMap<String, (u32, usize)>,
    inside: u32,
    capital_inside: u32,
}

impl Terms {
    /// Analyzes the questions and answers of `pairs`, in parallel.
    pub(super) fn of(pairs: &[QaPair]) -> Terms {
        let mut analyzer = text::german_analyzer();
        let filler: HashSet<String> = text::terms(&mut analyzer, FILLER_WORDS)
            .into_iter()
            .collect();
        // Analysed a slice at a time: the tokens of a whole corpus (two strings a word) would
        // take more memory than all else a build holds, while a slice's keep both cores busy.
        let analyzed = pairs.chunks(ANALYSIS_SLICE).flat_map(|slice| {
            let analyzed: Vec<(Vec<Token>, Vec<Token>)> = slice
                .par_iter()
                .map_init(text::german_analyzer, |analyzer, pair| {
                    (
                        tokens(analyzer, &pair.question),
                        tokens(analyzer, &pair.answer),
                    )
                })
                .collect();
            analyzed
        });
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut spellings: Vec<Spelling> = Vec::new();
        let mut df: Vec<u32> = Vec::new();
        let mut bags = Vec::with_capacity(pairs.len());
        let mut seen = 0usize;
        for (question, answer) in analyzed {
            let mut bag: HashMap<u32, f32> = HashMap::new();
            let weighted = question
                .into_iter()
                .map(|t| (t, QUESTION_TERM_WEIGHT))
                .chain(answer.into_iter().map(|t| (t, 1.0)));
            for (token, weight) in weighted {
                let id = *ids.entry(token.stem).or_insert_with(|| {
                    spellings.push(Spelling::default());
                    df.push(0);
                    (spellings.len() - 1) as u32
                });
                let spelling = &mut spellings[id as usize];
                seen += 1;
                spelling.forms.entry(token.surface).or_insert((0, seen)).0 += 1;
                if !token.sentence_start {
                    spelling.inside += 1;
                    spelling.capital_inside += u32::from(token.capital_inside);
                }
                *bag.entry(id).or_default() += weight;
            }
            for &id in bag.keys() {
                df[id as usize] += 1;
            }
            let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
            bag.sort_by_key(|&(id, _)| id);
            bags.push(bag);
        }

        let noun_like: Vec<bool> = spellings
            .iter()
            .map(|s| s.inside > 0 && 2 * s.capital_inside >= s.inside)
            .collect();
        let capitalises = noun_like.iter().filter(|&&b| b).count() as f32
            >= MIN_NOUN_SHARE * noun_like.len() as f32;
        let surface: Vec<String> = spellings
            .into_iter()
            .map(|s| {
                // The most frequent spelling; among equals, the first seen.
                s.forms
                    .into_iter()
                    .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                    .map(|(form, _)| form)
                    .unwrap_or_default()
            })
            .collect();
        let mut stems: Vec<(&String, &u32)> = ids.iter().collect();
        stems.sort_by_key(|&(_, &id)| id);
        let shown: Vec<bool> = stems
            .iter()
            .map(|&(stem, &id)| {
                let id = id as usize;
                !filler.contains(stem)
                    && is_showable(&surface[id])
                    && (noun_like[id] || !capitalises)
            })
            .collect();

        let mut terms = Terms {
            ids,
            surface,
            df,
            shown,
            bags,
            lexical: Vec::new(),
            postings: Vec::new(),
        };
        terms.lexical = terms.bags.iter().map(|bag| terms.tf_idf(bag)).collect();
        terms.index_postings();
        terms
    }

    fn index_postings(&mut self) {
        let mut postings = vec![Vec::new(); self.surface.len()];
        for (doc, vector) in self.lexical.iter().enumerate() {
            for &(term, weight) in vector {
                postings[term as usize].push((doc as u32, weight));
            }
        }
        self.postings = postings;
    }

    /// For terms read back from a file: whether they describe `pairs` pairs with every term id
    /// in range, and if so the postings rebuilt.
    pub(super) fn check_and_index(mut self, pairs: usize) -> Option<Terms> {
        let terms = self.surface.len();
        let in_range = |vectors: &[Vec<(u32, f32)>]| {
            vectors.len() == pairs
                && vectors.iter().all(|v| {
                    v.iter()
                        .all(|&(t, w)| (t as usize) < terms && w.is_finite())
                })
        };
        let consistent = self.df.len() == terms
            && self.shown.len() == terms
            && self.ids.values().all(|&id| (id as usize) < terms)
            && in_range(&self.bags)
            && in_range(&self.lexical);
        consistent.then(|| {
            self.index_postings();
            self
        })
    }

    /// Number of terms: the width of the lexical vectors.
    pub(crate) fn len(&self) -> usize {
        self.surface.len()
    }

    /// Unit TF-IDF vector of pair `doc` over shown terms, sorted by term.
    pub(crate) fn lexical(&self, doc: usize) -> &[(u32, f32)] {
        &self.lexical[doc]
    }

    /// (term, weighted count) of pair `doc` over all terms, sorted by term.
    pub(crate) fn bag(&self, doc: usize) -> &[(u32, f32)] {
        &self.bags[doc]
    }

    /// TF-IDF cosine of two pairs.
    pub(super) fn cosine(&self, a: usize, b: usize) -> f32 {
        sparse_dot(&self.lexical[a], &self.lexical[b])
    }

    /// TF-IDF cosine of a unit lexical vector with every pair, through the postings.
    pub(super) fn lexical_scores(&self, vector: &[(u32, f32)]) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.bags.len()];
        for &(term, weight) in vector {
            for &(doc, w) in &self.postings[term as usize] {
                scores[doc as usize] += weight * w;
            }
        }
        scores
    }

    fn idf(&self, id: u32) -> f32 {
        (self.bags.len() as f32 / self.df[id as usize].max(1) as f32).ln()
    }

    /// Unit TF-IDF vector of a bag over shown terms: (1 + ln tf) · ln(n / df).
    pub(super) fn tf_idf(&self, bag: &[(u32, f32)]) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = bag
            .iter()
            .filter(|&&(id, _)| self.shown[id as usize] && self.df[id as usize] >= 2)
            .map(|&(id, tf)| (id, (1.0 + tf.ln()) * self.idf(id)))
            .filter(|&(_, w)| w > 0.0)
            .collect();
        let norm = out.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        out
    }

    /// The bag of a text outside the corpus, over the corpus's vocabulary.
    pub(super) fn bag_of(&self, text: &str) -> Vec<(u32, f32)> {
        let mut bag: HashMap<u32, f32> = HashMap::new();
        for stem in text::terms(&mut text::german_analyzer(), text) {
            if let Some(&id) = self.ids.get(&stem) {
                *bag.entry(id).or_default() += QUESTION_TERM_WEIGHT;
            }
        }
        let mut bag: Vec<(u32, f32)> = bag.into_iter().collect();
        bag.sort_by_key(|&(id, _)| id);
        bag
    }

    /// Shown terms both bags hold and at most a quarter of the pairs use, most telling first
    /// (IDF times how much both use it).
    pub(crate) fn shared(&self, a: &[(u32, f32)], b: &[(u32, f32)]) -> Vec<String> {
        let n = self.bags.len();
        let common_df = (n as f32 / 4.0).max(2.0);
        let mut shared: Vec<(u32, f32)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let id = a[i].0;
                    if self.shown[id as usize] && (self.df[id as usize] as f32) <= common_df {
                        shared.push((id, self.idf(id) * a[i].1.min(b[j].1).sqrt()));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        shared.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut words: Vec<String> = Vec::new();
        for (id, _) in shared {
            let word = &self.surface[id as usize];
            if words.len() < MAX_SHARED_TERMS && !words.iter().any(|w| same_word(w, word)) {
                words.push(word.clone());
            }
        }
        words
    }

    /// Two to four words per class that set it apart from the rest of the corpus.
    ///
    /// A word scores its share of the class's words, times its IDF over pairs, times the share
    /// of members that use it — so that a word one long answer repeats does not name a topic of
    /// several pairs. Words that half the corpus uses name no topic and are left out. (Class-based
    /// TF-IDF, with ln(1 + average class size / frequency) as IDF, was tried first: with four or
    /// five classes that IDF hardly falls for common words, and "Modell" named every topic.)
    pub(crate) fn class_labels(&self, classes: &[Vec<usize>]) -> Vec<Vec<String>> {
        let n = self.bags.len();
        classes
            .iter()
            .map(|members| {
                let mut tf: HashMap<u32, (f32, u32)> = HashMap::new();
                for &doc in members {
                    for &(id, weight) in &self.bags[doc] {
                        let entry = tf.entry(id).or_default();
                        entry.0 += weight;
                        entry.1 += 1;
                    }
                }
                let size: f32 = tf.values().map(|v| v.0).sum();
                let distinctive = |id: u32| {
                    self.shown[id as usize] && 2 * self.df[id as usize] as usize <= n.max(2)
                };
                let mut scored: Vec<(u32, f32)> = tf
                    .iter()
                    .filter(|(&id, _)| distinctive(id))
                    .map(|(&id, &(weight, used_by))| {
                        let coverage = used_by as f32 / members.len() as f32;
                        (id, weight / size * self.idf(id) * coverage)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let top = scored.first().map_or(0.0, |s| s.1);
                let mut words: Vec<String> = Vec::new();
                for (id, score) in scored {
                    if words.len() == 4 || (words.len() >= 2 && score < 0.4 * top) {
                        break;
                    }
                    let word = &self.surface[id as usize];
                    if !words.iter().any(|w| same_word(w, word)) {
                        words.push(word.clone());
                    }
                }
                words
            })
            .collect()
    }

    /// A short title for `pair`: its id when the id reads as words; else the distinctive words
    /// of its question (or of its answer's beginning), up to four.
    pub(super) fn title(&self, pair: &QaPair) -> String {
        const MAX_CHARS: usize = 40;
        if pair.id.chars().filter(|c| c.is_alphabetic()).count() >= 3
            && pair.id.chars().count() <= MAX_CHARS
        {
            return pair.id.clone();
        }
        let source = if pair.question.is_empty() {
            &pair.answer
        } else {
            &pair.question
        };
        let mut analyzer = text::german_analyzer();
        let mut words: Vec<String> = Vec::new();
        for token in tokens(&mut analyzer, source) {
            let shown = self
                .ids
                .get(&token.stem)
                .is_some_and(|&id| self.shown[id as usize]);
            if shown && !words.iter().any(|w| same_word(w, &token.surface)) {
                words.push(token.surface);
            }
            if words.len() == 4 {
                break;
            }
        }
        let mut title = if words.is_empty() {
            source
                .split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            words.join(" ")
        };
        if title.chars().count() > MAX_CHARS {
            title = title.chars().take(MAX_CHARS - 1).collect::<String>() + "…";
        }
        if title.is_empty() {
            pair.id.clone()
        } else {
            title
        }
    }
}

/// The analyzed words of `text`, with their surface forms and where they stand.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let surface = &text[token.offset_from..token.offset_to];
        let before = text[..token.offset_from]
            .trim_end_matches([' ', '\t', '"', '„', '“', '”', '(', '[', '-', '–', '*', '•'])
            .chars()
            .next_back();
        out.push(Token {
            stem: token.text.clone(),
            surface: surface.to_string(),
            capital_inside: surface.chars().next().is_some_and(char::is_uppercase),
            sentence_start: before.is_none_or(|c| matches!(c, '.' | '!' | '?' | ':' | '\n')),
        });
    }
    out
}

/// Whether two shown words are one for a reader: equal but for case or a plural "s" that the
/// stemmer keeps (it strips nothing from a word without a vowel, so "LLM" and "LLMs" differ).
fn same_word(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let bare = |w: &str| {
        w.strip_suffix('s')
            .map(str::to_string)
            .unwrap_or_else(|| w.to_string())
    };
    a == b || bare(&a) == b || a == bare(&b)
}

/// Whether a surface word can stand in a label: two letters at least.
fn is_showable(surface: &str) -> bool {
    surface.chars().filter(|c| c.is_alphabetic()).count() >= 2
}

/// Dot product of two sparse vectors sorted by index.
fn sparse_dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::testing::pairs;

    fn terms() -> Terms {
        Terms::of(&pairs())
    }

    fn id(terms: &Terms, word: &str) -> u32 {
        let stem = text::terms(&mut text::german_analyzer(), word).remove(0);
        terms.ids[&stem]
    }

    fn shared(terms: &Terms, a: usize, b: usize) -> Vec<String> {
        terms.shared(terms.bag(a), terms.bag(b))
    }

    #[test]
    fn shared_distinctive_words_link_pairs() {
        let terms = terms();
        let gan = shared(&terms, 0, 1);
        for word in ["Generator", "Diskriminator", "GAN"] {
            assert!(gan.iter().any(|w| w == word), "{word} not in {gan:?}");
        }
        assert!(shared(&terms, 2, 3).iter().any(|w| w == "Quantisierung"));
        assert!(terms.cosine(0, 1) > 0.3, "{}", terms.cosine(0, 1));
        assert!(terms.cosine(2, 3) > 0.3, "{}", terms.cosine(2, 3));
        assert_eq!(terms.cosine(0, 1), terms.cosine(1, 0));
        // Different topics share no distinctive word.
        assert!(shared(&terms, 0, 2).is_empty());
        assert_eq!(terms.cosine(0, 2), 0.0);
    }

    #[test]
    fn lexical_vectors_are_unit_tf_idf_over_words_of_two_pairs_or_more() {
        let terms = terms();
        for doc in 0..pairs().len() {
            let vector = terms.lexical(doc);
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{doc}: {norm}");
            assert!(vector.windows(2).all(|w| w[0].0 < w[1].0), "sorted by term");
            assert!((terms.cosine(doc, doc) - 1.0).abs() < 1e-5);
        }
        // "Rauschen" is used by one pair only: it cannot link two.
        let rauschen = id(&terms, "Rauschen");
        assert!(terms.bag(0).iter().any(|&(t, _)| t == rauschen));
        assert!(terms.lexical(0).iter().all(|&(t, _)| t != rauschen));
        // The postings are the transpose: scores through them are the cosines.
        let scores = terms.lexical_scores(terms.lexical(0));
        for (doc, score) in scores.into_iter().enumerate() {
            assert!((score - terms.cosine(0, doc)).abs() < 1e-6);
        }
    }

    #[test]
    fn question_words_count_double() {
        let terms = terms();
        let generator = id(&terms, "Generator");
        let weight = |doc: usize| {
            terms
                .bag(doc)
                .iter()
                .find(|&&(t, _)| t == generator)
                .unwrap()
                .1
        };
        // Once in the question and once in the answer; twice in the answer only.
        assert_eq!(weight(0), QUESTION_TERM_WEIGHT + 1.0);
        assert_eq!(weight(1), 2.0);
    }

    #[test]
    fn filler_and_non_nouns_are_not_shown_in_a_corpus_that_capitalises_nouns() {
        let terms = terms();
        // "macht" is filler, "weniger" no noun; both are used by two pairs.
        for word in ["macht", "weniger"] {
            let id = id(&terms, word);
            assert_eq!(terms.df[id as usize], 2, "{word}");
            assert!(!terms.shown[id as usize], "{word}");
        }
        assert!(!shared(&terms, 2, 3).iter().any(|w| w == "weniger"));
        assert!(!shared(&terms, 3, 4)
            .iter()
            .any(|w| w.eq_ignore_ascii_case("macht")));
        // Surface words keep the corpus's spelling.
        assert_eq!(terms.surface[id(&terms, "generator") as usize], "Generator");
    }

    #[test]
    fn every_word_may_be_shown_in_a_corpus_without_capitals() {
        let pairs = vec![
            QaPair::new("a", "what is a generator", "the generator makes images"),
            QaPair::new(
                "b",
                "why is a generator unstable",
                "the generator and the critic fight",
            ),
        ];
        let terms = Terms::of(&pairs);
        assert_eq!(terms.shared(terms.bag(0), terms.bag(1)), vec!["generator"]);
    }

    #[test]
    fn class_labels_are_the_distinctive_words_of_each_class() {
        let terms = terms();
        let labels = terms.class_labels(&[vec![0, 1], vec![2, 3], vec![4, 5]]);
        assert_eq!(labels.len(), 3);
        let expected = ["Generator", "Quantisierung", "Tokens"];
        for (words, expected) in labels.iter().zip(expected) {
            assert!((2..=4).contains(&words.len()), "{words:?}");
            assert!(
                words.iter().any(|w| w == expected),
                "{expected} not in {words:?}"
            );
        }
        assert_eq!(
            labels,
            terms.class_labels(&[vec![0, 1], vec![2, 3], vec![4, 5]])
        );
    }

    #[test]
    fn a_text_outside_the_corpus_uses_the_corpus_vocabulary() {
        let terms = terms();
        let bag = terms.bag_of("Generator und Diskriminator, unbekanntes Wortgebilde");
        let ids: Vec<u32> = bag.iter().map(|&(t, _)| t).collect();
        let mut expected = vec![id(&terms, "Generator"), id(&terms, "Diskriminator")];
        expected.sort_unstable();
        assert_eq!(ids, expected);
        assert!(bag.iter().all(|&(_, w)| w == QUESTION_TERM_WEIGHT));
        let vector = terms.tf_idf(&bag);
        let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn titles_are_ids_that_read_as_words_or_else_distinctive_question_words() {
        let terms = terms();
        let pairs = pairs();
        assert_eq!(terms.title(&pairs[0]), "gan-basics");
        let numbered = QaPair::new("17", &pairs[0].question, &pairs[0].answer);
        assert_eq!(terms.title(&numbered), "Generator Diskriminator GAN");
        let unknown = QaPair::new("18", "", "Nichts davon steht sonst irgendwo geschrieben");
        assert_eq!(terms.title(&unknown), "Nichts davon steht sonst irgendwo");
    }

    #[test]
    fn sentence_starts_and_capitals_are_told_apart() {
        let text = "Modelle lernen Muster. Daten helfen: Netze rechnen";
        let tokens = tokens(&mut text::german_analyzer(), text);
        let seen: Vec<(&str, bool, bool)> = tokens
            .iter()
            .map(|t| (t.surface.as_str(), t.capital_inside, t.sentence_start))
            .collect();
        assert_eq!(
            seen,
            [
                ("Modelle", true, true),
                ("lernen", false, false),
                ("Muster", true, false),
                ("Daten", true, true),
                ("helfen", false, false),
                ("Netze", true, true),
                ("rechnen", false, false),
            ]
        );
    }

    #[test]
    fn words_differing_in_case_or_a_plural_s_are_one() {
        assert!(same_word("LLM", "LLMs"));
        assert!(same_word("Modell", "modell"));
        assert!(!same_word("GAN", "Gen"));
        assert!(is_showable("KI") && !is_showable("3b") && !is_showable("42"));
    }

    #[test]
    fn sparse_dot_multiplies_common_indices() {
        assert_eq!(
            sparse_dot(&[(1, 2.0), (3, 1.0)], &[(0, 5.0), (3, 4.0)]),
            4.0
        );
        assert_eq!(sparse_dot(&[], &[(0, 1.0)]), 0.0);
    }
}
