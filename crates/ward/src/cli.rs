//! The command line (DESIGN.md "CLI contract").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Ward: a HIPAA-ready FHIR R4 server.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the FHIR server.
    Serve(ServeArgs),
    /// Access tokens for operators and scripts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Users of the authorization server's login pages.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// OAuth clients (SMART apps and backend services).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// EHR launch contexts.
    Launch {
        #[command(subcommand)]
        command: LaunchCommand,
    },
    /// The break-glass (emergency access) review queue.
    BreakGlass {
        #[command(subcommand)]
        command: BreakGlassCommand,
    },
    /// The database schema (PostgreSQL; the embedded store migrates itself when opened).
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The audit trail: verification, accounting of disclosures, key rotation, retention.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Backups of the embedded store: create, verify, restore (PostgreSQL: use its own tools).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Keys: rotation of the access-token signing key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write an encrypted, consistent copy of the database and its signed manifest
    /// (FILE.manifest.json); the server may be running. The master key is not included.
    Create(BackupCreateArgs),
    /// Check a backup: manifest signature and SHA-256, the key, integrity, the audit chain.
    Verify(BackupVerifyArgs),
    /// Replace the database with a verified backup (the server must be stopped); the current
    /// database is kept as ward.db.before-restore-<time>.
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup file to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup file (its manifest is FILE.manifest.json).
    #[arg(long)]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup file (its manifest is FILE.manifest.json).
    #[arg(long)]
    pub file: PathBuf,
    /// Replace an existing database (it is moved aside, not deleted).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start signing access tokens with a new ES256 key; the previous key stays in the JWKS
    /// (and keeps verifying) until the next rotation. Running servers pick it up at restart.
    Rotate(KeysRotateArgs),
}

#[derive(Debug, Args)]
pub struct KeysRotateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending schema migrations (under the migration lock; safe while nodes run).
    Migrate(CommonArgs),
    /// Show the schema version and pending migrations.
    Status(CommonArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and checkpoint signatures; exit non-zero at the first bad record.
    Verify(AuditVerifyArgs),
    /// The HIPAA §164.528 accounting of disclosures for one patient.
    Disclosures(AuditDisclosuresArgs),
    /// Start signing checkpoints with a new Ed25519 key (old keys keep verifying).
    RotateKey(AuditRotateArgs),
    /// Write the records older than the retention period (`[audit] retention`, default 6
    /// years) to a new encrypted archive file, and verify it.
    Archive(AuditArchiveArgs),
    /// Purge the records older than the retention period that a verified archive holds; the
    /// purge is recorded in the chain.
    Purge(AuditPurgeArgs),
}

#[derive(Debug, Args)]
pub struct AuditArchiveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The archive file to create (it must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Archive the whole kept trail, not only the records past the retention period.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct AuditPurgeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The archive made by `ward audit archive` (verified again before anything is purged).
    #[arg(long)]
    pub archive: PathBuf,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The external checkpoint log to cross-check (defaults to `[audit] checkpoint_file`).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditDisclosuresArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The Patient's logical id.
    #[arg(long)]
    pub patient: String,
    /// Earliest date (FHIR date or dateTime).
    #[arg(long)]
    pub start: Option<String>,
    /// Latest date.
    #[arg(long)]
    pub end: Option<String>,
    /// `json` or `csv`.
    #[arg(long, default_value = "json")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct AuditRotateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (first line).
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long)]
    pub username: String,
    /// admin, clinician, patient or auditor.
    #[arg(long)]
    pub role: String,
    /// The user's FHIR resource, e.g. Practitioner/123.
    #[arg(long)]
    pub fhir_user: Option<String>,
    /// The Patient id a patient user is bound to.
    #[arg(long)]
    pub patient: Option<String>,
    /// May open break-glass emergency access.
    #[arg(long)]
    pub break_glass: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register (or replace) a client.
    Add(ClientAddArgs),
}

#[derive(Debug, Args)]
pub struct ClientAddArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long)]
    pub id: String,
    /// backend, public or confidential.
    #[arg(long)]
    pub kind: String,
    /// The scopes the client may hold, space-separated.
    #[arg(long)]
    pub scope: String,
    /// A JWKS file with the client's public keys (private_key_jwt).
    #[arg(long, conflicts_with = "jwks_url")]
    pub jwks: Option<PathBuf>,
    /// A URL serving the client's JWKS.
    #[arg(long)]
    pub jwks_url: Option<String>,
    /// An exact redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum LaunchCommand {
    /// Mint an EHR launch context; prints the `launch` value.
    Create(LaunchCreateArgs),
}

#[derive(Debug, Args)]
pub struct LaunchCreateArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long)]
    pub patient: Option<String>,
    #[arg(long)]
    pub encounter: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BreakGlassCommand {
    /// List grants awaiting review (all with --all), as JSON lines.
    List(BreakGlassListArgs),
    /// Mark a grant reviewed.
    Review(BreakGlassReviewArgs),
}

#[derive(Debug, Args)]
pub struct BreakGlassListArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct BreakGlassReviewArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The grant id.
    pub id: String,
    /// Who reviewed it.
    #[arg(long)]
    pub reviewer: String,
    #[arg(long)]
    pub note: Option<String>,
}

/// Options shared by commands that open a data directory.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "WARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (created with mode 0700 on first run).
    #[arg(long, env = "WARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Storage backend: sqlite (default) or postgres.
    #[arg(long, env = "WARD_STORAGE_KIND")]
    pub storage_kind: Option<String>,
    /// PostgreSQL URL (prefer the environment variable: it may hold a password).
    #[arg(long, env = "WARD_STORAGE_URL", hide_env_values = true)]
    pub storage_url: Option<String>,
    /// PostgreSQL read replica URL.
    #[arg(long, env = "WARD_STORAGE_READ_URL", hide_env_values = true)]
    pub storage_read_url: Option<String>,
    /// CA certificate(s) of the database server (PEM), for sslmode=verify-full.
    #[arg(long, env = "WARD_STORAGE_CA_FILE")]
    pub storage_ca_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on, e.g. 127.0.0.1:8443.
    #[arg(long, env = "WARD_LISTEN")]
    pub listen: Option<String>,
    /// The public base URL clients use (scheme://host:port, no path).
    #[arg(long, env = "WARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain to serve instead of the generated local CA's certificate.
    #[arg(long, env = "WARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "WARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP (loopback addresses only; for local development).
    #[arg(long, env = "WARD_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Log format: text or json.
    #[arg(long, env = "WARD_LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print an access token signed with the server's own key.
    Issue(TokenIssueArgs),
}

#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Space-separated SMART scopes, e.g. 'system/*.cruds'.
    #[arg(long)]
    pub scope: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    /// Subject of the token.
    #[arg(long, default_value = "operator")]
    pub subject: String,
}
