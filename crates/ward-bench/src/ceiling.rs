//! The ceiling server: a constant FHIR JSON answer served over the same stack Ward uses
//! (axum on hyper, rustls with aws-lc-rs through `ward_http::serve`, Ward's local-CA
//! certificates), so that the load generator's and the stack's loopback limit on this machine
//! can be measured with the same client. It answers every path: GET 200 with a Patient,
//! POST 201 with a `Location`, PUT 200, DELETE 204 — enough for the `get` and `crud`
//! workloads (not for `read`, `search` or `ingest`, which need a real server).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use ward_http::tls::{LocalPki, server_config};

use crate::error::BenchError;

/// The constant resource every GET, POST and PUT returns (a typical small Patient).
pub const BODY: &str = concat!(
    r#"{"resourceType":"Patient","id":"ceiling","meta":{"versionId":"1","lastUpdated":"2025-01-01T00:00:00Z"},"#,
    r#""identifier":[{"system":"http://hospital.example.org/fhir/sid/mrn","value":"S1-0000001"}],"#,
    r#""active":true,"name":[{"use":"official","family":"Müller","given":["Zoë","Ana"]}],"#,
    r#""telecom":[{"system":"phone","value":"555-0123","use":"home"}],"gender":"female","#,
    r#""birthDate":"1975-04-12","address":[{"use":"home","line":["12 Maple Street"],"#,
    r#""city":"Springfield","state":"MA","postalCode":"01103","country":"US"}]}"#
);

const FHIR_JSON: &str = "application/fhir+json";
const ETAG: &str = "W/\"1\"";

async fn handle(method: Method, uri: Uri) -> Response {
    let ok = |status: StatusCode| {
        (
            status,
            [(header::CONTENT_TYPE, FHIR_JSON), (header::ETAG, ETAG)],
            BODY,
        )
            .into_response()
    };
    match method {
        Method::POST => {
            let location = format!("{}/ceiling/_history/1", uri.path().trim_end_matches('/'));
            let mut r = ok(StatusCode::CREATED);
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Method::DELETE => StatusCode::NO_CONTENT.into_response(),
        _ => ok(StatusCode::OK),
    }
}

/// The ceiling router: one fallback handler for every path and method.
pub fn router() -> Router {
    Router::new().fallback(handle)
}

/// Creates (once) a local CA and a server certificate in `dir` (mode 0700) the way `ward
/// serve` does, and returns the rustls configuration and the CA certificate's path.
pub fn prepare_tls(dir: &Path) -> Result<(Arc<ServerConfig>, PathBuf), BenchError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let pki = LocalPki::in_dir(dir);
    pki.ensure(&[])
        .map_err(|e| BenchError::Tls(e.to_string()))?;
    let config = server_config(&pki.cert, &pki.key).map_err(|e| BenchError::Tls(e.to_string()))?;
    Ok((config, pki.ca_cert))
}

/// Binds `listen`, which must be a loopback address (`127.0.0.1:0` picks a free port).
pub async fn bind(listen: &str) -> Result<TcpListener, BenchError> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| BenchError::Option(format!("--listen {listen}: not an IP:PORT address")))?;
    if !addr.ip().is_loopback() {
        return Err(BenchError::NotLoopback(listen.to_owned()));
    }
    Ok(TcpListener::bind(addr).await?)
}

/// Serves the ceiling on `tcp` (TLS when `tls` is given) until `shutdown` resolves.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    match tls {
        Some(config) => ward_http::serve::serve_tls(tcp, config, router(), shutdown).await,
        None => ward_http::serve::serve_plain(tcp, router(), shutdown).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_valid_patient() {
        let v: serde_json::Value = serde_json::from_str(BODY).unwrap();
        assert!(ward_model::validate(&v, Some("Patient")).is_empty());
    }

    #[tokio::test]
    async fn only_loopback_listens() {
        assert!(matches!(
            bind("0.0.0.0:0").await,
            Err(BenchError::NotLoopback(_))
        ));
        assert!(bind("localhost").await.is_err());
        assert!(bind("127.0.0.1:0").await.is_ok());
    }
}
