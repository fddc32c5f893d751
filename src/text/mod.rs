//! Text analysis shared by indexing and querying: the German analyzers for BM25 (whole stemmed
//! words, and character grams of the folded words), the umlauts a keyboard without them lost,
//! restored for the embedding model, and the split of answers into sentences for the dense
//! units and the excerpt a hit shows.
//!
//! The analyzer is the same function at index and query time — registering it under one name
//! and building it in one place is what keeps the two from drifting apart.

use std::borrow::Cow;
use std::ops::Range;

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};
use unicode_segmentation::UnicodeSegmentation;

/// Name under which [`german_analyzer`] is registered in the tantivy index.
pub const GERMAN_ANALYZER: &str = "antwort_de";

/// Lower-casing, German stop words, umlaut/ß folding, then the Snowball German stemmer.
///
/// Folding runs before stemming, as in Lucene's GermanAnalyzer, so that "Übersetzung",
/// "Uebersetzung" and "Ubersetzung", or "Straße" and "Strasse", meet at one stem.
pub fn german_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::German).expect("tantivy ships German stop words"))
        .filter(GermanFolding)
        .filter(Stemmer::new(Language::German))
        .build()
}

/// Name under which [`gram_analyzer`] is registered in the tantivy index.
pub const GRAM_ANALYZER: &str = "antwort_de_grams";

/// Length of the character grams of [`gram_analyzer`]. Four is long enough to be specific and
/// short enough that a compound shares grams with its parts and a typo leaves most grams intact.
pub const GRAM_LENGTH: usize = 4;

/// Like [`german_analyzer`] up to the folding, then each word becomes its character
/// [`GRAM_LENGTH`]-grams, with `^` and `$` marking the word's ends.
///
/// Whole-word stems miss what German makes of words: "Trainingsdaten" shares no stem with
/// "Daten", and "Retreival" none with "Retrieval". Their grams overlap, so this view of the text
/// still finds them; word starts and ends weigh in through the marked grams.
pub fn gram_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::German).expect("tantivy ships German stop words"))
        .filter(GermanFolding)
        .filter(WordGrams)
        .build()
}

/// Analyzes `text` into its index terms, in order, duplicates kept.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Byte ranges of the words of `text` whose analyzed form is one of `terms`: the words a
/// query matched, for highlighting.
pub fn matching_spans(
    analyzer: &mut TextAnalyzer,
    text: &str,
    terms: &[String],
) -> Vec<Range<usize>> {
    let mut stream = analyzer.token_stream(text);
    let mut spans = Vec::new();
    while stream.advance() {
        let token = stream.token();
        if terms.contains(&token.text) {
            spans.push(token.offset_from..token.offset_to);
        }
    }
    spans
}

/// Folds German spelling variants of lower-case text: ä/ö/ü → a/o/u, ß → ss, and the
/// transliterations ae/oe → a/o and ue → u, except where the u follows a vowel or q ("neue",
/// "Quelle", "Bauer" keep their e). The state machine of Lucene's GermanNormalizationFilter.
pub fn fold_german(word: &str) -> String {
    #[derive(PartialEq)]
    enum State {
        /// After a consonant or at the start.
        Plain,
        /// After a, o, or a u that may be the first half of a transliterated umlaut.
        Umlaut,
        /// After another vowel, where a following e belongs to its own syllable.
        Vowel,
    }
    let mut out = String::with_capacity(word.len());
    let mut state = State::Plain;
    for c in word.chars() {
        let (replacement, next) = match c {
            'a' | 'o' => (Some(c), State::Umlaut),
            'u' if state == State::Plain => (Some(c), State::Umlaut),
            'u' | 'i' | 'q' | 'y' => (Some(c), State::Vowel),
            'e' if state == State::Umlaut => (None, State::Vowel),
            'e' => (Some(c), State::Vowel),
            'ä' => (Some('a'), State::Vowel),
            'ö' => (Some('o'), State::Vowel),
            'ü' => (Some('u'), State::Vowel),
            'ß' => {
                out.push('s');
                (Some('s'), State::Plain)
            }
            _ => (Some(c), State::Plain),
        };
        out.extend(replacement);
        state = next;
    }
    out
}

