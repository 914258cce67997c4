//! The `ward` binary: CLI, configuration, startup checks and wiring. Only this crate reads the
//! environment.

mod admin;
mod audit_cmd;
mod audit_config;
mod backup;
mod cli;
mod config;
mod datadir;
mod db;
mod serve;
mod token;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use ward_crypto::SecretBytes;

use crate::cli::{
    AuditCommand, BackupCommand, BreakGlassCommand, Cli, ClientCommand, Command, DbCommand,
    KeysCommand, LaunchCommand, TokenCommand, UserCommand,
};
use crate::config::LogFormat;

/// Environment variables Ward reads; any other `WARD_*` variable is reported as unknown.
const KNOWN_ENV: &[&str] = &[
    "WARD_CONFIG",
    "WARD_DATA_DIR",
    "WARD_LISTEN",
    "WARD_PUBLIC_URL",
    "WARD_TLS_CERT",
    "WARD_TLS_KEY",
    "WARD_INSECURE_HTTP",
    "WARD_LOG_FORMAT",
    "WARD_MASTER_KEY",
    "WARD_LOG",
    "WARD_TEST_POSTGRES_URL",
    "WARD_STORAGE_KIND",
    "WARD_STORAGE_URL",
    "WARD_STORAGE_READ_URL",
    "WARD_STORAGE_CA_FILE",
    "WARD_TEST_BACKEND",
];

fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("WARD_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// `WARD_MASTER_KEY` (hex), read here once and handed down as a secret.
fn inline_master_key() -> Option<SecretBytes> {
    let v = std::env::var_os("WARD_MASTER_KEY")?;
    Some(SecretBytes::new(v.into_encoded_bytes()))
}

fn warn_unknown_env() {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("WARD_") && !KNOWN_ENV.contains(&k.as_ref()) {
            tracing::warn!(variable = %k, "unknown WARD_ environment variable ignored");
        }
    }
}

#[allow(clippy::print_stderr)]
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("ward: {e}");
    ExitCode::FAILURE
}

/// The administration commands (users, clients, launches, break-glass).
async fn run_admin(
    command: &Command,
    key: Option<SecretBytes>,
) -> Result<(), datadir::StartupError> {
    match command {
        Command::User {
            command: UserCommand::Add(a),
        } => admin::user_add(a, key).await,
        Command::Client {
            command: ClientCommand::Add(a),
        } => admin::client_add(a, key).await,
        Command::Launch {
            command: LaunchCommand::Create(a),
        } => admin::launch_create(a, key).await,
        Command::BreakGlass {
            command: BreakGlassCommand::List(a),
        } => admin::break_glass_list(a, key).await,
        Command::BreakGlass {
            command: BreakGlassCommand::Review(a),
        } => admin::break_glass_review(a, key).await,
        Command::Db {
            command: DbCommand::Migrate(a),
        } => db::migrate(a).await,
        Command::Db {
            command: DbCommand::Status(a),
        } => db::status(a).await,
        Command::Audit {
            command: AuditCommand::Verify(a),
        } => audit_cmd::verify(a, key).await,
        Command::Audit {
            command: AuditCommand::Disclosures(a),
        } => audit_cmd::disclosures(a, key).await,
        Command::Audit {
            command: AuditCommand::RotateKey(a),
        } => audit_cmd::rotate_key(a, key).await,
        Command::Audit {
            command: AuditCommand::Archive(a),
        } => audit_cmd::archive(a, key).await,
        Command::Audit {
            command: AuditCommand::Purge(a),
        } => audit_cmd::purge(a, key).await,
        Command::Keys {
            command: KeysCommand::Rotate(a),
        } => audit_cmd::rotate_signing_key(a, key).await,
        Command::Backup {
            command: BackupCommand::Create(a),
        } => backup::create(a, key).await,
        Command::Backup {
            command: BackupCommand::Verify(a),
        } => backup::verify(a, key).await,
        Command::Backup {
            command: BackupCommand::Restore(a),
        } => backup::restore(a, key).await,
        Command::Serve(_) | Command::Token { .. } => Ok(()),
    }
}

fn main() -> ExitCode {
    // Everything Ward creates (database, WAL, keys, certificates) is private to its user.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // A panic's message could carry data from a dependency; log only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(
            location = at.as_deref().unwrap_or("unknown"),
            "panic (message withheld)"
        );
    }));
    let cli = Cli::parse();
    let key = inline_master_key();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let result = match &cli.command {
        Command::Serve(args) => {
            let file = match config::read_file(&args.common) {
                Ok(f) => f,
                Err(e) => return fail(e),
            };
            let config = match config::resolve(args, file) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            init_logging(config.log_format, &config.log_level);
            warn_unknown_env();
            runtime.block_on(serve::run(config, key))
        }
        Command::Token {
            command: TokenCommand::Issue(args),
        } => {
            init_logging(LogFormat::Text, "warn");
            runtime.block_on(token::issue(args, key))
        }
        admin => {
            init_logging(LogFormat::Text, "warn");
            runtime.block_on(run_admin(admin, key))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
