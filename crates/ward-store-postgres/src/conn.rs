//! Connections: the options, TLS to the database, the pools (primary and optional read
//! replica), time limits, and the mapping of PostgreSQL errors to storage errors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::error::SqlState;
use ward_store::{StoreError, StoreResult};

/// Options for connecting to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db[?sslmode=disable|verify-full]`.
    pub url: String,
    /// An optional read replica (same URL syntax); see `docs/design/009-postgres.md`.
    pub read_url: Option<String>,
    /// A PEM file with the CA certificate(s) that sign the server's certificate
    /// (`sslmode=verify-full`).
    pub ca_file: Option<PathBuf>,
    /// Connections per pool.
    pub pool_size: usize,
    /// Longest a statement may run (server side) and a call may wait (client side).
    pub statement_timeout: Duration,
    /// Longest to wait for a new connection.
    pub connect_timeout: Duration,
    /// The schema (`search_path`) Ward's tables live in; `None` keeps the server default.
    pub schema: Option<String>,
}

impl PgOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            read_url: None,
            ca_file: None,
            pool_size: 16,
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}

/// What `sslmode` asks for. Only the two safe ends are supported: no TLS (loopback only) or
/// full verification of the server's certificate and host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    VerifyFull,
}

/// Splits `sslmode` off the URL (tokio-postgres knows only disable/prefer/require) and checks
/// that plain connections go only to loopback hosts.
fn ssl_mode(url: &str) -> StoreResult<(String, SslMode)> {
    let bad = |m: &str| StoreError::Config(m.to_owned());
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", "disable")) => mode = Some(SslMode::Disable),
            Some(("sslmode", "verify-full")) => mode = Some(SslMode::VerifyFull),
            Some(("sslmode", _)) => {
                return Err(bad(
                    "sslmode must be verify-full (or disable, for a loopback database)",
                ));
            }
            _ => rest.push(pair),
        }
    }
    let cleaned = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let config: tokio_postgres::Config = cleaned
        .parse()
        .map_err(|_| bad("the database URL is not a valid postgres:// URL"))?;
    let loopback = config.get_hosts().iter().all(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        tokio_postgres::config::Host::Unix(_) => true,
    });
    let mode = match mode {
        Some(m) => m,
        None if loopback => SslMode::Disable,
        None => SslMode::VerifyFull,
    };
    if mode == SslMode::Disable && !loopback {
        return Err(bad(
            "a database on another host needs sslmode=verify-full (plain connections are only allowed on loopback)",
        ));
    }
    Ok((cleaned, mode))
}

fn tls_config(ca_file: Option<&PathBuf>) -> StoreResult<rustls::ClientConfig> {
    let bad = |m: String| StoreError::Config(m);
    let path = ca_file.ok_or_else(|| {
        bad("sslmode=verify-full needs storage.ca_file (the database's CA)".into())
    })?;
    let pem = std::fs::read(path)
        .map_err(|e| bad(format!("cannot read {}: {}", path.display(), e.kind())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|_| bad(format!("{} is not a PEM file", path.display())))?;
        roots
            .add(cert)
            .map_err(|_| bad(format!("{} holds an unusable certificate", path.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!("{} holds no certificate", path.display())));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| bad("TLS setup".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Builds a pool for `url`. Connections are made lazily; nothing is contacted here.
pub(crate) fn pool(url: &str, o: &PgOptions) -> StoreResult<Pool> {
    let (cleaned, mode) = ssl_mode(url)?;
    let mut config: tokio_postgres::Config = cleaned
        .parse()
        .map_err(|_| StoreError::Config("the database URL is not valid".into()))?;
    let ms = o.statement_timeout.as_millis();
    // Server-side limits: a statement (including a wait for a lock) and an abandoned
    // transaction are cut off, so no node can hold the write lock for long.
    let mut options = format!(
        "-c statement_timeout={ms} -c idle_in_transaction_session_timeout={} -c timezone=UTC",
        ms.saturating_mul(3).max(10_000)
    );
    if let Some(schema) = &o.schema {
        options.push_str(&format!(" -c search_path={schema}"));
    }
    config
        .options(&options)
        .connect_timeout(o.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .application_name(&match &o.schema {
            Some(s) => format!("ward:{s}"),
            None => "ward".to_owned(),
        });
    let mgr_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match mode {
        SslMode::Disable => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Manager::from_config(config, tokio_postgres::NoTls, mgr_config)
        }
        SslMode::VerifyFull => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls =
                tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(o.ca_file.as_ref())?);
            Manager::from_config(config, tls, mgr_config)
        }
    };
    let timeouts = deadpool_postgres::Timeouts {
        wait: Some(o.statement_timeout),
        create: Some(o.connect_timeout),
        recycle: Some(o.connect_timeout),
    };
    Pool::builder(manager)
        .max_size(o.pool_size.max(1))
        .timeouts(timeouts)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|_| StoreError::Config("cannot build the connection pool".into()))
}

/// Takes a connection from `pool`.
pub(crate) async fn get(pool: &Pool) -> StoreResult<Object> {
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => map_err(e),
        PoolError::Timeout(_) | PoolError::Closed | PoolError::NoRuntimeSpecified => {
            StoreError::Unavailable
        }
        PoolError::PostCreateHook(_) => StoreError::Unavailable,
    })
}

