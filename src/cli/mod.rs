//! The command line: `antwort index`, `ask`, `eval`, `related`, `topics`, `serve` and `mcp`. Parsing,
//! orchestration of the index's freshness, and output; the pipeline itself is the library's.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use std::sync::OnceLock;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use antwort::corpus::{Corpus, CorpusSource};
use antwort::embed::{E5Encoder, Encoder, ModelFiles, Progress, TokenizerScope, MODEL_DIR_ENV};
use antwort::explore;
use antwort::fusion::Fusion;
use antwort::index::{BuildLock, BuildOptions, BuildStats, Index, IndexDir, Reuse, Staleness};
use antwort::rerank::cross_encoder::CrossEncoder;
use antwort::rerank::Blended;
use antwort::retrieve::dense::GraphPolicy;
use antwort::retrieve::filter::{Allowed, Condition, Filter};
use antwort::search::{Mode, SearchOptions, Searcher};
use antwort::similarity::PairSpace;

mod eval;
mod live;
mod mcp;
mod report;
mod serve;
mod topics;

/// Related questions shown below the top answer.
const SEE_ALSO: usize = 3;
use report::Report;

#[derive(Parser, Debug)]
#[command(
    name = "antwort",
    version,
    about = "Local semantic search for question-and-answer corpora (German and English)."
)]
pub struct Cli {
    /// Index directory.
    #[arg(long, global = true, env = "ANTWORT_INDEX", default_value = "index")]
    pub index: PathBuf,
    /// Directory with ONNX Runtime and the embedding model, as `scripts/fetch-models` fills it
    /// [default: ~/.cache/antwort/models].
    #[arg(long, global = true, env = MODEL_DIR_ENV)]
    pub model_dir: Option<PathBuf>,
    /// Threads for the embedding model.
    #[arg(long, global = true, default_value_t = default_threads())]
    pub threads: usize,
    /// A cross-encoder to rerank with instead of the built-in reranker, its scores blended with
    /// the fused ones (--reranker-weight): `ms-marco`, the English one `scripts/fetch-models`
    /// installs (English corpora only), or a directory with an ONNX cross-encoder and its
    /// tokenizer files.
    #[arg(long, global = true, env = antwort::rerank::cross_encoder::RERANKER_ENV, value_name = "ms-marco|DIR")]
    pub reranker: Option<PathBuf>,
    /// The cross-encoder's share of the final order against the fused score, in [0, 1]; 1 ranks
    /// by the cross-encoder alone.
    #[arg(long, global = true, default_value_t = antwort::rerank::cross_encoder::DEFAULT_WEIGHT)]
    pub reranker_weight: f32,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build the index for a corpus (the bundled one unless --corpus is given).
    Index {
        /// A corpus file: JSON Lines ({"id","question","answer"}, optionally "section" and
        /// "metadata", or BEIR corpus.jsonl) or Markdown with `## Question` headings and an
        /// optional front matter.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Embed every pair anew instead of reusing the unchanged pairs of the current index,
        /// and measure the token states' statistics afresh.
        #[arg(long)]
        full: bool,
        /// Add an HNSW graph over the embeddings: `auto` from 200,000 distinct unit vectors on,
        /// where scanning them all would cost more than embedding the query; below that the
        /// scan is exact and no slower. Without it, the choice of the index's last build
        /// (`auto` for a new index), which `ask`'s own rebuilds keep too.
        #[arg(long, value_enum)]
        graph: Option<GraphArg>,
    },
    /// Answer a question; builds or refreshes the index first when needed.
    Ask(AskArgs),
    /// Measure retrieval quality on judged queries (the bundled set by default).
    Eval(EvalArgs),
    /// The Q&A pairs closest to one pair (by id) or to the best match of a text.
    Related(RelatedArgs),
    /// Group the corpus into topics; optionally draw a map of them.
    Topics(TopicsArgs),
    /// Keep the model and the index loaded and answer over HTTP: a JSON API and a web page to
    /// ask in. Follows rebuilds of the index without a restart.
    Serve(serve::ServeArgs),
    /// Answer an agent over the Model Context Protocol on stdin and stdout: tools `ask`,
    /// `related`, `get_pair` and `topics`.
    Mcp,
    /// Print a completion script for a shell, e.g. `antwort completions bash >
    /// ~/.local/share/bash-completion/completions/antwort`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `antwort manpage > ~/.local/share/man/man1/antwort.1`.
    Manpage,
}

