//! The index on disk: one directory holding generations of built indexes and a `CURRENT` file
//! naming the live one.
//!
//! ```text
//! index/
//!   .build.lock          locked exclusively by a build, from its first write to its last delete
//!   CURRENT              name of the live generation, replaced atomically
//!   .build-<random>/     a generation being written, by the holder of .build.lock only
//!   gen-<id>/
//!     .reader.lock       locked shared by every open Index of this generation
//!     manifest.json      format version, corpus and model checksums, counts
//!     corpus.jsonl       the pairs as indexed, so answers show even if the source moves
//!     lexical/           tantivy
//!     vectors/           units.bin + hnsw_rs graph (which holds the embeddings)
//!     tokens.bin         token states for late interaction
//! ```
//!
//! A build reuses what it can of the live generation: a pair whose question and answer are
//! unchanged keeps its embeddings and token states, and only new or changed pairs are embedded
//! (embedding is nearly all of a build's time). The lexical index, the graph and the
//! calibration are made anew over the whole corpus, so that the new generation answers as a
//! full build of the same corpus would.
//!
//! A build writes a whole generation into a temporary directory, renames it into place, and
//! only then points `CURRENT` at it with an atomic rename: an interrupted or failed build leaves
//! the previous index exactly as it was.
//!
//! Builds and readers cannot hurt each other. A build holds `.build.lock` throughout, so builds
//! take turns: one at a time writes a staging directory, moves `CURRENT` and deletes the
//! generations that are no longer live, and any `.build-*` it finds was left by a build that
//! died. A reader locks the generation `CURRENT` names shared and reads `CURRENT` again, trying
//! anew if it moved; garbage collection deletes a generation only if it can lock it exclusively
//! without waiting, so a generation stays on disk as long as an [`Index`] of it is open and is
//! collected by a later build. The locks are the operating system's: they end with the process
//! that held them, however it ends.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::corpus::{units_of, units_of_pair, Unit};
use crate::corpus::{Corpus, CorpusSource, FileStamp, QaPair};
use crate::embed::{Encoder, Encoding, Progress};
use crate::error::{Error, IoContext, Result};
use crate::rerank::late_interaction::{Quantizer, TokenIndex, TokenIndexBuilder};
use crate::retrieve::dense::{GraphPolicy, VectorIndex};
use crate::retrieve::lexical::LexicalIndex;
use crate::similarity::PairSpace;

mod generations;
pub mod integrity;
mod lock;

pub use integrity::{FileSum, FileSums};
pub use lock::BuildLock;

/// Bumped whenever the on-disk layout, the analysis or the units change meaning.
pub const FORMAT_VERSION: u32 = 9;

const CURRENT: &str = "CURRENT";
const MANIFEST: &str = "manifest.json";
const CORPUS: &str = "corpus.jsonl";
const DAMAGED_MANIFEST: &str = "manifest.json is damaged; rebuild with `antwort index`";
const LEXICAL: &str = "lexical";
const VECTORS: &str = "vectors";
const TOKENS: &str = "tokens.bin";
const PAIRS: &str = "pairs.bin";
/// The token states of a build in progress, before they are quantized into [`TOKENS`].
const TOKENS_SPILL: &str = "tokens.spill";
const BUILD_PREFIX: &str = ".build-";
const GENERATION_PREFIX: &str = "gen-";
/// A `CURRENT` being written, before it replaces the old one.
const CURRENT_PREFIX: &str = ".CURRENT-";

/// What an index was built from; compared with the present to tell whether it is stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub antwort_version: String,
    pub corpus_source: CorpusSource,
    pub corpus_checksum: String,
    /// The corpus file's stamp when the build read it: lets a query skip re-reading an
    /// unchanged corpus to check that the index is fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus_stamp: Option<FileStamp>,
    pub documents: usize,
    pub units: usize,
    pub model_id: String,
    pub model_checksum: String,
    pub built_at_unix: u64,
    /// How similar an answerable question is to the corpus, measured on the corpus itself.
    pub calibration: Calibration,
    /// What the build embedded, reused and spent.
    pub build: BuildStats,
    /// Whether the build was asked for an HNSW graph; a rebuild not told otherwise keeps it
    /// (manifests from before it was recorded read as the default, `auto`).
    #[serde(default)]
    pub graph: GraphPolicy,
    /// Every file of the generation, checked when it is opened ([`integrity`]); empty in
    /// manifests from before they were kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: FileSums,
}

