//! e5's SentencePiece tokenizer, built with its whole vocabulary or with only the pieces some
//! texts can use.
//!
//! The tokenizers crate builds a unigram model's trie with a hash map per node: for e5's 250,002
//! pieces that is most of a second, longer than everything else a one-shot `antwort ask` does
//! together. Yet a unigram model only ever segments a text into pieces that occur in it. A model
//! that keeps exactly the pieces occurring in the texts at hand, each at its own id and score,
//! and blanks every other one (an empty piece never matches) therefore segments those texts
//! exactly as the whole model does, and builds in a few milliseconds. [`Coverage`] remembers what
//! such a model was built for and widens it before it reads anything else, so a text is never
//! tokenized by a model that lacks one of its pieces.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use tokenizers::models::unigram::Unigram;
use tokenizers::{
    AddedToken, DecoderWrapper, ModelWrapper, NormalizerWrapper, OffsetReferential, OffsetType,
    PaddingParams, PostProcessorWrapper, PreTokenizer, PreTokenizerWrapper, Tokenizer,
    TokenizerBuilder, TruncationParams,
};

/// `tokenizer.json` taken apart: the unigram pieces with their scores, and the stages around the
/// model, from which tokenizers of any coverage are assembled.
pub struct Vocabulary {
    pieces: Vec<(String, f64)>,
    unk_id: Option<usize>,
    byte_fallback: bool,
    /// Ids of the pieces every tokenizer keeps: the unknown piece and the special tokens, which
    /// the added vocabulary looks up in the model when it is assembled.
    always_kept: Vec<usize>,
    /// The longest piece, in bytes: no longer substring of a text can be a piece.
    longest_piece: usize,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    added_tokens: Vec<AddedToken>,
    padding: Option<PaddingParams>,
    truncation: Option<TruncationParams>,
}

/// The parts of `tokenizer.json` a [`Vocabulary`] reads; the pieces borrow from the file's bytes.
#[derive(Deserialize)]
struct TokenizerFile<'a> {
    #[serde(borrow)]
    model: UnigramFile<'a>,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
}

#[derive(Deserialize)]
struct UnigramFile<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    vocab: Vec<(Cow<'a, str>, f64)>,
    unk_id: Option<usize>,
    #[serde(default)]
    byte_fallback: bool,
}

/// What a tokenizer made by [`Vocabulary::covering`] can read: the pre-tokenized words it has
/// seen, and which pieces it keeps.
#[derive(Clone)]
pub struct Coverage {
    kept: Vec<bool>,
    words: HashSet<String>,
}

type Result<T> = std::result::Result<T, String>;

impl Vocabulary {
    /// Reads a unigram tokenizer's `tokenizer.json`.
    pub fn read(path: &Path) -> Result<Vocabulary> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let file: TokenizerFile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if file.model.kind != "Unigram" {
            return Err(format!(
                "expected a unigram (SentencePiece) model, found {:?}",
                file.model.kind
            ));
        }
        let pieces: Vec<(String, f64)> = file
            .model
            .vocab
            .into_iter()
            .map(|(piece, score)| (piece.into_owned(), score))
            .collect();
        let specials: HashSet<&str> = file
            .added_tokens
            .iter()
            .map(|t| t.content.as_str())
            .collect();
        let always_kept = pieces
            .iter()
            .enumerate()
            .filter(|(id, (piece, _))| {
                Some(*id) == file.model.unk_id || specials.contains(piece.as_str())
            })
            .map(|(id, _)| id)
            .collect();
        let longest_piece = pieces.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        Ok(Vocabulary {
            unk_id: file.model.unk_id,
            byte_fallback: file.model.byte_fallback,
            always_kept,
            longest_piece,
            normalizer: file.normalizer,
            pre_tokenizer: file.pre_tokenizer,
            post_processor: file.post_processor,
            decoder: file.decoder,
            added_tokens: file.added_tokens,
            padding: None,
            truncation: None,
            pieces,
        })
    }

    /// Pads every tokenizer made from here on.
    pub fn with_padding(mut self, padding: PaddingParams) -> Vocabulary {
        self.padding = Some(padding);
        self
    }

    /// Truncates the input of every tokenizer made from here on.
    pub fn with_truncation(mut self, truncation: TruncationParams) -> Vocabulary {
        self.truncation = Some(truncation);
        self
    }

    /// The id of `piece`.
    pub fn id_of(&self, piece: &str) -> Option<u32> {
        self.pieces
            .iter()
            .position(|(p, _)| p == piece)
            .map(|id| id as u32)
    }

    /// Each piece's log-probability under the unigram model, by id.
    pub fn piece_log_probs(&self) -> Vec<f32> {
        self.pieces.iter().map(|&(_, score)| score as f32).collect()
    }

    /// The tokenizer with every piece: what `Tokenizer::from_file` makes of the same file.
    pub fn whole(&self) -> Result<Tokenizer> {
        self.assemble(self.pieces.clone())
    }

    /// A tokenizer that reads `texts` exactly as [`Vocabulary::whole`] does, with only the pieces
    /// they contain; [`Coverage::widen`] lets it read more.
    pub fn covering(
        &self,
        texts: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<(Tokenizer, Coverage)> {
        let mut kept = vec![false; self.pieces.len()];
        for &id in &self.always_kept {
            kept[id] = true;
        }
        let mut coverage = Coverage {
            kept,
            words: HashSet::new(),
        };
        let mut tokenizer = self.assemble(coverage.kept_pieces(self))?;
        coverage.widen(self, &mut tokenizer, texts)?;
        Ok((tokenizer, coverage))
    }

    fn assemble(&self, pieces: Vec<(String, f64)>) -> Result<Tokenizer> {
        let model =
            Unigram::from(pieces, self.unk_id, self.byte_fallback).map_err(|e| e.to_string())?;
        let mut tokenizer: Tokenizer = TokenizerBuilder::<
            ModelWrapper,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        >::new()
        .with_model(ModelWrapper::from(model))
        .with_normalizer(self.normalizer.clone())
        .with_pre_tokenizer(self.pre_tokenizer.clone())
        .with_post_processor(self.post_processor.clone())
        .with_decoder(self.decoder.clone())
        .build()
        .map_err(|e| e.to_string())?
        .into();
        tokenizer
            .add_tokens(self.added_tokens.iter().cloned())
            .map_err(|e| e.to_string())?;
        tokenizer
            .with_padding(self.padding.clone())
            .with_truncation(self.truncation.clone())
            .map_err(|e| e.to_string())?;
        Ok(tokenizer)
    }
}