#[derive(Args, Debug)]
pub struct RelatedArgs {
    /// A pair's id, or any text (its best match is taken).
    pub target: String,
    #[arg(long, short = 'k', default_value_t = 5)]
    pub top_k: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TopicsArgs {
    /// Draw the topic map into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Which part of the bundled judged queries to use.
    #[arg(long, value_enum, default_value_t = Split::Dev)]
    pub split: Split,
    /// Queries: TSV (`qid<TAB>text`) or BEIR queries.jsonl; needs --qrels.
    #[arg(long, requires = "qrels", conflicts_with = "beir")]
    pub queries: Option<PathBuf>,
    /// Judgments: TREC qrels or BEIR qrels TSV.
    #[arg(long, requires = "queries", conflicts_with = "beir")]
    pub qrels: Option<PathBuf>,
    /// A BEIR data set directory (corpus.jsonl, queries.jsonl, qrels/test.tsv); its index is
    /// kept in DIR/antwort-index.
    #[arg(long, value_name = "DIR")]
    pub beir: Option<PathBuf>,
    #[command(flatten)]
    pub fusion: FusionArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write a TREC run file per mode into DIR.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Try a grid of fusion and rerank settings and report the best.
    #[arg(long)]
    pub sweep: bool,
    /// The default and each of its stages on several judged sets, one table with the macro
    /// average and every set where the default falls below a stage: `bundled` (the bundled
    /// judged queries of --split) or BEIR directories, e.g. `--suite bundled data/*/`.
    #[arg(long, value_name = "SET", num_args = 1.., conflicts_with_all = ["beir", "queries", "sweep", "run_dir"])]
    pub suite: Vec<PathBuf>,
    /// Where --suite keeps each BEIR set's index, built once and reused: DIR/<set name>.
    #[arg(long, value_name = "DIR", default_value = "suite-index")]
    pub suite_index: PathBuf,
    /// Only the first N queries of each set, in file order: for a stage too slow for all of
    /// them, such as a cross-encoder over long answers. The table says how many were judged.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_queries: Option<u64>,
}

/// `antwort index --graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Md,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    Dev,
    Heldout,
    All,
}

#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question, in German or English.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    pub query: Option<String>,
    /// Answer every line of FILE (one query per line) and print JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
    /// Number of answers.
    #[arg(long, short = 'k', default_value_t = SearchOptions::DEFAULT_TOP_K)]
    pub top_k: usize,
    #[arg(long, value_parser = mode_parser(), default_value = "rerank")]
    pub mode: Mode,
    /// Skip reranking: the same as --mode hybrid when the mode is rerank.
    #[arg(long)]
    pub no_rerank: bool,
    #[command(flatten)]
    pub fusion: FusionArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show each hit's rank and score in every stage, and the time each stage took.
    #[arg(long)]
    pub explain: bool,
    /// Only answers whose metadata (or section) FIELD has VALUE, e.g. `--filter section=advanced
    /// --filter tags=gan`; different fields must all match, several values of one field are
    /// alternatives; names and values ignore case.
    #[arg(long = "filter", value_name = "FIELD=VALUE", value_parser = condition_parser)]
    pub filters: Vec<Condition>,
}

/// `--filter`: one `field=value` condition.
fn condition_parser(text: &str) -> Result<Condition, String> {
    text.parse::<Condition>().map_err(|e| e.to_string())
}

