//! Errors that stop a run before or between measurements (setup, TLS, token, loading).
//! Per-request failures are not errors: they are counted in the report.

/// A failure that ends the command with a message.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid base URL: {0}")]
    BaseUrl(String),
    #[error("refusing target {0}: ward-bench only drives servers on loopback addresses")]
    NotLoopback(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("token command: {0}")]
    TokenCommand(String),
    #[error("load phase: {0}")]
    Load(String),
    #[error("invalid option: {0}")]
    Option(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
