//! `antwort serve`: the model and the index loaded once, behind an HTTP API and a web page.
//!
//! One searcher answers every request thread, and follows rebuilds of the index
//! ([`LiveIndex`]): several servers can share one index directory, each on its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use super::live::{checked_query, checked_top_k, Live, LiveIndex, MAX_QUERY_CHARS, MAX_TOP_K};
use super::{with_report, Asked, Cli};
use antwort::explore;
use antwort::retrieve::filter::{Condition, Filter};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};

/// Bytes of a request body at most.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request that takes longer gets a 503 instead of holding its connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection whose request head (line and headers) takes longer is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
/// Everything the page loads comes from the server itself.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                           script-src 'self'; frame-ancestors 'none'";

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default: give 0.0.0.0:PORT to serve other machines.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Let web pages from this origin call the API (CORS), e.g. http://localhost:3000; may be
    /// given more than once. None by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Queries embedded at once: each is an ONNX session with its own copy of the model
    /// (about 300 MB more each), sharing --threads. Two on the default two threads let two
    /// clients' queries embed at once, which nearly doubles what concurrent clients get
    /// answered on two cores; 1 saves the memory (docs/EVALUATION.md, "Serving").
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub sessions: usize,
    /// How often to look for a rebuilt index, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub reload_ms: u64,
}

type Shared = Arc<LiveIndex>;

pub fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    if args.sessions == 0 {
        anyhow::bail!("--sessions must be at least 1");
    }
    let server: Shared = Arc::new(LiveIndex::open(cli, args.sessions)?);
    let pairs_served = server.live().searcher.corpus().len();
    let app = router(Arc::clone(&server), &args.cors_origins)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is another server running there? Choose another with --addr",
                    args.addr
                )
            })?;
        let addr = listener.local_addr()?;
        eprintln!(
            "antwort: serving {pairs_served} pairs from {} at http://{addr}/ (Ctrl-C stops)",
            cli.index.display()
        );
        tokio::spawn(Arc::clone(&server).follow_rebuilds(Duration::from_millis(
            args.reload_ms.max(10),
        )));
        accept(listener, app).await;
        eprintln!("antwort: stopped");
        anyhow::Ok(())
    })
}

/// Serves connections from `listener` until SIGINT or SIGTERM, then lets the requests in
/// flight finish (for up to [`REQUEST_TIMEOUT`]).
///
/// Through hyper-util rather than `axum::serve`, to give every connection a deadline for its
/// request head: a client that opens a connection and sends half a request would otherwise
/// hold it for good.
async fn accept(listener: tokio::net::TcpListener, app: Router) {
    let mut connections = ConnectionBuilder::new(TokioExecutor::new());
    connections
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    eprintln!("antwort: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = connections
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection the client broke off is the client's business.
            let _ = connection.await;
        });
    }
    if tokio::time::timeout(REQUEST_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("antwort: requests still in flight after {REQUEST_TIMEOUT:?}; stopping anyway");
    }
}

fn router(server: Shared, cors_origins: &[String]) -> anyhow::Result<Router> {
    let mut app = Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/ask", post(ask))
        .route("/v1/pairs/{id}", get(pair))
        .route("/v1/related/{id}", get(related))
        .route("/v1/topics", get(topics))
        .route("/v1/topics/map.svg", get(topic_map))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method; see /openapi.json",
            )
        })
        .with_state(server)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    if !cors_origins.is_empty() {
        let origins = cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .with_context(|| format!("--cors-origin {o:?} is not a valid origin"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE]),
        );
    }
    Ok(app)
}

const NOT_FOUND: &str = "no such endpoint; see /openapi.json for those there are";

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    eprintln!("antwort: stopping after the requests in flight");
}

/// An error as the API returns it: a status and `{"error": {"status", "message"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A failure of the pipeline: the client's fault when it is a usage error (a filter on an
    /// unknown field), the server's otherwise.
    fn from_search(error: anyhow::Error) -> ApiError {
        match error.downcast_ref::<antwort::Error>() {
            Some(antwort::Error::Usage(message)) => ApiError::bad_request(message.clone()),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// A JSON request body whose every fault (wrong content type, too large, malformed, wrong
/// types, unknown fields) is an [`ApiError`] saying which.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if content_type.is_some_and(|t| !t.starts_with("application/json")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            let status = e.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the request body is over {MAX_BODY_BYTES} bytes")
            } else {
                format!("cannot read the request body: {}", e.body_text())
            };
            ApiError::new(status, message)
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
    }
}