#[derive(Args, Debug, Clone)]
pub struct FusionArgs {
    /// Fusion method for --mode hybrid.
    #[arg(long, value_enum, default_value_t = FusionMethod::Convex)]
    pub fusion: FusionMethod,
    /// RRF's k.
    #[arg(long, default_value_t = Fusion::DEFAULT_RRF_K)]
    pub rrf_k: f32,
    /// Weight of the dense arm in convex fusion, in [0, 1].
    #[arg(long, default_value_t = Fusion::DEFAULT_ALPHA)]
    pub alpha: f32,
    /// Weigh both arms the same for every query instead of by how much of the query BM25 sees.
    #[arg(long)]
    pub fixed_weights: bool,
    /// Candidates per arm before fusion [default: max(5 x top-k, 50)].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Fused candidates the reranker rescores; answers ranked below follow in fused order, scored
    /// just under the reranked ones (before the lift towards the best answer).
    #[arg(long, default_value_t = antwort::rerank::DEFAULT_RERANK_DEPTH)]
    pub rerank_depth: usize,
    /// How much the answers after the best follow their relatedness to it, in units of the
    /// spread of the reranked scores; 0 keeps the reranker's order [default: 1 with the
    /// built-in reranker, 0 with a cross-encoder].
    #[arg(long)]
    pub related_weight: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FusionMethod {
    Rrf,
    Convex,
}

impl FusionArgs {
    pub fn fusion(&self) -> anyhow::Result<Fusion> {
        let adaptive = !self.fixed_weights;
        if self.rrf_k.is_nan() || self.rrf_k <= 0.0 {
            bail!("--rrf-k must be positive, got {}", self.rrf_k);
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            bail!("--alpha must be between 0 and 1, got {}", self.alpha);
        }
        let fusion = match self.fusion {
            FusionMethod::Rrf => Fusion::Rrf {
                k: self.rrf_k,
                adaptive,
            },
            FusionMethod::Convex => Fusion::Convex {
                alpha: self.alpha,
                adaptive,
            },
        };
        Ok(fusion)
    }

    pub fn options(&self, mode: Mode, top_k: usize) -> anyhow::Result<SearchOptions> {
        self.options_with(mode, top_k, self.fusion()?)
    }

    /// The options these flags give, with `fusion` in place of the flags' own.
    pub fn options_with(
        &self,
        mode: Mode,
        top_k: usize,
        fusion: Fusion,
    ) -> anyhow::Result<SearchOptions> {
        if top_k == 0 {
            bail!("--top-k must be at least 1");
        }
        if let Some(weight) = self.related_weight {
            if !(weight.is_finite() && weight >= 0.0) {
                bail!("--related-weight must be 0 or more, got {weight}");
            }
        }
        let mut options = SearchOptions::new(mode, top_k, fusion);
        if let Some(depth) = self.depth {
            options.depth = depth.max(top_k);
        }
        options.rerank_depth = self.rerank_depth.max(1);
        options.related_weight = self.related_weight;
        Ok(options)
    }
}

/// `--mode`: the library's modes, listed with what they do.
fn mode_parser() -> impl TypedValueParser<Value = Mode> {
    PossibleValuesParser::new(Mode::ALL.map(|m| PossibleValue::new(m.name()).help(m.about())))
        .try_map(|name| name.parse::<Mode>())
}

/// How long loading the embedding model took in this process, for `--explain`.
static MODEL_LOAD: OnceLock<Duration> = OnceLock::new();

/// Loads the embedding model, remembering how long it took.
fn load_encoder(
    models: &ModelFiles,
    threads: usize,
    scope: TokenizerScope,
) -> anyhow::Result<E5Encoder> {
    let encoder = E5Encoder::load(models, threads, scope)?;
    let _ = MODEL_LOAD.set(encoder.load_time());
    Ok(encoder)
}

/// The build's progress as a bar on the terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Parses the command line and runs it.
/// Whether `error` comes from writing to a pipe whose reader has gone.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Index {
            corpus,
            full,
            graph,
        } => {
            let options = BuildOptions {
                reuse: if *full {
                    Reuse::Nothing
                } else {
                    Reuse::Unchanged
                },
                graph: match graph {
                    Some(GraphArg::Auto) => GraphPolicy::Auto,
                    Some(GraphArg::Always) => GraphPolicy::Always,
                    Some(GraphArg::Never) => GraphPolicy::Never,
                    None => last_graph_policy(&IndexDir::new(&cli.index)),
                },
            };
            index(&cli, corpus.as_deref(), options)
        }
        Command::Ask(args) => ask(&cli, args),
        Command::Eval(args) => eval::run(&cli, args),
        Command::Related(args) => topics::related(&cli, args),
        Command::Topics(args) => topics::topics(&cli, args),
        Command::Serve(args) => serve::run(&cli, args),
        Command::Mcp => mcp::run(&cli),
        Command::Completions { shell } => {
            // Into a buffer first: `generate` panics on a write error such as a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "antwort", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(())
        }
        Command::Manpage => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            std::io::stdout().write_all(&page)?;
            Ok(())
        }
    }
}

