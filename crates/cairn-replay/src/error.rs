//! The errors of this crate: bad user input (paths, tolerances, templates) and
//! candidates that cannot be started. A candidate failing on one entry is not an
//! error of the run: it is recorded per entry ([`crate::run::Reply::Failed`]).

/// Why a replay could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A JSON path given by the user does not parse.
    #[error("bad JSON path {path:?}: {reason}")]
    BadPath {
        /// The text given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--tolerance` does not parse.
    #[error("bad tolerance {text:?}: {reason} (expected PATH=ABS[,REL], e.g. $.score=0.01,0.05)")]
    BadTolerance {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request template is not valid JSON.
    #[error("bad request template: {reason}")]
    BadTemplate {
        /// What the parser said.
        reason: String,
    },
    /// The candidate URL is not usable.
    #[error("bad candidate URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {reason}")]
    HttpClient {
        /// What the client library said.
        reason: String,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {reason}")]
    Runtime {
        /// What the operating system said.
        reason: String,
    },
    /// A candidate subprocess could not be started.
    #[error("cannot start candidate command {command:?}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}