/// What one build did, kept in its manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildStats {
    /// Pairs embedded by this build.
    pub pairs_embedded: usize,
    /// Pairs whose embeddings and token states were taken over from the previous generation.
    pub pairs_reused: usize,
    /// Units (questions, sentences) embedded by this build.
    pub units_embedded: usize,
    /// Token states stored.
    pub tokens: usize,
    /// Token states this build embedded (the rest were reused).
    pub tokens_embedded: usize,
    /// Seconds spent, by phase.
    pub seconds: PhaseSeconds,
}

/// Seconds a build spent in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSeconds {
    pub lexical: f64,
    pub embed: f64,
    pub tokens: f64,
    /// The points of the vector index, and its graph when it has one.
    pub vectors: f64,
    /// The pair space ("See also", the lift).
    pub pairs: f64,
    pub calibrate: f64,
    pub total: f64,
}

/// Whether a build may reuse the live generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reuse {
    /// Reuse the unchanged pairs' embeddings when the live generation allows it.
    #[default]
    Unchanged,
    /// Embed every pair.
    Nothing,
}

/// How a build goes about its work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildOptions {
    pub reuse: Reuse,
    pub graph: GraphPolicy,
}

/// The corpus's own yardstick for "the corpus does not answer this".
///
/// Every question of the corpus (up to [`CALIBRATION_SAMPLE`]) is asked as a query against the
/// *other* pairs: its best similarity there is how close a related, in-domain question comes to
/// answers that are not its own. A query whose best similarity to any answer falls below the
/// low end of that distribution is further from the corpus than its own neighbours are from each
/// other, and is flagged as having no confident answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Best dense similarity below which a query gets no confident answer.
    pub weak_below: f32,
    /// The quantile of the leave-one-out similarities that `weak_below` is.
    pub quantile: f32,
    /// Questions measured.
    pub sample: usize,
}

/// The quantile of leave-one-out similarities used as the threshold. At 0.1, on the bundled
/// judged queries, 12 of 16 out-of-domain questions are flagged and 29 of 219 in-domain ones.
pub const CALIBRATION_QUANTILE: f32 = 0.1;
/// Questions asked for calibration at most; evenly spread over the corpus.
pub const CALIBRATION_SAMPLE: usize = 256;

/// Why an index cannot be used as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Staleness {
    Missing,
    FormatChanged { found: u32 },
    CorpusChanged,
    ModelChanged,
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staleness::Missing => f.write_str("there is no index yet"),
            Staleness::FormatChanged { found } => write!(
                f,
                "the index has format {found}, this antwort reads format {FORMAT_VERSION}"
            ),
            Staleness::CorpusChanged => f.write_str("the corpus changed since it was indexed"),
            Staleness::ModelChanged => {
                f.write_str("the embedding model changed since the index was built")
            }
        }
    }
}

/// A built index, loaded.
pub struct Index {
    pub manifest: Manifest,
    pub corpus: Corpus,
    pub lexical: LexicalIndex,
    pub vectors: VectorIndex,
    pub tokens: TokenIndex,
    /// The generation's directory.
    dir: PathBuf,
    /// Keeps the generation on disk while it is open.
    _reader: lock::ReaderLock,
}

impl Index {
    /// The name of the generation this index was opened from (see [`IndexDir::current_name`]).
    pub fn generation(&self) -> &str {
        self.dir
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
    }

    /// The pair space of the corpus, as the build wrote it.
    pub fn load_pair_space(&self) -> Result<PairSpace> {
        PairSpace::load(&self.dir.join(PAIRS), self.corpus.len())
    }
}