/// The [`fold_german`] step as a tantivy token filter.
#[derive(Clone, Copy)]
struct GermanFolding;

impl TokenFilter for GermanFolding {
    type Tokenizer<T: Tokenizer> = GermanFoldingTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> GermanFoldingTokenizer<T> {
        GermanFoldingTokenizer(tokenizer)
    }
}

#[derive(Clone)]
struct GermanFoldingTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for GermanFoldingTokenizer<T> {
    type TokenStream<'a> = GermanFoldingStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        GermanFoldingStream(self.0.token_stream(text))
    }
}

struct GermanFoldingStream<S>(S);

impl<S: TokenStream> TokenStream for GermanFoldingStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let token = self.0.token_mut();
        if token.text.contains(['ä', 'ö', 'ü', 'ß', 'e']) {
            token.text = fold_german(&token.text);
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// The [`gram_analyzer`] step that turns each word into its marked character grams; every gram
/// keeps the offsets and position of its word, so a gram hit still points at the word.
#[derive(Clone, Copy)]
struct WordGrams;

impl TokenFilter for WordGrams {
    type Tokenizer<T: Tokenizer> = WordGramsTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordGramsTokenizer<T> {
        WordGramsTokenizer(tokenizer)
    }
}

#[derive(Clone)]
struct WordGramsTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for WordGramsTokenizer<T> {
    type TokenStream<'a> = WordGramsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordGramsStream {
            words: self.0.token_stream(text),
            grams: Vec::new(),
            next_gram: 0,
            token: Token::default(),
        }
    }
}

struct WordGramsStream<S> {
    words: S,
    /// Grams of the current word, in order.
    grams: Vec<String>,
    next_gram: usize,
    token: Token,
}