/// `POST /v1/ask`: the options of `antwort ask --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    query: String,
    #[serde(default = "default_top_k")]
    top_k: usize,
    #[serde(default)]
    mode: Option<String>,
    /// `FIELD=VALUE` conditions, as `--filter` takes them.
    #[serde(default)]
    filters: Vec<String>,
    #[serde(default)]
    explain: bool,
}

fn default_top_k() -> usize {
    SearchOptions::DEFAULT_TOP_K
}

async fn ask(
    State(server): State<Shared>,
    JsonBody(request): JsonBody<AskRequest>,
) -> Result<Response, ApiError> {
    let query = checked_query(&request.query)
        .map_err(ApiError::bad_request)?
        .to_string();
    let top_k = checked_top_k(request.top_k).map_err(ApiError::bad_request)?;
    let mode = match &request.mode {
        None => Mode::Rerank,
        Some(name) => name
            .parse::<Mode>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let conditions = (request.filters.iter())
        .map(|text| text.parse::<Condition>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let live = server.live();
    let explain = request.explain;
    blocking(&server, move || {
        let searcher = &live.searcher;
        let options = SearchOptions::new(mode, top_k, DEFAULT_FUSION);
        let filter = Filter::new(conditions);
        let allowed = filter
            .allowed(searcher.corpus())
            .map_err(|e| ApiError::from_search(e.into()))?;
        let asked = Asked {
            query: &query,
            options: &options,
            filter: &filter,
            allowed: allowed.as_ref(),
            explain,
        };
        with_report(searcher, &asked, |report| Json(report).into_response())
            .map_err(ApiError::from_search)
    })
    .await
}

/// Runs `work` on the server's pipeline, in its turn ([`LiveIndex::run`]).
async fn blocking<R: Send + 'static>(
    server: &LiveIndex,
    work: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    server.run(work).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed inside the server: {e}"),
        )
    })?
}

fn find(live: &Live, id: &str) -> Result<usize, ApiError> {
    live.searcher.corpus().position(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no pair has the id {id:?} in this index"),
        )
    })
}

async fn pair(State(server): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let live = server.live();
    let doc = find(&live, &id)?;
    Ok(Json(live.searcher.corpus().get(doc)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelatedQuery {
    #[serde(default = "default_related")]
    top_k: usize,
}

fn default_related() -> usize {
    5
}

async fn related(
    State(server): State<Shared>,
    Path(id): Path<String>,
    query: Result<Query<RelatedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let top_k = checked_top_k(query.top_k).map_err(ApiError::bad_request)?;
    let live = server.live();
    let doc = find(&live, &id)?;
    blocking(&server, move || {
        let pair = live.searcher.corpus().get(doc);
        let related = explore::related(live.searcher.pair_space(), doc, top_k);
        Ok(
            Json(json!({"id": pair.id, "question": pair.question, "related": related}))
                .into_response(),
        )
    })
    .await
}

async fn topics(State(server): State<Shared>) -> Result<Response, ApiError> {
    let live = server.live();
    blocking(&server, move || {
        let mut topics = serde_json::to_value(&live.topics().0)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        // Each point with its question, for a page to show what a point is.
        let corpus = live.searcher.corpus();
        for (point, pair) in
            (topics["points"].as_array_mut().into_iter().flatten()).zip(corpus.pairs())
        {
            point["question"] = json!(pair.question);
        }
        Ok(Json(topics).into_response())
    })
    .await
}

async fn topic_map(State(server): State<Shared>) -> Result<Response, ApiError> {
    let live = server.live();
    blocking(&server, move || match &live.topics().1 {
        Ok(svg) => Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg.clone()).into_response()),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot draw the topic map: {e}"),
        )),
    })
    .await
}

async fn health(State(server): State<Shared>) -> Response {
    let live = server.live();
    let index = live.searcher.index();
    Json(json!({
        "status": "ok",
        "generation": index.generation(),
        "pairs": index.corpus.len(),
        "model": index.manifest.model_id,
    }))
    .into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
        ],
        PAGE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI document of the routes in [`router`]; `tests/serve.rs` calls every path in it.
