//! Measurement: per-operation HDR latency histograms (microseconds) and counts (requests, 2xx,
//! errors by status or transport failure, bytes, resources), their merge across workers, and
//! the summary math (rates, percentiles in milliseconds).
//!
//! Latency percentiles cover successful (2xx) responses only, so that fast error answers do
//! not flatter a server; errors are counted and reported beside them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::{Failure, Response};
use crate::error::BenchError;

/// The largest latency the histograms track exactly (larger values are clamped).
pub const MAX_LATENCY_US: u64 = 300_000_000;

/// An empty histogram with the bounds every [`OpStats`] uses (1 µs .. 5 min, 3 significant
/// digits). Clone it rather than building new ones.
pub fn histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| BenchError::Option(format!("histogram: {e}")))
}

/// Counters and latencies of one operation (e.g. `read`, `create`, one search kind).
#[derive(Debug, Clone)]
pub struct OpStats {
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub bytes: u64,
    pub resources: u64,
}

impl OpStats {
    /// Empty statistics over a clone of `template`.
    pub fn new(template: &Histogram<u64>) -> Self {
        Self {
            hist: template.clone(),
            requests: 0,
            ok: 0,
            errors: BTreeMap::new(),
            bytes: 0,
            resources: 0,
        }
    }

    /// Counts one HTTP response; `resources` is added only when it succeeded.
    pub fn record_response(
        &mut self,
        latency: Duration,
        status: u16,
        bytes: usize,
        resources: u64,
    ) {
        self.requests += 1;
        self.bytes += bytes as u64;
        if (200..300).contains(&status) {
            self.ok += 1;
            self.resources += resources;
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.hist.saturating_record(us.clamp(1, MAX_LATENCY_US));
        } else {
            *self.errors.entry(status.to_string()).or_default() += 1;
        }
    }

    /// Counts one request that got no response.
    pub fn record_failure(&mut self, failure: Failure) {
        self.requests += 1;
        *self.errors.entry(failure.as_str().to_owned()).or_default() += 1;
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &OpStats) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.bytes += other.bytes;
        self.resources += other.resources;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        // Same bounds on both sides: addition cannot go out of range.
        let _ = self.hist.add(&other.hist);
    }

    /// Number of failed requests (any status outside 2xx, or no response).
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One worker's statistics, one [`OpStats`] per operation. Requests that started before
/// `measure_from` (the warm-up) are not recorded.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub ops: Vec<OpStats>,
    measure_from: Instant,
}

impl Recorder {
    pub fn new(template: &Histogram<u64>, n_ops: usize, measure_from: Instant) -> Self {
        Self {
            ops: (0..n_ops).map(|_| OpStats::new(template)).collect(),
            measure_from,
        }
    }

    /// Records the outcome of a request to operation `op` that started at `started`.
    pub fn record(
        &mut self,
        op: usize,
        started: Instant,
        result: &Result<Response, Failure>,
        resources: u64,
    ) {
        if started < self.measure_from {
            return;
        }
        let latency = started.elapsed();
        let Some(stats) = self.ops.get_mut(op) else {
            return;
        };
        match result {
            Ok(r) => stats.record_response(latency, r.status, r.body.len(), resources),
            Err(f) => stats.record_failure(*f),
        }
    }

    /// Merges workers' statistics per operation.
    pub fn merge_all(template: &Histogram<u64>, n_ops: usize, all: &[Recorder]) -> Vec<OpStats> {
        let mut out: Vec<OpStats> = (0..n_ops).map(|_| OpStats::new(template)).collect();
        for r in all {
            for (acc, s) in out.iter_mut().zip(&r.ops) {
                acc.merge(s);
            }
        }
        out
    }
}

/// Latency percentiles of successful responses, in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10_f64.powi(digits);
    (v * p).round() / p
}

fn ms(us: u64) -> f64 {
    round(us as f64 / 1000.0, 3)
}

impl Latency {
    /// Percentiles of `h` (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                mean_ms: 0.0,
                p50_ms: 0.0,
                p95_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
            };
        }
        Self {
            mean_ms: round(h.mean() / 1000.0, 3),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// `n` per second over `elapsed` (0 for an empty interval), rounded to 0.01.
pub fn rate(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    round(n as f64 / secs, 2)
}

/// The reported figures of one operation (or of the total).
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    pub op: String,
    pub requests: u64,
    pub ok: u64,
    /// Failed requests by HTTP status (`"404"`) or failure kind (`"io"`, `"timeout"`, …).
    pub errors: BTreeMap<String, u64>,
    /// All completed requests (including errors) per second.
    pub requests_per_sec: f64,
    pub bytes_received: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources_per_sec: Option<f64>,
    pub latency: Latency,
}

