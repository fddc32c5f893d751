//! A tokenizer built for some texts ([`Vocabulary::covering`]) reads them, and whatever it is
//! widened to, exactly as the whole tokenizer from the same `tokenizer.json` does; the whole one
//! is what the tokenizers crate itself loads. On the real e5 tokenizer.

mod common;

use std::sync::OnceLock;

use antwort::embed::vocabulary::Vocabulary;
use antwort::embed::MODEL_SUBDIR;
use proptest::prelude::*;
use tokenizers::Tokenizer;

fn tokenizer_json() -> std::path::PathBuf {
    common::models()
        .root()
        .join(MODEL_SUBDIR)
        .join("tokenizer.json")
}

fn vocabulary() -> &'static Vocabulary {
    static VOCABULARY: OnceLock<Vocabulary> = OnceLock::new();
    VOCABULARY.get_or_init(|| Vocabulary::read(&tokenizer_json()).unwrap())
}

/// The tokenizers crate's own reading of the file.
fn reference() -> &'static Tokenizer {
    static REFERENCE: OnceLock<Tokenizer> = OnceLock::new();
    REFERENCE.get_or_init(|| Tokenizer::from_file(tokenizer_json()).unwrap())
}

fn ids(tokenizer: &Tokenizer, text: &str) -> Vec<u32> {
    tokenizer.encode(text, true).unwrap().get_ids().to_vec()
}

const HARD_TEXTS: &[&str] = &[
    "query: Was ist Low-Rank-Adaptation (LoRA)?",
    "passage: Größere Modelle brauchen mehr Rechenleistung 🚀",
    "Straße, Maße, Fußgängerübergänge und Donaudampfschifffahrtsgesellschaftskapitän",
    "guenstig, saemtliche, Uebersetzung: typed without umlauts",
    "What is retrieval-augmented generation? <mask> and <s> inside </s> text",
    "什么是大语言模型 · 大規模言語モデル · Ελληνικά · русский",
    "naïve café, e\u{301}, ﬁ ligature, full-width ＡＢＣ, tab\tand\nnewline",
    "",
    "   ",
];

#[test]
fn the_whole_vocabulary_tokenizes_as_the_tokenizers_crate_does() {
    let whole = vocabulary().whole().unwrap();
    for text in HARD_TEXTS {
        assert_eq!(ids(&whole, text), ids(reference(), text), "{text:?}");
    }
    assert_eq!(whole.get_vocab_size(true), reference().get_vocab_size(true));
}

#[test]
fn a_tokenizer_built_for_some_texts_reads_them_as_the_whole_one() {
    let (tokenizer, _) = vocabulary().covering(HARD_TEXTS).unwrap();
    for text in HARD_TEXTS {
        assert_eq!(ids(&tokenizer, text), ids(reference(), text), "{text:?}");
    }
    // It is built for those texts only: a word it never saw has pieces it lacks.
    let unseen = "Quantenchromodynamik";
    assert_ne!(ids(&tokenizer, unseen), ids(reference(), unseen));
}

#[test]
fn widening_makes_a_tokenizer_read_each_new_text_as_the_whole_one() {
    let (mut tokenizer, mut coverage) = vocabulary().covering(["query: Was ist LoRA?"]).unwrap();
    for text in HARD_TEXTS.iter().rev() {
        coverage
            .widen(vocabulary(), &mut tokenizer, [text])
            .unwrap();
        assert_eq!(ids(&tokenizer, text), ids(reference(), text), "{text:?}");
    }
    // Earlier texts still read the same after later widenings.
    for text in HARD_TEXTS {
        assert_eq!(ids(&tokenizer, text), ids(reference(), text), "{text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any text, built from German, English and other scripts, digits, punctuation, emoji,
    /// special tokens and odd whitespace.
    #[test]
    fn any_text_reads_the_same_once_covered(
        parts in prop::collection::vec(
            prop_oneof![
                "[a-zA-ZäöüÄÖÜß]{1,14}",
                "[0-9.,;:!?()\\-\"'/ ]{1,4}",
                "[ \t\n]{1,3}",
                "[а-яё一-龥ぁ-んα-ω]{1,5}",
                Just("<mask>".to_string()),
                Just("</s>".to_string()),
                Just("🚀".to_string()),
                Just("e\u{301}".to_string()),
            ],
            0..12,
        )
    ) {
        let text = parts.concat();
        let (tokenizer, _) = vocabulary().covering([text.as_str()]).unwrap();
        prop_assert_eq!(ids(&tokenizer, &text), ids(reference(), &text), "{:?}", text);
    }
}
