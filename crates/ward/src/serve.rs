//! `ward serve`: open the data directory, prepare TLS, wire the services and serve until a
//! shutdown signal, then drain.

use std::sync::Arc;
use std::time::Duration;

use ward_auth::oauth::{AuthServer, JwksCache};
use ward_auth::{Authenticator, ExternalIdp, SigningKeys, TokenVerifier};
use ward_core::{CoreConfig, CursorKey, FhirService, SystemClock, UuidIds};
use ward_crypto::SecretBytes;
use ward_http::tls::{LocalPki, server_config};
use ward_http::{AppState, HttpLimits};
use ward_store::{AuthStore, Store};

use crate::config::{Config, TlsMode, default_public_url};
use crate::datadir::{self, PUBLIC_URL_META, StartupError};

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs the server with a validated configuration.
pub async fn run(config: Config, inline_key: Option<SecretBytes>) -> Result<(), StartupError> {
    let err = |m: String| StartupError::Message(m);
    ward_spec::load_status().map_err(|e| err(format!("embedded FHIR definitions: {e}")))?;
    datadir::ensure_private_dir(&config.data_dir)?;
    // Held until the server stops: `ward backup restore` refuses to swap the database under it.
    let _lock = lock_embedded(&config)?;
    // A new key is created only for a new installation: a database without its key is refused.
    let first_run = !datadir::store_exists(&config.data_dir, &config.storage).await?;
    let master = datadir::master_key(inline_key, &config.master_key_file, first_run)?;
    let cursor_key = master
        .derive("ward/cursor-mac/v1")
        .map_err(|e| err(e.to_string()))?;
    let backend = datadir::open_store(
        &config.data_dir,
        &config.storage,
        master,
        datadir::Opening::Serve,
    )
    .await?;
    let store = backend.store.clone();
    let keys = datadir::signing_keys(store.as_ref(), now_secs()).await?;
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| err(format!("cannot listen on {}: {e}", config.listen)))?;
    let bound = tcp.local_addr().map_err(|e| err(e.to_string()))?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| default_public_url(&config.tls, bound));
    store
        .put_meta(PUBLIC_URL_META, public_url.as_bytes())
        .await
        .map_err(|e| err(format!("cannot record the public URL: {e}")))?;
    let base = format!("{public_url}/fhir");
    let issuer = format!("{public_url}/auth");
    let verifier = TokenVerifier::new(&keys, &issuer, &base).map_err(|e| err(e.to_string()))?;
    let (auth, authn) = build_auth(&config, &backend, &keys, &public_url, verifier).await?;
    let mut core = CoreConfig::new(&base);
    core.default_count = config.default_count;
    core.max_count = config.max_count;
    let trail: Arc<dyn Store> = store.clone();
    let fhir = FhirService::new(
        store,
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        core,
        CursorKey::new(&cursor_key),
    )
    .with_audit(config.audit.settings.clone());
    start_audit_exports(&config, &trail)?;
    fhir.open_audit().await.map_err(|e| {
        err(format!(
            "cannot sign a checkpoint over the audit trail's head: {e}"
        ))
    })?;
    fhir.load_search_parameters()
        .await
        .map_err(|e| err(format!("cannot load custom search parameters: {e}")))?;
    let closing = fhir.clone();
    let state = AppState {
        fhir,
        authn,
        auth,
        cors_origins: Arc::new(config.auth.cors_origins.clone()),
        limits: HttpLimits {
            max_body_bytes: config.max_body_bytes,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
        },
        now: Arc::new(now_secs),
    };
    let app = ward_http::router(state);
    let shutdown = shutdown_signal();
    match &config.tls {
        TlsMode::InsecureHttp => {
            tracing::warn!(
                "PLAIN HTTP: traffic is NOT encrypted. Use only for local development on loopback."
            );
            announce(&base, bound, None);
            ward_http::serve::serve_plain(tcp, app, shutdown).await
        }
        TlsMode::Files { cert, key } => {
            let tls = server_config(cert, key).map_err(|e| err(e.to_string()))?;
            announce(&base, bound, None);
            ward_http::serve::serve_tls(tcp, tls, app, shutdown).await
        }
        TlsMode::LocalCa => {
            let dir = config.data_dir.join("tls");
            datadir::ensure_private_dir(&dir)?;
            let pki = LocalPki::in_dir(&dir);
            pki.ensure(&[]).map_err(|e| err(e.to_string()))?;
            let tls = server_config(&pki.cert, &pki.key).map_err(|e| err(e.to_string()))?;
            announce(&base, bound, Some(&pki.ca_cert));
            ward_http::serve::serve_tls(tcp, tls, app, shutdown).await
        }
    }
    .map_err(|e| err(format!("server error: {e}")))?;
    closing.close_audit().await.map_err(|e| {
        err(format!(
            "stopped, but the final audit checkpoint failed: {e}"
        ))
    })?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The shared lock on an embedded store's data directory (none for PostgreSQL, whose data is
