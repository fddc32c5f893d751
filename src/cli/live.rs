//! The index a long-running process answers from (`serve`, `mcp`): the model loaded once, the
//! live generation opened, and each generation a rebuild makes live opened in its turn.
//!
//! When a rebuild switches `CURRENT`, the new generation is opened beside the old one and
//! swapped in once it is ready: requests in flight finish on the generation they started on,
//! which stays on disk until the last of them lets it go.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};

use super::{open_parts, Cli, Opened};
use antwort::embed::{E5Encoder, TokenizerScope};
use antwort::explore::{self, map_svg, Topics};
use antwort::index::IndexDir;
use antwort::search::{Mode, Searcher};

/// Requests running the pipeline at once, per core ([`LiveIndex::run`]).
const RUNNING_PER_CORE: usize = 2;

/// Answers (or related pairs) a request may ask for at most.
pub const MAX_TOP_K: usize = 100;
/// Characters of a query at most: the model reads 512 tokens of it anyway.
pub const MAX_QUERY_CHARS: usize = 4096;

/// `query` trimmed, or what is wrong with it: a request's question as `serve` and `mcp` take it.
pub fn checked_query(query: &str) -> Result<&str, String> {
    let query = query.trim();
    if query.is_empty() {
        return Err("the query is empty; ask a question, e.g. \"Was ist LoRA?\"".into());
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(format!(
            "the query has {chars} characters; at most {MAX_QUERY_CHARS} are read"
        ));
    }
    // Punctuation alone gives BM25 nothing and the model a vector near everything.
    if !query.chars().any(char::is_alphanumeric) {
        return Err("the query has no words to search for; ask a question".into());
    }
    Ok(query)
}

/// `top_k` if it is in 1..=[`MAX_TOP_K`], else what is wrong with it.
pub fn checked_top_k(top_k: usize) -> Result<usize, String> {
    match top_k {
        1..=MAX_TOP_K => Ok(top_k),
        _ => Err(format!(
            "top_k must be between 1 and {MAX_TOP_K}, got {top_k}"
        )),
    }
}

/// One generation of the index, ready to answer.
pub struct Live {
    pub searcher: Searcher,
    /// Clustered on first use: a large corpus takes seconds.
    topics: OnceLock<(Topics, Result<String, String>)>,
}

impl Live {
    fn new(searcher: Searcher) -> Live {
        Live {
            searcher,
            topics: OnceLock::new(),
        }
    }

    /// The corpus's topics, and their map as SVG (or why it could not be drawn).
    pub fn topics(&self) -> &(Topics, Result<String, String>) {
        self.topics.get_or_init(|| {
            let topics = explore::topics(self.searcher.pair_space());
            let svg = map_svg(&topics).map_err(|e| e.to_string());
            (topics, svg)
        })
    }
}

/// The live generation of an index directory with the model that answers from it.
pub struct LiveIndex {
    live: RwLock<Arc<Live>>,
    encoder: Arc<E5Encoder>,
    dir: IndexDir,
    /// Requests that run the pipeline at once: two a core, so that a core has the next stage
    /// of one request to run while another waits for a session. The others wait their turn
    /// in the order they came (tokio's semaphore is fair), rather than all running at once
    /// and taking turns at the model's locks and the cores in whatever order the scheduler
    /// picks, which kept a few requests waiting many times as long as the rest.
    running: tokio::sync::Semaphore,
}

impl LiveIndex {
    /// Opens `--index` as `ask` does: built or refreshed first when it needs to be; the model
    /// with `sessions` ONNX sessions, to embed that many queries at once.
    pub fn open(cli: &Cli, sessions: usize) -> anyhow::Result<LiveIndex> {
        if cli.reranker.is_some() {
            bail!("a server reranks with the built-in reranker only; leave out --reranker");
        }
        let dir = IndexDir::new(&cli.index);
        let Opened {
            index,
            encoder,
            pairs,
            ..
        } = open_parts(
            cli,
            &dir,
            None,
            Mode::Rerank,
            TokenizerScope::Whole,
            sessions,
        )?;
        let encoder = Arc::new(encoder.context("a server needs the embedding model")?);
        let pairs = pairs.context("a server needs the pair space")?;
        let searcher =
            Searcher::new(index, Some(Box::new(Arc::clone(&encoder)))).with_pair_space(pairs);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(LiveIndex {
            live: RwLock::new(Arc::new(Live::new(searcher))),
            encoder,
            dir,
            running: tokio::sync::Semaphore::new(RUNNING_PER_CORE * cores),
        })
    }

    /// Runs `work` (the pipeline: model, scans, MaxSim) on a thread made for blocking, once
    /// its turn has come ([`LiveIndex::running`]).
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, String> {
        let _turn = (self.running.acquire().await).map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| e.to_string())
    }

    /// The generation to answer the next request from.
    pub fn live(&self) -> Arc<Live> {
        Arc::clone(&self.live.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The live generation on disk, opened with the loaded model.
    fn open_live(&self) -> anyhow::Result<Live> {
        let index = self.dir.open()?;
        let pairs = index.load_pair_space()?;
        let searcher =
            Searcher::new(index, Some(Box::new(Arc::clone(&self.encoder)))).with_pair_space(pairs);
        Ok(Live::new(searcher))
    }

    /// Looks for a new live generation every `every`, and swaps each one in once it is open.
    /// One that cannot be opened is reported once; the process goes on with the one it has.
    pub async fn follow_rebuilds(self: Arc<Self>, every: Duration) {
        let mut failed: Option<String> = None;
        loop {
            tokio::time::sleep(every).await;
            let Some(name) = self.dir.current_name() else {
                continue;
            };
            let serving = self.live().searcher.index().generation().to_string();
            if name == serving || failed.as_ref() == Some(&name) {
                continue;
            }
            let opening = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || opening.open_live()).await {
                Ok(Ok(live)) => {
                    let now = live.searcher.index().generation().to_string();
                    *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
                    eprintln!("antwort: now serving the rebuilt index ({now})");
                    failed = None;
                }
                Ok(Err(e)) => {
                    eprintln!(
                        "antwort: cannot open the rebuilt index {name} ({e:#}); still serving {serving}"
                    );
                    failed = Some(name);
                }
                Err(e) => {
                    eprintln!(
                        "antwort: opening the rebuilt index {name} failed ({e}); still serving {serving}"
                    );
                    failed = Some(name);
                }
            }
        }
    }
}
