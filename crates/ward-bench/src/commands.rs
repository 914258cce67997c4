//! The commands behind the CLI: connect, prepare a workload (loading data where it needs
//! some), measure, and build the report; write generated data; serve the ceiling.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::ceiling;
use crate::cli::{CeilingArgs, Command, GenArgs, LoadArgs};
use crate::client::{Client, ClientOptions, token_from_command};
use crate::datagen::{GenOptions, write_dir, write_ndjson};
use crate::error::BenchError;
use crate::report::{ProbeRow, Report, Setup};
use crate::run::{Measured, RunOptions, run};
use crate::stats::{OpStats, OpSummary, histogram};
use crate::target::Target;
use crate::workload::{CrudPlan, GetPlan, IngestPlan, Plan, ReadPlan, SearchPlan, load, probe};

/// What a command leaves for `main` to print.
#[derive(Debug)]
pub enum Output {
    Report { report: Box<Report>, json: bool },
    Nothing,
}

/// How a workload is prepared.
#[derive(Debug, Clone)]
pub enum Prepare {
    Crud,
    Get {
        path: String,
    },
    Read {
        patients: u64,
        per_bundle: u64,
    },
    Search {
        patients: u64,
        per_bundle: u64,
        page: u64,
    },
    Ingest {
        patients: u64,
        per_bundle: u64,
    },
}

/// Progress for the operator, on standard error (standard output carries the report).
#[allow(clippy::print_stderr)]
fn note(msg: &str) {
    eprintln!("ward-bench: {msg}");
}

/// Runs one CLI command.
pub async fn execute(cmd: Command) -> Result<Output, BenchError> {
    let (args, prep) = match cmd {
        Command::Gen(g) => return gen_command(&g).map(|()| Output::Nothing),
        Command::Ceiling(c) => return ceiling_command(c).await.map(|()| Output::Nothing),
        Command::Crud(a) => (a, Prepare::Crud),
        Command::Get(g) => (g.load, Prepare::Get { path: g.path }),
        Command::Read(d) => (
            d.load,
            Prepare::Read {
                patients: d.patients,
                per_bundle: d.bundle_patients,
            },
        ),
        Command::Ingest(d) => (
            d.load,
            Prepare::Ingest {
                patients: d.patients,
                per_bundle: d.bundle_patients,
            },
        ),
        Command::Search(s) => {
            let (patients, per_bundle) = (s.data.patients, s.data.bundle_patients);
            (
                s.data.load,
                Prepare::Search {
                    patients,
                    per_bundle,
                    page: s.page_size,
                },
            )
        }
    };
    let json = args.json;
    let report = workload(&args, prep).await?;
    Ok(Output::Report {
        report: Box::new(report),
        json,
    })
}

/// Connects to `args.base`, prepares the workload, measures it and reports.
pub async fn workload(args: &LoadArgs, prep: Prepare) -> Result<Report, BenchError> {
    let token = match (&args.token, &args.token_cmd) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(cmd)) => Some(token_from_command(cmd)?),
        (None, None) => None,
    };
    let target = Target::resolve(&args.base).await?;
    let options = ClientOptions {
        http2: args.http2,
        h2_connections: args.h2_connections,
        cacert: args.cacert.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let client = Client::new(target, &options, token.as_deref())?;
    let (plan, setup, probe) = prepare(&client, args, prep).await?;
    let plan = Arc::new(plan);
    note(&format!(
        "measuring {} at concurrency {}",
        plan.name(),
        args.concurrency
    ));
    let opts = RunOptions {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup),
        limit: args.limit(),
        seed: args.seed,
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let measured = run(plan.clone(), &client, &opts).await?;
    let mut report = build_report(&plan, args, &client, &measured, setup, probe)?;
    report.started_unix_secs = started;
    Ok(report)
}