/// The directory that holds an index's generations.
#[derive(Debug, Clone)]
pub struct IndexDir {
    root: PathBuf,
    /// Set in the `IndexDir` of a [`BuildLock`] and its clones.
    build_lock: Option<Arc<lock::HeldBuildLock>>,
}

impl IndexDir {
    pub fn new(root: impl Into<PathBuf>) -> IndexDir {
        IndexDir {
            root: root.into(),
            build_lock: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The live generation, if there is one.
    fn current(&self) -> Option<PathBuf> {
        let dir = self.root.join(self.current_name()?);
        dir.is_dir().then_some(dir)
    }

    /// Whether there is a live generation.
    pub fn exists(&self) -> bool {
        self.current().is_some()
    }

    /// The corpus the live generation was built from, `None` when there is no live
    /// generation. Read leniently, so that an index of an older format can still be rebuilt
    /// from its own corpus; a manifest that does not say is an error, so that nobody rebuilds
    /// it from another corpus by mistake.
    pub fn corpus_source(&self) -> Result<Option<CorpusSource>> {
        #[derive(Deserialize)]
        struct Source {
            corpus_source: CorpusSource,
        }
        let Some((dir, bytes)) = self.read_live(MANIFEST) else {
            return Ok(None);
        };
        let bytes = bytes.map_err(|e| Self::unreadable_manifest(&dir, e))?;
        let source = serde_json::from_slice::<Source>(&bytes)
            .map_err(|e| Error::index_caused(&dir, DAMAGED_MANIFEST, e))?;
        Ok(Some(source.corpus_source))
    }

    fn unreadable_manifest(dir: &Path, e: std::io::Error) -> Error {
        Error::index_caused(
            dir,
            "manifest.json cannot be read; rebuild the index with `antwort index` (and \
             `--corpus FILE` for a corpus of your own)",
            e,
        )
    }

    /// The live generation's manifest, if there is one.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let Some((dir, bytes)) = self.read_live(MANIFEST) else {
            return Ok(None);
        };
        let bytes = bytes.map_err(|e| Self::unreadable_manifest(&dir, e))?;
        Self::parse_manifest(&dir, &bytes).map(Some)
    }

    fn parse_manifest(dir: &Path, bytes: &[u8]) -> Result<Manifest> {
        serde_json::from_slice(bytes).map_err(|e| Error::index_caused(dir, DAMAGED_MANIFEST, e))
    }

    /// Whether the live index is, without reading the corpus, known to be fresh: built by this
    /// format and model from the file `source` names, which by its [`FileStamp`] has not
    /// changed since. `false` says nothing: ask [`IndexDir::staleness`] with the corpus.
    pub fn known_fresh(&self, source: &CorpusSource, model_checksum: &str) -> bool {
        let CorpusSource::File(path) = source else {
            return false;
        };
        let Some((dir, Ok(bytes))) = self.read_live(MANIFEST) else {
            return false;
        };
        Self::parse_manifest(&dir, &bytes).is_ok_and(|m| {
            m.format_version == FORMAT_VERSION
                && m.model_checksum == model_checksum
                && m.corpus_source == *source
                && m.corpus_stamp
                    .is_some_and(|stamp| stamp.still_describes(path))
        })
    }

