//! ward-bench: a load generator for any FHIR R4 server (`crud`, `read`, `search`, `ingest`
//! and `get` workloads over HTTP/1.1 or HTTP/2, TLS via rustls/aws-lc-rs), a deterministic
//! generator of linked patient data (`gen`), and a constant-response server that shows the
//! HTTP stack's loopback ceiling (`ceiling`). See `bench/README.md` for the method.

pub mod ceiling;
pub mod cli;
pub mod client;
pub mod commands;
pub mod datagen;
pub mod error;
pub mod report;
pub mod run;
pub mod stats;
pub mod target;
pub mod workload;

pub use error::BenchError;
