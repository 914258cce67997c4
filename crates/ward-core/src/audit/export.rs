//! The audit exporter: copies the trail, in `seq` order, to each configured sink (file,
//! syslog). Each sink's position is stored in the database, so a sink that fails falls behind
//! and catches up later — it never loses records and never blocks the trail itself. Failures
//! raise the `ward_audit_export_failures_total` alert counter and a warning in the log.

use std::sync::Arc;
use std::time::Duration;

use ward_audit::export::{ExportRecord, Sink};
use ward_store::Store;

use crate::metrics;

fn cursor_name(sink: &str) -> String {
    format!("audit/export/{sink}")
}

async fn cursor(store: &dyn Store, sink: &str) -> u64 {
    store
        .get_meta(&cursor_name(sink))
        .await
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The last `seq` sink `sink` (`file`, `syslog`) has exported (0 when none).
pub async fn export_position(store: &dyn Store, sink: &str) -> u64 {
    cursor(store, sink).await
}

/// Runs one sink forever (spawn it).
pub async fn run_exporter(store: Arc<dyn Store>, mut sink: Box<dyn Sink>) {
    let name = sink.name().to_owned();
    let mut backoff = Duration::from_millis(500);
    loop {
        let after = cursor(store.as_ref(), &name).await;
        let rows = match store.audit_rows(after, 500).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(sink = %name, code = e.code(), "audit export cannot read the trail");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        if rows.is_empty() {
            metrics::set_export_lag(&name, 0);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let batch: Vec<ExportRecord> = rows
            .iter()
            .map(|r| {
                let event = r
                    .body
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_else(|| "null".into());
                let recorded = serde_json::from_str::<serde_json::Value>(&event)
                    .ok()
                    .and_then(|v| {
                        v.get("recorded")
                            .and_then(|r| r.as_str())
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                ExportRecord {
                    seq: r.seq,
                    hash: hex::encode(r.hash),
                    recorded,
                    event,
                }
            })
            .collect();
        let last = batch.last().map_or(after, |r| r.seq);
        metrics::set_export_lag(&name, batch.len() as u64);
        match sink.export(&batch).await {
            Ok(()) => {
                backoff = Duration::from_millis(500);
                if let Err(e) = store
                    .put_meta(&cursor_name(&name), last.to_string().as_bytes())
                    .await
                {
                    tracing::warn!(sink = %name, code = e.code(), "audit export cannot record its position");
                }
            }
            Err(e) => {
                metrics::export_failed(&name);
                tracing::warn!(sink = %name, error = %e, "ALERT: audit export failed; it will retry without losing records");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}