    /// Whether the live index was built from this corpus and model by this format.
    pub fn staleness(&self, corpus: &Corpus, model_checksum: &str) -> Result<Option<Staleness>> {
        // An older format may not even parse as today's manifest: read its version alone first.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let Some((dir, Ok(bytes))) = self.read_live(MANIFEST) else {
            return Ok(Some(Staleness::Missing));
        };
        match serde_json::from_slice::<Version>(&bytes) {
            Ok(v) if v.format_version == FORMAT_VERSION => {}
            Ok(v) => {
                return Ok(Some(Staleness::FormatChanged {
                    found: v.format_version,
                }))
            }
            Err(_) => return Ok(Some(Staleness::Missing)),
        }
        let manifest = Self::parse_manifest(&dir, &bytes)?;
        Ok(if manifest.corpus_checksum != corpus.checksum() {
            Some(Staleness::CorpusChanged)
        } else if manifest.model_checksum != model_checksum {
            Some(Staleness::ModelChanged)
        } else {
            None
        })
    }

    /// Opens the live generation. The [`Index`] keeps it locked for reading: a build that
    /// replaces it meanwhile leaves its files alone until the `Index` is dropped.
    pub fn open(&self) -> Result<Index> {
        let (dir, reader) = self.lock_live()?;
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).context(|| format!("cannot read {}", path.display()))?;
        let manifest = Self::parse_manifest(&dir, &bytes)?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::index(
                &dir,
                format!(
                    "{}; rebuild it with `antwort index`",
                    Staleness::FormatChanged {
                        found: manifest.format_version
                    }
                ),
            ));
        }
        integrity::verify(&dir, &manifest.files)?;
        let corpus = read_indexed_corpus(&dir.join(CORPUS))?;
        let lexical = LexicalIndex::open(&dir.join(LEXICAL)).map_err(|e| match e {
            Error::Index { .. } => e,
            e => Error::index_caused(
                dir.join(LEXICAL),
                "the lexical index is damaged; rebuild it with `antwort index`",
                e,
            ),
        })?;
        let vectors = VectorIndex::load(&dir.join(VECTORS))?;
        let tokens = TokenIndex::load(&dir.join(TOKENS))?;
        let unit_fits = |unit: &Unit| {
            (corpus.pairs().get(unit.doc)).is_some_and(|pair| {
                let answer = &pair.answer;
                unit.span.end <= answer.len()
                    && answer.is_char_boundary(unit.span.start)
                    && answer.is_char_boundary(unit.span.end)
            })
        };
        if corpus.len() != manifest.documents
            || vectors.len() != manifest.units
            || tokens.docs() != corpus.len()
            || !vectors.units().iter().all(unit_fits)
        {
            return Err(Error::index(
                &dir,
                "its parts disagree with the manifest; rebuild it with `antwort index`",
            ));
        }
        Ok(Index {
            manifest,
            corpus,
            lexical,
            vectors,
            tokens,
            dir,
            _reader: reader,
        })
    }

    /// Builds a new generation for `corpus` and makes it the live one, holding the build lock
    /// throughout: waits, silently, for any other build of this directory to finish first. To
    /// tell the user about the wait, or to decide after it whether to build at all, take the
    /// lock first with [`IndexDir::lock_for_build`] and build through the [`BuildLock`].
    pub fn build(
        &self,
        corpus: &Corpus,
        source: &CorpusSource,
        encoder: &dyn Encoder,
        progress: &dyn Progress,
    ) -> Result<Manifest> {
        self.build_with(corpus, source, encoder, progress, BuildOptions::default())
    }

    /// [`IndexDir::build`] with `options`: what it may reuse of the live generation, and
    /// whether it adds a graph.
    pub fn build_with(
        &self,
        corpus: &Corpus,
        source: &CorpusSource,
        encoder: &dyn Encoder,
        progress: &dyn Progress,
        options: BuildOptions,
    ) -> Result<Manifest> {
        let lock = self.lock_for_build(|| {})?;
        let held = lock.held();
        let _building = held.building();
        self.remove_abandoned_builds(held);
        let staging = tempfile::Builder::new()
            .prefix(BUILD_PREFIX)
            .tempdir_in(&self.root)
            .context(|| format!("cannot create a build directory in {}", self.root.display()))?;
        // A live generation that cannot be opened (older format, damaged) is simply not reused.
        let previous = match options.reuse {
            Reuse::Unchanged => self
                .open()
                .ok()
                .filter(|p| p.manifest.model_checksum == encoder.model_checksum()),
            Reuse::Nothing => None,
        };
        let manifest = write_generation(
            staging.path(),
            corpus,
            source,
            encoder,
            progress,
            previous.as_ref(),
            options.graph,
        )?;
        // Its reader lock would keep the old generation from being collected below.
        drop(previous);
        lock::create_reader_lock(staging.path()).context(|| {
            format!(
                "cannot create the reader lock in {}",
                staging.path().display()
            )
        })?;

        let name = format!("{GENERATION_PREFIX}{}", unique_stamp());
        let generation = self.root.join(&name);
        std::fs::rename(staging.keep(), &generation)
            .context(|| format!("cannot move the new index to {}", generation.display()))?;
        let mut pointer = tempfile::Builder::new()
            .prefix(CURRENT_PREFIX)
            .tempfile_in(&self.root)
            .context(|| format!("cannot write in {}", self.root.display()))?;
        pointer
            .write_all(name.as_bytes())
            .and_then(|()| pointer.as_file().sync_all())
            .context(|| "cannot write the CURRENT pointer".to_string())?;
        pointer
            .persist(self.root.join(CURRENT))
            .map_err(|e| e.error)
            .context(|| "cannot switch CURRENT to the new index".to_string())?;
        self.remove_old_generations(held, &name);
        Ok(manifest)
    }
}

