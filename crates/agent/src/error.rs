//! Errors of the local agent.

use std::path::PathBuf;
use std::time::Duration;

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A filesystem or socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The engine binary could not be started (usually: not installed).
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// Binary we tried to execute.
        binary: String,
        /// Underlying error from exec.
        source: std::io::Error,
    },
    /// The node did not answer its health probe in time.
    #[error("node {key} did not become ready within {waited:?}")]
    NotReady {
        /// Node key.
        key: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The node's process exited while we waited for it; its log usually says why.
    #[error("node {key} exited during startup: {said} (log {log})")]
    Exited {
        /// Node key.
        key: String,
        /// Log file of the node.
        log: PathBuf,
        /// The log's last line, usually the engine's reason.
        said: String,
    },
    /// The spec cannot be rendered safely (e.g. a newline inside a directive).
    #[error("invalid spec for node {key}: {reason}")]
    InvalidSpec {
        /// Node key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The process ignored SIGTERM and SIGKILL.
    #[error("node {key} (pid {pid}) did not exit")]
    StopFailed {
        /// Node key.
        key: String,
        /// Process id that would not die.
        pid: u32,
    },
    /// A command to the node failed or got no answer.
    #[error("node {node}: {message}")]
    Node {
        /// The node's address.
        node: String,
        /// What went wrong.
        message: String,
    },
    /// The request names a node this agent was never asked to run.
    #[error("node {0} is not known to this agent")]
    UnknownNode(String),
    /// The agent could not be reached or refused the caller.
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    /// The agent carried out the request and it failed; its message.
    #[error("{0}")]
    Remote(String),
    /// The agent answered a request with a reply of another kind (a version mismatch).
    #[error("unexpected agent reply: {0}")]
    UnexpectedReply(String),
}
