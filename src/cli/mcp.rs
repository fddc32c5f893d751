//! `antwort mcp`: the searcher as a Model Context Protocol server over stdio, so that an agent
//! can use the corpus as the retrieval step of its answers and cite what it found.
//!
//! Tools: `ask`, `related`, `get_pair`, `topics`. Every result carries the pairs' ids,
//! questions and answers (for `ask`, also the matched sentence and the score), as structured
//! content and as the same JSON in text. Stdout is the protocol's; messages go to stderr.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::live::{checked_query, checked_top_k, LiveIndex};
use super::{with_report, Asked, Cli};
use antwort::explore;
use antwort::retrieve::filter::{Condition, Filter};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};

/// How often to look for a rebuilt index.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AskArguments {
    /// The question, in German or English.
    query: String,
    /// How many answers, best first (1 to 100; default 5).
    top_k: Option<usize>,
    /// `FIELD=VALUE` conditions on the pairs' section or metadata, e.g. `section=advanced`;
    /// all must hold.
    #[serde(default)]
    filters: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RelatedArguments {
    /// The id of a pair, as `ask` returns it.
    id: String,
    /// How many related pairs (1 to 100; default 5).
    top_k: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PairArguments {
    /// The id of a pair, as `ask` returns it.
    id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TopicsArguments {}

#[derive(Clone)]
struct Tools {
    index: Arc<LiveIndex>,
    tool_router: ToolRouter<Self>,
}

/// Runs `work` off the protocol's threads, in its turn: it embeds and ranks
/// ([`LiveIndex::run`]).
async fn blocking(
    index: &LiveIndex,
    work: impl FnOnce() -> Result<CallToolResult, String> + Send + 'static,
) -> Result<CallToolResult, String> {
    (index.run(work).await).map_err(|e| format!("the tool failed inside the server: {e}"))?
}

#[tool_router]
impl Tools {
    fn new(index: Arc<LiveIndex>) -> Tools {
        Tools {
            index,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Search the Q&A corpus: the answers to a question, best first, each with its id, question, section, the answer, the sentence that matched best (excerpt) and a score; `confident` is false when the corpus does not seem to answer it."
    )]
    async fn ask(
        &self,
        Parameters(arguments): Parameters<AskArguments>,
    ) -> Result<CallToolResult, String> {
        let query = checked_query(&arguments.query)?.to_string();
        let k = checked_top_k(arguments.top_k.unwrap_or(SearchOptions::DEFAULT_TOP_K))?;
        let conditions = (arguments.filters.iter())
            .map(|text| text.parse::<Condition>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let live = self.index.live();
        blocking(&self.index, move || {
            let searcher = &live.searcher;
            let options = SearchOptions::new(Mode::Rerank, k, DEFAULT_FUSION);
            let filter = Filter::new(conditions);
            let allowed = filter
                .allowed(searcher.corpus())
                .map_err(|e| e.to_string())?;
            let asked = Asked {
                query: &query,
                options: &options,
                filter: &filter,
                allowed: allowed.as_ref(),
                explain: false,
            };
            let report = with_report(searcher, &asked, |report| serde_json::to_value(report))
                .map_err(|e| format!("{e:#}"))?
                .map_err(|e| e.to_string())?;
            Ok(CallToolResult::structured(report))
        })
        .await
    }

    #[tool(
        description = "The pairs of the corpus closest to one pair (by id), closest first: for moving on from an answer."
    )]
    async fn related(
        &self,
        Parameters(arguments): Parameters<RelatedArguments>,
    ) -> Result<CallToolResult, String> {
        let k = checked_top_k(arguments.top_k.unwrap_or(5))?;
        let live = self.index.live();
        blocking(&self.index, move || {
            let doc = find(&live.searcher, &arguments.id)?;
            let pair = live.searcher.corpus().get(doc);
            let related = explore::related(live.searcher.pair_space(), doc, k);
            Ok(CallToolResult::structured(
                json!({"id": pair.id, "question": pair.question, "related": related}),
            ))
        })
        .await
    }

    #[tool(
        description = "One Q&A pair by id: its question, answer, section and metadata, to quote it in full."
    )]
    async fn get_pair(
        &self,
        Parameters(arguments): Parameters<PairArguments>,
    ) -> Result<CallToolResult, String> {
        let live = self.index.live();
        let doc = find(&live.searcher, &arguments.id)?;
        let pair =
            serde_json::to_value(live.searcher.corpus().get(doc)).map_err(|e| e.to_string())?;
        Ok(CallToolResult::structured(pair))
    }

    #[tool(
        description = "The corpus grouped into topics, largest first: each with its label, key terms and the ids and questions of its pairs."
    )]
    async fn topics(
        &self,
        Parameters(_): Parameters<TopicsArguments>,
    ) -> Result<CallToolResult, String> {
        let live = self.index.live();
        blocking(&self.index, move || {
            let corpus = live.searcher.corpus();
            let topics: Vec<_> = (live.topics().0.topics.iter())
                .map(|topic| {
                    let pairs: Vec<_> = (topic.docs.iter())
                        .map(|&doc| {
                            let pair = corpus.get(doc);
                            json!({"id": pair.id, "question": pair.question})
                        })
                        .collect();
                    json!({"label": topic.label, "terms": topic.terms, "pairs": pairs})
                })
                .collect();
            Ok(CallToolResult::structured(json!({"topics": topics})))
        })
        .await
    }
}

fn find(searcher: &antwort::search::Searcher, id: &str) -> Result<usize, String> {
    searcher
        .corpus()
        .position(id)
        .ok_or_else(|| format!("no pair has the id {id:?}; the ids are those `ask` returns"))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        let pairs = self.index.live().searcher.corpus().len();
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("antwort", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Semantic search over a corpus of {pairs} question-and-answer pairs (German and \
                 English questions alike). Call `ask` with the user's question and cite the \
                 answers by id; `get_pair` gives a pair in full, `related` its neighbours, \
                 `topics` an overview of the corpus."
            ))
    }
}

pub fn run(cli: &Cli) -> anyhow::Result<()> {
    // An agent asks one question at a time: one session.
    let index = Arc::new(LiveIndex::open(cli, 1)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
        tokio::spawn(Arc::clone(&index).follow_rebuilds(RELOAD_EVERY));
        eprintln!(
            "antwort: MCP server on stdio over {} pairs from {}",
            index.live().searcher.corpus().len(),
            cli.index.display()
        );
        let service = Tools::new(index)
            .serve(rmcp::transport::stdio())
            .await
            .context("the MCP session could not start")?;
        service.waiting().await.context("the MCP session failed")?;
        anyhow::Ok(())
    })
}