async fn prepare(
    client: &Client,
    args: &LoadArgs,
    prep: Prepare,
) -> Result<(Plan, Option<Setup>, Vec<ProbeRow>), BenchError> {
    // Transactions serialise on most stores: a few loaders are as fast as many.
    let loaders = args.concurrency.clamp(1, 4);
    Ok(match prep {
        Prepare::Crud => (Plan::Crud(CrudPlan), None, Vec::new()),
        Prepare::Get { path } => (Plan::Get(GetPlan { path }), None, Vec::new()),
        Prepare::Read {
            patients,
            per_bundle,
        } => {
            note(&format!(
                "loading {patients} generated patients (seed {})",
                args.seed
            ));
            let l = load(client, args.seed, patients, per_bundle, loaders).await?;
            (
                Plan::Read(ReadPlan { refs: l.refs }),
                Some(l.setup),
                Vec::new(),
            )
        }
        Prepare::Search {
            patients,
            per_bundle,
            page,
        } => {
            note(&format!(
                "loading {patients} generated patients (seed {})",
                args.seed
            ));
            let l = load(client, args.seed, patients, per_bundle, loaders).await?;
            let plan = SearchPlan {
                patients: l.patients,
                page: page.max(1),
            };
            let rows = probe(&plan, client, args.seed).await;
            (Plan::Search(plan), Some(l.setup), rows)
        }
        Prepare::Ingest {
            patients,
            per_bundle,
        } => {
            let plan = IngestPlan::new(args.seed, patients, per_bundle);
            note(&format!(
                "generated a pool of {} resources",
                plan.pool_resources()
            ));
            (Plan::Ingest(plan), None, Vec::new())
        }
    })
}

fn build_report(
    plan: &Plan,
    args: &LoadArgs,
    client: &Client,
    m: &Measured,
    setup: Option<Setup>,
    probe: Vec<ProbeRow>,
) -> Result<Report, BenchError> {
    let with_resources = plan.counts_resources();
    let ops = plan
        .ops()
        .iter()
        .zip(&m.ops)
        .map(|(name, s)| OpSummary::of(name, s, m.elapsed, with_resources))
        .collect();
    let mut total = OpStats::new(&histogram()?);
    for s in &m.ops {
        total.merge(s);
    }
    let protocol = match (client.http2(), client.target().https) {
        (false, _) => "http/1.1",
        (true, true) => "h2",
        (true, false) => "h2c",
    };
    Ok(Report {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix_secs: 0,
        workload: plan.name().to_owned(),
        base: args.base.clone(),
        protocol: protocol.to_owned(),
        concurrency: args.concurrency,
        warmup_secs: args.warmup as f64,
        elapsed_secs: (m.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        total: OpSummary::of("total", &total, m.elapsed, with_resources),
        ops,
        setup,
        probe,
    })
}

fn gen_command(g: &GenArgs) -> Result<(), BenchError> {
    let opts = GenOptions {
        seed: g.seed,
        patients: g.patients,
        per_bundle: g.per_bundle,
        pretty: g.pretty,
    };
    match &g.out {
        Some(dir) => {
            let n = write_dir(&opts, dir)?;
            note(&format!(
                "wrote {n} transaction bundles to {}",
                dir.display()
            ));
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match write_ndjson(&opts, &mut out) {
                // A reader that stops early (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(())
}

async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

async fn ceiling_command(c: CeilingArgs) -> Result<(), BenchError> {
    let tcp = ceiling::bind(&c.listen).await?;
    let addr = tcp.local_addr()?;
    let tls = match c.tls {
        true => {
            let dir = c
                .tls_dir
                .unwrap_or_else(|| std::env::temp_dir().join("ward-bench-ceiling-tls"));
            Some(ceiling::prepare_tls(&dir)?)
        }
        false => None,
    };
    {
        let mut out = std::io::stdout().lock();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(out, "ceiling listening on {addr}")?;
        writeln!(out, "base URL: {scheme}://{addr}/fhir")?;
        if let Some((_, ca)) = &tls {
            writeln!(out, "TLS CA certificate: {}", ca.display())?;
        }
        out.flush()?;
    }
    let exit_after = c.exit_after;
    let shutdown = async move {
        match exit_after {
            Some(secs) => tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(secs)) => {},
                () = stop_signal() => {},
            },
            None => stop_signal().await,
        }
    };
    ceiling::serve(tcp, tls.map(|(config, _)| config), shutdown).await?;
    Ok(())
}