fn write_generation(
    dir: &Path,
    corpus: &Corpus,
    source: &CorpusSource,
    encoder: &dyn Encoder,
    progress: &dyn Progress,
    previous: Option<&Index>,
    graph: GraphPolicy,
) -> Result<Manifest> {
    let started = Instant::now();
    let mut seconds = PhaseSeconds::default();
    let mut lines = Vec::new();
    for pair in corpus.pairs() {
        serde_json::to_writer(&mut lines, pair).expect("pairs serialize");
        lines.push(b'\n');
    }
    std::fs::write(dir.join(CORPUS), lines).context(|| "cannot write corpus.jsonl".to_string())?;

    let lexical_dir = dir.join(LEXICAL);
    std::fs::create_dir(&lexical_dir).context(|| "cannot create lexical/".to_string())?;
    let phase = Instant::now();
    LexicalIndex::build(&lexical_dir, corpus)?;
    seconds.lexical = phase.elapsed().as_secs_f64();

    let units = units_of(corpus);
    let reused = reusable(corpus, &units, previous);
    let previous = previous.filter(|_| reused.iter().any(Option::is_some));
    let pairs_reused = reused.iter().flatten().count();

    let phase = Instant::now();
    // The units' vectors, one after another: a vector of its own per unit would cost an
    // allocation each and, at 264,570 units, a tenth more memory.
    let mut embeddings = UnitVectors::new(units.len());
    let mut to_embed = Vec::new();
    for (unit, u) in units.iter().enumerate() {
        match (reused[u.doc], previous) {
            (Some(old), Some(previous)) => {
                let first = previous.vectors.units_of_doc(old).start;
                let offset = unit - units_of_pair(&units, u.doc).start;
                embeddings.set(unit, previous.vectors.vector(first + offset))?;
            }
            _ => to_embed.push(unit),
        }
    }
    let reference = Corpus::load(&CorpusSource::Bundled)?;
    let (quantizer, mut reference_encodings) = match previous {
        Some(previous) => (previous.tokens.quantizer().clone(), HashMap::new()),
        None => reference_quantizer(&reference, encoder)?,
    };
    let mut tokens = TokenIndexBuilder::new(quantizer, &dir.join(TOKENS_SPILL), units.len())?;
    let units_embedded = to_embed.len();
    // Each distinct text is embedded once and its encoding given to every unit with that text:
    // collections repeat boilerplate sentences thousands of times, and identical vectors let
    // the graph keep one point for all of them (see `retrieve::dense`).
    let mut copies_of_text: Vec<Vec<usize>> = Vec::new();
    let mut distinct: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for unit in to_embed {
        let text = units[unit].text(corpus);
        let slot = *seen.entry(text).or_insert_with(|| {
            distinct.push(text);
            copies_of_text.push(Vec::new());
            distinct.len() - 1
        });
        copies_of_text[slot].push(unit);
    }
    // Texts the reference already embedded (all of them, for the bundled corpus) are not
    // embedded twice.
    let mut texts = Vec::with_capacity(distinct.len());
    let mut copies = Vec::with_capacity(distinct.len());
    for (text, sharing) in distinct.into_iter().zip(copies_of_text) {
        match reference_encodings.remove(text) {
            Some(encoding) => {
                for &unit in &sharing {
                    tokens.add(unit, &encoding)?;
                    embeddings.set(unit, &encoding.vector)?;
                }
            }
            None => {
                texts.push(text);
                copies.push(sharing);
            }
        }
    }
    let mut spilled = Ok(());
    // Tokens through the model: the reference's, then each distinct text's once.
    let mut tokens_embedded = tokens.rows_added();
    encoder.encode_passages(&texts, progress, &mut |i, encoding| {
        tokens_embedded += encoding.token_rows().count();
        for &unit in &copies[i] {
            if spilled.is_ok() {
                spilled = (tokens.add(unit, &encoding))
                    .and_then(|()| embeddings.set(unit, &encoding.vector));
            }
        }
    })?;
    spilled?;
    seconds.embed = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    let unit_docs: Vec<usize> = units.iter().map(|u| u.doc).collect();
    let token_index = tokens.finish(
        &dir.join(TOKENS),
        &unit_docs,
        &reused,
        previous.map(|p| &p.tokens),
    )?;
    seconds.tokens = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    let vectors = embeddings.into_index(units, graph)?;
    let vectors_dir = dir.join(VECTORS);
    std::fs::create_dir(&vectors_dir).context(|| "cannot create vectors/".to_string())?;
    vectors.save(&vectors_dir)?;
    seconds.vectors = phase.elapsed().as_secs_f64();
    let phase = Instant::now();
    PairSpace::new(corpus.pairs(), &vectors).save(&dir.join(PAIRS))?;
    seconds.pairs = phase.elapsed().as_secs_f64();
    let phase = Instant::now();
    let calibration = calibrate(corpus, &vectors, encoder)?;
    seconds.calibrate = phase.elapsed().as_secs_f64();
    seconds.total = started.elapsed().as_secs_f64();

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        antwort_version: env!("CARGO_PKG_VERSION").to_string(),
        corpus_source: source.clone(),
        corpus_checksum: corpus.checksum(),
        corpus_stamp: corpus.stamp(),
        documents: corpus.len(),
        units: vectors.len(),
        model_id: encoder.model_id().to_string(),
        model_checksum: encoder.model_checksum().to_string(),
        built_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        calibration,
        build: BuildStats {
            pairs_embedded: corpus.len() - pairs_reused,
            pairs_reused,
            units_embedded,
            tokens: token_index.rows(),
            tokens_embedded,
            seconds,
        },
        graph,
        files: integrity::sum_files(dir)?,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    std::fs::write(dir.join(MANIFEST), json)
        .context(|| "cannot write manifest.json".to_string())?;
    Ok(manifest)
}

