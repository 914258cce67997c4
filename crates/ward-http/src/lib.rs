//! HTTP for Ward: the axum router, request/response mapping for FHIR (content negotiation,
//! conditional headers, `Prefer`), bearer authentication, protective layers (request ids,
//! body limits, timeouts, panic containment, security headers), TLS and serving.

mod auth;
mod fhir;
mod layers;
mod negotiate;
mod oauth;
mod render;
pub mod serve;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use ward_auth::Authenticator;
use ward_auth::oauth::AuthServer;
use ward_core::FhirService;

/// Limits the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest accepted request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Time a request may take before it is answered with 503.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The clock the HTTP layer checks token times against (seconds since the epoch).
pub type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything the handlers need.
#[derive(Clone)]
pub struct AppState {
    pub fhir: FhirService,
    /// Verifies bearer tokens (Ward's, with revocation; an external IdP's if configured).
    pub authn: Authenticator,
    /// The SMART authorization server behind `/auth/`.
    pub auth: AuthServer,
    pub limits: HttpLimits,
    pub now: NowFn,
    /// Origins allowed to call the API from a browser (CORS), e.g. `https://app.example`.
    pub cors_origins: Arc<Vec<String>>,
}

/// The whole application router, with its layers.
pub fn router(state: AppState) -> Router {
    let limits = state.limits.clone();
    let cors_state = state.clone();
    Router::new()
        .merge(oauth::routes())
        .route("/fhir", any(fhir::handle))
        .route("/fhir/", any(fhir::handle))
        .route("/fhir/{*rest}", any(fhir::handle))
        .route("/metrics", axum::routing::get(fhir::metrics))
        .fallback(fhir::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            cors_state,
            oauth::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            layers::protect,
        ))
}