pub fn openapi_document() -> serde_json::Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let error_response = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    let id_parameter = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A pair's id"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "antwort",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Local semantic search over a question-and-answer corpus."
        },
        "paths": {
            "/v1/ask": {"post": {
                "summary": "Answer a question (the JSON of `antwort ask --json`)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AskRequest"}}}},
                "responses": {
                    "200": {"description": "The answers, best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}}},
                    "400": error_response("The request is not valid: what is wrong is in the message"),
                    "413": error_response("The body is too large"),
                    "415": error_response("The body is not JSON")
                }
            }},
            "/v1/pairs/{id}": {"get": {
                "summary": "One Q&A pair",
                "parameters": [id_parameter],
                "responses": {
                    "200": {"description": "The pair", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pair"}}}},
                    "404": error_response("No pair has this id")
                }
            }},
            "/v1/related/{id}": {"get": {
                "summary": "The pairs closest to one pair",
                "parameters": [id_parameter, {"name": "top_k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5}}],
                "responses": {
                    "200": {"description": "The pair and its neighbours, closest first", "content": {"application/json": {"schema": {"type": "object", "required": ["id", "question", "related"], "properties": {"id": {"type": "string"}, "question": {"type": "string"}, "related": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": error_response("top_k is out of range"),
                    "404": error_response("No pair has this id")
                }
            }},
            "/v1/topics": {"get": {
                "summary": "The corpus grouped into topics, with a map position per pair",
                "responses": {"200": {"description": "Topics, largest first", "content": {"application/json": {"schema": {"type": "object", "required": ["topics", "points"], "properties": {"topics": {"type": "array", "items": {"type": "object"}}, "points": {"type": "array", "items": {"type": "object"}}}}}}}}
            }},
            "/v1/topics/map.svg": {"get": {
                "summary": "The topic map as SVG",
                "responses": {"200": {"description": "The map", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}}
            }},
            "/healthz": {"get": {
                "summary": "Whether the server answers, and from which index generation",
                "responses": {"200": {"description": "It answers", "content": {"application/json": {"schema": {"type": "object", "required": ["status", "generation", "pairs", "model"], "properties": {"status": {"type": "string"}, "generation": {"type": "string"}, "pairs": {"type": "integer"}, "model": {"type": "string"}}}}}}}
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}
        },
        "components": {"schemas": {
            "AskRequest": {
                "type": "object",
                "additionalProperties": false,
                "required": ["query"],
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "description": "The question, German or English"},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": SearchOptions::DEFAULT_TOP_K},
                    "mode": {"type": "string", "enum": Mode::ALL.map(|m| m.name()), "default": "rerank"},
                    "filters": {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}, "description": "FIELD=VALUE conditions on section or metadata, as `--filter`"},
                    "explain": {"type": "boolean", "default": false, "description": "Add each stage's scores"}
                }
            },
            "Report": {
                "type": "object",
                "required": ["query", "mode", "fusion", "results", "timings_ms"],
                "properties": {
                    "query": {"type": "string"},
                    "mode": {"type": "string"},
                    "fusion": {"type": "string"},
                    "confident": {"type": ["boolean", "null"], "description": "False when the corpus does not seem to answer the query"},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                    "see_also": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "question": {"type": "string"}, "similarity": {"type": "number"}}}},
                    "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}}
                }
            },
            "Result": {
                "type": "object",
                "required": ["rank", "id", "section", "question", "answer", "score", "excerpt"],
                "properties": {
                    "rank": {"type": "integer"},
                    "id": {"type": "string"},
                    "section": {"type": "string"},
                    "question": {"type": "string"},
                    "answer": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "How close the answer is to the question, never above the answer before it; 0.5 is the index's threshold of a confident answer"},
                    "excerpt": {"type": "string", "description": "The answer sentence that matched best"},
                    "excerpt_byte_range": {"type": "array", "items": {"type": "integer"}},
                    "excerpt_match_byte_ranges": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                    "question_match_byte_ranges": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}
                }
            },
            "Pair": {
                "type": "object",
                "required": ["id", "question", "answer"],
                "properties": {
                    "id": {"type": "string"},
                    "section": {"type": "string"},
                    "question": {"type": "string"},
                    "answer": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {"status": {"type": "integer"}, "message": {"type": "string", "description": "What is wrong, and what to do"}}}}
            }
        }}
    })
}