fn index(cli: &Cli, corpus_path: Option<&Path>, options: BuildOptions) -> anyhow::Result<()> {
    let source = corpus_path.map_or(CorpusSource::Bundled, |p| {
        CorpusSource::File(p.to_path_buf())
    });
    let corpus = Corpus::load(&source).context("nothing was indexed")?;
    // The manifest keeps the path to check freshness from any working directory later.
    let source = match source {
        CorpusSource::File(path) => CorpusSource::File(
            std::fs::canonicalize(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
        ),
        bundled => bundled,
    };
    let models = ModelFiles::locate(cli.model_dir.as_deref())?;
    let dir = lock_for_build(&IndexDir::new(&cli.index))?;
    // A build that had to wait for another one may find that one did its work already.
    if dir.waited()
        && dir.corpus_source().ok().flatten().as_ref() == Some(&source)
        && dir.staleness(&corpus, models.model_checksum())?.is_none()
    {
        eprintln!(
            "antwort: another process just indexed {source} into {}; left as it is",
            dir.root().display()
        );
        return Ok(());
    }
    let encoder = load_encoder(&models, cli.threads, TokenizerScope::Whole)?;
    build(&dir, &corpus, &source, &encoder, options)?;
    Ok(())
}

/// Takes the build lock of `dir`, saying so if another build holds it.
fn lock_for_build(dir: &IndexDir) -> anyhow::Result<BuildLock> {
    let lock = dir.lock_for_build(|| {
        eprintln!(
            "antwort: waiting for another build of {} to finish",
            dir.root().display()
        );
    })?;
    Ok(lock)
}

fn build(
    dir: &IndexDir,
    corpus: &Corpus,
    source: &CorpusSource,
    encoder: &dyn Encoder,
    options: BuildOptions,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} units, {eta} left")
            .expect("valid template")
            .progress_chars("=> "),
    );
    progress.set_message(format!("embedding (corpus of {} pairs)", corpus.len()));
    let manifest = dir
        .build_with(corpus, source, encoder, &Bar(progress.clone()), options)
        .with_context(|| format!("index at {} left as it was", dir.root().display()))?;
    progress.finish_and_clear();
    eprintln!(
        "indexed {} Q&A pairs ({} units) from {source} into {} in {:.1} s",
        manifest.documents,
        manifest.units,
        dir.root().display(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{}", build_summary(&manifest.build));
    Ok(())
}

/// What a build embedded and reused, and where its time went.
fn build_summary(stats: &BuildStats) -> String {
    let s = &stats.seconds;
    let rate = if s.embed > 0.0 {
        format!(", {:.0} tokens/s", stats.tokens_embedded as f64 / s.embed)
    } else {
        String::new()
    };
    format!(
        "  embedded {} pairs ({} units, {} tokens{rate}), reused {}\n  \
         seconds: lexical {:.1}, embedding {:.1}, token states {:.1}, vectors {:.1}, pair space {:.1}, \
         calibration {:.1}",
        stats.pairs_embedded,
        stats.units_embedded,
        stats.tokens_embedded,
        stats.pairs_reused,
        s.lexical,
        s.embed,
        s.tokens,
        s.vectors,
        s.pairs,
        s.calibrate,
    )
}

/// Opens the index for querying, building or rebuilding it first when it is missing or stale;
/// `scope` says what the searcher's model will read.
pub fn open_searcher(cli: &Cli, mode: Mode, scope: TokenizerScope) -> anyhow::Result<Searcher> {
    open_searcher_in(cli, &IndexDir::new(&cli.index), None, mode, scope)
}

/// [`open_searcher`] for the index in `dir`, of `source` if given, else of the corpus the index
/// was built from (the bundled one for a new index).
pub fn open_searcher_in(
    cli: &Cli,
    dir: &IndexDir,
    source: Option<CorpusSource>,
    mode: Mode,
    scope: TokenizerScope,
) -> anyhow::Result<Searcher> {
    let weight = cli.reranker_weight;
    if cli.reranker.is_some() && !(0.0..=1.0).contains(&weight) {
        bail!("--reranker-weight must be between 0 and 1, got {weight}");
    }
    let Opened {
        index,
        encoder,
        pairs,
        models,
    } = open_parts(cli, dir, source, mode, scope, 1)?;
    let encoder = encoder.map(|e| Box::new(e) as Box<dyn Encoder>);
    let mut searcher = Searcher::new(index, encoder);
    if let Some(pairs) = pairs {
        searcher = searcher.with_pair_space(pairs);
    }
    match (&cli.reranker, mode, &models) {
        (Some(choice), Mode::Rerank, Some(models)) => {
            let dir = cross_encoder_dir(choice, models)?;
            let cross_encoder = CrossEncoder::load(&dir, models, cli.threads)?;
            let blended = Blended::new(cross_encoder, cli.reranker_weight)?;
            Ok(searcher.with_reranker(Box::new(blended)))
        }
        _ => Ok(searcher),
    }
}

/// `--reranker`'s name for the English cross-encoder that `scripts/fetch-models` installs.
const ENGLISH_RERANKER: &str = "ms-marco";

/// The directory `--reranker` names: the fetched English cross-encoder for
/// [`ENGLISH_RERANKER`] (unless a directory of that name is there), else the directory given.
fn cross_encoder_dir(choice: &Path, models: &ModelFiles) -> antwort::Result<PathBuf> {
    if choice == Path::new(ENGLISH_RERANKER) && !choice.exists() {
        models.english_reranker_dir()
    } else {
        Ok(choice.to_path_buf())
    }
}

/// What a searcher is made of, loaded: the live index (built or refreshed first when needed),
/// the model when `mode` needs it (with `sessions` ONNX sessions, see
/// [`E5Encoder::load_pool`]), the pair space with it.
pub(crate) struct Opened {
    pub index: Index,
    pub encoder: Option<E5Encoder>,
    pub pairs: Option<PairSpace>,
    pub models: Option<ModelFiles>,
}

/// The graph policy the index's last build was given: the default for a new index, and for
/// one whose manifest cannot be read (the rebuild that is about to happen replaces it).
fn last_graph_policy(dir: &IndexDir) -> GraphPolicy {
    dir.manifest()
        .ok()
        .flatten()
        .map(|m| m.graph)
        .unwrap_or_default()
}

pub(crate) fn open_parts(
    cli: &Cli,
    dir: &IndexDir,
    source: Option<CorpusSource>,
    mode: Mode,
    scope: TokenizerScope,
    sessions: usize,
) -> anyhow::Result<Opened> {
    let source = match source {
        Some(source) => source,
        None => dir.corpus_source()?.unwrap_or(CorpusSource::Bundled),
    };
    // BM25 over an existing index needs no model; everything else does.
    let models = match ModelFiles::locate(cli.model_dir.as_deref()) {
        Ok(models) => Some(models),
        Err(_) if dir.exists() && !mode.needs_embedder() => None,
        Err(e) => return Err(e.into()),
    };
    let mut encoder = None;
    if let Some(models) = &models {
        if let Some((_, corpus)) = staleness(dir, &source, models)? {
            let dir = lock_for_build(dir)?;
            // Asked again under the lock: a build that held it may have made the index fresh.
            if let Some(reason) = dir.staleness(&corpus, models.model_checksum())? {
                eprintln!(
                    "antwort: {reason}; building the index in {}",
                    dir.root().display()
                );
                let loaded = load_encoder(models, cli.threads, TokenizerScope::Whole)?;
                let options = BuildOptions {
                    graph: last_graph_policy(&dir),
                    ..BuildOptions::default()
                };
                build(&dir, &corpus, &source, &loaded, options)?;
                // The build's one session does for a query at a time; a pool is loaded anew.
                if sessions <= 1 {
                    encoder = Some(loaded);
                }
            }
        }
    }
    // The model takes longest to load; the index opens meanwhile.
    let (index, encoder, pairs) = std::thread::scope(|threads| {
        let loading = (encoder.is_none() && mode.needs_embedder()).then(|| {
            let models = models.as_ref().expect("dense modes located the models");
            threads.spawn(move || match sessions {
                0 | 1 => load_encoder(models, cli.threads, scope),
                sessions => Ok(E5Encoder::load_pool(models, cli.threads, sessions)?),
            })
        });
        let index = dir.open();
        // How the pairs relate (for the lift towards the best answer and "See also"), also
        // while the model loads.
        let pairs = match &index {
            Ok(index) if mode.needs_embedder() => Some(index.load_pair_space()),
            _ => None,
        };
        let encoder = match loading {
            Some(handle) => Some(handle.join().expect("model loading does not panic")?),
            None => encoder,
        };
        anyhow::Ok((index?, encoder, pairs.transpose()?))
    })?;
    Ok(Opened {
        index,
        encoder,
        pairs,
        models,
    })
}

fn staleness(
    dir: &IndexDir,
    source: &CorpusSource,
    models: &ModelFiles,
) -> anyhow::Result<Option<(Staleness, Corpus)>> {
    // Tens of megabytes of corpus are not parsed again to learn that they did not change.
    if dir.known_fresh(source, models.model_checksum()) {
        return Ok(None);
    }
    let corpus = match Corpus::load(source) {
        Ok(corpus) => corpus,
        Err(e) if dir.exists() => {
            eprintln!("antwort: warning: cannot re-read the corpus ({e}); answering from the existing index");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let reason = dir.staleness(&corpus, models.model_checksum())?;
    Ok(reason.map(|reason| (reason, corpus)))
}

fn ask(cli: &Cli, args: &AskArgs) -> anyhow::Result<()> {
    let mode = match args.mode {
        Mode::Rerank if args.no_rerank => Mode::Hybrid,
        mode => mode,
    };
    let options = args.fusion.options(mode, args.top_k)?;
    let queries = match (&args.query, &args.batch) {
        (Some(query), _) => vec![query.clone()],
        (None, Some(path)) => read_batch(path)?,
        (None, None) => unreachable!("clap requires a query or --batch"),
    };
    if queries.iter().any(|q| q.trim().is_empty()) {
        bail!("the query is empty; ask a question, e.g. antwort ask \"Was ist LoRA?\"");
    }
    // Punctuation or emoji alone give BM25 nothing and the model a vector near everything,
    // which would pass for a confident answer.
    if let Some(wordless) = queries
        .iter()
        .find(|q| !q.chars().any(char::is_alphanumeric))
    {
        bail!(
            "the query {wordless:?} has no words to search for; ask a question, e.g. antwort ask \"Was ist LoRA?\""
        );
    }
    // One tokenizer build covers every query of a batch.
    let searcher = open_searcher(cli, mode, TokenizerScope::Queries(&queries))?;
    let filter = Filter::new(args.filters.clone());
    // Checked against the corpus once, before any query: a filter that matches nothing fails
    // with what the corpus has, not with empty answers.
    let allowed = filter.allowed(searcher.corpus())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for query in &queries {
        let asked = Asked {
            query,
            options: &options,
            filter: &filter,
            allowed: allowed.as_ref(),
            explain: args.explain,
        };
        with_report(&searcher, &asked, |report| {
            if args.json || args.batch.is_some() {
                serde_json::to_writer(&mut out, report)?;
                writeln!(out)?;
            } else {
                report.write_text(&mut out, std::io::stdout().is_terminal())?;
            }
            anyhow::Ok(())
        })??;
    }
    out.flush()?;
    // The process ends here. Tearing down a 250,000-piece tokenizer and an ONNX session takes a
    // noticeable part of a cold `ask`; the operating system reclaims the memory at once.
    std::mem::forget(searcher);
    Ok(())
}

/// One question as `ask` and `serve` put it to a searcher.
pub(crate) struct Asked<'q> {
    pub query: &'q str,
    pub options: &'q SearchOptions,
    pub filter: &'q Filter,
    /// What `filter` lets through in the searcher's corpus.
    pub allowed: Option<&'q Allowed>,
    pub explain: bool,
}

/// Answers `asked` and hands the report, "See also" included, to `present`: the one shape
/// that `ask --json` prints and `POST /v1/ask` returns.
pub(crate) fn with_report<R>(
    searcher: &Searcher,
    asked: &Asked,
    present: impl FnOnce(&Report) -> R,
) -> anyhow::Result<R> {
    let Asked {
        query,
        options,
        filter,
        allowed,
        explain,
    } = *asked;
    let answers = searcher.search_within(query, options, allowed)?;
    let explain = if explain {
        Some(report::ExplainInput {
            fields: searcher
                .index()
                .lexical
                .field_scores_within(query, options.depth, allowed)?,
            terms: &answers.terms,
            model_load_ms: MODEL_LOAD.get().map(|d| d.as_secs_f64() * 1e3),
            reranker: (options.mode == Mode::Rerank).then(|| searcher.reranker_name()),
        })
    } else {
        None
    };
    let mut report = Report::new(searcher.corpus(), query, options, &answers, explain);
    report.filters = filter.conditions().iter().map(|c| c.to_string()).collect();
    if answers.confidence.is_some_and(|c| c.confident) {
        if let Some(top) = answers.hits.first() {
            // Under a filter, "See also" stays within it: the nearest allowed pairs, from
            // all pairs ranked (one pass over the pair space, as without a filter).
            let wanted = match allowed {
                None => SEE_ALSO,
                Some(_) => searcher.corpus().len(),
            };
            report.see_also = explore::related(searcher.pair_space(), top.doc, wanted)
                .into_iter()
                .filter(|r| allowed.is_none_or(|a| a.contains(r.doc)))
                .take(SEE_ALSO)
                .map(|r| report::SeeAlso {
                    id: r.id,
                    question: r.question,
                    similarity: r.similarity,
                })
                .collect();
        }
    }
    Ok(present(&report))
}

fn read_batch(path: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open batch file {}", path.display()))?;
    let mut queries = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}:{}: cannot read line", path.display(), i + 1))?;
        if !line.trim().is_empty() {
            queries.push(line.trim().to_string());
        }
    }
    if queries.is_empty() {
        bail!("{}: no queries (one query per line)", path.display());
    }
    Ok(queries)
}
