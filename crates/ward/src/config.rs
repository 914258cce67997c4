//! Configuration: one typed struct, read from a TOML file (unknown keys rejected), `WARD_*`
//! environment variables and flags (flags and env win over the file), and validated as a whole
//! before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::{CommonArgs, ServeArgs};

/// A configuration problem, stated so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the config file {path} is invalid: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid setting {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The TOML file's shape. Every table rejects unknown keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    #[serde(default)]
    pub tls: TlsFile,
    #[serde(default)]
    pub http: HttpFile,
    #[serde(default)]
    pub keys: KeysFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub fhir: FhirFile,
    #[serde(default)]
    pub auth: AuthFile,
    #[serde(default)]
    pub storage: StorageFile,
    #[serde(default)]
    pub audit: crate::audit_config::AuditFile,
}

/// `[storage]`: the embedded store (default) or PostgreSQL.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFile {
    /// `sqlite` (default) or `postgres`.
    pub kind: Option<String>,
    /// `postgres://user@host:port/db[?sslmode=verify-full]`.
    pub url: Option<String>,
    /// A read replica (searches and reads that the replica can answer consistently).
    pub read_url: Option<String>,
    /// PEM CA certificate(s) of the database server (`sslmode=verify-full`).
    pub ca_file: Option<PathBuf>,
    pub pool_size: Option<usize>,
    pub statement_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    /// The PostgreSQL schema for Ward's tables (default: the server's `search_path`).
    pub schema: Option<String>,
}

/// The validated storage choice.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// SQLCipher in the data directory.
    Sqlite,
    /// PostgreSQL (boxed: the options are large).
    Postgres(Box<ward_store_postgres::PgOptions>),
}

/// Builds the storage choice from the file and `WARD_STORAGE_*` (flags/env win).
pub fn resolve_storage(common: &CommonArgs, f: &StorageFile) -> Result<StorageConfig, ConfigError> {
    let kind = common.storage_kind.clone().or_else(|| f.kind.clone());
    let url = common.storage_url.clone().or_else(|| f.url.clone());
    match kind.as_deref() {
        None | Some("sqlite") => {
            if url.is_some() || f.read_url.is_some() || common.storage_read_url.is_some() {
                return Err(invalid(
                    "storage.url",
                    "only applies with storage.kind = \"postgres\"",
                ));
            }
            Ok(StorageConfig::Sqlite)
        }
        Some("postgres") => {
            let url = url.ok_or_else(|| {
                invalid(
                    "storage.url",
                    "is required with storage.kind = \"postgres\"",
                )
            })?;
            let mut o = ward_store_postgres::PgOptions::new(url);
            o.read_url = common
                .storage_read_url
                .clone()
                .or_else(|| f.read_url.clone());
            o.ca_file = common.storage_ca_file.clone().or_else(|| f.ca_file.clone());
            o.pool_size = f.pool_size.unwrap_or(16);
            if o.pool_size == 0 || o.pool_size > 1000 {
                return Err(invalid("storage.pool_size", "must be between 1 and 1000"));
            }
            let ms = |key, v: Option<u64>, d: u64| match v.unwrap_or(d) {
                0 => Err(invalid(key, "must be positive")),
                n if n > 600_000 => Err(invalid(key, "must be at most 600000 (10 minutes)")),
                n => Ok(std::time::Duration::from_millis(n)),
            };
            o.statement_timeout = ms(
                "storage.statement_timeout_ms",
                f.statement_timeout_ms,
                5_000,
            )?;
            o.connect_timeout = ms("storage.connect_timeout_ms", f.connect_timeout_ms, 3_000)?;
            if let Some(schema) = &f.schema {
                let ok = schema.len() <= 63
                    && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(invalid(
                        "storage.schema",
                        "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)",
                    ));
                }
                o.schema = Some(schema.clone());
            }
            ward_store_postgres::check_options(&o)
                .map_err(|e| invalid("storage.url", e.to_string()))?;
            Ok(StorageConfig::Postgres(Box::new(o)))
        }
        Some(_) => Err(invalid("storage.kind", "must be sqlite or postgres")),
    }
}

/// `[auth]`: the SMART authorization server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    pub user_token_ttl_secs: Option<i64>,
    pub backend_token_ttl_secs: Option<i64>,
    pub offline_refresh_ttl_secs: Option<i64>,
    pub session_idle_secs: Option<i64>,
    pub session_absolute_secs: Option<i64>,
    pub lockout_threshold: Option<u32>,
    pub lockout_window_secs: Option<i64>,
    pub mfa_all_roles: Option<bool>,
    pub break_glass_default_mins: Option<i64>,
    pub break_glass_max_mins: Option<i64>,
    /// Browser origins allowed to call the API (CORS), e.g. `["https://app.example.org"]`.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    pub external_idp: Option<ExternalIdpFile>,
}

