//! Workloads: what each worker does per unit of work. `get` (one fixed path, for the ceiling
//! and `/metadata`), `crud`, `read`, `search` and `ingest`.

mod crud;
mod crud_bodies;
mod ingest;
mod load;
mod search;

use bytes::Bytes;
use http::Method;

use crate::run::Worker;

pub use crud::CrudPlan;
pub use crud_bodies::{TYPES as CRUD_TYPES, change as crud_change, create as crud_create};
pub use ingest::IngestPlan;
pub use load::{Loaded, LoadedPatient, load, type_and_id};
pub use search::{SearchPlan, probe};

/// `get`: the same GET (e.g. `metadata`) over and over.
#[derive(Debug, Clone)]
pub struct GetPlan {
    pub path: String,
}

/// `read`: GET `Type/id` of a uniformly chosen loaded resource.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    pub refs: Vec<String>,
}

/// A workload with its prepared data.
#[derive(Debug)]
pub enum Plan {
    Get(GetPlan),
    Crud(CrudPlan),
    Read(ReadPlan),
    Search(SearchPlan),
    Ingest(IngestPlan),
}

impl Plan {
    /// The workload's name.
    pub fn name(&self) -> &'static str {
        match self {
            Plan::Get(_) => "get",
            Plan::Crud(_) => "crud",
            Plan::Read(_) => "read",
            Plan::Search(_) => "search",
            Plan::Ingest(_) => "ingest",
        }
    }

    /// The operations a report breaks the workload into.
    pub fn ops(&self) -> &'static [&'static str] {
        match self {
            Plan::Get(_) => &["get"],
            Plan::Crud(_) => &crud::OPS,
            Plan::Read(_) => &["read"],
            Plan::Search(_) => &search::OPS,
            Plan::Ingest(_) => &["transaction"],
        }
    }

    /// Requests one unit of work makes (for `--requests`).
    pub fn cost(&self) -> u64 {
        match self {
            Plan::Crud(_) => crud::REQUESTS_PER_ITERATION,
            _ => 1,
        }
    }

    /// Whether the report counts created resources (resources/s).
    pub fn counts_resources(&self) -> bool {
        matches!(self, Plan::Ingest(_))
    }

    /// Runs one unit of work.
    pub async fn step(&self, w: &mut Worker) {
        match self {
            Plan::Get(p) => {
                w.call(0, Method::GET, &p.path, None).await;
            }
            Plan::Read(p) => {
                let i = w.rng.below(p.refs.len() as u64) as usize;
                if let Some(r) = p.refs.get(i) {
                    w.call(0, Method::GET, r, None).await;
                }
            }
            Plan::Crud(p) => Box::pin(p.step(w)).await,
            Plan::Search(p) => p.step(w).await,
            Plan::Ingest(p) => p.step(w).await,
        }
    }
}

/// Serialises a JSON value for a request body.
pub(crate) fn body(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}
