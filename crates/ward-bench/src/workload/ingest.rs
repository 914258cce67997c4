//! `ingest`: transaction Bundles of generated patients POSTed at full concurrency. The Bundles
//! are generated and serialised before the measurement (a pool that the workers cycle
//! through), so the load generator spends no CPU on generation while it measures.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Method;

use crate::datagen;
use crate::run::Worker;

/// The `ingest` workload: a pool of serialised Bundles and their entry counts.
#[derive(Debug)]
pub struct IngestPlan {
    bundles: Vec<(Bytes, u64)>,
    next: AtomicUsize,
}

impl IngestPlan {
    /// Generates `patients` patients under `seed`, `per_bundle` to a Bundle.
    pub fn new(seed: u64, patients: u64, per_bundle: u64) -> Self {
        let per = per_bundle.max(1);
        let bundles = (0..patients.max(1).div_ceil(per))
            .map(|b| {
                let end = ((b + 1) * per).min(patients.max(1));
                let ps: Vec<datagen::GeneratedPatient> =
                    (b * per..end).map(|i| datagen::patient(seed, i)).collect();
                let n: usize = ps.iter().map(|p| p.entries.len()).sum();
                (super::body(&datagen::transaction_bundle(&ps)), n as u64)
            })
            .collect();
        Self {
            bundles,
            next: AtomicUsize::new(0),
        }
    }

    /// Resources in the pool.
    pub fn pool_resources(&self) -> u64 {
        self.bundles.iter().map(|(_, n)| n).sum()
    }

    pub async fn step(&self, w: &mut Worker) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bundles.len().max(1);
        if let Some((body, n)) = self.bundles.get(i) {
            w.call_counting(0, Method::POST, "", Some(body.clone()), *n)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_covers_every_patient() {
        let plan = IngestPlan::new(1, 5, 2);
        assert_eq!(plan.bundles.len(), 3);
        let expected: usize = (0..5).map(|i| datagen::patient(1, i).entries.len()).sum();
        assert_eq!(plan.pool_resources(), expected as u64);
    }
}