/// `[auth.external_idp]`: an OpenID Connect provider whose access tokens Ward accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIdpFile {
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<String>,
    pub scope_claim: Option<String>,
    pub fhir_user_claim: Option<String>,
    pub patient_claim: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub insecure_http: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    pub max_body_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirFile {
    pub default_count: Option<usize>,
    pub max_count: Option<usize>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsMode {
    /// The local CA under `DATA/tls/` (generated on first run).
    LocalCa,
    /// Operator-supplied PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP on loopback.
    InsecureHttp,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `scheme://host:port`, no trailing slash; `None` derives it from the bound address.
    pub public_url: Option<String>,
    pub tls: TlsMode,
    pub master_key_file: PathBuf,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub default_count: usize,
    pub max_count: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub audit: crate::audit_config::AuditConfig,
}

/// The validated `[auth]` settings (public URL applied at start-up).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub user_token_ttl: i64,
    pub backend_token_ttl: i64,
    pub offline_ttl: i64,
    pub session_idle: i64,
    pub session_absolute: i64,
    pub lockout_threshold: u32,
    pub lockout_window: i64,
    pub mfa_all_roles: bool,
    pub break_glass_default: i64,
    pub break_glass_max: i64,
    pub cors_origins: Vec<String>,
    pub external_idp: Option<ward_auth::ExternalIdpConfig>,
}

impl AuthConfig {
    /// The authorization server's settings for `public_url`.
    pub fn settings(&self, public_url: &str) -> ward_auth::oauth::AuthSettings {
        let mut s = ward_auth::oauth::AuthSettings::new(public_url);
        s.user_token_ttl = self.user_token_ttl;
        s.backend_token_ttl = self.backend_token_ttl;
        s.offline_ttl = self.offline_ttl;
        s.session_idle = self.session_idle;
        s.session_absolute = self.session_absolute;
        s.lockout_threshold = self.lockout_threshold;
        s.lockout_window = self.lockout_window;
        s.mfa_all_roles = self.mfa_all_roles;
        s.break_glass_default = self.break_glass_default;
        s.break_glass_max = self.break_glass_max;
        s
    }
}

fn positive(key: &'static str, v: Option<i64>, default: i64, max: i64) -> Result<i64, ConfigError> {
    let v = v.unwrap_or(default);
    if v <= 0 || v > max {
        return Err(invalid(key, format!("must be between 1 and {max}")));
    }
    Ok(v)
}

/// Validates `[auth]`.
pub fn resolve_auth(f: AuthFile) -> Result<AuthConfig, ConfigError> {
    let day = 86_400;
    let c = AuthConfig {
        user_token_ttl: positive("auth.user_token_ttl_secs", f.user_token_ttl_secs, 900, 3600)?,
        backend_token_ttl: positive(
            "auth.backend_token_ttl_secs",
            f.backend_token_ttl_secs,
            300,
            3600,
        )?,
        offline_ttl: positive(
            "auth.offline_refresh_ttl_secs",
            f.offline_refresh_ttl_secs,
            30 * day,
            365 * day,
        )?,
        session_idle: positive("auth.session_idle_secs", f.session_idle_secs, 900, 4 * 3600)?,
        session_absolute: positive(
            "auth.session_absolute_secs",
            f.session_absolute_secs,
            8 * 3600,
            day,
        )?,
        lockout_threshold: u32::try_from(positive(
            "auth.lockout_threshold",
            f.lockout_threshold.map(i64::from),
            5,
            100,
        )?)
        .unwrap_or(5),
        lockout_window: positive("auth.lockout_window_secs", f.lockout_window_secs, 900, day)?,
        mfa_all_roles: f.mfa_all_roles.unwrap_or(false),
        break_glass_default: 60
            * positive(
                "auth.break_glass_default_mins",
                f.break_glass_default_mins,
                60,
                24 * 60,
            )?,
        break_glass_max: 60
            * positive(
                "auth.break_glass_max_mins",
                f.break_glass_max_mins,
                240,
                24 * 60,
            )?,
        cors_origins: f.cors_origins,
        external_idp: f.external_idp.map(external_idp),
    };
    check_auth(&c)?;
    Ok(c)
}

fn external_idp(x: ExternalIdpFile) -> ward_auth::ExternalIdpConfig {
    ward_auth::ExternalIdpConfig {
        issuer: x.issuer,
        audience: x.audience,
        algorithms: x.algorithms,
        scope_claim: x.scope_claim.unwrap_or_else(|| "scope".into()),
        fhir_user_claim: x.fhir_user_claim.unwrap_or_else(|| "fhirUser".into()),
        patient_claim: x.patient_claim.unwrap_or_else(|| "patient".into()),
    }
}