impl<S: TokenStream> TokenStream for WordGramsStream<S> {
    fn advance(&mut self) -> bool {
        while self.next_gram == self.grams.len() {
            if !self.words.advance() {
                return false;
            }
            let word = self.words.token();
            self.grams = word_grams(&word.text, GRAM_LENGTH);
            self.next_gram = 0;
            self.token = word.clone();
        }
        self.token.text = std::mem::take(&mut self.grams[self.next_gram]);
        self.next_gram += 1;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// How much more probable, in nats, a spelling with umlauts or ß must be than the one typed
/// before [`restore_umlauts`] changes a word: a factor of 20. Real restorations clear it by far
/// ("guenstig" → "günstig" by 16 nats under e5's tokenizer, "grosses" → "großes" by 4.5); words
/// whose digraphs are letters of their own come close only where both spellings are rare
/// ("Zuerst" → "Zürst" by 0.2, "Statue" → "Statü" by 1.1).
pub const RESTORE_MARGIN: f32 = 3.0;

/// Words with more places that may be a digraph than this stay as typed: each place doubles the
/// spellings to weigh.
const MAX_DIGRAPH_PLACES: usize = 6;

/// The digraphs a German keyboard-less writer types for each umlaut and ß.
const DIGRAPHS: [(&str, char); 7] = [
    ("ae", 'ä'),
    ("oe", 'ö'),
    ("ue", 'ü'),
    ("Ae", 'Ä'),
    ("Oe", 'Ö'),
    ("Ue", 'Ü'),
    ("ss", 'ß'),
];

/// Restores the umlauts and ß that a keyboard without them turned into digraphs: "guenstig" →
/// "günstig", "Woerter" → "Wörter", "Strasse" → "Straße", while "neue", "Quelle" and "dass"
/// stay. `log_prob` is a language model over single words: a word becomes the spelling it
/// finds most probable when that beats the typed one by [`RESTORE_MARGIN`].
///
/// BM25 folds both spellings to one term ([`fold_german`]), but an embedding model reads what it
/// is given: to e5, "guenstig" is three rare pieces and "günstig" one word it knows, so a query
/// typed without umlauts loses the meaning of exactly its German words. Which "ue" is an "ü"
/// no rule can tell ("Feuer", "aktuell", "Quelle"); the model's own vocabulary can.
pub fn restore_umlauts(text: &str, mut log_prob: impl FnMut(&str) -> f32) -> Cow<'_, str> {
    let mut restored: Option<String> = None;
    for (offset, word) in text.split_word_bound_indices() {
        let spellings = umlaut_spellings(word);
        let best = spellings
            .iter()
            .skip(1)
            .map(|s| (log_prob(s), s))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|&(p, _)| p.is_finite() && p >= log_prob(word) + RESTORE_MARGIN);
        match (best, &mut restored) {
            (Some((_, spelling)), None) => {
                let mut out = text[..offset].to_string();
                out.push_str(spelling);
                restored = Some(out);
            }
            (Some((_, spelling)), Some(out)) => out.push_str(spelling),
            (None, Some(out)) => out.push_str(word),
            (None, None) => {}
        }
    }
    restored.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// `word` as typed, then every spelling that reads some of its digraphs as umlauts or ß; only
/// `word` when it has none, or more than [`MAX_DIGRAPH_PLACES`].
fn umlaut_spellings(word: &str) -> Vec<String> {
    let mut spellings = vec![String::with_capacity(word.len())];
    let mut places = 0;
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        match DIGRAPHS
            .iter()
            .find(|(digraph, _)| rest.starts_with(digraph))
        {
            Some(&(digraph, umlaut)) => {
                places += 1;
                if places > MAX_DIGRAPH_PLACES {
                    return vec![word.to_string()];
                }
                let typed = spellings.clone();
                for spelling in &mut spellings {
                    spelling.push(umlaut);
                }
                spellings.splice(
                    0..0,
                    typed.into_iter().map(|mut s| {
                        s.push_str(digraph);
                        s
                    }),
                );
                rest = &rest[digraph.len()..];
            }
            None => {
                spellings.iter_mut().for_each(|s| s.push(c));
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    spellings
}

/// The character `n`-grams of `^word$`; a word too short for one gram is a gram of its own.
pub fn word_grams(word: &str, n: usize) -> Vec<String> {
    let marked: Vec<char> = std::iter::once('^')
        .chain(word.chars())
        .chain(std::iter::once('$'))
        .collect();
    if marked.len() <= n {
        return vec![marked.into_iter().collect()];
    }
    marked.windows(n).map(|w| w.iter().collect()).collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(text: &str) -> Vec<String> {
        terms(&mut german_analyzer(), text)
    }

    #[test]
    fn umlaut_and_eszett_spellings_meet() {
        assert_eq!(analyze("Übersetzung"), analyze("Uebersetzung"));
        assert_eq!(analyze("Straße"), analyze("Strasse"));
        assert_eq!(analyze("größere Modelle"), analyze("groessere Modelle"));
        assert_eq!(
            analyze("Vorstellungsgespräch"),
            analyze("Vorstellungsgespraech")
        );
    }

    #[test]
    fn inflections_share_a_stem_and_stop_words_go() {
        assert_eq!(analyze("Modelle"), analyze("Modells"));
        assert_eq!(analyze("Was ist das Training"), analyze("Trainings"));
    }

    #[test]
    fn matching_spans_point_at_surface_words() {
        let text = "Die Übersetzungen großer Modelle";
        let terms = analyze("uebersetzung modell");
        let spans = matching_spans(&mut german_analyzer(), text, &terms);
        let words: Vec<&str> = spans.into_iter().map(|r| &text[r]).collect();
        assert_eq!(words, ["Übersetzungen", "Modelle"]);
    }

    #[test]
    fn grams_mark_word_ends_and_cover_short_words() {
        assert_eq!(word_grams("lora", 4), ["^lor", "lora", "ora$"]);
        assert_eq!(word_grams("ki", 4), ["^ki$"]);
        assert_eq!(word_grams("gan", 4), ["^gan", "gan$"]);
    }

    #[test]
    fn grams_tie_compounds_and_typos_to_their_words() {
        let grams = |text: &str| terms(&mut gram_analyzer(), text);
        let shared = |a: &str, b: &str| {
            let b = grams(b);
            grams(a).into_iter().filter(|g| b.contains(g)).count()
        };
        // The compound's tail is the word, end marker included.
        assert!(grams("Trainingsdaten").contains(&"ten$".to_string()));
        assert!(shared("Trainingsdaten", "Daten") >= 3);
        // A swapped letter breaks the grams around it, not the word's start and end.
        assert_eq!(shared("Retreival", "Retrieval"), 3);
        // Folding happens first: spellings with and without umlauts give the same grams.
        assert_eq!(grams("Größe"), grams("Groesse"));
        // Stop words are gone before they turn into grams.
        assert!(grams("und die der").is_empty());
    }

    #[test]
    fn diphthongs_keep_their_e() {
        assert_eq!(fold_german("neue"), "neue");
        assert_eq!(fold_german("quelle"), "quelle");
        assert_eq!(fold_german("muell"), "mull");
    }

    #[test]
    fn sentences_respect_lines_and_abbreviations() {
        let text = "Erster Satz. Zweiter, z. B. mit Beispiel.\n- Punkt: eins (z. B. hier)\nLetzter";
        let got: Vec<&str> = sentences(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            got,
            [
                "Erster Satz.",
                "Zweiter, z. B. mit Beispiel.",
                "- Punkt: eins (z. B. hier)",
                "Letzter"
            ]
        );
    }

    /// A toy language model: known words at their log-probability, anything else very rare.
    fn toy_model(word: &str) -> f32 {
        match word {
            "günstig" | "neue" | "Straße" | "Quelle" => -5.0,
            "Strasse" => -9.0,
            "Zürst" => -10.0,
            "Zuerst" => -10.5,
            _ => -30.0,
        }
    }

    #[test]
    fn umlauts_come_back_where_the_model_is_sure() {
        let text = "Wie guenstig ist die Strasse? Zuerst neue Quelle, dann Qülle.";
        assert_eq!(
            restore_umlauts(text, toy_model),
            "Wie günstig ist die Straße? Zuerst neue Quelle, dann Qülle."
        );
        // "Zürst" is more probable than "Zuerst", but not by the margin: the typed word stays.
        assert!(matches!(
            restore_umlauts("Zuerst", toy_model),
            Cow::Borrowed(_)
        ));
        // Nothing to restore: the text itself, not a copy, and the model is never asked.
        let plain = "Was ist LoRA?";
        let restored = restore_umlauts(plain, |_| unreachable!("no digraph, no question"));
        assert!(matches!(restored, Cow::Borrowed(p) if p == plain));
    }

    #[test]
    fn spellings_are_every_reading_of_the_digraphs() {
        assert_eq!(umlaut_spellings("Ueber"), ["Ueber", "Über"]);
        assert_eq!(
            umlaut_spellings("groesse"),
            ["groesse", "grösse", "groeße", "größe"]
        );
        assert_eq!(umlaut_spellings("LoRA"), ["LoRA"]);
        // Too many places to weigh: left as typed.
        assert_eq!(umlaut_spellings("aeaeaeaeaeaeae"), ["aeaeaeaeaeaeae"]);
    }

    proptest::proptest! {
        /// Whatever the model prefers, restoring only ever turns digraphs into their umlaut:
        /// spelling the umlauts out again gives back the typed text.
        #[test]
        fn restoring_only_replaces_digraphs(
            text in "(ae|oe|ue|Ae|Ue|ss|[a-zA-Z ,.?]){0,30}",
            seed in 0u32..1000,
        ) {
            let model = |word: &str| {
                let hash = word.bytes().fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                -((hash % 40) as f32)
            };
            let restored = restore_umlauts(&text, model);
            let spelled_out = restored
                .replace('ä', "ae")
                .replace('ö', "oe")
                .replace('ü', "ue")
                .replace('Ä', "Ae")
                .replace('Ü', "Ue")
                .replace('ß', "ss");
            proptest::prop_assert_eq!(spelled_out, text);
        }
    }
}
