//! The `ward-bench` binary: parses the command line, runs the command, prints the report.

use std::process::ExitCode;

use clap::Parser;
use ward_bench::cli::Cli;
use ward_bench::commands::{Output, execute};

#[tokio::main]
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command).await {
        Ok(Output::Report { report, json }) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("ward-bench: cannot encode the report: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::SUCCESS
        }
        Ok(Output::Nothing) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