/// The units' vectors of a build, one after another in one buffer, as they come.
struct UnitVectors {
    units: usize,
    dim: usize,
    values: Vec<f32>,
}

impl UnitVectors {
    fn new(units: usize) -> UnitVectors {
        UnitVectors {
            units,
            dim: 0,
            values: Vec::new(),
        }
    }

    /// Sets the vector of `unit`; the first one fixes the width.
    fn set(&mut self, unit: usize, vector: &[f32]) -> Result<()> {
        if self.values.is_empty() {
            self.dim = vector.len();
            self.values = vec![0.0; self.units * self.dim];
        }
        if vector.len() != self.dim {
            return Err(Error::Internal(format!(
                "a unit vector of {} dimensions among vectors of {}",
                vector.len(),
                self.dim
            )));
        }
        self.values[unit * self.dim..(unit + 1) * self.dim].copy_from_slice(vector);
        Ok(())
    }

    fn into_index(self, units: Vec<Unit>, graph: GraphPolicy) -> Result<VectorIndex> {
        VectorIndex::from_flat(units, self.dim, self.values, graph)
    }
}

/// For each pair of `corpus`, the pair of `previous` whose embeddings and token states it can
/// take over: same question and answer, hence the same units.
fn reusable(corpus: &Corpus, units: &[Unit], previous: Option<&Index>) -> Vec<Option<usize>> {
    let Some(previous) = previous else {
        return vec![None; corpus.len()];
    };
    let old: HashMap<(&str, &str), usize> = previous
        .corpus
        .pairs()
        .iter()
        .enumerate()
        .map(|(doc, p)| ((p.question.as_str(), p.answer.as_str()), doc))
        .collect();
    let old_units = previous.vectors.units();
    (corpus.pairs().iter().enumerate())
        .map(|(doc, pair)| {
            let &old_doc = old.get(&(pair.question.as_str(), pair.answer.as_str()))?;
            let new_units = &units[units_of_pair(units, doc)];
            let old_units = &old_units[previous.vectors.units_of_doc(old_doc)];
            let same = new_units.len() == old_units.len()
                && (new_units.iter().zip(old_units))
                    .all(|(a, b)| a.kind == b.kind && a.span == b.span);
            same.then_some(old_doc)
        })
        .collect()
}