/// Runs `f` with a client-side time limit of `limit` (a stalled server or network must not
/// hang a request past the configured timeout).
pub(crate) async fn timed<T>(
    limit: Duration,
    f: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable),
    }
}

/// Maps a PostgreSQL error to a storage error, logging the class once (server messages can
/// quote values, so only the SQLSTATE is logged).
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable;
    }
    let Some(code) = e.code() else {
        // No SQLSTATE: a connection, TLS, I/O or timeout failure (the connection is
        // unusable), or a client-side encoding problem (a bug). tokio-postgres exposes the
        // kind only through its message, which names no values.
        let text = e.to_string();
        let transport = [
            "error connecting",
            "error performing TLS",
            "timeout",
            "connection closed",
            "error communicating",
            "unexpected message",
            "unexpected EOF",
        ]
        .iter()
        .any(|p| text.starts_with(p));
        if transport {
            tracing::warn!(kind = "connection", "postgres unavailable");
            return StoreError::Unavailable;
        }
        tracing::error!(error = %text, "postgres client error");
        return StoreError::Internal("postgres".into());
    };
    if *code == SqlState::UNIQUE_VIOLATION
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        return StoreError::VersionConflict;
    }
    let class = code.code().get(..2).unwrap_or("");
    // 08 connection, 53 resources, 57 operator intervention (shutdown, cancel, timeout),
    // 58 system errors, 25006 read-only transaction (a replica promoted or demoted).
    if matches!(class, "08" | "53" | "57" | "58") || *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        tracing::warn!(sqlstate = code.code(), "postgres unavailable");
        return StoreError::Unavailable;
    }
    tracing::error!(sqlstate = code.code(), "postgres error");
    StoreError::Internal("postgres".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ssl_modes() {
        let (u, m) = ssl_mode("postgres://a@127.0.0.1:5432/x").unwrap();
        assert_eq!(
            (u.as_str(), m),
            ("postgres://a@127.0.0.1:5432/x", SslMode::Disable)
        );
        let (u, m) =
            ssl_mode("postgres://a@db.example:5432/x?sslmode=verify-full&dbname=y").unwrap();
        assert_eq!(
            (u.as_str(), m),
            (
                "postgres://a@db.example:5432/x?dbname=y",
                SslMode::VerifyFull
            )
        );
        assert_eq!(
            ssl_mode("postgres://a@db.example/x").unwrap().1,
            SslMode::VerifyFull
        );
        assert!(ssl_mode("postgres://a@db.example/x?sslmode=disable").is_err());
        assert!(ssl_mode("postgres://a@db.example/x?sslmode=require").is_err());
        assert!(tls_config(None).is_err());
    }
}
