//! The load loop: `concurrency` workers, each with its own session, recorder and PRNG, run
//! units of a workload while a shared [`Control`] admits them (warm-up first, then until the
//! duration ends or the request budget is spent). Statistics are merged after the join.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;

use crate::client::{Client, Failure, Response, Session};
use crate::datagen::Rng;
use crate::error::BenchError;
use crate::stats::{OpStats, Recorder, histogram};
use crate::workload::Plan;

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Duration(Duration),
    Requests(u64),
}

/// Shape of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub warmup: Duration,
    pub limit: Limit,
    pub seed: u64,
}

/// Decides, before each unit of work, whether a worker may go on.
#[derive(Debug)]
pub struct Control {
    measure_from: Instant,
    until: Option<Instant>,
    remaining: Option<AtomicU64>,
}

impl Control {
    pub fn new(measure_from: Instant, limit: Limit) -> Self {
        match limit {
            Limit::Duration(d) => Self {
                measure_from,
                until: Some(measure_from + d),
                remaining: None,
            },
            Limit::Requests(n) => Self {
                measure_from,
                until: None,
                remaining: Some(AtomicU64::new(n)),
            },
        }
    }

    /// Admits a unit of `cost` requests. During the warm-up every unit is admitted and costs
    /// nothing; afterwards the time limit or the request budget decides.
    pub fn admit(&self, cost: u64) -> bool {
        let now = Instant::now();
        if now < self.measure_from {
            return true;
        }
        if self.until.is_some_and(|u| now >= u) {
            return false;
        }
        match &self.remaining {
            Some(rem) => rem
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    (r > 0).then(|| r.saturating_sub(cost))
                })
                .is_ok(),
            None => true,
        }
    }
}

/// One worker's state, handed to the workload's `step`.
pub struct Worker {
    pub index: usize,
    pub session: Session,
    pub rec: Recorder,
    pub rng: Rng,
    seq: u64,
}

impl Worker {
    pub fn new(index: usize, session: Session, rec: Recorder, seed: u64) -> Self {
        Self {
            index,
            session,
            rec,
            rng: Rng::stream(seed ^ 0x5EED_BE7C, index as u64),
            seq: 0,
        }
    }

    /// A number unique to this worker's calls (for identifiers in created resources).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        (self.index as u64) << 40 | self.seq
    }

    /// Sends one request, records it under operation `op`, and returns the response (any
    /// status) or `None` when there was none.
    pub async fn call(
        &mut self,
        op: usize,
        method: Method,
        rel: &str,
        body: Option<Bytes>,
    ) -> Option<Response> {
        self.call_counting(op, method, rel, body, 0).await
    }

    /// As [`Worker::call`]; a 2xx answer also counts `resources` created.
    pub async fn call_counting(
        &mut self,
        op: usize,
        method: Method,
        rel: &str,
        body: Option<Bytes>,
        resources: u64,
    ) -> Option<Response> {
        let started = Instant::now();
        let result = self.session.send(method, rel, body).await;
        self.rec.record(op, started, &result, resources);
        if matches!(result, Err(Failure::Connect)) {
            // The server refuses connections: do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        result.ok()
    }
}

/// What the measured phase produced.
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops: Vec<OpStats>,
    pub elapsed: Duration,
}

/// Runs `plan` against `client` as `opts` says.
pub async fn run(
    plan: Arc<Plan>,
    client: &Client,
    opts: &RunOptions,
) -> Result<Measured, BenchError> {
    if opts.concurrency == 0 {
        return Err(BenchError::Option(
            "--concurrency must be at least 1".into(),
        ));
    }
    let template = histogram()?;
    let n_ops = plan.ops().len();
    let mut sessions = Vec::with_capacity(opts.concurrency);
    for i in 0..opts.concurrency {
        let mut s = Session::new(client.clone(), i);
        // A failure here is retried (and counted) on the first request.
        let _ = s.connect().await;
        sessions.push(s);
    }
    let measure_from = Instant::now() + opts.warmup;
    let control = Arc::new(Control::new(measure_from, opts.limit));
    let mut handles = Vec::with_capacity(opts.concurrency);
    for (i, session) in sessions.into_iter().enumerate() {
        let rec = Recorder::new(&template, n_ops, measure_from);
        let mut w = Worker::new(i, session, rec, opts.seed);
        let (plan, control) = (plan.clone(), control.clone());
        handles.push(tokio::spawn(async move {
            let cost = plan.cost();
            while control.admit(cost) {
                plan.step(&mut w).await;
            }
            w.rec
        }));
    }
    let mut recorders = Vec::with_capacity(handles.len());
    for h in handles {
        recorders.push(
            h.await
                .map_err(|e| BenchError::Load(format!("a worker failed: {e}")))?,
        );
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok(Measured {
        ops: Recorder::merge_all(&template, n_ops, &recorders),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_budget_is_spent_in_units() {
        let c = Control::new(Instant::now(), Limit::Requests(10));
        let admitted = (0..10).filter(|_| c.admit(4)).count();
        assert_eq!(admitted, 3, "4 + 4 + 2: the last unit may overshoot");
    }

    #[test]
    fn warmup_is_free_and_duration_ends() {
        let c = Control::new(
            Instant::now() + Duration::from_secs(3600),
            Limit::Requests(0),
        );
        assert!(c.admit(1000));
        let c = Control::new(Instant::now(), Limit::Requests(0));
        assert!(!c.admit(1));
        let c = Control::new(Instant::now(), Limit::Duration(Duration::ZERO));
        assert!(!c.admit(1));
        let c = Control::new(Instant::now(), Limit::Duration(Duration::from_secs(3600)));
        assert!(c.admit(1));
    }
}
