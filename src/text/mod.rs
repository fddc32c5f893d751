//! Text analysis shared by indexing and querying: the German analyzers for BM25 (whole stemmed
//! words, and character grams of the folded words), the umlauts a keyboard without them lost,
//! restored for the embedding model, and the split of answers into sentences for the dense
//! units and the excerpt a hit shows.
//!
//! The analyzer is the same function at index and query time — registering it under one name
//! and building it in one place is what keeps the two from drifting apart.

mod analyzer;
mod sentences;
mod umlauts;

pub use analyzer::{
    fold_german, german_analyzer, gram_analyzer, matching_spans, terms, word_grams,
    GERMAN_ANALYZER, GRAM_ANALYZER, GRAM_LENGTH,
};
pub use sentences::sentences;
pub use umlauts::{restore_umlauts, weighed_spellings, RESTORE_MARGIN};

#[cfg(test)]
mod tests {
    use super::umlauts::umlaut_spellings;
    use super::*;
    use std::borrow::Cow;

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
        // A final -ae or -oe is Latin or English, never an umlaut; a final -ue may be one.
        assert_eq!(umlaut_spellings("patellae"), ["patellae"]);
        assert_eq!(umlaut_spellings("Oboe"), ["Oboe"]);
        assert_eq!(umlaut_spellings("Menue"), ["Menue", "Menü"]);
        assert_eq!(umlaut_spellings("Boeen"), ["Boeen", "Böen"]);
        // Too many places to weigh: left as typed.
        assert_eq!(umlaut_spellings("aeaeaeaeaeaeaen"), ["aeaeaeaeaeaeaen"]);
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
