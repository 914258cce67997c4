//! A few process metrics in Prometheus text format (no PHI: names, counts and sink names only).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static AUDIT_RECORDS: AtomicU64 = AtomicU64::new(0);
static EXPORT_FAILURES: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static EXPORT_LAG: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static AUDIT_INDEX_LAG: AtomicU64 = AtomicU64::new(0);

/// Records how many audit records still wait for their search index rows.
pub(crate) fn set_audit_index_lag(lag: u64) {
    AUDIT_INDEX_LAG.store(lag, Ordering::Relaxed);
}

/// Counts appended audit records.
pub(crate) fn audit_appended(n: usize) {
    AUDIT_RECORDS.fetch_add(n as u64, Ordering::Relaxed);
}

/// Counts a failed export attempt of `sink` (the alert).
pub(crate) fn export_failed(sink: &str) {
    if let Ok(mut m) = EXPORT_FAILURES.lock() {
        *m.entry(sink.to_owned()).or_default() += 1;
    }
}

/// Records how many records `sink` is behind.
pub(crate) fn set_export_lag(sink: &str, lag: u64) {
    if let Ok(mut m) = EXPORT_LAG.lock() {
        m.insert(sink.to_owned(), lag);
    }
}

/// The metrics as Prometheus exposition text.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("# HELP ward_audit_records_total Audit records appended by this process.\n");
    out.push_str("# TYPE ward_audit_records_total counter\n");
    out.push_str(&format!(
        "ward_audit_records_total {}\n",
        AUDIT_RECORDS.load(Ordering::Relaxed)
    ));
    out.push_str("# HELP ward_audit_export_failures_total Failed audit export attempts (alert when rising).\n");
    out.push_str("# TYPE ward_audit_export_failures_total counter\n");
    if let Ok(m) = EXPORT_FAILURES.lock() {
        for (sink, n) in m.iter() {
            out.push_str(&format!(
                "ward_audit_export_failures_total{{sink=\"{sink}\"}} {n}\n"
            ));
        }
    }
    out.push_str(
        "# HELP ward_audit_index_lag Audit records not yet in the AuditEvent search index.\n",
    );
    out.push_str("# TYPE ward_audit_index_lag gauge\n");
    out.push_str(&format!(
        "ward_audit_index_lag {}\n",
        AUDIT_INDEX_LAG.load(Ordering::Relaxed)
    ));
    out.push_str("# TYPE ward_audit_export_lag gauge\n");
    if let Ok(m) = EXPORT_LAG.lock() {
        for (sink, n) in m.iter() {
            out.push_str(&format!("ward_audit_export_lag{{sink=\"{sink}\"}} {n}\n"));
        }
    }
    out
}