/// The quantizer of the model's token states ([`Quantizer`]), measured on the bundled corpus
/// (`reference`): a fixed text, so that every build with one model codes a pair the same way.
/// Also the reference's encodings by text, for units of the corpus that are reference units.
fn reference_quantizer<'r>(
    reference: &'r Corpus,
    encoder: &dyn Encoder,
) -> Result<(Quantizer, HashMap<&'r str, Encoding>)> {
    let units = units_of(reference);
    let texts: Vec<&str> = units.iter().map(|u| u.text(reference)).collect();
    let encodings = encoder.encode_all(&texts)?;
    let quantizer = Quantizer::fit(&encodings).ok_or_else(|| {
        Error::Internal("the model gave no token states for the reference".into())
    })?;
    Ok((quantizer, texts.into_iter().zip(encodings).collect()))
}

/// See [`Calibration`].
fn calibrate(corpus: &Corpus, vectors: &VectorIndex, encoder: &dyn Encoder) -> Result<Calibration> {
    let step = corpus.len().div_ceil(CALIBRATION_SAMPLE).max(1);
    let sample: Vec<usize> = (0..corpus.len())
        .step_by(step)
        .filter(|&doc| !corpus.get(doc).question.is_empty())
        .collect();
    let mut similarities = Vec::with_capacity(sample.len());
    for &doc in &sample {
        let query = encoder.embed_query(&corpus.get(doc).question)?;
        let own = vectors.units_of_doc(doc).len();
        let best_other = vectors
            .search(&query, own + 16)
            .into_iter()
            .find(|hit| vectors.units()[hit.unit].doc != doc)
            .map(|hit| hit.similarity);
        similarities.extend(best_other);
    }
    similarities.sort_by(f32::total_cmp);
    let weak_below = if similarities.is_empty() {
        0.0
    } else {
        let rank = (CALIBRATION_QUANTILE * similarities.len() as f32).floor() as usize;
        similarities[rank.min(similarities.len() - 1)]
    };
    Ok(Calibration {
        weak_below,
        quantile: CALIBRATION_QUANTILE,
        sample: similarities.len(),
    })
}

fn read_indexed_corpus(path: &Path) -> Result<Corpus> {
    let bytes = std::fs::read(path).context(|| format!("cannot read {}", path.display()))?;
    let pairs = bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(serde_json::from_slice::<QaPair>)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::index_caused(path, "damaged; rebuild with `antwort index`", e))?;
    Corpus::from_pairs(pairs)
}

/// Nanoseconds since the epoch plus the process id: distinct across concurrent builders.
fn unique_stamp() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", std::process::id())
}