/// Checks between `[auth]` settings.
fn check_auth(c: &AuthConfig) -> Result<(), ConfigError> {
    if c.break_glass_default > c.break_glass_max {
        return Err(invalid(
            "auth.break_glass_default_mins",
            "must not exceed break_glass_max_mins",
        ));
    }
    if c.session_idle > c.session_absolute {
        return Err(invalid(
            "auth.session_idle_secs",
            "must not exceed session_absolute_secs",
        ));
    }
    for o in &c.cors_origins {
        if !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') {
            return Err(invalid(
                "auth.cors_origins",
                "each must be scheme://host[:port]",
            ));
        }
    }
    Ok(())
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Reads the file named by `common.config`, if any.
pub fn read_file(common: &CommonArgs) -> Result<FileConfig, ConfigError> {
    let Some(path) = &common.config else {
        return Ok(FileConfig::default());
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: shown.clone(),
        reason: e.kind().to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        reason: e.message().to_owned(),
    })
}

/// The data directory: flag/env, then file, then `./ward-data`.
pub fn data_dir(common: &CommonArgs, file: &FileConfig) -> PathBuf {
    common
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("ward-data"))
}

/// Builds and validates the server configuration.
pub fn resolve(args: &ServeArgs, file: FileConfig) -> Result<Config, ConfigError> {
    let data_dir = data_dir(&args.common, &file);
    let listen_text = args
        .listen
        .clone()
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|_| invalid("listen", "expected an address such as 127.0.0.1:8443"))?;
    let tls = resolve_tls(args, &file.tls, listen)?;
    let scheme = if matches!(tls, TlsMode::InsecureHttp) {
        "http"
    } else {
        "https"
    };
    let public_url = match args.public_url.clone().or(file.public_url) {
        Some(u) => Some(check_public_url(&u, scheme)?),
        None => None,
    };
    let log_format = match args.log_format.clone().or(file.log.format).as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(_) => return Err(invalid("log.format", "must be text or json")),
    };
    let max_body_bytes = file.http.max_body_bytes.unwrap_or(16 * 1024 * 1024);
    if max_body_bytes < 1024 {
        return Err(invalid("http.max_body_bytes", "must be at least 1024"));
    }
    let request_timeout_secs = file.http.request_timeout_secs.unwrap_or(30);
    if request_timeout_secs == 0 {
        return Err(invalid("http.request_timeout_secs", "must be positive"));
    }
    let default_count = file.fhir.default_count.unwrap_or(50);
    let max_count = file.fhir.max_count.unwrap_or(1000);
    if default_count == 0 || default_count > max_count {
        return Err(invalid(
            "fhir.default_count",
            "must be between 1 and fhir.max_count",
        ));
    }
    let auth = resolve_auth(file.auth)?;
    let storage = resolve_storage(&args.common, &file.storage)?;
    let audit = crate::audit_config::resolve_audit(file.audit)?;
    Ok(Config {
        auth,
        storage,
        audit,
        master_key_file: file
            .keys
            .master_key_file
            .unwrap_or_else(|| default_key_file(&data_dir)),
        data_dir,
        listen,
        public_url,
        tls,
        max_body_bytes,
        request_timeout_secs,
        default_count,
        max_count,
        log_format,
        log_level: file.log.level.unwrap_or_else(|| "info".into()),
    })
}

/// The TLS mode from flags and `[tls]`; plain HTTP only on loopback.
fn resolve_tls(
    args: &ServeArgs,
    tls_file: &TlsFile,
    listen: SocketAddr,
) -> Result<TlsMode, ConfigError> {
    let insecure = args.insecure_http || tls_file.insecure_http.unwrap_or(false);
    let cert = args.tls_cert.clone().or(tls_file.cert.clone());
    let key = args.tls_key.clone().or(tls_file.key.clone());
    Ok(match (insecure, cert, key) {
        (true, None, None) => {
            if !listen.ip().is_loopback() {
                return Err(invalid(
                    "tls.insecure_http",
                    "plain HTTP is only allowed on a loopback address (127.0.0.1 or ::1)",
                ));
            }
            TlsMode::InsecureHttp
        }
        (true, _, _) => {
            return Err(invalid(
                "tls.insecure_http",
                "cannot be combined with a TLS certificate",
            ));
        }
        (false, Some(cert), Some(key)) => {
            private_key_file(&key)?;
            TlsMode::Files { cert, key }
        }
        (false, None, None) => TlsMode::LocalCa,
        (false, _, _) => {
            return Err(invalid(
                "tls",
                "--tls-cert and --tls-key must be given together",
            ));
        }
    })
}

