//! The command line: one subcommand per workload (`crud`, `read`, `search`, `ingest`, `get`),
//! plus `gen` (data generator) and `ceiling` (constant-response server).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::run::Limit;

/// ward-bench: a FHIR R4 load generator and test-data generator.
#[derive(Debug, Parser)]
#[command(name = "ward-bench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, read, update and delete 9 linked resources per iteration (Health Samurai mix).
    Crud(LoadArgs),
    /// Load generated patients, then read resources by id.
    Read(DataArgs),
    /// Load generated patients, then run a mix of clinical searches.
    Search(SearchArgs),
    /// POST transaction Bundles of generated patients; reports resources/s.
    Ingest(DataArgs),
    /// GET one path over and over (e.g. `metadata`, or the ceiling server).
    Get(GetArgs),
    /// Write generated patients as transaction Bundles (deterministic per seed).
    Gen(GenArgs),
    /// Serve a constant FHIR response to measure the stack's loopback ceiling.
    Ceiling(CeilingArgs),
}

/// Options of every workload.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// FHIR base URL (loopback only), e.g. https://127.0.0.1:8443/fhir
    #[arg(long)]
    pub base: String,
    /// Bearer token.
    #[arg(long, conflicts_with = "token_cmd")]
    pub token: Option<String>,
    /// Command whose standard output (trimmed) is the bearer token; run once, with `sh -c`.
    #[arg(long)]
    pub token_cmd: Option<String>,
    /// PEM file with the CA that signed the server's certificate (needed for https).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Requests in flight (workers).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds (default 10 when --requests is not given).
    #[arg(long, conflicts_with = "requests")]
    pub duration: Option<u64>,
    /// Measured requests instead of a duration (a crud iteration counts 36).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Seconds of unmeasured load before the measurement.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Use HTTP/2 (ALPN h2 over TLS, prior knowledge over plain HTTP).
    #[arg(long)]
    pub http2: bool,
    /// Shared HTTP/2 connections.
    #[arg(long, default_value_t = 1)]
    pub h2_connections: usize,
    /// Seconds before a request counts as a timeout.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Seed of the workers' random choices (and of generated data).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl LoadArgs {
    /// The end of the measured phase.
    pub fn limit(&self) -> Limit {
        match self.requests {
            Some(n) => Limit::Requests(n),
            None => Limit::Duration(Duration::from_secs(self.duration.unwrap_or(10))),
        }
    }
}

/// Workloads over generated patients.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Generated patients to load first (`ingest`: the pool cycled through).
    #[arg(long, default_value_t = 100)]
    pub patients: u64,
    /// Patients per transaction Bundle.
    #[arg(long, default_value_t = 1)]
    pub bundle_patients: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// `_count` of every search.
    #[arg(long, default_value_t = 20)]
    pub page_size: u64,
}

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Path relative to the base.
    #[arg(long, default_value = "metadata")]
    pub path: String,
}

#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 10)]
    pub patients: u64,
    /// Directory for bundle-NNNNNN.json files (default: NDJSON on standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Patients per Bundle.
    #[arg(long, default_value_t = 1)]
    pub per_bundle: u64,
    /// Indent the JSON files (with --out).
    #[arg(long)]
    pub pretty: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CeilingArgs {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Serve HTTPS with a local CA (as `ward serve` does).
    #[arg(long)]
    pub tls: bool,
    /// Where the CA and certificate go (default: a directory under the system temp dir).
    #[arg(long)]
    pub tls_dir: Option<PathBuf>,
    /// Stop after this many seconds (default: on Ctrl-C / SIGTERM).
    #[arg(long)]
    pub exit_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ward-bench").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let cli = parse(&["crud", "--base", "https://127.0.0.1:8443/fhir"]).unwrap();
        let Command::Crud(a) = cli.command else {
            panic!("crud")
        };
        assert_eq!(a.concurrency, 32);
        assert_eq!(a.warmup, 0);
        assert_eq!(a.limit(), Limit::Duration(Duration::from_secs(10)));
        assert!(!a.http2 && !a.json && a.token.is_none());
    }

    #[test]
    fn workload_options() {
        let cli = parse(&[
            "search",
            "--base",
            "http://127.0.0.1:1/",
            "--patients",
            "7",
            "--page-size",
            "5",
            "--requests",
            "100",
            "--http2",
            "--token-cmd",
            "echo t",
            "--json",
            "--warmup",
            "2",
        ])
        .unwrap();
        let Command::Search(s) = cli.command else {
            panic!("search")
        };
        assert_eq!(
            (s.data.patients, s.page_size, s.data.bundle_patients),
            (7, 5, 1)
        );
        assert_eq!(s.data.load.limit(), Limit::Requests(100));
        assert!(s.data.load.http2 && s.data.load.json);
        assert_eq!(s.data.load.token_cmd.as_deref(), Some("echo t"));
        let cli = parse(&["get", "--base", "http://127.0.0.1:1", "--duration", "3"]).unwrap();
        let Command::Get(g) = cli.command else {
            panic!("get")
        };
        assert_eq!(g.path, "metadata");
        assert_eq!(g.load.limit(), Limit::Duration(Duration::from_secs(3)));
    }

    #[test]
    fn conflicts_and_requirements() {
        assert!(parse(&["read"]).is_err(), "--base is required");
        let both = [
            "crud",
            "--base",
            "http://127.0.0.1:1",
            "--duration",
            "1",
            "--requests",
            "9",
        ];
        assert!(parse(&both).is_err());
        let tokens = [
            "crud",
            "--base",
            "http://127.0.0.1:1",
            "--token",
            "a",
            "--token-cmd",
            "b",
        ];
        assert!(parse(&tokens).is_err());
        assert!(parse(&["crud", "--base", "x", "--concurrency", "many"]).is_err());
    }

    #[test]
    fn gen_and_ceiling() {
        let cli = parse(&["gen", "--seed", "9", "--patients", "3", "--out", "/tmp/x"]).unwrap();
        let Command::Gen(g) = cli.command else {
            panic!("gen")
        };
        assert_eq!((g.seed, g.patients, g.per_bundle), (9, 3, 1));
        let cli = parse(&["ceiling", "--tls"]).unwrap();
        let Command::Ceiling(c) = cli.command else {
            panic!("ceiling")
        };
        assert_eq!(c.listen, "127.0.0.1:8090");
        assert!(c.tls && c.exit_after.is_none());
    }
}
