//! Export sinks for the audit trail. The database is the trail of record; sinks receive copies
//! in `seq` order from an exporter that remembers how far each sink got, so a failing sink
//! delays its copy (and raises an alert) but never loses records and never blocks the store.

mod file;
mod syslog;

use async_trait::async_trait;

pub use file::FileSink;
pub use syslog::{SyslogConfig, SyslogSink, frame_rfc5424};

/// One record handed to a sink.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    pub seq: u64,
    /// Hex of the chain hash.
    pub hash: String,
    /// FHIR instant of the event.
    pub recorded: String,
    /// The AuditEvent JSON text.
    pub event: String,
}

/// A sink failure (messages carry no record content).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export I/O failed: {0}")]
    Io(String),
    #[error("the export destination is misconfigured: {0}")]
    Config(String),
}

/// A destination for audit records. `export` returns only once the batch is written (or fails
/// as a whole); the exporter then advances its cursor.
#[async_trait]
pub trait Sink: Send {
    /// A stable name for metrics and logs.
    fn name(&self) -> &str;
    /// Writes `batch` (in `seq` order).
    async fn export(&mut self, batch: &[ExportRecord]) -> Result<(), ExportError>;
}
