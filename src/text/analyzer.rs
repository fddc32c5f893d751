//! The German analyzers for BM25: whole stemmed words, and character grams of the folded words.
//! The same functions build them at index and query time, which is what keeps the two from
//! drifting apart.

use std::ops::Range;

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};

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
