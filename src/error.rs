//! One error type for the library, so that every failure a user can cause or fix (bad corpus
//! line, missing model, stale index) reaches the CLI as a sentence that says what is wrong and
//! what to do, instead of a panic or a bare I/O error.

use std::path::PathBuf;

/// Result alias used across the pipeline.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A corpus file is malformed; `line` is 1-based, 0 when the problem is the whole file.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Corpus {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A model (embedding, reranker) or ONNX Runtime is missing, damaged or the wrong version.
    #[error("{message}\n  fix: {fix}")]
    Model { message: String, fix: String },

    /// The index directory is missing, damaged or was built by an incompatible version.
    #[error("index at {}: {message}", path.display())]
    Index {
        path: PathBuf,
        message: String,
        /// What failed underneath (a tantivy, hnsw_rs or JSON error), when something did.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A file of judged queries, judgments (qrels) or a run is malformed; `line` is 1-based, 0
    /// when the problem is the whole file.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Judgments {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A user-supplied option is out of range or inconsistent.
    #[error("{0}")]
    Usage(String),

    /// Something antwort itself got wrong: an invariant between its own parts broke.
    #[error("internal error: {0}; this is a bug in antwort, please report it")]
    Internal(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("lexical index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),

    #[error("the embedding model failed")]
    Embedding {
        #[source]
        source: fastembed::Error,
    },

    /// Drawing the topic map failed.
    #[error("cannot draw the topic map: {0}")]
    Map(String),
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

impl Error {
    pub(crate) fn corpus(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Corpus {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn judgments(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Judgments {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn index(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Index {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Index`] caused by `source`.
    pub(crate) fn index_caused(
        path: impl Into<PathBuf>,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Index {
            path: path.into(),
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Attaches a human-readable context to I/O errors, in the manner of `anyhow::Context`, without
/// giving up the typed error.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