/// Refuses a TLS private key that others can read, or that anyone but its owner can write.
/// Group read is allowed (Debian's `ssl-cert` group convention).
fn private_key_file(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| {
            invalid(
                "tls.key",
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?
        .permissions()
        .mode();
    if mode & 0o027 != 0 {
        return Err(invalid(
            "tls.key",
            format!(
                "{} has mode {:o}: a private key must not be readable by others or writable \
                 by anyone but its owner (chmod 600)",
                path.display(),
                mode & 0o777
            ),
        ));
    }
    Ok(())
}

/// `DATA/keys/master.key`.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("master.key")
}

/// The public URL for a server bound to `bound` when none is configured.
pub fn default_public_url(tls: &TlsMode, bound: SocketAddr) -> String {
    let scheme = if matches!(tls, TlsMode::InsecureHttp) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{}", default_host(bound))
}

fn default_host(listen: SocketAddr) -> String {
    let ip = listen.ip();
    let host = if ip.is_loopback() || ip.is_unspecified() {
        "localhost".to_owned()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("{host}:{}", listen.port())
}

fn check_public_url(u: &str, scheme: &str) -> Result<String, ConfigError> {
    let trimmed = u.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix(&format!("{scheme}://"))
        .ok_or_else(|| invalid("public_url", format!("must start with {scheme}://")))?;
    if rest.is_empty() || rest.contains('/') || rest.contains('?') {
        return Err(invalid(
            "public_url",
            "must be scheme://host[:port] with no path",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs::default()
    }

    #[test]
    fn defaults_are_tls_on_loopback() {
        let c = resolve(&args(), FileConfig::default()).unwrap();
        assert!(matches!(c.tls, TlsMode::LocalCa));
        assert_eq!(c.public_url, None);
        assert_eq!(
            default_public_url(&c.tls, c.listen),
            "https://localhost:8443"
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(
            c.master_key_file,
            PathBuf::from("ward-data/keys/master.key")
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let mut a = args();
        a.insecure_http = true;
        a.listen = Some("0.0.0.0:8080".into());
        assert!(
            resolve(&a, FileConfig::default())
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        a.listen = Some("127.0.0.1:8080".into());
        let c = resolve(&a, FileConfig::default()).unwrap();
        assert_eq!(
            default_public_url(&c.tls, c.listen),
            "http://localhost:8080"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"\nlisten_port = 3").unwrap_err();
        assert!(err.message().contains("unknown field"));
        assert!(toml::from_str::<FileConfig>("[tls]\ncertificate = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("[http]\nmax_body_bytes = 2048").is_ok());
    }

    #[test]
    fn storage_settings() {
        let c = resolve(&args(), FileConfig::default()).unwrap();
        assert!(matches!(c.storage, StorageConfig::Sqlite));
        let f: FileConfig = toml::from_str(
            "[storage]\nkind = \"postgres\"\nurl = \"postgres://w@127.0.0.1/ward\"\npool_size = 4\nstatement_timeout_ms = 2000",
        )
        .unwrap();
        let StorageConfig::Postgres(o) = resolve(&args(), f).unwrap().storage else {
            panic!("postgres expected");
        };
        assert_eq!((o.pool_size, o.statement_timeout.as_millis()), (4, 2000));
        assert!(toml::from_str::<FileConfig>("[storage]\nurll = \"x\"").is_err());
        let mut a = args();
        a.common.storage_kind = Some("postgres".into());
        a.common.storage_url = Some("postgres://w@db.example/ward".into());
        let err = resolve(&a, FileConfig::default()).unwrap_err().to_string();
        assert!(err.contains("ca_file"), "{err}");
        a.common.storage_url = Some("postgres://w@db.example/ward?sslmode=disable".into());
        assert!(resolve(&a, FileConfig::default()).is_err());
        let f: FileConfig =
            toml::from_str("[storage]\nurl = \"postgres://x@127.0.0.1/y\"").unwrap();
        assert!(resolve(&args(), f).is_err(), "a URL needs kind = postgres");
    }

    #[test]
    fn invalid_values_are_named() {
        let mut a = args();
        a.listen = Some("nowhere".into());
        assert!(
            resolve(&a, FileConfig::default())
                .unwrap_err()
                .to_string()
                .contains("listen")
        );
        let mut a = args();
        a.tls_cert = Some("c.pem".into());
        assert!(
            resolve(&a, FileConfig::default())
                .unwrap_err()
                .to_string()
                .contains("together")
        );
        let mut a = args();
        a.public_url = Some("http://example.org".into());
        assert!(resolve(&a, FileConfig::default()).is_err());
        let f: FileConfig = toml::from_str("[fhir]\ndefault_count = 5000").unwrap();
        assert!(resolve(&args(), f).is_err());
    }
}