/// not in the directory).
fn lock_embedded(config: &Config) -> Result<Option<datadir::DirLock>, StartupError> {
    if !matches!(config.storage, crate::config::StorageConfig::Sqlite) {
        return Ok(None);
    }
    match datadir::try_lock(&config.data_dir, false)? {
        Some(lock) => Ok(Some(lock)),
        None => Err(StartupError::Message(format!(
            "a restore is in progress in {} (`ward backup restore` holds {}): start the server when it has finished",
            config.data_dir.display(),
            datadir::LOCK_FILE
        ))),
    }
}

/// Warns when audit is off, and starts one exporter task per configured sink.
fn start_audit_exports(config: &Config, store: &Arc<dyn Store>) -> Result<(), StartupError> {
    if !config.audit.settings.enabled {
        tracing::warn!(
            "AUDIT IS DISABLED ([audit] enabled = false): for benchmarks only; accesses are NOT recorded"
        );
    }
    if let Some(dir) = &config.audit.export_dir {
        let sink = ward_audit::export::FileSink::new(dir, config.audit.export_max_bytes);
        tokio::spawn(ward_core::run_exporter(store.clone(), Box::new(sink)));
    }
    if let Some(s) = &config.audit.syslog {
        let sink = ward_audit::export::SyslogSink::new(ward_audit::export::SyslogConfig {
            address: s.address.clone(),
            server_name: s.server_name.clone(),
            ca_file: s.ca_file.clone(),
            hostname: "ward".into(),
        })
        .map_err(|e| StartupError::Message(format!("[audit.syslog]: {e}")))?;
        tokio::spawn(ward_core::run_exporter(store.clone(), Box::new(sink)));
    }
    Ok(())
}

/// The authorization server and the bearer authenticator (with the external IdP, if any).
async fn build_auth(
    config: &Config,
    backend: &datadir::Backend,
    keys: &SigningKeys,
    public_url: &str,
    verifier: TokenVerifier,
) -> Result<(AuthServer, Authenticator), StartupError> {
    let err = |m: String| StartupError::Message(m);
    let jwks = JwksCache::with_default_client().map_err(err)?;
    let auth_store: Arc<dyn AuthStore> = backend.auth.clone();
    let auth = AuthServer::new(
        auth_store.clone(),
        backend.ring.clone(),
        keys,
        config.auth.settings(public_url),
        jwks.clone(),
    )
    .map_err(|e| err(e.to_string()))?;
    let mut authn = Authenticator::new(verifier, auth_store);
    if let Some(idp) = config.auth.external_idp.clone() {
        let idp = ExternalIdp::discover(idp, jwks)
            .await
            .map_err(|e| err(format!("external OpenID provider: {e}")))?;
        authn = authn.with_external(idp);
    }
    Ok((auth, authn))
}

#[allow(clippy::print_stdout)]
fn announce(base: &str, bound: std::net::SocketAddr, ca: Option<&std::path::Path>) {
    println!("Ward is listening on {bound}");
    println!("FHIR base URL: {base}");
    if let Some(ca) = ca {
        println!("TLS CA certificate: {}", ca.display());
        println!("Try: curl --cacert {} {base}/metadata", ca.display());
    }
    tracing::info!(listen = %bound, base = %base, "ready");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}