impl Coverage {
    /// Widens `tokenizer`, made by [`Vocabulary::covering`], to read `texts` exactly as the whole
    /// tokenizer does. Rebuilds its model only when a text brings a piece it lacks.
    pub fn widen(
        &mut self,
        vocabulary: &Vocabulary,
        tokenizer: &mut Tokenizer,
        texts: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<()> {
        let mut new_words = Vec::new();
        for text in texts {
            for word in words(tokenizer, text.as_ref())? {
                if !self.words.contains(&word) {
                    new_words.push(word);
                }
            }
        }
        if new_words.is_empty() {
            return Ok(());
        }
        let substrings = substrings(&new_words, vocabulary.longest_piece);
        let mut grown = false;
        for (kept, (piece, _)) in self.kept.iter_mut().zip(&vocabulary.pieces) {
            if !*kept && substrings.contains(piece.as_str()) {
                *kept = true;
                grown = true;
            }
        }
        self.words.extend(new_words);
        if grown {
            *tokenizer = vocabulary.assemble(self.kept_pieces(vocabulary))?;
        }
        Ok(())
    }

    /// The vocabulary with the pieces not kept blanked: ids, scores and the lowest score (from
    /// which the model prices an unknown character) stay those of the whole vocabulary.
    fn kept_pieces(&self, vocabulary: &Vocabulary) -> Vec<(String, f64)> {
        vocabulary
            .pieces
            .iter()
            .zip(&self.kept)
            .map(|((piece, score), &kept)| {
                (if kept { piece.clone() } else { String::new() }, *score)
            })
            .collect()
    }
}

/// The words the model will segment in `text`: normalized and pre-tokenized as the tokenizer
/// does it, special tokens set apart.
fn words(tokenizer: &Tokenizer, text: &str) -> Result<Vec<String>> {
    let mut pretokenized = tokenizer
        .get_added_vocabulary()
        .extract_and_normalize(tokenizer.get_normalizer(), text);
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer
            .pre_tokenize(&mut pretokenized)
            .map_err(|e| e.to_string())?;
    }
    Ok(pretokenized
        .get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .filter(|(_, _, tokens)| tokens.is_none())
        .map(|(word, _, _)| word.to_string())
        .collect())
}

/// Every substring of `words` up to `longest` bytes, at character boundaries.
fn substrings(words: &[String], longest: usize) -> HashSet<&str> {
    let mut out = HashSet::new();
    for word in words {
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(i, _)| i)
            .chain([word.len()])
            .collect();
        for (i, &start) in bounds.iter().enumerate() {
            for &end in bounds[i + 1..]
                .iter()
                .take_while(|&&end| end - start <= longest)
            {
                out.insert(&word[start..end]);
            }
        }
    }
    out
}