impl OpSummary {
    /// Summarises `s` measured over `elapsed`; `with_resources` adds resources and
    /// resources/s (the `ingest` workload).
    pub fn of(op: &str, s: &OpStats, elapsed: Duration, with_resources: bool) -> Self {
        Self {
            op: op.to_owned(),
            requests: s.requests,
            ok: s.ok,
            errors: s.errors.clone(),
            requests_per_sec: rate(s.requests, elapsed),
            bytes_received: s.bytes,
            resources: with_resources.then_some(s.resources),
            resources_per_sec: with_resources.then(|| rate(s.resources, elapsed)),
            latency: Latency::of(&s.hist),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> OpStats {
        OpStats::new(&histogram().unwrap())
    }

    /// HDR buckets hold 3 significant digits: values come back within 0.1%.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut s = stats();
        for i in 1..=1000 {
            s.record_response(Duration::from_millis(i), 200, 10, 0);
        }
        let l = Latency::of(&s.hist);
        assert!(close(l.p50_ms, 500.0), "{l:?}");
        assert!(close(l.p95_ms, 950.0), "{l:?}");
        assert!(close(l.p99_ms, 990.0), "{l:?}");
        assert!(close(l.max_ms, 1000.0), "{l:?}");
        assert!(close(l.mean_ms, 500.5), "{l:?}");
        assert_eq!((s.requests, s.ok, s.bytes), (1000, 1000, 10_000));
    }

    #[test]
    fn errors_are_counted_not_timed() {
        let mut s = stats();
        s.record_response(Duration::from_millis(5), 201, 3, 7);
        s.record_response(Duration::from_secs(9), 404, 100, 7);
        s.record_response(Duration::from_secs(9), 404, 100, 7);
        s.record_failure(Failure::Timeout);
        assert_eq!(s.requests, 4);
        assert_eq!(s.ok, 1);
        assert_eq!(s.resources, 7);
        assert_eq!(s.error_count(), 3);
        assert_eq!(s.errors.get("404"), Some(&2));
        assert_eq!(s.errors.get("timeout"), Some(&1));
        assert_eq!(s.bytes, 203);
        assert!(close(Latency::of(&s.hist).max_ms, 5.0));
    }

    #[test]
    fn merge_adds_everything() {
        let (mut a, mut b) = (stats(), stats());
        a.record_response(Duration::from_millis(1), 200, 1, 2);
        b.record_response(Duration::from_millis(3), 200, 1, 3);
        b.record_failure(Failure::Io);
        a.merge(&b);
        assert_eq!((a.requests, a.ok, a.resources, a.bytes), (3, 2, 5, 2));
        assert_eq!(a.hist.len(), 2);
        assert!(close(Latency::of(&a.hist).max_ms, 3.0));
        assert_eq!(a.errors.get("io"), Some(&1));
    }

    #[test]
    fn rates_and_empty_cases() {
        assert_eq!(rate(1000, Duration::from_secs(2)), 500.0);
        assert_eq!(rate(1, Duration::from_secs(3)), 0.33);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
        let empty = Latency::of(&stats().hist);
        assert_eq!(empty.p99_ms, 0.0);
        let mut s = stats();
        s.record_response(Duration::from_millis(2), 200, 0, 40);
        let sum = OpSummary::of("ingest", &s, Duration::from_secs(4), true);
        assert_eq!(sum.resources_per_sec, Some(10.0));
        assert_eq!(sum.requests_per_sec, 0.25);
        assert!(
            OpSummary::of("x", &s, Duration::from_secs(1), false)
                .resources
                .is_none()
        );
    }

    #[test]
    fn warmup_requests_are_not_recorded() {
        let t = histogram().unwrap();
        let started = Instant::now();
        let mut r = Recorder::new(&t, 2, started + Duration::from_secs(60));
        let ok: Result<Response, Failure> = Ok(Response {
            status: 200,
            body: bytes::Bytes::from_static(b"{}"),
            location: None,
        });
        r.record(0, started, &ok, 0);
        assert_eq!(r.ops[0].requests, 0);
        let mut r = Recorder::new(&t, 2, started);
        r.record(1, started, &ok, 0);
        r.record(1, started, &Err(Failure::Connect), 0);
        r.record(5, started, &ok, 0);
        let merged = Recorder::merge_all(&t, 2, &[r.clone(), r]);
        assert_eq!(merged[1].requests, 4);
        assert_eq!(merged[1].ok, 2);
        assert_eq!(merged[0].requests, 0);
    }
}
