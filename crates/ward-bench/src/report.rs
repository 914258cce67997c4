//! The result of a run: metadata, per-operation and total summaries, the load phase and the
//! search probe, rendered as a human table or as JSON for machines.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::stats::OpSummary;

/// How the data set of `read` / `search` was loaded (not part of the measurement).
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    pub patients: u64,
    pub bundles: u64,
    pub resources: u64,
    pub secs: f64,
    pub resources_per_sec: f64,
    pub errors: BTreeMap<String, u64>,
}

/// One search query run once before the measurement, with its answer checked against what
/// the generated data set guarantees.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRow {
    pub op: String,
    pub query: String,
    /// HTTP status, or the transport failure.
    pub status: String,
    pub matches: Option<u64>,
    pub included: Option<u64>,
    pub total: Option<u64>,
    /// The loaded data alone guarantees at least this many matches on the first page.
    pub expected_min_matches: u64,
    /// Whether the answer is consistent with the loaded data.
    pub ok: bool,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ward-bench` version.
    pub tool_version: String,
    /// When the measurement started (seconds since the Unix epoch).
    pub started_unix_secs: u64,
    pub workload: String,
    pub base: String,
    pub protocol: String,
    pub concurrency: usize,
    pub warmup_secs: f64,
    /// Wall time of the measured phase.
    pub elapsed_secs: f64,
    pub total: OpSummary,
    pub ops: Vec<OpSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probe: Vec<ProbeRow>,
}

fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "-".to_owned();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(out: &mut String, s: &OpSummary) {
    let _ = writeln!(
        out,
        "{:<26} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>10.2}  {}",
        s.op,
        s.requests,
        s.requests_per_sec,
        s.latency.p50_ms,
        s.latency.p95_ms,
        s.latency.p99_ms,
        s.latency.max_ms,
        s.bytes_received as f64 / (1024.0 * 1024.0),
        errors_text(&s.errors),
    );
}

impl Report {
    /// The human-readable table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ward-bench {}  {}  {}  concurrency {}  warm-up {:.0}s  measured {:.2}s",
            self.workload,
            self.base,
            self.protocol,
            self.concurrency,
            self.warmup_secs,
            self.elapsed_secs
        );
        if let Some(s) = &self.setup {
            let _ = writeln!(
                out,
                "loaded {} patients / {} resources in {} bundles, {:.1}s ({:.0} resources/s), errors: {}",
                s.patients,
                s.resources,
                s.bundles,
                s.secs,
                s.resources_per_sec,
                errors_text(&s.errors)
            );
        }
        self.probe_text(&mut out);
        let _ = writeln!(
            out,
            "{:<26} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>10}  errors",
            "op", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "MiB recv"
        );
        if self.ops.len() > 1 {
            for op in &self.ops {
                row(&mut out, op);
            }
        }
        row(&mut out, &self.total);
        if let (Some(n), Some(r)) = (self.total.resources, self.total.resources_per_sec) {
            let _ = writeln!(out, "resources: {n} created, {r:.1} resources/s");
        }
        out
    }

    fn probe_text(&self, out: &mut String) {
        if self.probe.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "search probe (one request each, before the measurement):"
        );
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        for p in &self.probe {
            let _ = writeln!(
                out,
                "  {:<26} status {:<7} matches {:>5} included {:>5} total {:>6} expected ≥{:<4} {}",
                p.op,
                p.status,
                opt(p.matches),
                opt(p.included),
                opt(p.total),
                p.expected_min_matches,
                match (p.ok, p.matches) {
                    (true, _) => "ok",
                    (false, None) => "ERROR",
                    (false, Some(_)) => "SUSPECT",
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::{OpStats, histogram};

    #[test]
    fn text_and_json_carry_the_figures() {
        let mut s = OpStats::new(&histogram().unwrap());
        s.record_response(Duration::from_millis(2), 200, 2048, 0);
        s.record_response(Duration::from_millis(2), 503, 10, 0);
        let total = OpSummary::of("total", &s, Duration::from_secs(2), false);
        let report = Report {
            tool_version: "0".into(),
            started_unix_secs: 0,
            workload: "read".into(),
            base: "https://127.0.0.1:1/fhir".into(),
            protocol: "http/1.1".into(),
            concurrency: 4,
            warmup_secs: 1.0,
            elapsed_secs: 2.0,
            total: total.clone(),
            ops: vec![total],
            setup: None,
            probe: vec![],
        };
        let text = report.to_text();
        assert!(text.contains("503×1"), "{text}");
        assert!(text.contains("total"), "{text}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["total"]["requests"], 2);
        assert_eq!(json["total"]["requests_per_sec"].to_string(), "1.0");
        assert_eq!(json["total"]["errors"]["503"], 1);
        assert!(json.get("probe").is_none());
        assert!(json["total"].get("resources").is_none());
    }
}
