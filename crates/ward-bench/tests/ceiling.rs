//! ward-bench against its ceiling server (issue #4, item 6): the constant-response server on
//! an ephemeral loopback port, over the same TLS stack as Ward, takes a 1-second `get` run, a
//! request-bounded `crud` run and an HTTP/2 run with a positive request count and zero
//! errors. No timing thresholds: this pins behaviour, not speed.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use clap::Parser;
use ward_bench::ceiling;
use ward_bench::cli::{Cli, Command};
use ward_bench::commands::{Prepare, workload};
use ward_bench::report::Report;

async fn run_cli(args: &[&str]) -> Report {
    let cli =
        Cli::try_parse_from(std::iter::once("ward-bench").chain(args.iter().copied())).unwrap();
    match cli.command {
        Command::Get(g) => workload(&g.load, Prepare::Get { path: g.path })
            .await
            .unwrap(),
        Command::Crud(a) => workload(&a, Prepare::Crud).await.unwrap(),
        other => panic!("unexpected command {other:?}"),
    }
}

fn assert_clean(r: &Report) {
    assert!(r.total.requests > 0, "{}", r.to_text());
    assert_eq!(r.total.ok, r.total.requests, "{}", r.to_text());
    assert!(r.total.errors.is_empty(), "{}", r.to_text());
    assert!(r.total.bytes_received > 0);
    assert!(r.total.latency.max_ms > 0.0);
}

/// A TLS ceiling server on an ephemeral loopback port; dropping it stops the server.
struct Ceiling {
    base: String,
    ca: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Ceiling {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (config, ca) = ceiling::prepare_tls(dir.path()).unwrap();
        let tcp = ceiling::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ceiling::serve(tcp, Some(config), async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("https://{addr}/fhir"),
            ca: ca.to_str().unwrap().to_owned(),
            stop: Some(stop),
            server,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.server).await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_get_run_has_requests_and_no_errors() {
    let c = Ceiling::start().await;
    let args = [
        "get",
        "--base",
        &c.base,
        "--cacert",
        &c.ca,
        "--duration",
        "1",
        "--concurrency",
        "4",
    ];
    let get = run_cli(&args).await;
    assert_clean(&get);
    assert_eq!(get.workload, "get");
    assert_eq!(get.protocol, "http/1.1");
    assert!(get.elapsed_secs >= 1.0);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_iterations_make_36_requests_each() {
    let c = Ceiling::start().await;
    let crud = run_cli(&[
        "crud",
        "--base",
        &c.base,
        "--cacert",
        &c.ca,
        "--requests",
        "72",
        "--concurrency",
        "2",
        "--token",
        "not-checked-by-the-ceiling",
    ])
    .await;
    assert_clean(&crud);
    assert_eq!(crud.total.requests, 72, "two full iterations");
    let per_op: Vec<(String, u64)> = crud
        .ops
        .iter()
        .map(|o| (o.op.clone(), o.requests))
        .collect();
    let expected: Vec<(String, u64)> = ["create", "read", "update", "delete"]
        .iter()
        .map(|o| ((*o).to_owned(), 18))
        .collect();
    assert_eq!(per_op, expected);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_runs_over_shared_connections() {
    let c = Ceiling::start().await;
    let args = [
        "get",
        "--base",
        &c.base,
        "--cacert",
        &c.ca,
        "--http2",
        "--requests",
        "200",
        "--concurrency",
        "8",
        "--h2-connections",
        "2",
    ];
    let h2 = run_cli(&args).await;
    assert_clean(&h2);
    assert_eq!(h2.protocol, "h2");
    assert!(h2.total.requests >= 200);
    c.stop().await;
}
