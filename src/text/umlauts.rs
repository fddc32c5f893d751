//! The umlauts and ß a keyboard without them lost, restored for the embedding model.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;

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

/// Umlauts no word ends in, though words end in their digraphs: Latin and English plurals and
/// nouns ("patellae", "vertebrae", "Aloe", "Oboe", "shoe"). Reading those as "patellä" moved a
/// medical answer's vector noticeably; German final "ä" and "ö" are all but unknown.
const NEVER_FINAL: [char; 4] = ['ä', 'ö', 'Ä', 'Ö'];

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

/// Every spelling [`restore_umlauts`] may weigh for the words of `text`, as typed and restored:
/// what a tokenizer built for `text` alone has to know.
pub fn weighed_spellings(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_word_bounds().flat_map(umlaut_spellings)
}

/// `word` as typed, then every spelling that reads some of its digraphs as umlauts or ß; only
/// `word` when it has none, or more than [`MAX_DIGRAPH_PLACES`].
pub(super) fn umlaut_spellings(word: &str) -> Vec<String> {
    let mut spellings = vec![String::with_capacity(word.len())];
    let mut places = 0;
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        let place = DIGRAPHS.iter().find(|&&(digraph, umlaut)| {
            rest.starts_with(digraph)
                && !(rest.len() == digraph.len() && NEVER_FINAL.contains(&umlaut))
        });
        match place {
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
